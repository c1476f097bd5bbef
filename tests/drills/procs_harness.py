"""Shared by the process drills (issue 9 items 4, 5, 7): real `app.py worker` and `app.py scheduler`
processes against the test store, Redis and the HTTPS sandbox; the connector is created and
activated the real way in the test process first (R1, R7)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.procs import Child, base_env
from sync.models import CycleRun, PendingChange
from tests.sync.conftest import World

POLL = 10  # SYNC_POLL_INTERVAL of the drill processes (the configured minimum)


@pytest.fixture
def world(runtime, service, control, admin, admin2, operator, sandbox) -> World:
    control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                          "campaigns": 0})
    return World(runtime, service, control, admin, admin2, operator, sandbox)


class Procs:
    """The drill's child processes; every one still alive is stopped at the end."""

    def __init__(self, runtime, sandbox, log_dir: Path, **env: str):
        config = runtime.config
        self.log_dir = log_dir
        self.env = base_env(DATABASE_URL=config.database_url, REDIS_URL=env.pop("REDIS_URL", config.redis_url),
                            CONNECTOR_DATA_DIR=str(config.data_dir), SYNC_POLL_INTERVAL=str(POLL),
                            SANDBOX_INFO=os.path.join(sandbox.data_dir, "sandbox.json"), **env)
        self.children: list[Child] = []
        self._n = 0

    def start(self, role: str) -> Child:
        self._n += 1
        child = Child(f"{role}-{self._n}", [_python(), "app.py", role], self.env, self.log_dir)
        self.children.append(child)
        return child

    def kill9(self, child: Child) -> float:
        """SIGKILL, as the OOM killer or a lost host does: no handler, no cleanup. Returns when."""
        os.kill(child.pid, signal.SIGKILL)
        child.proc.wait(10)
        return time.time()

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop(20)

    def logs(self) -> str:
        return "\n".join(f"--- {c.name}: {c.tail(15)}" for c in self.children)


def _python() -> str:
    import sys

    return sys.executable


def wait_until(predicate, timeout: float, what: str, procs: Procs | None = None, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}" + (f"\n{procs.logs()}" if procs else ""))
        time.sleep(every)


def cycle_runs(runtime) -> list[CycleRun]:
    with runtime.store.session() as s:
        return list(s.scalars(select(CycleRun).order_by(CycleRun.id)))


def endpoint_calls(control, prefix: str) -> int:
    return sum(n for key, n in control.get("calls")["by_endpoint"].items() if key.startswith(prefix))


def assert_converged(world: World, runtime, expected_people: int) -> None:
    """Every lead has exactly one prospect and vice versa, the links join them, nothing pending."""
    leads = [r for r in world.sf("Lead") if not r.get("IsDeleted")]
    prospects = [p for p in world.prospects() if not p.get("isDeleted")]
    lead_emails = [r["Email"].lower() for r in leads]
    prospect_emails = [p["email"].lower() for p in prospects]
    assert len(lead_emails) == len(set(lead_emails)) == expected_people, "a lead is missing or duplicated"
    assert len(prospect_emails) == len(set(prospect_emails)) == expected_people, \
        "a prospect is missing or duplicated"
    assert set(lead_emails) == set(prospect_emails)
    lead_by_id = {r["Id"]: r["Email"].lower() for r in leads}
    prospect_by_id = {p["id"]: p["email"].lower() for p in prospects}
    links = world.links()
    assert len(links) == expected_people
    for link in links:
        assert lead_by_id.get(link.crm_id) == prospect_by_id.get(link.prospect_id) is not None, \
            f"link {link.crm_id} <-> {link.prospect_id} joins different people"
    with runtime.store.session() as s:
        assert s.scalar(select(func.count()).select_from(PendingChange)) == 0, "changes left pending"


def pending(runtime) -> int:
    with runtime.store.session() as s:
        return s.scalar(select(func.count()).select_from(PendingChange))


def epoch(dt) -> float:
    """A naive-UTC store timestamp as seconds since the epoch."""
    from datetime import timezone

    return dt.replace(tzinfo=timezone.utc).timestamp()


class OwnRedis:
    """A redis-server of the drill's own on a fixed port, without persistence: a restart
    comes back empty, as a cache-only production Redis does (DESIGN §1)."""

    def __init__(self, port: int, work_dir: Path):
        self.port, self.dir, self.proc = port, work_dir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> "OwnRedis":
        import subprocess

        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def up():
            try:
                return client.ping()
            except redis.RedisError:
                assert self.proc.poll() is None, f"redis-server exited: {(self.dir / 'redis.log').read_text()[-500:]}"
                return False

        wait_until(up, 20, f"redis-server on port {self.port}")
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class OwnPostgres:
    """A PostgreSQL server of the drill's own (initdb + pg_ctl in a temporary directory, run as
    the postgres user when the tests run as root), to stop and start under a running worker."""

    def __init__(self, port: int):
        import glob
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) to run a server of our own")
        self.bin = Path(found[-1]).parent
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="drill-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/drill"
        self._as = []
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        import subprocess

        subprocess.run([*self._as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                       timeout=120)

    def init(self) -> "OwnPostgres":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "drill")
        return self

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        """An immediate stop: connections are cut as when the database host goes away."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        import shutil

        try:
            self.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

"""Fixtures shared by the whole suite: a real sandbox over HTTPS, real Redis, real SQL.

TEST_DATABASE_URL picks the database (SQLite file by default; CI also runs PostgreSQL),
TEST_REDIS_URL the Redis (a dedicated database number, flushed between tests)."""
from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy import text

from sandbox.server import start_sandbox
from sync.config import Config
from sync.db import Store
from sync.jobs import QUEUE
from sync.models import Base
from sync.redis_server import EmbeddedRedis
from sync.roles import Principal
from sync.runtime import Runtime, install
from sync.worker import Worker
from tests.sandbox.conftest import ControlClient, make_sf_client, make_sf_token  # noqa: F401


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """TEST_REDIS_URL, else the local server's database 9, else an embedded redis-server."""
    if os.environ.get("TEST_REDIS_URL"):
        return os.environ["TEST_REDIS_URL"]
    url = "redis://127.0.0.1:6379/9"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except redis.RedisError:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
        return server.ensure_running()  # stopped at exit by the server itself


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with start_sandbox(str(tmp_path_factory.mktemp("sandbox"))) as sb:
        yield sb


@pytest.fixture
def control(sandbox) -> ControlClient:
    return ControlClient(sandbox.info)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def session_runtime(sandbox, database_url, redis_url, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    env = {"CONNECTOR_DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SANDBOX_INFO": os.path.join(sandbox.data_dir, "sandbox.json")}
    config = Config.from_env(env)
    # The release step, once per session (issue 9 item 11); runtimes and processes only check it.
    migrated = Store(config.database_url)
    migrated.migrate()
    migrated.dispose()
    rt = Runtime(config, migrate=False)
    yield rt
    rt.store.dispose()


def _empty_store(rt: Runtime) -> None:
    with rt.store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def runtime(session_runtime, control):
    """A clean world: both orgs reset, store emptied, Redis test database flushed."""
    control.post("reset")
    _empty_store(session_runtime)
    session_runtime.redis.flushdb()
    session_runtime._engine = None
    session_runtime.events = []
    session_runtime.notifier = lambda event, payload: session_runtime.events.append((event, payload))
    install(session_runtime)
    return session_runtime


@pytest.fixture
def service(runtime):
    return runtime.service()


@pytest.fixture
def admin():
    return Principal("admin@sandbox.example", "admin", "cli", "test")


@pytest.fixture
def admin2():
    return Principal("admin2@sandbox.example", "admin", "cli", "test")


@pytest.fixture
def operator():
    return Principal("marketing@sandbox.example", "operator", "cli", "test")


@pytest.fixture
def viewer():
    return Principal("sales@sandbox.example", "viewer", "cli", "test")


@pytest.fixture
def run_worker(runtime):
    """Drain the queue in this process (RQ burst mode); returns how many jobs ran."""

    def run() -> int:
        queued = runtime.queue.depth()
        worker = Worker([QUEUE], connection=runtime.redis)
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        return queued

    return run

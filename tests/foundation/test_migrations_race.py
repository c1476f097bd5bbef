"""Migrations are a release step (issue 9 item 11): `python app.py migrate` changes the schema;
the processes only check it, refuse an old one in one line, and so never race each other.

Before: every process migrated at start, and four started at once on a fresh SQLite file
crashed one or two with "table already exists" (three trials of three)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from rq import Worker
from sqlalchemy import create_engine, inspect, make_url, text

from sync.db import make_engine
from sync.models import Base

ROOT = Path(__file__).resolve().parents[2]

def _head() -> str:
    from alembic.script import ScriptDirectory

    from sync.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


HEAD = _head()  # this release's newest revision (the tests follow new migrations)
ONE_LINE = ("cannot start: the database schema is not current (at {at}, this release needs " + HEAD + "); "
            "run `python app.py migrate` first")


def _env(sandbox, redis_url: str, database_url: str, data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "PARDOT_", "SLACK_"))}
    env.update(CONNECTOR_DATA_DIR=str(data_dir), DATABASE_URL=database_url, REDIS_URL=redis_url,
               SANDBOX_INFO=os.path.join(sandbox.data_dir, "sandbox.json"), SYNC_POLL_INTERVAL="30")
    return env


def _app(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(request, tmp_path):
    """An empty database of each kind: a new SQLite file; a new PostgreSQL database next to
    TEST_DATABASE_URL's (skipped when the run has no PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set: no PostgreSQL in this run")
    url = make_url(base)
    name = f"{url.database}_fresh"
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrate_builds_the_schema_on_a_fresh_database_and_is_idempotent(fresh_database_url, sandbox, redis_url,
                                                                         tmp_path):
    env = _env(sandbox, redis_url, fresh_database_url, tmp_path)
    first = _app(env, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(f"schema at {HEAD} (was no schema)")
    engine = make_engine(fresh_database_url)
    try:
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
    finally:
        engine.dispose()
    again = _app(env, "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(f"schema at {HEAD} (was {HEAD})")
    # The processes accept the migrated schema: the web check passes and execs gunicorn (`--version`).
    web = _app(env, "web", "--version")
    assert web.returncode == 0 and "gunicorn" in (web.stdout + web.stderr).lower(), web.stderr


@pytest.mark.parametrize("process", ["worker", "scheduler", "web", "shell"])
def test_processes_refuse_an_unmigrated_database_in_one_line(process, sandbox, redis_url, tmp_path):
    env = _env(sandbox, redis_url, f"sqlite:///{tmp_path / 'unmigrated.db'}", tmp_path)
    out = _app(env, process)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [ONE_LINE.format(at="no schema")], out.stderr
    engine = create_engine(env["DATABASE_URL"])
    try:
        assert inspect(engine).get_table_names() == []  # refused, and created nothing
    finally:
        engine.dispose()


def test_gunicorn_run_directly_halts_on_an_unmigrated_database(sandbox, redis_url, tmp_path):
    """`gunicorn 'app:create_app()'` without `app.py web`: the refusal halts gunicorn (its
    "App failed to load", exit 4) instead of respawning workers that exit 2 for ever."""
    env = _env(sandbox, redis_url, f"sqlite:///{tmp_path / 'unmigrated.db'}", tmp_path)
    out = _gunicorn(env, workers=1)
    assert out.returncode == 4
    assert ONE_LINE.format(at="no schema") in out.stderr.splitlines()
    assert "App failed to load" in out.stderr and "Traceback" not in out.stderr


def test_gunicorn_with_several_workers_halts_too(sandbox, redis_url, tmp_path):
    """With two workers both refuse; gunicorn's arbiter may meet the second exit while already
    halting on the first and end with its own traceback (exit 1, seen in CI), but it halts."""
    env = _env(sandbox, redis_url, f"sqlite:///{tmp_path / 'unmigrated.db'}", tmp_path)
    out = _gunicorn(env, workers=2)
    assert out.returncode in (1, 4), out.stderr
    assert ONE_LINE.format(at="no schema") in out.stderr.splitlines()
    assert "App failed to load" in out.stderr


def _gunicorn(env, workers):
    return subprocess.run([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{_free_port()}", "--workers",
                           str(workers), "app:create_app()"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_processes_refuse_an_old_schema_until_migrate_runs(sandbox, redis_url, tmp_path):
    env = _env(sandbox, redis_url, f"sqlite:///{tmp_path / 'old.db'}", tmp_path)
    assert _app(env, "migrate").returncode == 0
    engine = create_engine(env["DATABASE_URL"])
    with engine.begin() as conn:  # what a database left behind by an older release records
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    out = _app(env, "scheduler")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [ONE_LINE.format(at="0000")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_four_processes_started_at_once_after_migrate_all_run(sandbox, redis_url, tmp_path):
    """The release step, then web, two workers and the scheduler at the same moment on the
    fresh SQLite file: every one comes up and stays up."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = _env(sandbox, redis_url, f"sqlite:///{tmp_path / 'race.db'}", tmp_path)
    assert _app(env, "migrate").returncode == 0
    port = _free_port()
    commands = {"web": ["web", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"],
                "worker-1": ["worker"], "worker-2": ["worker"], "scheduler": ["scheduler"]}
    procs = {}
    try:
        for name, args in commands.items():
            log = open(  # noqa: SIM115 - the child writes it until the test ends
                tmp_path / f"{name}.log", "wb")
            procs[name] = subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        ready = workers = leader = False
        while time.monotonic() < deadline and not (ready and workers and leader):
            dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            assert not dead, {n: (tmp_path / f"{n}.log").read_text()[-2000:] for n in dead}
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            except requests.ConnectionError:
                ready = False
            workers = len(Worker.all(connection=client)) == 2
            leader = client.get("scheduler:leader") is not None
            time.sleep(0.3)
        assert ready and workers and leader, (ready, workers, leader)
        assert all(p.poll() is None for p in procs.values())
        for name in procs:
            assert "already exists" not in (tmp_path / f"{name}.log").read_text()
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        client.flushdb()

"""Drill (issue 9 item 6): our own Redis and PostgreSQL stop and start again under a live app.

While either is down every API call answers 503 with Retry-After in the error envelope (never
500) and the chat commands say "temporarily unavailable"; once it is back everything answers
normally with no restart. Each dependency is a private server started here, on its own port,
so stopping it disturbs no other test."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import redis
from werkzeug.serving import make_server

from app import create_app
from bot.dispatch import Dispatcher
from bot.shell import run_shell
from sync.config import Config
from sync.roles import Principal
from sync.runtime import Runtime
from tests.bot.conftest import BOT_TOKEN, SIGNING_SECRET, SlackRequests
from tests.bot.fake_slack import FakeSlack
from tests.drills.procs_harness import wait_until

REDIS_PORT = int(os.environ.get("DRILL_REDIS_PORT", "6392"))
PG_PORT = int(os.environ.get("DRILL_PG_PORT", "5442"))
ADMIN = Principal("admin@sandbox.example", "admin", "cli", "drill")


class OwnRedis:
    def __init__(self, workdir: Path, port: int):
        self.dir, self.port, self.proc = workdir, port, None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self._pings(redis.Redis.from_url(self.url, socket_connect_timeout=1)):
            raise RuntimeError(f"something already answers on port {self.port}; the drill needs it free")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.dir), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_until(lambda: self._pings(probe), 30, "the drill's redis-server")

    @staticmethod
    def _pings(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


class OwnPostgres:
    """initdb + pg_ctl in a temporary directory, run as the postgres user when we are root."""

    def __init__(self, port: int):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        self.bin, self.port = bins[-1].parent, port
        workdir = Path(tempfile.mkdtemp(prefix="drill-pg-"))  # pytest's tmp is private to root
        self.workdir = workdir
        self.dir = workdir / "pgdata"
        self.log = workdir / "pg.log"
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def own_deps(tmp_path):
    r = OwnRedis(tmp_path / "redis", REDIS_PORT)
    pg = OwnPostgres(PG_PORT)
    try:
        r.start()
        pg.init()
        pg.start()
        yield r, pg
    finally:
        r.stop()
        try:
            pg.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by the test, or never started
        pg.remove()


@pytest.fixture
def fake_slack():
    fake = FakeSlack()
    fake.users.update({"UADMIN": "admin@sandbox.example"})
    yield fake
    fake.close()


@pytest.fixture
def drill_app(own_deps, sandbox, tmp_path, fake_slack):
    r, pg = own_deps
    config = Config.from_env({"CONNECTOR_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": pg.url,
                              "REDIS_URL": r.url, "SANDBOX_INFO": os.path.join(sandbox.data_dir, "sandbox.json"),
                              "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                              "SLACK_API_URL": fake_slack.base_url})
    rt = Runtime(config)
    rt.notifier = lambda event, payload: None
    service = rt.service()
    token = service.create_token(ADMIN, "drill", "admin")["token"]
    app = create_app(runtime=rt)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    created = client.post("/api/v1/connector", json={"error_queue_owner": "#sync-errors"})
    assert created.status_code == 201, created.get_json()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rt.slack = SlackRequests(f"http://127.0.0.1:{server.server_port}", fake_slack)
    yield rt, client
    server.shutdown()
    server.server_close()
    rt.store.dispose()


CALLS = [("get", "/api/v1/connector", None), ("get", "/api/v1/sync-errors", None),
         ("post", "/api/v1/connector/pause", {"reason": "drill"}),
         ("post", "/api/v1/syncs/prospect", {"prospect_id": 1}),
         ("post", "/api/v1/syncs/salesforce", {"object": "Lead", "id": "00Q000000000001AAA"})]


def _assert_unavailable(client) -> None:
    for method, path, body in CALLS:
        response = getattr(client, method)(path, json=body)
        assert response.status_code == 503, (path, response.status_code, response.get_data(as_text=True))
        error = response.get_json()["error"]
        assert error["code"] == "temporarily_unavailable" and "temporarily unavailable" in error["message"]
        assert int(response.headers["Retry-After"]) > 0 and error["details"]["retry_after"] > 0
        assert "Traceback" not in error["message"] and "psycopg" not in error["message"]


def _answers_normally(client) -> bool:
    return client.get("/api/v1/connector").status_code == 200


def _chat(rt) -> str:
    """The same command three ways: the dispatcher, the shell (`python app.py shell`) and Slack
    (a signed slash command over HTTP); all three must agree."""
    said = Dispatcher(rt.service()).run(ADMIN, "status").text
    out = io.StringIO()
    assert run_shell(rt, ["--as", ADMIN.who], stdin=["status"], stdout=out) == 0
    shell = out.getvalue().split("`exit` to quit.", 1)[-1]
    slack = rt.slack.ask("UADMIN", "status")
    down = ["temporarily unavailable" in text for text in (said, shell, slack)]
    assert len(set(down)) == 1, (said, shell, slack)
    return said


def test_redis_and_postgresql_outages_are_503_then_recover(drill_app, own_deps, caplog):
    rt, client = drill_app
    r, pg = own_deps
    assert _answers_normally(client)
    assert "temporarily unavailable" not in _chat(rt)

    r.stop()
    _assert_unavailable(client)
    assert "temporarily unavailable" in _chat(rt)
    r.start()
    wait_until(lambda: _answers_normally(client), 60, "the API after Redis came back")
    assert client.post("/api/v1/syncs/prospect", json={"prospect_id": 1}).status_code == 202

    pg.stop()
    rt.redis.flushdb()  # no cached status or token may hide the outage
    _assert_unavailable(client)
    assert "temporarily unavailable" in _chat(rt)
    pg.start()
    wait_until(lambda: _answers_normally(client), 60, "the API after PostgreSQL came back")
    assert client.get("/api/v1/sync-errors").status_code == 200
    assert "temporarily unavailable" not in _chat(rt)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert not errors, errors  # an outage is a warning with an incident id, not an unexpected error


def test_nul_and_overlong_ids_on_postgresql_are_404_or_400(drill_app):
    """GET /api/v1/jobs/%00 reached PostgreSQL (which refuses NUL in text) and was a 500."""
    _, client = drill_app
    for path in ("/api/v1/jobs/%00", "/api/v1/jobs/a%00b", "/api/v1/jobs/" + "j" * 5000):
        response = client.get(path)
        assert response.status_code == 404, (path[:40], response.status_code)
        assert response.get_json()["error"]["code"]
    for path in ("/api/v1/sync-errors?category=%00", "/api/v1/audit-log?cursor=%00", "/api/v1/reactivations?status=a%00"):
        response = client.get(path)
        assert response.status_code == 400, (path, response.status_code)
    for path, body in (("/api/v1/reactivations", {"note": "x\x00"}),
                       ("/api/v1/syncs/prospect", {"email": "a\x00@b.example"}),
                       ("/api/v1/connector/pause", {"reason": "a\x00b"})):
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.status_code, response.get_data(as_text=True))

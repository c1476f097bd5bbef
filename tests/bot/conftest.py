"""Fixtures for the bot: a fake Slack Web API, the real Flask app served over HTTP on
loopback with Slack settings, signed Slack requests, and a connector with known users."""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from urllib.parse import urlencode, urlparse

import pytest
import requests
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server

import bot
import bot.pacer
from app import create_app
from sync.models import UserMatch
from sync.roles import Principal
from tests.bot.fake_slack import TEAM_ID, FakeSlack

SIGNING_SECRET = "test-signing-secret-" + "0" * 12
BOT_TOKEN = "xoxb-test-bot-token"
NOTIFY_CHANNEL = "#pardot-alerts"
OWNER_CHANNEL = "#sync-errors"
# Slack user id → email; the Pardot roles of these emails are those the sandbox seeds.
USERS = {"UADMIN": "admin@sandbox.example", "UADMIN2": "admin2@sandbox.example",
         "UMKT": "marketing@sandbox.example", "UMGR": "salesmgr@sandbox.example",
         "USALES": "sales@sandbox.example", "USTRANGER": "stranger@elsewhere.example", "UNOMAIL": None}
PARDOT_ROLES = {"admin@sandbox.example": "Administrator", "admin2@sandbox.example": "Administrator",
                "marketing@sandbox.example": "Marketing", "salesmgr@sandbox.example": "Sales Manager",
                "sales@sandbox.example": "Sales"}


@pytest.fixture(scope="session")
def fake_slack_server():
    fake = FakeSlack()
    fake.users.update(USERS)
    yield fake
    fake.close()


@pytest.fixture
def fake_slack(fake_slack_server):
    fake_slack_server.reset()
    return fake_slack_server


@pytest.fixture(autouse=True)
def fast_pacing(monkeypatch):
    monkeypatch.setattr(bot.pacer, "PACE_SECONDS", 0.02)


@pytest.fixture
def slack_runtime(runtime, fake_slack):
    """The test runtime with Slack configured against the fake, and the bot as its notifier."""
    original = runtime.config
    runtime.config = dataclasses.replace(original, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                                         slack_api_url=fake_slack.base_url, slack_notify_channel=NOTIFY_CHANNEL)
    runtime.notifier = bot.make_notifier(runtime)
    yield runtime
    if hasattr(runtime.notifier, "flush"):
        runtime.notifier.flush()
    runtime.config = original


@pytest.fixture
def connector(slack_runtime):
    """A v2 connector (created paused, R1) and the Pardot user roles a cycle's metadata step records."""
    service = slack_runtime.service()
    service.create_connector(Principal("admin@sandbox.example", "admin", "cli", "test"),
                             error_queue_owner=OWNER_CHANNEL)
    cid = service.connector_id()
    with slack_runtime.store.session() as s:
        for email, role in PARDOT_ROLES.items():
            s.add(UserMatch(connector_id=cid, email=email, pardot_role=role))
    slack_runtime.notifier.flush()
    return cid


@pytest.fixture
def web(slack_runtime):
    """The real Flask app (create_app) served over HTTP on loopback."""
    app = create_app(runtime=slack_runtime)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


class SlackRequests:
    """Builds Slack's requests, signed the way Slack signs them."""

    def __init__(self, url: str, fake: FakeSlack, secret: str = SIGNING_SECRET):
        self.url = url + "/slack/events"
        self.fake = fake
        self.verifier = SignatureVerifier(secret)
        self.http = requests.Session()
        self.http.trust_env = False

    def send(self, body: str, content_type: str, timestamp: int | None = None, signature: str | None = None,
             headers: dict | None = None) -> requests.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature if signature is not None else self.verifier.generate_signature(timestamp=ts, body=body)
        hdrs = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                **(headers or {})}
        return self.http.post(self.url, data=body.encode(), headers=hdrs, timeout=30)

    def command(self, user: str, text: str, channel: str = "CCMD000001", **kw) -> requests.Response:
        """Sends `/pardot text`; the bot acknowledges at once and answers through the response
        URL, which is unique per command (resp.response_url) so replies(resp) finds its answers."""
        response_url = self.fake.response_url(f"{user}-{uuid.uuid4().hex[:8]}")
        body = urlencode({"token": "unused", "team_id": TEAM_ID, "team_domain": "fake", "channel_id": channel,
                          "channel_name": "ops", "user_id": user, "user_name": user.lower(), "command": "/pardot",
                          "text": text, "api_app_id": "A0FAKE0001", "response_url": response_url,
                          "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex}"})
        resp = self.send(body, "application/x-www-form-urlencoded", **kw)
        resp.response_url, resp.slack = response_url, self
        return resp

    def replies(self, resp: requests.Response, count: int = 1) -> list[dict]:
        """The first `count` posts the bot made to that command's response URL."""
        assert resp.status_code == 200, resp.text
        path = urlparse(resp.response_url).path

        def found():
            hits = [c.args for c in self.fake.calls if c.method == "response_url" and c.path == path]
            return hits if len(hits) >= count else None
        return self.fake.wait_for(found, what=f"{count} answer(s) at {path}")

    def ask(self, user: str, text: str, **kw) -> str:
        """`/pardot text` as `user`: the text of the bot's answer."""
        return self.replies(self.command(user, text, **kw))[0]["text"]

    def event(self, event: dict, event_id: str | None = None, retry_num: int | None = None) -> requests.Response:
        body = json.dumps({"token": "unused", "team_id": TEAM_ID, "api_app_id": "A0FAKE0001", "event": event,
                           "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                           "event_time": int(time.time()),
                           "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT000001", "is_bot": True}]})
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} \
            if retry_num is not None else None
        return self.send(body, "application/json", headers=headers)

    def interaction(self, payload: dict) -> requests.Response:
        payload = {"team": {"id": TEAM_ID}, "api_app_id": "A0FAKE0001", "token": "unused",
                   "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex}", **payload}
        return self.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def click(self, user: str, action_id: str, value: str, channel: str | None = "CCMD000001",
              message_ts: str | None = "1700000000.000001") -> requests.Response:
        payload = {"type": "block_actions", "user": {"id": user, "team_id": TEAM_ID},
                   "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                                "action_ts": str(time.time())}]}
        if channel:
            payload.update(channel={"id": channel}, message={"ts": message_ts, "text": "…"},
                           container={"type": "message", "channel_id": channel, "message_ts": message_ts},
                           response_url=self.fake.response_url(user))
        else:
            payload.update(container={"type": "view", "view_id": "VHOME"}, view={"id": "VHOME", "type": "home"})
        return self.interaction(payload)

    def submit_view(self, user: str, callback_id: str, metadata: dict, values: dict) -> requests.Response:
        return self.interaction({"type": "view_submission", "user": {"id": user, "team_id": TEAM_ID},
                                 "view": {"id": "VMODAL", "type": "modal", "callback_id": callback_id,
                                          "private_metadata": json.dumps(metadata),
                                          "state": {"values": values}}})


@pytest.fixture
def slack(web, fake_slack) -> SlackRequests:
    return SlackRequests(web, fake_slack)


def eventually(predicate, timeout: float = 20, what: str = "the condition"):
    """Wait for work the bot does after it answered Slack (bolt runs listeners after the ack)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)

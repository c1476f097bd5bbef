"""Salesforce's connector operated from Slack (issue 10 item 5; R35–R38): signed slash commands and
button clicks through slack-bolt, the real web app, the fake Slack Web API, the sandbox's connector."""
from __future__ import annotations

import pytest

from sync.models import UserMatch
from sync.roles import Principal
from tests.bot.conftest import NOTIFY_CHANNEL, OWNER_CHANNEL, PARDOT_ROLES, eventually


@pytest.fixture
def operated(slack_runtime, native):
    """Our connector on the salesforce engine, with the Pardot roles the health check reads (R33)."""
    native.service = slack_runtime.service()
    native.service.create_connector(Principal("admin@sandbox.example", "admin", "cli", "test"),
                                    engine="salesforce", error_queue_owner=OWNER_CHANNEL)
    cid = native.service.connector_id()
    with slack_runtime.store.session() as s:
        for email, role in PARDOT_ROLES.items():
            s.merge(UserMatch(connector_id=cid, email=email, pardot_role=role))
    native.service.forget_roles()
    native.cycle()
    slack_runtime.notifier.flush()
    return native


def test_create_with_engine_in_slack(slack_runtime, native, slack):
    """`create --engine salesforce` parses; the service decides (here: only an admin may create)."""
    reply = slack.ask("UADMIN", "create owner #sync-errors --engine salesforce")
    assert "needs the admin role" in reply  # no connector yet: nobody has a Pardot role


def test_status_version_and_pause_from_slack(slack, slack_runtime, operated, fake_slack):
    text = slack.ask("USALES", "version")
    assert "engine salesforce" in text and "Salesforce's connector" in text and "running, verified" in text
    assert "open sync warnings: 0" in slack.ask("USALES", "status")

    refused = slack.ask("USALES", "pause")
    assert "needs the admin role" in refused and operated.state()["paused"] is False

    reply = slack.ask("UADMIN", "pause data cleanup")
    assert "Salesforce's connector paused" in reply and operated.state()["paused"] is True
    slack_runtime.notifier.flush()
    told = [p for p in fake_slack.calls_of("chat.postMessage") if "was paused by admin@" in p["text"]]
    assert len(told) == 2 and "metadata keeps syncing" in told[0]["text"]

    again = slack.ask("UADMIN", "pause")
    assert "Pardot refused to pause Salesforce's connector: Salesforce's connector is already paused" in again

    sync = slack.ask("UMKT", "sync prospect 12")
    assert "Sync with CRM" in sync and "Account Engagement" in sync


def _request_and_approve(slack, slack_runtime, fake_slack, native):
    reply = slack.ask("UMKT", "resume freeze over")
    assert "is pending until" in reply
    post = fake_slack.wait_calls("chat.postMessage", channel=NOTIFY_CHANNEL)[-1]
    assert "check by hand: " in str(post["blocks"]) and "Setup > " in str(post["blocks"])
    channel = fake_slack.channel_id(NOTIFY_CHANNEL)
    ts = max(k[1] for k in fake_slack.messages if k[0] == channel)
    eventually(lambda: native.service.get_reactivation(native.admin, 1)["slack_ts"] == ts, what="the message")
    native.reset_calls()
    slack.click("UADMIN2", "reactivation_approve", "1", channel=channel, message_ts=ts)
    eventually(lambda: native.service.get_reactivation(native.admin, 1)["status"] == "approved", what="approval")
    return channel, ts


def test_resume_second_admin_approves_unpause_called_once(slack, slack_runtime, operated, fake_slack, run_worker):
    operated.set(paused=True)
    operated.cycle()
    channel, ts = _request_and_approve(slack, slack_runtime, fake_slack, operated)
    run_worker()
    slack_runtime.notifier.flush()
    assert operated.calls().get("pardot POST /api/v5/connectors/salesforce/do/unpause") == 1
    assert operated.state()["paused"] is False
    assert "the connector resumes" in fake_slack.message(channel, ts)["text"]


def test_failed_unpause_is_said_in_the_thread(slack, slack_runtime, operated, fake_slack, run_worker):
    operated.set(paused=True)
    operated.cycle()
    channel, ts = _request_and_approve(slack, slack_runtime, fake_slack, operated)
    operated.set(ability=False)  # the Pardot user lost "Admin > Connectors" meanwhile
    run_worker()
    slack_runtime.notifier.flush()
    [said] = fake_slack.wait_calls("chat.postMessage", thread_ts=ts)
    assert "unpausing Salesforce's connector failed" in said["text"] and "Admin > Connectors" in said["text"]
    assert "failed" in fake_slack.message(channel, ts)["text"]
    r = operated.service.get_reactivation(operated.admin, 1)
    assert r["status"] == "approved" and r["outcome"]["unpause"] == "failed"


def test_health_warning_notified_and_its_resolution_said(slack, slack_runtime, operated, fake_slack):
    operated.settings(health_threshold_seconds=1)
    p = operated.add_prospects({"email": "slack@stuck.example", "lastName": "S",
                                "assignedToId": operated.pardot_user_id()})[0]
    operated.set(stuck=[p["id"]])
    operated.cycle_until(lambda: operated.errors(category="not_created"), "not_created warning")
    slack_runtime.notifier.flush()
    posts = [m for m in fake_slack.calls_of("chat.postMessage") if "not_created" in m["text"]]
    assert {m["channel"] for m in posts} == {NOTIFY_CHANNEL, OWNER_CHANNEL}
    operated.set(stuck=[])
    operated.tick()
    operated.cycle()
    slack_runtime.notifier.flush()
    resolved = [m for m in fake_slack.calls_of("chat.postMessage") if "resolved by themselves" in m["text"]]
    assert len(resolved) == 2 and f"prospect {p['id']}" in resolved[0]["text"]


def test_health_warnings_fold_into_one_slack_message(slack, slack_runtime, operated, fake_slack):
    """The existing folding: a second not_created warning within the window updates the first message."""
    operated.settings(health_threshold_seconds=1)
    owner = operated.pardot_user_id()
    [a] = operated.add_prospects({"email": "fold-a@example.com", "lastName": "A", "assignedToId": owner})
    operated.set(stuck=[a["id"]])
    operated.cycle_until(lambda: operated.errors(category="not_created"), "the first warning")
    [b] = operated.add_prospects({"email": "fold-b@example.com", "lastName": "B", "assignedToId": owner})
    operated.set(stuck=[a["id"], b["id"]])
    operated.cycle_until(lambda: len(operated.errors(category="not_created")) == 2, "the second warning")
    slack_runtime.notifier.flush()
    posts = [m for m in fake_slack.calls_of("chat.postMessage") if "not_created" in m["text"]]
    assert len(posts) == 2  # one per target, not one per warning
    updates = [m for m in fake_slack.calls_of("chat.update") if "2 new *not_created*" in str(m.get("blocks"))]
    assert len(updates) == 2

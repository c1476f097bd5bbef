"""Reactivation in Slack (R7, R31): request, Approve/Deny buttons, the deny modal, expiry, App Home."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from sync.models import AuditEntry, Connector, ReactivationRequest, utcnow
from sync.roles import Principal
from tests.bot.conftest import NOTIFY_CHANNEL, eventually


@pytest.fixture
def ready(slack_runtime, connector):
    """A cycle has verified both sides, so the checklist passes (R30)."""
    result = slack_runtime.engine().run_cycle(connector)
    assert result["outcome"] == "ok", result
    assert slack_runtime.service().checklist(Principal("t", "viewer", "cli"))["passed"]
    slack_runtime.notifier.flush()
    return connector


def file_request(slack, fake_slack, rt, user="UMKT", note="MDS reviewed"):
    reply = slack.ask(user, f"resume {note}")
    assert "is pending until" in reply and "Approval asked in" in reply
    post = fake_slack.wait_calls("chat.postMessage", channel=NOTIFY_CHANNEL)[-1]
    channel = fake_slack.channel_id(NOTIFY_CHANNEL)
    ts = max(k[1] for k in fake_slack.messages if k[0] == channel)
    eventually(lambda: request_row(rt).slack_ts == ts, what="the request to remember its message")
    return post, channel, ts


def request_row(rt, request_id=1):
    with rt.store.session() as s:
        r = s.get(ReactivationRequest, request_id)
        s.expunge(r)
        return r


def state(rt):
    with rt.store.session() as s:
        return s.scalars(select(Connector)).one().state


def test_approval_flow_refusals_then_a_second_admin_approves(slack, slack_runtime, ready, fake_slack):
    post, channel, ts = file_request(slack, fake_slack, slack_runtime, user="UADMIN")
    assert "Checklist passes" in str(post["blocks"])
    actions = [e["action_id"] for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["reactivation_approve", "reactivation_deny"]
    r = request_row(slack_runtime)
    assert (r.slack_channel, r.slack_ts) == (channel, ts)

    slack.click("UMKT", "reactivation_approve", "1", channel=channel, message_ts=ts)  # not an admin
    told = fake_slack.wait_calls("chat.postEphemeral", user="UMKT")[0]["text"]
    assert "needs the admin role" in told

    slack.click("UADMIN", "reactivation_approve", "1", channel=channel, message_ts=ts)  # the requester
    told = fake_slack.wait_calls("chat.postEphemeral", user="UADMIN")[0]["text"]
    assert "you filed this request; a different admin must decide it (R31)" in told
    assert state(slack_runtime) == "paused" and fake_slack.calls_of("chat.update") == []

    slack.click("UADMIN2", "reactivation_approve", "1", channel=channel, message_ts=ts)
    fake_slack.wait_calls("chat.update", ts=ts)
    current = fake_slack.message(channel, ts)
    assert "Approved by admin2@sandbox.example at" in current["text"]
    assert "reactivation_approve" not in str(current["blocks"])
    assert state(slack_runtime) == "active"
    with slack_runtime.store.session() as s:
        outcomes = [(e.actor, e.outcome, e.channel) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "approve_reactivation").order_by(AuditEntry.id))]
    assert outcomes == [("marketing@sandbox.example", "refused", "slack"), ("admin@sandbox.example", "refused", "slack"),
                        ("admin2@sandbox.example", "ok", "slack")]

    # Now active: an admin pauses from Slack and both targets hear of it at once.
    assert "Connector paused" in slack.ask("UADMIN", "pause data cleanup")
    slack_runtime.notifier.flush()
    paused = [p for p in fake_slack.calls_of("chat.postMessage") if "was paused by admin@" in p["text"]]
    assert len(paused) == 2 and "data cleanup" in paused[0]["text"]


def test_deny_asks_the_reason_in_a_modal(slack, slack_runtime, ready, fake_slack):
    _, channel, ts = file_request(slack, fake_slack, slack_runtime, user="UMKT")
    slack.click("UADMIN", "reactivation_deny", "1", channel=channel, message_ts=ts)
    modal = fake_slack.wait_calls("views.open")[0]["view"]
    assert modal["callback_id"] == "reactivation_deny" and modal["blocks"][0]["block_id"] == "reason"

    values = {"reason": {"reason": {"type": "plain_text_input", "value": "AMPSEA not reviewed yet"}}}
    # The modal closes at once (the role lookup may outlast Slack's 3 s); a refusal is told to the clicker.
    gate = fake_slack.hold("users.info")  # UMGR's email is not cached: the submit must not wait for it
    try:
        refused = slack.submit_view("UMGR", "reactivation_deny", {"request_id": 1, "channel": channel}, values)
        assert refused.status_code == 200 and not refused.text
    finally:
        gate.set()
    told = fake_slack.wait_calls("chat.postEphemeral", user="UMGR")[0]
    assert told["channel"] == channel and "needs the admin role" in told["text"]

    done = slack.submit_view("UADMIN", "reactivation_deny", {"request_id": 1, "channel": channel}, values)
    assert done.status_code == 200 and not done.text
    eventually(lambda: request_row(slack_runtime).status == "denied", what="the denial")
    r = request_row(slack_runtime)
    assert (r.status, r.decided_by, r.reason) == ("denied", "admin@sandbox.example", "AMPSEA not reviewed yet")
    fake_slack.wait_calls("chat.update", ts=ts)
    assert "Denied by admin@sandbox.example at" in fake_slack.message(channel, ts)["text"]
    assert "AMPSEA not reviewed yet" in str(fake_slack.message(channel, ts)["blocks"])


def test_deny_without_a_reason_records_the_default(slack, slack_runtime, ready, fake_slack):
    file_request(slack, fake_slack, slack_runtime, user="UMKT")
    resp = slack.submit_view("UADMIN2", "reactivation_deny", {"request_id": 1}, {"reason": {"reason": {"value": None}}})
    assert resp.status_code == 200
    eventually(lambda: request_row(slack_runtime).status == "denied", what="the denial")
    assert request_row(slack_runtime).reason == "denied in Slack without a reason"


def test_expired_requests_update_their_message(slack, slack_runtime, ready, fake_slack):
    _, channel, ts = file_request(slack, fake_slack, slack_runtime, user="UMKT")
    with slack_runtime.store.session() as s:
        s.execute(update(ReactivationRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert [r["id"] for r in slack_runtime.service().expire_reactivations()] == [1]
    fake_slack.wait_calls("chat.update", ts=ts)
    assert "Expired at" in fake_slack.message(channel, ts)["text"]


def test_requests_filed_elsewhere_are_posted_for_approval(slack_runtime, ready, fake_slack, operator):
    request = slack_runtime.service().request_reactivation(operator, "from the shell")
    slack_runtime.notifier.flush()
    post = fake_slack.wait_calls("chat.postMessage", channel=NOTIFY_CHANNEL)[-1]
    assert f"Reactivation request #{request['id']} by marketing@sandbox.example (via cli)" in post["text"]
    r = request_row(slack_runtime, request["id"])
    assert r.slack_channel == fake_slack.channel_id(NOTIFY_CHANNEL) and r.slack_ts


def test_app_home_shows_state_and_pending_approvals_and_refreshes(slack, slack_runtime, ready, fake_slack):
    slack.event({"type": "app_home_opened", "user": "UADMIN2", "channel": "DADMIN2", "tab": "home",
                 "event_ts": "1700000500.000100"})
    first = fake_slack.wait_calls("views.publish", user_id="UADMIN2")[0]["view"]
    text = str(first["blocks"])
    assert "State: *PAUSED*" in text and "Last cycles" in text and "Pending approvals*\\nnone" in text
    assert "#1 ok" in text  # the recent cycles, newest first

    file_request(slack, fake_slack, slack_runtime, user="UMKT")  # a state change: the home view is published again
    slack_runtime.notifier.flush()
    views = fake_slack.wait_calls("views.publish", count=2, user_id="UADMIN2")
    latest = str(views[-1]["view"]["blocks"])
    assert "Reactivation request #1 by marketing@sandbox.example" in latest and "reactivation_approve" in latest

    # Approving from App Home (no channel): the decision happens, the home view refreshes.
    slack.click("UADMIN2", "reactivation_approve", "1", channel=None)
    fake_slack.wait_calls("views.publish", count=3, user_id="UADMIN2")
    assert state(slack_runtime) == "active"

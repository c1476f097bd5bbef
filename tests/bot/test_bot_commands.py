"""`/pardot`, mentions and DMs through the real Flask endpoint with signed requests (issue 5)."""
import pytest
from sqlalchemy import select

from sync.errorqueue import record_failure
from sync.models import AuditEntry, Job
from sync.remote import RemoteError
from tests.bot.fake_slack import BOT_USER_ID

LEAD_ID = "00Q000000000001AAA"


def add_error(rt, cid, category="validation", n=1):
    with rt.store.session() as s:
        entry, _ = record_failure(s, cid, "salesforce_to_pardot", "Lead", f"00Q00000000000{n}AAA",
                                  RemoteError(category, "REQUIRED_FIELD_MISSING", f"Last Name is required ({n})"),
                                  crm_id=f"00Q00000000000{n}AAA", email=f"p{n}@example.com")
        s.flush()
        return entry.id


def answer(resp) -> str:
    """The bot acknowledges a slash command at once and answers through its response URL."""
    assert resp.status_code == 200 and not resp.text, resp.text
    return resp.slack.replies(resp)[0]["text"]


def audit(rt, action):
    with rt.store.session() as s:
        return [(e.actor, e.channel, e.outcome, e.detail) for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


@pytest.mark.parametrize("user, text, expect", [
    ("USALES", "version", "Connector version 2 for business unit"),
    ("USALES", "status", "State: *PAUSED*"),
    ("USALES", "checklist", "Pre-reactivation checklist: FAILS"),
    ("USALES", "errors", "No open sync errors."),
    ("USALES", "help", "sync prospect ID|EMAIL"),
    ("USALES", "help pause", "`pause [REASON]`"),
    ("USALES", "whoami", "You are sales@sandbox.example, role *viewer* (Pardot user role Sales)"),
    ("UMKT", "whoami", "role *operator* (Pardot user role Marketing)"),
    ("UMGR", "whoami", "role *operator* (Pardot user role Sales Manager)"),
    ("UADMIN", "whoami", "role *admin* (Pardot user role Administrator)"),
    ("USTRANGER", "whoami", "role *viewer* (no Pardot user with this email)"),
    ("UNOMAIL", "whoami", "You are slack:UNOMAIL, role *viewer*"),
    ("USALES", "stauts", "Did you mean `status`?\nUsage: `status`"),
    ("USALES", "sync prospect ada", "Usage: `sync prospect ID|EMAIL`"),
    ("USALES", "errors bogus", "'bogus' is not one of validation, duplicate"),
])
def test_read_commands_and_bad_input(slack, connector, user, text, expect):
    assert expect in answer(slack.command(user, text))


@pytest.mark.parametrize("user, text, needed", [
    ("USALES", "sync prospect 42", "operator"),
    ("USALES", f"send lead {LEAD_ID}", "operator"),
    ("USALES", "retry validation", "operator"),
    ("USALES", "dismiss 1", "operator"),
    ("USALES", "resume please", "operator"),
    ("UMKT", "pause cleanup", "admin"),
    ("UMGR", "approve 1", "admin"),
    ("UMKT", "deny 1 no", "admin"),
    ("USTRANGER", "create", "admin"),
])
def test_refused_commands_name_the_role_and_are_audited(slack, connector, slack_runtime, user, text, needed):
    reply = answer(slack.command(user, text))
    assert reply.startswith("Refused:") and f"needs the {needed} role" in reply
    with slack_runtime.store.session() as s:
        refusal = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused")).one()
        assert (refusal.channel, refusal.detail["needed_role"]) == ("slack", needed)
        assert refusal.actor.endswith("@sandbox.example") or refusal.actor.endswith("@elsewhere.example")
        assert s.scalars(select(Job)).first() is None


def test_override_list_wins_over_the_pardot_role(slack, connector, slack_runtime, admin):
    assert "role *viewer*" in answer(slack.command("USALES", "whoami"))
    slack_runtime.service().update_settings(admin, {"role_overrides": {"sales@sandbox.example": "admin"}})
    assert "role *admin* (override list in the connector settings)" in answer(slack.command("USALES", "whoami"))


def test_manual_syncs_are_queued_and_acknowledged(slack, connector, slack_runtime, fake_slack):
    reply = answer(slack.command("UMKT", "sync prospect ada@example.com"))
    assert "Sync with CRM for prospect ada@example.com is queued as job `sync-prospect-" in reply
    sent = slack.command("UMGR", f"send lead {LEAD_ID}")
    assert f"Send to Pardot for Lead {LEAD_ID} is queued" in answer(sent)
    with slack_runtime.store.session() as s:
        jobs = {j.kind: j for j in s.scalars(select(Job))}
    assert jobs["sync_prospect"].params["email"] == "ada@example.com"
    assert jobs["sync_prospect"].requested_via == "slack"
    # The outcome goes back through the command's response URL (posted when the job ends).
    assert jobs["send_to_pardot"].notify == {"transport": "slack", "response_url": sent.response_url, "user": "UMGR"}
    job_id = jobs["send_to_pardot"].id
    assert "is queued" in answer(slack.command("USALES", f"job {job_id}"))
    assert "not a Lead id" in answer(slack.command("UMKT", "send lead 003000000000001AAA"))


def test_error_queue_commands(slack, connector, slack_runtime):
    first = add_error(slack_runtime, connector, n=1)
    add_error(slack_runtime, connector, "duplicate", n=2)
    listing = answer(slack.command("USALES", "errors validation"))
    assert f"#{first} validation salesforce_to_pardot Lead 00Q000000000001AAA p1@example.com" in listing
    assert "duplicate" not in listing
    assert "Last Name is required (1)" in answer(slack.command("USALES", f"error {first}"))
    assert "is queued as job `retry-errors-" in answer(slack.command("UMKT", f"retry {first}"))
    assert "Retry for open duplicate errors is queued" in answer(slack.command("UMKT", "retry duplicate"))
    assert "there are no open limit errors" in answer(slack.command("UMKT", "retry limit"))
    assert f"Sync error #{first} dismissed by marketing@sandbox.example" in answer(
        slack.command("UMKT", f"dismiss {first}"))
    assert "already dismissed" in answer(slack.command("UMKT", f"dismiss {first}"))
    assert "no sync error #999" in answer(slack.command("UMKT", "error 999"))
    assert "1 dismissed sync error:" in answer(slack.command("USALES", "errors dismissed"))
    assert [a[2] for a in audit(slack_runtime, "dismiss_error")] == ["ok", "failed"]


def test_pause_by_admin_reaches_the_service(slack, connector):
    # Created paused (R1): the admin's pause passes the role check and meets the state rule.
    assert "the connector is already paused" in answer(slack.command("UADMIN", "pause maintenance"))


def test_mentions_answer_in_thread_and_dms_answer_in_the_dm(slack, connector, fake_slack):
    event = {"type": "app_mention", "user": "USALES", "text": f"<@{BOT_USER_ID}> status", "channel": "COPS000001",
             "ts": "1700000100.000100", "event_ts": "1700000100.000100"}
    assert slack.event(event).status_code == 200
    post = fake_slack.wait_calls("chat.postMessage", channel="COPS000001")[0]
    assert post["thread_ts"] == "1700000100.000100" and "State: *PAUSED*" in post["text"]

    dm = {"type": "message", "channel_type": "im", "user": "UMKT", "text": "whoami", "channel": "DMKT000001",
          "ts": "1700000200.000100", "event_ts": "1700000200.000100"}
    assert slack.event(dm).status_code == 200
    post = fake_slack.wait_calls("chat.postMessage", channel="DMKT000001")[0]
    assert "role *operator*" in post["text"] and post.get("thread_ts") is None


def test_slack_retries_never_run_a_command_twice(slack, connector, slack_runtime, fake_slack):
    event = {"type": "app_mention", "user": "UMKT", "text": f"<@{BOT_USER_ID}> sync prospect 42",
             "channel": "COPS000001", "ts": "1700000300.000100", "event_ts": "1700000300.000100"}
    assert slack.event(event, event_id="EvSAME00001").status_code == 200
    fake_slack.wait_calls("chat.postMessage", channel="COPS000001")
    for retry in (1, 2):
        assert slack.event(event, event_id="EvSAME00001", retry_num=retry).status_code == 200
    # The same slash command delivered twice (same trigger id) runs once too.
    from urllib.parse import quote

    body = ("token=x&team_id=T0FAKE0001&channel_id=CCMD000001&user_id=UMKT&command=%2Fpardot"
            f"&text=sync+prospect+43&response_url={quote(fake_slack.response_url('twice'), safe='')}"
            "&trigger_id=111.222.abc")
    first = slack.send(body, "application/x-www-form-urlencoded")
    again = slack.send(body, "application/x-www-form-urlencoded")
    assert first.status_code == again.status_code == 200 and not again.text
    assert "queued" in fake_slack.wait_calls("response_url")[0]["text"]
    with slack_runtime.store.session() as s:
        assert sorted(j.params.get("prospect_id") for j in s.scalars(select(Job))) == [42, 43]
    assert len(audit(slack_runtime, "sync_prospect")) == 2
    assert len(fake_slack.calls_of("chat.postMessage")) == 1


def test_the_bots_own_messages_are_ignored(slack, connector, fake_slack):
    own = {"type": "message", "channel_type": "im", "user": BOT_USER_ID, "bot_id": "B0FAKE0001",
           "text": "status", "channel": "DMKT000001", "ts": "1700000400.000100"}
    assert slack.event(own).status_code == 200
    # A later, real message proves the first one was processed (and ignored) by now.
    real = {**own, "user": "UMKT", "ts": "1700000401.000100"}
    del real["bot_id"]
    slack.event(real)
    posts = fake_slack.wait_calls("chat.postMessage", channel="DMKT000001")
    assert len(posts) == 1


@pytest.mark.parametrize("case", ["missing", "wrong", "stale", "other-secret"])
def test_bad_signatures_get_401_and_run_nothing(slack, connector, slack_runtime, fake_slack, case):
    from tests.bot.conftest import SlackRequests

    body = "token=x&team_id=T0FAKE0001&channel_id=C1&user_id=UADMIN&command=%2Fpardot&text=resume&trigger_id=1.2.3"
    if case == "missing":
        resp = slack.http.post(slack.url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    elif case == "wrong":
        resp = slack.send(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    elif case == "stale":
        import time
        resp = slack.send(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600)
    else:
        other = SlackRequests(slack.url.rsplit("/slack/events", 1)[0], fake_slack, secret="not-the-secret")
        resp = other.send(body, "application/x-www-form-urlencoded")
    assert resp.status_code == 401
    assert audit(slack_runtime, "request_reactivation") == []
    assert fake_slack.calls_of("users.info") == []


def test_slash_commands_are_acknowledged_before_the_users_info_lookup(slack, connector, fake_slack):
    """Issue 9 item 9: Slack's 3 s hold even when users.info does not answer (yet)."""
    gate = fake_slack.hold("users.info")
    try:
        resp = slack.command("UADMIN", "whoami")  # answered while users.info is still unanswered
        assert resp.status_code == 200 and not resp.text
        assert not gate.is_set() and fake_slack.calls_of("users.info") == []
        assert fake_slack.calls_of("response_url") == []
    finally:
        gate.set()
    assert "role *admin* (Pardot user role Administrator)" in slack.replies(resp)[0]["text"]


def test_a_rate_limited_users_info_still_gets_the_right_role(slack, connector, fake_slack):
    fake_slack.fail_next("users.info", status=429, retry_after=1, times=2)
    resp = slack.command("UMKT", "whoami")
    assert resp.status_code == 200 and not resp.text
    assert "role *operator* (Pardot user role Marketing)" in slack.replies(resp)[0]["text"]
    assert len(fake_slack.calls_of("users.info", ok_only=False)) == 3


def test_create_before_any_connector_reads_the_pardot_users(slack, slack_runtime, fake_slack, control):
    """Issue 9 item 9: no connector means no synced Pardot users; `create` asks Pardot itself."""
    from tests.bot.conftest import PARDOT_ROLES

    control.post("records/pardot/users", {"records": [
        {"email": email, "firstName": "U", "lastName": str(i), "role": role}
        for i, (email, role) in enumerate(PARDOT_ROLES.items())]}, expect=201)
    refused = slack.ask("USALES", "create")  # a Pardot Sales user: read from Pardot, still not an admin
    assert refused.startswith("Refused:") and "needs the admin role" in refused and "Pardot user role Sales" in refused
    stranger = slack.ask("USTRANGER", "create")
    assert stranger.startswith("Refused:") and "no Pardot user with this email" in stranger
    created = slack.ask("UADMIN", "create owner #sync-errors")
    assert "Refused" not in created and "no Pardot user with this email" not in created, created
    with slack_runtime.store.session() as s:
        from sync.models import Connector

        c = s.scalars(select(Connector)).one()
        assert (c.created_by, c.state, c.error_queue_owner) == ("admin@sandbox.example", "paused", "#sync-errors")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "create_connector",
                                                   AuditEntry.outcome == "ok")).one()
        assert entry.actor == "admin@sandbox.example" and entry.channel == "slack"
    assert "already exists" in slack.ask("UADMIN2", "create")  # one per business unit (R2)


def test_create_asks_pardot_only_until_the_users_are_synced(slack, connector, control):
    """After the first cycle read the Pardot users (the fixture records them), a stranger's
    `create` is answered from the store: no Pardot call."""
    before = control.get("calls")
    stranger = slack.ask("USTRANGER", "create")
    assert stranger.startswith("Refused:") and "no Pardot user with this email" in stranger
    assert control.get("calls") == before

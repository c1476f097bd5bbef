"""Sync-error notifications fold per category; connector-wide events go out at once; Slack's limits hold."""
import threading

from sqlalchemy import select

import bot.pacer
from sync.errorqueue import record_failure
from sync.models import Job, SyncError
from sync.remote import RemoteError
from sync.service import error_dict
from tests.bot.conftest import NOTIFY_CHANNEL, OWNER_CHANNEL


def new_errors(rt, cid, category, numbers):
    out = []
    with rt.store.session() as s:
        for n in numbers:
            entry, _ = record_failure(s, cid, "salesforce_to_pardot", "Lead", f"00Q0000000000{n:02d}AAA",
                                      RemoteError(category, "SOME_CODE", f"record {n} failed"),
                                      crm_id=f"00Q0000000000{n:02d}AAA", email=f"p{n}@example.com")
            s.flush()
            out.append(error_dict(entry))
    return out


def action_ids(blocks):
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_errors_fold_into_one_message_per_category_and_target(slack_runtime, connector, fake_slack):
    rt, notify = slack_runtime, slack_runtime.notifier
    notify("sync_errors", {"connector_id": connector, "errors": new_errors(rt, connector, "validation", [1])})
    notify.flush()
    posts = fake_slack.calls_of("chat.postMessage")
    alert, owner = fake_slack.channel_id(NOTIFY_CHANNEL), fake_slack.channel_id(OWNER_CHANNEL)
    assert sorted(p["channel"] for p in posts) == sorted([NOTIFY_CHANNEL, OWNER_CHANNEL])
    assert "1 new validation sync error" in posts[0]["text"]
    assert action_ids(posts[0]["blocks"]) == ["error_retry", "error_dismiss", "error_view"]

    for batch in ([2, 3], [4], [5, 6]):  # more of the same category inside the window
        notify("sync_errors", {"connector_id": connector, "errors": new_errors(rt, connector, "validation", batch)})
    notify.flush()
    assert len(fake_slack.calls_of("chat.postMessage")) == 2, "folded errors must not post again"
    updates = fake_slack.calls_of("chat.update")
    assert len(updates) == 6 and {u["channel"] for u in updates} == {alert, owner}
    current = fake_slack.message(alert, [u for u in updates if u["channel"] == alert][-1]["ts"])
    assert current["text"].startswith("6 new validation sync errors")
    assert "record 6 failed" in str(current["blocks"]) and "record 1 failed" not in str(current["blocks"])
    assert "error_retry_category" in action_ids(current["blocks"])

    # Another category is news: a message of its own, at once.
    notify("sync_errors", {"connector_id": connector, "errors": new_errors(rt, connector, "duplicate", [7])})
    notify.flush()
    assert [p["text"][:28] for p in fake_slack.calls_of("chat.postMessage")[2:]] == \
        ["1 new duplicate sync error s"] * 2

    # Once the fold window has passed (its Redis key expired), the next error posts anew.
    assert 0 < rt.redis.ttl(f"slack:fold:{NOTIFY_CHANNEL}:validation") <= 300
    for key in rt.redis.scan_iter("slack:fold:*:validation"):
        rt.redis.delete(key)
    notify("sync_errors", {"connector_id": connector, "errors": new_errors(rt, connector, "validation", [8])})
    notify.flush()
    assert len(fake_slack.calls_of("chat.postMessage")) == 6


def test_a_deleted_fold_message_starts_a_new_one(slack_runtime, connector, fake_slack):
    notify = slack_runtime.notifier
    notify("sync_errors", {"errors": new_errors(slack_runtime, connector, "permission", [1])})
    notify.flush()
    fake_slack.messages.clear()  # someone deleted the messages in Slack
    notify("sync_errors", {"errors": new_errors(slack_runtime, connector, "permission", [2])})
    notify.flush()
    posts = fake_slack.calls_of("chat.postMessage")
    assert len(posts) == 4 and posts[-1]["text"].startswith("2 new permission sync errors")


def test_connector_wide_events_go_out_at_once(slack_runtime, connector, fake_slack):
    notify = slack_runtime.notifier
    notify("connector_state", {"state": "error", "reason": "Salesforce refused the credentials: invalid_grant",
                               "previous": "active"})
    notify("connector_state", {"state": "throttled", "reason": "Pardot daily API budget spent", "previous": "error"})
    notify("connector_state", {"state": "active", "reason": None, "previous": "throttled"})
    notify.flush()
    texts = [p["text"] for p in fake_slack.calls_of("chat.postMessage") if p["channel"] == NOTIFY_CHANNEL]
    assert "is *error*" in texts[0] and "invalid_grant" in texts[0]
    assert "is *throttled*" in texts[1] and "budget spent" in texts[1]
    assert "recovered" in texts[2]
    assert len(fake_slack.calls_of("chat.postMessage")) == 6  # both targets, nothing folded


def test_rate_limits_429_is_retried_after_retry_after(slack_runtime, connector, fake_slack):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    slack_runtime.notifier("paused", {"by": "admin@sandbox.example", "reason": "cleanup"})
    slack_runtime.notifier.flush()
    attempts = fake_slack.calls_of("chat.postMessage", ok_only=False)
    assert len(attempts) == 3 and "paused by admin@sandbox.example: cleanup" in attempts[0]["text"]
    assert [c.status for c in fake_slack.calls if c.method == "chat.postMessage"] == [429, 200, 200]
    assert len(fake_slack.calls_of("chat.postMessage")) == 2


def test_posts_to_one_channel_wait_for_its_slot(slack_runtime, connector, fake_slack, monkeypatch):
    """The per-channel slot lives in Redis, so every process of the connector honours it."""
    monkeypatch.setattr(bot.pacer, "PACE_SECONDS", 600)  # a slot that only we can free
    deps = slack_runtime.notifier.deps
    deps.poster.post("#ops", "first")
    assert slack_runtime.redis.pttl("slack:pace:#ops") > 0
    waiting = threading.Thread(target=deps.poster.post, args=("#ops", "second"), daemon=True)
    waiting.start()
    deps.poster.post("#other", "another channel is not held up")
    waiting.join(0.3)
    assert waiting.is_alive() and [p["text"] for p in fake_slack.calls_of("chat.postMessage")] == \
        ["first", "another channel is not held up"]
    slack_runtime.redis.delete("slack:pace:#ops")  # the second is over
    waiting.join(20)
    assert [p["text"] for p in fake_slack.calls_of("chat.postMessage")][-1] == "second"


def test_error_buttons_run_as_the_clicker(slack, slack_runtime, connector, fake_slack):
    notify = slack_runtime.notifier
    [err] = new_errors(slack_runtime, connector, "validation", [1])
    notify("sync_errors", {"errors": [err]})
    notify.flush()
    assert any(p["channel"] == NOTIFY_CHANNEL for p in fake_slack.calls_of("chat.postMessage"))
    channel = fake_slack.channel_id(NOTIFY_CHANNEL)
    ts = next(k[1] for k in fake_slack.messages if k[0] == channel)

    slack.click("USALES", "error_retry", str(err["id"]), channel=channel, message_ts=ts)
    refusal = fake_slack.wait_calls("chat.postEphemeral", user="USALES")[0]
    assert "needs the operator role" in refusal["text"] and refusal["channel"] == channel

    slack.click("UMKT", "error_retry", str(err["id"]), channel=channel, message_ts=ts)
    ok = fake_slack.wait_calls("chat.postEphemeral", user="UMKT")[0]
    assert "Retry for sync error #%d is queued" % err["id"] in ok["text"]
    with slack_runtime.store.session() as s:
        job = s.scalars(select(Job)).one()
        assert job.notify == {"transport": "slack", "channel": channel, "thread_ts": ts, "user": "UMKT"}

    slack.click("UADMIN", "error_view", str(err["id"]), channel=channel, message_ts=ts)
    modal = fake_slack.wait_calls("views.open")[0]["view"]
    assert modal["type"] == "modal" and "record 1 failed" in str(modal["blocks"])

    slack.click("UMGR", "error_dismiss", str(err["id"]), channel=channel, message_ts=ts)
    fake_slack.wait_calls("chat.postEphemeral", user="UMGR")
    with slack_runtime.store.session() as s:
        entry = s.get(SyncError, err["id"])
        assert (entry.status, entry.resolved_by) == ("dismissed", "salesmgr@sandbox.example")

"""Issue 9 item 7: a remote outage is told, once, and so is the recovery.

Real `app.py worker` and `app.py scheduler` processes with Slack configured against a fake
Slack Web API. Salesforce answers every API call with 503 SERVER_UNAVAILABLE and
`Retry-After: 1` (sandbox fault injection): after two failed cycles in a row the connector
is `degraded` with the reason, each notification channel got one message, a third failed
cycle adds none (folded); every refusal came at least Retry-After after the previous one
(the sandbox's record of when it refused). When Salesforce answers again the next cycle
recovers the connector and the channels are told once more. Before: state "active", no post.
"""
from __future__ import annotations

import time

from tests.bot.fake_slack import FakeSlack
from tests.drills.procs_harness import POLL, Procs, cycle_runs, epoch, wait_until, world  # noqa: F401

NOTIFY = "#pardot-alerts"
OWNER = "#sync-errors"


def _posts(fake: FakeSlack, word: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for call in fake.calls_of("chat.postMessage"):
        if word in (call.get("text") or ""):
            found[call["channel"]] = found.get(call["channel"], 0) + 1
    return found


def test_two_failed_cycles_make_the_connector_degraded_told_once_and_recovery_told(
        world, runtime, control, sandbox, tmp_path):
    started = time.monotonic()
    fake = FakeSlack()
    world.create(error_queue_owner=OWNER)
    world.activate()
    procs = Procs(runtime, sandbox, tmp_path, SLACK_BOT_TOKEN="xoxb-drill-token",
                  SLACK_SIGNING_SECRET="drill-signing-secret-" + "0" * 12, SLACK_API_URL=fake.base_url,
                  SLACK_NOTIFY_CHANNEL=NOTIFY)
    try:
        procs.start("scheduler"), procs.start("worker")
        began = time.time()
        wait_until(lambda: any(epoch(r.started_at) > began and r.outcome == "ok" for r in cycle_runs(runtime)),
                   4 * POLL, "a first ok cycle", procs)
        control.post("faults", {"api": "salesforce", "error_code": "SERVER_UNAVAILABLE", "status": 503,
                                "retry_after": 1, "message": "Service Unavailable: maintenance"})
        outage = time.time()

        def failed_since(t):
            return [r for r in cycle_runs(runtime) if epoch(r.started_at) > t and r.outcome == "failed"]

        wait_until(lambda: world.connector().state == "degraded", 6 * POLL, "the connector to be degraded", procs)
        assert len(failed_since(outage)) >= 2
        connector = world.connector()
        assert "2 cycles in a row failed" in connector.state_reason and "SERVER_UNAVAILABLE" in connector.state_reason
        wait_until(lambda: _posts(fake, "degraded") == {NOTIFY: 1, OWNER: 1}, 20, "one degraded post per channel")
        (fault,) = control.get("faults")["faults"]
        gaps = [b - a for a, b in zip(fault["hit_at"], fault["hit_at"][1:])]
        assert fault["hits"] >= 2 * 4 and min(gaps) >= 0.95, gaps  # Retry-After: 1 honoured between tries
        print(f"degraded {time.time() - outage:.0f} s into the outage; {fault['hits']} refusals, "
              f"shortest gap {min(gaps):.2f} s")

        third = len(failed_since(outage)) + 1
        wait_until(lambda: len(failed_since(outage)) >= third, 4 * POLL, "a third failed cycle", procs)
        assert world.connector().state == "degraded"

        control.delete("faults")
        healed = time.time()
        wait_until(lambda: world.connector().state == "active", 4 * POLL, "the connector to recover", procs)
        # The recovering cycle may have started while its calls waited out Retry-After: it ends
        # after the fault is gone.
        assert any(r.finished_at and epoch(r.finished_at) > healed and r.outcome == "ok" for r in cycle_runs(runtime))
        wait_until(lambda: _posts(fake, "recovered") == {NOTIFY: 1, OWNER: 1}, 20, "one recovery post per channel")
        assert _posts(fake, "degraded") == {NOTIFY: 2, OWNER: 2}  # the recovery names what it recovered from
    finally:
        control.delete("faults")
        procs.stop_all()
        fake.close()
    print(f"outage drill: {time.monotonic() - started:.0f} s")

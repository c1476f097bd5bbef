"""Manual syncs end to end: acknowledged at once, run by a worker, outcome posted back (R6)."""
from tests.bot.fake_slack import BOT_USER_ID
from tests.sandbox.conftest import make_sf_client, make_sf_token


def test_send_to_pardot_outcome_lands_in_the_mention_thread(slack, slack_runtime, connector, fake_slack,
                                                             sandbox, run_worker):
    sf = make_sf_client(sandbox, make_sf_token(sandbox))
    lead = sf.Lead.create({"LastName": "Lovelace", "FirstName": "Ada", "Company": "Engines",
                           "Email": "ada.bot@example.com"})["id"]
    event = {"type": "app_mention", "user": "UMKT", "text": f"<@{BOT_USER_ID}> send lead {lead}",
             "channel": "COPS000001", "ts": "1700000600.000100", "event_ts": "1700000600.000100"}
    assert slack.event(event).status_code == 200
    ack = fake_slack.wait_calls("chat.postMessage", channel="COPS000001")[0]
    assert "is queued as job" in ack["text"] and ack["thread_ts"] == "1700000600.000100"

    run_worker()  # the cycle queued at creation, then the manual sync, while paused (R6)
    slack_runtime.notifier.flush()
    posts = fake_slack.wait_calls("chat.postMessage", count=2, channel="COPS000001")
    outcome = posts[1]
    assert outcome["thread_ts"] == "1700000600.000100"
    assert f"Send to Pardot for Lead {lead} done: prospect " in outcome["text"]
    assert f"↔ Lead {lead} (created)" in outcome["text"]


def test_a_failed_manual_sync_reports_category_and_message_through_the_response_url(
        slack, slack_runtime, connector, fake_slack, run_worker):
    missing = "00Q00000000ZZZZAAA"
    sent = slack.command("UMGR", f"send lead {missing}")
    assert "queued" in slack.replies(sent)[0]["text"]
    run_worker()
    slack_runtime.notifier.flush()
    outcome = slack.replies(sent, count=2)[1]
    assert outcome["response_type"] == "ephemeral" and outcome["replace_original"] is False
    assert f"Send to Pardot for Lead {missing} failed: not found: Salesforce has no Lead" in outcome["text"]


def test_sync_errors_from_a_manual_sync_are_announced_like_a_cycles(slack, slack_runtime, connector, fake_slack,
                                                                    control, run_worker):
    """Issue 9 item 9: the error a manual sync queues reaches the channels, not only the asker."""
    from tests.bot.conftest import NOTIFY_CHANNEL, OWNER_CHANNEL

    control.patch("salesforce/settings", {"validation_rules": [
        {"object": "Lead", "field": "LastName", "op": "equals", "value": "Refused", "message": "Refused is not welcome"}]})
    [prospect] = control.post("records/pardot/prospects", {"records": [
        {"email": "refused.manual@example.com", "lastName": "Refused", "assignedToId": 1}]})["records"]
    sent = slack.command("UMKT", f"sync prospect {prospect['id']}")
    assert "queued" in slack.replies(sent)[0]["text"]
    run_worker()  # the cycle queued at creation, then the manual sync (R6: also while paused)
    slack_runtime.notifier.flush()
    outcome = slack.replies(sent, count=2)[1]["text"]
    assert "failed" in outcome and "Refused is not welcome" in outcome
    posts = fake_slack.wait_for(lambda: [p for p in fake_slack.calls_of("chat.postMessage")
                                         if "refused.manual@example.com" in str(p.get("blocks")) + p["text"]]
                                or None, what="the sync error announcement")
    assert sorted(p["channel"] for p in posts) == sorted([NOTIFY_CHANNEL, OWNER_CHANNEL])

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
    reply = slack.command("UMGR", f"send lead {missing}").json()["text"]
    assert "queued" in reply
    run_worker()
    slack_runtime.notifier.flush()
    outcome = fake_slack.wait_calls("response_url")[0]
    assert outcome["response_type"] == "ephemeral" and outcome["replace_original"] is False
    assert f"Send to Pardot for Lead {missing} failed: not found: Salesforce has no Lead" in outcome["text"]

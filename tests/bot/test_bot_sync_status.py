"""`sync status ID` (issue 9 item 3) through signed Slack requests and the shell: the same
service read as GET /api/v1/prospects/{id}/sync and /crm-records/{id}/sync (R32: viewer)."""
from __future__ import annotations

import io

from bot.shell import run_shell
from sync.errorqueue import record_failure
from sync.models import RecordLink
from sync.remote import RemoteError
from sync.roles import Principal
from tests.bot.test_bot_commands import answer

ADMIN = Principal("admin@sandbox.example", "admin", "cli", "test")


def _linked_lead(rt, control, run_worker) -> tuple[str, int]:
    """A lead sent to Pardot by a real job (R6 works while paused): its prospect and link exist."""
    lead = control.post("records/salesforce/Lead", {"records": [
        {"LastName": "Status", "Company": "C", "Email": "status@example.com"}]})["records"][0]
    job = rt.service().send_to_pardot(ADMIN, "Lead", lead["Id"])
    run_worker()
    assert rt.service().get_job(ADMIN, job["id"])["state"] == "finished"
    with rt.store.session() as s:
        link = s.query(RecordLink).filter_by(crm_id=lead["Id"]).one()
        return lead["Id"], link.prospect_id


def test_sync_status_in_slack_shows_link_state_last_syncs_and_errors(slack, connector, slack_runtime, control,
                                                                     run_worker):
    lead_id, prospect_id = _linked_lead(slack_runtime, control, run_worker)
    text = answer(slack.command("USALES", f"sync status {lead_id}"))  # a viewer may read it (R32)
    assert f"Lead {lead_id}: *paused*" in text  # v2 starts paused (R1); nothing moves (R5)
    assert f"linked to: Prospect {prospect_id}" in text
    assert "last sync to Pardot: 20" in text and "last sync to Salesforce: never" in text

    with slack_runtime.store.session() as s:
        entry, _ = record_failure(s, connector, "pardot_to_salesforce", "Lead", str(prospect_id),
                                  RemoteError("validation", "REQUIRED_FIELD_MISSING", "Company is required"),
                                  prospect_id=prospect_id, crm_id=lead_id)
        s.flush()
        error_id = entry.id
    text = answer(slack.command("USALES", f"sync status {prospect_id}"))
    assert f"Prospect {prospect_id}: *in error*" in text and f"linked to: Lead {lead_id}" in text
    assert f"open error #{error_id} validation (pardot_to_salesforce): Company is required" in text


def test_sync_status_unknown_and_malformed_ids(slack, connector):
    assert "Prospect 424242 not found" in answer(slack.command("USALES", "sync status 424242"))
    assert "00Q000000000777AAA not found" in answer(slack.command("USALES", "sync status 00Q000000000777AAA"))
    text = answer(slack.command("USALES", "sync status 005000000000001AAA"))
    assert "is not a Salesforce lead, contact or account id" in text
    assert "Usage: `sync status ID`" in answer(slack.command("USALES", "sync status"))


def test_sync_status_in_the_shell(runtime, service, admin, control, run_worker):
    service.create_connector(admin, error_queue_owner="#sync-errors")
    lead_id, prospect_id = _linked_lead(runtime, control, run_worker)
    out = io.StringIO()
    lines = iter([f"sync status {prospect_id}\n", "sync status 31337\n", "exit\n"])
    assert run_shell(runtime, ["--as", "sales@sandbox.example"], stdin=lines, stdout=out) == 0
    text = out.getvalue()
    assert f"Prospect {prospect_id}: paused:" in text and f"linked to: Lead {lead_id}" in text
    assert "Prospect 31337 not found" in text

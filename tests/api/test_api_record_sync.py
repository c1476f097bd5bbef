"""Issue 9 item 3: one record's sync state over HTTP, without running a sync (R32: viewer).

Real cycles against the sandbox over HTTPS make each state; the reads go through the app
with bearer tokens, and every answer is checked against the OpenAPI document."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from sync.models import AuditEntry, PendingChange, utcnow
from tests.sync.conftest import World


@pytest.fixture
def world(runtime, service, control, admin, admin2, operator, sandbox, api) -> World:
    control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                          "campaigns": 0})
    w = World(runtime, service, control, admin, admin2, operator, sandbox)
    w.create()
    w.activate()
    return w


def _ts(value: str | None) -> datetime:
    assert value, "expected a timestamp"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_linked_lead_and_prospect_show_each_other_and_the_last_sync_each_way(world, as_role):
    viewer = as_role("viewer")
    lead = world.add_sf("Lead", {"LastName": "Linked", "Company": "C", "Email": "linked@example.com"})[0]
    before = utcnow()
    world.cycle()
    prospect = world.prospects(email="linked@example.com")[0]

    r = viewer.get(f"/api/v1/crm-records/{lead['Id']}/sync")
    assert r.status_code == 200, r.get_json()
    st = r.get_json()
    assert st["record"] == {"type": "Lead", "id": lead["Id"]}
    assert st["state"] == "linked" and st["linked_record"] == {"type": "Prospect", "id": str(prospect["id"])}
    assert _ts(st["last_synced_to_pardot"]) >= before.replace(microsecond=0)
    assert st["last_synced_to_salesforce"] is None  # the prospect was created from the lead: one way only
    assert st["open_errors"] == [] and st["pending"] is False

    # The prospect side, by its id; a 15-character CRM id names the same record.
    st = viewer.get(f"/api/v1/prospects/{prospect['id']}/sync").get_json()
    assert st["state"] == "linked" and st["linked_record"] == {"type": "Lead", "id": lead["Id"]}
    assert viewer.get(f"/api/v1/crm-records/{lead['Id'][:15]}/sync").get_json()["record"]["id"] == lead["Id"]

    # A change made in Pardot flows to Salesforce: the time that way is set now.
    world.pardot("PATCH", f"objects/prospects/{prospect['id']}", json={"jobTitle": "Engineer"})
    world.cycle()
    st = viewer.get(f"/api/v1/prospects/{prospect['id']}/sync").get_json()
    assert st["state"] == "linked"
    assert _ts(st["last_synced_to_salesforce"]) >= before.replace(microsecond=0)


def test_unassigned_prospect_with_no_match_says_so(world, as_role):
    p = world.add_prospects({"email": "lonely@example.com", "lastName": "Lonely"})[0]
    world.cycle()
    st = as_role("viewer").get(f"/api/v1/prospects/{p['id']}/sync").get_json()
    assert st["state"] == "unassigned_no_match" and st["linked_record"] is None
    assert "R12" in st["reason"] and st["not_linked_because"] == "unassigned_no_match"
    assert st["last_synced_to_pardot"] is None and st["last_synced_to_salesforce"] is None


def test_deleted_in_salesforce(world, as_role):
    lead = world.add_sf("Lead", {"LastName": "Gone", "Company": "C", "Email": "gone@example.com"})[0]
    world.cycle()
    world.api.Lead.delete(lead["Id"])
    world.cycle()
    viewer = as_role("viewer")
    st = viewer.get(f"/api/v1/crm-records/{lead['Id']}/sync").get_json()
    assert st["state"] == "deleted" and st["linked_record"]["type"] == "Prospect", st
    pid = st["linked_record"]["id"]
    assert viewer.get(f"/api/v1/prospects/{pid}/sync").get_json()["state"] == "deleted"


def test_in_error_shows_the_open_error(world, as_role):
    owner = world.pardot_user("sales@sandbox.example")
    world.control.patch("salesforce/settings", {"validation_rules": [
        {"object": "Lead", "field": "LastName", "op": "equals", "value": "Hopper", "message": "no Hoppers today"}]})
    p = world.add_prospects({"email": "grace@example.com", "lastName": "Hopper", "assignedToId": owner["id"]})[0]
    world.cycle()
    st = as_role("viewer").get(f"/api/v1/prospects/{p['id']}/sync").get_json()
    assert st["state"] == "in_error", st
    [error] = st["open_errors"]
    assert error["category"] == "validation" and "no Hoppers today" in error["message"]
    assert error["id"] == world.errors(prospect_id=p["id"])[0].id
    assert error["direction"] == "pardot_to_salesforce"


def test_paused_and_pending(world, as_role, runtime):
    lead = world.add_sf("Lead", {"LastName": "Wait", "Company": "C", "Email": "wait@example.com"})[0]
    world.cycle()
    viewer = as_role("viewer")
    # A change read but not yet written, as a cycle stopped by the API budget leaves it (R17).
    with runtime.store.session() as s:
        s.add(PendingChange(connector_id=world.cid, side="salesforce", record_id=lead["Id"]))
    st = viewer.get(f"/api/v1/crm-records/{lead['Id']}/sync").get_json()
    assert st["state"] == "pending" and st["pending"] is True and st["linked_record"]["type"] == "Prospect"

    assert as_role("admin").post("/api/v1/connector/pause", {"reason": "audit"}).status_code == 200
    st = viewer.get(f"/api/v1/crm-records/{lead['Id']}/sync").get_json()
    assert st["state"] == "paused" and "token:admin" in st["reason"] and st["connector_state"] == "paused"
    assert st["linked_record"]["type"] == "Prospect"  # the link is still shown while paused


def test_unknown_ids_are_404_naming_the_id_and_malformed_ids_400(world, as_role):
    viewer = as_role("viewer")
    r = viewer.get("/api/v1/prospects/987654321/sync")
    assert r.status_code == 404 and "987654321" in r.get_json()["error"]["message"]
    assert "not found" in r.get_json()["error"]["message"]
    r = viewer.get("/api/v1/crm-records/00Q000000000999AAA/sync")
    assert r.status_code == 404 and "00Q000000000999AAA" in r.get_json()["error"]["message"]
    for bad in ("abc", "0", "-5", "1.5", "99999999999999999999999"):
        r = viewer.get(f"/api/v1/prospects/{bad}/sync")
        assert r.status_code == 400, (bad, r.get_json())
    for bad in ("00X000000000001AAA", "00Q0000000001", "00Q00000000000!AAA", "005000000000001AAA"):
        r = viewer.get(f"/api/v1/crm-records/{bad}/sync")
        assert r.status_code == 400 and "00Q, 003 or 001" in r.get_json()["error"]["message"], bad


def test_reading_needs_a_token_and_the_refusal_is_audited(world, api, runtime):
    r = api.as_(None).get("/api/v1/prospects/1/sync")
    assert r.status_code == 401
    with runtime.store.session() as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused")).all()
    assert refused, "the refused request is in the audit log (R34)"


def test_crm_id_field_setting_and_creation_over_http(world, as_role, run_worker, runtime):
    admin, operator = as_role("admin"), as_role("operator")
    r = admin.patch("/api/v1/settings", {"crm_id_field": "has space"})
    assert r.status_code == 400 and "crm_id_field" in r.get_json()["error"]["details"]
    assert "API name of a Pardot custom prospect field" in r.get_json()["error"]["message"]
    assert operator.patch("/api/v1/settings", {"crm_id_field": "CRM_Id__c"}).status_code == 403
    assert operator.post("/api/v1/settings/crm-id-field").status_code == 403
    assert admin.post("/api/v1/settings/crm-id-field").status_code == 409  # nothing named yet

    assert admin.patch("/api/v1/settings", {"crm_id_field": "CRM_Id__c"}).get_json()["crm_id_field"] == "CRM_Id__c"
    assert as_role("operator").get("/api/v1/settings").get_json()["crm_id_field"] == "CRM_Id__c"
    r = admin.post("/api/v1/settings/crm-id-field")
    assert r.status_code == 202 and r.get_json()["job"]["kind"] == "create_crm_id_field"
    run_worker()
    job = admin.get(r.get_json()["url"]).get_json()
    assert job["state"] == "finished" and job["outcome"]["action"] == "created", job
    checklist = as_role("viewer").get("/api/v1/connector/checklist").get_json()
    assert next(i for i in checklist["items"] if i["key"] == "crm_id_field")["result"] == "pass"
    with runtime.store.session() as s:
        refused = {(e.actor, e.action) for e in s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused"))}
    assert {("token:operator", "update_settings"), ("token:operator", "create_crm_id_field")} <= refused


def test_cli_sync_status_and_create_crm_id_field(world, app):
    lead = world.add_sf("Lead", {"LastName": "Cli", "Company": "C", "Email": "cli@example.com"})[0]
    world.cycle()
    run = app.test_cli_runner().invoke
    shown = run(args=["connector", "sync-status", lead["Id"]])
    assert shown.exit_code == 0, shown.output
    state = json.loads(shown.stdout)
    assert state["state"] == "linked" and state["linked_record"]["type"] == "Prospect"
    by_prospect = json.loads(run(args=["connector", "sync-status", state["linked_record"]["id"]]).stdout)
    assert by_prospect["linked_record"] == {"type": "Lead", "id": lead["Id"]}
    missing = run(args=["connector", "sync-status", "55555"])
    assert missing.exit_code == 1 and "Prospect 55555 not found" in missing.output
    refused = run(args=["connector", "create-crm-id-field"])
    assert refused.exit_code == 1 and "set crm_id_field" in refused.output
    world.service.update_settings(world.admin, {"crm_id_field": "CRM_Id__c"})
    job = json.loads(run(args=["connector", "create-crm-id-field"]).stdout)
    assert job["kind"] == "create_crm_id_field" and job["params"]["field_id"] == "CRM_Id__c"

"""R1–R7, R30, R31: the connector, paused cycles, manual syncs and reactivation."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from sync.errors import Conflict, Forbidden, Invalid
from sync.models import AuditEntry, Connector, CycleRun, ReactivationRequest, UserMatch, utcnow


def test_R1_v2_is_created_paused_and_v1_active_without_mds(world, runtime, service, admin):
    status = world.create(version=2)
    assert status["state"] == "paused" and status["connector_version"] == 2
    assert status["paused"]["by"] == admin.who

    with runtime.store.session() as s:
        s.delete(s.scalars(select(Connector)).one())
    status = world.create(version=1)
    assert status["state"] == "active" and status["connector_version"] == 1
    service.pause(admin, "to try MDS")
    with pytest.raises(Conflict, match="version 2 only"):
        service.set_mds_rules(admin, True, [{"object": "Lead", "field": "Business_Unit__c", "value": "EU"},
                                            {"object": "Contact", "field": "Business_Unit__c", "value": "EU"}])


def test_R2_one_connector_per_business_unit(world, service, admin):
    world.create()
    with pytest.raises(Conflict, match="one connector per business unit"):
        service.create_connector(admin, version=2)


def test_R3_custom_connector_user_must_exist_and_shared_integration_user_needs_mds(world, runtime, service, admin):
    world.create(connector_user="nobody@example.com")
    world.cycle()
    items = {i["key"]: i for i in service.checklist(admin)["items"]}
    assert items["connector_user"]["result"] == "fail" and "nobody@example.com" in items["connector_user"]["reason"]

    service.update_settings(admin, {"connector_user": "sales@sandbox.example"})
    with runtime.store.session() as s:  # the sandbox's usernames are the emails
        username = s.scalars(select(UserMatch.salesforce_username).where(
            UserMatch.email == "sales@sandbox.example")).one()
    service.update_settings(admin, {"connector_user": username})
    items = {i["key"]: i for i in service.checklist(admin)["items"]}
    assert items["connector_user"]["result"] == "pass"

    # A second business unit on the same org sharing the integration user: MDS becomes required.
    service.update_settings(admin, {"connector_user": "integration"})
    with runtime.store.session() as s:
        s.add(Connector(business_unit_id="0UvOTHERBU00000001", version=2, state="paused", state_since=utcnow(),
                        connector_user="integration", settings={}, checks={}, created_by="x"))
    items = {i["key"]: i for i in service.checklist(admin)["items"]}
    assert items["mds"]["result"] == "fail" and "R3" in items["mds"]["reason"]


def test_R4_a_cycle_syncs_metadata_first(world, runtime):
    world.create()
    world.control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0,
                                "users": 3, "campaigns": 2, "seed": 7})
    assert runtime.config.poll_interval == 120  # the default (R4)
    world.cycle()
    with runtime.store.session() as s:
        sales = s.scalars(select(UserMatch).where(UserMatch.email == "sales@sandbox.example")).one()
        assert sales.pardot_role == "Sales" and sales.salesforce_user_id.startswith("005")
        from sync.models import CampaignMatch
        assert len(s.scalars(select(CampaignMatch)).all()) >= 2


def test_R5_paused_cycles_sync_metadata_but_no_prospect_record(world, runtime):
    world.create()
    world.add_sf("Lead", {"LastName": "Paused", "Company": "P", "Email": "paused@example.com"})
    result = world.cycle()
    assert result["paused"] and result["outcome"] == "ok"
    assert world.prospects(email="paused@example.com") == []
    with runtime.store.session() as s:
        run = s.scalars(select(CycleRun)).one()
        assert run.prospects_synced is False
        assert s.scalars(select(UserMatch).where(UserMatch.email == "admin@sandbox.example")).one().pardot_user_id


def test_R6_manual_syncs_work_while_paused(world, service, operator, run_worker):
    world.create()
    world.cycle()
    lead = world.add_sf("Lead", {"LastName": "Manual", "Company": "M", "Email": "manual@example.com"})[0]
    job = service.send_to_pardot(operator, "Lead", lead["Id"])
    assert job["state"] == "queued"
    again = service.send_to_pardot(operator, "Lead", lead["Id"])  # a double click: the same job
    assert again["id"] == job["id"]
    run_worker()
    done = service.get_job(operator, job["id"])
    assert done["state"] == "finished", done
    prospect = world.prospects(email="manual@example.com")[0]
    assert done["outcome"]["prospect_id"] == prospect["id"] and world.crm_of(prospect["id"]) == lead["Id"]

    user = world.pardot_user("sales@sandbox.example")
    p = world.add_prospects({"email": "fromPardot@example.com", "lastName": "Pardot", "assignedToId": user["id"]})[0]
    job = service.sync_prospect(operator, prospect_id=p["id"])
    run_worker()
    done = service.get_job(operator, job["id"])
    assert done["state"] == "finished", done
    lead = world.sf("Lead", Email="fromPardot@example.com")[0]
    assert done["outcome"]["crm_id"] == lead["Id"]
    assert lead["OwnerId"] == world.sf_user("sales@sandbox.example")["Id"]
    assert world.connector().state == "paused"


def test_R7_reactivation_catches_up_on_changes_made_while_paused(world, service, admin, admin2, operator):
    world.create()
    world.cycle()
    world.add_sf("Lead", {"LastName": "While", "Company": "Paused", "Email": "while@example.com"})
    world.cycle()
    assert world.prospects(email="while@example.com") == []
    service.update_settings(admin, {"ampsea": False})
    request = service.request_reactivation(operator, "ready")
    assert request["status"] == "pending" and request["checklist"]["passed"], request["checklist"]
    service.approve_reactivation(admin2, request["id"])
    assert world.connector().state == "active"
    world.cycle()
    assert len(world.prospects(email="while@example.com")) == 1


def test_R30_checklist_items_pass_fail_warn_with_reasons(world, service, admin, viewer):
    world.create(error_queue_owner=None)
    before = {i["key"]: i for i in service.checklist(viewer)["items"]}
    assert before["salesforce_credentials"]["result"] == "fail" and "not verified" in before["salesforce_credentials"]["reason"]
    assert before["error_queue_owner"]["result"] == "fail"
    assert before["ampsea"]["result"] == "warn"
    world.cycle()
    service.update_settings(admin, {"error_queue_owner": "#ops", "ampsea": False})
    after = service.checklist(viewer)
    items = {i["key"]: i for i in after["items"]}
    expected = {"salesforce_credentials", "pardot_credentials", "connector_version", "connector_user", "mds",
                "field_mappings", "ampsea", "user_matching", "crm_id_field", "error_queue_owner"}  # issue 9 item 3
    assert set(items) == expected
    assert all(i["result"] in ("pass", "warn", "fail") and i["reason"] for i in items.values())
    assert after["passed"], after


def test_R30_field_mapping_to_a_missing_field_fails_the_checklist(world, service, admin):
    world.create()
    world.cycle()
    mappings = service.get_field_mappings(admin)
    with pytest.raises(Invalid, match="Lead.Nope__c does not exist"):
        service.set_field_mappings(admin, [*mappings[:-1], {**mappings[-1], "lead_field": "Nope__c"}])


def test_R31_requests_need_a_different_admin_and_expire(world, runtime, service, admin, admin2, operator, viewer):
    world.create()
    world.cycle()
    service.update_settings(admin, {"ampsea": False})
    with pytest.raises(Forbidden, match="operator"):
        service.request_reactivation(viewer)
    request = service.request_reactivation(admin, "mine")
    with pytest.raises(Conflict, match="different admin"):
        service.approve_reactivation(admin, request["id"])
    with pytest.raises(Forbidden, match="admin"):
        service.approve_reactivation(operator, request["id"])
    with pytest.raises(Conflict, match="already pending"):
        service.request_reactivation(operator)
    denied = service.deny_reactivation(admin2, request["id"], "not today")
    assert denied["status"] == "denied" and denied["reason"] == "not today"

    request = service.request_reactivation(operator)
    with runtime.store.session() as s:
        s.get(ReactivationRequest, request["id"]).expires_at = utcnow() - timedelta(seconds=1)
    assert service.get_reactivation(admin, request["id"])["status"] == "expired"
    with pytest.raises(Conflict, match="expired"):
        service.approve_reactivation(admin2, request["id"])
    with runtime.store.session() as s:
        actions = [(e.action, e.outcome, e.actor) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("request_reactivation", "refused", "sales@sandbox.example") in actions
    assert ("approve_reactivation", "refused", admin.who) in actions
    assert ("deny_reactivation", "ok", admin2.who) in actions
    assert ("reactivation_expired", "ok", "connector") in actions

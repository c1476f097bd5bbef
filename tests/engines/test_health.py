"""Sync health of Salesforce's connector (issue 10 item 4; R38): symptoms into the error queue,
raised once (folded per record), notified, listed over the REST API, resolved by themselves.

Thresholds are set to one second through the settings; each test polls the health check with a
generous deadline instead of timing anything."""
from __future__ import annotations

import time

import pytest


@pytest.fixture
def running(native):
    """Salesforce's connector running, our connector on the salesforce engine, 1-second thresholds."""
    native.create()
    native.settings(health_threshold_seconds=1, stall_after_seconds=3600)
    return native


def _open(native, category):
    return [e for e in native.errors(category=category)]


def test_idle_health_check_costs_three_pardot_calls_and_no_salesforce_call(running):
    """R38: at most 3 Pardot calls per idle check: the connector, changed prospects, changed users."""
    running.add_prospects({"email": "a@idle.example", "lastName": "A", "assignedToId": running.pardot_user_id()})
    running.tick()
    running.cycle()  # first check: reads everything once and sets the cursor
    running.reset_calls()
    result = running.cycle()
    calls = running.calls()
    assert calls == {"pardot GET /api/v5/connectors/salesforce": 1, "pardot GET /api/v5/objects/prospects": 1,
                     "pardot GET /api/v5/objects/users": 1}
    assert result["api_calls"] == {"salesforce": 0, "pardot": 3}
    assert running.errors() == []


def test_not_syncing_is_raised_once_notified_listed_and_resolves_itself(running, api):
    p = running.add_prospects({"email": "b@stuck.example", "lastName": "B",
                               "assignedToId": running.pardot_user_id()})[0]
    running.tick()
    assert running.prospect(p["id"])["salesforceId"]
    running.cycle()
    running.set(stuck=[p["id"]])
    running.edit_prospect(p["id"], jobTitle="CTO")
    running.tick()  # the stuck record is skipped by Salesforce's connector
    running.cycle_until(lambda: _open(running, "not_syncing"), "not_syncing warning")
    [warning] = _open(running, "not_syncing")
    assert warning["prospect_id"] == p["id"] and warning["direction"] == "pardot_to_salesforce"
    assert "has not synced to Salesforce" in warning["message"]
    notified = [e for ev in running.events("sync_errors") for e in ev["errors"]]
    assert [e["id"] for e in notified] == [warning["id"]]
    # Folded: later checks keep one open entry per record and do not notify it again.
    running.cycle()
    running.cycle()
    assert [e["id"] for e in _open(running, "not_syncing")] == [warning["id"]]
    assert len([e for ev in running.events("sync_errors") for e in ev["errors"]]) == 1
    # Listed over the REST API, and in the status backlog.
    listed = api.get("/api/v1/sync-errors?category=not_syncing").get_json()["items"]
    assert [e["id"] for e in listed] == [warning["id"]]
    assert running.service.status(running.admin)["sync_warnings"] == 1
    # Salesforce's connector syncs it again: resolved by itself, and said so.
    running.set(stuck=[])
    running.tick()
    running.cycle()
    assert _open(running, "not_syncing") == []
    assert running.service.get_error(running.admin, warning["id"])["status"] == "resolved"
    resolved = [e["id"] for ev in running.events("sync_errors_resolved") for e in ev["errors"]]
    assert resolved == [warning["id"]]


def test_not_created_for_an_assigned_prospect_without_a_lead(running):
    p = running.add_prospects({"email": "c@new.example", "lastName": "C"})[0]
    running.set(stuck=[p["id"]])
    running.cycle()
    running.edit_prospect(p["id"], assignedToId=running.pardot_user_id())
    running.tick()
    running.cycle_until(lambda: _open(running, "not_created"), "not_created warning")
    [warning] = _open(running, "not_created")
    assert warning["prospect_id"] == p["id"] and "no Salesforce lead" in warning["message"]
    running.set(stuck=[])
    running.tick()
    assert running.prospect(p["id"])["salesforceLeadId"]
    running.cycle()
    assert _open(running, "not_created") == []
    assert running.service.get_error(running.admin, warning["id"])["status"] == "resolved"


def test_unassigned_prospect_without_lead_is_not_a_warning(running):
    running.add_prospects({"email": "d@unassigned.example", "lastName": "D"})
    running.tick()
    running.cycle()
    time.sleep(1.5)  # past the 1-second threshold
    running.cycle()
    assert running.errors() == []


def test_no_record_warning_while_paused(running):
    p = running.add_prospects({"email": "e@paused.example", "lastName": "E"})[0]
    running.service.pause(running.admin, "freeze")
    running.edit_prospect(p["id"], assignedToId=running.pardot_user_id())
    running.cycle()
    time.sleep(1.5)  # past the 1-second threshold: a running connector would be warned about
    running.cycle()
    assert _open(running, "not_created") == []


def test_stalled_connector_alert_and_recovery(running):
    running.settings(stall_after_seconds=1)
    running.tick()
    running.set(stalled=True)
    running.cycle_until(lambda: _open(running, "stalled"), "stalled alert")
    [alert] = _open(running, "stalled")
    assert alert["object"] == "Connector" and "stopped syncing" in alert["message"]
    states = running.events("connector_state")
    assert states[-1]["state"] == "error" and "stopped syncing" in states[-1]["reason"]
    running.cycle()
    assert len(running.events("connector_state")) == 1  # raised once
    running.set(stalled=False)
    running.tick()
    running.cycle()
    assert _open(running, "stalled") == []
    assert running.events("connector_state")[-1]["state"] == "active"
    assert [e["id"] for ev in running.events("sync_errors_resolved") for e in ev["errors"]] == [alert["id"]]


def test_unverified_connector_is_a_credentials_alert(running):
    running.set(verified=False)
    running.cycle()
    [alert] = _open(running, "credentials")
    assert "not verified" in alert["message"]
    checklist = running.service.checklist(running.admin)
    assert {i["key"]: i["result"] for i in checklist["items"]}["connector_verified"] == "fail"
    running.set(verified=True)
    running.cycle()
    assert _open(running, "credentials") == []


def test_health_check_reads_pardot_users_so_roles_work_on_this_engine(running):
    """R33 on the salesforce engine: the third call of the check keeps people's Pardot roles current."""
    running.control.post("records/pardot/users", {"records": [
        {"email": "boss@sandbox.example", "firstName": "B", "lastName": "Oss", "role": "Administrator"}]})
    assert running.service.resolve_role("boss@sandbox.example").role == "viewer"
    running.cycle()
    assert running.service.resolve_role("boss@sandbox.example").role == "admin"

"""Operating Salesforce's own connector through the service layer (issue 10; R35, R36, R37).

Real sandbox over HTTPS (its Connector API and simulated connector), real Redis, real SQL,
the RQ worker in burst mode for the unpause job."""
from __future__ import annotations

import pytest

from sync.errors import Conflict, Forbidden, Invalid


def test_builtin_create_suggests_the_salesforce_engine_when_a_v2_connector_syncs(native):
    """R35: when the org answers the Connector API with a v2 connector, create says so."""
    result = native.service.create_connector(native.admin, version=2, error_queue_owner="#sync-errors")
    assert result["engine"] == "builtin"
    assert "engine salesforce" in result["notice"] and "v2" in result["notice"]


def test_builtin_create_without_native_connector_has_no_notice(native):
    native.set(present=False)
    result = native.service.create_connector(native.admin, version=2, error_queue_owner="#sync-errors")
    assert "notice" not in result


def test_unknown_engine_is_invalid(native):
    with pytest.raises(Invalid) as exc:
        native.service.create_connector(native.admin, engine="hubspot")
    assert exc.value.details == {"engine": "must be builtin or salesforce"}


def test_salesforce_engine_needs_a_connector_in_the_org(native):
    native.set(present=False)
    with pytest.raises(Conflict, match="no Salesforce connector"):
        native.create()


def test_version_and_status_come_from_the_connector_api(native):
    """R36: name, v1/v2, paused/running, verified, last synced at, backlog of open sync warnings."""
    native.set(name="Salesforce Prod", paused=False)
    native.tick()
    created = native.create()
    assert created["engine"] == "salesforce" and created["state"] == "active"
    native.reset_calls()
    v = native.service.version(native.operator)
    block = v["salesforce_connector"]
    assert v["engine"] == "salesforce" and v["connector_version"] == 2
    assert block["name"] == "Salesforce Prod" and block["version"] == 2
    assert block["paused"] is False and block["verified"] is True and block["last_synced_at"]
    assert v["sync_warnings"] == 0 and block["read_at"]
    # DESIGN §1: no Pardot call on the request's path; the snapshot is what create (and every
    # health check, pause and unpause) read, so a slow or failing Pardot cannot hold a reply up.
    assert native.calls() == {}

    native.set(paused=True, verified=False, version=1)
    native.rt.redis.flushdb()  # the status is cached for a second
    assert native.service.status(native.operator)["salesforce_connector"]["paused"] is False  # not read yet
    native.cycle()  # the health check of the next poll interval reads the Connector API (R38)
    native.rt.redis.flushdb()
    native.reset_calls()
    st = native.service.status(native.operator)
    assert native.calls() == {}
    assert st["state"] == "paused" and st["connector_version"] == 1
    assert st["salesforce_connector"]["verified"] is False and st["salesforce_connector"]["paused"] is True
    assert st["paused"]["by"].startswith("Salesforce")


def test_pause_calls_pardot_audits_and_broadcasts(native):
    native.create()
    native.reset_calls()
    st = native.service.pause(native.admin, "quarter-end freeze")
    assert st["state"] == "paused" and st["paused"]["by"] == native.admin.who
    assert st["paused"]["reason"] == "quarter-end freeze"
    assert native.state()["paused"] is True
    assert native.calls()["pardot POST /api/v5/connectors/salesforce/do/pause"] == 1
    assert [a.outcome for a in native.audit("pause")] == ["ok"]
    [event] = native.events("paused")
    assert event["by"] == native.admin.who and event["reason"] == "quarter-end freeze"
    assert "metadata keeps syncing" in event["note"]


def test_pause_of_a_paused_connector_gets_pardots_refusal_in_plain_words(native):
    native.set(paused=True)
    native.create()
    with pytest.raises(Conflict) as exc:
        native.service.pause(native.admin)
    assert "already paused" in exc.value.message and exc.value.message.startswith("Pardot refused to pause")
    assert [a.outcome for a in native.audit("pause")] == ["failed"]


def test_pause_of_a_v1_connector_is_refused(native):
    native.set(version=1)
    native.create()
    with pytest.raises(Conflict) as exc:
        native.service.pause(native.admin)
    assert "version 1" in exc.value.message and "version 2 only" in exc.value.message
    assert native.state()["paused"] is False


def test_pause_by_a_non_admin_is_refused_without_calling_pardot(native):
    native.create()
    native.reset_calls()
    with pytest.raises(Forbidden):
        native.service.pause(native.operator)
    assert not any("do/pause" in k for k in native.calls())
    assert [a.outcome for a in native.audit("pause")] == ["refused"]


def test_missing_admin_connectors_ability_is_said_in_plain_words(native):
    native.create()
    native.set(ability=False)
    with pytest.raises(Conflict) as exc:
        native.service.pause(native.admin)
    assert '"Admin > Connectors" ability' in exc.value.message


def test_resume_by_request_and_second_admin_unpauses_once(native, run_worker):
    """R37: checklist, request, a different admin's approval, then one unpause from a worker job."""
    native.set(paused=True)
    native.create()
    native.cycle()  # the health check records the connector's facts for the checklist
    request = native.service.request_reactivation(native.operator, "freeze over")
    keys = {i["key"]: i for i in request["checklist"]["items"]}
    assert keys["connector_version"]["result"] == "pass" and keys["connector_verified"]["result"] == "pass"
    assert keys["connector_paused"]["result"] == "pass"
    assert keys["field_sync"]["result"] == "warn" and keys["field_sync"]["reason"].startswith("check by hand: ")
    assert "Setup > " in keys["mds"]["reason"]
    with pytest.raises(Conflict, match="different admin"):
        native.service.approve_reactivation(native.operator.__class__(native.operator.who, "admin", "cli", "t"),
                                            request["id"])
    native.reset_calls()
    approved = native.service.approve_reactivation(native.admin2, request["id"])
    assert approved["status"] == "approved" and approved["outcome"] == {"unpause": "queued"}
    assert native.state()["paused"] is True  # nothing called from the web request
    run_worker()
    assert native.calls().get("pardot POST /api/v5/connectors/salesforce/do/unpause") == 1
    assert native.state()["paused"] is False
    assert native.service.get_reactivation(native.admin, request["id"])["outcome"] == {"unpause": "ok"}
    assert native.connector().state == "active"
    assert [e["id"] for e in native.events("reactivation_unpaused")] == [request["id"]]


def test_failed_unpause_leaves_the_request_approved_failed_with_the_reason(native, run_worker):
    native.set(paused=True)
    native.create()
    native.cycle()
    request = native.service.request_reactivation(native.operator)
    native.service.approve_reactivation(native.admin2, request["id"])
    native.set(paused=False)  # someone unpaused it in Salesforce meanwhile: Pardot refuses
    run_worker()
    r = native.service.get_reactivation(native.admin, request["id"])
    assert r["status"] == "approved" and r["outcome"]["unpause"] == "failed"
    assert "not paused" in r["outcome"]["reason"]
    assert [e["id"] for e in native.events("reactivation_failed")] == [request["id"]]
    assert [a.outcome for a in native.audit("unpause")] == ["failed"]


@pytest.mark.parametrize("call, words", [
    (lambda s, p: s.sync_prospect(p, prospect_id=1), "Sync with CRM"),
    (lambda s, p: s.send_to_pardot(p, "Lead", "00Q000000000001AAA"), "Salesforce"),
    (lambda s, p: s.retry_errors(p, category="not_syncing"), "retries by itself"),
    (lambda s, p: s.set_mds_rules(p, True, []), "Marketing Data Sharing"),
])
def test_builtin_only_commands_answer_why_and_where(native, call, words):
    """R35: never a stack trace or a silent no-op."""
    native.create()
    with pytest.raises(Conflict) as exc:
        call(native.service, native.admin)
    assert words in exc.value.message

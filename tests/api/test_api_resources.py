"""What each resource does over HTTP: connector, reactivation, configuration, audit log."""
from __future__ import annotations

from tests.api.conftest import mark_checks_passed


def test_create_v2_is_paused_and_v1_is_not_allowed_twice(api, runtime):
    r = api.post("/api/v1/connector", {"version": 2, "ampsea": False, "error_queue_owner": "#ops"})
    assert r.status_code == 201 and r.headers["Location"] == "/api/v1/connector"
    body = r.get_json()
    assert body["state"] == "paused" and body["connector_version"] == 2  # R1
    assert body["paused"]["reason"] == "created paused (connector v2)"
    r = api.post("/api/v1/connector", {"version": 1})
    assert r.status_code == 409 and "one connector per business unit" in r.get_json()["error"]["message"]  # R2


def test_create_with_defaults_and_an_empty_body(api):
    r = api.post("/api/v1/connector")
    assert r.status_code == 201 and r.get_json()["connector_user"] == "integration"  # R3 default


def test_create_rejects_invalid_fields(api):
    r = api.post("/api/v1/connector", {"version": 3, "connector_user": " ", "ampsea": "no"})
    assert r.status_code == 400
    assert set(r.get_json()["error"]["details"]) == {"version", "connector_user", "ampsea"}


def test_version_and_checklist(api, connector, as_role):
    version = as_role("viewer").get("/api/v1/connector/version").get_json()
    assert version["connector_version"] == 2 and version["app_version"]
    checklist = as_role("viewer").get("/api/v1/connector/checklist").get_json()
    by_key = {i["key"]: i for i in checklist["items"]}
    assert checklist["passed"] is False  # nothing verified yet: no cycle has run
    assert by_key["salesforce_credentials"]["result"] == "fail"
    assert by_key["error_queue_owner"]["result"] == "pass"


def test_reactivation_needs_a_different_admin(api, connector, runtime, as_role):
    # Pure API test: the credentials and describe a cycle would record are set through the store.
    mark_checks_passed(runtime)
    r = as_role("operator").post("/api/v1/reactivations", {"note": "maintenance done"})
    assert r.status_code == 201
    request = r.get_json()
    assert r.headers["Location"] == f"/api/v1/reactivations/{request['id']}"
    assert request["status"] == "pending" and request["requested_by"] == "token:operator"
    assert as_role("operator").post("/api/v1/reactivations").status_code == 409  # one pending at a time
    listed = as_role("viewer").get("/api/v1/reactivations?status=pending").get_json()["items"]
    assert [x["id"] for x in listed] == [request["id"]]
    r = as_role("admin").post(f"/api/v1/reactivations/{request['id']}/approve")
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    assert api.get("/api/v1/connector").get_json()["state"] == "active"  # R7


def test_an_admin_cannot_approve_their_own_request(api, connector, runtime, as_role):
    mark_checks_passed(runtime)
    request = as_role("admin").post("/api/v1/reactivations").get_json()
    r = as_role("admin").post(f"/api/v1/reactivations/{request['id']}/approve")
    assert r.status_code == 409 and "R31" in r.get_json()["error"]["message"]
    r = as_role("admin2").post(f"/api/v1/reactivations/{request['id']}/deny", {"reason": "not tonight"})
    assert r.status_code == 200
    assert r.get_json()["status"] == "denied" and r.get_json()["reason"] == "not tonight"
    assert api.get(f"/api/v1/reactivations/{request['id']}").get_json()["decided_by"] == "token:admin2"


def test_approval_is_refused_while_the_checklist_fails(api, connector, as_role):
    request = as_role("operator").post("/api/v1/reactivations").get_json()
    r = as_role("admin").post(f"/api/v1/reactivations/{request['id']}/approve")
    assert r.status_code == 409 and "checklist fails" in r.get_json()["error"]["message"]


def test_pause_an_active_connector(api, connector, runtime, service, operator, admin2):
    mark_checks_passed(runtime)
    service.approve_reactivation(admin2, service.request_reactivation(operator)["id"])
    r = api.post("/api/v1/connector/pause", {"reason": "Salesforce release weekend"})
    assert r.status_code == 200
    assert r.get_json()["paused"] == {"since": r.get_json()["paused"]["since"], "by": "token:admin",
                                      "reason": "Salesforce release weekend"}


def test_settings_roundtrip(api, connector):
    r = api.patch("/api/v1/settings", {"ampsea": True, "role_overrides": {"Ops@Example.com": "operator"},
                                       "pardot_api_share": 0.5})
    assert r.status_code == 200
    settings = api.get("/api/v1/settings").get_json()
    assert settings["ampsea"] is True and settings["ampsea_reviewed"] is True
    assert settings["role_overrides"] == {"ops@example.com": "operator"}
    assert settings["pardot_api_share"] == 0.5
    assert api.patch("/api/v1/settings", {}).status_code == 400


def test_field_mappings_roundtrip(api, connector, runtime):
    mark_checks_passed(runtime)
    mappings = api.get("/api/v1/field-mappings").get_json()["mappings"]
    assert {m["pardot_field"] for m in mappings} >= {"email", "firstName", "score"}  # R16
    changed = [m | {"behaviour": "salesforce"} if m["pardot_field"] == "phone" else m for m in mappings]
    r = api.put("/api/v1/field-mappings", {"mappings": changed})
    assert r.status_code == 200
    assert next(m for m in r.get_json()["mappings"] if m["pardot_field"] == "phone")["behaviour"] == "salesforce"
    bad = changed + []
    bad[0] = bad[0] | {"lead_field": "NoSuchField__c"}
    r = api.put("/api/v1/field-mappings", {"mappings": bad})
    assert r.status_code == 400 and "email.Lead" in r.get_json()["error"]["details"]


def test_mds_rules_while_paused(api, connector, runtime):
    mark_checks_passed(runtime)
    rules = [{"object": "Lead", "field": "Region__c", "value": "EMEA"},
             {"object": "Contact", "field": "Region__c", "operator": "equals", "value": "EMEA"}]
    r = api.put("/api/v1/mds-rules", {"enabled": True, "rules": rules})
    assert r.status_code == 200
    assert api.get("/api/v1/mds-rules").get_json() == {
        "enabled": True, "rules": [{"object": "Contact", "field": "Region__c", "operator": "equals", "value": "EMEA"},
                                   {"object": "Lead", "field": "Region__c", "operator": "equals", "value": "EMEA"}]}
    r = api.put("/api/v1/mds-rules", {"enabled": True, "rules": rules[:1]})
    assert r.status_code == 400 and "Contact" in r.get_json()["error"]["details"]["rules"]  # R22
    r = api.put("/api/v1/mds-rules", {"enabled": True, "rules": [rules[0] | {"field": "Email"}, rules[1]]})
    assert r.status_code == 400 and "mapped field" in r.get_json()["error"]["details"]["rules[0].field"]


def test_audit_log_pages_with_a_cursor(api, connector):
    for i in range(5):
        api.patch("/api/v1/settings", {"notify_fold_seconds": 60 + i})
    first = api.get("/api/v1/audit-log?limit=3").get_json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = api.get(f"/api/v1/audit-log?limit=3&cursor={first['next_cursor']}").get_json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    newest = first["items"][0]
    assert newest["action"] == "update_settings" and newest["actor"] == "token:admin" and newest["channel"] == "api"
    everything = api.get("/api/v1/audit-log?limit=200").get_json()
    assert everything["next_cursor"] is None
    assert {"create_token", "create_connector", "update_settings"} <= {e["action"] for e in everything["items"]}

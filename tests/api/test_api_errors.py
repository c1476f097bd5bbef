"""One error envelope with the right status for every kind of bad request; never a 500."""
from __future__ import annotations

import pytest

from api.ratelimit import RateLimiter


def test_malformed_json_is_400(api, connector):
    r = api.post("/api/v1/connector/pause", data='{"reason": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["code"] == "malformed_json" and error["details"] == {"body": "is not valid JSON"}


@pytest.mark.parametrize("raw", ["[" * 100000, '{"reason": NaN}'])
def test_pathological_json_is_400(api, connector, raw):
    r = api.post("/api/v1/connector/pause", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "malformed_json"


def test_invalid_fields_are_400_naming_each_field(api, connector):
    r = api.patch("/api/v1/settings", {"auto_create_prospects": "yes", "pardot_api_share": 7,
                                       "colour": "blue"})
    assert r.status_code == 400
    details = r.get_json()["error"]["details"]
    assert set(details) == {"auto_create_prospects", "pardot_api_share", "colour"}
    assert details["colour"] == "is not a known field"
    assert "boolean" in details["auto_create_prospects"]


def test_nested_fields_are_named_by_path(api, connector):
    r = api.put("/api/v1/field-mappings", {"mappings": [{"pardot_field": "email", "behaviour": "loudest"}, {}]})
    assert r.status_code == 400
    assert set(r.get_json()["error"]["details"]) == {"mappings[0].behaviour", "mappings[1].pardot_field"}


def test_a_required_body_is_required(api, connector):
    r = api.post("/api/v1/syncs/salesforce")
    assert r.status_code == 400 and r.get_json()["error"]["details"] == {"body": "is required: a JSON object"}
    r = api.post("/api/v1/syncs/salesforce", {})
    assert r.get_json()["error"]["details"] == {"object": "is required", "id": "is required"}


def test_service_validation_is_400_with_its_details(api, connector):
    # The shape is right; the service decides that the id does not belong to a Lead.
    r = api.post("/api/v1/syncs/salesforce", {"object": "Lead", "id": "003000000000001AAA"})
    assert r.status_code == 400
    assert r.get_json()["error"]["details"] == {"id": "003000000000001AAA is not a Lead id (those start with 00Q)"}


def test_query_parameters_are_checked(api, connector):
    r = api.get("/api/v1/sync-errors?limit=0&category=weather&cursor=abc")
    assert r.status_code == 400
    assert set(r.get_json()["error"]["details"]) == {"limit", "category", "cursor"}
    r = api.get("/api/v1/sync-errors?limit=5&limit=6")
    assert r.get_json()["error"]["details"] == {"limit": "is given more than once"}


def test_unknown_path_is_404_in_the_envelope(api):
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_no_connector_yet_is_404(api):
    r = api.get("/api/v1/connector")
    assert r.status_code == 404 and "an admin creates it first" in r.get_json()["error"]["message"]


def test_unknown_records_are_404(api, connector):
    for path in ("/api/v1/sync-errors/999", "/api/v1/reactivations/999", "/api/v1/jobs/sync-prospect-00"):
        r = api.get(path)
        assert r.status_code == 404, path


def test_wrong_method_is_405_with_allow(api, connector):
    r = api.request("DELETE", "/api/v1/connector", check=False)
    assert r.status_code == 405
    assert r.get_json()["error"]["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_oversized_body_is_413(api, connector):
    r = api.post("/api/v1/connector/pause", {"reason": "x" * (2 * 1024 * 1024)})
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "request_entity_too_large"


def test_non_json_body_is_415(api, connector):
    r = api.post("/api/v1/connector/pause", data="reason=maintenance",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert r.get_json()["error"]["details"] == {"Content-Type": "must be application/json"}


@pytest.mark.parametrize("path, body, message", [
    ("/api/v1/connector", {"version": 2}, "one connector per business unit"),
    ("/api/v1/connector/pause", {}, "already paused"),
])
def test_state_conflicts_are_409(api, connector, path, body, message):
    r = api.post(path, body)
    assert r.status_code == 409 and message in r.get_json()["error"]["message"]


def test_resuming_an_active_connector_is_409(api, connector, runtime, service, admin, operator, admin2):
    from tests.api.conftest import mark_checks_passed
    mark_checks_passed(runtime)
    request = service.request_reactivation(operator)
    service.approve_reactivation(admin2, request["id"])
    r = api.post("/api/v1/reactivations", {"note": "again"})
    assert r.status_code == 409 and "not paused" in r.get_json()["error"]["message"]


def test_editing_mds_while_active_is_409(api, connector, runtime, service, operator, admin2):
    from tests.api.conftest import mark_checks_passed
    mark_checks_passed(runtime)
    service.approve_reactivation(admin2, service.request_reactivation(operator)["id"])
    r = api.put("/api/v1/mds-rules", {"enabled": True, "rules": [
        {"object": "Lead", "field": "Region__c", "value": "EMEA"},
        {"object": "Contact", "field": "Region__c", "value": "EMEA"}]})
    assert r.status_code == 409 and "R23" in r.get_json()["error"]["message"]


def test_rate_limit_is_429_with_retry_after(app, api, tokens, connector, runtime):
    app.extensions["connector_api"]["ratelimit"] = RateLimiter(runtime.redis, 3, prefix="ratelimit-test")
    statuses = [api.get("/api/v1/connector/version") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[0].headers["X-RateLimit-Remaining"] == "2"
    limited = statuses[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.get_json()["error"]["code"] == "rate_limited"
    # The budget is per token: another token still gets through.
    assert api.as_(tokens["viewer"]).get("/api/v1/whoami").status_code == 200


def test_unexpected_errors_are_500_without_internals(app, api, connector, runtime, monkeypatch):
    def boom(self, principal):
        raise RuntimeError("secret internal detail: password=hunter2")

    monkeypatch.setattr(type(runtime.service()), "version", boom)
    r = api.get("/api/v1/connector/version", check=False)
    assert r.status_code == 500
    error = r.get_json()["error"]
    assert error["code"] == "internal_error" and "hunter2" not in r.get_data(as_text=True)
    assert "incident" in error["message"]


def test_a_cursor_beyond_any_id_is_400(api, connector):
    r = api.get("/api/v1/sync-errors?cursor=9999999999")
    assert r.status_code == 400 and r.get_json()["error"]["details"] == {"cursor": "is not a cursor this API returned"}


def test_connector_events_never_log_an_email_at_info(connector, runtime, service, operator, caplog):
    """Issue 9 item 12: the log notifier (no Slack) names events, not the people in them."""
    import logging

    from sync.notify import log_notifier

    runtime.notifier = log_notifier
    with caplog.at_level(logging.INFO):
        service.request_reactivation(operator, note="quarter close is over")
    infos = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name == "connector.events"]
    assert any(m.startswith("reactivation_requested ") for m in infos), infos
    assert not [m for m in infos if operator.who in m], infos

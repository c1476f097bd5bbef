"""Bearer tokens, roles on every endpoint (R32) and audited refusals (R34)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from sync.models import AuditEntry, SyncError, utcnow

ROLES = ("viewer", "operator", "admin")


def _audit(runtime, **match) -> list[AuditEntry]:
    with runtime.store.session() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    return [e for e in rows if all(getattr(e, k) == v for k, v in match.items())]


@pytest.fixture
def world(api, connector, runtime, service, operator):
    """A connector, a pending reactivation request by an operator and one open sync error."""
    request = service.request_reactivation(operator, "after the audit")
    with runtime.store.session() as s:
        e = SyncError(connector_id=service.connector_id(), direction="pardot_to_salesforce", sobject="Prospect",
                      record_key="p:1", prospect_id=1, category="validation", code="REQUIRED_FIELD_MISSING",
                      message="Company is required", first_seen=utcnow(), last_seen=utcnow())
        s.add(e)
        s.flush()
        error_id = e.id
    return {"request_id": request["id"], "error_id": error_id}


# (method, path, body, the least role that may call it)
def _endpoints(w):
    return [
        ("GET", "/api/v1/whoami", None, "viewer"),
        ("GET", "/api/v1/connector", None, "viewer"),
        ("GET", "/api/v1/connector/version", None, "viewer"),
        ("GET", "/api/v1/connector/checklist", None, "viewer"),
        ("POST", "/api/v1/connector", {"version": 2}, "admin"),
        ("POST", "/api/v1/connector/pause", {"reason": "maintenance"}, "admin"),
        ("GET", "/api/v1/reactivations", None, "viewer"),
        ("GET", f"/api/v1/reactivations/{w['request_id']}", None, "viewer"),
        ("POST", "/api/v1/reactivations", {"note": "please"}, "operator"),
        ("POST", f"/api/v1/reactivations/{w['request_id']}/approve", None, "admin"),
        ("POST", f"/api/v1/reactivations/{w['request_id']}/deny", {"reason": "not yet"}, "admin"),
        ("POST", "/api/v1/syncs/prospect", {"prospect_id": 42}, "operator"),
        ("POST", "/api/v1/syncs/salesforce", {"object": "Lead", "id": "00Q000000000001AAA"}, "operator"),
        ("GET", "/api/v1/sync-errors", None, "viewer"),
        ("GET", f"/api/v1/sync-errors/{w['error_id']}", None, "viewer"),
        ("POST", f"/api/v1/sync-errors/{w['error_id']}/retry", None, "operator"),
        ("POST", "/api/v1/sync-errors/retry", {"category": "validation"}, "operator"),
        ("POST", f"/api/v1/sync-errors/{w['error_id']}/dismiss", None, "operator"),
        ("GET", "/api/v1/field-mappings", None, "viewer"),
        ("PUT", "/api/v1/field-mappings", {"mappings": [{"pardot_field": "email", "lead_field": "Email",
                                                         "contact_field": "Email"}]}, "admin"),
        ("GET", "/api/v1/mds-rules", None, "viewer"),
        ("PUT", "/api/v1/mds-rules", {"enabled": False, "rules": []}, "admin"),
        ("GET", "/api/v1/settings", None, "operator"),
        ("PATCH", "/api/v1/settings", {"auto_create_prospects": False}, "admin"),
        ("GET", "/api/v1/audit-log", None, "admin"),
    ]


def test_every_endpoint_refuses_smaller_roles_and_audits_it(world, as_role, runtime):
    for method, path, body, least in _endpoints(world):
        for role in ROLES[:ROLES.index(least)]:
            r = as_role(role).request(method, path, body)
            assert r.status_code == 403, (method, path, role, r.get_json())
            error = r.get_json()["error"]
            assert error["code"] == "forbidden" and error["details"] == {"needed_role": least}
            assert least in error["message"], error
    refused = _audit(runtime, outcome="refused", channel="api")
    assert {e.actor for e in refused} == {"token:viewer", "token:operator"}
    assert all(e.detail.get("needed_role") in ("operator", "admin") for e in refused)


def test_every_endpoint_admits_its_least_role(world, as_role):
    # Each endpoint once, with the smallest role allowed: never 401 or 403 (the outcome may be a
    # conflict, e.g. creating a second connector, which is the service's business).
    for method, path, body, least in _endpoints(world):
        r = as_role(least).request(method, path, body)
        assert r.status_code not in (401, 403), (method, path, least, r.get_json())


def test_admin_may_do_what_a_viewer_may(world, as_role):
    r = as_role("admin").get("/api/v1/connector/version")
    assert r.status_code == 200 and r.get_json()["connector_version"] == 2


@pytest.mark.parametrize("header, reason", [
    (None, "missing bearer token"),
    ("Bearer pct_not-a-real-token", "unknown or revoked token"),
    ("Basic YWRtaW46YWRtaW4=", "the Authorization header must be 'Bearer <token>'"),
    ("Bearer ", "the Authorization header must be 'Bearer <token>'"),
])
def test_no_or_unknown_token_is_401_and_audited(api, runtime, header, reason):
    headers = {"Authorization": header} if header is not None else {}
    r = api.as_(None).get("/api/v1/connector", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.get_json()["error"] == {"code": "unauthenticated", "message": reason}
    refused = _audit(runtime, outcome="refused", action="api GET /api/v1/connector")
    assert len(refused) == 1 and refused[0].detail == {"reason": reason}
    assert refused[0].actor.startswith("anonymous@") and refused[0].role is None  # no role is credited
    assert "pct_" not in str(refused[0].detail)  # the presented token never reaches the log


def test_a_revoked_token_stops_working(api, tokens, service, admin):
    assert api.as_(tokens["viewer"]).get("/api/v1/whoami").status_code == 200
    service.revoke_token(admin, "viewer")
    r = api.as_(tokens["viewer"]).get("/api/v1/whoami")
    assert r.status_code == 401 and r.get_json()["error"]["message"] == "unknown or revoked token"


def test_whoami_names_the_token_and_role(as_role):
    r = as_role("operator").get("/api/v1/whoami")
    assert r.get_json() == {"who": "token:operator", "role": "operator", "source": "API token role",
                            "channel": "api"}


def test_the_openapi_document_needs_no_token(api):
    r = api.as_(None).get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.get_json()["openapi"].startswith("3.1")

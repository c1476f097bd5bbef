"""R25–R29 and the fault drills: bad records, retries, re-auth, limits, a killed cycle."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sync.models import PendingChange, RecordLink, utcnow
from sync.remote import categorize_pardot, categorize_salesforce


@pytest.fixture
def active(world):
    world.create()
    world.activate()
    return world


def _leads(n, prefix="lead", **extra):
    return [{"LastName": f"{prefix}{i}", "Company": "Batch", "Email": f"{prefix}{i}@example.com", **extra}
            for i in range(n)]


def test_R25_one_invalid_record_in_a_batch_of_200_does_not_block_the_rest(active, world):
    user = world.pardot_user("sales@sandbox.example")
    prospects = [{"email": f"p{i}@example.com", "lastName": f"P{i}", "assignedToId": user["id"]} for i in range(200)]
    world.add_prospects(*prospects)
    world.control.patch("salesforce/settings", {"validation_rules": [
        {"object": "Lead", "field": "LastName", "op": "equals", "value": "P77", "message": "P77 is not welcome"}]})
    world.cycle()
    leads = [l for l in world.sf("Lead") if l["Email"].startswith("p")]
    assert len(leads) == 199
    errors = world.errors(status="open")
    assert len(errors) == 1
    e = errors[0]
    assert (e.category, e.code, e.direction, e.email) == (
        "validation", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "pardot_to_salesforce", "p77@example.com")
    assert "P77 is not welcome" in e.message and e.attempts == 1 and e.next_retry_at is None
    # R27: waits for the record to change, then resolves itself.
    world.control.patch("salesforce/settings", {"validation_rules": []})
    world.pardot("PATCH", f"objects/prospects/{e.prospect_id}", json={"lastName": "P77b"})
    world.cycle()
    assert world.errors(id=e.id)[0].status == "resolved"
    assert len(world.sf("Lead", Email="p77@example.com")) == 1


def test_R26_error_categories():
    assert categorize_salesforce("REQUIRED_FIELD_MISSING", 400) == "validation"
    assert categorize_salesforce("INVALID_EMAIL_ADDRESS", 400) == "validation"
    assert categorize_salesforce("DUPLICATES_DETECTED", 400) == "duplicate"
    assert categorize_salesforce("INSUFFICIENT_ACCESS_OR_READONLY", 400) == "permission"
    assert categorize_salesforce("ENTITY_IS_DELETED", 404) == "deleted"
    assert categorize_salesforce("UNABLE_TO_LOCK_ROW", 400) == "transient"
    assert categorize_salesforce("SERVER_UNAVAILABLE", 503) == "transient"
    assert categorize_salesforce("REQUEST_LIMIT_EXCEEDED", 403) == "limit"
    assert categorize_salesforce("INVALID_SESSION_ID", 401) == "auth"
    assert categorize_pardot(184, 401) == "auth"
    assert categorize_pardot(122, 429) == "limit"
    assert categorize_pardot(219, 400) == "deleted"


def test_R26_a_duplicate_rule_lands_as_duplicate(active, world):
    world.control.patch("salesforce/settings", {"duplicate_rules": [{"object": "Lead", "fields": ["LastName"]}]})
    world.add_sf("Lead", {"LastName": "Twin", "Company": "C", "Email": "twin1@example.com"})
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects({"email": "twin2@example.com", "lastName": "Twin", "assignedToId": user["id"]})
    world.cycle()
    errors = world.errors(category="duplicate")
    assert len(errors) == 1 and errors[0].code == "DUPLICATES_DETECTED"


def test_R27_row_lock_twice_is_retried_with_backoff_and_resolves(active, world, runtime):
    lead = world.add_sf("Lead", {"LastName": "Locked", "Company": "C", "Email": "locked@example.com"})[0]
    world.cycle()
    p = world.prospects(email="locked@example.com")[0]
    world.control.post("faults", {"api": "salesforce", "error_code": "UNABLE_TO_LOCK_ROW", "count": 2,
                                  "record_match": {"Id": lead["Id"]}})
    world.pardot("PATCH", f"objects/prospects/{p['id']}", json={"jobTitle": "Locked out"})
    world.cycle()
    [e] = world.errors()
    assert (e.category, e.status, e.attempts) == ("transient", "retrying", 1)
    assert e.next_retry_at > utcnow() + timedelta(seconds=30)
    engine = runtime.engine()
    assert engine.retry_due(world.cid)["retried"] == 0  # backoff not passed yet
    engine.retry_due(world.cid, now=e.next_retry_at + timedelta(seconds=1))
    [e2] = world.errors()
    assert (e2.status, e2.attempts) == ("retrying", 2) and e2.next_retry_at - e2.last_seen > e.next_retry_at - e.last_seen
    engine.retry_due(world.cid, now=e2.next_retry_at + timedelta(seconds=1))
    assert world.errors()[0].status == "resolved"
    assert world.sf("Lead", Id=lead["Id"])[0]["Title"] == "Locked out"


def test_R27_manual_retry_of_a_category_through_the_service(active, world, service, operator, run_worker):
    world.control.patch("salesforce/settings", {"validation_rules": [
        {"object": "Lead", "field": "LastName", "op": "equals", "value": "Bad", "message": "no Bad"}]})
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects({"email": "bad@example.com", "lastName": "Bad", "assignedToId": user["id"]})
    world.cycle()
    [e] = world.errors()
    world.control.patch("salesforce/settings", {"validation_rules": []})
    job = service.retry_errors(operator, category="validation")
    run_worker()
    assert service.get_job(operator, job["id"])["outcome"]["resolved"] == 1
    assert world.errors(id=e.id)[0].status == "resolved"


def test_expired_session_reauthenticates_without_error(active, world):
    world.control.patch("salesforce/settings", {"token_lifetime_s": 1})
    import time
    world.add_sf("Lead", {"LastName": "Re", "Company": "C", "Email": "reauth@example.com"})
    time.sleep(1.5)
    result = world.cycle()
    assert result["outcome"] == "ok", result
    assert len(world.prospects(email="reauth@example.com")) == 1
    assert world.errors() == []


def test_R28_spent_pardot_daily_limit_throttles_then_recovers(active, world, runtime):
    world.add_sf("Lead", {"LastName": "T", "Company": "C", "Email": "throttle@example.com"})
    settings = world.control.get("pardot/settings")
    world.control.patch("pardot/settings", {"apiCallsUsed": settings["maximumDailyApiCalls"]})
    result = world.cycle()
    assert result["outcome"] == "partial"
    assert world.connector().state == "throttled" and "pardot" in world.connector().state_reason
    assert ("connector_state", "throttled") in [(e, p.get("state")) for e, p in runtime.events]
    assert world.errors() == []  # R29: a spent budget waits, it does not fail records
    world.control.patch("pardot/settings", {"apiCallsUsed": 0})
    world.cycle()
    assert world.connector().state == "active"
    assert len(world.prospects(email="throttle@example.com")) == 1


def test_R28_refused_credentials_set_error_and_recover(active, world, runtime, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    engine = runtime.engine()
    sf, _ = engine.clients()
    good = runtime.config
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    import dataclasses
    sf.config = dataclasses.replace(good, salesforce_private_key_file=wrong)
    sf._private_key = None
    sf._token = None
    world.cycle()
    c = world.connector()
    assert c.state == "error" and "credentials" in c.state_reason
    assert c.checks["salesforce"]["ok"] is False
    sf.config, sf._private_key, sf._token = good, None, None
    world.cycle()
    assert world.connector().state == "active"


def test_R29_salesforce_share_spent_waits_without_failing_records(active, world, runtime, service, admin):
    world.control.patch("salesforce/settings", {"daily_api_max": 1000, "api_used": 0})
    world.cycle()  # learns the allocation from Sforce-Limit-Info
    service.update_settings(admin, {"salesforce_api_share": 0.001})  # one call a day for the connector
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects({"email": "budget@example.com", "lastName": "B", "assignedToId": user["id"]})
    result = world.cycle()
    assert result["outcome"] == "partial" and "share (0.1%)" in result["error"] and "spent" in result["error"]
    assert world.connector().state == "throttled"
    assert world.errors() == []  # nothing failed: the prospect waits
    assert world.sf("Lead", Email="budget@example.com") == []
    service.update_settings(admin, {"salesforce_api_share": 0.5})
    world.cycle()
    assert world.connector().state == "active"
    assert len(world.sf("Lead", Email="budget@example.com")) == 1


def test_a_cycle_killed_half_way_reaches_the_same_end_state_without_duplicates(active, world, runtime):
    user = world.pardot_user("sales@sandbox.example")
    world.add_sf("Lead", *_leads(300, "kill"))
    world.add_prospects(*[{"email": f"pk{i}@example.com", "lastName": f"PK{i}", "assignedToId": user["id"]}
                          for i in range(300)])
    # The "kill": the worker dies while the first bulk import runs, after Salesforce got its
    # new leads and Pardot its import, before anything was read back.
    engine = runtime.engine()
    _, pardot = engine.clients()
    real = pardot.create_import

    def dying(csv_text):
        real(csv_text)
        raise SystemExit("killed")

    pardot.create_import = dying
    with pytest.raises(SystemExit):
        world.cycle()
    pardot.create_import = real
    runtime.redis.delete(f"cycle-lock:{world.cid}")  # a killed worker's lock lapses with its TTL
    world.cycle()
    world.cycle()
    emails = [p["email"].lower() for p in world.prospects() if p["email"].startswith(("kill", "pk"))
              and not p["isDeleted"]]
    assert len(emails) == len(set(emails)) == 600
    lead_emails = [l["Email"].lower() for l in world.sf("Lead") if l["Email"] and l["Email"].startswith(("kill", "pk"))]
    assert len(lead_emails) == len(set(lead_emails)) == 600
    with runtime.store.session() as s:
        assert s.scalar(select(func.count()).select_from(RecordLink)) == 600
        assert s.scalar(select(func.count()).select_from(PendingChange)) == 0
    # Every prospect is linked in the store (R10), including those whose cycle was cut off.
    assert all(world.crm_of(p["id"]) for p in world.prospects())

"""Manual syncs and retries answer 202 + a job URL (R6, R27); the error queue pages (R25);
Idempotency-Key replays the first answer."""
from __future__ import annotations

from datetime import timedelta

import pytest

from sync.models import SyncError, utcnow


@pytest.fixture
def errors(connector, runtime, service):
    """Seven errors written straight to the store (what the engine records), oldest first."""
    cid, now = service.connector_id(), utcnow()
    kinds = [("validation", "Lead", "open"), ("duplicate", "Contact", "open"), ("validation", "Prospect", "open"),
             ("transient", "Lead", "retrying"), ("validation", "Lead", "resolved"),
             ("permission", "Account", "dismissed"), ("validation", "Contact", "open")]
    ids = []
    with runtime.store.session() as s:
        for i, (category, sobject, status) in enumerate(kinds):
            e = SyncError(connector_id=cid, direction="salesforce_to_pardot", sobject=sobject, record_key=f"r{i}",
                          crm_id=f"00Q00000000000{i}AAA", category=category, code="X", message=f"problem {i}",
                          first_seen=now - timedelta(days=7 - i), last_seen=now - timedelta(days=7 - i),
                          status=status)
            s.add(e)
            s.flush()
            ids.append(e.id)
    return ids


def test_sync_prospect_is_202_with_a_job_url(api, connector, as_role):
    r = as_role("operator").post("/api/v1/syncs/prospect", {"email": "Ada@Example.com"})
    assert r.status_code == 202
    body = r.get_json()
    assert body["url"] == f"/api/v1/jobs/{body['job_id']}" == r.headers["Location"]
    job = as_role("viewer").get(body["url"]).get_json()
    assert job["state"] == "queued" and job["kind"] == "sync_prospect"
    assert job["params"]["email"] == "ada@example.com" and job["requested_by"] == "token:operator"


def test_sync_prospect_takes_exactly_one_key(api, connector):
    r = api.post("/api/v1/syncs/prospect", {"prospect_id": 1, "email": "a@b.c"})
    assert r.status_code == 400
    assert api.post("/api/v1/syncs/prospect", {"prospect_id": 0}).status_code == 400
    assert api.post("/api/v1/syncs/prospect", {"prospect_id": "12"}).status_code == 400


def test_send_to_pardot_is_202(api, connector):
    r = api.post("/api/v1/syncs/salesforce", {"object": "Contact", "id": "003000000000001AAA"})
    assert r.status_code == 202
    job = api.get(r.get_json()["url"]).get_json()
    assert job["kind"] == "send_to_pardot" and job["params"]["crm_id"] == "003000000000001AAA"


def test_the_same_sync_twice_shares_one_pending_job(api, connector):
    body = {"object": "Lead", "id": "00Q000000000001AAA"}
    first, second = api.post("/api/v1/syncs/salesforce", body), api.post("/api/v1/syncs/salesforce", body)
    assert first.get_json()["job_id"] == second.get_json()["job_id"]


def test_list_filters(api, errors):
    default = api.get("/api/v1/sync-errors").get_json()
    assert [e["id"] for e in default["items"]] == [errors[6], errors[2], errors[1], errors[0]]  # open, newest first
    validation = api.get("/api/v1/sync-errors?status=all&category=validation").get_json()["items"]
    assert {e["id"] for e in validation} == {errors[0], errors[2], errors[4], errors[6]}
    leads = api.get("/api/v1/sync-errors?status=all&object=Lead").get_json()["items"]
    assert {e["id"] for e in leads} == {errors[0], errors[3], errors[4]}
    since = (utcnow() - timedelta(days=3, hours=12)).isoformat().replace("+00:00", "Z")
    recent = api.get("/api/v1/sync-errors", query_string={"status": "all", "since": since}).get_json()["items"]
    assert {e["id"] for e in recent} == {errors[4], errors[5], errors[6]}
    assert api.get("/api/v1/sync-errors?since=yesterday").status_code == 400


def test_list_pages_with_a_cursor(api, errors):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"status": "all", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = api.get("/api/v1/sync-errors", query_string=query).get_json()
        seen += [e["id"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and seen == sorted(errors, reverse=True)


def test_get_retry_dismiss_one(api, errors, as_role):
    error = as_role("viewer").get(f"/api/v1/sync-errors/{errors[0]}").get_json()
    assert error["message"] == "problem 0" and error["status"] == "open"
    r = as_role("operator").post(f"/api/v1/sync-errors/{errors[0]}/retry")
    assert r.status_code == 202 and r.get_json()["job"]["kind"] == "retry_errors"
    assert r.get_json()["job"]["params"] == {"error_id": errors[0], "connector_id": r.get_json()["job"]["params"]["connector_id"]}
    r = as_role("operator").post(f"/api/v1/sync-errors/{errors[1]}/dismiss")
    assert r.status_code == 200 and r.get_json()["status"] == "dismissed"
    assert as_role("operator").post(f"/api/v1/sync-errors/{errors[1]}/dismiss").status_code == 409
    assert as_role("operator").post(f"/api/v1/sync-errors/{errors[4]}/retry").status_code == 409  # resolved


def test_retry_a_category(api, errors):
    r = api.post("/api/v1/sync-errors/retry", {"category": "validation"})
    assert r.status_code == 202 and r.get_json()["job"]["params"]["category"] == "validation"
    r = api.post("/api/v1/sync-errors/retry", {"category": "auth"})
    assert r.status_code == 409 and "no open auth errors" in r.get_json()["error"]["message"]
    assert api.post("/api/v1/sync-errors/retry", {"category": "weather"}).status_code == 400


# ---------------------------------------------------------------------- Idempotency-Key
def test_a_repeated_key_returns_the_first_response_without_running_again(api, connector, runtime):
    from sqlalchemy import func, select

    from sync.models import AuditEntry

    def started() -> int:
        with runtime.store.session() as s:
            return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "sync_prospect"))

    headers = {"Idempotency-Key": "sync-ada-1"}
    first = api.post("/api/v1/syncs/prospect", {"prospect_id": 7}, headers=headers)
    second = api.post("/api/v1/syncs/prospect", {"prospect_id": 7}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.get_data() == first.get_data() and second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert started() == 1  # the service ran once


def test_idempotency_replays_and_refuses_a_different_body(api, connector):
    headers = {"Idempotency-Key": "pause-2026-11-29"}
    first = api.post("/api/v1/reactivations", {"note": "go"}, headers=headers)
    second = api.post("/api/v1/reactivations", {"note": "go"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json() and second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    # Without the key the second request runs and meets the pending request: a conflict.
    assert api.post("/api/v1/reactivations", {"note": "go"}).status_code == 409
    other = api.post("/api/v1/reactivations", {"note": "different"}, headers=headers)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_idempotency_keys_are_per_token(api, connector, as_role):
    headers = {"Idempotency-Key": "same-key"}
    mine = as_role("operator").post("/api/v1/syncs/prospect", {"prospect_id": 8}, headers=headers)
    theirs = as_role("admin").post("/api/v1/syncs/prospect", {"prospect_id": 9}, headers=headers)
    assert mine.status_code == theirs.status_code == 202
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_key_being_processed_is_409(api, connector):
    idem = api.app.extensions["connector_api"]["idempotency"]
    with api.app.test_request_context("/api/v1/syncs/prospect", method="POST", json={"prospect_id": 5}):
        idem.begin("token:admin", "in-flight")  # reserved, no response stored yet
    r = api.post("/api/v1/syncs/prospect", {"prospect_id": 5}, headers={"Idempotency-Key": "in-flight"})
    assert r.status_code == 409 and r.headers["Retry-After"] == "1"


def test_a_bad_key_is_400(api, connector):
    r = api.post("/api/v1/syncs/prospect", {"prospect_id": 5}, headers={"Idempotency-Key": "has space"})
    assert r.status_code == 400 and "Idempotency-Key" in r.get_json()["error"]["details"]


def test_a_crashed_job_shows_a_reason_and_an_incident_id_never_the_exception(api, connector, runtime, run_worker,
                                                                              caplog):
    """Issue 9 item 12: when a job crashes, the worker stores and the API and the chat show a
    category, a readable reason and an incident id, never the exception text; the log has the
    raw text under that id. (The crash here: a job whose params lost their connector,
    a stand-in for any unexpected exception inside a job.)"""
    import logging

    from bot.dispatch import Dispatcher
    from sync.models import Job
    from sync.roles import Principal

    job_id = api.post("/api/v1/syncs/prospect", {"prospect_id": 77}).get_json()["job_id"]
    with runtime.store.session() as s:
        job = s.get(Job, job_id)
        job.params = {"prospect_id": 77}  # run_job will raise KeyError('connector_id')
    with caplog.at_level(logging.WARNING):
        run_worker()
        shown = api.get(f"/api/v1/jobs/{job_id}").get_json()
    with runtime.store.session() as s:
        stored = s.get(Job, job_id).outcome["message"]
    assert "KeyError" not in stored and "connector_id" not in stored  # not even in the store (sync/tasks.py)
    assert shown["state"] == "failed"
    message = shown["outcome"]["message"]
    assert "KeyError" not in message and "connector_id" not in message
    assert "unexpected error" in message and f"incident {shown['outcome']['incident']}" in message
    assert any(shown["outcome"]["incident"] in r.getMessage() and "KeyError" in r.getMessage()
               for r in caplog.records)
    chat = Dispatcher(runtime.service()).run(Principal("sales@sandbox.example", "viewer", "slack"), f"job {job_id}")
    assert "KeyError" not in chat.text and shown["outcome"]["incident"] in chat.text


def test_a_crashed_cycle_shows_a_reason_and_an_incident_id_in_the_status(api, connector, runtime):
    """Issue 9 item 12: Engine._cycle stores `f"{type(exc).__name__}: {exc}"` (SQL, keys, emails)."""
    from sync.models import CycleRun

    raw = ('IntegrityError: (psycopg.errors.UniqueViolation) duplicate key value violates unique constraint '
           '"uq_record_link" DETAIL: Key (connector_id, prospect_id)=(1, 42) ada@example.com')
    with runtime.store.session() as s:
        s.add(CycleRun(connector_id=runtime.service().connector_id(), started_at=utcnow(),
                       finished_at=utcnow(), outcome="failed", error=raw, counts={}, api_calls={}))
    runtime.service()._changed()  # drop the one-second status cache
    error = api.get("/api/v1/connector").get_json()["last_cycle"]["error"]
    assert "IntegrityError" not in error and "ada@example.com" not in error and "uq_record_link" not in error
    assert "incident " in error
    readable = "salesforce: UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record"
    with runtime.store.session() as s:
        s.add(CycleRun(connector_id=runtime.service().connector_id(), started_at=utcnow(),
                       finished_at=utcnow(), outcome="failed", error=readable, counts={}, api_calls={}))
    runtime.service()._changed()
    assert api.get("/api/v1/connector").get_json()["last_cycle"]["error"] == readable  # kept as it is

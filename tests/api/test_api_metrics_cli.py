"""/metrics read from the store and Redis at scrape time; the break-glass CLI."""
from __future__ import annotations

import json
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from api.cli import cli_principal
from sync.models import CycleRun, SyncError, utcnow


def _samples(app) -> dict:
    r = app.test_client().get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _cycle(runtime, cid, finished=True, outcome="ok", created=0, updated=0, sf_calls=0, pardot_calls=0):
    with runtime.store.session() as s:
        run = CycleRun(connector_id=cid, started_at=utcnow() - timedelta(seconds=5),
                       finished_at=utcnow() if finished else None, outcome=outcome if finished else "running",
                       counts={"salesforce_to_pardot": {"created": created, "updated": updated},
                               "pardot_to_salesforce": {"updated": updated}, "read": {"salesforce": 9}},
                       api_calls={"salesforce": sf_calls, "pardot": pardot_calls})
        s.add(run)
        s.flush()
        return run.id


def test_metrics_token_is_required_when_set(runtime):
    """Issue 9 item 12: METRICS_TOKEN guards /metrics (401 in the error envelope without it)."""
    import dataclasses

    from app import create_app

    original = runtime.config
    runtime.config = dataclasses.replace(original, metrics_token="scrape-secret-1")
    try:
        client = create_app(runtime=runtime).test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret-1"}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthenticated"
            assert "connector_queue_depth" not in r.get_data(as_text=True)
        r = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1"})
        assert r.status_code == 200 and "connector_queue_depth" in r.get_data(as_text=True)
    finally:
        runtime.config = original
    assert create_app(runtime=runtime).test_client().get("/metrics").status_code == 200  # unset: open


def test_metrics_before_a_connector_exists(app):
    samples = _samples(app)
    assert samples[("connector_queue_depth", ())] == 0
    assert ("connector_api_calls_today", (("side", "pardot"),)) in samples


def test_metrics_count_cycles_records_errors_and_budget(app, api, connector, runtime, service):
    cid = service.connector_id()
    _cycle(runtime, cid, created=3, updated=2, sf_calls=4, pardot_calls=5)
    running = _cycle(runtime, cid, finished=False)
    with runtime.store.session() as s:
        s.add(SyncError(connector_id=cid, direction="pardot_to_salesforce", sobject="Prospect", record_key="p1",
                        category="duplicate", code="DUPLICATES_DETECTED", message="dup"))
    runtime.budget().spend("salesforce")
    samples = _samples(app)
    assert samples[("connector_cycles_total", (("outcome", "ok"),))] == 1
    assert samples[("connector_records_synced_total", (("action", "created"), ("direction", "salesforce_to_pardot")))] == 3
    assert samples[("connector_records_synced_total", (("action", "updated"), ("direction", "pardot_to_salesforce")))] == 2
    assert samples[("connector_cycle_api_calls_total", (("side", "pardot"),))] == 5
    assert samples[("connector_sync_errors", (("category", "duplicate"), ("status", "open")))] == 1
    assert samples[("connector_state", (("state", "paused"),))] == 1
    assert samples[("connector_api_calls_today", (("side", "salesforce"),))] == 1
    assert samples[("connector_queue_depth", ())] >= 1  # creating the connector enqueued a cycle

    # The running cycle finishes and a new one runs: each counted once, across scrapes.
    with runtime.store.session() as s:
        run = s.get(CycleRun, running)
        run.finished_at, run.outcome = utcnow(), "partial"
        run.counts = {"salesforce_to_pardot": {"created": 10}}
    _cycle(runtime, cid, created=1)
    samples = _samples(app)
    assert samples[("connector_cycles_total", (("outcome", "ok"),))] == 2
    assert samples[("connector_cycles_total", (("outcome", "partial"),))] == 1
    assert samples[("connector_records_synced_total", (("action", "created"), ("direction", "salesforce_to_pardot")))] == 14
    assert _samples(app) == samples  # a scrape changes nothing

    # Redis forgets the running sums: they are rebuilt from SQL, the same numbers.
    runtime.redis.delete(*runtime.redis.keys("metrics:*"))
    assert _samples(app)[("connector_records_synced_total",
                          (("action", "created"), ("direction", "salesforce_to_pardot")))] == 14


# ---------------------------------------------------------------------- CLI
def _run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def test_cli_tokens_create_list_revoke(app, runtime):
    created = _run(app, "tokens", "create", "--name", "ci-bot", "--role", "operator")
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)["token"]
    assert token.startswith("pct_")
    r = app.test_client().get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.get_json()["who"] == "token:ci-bot" and r.get_json()["role"] == "operator"
    listed = _run(app, "tokens", "list")
    assert "ci-bot" in listed.stdout and token not in listed.stdout  # never the secret again
    assert _run(app, "tokens", "revoke", "ci-bot").exit_code == 0
    assert app.test_client().get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = _run(app, "tokens", "revoke", "ci-bot")
    assert again.exit_code == 1 and "no active token named 'ci-bot'" in again.output


def test_cli_rejects_a_bad_role(app):
    result = _run(app, "tokens", "create", "--name", "x", "--role", "root")
    assert result.exit_code == 2 and "root" in result.output


def test_cli_connector_commands(app, runtime):
    assert _run(app, "connector", "status").exit_code == 1  # no connector yet: clear message, no traceback
    created = _run(app, "connector", "create", "--error-queue-owner", "#ops")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["state"] == "paused"
    assert json.loads(_run(app, "connector", "version").stdout)["connector_version"] == 2
    assert json.loads(_run(app, "connector", "checklist").stdout)["passed"] is False
    requested = _run(app, "connector", "request-reactivation", "--note", "after maintenance")
    request_id = json.loads(requested.stdout)["id"]
    own = _run(app, "connector", "approve", str(request_id))
    assert own.exit_code == 1 and "different admin" in own.output  # the CLI user filed it (R31)
    job = json.loads(_run(app, "connector", "sync-prospect", "ada@example.com").stdout)
    assert job["kind"] == "sync_prospect" and job["state"] == "queued"
    job = json.loads(_run(app, "connector", "send", "lead", "00Q000000000001AAA").stdout)
    assert job["params"]["sobject"] == "Lead"
    assert json.loads(_run(app, "connector", "job", job["id"]).stdout)["id"] == job["id"]
    assert json.loads(_run(app, "connector", "errors").stdout) == {"items": [], "next_cursor": None}
    retry = _run(app, "connector", "retry", "--category", "auth")
    assert retry.exit_code == 1 and "no open auth errors" in retry.output
    denied = _run(app, "connector", "deny", str(request_id), "--reason", "x")
    assert denied.exit_code == 1
    audit = json.loads(_run(app, "connector", "audit", "--limit", "200").stdout)
    actions = {(e["action"], e["actor"], e["channel"]) for e in audit["items"]}
    assert ("create_connector", cli_principal().who, "cli") in actions
    paused = _run(app, "connector", "pause")
    assert paused.exit_code == 1 and "already paused" in paused.output

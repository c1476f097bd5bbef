"""What the worker runs: RQ calls these by dotted name ("sync.tasks.run_cycle" ...).

The top of the core's import graph next to the runtime: a job finds its process's wiring
through runtime.current(), so nothing below reaches up for it (issue 12)."""
from __future__ import annotations

import logging

from . import custom_fields, incidents
from .models import Job, utcnow
from .names import Engine
from .native_health import engine_of, run_health, run_unpause
from .runtime import current
from .serialize import job_dict

log = logging.getLogger("connector.jobs")


def run_cycle(connector_id: int) -> dict:
    rt = current()
    if engine_of(rt.store, connector_id) == Engine.SALESFORCE:  # R38: its sync health, not our sync
        return run_health(rt, connector_id)
    return rt.engine().run_cycle(connector_id)


def run_due_retries(connector_id: int) -> dict:
    return current().engine().retry_due(connector_id)


def _run(rt, engine, kind: str, params: dict) -> dict:
    if kind == "sync_prospect":
        return engine.sync_prospect(params["connector_id"], prospect_id=params.get("prospect_id"),
                                    email=params.get("email"))
    if kind == "send_to_pardot":
        return engine.send_to_pardot(params["connector_id"], params["sobject"], params["crm_id"])
    if kind == "native_unpause":  # R37: approval on the salesforce engine
        return run_unpause(rt, params["request_id"])
    if kind == "retry_errors":
        return engine.retry_errors(params["connector_id"], params["error_ids"])
    if kind == "create_crm_id_field":
        return custom_fields.create(rt.store, engine.clients()[1], params["connector_id"], params["field_id"])
    raise ValueError(f"unknown job kind {kind}")


def run_job(job_id: str) -> dict:
    rt = current()
    with rt.store.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise LookupError(f"job {job_id} vanished from the store")
        job.state = "started"
        kind, params, notify = job.kind, dict(job.params), dict(job.notify or {})
    engine = rt.engine()
    try:
        outcome = _run(rt, engine, kind, params)
        state = "finished" if outcome.get("ok", True) else "failed"
    except Exception as exc:  # the outcome is recorded; the worker lives on
        # Issue 9 item 12: users see a reason and an incident id; the traceback goes to the log.
        category, reason, incident = incidents.describe(exc, f"job {job_id}", log)
        outcome = {"ok": False, "category": category, "incident": incident,
                   "message": incidents.user_text(category, reason, incident)}
        state = "failed"
    with rt.store.session() as s:
        job = s.get(Job, job_id)
        job.state, job.outcome, job.ended_at = state, outcome, utcnow()
        result = job_dict(job)
    dedupe = rt.redis.get(f"jobkey-of:{job_id}")
    if dedupe and rt.redis.get(dedupe) == job_id.encode():
        rt.redis.delete(dedupe)
    rt.notify("job_finished", {"job": result, "notify": notify})
    return result

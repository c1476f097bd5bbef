"""Rows as the dicts the transports show (one shape for the API, the bot and the jobs).

Low in the import graph on purpose: the engine, the job queue and the service all render
through here, so none of them reaches up into the service layer (issue 12)."""
from __future__ import annotations

from datetime import datetime, timezone

from . import incidents
from .mapping import Mapping
from .models import Connector, CycleRun, FieldMapping, Job, MdsRule, ReactivationRequest, SyncError


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def mapping_of(m: FieldMapping) -> Mapping:
    return Mapping(m.pardot_field, m.lead_field, m.contact_field, m.account_field, m.behaviour,
                   m.overwrite_with_empty)


def rule_dict(r: MdsRule) -> dict:
    return {"object": r.sobject, "field": r.field, "operator": "equals", "value": r.value}


def settings_dict(c: Connector, extra: dict) -> dict:
    return {"connector_version": c.version, "connector_user": c.connector_user, "ampsea": c.ampsea,
            "ampsea_reviewed": c.ampsea_reviewed, "auto_create_prospects": c.auto_create_prospects,
            "follow_email_changes": c.follow_email_changes, "error_queue_owner": c.error_queue_owner,
            "mds_enabled": c.mds_enabled, **extra}


def cycle_dict(r: CycleRun) -> dict:
    duration = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
    return {"id": r.id, "started_at": iso(r.started_at), "finished_at": iso(r.finished_at),
            "duration_seconds": round(duration, 3) if duration is not None else None,
            "outcome": r.outcome, "prospects_synced": r.prospects_synced, "counts": r.counts,
            "api_calls": r.api_calls, "error": incidents.public_text(r.error, f"cycle {r.id}")}


def request_dict(r: ReactivationRequest) -> dict:
    return {"id": r.id, "status": r.status, "requested_by": r.requested_by, "requested_via": r.requested_via,
            "requested_at": iso(r.requested_at), "note": r.note, "expires_at": iso(r.expires_at),
            "decided_by": r.decided_by, "decided_at": iso(r.decided_at), "reason": r.reason,
            "checklist": r.checklist, "slack_channel": r.slack_channel, "slack_ts": r.slack_ts,
            "outcome": r.outcome}


def job_dict(j: Job) -> dict:
    return {"id": j.id, "kind": j.kind, "params": {k: v for k, v in j.params.items() if k != "error_ids"},
            "state": j.state, "outcome": incidents.public_outcome(j.outcome, f"job {j.id}"),
            "requested_by": j.requested_by,
            "created_at": iso(j.created_at), "ended_at": iso(j.ended_at)}


def error_dict(e: SyncError) -> dict:
    return {"id": e.id, "direction": e.direction, "object": e.sobject, "prospect_id": e.prospect_id,
            "crm_id": e.crm_id, "email": e.email, "category": e.category, "code": e.code,
            "message": e.message, "first_seen": iso(e.first_seen), "last_seen": iso(e.last_seen),
            "attempts": e.attempts, "next_retry_at": iso(e.next_retry_at), "status": e.status}

"""The sync error queue (R25–R27): one open entry per record and direction."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import SyncError, utcnow
from .remote import RemoteError

AUTO_RETRY = ("transient", "limit")  # R27: the others wait for a change or a person
RETRY_BASE = timedelta(seconds=60)
RETRY_CAP = timedelta(hours=1)
MAX_AUTO_ATTEMPTS = 10


def backoff(attempts: int, base: timedelta = RETRY_BASE) -> timedelta:
    return min(RETRY_CAP, base * (2 ** max(0, attempts - 1)))


def record_failure(s: Session, connector_id: int, direction: str, sobject: str, record_key: str,
                   error: RemoteError, prospect_id: int | None = None, crm_id: str | None = None,
                   email: str | None = None, now: datetime | None = None) -> tuple[SyncError, bool]:
    """Returns the entry and whether it is new (so callers notify only once per record)."""
    now = now or utcnow()
    entry = s.scalars(select(SyncError).where(
        SyncError.connector_id == connector_id, SyncError.direction == direction,
        SyncError.record_key == record_key, SyncError.status.in_(("open", "retrying")))).first()
    fresh = entry is None
    if fresh:
        entry = SyncError(connector_id=connector_id, direction=direction, sobject=sobject,
                          record_key=record_key, first_seen=now, attempts=0)
        s.add(entry)
    entry.category, entry.code, entry.message = error.category, error.code, error.message[:2000]
    entry.prospect_id = prospect_id if prospect_id is not None else entry.prospect_id
    entry.crm_id = crm_id or entry.crm_id
    entry.email = email or entry.email
    entry.last_seen = now
    entry.attempts += 1
    if error.category in AUTO_RETRY and entry.attempts < MAX_AUTO_ATTEMPTS:
        entry.status, entry.next_retry_at = "retrying", now + backoff(entry.attempts)
    else:
        entry.status, entry.next_retry_at = "open", None
    return entry, fresh


def resolve(s: Session, connector_id: int, direction: str, record_keys: list[str], by: str = "connector") -> int:
    """A later successful sync of a record resolves its error (R27)."""
    if not record_keys:
        return 0
    result = s.execute(update(SyncError).where(
        SyncError.connector_id == connector_id, SyncError.direction == direction,
        SyncError.record_key.in_(record_keys), SyncError.status.in_(("open", "retrying")))
        .values(status="resolved", resolved_at=utcnow(), resolved_by=by, next_retry_at=None))
    return result.rowcount or 0


def due(s: Session, connector_id: int, now: datetime | None = None, limit: int = 1000) -> list[SyncError]:
    return list(s.scalars(select(SyncError).where(
        SyncError.connector_id == connector_id, SyncError.status == "retrying",
        SyncError.next_retry_at <= (now or utcnow())).order_by(SyncError.next_retry_at).limit(limit)))

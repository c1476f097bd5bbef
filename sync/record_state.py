"""The sync state of one record, read from the store alone (issue 9 item 3).

Real Pardot keeps its link fields read-only, so the link lives only in our store
(RecordLink); people and tools read it here without running a sync. Pure reads: no
remote call, no write."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .errors import Invalid
from .models import Connector, CrmRecord, PendingChange, Prospect, RecordLink, RecordState, SyncError
from .names import SYNC_PREFIXES, State
from .serialize import iso as _iso

CRM_PREFIXES = SYNC_PREFIXES
MAX_PROSPECT_ID = 2 ** 63 - 1  # prospect ids are BIGINT in the store
OPEN = ("open", "retrying")
# RecordState values that mean the record is gone, not merely unmatched.
DELETED_STATES = ("deleted_unlinked", "prospect_deleted")
STATES = ("linked", "in_error", "deleted", "paused", "pending", "unassigned_no_match", "not_linked", "unknown")

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def to18(value: str) -> str:
    """A 15-character id as the 18-character form the store keeps (case-safe suffix)."""
    if len(value) == 18:
        return value
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(value[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[bits]
    return value + suffix


def parse_prospect_id(raw) -> int:
    text = str(raw).strip() if raw is not None else ""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_PROSPECT_ID:
        raise Invalid(f"{raw!r} is not a Pardot prospect id (a positive number)",
                      {"prospect_id": "must be a positive number"})
    return int(text)


def parse_crm_id(raw) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if len(text) not in (15, 18) or not text.isascii() or not text.isalnum() or text[:3] not in CRM_PREFIXES:
        raise Invalid(f"{raw!r} is not a Salesforce lead, contact or account id "
                      "(15 or 18 letters and digits starting with 00Q, 003 or 001)",
                      {"crm_id": "must be a 15- or 18-character id starting with 00Q, 003 or 001"})
    return to18(text)


def _error(e: SyncError) -> dict:
    return {"id": e.id, "direction": e.direction, "category": e.category, "code": e.code,
            "message": e.message, "status": e.status, "last_seen": _iso(e.last_seen), "attempts": e.attempts}


def _find(s: Session, cid: int, side: str, record_id) -> tuple:
    """The link, the mirror row, the record's type and id, and whether it is deleted."""
    if side == "pardot":
        link = s.scalars(select(RecordLink).where(RecordLink.connector_id == cid,
                                                  RecordLink.prospect_id == record_id)).first()
        mirror = s.get(Prospect, (cid, record_id))
        record = {"type": "Prospect", "id": str(record_id)}
    else:
        link = s.scalars(select(RecordLink).where(RecordLink.connector_id == cid,
                                                  RecordLink.crm_id == record_id)).first()
        mirror = s.get(CrmRecord, (cid, record_id))
        record = {"type": mirror.sobject if mirror else (link.crm_type if link else CRM_PREFIXES[record_id[:3]]),
                  "id": record_id}
    return link, mirror, record, bool(mirror and mirror.is_deleted)


def _waiting(s: Session, cid: int, side: str, record_id, link) -> tuple[bool, list]:
    """Work waiting for either half of the pair, and open errors about either half."""
    key = str(record_id)
    pending_keys = [(side, key)]
    error_terms = [SyncError.prospect_id == record_id] if side == "pardot" else [SyncError.crm_id == record_id]
    error_terms.append(SyncError.record_key == key)
    if link is not None:
        if side == "pardot":
            pending_keys.append(("salesforce", link.crm_id))
            error_terms.append(SyncError.crm_id == link.crm_id)
        else:
            pending_keys.append(("pardot", str(link.prospect_id)))
            error_terms.append(SyncError.prospect_id == link.prospect_id)
    pending = any(s.get(PendingChange, (cid, sd, rid)) is not None for sd, rid in pending_keys)
    errors = s.scalars(select(SyncError).where(SyncError.connector_id == cid, SyncError.status.in_(OPEN),
                                               or_(*error_terms)).order_by(SyncError.id)).all()
    return pending, errors


def _state(c: Connector, side: str, link, why, deleted: bool, pending: bool, errors: list) -> tuple[str, str]:
    if errors:
        return "in_error", f"{len(errors)} open sync error{'s' if len(errors) != 1 else ''}: " \
                           f"{errors[0].category}: {errors[0].message}"
    if deleted or (link is None and why is not None and why.state in DELETED_STATES):
        return "deleted", (why.detail if why is not None and why.state in DELETED_STATES
                           else "deleted in Salesforce (R19)" if link is not None and link.deleted_in_crm
                           else "in the Pardot recycle bin" if side == "pardot" else "deleted in Salesforce")
    if c.state == State.PAUSED:  # R5: nothing moves for this record until reactivation, linked or not
        return "paused", (f"the connector is paused{' by ' + c.paused_by if c.paused_by else ''} (R5); "
                          "changes wait until it is reactivated")
    if pending:
        return "pending", "a change is waiting for the next cycle (R17)"
    if link is not None:
        other = 'Prospect ' + str(link.prospect_id) if side == 'salesforce' else link.crm_type + ' ' + link.crm_id
        reason = f"synced with {other}"
        if link.outside_mds:
            reason += "; outside Marketing Data Sharing, so no longer updated (R24)"
        return "linked", reason
    if why is not None:
        return ("unassigned_no_match" if why.state == "unassigned_no_match" else "not_linked",
                why.detail or why.state.replace("_", " "))
    return "unknown", "seen by the connector but not reconciled yet"


def read_state(s: Session, c: Connector, side: str, record_id) -> dict | None:
    """The state of a prospect (side "pardot") or a CRM record (side "salesforce"), or None when
    the connector has never seen that id."""
    link, mirror, record, deleted = _find(s, c.id, side, record_id)
    why = s.get(RecordState, (c.id, side, str(record_id)))
    pending, errors = _waiting(s, c.id, side, record_id, link)
    if link is None and mirror is None and why is None and not pending and not errors:
        return None
    deleted = deleted or bool(link is not None and link.deleted_in_crm)
    state, reason = _state(c, side, link, why, deleted, pending, errors)
    linked = None
    if link is not None:
        linked = ({"type": link.crm_type, "id": link.crm_id} if side == "pardot"
                  else {"type": "Prospect", "id": str(link.prospect_id)})
    return {
        "record": record,
        "state": state,
        "reason": reason,
        "not_linked_because": why.state if why is not None and link is None else None,
        "linked_record": linked,
        "last_synced_to_pardot": _iso(link.last_synced_to_pardot) if link else None,
        "last_synced_to_salesforce": _iso(link.last_synced_to_salesforce) if link else None,
        "last_synced_at": _iso(link.last_synced_at) if link else None,
        "pending": pending,
        "open_errors": [_error(e) for e in errors],
        "connector_state": c.state,
    }

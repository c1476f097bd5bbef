"""The salesforce engine's worker side (R37, R38): the approved unpause and the sync-health check.

Each poll interval the health check costs 3 Pardot calls when idle: the connector read, the
prospects and the Pardot users (roles, R33) changed since the last check (more only when more
than a page changed). Its symptoms live in the error queue and resolve themselves."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from . import audit, incidents
from .metadata import PARDOT_USER_FIELDS, sync_pardot_users
from .models import Connector, Cursor, CycleRun, Prospect, ReactivationRequest, SyncError, utcnow
from .names import HEALTH_CATEGORIES, Category, Engine, State
from .native import CONNECTOR_WIDE, CURSOR, LOCK_TTL, PER_RECORD, PROSPECT_FIELDS, mirror, settings_of
from .records import pardot_datetime, parse_datetime
from .remote import RemoteCallError
from .roles import SYSTEM, forget_roles, status_cache_key
from .serialize import error_dict, iso, request_dict
from .sf_connector import iso as sf_iso
from .sf_connector import plain_refusal, read_connector, unpause_connector

log = logging.getLogger("connector.native")
OPEN = ("open", "retrying")
NO_CONNECTOR = "this business unit has no Salesforce connector (Pardot's Connector API answers 404)"


def run_unpause(rt, request_id: int) -> dict:
    """The worker side of an approval (R37): unpause once; a failure leaves the request approved-failed."""
    with rt.store.session() as s:
        r = s.get(ReactivationRequest, request_id, with_for_update=True)
        if r is None or r.status != "approved" or (r.outcome or {}).get("unpause") != "queued":
            return {"ok": True, "skipped": f"request #{request_id} has no queued unpause"}
        r.outcome = {"unpause": "calling"}  # a second run of this job never calls again
    try:
        unpause_connector(rt.engine().clients()[1])
        ok, reason = True, None
    except RemoteCallError as exc:
        ok, reason = False, plain_refusal(exc, "unpause")
    with rt.store.session() as s:
        r = s.get(ReactivationRequest, request_id)
        c = s.get(Connector, r.connector_id)
        if ok:
            r.outcome = {"unpause": "ok"}
            c.state, c.state_since, c.state_reason = State.ACTIVE, utcnow(), None
            c.paused_at = c.paused_by = c.paused_reason = None
        else:
            r.outcome = {"unpause": "failed", "reason": reason}
        audit.record(s, SYSTEM, "unpause", "ok" if ok else "failed", f"reactivation:{r.id}", engine="salesforce",
                     reason=reason)
        result = request_dict(r)
        connector_id = c.id
    rt.redis.delete(status_cache_key(rt.config.pardot_business_unit_id))
    rt.notify("reactivation_unpaused" if ok else "reactivation_failed", result)
    if ok:
        rt.queue.enqueue_cycle(connector_id)
    return {"ok": ok, "request_id": request_id, **({} if ok else {"category": "permission", "message": reason})}


def engine_of(store, connector_id: int) -> str | None:
    with store.session() as s:
        return s.scalar(select(Connector.engine).where(Connector.id == connector_id))


def run_health(rt, connector_id: int) -> dict:
    lock = rt.redis.lock(f"cycle-lock:{connector_id}", timeout=LOCK_TTL, blocking=False)
    if not lock.acquire():
        return {"skipped": "another cycle of this connector is running"}
    try:
        return _health(rt, connector_id)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired: nothing to release
            pass


# ---------------------------------------------------------------------- the error queue rows
def _upsert(s, cid: int, direction: str, key: str, category: str, message: str, now: datetime,
            prospect_id=None, crm_id=None, email=None, sobject="Prospect"):
    entry = s.scalars(select(SyncError).where(
        SyncError.connector_id == cid, SyncError.direction == direction, SyncError.record_key == key,
        SyncError.status.in_(OPEN))).first()
    fresh = entry is None
    if fresh:
        entry = SyncError(connector_id=cid, direction=direction, sobject=sobject, record_key=key, first_seen=now,
                          attempts=1, status="open")
        s.add(entry)
    elif entry.category != category:
        fresh = True  # a different symptom of the same record is news
    entry.category, entry.code, entry.message = category, category.upper(), message[:2000]
    entry.prospect_id, entry.crm_id, entry.email = prospect_id, crm_id, email or entry.email
    entry.last_seen, entry.next_retry_at = now, None
    return entry, fresh


def _resolve(s, cid: int, direction: str, keys: list[str], categories=HEALTH_CATEGORIES) -> list[dict]:
    if not keys:
        return []
    rows = s.scalars(select(SyncError).where(
        SyncError.connector_id == cid, SyncError.direction == direction, SyncError.record_key.in_(keys),
        SyncError.category.in_(categories), SyncError.status.in_(OPEN))).all()
    for e in rows:
        e.status, e.resolved_at, e.resolved_by = "resolved", utcnow(), "health check"
    s.flush()
    return [error_dict(e) for e in rows]


# ---------------------------------------------------------------------- one health check
@dataclass
class _Check:
    """What one health check found and changed."""
    cid: int
    now: datetime
    limits: dict
    cursor: datetime | None
    view: dict = field(default_factory=dict)
    wide: dict = field(default_factory=dict)  # category -> message, for the connector-wide alerts that hold now
    seen: list = field(default_factory=list)
    new: list = field(default_factory=list)
    resolved: list = field(default_factory=list)
    counts: dict = field(default_factory=lambda: {"read": 0, "pending": 0})
    previous_state: str | None = None
    state_now: str | None = None

    @property
    def threshold(self) -> timedelta:
        return timedelta(seconds=float(self.limits["health_threshold_seconds"]))


def _start(rt, cid: int) -> tuple[int, _Check]:
    now = utcnow()
    with rt.store.session() as s:
        run = CycleRun(connector_id=cid, started_at=now, prospects_synced=False)
        s.add(run)
        s.flush()
        cursor_row = s.get(Cursor, (cid, CURSOR))
        return run.id, _Check(cid, now, settings_of(s.get(Connector, cid)),
                              cursor_row.value if cursor_row else None)


def _read_view(pardot) -> dict:
    """Call 1: the connector itself."""
    try:
        found = read_connector(pardot)
    except RemoteCallError as exc:
        if exc.error.category not in (Category.AUTH, Category.PERMISSION):
            raise
        return {"present": None, "error": plain_refusal(exc, "read")}
    return {"present": found is not None, **(found or {}), "error": None if found else NO_CONNECTOR}


def _wide_alerts(check: _Check) -> dict:
    view = check.view
    if view["present"] is None:
        return {Category.CREDENTIALS: view["error"]}
    if not view["present"]:
        return {Category.STALLED: view["error"]}
    wide = {}
    if not view["verified"]:
        wide[Category.CREDENTIALS] = ("Salesforce's connector is not verified: its credentials no longer work. "
                                      "Re-verify in Account Engagement Settings > Connectors > Salesforce.")
    stall = timedelta(seconds=float(check.limits["stall_after_seconds"]))
    last = view.get("last_synced_at")
    if not view["paused"] and (last is None or check.now - last > stall):
        wide[Category.STALLED] = (f"Salesforce's connector last synced at {sf_iso(last) or 'never'}, over "
                                  f"{int(stall.total_seconds())} s ago, while not paused: it has stopped syncing.")
    return wide


def _read_pardot(rt, check: _Check, pardot) -> None:
    """Call 2 (and more only when over a page changed): prospects changed since the last check.
    Call 3: Pardot users changed since the last check: people's roles (R33) on this engine too."""
    if check.view.get("present"):
        filters = {"updatedAtAfterOrEqualTo": pardot_datetime(check.cursor)} if check.cursor else {}
        check.seen = list(pardot.query("prospects", PROSPECT_FIELDS, deleted="all", orderBy="updatedAt",
                                       **filters))
    check.counts["read"] = len(check.seen)
    cid = check.cid
    with rt.store.session() as s:
        users_row = s.get(Cursor, (cid, "pardot:users"))
        users_since = {"updatedAtAfterOrEqualTo": pardot_datetime(users_row.value)} if users_row else {}
    users = list(pardot.query("users", PARDOT_USER_FIELDS, deleted="all", **users_since))
    if not users:
        return
    with rt.store.session() as s:
        newest_user = sync_pardot_users(s, cid, iter(users))
        if users_row is None:
            s.add(Cursor(connector_id=cid, name="pardot:users", value=newest_user))
        else:
            s.get(Cursor, (cid, "pardot:users")).value = max(newest_user, users_row.value)
    if not users_row or newest_user > users_row.value:
        forget_roles(rt.redis, rt.config.pardot_business_unit_id)


def _connector_alerts(s, check: _Check) -> None:
    for category in (Category.STALLED, Category.CREDENTIALS):
        key = f"connector:{category}"
        if category in check.wide:
            entry, fresh = _upsert(s, check.cid, CONNECTOR_WIDE, key, category, check.wide[category], check.now,
                                   sobject="Connector")
            if fresh:
                s.flush()
                check.new.append(error_dict(entry))
        else:
            check.resolved += _resolve(s, check.cid, CONNECTOR_WIDE, [key], (category,))


def _symptom(raw: dict, updated: datetime | None) -> str | None:
    """What is out of sync with one prospect Pardot returned, if anything."""
    if raw.get("isDeleted"):
        return None
    if raw.get("salesforceId"):
        last = parse_datetime(raw.get("salesforceLastSync"))
        return None if last is not None and updated is not None and last >= updated else Category.NOT_SYNCING
    return Category.NOT_CREATED if raw.get("assignedToId") is not None else None


def _track_prospects(s, check: _Check) -> datetime | None:
    """Remember what is out of sync, with the time it first was; returns the newest updatedAt."""
    cid, now, newest, settle = check.cid, check.now, check.cursor, []
    for raw in check.seen:
        pid = int(raw["id"])
        updated = parse_datetime(raw.get("updatedAt"))
        newest = max(newest, updated) if newest and updated else (updated or newest)
        row = s.get(Prospect, (cid, pid))
        kind = _symptom(raw, updated)
        if kind is None:
            if row is not None:
                s.delete(row)
            settle.append(str(pid))
            continue
        values = {"kind": kind, "updatedAt": raw.get("updatedAt"), "lastSync": raw.get("salesforceLastSync")}
        if row is None:
            s.add(Prospect(connector_id=cid, prospect_id=pid, email=(raw.get("email") or "").lower() or None,
                           updated_at=updated or now, assigned_to_id=raw.get("assignedToId"),
                           crm_id=raw.get("salesforceId"), values=values))
        else:  # keep the time it first went out of sync (unless the symptom changed)
            if (row.values or {}).get("kind") != kind:
                row.updated_at = updated or now
            row.values, row.crm_id, row.assigned_to_id = values, raw.get("salesforceId"), raw.get("assignedToId")
    check.resolved += _resolve(s, cid, PER_RECORD, settle, (Category.NOT_SYNCING, Category.NOT_CREATED))
    s.flush()
    return newest


def _warning_text(p: Prospect, check: _Check) -> str:
    threshold = int(check.threshold.total_seconds())
    minutes = int((check.now - p.updated_at).total_seconds() // 60)
    if (p.values or {}).get("kind") == Category.NOT_SYNCING:
        return (f"prospect {p.prospect_id} changed at {iso(p.updated_at)} and has not synced to "
                f"Salesforce since (last sync {(p.values or {}).get('lastSync') or 'never'}; "
                f"{minutes} min, threshold {threshold} s)")
    return (f"prospect {p.prospect_id} is assigned but has no Salesforce lead or contact "
            f"{minutes} min after {iso(p.updated_at)} (threshold {threshold} s)")


def _record_warnings(s, check: _Check, running: bool) -> None:
    pending = s.scalars(select(Prospect).where(Prospect.connector_id == check.cid)).all()
    check.counts["pending"] = len(pending)
    if not running:  # R38: per-record warnings only while the connector runs
        return
    for p in pending:
        if check.now - p.updated_at <= check.threshold:
            continue
        entry, fresh = _upsert(s, check.cid, PER_RECORD, str(p.prospect_id), (p.values or {}).get("kind"),
                               _warning_text(p, check), check.now, prospect_id=p.prospect_id, crm_id=p.crm_id,
                               email=p.email)
        if fresh:
            s.flush()
            check.new.append(error_dict(entry))


def _apply(rt, check: _Check) -> None:
    """Mirror the connector, raise or clear the alerts and warnings, move the cursor."""
    # Per-record warnings only while it runs and syncs: a connector-wide alert already explains the rest.
    running = bool(check.view.get("present")) and not check.view.get("paused") and not check.wide
    with rt.store.session() as s:
        c = s.get(Connector, check.cid, with_for_update=True)
        check.previous_state = c.state
        mirror(s, c, check.view)
        _connector_alerts(s, check)
        newest = _track_prospects(s, check)
        _record_warnings(s, check, running)
        if newest and (check.cursor is None or newest > check.cursor):
            row = s.get(Cursor, (check.cid, CURSOR))
            if row is None:
                s.add(Cursor(connector_id=check.cid, name=CURSOR, value=newest))
            else:
                row.value = newest
        check.state_now = c.state
    check.counts.update(new=len(check.new), resolved=len(check.resolved), alerts=sorted(check.wide))


def _announce(rt, check: _Check) -> None:
    cid = check.cid
    if check.new:
        rt.notify("sync_errors", {"connector_id": cid, "errors": check.new})
    if check.resolved:
        rt.notify("sync_errors_resolved", {"connector_id": cid, "errors": check.resolved})
    for e in check.new:
        if e["direction"] == CONNECTOR_WIDE:
            rt.notify("connector_state", {"connector_id": cid, "state": "error", "reason": e["message"],
                                          "previous": check.previous_state, "engine": "salesforce"})
    for e in check.resolved:
        if e["direction"] == CONNECTOR_WIDE and not check.wide:
            rt.notify("connector_state", {"connector_id": cid, "state": "active", "previous": "error",
                                          "reason": f"{e['category']} cleared", "engine": "salesforce"})
            break


def _health(rt, cid: int) -> dict:
    budget = rt.budget()
    before = budget.snapshot()
    run_id, check = _start(rt, cid)
    pardot = rt.engine().clients()[1]
    outcome, error = "ok", None
    try:
        check.view = _read_view(pardot)
        check.wide = _wide_alerts(check)
        _read_pardot(rt, check, pardot)
        _apply(rt, check)
    except Exception as exc:  # noqa: BLE001 - the run is recorded as failed; the worker lives on
        if isinstance(exc, RemoteCallError):
            error = f"{exc.side}: {exc.error.code}: {exc.error.message}"
        else:
            error = incidents.user_text(*incidents.describe(exc, f"health check of connector {cid}", log))
        outcome = "failed"
        check.wide, check.previous_state, check.state_now, check.new, check.resolved = {}, None, None, [], []
    after = budget.snapshot()
    calls = {side: after.get(side, 0) - before.get(side, 0) for side in ("salesforce", "pardot")}
    with rt.store.session() as s:
        run = s.get(CycleRun, run_id)
        run.finished_at, run.outcome, run.error = utcnow(), outcome, error
        run.counts, run.api_calls = {"health": check.counts}, calls
    rt.redis.delete(status_cache_key(rt.config.pardot_business_unit_id))
    _announce(rt, check)
    return {"cycle_id": run_id, "engine": Engine.SALESFORCE.value, "outcome": outcome, "error": error,
            "counts": {"health": check.counts}, "api_calls": calls, "state": check.state_now}

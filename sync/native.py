"""The `salesforce` engine (R35–R38): Salesforce's own connector v2 syncs; we observe and operate it.

The service layer routes here by `Connector.engine`; api/ and bot/ never see the difference.
- version/status read the Pardot v5 Connector API (R36), one call, cached like the status;
- pause/unpause are its actions; Pardot's refusals reach the person in plain words (R36);
- reactivation keeps the two-person approval (R31); approval queues one unpause job (R37);
- sync health, each poll interval (R38), costs 3 Pardot calls when idle: the connector read,
  the prospects and the Pardot users (roles, R33) changed since the last check (more only
  when more than a page changed).
  Its symptoms live in the error queue (categories below) and resolve themselves.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from . import audit
from .errors import Conflict, Invalid
from .models import Connector, Cursor, CycleRun, Prospect, ReactivationRequest, SyncError, utcnow
from .records import parse_datetime, pardot_datetime
from .remote import RemoteCallError
from .metadata import PARDOT_USER_FIELDS, sync_pardot_users
from .roles import SYSTEM, forget_roles, status_cache_key
from .sf_connector import iso, pause_connector, plain_refusal, read_connector, unpause_connector

log = logging.getLogger("connector.native")

ENGINES = ("builtin", "salesforce")
HEALTH_CATEGORIES = ("stalled", "credentials", "not_syncing", "not_created")
CONNECTOR_WIDE = "salesforce_connector"   # SyncError.direction of connector-wide alerts
PER_RECORD = "pardot_to_salesforce"       # a prospect that does not reach Salesforce
HEALTH_DEFAULTS = {"health_threshold_seconds": 900,   # not_syncing / not_created after 15 min
                   "stall_after_seconds": 360}        # 3 × Salesforce's 2-minute cycle
PROSPECT_FIELDS = ["id", "email", "updatedAt", "salesforceId", "salesforceLastSync", "assignedToId", "isDeleted"]
CURSOR = "native:prospects"
LOCK_TTL = 120

# What the builtin engine does and Salesforce's connector does not let us do (R35).
NOT_APPLICABLE = {
    "sync_prospect": "Salesforce's connector syncs this business unit, and Pardot's API has no call for its "
                     "\"Sync with CRM\": open the prospect in Account Engagement and use the gear menu's "
                     "\"Sync with CRM\" button.",
    "send_to_pardot": "Salesforce's connector syncs this business unit, and it has no API to send one record: "
                      "in Salesforce, edit and save the lead or contact (its next cycle picks it up), or use "
                      "the Account Engagement \"Send to Pardot\" action on the record page if your org has it.",
    "retry_errors": "Salesforce's connector retries by itself, so there is nothing for us to retry: these "
                    "warnings resolve on their own once the record syncs. To push one record, use \"Sync with "
                    "CRM\" on the prospect in Account Engagement; `dismiss` hides a warning.",
    "set_mds_rules": "Marketing Data Sharing rules of Salesforce's connector are set in Salesforce: Account "
                     "Engagement Setup > Marketing Setup > Marketing Data Sharing.",
    "set_field_mappings": "Field sync behaviours of Salesforce's connector are set in Account Engagement: "
                          "Account Engagement Settings > Connectors > Salesforce > Edit Settings, and Prospect "
                          "Fields > Sync Behavior.",
}

PAUSE_NOTE = ("Salesforce's connector stops syncing prospects and custom objects (metadata keeps syncing); "
              "`resume` requests reactivation, a different admin approves.")

# Checklist items on this engine (R37): the API-checkable ones first, then "check by hand".
BY_HAND = (
    ("connector_user", "Connector user and its permissions",
     "Setup > Users > Permission Sets > \"Account Engagement Connector User\" assigned to the connector user"),
    ("field_sync", "Field sync behaviours reviewed",
     "Account Engagement Settings > Connectors > Salesforce > Edit Settings > Field Sync Behaviors"),
    ("mds", "Marketing Data Sharing rules",
     "Setup > Account Engagement > Marketing Setup > Marketing Data Sharing"),
    ("user_sync", "Pardot users synced with Salesforce users",
     "Account Engagement Settings > User Management > Salesforce User Sync"),
)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def _pardot():
    from .runtime import current

    return current().engine().clients()[1]


def settings_of(connector: Connector) -> dict:
    return {**HEALTH_DEFAULTS, **{k: v for k, v in (connector.settings or {}).items() if k in HEALTH_DEFAULTS}}


# ---------------------------------------------------------------------- reading the connector
def live(service, connector: Connector | None = None) -> dict:
    """The Connector API's view, never raising: {"present", ..., "error"} (one Pardot call)."""
    try:
        found = read_connector(_pardot())
    except RemoteCallError as exc:
        return {"present": None, "error": plain_refusal(exc, "read")}
    if found is None:
        return {"present": False, "error": "this business unit has no Salesforce connector (Pardot's Connector "
                                           "API answers 404)"}
    return {"present": True, **found, "error": None}


def _snapshot(view: dict) -> dict:
    return {"name": view.get("name"), "version": view.get("version"), "paused": view.get("paused"),
            "verified": view.get("verified"), "last_synced_at": iso(view.get("last_synced_at")),
            "present": view.get("present"), "error": view.get("error"), "read_at": _iso(utcnow())}


def _mirror(s, c: Connector, view: dict, by: str | None = None) -> None:
    """Keeps the row in step with what Pardot said: version, paused/active, the last snapshot."""
    checks = dict(c.checks or {})
    checks["native"] = _snapshot(view)
    checks["pardot"] = {"ok": view.get("present") is not None, "at": utcnow().isoformat(),
                        "reason": view.get("error")}
    c.checks = checks
    if not view.get("present"):
        return
    c.version = view["version"]
    if view["paused"] and c.state != "paused":
        c.state, c.state_since, c.state_reason = "paused", utcnow(), None
        c.paused_at, c.paused_by = c.paused_at or utcnow(), c.paused_by or by or "Salesforce (paused outside this app)"
    elif not view["paused"] and c.state == "paused":
        c.state, c.state_since, c.state_reason = "active", utcnow(), None
        c.paused_at = c.paused_by = c.paused_reason = None


def refresh(service) -> dict:
    view = live(service)
    with service.store.session() as s:
        c = service._connector(s, for_update=True)
        _mirror(s, c, view)
    service._changed()
    return view


def connector_block(view: dict) -> dict:
    return {"name": view.get("name"), "version": view.get("version"), "paused": view.get("paused"),
            "verified": view.get("verified"), "last_synced_at": (iso(view["last_synced_at"])
                                                                 if isinstance(view.get("last_synced_at"), datetime)
                                                                 else view.get("last_synced_at")),
            "present": view.get("present"), "error": view.get("error")}


def open_warnings(s, connector_id: int) -> int:
    return s.scalar(select(func.count()).select_from(SyncError).where(
        SyncError.connector_id == connector_id, SyncError.category.in_(HEALTH_CATEGORIES),
        SyncError.status.in_(("open", "retrying")))) or 0


def version(service, c_id: int) -> dict:
    view = refresh(service)
    with service.store.session() as s:
        c = s.get(Connector, c_id)
        return {"salesforce_connector": connector_block(view), "sync_warnings": open_warnings(s, c_id),
                "connector_version": c.version}


def status_fields(service) -> dict:
    """The salesforce engine's part of the status: what the Connector API says, and our warnings."""
    view = refresh(service)
    with service.store.session() as s:
        c = service._connector(s)
        c_id = c.id
        paused = {"since": _iso(c.paused_at), "by": c.paused_by, "reason": c.paused_reason} \
            if c.state == "paused" else None
        return {"salesforce_connector": connector_block(view), "sync_warnings": open_warnings(s, c_id),
                "connector_version": c.version, "state": c.state, "state_since": _iso(c.state_since),
                "paused": paused}


# ---------------------------------------------------------------------- create
def create(service, principal, version: int = 2, error_queue_owner: str | None = None, **_) -> dict:
    """Operate the org's own connector: it must exist; its version and state come from Pardot."""
    from .service import _slack_target

    with service.store.session() as s:
        service._require(s, principal, "admin", "create_connector")
        if error_queue_owner is not None and not _slack_target(error_queue_owner):
            problems = {"error_queue_owner": "must be a Slack channel (#name, C… or G…) or a Slack user id (U… or W…)"}
            audit.record(s, principal, "create_connector", "failed", details=problems)
            s.commit()
            raise Invalid("the connector settings are invalid", problems)
        if s.scalars(select(Connector).where(Connector.business_unit_id == service.config.pardot_business_unit_id)).first():
            audit.record(s, principal, "create_connector", "failed", service.config.pardot_business_unit_id,
                         reason="exists")
            s.commit()
            raise Conflict(f"a connector already exists for business unit {service.config.pardot_business_unit_id} "
                           "(one connector per business unit, R2)")
    view = live(service)
    if not view.get("present"):
        with service.store.session() as s:
            audit.record(s, principal, "create_connector", "failed", engine="salesforce", reason=view.get("error"))
        raise Conflict("cannot operate Salesforce's connector: " + (view.get("error") or "no connector") +
                       ". Create it in Account Engagement Settings > Connectors, or use engine builtin.")
    now = utcnow()
    with service.store.session() as s:
        c = Connector(business_unit_id=service.config.pardot_business_unit_id, version=view["version"],
                      engine="salesforce", state="paused" if view["paused"] else "active", state_since=now,
                      connector_user="integration", ampsea=False, error_queue_owner=error_queue_owner,
                      settings={}, checks={}, created_by=principal.who, created_at=now)
        s.add(c)
        s.flush()
        _mirror(s, c, view, by="Salesforce (paused before this app operated it)")
        audit.record(s, principal, "create_connector", "ok", c.business_unit_id, engine="salesforce",
                     version=c.version, state=c.state)
        connector_id = c.id
    service._changed()
    if service.queue:
        service.queue.enqueue_cycle(connector_id)  # the first health check
    return service.status(principal)


def suggestion(service) -> str | None:
    """On a builtin create: say so when Salesforce's connector v2 already syncs this business unit."""
    try:
        view = live(service)
    except Exception:  # noqa: BLE001 - a hint never fails the create
        log.warning("could not ask Pardot's Connector API for a native connector", exc_info=True)
        return None
    if view.get("present") and view.get("version") == 2:
        state = "paused" if view.get("paused") else "running"
        return (f"Salesforce's connector v2 ({view.get('name') or 'Salesforce'}, {state}) already syncs this "
                "business unit; two engines syncing the same records fight. To operate it instead, create the "
                "connector with engine salesforce (`create --engine salesforce`).")
    return None


# ---------------------------------------------------------------------- pause / unpause
def pause(service, principal, reason: str | None) -> dict:
    with service.store.session() as s:
        service._require(s, principal, "admin", "pause")
    try:
        pause_connector(_pardot())
    except RemoteCallError as exc:
        message = plain_refusal(exc, "pause")
        with service.store.session() as s:
            audit.record(s, principal, "pause", "failed", service.config.pardot_business_unit_id,
                         engine="salesforce", reason=message)
        refresh(service)
        raise Conflict(message) from None
    now = utcnow()
    with service.store.session() as s:
        c = service._connector(s, for_update=True)
        c.state, c.state_since, c.state_reason = "paused", now, None
        c.paused_at, c.paused_by, c.paused_reason = now, principal.who, reason
        audit.record(s, principal, "pause", "ok", c.business_unit_id, engine="salesforce", reason=reason)
    service._changed()
    service._notify("paused", {"by": principal.who, "reason": reason, "engine": "salesforce", "note": PAUSE_NOTE})
    return {**service.status(principal), "notice": "Salesforce's connector paused. " + PAUSE_NOTE}


def build_checklist(s, c: Connector) -> dict:
    """R37: what the Connector API shows is checked; the rest is listed with its Setup path."""
    snap = (c.checks or {}).get("native") or {}
    items = []

    def item(key, title, result, reason):
        items.append({"key": key, "title": title, "result": result, "reason": reason})

    at = snap.get("read_at") or "never"
    if snap.get("present") is None:
        item("pardot_credentials", "Pardot credentials and Connector API access", "fail",
             snap.get("error") or "not read yet: the next health check reads it")
    else:
        item("pardot_credentials", "Pardot credentials and Connector API access", "pass", f"read at {at}")
    if snap.get("present"):
        item("connector_version", "Connector version known", "pass" if snap.get("version") == 2 else "fail",
             f"Salesforce's connector v{snap.get('version')}" + ("" if snap.get("version") == 2 else
                                                                 "; unpause works on v2 only"))
        item("connector_verified", "Salesforce's connector verified", "pass" if snap.get("verified") else "fail",
             "verified" if snap.get("verified") else "not verified: Account Engagement Settings > Connectors > "
                                                    "Salesforce > Verify Now")
        item("connector_paused", "Salesforce's connector is paused", "pass" if snap.get("paused") else "warn",
             "paused" if snap.get("paused") else "it is running already")
    else:
        item("connector_version", "Connector version known", "fail", snap.get("error") or "no connector")
    stalled_or_creds = s.scalar(select(func.count()).select_from(SyncError).where(
        SyncError.connector_id == c.id, SyncError.direction == CONNECTOR_WIDE,
        SyncError.status.in_(("open", "retrying")))) or 0
    item("connector_alerts", "No open connector-wide alert", "warn" if stalled_or_creds else "pass",
         f"{stalled_or_creds} open (stalled/credentials)" if stalled_or_creds else "none open")
    for key, title, path in BY_HAND:
        item(key, title, "warn", f"check by hand: {path}")
    item("error_queue_owner", "Sync error queue owner set", "pass" if c.error_queue_owner else "fail",
         f"warnings go to {c.error_queue_owner}" if c.error_queue_owner
         else "nobody monitors the sync warnings; set error_queue_owner")
    return {"passed": not any(i["result"] == "fail" for i in items), "items": items,
            "checked_at": _iso(utcnow())}


def run_unpause(rt, request_id: int) -> dict:
    """The worker side of an approval (R37): unpause once; a failure leaves the request approved-failed."""
    from .service import _request_dict

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
            c.state, c.state_since, c.state_reason = "active", utcnow(), None
            c.paused_at = c.paused_by = c.paused_reason = None
        else:
            r.outcome = {"unpause": "failed", "reason": reason}
        audit.record(s, SYSTEM, "unpause", "ok" if ok else "failed", f"reactivation:{r.id}", engine="salesforce",
                     reason=reason)
        result = _request_dict(r)
        connector_id = c.id
    rt.redis.delete(status_cache_key(rt.config.pardot_business_unit_id))
    rt.notify("reactivation_unpaused" if ok else "reactivation_failed", result)
    if ok:
        rt.queue.enqueue_cycle(connector_id)
    return {"ok": ok, "request_id": request_id, **({} if ok else {"category": "permission", "message": reason})}


# ---------------------------------------------------------------------- sync health (R38)
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


def _upsert(s, cid: int, direction: str, key: str, category: str, message: str, now: datetime,
            prospect_id=None, crm_id=None, email=None, sobject="Prospect"):
    entry = s.scalars(select(SyncError).where(
        SyncError.connector_id == cid, SyncError.direction == direction, SyncError.record_key == key,
        SyncError.status.in_(("open", "retrying")))).first()
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
    from .service import error_dict

    if not keys:
        return []
    rows = s.scalars(select(SyncError).where(
        SyncError.connector_id == cid, SyncError.direction == direction, SyncError.record_key.in_(keys),
        SyncError.category.in_(categories), SyncError.status.in_(("open", "retrying")))).all()
    for e in rows:
        e.status, e.resolved_at, e.resolved_by = "resolved", utcnow(), "health check"
    s.flush()
    return [error_dict(e) for e in rows]


def _health(rt, cid: int) -> dict:
    from .service import error_dict

    budget = rt.budget()
    before = budget.snapshot()
    now = utcnow()
    with rt.store.session() as s:
        run = CycleRun(connector_id=cid, started_at=now, prospects_synced=False)
        s.add(run)
        s.flush()
        run_id = run.id
        c = s.get(Connector, cid)
        limits = settings_of(c)
        cursor_row = s.get(Cursor, (cid, CURSOR))
        cursor = cursor_row.value if cursor_row else None
    pardot = rt.engine().clients()[1]
    new, resolved, counts, outcome, error = [], [], {"read": 0, "pending": 0}, "ok", None
    threshold = timedelta(seconds=float(limits["health_threshold_seconds"]))
    try:
        # Call 1: the connector itself.
        try:
            found = read_connector(pardot)
            view = {"present": found is not None, **(found or {}), "error": None if found else
                    "this business unit has no Salesforce connector (Pardot's Connector API answers 404)"}
        except RemoteCallError as exc:
            if exc.error.category not in ("auth", "permission"):
                raise
            view = {"present": None, "error": plain_refusal(exc, "read")}
        wide = {}  # category -> message, for the connector-wide alerts that hold now
        if view["present"] is None:
            wide["credentials"] = view["error"]
        elif not view["present"]:
            wide["stalled"] = view["error"]
        else:
            if not view["verified"]:
                wide["credentials"] = ("Salesforce's connector is not verified: its credentials no longer work. "
                                       "Re-verify in Account Engagement Settings > Connectors > Salesforce.")
            stall = timedelta(seconds=float(limits["stall_after_seconds"]))
            last = view.get("last_synced_at")
            if not view["paused"] and (last is None or now - last > stall):
                wide["stalled"] = (f"Salesforce's connector last synced at {iso(last) or 'never'}, over "
                                   f"{int(stall.total_seconds())} s ago, while not paused: it has stopped syncing.")
        # Per-record warnings only while it runs and syncs: a connector-wide alert already explains the rest.
        running = bool(view.get("present")) and not view.get("paused") and not wide

        # Call 2 (and more only when over a page changed): prospects changed since the last check.
        seen, newest = [], cursor
        if view.get("present"):
            filters = {"updatedAtAfterOrEqualTo": pardot_datetime(cursor)} if cursor else {}
            for raw in pardot.query("prospects", PROSPECT_FIELDS, deleted="all", orderBy="updatedAt", **filters):
                seen.append(raw)
        counts["read"] = len(seen)
        # Call 3: Pardot users changed since the last check: people's roles (R33) on this engine too.
        with rt.store.session() as s:
            users_row = s.get(Cursor, (cid, "pardot:users"))
            users_since = {"updatedAtAfterOrEqualTo": pardot_datetime(users_row.value)} if users_row else {}
        users = list(pardot.query("users", PARDOT_USER_FIELDS, deleted="all", **users_since))
        if users:
            with rt.store.session() as s:
                newest_user = sync_pardot_users(s, cid, iter(users))
                if users_row is None:
                    s.add(Cursor(connector_id=cid, name="pardot:users", value=newest_user))
                else:
                    s.get(Cursor, (cid, "pardot:users")).value = max(newest_user, users_row.value)
            if not users_row or newest_user > users_row.value:
                forget_roles(rt.redis, rt.config.pardot_business_unit_id)

        with rt.store.session() as s:
            c = s.get(Connector, cid, with_for_update=True)
            previous_state = c.state
            _mirror(s, c, view)
            # connector-wide alerts
            for category in ("stalled", "credentials"):
                key = f"connector:{category}"
                if category in wide:
                    entry, fresh = _upsert(s, cid, CONNECTOR_WIDE, key, category, wide[category], now,
                                           sobject="Connector")
                    if fresh:
                        s.flush()
                        new.append(error_dict(entry))
                else:
                    resolved += _resolve(s, cid, CONNECTOR_WIDE, [key], (category,))
            # per record: remember what is out of sync, with the time it first was
            settle = []
            for raw in seen:
                pid = int(raw["id"])
                updated = parse_datetime(raw.get("updatedAt"))
                newest = max(newest, updated) if newest and updated else (updated or newest)
                last = parse_datetime(raw.get("salesforceLastSync"))
                row = s.get(Prospect, (cid, pid))
                if raw.get("isDeleted"):
                    kind = None
                elif raw.get("salesforceId"):
                    kind = None if last is not None and updated is not None and last >= updated else "not_syncing"
                else:
                    kind = "not_created" if raw.get("assignedToId") is not None else None
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
            resolved += _resolve(s, cid, PER_RECORD, settle, ("not_syncing", "not_created"))
            s.flush()
            pending = s.scalars(select(Prospect).where(Prospect.connector_id == cid)).all()
            counts["pending"] = len(pending)
            if running:  # R38: per-record warnings only while the connector runs
                for p in pending:
                    if now - p.updated_at <= threshold:
                        continue
                    kind = (p.values or {}).get("kind")
                    minutes = int((now - p.updated_at).total_seconds() // 60)
                    if kind == "not_syncing":
                        message = (f"prospect {p.prospect_id} changed at {_iso(p.updated_at)} and has not synced to "
                                   f"Salesforce since (last sync {(p.values or {}).get('lastSync') or 'never'}; "
                                   f"{minutes} min, threshold {int(threshold.total_seconds())} s)")
                    else:
                        message = (f"prospect {p.prospect_id} is assigned but has no Salesforce lead or contact "
                                   f"{minutes} min after {_iso(p.updated_at)} (threshold "
                                   f"{int(threshold.total_seconds())} s)")
                    entry, fresh = _upsert(s, cid, PER_RECORD, str(p.prospect_id), kind, message, now,
                                           prospect_id=p.prospect_id, crm_id=p.crm_id, email=p.email)
                    if fresh:
                        s.flush()
                        new.append(error_dict(entry))
            if newest and (cursor is None or newest > cursor):
                row = s.get(Cursor, (cid, CURSOR))
                if row is None:
                    s.add(Cursor(connector_id=cid, name=CURSOR, value=newest))
                else:
                    row.value = newest
            state_now = c.state
        counts.update(new=len(new), resolved=len(resolved), alerts=sorted(wide))
    except RemoteCallError as exc:
        outcome, error = "failed", f"{exc.side}: {exc.error.code}: {exc.error.message}"
        wide, previous_state, state_now, new, resolved = {}, None, None, [], []
    except Exception as exc:  # noqa: BLE001 - the run is recorded as failed; the worker lives on
        log.exception("health check of connector %s crashed", cid)
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        wide, previous_state, state_now, new, resolved = {}, None, None, [], []
    after = budget.snapshot()
    calls = {side: after.get(side, 0) - before.get(side, 0) for side in ("salesforce", "pardot")}
    with rt.store.session() as s:
        run = s.get(CycleRun, run_id)
        run.finished_at, run.outcome, run.error = utcnow(), outcome, error
        run.counts, run.api_calls = {"health": counts}, calls
    rt.redis.delete(status_cache_key(rt.config.pardot_business_unit_id))
    if new:
        rt.notify("sync_errors", {"connector_id": cid, "errors": new})
    if resolved:
        rt.notify("sync_errors_resolved", {"connector_id": cid, "errors": resolved})
    for e in new:
        if e["direction"] == CONNECTOR_WIDE:
            rt.notify("connector_state", {"connector_id": cid, "state": "error", "reason": e["message"],
                                          "previous": previous_state, "engine": "salesforce"})
    for e in resolved:
        if e["direction"] == CONNECTOR_WIDE and not wide:
            rt.notify("connector_state", {"connector_id": cid, "state": "active", "previous": "error",
                                          "reason": f"{e['category']} cleared", "engine": "salesforce"})
            break
    return {"cycle_id": run_id, "engine": "salesforce", "outcome": outcome, "error": error,
            "counts": {"health": counts}, "api_calls": calls, "state": state_now}


def refuse(service, principal, action: str) -> None:
    """R35: a builtin-only command on the salesforce engine: a sentence, audited as refused."""
    with service.store.session() as s:
        audit.record(s, principal, action, "refused", reason="not on the salesforce engine")
    raise Conflict(NOT_APPLICABLE[action])


def is_native(service) -> bool:
    with service.store.session() as s:
        return s.scalar(select(Connector.engine).where(
            Connector.business_unit_id == service.config.pardot_business_unit_id)) == "salesforce"


"""The `salesforce` engine (R35–R38): Salesforce's own connector v2 syncs; we observe and operate it.

The service layer routes here by `Connector.engine`; api/ and bot/ never see the difference.
- version/status show what the Pardot v5 Connector API last said (R36): the health check reads it
  every poll interval, and create, pause and unpause read it too; a request never waits on Pardot;
- pause/unpause are its actions; Pardot's refusals reach the person in plain words (R36);
- reactivation keeps the two-person approval (R31); approval queues one unpause job (R37);
- sync health (R38) and the approved unpause run in the worker: sync/native_health.py.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from . import audit
from .errors import Conflict, Invalid
from .models import Connector, SyncError, utcnow
from .names import ENGINES, HEALTH_CATEGORIES, Engine, State  # noqa: F401 - ENGINES, HEALTH_CATEGORIES: old home
from .remote import RemoteCallError
from .requests import connector_problems
from .serialize import iso as _iso
from .sf_connector import iso, pause_connector, plain_refusal, read_connector

log = logging.getLogger("connector.native")

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


def settings_of(connector: Connector) -> dict:
    return {**HEALTH_DEFAULTS, **{k: v for k, v in (connector.settings or {}).items() if k in HEALTH_DEFAULTS}}


# ---------------------------------------------------------------------- reading the connector
def live(service, connector: Connector | None = None) -> dict:
    """The Connector API's view, never raising: {"present", ..., "error"} (one Pardot call)."""
    try:
        found = read_connector(service.pardot())
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


def mirror(s, c: Connector, view: dict, by: str | None = None) -> None:
    """Keeps the row in step with what Pardot said: version, paused/active, the last snapshot."""
    checks = dict(c.checks or {})
    checks["native"] = _snapshot(view)
    checks["pardot"] = {"ok": view.get("present") is not None, "at": utcnow().isoformat(),
                        "reason": view.get("error")}
    c.checks = checks
    if not view.get("present"):
        return
    c.version = view["version"]
    if view["paused"] and c.state != State.PAUSED:
        c.state, c.state_since, c.state_reason = State.PAUSED, utcnow(), None
        c.paused_at, c.paused_by = c.paused_at or utcnow(), c.paused_by or by or "Salesforce (paused outside this app)"
    elif not view["paused"] and c.state == State.PAUSED:
        c.state, c.state_since, c.state_reason = State.ACTIVE, utcnow(), None
        c.paused_at = c.paused_by = c.paused_reason = None


def refresh(service) -> dict:
    view = live(service)
    with service.store.session() as s:
        c = service._connector(s, for_update=True)
        mirror(s, c, view)
    service._changed()
    return view


def connector_block(view: dict) -> dict:
    return {"name": view.get("name"), "version": view.get("version"), "paused": view.get("paused"),
            "verified": view.get("verified"), "last_synced_at": (iso(view["last_synced_at"])
                                                                 if isinstance(view.get("last_synced_at"), datetime)
                                                                 else view.get("last_synced_at")),
            "present": view.get("present"), "error": view.get("error"), "read_at": view.get("read_at")}


def snapshot(c: Connector) -> dict:
    """What Pardot last said, as the health check (every poll interval), create, pause and the
    approved unpause stored it: version and status never call Pardot on the request's path
    (DESIGN §1), so a slow or failing Pardot cannot hold up `GET /api/v1/connector` or a reply."""
    return (c.checks or {}).get("native") or {"present": None, "read_at": None,
                                              "error": "not read yet: the first health check has not run"}


def open_warnings(s, connector_id: int) -> int:
    return s.scalar(select(func.count()).select_from(SyncError).where(
        SyncError.connector_id == connector_id, SyncError.category.in_(HEALTH_CATEGORIES),
        SyncError.status.in_(("open", "retrying")))) or 0


def version(service, c_id: int) -> dict:
    with service.store.session() as s:
        c = s.get(Connector, c_id)
        return {"salesforce_connector": connector_block(snapshot(c)), "sync_warnings": open_warnings(s, c_id),
                "connector_version": c.version}


def status_fields(service) -> dict:
    """The salesforce engine's part of the status: what the Connector API last said, and our warnings."""
    with service.store.session() as s:
        c = service._connector(s)
        c_id, view = c.id, snapshot(c)
        paused = {"since": _iso(c.paused_at), "by": c.paused_by, "reason": c.paused_reason} \
            if c.state == State.PAUSED else None
        return {"salesforce_connector": connector_block(view), "sync_warnings": open_warnings(s, c_id),
                "connector_version": c.version, "state": c.state, "state_since": _iso(c.state_since),
                "paused": paused}


# ---------------------------------------------------------------------- create
def create(service, principal, version: int = 2, error_queue_owner: str | None = None, **_) -> dict:
    """Operate the org's own connector: it must exist; its version and state come from Pardot."""
    with service.store.session() as s:
        service._require(s, principal, "admin", "create_connector")
        problems = connector_problems(2, "integration", False, error_queue_owner)  # only the owner is ours to set
        if problems:
            service._invalid(s, principal, "create_connector", Invalid("the connector settings are invalid", problems))
        service._refuse_second_connector(s, principal)
    view = live(service)
    if not view.get("present"):
        with service.store.session() as s:
            audit.record(s, principal, "create_connector", "failed", engine="salesforce", reason=view.get("error"))
        raise Conflict("cannot operate Salesforce's connector: " + (view.get("error") or "no connector") +
                       ". Create it in Account Engagement Settings > Connectors, or use engine builtin.")
    now = utcnow()
    with service.store.session() as s:
        c = Connector(business_unit_id=service.config.pardot_business_unit_id, version=view["version"],
                      engine=Engine.SALESFORCE, state=State.PAUSED if view["paused"] else State.ACTIVE,
                      state_since=now,
                      connector_user="integration", ampsea=False, error_queue_owner=error_queue_owner,
                      settings={}, checks={}, created_by=principal.who, created_at=now)
        s.add(c)
        s.flush()
        mirror(s, c, view, by="Salesforce (paused before this app operated it)")
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
        pause_connector(service.pardot())
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
        c.state, c.state_since, c.state_reason = State.PAUSED, now, None
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


def refuse(service, principal, action: str) -> None:
    """R35: a builtin-only command on the salesforce engine: a sentence, audited as refused."""
    with service.store.session() as s:
        audit.record(s, principal, action, "refused", reason="not on the salesforce engine")
    raise Conflict(NOT_APPLICABLE[action])


def is_native(service) -> bool:
    with service.store.session() as s:
        return s.scalar(select(Connector.engine).where(
            Connector.business_unit_id == service.config.pardot_business_unit_id)) == Engine.SALESFORCE


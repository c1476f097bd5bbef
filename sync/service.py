"""The one service layer (DESIGN.md §1): the whole operational surface.

The Slack bot, the REST API and the CLI call these methods and nothing else.
Role checks (R32), validation and the audit log (R34) live here, once."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import __version__, audit, incidents, native, record_state
from .checklist import build_checklist
from .errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from .mapping import DEFAULT_MAPPINGS, Mapping, check_against_describe, parse_mappings
from .models import (ApiToken, AuditEntry, Connector, CycleRun, FieldMapping, Job, MdsRule,
                     PendingChange, ReactivationRequest, SyncError, UserMatch, utcnow)
from .roles import (PARDOT_ROLE_MAP, ROLES, SYSTEM, Principal, at_least, forget_roles, role_cache_key,
                    status_cache_key)

ERROR_CATEGORIES = ("validation", "duplicate", "permission", "deleted", "transient", "limit", "auth",
                    "stalled", "credentials", "not_syncing", "not_created")  # the last four: R38 (sync/native.py)
ERROR_STATUSES = ("open", "retrying", "resolved", "dismissed")
MDS_OBJECTS = ("Lead", "Contact", "Opportunity")
SYNC_OBJECTS = ("Lead", "Contact", "Account")
DEFAULT_SETTINGS = {
    "role_overrides": {},          # email → role; wins over the Pardot role (R33)
    "salesforce_api_share": 0.5,   # share of the org's daily API allocation (R29)
    "pardot_api_share": 0.8,
    "reactivation_ttl_hours": 24,  # R31
    "notify_fold_seconds": 300,
    "crm_id_field": None,          # custom prospect field that carries the CRM id in Pardot (issue 9 item 3)
    "health_threshold_seconds": 900,  # R38, salesforce engine: not_syncing / not_created after this
    "stall_after_seconds": 360,       # R38: stalled when lastSyncedAt is older (3 × 2 min)
}
# Pardot's standard prospect fields: not names of a custom field (the link ones are read-only).
STANDARD_PROSPECT_FIELDS = frozenset(name.lower() for name in (
    "id", "isDeleted", "createdAt", "updatedAt", "createdById", "updatedById", "lastActivityAt", "email",
    "salutation", "firstName", "lastName", "company", "jobTitle", "department", "phone", "fax", "website",
    "addressOne", "addressTwo", "city", "state", "zip", "country", "industry", "annualRevenue", "employees",
    "source", "comments", "optedOut", "isDoNotCall", "isDoNotEmail", "score", "grade", "assignedToId",
    "campaignId", "salesforceId", "salesforceLeadId", "salesforceContactId", "salesforceAccountId",
    "salesforceOwnerId", "salesforceLastSync", "salesforceUrl"))
CUSTOM_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
# What a refused action is called when a refusal is told (never the method name).
ACTION_WORDS = {
    "create_connector": "Creating the connector", "pause": "Pausing the connector",
    "request_reactivation": "Requesting reactivation", "approve_reactivation": "Approving a reactivation",
    "deny_reactivation": "Denying a reactivation", "sync_prospect": "A manual sync of a prospect",
    "send_to_pardot": "Sending a Salesforce record to Pardot", "retry_errors": "Retrying sync errors",
    "dismiss_error": "Dismissing a sync error", "get_settings": "Reading the settings",
    "update_settings": "Changing the settings", "set_field_mappings": "Changing the field mappings",
    "set_mds_rules": "Changing the MDS rules", "create_token": "Creating an API token",
    "revoke_token": "Revoking an API token", "list_tokens": "Listing the API tokens",
    "audit_log": "Reading the audit log",
}
ROLE_CACHE_TTL = 300
STATUS_CACHE_MS = 1000
TOKEN_CACHE_TTL = 300
MAX_JOB_ID = 80  # Job.id's column width
PARDOT_READ_TIMEOUT = 10  # seconds; reading the asker's Pardot user at `create`


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


class Service:
    """Built once per process by the composition root (app.py, the worker, the CLI)."""

    def __init__(self, store, redis, config, queue=None, notifier: Callable[[str, dict], None] | None = None):
        self.store = store
        self.redis = redis
        self.config = config
        self.queue = queue  # sync.jobs.JobQueue; None only in processes that never enqueue
        self.notifier = notifier  # connector-wide events (pause, reactivation) for the bot

    # ------------------------------------------------------------------ helpers
    def _require(self, session: Session, principal: Principal, needed: str, action: str,
                 target: str | None = None) -> None:
        if not at_least(principal.role, needed):
            audit.record(session, principal, action, "refused", target, needed_role=needed)
            session.commit()  # the refusal is audited even though the caller raises
            # Words, not method names: each transport says it in its own terms (the chat names
            # the command typed; `refusal.action` says which action); issue 9 item 14.
            refusal = Forbidden(f"{ACTION_WORDS.get(action, action.replace('_', ' '))} needs the {needed} role; "
                                f"you are {principal.role}", needed)
            refusal.action = action  # not in details: the API shows those
            raise refusal

    def _connector(self, session: Session, for_update: bool = False) -> Connector:
        stmt = select(Connector).where(Connector.business_unit_id == self.config.pardot_business_unit_id)
        if for_update:
            stmt = stmt.with_for_update()
        connector = session.scalars(stmt).first()
        if connector is None:
            raise NotFound("no connector exists for business unit "
                           f"{self.config.pardot_business_unit_id}; an admin creates it first")
        return connector

    def _settings(self, connector: Connector) -> dict:
        return {**DEFAULT_SETTINGS, **(connector.settings or {})}

    def _notify(self, event: str, payload: dict) -> None:
        if self.notifier:
            try:
                self.notifier(event, payload)
            except Exception:  # a failing notification never undoes the action
                pass

    def connector_id(self) -> int:
        with self.store.session() as s:
            return self._connector(s).id

    # ------------------------------------------------------------------ read-only
    def version(self, principal: Principal) -> dict:
        """R32: any role may read the version; the bot asks with its own rights."""
        with self.store.session() as s:
            c = self._connector(s)
            result = {"connector_version": c.version, "business_unit_id": c.business_unit_id,
                      "app_version": __version__, "engine": c.engine}
        if result["engine"] == "salesforce":  # R36: from the Pardot v5 Connector API
            result.update(native.version(self, c.id))
        return result

    def status(self, principal: Principal) -> dict:
        """Cached for a second: dashboards and bots poll it; every change made through this
        service drops the cache, so an actor sees their own change at once."""
        key = status_cache_key(self.config.pardot_business_unit_id)
        cached = self.redis.get(key)
        if cached is not None:
            return json.loads(cached)
        result = self._status()
        self.redis.set(key, json.dumps(result), px=STATUS_CACHE_MS)
        return result

    def _changed(self) -> None:
        self.redis.delete(status_cache_key(self.config.pardot_business_unit_id))

    def _status(self) -> dict:
        # R36: the salesforce engine reads the Connector API first (its own session: no nested writes)
        extra = native.status_fields(self) if native.is_native(self) else None
        with self.store.session() as s:
            c = self._connector(s)
            last = s.scalars(select(CycleRun).where(CycleRun.connector_id == c.id)
                             .order_by(CycleRun.id.desc()).limit(1)).first()
            open_by_cat = dict(s.execute(
                select(SyncError.category, func.count()).where(
                    SyncError.connector_id == c.id, SyncError.status.in_(("open", "retrying")))
                .group_by(SyncError.category)).all())
            backlog = s.scalar(select(func.count()).select_from(PendingChange)
                               .where(PendingChange.connector_id == c.id)) or 0
            pending_requests = s.scalar(select(func.count()).select_from(ReactivationRequest).where(
                ReactivationRequest.connector_id == c.id, ReactivationRequest.status == "pending")) or 0
            rules = s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id)).all()
            next_cycle = self.redis.get(f"connector:{c.id}:next_cycle")
            usage = self.queue.budget_usage(c.id) if self.queue else {}
            return {
                "state": c.state,
                "state_reason": c.state_reason,
                "state_since": _iso(c.state_since),
                "connector_version": c.version,
                "app_version": __version__,
                "business_unit_id": c.business_unit_id,
                "paused": {"since": _iso(c.paused_at), "by": c.paused_by, "reason": c.paused_reason}
                if c.state == "paused" or c.paused_at else None,
                "last_cycle": _cycle_dict(last) if last else None,
                "next_cycle": next_cycle.decode() if next_cycle else None,
                "poll_interval": self.config.poll_interval,
                "backlog": backlog + (self.queue.depth() if self.queue else 0),
                "open_errors": {cat: open_by_cat.get(cat, 0) for cat in ERROR_CATEGORIES},
                "open_errors_total": sum(open_by_cat.values()),
                "api_usage": usage,
                "connector_user": c.connector_user,
                "mds": {"enabled": c.mds_enabled, "rules": [_rule_dict(r) for r in rules]},
                "ampsea": c.ampsea,
                "auto_create_prospects": c.auto_create_prospects,
                "pending_reactivations": pending_requests,
                "error_queue_owner": c.error_queue_owner,
                "engine": c.engine,
            } if extra is None else {**self._status_common(c, last, open_by_cat, pending_requests), **extra}

    def _status_common(self, c, last, open_by_cat, pending_requests) -> dict:
        """The salesforce engine's status: the same keys; no backlog of ours (R36)."""
        return {"state": c.state, "state_reason": c.state_reason, "state_since": _iso(c.state_since),
                "connector_version": c.version, "app_version": __version__, "business_unit_id": c.business_unit_id,
                "paused": None, "last_cycle": _cycle_dict(last) if last else None,
                "next_cycle": (self.redis.get(f"connector:{c.id}:next_cycle") or b"").decode() or None,
                "poll_interval": self.config.poll_interval, "backlog": 0,
                "open_errors": {cat: open_by_cat.get(cat, 0) for cat in ERROR_CATEGORIES},
                "open_errors_total": sum(open_by_cat.values()), "api_usage": {},
                "connector_user": c.connector_user, "mds": {"enabled": False, "rules": []}, "ampsea": c.ampsea,
                "auto_create_prospects": c.auto_create_prospects, "pending_reactivations": pending_requests,
                "error_queue_owner": c.error_queue_owner, "engine": c.engine}

    def recent_cycles(self, principal: Principal, limit: int = 5) -> list[dict]:
        limit = max(1, min(int(limit), 50))
        with self.store.session() as s:
            c = self._connector(s)
            return [_cycle_dict(r) for r in s.scalars(select(CycleRun).where(CycleRun.connector_id == c.id)
                                                      .order_by(CycleRun.id.desc()).limit(limit))]

    def checklist(self, principal: Principal) -> dict:
        with self.store.session() as s:
            c = self._connector(s)
            return self._checklist_of(s, c)

    def _checklist_of(self, s: Session, c: Connector) -> dict:
        return native.build_checklist(s, c) if c.engine == "salesforce" else build_checklist(s, c, self.config)

    def whoami(self, principal: Principal) -> dict:
        return {"who": principal.who, "role": principal.role, "source": principal.role_source,
                "channel": principal.channel}

    # ------------------------------------------------------------------ roles (R33)
    def resolve_role(self, email: str | None, channel: str = "slack", read_pardot: bool = False) -> Principal:
        """The role of a person by email: override list, then Pardot user role, else viewer.

        read_pardot: before any connector exists (or its first cycle) no Pardot users have been
        synced, so `create` asks Pardot itself about an unknown email (one bounded call; the
        chat transports make it after acknowledging Slack, never on the 3 s path)."""
        who = (email or "").strip().lower()
        if not who:
            return Principal("unknown", "viewer", channel, "no email known: viewer")
        cache_key = role_cache_key(self.config.pardot_business_unit_id, who)
        cached = None if read_pardot else self.redis.get(cache_key)
        if cached:
            role, _, source = cached.decode().partition("|")
            return Principal(who, role, channel, source)
        with self.store.session() as s:
            connector = s.scalars(select(Connector).where(
                Connector.business_unit_id == self.config.pardot_business_unit_id)).first()
            overrides = self._settings(connector)["role_overrides"] if connector else {}
            if who in overrides:
                role, source = overrides[who], "override list in the connector settings"
            else:
                match = s.scalars(select(UserMatch).where(
                    UserMatch.connector_id == (connector.id if connector else -1),
                    UserMatch.email == who)).first()
                if match and match.pardot_role:
                    role = PARDOT_ROLE_MAP.get(match.pardot_role.lower(), "viewer")
                    source = f"Pardot user role {match.pardot_role}"
                else:
                    role, source = "viewer", "no Pardot user with this email"
            # Once a cycle has read the Pardot users, the store is the answer (and a stranger's
            # repeated `create` costs no Pardot call).
            unsynced = read_pardot and not s.scalar(select(func.count()).select_from(UserMatch).where(
                UserMatch.connector_id == (connector.id if connector else -1)))
        if unsynced and source == "no Pardot user with this email":
            try:
                pardot_role = self._pardot_user_role(who)
            except Exception as exc:  # noqa: BLE001 - the refusal below says Pardot could not be asked
                if incidents.is_outage(exc):
                    raise
                _, reason, incident = incidents.describe(exc, "reading the Pardot users at create")
                return Principal(who, role, channel, f"{source}; the Pardot users could not be read "
                                                     f"({reason}, incident {incident})")
            if pardot_role:
                role = PARDOT_ROLE_MAP.get(pardot_role.lower(), "viewer")
                source = f"Pardot user role {pardot_role} (read from Pardot: not synced yet)"
        self.redis.set(cache_key, f"{role}|{source}", ex=ROLE_CACHE_TTL)
        return Principal(who, role, channel, source)

    def _pardot_user_role(self, email: str) -> str | None:
        """The Pardot user role of `email`, read from Pardot with short timeouts (a bounded call)."""
        from .budget import Budget
        from .http import make_session
        from .pardot import PardotClient
        from .remote import RetryPolicy
        from .salesforce import SalesforceClient

        budget = Budget(self.redis, f"budget:{self.config.pardot_business_unit_id}")
        once = RetryPolicy(attempts=2, initial=0.5, maximum=1.0)
        sf = SalesforceClient(self.config, budget, session=make_session(self.config.tls_verify), retry=once,
                              timeout=PARDOT_READ_TIMEOUT)
        pardot = PardotClient(self.config, sf.access_token, sf.reauthenticate, self.redis, budget,
                              session=make_session(self.config.tls_verify), transient_retry=once,
                              timeout=PARDOT_READ_TIMEOUT)
        for user in pardot.query("users", ["id", "email", "roleName"], email=email):
            if (user.get("email") or "").strip().lower() == email:
                return user.get("roleName")
        return None

    def forget_roles(self) -> None:
        forget_roles(self.redis, self.config.pardot_business_unit_id)

    # ------------------------------------------------------------------ connector (R1–R3)
    def create_connector(self, principal: Principal, version: int = 2, connector_user: str = "integration",
                         ampsea: bool = False, error_queue_owner: str | None = None, engine: str = "builtin") -> dict:
        if engine not in native.ENGINES:  # R35
            with self.store.session() as s:
                self._require(s, principal, "admin", "create_connector")
                audit.record(s, principal, "create_connector", "failed", details={"engine": engine})
            raise Invalid("the connector settings are invalid", {"engine": "must be builtin or salesforce"})
        if engine == "salesforce":
            return native.create(self, principal, version=version, error_queue_owner=error_queue_owner)
        with self.store.session() as s:
            self._require(s, principal, "admin", "create_connector")
            problems = {}
            if version not in (1, 2):
                problems["version"] = "must be 1 or 2"
            if not isinstance(connector_user, str) or not connector_user.strip():
                problems["connector_user"] = "must be 'integration' or a Salesforce username"
            if not isinstance(ampsea, bool):
                problems["ampsea"] = "must be true or false"
            if error_queue_owner is not None and not _slack_target(error_queue_owner):
                problems["error_queue_owner"] = "must be a Slack channel (#name, C… or G…) or a Slack user id (U… or W…)"
            if problems:
                audit.record(s, principal, "create_connector", "failed", details=problems)
                s.commit()
                raise Invalid("the connector settings are invalid", problems)
            existing = s.scalars(select(Connector).where(
                Connector.business_unit_id == self.config.pardot_business_unit_id)).first()
            if existing:
                audit.record(s, principal, "create_connector", "failed", existing.business_unit_id,
                             reason="exists")
                s.commit()
                raise Conflict(f"a connector already exists for business unit {existing.business_unit_id} "
                               "(one connector per business unit, R2)")
            now = utcnow()
            # R1: v2 starts paused so an admin reviews the checklist before records flow.
            state = "paused" if version == 2 else "active"
            c = Connector(business_unit_id=self.config.pardot_business_unit_id, version=version, state=state,
                          state_since=now, connector_user=connector_user.strip(), ampsea=ampsea,
                          error_queue_owner=error_queue_owner, settings={}, checks={},
                          created_by=principal.who, created_at=now,
                          paused_at=now if state == "paused" else None,
                          paused_by=principal.who if state == "paused" else None,
                          paused_reason="created paused (connector v2)" if state == "paused" else None)
            s.add(c)
            s.flush()
            for m in DEFAULT_MAPPINGS:  # R16
                s.add(FieldMapping(connector_id=c.id, **m.as_dict()))
            audit.record(s, principal, "create_connector", "ok", c.business_unit_id,
                         version=version, connector_user=c.connector_user, state=state)
            connector_id = c.id
        self._changed()
        if self.queue:
            self.queue.enqueue_cycle(connector_id)  # verifies credentials and syncs metadata at once
        result = self.status(principal)
        notice = native.suggestion(self)  # R35: Salesforce's connector v2 already syncs this business unit
        return {**result, "notice": notice} if notice else result

    # ------------------------------------------------------------------ pause / reactivation (R7, R31)
    def pause(self, principal: Principal, reason: str | None = None) -> dict:
        reason = (reason or "").strip() or None
        if native.is_native(self):  # R36: Pardot's pause action
            return native.pause(self, principal, reason)
        with self.store.session() as s:
            self._require(s, principal, "admin", "pause")
            c = self._connector(s, for_update=True)
            if c.state == "paused":
                audit.record(s, principal, "pause", "failed", c.business_unit_id, reason="already paused")
                s.commit()
                raise Conflict(f"the connector is already paused (since {_iso(c.paused_at)}, by {c.paused_by})")
            now = utcnow()
            c.state, c.state_since, c.state_reason = "paused", now, None
            c.paused_at, c.paused_by, c.paused_reason = now, principal.who, reason
            audit.record(s, principal, "pause", "ok", c.business_unit_id, reason=reason)
        self._changed()
        self._notify("paused", {"by": principal.who, "reason": reason})
        return self.status(principal)

    def _expire_requests(self, s: Session, connector: Connector) -> list[ReactivationRequest]:
        expired = s.scalars(select(ReactivationRequest).where(
            ReactivationRequest.connector_id == connector.id, ReactivationRequest.status == "pending",
            ReactivationRequest.expires_at <= utcnow())).all()
        for r in expired:
            r.status, r.decided_at = "expired", utcnow()
            audit.record(s, SYSTEM, "reactivation_expired", "ok", f"reactivation:{r.id}")
        return expired

    def expire_reactivations(self) -> list[dict]:
        with self.store.session() as s:
            c = self._connector(s)
            expired = [_request_dict(r) for r in self._expire_requests(s, c)]
        if expired:
            self._changed()
        for r in expired:
            self._notify("reactivation_expired", r)
        return expired

    def request_reactivation(self, principal: Principal, note: str | None = None) -> dict:
        if native.is_native(self):
            native.refresh(self)  # paused or not, as Salesforce's connector says now (R37)
        with self.store.session() as s:
            self._require(s, principal, "operator", "request_reactivation")
            c = self._connector(s, for_update=True)
            self._expire_requests(s, c)
            if c.state != "paused":
                audit.record(s, principal, "request_reactivation", "failed", c.business_unit_id,
                             reason=f"state is {c.state}")
                s.commit()
                raise Conflict(f"the connector is not paused (it is {c.state}); nothing to reactivate")
            pending = s.scalars(select(ReactivationRequest).where(
                ReactivationRequest.connector_id == c.id, ReactivationRequest.status == "pending")).first()
            if pending:
                audit.record(s, principal, "request_reactivation", "failed", f"reactivation:{pending.id}",
                             reason="a request is already pending")
                s.commit()
                raise Conflict(f"reactivation request #{pending.id} by {pending.requested_by} is already "
                               "pending approval")
            ttl = float(self._settings(c)["reactivation_ttl_hours"])
            checklist = self._checklist_of(s, c)
            r = ReactivationRequest(connector_id=c.id, requested_by=principal.who,
                                    requested_via=principal.channel, note=(note or "").strip() or None,
                                    expires_at=utcnow() + timedelta(hours=ttl), checklist=checklist)
            s.add(r)
            s.flush()
            audit.record(s, principal, "request_reactivation", "ok", f"reactivation:{r.id}", note=r.note)
            result = _request_dict(r)
        self._changed()
        self._notify("reactivation_requested", result)
        return result

    def list_reactivations(self, principal: Principal, status: str | None = None) -> list[dict]:
        if status and status not in ("pending", "approved", "denied", "expired"):
            raise Invalid("unknown status", {"status": "must be pending, approved, denied or expired"})
        with self.store.session() as s:
            c = self._connector(s)
            self._expire_requests(s, c)
            stmt = select(ReactivationRequest).where(ReactivationRequest.connector_id == c.id)
            if status:
                stmt = stmt.where(ReactivationRequest.status == status)
            return [_request_dict(r) for r in s.scalars(stmt.order_by(ReactivationRequest.id.desc()).limit(100))]

    def get_reactivation(self, principal: Principal, request_id: int) -> dict:
        with self.store.session() as s:
            c = self._connector(s)
            self._expire_requests(s, c)
            r = s.get(ReactivationRequest, request_id)
            if r is None or r.connector_id != c.id:
                raise NotFound(f"no reactivation request #{request_id}")
            return _request_dict(r)

    def _decide(self, principal: Principal, request_id: int, approve: bool, reason: str | None) -> dict:
        action = "approve_reactivation" if approve else "deny_reactivation"
        target = f"reactivation:{request_id}"
        with self.store.session() as s:
            self._require(s, principal, "admin", action, target)
            c = self._connector(s, for_update=True)
            self._expire_requests(s, c)
            r = s.get(ReactivationRequest, request_id)
            if r is None or r.connector_id != c.id:
                raise NotFound(f"no reactivation request #{request_id}")

            def refuse(message: str, exc=Conflict):
                audit.record(s, principal, action, "refused", target, reason=message)
                s.commit()
                raise exc(message)

            if r.status != "pending":
                refuse(f"request #{r.id} is {r.status}, not pending")
            if r.requested_by == principal.who:
                refuse("you filed this request; a different admin must decide it (R31)")
            if approve:
                checklist = self._checklist_of(s, c)
                failing = [i for i in checklist["items"] if i["result"] == "fail"]
                if failing:
                    r.checklist = checklist
                    refuse("the pre-reactivation checklist fails: " +
                           "; ".join(f"{i['title']}: {i['reason']}" for i in failing))
                r.checklist = checklist
            r.status = "approved" if approve else "denied"
            r.decided_by, r.decided_at, r.reason = principal.who, utcnow(), (reason or "").strip() or None
            unpause = approve and c.engine == "salesforce"
            if unpause:  # R37: Pardot's unpause, once, from a worker job
                r.outcome = {"unpause": "queued"}
            elif approve:
                c.state, c.state_since, c.state_reason = "active", utcnow(), None
                c.paused_at = c.paused_by = c.paused_reason = None
            audit.record(s, principal, action, "ok", target, reason=r.reason)
            result = _request_dict(r)
            connector_id = c.id
        self._changed()
        self._notify("reactivation_approved" if approve else "reactivation_denied", result)
        if unpause and self.queue:
            self.queue.start_job(connector_id, "native_unpause", {"request_id": request_id}, principal, {})
        elif approve and self.queue:
            self.queue.enqueue_cycle(connector_id)  # R7: catch up on what changed while paused
        return result

    def set_reactivation_message(self, request_id: int, channel: str, ts: str) -> None:
        """Remember the chat message of a request so later decisions can update it."""
        with self.store.session() as s:
            r = s.get(ReactivationRequest, request_id)
            if r is None:
                raise NotFound(f"no reactivation request #{request_id}")
            r.slack_channel, r.slack_ts = channel, ts

    def approve_reactivation(self, principal: Principal, request_id: int) -> dict:
        return self._decide(principal, request_id, True, None)

    def deny_reactivation(self, principal: Principal, request_id: int, reason: str | None = None) -> dict:
        return self._decide(principal, request_id, False, reason)

    # ------------------------------------------------------------------ manual syncs (R6) and jobs
    def sync_prospect(self, principal: Principal, prospect_id: int | str | None = None,
                      email: str | None = None, notify: dict | None = None) -> dict:
        """"Sync with CRM" for one prospect, also while paused (R6)."""
        if native.is_native(self):  # R35: a sentence saying why and where to go instead
            native.refuse(self, principal, "sync_prospect")
        problems = {}
        if (prospect_id is None) == (email is None):
            problems["prospect"] = "give exactly one of prospect_id or email"
        if prospect_id is not None:
            try:
                prospect_id = int(prospect_id)
                if prospect_id <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                problems["prospect_id"] = f"{prospect_id!r} is not a Pardot prospect id (a positive number)"
        if email is not None and (not isinstance(email, str) or "@" not in email):
            problems["email"] = f"{email!r} is not an email address"
        return self._start_job(principal, "sync_prospect", "operator", problems,
                               {"prospect_id": prospect_id} if prospect_id is not None
                               else {"email": (email or "").strip().lower()}, notify)

    def send_to_pardot(self, principal: Principal, sobject: str, crm_id: str, notify: dict | None = None) -> dict:
        """"Send to Pardot" for one lead, contact or person account, also while paused (R6)."""
        if native.is_native(self):  # R35: a sentence saying why and where to go instead
            native.refuse(self, principal, "send_to_pardot")
        problems = {}
        canonical = {o.lower(): o for o in SYNC_OBJECTS}.get(str(sobject or "").lower())
        if not canonical:
            problems["object"] = f"{sobject!r} is not one of Lead, Contact, Account"
        prefix = {"Lead": "00Q", "Contact": "003", "Account": "001"}.get(canonical or "")
        if not isinstance(crm_id, str) or len(crm_id) not in (15, 18) or not crm_id.isalnum():
            problems["id"] = f"{crm_id!r} is not a 15- or 18-character Salesforce id"
        elif prefix and not crm_id.startswith(prefix):
            problems["id"] = f"{crm_id} is not a {canonical} id (those start with {prefix})"
        return self._start_job(principal, "send_to_pardot", "operator", problems,
                               {"sobject": canonical, "crm_id": crm_id}, notify)

    def _start_job(self, principal: Principal, kind: str, needed: str, problems: dict, params: dict,
                   notify: dict | None) -> dict:
        with self.store.session() as s:
            self._require(s, principal, needed, kind)
            if problems:
                audit.record(s, principal, kind, "failed", details=problems)
                s.commit()
                raise Invalid("; ".join(problems.values()), problems)
            c = self._connector(s)
        if self.queue is None:
            raise Conflict("this process cannot start jobs (no queue configured)")
        job, fresh = self.queue.start_job(c.id, kind, params, principal, notify or {})
        self._changed()
        with self.store.session() as s:
            audit.record(s, principal, kind, "ok", f"job:{job['id']}", reused=not fresh, **params)
        return job

    def get_job(self, principal: Principal, job_id: str) -> dict:
        # Ids we issue are short and printable; anything else (NUL, megabytes) names no job and
        # must not reach the database (PostgreSQL refuses NUL in text).
        if not isinstance(job_id, str) or not 0 < len(job_id) <= MAX_JOB_ID or not job_id.isprintable():
            raise NotFound("no job with that id (job ids are short and printable)")
        with self.store.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFound(f"no job {job_id}")
            return _job_dict(job)

    # ------------------------------------------------------------------ one record's sync state (issue 9 item 3)
    def prospect_sync_state(self, principal: Principal, prospect_id) -> dict:
        """The link, state, last sync each way and open errors of one prospect, from the store (R32: viewer)."""
        return self._record_state(principal, "pardot", record_state.parse_prospect_id(prospect_id), "Prospect")

    def crm_record_sync_state(self, principal: Principal, crm_id) -> dict:
        """The same for a Salesforce lead, contact or person account (15- or 18-character id)."""
        return self._record_state(principal, "salesforce", record_state.parse_crm_id(crm_id), "Salesforce record")

    def _record_state(self, principal: Principal, side: str, record_id, label: str) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "viewer", "sync_status", str(record_id))
            result = record_state.read_state(s, self._connector(s), side, record_id)
        if result is None:
            raise NotFound(f"{label} {record_id} not found: the connector has never seen it")
        return result

    # ------------------------------------------------------------------ the error queue (R25–R27)
    def list_errors(self, principal: Principal, status: str | None = "open", category: str | None = None,
                    sobject: str | None = None, since: datetime | str | None = None,
                    cursor: int | str | None = None, limit: int = 50) -> dict:
        problems = {}
        statuses = ERROR_STATUSES if status in (None, "all") else (status,)
        if status not in (None, "all") and status not in ERROR_STATUSES:
            problems["status"] = f"{status!r} is not one of {', '.join(ERROR_STATUSES)} or all"
        if category is not None and category not in ERROR_CATEGORIES:
            problems["category"] = f"{category!r} is not one of {', '.join(ERROR_CATEGORIES)}"
        if sobject is not None and sobject not in ("Lead", "Contact", "Account", "Prospect"):
            problems["object"] = f"{sobject!r} is not one of Lead, Contact, Account, Prospect"
        if isinstance(since, str):
            try:
                since = datetime.fromisoformat(since.replace("Z", "+00:00"))
                if since.tzinfo is None:
                    since = since.replace(tzinfo=timezone.utc)
            except ValueError:
                problems["since"] = f"{since!r} is not an ISO 8601 date-time"
        try:
            cursor = int(cursor) if cursor not in (None, "") else None
            if cursor is not None and not 0 < cursor < 2 ** 31:
                raise ValueError
        except (TypeError, ValueError):
            problems["cursor"] = "is not a cursor this API returned"
        try:
            limit = int(limit)
            if not 1 <= limit <= 200:
                raise ValueError
        except (TypeError, ValueError):
            problems["limit"] = "must be a whole number from 1 to 200"
        if problems:
            raise Invalid("invalid filter: " + "; ".join(f"{k} {v}" for k, v in problems.items()), problems)
        with self.store.session() as s:
            c = self._connector(s)
            stmt = select(SyncError).where(SyncError.connector_id == c.id, SyncError.status.in_(statuses))
            if category:
                stmt = stmt.where(SyncError.category == category)
            if sobject:
                stmt = stmt.where(SyncError.sobject == sobject)
            if since:
                stmt = stmt.where(SyncError.last_seen >= since)
            if cursor:
                stmt = stmt.where(SyncError.id < cursor)
            rows = s.scalars(stmt.order_by(SyncError.id.desc()).limit(limit + 1)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            return {"items": [error_dict(e) for e in rows],
                    "next_cursor": str(rows[-1].id) if more and rows else None}

    def get_error(self, principal: Principal, error_id: int) -> dict:
        with self.store.session() as s:
            e = s.get(SyncError, error_id)
            if e is None or e.connector_id != self._connector(s).id:
                raise NotFound(f"no sync error #{error_id}")
            return error_dict(e)

    def retry_errors(self, principal: Principal, error_id: int | None = None, category: str | None = None,
                     notify: dict | None = None) -> dict:
        """Retry one error or every open error of a category (R27); runs as a job."""
        if native.is_native(self):  # R35: a sentence saying why and where to go instead
            native.refuse(self, principal, "retry_errors")
        problems = {}
        if (error_id is None) == (category is None):
            problems["target"] = "give exactly one of an error id or a category"
        if category is not None and category not in ERROR_CATEGORIES:
            problems["category"] = f"{category!r} is not one of {', '.join(ERROR_CATEGORIES)}"
        with self.store.session() as s:
            self._require(s, principal, "operator", "retry_errors")
            if not problems:
                c = self._connector(s)
                stmt = select(SyncError.id).where(SyncError.connector_id == c.id,
                                                  SyncError.status.in_(("open", "retrying")))
                if error_id is not None:
                    e = s.get(SyncError, error_id) if 0 < error_id < 2 ** 31 else None
                    if e is None or e.connector_id != c.id:
                        audit.record(s, principal, "retry_errors", "failed", f"sync_error:{error_id}",
                                     reason="not found")
                        s.commit()
                        raise NotFound(f"no sync error #{error_id}")
                    if e.status not in ("open", "retrying"):
                        audit.record(s, principal, "retry_errors", "failed", f"sync_error:{error_id}",
                                     reason=e.status)
                        s.commit()
                        raise Conflict(f"sync error #{error_id} is {e.status}; only open errors are retried")
                    stmt = stmt.where(SyncError.id == error_id)
                else:
                    stmt = stmt.where(SyncError.category == category)
                ids = list(s.scalars(stmt))
                if not ids:
                    problems["category"] = f"there are no open {category} errors"
        if problems:
            with self.store.session() as s:
                audit.record(s, principal, "retry_errors", "failed", details=problems)
            raise (Conflict if "category" in problems and category in ERROR_CATEGORIES else Invalid)(
                "; ".join(problems.values()), problems)
        key = {"error_id": error_id} if error_id is not None else {"category": category}
        return self._start_job(principal, "retry_errors", "operator", {}, {**key, "error_ids": ids}, notify)

    def dismiss_error(self, principal: Principal, error_id: int) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "operator", "dismiss_error", f"sync_error:{error_id}")
            e = s.get(SyncError, error_id)
            if e is None or e.connector_id != self._connector(s).id:
                raise NotFound(f"no sync error #{error_id}")
            if e.status in ("resolved", "dismissed"):
                audit.record(s, principal, "dismiss_error", "failed", f"sync_error:{error_id}", reason=e.status)
                s.commit()
                raise Conflict(f"sync error #{error_id} is already {e.status}")
            e.status, e.resolved_at, e.resolved_by, e.next_retry_at = "dismissed", utcnow(), principal.who, None
            audit.record(s, principal, "dismiss_error", "ok", f"sync_error:{error_id}")
            result = error_dict(e)
        self._changed()
        return result

    # ------------------------------------------------------------------ settings
    def get_settings(self, principal: Principal) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "operator", "get_settings")
            c = self._connector(s)
            settings = _settings_dict(c, self._settings(c))
            if not at_least(principal.role, "admin"):  # people's emails: admins only
                del settings["role_overrides"]
            return settings

    def update_settings(self, principal: Principal, changes: dict) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "admin", "update_settings")
            c = self._connector(s, for_update=True)
            problems = _validate_settings(changes, s, c)
            if problems:
                audit.record(s, principal, "update_settings", "failed", details=problems)
                s.commit()
                raise Invalid("invalid settings: " + "; ".join(f"{k} {v}" for k, v in problems.items()), problems)
            extra = dict(c.settings or {})
            for key, value in changes.items():
                if key in ("auto_create_prospects", "follow_email_changes", "error_queue_owner", "connector_user"):
                    setattr(c, key, value)
                elif key == "ampsea":
                    c.ampsea, c.ampsea_reviewed = value, True
                elif key == "role_overrides":
                    extra[key] = {k.strip().lower(): v for k, v in value.items()}
                else:
                    extra[key] = value
            c.settings = extra
            audit.record(s, principal, "update_settings", "ok", c.business_unit_id, changes=changes)
            result = _settings_dict(c, self._settings(c))
        if "role_overrides" in changes:
            self.forget_roles()
        self._changed()
        return result

    def create_crm_id_field(self, principal: Principal, notify: dict | None = None) -> dict:
        """Creates the custom field named by `crm_id_field` in Pardot, as a job (the web never calls Pardot)."""
        with self.store.session() as s:
            self._require(s, principal, "admin", "create_crm_id_field")
            c = self._connector(s)
            name = self._settings(c).get("crm_id_field")
            if not name:
                audit.record(s, principal, "create_crm_id_field", "failed", c.business_unit_id,
                             reason="crm_id_field is not set")
                s.commit()
                raise Conflict("no custom field is named: set crm_id_field in the settings first")
        return self._start_job(principal, "create_crm_id_field", "admin", {}, {"field_id": name}, notify)

    def get_field_mappings(self, principal: Principal) -> list[dict]:
        with self.store.session() as s:
            c = self._connector(s)
            return [_mapping_of(m).as_dict() for m in
                    s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id)
                              .order_by(FieldMapping.id))]

    def set_field_mappings(self, principal: Principal, items: list) -> list[dict]:
        if native.is_native(self):
            native.refuse(self, principal, "set_field_mappings")
        with self.store.session() as s:
            self._require(s, principal, "admin", "set_field_mappings")
            c = self._connector(s, for_update=True)
            mappings, problems = parse_mappings(items)
            if not problems:
                rules = s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id)).all()
                problems = check_against_describe(mappings, (c.checks or {}).get("describe", {}),
                                                  {r.sobject: r.field for r in rules})
            if problems:
                audit.record(s, principal, "set_field_mappings", "failed", details=problems)
                s.commit()
                raise Invalid("invalid field mappings: " + "; ".join(f"{k}: {v}" for k, v in problems.items()),
                              problems)
            for old in s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id)):
                s.delete(old)
            s.flush()
            for m in mappings:
                s.add(FieldMapping(connector_id=c.id, **m.as_dict()))
            audit.record(s, principal, "set_field_mappings", "ok", c.business_unit_id,
                         fields=[m.pardot_field for m in mappings])
            return [m.as_dict() for m in mappings]

    def get_mds_rules(self, principal: Principal) -> dict:
        with self.store.session() as s:
            c = self._connector(s)
            rules = s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id).order_by(MdsRule.sobject)).all()
            return {"enabled": c.mds_enabled, "rules": [_rule_dict(r) for r in rules]}

    def set_mds_rules(self, principal: Principal, enabled: bool, rules: list) -> dict:
        """R22, R23: one equals-rule per object, only while paused, only by an admin."""
        if native.is_native(self):
            native.refuse(self, principal, "set_mds_rules")
        with self.store.session() as s:
            self._require(s, principal, "admin", "set_mds_rules")
            c = self._connector(s, for_update=True)

            def fail(message, problems, exc=Invalid):
                audit.record(s, principal, "set_mds_rules", "failed", details=problems)
                s.commit()
                raise exc(message, problems)

            if c.state != "paused":
                fail("MDS rules change only while the connector is paused (R23); pause it first",
                     {"state": c.state}, Conflict)
            if c.version != 2:
                fail("MDS is available on connector version 2 only (R1, R22)", {"version": c.version}, Conflict)
            problems, parsed = _parse_mds(enabled, rules, s, c)
            if problems:
                fail("invalid MDS rules: " + "; ".join(f"{k} {v}" for k, v in problems.items()), problems)
            for old in s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id)):
                s.delete(old)
            s.flush()
            for sobject, field, value in parsed:
                s.add(MdsRule(connector_id=c.id, sobject=sobject, field=field, value=value))
            c.mds_enabled = enabled
            audit.record(s, principal, "set_mds_rules", "ok", c.business_unit_id, enabled=enabled,
                         rules=[{"object": o, "field": f, "value": v} for o, f, v in parsed])
        self._changed()
        return self.get_mds_rules(principal)

    # ------------------------------------------------------------------ API tokens (admin)
    def create_token(self, principal: Principal, name: str, role: str) -> dict:
        """The secret is returned once and stored only as a SHA-256 hash."""
        problems = {}
        name = (name or "").strip()
        if not name or len(name) > 80 or not all(ch.isalnum() or ch in "-_." for ch in name):
            problems["name"] = "must be 1-80 letters, digits, '-', '_' or '.'"
        if role not in ROLES:
            problems["role"] = f"{role!r} is not one of {', '.join(ROLES)}"
        with self.store.session() as s:
            self._require(s, principal, "admin", "create_token", name)
            if not problems and s.scalars(select(ApiToken).where(ApiToken.name == name)).first():
                problems["name"] = f"a token named {name!r} exists; revoke it first"
            if problems:
                audit.record(s, principal, "create_token", "failed", name, details=problems)
                s.commit()
                raise Invalid("; ".join(problems.values()), problems)
            secret = "pct_" + secrets.token_urlsafe(32)
            s.add(ApiToken(name=name, role=role, token_hash=_hash(secret), prefix=secret[:8],
                           created_by=principal.who))
            audit.record(s, principal, "create_token", "ok", name, role=role)
        return {"name": name, "role": role, "token": secret}

    def revoke_token(self, principal: Principal, name: str) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "admin", "revoke_token", name)
            t = s.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first()
            if t is None:
                audit.record(s, principal, "revoke_token", "failed", name, reason="no such active token")
                s.commit()
                raise NotFound(f"no active token named {name!r}")
            t.revoked_at = utcnow()
            self.redis.delete(f"apitoken:{t.token_hash}")  # revocation takes effect at once
            audit.record(s, principal, "revoke_token", "ok", name)
            return {"name": name, "revoked_at": _iso(t.revoked_at)}

    def list_tokens(self, principal: Principal) -> list[dict]:
        with self.store.session() as s:
            self._require(s, principal, "admin", "list_tokens")
            return [{"name": t.name, "role": t.role, "prefix": t.prefix, "created_at": _iso(t.created_at),
                     "created_by": t.created_by, "revoked_at": _iso(t.revoked_at),
                     "last_used_at": _iso(t.last_used_at)}
                    for t in s.scalars(select(ApiToken).order_by(ApiToken.id))]

    def authenticate_token(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthenticated("missing bearer token")
        digest = _hash(secret)
        cached = self.redis.get(f"apitoken:{digest}")  # keyed by the hash: the secret never reaches Redis
        if cached is not None:
            name, _, role = cached.decode().partition("|")
            return Principal(f"token:{name}", role, "api", "API token role")
        with self.store.session() as s:
            t = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest,
                                                 ApiToken.revoked_at.is_(None))).first()
            if t is None:
                raise Unauthenticated("unknown or revoked token")
            t.last_used_at = utcnow()  # at most once per cache lifetime: hot paths do not write
            name, role = t.name, t.role
        self.redis.set(f"apitoken:{digest}", f"{name}|{role}", ex=TOKEN_CACHE_TTL)
        return Principal(f"token:{name}", role, "api", "API token role")

    def record_refusal(self, principal: Principal, action: str, reason: str) -> None:
        """For refusals decided in an adapter (no or bad token, bad signature…)."""
        with self.store.session() as s:
            audit.record(s, principal, action, "refused", reason=reason)

    # ------------------------------------------------------------------ audit log
    def audit_log(self, principal: Principal, cursor: int | str | None = None, limit: int = 50) -> dict:
        try:
            cursor = int(cursor) if cursor not in (None, "") else None
            limit = int(limit)
            if not 1 <= limit <= 200 or (cursor is not None and not 0 < cursor < 2 ** 31):
                raise ValueError
        except (TypeError, ValueError):
            raise Invalid("bad paging", {"cursor": "must be a cursor this API returned",
                                         "limit": "must be a whole number from 1 to 200"}) from None
        with self.store.session() as s:
            self._require(s, principal, "admin", "audit_log")
            stmt = select(AuditEntry)
            if cursor:
                stmt = stmt.where(AuditEntry.id < cursor)
            rows = s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            return {"items": [{"id": e.id, "at": _iso(e.at), "actor": e.actor, "role": e.role,
                               "channel": e.channel, "action": e.action, "target": e.target,
                               "outcome": e.outcome, "detail": e.detail} for e in rows],
                    "next_cursor": str(rows[-1].id) if more and rows else None}


# ---------------------------------------------------------------------- validation helpers
def _slack_target(value) -> bool:
    """What chat.postMessage can deliver to: #channel, a channel id or a user id."""
    if not isinstance(value, str):
        return False
    value = value.strip()
    if value.startswith("#"):
        return len(value) > 1 and all(ch.isalnum() or ch in "-_." for ch in value[1:])
    return len(value) >= 9 and value[0] in "CGUW" and value.isalnum() and value.isupper()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _validate_settings(changes: Any, s: Session, c: Connector) -> dict:
    if not isinstance(changes, dict) or not changes:
        return {"settings": "must be a non-empty object"}
    problems = {}
    bools = ("auto_create_prospects", "follow_email_changes", "ampsea")
    for key, value in changes.items():
        if key in bools:
            if not isinstance(value, bool):
                problems[key] = "must be true or false"
        elif key == "error_queue_owner":
            if value is not None and not _slack_target(value):
                problems[key] = "must be a Slack channel (#name, C… or G…) or a Slack user id (U… or W…), or null"
        elif key == "connector_user":
            if not isinstance(value, str) or not value.strip():
                problems[key] = "must be 'integration' or a Salesforce username"
            elif c.state != "paused":
                problems[key] = "can change only while the connector is paused"
        elif key in ("salesforce_api_share", "pardot_api_share"):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
                problems[key] = "must be a number above 0 and at most 1"
        elif key == "reactivation_ttl_hours":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 24 * 14:
                problems[key] = "must be a number of hours above 0 and at most 336"
        elif key in ("health_threshold_seconds", "stall_after_seconds"):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 7 * 86400:
                problems[key] = "must be whole seconds from 1 to 604800"
        elif key == "notify_fold_seconds":
            if not isinstance(value, int) or isinstance(value, bool) or not 10 <= value <= 86400:
                problems[key] = "must be whole seconds from 10 to 86400"
        elif key == "crm_id_field":
            if value is not None and (not isinstance(value, str) or not CUSTOM_FIELD_NAME.match(value)):
                problems[key] = ("must be the API name of a Pardot custom prospect field (a letter, then up to 49 "
                                 "letters, digits or underscores, e.g. Salesforce_CRM_Id__c), or null to turn it off")
            elif value is not None and value.lower() in STANDARD_PROSPECT_FIELDS:
                problems[key] = (f"{value} is a standard Pardot prospect field (the Salesforce link fields are "
                                 "read-only); name a custom field")
        elif key == "role_overrides":
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and "@" in k and v in ROLES for k, v in value.items()):
                problems[key] = "must map email addresses to viewer, operator or admin"
        else:
            problems[key] = "is not a setting"
    return problems


def _parse_mds(enabled: Any, rules: Any, s: Session, c: Connector):
    problems, parsed = {}, []
    if not isinstance(enabled, bool):
        problems["enabled"] = "must be true or false"
    if not isinstance(rules, list):
        problems["rules"] = "must be a list"
        return problems, parsed
    describe = (c.checks or {}).get("describe", {})
    mapped = set()
    for m in s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id)):
        mapped.update({("Lead", m.lead_field), ("Contact", m.contact_field), ("Account", m.account_field)})
    seen = set()
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(rule, dict) or set(rule) - {"object", "field", "operator", "value"}:
            problems[where] = "must be {object, field, operator, value}"
            continue
        sobject, field, value = rule.get("object"), rule.get("field"), rule.get("value")
        operator = rule.get("operator", "equals")
        if sobject not in MDS_OBJECTS:
            problems[f"{where}.object"] = f"{sobject!r} is not one of Lead, Contact, Opportunity"
            continue
        if sobject in seen:
            problems[f"{where}.object"] = f"{sobject} has more than one rule (one rule per object, R22)"
            continue
        seen.add(sobject)
        if operator != "equals":
            problems[f"{where}.operator"] = "only 'equals' is supported (R22)"
        if not isinstance(field, str) or not field.strip():
            problems[f"{where}.field"] = "must be a Salesforce field name"
            continue
        if describe.get(sobject) and field not in describe[sobject]:
            problems[f"{where}.field"] = f"{sobject}.{field} does not exist"
        elif (sobject, field) in mapped:
            problems[f"{where}.field"] = f"{sobject}.{field} is a mapped field and cannot be the MDS field (R22)"
        if not isinstance(value, str) or value == "":
            problems[f"{where}.value"] = "must be a non-empty string (compared case-sensitively)"
        if not any(k.startswith(where) for k in problems):
            parsed.append((sobject, field.strip(), value))
    if enabled is True and not problems:
        missing = {"Lead", "Contact"} - seen
        if missing:
            problems["rules"] = f"MDS needs rules for both Lead and Contact; missing {', '.join(sorted(missing))}"
    return problems, parsed


# ---------------------------------------------------------------------- serialisers
def _mapping_of(m: FieldMapping) -> Mapping:
    return Mapping(m.pardot_field, m.lead_field, m.contact_field, m.account_field, m.behaviour,
                   m.overwrite_with_empty)


def _rule_dict(r: MdsRule) -> dict:
    return {"object": r.sobject, "field": r.field, "operator": "equals", "value": r.value}


def _settings_dict(c: Connector, extra: dict) -> dict:
    return {"connector_version": c.version, "connector_user": c.connector_user, "ampsea": c.ampsea,
            "ampsea_reviewed": c.ampsea_reviewed, "auto_create_prospects": c.auto_create_prospects,
            "follow_email_changes": c.follow_email_changes, "error_queue_owner": c.error_queue_owner,
            "mds_enabled": c.mds_enabled, **extra}


def _cycle_dict(r: CycleRun) -> dict:
    duration = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
    return {"id": r.id, "started_at": _iso(r.started_at), "finished_at": _iso(r.finished_at),
            "duration_seconds": round(duration, 3) if duration is not None else None,
            "outcome": r.outcome, "prospects_synced": r.prospects_synced, "counts": r.counts,
            "api_calls": r.api_calls, "error": incidents.public_text(r.error, f"cycle {r.id}")}


def _request_dict(r: ReactivationRequest) -> dict:
    return {"id": r.id, "status": r.status, "requested_by": r.requested_by, "requested_via": r.requested_via,
            "requested_at": _iso(r.requested_at), "note": r.note, "expires_at": _iso(r.expires_at),
            "decided_by": r.decided_by, "decided_at": _iso(r.decided_at), "reason": r.reason,
            "checklist": r.checklist, "slack_channel": r.slack_channel, "slack_ts": r.slack_ts,
            "outcome": r.outcome}


def _job_dict(j: Job) -> dict:
    return {"id": j.id, "kind": j.kind, "params": {k: v for k, v in j.params.items() if k != "error_ids"},
            "state": j.state, "outcome": incidents.public_outcome(j.outcome, f"job {j.id}"),
            "requested_by": j.requested_by,
            "created_at": _iso(j.created_at), "ended_at": _iso(j.ended_at)}


def error_dict(e: SyncError) -> dict:
    return {"id": e.id, "direction": e.direction, "object": e.sobject, "prospect_id": e.prospect_id,
            "crm_id": e.crm_id, "email": e.email, "category": e.category, "code": e.code,
            "message": e.message, "first_seen": _iso(e.first_seen), "last_seen": _iso(e.last_seen),
            "attempts": e.attempts, "next_retry_at": _iso(e.next_retry_at), "status": e.status}


job_dict = _job_dict
iso = _iso

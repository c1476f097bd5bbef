"""Connector lifecycle (R1–R3, R7, R36): create, pause, version, status, checklist."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from .. import __version__, audit, native
from ..errors import Conflict, Invalid
from ..mapping import DEFAULT_MAPPINGS
from ..models import Connector, CycleRun, FieldMapping, MdsRule, PendingChange, ReactivationRequest, SyncError, utcnow
from ..names import ENGINES, ERROR_CATEGORIES, Engine, State
from ..requests import connector_problems
from ..roles import Principal, status_cache_key
from ..serialize import cycle_dict, iso, rule_dict
from .base import ServiceBase

STATUS_FRESH_MS = 1000  # a cached status is answered as is for this long…
STATUS_STALE_MS = 1000  # …then for at most this long more while one caller recomputes it


class Lifecycle(ServiceBase):

    def version(self, principal: Principal) -> dict:
        """R32: any role may read the version; the bot asks with its own rights."""
        with self.store.session() as s:
            c = self._connector(s)
            result = {"connector_version": c.version, "business_unit_id": c.business_unit_id,
                      "app_version": __version__, "engine": c.engine}
        if result["engine"] == Engine.SALESFORCE:  # R36: from the Pardot v5 Connector API
            result.update(native.version(self, c.id))
        return result

    def status_cache_keys(self) -> list[str]:
        """The status and its freshness mark; callers that batch Redis reads read both (MGET)."""
        key = status_cache_key(self.config.pardot_business_unit_id)
        return [key, f"{key}:fresh"]

    def status(self, principal: Principal, cached: list | None = None) -> dict:
        """Cached: dashboards and bots poll it. Fresh for a second; then the first caller (in any
        process) to claim the freshness mark recomputes it while the others answer the previous
        one for at most another second, so an expiry under load is one set of SQL reads, not one
        per request in flight (issue 11). Every change made through this service drops the
        cache (_changed), so an actor sees their own change at once. `cached`: the values of
        status_cache_keys() that the caller has just read (the API reads them in the same Redis
        round trip as the token and the rate limit)."""
        key, fresh_key = self.status_cache_keys()
        value, fresh = cached if cached is not None else self.redis.mget(key, fresh_key)
        if value is not None and (fresh is not None or
                                  not self.redis.set(fresh_key, b"1", nx=True, px=STATUS_FRESH_MS)):
            return json.loads(value)
        result = self._status()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, json.dumps(result), px=STATUS_FRESH_MS + STATUS_STALE_MS)
            pipe.set(fresh_key, b"1", px=STATUS_FRESH_MS)
            pipe.execute()
        return result

    def _status(self) -> dict:
        # R36: the salesforce engine reads the Connector API first (its own session: no nested writes)
        extra = native.status_fields(self) if native.is_native(self) else None
        with self.store.session() as s:
            c = self._connector(s)
            common = self._status_common(s, c)
            if extra is not None:  # no backlog, budget or MDS rules of ours (R36)
                return {**common, **extra}
            backlog = s.scalar(select(func.count()).select_from(PendingChange)
                               .where(PendingChange.connector_id == c.id)) or 0
            rules = s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id)).all()
            return {**common,
                    "paused": {"since": iso(c.paused_at), "by": c.paused_by, "reason": c.paused_reason}
                    if c.state == State.PAUSED or c.paused_at else None,
                    "backlog": backlog + (self.queue.depth() if self.queue else 0),
                    "api_usage": self.queue.budget_usage(c.id) if self.queue else {},
                    "mds": {"enabled": c.mds_enabled, "rules": [rule_dict(r) for r in rules]}}

    def _status_common(self, s, c: Connector) -> dict:
        """The keys both engines fill alike; the rest as the salesforce engine shows them."""
        last = s.scalars(select(CycleRun).where(CycleRun.connector_id == c.id)
                         .order_by(CycleRun.id.desc()).limit(1)).first()
        open_by_cat = dict(s.execute(
            select(SyncError.category, func.count()).where(
                SyncError.connector_id == c.id, SyncError.status.in_(("open", "retrying")))
            .group_by(SyncError.category)).all())
        pending_requests = s.scalar(select(func.count()).select_from(ReactivationRequest).where(
            ReactivationRequest.connector_id == c.id, ReactivationRequest.status == "pending")) or 0
        return {"state": c.state, "state_reason": c.state_reason, "state_since": iso(c.state_since),
                "connector_version": c.version, "app_version": __version__, "business_unit_id": c.business_unit_id,
                "paused": None, "last_cycle": cycle_dict(last) if last else None,
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
            return [cycle_dict(r) for r in s.scalars(select(CycleRun).where(CycleRun.connector_id == c.id)
                                                      .order_by(CycleRun.id.desc()).limit(limit))]

    def checklist(self, principal: Principal) -> dict:
        with self.store.session() as s:
            c = self._connector(s)
            return self._checklist_of(s, c)

    def whoami(self, principal: Principal) -> dict:
        return {"who": principal.who, "role": principal.role, "source": principal.role_source,
                "channel": principal.channel}

    def create_connector(self, principal: Principal, version: int = 2, connector_user: str = "integration",
                         ampsea: bool = False, error_queue_owner: str | None = None, engine: str = "builtin") -> dict:
        if engine not in ENGINES:  # R35
            with self.store.session() as s:
                self._require(s, principal, "admin", "create_connector")
                audit.record(s, principal, "create_connector", "failed", details={"engine": engine})
            raise Invalid("the connector settings are invalid", {"engine": "must be builtin or salesforce"})
        if engine == Engine.SALESFORCE:
            return native.create(self, principal, version=version, error_queue_owner=error_queue_owner)
        with self.store.session() as s:
            self._require(s, principal, "admin", "create_connector")
            problems = connector_problems(version, connector_user, ampsea, error_queue_owner)
            if problems:
                self._invalid(s, principal, "create_connector", Invalid("the connector settings are invalid", problems))
            self._refuse_second_connector(s, principal)
            connector_id = self._add_connector(s, principal, version, connector_user.strip(), ampsea,
                                               error_queue_owner)
        self._changed()
        if self.queue:
            self.queue.enqueue_cycle(connector_id)  # verifies credentials and syncs metadata at once
        result = self.status(principal)
        notice = native.suggestion(self)  # R35: Salesforce's connector v2 already syncs this business unit
        return {**result, "notice": notice} if notice else result

    def _refuse_second_connector(self, s, principal: Principal) -> None:
        existing = s.scalars(select(Connector).where(
            Connector.business_unit_id == self.config.pardot_business_unit_id)).first()
        if existing:
            self._refuse(s, principal, "create_connector",
                         Conflict(f"a connector already exists for business unit {existing.business_unit_id} "
                                  "(one connector per business unit, R2)"),
                         existing.business_unit_id, reason="exists")

    def _add_connector(self, s, principal: Principal, version: int, connector_user: str, ampsea: bool,
                       error_queue_owner: str | None) -> int:
        now = utcnow()
        # R1: v2 starts paused so an admin reviews the checklist before records flow.
        state = State.PAUSED if version == 2 else State.ACTIVE
        paused = state == State.PAUSED
        c = Connector(business_unit_id=self.config.pardot_business_unit_id, version=version, state=state,
                      state_since=now, connector_user=connector_user, ampsea=ampsea,
                      error_queue_owner=error_queue_owner, settings={}, checks={},
                      created_by=principal.who, created_at=now,
                      paused_at=now if paused else None, paused_by=principal.who if paused else None,
                      paused_reason="created paused (connector v2)" if paused else None)
        s.add(c)
        s.flush()
        for m in DEFAULT_MAPPINGS:  # R16
            s.add(FieldMapping(connector_id=c.id, **m.as_dict()))
        audit.record(s, principal, "create_connector", "ok", c.business_unit_id,
                     version=version, connector_user=c.connector_user, state=state)
        return c.id

    def pause(self, principal: Principal, reason: str | None = None) -> dict:
        reason = (reason or "").strip() or None
        if native.is_native(self):  # R36: Pardot's pause action
            return native.pause(self, principal, reason)
        with self.store.session() as s:
            self._require(s, principal, "admin", "pause")
            c = self._connector(s, for_update=True)
            if c.state == State.PAUSED:
                self._refuse(s, principal, "pause",
                             Conflict(f"the connector is already paused (since {iso(c.paused_at)}, by {c.paused_by})"),
                             c.business_unit_id, reason="already paused")
            now = utcnow()
            c.state, c.state_since, c.state_reason = State.PAUSED, now, None
            c.paused_at, c.paused_by, c.paused_reason = now, principal.who, reason
            audit.record(s, principal, "pause", "ok", c.business_unit_id, reason=reason)
        self._changed()
        self._notify("paused", {"by": principal.who, "reason": reason})
        return self.status(principal)

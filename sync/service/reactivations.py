"""Reactivation (R7, R31): request, two-person approval, expiry."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit, native
from ..errors import Conflict, Invalid, NotFound
from ..models import Connector, ReactivationRequest, utcnow
from ..names import Engine, State
from ..roles import SYSTEM, Principal
from ..serialize import request_dict
from .base import ServiceBase

REQUEST_STATUSES = ("pending", "approved", "denied", "expired")


class Reactivations(ServiceBase):

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
            expired = [request_dict(r) for r in self._expire_requests(s, c)]
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
            if c.state != State.PAUSED:
                self._refuse(s, principal, "request_reactivation",
                             Conflict(f"the connector is not paused (it is {c.state}); nothing to reactivate"),
                             c.business_unit_id, reason=f"state is {c.state}")
            pending = s.scalars(select(ReactivationRequest).where(
                ReactivationRequest.connector_id == c.id, ReactivationRequest.status == "pending")).first()
            if pending:
                self._refuse(s, principal, "request_reactivation",
                             Conflict(f"reactivation request #{pending.id} by {pending.requested_by} is already "
                                      "pending approval"),
                             f"reactivation:{pending.id}", reason="a request is already pending")
            ttl = float(self._settings(c)["reactivation_ttl_hours"])
            checklist = self._checklist_of(s, c)
            r = ReactivationRequest(connector_id=c.id, requested_by=principal.who,
                                    requested_via=principal.channel, note=(note or "").strip() or None,
                                    expires_at=utcnow() + timedelta(hours=ttl), checklist=checklist)
            s.add(r)
            s.flush()
            audit.record(s, principal, "request_reactivation", "ok", f"reactivation:{r.id}", note=r.note)
            result = request_dict(r)
        self._changed()
        self._notify("reactivation_requested", result)
        return result

    def list_reactivations(self, principal: Principal, status: str | None = None) -> list[dict]:
        if status and status not in REQUEST_STATUSES:
            raise Invalid("unknown status", {"status": "must be pending, approved, denied or expired"})
        with self.store.session() as s:
            c = self._connector(s)
            self._expire_requests(s, c)
            stmt = select(ReactivationRequest).where(ReactivationRequest.connector_id == c.id)
            if status:
                stmt = stmt.where(ReactivationRequest.status == status)
            return [request_dict(r) for r in s.scalars(stmt.order_by(ReactivationRequest.id.desc()).limit(100))]

    def get_reactivation(self, principal: Principal, request_id: int) -> dict:
        with self.store.session() as s:
            c = self._connector(s)
            self._expire_requests(s, c)
            r = s.get(ReactivationRequest, request_id)
            if r is None or r.connector_id != c.id:
                raise NotFound(f"no reactivation request #{request_id}")
            return request_dict(r)

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

            refusal = self._decision_refused(s, c, r, principal, approve)
            if refusal:
                self._refuse(s, principal, action, Conflict(refusal), target, "refused", reason=refusal)
            r.status = "approved" if approve else "denied"
            r.decided_by, r.decided_at, r.reason = principal.who, utcnow(), (reason or "").strip() or None
            unpause = approve and c.engine == Engine.SALESFORCE
            if unpause:  # R37: Pardot's unpause, once, from a worker job
                r.outcome = {"unpause": "queued"}
            elif approve:
                c.state, c.state_since, c.state_reason = State.ACTIVE, utcnow(), None
                c.paused_at = c.paused_by = c.paused_reason = None
            audit.record(s, principal, action, "ok", target, reason=r.reason)
            result = request_dict(r)
            connector_id = c.id
        self._changed()
        self._notify("reactivation_approved" if approve else "reactivation_denied", result)
        if unpause and self.queue:
            self.queue.start_job(connector_id, "native_unpause", {"request_id": request_id}, principal, {})
        elif approve and self.queue:
            self.queue.enqueue_cycle(connector_id)  # R7: catch up on what changed while paused
        return result

    def _decision_refused(self, s: Session, c: Connector, r: ReactivationRequest, principal: Principal,
                          approve: bool) -> str | None:
        """Why this admin may not decide this request now (R31), or None; an approval re-runs the checklist."""
        if r.status != "pending":
            return f"request #{r.id} is {r.status}, not pending"
        if r.requested_by == principal.who:
            return "you filed this request; a different admin must decide it (R31)"
        if not approve:
            return None
        r.checklist = self._checklist_of(s, c)
        failing = [i for i in r.checklist["items"] if i["result"] == "fail"]
        if failing:
            return "the pre-reactivation checklist fails: " + "; ".join(f"{i['title']}: {i['reason']}" for i in failing)
        return None

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

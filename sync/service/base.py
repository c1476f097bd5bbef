"""What every part of the service shares: construction, role checks, refusals, the connector row."""
from __future__ import annotations

from typing import Any, Callable, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit, native
from ..checklist import build_checklist
from ..errors import Forbidden, NotFound, ServiceError
from ..models import Connector
from ..names import Engine
from ..roles import Principal, at_least, status_cache_key

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


class ServiceBase:
    """Built once per process by the composition root (app.py, the worker, the CLI)."""

    def __init__(self, store, redis, config, queue=None, notifier: Callable[[str, dict], None] | None = None,
                 pardot: Callable[[], Any] | None = None):
        self.store = store
        self.redis = redis
        self.config = config
        self.queue = queue  # sync.jobs.JobQueue; None only in processes that never enqueue
        self.notifier = notifier  # connector-wide events (pause, reactivation) for the bot
        self._pardot_client = pardot  # the Pardot client, for the salesforce engine's Connector API calls

    def pardot(self):
        if self._pardot_client is None:
            raise RuntimeError("this service was built without a Pardot client")
        return self._pardot_client()

    # ------------------------------------------------------------------ refusals (R32, R34)
    def _refuse(self, session: Session, principal: Principal, action: str, error: ServiceError,
                target: str | None = None, outcome: str = "failed", **detail: Any) -> NoReturn:
        """Audit a refused or failed action and raise `error`: the commit keeps the audit entry
        although the caller's session rolls back on the raise."""
        audit.record(session, principal, action, outcome, target, **detail)
        session.commit()
        raise error

    def _invalid(self, session: Session, principal: Principal, action: str, error: ServiceError) -> NoReturn:
        """Bad input: audited as failed with the per-field problems."""
        self._refuse(session, principal, action, error, details=error.details)

    def _require(self, session: Session, principal: Principal, needed: str, action: str,
                 target: str | None = None) -> None:
        if not at_least(principal.role, needed):
            # Words, not method names: each transport says it in its own terms (the chat names
            # the command typed; `refusal.action` says which action); issue 9 item 14.
            refusal = Forbidden(f"{ACTION_WORDS.get(action, action.replace('_', ' '))} needs the {needed} role; "
                                f"you are {principal.role}", needed)
            refusal.action = action  # not in details: the API shows those
            self._refuse(session, principal, action, refusal, target, "refused", needed_role=needed)

    # ------------------------------------------------------------------ the connector row
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

    def _checklist_of(self, s: Session, c: Connector) -> dict:
        return native.build_checklist(s, c) if c.engine == Engine.SALESFORCE else build_checklist(s, c, self.config)

    def connector_id(self) -> int:
        with self.store.session() as s:
            return self._connector(s).id

    def _notify(self, event: str, payload: dict) -> None:
        if self.notifier:
            try:
                self.notifier(event, payload)
            except Exception:  # a failing notification never undoes the action
                pass

    def _changed(self) -> None:
        """Every change made through this service drops the status cache: an actor sees it at once."""
        self.redis.delete(status_cache_key(self.config.pardot_business_unit_id))

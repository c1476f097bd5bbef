"""The engine's checks and connector state (R28, R30): what the last cycle learnt about each
side, Salesforce's describe, Pardot's daily allocation, and the state transitions."""
from __future__ import annotations

from datetime import datetime, timedelta

from .models import Connector, utcnow
from .names import SYNC_OBJECTS
from .roles import status_cache_key

DESCRIBE_MAX_AGE = timedelta(hours=24)


class ConnectorState:
    """Engine's checks and state (a mixin: Engine sets store, redis, budget, config and rt)."""

    def _record_checks(self, connector_id: int, side: str, ok: bool, reason: str | None) -> None:
        with self.store.session() as s:
            c = s.get(Connector, connector_id)
            checks = dict(c.checks or {})
            checks[side] = {"ok": ok, "at": utcnow().isoformat(), "reason": reason}
            c.checks = checks

    def _refresh_describe(self, connector: Connector, sf) -> None:
        checks = connector.checks or {}
        at = checks.get("describe_at")
        if checks.get("describe") and at and utcnow() - datetime.fromisoformat(at) < DESCRIBE_MAX_AGE:
            return
        describe = {}
        for sobject in SYNC_OBJECTS + ("Opportunity",):
            d = sf.describe(sobject)
            describe[sobject] = {f["name"]: f["type"] for f in d.get("fields", [])}
        with self.store.session() as s:
            c = s.get(Connector, connector.id)
            checks = dict(c.checks or {})
            checks["describe"], checks["describe_at"] = describe, utcnow().isoformat()
            c.checks = checks
        connector.checks = checks

    def _check_pardot_account(self, pardot) -> None:
        """Once a day, learn Pardot's daily allocation (R29)."""
        key = f"pardot-account:{self.config.pardot_business_unit_id}:{utcnow().date().isoformat()}"
        if self.redis.exists(key):
            return
        account = pardot.account()
        self.budget.observe_pardot(account.get("maximumDailyApiCalls"), account.get("apiCallsUsed"))
        self.redis.set(key, "1", ex=86400)

    def _transition(self, connector_id: int, ok: bool, state: str | None = None, reason: str | None = None):
        """R28: throttled/error are entered at once and left by themselves; paused stays paused.

        degraded (issue 9 item 7: the remote keeps failing or a cycle hangs) is entered only from
        active, told once however often its reason changes, and left by the next good cycle."""
        with self.store.session() as s:
            c = s.get(Connector, connector_id)
            previous = c.state
            if c.state == "paused":
                return
            if state == "degraded" and c.state != "active":
                if c.state == "degraded":
                    c.state_reason = reason  # folded: the channel was told when it began
                return
            if ok and c.state in ("throttled", "error", "degraded"):
                c.state, c.state_reason, c.state_since = "active", None, utcnow()
            elif not ok and (c.state != state or c.state_reason != reason):
                c.state, c.state_reason, c.state_since = state, reason, utcnow()
            else:
                return
            new_state, new_reason = c.state, c.state_reason
        self.redis.delete(status_cache_key(self.config.pardot_business_unit_id))
        self.rt.notify("connector_state", {"connector_id": connector_id, "state": new_state,
                                           "reason": new_reason, "previous": previous})

"""Daily API budgets (R29), shared by every process through Redis.

Each side (salesforce, pardot) counts the connector's own calls per UTC day. The connector may
spend `share` of the side's daily allocation; the allocation comes from the remote itself
(Sforce-Limit-Info header, Pardot `account`). Before any allocation is known, calls are allowed:
the first response tells the maximum. When the remote refuses for its own limit, the side is
blocked until a reset time, so other workers stop calling at once.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from sync.remote import SIDES, BudgetExhausted, RemoteError

DAY_KEY_TTL = 2 * 86400

# KEYS: day counter, total counter, alloc hash, blocked; ARGV: share, day ttl
# -> {used after the call, ""} | {-1, blocked value} | {-2, allowed}
_SPEND = """
local blocked = redis.call('GET', KEYS[4])
if blocked then
  return {-1, blocked}
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local max = tonumber(redis.call('HGET', KEYS[3], 'max') or '')
if max then
  local allowed = math.floor(max * tonumber(ARGV[1]))
  if used >= allowed then
    return {-2, tostring(allowed)}
  end
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('INCR', KEYS[2])
return {used + 1, ''}
"""

_LABEL = {"salesforce": "Salesforce daily API allocation", "pardot": "Pardot daily API limit"}


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)


class Budget:
    def __init__(self, redis, namespace: str, salesforce_share: float = 0.5, pardot_share: float = 0.8):
        self.redis = redis
        self.namespace = namespace
        self.configure(salesforce_share, pardot_share)
        self._spend = redis.register_script(_SPEND)

    def configure(self, salesforce_share: float, pardot_share: float) -> None:
        """Set the connector's shares of each side's daily allocation (connector settings)."""
        shares = {"salesforce": salesforce_share, "pardot": pardot_share}
        for side, share in shares.items():
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise ValueError(f"{side} budget share must be a number in (0, 1], got {share!r}")
        self.shares = {side: float(share) for side, share in shares.items()}

    # --- keys -------------------------------------------------------------------------------
    def _key(self, side: str, what: str) -> str:
        if side not in SIDES:
            raise ValueError(f"unknown budget side {side!r}; expected one of {SIDES}")
        return f"{self.namespace}:budget:{side}:{what}"

    def _day_key(self, side: str, now: datetime | None = None) -> str:
        now = now or datetime.now(timezone.utc)
        return self._key(side, "day:" + now.strftime("%Y-%m-%d"))

    # --- spending ---------------------------------------------------------------------------
    def spend(self, side: str) -> int:
        """Count one call for today; raises BudgetExhausted when the share is spent or the
        remote has refused for its own limit. Returns the connector's calls today."""
        now = datetime.now(timezone.utc)
        keys = [self._day_key(side, now), self._key(side, "total"), self._key(side, "alloc"),
                self._key(side, "blocked")]
        used, detail = self._spend(keys=keys, args=[repr(self.shares[side]), DAY_KEY_TTL])
        detail = detail.decode() if isinstance(detail, bytes) else detail
        if used == -1:
            resets, code, message = detail.split("|", 2)
            resets_at = datetime.fromtimestamp(float(resets), timezone.utc)
            raise BudgetExhausted(RemoteError("limit", code, message), None, side, resets_at)
        if used == -2:
            resets_at = next_utc_midnight(now)
            raise BudgetExhausted(RemoteError(
                "limit", "BUDGET_EXHAUSTED",
                f"the connector's share ({self.shares[side] * 100:.4g}%) of the {_LABEL[side]} is spent "
                f"({detail} calls today); waiting until {resets_at.isoformat()}"), None, side, resets_at)
        return int(used)

    def block(self, side: str, resets_at: datetime, code: str, message: str) -> None:
        """The remote refused for its own limit: no process calls `side` before `resets_at`."""
        at_ms = int(resets_at.timestamp() * 1000)
        self.redis.set(self._key(side, "blocked"), f"{resets_at.timestamp()}|{code}|{message}", pxat=at_ms)

    def unblock(self, side: str) -> None:
        self.redis.delete(self._key(side, "blocked"))

    # --- allocation -------------------------------------------------------------------------
    def observe_salesforce(self, used: int, max: int) -> None:  # noqa: A002 - named as in the header
        self._observe("salesforce", used, max)

    def observe_pardot(self, max_daily: int, used: int) -> None:
        self._observe("pardot", used, max_daily)

    def _observe(self, side: str, used: int, max_: int) -> None:
        self.redis.hset(self._key(side, "alloc"), mapping={"max": int(max_), "org_used": int(used)})

    # --- reporting --------------------------------------------------------------------------
    def usage(self) -> dict:
        out = {}
        for side in SIDES:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self._day_key(side))
                pipe.hgetall(self._key(side, "alloc"))
                mine, alloc = pipe.execute()
            alloc = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in alloc.items()}
            mine = int(mine or 0)
            max_ = alloc.get("max")
            org_used = alloc.get("org_used")
            allowed = math.floor(max_ * self.shares[side]) if max_ is not None else None
            remaining = None
            if allowed is not None:
                remaining = max(0, min(allowed - mine, max_ - (org_used or 0)))
            out[side] = {"used_by_connector": mine, "org_used": org_used, "max": max_,
                         "allowed": allowed, "remaining": remaining}
        return out

    def snapshot(self) -> dict:
        """Monotonic per-side call totals; diff two snapshots with calls_since."""
        values = self.redis.mget([self._key(side, "total") for side in SIDES])
        return {side: int(v or 0) for side, v in zip(SIDES, values)}

    def calls_since(self, mark: dict) -> dict:
        now = self.snapshot()
        return {side: now[side] - mark.get(side, 0) for side in SIDES}

"""Per-token request budget in Redis (fixed one-minute windows, shared by all web processes)."""
from __future__ import annotations

import time
from dataclasses import dataclass

WINDOW = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets

    def headers(self) -> dict:
        out = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    def __init__(self, redis, per_minute: int, prefix: str = "ratelimit"):
        if per_minute < 1:
            raise ValueError("the API rate limit must be at least 1 request per minute")
        self.redis, self.per_minute, self.prefix = redis, per_minute, prefix

    def hit(self, identity: str) -> Verdict:
        now = time.time()
        window = int(now // WINDOW)
        key = f"{self.prefix}:{identity}:{window}"
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW * 2)
            count, _ = pipe.execute()
        retry_after = max(1, int((window + 1) * WINDOW - now + 0.999))
        return Verdict(count <= self.per_minute, self.per_minute, max(0, self.per_minute - count), retry_after)

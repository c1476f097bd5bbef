"""Per-token request budget in Redis (fixed one-minute windows, shared by all web processes)."""
from __future__ import annotations

import time
from dataclasses import dataclass

WINDOW = 60

# The hot path of an API request in one Redis round trip (issue 11): the token's cache entry
# ("name|role"); when there is one, the hit on that token's window (the same key `hit` uses)
# and the values of other keys the request will read anyway (the cached status). A token that
# is not cached is not counted here: the caller verifies it in SQL and then calls `hit`, as
# before. The window key is built from the token's name inside the script, so this needs a
# single Redis (not Redis Cluster), which is what the connector runs on.
_CACHED_TOKEN_HIT = """
local token = redis.call('GET', KEYS[1])
if not token then return {false, 0} end
local key = ARGV[1] .. string.match(token, '^[^|]*') .. ARGV[2]
local count = redis.call('INCR', key)
redis.call('EXPIRE', key, ARGV[3])
local out = {token, count}
for i = 2, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
return out
"""


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


@dataclass(frozen=True)
class CachedTokenHit:
    token: bytes | None      # the token cache entry; None: not cached (nothing was counted)
    verdict: Verdict | None  # the hit on the identity `identity_prefix + name`, when cached
    values: list             # the other keys' values (None where missing), when cached


class RateLimiter:
    def __init__(self, redis, per_minute: int, prefix: str = "ratelimit"):
        if per_minute < 1:
            raise ValueError("the API rate limit must be at least 1 request per minute")
        self.redis, self.per_minute, self.prefix = redis, per_minute, prefix
        self._script = redis.register_script(_CACHED_TOKEN_HIT)  # EVALSHA; reloaded after a Redis restart

    def _window(self) -> tuple[float, int]:
        now = time.time()
        return now, int(now // WINDOW)

    def _verdict(self, count: int, now: float, window: int) -> Verdict:
        retry_after = max(1, int((window + 1) * WINDOW - now + 0.999))
        return Verdict(count <= self.per_minute, self.per_minute, max(0, self.per_minute - count), retry_after)

    def hit(self, identity: str) -> Verdict:
        now, window = self._window()
        key = f"{self.prefix}:{identity}:{window}"
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW * 2)
            count, _ = pipe.execute()
        return self._verdict(count, now, window)

    def hit_cached_token(self, token_key: str, identity_prefix: str, also_read: list[str] = ()) -> CachedTokenHit:
        """One round trip: read the token cache entry at `token_key`; if it is there, count a hit
        for identity `identity_prefix + <its name>` exactly as `hit` would, and read `also_read`."""
        now, window = self._window()
        reply = self._script(keys=[token_key, *also_read], args=[f"{self.prefix}:{identity_prefix}", f":{window}",
                                                                 WINDOW * 2])
        if reply[0] is None:
            return CachedTokenHit(None, None, [])
        return CachedTokenHit(reply[0], self._verdict(reply[1], now, window), reply[2:])

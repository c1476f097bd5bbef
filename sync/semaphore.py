"""A fair, distributed counting semaphore in Redis (R40: at most 5 Pardot requests in flight
across every process and machine).

Holders live in a sorted set scored by lease expiry, so a killed process frees its slot when
its lease runs out. Waiters take a ticket and are served in ticket order; a waiter that stops
polling (killed) drops out after `waiter_ttl`. All state changes run in one Lua script and use
the Redis clock, so machines with skewed clocks agree.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

# KEYS: holders, waiters (token -> ticket), seen (token -> waiter deadline), counter
# ARGV: token, limit, lease_ms, waiter_ttl_ms
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token, limit = ARGV[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, s in ipairs(stale) do
  redis.call('ZREM', KEYS[2], s)
  redis.call('ZREM', KEYS[3], s)
end
if redis.call('ZSCORE', KEYS[1], token) then
  return 1
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
local rank = redis.call('ZRANK', KEYS[2], token)
if rank < limit - redis.call('ZCARD', KEYS[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), token)
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  return 1
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), token)
return 0
"""

# KEYS: holders, waiters, seen; ARGV: token -> 1 if the token held a slot
_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

# KEYS: holders; ARGV: token, lease_ms -> 1 if still held and extended
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""


class SemaphoreTimeout(TimeoutError):
    pass


class RedisSemaphore:
    def __init__(self, redis, name: str, limit: int, lease_seconds: float = 60,
                 poll_interval: float = 0.01, waiter_ttl: float = 10):
        if limit < 1:
            raise ValueError(f"semaphore {name!r}: limit must be at least 1, got {limit}")
        self.redis = redis
        self.name = name
        self.limit = limit
        self.lease_ms = int(lease_seconds * 1000)
        self.poll_interval = poll_interval
        self.waiter_ttl_ms = int(waiter_ttl * 1000)
        self._keys = [f"{name}:holders", f"{name}:waiters", f"{name}:seen", f"{name}:tickets"]
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._local = threading.local()

    def acquire(self, timeout: float | None = None) -> str:
        """Wait for a slot (at most `timeout` seconds; None waits forever); returns its token."""
        token = uuid.uuid4().hex
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = self.poll_interval
        while True:
            if self._acquire(keys=self._keys, args=[token, self.limit, self.lease_ms, self.waiter_ttl_ms]):
                return token
            if deadline is not None and time.monotonic() >= deadline:
                self._release(keys=self._keys[:3], args=[token])
                raise SemaphoreTimeout(f"no slot of semaphore {self.name!r} (limit {self.limit}) "
                                       f"became free within {timeout} s")
            # short jittered polls; the ticket order, not the poll timing, decides who goes next
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.5, 0.05)

    def release(self, token: str) -> bool:
        """Give the slot back; False if its lease had already expired."""
        return bool(self._release(keys=self._keys[:3], args=[token]))

    def renew(self, token: str) -> bool:
        """Extend a held lease by lease_seconds; False if it was already lost."""
        return bool(self._renew(keys=self._keys[:1], args=[token, self.lease_ms]))

    def in_use(self) -> int:
        """Slots currently held (expired leases not counted)."""
        t = self.redis.time()
        now_ms = t[0] * 1000 + t[1] // 1000
        return self.redis.zcount(self._keys[0], f"({now_ms}", "+inf")

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[str]:
        token = self.acquire(timeout)
        try:
            yield token
        finally:
            self.release(token)

    def __enter__(self) -> str:
        # a stack keeps nested/threaded use of one instance as a context manager correct
        token = self.acquire()
        self._tokens().append(token)
        return token

    def __exit__(self, *exc) -> None:
        self.release(self._tokens().pop())

    def _tokens(self) -> list[str]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

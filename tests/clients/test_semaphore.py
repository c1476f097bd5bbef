"""RedisSemaphore against real Redis, from several threads and several processes (R40)."""
from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
import redis as redis_lib

from sync.semaphore import RedisSemaphore, SemaphoreTimeout

# One Lua step: count a holder in, remember the highest count ever seen.
_ENTER = """
local n = redis.call('INCR', KEYS[1])
local top = tonumber(redis.call('GET', KEYS[2]) or '0')
if n > top then redis.call('SET', KEYS[2], n) end
return n
"""


def _hammer(url: str, ns: str, limit: int, rounds: int) -> None:
    """Worker process: take and give back slots, counting holders inside each slot."""
    conn = redis_lib.Redis.from_url(url)
    sem = RedisSemaphore(conn, f"{ns}:sem", limit)
    enter = conn.register_script(_ENTER)
    for _ in range(rounds):
        with sem.slot(timeout=60):
            enter(keys=[f"{ns}:inside", f"{ns}:top"])
            conn.incr(f"{ns}:done")
            conn.decr(f"{ns}:inside")
    conn.close()


def _hold_and_die(url: str, ns: str) -> None:
    """Worker process killed while holding a slot: it never releases it."""
    conn = redis_lib.Redis.from_url(url)
    RedisSemaphore(conn, f"{ns}:sem", 1, lease_seconds=0.3).acquire()
    os._exit(0)


def test_processes_never_exceed_the_limit(redis_conn, ns, clients_redis_url):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(clients_redis_url, ns, 3, 25)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    assert int(redis_conn.get(f"{ns}:done")) == 8 * 25
    assert 1 <= int(redis_conn.get(f"{ns}:top")) <= 3
    assert RedisSemaphore(redis_conn, f"{ns}:sem", 3).in_use() == 0


def test_threads_never_exceed_the_limit(redis_conn, ns, clients_redis_url):
    threads = [threading.Thread(target=_hammer, args=(clients_redis_url, ns, 2, 20)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert int(redis_conn.get(f"{ns}:done")) == 6 * 20
    assert 1 <= int(redis_conn.get(f"{ns}:top")) <= 2


def test_limit_slots_are_available_together_and_one_more_waits(redis_conn, ns):
    sem = RedisSemaphore(redis_conn, f"{ns}:sem", 3)
    all_in = threading.Barrier(4)
    leave = threading.Event()

    def hold():
        with sem:
            all_in.wait(10)
            leave.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(3)]
    for t in holders:
        t.start()
    all_in.wait(10)                       # three slots held at the same time
    assert sem.in_use() == 3
    with pytest.raises(SemaphoreTimeout, match=r"limit 3"):
        sem.acquire(timeout=0.2)
    assert redis_conn.zcard(f"{ns}:sem:waiters") == 0   # a waiter that gave up leaves the queue
    leave.set()
    for t in holders:
        t.join(10)
    assert sem.in_use() == 0
    token = sem.acquire(timeout=5)
    assert sem.release(token) is True
    assert sem.release(token) is False


def test_a_killed_holder_frees_its_slot_when_the_lease_ends(redis_conn, ns, clients_redis_url):
    proc = multiprocessing.get_context("fork").Process(target=_hold_and_die, args=(clients_redis_url, ns))
    proc.start()
    proc.join(30)
    sem = RedisSemaphore(redis_conn, f"{ns}:sem", 1)
    assert redis_conn.zcard(f"{ns}:sem:holders") == 1     # the dead process still "holds" it
    token = sem.acquire(timeout=10)                        # until its lease runs out
    sem.release(token)


def test_waiters_are_served_in_arrival_order(redis_conn, ns):
    sem = RedisSemaphore(redis_conn, f"{ns}:sem", 1)
    first = sem.acquire()
    order: list[str] = []

    def wait_for_slot(name: str):
        with sem.slot(timeout=30):
            order.append(name)

    def queued(n: int):
        while redis_conn.zcard(f"{ns}:sem:waiters") < n:
            threading.Event().wait(0.005)

    a = threading.Thread(target=wait_for_slot, args=("a",))
    a.start()
    queued(1)
    b = threading.Thread(target=wait_for_slot, args=("b",))
    b.start()
    queued(2)
    sem.release(first)
    a.join(30)
    b.join(30)
    assert order == ["a", "b"]


def test_renew_extends_only_a_live_lease(redis_conn, ns):
    sem = RedisSemaphore(redis_conn, f"{ns}:sem", 1, lease_seconds=30)
    token = sem.acquire()
    assert sem.renew(token) is True
    sem.release(token)
    assert sem.renew(token) is False
    with pytest.raises(ValueError, match="limit must be at least 1"):
        RedisSemaphore(redis_conn, f"{ns}:bad", 0)

"""Issue 9 item 5: Redis restarted (empty) while the worker runs a cycle.

Real `app.py worker` and `app.py scheduler` processes on a redis-server of the drill's own
(port 6391). Redis goes away mid-cycle for a few seconds and comes back empty: the worker
must reconnect and carry on (RQ's loop quits on a lost connection; the old worker process
exited), and a manual sync queued behind the cycle, which Redis forgot, must be queued again
within one poll interval of Redis coming back (it was five minutes) and then run.
"""
from __future__ import annotations

import dataclasses
import time

import redis
from rq.exceptions import NoSuchJobError

from sync.jobs import fetch
from sync.models import Job
from sync.runtime import Runtime
from tests.drills.procs_harness import (
    POLL,
    OwnRedis,
    Procs,
    cycle_runs,
    epoch,
    wait_until,
    world,  # noqa: F401 - world is a fixture
)

PORT = 6391


def test_worker_carries_on_after_redis_restarts_mid_cycle_and_lost_manual_jobs_come_back(
        world, runtime, control, sandbox, operator, tmp_path):
    started = time.monotonic()
    world.create()
    world.activate()
    world.add_sf("Lead", *[{"LastName": f"R{i}", "Company": "Drill", "Email": f"r{i}@example.com"}
                           for i in range(50)])
    own = OwnRedis(PORT, tmp_path / "redis").start()
    procs = Procs(runtime, sandbox, tmp_path, REDIS_URL=own.url)
    # the test's own view of the processes' Redis, to file a manual sync the way the API does
    rt = Runtime(dataclasses.replace(runtime.config, redis_url=own.url), migrate=False)
    try:
        control.post("latency", {"salesforce_ms": 3000})  # the cycle's Salesforce read takes a while
        scheduler, worker = procs.start("scheduler"), procs.start("worker")
        began = time.time()
        wait_until(lambda: any(r.finished_at is None and epoch(r.started_at) > began for r in cycle_runs(runtime)),
                   4 * POLL, "a cycle running in the worker", procs)
        job = rt.service().sync_prospect(operator, email="r1@example.com")
        assert fetch(job["id"], rt.redis).get_status() == "queued"  # behind the running cycle

        own.stop()
        time.sleep(4)  # the cycle's read ends while Redis is away: the cycle fails, RQ loses its connection
        own.start()
        back = time.time()
        control.post("latency", {"salesforce_ms": 0})

        def requeued():
            try:
                fetch(job["id"], rt.redis)
                return True
            except (NoSuchJobError, redis.RedisError):
                with runtime.store.session() as s:
                    return s.get(Job, job["id"]).state != "queued"

        wait_until(requeued, 3 * POLL, "the lost manual sync queued again", procs)
        requeued_after = time.time() - back
        assert requeued_after <= POLL + 2, f"re-queued {requeued_after:.1f} s after Redis came back"
        print(f"manual sync re-queued {requeued_after:.1f} s after Redis came back")

        def job_ended():
            with runtime.store.session() as s:
                row = s.get(Job, job["id"])
                return row if row.state in ("finished", "failed") else None

        ended = wait_until(job_ended, 6 * POLL, "the manual sync to run after the restart", procs)
        assert ended.state == "finished" and ended.outcome["ok"], ended.outcome  # it ran, it was not given up
        wait_until(lambda: any(epoch(r.started_at) > back and r.outcome == "ok" for r in cycle_runs(runtime)),
                   6 * POLL, "an ok cycle after Redis came back", procs)
        assert worker.alive() and scheduler.alive(), procs.logs()
        assert len([c for c in procs.children if c.name.startswith("worker")]) == 1  # the same process
        assert not [r for r in cycle_runs(runtime) if r.finished_at is None and epoch(r.started_at) < back]
    finally:
        control.post("latency", {"salesforce_ms": 0})
        procs.stop_all()
        rt.store.dispose()
        own.stop()
    print(f"redis restart drill: {time.monotonic() - started:.0f} s; "
          f"cycles {[(r.id, r.outcome, (r.error or '')[:80]) for r in cycle_runs(runtime)]}")

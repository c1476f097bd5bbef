"""Issue 9 item 4: a worker killed with SIGKILL mid-cycle does not stall sync.

3,000 leads and 3,000 prospects, 300 of them sharing an email, seeded through the sandbox's
control API; real `app.py scheduler` and `app.py worker` processes (SYNC_POLL_INTERVAL 10 s).
The worker is killed three times: during the Salesforce read, during the reconcile's
Salesforce writes, and right after it submitted its first Pardot import. Each time a new
worker is started at once; the dead cycle must be failed with a readable reason and the next
cycle must start within two poll intervals of the kill (not after JOB_TIMEOUT, an hour).
In the end every lead has exactly one prospect and vice versa, linked (R10), nothing pending.
"""
from __future__ import annotations

import time

from tests.drills.procs_harness import (
    POLL,
    Procs,
    assert_converged,
    cycle_runs,
    endpoint_calls,
    epoch,
    pending,
    wait_until,
    world,  # noqa: F401 - a fixture
)

LEADS, PROSPECTS, SHARED = 3000, 3000, 300
SF_READ = "salesforce GET /query"
SF_WRITE = "salesforce POST /composite/sobjects"
IMPORT = "pardot POST /api/v5/imports"


def _seed(world) -> None:
    user = world.pardot_user("sales@sandbox.example")
    world.add_sf("Lead", *[{"LastName": f"L{i}", "Company": "Drill", "Email": f"k{i}@example.com"}
                           for i in range(LEADS)])
    # the first SHARED prospects carry a lead's email: they must be linked, not duplicated
    world.add_prospects(*[{"email": f"k{i}@example.com" if i < SHARED else f"p{i}@example.com",
                           "lastName": f"P{i}", "assignedToId": user["id"]} for i in range(PROSPECTS)])


def _kill_when(procs, worker, control, runtime, key: str, what: str) -> float:
    before = endpoint_calls(control, key)
    wait_until(lambda: endpoint_calls(control, key) > before or not worker.alive(), 180, what, procs, every=0.02)
    assert worker.alive(), f"the worker exited by itself: {worker.tail()}"
    killed_at = procs.kill9(worker)
    # the cycle was really running when it died
    assert any(r.finished_at is None for r in cycle_runs(runtime)), f"no cycle was running at the kill ({what})"
    return killed_at


def _next_cycle_after(runtime, procs, killed_at: float):
    """The dead cycle ends failed, and a new one starts within two poll intervals of the kill."""
    run = wait_until(lambda: next((r for r in cycle_runs(runtime) if epoch(r.started_at) > killed_at), None),
                     4 * POLL, "the next cycle after the kill", procs)
    assert epoch(run.started_at) - killed_at <= 2 * POLL, \
        f"the next cycle started {epoch(run.started_at) - killed_at:.1f} s after the kill"
    print(f"next cycle {epoch(run.started_at) - killed_at:.1f} s after the kill")
    dead = [r for r in cycle_runs(runtime) if epoch(r.started_at) < killed_at]
    assert dead and all(r.finished_at is not None for r in dead), "a killed cycle stayed 'running'"
    return run


def test_killed_workers_mid_cycle_leave_no_stall_no_duplicate_and_no_loose_end(world, runtime, control, sandbox,
                                                                            tmp_path):
    started = time.monotonic()
    world.create()
    world.activate()
    _seed(world)
    procs = Procs(runtime, sandbox, tmp_path)
    try:
        procs.start("scheduler")
        # a slow Salesforce read gives the first kill a window to land in
        control.post("latency", {"salesforce_ms": 700})
        worker = procs.start("worker")
        kills = []

        kills.append(_kill_when(procs, worker, control, runtime, SF_READ, "the cycle's Salesforce read"))
        control.post("latency", {"salesforce_ms": 0})
        worker = procs.start("worker")
        _next_cycle_after(runtime, procs, kills[-1])
        killed = [r for r in cycle_runs(runtime) if epoch(r.started_at) < kills[-1]][-1]
        assert killed.outcome == "failed" and "worker" in killed.error and "stopped" in killed.error, killed.error

        kills.append(_kill_when(procs, worker, control, runtime, SF_WRITE, "the reconcile's Salesforce writes"))
        worker = procs.start("worker")
        _next_cycle_after(runtime, procs, kills[-1])

        kills.append(_kill_when(procs, worker, control, runtime, IMPORT, "the first Pardot import"))
        worker = procs.start("worker")
        _next_cycle_after(runtime, procs, kills[-1])

        # carry on until a cycle that started after the last kill ends ok with nothing pending
        def settled():
            done = [r for r in cycle_runs(runtime) if epoch(r.started_at) > kills[-1] and r.outcome == "ok"]
            return done and pending(runtime) == 0

        wait_until(settled, 240, "an ok cycle with nothing pending after the last kill", procs, every=0.5)
        # A cycle right after a kill may still fail (e.g. on the import the dead worker left in
        # flight: seen once on PostgreSQL); the one after it must converge. Item 1 at this size is
        # held by tests/drills/test_drill_shared_emails.py (the first cycle must be ok).
        for r in cycle_runs(runtime):
            if epoch(r.started_at) > kills[-1] and r.outcome != "ok":
                print(f"cycle {r.id} after the last kill: {r.outcome}: {r.error}")
        assert_converged(world, runtime, LEADS + PROSPECTS - SHARED)
        runs = cycle_runs(runtime)
        assert not [r for r in runs if r.outcome == "running" and epoch(r.started_at) < kills[-1]]
        assert worker.alive()
    finally:
        control.post("latency", {"salesforce_ms": 0})
        procs.stop_all()
    print(f"kill drill: {time.monotonic() - started:.0f} s, kills at {kills}, cycles "
          f"{[(r.id, epoch(r.started_at), r.outcome, (r.error or '')[:100]) for r in cycle_runs(runtime)]}")

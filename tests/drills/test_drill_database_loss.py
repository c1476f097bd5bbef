"""Issue 9 item 4, second half: a cycle whose process lost its database.

Real `app.py worker` and `app.py scheduler` processes on a PostgreSQL server of the drill's
own (port 5441), stopped (immediate shutdown) while a cycle runs and started again a few
seconds later. The cycle cannot write its outcome; before, its cycle_run row stayed
"running" for ever. Now the row ends "failed" with a readable reason, the processes carry
on, and the next cycle runs within two poll intervals of the database coming back.
"""
from __future__ import annotations

import dataclasses
import time

from sync.runtime import Runtime
from tests.drills.procs_harness import POLL, OwnPostgres, Procs, cycle_runs, epoch, wait_until
from tests.sync.conftest import World

PORT = 5441


def test_a_cycle_that_lost_its_database_ends_failed_and_the_next_one_runs(
        runtime, control, sandbox, admin, admin2, operator, tmp_path):
    started = time.monotonic()
    pg = OwnPostgres(PORT).init()
    rt = Runtime(dataclasses.replace(runtime.config, database_url=pg.url))
    procs = Procs(rt, sandbox, tmp_path)
    try:
        control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                              "campaigns": 0})
        world = World(rt, rt.service(), control, admin, admin2, operator, sandbox)
        world.create()
        world.activate()
        world.add_sf("Lead", *[{"LastName": f"D{i}", "Company": "Drill", "Email": f"d{i}@example.com"}
                               for i in range(50)])
        control.post("latency", {"salesforce_ms": 3000})  # the cycle's Salesforce read takes a while
        scheduler, worker = procs.start("scheduler"), procs.start("worker")
        began = time.time()
        running = wait_until(lambda: next((r for r in cycle_runs(rt) if r.finished_at is None
                                           and epoch(r.started_at) > began), None),
                             4 * POLL, "a cycle running in the worker", procs)
        pg.stop()
        time.sleep(4)  # the read ends while the database is away: the cycle cannot record anything
        pg.start()
        back = time.time()
        control.post("latency", {"salesforce_ms": 0})

        def lost_run_ended():
            return next((r for r in cycle_runs(rt) if r.id == running.id and r.finished_at is not None), None)

        ended = wait_until(lost_run_ended, 3 * POLL, "the lost cycle's row to end", procs, every=0.5)
        assert ended.outcome == "failed" and ended.error, (ended.outcome, ended.error)
        nxt = wait_until(lambda: next((r for r in cycle_runs(rt) if epoch(r.started_at) > back), None),
                         4 * POLL, "the next cycle", procs, every=0.5)
        assert epoch(nxt.started_at) - back <= 2 * POLL, f"next cycle {epoch(nxt.started_at) - back:.1f} s later"
        print(f"next cycle {epoch(nxt.started_at) - back:.1f} s after the database came back")
        wait_until(lambda: any(epoch(r.started_at) > back and r.outcome == "ok" for r in cycle_runs(rt)),
                   6 * POLL, "an ok cycle after the database came back", procs, every=0.5)
        assert worker.alive() and scheduler.alive(), procs.logs()
    finally:
        control.post("latency", {"salesforce_ms": 0})
        procs.stop_all()
        rt.store.dispose()
        pg.destroy()
    print(f"database loss drill: {time.monotonic() - started:.0f} s; lost cycle: {ended.error!r}")

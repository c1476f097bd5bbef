"""R4: the scheduler enqueues a cycle per connector every poll interval; one leader at a time."""
from sync.scheduler import Scheduler


def test_scheduler_enqueues_one_cycle_per_connector_and_only_one_scheduler_leads(runtime, service, admin,
                                                                                  run_worker):
    service.create_connector(admin, version=2, error_queue_owner="#ops")
    run_worker()  # the cycle create_connector enqueued
    first, second = Scheduler(runtime), Scheduler(runtime)
    assert first.tick() == [service.connector_id()]
    assert second.tick() == []  # not the leader
    assert first.tick() == [service.connector_id()]  # the same cycle is not queued twice
    assert runtime.queue.depth() == 2  # one cycle, one retry sweep
    assert service.status(admin)["next_cycle"]
    run_worker()
    assert service.status(admin)["last_cycle"]["outcome"] == "ok"


def test_jobs_survive_losing_redis(runtime, service, admin, operator, run_worker):
    """DESIGN §1: Redis holds no state. A manual sync queued before Redis lost its data runs
    anyway; one that was running when its worker died ends as failed, not unknown."""
    from datetime import timedelta

    from sync.models import Job

    service.create_connector(admin, version=2, error_queue_owner="#ops")
    run_worker()
    queued = service.sync_prospect(operator, email="nobody@example.com")
    running = service.send_to_pardot(operator, "Lead", "00Q000000000001AAA")
    with runtime.store.session() as s:
        s.get(Job, running["id"]).state = "started"
    runtime.redis.flushdb()  # Redis restarted empty
    assert runtime.queue.recover_orphans(older_than=timedelta(0)) == {"requeued": [queued["id"]],
                                                                      "lost": [running["id"]]}
    run_worker()
    assert service.get_job(operator, queued["id"])["state"] in ("finished", "failed")
    assert service.get_job(operator, queued["id"])["outcome"]["message"]
    lost = service.get_job(operator, running["id"])
    assert lost["state"] == "failed" and lost["outcome"]["code"] == "JOB_LOST"


def test_status_is_cached_but_never_hides_a_change_made_through_the_service(runtime, service, admin, admin2,
                                                                            operator, viewer):
    service.create_connector(admin, version=1, error_queue_owner="#ops")
    assert service.status(viewer)["state"] == "active"
    assert service.pause(admin, "maintenance")["state"] == "paused"
    assert service.status(viewer)["paused"]["reason"] == "maintenance"
    service.update_settings(admin, {"ampsea": False})
    request = service.request_reactivation(operator)
    assert service.status(viewer)["pending_reactivations"] == 1
    service.deny_reactivation(admin2, request["id"], "no")
    assert service.status(viewer)["pending_reactivations"] == 0


def test_a_revoked_token_stops_at_once_even_when_cached(runtime, service, admin):
    import pytest

    from sync.errors import Unauthenticated

    secret = service.create_token(admin, "tool", "operator")["token"]
    assert service.authenticate_token(secret).role == "operator"
    assert service.authenticate_token(secret).who == "token:tool"  # from the cache now
    assert not any(secret.encode() in (runtime.redis.get(k) or b"") + k for k in runtime.redis.scan_iter())
    service.revoke_token(admin, "tool")
    with pytest.raises(Unauthenticated):
        service.authenticate_token(secret)


def test_rq_payloads_are_json_not_pickle(runtime, service, admin, run_worker):
    """Issue 9 item 12: whoever can write to Redis must not get code run in a worker."""
    import json
    import zlib

    service.create_connector(admin, version=2, error_queue_owner="#ops")
    data = zlib.decompress(runtime.redis.hget(f"rq:job:cycle-{service.connector_id()}", "data"))
    assert json.loads(data)[0] == "sync.tasks.run_cycle"  # pickle's would start with b"\x80"
    run_worker()
    from sync.jobs import fetch

    job = fetch(f"cycle-{service.connector_id()}", runtime.redis)
    assert job.get_status() == "finished" and job.return_value()["outcome"] == "ok"  # results are JSON too


def test_a_cycle_running_over_three_poll_intervals_makes_the_connector_degraded_once(runtime, service, admin):
    """Issue 9 item 7: a hung cycle (a remote that neither answers nor fails) is told once."""
    from datetime import timedelta

    from sync.models import Connector, CycleRun, utcnow

    service.create_connector(admin, version=2, error_queue_owner="#ops")
    cid = service.connector_id()
    with runtime.store.session() as s:
        s.get(Connector, cid).state = "active"
        s.add(CycleRun(connector_id=cid, started_at=utcnow() - timedelta(seconds=3 * runtime.config.poll_interval + 5)))
    # its worker is alive (heartbeat) and holds the lock
    runtime.redis.set(f"cycle-lock:{cid}", f"cycle-{cid}|abc", ex=120)
    runtime.redis.set(f"job-alive:cycle-{cid}", "worker-1", ex=120)
    runtime.events.clear()
    scheduler = Scheduler(runtime)
    scheduler.tick()
    scheduler.tick()
    states = [p for e, p in runtime.events if e == "connector_state"]
    assert [p["state"] for p in states] == ["degraded"] and "poll intervals" in states[0]["reason"]
    assert service.status(admin)["state"] == "degraded"
    with runtime.store.session() as s:
        assert s.query(CycleRun).one().outcome == "running"  # alive: not failed, only told


def test_a_dead_cycle_is_failed_and_its_lock_released(runtime, service, admin):
    """Issue 9 item 4: a cycle job whose worker stopped heartbeating is failed by RQ's registry
    cleanup, its cycle_run row ends failed, its lock goes and the next cycle is queued."""
    import time

    from rq.registry import StartedJobRegistry

    from sync.jobs import fetch
    from sync.models import CycleRun, utcnow

    service.create_connector(admin, version=2, error_queue_owner="#ops")
    cid = service.connector_id()
    job = fetch(f"cycle-{cid}", runtime.redis)
    # what a worker killed mid-cycle leaves behind: job started, heartbeat lapsed, lock and row
    job.set_status("started")
    runtime.redis.zadd(StartedJobRegistry(queue=runtime.queue.rq).key, {f"{job.id}:exec1": time.time() - 1})
    runtime.redis.set(f"cycle-lock:{cid}", f"{job.id}|abc", ex=120)
    with runtime.store.session() as s:
        s.add(CycleRun(connector_id=cid, started_at=utcnow()))
    assert Scheduler(runtime).reap() == [cid]
    assert not runtime.redis.exists(f"cycle-lock:{cid}")
    with runtime.store.session() as s:
        run = s.query(CycleRun).one()
        assert run.outcome == "failed" and "worker" in run.error and run.finished_at
    assert fetch(f"cycle-{cid}", runtime.redis).get_status() == "queued"  # the next one, at once


def test_a_dead_cycle_already_failed_by_another_worker_still_frees_its_lock(runtime, service, admin):
    """RQ workers clean the started registry themselves when they start: a new worker may fail
    the dead cycle job before the scheduler sees it expire. Its lock must go all the same, or
    the next cycle is skipped until the lock lapses (LOCK_TTL)."""
    from sync.jobs import fetch
    from sync.models import CycleRun, utcnow

    service.create_connector(admin, version=2, error_queue_owner="#ops")
    cid = service.connector_id()
    job = fetch(f"cycle-{cid}", runtime.redis)
    job.set_status("failed")  # AbandonedJobError, moved by another worker's cleanup
    runtime.redis.set(f"cycle-lock:{cid}", f"{job.id}|abc", ex=120)
    with runtime.store.session() as s:
        s.add(CycleRun(connector_id=cid, started_at=utcnow()))
    runtime.redis.set("cycle-lock:99", "pid-123|abc", ex=120)  # taken outside a worker: left to its TTL
    assert Scheduler(runtime).reap() == [cid]
    assert not runtime.redis.exists(f"cycle-lock:{cid}") and runtime.redis.exists("cycle-lock:99")
    with runtime.store.session() as s:
        assert s.query(CycleRun).one().outcome == "failed"
    assert fetch(f"cycle-{cid}", runtime.redis).get_status() == "queued"

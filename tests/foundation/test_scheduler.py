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

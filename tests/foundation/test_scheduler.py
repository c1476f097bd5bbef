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

"""The worker process: an RQ SimpleWorker that survives Redis going away (issue 9 item 5) and
keeps a heartbeat while a job runs, so a killed worker's job is found dead in seconds (item 4).

SimpleWorker runs jobs in its own thread (no fork per job, so the runtime's pools and caches
are reused) and so sends no heartbeat until the job ends; with JOB_TIMEOUT at an hour RQ
would take a killed worker's job for running for an hour. Here a thread renews the worker's,
the execution's and the StartedJobRegistry's heartbeat (RQ's own maintain_heartbeats) every
second with a TTL of heartbeat_ttl(poll interval); JobQueue.reap lets RQ's registry cleanup
fail the job once that lapses."""
from __future__ import annotations

import logging
import signal
import threading

import redis
from rq import SimpleWorker

from .jobs import ALIVE_KEY, QUEUE, SERIALIZER, heartbeat_ttl

log = logging.getLogger("connector.worker")
BEAT_EVERY = 1.0
RECONNECT_MAX_WAIT = 10.0


class Worker(SimpleWorker):
    def __init__(self, *args, beat_ttl: int = 30, on_stop=None, **kwargs):
        kwargs.setdefault("serializer", SERIALIZER)
        super().__init__(*args, **kwargs)
        self.beat_ttl = beat_ttl
        self.on_stop = on_stop

    def request_stop(self, signum, frame):
        if self.on_stop is not None:
            self.on_stop()
        super().request_stop(signum, frame)

    def get_heartbeat_ttl(self, job) -> int:
        return self.beat_ttl

    def execute_job(self, job, queue):
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, stop), name=f"heartbeat-{job.id}", daemon=True)
        self._alive(job)
        beat.start()
        try:
            super().execute_job(job, queue)
        finally:
            stop.set()
            beat.join(5)
            try:
                self.connection.delete(ALIVE_KEY.format(job.id))
            except redis.RedisError:
                pass  # it lapses by itself

    def _alive(self, job) -> None:
        try:
            self.connection.set(ALIVE_KEY.format(job.id), self.name, ex=self.beat_ttl)
        except redis.RedisError:
            pass

    def _beat(self, job, stop: threading.Event) -> None:
        while not stop.wait(BEAT_EVERY):
            self._alive(job)
            if getattr(self, "execution", None) is None:
                continue
            try:
                self.maintain_heartbeats(job)
            except Exception:  # noqa: BLE001 - Redis away: the next beat tries again
                log.debug("heartbeat of %s failed", job.id, exc_info=True)


def run_worker(runtime) -> int:
    """Work until told to stop (SIGTERM/SIGINT); when Redis goes away, wait for it and carry on
    with a fresh worker registration (RQ's own loop quits on a lost connection)."""
    stop = threading.Event()
    while not stop.is_set():
        worker = Worker([QUEUE], connection=runtime.redis, beat_ttl=heartbeat_ttl(runtime.config.poll_interval),
                        on_stop=stop.set)
        try:
            worker.work(with_scheduler=False)
        except redis.RedisError as exc:  # raised by the teardown of a worker that lost Redis
            log.warning("worker %s: lost Redis (%s)", worker.name, type(exc).__name__)
        if stop.is_set():
            break
        log.warning("worker %s stopped without being asked to; reconnecting to Redis", worker.name)
        # RQ's handlers are gone with its loop: a stop asked for while Redis is away still counts
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        wait = 0.5
        while not stop.wait(wait):
            try:
                runtime.redis.ping()
                break
            except redis.RedisError:
                wait = min(wait * 2, RECONNECT_MAX_WAIT)
    return 0

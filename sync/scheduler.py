"""The scheduler process: enqueues a cycle every poll interval (R4), and every second or so
fails the jobs of dead workers so the next cycle need not wait for them (issue 9 item 4)."""
from __future__ import annotations

import logging
import signal
import socket
import time
from datetime import datetime, timedelta, timezone

from redis.exceptions import LockError
from sqlalchemy import select

from .models import Connector, CycleRun, utcnow

log = logging.getLogger("connector.scheduler")
LEADER_KEY = "scheduler:leader"
REAP_EVERY = 1.0
# issue 9 item 7: a cycle running longer than this many poll intervals makes the connector degraded
HUNG_AFTER_INTERVALS = 3


class Scheduler:
    def __init__(self, runtime):
        self.rt = runtime
        self.stopping = False
        self.identity = f"{socket.gethostname()}:{id(self)}"
        self._lease = None

    def _lead(self, ttl: int) -> bool:
        """Only one scheduler enqueues, however many run: a redis-py Lock as the lease (its
        extend/acquire are atomic scripts, unlike a get then expire)."""
        if self._lease is None or self._lease.timeout != ttl:
            self._lease = self.rt.redis.lock(LEADER_KEY, timeout=ttl, blocking=False, thread_local=False)
        if self._lease.local.token is not None:
            try:
                self._lease.reacquire()
                return True
            except LockError:  # lapsed, or another scheduler holds it now
                self._lease.local.token = None
        return self._lease.acquire(blocking=False, token=f"{self.identity}|{time.time()}")

    def tick(self) -> list[int]:
        interval = self.rt.config.poll_interval
        if not self._lead(interval * 2):
            return []
        self.rt.queue.reap()
        with self.rt.store.session() as s:
            connectors = list(s.scalars(select(Connector.id)))
        service = self.rt.service()
        for cid in connectors:
            self.rt.queue.fail_orphan_cycles(cid)
            self._watch_long_cycle(cid, interval)
            self.rt.queue.enqueue_cycle(cid)
            self.rt.queue.enqueue_retries(cid)
            nxt = datetime.now(timezone.utc) + timedelta(seconds=interval)
            self.rt.redis.set(f"connector:{cid}:next_cycle", nxt.isoformat().replace("+00:00", "Z"),
                              ex=interval * 3)
        if connectors:
            service.expire_reactivations()
        self.rt.queue.recover_orphans()
        return connectors

    def reap(self) -> list[int]:
        """Between ticks: fail dead workers' jobs and queue the next cycle of a connector whose
        cycle died, at once rather than at the next tick."""
        if not self._lead(self.rt.config.poll_interval * 2):
            return []
        cycles = self.rt.queue.reap()["cycles"]
        for cid in cycles:
            self.rt.queue.enqueue_cycle(cid)
        return cycles

    def _watch_long_cycle(self, cid: int, interval: int) -> None:
        with self.rt.store.session() as s:
            started = s.scalar(select(CycleRun.started_at).where(CycleRun.connector_id == cid,
                                                                 CycleRun.finished_at.is_(None))
                               .order_by(CycleRun.id.desc()).limit(1))
        if started is None:
            return
        running = utcnow() - started
        if running > timedelta(seconds=HUNG_AFTER_INTERVALS * interval):
            seconds = int(running.total_seconds())
            took = f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"
            # the engine owns state changes and their notification (told once, folded)
            self.rt.engine()._transition(
                cid, ok=False, state="degraded",
                reason=f"a cycle has been running for {took}, over {HUNG_AFTER_INTERVALS} poll intervals "
                       f"of {interval} s: Salesforce or Pardot may be hanging")

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        log.info("scheduler: a cycle every %ss", self.rt.config.poll_interval)
        while not self.stopping:
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # keep scheduling through a passing DB/Redis hiccup
                log.exception("scheduler tick failed")
            while not self.stopping and time.monotonic() - started < self.rt.config.poll_interval:
                time.sleep(REAP_EVERY)
                try:
                    self.reap()
                except Exception:  # noqa: BLE001 - the next tick logs what is wrong
                    log.debug("reap failed", exc_info=True)

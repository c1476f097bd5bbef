"""The scheduler process: enqueues a cycle every poll interval (R4)."""
from __future__ import annotations

import logging
import signal
import socket
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from .models import Connector

log = logging.getLogger("connector.scheduler")
LEADER_KEY = "scheduler:leader"


class Scheduler:
    def __init__(self, runtime):
        self.rt = runtime
        self.stopping = False
        self.identity = f"{socket.gethostname()}:{id(self)}"

    def _lead(self, ttl: int) -> bool:
        """Only one scheduler enqueues, however many run (a Redis lease)."""
        r = self.rt.redis
        if r.set(LEADER_KEY, self.identity, nx=True, ex=ttl):
            return True
        if r.get(LEADER_KEY) == self.identity.encode():
            r.expire(LEADER_KEY, ttl)
            return True
        return False

    def tick(self) -> list[int]:
        interval = self.rt.config.poll_interval
        if not self._lead(interval * 2):
            return []
        with self.rt.store.session() as s:
            connectors = list(s.scalars(select(Connector.id)))
        service = self.rt.service()
        for cid in connectors:
            self.rt.queue.enqueue_cycle(cid)
            self.rt.queue.enqueue_retries(cid)
            nxt = datetime.now(timezone.utc) + timedelta(seconds=interval)
            self.rt.redis.set(f"connector:{cid}:next_cycle", nxt.isoformat().replace("+00:00", "Z"),
                              ex=interval * 3)
        if connectors:
            service.expire_reactivations()
        self.rt.queue.recover_orphans()
        return connectors

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
                time.sleep(0.5)

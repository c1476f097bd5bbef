"""One measured world: a fresh store, a flushed Redis database, a reset sandbox and a fresh
worker process; the connector created and activated the real way (R7, R31)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from sqlalchemy import func, select

from sync.config import Config
from sync.jobs import SERIALIZER
from sync.models import CycleRun
from sync.roles import Principal
from sync.runtime import Runtime, install

from .clients import Control
from .procs import Child, start_worker

ADMIN = Principal("admin@sandbox.example", "admin", "cli", "bench")
ADMIN2 = Principal("admin2@sandbox.example", "admin", "cli", "bench")
OPERATOR = Principal("marketing@sandbox.example", "operator", "cli", "bench")
CYCLE_TIMEOUT = 3600


class CycleFailed(RuntimeError):
    pass


class World:
    def __init__(self, name: str, run_dir: Path, sandbox_info_path: Path, info: dict, redis_url: str,
                 database_url: str | None, base_env: dict, sandbox: Child | None = None):
        self.name = name
        self.sandbox = sandbox
        self.dir = run_dir / name
        shutil.rmtree(self.dir, ignore_errors=True)  # a fresh store every time
        self.dir.mkdir(parents=True)
        self.info = info
        self.control = Control(info)
        self.env = {**base_env, "CONNECTOR_DATA_DIR": str(self.dir), "SANDBOX_INFO": str(sandbox_info_path),
                    "REDIS_URL": redis_url,
                    "DATABASE_URL": database_url or f"sqlite:///{self.dir / 'connector.db'}"}
        redis.Redis.from_url(redis_url).flushdb()
        self.config = Config.from_env(self.env)
        # Installed: the service finds its clients through the current runtime, as in every process.
        self.runtime = install(Runtime(self.config))  # migrates the fresh store before the worker starts
        self.service = self.runtime.service()
        self.worker: Child | None = None
        self.cid: int | None = None
        self.cycle_timeout = CYCLE_TIMEOUT

    # ------------------------------------------------------------------ life cycle
    def start_worker(self, profile_to: Path | None = None) -> Child:
        self.worker = start_worker(f"{self.name}-worker", self.env, self.dir, profile_to)
        return self.worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.runtime.store.dispose()

    def seed(self, **counts) -> dict:
        """Reset and seed the sandbox; returns the counts, the seed's wall time and the sandbox
        process's memory right after it (its peak is over the whole run: the sandbox lives on)."""
        self.control.post("reset")
        start = time.monotonic()
        made = self.control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0,
                                          "users": 5, "campaigns": 0, **counts})
        wall = time.monotonic() - start
        memory = self.sandbox.memory_kib() if self.sandbox is not None else {}
        return {"counts": made, "wall_s": wall, "sandbox_rss_kib": memory.get("VmRSS"),
                "sandbox_peak_rss_kib": memory.get("VmHWM")}

    def prepare(self) -> int:
        """Create (paused, R1), let a cycle verify credentials and sync users, file a reactivation
        request; returns its id. Approving it is the first sync (approve_and_sync)."""
        self.service.create_connector(ADMIN, version=2, error_queue_owner="#bench")  # enqueues a cycle
        self.cid = self.service.connector_id()
        self.wait_cycle(after=0, job_id=f"cycle-{self.cid}")
        self.service.update_settings(ADMIN, {"ampsea": False, "error_queue_owner": "#bench"})
        return self.service.request_reactivation(OPERATOR, "bench")["id"]

    def approve_and_sync(self, request_id: int) -> dict:
        """A second admin approves (R31); the cycle it enqueues catches up on everything (R7)."""
        before = self.last_cycle_id()
        start = time.monotonic()
        self.service.approve_reactivation(ADMIN2, request_id)
        state = self.service.status(ADMIN)["state"]
        if state != "active":
            raise CycleFailed(f"the connector is {state} after approval, not active")
        run = self.wait_cycle(after=before, job_id=f"cycle-{self.cid}")
        run["wall_s"] = run.pop("observed_at") - start
        return run

    # ------------------------------------------------------------------ cycles
    def last_cycle_id(self) -> int:
        with self.runtime.store.session() as s:
            return s.scalar(select(func.max(CycleRun.id))) or 0

    def cycle(self) -> dict:
        """Enqueue a cycle for the worker and wait for its CycleRun; returns the run and the wall time."""
        before = self.last_cycle_id()
        start = time.monotonic()
        job_id = self.runtime.queue.enqueue_cycle(self.cid)
        if job_id is None:
            raise CycleFailed("a cycle was already queued or running; the bench needs the queue to itself")
        run = self.wait_cycle(after=before, job_id=job_id)
        run["wall_s"] = run.pop("observed_at") - start
        return run

    def wait_cycle(self, after: int, job_id: str | None = None) -> dict:
        """The first CycleRun after `after` once finished, and its RQ job done (so the next
        enqueue is not refused as a duplicate of a job still wrapping up)."""
        deadline = time.monotonic() + self.cycle_timeout
        result = None
        while True:
            if result is None:
                with self.runtime.store.session() as s:
                    run = s.scalars(select(CycleRun).where(CycleRun.id > after, CycleRun.finished_at.is_not(None))
                                    .order_by(CycleRun.id)).first()
                    if run is not None:
                        if run.outcome != "ok":
                            raise CycleFailed(f"cycle {run.id} ended {run.outcome}: {run.error}")
                        result = {"id": run.id, "engine_s": (run.finished_at - run.started_at).total_seconds(),
                                  "counts": run.counts, "api_calls": run.api_calls,
                                  "observed_at": time.monotonic()}
            status = self._job_status(job_id) if job_id else None
            if status == JobStatus.FAILED:
                job = RQJob.fetch(job_id, connection=self.runtime.redis, serializer=SERIALIZER)
                result_obj = job.latest_result()
                raise CycleFailed("the cycle job failed in the worker: "
                                  f"{result_obj.exc_string if result_obj else 'no traceback kept'}")
            if result is not None and status not in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED,
                                                     JobStatus.SCHEDULED):
                return result
            if self.worker is not None:
                self.worker.check()
            if time.monotonic() > deadline:
                raise CycleFailed(f"no cycle finished within {self.cycle_timeout:.0f} s")
            time.sleep(0.05)

    def _job_status(self, job_id: str):
        try:
            return RQJob.fetch(job_id, connection=self.runtime.redis, serializer=SERIALIZER).get_status(refresh=True)
        except NoSuchJobError:
            return None

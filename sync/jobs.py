"""RQ jobs: the cycle, manual syncs and error retries (issue 3 §3).

Jobs that start the same work share one job id while it is pending, so a double
click or a retried HTTP request does not run it twice. Outcomes are kept in SQL."""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import timedelta

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from .models import CycleRun, Job, utcnow
from .roles import Principal
from .serialize import job_dict

log = logging.getLogger("connector.jobs")
QUEUE = "connector"
JOB_TIMEOUT = 3600
DEDUPE_TTL = 3600
# Issue 9 item 12: job payloads are JSON. RQ's default (pickle) runs whatever code anyone who can
# write to Redis puts in a job; every Queue, Worker and Job.fetch passes this serializer.
SERIALIZER = JSONSerializer
# Set by the worker's heartbeat thread while a job runs (sync/worker.py); it outlives a Redis
# restart because the thread writes it again, so a job still running is not taken for lost.
ALIVE_KEY = "job-alive:{}"
LIVE = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
# How soon a manual job Redis forgot is queued again: long enough for start_job to have
# enqueued the row it just wrote (milliseconds), short of a poll interval (issue 9 item 5).
ORPHAN_AFTER = timedelta(seconds=2)
CYCLE_LOCK = "cycle-lock:{}"


def fetch(job_id: str, redis) -> RQJob:
    return RQJob.fetch(job_id, connection=redis, serializer=SERIALIZER)


def heartbeat_ttl(poll_interval: int) -> int:
    """Seconds without a worker heartbeat after which its job counts as dead: a third of a poll
    interval (3 to 30 s), so a killed worker's cycle is failed and re-run well within two."""
    return max(3, min(30, poll_interval // 3))


class JobQueue:
    def __init__(self, redis, store, budget=None):
        self.redis = redis
        self.store = store
        self.budget = budget
        self.rq = Queue(QUEUE, connection=redis, default_timeout=JOB_TIMEOUT, serializer=SERIALIZER)

    def depth(self) -> int:
        return self.rq.count

    def budget_usage(self, connector_id: int) -> dict:
        return self.budget.usage() if self.budget else {}

    def enqueue_cycle(self, connector_id: int) -> str | None:
        """At most one cycle queued or running per connector; returns the job id or None."""
        job_id = f"cycle-{connector_id}"
        if self.redis.exists(ALIVE_KEY.format(job_id)):
            return None  # still running in a worker, though Redis may have forgotten the job
        try:
            existing = fetch(job_id, self.redis)
            if existing.get_status(refresh=True) in LIVE:
                return None
            # Drop the list of its executions first: RQ's Job.delete fetches each one and fails on
            # a dead worker's, whose hash lapsed with its heartbeat (rq 2.12 executions.py).
            self.redis.delete(existing.execution_registry.key)
            existing.delete()
        except NoSuchJobError:
            pass
        self.rq.enqueue_call("sync.tasks.run_cycle", args=(connector_id,), job_id=job_id,
                             result_ttl=600, failure_ttl=86400, timeout=JOB_TIMEOUT)
        return job_id

    def start_job(self, connector_id: int, kind: str, params: dict, principal: Principal,
                  notify: dict) -> tuple[dict, bool]:
        key_src = json.dumps({"c": connector_id, "k": kind, "p": params}, sort_keys=True, default=str)
        dedupe = f"jobkey:{hashlib.sha256(key_src.encode()).hexdigest()[:32]}"
        job_id = f"{kind.replace('_', '-')}-{secrets.token_hex(8)}"
        existing = self.redis.get(dedupe)
        if existing:
            with self.store.session() as s:
                job = s.get(Job, existing.decode())
                if job is not None and job.state in ("queued", "started"):
                    return job_dict(job), False
        with self.store.session() as s:
            job = Job(id=job_id, kind=kind, params={**params, "connector_id": connector_id}, state="queued",
                      outcome={}, created_at=utcnow(),
                      requested_by=principal.who, requested_via=principal.channel, notify=notify)
            s.add(job)
            result = job_dict(job)
        if not self.redis.set(dedupe, job_id, nx=True, ex=DEDUPE_TTL):
            # Lost a race with an identical request: keep the winner's job.
            self.redis.set(dedupe, job_id, ex=DEDUPE_TTL)
        self.redis.set(f"jobkey-of:{job_id}", dedupe, ex=DEDUPE_TTL)
        self.rq.enqueue_call("sync.tasks.run_job", args=(job_id,), job_id=job_id, result_ttl=86400,
                             failure_ttl=86400, timeout=JOB_TIMEOUT)
        return result, True

    def recover_orphans(self, older_than: timedelta = ORPHAN_AFTER) -> dict:
        """Redis holds no state (DESIGN §1): jobs it forgot are queued again from SQL, and jobs
        that were running when it went away are marked failed, so no outcome stays unknown."""
        requeued, lost = [], []
        cutoff = utcnow() - older_than
        with self.store.session() as s:
            for job in s.scalars(select(Job).where(Job.state.in_(("queued", "started")), Job.created_at < cutoff)):
                try:
                    status = fetch(job.id, self.redis).get_status(refresh=True)
                except NoSuchJobError:
                    status = None
                if status in LIVE or self.redis.exists(ALIVE_KEY.format(job.id)):
                    continue
                if job.state == "queued":
                    requeued.append(job.id)
                else:
                    job.state, job.ended_at = "failed", utcnow()
                    job.outcome = {"ok": False, "category": "transient", "code": "JOB_LOST",
                                   "message": "the worker running this job stopped before it ended; "
                                              "start the sync again"}
                    lost.append(job.id)
        for job_id in requeued:
            self.rq.enqueue_call("sync.tasks.run_job", args=(job_id,), job_id=job_id, result_ttl=86400,
                                 failure_ttl=86400, timeout=JOB_TIMEOUT)
        return {"requeued": requeued, "lost": lost}

    def enqueue_retries(self, connector_id: int) -> str:
        job_id = f"auto-retry-{connector_id}"
        try:
            if fetch(job_id, self.redis).get_status(refresh=True) in (JobStatus.QUEUED, JobStatus.STARTED):
                return job_id
        except NoSuchJobError:
            pass
        self.rq.enqueue_call("sync.tasks.run_due_retries", args=(connector_id,), job_id=job_id,
                             result_ttl=60, timeout=JOB_TIMEOUT)
        return job_id

    # ------------------------------------------------------------------ dead workers (issue 9 item 4)
    def reap(self) -> dict:
        """Fail the jobs whose worker stopped sending heartbeats (killed, frozen, lost its host),
        and release the cycle locks such workers held.

        RQ's StartedJobRegistry.cleanup does the failing (status failed, FailedJobRegistry,
        AbandonedJobError); our worker keeps a job's registry score a few seconds ahead while it
        runs (sync/worker.py), so that happens seconds after a death, not after JOB_TIMEOUT. Any
        worker may run that cleanup first (RQ workers do at start), so dead cycles are also
        found from their lock: its token names the job, and a job no worker keeps alive holds
        nothing. Returns the connectors whose cycle died, to queue their next one at once."""
        registry = StartedJobRegistry(queue=self.rq)
        dead = [job_id for job_id in registry.get_expired_job_ids()
                if not self.redis.exists(ALIVE_KEY.format(job_id))]
        if dead:
            registry.cleanup()
            for job_id in dead:
                log.warning("job %s: its worker stopped sending heartbeats; failed it", job_id)
        cycles = {int(job_id.split("-", 1)[1]) for job_id in dead if job_id.startswith("cycle-")}
        for key in self.redis.scan_iter(match=CYCLE_LOCK.format("*")):
            token = self.redis.get(key)
            owner = token.decode(errors="replace").split("|", 1)[0] if token else ""
            # a lock taken outside a worker (a shell, a test) has no heartbeat: its TTL decides
            if not owner.startswith("cycle-") or self.redis.exists(ALIVE_KEY.format(owner)):
                continue
            if _release_if_held_by(self.redis, key, owner):
                log.warning("%s: released the cycle lock its dead worker held", owner)
                cycles.add(int(owner.split("-", 1)[1]))
        failed_runs = []
        for cid in sorted(cycles):
            failed_runs += self.fail_orphan_cycles(
                cid, "the worker running this cycle stopped (killed or frozen) before it ended; "
                     "the next cycle carries on from the last saved cursors")
        return {"dead": dead, "cycles": sorted(cycles), "cycle_runs": failed_runs}

    def fail_orphan_cycles(self, connector_id: int, reason: str | None = None) -> list[int]:
        """cycle_run rows left "running" by a cycle that no longer runs end as failed.

        That is a cycle whose worker died, or whose process lost the database and could not
        write its outcome. A cycle counts as running while its RQ job is started, its worker's
        heartbeat key exists or its lock is held; rows started after this check began are
        never touched (a new cycle may have just begun)."""
        job_id = f"cycle-{connector_id}"
        checked_at = utcnow()
        try:
            if fetch(job_id, self.redis).get_status(refresh=True) == JobStatus.STARTED:
                return []
        except NoSuchJobError:
            pass
        if self.redis.exists(ALIVE_KEY.format(job_id)) or self.redis.exists(CYCLE_LOCK.format(connector_id)):
            return []
        failed = []
        with self.store.session() as s:
            for run in s.scalars(select(CycleRun).where(CycleRun.connector_id == connector_id,
                                                        CycleRun.finished_at.is_(None),
                                                        CycleRun.started_at < checked_at)):
                run.outcome, run.finished_at = "failed", checked_at
                run.error = reason or ("the cycle stopped before recording its outcome (its worker lost the "
                                       "database or Redis, or was stopped); the next cycle carries on")
                failed.append(run.id)
        if failed:
            log.warning("connector %s: cycle runs %s never ended; marked failed", connector_id, failed)
        return failed


_RELEASE_IF_OWNER = """
local v = redis.call('get', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _release_if_held_by(redis, key: str, owner: str) -> bool:
    """Delete a lock whose token names `owner` (Engine.run_cycle's token is "<job id>|<random>")."""
    return bool(redis.eval(_RELEASE_IF_OWNER, 1, key, f"{owner}|"))


# The worker's job functions live in sync/tasks.py (issue 12: no import from here up to the
# runtime). Jobs queued before that move name "sync.jobs.<function>"; RQ resolves the name
# with getattr, so they still run.
def __getattr__(name: str):
    if name in ("run_cycle", "run_due_retries", "run_job"):
        from . import tasks  # noqa: PLC0415 - old dotted names only; tasks imports this module
        return getattr(tasks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

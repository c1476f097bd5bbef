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
from sqlalchemy import select
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from .models import Job, utcnow
from .roles import Principal

log = logging.getLogger("connector.jobs")
QUEUE = "connector"
JOB_TIMEOUT = 3600
DEDUPE_TTL = 3600


class JobQueue:
    def __init__(self, redis, store, budget=None):
        self.redis = redis
        self.store = store
        self.budget = budget
        self.rq = Queue(QUEUE, connection=redis, default_timeout=JOB_TIMEOUT)

    def depth(self) -> int:
        return self.rq.count

    def budget_usage(self, connector_id: int) -> dict:
        return self.budget.usage() if self.budget else {}

    def enqueue_cycle(self, connector_id: int) -> str | None:
        """At most one cycle queued or running per connector; returns the job id or None."""
        job_id = f"cycle-{connector_id}"
        try:
            existing = RQJob.fetch(job_id, connection=self.redis)
            if existing.get_status(refresh=True) in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED,
                                                     JobStatus.SCHEDULED):
                return None
            existing.delete()
        except NoSuchJobError:
            pass
        self.rq.enqueue_call("sync.jobs.run_cycle", args=(connector_id,), job_id=job_id,
                             result_ttl=600, failure_ttl=86400, timeout=JOB_TIMEOUT)
        return job_id

    def start_job(self, connector_id: int, kind: str, params: dict, principal: Principal,
                  notify: dict) -> tuple[dict, bool]:
        from .service import job_dict  # late: service imports this module's users

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
        self.rq.enqueue_call("sync.jobs.run_job", args=(job_id,), job_id=job_id, result_ttl=86400,
                             failure_ttl=86400, timeout=JOB_TIMEOUT)
        return result, True

    def recover_orphans(self, older_than: timedelta = timedelta(minutes=5)) -> dict:
        """Redis holds no state (DESIGN §1): jobs it forgot are queued again from SQL, and jobs
        that were running when it went away are marked failed, so no outcome stays unknown."""
        requeued, lost = [], []
        cutoff = utcnow() - older_than
        with self.store.session() as s:
            for job in s.scalars(select(Job).where(Job.state.in_(("queued", "started")), Job.created_at < cutoff)):
                try:
                    status = RQJob.fetch(job.id, connection=self.redis).get_status(refresh=True)
                except NoSuchJobError:
                    status = None
                if status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
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
            self.rq.enqueue_call("sync.jobs.run_job", args=(job_id,), job_id=job_id, result_ttl=86400,
                                 failure_ttl=86400, timeout=JOB_TIMEOUT)
        return {"requeued": requeued, "lost": lost}

    def enqueue_retries(self, connector_id: int) -> str:
        job_id = f"auto-retry-{connector_id}"
        try:
            if RQJob.fetch(job_id, connection=self.redis).get_status(refresh=True) in (
                    JobStatus.QUEUED, JobStatus.STARTED):
                return job_id
        except NoSuchJobError:
            pass
        self.rq.enqueue_call("sync.jobs.run_due_retries", args=(connector_id,), job_id=job_id,
                             result_ttl=60, timeout=JOB_TIMEOUT)
        return job_id


# ---------------------------------------------------------------------- job functions (worker side)
def run_cycle(connector_id: int) -> dict:
    from .native import engine_of, run_health
    from .runtime import current

    rt = current()
    if engine_of(rt.store, connector_id) == "salesforce":  # R38: its sync health, not our sync
        return run_health(rt, connector_id)
    return rt.engine().run_cycle(connector_id)


def run_due_retries(connector_id: int) -> dict:
    from .runtime import current

    return current().engine().retry_due(connector_id)


def run_job(job_id: str) -> dict:
    from .runtime import current

    rt = current()
    with rt.store.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise LookupError(f"job {job_id} vanished from the store")
        job.state = "started"
        kind, params, notify = job.kind, dict(job.params), dict(job.notify or {})
    engine = rt.engine()
    try:
        if kind == "sync_prospect":
            outcome = engine.sync_prospect(params["connector_id"], prospect_id=params.get("prospect_id"),
                                           email=params.get("email"))
        elif kind == "send_to_pardot":
            outcome = engine.send_to_pardot(params["connector_id"], params["sobject"], params["crm_id"])
        elif kind == "native_unpause":  # R37: approval on the salesforce engine
            from .native import run_unpause
            outcome = run_unpause(rt, params["request_id"])
        elif kind == "retry_errors":
            outcome = engine.retry_errors(params["connector_id"], params["error_ids"])
        elif kind == "create_crm_id_field":
            from . import custom_fields
            outcome = custom_fields.create(rt.store, engine.clients()[1], params["connector_id"], params["field_id"])
        else:
            raise ValueError(f"unknown job kind {kind}")
        state = "finished" if outcome.get("ok", True) else "failed"
    except Exception as exc:  # the outcome is recorded; the worker lives on
        log.exception("job %s failed", job_id)
        outcome, state = {"ok": False, "category": "transient", "message": f"{type(exc).__name__}: {exc}"}, "failed"
    with rt.store.session() as s:
        job = s.get(Job, job_id)
        job.state, job.outcome, job.ended_at = state, outcome, utcnow()
        from .service import job_dict
        result = job_dict(job)
    dedupe = rt.redis.get(f"jobkey-of:{job_id}")
    if dedupe and rt.redis.get(dedupe) == job_id.encode():
        rt.redis.delete(dedupe)
    rt.notify("job_finished", {"job": result, "notify": notify})
    return result

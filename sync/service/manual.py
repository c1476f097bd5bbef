"""Manual syncs (R6) and their jobs; one record's sync state (issue 9 item 3)."""
from __future__ import annotations

from .. import audit, native, record_state
from ..errors import Conflict, Invalid, NotFound
from ..models import Job
from ..names import PREFIX_OF, SYNC_OBJECTS
from ..roles import Principal
from ..serialize import job_dict
from .base import ServiceBase

MAX_JOB_ID = 80  # Job.id's column width


class ManualSyncs(ServiceBase):

    def sync_prospect(self, principal: Principal, prospect_id: int | str | None = None,
                      email: str | None = None, notify: dict | None = None) -> dict:
        """"Sync with CRM" for one prospect, also while paused (R6)."""
        if native.is_native(self):  # R35: a sentence saying why and where to go instead
            native.refuse(self, principal, "sync_prospect")
        problems = {}
        if (prospect_id is None) == (email is None):
            problems["prospect"] = "give exactly one of prospect_id or email"
        if prospect_id is not None:
            try:
                prospect_id = int(prospect_id)
                if prospect_id <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                problems["prospect_id"] = f"{prospect_id!r} is not a Pardot prospect id (a positive number)"
        if email is not None and (not isinstance(email, str) or "@" not in email):
            problems["email"] = f"{email!r} is not an email address"
        return self._start_job(principal, "sync_prospect", "operator", problems,
                               {"prospect_id": prospect_id} if prospect_id is not None
                               else {"email": (email or "").strip().lower()}, notify)

    def send_to_pardot(self, principal: Principal, sobject: str, crm_id: str, notify: dict | None = None) -> dict:
        """"Send to Pardot" for one lead, contact or person account, also while paused (R6)."""
        if native.is_native(self):  # R35: a sentence saying why and where to go instead
            native.refuse(self, principal, "send_to_pardot")
        problems = {}
        canonical = {o.lower(): o for o in SYNC_OBJECTS}.get(str(sobject or "").lower())
        if not canonical:
            problems["object"] = f"{sobject!r} is not one of Lead, Contact, Account"
        prefix = PREFIX_OF.get(canonical or "")
        if not isinstance(crm_id, str) or len(crm_id) not in (15, 18) or not crm_id.isalnum():
            problems["id"] = f"{crm_id!r} is not a 15- or 18-character Salesforce id"
        elif prefix and not crm_id.startswith(prefix):
            problems["id"] = f"{crm_id} is not a {canonical} id (those start with {prefix})"
        return self._start_job(principal, "send_to_pardot", "operator", problems,
                               {"sobject": canonical, "crm_id": crm_id}, notify)

    def _start_job(self, principal: Principal, kind: str, needed: str, problems: dict, params: dict,
                   notify: dict | None) -> dict:
        with self.store.session() as s:
            self._require(s, principal, needed, kind)
            if problems:
                self._invalid(s, principal, kind, Invalid("; ".join(problems.values()), problems))
            c = self._connector(s)
        if self.queue is None:
            raise Conflict("this process cannot start jobs (no queue configured)")
        job, fresh = self.queue.start_job(c.id, kind, params, principal, notify or {})
        self._changed()
        with self.store.session() as s:
            audit.record(s, principal, kind, "ok", f"job:{job['id']}", reused=not fresh, **params)
        return job

    def get_job(self, principal: Principal, job_id: str) -> dict:
        # Ids we issue are short and printable; anything else (NUL, megabytes) names no job and
        # must not reach the database (PostgreSQL refuses NUL in text).
        if not isinstance(job_id, str) or not 0 < len(job_id) <= MAX_JOB_ID or not job_id.isprintable():
            raise NotFound("no job with that id (job ids are short and printable)")
        with self.store.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFound(f"no job {job_id}")
            return job_dict(job)

    def prospect_sync_state(self, principal: Principal, prospect_id) -> dict:
        """The link, state, last sync each way and open errors of one prospect, from the store (R32: viewer)."""
        return self._record_state(principal, "pardot", record_state.parse_prospect_id(prospect_id), "Prospect")

    def crm_record_sync_state(self, principal: Principal, crm_id) -> dict:
        """The same for a Salesforce lead, contact or person account (15- or 18-character id)."""
        return self._record_state(principal, "salesforce", record_state.parse_crm_id(crm_id), "Salesforce record")

    def _record_state(self, principal: Principal, side: str, record_id, label: str) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "viewer", "sync_status", str(record_id))
            result = record_state.read_state(s, self._connector(s), side, record_id)
        if result is None:
            raise NotFound(f"{label} {record_id} not found: the connector has never seen it")
        return result

"""The sync error queue (R25–R27): list, read, retry, dismiss."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from .. import audit, native
from ..errors import Conflict, Invalid, NotFound
from ..models import SyncError, utcnow
from ..names import ERROR_CATEGORIES
from ..roles import Principal
from ..serialize import error_dict
from .access import page, paging
from .base import ServiceBase

ERROR_STATUSES = ("open", "retrying", "resolved", "dismissed")
OPEN = ("open", "retrying")
ERROR_OBJECTS = ("Lead", "Contact", "Account", "Prospect")


def _since(since, problems: dict):
    if not isinstance(since, str):
        return since
    try:
        since = datetime.fromisoformat(since.replace("Z", "+00:00"))
        return since.replace(tzinfo=timezone.utc) if since.tzinfo is None else since
    except ValueError:
        problems["since"] = f"{since!r} is not an ISO 8601 date-time"
        return None


class ErrorQueue(ServiceBase):

    def list_errors(self, principal: Principal, status: str | None = "open", category: str | None = None,
                    sobject: str | None = None, since: datetime | str | None = None,
                    cursor: int | str | None = None, limit: int = 50) -> dict:
        problems = {}
        statuses = ERROR_STATUSES if status in (None, "all") else (status,)
        if status not in (None, "all") and status not in ERROR_STATUSES:
            problems["status"] = f"{status!r} is not one of {', '.join(ERROR_STATUSES)} or all"
        if category is not None and category not in ERROR_CATEGORIES:
            problems["category"] = f"{category!r} is not one of {', '.join(ERROR_CATEGORIES)}"
        if sobject is not None and sobject not in ERROR_OBJECTS:
            problems["object"] = f"{sobject!r} is not one of {', '.join(ERROR_OBJECTS)}"
        since = _since(since, problems)
        cursor, limit, paging_problems = paging(cursor, limit)
        problems.update(paging_problems)
        if problems:
            raise Invalid("invalid filter: " + "; ".join(f"{k} {v}" for k, v in problems.items()), problems)
        with self.store.session() as s:
            c = self._connector(s)
            stmt = select(SyncError).where(SyncError.connector_id == c.id, SyncError.status.in_(statuses))
            if category:
                stmt = stmt.where(SyncError.category == category)
            if sobject:
                stmt = stmt.where(SyncError.sobject == sobject)
            if since:
                stmt = stmt.where(SyncError.last_seen >= since)
            if cursor:
                stmt = stmt.where(SyncError.id < cursor)
            return page(s.scalars(stmt.order_by(SyncError.id.desc()).limit(limit + 1)).all(), limit, error_dict)

    def get_error(self, principal: Principal, error_id: int) -> dict:
        with self.store.session() as s:
            e = s.get(SyncError, error_id)
            if e is None or e.connector_id != self._connector(s).id:
                raise NotFound(f"no sync error #{error_id}")
            return error_dict(e)

    def retry_errors(self, principal: Principal, error_id: int | None = None, category: str | None = None,
                     notify: dict | None = None) -> dict:
        """Retry one error or every open error of a category (R27); runs as a job."""
        if native.is_native(self):  # R35: a sentence saying why and where to go instead
            native.refuse(self, principal, "retry_errors")
        problems = {}
        if (error_id is None) == (category is None):
            problems["target"] = "give exactly one of an error id or a category"
        if category is not None and category not in ERROR_CATEGORIES:
            problems["category"] = f"{category!r} is not one of {', '.join(ERROR_CATEGORIES)}"
        with self.store.session() as s:
            self._require(s, principal, "operator", "retry_errors")
            if not problems:
                c = self._connector(s)
                stmt = select(SyncError.id).where(SyncError.connector_id == c.id,
                                                  SyncError.status.in_(OPEN))
                if error_id is not None:
                    e = s.get(SyncError, error_id) if 0 < error_id < 2 ** 31 else None
                    if e is None or e.connector_id != c.id:
                        self._refuse(s, principal, "retry_errors", NotFound(f"no sync error #{error_id}"),
                                     f"sync_error:{error_id}", reason="not found")
                    if e.status not in OPEN:
                        self._refuse(s, principal, "retry_errors",
                                     Conflict(f"sync error #{error_id} is {e.status}; only open errors are retried"),
                                     f"sync_error:{error_id}", reason=e.status)
                    stmt = stmt.where(SyncError.id == error_id)
                else:
                    stmt = stmt.where(SyncError.category == category)
                ids = list(s.scalars(stmt))
                if not ids:
                    problems["category"] = f"there are no open {category} errors"
        if problems:
            with self.store.session() as s:
                audit.record(s, principal, "retry_errors", "failed", details=problems)
            raise (Conflict if "category" in problems and category in ERROR_CATEGORIES else Invalid)(
                "; ".join(problems.values()), problems)
        key = {"error_id": error_id} if error_id is not None else {"category": category}
        return self._start_job(principal, "retry_errors", "operator", {}, {**key, "error_ids": ids}, notify)

    def dismiss_error(self, principal: Principal, error_id: int) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "operator", "dismiss_error", f"sync_error:{error_id}")
            e = s.get(SyncError, error_id)
            if e is None or e.connector_id != self._connector(s).id:
                raise NotFound(f"no sync error #{error_id}")
            if e.status in ("resolved", "dismissed"):
                self._refuse(s, principal, "dismiss_error", Conflict(f"sync error #{error_id} is already {e.status}"),
                             f"sync_error:{error_id}", reason=e.status)
            e.status, e.resolved_at, e.resolved_by, e.next_retry_at = "dismissed", utcnow(), principal.who, None
            audit.record(s, principal, "dismiss_error", "ok", f"sync_error:{error_id}")
            result = error_dict(e)
        self._changed()
        return result

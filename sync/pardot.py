"""Pardot (Account Engagement) API v5 client of the sync core (R25–R29, R40).

Every request holds a slot of the Redis semaphore shared by all processes (at most 5 in flight,
R40) for its whole duration and spends the daily budget first (R29). A bad token (184) is
renewed once; concurrency (66), minute-limit (202) and bare 429 answers are waited out with
capped exponential backoff; the daily limit (122) raises BudgetExhausted.
"""
from __future__ import annotations

import json as json_lib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator, TypeVar

import requests

from sync.budget import next_utc_midnight
from sync.http import make_session, retry_after
from sync.readahead import read_ahead
from sync.remote import (
    PARDOT_BAD_TOKEN,
    PARDOT_CONCURRENCY,
    PARDOT_DAILY_LIMIT,
    PARDOT_MINUTE_LIMIT,
    PARDOT_NOT_FOUND,
    BudgetExhausted,
    RemoteCallError,
    RemoteError,
    RetryPolicy,
    categorize_pardot,
    connection_error,
    is_retryable,
)
from sync.semaphore import RedisSemaphore, SemaphoreTimeout

T = TypeVar("T")
SIDE = "pardot"
MAX_CONCURRENT = 5
PAGE_LIMIT = 1000
PARDOT_SEQUENCE_EXCEEDED = 203  # warning: a nextPageToken chain has served its most records
SEMAPHORE_NAME = "pardot:inflight"
# Pardot's day starts at midnight in the account's time zone, which the API does not expose:
# wait until the next UTC midnight, but probe at least hourly so no time zone waits a whole day.
DAILY_LIMIT_PROBE = timedelta(hours=1)
ACCOUNT_FIELDS = ["maximumDailyApiCalls", "apiCallsUsed"]
# codes that always concern one field: invalid email, email in use, invalid user id
_CODE_FIELDS = {4: ("email",), 54: ("email",), 10: ("assignedToId",)}


class _Busy(Exception):
    """66 / 202 / bare 429: the call was refused for a short-lived reason; retry after a wait."""

    def __init__(self, error: RemoteCallError):
        super().__init__(str(error))
        self.error = error


class PardotClient:
    def __init__(self, config, token: Callable[[], str], reauth: Callable[[], str], redis, budget,
                 session: requests.Session | None = None, *, busy_retry: RetryPolicy = RetryPolicy(8, 0.25, 15),
                 transient_retry: RetryPolicy = RetryPolicy(), timeout: float = 50,
                 semaphore: RedisSemaphore | None = None):
        self.config = config
        self.base = config.pardot_base_url.rstrip("/") + "/api/v5"
        self.token = token
        self.reauth = reauth
        self.budget = budget
        self.session = session if session is not None else make_session(config.tls_verify)
        self.busy_retry = busy_retry
        self.transient_retry = transient_retry
        self.timeout = timeout
        # lease longer than any request can take, so a live request never loses its slot
        self.semaphore = semaphore or RedisSemaphore(
            redis, f"{SEMAPHORE_NAME}:{config.pardot_business_unit_id}", MAX_CONCURRENT,
            lease_seconds=timeout + 10)
        self._reauth_lock = threading.Lock()

    # --- objects ----------------------------------------------------------------------------
    def query(self, obj: str, fields: list[str], read_ahead_pages: int = 1, **filters) -> Iterator[dict]:
        """Streams every record of `obj` matching `filters` (limit=1000 a page unless given,
        nextPageToken paging; e.g. deleted="all", orderBy="updatedAt", updatedAtAfterOrEqualTo=dt).

        One nextPageToken chain serves at most 100,000 records (Pardot then answers warning 203
        and no token); the query goes on as new chains from the last record served (issue 11)."""
        field_list = ",".join(dict.fromkeys([*fields, "id", *(["updatedAt"] if filters.get("orderBy") ==
                                                             "updatedAt" else [])]))
        params = {"fields": field_list, "limit": PAGE_LIMIT}
        params.update({k: _param(v) for k, v in filters.items() if v is not None})
        return self._chains(obj, params, field_list, read_ahead_pages)

    def _chains(self, obj: str, params: dict, field_list: str, ahead: int) -> Iterator[dict]:
        """Chain after chain until one ends without the warning. By id, the next chain starts
        after the last id. By updatedAt (whole seconds, so a bulk import may give 100,000
        records one stamp), the rest of the last second is read by id, then the next second on."""
        while True:
            last, exceeded = None, False
            for page in self._chain(obj, params, field_list, ahead):
                exceeded = page["exceeded"]
                for record in page["values"]:
                    last = record
                    yield record
            if not exceeded or last is None:
                return
            if params.get("orderBy") != "updatedAt":
                params = {**params, "idGreaterThan": str(last["id"])}
                continue
            stamp, following = last["updatedAt"], _next_second(last["updatedAt"])
            rest = {k: v for k, v in params.items() if not k.startswith("updatedAt") and k != "orderBy"}
            yield from self._chains(obj, {**rest, "updatedAtAfterOrEqualTo": stamp, "updatedAtBefore": following,
                                          "idGreaterThan": str(last["id"]), "orderBy": "id"}, field_list, ahead)
            params = {**{k: v for k, v in params.items() if k not in ("updatedAtAfter", "updatedAtAfterOrEqualTo")},
                      "updatedAtAfterOrEqualTo": following}

    def _chain(self, obj: str, params: dict, field_list: str, ahead: int) -> Iterator[dict]:
        """One nextPageToken chain: pages as {"values", "exceeded"}, read `ahead` pages ahead."""
        def page_of(resp: requests.Response) -> dict:
            body = resp.json() if resp.content else {}
            warning = resp.headers.get("Pardot-Warning") or ""
            return {"values": body.get("values") or (), "token": body.get("nextPageToken"),
                    "exceeded": warning.startswith(f"{PARDOT_SEQUENCE_EXCEEDED};")}

        first = page_of(self._request("GET", f"/objects/{obj}", params=params, raw="response"))
        if not first["token"]:
            yield first  # one page: no thread
            return

        def after(previous: dict) -> dict | None:
            if not previous["token"]:
                return None
            return page_of(self._request("GET", f"/objects/{obj}", raw="response",
                                         params={"fields": field_list, "nextPageToken": previous["token"]}))

        yield from read_ahead(first, after, depth=ahead)

    def get_prospect(self, prospect_id: int, fields: list[str]) -> dict | None:
        """The prospect, or None when it does not exist or sits in the recycle bin."""
        try:
            return self._request("GET", f"/objects/prospects/{int(prospect_id)}", params=_fields(fields))
        except RemoteCallError as exc:
            if exc.error.code == str(PARDOT_NOT_FOUND):
                return None
            raise

    def create_prospect(self, values: dict, fields: list[str]) -> dict:
        # not idempotent: a create whose answer was lost must not be sent again
        return self._request("POST", "/objects/prospects", params=_fields(fields), json=values, idempotent=False)

    def update_prospect(self, prospect_id: int, values: dict, fields: list[str]) -> dict:
        return self._request("PATCH", f"/objects/prospects/{int(prospect_id)}", params=_fields(fields), json=values)

    def delete_prospect(self, prospect_id: int) -> None:
        self._request("DELETE", f"/objects/prospects/{int(prospect_id)}")

    def undelete_prospect(self, prospect_id: int, fields: list[str]) -> dict:
        return self._request("POST", f"/objects/prospects/{int(prospect_id)}/do/undelete", params=_fields(fields))

    def upsert_latest_by_email(self, email: str, values: dict, fields: list[str]) -> dict:
        body = {"matchEmail": email, "prospect": values, "fields": list(fields)}
        return self._request("POST", "/objects/prospects/do/upsertLatestByEmail", json=body)

    def create_custom_field(self, values: dict, fields: list[str]) -> dict:
        # not idempotent: a lost answer is checked by reading the custom fields, not by sending again
        return self._request("POST", "/objects/custom-fields", params=_fields(fields), json=values, idempotent=False)

    def account(self) -> dict:
        """Account API usage; also keeps the Pardot budget's allocation current."""
        result = self._request("GET", "/objects/account", params=_fields(ACCOUNT_FIELDS))
        if result.get("maximumDailyApiCalls") is not None:
            self.budget.observe_pardot(int(result["maximumDailyApiCalls"]), int(result.get("apiCallsUsed") or 0))
        return result

    # --- concurrency ------------------------------------------------------------------------
    def run_concurrently(self, calls: Iterable[Callable[[], T]]) -> list[T | RemoteCallError]:
        """Runs `calls` on 5 threads; results in input order. A RemoteCallError of one call is
        returned in its place (R25); BudgetExhausted is raised once in-flight calls finish, and
        calls not yet started are skipped."""
        calls = list(calls)
        results: list = [None] * len(calls)
        exhausted: list[BudgetExhausted] = []

        def run(i: int, call: Callable[[], T]) -> None:
            if exhausted:
                return
            try:
                results[i] = call()
            except BudgetExhausted as exc:
                exhausted.append(exc)
            except RemoteCallError as exc:
                results[i] = exc

        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT, thread_name_prefix="pardot") as pool:
            futures = [pool.submit(run, i, call) for i, call in enumerate(calls)]
            errors = [f.exception() for f in futures]
        if exhausted:
            raise exhausted[0]
        unexpected = next((e for e in errors if e is not None), None)
        if unexpected is not None:
            raise unexpected
        return results

    # --- the request wrapper ----------------------------------------------------------------
    # --- Import API: bulk upserts, a few calls for thousands of rows ----------------------
    def create_import(self, csv_text: str) -> dict:
        """Creates a prospect upsert import with one CSV batch, submitted at once."""
        spec = {"operation": "Upsert", "object": "Prospect", "state": "Ready", "createOnNoMatch": True}
        files = {"input": (None, json_lib.dumps(spec), "application/json"),
                 "importFile": ("prospects.csv", csv_text.encode("utf-8"), "text/csv")}
        return self._request("POST", "/imports", files=files, idempotent=False)

    def get_import(self, import_id: int) -> dict:
        return self._request("GET", f"/imports/{import_id}")

    def import_errors(self, import_id: int) -> str:
        return self._request("GET", f"/imports/{import_id}/errors", raw=True)

    def _request(self, method: str, path: str, params: dict | None = None, json=None,
                 idempotent: bool = True, files=None, raw: bool | str = False):
        transient = self.transient_retry.retrying(is_retryable)
        waits = self.busy_retry.retrying(lambda e: isinstance(e, _Busy))
        try:
            return transient(waits, self._attempt, method, path, params, json, idempotent, files, raw)
        except _Busy as exc:
            raise exc.error from None

    def _attempt(self, method, path, params, json, idempotent, files=None, raw=False):
        renewed = False
        while True:
            token = self.token()
            resp = self._send(method, path, params, json, token, idempotent, files)
            if resp.status_code < 300:
                if raw == "response":
                    return resp
                if raw:
                    return resp.text
                return resp.json() if resp.content else None
            code, message = _error_body(resp)
            if code == PARDOT_BAD_TOKEN and not renewed:
                self._renew(token)
                renewed = True
                continue
            exc = self._error(method, path, resp.status_code, code, message)
            (exc.error if isinstance(exc, _Busy) else exc).retry_after = retry_after(resp)
            raise exc

    def _send(self, method, path, params, json, token, idempotent, files=None) -> requests.Response:
        try:
            slot = self.semaphore.acquire(timeout=self.timeout)
        except SemaphoreTimeout as exc:
            raise RemoteCallError(RemoteError("transient", "SEMAPHORE_TIMEOUT", str(exc)), None, SIDE) from None
        try:
            self.budget.spend(SIDE)
            headers = {"Authorization": f"Bearer {token}",
                       "Pardot-Business-Unit-Id": self.config.pardot_business_unit_id}
            return self.session.request(method, self.base + path, params=params, json=json, files=files,
                                        headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise connection_error(SIDE, f"Pardot {method} {path}", exc, idempotent) from None
        finally:
            self.semaphore.release(slot)

    def _renew(self, stale: str) -> None:
        """One token renewal for all threads that saw the same stale token."""
        with self._reauth_lock:
            if self.token() == stale:
                self.reauth()

    def _error(self, method: str, path: str, status: int, code: int | None, message: str) -> Exception:
        category = categorize_pardot(code, status)
        error = RemoteError(category, str(code) if code is not None else f"HTTP_{status}",
                            f"Pardot {method} {path}: {message}", _CODE_FIELDS.get(code, ()))
        exc = RemoteCallError(error, status, SIDE)
        if code == PARDOT_DAILY_LIMIT:
            now = datetime.now(timezone.utc)
            resets_at = min(next_utc_midnight(now), now + DAILY_LIMIT_PROBE)
            self.budget.block(SIDE, resets_at, error.code, error.message)
            return BudgetExhausted(error, status, SIDE, resets_at)
        if code in (PARDOT_CONCURRENCY, PARDOT_MINUTE_LIMIT) or status == 429:
            return _Busy(exc)
        if category == "transient" and code in (210, 211):
            exc.retryable = False  # an expired page token needs a fresh query, not the same request
        return exc


def _error_body(resp: requests.Response) -> tuple[int | None, str]:
    try:
        body = resp.json()
    except ValueError:
        return None, f"HTTP {resp.status_code}: {resp.text[:200]}"
    if isinstance(body, dict):
        code = body.get("code")
        return (code if isinstance(code, int) else None), str(body.get("message") or f"HTTP {resp.status_code}")
    return None, f"HTTP {resp.status_code}: {str(body)[:200]}"


def _fields(fields: list[str]) -> dict:
    return {"fields": ",".join(fields)}


def _param(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in a Pardot filter; pass a timezone-aware one")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _next_second(stamp: str) -> str:
    """Pardot's updatedAt has whole seconds: the first instant after `stamp`'s second."""
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(seconds=1)).isoformat(timespec="seconds")

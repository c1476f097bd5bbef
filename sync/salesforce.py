"""Salesforce REST client of the sync core (R25–R29).

simple-salesforce does the HTTP; the JWT bearer exchange is done here because simple-salesforce
hard-wires *.salesforce.com for it. Every API call spends the budget first (R29), records the
Sforce-Limit-Info header, renews the token once on INVALID_SESSION_ID, and retries transient
whole-call failures with capped exponential backoff. Per-record failures of collection writes
come back as WriteResult values, never as exceptions (R25).
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, TypeVar
from urllib.parse import urlencode, urlparse

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from sync.http import make_session, retry_after
from sync.readahead import read_ahead
from sync.remote import (
    BudgetExhausted,
    RemoteCallError,
    RemoteError,
    RetryPolicy,
    categorize_salesforce,
    connection_error,
    is_retryable,
)

T = TypeVar("T")
SIDE = "salesforce"
COLLECTION_MAX = 200          # records per sObject Collections call
COMPOSITE_MAX = 25            # subrequests per /composite call
# Collections calls in flight at once: Salesforce limits only long-running (> 20 s) requests
# (25 at once in production orgs); these take well under a second.
WRITE_CONCURRENCY = 24
WARM_FOR_S = 60.0
RETRIEVE_GET_MAX_CHARS = 2000  # longer id lists go in a POST body (URL length limits)
# The org allocation is a rolling 24 h window, so usage falls gradually: probe again after an hour.
LIMIT_PROBE_AFTER = timedelta(hours=1)
JWT_LIFETIME_S = 180          # Salesforce accepts assertions at most 3 minutes ahead
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_REFERENCE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


@dataclass
class WriteResult:
    ok: bool
    id: str | None
    error: RemoteError | None
    created: bool = False


class SalesforceClient:
    def __init__(self, config, budget, session: requests.Session | None = None, *,
                 retry: RetryPolicy = RetryPolicy(), timeout: float = 60):
        self.config = config
        self.budget = budget
        self.session = session if session is not None else make_session(config.tls_verify)
        self.session.hooks["response"].append(self._observe_limit_info)
        self.retry = retry
        self.timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._instance_url: str | None = None
        self._sf: Salesforce | None = None
        self._private_key: bytes | None = None
        self._describes: dict[str, dict] = {}
        self._last_usage: dict = {"used": None, "max": None}
        self._calls = 0
        # simple-salesforce's errors carry no headers: the response hook keeps this thread's
        # last Retry-After for _call_error
        self._seen = threading.local()
        self._last_write_ok = float("-inf")  # when a write last went through (monotonic)

    # --- authentication ---------------------------------------------------------------------
    def access_token(self) -> str:
        with self._lock:
            if self._token is None:
                self._exchange()
            return self._token

    def reauthenticate(self) -> str:
        with self._lock:
            self._exchange()
            return self._token

    def _renew(self, stale: str) -> None:
        """Replace `stale` unless another thread already did."""
        with self._lock:
            if self._token in (None, stale):
                self._exchange()

    def _exchange(self) -> None:
        """JWT bearer flow; caller holds the lock. The token endpoint is not an API call (no budget)."""
        claims = {"iss": self.config.salesforce_consumer_key, "sub": self.config.salesforce_username,
                  "aud": self._audience(), "exp": int(time.time()) + JWT_LIFETIME_S}
        try:
            assertion = jwt.encode(claims, self._key(), algorithm="RS256")
        except (ValueError, TypeError) as exc:
            raise self._auth_error("invalid_key", f"private key {self.config.salesforce_private_key_file} "
                                                  f"is not a usable RSA PEM key ({type(exc).__name__})")
        url = self.config.salesforce_login_url.rstrip("/") + "/services/oauth2/token"
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}

        def post():
            try:
                resp = self.session.post(url, data=data, timeout=self.timeout)
            except requests.RequestException as exc:
                raise connection_error(SIDE, f"token endpoint {url}", exc, idempotent=True) from None
            if resp.status_code >= 500:
                err = RemoteCallError(RemoteError("transient", "SERVER_ERROR",
                                                  f"token endpoint {url} answered HTTP {resp.status_code}"),
                                      resp.status_code, SIDE)
                err.retry_after = retry_after(resp)
                raise err
            return resp

        resp = self.retry.retrying(is_retryable)(post)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or not body.get("access_token"):
            code = body.get("error") or f"HTTP_{resp.status_code}"
            reason = body.get("error_description") or resp.text[:200]
            raise self._auth_error(code, f"JWT bearer token exchange for {self.config.salesforce_username} "
                                         f"at {url} failed: {reason}", resp.status_code)
        self._token = body["access_token"]
        self._instance_url = body.get("instance_url") or self._instance_url
        if not self._instance_url:
            raise self._auth_error("no_instance_url", "token response carries no instance_url")
        self._sf = None

    def _audience(self) -> str:
        """`aud` must be the generic login host even when a My Domain URL is configured."""
        login = self.config.salesforce_login_url.rstrip("/")
        host = urlparse(login).hostname or ""
        if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
            return "https://test.salesforce.com"
        if host.endswith(".salesforce.com"):
            return "https://login.salesforce.com"
        return login

    def _key(self) -> bytes:
        if self._private_key is None:
            path = self.config.salesforce_private_key_file
            try:
                with open(path, "rb") as fh:
                    self._private_key = fh.read()
            except OSError as exc:
                raise self._auth_error("invalid_key", f"cannot read private key file {path}: "
                                                      f"{exc.strerror}") from None
        return self._private_key

    @staticmethod
    def _auth_error(code: str, message: str, status: int | None = None) -> RemoteCallError:
        return RemoteCallError(RemoteError("auth", code, message), status, SIDE)

    def _client(self) -> tuple[Salesforce, str]:
        token = self.access_token()
        with self._lock:
            if self._sf is None or self._sf.session_id != token:
                self._sf = Salesforce(instance_url=self._instance_url, session_id=token, session=self.session,
                                      version=self.config.salesforce_api_version)
            return self._sf, token

    # --- the call wrapper -------------------------------------------------------------------
    def _call(self, fn: Callable[[Salesforce], T], idempotent: bool = True) -> T:
        return self.retry.retrying(is_retryable)(self._attempt, fn, idempotent)

    def _attempt(self, fn: Callable[[Salesforce], T], idempotent: bool) -> T:
        renewed = False
        while True:
            self._spend()
            sf, token = self._client()
            try:
                return fn(sf)
            except SalesforceExpiredSession as exc:
                if renewed:
                    raise self._call_error(exc) from None
                self._renew(token)
                renewed = True
            except SalesforceError as exc:
                raise self._call_error(exc) from None
            except requests.RequestException as exc:
                raise connection_error(SIDE, "Salesforce request", exc, idempotent) from None

    def _spend(self) -> None:
        self.budget.spend(SIDE)
        with self._lock:
            self._calls += 1

    def _call_error(self, exc: SalesforceError) -> RemoteCallError:
        content = exc.content
        first = content[0] if isinstance(content, list) and content and isinstance(content[0], dict) else {}
        if isinstance(content, dict):
            first = content
        code = first.get("errorCode") or first.get("statusCode") or f"HTTP_{exc.status}"
        message = first.get("message") or (content if isinstance(content, str) else "")[:300] \
            or f"HTTP {exc.status} from {exc.resource_name or 'Salesforce'}"
        error = RemoteError(categorize_salesforce(code, exc.status), code, message,
                            tuple(first.get("fields") or ()))
        if code == "REQUEST_LIMIT_EXCEEDED":
            resets_at = datetime.now(timezone.utc) + LIMIT_PROBE_AFTER
            self.budget.block(SIDE, resets_at, code, message)
            return BudgetExhausted(error, exc.status, SIDE, resets_at)
        err = RemoteCallError(error, exc.status, SIDE)
        if exc.status in (429, 503):
            err.retry_after = getattr(self._seen, "retry_after", None)
        return err

    def _observe_limit_info(self, response, *args, **kwargs):
        self._seen.retry_after = retry_after(response)
        header = response.headers.get("Sforce-Limit-Info")
        match = _LIMIT_INFO.search(header) if header else None
        if match:
            used, max_ = int(match.group(1)), int(match.group(2))
            self._last_usage = {"used": used, "max": max_}
            self.budget.observe_salesforce(used, max_)

    @property
    def usage(self) -> dict:
        """Org usage from the last Sforce-Limit-Info header, plus calls made by this client."""
        return {**self._last_usage, "calls": self._calls}

    # --- reads ------------------------------------------------------------------------------
    def describe(self, sobject: str) -> dict:
        if sobject not in self._describes:
            self._describes[sobject] = self._call(
                lambda sf: sf.restful(f"sobjects/{sobject}/describe/", timeout=self.timeout))
        return self._describes[sobject]

    def limits(self) -> dict:
        result = self._call(lambda sf: sf.limits(timeout=self.timeout))
        daily = result.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.budget.observe_salesforce(daily["Max"] - daily["Remaining"], daily["Max"])
        return result

    def query(self, soql: str, include_deleted: bool = False, batch_size: int | None = None) -> Iterator[dict]:
        """Streams the records of `soql` page by page (a generator; nothing is fetched until iterated)."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        page = self._call(lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers,
                                              timeout=self.timeout))
        yield from self._pages(page, headers)

    def _pages(self, page: dict, headers: dict, ahead: int = 1) -> Iterator[dict]:
        def after(previous: dict) -> dict | None:
            next_url = previous.get("nextRecordsUrl")
            if previous.get("done", True) or not next_url:
                return None
            return self._call(lambda sf: sf.query_more(next_url, identifier_is_url=True, headers=headers,
                                                       timeout=self.timeout))

        if page.get("done", True) or not page.get("nextRecordsUrl"):
            pages = iter((page,))  # one page: no thread
        else:
            pages = read_ahead(page, after, depth=ahead)
        for current in pages:
            for record in current.get("records", ()):
                yield _plain(record)

    def composite_query(self, queries: dict[str, str], include_deleted: bool = True,
                        read_ahead_pages: int = 1) -> dict[str, Iterator[dict]]:
        """All queries in ONE /composite call; each iterator yields its first page, then fetches
        further pages lazily."""
        if not queries:
            return {}
        if len(queries) > COMPOSITE_MAX:
            raise ValueError(f"composite_query takes at most {COMPOSITE_MAX} queries, got {len(queries)}")
        bad = [ref for ref in queries if not _REFERENCE_ID.match(ref)]
        if bad:
            raise ValueError(f"query names must be letters, digits and _ starting with a letter: {bad}")
        endpoint = "queryAll" if include_deleted else "query"
        version = self.config.salesforce_api_version
        body = {"allOrNone": False, "compositeRequest": [
            {"method": "GET", "referenceId": ref,
             "url": f"/services/data/v{version}/{endpoint}/?" + urlencode({"q": soql})}
            for ref, soql in queries.items()]}

        def call(sf: Salesforce) -> dict[str, dict]:
            response = sf.restful("composite", method="POST", json=body, timeout=self.timeout)
            bodies = {}
            for item in response.get("compositeResponse", []):
                ref, status, sub = item.get("referenceId"), item.get("httpStatusCode", 0), item.get("body")
                if status >= 300:
                    raise self._subrequest_error(ref, status, sub, queries.get(ref, ""))
                bodies[ref] = sub
            missing = [ref for ref in queries if ref not in bodies]
            if missing:
                raise RemoteCallError(RemoteError("transient", "INCOMPLETE_COMPOSITE",
                                                  f"composite response lacks {missing}"), None, SIDE)
            return bodies

        bodies = self._call(call)
        return {ref: self._pages(bodies[ref], {}, read_ahead_pages) for ref in queries}

    @staticmethod
    def _subrequest_error(ref: str, status: int, body, soql: str) -> RemoteCallError:
        first = body[0] if isinstance(body, list) and body else (body if isinstance(body, dict) else {})
        code = first.get("errorCode") or f"HTTP_{status}"
        message = f"query {ref!r} ({soql[:200]}) failed: {first.get('message', '')}"
        return RemoteCallError(RemoteError(categorize_salesforce(code, status), code, message,
                                           tuple(first.get("fields") or ())), status, SIDE)

    def retrieve(self, sobject: str, ids: list[str], fields: list[str]) -> list[dict | None]:
        """Records by id, in the order of `ids` (None where a record does not exist)."""
        out: list[dict | None] = []
        path = f"composite/sobjects/{sobject}"
        for start in range(0, len(ids), COLLECTION_MAX):
            chunk = ids[start:start + COLLECTION_MAX]
            if sum(len(i) + 1 for i in chunk) + sum(len(f) + 1 for f in fields) <= RETRIEVE_GET_MAX_CHARS:
                params = {"ids": ",".join(chunk), "fields": ",".join(fields)}
                items = self._call(lambda sf: sf.restful(path, params=params, timeout=self.timeout))
            else:
                payload = {"ids": chunk, "fields": fields}
                items = self._call(lambda sf: sf.restful(path, method="POST", json=payload, timeout=self.timeout))
            out.extend(_plain(item) if item else None for item in (items or [None] * len(chunk)))
        return out

    # --- writes -----------------------------------------------------------------------------
    def create(self, sobject: str, records: list[dict]) -> list[WriteResult]:
        return self._write("POST", sobject, records)

    def update(self, sobject: str, records: list[dict]) -> list[WriteResult]:
        for i, record in enumerate(records):
            if not any(k.lower() == "id" and v for k, v in record.items()):
                raise ValueError(f"update of {sobject}: record {i} has no Id")
        return self._write("PATCH", sobject, records)

    def _write(self, method: str, sobject: str, records: list[dict]) -> list[WriteResult]:
        """Collections calls of 200, allOrNone=false. A whole-call failure raises only while nothing
        has been written; after that, the records of a failed call get its error as their result,
        so the records already written are never lost to the caller.

        Calls go WRITE_CONCURRENCY at a time, since a big cycle's writes are latency-bound
        otherwise (issue 11); a client whose writes have not gone through lately sends its first
        call alone."""
        creating = method == "POST"
        chunks = [records[start:start + COLLECTION_MAX] for start in range(0, len(records), COLLECTION_MAX)]
        if not chunks:
            return []

        def send(chunk: list[dict]) -> list[WriteResult]:
            payload = {"allOrNone": False,
                       "records": [{"attributes": {"type": sobject}, **record} for record in chunk]}
            items = self._call(lambda sf: sf.restful("composite/sobjects", method=method, json=payload,
                                                     timeout=self.timeout), idempotent=not creating)
            if not isinstance(items, list) or len(items) != len(chunk):
                raise RemoteCallError(RemoteError("transient", "BAD_COLLECTION_RESPONSE",
                                                  f"expected {len(chunk)} results from {method} composite/sobjects, "
                                                  f"got {len(items) if isinstance(items, list) else type(items).__name__}"),
                                      None, SIDE)
            return [_write_result(item, creating) for item in items]

        def attempt(chunk: list[dict]) -> tuple[list[WriteResult], RemoteCallError | None]:
            try:
                return send(chunk), None
            except RemoteCallError as exc:
                return [WriteResult(False, None, exc.error) for _ in chunk], exc

        # A cold client sends its first call alone, so a refusal (credentials, an outage, the
        # budget) costs one call; once writes go through, every call goes at once.
        warm = time.monotonic() - self._last_write_ok < WARM_FOR_S
        first: list = [] if warm else [attempt(chunks[0])]
        if first and first[0][1] is not None:
            raise first[0][1]  # nothing was written
        rest = chunks[len(first):]
        if len(rest) == 1:
            outcomes = first + [attempt(rest[0])]
        else:
            with ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY, thread_name_prefix="sf-write") as pool:
                outcomes = first + list(pool.map(attempt, rest))
        errors = [exc for _, exc in outcomes if exc is not None]
        if errors and len(errors) == len(outcomes):
            raise errors[0]  # nothing was written
        if len(errors) < len(outcomes):
            self._last_write_ok = time.monotonic()
        return [result for part, _ in outcomes for result in part]


def _write_result(item: dict, creating: bool) -> WriteResult:
    if item.get("success"):
        return WriteResult(True, item.get("id"), None, bool(item.get("created", creating)))
    errors = item.get("errors") or [{}]
    code = errors[0].get("statusCode") or errors[0].get("errorCode") or "UNKNOWN_ERROR"
    message = "; ".join(e.get("message", "") for e in errors if e.get("message")) or code
    fields = tuple(f for e in errors for f in (e.get("fields") or ()))
    return WriteResult(False, item.get("id"), RemoteError(categorize_salesforce(code, None), code, message, fields))


def _plain(record: dict) -> dict:
    """A record without its "attributes" (also inside related records), as a plain dict."""
    return {k: (_plain(v) if isinstance(v, dict) else v) for k, v in record.items() if k != "attributes"}

"""Errors of the Salesforce and Pardot APIs, mapped to the categories of R26.

A RemoteError describes one failure (of a record, or of a whole call); a RemoteCallError is
raised when a whole call failed after the client's own retries. BudgetExhausted (R29) tells
the caller to wait until `resets_at`, not to fail records.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from .names import REMOTE_CATEGORIES as CATEGORIES  # R26: what a remote call can fail with

SIDES = ("salesforce", "pardot")


@dataclass(frozen=True)
class RemoteError:
    category: str
    code: str
    message: str
    fields: tuple[str, ...] = ()

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown error category {self.category!r}; expected one of {CATEGORIES}")


class RemoteCallError(Exception):
    """A whole call to Salesforce or Pardot failed (after the client's own retries)."""

    def __init__(self, error: RemoteError, status: int | None, side: str):
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}; expected one of {SIDES}")
        self.error = error
        self.status = status
        self.side = side
        self.retry_after: float | None = None  # seconds the server asked us to wait (Retry-After)
        where = f" (HTTP {status})" if status else ""
        super().__init__(f"{side} {error.category} error {error.code}{where}: {error.message}")

    @property
    def category(self) -> str:
        return self.error.category


class BudgetExhausted(RemoteCallError):
    """R29: the daily budget of one side is spent; wait until `resets_at` (UTC)."""

    def __init__(self, error: RemoteError, status: int | None, side: str, resets_at: datetime):
        super().__init__(error, status, side)
        self.resets_at = resets_at


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for whole-call retries: `attempts` tries in all, waits double from
    `initial` seconds up to `maximum`."""
    attempts: int = 4
    initial: float = 0.5
    maximum: float = 8.0
    # A Retry-After longer than this is not slept through inside a call: the call fails and the
    # next cycle (or error retry) tries again (issue 9 item 7).
    retry_after_max: float = 60.0

    def retrying(self, retry_on: Callable[[BaseException], bool]) -> Retrying:
        backoff = wait_exponential_jitter(multiplier=self.initial, max=self.maximum, jitter=self.initial)

        def wait(state) -> float:
            # a 503/429 that says how long to wait is waited out (at least), not guessed at
            hinted = _retry_after(state.outcome.exception())
            return max(backoff(state), hinted) if hinted is not None else backoff(state)

        def retry(exc: BaseException) -> bool:
            hinted = _retry_after(exc)
            return retry_on(exc) and (hinted is None or hinted <= self.retry_after_max)

        return Retrying(stop=stop_after_attempt(self.attempts), reraise=True, retry=retry_if_exception(retry),
                        wait=wait)


def _retry_after(exc: BaseException | None) -> float | None:
    if exc is not None and not isinstance(exc, RemoteCallError):
        exc = getattr(exc, "error", None)  # the Pardot client's _Busy wraps a RemoteCallError
    return getattr(exc, "retry_after", None)


def is_retryable(exc: BaseException) -> bool:
    """A whole-call failure worth sending again: transient, and not a write that may have landed."""
    return (isinstance(exc, RemoteCallError) and not isinstance(exc, BudgetExhausted)
            and exc.category == "transient" and getattr(exc, "retryable", True))


def connection_error(side: str, what: str, exc: requests.RequestException, idempotent: bool) -> RemoteCallError:
    """RemoteCallError for a request that got no HTTP answer."""
    if isinstance(exc, requests.exceptions.SSLError):
        # a certificate the trust store rejects does not fix itself: report it, do not retry
        return RemoteCallError(RemoteError("auth", "TLS_VERIFY_FAILED",
                                           f"{what}: TLS verification failed; check the CA bundle "
                                           f"(REQUESTS_CA_BUNDLE / sandbox ca.pem)"), None, side)
    err = RemoteCallError(RemoteError("transient", "CONNECTION_ERROR", f"{what} failed: {type(exc).__name__}"),
                          None, side)
    # a write whose request may have reached the server must not be sent twice
    err.retryable = idempotent or not isinstance(exc, requests.ReadTimeout)
    return err


# --- Salesforce ---------------------------------------------------------------------------

_SF_VALIDATION = {
    "REQUIRED_FIELD_MISSING", "INVALID_EMAIL_ADDRESS", "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "STRING_TOO_LONG", "JSON_PARSER_ERROR",
    "MALFORMED_ID", "MALFORMED_QUERY", "NUMBER_OUTSIDE_VALID_RANGE", "FIELD_INTEGRITY_EXCEPTION",
    "INVALID_CROSS_REFERENCE_KEY", "INVALID_ID_FIELD", "TOO_MANY_RECORDS", "EXCEEDED_ID_LIMIT",
    "INVALID_TYPE", "INVALID_FIELD",
}
_SF_DUPLICATE = {"DUPLICATES_DETECTED", "DUPLICATE_VALUE", "DUPLICATE_EXTERNAL_ID",
                 "DUPLICATE_USERNAME"}
_SF_PERMISSION = {"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "API_DISABLED_FOR_ORG",
                  "API_CURRENTLY_DISABLED", "FUNCTIONALITY_NOT_ENABLED", "INVALID_OPERATION_WITH_EXPIRED_PASSWORD"}
_SF_DELETED = {"ENTITY_IS_DELETED", "NOT_FOUND", "ENTITY_IS_ARCHIVED"}
_SF_TRANSIENT = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG",
                 "QUERY_TIMEOUT", "TIMEOUT", "CONNECTION_ERROR", "UNKNOWN_EXCEPTION"}
_SF_LIMIT = {"REQUEST_LIMIT_EXCEEDED", "TXN_SECURITY_LIMIT", "CONCURRENT_REQUEST_LIMIT_EXCEEDED"}
_SF_AUTH = {"INVALID_SESSION_ID", "INVALID_GRANT", "INVALID_CLIENT", "INVALID_CLIENT_ID",
            "INVALID_AUTH_HEADER", "INACTIVE_USER", "INVALID_LOGIN"}


def categorize_salesforce(code: str, status: int | None) -> str:
    """Category (R26) of a Salesforce errorCode/statusCode, falling back on the HTTP status."""
    c = (code or "").upper()
    if c in _SF_AUTH:
        return "auth"
    if c in _SF_LIMIT:
        return "limit"
    if c in _SF_TRANSIENT:
        return "transient"
    if c in _SF_DUPLICATE:
        return "duplicate"
    if c.startswith("INSUFFICIENT_ACCESS") or c in _SF_PERMISSION:
        return "permission"
    if c in _SF_DELETED:
        return "deleted"
    if (c in _SF_VALIDATION or c.startswith("INVALID_FIELD") or c.startswith("INVALID_TYPE")
            or c.startswith("INVALID_")):
        return "validation"
    return _by_status(status)


# --- Pardot -------------------------------------------------------------------------------

PARDOT_CONCURRENCY = 66      # more than 5 requests in flight
PARDOT_DAILY_LIMIT = 122     # daily API calls spent
PARDOT_MINUTE_LIMIT = 202    # per-minute limit
PARDOT_BAD_TOKEN = 184
PARDOT_NOT_FOUND = 192
PARDOT_RECYCLE_BIN = 219

_PD_AUTH = {181, 182, 184, 201}          # missing/invalid BU header, bad token, unknown BU
_PD_LIMIT = {PARDOT_CONCURRENCY, PARDOT_DAILY_LIMIT, PARDOT_MINUTE_LIMIT}
_PD_DELETED = {PARDOT_NOT_FOUND, PARDOT_RECYCLE_BIN}
_PD_DUPLICATE = {54}                     # email address already in use (AMPSEA off)
_PD_TRANSIENT = {210, 211}               # page token expired/invalid: restart the read


def categorize_pardot(code: int | None, status: int | None) -> str:
    """Category (R26) of a Pardot error code, falling back on the HTTP status."""
    if code in _PD_AUTH:
        return "auth"
    if code in _PD_LIMIT:
        return "limit"
    if code in _PD_DELETED:
        return "deleted"
    if code in _PD_DUPLICATE:
        return "duplicate"
    if code in _PD_TRANSIENT:
        return "transient"
    if status == 429:
        return "limit"
    if code is not None and (status is None or status < 500):
        # Pardot's remaining numbered codes describe bad input (invalid email, field, id...)
        return "permission" if status == 403 else "validation"
    return _by_status(status)


def _by_status(status: int | None) -> str:
    if status is None:
        return "validation"
    if status >= 500:
        return "transient"
    if status == 401:
        return "auth"
    if status == 403:
        return "permission"
    if status == 404:
        return "deleted"
    if status == 429:
        return "limit"
    return "validation"

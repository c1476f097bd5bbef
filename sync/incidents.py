"""What users are told when something fails: a category, a readable reason and an incident id.

Raw exception text (SQL, URLs, stack frames, record data) never reaches an API answer, a
chat message or a job outcome; the traceback goes to the log under the incident id, so an
operator can find it from what the user quotes (issue 9 item 12)."""
from __future__ import annotations

import hashlib
import logging
import re
import secrets

import redis.exceptions
import requests
from sqlalchemy import exc as sa_exc

log = logging.getLogger("connector.incidents")

RETRY_AFTER_SECONDS = 30  # what a client is told to wait while Redis or the database is down
UNAVAILABLE = ("The connector is temporarily unavailable (its database or Redis cannot be reached); "
               "try again in a minute.")

# category → the reason a user reads
REASONS = {
    "dependency_unavailable": "the connector's database or Redis could not be reached",
    "remote_unavailable": "Salesforce or Pardot could not be reached or answered with a server error",
    "timeout": "an operation took too long and was stopped",
    "internal": "the connector hit an unexpected error",
}


def is_outage(exc: BaseException) -> bool:
    """True when exc means our own Redis or database is down (503, not 500)."""
    seen = set()
    while exc is not None and id(exc) not in seen:  # also through `raise … from` chains
        seen.add(id(exc))
        if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                            redis.exceptions.BusyLoadingError)):
            return True
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def category_of(exc: BaseException) -> str:
    if is_outage(exc):
        return "dependency_unavailable"
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return "remote_unavailable" if not isinstance(exc, requests.Timeout) else "timeout"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "internal"


def new_id() -> str:
    return secrets.token_hex(6)


def describe(exc: BaseException, where: str = "", logger: logging.Logger | None = None) -> tuple[str, str, str]:
    """(category, reason, incident_id) for exc; logs its traceback with the id.

    An outage is logged at WARNING without a traceback (it is expected and already named);
    anything else at ERROR with one."""
    incident = new_id()
    category = category_of(exc)
    logger = logger or log
    label = f" in {where}" if where else ""
    if category == "dependency_unavailable":
        logger.warning("incident %s%s: %s (%s)", incident, label, REASONS[category], type(exc).__name__)
    else:
        logger.error("incident %s%s: %s", incident, label, type(exc).__name__,
                     exc_info=(type(exc), exc, exc.__traceback__))
    return category, REASONS[category], incident


def user_text(category: str, reason: str, incident: str) -> str:
    """One sentence for a user: the reason, the category and where to look."""
    return f"{reason[:1].upper()}{reason[1:]} ({category}, incident {incident}); the details are in the connector's log."


# "ValueError: …", "IntegrityError: (sqlite3.IntegrityError) …", "psycopg.errors.X: …": the
# `f"{type(exc).__name__}: {exc}"` texts that job and cycle failures stored before describe().
_RAW = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Failure|Fault)\b[^:\n]{0,80}"
                  r"|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+):"
                  r"|Traceback \(most recent call last\)")
_told: set[str] = set()


def looks_raw(text: str | None) -> bool:
    return bool(text) and bool(_RAW.search(text))


def public_text(text: str | None, where: str = "") -> str | None:
    """`text` unless it is raw exception text; then a readable reason with an incident id.

    The id is derived from the text, so every rendering of one stored failure names the same
    incident, and the raw text is logged once per process under it (the traceback itself was
    logged when the failure happened)."""
    if not looks_raw(text):
        return text
    incident = hashlib.sha256(text.encode()).hexdigest()[:12]
    if incident not in _told:
        _told.add(incident)
        log.warning("incident %s%s: %s", incident, f" ({where})" if where else "", text)
    category = "dependency_unavailable" if re.search(r"OperationalError|ConnectionError|InterfaceError", text) \
        else "internal"
    return user_text(category, REASONS[category], incident)


def public_outcome(outcome: dict | None, where: str = "") -> dict | None:
    """A job outcome as users see it: a raw `message` is replaced (category, reason, incident)."""
    if not isinstance(outcome, dict) or not looks_raw(outcome.get("message")):
        return outcome
    shown = dict(outcome)
    shown["message"] = public_text(outcome["message"], where)
    shown["incident"] = shown["message"].rsplit("incident ", 1)[1].split(")")[0]
    return shown

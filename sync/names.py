"""The one home of the names the whole connector shares (issue 12).

StrEnum members are str: they compare equal to, hash like and serialise as their value, so
the database, JSON and Redis keep the same bare strings they always held."""
from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Connector.state (R7, R24, R38)."""
    ACTIVE = "active"
    PAUSED = "paused"
    THROTTLED = "throttled"
    ERROR = "error"
    DEGRADED = "degraded"


class Category(StrEnum):
    """Sync error categories: R26's seven, then the salesforce engine's health symptoms (R38)."""
    VALIDATION = "validation"
    DUPLICATE = "duplicate"
    PERMISSION = "permission"
    DELETED = "deleted"
    TRANSIENT = "transient"
    LIMIT = "limit"
    AUTH = "auth"
    STALLED = "stalled"
    CREDENTIALS = "credentials"
    NOT_SYNCING = "not_syncing"
    NOT_CREATED = "not_created"


# What a remote call's error can be (R26); the rest are only ever raised by the health check.
REMOTE_CATEGORIES = tuple(c.value for c in list(Category)[:7])
HEALTH_CATEGORIES = tuple(c.value for c in list(Category)[7:])
ERROR_CATEGORIES = tuple(c.value for c in Category)


class Engine(StrEnum):
    """Connector.engine (R35)."""
    BUILTIN = "builtin"
    SALESFORCE = "salesforce"


ENGINES = tuple(e.value for e in Engine)


class Role(StrEnum):
    """R32, in rank order."""
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Role)

# Salesforce key prefixes: the first three characters of a record id name its object.
KEY_PREFIXES = {"00Q": "Lead", "003": "Contact", "001": "Account", "005": "User"}
SYNC_OBJECTS = ("Lead", "Contact", "Account")  # what the connector syncs with prospects
# The prefixes of the synced objects (person accounts are Accounts).
SYNC_PREFIXES = {prefix: name for prefix, name in KEY_PREFIXES.items() if name in SYNC_OBJECTS}
PREFIX_OF = {name: prefix for prefix, name in SYNC_PREFIXES.items()}


def sobject_of_id(crm_id: str) -> str | None:
    """The synced object a Salesforce id names by its key prefix, or None."""
    return SYNC_PREFIXES.get((crm_id or "")[:3])

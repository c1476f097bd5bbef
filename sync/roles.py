"""Roles and the acting principal (R32, R33)."""
from __future__ import annotations

from dataclasses import dataclass

from .names import ROLES  # noqa: F401 - the one home is sync/names.py; imported from here too

CHANNELS = ("slack", "api", "cli", "system")
# R33: Pardot user role → connector role.
PARDOT_ROLE_MAP = {"administrator": "admin", "marketing": "operator",
                   "sales manager": "operator", "sales": "viewer"}


def rank(role: str) -> int:
    return ROLES.index(role)


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and rank(role) >= rank(needed)


@dataclass(frozen=True)
class Principal:
    """Who acts: `who` is an email, a token name or a username; never a secret."""
    who: str
    role: str | None  # None: not authenticated (only ever audited as refused)
    channel: str
    role_source: str = ""  # how the role was found (R33), shown by `whoami`

    def __post_init__(self):
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


SYSTEM = Principal("connector", "admin", "system", "the connector itself")


def role_cache_key(business_unit_id: str, email: str = "*") -> str:
    """Redis key of a resolved role; the metadata sync drops them all when Pardot users change."""
    return f"role:{business_unit_id}:{email}"


def forget_roles(redis, business_unit_id: str) -> None:
    for key in redis.scan_iter(role_cache_key(business_unit_id)):
        redis.delete(key)


def status_cache_key(business_unit_id: str) -> str:
    return f"status:{business_unit_id}"

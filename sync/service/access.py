"""Who may do what (R32, R33), API tokens and the audit log (R34)."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select

from .. import audit, incidents
from ..budget import Budget
from ..errors import Invalid, NotFound, Unauthenticated
from ..http import make_session
from ..models import ApiToken, AuditEntry, Connector, UserMatch, utcnow
from ..names import ROLES, Role
from ..pardot import PardotClient
from ..remote import RetryPolicy
from ..roles import PARDOT_ROLE_MAP, Principal, forget_roles, role_cache_key
from ..salesforce import SalesforceClient
from ..serialize import iso
from .base import ServiceBase

ROLE_CACHE_TTL = 300
TOKEN_CACHE_TTL = 300
PARDOT_READ_TIMEOUT = 10  # seconds; reading the asker's Pardot user at `create`


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_key(digest: str) -> str:
    return f"apitoken:{digest}"


def token_cache_key(secret: str) -> str:
    """Redis key of a verified token, keyed by its hash: the secret never reaches Redis."""
    return _token_key(_hash(secret))


def token_principal(cached: bytes) -> Principal:
    """The caller named by a token cache entry ("name|role")."""
    name, _, role = cached.decode().partition("|")
    return Principal(f"token:{name}", role, "api", "API token role")


def paging(cursor, limit) -> tuple[int | None, int, dict]:
    """A cursor this API returned (an id) and a page size from 1 to 200; problems by field."""
    problems = {}
    try:
        cursor = int(cursor) if cursor not in (None, "") else None
        if cursor is not None and not 0 < cursor < 2 ** 31:
            raise ValueError
    except (TypeError, ValueError):
        problems["cursor"] = "is not a cursor this API returned"
    try:
        limit = int(limit)
        if not 1 <= limit <= 200:
            raise ValueError
    except (TypeError, ValueError):
        problems["limit"] = "must be a whole number from 1 to 200"
    return cursor, limit, problems


def page(rows: list, limit: int, render) -> dict:
    """Rows fetched with limit + 1, newest first, as {items, next_cursor}."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [render(r) for r in rows], "next_cursor": str(rows[-1].id) if more and rows else None}


class Access(ServiceBase):

    def resolve_role(self, email: str | None, channel: str = "slack", read_pardot: bool = False) -> Principal:
        """The role of a person by email: override list, then Pardot user role, else viewer.

        read_pardot: before any connector exists (or its first cycle) no Pardot users have been
        synced, so `create` asks Pardot itself about an unknown email (one bounded call; the
        chat transports make it after acknowledging Slack, never on the 3 s path)."""
        who = (email or "").strip().lower()
        if not who:
            return Principal("unknown", Role.VIEWER, channel, "no email known: viewer")
        cache_key = role_cache_key(self.config.pardot_business_unit_id, who)
        cached = None if read_pardot else self.redis.get(cache_key)
        if cached:
            role, _, source = cached.decode().partition("|")
            return Principal(who, role, channel, source)
        with self.store.session() as s:
            connector = s.scalars(select(Connector).where(
                Connector.business_unit_id == self.config.pardot_business_unit_id)).first()
            overrides = self._settings(connector)["role_overrides"] if connector else {}
            if who in overrides:
                role, source = overrides[who], "override list in the connector settings"
            else:
                match = s.scalars(select(UserMatch).where(
                    UserMatch.connector_id == (connector.id if connector else -1),
                    UserMatch.email == who)).first()
                if match and match.pardot_role:
                    role = PARDOT_ROLE_MAP.get(match.pardot_role.lower(), "viewer")
                    source = f"Pardot user role {match.pardot_role}"
                else:
                    role, source = "viewer", "no Pardot user with this email"
            # Once a cycle has read the Pardot users, the store is the answer (and a stranger's
            # repeated `create` costs no Pardot call).
            unsynced = read_pardot and not s.scalar(select(func.count()).select_from(UserMatch).where(
                UserMatch.connector_id == (connector.id if connector else -1)))
        if unsynced and source == "no Pardot user with this email":
            try:
                pardot_role = self._pardot_user_role(who)
            except Exception as exc:  # noqa: BLE001 - the refusal below says Pardot could not be asked
                if incidents.is_outage(exc):
                    raise
                _, reason, incident = incidents.describe(exc, "reading the Pardot users at create")
                return Principal(who, role, channel, f"{source}; the Pardot users could not be read "
                                                     f"({reason}, incident {incident})")
            if pardot_role:
                role = PARDOT_ROLE_MAP.get(pardot_role.lower(), "viewer")
                source = f"Pardot user role {pardot_role} (read from Pardot: not synced yet)"
        self.redis.set(cache_key, f"{role}|{source}", ex=ROLE_CACHE_TTL)
        return Principal(who, role, channel, source)

    def _pardot_user_role(self, email: str) -> str | None:
        """The Pardot user role of `email`, read from Pardot with short timeouts (a bounded call)."""
        budget = Budget(self.redis, f"budget:{self.config.pardot_business_unit_id}")
        once = RetryPolicy(attempts=2, initial=0.5, maximum=1.0)
        sf = SalesforceClient(self.config, budget, session=make_session(self.config.tls_verify), retry=once,
                              timeout=PARDOT_READ_TIMEOUT)
        pardot = PardotClient(self.config, sf.access_token, sf.reauthenticate, self.redis, budget,
                              session=make_session(self.config.tls_verify), transient_retry=once,
                              timeout=PARDOT_READ_TIMEOUT)
        for user in pardot.query("users", ["id", "email", "roleName"], email=email):
            if (user.get("email") or "").strip().lower() == email:
                return user.get("roleName")
        return None

    def forget_roles(self) -> None:
        forget_roles(self.redis, self.config.pardot_business_unit_id)

    def create_token(self, principal: Principal, name: str, role: str) -> dict:
        """The secret is returned once and stored only as a SHA-256 hash."""
        problems = {}
        name = (name or "").strip()
        if not name or len(name) > 80 or not all(ch.isalnum() or ch in "-_." for ch in name):
            problems["name"] = "must be 1-80 letters, digits, '-', '_' or '.'"
        if role not in ROLES:
            problems["role"] = f"{role!r} is not one of {', '.join(ROLES)}"
        with self.store.session() as s:
            self._require(s, principal, "admin", "create_token", name)
            if not problems and s.scalars(select(ApiToken).where(ApiToken.name == name)).first():
                problems["name"] = f"a token named {name!r} exists; revoke it first"
            if problems:
                self._refuse(s, principal, "create_token", Invalid("; ".join(problems.values()), problems), name,
                             details=problems)
            secret = "pct_" + secrets.token_urlsafe(32)
            s.add(ApiToken(name=name, role=role, token_hash=_hash(secret), prefix=secret[:8],
                           created_by=principal.who))
            audit.record(s, principal, "create_token", "ok", name, role=role)
        return {"name": name, "role": role, "token": secret}

    def revoke_token(self, principal: Principal, name: str) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "admin", "revoke_token", name)
            t = s.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first()
            if t is None:
                self._refuse(s, principal, "revoke_token", NotFound(f"no active token named {name!r}"), name,
                             reason="no such active token")
            t.revoked_at = utcnow()
            key = _token_key(t.token_hash)
            self.redis.delete(key)  # revocation takes effect at once
            audit.record(s, principal, "revoke_token", "ok", name)
            out = {"name": name, "revoked_at": iso(t.revoked_at)}
        # Again once committed: a request that read the row before the commit may have cached it.
        self.redis.delete(key)
        return out

    def list_tokens(self, principal: Principal) -> list[dict]:
        with self.store.session() as s:
            self._require(s, principal, "admin", "list_tokens")
            return [{"name": t.name, "role": t.role, "prefix": t.prefix, "created_at": iso(t.created_at),
                     "created_by": t.created_by, "revoked_at": iso(t.revoked_at),
                     "last_used_at": iso(t.last_used_at)}
                    for t in s.scalars(select(ApiToken).order_by(ApiToken.id))]

    def authenticate_token(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthenticated("missing bearer token")
        digest = _hash(secret)
        cached = self.redis.get(_token_key(digest))
        if cached is not None:
            return token_principal(cached)
        with self.store.session() as s:
            t = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest,
                                                 ApiToken.revoked_at.is_(None))).first()
            if t is None:
                raise Unauthenticated("unknown or revoked token")
            t.last_used_at = utcnow()  # at most once per cache lifetime: hot paths do not write
            name, role = t.name, t.role
        self.redis.set(_token_key(digest), f"{name}|{role}", ex=TOKEN_CACHE_TTL)
        return Principal(f"token:{name}", role, "api", "API token role")

    def record_refusal(self, principal: Principal, action: str, reason: str) -> None:
        """For refusals decided in an adapter (no or bad token, bad signature…)."""
        with self.store.session() as s:
            audit.record(s, principal, action, "refused", reason=reason)

    def audit_log(self, principal: Principal, cursor: int | str | None = None, limit: int = 50) -> dict:
        cursor, limit, problems = paging(cursor, limit)
        if problems:
            raise Invalid("bad paging", {"cursor": "must be a cursor this API returned",
                                         "limit": "must be a whole number from 1 to 200"})
        with self.store.session() as s:
            self._require(s, principal, "admin", "audit_log")
            stmt = select(AuditEntry)
            if cursor:
                stmt = stmt.where(AuditEntry.id < cursor)
            rows = s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
            return page(rows, limit, lambda e: {
                "id": e.id, "at": iso(e.at), "actor": e.actor, "role": e.role, "channel": e.channel,
                "action": e.action, "target": e.target, "outcome": e.outcome, "detail": e.detail})

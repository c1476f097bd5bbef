"""Bearer tokens (R32): who is calling, with which role. Refusals are audited (R34)."""
from __future__ import annotations

from flask import current_app, g, request

from sync.errors import Unauthenticated
from sync.roles import Principal


def runtime():
    return current_app.extensions["connector"]


def service():
    if "service" not in g:
        g.service = runtime().service()
    return g.service


def principal() -> Principal:
    return g.principal


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def anonymous() -> Principal:
    # Not authenticated: no role at all, so the audit log does not credit it one.
    return Principal(f"anonymous@{request.remote_addr or 'unknown'}", None, "api", "no valid API token")


def authenticate() -> Principal:
    """The caller's principal, or Unauthenticated (audited) — never echoing the token."""
    token = bearer_token()
    try:
        if token is None and request.headers.get("Authorization"):
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        g.principal = service().authenticate_token(token)
        return g.principal
    except Unauthenticated as exc:
        service().record_refusal(anonymous(), f"api {request.method} {request.path}"[:64], exc.message)
        raise

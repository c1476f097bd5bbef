"""The /api/v1 blueprint: every request is authenticated, rate-limited, parsed against the
OpenAPI document and (for POSTs with an Idempotency-Key) deduplicated before a view runs."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from sync import incidents
from sync.service.access import token_cache_key, token_principal

from .. import auth, inputs
from ..errors import ApiError

bp = Blueprint("v1", __name__, url_prefix="/api/v1")
PUBLIC = {"v1.openapi"}  # the contract itself is readable without a token


def _ext(name: str):
    return current_app.extensions["connector_api"][name]


@bp.before_request
def _gate():
    if request.endpoint in PUBLIC or request.url_rule is None:
        return None
    limiter = _ext("ratelimit")
    try:
        who, verdict = _cached_token(limiter)
        if who is None:
            who = auth.authenticate().who
    except Exception:
        # Unauthenticated callers are limited per address, before their refusal is audited,
        # so a flood cannot fill the audit log.
        verdict = limiter.hit(f"anon:{request.remote_addr}")
        if not verdict.allowed:
            raise _too_many(verdict) from None
        raise
    if verdict is None:
        verdict = limiter.hit(f"token:{who}")
    g.rate_headers = verdict.headers()
    if not verdict.allowed:
        raise _too_many(verdict)
    inputs.parse(_ext("openapi"))
    key = request.headers.get("Idempotency-Key")
    if request.method == "POST" and key is not None:
        g.idem_slot, replay = _ext("idempotency").begin(who, key)
        if replay is not None:
            g.idem_slot = None  # nothing to store again
            return replay
    return None


def _cached_token(limiter):
    """The hot path, one Redis round trip (issue 11): a token verified in the last few minutes is
    in the token cache; read it, count the request against that token (the key `hit` uses for
    `token:<who>`) and, for the status, read the status cache too. (None, None) when the token
    is not cached: the caller verifies it in SQL and counts it the ordinary way."""
    token = auth.bearer_token()
    if token is None:
        return None, None
    also_read = auth.service().status_cache_keys() if request.endpoint == "v1.status" else []
    # who is "token:<name>" (sync.service.access.token_principal), so the identity is "token:token:<name>"
    hit = limiter.hit_cached_token(token_cache_key(token), "token:token:", also_read)
    if hit.token is None:
        return None, None
    g.principal = token_principal(hit.token)
    if also_read:
        g.cached_status = hit.values
    return g.principal.who, hit.verdict


def _too_many(verdict) -> ApiError:
    return ApiError(429, "rate_limited",
                    f"more than {verdict.limit} requests this minute; retry in {verdict.retry_after} s",
                    headers=verdict.headers())


@bp.after_request
def _finish(response: Response) -> Response:
    for name, value in g.get("rate_headers", {}).items():
        response.headers.setdefault(name, value)
    slot = g.pop("idem_slot", None)
    if slot:
        _ext("idempotency").finish(slot, response)
    return response


@bp.teardown_request
def _teardown(exc):
    slot = g.pop("idem_slot", None)
    if slot:
        try:
            current_app.extensions["connector_api"]["idempotency"].abandon(slot)
        except Exception as error:  # noqa: BLE001 - Redis gone mid-request: the slot expires by itself
            if not incidents.is_outage(error):
                raise


@bp.get("/openapi.json")
def openapi():
    return Response(_ext("openapi").text, mimetype="application/json")


from . import audit, config, connector, jobs, reactivations, record_sync, sync_errors  # noqa: E402,F401  (routes)

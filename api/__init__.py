"""The REST API (issue 4): /api/v1, /metrics and the break-glass CLI.

`register(app, runtime)` is called by app.create_app. Settings (environment):
API_RATE_LIMIT_PER_MINUTE — requests per token per minute (default 120)."""
from __future__ import annotations

import os

from flask import Flask

from . import cli, metrics
from .errors import register_error_handlers
from .idempotency import Idempotency
from .openapi import OpenApi
from .ratelimit import RateLimiter

DEFAULT_RATE_LIMIT = 120


def _rate_limit(app: Flask) -> int:
    raw = app.config.get("API_RATE_LIMIT_PER_MINUTE") or os.environ.get("API_RATE_LIMIT_PER_MINUTE")
    if raw in (None, ""):
        return DEFAULT_RATE_LIMIT
    try:
        value = int(raw)
        if value < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise SystemExit(f"configuration error: API_RATE_LIMIT_PER_MINUTE: must be a whole number above 0, "
                         f"got {raw!r}") from None
    return value


def register(app: Flask, runtime) -> None:
    from .v1 import bp as v1

    app.extensions["connector_api"] = {
        "openapi": OpenApi.load(),
        "ratelimit": RateLimiter(runtime.redis, _rate_limit(app),
                                 prefix=f"ratelimit:{runtime.config.pardot_business_unit_id}"),
        "idempotency": Idempotency(runtime.redis, prefix=f"idem:{runtime.config.pardot_business_unit_id}"),
    }
    app.json.sort_keys = False
    register_error_handlers(app)
    app.register_blueprint(v1)
    metrics.install(app, runtime)
    app.cli.add_command(cli.tokens)
    app.cli.add_command(cli.connector)

"""/healthz (the process is up) and /readyz (each dependency, by name)."""
from __future__ import annotations

import time

import requests
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)
REACH_CACHE_SECONDS = 10


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _reachable(rt, name: str, url: str) -> tuple[bool, str]:
    # Reachability only (any HTTP answer): no API call, no budget spent.
    key = f"readyz:{name}"
    cached = rt.redis.get(key)
    if cached is not None:
        ok, _, detail = cached.decode().partition("|")
        return ok == "1", detail
    started = time.monotonic()
    try:
        requests.head(url, timeout=3, verify=rt.config.tls_verify, allow_redirects=False)
        ok, detail = True, f"answered in {1000 * (time.monotonic() - started):.0f} ms"
    except requests.RequestException as exc:
        ok, detail = False, f"unreachable: {type(exc).__name__}"
    rt.redis.set(key, f"{int(ok)}|{detail}", ex=REACH_CACHE_SECONDS)
    return ok, detail


@bp.get("/readyz")
def readyz():
    rt = current_app.extensions["connector"]
    checks = {}
    try:
        rt.store.ping()
        checks["database"] = {"ok": True, "detail": rt.store.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = {"ok": False, "detail": type(exc).__name__}
    try:
        rt.redis.ping()
        checks["redis"] = {"ok": True, "detail": "ping"}
        for name, url in (("salesforce", rt.config.salesforce_login_url), ("pardot", rt.config.pardot_base_url)):
            ok, detail = _reachable(rt, name, url)
            checks[name] = {"ok": ok, "detail": detail}
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = {"ok": False, "detail": type(exc).__name__}
    ready = all(c["ok"] for c in checks.values()) and len(checks) == 4
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503

"""What the sandbox's module-level blueprints read from the Flask app they serve: the Runtime
(both orgs, auth, faults, counters) in `app.extensions["sandbox"]`, set by server.create_app.

The names below are werkzeug LocalProxy objects (like flask.current_app): `sf_org.lock` or
`pardot_org.query(...)` inside a request reach the org of the app serving it."""
from __future__ import annotations

from flask import current_app
from werkzeug.local import LocalProxy

EXTENSION = "sandbox"
INFO = "sandbox.info"


def install(app, runtime, info: dict) -> None:
    app.extensions[EXTENSION] = runtime
    app.extensions[INFO] = info


def app_state(key: str):
    """A proxy to per-app state a blueprint keeps (set by its record_once hook)."""
    return LocalProxy(lambda: current_app.extensions[key])


def info() -> dict:
    return current_app.extensions[INFO]


runtime = app_state(EXTENSION)
sf_org = LocalProxy(lambda: current_app.extensions[EXTENSION].sf)
pardot_org = LocalProxy(lambda: current_app.extensions[EXTENSION].pardot)

"""The sync error queue (R25–R27): list with filters and cursor paging, retry, dismiss."""
from __future__ import annotations

from flask import g, jsonify

from ..auth import principal, service
from . import bp
from .jobs import accepted


@bp.get("/sync-errors")
def list_errors():
    q = g.query
    return jsonify(service().list_errors(principal(), status=q.get("status", "open"), category=q.get("category"),
                                         sobject=q.get("object"), since=q.get("since"), cursor=q.get("cursor"),
                                         limit=q.get("limit", 50)))


@bp.get("/sync-errors/<int(min=1, max=2147483647):error_id>")
def get_error(error_id: int):
    return jsonify(service().get_error(principal(), error_id))


@bp.post("/sync-errors/<int(min=1, max=2147483647):error_id>/retry")
def retry_error(error_id: int):
    return accepted(service().retry_errors(principal(), error_id=error_id))


@bp.post("/sync-errors/retry")
def retry_category():
    return accepted(service().retry_errors(principal(), category=g.body["category"]))


@bp.post("/sync-errors/<int(min=1, max=2147483647):error_id>/dismiss")
def dismiss_error(error_id: int):
    return jsonify(service().dismiss_error(principal(), error_id))

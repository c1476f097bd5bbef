"""Reactivation requests (R7, R31): operators ask, a different admin decides."""
from __future__ import annotations

from flask import g, jsonify, url_for

from ..auth import principal, service
from . import bp


@bp.get("/reactivations")
def list_reactivations():
    return jsonify(items=service().list_reactivations(principal(), g.query.get("status")))


@bp.post("/reactivations")
def request_reactivation():
    result = service().request_reactivation(principal(), g.body.get("note"))
    return jsonify(result), 201, {"Location": url_for("v1.get_reactivation", request_id=result["id"])}


@bp.get("/reactivations/<int(min=1, max=2147483647):request_id>")
def get_reactivation(request_id: int):
    return jsonify(service().get_reactivation(principal(), request_id))


@bp.post("/reactivations/<int(min=1, max=2147483647):request_id>/approve")
def approve(request_id: int):
    return jsonify(service().approve_reactivation(principal(), request_id))


@bp.post("/reactivations/<int(min=1, max=2147483647):request_id>/deny")
def deny(request_id: int):
    return jsonify(service().deny_reactivation(principal(), request_id, g.body.get("reason")))

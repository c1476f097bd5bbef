"""The connector itself: status, version, checklist, creation (R1–R3), pause."""
from __future__ import annotations

from flask import g, jsonify, url_for

from ..auth import principal, service
from . import bp


@bp.get("/whoami")
def whoami():
    return jsonify(service().whoami(principal()))


@bp.get("/connector")
def status():
    return jsonify(service().status(principal(), cached=g.pop("cached_status", None)))


@bp.get("/connector/version")
def version():
    return jsonify(service().version(principal()))


@bp.get("/connector/checklist")
def checklist():
    return jsonify(service().checklist(principal()))


@bp.post("/connector")
def create():
    result = service().create_connector(principal(), **g.body)
    return jsonify(result), 201, {"Location": url_for("v1.status")}


@bp.post("/connector/pause")
def pause():
    return jsonify(service().pause(principal(), g.body.get("reason")))

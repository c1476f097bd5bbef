"""The audit log (R34), admin only, newest first with cursor paging."""
from __future__ import annotations

from flask import g, jsonify

from ..auth import principal, service
from . import bp


@bp.get("/audit-log")
def audit_log():
    return jsonify(service().audit_log(principal(), cursor=g.query.get("cursor"), limit=g.query.get("limit", 50)))

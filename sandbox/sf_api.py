"""Salesforce REST API (v59.0 wire format, any vNN.0) as one Flask blueprint over the org in
`app.extensions["sandbox"]`: the session check and error rendering here, the routes in
sf_sobjects, sf_query, sf_collections and sf_composite (nested blueprints)."""
from __future__ import annotations

import re

from flask import Blueprint, g, request

from . import sf_collections, sf_composite, sf_query, sf_sobjects
from .context import runtime
from .sf_rest import error_response, json_response, not_found
from .sf_values import SfError

VERSION_RE = re.compile(r"^\d{2}\.0$")
_KNOWN_VERSIONS = [f"{v}.0" for v in range(52, 62)]

bp = Blueprint("salesforce", __name__)
for _child in (sf_sobjects, sf_query, sf_collections, sf_composite):
    bp.register_blueprint(_child.bp)


@bp.before_request
def _authenticate():
    version = (request.view_args or {}).get("version")
    if version is None:
        return None  # versions list needs no session
    if not VERSION_RE.match(version):
        return json_response(not_found().single(), 404)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    info = runtime.auth.token_info(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
    if info is None:
        return json_response([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
    g.sf_user = info
    return None


@bp.errorhandler(SfError)
def _sf_error(err: SfError):
    return error_response(err)


@bp.route("/services/data", methods=["GET"], strict_slashes=False)
def versions():
    return json_response([{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                          for v in _KNOWN_VERSIONS])

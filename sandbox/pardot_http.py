"""Plumbing shared by the Pardot v5 blueprints: JSON responses in the caller's key order, ids,
the JSON body, `?fields=` and boolean flags; the org is the app's (context.pardot_org)."""
from __future__ import annotations

import json

from flask import Response, request

from sandbox import pardot_fields as pf
from sandbox.context import pardot_org as org  # noqa: F401  (re-exported for the route modules)
from sandbox.pardot_errors import (
    EMPTY_BODY,
    INVALID_DELETED,
    INVALID_JSON,
    UNSUPPORTED_CONTENT_TYPE,
    PardotError,
    bad_request,
    not_found,
)


def jsonify(data, status: int = 200) -> Response:
    """JSON keeping the caller's key order (field order as requested, unlike flask.jsonify)."""
    return Response(json.dumps(data, separators=(",", ":")), status=status,
                    mimetype="application/json")


def base_url() -> str:
    return request.host_url.rstrip("/")


def parse_id(raw: str, obj_label: str) -> int:
    if not raw.isdigit():
        raise not_found(obj_label, raw)
    return int(raw)


def json_body():
    data = request.get_data(cache=True)
    if not data.strip():
        raise bad_request(EMPTY_BODY, "Request body can't be empty")
    if request.mimetype != "application/json":
        raise PardotError(415, UNSUPPORTED_CONTENT_TYPE,
                          f"Unsupported content-type {request.mimetype or '(none)'!r}; "
                          f"send application/json")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise bad_request(INVALID_JSON, f"Input needs to be valid JSON: {exc}") from None


def selected_fields(obj: str, required: bool) -> list[str] | None:
    raw = request.args.get("fields")
    if raw is None and not required:
        return None
    return pf.parse_field_list(obj, raw, allowed=org.fields(obj))


def one(obj: str, row: dict, fields: list[str] | None, status: int = 200):
    if fields is None:
        return Response(status=204)
    return jsonify(pf.make_renderer(obj, fields, org.fields(obj))(row), status)


def flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false"):
        raise bad_request(INVALID_DELETED, f"Parameter {name} must be true or false")
    return value == "true"

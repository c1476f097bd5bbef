"""Plumbing shared by the Salesforce REST blueprints (sf_api.py and the sf_* route modules):
responses, the JSON body, schema lookup, record rendering and the `?fields=` list."""
from __future__ import annotations

import json

from flask import Response, g, request

from .context import sf_org as org  # noqa: F401  (re-exported for the route modules)
from .sf_schema import schema_for
from .sf_values import SfError, render

PREFIX = "/services/data/v<version>"
MAX_COLLECTION = 200


def router(bp):
    """`@route("/query")` on bp: the rule under /services/data/vNN.0, trailing slash optional."""
    def route(rule, methods=("GET",)):
        return bp.route(PREFIX + rule, methods=list(methods), strict_slashes=False)
    return route


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    data = "" if body is None else json.dumps(body, separators=(",", ":"))
    return Response(data, status=status, headers=headers,
                    mimetype="application/json" if body is not None else None)


def error_response(err: SfError) -> Response:
    if getattr(err, "matches", None):
        return json_response([f"/services/data/v{request.view_args.get('version', '59.0')}/sobjects/"
                              f"{request.view_args.get('sobject')}/{m}" for m in err.matches], 300)
    return json_response(err.single(), err.status)


def not_found() -> SfError:
    return SfError("NOT_FOUND", "The requested resource does not exist", status=404)


def user_id() -> str:
    return g.sf_user["user_id"]


def body_json(expect=(dict,)):
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        raise SfError("JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") from None
    if not isinstance(data, expect):
        names = " or ".join("object" if t is dict else "array" for t in expect)
        raise SfError("JSON_PARSER_ERROR", f"Request body must be a JSON {names}")
    return data


def object_schema(name: str):
    schema = schema_for(name)
    if schema is None:
        raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
    return schema


def record_url(version, obj, rid):
    return f"/services/data/v{version}/sobjects/{obj}/{rid}"


def render_record(version, schema, rec, fields=None):
    out = {"attributes": {"type": schema.name, "url": record_url(version, schema.name, rec["Id"])}}
    for name in fields or schema.fields:
        out[name] = render(rec.get(name))
    return out


def field_list(schema, raw) -> list[str] | None:
    if not raw:
        return None
    names = []
    for part in (raw if isinstance(raw, list) else str(raw).split(",")):
        part = str(part).strip()
        if not part:
            continue
        f = schema.field(part)
        if f is None:
            raise SfError("INVALID_FIELD", f"No such column '{part}' on entity '{schema.name}'. If you are "
                                           "attempting to use a custom field, be sure to append the '__c' after "
                                           "the custom field name. Please reference your WSDL or the describe "
                                           "call for the appropriate names.")
        names.append(f.name)
    return names

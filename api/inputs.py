"""Parse a request against its operation in the OpenAPI document: media type, JSON, fields.

Views get `g.body` (a dict) and `g.query` (typed query parameters) and never see raw input."""
from __future__ import annotations

import json

from flask import g, request

from .errors import ApiError
from .openapi import OpenApi, field_errors, openapi_path

MAX_ID = 2**31 - 1  # SQL INTEGER keys: larger numbers name nothing, and PostgreSQL refuses them


def _coerce(param: dict, raw: str):
    kind = param["schema"].get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw  # left for the schema to reject with its own message
    return raw


def parse(spec: OpenApi) -> None:
    path, method = openapi_path(request.url_rule.rule), request.method
    problems: dict[str, str] = {}
    query = {}
    params = spec.query_parameters(path, method)
    known = {param["name"] for param, _ in params}
    for name in request.args:
        if name not in known:  # a typo (`categroy=`) would otherwise silently widen a filter
            problems[name or "(empty name)"] = "is not a query parameter of this endpoint" + (
                f"; known: {', '.join(sorted(known))}" if known else "")
    for param, validator in params:
        name = param["name"]
        if name not in request.args:
            continue
        values = request.args.getlist(name)
        if len(values) > 1:
            problems[name] = "is given more than once"
            continue
        value = _coerce(param, values[0])
        for message in field_errors(validator, value).values():
            problems[name] = message
        query[name] = value
    g.query = query
    g.body = {}
    validator = spec.body_validator(path, method)
    if validator is not None:
        g.body = _body(problems, spec.body_required(path, method))
        if not problems:
            problems.update(field_errors(validator, g.body))
    for name, value in list(query.items()) + [("body", g.body)]:
        where = _nul_in(value, name)
        if where:  # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the store
            problems[where] = "must not contain a NUL character"
    cursor = query.get("cursor")
    if isinstance(cursor, str) and cursor.isdigit() and int(cursor) > MAX_ID:
        problems["cursor"] = "is not a cursor this API returned"
    if problems:
        raise ApiError(400, "invalid", "invalid request: " + "; ".join(f"{k} {v}" for k, v in problems.items()),
                       problems)


def _body(problems: dict, required: bool):
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413 from werkzeug
    if not raw.strip():
        if required:
            problems["body"] = "is required: a JSON object"
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       f"the body must be application/json, not {request.mimetype or 'untyped'}",
                       {"Content-Type": "must be application/json"})
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body nests too deeply", {"body": "nests too deeply"}) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}",
                       {"body": "is not valid JSON"}) from None


def _nul_in(value, where: str) -> str | None:
    """The path of the first string (value or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_in(key, where) or _nul_in(item, f"{where}.{key}" if where != "body" else str(key))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_in(item, f"{where}[{i}]")
            if found:
                return found
    return None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")

"""Pardot v5 query endpoints: the query parameters (limit, orderBy, deleted, id/date filters,
email) parsed into a QuerySpec, and the signed nextPageToken chain over PardotOrg.query."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from sandbox import pardot_fields as pf
from sandbox.context import app_state
from sandbox.pardot_errors import (
    INVALID_DELETED,
    INVALID_LIMIT,
    INVALID_QUERY_PARAMETERS,
    INVALID_SORT_BY,
    TOO_MANY_FILTERS,
    WARNING_TOKEN_SEQUENCE_EXCEEDED,
    bad_request,
)
from sandbox.pardot_http import base_url, jsonify, org
from sandbox.pardot_table import QuerySpec
from sandbox.pardot_tokens import TokenSigner

MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
MAX_FILTERED_FIELDS = 3
SIGNER = "sandbox.pardot_signer"   # app.extensions key: one TokenSigner per app

# filter parameter -> (field, operator)
_FILTERS = {f"{f}{suffix}": (f, op) for f, names in (
    ("id", (("GreaterThan", ">"), ("GreaterThanOrEqualTo", ">="), ("LessThan", "<"),
            ("LessThanOrEqualTo", "<="))),
    ("createdAt", (("After", ">"), ("AfterOrEqualTo", ">="), ("Before", "<"),
                   ("BeforeOrEqualTo", "<="))),
    ("updatedAt", (("After", ">"), ("AfterOrEqualTo", ">="), ("Before", "<"),
                   ("BeforeOrEqualTo", "<="))),
) for suffix, op in names}
_EMAIL_FILTER_OBJECTS = ("prospects", "users")

signer = app_state(SIGNER)


def init_app(app) -> None:
    app.extensions[SIGNER] = TokenSigner()


def query(obj: str):
    args = request.args
    if args.get("nextPageToken") is not None:
        fields, spec, after, served = _resume(obj, args)
    else:
        fields = pf.parse_field_list(obj, args.get("fields"), allowed=org.fields(obj))
        spec, after, served = parse_query(obj, args), None, 0
    rows, more = org.query(obj, spec, after)
    served += len(rows)
    headers, next_url, next_token = {}, None, None
    if more and served >= org.get_settings()["pageTokenMaxRecords"]:  # records one token chain serves
        headers["Pardot-Warning"] = WARNING_TOKEN_SEQUENCE_EXCEEDED
    elif more:
        next_token = _next_token(obj, spec, fields, rows[-1], served)
        next_url = (f"{base_url()}{request.path}?"
                    + urlencode({"fields": ",".join(fields), "nextPageToken": next_token}))
    render = pf.make_renderer(obj, fields, org.fields(obj))
    resp = jsonify({"values": [render(r) for r in rows], "nextPageToken": next_token,
                    "nextPageUrl": next_url})
    resp.headers.update(headers)
    return resp


def _resume(obj: str, args) -> tuple[list[str], QuerySpec, object, int]:
    """The query state carried by a nextPageToken (only `fields` may accompany it)."""
    extra = sorted(set(args) - {"nextPageToken", "fields"})
    if extra:
        raise bad_request(INVALID_QUERY_PARAMETERS,
                          f"Invalid query parameters: only fields may accompany "
                          f"nextPageToken, got {', '.join(extra)}")
    state = signer.decode(args["nextPageToken"], obj, org.now())
    fields = (pf.parse_field_list(obj, args["fields"], allowed=org.fields(obj)) if "fields" in args
              else state["fields"])
    spec = QuerySpec(order=state["order"], desc=state["desc"],
                     bounds={k: tuple(v) for k, v in state["bounds"].items()},
                     email=state["email"], deleted=state["deleted"],
                     limit=state["limit"])
    return fields, spec, state["after"], state["served"]


def _next_token(obj: str, spec: QuerySpec, fields: list[str], last: dict, served: int) -> str:
    return signer.encode({
        "obj": obj, "order": spec.order, "desc": spec.desc,
        "bounds": {k: list(v) for k, v in spec.bounds.items()}, "email": spec.email,
        "deleted": spec.deleted, "limit": spec.limit, "fields": fields,
        "after": last["id"] if spec.order == "id" else [last[spec.order], last["id"]],
        "served": served,
        "exp": org.now() + org.get_settings()["pageTokenTtlSeconds"]})


def parse_query(obj: str, args) -> QuerySpec:
    allowed = {"fields", "limit", "orderBy", "deleted", *_FILTERS}
    if obj in _EMAIL_FILTER_OBJECTS:
        allowed.add("email")
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise bad_request(INVALID_QUERY_PARAMETERS,
                          f"Invalid query parameters: {', '.join(unknown)}")
    spec = QuerySpec(limit=_limit(args))
    if "orderBy" in args:
        spec.order, spec.desc = _order_by(args["orderBy"])
    deleted = args.get("deleted", "false").lower()
    if deleted not in ("true", "false", "all"):
        raise bad_request(INVALID_DELETED, f"Parameter deleted must be true, false or all, "
                                           f"got {args['deleted']!r}")
    spec.deleted = deleted
    filtered = _apply_filters(spec, args)
    if "email" in args:
        filtered.add("email")
        spec.email = args["email"].strip()
    if len(filtered) > MAX_FILTERED_FIELDS:
        raise bad_request(TOO_MANY_FILTERS,
                          f"Too many fields have filters: The max number of "
                          f"{MAX_FILTERED_FIELDS} distinct fields with filters was exceeded "
                          f"for this query ({', '.join(sorted(filtered))}).")
    return spec


def _limit(args) -> int:
    if "limit" not in args:
        return DEFAULT_LIMIT
    raw = args["limit"]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(INVALID_LIMIT, f"Invalid value specified for limit: {raw!r} "
                                         f"(an integer from 1 to {MAX_LIMIT})")
    return int(raw)


def _order_by(raw: str) -> tuple[str, bool]:
    parts = raw.split()
    if (not 1 <= len(parts) <= 2 or parts[0] not in pf.SORTABLE
            or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))):
        raise bad_request(INVALID_SORT_BY,
                          f"Invalid value specified for orderBy: {raw!r} "
                          f"(one of {', '.join(pf.SORTABLE)}, optionally followed by "
                          f"asc or desc)")
    return parts[0], len(parts) == 2 and parts[1].lower() == "desc"


def _apply_filters(spec: QuerySpec, args) -> set[str]:
    """Narrows spec.bounds by each id/createdAt/updatedAt filter; returns the fields filtered."""
    filtered = set()
    for name, raw in args.items():
        if name not in _FILTERS:
            continue
        fname, op = _FILTERS[name]
        filtered.add(fname)
        lo, hi = spec.bounds.get(fname, (None, None))
        new_lo, new_hi = _filter_bounds(name, fname, op, raw)
        if new_lo is not None:
            lo = new_lo if lo is None else max(lo, new_lo)
        if new_hi is not None:
            hi = new_hi if hi is None else min(hi, new_hi)
        spec.bounds[fname] = (lo, hi)
    return filtered


def _filter_bounds(name: str, fname: str, op: str, raw: str) -> tuple[int | None, int | None]:
    if fname == "id":
        if not raw.lstrip("-").isdigit():
            raise bad_request(INVALID_QUERY_PARAMETERS,
                              f"Invalid query parameters: {name} must be an integer, "
                              f"got {raw!r}")
        value = int(raw)
        return {">": value + 1, ">=": value}.get(op), {"<": value - 1, "<=": value}.get(op)
    value = pf.parse_datetime(raw, name)
    return ({">": pf.floor_seconds(value) + 1, ">=": pf.ceil_seconds(value)}.get(op),
            {"<": pf.ceil_seconds(value) - 1, "<=": pf.floor_seconds(value)}.get(op))

"""Flask blueprint serving the Pardot (Account Engagement) API v5 under /api/v5.

Request-level concerns owned by the shared runtime (latency, call counting, injected faults,
the 5-concurrent-requests and daily limits) happen before these views; here are auth, the
business-unit header, and the objects.
"""
from __future__ import annotations

import json
import re
from typing import Callable
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from sandbox import pardot_fields as pf
from sandbox.pardot_errors import (
    EMPTY_BODY, INVALID_DELETED, INVALID_HEADER, INVALID_JSON, INVALID_LIMIT,
    INVALID_PROPERTY, INVALID_QUERY_PARAMETERS, INVALID_SORT_BY, MISSING_PROPERTY, INVALID_TOKEN, MISSING_HEADER, NO_FILE,
    TOO_MANY_FILTERS, UNKNOWN_BUSINESS_UNIT, UNSUPPORTED_CONTENT_TYPE,
    WARNING_TOKEN_SEQUENCE_EXCEEDED, PardotError, bad_request, not_found,
)
from sandbox.pardot_table import QuerySpec
from sandbox.pardot_tokens import TokenSigner

MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
MAX_FILTERED_FIELDS = 3
MAX_TOKEN_SEQUENCE = 100_000     # records served by one nextPageToken chain
_BU_RE = re.compile(r"^0Uv[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")

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


def jsonify(data, status: int = 200) -> Response:
    """JSON keeping the caller's key order (field order as requested, unlike flask.jsonify)."""
    return Response(json.dumps(data, separators=(",", ":")), status=status,
                    mimetype="application/json")


def create_blueprint(org, token_info: Callable[[str], dict | None]) -> Blueprint:
    bp = Blueprint("pardot_v5", __name__, url_prefix="/api/v5")
    signer = TokenSigner()

    @bp.errorhandler(PardotError)
    def _pardot_error(exc: PardotError):
        resp = jsonify(exc.body(), exc.status)
        resp.headers.update(exc.headers)
        return resp

    @bp.before_request
    def _authenticate():
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        info = token_info(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if info is None:
            raise PardotError(401, INVALID_TOKEN, "access_token is invalid, unknown, or "
                                                  "malformed: Inactive token")
        bu = request.headers.get("Pardot-Business-Unit-Id")
        if not bu:
            raise bad_request(MISSING_HEADER, "A required header is missing: "
                                              "Pardot-Business-Unit-Id")
        bu = bu.strip()
        if not _BU_RE.match(bu):
            raise bad_request(INVALID_HEADER, "Invalid header value: Pardot-Business-Unit-Id "
                                              "must be a 15 or 18 character id starting with 0Uv")
        if bu[:15] != org.business_unit_id[:15]:
            raise bad_request(UNKNOWN_BUSINESS_UNIT,
                              "Business Unit specified in Pardot-Business-Unit-Id header not "
                              "found or inactive.")
        g.pardot_actor = org.pardot_user_id(info.get("user_id"))

    # --- helpers -----------------------------------------------------------------------

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
        return pf.parse_field_list(obj, raw)

    def one(obj: str, row: dict, fields: list[str] | None, status: int = 200):
        if fields is None:
            return Response(status=204)
        return jsonify(pf.make_renderer(obj, fields)(row), status)

    def flag(name: str) -> bool:
        value = request.args.get(name, "false").lower()
        if value not in ("true", "false"):
            raise bad_request(INVALID_DELETED, f"Parameter {name} must be true or false")
        return value == "true"

    # --- query -------------------------------------------------------------------------

    def query(obj: str):
        args = request.args
        token = args.get("nextPageToken")
        if token is not None:
            extra = sorted(set(args) - {"nextPageToken", "fields"})
            if extra:
                raise bad_request(INVALID_QUERY_PARAMETERS,
                                  f"Invalid query parameters: only fields may accompany "
                                  f"nextPageToken, got {', '.join(extra)}")
            state = signer.decode(token, obj, org.now())
            fields = (pf.parse_field_list(obj, args["fields"]) if "fields" in args
                      else state["fields"])
            spec = QuerySpec(order=state["order"], desc=state["desc"],
                             bounds={k: tuple(v) for k, v in state["bounds"].items()},
                             email=state["email"], deleted=state["deleted"],
                             limit=state["limit"])
            after, served = state["after"], state["served"]
        else:
            fields = pf.parse_field_list(obj, args.get("fields"))
            spec, after, served = parse_query(obj, args), None, 0
        rows, more = org.query(obj, spec, after)
        served += len(rows)
        resp_headers = {}
        next_token = None
        if more and served >= MAX_TOKEN_SEQUENCE:
            resp_headers["Pardot-Warning"] = WARNING_TOKEN_SEQUENCE_EXCEEDED
        elif more:
            last = rows[-1]
            next_token = signer.encode({
                "obj": obj, "order": spec.order, "desc": spec.desc,
                "bounds": {k: list(v) for k, v in spec.bounds.items()}, "email": spec.email,
                "deleted": spec.deleted, "limit": spec.limit, "fields": fields,
                "after": last["id"] if spec.order == "id" else [last[spec.order], last["id"]],
                "served": served,
                "exp": org.now() + org.get_settings()["pageTokenTtlSeconds"]})
        render = pf.make_renderer(obj, fields)
        next_url = None
        if next_token:
            next_url = (f"{base_url()}{request.path}?"
                        + urlencode({"fields": ",".join(fields), "nextPageToken": next_token}))
        resp = jsonify({"values": [render(r) for r in rows], "nextPageToken": next_token,
                        "nextPageUrl": next_url})
        resp.headers.update(resp_headers)
        return resp

    def parse_query(obj: str, args) -> QuerySpec:
        spec = QuerySpec()
        allowed = {"fields", "limit", "orderBy", "deleted", *_FILTERS}
        if obj in _EMAIL_FILTER_OBJECTS:
            allowed.add("email")
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise bad_request(INVALID_QUERY_PARAMETERS,
                              f"Invalid query parameters: {', '.join(unknown)}")
        if "limit" in args:
            raw = args["limit"]
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
                raise bad_request(INVALID_LIMIT, f"Invalid value specified for limit: {raw!r} "
                                                 f"(an integer from 1 to {MAX_LIMIT})")
            spec.limit = int(raw)
        else:
            spec.limit = DEFAULT_LIMIT
        if "orderBy" in args:
            parts = args["orderBy"].split()
            if (not 1 <= len(parts) <= 2 or parts[0] not in pf.SORTABLE
                    or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))):
                raise bad_request(INVALID_SORT_BY,
                                  f"Invalid value specified for orderBy: {args['orderBy']!r} "
                                  f"(one of {', '.join(pf.SORTABLE)}, optionally followed by "
                                  f"asc or desc)")
            spec.order = parts[0]
            spec.desc = len(parts) == 2 and parts[1].lower() == "desc"
        deleted = args.get("deleted", "false").lower()
        if deleted not in ("true", "false", "all"):
            raise bad_request(INVALID_DELETED, f"Parameter deleted must be true, false or all, "
                                               f"got {args['deleted']!r}")
        spec.deleted = deleted
        filtered = set()
        for name, raw in args.items():
            if name not in _FILTERS:
                continue
            fname, op = _FILTERS[name]
            filtered.add(fname)
            lo, hi = spec.bounds.get(fname, (None, None))
            if fname == "id":
                if not raw.lstrip("-").isdigit():
                    raise bad_request(INVALID_QUERY_PARAMETERS,
                                      f"Invalid query parameters: {name} must be an integer, "
                                      f"got {raw!r}")
                value = int(raw)
                new_lo = {">": value + 1, ">=": value}.get(op)
                new_hi = {"<": value - 1, "<=": value}.get(op)
            else:
                value = pf.parse_datetime(raw, name)
                new_lo = {">": pf.floor_seconds(value) + 1, ">=": pf.ceil_seconds(value)}.get(op)
                new_hi = {"<": pf.ceil_seconds(value) - 1, "<=": pf.floor_seconds(value)}.get(op)
            if new_lo is not None:
                lo = new_lo if lo is None else max(lo, new_lo)
            if new_hi is not None:
                hi = new_hi if hi is None else min(hi, new_hi)
            spec.bounds[fname] = (lo, hi)
        if "email" in args:
            filtered.add("email")
            spec.email = args["email"].strip()
        if len(filtered) > MAX_FILTERED_FIELDS:
            raise bad_request(TOO_MANY_FILTERS,
                              f"Too many fields have filters: The max number of "
                              f"{MAX_FILTERED_FIELDS} distinct fields with filters was exceeded "
                              f"for this query ({', '.join(sorted(filtered))}).")
        return spec

    # --- prospects ---------------------------------------------------------------------

    @bp.get("/objects/prospects")
    def prospects_query():
        return query("prospects")

    @bp.post("/objects/prospects")
    def prospects_create():
        fields = selected_fields("prospects", required=False)
        row = org.create("prospects", json_body(), g.pardot_actor)
        resp = one("prospects", row, fields or ["id"], status=201)
        resp.headers["Location"] = f"{base_url()}/api/v5/objects/prospects/{row['id']}"
        return resp

    @bp.get("/objects/prospects/<record_id>")
    def prospects_read(record_id):
        fields = selected_fields("prospects", required=True)
        row = org.get("prospects", parse_id(record_id, "Prospect"), include_deleted=flag("deleted"))
        return one("prospects", row, fields)

    @bp.patch("/objects/prospects/<record_id>")
    def prospects_update(record_id):
        fields = selected_fields("prospects", required=False)
        row = org.update("prospects", parse_id(record_id, "Prospect"), json_body(), g.pardot_actor)
        return one("prospects", row, fields)

    @bp.delete("/objects/prospects/<record_id>")
    def prospects_delete(record_id):
        org.delete("prospects", parse_id(record_id, "Prospect"), g.pardot_actor)
        return Response(status=204)

    @bp.post("/objects/prospects/<record_id>/do/undelete")
    def prospects_undelete(record_id):
        fields = selected_fields("prospects", required=False)
        row = org.undelete("prospects", parse_id(record_id, "Prospect"), g.pardot_actor)
        return one("prospects", row, fields)

    @bp.post("/objects/prospects/do/upsertLatestByEmail")
    def prospects_upsert_latest_by_email():
        body = json_body()
        if not isinstance(body, dict):
            raise bad_request(INVALID_JSON, "Input needs to be valid JSON: expected an object "
                                            "with matchEmail, prospect and fields")
        unknown = sorted(set(body) - {"matchEmail", "prospect", "fields"})
        if unknown:
            raise bad_request(INVALID_PROPERTY,
                              f"Invalid property in request: {', '.join(unknown)}")
        fields = (pf.parse_field_list("prospects", body["fields"]) if "fields" in body
                  else ["id"])
        row, _created = org.upsert_latest_by_email(body.get("matchEmail"),
                                                   body.get("prospect", {}), g.pardot_actor)
        return one("prospects", row, fields)

    # --- users ---------------------------------------------------------------------------

    @bp.get("/objects/users")
    def users_query():
        return query("users")

    @bp.get("/objects/users/<record_id>")
    def users_read(record_id):
        fields = selected_fields("users", required=True)
        row = org.get("users", parse_id(record_id, "User"), include_deleted=flag("deleted"))
        return one("users", row, fields)

    # --- campaigns -----------------------------------------------------------------------

    @bp.get("/objects/campaigns")
    def campaigns_query():
        return query("campaigns")

    @bp.post("/objects/campaigns")
    def campaigns_create():
        fields = selected_fields("campaigns", required=False)
        row = org.create("campaigns", json_body(), g.pardot_actor)
        resp = one("campaigns", row, fields or ["id"], status=201)
        resp.headers["Location"] = f"{base_url()}/api/v5/objects/campaigns/{row['id']}"
        return resp

    @bp.get("/objects/campaigns/<record_id>")
    def campaigns_read(record_id):
        fields = selected_fields("campaigns", required=True)
        row = org.get("campaigns", parse_id(record_id, "Campaign"), include_deleted=flag("deleted"))
        return one("campaigns", row, fields)

    @bp.patch("/objects/campaigns/<record_id>")
    def campaigns_update(record_id):
        fields = selected_fields("campaigns", required=False)
        row = org.update("campaigns", parse_id(record_id, "Campaign"), json_body(), g.pardot_actor)
        return one("campaigns", row, fields)

    # --- account ---------------------------------------------------------------------------

    @bp.get("/objects/account")
    def account_read():
        fields = pf.parse_field_list("account", request.args.get("fields"),
                                     allowed=pf.ACCOUNT_FIELDS)
        account = org.account()
        return jsonify({f: account[f] for f in fields})

    # --- imports ---------------------------------------------------------------------------

    @bp.post("/imports")
    def imports_create():
        if request.mimetype == "multipart/form-data":
            raw_input = request.form.get("input")
            if raw_input is None and "input" in request.files:
                raw_input = request.files["input"].read().decode("utf-8", "replace")
            if raw_input is None:
                raise bad_request(MISSING_PROPERTY,
                                  "Missing required property in request: the multipart body "
                                  "needs an 'input' part with the import JSON")
            try:
                spec = json.loads(raw_input)
            except ValueError as exc:
                raise bad_request(INVALID_JSON, f"Input needs to be valid JSON: 'input' part: "
                                                f"{exc}") from None
            upload = request.files.get("importFile") or request.files.get("file")
            data = upload.read() if upload is not None else None
        else:
            spec, data = json_body(), None
        imp = org.imports.create(spec, data, g.pardot_actor)
        return jsonify(org.imports.read(imp.id, base_url()), 201)

    @bp.post("/imports/<record_id>/batches")
    def imports_add_batch(record_id):
        import_id = parse_id(record_id, "Import")
        upload = request.files.get("importFile") or request.files.get("file")
        if upload is None:
            raise bad_request(NO_FILE, "No file was specified or uploaded: send the CSV as the "
                                       "multipart part 'importFile'")
        org.imports.add_batch(import_id, upload.read())
        return Response(status=204)

    @bp.patch("/imports/<record_id>")
    def imports_update(record_id):
        imp = org.imports.update(parse_id(record_id, "Import"), json_body())
        return jsonify(org.imports.read(imp.id, base_url()))

    @bp.get("/imports/<record_id>")
    def imports_read(record_id):
        out = org.imports.read(parse_id(record_id, "Import"), base_url())
        if "fields" in request.args:
            names = pf.parse_field_list("import", request.args["fields"], allowed=tuple(out))
            out = {n: out[n] for n in names}
        return jsonify(out)

    @bp.get("/imports/<record_id>/errors")
    def imports_errors(record_id):
        body = org.imports.errors_csv(parse_id(record_id, "Import"))
        return Response(body, mimetype="text/csv")

    from sandbox import pardot_custom_fields  # the Custom Field object (issue 9 item 3)
    pardot_custom_fields.register(bp, org, jsonify)
    return bp

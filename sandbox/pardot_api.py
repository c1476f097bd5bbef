"""Flask blueprint serving the Pardot (Account Engagement) API v5 under /api/v5, over the org in
`app.extensions["sandbox"]`.

Request-level concerns owned by the shared runtime (latency, call counting, injected faults,
the 5-concurrent-requests and daily limits) happen before these views; here are auth, the
business-unit header, and the objects. Nested blueprints add the Imports API
(pardot_imports_api), Custom Fields (pardot_custom_fields) and the Salesforce Connector API
(sf_connector): the auth and error rendering below apply to them too.
"""
from __future__ import annotations

import re
from functools import partial

from flask import Blueprint, Response, g, request

from sandbox import pardot_custom_fields, pardot_imports_api, pardot_paging, sf_connector
from sandbox import pardot_fields as pf
from sandbox.context import runtime
from sandbox.pardot_errors import (
    INVALID_HEADER,
    INVALID_JSON,
    INVALID_PROPERTY,
    INVALID_TOKEN,
    MISSING_HEADER,
    UNKNOWN_BUSINESS_UNIT,
    PardotError,
    bad_request,
)
from sandbox.pardot_http import (
    base_url,
    flag,
    json_body,
    jsonify,
    one,
    org,
    parse_id,
    selected_fields,
)

_BU_RE = re.compile(r"^0Uv[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")

bp = Blueprint("pardot_v5", __name__, url_prefix="/api/v5")
for _child in (pardot_imports_api.bp, pardot_custom_fields.bp, sf_connector.api_bp):
    bp.register_blueprint(_child)


@bp.record_once
def _init(state) -> None:
    pardot_paging.init_app(state.app)


@bp.errorhandler(PardotError)
def _pardot_error(exc: PardotError):
    resp = jsonify(exc.body(), exc.status)
    resp.headers.update(exc.headers)
    return resp


@bp.before_request
def _authenticate():
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    info = runtime.token_info(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
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


# --- prospects, users, campaigns: the same views, registered per object -------------------

def _create(obj: str, _label: str):
    fields = selected_fields(obj, required=False)
    row = org.create(obj, json_body(), g.pardot_actor)
    resp = one(obj, row, fields or ["id"], status=201)
    resp.headers["Location"] = f"{base_url()}/api/v5/objects/{obj}/{row['id']}"
    return resp


def _read(obj: str, label: str, record_id: str):
    fields = selected_fields(obj, required=True)
    row = org.get(obj, parse_id(record_id, label), include_deleted=flag("deleted"))
    return one(obj, row, fields)


def _update(obj: str, label: str, record_id: str):
    fields = selected_fields(obj, required=False)
    row = org.update(obj, parse_id(record_id, label), json_body(), g.pardot_actor)
    return one(obj, row, fields)


_VIEWS = {"query": ("", "GET", lambda obj, _label: pardot_paging.query(obj)),
          "create": ("", "POST", _create),
          "read": ("/<record_id>", "GET", _read),
          "update": ("/<record_id>", "PATCH", _update)}
_OBJECTS = (("prospects", "Prospect", ("query", "create", "read", "update")),
            ("users", "User", ("query", "read")),
            ("campaigns", "Campaign", ("query", "create", "read", "update")))
for _obj, _label, _ops in _OBJECTS:
    for _op in _ops:
        _rule, _method, _view = _VIEWS[_op]
        bp.add_url_rule(f"/objects/{_obj}{_rule}", endpoint=f"{_obj}_{_op}",
                        view_func=partial(_view, _obj, _label), methods=[_method])


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
    fields = (pf.parse_field_list("prospects", body["fields"], allowed=org.fields("prospects"))
              if "fields" in body else ["id"])
    row, _created = org.upsert_latest_by_email(body.get("matchEmail"),
                                               body.get("prospect", {}), g.pardot_actor)
    return one("prospects", row, fields)


@bp.get("/objects/account")
def account_read():
    fields = pf.parse_field_list("account", request.args.get("fields"),
                                 allowed=pf.ACCOUNT_FIELDS)
    account = org.account()
    return jsonify({f: account[f] for f in fields})

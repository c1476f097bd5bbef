"""The Pardot v5 Custom Field object (`/api/v5/objects/custom-fields`) in the sandbox.

From Salesforce's "Custom Field Object" v5 page: Read GET /objects/custom-fields/<id>,
Create POST /objects/custom-fields, Query GET /objects/custom-fields (ability "Prospect >
Prospects > Configure Fields"); fields `id`, `name`, `fieldId` (the API name), `type`,
`isRequired`, `salesforceId`, `createdAt`, `updatedAt`. The type names, the API-name rule and
the duplicate refusal's wording are inferred (not in the public text we could read) and kept
here in one place. State lives in `PardotOrg.custom_fields`: API name (fieldId) -> row."""
from __future__ import annotations

import re

from flask import Blueprint, Response, g, request

from sandbox import pardot_fields as pf
from sandbox.pardot_errors import (
    INVALID_PROPERTY,
    INVALID_QUERY_FIELDS,
    INVALID_QUERY_PARAMETERS,
    INVALID_WRITE_FIELDS,
    MISSING_PROPERTY,
    bad_request,
    not_found,
)
from sandbox.pardot_http import base_url, json_body, jsonify, org

TYPES = ("Text", "Number", "Date", "Radio Button", "Checkbox", "Dropdown", "Textarea", "Multi-Select", "Hidden")
READ_ONLY = ("id", "createdAt", "updatedAt", "createdById", "updatedById")
WRITABLE = ("name", "fieldId", "type", "isRequired", "isRecordMultipleResponses", "salesforceId")
FIELDS = READ_ONLY + WRITABLE
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")


def _row_json(row: dict, names: list[str]) -> dict:
    return {n: (pf.render_datetime(row[n]) if n in ("createdAt", "updatedAt") else row.get(n)) for n in names}


def _field_list(raw: str | None) -> list[str]:
    if raw is None or not raw.strip():
        return ["id"]
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in FIELDS]
    if bad:
        raise bad_request(INVALID_QUERY_FIELDS,
                          f"Invalid fields for request type: Custom Field has no field named {bad[0]!r}")
    return names


def create(org, body, actor: int | None) -> dict:
    """Validates like Pardot: known writable fields, name and fieldId required, fieldId unique."""
    if not isinstance(body, dict):
        raise bad_request(INVALID_PROPERTY, "Invalid property in request: a Custom Field must be a JSON object")
    unknown = [n for n in body if n not in FIELDS]
    if unknown:
        raise bad_request(INVALID_WRITE_FIELDS, "One or more of the specified fields are invalid: Custom Field "
                                                f"has no field named {', '.join(repr(n) for n in unknown)}")
    read_only = [n for n in body if n in READ_ONLY]
    if read_only:
        raise bad_request(INVALID_WRITE_FIELDS, f"One or more of the specified fields are invalid: "
                                                f"{', '.join(read_only)} can't be written")
    for name in ("name", "fieldId"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise bad_request(MISSING_PROPERTY, f"Missing required property in request: {name}")
    field_id = body["fieldId"].strip()
    if not API_NAME.match(field_id):
        raise bad_request(INVALID_WRITE_FIELDS,
                          f"One or more of the specified fields are invalid: fieldId {field_id!r} must start "
                          f"with a letter and hold only letters, digits and underscores (at most 50)")
    kind = body.get("type", "Text")
    if kind not in TYPES:
        raise bad_request(INVALID_WRITE_FIELDS, f"One or more of the specified fields are invalid: type "
                                                f"{kind!r} is not one of {', '.join(TYPES)}")
    for flag in ("isRequired", "isRecordMultipleResponses"):
        if flag in body and not isinstance(body[flag], bool):
            raise bad_request(INVALID_WRITE_FIELDS,
                              f"One or more of the specified fields are invalid: {flag} must be true or false")
    with org.lock:
        taken = {k.lower() for k in org.custom_fields} | {k.lower() for k in pf.FIELDS["prospects"]}
        if field_id.lower() in taken:
            raise bad_request(INVALID_WRITE_FIELDS, f"One or more of the specified fields are invalid: "
                                                    f"fieldId {field_id!r} is already in use")
        now = int(org.now())
        row = {"id": max((r["id"] for r in org.custom_fields.values()), default=0) + 1,
               "name": body["name"].strip(), "fieldId": field_id, "type": kind,
               "isRequired": body.get("isRequired", False),
               "isRecordMultipleResponses": body.get("isRecordMultipleResponses", False),
               "salesforceId": body.get("salesforceId"), "createdAt": now, "updatedAt": now,
               "createdById": actor, "updatedById": actor}
        org.custom_fields[field_id] = row
        return dict(row)


bp = Blueprint("custom_fields", __name__)   # nested in pardot_api.bp: its auth applies


@bp.get("/objects/custom-fields")
def custom_fields_query():
    unknown = sorted(set(request.args) - {"fields", "limit", "orderBy"})
    if unknown:
        raise bad_request(INVALID_QUERY_PARAMETERS, f"Invalid query parameters: {', '.join(unknown)}")
    names = _field_list(request.args.get("fields"))
    with org.lock:
        rows = sorted(org.custom_fields.values(), key=lambda r: r["id"])
    return jsonify({"values": [_row_json(r, names) for r in rows], "nextPageToken": None, "nextPageUrl": None})


@bp.get("/objects/custom-fields/<record_id>")
def custom_fields_read(record_id):
    names = _field_list(request.args.get("fields"))
    with org.lock:
        row = next((r for r in org.custom_fields.values() if str(r["id"]) == record_id), None)
    if row is None:
        raise not_found("Custom Field", record_id)
    return jsonify(_row_json(row, names))


@bp.post("/objects/custom-fields")
def custom_fields_create():
    names = _field_list(request.args.get("fields"))
    row = create(org, json_body(), g.pardot_actor)
    resp: Response = jsonify(_row_json(row, names), 201)
    resp.headers["Location"] = f"{base_url()}/api/v5/objects/custom-fields/{row['id']}"
    return resp

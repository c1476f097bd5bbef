"""Pardot v5 Imports API (/api/v5/imports): create (JSON or multipart with the first batch),
add CSV batches, submit, read, and the errors CSV; the work is pardot_imports.ImportStore."""
from __future__ import annotations

import json

from flask import Blueprint, Response, g, request

from sandbox import pardot_fields as pf
from sandbox.pardot_errors import INVALID_JSON, MISSING_PROPERTY, NO_FILE, bad_request
from sandbox.pardot_http import base_url, json_body, jsonify, org, parse_id

bp = Blueprint("imports", __name__)


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

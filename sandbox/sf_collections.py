"""Salesforce REST: sObject Collections (create, update, upsert, delete, retrieve up to 200
records), all-or-none rolled back in one savepoint."""
from __future__ import annotations

from flask import Blueprint, request

from .sf_rest import (
    MAX_COLLECTION,
    body_json,
    field_list,
    json_response,
    object_schema,
    org,
    render_record,
    router,
    user_id,
)
from .sf_schema import schema_for
from .sf_values import SfError

ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}

bp = Blueprint("collections", __name__)
route = router(bp)


def all_or_none_flag(data) -> bool:
    raw = data.get("allOrNone", False) if isinstance(data, dict) else request.args.get("allOrNone", "false")
    return raw is True or str(raw).lower() == "true"


def collection_records(data) -> list:
    records = data.get("records")
    if not isinstance(records, list):
        raise SfError("JSON_PARSER_ERROR", "records must be a JSON array")
    if len(records) > MAX_COLLECTION:
        raise SfError("EXCEEDED_ID_LIMIT", f"Record limit reached. Cannot submit more than {MAX_COLLECTION} "
                                           "records into this call")
    return records


def run_collection(items, op, all_or_none: bool, id_in_failure: bool):
    results, failed = [], False
    with org.lock:
        sp = org.begin()
        try:
            for item in items:
                try:
                    results.append(op(item))
                except SfError as err:
                    failed = True
                    res = {"success": False, "errors": [err.per_record()]}
                    if id_in_failure and isinstance(item, dict) and item.get("id"):
                        res = {"id": item["id"], **res}
                    elif id_in_failure and isinstance(item, str):
                        res = {"id": item, **res}
                    results.append(res)
        finally:
            org.end(sp, rollback=failed and all_or_none)
    if failed and all_or_none:
        results = [r if not r["success"] else
                   {**({"id": r["id"]} if id_in_failure else {}), "success": False, "errors": [ROLLED_BACK]}
                   for r in results]
    return json_response(results)


def record_type(rec) -> str:
    if not isinstance(rec, dict):
        raise SfError("JSON_PARSER_ERROR", "each record must be a JSON object")
    attrs = rec.get("attributes")
    if not isinstance(attrs, dict) or not attrs.get("type"):
        raise SfError("INVALID_TYPE", "Must send a concrete entity type.")
    schema = schema_for(attrs["type"])
    if schema is None:
        raise SfError("INVALID_TYPE", f"sObject type '{attrs['type']}' is not supported.")
    return schema.name


@route("/composite/sobjects", methods=("POST",))
def collection_create(version):
    data = body_json()
    records = collection_records(data)

    def op(rec):
        return {"id": org.create(record_type(rec), rec, user_id()), "success": True, "errors": []}
    return run_collection(records, op, all_or_none_flag(data), id_in_failure=False)


@route("/composite/sobjects", methods=("PATCH",))
def collection_update(version):
    data = body_json()
    records = collection_records(data)

    def op(rec):
        obj = record_type(rec)
        rid = next((v for k, v in rec.items() if k.lower() == "id"), None)
        if not rid:
            raise SfError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return {"id": org.update(obj, rid, rec, user_id()), "success": True, "errors": []}
    return run_collection(records, op, all_or_none_flag(data), id_in_failure=True)


@route("/composite/sobjects/<sobject>/<field>", methods=("PATCH",))
def collection_upsert(version, sobject, field):
    schema = object_schema(sobject)
    f = schema.field(field)
    if f is None or not (f.external_id or f.name == "Id"):
        raise SfError("INVALID_FIELD", f"Field name provided, {field} is not an External ID or indexed field "
                                       f"for {schema.name}")
    data = body_json()
    records = collection_records(data)

    def op(rec):
        obj = record_type(rec)
        if obj != schema.name:
            raise SfError("INVALID_TYPE", f"All records must be of type {schema.name}")
        value = next((v for k, v in rec.items() if k.lower() == f.name.lower()), None)
        rid, created = org.upsert(obj, f.name, value, rec, user_id())
        return {"id": rid, "success": True, "errors": [], "created": created}
    return run_collection(records, op, all_or_none_flag(data), id_in_failure=False)


def id_param(raw) -> list[str]:
    ids = [i.strip() for i in (raw if isinstance(raw, list) else str(raw or "").split(",")) if str(i).strip()]
    if not ids:
        raise SfError("MISSING_ARGUMENT", "ids parameter is required")
    if len(ids) > MAX_COLLECTION:
        raise SfError("EXCEEDED_ID_LIMIT", f"Record limit reached. Cannot submit more than {MAX_COLLECTION} "
                                           "records into this call")
    return ids


@route("/composite/sobjects", methods=("DELETE",))
def collection_delete(version):
    ids = id_param(request.args.get("ids"))

    def op(rid):
        return {"id": org.delete(rid, user_id()), "success": True, "errors": []}
    return run_collection(ids, op, all_or_none_flag(None), id_in_failure=True)


@route("/composite/sobjects/<sobject>", methods=("GET", "POST"))
def collection_retrieve(version, sobject):
    schema = object_schema(sobject)
    if request.method == "POST":
        data = body_json()
        ids, raw_fields = id_param(data.get("ids")), data.get("fields")
    else:
        ids, raw_fields = id_param(request.args.get("ids")), request.args.get("fields")
    fields = field_list(schema, raw_fields)
    if not fields:
        raise SfError("MISSING_ARGUMENT", "fields parameter is required")
    out = []
    with org.lock:
        for raw in ids:
            try:
                rec = org.get(schema.name, raw)
            except SfError:
                rec = None
            out.append(render_record(version, schema, rec, fields) if rec else None)
    return json_response(out)

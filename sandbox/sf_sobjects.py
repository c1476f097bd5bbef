"""Salesforce REST: discovery (resources, limits, describe), replication (updated/deleted)
and single records by Id or external id under /services/data/vNN.0."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, request

from .sf_rest import (
    MAX_COLLECTION,
    body_json,
    field_list,
    json_response,
    not_found,
    object_schema,
    org,
    render_record,
    router,
    user_id,
)
from .sf_schema import SCHEMAS
from .sf_values import UTC, SfError, parse_datetime, render

bp = Blueprint("sobjects", __name__)
route = router(bp)
_DESCRIBE_CACHE: dict[tuple, dict] = {}   # (object, version) -> describe; schemas are static


@route("/")
def resources(version):
    base = f"/services/data/v{version}"
    return json_response({k: f"{base}/{k}" for k in
                          ("sobjects", "query", "queryAll", "composite", "limits")})


@route("/limits")
def limits(version):
    used, cap = org.api_usage()
    return json_response({
        "DailyApiRequests": {"Max": cap, "Remaining": max(cap - used, 0)},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        "FileStorageMB": {"Max": 1024, "Remaining": 1024},
        "SingleEmail": {"Max": 5000, "Remaining": 5000},
    })


@route("/sobjects")
def describe_global(version):
    return json_response({"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION,
                          "sobjects": [s.summary(version) for s in SCHEMAS.values()]})


@route("/sobjects/<sobject>")
def sobject_info(version, sobject):
    schema = object_schema(sobject)
    return json_response({"objectDescribe": schema.summary(version), "recentItems": []})


@route("/sobjects/<sobject>/describe")
def describe(version, sobject):
    schema = object_schema(sobject)
    key = (schema.name, version)
    if key not in _DESCRIBE_CACHE:
        _DESCRIBE_CACHE[key] = schema.describe(version)
    return json_response(_DESCRIBE_CACHE[key])


def replication_window(max_days: int) -> tuple[dt.datetime, dt.datetime]:
    bounds = []
    for param in ("start", "end"):
        raw = request.args.get(param)
        if raw is None:
            raise SfError("MISSING_ARGUMENT", f"{param} is a required parameter (ISO 8601 datetime)")
        value = parse_datetime(raw)
        if value is None:
            raise SfError("INVALID_REPLICATION_DATE", f"{param} is not a valid ISO 8601 datetime: {raw}")
        bounds.append(value.replace(second=0, microsecond=0))  # Salesforce ignores seconds
    start, end = bounds
    now = dt.datetime.now(UTC)
    if end <= start:
        raise SfError("INVALID_REPLICATION_DATE", "end must be after start")
    if start < now - dt.timedelta(days=max_days):
        raise SfError("INVALID_REPLICATION_DATE", f"start cannot be more than {max_days} days ago")
    return start, min(end, now.replace(second=0, microsecond=0))


@route("/sobjects/<sobject>/updated")
def updated(version, sobject):
    schema = object_schema(sobject)
    start, covered = replication_window(30)
    ids = org.updated_ids(schema.name, start, covered) if covered > start else []
    return json_response({"ids": ids, "latestDateCovered": render(covered)})


@route("/sobjects/<sobject>/deleted")
def deleted(version, sobject):
    schema = object_schema(sobject)
    start, covered = replication_window(15)
    recs = org.deleted_records(schema.name, start, covered) if covered > start else []
    earliest = org.earliest_deleted(schema.name) or (dt.datetime.now(UTC) - dt.timedelta(days=15))
    return json_response({
        "deletedRecords": [{"id": rid, "deletedDate": render(when)} for rid, when in recs],
        "earliestDateAvailable": render(earliest.replace(second=0, microsecond=0)),
        "latestDateCovered": render(covered),
    })


@route("/sobjects/<sobject>", methods=("POST",))
def create(version, sobject):
    schema = object_schema(sobject)
    values = body_json()
    rid = org.create(schema.name, values, user_id())
    return json_response({"id": rid, "success": True, "errors": []}, 201)


@route("/sobjects/<sobject>/<record_id>", methods=("GET",))
def get_record(version, sobject, record_id):
    schema = object_schema(sobject)
    fields = field_list(schema, request.args.get("fields"))
    with org.lock:
        rec = org.get(schema.name, record_id)
    return json_response(render_record(version, schema, rec, fields))


@route("/sobjects/<sobject>/<record_id>", methods=("PATCH",))
def update_record(version, sobject, record_id):
    schema = object_schema(sobject)
    org.update(schema.name, record_id, body_json(), user_id())
    return json_response(None, 204)


@route("/sobjects/<sobject>/<record_id>", methods=("DELETE",))
def delete_record(version, sobject, record_id):
    schema = object_schema(sobject)
    try:
        org.delete(record_id, user_id(), obj=schema.name)
    except SfError as err:
        if err.code == "MALFORMED_ID":
            raise not_found() from None
        raise
    return json_response(None, 204)


def by_external(schema, field, value):
    f = schema.field(field)
    if f is None or not f.external_id:
        raise SfError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}",
                      status=404)
    with org.lock:
        ids = sorted(org.ext_idx[schema.name].get(value, ()))
        recs = [org.live[schema.name][i] for i in ids]
    if len(recs) > 1:
        err = SfError("MULTIPLE_CHOICES", "more than one record", status=300)
        err.matches = ids
        raise err
    if not recs:
        raise not_found()
    return recs[0]


@route("/sobjects/<sobject>/<field>/<path:value>", methods=("GET",))
def get_by_external(version, sobject, field, value):
    schema = object_schema(sobject)
    fields = field_list(schema, request.args.get("fields"))
    return json_response(render_record(version, schema, by_external(schema, field, value), fields))


@route("/sobjects/<sobject>/<field>/<path:value>", methods=("PATCH", "POST"))
def upsert_record(version, sobject, field, value):
    schema = object_schema(sobject)
    rid, created = org.upsert(schema.name, field, value, body_json(), user_id())
    return json_response({"id": rid, "success": True, "errors": [], "created": created},
                         201 if created else 200)


@route("/sobjects/<sobject>/<field>/<path:value>", methods=("DELETE",))
def delete_by_external(version, sobject, field, value):
    schema = object_schema(sobject)
    org.delete(by_external(schema, field, value)["Id"], user_id(), obj=schema.name)
    return json_response(None, 204)

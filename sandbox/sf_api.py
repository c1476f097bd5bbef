"""Salesforce REST API (v59.0 wire format, any vNN.0) as a Flask blueprint over SalesforceOrg."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
import threading
import time
from collections import OrderedDict

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from .salesforce import SalesforceOrg
from .sf_auth import AuthService
from .sf_schema import SCHEMAS, schema_for
from .sf_values import UTC, SfError, parse_datetime, render

PREFIX = "/services/data/v<version>"
VERSION_RE = re.compile(r"^\d{2}\.0$")
MAX_COLLECTION = 200
MAX_COMPOSITE = 25
DEFAULT_BATCH = 2000
MAX_CURSORS = 50
CURSOR_TTL_S = 15 * 60
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}]
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_KNOWN_VERSIONS = [f"{v}.0" for v in range(52, 62)]


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


class QueryCursors:
    """Open query locators: full result kept once, each page is a slice (O(page) per request)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple] = OrderedDict()

    def open(self, sobject: str, rows: list, batch: int) -> str:
        loc = "01g" + secrets.token_hex(8)[:15]
        with self._lock:
            self._items[loc] = (sobject, rows, batch, time.monotonic())
            while len(self._items) > MAX_CURSORS:
                self._items.popitem(last=False)
        return loc

    def get(self, loc: str):
        with self._lock:
            item = self._items.get(loc)
            if item is None or time.monotonic() - item[3] > CURSOR_TTL_S:
                self._items.pop(loc, None)
                return None
            self._items[loc] = item[:3] + (time.monotonic(),)
            self._items.move_to_end(loc)
            return item

    def close(self, loc: str) -> None:
        with self._lock:
            self._items.pop(loc, None)


def create_blueprint(org: SalesforceOrg, auth: AuthService) -> Blueprint:
    bp = Blueprint("salesforce", __name__)
    cursors = QueryCursors()
    describe_cache: dict[tuple, dict] = {}

    def route(rule, methods=("GET",)):
        return bp.route(PREFIX + rule, methods=list(methods), strict_slashes=False)

    # ------------------------------------------------------------------ plumbing
    @bp.before_request
    def _authenticate():
        version = (request.view_args or {}).get("version")
        if version is None:
            return None  # versions list needs no session
        if not VERSION_RE.match(version):
            return json_response(not_found().single(), 404)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        info = auth.token_info(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        if info is None:
            return json_response([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
        g.sf_user = info
        return None

    @bp.errorhandler(SfError)
    def _sf_error(err: SfError):
        return error_response(err)

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

    # ------------------------------------------------------------------ discovery
    @bp.route("/services/data", methods=["GET"], strict_slashes=False)
    def versions():
        return json_response([{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                              for v in _KNOWN_VERSIONS])

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
        if key not in describe_cache:
            describe_cache[key] = schema.describe(version)
        return json_response(describe_cache[key])

    # ------------------------------------------------------------------ replication
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

    # ------------------------------------------------------------------ single records
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

    # ------------------------------------------------------------------ query
    def run_query(version: str, text: str | None, include_deleted: bool, endpoint: str):
        from . import soql
        if not text:
            raise SfError("MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = soql.parse(text)
        except soql.SoqlError as exc:
            raise SfError(exc.code, exc.message) from None
        schema = schema_for(query.sobject)
        if schema is None:
            err = query.invalid_type_error()
            raise SfError(err.code, err.message)
        add_id = not query.is_count and "id" not in [f.lower() for f in query.fields]
        run = query
        if add_id:
            try:  # keep attributes.url even when Id is not selected (as Salesforce does)
                run = dataclasses.replace(query, fields=[*query.fields, "Id"])
            except (TypeError, ValueError):
                add_id = False
        try:
            result = soql.execute(run, org.rows(schema.name, include_deleted), schema.soql_types)
        except soql.SoqlError as exc:
            raise SfError(exc.code, exc.message) from None
        if isinstance(result, int):
            return json_response({"totalSize": result, "done": True, "records": []})
        batch = batch_size()
        first = result[:batch]
        body = {"totalSize": len(result), "done": len(result) <= batch,
                "records": render_rows(version, schema.name, first, add_id)}
        if len(result) > batch:
            loc = cursors.open(schema.name, (result, add_id), batch)
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{loc}-{batch}"
        return json_response(body)

    def render_rows(version, obj, rows, drop_id):
        out = []
        for row in rows:
            rid = row.get("Id")
            rec = {"attributes": {"type": obj, "url": record_url(version, obj, rid)}}
            for key, value in row.items():
                if key == "Id" and drop_id:
                    continue
                rec[key] = render(value)
            out.append(rec)
        return out

    def batch_size() -> int:
        opts = request.headers.get("Sforce-Query-Options", "")
        m = re.search(r"batchSize\s*=\s*(\d+)", opts)
        if not m:
            return DEFAULT_BATCH
        return min(max(int(m.group(1)), 200), 2000)

    def query_more(version, locator, endpoint):
        loc, _, offset = locator.rpartition("-")
        item = cursors.get(loc) if offset.isdigit() else None
        if item is None:
            raise SfError("INVALID_QUERY_LOCATOR", "invalid query locator")
        obj, (rows, drop_id), batch, _ = item
        start = int(offset)
        page = rows[start:start + batch]
        done = start + batch >= len(rows)
        body = {"totalSize": len(rows), "done": done, "records": render_rows(version, obj, page, drop_id)}
        if done:
            cursors.close(loc)
        else:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{loc}-{start + batch}"
        return json_response(body)

    @route("/query")
    def query(version):
        return run_query(version, request.args.get("q"), False, "query")

    @route("/queryAll")
    def query_all(version):
        return run_query(version, request.args.get("q"), True, "queryAll")

    @route("/query/<locator>")
    def query_next(version, locator):
        return query_more(version, locator, "query")

    @route("/queryAll/<locator>")
    def query_all_next(version, locator):
        return query_more(version, locator, "queryAll")

    # ------------------------------------------------------------------ collections
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

    # ------------------------------------------------------------------ composite
    def resolve_ref(results: dict, ref: str, path: str):
        if ref not in results:
            raise SfError("INVALID_FIELD", f"Invalid reference specified. No value for {ref} found")
        value = results[ref]
        for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
            try:
                value = value[int(index)] if index else value[name]
            except (KeyError, IndexError, TypeError):
                raise SfError("INVALID_FIELD", f"Invalid reference specified. No value for {ref}{path} found") from None
        return value

    def substitute(value, results):
        if isinstance(value, str):
            whole = _REF_RE.fullmatch(value)
            if whole:
                return resolve_ref(results, whole.group(1), whole.group(2))
            return _REF_RE.sub(lambda m: str(resolve_ref(results, m.group(1), m.group(2))), value)
        if isinstance(value, list):
            return [substitute(v, results) for v in value]
        if isinstance(value, dict):
            return {k: substitute(v, results) for k, v in value.items()}
        return value

    def run_subrequest(app, sub, results, auth_header, user):
        method = str(sub.get("method", "")).upper()
        if method not in ("GET", "POST", "PATCH", "DELETE", "PUT"):
            raise SfError("INVALID_FIELD", f"Unsupported method in subrequest: {sub.get('method')!r}")
        url = substitute(sub.get("url", ""), results)
        if not isinstance(url, str) or not url.startswith("/services/data/"):
            raise SfError("INVALID_FIELD", "The url of a subrequest must start with /services/data/")
        if re.match(r"^/services/data/v[^/]+/composite/?(\?|$)", url):
            raise SfError("INVALID_FIELD", "Composite subrequests cannot be nested")
        body = substitute(sub.get("body"), results) if "body" in sub else None
        headers = {"Authorization": auth_header, **{str(k): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}}
        kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
        with app.test_request_context(url, method=method, headers=headers, **kwargs):
            g.sf_user = user
            try:
                resp = app.make_response(app.dispatch_request())
            except SfError as err:
                resp = error_response(err)
            except HTTPException as exc:
                resp = json_response([{"errorCode": "NOT_FOUND" if exc.code == 404 else "METHOD_NOT_ALLOWED",
                                       "message": exc.description or exc.name}], exc.code or 400)
        data = resp.get_data()
        return resp.status_code, json.loads(data) if data else None, \
            {k: v for k, v in resp.headers.items() if k in ("Location",)}

    @route("/composite", methods=("POST",))
    def composite(version):
        data = body_json()
        subs = data.get("compositeRequest")
        if not isinstance(subs, list) or not subs:
            raise SfError("JSON_PARSER_ERROR", "compositeRequest must be a non-empty JSON array")
        if len(subs) > MAX_COMPOSITE:
            raise SfError("LIMIT_EXCEEDED", f"Exceeded max size limit of {MAX_COMPOSITE} subrequests")
        for sub in subs:
            if not isinstance(sub, dict) or not sub.get("referenceId") or not sub.get("url"):
                raise SfError("JSON_PARSER_ERROR", "each subrequest needs method, url and referenceId")
        all_or_none = data.get("allOrNone") is True
        app = current_app._get_current_object()
        auth_header, user = request.headers.get("Authorization", ""), g.sf_user
        results, responses, failed_at = {}, [], None
        lock = org.lock if all_or_none else _NullLock()
        with lock:
            sp = org.begin() if all_or_none else None
            try:
                for i, sub in enumerate(subs):
                    try:
                        status, body, headers = run_subrequest(app, sub, results, auth_header, user)
                    except SfError as err:
                        status, body, headers = err.status, err.single(), {}
                    responses.append({"body": body, "httpHeaders": headers, "httpStatusCode": status,
                                      "referenceId": sub["referenceId"]})
                    if status < 400:
                        results[sub["referenceId"]] = body
                    elif all_or_none:
                        failed_at = i
                        break
            finally:
                if all_or_none:
                    org.end(sp, rollback=failed_at is not None)
        if failed_at is not None:
            responses = [r if i == failed_at else
                         {"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": r["referenceId"]}
                         for i, r in enumerate(responses)]
            responses += [{"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": s["referenceId"]}
                          for s in subs[failed_at + 1:]]
        return json_response({"compositeResponse": responses})

    return bp


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

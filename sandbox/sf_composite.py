"""Salesforce REST: Composite (up to 25 subrequests, `@{ref.path}` references, allOrNone),
each subrequest dispatched through the same app as a real call."""
from __future__ import annotations

import json
import re

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import HTTPException

from .sf_rest import body_json, error_response, json_response, org, router
from .sf_values import SfError

MAX_COMPOSITE = 25
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}]
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")

bp = Blueprint("composite", __name__)
route = router(bp)


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


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

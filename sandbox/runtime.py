"""The sandbox runtime: request handling shared by the Salesforce and Pardot sides (latency,
call counters by route, injected faults with Retry-After, the Pardot 5-concurrent-requests and
daily limits, the Salesforce daily limit), hooked into the app by server.create_app."""
from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter

from flask import Response, g, has_request_context, request

from .pardot import PardotOrg
from .salesforce import SalesforceOrg
from .sf_auth import AuthService
from .sf_values import SfError

PARDOT_MAX_CONCURRENT = 5
APIS = ("salesforce", "pardot", "oauth")
_PATH_APIS = (("/services/oauth2/", "oauth"), ("/services/data", "salesforce"), ("/api/v5/", "pardot"),
              ("/__sandbox__", "control"))
_RULE_VAR = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SF_FAULT_STATUS = {"INVALID_SESSION_ID": 401, "REQUEST_LIMIT_EXCEEDED": 403, "NOT_FOUND": 404,
                   "ENTITY_IS_DELETED": 404, "UNKNOWN_EXCEPTION": 500, "SERVER_UNAVAILABLE": 503,
                   "INSUFFICIENT_ACCESS": 403, "API_DISABLED_FOR_ORG": 403}
PARDOT_FAULT_STATUS = {66: 429, 122: 429, 202: 429, 184: 401, 181: 400, 192: 404, 210: 400, 211: 400, 219: 400}


def classify(path: str) -> str | None:
    for prefix, api in _PATH_APIS:
        if path.startswith(prefix):
            return api
    return None


def route_template(api: str, rule: str | None, path: str) -> str:
    """`/services/data/v<version>/sobjects/<sobject>/<record_id>` -> `/sobjects/{sobject}/{id}`."""
    template = rule or path
    if api == "salesforce":
        template = re.sub(r"^/services/data/v(<version>|[^/]+)", "", template) or "/"

    def var(m):
        name = m.group(1)
        return "{id}" if name == "id" or name.endswith("_id") else "{" + name + "}"
    return _RULE_VAR.sub(var, template).rstrip("/") or "/"


class Runtime:
    """Cross-cutting request handling shared by the Salesforce and Pardot sides."""

    def __init__(self, sf: SalesforceOrg, auth: AuthService, pardot: PardotOrg):
        self.sf, self.auth, self.pardot = sf, auth, pardot
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.latency_ms = {api: 0 for api in APIS}
        self.calls: Counter = Counter()
        self.calls_by_endpoint: Counter = Counter()
        self.faults: list[dict] = []
        self._fault_seq = 0
        self._pardot_in_flight = 0
        sf.fault_hook = self.record_fault

    # ------------------------------------------------------------------ public
    def token_info(self, bearer_token: str | None) -> dict | None:
        return self.auth.token_info(bearer_token)

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.calls_by_endpoint.clear()

    def call_counts(self) -> dict:
        with self._lock:
            return {"total": {api: self.calls.get(api, 0) for api in APIS},
                    "by_endpoint": dict(sorted(self.calls_by_endpoint.items()))}

    def set_latency(self, changes: dict) -> dict:
        for key, value in changes.items():
            api = key[:-3] if key.endswith("_ms") else None
            if api not in APIS:
                raise ValueError(f"unknown latency key {key!r} (use salesforce_ms, pardot_ms, oauth_ms)")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative number of milliseconds")
        with self._lock:
            for key, value in changes.items():
                self.latency_ms[key[:-3]] = value
        return self.get_latency()

    def get_latency(self) -> dict:
        with self._lock:
            return {f"{api}_ms": ms for api, ms in self.latency_ms.items()}

    # ------------------------------------------------------------------ faults
    def add_fault(self, spec: dict) -> dict:
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        api = spec.get("api")
        if api not in APIS:
            raise ValueError(f"api must be one of {', '.join(APIS)}")
        code = spec.get("error_code")
        if code is None or (api == "pardot" and not isinstance(code, int)) or \
                (api != "pardot" and not isinstance(code, str)):
            raise ValueError("error_code is required (a string for salesforce/oauth, an integer for pardot)")
        path = spec.get("path")
        try:
            path_re = re.compile(path) if path else None
        except re.error as exc:
            raise ValueError(f"path is not a valid regex: {exc}") from None
        count, prob = spec.get("count"), spec.get("probability")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ValueError("count must be a positive integer")
        if prob is not None and (not isinstance(prob, (int, float)) or not 0 <= prob <= 1):
            raise ValueError("probability must be between 0 and 1")
        match = spec.get("record_match")
        if match is not None and (api != "salesforce" or not isinstance(match, dict) or not match):
            raise ValueError("record_match must be a non-empty object and needs api=salesforce")
        status = spec.get("status")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        retry_after = spec.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int) or isinstance(retry_after, bool)
                                        or retry_after < 0 or match is not None):
            raise ValueError("retry_after must be a whole number of seconds, for a whole-request fault")
        with self._lock:
            self._fault_seq += 1
            fault = {"id": f"fault-{self._fault_seq}", "api": api,
                     "method": spec.get("method", "").upper() or None, "path": path,
                     "error_code": code, "status": status, "message": spec.get("message"),
                     "count": count, "probability": prob, "record_match": match, "retry_after": retry_after,
                     "hits": 0, "hit_at": []}
            fault["_path_re"] = path_re
            self.faults.append(fault)
        return self._public(fault)

    @staticmethod
    def _public(fault: dict) -> dict:
        return {k: v for k, v in fault.items() if not k.startswith("_")}

    def list_faults(self) -> list[dict]:
        with self._lock:
            return [self._public(f) for f in self.faults]

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, api: str, method: str, path: str, record: dict | None) -> dict | None:
        with self._lock:
            for fault in self.faults:
                if fault["api"] != api or (fault["record_match"] is None) != (record is None):
                    continue
                if fault["method"] and fault["method"] != method:
                    continue
                if fault["_path_re"] is not None and not fault["_path_re"].search(path):
                    continue
                if record is not None and not _record_matches(fault["record_match"], record):
                    continue
                if fault["probability"] is not None and self._rng.random() >= fault["probability"]:
                    continue
                fault["hits"] += 1
                fault["hit_at"].append(time.time())  # when each refusal went out (Retry-After drills)
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self.faults.remove(fault)
                return dict(fault)
        return None

    def record_fault(self, obj: str, record: dict, op: str) -> SfError | None:
        if not self.faults:
            return None
        method, path = (request.method, request.path) if has_request_context() else ("", "")
        fault = self._take_fault("salesforce", method, path, {**record, "_object": obj})
        if fault is None:
            return None
        code = fault["error_code"]
        msg = fault["message"] or _default_fault_message(code, record.get("Id"))
        return SfError(code, msg, [], status=fault["status"] or SF_FAULT_STATUS.get(code, 400))

    def _fault_response(self, api: str, fault: dict) -> Response:
        response = self._fault_body(api, fault)
        if fault.get("retry_after") is not None:
            response.headers["Retry-After"] = str(fault["retry_after"])
        return response

    def _fault_body(self, api: str, fault: dict) -> Response:
        code = fault["error_code"]
        if api == "salesforce":
            msg = fault["message"] or _default_fault_message(code, None)
            return _json([{"message": msg, "errorCode": code}], fault["status"] or SF_FAULT_STATUS.get(code, 400))
        if api == "pardot":
            return _json({"code": code, "message": fault["message"] or f"Injected fault: code {code}"},
                         fault["status"] or PARDOT_FAULT_STATUS.get(code, 500))
        return _json({"error": code, "error_description": fault["message"] or f"Injected fault: {code}"},
                     fault["status"] or 400)

    # ------------------------------------------------------------------ hooks
    def before_request(self):
        api = classify(request.path)
        g.api = api
        if api not in APIS:
            return None
        over_concurrency = False
        if api == "pardot":
            with self._lock:
                if self._pardot_in_flight >= PARDOT_MAX_CONCURRENT:
                    over_concurrency = True
                else:
                    self._pardot_in_flight += 1
                    g.pardot_slot = True
        delay = self.latency_ms.get(api, 0)
        if delay:
            time.sleep(delay / 1000.0)
        rule = request.url_rule.rule if request.url_rule is not None else None
        key = f"{api} {request.method} {route_template(api, rule, request.path)}"
        with self._lock:
            self.calls[api] += 1
            self.calls_by_endpoint[key] += 1
        if self.faults:
            fault = self._take_fault(api, request.method, request.path, None)
            if fault is not None:
                return self._fault_response(api, fault)
        if api == "pardot":
            if over_concurrency:
                return _json({"code": 66, "message": "The limit for concurrent API requests has been reached. "
                              f"At most {PARDOT_MAX_CONCURRENT} requests may be in flight at once."}, 429)
            if not self.pardot.consume_api_call():
                return _json({"code": 122, "message": "Daily API rate limit met."}, 429)
        elif api == "salesforce" and request.path.rstrip("/") != "/services/data":
            allowed, _, _ = self.sf.consume_api_call()
            if not allowed:
                return _json([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                             403)
        return None

    def after_request(self, response: Response) -> Response:
        # Free the Pardot slot before the body goes out: a client that has read its answer
        # may send the next request at once, and must not find its own slot still taken.
        self._release_pardot_slot()
        if g.get("api") == "salesforce":
            used, cap = self.sf.api_usage()
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{cap}"
        return response

    def teardown_request(self, _exc=None) -> None:
        self._release_pardot_slot()

    def _release_pardot_slot(self) -> None:
        if g.pop("pardot_slot", False):
            with self._lock:
                self._pardot_in_flight -= 1


def _record_matches(match: dict, record: dict) -> bool:
    for key, want in match.items():
        if key in ("object", "sobject", "type"):
            have = record.get("_object")
        else:
            have = record.get(key)
        if isinstance(want, str) and isinstance(have, str):
            if want.lower() != have.lower():
                return False
        elif want != have:
            return False
    return True


def _default_fault_message(code: str, rid: str | None) -> str:
    if code == "UNABLE_TO_LOCK_ROW":
        return "unable to obtain exclusive access to this record or 1 records: " + (rid or "")
    if code == "REQUEST_LIMIT_EXCEEDED":
        return "TotalRequests Limit exceeded."
    if code == "INVALID_SESSION_ID":
        return "Session expired or invalid"
    return f"Injected fault: {code}"


def _json(body, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")

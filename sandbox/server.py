"""The sandbox process: one Flask app (Salesforce REST, Pardot v5, control API) behind a runtime
wrapper (latency, call counters, injected faults, API limits), served over TLS by a threaded keep-alive server (wsgi_server.py).
"""
from __future__ import annotations

import json
import os
import random
import re
import secrets
import threading
import time
from collections import Counter

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, g, has_request_context, request

from . import context
from . import control as control_api
from . import sf_api, sf_connector
from .ids import KEY_PREFIXES, IdFactory, _base62, case_safe_suffix
from .pardot import PardotOrg
from . import pardot_api
from .salesforce import SalesforceOrg
from .sf_auth import AuthService
from .sf_values import SfError
from .tls import ensure_ca, server_ssl_context
from .wsgi_server import TLSWSGIServer

API_VERSION = "59.0"
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


# ---------------------------------------------------------------------- identity and app
def _load_identity(data_dir: str) -> dict:
    """Org id, business unit, consumer key and the demo app's key pair persist in the data dir."""
    path = os.path.join(data_dir, "identity.json")
    key_path = os.path.join(data_dir, "connected-app-key.pem")
    if os.path.exists(path) and os.path.exists(key_path):
        with open(path) as fh:
            identity = json.load(fh)
    else:
        def ident(prefix):
            id15 = prefix + "8d" + "0" + _base62(secrets.randbelow(62 ** 9), 9)
            return id15 + case_safe_suffix(id15)
        identity = {"org_id": ident(KEY_PREFIXES["Organization"]),
                    "business_unit_id": ident(KEY_PREFIXES["BusinessUnit"]),
                    "consumer_key": "3MVG9sandbox" + secrets.token_urlsafe(36).replace("-", "A").replace("_", "b")}
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
        with open(path, "w") as fh:
            json.dump(identity, fh, indent=2)
    identity["private_key_path"] = key_path
    return identity


def create_app(runtime: Runtime, info: dict) -> Flask:
    app = Flask("sandbox")
    app.json.sort_keys = False
    context.install(app, runtime, info)
    app.before_request(runtime.before_request)
    app.after_request(runtime.after_request)
    app.teardown_request(runtime.teardown_request)
    app.register_blueprint(sf_api.bp)
    app.register_blueprint(pardot_api.bp)
    app.register_blueprint(control_api.bp)
    sf_connector.install(app, runtime)

    @app.post("/services/oauth2/token")
    def oauth_token():
        from .sf_auth import GrantError
        try:
            body = runtime.auth.exchange(request.form.get("grant_type"), request.form.get("assertion"))
        except GrantError as err:
            return _json({"error": err.error, "error_description": err.description}, 400)
        return _json(body, 200)

    @app.errorhandler(404)
    def _not_found(exc):
        api = classify(request.path)
        if api == "salesforce":
            return _json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
        if api == "pardot":
            return _json({"code": 1, "message": "Not found: no such endpoint " + request.path}, 404)
        return _json({"error": "not_found", "message": f"no such endpoint: {request.path}"}, 404)

    @app.errorhandler(500)
    def _internal_error(exc):
        api = classify(request.path)
        if api == "salesforce":
            return _json([{"errorCode": "UNKNOWN_EXCEPTION",
                           "message": "An unexpected error occurred in the sandbox (see its log)."}], 500)
        if api == "pardot":
            return _json({"code": 1, "message": "An unexpected error occurred in the sandbox (see its log)."}, 500)
        return _json({"error": "internal_error", "message": "unexpected sandbox error (see its log)"}, 500)

    @app.errorhandler(405)
    def _method_not_allowed(exc):
        api = classify(request.path)
        if api == "salesforce":
            return _json([{"errorCode": "METHOD_NOT_ALLOWED",
                           "message": f"HTTP Method '{request.method}' not allowed. Allowed are "
                                      f"{', '.join(exc.valid_methods or [])}"}], 405)
        if api == "pardot":
            return _json({"code": 1, "message": f"Method {request.method} not allowed"}, 405)
        return _json({"error": "method_not_allowed", "message": f"{request.method} not allowed here"}, 405)

    return app


class Sandbox:
    """A running sandbox (server thread in this process). Use as a context manager or call stop()."""

    def __init__(self, data_dir: str, host: str = "127.0.0.1", port: int = 0, seed: int | None = None):
        os.makedirs(data_dir, exist_ok=True)
        self.data_dir = data_dir
        ca_path, _ = ensure_ca(data_dir)
        identity = _load_identity(data_dir)
        ids = IdFactory(start=int(time.time() * 1000) % (62 ** 7) * 1000)
        self.sf = SalesforceOrg(identity["org_id"], ids)
        self.pardot = PardotOrg(identity["business_unit_id"])
        self._server = None
        placeholder = "https://127.0.0.1:0"
        self.auth = AuthService(self.sf, placeholder, placeholder)
        with open(identity["private_key_path"], "rb") as fh:
            private = serialization.load_pem_private_key(fh.read(), password=None)
        self.auth.set_demo_app(identity["consumer_key"], private.public_key())
        self.runtime = Runtime(self.sf, self.auth, self.pardot)
        self.info: dict = {}
        app = create_app(self.runtime, self.info)
        self._server = TLSWSGIServer(host, port, app, server_ssl_context(data_dir))
        bound_port = self._server.server_address[1]
        url_host = f"[{host}]" if ":" in host else host
        base = f"https://{url_host}:{bound_port}"
        self.auth.login_url = self.auth.instance_url = base
        self.info.update({
            "base_url": base, "login_url": base, "instance_url": base, "pardot_base_url": base,
            "control_url": f"{base}/__sandbox__", "api_version": API_VERSION,
            "business_unit_id": identity["business_unit_id"], "org_id": identity["org_id"],
            "ca_path": ca_path, "consumer_key": identity["consumer_key"],
            "username": self.sf.integration_username, "private_key_path": identity["private_key_path"],
            "person_account_record_type_id": self.sf.person_account_record_type_id,
        })
        control_api.reset_all(self.runtime)
        if seed is not None:
            from .seed import seed_orgs
            seed_orgs(self.runtime, {"seed": seed})
        with open(os.path.join(data_dir, "sandbox.json"), "w") as fh:
            json.dump(self.info, fh, indent=2)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-https", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.info["base_url"]

    def serve_forever(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(data_dir: str, host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> Sandbox:
    return Sandbox(data_dir, host=host, port=port, seed=seed)

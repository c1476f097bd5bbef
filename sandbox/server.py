"""The sandbox process: one Flask app (Salesforce REST, Pardot v5, control API) behind the
runtime (runtime.py: latency, call counters, injected faults, API limits), served over TLS by a
threaded keep-alive server (wsgi_server.py).
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, request

from . import context, pardot_api, sf_api, sf_connector
from . import control as control_api
from .ids import KEY_PREFIXES, IdFactory, _base62, case_safe_suffix
from .pardot import PardotOrg
from .runtime import Runtime, _json, classify
from .salesforce import SalesforceOrg
from .seed import seed_orgs
from .sf_auth import AuthService, GrantError
from .tls import ensure_ca, server_ssl_context
from .wsgi_server import TLSWSGIServer

API_VERSION = "59.0"


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

"""HTTP clients of the bench itself: the sandbox control API, and Salesforce/Pardot sessions
as a person's own script would open them (used for the 1 % changes and the baseline)."""
from __future__ import annotations

import time
import uuid

import jwt
import requests
from simple_salesforce import Salesforce


def trusting_session(info: dict) -> requests.Session:
    # trust_env=False: REQUESTS_CA_BUNDLE on this machine would override the sandbox CA.
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_path"]
    return session


class Control:
    """The sandbox control API (/__sandbox__): never counted as API calls."""

    def __init__(self, info: dict):
        self.base = info["control_url"].rstrip("/")
        self.session = trusting_session(info)

    def call(self, method: str, path: str, body: dict | None = None):
        resp = self.session.request(method, f"{self.base}/{path.lstrip('/')}", json=body, timeout=600)
        if not resp.ok:
            raise RuntimeError(f"sandbox control {method} {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: dict | None = None):
        return self.call("POST", path, body or {})

    def calls(self) -> dict:
        return self.get("calls")

    def reset_calls(self) -> None:
        self.post("calls/reset")

    def latency(self, salesforce_ms: float, pardot_ms: float) -> None:
        self.post("latency", {"salesforce_ms": salesforce_ms, "pardot_ms": pardot_ms})


def sf_token(info: dict) -> str:
    """The JWT bearer flow as the integration user."""
    with open(info["private_key_path"], "rb") as fh:
        key = fh.read()
    assertion = jwt.encode({"iss": info["consumer_key"], "sub": info["username"], "aud": info["login_url"],
                            "exp": int(time.time()) + 180, "jti": uuid.uuid4().hex}, key, algorithm="RS256")
    resp = trusting_session(info).post(info["login_url"].rstrip("/") + "/services/oauth2/token", timeout=30,
                                       data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                             "assertion": assertion})
    if resp.status_code != 200:
        raise RuntimeError(f"the sandbox refused the JWT bearer flow: {resp.status_code} {resp.text[:200]}")
    return resp.json()["access_token"]


def sf_client(info: dict, token: str) -> Salesforce:
    return Salesforce(instance_url=info["instance_url"], session_id=token, session=trusting_session(info),
                      version=info["api_version"])


def pardot_session(info: dict, token: str) -> requests.Session:
    session = trusting_session(info)
    session.headers.update({"Authorization": "Bearer " + token,
                            "Pardot-Business-Unit-Id": info["business_unit_id"]})
    return session


def pardot_url(info: dict, path: str) -> str:
    return info["pardot_base_url"].rstrip("/") + "/api/v5/" + path.lstrip("/")

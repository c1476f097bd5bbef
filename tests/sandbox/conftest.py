"""Shared fixtures for the sandbox tests: one HTTPS sandbox per test session.

Fixtures (`sandbox` and `control`, a ControlClient for /__sandbox__, come from tests/conftest.py):
  fresh          (function) resets both orgs and counters, returns the Sandbox
  sf_token       (function) the make_sf_token(sandbox, username=None, ...) callable
  sf_client      (function) simple_salesforce.Salesforce for the integration user (after reset)
  pardot_session (function) requests.Session with CA, bearer and business-unit headers (after reset)
"""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
import requests
from simple_salesforce import Salesforce


class ControlClient:
    """Thin JSON client for the control API; raises with the body on unexpected status."""

    def __init__(self, info: dict):
        self.base = info["control_url"].rstrip("/")
        self.session = trusting_session(info)

    def request(self, method: str, path: str, expect: int | None = None, **kwargs):
        """`expect`: the exact status wanted; None means any 2xx."""
        resp = self.session.request(method, f"{self.base}/{path.lstrip('/')}", timeout=60, **kwargs)
        if (resp.status_code != expect) if expect is not None else not resp.ok:
            raise AssertionError(f"{method} {path}: expected {expect or '2xx'}, got {resp.status_code}: "
                                 f"{resp.text[:500]}")
        if not resp.content:
            return None
        return resp.json()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json if json is not None else {}, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json if json is not None else {}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def trusting_session(info: dict) -> requests.Session:
    """A Session that trusts the sandbox CA. trust_env=False because requests lets REQUESTS_CA_BUNDLE
    (set on this machine) override Session.verify."""
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_path"]
    return session


def make_assertion(info: dict, username: str | None = None, consumer_key: str | None = None,
                   private_key_pem: bytes | str | None = None, audience: str | None = None,
                   exp_in: int = 180) -> str:
    """An RS256 JWT bearer assertion as the connector builds it."""
    if private_key_pem is None:
        with open(info["private_key_path"], "rb") as fh:
            private_key_pem = fh.read()
    claims = {
        "iss": consumer_key or info["consumer_key"],
        "sub": username or info["username"],
        "aud": audience or info["login_url"],
        "exp": int(time.time()) + exp_in,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key_pem, algorithm="RS256")


def make_sf_token(sandbox, username: str | None = None, consumer_key: str | None = None,
                  private_key_pem: bytes | str | None = None) -> str:
    """Perform the JWT bearer flow against the sandbox and return the access token."""
    info = sandbox.info
    assertion = make_assertion(info, username, consumer_key, private_key_pem)
    resp = trusting_session(info).post(
        info["login_url"].rstrip("/") + "/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=30,
    )
    if resp.status_code != 200:
        raise AssertionError(f"token exchange failed: {resp.status_code} {resp.text}")
    return resp.json()["access_token"]


def make_sf_client(sandbox, token: str) -> Salesforce:
    return Salesforce(instance_url=sandbox.info["instance_url"], session_id=token,
                      session=trusting_session(sandbox.info), version=sandbox.info["api_version"])


@pytest.fixture
def fresh(sandbox, control):
    control.post("reset")
    return sandbox


@pytest.fixture
def sf_token():
    return make_sf_token


@pytest.fixture
def sf_client(fresh) -> Salesforce:
    return make_sf_client(fresh, make_sf_token(fresh))


@pytest.fixture
def pardot_session(fresh) -> requests.Session:
    session = trusting_session(fresh.info)
    session.headers["Authorization"] = "Bearer " + make_sf_token(fresh)
    session.headers["Pardot-Business-Unit-Id"] = fresh.info["business_unit_id"]
    return session

"""API fixtures: the real app on the real runtime, tokens per role, and a client that checks
every response it sees against the checked-in OpenAPI document."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from api.openapi import OpenApi
from app import create_app
from sync.models import Connector

SPEC = OpenApi.load()


class ContractViolation(AssertionError):
    pass


def check_response(method: str, path: str, response) -> None:
    """Fail unless the response is documented for this operation and matches its schema."""
    template = SPEC.match(path)
    if template is None or SPEC.operation(template, method) is None:
        if response.status_code in (404, 405):  # unknown routes still answer in the error envelope
            template, method = "/api/v1/connector", "get"
            validator = SPEC.validator("components", "schemas", "Error")
        else:
            raise ContractViolation(f"{method} {path} is not in the OpenAPI document")
    else:
        try:
            validator = SPEC.response_validator(template, method, response.status_code)
        except LookupError as exc:
            raise ContractViolation(str(exc)) from None
    if validator is None:
        return
    if response.mimetype != "application/json":
        raise ContractViolation(f"{method} {path} answered {response.mimetype}, documented application/json")
    errors = sorted(validator.iter_errors(response.get_json()), key=str)
    if errors:
        raise ContractViolation(f"{method} {path} → {response.status_code} breaks the schema: "
                                + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]))


class Api:
    """The Flask test client with a default token; every response is contract-checked."""

    def __init__(self, app, token: str | None = None):
        self.app, self.client, self.token = app, app.test_client(), token
        self.seen = 0

    def as_(self, token: str | None) -> "Api":
        return Api(self.app, token)

    def request(self, method: str, path: str, json_body=None, headers: dict | None = None, check: bool = True,
                **kwargs):
        headers = dict(headers or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        if check:
            check_response(method.lower(), path.split("?")[0], response)
        self.seen += 1
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body, **kw)

    def put(self, path, json_body=None, **kw):
        return self.request("PUT", path, json_body, **kw)

    def patch(self, path, json_body=None, **kw):
        return self.request("PATCH", path, json_body, **kw)


@pytest.fixture
def app(runtime):
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def tokens(service, admin):
    """One API token per role, plus a second admin (R31 needs two)."""
    return {name: service.create_token(admin, name, role)["token"]
            for name, role in (("viewer", "viewer"), ("operator", "operator"), ("admin", "admin"),
                               ("admin2", "admin"))}


@pytest.fixture
def api(app, tokens) -> Api:
    return Api(app, tokens["admin"])


@pytest.fixture
def as_role(api, tokens):
    return lambda role: api.as_(tokens[role])


@pytest.fixture
def connector(api):
    """A v2 connector (created paused, R1) with an error-queue owner."""
    response = api.post("/api/v1/connector", {"error_queue_owner": "#sync-errors"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def mark_checks_passed(runtime) -> None:
    """Pure API tests: record what a cycle would have verified (credentials and the describe)
    through the store, so the checklist passes without a worker run."""
    now = datetime.now(timezone.utc).isoformat()
    describe = {"Lead": {"Email": "email", "FirstName": "string", "LastName": "string", "Company": "string",
                         "Title": "string", "Phone": "phone", "HasOptedOutOfEmail": "boolean",
                         "pi__score__c": "double", "pi__grade__c": "string", "Region__c": "string"},
                "Contact": {"Email": "email", "FirstName": "string", "LastName": "string", "Title": "string",
                            "Phone": "phone", "HasOptedOutOfEmail": "boolean", "pi__score__c": "double",
                            "pi__grade__c": "string", "Region__c": "string"},
                "Account": {"PersonEmail": "email", "FirstName": "string", "LastName": "string",
                            "PersonTitle": "string", "Phone": "phone", "PersonHasOptedOutOfEmail": "boolean",
                            "pi__score__pc": "double", "pi__grade__pc": "string"}}
    with runtime.store.session() as s:
        c = s.scalars(select(Connector)).one()
        c.checks = {"salesforce": {"ok": True, "at": now}, "pardot": {"ok": True, "at": now},
                    "describe": describe}

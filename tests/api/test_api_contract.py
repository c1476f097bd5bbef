"""The checked-in OpenAPI document and the app's routes describe the same API."""
from __future__ import annotations

from api.openapi import openapi_path
from tests.api.conftest import SPEC

UNDOCUMENTED = {"/slack/events", "/static/<path:filename>"}  # not part of the REST API


def test_every_route_is_documented_and_every_documented_operation_exists(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED or rule.rule.startswith("/slack"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((openapi_path(rule.rule), method.lower()))
    documented = {(path, method) for path, ops in SPEC.doc["paths"].items() for method in ops}
    assert routes == documented


def test_every_operation_documents_its_errors_in_the_envelope():
    for path, ops in SPEC.doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
                assert {"401", "429", "default"} <= set(op["responses"]), (method, path)
                if "requestBody" in op:
                    assert {"400", "413", "415"} <= set(op["responses"]), (method, path)

"""Property-based run of schemathesis against the live app: whatever it sends, valid or not,
no 500 and no response outside the OpenAPI document. Bounded examples (per operation, both
generation modes) keep it well under a minute on 2 cores.

Driven through Hypothesis directly: schemathesis' pytest plugin does not run under pytest 9."""
from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.ratelimit import RateLimiter

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES = 25


@pytest.fixture
def live_schema(app, api, connector, runtime):
    # A connector exists, so operations reach the service instead of stopping at 404.
    app.extensions["connector_api"]["ratelimit"] = RateLimiter(runtime.redis, 1_000_000)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(live_schema, tokens, mode):
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    operations = [result.ok() for result in live_schema.get_all_operations()]
    statuses: Counter = Counter()
    assert len(operations) >= 28
    for operation in operations:
        raw = live_schema.raw_schema["paths"][operation.path][operation.method.lower()]
        if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(mode, headers=auth))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call()
            statuses[(operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)

        check()
    # The run reached the service (the token was sent), and nothing was a server error.
    codes = Counter()
    for (_, code), n in statuses.items():
        codes[code] += n
    assert codes[401] < sum(codes.values()) / 2, codes
    assert not [code for code in codes if code >= 500], codes
    if mode is GenerationMode.POSITIVE:
        listings = [op for op in operations if op.method.upper() == "GET" and "{" not in op.path]
        assert all(statuses[(op.label, 200)] for op in listings), statuses
    else:
        assert codes[400] > 0, codes


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "9" * 40, "x" * 5000])
def test_every_path_and_query_parameter_refuses_nul_and_overlong_values(api, connector, live_schema, bad):
    """Issue 9 item 6: NUL (PostgreSQL refuses it in text) or megabyte ids anywhere in a URL are
    a 400/404 in the error envelope, never a 500 — on SQLite and on PostgreSQL (TEST_DATABASE_URL)."""
    from urllib.parse import quote

    from api.ratelimit import RateLimiter

    api.app.extensions["connector_api"]["ratelimit"] = RateLimiter(api.app.extensions["connector"].redis, 1_000_000)
    seen = Counter()
    for path, item in live_schema.raw_schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in item.items():
            if method == "parameters":
                continue
            params = [_resolve(live_schema.raw_schema, p) for p in item.get("parameters", []) + op.get("parameters", [])]
            for param in params:
                url = path
                for other in params:
                    if other["in"] == "path":
                        value = bad if other is param else "1"
                        url = url.replace("{" + other["name"] + "}", quote(value, safe=""))
                if param["in"] == "query":
                    url += f"?{param['name']}={quote(bad, safe='')}"
                elif param["in"] != "path":
                    continue
                body = {} if method in ("post", "put", "patch") else None
                response = api.request(method.upper(), url, body, check=False)
                assert response.status_code in (400, 404, 409, 422), (method, url[:80], response.status_code,
                                                                      response.get_data(as_text=True)[:200])
                assert response.get_json()["error"]["code"], url
                seen[param["in"]] += 1
    assert seen["path"] >= 6 and seen["query"] >= 5, seen


def _resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node

"""The engine through the REST API, the CLI and the shell (issue 10 item 5; R35): `engine` in
POST /api/v1/connector and the connector's JSON (contract-checked against api/openapi.json),
`connector create --engine salesforce`, and `create ... --engine salesforce` in the shell."""
from __future__ import annotations

import io
import json

from bot.shell import run_shell


def test_api_create_with_engine_and_the_connector_json(native, api, tokens):
    created = api.post("/api/v1/connector", {"engine": "salesforce", "error_queue_owner": "#sync-errors"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["engine"] == "salesforce" and body["salesforce_connector"]["version"] == 2
    st = api.as_(tokens["viewer"]).get("/api/v1/connector").get_json()
    block = st["salesforce_connector"]
    assert (block["paused"], block["verified"], block["present"]) == (False, True, True)
    assert st["sync_warnings"] == 0 and st["engine"] == "salesforce"
    version = api.as_(tokens["viewer"]).get("/api/v1/connector/version").get_json()
    assert version["engine"] == "salesforce" and version["salesforce_connector"]["name"] == "Salesforce"


def test_api_builtin_create_carries_the_suggestion(native, api):
    created = api.post("/api/v1/connector", {"error_queue_owner": "#sync-errors"})
    assert created.status_code == 201
    assert created.get_json()["engine"] == "builtin" and "engine salesforce" in created.get_json()["notice"]


def test_api_refusals_in_plain_words(native, api, tokens):
    native.set(version=1)
    api.post("/api/v1/connector", {"engine": "salesforce"})
    refused = api.post("/api/v1/connector/pause", {"reason": "x"})
    assert refused.status_code == 409
    assert "version 2 only" in refused.get_json()["error"]["message"]
    assert api.as_(tokens["operator"]).post("/api/v1/connector/pause", {}).status_code == 403
    bad = api.post("/api/v1/connector", {"engine": "hubspot"})
    assert bad.status_code == 400


def test_cli_create_with_engine(native, app):
    result = app.test_cli_runner().invoke(args=["connector", "create", "--engine", "salesforce",
                                                "--error-queue-owner", "#sync-errors"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"] == "salesforce"


def test_shell_create_with_engine(native, runtime):
    out = io.StringIO()
    assert run_shell(runtime, ["--first-cycle-wait", "0"], stdin=io.StringIO(
        "create owner #sync-errors --engine salesforce\nversion\nexit\n"), stdout=out) == 0
    text = out.getvalue()
    assert "(engine salesforce)" in text and "Salesforce's connector Salesforce v2: running, verified" in text


def test_shell_status_describes_the_health_check(native, runtime):
    native.create()
    native.cycle()
    out = io.StringIO()
    assert run_shell(runtime, ["--as", "admin@sandbox.example"], stdin=io.StringIO("status\nexit\n"),
                     stdout=out) == 0
    assert "health check: 0 changed prospects read, 0 out of sync" in out.getvalue()

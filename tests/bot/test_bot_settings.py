"""Messages a new user hit (issue 9 item 14): refusals name the command typed, unknown ids are
"not found", the checklist's settings can be set from the shell and Slack with the rules of
PATCH /api/v1/settings, and counts read right ("1 error")."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from app import create_app
from bot import render
from bot.dispatch import Dispatcher
from bot.shell import run_shell
from sync.errors import Invalid
from sync.models import AuditEntry
from tests.bot.test_bot_shell import seed_roles

INTERNAL_NAMES = ("retry_errors", "create_connector", "request_reactivation", "update_settings", "get_settings",
                  "dismiss_error", "sync_prospect", "approve_reactivation")


def shell(runtime, as_email: str, *lines: str) -> str:
    out = io.StringIO()
    assert run_shell(runtime, ["--as", as_email], stdin=io.StringIO("".join(f"{x}\n" for x in lines)),
                     stdout=out) == 0
    return out.getvalue()


@pytest.fixture
def connector(runtime, service, admin):
    service.create_connector(admin)
    seed_roles(runtime, service.connector_id())
    return service.connector_id()


@pytest.fixture
def api(runtime, service, admin):
    client = create_app(runtime=runtime).test_client()
    tokens = {role: service.create_token(admin, role, role)["token"] for role in ("viewer", "admin")}

    def call(method: str, path: str, role: str, body=None):
        return client.open(path, method=method, data=None if body is None else json.dumps(body),
                           headers={"Authorization": f"Bearer {tokens[role]}", "Content-Type": "application/json"})
    return call


def _checklist_item(service, admin, key):
    return next(i for i in service.checklist(admin)["items"] if i["key"] == key)


def test_the_checklist_settings_are_set_from_the_shell_and_audited(runtime, service, admin, connector):
    """Before: `settings` was an unknown command; only PATCH /api/v1/settings could set them."""
    assert _checklist_item(service, admin, "ampsea")["result"] == "warn"
    assert _checklist_item(service, admin, "error_queue_owner")["result"] != "pass"
    text = shell(runtime, "admin@sandbox.example", "settings ampsea false", "settings error_queue_owner #sync-errors",
                 "settings")
    assert "Setting `ampsea` is now false." in text
    assert 'Setting `error_queue_owner` is now "#sync-errors".' in text
    assert '  salesforce_api_share: 0.5' in text and "Change one with `settings KEY VALUE` (admin)." in text
    assert _checklist_item(service, admin, "ampsea")["result"] == "pass"
    assert _checklist_item(service, admin, "error_queue_owner")["result"] == "pass"
    with runtime.store.session() as s:
        changes = [(e.channel, e.detail["changes"]) for e in
                   s.scalars(select(AuditEntry).where(AuditEntry.action == "update_settings")).all()]
    assert changes == [("cli", {"ampsea": False}), ("cli", {"error_queue_owner": "#sync-errors"})]


@pytest.mark.parametrize("key, value, body_value", [
    ("salesforce_api_share", "2", 2),
    ("ampsea", "maybe", "maybe"),
    ("error_queue_owner", "sync-errors", "sync-errors"),
    ("notify_fold_seconds", "5", 5),
    ("colour", "blue", "blue"),
])
def test_shell_settings_refuse_what_patch_settings_refuses_with_its_reason(runtime, service, admin, connector, api,
                                                                         key, value, body_value):
    """The API also checks the body against its schema first; both end in the service's rules."""
    before = service.get_settings(admin)
    response = api("PATCH", "/api/v1/settings", "admin", {key: body_value})
    assert response.status_code == 400 and key in response.get_json()["error"]["message"]
    with pytest.raises(Invalid) as refused:
        service.update_settings(admin, {key: body_value})
    text = shell(runtime, "admin@sandbox.example", f"settings {key} {value}")
    assert f"Could not do that: {refused.value.message}\n" in text
    assert service.get_settings(admin) == before


def test_settings_refusals_name_the_settings_command(runtime, connector):
    assert "Refused: 'settings' needs the operator role; you are viewer (your role comes from: Pardot user " \
           "role Sales)." in shell(runtime, "sales@sandbox.example", "settings")
    assert "Refused: 'settings' needs the admin role; you are operator" in \
           shell(runtime, "marketing@sandbox.example", "settings ampsea true")


@pytest.mark.parametrize("line, command, role", [
    ("retry validation", "retry", "operator"),
    ("retry 4", "retry", "operator"),
    ("dismiss 4", "dismiss", "operator"),
    ("resume please", "resume", "operator"),
    ("unpause please", "unpause", "operator"),
    ("sync prospect 1", "sync", "operator"),
    ("create", "create", "admin"),
    ("pause now", "pause", "admin"),
])
def test_refusals_name_the_command_typed_not_the_service_method(runtime, connector, line, command, role):
    """Before: "Refused: 'retry_errors' needs the operator role"."""
    text = shell(runtime, "sales@sandbox.example", line)
    shown = "resume" if command == "unpause" else command  # an alias is told by the command it stands for
    assert f"Refused: '{shown}' needs the {role} role; you are viewer" in text
    assert not any(name in text for name in INTERNAL_NAMES)


def test_api_refusals_keep_their_wording_without_method_names(connector, api):
    for method, path, body in (("POST", "/api/v1/sync-errors/retry", {"category": "validation"}),
                               ("PATCH", "/api/v1/settings", {"ampsea": True}),
                               ("POST", "/api/v1/connector/pause", {"reason": "x"})):
        response = api(method, path, "viewer", body)
        assert response.status_code == 403, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert "needs the" in error["message"] and error["message"].endswith("; you are viewer")
        assert not any(name in json.dumps(error) for name in INTERNAL_NAMES), error


@pytest.mark.parametrize("line, expect", [
    ("error 999999", "Not found: no sync error #999999."),
    ("dismiss 999999", "Not found: no sync error #999999."),
    ("approve 999999", "Not found: no reactivation request #999999."),
    ("job sync-prospect-nope", "Not found: no job sync-prospect-nope."),
])
def test_unknown_ids_are_not_found(runtime, connector, line, expect):
    text = shell(runtime, "admin@sandbox.example", line)
    assert expect in text and "deleted" not in text


def test_a_manual_sync_of_an_unknown_prospect_is_not_found_not_deleted(runtime, connector, run_worker):
    """Before: "failed: deleted (NOT_FOUND): Pardot has no prospect 999999" - nothing was deleted."""
    service = runtime.service()
    dispatcher = Dispatcher(service)
    admin = service.resolve_role("admin@sandbox.example", "cli")
    queued = dispatcher.run(admin, "sync prospect 999999")
    assert queued.ok and queued.job
    run_worker()
    outcome = dispatcher.run(admin, f"job {queued.job['id']}").text
    assert outcome == ":x: Sync with CRM for prospect 999999 failed: not found: Pardot has no prospect 999999"


def test_counts_are_singular_for_one(runtime, service, admin, connector):
    """Before: "1 dismissed sync errors", "(open, 1 attempts)", "1 records to Pardot"."""
    one_error = {"id": 7, "category": "validation", "direction": "pardot_to_salesforce", "object": "Lead",
                 "crm_id": "00Q1", "prospect_id": None, "email": None, "message": "bad", "status": "open",
                 "attempts": 1}
    text, _ = render.errors({"items": [one_error]}, "validation", "open")
    assert text.startswith("1 open validation sync error:\n") and "(open, 1 attempt)" in text
    text, _ = render.errors({"items": [one_error, {**one_error, "id": 8, "attempts": 2}]}, None, "all")
    assert text.startswith("2 sync errors:\n") and "(open, 2 attempts)" in text
    cycle = {"id": 3, "outcome": "ok", "started_at": "t", "duration_seconds": 1.0, "prospects_synced": True,
             "counts": {"salesforce_to_pardot": {"created": 1}, "pardot_to_salesforce": {"updated": 2}}}
    assert "1 record to Pardot, 2 to Salesforce" in render.cycle_line(cycle)
    assert "2 records to Pardot" in render.cycle_line({**cycle, "counts": {"salesforce_to_pardot": {"created": 2}}})
    assert render.error_notification("limit", 1, [], "t")[0] == "1 new limit sync error since t"


def test_help_command_in_the_shell_gives_an_example_and_the_categories(runtime, connector):
    text = shell(runtime, "sales@sandbox.example", "help errors", "help settings")
    assert "`errors [CATEGORY] [open|all]` - " in text and "Example: `errors validation all`" in text
    assert "Categories: validation, duplicate, permission, deleted, transient, limit, auth" in text
    assert "Example: `settings error_queue_owner #sync-errors`" in text



def test_a_long_owner_is_refused_by_the_shell_as_by_patch_settings(runtime, service, admin, connector, api):
    """Issue 12, one source for validation: before, OpenAPI capped error_queue_owner at 255
    characters and the service did not, so the shell and Slack accepted what the API refused."""
    owner = "#" + "a" * 300
    before = service.get_settings(admin)
    response = api("PATCH", "/api/v1/settings", "admin", {"error_queue_owner": owner})
    assert response.status_code == 400 and "error_queue_owner" in response.get_json()["error"]["message"]
    with pytest.raises(Invalid) as refused:
        service.update_settings(admin, {"error_queue_owner": owner})
    assert refused.value.details == {"error_queue_owner": "must be at most 255 characters"}
    text = shell(runtime, "admin@sandbox.example", f"settings error_queue_owner {owner}")
    assert f"Could not do that: {refused.value.message}\n" in text
    assert service.get_settings(admin) == before


def test_a_long_salesforce_field_name_is_refused_by_the_service_as_by_the_api(service, admin, connector, api):
    """Issue 12: OpenAPI caps FieldMapping.lead_field at 80 characters; the service only checked
    it was not blank, so a caller that skips the API's schema (the CLI, a script) stored it."""
    before = service.get_field_mappings(admin)
    mappings = [{"pardot_field": "email", "lead_field": "E" * 81, "contact_field": "Email"}]
    response = api("PUT", "/api/v1/field-mappings", "admin", {"mappings": mappings})
    assert response.status_code == 400 and "lead_field" in response.get_data(as_text=True)
    with pytest.raises(Invalid) as refused:
        service.set_field_mappings(admin, mappings)
    assert refused.value.details == {"mappings[0].lead_field": "must be at most 80 characters"}
    assert service.get_field_mappings(admin) == before

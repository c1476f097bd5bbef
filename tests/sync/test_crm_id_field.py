"""Issue 9 item 3: the admin-named custom prospect field that carries the CRM id in Pardot.

The setting is validated by the service (R32: admin only, refusals audited, R34); the field
is created by a job the worker runs against the sandbox's custom-fields API over HTTPS; the
checklist (R30) reads what the worker last saw, never Pardot itself."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from sync.errors import Conflict, Forbidden, Invalid
from sync.models import AuditEntry
from tests.sandbox.conftest import make_sf_token

FIELD = "Salesforce_CRM_Id__c"


def _pardot(world, method: str, path: str, **kwargs) -> requests.Response:
    """The sandbox's Pardot v5 API as any client sees it (no status assertion)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = world.sandbox.info["ca_path"]
    session.headers.update({"Authorization": "Bearer " + make_sf_token(world.sandbox),
                            "Pardot-Business-Unit-Id": world.sandbox.info["business_unit_id"]})
    return session.request(method, world.sandbox.info["pardot_base_url"] + "/api/v5/" + path, timeout=30, **kwargs)


def _item(service, admin) -> dict:
    return next(i for i in service.checklist(admin)["items"] if i["key"] == "crm_id_field")


@pytest.fixture
def created(world):
    world.create()
    world.cycle()
    return world


def test_setting_is_validated_with_a_clear_message_and_can_be_turned_off(created, service, admin):
    for bad, words in ((" spaces ", "API name"), ("1abc", "API name"), ("a" * 51, "API name"), (7, "API name"),
                       ("salesforceId", "read-only"), ("EMAIL", "standard Pardot prospect field")):
        with pytest.raises(Invalid) as exc:
            service.update_settings(admin, {"crm_id_field": bad})
        assert words in exc.value.message and "crm_id_field" in exc.value.details, bad
    assert service.get_settings(admin)["crm_id_field"] is None
    assert service.update_settings(admin, {"crm_id_field": FIELD})["crm_id_field"] == FIELD
    assert service.get_settings(admin)["crm_id_field"] == FIELD
    assert service.update_settings(admin, {"crm_id_field": None})["crm_id_field"] is None


def test_only_an_admin_names_or_creates_the_field_and_refusals_are_audited(created, service, operator, admin, runtime):
    with pytest.raises(Forbidden):
        service.update_settings(operator, {"crm_id_field": FIELD})
    with pytest.raises(Forbidden):
        service.create_crm_id_field(operator)
    with pytest.raises(Conflict) as exc:  # nothing named yet
        service.create_crm_id_field(admin)
    assert "set crm_id_field" in exc.value.message
    with runtime.store.session() as s:
        rows = {(e.action, e.outcome, e.actor) for e in s.scalars(select(AuditEntry))}
    assert ("update_settings", "refused", operator.who) in rows
    assert ("create_crm_id_field", "refused", operator.who) in rows
    assert ("create_crm_id_field", "failed", admin.who) in rows


def test_the_job_creates_the_field_in_pardot_once_and_the_checklist_follows(created, service, admin, run_worker):
    assert _item(service, admin)["result"] == "pass"  # none named: nothing to check
    service.update_settings(admin, {"crm_id_field": FIELD})
    item = _item(service, admin)
    assert item["result"] == "warn" and "not checked yet" in item["reason"]

    created.cycle()  # the metadata step reads the custom fields: the field is missing
    item = _item(service, admin)
    assert item["result"] == "fail" and f"no custom prospect field {FIELD}" in item["reason"]
    assert not service.checklist(admin)["passed"]

    job = service.create_crm_id_field(admin)
    assert job["kind"] == "create_crm_id_field" and job["state"] == "queued"
    run_worker()
    done = service.get_job(admin, job["id"])
    assert done["state"] == "finished" and done["outcome"]["action"] == "created", done
    listed = _pardot(created, "GET", "objects/custom-fields?fields=id,fieldId,name,type").json()["values"]
    assert [(f["fieldId"], f["type"]) for f in listed] == [(FIELD, "Text")]
    item = _item(service, admin)
    assert item["result"] == "pass" and FIELD in item["reason"]

    # Asked again: Pardot has it, nothing is created twice.
    run_worker_job = service.create_crm_id_field(admin)
    run_worker()
    again = service.get_job(admin, run_worker_job["id"])
    assert again["state"] == "finished" and again["outcome"]["action"] == "exists"
    assert len(_pardot(created, "GET", "objects/custom-fields?fields=id").json()["values"]) == 1


def test_a_field_pardot_refuses_ends_the_job_failed_with_pardots_reason(created, service, admin, run_worker):
    # A name the connector accepts but Pardot already uses for a prospect field is refused by Pardot.
    r = _pardot(created, "POST", "objects/custom-fields?fields=id", json={"name": "x", "fieldId": "Taken_Field"})
    assert r.status_code == 201
    service.update_settings(admin, {"crm_id_field": "taken_field"})  # same name, other case
    job = service.create_crm_id_field(admin)
    run_worker()
    done = service.get_job(admin, job["id"])
    assert done["state"] == "failed" and "already in use" in done["outcome"]["message"], done


def test_the_sandbox_refuses_what_pardot_refuses(created):
    ok = _pardot(created, "POST", "objects/custom-fields?fields=id,fieldId",
                 json={"name": "Region", "fieldId": "Region_Code", "type": "Text"})
    assert ok.status_code == 201 and ok.json()["fieldId"] == "Region_Code"
    assert ok.headers["Location"].endswith(f"/api/v5/objects/custom-fields/{ok.json()['id']}")
    read = _pardot(created, "GET", f"objects/custom-fields/{ok.json()['id']}?fields=name,fieldId")
    assert read.json() == {"name": "Region", "fieldId": "Region_Code"}
    cases = [
        ({"name": "Again", "fieldId": "region_code"}, 400, 180, "already in use"),
        ({"name": "Std", "fieldId": "salesforceId"}, 400, 180, "already in use"),
        ({"name": "Bad", "fieldId": "1st field"}, 400, 180, "must start with a letter"),
        ({"fieldId": "No_Name"}, 400, 153, "name"),
        ({"name": "No id"}, 400, 153, "fieldId"),
        ({"name": "T", "fieldId": "T1", "type": "Colour"}, 400, 180, "type"),
        ({"name": "R", "fieldId": "R1", "id": 5}, 400, 180, "id can't be written"),
        ({"name": "U", "fieldId": "U1", "colour": "red"}, 400, 180, "no field named 'colour'"),
    ]
    for body, status, code, words in cases:
        r = _pardot(created, "POST", "objects/custom-fields", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code) and words in r.json()["message"], (body, r.text)
    r = _pardot(created, "GET", "objects/custom-fields/999?fields=id")
    assert r.status_code == 404 and r.json()["code"] == 192
    r = _pardot(created, "GET", "objects/custom-fields?fields=id&colour=red")
    assert r.status_code == 400 and r.json()["code"] == 5
    r = _pardot(created, "GET", "objects/custom-fields?fields=id,colour")
    assert r.status_code == 400 and r.json()["code"] == 224
    assert _pardot(created, "GET", "objects/custom-fields?fields=id").status_code == 200
    r = requests.get(created.sandbox.info["pardot_base_url"] + "/api/v5/objects/custom-fields",
                     verify=created.sandbox.info["ca_path"], timeout=30)
    assert r.status_code == 401 and r.json()["code"] == 184  # the same auth as every v5 object


def test_the_metadata_step_reads_custom_fields_only_when_needed(created, service, admin, run_worker):
    def reads() -> int:
        return created.calls()["by_endpoint"].get("pardot GET /api/v5/objects/custom-fields", 0)

    created.reset_calls()
    created.cycle()
    assert reads() == 0  # no field named: no call (R29)
    service.update_settings(admin, {"crm_id_field": FIELD})
    created.cycle()
    created.cycle()
    assert reads() == 2  # named but missing: looked for every cycle
    service.create_crm_id_field(admin)
    run_worker()
    created.reset_calls()
    created.cycle()
    created.cycle()
    assert reads() == 0  # known to exist and freshly read: not read again
    assert _item(service, admin)["result"] == "pass"

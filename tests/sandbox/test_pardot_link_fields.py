"""Issue 9 item 3, R10: the prospect's salesforce* link fields are read-only in real Pardot v5
(only Salesforce's own connector sets them). The sandbox refuses every API write to them, on
every write path, with Pardot's error body; a custom field is writable only if the org has it."""
from __future__ import annotations

import time

import pytest

from tests.sandbox.test_pardot_api import api, expect_error

LINK_FIELDS = {"salesforceId": "00Q5g00000AbCdEAAA", "salesforceLeadId": "00Q5g00000AbCdEAAA",
               "salesforceContactId": "0035g00000AbCdEAAA", "salesforceAccountId": "0015g00000AbCdEAAA",
               "salesforceOwnerId": "0055g00000AbCdEAAA", "salesforceLastSync": "2024-05-01T10:00:00+00:00",
               "salesforceUrl": "https://example.my.salesforce.com/00Q5g00000AbCdEAAA"}
CUSTOM = "Salesforce_CRM_Id__c"


@pytest.fixture
def base(fresh) -> str:
    return api(fresh)


def _import(session, base: str, csv_bytes: bytes):
    return session.post(base + "/imports", files={
        "input": (None, '{"operation":"Upsert","object":"Prospect","status":"Ready"}', "application/json"),
        "importFile": ("a.csv", csv_bytes, "text/csv")})


def _wait(session, base: str, import_id: int) -> dict:
    for _ in range(600):  # bounded polling, nothing timed
        status = session.get(f"{base}/imports/{import_id}").json()
        if status["status"] == "Complete":
            return status
        time.sleep(0.05)
    raise AssertionError(f"import {import_id} never completed")


@pytest.mark.parametrize("name", sorted(LINK_FIELDS))
def test_each_link_field_is_refused_on_every_write_path(fresh, base, pardot_session, name):
    value = LINK_FIELDS[name]
    url = base + "/objects/prospects"
    expect_error(pardot_session.post(url, params={"fields": "id"}, json={"email": "new@example.com", name: value}),
                 400, 180, name, "read-only")
    pid = pardot_session.post(url, params={"fields": "id"}, json={"email": "p@example.com"}).json()["id"]
    expect_error(pardot_session.patch(f"{url}/{pid}", json={name: value}), 400, 180, name, "read-only")
    expect_error(pardot_session.post(url + "/do/upsertLatestByEmail",
                                     json={"matchEmail": "p@example.com", "prospect": {name: value},
                                           "fields": ["id"]}), 400, 180, name, "read-only")
    # Import: a column naming a read-only field refuses the file (its fields are invalid).
    expect_error(_import(pardot_session, base, f"email,{name}\np@example.com,{value}\n".encode()),
                 400, 130, name)
    # Nothing was written anywhere.
    read = pardot_session.get(f"{url}/{pid}", params={"fields": name}).json()
    assert read == {name: None}
    assert [p["email"] for p in fresh.pardot.dump("prospects")] == ["p@example.com"]


def test_a_custom_field_is_writable_only_when_the_org_has_it(fresh, base, pardot_session):
    url = base + "/objects/prospects"
    # Unknown: Pardot's body for an unknown property (code 154, as real v5 answers).
    body = expect_error(pardot_session.post(url, params={"fields": "id"},
                                            json={"email": "a@example.com", CUSTOM: "00Q5g00000AbCdEAAA"}),
                        400, 154, CUSTOM)
    assert body == {"code": 154, "message": f"Invalid property in request: {CUSTOM}"}
    expect_error(_import(pardot_session, base, f"email,{CUSTOM}\na@example.com,x\n".encode()), 400, 130, CUSTOM)

    now = int(fresh.pardot.now())
    fresh.pardot.custom_fields[CUSTOM] = {  # a row as the custom-fields API makes it
        "id": 1, "name": "Salesforce CRM Id", "fieldId": CUSTOM, "type": "Text", "isRequired": False,
        "isRecordMultipleResponses": False, "salesforceId": None, "createdAt": now, "updatedAt": now,
        "createdById": None, "updatedById": None}
    made = pardot_session.post(url, params={"fields": f"id,{CUSTOM}"},
                               json={"email": "a@example.com", CUSTOM: "00Q5g00000AbCdEAAA"})
    assert made.status_code == 201 and made.json()[CUSTOM] == "00Q5g00000AbCdEAAA"
    pid = made.json()["id"]
    upd = pardot_session.patch(f"{url}/{pid}", params={"fields": CUSTOM}, json={CUSTOM: "0035g00000AbCdEAAA"})
    assert upd.json() == {CUSTOM: "0035g00000AbCdEAAA"}
    ups = pardot_session.post(url + "/do/upsertLatestByEmail",
                              json={"matchEmail": "a@example.com", "prospect": {CUSTOM: "0015g00000AbCdEAAA"},
                                    "fields": ["id", CUSTOM]})
    assert ups.json() == {"id": pid, CUSTOM: "0015g00000AbCdEAAA"}
    created = _import(pardot_session, base, f"matchId,{CUSTOM}\n{pid},00Q5g00000ZzZzZAAA\n".encode())
    assert created.status_code == 201, created.text
    assert _wait(pardot_session, base, created.json()["id"])["updatedCount"] == 1
    page = pardot_session.get(url, params={"fields": f"id,{CUSTOM},salesforceId"}).json()["values"]
    assert page == [{"id": pid, CUSTOM: "00Q5g00000ZzZzZAAA", "salesforceId": None}]

"""Salesforce REST emulator through simple-salesforce over real HTTPS."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.ids import to18

DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def leads(n: int, prefix: str = "q") -> list[dict]:
    return [{"LastName": f"Last{i:05d}", "Company": "Acme", "Email": f"{prefix}{i}@example.com"} for i in range(n)]


def error_code(exc) -> str:
    content = exc.value.content
    return content[0]["errorCode"]


# ---------------------------------------------------------------------- query
def test_query_pages_with_default_and_requested_batch_size(sf_client, control):
    control.post("records/salesforce/Lead", {"records": leads(4500)})
    first = sf_client.query("SELECT Id, Email FROM Lead ORDER BY LastName")
    assert first["totalSize"] == 4500 and len(first["records"]) == 2000 and not first["done"]
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    everything = sf_client.query_all("SELECT Id, Email FROM Lead ORDER BY LastName")
    emails = [r["Email"] for r in everything["records"]]
    assert emails == [f"q{i}@example.com" for i in range(4500)]
    assert len({r["Id"] for r in everything["records"]}) == 4500

    sf_client.headers["Sforce-Query-Options"] = "batchSize=500"
    page = sf_client.query("SELECT Email FROM Lead")
    assert len(page["records"]) == 500
    # Id not selected: not in the row, but attributes.url still names the record
    assert "Id" not in page["records"][0]
    assert re.match(r"^/services/data/v59.0/sobjects/Lead/00Q\w{15}$", page["records"][0]["attributes"]["url"])
    pages = 1
    while not page["done"]:
        page = sf_client.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        pages += 1
    assert pages == 9
    sf_client.headers["Sforce-Query-Options"] = "batchSize=10"   # below the minimum: 200
    assert len(sf_client.query("SELECT Id FROM Lead")["records"]) == 200


def test_query_filters_order_limit_count_and_datetime_rendering(sf_client, control):
    control.post("records/salesforce/Lead", {"records": [
        {"LastName": "A", "Company": "X", "Email": "a@x.com", "pi__score__c": 10},
        {"LastName": "B", "Company": "Y", "Email": "b@x.com", "pi__score__c": 50},
        {"LastName": "C", "Company": "Z", "Email": None, "pi__score__c": 90},
    ]})
    res = sf_client.query("SELECT LastName, pi__score__c, SystemModstamp FROM Lead "
                          "WHERE pi__score__c >= 50 OR Email = 'A@X.COM' ORDER BY pi__score__c DESC LIMIT 2")
    assert [r["LastName"] for r in res["records"]] == ["C", "B"]
    assert res["totalSize"] == 2 and res["done"] is True
    assert DT_RE.match(res["records"][0]["SystemModstamp"])
    assert sf_client.query("SELECT COUNT() FROM Lead WHERE Email = null")["totalSize"] == 1
    since = sf_client.query("SELECT SystemModstamp FROM Lead ORDER BY SystemModstamp ASC LIMIT 1")
    stamp = since["records"][0]["SystemModstamp"].replace(".000+0000", "Z").replace("+0000", "Z")
    later = sf_client.query(f"SELECT Id FROM Lead WHERE SystemModstamp > {stamp}")
    assert later["totalSize"] == 2   # stamps are strictly increasing across the org


def test_query_all_includes_deleted_rows(sf_client):
    keep = sf_client.Lead.create({"LastName": "Keep", "Company": "C"})["id"]
    gone = sf_client.Lead.create({"LastName": "Gone", "Company": "C"})["id"]
    sf_client.Lead.delete(gone)
    live = sf_client.query("SELECT Id, IsDeleted FROM Lead")["records"]
    assert [r["Id"] for r in live] == [keep]
    both = sf_client.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)["records"]
    assert {r["Id"]: r["IsDeleted"] for r in both} == {keep: False, gone: True}


@pytest.mark.parametrize("soql, code", [
    ("SELECT Id FROM Foo", "INVALID_TYPE"),
    ("SELECT Id, Foo FROM Lead", "INVALID_FIELD"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
    ("SELECT Id, Account.Name FROM Contact", "MALFORMED_QUERY"),
])
def test_query_errors(sf_client, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.query(soql)
    assert error_code(exc) == code


def test_unknown_query_locator_is_refused(sf_client):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.query_more("01gDOESNOTEXIST0-2000")
    assert error_code(exc) == "INVALID_QUERY_LOCATOR"


# ---------------------------------------------------------------------- single records
def test_single_record_crud(sf_client, sandbox):
    res = sf_client.Lead.create({"FirstName": "Ann", "LastName": "Lee", "Company": "Acme",
                                 "Email": "Ann@Example.com", "pi__score__c": 12})
    assert res["success"] is True and res["errors"] == []
    lead_id = res["id"]
    assert lead_id.startswith("00Q") and to18(lead_id[:15]) == lead_id
    rec = sf_client.Lead.get(lead_id)
    assert rec["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{lead_id}"}
    assert rec["Name"] == "Ann Lee" and rec["Status"] == "Open - Not Contacted" and rec["IsDeleted"] is False
    assert rec["OwnerId"] == rec["CreatedById"] and rec["OwnerId"].startswith("005")
    assert rec["pi__score__c"] == 12.0 and DT_RE.match(rec["CreatedDate"])
    partial = sf_client.Lead.get(lead_id[:15], params={"fields": "Id,Email"})   # 15-char ids work too
    assert list(partial) == ["attributes", "Id", "Email"]

    assert sf_client.Lead.update(lead_id, {"Title": "CTO", "HasOptedOutOfEmail": True}) == 204
    after = sf_client.Lead.get(lead_id)
    assert after["Title"] == "CTO" and after["HasOptedOutOfEmail"] is True
    assert after["SystemModstamp"] > rec["SystemModstamp"]

    assert sf_client.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf_client.Lead.get(lead_id)
    assert error_code(exc) == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf_client.Lead.update(lead_id, {"Title": "x"})
    assert error_code(exc) == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf_client.Lead.get("00Q000000000000AAA")
    assert error_code(exc) == "NOT_FOUND"


@pytest.mark.parametrize("values, code, field", [
    ({"LastName": "X", "Company": "C", "Colour__c": "red"}, "INVALID_FIELD", "Colour__c"),
    ({"LastName": "X", "Company": "C", "IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", "IsConverted"),
    ({"LastName": "X", "Company": "C", "SystemModstamp": "2024-01-01T00:00:00Z"},
     "INVALID_FIELD_FOR_INSERT_UPDATE", "SystemModstamp"),
    ({"Company": "C"}, "REQUIRED_FIELD_MISSING", "LastName"),
    ({"LastName": "X", "Company": "C", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", "Email"),
    ({"LastName": "X", "Company": "C", "pi__score__c": "lots"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "pi__score__c"),
    ({"LastName": "X", "Company": "C", "Title": {"nested": 1}}, "JSON_PARSER_ERROR", "Title"),
    ({"LastName": "X", "Company": "C", "OwnerId": "nope"}, "MALFORMED_ID", "OwnerId"),
    ({"LastName": "X", "Company": "C", "LastName2": 1}, "INVALID_FIELD", "LastName2"),
])
def test_single_record_validation_errors(sf_client, values, code, field):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Lead.create(values)
    body = exc.value.content[0]
    assert body["errorCode"] == code
    assert field in body.get("fields", []) or field in body["message"]


def test_upsert_by_external_id(sf_client):
    assert sf_client.Contact.upsert("External_Id__c/EXT-1", {"LastName": "Upsert", "Email": "u@x.com"}) == 201
    assert sf_client.Contact.upsert("External_Id__c/EXT-1", {"Title": "Boss"}) == 200
    rows = sf_client.query("SELECT External_Id__c, LastName, Title FROM Contact")["records"]
    assert [(r["External_Id__c"], r["LastName"], r["Title"]) for r in rows] == [("EXT-1", "Upsert", "Boss")]
    raw = sf_client.restful("sobjects/Contact/External_Id__c/EXT-2", method="PATCH", json={"LastName": "Two"})
    assert raw["created"] is True and raw["success"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf_client.Contact.upsert("Email/x@y.com", {"LastName": "N"})


def test_upsert_with_several_matches_answers_300(sf_client, control):
    control.post("records/salesforce/Lead", {"records": [
        {"LastName": "A", "Company": "C", "External_Id__c": "DUP"},
        {"LastName": "B", "Company": "C", "External_Id__c": "DUP"}]})
    with pytest.raises(SalesforceMoreThanOneRecord) as exc:
        sf_client.Lead.upsert("External_Id__c/DUP", {"Title": "x"})
    assert exc.value.status == 300 and len(exc.value.content) == 2


def test_person_and_business_accounts(sf_client, sandbox):
    rt = sandbox.info["person_account_record_type_id"]
    pa = sf_client.Account.create({"RecordTypeId": rt, "FirstName": "Pat", "LastName": "Person",
                                   "PersonEmail": "pat@example.com"})["id"]
    rec = sf_client.Account.get(pa)
    assert rec["IsPersonAccount"] is True and rec["Name"] == "Pat Person" and rec["PersonEmail"] == "pat@example.com"
    biz = sf_client.Account.create({"Name": "Acme Inc"})["id"]
    assert sf_client.Account.get(biz)["IsPersonAccount"] is False
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Account.create({"Name": "Biz", "PersonEmail": "x@example.com"})
    assert error_code(exc) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Account.create({"RecordTypeId": rt, "FirstName": "No"})
    assert error_code(exc) == "REQUIRED_FIELD_MISSING"
    contact = sf_client.Contact.create({"LastName": "C", "AccountId": biz})["id"]
    assert sf_client.Contact.get(contact)["AccountId"] == biz
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Contact.create({"LastName": "C", "AccountId": "001000000000000AAA"})
    assert error_code(exc) == "INVALID_CROSS_REFERENCE_KEY"


# ---------------------------------------------------------------------- collections
def test_collection_create_with_a_bad_record_among_good_ones(sf_client):
    records = [{"attributes": {"type": "Lead"}, "LastName": "Good1", "Company": "C"},
               {"attributes": {"type": "Lead"}, "LastName": "Bad", "Company": "C", "Email": "broken@"},
               {"attributes": {"type": "Contact"}, "LastName": "Good2"}]
    res = sf_client.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in res] == [True, False, True]
    assert res[0]["id"].startswith("00Q") and res[2]["id"].startswith("003")
    assert res[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS" and "id" not in res[1]
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 1

    res = sf_client.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in res] == [False, False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 1
    assert sf_client.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


def test_collection_update_upsert_retrieve_delete(sf_client):
    missing = to18("00Q8d0000000001")
    created = sf_client.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Lead"}, "LastName": f"L{i}", "Company": "C"} for i in range(3)]})
    ids = [r["id"] for r in created]
    updated = sf_client.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "id": ids[0], "Title": "T0"},
        {"attributes": {"type": "Lead"}, "id": missing, "Title": "T?"},
        {"attributes": {"type": "Lead"}, "id": ids[2], "LastName": ""}]})
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["success"] is False and updated[1]["id"] == missing
    assert updated[1]["errors"][0]["statusCode"] == "NOT_FOUND"
    assert updated[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"

    upserted = sf_client.restful("composite/sobjects/Lead/External_Id__c", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "External_Id__c": "E1", "LastName": "U1", "Company": "C"},
        {"attributes": {"type": "Lead"}, "External_Id__c": "E1", "Title": "again"}]})
    assert [r["created"] for r in upserted] == [True, False] and upserted[0]["id"] == upserted[1]["id"]

    fetched = sf_client.restful("composite/sobjects/Lead", method="GET",
                                params={"ids": f"{ids[0]},{missing}", "fields": "Id,Title"})
    assert fetched[0]["Title"] == "T0" and fetched[1] is None
    posted = sf_client.restful("composite/sobjects/Lead", method="POST", json={"ids": [ids[1]], "fields": ["LastName"]})
    assert posted[0]["LastName"] == "L1"

    deleted = sf_client.restful("composite/sobjects", method="DELETE",
                                params={"ids": f"{ids[0]},{ids[0]}", "allOrNone": "false"})
    assert deleted[0] == {"id": ids[0], "success": True, "errors": []}
    assert deleted[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    rolled = sf_client.restful("composite/sobjects", method="DELETE",
                               params={"ids": f"{ids[1]},{ids[0]}", "allOrNone": "true"})
    assert [r["success"] for r in rolled] == [False, False]
    assert sf_client.Lead.get(ids[1])["IsDeleted"] is False


def test_collections_refuse_more_than_200_records(sf_client):
    records = [{"attributes": {"type": "Lead"}, "LastName": "x", "Company": "c"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.restful("composite/sobjects", method="POST", json={"records": records})
    assert error_code(exc) == "EXCEEDED_ID_LIMIT"


def test_validation_and_duplicate_rules(sf_client, control):
    control.patch("salesforce/settings", {
        "validation_rules": [{"object": "Lead", "field": "LastName", "op": "equals", "value": "Invalid",
                              "message": "Last name may not be Invalid"}],
        "duplicate_rules": [{"object": "Lead", "fields": ["Email"]}]})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Lead.create({"LastName": "Invalid", "Company": "C"})
    assert exc.value.content[0] == {"message": "Last name may not be Invalid",
                                    "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["LastName"]}
    res = sf_client.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "C", "Email": "dup@example.com"},
        {"attributes": {"type": "Lead"}, "LastName": "B", "Company": "C", "Email": "DUP@example.com"},
        {"attributes": {"type": "Lead"}, "LastName": "C", "Company": "C", "Email": "other@example.com"}]})
    assert [r["success"] for r in res] == [True, False, True]
    assert res[1]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    # updating a record to its own email is not a duplicate of itself
    assert sf_client.Lead.update(res[0]["id"], {"Email": "dup@example.com"}) == 204
    bad = control.request("PATCH", "salesforce/settings", expect=400,
                          json={"validation_rules": [{"object": "Lead", "field": "Nope", "op": "blank"}]})
    assert "Nope" in bad["message"]


# ---------------------------------------------------------------------- describe, limits, replication
def test_describe_and_describe_global(sf_client):
    desc = sf_client.Lead.describe()
    fields = {f["name"]: f for f in desc["fields"]}
    assert desc["name"] == "Lead" and desc["keyPrefix"] == "00Q"
    assert fields["Email"]["type"] == "email" and fields["Email"]["updateable"] is True
    assert fields["External_Id__c"]["externalId"] is True and fields["External_Id__c"]["custom"] is True
    assert fields["SystemModstamp"]["createable"] is False and fields["LastName"]["nillable"] is False
    assert "Open - Not Contacted" in [p["value"] for p in fields["Status"]["picklistValues"]]
    assert fields["pi__score__c"]["type"] == "double"
    names = {s["name"] for s in sf_client.describe()["sobjects"]}
    assert {"Lead", "Contact", "Account", "User", "Campaign", "Opportunity"} <= names
    with pytest.raises(SalesforceResourceNotFound):
        sf_client.restful("sobjects/Nope/describe")


def test_limits_and_limit_info_header(sf_client, control):
    control.patch("salesforce/settings", {"daily_api_max": 1000, "api_used": 10})
    limits = sf_client.limits()
    assert limits["DailyApiRequests"] == {"Max": 1000, "Remaining": 989}
    assert sf_client.api_usage["api-usage"].used == 11 and sf_client.api_usage["api-usage"].total == 1000


def test_request_limit_exceeded_and_oauth_not_counted(sf_client, control, sandbox, sf_token):
    control.patch("salesforce/settings", {"daily_api_max": 3, "api_used": 0})
    for _ in range(3):
        sf_client.query("SELECT COUNT() FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf_client.query("SELECT COUNT() FROM Lead")
    assert exc.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    sf_token(sandbox)   # token exchange still works and does not count
    assert control.get("salesforce/settings")["api_used"] == 3


def test_updated_and_deleted(sf_client, control):
    now = dt.datetime.now(dt.timezone.utc)
    two_min_ago = (now - dt.timedelta(minutes=2)).isoformat()
    old = (now - dt.timedelta(minutes=20)).isoformat()
    rows = control.post("records/salesforce/Lead", {"records": [
        {"LastName": "Recent", "Company": "C", "SystemModstamp": two_min_ago},
        {"LastName": "Old", "Company": "C", "SystemModstamp": old},
        {"LastName": "Binned", "Company": "C", "SystemModstamp": two_min_ago, "IsDeleted": True}]})["records"]
    res = sf_client.Lead.updated(now - dt.timedelta(minutes=10), now)
    assert res["ids"] == [rows[0]["Id"]]
    assert res["latestDateCovered"] == now.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:00.000+0000")
    gone = sf_client.Lead.deleted(now - dt.timedelta(minutes=10), now)
    assert [d["id"] for d in gone["deletedRecords"]] == [rows[2]["Id"]]
    assert DT_RE.match(gone["deletedRecords"][0]["deletedDate"]) and DT_RE.match(gone["earliestDateAvailable"])
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Lead.updated(now, now - dt.timedelta(hours=1))
    assert error_code(exc) == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Lead.deleted(now - dt.timedelta(days=16), now)
    assert error_code(exc) == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.restful("sobjects/Lead/updated/", params={"start": "yesterday", "end": "today"})
    assert error_code(exc) == "INVALID_REPLICATION_DATE"


# ---------------------------------------------------------------------- composite
def test_composite_reads_and_writes_in_one_api_call(sf_client, control):
    sf_client.Lead.create({"LastName": "Existing", "Company": "C"})
    control.post("calls/reset")
    used_before = control.get("salesforce/settings")["api_used"]
    res = sf_client.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": [
        {"method": "GET", "url": "/services/data/v59.0/queryAll/?q=SELECT+Id,LastName+FROM+Lead", "referenceId": "leads"},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acc",
         "body": {"Name": "Composite Inc"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "con",
         "body": {"LastName": "Ref", "AccountId": "@{acc.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{con.id}?fields=AccountId",
         "referenceId": "check"},
        {"method": "PATCH", "url": "/services/data/v59.0/sobjects/Lead/@{leads.records[0].Id}", "referenceId": "upd",
         "body": {"Title": "Via composite"}},
        {"method": "GET", "url": "/services/data/v59.0/query/?q=SELECT+Id+FROM+Nope", "referenceId": "bad"},
    ]})["compositeResponse"]
    by_ref = {r["referenceId"]: r for r in res}
    assert by_ref["leads"]["httpStatusCode"] == 200 and by_ref["leads"]["body"]["totalSize"] == 1
    assert by_ref["acc"]["httpStatusCode"] == 201
    assert by_ref["check"]["body"]["AccountId"] == by_ref["acc"]["body"]["id"]
    assert by_ref["upd"]["httpStatusCode"] == 204 and by_ref["upd"]["body"] is None
    assert by_ref["bad"]["httpStatusCode"] == 400 and by_ref["bad"]["body"][0]["errorCode"] == "INVALID_TYPE"
    calls = control.get("calls")
    assert calls["total"]["salesforce"] == 1
    assert calls["by_endpoint"] == {"salesforce POST /composite": 1}
    assert control.get("salesforce/settings")["api_used"] == used_before + 1


def test_composite_all_or_none_rolls_back(sf_client):
    res = sf_client.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Lead", "referenceId": "ok",
         "body": {"LastName": "Rolled", "Company": "C"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Lead", "referenceId": "bad",
         "body": {"Company": "C"}},
        {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "after"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in res] == [400, 400, 400]
    assert res[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert res[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


def test_composite_refuses_more_than_25_subrequests(sf_client):
    subs = [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.restful("composite", method="POST", json={"compositeRequest": subs})


def test_versions_and_resources(sf_client):
    versions = sf_client.session.get(sf_client.base_url.split("/services/")[0] + "/services/data/").json()
    assert {"label": "v59.0", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert sf_client.restful("")["query"] == "/services/data/v59.0/query"

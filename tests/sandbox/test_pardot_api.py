"""Pardot v5 over real HTTPS (requests, sandbox CA) against the running sandbox."""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

DAY = 86_400


def api(sandbox) -> str:
    return sandbox.info["pardot_base_url"].rstrip("/") + "/api/v5"


def expect_error(resp: requests.Response, status: int, code: int, *words: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code, body
    for word in words:
        assert word in body["message"], body
    return body


def iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


@pytest.fixture
def base(fresh) -> str:
    return api(fresh)


@pytest.fixture
def seeded(fresh, control):
    """2,500 prospects with spread timestamps, 10% in the recycle bin; returns the dump."""
    rnd = random.Random(3)
    base = int(time.time()) - 40 * DAY
    records = []
    for i in range(2500):
        created = base + rnd.randrange(0, 30 * DAY)
        records.append({"email": f"p{i}@example.com", "firstName": f"F{i}",
                        "createdAt": iso(created),
                        "updatedAt": iso(created + rnd.randrange(0, 5 * DAY)),
                        "isDeleted": i % 10 == 0})
    control.post("records/pardot/prospects", {"records": records}, expect=201)
    return control.get("records/pardot/prospects")["records"]


def read_all(session, url, params) -> tuple[list[dict], int]:
    values, pages = [], 0
    resp = session.get(url, params=params)
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages += 1
        values += body["values"]
        if body["nextPageToken"] is None:
            assert body["nextPageUrl"] is None
            return values, pages
        resp = session.get(body["nextPageUrl"])


def test_auth_and_business_unit_headers(fresh, pardot_session):
    url = api(fresh) + "/objects/prospects?fields=id"
    bu = fresh.info["business_unit_id"]
    ca = fresh.info["ca_path"]
    expect_error(requests.get(url, verify=ca, headers={"Pardot-Business-Unit-Id": bu}),
                 401, 184, "Inactive token")
    expect_error(requests.get(url, verify=ca, headers={"Authorization": "Bearer 00Dnope!x",
                                                       "Pardot-Business-Unit-Id": bu}),
                 401, 184)
    token = pardot_session.headers["Authorization"]
    expect_error(requests.get(url, verify=ca, headers={"Authorization": token}),
                 400, 181, "Pardot-Business-Unit-Id")
    expect_error(requests.get(url, verify=ca, headers={"Authorization": token,
                                                       "Pardot-Business-Unit-Id": "nope"}),
                 400, 182)
    expect_error(requests.get(url, verify=ca, headers={"Authorization": token,
                                                       "Pardot-Business-Unit-Id":
                                                           "0Uv000000000000AAA"}),
                 400, 201)
    assert pardot_session.get(url).status_code == 200


@pytest.mark.parametrize("params,predicate,key", [
    ({}, lambda r, b: True, "id"),
    ({"orderBy": "id desc"}, lambda r, b: True, "-id"),
    ({"orderBy": "createdAt"}, lambda r, b: True, "createdAt"),
    ({"orderBy": "updatedAt desc"}, lambda r, b: True, "-updatedAt"),
    ({"orderBy": "updatedAt", "updatedAtAfterOrEqualTo": "B"},
     lambda r, b: r["updatedAt"] >= b, "updatedAt"),
    ({"orderBy": "updatedAt", "updatedAtAfter": "B"}, lambda r, b: r["updatedAt"] > b, "updatedAt"),
    ({"orderBy": "updatedAt", "updatedAtBefore": "B"}, lambda r, b: r["updatedAt"] < b,
     "updatedAt"),
    ({"updatedAtBeforeOrEqualTo": "B"}, lambda r, b: r["updatedAt"] <= b, "id"),
    ({"orderBy": "createdAt desc", "createdAtAfter": "B"}, lambda r, b: r["createdAt"] > b,
     "-createdAt"),
    ({"createdAtAfterOrEqualTo": "B"}, lambda r, b: r["createdAt"] >= b, "id"),
    ({"createdAtBefore": "B"}, lambda r, b: r["createdAt"] < b, "id"),
    ({"createdAtBeforeOrEqualTo": "B"}, lambda r, b: r["createdAt"] <= b, "id"),
    ({"idGreaterThan": "700"}, lambda r, b: r["id"] > 700, "id"),
    ({"idGreaterThanOrEqualTo": "700", "idLessThan": "1900"},
     lambda r, b: 700 <= r["id"] < 1900, "id"),
    ({"idLessThanOrEqualTo": "1900", "orderBy": "updatedAt"}, lambda r, b: r["id"] <= 1900,
     "updatedAt"),
    ({"deleted": "true"}, lambda r, b: True, "id"),
    ({"deleted": "all", "orderBy": "id desc"}, lambda r, b: True, "-id"),
])
def test_query_paging_filters_and_order(seeded, base, pardot_session, params, predicate, key):
    boundary = sorted(r["updatedAt" if "updatedAt" in str(params) else "createdAt"]
                      for r in seeded)[1250]
    params = {k: (boundary if v == "B" else v) for k, v in params.items()}
    deleted = params.get("deleted", "false")
    want = [r for r in seeded if predicate(r, boundary)
            and (deleted == "all" or r["isDeleted"] == (deleted == "true"))]
    field = key.lstrip("-")
    want.sort(key=lambda r: (r[field], r["id"]), reverse=key.startswith("-"))
    got, pages = read_all(pardot_session, base + "/objects/prospects",
                          {"fields": "id,email,createdAt,updatedAt,isDeleted", "limit": "1000",
                           **params})
    assert [r["id"] for r in got] == [r["id"] for r in want]
    assert pages == max(1, -(-len(want) // 1000))
    assert list(got[0]) == ["id", "email", "createdAt", "updatedAt", "isDeleted"]


def test_next_page_tokens(seeded, base, pardot_session, control):
    url = base + "/objects/prospects"
    first = pardot_session.get(url, params={"fields": "id", "limit": 1000,
                                            "orderBy": "updatedAt"}).json()
    token = first["nextPageToken"]
    assert first["nextPageUrl"].startswith(url + "?") and "nextPageToken=" in first["nextPageUrl"]
    page2 = pardot_session.get(url, params={"fields": "id,email", "nextPageToken": token})
    assert page2.status_code == 200 and list(page2.json()["values"][0]) == ["id", "email"]
    again = pardot_session.get(url, params={"fields": "id,email", "nextPageToken": token})
    assert again.json()["values"] == page2.json()["values"]      # reusable while unchanged
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    expect_error(pardot_session.get(url, params={"fields": "id", "nextPageToken": tampered}),
                 400, 211)
    expect_error(pardot_session.get(url, params={"fields": "id", "nextPageToken": "garbage"}),
                 400, 211)
    users_url = base + "/objects/users"
    expect_error(pardot_session.get(users_url, params={"fields": "id", "nextPageToken": token}),
                 400, 211)
    for extra in ({"limit": 5}, {"orderBy": "id"}, {"idGreaterThan": 3}, {"deleted": "all"}):
        expect_error(pardot_session.get(url, params={"fields": "id", "nextPageToken": token,
                                                     **extra}),
                     400, 5, next(iter(extra)))
    control.patch("pardot/settings", {"pageTokenTtlSeconds": 0})
    expired = pardot_session.get(url, params={"fields": "id", "limit": 1000}).json()
    expect_error(pardot_session.get(url, params={"fields": "id",
                                                 "nextPageToken": expired["nextPageToken"]}),
                 400, 210)


def test_query_parameter_errors(fresh, base, pardot_session):
    url = base + "/objects/prospects"
    get = lambda **p: pardot_session.get(url, params=p)               # noqa: E731
    expect_error(get(), 400, 13, "fields")
    expect_error(get(fields="id,favouriteColour"), 400, 224, "favouriteColour")
    expect_error(get(fields="id", limit="1001"), 400, 23, "limit")
    expect_error(get(fields="id", limit="0"), 400, 23)
    expect_error(get(fields="id", orderBy="email"), 400, 19, "orderBy")
    expect_error(get(fields="id", orderBy="id sideways"), 400, 19)
    expect_error(get(fields="id", deleted="maybe"), 400, 27)
    expect_error(get(fields="id", updatedAtAfter="yesterday"), 400, 7, "updatedAtAfter")
    expect_error(get(fields="id", idGreaterThan="x"), 400, 5, "idGreaterThan")
    expect_error(get(fields="id", colour="red"), 400, 5, "colour")
    expect_error(get(fields="id", idGreaterThan=1, updatedAtAfter="2024-01-01T00:00:00Z",
                     createdAtAfter="2024-01-01T00:00:00Z", email="a@x.com"), 400, 209)
    ok = get(fields="id", idGreaterThan=1, idLessThan=9, updatedAtAfter="2024-01-01T00:00:00Z",
             createdAtAfter="2024-01-01T00:00:00-02:00")
    assert ok.status_code == 200 and ok.json()["values"] == []


def test_prospect_crud_recycle_bin_and_undelete(fresh, base, pardot_session, control):
    url = base + "/objects/prospects"
    created = pardot_session.post(url, params={"fields": "id,email,firstName,isDeleted,updatedAt"},
                                  json={"email": "crud@example.com", "firstName": "Ann"})
    assert created.status_code == 201, created.text
    body = created.json()
    pid = body["id"]
    assert body["isDeleted"] is False and body["firstName"] == "Ann"
    assert created.headers["Location"].endswith(f"/api/v5/objects/prospects/{pid}")
    read = pardot_session.get(f"{url}/{pid}", params={"fields": "email,salesforceLeadId"})
    assert read.json() == {"email": "crud@example.com", "salesforceLeadId": None}
    upd = pardot_session.patch(f"{url}/{pid}", params={"fields": "firstName,updatedAt"},
                               json={"firstName": "Bea"})
    assert upd.status_code == 200 and upd.json()["firstName"] == "Bea"
    assert upd.json()["updatedAt"] >= body["updatedAt"]
    assert pardot_session.patch(f"{url}/{pid}", json={"jobTitle": "CEO"}).status_code == 204
    expect_error(pardot_session.patch(f"{url}/{pid}", json={"createdAt": "2024-01-01T00:00:00Z"}),
                 400, 180, "createdAt")
    expect_error(pardot_session.patch(f"{url}/{pid}", json={"email": "bad@"}), 400, 4, "email")
    expect_error(pardot_session.patch(f"{url}/{pid}", data="{not json",
                                      headers={"Content-Type": "application/json"}), 400, 150)
    assert pardot_session.delete(f"{url}/{pid}").status_code == 204
    gone = pardot_session.get(f"{url}/{pid}", params={"fields": "id"})
    expect_error(gone, 404, 192)
    assert gone.headers["Pardot-Warning"].startswith("201;")
    binned = pardot_session.get(f"{url}/{pid}", params={"fields": "id,isDeleted",
                                                        "deleted": "true"})
    assert binned.json() == {"id": pid, "isDeleted": True}
    expect_error(pardot_session.patch(f"{url}/{pid}", json={"firstName": "X"}), 400, 219)
    listed = pardot_session.get(url, params={"fields": "id", "deleted": "true"}).json()
    assert [v["id"] for v in listed["values"]] == [pid]
    back = pardot_session.post(f"{url}/{pid}/do/undelete", params={"fields": "id,isDeleted"})
    assert back.status_code == 200 and back.json() == {"id": pid, "isDeleted": False}
    expect_error(pardot_session.get(f"{url}/987654", params={"fields": "id"}), 404, 192)
    expect_error(pardot_session.delete(f"{url}/987654"), 404, 192)
    counted = control.get("calls")["by_endpoint"]
    assert counted["pardot PATCH /api/v5/objects/prospects/{id}"] == 6
    assert counted["pardot POST /api/v5/objects/prospects/{id}/do/undelete"] == 1


def test_duplicate_email_depends_on_ampsea(fresh, base, pardot_session, control):
    url = base + "/objects/prospects"
    assert pardot_session.post(url, json={"email": "dup@example.com"}).status_code == 201
    expect_error(pardot_session.post(url, json={"email": "DUP@example.com"}), 400, 54,
                 "DUP@example.com")
    control.patch("pardot/settings", {"ampsea": True})
    second = pardot_session.post(url, params={"fields": "id"}, json={"email": "DUP@example.com"})
    assert second.status_code == 201
    found = pardot_session.get(url, params={"fields": "id", "email": "dup@example.com"}).json()
    assert len(found["values"]) == 2


def test_upsert_latest_by_email(fresh, base, pardot_session):
    url = base + "/objects/prospects/do/upsertLatestByEmail"
    made = pardot_session.post(url, json={"matchEmail": "up@example.com",
                                          "prospect": {"firstName": "One"},
                                          "fields": ["id", "email", "firstName"]})
    assert made.status_code == 200, made.text
    pid = made.json()["id"]
    assert made.json() == {"id": pid, "email": "up@example.com", "firstName": "One"}
    again = pardot_session.post(url, json={"matchEmail": "UP@example.com",
                                           "prospect": {"firstName": "Two"},
                                           "fields": ["id", "firstName"]})
    assert again.json() == {"id": pid, "firstName": "Two"}
    expect_error(pardot_session.post(url, json={"prospect": {}}), 400, 153, "matchEmail")
    expect_error(pardot_session.post(url, json={"matchEmail": "up@example.com",
                                                "prospect": {"isDeleted": True}}),
                 400, 180, "isDeleted")


def test_users_and_campaigns(fresh, base, pardot_session, control):
    control.post("records/pardot/users", {"records": [
        {"email": f"u{i}@example.com", "firstName": "U", "lastName": str(i), "role": role,
         "salesforceId": f"0055g00000User{i}AAA"[:18]}
        for i, role in enumerate(["Administrator", "Marketing", "Sales Manager", "Sales"])]},
        expect=201)
    users, _ = read_all(pardot_session, base + "/objects/users",
                        {"fields": "id,email,role,roleName,isDeleted", "orderBy": "id"})
    mine = [u for u in users if u["email"] in {f"u{i}@example.com" for i in range(4)}]
    assert [u["roleName"] for u in mine] == ["Administrator", "Marketing", "Sales Manager",
                                             "Sales"]
    assert all(isinstance(u["role"], str) for u in mine)
    one = pardot_session.get(f"{base}/objects/users/{mine[2]['id']}",
                             params={"fields": "email,roleName"})
    assert one.json() == {"email": "u2@example.com", "roleName": "Sales Manager"}
    by_email = pardot_session.get(base + "/objects/users",
                                  params={"fields": "id", "email": "U3@example.com"}).json()
    assert [u["id"] for u in by_email["values"]] == [mine[3]["id"]]

    camp_url = base + "/objects/campaigns"
    made = pardot_session.post(camp_url, params={"fields": "id,name,salesforceId"},
                               json={"name": "Spring", "salesforceId": "7015g000000Camp1AAA"[:18]})
    assert made.status_code == 201
    cid = made.json()["id"]
    expect_error(pardot_session.post(camp_url, json={"cost": 5}), 400, 153, "name")
    assert pardot_session.patch(f"{camp_url}/{cid}", params={"fields": "name"},
                                json={"name": "Summer"}).json() == {"name": "Summer"}
    listed = pardot_session.get(camp_url, params={"fields": "id,name,updatedAt",
                                                  "orderBy": "updatedAt desc"}).json()
    assert listed["values"][0]["name"] == "Summer"
    expect_error(pardot_session.get(camp_url, params={"fields": "id", "email": "x@y.z"}), 400, 5)


def test_account_reports_api_usage(fresh, base, pardot_session, control):
    control.patch("pardot/settings", {"maximumDailyApiCalls": 25_000})
    first = pardot_session.get(base + "/objects/account",
                               params={"fields": "maximumDailyApiCalls,apiCallsUsed"}).json()
    second = pardot_session.get(base + "/objects/account",
                                params={"fields": "apiCallsUsed"}).json()
    assert first["maximumDailyApiCalls"] == 25_000
    assert second["apiCallsUsed"] == first["apiCallsUsed"] + 1
    expect_error(pardot_session.get(base + "/objects/account", params={"fields": "secret"}),
                 400, 224, "secret")


def test_daily_limit_gives_122(fresh, base, pardot_session, control):
    used = control.get("pardot/settings")["apiCallsUsed"]
    control.patch("pardot/settings", {"maximumDailyApiCalls": used + 1})
    url = base + "/objects/prospects"
    assert pardot_session.get(url, params={"fields": "id"}).status_code == 200
    expect_error(pardot_session.get(url, params={"fields": "id"}), 429, 122)


def test_sixth_concurrent_request_gets_66(fresh, base, pardot_session, control):
    control.post("latency", {"pardot_ms": 600})
    try:
        start = threading.Barrier(8)

        def call(_):
            start.wait()
            return pardot_session.get(base + "/objects/prospects", params={"fields": "id"})

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, range(8)))
    finally:
        control.post("latency", {"pardot_ms": 0})
    refused = [r for r in results if r.status_code == 429]
    assert refused and all(r.json()["code"] == 66 for r in refused)
    assert sum(r.status_code == 200 for r in results) >= 5


def test_import_round_trip(fresh, base, pardot_session):
    existing = pardot_session.post(base + "/objects/prospects", params={"fields": "id"},
                                   json={"email": "old@example.com", "firstName": "Old"}).json()
    created = pardot_session.post(
        base + "/imports",
        files={"input": (None, '{"operation":"Upsert","object":"Prospect"}', "application/json"),
               "importFile": ("a.csv", b"email,firstName,jobTitle\n"
                                       b"old@example.com,Renamed,CTO\n"
                                       b"new1@example.com,New1,\n", "text/csv")})
    assert created.status_code == 201, created.text
    imp = created.json()
    assert imp["status"] == "Open" and imp["batchesRef"].endswith(f"/imports/{imp['id']}/batches")
    batch = pardot_session.post(imp["batchesRef"], files={
        "importFile": ("b.csv", b"email,firstName,jobTitle\n"
                                b"new2@example.com,New2,\nnot-an-email,Bad,\n", "text/csv")})
    assert batch.status_code == 204, batch.text
    expect_error(pardot_session.post(imp["batchesRef"], files={
        "importFile": ("c.csv", b"email,shoeSize\nx@example.com,9\n", "text/csv")}),
        400, 130, "shoeSize")
    ready = pardot_session.patch(f"{base}/imports/{imp['id']}", json={"status": "Ready"})
    assert ready.status_code == 200 and ready.json()["status"] in ("Waiting", "Processing",
                                                                   "Complete")
    for _ in range(600):                      # poll like a client; bounded, no timing asserted
        status = pardot_session.get(f"{base}/imports/{imp['id']}").json()
        if status["status"] == "Complete":
            break
        time.sleep(0.05)
    assert (status["status"], status["createdCount"], status["updatedCount"],
            status["errorCount"], status["isExpired"]) == ("Complete", 2, 1, 1, False)
    errors = pardot_session.get(status["errorsRef"])
    assert errors.status_code == 200 and errors.headers["Content-Type"].startswith("text/csv")
    assert errors.text.splitlines()[1].startswith("not-an-email,Bad,,")
    old = pardot_session.get(f"{base}/objects/prospects/{existing['id']}",
                             params={"fields": "firstName,jobTitle"}).json()
    assert old == {"firstName": "Renamed", "jobTitle": "CTO"}
    expect_error(pardot_session.patch(f"{base}/imports/{imp['id']}", json={"status": "Ready"}),
                 400, 155)
    expect_error(pardot_session.get(f"{base}/imports/99999"), 404, 192)

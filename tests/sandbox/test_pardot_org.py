"""Unit tests of sandbox.pardot.PardotOrg (state, indexes, paging, rules), no HTTP."""
from __future__ import annotations

import random

import pytest

from sandbox.pardot import PardotOrg, QuerySpec
from sandbox.pardot_errors import PardotError

BU = "0Uv5g000000TestAAA"
T0 = 1_714_557_600            # 2024-05-01T10:00:00Z


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def org(clock):
    return PardotOrg(BU, clock=clock)


def seeded(org: PardotOrg, n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        created = T0 - rnd.randrange(0, 86_400 * 30)
        records.append({"email": f"p{i}@example.com", "firstName": f"F{i}",
                        "createdAt": created, "updatedAt": created + rnd.randrange(0, 3600),
                        "isDeleted": i % 10 == 0})
    return org.insert("prospects", records)


def page_all(org: PardotOrg, spec: QuerySpec) -> tuple[list[int], int]:
    ids, after, pages = [], None, 0
    while True:
        rows, more = org.query("prospects", spec, after)
        pages += 1
        assert len(rows) <= spec.limit
        ids += [r["id"] for r in rows]
        if not more:
            return ids, pages
        last = rows[-1]
        after = last["id"] if spec.order == "id" else (last[spec.order], last["id"])


def expected(org: PardotOrg, spec: QuerySpec) -> list[int]:
    rows = [r for r in org._tables["prospects"].rows.values()]
    keep = []
    for r in rows:
        if spec.deleted != "all" and r["isDeleted"] != (spec.deleted == "true"):
            continue
        if spec.email is not None and (r["email"] or "").lower() != spec.email.lower():
            continue
        if all((lo is None or r[f] >= lo) and (hi is None or r[f] <= hi)
               for f, (lo, hi) in spec.bounds.items()):
            keep.append(r)
    key = (lambda r: r["id"]) if spec.order == "id" else (lambda r: (r[spec.order], r["id"]))
    return [r["id"] for r in sorted(keep, key=key, reverse=spec.desc)]


@pytest.mark.parametrize("order", ["id", "createdAt", "updatedAt"])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("deleted", ["false", "true", "all"])
def test_paging_matches_a_full_sort_for_every_order(org, order, desc, deleted):
    seeded(org, 2500)
    spec = QuerySpec(order=order, desc=desc, deleted=deleted, limit=300)
    ids, pages = page_all(org, spec)
    assert ids == expected(org, spec)
    assert len(ids) == {"false": 2250, "true": 250, "all": 2500}[deleted]
    assert pages == len(ids) // 300 + 1


@pytest.mark.parametrize("bounds", [
    {"id": (100, 1800)},
    {"updatedAt": (T0 - 86_400 * 10, None)},
    {"createdAt": (None, T0 - 86_400 * 5), "id": (500, None)},
    {"updatedAt": (T0 - 86_400 * 20, T0 - 86_400 * 2), "createdAt": (T0 - 86_400 * 25, None)},
    {"id": (2000, 1000)},                                  # empty range
])
@pytest.mark.parametrize("order", ["id", "updatedAt"])
def test_paging_with_filters(org, bounds, order):
    seeded(org, 2500)
    for desc in (False, True):
        spec = QuerySpec(order=order, desc=desc, bounds=bounds, limit=250)
        assert page_all(org, spec)[0] == expected(org, spec)


def test_email_filter_is_case_insensitive_and_pages(org):
    org.update_settings(ampsea=True)
    for _ in range(5):
        org.create("prospects", {"email": "Dup@Example.com"})
    spec = QuerySpec(email="dup@example.COM", limit=2, order="updatedAt", desc=True)
    ids, pages = page_all(org, spec)
    assert ids == expected(org, spec) and len(ids) == 5 and pages == 3


def test_insert_assigns_ids_timestamps_and_dump_filters_deleted(org):
    out = org.insert("prospects", [{"email": "a@example.com"},
                                   {"email": "b@example.com", "isDeleted": True},
                                   {"id": 500, "email": "c@example.com",
                                    "createdAt": "2024-04-01T00:00:00+00:00"}])
    assert [r["id"] for r in out] == [1, 2, 500]
    assert out[0]["createdAt"] == "2024-05-01T10:00:00+00:00"
    assert out[2]["createdAt"] == "2024-04-01T00:00:00+00:00"
    assert out[0]["optedOut"] is False and out[0]["score"] == 0
    assert [r["id"] for r in org.dump("prospects", include_deleted=False)] == [1, 500]
    assert org.create("prospects", {"email": "d@example.com"})["id"] == 501
    with pytest.raises(ValueError, match="already exists"):
        org.insert("prospects", [{"id": 500, "email": "x@example.com"}])
    with pytest.raises(ValueError, match="no field named 'bogus'"):
        org.insert("prospects", [{"bogus": 1}])


def test_users_role_is_normalised_to_id_and_name(org):
    users = org.insert("users", [{"email": "a@x.com", "role": "Sales Manager"},
                                 {"email": "b@x.com", "roleName": "Administrator"}])
    assert (users[0]["role"], users[0]["roleName"]) == ("4", "Sales Manager")
    assert (users[1]["role"], users[1]["roleName"]) == ("1", "Administrator")


def test_every_write_bumps_updated_at_monotonically(org, clock):
    p = org.create("prospects", {"email": "a@example.com"})
    clock.now -= 100                         # wall clock stepping back must not reorder
    q = org.update("prospects", p["id"], {"firstName": "X"})
    assert q["updatedAt"] >= p["updatedAt"]
    clock.now += 200
    r = org.update("prospects", p["id"], {"firstName": "Y"})
    assert r["updatedAt"] > q["updatedAt"]
    spec = QuerySpec(order="updatedAt", bounds={"updatedAt": (r["updatedAt"], None)})
    assert [x["id"] for x in org.query("prospects", spec)[0]] == [p["id"]]


def test_ampsea_off_refuses_duplicate_emails_on_create_update_undelete(org):
    a = org.create("prospects", {"email": "a@example.com"})
    b = org.create("prospects", {"email": "b@example.com"})
    with pytest.raises(PardotError) as exc:
        org.create("prospects", {"email": "A@EXAMPLE.com"})
    assert (exc.value.status, exc.value.code) == (400, 54)
    with pytest.raises(PardotError) as exc:
        org.update("prospects", b["id"], {"email": "a@example.com"})
    assert exc.value.code == 54
    org.delete("prospects", a["id"])
    c = org.create("prospects", {"email": "a@example.com"})   # deleted ones don't count
    with pytest.raises(PardotError) as exc:
        org.undelete("prospects", a["id"])
    assert exc.value.code == 54
    org.update_settings(ampsea=True)
    assert org.create("prospects", {"email": "a@example.com"})["id"] > c["id"]


def test_recycle_bin_rules(org):
    p = org.create("prospects", {"email": "a@example.com"})
    org.delete("prospects", p["id"])
    with pytest.raises(PardotError) as exc:
        org.get("prospects", p["id"])
    assert (exc.value.status, exc.value.code) == (404, 192)
    assert exc.value.headers["Pardot-Warning"].startswith("201;")
    assert org.get("prospects", p["id"], include_deleted=True)["isDeleted"] is True
    with pytest.raises(PardotError) as exc:
        org.update("prospects", p["id"], {"firstName": "X"})
    assert (exc.value.status, exc.value.code) == (400, 219)
    with pytest.raises(PardotError) as exc:
        org.delete("prospects", p["id"])
    assert exc.value.code == 192
    assert org.undelete("prospects", p["id"])["isDeleted"] is False
    with pytest.raises(PardotError) as exc:
        org.update("prospects", 999, {"firstName": "X"})
    assert (exc.value.status, exc.value.code) == (404, 192)


def test_write_validation_names_the_field(org):
    cases = [({"id": 5, "email": "a@x.com"}, 180, "id"),
             ({"email": "a@x.com", "updatedAt": "2024-01-01T00:00:00Z"}, 180, "updatedAt"),
             ({"email": "a@x.com", "nope": 1}, 154, "nope"),
             ({"email": "a@x.com", "salesforceId": "00Q000000000001AAA"}, 180, "salesforceId"),
             ({"email": "not-an-email"}, 4, "email"),
             ({"email": "a@x.com", "score": "high"}, 154, "score"),
             ({"email": "a@x.com", "optedOut": "yes"}, 154, "optedOut"),
             ({"email": "a@x.com", "assignedToId": 77}, 10, "assignedToId"),
             ({"firstName": "NoEmail"}, 153, "email")]
    for body, code, name in cases:
        with pytest.raises(PardotError) as exc:
            org.create("prospects", body)
        assert exc.value.code == code and name in exc.value.message, body


def test_salesforce_link_fields_are_set_only_by_salesforces_connector(org):
    # Seeding plays Salesforce's own connector, the only writer of the link fields.
    p = org.insert("prospects", [{"email": "a@x.com", "salesforceId": "00Q000000000001AAA",
                                  "salesforceLeadId": "00Q000000000001AAA",
                                  "salesforceLastSync": "2024-05-01T10:00:00+02:00"}])[0]
    assert p["salesforceLastSync"] == "2024-05-01T08:00:00+00:00"
    assert org.latest_by_salesforce_id("00Q000000000001AAA")["id"] == p["id"]
    # API clients cannot write them (R10).
    with pytest.raises(PardotError) as exc:
        org.update("prospects", p["id"], {"salesforceLeadId": "00Q000000000002AAA"})
    assert (exc.value.status, exc.value.code) == (400, 180) and "salesforceLeadId" in exc.value.message


def test_upsert_latest_by_email_updates_most_recent_live_else_creates(org, clock):
    org.update_settings(ampsea=True)
    old = org.create("prospects", {"email": "a@x.com", "firstName": "old"})
    clock.now += 10
    new = org.create("prospects", {"email": "A@x.com", "firstName": "new"})
    row, created = org.upsert_latest_by_email("a@X.com", {"lastName": "L"})
    assert (row["id"], created, row["lastName"]) == (new["id"], False, "L")
    org.delete("prospects", new["id"])
    row, created = org.upsert_latest_by_email("a@x.com", {"lastName": "M"})
    assert (row["id"], created) == (old["id"], False)
    row, created = org.upsert_latest_by_email("fresh@x.com", {"firstName": "F"})
    assert created and row["email"] == "fresh@x.com"
    with pytest.raises(PardotError) as exc:
        org.upsert_latest_by_email(None, {})
    assert exc.value.code == 153


def test_daily_api_limit_and_day_rollover(org, clock):
    org.update_settings(maximumDailyApiCalls=2)
    assert [org.consume_api_call() for _ in range(3)] == [True, True, False]
    assert org.get_settings()["apiCallsUsed"] == 2
    clock.now += 86_400
    assert org.get_settings()["apiCallsUsed"] == 0 and org.consume_api_call()


def test_settings_validation_and_edition_limits(org):
    assert org.get_settings() == {"ampsea": False, "maximumDailyApiCalls": 100_000,
                                  "apiCallsUsed": 0, "edition": "Advanced",
                                  "pageTokenTtlSeconds": 14_400, "pageTokenMaxRecords": 100_000}
    assert org.update_settings(edition="Plus")["maximumDailyApiCalls"] == 50_000
    for bad in ({"ampsea": "yes"}, {"edition": "Gold"}, {"color": 1},
                {"maximumDailyApiCalls": -1}):
        with pytest.raises(ValueError):
            org.update_settings(**bad)


def test_reset_empties_everything(org):
    seeded(org, 10)
    org.update_settings(ampsea=True, apiCallsUsed=5)
    org.reset()
    assert org.dump("prospects") == [] and org.get_settings()["apiCallsUsed"] == 0
    assert org.create("prospects", {"email": "a@x.com"})["id"] == 1


def test_import_upserts_by_email_and_reports_row_errors(org):
    org.create("prospects", {"email": "known@x.com", "firstName": "Old", "company": "Keep"})
    csv_bytes = (b"email,firstName,company,score\n"
                 b"known@x.com,New,,5\n"
                 b"fresh@x.com,Fresh,Acme,1\n"
                 b"broken,Bad,,1\n"
                 b"other@x.com,Other,,notanumber\n")
    imp = org.imports.create({"operation": "Upsert", "object": "Prospect", "state": "Ready"},
                             csv_bytes, None)
    assert org.imports.wait(imp.id, timeout=30)
    status = org.imports.read(imp.id, "https://h")
    assert (status["status"], status["createdCount"], status["updatedCount"],
            status["errorCount"]) == ("Complete", 1, 1, 2)
    assert status["errorsRef"] == f"https://h/api/v5/imports/{imp.id}/errors"
    known = org.latest_by_email("known@x.com")
    assert (known["firstName"], known["company"], known["score"]) == ("New", None, 5)
    errors = org.imports.errors_csv(imp.id).splitlines()
    assert errors[0] == "email,firstName,company,score,error"
    assert errors[1].startswith("broken,Bad,,1,") and "email" in errors[1]
    assert "score" in errors[2]


def test_import_state_machine_errors(org):
    spec = {"operation": "Upsert", "object": "Prospect"}
    imp = org.imports.create(spec, None, None)
    with pytest.raises(PardotError) as exc:
        org.imports.update(imp.id, {"status": "Ready"})
    assert exc.value.code == 156
    with pytest.raises(PardotError) as exc:
        org.imports.add_batch(imp.id, b"email,bogusField\na@x.com,1\n")
    assert exc.value.code == 130 and "bogusField" in exc.value.message
    org.imports.add_batch(imp.id, b"email\na@x.com\n")
    with pytest.raises(PardotError) as exc:
        org.imports.add_batch(imp.id, b"email,firstName\nb@x.com,B\n")
    assert exc.value.code == 159
    org.imports.update(imp.id, {"state": "Ready"})
    with pytest.raises(PardotError) as exc:
        org.imports.add_batch(imp.id, b"email\nc@x.com\n")
    assert exc.value.code == 161
    with pytest.raises(PardotError) as exc:
        org.imports.update(imp.id, {"status": "Ready"})
    assert exc.value.code == 155
    for bad, code in (({"object": "Prospect"}, 153),
                      ({"operation": "Insert", "object": "Prospect"}, 154)):
        with pytest.raises(PardotError) as exc:
            org.imports.create(bad, None, None)
        assert exc.value.code == code

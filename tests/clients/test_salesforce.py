"""SalesforceClient against the HTTPS sandbox: JWT flow, paging, composite reads, collection
writes with per-record errors, retries, and the daily allocation (R25–R29)."""
from __future__ import annotations

import dataclasses
import time
import types

import pytest
import requests

from sync.remote import BudgetExhausted, RemoteCallError
from sync.salesforce import SalesforceClient, WriteResult
from tests.clients.conftest import FAST, calls, fault, insert


def leads(n: int, prefix: str = "lead") -> list[dict]:
    return [{"LastName": f"L{i}", "Company": "Acme", "Email": f"{prefix}{i}@example.com"} for i in range(n)]


def endpoint(control, key: str) -> int:
    return calls(control)["by_endpoint"].get(key, 0)


# --- authentication -----------------------------------------------------------------------

def test_jwt_token_is_fetched_once_and_cached(sf, reset):
    token = sf.access_token()
    assert token.startswith("00D") and sf.access_token() == token
    assert calls(reset)["total"]["oauth"] == 1
    assert sf.describe("Lead")["name"] == "Lead"


def test_expired_token_is_renewed_once_and_the_call_retried(sf, reset, sandbox):
    stale = sf.access_token()
    reset.patch("salesforce/settings", {"token_lifetime_s": 0})
    probe = requests.get(sandbox.info["instance_url"] + "/services/data/v59.0/limits/",
                         headers={"Authorization": f"Bearer {stale}"}, verify=sandbox.info["ca_path"])
    assert probe.status_code == 401                       # the cached token is dead now
    reset.patch("salesforce/settings", {"token_lifetime_s": 7200})
    assert sf.describe("Contact")["name"] == "Contact"
    assert sf.access_token() != stale
    assert calls(reset)["total"]["oauth"] == 2


def test_a_token_refused_again_after_renewal_is_an_auth_error(sf, reset):
    reset.patch("salesforce/settings", {"token_lifetime_s": 0})
    with pytest.raises(RemoteCallError) as info:
        sf.describe("Lead")
    assert info.value.category == "auth" and info.value.error.code == "INVALID_SESSION_ID"
    assert info.value.status == 401
    assert calls(reset)["total"]["oauth"] == 2            # one renewal, not a loop


def test_unknown_user_fails_with_invalid_grant(reset, config, budget):
    bad = SalesforceClient(dataclasses.replace(config, salesforce_username="nobody@sandbox.example"), budget,
                           retry=FAST)
    with pytest.raises(RemoteCallError) as info:
        bad.access_token()
    err = info.value
    assert err.category == "auth" and err.error.code == "invalid_grant" and err.side == "salesforce"
    assert "nobody@sandbox.example" in err.error.message and "assertion" not in err.error.message


def test_unreadable_private_key_is_named(reset, config, budget, tmp_path):
    bad = SalesforceClient(dataclasses.replace(config, salesforce_private_key_file=tmp_path / "missing.pem"),
                           budget, retry=FAST)
    with pytest.raises(RemoteCallError, match="cannot read private key file .*missing.pem") as info:
        bad.access_token()
    assert info.value.category == "auth"


# --- reads --------------------------------------------------------------------------------

def test_query_streams_pages_lazily(sf, reset):
    insert(reset, "salesforce", "Lead", leads(4500))
    records = sf.query("SELECT Id, Email FROM Lead")
    assert isinstance(records, types.GeneratorType)
    assert calls(reset)["total"]["salesforce"] == 0       # nothing fetched before iterating
    first = next(records)
    assert set(first) == {"Id", "Email"}
    assert endpoint(reset, "salesforce GET /query") == 1
    # Issue 11: the next page is read ahead while the caller works through this one, never further.
    time.sleep(0.5)
    assert calls(reset)["total"]["salesforce"] == 2
    rest = list(records)
    assert len({r["Id"] for r in [first, *rest]}) == 4500
    assert endpoint(reset, "salesforce GET /query/{locator}") == 2   # pages 2 and 3 of 2000


def test_query_with_batch_size_and_deleted_rows(sf, reset, sandbox):
    rows = insert(reset, "salesforce", "Lead", leads(5))
    resp = requests.delete(f"{sandbox.info['instance_url']}/services/data/v59.0/sobjects/Lead/{rows[0]['Id']}",
                           headers={"Authorization": f"Bearer {sf.access_token()}"}, verify=sandbox.info["ca_path"])
    assert resp.status_code == 204
    live = list(sf.query("SELECT Id FROM Lead", batch_size=200))
    everything = list(sf.query("SELECT Id, IsDeleted FROM Lead", include_deleted=True))
    assert len(live) == 4 and len(everything) == 5
    assert [r["Id"] for r in everything if r["IsDeleted"]] == [rows[0]["Id"]]


def test_composite_query_reads_several_objects_in_one_call(sf, reset):
    insert(reset, "salesforce", "Lead", leads(2500))
    insert(reset, "salesforce", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@example.com"} for i in range(7)])
    insert(reset, "salesforce", "Campaign", [{"Name": "Spring"}])
    result = sf.composite_query({"Lead": "SELECT Id, Email FROM Lead",
                                 "Contact": "SELECT Id, Email FROM Contact",
                                 "campaigns": "SELECT Id, Name FROM Campaign"})
    assert calls(reset)["total"]["salesforce"] == 1
    assert endpoint(reset, "salesforce POST /composite") == 1
    assert len(list(result["Contact"])) == 7
    assert [c["Name"] for c in result["campaigns"]] == ["Spring"]
    assert calls(reset)["total"]["salesforce"] == 1       # first pages came with the composite call
    lead_rows = list(result["Lead"])
    assert len({r["Id"] for r in lead_rows}) == 2500 and "attributes" not in lead_rows[0]
    assert calls(reset)["total"]["salesforce"] == 2       # + the second page of leads


def test_composite_query_names_the_failing_query(sf, reset):
    with pytest.raises(RemoteCallError) as info:
        sf.composite_query({"good": "SELECT Id FROM Lead", "bad": "SELECT Nope__c FROM Lead"})
    assert info.value.category == "validation" and "'bad'" in info.value.error.message
    with pytest.raises(ValueError, match="at most 25"):
        sf.composite_query({f"q{i}": "SELECT Id FROM Lead" for i in range(26)})
    with pytest.raises(ValueError, match="starting with a letter"):
        sf.composite_query({"1x": "SELECT Id FROM Lead"})


def test_retrieve_keeps_order_and_marks_missing_records(sf, reset):
    rows = insert(reset, "salesforce", "Lead", leads(250))
    ids = [r["Id"] for r in rows]
    missing = ids[0][:3] + "000000000000AAA"
    got = sf.retrieve("Lead", [ids[5], missing, ids[1]], ["Id", "Email"])
    assert got[0] == {"Id": ids[5], "Email": "lead5@example.com"} and got[1] is None
    assert got[2]["Email"] == "lead1@example.com"
    before = calls(reset)["total"]["salesforce"]
    everything = sf.retrieve("Lead", ids, ["Id", "Email"])  # 250 ids: two calls, long lists POSTed
    assert [r["Id"] for r in everything] == ids
    assert calls(reset)["total"]["salesforce"] - before == 2
    assert endpoint(reset, "salesforce POST /composite/sobjects/{sobject}") == 1   # 200 ids
    assert endpoint(reset, "salesforce GET /composite/sobjects/{sobject}") == 2    # 3 ids, then 50


def test_limits_and_usage_follow_the_org_allocation(sf, reset, budget):
    reset.patch("salesforce/settings", {"daily_api_max": 5000, "api_used": 100})
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 5000
    assert sf.usage == {"used": 101, "max": 5000, "calls": 1}
    usage = budget.usage()["salesforce"]
    assert usage["max"] == 5000 and usage["allowed"] == 2500 and usage["used_by_connector"] == 1


# --- writes -------------------------------------------------------------------------------

def test_create_and_update_450_records_with_one_invalid(sf, reset):
    records = leads(450)
    del records[321]["LastName"]
    results = sf.create("Lead", records)
    assert len(results) == 450 and endpoint(reset, "salesforce POST /composite/sobjects") == 3
    bad = results[321]
    assert not bad.ok and bad.error.category == "validation" and bad.error.code == "REQUIRED_FIELD_MISSING"
    assert "LastName" in bad.error.fields
    good = [r for i, r in enumerate(results) if i != 321]
    assert all(r.ok and r.created and r.id.startswith("00Q") for r in good)

    ids = [r.id for r in good]
    updates = [{"Id": rid, "Title": "VP"} for rid in ids]
    updates[17]["Email"] = "not-an-email"
    results = sf.update("Lead", updates)
    assert endpoint(reset, "salesforce PATCH /composite/sobjects") == 3
    assert [i for i, r in enumerate(results) if not r.ok] == [17]
    assert results[17].error.code == "INVALID_EMAIL_ADDRESS" and results[17].error.category == "validation"
    assert all(r.ok and not r.created and r.id == rid for r, rid in zip(results, ids) if r is not results[17])
    rows = reset.get("records/salesforce/Lead")["records"]
    assert sum(1 for r in rows if r["Title"] == "VP") == 448


def test_update_needs_ids(sf):
    with pytest.raises(ValueError, match="record 1 has no Id"):
        sf.update("Lead", [{"Id": "00Q000000000001AAA"}, {"Title": "x"}])


def test_row_lock_on_one_record_is_a_transient_result(sf, reset):
    fault(reset, api="salesforce", error_code="UNABLE_TO_LOCK_ROW", record_match={"Email": "lead3@example.com"})
    results = sf.create("Lead", leads(6))
    assert [r.ok for r in results] == [True, True, True, False, True, True]
    assert results[3].error.category == "transient" and results[3].error.code == "UNABLE_TO_LOCK_ROW"


def test_whole_call_503_is_retried_then_succeeds(sf, reset):
    fault(reset, api="salesforce", method="POST", path="/composite/sobjects$", error_code="SERVER_UNAVAILABLE",
          status=503, count=2)
    results = sf.create("Lead", leads(3))
    assert all(r.ok for r in results)
    assert endpoint(reset, "salesforce POST /composite/sobjects") == 3      # two refused, one written
    assert len(reset.get("records/salesforce/Lead")["records"]) == 3        # written exactly once


def test_persistent_503_raises_a_transient_error(sf, reset):
    fault(reset, api="salesforce", path="/describe", error_code="SERVER_UNAVAILABLE", status=503, count=10)
    with pytest.raises(RemoteCallError) as info:
        sf.describe("Lead")
    assert info.value.category == "transient" and info.value.status == 503
    assert calls(reset)["total"]["salesforce"] == FAST.attempts


def test_request_limit_exceeded_is_budget_exhausted(sf, reset, budget):
    reset.patch("salesforce/settings", {"daily_api_max": 10, "api_used": 10})
    with pytest.raises(BudgetExhausted) as info:
        sf.describe("Lead")
    assert info.value.error.code == "REQUEST_LIMIT_EXCEEDED" and info.value.status == 403
    seen = calls(reset)["total"]["salesforce"]
    with pytest.raises(BudgetExhausted):                  # every worker now waits without calling
        sf.describe("Account")
    assert calls(reset)["total"]["salesforce"] == seen


def test_connector_share_stops_calls_before_the_org_limit(sf, reset):
    reset.patch("salesforce/settings", {"daily_api_max": 20})
    made = 0
    with pytest.raises(BudgetExhausted) as info:
        for _ in range(30):
            sf.limits()
            made += 1
    assert made == 10 and calls(reset)["total"]["salesforce"] == 10       # 50% of 20
    assert info.value.error.code == "BUDGET_EXHAUSTED"


def test_budget_spent_mid_write_keeps_written_results(sf, reset):
    reset.patch("salesforce/settings", {"daily_api_max": 2})             # share 0.5 -> one call
    results = sf.create("Lead", leads(450))
    assert all(r.ok for r in results[:200])
    assert all(isinstance(r, WriteResult) and not r.ok and r.error.category == "limit" for r in results[200:])
    assert len(reset.get("records/salesforce/Lead")["records"]) == 200
    with pytest.raises(BudgetExhausted):                  # nothing written: raised
        sf.create("Lead", leads(1, "again"))


def test_retry_after_on_a_503_is_waited_out(sf, reset):
    # issue 9 item 7: FAST alone retries within 50 ms; the server asked for a second
    fault(reset, api="salesforce", path="/describe", error_code="SERVER_UNAVAILABLE", status=503, count=10,
          retry_after=1)
    with pytest.raises(RemoteCallError) as info:
        sf.describe("Lead")
    assert info.value.retry_after == 1
    (f,) = reset.get("faults")["faults"]
    gaps = [b - a for a, b in zip(f["hit_at"], f["hit_at"][1:])]
    assert len(gaps) == FAST.attempts - 1 and min(gaps) >= 0.95, gaps

"""PardotClient against the HTTPS sandbox: paging, CRUD, every error code's category, token
renewal, waits on 66/202/429, the daily limit (R29) and the 5-in-flight limit (R40)."""
from __future__ import annotations

import dataclasses
import threading
import types
from datetime import datetime, timedelta, timezone

import pytest

from sync.budget import Budget
from sync.remote import BudgetExhausted, RemoteCallError, RetryPolicy
from tests.clients.conftest import calls, fault, insert, make_pardot

PROSPECTS = "pardot GET /api/v5/objects/prospects"
FIELDS = ["id", "email", "firstName", "isDeleted", "updatedAt"]


def prospects(n: int, prefix: str = "p") -> list[dict]:
    return [{"email": f"{prefix}{i}@example.com", "firstName": f"F{i}"} for i in range(n)]


# --- reads --------------------------------------------------------------------------------

def test_query_pages_over_2500_prospects(pardot, reset):
    insert(reset, "pardot", "prospects", prospects(2500))
    rows = pardot.query("prospects", ["id", "email"], orderBy="id")
    assert isinstance(rows, types.GeneratorType)
    first = next(rows)
    assert calls(reset)["by_endpoint"][PROSPECTS] == 1
    rest = list(rows)
    ids = [r["id"] for r in [first, *rest]]
    assert len(set(ids)) == 2500 and ids == sorted(ids)
    assert calls(reset)["by_endpoint"][PROSPECTS] == 3              # pages of 1000


@pytest.mark.parametrize("order", ["updatedAt", "id", None])
def test_query_goes_on_past_a_token_chains_limit(pardot, reset, order):
    """Pardot ends a nextPageToken chain after 100,000 records (warning 203, no token): the query
    goes on from the last record, and serves every record once (issue 11; the sandbox's chain
    limit lowered to 1,000 here). Bulk-inserted prospects share their updatedAt second."""
    insert(reset, "pardot", "prospects", prospects(2500, "chain"))
    reset.patch("pardot/settings", {"pageTokenMaxRecords": 1000})
    filters = {"orderBy": order} if order else {}
    rows = list(pardot.query("prospects", ["id", "email", "updatedAt"], **filters))
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 2500
    if order:
        keys = [(r[order], r["id"]) if order == "updatedAt" else r["id"] for r in rows]
        assert keys == sorted(keys)


def test_query_filters_deleted_and_datetimes(pardot, reset):
    made = [pardot.create_prospect(p, ["id"]) for p in prospects(4, "f")]
    pardot.delete_prospect(made[0]["id"])
    live = list(pardot.query("prospects", ["id"]))
    everything = list(pardot.query("prospects", ["id", "isDeleted"], deleted="all"))
    assert {r["id"] for r in live} == {m["id"] for m in made[1:]}
    assert [r["id"] for r in everything if r["isDeleted"]] == [made[0]["id"]]
    past = datetime.now(timezone.utc) - timedelta(days=1)
    assert len(list(pardot.query("prospects", ["id"], updatedAtAfterOrEqualTo=past, limit=2))) == 3
    assert list(pardot.query("prospects", ["id"], email="f2@example.com")) == [{"id": made[2]["id"]}]
    with pytest.raises(ValueError, match="naive datetime"):
        list(pardot.query("prospects", ["id"], updatedAtAfter=datetime(2024, 1, 1)))


def test_prospect_lifecycle(pardot, reset):
    created = pardot.create_prospect({"email": "life@example.com", "firstName": "Ann"}, FIELDS)
    pid = created["id"]
    assert created["email"] == "life@example.com" and created["isDeleted"] is False
    assert pardot.get_prospect(pid, ["id", "firstName"]) == {"id": pid, "firstName": "Ann"}
    assert pardot.update_prospect(pid, {"firstName": "Anna"}, ["firstName"]) == {"firstName": "Anna"}
    pardot.delete_prospect(pid)
    assert pardot.get_prospect(pid, ["id"]) is None                 # in the recycle bin
    with pytest.raises(RemoteCallError) as info:
        pardot.update_prospect(pid, {"firstName": "X"}, ["id"])
    assert info.value.error.code == "219" and info.value.category == "deleted"
    assert pardot.undelete_prospect(pid, ["id", "isDeleted"]) == {"id": pid, "isDeleted": False}
    assert pardot.get_prospect(99999999, ["id"]) is None


def test_upsert_latest_by_email_updates_or_creates(pardot, reset):
    pid = pardot.create_prospect({"email": "up@example.com"}, ["id"])["id"]
    updated = pardot.upsert_latest_by_email("up@example.com", {"firstName": "Upd"}, ["id", "firstName"])
    assert updated == {"id": pid, "firstName": "Upd"}
    created = pardot.upsert_latest_by_email("new@example.com", {"email": "new@example.com"}, ["id", "email"])
    assert created["id"] != pid and created["email"] == "new@example.com"


def test_account_keeps_the_budget_allocation_current(pardot, reset, budget):
    reset.patch("pardot/settings", {"maximumDailyApiCalls": 50000, "apiCallsUsed": 1000})
    account = pardot.account()
    assert account == {"maximumDailyApiCalls": 50000, "apiCallsUsed": 1001}
    assert budget.usage()["pardot"] == {"used_by_connector": 1, "org_used": 1001, "max": 50000,
                                        "allowed": 40000, "remaining": 40000 - 1}


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("values,code,category", [
    ({"email": "not-an-email"}, "4", "validation"),
    ({"email": "dup@example.com"}, "54", "duplicate"),
    ({"email": "x@example.com", "assignedToId": 987654}, "10", "validation"),
    ({"email": "y@example.com", "id": 5}, "180", "validation"),
    ({"email": "z@example.com", "noSuchField": 1}, "154", "validation"),
    ({"email": "w@example.com", "salesforceId": "00Q000000000001AAA"}, "180", "validation"),
])
def test_write_errors_are_categorized(pardot, reset, values, code, category):
    insert(reset, "pardot", "prospects", [{"email": "dup@example.com"}])
    with pytest.raises(RemoteCallError) as info:
        pardot.create_prospect(values, ["id"])
    err = info.value
    assert (err.error.code, err.category, err.side, err.status) == (code, category, "pardot", 400)
    assert "POST /objects/prospects" in err.error.message


@pytest.mark.parametrize("error_code,status,category", [
    (192, 404, "deleted"), (219, 400, "deleted"), (181, 400, "auth"), (211, 400, "transient"),
    (54, 400, "duplicate"), (4, 400, "validation"),
])
def test_injected_codes_are_categorized(pardot, reset, error_code, status, category):
    fault(reset, api="pardot", error_code=error_code, status=status, count=1)
    with pytest.raises(RemoteCallError) as info:
        pardot.update_prospect(1, {"firstName": "x"}, ["id"])
    assert (info.value.error.code, info.value.status, info.value.category) == (str(error_code), status, category)
    assert calls(reset)["total"]["pardot"] == 1                     # none of these is retried


def test_wrong_business_unit_is_an_auth_error(reset, config, sf, redis_conn, budget, ns):
    other = make_pardot(dataclasses.replace(config, pardot_business_unit_id="0Uv000000000000AAA"),
                        sf, redis_conn, budget, ns)
    with pytest.raises(RemoteCallError) as info:
        other.account()
    assert info.value.category == "auth" and info.value.error.code == "201"


def test_server_errors_are_retried_then_reported_as_transient(pardot, reset):
    fault(reset, api="pardot", error_code=1, status=503, count=1)
    assert pardot.account()["maximumDailyApiCalls"] > 0             # retried once, then fine
    fault(reset, api="pardot", error_code=1, status=500, count=10)
    with pytest.raises(RemoteCallError) as info:
        pardot.account()
    assert info.value.category == "transient" and info.value.status == 500
    assert calls(reset)["total"]["pardot"] == 2 + 3                  # FAST: 3 attempts


def test_bad_token_is_renewed_once(pardot, reset, sf):
    fault(reset, api="pardot", error_code=184, count=1)
    assert "apiCallsUsed" in pardot.account()
    assert calls(reset)["total"] == {"salesforce": 0, "pardot": 2, "oauth": 2}  # first token + one renewal


def test_bad_token_twice_is_an_auth_error(reset, config, sf, redis_conn, budget, ns):
    renewals = []

    def reauth():
        renewals.append(1)
        return sf.reauthenticate()

    client = make_pardot(config, sf, redis_conn, budget, ns)
    client.reauth = reauth
    fault(reset, api="pardot", error_code=184, count=5)
    with pytest.raises(RemoteCallError) as info:
        client.account()
    assert info.value.category == "auth" and info.value.error.code == "184" and info.value.status == 401
    assert len(renewals) == 1
    assert sf.access_token() not in str(info.value)                   # no secret in errors


@pytest.mark.parametrize("error_code,status", [(66, 429), (202, 429), (999, 429)])
def test_busy_answers_are_waited_out(pardot, reset, error_code, status):
    fault(reset, api="pardot", error_code=error_code, status=status, count=2)
    assert "apiCallsUsed" in pardot.account()
    assert calls(reset)["total"]["pardot"] == 3


def test_busy_for_too_long_is_a_limit_error(pardot, reset):
    fault(reset, api="pardot", error_code=66, count=20)
    with pytest.raises(RemoteCallError) as info:
        pardot.account()
    assert info.value.category == "limit" and info.value.error.code == "66"
    assert not isinstance(info.value, BudgetExhausted)
    assert calls(reset)["total"]["pardot"] == 5                      # busy_retry attempts


def test_daily_limit_is_budget_exhausted_and_blocks_further_calls(pardot, reset):
    reset.patch("pardot/settings", {"maximumDailyApiCalls": 10, "apiCallsUsed": 10})
    with pytest.raises(BudgetExhausted) as info:
        pardot.get_prospect(1, ["id"])
    exc = info.value
    now = datetime.now(timezone.utc)
    assert exc.error.code == "122" and exc.side == "pardot" and exc.status == 429
    assert now < exc.resets_at <= now + timedelta(hours=1)
    with pytest.raises(BudgetExhausted):
        pardot.account()
    assert calls(reset)["total"]["pardot"] == 1                      # the second call never left


def test_connector_share_of_the_pardot_limit(pardot, reset):
    reset.patch("pardot/settings", {"maximumDailyApiCalls": 10})
    pardot.account()                                                 # learns max 10 -> 8 calls (80%)
    with pytest.raises(BudgetExhausted) as info:
        for _ in range(20):
            pardot.get_prospect(1, ["id"])
    assert info.value.error.code == "BUDGET_EXHAUSTED"
    assert calls(reset)["total"]["pardot"] == 8


# --- concurrency --------------------------------------------------------------------------

def test_run_concurrently_never_exceeds_five_in_flight(reset, config, sf, redis_conn, ns):
    """Two clients (as two workers) share the semaphore; the sandbox refuses a 6th concurrent
    request with 66, and no retry is allowed here, so a clean run proves the limit held."""
    rows = insert(reset, "pardot", "prospects", prospects(40, "c"))
    reset.post("latency", {"pardot_ms": 40})
    budget = Budget(redis_conn, ns)
    no_retry = RetryPolicy(attempts=1)
    clients = [make_pardot(config, sf, redis_conn, budget, ns, busy_retry=no_retry, transient_retry=no_retry)
               for _ in range(2)]
    sf.access_token()
    results: dict[int, list] = {}

    def work(k: int):
        mine = rows[k * 20:(k + 1) * 20]
        results[k] = clients[k].run_concurrently(
            [lambda r=r: clients[k].update_prospect(r["id"], {"firstName": "Z"}, ["id", "firstName"])
             for r in mine])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for k in range(2):
        assert results[k] == [{"id": r["id"], "firstName": "Z"} for r in rows[k * 20:(k + 1) * 20]]
    assert calls(reset)["total"]["pardot"] == 40


def test_run_concurrently_returns_failures_in_place(pardot, reset):
    rows = insert(reset, "pardot", "prospects", prospects(3, "r"))
    ids = [rows[0]["id"], 987654321, rows[2]["id"]]
    results = pardot.run_concurrently([lambda i=i: pardot.get_prospect(i, ["id"]) if i != 987654321
                                       else pardot.update_prospect(i, {"firstName": "x"}, ["id"]) for i in ids])
    assert results[0] == {"id": ids[0]} and results[2] == {"id": ids[2]}
    assert isinstance(results[1], RemoteCallError) and results[1].category == "deleted"


def test_run_concurrently_raises_budget_exhausted_after_in_flight_calls(pardot, reset):
    insert(reset, "pardot", "prospects", prospects(2, "b"))
    reset.patch("pardot/settings", {"maximumDailyApiCalls": 3, "apiCallsUsed": 0})
    with pytest.raises(BudgetExhausted):
        pardot.run_concurrently([lambda: pardot.get_prospect(1, ["id"]) for _ in range(30)])
    assert calls(reset)["total"]["pardot"] < 30                      # the rest were skipped


def test_run_concurrently_propagates_programming_errors(pardot):
    def broken():
        raise KeyError("bug")
    with pytest.raises(KeyError):
        pardot.run_concurrently([broken])


# --- Retry-After (issue 9 item 7) ---------------------------------------------------------

def _gaps(control) -> list[float]:
    (f,) = control.get("faults")["faults"]
    return [b - a for a, b in zip(f["hit_at"], f["hit_at"][1:])]


@pytest.mark.parametrize("error_code,status", [(1, 503), (None, 429)])
def test_retry_after_on_503_and_429_is_waited_out(pardot, reset, error_code, status):
    # FAST/busy policies alone would retry within 50 ms; the server asked for a second
    spec = {"api": "pardot", "status": status, "count": 10, "retry_after": 1,
            "error_code": error_code if error_code is not None else 429}
    fault(reset, **spec)
    with pytest.raises(RemoteCallError):
        pardot.account()
    gaps = _gaps(reset)
    assert len(gaps) >= 2 and min(gaps) >= 0.95, gaps


def test_retry_after_longer_than_the_cap_fails_the_call_without_sleeping(pardot, reset):
    fault(reset, api="pardot", error_code=1, status=503, count=10, retry_after=3600)
    with pytest.raises(RemoteCallError) as info:
        pardot.account()
    assert info.value.retry_after == 3600 and info.value.category == "transient"
    assert reset.get("faults")["faults"][0]["hits"] == 1

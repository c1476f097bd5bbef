"""Budget (R29) against real Redis: share enforcement, allocation from the remote, blocking,
reporting, and counters shared by every process."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sync.budget import Budget, next_utc_midnight
from sync.remote import BudgetExhausted


def test_calls_are_allowed_before_any_allocation_is_known(budget):
    assert [budget.spend("salesforce") for _ in range(3)] == [1, 2, 3]
    assert budget.usage()["salesforce"] == {"used_by_connector": 3, "org_used": None, "max": None,
                                            "allowed": None, "remaining": None}


def test_salesforce_share_is_enforced(budget):
    budget.observe_salesforce(used=40, max=100)     # share 0.5 -> 50 calls a day for the connector
    for _ in range(50):
        budget.spend("salesforce")
    before = next_utc_midnight()
    with pytest.raises(BudgetExhausted) as info:
        budget.spend("salesforce")
    exc = info.value
    assert exc.side == "salesforce" and exc.category == "limit" and exc.error.code == "BUDGET_EXHAUSTED"
    assert exc.resets_at in (before, next_utc_midnight())
    assert "50%" in exc.error.message and "Salesforce daily API allocation" in exc.error.message
    assert budget.usage()["salesforce"] == {"used_by_connector": 50, "org_used": 40, "max": 100,
                                            "allowed": 50, "remaining": 0}
    budget.spend("pardot")                          # the other side is unaffected


def test_pardot_share_and_remaining(redis_conn, ns):
    budget = Budget(redis_conn, ns, pardot_share=0.25)
    budget.observe_pardot(max_daily=12, used=10)
    budget.spend("pardot")
    budget.spend("pardot")
    assert budget.usage()["pardot"] == {"used_by_connector": 2, "org_used": 10, "max": 12,
                                        "allowed": 3, "remaining": 1}
    budget.spend("pardot")
    with pytest.raises(BudgetExhausted, match="25%"):
        budget.spend("pardot")


def test_configure_changes_the_share(budget):
    budget.observe_salesforce(0, 10)
    budget.configure(0.2, 0.8)                      # 2 calls a day
    budget.spend("salesforce")
    budget.spend("salesforce")
    with pytest.raises(BudgetExhausted, match="20%"):
        budget.spend("salesforce")
    assert budget.usage()["salesforce"]["allowed"] == 2


def test_instances_share_the_count_like_processes_do(redis_conn, ns):
    a, b = Budget(redis_conn, ns), Budget(redis_conn, ns)
    a.observe_salesforce(0, 4)                      # allowed 2
    a.spend("salesforce")
    b.spend("salesforce")
    with pytest.raises(BudgetExhausted):
        a.spend("salesforce")
    other = Budget(redis_conn, ns + "-other")       # another namespace is another connector
    other.spend("salesforce")


def test_block_stops_every_caller_until_unblocked(budget, redis_conn, ns):
    resets = datetime.now(timezone.utc) + timedelta(minutes=30)
    budget.block("pardot", resets, "122", "Daily API rate limit met.")
    with pytest.raises(BudgetExhausted) as info:
        budget.spend("pardot")
    assert info.value.error.code == "122" and info.value.error.message == "Daily API rate limit met."
    assert abs((info.value.resets_at - resets).total_seconds()) < 0.01
    ttl_ms = redis_conn.pttl(f"{ns}:budget:pardot:blocked")
    assert 0 < ttl_ms <= 30 * 60 * 1000
    budget.unblock("pardot")
    budget.spend("pardot")


def test_snapshot_diffs_report_a_cycles_calls(budget):
    budget.spend("pardot")
    mark = budget.snapshot()
    budget.spend("salesforce")
    budget.spend("salesforce")
    budget.spend("pardot")
    assert budget.calls_since(mark) == {"salesforce": 2, "pardot": 1}
    assert budget.snapshot() == {"salesforce": 2, "pardot": 2}


def test_day_counter_expires(budget, redis_conn, ns):
    budget.spend("salesforce")
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert 86400 < redis_conn.ttl(f"{ns}:budget:salesforce:day:{day}") <= 2 * 86400


def test_bad_arguments_are_named(redis_conn, ns):
    with pytest.raises(ValueError, match="salesforce budget share must be a number in"):
        Budget(redis_conn, ns, salesforce_share=0)
    with pytest.raises(ValueError, match="pardot budget share must be a number in"):
        Budget(redis_conn, ns).configure(0.5, 1.5)
    with pytest.raises(ValueError, match="unknown budget side 'hubspot'"):
        Budget(redis_conn, ns).spend("hubspot")

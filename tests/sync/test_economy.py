"""API economy as exact call counts read from the sandbox counters (issue 3 §5)."""
import pytest


@pytest.fixture
def active(world):
    world.create()
    world.activate()
    world.cycle()  # nothing to do yet: settles cursors
    return world


def _calls(world):
    calls = world.calls()
    return calls["total"], calls["by_endpoint"]


def test_first_sync_of_1000_leads_to_pardot(active, world):
    world.add_sf("Lead", *[{"LastName": f"L{i}", "Company": "C", "Email": f"econ{i}@example.com"}
                           for i in range(1000)])
    world.reset_calls()
    world.cycle()
    total, by = _calls(world)
    assert len(world.prospects()) == 1000
    # One composite read (≤2000 records fit its first page), 1000 upserts, 3 Pardot reads.
    assert by.get("salesforce POST /composite") == 1
    assert total["salesforce"] == 1
    assert by.get("pardot POST /api/v5/objects/prospects/do/upsertLatestByEmail") == 1000
    assert total["pardot"] == 1000 + 3, by


def test_first_sync_of_1000_prospects_to_salesforce(active, world):
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects(*[{"email": f"p{i}@example.com", "lastName": f"P{i}", "assignedToId": user["id"]}
                          for i in range(1000)])
    world.reset_calls()
    world.cycle()
    total, by = _calls(world)
    assert len(world.sf("Lead")) == 1000, (by, [(e.code, e.message) for e in world.errors()][:3])
    # 1 composite read + 5 collection creates; 1 prospect page + users + campaigns + 1000 link writes.
    assert by.get("salesforce POST /composite/sobjects") == 5
    assert total["salesforce"] == 1 + 5
    assert by.get("pardot PATCH /api/v5/objects/prospects/{id}") == 1000
    assert total["pardot"] == 3 + 1000


def test_a_cycle_with_nothing_changed_costs_four_calls_and_writes_nothing(active, world):
    world.add_sf("Lead", *[{"LastName": f"L{i}", "Company": "C", "Email": f"quiet{i}@example.com"}
                           for i in range(1000)])
    world.cycle()
    world.cycle()  # reads back our own writes once: no write (R18)
    world.reset_calls()
    world.cycle()
    total, by = _calls(world)
    writes = {k: v for k, v in by.items() if k.split()[1] != "GET" and not k.endswith(" /composite")}
    assert writes == {}
    assert total["salesforce"] + total["pardot"] <= 4, by

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
    assert len(world.links()) == 1000
    # Salesforce: one composite read (≤2000 records fit its first page) and, since Pardot owns
    # the score (R16), the new prospects' score written back in 5 collections of 200.
    assert by.get("salesforce POST /composite") == 1
    assert by.get("salesforce PATCH /composite/sobjects") == 5
    assert total["salesforce"] == 1 + 5
    # Pardot: users, campaigns and prospects read; one import; its status read until complete;
    # the written prospects read back in one page. No single-record write.
    assert by.get("pardot POST /api/v5/imports") == 1
    polls = by.get("pardot GET /api/v5/imports/{id}", 0)
    assert polls <= 4  # none when the import was complete by the time it was created
    assert by.get("pardot GET /api/v5/objects/prospects") == 2
    assert total["pardot"] == 3 + 1 + polls + 1, by


def test_first_sync_of_1000_prospects_to_salesforce(active, world):
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects(*[{"email": f"p{i}@example.com", "lastName": f"P{i}", "assignedToId": user["id"]}
                          for i in range(1000)])
    world.reset_calls()
    world.cycle()
    total, by = _calls(world)
    assert len(world.sf("Lead")) == 1000
    # Salesforce: 1 composite read + 5 collection creates of 200.
    assert by.get("salesforce POST /composite/sobjects") == 5
    assert total["salesforce"] == 1 + 5
    # Pardot: 3 reads and no write: the links live in our store (R10), Pardot's salesforce*
    # fields are read-only.
    assert by.get("pardot POST /api/v5/imports") is None
    assert by.get("pardot PATCH /api/v5/objects/prospects/{id}") is None
    assert total["pardot"] == 3, by
    assert all(world.crm_of(p["id"]) for p in world.prospects())


def test_first_sync_of_1000_prospects_writes_the_crm_id_field_in_one_import(active, world):
    field = world.use_crm_field()
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects(*[{"email": f"p{i}@example.com", "lastName": f"P{i}", "assignedToId": user["id"]}
                          for i in range(1000)])
    world.reset_calls()
    world.cycle()
    total, by = _calls(world)
    assert len(world.sf("Lead")) == 1000
    # Pardot: 3 reads; the 1000 CRM ids in the admin's custom field in one import, polled, read back.
    assert by.get("pardot POST /api/v5/imports") == 1
    polls = by.get("pardot GET /api/v5/imports/{id}", 0)
    assert polls <= 4  # none when the import was complete by the time it was created
    assert by.get("pardot PATCH /api/v5/objects/prospects/{id}") is None
    assert total["pardot"] == 3 + 1 + polls + 1, by
    assert all(p[field] == world.crm_of(p["id"]) and p["salesforceLeadId"] is None for p in world.prospects())


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


def test_R17_read_windows_close_behind_quiet_periods(active, world, monkeypatch):
    """Once a change is older than the overlap window, no cycle reads it again: an idle cycle
    a poll interval later reads no record at all (the overlap is shortened here to 1 s)."""
    import time

    from sync import engine

    monkeypatch.setattr(engine, "SF_OVERLAP", engine.timedelta(seconds=1))
    monkeypatch.setattr(engine, "PARDOT_OVERLAP", engine.timedelta(seconds=1))
    from sync.records import parse_datetime

    def quiet_past_overlap():
        # Wait until the newest stamp is older than the (1 s) overlap (a record written twice in one
        # millisecond gets the next one, so a stamp may be a little ahead of the clock).
        stamps = [parse_datetime(r["SystemModstamp"]) for r in world.sf("Lead")]
        stamps += [parse_datetime(p["updatedAt"]) for p in world.prospects()]
        ahead = (max(stamps) - engine.utcnow()).total_seconds()
        time.sleep(min(30.0, max(0.0, ahead) + 2.5))

    world.add_sf("Lead", *[{"LastName": f"L{i}", "Company": "C", "Email": f"w{i}@example.com"} for i in range(50)])
    world.cycle()
    quiet_past_overlap()
    world.cycle()    # reads our own writes back once (R18)
    quiet_past_overlap()
    result = world.cycle()
    read = result["counts"]["read"]
    assert set(read) == {"prospects", "Lead", "Contact", "Account"}
    assert all(not v.get("read") for v in read.values()), read
    lead = world.add_sf("Lead", {"LastName": "Late", "Company": "C", "Email": "late@example.com"})[0]
    world.cycle()
    assert world.crm_of(world.prospects(email="late@example.com")[0]["id"]) == lead["Id"]


def test_many_changed_records_update_pardot_through_one_import(active, world):
    leads = world.add_sf("Lead", *[{"LastName": f"L{i}", "Company": "C", "Email": f"upd{i}@example.com"}
                                   for i in range(300)])
    world.cycle()
    world.cycle()
    changed = leads[:150]
    for start in range(0, 150, 50):
        world.api.restful("composite/sobjects", method="PATCH", json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Lead"}, "id": l["Id"], "Title": "Changed"} for l in changed[start:start + 50]]})
    world.reset_calls()
    result = world.cycle()
    total, by = _calls(world)
    assert result["counts"]["salesforce_to_pardot"].get("updated") == 150
    assert by.get("pardot PATCH /api/v5/objects/prospects/{id}") is None
    assert by.get("pardot POST /api/v5/imports") == 1
    titles = {p["email"]: p["jobTitle"] for p in world.prospects()}
    assert sum(1 for l in changed if titles[l["Email"]] == "Changed") == 150
    assert sum(1 for t in titles.values() if t == "Changed") == 150
    world.reset_calls()
    world.cycle()  # reads the import back once; writes nothing (R18)
    _, by = _calls(world)
    writes = {k for k in by if k.split()[1] in ("POST", "PATCH", "DELETE") and not k.endswith(" /composite")}
    assert writes == set(), writes


def test_a_first_sync_reads_past_pardots_token_chain_limit(active, world):
    """A nextPageToken chain ends after 100,000 records (lowered to 300 here): the cycle reads on
    from the last prospect and syncs every one (issue 11; seen at 1,000,000 prospects, where only
    the first 100,000 synced). Bulk-inserted prospects share their updatedAt second."""
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects(*[{"email": f"chain{i}@example.com", "lastName": f"C{i}", "assignedToId": user["id"]}
                          for i in range(1000)])
    world.control.patch("pardot/settings", {"pageTokenMaxRecords": 300})
    world.cycle()
    assert len(world.sf("Lead")) == 1000
    assert all(world.crm_of(p["id"]) for p in world.prospects())

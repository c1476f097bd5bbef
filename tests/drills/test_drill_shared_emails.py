"""Issue 9 item 1: a real org's first sync, 3,000 leads + 3,000 prospects of which 300 share an
email, ends in one ok cycle with every record paired exactly once (R8, R10, R11, R12, R17).

Before the fix a pair whose Pardot write waited for the bulk import was paired a second time by
a later chunk of 200 (its other half sits on the other side of the pending list) and the cycle
died on record_link's unique key."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from sync.models import PendingChange, RecordLink
from tests.sync.conftest import World

LEADS = PROSPECTS = 3000
SHARED = 300


@pytest.fixture
def world(runtime, service, control, admin, admin2, operator, sandbox) -> World:
    control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                          "campaigns": 0})
    return World(runtime, service, control, admin, admin2, operator, sandbox)


def seed_shared_emails(world: World) -> None:
    """Through the sandbox control API (no API call counted): the first SHARED leads and prospects
    share their email; the shared pairs disagree on the title so the first cycle writes to Pardot."""
    sales = world.pardot_user("sales@sandbox.example")
    leads = [{"LastName": f"Lead{i}", "Company": "Shared Co", "Email": f"shared{i}@example.com",
              "Title": "CTO"} if i < SHARED else
             {"LastName": f"Lead{i}", "Company": "Lead Co", "Email": f"lead{i}@example.com"}
             for i in range(LEADS)]
    prospects = [{"email": f"shared{i}@example.com" if i < SHARED else f"prospect{i}@example.com",
                  "lastName": f"Prospect{i}", "company": "Prospect Co", "assignedToId": sales["id"]}
                 for i in range(PROSPECTS)]
    for start in range(0, PROSPECTS, 1000):
        world.add_prospects(*prospects[start:start + 1000])
    time.sleep(1.1)  # the leads are the newer side (Pardot stamps whole seconds): their title wins (R14)
    for start in range(0, LEADS, 1000):
        world.add_sf("Lead", *leads[start:start + 1000])


def assert_one_to_one(world: World, runtime) -> None:
    leads = world.sf("Lead")
    prospects = [p for p in world.prospects() if not p["isDeleted"]]
    expected = LEADS + PROSPECTS - SHARED  # every unshared record gets its counterpart (R11, R12)
    assert len(leads) == len(prospects) == expected
    links = world.links()
    assert len(links) == expected
    by_prospect = {l.prospect_id: l.crm_id for l in links}
    by_crm = {l.crm_id: l.prospect_id for l in links}
    assert len(by_prospect) == len(by_crm) == expected  # 1:1 both ways
    # The store's links agree with both orgs: each names a live record on each side, of one email.
    lead_email = {l["Id"]: (l["Email"] or "").lower() for l in leads}
    prospect_email = {p["id"]: p["email"].lower() for p in prospects}
    assert set(by_crm) == set(lead_email) and set(by_prospect) == set(prospect_email)
    assert all(lead_email[crm] == prospect_email[pid] for pid, crm in by_prospect.items())
    shared = {f"shared{i}@example.com" for i in range(SHARED)}
    assert sum(1 for e in prospect_email.values() if e in shared) == SHARED  # linked, not duplicated
    with runtime.store.session() as s:
        assert s.scalar(select(func.count()).select_from(PendingChange)) == 0
        assert s.scalar(select(func.count()).select_from(RecordLink)) == expected


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("crm_field", [None, "Salesforce_CRM_Id__c"], ids=["store-only", "crm-id-field"])
def test_first_cycle_with_300_shared_emails_pairs_every_record_once(world, runtime, crm_field):
    world.create()
    world.activate()
    if crm_field:
        world.use_crm_field(crm_field)
    seed_shared_emails(world)
    result = world.cycle()
    assert result["outcome"] == "ok", result
    assert world.errors() == []
    assert_one_to_one(world, runtime)
    if crm_field:  # the admin's custom field shows each prospect's CRM id (R10)
        by_prospect = {l.prospect_id: l.crm_id for l in world.links()}
        assert all(p[crm_field] == by_prospect[p["id"]] for p in world.prospects())
    # The shared pairs took the Salesforce title (most recent, R14) in Pardot.
    assert {p["jobTitle"] for p in world.prospects() if p["email"].startswith("shared")} == {"CTO"}
    again = world.cycle()
    assert again["outcome"] == "ok", again
    assert_one_to_one(world, runtime)

"""Issue 9 item 2, R25: a row the Pardot import rejects -- a create, a link write or an update --
lands in the error queue, the rest of the cycle commits, and the next cycle does not send the
same import again. The sandbox refuses rows as Pardot's import does (an email Pardot finds
invalid, an email another prospect holds, a prospect in the recycle bin).

Before the fix a rejected update row (keyed by prospect id) raised KeyError in a map of CRM ids:
the cycle failed, nothing committed, and every later cycle resent the import."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from sync.bulk import MIN_IMPORT_ROWS
from sync.models import PendingChange
from tests.sync.conftest import World

N = MIN_IMPORT_ROWS + 50  # enough rows for the bulk import path


@pytest.fixture
def world(runtime, service, control, admin, admin2, operator, sandbox) -> World:
    control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                          "campaigns": 0})
    w = World(runtime, service, control, admin, admin2, operator, sandbox)
    w.create()
    w.activate()
    return w


def imports_sent(world: World) -> int:
    return world.calls()["by_endpoint"].get("pardot POST /api/v5/imports", 0)


def pending(runtime) -> int:
    with runtime.store.session() as s:
        return s.scalar(select(func.count()).select_from(PendingChange))


def assert_next_cycle_sends_no_import(world: World, runtime) -> None:
    world.reset_calls()
    result = world.cycle()
    assert result["outcome"] == "ok", result
    assert imports_sent(world) == 0
    assert pending(runtime) == 0


def test_a_rejected_create_row_is_queued_and_the_other_creates_commit(world, runtime):
    bad = "bad..dots@example.com"  # Salesforce takes it; Pardot's email check does not
    leads = world.add_sf("Lead", *[{"LastName": f"L{i}", "Company": "C", "Email": f"c{i}@example.com"}
                                   for i in range(N - 1)], {"LastName": "Bad", "Company": "C", "Email": bad})
    world.reset_calls()
    result = world.cycle()
    assert result["outcome"] == "ok", result
    assert imports_sent(world) == 1
    assert len(world.prospects()) == N - 1 and len(world.links()) == N - 1
    [error] = world.errors()
    assert (error.direction, error.sobject) == ("salesforce_to_pardot", "Lead")
    assert error.crm_id == leads[-1]["Id"] and error.category == "validation" and error.status == "open"
    assert error.code == "IMPORT_ROW_REJECTED" and "email" in error.message.lower()
    assert pending(runtime) == 0
    assert_next_cycle_sends_no_import(world, runtime)
    assert len(world.errors()) == 1


def test_a_rejected_link_row_is_queued_and_the_other_links_commit(world, runtime):
    field = world.use_crm_field()
    sales = world.pardot_user("sales@sandbox.example")
    prospects = world.add_prospects(*[{"email": f"p{i}@example.com", "lastName": f"P{i}", "company": "C",
                                       "assignedToId": sales["id"]} for i in range(N)])
    victim = prospects[7]
    # Someone moves a prospect to the recycle bin while the cycle runs: after its lead was
    # created, before the import carrying the CRM ids reaches Pardot.
    _, pardot = runtime.engine().clients()
    real = pardot.create_import

    def racing(csv_text):
        if field in csv_text.splitlines()[0]:
            world.pardot("DELETE", f"objects/prospects/{victim['id']}")
        return real(csv_text)

    pardot.create_import = racing
    try:
        world.reset_calls()
        result = world.cycle()
    finally:
        pardot.create_import = real
    assert result["outcome"] == "ok", result
    assert imports_sent(world) == 1
    # Every lead exists and is linked in our store (R10), the victim's too.
    assert len(world.sf("Lead")) == N and len(world.links()) == N
    live = [p for p in world.prospects() if not p["isDeleted"]]
    links = {l.prospect_id: l.crm_id for l in world.links()}
    assert len(live) == N - 1 and all(p[field] == links[p["id"]] for p in live)
    [error] = world.errors()
    assert error.prospect_id == victim["id"] and error.crm_id == links[victim["id"]]
    assert error.code == "IMPORT_ROW_REJECTED" and "recycle bin" in error.message
    # Recorded, then resolved in the same cycle: the prospect's own change (to the recycle bin)
    # synced after the import and left nothing to write (R27).
    assert error.category == "deleted" and error.status == "resolved"
    assert pending(runtime) == 0
    assert_next_cycle_sends_no_import(world, runtime)


def test_a_rejected_update_row_is_queued_and_the_other_updates_commit(world, runtime):
    leads = world.add_sf("Lead", *[{"LastName": f"U{i}", "Company": "C", "Email": f"u{i}@example.com"}
                                   for i in range(N)])
    holder = world.add_prospects({"email": "taken@example.com", "lastName": "Holder"})[0]  # unassigned
    assert world.cycle()["outcome"] == "ok"
    assert len(world.links()) == N and world.errors() == []
    for lead in leads:
        world.api.Lead.update(lead["Id"], {"Title": "CFO"})
    mover = leads[3]
    # R21 with "follow email changes" on: the new email goes to the prospect -- but another
    # prospect holds it, and this business unit allows one prospect per email.
    world.api.Lead.update(mover["Id"], {"Email": "taken@example.com"})
    world.reset_calls()
    result = world.cycle()
    assert result["outcome"] == "ok", result
    assert imports_sent(world) >= 1
    links = {l.crm_id: l for l in world.links()}
    mover_pid = links[mover["Id"]].prospect_id
    [error] = world.errors()
    assert error.crm_id == mover["Id"] and error.prospect_id == mover_pid
    assert error.code == "IMPORT_ROW_REJECTED" and "already in use" in error.message
    assert error.category == "duplicate" and error.status == "open"
    # The rest committed: every other prospect has the new title, its link remembers it (R18).
    others = [p for p in world.prospects() if p["id"] not in (mover_pid, holder["id"])]
    assert len(others) == N - 1 and {p["jobTitle"] for p in others} == {"CFO"}
    assert all(links[l["Id"]].synced_values.get("jobTitle") == "CFO" for l in leads if l["Id"] != mover["Id"])
    assert world.prospects(id=mover_pid)[0]["email"] == "u3@example.com"
    assert pending(runtime) == 0
    assert_next_cycle_sends_no_import(world, runtime)
    assert len(world.errors()) == 1

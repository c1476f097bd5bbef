"""R8–R24: matching, linking, creating, fields, changes, deletes, conversions, MDS."""
import pytest

from sync.errors import Conflict, Forbidden, Invalid
from sync.mapping import DEFAULT_MAPPINGS


@pytest.fixture
def active(world):
    world.create()
    world.activate()
    return world


def test_R8_email_match_is_case_insensitive_contact_wins_then_most_recent(active, world):
    old_lead = world.add_sf("Lead", {"LastName": "Old", "Company": "C", "Email": "Match@Example.com"})[0]
    new_lead = world.add_sf("Lead", {"LastName": "New", "Company": "C", "Email": "match@example.com"})[0]
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects({"email": "MATCH@example.COM", "lastName": "P", "assignedToId": user["id"]})
    world.cycle()
    p = world.prospects(email="MATCH@example.COM")
    assert len(p) == 1 and world.crm_of(p[0]["id"]) == new_lead["Id"] != old_lead["Id"]

    contact = world.add_sf("Contact", {"LastName": "Contact", "Email": "match@EXAMPLE.com"})[0]
    world.cycle()
    p = world.prospects(email="MATCH@example.COM")[0]
    assert world.crm_of(p["id"]) == contact["Id"]
    assert len(world.prospects(email="MATCH@example.COM")) == 1


def test_R9_with_ampsea_the_crm_id_is_the_only_key(world, service, admin):
    world.create(ampsea=True)
    world.control.patch("pardot/settings", {"ampsea": True})
    world.activate()
    world.add_prospects({"email": "same@example.com", "lastName": "Existing"})
    lead = world.add_sf("Lead", {"LastName": "New", "Company": "C", "Email": "same@example.com"})[0]
    world.cycle()
    prospects = world.prospects(email="same@example.com")
    assert len(prospects) == 2
    carrying = [p for p in prospects if world.crm_of(p["id"]) == lead["Id"]]
    assert len(carrying) == 1  # exactly one prospect per CRM record
    world.api.Lead.update(lead["Id"], {"Title": "CTO"})
    world.cycle()
    assert len(world.prospects(email="same@example.com")) == 2


def test_R10_the_link_lives_in_the_store_and_pardot_link_fields_stay_untouched(active, world):
    contact = world.add_sf("Contact", {"LastName": "Link", "Email": "link@example.com"})[0]
    world.cycle()
    p = world.prospects(email="link@example.com")[0]
    # Pardot's salesforce* fields are read-only (only Salesforce's own connector sets them).
    assert p["salesforceId"] is None and p["salesforceContactId"] is None
    links = [l for l in world.links() if l.crm_id == contact["Id"]]
    assert len(links) == 1 and links[0].prospect_id == p["id"] and links[0].crm_type == "Contact"


def test_R11_new_records_create_prospects_or_link_an_unlinked_one(active, world, service, admin):
    existing = world.add_prospects({"email": "exists@example.com", "lastName": "Before"})[0]
    world.add_sf("Lead", {"LastName": "L", "Company": "C", "Email": "exists@example.com"})
    person = world.add_sf("Account", {"RecordTypeId": world.sandbox.info["person_account_record_type_id"],
                                      "LastName": "Person", "PersonEmail": "person@example.com"})[0]
    world.add_sf("Lead", {"LastName": "NoEmail", "Company": "C"})
    world.cycle()
    assert [p["id"] for p in world.prospects(email="exists@example.com")] == [existing["id"]]
    assert world.crm_of(world.prospects(email="person@example.com")[0]["id"]) == person["Id"]

    service.update_settings(admin, {"auto_create_prospects": False})
    world.add_sf("Lead", {"LastName": "Off", "Company": "C", "Email": "off@example.com"})
    world.cycle()
    assert world.prospects(email="off@example.com") == []


def test_R12_only_assigned_prospects_create_leads_owned_by_the_matched_user(active, world, runtime):
    user = world.pardot_user("salesmgr@sandbox.example")
    assigned = world.add_prospects({"email": "assigned@example.com", "lastName": "A", "company": "Co",
                                    "assignedToId": user["id"]})[0]
    unassigned = world.add_prospects({"email": "unassigned@example.com", "lastName": "U"})[0]
    world.cycle()
    lead = world.sf("Lead", Email="assigned@example.com")[0]
    assert lead["OwnerId"] == world.sf_user("salesmgr@sandbox.example")["Id"] and lead["Company"] == "Co"
    assert world.crm_of(assigned["id"]) == lead["Id"]
    assert world.sf("Lead", Email="unassigned@example.com") == []

    from sync.models import RecordState
    with runtime.store.session() as s:
        state = s.get(RecordState, (world.cid, "pardot", str(unassigned["id"])))
    assert state.state == "unassigned_no_match" and "R12" in state.detail


def test_R13_imported_prospects_follow_R12(active, world):
    user = world.pardot_user("sales@sandbox.example")
    csv = ("email,lastName,assignedToId\n"
           f"imp1@example.com,Imported,{user['id']}\n"
           "imp2@example.com,Unassigned,\n")
    created = world.pardot("POST", "imports", files={
        "input": (None, '{"operation":"Upsert","object":"Prospect","state":"Ready"}', "application/json"),
        "importFile": ("p.csv", csv, "text/csv")})
    import time
    for _ in range(100):
        status = world.pardot("GET", f"imports/{created['id']}?fields=id,status,state,createdCount")
        if (status.get("status") or status.get("state")) == "Complete":
            break
        time.sleep(0.05)
    world.cycle()
    assert len(world.sf("Lead", Email="imp1@example.com")) == 1
    assert world.sf("Lead", Email="imp2@example.com") == []


def test_R14_field_behaviours(active, world, service, admin):
    mappings = service.get_field_mappings(admin)
    by = {m["pardot_field"]: m for m in mappings}
    by["jobTitle"]["behaviour"] = "salesforce"
    by["phone"]["behaviour"] = "pardot"
    service.set_field_mappings(admin, list(by.values()))
    lead = world.add_sf("Lead", {"LastName": "B", "Company": "C", "Email": "b@example.com",
                                 "Title": "SF title", "Phone": "111", "FirstName": "Sf"})[0]
    world.cycle()
    p = world.prospects(email="b@example.com")[0]
    world.pardot("PATCH", f"objects/prospects/{p['id']}", json={"jobTitle": "P title", "phone": "222",
                                                                "firstName": "Pardot"})
    world.cycle()
    lead = world.sf("Lead", Id=lead["Id"])[0]
    p = world.prospects(id=p["id"])[0]
    assert p["jobTitle"] == "SF title" and lead["Title"] == "SF title"      # salesforce wins
    assert lead["Phone"] == "222" and p["phone"] == "222"                  # pardot wins
    assert lead["FirstName"] == "Pardot" and p["firstName"] == "Pardot"    # most recent (only Pardot changed)
    world.api.Lead.update(lead["Id"], {"FirstName": "Later"})
    world.cycle()
    assert world.prospects(id=p["id"])[0]["firstName"] == "Later"


def test_R15_an_empty_value_never_overwrites_a_non_empty_one(active, world):
    lead = world.add_sf("Lead", {"LastName": "E", "Company": "C", "Email": "e@example.com", "Title": "Keep"})[0]
    world.cycle()
    p = world.prospects(email="e@example.com")[0]
    world.pardot("PATCH", f"objects/prospects/{p['id']}", json={"jobTitle": None, "phone": "333"})
    world.cycle()
    assert world.sf("Lead", Id=lead["Id"])[0]["Title"] == "Keep"
    assert world.sf("Lead", Id=lead["Id"])[0]["Phone"] == "333"


def test_R16_default_mappings_and_score_flows_to_salesforce(active, world, service, admin):
    fields = {m["pardot_field"]: m["behaviour"] for m in service.get_field_mappings(admin)}
    assert fields == {m.pardot_field: m.behaviour for m in DEFAULT_MAPPINGS}
    assert fields["score"] == fields["grade"] == "pardot" and fields["email"] == "most_recent"
    lead = world.add_sf("Lead", {"LastName": "S", "Company": "C", "Email": "s@example.com"})[0]
    world.cycle()
    p = world.prospects(email="s@example.com")[0]
    world.pardot("PATCH", f"objects/prospects/{p['id']}", json={"score": 42, "grade": "A"})
    world.cycle()
    lead = world.sf("Lead", Id=lead["Id"])[0]
    assert lead["pi__score__c"] == 42 and lead["pi__grade__c"] == "A"


def test_R17_cursors_advance_after_the_cycle_commits(active, world):
    world.add_sf("Lead", {"LastName": "C", "Company": "C", "Email": "c1@example.com"})
    world.cycle()
    first = world.cursors()
    assert "sf:Lead" in first
    world.control.post("faults", {"api": "pardot", "method": "POST", "path": "upsertLatestByEmail",
                                  "error_code": 122, "count": 100})
    world.add_sf("Lead", {"LastName": "C", "Company": "C", "Email": "c2@example.com"})
    result = world.cycle()
    assert result["outcome"] == "partial"
    assert world.cursors()["sf:Lead"] == first["sf:Lead"]  # not past the unwritten lead
    world.control.delete("faults")
    world.cycle()
    assert len(world.prospects(email="c2@example.com")) == 1


def test_R18_own_writes_do_not_come_back(active, world):
    world.add_sf("Lead", {"LastName": "Echo", "Company": "C", "Email": "echo@example.com"})
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects({"email": "echo2@example.com", "lastName": "Echo2", "assignedToId": user["id"]})
    world.cycle()
    world.reset_calls()
    result = world.cycle()
    writes = {k: v for k, v in world.calls()["by_endpoint"].items() if not k.split()[1] == "GET"
              and "composite " not in k + " " and not k.endswith("/composite")}
    assert writes == {}, writes
    assert result["counts"]["salesforce_to_pardot"].get("updated", 0) == 0


def test_R19_deleted_in_salesforce_goes_to_the_recycle_bin_and_stays_there(active, world, service, operator,
                                                                            run_worker):
    lead = world.add_sf("Lead", {"LastName": "D", "Company": "C", "Email": "d@example.com"})[0]
    world.cycle()
    p = world.prospects(email="d@example.com")[0]
    world.api.Lead.delete(lead["Id"])
    world.cycle()
    assert world.prospects(id=p["id"])[0]["isDeleted"] is True
    assert [l.deleted_in_crm for l in world.links() if l.prospect_id == p["id"]] == [True]
    job = service.sync_prospect(operator, prospect_id=p["id"])
    run_worker()
    outcome = service.get_job(operator, job["id"])["outcome"]
    assert outcome["ok"] is False and outcome["category"] == "deleted" and "deleted in Salesforce" in outcome["message"]
    world.cycle()
    assert len(world.sf("Lead", Email="d@example.com")) == 1  # never re-created

    world.control.post("salesforce/undelete", {"object": "Lead", "id": lead["Id"]})
    world.cycle()
    assert world.prospects(id=p["id"])[0]["isDeleted"] is False


def test_R20_a_converted_lead_relinks_its_prospect_to_the_contact(active, world):
    lead = world.add_sf("Lead", {"LastName": "Conv", "Company": "C", "Email": "conv@example.com"})[0]
    world.cycle()
    p = world.prospects(email="conv@example.com")[0]
    converted = world.control.post("salesforce/convert-lead", {"lead_id": lead["Id"]})
    world.cycle()
    contact_id = converted.get("contactId") or converted.get("contact_id") or converted["ContactId"]
    p = world.prospects(id=p["id"])[0]
    assert world.crm_of(p["id"]) == contact_id and p["salesforceId"] is None
    assert len(world.prospects(email="conv@example.com")) == 1
    assert [l.crm_type for l in world.links() if l.prospect_id == p["id"]] == ["Contact"]


def test_R21_email_changes_follow_or_unlink(active, world, service, admin):
    lead = world.add_sf("Lead", {"LastName": "M", "Company": "C", "Email": "before@example.com"})[0]
    world.cycle()
    p = world.prospects(email="before@example.com")[0]
    world.api.Lead.update(lead["Id"], {"Email": "after@example.com"})
    world.cycle()
    assert world.prospects(id=p["id"])[0]["email"] == "after@example.com"

    service.update_settings(admin, {"follow_email_changes": False})
    world.api.Lead.update(lead["Id"], {"Email": "again@example.com"})
    world.cycle()
    assert world.prospects(id=p["id"])[0]["email"] == "after@example.com"
    assert not [l for l in world.links() if l.prospect_id == p["id"]]
    errors = world.errors(code="EMAIL_CHANGE_UNLINKED")
    assert len(errors) == 1 and errors[0].crm_id == lead["Id"]


def _mds(service, admin, value="EU"):
    return service.set_mds_rules(admin, True, [
        {"object": "Lead", "field": "Business_Unit__c", "operator": "equals", "value": value},
        {"object": "Contact", "field": "Business_Unit__c", "operator": "equals", "value": value}])


def test_R22_only_records_matching_the_mds_rule_sync(world, service, admin):
    world.create()
    world.cycle()
    with pytest.raises(Invalid, match="mapped field"):
        service.set_mds_rules(admin, True, [{"object": "Lead", "field": "Email", "value": "x"},
                                            {"object": "Contact", "field": "Business_Unit__c", "value": "x"}])
    with pytest.raises(Invalid, match="only 'equals'"):
        service.set_mds_rules(admin, True, [{"object": "Lead", "field": "Business_Unit__c", "operator": "contains",
                                             "value": "x"},
                                            {"object": "Contact", "field": "Business_Unit__c", "value": "x"}])
    with pytest.raises(Invalid, match="missing Contact"):
        service.set_mds_rules(admin, True, [{"object": "Lead", "field": "Business_Unit__c", "value": "x"}])
    _mds(service, admin)
    world.activate()
    world.add_sf("Lead", {"LastName": "In", "Company": "C", "Email": "in@example.com", "Business_Unit__c": "EU"})
    world.add_sf("Lead", {"LastName": "Case", "Company": "C", "Email": "case@example.com", "Business_Unit__c": "eu"})
    world.add_sf("Lead", {"LastName": "Out", "Company": "C", "Email": "out@example.com", "Business_Unit__c": "US"})
    world.cycle()
    assert len(world.prospects(email="in@example.com")) == 1
    assert world.prospects(email="case@example.com") == []  # case-sensitive (R22)
    assert world.prospects(email="out@example.com") == []


def test_R23_mds_rules_change_only_while_paused_and_only_by_an_admin(active, world, service, admin, operator):
    with pytest.raises(Forbidden):
        _mds(service, operator)
    with pytest.raises(Conflict, match="only while the connector is paused"):
        _mds(service, admin)
    service.pause(admin, "MDS")
    assert _mds(service, admin)["enabled"] is True


def test_R24_created_leads_carry_the_mds_value_and_leaving_mds_recycles(world, service, admin):
    world.create()
    world.cycle()
    _mds(service, admin)
    world.activate()
    user = world.pardot_user("sales@sandbox.example")
    world.add_prospects({"email": "newlead@example.com", "lastName": "N", "assignedToId": user["id"]})
    lead = world.add_sf("Lead", {"LastName": "Leaving", "Company": "C", "Email": "leaving@example.com",
                                 "Business_Unit__c": "EU"})[0]
    world.cycle()
    assert world.sf("Lead", Email="newlead@example.com")[0]["Business_Unit__c"] == "EU"
    p = world.prospects(email="leaving@example.com")[0]
    world.api.Lead.update(lead["Id"], {"Business_Unit__c": "US"})
    world.cycle()
    assert world.prospects(id=p["id"])[0]["isDeleted"] is True
    world.api.Lead.update(lead["Id"], {"Business_Unit__c": "EU"})
    world.cycle()
    assert world.prospects(id=p["id"])[0]["isDeleted"] is False

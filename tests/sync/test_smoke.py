def test_records_flow_both_ways(world):
    world.create()
    world.activate()
    world.add_sf("Lead", {"LastName": "Lovelace", "FirstName": "Ada", "Company": "Engines", "Email": "ada@example.com"})
    admin_user = world.pardot_user("admin@sandbox.example")
    world.add_prospects({"email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper",
                         "assignedToId": admin_user["id"]})
    result = world.cycle()
    assert result["outcome"] == "ok", result
    ada = world.prospects(email="ada@example.com")
    assert len(ada) == 1 and world.crm_of(ada[0]["id"]) == world.sf("Lead", Email="ada@example.com")[0]["Id"]
    assert ada[0]["salesforceLeadId"] is None  # read-only in Pardot: never written by us (R10)
    grace = world.sf("Lead", Email="grace@example.com")
    assert len(grace) == 1

"""The whole operator journey over HTTP only, with a real worker, Redis, SQL and sandbox:
create → checklist → reactivation approved by a second admin → a manual sync job to the
end → a sync error listed, retried and resolved."""
from __future__ import annotations


def _job(api, run_worker, accepted) -> dict:
    assert accepted.status_code == 202, accepted.get_json()
    url = accepted.get_json()["url"]
    assert api.get(url).get_json()["state"] == "queued"
    run_worker()
    return api.get(url).get_json()


def test_operator_journey(api, as_role, control, run_worker):
    control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                          "campaigns": 0})
    admin, admin2, operator, viewer = (as_role(r) for r in ("admin", "admin2", "operator", "viewer"))

    assert admin.post("/api/v1/connector", {"version": 2, "error_queue_owner": "#sync-errors"}).status_code == 201
    run_worker()  # the first cycle verifies credentials and reads the describe (R5: paused)
    checklist = viewer.get("/api/v1/connector/checklist").get_json()
    failing = [i for i in checklist["items"] if i["result"] == "fail"]
    assert checklist["passed"], failing
    assert admin.patch("/api/v1/settings", {"ampsea": False}).status_code == 200  # reviewed (R30)

    request = operator.post("/api/v1/reactivations", {"note": "ready"}).get_json()
    assert admin.post(f"/api/v1/reactivations/{request['id']}/deny", {"reason": "x"}).status_code == 200
    request = operator.post("/api/v1/reactivations", {"note": "ready now"}).get_json()
    approved = admin2.post(f"/api/v1/reactivations/{request['id']}/approve")
    assert approved.status_code == 200 and approved.get_json()["decided_by"] == "token:admin2"
    assert viewer.get("/api/v1/connector").get_json()["state"] == "active"
    run_worker()  # the catch-up cycle (R7)

    # "Send to Pardot" for a new lead: the job runs to the end and the prospect exists.
    lead = control.post("records/salesforce/Lead", {"records": [
        {"LastName": "Lovelace", "FirstName": "Ada", "Company": "Engines", "Email": "ada@example.com"}]})["records"][0]
    job = _job(api, run_worker, operator.post("/api/v1/syncs/salesforce", {"object": "Lead", "id": lead["Id"]}))
    assert job["state"] == "finished" and job["outcome"]["ok"] is True, job
    prospects = [p for p in control.get("records/pardot/prospects")["records"] if p["email"] == "ada@example.com"]
    # The link lives in our store (R10); Pardot's salesforce* fields are read-only to us.
    assert len(prospects) == 1 and job["outcome"]["prospect_id"] == prospects[0]["id"]
    assert job["outcome"]["crm_id"] == lead["Id"] and prospects[0]["salesforceLeadId"] is None

    # "Sync with CRM" for a prospect Salesforce refuses: the job fails and the error is queued (R25).
    owner = next(u for u in control.get("records/pardot/users")["records"] if u["email"] == "sales@sandbox.example")
    control.patch("salesforce/settings", {"validation_rules": [
        {"object": "Lead", "field": "LastName", "op": "equals", "value": "Hopper", "message": "no Hoppers today"}]})
    control.post("records/pardot/prospects", {"records": [
        {"email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper", "assignedToId": owner["id"]}]})
    job = _job(api, run_worker, operator.post("/api/v1/syncs/prospect", {"email": "grace@example.com"}))
    assert job["state"] == "failed" and job["outcome"]["category"] == "validation", job
    listed = viewer.get("/api/v1/sync-errors?category=validation").get_json()["items"]
    assert len(listed) == 1 and listed[0]["email"] == "grace@example.com"
    error = listed[0]
    assert error["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and "no Hoppers today" in error["message"]

    # The admin fixes the rule in Salesforce; a retry resolves the error (R27).
    control.patch("salesforce/settings", {"validation_rules": []})
    job = _job(api, run_worker, operator.post(f"/api/v1/sync-errors/{error['id']}/retry"))
    assert job["state"] == "finished" and job["outcome"]["resolved"] == 1, job
    assert viewer.get(f"/api/v1/sync-errors/{error['id']}").get_json()["status"] == "resolved"
    assert viewer.get("/api/v1/sync-errors").get_json()["items"] == []
    assert [l for l in control.get("records/salesforce/Lead")["records"] if l["Email"] == "grace@example.com"]

    # Everything above is in the audit log, by token, from the API (R34).
    actions = {(e["action"], e["actor"]) for e in admin.get("/api/v1/audit-log?limit=200").get_json()["items"]}
    assert {("create_connector", "token:admin"), ("request_reactivation", "token:operator"),
            ("approve_reactivation", "token:admin2"), ("deny_reactivation", "token:admin"),
            ("send_to_pardot", "token:operator"), ("retry_errors", "token:operator")} <= actions

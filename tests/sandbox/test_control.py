"""Control API, runtime wrapper (latency, counters, faults, limits), seeding and `python -m sandbox`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from sandbox.ids import to18
from tests.sandbox.conftest import trusting_session

INFO_KEYS = {"base_url", "login_url", "instance_url", "pardot_base_url", "control_url", "api_version",
             "business_unit_id", "org_id", "ca_path", "consumer_key", "username", "private_key_path",
             "person_account_record_type_id"}


def test_info_and_sandbox_json(sandbox):
    info = sandbox.info
    assert set(info) == INFO_KEYS
    with open(os.path.join(sandbox.data_dir, "sandbox.json")) as fh:
        assert json.load(fh) == info
    base = info["base_url"]
    assert base.startswith("https://127.0.0.1:") and sandbox.url == base
    assert info["login_url"] == info["instance_url"] == info["pardot_base_url"] == base
    assert info["control_url"] == base + "/__sandbox__" and info["api_version"] == "59.0"
    for key, prefix in (("business_unit_id", "0Uv"), ("org_id", "00D"), ("person_account_record_type_id", "012")):
        assert info[key].startswith(prefix) and to18(info[key][:15]) == info[key]
    with open(info["private_key_path"], "rb") as fh:
        assert b"PRIVATE KEY" in fh.read()


def test_latency_and_call_counters(sf_client, control, pardot_session, sandbox):
    assert control.post("latency", {"salesforce_ms": 5, "pardot_ms": 7}) == \
        {"salesforce_ms": 5, "pardot_ms": 7, "oauth_ms": 0}
    assert control.get("latency")["pardot_ms"] == 7
    control.post("calls/reset")
    sf_client.query("SELECT Id FROM Lead")
    lead = sf_client.Lead.create({"LastName": "X", "Company": "C"})["id"]
    sf_client.Lead.update(lead, {"Title": "T"})
    pardot_session.get(sandbox.info["pardot_base_url"] + "/api/v5/objects/prospects", params={"fields": "id"})
    control.get("calls")   # control calls are never counted
    calls = control.get("calls")
    assert calls["total"] == {"salesforce": 3, "pardot": 1, "oauth": 0}
    assert calls["by_endpoint"] == {
        "pardot GET /api/v5/objects/prospects": 1, "salesforce GET /query": 1,
        "salesforce PATCH /sobjects/{sobject}/{id}": 1, "salesforce POST /sobjects/{sobject}": 1}
    control.post("calls/reset")
    assert control.get("calls")["total"] == {"salesforce": 0, "pardot": 0, "oauth": 0}
    assert "oauth_ms" in control.request("POST", "latency", expect=400, json={"bogus_ms": 1})["message"]


def test_request_level_faults_per_api(sf_client, control, pardot_session, sandbox):
    fault = control.post("faults", {"api": "salesforce", "method": "GET", "path": "/query",
                                    "error_code": "SERVER_UNAVAILABLE", "count": 1})
    assert fault["id"] and control.get("faults")["faults"][0]["count"] == 1
    with pytest.raises(SalesforceGeneralError) as exc:
        sf_client.query("SELECT Id FROM Lead")
    assert exc.value.status == 503 and exc.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf_client.query("SELECT Id FROM Lead")["totalSize"] == 0   # count exhausted
    assert control.get("faults")["faults"] == []

    control.post("faults", {"api": "pardot", "error_code": 122, "count": 2})
    url = sandbox.info["pardot_base_url"] + "/api/v5/objects/account"
    resp = pardot_session.get(url, params={"fields": "apiCallsUsed"})
    assert resp.status_code == 429 and resp.json()["code"] == 122
    control.post("faults", {"api": "oauth", "error_code": "invalid_grant", "message": "down for maintenance"})
    token = trusting_session(sandbox.info).post(sandbox.info["login_url"] + "/services/oauth2/token",
                                                data={"grant_type": "x"}, timeout=30)
    assert token.status_code == 400 and token.json() == {"error": "invalid_grant",
                                                         "error_description": "down for maintenance"}
    control.delete("faults")
    assert control.get("faults")["faults"] == []
    assert pardot_session.get(url, params={"fields": "apiCallsUsed"}).status_code == 200


def test_probability_faults(sf_client, control):
    control.post("faults", {"api": "salesforce", "error_code": "UNABLE_TO_LOCK_ROW", "probability": 1.0})
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.query("SELECT Id FROM Lead")
    control.delete("faults")
    control.post("faults", {"api": "salesforce", "error_code": "UNABLE_TO_LOCK_ROW", "probability": 0})
    assert sf_client.query("SELECT Id FROM Lead")["done"] is True


@pytest.mark.parametrize("spec, words", [
    ({"api": "ftp", "error_code": "X"}, "api"),
    ({"api": "pardot", "error_code": "66"}, "integer"),
    ({"api": "salesforce", "error_code": "X", "path": "("}, "regex"),
    ({"api": "salesforce", "error_code": "X", "count": 0}, "count"),
    ({"api": "pardot", "error_code": 66, "record_match": {"email": "a@b.c"}}, "record_match"),
])
def test_bad_fault_specs_are_refused(fresh, control, spec, words):
    assert words in control.request("POST", "faults", expect=400, json=spec)["message"]


def test_per_record_faults_in_collections_and_single_writes(sf_client, control):
    control.post("faults", {"api": "salesforce", "error_code": "UNABLE_TO_LOCK_ROW",
                            "record_match": {"Email": "Locked@Example.com"}, "count": 2})
    res = sf_client.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "C", "Email": "a@example.com"},
        {"attributes": {"type": "Lead"}, "LastName": "L", "Company": "C", "Email": "locked@example.com"},
        {"attributes": {"type": "Lead"}, "LastName": "B", "Company": "C", "Email": "b@example.com"}]})
    assert [r["success"] for r in res] == [True, False, True]
    assert res[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Lead.create({"LastName": "L", "Company": "C", "Email": "locked@example.com"})
    assert exc.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf_client.Lead.create({"LastName": "L", "Company": "C", "Email": "locked@example.com"})["success"]


def test_records_endpoints(fresh, control):
    inserted = control.post("records/salesforce/Contact", {"records": [
        {"LastName": "One", "Email": "Same@Example.com"}, {"LastName": "Two", "Email": "other@example.com"}]})
    assert [r["Id"][:3] for r in inserted["records"]] == ["003", "003"]
    found = control.get("records/salesforce/Contact", params={"email": "same@example.com"})["records"]
    assert [r["LastName"] for r in found] == ["One"]
    assert len(control.get("records/salesforce/Contact")["records"]) == 2
    users = control.get("records/salesforce/User")["records"]
    assert [u["Username"] for u in users] == [fresh.info["username"]]
    prospects = control.post("records/pardot/prospects", {"records": [{"email": "p@example.com"}]})["records"]
    assert prospects[0]["id"] and control.get("records/pardot/prospects", params={"email": "P@example.com"})[
        "records"][0]["email"] == "p@example.com"
    pardot_users = control.get("records/pardot/users")["records"]
    assert [(u["email"], u["roleName"]) for u in pardot_users] == [(fresh.info["username"], "Administrator")]
    assert control.request("GET", "records/salesforce/Nope", expect=404)["error"] == "not_found"
    assert "unknown Pardot object" in control.request("GET", "records/pardot/nope", expect=400)["message"]


def test_convert_lead(sf_client, control):
    lead_id = sf_client.Lead.create({"FirstName": "Con", "LastName": "Vert", "Company": "Convert Co",
                                     "Email": "convert@example.com"})["id"]
    before = sf_client.Lead.get(lead_id)
    result = control.post("salesforce/convert-lead", {"lead_id": lead_id})
    lead = sf_client.Lead.get(lead_id)
    assert lead["IsConverted"] is True and lead["Status"] == "Closed - Converted"
    assert lead["ConvertedContactId"] == result["contactId"] and lead["ConvertedAccountId"] == result["accountId"]
    assert lead["ConvertedDate"] and lead["SystemModstamp"] > before["SystemModstamp"]
    contact = sf_client.Contact.get(result["contactId"])
    assert contact["Email"] == "convert@example.com" and contact["AccountId"] == result["accountId"]
    assert sf_client.Account.get(result["accountId"])["Name"] == "Convert Co"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.Lead.update(lead_id, {"Title": "x"})
    assert exc.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    other = sf_client.Lead.create({"LastName": "Second", "Company": "X"})["id"]
    again = control.post("salesforce/convert-lead", {"lead_id": other, "account_id": result["accountId"]})
    assert again["accountId"] == result["accountId"]
    assert control.request("POST", "salesforce/convert-lead", expect=400, json={"lead_id": lead_id})[
        "error"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_undelete(sf_client, control):
    lead_id = sf_client.Lead.create({"LastName": "Phoenix", "Company": "C"})["id"]
    sf_client.Lead.delete(lead_id)
    binned = sf_client.query_all("SELECT SystemModstamp FROM Lead", include_deleted=True)["records"][0]
    control.post("salesforce/undelete", {"object": "Lead", "id": lead_id})
    back = sf_client.query("SELECT Id, IsDeleted, SystemModstamp FROM Lead")["records"]
    assert [r["Id"] for r in back] == [lead_id] and back[0]["IsDeleted"] is False
    assert back[0]["SystemModstamp"] > binned["SystemModstamp"]
    assert control.request("POST", "salesforce/undelete", expect=400,
                           json={"object": "Lead", "id": lead_id})["error"] == "UNDELETE_FAILED"


def test_settings_validation(fresh, control):
    assert control.get("salesforce/settings")["token_lifetime_s"] == 7200
    assert "unknown" in control.request("PATCH", "salesforce/settings", expect=400, json={"nope": 1})["message"]
    assert "daily_api_max" in control.request("PATCH", "salesforce/settings", expect=400,
                                              json={"daily_api_max": -1})["message"]
    pardot = control.patch("pardot/settings", {"ampsea": True})
    assert pardot["ampsea"] is True and control.get("pardot/settings")["ampsea"] is True
    control.post("reset")
    assert control.get("pardot/settings")["ampsea"] is False


def test_pardot_concurrency_limit(fresh, control, pardot_session, sandbox):
    control.post("latency", {"pardot_ms": 800})
    url = sandbox.info["pardot_base_url"] + "/api/v5/objects/account"
    results, barrier = [], threading.Barrier(10)

    def call():
        session = trusting_session(sandbox.info)
        session.headers.update(pardot_session.headers)
        barrier.wait()
        resp = session.get(url, params={"fields": "apiCallsUsed"}, timeout=30)
        results.append((resp.status_code, resp.json().get("code")))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (429, 66) in results
    assert set(results) <= {(200, None), (429, 66)}
    control.post("latency", {"pardot_ms": 0})
    # every slot was released again
    assert all(pardot_session.get(url, params={"fields": "apiCallsUsed"}).status_code == 200 for _ in range(6))


def test_pardot_daily_limit(fresh, control, pardot_session, sandbox):
    used = control.get("pardot/settings")["apiCallsUsed"]
    control.patch("pardot/settings", {"maximumDailyApiCalls": used + 1})
    url = sandbox.info["pardot_base_url"] + "/api/v5/objects/account"
    assert pardot_session.get(url, params={"fields": "apiCallsUsed"}).status_code == 200
    resp = pardot_session.get(url, params={"fields": "apiCallsUsed"})
    assert resp.status_code == 429 and resp.json()["code"] == 122


def snapshot(control):
    sf = {obj: sorted((r.get("Email") or r.get("PersonEmail") or r.get("Name"), r.get("Name"), r.get("Phone"))
                      for r in control.get(f"records/salesforce/{obj}")["records"])
          for obj in ("Lead", "Contact", "Account", "User", "Campaign")}
    prospects = control.get("records/pardot/prospects")["records"]
    return sf, sorted((p["email"], p["firstName"], p["score"], p["assignedToId"] is None) for p in prospects)


def test_seed_is_deterministic(fresh, control):
    params = {"seed": 7, "leads": 40, "contacts": 30, "person_accounts": 10, "prospects": 100, "users": 8,
              "campaigns": 3, "overlap": 0.3, "assigned": 0.5}
    counts = control.post("seed", params)
    assert counts == {"seed": 7, "users": 13, "leads": 40, "contacts": 30, "accounts": 6, "person_accounts": 10,
                      "campaigns": 3, "prospects": 100, "overlapping_prospects": 30}
    first = snapshot(control)
    control.post("reset")
    control.post("seed", params)
    assert snapshot(control) == first
    control.post("reset")
    control.post("seed", {**params, "seed": 8})
    assert snapshot(control) != first

    sf_emails = {e.lower() for obj in ("Lead", "Contact", "Account") for e, _, _ in first[0][obj] if "@" in e}
    prospects = first[1]
    assert sum(1 for p in prospects if p[0].lower() in sf_emails) == 30
    assert 25 <= sum(1 for p in prospects if not p[3]) <= 75
    users = control.get("records/pardot/users")["records"]
    roles = {u["email"]: u["roleName"] for u in users}
    assert roles["admin@sandbox.example"] == roles["admin2@sandbox.example"] == "Administrator"
    assert roles["marketing@sandbox.example"] == "Marketing" and roles["sales@sandbox.example"] == "Sales"
    assert roles["salesmgr@sandbox.example"] == "Sales Manager"
    sf_users = {u["Email"] for u in control.get("records/salesforce/User")["records"]}
    assert set(roles) == sf_users
    assert "unknown seed parameter" in control.request("POST", "seed", expect=400, json={"lemons": 1})["message"]


def test_seed_100k_records(fresh, control, sf_client):
    counts = control.post("seed", {"seed": 3, "leads": 40000, "contacts": 20000, "person_accounts": 10000,
                                   "prospects": 30000, "users": 10, "campaigns": 10})
    assert counts["leads"] + counts["contacts"] + counts["person_accounts"] + counts["prospects"] == 100000
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 40000
    assert sf_client.query("SELECT COUNT() FROM Account WHERE IsPersonAccount = true")["totalSize"] == 10000
    assert control.get("calls")["total"]["salesforce"] == 2   # seeding itself is not counted


def test_python_m_sandbox(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", "0", "--data-dir", str(tmp_path), "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "https://127.0.0.1:" in line, proc.stderr.read()
        info = json.loads((tmp_path / "sandbox.json").read_text())
        assert info["base_url"] in line
        session = trusting_session(info)
        leads = session.get(info["control_url"] + "/records/salesforce/Lead", timeout=30).json()["records"]
        assert len(leads) == 100
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_closes_kept_alive_connections(tmp_path):
    import requests

    from sandbox.server import start_sandbox
    sb = start_sandbox(str(tmp_path))
    session = trusting_session(sb.info)
    assert session.get(sb.info["control_url"] + "/latency", timeout=10).status_code == 200
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(sb.info["control_url"] + "/latency", timeout=10)

"""The sandbox plays Salesforce's connector (issue 10 item 2; R39): the v5 Connector API over HTTPS
with Pardot's error bodies, and the simulated connector's own loop every `period` seconds."""
from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import make_sf_token, trusting_session


@pytest.fixture
def pardot(sandbox, native):
    session = trusting_session(sandbox.info)
    session.headers.update({"Authorization": "Bearer " + make_sf_token(sandbox),
                            "Pardot-Business-Unit-Id": sandbox.info["business_unit_id"]})
    base = sandbox.info["pardot_base_url"] + "/api/v5/connectors/salesforce"
    return lambda method, path="", **kw: session.request(method, base + path, timeout=30, **kw)


def test_read_with_fields(pardot, native):
    native.tick()
    resp = pardot("GET", params={"fields": "name,isPaused,isVerified,isDeleted,lastSyncedAt"})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"name", "isPaused", "isVerified", "isDeleted", "lastSyncedAt"}
    assert body["isPaused"] is False and body["isVerified"] is True and body["lastSyncedAt"]
    assert pardot("GET", params={"fields": "name,secret"}).json()["code"] == 224


@pytest.mark.parametrize("setup, action, words", [
    ({"present": False}, "pause", "no Salesforce connector"),
    ({"version": 1}, "pause", "version 1"),
    ({"paused": True}, "pause", "already paused"),
    ({"paused": False}, "unpause", "not paused"),
])
def test_action_refusals_are_pardot_400s(pardot, native, setup, action, words):
    native.set(**setup)
    resp = pardot("POST", f"/do/{action}")
    assert resp.status_code == 400
    body = resp.json()
    assert set(body) == {"code", "message"} and isinstance(body["code"], int) and words in body["message"]


def test_missing_ability_and_bad_token_are_refused(pardot, native, sandbox):
    native.set(ability=False)
    resp = pardot("GET")
    assert resp.status_code == 403 and "Admin > Connectors" in resp.json()["message"]
    assert pardot("POST", "/do/pause").status_code == 403
    anonymous = trusting_session(sandbox.info).get(sandbox.info["pardot_base_url"] + "/api/v5/connectors/salesforce",
                                                   timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 184


def test_absent_connector_reads_as_not_found(pardot, native):
    native.set(present=False)
    resp = pardot("GET")
    assert resp.status_code == 404 and resp.json()["code"] == 192


def test_the_simulated_connector_syncs_by_itself_every_period_unless_paused(native):
    owner = native.pardot_user_id()
    native.set(period=0.3)
    [p] = native.add_prospects({"email": "loop@example.com", "lastName": "Loop", "assignedToId": owner})
    deadline = time.monotonic() + 30
    while not native.prospect(p["id"])["salesforceId"]:
        assert time.monotonic() < deadline, "the simulated connector never ran"
        time.sleep(0.1)
    synced = native.prospect(p["id"])
    assert synced["salesforceLeadId"] == synced["salesforceId"] and synced["salesforceLastSync"]
    leads = native.control.get("records/salesforce/Lead")["records"]
    assert [lead["Email"] for lead in leads if lead["Id"] == synced["salesforceId"]] == ["loop@example.com"]
    # Paused: a new assigned prospect waits.
    native.set(paused=True)
    ticks = native.state()["ticks"]
    [q] = native.add_prospects({"email": "wait@example.com", "lastName": "Wait", "assignedToId": owner})
    time.sleep(1.0)  # several periods
    assert native.prospect(q["id"])["salesforceId"] is None and native.state()["ticks"] == ticks


def test_control_validation(native):
    with pytest.raises(AssertionError, match="version must be 1 or 2"):
        native.set(version=3)
    with pytest.raises(AssertionError, match="unknown connector setting"):
        native.set(colour="red")

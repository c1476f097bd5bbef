"""A World: the connector, both orgs and the store, for end-to-end tests of the rules."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from sync.models import Connector, Cursor, RecordLink, SyncError, utcnow
from tests.sandbox.conftest import make_sf_client, make_sf_token


class World:
    def __init__(self, runtime, service, control, admin, admin2, operator, sandbox):
        self.rt, self.service, self.control = runtime, service, control
        self.admin, self.admin2, self.operator = admin, admin2, operator
        self.sandbox = sandbox
        self._api = None

    @property
    def api(self):
        """simple-salesforce as the integration user: changes made the way a person's tools make them."""
        if self._api is None:
            self._api = make_sf_client(self.sandbox, make_sf_token(self.sandbox))
        return self._api

    def pardot(self, method: str, path: str, **kwargs):
        session = requests.Session()
        session.trust_env = False
        session.verify = self.sandbox.info["ca_path"]
        session.headers.update({"Authorization": "Bearer " + make_sf_token(self.sandbox),
                                "Pardot-Business-Unit-Id": self.sandbox.info["business_unit_id"]})
        resp = session.request(method, self.sandbox.info["pardot_base_url"] + "/api/v5/" + path.lstrip("/"),
                               timeout=30, **kwargs)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None

    # ---- connector
    def create(self, version: int = 2, **kwargs) -> dict:
        kwargs.setdefault("error_queue_owner", "#sync-errors")
        return self.service.create_connector(self.admin, version=version, **kwargs)

    @property
    def cid(self) -> int:
        return self.service.connector_id()

    def cycle(self) -> dict:
        return self.rt.engine().run_cycle(self.cid)

    def activate(self) -> None:
        """The real path out of paused: a cycle verifies, a request, a second admin approves (R7)."""
        self.cycle()
        self.service.update_settings(self.admin, {"ampsea": self.connector().ampsea})
        request = self.service.request_reactivation(self.operator, "go")
        self.service.approve_reactivation(self.admin2, request["id"])
        assert self.connector().state == "active"

    def connector(self) -> Connector:
        with self.rt.store.session() as s:
            return s.scalars(select(Connector)).one()

    # ---- sandbox data (control API: no API calls counted)
    def add_sf(self, sobject: str, *records: dict) -> list[dict]:
        return self.control.post(f"records/salesforce/{sobject}", {"records": list(records)})["records"]

    def add_prospects(self, *records: dict) -> list[dict]:
        return self.control.post("records/pardot/prospects", {"records": list(records)})["records"]

    def sf(self, sobject: str, **match) -> list[dict]:
        rows = self.control.get(f"records/salesforce/{sobject}")["records"]
        return [r for r in rows if all(r.get(k) == v for k, v in match.items())]

    def prospects(self, **match) -> list[dict]:
        rows = self.control.get("records/pardot/prospects")["records"]
        email = match.pop("email", None)
        return [r for r in rows if all(r.get(k) == v for k, v in match.items())
                and (email is None or (r.get("email") or "").lower() == email.lower())]

    def pardot_user(self, email: str) -> dict:
        return next(u for u in self.control.get("records/pardot/users")["records"] if u["email"] == email)

    def sf_user(self, email: str) -> dict:
        return next(u for u in self.sf("User") if u["Email"] == email)

    def calls(self) -> dict:
        return self.control.get("calls")

    def reset_calls(self) -> None:
        self.control.post("calls/reset")

    # ---- store
    def links(self) -> list[RecordLink]:
        with self.rt.store.session() as s:
            return list(s.scalars(select(RecordLink)))

    def crm_of(self, prospect_id: int) -> str | None:
        """The CRM id our store links this prospect to (R10: the store is the link's home)."""
        return next((l.crm_id for l in self.links() if l.prospect_id == prospect_id), None)

    def use_crm_field(self, name: str = "Salesforce_CRM_Id__c") -> str:
        """The admin's custom prospect field for the CRM id: a row in the sandbox org's custom
        fields (as its custom-fields API makes one), named in the connector's settings, and seen
        by the worker (Connector.checks, as the cycle's metadata step records it)."""
        org = self.sandbox.pardot
        now = int(org.now())
        with org.lock:
            org.custom_fields[name] = {
                "id": len(org.custom_fields) + 1, "name": "Salesforce CRM Id", "fieldId": name, "type": "Text",
                "isRequired": False, "isRecordMultipleResponses": False, "salesforceId": None,
                "createdAt": now, "updatedAt": now, "createdById": None, "updatedById": None}
        with self.rt.store.session() as s:
            c = s.scalars(select(Connector)).one()
            c.settings = {**(c.settings or {}), "crm_id_field": name}
            c.checks = {**(c.checks or {}), "pardot_custom_fields": {
                "ok": True, "at": utcnow().isoformat(), "names": sorted(org.custom_fields), "reason": None}}
        return name

    def errors(self, **match) -> list[SyncError]:
        with self.rt.store.session() as s:
            rows = list(s.scalars(select(SyncError).order_by(SyncError.id)))
        return [e for e in rows if all(getattr(e, k) == v for k, v in match.items())]

    def cursors(self) -> dict:
        with self.rt.store.session() as s:
            return {c.name: c.value for c in s.scalars(select(Cursor))}


@pytest.fixture
def world(runtime, service, control, admin, admin2, operator, sandbox) -> World:
    # The fixed people (admin@, admin2@, marketing@, salesmgr@, sales@) on both sides, no records.
    control.post("seed", {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 0,
                          "campaigns": 0})
    return World(runtime, service, control, admin, admin2, operator, sandbox)

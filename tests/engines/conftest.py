"""The salesforce engine (issue 10, R35–R39): Salesforce's own connector, played by the sandbox."""
from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import select

from sync.models import AuditEntry, Connector, UserMatch
from tests.api.conftest import Api, api, app, tokens  # noqa: F401  (the REST API fixtures, contract-checked)
from tests.bot.conftest import fake_slack, fake_slack_server, fast_pacing, slack, slack_runtime, web  # noqa: F401  (signed Slack)
from tests.sandbox.conftest import make_sf_token, trusting_session


class Native:
    """The org's native connector (sandbox control API) and our connector on the salesforce engine."""

    def __init__(self, runtime, service, control, admin, admin2, operator, sandbox):
        self.rt, self.service, self.control, self.sandbox = runtime, service, control, sandbox
        self.admin, self.admin2, self.operator = admin, admin2, operator

    def set(self, **changes) -> dict:
        return self.control.post("sf-connector", changes)

    def state(self) -> dict:
        return self.control.get("sf-connector")

    def tick(self) -> dict:
        return self.control.post("sf-connector/tick")

    def calls(self) -> dict:
        return self.control.get("calls")["by_endpoint"]

    def reset_calls(self) -> None:
        self.control.post("calls/reset")

    def create(self, **kwargs) -> dict:
        kwargs.setdefault("error_queue_owner", "#sync-errors")
        return self.service.create_connector(self.admin, engine="salesforce", **kwargs)

    def cycle(self) -> dict:
        from sync.tasks import run_cycle

        return run_cycle(self.service.connector_id())

    def settings(self, **changes) -> dict:
        return self.service.update_settings(self.admin, changes)

    def connector(self) -> Connector:
        with self.rt.store.session() as s:
            return s.scalars(select(Connector)).one()

    def audit(self, action: str) -> list[AuditEntry]:
        with self.rt.store.session() as s:
            return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))

    def events(self, name: str) -> list[dict]:
        return [payload for event, payload in self.rt.events if event == name]

    def add_prospects(self, *records: dict) -> list[dict]:
        return self.control.post("records/pardot/prospects", {"records": list(records)})["records"]

    def prospect(self, pid: int) -> dict:
        return next(r for r in self.control.get("records/pardot/prospects")["records"] if r["id"] == pid)

    def edit_prospect(self, pid: int, **values) -> dict:
        """A person's edit through Pardot's API (updatedAt moves; salesforceLastSync does not).

        Pardot's stamps are whole seconds: the edit waits for the second after the record's last
        write, so it is told apart from the connector's own write (as any later edit is)."""
        last = datetime.fromisoformat(self.prospect(pid)["updatedAt"]).timestamp()
        while time.time() < last + 1:
            time.sleep(0.05)
        session = trusting_session(self.sandbox.info)
        resp = session.patch(f"{self.sandbox.info['pardot_base_url']}/api/v5/objects/prospects/{pid}",
                             params={"fields": "id,updatedAt"}, json=values, timeout=30,
                             headers={"Authorization": "Bearer " + make_sf_token(self.sandbox),
                                      "Pardot-Business-Unit-Id": self.sandbox.info["business_unit_id"]})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def cycle_until(self, predicate, what: str, deadline: float = 60):
        """Health checks until `predicate()` holds (thresholds are seconds: a generous deadline, no timing)."""
        end = time.monotonic() + deadline
        while True:
            self.cycle()
            if predicate():
                return
            assert time.monotonic() < end, f"no {what} within {deadline} s"
            time.sleep(0.3)

    def errors(self, **filters) -> list[dict]:
        return self.service.list_errors(self.admin, **filters)["items"]

    def pardot_user_id(self) -> int:
        return self.control.get("records/pardot/users")["records"][0]["id"]

    def match_roles(self) -> None:
        """Pardot roles of the test principals (R33) without a builtin metadata cycle."""
        cid = self.service.connector_id()
        with self.rt.store.session() as s:
            for email, role in (("admin@sandbox.example", "Administrator"), ("admin2@sandbox.example", "Administrator"),
                                ("marketing@sandbox.example", "Marketing"), ("sales@sandbox.example", "Sales")):
                s.merge(UserMatch(connector_id=cid, email=email, pardot_role=role))


@pytest.fixture
def native(runtime, service, control, admin, admin2, operator, sandbox) -> Native:
    n = Native(runtime, service, control, admin, admin2, operator, sandbox)
    n.set(present=True, version=2, verified=True, paused=False, period=3600)
    return n

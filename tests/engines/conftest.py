"""The salesforce engine (issue 10, R35–R39): Salesforce's own connector, played by the sandbox."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from sync.models import AuditEntry, Connector, UserMatch


class Native:
    """The org's native connector (sandbox control API) and our connector on the salesforce engine."""

    def __init__(self, runtime, service, control, admin, admin2, operator):
        self.rt, self.service, self.control = runtime, service, control
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
        from sync.jobs import run_cycle

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
def native(runtime, service, control, admin, admin2, operator) -> Native:
    n = Native(runtime, service, control, admin, admin2, operator)
    n.set(present=True, version=2, verified=True, paused=False, period=3600)
    return n

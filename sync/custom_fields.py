"""The custom prospect field that carries the CRM id in Pardot (issue 9 item 3).

Real Pardot keeps its link fields read-only; an admin may name a custom field
(setting `crm_id_field`) for people who want to see the CRM id in Pardot. Its existence
is read from Pardot by the worker (metadata step of each cycle, and the create job) and
kept in Connector.checks["pardot_custom_fields"], so the checklist never calls Pardot."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from .models import Connector, utcnow
from .remote import RemoteCallError

log = logging.getLogger("connector.custom_fields")
SETTING = "crm_id_field"
CHECK = "pardot_custom_fields"
FIELDS = ["id", "name", "fieldId", "type"]
LABEL = "Salesforce CRM Id"  # the display name of a field the connector creates
RECHECK = timedelta(minutes=30)  # how long a "the field exists" answer is trusted


def configured(connector: Connector) -> str | None:
    return (connector.settings or {}).get(SETTING)


def refresh(store, pardot, connector_id: int) -> dict:
    """Reads the custom fields' API names into the connector's checks; a refusal is recorded, not raised."""
    try:
        names = sorted(f["fieldId"] for f in pardot.query("custom-fields", FIELDS) if f.get("fieldId"))
        check = {"ok": True, "at": utcnow().isoformat(), "names": names, "reason": None}
    except RemoteCallError as exc:
        log.warning("reading Pardot custom fields failed: %s", exc.error.message)
        check = {"ok": False, "at": utcnow().isoformat(), "names": [], "reason": exc.error.message}
    with store.session() as s:
        c = s.get(Connector, connector_id)
        c.checks = {**(c.checks or {}), CHECK: check}
    return check


def refresh_if_named(store, pardot, connector: Connector) -> None:
    """The metadata step's part: only when an admin named a field, and at most every RECHECK while
    Pardot is known to have it (one call, not one per cycle, R29); a missing field is looked for
    every cycle so the checklist turns green soon after someone creates it in Pardot."""
    name = configured(connector)
    if not name:
        return
    last = (connector.checks or {}).get(CHECK) or {}
    if last.get("ok") and name in last.get("names", []) and \
            utcnow() - datetime.fromisoformat(last["at"]) < RECHECK:
        return
    refresh(store, pardot, connector.id)


def create(store, pardot, connector_id: int, field_id: str) -> dict:
    """Creates the named field unless Pardot has it already; the outcome of the job."""
    before = refresh(store, pardot, connector_id)
    if not before["ok"]:
        return {"ok": False, "category": "permission", "code": "CUSTOM_FIELDS_UNREADABLE",
                "message": f"could not read Pardot's custom fields: {before['reason']}"}
    if field_id in before["names"]:
        return {"ok": True, "action": "exists", "field": field_id,
                "message": f"Pardot already has the custom prospect field {field_id}"}
    try:
        created = pardot.create_custom_field({"name": LABEL, "fieldId": field_id, "type": "Text"},
                                             ["id", "fieldId"])
    except RemoteCallError as exc:
        refresh(store, pardot, connector_id)
        return {"ok": False, "category": exc.error.category, "code": exc.error.code,
                "message": f"Pardot refused to create the custom field {field_id}: {exc.error.message}"}
    refresh(store, pardot, connector_id)
    return {"ok": True, "action": "created", "field": field_id, "pardot_id": created.get("id"),
            "message": f"created the custom prospect field {field_id} in Pardot"}

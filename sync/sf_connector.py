"""Pardot v5 Salesforce Connector API: read, pause, unpause (R36), over PardotClient's requests.

What Salesforce's public material showed (looked up 2026-11-30, search tool, docs + code):
- Pardot's own object definition for the v5 resource: customUrlPath /api/{version}/connectors/salesforce,
  isSingleton, read operation only, ability ADMIN_CONNECTORS_VIEW ("Admin > Connectors > View"),
  behind feature flag feature.api.enable_v5_salesforce_connector_api; fields name (string),
  accountId (int), isPaused (bool, derived), isVerified (bool, read-only), isDeleted (bool,
  read-only), lastSyncedAt (datetime); the definition continues past what was visible.
- "Transitioning to V5" lists a Salesforce Connector API for managing a business unit's connector.
What stays inferred (no public page found): the action paths below (v5 actions are
/do/<action>, as /objects/prospects/{id}/do/undelete), that they take no body and answer
2xx, the ability they need (we assume Admin > Connectors > Edit), Pardot's error codes for
the refusals (HTTP 400: no connector, not v2, already paused / running), and a `version`
field telling v1 from v2 (the visible definition did not show one; a record without it is
taken as v2, the only version the actions accept)."""
from __future__ import annotations

from datetime import datetime

from .records import parse_datetime
from .remote import RemoteCallError

# The one place the Connector API's paths live (see the module docstring for what is inferred).
CONNECTOR_PATHS = {
    "read": "/connectors/salesforce",
    "pause": "/connectors/salesforce/do/pause",      # inferred
    "unpause": "/connectors/salesforce/do/unpause",  # inferred
}
CONNECTOR_FIELDS = ("name", "isPaused", "isVerified", "isDeleted", "lastSyncedAt", "version")


def read_connector(pardot) -> dict | None:
    """The connector as a plain dict, or None when the business unit has none (404)."""
    try:
        raw = pardot._request("GET", CONNECTOR_PATHS["read"], params={"fields": ",".join(CONNECTOR_FIELDS)})
    except RemoteCallError as exc:
        if exc.status == 404:
            return None
        raise
    last = raw.get("lastSyncedAt")
    return {"name": raw.get("name"), "version": int(raw.get("version") or 2),
            "paused": bool(raw.get("isPaused")), "verified": bool(raw.get("isVerified")),
            "deleted": bool(raw.get("isDeleted")),
            "last_synced_at": parse_datetime(last) if isinstance(last, str) else None}


def pause_connector(pardot) -> None:
    pardot._request("POST", CONNECTOR_PATHS["pause"], idempotent=False)


def unpause_connector(pardot) -> None:
    pardot._request("POST", CONNECTOR_PATHS["unpause"], idempotent=False)


def plain_refusal(exc: RemoteCallError, action: str) -> str:
    """Pardot's refusal in words a person acts on (R36); Pardot's own message kept at the end."""
    message = exc.error.message.split(": ", 1)[-1]
    low = message.lower()
    if exc.status == 403 or exc.error.category == "permission":
        why = ("the Pardot user this app signs in as lacks the \"Admin > Connectors\" ability; give its role "
               "that ability in Account Engagement Settings > User Management > Roles")
    elif exc.status == 404 or "no salesforce connector" in low:
        why = "this business unit has no Salesforce connector"
    elif "already paused" in low:
        why = "Salesforce's connector is already paused"
    elif "not paused" in low or "already running" in low:
        why = "Salesforce's connector is not paused (it is running)"
    elif "version" in low:
        why = "Salesforce's connector is version 1; pause and unpause work on connector version 2 only"
    elif exc.error.category == "auth":
        why = "Pardot refused the app's credentials"
    else:
        why = "Pardot refused it"
    return f"Pardot refused to {action} Salesforce's connector: {why}. (Pardot said: {message})"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

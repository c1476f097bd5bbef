"""The pre-reactivation checklist (R30).

It reads only the store: the remote facts (credentials, describe, users) are
refreshed by every cycle, which runs while paused too (R5), so a web request or
a Slack command never waits on Salesforce or Pardot."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .mapping import Mapping, check_against_describe
from .models import Connector, FieldMapping, MdsRule, Prospect, UserMatch

STALE_AFTER = timedelta(minutes=30)


def _item(key: str, title: str, result: str, reason: str) -> dict:
    return {"key": key, "title": title, "result": result, "reason": reason}


def _credential_item(checks: dict, side: str, title: str) -> dict:
    check = checks.get(side)
    if not check:
        return _item(f"{side}_credentials", title, "fail",
                     "not verified yet: the next cycle verifies them (within the poll interval)")
    at = datetime.fromisoformat(check["at"])
    if not check.get("ok"):
        return _item(f"{side}_credentials", title, "fail", f"refused at {check['at']}: {check.get('reason')}")
    if datetime.now(timezone.utc) - at > STALE_AFTER:
        return _item(f"{side}_credentials", title, "warn", f"last verified {check['at']}, over 30 minutes ago")
    return _item(f"{side}_credentials", title, "pass", f"verified at {check['at']}")


def _crm_id_field_item(c: Connector, checks: dict) -> dict:
    """The custom field an admin named for the CRM id exists in Pardot (issue 9 item 3); read by the
    worker into checks (metadata step, or the create job), never from here."""
    title = "Custom field for the CRM id exists in Pardot"
    name = (c.settings or {}).get("crm_id_field")
    if not name:
        return _item("crm_id_field", title, "pass",
                     "none named: the link is kept in the connector's store only (set crm_id_field to show it)")
    read = checks.get("pardot_custom_fields")
    if not read:
        return _item("crm_id_field", title, "warn",
                     f"{name} not checked yet: the next cycle reads Pardot's custom fields")
    if not read.get("ok"):
        return _item("crm_id_field", title, "fail",
                     f"could not read Pardot's custom fields at {read['at']}: {read.get('reason')}")
    if name not in read.get("names", []):
        return _item("crm_id_field", title, "fail",
                     f"Pardot has no custom prospect field {name} (read at {read['at']}); create it "
                     "(POST /api/v1/settings/crm-id-field) or name an existing one")
    return _item("crm_id_field", title, "pass", f"{name} exists in Pardot (read at {read['at']})")


def build_checklist(s: Session, c: Connector, config) -> dict:  # noqa: ARG001 - the service passes it
    checks = c.checks or {}
    rules = {r.sobject: r for r in s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id))}
    items = [
        _credential_item(checks, "salesforce", "Salesforce credentials verified"),
        _credential_item(checks, "pardot", "Pardot credentials verified"),
        _item("connector_version", "Connector version known",
              "pass" if c.version in (1, 2) else "fail", f"version {c.version}"),
        _connector_user_item(s, c),
        _mds_item(s, c, checks, rules),
        _mappings_item(s, c, checks, rules),
        _item("ampsea", "AMPSEA setting reviewed", "pass" if c.ampsea_reviewed else "warn",
              f"allow multiple prospects with the same email is {'on' if c.ampsea else 'off'}"
              + ("" if c.ampsea_reviewed else "; not reviewed yet (set it explicitly in the settings)")),
        _user_matching_item(s, c),
        _crm_id_field_item(c, checks),
        _item("error_queue_owner", "Sync error queue owner set",
              "pass" if c.error_queue_owner else "fail",
              f"errors go to {c.error_queue_owner}" if c.error_queue_owner
              else "nobody monitors the sync error queue; set error_queue_owner"),
    ]
    return {"passed": not any(i["result"] == "fail" for i in items), "items": items,
            "checked_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}


def _connector_user_item(s: Session, c: Connector) -> dict:
    """The connector user (R3): the integration user, or an active Salesforce user."""
    title = "Connector user chosen and valid"
    if c.connector_user == "integration":
        return _item("connector_user", title, "pass", "the integration user (syncs all records)")
    user = s.scalars(select(UserMatch).where(UserMatch.connector_id == c.id,
                                             func.lower(UserMatch.salesforce_username) == c.connector_user.lower())
                     ).first()
    if user is None:
        return _item("connector_user", title, "fail",
                     f"no Salesforce user {c.connector_user} seen in the last metadata sync")
    if not user.salesforce_active:
        return _item("connector_user", title, "fail", f"Salesforce user {c.connector_user} is inactive")
    return _item("connector_user", title, "pass", f"custom connector user {c.connector_user}")


def _mds_item(s: Session, c: Connector, checks: dict, rules: dict) -> dict:
    """Marketing Data Sharing (R3, R22)."""
    title = "Marketing Data Sharing"
    shared = s.scalar(select(func.count()).select_from(Connector).where(
        Connector.connector_user == "integration")) or 0
    if c.mds_enabled:
        missing = {"Lead", "Contact"} - set(rules)
        describe = checks.get("describe", {})
        bad = [f"{r.sobject}.{r.field} does not exist" for r in rules.values()
               if describe.get(r.sobject) and r.field not in describe[r.sobject]]
        if missing:
            return _item("mds", title, "fail", f"rules missing for {', '.join(sorted(missing))} (R22)")
        if bad:
            return _item("mds", title, "fail", "; ".join(bad))
        return _item("mds", title, "pass",
                     ", ".join(f"{r.sobject}.{r.field} = {r.value!r}" for r in rules.values()))
    if c.connector_user == "integration" and shared > 1:
        return _item("mds", title, "fail",
                     "several business units share the integration user; MDS is required (R3)")
    return _item("mds", title, "pass", "MDS off: every record is synced")


def _mappings_item(s: Session, c: Connector, checks: dict, rules: dict) -> dict:
    """Field mappings against the Salesforce describe."""
    mappings = [Mapping(m.pardot_field, m.lead_field, m.contact_field, m.account_field, m.behaviour,
                        m.overwrite_with_empty)
                for m in s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id))]
    describe = checks.get("describe")
    if not describe:
        return _item("field_mappings", "Field mappings valid", "fail",
                     "the Salesforce describe has not been read yet (the next cycle reads it)")
    problems = check_against_describe(mappings, describe, {o: r.field for o, r in rules.items()})
    return _item("field_mappings", "Field mappings valid", "fail" if problems else "pass",
                 "; ".join(f"{k}: {v}" for k, v in problems.items()) if problems
                 else f"{len(mappings)} mappings fit the describe")


def _user_matching_item(s: Session, c: Connector) -> dict:
    """Owners: every Pardot user prospects are assigned to has a Salesforce user."""
    assigned = set(s.scalars(select(Prospect.assigned_to_id).distinct().where(
        Prospect.connector_id == c.id, Prospect.assigned_to_id.is_not(None), Prospect.is_deleted.is_(False))))
    matches = {m.pardot_user_id: m for m in s.scalars(select(UserMatch).where(
        UserMatch.connector_id == c.id, UserMatch.pardot_user_id.in_(assigned)))} if assigned else {}
    unmatched = [m.email for m in matches.values() if not m.salesforce_user_id]
    unknown = len(assigned - set(matches))
    if unmatched or unknown:
        names = ", ".join(sorted(unmatched)[:5]) + (f" and {unknown} unknown users" if unknown else "")
        return _item("user_matching", "Pardot users matched to Salesforce users", "warn",
                     f"no Salesforce user for {names}; their prospects' leads go to the connector user")
    return _item("user_matching", "Pardot users matched to Salesforce users", "pass",
                 "every assigned owner has a Salesforce user")

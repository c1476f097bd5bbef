"""Raw API records → the mirror's shape (values keyed by Pardot field name)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from .mapping import Mapping
from .merge import normalize

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Read-only in Pardot (only Salesforce's own connector sets them): read as a matching hint,
# never written (R10; the link lives in our store).
PROSPECT_LINK_FIELDS = ("salesforceId", "salesforceLeadId", "salesforceContactId", "salesforceAccountId")
PROSPECT_META_FIELDS = ("id", "email", "updatedAt", "isDeleted", "assignedToId", *PROSPECT_LINK_FIELDS)
SF_META_FIELDS = {
    "Lead": ("Id", "SystemModstamp", "IsDeleted", "OwnerId", "IsConverted", "ConvertedContactId", "Email"),
    "Contact": ("Id", "SystemModstamp", "IsDeleted", "OwnerId", "Email"),
    "Account": ("Id", "SystemModstamp", "IsDeleted", "OwnerId", "PersonEmail"),
}
EMAIL_FIELD = {"Lead": "Email", "Contact": "Email", "Account": "PersonEmail"}
# Person accounts sync as contacts; business accounts do not sync.
OBJECT_FILTER = {"Lead": "", "Contact": "IsPersonAccount = false", "Account": "IsPersonAccount = true"}


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]  # Salesforce's +0000
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def soql_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def pardot_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def sf_fields(sobject: str, mappings: list[Mapping], mds_field: str | None) -> list[str]:
    fields = list(SF_META_FIELDS[sobject])
    for m in mappings:
        name = m.field_for(sobject)
        if name and name not in fields:
            fields.append(name)
    if mds_field and mds_field not in fields:
        fields.append(mds_field)
    return fields


def prospect_fields(mappings: list[Mapping], crm_field: str | None = None) -> list[str]:
    fields = list(PROSPECT_META_FIELDS)
    fields += [m.pardot_field for m in mappings if m.pardot_field not in fields]
    if crm_field and crm_field not in fields:
        fields.append(crm_field)
    return fields


@dataclass
class CrmRow:
    crm_id: str
    sobject: str
    email: str | None
    modstamp: datetime
    is_deleted: bool
    converted_to: str | None
    in_mds: bool
    owner_id: str | None
    values: dict

    def as_row(self, connector_id: int) -> dict:
        return {"connector_id": connector_id, "crm_id": self.crm_id, "sobject": self.sobject,
                "email": self.email, "modstamp": self.modstamp, "is_deleted": self.is_deleted,
                "converted_to": self.converted_to, "in_mds": self.in_mds, "owner_id": self.owner_id,
                "values": self.values}

    @classmethod
    def from_model(cls, m) -> "CrmRow":
        return cls(m.crm_id, m.sobject, m.email, m.modstamp, m.is_deleted, m.converted_to, m.in_mds,
                   m.owner_id, dict(m.values))


def crm_row(sobject: str, raw: dict, mappings: list[Mapping], mds_rule: tuple[str, str] | None) -> CrmRow:
    values = {}
    for m in mappings:
        name = m.field_for(sobject)
        if name:
            values[m.pardot_field] = normalize(raw.get(name))
    email = normalize(raw.get(EMAIL_FIELD[sobject]))
    converted = raw.get("ConvertedContactId") if raw.get("IsConverted") else None
    # R22: equals, case-sensitive; no rule for the object means every record is shared.
    in_mds = mds_rule is None or raw.get(mds_rule[0]) == mds_rule[1]
    return CrmRow(raw["Id"], sobject, email.lower() if email else None,
                  parse_datetime(raw.get("SystemModstamp")) or EPOCH, bool(raw.get("IsDeleted")),
                  converted, in_mds, raw.get("OwnerId"), values)


@dataclass
class ProspectRow:
    prospect_id: int
    email: str | None
    updated_at: datetime
    is_deleted: bool
    assigned_to_id: int | None
    crm_id: str | None
    values: dict

    def as_row(self, connector_id: int) -> dict:
        return {"connector_id": connector_id, "prospect_id": self.prospect_id, "email": self.email,
                "updated_at": self.updated_at, "is_deleted": self.is_deleted,
                "assigned_to_id": self.assigned_to_id, "crm_id": self.crm_id, "values": self.values}

    @classmethod
    def from_model(cls, m) -> "ProspectRow":
        return cls(m.prospect_id, m.email, m.updated_at, m.is_deleted, m.assigned_to_id, m.crm_id, dict(m.values))


def prospect_row(raw: dict, mappings: list[Mapping], crm_field: str | None = None) -> ProspectRow:
    """`crm_field`: the admin's custom prospect field carrying the CRM id (connector setting
    "crm_id_field"); its value is kept in `values` under its own name, and is the prospect's
    CRM id hint before the salesforce* fields Salesforce's connector may have set."""
    values = {m.pardot_field: normalize(raw.get(m.pardot_field)) for m in mappings}
    email = normalize(raw.get("email"))
    ours = normalize(raw.get(crm_field)) if crm_field else None
    if crm_field:
        values[crm_field] = ours
    crm_id = ours or next((raw[f] for f in PROSPECT_LINK_FIELDS if raw.get(f)), None)
    return ProspectRow(int(raw["id"]), email.lower() if email else None,
                       parse_datetime(raw.get("updatedAt")) or EPOCH, bool(raw.get("isDeleted")),
                       raw.get("assignedToId"), crm_id, values)


def link_values(crm_field: str | None, crm_id: str) -> dict:
    """What a prospect carries of its link: the CRM id in the admin's custom field, if one is
    named; nothing otherwise. The salesforce* fields are Pardot-read-only (R10)."""
    return {crm_field: crm_id} if crm_field else {}

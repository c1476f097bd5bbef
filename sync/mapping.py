"""Field mappings (R14–R16) and their check against the org (R30); their input rules: sync/requests.py."""
from __future__ import annotations

from dataclasses import dataclass

BEHAVIOURS = ("salesforce", "pardot", "most_recent")
SOBJECTS = ("Lead", "Contact", "Account")

# Pardot fields a mapping may name, with the Salesforce field types that can hold them.
PARDOT_FIELDS = {
    "email": {"email", "string"},
    "firstName": {"string"},
    "lastName": {"string"},
    "company": {"string"},
    "jobTitle": {"string"},
    "phone": {"phone", "string"},
    "optedOut": {"boolean"},
    "score": {"double", "int", "currency", "string"},
    "grade": {"string", "picklist"},
}


@dataclass(frozen=True)
class Mapping:
    pardot_field: str
    lead_field: str | None
    contact_field: str | None
    account_field: str | None  # person accounts
    behaviour: str
    overwrite_with_empty: bool = False

    def field_for(self, sobject: str) -> str | None:
        return {"Lead": self.lead_field, "Contact": self.contact_field, "Account": self.account_field}[sobject]

    def as_dict(self) -> dict:
        return {"pardot_field": self.pardot_field, "lead_field": self.lead_field,
                "contact_field": self.contact_field, "account_field": self.account_field,
                "behaviour": self.behaviour, "overwrite_with_empty": self.overwrite_with_empty}


# R16: the defaults every new connector starts with.
DEFAULT_MAPPINGS = (
    Mapping("email", "Email", "Email", "PersonEmail", "most_recent"),
    Mapping("firstName", "FirstName", "FirstName", "FirstName", "most_recent"),
    Mapping("lastName", "LastName", "LastName", "LastName", "most_recent"),
    Mapping("company", "Company", None, None, "most_recent"),
    Mapping("jobTitle", "Title", "Title", "PersonTitle", "most_recent"),
    Mapping("phone", "Phone", "Phone", "Phone", "most_recent"),
    Mapping("optedOut", "HasOptedOutOfEmail", "HasOptedOutOfEmail", "PersonHasOptedOutOfEmail", "most_recent"),
    Mapping("score", "pi__score__c", "pi__score__c", "pi__score__pc", "pardot"),
    Mapping("grade", "pi__grade__c", "pi__grade__c", "pi__grade__pc", "pardot"),
)


def check_against_describe(mappings: list[Mapping], describe: dict[str, dict[str, str]],
                           mds_fields: dict[str, str]) -> dict[str, str]:
    """R30: every mapped field exists, has a fitting type and is not an MDS field (R22)."""
    problems = {}
    for m in mappings:
        for sobject in SOBJECTS:
            name = m.field_for(sobject)
            if not name:
                continue
            fields = describe.get(sobject)
            if fields is None:
                continue
            key = f"{m.pardot_field}.{sobject}"
            ftype = fields.get(name)
            if ftype is None:
                problems[key] = f"{sobject}.{name} does not exist"
            elif ftype not in PARDOT_FIELDS[m.pardot_field]:
                problems[key] = f"{sobject}.{name} is a {ftype} field; {m.pardot_field} needs " \
                                f"{' or '.join(sorted(PARDOT_FIELDS[m.pardot_field]))}"
            elif mds_fields.get(sobject) == name:
                problems[key] = f"{sobject}.{name} is the MDS field and cannot be mapped (R22)"
    return problems

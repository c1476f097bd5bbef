"""The request models: one place for each input rule (issue 12).

The API, the bot and the CLI all reach the service, and the service checks its input with
these models, so a rule is written once; tests/api/test_request_models.py checks that
api/openapi.json says the same (required fields, lengths, enums, bounds). Problems are told
per field in the service's own words (SAY), which the transports show as they are.
Strict models: JSON's true is not 1 and "5" is not 5, as before."""
from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from .mapping import BEHAVIOURS, PARDOT_FIELDS, Mapping
from .models import Connector
from .models import FieldMapping as FieldMappingRow
from .names import ENGINES, ROLES, State

MDS_OBJECTS = ("Lead", "Contact", "Opportunity")
# Pardot's standard prospect fields: not names of a custom field (the link ones are read-only).
STANDARD_PROSPECT_FIELDS = frozenset(name.lower() for name in (
    "id", "isDeleted", "createdAt", "updatedAt", "createdById", "updatedById", "lastActivityAt", "email",
    "salutation", "firstName", "lastName", "company", "jobTitle", "department", "phone", "fax", "website",
    "addressOne", "addressTwo", "city", "state", "zip", "country", "industry", "annualRevenue", "employees",
    "source", "comments", "optedOut", "isDoNotCall", "isDoNotEmail", "score", "grade", "assignedToId",
    "campaignId", "salesforceId", "salesforceLeadId", "salesforceContactId", "salesforceAccountId",
    "salesforceOwnerId", "salesforceLastSync", "salesforceUrl"))
CUSTOM_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
SLACK_TARGET = "must be a Slack channel (#name, C… or G…) or a Slack user id (U… or W…)"
SF_FIELD_MAX = 80  # Salesforce field API names are at most 80 characters (40 + namespace and __c)


def text(max_length: int) -> Any:
    """A non-blank string of at most `max_length` characters."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length, pattern=r"\S")]


class Say(ValueError):
    """A validator's own words for a problem, shown as they are."""


def slack_target(value) -> bool:
    """What chat.postMessage can deliver to: #channel, a channel id or a user id."""
    if not isinstance(value, str):
        return False
    value = value.strip()
    if value.startswith("#"):
        return len(value) > 1 and all(ch.isalnum() or ch in "-_." for ch in value[1:])
    return len(value) >= 9 and value[0] in "CGUW" and value.isalnum() and value.isupper()


def _slack(value: str) -> str:
    if not slack_target(value):
        raise ValueError("not a Slack target")  # told as the model's SAY["error_queue_owner"]
    return value


SlackTarget = Annotated[text(255), AfterValidator(_slack)]


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    SAY: ClassVar[dict[str, str]] = {}  # field -> what is wrong with a bad value ({value!r} is the value)
    EXTRA: ClassVar[str] = "is not a field of this request"
    WHOLE: ClassVar[frozenset] = frozenset()  # fields whose SAY sentence covers their length too

    @classmethod
    def problems(cls, data: dict) -> dict[str, str]:
        """Field -> problem, in the order the fields were given; {} when `data` is valid."""
        try:
            cls.model_validate(data)
            return {}
        except ValidationError as exc:
            found: dict[str, str] = {}
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else "body"
                found.setdefault(key, cls._say(key, err))
            order = list(data) if isinstance(data, dict) else []
            return dict(sorted(found.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))

    @classmethod
    def _say(cls, key: str, err: dict) -> str:
        error = (err.get("ctx") or {}).get("error")
        if err["type"] == "extra_forbidden":
            return cls.EXTRA
        if isinstance(error, Say):
            return str(error)
        if err["type"] == "string_too_long" and key not in cls.WHOLE:
            return f"must be at most {err['ctx']['max_length']} characters"
        if err["type"] == "too_long" and key not in cls.WHOLE:
            return f"must have at most {err['ctx']['max_length']} items"
        said = cls.SAY.get(key, err["msg"])
        value = None if err["type"] == "missing" else err.get("input")
        return said.format(value=value) if "{value" in said else said


# ---------------------------------------------------------------------- the connector (R1–R3, R35)
class ConnectorCreate(Request):
    version: Literal[1, 2] = 2
    connector_user: text(255) = "integration"
    ampsea: bool = False
    error_queue_owner: SlackTarget | None = None
    engine: Literal[ENGINES] = "builtin"
    SAY = {"version": "must be 1 or 2", "connector_user": "must be 'integration' or a Salesforce username",
           "ampsea": "must be true or false", "error_queue_owner": SLACK_TARGET,
           "engine": "must be builtin or salesforce"}


def connector_problems(version: Any, connector_user: Any, ampsea: Any, error_queue_owner: Any) -> dict:
    return ConnectorCreate.problems({"version": version, "connector_user": connector_user, "ampsea": ampsea,
                                     "error_queue_owner": error_queue_owner})


# ---------------------------------------------------------------------- settings
class SettingsPatch(Request):
    """Every field is optional: a default of None means "not given" (defaults are not validated)."""
    auto_create_prospects: bool = None
    follow_email_changes: bool = None
    ampsea: bool = None
    error_queue_owner: SlackTarget | None = None
    connector_user: text(255) = None
    salesforce_api_share: float = Field(None, gt=0, le=1)
    pardot_api_share: float = Field(None, gt=0, le=1)
    reactivation_ttl_hours: float = Field(None, gt=0, le=24 * 14)
    notify_fold_seconds: int = Field(None, ge=10, le=86400)
    role_overrides: dict[Annotated[str, StringConstraints(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")],
                         Literal[ROLES]] = Field(None, max_length=500)
    crm_id_field: Annotated[str, StringConstraints(min_length=1, max_length=50,
                                                   pattern=CUSTOM_FIELD_NAME.pattern)] | None = None
    health_threshold_seconds: int = Field(None, ge=1, le=7 * 86400)
    stall_after_seconds: int = Field(None, ge=1, le=7 * 86400)
    EXTRA = "is not a setting"
    WHOLE = frozenset({"crm_id_field"})
    SAY = {
        "auto_create_prospects": "must be true or false", "follow_email_changes": "must be true or false",
        "ampsea": "must be true or false", "error_queue_owner": SLACK_TARGET + ", or null",
        "connector_user": "must be 'integration' or a Salesforce username",
        "salesforce_api_share": "must be a number above 0 and at most 1",
        "pardot_api_share": "must be a number above 0 and at most 1",
        "reactivation_ttl_hours": "must be a number of hours above 0 and at most 336",
        "notify_fold_seconds": "must be whole seconds from 10 to 86400",
        "health_threshold_seconds": "must be whole seconds from 1 to 604800",
        "stall_after_seconds": "must be whole seconds from 1 to 604800",
        "crm_id_field": "must be the API name of a Pardot custom prospect field (a letter, then up to 49 letters, "
                        "digits or underscores, e.g. Salesforce_CRM_Id__c), or null to turn it off",
        "role_overrides": "must map email addresses to viewer, operator or admin",
    }

    @field_validator("crm_id_field")
    @classmethod
    def _custom(cls, value):
        if value is not None and value.lower() in STANDARD_PROSPECT_FIELDS:
            raise Say(f"{value} is a standard Pardot prospect field (the Salesforce link fields are read-only); "
                      "name a custom field")
        return value


def validate_settings(changes: Any, s: Session, c: Connector) -> dict:
    if not isinstance(changes, dict) or not changes:
        return {"settings": "must be a non-empty object"}
    problems = SettingsPatch.problems(changes)
    if "connector_user" in changes and "connector_user" not in problems and c.state != State.PAUSED:
        problems["connector_user"] = "can change only while the connector is paused"
    return {key: problems[key] for key in changes if key in problems}


# ---------------------------------------------------------------------- field mappings (R14–R16)
class FieldMappingRequest(Request):
    pardot_field: Literal[tuple(PARDOT_FIELDS)]
    lead_field: text(SF_FIELD_MAX) | None = None
    contact_field: text(SF_FIELD_MAX) | None = None
    account_field: text(SF_FIELD_MAX) | None = None
    behaviour: Literal[BEHAVIOURS] = "most_recent"
    overwrite_with_empty: bool = False
    SAY = {"pardot_field": "{value!r} is not one of " + ", ".join(PARDOT_FIELDS),
           "behaviour": "{value!r} is not one of " + ", ".join(BEHAVIOURS),
           "lead_field": "must be a Salesforce field name or null",
           "contact_field": "must be a Salesforce field name or null",
           "account_field": "must be a Salesforce field name or null",
           "overwrite_with_empty": "must be true or false"}


class FieldMappings(Request):
    mappings: list[dict] = Field(min_length=1, max_length=50)
    SAY = {"mappings": "must be a non-empty list"}


SF_FIELD_KEYS = ("lead_field", "contact_field", "account_field")


def _mapping_problems(item: dict, where: str, seen: set, problems: dict) -> Mapping | None:
    """One item's problems, told in the order a person fixes them; the Mapping when it may be kept."""
    found = FieldMappingRequest.problems(item)
    pf = item.get("pardot_field")
    if "pardot_field" in found:
        problems[f"{where}.pardot_field"] = found["pardot_field"]
        return None
    if pf in seen:
        problems[f"{where}.pardot_field"] = f"{pf!r} is mapped twice"
        return None
    seen.add(pf)
    for key in ("behaviour", *SF_FIELD_KEYS, "overwrite_with_empty"):
        if key in found:
            problems[f"{where}.{key}"] = found[key]
            if key in ("behaviour", "overwrite_with_empty"):
                return None
    fields = {key: item[key].strip() if isinstance(item.get(key), str) else None for key in SF_FIELD_KEYS}
    return Mapping(pf, fields["lead_field"], fields["contact_field"], fields["account_field"],
                   item.get("behaviour", "most_recent"), item.get("overwrite_with_empty", False))


def parse_mappings(items: object) -> tuple[list[Mapping], dict[str, str]]:
    """Shape-check a list of mapping dicts; returns mappings and per-item problems."""
    problems = FieldMappings.problems({"mappings": items})
    if problems:
        return [], problems
    result, seen = [], set()
    for i, item in enumerate(items):
        where = f"mappings[{i}]"
        if not isinstance(item, dict):
            problems[where] = "must be an object"
            continue
        unknown = set(item) - set(FieldMappingRequest.model_fields)
        if unknown:
            problems[where] = f"unknown keys: {', '.join(sorted(unknown))}"
            continue
        mapping = _mapping_problems(item, where, seen, problems)
        if mapping is not None:
            result.append(mapping)
    if "email" not in seen and not problems:
        problems["mappings"] = "the email field must stay mapped (it is the matching key, R8)"
    return result, problems


# ---------------------------------------------------------------------- MDS rules (R22, R23)
class MdsRule(Request):
    object: Literal[MDS_OBJECTS]
    field: Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
    operator: Literal["equals"] = "equals"
    value: Annotated[str, StringConstraints(min_length=1)]
    SAY = {"object": "{value!r} is not one of " + ", ".join(MDS_OBJECTS),
           "operator": "only 'equals' is supported (R22)", "field": "must be a Salesforce field name",
           "value": "must be a non-empty string (compared case-sensitively)"}


class MdsRules(Request):
    enabled: bool
    rules: list[dict] = Field(max_length=len(MDS_OBJECTS))
    SAY = {"enabled": "must be true or false", "rules": "must be a list"}


def _rule_problems(rule: dict, where: str, seen: set, context: tuple, problems: dict) -> tuple | None:
    describe, mapped = context
    found = MdsRule.problems(rule)
    sobject, field, value = rule.get("object"), rule.get("field"), rule.get("value")
    if "object" in found:
        problems[f"{where}.object"] = found["object"]
        return None
    if sobject in seen:
        problems[f"{where}.object"] = f"{sobject} has more than one rule (one rule per object, R22)"
        return None
    seen.add(sobject)
    if "operator" in found:
        problems[f"{where}.operator"] = found["operator"]
    if "field" in found:
        problems[f"{where}.field"] = found["field"]
        return None
    if describe.get(sobject) and field not in describe[sobject]:
        problems[f"{where}.field"] = f"{sobject}.{field} does not exist"
    elif (sobject, field) in mapped:
        problems[f"{where}.field"] = f"{sobject}.{field} is a mapped field and cannot be the MDS field (R22)"
    if "value" in found:
        problems[f"{where}.value"] = found["value"]
    return None if any(k.startswith(where) for k in problems) else (sobject, field.strip(), value)


def parse_mds(enabled: Any, rules: Any, s: Session, c: Connector):
    found = MdsRules.problems({"enabled": enabled, "rules": rules})
    problems = {key: found[key] for key in ("enabled",) if key in found}
    parsed: list[tuple] = []
    if not isinstance(rules, list):
        problems["rules"] = MdsRules.SAY["rules"]
        return problems, parsed
    describe = (c.checks or {}).get("describe", {})
    mapped = set()
    for m in s.scalars(select(FieldMappingRow).where(FieldMappingRow.connector_id == c.id)):
        mapped.update({("Lead", m.lead_field), ("Contact", m.contact_field), ("Account", m.account_field)})
    seen: set = set()
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(rule, dict) or set(rule) - set(MdsRule.model_fields):
            problems[where] = "must be {object, field, operator, value}"
            continue
        kept = _rule_problems(rule, where, seen, (describe, mapped), problems)
        if kept:
            parsed.append(kept)
    if enabled is True and not problems:
        missing = {"Lead", "Contact"} - seen
        if missing:
            problems["rules"] = f"MDS needs rules for both Lead and Contact; missing {', '.join(sorted(missing))}"
    return problems, parsed

"""Field catalogue of the Pardot v5 objects the sandbox serves, and value conversion.

Stored values are plain Python: datetimes as int epoch seconds (v5 renders seconds precision),
booleans, ints, floats, strings, None. Rendering turns them into v5 JSON values.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sandbox.pardot_errors import (
    INVALID_EMAIL,
    INVALID_PROPERTY,
    INVALID_QUERY_FIELDS,
    INVALID_TIMESTAMP,
    INVALID_WRITE_FIELDS,
    REQUIRED_PARAMETER_MISSING,
    bad_request,
)

OBJECTS = ("prospects", "users", "campaigns")
LABELS = {"prospects": "Prospect", "users": "User", "campaigns": "Campaign"}
SORTABLE = ("id", "createdAt", "updatedAt")

# Role names as v5 `roleName`; `role` carries the role id as a string (user-v5 docs).
ROLE_IDS = {"Administrator": "1", "Sales": "2", "Marketing": "3", "Sales Manager": "4"}
ROLE_NAMES = {v: k for k, v in ROLE_IDS.items()}

_EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


@dataclass(frozen=True)
class Field:
    type: str            # int | str | email | bool | float | datetime | user
    writable: bool = True


def _fields(read_only: tuple[tuple[str, str], ...], writable: tuple[tuple[str, str], ...]):
    out = {name: Field(t, False) for name, t in read_only}
    out.update({name: Field(t, True) for name, t in writable})
    return out


_SYSTEM = (("id", "int"), ("isDeleted", "bool"), ("createdAt", "datetime"),
           ("updatedAt", "datetime"), ("createdById", "int"), ("updatedById", "int"))

# The CRM link: read-only through the API; only Salesforce's own connector sets them (and the
# seeding path, which plays that connector). Pardot's v5 prospect reference marks none of them
# editable (v4's crm_lead_fid/crm_contact_fid/crm_account_fid/crm_owner_fid carry no "Editable"
# mark either); see wire-formats.md.
LINK_FIELDS = (("salesforceId", "str"), ("salesforceLeadId", "str"), ("salesforceContactId", "str"),
               ("salesforceAccountId", "str"), ("salesforceOwnerId", "str"),
               ("salesforceLastSync", "datetime"), ("salesforceUrl", "str"))

FIELDS: dict[str, dict[str, Field]] = {
    "prospects": _fields(
        _SYSTEM + (("lastActivityAt", "datetime"),) + LINK_FIELDS,
        (("email", "email"), ("salutation", "str"), ("firstName", "str"), ("lastName", "str"),
         ("company", "str"), ("jobTitle", "str"), ("department", "str"), ("phone", "str"),
         ("fax", "str"), ("website", "str"), ("addressOne", "str"), ("addressTwo", "str"),
         ("city", "str"), ("state", "str"), ("zip", "str"), ("country", "str"),
         ("industry", "str"), ("annualRevenue", "str"), ("employees", "str"), ("source", "str"),
         ("comments", "str"), ("optedOut", "bool"), ("isDoNotCall", "bool"),
         ("isDoNotEmail", "bool"), ("score", "int"), ("grade", "str"), ("assignedToId", "user"),
         ("campaignId", "int"))),
    "users": _fields(
        _SYSTEM + (("email", "email"), ("username", "str"), ("firstName", "str"),
                   ("lastName", "str"), ("jobTitle", "str"), ("role", "str"),
                   ("roleName", "str"), ("salesforceId", "str")),
        ()),
    "campaigns": _fields(
        _SYSTEM,
        (("name", "str"), ("cost", "int"), ("folderId", "int"), ("salesforceId", "str"))),
}

ACCOUNT_FIELDS = ("id", "company", "level", "website", "pluginCampaignId",
                  "maximumDailyApiCalls", "apiCallsUsed", "createdAt", "updatedAt")

DEFAULTS = {"prospects": {"optedOut": False, "isDoNotCall": False, "isDoNotEmail": False,
                          "score": 0},
            "users": {}, "campaigns": {"cost": 0}}


# --- datetimes -------------------------------------------------------------------------

def parse_datetime(value, what: str) -> float:
    """ISO 8601 (offset, `Z` or naive=UTC) → epoch seconds; names `what` when invalid."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            hint = " (a '+' in a URL must be encoded as %2B)" if " " in text else ""
            raise bad_request(INVALID_TIMESTAMP,
                              f"Invalid timestamp for {what}: {value!r}; expected ISO 8601 "
                              f"like 2024-05-01T10:00:00+00:00{hint}") from None
    else:
        raise bad_request(INVALID_TIMESTAMP, f"Invalid timestamp for {what}: {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def render_datetime(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def ceil_seconds(value: float) -> int:
    return math.ceil(value)


def floor_seconds(value: float) -> int:
    return math.floor(value)


# --- field selection -------------------------------------------------------------------

def parse_field_list(obj: str, raw, allowed: dict | tuple | None = None) -> list[str]:
    """`fields` query value (comma list) or JSON list → validated field names."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise bad_request(REQUIRED_PARAMETER_MISSING,
                          "One or more required parameters are missing: fields")
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_request(INVALID_PROPERTY, "Invalid property in request: fields must be a list "
                                            "of field names")
    known = FIELDS[obj] if allowed is None else allowed
    out = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name not in known:
            raise bad_request(INVALID_QUERY_FIELDS,
                              f"Invalid fields for request type: {LABELS.get(obj, obj)} has no "
                              f"field named {name!r}")
        if name not in out:
            out.append(name)
    if not out:
        raise bad_request(REQUIRED_PARAMETER_MISSING,
                          "One or more required parameters are missing: fields")
    return out


def with_custom(obj: str, custom_fields) -> dict[str, Field]:
    """The object's fields plus the org's custom prospect fields (by API name, text values)."""
    if obj != "prospects" or not custom_fields:
        return FIELDS[obj]
    return {**FIELDS[obj], **{name: Field("str", True) for name in custom_fields}}


def make_renderer(obj: str, names: list[str], spec: dict | None = None):
    """Returns row → JSON dict for the selected fields (built once per request)."""
    spec = FIELDS[obj] if spec is None else spec
    dt_names = {n for n in names if n in spec and spec[n].type == "datetime"}

    def render(row: dict) -> dict:
        return {n: (render_datetime(row.get(n)) if n in dt_names else row.get(n))
                for n in names}
    return render


# --- writes ----------------------------------------------------------------------------

def valid_email(value: str) -> bool:
    # Pardot checks the local part's periods (not first, not last, never two in a row: the
    # RFC 5322 dot-atom its "Allowed Characters in Email Addresses" page points to -- the rule
    # is inferred, the page's text was not at hand); Salesforce accepts such addresses, so an
    # import row can be refused for them.
    local = value.rsplit("@", 1)[0]
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return len(value) <= 255 and _EMAIL_RE.match(value) is not None


def coerce_value(obj: str, name: str, value, *, from_csv: bool = False, spec: dict | None = None):
    """Validates one writable value (JSON types, or CSV text when from_csv) → stored value."""
    ftype = (FIELDS[obj] if spec is None else spec)[name].type
    if value is None or (from_csv and value.strip() == ""):
        return None
    if from_csv:
        value = value.strip()
    if ftype in ("str", "email"):
        if not isinstance(value, str):
            raise _type_error(obj, name, value, "a string")
        if ftype == "email":
            if not valid_email(value):
                raise bad_request(INVALID_EMAIL,
                                  f"Invalid prospect email address: field email value {value!r} "
                                  f"is not a valid email address")
        return value
    if ftype == "bool":
        if from_csv:
            lowered = value.lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
        elif isinstance(value, bool):
            return value
        raise _type_error(obj, name, value, "a boolean (true or false)")
    if ftype in ("int", "user"):
        if from_csv:
            try:
                return int(value)
            except ValueError:
                raise _type_error(obj, name, value, "an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(obj, name, value, "an integer")
        return value
    if ftype == "float":
        try:
            return float(value) if from_csv else _float(value)
        except (TypeError, ValueError):
            raise _type_error(obj, name, value, "a number") from None
    if ftype == "datetime":
        if not isinstance(value, str):
            raise _type_error(obj, name, value, "an ISO 8601 datetime string")
        return int(parse_datetime(value, name))
    raise AssertionError(f"unhandled field type {ftype}")


def _float(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError
    return float(value)


def _type_error(obj: str, name: str, value, expected: str):
    return bad_request(INVALID_PROPERTY,
                       f"Invalid property in request: {LABELS[obj]} field {name} must be "
                       f"{expected}, got {value!r}")


def coerce_write(obj: str, values, *, from_csv: bool = False, spec: dict | None = None) -> dict:
    """Validates a create/update body: known, writable fields with values of the right type.

    Refusal bodies: an unknown property is `{"code": 154, "message": "Invalid property in
    request: <name>"}` -- found: that exact body is what real v5 answered for an unknown custom
    field name in a prospect create (pardot/api-docs issue #235, 2022). A read-only field (the
    salesforce* link fields, id, timestamps) -- inferred: Pardot's public docs give no body for
    it; we answer 400 with code 180 "One or more of the specified fields are invalid", naming the
    field, as this sandbox always has for read-only fields."""
    if not isinstance(values, dict):
        raise bad_request(INVALID_PROPERTY,
                          f"Invalid property in request: a {LABELS[obj]} must be a JSON object")
    spec = FIELDS[obj] if spec is None else spec
    unknown = [n for n in values if n not in spec]
    if unknown:
        raise bad_request(INVALID_PROPERTY,
                          f"Invalid property in request: {', '.join(unknown)}")
    read_only = [n for n in values if not spec[n].writable]
    if read_only:
        raise bad_request(INVALID_WRITE_FIELDS,
                          f"One or more of the specified fields are invalid: {', '.join(read_only)} "
                          f"{'is' if len(read_only) == 1 else 'are'} read-only and can't be "
                          f"written")
    return {n: coerce_value(obj, n, v, from_csv=from_csv, spec=spec) for n, v in values.items()}


def coerce_seed(obj: str, record: dict, spec: dict | None = None, datetimes: tuple | None = None) -> dict:
    """Seeding path (PardotOrg.insert): lenient types, no validation beyond conversion.
    `datetimes`: the spec's datetime field names, when the caller has them (once per insert of
    many records, instead of a per-field look-up for every record)."""
    spec = FIELDS[obj] if spec is None else spec
    if not record.keys() <= spec.keys():
        unknown = next(name for name in record if name not in spec)
        raise ValueError(f"{LABELS[obj]} has no field named {unknown!r}")
    if datetimes is None:
        datetimes = tuple(name for name in record if spec[name].type == "datetime")
    out = dict(record)
    for name in datetimes:
        value = out.get(name)
        if value is not None and not isinstance(value, int):
            out[name] = int(parse_datetime(value, name))
    if obj == "users":
        _normalise_role(out)
    return out


def _normalise_role(user: dict) -> None:
    role, role_name = user.get("role"), user.get("roleName")
    if role in ROLE_IDS:                     # seeded with the role *name* in `role`
        role_name, role = role, ROLE_IDS[role]
    if role_name is not None and role is None:
        role = ROLE_IDS.get(role_name)
    if role is not None and role_name is None:
        role_name = ROLE_NAMES.get(str(role))
    user["role"] = None if role is None else str(role)
    user["roleName"] = role_name

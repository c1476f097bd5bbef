"""Conversion of Salesforce field values between JSON and the Python values the org stores."""
from __future__ import annotations

import datetime as dt
import re

from .ids import to18
from .sf_schema import Field

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                    r"(Z|[+-]\d{2}:?\d{2})?$")
_STRING_TYPES = {"string", "email", "phone", "picklist", "textarea", "url"}


class SfError(Exception):
    """A Salesforce API error: `code` as Salesforce names it, HTTP `status` for single-record calls."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or []
        self.status = status

    def single(self) -> list[dict]:
        body = {"message": self.message, "errorCode": self.code}
        if self.fields:
            body["fields"] = self.fields
        return [body]

    def per_record(self) -> dict:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def format_datetime(value: dt.datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> dt.datetime | None:
    """ISO 8601 datetime as Salesforce accepts it; naive values are UTC. None when malformed."""
    if not isinstance(text, str):
        return None
    m = _DT_RE.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        micro = int((frac or "0").ljust(6, "0")[:6])
        value = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        value -= sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


def render(value):
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _type_error(field: Field, value) -> SfError:
    shown = value if isinstance(value, str) else repr(value)
    return SfError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                   f"{field.name}: value not of required type: {shown}", [field.name])


def _parser_error(field: Field, value) -> SfError:
    kind = {dict: "START_OBJECT", list: "START_ARRAY"}.get(type(value), "VALUE")
    return SfError("JSON_PARSER_ERROR",
                   f"Cannot deserialize instance of {field.type} from {kind} value for field {field.name}",
                   [field.name])


def coerce(field: Field, value):
    """JSON value -> stored Python value, or SfError naming the field."""
    if value is None:
        return False if field.type == "boolean" else None
    if isinstance(value, (dict, list)):
        raise _parser_error(field, value)
    t = field.type
    if t in _STRING_TYPES:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, str):
            value = str(value)
        if value == "":
            return None
        if field.length and len(value) > field.length:
            raise SfError("STRING_TOO_LONG",
                          f"{field.label or field.name}: data value too large: {value[:40]} (max length={field.length})",
                          [field.name])
        return value
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _type_error(field, value)
    if t in ("double", "currency", "percent", "int"):
        if isinstance(value, bool):
            raise _type_error(field, value)
        if isinstance(value, str):
            try:
                value = float(value) if t != "int" else int(value)
            except ValueError:
                raise _type_error(field, value) from None
        if t == "int":
            if isinstance(value, float) and not value.is_integer():
                raise _type_error(field, value)
            return int(value)
        return float(value)
    if t == "date":
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value[:10]) if len(value) >= 10 else dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise _type_error(field, value)
    if t == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise _type_error(field, value)
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    if t in ("id", "reference"):
        id18 = to18(value) if isinstance(value, str) else None
        if id18 is None:
            label = field.name[:-2] + " ID" if field.name.endswith("Id") else field.name
            raise SfError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [field.name])
        return id18
    return value

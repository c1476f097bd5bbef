"""SOQL in the sandbox: the errors (Salesforce's codes, "ERROR at Row:R:Column:C"), the literal
formats, the syntax tree the parser builds, and field-name resolution (soql.py is the entry)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

UTC = dt.timezone.utc

STRING_TYPES = frozenset({"string", "email", "phone", "picklist", "textarea", "url", "combobox",
                          "multipicklist", "encryptedstring"})

_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                          r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

NO_SUCH_COLUMN = ("No such column '{field}' on entity '{entity}'. If you are attempting to use a custom field, "
                  "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                  "describe call for the appropriate names.")
INVALID_TYPE_MESSAGE = ("sObject type '{entity}' is not supported. If you are attempting to use a custom object, "
                        "be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                        "describe call for the appropriate names.")


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is Salesforce's errorCode (MALFORMED_QUERY, INVALID_FIELD,
    INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR, NUMBER_OUTSIDE_VALID_RANGE), `message` its text."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def located(text: str, pos: int, message: str) -> str:
    """Salesforce's error layout: the offending line (windowed when long), a caret, Row/Column, message."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start
    start = 0
    if col > 40:  # Salesforce shows the text from a token boundary about 40 characters before the error
        start = next((j for j in range(col - 40, col) if line[j - 1].isspace() and not line[j].isspace()),
                     col - 40)
    return f"\n{line[start:]}\n{' ' * (col - start)}^\nERROR at Row:{row}:Column:{col + 1}\n{message}"


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's rendering of a datetime: UTC, milliseconds, `+0000` (naive values are taken as UTC)."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"format_datetime needs a datetime, got {type(value).__name__}")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime_literal(text: str) -> dt.datetime:
    """A SOQL datetime literal (`2024-05-01T10:00:00Z`, `…00.000Z`, `…+02:00`, `…+0200`) as an aware
    UTC datetime; the zone is required, as in SOQL. Raises ValueError naming the text otherwise."""
    m = _DATETIME_RE.match(text) if isinstance(text, str) else None
    if not m:
        hint = " (a time zone is required: Z or +hh:mm)" if isinstance(text, str) and "T" in text else ""
        raise ValueError(f"Invalid datetime: {text}{hint}")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        value = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                            int((frac or "0").ljust(6, "0")[:6]), tzinfo=UTC)
    except ValueError:
        raise ValueError(f"Invalid datetime: {text}") from None
    if tz.upper() != "Z":
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 18 or minutes > 59:
            raise ValueError(f"Invalid datetime: {text} (time zone offset out of range)")
        shift = dt.timedelta(hours=hours, minutes=minutes)
        value = value - shift if tz[0] == "+" else value + shift
    return value


def parse_date_literal(text: str) -> dt.date:
    """A SOQL date literal (`2024-05-01`); raises ValueError naming the text otherwise."""
    m = _DATE_RE.match(text) if isinstance(text, str) else None
    try:
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        pass
    raise ValueError(f"Invalid date: {text}")


# --------------------------------------------------------------------------- syntax tree

@dataclasses.dataclass(frozen=True)
class Literal:
    kind: str            # string | number | boolean | null | date | datetime | relative
    value: Any           # relative: (NAME, n)
    pos: int
    text: str
    like: str | None = None   # regex source when the literal is used as a LIKE pattern


@dataclasses.dataclass(frozen=True)
class FieldRef:
    name: str
    pos: int


@dataclasses.dataclass(frozen=True)
class Compare:
    field: FieldRef
    op: str              # = != < <= > >= LIKE
    value: Literal
    pos: int


@dataclasses.dataclass(frozen=True)
class InList:
    field: FieldRef
    negated: bool
    values: tuple[Literal, ...]
    pos: int


@dataclasses.dataclass(frozen=True)
class Logical:
    op: str              # AND | OR | NOT
    items: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Query:
    """A parsed query. Shared by every caller of the cached `parse`: treat it as read-only
    (use dataclasses.replace to derive a variant)."""
    sobject: str
    fields: list[str]
    is_count: bool = False
    limit: int | None = None
    offset: int | None = None
    where: Any = None
    order_by: tuple[OrderItem, ...] = ()
    text: str = ""
    sobject_pos: int = 0
    field_positions: tuple[int, ...] = ()

    def invalid_type_error(self) -> SoqlError:
        """The INVALID_TYPE error Salesforce answers when `sobject` does not exist."""
        return SoqlError("INVALID_TYPE", located(self.text, self.sobject_pos,
                                                 INVALID_TYPE_MESSAGE.format(entity=self.sobject)))

    def canonical_fields(self, schema: dict[str, str]) -> list[str]:
        """The selected fields under their schema names, in select order (INVALID_FIELD if unknown)."""
        return Names(self, schema).select_fields()


class Names:
    """Resolves field names of one query against one object's schema (case-insensitive)."""

    def __init__(self, query: Query, schema: dict[str, str]):
        self.query = query
        self.schema = schema
        self.by_lower = {name.lower(): name for name in schema}

    def error(self, code: str, pos: int, message: str) -> SoqlError:
        return SoqlError(code, located(self.query.text, pos, message))

    def resolve(self, name: str, pos: int) -> str:
        canonical = self.by_lower.get(name.lower())
        if canonical is None:
            raise self.error("INVALID_FIELD", pos, NO_SUCH_COLUMN.format(field=name, entity=self.query.sobject))
        return canonical

    def select_fields(self) -> list[str]:
        out: list[str] = []
        positions = self.query.field_positions
        for i, name in enumerate(self.query.fields):
            pos = positions[i] if i < len(positions) else len(self.query.text)
            canonical = self.resolve(name, pos)
            if canonical in out:
                raise self.error("MALFORMED_QUERY", pos, f"duplicate field selected: {canonical}")
            out.append(canonical)
        return out

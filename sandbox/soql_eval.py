"""SOQL execution over in-memory rows: WHERE compiled to closures (typed comparisons, blank
equals null, case-insensitive strings, relative dates), ORDER BY with Salesforce's null order,
OFFSET/LIMIT, COUNT()."""
from __future__ import annotations

import datetime as dt
import itertools
import operator
import re
from typing import Any, Callable, Iterable

from .ids import to18
from .soql_lexer import unsupported
from .soql_tree import UTC, Compare, InList, Literal, Logical, Names, Query

ID_TYPES = frozenset({"id", "reference"})

NUMBER_TYPES = frozenset({"double", "currency", "int", "percent", "long"})


def _category(ftype: str) -> str:
    if ftype in ID_TYPES:
        return "id"
    if ftype in NUMBER_TYPES:
        return "number"
    if ftype in ("boolean", "date", "datetime"):
        return ftype
    return "string"


def _type_name(ftype: str) -> str:
    cat = _category(ftype)
    if cat == "string":
        return "string"
    if cat == "id":
        return "id"
    return "dateTime" if ftype == "datetime" else ftype


_ACCEPTED = {"string": {"string"}, "id": {"string"}, "number": {"number"}, "boolean": {"boolean"},
             "date": {"date", "relative"}, "datetime": {"datetime", "relative"}}
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _both(a: Callable[[dict], bool], b: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda row: a(row) and b(row)


def _either(a: Callable[[dict], bool], b: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda row: a(row) or b(row)


def _fold(value: Any) -> Any:
    return value.casefold() if value else None   # Salesforce stores blank text as null


class _Compiler(Names):
    """Resolves names against one object's schema and compiles the query into closures."""

    def __init__(self, query: Query, schema: dict[str, str], now: dt.datetime | None):
        super().__init__(query, schema)
        self.now = now

    def getter(self, field: str) -> Callable[[dict], Any]:
        cat = _category(self.schema[field])
        if cat in ("string", "id"):
            return lambda row: _fold(row.get(field))
        if cat == "boolean":
            return lambda row: bool(row.get(field))
        return lambda row: row.get(field)

    # WHERE
    def predicate(self, node: Any) -> Callable[[dict], bool]:
        if isinstance(node, Logical):
            parts = [self.predicate(item) for item in node.items]
            if node.op == "NOT":
                inner = parts[0]
                return lambda row: not inner(row)
            joined = parts[0]
            for part in parts[1:]:  # nested two-way closures: cheaper per row than all()/any() over a generator
                joined = _both(joined, part) if node.op == "AND" else _either(joined, part)
            return joined
        if isinstance(node, InList):
            return self.in_list(node)
        return self.compare(node)

    def literal(self, field: str, lit: Literal, op: str) -> Any:
        """The literal as the comparable Python value for `field` (None for null)."""
        ftype = self.schema[field]
        cat = _category(ftype)
        if lit.kind == "null":
            if op not in ("=", "!=", "IN"):
                raise self.error("MALFORMED_QUERY", lit.pos, f"null can only be compared with = or != (found {op})")
            return None
        if lit.kind not in _ACCEPTED[cat]:
            quotes = "should be enclosed in quotes" if cat in ("string", "id") else "should not be enclosed in quotes"
            raise self.error("INVALID_FIELD", lit.pos, f"value of filter criterion for field '{field}' must be of "
                                                       f"type {_type_name(ftype)} and {quotes}")
        if cat == "string":
            return _fold(lit.value)
        if cat == "id":
            if lit.value == "":
                return None
            id18 = to18(lit.value)
            if id18 is None:
                raise self.error("INVALID_QUERY_FILTER_OPERATOR", lit.pos, f"invalid ID field: {lit.value}")
            return id18.casefold()
        return lit.value

    def check_operator(self, field: str, op: str, pos: int) -> None:
        cat = _category(self.schema[field])
        if (op == "LIKE" and cat != "string") or (op in _ORDERING and cat == "boolean"):
            raise self.error("INVALID_QUERY_FILTER_OPERATOR", pos,
                             f"invalid operator on {_type_name(self.schema[field])} field: {op} ('{field}')")

    def compare(self, node: Compare) -> Callable[[dict], bool]:
        field = self.resolve(node.field.name, node.field.pos)
        op = node.op
        self.check_operator(field, op, node.pos)
        get = self.getter(field)
        if op == "LIKE":
            lit = node.value
            if lit.kind != "string":
                self.literal(field, lit, op)  # raises the type error
            match = re.compile(lit.like, re.IGNORECASE | re.DOTALL).fullmatch
            return lambda row: bool(value := row.get(field)) and match(value) is not None
        value = self.literal(field, node.value, op)
        if node.value.kind == "relative":
            return self.relative(get, op, node.value, _category(self.schema[field]))
        if value is None:
            return (lambda row: get(row) is None) if op == "=" else (lambda row: get(row) is not None)
        if op == "=":
            return lambda row: get(row) == value
        if op == "!=":
            return lambda row: get(row) != value
        cmp = _ORDERING[op]

        def ordered(row: dict) -> bool:
            current = get(row)
            return current is not None and cmp(current, value)
        return ordered

    def relative(self, get: Callable, op: str, lit: Literal, cat: str) -> Callable[[dict], bool]:
        now = self.now or dt.datetime.now(UTC)
        today = now.astimezone(UTC).date()
        name, n = lit.value
        day = dt.timedelta(days=1)
        lo, hi = {"TODAY": (today, today + day), "YESTERDAY": (today - day, today),
                  "TOMORROW": (today + day, today + 2 * day), "LAST_N_DAYS": (today - n * day, today + day),
                  "NEXT_N_DAYS": (today + day, today + (n + 1) * day)}[name]
        if cat == "datetime":
            lo = dt.datetime.combine(lo, dt.time(), UTC)
            hi = dt.datetime.combine(hi, dt.time(), UTC)

        def inside(row: dict) -> bool:
            value = get(row)
            return value is not None and lo <= value < hi
        if op == "=":
            return inside
        if op == "!=":
            return lambda row: not inside(row)
        bound, cmp = {"<": (lo, operator.lt), "<=": (hi, operator.lt),
                      ">": (hi, operator.ge), ">=": (lo, operator.ge)}[op]
        return lambda row: (value := get(row)) is not None and cmp(value, bound)

    def in_list(self, node: InList) -> Callable[[dict], bool]:
        field = self.resolve(node.field.name, node.field.pos)
        for lit in node.values:
            if lit.kind == "relative":
                raise unsupported(self.query.text, lit.pos, "relative date literals inside IN")
        values = frozenset(self.literal(field, lit, "IN") for lit in node.values)
        get = self.getter(field)
        if node.negated:
            return lambda row: get(row) not in values
        return lambda row: get(row) in values

    # ORDER BY
    def sort(self, rows: list[dict]) -> None:
        keys = [(self.getter(self.resolve(item.field.name, item.field.pos)), item) for item in self.query.order_by]
        for get, item in reversed(keys):  # stable sorts, least significant key first
            null_rank = 0 if item.nulls_first != item.descending else 2

            def key(row: dict, get=get, null_rank=null_rank) -> tuple:
                value = get(row)
                return (null_rank, 0) if value is None else (1, value)
            rows.sort(key=key, reverse=item.descending)


def execute(query: Query, rows: Iterable[dict], schema: dict[str, str], *,
            now: dt.datetime | None = None) -> list[dict] | int:
    """Run `query` over `rows` (dicts keyed by canonical field names) of the object whose fields and
    types `schema` gives. Returns the matching rows projected to the selected fields (canonical
    names, select order), or the count for COUNT(). `now` pins TODAY & co. (default: current time)."""
    result, fields = select(query, rows, schema, now=now)
    if isinstance(result, int):
        return result
    return [{name: row.get(name) for name in fields} for row in result]


def select(query: Query, rows: Iterable[dict], schema: dict[str, str], *,
           now: dt.datetime | None = None) -> tuple[list[dict] | int, list[str]]:
    """As execute, but the matching rows are the source rows themselves (not copied), with the
    selected field names to project them by: a query locator keeps the whole result and projects
    one page per request, so a 1,000,000-row result is not copied up front."""
    compiler = _Compiler(query, schema, now)
    fields = [] if query.is_count else compiler.select_fields()
    match = compiler.predicate(query.where) if query.where is not None else None
    offset = query.offset or 0
    if query.order_by:
        compiler.sort([])  # resolves ORDER BY names before any row is read, as Salesforce checks them upfront
    if query.is_count:
        total = sum(1 for row in rows if match(row)) if match else sum(1 for _ in rows)
        total = max(0, total - offset)
        return (total if query.limit is None else min(total, query.limit)), fields
    selected = rows if match is None else filter(match, rows)
    stop = None if query.limit is None else offset + query.limit
    if query.order_by:
        ordered = list(selected)
        compiler.sort(ordered)
        chosen = ordered[offset:stop] if offset or stop is not None else ordered
    else:
        chosen = list(itertools.islice(selected, offset, stop))  # stops reading rows once LIMIT is reached
    return chosen, fields

"""The SOQL subset the sandbox org answers: `parse` (cached) and `execute` over in-memory rows.

Behaviour follows Salesforce where a client can observe it: case-insensitive names and string
comparisons, blank strings equal null, AND and OR cannot be mixed without parentheses, NOT only
opens a condition, ORDER BY defaults to ASC NULLS FIRST (DESC: NULLS LAST), OFFSET at most 2000,
errors carry Salesforce's codes and its "ERROR at Row:R:Column:C" messages. Constructs outside the
subset (relationships, subqueries, aggregates, functions, GROUP BY...) are refused with
MALFORMED_QUERY naming the construct, never silently ignored.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import operator
import re
from typing import Any, Callable, Iterable

from .ids import to18

UTC = dt.timezone.utc
MAX_OFFSET = 2000

STRING_TYPES = frozenset({"string", "email", "phone", "picklist", "textarea", "url", "combobox",
                          "multipicklist", "encryptedstring"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "currency", "int", "percent", "long"})

_RESERVED = frozenset({"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "NULL", "TRUE", "FALSE",
                       "ORDER", "BY", "LIMIT", "OFFSET", "ASC", "DESC", "NULLS", "GROUP", "HAVING", "WITH",
                       "FOR", "USING", "INCLUDES", "EXCLUDES", "TYPEOF"})
_UNSUPPORTED_KEYWORDS = {
    "GROUP": "GROUP BY", "HAVING": "HAVING", "WITH": "WITH clauses", "FOR": "FOR VIEW/REFERENCE/UPDATE",
    "USING": "USING SCOPE", "TYPEOF": "TYPEOF", "INCLUDES": "INCLUDES (multi-select picklists)",
    "EXCLUDES": "EXCLUDES (multi-select picklists)",
}
_RELATIVE_DATES = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
_RELATIVE_N_DATES = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
# Salesforce date literals outside the subset: named in the error instead of "unexpected token".
_OTHER_DATE_LITERAL = re.compile(r"^(LAST|THIS|NEXT|N)_[A-Z_]+(:\d+)?$")

_STRING_ESCAPES = {"n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b", "B": "\b",
                   "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\"}
_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                          r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<temporal>\d{4}-\d{2}-\d{2}(?:T[0-9:.]*(?:[Zz]|[+-][0-9:]*)?)?)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.:+-])
""", re.VERBOSE)

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
        return _Compiler(self, schema, None).select_fields()


# --------------------------------------------------------------------------- lexer and parser

@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str            # ident string number temporal op punct other eof
    text: str
    pos: int
    value: Any = None
    like: str | None = None

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def _malformed(text: str, pos: int, message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", located(text, pos, message))


def _unsupported(text: str, pos: int, what: str) -> SoqlError:
    return _malformed(text, pos, f"the sandbox SOQL subset does not support {what}")


def _lex_string(text: str, start: int) -> _Token:
    value: list[str] = []
    like: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return _Token("string", text[start:i + 1], start, "".join(value), "".join(like))
        if ch == "\\":
            esc = text[i + 1:i + 2]
            if esc in _STRING_ESCAPES:
                value.append(_STRING_ESCAPES[esc])
                like.append(re.escape(_STRING_ESCAPES[esc]))
                i += 2
            elif esc in ("_", "%"):  # wildcard escapes: literal in LIKE, kept verbatim elsewhere
                value.append("\\" + esc)
                like.append(re.escape(esc))
                i += 2
            elif esc in ("u", "U") and re.fullmatch(r"[0-9A-Fa-f]{4}", text[i + 2:i + 6]):
                char = chr(int(text[i + 2:i + 6], 16))
                value.append(char)
                like.append(re.escape(char))
                i += 6
            else:
                seq = "\\" + esc
                raise _malformed(text, i, f"Invalid string literal '{text[start + 1:i + 2]}'. "
                                          f"Illegal character sequence '{seq}' in string literal.")
            continue
        value.append(ch)
        like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    raise _malformed(text, len(text), "mismatched character '<EOF>' expecting '''")


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "'":
            tok = _lex_string(text, pos)
            tokens.append(tok)
            pos += len(tok.text)
            continue
        m = _TOKEN_RE.match(text, pos)
        if not m:
            tokens.append(_Token("other", text[pos], pos))
            pos += 1
            continue
        kind, chunk = m.lastgroup, m.group()
        if kind == "temporal":
            try:
                value = parse_datetime_literal(chunk) if "T" in chunk.upper() else parse_date_literal(chunk)
            except ValueError as exc:
                raise _malformed(text, pos, str(exc)) from None
            kind = "datetime" if isinstance(value, dt.datetime) else "date"
            tokens.append(_Token(kind, chunk, pos, value))
        elif kind == "number":
            tokens.append(_Token(kind, chunk, pos, float(chunk) if "." in chunk else int(chunk)))
        elif kind != "ws":
            tokens.append(_Token(kind, chunk, pos))
        pos = m.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _lex(text)
        self.i = 0
        self.sobject = ""

    # helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def keyword(self, *words: str) -> _Token | None:
        tok = self.peek()
        if tok.upper in words:
            self.i += 1
            return tok
        return None

    def expect_keyword(self, word: str) -> _Token:
        tok = self.keyword(word)
        if tok is None:
            raise self.unexpected(self.peek())
        return tok

    def expect_punct(self, ch: str) -> _Token:
        tok = self.peek()
        if tok.kind != "punct" or tok.text != ch:
            raise self.unexpected(tok)
        return self.next()

    def is_punct(self, ch: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "punct" and tok.text == ch

    def unexpected(self, tok: _Token) -> SoqlError:
        if tok.upper in _UNSUPPORTED_KEYWORDS:
            return _unsupported(self.text, tok.pos, _UNSUPPORTED_KEYWORDS[tok.upper])
        if tok.kind == "punct" and tok.text == ":":
            return _unsupported(self.text, tok.pos, "bind variables (:name)")
        if tok.kind == "punct" and tok.text == "(":
            after = next((k + 1 for k, t in enumerate(self.tokens) if t is tok), len(self.tokens) - 1)
            if self.tokens[after].upper == "SELECT":
                return _unsupported(self.text, tok.pos, "subqueries")
        shown = "<EOF>" if tok.kind == "eof" else f"'{tok.text}'"
        return _malformed(self.text, tok.pos, f"unexpected token: {shown}")

    # grammar
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        is_count, fields, positions = self.select_list()
        self.expect_keyword("FROM")
        obj = self.next()
        if obj.kind != "ident" or obj.upper in _RESERVED or ":" in obj.text:
            raise self.unexpected(obj)
        self.sobject = obj.text
        if self.is_punct(","):
            raise _unsupported(self.text, self.peek().pos, "querying several objects")
        tok = self.peek()
        if tok.kind == "ident" and tok.upper not in _RESERVED:
            raise _unsupported(self.text, tok.pos, f"object aliases ('{tok.text}')")
        where = self.condition() if self.keyword("WHERE") else None
        order: tuple[OrderItem, ...] = ()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            order = self.order_list()
        limit = self.count_clause("LIMIT")
        offset = self.count_clause("OFFSET")
        if self.peek().kind != "eof":
            raise self.unexpected(self.peek())
        return Query(sobject=obj.text, fields=fields, is_count=is_count, limit=limit, offset=offset,
                     where=where, order_by=order, text=self.text, sobject_pos=obj.pos,
                     field_positions=tuple(positions))

    def select_list(self) -> tuple[bool, list[str], list[int]]:
        tok = self.peek()
        if tok.upper == "COUNT" and self.is_punct("(", 1):
            if not self.is_punct(")", 2):
                raise _unsupported(self.text, tok.pos, "aggregate functions (COUNT(field))")
            self.i += 3
            if self.is_punct(","):
                raise _malformed(self.text, self.peek().pos, "COUNT() must be the only element in the SELECT list")
            return True, [], []
        fields, positions = [], []
        while True:
            ref = self.field()
            fields.append(ref.name)
            positions.append(ref.pos)
            if not self.is_punct(","):
                return False, fields, positions
            self.i += 1

    def field(self) -> FieldRef:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(" and self.peek(1).upper == "SELECT":
            raise _unsupported(self.text, tok.pos, "subqueries")
        if tok.kind != "ident" or tok.upper in _RESERVED or ":" in tok.text:
            raise self.unexpected(tok)
        self.i += 1
        if self.is_punct("("):
            raise _unsupported(self.text, tok.pos, f"functions ({tok.text.upper()}())")
        parts = [tok.text]
        while self.is_punct("."):
            self.i += 1
            part = self.next()
            if part.kind != "ident" or ":" in part.text:
                raise self.unexpected(part)
            parts.append(part.text)
        if len(parts) == 1:
            return FieldRef(tok.text, tok.pos)
        # `Lead.Email` in a query on Lead names the field itself; anything longer is a relationship.
        if len(parts) == 2 and self.sobject and parts[0].lower() == self.sobject.lower():
            return FieldRef(parts[1], tok.pos)
        if len(parts) == 2 and not self.sobject and self.select_prefix_ok(parts[0]):
            return FieldRef(parts[1], tok.pos)
        raise _unsupported(self.text, tok.pos, f"relationship fields ('{'.'.join(parts)}')")

    def select_prefix_ok(self, prefix: str) -> bool:
        """In the SELECT list the object is not known yet: look ahead to the FROM clause."""
        for k in range(self.i, len(self.tokens) - 1):
            if self.tokens[k].upper == "FROM":
                return self.tokens[k + 1].text.lower() == prefix.lower()
        return False

    def condition(self) -> Any:
        first = Logical("NOT", (self.simple(),)) if self.keyword("NOT") else self.simple()
        joiner = self.peek().upper
        if joiner not in ("AND", "OR"):
            return first
        items = [first]
        while self.keyword(joiner):
            items.append(self.simple())
        if self.peek().upper in ("AND", "OR"):  # Salesforce demands parentheses when mixing them
            raise self.unexpected(self.peek())
        return Logical(joiner, tuple(items))

    def simple(self) -> Any:
        if self.is_punct("(") and self.peek(1).upper != "SELECT":
            self.i += 1
            node = self.condition()
            self.expect_punct(")")
            return node
        ref = self.field()
        tok = self.peek()
        if tok.kind == "op":
            self.i += 1
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(ref, op, self.value(), tok.pos)
        if tok.upper == "LIKE":
            self.i += 1
            return Compare(ref, "LIKE", self.value(), tok.pos)
        if tok.upper == "IN" or (tok.upper == "NOT" and self.peek(1).upper == "IN"):
            negated = tok.upper == "NOT"
            self.i += 2 if negated else 1
            return InList(ref, negated, self.value_list(), tok.pos)
        raise self.unexpected(tok)

    def value_list(self) -> tuple[Literal, ...]:
        open_tok = self.peek()
        if self.is_punct("(") and self.peek(1).upper == "SELECT":
            raise _unsupported(self.text, open_tok.pos, "semi-join subqueries (IN (SELECT ...))")
        self.expect_punct("(")
        values = [self.value()]
        while self.is_punct(","):
            self.i += 1
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Literal:
        tok = self.next()
        if tok.kind == "string":
            return Literal("string", tok.value, tok.pos, tok.text, tok.like)
        if tok.kind in ("date", "datetime"):
            return Literal(tok.kind, tok.value, tok.pos, tok.text)
        if tok.kind == "number":
            return Literal("number", tok.value, tok.pos, tok.text)
        if tok.kind == "punct" and tok.text in "+-" and self.peek().kind == "number":
            num = self.next()
            return Literal("number", -num.value if tok.text == "-" else num.value, tok.pos, tok.text + num.text)
        word = tok.upper
        if word in ("TRUE", "FALSE"):
            return Literal("boolean", word == "TRUE", tok.pos, tok.text)
        if word == "NULL":
            return Literal("null", None, tok.pos, tok.text)
        if word in _RELATIVE_DATES:
            return Literal("relative", (word, 0), tok.pos, tok.text)
        name, _, n = word.partition(":")
        if name in _RELATIVE_N_DATES:
            if not n:
                raise _malformed(self.text, tok.pos, f"date literal {name} needs a number of days: {name}:n")
            return Literal("relative", (name, int(n)), tok.pos, tok.text)
        if tok.kind == "ident" and _OTHER_DATE_LITERAL.match(word):
            raise _unsupported(self.text, tok.pos, f"the date literal {word}")
        self.i -= 1
        raise self.unexpected(tok)

    def order_list(self) -> tuple[OrderItem, ...]:
        items = []
        while True:
            ref = self.field()
            descending = bool(self.keyword("DESC"))
            if not descending:
                self.keyword("ASC")
            nulls_first = not descending
            if self.keyword("NULLS"):
                nulls_first = self.peek().upper == "FIRST"
                if self.peek().upper not in ("FIRST", "LAST"):
                    raise self.unexpected(self.peek())
                self.i += 1
            items.append(OrderItem(ref, descending, nulls_first))
            if not self.is_punct(","):
                return tuple(items)
            self.i += 1

    def count_clause(self, word: str) -> int | None:
        if not self.keyword(word):
            return None
        tok = self.next()
        if tok.kind != "number" or not isinstance(tok.value, int):
            raise self.unexpected(tok)
        if word == "OFFSET" and tok.value > MAX_OFFSET:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        return tok.value


@functools.lru_cache(maxsize=1024)
def parse(soql: str) -> Query:
    """Parse a SOQL query (cached: the same text is parsed once). Raises SoqlError."""
    if not isinstance(soql, str):
        raise TypeError(f"parse needs the query text as str, got {type(soql).__name__}")
    return _Parser(soql).query()


# --------------------------------------------------------------------------- execution

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


class _Compiler:
    """Resolves names against one object's schema and compiles the query into closures."""

    def __init__(self, query: Query, schema: dict[str, str], now: dt.datetime | None):
        self.query = query
        self.schema = schema
        self.by_lower = {name.lower(): name for name in schema}
        self.now = now

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
                raise _unsupported(self.query.text, lit.pos, "relative date literals inside IN")
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
    compiler = _Compiler(query, schema, now)
    fields = [] if query.is_count else compiler.select_fields()
    match = compiler.predicate(query.where) if query.where is not None else None
    offset = query.offset or 0
    if query.order_by:
        compiler.sort([])  # resolves ORDER BY names before any row is read, as Salesforce checks them upfront
    if query.is_count:
        total = sum(1 for row in rows if match(row)) if match else sum(1 for _ in rows)
        total = max(0, total - offset)
        return total if query.limit is None else min(total, query.limit)
    selected = rows if match is None else filter(match, rows)
    stop = None if query.limit is None else offset + query.limit
    if query.order_by:
        ordered = list(selected)
        compiler.sort(ordered)
        chosen = ordered[offset:stop]
    else:
        chosen = itertools.islice(selected, offset, stop)  # stops reading rows once LIMIT is reached
    return [{name: row.get(name) for name in fields} for row in chosen]

"""SOQL parser: tokens to a Query (syntax in soql_tree), refusing constructs outside the subset
with MALFORMED_QUERY naming them; `parse` is cached per text."""
from __future__ import annotations

import functools
import re
from typing import Any

from .soql_lexer import Token, lex, malformed, unsupported
from .soql_tree import Compare, FieldRef, InList, Literal, Logical, OrderItem, Query, SoqlError

MAX_OFFSET = 2000

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


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = lex(text)
        self.i = 0
        self.sobject = ""

    # helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def keyword(self, *words: str) -> Token | None:
        tok = self.peek()
        if tok.upper in words:
            self.i += 1
            return tok
        return None

    def expect_keyword(self, word: str) -> Token:
        tok = self.keyword(word)
        if tok is None:
            raise self.unexpected(self.peek())
        return tok

    def expect_punct(self, ch: str) -> Token:
        tok = self.peek()
        if tok.kind != "punct" or tok.text != ch:
            raise self.unexpected(tok)
        return self.next()

    def is_punct(self, ch: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "punct" and tok.text == ch

    def unexpected(self, tok: Token) -> SoqlError:
        if tok.upper in _UNSUPPORTED_KEYWORDS:
            return unsupported(self.text, tok.pos, _UNSUPPORTED_KEYWORDS[tok.upper])
        if tok.kind == "punct" and tok.text == ":":
            return unsupported(self.text, tok.pos, "bind variables (:name)")
        if tok.kind == "punct" and tok.text == "(":
            after = next((k + 1 for k, t in enumerate(self.tokens) if t is tok), len(self.tokens) - 1)
            if self.tokens[after].upper == "SELECT":
                return unsupported(self.text, tok.pos, "subqueries")
        shown = "<EOF>" if tok.kind == "eof" else f"'{tok.text}'"
        return malformed(self.text, tok.pos, f"unexpected token: {shown}")

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
            raise unsupported(self.text, self.peek().pos, "querying several objects")
        tok = self.peek()
        if tok.kind == "ident" and tok.upper not in _RESERVED:
            raise unsupported(self.text, tok.pos, f"object aliases ('{tok.text}')")
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
                raise unsupported(self.text, tok.pos, "aggregate functions (COUNT(field))")
            self.i += 3
            if self.is_punct(","):
                raise malformed(self.text, self.peek().pos, "COUNT() must be the only element in the SELECT list")
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
            raise unsupported(self.text, tok.pos, "subqueries")
        if tok.kind != "ident" or tok.upper in _RESERVED or ":" in tok.text:
            raise self.unexpected(tok)
        self.i += 1
        if self.is_punct("("):
            raise unsupported(self.text, tok.pos, f"functions ({tok.text.upper()}())")
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
        raise unsupported(self.text, tok.pos, f"relationship fields ('{'.'.join(parts)}')")

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
            raise unsupported(self.text, open_tok.pos, "semi-join subqueries (IN (SELECT ...))")
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
                raise malformed(self.text, tok.pos, f"date literal {name} needs a number of days: {name}:n")
            return Literal("relative", (name, int(n)), tok.pos, tok.text)
        if tok.kind == "ident" and _OTHER_DATE_LITERAL.match(word):
            raise unsupported(self.text, tok.pos, f"the date literal {word}")
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

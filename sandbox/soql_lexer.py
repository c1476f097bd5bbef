"""SOQL lexer: the query text as tokens (strings with Salesforce's escapes, numbers, dates,
names, punctuation), each with its position for error messages."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from .soql_tree import SoqlError, located, parse_date_literal, parse_datetime_literal

_STRING_ESCAPES = {"n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b", "B": "\b",
                   "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\"}

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<temporal>\d{4}-\d{2}-\d{2}(?:T[0-9:.]*(?:[Zz]|[+-][0-9:]*)?)?)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.:+-])
""", re.VERBOSE)


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str            # ident string number temporal op punct other eof
    text: str
    pos: int
    value: Any = None
    like: str | None = None

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def malformed(text: str, pos: int, message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", located(text, pos, message))


def unsupported(text: str, pos: int, what: str) -> SoqlError:
    return malformed(text, pos, f"the sandbox SOQL subset does not support {what}")


def _lex_string(text: str, start: int) -> Token:
    value: list[str] = []
    like: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return Token("string", text[start:i + 1], start, "".join(value), "".join(like))
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
                raise malformed(text, i, f"Invalid string literal '{text[start + 1:i + 2]}'. "
                                          f"Illegal character sequence '{seq}' in string literal.")
            continue
        value.append(ch)
        like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    raise malformed(text, len(text), "mismatched character '<EOF>' expecting '''")


def lex(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "'":
            tok = _lex_string(text, pos)
            tokens.append(tok)
            pos += len(tok.text)
            continue
        m = _TOKEN_RE.match(text, pos)
        if not m:
            tokens.append(Token("other", text[pos], pos))
            pos += 1
            continue
        kind, chunk = m.lastgroup, m.group()
        if kind == "temporal":
            try:
                value = parse_datetime_literal(chunk) if "T" in chunk.upper() else parse_date_literal(chunk)
            except ValueError as exc:
                raise malformed(text, pos, str(exc)) from None
            kind = "datetime" if isinstance(value, dt.datetime) else "date"
            tokens.append(Token(kind, chunk, pos, value))
        elif kind == "number":
            tokens.append(Token(kind, chunk, pos, float(chunk) if "." in chunk else int(chunk)))
        elif kind != "ws":
            tokens.append(Token(kind, chunk, pos))
        pos = m.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens

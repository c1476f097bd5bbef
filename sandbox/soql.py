"""The SOQL subset the sandbox org answers: `parse` (cached) and `execute` over in-memory rows.

Behaviour follows Salesforce where a client can observe it: case-insensitive names and string
comparisons, blank strings equal null, AND and OR cannot be mixed without parentheses, NOT only
opens a condition, ORDER BY defaults to ASC NULLS FIRST (DESC: NULLS LAST), OFFSET at most 2000,
errors carry Salesforce's codes and its "ERROR at Row:R:Column:C" messages. Constructs outside the
subset (relationships, subqueries, aggregates, functions, GROUP BY...) are refused with
MALFORMED_QUERY naming the construct, never silently ignored.
"""
from __future__ import annotations

# The pieces: soql_tree (errors, literals, syntax tree, names), soql_lexer, soql_parser, soql_eval.
from .soql_eval import execute, select
from .soql_parser import parse
from .soql_tree import (
    Compare,
    FieldRef,
    InList,
    Literal,
    Logical,
    OrderItem,
    Query,
    SoqlError,
    format_datetime,
    parse_date_literal,
    parse_datetime_literal,
)

__all__ = ["Compare", "FieldRef", "InList", "Literal", "Logical", "OrderItem", "Query", "SoqlError",
           "execute", "format_datetime", "parse", "parse_date_literal", "parse_datetime_literal", "select"]

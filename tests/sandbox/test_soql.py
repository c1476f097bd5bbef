"""The sandbox's SOQL subset: parsing, filtering, ordering, paging clauses and Salesforce-style errors."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import soql
from sandbox.ids import IdFactory

UTC = dt.timezone.utc
SCHEMA = {
    "Id": "id", "Email": "email", "FirstName": "string", "LastName": "string", "Company": "string",
    "Status": "picklist", "Description": "textarea", "Phone": "phone", "HasOptedOutOfEmail": "boolean",
    "IsDeleted": "boolean", "pi__score__c": "double", "NumberOfEmployees": "int", "AnnualRevenue": "currency",
    "CreatedDate": "datetime", "SystemModstamp": "datetime", "ConvertedDate": "date", "OwnerId": "reference",
}
_ids = IdFactory(pod="7x")
U1, U2 = _ids.new("005"), _ids.new("005")
LEAD_IDS = [_ids.new("00Q") for _ in range(6)]


def t(text: str) -> dt.datetime:
    return soql.parse_datetime_literal(text)


ROWS = [
    {"Id": LEAD_IDS[0], "LastName": "r1", "Email": "alice@example.com", "FirstName": "Alice", "Company": "Acme",
     "Status": "Open", "HasOptedOutOfEmail": False, "IsDeleted": False, "pi__score__c": 10.0,
     "NumberOfEmployees": 50, "CreatedDate": t("2024-05-01T10:00:00Z"), "ConvertedDate": dt.date(2024, 5, 2),
     "OwnerId": U1},
    {"Id": LEAD_IDS[1], "LastName": "r2", "Email": "BOB@Example.com", "FirstName": "Bob", "Company": "acme",
     "Status": "Working", "HasOptedOutOfEmail": True, "IsDeleted": False, "pi__score__c": 25.5,
     "NumberOfEmployees": None, "CreatedDate": t("2024-05-01T08:30:00Z"), "ConvertedDate": None, "OwnerId": U2},
    {"Id": LEAD_IDS[2], "LastName": "r3", "Email": None, "FirstName": None, "Company": "O'Brien & Sons",
     "Status": "Open", "HasOptedOutOfEmail": False, "IsDeleted": False, "pi__score__c": None,
     "NumberOfEmployees": 5, "CreatedDate": t("2024-04-30T23:59:59.999Z"), "ConvertedDate": dt.date(2024, 4, 30),
     "OwnerId": U1},
    {"Id": LEAD_IDS[3], "LastName": "r4", "Email": "carol_x@test.org", "FirstName": "Carol",
     "Company": "100% Natural", "Status": "Closed", "HasOptedOutOfEmail": False, "IsDeleted": False,
     "pi__score__c": -3, "NumberOfEmployees": 200, "CreatedDate": t("2024-05-02T00:00:00Z"),
     "ConvertedDate": None, "OwnerId": None},
    {"Id": LEAD_IDS[4], "LastName": "r5", "Email": "dave@example.com", "FirstName": "", "Company": "Back\\slash",
     "Status": None, "HasOptedOutOfEmail": True, "IsDeleted": False, "pi__score__c": 0, "NumberOfEmployees": 0,
     "CreatedDate": t("2024-05-03T12:00:00Z"), "ConvertedDate": dt.date(2024, 5, 3), "OwnerId": U2,
     "Description": "line1\nline2\t'quoted' \"double\""},
    {"Id": LEAD_IDS[5], "LastName": "r6", "Email": "eve@example.com", "FirstName": "Eve", "Company": "Evil_Corp",
     "Status": "Open", "HasOptedOutOfEmail": False, "IsDeleted": True, "pi__score__c": 99,
     "NumberOfEmployees": 7, "CreatedDate": t("2024-05-01T10:00:00.500Z"), "ConvertedDate": None, "OwnerId": U1},
]
ALL = {"r1", "r2", "r3", "r4", "r5", "r6"}
NOW = dt.datetime(2024, 5, 3, 15, 0, tzinfo=UTC)


def run(text: str, rows=ROWS, now=NOW):
    return soql.execute(soql.parse(text), rows, SCHEMA, now=now)


def names(where: str) -> set[str]:
    return {row["LastName"] for row in run(f"SELECT LastName FROM Lead WHERE {where}")}


def ordered(tail: str) -> list[str]:
    return [row["LastName"] for row in run(f"SELECT LastName FROM Lead {tail}")]


def error(text: str, rows=ROWS) -> soql.SoqlError:
    with pytest.raises(soql.SoqlError) as info:
        run(text, rows)
    return info.value


# --------------------------------------------------------------------------- parsing


def test_parse_exposes_the_query_shape():
    q = soql.parse("SELECT Id, Email, lastname FROM Lead WHERE Email != null ORDER BY Email LIMIT 10 OFFSET 5")
    assert (q.sobject, q.fields, q.is_count, q.limit, q.offset) == ("Lead", ["Id", "Email", "lastname"], False, 10, 5)
    count = soql.parse("select count() from Contact")
    assert (count.sobject, count.fields, count.is_count, count.limit, count.offset) == ("Contact", [], True, None, None)


def test_parse_is_cached_per_query_text():
    text = "SELECT Id FROM Lead WHERE Email = 'cache@example.com'"
    assert soql.parse(text) is soql.parse(text)
    assert soql.parse(text) is not soql.parse(text + " ")


def test_keywords_are_case_insensitive_and_whitespace_is_free():
    text = "select\n  Id,\tEmail\nfrom Lead\nwhere Email like '%@EXAMPLE.com' and IsDeleted = FALSE\norder by Email desc nulls last\nlimit 2"
    assert [r["Id"] for r in run(text)] == [LEAD_IDS[4], LEAD_IDS[1]]


def test_object_name_prefix_on_fields_is_the_field_itself():
    rows = run("SELECT Lead.LastName FROM Lead WHERE lead.Email = 'alice@example.com' ORDER BY Lead.LastName")
    assert rows == [{"LastName": "r1"}]


# --------------------------------------------------------------------------- projection


def test_rows_are_projected_to_canonical_names_in_select_order():
    rows = run("SELECT email, ID, pi__SCORE__c, Description FROM Lead WHERE LastName = 'r1'")
    assert rows == [{"Email": "alice@example.com", "Id": LEAD_IDS[0], "pi__score__c": 10.0, "Description": None}]
    assert list(rows[0]) == ["Email", "Id", "pi__score__c", "Description"]


def test_projection_copies_values_and_leaves_source_rows_untouched():
    source = [dict(row) for row in ROWS]
    out = run("SELECT Id FROM Lead", source)
    out[0]["Id"] = "changed"
    assert source == ROWS


def test_caller_may_derive_a_query_with_extra_fields():
    # sandbox/sf_query.py appends Id to keep attributes.url; the derived query must run like the original.
    q = soql.parse("SELECT Email FROM Lead WHERE LastName = 'r2'")
    derived = dataclasses.replace(q, fields=[*q.fields, "Id"])
    assert soql.execute(derived, ROWS, SCHEMA) == [{"Email": "BOB@Example.com", "Id": LEAD_IDS[1]}]
    assert q.fields == ["Email"]


def test_canonical_fields_and_invalid_type_error():
    q = soql.parse("SELECT id, EMAIL FROM Leed")
    assert q.canonical_fields(SCHEMA) == ["Id", "Email"]
    err = q.invalid_type_error()
    assert err.code == "INVALID_TYPE"
    assert err.message == ("\nSELECT id, EMAIL FROM Leed\n                      ^\nERROR at Row:1:Column:23\n"
                           "sObject type 'Leed' is not supported. If you are attempting to use a custom object, be "
                           "sure to append the '__c' after the entity name. Please reference your WSDL or the "
                           "describe call for the appropriate names.")


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize("where, expected", [
    ("LastName = 'r1'", {"r1"}),
    ("Company = 'ACME'", {"r1", "r2"}),
    ("Company != 'acme'", ALL - {"r1", "r2"}),
    ("Company <> 'Acme'", ALL - {"r1", "r2"}),
    ("Company < 'b'", {"r1", "r2", "r4"}),
    ("Company <= 'ACME'", {"r1", "r2", "r4"}),
    ("Company > 'back\\\\slash'", {"r3", "r6"}),
    ("Company >= 'Back\\\\Slash'", {"r3", "r5", "r6"}),
    ("pi__score__c = 10", {"r1"}),
    ("pi__score__c != 10", ALL - {"r1"}),
    ("pi__score__c < 10", {"r4", "r5"}),
    ("pi__score__c <= 10", {"r1", "r4", "r5"}),
    ("pi__score__c > 10", {"r2", "r6"}),
    ("pi__score__c >= 25.5", {"r2", "r6"}),
    ("pi__score__c > -3.5", ALL - {"r3"}),
    ("pi__score__c = -3", {"r4"}),
    ("pi__score__c < +1", {"r4", "r5"}),
    ("NumberOfEmployees >= 50", {"r1", "r4"}),
    ("NumberOfEmployees IN (0, 5, 7)", {"r3", "r5", "r6"}),
    ("NumberOfEmployees NOT IN (0, 5, 7)", {"r1", "r2", "r4"}),
    ("Status IN ('open', 'CLOSED')", {"r1", "r3", "r4", "r6"}),
    ("Status NOT IN ('Open')", {"r2", "r4", "r5"}),
    ("Status IN ('Working', null)", {"r2", "r5"}),
    ("Status NOT IN ('Working', null)", {"r1", "r3", "r4", "r6"}),
    ("HasOptedOutOfEmail = true", {"r2", "r5"}),
    ("HasOptedOutOfEmail = FALSE", {"r1", "r3", "r4", "r6"}),
    ("HasOptedOutOfEmail != true", {"r1", "r3", "r4", "r6"}),
    ("IsDeleted = false", ALL - {"r6"}),
    ("CreatedDate > 2024-05-01T09:00:00Z", {"r1", "r4", "r5", "r6"}),
    ("CreatedDate >= 2024-05-02T00:00:00Z", {"r4", "r5"}),
    ("CreatedDate < 2024-05-01T08:30:00Z", {"r3"}),
    ("CreatedDate <= 2024-05-01T08:30:00Z", {"r2", "r3"}),
    ("CreatedDate = 2024-05-01T10:00:00.000Z", {"r1"}),
    ("CreatedDate = 2024-05-01T10:00:00.5Z", {"r6"}),
    ("CreatedDate != 2024-05-01T10:00:00Z", ALL - {"r1"}),
    ("CreatedDate IN (2024-05-01T10:00:00Z, 2024-05-02T00:00:00Z)", {"r1", "r4"}),
    ("ConvertedDate = 2024-05-02", {"r1"}),
    ("ConvertedDate > 2024-04-30", {"r1", "r5"}),
    ("ConvertedDate <= 2024-05-02", {"r1", "r3"}),
    ("OwnerId = '" + U1 + "'", {"r1", "r3", "r6"}),
    ("OwnerId = '" + U1[:15] + "'", {"r1", "r3", "r6"}),
    ("OwnerId IN ('" + U2[:15].swapcase() + "')", set()),  # 15-char ids are case-sensitive
    ("OwnerId != '" + U1 + "'", {"r2", "r4", "r5"}),
    ("Id IN ('" + LEAD_IDS[0] + "', '" + LEAD_IDS[4][:15] + "')", {"r1", "r5"}),
    ("Id = '" + LEAD_IDS[0][:15] + LEAD_IDS[0][15:].lower() + "'", {"r1"}),  # the suffix is case-insensitive
])
def test_comparison_operators(where, expected):
    assert names(where) == expected


@pytest.mark.parametrize("pattern, expected", [
    ("'%@example.com'", {"r1", "r2", "r5", "r6"}),
    ("'%@EXAMPLE.COM'", {"r1", "r2", "r5", "r6"}),
    ("'a%'", {"r1"}),
    ("'%'", ALL - {"r3"}),
    ("'____@example.com'", {"r5"}),
    ("'carol\\_x@%'", {"r4"}),
    ("'carol_x@test.org'", {"r4"}),
    ("'%.org'", {"r4"}),
    ("'alice'", set()),
    ("'%(%'", set()),
    ("'alice@example.co'", set()),
])
def test_like_on_email(pattern, expected):
    assert names(f"Email LIKE {pattern}") == expected


@pytest.mark.parametrize("pattern, expected", [
    ("'100\\%%'", {"r4"}),
    ("'100%'", {"r4"}),
    ("'%\\%%'", {"r4"}),
    ("'evil\\_corp'", {"r6"}),
    ("'evil_corp'", {"r6"}),
    ("'evil\\_%'", {"r6"}),
    ("'o\\'brien%'", {"r3"}),
    ("'back\\\\slash'", {"r5"}),
    ("'%&%'", {"r3"}),
    ("'%.*%'", set()),
])
def test_like_wildcard_escapes(pattern, expected):
    assert names(f"Company LIKE {pattern}") == expected


def test_like_on_multiline_text_spans_lines():
    assert names("Description LIKE 'line1%LINE2%'") == {"r5"}


# --------------------------------------------------------------------------- logic


@pytest.mark.parametrize("where, expected", [
    ("Company = 'acme' AND HasOptedOutOfEmail = true", {"r2"}),
    ("Company = 'acme' OR Status = 'Closed'", {"r1", "r2", "r4"}),
    ("Company = 'acme' AND Status = 'Open' AND IsDeleted = false", {"r1"}),
    ("Status = 'Closed' OR Status = 'Working' OR Status = null", {"r2", "r4", "r5"}),
    ("NOT Status = 'Open'", {"r2", "r4", "r5"}),
    ("NOT Status = 'Open' AND HasOptedOutOfEmail = true", {"r2", "r5"}),  # NOT binds to the first term only
    ("NOT (Status = 'Open' AND HasOptedOutOfEmail = false)", {"r2", "r4", "r5"}),
    ("Company = 'acme' AND (Status = 'Working' OR Status = 'Open')", {"r1", "r2"}),
    ("(Company = 'acme' AND Status = 'Working') OR Status = 'Open'", {"r1", "r2", "r3", "r6"}),
    ("(Company = 'acme' AND Status = 'Open') OR (IsDeleted = true)", {"r1", "r6"}),
    ("Company = 'acme' AND (NOT Status = 'Open')", {"r2"}),
    ("((LastName = 'r1'))", {"r1"}),
    ("(NOT (NOT LastName = 'r1'))", {"r1"}),
    ("(LastName = 'r1' OR LastName = 'r2') AND (LastName = 'r2' OR LastName = 'r3')", {"r2"}),
])
def test_and_or_not_and_parentheses(where, expected):
    assert names(where) == expected


@pytest.mark.parametrize("where", [
    "LastName = 'r1' AND LastName = 'r2' OR LastName = 'r3'",
    "LastName = 'r1' OR LastName = 'r2' AND LastName = 'r3'",
    "(LastName = 'r1' AND LastName = 'r2' OR LastName = 'r3')",
])
def test_mixing_and_with_or_needs_parentheses(where):
    err = error(f"SELECT Id FROM Lead WHERE {where}")
    assert err.code == "MALFORMED_QUERY"
    assert err.message.endswith("unexpected token: 'OR'") or err.message.endswith("unexpected token: 'AND'")


def test_not_after_and_needs_parentheses_as_in_salesforce():
    err = error("SELECT Id FROM Lead WHERE Email != null AND NOT (pi__score__c > 0)")
    assert err.code == "MALFORMED_QUERY"
    assert err.message.endswith("unexpected token: 'NOT'")


# --------------------------------------------------------------------------- nulls and blanks


@pytest.mark.parametrize("where, expected", [
    ("Email = null", {"r3"}),
    ("Email != null", ALL - {"r3"}),
    ("Email <> NULL", ALL - {"r3"}),
    ("FirstName = null", {"r3", "r5"}),       # a blank string is null, as Salesforce stores it
    ("FirstName = ''", {"r3", "r5"}),
    ("FirstName != ''", ALL - {"r3", "r5"}),
    ("pi__score__c = null", {"r3"}),
    ("pi__score__c != null", ALL - {"r3"}),
    ("ConvertedDate = null", {"r2", "r4", "r6"}),
    ("OwnerId = null", {"r4"}),
    ("OwnerId = ''", {"r4"}),
    ("Status != 'Open'", {"r2", "r4", "r5"}),  # != keeps null values
    ("pi__score__c < 100", ALL - {"r3"}),     # ordering never matches null
    ("Email LIKE '%'", ALL - {"r3"}),
    ("NOT Email LIKE 'zzz%'", ALL),
    ("HasOptedOutOfEmail = null", set()),
])
def test_nulls(where, expected):
    assert names(where) == expected


def test_missing_keys_read_as_null():
    rows = [{"LastName": "sparse"}]
    assert run("SELECT LastName, Email FROM Lead WHERE Email = null AND IsDeleted = false", rows) == [
        {"LastName": "sparse", "Email": None}]


# --------------------------------------------------------------------------- string literals


@pytest.mark.parametrize("literal, value", [
    ("'plain'", "plain"),
    ("'O\\'Brien'", "O'Brien"),
    ("'say \\\"hi\\\"'", 'say "hi"'),
    ("'back\\\\slash'", "back\\slash"),
    ("'a\\nb\\rc\\td\\be\\ff'", "a\nb\rc\td\be\ff"),
    ("'A\\NB\\RC\\TD\\BE\\FF'", "A\nB\rC\tD\bE\fF"),
    ("'caf\\u00e9'", "café"),
    ("'50\\%'", "50\\%"),     # wildcard escapes mean something only in LIKE
    ("'a\\_b'", "a\\_b"),
    ("'WHERE AND OR'", "WHERE AND OR"),
    ("''", ""),
])
def test_string_escapes(literal, value):
    q = soql.parse(f"SELECT Id FROM Lead WHERE Description = {literal}")
    assert q.where.value.value == value


def test_escaped_values_match_stored_text():
    text = "SELECT LastName FROM Lead WHERE Description = 'LINE1\\nline2\\t\\'quoted\\' \\\"double\\\"'"
    assert run(text) == [{"LastName": "r5"}]
    assert names("Company = 'o\\'brien & sons'") == {"r3"}


@pytest.mark.parametrize("literal, sequence", [("'a\\qb'", "\\q"), ("'a\\'", None), ("'\\u12'", "\\u")])
def test_bad_string_literals(literal, sequence):
    err = error(f"SELECT Id FROM Lead WHERE Company = {literal}")
    assert err.code == "MALFORMED_QUERY"
    if sequence:
        assert f"Illegal character sequence '{sequence}' in string literal." in err.message
    else:
        assert err.message.endswith("mismatched character '<EOF>' expecting '''")


# --------------------------------------------------------------------------- datetimes and dates


@pytest.mark.parametrize("literal, expected", [
    ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00.000Z", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00.123456789Z", dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T05:30:00-04:30", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00.000+0000", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T00:30:00+01:00", dt.datetime(2024, 4, 30, 23, 30, tzinfo=UTC)),
    ("2024-12-31T23:00:00-01:00", dt.datetime(2025, 1, 1, 0, tzinfo=UTC)),
])
def test_parse_datetime_literal(literal, expected):
    value = soql.parse_datetime_literal(literal)
    assert value == expected and value.tzinfo == UTC


@pytest.mark.parametrize("literal", ["2024-05-01", "2024-05-01T10:00:00", "2024-13-01T00:00:00Z",
                                     "2024-05-01T24:00:00Z", "2024-05-01 10:00:00Z", "2024-05-01T10:00Z",
                                     "2024-05-01T10:00:00+25:00", "", "yesterday"])
def test_parse_datetime_literal_rejects(literal):
    with pytest.raises(ValueError, match="Invalid datetime"):
        soql.parse_datetime_literal(literal)


def test_format_datetime():
    assert soql.format_datetime(dt.datetime(2024, 5, 1, 10, 0, 0, 123999, tzinfo=UTC)) == "2024-05-01T10:00:00.123+0000"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert soql.format_datetime(dt.datetime(2024, 5, 1, 1, 0, tzinfo=plus2)) == "2024-04-30T23:00:00.000+0000"
    assert soql.format_datetime(dt.datetime(2024, 5, 1, 10, 0)) == "2024-05-01T10:00:00.000+0000"
    with pytest.raises(TypeError, match="needs a datetime"):
        soql.format_datetime(dt.date(2024, 5, 1))


@given(st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(9999, 12, 30),
                    timezones=st.just(UTC)))
def test_format_and_parse_round_trip_at_millisecond_precision(value):
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    text = soql.format_datetime(value)
    assert soql.parse_datetime_literal(text) == value
    assert soql.parse(f"SELECT Id FROM Lead WHERE CreatedDate = {text}").where.value.value == value


@pytest.mark.parametrize("where, expected", [
    ("CreatedDate = 2024-05-01T12:00:00+02:00", {"r1"}),
    ("CreatedDate = 2024-05-01T06:00:00-02:00", set()),
    ("CreatedDate = 2024-05-01T04:30:00-04:00", {"r2"}),
    ("CreatedDate < 2024-05-01T01:00:00+01:00", {"r3"}),
    ("CreatedDate >= 2024-05-02T02:00:00+02:00", {"r4", "r5"}),
    ("CreatedDate > 2024-04-30T23:59:59.998Z AND CreatedDate < 2024-05-01T00:00:00Z", {"r3"}),
])
def test_datetime_filters_honour_offsets(where, expected):
    assert names(where) == expected


@pytest.mark.parametrize("where, expected", [
    ("CreatedDate = TODAY", {"r5"}),                 # NOW is 2024-05-03T15:00Z
    ("CreatedDate != TODAY", ALL - {"r5"}),
    ("CreatedDate < TODAY", ALL - {"r5"}),
    ("CreatedDate <= TODAY", ALL),
    ("CreatedDate > YESTERDAY", {"r5"}),
    ("CreatedDate >= YESTERDAY", {"r4", "r5"}),
    ("CreatedDate = YESTERDAY", {"r4"}),
    ("CreatedDate = TOMORROW", set()),
    ("CreatedDate = LAST_N_DAYS:1", {"r4", "r5"}),
    ("CreatedDate = LAST_N_DAYS:2", {"r1", "r2", "r4", "r5", "r6"}),
    ("CreatedDate < LAST_N_DAYS:2", {"r3"}),
    ("CreatedDate > LAST_N_DAYS:30", set()),
    ("CreatedDate = NEXT_N_DAYS:5", set()),
    ("ConvertedDate = TODAY", {"r5"}),
    ("ConvertedDate = YESTERDAY", {"r1"}),
    ("ConvertedDate = LAST_N_DAYS:1", {"r1", "r5"}),
    ("ConvertedDate < LAST_N_DAYS:2", {"r3"}),
    ("ConvertedDate >= last_n_days:3", {"r1", "r3", "r5"}),
    ("ConvertedDate != TODAY", ALL - {"r5"}),
])
def test_relative_date_literals(where, expected):
    assert names(where) == expected


def test_relative_dates_use_the_current_time_by_default():
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [{"LastName": "now", "CreatedDate": today + dt.timedelta(seconds=1)},
            {"LastName": "old", "CreatedDate": today - dt.timedelta(days=3)}]
    found = {r["LastName"] for r in soql.execute(soql.parse("SELECT LastName FROM Lead WHERE CreatedDate = TODAY"),
                                                 rows, SCHEMA)}
    assert found == {"now"}


# --------------------------------------------------------------------------- ORDER BY, LIMIT, OFFSET, COUNT


@pytest.mark.parametrize("tail, expected", [
    ("ORDER BY LastName", ["r1", "r2", "r3", "r4", "r5", "r6"]),
    ("ORDER BY LastName DESC", ["r6", "r5", "r4", "r3", "r2", "r1"]),
    ("ORDER BY pi__score__c", ["r3", "r4", "r5", "r1", "r2", "r6"]),
    ("ORDER BY pi__score__c ASC NULLS FIRST", ["r3", "r4", "r5", "r1", "r2", "r6"]),
    ("ORDER BY pi__score__c ASC NULLS LAST", ["r4", "r5", "r1", "r2", "r6", "r3"]),
    ("ORDER BY pi__score__c DESC", ["r6", "r2", "r1", "r5", "r4", "r3"]),
    ("ORDER BY pi__score__c DESC NULLS FIRST", ["r3", "r6", "r2", "r1", "r5", "r4"]),
    ("ORDER BY pi__score__c DESC NULLS LAST", ["r6", "r2", "r1", "r5", "r4", "r3"]),
    ("ORDER BY Email", ["r3", "r1", "r2", "r4", "r5", "r6"]),   # case-insensitive: alice < BOB < carol
    ("ORDER BY Company, LastName DESC", ["r4", "r2", "r1", "r5", "r6", "r3"]),
    ("ORDER BY Status NULLS LAST, pi__score__c DESC NULLS FIRST",
     ["r4", "r3", "r6", "r1", "r2", "r5"]),
    ("ORDER BY HasOptedOutOfEmail DESC, ConvertedDate DESC NULLS LAST, LastName",
     ["r5", "r2", "r1", "r3", "r4", "r6"]),
    ("ORDER BY CreatedDate", ["r3", "r2", "r1", "r6", "r4", "r5"]),
    ("ORDER BY OwnerId NULLS LAST, LastName DESC",
     ["r6", "r3", "r1", "r5", "r2", "r4"]),  # U1 was issued before U2
    ("WHERE IsDeleted = false ORDER BY NumberOfEmployees DESC LIMIT 2", ["r4", "r1"]),
    ("ORDER BY LastName LIMIT 2 OFFSET 3", ["r4", "r5"]),
    ("ORDER BY LastName OFFSET 4", ["r5", "r6"]),
    ("ORDER BY LastName LIMIT 0", []),
    ("ORDER BY LastName OFFSET 2000", []),
    ("LIMIT 2", ["r1", "r2"]),
    ("LIMIT 3 OFFSET 4", ["r5", "r6"]),
    ("WHERE Company LIKE 'a%' ORDER BY lastname desc", ["r2", "r1"]),
])
def test_order_limit_offset(tail, expected):
    assert ordered(tail) == expected


@pytest.mark.parametrize("text, expected", [
    ("SELECT COUNT() FROM Lead", 6),
    ("SELECT count() FROM Lead WHERE IsDeleted = false", 5),
    ("SELECT COUNT() FROM Lead WHERE Email LIKE '%@example.com' AND Company = 'ACME'", 2),
    ("SELECT COUNT() FROM Lead WHERE Email = 'nobody@example.com'", 0),
    ("SELECT COUNT() FROM Lead LIMIT 4", 4),
    ("SELECT COUNT() FROM Lead OFFSET 5", 1),
    ("SELECT COUNT() FROM Lead WHERE IsDeleted = false LIMIT 10 OFFSET 2", 3),
])
def test_count(text, expected):
    assert run(text) == expected


def test_count_accepts_a_single_pass_iterator():
    assert run("SELECT COUNT() FROM Lead WHERE pi__score__c > 0", iter(ROWS)) == 3


def test_limit_without_order_by_stops_reading_rows():
    def rows():
        yield from ROWS
        raise AssertionError("read past LIMIT")
    assert [r["LastName"] for r in run("SELECT LastName FROM Lead WHERE IsDeleted = false LIMIT 3", rows())] == [
        "r1", "r2", "r3"]


# --------------------------------------------------------------------------- case-insensitivity


@pytest.mark.parametrize("where", [
    "EMAIL = 'ALICE@EXAMPLE.COM'", "email = 'Alice@Example.com'", "Email IN ('alice@EXAMPLE.com')",
    "eMaIl LIKE 'ALICE@%'", "FIRSTNAME = 'alice'", "firstname >= 'ALICE' AND FirstName < 'alicf'",
])
def test_names_and_string_comparisons_ignore_case(where):
    assert names(where) == {"r1"}


# --------------------------------------------------------------------------- scale


def test_hundred_thousand_rows_filter_sort_and_count():
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"Id": f"row{i}", "Email": f"user{i}@example.com", "pi__score__c": float(i % 100) if i % 10 else None,
             "IsDeleted": i % 50 == 0, "SystemModstamp": base + dt.timedelta(seconds=i)} for i in range(100_000)]
    text = ("SELECT Id, Email, SystemModstamp FROM Lead WHERE SystemModstamp > 2024-01-01T20:00:00Z "
            "AND IsDeleted = false ORDER BY SystemModstamp LIMIT 2000")
    result = soql.execute(soql.parse(text), rows, SCHEMA)
    assert len(result) == 2000
    assert result[0] == {"Id": "row72001", "Email": "user72001@example.com",
                         "SystemModstamp": base + dt.timedelta(seconds=72001)}
    assert all(a["SystemModstamp"] < b["SystemModstamp"] for a, b in zip(result, result[1:]))
    count = soql.execute(soql.parse("SELECT COUNT() FROM Lead WHERE pi__score__c >= 50 AND IsDeleted = false"),
                         rows, SCHEMA)
    assert count == sum(1 for r in rows if r["pi__score__c"] is not None and r["pi__score__c"] >= 50
                        and not r["IsDeleted"])


# --------------------------------------------------------------------------- errors


def test_unknown_field_error_matches_salesforce():
    err = error("SELECT Id, Foo FROM Lead")
    assert err.code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Id, Foo FROM Lead\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity "
        "'Lead'. If you are attempting to use a custom field, be sure to append the '__c' after the custom "
        "field name. Please reference your WSDL or the describe call for the appropriate names.")


@pytest.mark.parametrize("text, field, column", [
    ("SELECT Id FROM Lead WHERE Bogus__c = 'x'", "Bogus__c", 27),
    ("SELECT Id FROM Lead WHERE Email = 'x' OR (Nope IN ('a'))", "Nope", 43),
    ("SELECT Id FROM Lead ORDER BY Email, Zzz DESC", "Zzz", 37),
    ("SELECT Id, pi__score__pc FROM Lead", "pi__score__pc", 12),
    ("SELECT Id FROM Lead WHERE Lead.Nope = null", "Nope", 27),
])
def test_unknown_fields_anywhere(text, field, column):
    err = error(text)
    assert err.code == "INVALID_FIELD"
    assert f"ERROR at Row:1:Column:{column}\nNo such column '{field}' on entity 'Lead'." in err.message


def test_error_location_on_later_lines():
    err = error("SELECT Id\nFROM Lead\nWHERE Email = 'a@b.c' AND Missing = 1")
    assert err.message.startswith("\nWHERE Email = 'a@b.c' AND Missing = 1\n                          ^\n"
                                  "ERROR at Row:3:Column:27\nNo such column 'Missing'")


def test_error_location_window_on_long_lines():
    text = ("SELECT Id FROM Lead WHERE Email = 'someone.with.a.long.address@example.com' AND Company = 'Acme' "
            "AND Oops = 1")
    err = error(text)
    assert f"ERROR at Row:1:Column:{text.index('Oops') + 1}\n" in err.message
    shown, caret = err.message.split("\n")[1:3]
    assert shown.endswith("AND Oops = 1") and len(shown) < len(text)
    assert shown[caret.index("^"):].startswith("Oops")


@pytest.mark.parametrize("text, message", [
    ("", "unexpected token: <EOF>"),
    ("SELECT", "unexpected token: <EOF>"),
    ("SELECT Id", "unexpected token: <EOF>"),
    ("SELECT Id FROM", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead WHERE", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead WHERE Email", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead WHERE Email =", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead WHERE (Email = null", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead WHERE Email = null)", "unexpected token: ')'"),
    ("SELECT * FROM Lead", "unexpected token: '*'"),
    ("SELECT Id, FROM Lead", "unexpected token: 'FROM'"),
    ("SELECT Id Email FROM Lead", "unexpected token: 'Email'"),
    ("UPDATE Lead SET Email = null", "unexpected token: 'UPDATE'"),
    ("SELECT Id FROM Lead WHERE Email == 'x'", "unexpected token: '='"),
    ("SELECT Id FROM Lead WHERE Email = \"x\"", "unexpected token: '\"'"),
    ("SELECT Id FROM Lead WHERE Email IN ()", "unexpected token: ')'"),
    ("SELECT Id FROM Lead WHERE Email IN 'x'", "unexpected token: ''x''"),
    ("SELECT Id FROM Lead WHERE Email NOT LIKE 'x'", "unexpected token: 'NOT'"),
    ("SELECT Id FROM Lead WHERE NOT NOT Email = null", "unexpected token: 'NOT'"),
    ("SELECT Id FROM Lead WHERE Email = bogus", "unexpected token: 'bogus'"),
    ("SELECT Id FROM Lead ORDER Email", "unexpected token: 'Email'"),
    ("SELECT Id FROM Lead ORDER BY Email NULLS", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead ORDER BY Email NULLS MIDDLE", "unexpected token: 'MIDDLE'"),
    ("SELECT Id FROM Lead LIMIT", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead LIMIT 1.5", "unexpected token: '1.5'"),
    ("SELECT Id FROM Lead LIMIT -1", "unexpected token: '-'"),
    ("SELECT Id FROM Lead OFFSET 5 LIMIT 2", "unexpected token: 'LIMIT'"),
    ("SELECT Id FROM Lead LIMIT 5 ORDER BY Id", "unexpected token: 'ORDER'"),
    ("SELECT Id FROM Lead;", "unexpected token: ';'"),
    ("SELECT Id FROM Lead WHERE LastName = 'x' AND", "unexpected token: <EOF>"),
    ("SELECT COUNT(), Id FROM Lead", "COUNT() must be the only element in the SELECT list"),
    ("SELECT Id, Id FROM Lead", "duplicate field selected: Id"),
    ("SELECT Id, email, EMAIL FROM Lead", "duplicate field selected: Email"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-13-01T00:00:00Z", "Invalid datetime: 2024-13-01T00:00:00Z"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-05-01T10:00:00",
     "Invalid datetime: 2024-05-01T10:00:00 (a time zone is required: Z or +hh:mm)"),
    ("SELECT Id FROM Lead WHERE ConvertedDate = 2024-02-30", "Invalid date: 2024-02-30"),
    ("SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS", "date literal LAST_N_DAYS needs a number of days"),
    ("SELECT Id FROM Lead WHERE pi__score__c < null", "null can only be compared with = or != (found <)"),
    ("SELECT Id FROM Lead WHERE Email LIKE null", "null can only be compared with = or != (found LIKE)"),
])
def test_malformed_queries(text, message):
    err = error(text)
    assert err.code == "MALFORMED_QUERY"
    assert message in err.message
    assert "ERROR at Row:1:Column:" in err.message


@pytest.mark.parametrize("text, construct, column", [
    ("SELECT Owner.Name FROM Lead", "relationship fields ('Owner.Name')", 8),
    ("SELECT Id FROM Lead WHERE Owner.Email = null", "relationship fields ('Owner.Email')", 27),
    ("SELECT Id FROM Contact ORDER BY Account.Name", "relationship fields ('Account.Name')", 33),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subqueries", 12),
    ("SELECT Id FROM Lead WHERE Id IN (SELECT LeadId FROM CampaignMember)", "semi-join subqueries (IN (SELECT ...))", 33),
    ("SELECT COUNT(Id) FROM Lead", "aggregate functions (COUNT(field))", 8),
    ("SELECT MAX(pi__score__c) FROM Lead", "functions (MAX())", 8),
    ("SELECT FIELDS(ALL) FROM Lead LIMIT 200", "functions (FIELDS())", 8),
    ("SELECT Id FROM Lead WHERE DAY_ONLY(CreatedDate) = TODAY", "functions (DAY_ONLY())", 27),
    ("SELECT Id FROM Lead ORDER BY toLabel(Status)", "functions (TOLABEL())", 30),
    ("SELECT Status FROM Lead GROUP BY Status", "GROUP BY", 25),
    ("SELECT Id FROM Lead WHERE Email = null GROUP BY Id", "GROUP BY", 40),
    ("SELECT Id FROM Lead WITH SECURITY_ENFORCED", "WITH clauses", 21),
    ("SELECT Id FROM Lead LIMIT 1 FOR UPDATE", "FOR VIEW/REFERENCE/UPDATE", 29),
    ("SELECT Id FROM Lead USING SCOPE Mine", "USING SCOPE", 21),
    ("SELECT TYPEOF What WHEN Account THEN Name END FROM Event", "TYPEOF", 8),
    ("SELECT Id FROM Lead WHERE Status INCLUDES ('a')", "INCLUDES (multi-select picklists)", 34),
    ("SELECT Id FROM Lead WHERE Email = :email", "bind variables (:name)", 35),
    ("SELECT Id FROM Lead l", "object aliases ('l')", 21),
    ("SELECT Id FROM Lead, Contact", "querying several objects", 20),
    ("SELECT Id FROM Lead WHERE CreatedDate = THIS_MONTH", "the date literal THIS_MONTH", 41),
    ("SELECT Id FROM Lead WHERE CreatedDate > LAST_N_WEEKS:2", "the date literal LAST_N_WEEKS:2", 41),
    ("SELECT Id FROM Lead WHERE CreatedDate IN (TODAY)", "relative date literals inside IN", 43),
])
def test_unsupported_constructs_are_named(text, construct, column):
    err = error(text)
    assert err.code == "MALFORMED_QUERY"
    assert err.message.endswith(f"ERROR at Row:1:Column:{column}\nthe sandbox SOQL subset does not support {construct}")


@pytest.mark.parametrize("where, field, kind, quoted", [
    ("CreatedDate > '2020-01-01T00:00:00Z'", "CreatedDate", "dateTime", False),
    ("CreatedDate > 2020-01-01", "CreatedDate", "dateTime", False),
    ("CreatedDate = 5", "CreatedDate", "dateTime", False),
    ("ConvertedDate = 2024-05-01T00:00:00Z", "ConvertedDate", "date", False),
    ("ConvertedDate = '2024-05-01'", "ConvertedDate", "date", False),
    ("IsDeleted = 'true'", "IsDeleted", "boolean", False),
    ("IsDeleted = 1", "IsDeleted", "boolean", False),
    ("pi__score__c > '5'", "pi__score__c", "double", False),
    ("NumberOfEmployees IN (1, '2')", "NumberOfEmployees", "int", False),
    ("AnnualRevenue = true", "AnnualRevenue", "currency", False),
    ("Email = 5", "Email", "string", True),
    ("Status IN ('Open', 5)", "Status", "string", True),
    ("LastName = true", "LastName", "string", True),
    ("LastName = TODAY", "LastName", "string", True),
    ("Phone < 2024-05-01", "Phone", "string", True),
    ("Email LIKE 5", "Email", "string", True),
    ("OwnerId = 5", "OwnerId", "id", True),
    ("Id = false", "Id", "id", True),
])
def test_type_mismatches(where, field, kind, quoted):
    err = error(f"SELECT Id FROM Lead WHERE {where}")
    assert err.code == "INVALID_FIELD"
    quotes = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    assert err.message.endswith(f"value of filter criterion for field '{field}' must be of type {kind} and {quotes}")


def test_type_mismatch_points_at_the_value():
    err = error("SELECT Id FROM Lead WHERE CreatedDate > '2020-01-01'")
    assert err.message == ("\nSELECT Id FROM Lead WHERE CreatedDate > '2020-01-01'\n" + " " * 40 + "^\n"
                           "ERROR at Row:1:Column:41\nvalue of filter criterion for field 'CreatedDate' must be of "
                           "type dateTime and should not be enclosed in quotes")


@pytest.mark.parametrize("where, message", [
    ("Id = 'abc'", "invalid ID field: abc"),
    ("OwnerId IN ('" + U1 + "', '005xx')", "invalid ID field: 005xx"),
    ("Id = '" + LEAD_IDS[0][:15] + "ZZZ'", "invalid ID field: " + LEAD_IDS[0][:15] + "ZZZ"),
    ("Id LIKE '00Q%'", "invalid operator on id field: LIKE ('Id')"),
    ("pi__score__c LIKE '1%'", "invalid operator on double field: LIKE ('pi__score__c')"),
    ("CreatedDate LIKE '2024%'", "invalid operator on dateTime field: LIKE ('CreatedDate')"),
    ("IsDeleted < true", "invalid operator on boolean field: < ('IsDeleted')"),
])
def test_invalid_filter_operators_and_ids(where, message):
    err = error(f"SELECT Id FROM Lead WHERE {where}")
    assert err.code == "INVALID_QUERY_FILTER_OPERATOR"
    assert err.message.endswith(message)


def test_offset_above_2000_is_refused():
    err = error("SELECT Id FROM Lead ORDER BY Id LIMIT 10 OFFSET 2001")
    assert (err.code, err.message) == ("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")


def test_errors_are_checked_select_then_where_then_order():
    err = error("SELECT Nope1 FROM Lead WHERE Nope2 = 1 ORDER BY Nope3")
    assert "No such column 'Nope1'" in err.message
    err = error("SELECT Id FROM Lead WHERE Nope2 = 1 ORDER BY Nope3")
    assert "No such column 'Nope2'" in err.message


def test_errors_are_raised_even_without_rows():
    assert error("SELECT Id FROM Lead WHERE Nope = 1", rows=[]).code == "INVALID_FIELD"
    assert error("SELECT Id FROM Lead ORDER BY Nope", rows=[]).code == "INVALID_FIELD"


def test_soql_error_carries_code_and_message():
    err = error("SELECT Id FROM Lead WHERE")
    assert isinstance(err, Exception)
    assert str(err) == f"MALFORMED_QUERY: {err.message}"


def test_parse_rejects_non_text():
    with pytest.raises(TypeError, match="query text as str"):
        soql.parse(b"SELECT Id FROM Lead")

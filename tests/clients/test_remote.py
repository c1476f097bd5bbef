"""Error categories of R26 for the Salesforce and Pardot codes the clients meet."""
from datetime import datetime, timezone

import pytest

from sync.remote import (
    CATEGORIES,
    BudgetExhausted,
    RemoteCallError,
    RemoteError,
    categorize_pardot,
    categorize_salesforce,
)


@pytest.mark.parametrize("code,status,category", [
    ("REQUIRED_FIELD_MISSING", 400, "validation"),
    ("INVALID_EMAIL_ADDRESS", 400, "validation"),
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION", 400, "validation"),
    ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", 400, "validation"),
    ("STRING_TOO_LONG", 400, "validation"),
    ("INVALID_FIELD", 400, "validation"),
    ("INVALID_FIELD_FOR_INSERT_UPDATE", 400, "validation"),
    ("INVALID_TYPE_ON_FIELD_IN_RECORD", 400, "validation"),
    ("JSON_PARSER_ERROR", 400, "validation"),
    ("MALFORMED_QUERY", 400, "validation"),
    ("DUPLICATES_DETECTED", 400, "duplicate"),
    ("DUPLICATE_VALUE", 400, "duplicate"),
    ("INSUFFICIENT_ACCESS_OR_READONLY", 400, "permission"),
    ("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", 400, "permission"),
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", 400, "permission"),
    ("ENTITY_IS_DELETED", 404, "deleted"),
    ("NOT_FOUND", 404, "deleted"),
    ("UNABLE_TO_LOCK_ROW", 400, "transient"),
    ("SERVER_UNAVAILABLE", 503, "transient"),
    ("UNKNOWN_EXCEPTION", 500, "transient"),
    ("SOMETHING_NEW", 502, "transient"),
    ("REQUEST_LIMIT_EXCEEDED", 403, "limit"),
    ("INVALID_SESSION_ID", 401, "auth"),
    ("invalid_grant", 400, "auth"),
    ("SOMETHING_NEW", 401, "auth"),
    ("SOMETHING_NEW", 403, "permission"),
    ("SOMETHING_NEW", None, "validation"),
])
def test_salesforce_categories(code, status, category):
    assert categorize_salesforce(code, status) == category


@pytest.mark.parametrize("code,status,category", [
    (184, 401, "auth"), (181, 400, "auth"), (201, 400, "auth"),
    (66, 429, "limit"), (122, 429, "limit"), (202, 429, "limit"), (None, 429, "limit"),
    (192, 404, "deleted"), (219, 400, "deleted"),
    (54, 400, "duplicate"),
    (4, 400, "validation"), (10, 400, "validation"), (180, 400, "validation"), (154, 400, "validation"),
    (210, 400, "transient"), (211, 400, "transient"),
    (None, 500, "transient"), (1, 503, "transient"), (None, 401, "auth"),
])
def test_pardot_categories(code, status, category):
    assert categorize_pardot(code, status) == category


def test_errors_carry_category_side_and_a_readable_message():
    err = RemoteCallError(RemoteError("transient", "UNABLE_TO_LOCK_ROW", "row locked"), 400, "salesforce")
    assert err.category == "transient" and err.side == "salesforce" and err.status == 400
    assert str(err) == "salesforce transient error UNABLE_TO_LOCK_ROW (HTTP 400): row locked"
    resets = datetime(2030, 1, 1, tzinfo=timezone.utc)
    spent = BudgetExhausted(RemoteError("limit", "122", "daily limit"), 429, "pardot", resets)
    assert isinstance(spent, RemoteCallError) and spent.resets_at == resets


def test_unknown_category_or_side_is_refused():
    with pytest.raises(ValueError, match="unknown error category 'oops'"):
        RemoteError("oops", "X", "y")
    with pytest.raises(ValueError, match="unknown side 'hubspot'"):
        RemoteCallError(RemoteError("auth", "X", "y"), None, "hubspot")
    assert set(CATEGORIES) == {"validation", "duplicate", "permission", "deleted", "transient", "limit", "auth"}

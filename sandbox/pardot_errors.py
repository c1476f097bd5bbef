"""Pardot (Account Engagement) v5 error: `{"code": N, "message": "..."}` with an HTTP status.

Codes come from the public Account Engagement error-code registry (shared by v3/v4/v5);
the constants below name the ones the sandbox answers with.
"""
from __future__ import annotations

# Registry codes (see developer.salesforce.com/docs/marketing/pardot/guide/error-codes).
INVALID_EMAIL = 4               # "Invalid prospect email address"
INVALID_QUERY_PARAMETERS = 5    # "Invalid query parameters"
INVALID_TIMESTAMP = 7           # "Invalid timestamp"
INVALID_USER_ID = 10            # "Invalid user ID"
REQUIRED_PARAMETER_MISSING = 13 # "One or more required parameters are missing"
INVALID_SORT_BY = 19            # "Invalid value specified for sort_by"
INVALID_LIMIT = 23              # "Invalid value specified for limit"
INVALID_DELETED = 27            # "Parameter deleted must be true or false"
EMAIL_IN_USE = 54               # "Email address is already in use"
INVALID_CSV_FIELDS = 130        # "One or more of the specified fields are invalid" (import CSV)
INVALID_JSON = 150              # "Input needs to be valid JSON"
UNSUPPORTED_CONTENT_TYPE = 151  # "Unsupported content-type"
EMPTY_BODY = 152                # "Request body can't be empty"
MISSING_PROPERTY = 153          # "Missing required property in request"
INVALID_PROPERTY = 154          # "Invalid property in request"
IMPORT_NOT_OPEN = 155           # "Can't update. Import must be in "Open" state."
IMPORT_NO_DATA = 156            # "Can't start processing. Import has no associated data."
INVALID_CSV = 159               # "The file is not in a valid CSV format"
TOO_MANY_BATCHES = 160          # "The limit of batches per import has been reached"
IMPORT_STATE_FORBIDS = 161      # "The current state of the import does not allow the operation"
NO_FILE = 162                   # "No file was specified or uploaded"
INVALID_WRITE_FIELDS = 180      # "One or more of the specified fields are invalid" (create/update)
MISSING_HEADER = 181            # "A required header is missing"
INVALID_HEADER = 182            # "Invalid header value"
INVALID_TOKEN = 184             # "access_token is invalid, unknown, or malformed"
NOT_FOUND = 192                 # "Object specified does not exist"
UNKNOWN_BUSINESS_UNIT = 201     # "Business Unit specified in Pardot-Business-Unit-Id header not found or inactive."
TOO_MANY_FILTERS = 209          # max 3 distinct fields with filters
PAGE_TOKEN_EXPIRED = 210        # "Page token has expired."
PAGE_TOKEN_INVALID = 211        # "Page token is invalid."
RECORD_DELETED = 219            # "Deleted records can't be updated. Please undelete before updating."
INVALID_QUERY_FIELDS = 224      # "Invalid fields for request type"

# Pardot-Warning header value for a record that sits in the recycle bin.
WARNING_RECYCLE_BIN = "201;Record In Recycle Bin"
# Pardot-Warning header value when a page-token sequence passes 100,000 records.
WARNING_TOKEN_SEQUENCE_EXCEEDED = (
    "203;Record count for nextPageToken sequence has been exceeded. No page token returned."
)


class PardotError(Exception):
    """An API error answered as `{"code":…, "message":…}` with `status`."""

    def __init__(self, status: int, code: int, message: str, headers: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


def bad_request(code: int, message: str) -> PardotError:
    return PardotError(400, code, message)


def not_found(obj_label: str, record_id, in_recycle_bin: bool = False) -> PardotError:
    headers = {"Pardot-Warning": WARNING_RECYCLE_BIN} if in_recycle_bin else None
    return PardotError(404, NOT_FOUND,
                       f"Object specified does not exist: {obj_label} {record_id}", headers)

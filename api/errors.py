"""One error shape for every response: {"error": {"code", "message", "details"?}}.

Service errors map to statuses here, once; HTTP errors raised by Flask/werkzeug (404, 405,
413, 415…) get the same envelope; anything else is a 500 that names an incident id and
hides the internals (they go to the log); a Redis or database outage is a 503 with
Retry-After (sync.incidents)."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from sync import incidents
from sync.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError, Unauthenticated

log = logging.getLogger("connector.api")

STATUS_OF = {Invalid: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404, Conflict: 409}


class ApiError(Exception):
    """An error decided in the adapter itself (rate limit, media type, idempotency key…)."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details or {}, headers or {}


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict | None = None):
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    response = jsonify(error=error)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _service_error(exc: ServiceError):
    status = next((code for cls, code in STATUS_OF.items() if isinstance(exc, cls)), 400)
    headers = {"WWW-Authenticate": 'Bearer realm="pardot-connector"'} if status == 401 else None
    return error_response(status, exc.code, exc.message, exc.details, headers)


def _api_error(exc: ApiError):
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _http_error(exc: HTTPException):
    if exc.code is None or exc.code < 400:  # routing redirects are not errors
        return exc.get_response()
    code = (exc.name or "error").lower().replace(" ", "_")
    headers = {}
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    message = {
        404: "no such resource; the API lives under /api/v1 (see /api/v1/openapi.json)",
        413: "the request body is too large",
    }.get(exc.code, exc.description or exc.name)
    return error_response(exc.code or 500, code, message, headers=headers)


def _unexpected(exc: Exception):
    category, reason, incident = incidents.describe(exc, "an API request", log)
    if category == "dependency_unavailable":
        # Our own Redis or database is down: a client should come back, not report a bug.
        wait = incidents.RETRY_AFTER_SECONDS
        return error_response(503, "temporarily_unavailable",
                              f"{incidents.UNAVAILABLE} (incident {incident})",
                              {"retry_after": wait}, headers={"Retry-After": str(wait)})
    return error_response(500, "internal_error",
                          f"the connector hit an unexpected error (incident {incident}); "
                          "the details are in its log")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

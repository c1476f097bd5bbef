"""Errors of the service layer. Adapters turn them into HTTP statuses or chat replies."""
from __future__ import annotations


class ServiceError(Exception):
    code = "error"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(ServiceError):
    code = "not_found"


class Invalid(ServiceError):
    """Bad input; `details` maps each offending field to what is wrong with it."""
    code = "invalid"


class Conflict(ServiceError):
    """The request is well-formed but the connector's state does not allow it."""
    code = "conflict"


class Forbidden(ServiceError):
    code = "forbidden"

    def __init__(self, message: str, needed_role: str):
        super().__init__(message, {"needed_role": needed_role})
        self.needed_role = needed_role


class Unauthenticated(ServiceError):
    code = "unauthenticated"

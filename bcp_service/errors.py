"""Errors a service raises for a person to act on; the app turns them into 4xx answers."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400
    error_type = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def to_detail(self) -> list[dict]:
        loc = ["body", self.field] if self.field else []
        return [{"loc": loc, "msg": self.message, "type": self.error_type}]


class NotFound(ServiceError):
    status_code = 404
    error_type = "not_found"


class FieldError(ServiceError):
    """A value that passed the schema but does not fit the data (e.g. a reference to nothing)."""

    status_code = 422
    error_type = "value_error"


class Conflict(ServiceError):
    status_code = 409
    error_type = "conflict"


class Forbidden(ServiceError):
    """The caller may not make this change at all (not a matter of the value)."""

    status_code = 403
    error_type = "forbidden"

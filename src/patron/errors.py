"""Domain errors raised by services; the API and the web views turn them into 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    """A request that the store refuses for a reason the caller can understand and fix."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class OutOfStock(Conflict):
    """Not enough stock for one or more variants; `available` maps each short variant id to what is left."""

    code = "out_of_stock"

    def __init__(self, message: str, *, available: dict[int, int], fields: dict[str, list[str]] | None = None):
        super().__init__(message, fields=fields)
        self.available = available

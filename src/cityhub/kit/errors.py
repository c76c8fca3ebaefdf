"""Domain errors with an HTTP status and a stable code; the API renders them as one envelope."""

from __future__ import annotations

from typing import Any

from cityhub.kit.i18n import gettext as _


class CityhubError(Exception):
    """Base of every error a user can cause; never a 500."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, Any]:
        """The JSON body the API answers with."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(CityhubError):
    """Input is well-formed but wrong; `details` names the fields."""

    status_code = 422
    code = "validation_failed"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        if details is None and field is not None:
            details = [{"field": field, "message": message}]
        super().__init__(message, details=details)
        self.field = field


class Unauthorized(CityhubError):
    """No valid credentials."""

    status_code = 401
    code = "unauthorized"


class Forbidden(CityhubError):
    """Authenticated but not allowed to do this."""

    status_code = 403
    code = "forbidden"


class NotFound(CityhubError):
    """Unknown id, or an object the actor may not see (indistinguishable on purpose)."""

    status_code = 404
    code = "not_found"


class Conflict(CityhubError):
    """Would violate uniqueness or current state."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A status change the transition table does not allow."""

    code = "invalid_transition"

    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(
            f"{entity} cannot go from '{current}' to '{target}'",
            details={"current": current, "target": target},
        )
        self.current = current
        self.target = target


class PayloadTooLarge(CityhubError):
    """Body over the configured limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(CityhubError):
    """Too many requests; `retry_after` seconds until the next is accepted."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailable(CityhubError):
    """An outside system (provider, broker) failed after retries."""

    status_code = 503
    code = "service_unavailable"


def check_transition(entity: str, allowed: dict[Any, set[Any]], current: Any, target: Any) -> None:
    """Raise InvalidTransition unless `current → target` is in the transition table."""
    if target not in allowed.get(current, set()):
        raise InvalidTransition(entity, str(current), str(target))


def transition(obj: Any, target: Any, allowed: dict[Any, set[Any]], entity: str, column: str = "status") -> Any:
    """Move `obj.<column>` to `target` if the transition table allows it (409 InvalidTransition otherwise).

    Returns the previous state. Tables are `{StatusEnum: {StatusEnum, ...}}`; the column may hold the enum or its
    string value (a StrEnum compares equal to its value), so callers need not re-wrap what they read.
    """
    current = getattr(obj, column)
    key = next((k for k in allowed if k == current), current)
    check_transition(entity, allowed, key, target)
    setattr(obj, column, target)
    return key


def public_envelope(exc: CityhubError, request_id: str) -> dict[str, Any]:
    """The body a caller sees: a server-side failure (5xx) says only that, with the request id to quote.

    Its message may carry an outside system's words (a provider's host name, a driver's error); those go to the
    log, never to the caller. Errors the caller caused (4xx) keep their message and details.
    """
    if exc.status_code < 500:
        return exc.envelope()
    return {"error": {"code": exc.code, "message": _(
        "The service is temporarily unavailable; the request id is {request_id}", request_id=request_id or "-"),
        "details": {"request_id": request_id}}}

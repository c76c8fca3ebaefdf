"""NGSI-LD errors: ProblemDetails (RFC 7807) with the error types of ETSI GS CIM 009, clause 5.5.2.

The broker's routes answer every error in this shape (`api.NgsiRoute`), cityhub's own errors included: a
`NotFound` becomes `ResourceNotFound`, a `ValidationFailed` `BadRequestData`, and so on.
"""

from __future__ import annotations

from typing import Any

from cityhub.kit.errors import CityhubError

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
TITLES = {
    "InvalidRequest": "The request associated to the operation is syntactically invalid or includes wrong content",
    "BadRequestData": "The request includes input data which does not meet the requirements of the operation",
    "AlreadyExists": "The referred element already exists",
    "OperationNotSupported": "The operation is not supported",
    "ResourceNotFound": "The referred resource has not been found",
    "InternalError": "There has been an error during the operation execution",
    "TooComplexQuery": "The query is too complex",
    "TooManyResults": "The query has too many results",
    "LdContextNotAvailable": "A remote JSON-LD @context has not been available",
    "NonexistentTenant": "The addressed tenant does not exist",
    "UnsupportedMediaType": "The media type of the request is not supported",
    "NotAcceptable": "None of the requested media types can be produced",
    "Unauthorized": "Credentials are missing or not valid",
    "Forbidden": "The caller may not do this",
    "PayloadTooLarge": "The request is too large",
    "TooManyRequests": "Too many requests",
}
STATUS = {
    "InvalidRequest": 400, "BadRequestData": 400, "AlreadyExists": 409, "OperationNotSupported": 422,
    "ResourceNotFound": 404, "InternalError": 500, "TooComplexQuery": 403, "TooManyResults": 403,
    "LdContextNotAvailable": 503, "NonexistentTenant": 404, "UnsupportedMediaType": 415, "NotAcceptable": 406,
    "Unauthorized": 401, "Forbidden": 403, "PayloadTooLarge": 413, "TooManyRequests": 429,
}


class NgsiError(CityhubError):
    """An NGSI-LD error: `kind` is the last segment of its type URI, `detail` says what exactly is wrong."""

    def __init__(self, kind: str, detail: str, *, field: str | None = None, reason: str | None = None) -> None:
        super().__init__(detail, code=kind)
        self.kind = kind
        self.status_code = STATUS[kind]
        self.detail = detail
        self.field = field
        self.reason = reason  # cityhub's own error code when the error came from the platform (e.g. portal_account)

    def problem(self) -> dict[str, Any]:
        """The ProblemDetails body."""
        return problem(self.kind, self.detail, self.reason)


def problem(kind: str, detail: str, reason: str | None = None) -> dict[str, Any]:
    """A ProblemDetails body of an NGSI-LD error type (non-empty title and detail, as the spec asks).

    `reason`, when given, is cityhub's error code as an RFC 7807 extension member `code` — the same code the
    platform's JSON errors carry in `error.code`, so a client can tell e.g. a portal account's refusal apart.
    """
    body: dict[str, Any] = {"type": ERRORS + kind, "title": TITLES.get(kind, kind), "status": STATUS.get(kind, 400),
                            "detail": detail or TITLES.get(kind, kind)}
    if reason:
        body["code"] = reason
    return body


def bad(detail: str, field: str | None = None) -> NgsiError:
    """A BadRequestData error (wrong content in a well-formed request)."""
    return NgsiError("BadRequestData", detail, field=field)


def invalid(detail: str) -> NgsiError:
    """An InvalidRequest error (the request itself is malformed: JSON, media type rules)."""
    return NgsiError("InvalidRequest", detail)


def not_found(detail: str) -> NgsiError:
    """A ResourceNotFound error (unknown, or not visible to the caller: the same answer on purpose)."""
    return NgsiError("ResourceNotFound", detail)


_BY_STATUS = {400: "BadRequestData", 401: "Unauthorized", 403: "Forbidden", 404: "ResourceNotFound",
              409: "AlreadyExists", 413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "BadRequestData",
              429: "TooManyRequests", 503: "LdContextNotAvailable"}


def from_cityhub(exc: CityhubError) -> NgsiError:
    """Translate cityhub's own error into an NGSI-LD one (a 422 is the standard's 400 BadRequestData)."""
    if isinstance(exc, NgsiError):
        return exc
    kind = _BY_STATUS.get(exc.status_code, "InternalError" if exc.status_code >= 500 else "BadRequestData")
    detail = exc.message
    if exc.details and isinstance(exc.details, list) and isinstance(exc.details[0], dict):
        d = exc.details[0]
        detail = f"{exc.message}: {d.get('field', '')} {d.get('message', '')}".strip()
    out = NgsiError(kind, detail, reason=exc.code)
    out.status_code = exc.status_code if exc.status_code in (401, 403, 404, 409, 413, 429) else out.status_code
    return out

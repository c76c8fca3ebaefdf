"""The one Protocol every built-in component implements, and the request/answer it deals in.

A built-in runs in the gateway's process: no network hop, so its answer is only as slow as its computation. Each
is a small routing table of (method, sub-path) → function; an unknown sub-path is a 404 and a known one with
another method a 405, in the gateway's envelope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cityhub.kit import safejson
from cityhub.kit.errors import ValidationFailed


class BuiltinError(Exception):
    """A caller's mistake a built-in reports: status, stable code, message and the field it names."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


# (device id, metric, start, end, most points) → the device's stored (ts, value) points in time order, read with
# the calling unit's rights; raises NotFound for a device the caller may not see, ValidationFailed for a bad range.
TelemetryReader = Callable[[uuid.UUID, str, datetime, datetime, int], list[tuple[datetime, float]]]


@dataclass(frozen=True)
class BuiltinRequest:
    """What the gateway hands a built-in: method, the path below /hub/<code>/<version>/, query and body.

    `telemetry` reads a device's stored telemetry as the calling application's unit (the gateway supplies it;
    None where no caller's rights are known, and then a built-in refuses a `device_id`).
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    telemetry: TelemetryReader | None = None

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object, parsed with the size and nesting limits (422 naming `body` otherwise)."""
        try:
            data = safejson.loads(self.body or b"{}", field="body")
        except ValidationFailed as exc:
            raise BuiltinError(422, "validation_failed", "The body is not JSON", "body") from exc
        if not isinstance(data, dict):
            raise BuiltinError(422, "validation_failed", "The body must be a JSON object", "body")
        return data

    def param(self, name: str, *, required: bool = True) -> str:
        """A parameter from the query, or else from a JSON body (422 naming it when missing)."""
        value = self.query.get(name)
        if value is None and self.body:
            got = self.json_body().get(name)
            value = None if got is None else str(got)
        if value is None or not value.strip():
            if required:
                raise BuiltinError(422, "validation_failed", f"'{name}' is required", name)
            return ""
        return value.strip()

    def number(self, name: str, low: float, high: float) -> float:
        """A required number within [low, high] (422 naming it otherwise)."""
        raw = self.param(name)
        try:
            value = float(raw)
        except ValueError as exc:
            raise BuiltinError(422, "validation_failed", f"'{name}' must be a number", name) from exc
        if not low <= value <= high:  # NaN fails too
            raise BuiltinError(422, "validation_failed", f"'{name}' must lie between {low} and {high}", name)
        return value


Handler = Callable[[BuiltinRequest], Any]


class Builtin(Protocol):
    """A built-in component: its handler name, a title, its OpenAPI document and its routes."""

    name: str
    title: str

    def openapi(self) -> dict[str, Any]:
        """The interface, as an OpenAPI 3.1 document (registered with the component)."""
        ...

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """(METHOD, sub-path) → function returning the JSON answer."""
        ...


def dispatch(builtin: Builtin, request: BuiltinRequest) -> tuple[int, Any]:
    """Run the route the request names; (status, JSON-able answer). Raises BuiltinError for a caller's mistake."""
    table = builtin.routes()
    path = request.path.strip("/")
    handler = table.get((request.method, path))
    if handler is None:
        if request.method == "HEAD" and ("GET", path) in table:
            handler = table[("GET", path)]
        elif any(p == path for _m, p in table):
            raise BuiltinError(405, "method_not_allowed", f"{request.method} is not allowed on /{path}")
        else:
            raise BuiltinError(404, "not_found", f"No operation at /{path}")
    return 200, handler(request)


def operation(summary: str, params: list[tuple[str, str, bool]], method: str = "get") -> dict[str, Any]:
    """An OpenAPI operation object with query parameters (name, type, required) and a JSON answer."""
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK", "content": {
        "application/json": {"schema": {"type": "object"}}}}, "422": {"description": "Invalid input"}}}
    if method == "get":
        op["parameters"] = [{"name": n, "in": "query", "required": r, "schema": {"type": t}} for n, t, r in params]
    else:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": [n for n, _t, r in params if r],
            "properties": {n: {"type": t} for n, t, _r in params}}}}}
    return op


def document(title: str, description: str, paths: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An OpenAPI 3.1 document around `paths`."""
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1.0.0", "description": description},
            "paths": paths}

"""The built-in components: every plugin by its handler name, and how the gateway runs one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cityhub.compute.builtins.analytics import AnomalyScoring, Forecast
from cityhub.compute.builtins.base import (
    Builtin,
    BuiltinError,
    BuiltinRequest,
    Handler,
    TelemetryReader,
    dispatch,
    document,
    operation,
)
from cityhub.compute.builtins.classify import ReportClassifier
from cityhub.compute.builtins.coords import CoordinateConversion
from cityhub.compute.builtins.geocode import ReverseGeocoder
from cityhub.compute.builtins.idcheck import IdentityChecks

__all__ = ["Builtin", "BuiltinError", "BuiltinRequest", "TelemetryReader", "builtin_get", "builtin_names",
           "is_blocking", "reads_telemetry", "run"]


class NoOp:
    """Answers at once: the baseline of the gateway's overhead (benchmarks/compute.py) and a health probe."""

    name = "noop"
    title = "No-op (gateway overhead baseline)"

    def openapi(self) -> dict[str, Any]:
        """GET and POST /ping."""
        return document(self.title, "空操作：网关开销基准与连通性探测", {
            "/ping": {"get": operation("Answer at once", []), "post": operation("Echo the body's size", [], "post")}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""
        return {("GET", "ping"): lambda r: {"ok": True}, ("POST", "ping"): lambda r: {"ok": True, "bytes": len(r.body)}}


PLUGINS: dict[str, Builtin] = {p.name: p for p in (NoOp(), CoordinateConversion(), IdentityChecks(),
                                                   ReverseGeocoder(), Forecast(), AnomalyScoring(),
                                                   ReportClassifier())}


def builtin_names() -> list[str]:
    """Handler names a version may name."""
    return sorted(PLUGINS)


def builtin_get(name: str) -> Builtin | None:
    """The plugin of that handler name."""
    return PLUGINS.get(name)


def is_blocking(name: str) -> bool:
    """Does the handler compute for a while (run in a worker thread, not on the event loop)?"""
    return bool(getattr(PLUGINS.get(name), "blocking", False))


def reads_telemetry(name: str) -> bool:
    """May the handler read a device's stored telemetry (the gateway then hands it a reader)?"""
    return bool(getattr(PLUGINS.get(name), "reads_telemetry", False))


def run(name: str, request: BuiltinRequest) -> tuple[int, Any]:
    """Answer a call in this process; BuiltinError for a caller's mistake or an unknown handler."""
    plugin = PLUGINS.get(name)
    if plugin is None:
        raise BuiltinError(404, "not_found", f"No built-in handler '{name}'")
    return dispatch(plugin, request)

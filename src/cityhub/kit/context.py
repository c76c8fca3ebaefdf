"""Per-request context (request id, client IP) that audit rows pick up without threading it through calls."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Where the current action came from."""

    request_id: str = ""
    ip: str = ""
    channel: str = "system"  # api | web | cli | ingest | system


_EMPTY = RequestContext()
_current: ContextVar[RequestContext | None] = ContextVar("cityhub_request", default=None)


def current() -> RequestContext:
    """The context of the running request or command."""
    return _current.get() or _EMPTY


def set_current(ctx: RequestContext) -> object:
    """Set the context; returns a token for `reset`."""
    return _current.set(ctx)


def reset(token: object) -> None:
    """Restore the previous context."""
    _current.reset(token)  # type: ignore[arg-type]  # token comes from set_current


def client_ip() -> str:
    """The client's IP address for this request — the one every per-IP rule and audit row uses.

    It is the TCP peer, or, when the peer is one of CITYHUB_TRUSTED_PROXIES, the rightmost X-Forwarded-For
    address that is not a proxy (uvicorn's ProxyHeadersMiddleware, installed by the app for those peers only).
    A client-supplied X-Forwarded-For from anywhere else changes nothing.
    """
    return current().ip

"""The one way out: every outbound HTTP call (API resource proxies, alarm webhooks, cloud endpoints) passes here.

Two checks against server-side request forgery, with one host allow-list (`CITYHUB_EGRESS_ALLOWED_HOSTS`, merged
with the older `CITYHUB_OPS_WEBHOOK_ALLOWED_HOSTS`):

- `check_url` when a URL is stored or about to be used: http/https only, a host, and — unless the host is on the
  allow-list — no loopback, private, link-local, multicast, reserved or otherwise non-public address, in any
  spelling (`2130706433`, `0x7f000001`, `127.1`, `[::ffff:127.0.0.1]` all resolve to 127.0.0.1 and are refused).
  A name that does not resolve now is not refused here (it cannot be reached either); the connection checks again.
- `client()`, an httpx client whose network backend resolves the host itself, applies the same rule to every
  address and connects to the address it checked. A name that re-resolves to an internal address after the
  check (DNS rebinding) and a redirect to an internal host are refused when the connection is made, since every
  hop connects through the same backend. The client ignores proxy environment variables and follows no redirects
  unless asked.

Alarm webhooks are stricter (`listed_only`): they may call allow-listed hosts only, as before.
Callers outside this module never construct an HTTP client (`tests/kit/test_egress.py` greps `src/` for it).
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressDenied(ValidationFailed):
    """A URL cityhub may not call (422 naming the field)."""

    code = "egress_denied"


def allowed_hosts() -> frozenset[str]:
    """The allow-list: hosts that may be called although they resolve to internal addresses (lower case)."""
    s = get_settings()
    raw = f"{s.egress_allowed_hosts},{s.ops_webhook_allowed_hosts}"
    return frozenset(_norm_host(h) for h in raw.split(",") if h.strip())


def _norm_host(host: str) -> str:
    h = host.strip().strip("[]").rstrip(".").lower()
    try:
        return h.encode("idna").decode("ascii")
    except UnicodeError:
        return h


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address itself and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64)."""
    out: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            out.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            out.append(ip.sixtofour)
        if ip.teredo is not None:
            out.extend(ip.teredo)
        if ip in _NAT64:
            out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def refusal(ip: IPAddress) -> str | None:
    """Why cityhub may not connect to this address (None: it is a public unicast address)."""
    for a in _embedded(ip):
        for name in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
            if getattr(a, f"is_{name}"):
                return name.replace("_", "-")
        if not a.is_global:
            return "non-public"
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (IP literals in any form getaddrinfo accepts included)."""
    out: list[IPAddress] = []
    for *_rest, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


def check_url(url: str, *, field: str = "url", listed_only: bool = False, hosts: frozenset[str] | None = None
              ) -> str:
    """Raise `EgressDenied` unless cityhub may call `url`; returns it unchanged.

    `listed_only`: the host must be on the allow-list (alarm webhooks). Otherwise allow-listed hosts pass as they
    are and every other host must resolve to public addresses only (or not resolve at all, for now). `hosts`
    replaces the allow-list (a surface with its own, e.g. the capability hub's upstreams).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise EgressDenied(_("Not a valid URL"), field=field) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise EgressDenied(_("Only http and https URLs with a host may be called"), field=field)
    host = _norm_host(parts.hostname)
    if host in (allowed_hosts() if hosts is None else hosts):
        return url
    if listed_only:
        raise EgressDenied(_("Only the configured hosts may be called"), field=field,
                           details=[{"field": field, "message": f"{host} is not on the egress allow-list"}])
    try:
        addresses = _resolve(host, port or (443 if parts.scheme.lower() == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return url  # unreachable now; should it resolve later, the connection is checked then
    for ip in addresses:
        reason = refusal(ip)
        if reason:
            raise EgressDenied(_("Internal addresses may not be called"), field=field,
                               details=[{"field": field, "message": f"{host} resolves to a {reason} address"}])
    return url


class _CheckedBackend(httpcore.NetworkBackend):
    """Resolve, check every address, connect to the checked one: no second lookup an attacker could answer."""

    def __init__(self, listed_only: bool) -> None:
        self._inner = httpcore.SyncBackend()
        self._listed_only = listed_only

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        """Connect to the first checked address of `host` that answers."""
        name = _norm_host(host)
        listed = name in allowed_hosts()
        if self._listed_only and not listed:
            raise httpcore.ConnectError(f"egress refused: {name} is not on the allow-list")
        try:
            addresses = _resolve(name, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
        if not listed:
            for ip in addresses:
                reason = refusal(ip)
                if reason:
                    raise httpcore.ConnectError(f"egress refused: {name} resolves to a {reason} address")
        error: Exception = httpcore.ConnectError(f"no address for {name}")
        for ip in addresses:
            try:
                return self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        """Never: outbound calls are TCP to checked addresses."""
        raise httpcore.ConnectError("egress refused: unix sockets")

    def sleep(self, seconds: float) -> None:
        """Delegate (used by httpcore's retries)."""
        self._inner.sleep(seconds)


class _EgressTransport(httpx.HTTPTransport):
    def __init__(self, listed_only: bool) -> None:
        super().__init__(trust_env=False)
        # httpx's transport takes no network backend; its connection pool does (httpcore's public API).
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             max_connections=20, max_keepalive_connections=5,
                                             network_backend=_CheckedBackend(listed_only))


def client(*, timeout: float = 10.0, follow_redirects: bool = False, listed_only: bool = False,
           transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The HTTP client for calls out of cityhub (use as a context manager).

    Every connection, redirects included, is checked as `check_url` describes and pinned to the checked address.
    `transport` replaces the network for tests that stand in for an outside system (httpx.MockTransport); the
    per-request check of scheme and allow-list still runs.
    """

    def check_request(request: httpx.Request) -> None:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"egress refused: {request.url.scheme}", request=request)
        if listed_only and _norm_host(request.url.host) not in allowed_hosts():
            raise httpx.ConnectError(f"egress refused: {request.url.host} is not on the allow-list", request=request)

    return httpx.Client(transport=transport or _EgressTransport(listed_only), trust_env=False,
                        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=follow_redirects,
                        max_redirects=3, event_hooks={"request": [check_request]})


def host_list(raw: str) -> frozenset[str]:
    """A comma-separated setting of hosts, normalised like the allow-list."""
    return frozenset(_norm_host(h) for h in raw.split(",") if h.strip())


class _AsyncCheckedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of `_CheckedBackend`: only listed hosts, connected at the address resolved here."""

    def __init__(self, hosts: frozenset[str]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._hosts = hosts

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        """Connect to the first address of a listed `host` that answers."""
        import anyio.to_thread

        name = _norm_host(host)
        if name not in self._hosts:
            raise httpcore.ConnectError(f"egress refused: {name} is not on the allow-list")
        try:
            addresses = await anyio.to_thread.run_sync(_resolve, name, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
        error: Exception = httpcore.ConnectError(f"no address for {name}")
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        """Never: outbound calls are TCP to checked addresses."""
        raise httpcore.ConnectError("egress refused: unix sockets")

    async def sleep(self, seconds: float) -> None:
        """Delegate (used by httpcore's retries)."""
        await self._inner.sleep(seconds)


class _AsyncEgressTransport(httpx.AsyncHTTPTransport):
    def __init__(self, hosts: frozenset[str], max_connections: int) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=max_connections,
            max_keepalive_connections=max_connections, network_backend=_AsyncCheckedBackend(hosts))


def async_client_listed(hosts: frozenset[str], *, timeout: float = 10.0, max_connections: int = 100,
                        transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A pooled async client that may call only `hosts` (listed hosts may be private: they were chosen).

    For long-lived use (the capability hub's gateway keeps one per process). No redirects, no proxy variables;
    every connection is made by the checked backend to an address it resolved itself.
    """

    async def check_request(request: httpx.Request) -> None:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"egress refused: {request.url.scheme}", request=request)
        if _norm_host(request.url.host) not in hosts:
            raise httpx.ConnectError(f"egress refused: {request.url.host} is not on the allow-list", request=request)

    return httpx.AsyncClient(transport=transport or _AsyncEgressTransport(hosts, max_connections), trust_env=False,
                             timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False,
                             event_hooks={"request": [check_request]})

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

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httptools
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


# ---------------------------------------------------------------- the lean pooled client of long-lived callers

class UpstreamError(Exception):
    """An upstream call that got no usable answer (the subclasses say why)."""


class UpstreamTimeout(UpstreamError):
    """No answer in time."""


class UpstreamUnreachable(UpstreamError):
    """No connection, refused by the egress rule, a broken or malformed answer."""


class UpstreamTooLarge(UpstreamError):
    """The answer is over the caller's limit."""


class Reply(typing.NamedTuple):
    """An upstream's answer: status, headers by lower-case name, the body (decoded when gzip or deflate)."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; answers parsed by httptools (the C parser uvicorn serves with)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.waiter: asyncio.Future[Reply] | None = None
        self.limit = 0
        self._reset()

    def _reset(self) -> None:
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.got_bytes = False
        self.head_only = False
        self.until_eof = False
        self.headers_done = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.waiter is None or self.waiter.done():  # nothing was asked: the connection is not usable
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamUnreachable(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.until_eof and self.headers_done:  # an answer delimited by the end of the connection
                self._complete()
            else:
                self.waiter.set_exception(UpstreamUnreachable("the upstream closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {val}" if key in self.headers else val

    def on_headers_complete(self) -> None:
        self.headers_done = True
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            self._fail(UpstreamTooLarge(f"answer of {length} bytes"))
            return
        status = self.parser.get_status_code()
        no_body = self.head_only or status in (204, 304) or 100 <= status < 200
        if no_body:  # httptools does not know the request was a HEAD: the answer ends here
            self._complete(keep=False)
            return
        self.until_eof = length is None and "chunked" not in self.headers.get("transfer-encoding", "").lower()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.limit:
            self._fail(UpstreamTooLarge(f"answer over {self.limit} bytes"))
            return
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self._complete()

    # the exchange
    def _complete(self, keep: bool = True) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        encoding = self.headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "deflate"):
            import zlib

            d = zlib.decompressobj(31 if encoding == "gzip" else 15)
            try:
                body = d.decompress(body, self.limit + 1)
            except zlib.error:
                waiter.set_exception(UpstreamUnreachable("a broken compressed answer"))
                self.close()
                return
            if len(body) > self.limit:
                waiter.set_exception(UpstreamTooLarge(f"answer over {self.limit} bytes"))
                self.close()
                return
        if not keep or self.until_eof or not self.parser.should_keep_alive():
            self.close()
        waiter.set_result(Reply(self.parser.get_status_code(), self.headers, body))

    def _fail(self, exc: UpstreamError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        """Close the connection (it will not be reused)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, limit: int, head_only: bool) -> asyncio.Future[Reply]:
        """Write one request; the future holds its answer."""
        assert self.transport is not None
        self._reset()
        self.limit, self.head_only = limit, head_only
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


class UpstreamPool:
    """A pooled HTTP/1.1 client of one upstream origin, for callers on the hot path (the capability hub's gateway).

    Same rule as `async_client_listed`: only `hosts` (listed hosts may be private: they were chosen), the address
    resolved here and connected to, no redirects, no proxy variables. Per call it writes one request on an idle
    keep-alive connection and parses the answer with httptools: no per-call client, task or timer object beyond one
    future and one timer handle, which is what made httpx's client cost ~1 ms of CPU per call here. A connection
    closed by the upstream while idle is replaced at once (the request was not sent). At most `max_connections`
    at a time; further calls wait for one to come back.
    """

    def __init__(self, hosts: frozenset[str], *, timeout: float = 10.0, max_connections: int = 50,
                 ssl_context: typing.Any = None) -> None:
        self.hosts = hosts
        self.timeout = timeout
        self.max_connections = max_connections
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._open = 0
        self._room: asyncio.Condition | None = None
        self._ssl: typing.Any = ssl_context  # https: the platform's (verifying) context unless one is given

    async def request(self, method: str, url: str, headers: typing.Mapping[str, str], body: bytes = b"", *,
                      limit: int = 8 * 1024 * 1024) -> Reply:
        """Send one request and read its whole answer (at most `limit` bytes, decoded)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamUnreachable(f"egress refused: {scheme or 'no'} scheme")
        host = _norm_host(parts.hostname)
        if host not in self.hosts:
            raise UpstreamUnreachable(f"egress refused: {host} is not on the allow-list")
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = parts.netloc.rsplit("@", 1)[-1]
        lines = [f"{method} {target} HTTP/1.1\r\nhost: {authority}\r\n"]
        lines.extend(f"{k}: {v}\r\n" for k, v in headers.items() if "\n" not in v and "\r" not in v)
        if body or method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            lines.append(f"content-length: {len(body)}\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1") + body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        origin = (scheme, host, port)
        for _attempt in range(3):  # an idle connection the upstream had closed: another one, nothing was sent
            conn = await self._acquire(origin, deadline)
            waiter = conn.send(data, limit, method == "HEAD")
            timer = loop.call_at(deadline, _expire, conn)
            try:
                reply = await waiter
            except UpstreamUnreachable:
                if conn.reused and not conn.got_bytes and loop.time() < deadline:
                    self._release(origin, conn)
                    continue
                raise
            finally:
                timer.cancel()
                self._release(origin, conn)
            return reply
        raise UpstreamUnreachable("the upstream keeps closing its connections")

    async def _acquire(self, origin: tuple[str, str, int], deadline: float) -> _Conn:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                conn.reused = True
                return conn
            self._open -= 1
        loop = asyncio.get_running_loop()
        while self._open >= self.max_connections:
            if self._room is None:
                self._room = asyncio.Condition()
            async with self._room:
                try:
                    await asyncio.wait_for(self._room.wait(), max(0.0, deadline - loop.time()))
                except TimeoutError as exc:
                    raise UpstreamTimeout("no connection to the upstream came free in time") from exc
            idle = self._idle.get(origin)
            if idle:
                return await self._acquire(origin, deadline)
        self._open += 1
        try:
            return await asyncio.wait_for(self._connect(origin), max(0.0, min(deadline - loop.time(), 5.0)))
        except TimeoutError as exc:
            self._open -= 1
            raise UpstreamTimeout("no connection to the upstream in time") from exc
        except BaseException:
            self._open -= 1
            raise

    async def _connect(self, origin: tuple[str, str, int]) -> _Conn:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = await loop.run_in_executor(None, _resolve, host, port)
            except (socket.gaierror, UnicodeError) as exc:
                raise UpstreamUnreachable(f"cannot resolve {host}: {exc}") from exc
        ssl_ctx = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)
            ssl_ctx = self._ssl
        error: Exception = UpstreamUnreachable(f"no address for {host}")
        for ip in addresses:
            try:
                _t, conn = await loop.create_connection(
                    _Conn, str(ip), port, ssl=ssl_ctx, server_hostname=host if ssl_ctx is not None else None)
            except OSError as exc:
                error = UpstreamUnreachable(f"cannot connect to {host}: {exc}")
                continue
            sock = _t.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn
        raise error

    def _release(self, origin: tuple[str, str, int], conn: _Conn) -> None:
        if conn.waiter is None:
            return
        if not conn.waiter.done() or conn.waiter.cancelled():  # the caller was cancelled mid-exchange: its
            conn.waiter.cancel()                                  # answer must not reach the next caller
            conn.close()
        conn.waiter = None
        if conn.closed or conn.transport is None or conn.transport.is_closing():
            self._open -= 1
        else:
            self._idle.setdefault(origin, []).append(conn)
        if self._room is not None:
            room = self._room

            async def notify() -> None:
                async with room:
                    room.notify()

            asyncio.get_running_loop().create_task(notify())

    async def aclose(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        self._open = 0


def _expire(conn: _Conn) -> None:
    conn._fail(UpstreamTimeout("no answer in time"))

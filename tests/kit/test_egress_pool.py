"""kit.egress.UpstreamPool, the gateway's lean upstream client, against a raw local HTTP/1.1 server.

The server is written by hand so each answer's framing is what the test says: Content-Length, chunked, delimited by
the end of the connection, gzip, an idle connection the server closes, a slow answer.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest

from cityhub.kit import egress

HOSTS = frozenset({"127.0.0.1"})


class _Raw:
    """Answers by path; counts connections and keeps each request's head and body."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _v = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    k, v = h.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((f"{method} {target}", headers, body))
                if not await self._answer(method, target, writer):
                    writer.close()
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    async def _answer(self, method: str, target: str, w: asyncio.StreamWriter) -> bool:
        """Write the answer for `target`; False closes the connection."""
        if target == "/chunked":
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        elif target == "/eof":
            w.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
            await w.drain()
            return False
        elif target == "/close-after":
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await w.drain()
            return False
        elif target == "/slow":
            await asyncio.sleep(1.0)
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate")
        elif target == "/big":
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 100)
        elif target == "/big-chunked":
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"40\r\n" + b"y" * 64 + b"\r\n" * 1
                    + b"40\r\n" + b"y" * 64 + b"\r\n0\r\n\r\n")
        elif target == "/gzip":
            z = gzip.compress(b'{"zipped": true}')
            w.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(z) + z)
        else:
            out = f"{method} {target}".encode()
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % len(out)
                    + (b"" if method == "HEAD" else out))
        await w.drain()
        return True


def _run(case: Any) -> Any:
    async def main() -> Any:
        raw = _Raw()
        await raw.start()
        try:
            return await case(raw)
        finally:
            await raw.stop()

    return asyncio.run(main())


def test_keep_alive_framing_and_headers() -> None:
    async def case(raw: _Raw) -> None:
        pool = egress.UpstreamPool(HOSTS, timeout=5)
        r = await pool.request("GET", raw.url("/a?x=1"), {"x-cityhub-app": "app-1"})
        assert (r.status, r.body, r.headers["content-type"]) == (200, b"GET /a?x=1", "text/plain")
        r = await pool.request("POST", raw.url("/b"), {"content-type": "application/json"}, b'{"n": 1}')
        assert r.body == b"POST /b"
        assert (await pool.request("GET", raw.url("/chunked"), {})).body == b"hello world"
        assert (await pool.request("GET", raw.url("/gzip"), {})).body == b'{"zipped": true}'
        head = await pool.request("HEAD", raw.url("/h"), {})
        assert (head.status, head.body) == (200, b"")
        assert (await pool.request("GET", raw.url("/after-head"), {})).body == b"GET /after-head"
        assert raw.connections == 2  # one kept alive for everything but after the HEAD (closed, to be safe)
        target, headers, body = raw.requests[1]
        assert (target, body, headers["content-length"], headers["host"]) == (
            "POST /b", b'{"n": 1}', "8", f"127.0.0.1:{raw.port}")
        assert raw.requests[0][1]["x-cityhub-app"] == "app-1"
        await pool.aclose()

    _run(case)


def test_answers_ended_by_the_connection_and_connections_the_upstream_closed() -> None:
    async def case(raw: _Raw) -> None:
        pool = egress.UpstreamPool(HOSTS, timeout=5)
        assert (await pool.request("GET", raw.url("/eof"), {})).body == b"until the end"
        assert (await pool.request("GET", raw.url("/close-after"), {})).body == b"ok"
        await asyncio.sleep(0.05)
        assert (await pool.request("GET", raw.url("/next"), {})).body == b"GET /next"
        assert raw.connections == 3

    _run(case)


def test_timeouts_limits_and_the_allow_list() -> None:
    async def case(raw: _Raw) -> None:
        pool = egress.UpstreamPool(HOSTS, timeout=0.2)
        with pytest.raises(egress.UpstreamTimeout):
            await pool.request("GET", raw.url("/slow"), {})
        with pytest.raises(egress.UpstreamTooLarge):
            await pool.request("GET", raw.url("/big"), {}, limit=50)
        with pytest.raises(egress.UpstreamTooLarge):
            await pool.request("GET", raw.url("/big-chunked"), {}, limit=100)
        assert (await pool.request("GET", raw.url("/big"), {}, limit=100)).body == b"x" * 100
        seen = raw.connections
        with pytest.raises(egress.UpstreamUnreachable, match="allow-list"):
            await pool.request("GET", f"http://localhost:{raw.port}/x", {})
        with pytest.raises(egress.UpstreamUnreachable, match="scheme"):
            await pool.request("GET", f"ftp://127.0.0.1:{raw.port}/x", {})
        assert raw.connections == seen  # refused before any connection
        closed = egress.UpstreamPool(HOSTS, timeout=1)
        await raw.stop()
        await asyncio.sleep(0.05)
        with pytest.raises(egress.UpstreamUnreachable):
            await closed.request("GET", raw.url("/gone"), {})

    _run(case)


def test_calls_over_the_connection_limit_wait_for_one_to_come_free() -> None:
    async def case(raw: _Raw) -> None:
        pool = egress.UpstreamPool(HOSTS, timeout=5, max_connections=2)
        replies = await asyncio.gather(*(pool.request("GET", raw.url(f"/n{i}"), {}) for i in range(12)))
        assert sorted(r.body for r in replies) == sorted(f"GET /n{i}".encode() for i in range(12))
        assert raw.connections == 2

    _run(case)


def test_a_call_cancelled_mid_exchange_does_not_leave_its_answer_to_the_next() -> None:
    async def case(raw: _Raw) -> None:
        pool = egress.UpstreamPool(HOSTS, timeout=5, max_connections=1)
        slow = asyncio.ensure_future(pool.request("GET", raw.url("/slow"), {}))
        await asyncio.sleep(0.1)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        r = await pool.request("GET", raw.url("/after"), {})
        assert r.body == b"GET /after"  # not the slow call's "late"
        assert raw.connections == 2  # the cancelled exchange's connection was closed, not reused

    _run(case)


def test_https_verifies_the_upstreams_certificate(tmp_path: Any) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def main() -> None:
        raw = _Raw()
        raw.server = await asyncio.start_server(raw._serve, "127.0.0.1", 0, ssl=server_ctx)
        port = raw.server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(egress.UpstreamUnreachable):  # self-signed: refused by the platform's context
                await egress.UpstreamPool(HOSTS, timeout=5).request("GET", f"https://127.0.0.1:{port}/x", {})
            trusting = ssl.create_default_context(cafile=str(cert))
            pool = egress.UpstreamPool(HOSTS, timeout=5, ssl_context=trusting)
            for path in ("/a", "/chunked"):
                r = await pool.request("GET", f"https://127.0.0.1:{port}{path}", {})
                assert r.status == 200 and r.body in (b"GET /a", b"hello world")
            assert raw.connections == 1  # one kept-alive TLS connection (the refused handshake never got one)
        finally:
            raw.server.close()

    asyncio.run(main())

"""A small HTTP/1.1 keep-alive load generator that leaves the server its CPU.

httpx in Python threads spends more CPU per request than the server it measures, so on a 2-core machine it is
the bottleneck. This one speaks HTTP/1.1 over raw sockets: `closed_loop` runs `conns` asyncio connections (uvloop
when installed), each sending the next request as soon as the previous answer is read, and counts answers by
status; `sequential` times single requests on one blocking connection (the latency figures). Answers must carry
a Content-Length (the app's JSON answers do); chunked answers are not supported and raise.

Run as a script (`python benchmarks/_loadgen.py URL_PATH PORT SECONDS CONNS [HEADER: VALUE ...]`) it prints one
JSON line; the benchmark starts it pinned to one core and niced, in its own process, so the client's work never
runs on the server's interpreter.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any


def request_bytes(path: str, port: int, headers: dict[str, str] | None = None) -> bytes:
    """One GET request, keep-alive."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _parse(buf: bytearray) -> tuple[int, int] | None:
    """(status, total length) of the first complete answer in buf, or None while incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    i = head.find(b"content-length:")
    if i < 0:
        raise RuntimeError("answer without Content-Length: " + head[:200].decode(errors="replace"))
    j = head.find(b"\r\n", i)
    length = int(head[i + 15:j if j > 0 else len(head)].strip())
    total = end + 4 + length
    return (status, total) if len(buf) >= total else None


class _Conn(asyncio.Protocol):
    def __init__(self, req: bytes, stop_at: float, counts: dict[int, int], done: asyncio.Future[None]) -> None:
        self.req, self.stop_at, self.counts, self.done = req, stop_at, counts, done
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCP transport is no asyncio.Transport
        assert self.transport is not None
        self.transport.write(self.req)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            got = _parse(self.buf)
            if got is None:
                return
            status, total = got
            del self.buf[:total]
            self.counts[status] = self.counts.get(status, 0) + 1
            assert self.transport is not None
            if time.monotonic() >= self.stop_at:
                self.transport.close()
                return
            self.transport.write(self.req)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _closed_loop(port: int, req: bytes, seconds: float, conns: int) -> dict[int, int]:
    loop = asyncio.get_running_loop()
    counts: dict[int, int] = {}
    stop_at = time.monotonic() + seconds
    waits = []
    for _ in range(conns):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(functools.partial(_Conn, req, stop_at, counts, done), "127.0.0.1", port)
        waits.append(done)
    await asyncio.wait_for(asyncio.gather(*waits), timeout=seconds + 30)
    return counts


def closed_loop(port: int, req: bytes, seconds: float, conns: int) -> tuple[dict[int, int], float]:
    """Answers by status and the elapsed seconds of `conns` connections calling for `seconds`."""
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:  # plain asyncio: slower, still far cheaper than httpx
        runner = asyncio.run
    started = time.perf_counter()
    counts = runner(_closed_loop(port, req, seconds, conns))
    return counts, time.perf_counter() - started


class Sequential:
    """One blocking keep-alive connection: time single requests (ms)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def call(self, req: bytes) -> tuple[int, float, bytes]:
        """Send one request; (status, milliseconds, body)."""
        t0 = time.perf_counter()
        self.sock.sendall(req)
        while True:
            got = _parse(self.buf)
            if got is not None:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        ms = (time.perf_counter() - t0) * 1000
        status, total = got
        body_start = self.buf.find(b"\r\n\r\n") + 4
        body = bytes(self.buf[body_start:total])
        del self.buf[:total]
        return status, ms, body

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


def main() -> None:
    path, port, seconds, conns = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    headers = dict(h.split(": ", 1) for h in sys.argv[5:])
    counts, elapsed = closed_loop(port, request_bytes(path, port, headers), seconds, conns)
    cpu = os.times()
    print(json.dumps({"counts": {str(k): v for k, v in counts.items()}, "elapsed_s": elapsed,
                      "client_cpu_s": cpu.user + cpu.system}))


if __name__ == "__main__":
    main()

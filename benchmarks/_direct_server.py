"""The benchmark's baselines without the gateway, served by uvicorn as `cityhub serve` is (httptools, uvloop).

- `GET /ping` runs the no-op built-in's own handler and answers as the gateway's ASGI face does: the gateway's
  overhead on a built-in is the gateway call minus this;
- `GET|POST /echo/...` is the "department system" of an upstream component: it echoes the method, path and body
  size; the gateway's overhead on an upstream is the call through the gateway minus calling this directly.

Usage: `python benchmarks/_direct_server.py PORT` (the benchmark starts and stops it).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from cityhub.compute.builtins import service as builtins


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path: str = scope["path"]
    if path == "/ping":
        _status, payload = builtins.run("noop", builtins.BuiltinRequest(method=scope["method"], path="ping"))
        out = orjson.dumps(payload)
    elif path.startswith("/echo"):
        out = orjson.dumps({"method": scope["method"], "path": path, "bytes": len(body)})
    else:
        out = b'{"error":"not found"}'
    await send({"type": "http.response.start", "status": 200 if out[:9] != b'{"error":' else 404,
                "headers": [(b"content-length", str(len(out)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

"""A local HTTP fake of the OpenStack APIs libcloud's Nova driver calls (Keystone v3 tokens, Nova v2.1 servers,
flavors, start/stop/resize actions): an outside system, so faking it is allowed; our code is not mocked."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FLAVORS = [{"id": "m1.small", "name": "m1.small", "ram": 2048, "disk": 20, "vcpus": 1, "swap": ""},
           {"id": "m1.large", "name": "m1.large", "ram": 8192, "disk": 80, "vcpus": 4, "swap": ""}]


class FakeOpenStack:
    """Keystone + Nova on 127.0.0.1:<free port>; `servers` is the fake's state, `password` the valid one."""

    def __init__(self, password: str = "s3cret") -> None:  # noqa: C901  # a fake API: one branch per OpenStack route it answers
        self.servers: dict[str, dict[str, Any]] = {}
        self.password = password
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, code: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"null")

            def do_POST(self) -> None:  # http.server naming
                body = self._body()
                if self.path.startswith("/v3/auth/tokens"):
                    pw = body["auth"]["identity"]["password"]["user"]["password"]
                    if pw != fake.password:
                        self._send(401, {"error": {"code": 401, "message": "The request you have made requires "
                                                   "authentication."}})
                        return
                    self._send(201, {"token": {"expires_at": "2099-01-01T00:00:00.000000Z", "roles": [],
                                               "catalog": [{"type": "compute", "name": "nova", "endpoints": [
                                                   {"region": "RegionOne", "interface": "public",
                                                    "url": f"{fake.url}/v2.1/gov"}]}]}},
                               {"X-Subject-Token": "tok-" + uuid.uuid4().hex})
                elif self.path.endswith("/servers"):
                    sid = uuid.uuid4().hex
                    server = body["server"]
                    fake.servers[sid] = {
                        "id": sid, "name": server["name"], "status": "ACTIVE", "addresses": {}, "hostId": "h1",
                        "tenant_id": "gov", "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
                        "links": [{"rel": "self", "href": f"{fake.url}/v2.1/gov/servers/{sid}"}], "metadata": {},
                        "flavor": {"id": server["flavorRef"]}, "image": {"id": server.get("imageRef", "")}}
                    self._send(202, {"server": {"id": sid, "adminPass": "x"}})
                elif "/action" in self.path:
                    sid = self.path.split("/servers/")[1].split("/")[0]
                    if sid not in fake.servers:
                        self._send(404, {"itemNotFound": {"code": 404, "message": "not found"}})
                        return
                    if "os-stop" in body:
                        fake.servers[sid]["status"] = "SHUTOFF"
                    elif "os-start" in body:
                        fake.servers[sid]["status"] = "ACTIVE"
                    elif "resize" in body:
                        fake.servers[sid]["flavor"] = {"id": body["resize"]["flavorRef"]}
                    self._send(202)
                else:
                    self._send(404, {"itemNotFound": {"code": 404, "message": self.path}})

            def do_GET(self) -> None:
                if self.path.endswith("/flavors/detail"):
                    self._send(200, {"flavors": FLAVORS})
                elif "/servers/detail" in self.path:
                    self._send(200, {"servers": list(fake.servers.values())})
                elif "/servers/" in self.path:
                    sid = self.path.split("/servers/")[1]
                    if sid in fake.servers:
                        self._send(200, {"server": fake.servers[sid]})
                    else:
                        self._send(404, {"itemNotFound": {"code": 404, "message": "not found"}})
                else:
                    self._send(404, {"itemNotFound": {"code": 404, "message": self.path}})

            def do_DELETE(self) -> None:
                sid = self.path.split("/servers/")[-1]
                fake.servers.pop(sid, None)
                self._send(204)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenStack:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

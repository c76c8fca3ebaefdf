"""A local HTTP fake of the Alibaba Cloud ECS RPC API calls libcloud's ECS driver makes (DescribeInstanceTypes,
DescribeInstances, CreateInstance, StartInstance, StopInstance, DeleteInstance): an outside system, faked."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

TYPES = (("ecs.g6.large", 2, 8.0), ("ecs.g6.xlarge", 4, 16.0))


class FakeEcs:
    """ECS on 127.0.0.1:<free port>; `instances` is the fake's state, `calls` every Action with its parameters."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, str]] = {}
        self.calls: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _xml(self, code: int, root: str, inner: str) -> None:
                data = (f'<?xml version="1.0" encoding="UTF-8"?><{root}><RequestId>r-1</RequestId>{inner}'
                        f"</{root}>").encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # http.server naming
                q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                fake.calls.append(q)
                action = q.get("Action", "")
                if action == "DescribeInstanceTypes":
                    inner = "".join(f"<InstanceType><InstanceTypeId>{t}</InstanceTypeId><CpuCoreCount>{c}"
                                    f"</CpuCoreCount><MemorySize>{m}</MemorySize><InstanceTypeFamily>ecs.g6"
                                    f"</InstanceTypeFamily></InstanceType>" for t, c, m in TYPES)
                    self._xml(200, "DescribeInstanceTypesResponse", f"<InstanceTypes>{inner}</InstanceTypes>")
                elif action == "DescribeInstances":
                    wanted = json.loads(q["InstanceIds"]) if "InstanceIds" in q else None
                    rows = [i for i in fake.instances.values() if wanted is None or i["id"] in wanted]
                    inner = "".join(f"<Instance><InstanceId>{i['id']}</InstanceId><InstanceName>{escape(i['name'])}"
                                    f"</InstanceName><Status>{i['status']}</Status><InstanceType>{i['type']}"
                                    f"</InstanceType><ImageId>{i['image']}</ImageId></Instance>" for i in rows)
                    self._xml(200, "DescribeInstancesResponse", f"<Instances>{inner}</Instances><TotalCount>"
                              f"{len(rows)}</TotalCount><PageNumber>1</PageNumber><PageSize>100</PageSize>")
                elif action == "CreateInstance":
                    token = q.get("ClientToken", "")
                    same = next((i for i in fake.instances.values() if token and i["token"] == token), None)
                    iid = same["id"] if same else "i-" + uuid.uuid4().hex[:12]
                    if not same:
                        fake.instances[iid] = {"id": iid, "name": q.get("InstanceName", ""), "status": "Stopped",
                                               "type": q["InstanceType"], "image": q["ImageId"], "token": token,
                                               "sg": q.get("SecurityGroupId", "")}
                    self._xml(200, "CreateInstanceResponse", f"<InstanceId>{iid}</InstanceId>")
                elif action in ("StartInstance", "StopInstance", "DeleteInstance"):
                    iid = q.get("InstanceId", "")
                    if iid not in fake.instances:
                        self._xml(404, "Error", "<Code>InvalidInstanceId.NotFound</Code><Message>not found</Message>")
                        return
                    if action == "DeleteInstance":
                        del fake.instances[iid]
                    else:
                        fake.instances[iid]["status"] = "Running" if action == "StartInstance" else "Stopped"
                    self._xml(200, f"{action}Response", "")
                else:
                    self._xml(400, "Error", f"<Code>UnsupportedOperation</Code><Message>{action}</Message>")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeEcs:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

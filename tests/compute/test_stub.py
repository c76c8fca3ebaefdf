"""The demo's stub department system: only the gateway's signed calls are answered, with made-up licences."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from cityhub.compute import background
from cityhub.compute.builtins.idcheck import credit_code
from cityhub.compute.gateway.service import identity_headers
from cityhub.compute.stub import app, licence
from cityhub.demo.core import synthetic_uscc
from cityhub.kit.settings import get_settings


def _get(path: str, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]  # a bare ASGI callable; httpx's alias wants a MutableMapping scope
                                     base_url="http://stub") as c:
            return await c.get(path, headers=headers)

    return asyncio.run(go())


def test_only_signed_calls_get_a_licence() -> None:
    code = next(c for c in (synthetic_uscc(f"firm-{i}", "500103") for i in range(50)) if licence(c)[0] == 200)
    assert credit_code(code)["valid"]
    path = f"/api/licences/{code}"
    assert _get(path, {}).status_code == 401
    signed = identity_headers(uuid.uuid4(), uuid.uuid4(), "GET", path)
    r = _get(path, signed)
    assert r.status_code == 200 and r.json()["credit_code"] == code and r.json()["demo"] is True
    assert _get(path, {**signed, "X-Cityhub-App": str(uuid.uuid4())}).status_code == 401  # forged caller
    old = identity_headers(uuid.uuid4(), uuid.uuid4(), "GET", path, ts=1)
    assert _get(path, old).status_code == 401  # replayed long after
    bad = "/api/licences/91500000MA5U000000"
    assert _get(bad, identity_headers(uuid.uuid4(), uuid.uuid4(), "GET", bad)).status_code == 422
    assert _get("/healthz", {}).json() == {"status": "ok", "demo": True}
    by_query = _get(f"/api/licences?credit_code={code}", identity_headers(uuid.uuid4(), uuid.uuid4(), "GET",
                                                                          "/api/licences"))
    assert by_query.status_code == 200 and by_query.json() == r.json()  # a batch job's form of the same call


def test_make_run_starts_the_stub_unless_its_port_is_0() -> None:
    s = get_settings()
    cmd = background.commands(s)
    assert cmd and cmd[0][-4:] == ["compute", "demo-upstream", "--port", str(s.compute_demo_upstream_port)]
    off = s.model_copy(update={"compute_demo_upstream_port": 0, "compute_job_workers": 0})
    assert [c[3:5] for c in background.commands(off)] == [["compute", "lake-export"]]  # issue 18: the lake export
    assert background.commands(off.model_copy(update={"analytics_export_s": 0})) == []
    jobs = s.model_copy(update={"compute_demo_upstream_port": 0, "analytics_export_s": 0, "compute_job_workers": 2})
    assert background.commands(jobs)[0][3:] == ["compute", "job-worker", "--processes", "2"]  # batch-job workers

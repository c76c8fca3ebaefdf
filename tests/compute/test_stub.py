"""The demo's stub department system: only the gateway's signed calls are answered, with made-up licences."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from cityhub.compute import background
from cityhub.compute.builtins.idcheck import credit_code
from cityhub.compute.gateway.service import identity_headers
from cityhub.compute.stub import FEED_MAX_SIZE, app, feed_token, licence, register_path
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
    assert [c[3:5] for c in background.commands(off)] == [["compute", "lake-export"],  # issue 18: the lake export
                                                          ["compute", "analysis-scheduler"]]  # and the scheduler
    assert [c[3:5] for c in background.commands(off.model_copy(update={"analytics_export_s": 0}))] == [
        ["compute", "analysis-scheduler"]]
    assert background.commands(off.model_copy(update={"analytics_export_s": 0, "analytics_schedule_s": 0})) == []
    jobs = s.model_copy(update={"compute_demo_upstream_port": 0, "analytics_export_s": 0, "analytics_schedule_s": 0,
                                "compute_job_workers": 2})
    assert background.commands(jobs)[0][3:] == ["compute", "job-worker", "--processes", "2"]  # batch-job workers


def test_the_licence_feed_pages_the_registers_firms_for_a_department_token(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    token = {"Authorization": f"Bearer {feed_token()}"}
    assert _get("/api/licence-feed", {}).status_code == 401
    assert _get("/api/licence-feed", {"Authorization": "Bearer guessed"}).status_code == 401
    assert _get("/api/licence-feed", token).json() == {"records": [], "total": 0}  # no register written yet
    register_path().parent.mkdir(parents=True)
    con = sqlite3.connect(register_path())
    con.execute("CREATE TABLE scztdj (tyshxydm TEXT, qymc TEXT, fddbr TEXT, zczb REAL, clrq TEXT, djjg TEXT, "
                "jyzt TEXT)")
    codes = [synthetic_uscc(f"feed-{i}", "500103") for i in range(5)]
    con.executemany("INSERT INTO scztdj VALUES (?, ?, ?, 1, '2001-02-03', '渝中区', ?)",
                    [(c, f"企业{i}", f"法人{i}", "吊销" if i == 4 else "存续") for i, c in enumerate(codes)])
    con.commit()
    con.close()
    pages = [_get(f"/api/licence-feed?page={p}&size=2", token).json() for p in (1, 2, 3)]
    assert [p["total"] for p in pages] == [5, 5, 5] and [len(p["records"]) for p in pages] == [2, 2, 1]
    records = [r for p in pages for r in p["records"]]
    assert [r["tyshxydm"] for r in records] == codes and records[0]["zzbh"] == f"YYZZ{codes[0]}"
    assert records[0]["fzjg"] == "渝中区市场监督管理局" and records[0]["fzrq"] == "2001-02-03"
    assert [r["zzzt"] for r in records] == ["有效"] * 4 + ["吊销"]
    assert records[0]["gxsj"] < records[1]["gxsj"]  # a monotonic cursor for incremental collection
    for bad in ("page=0", "size=0", f"size={FEED_MAX_SIZE + 1}", "page=x"):
        r = _get(f"/api/licence-feed?{bad}", token)
        assert r.status_code == 400 and r.json()["error"] == "bad_paging"

"""The gateway over HTTP: key → subscription → quota → component, refusals in one envelope, metering."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cityhub.compute import service as compute
from cityhub.compute.gateway.breaker import Breaker
from cityhub.compute.gateway.quota import MemoryQuota, windows
from cityhub.compute.models import Call, UsageHourly
from cityhub.compute.schemas import VersionCreate
from cityhub.kit.settings import get_settings
from tests.compute.helpers import component_data, published, subscribed

CONVERT = "/hub/coord/1.0.0/convert?lng=121.5272106&lat=31.1774276&from=wgs84&to=gcj02"


def _code(resp: Any) -> str:
    return str(resp.json()["error"]["code"])


def test_a_subscribed_call_and_every_refusal(client: Any, world: Any, app: Any) -> None:
    w = world
    comp = published(w, "coord")
    _app, sub, key = subscribed(w, comp)
    ok = client.get(CONVERT, headers={"X-Api-Key": key})
    assert ok.status_code == 200 and ok.json()["lat"] == pytest.approx(31.17530398, abs=1e-8)
    assert client.get(CONVERT, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    r = client.get(CONVERT)
    assert (r.status_code, _code(r)) == (401, "invalid_key")
    r = client.get(CONVERT, headers={"X-Api-Key": key + "x"})
    assert (r.status_code, _code(r)) == (401, "invalid_key")
    for path in ("/hub/nope/1.0.0/convert", "/hub/coord/2.0.0/convert", "/hub/coord/1.0.0/elsewhere"):
        r = client.get(path, headers={"X-Api-Key": key})
        assert (r.status_code, _code(r)) == (404, "not_found"), path
    r = client.get("/hub/coord/1.0.0/convert?lng=999&lat=1&from=wgs84&to=gcj02", headers={"X-Api-Key": key})
    assert r.status_code == 422 and r.json()["error"]["details"] == [{"field": "lng", "message": r.json()[
        "error"]["message"]}]
    # another unit's application, without a subscription
    other = published(w, "idc", builtin="id-check")
    r = client.get("/hub/idc/1.0.0/resident-id?number=11010519491231002X", headers={"X-Api-Key": key})
    assert (r.status_code, _code(r)) == (403, "no_subscription")
    del other
    # revoked at once: the subscription, then a key
    compute.subscription_revoke(w.session, w.actors["org_member_b"], sub.id)
    w.session.flush()
    r = client.get(CONVERT, headers={"X-Api-Key": key})
    assert (r.status_code, _code(r)) == (403, "no_subscription")


def test_revoked_key_disabled_app_and_retired_component_are_refused_at_once(client: Any, world: Any) -> None:
    w = world
    comp = published(w, "coord")
    app_, _sub, key = subscribed(w, comp)
    assert client.get(CONVERT, headers={"X-Api-Key": key}).status_code == 200
    compute.app_disable(w.session, w.actors["org_member_b"], app_.id)
    w.session.flush()
    r = client.get(CONVERT, headers={"X-Api-Key": key})
    assert (r.status_code, _code(r)) == (403, "app_disabled")
    compute.app_disable(w.session, w.actors["org_member_b"], app_.id, False)
    key_row = compute.app_keys(w.session, w.actors["org_member_b"], app_.id)[0]
    compute.app_key_revoke(w.session, w.actors["org_member_b"], key_row.id)
    w.session.flush()
    assert _code(client.get(CONVERT, headers={"X-Api-Key": key})) == "invalid_key"
    _k, key2 = compute.app_key_create(w.session, w.actors["org_member_b"], app_.id)
    w.session.flush()
    assert client.get(CONVERT, headers={"X-Api-Key": key2}).status_code == 200
    compute.component_deprecate(w.session, w.actors["org_member_a"], comp.id)
    w.session.flush()
    assert client.get(CONVERT, headers={"X-Api-Key": key2}).status_code == 200  # deprecated still answers
    compute.component_retire(w.session, w.actors["org_member_a"], comp.id)
    w.session.flush()
    assert _code(client.get(CONVERT, headers={"X-Api-Key": key2})) == "not_found"


def test_a_quota_of_n_admits_exactly_n_and_says_when_to_retry(client: Any, world: Any) -> None:
    w = world
    comp = published(w, "coord")
    _app, _sub, key = subscribed(w, comp, quota_per_day=3)
    codes = [client.get(CONVERT, headers={"X-Api-Key": key}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = client.get(CONVERT, headers={"X-Api-Key": key})
    assert _code(r) == "quota_exceeded" and 1 <= int(r.headers["Retry-After"]) <= 86400


def test_calls_are_metered_in_batches_and_rolled_up(client: Any, world: Any, app: Any, db: Any) -> None:
    w = world
    comp = published(w, "coord")
    _app, _sub, key = subscribed(w, comp)
    for _ in range(4):
        client.get(CONVERT, headers={"X-Api-Key": key})
    client.get("/hub/coord/1.0.0/nowhere", headers={"X-Api-Key": key})
    client.get(CONVERT)  # no key: metered too, without an application
    gw = app.state.compute_gateway
    assert gw.meter.pending == 6
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 0  # nothing written on the hot path
    assert gw.meter.flush() == 6
    assert gw.meter.pending == 0 and gw.meter.dropped == 0
    rows = w.session.execute(select(Call.status, Call.error_code).order_by(Call.id)).all()
    assert [tuple(r) for r in rows] == [(200, "")] * 4 + [(404, "not_found"), (401, "invalid_key")]
    hourly = w.session.scalars(select(UsageHourly)).all()
    assert [(h.calls, h.errors) for h in hourly] == [(5, 1)]
    for _ in range(2):  # a second flush adds to the same hour
        client.get(CONVERT, headers={"X-Api-Key": key})
    gw.meter.flush()
    w.session.expire_all()
    assert [(h.calls, h.errors) for h in w.session.scalars(select(UsageHourly))] == [(7, 1)]
    usage = client.get("/api/v1/compute/usage", headers=w.headers("org_admin_a")).json()
    assert [(u["component_code"], u["calls"], u["errors"]) for u in usage] == [("coord", 7, 1)]
    assert client.get("/api/v1/compute/usage", headers=w.headers("district_admin")).json() == []
    for bad, field in (({"until": "0001-01-06T00:00:00"}, "since"), ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
                       ({"since": "2026-02-01T00:00:00", "until": "2026-01-01T00:00:00"}, "since")):
        r = client.get("/api/v1/compute/usage", params=bad, headers=w.headers("org_admin_a"))
        assert r.status_code == 422 and field in r.text, (bad, r.text)  # named, never a 500 (the fuzzer found one)
    csv = client.get("/api/v1/compute/usage.csv", headers=w.headers("org_member_b"))
    assert csv.status_code == 200 and "coord" in csv.text and csv.text.startswith("\ufeffcomponent_code")
    xlsx = client.get("/api/v1/compute/usage.xlsx", headers=w.headers("org_member_b"))
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    by_unit, detail = ([list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets)
    assert by_unit[1][0] == w.orgs["dept_b"].name and by_unit[1][1:3] == [7, 1]
    assert detail[1][:2] == [w.orgs["dept_b"].name, "coord"] and detail[1][5:7] == [7, 1]
    metrics = client.get("/metrics").text
    assert 'cityhub_compute_calls_total{component="coord",status="200"}' in metrics
    assert 'cityhub_compute_call_seconds_count{component="coord"}' in metrics


def test_upstream_retries_breaker_timeouts_and_signed_identity(client: Any, world: Any, app: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "dept-b.example")
    monkeypatch.setattr(get_settings(), "compute_breaker_failures", 3)
    member = w.actors["org_member_a"]
    comp = compute.component_create(w.session, member, component_data(w, "licence", builtin="noop"))
    compute.component_version_create(w.session, member, comp.id, VersionCreate(
        version="1.0.0", kind="upstream", upstream_url="http://dept-b.example/api"))
    compute.component_submit(w.session, member, comp.id)
    compute.component_review(w.session, w.actors["platform_admin"], comp.id, True)
    app_, _sub, key = subscribed(w, comp)
    seen: list[httpx.Request] = []
    plan: list[Any] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = plan.pop(0) if plan else 200
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, json={"path": request.url.path, "ok": step < 400})

    client.get("/hub/licence/1.0.0/ping", headers={"X-Api-Key": "chk_x_y"})  # makes the gateway
    gw = app.state.compute_gateway
    gw.transport = httpx.MockTransport(upstream)
    h = {"X-Api-Key": key, "X-Cityhub-App": "forged"}
    plan[:] = [503, 503]  # two failures, then an answer: GET is retried
    r = client.get("/hub/licence/1.0.0/licences/42?x=1", headers=h)
    assert r.status_code == 200 and r.json()["path"] == "/api/licences/42" and len(seen) == 3
    sent = seen[-1].headers
    assert sent["x-cityhub-app"] == str(app_.id) and sent["x-cityhub-org"] == str(app_.org_id)
    assert sent["x-cityhub-signature"] == compute.identity_headers(
        app_.id, app_.org_id, "GET", "/api/licences/42", int(sent["x-cityhub-timestamp"]))["X-Cityhub-Signature"]
    seen.clear()
    plan[:] = [503]  # POST is not retried
    r = client.post("/hub/licence/1.0.0/verify", headers=h, json={"no": "1"})
    assert (r.status_code, _code(r), len(seen)) == (502, "upstream_error", 1)
    plan[:] = [httpx.ReadTimeout("slow")] * 3
    r = client.get("/hub/licence/1.0.0/slow", headers=h)
    assert (r.status_code, _code(r)) == (504, "upstream_timeout")
    plan[:] = [httpx.ConnectError("down")] * 3
    r = client.get("/hub/licence/1.0.0/x", headers=h)  # the third failure in a row opens the circuit
    assert (r.status_code, _code(r)) == (502, "upstream_unreachable")
    seen.clear()
    r = client.get("/hub/licence/1.0.0/x", headers=h)
    assert (r.status_code, _code(r), seen) == (503, "circuit_open", [])
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    r = client.get("/hub/licence/1.0.0/../../admin", headers=h)
    assert r.status_code == 404


def test_breaker_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    b = Breaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    b.failure()
    assert b.allow() is None
    b.failure()
    assert b.state == "open" and b.allow() == 10
    now[0] = 10.5
    assert b.allow() is None and b.allow() == 1.0  # one trial at a time
    b.failure()
    assert b.state == "open"
    now[0] = 21
    assert b.allow() is None
    b.success()
    assert b.state == "closed" and b.allow() is None


def test_memory_quota_charges_no_window_for_a_refused_call() -> None:
    q = MemoryQuota()
    wins = windows((2, 3, None))
    results = [asyncio.run(q.take("s", wins)) for _ in range(3)]
    assert results[:2] == [None, None] and results[2] is not None
    assert q.count("s", "m", wins[0].bucket) == 2 and q.count("s", "d", wins[1].bucket) == 2


def test_the_gateway_is_served_ahead_of_the_platform_middleware(client: Any, world: Any) -> None:
    w = world
    comp = published(w, "coord")
    _app, _sub, key = subscribed(w, comp)
    r = client.get(CONVERT, headers={"X-Api-Key": key, "X-Request-Id": "abc-1"})
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"] == "abc-1"  # a plain id is echoed; no session cookie, no page policy
    assert "set-cookie" not in r.headers and "content-security-policy" not in r.headers
    limit = get_settings().compute_max_request_bytes
    r = client.post("/hub/coord/1.0.0/convert", headers={"X-Api-Key": key}, content=b"x" * (limit + 1))
    assert (r.status_code, _code(r)) == (413, "payload_too_large")
    for path in ("/hub/", "/hub/coord", "/hub//1.0.0/convert"):
        r = client.get(path, headers={"X-Api-Key": key})
        assert (r.status_code, _code(r)) == (404, "not_found"), path
    assert client.head(CONVERT, headers={"X-Api-Key": key}).content == b""


def test_an_upstream_is_called_through_the_lean_pool_over_a_real_connection(
        client: Any, world: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stand-in transport: the gateway's own pooled client connects to a local department system."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str, str, dict[str, str], bytes]] = []

    class Dept(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            got.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = 500 if self.path.endswith("/broken") else 200
            out = b'{"licence": "ok"}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Dept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        w = world
        monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "127.0.0.1")
        monkeypatch.setattr(get_settings(), "compute_upstream_retries", 0)
        member = w.actors["org_member_a"]
        comp = compute.component_create(w.session, member, component_data(w, "licence", builtin="noop"))
        compute.component_version_create(w.session, member, comp.id, VersionCreate(
            version="1.0.0", kind="upstream", upstream_url=f"http://127.0.0.1:{server.server_port}/api"))
        compute.component_submit(w.session, member, comp.id)
        compute.component_review(w.session, w.actors["platform_admin"], comp.id, True)
        app_, _sub, key = subscribed(w, comp)
        h = {"X-Api-Key": key}
        for _ in range(3):
            r = client.get("/hub/licence/1.0.0/licences/42?x=1", headers=h)
            assert (r.status_code, r.json()) == (200, {"licence": "ok"})
        r = client.post("/hub/licence/1.0.0/verify", headers=h, json={"no": "1"})
        assert r.status_code == 200
        method, path, sent, body = got[-1]
        assert (method, path, body) == ("POST", "/api/verify", b'{"no":"1"}')
        assert sent["x-cityhub-org"] == str(app_.org_id) and sent["x-cityhub-signature"] == compute.identity_headers(
            app_.id, app_.org_id, "POST", "/api/verify", int(sent["x-cityhub-timestamp"]))["X-Cityhub-Signature"]
        assert got[0][1] == "/api/licences/42?x=1"
        r = client.get("/hub/licence/1.0.0/broken", headers=h)
        assert (r.status_code, _code(r), r.json()["error"]["details"]) == (502, "upstream_error",
                                                                         {"upstream_status": 500})
        assert app.state.compute_gateway.pools and not app.state.compute_gateway.clients
    finally:
        server.shutdown()
        server.server_close()

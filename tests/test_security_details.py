"""Issue 13 item 8: internal details stay inside, and item "also": every outbound caller goes through kit.egress.

(a) an API resource's upstream URL reaches only its provider and the bureau, and the audit log keeps it without
keys; (b) 5xx bodies carry a generic message and the request id; (c) a locked account answers like an unknown
one; (d) X-Request-Id is taken only when it is a plain token; (e) X-Forwarded-For counts only from configured
proxies, through one client-IP function.
"""

from __future__ import annotations

import re
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.app import create_app
from cityhub.core.models import AuditEntry
from cityhub.data import cache, schemas, service
from cityhub.kit.errors import ServiceUnavailable
from cityhub.kit.settings import get_settings
from tests.conftest import PASSWORD
from tests.data.helpers import active_grant, bureau_setup
from tests.data.portal_helpers import open_entry

UPSTREAM = "https://svc-user:svc-pass@up.example/aqi?key=SECRET-KEY-1"
RID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _api_entry(world: Any) -> tuple[Any, Any]:
    entry, _res = open_entry(world, rows=False)
    res = service.resource_api_create(world.session, world.actors["org_member_a"], entry.id, schemas.ResourceApiCreate(
        title="空气质量接口", upstream_url=UPSTREAM, credentials={"X-Api-Key": "k"}))
    return entry, res


# ---------------------------------------------------------------- (a) upstream URLs


def test_upstream_url_reaches_only_the_provider_and_the_bureau(client: Any, world: Any) -> None:
    entry, _res = _api_entry(world)
    bureau_setup(world)
    world.tokens["bureau_member"] = _token(world, "bureau_member")
    url = f"/api/v1/data/catalog/entries/{entry.id}/resources"
    seen = {}
    for who in (None, "org_member_b", "district_admin", "org_member_a", "bureau_member", "platform_admin"):
        r = client.get(url, headers=world.headers(who))
        assert r.status_code == 200, (who, r.text)
        seen[who] = [x["upstream_url"] for x in r.json() if x["kind"] == "api"]
    assert seen[None] == seen["org_member_b"] == seen["district_admin"] == [""]
    assert seen["org_member_a"] == seen["bureau_member"] == seen["platform_admin"] == [UPSTREAM]


def test_upstream_url_is_not_on_the_entry_page_of_other_departments(client: Any, world: Any) -> None:
    entry, _res = _api_entry(world)
    other = client.get(f"/data/entries/{entry.id}", headers=world.headers("org_member_b"))
    mine = client.get(f"/data/entries/{entry.id}", headers=world.headers("org_member_a"))
    assert other.status_code == mine.status_code == 200
    assert "up.example" not in other.text and "up.example" in mine.text


def test_portal_outputs_show_cityhub_urls_not_the_upstream(client: Any, world: Any) -> None:
    entry, res = _api_entry(world)
    cache.reset_local()
    for path in (f"/api/3/action/package_show?id={entry.name}", f"/api/3/action/resource_show?id={res.id}",
                 f"/dataset/{entry.name}.ttl", f"/dataset/{entry.name}/datapackage.json"):
        r = client.get(path)
        assert r.status_code == 200 and "up.example" not in r.text, (path, r.text[:300])


def test_audit_keeps_upstream_urls_without_userinfo_or_query(world: Any) -> None:
    _entry, res = _api_entry(world)
    row = world.session.scalar(select(AuditEntry).where(AuditEntry.action == "resource_create",
                                                        AuditEntry.target_id == str(res.id)))
    text = str(row.summary)
    assert "SECRET-KEY-1" not in text and "svc-pass" not in text and "svc-user" not in text
    assert row.summary["after"]["url"] == "https://***@up.example/aqi?***"


def _token(world: Any, who: str) -> str:
    from cityhub.core import service as core
    from cityhub.core.schemas import ApiTokenCreate

    _t, raw = core.api_token_create(world.session, core.Actor.system("test"), world.users[who].id,
                                    ApiTokenCreate(name="t"))
    return raw


# ---------------------------------------------------------------- (b) 5xx bodies


@pytest.fixture
def failing_app(db: Any) -> Any:
    """The real app plus one route failing like an outside system does (its message names an internal host)."""
    app = create_app(get_settings(), db)

    @app.get("/_test/provider-down")
    def provider_down() -> None:
        raise ServiceUnavailable("list nodes failed: ConnectionError: ecs.intranet.gov.cn:8443 refused")

    @app.get("/_test/bug")
    def bug() -> None:
        raise RuntimeError("password=hunter2 at db.intranet:5432")

    return app


def test_5xx_bodies_carry_a_generic_message_and_the_request_id(failing_app: Any) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as c:
        for path, status in (("/_test/provider-down", 503), ("/_test/bug", 500)):
            r = c.get(path)
            assert r.status_code == status
            assert "intranet" not in r.text and "hunter2" not in r.text, r.text
            rid = r.headers["x-request-id"]
            assert RID.fullmatch(rid) and r.json()["error"]["details"] == {"request_id": rid}, r.text


def test_a_provider_failure_does_not_show_its_host(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = world.headers("platform_admin")
    body = {"name": "信创云", "kind": "ec2", "config": {"endpoint": f"http://127.0.0.1:{port}"},
            "credentials": {"access_key": "a", "secret_key": "b"}}
    refused = client.post("/api/v1/cloud/providers", json=body, headers=h)  # loopback is not allow-listed
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["field"] == "config.endpoint"
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    acc = client.post("/api/v1/cloud/providers", json=body, headers=h)
    assert acc.status_code == 201, acc.text
    r = client.post(f"/api/v1/cloud/providers/{acc.json()['id']}/reconcile", headers=h)
    assert r.status_code == 503, r.text
    assert "127.0.0.1" not in r.text and str(port) not in r.text
    assert r.json()["error"]["details"]["request_id"] == r.headers["x-request-id"]


# ---------------------------------------------------------------- (c) login answers


def _login(client: Any, username: str, password: str) -> Any:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token.group(1)},
                       follow_redirects=False)


def _alert(r: Any) -> str:
    m = re.search(r'<div class="notice error" role="alert">(.*?)</div>', r.text, re.S)
    assert m, r.text[:500]
    return m.group(1)


def test_a_locked_account_answers_like_an_unknown_one(client: Any, world: Any) -> None:
    for _ in range(get_settings().login_max_failures):
        _login(client, "t-a-member", "wrong-password")
    locked = _login(client, "t-a-member", PASSWORD)  # right password, locked account
    wrong = _login(client, "t-a-member", "wrong-password")  # wrong password, locked account
    unknown = _login(client, "no-such-user", "wrong-password")
    assert locked.status_code == wrong.status_code == unknown.status_code == 401
    assert _alert(locked) == _alert(wrong) == _alert(unknown)
    assert world.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "user_lock")) is not None


def test_a_locked_account_costs_a_password_check(session: Any, world: Any, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    from cityhub.core import service as core
    from cityhub.core.users import passwords

    for _ in range(get_settings().login_max_failures):
        core.login_attempt(session, "t-a-member", "wrong-password")
    checks: list[str] = []
    real = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda h, p: checks.append(p) or real(h, p))  # type: ignore[func-returns-value]  # record, then check
    assert core.login_attempt(session, "t-a-member", PASSWORD).reason == "locked"
    assert checks == [PASSWORD]  # as much work as an unlocked account (unknown users hash a dummy)


# ---------------------------------------------------------------- (d) request ids


@pytest.mark.parametrize("supplied", ["bad id with spaces", "x" * 65, "<script>", "a\u00e9b", "id;drop", ""])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client: Any, world: Any, supplied: str) -> None:
    h: dict[str, Any] = {**world.headers("platform_admin"), "X-Request-Id": supplied.encode("utf-8")}
    r = client.post("/api/v1/organizations", headers=h, json={
        "name": "新区", "code": f"t-rid-{uuid.uuid4().hex[:6]}", "kind": "district",
        "parent_id": str(world.orgs["city"].id)})
    assert r.status_code == 201, r.text
    rid = r.headers["x-request-id"]
    assert rid != supplied and RID.fullmatch(rid)
    row = world.session.scalar(select(AuditEntry).where(AuditEntry.action == "organization_create")
                               .order_by(AuditEntry.at.desc()).limit(1))
    assert row.request_id == rid


def test_a_plain_request_id_is_kept(client: Any) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": "gw-2026.12_05-abc"}).headers["x-request-id"] == \
        "gw-2026.12_05-abc"


# ---------------------------------------------------------------- (e) client IP


def _audit_ip(app: Any, world: Any, peer: str, xff: str | None) -> str:
    headers = {**world.headers("platform_admin"), **({"X-Forwarded-For": xff} if xff else {})}
    with TestClient(app, client=(peer, 40000)) as c:
        r = c.post("/api/v1/organizations", headers=headers, json={
            "name": "新区", "code": f"t-ip-{uuid.uuid4().hex[:6]}", "kind": "district",
            "parent_id": str(world.orgs["city"].id)})
    assert r.status_code == 201, r.text
    row = world.session.scalar(select(AuditEntry).where(AuditEntry.action == "organization_create",
                                                        AuditEntry.target_id == r.json()["id"]))
    return str(row.ip)


def test_forwarded_for_counts_only_from_configured_proxies(db: Any, world: Any) -> None:
    plain = create_app(get_settings(), db)
    assert _audit_ip(plain, world, "203.0.113.5", "198.51.100.7") == "203.0.113.5"  # nobody is trusted by default
    proxied = create_app(get_settings().model_copy(update={"trusted_proxies": "10.0.0.0/8, 192.0.2.1"}), db)
    # from a proxy: the rightmost address that is not a proxy (the client's own claims on the left are ignored)
    assert _audit_ip(proxied, world, "10.1.1.1", "6.6.6.6, 198.51.100.7, 192.0.2.1, 10.2.2.2") == "198.51.100.7"
    assert _audit_ip(proxied, world, "203.0.113.5", "198.51.100.7") == "203.0.113.5"  # not from a proxy


def test_rotating_forwarded_for_does_not_escape_the_portal_rate_limit(db: Any, world: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "portal_rate_limit", 3)
    monkeypatch.setattr(get_settings(), "portal_cache_ttl_s", 0)
    cache.reset_local()
    app = create_app(get_settings().model_copy(update={"trusted_proxies": "10.0.0.0/8"}), db)
    try:
        with TestClient(app, client=("203.0.113.9", 40000)) as c:
            codes = [c.get("/api/3/action/package_list", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                     for i in range(5)]
    finally:
        cache.reset_local()
    assert codes == [200, 200, 200, 429, 429]


def test_serve_leaves_forwarded_headers_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told not to; the app's setting is the only rule
    import uvicorn
    from typer.testing import CliRunner

    from cityhub.cli import app as cli_app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr("cityhub.cli._warn_if_superuser", lambda url: None)
    result = CliRunner().invoke(cli_app, ["serve"])
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is False


# ---------------------------------------------------------------- egress: each caller


def test_api_resources_to_internal_addresses_are_refused(client: Any, world: Any) -> None:
    entry, _res = open_entry(world, rows=False)
    for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432/", "http://[::1]/",
                "http://2130706433/"):
        r = client.post(f"/api/v1/data/catalog/entries/{entry.id}/resources/api", headers=world.headers(
            "org_member_a"), json={"title": "接口", "upstream_url": url})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "upstream_url", (url, r.text)


class _Upstream:
    def __init__(self) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = b'{"records": [{"name": "\\u5f20\\u4e09", "phone": "18012341999"}]}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    u = _Upstream()
    try:
        yield u
    finally:
        u.httpd.shutdown()
        u.httpd.server_close()


def test_the_api_proxy_calls_through_egress(world: Any, upstream: _Upstream, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    # The upstream host resolved to a public address when it was registered and resolves to loopback now.
    real = socket.getaddrinfo
    answer = {"ip": "93.184.216.34"}

    def fake(host: Any, port: Any, *a: Any, **kw: Any) -> Any:
        return real(answer["ip"], port, *a, **kw) if host == "api.upstream.example" else real(host, port, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    entry, _r = open_entry(world, rows=False, share_type="conditional")
    service.resource_api_create(world.session, world.actors["org_member_a"], entry.id, schemas.ResourceApiCreate(
        title="接口", upstream_url=f"http://api.upstream.example:{upstream.port}/p"))
    grant, _t, _req = active_grant(world, entry, items=["name", "phone"])
    answer["ip"] = "127.0.0.1"
    with pytest.raises(ServiceUnavailable):
        service.grant_api_call(world.session, world.actors["org_member_b"], grant.id, {})
    assert upstream.hits == 0
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "api.upstream.example")  # an intranet upstream
    out = service.grant_api_call(world.session, world.actors["org_member_b"], grant.id, {})
    assert upstream.hits == 1 and out["records"] == [{"name": "张*", "phone": "180****1999"}]


"""A citizen's open-data portal account is a principal of the portal only (issue 13, item 7; issue 16).

A portal account registered at /portal/register walks every API route and every page route of the app; outside
the explicit allow-list below (the portal, the CKAN API, DCAT, downloads, citizens' reports, the account's own
pages), each must refuse it: APIs with 403 `portal_account`, pages with a redirect to the portal carrying the
reason — whether it comes with the session cookie or an API token, with or without a body. The internal catalog
(`/data`, `/api/v1/data/catalog…`) answers anonymous callers with the open catalog but is closed to portal
accounts, like every internal route: the account's catalog is the portal's (`/dataset`, `/api/3`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.routing import APIRoute
from starlette.convertors import IntegerConvertor, UUIDConvertor

from cityhub.core import service as core
from cityhub.core.schemas import ApiTokenCreate
from cityhub.kit.web import NAV
from tests.conftest import PASSWORD

# (method, path template) -> why a portal account may call it
PUBLIC_API = {
    ("GET", "/healthz"): "liveness, no data",
    ("GET", "/readyz"): "readiness, no data",
    ("GET", "/metrics"): "public to anonymous callers too (tests/authz/core.py)",
    ("GET", "/api/3/action/{action}"): "CKAN Action API (open data; a grant token reads its grant)",
    ("POST", "/api/3/action/{action}"): "CKAN Action API (writes are checked by the catalog policies)",
    ("GET", "/api/action/{action}"): "CKAN Action API",
    ("POST", "/api/action/{action}"): "CKAN Action API",
    ("GET", "/api/3"): "CKAN API version",
    ("GET", "/catalog.ttl"): "DCAT", ("GET", "/catalog.jsonld"): "DCAT", ("GET", "/catalog.rdf"): "DCAT",
    ("GET", "/sitemap.xml"): "open datasets",
    ("GET", "/dataset/{name}.ttl"): "DCAT", ("GET", "/dataset/{name}.jsonld"): "DCAT",
    ("GET", "/dataset/{name}.rdf"): "DCAT", ("GET", "/dataset/{name}/datapackage.json"): "Data Package",
    ("GET", "/datastore/dump/{resource_id}"): "open rows (or a grant's)",
    ("GET", "/dataset/{name}/resource/{resource_id}/download/{filename}"): "open files",
    ("POST", "/api/v1/ops/reports"): "citizens report problems",
    ("GET", "/api/v1/ops/reports/{code}"): "the status of one's report",
}
PORTAL_API = {
    ("GET", "/api/v1/me"): "the account's own identity",
    ("PUT", "/api/v1/users/{user_id}/password"): "changing one's own password (with the current one)",
}
PUBLIC_PAGES = {
    ("GET", "/_bare"): "benchmark baseline, no data",
    ("GET", "/"): "home: sends a portal account on to the portal",
    ("GET", "/login"): "login form", ("POST", "/login"): "login",
    ("POST", "/logout"): "logout", ("GET", "/lang/{code}"): "language switch",
    ("GET", "/ops/report"): "citizens report problems", ("POST", "/ops/report"): "citizens report problems",
    ("GET", "/portal"): "portal", ("GET", "/dataset"): "portal", ("GET", "/dataset/{name}"): "portal",
    ("GET", "/organization"): "portal", ("GET", "/organization/{code}"): "portal",
    ("GET", "/portal/register"): "portal", ("POST", "/portal/register"): "portal",
    ("GET", "/portal/api"): "portal: how to call the open-data API", ("GET", "/portal/dcat"): "portal: DCAT feeds",
    ("GET", "/showcase"): "the public showcase of accepted application scenarios",
    ("GET", "/showcase/{scenario_id}/picture"): "an accepted scenario's showcase picture",
}
PORTAL_PAGES = {
    ("GET", "/portal/me"): "the account's applications",
    ("POST", "/portal/applications"): "apply for 有条件开放 data",
    ("POST", "/portal/applications/{req_id}/activate"): "activate an approved application",
    ("POST", "/portal/applications/{req_id}/withdraw"): "withdraw an application",
}
# routes with a credential of their own, which no user account holds: a portal account is refused there too
DEVICE_API = {
    ("POST", "/api/v1/devices/{device_id}/telemetry"): "HTTP ingest, authenticated by the device's token",
}
ALLOWED = {**PUBLIC_API, **PORTAL_API, **PUBLIC_PAGES, **PORTAL_PAGES}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
DATA_FILES = (".json", ".csv", ".ttl", ".rdf", ".jsonld")


def _routes(app: Any) -> list[APIRoute]:
    out: list[APIRoute] = []
    for r in app.routes:  # FastAPI 0.16x keeps an included router as one entry holding the original router
        inner = getattr(r, "original_router", None)
        out += [x for x in (inner.routes if inner is not None else [r]) if isinstance(x, APIRoute)]
    return out


def _walk(app: Any) -> list[tuple[str, str, APIRoute]]:
    return [(m, r.path, r) for r in _routes(app) for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"})]


def _url(route: APIRoute) -> str:
    def value(name: str) -> str:
        conv = route.param_convertors.get(name)
        if isinstance(conv, UUIDConvertor) or name.endswith("_id"):
            return str(uuid.uuid4())
        return "1" if isinstance(conv, IntegerConvertor) else "x"
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: value(m.group(1)), route.path)


def _is_api(route: APIRoute) -> bool:
    """Answered with an error body, not a page: documented API routes, the NGSI-LD broker (its trailing-slash
    aliases are hidden from the schema) and data files such as the audit log's CSV export."""
    return route.include_in_schema or route.path.startswith("/ngsi-ld/") or route.path.endswith(DATA_FILES)


def _error_code(r: Any) -> str:
    """The platform's error code: `error.code` in cityhub's JSON errors, `code` in NGSI-LD ProblemDetails."""
    if "json" not in r.headers.get("content-type", ""):
        return ""
    body = r.json()
    return str(body.get("error", {}).get("code") or body.get("code") or "")


def _csrf(client: Any, url: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert m, url
    return m.group(1)


def _register(client: Any) -> str:
    """Register a portal account through the portal (the client is logged in as it); returns its username."""
    r = client.post("/portal/register", data={"csrf_token": _csrf(client, "/portal/register"),
                                              "username": "citizen-wang", "email": "wang@example.org",
                                              "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/me"), r.text[:300]
    return "citizen-wang"


def test_the_allow_list_names_only_routes_that_exist(app: Any) -> None:
    routes = {(m, p) for m, p, _r in _walk(app)}
    assert not sorted((set(ALLOWED) | set(DEVICE_API)) - routes), "stale allow-list entries"
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops
                  if m in ("get", "post", "put", "patch", "delete")}
    assert documented <= routes  # the walk covers every documented API route


def test_a_portal_account_is_its_own_kind_of_principal(client: Any, world: Any) -> None:
    name = _register(client)
    citizen = core.actor_for_username(world.session, name)
    assert citizen.kind == "portal" and citizen.is_portal_account and not citizen.is_internal
    staff = core.actor_for_username(world.session, "t-a-member")
    assert staff.kind == "user" and staff.is_internal and not staff.is_portal_account
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["user"]["username"] == name and me.json()["roles"] == []
    assert client.get("/portal/me").status_code == 200


def test_every_internal_route_refuses_a_portal_account(app: Any, client: Any, world: Any) -> None:
    name = _register(client)
    csrf = _csrf(client, "/portal/me")
    user = core.user_by_username(world.session, name)
    assert user is not None
    _tok, raw = core.api_token_create(world.session, core.Actor.system("test"), user.id, ApiTokenCreate(name="t"))
    world.session.flush()
    failures: list[str] = []
    walked = 0
    for method, path, route in _walk(app):
        if (method, path) in ALLOWED:
            continue
        walked += 1
        url = _url(route)
        if _is_api(route):  # an API route: by cookie (with the CSRF header) and by token, with a body
            body = {"name": "x", "id": str(uuid.uuid4())} if method in WRITES else None
            for how, headers in (("cookie", {"X-CSRF-Token": csrf, "Accept": "application/json"}),
                                 ("token", {"Authorization": f"Bearer {raw}", "Accept": "application/json"})):
                r = client.request(method, url, headers=headers, json=body)  # a bearer token wins over the cookie
                code = _error_code(r)
                if (method, path) in DEVICE_API:  # refused by the seal, or by the route's own credential check
                    if r.status_code not in (401, 403):
                        failures.append(f"{method} {path} by {how}: {r.status_code} {r.text[:120]}")
                elif r.status_code != 403 or code != "portal_account":
                    failures.append(f"{method} {path} by {how}: {r.status_code} {r.text[:120]}")
        else:  # a page: sent to the portal, with the reason
            r = client.request(method, url, headers={"Accept": "text/html"}, follow_redirects=False,
                               data={"csrf_token": csrf, "name": "x", "title": "x"} if method in WRITES else None)
            where = urlsplit(r.headers.get("location", ""))
            if r.status_code != 303 or where.path != "/portal" or not parse_qs(where.query).get("msg"):
                failures.append(f"{method} {path} page: {r.status_code} {r.headers.get('location')}")
    assert walked > 100  # the walk really covered the platform
    assert not failures, "internal routes a portal account reached:\n" + "\n".join(failures)
    # the account itself still works afterwards (no refusal ended its session)
    assert client.get("/api/v1/me").status_code == 200
    # and the portal says why it was sent there
    landed = client.get("/admin/organizations", headers={"Accept": "text/html"})
    assert landed.url.path == "/portal" and "开放数据门户账号不能使用内部平台" in landed.text


def test_the_portal_area_still_answers_a_portal_account(app: Any, client: Any, world: Any) -> None:
    """Every GET route of the allow-list without path parameters answers the account (none is refused)."""
    _register(client)
    user = core.user_by_username(world.session, "citizen-wang")
    assert user is not None
    _tok, raw = core.api_token_create(world.session, core.Actor.system("test"), user.id, ApiTokenCreate(name="t"))
    world.session.flush()
    checked = 0
    for method, path in sorted(ALLOWED):
        if method != "GET" or "{" in path or path == "/metrics":
            continue
        for headers in ({}, {"Authorization": f"Bearer {raw}"}):
            r = client.get(path, headers=headers, follow_redirects=False)
            checked += 1
            assert r.status_code in (200, 303), (path, r.status_code, r.text[:200])
            assert r.headers.get("location", "/portal") in ("/", "/portal"), (path, r.headers["location"])
    assert checked >= 20
    assert client.get("/api/3/action/package_search", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert client.get("/api/3/action/package_list").json()["success"] is True


def test_anonymous_callers_still_read_the_open_catalog(client: Any, world: Any) -> None:
    """The seal is for portal accounts: an anonymous visitor keeps the internal catalog's public view."""
    assert client.get("/data").status_code == 200
    assert client.get("/api/v1/data/catalog").status_code == 200
    assert client.get("/api/v1/data/vocabularies").status_code == 200


def test_the_portal_account_still_uses_the_portal(client: Any, world: Any) -> None:
    _register(client)
    for path in ("/portal", "/dataset", "/organization", "/portal/me"):
        assert client.get(path).status_code == 200, path
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/portal"


def test_navigation_shows_a_portal_account_no_internal_section(client: Any, world: Any) -> None:
    _register(client)
    page = client.get("/portal").text
    internal = [n.href for n in NAV if not n.public and n.href != "/"]
    assert internal and not [h for h in internal if f'href="{h}"' in page]
    assert 'class="sidebar"' not in page
    assert 'href="/portal"' in page  # the public entries stay


def test_staff_still_see_the_internal_navigation(client: Any, world: Any) -> None:
    client.post("/login", data={"username": "t-admin", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
    page = client.get("/").text
    assert 'class="sidebar"' in page and 'href="/admin/organizations"' in page and 'href="/cloud"' in page

"""Navigation by role and a landing page per role, over the demo city (issue 16).

Every demo role logs in, lands where its work is, and follows every link its navigation shows: none may answer a
4xx or 5xx. The navigation must show only what the role may open (no audit log for staff, no city overview for
a department), and a citizen's portal account sees the portal only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub import demo
from cityhub.app import create_app
from cityhub.cloud import service as cloud
from cityhub.core import service as core
from cityhub.data import service as data
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from cityhub.ops import service as ops

PASSWORD = "nav-demo-pass-1"
# demo user -> (what they are, where `/` lands them)
ROLES = {
    "admin": ("platform admin", "/overview"),
    "dsj-staff": ("bureau member", "/overview"),
    "rsj-chief": ("department chief", "/work"),
    "rsj-staff": ("department staff", "/work"),
    "yz-staff": ("district staff", "/work"),
    "operator": ("operator", "/ops/alarms"),
    "auditor": ("auditor", "/admin/audit"),
}
_SIDEBAR = re.compile(r'<aside class="sidebar">(.*?)</aside>', re.S)
_TOPBAR = re.compile(r'<nav class="layers">(.*?)</nav>', re.S)
_HREF = re.compile(r'href="(/[^"]*)"')


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app over a SQLite database holding the whole demo city."""
    path: Path = tmp_path_factory.mktemp("nav") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    demo.build(db, PASSWORD, log=lambda _m: None)
    yield create_app(get_settings(), db)
    db.engine.dispose()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _login(client: TestClient, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert r.status_code == 303, (username, r.status_code)


def _nav_links(html: str) -> list[str]:
    """Every link of the page's navigation: the sidebar and the top bar's layers."""
    blocks = _SIDEBAR.findall(html) + _TOPBAR.findall(html)
    return sorted({h.replace("&amp;", "&") for b in blocks for h in _HREF.findall(b)})


@pytest.mark.parametrize("username", list(ROLES))
def test_every_navigation_link_opens_for_every_role(demo_app: Any, username: str) -> None:
    who, landing = ROLES[username]
    with TestClient(demo_app) as client:
        _login(client, username)
        home = client.get("/", headers={"Accept": "text/html"})
        assert home.status_code == 200 and home.url.path == landing, (who, home.url.path, home.status_code)
        links = _nav_links(home.text)
        assert len(links) >= 4, (who, links)
        failures = []
        for href in links:
            r = client.get(href, headers={"Accept": "text/html"}, follow_redirects=False)
            if r.status_code >= 400:
                failures.append(f"{href}: {r.status_code}")
        assert not failures, f"{who} ({username}) follows links that fail: {failures}"


def test_the_navigation_shows_only_what_the_role_may_open(demo_app: Any) -> None:
    seen: dict[str, list[str]] = {}
    for username in ROLES:
        with TestClient(demo_app) as client:
            _login(client, username)
            seen[username] = _nav_links(client.get("/").text)
    holders = {href: {u for u, links in seen.items() if href in links} for href in
               ("/admin/audit", "/overview", "/work", "/data/review", "/cloud", "/connect/quarantine", "/admin/users")}
    assert holders["/admin/audit"] == {"admin", "auditor"}
    assert holders["/overview"] == {"admin", "dsj-staff"}
    assert holders["/work"] == {"admin", "dsj-staff", "rsj-chief", "rsj-staff", "yz-staff"}
    assert holders["/data/review"] == {"admin", "dsj-staff"}  # the bureau reviews the catalog
    assert holders["/cloud"] == {"admin", "operator", "auditor"}  # the platform's capacity view
    assert holders["/connect/quarantine"] == {"admin", "operator", "auditor"}
    assert "operator" not in holders["/admin/users"]
    # links that would answer 403 for someone are hidden from them: the probe of every nav entry agrees
    with TestClient(demo_app) as client:
        _login(client, "rsj-staff")
        for href in ("/admin/audit", "/overview"):
            assert client.get(href, headers={"Accept": "text/html"}).status_code == 403


def test_a_portal_account_sees_the_portal_only(demo_app: Any) -> None:
    with TestClient(demo_app) as client:
        page = client.get("/portal/register")
        r = client.post("/portal/register", data={"csrf_token": _csrf(page.text), "username": "nav-citizen",
                                                  "email": "nav@example.org", "password": PASSWORD},
                        follow_redirects=False)
        assert r.status_code == 303, r.text[:300]
        home = client.get("/")
        assert home.url.path == "/portal" and home.status_code == 200
        assert 'class="sidebar"' not in home.text
        links = _nav_links(home.text)
        assert links and all(h.startswith(("/portal", "/ops/report")) for h in links), links
        for href in links:
            assert client.get(href).status_code == 200, href


def test_my_work_counts_come_from_the_domains(demo_app: Any) -> None:
    """A department chief's queues: counts and the items listed agree, the chief approves cloud requests."""
    with TestClient(demo_app) as client:
        _login(client, "rsj-chief")
        page = client.get("/work").text
    queues = {k: int(v) for k, v in
              re.findall(r'data-testid="queue-(\w+)".*?data-testid="queue-count">(\d+)<', page, re.S)}
    assert {"sharing_answer", "sharing_waiting", "entries", "incidents", "cloud"} <= set(queues), queues
    with demo_app.state.db.session_scope() as session:
        chief = core.actor_for_username(session, "rsj-chief")
        assert queues["cloud"] == len(cloud.approval_queue(session, chief))
        assert queues["sharing_answer"] == data.share_request_list(session, chief, box="provider")[1]
        assert queues["incidents"] == ops.incident_list(session, chief, PageParams(limit=1, offset=0),
                                                        open_only=True)[1]
    assert sum(queues.values()) > 0  # the demo gives the chief something to do
    with TestClient(demo_app) as client:
        _login(client, "rsj-staff")
        staff = client.get("/work").text
    assert 'data-testid="queue-cloud"' not in staff  # members do not approve cloud requests
    for code in ("provider_review", "in_progress", "pending_bureau", "compliance_review"):
        assert f">{code}<" not in page and f" {code} " not in page  # states are labelled, not raw codes


def test_the_city_overview_links_down(demo_app: Any) -> None:
    with TestClient(demo_app) as client:
        _login(client, "admin")
        page = client.get("/overview").text
        for layer in ("cloud", "connect", "data", "ops", "admin"):
            assert f'data-testid="layer-{layer}"' in page, layer
        metric_links = sorted(set(re.findall(r'<a class="metric[^"]*" href="([^"]+)"', page)))
        assert len(metric_links) >= 8
        for href in metric_links:
            assert client.get(href.replace("&amp;", "&")).status_code == 200, href


def test_every_navigation_entry_names_real_permissions(demo_app: Any) -> None:
    """A misspelt permission would hide an entry from everyone but the platform admin, silently."""
    from cityhub.core.permissions import P
    from cityhub.kit.web import NAV

    assert NAV
    for item in NAV:
        for name in item.permissions:
            assert name in {p.value for p in P}, (item.href, name)
        assert not (item.public and item.permissions), item.href  # public entries need no permission

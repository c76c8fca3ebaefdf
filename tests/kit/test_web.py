"""kit.web's request boundary: SessionRoute commits a sync endpoint's session in the endpoint's own thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from cityhub.app import CityhubApp, create_app
from cityhub.kit import web
from cityhub.kit.db import Database
from cityhub.kit.web import DbSession, SessionRoute


def test_every_cityhub_route_uses_session_route(db: Database) -> None:
    app = create_app(db=db)
    api_routes = []
    for r in app.routes:  # FastAPI 0.16x keeps an included router as one entry holding the original router
        inner = getattr(r, "original_router", None)
        api_routes += [x for x in (inner.routes if inner is not None else [r]) if isinstance(x, APIRoute)]
    assert len(api_routes) > 100
    # the app's own probes (/healthz, /readyz, /metrics, /_bare) take no database session; the compute gateway
    # (/hub/…) and the broker's path re-split and plain single-entity GET (/ngsi-ld/…, context/paths.py and fast.py)
    # are no routes at all but fast paths ahead of the middleware (app.FastPaths, docs/compute.md, docs/context.md);
    # everything else under /ngsi-ld/ is handed on to the stack and its routes
    assert sorted(r.path for r in api_routes if not isinstance(r, SessionRoute)) == [
        "/_bare", "/healthz", "/metrics", "/readyz"]
    assert isinstance(app, CityhubApp)
    assert sorted(prefix for prefix, _app in app.fast_paths) == ["/hub/", "/ngsi-ld/"]


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, Database, list[Any]]:
    db = Database(f"sqlite:///{tmp_path / 'web.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (body TEXT NOT NULL)"))
    router = APIRouter(route_class=SessionRoute)

    @router.post("/notes")
    def add(session: DbSession, body: str, fail: bool = False) -> dict[str, str]:
        session.execute(text("INSERT INTO notes VALUES (:b)"), {"b": body})
        if fail:
            raise ValueError("handler failed after writing")
        return {"ok": body}

    @router.post("/async-notes")
    async def add_async(session: DbSession, body: str) -> dict[str, str]:
        session.execute(text("INSERT INTO notes VALUES (:b)"), {"b": body})
        return {"ok": body}

    app = FastAPI()
    app.state.db = db
    app.include_router(router)
    hops: list[Any] = []
    real = web.run_in_threadpool  # type: ignore[attr-defined]  # kit.web's own name for it, which the test patches

    async def counting(func: Any, *args: Any) -> Any:
        hops.append(func)
        return await real(func, *args)

    monkeypatch.setattr(web, "run_in_threadpool", counting)
    return TestClient(app, raise_server_exceptions=False), db, hops


def _notes(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT body FROM notes ORDER BY body"))]


def test_sync_endpoint_commits_in_its_own_thread_without_a_second_hop(tiny: Any) -> None:
    client, db, hops = tiny
    assert client.post("/notes", params={"body": "a"}).json() == {"ok": "a"}
    assert _notes(db) == ["a"]
    assert hops == []  # the session dependency had nothing left to do


def test_an_error_after_writing_rolls_everything_back(tiny: Any) -> None:
    client, db, hops = tiny
    assert client.post("/notes", params={"body": "b", "fail": "true"}).status_code == 500
    assert _notes(db) == []
    assert hops == [web._finish]  # the rollback, once


def test_a_failing_commit_rolls_back_and_reaches_the_error_handler(tiny: Any) -> None:
    client, db, _hops = tiny

    def refuse(_session: Any) -> None:
        raise RuntimeError("commit refused")

    event.listen(db.sessionmaker, "before_commit", refuse)
    try:
        assert client.post("/notes", params={"body": "c"}).status_code == 500
    finally:
        event.remove(db.sessionmaker, "before_commit", refuse)
    assert _notes(db) == []


def test_async_endpoints_keep_the_dependency_commit(tiny: Any) -> None:
    client, db, hops = tiny
    assert client.post("/async-notes", params={"body": "d"}).json() == {"ok": "d"}
    assert _notes(db) == ["d"]
    assert hops == [web._finish]


def test_the_redirect_message_goes_in_the_query_before_a_fragment() -> None:
    saved = web.redirect_with_message("/a/b#kpis", "已保存").headers["location"]
    assert saved == "/a/b?msg=%E5%B7%B2%E4%BF%9D%E5%AD%98#kpis"
    assert web.redirect_with_message("/a?x=1#f", "ok").headers["location"] == "/a?x=1&msg=ok#f"
    assert web.redirect_with_message("/a", None).headers["location"] == "/a"

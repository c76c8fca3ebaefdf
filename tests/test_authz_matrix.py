"""Walk every API route with every role and no credentials; compare with the declared expectations."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import tests.authz as authz_pkg
from tests.authz import Expect
from tests.conftest import ROLES


def _modules() -> list[Any]:
    return [importlib.import_module(f"tests.authz.{m.name}") for m in pkgutil.iter_modules(authz_pkg.__path__)]


def _expectations() -> list[Expect]:
    return [e for m in _modules() for e in m.EXPECTATIONS]


def _api_routes(app: Any) -> set[tuple[str, str]]:
    """Every documented route (the OpenAPI schema is the stable public list of them)."""
    methods = {"get", "post", "put", "patch", "delete"}
    return {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops if m in methods}


def test_every_api_route_declares_who_may_call_it(app: Any) -> None:
    declared = {(e.method, e.path) for e in _expectations()}
    missing = sorted(_api_routes(app) - declared)
    assert not missing, f"routes without an authorisation expectation in tests/authz/: {missing}"
    stale = sorted(declared - _api_routes(app))
    assert not stale, f"expectations for routes that do not exist: {stale}"


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
def test_authorisation_matrix(role: str | None, app: Any, client: Any, world: Any, db: Any) -> None:
    for module in _modules():
        if hasattr(module, "prepare"):
            module.prepare(world)
    world.session.flush()
    world.session.commit()  # releases the test savepoint; the outer transaction is still rolled back at the end
    conn = db.connection
    failures = []
    for exp in _expectations():
        savepoint = conn.begin_nested()  # each call sees the same world: writes are undone after it
        try:
            path = exp.path.format(**{k: str(v) for k, v in exp.params(world).items()})
            kwargs: dict[str, Any] = {"headers": world.headers(role)}
            if exp.query:
                kwargs["params"] = exp.query(world)
            if exp.body is not None:
                kwargs["json"] = exp.body(world)
            resp = client.request(exp.method, path, **kwargs)
        finally:
            savepoint.rollback()
        allowed = exp.allows(role, ROLES)
        code = resp.status_code
        label = f"{exp.method} {path} as {role or 'anonymous'} {exp.note}".strip()
        if code >= 500:
            failures.append(f"{label}: {code} {resp.text[:200]}")
        elif allowed and code in (401, 403):
            failures.append(f"{label}: expected allowed, got {code} {resp.text[:200]}")
        elif not allowed and code not in (401, 403, 404):
            failures.append(f"{label}: expected denied, got {code}")
    assert not failures, "\n".join(failures)

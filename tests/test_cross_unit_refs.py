"""Every id named in a write is checked against what the caller may use (issue 13, item 4).

For every write route declared in `tests/authz/*.py`, each id field of its body is swapped for another unit's
object (`Expect.refs`, unit B's twins) and sent by unit A's staff: the answer must be a refusal (403, 404 or 422),
never a success and never a 5xx. For an A role the route allows, the declared body must succeed first, so the
refusal is the swap's doing. A write route whose body has an id field without a declared swap fails the test.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from typing import Any

import tests.authz as authz_pkg
from tests.authz import Expect
from tests.conftest import ROLES

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
A_ROLES = ("org_member_a", "org_admin_a")  # unit A's staff, who must not reach into unit B
REFUSED = (403, 404, 422)


def _modules() -> list[Any]:
    return [importlib.import_module(f"tests.authz.{m.name}") for m in pkgutil.iter_modules(authz_pkg.__path__)]


def _writes() -> list[Expect]:
    return [e for m in _modules() for e in m.EXPECTATIONS if e.method in WRITES]


def _id_fields(schema: dict[str, Any], components: dict[str, Any], name: str = "") -> set[str]:
    """Names of the fields holding ids: UUIDs (alone, optional or in lists) and strings named *_id / *_ids."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    out: set[str] = set()
    for alt in (*schema.get("anyOf", ()), *schema.get("allOf", ()), *schema.get("oneOf", ())):
        out |= _id_fields(alt, components, name)
    if schema.get("type") == "array" and "items" in schema:
        out |= _id_fields(schema["items"], components, name)
    if name and (schema.get("format") == "uuid" or (schema.get("type") == "string"
                                                    and name.rsplit(".", 1)[-1].endswith(("_id", "_ids")))):
        out.add(name)
    for key, sub in schema.get("properties", {}).items():
        out |= _id_fields(sub, components, f"{name}.{key}" if name else key)
    return out


def _route_id_fields(app: Any) -> dict[tuple[str, str], set[str]]:
    """(method, path) -> the id fields of its JSON body, for every documented write route."""
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    out: dict[tuple[str, str], set[str]] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method.upper() not in WRITES:
                continue
            fields: set[str] = set()
            for content in op.get("requestBody", {}).get("content", {}).values():
                fields |= _id_fields(content.get("schema", {}), components)
            out[(method.upper(), path)] = fields
    return out


def test_every_write_id_field_declares_a_swap(app: Any) -> None:
    declared: dict[tuple[str, str], set[str]] = {}
    for e in _writes():
        declared.setdefault((e.method, e.path), set()).update(e.refs)
    routes = _route_id_fields(app)
    missing = {f"{m} {p}": sorted(fields - declared.get((m, p), set()))
               for (m, p), fields in routes.items() if fields - declared.get((m, p), set())}
    assert not missing, ("id fields without a declared swap (Expect.refs in tests/authz/): another unit's object "
                         f"to try there, or why any unit's object is legitimate: {missing}")
    stale = {f"{m} {p}": sorted(names - routes.get((m, p), set()))
             for (m, p), names in declared.items() if names - routes.get((m, p), set())}
    assert not stale, f"Expect.refs names fields the route's body does not have: {stale}"
    nested = sorted(f for fields in routes.values() for f in fields if "." in f)
    assert not nested, f"nested id fields: teach test_another_units_objects_are_refused to swap them: {nested}"


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_json(v) for v in value]
    return value


def test_another_units_objects_are_refused(app: Any, client: Any, world: Any, db: Any, monkeypatch: Any) -> None:
    from cityhub.kit.settings import get_settings

    # webhooks need a configured host, or every webhook write is refused before its org is looked at
    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "127.0.0.1")
    for module in _modules():
        if hasattr(module, "prepare"):
            module.prepare(world)
    for module in _modules():
        if hasattr(module, "prepare_refs"):
            module.prepare_refs(world)
    world.session.flush()
    world.session.commit()  # releases the test savepoint; the outer transaction is still rolled back at the end
    conn = db.connection

    def call(exp: Expect, role: str, body: Any) -> Any:
        savepoint = conn.begin_nested()  # every call sees the same world
        try:
            path = exp.path.format(**{k: str(v) for k, v in exp.params(world).items()})
            kwargs: dict[str, Any] = {"headers": world.headers(role), "json": body}
            if exp.query:
                kwargs["params"] = exp.query(world)
            return client.request(exp.method, path, **kwargs)
        finally:
            savepoint.rollback()

    failures: list[str] = []
    swaps = 0
    for exp in _writes():
        refs = {k: v for k, v in exp.refs.items() if callable(v)}
        if not refs:
            continue
        for role in [r for r in A_ROLES if exp.allows(r, ROLES)] or ["org_admin_a"]:
            base = dict(exp.body(world) or {}) if exp.body is not None else {}
            label = f"{exp.method} {exp.path} as {role}"
            if exp.allows(role, ROLES):
                resp = call(exp, role, base)
                if not 200 <= resp.status_code < 300:
                    failures.append(f"{label}: the declared body must succeed before its ids are swapped, got "
                                    f"{resp.status_code} {resp.text[:200]}")
                    continue
            for name, other in refs.items():
                body = {**base, name: _json(other(world))}
                resp = call(exp, role, body)
                swaps += 1
                if resp.status_code not in REFUSED:
                    failures.append(f"{label} with {name} of another unit: expected 403/404/422, got "
                                    f"{resp.status_code} {resp.text[:200]}")
    assert swaps >= 30, f"only {swaps} swaps ran: are the declarations loaded?"
    assert not failures, "\n".join(failures)

"""One visibility rule: "open to the public" (published and not 不予开放) and "published" are stated once, in
`data/catalog/service.py`, and every surface an anonymous caller reaches agrees on what it shows.

The static half parses every module under src/cityhub and fails when one outside the rule's module compares an
`open_type` with 'none' (or lists the open types), or compares a status with `EntryStatus.PUBLISHED` (in the data
domain also with the text 'published'); and when a portal module imports the entry or resource models for anything
but type annotations. The behavioural half builds entries of every open type and state and asks the REST API, the
CKAN Action API, DCAT and the downloads which of them an anonymous caller sees.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.core import service as core
from cityhub.data import service
from cityhub.data.catalog import service as catalog
from cityhub.data.models import CatalogEntry, CatalogSearch
from tests.data.helpers import bureau_setup, entry_data, published_entry
from tests.data.portal_helpers import open_entry

SRC = Path(__file__).resolve().parents[2] / "src" / "cityhub"
RULE_MODULE = SRC / "data" / "catalog" / "service.py"
PORTAL = SRC / "data" / "portal"
MODELS_PORTAL_MAY_NOT_QUERY = {"CatalogEntry", "CatalogSearch", "Resource"}


def _mentions(node: ast.AST, word: str) -> bool:
    return word in ast.unparse(node)


def _is_none_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value == "none":
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_none_literal(e) for e in node.elts)
    return isinstance(node, ast.Attribute) and node.attr == "NONE" and _mentions(node, "Open")


def _lists_open_types(node: ast.AST) -> bool:
    consts = {e.value for e in node.elts if isinstance(e, ast.Constant)} if isinstance(
        node, ast.Tuple | ast.List | ast.Set) else set()
    return {"unconditional", "conditional"} <= consts


def _is_published(node: ast.AST, in_data: bool) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "PUBLISHED" and _mentions(node.value, "EntryStatus"):
        return True
    if in_data and isinstance(node, ast.Constant) and node.value == "published":
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_published(e, in_data) for e in node.elts)
    return False


def violations(tree: ast.AST, in_data: bool) -> list[str]:
    """Places in a module's tree that restate the public-visibility or the published rule."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr):
            continue
        pairs: list[tuple[ast.AST, list[ast.AST]]] = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            pairs = [(o, [x for x in operands if x is not o]) for o in operands]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("in_",
                                                                                                        "notin_"):
            pairs = [(node.func.value, list(node.args))]
        for subject, others in pairs:
            if _mentions(subject, "open_type") and any(_is_none_literal(o) or _lists_open_types(o) for o in others):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:100]} (open to the public)")
                break
            if _mentions(subject, "status") and any(_is_published(o, in_data) for o in others):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:100]} (published)")
                break
    return found


def _runtime_model_imports(tree: ast.Module) -> set[str]:
    """Names imported from data.models outside `if TYPE_CHECKING:` blocks."""
    guarded = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _mentions(node.test, "TYPE_CHECKING")
               for n in ast.walk(node)}
    return {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and id(node) not in guarded
            and node.module == "cityhub.data.models" for a in node.names}


def test_no_module_but_the_catalog_service_states_who_the_public_sees() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        if path == RULE_MODULE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [f"{path.relative_to(SRC)} {v}" for v in violations(tree, in_data="data" in path.parts)]
    assert not bad, "use the rule of data/catalog/service.py instead:\n" + "\n".join(bad)


def test_the_rule_module_holds_the_rule() -> None:
    # the allow-list above is not a blind spot: the one module it skips is where the rule is
    assert violations(ast.parse(RULE_MODULE.read_text(encoding="utf-8")), in_data=True)


def test_portal_modules_query_entries_and_resources_only_through_the_catalog() -> None:
    bad = {p.name: names for p in sorted(PORTAL.glob("*.py"))
           if (names := _runtime_model_imports(ast.parse(p.read_text(encoding="utf-8")))
               & MODELS_PORTAL_MAY_NOT_QUERY)}
    assert not bad, f"portal modules importing entry/resource models (call catalog.service instead): {bad}"


@pytest.mark.parametrize("snippet", [
    'q = q.where(CatalogSearch.open_type != "none")',
    'private = entry.open_type == "none" or x',
    'stmt.where(CatalogEntry.open_type.in_(("unconditional", "conditional")))',
    "stmt.where(CatalogEntry.status == EntryStatus.PUBLISHED)",
    'ok = entry.status != "published"',
    "stmt.where(src.status.in_([EntryStatus.PUBLISHED]))",
])
def test_the_checker_catches_each_restatement(snippet: str) -> None:
    assert violations(ast.parse(snippet), in_data=True)


def test_the_checker_lets_other_comparisons_pass() -> None:
    ok = 'a = entry.open_type == "conditional"\nb = req.status == RequestStatus.ACTIVE\nc = s == "published"\n'
    assert not violations(ast.parse(ok), in_data=True)


# ---------------------------------------------------------------- behaviour: every surface agrees


def _catalog_of_every_kind(w: Any) -> tuple[set[str], set[str]]:
    """Entries of each open type and state; (names the public sees, names it does not)."""
    bureau_setup(w)
    a = w.actors["org_member_a"]
    free, _r = open_entry(w, "公交站点", rows=True)
    cond, _r2 = open_entry(w, "企业登记信息", open_type="conditional", rows=False)
    closed = published_entry(w, title="不动产登记明细")  # open_type none
    draft = service.catalog_entry_create(w.session, a, entry_data(
        w, title="草稿开放数据", open_type="unconditional", share_type="unconditional"))
    pending = service.catalog_entry_create(w.session, a, entry_data(
        w, title="待审开放数据", open_type="conditional", open_condition="注册", share_type="unconditional"))
    service.catalog_entry_submit(w.session, a, pending.id)
    gone, _r3 = open_entry(w, "已下线数据", rows=False)
    service.catalog_entry_offline(w.session, a, gone.id, "停用")
    w.session.flush()
    return {free.name, cond.name}, {closed.name, draft.name, pending.name, gone.name}


def test_api_ckan_dcat_and_downloads_agree_on_what_the_public_sees(client: Any, world: Any) -> None:
    public, hidden = _catalog_of_every_kind(world)
    everything = public | hidden
    api = {e["name"] for e in client.get("/api/v1/data/catalog", params={"limit": 100}).json()["items"]}
    search = client.get("/api/3/action/package_search", params={"rows": 100}).json()["result"]
    listed = set(client.get("/api/3/action/package_list").json()["result"])
    sitemap = client.get("/sitemap.xml").text
    dcat = client.get("/catalog.ttl").text
    assert api == public
    assert {p["name"] for p in search["results"]} == public and search["count"] == len(public)
    assert listed == public
    for name in everything:
        visible = name in public
        assert (client.get("/api/3/action/package_show", params={"id": name}).status_code == 200) == visible, name
        assert (client.get(f"/dataset/{name}.ttl").status_code == 200) == visible, name
        assert (client.get(f"/dataset/{name}/datapackage.json").status_code == 200) == visible, name
        assert (f"/dataset/{name}<" in sitemap) == visible, name
        assert (f"/dataset/{name}>" in dcat) == visible, name


def test_the_python_predicate_and_the_sql_clause_are_one_rule(world: Any) -> None:
    _catalog_of_every_kind(world)
    s = world.session
    entries = list(s.scalars(select(CatalogEntry)))
    assert len({(e.status, e.open_type) for e in entries}) >= 5
    actors = [core.Actor.anonymous(), world.actors["org_member_a"], world.actors["org_member_b"],
              world.actors["bureau_member"], world.actors["platform_admin"], world.actors["auditor"]]
    for actor in actors:
        for src in (CatalogEntry, CatalogSearch):
            id_col = CatalogEntry.id if src is CatalogEntry else CatalogSearch.entry_id
            by_sql = set(s.scalars(select(id_col).where(catalog.visible_clause(actor, src))))
            assert by_sql == {e.id for e in entries if catalog.entry_visible(actor, e)}, (actor.username, src)
    public_sql = set(s.scalars(select(CatalogEntry.id).where(catalog.public_clause())))
    assert public_sql == {e.id for e in entries if catalog.is_public(e)} != set()
    assert set(s.scalars(catalog.public_entry_ids())) == public_sql
    # the public sees exactly the entries open to it; an insider more
    anon = core.Actor.anonymous()
    assert {e.id for e in entries if catalog.entry_visible(anon, e)} == public_sql
    assert {e.id for e in entries if catalog.entry_visible(world.actors["org_member_b"], e)} > public_sql
    assert uuid.UUID(int=0) not in public_sql

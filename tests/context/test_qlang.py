"""The q grammar on its own: what parses into which tree, and that no input raises anything but BadRequestData."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cityhub.context import qlang
from cityhub.context.jsonld import core
from cityhub.context.models import ContextEntity
from cityhub.context.problems import NgsiError
from cityhub.context.query import type_filter

V = "https://uri.etsi.org/ngsi-ld/default-context/"


def test_trees() -> None:
    ctx = core()
    t = qlang.parse("a.b.observedAt>2026-01-01T00:00:00+08:00", ctx)
    assert t.path == (f"{V}a", "@none", f"{V}b", "observedAt") and not t.leaf_is_value
    assert t.values[0].text == "2025-12-31T16:00:00.000Z"  # compared as an instant in UTC
    t = qlang.parse("x[y.z]==1..5", ctx)
    assert t.path == (f"{V}x", "@none", "value", "y", "z") and t.is_range and t.values == (1.0, 5.0)
    t = qlang.parse("https://ex.org/a.b#c==\"v;w|x\"", ctx)
    assert t.path[0] == "https://ex.org/a.b#c" and t.values == ("v;w|x",)
    tree = qlang.parse("a==1;(b==2|c==3);!d", ctx)
    assert tree.op == "and" and [type(p).__name__ for p in tree.parts] == ["Term", "BoolOp", "Term"]
    assert tree.parts[2].negate and not tree.parts[2].op
    assert qlang.parse("a|b;c", ctx).op == "or"  # ; binds tighter than |


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="abc.[]()!;|=<>~\"'0123456789-:TZ ,", max_size=40))
def test_any_text_parses_or_is_bad_request_data(text: str) -> None:
    try:
        tree = qlang.parse(text, core())
    except NgsiError as exc:
        refused: NgsiError | None = exc
    else:
        refused = None
        qlang.to_sql(tree, ContextEntity.attrs, "postgresql")
        qlang.to_sql(tree, ContextEntity.attrs, "sqlite")
    assert refused is None or (refused.kind == "BadRequestData" and refused.detail)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="AB(),;| ", max_size=20))
def test_any_type_expression_compiles_or_is_bad_request_data(text: str) -> None:
    refused: NgsiError | None = None
    try:
        type_filter(text, core())
    except NgsiError as exc:
        refused = exc
    assert refused is None or refused.kind == "BadRequestData"


@pytest.mark.parametrize("q", ["a==1", "a.b==\"x\"", "a[b]~=x", "!a", "a==1,\"x\"", "a!=1,2", "a==true,false",
                               "a.observedAt<2026-01-01T00:00:00Z", "a==urn:x:1..urn:x:9"])
def test_compiled_sql_runs_on_both_backends(session: Any, q: str) -> None:
    where = qlang.to_sql(qlang.parse(q, core()), ContextEntity.attrs, session.get_bind().dialect.name)
    assert session.execute(select(ContextEntity.id).where(where)).all() == []

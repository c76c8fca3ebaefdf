"""Entity scopes and the scope query language (NGSI-LD clause 4.18 / 4.19): `scope` values and `scopeQ`.

A scope is a path of levels, `/Madrid/Gardens/ParqueNorte`; an entity holds one or several (`scope` is a string or
an array of strings). A scopeQ term is a scope in which a level `+` stands for any one level and a last level `#`
for the scope itself and everything under it (`/#`: any scope); terms combine with `;` (and), `,` (or, binding
looser than `;`) and parentheses. An entity meets a term when one of its scopes does.

Scopes are stored twice, as types are: in the entity row (`ContextEntity.scope`, what is rendered) and as side rows
(`ContextEntityScope`, what is queried), so a scopeQ is an EXISTS per term over indexed rows and the page, its
offset and its count are SQL's, never cut before the filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from cityhub.context.models import ContextEntityScope
from cityhub.context.problems import bad

S = ContextEntityScope
MAX_SCOPES = 100  # per entity
MAX_SCOPE = 512
_LEVEL = r"[^/\s;,()+#|\"'<>\\]+"  # a level: no separator, wildcard, operator, quote or bracket
_SCOPE_RE = re.compile(rf"^(/{_LEVEL})+$")
_LEVEL_RE = re.compile(rf"^{_LEVEL}$")


def scopes(raw: Any, field: str = "scope") -> list[str]:
    """An entity's `scope` member (a string or an array of them) checked: each a path of levels from `/`."""
    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > MAX_SCOPES:
        raise bad(f"{field} is a scope or an array of 1 to {MAX_SCOPES} scopes", field)
    for item in items:
        if not isinstance(item, str) or len(item) > MAX_SCOPE or not _SCOPE_RE.match(item):
            shown = item[:60] if isinstance(item, str) else type(item).__name__
            raise bad(f"{field}: a scope is a path of levels such as /Madrid/Gardens, not {shown!r}", field)
    return list(dict.fromkeys(items))


def shown(values: list[str] | None) -> str | list[str] | None:
    """The `scope` member as rendered: one scope as a string, several as an array, none left out."""
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


@dataclass(frozen=True)
class Term:
    """One scope pattern: its levels (`+` any one level, a last `#` the scope and all below)."""

    levels: tuple[str, ...]

    @property
    def exact(self) -> bool:
        """No wildcard: the pattern is one scope."""
        return "+" not in self.levels and "#" not in self.levels

    def regex(self) -> str:
        """The pattern as an anchored regular expression over a stored scope."""
        out = "^"
        for level in self.levels:
            if level == "#":
                return out + "(/.*)?$"
            out += "/[^/]+" if level == "+" else "/" + re.escape(level)
        return out + "$"

    def matches(self, scope: str) -> bool:
        """Does this scope meet the pattern?"""
        return re.match(self.regex(), scope) is not None


@dataclass(frozen=True)
class Op:
    """`;` (and) or `,` (or) of two or more expressions."""

    op: str
    parts: tuple[Term | Op, ...]


Expr = Term | Op
_TOKEN = re.compile(r"\s*([;,()]|[^;,()\s]+)")


def parse(text: str) -> Expr:
    """A scopeQ parsed; a 400 naming scopeQ when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise bad("scopeQ is empty", "scopeQ")
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise bad("scopeQ has characters outside of scopes and ; , ( )", "scopeQ")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise bad("scopeQ ends too soon", "scopeQ")
        pos += 1
        return str(tokens[pos - 1])

    def expr(sep: str) -> Expr:
        parts = [atom() if sep == ";" else expr(";")]
        while peek() == sep:
            take()
            parts.append(atom() if sep == ";" else expr(";"))
        return parts[0] if len(parts) == 1 else Op(sep, tuple(parts))

    def atom() -> Expr:
        token = take()
        if token == "(":
            inner = expr(",")
            if take() != ")":
                raise bad("scopeQ has an unclosed parenthesis", "scopeQ")
            return inner
        return _term(token)

    tree = expr(",")
    if pos != len(tokens):
        raise bad(f"scopeQ: unexpected {tokens[pos][:30]!r}", "scopeQ")
    return tree


def _term(token: str) -> Term:
    if not token.startswith("/") or len(token) > MAX_SCOPE:
        raise bad(f"scopeQ: a scope starts with '/': {token[:40]!r}", "scopeQ")
    levels = tuple(token[1:].split("/"))
    for i, level in enumerate(levels):
        if level == "#" and i == len(levels) - 1:
            continue
        if level != "+" and not _LEVEL_RE.match(level):
            raise bad(f"scopeQ: {token[:60]!r} is not a scope pattern ('+' a level, '#' only last)", "scopeQ")
    return Term(levels)


def to_sql(tree: Expr, entity_pk: Any, dialect: str) -> ColumnElement[bool]:
    """The SQL of a scopeQ over `ContextEntityScope` (SQLite needs `query._regexp` on the connection for `+`/`#`)."""
    if isinstance(tree, Op):
        parts = [to_sql(p, entity_pk, dialect) for p in tree.parts]
        return and_(*parts) if tree.op == ";" else or_(*parts)
    if tree.exact:
        match: ColumnElement[bool] = S.scope == "/" + "/".join(tree.levels)
    elif tree.levels == ("#",):
        return select(S.entity_pk).where(S.entity_pk == entity_pk).exists()
    elif dialect == "postgresql":
        match = S.scope.op("~")(tree.regex())
    else:
        match = func.regexp(tree.regex(), S.scope) == 1
    return select(S.entity_pk).where(S.entity_pk == entity_pk, match).exists()


def needs_regexp(tree: Expr) -> bool:
    """Does the SQL of this scopeQ use the regexp function (SQLite registers it per connection)?"""
    if isinstance(tree, Op):
        return any(needs_regexp(p) for p in tree.parts)
    return not tree.exact


def matches(tree: Expr, values: list[str]) -> bool:
    """Does an entity with these scopes meet the scopeQ (the same rule as `to_sql`, in Python)?"""
    if isinstance(tree, Op):
        hits = (matches(p, values) for p in tree.parts)
        return all(hits) if tree.op == ";" else any(hits)
    return any(tree.matches(v) for v in values)

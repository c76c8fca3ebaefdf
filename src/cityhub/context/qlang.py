"""The NGSI-LD query language (`q`, ETSI GS CIM 009 v1.8 clause 4.9): a lark grammar, and SQL over the JSON store.

    q := or ; or := and ("|" and)* ; and := atom (";" atom)* ; atom := "(" or ")" | term
    term := "!"? path (op value)?          op: == != > >= < <= ~= !~=
    path := name ("." name)* ("[" name ("." name)* "]")?

A path's first name is an attribute, further dotted names its sub-attributes or one of the metadata `observedAt`,
`unitCode`, `datasetId`, `createdAt`, `modifiedAt`; brackets go into a JSON value. An attribute name that is a full
IRI (`https://…#temperature`) is taken whole. Values: numbers, "quoted strings", true/false, date-times (compared as
instants), unquoted URIs or words; `a,b,c` is a list (== any of them), `x..y` a range. `;` binds tighter than `|`. A
numeric comparison of an attribute's own value reads the indexed `context_number` rows (the same values: every
default Property instance's JSON number). A term applies to an attribute's default instance (no `datasetId`), its
`value` or, for a Relationship, its `object`. Compiled for PostgreSQL (jsonb functions) and SQLite (JSON1); a
comparison only ever sees values of its own JSON type (a string is never compared with a number, and never cast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedInput
from lark.exceptions import VisitError
from sqlalchemy import Float, and_, case, cast, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from cityhub.context.entities import NULL, time_text
from cityhub.context.jsonld import LdContext
from cityhub.context.models import NO_DATASET, ContextNumber
from cityhub.context.problems import bad

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr ("|" and_expr)*
?and_expr: atom (";" atom)*
?atom: "(" or_expr ")" | term
term: NOT? PATH (OP VALUE)?
NOT: "!"
OP: "==" | "!=" | ">=" | "<=" | ">" | "<" | "~=" | "!~="
PATH: /[^\s;|()!<>=~\[\]"]+(\[[^\]\s;|()"]+\])?/
VALUE: /("([^"\\]|\\.)*"|[^;|()"])+/
%ignore /[ \t]+/
"""
_PARSER = Lark(_GRAMMAR, parser="lalr")
METADATA = frozenset({"observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt"})
MAX_Q = 2000
MAX_TERMS = 50
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass(frozen=True)
class Term:
    """One comparison (or existence test when `op` is empty) on a path."""

    negate: bool
    path: tuple[str, ...]  # expanded, starting at the attribute IRI, ending at the compared key
    leaf_is_value: bool  # the path ends at an instance (compare its value or object), not at metadata / JSON
    op: str = ""
    values: tuple[Any, ...] = ()
    is_range: bool = False


@dataclass(frozen=True)
class BoolOp:
    """`;` (and) or `|` (or) over sub-expressions."""

    op: str
    parts: tuple[Any, ...]


class _Build(Transformer[Token, Any]):
    def __init__(self, ctx: LdContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.count = 0

    def or_expr(self, items: list[Any]) -> BoolOp:
        return BoolOp("or", tuple(items))

    def and_expr(self, items: list[Any]) -> BoolOp:
        return BoolOp("and", tuple(items))

    def term(self, items: list[Any]) -> Term:
        self.count += 1
        if self.count > MAX_TERMS:
            raise bad(f"q has more than {MAX_TERMS} terms", "q")
        negate = bool(items) and isinstance(items[0], Token) and items[0].type == "NOT"
        rest = items[1:] if negate else items
        path, leaf_is_value = _path(str(rest[0]), self.ctx)
        if len(rest) == 1:
            return Term(negate, path, leaf_is_value)
        if negate:
            raise bad("q: '!' applies to an attribute alone (does not exist), not to a comparison", "q")
        op, raw = str(rest[1]), str(rest[2]).strip()
        values, is_range = _values(raw, op)
        return Term(False, path, leaf_is_value, op, values, is_range)


def _path(text: str, ctx: LdContext) -> tuple[tuple[str, ...], bool]:
    inner: list[str] = []
    if "[" in text:
        text, _sep, rest = text.partition("[")
        inner = [p for p in rest.rstrip("]").split(".") if p]
    names = [text] if "://" in text else text.split(".")  # a full IRI: its dots are not sub-attribute separators
    if any(not n for n in names):
        raise bad(f"q: invalid attribute path {text[:80]!r}", "q")
    path: list[str] = [ctx.expand(names[0]), NO_DATASET]
    leaf_is_value = True
    for i, name in enumerate(names[1:], start=1):
        if name in METADATA and i == len(names) - 1:
            path.append(name)
            leaf_is_value = False
        else:
            path.append(ctx.expand(name))
    if inner:
        if not leaf_is_value:
            raise bad("q: brackets go into a value, not into metadata", "q")
        path.append("value")
        path.extend(inner)
        leaf_is_value = False
    return tuple(path), leaf_is_value


def _atom(raw: str) -> Any:
    raw = raw.strip()
    if not raw:
        raise bad("q: an empty value", "q")
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise bad(f"q: unterminated string {raw[:40]}", "q")
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if raw in ("true", "false"):
        return raw == "true"
    if _NUMBER.match(raw):
        return float(raw)
    if _DATETIME.match(raw):
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            raise bad(f"q: invalid date-time {raw[:40]}", "q") from None
        return _Instant(time_text(at if at.tzinfo else at.replace(tzinfo=UTC)))
    return raw  # an unquoted URI or word, compared as a string


@dataclass(frozen=True)
class _Instant:
    text: str


def _split_list(raw: str) -> list[str]:
    parts, cur, quoted = [], "", False
    for ch in raw:
        if ch == '"' and not cur.endswith("\\"):
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _values(raw: str, op: str) -> tuple[tuple[Any, ...], bool]:
    if op in ("~=", "!~="):
        pattern = _atom(raw) if raw.startswith('"') else raw
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise bad(f"q: invalid pattern {str(pattern)[:60]}: {exc}", "q") from None
        return (str(pattern),), False
    if raw[:1] in ("=", "<", ">", "!", "~"):
        raise bad(f"q: unexpected operator in value {raw[:20]!r}", "q")
    if op in ("==", "!=") and ".." in raw and not raw.startswith('"') and "://" not in raw:
        low, _sep, high = raw.partition("..")
        lo, hi = _atom(low), _atom(high)
        if type(lo) is not type(hi) or isinstance(lo, bool):
            raise bad("q: a range needs two values of one kind", "q")
        return (lo, hi), True
    if op in ("==", "!="):
        items = tuple(_atom(p) for p in _split_list(raw))
        if len(items) > 1 and any(isinstance(v, bool) for v in items) and not all(isinstance(v, bool)
                                                                                   for v in items):
            raise bad("q: a list mixes booleans with other values", "q")
        return items, False
    value = _atom(raw)
    if isinstance(value, bool):
        raise bad(f"q: {op} needs a number, string or date-time", "q")
    return (value,), False


def parse(q: str, ctx: LdContext) -> Any:
    """The expression tree of `q`, names expanded; BadRequestData naming where it does not parse."""
    if len(q) > MAX_Q:
        raise bad(f"q is longer than {MAX_Q} characters", "q")
    try:
        tree = _PARSER.parse(q)
    except UnexpectedInput as exc:
        raise bad(f"q does not parse at column {exc.column}: {q[max(0, exc.column - 10):exc.column + 10]!r}",
                  "q") from None
    try:
        return _Build(ctx).transform(tree)
    except VisitError as exc:  # lark wraps what the transformer raised
        raise exc.orig_exc from None


# ---- SQL


class _Json:
    """JSON access per dialect: the element at a path, its JSON type, its text."""

    def __init__(self, column: Any, dialect: str) -> None:
        self.col, self.pg = column, dialect == "postgresql"

    def _sqlite_path(self, path: tuple[str, ...]) -> str:
        return "$" + "".join(f'."{p}"' for p in path)

    def kind(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """'number', 'string', 'boolean', 'object', 'array', 'null' or NULL when absent (both dialects)."""
        if self.pg:
            return func.jsonb_typeof(func.jsonb_extract_path(self.col, *path))
        t = func.json_type(self.col, self._sqlite_path(path))
        return case((t.in_(("integer", "real")), "number"), (t == "text", "string"),
                    (t.in_(("true", "false")), "boolean"), else_=t)

    def text(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """The element as text (strings unquoted)."""
        if self.pg:
            return func.jsonb_extract_path_text(self.col, *path)
        return func.json_extract(self.col, self._sqlite_path(path))

    def number(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """The element as a float when it is a JSON number, else NULL (no cast of anything else)."""
        if self.pg:
            return case((self.kind(path) == "number", cast(self.text(path), Float)), else_=None)
        return case((self.kind(path) == "number", func.json_extract(self.col, self._sqlite_path(path))),
                    else_=None)

    def boolean(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """True/False when the element is a JSON boolean, else NULL."""
        if self.pg:
            return case((self.kind(path) == "boolean", self.text(path) == "true"), else_=None)
        t = func.json_type(self.col, self._sqlite_path(path))
        return case((t == "true", true()), (t == "false", false()), else_=None)


def _compare(j: _Json, path: tuple[str, ...], term: Term) -> ColumnElement[bool]:
    values = term.values
    sample = values[0]
    if term.op in ("~=", "!~="):
        txt = case((j.kind(path) == "string", j.text(path)), else_=None)
        match = txt.op("~")(sample) if j.pg else func.regexp(sample, txt) == 1
        return and_(txt.is_not(None), not_(match) if term.op == "!~=" else match)
    if isinstance(sample, bool):
        b = j.boolean(path)
        hit = b.in_(values) if len(values) > 1 else b == sample
        return and_(b.is_not(None), not_(hit) if term.op == "!=" else hit)
    if isinstance(sample, float):
        if not all(isinstance(v, float) for v in values):
            # a list mixing numbers and strings: each compared as its own kind
            parts = [_compare(j, path, Term(False, path, False, "==", (v,))) for v in values]
            any_hit = or_(*parts)
            return and_(j.kind(path).is_not(None), not_(any_hit)) if term.op == "!=" else any_hit
        expr: ColumnElement[Any] = j.number(path)
    else:
        values = tuple(v.text if isinstance(v, _Instant) else (NULL if v == NULL else v) for v in values)
        if not all(isinstance(v, str) for v in values):
            raise bad("q: a list or range mixes numbers and strings", "q")
        expr = case((j.kind(path) == "string", j.text(path)), else_=None)
    if term.is_range:
        hit = expr.between(values[0], values[1])
    elif term.op in ("==", "!="):
        hit = expr.in_(values) if len(values) > 1 else expr == values[0]
    else:
        hit = {">": expr > values[0], ">=": expr >= values[0], "<": expr < values[0],
               "<=": expr <= values[0]}[term.op]
    if term.op == "!=":
        return and_(expr.is_not(None), not_(hit))
    return and_(expr.is_not(None), hit)


def _numeric_hit(term: Term) -> ColumnElement[bool] | None:
    """The condition on `context_number.value` of a numeric comparison of an attribute's own value, else None."""
    if (not term.op or not term.leaf_is_value or len(term.path) != 2 or term.op in ("~=", "!~=")
            or not all(isinstance(v, float) for v in term.values)):
        return None
    n, values = ContextNumber.value, term.values
    if term.is_range:
        hit = n.between(values[0], values[1])
    elif term.op in ("==", "!="):
        hit = n.in_(values) if len(values) > 1 else n == values[0]
    else:
        hit = {">": n > values[0], ">=": n >= values[0], "<": n < values[0], "<=": n <= values[0]}[term.op]
    return not_(hit) if term.op == "!=" else hit


def _numbers_in(pk: Any, attr: str, hits: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """Entities whose number row of `attr` meets every condition: one index range scan."""
    out: ColumnElement[bool] = pk.in_(select(ContextNumber.entity_pk).where(ContextNumber.attr == attr, *hits))
    return out


def _numeric(term: Term, pk: Any) -> ColumnElement[bool] | None:
    hit = _numeric_hit(term) if pk is not None else None
    return None if hit is None else _numbers_in(pk, term.path[0], [hit])


def _term_sql(j: _Json, term: Term, pk: Any = None) -> ColumnElement[bool]:
    fast = _numeric(term, pk)
    if fast is not None:
        return fast
    if not term.op:
        exists = j.kind(term.path).is_not(None)
        return not_(exists) if term.negate else exists
    if not term.leaf_is_value:
        return _compare(j, term.path, term)
    # an instance: its `value`, or its `object` for a Relationship (whichever it has)
    return or_(_compare(j, (*term.path, "value"), term), _compare(j, (*term.path, "object"), term))


def to_sql(node: Any, column: Any, dialect: str, pk: Any = None) -> ColumnElement[bool]:
    """The WHERE clause of a parsed `q` over the attributes column (and, given the entity key, the number rows)."""
    j = _Json(column, dialect)

    def walk(n: Any) -> ColumnElement[bool]:
        if isinstance(n, Term):
            return _term_sql(j, n, pk)
        if n.op == "or":
            return or_(*[walk(p) for p in n.parts])
        # terms of one attribute's number joined by `;` (a range written as a;b) become one index scan
        by_attr: dict[str, list[ColumnElement[bool]]] = {}
        parts = []
        for p in n.parts:
            hit = _numeric_hit(p) if pk is not None and isinstance(p, Term) else None
            if hit is None:
                parts.append(walk(p))
            else:
                by_attr.setdefault(p.path[0], []).append(hit)
        parts += [_numbers_in(pk, attr, hits) for attr, hits in by_attr.items()]
        return and_(*parts)

    return walk(node)

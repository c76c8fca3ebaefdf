"""`datastore_search_sql`: one read-only SELECT over open datastore tables, parsed and checked with sqlglot.

Two lines of defence. The first is this parser: the query is parsed as PostgreSQL; it must be exactly one query
(SELECT, or a set operation of SELECTs) whose every table is either the id of a resource of a published 无条件开放
entry or a reference to a CTE that is in scope at that point (a non-recursive CTE's own body, and the bodies of CTEs
listed before it, do not see it: PostgreSQL resolves such a name to the real table). Functions are a whitelist of
pure scalar/aggregate/window functions. The second line is the database: on PostgreSQL the query runs on a separate
login of a role that can read only the `open_data` views (`openviews`), so a perfect parser bypass still reads
nothing else. On SQLite (the demo and laptop default, which has no roles) each table is replaced by a subquery
exposing only `_id` and the open items. Either way the query runs with a statement timeout and a row limit (one row
more is fetched to report truncation).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlglot
from sqlalchemy.orm import Session
from sqlglot import exp

from cityhub.data.catalog import service as catalog
from cityhub.data.datastore.reads import open_items
from cityhub.data.portal import openviews
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import ServiceUnavailable, ValidationFailed
from cityhub.kit.i18n import gettext as _

MAX_SQL_LENGTH = 10_000

_ALLOWED_FUNCS: tuple[type[exp.Expression], ...] = tuple(
    c for c in (getattr(exp, n, None) for n in (
        "Count", "Sum", "Avg", "Min", "Max", "Upper", "Lower", "Length", "Substring", "Trim", "Coalesce", "Round",
        "Abs", "Cast", "TryCast", "Concat", "ConcatWs", "DateTrunc", "TimestampTrunc", "Extract", "Floor", "Ceil",
        "Nullif", "If", "Case", "Stddev", "StddevPop", "StddevSamp", "Variance", "VariancePop", "Greatest", "Least",
        "Sqrt", "Pow", "Ln", "Log", "Exp", "Sign", "StrPosition", "Left", "Right", "Initcap", "Replace", "Trunc",
        "Corr", "CovarSamp", "CovarPop", "CountIf", "ApproxDistinct", "Median", "PercentileCont", "PercentileDisc",
        "RowNumber", "Rank", "DenseRank", "Lag", "Lead", "FirstValue", "LastValue", "NthValue", "Ntile",
        "PercentRank", "CumeDist", "ArrayAgg", "GroupConcat", "Date", "RegexpLike", "Quantile",
        # operators sqlglot models as functions
        "And", "Or", "Xor", "Collate", "Array", "ArrayContains", "ArrayContainedBy", "ArrayOverlaps", "RegexpILike",
        "RegexpFullMatch", "JSONExtract", "JSONExtractScalar", "JSONBExtract", "JSONBExtractScalar",
        "JSONBContains"))
    if c is not None)
# Statements and clauses a read-only query never needs (writes, locks, SELECT INTO, parameters, sessions).
_REFUSED: tuple[type[exp.Expression], ...] = tuple(
    c for c in (getattr(exp, n, None) for n in (
        "Insert", "Update", "Delete", "Create", "Drop", "Alter", "Merge", "Copy", "Command", "Set", "Pragma",
        "Transaction", "Commit", "Rollback", "Lock", "Into", "Placeholder", "Parameter", "SessionParameter",
        "TableSample", "Use", "TruncateTable", "Grant", "Describe", "LoadData", "Analyze"))
    if c is not None)


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="sql")


def _open_tables(session: Session, names: set[str]) -> dict[str, tuple[str, list[str]]]:
    """Resource id → (datastore table, open columns) for the names that are open table resources."""
    ids = []
    for n in names:
        try:
            ids.append(uuid.UUID(n))
        except ValueError:
            raise _refuse(_("Table not found or not open: {name}").format(name=n[:80])) from None
    out: dict[str, tuple[str, list[str]]] = {}
    for res, entry in catalog.open_table_resources(session, ids):
        allowed = set(open_items(entry))
        out[str(res.id)] = (str(res.table_name), [c for c in res.columns if c in allowed])
    for n in names:
        if str(uuid.UUID(n)) not in out:
            raise _refuse(_("Table not found or not open: {name}").format(name=n[:80]))
    return out


def read_only_tree(sql: str) -> tuple[exp.Expression, set[str]]:
    """Parse and check one read-only query (PostgreSQL syntax); returns its tree and the table names it reads.

    Shared by the open portal's public SQL (below) and compute's saved analyses, which decide themselves which
    names are tables the caller may read (CTE references are not among the names).
    """
    if not sql or not sql.strip():
        raise _refuse(_("Give a SELECT statement"))
    if len(sql) > MAX_SQL_LENGTH:
        raise _refuse(_("The statement is too long"))
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise _refuse(_("Not valid SQL: {error}").format(error=str(exc).splitlines()[0][:200])) from exc
    if len(statements) != 1:
        raise _refuse(_("Exactly one statement is allowed"))
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
        raise _refuse(_("Only SELECT queries are allowed"))
    names: set[str] = set()
    for node in tree.walk():
        if isinstance(node, _REFUSED):
            raise _refuse(_("Not allowed in a read-only query: {what}").format(what=type(node).__name__))
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise _refuse(_("Not allowed in a read-only query: {what}").format(what="WITH RECURSIVE"))
        if isinstance(node, exp.Func) and not isinstance(node, _ALLOWED_FUNCS):
            name = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
            raise _refuse(_("Function not allowed: {name}").format(name=name[:60]))
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                raise _refuse(_("Only datastore tables can be read"))
            if node.args.get("db") or node.args.get("catalog"):
                raise _refuse(_("Table not found or not open: {name}").format(name=node.sql()[:80]))
            if not _is_cte_reference(node):
                names.add(node.name)
    return tree, names


def check(session: Session, sql: str) -> tuple[exp.Expression, dict[str, tuple[str, list[str]]]]:
    """Parse and check the query; returns the rewritten tree and the tables it reads."""
    tree, names = read_only_tree(sql)
    if not names:
        raise _refuse(_("Read at least one datastore table"))
    tables = _open_tables(session, names)
    pg = is_postgres(session)
    for node in list(tree.find_all(exp.Table)):
        if _is_cte_reference(node):
            continue
        rid = str(uuid.UUID(node.name))  # every other table was checked to be an open resource id
        alias = exp.TableAlias(this=exp.to_identifier(node.alias or node.name, quoted=True))
        if pg:  # the view in open_data holds exactly `_id` and the open items
            node.replace(exp.Table(this=exp.to_identifier(rid, quoted=True),
                                   db=exp.to_identifier(openviews.SCHEMA), alias=alias))
            continue
        table, cols = tables[rid]
        inner = exp.select(*[exp.column(c, quoted=True) for c in ["_id", *cols]]).from_(
            exp.Table(this=exp.to_identifier(table, quoted=True)))
        node.replace(exp.Subquery(this=inner, alias=alias))
    return tree, tables


def _normal(ident: exp.Identifier | exp.Expression | None) -> str:
    """The name PostgreSQL resolves: quoted identifiers as written, unquoted ones folded to lower case."""
    if isinstance(ident, exp.Identifier):
        return str(ident.this) if ident.quoted else str(ident.this).lower()
    return ""


def _cte_name(cte: exp.Expression) -> str:
    alias = cte.args.get("alias")
    return _normal(alias.this if isinstance(alias, exp.TableAlias) else None)


def _is_cte_reference(table: exp.Table) -> bool:
    """Does this table name resolve to a CTE in scope, as PostgreSQL resolves it (non-recursive WITH)?"""
    name = _normal(table.this)
    child: Any = table  # sqlglot types parents loosely (Expr vs Expression)
    node: Any = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            # `child` is one CTE of this WITH: its body sees only the CTEs listed before it
            ctes = list(node.expressions)
            at = next((i for i, c in enumerate(ctes) if c is child), 0)  # identity: equal CTEs may repeat
            before = ctes[:at]
            if any(_cte_name(c) == name for c in before):
                return True
            owner = node.parent
            if owner is None:
                return False
            child, node = owner, owner.parent  # the owning query's own CTE list was just searched
            continue
        with_ = node.args.get("with_") or node.args.get("with")  # sqlglot renamed the key in v30
        if isinstance(with_, exp.With) and child is not with_ and any(_cte_name(c) == name for c in with_.expressions):
            return True
        child, node = node, node.parent
    return False


def run(session: Session, sql: str, *, timeout_ms: int, max_rows: int) -> dict[str, Any]:
    """Check and run the query; records are dicts; `records_truncated` when the row limit cut the answer."""
    tree, tables = check(session, sql)
    pg = is_postgres(session)
    body = tree.sql(dialect="postgres" if pg else "sqlite")
    final = f"SELECT * FROM ({body}) AS _q LIMIT {int(max_rows) + 1}"
    try:
        if pg:
            names, fetched = _run_postgres(session, tables, final, timeout_ms, max_rows)
        else:
            names, fetched = _run_sqlite(session, final, timeout_ms, max_rows)
    except (ValidationFailed, ServiceUnavailable):
        raise
    except Exception as exc:  # the database refused the query (unknown column, timeout, type error …)
        message = str(getattr(exc, "orig", exc) or exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        low = message.lower()
        if "timeout" in low or "interrupt" in low or "cancel" in low:
            raise _refuse(_("The query ran longer than {ms} ms").format(ms=timeout_ms)) from exc
        raise _refuse(_("The query failed: {error}").format(error=message)) from exc
    truncated = len(fetched) > max_rows
    records = [{n: _value(v) for n, v in zip(names, r, strict=True)} for r in fetched[:max_rows]]
    return {"sql": sql, "records": records, "fields": [{"id": n, "type": _type_of(records, n)} for n in names],
            "records_truncated": truncated}


def _run_postgres(session: Session, tables: dict[str, tuple[str, list[str]]], final: str, timeout_ms: int,
                  max_rows: int) -> tuple[list[str], list[Any]]:
    """Run on the open-data role's own login (read-only transaction, pinned search_path, statement timeout)."""
    app_engine = session.get_bind().engine
    openviews.sync(app_engine, tables)
    try:
        conn = openviews.reader_engine(app_engine).raw_connection()
    except Exception as exc:
        raise ServiceUnavailable(_("Public SQL is not available: the open-data database role is not set up"),
                                 code="open_sql_unavailable") from exc
    try:
        cur = conn.cursor()
        cur.execute("BEGIN READ ONLY")
        cur.execute(f"SET LOCAL search_path = {openviews.SCHEMA}")
        cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(timeout_ms)),))
        cur.execute(final)  # no parameters: the driver leaves % and : in literals alone
        names = [d[0] for d in cur.description or []]
        fetched = list(cur.fetchmany(max_rows + 1))
        return names, fetched
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def _run_sqlite(session: Session, final: str, timeout_ms: int, max_rows: int) -> tuple[list[str], list[Any]]:
    """Run inside a savepoint of the caller's session with a progress-handler deadline."""
    with session.begin_nested():
        # Asking for the connection inside the block emits the SAVEPOINT (the session begins it lazily).
        raw = session.connection().connection
        cur = raw.cursor()
        deadline = time.monotonic() + timeout_ms / 1000
        raw.driver_connection.set_progress_handler(  # type: ignore[union-attr]  # sqlite3
            lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            cur.execute(final)
            names = [d[0] for d in cur.description or []]
            return names, list(cur.fetchmany(max_rows + 1))
        finally:
            raw.driver_connection.set_progress_handler(None, 0)  # type: ignore[union-attr]  # sqlite3
            cur.close()


def _value(v: Any) -> Any:
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def _type_of(records: list[dict[str, Any]], name: str) -> str:
    for r in records:
        v = r.get(name)
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int8"
        if isinstance(v, float):
            return "float8"
        if v is not None:
            return "text"
    return "text"

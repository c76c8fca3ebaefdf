"""`datastore_search_sql`: one read-only SELECT over open datastore tables, parsed and checked with sqlglot.

The query is parsed as PostgreSQL; it must be exactly one query (SELECT, or a set operation of SELECTs) whose every
table is the id of a resource of a published 无条件开放 entry (or a CTE of the query itself). Each such table is
replaced by a subquery exposing only `_id` and the entry's open items, so masked or 核心 columns and system columns
cannot be named at all. Functions are a whitelist of pure scalar/aggregate/window functions: nothing that reads
files, other tables, settings, sequences or sleeps. The rewritten query runs inside a savepoint with a statement
timeout and a row limit (one row more is fetched to report truncation).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlglot
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlglot import exp

from cityhub.data import service
from cityhub.data.models import CatalogEntry, EntryStatus, Resource
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import ValidationFailed
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
    rows = session.execute(select(Resource, CatalogEntry).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
                           .where(Resource.id.in_(ids), Resource.kind == "table", Resource.table_name.is_not(None),
                                  CatalogEntry.status == EntryStatus.PUBLISHED,
                                  CatalogEntry.open_type == "unconditional")).all()
    out: dict[str, tuple[str, list[str]]] = {}
    for res, entry in rows:
        allowed = set(service.open_items(entry))
        out[str(res.id)] = (str(res.table_name), [c for c in res.columns if c in allowed])
    for n in names:
        if str(uuid.UUID(n)) not in out:
            raise _refuse(_("Table not found or not open: {name}").format(name=n[:80]))
    return out


def check(session: Session, sql: str) -> tuple[exp.Expression, dict[str, tuple[str, list[str]]]]:
    """Parse and check the query; returns the rewritten tree and the tables it reads."""
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
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    names: set[str] = set()
    for node in tree.walk():
        if isinstance(node, _REFUSED):
            raise _refuse(_("Not allowed in a read-only query: {what}").format(what=type(node).__name__))
        if isinstance(node, exp.Func) and not isinstance(node, _ALLOWED_FUNCS):
            name = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
            raise _refuse(_("Function not allowed: {name}").format(name=name[:60]))
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                raise _refuse(_("Only datastore tables can be read"))
            if node.args.get("db") or node.args.get("catalog"):
                raise _refuse(_("Table not found or not open: {name}").format(name=node.sql()[:80]))
            if node.name not in ctes:
                names.add(node.name)
    if not names:
        raise _refuse(_("Read at least one datastore table"))
    tables = _open_tables(session, names)
    for node in list(tree.find_all(exp.Table)):
        if node.name in ctes or node.name not in tables and str(_uuid(node.name)) not in tables:
            continue
        table, cols = tables[str(_uuid(node.name))]
        inner = exp.select(*[exp.column(c, quoted=True) for c in ["_id", *cols]]).from_(
            exp.Table(this=exp.to_identifier(table, quoted=True)))
        alias = node.alias or node.name
        node.replace(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
    return tree, tables


def _uuid(name: str) -> uuid.UUID | str:
    try:
        return uuid.UUID(name)
    except ValueError:
        return name


def run(session: Session, sql: str, *, timeout_ms: int, max_rows: int) -> dict[str, Any]:
    """Check and run the query; records are dicts; `records_truncated` when the row limit cut the answer."""
    tree, _tables = check(session, sql)
    pg = is_postgres(session)
    body = tree.sql(dialect="postgres" if pg else "sqlite")
    final = f"SELECT * FROM ({body}) AS _q LIMIT {int(max_rows) + 1}"
    try:
        with session.begin_nested():
            # Asking for the connection inside the block emits the SAVEPOINT (the session begins it lazily).
            raw = session.connection().connection
            cur = raw.cursor()
            try:
                if pg:
                    cur.execute("SELECT current_setting('statement_timeout')")
                    previous = str(cur.fetchone()[0])  # type: ignore[index]  # one row
                    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(timeout_ms)),))
                else:
                    deadline = time.monotonic() + timeout_ms / 1000
                    raw.driver_connection.set_progress_handler(  # type: ignore[union-attr]  # sqlite3
                        lambda: 1 if time.monotonic() > deadline else 0, 10_000)
                cur.execute(final)  # no parameters: the driver leaves % and : in literals alone
                names = [d[0] for d in cur.description or []]
                fetched = cur.fetchmany(max_rows + 1)
                if pg:  # on failure the savepoint rollback undoes the setting by itself
                    cur.execute("SELECT set_config('statement_timeout', %s, true)", (previous,))
            finally:
                if not pg:
                    raw.driver_connection.set_progress_handler(None, 0)  # type: ignore[union-attr]  # sqlite3
                cur.close()
    except ValidationFailed:
        raise
    except Exception as exc:  # the database refused the query (unknown column, timeout, type error …)
        message = str(getattr(exc, "orig", exc) or exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "timeout" in message.lower() or "interrupt" in message.lower() or "cancel" in message.lower():
            raise _refuse(_("The query ran longer than {ms} ms").format(ms=timeout_ms)) from exc
        raise _refuse(_("The query failed: {error}").format(error=message)) from exc
    truncated = len(fetched) > max_rows
    records = [{n: _value(v) for n, v in zip(names, r, strict=True)} for r in fetched[:max_rows]]
    return {"sql": sql, "records": records, "fields": [{"id": n, "type": _type_of(records, n)} for n in names],
            "records_truncated": truncated}


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

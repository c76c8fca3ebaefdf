"""The aggregated temporal representation computed by the database: one GROUP BY per request.

`aggregate.aggregate` is the definition (clause 4.5.19) and runs in Python over instances read one by one; for the
broker's own history this module asks the database for the same numbers instead, so 100,000 instances are not
shipped to Python. Each instance's time (the `at` or `modified_at` column, fixed-width UTC text) becomes epoch
milliseconds; the period of an instance is `(ms - first) // step` where `first` is `timeAt` (after / between) or
the attribute's first instance (a window function), exactly as the Python path places periods. Per period the
database answers count, distinct values, and count / sum / sum of squares / min / max of the JSON numbers among the
values (booleans are not numbers); avg and stddev (population) follow from those (`stddev_pop` on PostgreSQL).

Not here (the caller uses the Python path): calendar periods (months, years: their length varies), periods that
are not whole milliseconds, and `lastN` (the last N instances first, then the aggregate over them).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, String, cast, func, literal, select
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Session

from cityhub.context import entities as ent
from cityhub.context import qlang
from cityhub.context.aggregate import MAX_PERIODS, Step
from cityhub.context.models import ContextAttributeInstance as I  # the table's alias, as in temporal
from cityhub.context.problems import bad

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# the member holding an instance's value, whatever its attribute type (an instance has exactly one)
_VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")


def supported(step: Step | None, last_n: int | None) -> bool:
    """Whether the database can compute this aggregation (else the Python path does)."""
    if last_n is not None:
        return False
    return step is None or (step.months == 0 and step.delta % _ONE_MS == timedelta(0))


def to_ms(at: datetime) -> int:
    """Epoch milliseconds of an instant."""
    return (at - EPOCH) // _ONE_MS


def _time(ms: int) -> str:
    return ent.time_text(EPOCH + timedelta(milliseconds=ms))


def _epoch_ms(col: Any, pg: bool) -> ColumnElement[Any]:
    """Epoch milliseconds of a stored time (`2026-12-01T08:00:00.000Z`)."""
    if pg:
        return cast(func.floor(func.extract("epoch", cast(col, TIMESTAMP(timezone=True))) * 1000), BigInteger)
    return cast(func.strftime("%s", col), Integer) * 1000 + cast(func.substr(col, 21, 3), Integer)


def _value(pg: bool, number: ColumnElement[Any]) -> ColumnElement[Any]:
    """The instance's value, compared whole for distinctCount.

    jsonb on PostgreSQL (2 = 2.0 there); on SQLite a number as its SQL number (2 = 2.0), anything else as its JSON
    text (so "2" and true differ from 2).
    """
    paths = _VALUE_MEMBERS if pg else tuple(f'$."{m}"' for m in _VALUE_MEMBERS)
    whole = func.coalesce(*(I.instance.op("->")(literal(p, String)) for p in paths))
    return whole if pg else func.coalesce(number, whole)


def aggregated(session: Session, pks: list[uuid.UUID], attrs: list[str], clauses: list[ColumnElement[bool]],
               col: Any, names: list[str], step: Step | None, start: datetime | None, end: datetime | None
               ) -> dict[uuid.UUID, dict[str, dict[str, Any]]]:
    """`{entity pk: {attribute IRI: aggregated representation}}` of the instances in the window."""
    pg = session.get_bind().dialect.name == "postgresql"
    j = qlang._Json(I.instance, "postgresql" if pg else "sqlite")
    where = [I.entity_pk.in_(pks), *clauses]
    if attrs:
        where.append(I.attr.in_(attrs))
    ms = _epoch_ms(col, pg)
    number = j.number(("value",))
    series = (I.entity_pk, I.attr)
    first = (func.min(ms).over(partition_by=series) if start is None
             else literal(to_ms(start), BigInteger))
    inner = select(I.entity_pk.label("pk"), I.attr.label("attr"), ms.label("ms"), _value(pg, number).label("v"),
                   number.label("n"), j.text(("type",)).label("k"), first.label("first"),
                   func.max(ms).over(partition_by=series).label("last")).where(*where).subquery()
    c = inner.c
    step_ms = None if step is None else step.delta // _ONE_MS
    bucket = literal(0, BigInteger) if step_ms is None else (c.ms - c.first) // literal(step_ms, BigInteger)
    cols = [c.pk, c.attr, bucket.label("b"), c.first, c.last, func.count(), func.count(c.v.distinct()),
            func.count(c.n), func.sum(c.n), func.sum(c.n * c.n), func.min(c.n), func.max(c.n), func.min(c.k)]
    if pg:
        cols.append(func.stddev_pop(c.n))
    stmt = select(*cols).group_by(c.pk, c.attr, bucket, c.first, c.last).order_by(c.pk, c.attr, bucket)
    out: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
    for row in session.execute(stmt):
        pk, attr, b, first_ms, last_ms, total, distinct, n, s, ss, lo_n, hi_n, kind = row[:13]
        rep = out.setdefault(pk, {}).get(attr)
        if rep is None:
            rep = out[pk][attr] = {"type": kind or "Property", **{m: [] for m in names}}
        if step_ms is None:
            lo, hi = int(first_ms), (to_ms(end) if end is not None else int(last_ms))
        else:
            lo = int(first_ms) + int(b) * step_ms
            hi = lo + step_ms
        if len(rep[names[0]]) >= MAX_PERIODS:
            raise bad(f"More than {MAX_PERIODS} periods: choose a longer aggrPeriodDuration", "aggrPeriodDuration")
        mean = s / n if n else None
        stats: dict[str, Any] = {
            "totalCount": total, "distinctCount": distinct,
            "sum": float(s) if n else None, "sumsq": float(ss) if n else None,
            "min": float(lo_n) if n else None, "max": float(hi_n) if n else None,
            "avg": float(mean) if mean is not None else None,
            "stddev": (float(row[13]) if pg else math.sqrt(max(0.0, float(ss) / n - float(mean) ** 2)))
            if mean is not None else None,
        }
        for m in names:
            rep[m].append([stats[m], _time(lo), _time(hi)])
    return out

"""The aggregated temporal representation computed by the database: one GROUP BY per request.

`aggregate.aggregate` is the definition (clause 4.5.19) and runs in Python over instances read one by one; for the
broker's own history this module asks the database for the same numbers instead, so 100,000 instances are not
shipped to Python. Each instance's time is its epoch milliseconds (the `at_ms` column for observedAt, written with
the row; `modified_at` parsed for the other time properties); the period of an instance is `(ms - first) // step`
where `first` is `timeAt` (after / between) or the series' first instance (a grouped `min` joined in), exactly as
the Python path places periods. Per period the database answers count, distinct values, and count / sum / sum of
squares / min / max of the JSON numbers among the values (the `number` column: booleans are not numbers); avg and
stddev (population) follow from those (`stddev_pop` on PostgreSQL).

Not here (the caller uses the Python path): calendar periods (months, years: their length varies), periods that
are not whole milliseconds, and `lastN` (the last N instances first, then the aggregate over them).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, String, cast, func, literal, select, text
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


@lru_cache(maxsize=4096)  # a batch's instances share a few times (its stamp, the observations' instants)
def text_ms(at: str) -> int:
    """Epoch milliseconds of a stored time (`2026-12-01T08:00:00.000Z`), as the `at_ms` column keeps them."""
    return to_ms(datetime.fromisoformat(at.replace("Z", "+00:00")))


def _time(ms: int) -> str:
    return ent.time_text(EPOCH + timedelta(milliseconds=ms))


def _epoch_ms(col: Any, pg: bool) -> ColumnElement[Any]:
    """Epoch milliseconds of a stored time (`2026-12-01T08:00:00.000Z`)."""
    if pg:  # a timestamp without time zone ignores the `Z` (every stored time is UTC) and parses faster
        return cast(func.extract("epoch", cast(col, TIMESTAMP())) * 1000, BigInteger)
    return cast(func.strftime("%s", col), Integer) * 1000 + cast(func.substr(col, 21, 3), Integer)


def _value(pg: bool, number: Any) -> ColumnElement[Any]:
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
    """`{entity pk: {attribute IRI: aggregated representation}}` of the instances in the window.

    One statement: the instances of the window (an index range on entity, attribute, time), each with its epoch
    milliseconds and number, grouped by series and period. Without `timeAt` the periods start at each series'
    first instance: a grouped `min` of the time (the same index) joined in. The JSON value is read only when
    distinctCount is asked for (a count of distinct values sorts; the other methods hash).
    """
    pg = session.get_bind().dialect.name == "postgresql"
    j = qlang._Json(I.instance, "postgresql" if pg else "sqlite")
    where = [I.entity_pk.in_(pks), *clauses]
    if attrs:
        where.append(I.attr.in_(attrs))
    number = I.number  # the value when a JSON number, written with the row
    ms = I.at_ms if col is I.at else _epoch_ms(col, pg)  # observedAt: the column; modifiedAt: parsed
    # one series (one entity, one attribute: the usual request) groups by period alone and reads its type once;
    # several group by entity and attribute too, with the type read from every row
    single = len(pks) == 1 and len(attrs) == 1
    fields: list[Any] = [I.entity_pk.label("pk"), I.attr.label("attr"), ms.label("ms"), number.label("n")]
    if not single:
        fields.append(j.text(("type",)).label("k"))
    if "distinctCount" in names:
        fields.append(_value(pg, number).label("v"))
    # OFFSET 0 keeps the subquery whole: each row's JSON is read once, not once per aggregate that names it
    inner = select(*fields).where(*where).offset(0).subquery()
    c = inner.c
    if start is None:
        firsts = select(I.entity_pk.label("pk"), I.attr.label("attr"), func.min(ms).label("t")).where(
            *where).group_by(I.entity_pk, I.attr).subquery()
        first: ColumnElement[Any] = firsts.c.t
        source: Any = inner.join(firsts, (firsts.c.pk == c.pk) & (firsts.c.attr == c.attr))
    else:
        first, source = literal(to_ms(start), BigInteger), inner
    step_ms = None if step is None else step.delta // _ONE_MS
    bucket = literal(0, BigInteger) if step_ms is None else (c.ms - first) // literal(step_ms, BigInteger)
    keys = [bucket] if single else [c.pk, c.attr, bucket]
    cols = [*keys, func.min(first), func.max(c.ms), func.count(),
            func.count(c.n), func.sum(c.n), func.sum(c.n * c.n), func.min(c.n), func.max(c.n),
            literal("") if single else func.min(c.k),
            func.count(c.v.distinct()) if "distinctCount" in names else literal(0),
            func.stddev_pop(c.n) if pg else literal(0)]
    stmt = select(*cols).select_from(source).group_by(*keys).order_by(*keys)
    if pg:  # the grouping sorts or hashes 100,000s of narrow rows: in memory, not in temporary files
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    out: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
    for row in session.execute(stmt):
        pk, attr = (pks[0], attrs[0]) if single else row[:2]
        b, first_ms, last_ms, total, n, s, ss, lo_n, hi_n, kind, distinct, stddev = row[-12:]
        rep = out.setdefault(pk, {}).get(attr)
        if rep is None:
            if single:  # the type of the series' first instance in the window
                kind = session.scalar(select(j.text(("type",))).where(*where).order_by(col).limit(1))
            rep = out[pk][attr] = {"type": kind or "Property", **{m: [] for m in names}}
        if step_ms is None:
            lo, hi = int(first_ms), (to_ms(end) if end is not None else int(last_ms))
        else:
            lo = int(first_ms) + int(b) * step_ms
            hi = lo + step_ms
        if len(rep[names[0]]) >= MAX_PERIODS:
            raise bad(f"More than {MAX_PERIODS} periods: choose a longer aggrPeriodDuration", "aggrPeriodDuration")
        mean = float(s) / n if n else None
        stats: dict[str, Any] = {
            "totalCount": total, "distinctCount": distinct,
            "sum": float(s) if n else None, "sumsq": float(ss) if n else None,
            "min": float(lo_n) if n else None, "max": float(hi_n) if n else None, "avg": mean,
            "stddev": None if mean is None else
            float(stddev) if pg else math.sqrt(max(0.0, float(ss) / n - mean ** 2)),
        }
        for m in names:
            rep[m].append([stats[m], _time(lo), _time(hi)])
    return out

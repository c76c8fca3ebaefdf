"""One page of temporal history (clause 6.3.10): the broker's own instances and connect's telemetry, merged in time.

A temporal answer holds at most `cap` instances. Without `lastN` the page runs forwards, oldest first, across
every selected entity and attribute; with `lastN` (at most N per attribute) it runs backwards, newest first. The
broker's own history (`context_attribute_instance`) and connect's devices' telemetry (read through connect's
façade, never copied) are two sorted sources merged by time, so a device and a stored entity share one page and
one range. When the cap cut the answer it is a 206 with `Content-Range`:

- forwards: `date-time <first>-<last>/*`; every instance up to `<last>` is in the page, so
  `timerel=after&timeAt=<last>` reads the next one;
- backwards: `date-time <newest>-<oldest>/<lastN>`; every instance down to `<oldest>` (within each attribute's last N)
  is in the page, so `timerel=before&timeAt=<oldest>` reads the one before.

The start is the query's own bound where it has one (clause 6.3.10): `timeAt` of after / between going forwards,
`timeAt` of before and `endTimeAt` of between going backwards.

Instances at the page's edge instant are never split between two pages (unless every instance of the page is at
that one instant); the next page's `after` / `before` is strict.
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cityhub.connect import service as connect
from cityhub.context import bridge
from cityhub.context.models import ContextAttributeInstance

I = ContextAttributeInstance  # noqa: E741  # the table's one-letter alias, as in temporal.py
INSTANCE_PREFIX = "urn:ngsi-ld:attribute:instance:"  # + the history row's key: an instance's instanceId

Owner = uuid.UUID | str  # a stored entity's pk, or a bridged entity's id
History = dict[Owner, dict[str, list[dict[str, Any]]]]


@dataclass(frozen=True)
class Item:
    """One instance on the time line: its time (the store's fixed-width text), whose, which attribute, itself."""

    at: str
    owner: Owner
    attr: str
    inst: dict[str, Any]


def stored(session: Session, pks: list[uuid.UUID], clauses: list[ColumnElement[bool]], col: Any,
           last_n: int | None, cap: int) -> list[Item]:
    """The broker's own history in page order: oldest first, or with `last_n` newest first (N per attribute)."""
    if not pks:
        return []
    where = [I.entity_pk.in_(pks), *clauses]
    if last_n is None:
        stmt = (select(col, I.entity_pk, I.attr, I.instance, I.id).where(*where).order_by(col, I.id)
                .limit(cap + 1))
        return [Item(at, pk, attr, _identified(inst, key)) for at, pk, attr, inst, key in session.execute(stmt)]
    rank = func.row_number().over(partition_by=(I.entity_pk, I.attr), order_by=(col.desc(), I.id.desc()))
    ranked = select(col.label("t"), I.id.label("i"), I.entity_pk.label("pk"), I.attr.label("attr"),
                    I.instance.label("inst"), rank.label("rn")).where(*where).subquery()
    stmt = (select(ranked.c.t, ranked.c.pk, ranked.c.attr, ranked.c.inst, ranked.c.i).where(ranked.c.rn <= last_n)
            .order_by(ranked.c.t.desc(), ranked.c.i.desc()).limit(cap + 1))
    return [Item(at, pk, attr, _identified(inst, key)) for at, pk, attr, inst, key in session.execute(stmt)]


def instance_id(key: int) -> str:
    """The instanceId of a history row: a URI made of the row's key (stable: rows are never renumbered)."""
    return f"{INSTANCE_PREFIX}{key}"


def _identified(inst: dict[str, Any], key: int) -> dict[str, Any]:
    return {**inst, "instanceId": instance_id(key)}


def telemetry(session: Session, devices: list[bridge.BridgedEntity], *, start: datetime, end: datetime,
              keys: list[str] | None, last_n: int | None, cap: int) -> list[Item]:
    """The telemetry of these connect devices in page order (oldest first, or with `last_n` newest first)."""
    by_device = {d.device_id: d for d in devices if d.device_id is not None}
    if not by_device:
        return []
    points = connect.telemetry_points(session, device_ids=list(by_device), keys=keys, start=start, end=end)

    def item(p: Any) -> Item:
        found = by_device[p.device_id]
        inst = bridge.reading(connect.finite(p.value), p.text, p.ts, found.units.get(p.key, ""))
        return Item(inst["observedAt"], found.entity_id, bridge.key_iri(p.key), inst)

    if last_n is None:
        out = []
        for p in points:  # ordered by time: the first cap + 1 are all the page needs
            out.append(item(p))
            if len(out) > cap:
                break
        return out
    # the last N per device and key: connect reads oldest first, so keep a window of N per series
    tails: dict[tuple[uuid.UUID, str], deque[Any]] = {}
    for p in points:
        tails.setdefault((p.device_id, p.key), deque(maxlen=last_n)).append(p)
    newest = heapq.nlargest(cap + 1, (p for tail in tails.values() for p in tail), key=lambda p: p.ts)
    return [item(p) for p in newest]


def page(sources: Iterable[list[Item]], cap: int, last_n: int | None, start: str | None = None
         ) -> tuple[History, str | None]:
    """Merge the sources into one page of at most `cap` instances; its `Content-Range` when the cap cut it.

    The range starts at `start` when the query bounds it there (the caller says), else at the first instance.
    """
    backwards = last_n is not None
    merged: Iterator[Item] = heapq.merge(*sources, key=lambda i: i.at, reverse=backwards)
    items = []
    for it in merged:
        items.append(it)
        if len(items) > cap:
            break
    content_range = None
    if len(items) > cap:
        edge, beyond = items[cap - 1].at, items[cap].at
        items = items[:cap]
        if beyond == edge:  # the next page starts strictly after (before) the edge: keep its instances together
            items = [i for i in items if i.at != edge] or items
        content_range = f"date-time {start or items[0].at}-{items[-1].at}/{last_n if backwards else '*'}"
    out: History = {}
    for it in reversed(items) if backwards else items:  # each attribute's instances oldest first
        out.setdefault(it.owner, {}).setdefault(it.attr, []).append(it.inst)
    return out, content_range

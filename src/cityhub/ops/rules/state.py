"""The persisted state of the rule engine: the `ops_rule_state` rows a batch touches, loaded and written back.

Evaluation itself is pure (`rules/engine.py`); this module is the storage it runs against, inline with ingest, in
the queue worker and in the background tick (decision 0004: Core statements over arrays, optimistic versions).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, Uuid, any_, bindparam, cast, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.ops.models import RuleState
from cityhub.ops.rules.engine import SeriesState, refresh_forecast, state_id

CHECKPOINT_S = 5.0  # running statistics of a series are written at most this often (decisions: every batch)
STATE_TABLE: Table = RuleState.__table__  # type: ignore[assignment]  # a declarative model's table is a Table


def _row(st: SeriesState) -> dict[str, Any]:
    return {"id": st.id, "rule_id": st.rule_id, "device_id": st.device_id, "active": st.active,
            "pending_since": st.pending_since, "count": st.count, "last_ts": st.last_ts,
            "last_value": st.last_value, "data": st.data, "due_at": st.due_at}


_caches: dict[str, dict[int, SeriesState]] = {}


def _cache_for(session: Session) -> dict[int, SeriesState]:
    return _caches.setdefault(str(session.get_bind().engine.url), {})


def clear_cache() -> None:
    """Forget every cached state (a restart, as far as this process is concerned)."""
    _caches.clear()


def new_version() -> int:
    """A fresh version for a written state row (random: equal versions mean the same write)."""
    return secrets.randbelow(2**31 - 1) + 1


def _uuid_array(ids: Sequence[uuid.UUID]) -> str:
    # 32 hex digits without dashes: PostgreSQL reads them as uuid, and `.hex` costs a fraction of `str()`
    return "{" + ",".join([u.hex for u in ids]) + "}"


def _aware(value: datetime | None) -> datetime | None:
    return clock.as_utc(value) if value is not None else None


class StateStore:
    """Loads (and on PostgreSQL locks) the state rows a batch touches, then writes back the changed ones.

    Locking the touched rows for the batch's transaction makes evaluation correct when a shared subscription
    spreads one device's messages over several ingest workers: a second worker waits for the first to commit and
    then reads its result, instead of evaluating against a stale copy. The lock query returns only (id, version);
    full rows come from a per-process cache when the version matches (every write stores a fresh random version,
    so a match means the cached copy is exactly the stored row) and are read from the database otherwise.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.states: dict[int, SeriesState] = {}  # keyed by the state id's int (see state_id)
        self.cache = _cache_for(session)
        self.written = 0

    def load(self, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Read (and lock) the states of these (rule id, device id) pairs; missing ones start empty."""
        wanted: dict[int, tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = {}
        for r, d in pairs:
            sid = state_id(r, d)
            wanted[sid.int] = (sid, r, d)
        self.load_keyed(wanted)

    def load_keyed(self, wanted: dict[int, tuple[uuid.UUID, uuid.UUID, uuid.UUID]], lock: bool = True) -> None:
        """Like `load`, given {state id int: (state id, rule id, device id)}.

        With lock=False (PostgreSQL) the rows are only read: `flush` then writes only where the version is still
        the one read and reports the rows another worker changed meanwhile, which the caller re-reads and evaluates
        again (optimistic concurrency: no tuple locks on the many series a batch does not change).
        """
        wanted = {k: v for k, v in wanted.items() if k not in self.states}
        if not wanted:
            return
        pg = is_postgres(self.session)
        self._lock_and_read([v[0] for v in wanted.values()], pg, lock)
        missing = {k: v for k, v in wanted.items() if k not in self.states}
        if missing and pg:
            # Create the rows empty first and lock them, so two workers starting the same new series serialise
            # on the row instead of both evaluating from nothing.
            now = clock.now()
            self._insert([{"id": sid, "rule_id": r, "device_id": d, "active": False, "pending_since": None,
                           "count": 0, "last_ts": None, "last_value": None, "data": {}, "due_at": None,
                           "version": 0, "updated_at": now} for sid, r, d in sorted(missing.values())],
                         overwrite=False)  # sorted: two workers insert (and wait on) the rows in one order
            self._lock_and_read([v[0] for v in missing.values()], pg, lock)
        for key, (sid, rule_id, device_id) in wanted.items():
            if key not in self.states:
                self.states[key] = SeriesState(id=sid, rule_id=rule_id, device_id=device_id, new=True)

    def reread(self, keys: set[int]) -> None:
        """Forget these states and read them again, locked, so they cannot move again before commit."""
        ids = [self.states[k].id for k in keys]
        for k in keys:
            self.states.pop(k, None)
            self.cache.pop(k, None)
        self._lock_and_read(ids, is_postgres(self.session), True)

    def _lock_and_read(self, ids: list[uuid.UUID], pg: bool, lock: bool = True) -> None:
        # Core rows, not ORM objects: this runs for every batch and the identity map would only cost time.
        conn = self.session.connection()
        stale: list[uuid.UUID] = []
        if pg and not lock:
            stale = self._stale_pg(conn, ids)
        else:
            found = self._lock_pg(conn, ids, lock) if pg else self._versions_sqlite(conn, ids)
            for sid, version in found:
                key = sid.int
                hit = self.cache.get(key)
                if hit is not None and hit.version == version:
                    # Shared, not copied: evaluation only changes a state when it also marks it dirty, and a failed
                    # batch drops what it touched from the cache (`forget`).
                    self.states[key] = hit
                else:
                    stale.append(sid)
        t = STATE_TABLE.c
        cols = (t.id, t.rule_id, t.device_id, t.active, t.pending_since, t.count, t.last_ts, t.last_value, t.data,
                t.due_at, t.version)
        for start in range(0, len(stale), 5000):
            chunk = stale[start:start + 5000]
            if pg:
                full = conn.execute(select(*cols).where(t.id == any_(cast(bindparam("ids"), ARRAY(Uuid)))),
                                    {"ids": _uuid_array(chunk)})
            else:
                full = conn.execute(select(*cols).where(t.id.in_(chunk)))
            for r in full.all():
                st = SeriesState(id=r[0], rule_id=r[1], device_id=r[2], active=r[3], pending_since=_aware(r[4]),
                                 count=r[5], last_ts=_aware(r[6]), last_value=r[7], data=dict(r[8] or {}),
                                 due_at=_aware(r[9]), version=r[10])
                self.states[r[0].int] = st
                self.cache[r[0].int] = st

    @staticmethod
    def _lock_pg(conn: Any, ids: list[uuid.UUID], lock: bool = True) -> list[tuple[uuid.UUID, int]]:
        # Lock in id order (two workers never deadlock) and return (position, version): small integers load far
        # faster than UUIDs, and the ids go out as one text array instead of thousands of parameters.
        sql = ("SELECT u.i, s.version FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS u(id, i) "
               "JOIN ops_rule_state s ON s.id = u.id")
        rows = conn.execute(text(sql + (" ORDER BY s.id FOR UPDATE OF s" if lock else "")),
                            {"ids": _uuid_array(ids)}).all()
        return [(ids[i - 1], v) for i, v in rows]

    def _stale_pg(self, conn: Any, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Send each id with the version this process holds; PostgreSQL answers only the ones that differ.

        In steady state nothing moved, so the answer is empty instead of a row per series (the client-side
        cost of thousands of result rows is most of a version check). Missing rows come back too (no version).
        """
        cache = self.cache
        hits = [cache.get(sid.int) for sid in ids]
        versions = "{" + ",".join([str(h.version) if h is not None else "-1" for h in hits]) + "}"
        rows = conn.execute(text(
            "SELECT u.i FROM unnest(CAST(:ids AS uuid[]), CAST(:vs AS integer[])) WITH ORDINALITY AS u(id, v, i) "
            "LEFT JOIN ops_rule_state s ON s.id = u.id AND s.id = ANY(CAST(:ids AS uuid[])) "
            "WHERE s.version IS DISTINCT FROM u.v"),
            {"ids": _uuid_array(ids), "vs": versions}).all()
        moved = {i - 1 for (i,) in rows}
        for pos, hit in enumerate(hits):
            if pos not in moved and hit is not None:
                self.states[hit.id.int] = hit  # shared, not copied (see _lock_and_read)
        return [ids[pos] for pos in sorted(moved)]

    @staticmethod
    def _versions_sqlite(conn: Any, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, int]]:
        t = STATE_TABLE.c
        out: list[tuple[uuid.UUID, int]] = []
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            out += [(r[0], r[1]) for r in conn.execute(select(t.id, t.version).where(
                t.id.in_(ids[start:start + 900]))).all()]
        return out

    def get(self, rule_id: uuid.UUID, device_id: uuid.UUID) -> SeriesState:
        """The state of a pair loaded before."""
        return self.states[state_id(rule_id, device_id).int]

    def flush(self) -> set[int]:
        """Write the changed states, each with a fresh version; returns the keys another worker moved meanwhile.

        On PostgreSQL an update only applies where the stored version is still the one read (optimistic
        concurrency); the caller re-reads the moved ones (`reread`, locked) and evaluates them again.
        """
        mono = time.monotonic()
        due = mono - CHECKPOINT_S
        # Running statistics alone are written when the row was last written long enough ago (or never by this
        # process): every point of a rate or anomaly rule moves them, and writing each series on every batch
        # cost more than the rest of the evaluation. Unwritten statistics stay in this process's cache, whose
        # version still matches the stored row; if another worker writes the row first, or this process stops,
        # at most CHECKPOINT_S of them are lost: the mean, variance or previous point are then a little older,
        # which these rules tolerate. Every decision (dirty) is still written with its batch.
        dirty = [s for s in self.states.values() if s.dirty or (s.soft and (s.new or s.saved_at <= due))]
        dirty.sort(key=_state_order)  # inserts and updates lock rows in id order: two workers never deadlock
        if not dirty:
            return set()
        for s in dirty:
            if s.evidence is not None:  # a forecast rule's stored forecast is rebuilt once per write, not per point
                refresh_forecast(s)
        now = clock.now()
        read_versions = {s.id.int: s.version for s in dirty}
        for s in dirty:
            s.version = new_version()
        inserts = [{**_row(s), "version": s.version, "updated_at": now} for s in dirty if s.new]
        updates = [s for s in dirty if not s.new]
        moved: set[int] = set()
        if inserts:
            self._insert(inserts)
        if updates:
            conn = self.session.connection()
            if is_postgres(self.session):
                done = self._update_pg(conn, updates, read_versions, now)
                moved = {s.id.int for s in updates} - done
            else:  # SQLite: one writer at a time (the database lock), nothing can move in between
                conn.execute(update(STATE_TABLE).where(STATE_TABLE.c.id == _bind("b_id")).values(
                    {c: _bind(c) for c in ("active", "pending_since", "count", "last_ts", "last_value", "data",
                                           "due_at", "version", "updated_at")}),
                    [{**_row(s), "b_id": s.id, "version": s.version, "updated_at": now} for s in updates])
        if len(self.cache) > 2_000_000:
            self.cache.clear()
        for s in dirty:
            key = s.id.int
            if key in moved:
                continue
            s.dirty = s.new = s.soft = False
            s.saved_at = mono
            self.written += 1
            # if the batch later rolls back, the stored version differs from this one and the row is re-read
            self.cache[key] = s
        return moved

    def forget(self) -> None:
        """Drop every state this batch touched from the process cache (the batch failed and rolls back)."""
        for key in self.states:
            self.cache.pop(key, None)

    @staticmethod
    def _update_pg(conn: Any, rows: list[SeriesState], read_versions: dict[int, int], now: datetime) -> set[int]:
        # One statement over a JSON document instead of one UPDATE per row (a batch writes hundreds of states, and
        # orjson is far cheaper than binding arrays value by value); returns the keys it updated.
        doc = orjson.dumps([{"id": r.id, "active": r.active, "count": r.count, "last_value": r.last_value,
                             "pending_since": r.pending_since, "last_ts": r.last_ts, "due_at": r.due_at,
                             "data": r.data, "version": r.version, "old": read_versions[r.id.int]} for r in rows],
                           default=str).decode()
        done = conn.execute(text(
            "UPDATE ops_rule_state AS s SET active = v.active, pending_since = v.pending_since, count = v.count, "
            "last_ts = v.last_ts, last_value = v.last_value, data = v.data, due_at = v.due_at, "
            "version = v.version, updated_at = :now "
            "FROM jsonb_to_recordset(CAST(:doc AS jsonb)) AS v(id uuid, active boolean, pending_since timestamptz, "
            "count integer, last_ts timestamptz, last_value double precision, data jsonb, due_at timestamptz, "
            "version integer, old integer) WHERE s.id = v.id AND s.version = v.old "
            # the id list lets the planner probe the primary key: it cannot estimate jsonb_to_recordset's rows and
            # otherwise hashes the recordset against a scan of the whole state table
            "AND s.id = ANY(CAST(:ids AS uuid[])) RETURNING s.id"),
            {"doc": doc, "now": now, "ids": _uuid_array([r.id for r in rows])}).all()
        return {r[0].int for r in done}

    def _insert(self, rows: list[dict[str, Any]], overwrite: bool = True) -> None:
        conn = self.session.connection()
        if is_postgres(self.session):
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(STATE_TABLE)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(STATE_TABLE)  # type: ignore[assignment]  # same interface as PostgreSQL's
        if not overwrite:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]), rows)
            return
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
            c: stmt.excluded[c] for c in ("active", "pending_since", "count", "last_ts", "last_value", "data",
                                          "due_at", "version", "updated_at")}), rows)


def _state_order(s: SeriesState) -> int:
    return s.id.int


def _bind(name: str) -> Any:
    return bindparam(name)

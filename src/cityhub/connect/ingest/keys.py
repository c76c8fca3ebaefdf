"""Payloads without `ts` (decision 0009): a payload's idempotency key and the time its copies take."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cityhub.connect.models import (
    IngestKey,
)

# payloads without ts (decision 0009): a copy within these windows of the time its payload was given takes that time
REPEAT_WINDOW = timedelta(seconds=60)  # any copy: an HTTP retry, a device's own QoS-1 resend
REDELIVERY_WINDOW = timedelta(days=1)  # a copy the broker marks as redelivered (MQTT DUP); also how long keys live

Untimed = tuple[uuid.UUID, bytes, datetime, bool]  # device, payload digest, received at, redelivery


def payload_digest(payload: bytes) -> bytes:
    """The idempotency key of a payload: BLAKE2b-128 of its bytes (a redelivered copy has the same bytes)."""
    return hashlib.blake2b(payload, digest_size=16).digest()


def _key_order(k: tuple[uuid.UUID, bytes]) -> tuple[int, bytes]:
    return k[0].int, k[1]


def first_seen(session: Session, wanted: Sequence[Untimed]) -> list[datetime]:
    """The time each payload without `ts` takes: its first copy's receive time while within the window, else now.

    A copy whose (device, payload digest) was given a time at most REDELIVERY_WINDOW ago (when the broker marks
    it as redelivered: MQTT's DUP flag) or REPEAT_WINDOW ago (any other copy: an HTTP retry, a device's own
    QoS-1 resend) takes that time, so its points are duplicates; otherwise it takes its own receive time, which
    becomes the key's time. Runs inside the batch's transaction: the keys commit or roll back with the points.
    """
    if not wanted:
        return []
    first: dict[tuple[uuid.UUID, bytes], datetime] = {}
    for dev, digest, received, _re in wanted:
        first.setdefault((dev, digest), received)
    keys = sorted(first, key=_key_order)  # one lock order for every writer
    if session.get_bind().dialect.name == "postgresql":
        stored = _claim_keys_pg(session, keys, first)
    else:
        stored = _claim_keys_sqlite(session, keys)
    out: list[datetime] = []
    current: dict[tuple[uuid.UUID, bytes], datetime] = {}
    for dev, digest, received, redelivery in wanted:
        k = (dev, digest)
        prev = current.get(k)
        if prev is None:
            prev = stored.get(k)
            if prev is None:  # a new key: this copy's receive time
                current[k] = received
                out.append(received)
                continue
        if prev >= received - (REDELIVERY_WINDOW if redelivery else REPEAT_WINDOW):
            current[k] = prev
            out.append(prev)
        else:
            current[k] = received
            out.append(received)
    # what is stored now: the existing time, the first copy's (inserted by the claim, PostgreSQL), or nothing
    now_stored = {k: stored[k] if stored.get(k) is not None else (first[k] if k in stored else None) for k in keys}
    changed = [k for k in keys if now_stored[k] != current[k]]
    if changed:
        _write_keys(session, [(k[0], k[1], current[k]) for k in changed])
    return out


def _claim_keys_pg(session: Session, keys: list[tuple[uuid.UUID, bytes]],
                   first: dict[tuple[uuid.UUID, bytes], datetime]) -> dict[tuple[uuid.UUID, bytes], datetime | None]:
    """Insert the keys that are new (their time: the first copy's) and lock the others, both in key order.

    Returns key → stored time (None: inserted now). A key inserted by a batch that has not committed yet makes
    the insert wait for it, so two copies never both count as the first.
    """
    dbapi = session.connection().connection.driver_connection
    out: dict[tuple[uuid.UUID, bytes], datetime | None] = {}
    with dbapi.cursor() as cur:  # type: ignore[union-attr]  # psycopg connection on PostgreSQL
        cur.execute("INSERT INTO connect_ingest_key (device_id, digest, ts) "
                    "SELECT * FROM unnest(%s::uuid[], %s::bytea[], %s::timestamptz[]) "
                    "ON CONFLICT (device_id, digest) DO NOTHING RETURNING device_id, digest",
                    ([k[0] for k in keys], [k[1] for k in keys], [first[k] for k in keys]))
        for dev, digest in cur.fetchall():
            out[(dev, bytes(digest))] = None
        rest = [k for k in keys if k not in out]
        if rest:
            cur.execute("SELECT k.device_id, k.digest, k.ts FROM connect_ingest_key AS k "
                        "JOIN unnest(%s::uuid[], %s::bytea[]) AS u(device_id, digest) "
                        "ON k.device_id = u.device_id AND k.digest = u.digest "
                        "ORDER BY k.device_id, k.digest FOR UPDATE OF k",
                        ([k[0] for k in rest], [k[1] for k in rest]))
            for dev, digest, ts in cur.fetchall():
                out[(dev, bytes(digest))] = ts
    # a key neither inserted nor found was pruned in between: absent from `out`, so treated as new and written
    return out


def _claim_keys_sqlite(session: Session, keys: list[tuple[uuid.UUID, bytes]]
                       ) -> dict[tuple[uuid.UUID, bytes], datetime | None]:
    out: dict[tuple[uuid.UUID, bytes], datetime | None] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        for dev, digest, ts in session.execute(select(IngestKey.device_id, IngestKey.digest, IngestKey.ts).where(
                tuple_(IngestKey.device_id, IngestKey.digest).in_(chunk))):
            out[(dev, bytes(digest))] = ts
    return out


def _write_keys(session: Session, rows: list[tuple[uuid.UUID, bytes, datetime]]) -> None:
    pg = session.get_bind().dialect.name == "postgresql"
    ins = (pg_insert if pg else sqlite_insert)(IngestKey)
    session.execute(ins.on_conflict_do_update(index_elements=["device_id", "digest"], set_={"ts": ins.excluded.ts}),
                    [{"device_id": d, "digest": g, "ts": t} for d, g, t in rows])


def prune_keys(session: Session, before: datetime, limit: int = 20_000) -> int:
    """Delete up to `limit` keys given their time before `before` (skipping rows a batch holds); returns how many."""
    if session.get_bind().dialect.name == "postgresql":
        dbapi = session.connection().connection.driver_connection
        with dbapi.cursor() as cur:  # type: ignore[union-attr]  # psycopg connection on PostgreSQL
            cur.execute("DELETE FROM connect_ingest_key WHERE ctid = ANY(ARRAY(SELECT ctid FROM connect_ingest_key "
                        "WHERE ts < %s LIMIT %s FOR UPDATE SKIP LOCKED))", (before, limit))
            return int(cur.rowcount)
    result = session.execute(delete(IngestKey).where(IngestKey.ts < before))
    return int(result.rowcount)  # type: ignore[attr-defined]  # a CursorResult

"""The one ingest path (MQTT worker and HTTP): parse, validate against the profile, quarantine, bulk-store.

Per-point Python work is kept small: orjson parses (through kit.safejson: size and nesting limited), device and
profile facts come from a per-process cache (TTL plus explicit invalidation on every device/profile/asset write in
this process), metric specs are pre-compiled to tuples, and rows are plain tuples. PostgreSQL stores with COPY into
a temporary staging table and one `INSERT … SELECT … ON CONFLICT DO NOTHING`; SQLite with `INSERT OR IGNORE`.
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cityhub.connect.models import (
    PARTITION_SCHEMA,
    Asset,
    Device,
    DeviceProfile,
    DeviceStatus,
    IngestKey,
    Quarantine,
    QuarantineCount,
    QuarantineReason,
    Telemetry,
)
from cityhub.connect.schemas import IngestResult, RawMessage
from cityhub.kit import events, safejson
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.events import SeriesPoint
from cityhub.kit.settings import get_settings

R = QuarantineReason
NUMBER, BOOLEAN, STRING = 0, 1, 2
_TYPE_CODES = {"number": NUMBER, "boolean": BOOLEAN, "string": STRING}
PAYLOAD_KEEP = 2000  # characters of a raw payload kept in quarantine
MAX_QUARANTINE_PER_MESSAGE = 50
MAX_TEXT = 1000
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CACHE_TTL_S = 10.0  # another process's device change is seen within this long
FULL_RELOAD_S = 600.0  # reload everything this often even when the change token stayed the same
NEGATIVE_TTL_S = 2.0  # unknown ids are re-checked soon (a device may be registered right before it reports)
# payloads without ts (decision 0009): a copy within these windows of the time its payload was given takes that time
REPEAT_WINDOW = timedelta(seconds=60)  # any copy: an HTTP retry, a device's own QoS-1 resend
REDELIVERY_WINDOW = timedelta(days=1)  # a copy the broker marks as redelivered (MQTT DUP); also how long keys live

Row = tuple[uuid.UUID, str, datetime, float | None, str | None]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ingest needs of a device, resolved once and cached."""

    device_id: uuid.UUID
    active: bool
    org_id: uuid.UUID
    profile_code: str
    metrics: dict[str, tuple[int, float | None, float | None]]  # key -> (type code, min, max)
    asset_path: tuple[uuid.UUID, ...]
    district_id: uuid.UUID | None
    lon: float | None
    lat: float | None


def change_token(session: Session) -> tuple[Any, ...]:
    """Count and latest change of devices, assets and profiles: equal tokens mean no fact ingest uses moved."""
    return tuple(tuple(r) for r in session.execute(
        select(func.count(), func.max(Device.updated_at)).select_from(Device)
        .union_all(select(func.count(), func.max(Asset.updated_at)).select_from(Asset),
                   select(func.count(), func.max(DeviceProfile.updated_at)).select_from(DeviceProfile))).all())


class DeviceCache:
    """Per-process device facts; writes in this process invalidate at once, other processes' within CACHE_TTL_S.

    Every CACHE_TTL_S the cache compares a change token (one small query, `change_token`) and forgets everything
    only when it moved, instead of expiring entries: reloading thousands of devices at once (with every asset's
    path) stalled ingest for a second each time the entries loaded together expired together. As a backstop
    against clock skew between writers (an update stamped earlier than the latest one), everything is reloaded
    every FULL_RELOAD_S anyway. Unknown ids are re-checked after NEGATIVE_TTL_S.
    """

    def __init__(self) -> None:
        self._items: dict[uuid.UUID, tuple[float, DeviceInfo | None]] = {}
        self._lock = threading.Lock()
        self._token: tuple[Any, ...] | None = None
        self._checked = -math.inf
        self._since = time.monotonic()

    def invalidate(self) -> None:
        """Forget everything (a device, profile or asset changed)."""
        with self._lock:
            self._items.clear()

    def _revalidate(self, session: Session, now: float) -> None:
        token = change_token(session)
        with self._lock:
            if token != self._token or now - self._since >= FULL_RELOAD_S:
                self._items.clear()
                self._since = now
            self._token, self._checked = token, now

    def get_many(self, session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DeviceInfo | None]:
        """Facts of each id (None: unknown device), loading the missing ones in one query."""
        now = time.monotonic()
        if now - self._checked >= CACHE_TTL_S:
            self._revalidate(session, now)
        out: dict[uuid.UUID, DeviceInfo | None] = {}
        missing = []
        items = self._items
        for i in ids:
            hit = items.get(i)
            if hit is not None and hit[0] > now:
                out[i] = hit[1]
            else:
                missing.append(i)
        if missing:
            loaded = load_device_infos(session, missing)
            with self._lock:
                if len(items) > 200_000:
                    items.clear()
                for i in missing:
                    info = loaded.get(i)
                    items[i] = (math.inf if info else now + NEGATIVE_TTL_S, info)
                    out[i] = info
        return out


CACHE = DeviceCache()


def compile_metrics(metrics: Sequence[dict[str, Any]]) -> dict[str, tuple[int, float | None, float | None]]:
    """Profile metric specs as lookup tuples."""
    return {m["key"]: (_TYPE_CODES.get(m.get("type", "number"), NUMBER), m.get("min"), m.get("max"))
            for m in metrics}


def asset_paths(session: Session) -> dict[uuid.UUID, tuple[tuple[uuid.UUID, ...], uuid.UUID | None]]:
    """Every asset's path (itself, then ancestors) and its district (inherited from the nearest ancestor)."""
    rows = session.execute(select(Asset.id, Asset.parent_id, Asset.district_id)).all()
    parent = {r[0]: r[1] for r in rows}
    district = {r[0]: r[2] for r in rows}
    out: dict[uuid.UUID, tuple[tuple[uuid.UUID, ...], uuid.UUID | None]] = {}
    for aid in parent:
        path = [aid]
        seen = {aid}
        cur = parent[aid]
        while cur is not None and cur not in seen and cur in parent:
            path.append(cur)
            seen.add(cur)
            cur = parent[cur]
        dist = next((district[a] for a in path if district.get(a) is not None), None)
        out[aid] = (tuple(path), dist)
    return out


def load_device_infos(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DeviceInfo]:
    """Device facts for ids, straight from the database."""
    out: dict[uuid.UUID, DeviceInfo] = {}
    rows = session.execute(
        select(Device.id, Device.status, Device.org_id, Device.asset_id, Device.lon, Device.lat,
               DeviceProfile.code, DeviceProfile.metrics)
        .join(DeviceProfile, DeviceProfile.id == Device.profile_id)
        .where(Device.id.in_(list(ids)))).all()
    if not rows:
        return out
    paths = asset_paths(session) if any(r[3] for r in rows) else {}
    coords = {}
    if paths:
        coords = {a: (lon, lat) for a, lon, lat in session.execute(select(Asset.id, Asset.lon, Asset.lat)).all()}
    for did, status, org_id, asset_id, lon, lat, code, metrics in rows:
        path, dist = paths.get(asset_id, ((), None)) if asset_id else ((), None)
        if lon is None and asset_id in coords:
            lon, lat = coords[asset_id]
        out[did] = DeviceInfo(did, status == DeviceStatus.ACTIVE, org_id, code, compile_metrics(metrics or []),
                              path, dist, lon, lat)
    return out


# ---------------------------------------------------------------- parsing


_HEX = frozenset("0123456789abcdefABCDEF")


def canonical_device_id(text: str) -> uuid.UUID | None:
    """A device id in one of the accepted spellings, else None (docs/connect.md, "Device ids").

    Accepted: 8-4-4-4-12 hex digits in either case, the same 32 digits without dashes, `{8-4-4-4-12}` and
    `urn:uuid:8-4-4-4-12`; all name the same device as the lower-case dashed form, which is what is stored.
    Anything else (dashes elsewhere, other prefixes, a braced 32-digit form) is not a device id. Python's
    `uuid.UUID` alone is laxer (it drops every dash and any number of braces and `urn:`/`uuid:` prefixes).
    """
    s = text
    if len(s) == 45 and s[:9].lower() == "urn:uuid:":
        s = s[9:]
    elif len(s) == 38 and s[0] == "{" and s[-1] == "}":
        s = s[1:-1]
    if len(s) == 36:
        if s[8] != "-" or s[13] != "-" or s[18] != "-" or s[23] != "-":
            return None
        digits = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
    elif len(s) == 32 and s is text:
        digits = s
    else:
        return None
    if not _HEX.issuperset(digits):
        return None
    return uuid.UUID(hex=digits)


_topic_ids: dict[str, tuple[uuid.UUID | None, str]] = {}


def topic_device(topic: str) -> tuple[uuid.UUID | None, str]:
    """(device id, "") from `…/devices/{id}/telemetry` (a topic prefix is allowed), else (None, why not)."""
    hit = _topic_ids.get(topic)
    if hit is not None:
        return hit
    parts = topic.split("/")
    out: tuple[uuid.UUID | None, str]
    if len(parts) >= 3 and parts[-1] == "telemetry" and parts[-3] == "devices":
        did = canonical_device_id(parts[-2])
        out = (did, "") if did is not None else (
            None, f"not a device id (a UUID, e.g. 8-4-4-4-12 hex digits): {_clean(parts[-2], 80)}")
    elif len(parts) >= 4 and parts[-1] == "telemetry" and "devices" in parts[:-2]:
        first = parts.index("devices")
        out = (None, f"a device id contains no '/': {_clean('/'.join(parts[first + 1:-1]), 120)}")
    else:
        out = (None, "the topic is not <prefix>/devices/<device id>/telemetry")
    if len(_topic_ids) > 200_000:
        _topic_ids.clear()
    _topic_ids[topic] = out
    return out


def device_id_of(topic: str) -> uuid.UUID | None:
    """The device id in `…/devices/{id}/telemetry` (a topic prefix is allowed), or None."""
    return topic_device(topic)[0]


def parse_ts(raw: Any, default: datetime) -> datetime | None:
    """ISO-8601 text or epoch milliseconds to aware UTC (naive text is taken as UTC); None when invalid."""
    if raw is None:
        return default
    t = type(raw)
    try:
        if t is int or t is float:
            if not math.isfinite(raw):
                return None
            return EPOCH + timedelta(milliseconds=raw)
        if t is str:
            ts = datetime.fromisoformat(raw)
            return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return None


def _clean(text: str, limit: int) -> str:
    return text[:limit].replace("\x00", "\\u0000")


# ---------------------------------------------------------------- payloads without ts (decision 0009)


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


@dataclass(slots=True)
class Parsed:
    """What one batch of messages turned into."""

    rows: list[Row]
    quarantine: list[dict[str, Any]]
    infos: dict[uuid.UUID, DeviceInfo | None]
    problems: int = 0  # records and values refused (quarantine rows beyond the per-message limit included)


_NO_DOC = object()
_fromisoformat = datetime.fromisoformat
Facts = tuple[uuid.UUID | None, DeviceInfo | None, tuple[str, str] | None]  # device, its facts, why refused


def _topic_facts(session: Session, topics: Iterable[str]
                 ) -> tuple[dict[str, Facts], dict[uuid.UUID, DeviceInfo | None]]:
    """Per distinct topic of a batch: (device id, its facts, the refusal or None); and the facts per device id."""
    ids = {t: topic_device(t) for t in topics}
    infos = CACHE.get_many(session, {i for i, _why in ids.values() if i is not None})
    out: dict[str, Facts] = {}
    for topic, (did, why) in ids.items():
        if did is None:
            out[topic] = (None, None, (R.BAD_TOPIC, why))
            continue
        info = infos.get(did)
        out[topic] = (did, info, (R.UNKNOWN_DEVICE, "") if info is None else
                      None if info.active else (R.DEVICE_DISABLED, ""))
    return out, infos


def _decode(payload: bytes, max_bytes: int) -> Any:
    """`safejson.loads` of a payload (field `payload`), its two checks done inline for the common small payload.

    A payload within the size limit with no more brackets than the depth limit cannot nest too deep, so it goes
    straight to orjson; anything else, and any payload orjson refuses, takes `safejson.loads` for the named error.
    """
    if len(payload) <= max_bytes and payload.count(b"{") + payload.count(b"[") <= safejson.MAX_DEPTH:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return safejson.loads(payload, max_bytes=max_bytes, field="payload")


def parse_messages(session: Session, messages: Sequence[RawMessage]) -> Parsed:
    """Validate every record against its device's profile; collect rows to store and quarantine entries.

    Two passes: the first decodes the payloads and finds those with a record without `ts`, whose time comes from
    `first_seen` (one round trip for the batch); the second checks every record and value. Device facts are
    looked up once per distinct topic of the batch, not per message.
    """
    facts, infos = _topic_facts(session, {m.topic for m in messages})
    settings = get_settings()
    tolerance = timedelta(seconds=settings.connect_future_tolerance_s)
    max_bytes = settings.max_body_bytes
    rows: list[Row] = []
    quarantine: list[dict[str, Any]] = []
    append = rows.append
    problems = 0

    docs: list[Any] = []
    refusals: list[tuple[str, str] | None] = []
    untimed: list[Untimed] = []
    untimed_at: list[int] = []
    for idx, m in enumerate(messages):
        device_id, _info, refusal = facts[m.topic]
        doc: Any = _NO_DOC
        if refusal is None:
            try:  # the HTTP body limit applies to MQTT payloads too, and so does the nesting limit
                doc = _decode(m.payload, max_bytes)
            except ValidationFailed as exc:
                refusal = (R.BAD_JSON, f"{exc.message}: {exc.details[0]['message']}"[:200])
            else:
                n = 0
                if type(doc) is list:
                    for rec in doc:
                        if type(rec) is dict and rec.get("ts") is None:
                            n += 1
                elif type(doc) is dict and doc.get("ts") is None:
                    n = 1
                if n == 1:  # exactly one record takes the message's time; several are refused below
                    assert device_id is not None
                    untimed.append((device_id, payload_digest(m.payload), m.received_at, m.redelivery))
                    untimed_at.append(idx)
        docs.append(doc)
        refusals.append(refusal)
    defaults = dict(zip(untimed_at, first_seen(session, untimed), strict=True)) if untimed else {}

    for idx, m in enumerate(messages):
        doc = docs[idx]
        refusal = refusals[idx]
        bad: list[tuple[str, str]] = [] if refusal is None else [refusal]
        device_id, info, _refusal = facts[m.topic]
        if doc is not _NO_DOC:
            assert device_id is not None and info is not None
            records = doc if type(doc) is list else (doc,)
            if not records:
                bad.append((R.BAD_FORMAT, "empty list"))
            metrics = info.metrics
            latest_ok = m.received_at + tolerance
            default = defaults.get(idx) if defaults else None
            start = len(rows)
            n_records = len(records)
            for pos, rec in enumerate(records):
                if type(rec) is not dict:
                    bad.append((R.BAD_FORMAT, "a record must be an object"))
                    continue
                values = rec.get("values")
                if type(values) is not dict or not values:
                    bad.append((R.BAD_FORMAT, "'values' must be a non-empty object"))
                    continue
                raw_ts = rec.get("ts")
                ts: datetime | None
                if raw_ts is None:
                    if default is None:
                        bad.append((R.MISSING_TIMESTAMP, f"record {pos + 1} of {n_records}: a list may hold at most "
                                                         "one record without 'ts' (it takes the message's time)"))
                        continue
                    ts = default
                elif type(raw_ts) is str:  # parse_ts inline: ISO-8601 text is nearly every record's case
                    try:
                        ts = _fromisoformat(raw_ts)
                        tz = ts.tzinfo
                        if tz is None:
                            ts = ts.replace(tzinfo=UTC)
                        elif tz is not UTC:
                            ts = ts.astimezone(UTC)
                    except (ValueError, OverflowError):
                        ts = None
                else:
                    ts = parse_ts(raw_ts, EPOCH)
                if ts is None or ts < MIN_TS:
                    bad.append((R.BAD_TIMESTAMP, _clean(repr(raw_ts), 100)))
                    continue
                if ts > latest_ok:
                    bad.append((R.FUTURE_TIMESTAMP, ts.isoformat()))
                    continue
                for key, v in values.items():
                    spec = metrics.get(key)
                    if spec is None:
                        bad.append((R.UNKNOWN_KEY, _clean(key, 64)))
                        continue
                    code, lo, hi = spec
                    vt = type(v)
                    if code == NUMBER:
                        if vt is not float and vt is not int:
                            bad.append((R.WRONG_TYPE, f"{_clean(key, 64)}: number expected"))
                            continue
                        if (lo is not None and v < lo) or (hi is not None and v > hi):
                            bad.append((R.OUT_OF_RANGE, f"{_clean(key, 64)}={v}"))
                            continue
                        append((device_id, key, ts, v if vt is float else float(v), None))
                    elif code == BOOLEAN:
                        if vt is not bool:
                            bad.append((R.WRONG_TYPE, f"{_clean(key, 64)}: boolean expected"))
                            continue
                        append((device_id, key, ts, 1.0 if v else 0.0, None))
                    else:
                        if vt is not str or "\x00" in v:
                            bad.append((R.WRONG_TYPE, f"{_clean(key, 64)}: text expected"))
                            continue
                        if len(v) > MAX_TEXT:
                            bad.append((R.OUT_OF_RANGE, f"{_clean(key, 64)}: longer than {MAX_TEXT}"))
                            continue
                        append((device_id, key, ts, None, v))
            if n_records > 1 and len(rows) - start > 1:
                _drop_conflicts(rows, start, bad)
        if bad:
            problems += len(bad)
            payload = _clean(m.payload[:PAYLOAD_KEEP * 4].decode("utf-8", "replace"), PAYLOAD_KEEP)
            topic = _clean(m.topic, 300)
            known = device_id if info is not None else None
            for reason, detail in bad[:MAX_QUARANTINE_PER_MESSAGE]:
                quarantine.append({"id": uuid.uuid4(), "received_at": m.received_at, "topic": topic,
                                   "device_id": known, "reason": str(reason), "detail": detail[:500],
                                   "payload": payload})
            if len(bad) > MAX_QUARANTINE_PER_MESSAGE:
                more = len(bad) - MAX_QUARANTINE_PER_MESSAGE
                quarantine.append({"id": uuid.uuid4(), "received_at": m.received_at, "topic": topic,
                                   "device_id": known, "reason": str(R.TRUNCATED),
                                   "detail": f"{more} more problems in this message were not kept (a message keeps "
                                             f"at most {MAX_QUARANTINE_PER_MESSAGE} quarantine rows)",
                                   "payload": payload})
    return Parsed(rows, quarantine, infos, problems)


def _drop_conflicts(rows: list[Row], start: int, bad: list[tuple[str, str]]) -> None:
    """Remove the message's points whose (key, ts) it gives two different values; each conflict is quarantined.

    Which value is right cannot be known, so neither is stored. The same value twice is no conflict: it is stored
    once and the copy counts as a duplicate.
    """
    seen: dict[tuple[str, datetime], tuple[float | None, str | None]] = {}
    conflicts: dict[tuple[str, datetime], int] = {}
    for r in rows[start:]:
        k = (r[1], r[2])
        prev = seen.get(k)
        if prev is None:
            seen[k] = (r[3], r[4])
        elif prev != (r[3], r[4]):
            conflicts[k] = conflicts.get(k, 1) + 1
    if not conflicts:
        return
    kept = [r for r in rows[start:] if (r[1], r[2]) not in conflicts]
    del rows[start:]
    rows.extend(kept)
    for (key, ts), n in sorted(conflicts.items()):
        bad.append((R.CONFLICTING_VALUES, f"{_clean(key, 64)} at {ts.isoformat()}: {n} values in one message "
                                          "differ; none is stored"))


# ---------------------------------------------------------------- storage


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    """Name of the monthly partition starting at `start`."""
    return f"telemetry_{start:%Y%m}"


def ensure_partitions(cur: Any, months: Iterable[datetime]) -> int:
    """Create the monthly partitions that are missing (serialised by an advisory lock); returns how many."""
    names = {partition_name(m): m for m in months}
    cur.execute("SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(%s || n) IS NULL",
                (list(names), f"{PARTITION_SCHEMA}."))
    missing = [r[0] for r in cur.fetchall()]
    if not missing:
        return 0
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('cityhub.connect.partitions'))")
    for name in missing:
        lo = names[name]
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {PARTITION_SCHEMA}.{name} PARTITION OF connect_telemetry "
                    f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{_next_month(lo).isoformat()}')")
    return len(missing)


_STAGING = ("CREATE TEMP TABLE IF NOT EXISTS connect_staging (device_id uuid, key text, ts timestamptz, "
            "value double precision, text text) ON COMMIT DELETE ROWS")
# COPY … (FORMAT BINARY): the signature, no flags, no header extension; each row a field count and each field a
# 4-byte length (-1: NULL) and its binary value; a field count of -1 ends the data
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_ROW_DEVICE = b"\x00\x05\x00\x00\x00\x10"  # 5 fields, the first (the device's uuid) 16 bytes
_NULL = b"\xff\xff\xff\xff"
_F8 = struct.Struct(">id").pack  # length 8, float8 (IEEE 754, big-endian)
_TS = struct.Struct(">iq").pack  # length 8, timestamptz (int64 microseconds since 2000-01-01 UTC)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_key_fields: dict[str, bytes] = {}  # metric key → its COPY field (a profile has a handful of keys)


def _key_field(key: str) -> bytes:
    b = key.encode()
    if len(_key_fields) > 10_000:
        _key_fields.clear()
    field = _key_fields[key] = len(b).to_bytes(4, "big") + b
    return field


def _array_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(slots=True)
class Encoded:
    """A sorted batch ready for PostgreSQL: its COPY data, the months it touches, the latest-value parameters."""

    copy: bytes  # every row, COPY binary format
    months: set[datetime]  # first day of each month the rows fall in
    latest: tuple[str, str, str, str, str]  # array literals of the newest row per (device, key), in that order


def encode_rows(rows: Sequence[Row]) -> Encoded:
    """One pass over rows sorted by (device, ts, key): COPY binary data, months, and the latest values.

    Binary COPY: a third of the text format's Python work and about a quarter less work for PostgreSQL, which no
    longer parses timestamps, ids and numbers from text. The points of one record share their device and
    timestamp objects, so each is encoded once per record. The newest row per (device, key) is the last one of
    its key in each device's run of rows; they come out sorted by (device, key), the order every worker locks
    them in (decision 0009), as array literals (metric keys, timestamps and numbers need no escaping; keys and
    texts are quoted, so a key `null` stays a key).
    """
    out = [_COPY_HEADER]
    put = out.extend
    key_fields = _key_fields
    months: set[datetime] = set()
    devices: list[str] = []
    latest: list[Row] = []
    group: dict[str, Row] = {}
    last_did: uuid.UUID | None = None
    last_ts: datetime | None = None
    year = month = 0
    d = t = b""
    for r in rows:
        did, key, ts, value, text = r
        if did is not last_did:
            if last_did is None or did != last_did:  # equal ids from two spellings of a topic are one device
                if group:
                    latest.extend([group[k] for k in sorted(group)])
                    devices.extend([str(last_did)] * len(group))
                    group = {}
                d = _ROW_DEVICE + did.bytes
            last_did = did
        if ts is not last_ts:
            last_ts = ts
            t = _TS(8, (ts - _PG_EPOCH) // _MICROSECOND)
            if ts.month != month or ts.year != year:
                year, month = ts.year, ts.month
                months.add(datetime(year, month, 1, tzinfo=UTC))
        k = key_fields.get(key) or _key_field(key)
        if text is None:
            put((d, k, t, _F8(8, value), _NULL))
        else:
            b = text.encode()
            put((d, k, t, _NULL, len(b).to_bytes(4, "big"), b))
        group[key] = r
    if group:
        latest.extend([group[k] for k in sorted(group)])
        devices.extend([str(last_did)] * len(group))
    out.append(_COPY_TRAILER)
    params = ("{" + ",".join(devices) + "}",
              "{" + ",".join(['"' + r[1] + '"' for r in latest]) + "}",
              "{" + ",".join([r[2].isoformat() for r in latest]) + "}",
              "{" + ",".join(["NULL" if r[3] is None else repr(r[3]) for r in latest]) + "}",
              "{" + ",".join(["NULL" if r[4] is None else _array_text(r[4]) for r in latest]) + "}")
    return Encoded(b"".join(out), months, params)


def _row_order(r: Row) -> tuple[int, datetime, str]:
    return r[0].int, r[2], r[1]


_LATEST_UPSERT = (
    "INSERT INTO connect_latest (device_id, key, ts, value, text) "
    "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::float8[], %s::text[]) "
    "ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, value = excluded.value, "
    "text = excluded.text WHERE excluded.ts >= connect_latest.ts")


def _store_pg(session: Session, rows: list[Row], want_stored: bool) -> tuple[int, list[tuple[Any, ...]] | None]:
    """COPY straight into the telemetry table; only a batch holding a duplicate takes the staging path.

    Duplicates are rare (a redelivery after a worker died before its ack), so the common case pays one COPY into
    the partitioned table instead of COPY + INSERT … SELECT; a unique violation rolls back to the savepoint and
    the batch goes through a staging table with ON CONFLICT DO NOTHING, which counts what was absorbed.
    """
    import psycopg  # PostgreSQL only; the SQLite path never needs the driver

    dbapi = session.connection().connection.driver_connection
    # One order for every writer (decision 0009): a row another batch inserted and has not committed yet makes
    # this COPY wait for that batch, so two batches holding the same points (a redelivery) in different orders
    # would each wait for the other. Sorted by (device, ts, key), the points of one record stay adjacent.
    rows.sort(key=_row_order)
    batch = encode_rows(rows)
    returned: list[tuple[Any, ...]] | None
    with dbapi.cursor() as cur:  # type: ignore[union-attr]  # psycopg connection on PostgreSQL
        ensure_partitions(cur, batch.months)
        cur.execute("SAVEPOINT connect_copy")
        try:
            with cur.copy("COPY connect_telemetry (device_id, key, ts, value, text) FROM STDIN (FORMAT BINARY)"
                          ) as copy:
                copy.write(batch.copy)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT connect_copy")
            cur.execute("RELEASE SAVEPOINT connect_copy")
            stored, returned = _store_pg_staged(cur, batch.copy, want_stored)
        else:
            cur.execute("RELEASE SAVEPOINT connect_copy")
            stored = len(rows)
            returned = None  # every row was stored
        cur.execute(_LATEST_UPSERT, batch.latest)
    return stored, returned


def _store_pg_staged(cur: Any, data: bytes, want_stored: bool) -> tuple[int, list[tuple[Any, ...]]]:
    cur.execute(_STAGING)
    with cur.copy("COPY connect_staging (device_id, key, ts, value, text) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(data)
    # DISTINCT ON: the same (device, key, ts) twice inside one batch must not abort the INSERT either; inserted in
    # the order the COPY path uses (uuid bytes, ts, key as code points: `_row_order`), so the two paths never wait
    # for each other in opposite orders
    cur.execute("INSERT INTO connect_telemetry (device_id, key, ts, value, text) "
                "SELECT device_id, key, ts, value, text FROM (SELECT DISTINCT ON (device_id, key, ts) device_id, "
                "key, ts, value, text FROM connect_staging) AS d ORDER BY device_id, ts, key COLLATE \"C\" "
                "ON CONFLICT (device_id, key, ts) DO NOTHING"
                + (" RETURNING device_id, key, ts" if want_stored else ""))
    stored = cur.rowcount
    returned = cur.fetchall() if want_stored else []
    cur.execute("DELETE FROM connect_staging")  # a savepoint or test transaction may not commit between
    return int(stored), returned


def _store_sqlite(session: Session, rows: list[Row], want_stored: bool
                  ) -> tuple[int, list[tuple[Any, ...]] | None]:
    conn = session.connection()
    dialect = conn.dialect
    col = Telemetry.__table__.c
    uid = col.device_id.type.bind_processor(dialect)
    tsp = col.ts.type._cached_bind_processor(dialect)  # UTCDateTime: aware → naive UTC text
    assert uid is not None and tsp is not None
    raw = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # sqlite3 connection
    stored = 0
    returned: list[tuple[Any, ...]] = []
    latest: dict[tuple[uuid.UUID, str], Row] = {}
    sql = "INSERT OR IGNORE INTO connect_telemetry (device_id, key, ts, value, text) VALUES (?, ?, ?, ?, ?)"
    for r in rows:
        raw.execute(sql, (uid(r[0]), r[1], tsp(r[2]), r[3], r[4]))
        if raw.rowcount > 0:
            stored += 1
            if want_stored:
                returned.append((r[0], r[1], r[2]))
        k = (r[0], r[1])
        prev = latest.get(k)
        if prev is None or r[2] >= prev[2]:
            latest[k] = r
    raw.executemany(
        "INSERT INTO connect_latest (device_id, key, ts, value, text) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, value = excluded.value, "
        "text = excluded.text WHERE excluded.ts >= connect_latest.ts",
        [(uid(r[0]), r[1], tsp(r[2]), r[3], r[4]) for r in latest.values()])
    raw.close()
    return stored, returned


def store_quarantine(session: Session, entries: list[dict[str, Any]]) -> None:
    """Insert quarantine rows and add them to the running per-reason counts."""
    session.execute(insert(Quarantine), entries)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["reason"]] = counts.get(e["reason"], 0) + 1
    pg = session.get_bind().dialect.name == "postgresql"
    for reason, n in sorted(counts.items()):  # sorted: two workers lock the rows in the same order
        ins = (pg_insert if pg else sqlite_insert)(QuarantineCount).values(reason=reason, count=n)
        session.execute(ins.on_conflict_do_update(index_elements=["reason"],
                                                  set_={"count": QuarantineCount.count + ins.excluded.count}))


_BY_TS = itemgetter(2)  # SeriesPoint.ts


def ingest(session: Session, messages: Sequence[RawMessage]) -> IngestResult:
    """Parse, validate, quarantine, bulk-store, update latest values and publish TELEMETRY_STORED; flushes only."""
    if not messages:
        return IngestResult(0, 0, 0)
    session.flush()
    parsed = parse_messages(session, messages)
    rows = parsed.rows
    stored = 0
    want = events.has_subscribers(events.TELEMETRY_STORED)
    returned: list[tuple[Any, ...]] | None = []  # (device, key, ts) of the stored rows; None: all of them
    if rows:
        if session.get_bind().dialect.name == "postgresql":
            stored, returned = _store_pg(session, rows, want)
        else:
            stored, returned = _store_sqlite(session, rows, want)
    if parsed.quarantine:
        store_quarantine(session, parsed.quarantine)
    if want and stored:
        infos = parsed.infos
        if returned is None or stored == len(rows):  # every row was stored: no need to match what came back
            kept: Iterable[Row] = rows
        else:
            back = {(r[0], r[1], r[2]) for r in returned}
            kept = [r for r in rows if (r[0], r[1], r[2]) in back]
        # a point is its row followed by its device's context: one tuple concatenation and one tuple.__new__ per
        # point (SeriesPoint's own __new__ is a Python function taking eleven arguments)
        points: list[SeriesPoint] = []
        append_point = points.append
        new_point = tuple.__new__
        last_did: uuid.UUID | None = None
        context: tuple[Any, ...] | None = None
        for r in kept:
            did = r[0]
            if did is not last_did:  # rows are sorted by device on PostgreSQL, by message on SQLite
                last_did = did
                info = infos.get(did)
                context = None if info is None else (info.org_id, info.profile_code, info.asset_path,
                                                     info.district_id, info.lon, info.lat)
            if context is not None:
                append_point(new_point(SeriesPoint, r + context))
        points.sort(key=_BY_TS)
        events.publish(session, events.TELEMETRY_STORED, points)
    return IngestResult(stored=stored, duplicates=len(rows) - stored, quarantined=parsed.problems)

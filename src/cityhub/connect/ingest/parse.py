"""Parse and validate messages against their device's profile: the rows to store and the quarantine entries.

Per-point Python work is kept small: orjson parses (through kit.safejson's limits, checked inline for the common
small payload), device facts come from `facts.CACHE` once per distinct topic, rows are plain tuples.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from cityhub.connect.ingest.facts import BOOLEAN, CACHE, NUMBER, DeviceInfo
from cityhub.connect.ingest.keys import Untimed, first_seen, payload_digest
from cityhub.connect.models import (
    QuarantineReason,
)
from cityhub.connect.schemas import (
    RawMessage,
)
from cityhub.kit import safejson
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.settings import get_settings

R = QuarantineReason
PAYLOAD_KEEP = 2000  # characters of a raw payload kept in quarantine
MAX_QUARANTINE_PER_MESSAGE = 50
MAX_TEXT = 1000
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Row = tuple[uuid.UUID, str, datetime, float | None, str | None]

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


def parse_messages(session: Session, messages: Sequence[RawMessage]) -> Parsed:  # noqa: C901  # the ingest hot path (issue 14): inlined on purpose, a call per record costs measurable CPU
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

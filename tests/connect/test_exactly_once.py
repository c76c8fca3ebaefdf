"""Issue 14: exactly-once for payloads without `ts`, lists and conflicts in one message, device id spellings,
the quarantine's per-message limit (decision 0009, docs/connect.md)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.connect import service
from cityhub.connect.ingest import keys, parse
from cityhub.connect.models import IngestKey, Quarantine
from cityhub.connect.mqtt import client as mqtt_client
from cityhub.connect.mqtt import worker as mqtt_worker
from cityhub.connect.schemas import DeviceCreate, RawMessage
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.connect.helpers import SYSTEM, build_connect, ensure_profiles, message
from tests.outages import Mosquitto, pg_scratch, wait_for

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
UNTIMED = {"values": {"strain": 12.5, "temperature": 21.0}}


@pytest.fixture
def cw(world: Any) -> Any:
    clock.set_now(T0 + timedelta(hours=1))
    return build_connect(world)


def _times(s: Any, dev: Any) -> list[datetime]:
    return sorted(p.ts for p in service.telemetry_points(s, device_ids=[dev], keys=["strain"],
                                                         start=T0 - timedelta(days=1), end=T0 + timedelta(days=3)))


def _untimed(dev: Any, at: datetime, redelivery: bool = False, payload: object = UNTIMED) -> RawMessage:
    m = message(dev, payload, at)
    return RawMessage(m.topic, m.payload, m.received_at, redelivery)


def _quarantine(s: Any, dev: Any) -> list[tuple[str, str]]:
    return [(r, d) for r, d in s.execute(select(Quarantine.reason, Quarantine.detail)
                                         .where(Quarantine.device_id == dev).order_by(Quarantine.detail))]


# ---------------------------------------------------------------- payloads without ts


def test_a_copy_of_a_payload_without_ts_takes_its_first_copys_time(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    first = service.ingest_messages(s, [_untimed(dev, T0)])
    assert (first.stored, first.duplicates) == (2, 0)
    # the broker redelivers it an hour later (DUP flag): the same time, so the primary key absorbs both points
    again = service.ingest_messages(s, [_untimed(dev, T0 + timedelta(hours=1), redelivery=True)])
    assert (again.stored, again.duplicates) == (0, 2)
    # an HTTP retry or a device's own resend, 30 s later and not marked: still within the repeat window
    retry = service.ingest_messages(s, [_untimed(dev, T0 + timedelta(seconds=30))])
    assert (retry.stored, retry.duplicates) == (0, 2)
    assert _times(s, dev) == [T0]


def test_the_same_values_sent_again_later_are_a_new_reading(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    later = T0 + keys.REPEAT_WINDOW + timedelta(seconds=1)
    service.ingest_messages(s, [_untimed(dev, T0)])
    r = service.ingest_messages(s, [_untimed(dev, later)])  # not a redelivery, outside the repeat window
    assert (r.stored, r.duplicates) == (2, 0)
    # its redelivery maps to its own time, not to the first reading's
    r = service.ingest_messages(s, [_untimed(dev, later + timedelta(minutes=20), redelivery=True)])
    assert (r.stored, r.duplicates) == (0, 2)
    assert _times(s, dev) == [T0, later]
    # a redelivery after the redelivery window is a new reading: the key is gone or too old
    late = later + keys.REDELIVERY_WINDOW + timedelta(seconds=1)
    r = service.ingest_messages(s, [_untimed(dev, late, redelivery=True)])
    assert (r.stored, r.duplicates) == (2, 0)


def test_two_copies_in_one_batch_store_one_point_each(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    other = {"values": {"strain": 13.0}}
    r = service.ingest_messages(s, [_untimed(dev, T0), _untimed(dev, T0 + timedelta(milliseconds=5), True),
                                    _untimed(dev, T0 + timedelta(milliseconds=9), payload=other)])
    assert (r.stored, r.duplicates, r.quarantined) == (3, 2, 0)
    assert _times(s, dev) == [T0, T0 + timedelta(milliseconds=9)]
    assert s.scalar(select(func.count()).select_from(IngestKey).where(IngestKey.device_id == dev)) == 2


def test_expired_keys_are_pruned(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    service.ingest_messages(s, [_untimed(dev, T0)])
    service.ingest_messages(s, [_untimed(dev, T0 + timedelta(hours=2), payload={"values": {"strain": 1.0}})])
    assert keys.prune_keys(s, T0 + timedelta(hours=1)) == 1
    assert [k.ts for k in s.scalars(select(IngestKey).where(IngestKey.device_id == dev))] == [T0 + timedelta(hours=2)]


# ---------------------------------------------------------------- lists and conflicts


def test_a_list_of_several_records_without_ts_is_quarantined_with_a_reason(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    recs = [{"values": {"strain": 1.0}}, {"values": {"strain": 2.0}}, {"ts": T0.isoformat(), "values": {"strain": 3}}]
    r = service.ingest_messages(s, [message(dev, recs, T0 + timedelta(minutes=1))])
    assert (r.stored, r.duplicates, r.quarantined) == (1, 0, 2)  # the record with its own ts is stored
    rows = _quarantine(s, dev)
    assert [reason for reason, _d in rows] == ["missing_timestamp", "missing_timestamp"]
    assert rows[0][1].startswith("record 1 of 3") and rows[1][1].startswith("record 2 of 3")
    # one record without ts in a list takes the message's time, like a single record
    r = service.ingest_messages(s, [message(dev, [{"values": {"strain": 4.0}}, {"ts": T0.isoformat(), "values": {
        "deflection": 1.0}}], T0 + timedelta(minutes=2))])
    assert (r.stored, r.quarantined) == (2, 0)
    assert _times(s, dev) == [T0, T0 + timedelta(minutes=2)]


def test_two_values_for_one_key_and_time_in_one_message_are_quarantined_not_resolved(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    ts = T0.isoformat()
    epoch_ms = int(T0.timestamp() * 1000)  # the same instant spelled differently
    recs = [{"ts": ts, "values": {"strain": 1.0, "temperature": 20.0}},
            {"ts": epoch_ms, "values": {"strain": 2.0, "temperature": 20.0, "deflection": 5.0}}]
    r = service.ingest_messages(s, [message(dev, recs, T0 + timedelta(minutes=1))])
    # temperature: the same value twice is one reading (stored once, the copy a duplicate); strain conflicts
    assert (r.stored, r.duplicates, r.quarantined) == (2, 1, 1)
    assert _times(s, dev) == []
    [(reason, detail)] = _quarantine(s, dev)
    assert reason == "conflicting_values" and detail.startswith("strain at 2026-03-10T08:00:00+00:00: 2 values")
    latest = service.latest_values(s, [dev])[dev]
    assert set(latest) == {"temperature", "deflection"}


def test_quarantine_says_how_many_problems_of_a_message_it_did_not_keep(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    keys = {f"unknown_{i}": 1 for i in range(parse.MAX_QUARANTINE_PER_MESSAGE + 12)}
    r = service.ingest_messages(s, [message(dev, {"ts": T0.isoformat(), "values": {"strain": 1.0, **keys}},
                                            T0 + timedelta(minutes=1))])
    assert (r.stored, r.quarantined) == (1, parse.MAX_QUARANTINE_PER_MESSAGE + 12)
    rows = _quarantine(s, dev)
    assert len(rows) == parse.MAX_QUARANTINE_PER_MESSAGE + 1
    notice = [d for reason, d in rows if reason == "truncated"]
    assert notice == ["12 more problems in this message were not kept (a message keeps at most 50 quarantine rows)"]
    # exactly at the limit: no notice
    keys = {f"unknown_{i}": 1 for i in range(parse.MAX_QUARANTINE_PER_MESSAGE)}
    service.ingest_messages(s, [message(dev, {"ts": T0.isoformat(), "values": keys}, T0 + timedelta(minutes=1))])
    assert sum(reason == "truncated" for reason, _d in _quarantine(s, dev)) == 1


# ---------------------------------------------------------------- device ids


@pytest.mark.parametrize("spell", [str.upper, lambda t: t.replace("-", ""), lambda t: "{" + t + "}",
                                   lambda t: "urn:uuid:" + t, lambda t: "URN:UUID:" + t.upper()])
def test_other_spellings_of_a_device_id_are_canonicalised(world: Any, cw: Any, spell: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    r = service.ingest_messages(s, [RawMessage(f"cityhub/v1/devices/{spell(str(dev))}/telemetry",
                                               json.dumps({"ts": T0.isoformat(), "values": {"strain": 1}}).encode(),
                                               T0)])
    assert (r.stored, r.quarantined) == (1, 0)
    assert _times(s, dev) == [T0]
    assert parse.canonical_device_id(spell(str(dev))) == dev


ZERO = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize("bad", ["{" + "0" * 32 + "}", f"uuid:{ZERO}", f"urn:{ZERO}", f"{{{{{ZERO}}}}}",
                                 "0000-00000000-0000-0000-000000000000", f"urn:uuid:{'0' * 32}", "g" * 32,
                                 "not-a-uuid", f" {ZERO}"])
def test_other_strings_are_not_device_ids(bad: Any) -> None:
    assert parse.canonical_device_id(bad) is None


def test_device_ids_with_a_slash_and_bad_topics_are_quarantined_with_the_reason(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    body = json.dumps({"ts": T0.isoformat(), "values": {"strain": 1}}).encode()
    topics = [f"cityhub/v1/devices/{dev}/extra/telemetry", "cityhub/v1/devices/abc-def/telemetry",
              f"cityhub/v1/devices/{dev}/status"]
    r = service.ingest_messages(s, [RawMessage(t, body, T0) for t in topics])
    assert (r.stored, r.quarantined) == (0, 3)
    rows = {t: (reason, d) for t, reason, d in s.execute(
        select(Quarantine.topic, Quarantine.reason, Quarantine.detail).where(Quarantine.topic.in_(topics)))}
    assert rows[topics[0]] == ("bad_topic", f"a device id contains no '/': {dev}/extra")
    assert rows[topics[1]] == ("bad_topic", "not a device id (a UUID, e.g. 8-4-4-4-12 hex digits): abc-def")
    assert rows[topics[2]] == ("bad_topic", "the topic is not <prefix>/devices/<device id>/telemetry")


# ---------------------------------------------------------------- HTTP


def test_http_retry_without_ts_stores_once_and_ids_are_canonical(world: Any, cw: Any, client: Any) -> None:
    dev, token = cw["dev_a"].id, cw["token_a"]
    auth = {"Authorization": f"Bearer {token}"}
    clock.set_now(T0)
    r = client.post(f"/api/v1/devices/{str(dev).upper()}/telemetry", json=UNTIMED, headers=auth)
    assert r.status_code == 200 and r.json() == {"stored": 2, "duplicates": 0, "quarantined": 0}
    clock.set_now(T0 + timedelta(seconds=20))  # the client timed out and sends the same body again
    r = client.post(f"/api/v1/devices/urn:uuid:{dev}/telemetry", json=UNTIMED, headers=auth)
    assert r.json() == {"stored": 0, "duplicates": 2, "quarantined": 0}
    clock.set_now(T0 + timedelta(minutes=5))  # the same values five minutes later: a new reading
    r = client.post(f"/api/v1/devices/{str(dev).replace('-', '')}/telemetry", json=UNTIMED, headers=auth)
    assert r.json() == {"stored": 2, "duplicates": 0, "quarantined": 0}
    assert _times(world.session, dev) == [T0, T0 + timedelta(minutes=5)]
    r = client.post("/api/v1/devices/[0000-00000000-0000-0000-000000000000]/telemetry", json=UNTIMED, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "device_id"
    r = client.post(f"/api/v1/devices/{dev}/x/telemetry", json=UNTIMED, headers=auth)
    assert r.status_code == 404  # an id with '/' names no route: refused, never stored under another id
    r = client.post(f"/api/v1/devices/{dev}/telemetry", headers=auth,
                    json=[{"values": {"strain": 1.0}}, {"values": {"strain": 2.0}}])
    assert r.json() == {"stored": 0, "duplicates": 0, "quarantined": 2}


# ---------------------------------------------------------------- MQTT: a redelivery after a lost acknowledgement


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'once.db'}"
        upgrade(url)
        yield url
    else:
        yield from pg_scratch("cityhub_exactly_once")


def test_mqtt_redelivery_of_a_payload_without_ts_adds_no_point(any_url: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker stores a batch but its acknowledgements are lost; the broker (restarted, persistent session)
    sends the messages again with the DUP flag, later than the repeat window would allow: no second point."""
    monkeypatch.setattr(keys, "REPEAT_WINDOW", timedelta(0))  # only the DUP flag can tell a redelivery here
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    db = Database(any_url)
    with db.session_scope() as s:
        org = core.organization_create(s, SYSTEM, OrganizationCreate(
            name="恰好一次测试局", code=f"x-{uuid.uuid4().hex[:8]}", kind="department"))
        ensure_profiles(s)
        dev = service.device_create(s, SYSTEM, DeviceCreate(name="x", org_id=org.id,
                                                            profile_code="bridge-health"))[0].id
    run = uuid.uuid4().hex[:8]
    prefix = f"x-{run}/cityhub/v1"
    worker = mqtt_worker.IngestWorker(db, url=broker.url, client_id=f"x-ingest-{run}",
                               topic_filter=f"$share/x-{run}/{prefix}/devices/#", batch_size=50, batch_ms=50)
    drop_acks = threading.Event()
    drop_acks.set()
    real_ack = worker.client.ack_many
    worker.client.ack_many = lambda items: None if drop_acks.is_set() else real_ack(items)  # type: ignore[method-assign]  # the test drops acknowledgements on purpose
    stop = threading.Event()
    errors: list[BaseException] = []

    def run_worker() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:
            errors.append(exc)

    assert worker.wait_connected()
    thread = threading.Thread(target=run_worker, daemon=True)
    thread.start()
    try:
        n = 5
        pub = mqtt_client.publisher(broker.url)
        for i in range(n):
            pub.publish(f"{prefix}/devices/{dev}/telemetry", json.dumps({"values": {"strain": float(i)}}), qos=1)
        pub.publish(f"{prefix}/devices/{dev}/more/telemetry", b"{}", qos=1)  # a '/' in the id: quarantined
        pub.loop_stop()
        pub.disconnect()

        def stored() -> int:
            with db.session_scope() as s:
                return service.telemetry_count(s)

        wait_for(lambda: stored() == n and worker.stats.quarantined == 1, 20, "the first copies")
        time.sleep(0.2)
        broker.stop()  # the acknowledgements never reached it: it keeps the messages for the session
        drop_acks.clear()
        broker.start()
        wait_for(lambda: worker.stats.duplicates >= n, 30, "the redelivered copies")
        time.sleep(0.5)
        assert stored() == n
        with db.session_scope() as s:
            assert s.scalar(select(func.count()).select_from(IngestKey)) == n
            slash = s.scalars(select(Quarantine.detail).where(Quarantine.reason == "bad_topic")).all()
        assert slash and all(d == "a device id contains no '/': " + f"{dev}/more" for d in slash)
    finally:
        stop.set()
        thread.join(15)
        broker.stop()
        db.engine.dispose()
    assert not errors

"""The ingest worker's own PUBLISH decoding (`ReadAheadClient._publish_fast`, `_drain_publishes`), against paho.

Packets are built by paho itself (its MQTT 5 property encoder), so the fast path is checked against the library's
own idea of the wire format, properties included; no broker needed.
"""

from __future__ import annotations

import struct

import pytest
from paho.mqtt.client import MQTTv5
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityhub.connect.mqtt.client import ReadAheadClient, _ReadAheadSocket


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(topic: str, payload: bytes, mid: int, qos: int = 1, props: Properties | None = None) -> bytes:
    """One MQTT 5 PUBLISH packet, fixed header included."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + (struct.pack("!H", mid) if qos else b"")
    body += props.pack() if props is not None else b"\x00"
    body += payload
    return bytes([0x30 | (qos << 1)]) + _varint(len(body)) + body


class _FakeSocket:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, _n: int) -> bytes:
        out, self.data = self.data, b""
        if not out:
            raise BlockingIOError
        return out


def _client() -> tuple[ReadAheadClient, list[tuple[bytes, bytes, int, int]]]:
    got: list[tuple[bytes, bytes, int, int]] = []
    c = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id="decode-test", protocol=MQTTv5, manual_ack=True)
    c.on_raw_publish = lambda t, p, m, q, _dup: got.append((t, p, m, q))
    return c, got


def test_publish_with_properties_decodes_to_topic_payload_and_id() -> None:
    c, got = _client()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("source", "gateway-7"), ("区", "渝中")]
    props.ContentType = "application/json"
    props.MessageExpiryInterval = 3600
    packet = _publish("cityhub/v1/devices/x/telemetry", b'{"values": {"a": 1}}', 4242, props=props)
    assert c._publish_fast(packet[0], packet[2:]) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [(b"cityhub/v1/devices/x/telemetry", b'{"values": {"a": 1}}', 4242, 1)]


def test_qos0_has_no_packet_id_and_empty_payload_is_kept() -> None:
    c, got = _client()
    packet = _publish("t", b"", 0, qos=0)
    assert c._publish_fast(packet[0], packet[2:]) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [(b"t", b"", 0, 0)]


@pytest.mark.parametrize("cut", [1, 3, 5, 7])
def test_truncated_packets_are_protocol_errors_not_exceptions(cut: int) -> None:
    c, got = _client()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v" * 20)]
    packet = _publish("cityhub/v1/devices/x/telemetry", b"", 7, props=props)[2:]
    assert c._publish_fast(0x32, packet[:cut]) == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert got == []


def test_qos1_packet_id_zero_is_refused() -> None:
    c, got = _client()
    packet = _publish("t", b"x", 0)
    assert c._publish_fast(packet[0], packet[2:]) == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert got == []


def test_drain_takes_complete_publishes_and_leaves_the_rest_to_paho() -> None:
    c, got = _client()
    big = b"y" * 300  # a two-byte remaining length
    first, second = _publish("a/1", b"one", 1), _publish("a/2", big, 2)
    pingresp = b"\xd0\x00"
    partial = _publish("a/3", b"three", 3)[:-2]
    sock = _ReadAheadSocket(_FakeSocket(first + second + pingresp + partial))  # type: ignore[arg-type]  # a fake with the two socket methods the reader calls
    assert sock.recv(0) == b""  # fills the read-ahead buffer
    assert c._drain_publishes(sock) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [(b"a/1", b"one", 1, 1), (b"a/2", big, 2, 1)]
    # stopped at the PINGRESP: paho reads it (and the partial packet after it) the usual way
    assert sock.pending() == len(pingresp) + len(partial)
    assert sock.recv(2) == pingresp


def test_batched_acks_are_one_outgoing_packet_of_pubacks() -> None:
    c, _got = _client()
    c.ack_many([(1, 1), (258, 1), (65535, 1)])
    assert len(c._out_packet) == 1
    assert c._out_packet[0]["packet"] == b"\x40\x02\x00\x01" + b"\x40\x02\x01\x02" + b"\x40\x02\xff\xff"

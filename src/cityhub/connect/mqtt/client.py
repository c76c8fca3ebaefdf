"""paho's client on a read-ahead socket with its own MQTT 5 PUBLISH decoder (decision 0001); publishers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode


class _ReadAheadSocket:
    """A plain TCP socket whose `recv` serves paho's small reads from one large read.

    paho reads every packet with at least three `recv` calls (command byte, each remaining-length byte, body) and
    handles one packet per `select()`. At thousands of messages per second those system calls are most of the
    worker's network thread. This wrapper reads up to 256 KiB at once and reports what it holds through
    `pending()`, the hook paho already uses for TLS sockets, so paho keeps reading without waiting in select.
    """

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        """Up to n bytes: from the read-ahead buffer, else one large read (BlockingIOError when none)."""
        if self._pos >= len(self._buf):
            data = self._sock.recv(262144)
            if not data:
                return b""
            self._buf, self._pos = data, 0
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def pending(self) -> int:
        """Bytes read ahead and not yet consumed."""
        return len(self._buf) - self._pos

    def __getattr__(self, name: str) -> Any:  # send, setblocking, fileno, close … go to the socket itself
        return getattr(self._sock, name)


class ReadAheadClient(mqtt.Client):
    """paho's client on a read-ahead socket, draining every buffered packet per network-loop turn.

    Relies on paho 2.x internals (`_create_socket`, `_sock`), pinned by `paho-mqtt<3` in pyproject; TLS and
    websocket transports are left as paho makes them.
    """

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if type(sock) is socket.socket:
            return _ReadAheadSocket(sock)
        return sock

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # With no per-topic callbacks registered (cityhub never registers any), skip paho's walk of its topic
        # trie for every message (about a tenth of the worker's network time) and call on_message directly.
        if self._on_message_filtered._root._children or self.on_message is None:
            super()._handle_on_message(message)
            return
        with self._in_callback_mutex:
            self.on_message(self, self._userdata, message)

    # Set by a consumer that wants PUBLISH packets as (topic, payload, mid, qos, dup) without paho's MQTTMessage:
    # see `_handle_publish`. None keeps paho's own path (and `on_message`).
    on_raw_publish: Callable[[bytes, bytes, int, int, bool], None] | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        """Hand an MQTT 5 QoS 0/1 PUBLISH straight to `on_raw_publish` (see `_publish_fast`); else paho's path."""
        header = self._in_packet["command"]
        if self.on_raw_publish is None or header & 0x06 == 0x04 or self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        return self._publish_fast(header, self._in_packet["packet"])

    def _publish_fast(self, header: int, packet: bytes | bytearray) -> MQTTErrorCode:
        """Decode one QoS 0/1 PUBLISH (`packet` = everything after the fixed header) without paho's objects.

        paho builds a `Properties` object and an MQTTMessage for every MQTT 5 PUBLISH: measured with cProfile,
        about 40 % of the ingest worker's network time. The worker reads no publish property, and it never grants
        topic aliases (no Topic Alias Maximum in CONNECT), so a broker always sends the topic itself.
        """
        qos = (header & 0x06) >> 1
        try:
            pos = 2 + int.from_bytes(packet[0:2], "big")
            topic = bytes(packet[2:pos])
            mid = 0
            if qos:
                mid = int.from_bytes(packet[pos:pos + 2], "big")
                pos += 2
            plen, shift = 0, 0  # property length: a variable byte integer of at most four bytes
            while True:
                byte = packet[pos]
                pos += 1
                plen |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
            pos += plen
        except IndexError:  # a packet shorter than its own lengths
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        if pos > len(packet) or (qos and mid == 0):
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        self.on_raw_publish(topic, bytes(packet[pos:]), mid, qos,  # type: ignore[misc]  # set: checked by callers
                            bool(header & 0x08))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _drain_publishes(self, sock: _ReadAheadSocket) -> MQTTErrorCode:
        """Dispatch the complete QoS 0/1 PUBLISH packets at the head of the read-ahead buffer.

        paho reads a packet with at least three `recv` calls and rebuilds its state dict after each; here a run of
        buffered PUBLISH packets is sliced out of the buffer directly. Stops at anything else (another packet type,
        QoS 2, a packet not yet complete), which paho then reads the usual way from the same position.
        """
        buf, pos, end = sock._buf, sock._pos, len(sock._buf)
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while pos < end:
            header = buf[pos]
            if header & 0xF0 != 0x30 or header & 0x06 == 0x04:
                break
            i, length, shift = pos + 1, 0, 0
            while i < end and shift <= 21:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
            else:
                break  # remaining length incomplete (or over four bytes: paho reports the protocol error)
            if i + length > end:
                break
            rc = self._publish_fast(header, buf[i:i + length])
            pos = i + length
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if pos != sock._pos:
            sock._pos = pos
            with self._msgtime_mutex:
                self._last_bytes_received = mqtt.time_func()
        return rc

    def ack_many(self, items: Sequence[tuple[int, int]]) -> None:
        """Acknowledge (mid, qos) pairs, written out in one pass instead of one socket write per acknowledgement."""
        if self._manual_ack and all(qos == 1 for _mid, qos in items):
            # one write for the whole batch: the PUBACKs back to back, queued as a single outgoing packet
            blob = b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid, _qos in items)
            if blob:
                self._packet_queue(mqtt.PUBACK, blob, 0, 0)
            return
        with self._in_callback_mutex:  # paho writes each queued packet at once unless this lock is held
            for mid, qos in items:
                if qos > 0:
                    self.ack(mid, qos)
        if self._thread is None:
            self.loop_write()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets while the read-ahead buffer holds any (bounded, so writes and keepalives still run)."""
        rc = super().loop_read(max_packets)
        current = self._sock
        if not isinstance(current, _ReadAheadSocket):
            return rc
        sock: _ReadAheadSocket = current
        fast = self.on_raw_publish is not None and self._protocol == mqtt.MQTTv5
        turns = 0
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and sock.pending() and self._sock is current and turns < 2000:
            if fast and self._in_packet["command"] == 0:
                rc = self._drain_publishes(sock)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return self._loop_rc_handle(rc)
                if not sock.pending():
                    break
            rc = super().loop_read(max_packets)
            turns += 1
        return rc


@dataclass(frozen=True)
class BrokerUrl:
    """Host, port and credentials of an `mqtt://user:pass@host:port` URL."""

    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """Parse mqtt://[user[:pass]@]host[:port]."""
        p = urlparse(url if "://" in url else f"mqtt://{url}")
        return cls(p.hostname or "127.0.0.1", p.port or 1883, unquote(p.username) if p.username else None,
                   unquote(p.password) if p.password else None)


def publisher(url: str, client_id: str | None = None, username: str | None = None, password: str | None = None,
              max_inflight: int = 100, threaded: bool = True) -> mqtt.Client:
    """A connected MQTT 3.1.1 publisher, with its network thread running unless `threaded` is false.

    Without the thread the caller drives the network with `client.loop(0)` between publishes: about a third less
    CPU per message (no cross-thread wake-ups), which is what a flat-out benchmark publisher wants.

    A modest in-flight window is faster than a large one: paho walks its outgoing-message table on every PUBACK,
    so thousands in flight cost more per acknowledgement than they save in round trips (measured: 2,000 in flight
    published at about a third of the rate of 100 on this machine).
    """
    broker = BrokerUrl.parse(url)
    client = ReadAheadClient(CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"cityhub-pub-{uuid.uuid4().hex[:12]}",
                             protocol=mqtt.MQTTv311)
    user, pw = username or broker.username, password or broker.password
    if user:
        client.username_pw_set(user, pw)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port, keepalive=30)
    if threaded:
        client.loop_start()
    return client

"""Slow MQTT consumers (raw sockets that stop reading, paho-mqtt for the
others): a QoS 0 subscriber that stops reading is bounded by
``junction.outbound_queue_bytes`` and closed as a slow consumer (logged,
counted), a QoS 1 subscriber that stops acknowledging is bounded by its
Receive Maximum and ``max_queued_messages`` (the rest dropped and counted in
``$SYS``); the other subscribers get every message."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from mqttclient import TIMEOUT, V5, V311, Mqtt
from routerproc import RouterProcess
from test_mqtt_sessions import raw_subscribe, read_packet

pytestmark = pytest.mark.junction_only

QUEUE_BYTES = 256 * 1024
MAX_QUEUED = 20
RECEIVE_MAX = 5


@pytest.fixture
def slow_router(tmp_path_factory):
    proc = RouterProcess(
        tmp_path_factory.mktemp("slow"), junction={"outbound_queue_bytes": QUEUE_BYTES}
    )
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["junction"] = {"max_queued_messages": MAX_QUEUED, "sys_interval": 1}
    proc.start()
    yield proc
    proc.kill()


def stalled_client(port: int, topic: str, qos: int, receive_max: int | None = None) -> socket.socket:
    """A 5.0 client with a small receive buffer, subscribed; it then reads nothing."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    props = b"" if receive_max is None else b"\x21" + struct.pack(">H", receive_max)
    cid = f"stall-{qos}".encode()
    body = b"\x00\x04MQTT\x05\x02\x00\x3c" + bytes([len(props)]) + props
    body += struct.pack(">H", len(cid)) + cid
    s.sendall(b"\x10" + bytes([len(body)]) + body)
    assert read_packet(s)[0] == 0x20, "CONNACK"
    s.sendall(raw_subscribe(topic, qos, 5))
    assert read_packet(s)[0] == 0x90, "SUBACK"
    return s


def read_all(s: socket.socket, deadline_s: float) -> tuple[bytes, bool]:
    """Everything until the router closes (True) or the deadline (False)."""
    data = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def packets(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        j, length, mult = i + 1, 0, 1
        while j < len(data):
            length += (data[j] & 0x7F) * mult
            mult *= 128
            j += 1
            if not data[j - 1] & 0x80:
                break
        if j + length > len(data):
            break
        out.append(data[i : j + length])
        i = j + length
    return out


def test_a_qos0_subscriber_that_stops_reading_is_closed_alone(slow_router, made):
    topic = "slow/zero"
    size, count = 8 * 1024, 1500  # 12 MB: far past the queue and the socket buffers
    stalled = stalled_client(slow_router.mqtt_port, topic, 0)
    good = Mqtt(slow_router.mqtt_port, V311).connect()
    made.append(good)
    good.subscribe(topic, 0)
    received: list[int] = []
    done = threading.Event()

    def on_message(c, u, m):
        received.append(int.from_bytes(m.payload[:4], "big"))
        if len(received) == count:
            done.set()

    good.c.on_message = on_message
    pub = Mqtt(slow_router.mqtt_port, V5).connect()
    made.append(pub)
    window = QUEUE_BYTES // size // 2  # in flight to the good one: half its queue bound
    for i in range(count):
        # The good subscriber (Python) is never more than `window` behind,
        # however loaded the machine: it stays within its own bound.
        deadline = time.monotonic() + 60
        while i - len(received) >= window and time.monotonic() < deadline:
            time.sleep(0.002)
        pub.publish(topic, i.to_bytes(4, "big") + bytes(size - 4), qos=0)
    assert done.wait(60), f"the good subscriber got {len(received)} of {count}"
    assert received == list(range(count)), "all of them, in order"
    # The stalled one was closed: what it can still read is bounded, then EOF.
    stalled.settimeout(0.5)
    data, closed = read_all(stalled, 15)
    stalled.close()
    assert closed, "the router closed the slow consumer"
    assert len(data) < count * size / 2, len(data)
    got = [p for p in packets(data) if p[0] >> 4 == 3]
    assert got and len(got) < count / 2, len(got)
    log = slow_router.stderr_path.read_text(errors="replace")
    assert "closing slow consumer" in log, slow_router.logs()
    # Others still work.
    good.publish(topic, b"\x00\x00\x00\x00after", qos=0)


def test_a_qos1_subscriber_that_stops_acknowledging_is_bounded_by_its_queue(slow_router, made):
    topic = "slow/one"
    stalled = stalled_client(slow_router.mqtt_port, topic, 1, receive_max=RECEIVE_MAX)
    watcher = Mqtt(slow_router.mqtt_port, V5).connect()
    made.append(watcher)
    watcher.subscribe("$SYS/broker/listeners/mqtt_main/messages/dropped", 0)
    good = Mqtt(slow_router.mqtt_port, V5).connect()
    made.append(good)
    good.subscribe(topic, 1)
    pub = Mqtt(slow_router.mqtt_port, V5).connect()
    made.append(pub)
    total = 100
    for i in range(total):
        pub.publish(topic, f"m{i}".encode(), qos=1)
    assert [m.payload for m in good.expect(total)] == [f"m{i}".encode() for i in range(total)]
    # The stalled client has its Receive Maximum in flight and the queue
    # behind; the rest was dropped and counted (per listener, in $SYS).
    expected_drops = total - RECEIVE_MAX - MAX_QUEUED
    deadline = time.monotonic() + 10
    drops = 0
    while drops < expected_drops and time.monotonic() < deadline:
        for m in watcher.expect(1, timeout=3):
            drops = int(m.payload)
    assert drops == expected_drops, drops
    # Acknowledging brings the queued ones, in order, and no more.
    stalled.settimeout(2)
    seen = []
    while len(seen) < RECEIVE_MAX + MAX_QUEUED:
        p = read_packet(stalled)
        assert p[0] >> 4 == 3, p
        i = 1
        while p[i] & 0x80:
            i += 1
        i += 1
        tlen = struct.unpack(">H", p[i : i + 2])[0]
        pid = p[i + 2 + tlen : i + 4 + tlen]
        plen = p[i + 4 + tlen]
        seen.append(p[i + 5 + tlen + plen :])
        stalled.sendall(b"\x40\x02" + pid)
    assert seen == [f"m{i}".encode() for i in range(RECEIVE_MAX + MAX_QUEUED)]
    stalled.settimeout(1)
    with pytest.raises(socket.timeout):
        stalled.recv(1)
    stalled.close()

"""A universal transport on a Unix socket: the first octet chooses MQTT
(raw packets and paho-mqtt's ``unix`` transport), RawSocket (an
Autobahn|Python session) or HTTP/WebSocket (an upgrade), as on TCP."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import struct
import time

import paho.mqtt.client as paho
import pytest
from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.wamp.serializer import JsonSerializer

from mqttclient import TIMEOUT, V5, Mqtt
from routerproc import RouterProcess
from test_mqtt_sessions import raw_subscribe, read_packet
from wampclient import Client

pytestmark = pytest.mark.junction_only

PASSTHROUGH = {"": {"type": "passthrough"}}


def start_unix_universal(work, **services) -> RouterProcess:
    """A router with a universal transport on the Unix socket ``work/uni.sock``
    (MQTT always, plus ``services``), started; its path in ``unix_path``."""
    proc = RouterProcess(work)
    path = str(work / "uni.sock")
    proc.config["workers"][0]["transports"].append(
        {
            "type": "universal",
            "id": "uni_unix",
            "endpoint": {"type": "unix", "path": path},
            **services,
            "mqtt": {"options": {"realm": "realm1", "role": "anonymous", "payload_mapping": PASSTHROUGH}},
        }
    )
    proc.start()
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.unix_path = path
    return proc


@pytest.fixture(scope="module")
def unix_router(tmp_path_factory):
    proc = start_unix_universal(
        tmp_path_factory.mktemp("unix"),
        rawsocket={"serializers": ["json", "msgpack"]},
        websocket={"ws": {"type": "websocket", "serializers": ["json"]}},
    )
    yield proc
    proc.kill()


def unix(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s


def mqtt_connect(s: socket.socket, cid: bytes) -> None:
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(cid)) + cid
    s.sendall(b"\x10" + bytes([len(body)]) + body)
    assert read_packet(s) == b"\x20\x02\x00\x00", "CONNACK accepted"


def test_mqtt_over_the_unix_universal_transport(unix_router, made):
    topic = "unix/" + secrets.token_hex(3)
    # A TCP subscriber sees what a Unix client publishes, and the other way.
    tcp = Mqtt(unix_router.mqtt_port, V5).connect()
    made.append(tcp)
    tcp.subscribe(topic + "/up", 0)
    with unix(unix_router.unix_path) as s:
        mqtt_connect(s, b"raw-unix")
        s.sendall(raw_subscribe(topic + "/down", 0, 4))
        assert read_packet(s)[0] == 0x90
        t = (topic + "/up").encode()
        s.sendall(b"\x30" + bytes([2 + len(t) + 5]) + struct.pack(">H", len(t)) + t + b"hello")
        assert tcp.expect(1)[0].payload == b"hello"
        tcp.publish(topic + "/down", b"back", qos=0)
        p = read_packet(s)
        assert p[0] == 0x30 and p.endswith(b"back"), p
    # paho-mqtt's own Unix transport.
    got = []
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="paho-unix", transport="unix")
    c.on_message = lambda c, u, m: got.append(m.payload)
    c.connect(unix_router.unix_path)
    c.loop_start()
    try:
        c.subscribe(topic + "/down", 0)
        time.sleep(0.3)
        tcp.publish(topic + "/down", b"paho", qos=0)
        deadline = time.monotonic() + TIMEOUT
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == [b"paho"]
    finally:
        c.disconnect()
        c.loop_stop()


async def test_rawsocket_and_websocket_over_the_unix_universal_transport(unix_router):
    loop = asyncio.get_running_loop()
    session = Client("realm1", "unix-rawsocket")
    factory = WampRawSocketClientFactory(lambda: session, serializer=JsonSerializer())
    await asyncio.wait_for(loop.create_unix_connection(factory, unix_router.unix_path), TIMEOUT)
    await asyncio.wait_for(asyncio.shield(session.joined), TIMEOUT)
    try:
        uri = "com.unix.r" + secrets.token_hex(3)
        await session.register(lambda x: x * 2, uri)
        assert await session.call(uri, 21) == 42
    finally:
        await session.close()
    # An HTTP request: the WebSocket upgrade of the `ws` entry.
    key = base64.b64encode(os.urandom(16)).decode()
    with unix(unix_router.unix_path) as s:
        s.sendall(
            (
                "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
            ).encode()
        )
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head


def test_under_readiness_io_the_unix_universal_transport_drops_with_a_warning(tmp_path_factory, monkeypatch):
    """glommio's readiness-based Unix streams cannot be peeked: each
    connection is dropped, the router says why once, and nothing crashes."""
    monkeypatch.setenv("JUNCTION_IO", "readiness")
    proc = start_unix_universal(tmp_path_factory.mktemp("unix-readiness"))
    try:
        for _ in range(2):
            with unix(proc.unix_path) as s:
                # The router may drop the stream before the byte arrives:
                # a broken pipe on the send is the same answer as an EOF.
                try:
                    s.sendall(b"\x10")
                    assert s.recv(16) == b"", "dropped"
                except (BrokenPipeError, ConnectionResetError):
                    pass
        log = proc.stderr_path.read_text(errors="replace")
        assert log.count("needs the io_uring data path") == 1, proc.logs()
        assert proc.alive()
    finally:
        proc.kill()

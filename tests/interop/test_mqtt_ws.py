"""MQTT over WebSocket: a web transport's ``mqtt`` path (a Junction extension,
subprotocol ``mqtt``), with paho-mqtt (``transport="websockets"``) and MQTT.js
(``ws://`` URL), routed to and from Autobahn|Python sessions on a WebSocket
path of the same port and MQTT clients on a plain MQTT port.

Also the refusals: a plain GET (426), only a foreign subprotocol offered
(400), a text message after the upgrade (close 1003).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import struct
import subprocess
import types
from pathlib import Path

import pytest
from autobahn.wamp.types import PublishOptions

from mqttclient import TIMEOUT, V5, V311, Mqtt, close_all, pool
from routerproc import RouterProcess, free_port
from wampclient import EventSink, connect

pytestmark = pytest.mark.junction_only

MQTT_OPTIONS = {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}}


def config(web_port: int, mqtt_port: int) -> dict:
    anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
    return {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [anyone]}]}],
                "transports": [
                    {
                        "type": "web",
                        "id": "web1",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": web_port},
                        "paths": {
                            "ws": {"type": "websocket", "serializers": ["json", "msgpack"]},
                            "mqtt": {"type": "mqtt", "options": MQTT_OPTIONS},
                        },
                    },
                    {
                        "type": "mqtt",
                        "id": "mqtt1",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": mqtt_port},
                        "options": MQTT_OPTIONS,
                    },
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mqtt_ws")
    web_port, mqtt_port = free_port(), free_port()
    proc = RouterProcess(workdir, config=config(web_port, mqtt_port), wait_ports=[web_port, mqtt_port]).start()
    yield types.SimpleNamespace(
        proc=proc,
        port=web_port,
        mqtt_port=mqtt_port,
        ws_url=f"ws://127.0.0.1:{web_port}/ws",
        ws_port=web_port,
    )
    alive = proc.alive()
    proc.kill()
    assert alive, f"router died during the MQTT over WebSocket tests:\n{proc.logs()}"


@pytest.fixture
def mqtt(node):
    make, made = pool(
        lambda version=V311, ws=True: Mqtt(
            node.port if ws else node.mqtt_port, version, ws_path="/mqtt" if ws else None
        )
    )
    yield make
    close_all(made)


def topic_of(prefix: str) -> str:
    return f"{prefix}/{secrets.token_hex(4)}"


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_websocket_and_tcp_clients_on_one_broker(mqtt, version, qos):
    t = topic_of("ws")
    over_ws = mqtt(version).connect()
    over_tcp = mqtt(version, ws=False).connect()
    over_ws.subscribe(t, qos)
    over_tcp.subscribe(t, qos)
    pub = mqtt(version).connect()
    # Payloads of several sizes: frames of 7-bit, 16-bit and 64-bit lengths.
    payloads = [b"x", os.urandom(300), os.urandom(70_000)]
    for p in payloads:
        pub.publish(t, p, qos=qos)
    for sub in (over_ws, over_tcp):
        got = sub.expect(3)
        assert [m.payload for m in got] == payloads
        assert all(m.qos == qos for m in got)


async def test_mqtt_over_websocket_to_wamp_and_back(node, mqtt):
    t = topic_of("devices")
    uri = t.replace("/", ".")
    wamp = await connect(node, "ws", "msgpack")
    try:
        sink = EventSink()
        await wamp.subscribe(sink, uri)
        await asyncio.to_thread(lambda: mqtt(V5).connect().publish(t, b"21.5", qos=1))
        args, _ = (await sink.wait_count(1))[0]
        assert args == (b"21.5",)

        sub = await asyncio.to_thread(lambda: mqtt(V311).connect())
        await asyncio.to_thread(sub.subscribe, t + "/cmd", 1)
        await wamp.publish(uri + ".cmd", b"on", options=PublishOptions(acknowledge=True))
        (m,) = await asyncio.to_thread(sub.expect, 1)
        assert (m.topic, m.payload, m.qos) == (t + "/cmd", b"on", 1)
    finally:
        await wamp.close()


def test_mqtt_js_over_websocket(node):
    """MQTT.js (3.1.1 and 5.0) with a ws:// URL, and Autobahn|JS (js/mqtt_wamp.js)."""
    from test_js_pubsub import node_command

    js_dir = Path(__file__).resolve().parent / "js"
    if not (js_dir / "node_modules" / "mqtt").is_dir():
        pytest.fail("MQTT.js is not installed: npm ci in tests/interop/js (tests/run.sh does)")
    r = subprocess.run(
        [*node_command(), str(js_dir / "mqtt_wamp.js"), f"ws://127.0.0.1:{node.port}/mqtt", node.ws_url],
        cwd=js_dir,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [line for line in r.stdout.splitlines() if line.startswith("JS-OK")]
    assert last and int(last[-1].split()[1]) == 6, out


def _upgrade(port: int, protocols: str | None) -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    proto = f"Sec-WebSocket-Protocol: {protocols}\r\n" if protocols else ""
    s.sendall(
        (
            f"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{proto}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def _masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def test_refusals_and_a_text_message(node):
    s, head = _upgrade(node.port, "mqttv3.1")
    s.close()
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"mqtt" in head

    s, head = _upgrade(node.port, "mqtt")
    with s:
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"Sec-WebSocket-Protocol: mqtt" in head
        s.sendall(_masked(0x1, b"\x10"))
        frame = s.recv(64)
        assert frame[0] == 0x88, frame
        assert struct.unpack("!H", frame[2:4])[0] == 1003

    # A plain GET says what the path is; the router keeps serving.
    with socket.create_connection(("127.0.0.1", node.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 426")
    m = Mqtt(node.port, V311, ws_path="/mqtt").connect()
    m.close()

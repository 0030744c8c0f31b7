"""MQTT 5 enhanced authentication (AUTH): ``WAMP-CRA`` through AUTH packets
where the transport's ``auth`` has ``wampcra`` (raw packets: the router's
challenge as JSON Authentication Data, the HMAC-SHA256 signature back);
any other Authentication Method gets CONNACK 0x8C Bad authentication method
(paho-mqtt and raw packets), an AUTH packet from a client that asked for no
method is a Protocol Error (DISCONNECT 0x82), 3.1.1 has no AUTH packet
(closed); the router goes on serving."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import struct

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttclient import TIMEOUT, V5, V311, Mqtt
from routerproc import RouterProcess
from test_mqtt_sessions import read_packet

pytestmark = pytest.mark.junction_only


def raw_connect(level: int, props: bytes = b"") -> bytes:
    body = b"\x00\x04MQTT" + bytes([level, 0x02]) + b"\x00\x3c"
    if level == 5:
        body += bytes([len(props)]) + props
    body += b"\x00\x01a"
    return b"\x10" + bytes([len(body)]) + body


def read_until_closed(s: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_an_authentication_method_gets_0x8c(router, made):
    m = Mqtt(router.mqtt_port, V5)
    p = Properties(PacketTypes.CONNECT)
    p.AuthenticationMethod = "SCRAM-SHA-1"
    p.AuthenticationData = b"n,,n=user,r=abc"
    m.connect(properties=p)
    made.append(m)
    assert m.connack_code.value == 0x8C, m.connack_code
    assert m.disconnected.wait(TIMEOUT), "closed after the refusal"
    # Raw: exactly the CONNACK, then the end.
    method = b"\x15" + struct.pack(">H", 8) + b"WAMP-CRA"
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=TIMEOUT) as s:
        s.sendall(raw_connect(5, method))
        assert read_until_closed(s) == b"\x20\x03\x00\x8c\x00"
    # Others are served.
    ok = Mqtt(router.mqtt_port, V5).connect()
    made.append(ok)
    assert ok.connack_code.value == 0


def test_an_auth_packet_without_a_method_is_a_protocol_error(router):
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=TIMEOUT) as s:
        s.sendall(raw_connect(5))
        connack = read_packet(s)
        assert connack[0] == 0x20 and connack[3] == 0x00, connack
        # AUTH, Re-authenticate (0x19) with a method: no method was agreed.
        props = b"\x15" + struct.pack(">H", 5) + b"PLAIN"
        body = b"\x19" + bytes([len(props)]) + props
        s.sendall(b"\xf0" + bytes([len(body)]) + body)
        rest = read_until_closed(s)
        assert rest[:1] == b"\xe0" and rest[2] == 0x82, rest
    # 3.1.1 has no AUTH packet: the connection is closed.
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=TIMEOUT) as s:
        s.sendall(raw_connect(4))
        assert read_packet(s) == b"\x20\x02\x00\x00"
        s.sendall(b"\xf0\x00")
        assert read_until_closed(s) == b""
    ok = Mqtt(router.mqtt_port, V311).connect()
    ok.close()


# --- WAMP-CRA through AUTH ----------------------------------------------------

USERS = {"joe": {"secret": "secret1", "role": "anonymous"}}


@pytest.fixture(scope="module")
def cra_router(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("mqtt-cra"))
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["options"]["auth"] = {
                "wampcra": {"type": "static", "users": USERS},
                "anonymous": {"type": "static", "role": "anonymous"},
            }
    proc.start()
    yield proc
    proc.kill()


def mqtt_str(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


def props_of(data: bytes) -> dict[int, bytes]:
    """Authentication Method (0x15) and Data (0x16) of a property block."""
    out, i = {}, 0
    while i < len(data):
        pid = data[i]
        n = struct.unpack(">H", data[i + 1 : i + 3])[0]
        out[pid] = data[i + 3 : i + 3 + n]
        i += 3 + n
    return out


def cra_connect(port: int, user: bytes, secret: bytes, method: bytes = b"WAMP-CRA"):
    """CONNECT naming the method, answer the router's AUTH; the CONNACK."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    props = b"\x15" + mqtt_str(method)
    body = b"\x00\x04MQTT\x05" + bytes([0x82]) + b"\x00\x3c" + bytes([len(props)]) + props
    body += mqtt_str(b"cra-client") + mqtt_str(user)
    s.sendall(b"\x10" + bytes([len(body)]) + body)
    auth = read_packet(s)
    assert auth[0] == 0xF0, auth
    # fixed header (1 + 1-2 length octets), reason, property length, properties
    i = 2 if auth[1] < 0x80 else 3
    assert auth[i] == 0x18, "Continue authentication"
    j, plen, mult = i + 1, 0, 1
    while True:  # the property length, a Variable Byte Integer
        plen += (auth[j] & 0x7F) * mult
        mult *= 128
        j += 1
        if not auth[j - 1] & 0x80:
            break
    p = props_of(auth[j : j + plen])
    assert p[0x15] == method
    extra = json.loads(p[0x16])
    sig = base64.b64encode(
        hmac.new(secret, extra["challenge"].encode(), hashlib.sha256).digest()
    )
    answer = b"\x15" + mqtt_str(method) + b"\x16" + mqtt_str(sig)
    body = b"\x18" + bytes([len(answer)]) + answer
    assert len(answer) < 128 and len(body) < 128
    s.sendall(b"\xf0" + bytes([len(body)]) + body)
    return s, read_packet(s)


def test_wamp_cra_through_auth(cra_router):
    s, connack = cra_connect(cra_router.mqtt_port, b"joe", b"secret1")
    with s:
        assert connack[0] == 0x20 and connack[3] == 0x00, connack
        assert b"\x15" + mqtt_str(b"WAMP-CRA") in connack, "CONNACK names the method"
        s.sendall(b"\xc0\x00")
        assert read_packet(s) == b"\xd0\x00", "PINGRESP: the session is up"
        # Re-authentication is not offered: a Protocol Error.
        body = b"\x19" + bytes([len(b"WAMP-CRA") + 3]) + b"\x15" + mqtt_str(b"WAMP-CRA")
        s.sendall(b"\xf0" + bytes([len(body)]) + body)
        rest = read_until_closed(s)
        assert rest[:1] == b"\xe0" and rest[2] == 0x82, rest
    # A wrong secret: CONNACK 0x87 Not authorized, then the end.
    s, connack = cra_connect(cra_router.mqtt_port, b"joe", b"wrong")
    with s:
        assert connack[0] == 0x20 and connack[3] == 0x87, connack
        assert read_until_closed(s) == b""
    # Another method on the same listener: 0x8C.
    with socket.create_connection(("127.0.0.1", cra_router.mqtt_port), timeout=TIMEOUT) as s:
        s.sendall(raw_connect(5, b"\x15" + mqtt_str(b"SCRAM-SHA-256")))
        assert read_until_closed(s) == b"\x20\x03\x00\x8c\x00"
    # Plain clients still log in (anonymous).
    ok = Mqtt(cra_router.mqtt_port, V5).connect()
    assert ok.connack_code.value == 0
    ok.close()

"""MQTT 5 enhanced authentication (AUTH) is not offered: a CONNECT with an
Authentication Method gets CONNACK 0x8C Bad authentication method (paho-mqtt
and raw packets), an AUTH packet from a client that asked for no method is a
Protocol Error (DISCONNECT 0x82), 3.1.1 has no AUTH packet (closed); the
router goes on serving."""

from __future__ import annotations

import socket
import struct

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttclient import TIMEOUT, V5, V311, Mqtt
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

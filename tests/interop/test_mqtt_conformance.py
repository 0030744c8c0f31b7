"""MQTT conformance gaps the Eclipse Paho interoperability suite found
(tests/compat/paho_interop.sh), each checked here with paho-mqtt: topics
with empty levels (``/TopicA``, the will topic of the suite's keep-alive
tests) are routed, MQTT to MQTT, as wills, and to and from WAMP as URIs
with a ``+`` component; a PUBLISH whose payload fits the client's Maximum
Packet Size but whose whole packet, packet identifier included, does not is
not sent (client_test5 test_maximum_packet_size), nor one that a new Topic
Alias would take over it (it goes without the alias); a WAMP URI whose MQTT
form would hold a wildcard character is not sent to MQTT subscribers."""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct

import pytest
from autobahn.wamp.types import PublishOptions
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttclient import TIMEOUT, V5, V311, Mqtt
from test_mqtt_sessions import raw_subscribe, read_packet
from wampclient import EventSink

pytestmark = pytest.mark.junction_only


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_topics_with_empty_levels_are_routed(router, made, version):
    # MQTT section 4.7.1.1: a zero-length level is a level; `/a` and `a/`
    # are topics of their own, `+` matches an empty level.
    tag = secrets.token_hex(4)
    sub = Mqtt(router.mqtt_port, version).connect()
    made.append(sub)
    # Each name matches one filter: an exact one or one with `+` for the
    # empty level.
    names = [f"/{tag}", f"{tag}//x", f"{tag}/", f"/{tag}/"]
    for f in [f"/{tag}", f"{tag}/+/x", f"{tag}/", f"+/{tag}/+"]:
        code = sub.subscribe(f, 1)[0]
        assert getattr(code, "value", code) == 1, f"SUBACK of {f}: {code}"
    pub = Mqtt(router.mqtt_port, version).connect()
    made.append(pub)
    for n in names:
        pub.publish(n, n.encode(), qos=1)
    got = sorted((m.topic, m.payload) for m in sub.expect(len(names)))
    sub.nothing(0.5)
    assert got == sorted((n, n.encode()) for n in names), "each topic arrives under its own name"


async def test_an_empty_level_is_a_plus_component_for_wamp(router, made, clients):
    # `/x` ↔ `+.x`: WAMP clients see and use the URI (docs/mqtt.md).
    tag = secrets.token_hex(4)
    wamp = await clients("ws", "json")
    sink = EventSink()
    await wamp.subscribe(sink, f"+.{tag}.up")
    pub = await asyncio.to_thread(lambda: Mqtt(router.mqtt_port, V5).connect())
    made.append(pub)
    await asyncio.to_thread(pub.publish, f"/{tag}/up", b"21.5", 1)
    args, _ = (await sink.wait_count(1))[0]
    assert args == (b"21.5",)
    sub = await asyncio.to_thread(lambda: Mqtt(router.mqtt_port, V5).connect())
    made.append(sub)
    await asyncio.to_thread(sub.subscribe, f"/{tag}/down/", 1)
    await wamp.publish(f"+.{tag}.down.+", b"on", options=PublishOptions(acknowledge=True))
    (m,) = await asyncio.to_thread(sub.expect, 1)
    assert (m.topic, m.payload) == (f"/{tag}/down/", b"on")


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
async def test_a_wamp_uri_with_a_wildcard_inside_a_level_is_not_sent_to_mqtt(
    router, made, clients, version
):
    # A loose WAMP URI may hold `+` inside a component (`x.b+c`); its MQTT
    # form would be a topic name with a wildcard character, which
    # MQTT-4.7.0-1 forbids (strict clients drop the connection). MQTT
    # subscribers do not get it; the next publication arrives as usual.
    tag = secrets.token_hex(4)
    sub = await asyncio.to_thread(lambda: Mqtt(router.mqtt_port, version).connect())
    made.append(sub)
    await asyncio.to_thread(sub.subscribe, f"{tag}/#", 1)
    wamp = await clients("ws", "json")
    ack = PublishOptions(acknowledge=True)
    await wamp.publish(f"{tag}.b+c", b"bad", options=ack)
    await wamp.publish(f"{tag}.ok", b"good", options=ack)
    (m,) = await asyncio.to_thread(sub.expect, 1)
    assert (m.topic, m.payload) == (f"{tag}/ok", b"good")
    await asyncio.to_thread(sub.nothing, 0.5)


def test_a_will_on_an_empty_level_topic_is_published(router, made):
    # What paho's client_test keep-alive test does: the will topic is `/TopicA`.
    t = f"/{secrets.token_hex(4)}"
    watcher = Mqtt(router.mqtt_port, V311).connect()
    made.append(watcher)
    watcher.subscribe(t, 1)
    dev = Mqtt(router.mqtt_port, V311)
    made.append(dev)
    dev.connect(will={"topic": t, "payload": b"gone", "qos": 1})
    dev.drop()
    (m,) = watcher.expect(1)
    assert (m.topic, m.payload) == (t, b"gone")


def test_v5_maximum_packet_size_counts_the_packet_identifier(router, made):
    # MQTT-3.1.2-24: a QoS 1/2 PUBLISH is 2 bytes longer than its QoS 0 form.
    t = f"mps-pid/{secrets.token_hex(4)}"
    maximum = 64
    cp = Properties(PacketTypes.CONNECT)
    cp.MaximumPacketSize = maximum
    sub = Mqtt(router.mqtt_port, V5)
    made.append(sub)
    sub.connect(properties=cp)
    sub.subscribe(t, 2)
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    # Fixed header 2, topic 2 + len, property length 1; QoS > 0: + 2.
    head0 = 2 + 2 + len(t) + 1
    fits1 = b"a" * (maximum - head0 - 2)
    over1 = b"b" * (maximum - head0 - 1)  # the payload fits, the packet not
    fits0 = b"c" * (maximum - head0)
    over0 = b"d" * (maximum - head0 + 1)
    pub.publish(t, over1, qos=1)
    pub.publish(t, over1, qos=2)
    pub.publish(t, fits1, qos=1)
    pub.publish(t, fits1, qos=2)
    pub.publish(t, over0, qos=0)
    pub.publish(t, fits0, qos=0)
    # Paho hands a QoS 2 message to the application only on PUBREL, one
    # round trip later, so the QoS 0 one may overtake it: compare as a set.
    got = sorted((m.qos, m.payload) for m in sub.expect(3))
    assert got == [(0, fits0), (1, fits1), (2, fits1)], "only packets within 64 bytes"
    sub.nothing(0.5)
    assert not sub.disconnected.is_set()


def test_v5_a_topic_alias_does_not_take_a_packet_over_the_maximum(router, made):
    # MQTT-3.1.2-24 with Topic Alias Maximum > 0: the alias property adds 3
    # bytes to a packet that fits without it.
    t = f"mps-alias/{secrets.token_hex(4)}"
    maximum = 100
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=TIMEOUT) as s:
        cid = f"mps-alias-{secrets.token_hex(3)}".encode()
        props = b"\x22\x00\x05" + b"\x27" + struct.pack(">I", maximum)
        body = b"\x00\x04MQTT\x05\x02\x00\x3c" + bytes([len(props)]) + props
        body += struct.pack(">H", len(cid)) + cid
        s.sendall(b"\x10" + bytes([len(body)]) + body)
        assert read_packet(s)[0] == 0x20, "CONNACK"
        s.sendall(raw_subscribe(t, 0, 5))
        assert read_packet(s)[0] == 0x90, "SUBACK"
        pub = Mqtt(router.mqtt_port, V5).connect()
        made.append(pub)
        # Fixed header 2, topic 2 + len, property length 1.
        exact = b"x" * (maximum - (5 + len(t)))
        pub.publish(t, exact, qos=0)
        pub.publish(t, b"small", qos=0)
        first, second = read_packet(s), read_packet(s)
        assert len(first) == maximum, f"{len(first)} bytes under a {maximum}-byte maximum"
        assert first[4 + len(t)] == 0, "no properties: no Topic Alias"
        assert first.endswith(exact)
        # The next delivery of the topic gets the alias, with the topic.
        assert second[4 + len(t) : 4 + len(t) + 4] == b"\x03\x23\x00\x01", second
        assert second.endswith(b"small")


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_filter_over_the_topic_limits_is_refused_alone(router, made, version):
    # A well-formed filter deeper than max_topic_levels (128) is "correctly
    # formed but not allowed" (5.0: SUBACK 0x8F; 3.1.1: 0x80): the other
    # filters of the same SUBSCRIBE are served and the connection stays.
    tag = secrets.token_hex(4)
    m = Mqtt(router.mqtt_port, version).connect()
    made.append(m)
    deep = f"{tag}/" + "/".join(["x"] * 128)
    topics = [(deep, 1), (f"{tag}/ok", 1)]
    if version == V5:
        from paho.mqtt.subscribeoptions import SubscribeOptions

        _, mid = m.c.subscribe([(t, SubscribeOptions(qos=q)) for t, q in topics])
    else:
        _, mid = m.c.subscribe(topics)
    got_mid, codes = m.subacks.get(timeout=TIMEOUT)
    assert got_mid == mid
    values = [c if isinstance(c, int) else c.value for c in codes]
    assert values == [0x8F if version == V5 else 0x80, 1]
    pub = Mqtt(router.mqtt_port, version).connect()
    made.append(pub)
    pub.publish(f"{tag}/ok", b"still here", qos=1)
    (msg,) = m.expect(1)
    assert (msg.topic, msg.payload) == (f"{tag}/ok", b"still here")
    assert not m.disconnected.is_set()

"""MQTT clients (paho-mqtt, 3.1.1 and 5.0) against the router's MQTT
transport, alone and with Autobahn|Python WAMP clients on the same broker:
QoS 0/1/2 both ways, wildcards, retained messages, wills, takeover, the
5.0 options, authorization, payload mapping and bad input."""

from __future__ import annotations

import asyncio
import json
import secrets
import struct
import time

import paho.mqtt.client as paho
import pytest
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from mqttclient import TIMEOUT, V5, V311, Mqtt, close_all, pool, props, raw_connect
from wampclient import EventSink

pytestmark = pytest.mark.junction_only

VERSIONS = [V311, V5]
VIDS = ["3.1.1", "5.0"]


def topic_of(prefix: str) -> str:
    return f"{prefix}/{secrets.token_hex(4)}"


@pytest.fixture
def mqtt(router):
    make, made = pool(
        lambda version=V311, port=None, **kw: Mqtt(port or router.mqtt_port, version, **kw)
    )
    yield make
    close_all(made)


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_subscribe_each_qos(mqtt, version, qos):
    t = topic_of("sensors")
    sub = mqtt(version).connect()
    assert sub.subscribe(t, qos) in ([qos], [paho.ReasonCode(paho.PacketTypes.SUBACK, identifier=qos)])
    pub = mqtt(version).connect()
    for i in range(5):
        pub.publish(t, f"m{i}".encode(), qos=qos)
    got = sub.expect(5)
    assert [m.payload for m in got] == [f"m{i}".encode() for i in range(5)]
    assert all(m.qos == qos for m in got)
    assert all(m.topic == t for m in got)


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_delivery_qos_is_the_lower_of_publish_and_subscription(mqtt, version):
    t = topic_of("qos")
    sub = mqtt(version).connect()
    sub.subscribe(t, 1)
    pub = mqtt(version).connect()
    pub.publish(t, b"two", qos=2)
    pub.publish(t, b"zero", qos=0)
    a, b = sub.expect(2)
    assert (a.payload, a.qos) == (b"two", 1)
    assert (b.payload, b.qos) == (b"zero", 0)


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_wildcards_and_parent_of_hash(mqtt, version):
    base = topic_of("w")
    sub = mqtt(version).connect()
    sub.subscribe(f"{base}/+/temp", 0)
    sub.subscribe(f"{base}/house/#", 0)
    pub = mqtt(version).connect()
    pub.publish(f"{base}/kitchen/temp", b"1", qos=1)
    pub.publish(f"{base}/house", b"2", qos=1)  # `a/#` matches `a`
    pub.publish(f"{base}/house/a/b", b"3", qos=1)
    pub.publish(f"{base}/other/x", b"no", qos=1)
    got = sorted(m.payload for m in sub.expect(3))
    assert got == [b"1", b"2", b"3"]
    sub.nothing()


def test_mixed_wildcards_are_checked_exactly(mqtt):
    base = topic_of("mix")
    sub = mqtt().connect()
    sub.subscribe(f"{base}/+/b/#", 0)
    pub = mqtt().connect()
    for t, p in [(f"{base}/x/b/c", b"yes1"), (f"{base}/x/c/b", b"no"), (f"{base}/y/b", b"yes2")]:
        pub.publish(t, p, qos=1)
    assert sorted(m.payload for m in sub.expect(2)) == [b"yes1", b"yes2"]
    sub.nothing()


def test_dollar_topics_are_not_matched_by_leading_wildcards(mqtt):
    sub = mqtt().connect()
    sub.subscribe("#", 0)
    pub = mqtt().connect()
    # Clients may not publish to $SYS; it never reaches `#` either way, nor
    # do the router's meta events (wamp/...).
    pub.publish("$SYS/junction/x", b"no", qos=1)
    marker = topic_of("marker")
    pub.publish(marker, b"end", qos=1)
    seen = []
    while not seen or seen[-1].topic != marker:
        seen += sub.expect(1)
    assert not [m.topic for m in seen if m.topic.startswith(("$", "wamp/"))]


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_retained_messages_and_clearing(mqtt, version):
    t = topic_of("retained")
    pub = mqtt(version).connect()
    pub.publish(t, b"last", qos=1, retain=True)
    late = mqtt(version).connect()
    late.subscribe(t, 1)
    (m,) = late.expect(1)
    assert (m.payload, m.retain) == (b"last", True)
    wild = mqtt(version).connect()
    wild.subscribe(t.rsplit("/", 1)[0] + "/+", 0)
    (w,) = wild.expect(1)
    assert w.retain and w.payload == b"last"
    # An empty retained payload clears it (subscribers still get it live).
    pub.publish(t, b"", qos=1, retain=True)
    assert late.expect(1)[0].payload == b""
    again = mqtt(version).connect()
    again.subscribe(t, 1)
    again.nothing()


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_will_fires_on_abnormal_end_only(mqtt, version):
    t = topic_of("will")
    watcher = mqtt(version).connect()
    watcher.subscribe(t, 1)
    clean = mqtt(version).connect(will={"topic": t, "payload": b"clean", "qos": 1})
    clean.close()
    watcher.nothing(0.7)
    dying = mqtt(version).connect(will={"topic": t, "payload": b"gone", "qos": 1})
    dying.drop()
    (m,) = watcher.expect(1)
    assert m.payload == b"gone"


def test_v5_disconnect_with_will_message_fires_it(mqtt):
    t = topic_of("will5")
    watcher = mqtt(V5).connect()
    watcher.subscribe(t, 0)
    c = mqtt(V5).connect(will={"topic": t, "payload": b"asked", "qos": 0})
    c.c.disconnect(reasoncode=paho.ReasonCode(paho.PacketTypes.DISCONNECT, identifier=0x04))
    assert watcher.expect(1)[0].payload == b"asked"


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_second_connection_takes_the_session_over(mqtt, version):
    cid = "taker-" + secrets.token_hex(4)
    first = mqtt(version, client_id=cid).connect()
    second = mqtt(version, client_id=cid).connect()
    assert first.disconnected.wait(TIMEOUT)
    if version == V5:
        assert first.disconnect_reason == 0x8E  # Session taken over
    # The new connection works.
    t = topic_of("taken")
    second.subscribe(t, 0)
    mqtt(version).connect().publish(t, b"ok", qos=1)
    assert second.expect(1)[0].payload == b"ok"


def test_v5_assigned_client_identifier_and_announced_limits(mqtt):
    c = mqtt(V5, client_id="").connect()
    p = c.connack_props
    assert p.AssignedClientIdentifier.startswith("junction-")
    assert p.ReceiveMaximum == 32
    assert p.MaximumPacketSize == 1024 * 1024
    assert p.TopicAliasMaximum == 64
    assert p.SharedSubscriptionAvailable == 1


def test_v311_empty_client_id_without_clean_session_is_refused(router):
    # CONNECT 3.1.1, clean session 0, empty client id -> CONNACK 0x02.
    body = b"\x00\x04MQTT\x04\x00\x00\x3c\x00\x00"
    got = raw_connect(router.mqtt_port, b"\x10" + bytes([len(body)]) + body, read=4)
    assert got == b"\x20\x02\x00\x02"


def test_v5_no_local_retain_as_published_and_subscription_ids(mqtt):
    t = topic_of("opts")
    c = mqtt(V5).connect()
    c.subscribe(t, options=paho.SubscribeOptions(qos=1, noLocal=True))
    c.publish(t, b"mine", qos=1)
    c.nothing()
    other = mqtt(V5).connect()
    p = props(SubscriptionIdentifier=7)
    p.packetType = paho.PacketTypes.SUBSCRIBE
    other.subscribe(t, options=paho.SubscribeOptions(qos=1, retainAsPublished=True), properties=p)
    c.publish(t, b"kept", qos=1, retain=True)
    (m,) = other.expect(1)
    assert m.retain, "Retain As Published keeps the flag on a live delivery"
    assert m.properties.SubscriptionIdentifier == [7]
    # Retain Handling 2: no retained messages at subscribe time.
    third = mqtt(V5).connect()
    third.subscribe(t, options=paho.SubscribeOptions(qos=1, retainHandling=2))
    third.nothing()


def test_v5_properties_pass_through_mqtt_to_mqtt(mqtt):
    t = topic_of("props")
    sub = mqtt(V5).connect()
    sub.subscribe(t, 1)
    pub = mqtt(V5).connect()
    p = props(
        ResponseTopic="reply/here",
        CorrelationData=b"\x01\x02",
        ContentType="text/plain",
        MessageExpiryInterval=60,
        PayloadFormatIndicator=1,
    )
    p.UserProperty = [("k", "v"), ("k", "w")]
    pub.publish(t, b"hello", qos=1, properties=p)
    (m,) = sub.expect(1)
    mp = m.properties
    assert mp.ResponseTopic == "reply/here"
    assert mp.CorrelationData == b"\x01\x02"
    assert mp.ContentType == "text/plain"
    assert 58 <= mp.MessageExpiryInterval <= 60
    assert mp.UserProperty == [("k", "v"), ("k", "w")]


def test_v5_topic_alias_from_the_client(mqtt):
    t = topic_of("alias")
    sub = mqtt(V5).connect()
    sub.subscribe(t, 0)
    pub = mqtt(V5).connect()
    pub.publish(t, b"first", qos=1, properties=props(TopicAlias=3))
    pub.publish("", b"second", qos=1, properties=props(TopicAlias=3))
    assert [m.payload for m in sub.expect(2)] == [b"first", b"second"]


def test_v5_topic_alias_to_the_client(mqtt):
    t = topic_of("aliasout")
    cp = paho.Properties(paho.PacketTypes.CONNECT)
    cp.TopicAliasMaximum = 4
    sub = mqtt(V5).connect(properties=cp)
    sub.subscribe(t, 0)
    pub = mqtt(V5).connect()
    for i in range(3):
        pub.publish(t, str(i).encode(), qos=1)
    got = sub.expect(3)
    # The first delivery sets alias 1 with the topic, later ones send the alias alone.
    assert [m.topic for m in got] == [t, "", ""]
    assert [m.properties.TopicAlias for m in got] == [1, 1, 1]
    assert [m.payload for m in got] == [b"0", b"1", b"2"]


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_authorization_by_realm_roles(mqtt, router, version):
    c = mqtt(version, port=router.mqtt_restricted_port).connect()
    codes = c.subscribe("com/forbidden/x", 1)
    code = codes[0]
    value = code if isinstance(code, int) else code.value
    assert value == (0x87 if version == V5 else 0x80)
    ok = c.subscribe("com/allowed/x", 1)
    ok_value = ok[0] if isinstance(ok[0], int) else ok[0].value
    assert ok_value == 1
    if version == V5:
        info = c.c.publish("com/forbidden/y", b"x", qos=1)
        info.wait_for_publish(TIMEOUT)
        mid, rc = c.acks.get(timeout=TIMEOUT)
        assert rc.value == 0x87


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_malformed_packets_end_only_that_connection(mqtt, router, version):
    good = mqtt(version).connect()
    t = topic_of("alive")
    good.subscribe(t, 0)
    # A SUBSCRIBE before CONNECT: dropped without an answer.
    assert raw_connect(router.mqtt_port, b"\x82\x06\x00\x01\x00\x01a\x00") == b""
    # CONNECT with an unknown protocol level: 3.1.1 return code 1.
    body = b"\x00\x04MQTT\x07\x02\x00\x3c\x00\x01x"
    assert raw_connect(router.mqtt_port, b"\x10" + bytes([len(body)]) + body, read=4) == b"\x20\x02\x00\x01"
    # After CONNECT: a PUBLISH with QoS 3.
    bad = mqtt(version).connect()
    bad.c.socket().send(b"\x36\x03\x00\x01a")
    assert bad.disconnected.wait(TIMEOUT)
    if version == V5:
        assert bad.disconnect_reason == 0x81
    mqtt(version).connect().publish(t, b"still here", qos=1)
    assert good.expect(1)[0].payload == b"still here"
    assert router.alive()


def test_oversize_packet_is_refused_with_0x95(mqtt):
    c = mqtt(V5).connect()
    big = b"x" * (1024 * 1024 + 10)
    c.c.publish(topic_of("big"), big, qos=0)
    assert c.disconnected.wait(TIMEOUT)
    assert c.disconnect_reason == 0x95


def test_keep_alive_is_enforced_at_one_and_a_half_times(router):
    # CONNECT 3.1.1 with keep-alive 1 s, then silence: closed within 1.5 s (+ slack).
    body = b"\x00\x04MQTT\x04\x02\x00\x01\x00\x02ka"
    import socket

    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(b"\x10" + bytes([len(body)]) + body)
        assert s.recv(4) == b"\x20\x02\x00\x00"
        start = time.monotonic()
        assert s.recv(1) == b""
        elapsed = time.monotonic() - start
    assert 1.2 <= elapsed <= 3.0, elapsed


# ---------------------------------------------------------------- MQTT <-> WAMP


async def test_mqtt_publish_reaches_wamp_subscribers(clients, mqtt):
    t = topic_of("devices")
    uri = t.replace("/", ".")
    wamp = await clients("ws", "msgpack")
    sink = EventSink()
    await wamp.subscribe(sink, uri)
    await asyncio.to_thread(lambda: mqtt().connect().publish(t, b"21.5", qos=1))
    args, _ = (await sink.wait_count(1))[0]
    assert args == (b"21.5",)


async def test_wamp_publish_reaches_mqtt_subscribers(clients, mqtt):
    t = topic_of("commands")
    uri = t.replace("/", ".")
    sub = await asyncio.to_thread(lambda: mqtt(V5).connect())
    await asyncio.to_thread(sub.subscribe, t, 1)
    wamp = await clients("rs", "cbor")
    await wamp.publish(uri, b"on", options=PublishOptions(acknowledge=True))
    await wamp.publish(uri, "text", options=PublishOptions(acknowledge=True))
    await wamp.publish(uri, 1, 2, k=3, options=PublishOptions(acknowledge=True))
    got = await asyncio.to_thread(sub.expect, 3)
    assert [m.payload for m in got[:2]] == [b"on", b"text"]
    assert json.loads(got[2].payload) == {"args": [1, 2], "kwargs": {"k": 3}}
    assert got[0].qos == 1, "WAMP publications reach QoS 1 subscriptions at QoS 1"


async def test_native_json_mapping_both_ways(clients, mqtt):
    t = "com/native/" + secrets.token_hex(4)
    uri = t.replace("/", ".")
    wamp = await clients("ws", "json")
    sink = EventSink()
    await wamp.subscribe(sink, uri)
    sub = await asyncio.to_thread(lambda: mqtt().connect())
    await asyncio.to_thread(sub.subscribe, t, 0)
    body = json.dumps({"args": [1, "two"], "kwargs": {"three": 3}}).encode()
    await asyncio.to_thread(lambda: mqtt().connect().publish(t, body, qos=1))
    args, kwargs = (await sink.wait_count(1))[0]
    assert args == (1, "two") and kwargs == {"three": 3}
    (m,) = await asyncio.to_thread(sub.expect, 1)
    assert json.loads(m.payload) == {"args": [1, "two"], "kwargs": {"three": 3}}
    await wamp.publish(uri, 9, options=PublishOptions(acknowledge=True, exclude_me=True))
    (m,) = await asyncio.to_thread(sub.expect, 1)
    assert json.loads(m.payload) == {"args": [9]}


async def test_retained_across_protocols(clients, mqtt):
    t = topic_of("shared")
    uri = t.replace("/", ".")
    await asyncio.to_thread(lambda: mqtt().connect().publish(t, b"from-mqtt", qos=1, retain=True))
    wamp = await clients("ws", "cbor")
    sink = EventSink()
    await wamp.subscribe(sink, uri, options=SubscribeOptions(get_retained=True, details=True))
    args, kwargs = (await sink.wait_count(1))[0]
    assert args == (b"from-mqtt",) and kwargs["details"].retained
    t2 = topic_of("shared2")
    await wamp.publish(t2.replace("/", "."), b"from-wamp", options=PublishOptions(acknowledge=True, retain=True))
    late = await asyncio.to_thread(lambda: mqtt().connect())
    await asyncio.to_thread(late.subscribe, t2, 0)
    (m,) = await asyncio.to_thread(late.expect, 1)
    assert (m.payload, m.retain) == (b"from-wamp", True)


def test_qos2_message_is_delivered_once_when_the_publisher_resends_pubrel(router, mqtt):
    """QoS 2: the publisher's PUBLISH is delivered once; a re-sent PUBREL
    (as after a lost PUBCOMP) gets PUBCOMP and delivers nothing again."""
    import socket

    t = topic_of("q2")
    sub = mqtt().connect()
    sub.subscribe(t, 2)
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        body = b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x02q2"
        s.sendall(b"\x10" + bytes([len(body)]) + body)
        assert s.recv(4) == b"\x20\x02\x00\x00"
        tb = t.encode()
        publish = struct.pack(">H", len(tb)) + tb + b"\x00\x09" + b"once"
        s.sendall(bytes([0x34, len(publish)]) + publish)
        assert s.recv(4) == b"\x50\x02\x00\x09"  # PUBREC
        # The PUBLISH again with DUP (PUBREC "lost"): PUBREC again, no second delivery.
        s.sendall(bytes([0x3C, len(publish)]) + publish)
        assert s.recv(4) == b"\x50\x02\x00\x09"
        s.sendall(b"\x62\x02\x00\x09")  # PUBREL
        assert s.recv(4) == b"\x70\x02\x00\x09"  # PUBCOMP
        s.sendall(b"\x62\x02\x00\x09")  # PUBREL again
        assert s.recv(4) == b"\x70\x02\x00\x09"
    (m,) = sub.expect(1)
    assert m.payload == b"once"
    sub.nothing()


def test_mqtt_js_and_autobahn_js(router):
    """MQTT.js 3.1.1/5.0 and Autobahn|JS on one broker (``js/mqtt_wamp.js``)."""
    import subprocess
    from pathlib import Path

    from test_js_pubsub import node_command

    js_dir = Path(__file__).resolve().parent / "js"
    if not (js_dir / "node_modules" / "mqtt").is_dir():
        pytest.fail("MQTT.js is not installed: npm ci in tests/interop/js (tests/run.sh does)")
    r = subprocess.run(
        [*node_command(), str(js_dir / "mqtt_wamp.js"), str(router.mqtt_port), router.ws_url],
        cwd=js_dir,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [line for line in r.stdout.splitlines() if line.startswith("JS-OK")]
    assert last and int(last[-1].split()[1]) == 6, out

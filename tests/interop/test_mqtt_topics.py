"""MQTT topic names that hold what a WAMP URI component cannot (a ``.`` or
whitespace inside a level: ``dev/192.168.1.5/cmd``, zigbee2mqtt's
``zigbee2mqtt/Living Room Lamp``) reach MQTT subscribers exactly as
published, and only the subscribers whose filter matches them (MQTT-3.3.2-3),
with paho-mqtt and mosquitto_sub; WAMP clients see them as escaped URIs
(``+HH`` per UTF-8 octet, docs/mqtt.md) and publish to them the same way.
Before, a ``.`` split the level (a subscriber to ``a.b/c`` got ``a/b/c``,
and so did one to ``a/b/c``) and whitespace was refused as an invalid URI
(MQTT 3.1.1 publishers never learnt)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess

import pytest
from autobahn.wamp.types import PublishOptions

from mqttclient import TIMEOUT, V5, V311, Mqtt
from wampclient import EventSink

pytestmark = pytest.mark.junction_only


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_dots_and_whitespace_inside_levels_arrive_unchanged(router, made, version):
    tag = secrets.token_hex(4)
    names = [
        f"{tag}/192.168.1.5/cmd",
        f"{tag}/Living Room Lamp",
        f"{tag}/tab\there",
        f"{tag}/nb\u00a0sp.v1.2",
        f"{tag}/caf\u00e9 /.",
    ]
    sub = Mqtt(router.mqtt_port, version).connect()
    made.append(sub)
    for n in names:
        code = sub.subscribe(n, 1)[0]
        assert getattr(code, "value", code) == 1, f"SUBACK of {n!r}: {code}"
    # What Crossbar's split would have delivered these to: nothing here.
    decoy = Mqtt(router.mqtt_port, version).connect()
    made.append(decoy)
    decoy.subscribe(f"{tag}/192/168/1/5/cmd", 1)
    decoy.subscribe(f"{tag}/nb\u00a0sp/v1/2", 1)
    pub = Mqtt(router.mqtt_port, version).connect()
    made.append(pub)
    for n in names:
        pub.publish(n, n.encode(), qos=1)
    got = sorted((m.topic, m.payload) for m in sub.expect(len(names)))
    assert got == sorted((n, n.encode()) for n in names), "each topic under its own name"
    sub.nothing(0.3)
    decoy.nothing(0.3)


def test_wildcard_filters_over_dotted_levels(router, made):
    tag = secrets.token_hex(4)
    sub = Mqtt(router.mqtt_port, V5).connect()
    made.append(sub)
    sub.subscribe(f"{tag}/fw.v1/+", 1)
    sub.subscribe(f"{tag}/+/a b/#", 1)
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    wanted = [f"{tag}/fw.v1/x.y", f"{tag}/k.l/a b", f"{tag}/k.l/a b/c d/e.f"]
    for t in [f"{tag}/fw/v1/x", f"{tag}/fw.v1/x/y", f"{tag}/k/l/a b", *wanted]:
        pub.publish(t, t.encode(), qos=1)
    got = sorted(m.topic for m in sub.expect(len(wanted)))
    assert got == sorted(wanted)
    sub.nothing(0.3)


def test_mosquitto_sub_gets_a_topic_with_a_space(router, made):
    tag = secrets.token_hex(4)
    topic = f"zigbee2mqtt/{tag}/Living Room Lamp"
    proc = subprocess.Popen(
        ["mosquitto_sub", "-p", str(router.mqtt_port), "-v", "-C", "1", "-W", str(int(TIMEOUT)),
         "-t", topic],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        pub = Mqtt(router.mqtt_port, V311).connect()
        made.append(pub)
        # mosquitto_sub subscribes after it connects: publish retained, so
        # the order does not matter.
        pub.publish(topic, b'{"state":"ON"}', qos=1, retain=True)
        out, _ = proc.communicate(timeout=TIMEOUT + 5)
    finally:
        proc.kill()
        made.append(Mqtt(router.mqtt_port, V311).connect())
        made[-1].publish(topic, b"", qos=1, retain=True)
    assert out == f'{topic} {{"state":"ON"}}\n'


async def test_wamp_sees_and_uses_the_escaped_uri(router, made, clients):
    tag = secrets.token_hex(4)
    wamp = await clients("ws", "json")
    sink = EventSink()
    await wamp.subscribe(sink, f"z{tag}.Living+20Room+20Lamp")
    pub = await asyncio.to_thread(lambda: Mqtt(router.mqtt_port, V311).connect())
    made.append(pub)
    await asyncio.to_thread(pub.publish, f"z{tag}/Living Room Lamp", b"ON", 1)
    args, _ = (await sink.wait_count(1))[0]
    assert args == (b"ON",)

    sub = await asyncio.to_thread(lambda: Mqtt(router.mqtt_port, V5).connect())
    made.append(sub)
    await asyncio.to_thread(sub.subscribe, f"d{tag}/#", 1)
    ack = PublishOptions(acknowledge=True)
    await wamp.publish(f"d{tag}.192+2E168+2E1+2E5.cmd", b"reboot", options=ack)
    # Not the image of any topic name (lower-case hex; an escape of `A`,
    # which needs none): MQTT subscribers do not get these.
    await wamp.publish(f"d{tag}.192+2e168", b"bad", options=ack)
    await wamp.publish(f"d{tag}.+41", b"bad", options=ack)
    await wamp.publish(f"d{tag}.ok", b"good", options=ack)
    got = await asyncio.to_thread(sub.expect, 2)
    assert [(m.topic, m.payload) for m in got] == [
        (f"d{tag}/192.168.1.5/cmd", b"reboot"),
        (f"d{tag}/ok", b"good"),
    ]
    await asyncio.to_thread(sub.nothing, 0.3)

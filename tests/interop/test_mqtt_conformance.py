"""MQTT conformance gaps the Eclipse Paho interoperability suite found
(tests/compat/paho_interop.sh), each checked here with paho-mqtt: topics
with empty levels (``/TopicA``, the will topic of the suite's keep-alive
tests) are routed, MQTT to MQTT and as wills."""

from __future__ import annotations

import secrets

import pytest

from mqttclient import V5, V311, Mqtt

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

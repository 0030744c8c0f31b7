"""Retained MQTT messages in a realm with a file store keep their MQTT form
across a restart and a ``kill -9`` (paho-mqtt 5.0): QoS, Content Type,
Payload Format Indicator, User Properties, Correlation Data, Response Topic,
and Message Expiry with the remaining time (the time the router was down
counts); one that expired while the router was down is not sent."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time

import pytest

from mqttclient import V5, V311, Mqtt, props
from test_mqtt_sessions import file_store_router, wait_mqtt

pytestmark = pytest.mark.junction_only


def publish_retained(port: int, made: list, topic: str, payload: bytes, expiry: int | None):
    pub = Mqtt(port, V5).connect()
    made.append(pub)
    values = dict(
        ContentType="text/plain",
        PayloadFormatIndicator=1,
        UserProperty=[("site", "lab"), ("site", "roof")],
        CorrelationData=b"corr",
        ResponseTopic="replies/here",
    )
    if expiry is not None:
        values["MessageExpiryInterval"] = expiry
    pub.publish(topic, payload, qos=1, retain=True, properties=props(**values))
    pub.close()


def retained_of(port: int, made: list, topic: str, version=V5):
    sub = Mqtt(port, version).connect()
    made.append(sub)
    sub.subscribe(topic, 1)
    (m,) = sub.expect(1)
    assert m.retain, "sent as a retained message"
    return m


def check_properties(m, payload: bytes) -> None:
    assert m.payload == payload
    assert m.qos == 1, "the publication's QoS"
    p = m.properties
    assert p.ContentType == "text/plain"
    assert p.PayloadFormatIndicator == 1
    assert p.UserProperty == [("site", "lab"), ("site", "roof")], "in order, repeated names kept"
    assert p.CorrelationData == b"corr"
    assert p.ResponseTopic == "replies/here"


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_retained_properties_survive(tmp_path_factory, made, how):
    store = tmp_path_factory.mktemp("retained-store")
    proc = file_store_router(tmp_path_factory, "retained", store)
    proc.start()
    base = "ret" + secrets.token_hex(3)
    try:
        wait_mqtt(proc)
        publish_retained(proc.mqtt_port, made, f"{base}/long", b"21.5", 120)
        publish_retained(proc.mqtt_port, made, f"{base}/short", b"soon gone", 3)
        publish_retained(proc.mqtt_port, made, f"{base}/forever", b"kept", None)
        published = time.monotonic()
        time.sleep(0.5)  # the log's writer thread has the records
        if how == "restart":
            proc.terminate()
            proc.wait(15)
        else:
            os.kill(proc.proc.pid, signal.SIGKILL)
            proc.wait(15)
        time.sleep(3.2)  # `short` expires while the router is down
        proc.start()
        wait_mqtt(proc)

        m = retained_of(proc.mqtt_port, made, f"{base}/long")
        check_properties(m, b"21.5")
        down = time.monotonic() - published
        left = m.properties.MessageExpiryInterval
        # The remaining time, the downtime counted (seconds, rounded either way).
        assert 120 - down - 2 <= left <= 120 - down + 1, (left, down)

        m = retained_of(proc.mqtt_port, made, f"{base}/forever")
        check_properties(m, b"kept")
        assert not hasattr(m.properties, "MessageExpiryInterval"), "none was set"

        sub = Mqtt(proc.mqtt_port, V5).connect()
        made.append(sub)
        sub.subscribe(f"{base}/short", 1)
        sub.nothing(0.7)

        # mosquitto_sub (5.0) reads the same properties.
        out = subprocess.run(
            ["mosquitto_sub", "-V", "mqttv5", "-p", str(proc.mqtt_port), "-t", f"{base}/long",
             "-q", "1", "-C", "1", "-W", "10", "-F", "%t|%p|%q|%r|%C|%E|%P|%R"],
            capture_output=True, timeout=20, check=True, text=True,
        ).stdout.strip()
        fields = out.split("|")
        assert fields[:5] == [f"{base}/long", "21.5", "1", "1", "text/plain"], out
        assert 0 < int(fields[5]) <= 120, out
        assert "site:lab" in fields[6] and "site:roof" in fields[6], out
        assert fields[7] == "replies/here", out

        # 3.1.1 subscribers get the payload and QoS (no properties in 3.1.1).
        m = retained_of(proc.mqtt_port, made, f"{base}/forever", V311)
        assert (m.payload, m.qos) == (b"kept", 1)
    finally:
        proc.kill()

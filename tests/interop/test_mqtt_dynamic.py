"""The ``dynamic`` payload mapping (Crossbar.io's): an Autobahn|Python
component registers the decoder and encoder procedures, paho-mqtt clients
publish and subscribe. MQTT → WAMP: the decoder gets (URI, topic, payload)
and its ``{"args", "kwargs"}`` answer is the WAMP event; WAMP → MQTT: the
encoder gets (topic, URI, args, kwargs) and its bytes are the MQTT payload.
A failing or slow codec drops its message (QoS 1: PUBACK 0x83) and never
stalls the connection; a connection's publications keep their order."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from autobahn.wamp.exception import ApplicationError

from conftest import Clients
from mqttclient import TIMEOUT, V5, V311, Mqtt
from routerproc import RouterProcess
from wampclient import EventSink

pytestmark = pytest.mark.junction_only

CODEC = "codec.mqtt"
#: The codec on another realm ("realm2"), mapped for `far.`.
FAR = "far.codec"
#: `dynamic_timeout` of the listener (ms).
TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def dyn_router(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("dynamic"))
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["options"]["payload_mapping"]["dyn."] = {
                "type": "dynamic",
                "realm": t["options"]["realm"],
                "encoder": f"{CODEC}.encode",
                "decoder": f"{CODEC}.decode",
            }
            # As Crossbar's own mqtt/basic/dynamic example: the codec on a
            # realm of its own, which the router calls there.
            t["options"]["payload_mapping"]["far."] = {
                "type": "dynamic",
                "realm": "realm2",
                "encoder": f"{FAR}.encode",
                "decoder": f"{FAR}.decode",
            }
            t["junction"] = {"dynamic_timeout": TIMEOUT_MS}
    proc.start()
    yield proc
    proc.kill()


async def codec(wamp, calls: list):
    """Registers the codec: upper-cases text, fails on ``bad``, sleeps on
    ``slow`` (longer than the timeout) and ``late`` (shorter)."""

    async def decode(uri, topic, payload):
        calls.append(("decode", uri, topic, payload))
        if payload == b"bad":
            raise ApplicationError("com.example.bad_payload", "no")
        if payload == b"slow":
            await asyncio.sleep(TIMEOUT_MS / 1000 * 3)
        if payload.startswith(b"late"):
            await asyncio.sleep(0.4)
        return {"args": [topic, payload.decode().upper()], "kwargs": {"n": len(payload)}}

    def encode(topic, uri, args, kwargs):
        calls.append(("encode", topic, uri, args, kwargs))
        if args == ["bad"]:
            raise ApplicationError("com.example.bad_event")
        return f"{topic}|{uri}|{args}|{sorted((kwargs or {}).items())}".encode()

    await wamp.register(decode, f"{CODEC}.decode")
    await wamp.register(encode, f"{CODEC}.encode")


async def test_mqtt_to_wamp_goes_through_the_decoder_in_order(dyn_router, made):
    pool = Clients(dyn_router)
    try:
        calls: list = []
        await codec(await pool("ws", "json"), calls)
        base = "b" + secrets.token_hex(3)
        watcher = await pool("ws", "msgpack")
        got = EventSink()
        await watcher.subscribe(lambda *a, **kw: got(*a, **kw), f"dyn.{base}", options=_prefix())
        await watcher.subscribe(lambda *a, **kw: got(*a, **kw), f"plain.{base}")

        def scenario():
            mqtt_sub = Mqtt(dyn_router.mqtt_port, V5).connect()
            made.append(mqtt_sub)
            mqtt_sub.subscribe(f"dyn/{base}/#", 1)
            dev = Mqtt(dyn_router.mqtt_port, V5).connect()
            made.append(dev)
            # The first is decoded late; the ones behind it wait, in order.
            dev.publish(f"dyn/{base}/a", b"late1", qos=0)
            dev.publish(f"plain/{base}", b"p", qos=0)
            dev.publish(f"dyn/{base}/b", b"two", qos=1)
            # MQTT subscribers get the payload as published.
            got_mqtt = [m.payload for m in mqtt_sub.expect(2)]
            assert got_mqtt == [b"late1", b"two"], got_mqtt
            return dev

        dev = await asyncio.to_thread(scenario)
        events = await got.wait_count(3)
        assert events[0] == ((f"dyn/{base}/a", "LATE1"), {"n": 5})
        assert events[1][0] == (b"p",), "passthrough: one binary argument"
        assert events[2] == ((f"dyn/{base}/b", "TWO"), {"n": 3})
        assert ("decode", f"dyn.{base}.a", f"dyn/{base}/a", b"late1") in calls

        def failures():
            # A decoder error: PUBACK 0x83, and the connection goes on.
            info = dev.c.publish(f"dyn/{base}/c", b"bad", qos=1)
            info.wait_for_publish(TIMEOUT)
            mid, rc = dev.acks.get(timeout=TIMEOUT)
            while mid != info.mid:
                mid, rc = dev.acks.get(timeout=TIMEOUT)
            assert rc.value == 0x83, rc
            # A decoder slower than `dynamic_timeout`: dropped the same way.
            t0 = time.monotonic()
            info = dev.c.publish(f"dyn/{base}/d", b"slow", qos=1)
            info.wait_for_publish(TIMEOUT)
            mid, rc = dev.acks.get(timeout=TIMEOUT)
            while mid != info.mid:
                mid, rc = dev.acks.get(timeout=TIMEOUT)
            took = time.monotonic() - t0
            assert rc.value == 0x83 and took < 2.5, (rc, took)
            dev.publish(f"dyn/{base}/e", b"after", qos=1)
            # 3.1.1: the same path, no reason codes.
            old = Mqtt(dyn_router.mqtt_port, V311).connect()
            made.append(old)
            old.publish(f"dyn/{base}/f", b"v311", qos=1)

        await asyncio.to_thread(failures)
        events = await got.wait_count(5)
        assert [e[0][1] for e in events[3:]] == ["AFTER", "V311"], events[3:]
    finally:
        await pool.close_all()


async def test_wamp_to_mqtt_goes_through_the_encoder(dyn_router, made):
    pool = Clients(dyn_router)
    try:
        calls: list = []
        await codec(await pool("ws", "json"), calls)
        base = "w" + secrets.token_hex(3)
        pub = await pool("rs", "cbor")

        def subscribe():
            s = Mqtt(dyn_router.mqtt_port, V5).connect()
            made.append(s)
            s.subscribe(f"dyn/{base}/#", 1)
            return s

        sub = await asyncio.to_thread(subscribe)
        for n, args in enumerate([[1, 2], ["bad"], [3]]):
            await pub.publish(f"dyn.{base}.t{n}", *args, k="v", options=_ack())

        def receive():
            got = [m.payload for m in sub.expect(2)]
            assert got == [
                f"dyn/{base}/t0|dyn.{base}.t0|[1, 2]|[('k', 'v')]".encode(),
                f"dyn/{base}/t2|dyn.{base}.t2|[3]|[('k', 'v')]".encode(),
            ], got
            sub.nothing(0.5)

        await asyncio.to_thread(receive)
        assert ("encode", f"dyn/{base}/t1", f"dyn.{base}.t1", ["bad"], {"k": "v"}) in calls
    finally:
        await pool.close_all()


async def test_a_codec_on_another_realm_is_called_there(dyn_router, made):
    """The mapping names the codec's realm (realm2; Crossbar's example calls
    it "codec"): the router calls the codec there for the MQTT client, which
    joined realm1, both ways."""
    pool = Clients(dyn_router)
    try:
        calls: list = []
        far = await pool("ws", "json", realm="realm2")

        def decode(uri, topic, payload):
            calls.append(("decode", uri, topic, payload))
            return {"args": [payload.decode().upper()]}

        def encode(topic, uri, args, kwargs):
            calls.append(("encode", topic, uri, args))
            return f"{topic}|{uri}|{args}".encode()

        await far.register(decode, f"{FAR}.decode")
        await far.register(encode, f"{FAR}.encode")
        base = "r" + secrets.token_hex(3)
        watcher = await pool("ws", "msgpack")
        got = EventSink()
        await watcher.subscribe(lambda *a, **kw: got(*a, **kw), f"far.{base}")

        def publish():
            sub = Mqtt(dyn_router.mqtt_port, V5).connect()
            made.append(sub)
            sub.subscribe(f"far/{base}/out", 1)
            dev = Mqtt(dyn_router.mqtt_port, V5).connect()
            made.append(dev)
            dev.publish(f"far/{base}", b"hello", qos=1)
            return sub

        sub = await asyncio.to_thread(publish)
        events = await got.wait_count(1)
        assert events[0] == (("HELLO",), {}), events
        await watcher.publish(f"far.{base}.out", 7, options=_ack())
        got_mqtt = await asyncio.to_thread(lambda: [m.payload for m in sub.expect(1)])
        assert got_mqtt == [f"far/{base}/out|far.{base}.out|[7]".encode()], got_mqtt
        assert calls == [
            ("decode", f"far.{base}", f"far/{base}", b"hello"),
            ("encode", f"far/{base}/out", f"far.{base}.out", [7]),
        ], calls
    finally:
        await pool.close_all()


async def test_no_codec_registered_drops_with_0x83(dyn_router, made):
    base = "n" + secrets.token_hex(3)

    def scenario():
        dev = Mqtt(dyn_router.mqtt_port, V5).connect()
        made.append(dev)
        for _ in range(3):
            info = dev.c.publish(f"dyn/{base}", b"x", qos=1)
            info.wait_for_publish(TIMEOUT)
            mid, rc = dev.acks.get(timeout=TIMEOUT)
            assert mid == info.mid and rc.value == 0x83, rc
        # The connection is still good: a passthrough topic goes through.
        dev.subscribe(f"plain/{base}", 1)
        dev.publish(f"plain/{base}", b"ok", qos=1)
        assert dev.expect(1)[0].payload == b"ok"

    await asyncio.to_thread(scenario)


def _prefix():
    from autobahn.wamp.types import SubscribeOptions

    return SubscribeOptions(match="prefix", details_arg=None)


def _ack():
    from autobahn.wamp.types import PublishOptions

    return PublishOptions(acknowledge=True)


async def test_mosquitto_clients_through_the_codec(dyn_router):
    """mosquitto_pub's payload is decoded for WAMP; mosquitto_sub gets the
    encoder's bytes for a WAMP publication."""
    import subprocess

    pool = Clients(dyn_router)
    try:
        calls: list = []
        await codec(await pool("ws", "json"), calls)
        base = "m" + secrets.token_hex(3)
        watcher = await pool("rs", "msgpack")
        got = EventSink()
        await watcher.subscribe(lambda *a, **kw: got(*a, **kw), f"dyn.{base}.in")
        port = str(dyn_router.mqtt_port)
        await asyncio.to_thread(
            subprocess.run,
            ["mosquitto_pub", "-V", "mqttv5", "-p", port, "-t", f"dyn/{base}/in", "-q", "1", "-m", "mosq"],
            timeout=20,
            check=True,
        )
        events = await got.wait_count(1)
        assert events[0] == ((f"dyn/{base}/in", "MOSQ"), {"n": 4})
        sub = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-V", "mqttv311", "-p", port, "-t", f"dyn/{base}/out",
            "-C", "1", "-W", "10", stdout=asyncio.subprocess.PIPE,
        )
        pub = await pool("ws", "cbor")
        deadline = time.monotonic() + 10
        out = b""
        while time.monotonic() < deadline:
            # Until mosquitto_sub has subscribed, publications reach no one.
            await pub.publish(f"dyn.{base}.out", "x", options=_ack())
            try:
                out = await asyncio.wait_for(sub.stdout.readline(), 0.3)
                break
            except asyncio.TimeoutError:
                continue
        await sub.wait()
        assert out.strip() == f"dyn/{base}/out|dyn.{base}.out|['x']|[]".encode(), out
    finally:
        await pool.close_all()

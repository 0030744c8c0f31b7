"""Write coalescing (``junction.write_coalesce_us``) with real clients:
Autobahn|Python over WebSocket and RawSocket, paho-mqtt 3.1.1 and 5.0. With
the longest window (100 ms) every message still arrives, whole and in order,
whichever protocol published it; replies (RPC results, PUBACKs, SUBACKs)
are not held, so calls and QoS 1 publishes complete while events wait.
Only a connection that wrote lately holds: a command to a quiet device goes
at once, a stream is held (counted by ``junction_write_coalesce_holds_total``).
Whether writes are really merged is asserted where sends can be counted
(tests/mqtt_ring.rs, transport::rawsocket's tests); the cost in CPU and
latency is in BENCHMARKS.md, "Write coalescing"."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time

import pytest
import pytest_asyncio
from autobahn.wamp.types import PublishOptions
from prometheus_client.parser import text_string_to_metric_families

from conftest import Clients
from mqttclient import V5, V311, Mqtt, close_all, pool
from wampclient import EventSink

pytestmark = pytest.mark.junction_only

N = 50


@pytest.fixture(scope="module")
def coalescing(tmp_path_factory):
    from conftest import start_router

    proc = start_router(tmp_path_factory, "coalesce", {"write_coalesce_us": 100_000})
    yield proc
    proc.kill()


@pytest_asyncio.fixture
async def wamp(coalescing):
    pool = Clients(coalescing)
    yield pool
    await pool.close_all()


@pytest.fixture
def mqtt(coalescing):
    make, made = pool(lambda version=V311: Mqtt(coalescing.mqtt_port, version))
    yield make
    close_all(made)


@pytest.mark.parametrize("transport,serializer", [("ws", "json"), ("rs", "msgpack")])
async def test_wamp_events_arrive_in_order_and_calls_are_answered(wamp, transport, serializer):
    topic = f"com.coalesce.t{secrets.token_hex(4)}"
    sub = await wamp(transport, serializer)
    pub = await wamp("ws", "cbor")
    sink = EventSink()
    await sub.subscribe(sink, topic)
    for i in range(N):
        # Acknowledged: the PUBLISHED reply is not held with events.
        await pub.publish(topic, i, options=PublishOptions(acknowledge=True))
    events = await sink.wait_count(N)
    assert [args[0] for args, _ in events] == list(range(N))

    proc = f"com.coalesce.p{secrets.token_hex(4)}"
    await sub.register(lambda x: x * 2, proc)
    results = [await pub.call(proc, i) for i in range(10)]
    assert results == [2 * i for i in range(10)]


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
@pytest.mark.parametrize("qos", [0, 1])
def test_mqtt_deliveries_arrive_in_order_and_acks_flow(mqtt, version, qos):
    topic = f"coalesce/{secrets.token_hex(4)}"
    sub = mqtt(version).connect()
    sub.subscribe(f"{topic}/#", qos)
    pub = mqtt(version).connect()
    for i in range(N):
        # QoS 1: publish waits for each PUBACK, which is not held.
        pub.publish(f"{topic}/x", f"m{i}".encode(), qos=qos)
    got = sub.expect(N)
    assert [m.payload for m in got] == [f"m{i}".encode() for i in range(N)]
    assert all(m.qos == qos for m in got)


async def test_wamp_publications_reach_mqtt_subscribers_in_order(wamp, mqtt):
    topic = f"coalesce/{secrets.token_hex(4)}"
    sub = await asyncio.to_thread(lambda: mqtt(V5).connect())
    await asyncio.to_thread(sub.subscribe, topic, 0)
    pub = await wamp("ws", "json")
    for i in range(N):
        await pub.publish(topic.replace("/", "."), i, options=PublishOptions(acknowledge=True))
    got = await asyncio.to_thread(sub.expect, N)
    assert [json.loads(m.payload) for m in got] == [{"args": [i]} for i in range(N)]


def holds(router) -> float:
    """``junction_write_coalesce_holds_total`` over all shards, read through
    the router's control socket (``junction status --metrics``)."""
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    sock = router.workdir / "run" / "junction.sock"
    out = subprocess.run(
        [binary, "status", "--metrics", "--socket", str(sock)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return sum(
        s.value
        for family in text_string_to_metric_families(out.stdout)
        for s in family.samples
        if s.name == "junction_write_coalesce_holds_total"
    )


def test_a_command_to_a_quiet_device_is_not_held_a_stream_is(coalescing, mqtt):
    topic = f"devices/{secrets.token_hex(4)}/command"
    device = mqtt(V5).connect()
    device.subscribe(topic, 0)
    controller = mqtt(V5).connect()
    # The device's last write (its SUBACK) is more than two 100 ms ticks old:
    # it is quiet.
    time.sleep(0.35)
    before = holds(coalescing)
    controller.publish(topic, b"reboot")
    assert [m.payload for m in device.expect(1)] == [b"reboot"]
    assert holds(coalescing) == before, "a command to a quiet connection is not held"
    # Once it has written, what follows soon is held (and still arrives, in
    # order): c1 comes a local round trip after c0 was written to it.
    controller.publish(topic, b"c0")
    assert [m.payload for m in device.expect(1)] == [b"c0"]
    for i in range(1, 5):
        controller.publish(topic, f"c{i}".encode())
    assert [m.payload for m in device.expect(4)] == [f"c{i}".encode() for i in range(1, 5)]
    assert holds(coalescing) > before, "a stream to a connection that wrote lately is held"

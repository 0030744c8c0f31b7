"""Write coalescing (``junction.write_coalesce_us``) with real clients:
Autobahn|Python over WebSocket and RawSocket, paho-mqtt 3.1.1 and 5.0. With
the longest window (100 ms) every message still arrives, whole and in order,
whichever protocol published it; replies (RPC results, PUBACKs, SUBACKs)
are not held, so calls and QoS 1 publishes complete while events wait.
Whether writes are really merged is asserted where sends can be counted
(tests/mqtt_ring.rs, transport::rawsocket's tests); the cost in CPU and
latency is in BENCHMARKS.md, "Write coalescing"."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
import pytest_asyncio
from autobahn.wamp.types import PublishOptions

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

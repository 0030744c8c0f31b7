"""Delivery guarantees across connections (and, for Junction, across shards)."""

from __future__ import annotations

import asyncio

import pytest
from autobahn.wamp.types import PublishOptions

from routerproc import IS_JUNCTION, SHARDS
from wampclient import COMBOS, EventSink

N_EVENTS = 2000
MIN_SUBSCRIBERS = 8
MAX_SUBSCRIBERS = 32


async def _open_spread(clients, n_min: int, n_max: int):
    """Open sessions until there are ``n_min`` and, when Junction reports shards, all are covered."""
    sessions = []
    while True:
        combo = COMBOS[len(sessions) % len(COMBOS)]
        sessions.append(await clients(*combo))
        shards = {s.shard for s in sessions}
        reported = None not in shards
        if len(sessions) >= n_min and (not reported or len(shards) >= SHARDS):
            return sessions, (shards if reported else None)
        if len(sessions) >= n_max:
            return sessions, (shards if reported else None)


async def test_fanout_order_across_connections(clients, uniq):
    topic = uniq("com.example.seq")
    subscribers, shards = await _open_spread(clients, MIN_SUBSCRIBERS, MAX_SUBSCRIBERS)
    if shards is not None:
        assert shards == set(range(SHARDS)), f"sessions only on shards {shards}"
    sinks = []
    for s in subscribers:
        sink = EventSink()
        await s.subscribe(sink, topic)
        sinks.append(sink)

    pub = await clients("rs", "msgpack")
    for seq in range(N_EVENTS - 1):
        pub.publish(topic, seq, kind="seq")
        if seq % 200 == 199:
            # Let the transport drain now and then (no flow control in Autobahn).
            await asyncio.sleep(0)
    await pub.publish(topic, N_EVENTS - 1, kind="seq", options=PublishOptions(acknowledge=True))

    for i, sink in enumerate(sinks):
        events = await sink.wait_count(N_EVENTS, timeout=60)
        got = [args[0] for args, _ in events]
        assert len(got) == N_EVENTS, f"subscriber {i} ({subscribers[i].label}) got {len(got)}"
        assert got == list(range(N_EVENTS)), f"subscriber {i} ({subscribers[i].label}) out of order"
        assert all(kwargs == {"kind": "seq"} for _, kwargs in events)


async def test_subscribe_then_publish_barrier(clients, uniq):
    """An event published right after SUBSCRIBED was received must be delivered.

    The subscriber and the publisher are on different connections (so, for a
    sharded router, often on different shards); repeated with fresh topics.
    """
    subscribers, _ = await _open_spread(clients, 4, 16)
    publishers = [await clients("ws", "json"), await clients("rs", "cbor")]
    for i in range(50):
        topic = uniq("com.example.barrier")
        sub = subscribers[i % len(subscribers)]
        pub = publishers[i % len(publishers)]
        sink = EventSink()
        await sub.subscribe(sink, topic)
        # No acknowledgement, no delay: the signal goes out right after SUBSCRIBED.
        pub.publish(topic, i)
        events = await sink.wait_count(1, timeout=5)
        assert events[0] == ((i,), {}), f"iteration {i}"


async def test_register_then_call_barrier(clients, uniq):
    """A call issued right after REGISTERED (on another connection) finds the procedure."""
    callees, _ = await _open_spread(clients, 4, 16)
    callers = [await clients("ws", "msgpack"), await clients("rs", "json")]
    for i in range(30):
        proc = uniq("com.example.regbarrier")
        await callees[i % len(callees)].register(lambda x: x + 1, proc)
        assert await asyncio.wait_for(callers[i % 2].call(proc, i), 5) == i + 1


@pytest.mark.junction_only
async def test_welcome_reports_shard(clients):
    """Junction names the session's shard in WELCOME.Details (x_junction_shard)."""
    if not IS_JUNCTION:
        pytest.skip("Junction only")
    sessions, shards = await _open_spread(clients, 2, MAX_SUBSCRIBERS)
    if shards is None:
        pytest.skip("this Junction build does not report x_junction_shard")
    assert all(isinstance(s.shard, int) and 0 <= s.shard < SHARDS for s in sessions)
    assert shards == set(range(SHARDS))

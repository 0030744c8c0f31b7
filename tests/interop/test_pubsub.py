"""Publish/subscribe through the router with Autobahn|Python clients."""

from __future__ import annotations

import pytest
from autobahn.wamp.types import PublishOptions

from payloads import RICH_ARGS, RICH_KWARGS, assert_rich
from wampclient import COMBO_IDS, COMBOS, EventSink

async def _roundtrip(clients, uniq, pub_combo, sub_combo):
    topic = uniq("com.example.rich")
    sub = await clients(*sub_combo)
    pub = await clients(*pub_combo)
    sink = EventSink()
    subscription = await sub.subscribe(sink, topic)
    assert subscription.active
    publication = await pub.publish(
        topic, *RICH_ARGS, options=PublishOptions(acknowledge=True), **RICH_KWARGS
    )
    assert isinstance(publication.id, int) and 1 <= publication.id <= 2**53
    events = await sink.wait_count(1)
    args, kwargs = events[0]
    assert_rich(args, kwargs)


@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
async def test_pubsub_same_combo(clients, uniq, combo):
    await _roundtrip(clients, uniq, combo, combo)


CROSS = [
    (("ws", "json"), ("ws", "msgpack")),
    (("ws", "json"), ("ws", "cbor")),
    (("ws", "msgpack"), ("ws", "json")),
    (("ws", "cbor"), ("ws", "json")),
    (("ws", "msgpack"), ("ws", "cbor")),
    (("ws", "cbor"), ("rs", "msgpack")),
    (("rs", "json"), ("rs", "cbor")),
    (("rs", "json"), ("ws", "msgpack")),
    (("rs", "cbor"), ("rs", "json")),
    (("rs", "msgpack"), ("ws", "json")),
]


@pytest.mark.parametrize(
    "pub_combo,sub_combo", CROSS, ids=[f"{'-'.join(p)}->{'-'.join(s)}" for p, s in CROSS]
)
async def test_pubsub_cross_serializer(clients, uniq, pub_combo, sub_combo):
    await _roundtrip(clients, uniq, pub_combo, sub_combo)


async def test_one_publisher_many_serializers(clients, uniq):
    """One publish reaches subscribers of every transport × serializer with the same values."""
    topic = uniq("com.example.fanout")
    sinks = []
    for combo in COMBOS:
        s = await clients(*combo)
        sink = EventSink()
        await s.subscribe(sink, topic)
        sinks.append(sink)
    pub = await clients("ws", "json")
    await pub.publish(topic, *RICH_ARGS, options=PublishOptions(acknowledge=True), **RICH_KWARGS)
    for sink in sinks:
        events = await sink.wait_count(1)
        assert_rich(*events[0])


async def test_publisher_excluded_by_default(clients, uniq):
    """A publisher subscribed to its own topic does not get its own event (exclude_me)."""
    topic = uniq("com.example.excl")
    pub = await clients("ws", "json")
    other = await clients("rs", "msgpack")
    pub_sink, other_sink = EventSink(), EventSink()
    await pub.subscribe(pub_sink, topic)
    await other.subscribe(other_sink, topic)

    await pub.publish(topic, "from-pub", options=PublishOptions(acknowledge=True))
    assert (await other_sink.wait_count(1))[0] == (("from-pub",), {})

    # A later event from the other session is the first (and only) one `pub` sees.
    await other.publish(topic, "sentinel", options=PublishOptions(acknowledge=True))
    assert (await pub_sink.wait_count(1))[0] == (("sentinel",), {})
    assert len(pub_sink.events) == 1
    assert len(other_sink.events) == 1


async def test_exclude_me_false_delivers_to_publisher(clients, uniq):
    topic = uniq("com.example.inclme")
    pub = await clients("ws", "cbor")
    sink = EventSink()
    await pub.subscribe(sink, topic)
    await pub.publish(topic, 1, options=PublishOptions(acknowledge=True, exclude_me=False))
    assert (await sink.wait_count(1))[0] == ((1,), {})


async def test_publish_without_payload(clients, uniq):
    topic = uniq("com.example.empty")
    sub = await clients("rs", "cbor")
    pub = await clients("ws", "json")
    sink = EventSink()
    await sub.subscribe(sink, topic)
    await pub.publish(topic, options=PublishOptions(acknowledge=True))
    assert (await sink.wait_count(1))[0] == ((), {})


async def test_unsubscribe_stops_delivery(clients, uniq):
    topic = uniq("com.example.unsub")
    sub = await clients("ws", "msgpack")
    pub = await clients("rs", "json")
    gone, stays = EventSink(), EventSink()
    s1 = await sub.subscribe(gone, topic)
    await sub.subscribe(stays, topic)
    await pub.publish(topic, 1, options=PublishOptions(acknowledge=True))
    await gone.wait_count(1)
    await stays.wait_count(1)

    await s1.unsubscribe()
    assert not s1.active
    await pub.publish(topic, 2, options=PublishOptions(acknowledge=True))
    await stays.wait_count(2)
    assert [e[0] for e in stays.events] == [(1,), (2,)]
    assert [e[0] for e in gone.events] == [(1,)]


async def test_unsubscribe_last_then_resubscribe(clients, uniq):
    """After the only subscriber unsubscribed, nothing is delivered; a new subscription works."""
    topic = uniq("com.example.resub")
    sub = await clients("ws", "cbor")
    pub = await clients("ws", "json")
    first = EventSink()
    s1 = await sub.subscribe(first, topic)
    await s1.unsubscribe()
    await pub.publish(topic, "nobody", options=PublishOptions(acknowledge=True))
    second = EventSink()
    await sub.subscribe(second, topic)
    await pub.publish(topic, "again", options=PublishOptions(acknowledge=True))
    assert (await second.wait_count(1))[0] == (("again",), {})
    assert first.events == []
    assert len(second.events) == 1


async def test_subscription_id_shared_across_sessions(clients, uniq):
    """Sessions subscribing to the same topic (same match policy) get the same subscription ID."""
    topic = uniq("com.example.shared")
    a = await clients("ws", "json")
    b = await clients("rs", "cbor")
    sa = await a.subscribe(EventSink(), topic)
    sb = await b.subscribe(EventSink(), topic)
    assert sa.id == sb.id


async def test_acknowledged_publish_without_subscribers(clients, uniq):
    pub = await clients("rs", "msgpack")
    publication = await pub.publish(
        uniq("com.example.nobody"), 1, options=PublishOptions(acknowledge=True)
    )
    assert isinstance(publication.id, int) and publication.id > 0

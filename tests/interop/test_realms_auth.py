"""Realms: isolation, unknown realms, and static authorization."""

from __future__ import annotations

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from wampclient import COMBO_IDS, COMBOS, EventSink, JoinFailed, connect


@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
async def test_unknown_realm_is_aborted(router, combo):
    with pytest.raises(JoinFailed) as err:
        await connect(router, *combo, realm="com.example.nosuchrealm")
    assert err.value.reason == "wamp.error.no_such_realm"


async def test_join_details(clients):
    session = await clients("ws", "json")
    details = await session.joined
    assert details.realm == "realm1"
    assert isinstance(details.session, int) and 1 <= details.session <= 2**53
    assert details.authrole == "anonymous"
    other = await clients("rs", "cbor")
    assert (await other.joined).session != details.session


async def test_realm_isolation_pubsub(clients, uniq):
    topic = uniq("com.example.iso")
    sub2 = await clients("ws", "msgpack", realm="realm2")
    sink2 = EventSink()
    await sub2.subscribe(sink2, topic)
    sub1 = await clients("rs", "json", realm="realm1")
    sink1 = EventSink()
    await sub1.subscribe(sink1, topic)

    pub1 = await clients("ws", "json", realm="realm1")
    await pub1.publish(topic, "realm1-event", options=PublishOptions(acknowledge=True))
    assert (await sink1.wait_count(1))[0] == (("realm1-event",), {})

    pub2 = await clients("rs", "cbor", realm="realm2")
    await pub2.publish(topic, "sentinel", options=PublishOptions(acknowledge=True))
    events = await sink2.wait_count(1)
    assert events[0] == (("sentinel",), {})
    assert len(sink2.events) == 1
    assert len(sink1.events) == 1


async def test_realm_isolation_rpc(clients, uniq):
    proc = uniq("com.example.isoproc")
    callee1 = await clients("ws", "json", realm="realm1")
    await callee1.register(lambda: "realm1", proc)
    caller2 = await clients("ws", "json", realm="realm2")
    with pytest.raises(ApplicationError) as err:
        await caller2.call(proc)
    assert err.value.error == "wamp.error.no_such_procedure"
    # The same URI can be registered independently on realm2.
    callee2 = await clients("rs", "msgpack", realm="realm2")
    await callee2.register(lambda: "realm2", proc)
    assert await caller2.call(proc) == "realm2"
    caller1 = await clients("rs", "cbor", realm="realm1")
    assert await caller1.call(proc) == "realm1"


@pytest.mark.parametrize("combo", [("ws", "json"), ("rs", "cbor")], ids=["ws-json", "rs-cbor"])
async def test_authorization_denied(clients, uniq, combo):
    session = await clients(*combo, realm="restricted")
    denied = uniq("com.denied.x")
    with pytest.raises(ApplicationError) as err:
        await session.publish(denied, 1, options=PublishOptions(acknowledge=True))
    assert err.value.error == "wamp.error.not_authorized"
    with pytest.raises(ApplicationError) as err:
        await session.subscribe(EventSink(), denied)
    assert err.value.error == "wamp.error.not_authorized"
    with pytest.raises(ApplicationError) as err:
        await session.register(lambda: None, denied)
    assert err.value.error == "wamp.error.not_authorized"
    with pytest.raises(ApplicationError) as err:
        await session.call(denied)
    assert err.value.error == "wamp.error.not_authorized"
    # The session survives its denied requests.
    assert session.is_attached()


async def test_authorization_allowed_prefix(clients, uniq):
    callee = await clients("ws", "msgpack", realm="restricted")
    caller = await clients("rs", "json", realm="restricted")
    proc = uniq("com.allowed.add")
    await callee.register(lambda a, b: a + b, proc)
    assert await caller.call(proc, 20, 22) == 42

    topic = uniq("com.allowed.topic")
    sink = EventSink()
    await callee.subscribe(sink, topic)
    await caller.publish(topic, "ok", options=PublishOptions(acknowledge=True))
    assert (await sink.wait_count(1))[0] == (("ok",), {})

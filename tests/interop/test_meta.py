"""The WAMP meta API with Autobahn|Python: session meta events and
procedures (including kill), testaments, subscription meta events and
procedures, and authorization of meta URIs. Sessions are placed on the same
and on different shards (Junction).

Tests that count or kill sessions use a router of their own, so that the
shared router's other sessions do not interfere.
"""

from __future__ import annotations

import asyncio

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from advhelpers import PLACEMENT_IDS, PLACEMENTS, placed, wait_for
from wampclient import EventSink


@pytest.fixture
def own_router(router_factory):
    return router_factory("meta")


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_session_on_join_and_on_leave(clients, own_router, placement):
    _, ms, ss = placement
    watcher = await placed(clients, ms, router=own_router)
    joins, leaves = EventSink(), EventSink()
    await watcher.subscribe(joins, "wamp.session.on_join")
    await watcher.subscribe(leaves, "wamp.session.on_leave")
    s = await placed(clients, ss, "rs", "msgpack", router=own_router)
    await wait_for(lambda: any(e[0][0]["session"] == s.session_id for e in joins.events), what="on_join")
    details = next(e[0][0] for e in joins.events if e[0][0]["session"] == s.session_id)
    assert details["authid"] == s._authid
    assert details["authrole"] == "anonymous"
    assert details["authmethod"] == "anonymous"
    assert "authprovider" in details and isinstance(details.get("transport"), dict)
    sid, authid = s.session_id, s._authid
    await s.close()
    await wait_for(lambda: any(e[0][0] == sid for e in leaves.events), what="on_leave")
    args = next(e[0] for e in leaves.events if e[0][0] == sid)
    assert args == (sid, authid, "anonymous")


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_session_count_list_get(clients, own_router, placement):
    _, a_shard, b_shard = placement
    a = await placed(clients, a_shard, router=own_router)
    b = await placed(clients, b_shard, "rs", "cbor", router=own_router)
    await wait_for(lambda: True)
    count = await a.call("wamp.session.count")
    ids = await a.call("wamp.session.list")
    assert count == len(ids) and {a.session_id, b.session_id} <= set(ids)
    assert await a.call("wamp.session.count", ["nobody"]) == 0
    assert set(await a.call("wamp.session.list", ["anonymous"])) == set(ids)
    d = await a.call("wamp.session.get", b.session_id)
    assert d["session"] == b.session_id and d["authid"] == b._authid
    with pytest.raises(ApplicationError) as e:
        await a.call("wamp.session.get", 1234567)
    assert e.value.error == "wamp.error.no_such_session"
    with pytest.raises(ApplicationError) as e:
        await a.call("wamp.session.count", 5)
    assert e.value.error == "wamp.error.invalid_argument"


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_session_kill_sends_goodbye(clients, own_router, placement):
    _, a_shard, b_shard = placement
    a = await placed(clients, a_shard, router=own_router)
    b = await placed(clients, b_shard, router=own_router)
    await a.call("wamp.session.kill", b.session_id, reason="com.example.kicked", message="bye now")
    closed = await b.left
    assert closed.reason == "com.example.kicked"
    assert closed.message == "bye now"
    with pytest.raises(ApplicationError) as e:
        await a.call("wamp.session.kill", a.session_id)
    assert e.value.error == "wamp.error.no_such_session"
    c = await placed(clients, b_shard, router=own_router)
    with pytest.raises(ApplicationError) as e:
        await a.call("wamp.session.kill", c.session_id, reason="not a uri!")
    assert e.value.error == "wamp.error.invalid_uri"
    await a.call("wamp.session.kill", c.session_id)
    assert (await c.left).reason == "wamp.close.killed"


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_kill_takes_reason_and_message_positionally(clients, own_router, placement):
    """As crossbar-examples' metaapi monitor calls it:
    ``call("wamp.session.kill", [session_id, reason, message])``."""
    _, a_shard, b_shard = placement
    a = await placed(clients, a_shard, router=own_router)
    b = await placed(clients, b_shard, router=own_router)
    await a.call("wamp.session.kill", b.session_id, "com.example.kicked", "bye now")
    closed = await b.left
    assert (closed.reason, closed.message) == ("com.example.kicked", "bye now")
    c = await placed(clients, b_shard, router=own_router)
    cid = c.session_id
    n = await a.call("wamp.session.kill_by_authid", c._authid, "com.example.gone", "by authid")
    assert n == [cid]
    closed = await c.left
    assert (closed.reason, closed.message) == ("com.example.gone", "by authid")
    d = await placed(clients, b_shard, router=own_router)
    with pytest.raises(ApplicationError) as e:
        await a.call("wamp.session.kill", d.session_id, 42)
    assert e.value.error == "wamp.error.invalid_argument"
    assert not d.left.done()


async def test_kill_by_authid_authrole_and_all_spare_the_caller(clients, own_router):
    caller = await placed(clients, 0, router=own_router)
    victims = [await placed(clients, i, router=own_router) for i in range(4)]
    victim_id = victims[0].session_id
    killed = await caller.call("wamp.session.kill_by_authid", victims[0]._authid)
    assert killed == [victim_id]
    await victims[0].left
    assert await caller.call("wamp.session.kill_by_authid", caller._authid) == []
    n = await caller.call("wamp.session.kill_all", reason="wamp.close.maintenance")
    assert n == 3
    for v in victims[1:]:
        assert (await v.left).reason == "wamp.close.maintenance"
    assert await caller.call("wamp.session.list") == [caller.session_id]
    assert await caller.call("wamp.session.kill_by_authrole", "anonymous") == 0


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_testament_published_when_session_is_lost(clients, uniq, placement):
    _, w_shard, t_shard = placement
    topic = uniq("com.meta.testament")
    watcher = await placed(clients, w_shard)
    sink = EventSink()
    await watcher.subscribe(sink, topic)
    t = await placed(clients, t_shard, "rs", "json")
    await t.call("wamp.session.add_testament", topic, ["destroyed"], {"k": 1})
    await t.call("wamp.session.add_testament", topic, ["detached"], {}, scope="detached")
    await t.call("wamp.session.add_testament", topic, ["flushed"], {})
    await t.call("wamp.session.flush_testaments")
    await t.call("wamp.session.add_testament", topic, ["again"], {})
    with pytest.raises(ApplicationError) as e:
        await t.call("wamp.session.add_testament", topic, [], {}, scope="forever")
    assert e.value.error == "wamp.error.invalid_argument"
    assert sink.events == []
    t.drop()  # the transport is lost: no GOODBYE
    events = await sink.wait_count(2)
    assert [e[0] for e in events] == [("detached",), ("again",)]


async def test_testament_retained_on_goodbye(clients, uniq):
    topic = uniq("com.meta.testament.retained")
    t = await clients()
    await t.call(
        "wamp.session.add_testament", topic, ["gone"], {}, publish_options={"retain": True}
    )
    await t.close()
    late = await clients("rs", "msgpack")
    sink = EventSink()
    await late.subscribe(sink, topic, options=SubscribeOptions(get_retained=True))
    assert (await sink.wait_count(1))[0][0] == ("gone",)


def _meta_for(events, sub_id):
    return [(name, args) for name, args in events if args[1] == sub_id or (isinstance(args[1], dict) and args[1]["id"] == sub_id)]


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_subscription_meta_events_in_order(clients, uniq, placement):
    _, m_shard, s_shard = placement
    topic = uniq("com.meta.sub")
    watcher = await placed(clients, m_shard)
    got = []

    def on_meta(*args, details=None):
        got.append((details.topic, args))

    await watcher.subscribe(
        on_meta, "wamp.subscription.on_", options=SubscribeOptions(match="prefix", details=True)
    )
    a = await placed(clients, s_shard)
    b = await placed(clients, 1 - s_shard, "rs", "cbor")
    sa = await a.subscribe(lambda *x: None, topic)
    sb = await b.subscribe(lambda *x: None, topic)
    assert sa.id == sb.id
    a_id, b_id = a.session_id, b.session_id
    await sa.unsubscribe()
    await b.close()

    def done():
        return any(n == "wamp.subscription.on_delete" for n, _ in _meta_for(got, sa.id))

    await wait_for(done, what="on_delete")
    mine = _meta_for(got, sa.id)
    names = [n.rsplit(".", 1)[1] for n, _ in mine]
    # The spec's order: on_create first, on_delete last; each session's
    # on_subscribe before its on_unsubscribe (a's unsubscribe and b's
    # subscribe may interleave either way).
    assert names[0] == "on_create" and names[-1] == "on_delete", names
    assert sorted(names[1:-1]) == ["on_subscribe"] * 2 + ["on_unsubscribe"] * 2, names
    for sid in (a_id, b_id):
        seq = [n for n, args in mine[1:-1] if args[0] == sid]
        assert [x.rsplit(".", 1)[1] for x in seq] == ["on_subscribe", "on_unsubscribe"], (sid, names)
    create = mine[0][1][1]
    assert create["uri"] == topic and create["match"] == "exact" and "created" in create
    assert mine[0][1][0] in (a_id, b_id)


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_subscription_meta_procedures(clients, uniq, placement):
    _, a_shard, b_shard = placement
    base = uniq("com.meta.procs")
    a = await placed(clients, a_shard)
    b = await placed(clients, b_shard, "rs", "msgpack")
    q = await clients()
    exact = await a.subscribe(lambda *x: None, base + ".x")
    await b.subscribe(lambda *x: None, base + ".x")
    prefix = await b.subscribe(lambda *x: None, base, options=SubscribeOptions(match="prefix"))
    lists = await q.call("wamp.subscription.list")
    assert exact.id in lists["exact"] and prefix.id in lists["prefix"]
    assert await q.call("wamp.subscription.lookup", base + ".x") == exact.id
    assert await q.call("wamp.subscription.lookup", base, {"match": "prefix"}) == prefix.id
    assert await q.call("wamp.subscription.lookup", base + ".nothing") is None
    assert set(await q.call("wamp.subscription.match", base + ".x")) == {exact.id, prefix.id}
    d = await q.call("wamp.subscription.get", prefix.id)
    assert d["id"] == prefix.id and d["uri"] == base and d["match"] == "prefix"
    subscribers = await q.call("wamp.subscription.list_subscribers", exact.id)
    assert sorted(subscribers) == sorted([a.session_id, b.session_id])
    assert await q.call("wamp.subscription.count_subscribers", exact.id) == 2
    with pytest.raises(ApplicationError) as e:
        await q.call("wamp.subscription.get", 987654321)
    assert e.value.error == "wamp.error.no_such_subscription"


async def test_meta_api_obeys_authorization(clients):
    s = await clients(realm="restricted")
    for proc in ("wamp.session.count", "wamp.subscription.list", "wamp.session.add_testament"):
        with pytest.raises(ApplicationError) as e:
            await s.call(proc)
        assert e.value.error == "wamp.error.not_authorized", proc
    with pytest.raises(ApplicationError) as e:
        await s.subscribe(lambda *a: None, "wamp.session.on_join")
    assert e.value.error == "wamp.error.not_authorized"


async def test_clients_cannot_publish_meta_events(clients):
    s = await clients()
    with pytest.raises(ApplicationError) as e:
        await s.publish("wamp.session.on_join", {}, options=PublishOptions(acknowledge=True))
    assert e.value.error in ("wamp.error.invalid_uri", "wamp.error.not_authorized")


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_remove_subscriber_and_remove_callee_with_crossbar_keywords(clients, uniq, placement):
    """Crossbar.io's ``wamp.subscription.remove_subscriber`` and
    ``wamp.registration.remove_callee``, called with its keyword arguments.
    The Autobahn|Python subscriber (which announces subscription_revocation
    but fails its connection on an UNSUBSCRIBED with request 0) is revoked
    silently: it stays joined, gets no more events, and a watcher sees
    ``on_unsubscribe``; its fellow subscriber still gets events."""
    _, a_shard, b_shard = placement
    topic, proc = uniq("com.meta.revoke"), uniq("com.meta.revoke.proc")
    admin = await placed(clients, a_shard)
    victim = await placed(clients, b_shard, "rs", "msgpack")
    other = await placed(clients, a_shard, "ws", "cbor")
    unsubscribed = EventSink()
    await admin.subscribe(unsubscribed, "wamp.subscription.on_unsubscribe")
    got, kept = EventSink(), EventSink()
    sub = await victim.subscribe(got, topic)
    await other.subscribe(kept, topic)
    await admin.publish(topic, 1, options=PublishOptions(acknowledge=True))
    await got.wait_count(1)
    assert await admin.call(
        "wamp.subscription.remove_subscriber",
        subscription_id=sub.id,
        subscriber_id=victim.session_id,
        reason="com.example.no_longer_allowed",
    ) is None
    await wait_for(
        lambda: any(e[0] == (victim.session_id, sub.id) for e in unsubscribed.events),
        what="on_unsubscribe",
    )
    await admin.publish(topic, 2, options=PublishOptions(acknowledge=True))
    await kept.wait_count(2)
    assert [e[0] for e in got.events] == [(1,)]
    # Still joined: the revocation did not break the Autobahn session.
    reg = await victim.register(lambda: "here", proc)
    assert await admin.call(proc) == "here"
    with pytest.raises(ApplicationError) as e:
        await admin.call(
            "wamp.subscription.remove_subscriber", subscription_id=sub.id, subscriber_id=victim.session_id
        )
    assert e.value.error == "wamp.error.no_such_subscription"
    # remove_callee with keywords: Autobahn takes the UNREGISTERED(0) in its stride.
    await admin.call("wamp.registration.remove_callee", registration_id=reg.id, callee_id=victim.session_id)
    # (The revocation reaches the callee's shard after the answer.)
    errors = []
    for _ in range(100):
        try:
            await admin.call(proc)
        except ApplicationError as e:
            errors.append(e.error)
            break
        await asyncio.sleep(0.02)
    assert errors == ["wamp.error.no_such_procedure"]
    assert await victim.call("wamp.session.get", victim.session_id), "still joined"

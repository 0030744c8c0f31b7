"""Advanced-profile publish & subscribe with Autobahn|Python: publisher
exclusion and acknowledgement, subscriber black/whitelisting, publisher
identification, pattern-based subscriptions, retained events, event history
and (Junction) publication trust levels and a persistent store.

Every case runs with the publisher and the subscribers on the same shard and
on different shards (see ``advhelpers.PLACEMENTS``).
"""

from __future__ import annotations

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from advhelpers import PLACEMENT_IDS, PLACEMENTS, custom_router, placed, realm_config
from routerproc import SHARDS, RouterProcess
from test_rpc_advanced import raw  # noqa: F401 (fixture: raw WebSocket/JSON sessions)
from wampclient import EventSink, RawWs, connect

DETAILS = SubscribeOptions(details=True)


async def _pub_and_subs(clients, pub_shard, sub_shard, n_subs=1, **kw):
    subs = [await placed(clients, sub_shard, **kw) for _ in range(n_subs)]
    pub = await placed(clients, pub_shard, **kw)
    return pub, subs


async def _marker(pub, topic, sinks, n_before):
    """Publishes a marker and waits for it everywhere: anything published
    earlier by `pub` has arrived by then (per-publisher order)."""
    await pub.publish(topic, "marker", options=PublishOptions(acknowledge=True))
    for sink, n in zip(sinks, n_before):
        await sink.wait_count(n + 1)


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_exclude_me_and_acknowledge(clients, uniq, placement):
    _, ps, ss = placement
    topic = uniq("com.adv.exclme")
    pub, (sub,) = await _pub_and_subs(clients, ps, ss)
    pub_sink, sub_sink = EventSink(), EventSink()
    await pub.subscribe(pub_sink, topic)
    await sub.subscribe(sub_sink, topic)
    p1 = await pub.publish(topic, 1, options=PublishOptions(acknowledge=True))
    assert 1 <= p1.id <= 2**53
    p2 = await pub.publish(topic, 2, options=PublishOptions(acknowledge=True, exclude_me=False))
    assert p2.id != p1.id
    events = await sub_sink.wait_count(2)
    assert [e[0] for e in events] == [(1,), (2,)]
    mine = await pub_sink.wait_count(1)
    assert mine == [((2,), {})], "only the exclude_me=False event reaches the publisher"


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_black_and_whitelisting(clients, uniq, placement):
    _, ps, ss = placement
    topic = uniq("com.adv.bw")
    pub, (a, b) = await _pub_and_subs(clients, ps, ss, n_subs=2)
    sa, sb = EventSink(), EventSink()
    await a.subscribe(sa, topic)
    await b.subscribe(sb, topic)
    aid, bid = a.session_id, b.session_id
    a_authid = a._authid
    cases = [
        (PublishOptions(exclude=[aid]), {"b"}),
        (PublishOptions(eligible=[aid]), {"a"}),
        (PublishOptions(eligible=[aid, bid], exclude=[bid]), {"a"}),
        (PublishOptions(exclude_authid=[a_authid]), {"b"}),
        (PublishOptions(eligible_authid=[a_authid]), {"a"}),
        (PublishOptions(eligible_authrole=["anonymous"]), {"a", "b"}),
        (PublishOptions(exclude_authrole=["anonymous"]), set()),
    ]
    for n, (opts, want) in enumerate(cases):
        before = (len(sa.events), len(sb.events))
        opts.acknowledge = True
        await pub.publish(topic, f"case{n}", options=opts)
        await _marker(pub, topic, [sa, sb], before)
        got = set()
        if any(e[0] == (f"case{n}",) for e in sa.events[before[0] :]):
            got.add("a")
        if any(e[0] == (f"case{n}",) for e in sb.events[before[1] :]):
            got.add("b")
        assert got == want, f"case {n}"


async def _raw_placed(router, shard):
    """A hand-written JSON WebSocket session on ``shard`` (Autobahn|Python no
    longer sends ``disclose_me``); returns it and its WELCOME."""
    for _ in range(80):
        ws = await RawWs.connect(router.ws_port)
        welcome = await ws.hello()
        got = welcome[2].get("x_junction_shard")
        if got is None or got == shard % SHARDS:
            return ws, welcome
        ws.writer.close()
    raise AssertionError(f"no raw session on shard {shard}")


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_disclose_me(router, clients, uniq, placement):
    _, ps, ss = placement
    topic = uniq("com.adv.disclose")
    sub = await placed(clients, ss)
    sink = EventSink()
    await sub.subscribe(sink, topic, options=DETAILS)
    pub, welcome = await _raw_placed(router, ps)
    pub.send_json([16, 1, {"acknowledge": True}, topic, ["anon"]])
    pub.send_json([16, 2, {"acknowledge": True, "disclose_me": True}, topic, ["me"]])
    assert (await pub.recv_json())[:2] == [17, 1]
    assert (await pub.recv_json())[:2] == [17, 2]
    events = await sink.wait_count(2)
    d0, d1 = events[0][1]["details"], events[1][1]["details"]
    assert d0.publisher is None
    assert d1.publisher == welcome[1]
    assert d1.publisher_authid == welcome[2]["authid"]
    assert d1.publisher_authrole == "anonymous"
    pub.send_json([6, {}, "wamp.close.normal"])


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_pattern_subscriptions_get_topic(clients, uniq, placement):
    _, ps, ss = placement
    base = uniq("com.adv.pat")
    pub, (sub,) = await _pub_and_subs(clients, ps, ss)
    pre, wild = EventSink(), EventSink()
    await sub.subscribe(pre, base + ".", options=SubscribeOptions(match="prefix", details=True))
    await sub.subscribe(wild, base + "..x", options=SubscribeOptions(match="wildcard", details=True))
    for t in ("a.x", "b.y", "c.x"):
        await pub.publish(f"{base}.{t}", t, options=PublishOptions(acknowledge=True))
    got_pre = await pre.wait_count(3)
    assert [e[1]["details"].topic for e in got_pre] == [f"{base}.{t}" for t in ("a.x", "b.y", "c.x")]
    got_wild = await wild.wait_count(2)
    assert [e[1]["details"].topic for e in got_wild] == [f"{base}.a.x", f"{base}.c.x"]


async def test_bad_options_get_invalid_argument(router, uniq):
    """Wrong option types: ERROR invalid_argument when acknowledged, silence otherwise."""
    ws = await RawWs.connect(router.ws_port)
    await ws.hello()
    topic = uniq("com.adv.badopts")
    for n, opts in enumerate(
        [{"exclude": "x"}, {"eligible": ["a"]}, {"exclude_authrole": [1]}, {"retain": "yes"}]
    ):
        ws.send_json([16, 100 + n, dict(opts, acknowledge=False), topic, []])
        ws.send_json([16, n + 1, dict(opts, acknowledge=True), topic, []])
        msg = await ws.recv_json()
        assert msg[0] == 8 and msg[1] == 16 and msg[2] == n + 1, msg
        assert msg[4] == "wamp.error.invalid_argument", msg
    ws.send_json([32, 50, {"get_retained": "yes"}, topic])
    msg = await ws.recv_json()
    assert msg[:3] == [8, 32, 50] and msg[4] == "wamp.error.invalid_argument", msg
    ws.send_json([6, {}, "wamp.close.normal"])


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_retained_event_comes_first(clients, uniq, placement):
    _, ps, ss = placement
    topic = uniq("com.adv.retained")
    pub = await placed(clients, ps)
    for i in range(3):
        await pub.publish(topic, i, options=PublishOptions(acknowledge=True, retain=True))
    await pub.publish(topic, "not retained", options=PublishOptions(acknowledge=True))
    sub = await placed(clients, ss)
    sink = EventSink()
    await sub.subscribe(sink, topic, options=SubscribeOptions(get_retained=True, details=True))
    await pub.publish(topic, "live", options=PublishOptions(acknowledge=True))
    events = await sink.wait_count(2)
    assert events[0][0] == (2,) and events[0][1]["details"].retained is True
    assert events[1][0] == ("live",) and not events[1][1]["details"].retained
    # Without get_retained: only live events.
    other = EventSink()
    await sub.subscribe(other, topic, options=SubscribeOptions(match="prefix"))
    await pub.publish(topic, "live2", options=PublishOptions(acknowledge=True))
    assert (await other.wait_count(1))[0][0] == ("live2",)


@pytest.fixture(scope="module")
def history_router(tmp_path_factory):
    """realm1 keeps the last 5 events of prefix `com.hist.` (Crossbar's memory store)."""

    def edit(config):
        realm_config(config, "realm1")["store"] = {
            "type": "memory",
            "event-history": [{"uri": "com.hist.", "match": "prefix", "limit": 5}],
        }

    proc = custom_router(tmp_path_factory, "history", edit)
    yield proc
    proc.kill()


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_event_history(clients, history_router, placement):
    _, ps, ss = placement
    pub = await placed(clients, ps, router=history_router)
    sub = await placed(clients, ss, router=history_router)
    sink = EventSink()
    subscription = await sub.subscribe(sink, "com.hist.", options=SubscribeOptions(match="prefix"))
    for i in range(8):
        await pub.publish(f"com.hist.t{i % 2}", i, options=PublishOptions(acknowledge=True))
    await sink.wait_count(8)
    events = await sub.call("wamp.subscription.get_events", subscription.id)
    tail = [e["args"][0] for e in events]
    assert tail[-5:] == tail and len(tail) == 5 and tail == sorted(tail), tail
    assert all(e["subscription"] == subscription.id for e in events)
    assert all(e["details"]["topic"].startswith("com.hist.t") for e in events)
    last2 = await sub.call("wamp.subscription.get_events", subscription.id, 2)
    assert [e["args"][0] for e in last2] == tail[-2:] or [e["args"][0] for e in last2] == tail[-1:-3:-1]
    with pytest.raises(ApplicationError) as e:
        await sub.call("wamp.subscription.get_events", 999_999_999)
    assert e.value.error in ("wamp.error.no_such_subscription", "wamp.error.history_unavailable")


@pytest.mark.junction_only
async def test_trustlevel_from_role_config(tmp_path_factory, uniq):
    def edit(config):
        realm_config(config, "realm1")["roles"][0]["junction"] = {"trustlevel": 3}

    proc = custom_router(tmp_path_factory, "trust", edit)
    try:
        topic = uniq("com.adv.trust")
        ws = await RawWs.connect(proc.ws_port)
        await ws.hello()
        ws.send_json([32, 1, {}, topic])
        assert (await ws.recv_json())[0] == 33
        pub = await connect(proc, "rs", "msgpack")
        await pub.publish(topic, "x", options=PublishOptions(acknowledge=True))
        ev = await ws.recv_json()
        assert ev[0] == 36 and ev[3]["trustlevel"] == 3, ev
        await pub.close()
    finally:
        proc.kill()


@pytest.mark.junction_only
async def test_file_store_survives_restart(tmp_path_factory, uniq):
    store_dir = tmp_path_factory.mktemp("store")

    def edit(config):
        realm_config(config, "realm1")["store"] = {
            "type": "file",
            "path": str(store_dir),
            "event-history": [{"uri": "com.persist.h", "limit": 10}],
        }

    proc = custom_router(tmp_path_factory, "persist1", edit)
    try:
        pub = await connect(proc)
        for i in range(3):
            await pub.publish("com.persist.h", i, options=PublishOptions(acknowledge=True))
        await pub.publish("com.persist.r", "kept", options=PublishOptions(acknowledge=True, retain=True))
        await pub.close()
    finally:
        proc.terminate()
        proc.wait(15)
    proc2 = RouterProcess(tmp_path_factory.mktemp("persist2"))
    edit(proc2.config)
    proc2.start()
    try:
        c = await connect(proc2)
        sub_id = await c.call("wamp.subscription.lookup", "com.persist.h")
        events = await c.call("wamp.subscription.get_events", sub_id)
        assert [e["args"][0] for e in events] == [0, 1, 2]
        sink = EventSink()
        await c.subscribe(sink, "com.persist.r", options=SubscribeOptions(get_retained=True))
        assert (await sink.wait_count(1))[0][0] == ("kept",)
        await c.close()
    finally:
        proc2.kill()


@pytest.mark.junction_only
async def test_welcome_announces_broker_features(router):
    ws = await RawWs.connect(router.ws_port)
    welcome = await ws.hello()
    features = welcome[2]["roles"]["broker"]["features"]
    for name in (
        "subscriber_blackwhite_listing",
        "publisher_exclusion",
        "publisher_identification",
        "pattern_based_subscription",
        "publication_trustlevels",
        "event_retention",
        "event_history",
        "subscription_meta_api",
        "session_meta_api",
        "shareded_subscriptions",  # the spec's spelling
        "sharded_subscription",
    ):
        assert features.get(name) is True, name
    dealer = welcome[2]["roles"]["dealer"]["features"]
    assert dealer.get("testament_meta_api") is True
    assert dealer.get("session_meta_api") is True
    ws.send_json([6, {}, "wamp.close.normal"])


@pytest.mark.junction_only
async def test_many_retained_topics_by_prefix(clients, uniq):
    """get_retained on a prefix subscription gets the retained event of each matching topic
    (Crossbar only delivers the retained event of the subscription's own URI)."""
    base = uniq("com.adv.retpre")
    pub = await clients()
    for t in ("a", "b", "c"):
        await pub.publish(f"{base}.{t}", t, options=PublishOptions(acknowledge=True, retain=True))
    sub = await clients("rs", "cbor")
    sink = EventSink()
    await sub.subscribe(
        sink, base + ".", options=SubscribeOptions(match="prefix", get_retained=True, details=True)
    )
    events = await sink.wait_count(3)
    assert sorted(e[0][0] for e in events) == ["a", "b", "c"]
    assert all(e[1]["details"].retained for e in events)


# Sharded subscriptions (SUBSCRIBE nkey, PUBLISH rkey): Autobahn|Python's
# SubscribeOptions/PublishOptions have no such options, so these use the raw
# WebSocket/JSON client of test_rpc_advanced.py.
SUBSCRIBE, SUBSCRIBED, PUBLISH, PUBLISHED, EVENT, ERROR = 32, 33, 16, 17, 36, 8


async def _raw_subscribe(s, topic: str, options: dict) -> int:
    req = s.request()
    s.send([SUBSCRIBE, req, options, topic])
    msg = await s.expect(SUBSCRIBED)
    assert msg[1] == req
    return msg[2]


async def _raw_publish(s, topic: str, options: dict, args: list) -> None:
    req = s.request()
    s.send([PUBLISH, req, {**options, "acknowledge": True}, topic, args])
    msg = await s.expect(PUBLISHED)
    assert msg[1] == req


async def _events_until(s, marker: str) -> list:
    """The first argument of every EVENT up to the marker event (excluded)."""
    got = []
    while True:
        msg = await s.expect(EVENT)
        if msg[4][0] == marker:
            return got
        got.append(msg[4][0])


@pytest.mark.junction_only
async def test_sharded_subscription_routes_each_rkey_to_one_node(raw, uniq):
    """Node n1 has subscribers on two shards, n2 on one, a subscriber without
    nkey gets everything; publishers on every shard route the same rkey to the
    same node; changing the node set re-routes keys."""
    topic = uniq("com.adv.sharded")
    s0, s1 = 0, 1 % SHARDS
    a1, a2, b, plain = await raw(s0), await raw(s1), await raw(s1), await raw(s0)
    sub_id = await _raw_subscribe(a1, topic, {"nkey": "n1"})
    assert await _raw_subscribe(a2, topic, {"nkey": "n1"}) == sub_id
    assert await _raw_subscribe(b, topic, {"nkey": "n2"}) == sub_id
    assert await _raw_subscribe(plain, topic, {}) == sub_id
    subs = {"a1": a1, "a2": a2, "b": b, "plain": plain}
    mapping = None
    for n, shard in enumerate((s0, s1)):
        publ = await raw(shard)
        keys = [f"dev-{i}" for i in range(30)]
        for k in keys:
            await _raw_publish(publ, topic, {"rkey": k}, [k])
        marker = f"marker-{n}"
        await _raw_publish(publ, topic, {}, [marker])
        got = {name: await _events_until(s, marker) for name, s in subs.items()}
        assert got["plain"] == keys, "a subscriber without nkey gets every event"
        assert got["a1"] == got["a2"], "both subscribers of n1 (two shards) get the same keys"
        assert sorted(got["a1"] + got["b"]) == sorted(keys), "each key goes to exactly one node"
        assert got["a1"] and got["b"], "keys spread over both nodes"
        this = {k: ("n1" if k in got["a1"] else "n2") for k in keys}
        assert mapping in (None, this), "the same choice from every shard"
        mapping = this
    # A third node joins: some keys move to it, the others stay put.
    c = await raw(s1)
    await _raw_subscribe(c, topic, {"nkey": "n3"})
    publ = await raw(s0)
    keys = list(mapping)
    for k in keys:
        await _raw_publish(publ, topic, {"rkey": k}, [k])
    await _raw_publish(publ, topic, {}, ["marker-3"])
    subs["c"] = c
    got = {name: await _events_until(s, "marker-3") for name, s in subs.items()}
    assert got["c"], "the new node takes some keys"
    for k in keys:
        if k not in got["c"]:
            assert (k in got["a1"]) == (mapping[k] == "n1"), k
    assert sorted(got["a1"] + got["b"] + got["c"]) == sorted(keys)


@pytest.mark.junction_only
async def test_sharded_subscription_option_types(raw, uniq):
    topic = uniq("com.adv.shardedbad")
    s = await raw(0)
    req = s.request()
    s.send([SUBSCRIBE, req, {"nkey": 7}, topic])
    err = await s.expect(ERROR)
    assert (err[1], err[2], err[4]) == (SUBSCRIBE, req, "wamp.error.invalid_argument")
    req = s.request()
    s.send([PUBLISH, req, {"rkey": ["x"], "acknowledge": True}, topic, []])
    err = await s.expect(ERROR)
    assert (err[1], err[2], err[4]) == (PUBLISH, req, "wamp.error.invalid_argument")
    s.send([PUBLISH, s.request(), {"rkey": 3}, topic, []])
    await s.quiet()

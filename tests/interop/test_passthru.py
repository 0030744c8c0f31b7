"""Payloads the router passes on without reading them, with real clients.

- Autobahn|Python's end-to-end encryption: sessions with a WAMP-cryptobox
  ``KeyRing`` as payload codec send the sealed payload *in place of* the
  arguments list, with ``enc_algo``/``enc_serializer`` options ("payload
  transparency", which Crossbar.io routes). Publisher and subscriber, caller
  and callee, on different shards and serializers, read each other's
  plaintext; a raw JSON subscriber without the key sees only the sealed
  bytes and the ``enc_*`` details. (Junction once aborted such a session:
  its decoder wanted a list.)
- wampy.js's Payload Passthru Mode (the spec's ``ppt_*`` options): wampy.js
  uses it only when the router announces ``payload_passthru_mode``; a
  publication and a call with an answer in that mode go across shards with
  their ``ppt_*`` details. (Junction only: Crossbar.io announces payload
  transparency but not ``payload_passthru_mode``.)
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from autobahn.wamp.cryptobox import KeyRing
from autobahn.wamp.types import PublishOptions

from routerproc import IS_CROSSBAR, SHARDS
from test_rpc_advanced import RawSession, on_shard
from test_wampy_js import run_wampy
from wampclient import TIMEOUT, EventSink

PAIRS = [("json", "msgpack"), ("cbor", "json"), ("msgpack", "cbor")]
SHARD_PAIR = (0, 1) if SHARDS >= 2 and not IS_CROSSBAR else (None, None)


def keyring(uri: str, key: str) -> KeyRing:
    ring = KeyRing()
    ring.set_key(uri, key)
    return ring


@pytest.mark.parametrize("a_ser,b_ser", PAIRS)
async def test_autobahn_cryptobox_events_and_calls_end_to_end(clients, uniq, a_ser, b_ser):
    topic, proc = uniq("com.e2e.topic"), uniq("com.e2e.proc")
    prefix = topic.rsplit(".", 1)[0]
    key, _ = KeyRing().generate_key()
    a = await on_shard(clients, SHARD_PAIR[0], "ws", a_ser)
    b = await on_shard(clients, SHARD_PAIR[1], "rs", b_ser)
    for s in (a, b):
        s.set_payload_codec(keyring(prefix, key))
    # A subscriber without the key, on plain JSON.
    spy = await RawSession.on_shard(clients.router, SHARD_PAIR[1])
    spy.send([32, spy.request(), {}, topic])
    await spy.expect(33)

    sink = EventSink()
    await b.subscribe(sink, topic)
    secret = {"pin": "4711", "note": "for b only"}
    await a.publish(topic, "sealed", 42, options=PublishOptions(acknowledge=True), **secret)
    (args, kwargs), = [(e[0], e[1]) for e in await sink.wait_count(1)]
    assert args == ("sealed", 42)
    assert {k: kwargs[k] for k in secret} == secret

    ev = await spy.expect(36)
    assert len(ev) == 5, f"the payload stands alone, in place of the arguments: {ev}"
    assert ev[3].get("enc_algo") == "cryptobox" and ev[3].get("enc_serializer") == "json", ev
    assert isinstance(ev[4], str) and ev[4].startswith("\u0000"), ev
    sealed = base64.b64decode(ev[4][1:])
    assert b"4711" not in sealed and len(sealed) > 40

    # RPC: the callee reads the caller's plaintext, the caller the callee's.
    await b.register(lambda x, y=None: {"got": [x, y], "by": "b"}, proc)
    assert await a.call(proc, "ping", y=7) == {"got": ["ping", 7], "by": "b"}
    spy.ws.abort()


@pytest.mark.junction_only  # Crossbar.io does not announce payload_passthru_mode
async def test_wampy_payload_passthru_mode_across_shards(router, uniq):
    out = await run_wampy(
        router,
        scenario="ppt",
        serializer="json",
        shard=SHARD_PAIR[0],
        other_shard=SHARD_PAIR[1],
        procedure=uniq("com.ppt.proc"),
        topic=uniq("com.ppt.topic"),
        args=[1, "two", [3]],
        kwargs={"k": "v"},
    )
    if SHARD_PAIR[0] is not None:
        assert out["shards"] == list(SHARD_PAIR)
    ev, inv, res = out["event"], out["invocation"], out["result"]
    for got in (ev, inv):
        assert (got["args"], got["kwargs"]) == ([1, "two", [3]], {"k": "v"}), got
        assert got["details"]["ppt_scheme"] == "x_junction", got
        assert got["details"]["ppt_serializer"] == "json", got
        assert got["details"]["ppt_keyid"] == "k-1", got
    assert (res["args"], res["kwargs"]) == ([1, "two", [3], "sealed reply"], {"k": "v"}), res
    assert res["details"]["ppt_keyid"] == "k-2", res


async def test_autobahn_transaction_hash_reaches_subscribers_and_callees(clients, uniq):
    """Autobahn|Python's ``transaction_hash`` option (XBR) is forwarded into
    EVENT and INVOCATION details, as Crossbar.io does."""
    from autobahn.wamp.types import CallOptions, RegisterOptions, SubscribeOptions

    topic, proc = uniq("com.txh.topic"), uniq("com.txh.proc")
    a = await on_shard(clients, SHARD_PAIR[0], "ws", "json")
    b = await on_shard(clients, SHARD_PAIR[1], "rs", "cbor")
    sink = EventSink()
    await b.subscribe(
        lambda *args, details=None: sink(details.transaction_hash),
        topic,
        options=SubscribeOptions(details_arg="details"),
    )
    await b.register(
        lambda details=None: details.transaction_hash,
        proc,
        options=RegisterOptions(details_arg="details"),
    )
    await a.publish(topic, options=PublishOptions(acknowledge=True, transaction_hash="0xfeed"))
    assert (await sink.wait_count(1))[0][0] == ("0xfeed",)
    assert await a.call(proc, options=CallOptions(transaction_hash="0xbeef")) == "0xbeef"

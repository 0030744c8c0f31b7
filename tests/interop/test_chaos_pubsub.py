"""Publish and subscribe under churn, held to the broker's guarantees
(docs/architecture.md, "Ownership and replication of the index").

Ten RawSocket sessions on both shards subscribe and unsubscribe (exact,
prefix and wildcard), publish with acknowledgement, and now and then leave
abruptly and come back, 600 rounds; three of them only ever add
subscriptions and stay. The test's own order of what it sent and
received is one timeline (a single asyncio loop), and against it:

- a subscriber whose SUBSCRIBED came before a PUBLISH was sent, and that
  holds that subscription to the end, gets that event on it, once (unless
  it published it: ``exclude_me``); a subscription that ends may lose events
  still on their way (PUBLISHED does not wait for delivery on other shards);
- no event arrives for a subscription after its UNSUBSCRIBED, for a topic
  its pattern does not match (the ``topic`` detail of a pattern match names
  the publication's), twice, or for the subscriber's own publication;
- one publisher's events on one subscription arrive in the order published.

Afterwards the router holds no connection, and logged no panic and no ERROR.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from authhelpers import RawRs
from fuzzhelpers import clean_log, rng, settled
from routerproc import RouterProcess

pytestmark = pytest.mark.junction_only

CLIENTS = 10
ROUNDS = 600
TOPICS = ["com.t.a", "com.t.b", "com.t.a.x", "com.u.a", "com.tb"]
PATTERNS = [
    ("com.t.a", "exact"),
    ("com.t.b", "exact"),
    ("com.u.a", "exact"),
    ("com.t", "prefix"),
    ("com.t.a", "prefix"),
    ("com..a", "wildcard"),
    ("com.t.", "wildcard"),
]


def matches(topic: str, pattern: str, policy: str) -> bool:
    if policy == "exact":
        return topic == pattern
    if policy == "prefix":
        return topic.startswith(pattern)
    t, p = topic.split("."), pattern.split(".")
    return len(t) == len(p) and all(not q or q == c for q, c in zip(p, t))


class Clock:
    """The test's one timeline: every send and receive takes a tick."""

    def __init__(self):
        self.now = 0

    def tick(self) -> int:
        self.now += 1
        return self.now


class Client:
    def __init__(self, name: str, port: int, r: random.Random, clock: Clock, steady: bool = False):
        #: Never unsubscribes nor leaves (its subscriptions are held to the end).
        self.steady = steady
        self.name = name
        self.port = port
        self.r = r
        self.clock = clock
        self.rs: RawRs | None = None
        self.next_id = 0
        self.welcomed = asyncio.Event()
        self.reader: asyncio.Task | None = None
        self.gone_at: int | None = None
        #: SUBSCRIBE request → (pattern, policy)
        self.subscribing: dict[int, tuple[str, str]] = {}
        #: subscription ID → {pattern, policy, from (tick of SUBSCRIBED), until (tick of UNSUBSCRIBE sent), closed (tick of UNSUBSCRIBED)}
        self.subs: dict[int, dict] = {}
        #: the subscription IDs ever held, with their windows (IDs may come back after an unsubscribe)
        self.windows: list[dict] = []
        self.unsubscribing: dict[int, dict] = {}
        #: PUBLISH request → publication record
        self.publishing: dict[int, dict] = {}
        self.events: list[tuple[int, int, dict, list]] = []
        self.violations: list[str] = []

    def rid(self) -> int:
        self.next_id += 1
        return self.next_id

    async def send(self, msg: list) -> int:
        if self.rs is None:
            raise ConnectionError("gone")
        t = self.clock.tick()
        await self.rs.send(msg)
        return t

    async def join(self) -> None:
        self.rs = await RawRs.connect("127.0.0.1", self.port)
        roles = {"publisher": {}, "subscriber": {"features": {"pattern_based_subscription": True}}}
        await self.send([1, "realm1", {"roles": roles}])
        self.reader = asyncio.create_task(self.read(self.rs))
        await asyncio.wait_for(self.welcomed.wait(), 10)

    def leave(self) -> None:
        self.gone_at = self.clock.tick()
        for w in self.subs.values():
            w["until"] = min(w["until"], self.gone_at)
        if self.reader:
            self.reader.cancel()
        if self.rs:
            self.rs.close()
        self.rs = None

    async def read(self, rs: RawRs) -> None:
        try:
            await self.reading(rs)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a message the test did not expect: report it
            self.violations.append(f"{self.name}: the reader failed: {e!r}")

    async def reading(self, rs: RawRs) -> None:
        while True:
            try:
                msg = await rs.recv(timeout=60)
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
                return
            if self.rs is not rs:
                return  # left (Python 3.11's wait_for may swallow the reader's cancel)
            t = self.clock.tick()
            kind = msg[0]
            if kind == 2:
                self.welcomed.set()
            elif kind == 33:
                pattern, policy = self.subscribing.pop(msg[1])
                if msg[2] in self.subs:
                    continue  # the same subscription again: one window
                w = {"id": msg[2], "pattern": pattern, "policy": policy, "from": t, "until": 1 << 60, "closed": 1 << 60}
                self.subs[msg[2]] = w
                self.windows.append(w)
            elif kind == 35:
                w = self.unsubscribing.pop(msg[1])
                w["closed"] = t
            elif kind == 17:
                self.publishing.pop(msg[1])["acked"] = t
            elif kind == 36:
                self.events.append((t, msg[1], msg[3], msg[4]))
            elif kind == 8:
                self.violations.append(f"{self.name}: {msg}")
            elif kind in (3, 6):
                self.violations.append(f"{self.name}: session ended by the router: {msg}")
                return

    async def act(self, publications: list[dict], seq: list[int]) -> None:
        r = self.r
        roll = r.random()
        if roll < 0.25 and len(self.subs) + len(self.subscribing) < (6 if self.steady else 4):
            pattern, policy = r.choice(PATTERNS)
            if any(w["pattern"] == pattern and w["policy"] == policy for w in self.subs.values()):
                return
            if (pattern, policy) in self.subscribing.values():
                return
            request = self.rid()
            self.subscribing[request] = (pattern, policy)
            options = {} if policy == "exact" else {"match": policy}
            await self.send([32, request, options, pattern])
        elif roll < 0.4 and self.subs and not self.steady:
            sub = r.choice(list(self.subs))
            w = self.subs.pop(sub)
            request = self.rid()
            self.unsubscribing[request] = w
            w["until"] = await self.send([34, request, sub])
        else:
            topic = r.choice(TOPICS)
            request = self.rid()
            seq[0] += 1
            p = {"topic": topic, "publisher": self, "seq": seq[0], "sent": 0, "acked": None}
            self.publishing[request] = p
            publications.append(p)
            p["sent"] = await self.send([16, request, {"acknowledge": True}, topic, [self.name, seq[0]]])


def check(clients: list[Client], publications: list[dict]) -> tuple[list[str], int]:
    """The violations, and how many deliveries the guarantee promised."""
    out = [v for c in clients for v in c.violations]
    promised = 0
    by_key = {(p["publisher"].name, p["seq"]): p for p in publications}
    for c in clients:
        got: dict[tuple[int, str, int], int] = {}
        last: dict[tuple[int, str], int] = {}
        windows = {}
        for w in c.windows:
            windows.setdefault(w["id"], []).append(w)
        for t, sub, details, args in c.events:
            key = (args[0], args[1])
            p = by_key.get(key)
            if p is None:
                out.append(f"{c.name}: an event of no publication: {args}")
                continue
            ws = [w for w in windows.get(sub, []) if w["from"] < t <= w["closed"]]
            if not ws:
                out.append(f"{c.name}: an event on subscription {sub} outside its windows: {args} at {t}")
                continue
            w = ws[-1]
            if not matches(p["topic"], w["pattern"], w["policy"]):
                out.append(f"{c.name}: {p['topic']} delivered on {w['pattern']} ({w['policy']})")
            if w["policy"] != "exact" and details.get("topic") != p["topic"]:
                out.append(f"{c.name}: a pattern event names topic {details.get('topic')!r}, not {p['topic']!r}")
            if p["publisher"] is c:
                out.append(f"{c.name}: its own publication came back: {args}")
            if (sub, *key) in got:
                out.append(f"{c.name}: {args} twice on subscription {sub}")
            got[(sub, *key)] = t
            if last.get((sub, key[0]), 0) > key[1]:
                out.append(f"{c.name}: {args} after a later event of the same publisher on {sub}")
            last[(sub, key[0])] = max(last.get((sub, key[0]), 0), key[1])
        # Every event the guarantee promises.
        for p in publications:
            if p["publisher"] is c or p["acked"] is None:
                continue
            for w in c.windows:
                # Only a subscription held to the end: PUBLISHED does not wait
                # for delivery on other shards, so an event may still be on
                # its way when a subscriber unsubscribes or leaves, and its
                # shard then rightly drops it.
                if w["until"] < 1 << 60:
                    continue
                if w["from"] < p["sent"] and matches(p["topic"], w["pattern"], w["policy"]):
                    promised += 1
                    if (w["id"], p["publisher"].name, p["seq"]) not in got:
                        out.append(
                            f"{c.name}: missed {p['publisher'].name}#{p['seq']} ({p['topic']}) on "
                            f"{w['pattern']} ({w['policy']}), subscribed at {w['from']}, published {p['sent']}-{p['acked']}"
                        )
    return out, promised


async def test_events_under_churn_keep_the_brokers_guarantees(tmp_path):
    proc = RouterProcess(tmp_path)
    proc.start()
    try:
        clock = Clock()
        r = rng(11)
        seq = [0]
        publications: list[dict] = []
        live = [Client(f"c{n}", proc.rs_port, rng(200 + n), clock, steady=n < 3) for n in range(CLIENTS)]
        everyone = list(live)
        for c in live:
            await c.join()
        for _ in range(ROUNDS):
            tasks = []
            for i, c in enumerate(live):
                if r.random() < 0.02 and not c.steady:
                    c.leave()
                    fresh = Client(f"{c.name}'", proc.rs_port, rng(r.randrange(1 << 30)), clock)
                    await fresh.join()
                    live[i] = fresh
                    everyone.append(fresh)
                else:
                    tasks.append(c.act(publications, seq))
            await asyncio.gather(*tasks)
            await asyncio.sleep(0.002)
        # Every publication of a staying session acknowledged, then what is
        # still in flight delivered.
        for _ in range(200):
            if not any(c.publishing for c in live):
                break
            await asyncio.sleep(0.05)
        assert not any(c.publishing for c in live), "publications without PUBLISHED"
        await asyncio.sleep(0.5)
        violations, promised = check(everyone, publications)
        assert not violations, "\n".join(violations[:20])
        delivered = sum(len(c.events) for c in everyone)
        assert delivered > ROUNDS * 5 and promised > ROUNDS * 5, (delivered, promised)
        for c in live:
            c.leave()
        await settled(proc, 0)
        clean_log(proc)
    finally:
        proc.kill()

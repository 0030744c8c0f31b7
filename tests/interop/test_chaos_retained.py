"""Retained events under churn, across shards: three publishers (one per
topic) publish retained events one after another with acknowledgement,
while subscribers keep joining on either shard, subscribing with
``get_retained``, reading a little and leaving.

Each subscription gets exactly one retained event, no older than the
publisher's last acknowledged one when the SUBSCRIBE was sent and no newer
than its last sent one when SUBSCRIBED came; the live events after it are
newer, in order, none twice. No panic, no ERROR logged.
"""

from __future__ import annotations

import asyncio

import pytest

from authhelpers import RawRs
from fuzzhelpers import clean_log, rng
from routerproc import RouterProcess

pytestmark = pytest.mark.junction_only

TOPICS = ["com.retained.a", "com.retained.b", "com.retained.c"]
SUBSCRIPTIONS = 150


async def session(port: int) -> RawRs:
    rs = await RawRs.connect("127.0.0.1", port)
    await rs.send([1, "realm1", {"roles": {"publisher": {}, "subscriber": {}}}])
    welcome = await rs.recv(timeout=10)
    assert welcome[0] == 2, welcome
    return rs


async def test_retained_events_under_churn(tmp_path):
    proc = RouterProcess(tmp_path)
    proc.start()
    try:
        r = rng(9)
        stop = asyncio.Event()
        #: topic → [last sent, last acknowledged]
        seqs = {t: [0, 0] for t in TOPICS}
        problems: list[str] = []

        async def publisher(topic: str) -> None:
            rs = await session(proc.rs_port)
            n = 0
            while not stop.is_set():
                n += 1
                seqs[topic][0] = n
                await rs.send([16, n, {"acknowledge": True, "retain": True}, topic, [n]])
                msg = await rs.recv(timeout=10)
                assert msg[:2] == [17, n], msg
                seqs[topic][1] = n
                await asyncio.sleep(0.001)
            rs.close()

        async def subscriber(k: int) -> None:
            topic = r.choice(TOPICS)
            rs = await session(proc.rs_port)
            try:
                lo = seqs[topic][1]
                await rs.send([32, 1, {"get_retained": True}, topic])
                retained, live, hi = [], [], None
                deadline = asyncio.get_running_loop().time() + 0.15
                while asyncio.get_running_loop().time() < deadline or (hi is not None and not retained and lo):
                    try:
                        msg = await rs.recv(timeout=5)
                    except asyncio.TimeoutError:
                        problems.append(f"subscription {k} on {topic}: silence (retained {retained}, live {live})")
                        return
                    if msg[0] == 33:
                        hi = seqs[topic][0]
                    elif msg[0] == 36:
                        (retained if msg[3].get("retained") else live).append(msg[4][0])
                    else:
                        problems.append(f"subscription {k}: {msg}")
                        return
                what = f"subscription {k} on {topic}: retained {retained}, window [{lo}, {hi}], live {live[:5]}"
                if lo and len(retained) != 1:
                    problems.append(f"{what}: not exactly one retained event")
                elif retained and not lo <= retained[0] <= (hi or 0):
                    problems.append(f"{what}: the retained event is outside its window")
                if live != sorted(set(live)) or (retained and live and live[0] <= retained[0]):
                    problems.append(f"{what}: live events out of order, repeated, or not newer")
            finally:
                rs.close()

        publishers = [asyncio.create_task(publisher(t)) for t in TOPICS]
        while any(v[1] == 0 for v in seqs.values()):
            await asyncio.sleep(0.01)
        for k in range(0, SUBSCRIPTIONS, 5):
            await asyncio.gather(*(subscriber(k + i) for i in range(5)))
        stop.set()
        await asyncio.gather(*publishers)
        assert not problems, "\n".join(problems[:10])
        clean_log(proc)
    finally:
        proc.kill()

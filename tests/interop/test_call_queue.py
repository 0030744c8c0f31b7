"""Call queues (the realm store's ``call-queue``, Crossbar.io's "queued
calls" example) with Autobahn|Python callees that set
``RegisterOptions(concurrency=N)``: calls that find every callee busy wait
for one with room instead of failing with
``crossbar.error.max_concurrency_reached``.

The router's realm1 queues calls to registrations under ``com.queue.``
(at most 50 per caller shard) and under ``com.small.`` (at most 2). Callees
and callers sit on different shards (``advhelpers.placed``).
"""

from __future__ import annotations

import asyncio

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, RegisterOptions

from advhelpers import custom_router, placed, realm_config
from routerproc import SHARDS
from wampclient import connect

BUSY = "crossbar.error.max_concurrency_reached"


@pytest.fixture(scope="module")
def queue_router(tmp_path_factory):
    def edit(config):
        realm_config(config, "realm1")["store"] = {
            "type": "memory",
            "call-queue": [
                {"uri": "com.queue.", "match": "prefix", "limit": 50},
                {"uri": "com.small.", "match": "prefix", "limit": 2},
            ],
        }

    proc = custom_router(tmp_path_factory, "callqueue", edit)
    yield proc
    alive = proc.alive()
    proc.kill()
    assert alive, proc.logs()


class Worker:
    """A callee that counts the invocations it runs at once."""

    def __init__(self, delay: float):
        self.delay = delay
        self.now = 0
        self.peak = 0
        self.seen: list[int] = []
        self.release: asyncio.Event | None = None

    async def run(self, n):
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.seen.append(n)
        try:
            if self.release is not None:
                await self.release.wait()
            else:
                await asyncio.sleep(self.delay)
            return n
        finally:
            self.now -= 1


async def test_calls_wait_for_callees_below_their_concurrency(queue_router, uniq):
    """The crossbar-examples ``scaling-microservices/queued`` scenario: two
    callees at concurrency 3 and 2 (round robin) get 20 calls at once from
    callers on two shards; every call succeeds, no callee ever runs more than
    its limit, and each one ran at its limit (the others waited)."""
    proc = uniq("com.queue.compute")
    sessions = []

    async def session(shard):
        s = await placed(lambda *a, **k: connect(queue_router, "ws", "msgpack"), shard)
        sessions.append(s)
        return s

    workers = [Worker(0.15), Worker(0.15)]
    try:
        for shard, (w, limit) in enumerate(zip(workers, (3, 2))):
            callee = await session(shard)
            await callee.register(
                w.run, proc, options=RegisterOptions(invoke="roundrobin", concurrency=limit)
            )
        callers = [await session(0), await session(1 % SHARDS)]
        calls = [callers[n % 2].call(proc, n) for n in range(20)]
        got = await asyncio.wait_for(asyncio.gather(*calls), 30)
        assert got == list(range(20))
        assert [w.peak for w in workers] == [3, 2]
        assert sorted(workers[0].seen + workers[1].seen) == list(range(20))
    finally:
        for s in sessions:
            await s.close()


@pytest.mark.junction_only
async def test_a_full_queue_fails_the_call_and_timeouts_apply_while_waiting(queue_router, uniq):
    """At most 2 calls wait (``com.small.``): the next one fails with
    Crossbar's ``max_concurrency_reached`` (Crossbar itself queues without
    bound). A waiting call's ``timeout`` runs while it waits, and the callee
    never sees a call that timed out in the queue."""
    proc = uniq("com.small.job")
    worker = Worker(0)
    worker.release = asyncio.Event()
    callee = await placed(lambda *a, **k: connect(queue_router), 0)
    caller = await placed(lambda *a, **k: connect(queue_router), 1 % SHARDS)
    try:
        await callee.register(worker.run, proc, options=RegisterOptions(concurrency=1))
        running = asyncio.ensure_future(caller.call(proc, 1))
        await asyncio.sleep(0.2)
        expiring = asyncio.ensure_future(caller.call(proc, 2, options=CallOptions(timeout=300)))
        waiting = asyncio.ensure_future(caller.call(proc, 3))
        await asyncio.sleep(0.2)
        with pytest.raises(ApplicationError) as err:
            await caller.call(proc, 4)
        assert err.value.error == BUSY
        assert "call queue is full (2 calls wait)" in str(err.value.args)
        with pytest.raises(ApplicationError) as err:
            await asyncio.wait_for(expiring, 10)
        assert err.value.error == "wamp.error.timeout"
        assert worker.seen == [1]
        worker.release.set()
        assert await asyncio.wait_for(running, 10) == 1
        assert await asyncio.wait_for(waiting, 10) == 3
        assert worker.seen == [1, 3], "the timed-out call never reached the callee"
        # Outside the rule's prefix nothing waits: the old error at once.
        other = uniq("com.other.job")
        worker.release = asyncio.Event()
        await callee.register(worker.run, other, options=RegisterOptions(concurrency=1))
        first = asyncio.ensure_future(caller.call(other, 5))
        await asyncio.sleep(0.2)
        with pytest.raises(ApplicationError) as err:
            await caller.call(other, 6)
        assert err.value.error == BUSY
        worker.release.set()
        assert await asyncio.wait_for(first, 10) == 5
    finally:
        await caller.close()
        await callee.close()

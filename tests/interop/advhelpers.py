"""Helpers shared by the advanced-profile interop tests (pubsub options, meta API)."""

from __future__ import annotations

import asyncio

from routerproc import SHARDS, RouterProcess
from wampclient import TIMEOUT

#: (name, publisher's shard, subscriber's shard): every case runs with both
#: sessions on one shard and on two different shards (Junction; a router
#: without shards, such as Crossbar, runs both cases the same way).
PLACEMENTS = [("same-shard", 0, 0), ("cross-shard", 0, 1)]
PLACEMENT_IDS = [p[0] for p in PLACEMENTS]


async def placed(clients, shard: int | None, *args, **kwargs):
    """A session on ``shard`` (Junction's ``x_junction_shard``): connects until
    the kernel puts one there, closing the others. Routers that report no
    shard give the first session."""
    for _ in range(80):
        s = await clients(*args, **kwargs)
        if s.shard is None or shard is None or s.shard == shard % SHARDS:
            return s
        await s.close()
    raise AssertionError(f"no session landed on shard {shard} in 80 tries")


async def wait_for(predicate, timeout: float = TIMEOUT, what: str = "condition"):
    """Polls ``predicate()`` until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def custom_router(tmp_path_factory, name: str, edit) -> RouterProcess:
    """A router whose config ``edit(config)`` changes before it starts."""
    proc = RouterProcess(tmp_path_factory.mktemp(name))
    edit(proc.config)
    return proc.start()


def realm_config(config: dict, name: str) -> dict:
    """The realm named ``name`` in a node config."""
    return next(r for r in config["workers"][0]["realms"] if r["name"] == name)

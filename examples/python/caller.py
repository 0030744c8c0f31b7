"""Caller: calls com.example.add2 over WebSocket with JSON and prints the result.

Run a router and the callee first, then: python examples/python/caller.py
"""

import os

from autobahn.asyncio.component import Component, run

WS_URL = os.environ.get("JUNCTION_WS_URL", "ws://127.0.0.1:8080/ws")

component = Component(
    transports=[{"type": "websocket", "url": WS_URL, "serializers": ["json"]}],
    realm="realm1",
)


@component.on_join
async def joined(session, details):
    result = await session.call("com.example.add2", 2, 3)
    print(f"caller (JSON over WebSocket): com.example.add2(2, 3) = {result}", flush=True)
    await session.leave()


@component.on_leave
async def left(session, details):
    session.disconnect()


if __name__ == "__main__":
    run([component], log_level="warn")

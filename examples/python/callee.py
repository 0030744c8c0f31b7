"""Callee: registers com.example.add2 over RawSocket with MessagePack.

Run a router first (`junction start`), then: python examples/python/callee.py
"""

import os

from autobahn.asyncio.component import Component, run

RS_URL = os.environ.get("JUNCTION_RS_URL", "rs://127.0.0.1:8081")

component = Component(
    transports=[{"type": "rawsocket", "url": RS_URL, "serializer": "msgpack"}],
    realm="realm1",
)


@component.register("com.example.add2")
def add2(a, b):
    print(f"add2({a}, {b}) called", flush=True)
    return a + b


@component.on_join
async def joined(session, details):
    print(f"callee joined session {details.session} (msgpack over RawSocket); add2 registered", flush=True)


if __name__ == "__main__":
    run([component], log_level="warn")

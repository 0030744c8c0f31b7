#!/usr/bin/env python3
"""Smoke test for a router started with perf/compare.sh's config: joins
realm1 anonymously over WebSocket/JSON with Autobahn|Python (asyncio),
subscribes, publishes (acknowledged, not excluded), registers and calls.
Exits 0 when the event and the call result came back.

Usage: smoke.py [URL]   (default ws://127.0.0.1:18090/ws, Crossbar's port)
Needs autobahn (tests/interop/.venv has it).
"""

import asyncio
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402

RESULT = {"ok": False}


class Smoke(ApplicationSession):
    async def onJoin(self, details):
        got = asyncio.get_running_loop().create_future()
        await self.subscribe(lambda x: got.set_result(x), "perf.smoke.topic")
        await self.publish(
            "perf.smoke.topic",
            "hello",
            options=PublishOptions(acknowledge=True, exclude_me=False),
        )
        event = await asyncio.wait_for(got, 5)
        await self.register(lambda a, b: a + b, "perf.smoke.add")
        result = await self.call("perf.smoke.add", 2, 3)
        print(f"session {details.session}: event={event!r} call={result!r}")
        RESULT["ok"] = event == "hello" and result == 5
        self.leave()

    def onLeave(self, details):
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:18090/ws"
    ApplicationRunner(url, "realm1").run(Smoke)
    print("smoke:", "ok" if RESULT["ok"] else "FAILED")
    return 0 if RESULT["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""A container component for test_workers.py: an asyncio ApplicationSession
class that registers the procedure named in its ``extra`` and answers with
its ``extra`` and arguments; ``<procedure>.leave`` makes it leave the realm
(``wamp.close.normal``: the component has stopped)."""

import asyncio
import os

from autobahn.asyncio.wamp import ApplicationSession


class EchoSession(ApplicationSession):
    async def onJoin(self, details):
        extra = self.config.extra

        def echo(*args):
            return {"extra": extra, "args": list(args), "pid": os.getpid()}

        def leave():
            # After the answer is on its way.
            asyncio.get_running_loop().call_later(0.2, self.leave)
            return "leaving"

        await self.register(echo, extra["procedure"])
        await self.register(leave, extra["procedure"] + ".leave")
        print(f"container component registered {extra['procedure']}", flush=True)

"""A container component for test_workers.py: an asyncio ApplicationSession
class that registers the procedure named in its ``extra`` and answers with
its ``extra`` and arguments."""

import os

from autobahn.asyncio.wamp import ApplicationSession


class EchoSession(ApplicationSession):
    async def onJoin(self, details):
        extra = self.config.extra

        def echo(*args):
            return {"extra": extra, "args": list(args), "pid": os.getpid()}

        await self.register(echo, extra["procedure"])
        print(f"container component registered {extra['procedure']}", flush=True)

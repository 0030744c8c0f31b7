"""A Crossbar-style container component for test_workers.py: a Twisted
ApplicationSession (as Crossbar's own containers run) that registers the
procedure named in its ``extra``."""

import os

from autobahn.twisted.wamp import ApplicationSession
from twisted.internet.defer import inlineCallbacks


class TwistedEcho(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        extra = self.config.extra

        def echo(*args):
            from twisted.internet import reactor

            return {"extra": extra, "args": list(args), "pid": os.getpid(), "reactor": type(reactor).__name__}

        yield self.register(echo, extra["procedure"])
        print(f"twisted component registered {extra['procedure']}", flush=True)


def on_join(session, details):
    """A ``function`` container component's join callback (Twisted):
    registers ``<extra procedure>`` answering with the session's role and
    the reactor it runs on."""
    from twisted.internet import reactor

    def who():
        return {"authrole": details.authrole, "reactor": type(reactor).__name__}

    return session.register(who, session.config.extra["procedure"])

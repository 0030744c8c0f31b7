"""Router components for test_workers.py (the router's own ``components``,
which Junction runs in its component host): ``Backend`` registers the
procedure named in its ``extra``, which publishes its arguments on the
``extra`` topic and answers with the session's authid and role;
``Limited`` tries to register a procedure its role may not and prints
the error it gets."""

import os

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError


class Backend(ApplicationSession):
    async def onJoin(self, details):
        extra = self.config.extra

        def echo(*args):
            self.publish(extra["topic"], *args)
            return {
                "authid": details.authid,
                "authrole": details.authrole,
                "extra": extra,
                "args": list(args),
                "pid": os.getpid(),
                "mode": os.environ.get("RCOMP_MODE"),
            }

        await self.register(echo, extra["procedure"])
        print(f"router component {details.authid} registered {extra['procedure']}", flush=True)


class Limited(ApplicationSession):
    async def onJoin(self, details):
        procedure = self.config.extra["procedure"]
        try:
            await self.register(lambda: "no", procedure)
        except ApplicationError as e:
            print(f"router component {details.authid} ({details.authrole}): register {procedure}: {e.error}", flush=True)
        else:
            print(f"router component {details.authid} ({details.authrole}) registered {procedure}", flush=True)


def on_join(session, details):
    """A ``function`` router component's join callback: registers
    ``<extra procedure>`` answering with the session's authid and role."""
    procedure = session.config.extra["procedure"]

    def who():
        return {"authid": details.authid, "authrole": details.authrole}

    print(f"router function component {details.authid} joined", flush=True)
    return session.register(who, procedure)


class Slow(ApplicationSession):
    """Registers its ``extra`` procedure only after ``extra["sleep"]``
    seconds in onJoin (a component that keeps the node waiting)."""

    async def onJoin(self, details):
        import asyncio

        await asyncio.sleep(self.config.extra["sleep"])
        await self.register(lambda: "late", self.config.extra["procedure"])


class LegacyAuthorizer(ApplicationSession):
    """A dynamic authorizer of the old shape, ``(session, uri, action)``
    without ``options`` (as in crossbar-examples' authorization/dynamic):
    allows everything under ``extra["prefix"]``."""

    async def onJoin(self, details):
        prefix = self.config.extra["prefix"]

        def authorize(session, uri, action):
            print(f"authorize {session['authid']} {action} {uri}", flush=True)
            return {"allow": uri.startswith(prefix), "disclose": True}

        await self.register(authorize, self.config.extra["procedure"])


class Authorized(Backend):
    """``Backend`` whose role the authorizer above decides: its REGISTER
    needs the authorizer registered first."""

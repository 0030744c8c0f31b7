"""``"type": "function"`` authenticators (Crossbar's Python authenticator
factories), with Autobahn|Python clients.

The router's realm1 takes WAMP-Ticket logins checked by
``fnauth.create_authenticator`` (a module written here, the shape of
crossbar-examples' ``authentication/ticket/function``): the factory gets the
configured ``config`` (and None for Crossbar's node controller) and returns
``authenticate(realm, authid, details)``. Junction runs it in the router
components' host and calls it as a dynamic authenticator.

The procedure it is registered as lies under ``junction.internal.``, which
only the router may call: an anonymous session whose role may do anything
is refused calling it, registering it, and registering a prefix or wildcard
pattern that would catch its calls.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import RegisterOptions

from authhelpers import login
from test_workers import WorkersRouter
from wampclient import JoinFailed, connect

pytestmark = pytest.mark.junction_only

FNAUTH = textwrap.dedent(
    '''
    from autobahn.wamp.exception import ApplicationError

    PRINCIPALS = {"joe": {"ticket": "joe-secret", "role": "user"}}


    async def create_authenticator(config, controller):
        assert controller is None
        label = config["label"]

        def authenticate(realm, authid, details):
            p = PRINCIPALS.get(authid)
            if p is None or details.get("ticket") != p["ticket"]:
                raise ApplicationError("com.example.invalid_ticket", "no such ticket for " + str(authid))
            return {"role": p["role"], "extra": {"label": label, "realm": realm}}

        return authenticate
    '''
)


# The same, logging through txaio from import time on, as Crossbar's
# examples do (authentication/cryptosign/function): Crossbar imports it
# with Twisted chosen; the host must choose a framework for it.
FNAUTH_LOGGING = (
    "from txaio import make_logger\n\nlog = make_logger()\n"
    + FNAUTH.replace("        return authenticate", "        log.info('authenticator made')\n        return authenticate")
)


@pytest.fixture(params=["plain"])
def fn_router(tmp_path, request):
    lib = tmp_path / "pylib"
    lib.mkdir()
    (lib / "fnauth.py").write_text(FNAUTH_LOGGING if request.param == "logging" else FNAUTH)
    r = WorkersRouter(tmp_path)
    router = r.config["workers"][0]
    realm = next(x for x in router["realms"] if x["name"] == "realm1")
    everything = {"call": True, "register": True, "publish": True, "subscribe": True}
    realm["roles"].append({"name": "user", "permissions": [{"uri": "", "match": "prefix", "allow": everything}]})
    router["options"] = {"pythonpath": [str(lib)], "python": sys.executable}
    ws = next(t for t in router["transports"] if t["type"] == "websocket")
    ws["auth"] = {
        "anonymous": {"type": "static", "role": "anonymous"},
        "ticket": {
            "type": "function",
            "create": "fnauth.create_authenticator",
            "expose_controller": True,
            "config": {"label": "from-config"},
        },
    }
    r.start()
    yield r
    r.kill()


async def _joe(router, ticket: str):
    """Logs joe in. No retry: the router holds its clients until the host
    has registered the authenticator (a login before that would find none
    and be refused as unavailable)."""
    return await login(("127.0.0.1", router.ws_port), "ws", "ticket", "joe", ticket)


async def test_a_function_authenticator_decides_ticket_logins(fn_router):
    joe = await _joe(fn_router, "joe-secret")
    try:
        assert (joe._authid, joe._authrole, joe._authmethod) == ("joe", "user", "ticket")
        with pytest.raises(JoinFailed) as err:
            await _joe(fn_router, "wrong")
        assert err.value.reason == "com.example.invalid_ticket"
        assert "no such ticket for joe" in (err.value.message or "")
        # What the factory made of its config reaches the client.
        assert joe._authextra == {"label": "from-config", "realm": "realm1"}
        assert "the router's components have joined: accepting clients" in fn_router.log_text()
    finally:
        await joe.close()


@pytest.mark.parametrize("fn_router", ["logging"], indirect=True)
async def test_a_module_that_logs_through_txaio_at_import_loads(fn_router):
    joe = await _joe(fn_router, "joe-secret")
    try:
        assert (joe._authid, joe._authrole, joe._authextra["label"]) == ("joe", "user", "from-config")
    finally:
        await joe.close()


async def test_the_authenticators_procedure_is_the_routers_alone(fn_router):
    joe = await _joe(fn_router, "joe-secret")
    anon = await connect(fn_router, "ws", "json")
    try:
        procedure = "junction.internal.authenticator.1"
        for session in (anon, joe):
            with pytest.raises(ApplicationError) as err:
                await session.call(procedure, "realm1", "joe", {"ticket": "x"})
            assert err.value.error == "wamp.error.not_authorized"
        for uri, match in ((procedure, "exact"), ("junction.", "prefix"), ("", "prefix"), ("junction..authenticator.1", "wildcard")):
            with pytest.raises(ApplicationError) as err:
                await anon.register(lambda *a: "user", uri, options=RegisterOptions(match=match))
            assert err.value.error == "wamp.error.not_authorized", (uri, match)
        # Other patterns are the roles' business as before.
        reg = await anon.register(lambda: 1, "com.", options=RegisterOptions(match="prefix"))
        await reg.unregister()
    finally:
        await anon.close()
        await joe.close()

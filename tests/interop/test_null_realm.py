"""HELLO with a null realm, from Autobahn|Python.

crossbar-examples' ``authentication/advanced`` and ``cryptosign/dynamic`` /
``cryptosign/function`` clients join with ``realm=None`` and leave it to the
authentication to place them. The router accepts the null realm,
authenticates as usual, and puts the session in the realm the login
assigns: a dynamic authenticator's answer (called with realm ``None``, as
Crossbar calls it) or a static principal's ``realm``. A login that assigns
none is refused with ``wamp.error.no_such_realm``.

The config is Crossbar's shape (no ``junction`` block).
"""

from __future__ import annotations

import asyncio

import pytest
from autobahn.asyncio.component import Component
from autobahn.wamp.types import RegisterOptions

from authhelpers import login, pubkey, seed
from routerproc import RouterProcess, free_port
from wampclient import TIMEOUT, JoinFailed, connect

ALL = {"call": True, "register": True, "publish": True, "subscribe": True}
TICKETS = {"user1": "123secret"}


def _role(name: str) -> dict:
    return {"name": name, "permissions": [{"uri": "", "match": "prefix", "allow": dict(ALL)}]}


@pytest.fixture
def null_router(tmp_path):
    r = RouterProcess(tmp_path, config={})
    r.null_port = free_port()
    while r.null_port in (r.ws_port, r.rs_port):
        r.null_port = free_port()

    def ws(port: int, auth: dict) -> dict:
        return {
            "type": "websocket",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
            "serializers": ["json", "msgpack"],
            "auth": auth,
        }

    r.config = {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [
                    {"name": "realm1", "roles": [_role("backend"), _role("user")]},
                    {"name": "realm-user1", "roles": [_role("user")]},
                    {"name": "realm2", "roles": [_role("user")]},
                ],
                "transports": [
                    # The authenticator component joins here.
                    ws(r.ws_port, {"anonymous": {"type": "static", "role": "backend"}}),
                    ws(
                        r.null_port,
                        {
                            "ticket": {
                                "type": "dynamic",
                                "authenticator": "com.example.authenticate",
                                "authenticator-realm": "realm1",
                            },
                            "cryptosign": {
                                "type": "static",
                                "principals": {
                                    "roam": {
                                        "authorized_keys": [pubkey(2)],
                                        "role": "user",
                                        "realm": "realm2",
                                    },
                                    "dev": {"authorized_keys": [pubkey(1)], "role": "user"},
                                },
                            },
                            "anonymous": {"type": "static", "role": "user"},
                        },
                    ),
                ],
            }
        ],
    }
    r.wait_ports = [r.ws_port, r.null_port]
    r.start()
    yield r
    r.kill()


@pytest.fixture
async def authenticator(null_router):
    """The authentication/advanced example's authenticator: it sends user1
    to realm-user1, and records the realm it was asked about."""
    asked: list = []
    s = await connect(null_router, "ws", "json", "realm1")

    def authenticate(realm, authid, details):
        asked.append(realm)
        if TICKETS.get(authid) != details.get("ticket"):
            raise Exception("bad ticket")
        return {"realm": f"realm-{authid}", "role": "user", "extra": {"welcome": [1, 2, 3]}}

    await s.register(authenticate, "com.example.authenticate", RegisterOptions())
    yield asked
    await s.close()


async def run_component(url: str, authentication: dict) -> tuple[object, object, object]:
    """Runs an asyncio Component with ``realm=None``; returns the
    SessionDetails it joined with (or None), the CloseDetails it left with,
    and what ``wamp.session.get`` said about it."""
    comp = Component(
        transports=[{"type": "websocket", "url": url, "max_retries": 0}],
        realm=None,
        authentication=authentication,
        is_fatal=lambda _e: True,
    )
    out: dict = {}

    @comp.on_join
    async def joined(session, details):
        out["joined"] = details
        out["echo"] = await session.call("wamp.session.get", details.session)
        await session.leave()

    @comp.on_leave
    async def left(session, details):
        out["left"] = details

    done = comp.start(asyncio.get_running_loop())
    try:
        await asyncio.wait_for(done, TIMEOUT)
    except Exception:
        pass  # a refused join fails the component: `left` tells why
    return out.get("joined"), out.get("left"), out.get("echo")


async def test_a_component_with_no_realm_joins_where_its_authenticator_puts_it(
    null_router, authenticator
):
    url = f"ws://127.0.0.1:{null_router.null_port}/ws"
    joined, left, echo = await run_component(
        url, {"ticket": {"authid": "user1", "ticket": TICKETS["user1"]}}
    )
    assert joined is not None, f"not joined: {left}"
    assert joined.realm == "realm-user1"
    assert (joined.authid, joined.authrole, joined.authmethod) == ("user1", "user", "ticket")
    assert joined.authextra == {"welcome": [1, 2, 3]}
    # The meta API sees it in that realm.
    assert echo["realm"] == "realm-user1" and echo["authid"] == "user1"
    # The authenticator was asked with realm None, as Crossbar asks it.
    assert authenticator == [None]


async def test_a_null_realm_joins_the_realm_of_its_cryptosign_principal(null_router):
    s = await login(("127.0.0.1", null_router.null_port), "ws", "cryptosign", "roam", seed(2), realm=None)
    try:
        d = await s.joined
        assert (d.realm, d.authid, d.authrole) == ("realm2", "roam", "user")
        d = await s.call("wamp.session.get", s.session_id)
        assert d["authid"] == "roam"
    finally:
        await s.close()
    # A principal without a realm, and an anonymous login: no realm to join.
    for method, authid, secret in [("cryptosign", "dev", seed(1)), ("anonymous", None, None)]:
        with pytest.raises(JoinFailed) as e:
            await login(("127.0.0.1", null_router.null_port), "ws", method, authid, secret, realm=None)
        assert e.value.reason == "wamp.error.no_such_realm", (method, e.value)
        assert "no realm" in e.value.message

"""A Crossbar config with proxy workers, read unmodified
(tests/config_files/compat_proxy.json with its port set): the proxies'
WebSocket transport is served by the router with the proxies' own
authentication, and a session may join only the (realm, role) pairs the
proxies' ``routes`` name. The router's ``anonymous-proxy`` RawSocket
transport, which only the proxies used, is not opened.

Autobahn|Python clients: anonymous and ``alice`` (ticket, role ``user``,
routed) join and talk to each other; ``bob`` (ticket, role ``admin``, not
routed) is refused ``wamp.error.no_such_role``, as the proxy refuses him.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from authhelpers import login
from routerproc import RouterProcess, free_port
from wampclient import JoinFailed

pytestmark = pytest.mark.junction_only

FIXTURE = Path(__file__).resolve().parents[1] / "config_files" / "compat_proxy.json"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    config = json.loads(FIXTURE.read_text())
    port = free_port()
    for worker in config["workers"][1:]:
        worker["transports"][0]["endpoint"]["port"] = port
    config["junction"] = {"shutdown_timeout": 2}
    workdir = tmp_path_factory.mktemp("proxied")
    proc = RouterProcess(workdir, config=config, wait_ports=[port])
    proc.port = port
    proc.start()
    yield proc
    alive = proc.alive()
    proc.kill()
    assert alive, proc.logs()
    assert not (workdir / "compat-router.sock").exists(), "the backend socket is not opened"


async def test_routes_decide_who_joins_through_a_proxy_transport(proxied):
    where = ("127.0.0.1", proxied.port)
    with urllib.request.urlopen(f"http://127.0.0.1:{proxied.port}/", timeout=5) as r:
        assert json.load(r) == {"site": "compat"}
    anon = await login(where, "ws", "anonymous", None)
    alice = await login(where, "ws", "ticket", "alice", "alice-ticket", serializer="msgpack")
    try:
        assert alice._authrole == "user"
        await anon.register(lambda: "pong", "org.compat.public.ping")
        assert await alice.call("org.compat.public.ping") == "pong"
        with pytest.raises(JoinFailed) as err:
            await login(where, "ws", "ticket", "bob", "bob-ticket")
        assert err.value.reason == "wamp.error.no_such_role"
        assert "role 'admin' is not routed to realm 'realm1'" in err.value.message
        with pytest.raises(JoinFailed) as err:
            await login(where, "ws", "anonymous", None, realm="realm2")
        assert err.value.reason == "wamp.error.no_such_realm"
    finally:
        await anon.close()
        await alice.close()

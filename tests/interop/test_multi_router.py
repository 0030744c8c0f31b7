"""A Crossbar config with two router workers, read unmodified: Crossbar
runs two routers; Junction runs one, and each worker's transports serve only
that worker's realms (docs/config.md, "Several router workers").

Worker 0 serves realm ``app`` on a WebSocket transport; worker 1 (``id``
``logger``) serves realm ``logs`` on a RawSocket transport. Autobahn|Python
clients reach their own worker's realm, are refused the other's with
``wamp.error.no_such_realm`` (as the other Crossbar router would refuse
them), and the realms route as usual.
"""

from __future__ import annotations

import asyncio

import pytest
from autobahn.wamp.types import PublishOptions

from routerproc import IS_CROSSBAR, RouterProcess
from wampclient import JoinFailed, connect


def _config(ws_port: int, rs_port: int) -> dict:
    def router(realm, transport, worker_id=None):
        w = {
            "type": "router",
            "realms": [
                {
                    "name": realm,
                    "roles": [
                        {
                            "name": "anonymous",
                            "permissions": [
                                {
                                    "uri": "",
                                    "match": "prefix",
                                    "allow": {
                                        "call": True,
                                        "register": True,
                                        "publish": True,
                                        "subscribe": True,
                                    },
                                }
                            ],
                        }
                    ],
                }
            ],
            "transports": [transport],
        }
        if worker_id:
            w["id"] = worker_id
        return w

    endpoint = lambda port: {"type": "tcp", "interface": "127.0.0.1", "port": port}  # noqa: E731
    config = {
        "version": 2,
        "workers": [
            router("app", {"type": "websocket", "endpoint": endpoint(ws_port), "serializers": ["json"]}),
            router(
                "logs",
                {"type": "rawsocket", "endpoint": endpoint(rs_port), "serializers": ["msgpack"]},
                "logger",
            ),
        ],
    }
    if not IS_CROSSBAR:
        config["junction"] = {"shutdown_timeout": 2}
    return config


@pytest.fixture(scope="module")
def two_routers(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("tworouters"), config={})
    proc.config = _config(proc.ws_port, proc.rs_port)
    proc.wait_ports = [proc.ws_port, proc.rs_port]
    proc.start()
    yield proc
    alive = proc.alive()
    proc.kill()
    assert alive, proc.logs()


async def test_each_router_workers_transports_serve_only_its_realms(two_routers):
    app = await connect(two_routers, "ws", "json", realm="app")
    logs = await connect(two_routers, "rs", "msgpack", realm="logs")
    try:
        for transport, serializer, realm in (("ws", "json", "logs"), ("rs", "msgpack", "app")):
            with pytest.raises(JoinFailed) as err:
                await connect(two_routers, transport, serializer, realm=realm)
            assert err.value.reason == "wamp.error.no_such_realm", err.value
        # Each realm routes as usual; nothing crosses between them.
        await app.register(lambda x: x * 2, "com.example.double")
        assert await app.call("com.example.double", 21) == 42
        got: asyncio.Queue = asyncio.Queue()
        await logs.subscribe(lambda line: got.put_nowait(line), "com.example.line")
        second = await connect(two_routers, "rs", "msgpack", realm="logs")
        try:
            await second.publish("com.example.line", "hello", options=PublishOptions(acknowledge=True))
            assert await asyncio.wait_for(got.get(), 5) == "hello"
        finally:
            await second.close()
    finally:
        await app.close()
        await logs.close()

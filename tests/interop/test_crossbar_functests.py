"""What running Crossbar.io's own functional tests against Junction showed.

``tests/compat/crossbar_functests.sh`` runs Crossbar's
``test/functests/cbtests`` unmodified against Junction (not in CI: the
Crossbar checkout is not in this repository). Each test here is one
incompatibility those tests found, checked with Autobahn|Python clients
against the router as configured by the Crossbar test that found it, so
that it stays fixed without the checkout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from authhelpers import login
from routerproc import IS_CROSSBAR, RouterProcess, free_port
from test_workers import GUEST, WorkersRouter, call_when_registered

ALL = {"call": True, "register": True, "publish": True, "subscribe": True}


@pytest.fixture
def auth_crossbar(tmp_path):
    """The WebSocket service of Crossbar's ``auth_crossbar`` fixture
    (functests/conftest.py): its ``cookie`` authentication method carries a
    ``store``, which Crossbar's checker accepts and its router never reads."""
    port = free_port()
    store = {"type": "file", "filename": "foo.cookies.dat"}
    config = {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "id": "testee",
                "type": "router",
                "realms": [
                    {
                        "name": "auth_realm",
                        "roles": [
                            {"name": name, "permissions": [{"uri": "*", "allow": dict(ALL)}]}
                            for name in ("authenticated", "anonymous")
                        ],
                    }
                ],
                "transports": [
                    {
                        "type": "web",
                        "id": "ws_test_0",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": {
                            "test_wampcra": {
                                "type": "websocket",
                                "auth": {
                                    "wampcra": {
                                        "type": "static",
                                        "users": {
                                            "username": {
                                                "secret": "p4ssw0rd",
                                                "role": "authenticated",
                                            }
                                        },
                                    },
                                    "anonymous": {"type": "static", "role": "anonymous"},
                                    "cookie": {"store": dict(store)},
                                },
                                "cookie": {"store": dict(store)},
                            }
                        },
                    }
                ],
            }
        ],
    }
    r = RouterProcess(tmp_path, config=config, wait_ports=[port])
    r.auth_port = port
    r.start()
    yield r
    r.kill()


async def test_a_cookie_method_with_settings_starts_and_logs_in(auth_crossbar):
    """test_cb_pubsub.py's five ``auth_crossbar`` tests: the node must start
    (it refused the `store` key) and WAMP-CRA logins must work."""
    s = await login(
        ("127.0.0.1", auth_crossbar.auth_port),
        "ws",
        "wampcra",
        "username",
        "p4ssw0rd",
        realm="auth_realm",
        url_path="/test_wampcra",
    )
    try:
        d = await s.joined
        assert (d.authid, d.authrole, d.authmethod) == ("username", "authenticated", "wampcra")
    finally:
        await s.close()
    logs = auth_crossbar.logs()
    assert "test_wampcra.auth.cookie.store: ignored" in logs, logs


async def test_publishing_to_a_wamp_topic_is_refused_in_crossbars_words(clients):
    """test_cb_pubsub.py::test_internal_uri: an acknowledged publish to
    ``wamp.awesome`` fails with ``wamp.error.invalid_uri`` and Crossbar's
    message, "publish with restricted topic URI ..."."""
    s = await clients()
    with pytest.raises(ApplicationError) as e:
        await s.publish("wamp.awesome", "arg", options=PublishOptions(acknowledge=True))
    assert e.value.error == "wamp.error.invalid_uri"
    assert "restricted topic" in str(e.value), str(e.value)


@pytest.mark.parametrize("controller", [None, {"options": {"shutdown": ["shutdown_on_worker_exit"]}}])
async def test_a_container_that_ends_shuts_the_node_down(tmp_path, controller):
    """test_cb_apperrors.py::test_log_error_from_subscribe: a container
    worker whose last component left ends (its shutdown mode), and
    Crossbar's node then shuts down, by default too
    (``shutdown_on_worker_exit``), with exit status 1 (Crossbar's node:
    not a clean shutdown). The sessions are drained as for a signal."""
    if IS_CROSSBAR:
        pytest.skip("Junction only: the component comes from this test's guests/")
    r = WorkersRouter(tmp_path)
    if controller is not None:
        r.config["controller"] = controller
    endpoint = {"type": "tcp", "host": "127.0.0.1", "port": r.ws_port}
    r.config["workers"].append(
        {
            "type": "container",
            "id": "guest_class",
            "options": {
                "pythonpath": [str(GUEST.parent)],
                "python": sys.executable,
                "shutdown": "shutdown-on-last-component-stopped",
            },
            "components": [
                {
                    "type": "class",
                    "classname": "container_app.EchoSession",
                    "realm": "realm1",
                    "extra": {"procedure": "com.ends"},
                    "transport": {"type": "websocket", "url": r.ws_url, "endpoint": endpoint},
                }
            ],
        }
    )
    r.start()
    try:
        assert await call_when_registered(r, "com.ends.leave") == "leaving"
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, r.wait, 20)
        assert code == 1, r.logs()
        log = r.log_text()
        assert "a container worker ended: shutting down" in log, log
        assert "worker=guest_class" in log and "trigger=\"shutdown_on_worker_exit\"" in log, log
    finally:
        r.kill()


PROXY_CONFIG = Path(__file__).resolve().parents[1] / "config_files" / "compat_proxy.json"


async def test_a_proxy_connection_with_a_url_is_served(tmp_path):
    """test_cb_proxy.py: its proxy workers' connections carry
    ``"url": "rs://localhost"``, which Crossbar's proxy never reads (and its
    checker does not look at); the node refused the key and did not start.
    Now warned: the proxies' transport serves clients as before."""
    if IS_CROSSBAR:
        pytest.skip("Junction only (Crossbar's own proxy workers are tested by test_cb_proxy.py)")
    config = json.loads(PROXY_CONFIG.read_text())
    port = free_port()
    for worker in config["workers"][1:]:
        worker["transports"][0]["endpoint"]["port"] = port
        for connection in worker["connections"].values():
            connection["url"] = "rs://localhost"
    r = RouterProcess(tmp_path, config=config, wait_ports=[port])
    r.start()
    try:
        where = ("127.0.0.1", port)
        anon = await login(where, "ws", "anonymous", None)
        alice = await login(where, "ws", "ticket", "alice", "alice-ticket")
        try:
            await anon.register(lambda: "pong", "org.compat.public.ping")
            assert await alice.call("org.compat.public.ping") == "pong"
        finally:
            await anon.close()
            await alice.close()
        assert "connections.conn1.url: ignored" in r.logs(), r.logs()
    finally:
        r.kill()

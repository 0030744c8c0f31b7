"""What running Crossbar.io's own functional tests against Junction showed.

``tests/compat/crossbar_functests.sh`` runs Crossbar's
``test/functests/cbtests`` unmodified against Junction (not in CI: the
Crossbar checkout is not in this repository). Each test here is one
incompatibility those tests found, checked with Autobahn|Python clients
against the router as configured by the Crossbar test that found it, so
that it stays fixed without the checkout.
"""

from __future__ import annotations

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from authhelpers import login
from routerproc import RouterProcess, free_port

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

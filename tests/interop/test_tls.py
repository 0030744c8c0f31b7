"""TLS on every kind of listener with real clients (issue 10, point 4).

Autobahn|Python over wss and RawSocket+TLS (and cryptosign bound to the
channel with ``tls-unique``), client certificates with ``tls`` authentication,
cookie authentication via a raw WebSocket client (the cookie set on the
upgrade of a ticket login, presented again, and surviving a restart with the
file store), Autobahn|JS over wss, paho-mqtt over TLS, HTTPS on a web
transport, a plaintext client on a TLS port and a TLS client on a plaintext
port (a clean failure and one log line each, the router still serving), and a
certificate reload (SIGHUP) that a session open across it survives.

Certificates are made by the tests (``tlshelpers.Pki``). Junction only: the
config uses Junction extensions (``junction`` in ``endpoint.tls`` and in
``auth.tls``).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import ssl
import threading
import time

import pytest
from autobahn.wamp import auth as ab_auth

from authhelpers import JoinFailed
from routerproc import IS_CROSSBAR
from test_rpc_js import JS_DIR, NODE, _node_args
from tlshelpers import Pki, RawWs, TlsRouter, tls_login
from wampclient import TIMEOUT

pytestmark = pytest.mark.skipif(IS_CROSSBAR, reason="Junction config (TLS and auth extensions)")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def alice(pki):
    return pki.client("alice")


@pytest.fixture(scope="module")
def tls_router(tmp_path_factory, pki, alice):
    proc = TlsRouter(tmp_path_factory.mktemp("tls"), pki, alice[2]).start()
    yield proc
    alive = proc.alive()
    proc.kill()
    if not alive:
        pytest.fail(f"the router died:\n{proc.logs()}")


@pytest.fixture
async def sessions():
    opened = []
    yield opened
    for s in opened:
        await s.close()


def details_of(s) -> tuple:
    return (s._authid, s._authrole, s._authmethod, s._authprovider)


async def roundtrip(s, uri: str) -> None:
    await s.register(lambda x: x * 2, uri)
    assert await s.call(uri, 21) == 42


# -- Autobahn|Python over wss and RawSocket+TLS --------------------------------------


@pytest.mark.parametrize("tls13", [True, False], ids=["tls1.3", "tls1.2"])
@pytest.mark.parametrize(
    "listener,transport,serializer,path",
    [
        ("wss", "ws", "json", "/"),
        ("wss", "ws", "cbor", "/"),
        ("rss", "rs", "msgpack", "/"),
        ("web", "ws", "json", "/ws"),
        ("uni", "rs", "msgpack", "/"),
        ("uni", "ws", "json", "/ws"),
    ],
)
async def test_autobahn_python_over_tls(tls_router, pki, sessions, listener, transport, serializer, path, tls13):
    s = await tls_login(
        tls_router, listener, transport, ab_auth.AuthAnonymous(), pki.context(tls13=tls13),
        serializer=serializer, path=path,
    )
    sessions.append(s)
    assert s._authrole == "anonymous"
    await roundtrip(s, f"com.tls.{listener}.{serializer}.{int(tls13)}")


async def test_publish_from_wss_reaches_rawsocket_tls_subscriber(tls_router, pki, sessions):
    sub = await tls_login(tls_router, "rss", "rs", ab_auth.AuthAnonymous(), pki.context())
    pub = await tls_login(tls_router, "wss", "ws", ab_auth.AuthAnonymous(), pki.context())
    sessions.extend([sub, pub])
    got = asyncio.get_running_loop().create_future()
    await sub.subscribe(lambda x: got.set_result(x) if not got.done() else None, "com.tls.topic")
    from autobahn.wamp.types import PublishOptions

    # Larger than a TLS record: the event crosses record boundaries.
    payload = "x" * 50_000
    await pub.publish("com.tls.topic", payload, options=PublishOptions(acknowledge=True))
    assert await asyncio.wait_for(got, TIMEOUT) == payload


@pytest.mark.parametrize("tls13", [True, False], ids=["tls1.3", "tls1.2"])
@pytest.mark.parametrize("listener,transport", [("wss", "ws"), ("rss", "rs")])
async def test_cryptosign_bound_to_the_tls_channel(tls_router, pki, sessions, listener, transport, tls13):
    seed = (bytes([1]) * 32).hex()
    auth = ab_auth.AuthCryptoSign(privkey=seed, authid="dev", authextra={"channel_binding": "tls-unique"})
    s = await tls_login(tls_router, listener, transport, auth, pki.context(tls13=tls13))
    sessions.append(s)
    assert details_of(s) == ("dev", "user", "cryptosign", "static")
    # The router put the binding in the challenge, and Autobahn signed over the
    # same channel ID (SHA-256 of the first Finished message): it got in.
    assert s.challenges[0].extra.get("channel_binding") == "tls-unique"


# -- client certificates: `tls` authentication ---------------------------------------


@pytest.mark.parametrize("listener,transport", [("wss", "ws"), ("rss", "rs")])
async def test_tls_auth_by_listed_fingerprint_and_by_cn(tls_router, pki, alice, sessions, listener, transport):
    tls_auth = ab_auth.create_authenticator("anonymous")
    tls_auth.name = "tls"  # Autobahn has no TLS authenticator: HELLO offers "tls", no challenge comes
    s = await tls_login(tls_router, listener, transport, tls_auth, pki.context(client=alice))
    sessions.append(s)
    assert details_of(s) == ("alice", "user", "tls", "static")
    device = pki.client("device-7")
    s = await tls_login(tls_router, listener, transport, tls_auth, pki.context(client=device))
    sessions.append(s)
    assert details_of(s) == ("device-7", "device", "tls", "static")
    await roundtrip(s, f"com.tls.device.{listener}")


async def test_tls_auth_without_a_certificate_fails_and_the_next_method_applies(tls_router, pki, sessions):
    tls_auth = ab_auth.create_authenticator("anonymous")
    tls_auth.name = "tls"
    with pytest.raises(JoinFailed) as e:
        await tls_login(tls_router, "wss", "ws", tls_auth, pki.context())
    assert e.value.reason == "wamp.error.authentication_failed"
    assert "client certificate" in (e.value.message or "")


async def test_a_certificate_of_another_ca_is_refused_in_the_handshake(tls_router, tmp_path):
    other = Pki(tmp_path / "other", ca_cn="Other CA")
    stranger = other.client("stranger")
    # The client trusts the router's CA but presents a certificate of another one.
    ctx = ssl.create_default_context(cafile=str(tls_router.pki.ca_path))
    ctx.load_cert_chain(str(stranger[0]), str(stranger[1]))
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        r, w = await asyncio.open_connection(*tls_router.addr("rss"), ssl=ctx, server_hostname="localhost")
        w.write(bytes([0x7F, 0xF1, 0, 0]))
        await w.drain()
        await asyncio.wait_for(r.readexactly(4), TIMEOUT)
    assert tls_router.alive()


# -- cookie authentication -------------------------------------------------------------


async def ws_login(ws: RawWs, methods: list, authid: str | None = None, ticket: str | None = None) -> list:
    hello = {"roles": {"caller": {}, "callee": {}}, "authmethods": methods}
    if authid:
        hello["authid"] = authid
    await ws.send([1, "realm1", hello])
    msg = await ws.recv()
    if msg[0] == 4:  # CHALLENGE
        await ws.send([5, ticket, {}])
        msg = await ws.recv()
    return msg


async def test_cookie_auth_after_a_ticket_login_and_across_a_restart(tls_router, pki, tmp_path_factory, alice):
    host, port = tls_router.addr("wss")
    first = await RawWs.connect(host, port, ctx=pki.context())
    set_cookie = first.set_cookie()
    assert set_cookie and "Max-Age=3600" in set_cookie, first.headers
    cookie = set_cookie.split(";")[0]
    # No login is remembered yet: cookie is skipped, ticket applies.
    welcome = await ws_login(first, ["cookie", "ticket"], "joe", "joe-secret")
    assert welcome[0] == 2, welcome
    assert (welcome[2]["authid"], welcome[2]["authmethod"]) == ("joe", "ticket")
    first.close()

    again = await RawWs.connect(host, port, ctx=pki.context(), cookie=cookie)
    assert again.set_cookie() is None, "a known cookie is kept"
    welcome = await ws_login(again, ["cookie"])
    assert welcome[0] == 2, welcome
    d = welcome[2]
    assert (d["authid"], d["authrole"], d["authmethod"], d["authprovider"]) == ("joe", "user", "cookie", "cookie")
    again.close()

    # A cookie the router never issued is replaced, and does not log in.
    planted = await RawWs.connect(host, port, ctx=pki.context(), cookie="cbtid=" + "A" * 24)
    assert planted.set_cookie() is not None
    abort = await ws_login(planted, ["cookie"])
    assert abort[0] == 3, abort  # ABORT: no method applies
    planted.close()

    # The file store: a new router process on the same node directory knows the cookie.
    tls_router.kill()
    restarted = TlsRouter(tls_router.workdir, pki, alice[2], ports=dict(tls_router.ports)).start()
    try:
        later = await RawWs.connect(host, port, ctx=pki.context(), cookie=cookie)
        welcome = await ws_login(later, ["cookie"])
        assert welcome[0] == 2 and welcome[2]["authid"] == "joe", welcome
        later.close()
    finally:
        # Hand the fixture a running router again (its kill() is idempotent).
        tls_router.proc = restarted.proc


# -- Autobahn|JS over wss ---------------------------------------------------------------


async def test_autobahn_js_over_wss(tls_router, pki):
    if NODE is None or not (JS_DIR / "node_modules" / "autobahn").is_dir():
        pytest.fail("needs node and `npm ci` in tests/interop/js (tests/run.sh does it)")
    port = tls_router.ports["wss"]
    spec = {"url": f"wss://localhost:{port}/", "realm": "realm1", "method": "ticket", "authid": "joe", "secret": "joe-secret"}
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(pki.ca_path))
    proc = await asyncio.create_subprocess_exec(
        *_node_args(), str(JS_DIR / "auth.js"), json.dumps(spec), cwd=JS_DIR, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()
    result = json.loads(lines[-1])
    assert result.get("joined"), (result, err.decode())
    assert (result["authid"], result["authmethod"], result["echo"]) == ("joe", "ticket", "hello")


# -- MQTT over TLS ------------------------------------------------------------------------


@pytest.mark.parametrize("over", ["mqtts", "wss", "uni"])
def test_paho_mqtt_over_tls(tls_router, pki, over):
    import paho.mqtt.client as mqtt

    got = threading.Event()
    received = []
    if over == "wss":
        # MQTT over WebSocket on the web transport's `mqtt` path, over TLS.
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="tls-paho-ws", protocol=mqtt.MQTTv311, transport="websockets"
        )
        c.ws_set_options(path="/mqtt")
        port = tls_router.ports["web"]
    else:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tls-paho-{over}", protocol=mqtt.MQTTv311)
        port = tls_router.ports["mqtts" if over == "mqtts" else "uni"]
    c.tls_set(ca_certs=str(pki.ca_path))
    connected = threading.Event()
    c.on_connect = lambda cl, u, f, rc, p=None: connected.set()

    def on_message(cl, u, m):
        received.append((m.topic, m.payload))
        got.set()

    c.on_message = on_message
    c.connect("localhost", port)
    c.loop_start()
    try:
        assert connected.wait(10), "CONNACK over TLS"
        topic = f"tls/{over}"
        c.subscribe(topic, qos=1)
        time.sleep(0.3)
        c.publish(topic, b"over-tls" * 3000, qos=1)
        assert got.wait(10), "the message came back"
        assert received[0] == (topic, b"over-tls" * 3000)
    finally:
        c.loop_stop()
        c.disconnect()


# -- HTTPS on a web transport ---------------------------------------------------------------


def test_https_on_a_web_transport(tls_router, pki):
    conn = http.client.HTTPSConnection("localhost", tls_router.ports["web"], context=pki.context(), timeout=10)
    conn.request("GET", "/")
    r = conn.getresponse()
    assert r.status == 200
    assert json.loads(r.read()) == {"hello": "tls"}
    assert conn.sock.selected_alpn_protocol() in (None, "http/1.1")
    # `options.hsts` with `hsts_max_age: 600`: on every answer over TLS,
    # a 404 too, on the same keep-alive connection.
    assert r.getheader("Strict-Transport-Security") == "max-age=600"
    conn.request("GET", "/nothing-here")
    r = conn.getresponse()
    r.read()
    assert r.status == 404
    assert r.getheader("Strict-Transport-Security") == "max-age=600"
    conn.close()


def test_hsts_is_never_sent_over_plaintext(tls_router):
    conn = http.client.HTTPConnection("127.0.0.1", tls_router.ports["web_plain"], timeout=10)
    conn.request("GET", "/")
    r = conn.getresponse()
    assert r.status == 200
    assert json.loads(r.read()) == {"hello": "plain"}
    assert r.getheader("Strict-Transport-Security") is None
    conn.close()


# -- wrong-protocol clients: a clean failure, a log line, the router serving on -----------


def _log_count(router, needle: str) -> int:
    return router.log_text().count(needle)


async def _wait_log(router, needle: str, at_least: int) -> None:
    for _ in range(100):
        if _log_count(router, needle) >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no log line {needle!r}:\n{router.logs()}")


@pytest.mark.parametrize("listener", ["wss", "rss", "web", "mqtts"])
async def test_a_plaintext_client_on_a_tls_port(tls_router, pki, sessions, listener):
    needle = "a plaintext client connected to a TLS port"
    before = _log_count(tls_router, needle)
    r, w = await asyncio.open_connection(*tls_router.addr(listener))
    w.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await w.drain()
    answer = await asyncio.wait_for(r.read(), TIMEOUT)
    w.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"This port speaks TLS" in answer
    await _wait_log(tls_router, needle, before + 1)
    assert _log_count(tls_router, needle) == before + 1, "one line per connection"
    s = await tls_login(tls_router, "wss", "ws", ab_auth.AuthAnonymous(), pki.context())
    sessions.append(s)


@pytest.mark.parametrize("listener", ["ws_plain", "rs_plain"])
async def test_a_tls_client_on_a_plaintext_port(tls_router, pki, sessions, listener):
    needle = "a TLS client connected to a plaintext port"
    before = _log_count(tls_router, needle)
    with pytest.raises(ssl.SSLError) as e:
        await asyncio.open_connection(*tls_router.addr(listener), ssl=pki.context(), server_hostname="localhost")
    # The router's alert: a handshake failure, not a hang or a garbled answer.
    assert "HANDSHAKE_FAILURE" in str(e.value).upper() or "ALERT" in str(e.value).upper(), e.value
    await _wait_log(tls_router, needle, before + 1)
    assert _log_count(tls_router, needle) == before + 1
    s = await tls_login(tls_router, listener, "ws" if listener == "ws_plain" else "rs", ab_auth.AuthAnonymous(), None)
    sessions.append(s)


# -- certificate reload ------------------------------------------------------------------------


def _served_serial(router, pki, listener: str = "wss") -> int:
    with socket.create_connection(router.addr(listener), timeout=10) as raw:
        with pki.context().wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    from cryptography import x509

    return x509.load_der_x509_certificate(der).serial_number


async def test_certificate_reload_keeps_open_sessions(tls_router, pki, sessions):
    loop = asyncio.get_running_loop()
    old = pki.server_serial
    assert await loop.run_in_executor(None, _served_serial, tls_router, pki) == old
    held = await tls_login(tls_router, "wss", "ws", ab_auth.AuthAnonymous(), pki.context())
    held_rs = await tls_login(tls_router, "rss", "rs", ab_auth.AuthAnonymous(), pki.context())
    sessions.extend([held, held_rs])
    await roundtrip(held, "com.tls.reload.before")
    new = pki.issue_server()
    assert new != old
    tls_router.proc.send_signal(signal.SIGHUP)
    for _ in range(100):
        if await loop.run_in_executor(None, _served_serial, tls_router, pki) == new:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the new certificate is not served:\n{tls_router.logs()}")
    for listener in ("rss", "web", "mqtts"):
        assert await loop.run_in_executor(None, _served_serial, tls_router, pki, listener) == new
    # The sessions opened before the reload route on.
    assert await held.call("com.tls.reload.before", 4) == 8
    await roundtrip(held_rs, "com.tls.reload.after")
    assert "TLS certificates reloaded" in tls_router.log_text(), tls_router.logs()


@pytest.mark.parametrize(
    "classname", ["container_app.EchoSession", "container_twisted.TwistedEcho"], ids=["asyncio", "twisted"]
)
async def test_container_components_connect_over_tls(tmp_path, pki, classname):
    """A container worker's components with TLS on their transports
    (Crossbar's keys: hostname, ca_certificates, certificate, key): one over
    wss checking the server's name against the test CA, one over
    RawSocket+TLS to a listener that requires a client certificate. Both
    register and answer. (TLS there was on the gap list: refused.)"""
    import types

    from routerproc import free_port
    from test_workers import call_when_registered, container_worker, echo_component

    client = pki.client("box")
    r = TlsRouter(tmp_path / "router", pki, pki.client("alice")[2])
    port = free_port()
    while port in r.ports.values():
        port = free_port()
    worker = r.config["workers"][0]
    worker["transports"].append(
        {
            "type": "rawsocket",
            "id": "rss_required",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port, "tls": pki.endpoint_tls("required")},
            "serializers": ["cbor"],
        }
    )
    r.wait_ports.append(port)
    ca = [str(pki.ca_path)]

    def component(procedure: str, transport: dict) -> dict:
        return echo_component(procedure, transport, classname)

    r.config["workers"].append(
        container_worker(
            [
                component(
                    "com.tls.container.wss",
                    {
                        "type": "websocket",
                        "url": f"wss://localhost:{r.ports['wss']}/",
                        "endpoint": {
                            "type": "tcp",
                            "host": "127.0.0.1",
                            "port": r.ports["wss"],
                            "tls": {"hostname": "localhost", "ca_certificates": ca},
                        },
                    },
                ),
                component(
                    "com.tls.container.rss",
                    {
                        "type": "rawsocket",
                        "serializer": "cbor",
                        "endpoint": {
                            "type": "tcp",
                            "host": "127.0.0.1",
                            "port": port,
                            "tls": {
                                "hostname": "127.0.0.1",
                                "ca_certificates": ca,
                                "certificate": str(client[0]),
                                "key": str(client[1]),
                            },
                        },
                    },
                ),
            ]
        )
    )
    r.start()
    try:
        plain = types.SimpleNamespace(
            ws_url=f"ws://127.0.0.1:{r.ports['ws_plain']}/", ws_port=r.ports["ws_plain"], rs_port=None
        )
        wss = await call_when_registered(plain, "com.tls.container.wss", 1)
        rss = await call_when_registered(plain, "com.tls.container.rss", 2)
        assert (wss["args"], rss["args"]) == ([1], [2])
        assert wss["pid"] == rss["pid"]
        assert ("reactor" in wss) == ("twisted" in classname)
    finally:
        r.kill()

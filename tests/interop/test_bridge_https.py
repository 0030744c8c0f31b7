"""The HTTP bridge's router components over HTTPS: MessageForwarder and
RESTCallee against a real HTTPS server (Python's http.server behind
ssl), its certificate from a test CA that the router trusts through
SSL_CERT_FILE (the system trust store's override, as for Crossbar's treq),
and one server whose CA the router does not trust.

Junction only: it runs these classes natively (Crossbar needs treq and
Twisted's TLS for them)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import types

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from advhelpers import wait_for
from routerproc import IS_JUNCTION, RouterProcess, free_port, web_node_config
from tlshelpers import Pki
from wampclient import connect

pytestmark = pytest.mark.skipif(not IS_JUNCTION, reason="Junction's native bridge components")


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records (method, path, headers as pairs, body); answers 200 `fine`."""

    seen: list = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Recorder.seen.append((self.command, self.path, list(self.headers.items()), body))
        out = b"fine"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *a):
        pass


def https_server(pki: Pki) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.dir / "server.crt"), str(pki.dir / "server.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    trusted = Pki(tmp_path_factory.mktemp("trusted"))
    stranger = Pki(tmp_path_factory.mktemp("stranger"), ca_cn="Unknown CA")
    good, bad = https_server(trusted), https_server(stranger)
    web = f"https://localhost:{good.server_address[1]}"
    untrusted = f"https://localhost:{bad.server_address[1]}"
    port = free_port()
    config = web_node_config(port, {"ws": {"type": "websocket"}})
    config["workers"][0]["components"] = [
        {
            "type": "class",
            "classname": "crossbar.bridge.rest.MessageForwarder",
            "realm": "realm1",
            "role": "anonymous",
            "extra": {
                "subscriptions": [
                    {"topic": "com.tls.", "match": "prefix", "url": f"{web}/hook"},
                    {"topic": "com.tls.untrusted", "url": f"{untrusted}/hook"},
                ],
            },
        },
        {
            "type": "class",
            "classname": "crossbar.bridge.rest.RESTCallee",
            "realm": "realm1",
            "role": "anonymous",
            "extra": {"procedure": "com.tls.call", "baseurl": f"{web}/api/"},
        },
    ]
    proc = RouterProcess(tmp_path_factory.mktemp("router"), config=config, wait_ports=[port])
    proc.extra_env["SSL_CERT_FILE"] = str(trusted.ca_path)
    proc.start()
    yield types.SimpleNamespace(ws_url=f"ws://127.0.0.1:{port}/ws", ws_port=port, proc=proc, untrusted=untrusted)
    alive, logs = proc.alive(), proc.logs()
    proc.kill()
    good.shutdown()
    bad.shutdown()
    assert alive, f"router died during the HTTPS bridge tests:\n{logs}"


async def test_message_forwarder_posts_over_https(bridge):
    Recorder.seen.clear()
    pub = await connect(bridge, "ws", "json")
    try:
        await pub.publish("com.tls.a", "é", n=1, options=PublishOptions(acknowledge=True))
        await wait_for(lambda: len(Recorder.seen) >= 1)
        method, path, headers, body = Recorder.seen[0]
        assert (method, path) == ("POST", "/hook")
        assert ("Content-Type", "application/json") in headers
        assert json.loads(body.decode("utf-8")) == {"args": ["é"], "kwargs": {"n": 1}}
        # The untrusted server's handshake fails: nothing reaches it, the
        # router says why, and the trusted one still gets its events.
        await pub.publish("com.tls.untrusted", 2, options=PublishOptions(acknowledge=True))
        await wait_for(lambda: len(Recorder.seen) >= 2)
        await wait_for(lambda: "UnknownIssuer" in bridge.proc.logs())
        assert [s[1] for s in Recorder.seen] == ["/hook", "/hook"], "the prefix entry only"
        assert "MessageForwarder request failed" in bridge.proc.logs()
    finally:
        await pub.close()


async def test_rest_callee_over_https_with_listed_headers(bridge):
    Recorder.seen.clear()
    caller = await connect(bridge, "ws", "msgpack")
    try:
        res = await caller.call(
            "com.tls.call",
            method="GET",
            url="items",
            params={"q": "a b"},
            headers={"Accept": ["text/plain", "text/html"], "X-One": "1"},
        )
        assert (res["code"], res["content"]) == (200, "fine")
        assert res["headers"]["Set-Cookie"] == ["a=1", "b=2"]
        method, path, headers, _ = Recorder.seen[-1]
        assert (method, path) == ("GET", "/api/items?q=a+b")
        assert [v for k, v in headers if k == "Accept"] == ["text/plain", "text/html"]
        assert ("X-One", "1") in headers
        with pytest.raises(ApplicationError) as e:
            await caller.call("com.tls.call", method="GET", url=f"{bridge.untrusted}/api/x")
        assert e.value.error == "wamp.error.runtime_error"
        assert "UnknownIssuer" in str(e.value.args)
    finally:
        await caller.close()

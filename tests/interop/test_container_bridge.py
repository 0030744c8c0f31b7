"""Crossbar's HTTP bridge classes (``crossbar.bridge.rest.MessageForwarder``,
``RESTCallee``) and ``function`` components inside a container worker, as
Crossbar's rest/subscriber and rest/callee examples run them: Junction's
container host runs them (its own Python, not Crossbar's) over their own
transport, against a real HTTP(S) server here and real Autobahn|Python
callers and publishers.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import ssl
import subprocess
import threading
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from test_workers import (  # noqa: F401 - workers_router is a fixture
    call_when_registered,
    container_worker,
    twisted_python,
    wait_for,
    workers_router,
)
from tlshelpers import Pki
from wampclient import connect

pytestmark = pytest.mark.junction_only


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records every request as (method, path, headers, body); answers 500
    under /fail, 201 with JSON under /created, else 200 ``fine`` (after 1 s
    under /slow), with the header ``X-Twice`` sent twice."""

    seen: list = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Recorder.seen.append((self.command, self.path, self.headers, body))
        if self.path.startswith("/slow"):
            time.sleep(1)
        if self.path.startswith("/fail"):
            out, code = b"no", 500
        elif self.path.startswith("/created"):
            out, code = json.dumps({"made": True}).encode(), 201
        else:
            out, code = "fine".encode(), 200
        self.send_response(code)
        self.send_header("X-Echo-Method", self.command)
        self.send_header("X-Twice", "1")
        self.send_header("X-Twice", "2")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *a):
        pass


@pytest.fixture
def web():
    """An HTTP server on 127.0.0.1: its base URL."""
    Recorder.seen.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def ws_transport(r) -> dict:
    return {"type": "websocket", "url": r.ws_url, "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": r.ws_port}}


def rs_transport(r) -> dict:
    return {"type": "rawsocket", "serializer": "msgpack", "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": r.rs_port}}


def callee(procedure: str, baseurl: str, transport: dict, realm: str = "realm1") -> dict:
    return {
        "type": "class",
        "classname": "crossbar.bridge.rest.RESTCallee",
        "realm": realm,
        "extra": {"procedure": procedure, "baseurl": baseurl},
        "transport": transport,
    }


async def in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def test_a_container_message_forwarder_posts_each_event(workers_router, web):
    r = workers_router
    forwarder = {
        "type": "class",
        "id": "fwd",
        "classname": "crossbar.bridge.rest.MessageForwarder",
        "realm": "realm1",
        "extra": {
            "subscriptions": [
                {"topic": "com.cfwd.one", "url": f"{web}/ok/one"},
                {"topic": "com.cfwd.", "match": "prefix", "url": f"{web}/ok/prefix"},
                {"topic": "com.cfwd.bad", "url": f"{web}/fail"},
                {"topic": "com.cfwd.gone", "url": "http://127.0.0.1:1/nothing"},
            ],
            "expectedcode": 200,
        },
        "transport": ws_transport(r),
    }
    r.config["workers"].append(container_worker([forwarder]))
    r.start()
    # Ready once its subscriptions are made.
    await in_thread(wait_for, "the forwarder's subscriptions", lambda: "component fwd ready" in r.log_text())
    pub = await connect(r, "ws", "msgpack")
    try:
        await pub.publish("com.cfwd.one", 1, "é", k=[True], options=PublishOptions(acknowledge=True))
        await in_thread(wait_for, "two requests", lambda: len(Recorder.seen) >= 2)
        by_path = {p: (m, h, b) for m, p, h, b in Recorder.seen}
        assert set(by_path) == {"/ok/one", "/ok/prefix"}, "the exact and the prefix subscription"
        method, headers, body = by_path["/ok/one"]
        assert method == "POST"
        assert headers["Content-Type"] == "application/json"
        # Compact JSON, UTF-8, not ASCII-escaped (as Crossbar sends).
        assert body == '{"args":[1,"é"],"kwargs":{"k":[true]}}'.encode()
        assert by_path["/ok/prefix"][2] == body
        # A status other than expectedcode, and a failed request, are
        # logged; the component goes on.
        await pub.publish("com.cfwd.bad", options=PublishOptions(acknowledge=True))
        await pub.publish("com.cfwd.gone", options=PublishOptions(acknowledge=True))
        await in_thread(wait_for, "the logs", lambda: "http://127.0.0.1:1/nothing failed" in r.log_text())
        assert f"POST {web}/fail answered 500, not the expected 200" in r.log_text()
        Recorder.seen.clear()
        await pub.publish("com.cfwd.other", options=PublishOptions(acknowledge=True))
        await in_thread(wait_for, "one more request", lambda: len(Recorder.seen) >= 1)
        assert (Recorder.seen[0][1], Recorder.seen[0][3]) == ("/ok/prefix", b'{"args":[],"kwargs":{}}')
    finally:
        await pub.close()
    # One asyncio host, and no Crossbar imported.
    assert "HTTP bridge MessageForwarder (run by the host)" in r.log_text()
    assert "No module named 'crossbar'" not in r.log_text()


async def test_a_container_rest_callee_answers_calls(workers_router, web):
    r = workers_router
    r.config["workers"].append(
        container_worker(
            [
                callee("com.crest.call", f"{web}/api/", rs_transport(r)),
                # The router's roles apply: anonymous may not register this one.
                callee("com.denied.call", f"{web}/api/", ws_transport(r), realm="restricted"),
            ]
        )
    )
    r.start()
    res = await call_when_registered(
        r,
        "com.crest.call",
        method="GET",
        url="items",
        params={"q": "a b"},
        headers={"X-One": "s", "X-Many": ["a", "b"]},
    )
    assert (res["code"], res["content"]) == (200, "fine")
    assert res["headers"]["X-Echo-Method"] == ["GET"]
    assert res["headers"]["X-Twice"] == ["1", "2"]
    method, path, headers, body = Recorder.seen[-1]
    assert (method, path, body) == ("GET", "/api/items?q=a+b", b"")
    assert headers.get_all("X-One") == ["s"] and headers.get_all("X-Many") == ["a", "b"]
    caller = await connect(r, "ws", "json")
    try:
        # Positional, in Crossbar's order: method, url, body.
        res = await caller.call("com.crest.call", "POST", "/created", '{"n": 1}')
        assert (res["code"], json.loads(res["content"])) == (201, {"made": True})
        assert Recorder.seen[-1][:2] == ("POST", "/created") and Recorder.seen[-1][3] == b'{"n": 1}'
        # The requests run off the host's loop: two slow ones overlap.
        t0 = time.monotonic()
        slow = [caller.call("com.crest.call", "GET", f"{web}/slow/{i}") for i in range(2)]
        assert [s["code"] for s in await asyncio.gather(*slow)] == [200, 200]
        assert time.monotonic() - t0 < 1.8
        with pytest.raises(ApplicationError) as e:
            await caller.call("com.crest.call", method="GET", url="http://127.0.0.1:1/nothing")
        assert e.value.error == "wamp.error.runtime_error" and "Connection refused" in e.value.args[0]
        with pytest.raises(ApplicationError) as e:
            await caller.call("com.crest.call", url="x")
        assert e.value.error == "wamp.error.invalid_argument" and e.value.args[0] == "'method' is required"
        with pytest.raises(ApplicationError) as e:
            await caller.call("com.crest.call", method="GET", headers={"X": 1})
        assert e.value.error == "wamp.error.invalid_argument"
    finally:
        caller.leave()
    await in_thread(
        wait_for,
        "the refused registration",
        lambda: "component component2: RESTCallee could not use com.denied.call" in r.log_text(),
    )
    assert "not_authorized" in r.log_text()


def test_function_components_and_bridges_run_under_twisted_too(workers_router, web):
    """A container with a Twisted class runs on Twisted: its RESTCallee's
    requests go through Twisted's thread pool. Its function component
    (``auth`` warned: Crossbar's container ignores it too) joins
    anonymously over its transport."""
    python = twisted_python()
    probe = subprocess.run([python, "-c", "import twisted.internet, autobahn.twisted"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"{python} has no Twisted")
    r = workers_router
    worker = container_worker(
        [
            {
                "type": "class",
                "classname": "container_twisted.TwistedEcho",
                "realm": "realm1",
                "extra": {"procedure": "com.ctw.echo"},
                "transport": ws_transport(r),
            },
            callee("com.ctw.rest", f"{web}/api/", ws_transport(r)),
            {
                "type": "function",
                "realm": "realm1",
                "callbacks": {"join": "container_twisted.on_join"},
                "auth": {"anonymous": {}},
                "extra": {"procedure": "com.ctw.fn"},
                "transport": rs_transport(r),
            },
        ]
    )
    worker["options"]["python"] = python
    r.config["workers"].append(worker)
    r.start()
    got = asyncio.run(call_when_registered(r, "com.ctw.echo", "x"))
    assert "Reactor" in got["reactor"], got
    res = asyncio.run(call_when_registered(r, "com.ctw.rest", method="PUT", url="t", body="ü"))
    assert res["code"] == 200 and Recorder.seen[-1][::3] == ("PUT", "ü".encode())

    async def two_slow():
        t0 = time.monotonic()
        got = await asyncio.gather(*[call_when_registered(r, "com.ctw.rest", "GET", "/slow") for _ in range(2)])
        return [g["code"] for g in got], time.monotonic() - t0

    codes, took = asyncio.run(two_slow())
    assert codes == [200, 200] and took < 1.8, "Twisted's thread pool: the two overlap"
    who = asyncio.run(call_when_registered(r, "com.ctw.fn"))
    assert who["authrole"] == "anonymous" and "Reactor" in who["reactor"], who
    assert "workers[1].components[2].auth: ignored: Crossbar's container does not use it either" in r.log_text()


def test_an_asyncio_function_component_runs_in_a_container(workers_router):
    r = workers_router
    r.config["workers"].append(
        container_worker(
            [
                {
                    "type": "function",
                    "id": "fn",
                    "realm": "realm1",
                    "callbacks": {"join": "router_app.on_join"},
                    "extra": {"procedure": "com.cfn.who"},
                    "transport": ws_transport(r),
                }
            ]
        )
    )
    r.start()
    who = asyncio.run(call_when_registered(r, "com.cfn.who"))
    assert who["authrole"] == "anonymous", who
    assert "router function component" in r.log_text()


def test_https_uses_the_system_trust_store_or_ssl_cert_file(workers_router, tmp_path):
    """https: Python's default SSL context, so SSL_CERT_FILE (in the
    container's env) adds the test CA; without it the certificate is
    refused and the call fails with the reason."""
    pki = Pki(tmp_path / "pki")
    Recorder.seen.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.dir / "server.crt", pki.dir / "server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}/api/"
    try:
        r = workers_router
        trusting = container_worker([callee("com.https.ok", base, ws_transport(r))], cid="trusting")
        trusting["options"]["env"] = {"vars": {"SSL_CERT_FILE": str(pki.dir / "ca.crt")}}
        forwarder = {
            "type": "class",
            "classname": "crossbar.adapter.rest.MessageForwarder",
            "realm": "realm1",
            "extra": {"subscriptions": [{"topic": "com.https.ev", "url": base + "ev"}], "method": "put"},
            "transport": ws_transport(r),
        }
        trusting["components"].append(forwarder)
        plain = container_worker([callee("com.https.untrusted", base, ws_transport(r))], cid="plain")
        r.config["workers"] += [trusting, plain]
        r.start()
        res = asyncio.run(call_when_registered(r, "com.https.ok", method="GET", url="x"))
        assert (res["code"], res["content"], Recorder.seen[-1][1]) == (200, "fine", "/api/x")
        with pytest.raises(ApplicationError) as e:
            asyncio.run(call_when_registered(r, "com.https.untrusted", method="GET", url="x"))
        assert e.value.error == "wamp.error.runtime_error" and "CERTIFICATE_VERIFY_FAILED" in e.value.args[0]

        async def publish():
            pub = await connect(r, "ws", "json")
            try:
                await pub.publish("com.https.ev", "x", options=PublishOptions(acknowledge=True))
            finally:
                pub.leave()

        wait_for("the forwarder", lambda: "component component2 ready" in r.log_text())
        asyncio.run(publish())
        wait_for("the PUT", lambda: any(s[0] == "PUT" for s in Recorder.seen))
        assert [s[3] for s in Recorder.seen if s[0] == "PUT"] == [b'{"args":["x"],"kwargs":{}}']
    finally:
        server.shutdown()


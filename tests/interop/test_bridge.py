"""The HTTP bridge (publisher, caller, webhook paths) and WAMP over HTTP
long-poll, with real clients: Python ``requests`` and ``curl`` posting to the
bridge while Autobahn|Python sessions subscribe and register over WebSocket
on the same port, and a long-poll client written here from the WAMP spec
("HTTP Longpoll Transport") talking to an Autobahn|Python WebSocket session.

Requests go out on fresh connections, so with two shards they land on
either: bridge publications and calls, and long-poll requests for a
transport opened on the other shard, cross shards.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import types
from pathlib import Path

import pytest
import requests
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from advhelpers import wait_for
from longpoll import LongPollClient, lp_join
from routerproc import RouterProcess, free_port
from wampclient import EventSink, connect

pytestmark = pytest.mark.junction_only

KEY, SECRET = "bridge-key", "bridge-secret"
GITHUB_SECRET = "gh-secret"


def bridge_config(port: int) -> dict:
    anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
    only_public = {"uri": "com.public.", "match": "prefix", "allow": {"publish": True, "call": True}}
    pub = lambda **o: {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": o}  # noqa: E731
    return {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [
                    {
                        "name": "realm1",
                        "roles": [
                            {"name": "anonymous", "permissions": [anyone]},
                            {"name": "restricted", "permissions": [only_public]},
                        ],
                    }
                ],
                "transports": [
                    {
                        "type": "web",
                        "id": "web1",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": {
                            "ws": {"type": "websocket", "serializers": ["json", "msgpack"]},
                            "pub": pub(post_body_limit=4096),
                            "signed": pub(key=KEY, secret=SECRET, timestamp_delta_limit=60),
                            "local-only": pub(require_ip=["127.0.0.0/8"]),
                            "elsewhere": pub(require_ip=["10.0.0.0/8", "192.168.1.0/24"]),
                            "tls-only": pub(require_tls=True),
                            "restricted": {"type": "publisher", "realm": "realm1", "role": "restricted"},
                            "call": {"type": "caller", "realm": "realm1", "role": "anonymous"},
                            "hook": {
                                "type": "webhook",
                                "realm": "realm1",
                                "role": "anonymous",
                                "options": {"topic": "com.hook.events", "success_response": "thanks"},
                            },
                            "github": {
                                "type": "webhook",
                                "realm": "realm1",
                                "role": "anonymous",
                                "options": {"topic": "com.hook.github", "github_secret": GITHUB_SECRET},
                            },
                            "lp": {"type": "longpoll", "options": {"request_timeout": 2, "session_timeout": 2}},
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bridge")
    port = free_port()
    config = bridge_config(port)
    # Long-poll sessions whose clients are gone cannot answer the GOODBYE of
    # the stop at the end: 2 s for them, not the default 10.
    config["junction"] = {"shutdown_timeout": 2}
    proc = RouterProcess(workdir, config=config, wait_ports=[port]).start()
    yield types.SimpleNamespace(
        base=f"http://127.0.0.1:{port}",
        port=port,
        proc=proc,
        ws_url=f"ws://127.0.0.1:{port}/ws",
        ws_port=port,
    )
    alive = proc.alive()
    proc.kill()
    assert alive, f"router died during the bridge tests:\n{proc.logs()}"


async def post(url: str, **kw) -> requests.Response:
    """A POST on a fresh connection, off the event loop."""
    kw.setdefault("timeout", 10)
    return await asyncio.to_thread(requests.post, url, **kw)


def timestamp(offset_s: float = 0.0) -> str:
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def signed_params(body: bytes, secret: str = SECRET, ts: str | None = None) -> dict:
    ts = ts or timestamp()
    seq, nonce = "1", "12345"
    h = hmac.new(secret.encode(), None, hashlib.sha256)
    for part in (KEY.encode(), ts.encode(), seq.encode(), nonce.encode(), body):
        h.update(part)
    sig = base64.urlsafe_b64encode(h.digest()).decode()
    return {"key": KEY, "timestamp": ts, "seq": seq, "nonce": nonce, "signature": sig}


# ---------------------------------------------------------------------------
# publisher
# ---------------------------------------------------------------------------


async def test_publisher_reaches_an_autobahn_subscriber(router):
    sub = await connect(router, "ws", "msgpack")
    try:
        sink = EventSink()
        await sub.subscribe(sink, "com.bridge.news")
        r = await post(f"{router.base}/pub", json={"topic": "com.bridge.news", "args": [1, "two"], "kwargs": {"k": True}})
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert isinstance(r.json()["id"], int) and r.json()["id"] > 0
        events = await sink.wait_count(1)
        assert events[0] == ((1, "two"), {"k": True})
        # Many publications over fresh connections (both shards), in order per connection.
        for i in range(10):
            r = await post(f"{router.base}/pub", json={"topic": "com.bridge.news", "args": [i]})
            assert r.status_code == 200
        events = await sink.wait_count(11)
        assert sorted(e[0][0] for e in events[1:]) == list(range(10))
    finally:
        await sub.close()


async def test_curl_publishes_with_keep_alive(router):
    sub = await connect(router, "ws", "json")
    try:
        sink = EventSink()
        await sub.subscribe(sink, "com.bridge.curl")
        body = json.dumps({"topic": "com.bridge.curl", "args": ["from curl"]})
        url = f"{router.base}/pub"
        one = ["-s", "-w", "\n%{http_code} %{num_connects}\n", "-H", "Content-Type: application/json", "-d", body, url]
        cmd = ["curl", *one, "--next", *one]
        out = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=20)
        lines = [line for line in out.stdout.splitlines() if line]
        assert lines[1] == "200 1" and lines[3] == "200 0", out.stdout + out.stderr  # one connection
        assert "id" in json.loads(lines[0])
        events = await sink.wait_count(2)
        assert events[0] == (("from curl",), {})
    finally:
        await sub.close()


async def test_a_killed_bridge_session_is_replaced_on_the_next_request(router):
    """wamp.session.kill_by_authid ends the bridge paths' sessions (authid
    ``http-bridge``) like any; the next request through a path opens a new
    one and is routed."""
    sub = await connect(router, "ws", "json")
    try:
        sink = EventSink()
        await sub.subscribe(sink, "com.bridge.killed")
        r = await post(f"{router.base}/pub", json={"topic": "com.bridge.killed", "args": [1]})
        assert r.status_code == 200, r.text
        await sink.wait_count(1)
        killed = await sub.call("wamp.session.kill_by_authid", "http-bridge")
        assert killed, "the bridge session was not found"
        r = await post(f"{router.base}/pub", json={"topic": "com.bridge.killed", "args": [2]})
        assert r.status_code == 200, r.text
        events = await sink.wait_count(2)
        assert [e[0] for e in events] == [(1,), (2,)]
        # A new session: not one of those killed.
        again = await sub.call("wamp.session.list")
        assert not set(killed) & set(again)
    finally:
        await sub.close()


async def test_publish_options_and_role_permissions(router):
    sub = await connect(router, "ws", "json")
    try:
        sink = EventSink()
        await sub.subscribe(sink, "com.bridge.excl")
        await sub.subscribe(sink, "com.public.ok")
        # exclude: the subscriber is left out.
        r = await post(f"{router.base}/pub", json={"topic": "com.bridge.excl", "args": [1], "options": {"exclude": [sub._session_id]}})
        assert r.status_code == 200
        # The restricted role may publish to com.public. only.
        r = await post(f"{router.base}/restricted", json={"topic": "com.bridge.excl", "args": [2]})
        assert r.status_code == 200
        assert r.json()["error"] == "wamp.error.not_authorized"
        assert r.json()["args"] and r.json()["kwargs"] == {}
        r = await post(f"{router.base}/restricted", json={"topic": "com.public.ok", "args": [3]})
        assert r.status_code == 200 and "id" in r.json()
        events = await sink.wait_count(1)
        await asyncio.sleep(0.3)
        assert [e[0] for e in sink.events] == [(3,)], "excluded and unauthorized publications arrive nowhere"
    finally:
        await sub.close()


@pytest.mark.parametrize(
    "how, status, fragment",
    [
        ("get", 405, "GET not allowed"),
        ("text/plain", 400, "Non-accepted content type"),
        ("latin1", 400, "must be UTF-8"),
        ("not json", 400, "invalid JSON"),
        ("a list", 400, "must be a dict"),
        ("no topic", 400, "missing key 'topic'"),
        ("too long", 413, "Request too long"),
        ("bad utf8", 400, "was not UTF-8"),
    ],
)
def test_publisher_refusals_answer_crossbars_bodies(router, how, status, fragment):
    url = f"{router.base}/pub"
    js = {"Content-Type": "application/json"}
    if how == "get":
        r = requests.get(url, timeout=10)
    elif how == "text/plain":
        r = requests.post(url, data=b"{}", headers={"Content-Type": "text/plain"}, timeout=10)
    elif how == "latin1":
        r = requests.post(url, data=b"{}", headers={"Content-Type": "application/json; charset=latin-1"}, timeout=10)
    elif how == "not json":
        r = requests.post(url, data=b"{nope", headers=js, timeout=10)
    elif how == "a list":
        r = requests.post(url, data=b"[1]", headers=js, timeout=10)
    elif how == "no topic":
        r = requests.post(url, data=b'{"args": []}', headers=js, timeout=10)
    elif how == "too long":
        r = requests.post(url, json={"topic": "com.x", "args": ["x" * 5000]}, timeout=10)
    else:
        r = requests.post(url, data=b'{"topic": "\xff"}', headers=js, timeout=10)
    assert r.status_code == status, r.text
    body = r.json()
    assert fragment in body["error"], body
    assert (body["args"], body["kwargs"]) == ([], {})
    # The server keeps serving.
    assert requests.post(url, json={"topic": "com.bridge.after"}, timeout=10).status_code == 200


def test_cors_preflight(router):
    r = requests.options(f"{router.base}/pub", headers={"Origin": "http://app.example", "Access-Control-Request-Headers": "content-type"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Methods"] == "POST,PUT,OPTIONS"
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type"


# ---------------------------------------------------------------------------
# signed requests, require_ip, require_tls
# ---------------------------------------------------------------------------


def test_signed_requests(router):
    url = f"{router.base}/signed"
    body = json.dumps({"topic": "com.bridge.signed", "args": [1]}).encode()
    h = {"Content-Type": "application/json"}
    r = requests.post(url, data=body, params=signed_params(body), headers=h, timeout=10)
    assert r.status_code == 200, r.text
    assert "id" in r.json()
    # A wrong secret: 401.
    r = requests.post(url, data=body, params=signed_params(body, secret="wrong"), headers=h, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"] == "REST bridge signature secret not valid."
    # The body changed after signing: 401.
    r = requests.post(url, data=body + b" ", params=signed_params(body), headers=h, timeout=10)
    assert r.status_code == 401
    # A stale timestamp (beyond timestamp_delta_limit = 60 s): 400.
    r = requests.post(url, data=body, params=signed_params(body, ts=timestamp(-120)), headers=h, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"] == "Request expired, too old timestamp."
    # Unsigned: 400, naming the missing field.
    r = requests.post(url, data=body, headers=h, timeout=10)
    assert r.status_code == 400
    assert "'key' field missing" in r.json()["error"]
    # Another key: 401.
    p = signed_params(body)
    p["key"] = "other"
    r = requests.post(url, data=body, params=p, headers=h, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"] == "REST bridge signature key not valid."


def test_require_ip_and_tls(router):
    ok = requests.post(f"{router.base}/local-only", json={"topic": "com.bridge.ip"}, timeout=10)
    assert ok.status_code == 200 and "id" in ok.json()
    no = requests.post(f"{router.base}/elsewhere", json={"topic": "com.bridge.ip"}, timeout=10)
    assert no.status_code == 400
    assert no.json()["error"] == "Request denied based on IP address."
    tls = requests.post(f"{router.base}/tls-only", json={"topic": "com.bridge.ip"}, timeout=10)
    assert tls.status_code == 400


# ---------------------------------------------------------------------------
# caller
# ---------------------------------------------------------------------------


async def test_caller_calls_an_autobahn_callee(router):
    callee = await connect(router, "ws", "msgpack")
    try:
        await callee.register(lambda a, b: a + b, "com.bridge.add")

        def fail():
            raise ApplicationError("com.bridge.oops", "it failed", code=7)

        await callee.register(fail, "com.bridge.fail")
        from autobahn.wamp.types import CallResult

        await callee.register(lambda: CallResult(1, 2, x="y"), "com.bridge.many")
        await callee.register(lambda: None, "com.bridge.nothing")
        for _ in range(4):  # fresh connections: both shards
            r = await post(f"{router.base}/call", json={"procedure": "com.bridge.add", "args": [2, 3]})
            assert (r.status_code, r.json()) == (200, {"args": [5]})
        r = await post(f"{router.base}/call", json={"procedure": "com.bridge.many"})
        assert r.json() == {"args": [1, 2], "kwargs": {"x": "y"}}
        r = await post(f"{router.base}/call", json={"procedure": "com.bridge.nothing"})
        assert r.json() == {"args": [None]}
        r = await post(f"{router.base}/call", json={"procedure": "com.bridge.fail"})
        assert r.status_code == 200
        assert r.json() == {"error": "com.bridge.oops", "args": ["it failed"], "kwargs": {"code": 7}}
        r = await post(f"{router.base}/call", json={"procedure": "com.bridge.none"})
        assert (r.status_code, r.json()["error"]) == (200, "wamp.error.no_such_procedure")
        r = await post(f"{router.base}/call", json={"args": []})
        assert r.status_code == 400 and "missing key 'procedure'" in r.json()["error"]
    finally:
        await callee.close()


# ---------------------------------------------------------------------------
# webhook
# ---------------------------------------------------------------------------


async def test_webhook_publishes_headers_and_body(router):
    sub = await connect(router, "ws", "json")
    try:
        sink = EventSink()
        await sub.subscribe(sink, "com.hook.events")
        r = await post(f"{router.base}/hook", data=b"plain text, not JSON", headers={"X-Custom": "v1", "Content-Type": "text/plain"})
        assert (r.status_code, r.text) == (202, "thanks")
        (args, kwargs), = await sink.wait_count(1)
        event = args[0]
        assert event["body"] == "plain text, not JSON"
        assert event["headers"]["X-Custom"] == ["v1"]
        assert event["headers"]["Content-Type"] == ["text/plain"]
    finally:
        await sub.close()


async def test_github_webhook_signature(router):
    sub = await connect(router, "ws", "json")
    try:
        sink = EventSink()
        await sub.subscribe(sink, "com.hook.github")
        body = b'{"zen": "Keep it logically awesome."}'
        sig = "sha1=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha1).hexdigest()
        r = await post(f"{router.base}/github", data=body, headers={"X-Hub-Signature": sig})
        assert (r.status_code, r.text) == (202, "OK")
        r = await post(f"{router.base}/github", data=body, headers={"X-Hub-Signature": "sha1=00"})
        assert r.status_code == 400 and r.json()["error"] == "GitHub signature missing or invalid."
        r = await post(f"{router.base}/github", data=body)
        assert r.status_code == 400
        (args, _), = await sink.wait_count(1)
        assert json.loads(args[0]["body"]) == {"zen": "Keep it logically awesome."}
    finally:
        await sub.close()


# ---------------------------------------------------------------------------
# long-poll, with a client written from the spec
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["wamp.2.json", "wamp.2.json.batched", "wamp.2.msgpack", "wamp.2.msgpack.batched"])
async def test_longpoll_session_routes_with_websocket_sessions(router, protocol):
    base = f"{router.base}/lp"
    c, session_id = await asyncio.to_thread(lp_join, base, protocol)
    ws = await connect(router, "ws", "json")
    try:
        # The long-poll client subscribes; the WebSocket session publishes.
        await asyncio.to_thread(c.send, [32, 1, {}, "com.lp.topic"])
        subscribed = await asyncio.to_thread(c.receive)
        assert subscribed[:2] == [33, 1]
        await ws.publish("com.lp.topic", "hello", n=1, options=PublishOptions(acknowledge=True))
        event = await asyncio.to_thread(c.receive)
        assert event[0] == 36 and event[1] == subscribed[2]
        assert event[4:] == [["hello"], {"n": 1}]
        # The long-poll client registers; the WebSocket session calls.
        await asyncio.to_thread(c.send, [64, 2, {}, "com.lp.echo"])
        registered = await asyncio.to_thread(c.receive)
        assert registered[:2] == [65, 2]
        call = asyncio.ensure_future(ws.call("com.lp.echo", 21))
        invocation = await asyncio.to_thread(c.receive)
        assert invocation[0] == 68 and invocation[4] == [21]
        await asyncio.to_thread(c.send, [70, invocation[1], {}, [42]])
        assert await asyncio.wait_for(call, 10) == 42
        # The WebSocket session subscribes; the long-poll client publishes
        # (two messages in one batch where batched).
        sink = EventSink()
        await ws.subscribe(sink, "com.lp.back")
        pubs = [[16, 10, {}, "com.lp.back", [1]], [16, 11, {}, "com.lp.back", [2]]]
        if protocol.endswith(".batched"):
            assert (await asyncio.to_thread(c.send, *pubs)).status_code == 204
        else:
            for p in pubs:
                assert (await asyncio.to_thread(c.send, p)).status_code == 204
        events = await sink.wait_count(2)
        assert [e[0] for e in events] == [(1,), (2,)]
        # GOODBYE, then close.
        await asyncio.to_thread(c.send, [6, {}, "wamp.close.normal"])
        goodbye = await asyncio.to_thread(c.receive)
        assert goodbye[0] == 6
        assert (await asyncio.to_thread(c.close)).status_code in (204, 404)
        r = await asyncio.to_thread(c.send, [1, "realm1", {}])
        assert r.status_code == 404
    finally:
        await ws.close()


@pytest.mark.parametrize("protocol", ["wamp.2.json", "wamp.2.json.batched"])
async def test_longpoll_receive_keeps_messages_when_the_client_goes_away(router, protocol):
    """A receive whose client closes its connection while waiting takes
    nothing off the queue: the events published after that go out with the
    next receive (the session outlives the TCP connection)."""
    import socket

    base = f"{router.base}/lp"
    c, _ = await asyncio.to_thread(lp_join, base, protocol)
    ws = await connect(router, "ws", "json")
    try:
        await asyncio.to_thread(c.send, [32, 1, {}, "com.lp.gone"])
        subscribed = await asyncio.to_thread(c.receive)
        assert subscribed[:2] == [33, 1]
        for attempt in range(3):
            # A receive on a raw connection that the client then closes.
            sock = socket.create_connection(("127.0.0.1", router.port), timeout=5)
            sock.sendall(
                f"POST /lp/{c.transport}/receive HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            await asyncio.sleep(0.3)
            sock.close()
            await asyncio.sleep(0.2)
            await ws.publish("com.lp.gone", attempt, options=PublishOptions(acknowledge=True))
            await asyncio.sleep(0.2)
            event = await asyncio.to_thread(c.receive)
            assert event[0] == 36 and event[4] == [attempt], event
        assert c.pending == []
    finally:
        await ws.close()


def test_longpoll_errors_and_session_timeout(router):
    base = f"{router.base}/lp"
    r = requests.post(f"{base}/open", json={"protocols": ["wamp.2.ubjson"]}, timeout=10)
    assert r.status_code == 400 and "no common protocol" in r.text
    assert requests.post(f"{base}/open", data=b"nope", timeout=10).status_code == 400
    assert requests.post(f"{base}/0000nosuchtransp/send", data=b"[1]", timeout=10).status_code == 404
    assert requests.post(f"{base}/ffffnosuchtransp/receive", timeout=10).status_code == 404
    assert requests.get(f"{base}/open", timeout=10).status_code == 405
    c = LongPollClient(base, "wamp.2.json.batched")
    # An empty batch is refused.
    assert requests.post(c.url("send"), data=b"\x1e", timeout=10).status_code == 400
    # A receive with nothing queued ends after request_timeout (2 s) with 204.
    t0 = time.monotonic()
    r = requests.post(c.url("receive"), timeout=10)
    assert r.status_code == 204 and 1.5 < time.monotonic() - t0 < 5
    # No request for session_timeout (2 s): the transport is gone.
    time.sleep(3.5)
    assert c.send([1, "realm1", {}]).status_code == 404


# ---------------------------------------------------------------------------
# router components: MessageForwarder and RESTCallee against a real HTTP server
# ---------------------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records every request; answers /ok with 200 text, /created with 201 JSON."""

    seen: list = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Recorder.seen.append((self.command, self.path, dict(self.headers), body))
        if self.path.startswith("/created"):
            out, code, ctype = json.dumps({"made": True}).encode(), 201, "application/json"
        else:
            out, code, ctype = b"fine", 200, "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Echo-Method", self.command)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def components(tmp_path_factory):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    web = f"http://127.0.0.1:{server.server_address[1]}"
    port = free_port()
    config = bridge_config(port)
    config["workers"][0]["components"] = [
        {
            "type": "class",
            "classname": "crossbar.bridge.rest.MessageForwarder",
            "realm": "realm1",
            "role": "anonymous",
            "extra": {
                "subscriptions": [
                    {"topic": "com.fwd.one", "url": f"{web}/ok/one"},
                    {"topic": "com.fwd.", "match": "prefix", "url": f"{web}/ok/prefix"},
                ],
                "method": "PUT",
                "expectedcode": 200,
            },
        },
        {
            "type": "class",
            "classname": "crossbar.bridge.rest.RESTCallee",
            "realm": "realm1",
            "role": "anonymous",
            "extra": {"procedure": "com.rest.call", "baseurl": f"{web}/api/"},
        },
        {"type": "class", "classname": "myapp.Backend", "realm": "realm1", "role": "anonymous"},
    ]
    workdir = tmp_path_factory.mktemp("components")
    proc = RouterProcess(workdir, config=config, wait_ports=[port]).start()
    yield types.SimpleNamespace(
        base=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}/ws", ws_port=port, proc=proc, web=web
    )
    alive = proc.alive()
    logs = proc.logs()
    proc.kill()
    server.shutdown()
    assert alive, f"router died during the component tests:\n{logs}"
    # The Python class runs in the router components' host, which cannot
    # import it here: the host's error is in the log, the router runs on.
    assert "No module named 'myapp'" in logs, "the component host reports the class it cannot import"


async def test_message_forwarder_posts_events(components):
    Recorder.seen.clear()
    pub = await connect(components, "ws", "msgpack")
    try:
        # Give the component's subscriptions a moment after start.
        await asyncio.sleep(0.3)
        await pub.publish("com.fwd.one", 1, "x", k=[True], options=PublishOptions(acknowledge=True))
        await wait_for(lambda: len(Recorder.seen) >= 2)
        by_path = {p: (m, h, b) for m, p, h, b in Recorder.seen}
        assert set(by_path) == {"/ok/one", "/ok/prefix"}, "an exact and a prefix subscription"
        method, headers, body = by_path["/ok/one"]
        assert method == "PUT"
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"args": [1, "x"], "kwargs": {"k": [True]}}
        # Published through the bridge on either shard, forwarded too.
        r = await post(f"{components.base}/pub", json={"topic": "com.fwd.other", "args": ["via bridge"]})
        assert r.status_code == 200
        await wait_for(lambda: len(Recorder.seen) >= 3)
        assert json.loads(Recorder.seen[2][3]) == {"args": ["via bridge"], "kwargs": {}}
    finally:
        await pub.close()


async def test_rest_callee_makes_http_requests(components):
    Recorder.seen.clear()
    caller = await connect(components, "ws", "json")
    try:
        await asyncio.sleep(0.3)
        res = await caller.call("com.rest.call", method="GET", url="items", params={"q": "a b"}, headers={"X-Who": "test"})
        assert res["code"] == 200 and res["content"] == "fine"
        assert res["headers"]["X-Echo-Method"] == ["GET"]
        method, path, headers, body = Recorder.seen[-1]
        assert (method, path, headers["X-Who"]) == ("GET", "/api/items?q=a+b", "test")
        res = await caller.call("com.rest.call", method="POST", url="/created", body='{"n": 1}')
        assert res["code"] == 201 and json.loads(res["content"]) == {"made": True}
        assert Recorder.seen[-1][3] == b'{"n": 1}'
        # Through the HTTP caller bridge as well.
        r = await post(f"{components.base}/call", json={"procedure": "com.rest.call", "kwargs": {"method": "GET", "url": "x"}})
        assert r.status_code == 200 and r.json()["args"][0]["code"] == 200
        with pytest.raises(ApplicationError) as e:
            await caller.call("com.rest.call", method="GET", url="http://127.0.0.1:1/nothing")
        assert e.value.error == "wamp.error.runtime_error"
    finally:
        await caller.close()


# ---------------------------------------------------------------------------
# Autobahn|JS's own long-poll transport
# ---------------------------------------------------------------------------

JS_DIR = Path(__file__).parent / "js"


async def test_autobahn_js_longpoll_client(router):
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "autobahn").is_dir():
        pytest.fail("needs node and `npm ci` in tests/interop/js (tests/run.sh does it)")
    ws = await connect(router, "ws", "json")
    try:
        await ws.register(lambda a, b: a + b, "com.lpjs.add")

        def back(what):
            ws.publish("com.lpjs.out", f"{what}, seen by python")

        await ws.subscribe(back, "com.lpjs.back")
        spec = {"url": f"{router.base}/lp", "realm": "realm1", "procedure": "com.lpjs.add", "topic": "com.lpjs.out", "back_topic": "com.lpjs.back"}
        proc = await asyncio.create_subprocess_exec(
            node, str(JS_DIR / "longpoll.js"), json.dumps(spec), cwd=JS_DIR,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        lines = out.decode().strip().splitlines()
        assert lines, err.decode()
        result = json.loads(lines[-1])
        assert result == {"sum": 42, "event": "from js, seen by python", "transport": "longpoll"}, (result, err.decode())
    finally:
        await ws.close()


# ---------------------------------------------------------------------------
# Graceful shutdown
# ---------------------------------------------------------------------------


def test_a_drain_ends_the_bridge_session_under_a_kept_alive_connection(tmp_path):
    """SIGTERM with a bridge path's session open and the HTTP connection
    that opened it kept alive (as a browser keeps it): the session answers
    the router's GOODBYE like any client, so the node exits as soon as the
    clients left, not at the end of its shutdown timeout (60 s here)."""
    port = free_port()
    config = bridge_config(port)
    config["junction"] = {"shutdown_timeout": 60}
    proc = RouterProcess(tmp_path, config=config, wait_ports=[port]).start()
    try:
        body = json.dumps({"topic": "com.bridge.drain", "args": [1]}).encode()
        held = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.sendall(
            b"POST /pub HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        answer = held.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        proc.proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the node waited for the bridge session:\n{proc.logs()}")
        assert rc == 0, proc.logs()
        assert "closing the connections that are left" not in proc.logs()
        held.close()
    finally:
        proc.kill()


def test_a_drain_closes_the_long_poll_sessions_whose_client_stopped_polling(tmp_path):
    """SIGTERM with two long-poll sessions at the default session timeout
    (30 s): one whose client joined and stopped polling, one whose client
    polls on a kept-alive connection. The polling client gets the GOODBYE
    and answers it; the other is closed as a lost connection (it would never
    collect its GOODBYE), so the node exits without waiting for its
    shutdown timeout (60 s here)."""
    port = free_port()
    config = bridge_config(port)
    config["junction"] = {"shutdown_timeout": 60}
    config["workers"][0]["transports"][0]["paths"]["lp"] = {"type": "longpoll"}
    proc = RouterProcess(tmp_path, config=config, wait_ports=[port]).start()
    try:
        base = f"http://127.0.0.1:{port}/lp"
        gone, _ = lp_join(base, "wamp.2.json")
        polling, _ = lp_join(base, "wamp.2.json", requests.Session())
        seen: dict = {}

        def poll():
            goodbye = polling.receive(timeout=30)
            seen["goodbye"] = goodbye
            seen["answer"] = polling.send([6, {}, "wamp.close.goodbye_and_out"]).status_code

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)
        proc.proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the node waited for the long-poll sessions:\n{proc.logs()}")
        poller.join(10)
        logs = proc.logs()
        assert rc == 0, logs
        assert seen.get("goodbye", [None])[:3] == [6, {}, "wamp.close.system_shutdown"], (seen, logs)
        assert seen.get("answer") == 204, (seen, logs)
        assert "closing the connections that are left" not in logs, logs
        closed = [line for line in logs.splitlines() if "its client is not polling" in line]
        assert len(closed) == 1 and gone.transport in closed[0], logs
    finally:
        proc.kill()


def test_status_counts_a_bridge_paths_service_session_as_a_session_not_a_connection(tmp_path):
    """A POST to a publisher path opens the path's service session on that
    shard: `junction status` shows one more session and, once the HTTP
    connection has closed, no connection."""
    port = free_port()
    proc = RouterProcess(tmp_path, config=bridge_config(port), wait_ports=[port]).start()
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")

    def counts() -> tuple[int, int]:
        out = subprocess.run(
            [binary, "status", "--json", "--socket", str(proc.workdir / "run" / "junction.sock")],
            capture_output=True, text=True, timeout=30,
        )
        assert out.returncode == 0, out.stderr
        shards = json.loads(out.stdout)["per_shard"]
        return sum(s["connections"] for s in shards), sum(s["sessions"] for s in shards)

    try:
        assert counts() == (0, 0)
        r = requests.post(f"http://127.0.0.1:{port}/pub", json={"topic": "com.status", "args": [1]}, timeout=10)
        assert r.status_code == 200, r.text
        for _ in range(50):
            if counts() == (0, 1):
                break
            time.sleep(0.1)
        assert counts() == (0, 1), proc.logs()
    finally:
        proc.kill()

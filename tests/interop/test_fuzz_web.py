"""HTTP and TLS under a storm of right, mutated and cut input, while
well-behaved sessions keep routing.

HTTP: a web transport with static files, JSON values, a redirect, node
info, nested paths, the HTTP bridge (publisher, caller, webhook), long-poll
and WebSocket paths, a reverse proxy (to the router itself and to a port
nobody listens on), a CGI script, the metrics and WAMP Application Pages. Each connection sends one to four requests, pipelined
on one keep-alive connection, some mutated, some written a few bytes at a
time, some cut off. A connection whose requests were all sent as they are
gets exactly the statuses HTTP says, in order; a mutated one gets either
nothing or bytes that begin with an HTTP status line (never anything else).

TLS: every kind of TLS listener (WebSocket, RawSocket, web, MQTT,
universal) gets mutated and cut ClientHellos, handshakes abandoned halfway,
records changed or cut after the handshake, and, over a sound handshake,
right or mutated application bytes; the right ones get the protocol's
answer (RawSocket handshake reply, CONNACK, HTTP 200, WebSocket 101).

Both: no panic and no ERROR logged, healthy sessions get every event in
order, and afterwards no connection but theirs is open.
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import threading

import pytest
from autobahn.wamp import auth as ab_auth

from fuzzhelpers import clean_log, mutate, rng, settled, storm
from routerproc import RouterProcess, free_port, web_node_config
from tlshelpers import Pki, TlsRouter, tls_login
from wampclient import EventSink, connect

pytestmark = pytest.mark.junction_only

#: Connections per fuzzing thread, and threads.
ROUNDS = 400
TLS_ROUNDS = 250
THREADS = 3

REDIRECT = {301, 302, 303, 307, 308}


def web_config(port: int, dead_port: int) -> dict:
    bridge = lambda kind, **o: {"type": kind, "realm": "realm1", "role": "anonymous", "options": o}  # noqa: E731
    return web_node_config(
        port,
        {
            "/": {"type": "static", "directory": "www", "options": {"enable_directory_listing": True}},
            "ws": {"type": "websocket", "serializers": ["json", "msgpack"]},
            "api": {"type": "json", "value": {"name": "junction", "list": [1, 2, 3]}},
            "go": {"type": "redirect", "url": "/hello.txt"},
            "info": {"type": "nodeinfo"},
            "app": {"type": "path", "paths": {"/": {"type": "json", "value": {"app": True}}}},
            "pub": bridge("publisher", post_body_limit=4096),
            "call": bridge("caller"),
            "hook": bridge("webhook", topic="com.fz.hook"),
            "lp": {"type": "longpoll", "options": {"request_timeout": 1, "session_timeout": 1}},
            # Gateways: the router proxying to itself and to
            # nobody, a CGI script, the metrics.
            "self": {"type": "reverseproxy", "host": "127.0.0.1", "port": port},
            "dead": {"type": "reverseproxy", "host": "127.0.0.1", "port": dead_port},
            "cgi": {"type": "cgi", "directory": "cgi", "processor": sys.executable},
            "metrics": {"type": "metrics"},
            # WAMP Application Pages: a call rendered by a template.
            "pages": {
                "type": "wap",
                "templates": "templates",
                "routes": [
                    {"path": "/echo/<int:n>/<path:rest>", "call": "com.fz.page", "render": "page.html"},
                    {"path": "/form", "method": "POST", "call": "com.fz.page", "render": "page.html"},
                    {"path": "/static", "call": None, "render": "page.html"},
                ],
                "wamp": {"realm": "realm1", "authrole": "anonymous"},
            },
        },
    )


def post(path: str, body: bytes, chunked: bool = False, ctype: str = "application/json") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n".encode()
    if chunked:
        mid = len(body) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:mid], body[mid:]) if c)
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def get(path: str, *headers: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + b"".join(h.encode() + b"\r\n" for h in headers) + b"\r\n"


#: (request, the statuses HTTP allows for it).
REQUESTS: list[tuple[bytes, set[int]]] = [
    (get("/hello.txt"), {200}),
    (get("/hello.txt", "Range: bytes=2-5"), {206}),
    (get("/hello.txt", "Range: bytes=99999-"), {416}),
    (get("/hello.txt", "Range: bytes=-3, 0-1"), {200, 206}),
    (get("/hello.txt", method="HEAD"), {200}),
    (get("/"), {200}),
    (get("/sub/"), {200}),
    (get("/nope.txt"), {404}),
    (get("/../../etc/passwd"), {400, 403, 404}),
    (get("/%2e%2e/%2e%2e/etc/passwd"), {400, 403, 404}),
    (get("/api"), {200}),
    (get("/app"), {200}),
    (get("/go"), REDIRECT),
    (get("/info"), {200}),
    (get("/pub"), {405}),
    (post("/pub", b'{"topic": "com.fz.t", "args": [1, {"x": "y"}]}'), {200}),
    (post("/pub", b'{"topic": "com.fz.t", "kwargs": {"a": 1}}', chunked=True), {200}),
    (post("/pub", b'{"topic": "com.fz.t", "args": [1'), {400}),
    (post("/pub", b'{"topic": 5}'), {400}),
    (post("/pub", b'{"topic": "com.fz.t"}', ctype="text/plain"), {400}),
    (post("/pub", b'{"topic": "com.fz.t", "args": ["' + b"x" * 5000 + b'"]}'), {413}),
    (post("/call", b'{"procedure": "com.fz.echo", "args": [7]}'), {200}),
    # An error of the call still answers 200 with the error in the body (Crossbar's).
    (post("/call", b'{"procedure": "com.fz.nosuch"}'), {200}),
    (post("/hook", b"anything at all", ctype="text/plain"), {200, 202}),
    (post("/lp/open", b'{"protocols": ["wamp.2.json"]}'), {200}),
    (post("/lp/nosuchtransport/receive", b""), {404}),
    (get("/pub", method="OPTIONS"), {200, 204}),
    (get("/self/hello.txt"), {200}),
    (get("/self/nope.txt"), {404}),
    (post("/self/pub", b'{"topic": "com.fz.t", "args": [2]}'), {200}),
    (get("/dead/x"), {502, 503, 504}),
    (get("/cgi/hello.py"), {200}),
    (get("/metrics"), {200}),
    (get("/pages/echo/7/a/b%20c?x=1&x=2"), {200}),
    (get("/pages/echo/x/a"), {404}),
    (get("/pages/static"), {200}),
    (get("/pages/echo/7/a", "Accept: application/json"), {200}),
    (post("/pages/form", b"<b>&'\"</b>", ctype="text/html"), {200}),
    (post("/pages/static", b"x"), {405}),
]
UPGRADE = (
    get(
        "/ws",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: wamp.2.json",
    ),
    {101},
)


def read_responses(data: bytes, heads: list[bool]) -> list[int]:
    """The statuses of the responses in ``data`` (one per request; ``heads``
    says which were HEAD requests, whose responses have no body)."""
    statuses = []
    pos = 0
    for head in heads:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        lines = data[pos:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        statuses.append(status)
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        pos = end + 4
        if status == 101:
            break
        if head or status in (204, 304):
            continue
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return statuses
                size = int(data[pos:eol].split(b";")[0], 16)
                pos = eol + 2 + size + 2
                if size == 0:
                    break
        else:
            pos += int(fields.get("content-length", "0"))
    return statuses


class HttpFuzzer:
    def __init__(self, n: int, port: int):
        self.n = n
        self.r = rng(2000 + n)
        self.port = port
        self.violations: list[str] = []
        self.judged = 0
        self.mutated = 0

    def one(self) -> None:
        r = self.r
        picks = [r.choice(REQUESTS) for _ in range(r.randint(1, 4))]
        if r.random() < 0.05:
            picks.append(UPGRADE)
        mutated = r.random() < 0.35
        wire = b""
        for i, (req, _) in enumerate(picks):
            if i == len(picks) - 1 and picks[-1] is not UPGRADE:
                req = req.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n", 1)
            wire += mutate(r, req) if mutated and r.random() < 0.6 else req
        cut = r.random() < 0.05
        if cut:
            wire = wire[: r.randrange(len(wire))]
        self.mutated += mutated
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=3) as sock:
                if r.random() < 0.05:
                    for i in range(0, len(wire), 5):
                        sock.sendall(wire[i : i + 5])
                else:
                    sock.sendall(wire)
                if cut:
                    return
                sock.settimeout(0.5 if mutated else 5)
                data = b""
                while True:
                    try:
                        chunk = sock.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    data += chunk
                    # A WebSocket stays open: stop once its 101 is complete.
                    upgraded = data.find(b"HTTP/1.1 101 ")
                    if upgraded >= 0 and data.find(b"\r\n\r\n", upgraded) > 0:
                        break
        except OSError:
            if not mutated:
                self.violations.append(f"thread {self.n}: a connection failed: {picks!r}"[:400])
            return
        if data and not data.startswith(b"HTTP/1.1 "):
            self.violations.append(f"thread {self.n}: not an HTTP response: {data[:200]!r}")
        if mutated:
            return
        self.judged += 1
        heads = [req.startswith(b"HEAD ") for req, _ in picks]
        got = read_responses(data, heads)
        want = [allowed for _, allowed in picks]
        # The router closes after a 413 (it does not read the body it refused).
        required = next((i + 1 for i, a in enumerate(want) if a == {413}), len(want))
        if len(got) < required or len(got) > len(want) or any(s not in a for s, a in zip(got, want)):
            self.violations.append(
                f"thread {self.n}: statuses {got} for {[req.split(b' HTTP')[0] for req, _ in picks]} (allowed {want})"
            )

    def run(self) -> None:
        for _ in range(ROUNDS):
            self.one()


async def test_an_http_storm_harms_no_other_session(tmp_path):
    port = free_port()
    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "hello.txt").write_text("hello, world\n")
    (www / "sub" / "index.html").write_text("<p>sub</p>\n")
    (tmp_path / "cgi").mkdir()
    (tmp_path / "cgi" / "hello.py").write_text('print("Content-Type: text/plain")\nprint()\nprint("hello from CGI")\n')
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("<p>{{ n }} {{ rest }} {{ x }} {{ data_type }}</p>\n")
    router = RouterProcess(tmp_path, config=web_config(port, free_port()), wait_ports=[port])
    router.ws_port = port
    router.start()
    try:
        subscriber = await connect(router, "ws", "msgpack")
        publisher = await connect(router, "ws", "json")
        await subscriber.register(lambda x: x, "com.fz.echo")
        await subscriber.register(lambda **kw: {k: v for k, v in kw.items() if k != "data"}, "com.fz.page")
        topic = "com.healthy.events"
        sink = EventSink()
        await subscriber.subscribe(sink, topic)
        fuzzers = [HttpFuzzer(n, port) for n in range(THREADS)]
        await storm([threading.Thread(target=f.run) for f in fuzzers], publisher, sink, topic)
        violations = [v for f in fuzzers for v in f.violations]
        assert not violations, "\n".join(violations[:20])
        assert sum(f.judged for f in fuzzers) > 200 and sum(f.mutated for f in fuzzers) > 100
        # Long-poll transports the storm opened end with their 1 s session timeout.
        await settled(router, 2, within=15)
        assert await publisher.call("com.fz.echo", 5) == 5
        await subscriber.close()
        await publisher.close()
        clean_log(router)
    finally:
        router.kill()


class TlsPipe:
    """A TLS client over a plain socket through memory BIOs, so that a test
    can send whatever ciphertext it likes."""

    def __init__(self, ctx: ssl.SSLContext, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def pending(self) -> bytes:
        return self.outgoing.read()

    def client_hello(self) -> bytes:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.pending()

    def handshake(self) -> bool:
        while True:
            try:
                self.tls.do_handshake()
                self.sock.sendall(self.pending())
                return True
            except ssl.SSLWantReadError:
                self.sock.sendall(self.pending())
                data = self.sock.recv(65536)
                if not data:
                    return False
                self.incoming.write(data)

    def seal(self, data: bytes) -> bytes:
        self.tls.write(data)
        return self.pending()

    def read(self, until: int, timeout: float) -> bytes:
        """Decrypted bytes, up to ``until`` octets or until ``timeout``."""
        self.sock.settimeout(timeout)
        out = b""
        while len(out) < until:
            try:
                plain = self.tls.read(65536)
                if not plain:
                    break  # the router closed the TLS session
                out += plain
                continue
            except ssl.SSLWantReadError:
                pass
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            self.incoming.write(data)
        return out

    def close(self) -> None:
        self.sock.close()


def mqtt_connect() -> bytes:
    body = b"\x00\x04MQTT\x04\x02\x00\x1e" + struct.pack(">H", 6) + b"fz-tls"
    return bytes([0x10, len(body)]) + body


#: Listener → (application bytes that open it, how its answer begins).
OPENINGS = {
    "rss": (bytes([0x7F, 0xF1, 0, 0]), b"\x7f"),
    "mqtts": (mqtt_connect(), b"\x20\x02\x00\x00"),
    "web": (get("/"), b"HTTP/1.1 200"),
    "wss": (UPGRADE[0].replace(b"GET /ws ", b"GET / "), b"HTTP/1.1 101"),
}


class TlsFuzzer:
    def __init__(self, n: int, ports: dict[str, int], ctx: ssl.SSLContext):
        self.n = n
        self.r = rng(3000 + n)
        self.ports = ports
        self.ctx = ctx
        self.violations: list[str] = []
        self.judged = 0

    def one(self) -> None:
        r = self.r
        listener = r.choice(["rss", "mqtts", "web", "wss", "uni"])
        opening, answer = OPENINGS[r.choice(["rss", "mqtts"]) if listener == "uni" else listener]
        kind = r.choice(["hello", "hello", "abandon", "records", "inner", "inner", "sound", "sound"])
        try:
            pipe = TlsPipe(self.ctx, self.ports[listener])
        except OSError as e:
            self.violations.append(f"thread {self.n}: connect to {listener}: {e}")
            return
        try:
            if kind == "hello":  # a mutated ClientHello
                pipe.sock.sendall(mutate(r, pipe.client_hello()))
                pipe.sock.settimeout(0.15)
                while pipe.sock.recv(65536):
                    pass
                return
            if kind == "abandon":  # part of a ClientHello, then gone
                hello = pipe.client_hello()
                pipe.sock.sendall(hello[: r.randrange(1, len(hello))])
                return
            if not pipe.handshake():
                self.violations.append(f"thread {self.n}: handshake with {listener} failed")
                return
            if kind == "records":  # ciphertext changed or cut
                sealed = pipe.seal(opening)
                pipe.sock.sendall(mutate(r, sealed) if r.random() < 0.7 else sealed[: r.randrange(1, len(sealed))])
                pipe.sock.settimeout(0.15)
                while pipe.sock.recv(65536):
                    pass
                return
            if kind == "inner":  # sound TLS, mutated application bytes
                pipe.sock.sendall(pipe.seal(mutate(r, opening)))
                pipe.read(1 << 16, 0.1)
                return
            pipe.sock.sendall(pipe.seal(opening))
            got = pipe.read(len(answer), 5)
            self.judged += 1
            if not got.startswith(answer):
                self.violations.append(f"thread {self.n}: {listener} answered {got[:80]!r} to {opening[:40]!r}")
        except (OSError, ssl.SSLError):
            # The router closes on bad input at any point; only a sound
            # exchange is held to an answer (above).
            if kind == "sound":
                self.violations.append(f"thread {self.n}: a sound exchange with {listener} failed")
        finally:
            pipe.close()

    def run(self) -> None:
        for _ in range(TLS_ROUNDS):
            self.one()


async def test_a_tls_storm_harms_no_other_session(tmp_path):
    pki = Pki(tmp_path / "pki")
    _, _, alice_sha1 = pki.client("alice")
    router = TlsRouter(tmp_path / "router", pki, alice_sha1).start()
    try:
        anon = ab_auth.AuthAnonymous()
        subscriber = await tls_login(router, "wss", "ws", anon, pki.context(), serializer="msgpack")
        publisher = await tls_login(router, "rss", "rs", ab_auth.AuthAnonymous(), pki.context(tls13=False))
        topic = "com.healthy.events"
        sink = EventSink()
        await subscriber.subscribe(sink, topic)
        fuzzers = [TlsFuzzer(n, router.ports, pki.context(tls13=n % 2 == 0)) for n in range(THREADS)]
        await storm([threading.Thread(target=f.run) for f in fuzzers], publisher, sink, topic)
        violations = [v for f in fuzzers for v in f.violations]
        assert not violations, "\n".join(violations[:20])
        assert sum(f.judged for f in fuzzers) > 100
        await settled(router, 2)
        await subscriber.close()
        await publisher.close()
        clean_log(router)
    finally:
        router.kill()

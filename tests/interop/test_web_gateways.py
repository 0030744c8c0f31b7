"""The web transport's gateways to other programs, with real clients and
real programs: CGI scripts (shell and Python), the reverse proxy (to a
Python ``http.server`` upstream, and WebSocket through it to Junction's own
WebSocket path with Autobahn|Python), a WSGI application (a plain function,
hosted by Junction's Python shim) and the Prometheus ``metrics`` path read
with ``prometheus_client``'s parser.

One router serves a Crossbar-format config whose directories are relative
to the node directory, as Crossbar reads them.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types
import zlib

import pytest
import requests

from routerproc import SHARDS, RouterProcess, free_port
from wampclient import connect

pytestmark = pytest.mark.junction_only

ENV_SH = """#!/bin/sh
echo "Content-Type: text/plain"
echo "X-Script: shell"
echo ""
for v in GATEWAY_INTERFACE REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING \\
         SERVER_PROTOCOL CONTENT_LENGTH CONTENT_TYPE HTTP_X_CUSTOM HTTP_PROXY REMOTE_ADDR; do
  eval "echo $v=\\${$v-UNSET}"
done
pwd
"""

ECHO_PY = """import os, sys, hashlib
n = int(os.environ.get("CONTENT_LENGTH") or 0)
data = sys.stdin.buffer.read(n)
out = sys.stdout.buffer
out.write(b"Status: 201 Created\\r\\n")
out.write(b"Content-Type: application/octet-stream\\r\\n")
out.write(b"X-Sha256: " + hashlib.sha256(data).hexdigest().encode() + b"\\r\\n")
out.write(b"X-Length: " + str(len(data)).encode() + b"\\r\\n\\r\\n")
out.write(data[::-1])
"""

LINES_PY = """import hashlib, os, sys
# Reads stdin to its end with os.read (no read-ahead), noting in started.txt
# (in its own directory) how much it had when its first input came.
out = sys.stdout.buffer
total = 0
h = hashlib.sha256()
while True:
    d = os.read(0, 65536)
    if not d:
        break
    if total == 0:
        with open("started.txt", "w") as f:
            f.write(str(len(d)))
    total += len(d)
    h.update(d)
out.write(b"Content-Type: text/plain\\r\\n\\r\\n")
out.write(("CL=%s\\n" % os.environ.get("CONTENT_LENGTH", "UNSET")).encode())
out.write(("total=%d\\nsha=%s\\n" % (total, h.hexdigest())).encode())
"""

ECHO_LINES_PY = """import os, sys
# Answers each input line as it reads it (os.read: no read-ahead).
out = sys.stdout.buffer
out.write(b"Content-Type: text/plain\\r\\n\\r\\n")
out.flush()
pending = b""
while True:
    d = os.read(0, 65536)
    if not d:
        break
    pending += d
    while b"\\n" in pending:
        line, _, pending = pending.partition(b"\\n")
        out.write(b"echo: " + line + b"\\n")
        out.flush()
out.write(b"done\\n")
"""

STATUS_PY = """import os
print("Status: 418 I'm a teapot")
print("Content-Type: text/plain")
print()
print("teapot at " + os.environ["PATH_INFO"])
"""

REDIRECT_PY = """print("Location: http://example.org/elsewhere")
print()
"""

BIG_PY = """import sys
sys.stdout.write("Content-Type: text/plain\\n\\n")
sys.stdout.flush()
for i in range(20000):
    sys.stdout.write("line %05d\\n" % i)
"""

# {mark}: a sleep time of this test run's own (GNU sleep takes fractions),
# so that the check that it was killed cannot see another run's script.
SLOW_SH = """#!/bin/sh
sleep {mark}
echo "Content-Type: text/plain"
echo ""
echo late
"""

NAP_PY = """import time
time.sleep(4)
print("Content-Type: text/plain")
print()
print("rested")
"""

BROKEN_SH = """#!/bin/sh
echo "this is not a header"
"""

WSGI_APP = """
import os


def application(environ, start_response):
    if environ["PATH_INFO"] == "/crash":
        os._exit(1)
    body = (
        "method=%s\\nscript=%s\\npath=%s\\nquery=%s\\nremote=%s\\nlength=%s\\nbody=%s\\n" % (
            environ["REQUEST_METHOD"],
            environ["SCRIPT_NAME"],
            environ["PATH_INFO"],
            environ.get("QUERY_STRING", ""),
            environ.get("REMOTE_ADDR", ""),
            environ.get("CONTENT_LENGTH", ""),
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode(),
        )
    ).encode()
    body = ("pid=%d\\n" % os.getpid()).encode() + body
    status = "404 Not Found" if environ["PATH_INFO"] == "/missing" else "200 OK"
    start_response(status, [("Content-Type", "text/plain"), ("X-App", "wsgi")])
    return [body]
"""


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, body: bytes, status: int = 200, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _info(self, body: bytes = b"") -> bytes:
        return json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_len": len(body),
                "body_sha": __import__("hashlib").sha256(body).hexdigest(),
            }
        ).encode()

    def do_GET(self):
        if self.path.startswith("/api/v1/slow"):
            time.sleep(5)
        if self.path.startswith("/api/v1/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close, X-Hop")
            self.send_header("X-Hop", "must not pass")
            self.end_headers()
            for i in range(50):
                chunk = (f"piece {i}\n" * 100).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        self._answer(self._info())

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        self._answer(self._info(body), status=201, extra=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])


class CountingUpstream(http.server.ThreadingHTTPServer):
    """An HTTP/1.1 upstream that counts the connections it accepted and can
    close a connection on the next request without answering it (as a
    backend whose keep-alive timeout ran out just as the request came)."""

    daemon_threads = True

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.accepted = 0
        self.drop_next = False
        self.dropped = 0
        self.lock = threading.Lock()

    def get_request(self):
        conn = super().get_request()
        with self.lock:
            self.accepted += 1
        return conn


class CountingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _serve(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with self.server.lock:
            drop = self.server.drop_next
            self.server.drop_next = False
            if drop:
                self.server.dropped += 1
        if drop:
            self.close_connection = True
            return
        out = json.dumps({"method": self.command, "path": self.path, "len": len(body),
                          "connection": self.headers.get("Connection")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _serve


class LinesBackend:
    """A raw-socket HTTP/1.1 backend, a thread per connection, kept alive:
    to each request it sends its answer's head at once (chunked), then
    `echo: LINE` for each body line as it reads it, and `done` after the
    body's end. Counts its connections."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rb") as r:
            while r.readline():
                length, chunked = 0, False
                while (field := r.readline()) not in (b"\r\n", b""):
                    name, _, value = field.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding":
                        chunked = b"chunked" in value.lower()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")

                def send(data: bytes) -> None:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))

                if chunked:
                    pending = b""
                    while n := int(r.readline().split(b";")[0], 16):
                        pending += r.read(n)
                        r.read(2)
                        *whole, pending = pending.split(b"\n")
                        for line in whole:
                            send(b"echo: " + line + b"\n")
                    while r.readline() not in (b"\r\n", b""):
                        pass
                else:
                    while length > 0:
                        line = r.readline(length)
                        if not line:
                            return
                        length -= len(line)
                        send(b"echo: " + line)
                send(b"done\n")
                conn.sendall(b"0\r\n\r\n")


def gateways_config(port: int, upstream_port: int, dead_port: int, pool_port: int = 0, lines_port: int = 0) -> dict:
    anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
    return {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "options": {"pythonpath": ["apps"]},
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [anyone]}]}],
                "transports": [
                    {
                        "type": "web",
                        "id": "web1",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": {
                            "/": {"type": "json", "value": {"root": True}},
                            "ws": {"type": "websocket", "serializers": ["json"]},
                            "cgi": {"type": "cgi", "directory": "cgi", "processor": sys.executable},
                            "cgis": {
                                "type": "cgi",
                                "directory": "cgi",
                                "processor": sys.executable,
                                "junction": {"chunked_buffer": 1024},
                            },
                            "cgiz": {
                                "type": "cgi",
                                "directory": "cgi",
                                "processor": sys.executable,
                                "junction": {"chunked_buffer": 0},
                            },
                            "sh": {
                                "type": "cgi",
                                "directory": "sh",
                                "processor": "/bin/sh",
                                "junction": {"timeout": 1500},
                            },
                            "proxy": {
                                "type": "reverseproxy",
                                "host": "127.0.0.1",
                                "port": upstream_port,
                                "path": "/api/v1",
                                "junction": {"timeout": 1500},
                            },
                            "self": {"type": "reverseproxy", "host": "127.0.0.1", "port": port},
                            "pool": {
                                "type": "reverseproxy",
                                "host": "127.0.0.1",
                                "port": pool_port,
                                "junction": {"pool_size": 4, "pool_idle_timeout": 30000},
                            },
                            "dead": {"type": "reverseproxy", "host": "127.0.0.1", "port": dead_port},
                            "lines": {
                                "type": "reverseproxy",
                                "host": "127.0.0.1",
                                "port": lines_port,
                                "junction": {"pool_size": 4},
                            },
                            "app": {"type": "wsgi", "module": "hello_app", "object": "application"},
                            "metrics": {"type": "metrics"},
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gateways")
    cgi = workdir / "cgi"
    cgi.mkdir()
    (cgi / "echo.py").write_text(ECHO_PY)
    (cgi / "status.py").write_text(STATUS_PY)
    (cgi / "lines.py").write_text(LINES_PY)
    (cgi / "echolines.py").write_text(ECHO_LINES_PY)
    (cgi / "redirect.py").write_text(REDIRECT_PY)
    (cgi / "big.py").write_text(BIG_PY)
    (cgi / "nap.py").write_text(NAP_PY)
    sh = workdir / "sh"
    (sh / "sub").mkdir(parents=True)
    (sh / "env.sh").write_text(ENV_SH)
    (sh / "sub" / "nested.sh").write_text(ENV_SH)
    (sh / "slow.sh").write_text(SLOW_SH.replace("{mark}", slow_mark(workdir)))
    (sh / "broken.sh").write_text(BROKEN_SH)
    (workdir / "outside.sh").write_text("#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho PWNED\n")
    (sh / "escape.sh").symlink_to(workdir / "outside.sh")
    apps = workdir / "apps"
    apps.mkdir()
    (apps / "hello_app.py").write_text(WSGI_APP)

    upstream = Upstream(("127.0.0.1", 0), UpstreamHandler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    counting = CountingUpstream(("127.0.0.1", 0), CountingHandler)
    threading.Thread(target=counting.serve_forever, daemon=True).start()
    lines = LinesBackend()
    port = free_port()
    dead_port = free_port()
    proc = RouterProcess(
        workdir,
        config=gateways_config(port, upstream.server_address[1], dead_port, counting.server_address[1], lines.port),
        wait_ports=[port],
    )
    # A control socket of its own (for `junction reload`).
    proc.extra_env["RUNTIME_DIRECTORY"] = str(workdir / "run")
    proc.start()
    yield types.SimpleNamespace(
        base=f"http://127.0.0.1:{port}",
        port=port,
        proc=proc,
        workdir=workdir,
        upstream_port=upstream.server_address[1],
        counting=counting,
        lines=lines,
    )
    alive = proc.alive()
    proc.kill()
    upstream.shutdown()
    counting.shutdown()
    lines.close()
    assert alive, f"router died during the gateway tests:\n{proc.logs()}"


def env_lines(text: str) -> dict:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# -- CGI ---------------------------------------------------------------------


def test_cgi_shell_script_environment_with_path_info(gw):
    r = requests.get(
        f"{gw.base}/sh/env.sh/extra/path%20info/?a=1&b=two",
        headers={"X-Custom": "hello", "Proxy": "http://evil.example:1"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["X-Script"] == "shell"
    env = env_lines(r.text)
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/sh/env.sh"
    assert env["PATH_INFO"] == "/extra/path info/"
    assert env["QUERY_STRING"] == "a=1&b=two"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_X_CUSTOM"] == "hello"
    assert env["HTTP_PROXY"] == "UNSET", "httpoxy: the Proxy header never becomes HTTP_PROXY"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["CONTENT_LENGTH"] == "UNSET"
    assert r.text.splitlines()[-1] == str(gw.workdir / "sh"), "runs in the script's directory"
    # A script in a subdirectory; no path info.
    env = env_lines(requests.get(f"{gw.base}/sh/sub/nested.sh").text)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/sh/sub/nested.sh", "")


def test_cgi_python_request_body_streamed_and_status(gw):
    body = bytes(range(256)) * 2048  # 512 KiB
    r = requests.post(f"{gw.base}/cgi/echo.py", data=body, headers={"Content-Type": "application/x-test"})
    assert r.status_code == 201
    assert r.headers["X-Length"] == str(len(body))
    assert r.headers["X-Sha256"] == __import__("hashlib").sha256(body).hexdigest()
    assert r.content == body[::-1]
    # A chunked request body (a generator): read whole, CONTENT_LENGTH given.
    r = requests.post(f"{gw.base}/cgi/echo.py", data=(bytes([i]) * 1000 for i in range(10)))
    assert (r.status_code, r.headers["X-Length"]) == (201, "10000")
    # Status and Location from the script.
    r = requests.get(f"{gw.base}/cgi/status.py/a/b")
    assert (r.status_code, r.text) == (418, "teapot at /a/b\n")
    r = requests.get(f"{gw.base}/cgi/redirect.py", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (302, "http://example.org/elsewhere")
    # Large output, streamed (chunked).
    r = requests.get(f"{gw.base}/cgi/big.py")
    assert r.status_code == 200 and r.headers.get("Transfer-Encoding") == "chunked"
    lines = r.text.splitlines()
    assert (len(lines), lines[0], lines[-1]) == (20000, "line 00000", "line 19999")
    # Keep-alive survives CGI answers.
    s = requests.Session()
    for _ in range(3):
        assert s.get(f"{gw.base}/cgi/status.py/x").status_code == 418


def test_cgi_long_chunked_body_streamed_to_the_running_script(gw):
    """A chunked body longer than junction.chunked_buffer is not held: the
    script starts once that much came (no CONTENT_LENGTH) and reads the rest
    as it arrives. The client sends its last chunks only after the script
    has shown that it runs."""
    import hashlib

    marker = gw.workdir / "cgi" / "started.txt"
    marker.unlink(missing_ok=True)
    first = b"a" * 3000
    rest = [bytes([65 + i]) * 50_000 for i in range(10)]
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        sock.sendall(b"POST /cgis/lines.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"%x\r\n%s\r\n" % (len(first), first))
        deadline = time.monotonic() + 10
        while not marker.exists():
            assert time.monotonic() < deadline, "the script did not start before the body's end"
            time.sleep(0.05)
        for piece in rest:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        answer = b""
        while not answer.endswith(b"0\r\n\r\n"):
            d = sock.recv(65536)
            assert d, answer
            answer += d
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    whole = first + b"".join(rest)
    text = dechunk(body)
    assert text.decode().splitlines() == [
        "CL=UNSET",
        f"total={len(whole)}",
        f"sha={hashlib.sha256(whole).hexdigest()}",
    ]
    # A short chunked body (within chunked_buffer) is read whole: CONTENT_LENGTH given.
    r = requests.post(f"{gw.base}/cgis/lines.py", data=(b"x" * 100 for _ in range(5)))
    assert r.status_code == 200 and r.text.splitlines()[:2] == ["CL=500", "total=500"], r.text


def dechunk(body: bytes) -> bytes:
    """A chunked HTTP body's pieces, joined (up to its last chunk)."""
    text = b""
    while True:
        size, _, body = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return text
        text, body = text + body[:n], body[n + 2 :]


def echo_while_sending(gw, path: str, framing: str) -> None:
    """Sends three lines to `path` (an echoing program) one at a time, each
    only once the answer to the one before came: the answer streams while
    the request body still streams in. The answer began before the body's
    end, so the connection closes after it."""
    lines = [b"alpha\n", b"beta\n", b"gamma\n"]
    if framing == "chunked":
        head = b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode()
        frame = lambda line: b"%x\r\n%s\r\n" % (len(line), line)  # noqa: E731
        end = b"0\r\n\r\n"
    else:
        head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(b"".join(lines)))
        frame = lambda line: line  # noqa: E731
        end = b""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(head)
        got = b""
        for line in lines:
            sock.sendall(frame(line))
            want = b"echo: " + line
            while want not in got:
                d = sock.recv(65536)
                assert d, got
                got += d
        sock.sendall(end)
        while d := sock.recv(65536):
            got += d
    answer_head, _, body = got.partition(b"\r\n\r\n")
    assert answer_head.startswith(b"HTTP/1.1 200"), answer_head
    assert b"connection: close" in answer_head.lower()
    text = dechunk(body)
    assert text == b"echo: alpha\necho: beta\necho: gamma\ndone\n"


def echo_after_sending(url: str) -> None:
    """requests sends its whole body before it reads; the program answers
    each line as it reads it. Its answer is read ahead (up to 1 MiB) while
    the client does not read, so neither waits on the other."""
    lines = [b"line %06d" % i for i in range(40000)]  # 440 KiB in, 560 KiB out
    r = requests.post(url, data=b"\n".join(lines) + b"\n", timeout=60)
    assert r.status_code == 200
    out = r.content.split(b"\n")
    assert out[:-2] == [b"echo: " + line for line in lines]
    assert out[-2:] == [b"done", b""]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_cgi_answer_streams_while_the_body_is_sent(gw, framing):
    """A chunked body goes to a path with chunked_buffer 0, so that the
    script starts at once."""
    path = "/cgiz/echolines.py" if framing == "chunked" else "/cgi/echolines.py"
    echo_while_sending(gw, path, framing)


def test_cgi_echoing_script_and_a_client_that_reads_only_after_sending(gw):
    echo_after_sending(f"{gw.base}/cgi/echolines.py")


def slow_mark(workdir) -> str:
    """slow.sh's sleep argument: 30 s and a fraction unique to ``workdir``."""
    return f"30.{zlib.crc32(str(workdir).encode()):010d}"


def test_cgi_timeout_broken_output_and_missing(gw):
    t0 = time.monotonic()
    r = requests.get(f"{gw.base}/sh/slow.sh", timeout=20)
    assert r.status_code == 504
    assert time.monotonic() - t0 < 10, "the timeout is 1.5 s"
    assert requests.get(f"{gw.base}/sh/broken.sh").status_code == 502
    assert requests.get(f"{gw.base}/sh/missing.sh").status_code == 404
    assert requests.get(f"{gw.base}/sh/sub").status_code == 404, "a directory is no script"
    # The slow script's process group was killed: its `sleep` is gone.
    mark = "sleep " + slow_mark(gw.workdir)
    deadline = time.monotonic() + 10
    while True:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if mark not in ps or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert mark not in ps


def test_cgi_scripts_do_not_block_the_shards(gw):
    """Four scripts sleeping four seconds each (so on every shard) while quick
    requests keep being answered: every quick answer comes while every
    sleeping script is still running (an order, not a time limit)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        naps = [pool.submit(requests.get, f"{gw.base}/cgi/nap.py", timeout=30) for _ in range(4)]
        time.sleep(0.2)
        s = requests.Session()
        for _ in range(5):
            r = s.get(f"{gw.base}/cgi/status.py/q")
            assert r.status_code == 418
            r = requests.get(f"{gw.base}/")
            assert r.json() == {"root": True}
        waiting = [not n.done() for n in naps]
        assert [n.result().text for n in naps] == ["rested\n"] * 4
    assert waiting == [True] * 4, "quick requests waited for the sleeping scripts"


def test_cgi_head_and_http10(gw):
    r = requests.head(f"{gw.base}/cgi/big.py")
    assert (r.status_code, r.content) == (200, b"")
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
        s.sendall(b"GET /cgi/status.py/old HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 418 ")
    assert b"chunked" not in head.lower(), "HTTP/1.0 gets the body until the close"
    assert body == b"teapot at /old\n"


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


@pytest.mark.parametrize(
    "target",
    [
        "/sh/../outside.sh",
        "/sh/%2e%2e/outside.sh",
        "/sh/.%2E/outside.sh",
        "/sh/%2E%2e/outside.sh",
        "/sh/sub/../../outside.sh",
        "/sh/%252e%252e/outside.sh",
        "/sh/..%2foutside.sh",
        "/sh/..%5coutside.sh",
        "/sh/..\\outside.sh",
        "/sh/escape.sh",
    ],
)
def test_cgi_scripts_outside_the_directory_never_run(gw, target):
    status, data = raw_get(gw.port, target)
    assert status in (400, 404), data
    assert b"PWNED" not in data


# -- reverse proxy -----------------------------------------------------------


def test_reverse_proxy_forwards_path_query_headers_and_bodies(gw):
    r = requests.get(f"{gw.base}/proxy/items/7?x=1", headers={"X-Custom": "v", "Connection": "keep-alive, X-Custom2", "X-Custom2": "hop"})
    assert r.status_code == 200
    info = r.json()
    assert info["path"] == "/api/v1/items/7?x=1"
    h = info["headers"]
    assert h["x-custom"] == "v"
    assert "x-custom2" not in h, "fields named by Connection are hop-by-hop"
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["host"] == f"127.0.0.1:{gw.upstream_port}", "the backend's name, as Crossbar sends it"
    assert h["x-forwarded-host"] == f"127.0.0.1:{gw.port}"
    assert h["x-forwarded-port"] == "80"
    body = bytes(range(256)) * 4096  # 1 MiB
    r = requests.post(f"{gw.base}/proxy/upload", data=body)
    assert r.status_code == 201
    assert (r.json()["body_len"], r.json()["body_sha"]) == (len(body), __import__("hashlib").sha256(body).hexdigest())
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    r = requests.head(f"{gw.base}/proxy/items")
    assert r.status_code == 200 and r.content == b""
    # A chunked upstream body streams through; its hop-by-hop fields stay behind.
    r = requests.get(f"{gw.base}/proxy/stream")
    assert r.status_code == 200
    assert r.text == "".join(f"piece {i}\n" * 100 for i in range(50))
    assert "X-Hop" not in r.headers
    # Keep-alive on the client's side survives proxied answers.
    s = requests.Session()
    for i in range(5):
        assert s.get(f"{gw.base}/proxy/k{i}").json()["path"] == f"/api/v1/k{i}"
    # The client's own X-Forwarded-For is extended.
    r = requests.get(f"{gw.base}/proxy/x", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.json()["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"


def test_reverse_proxy_reuses_upstream_connections(gw):
    up = gw.counting
    s = requests.Session()
    before = up.accepted
    # One client connection (one shard): its requests share one upstream connection.
    for i in range(10):
        r = s.get(f"{gw.base}/pool/a{i}")
        assert r.status_code == 200 and r.json()["path"] == f"/a{i}"
        assert r.json()["connection"] is None, "no Connection: close to a pooled backend"
    r = s.post(f"{gw.base}/pool/p", data=b"x" * 1000)
    assert r.status_code == 200 and r.json()["len"] == 1000
    assert up.accepted - before == 1, up.accepted - before
    # Fresh client connections (any shard): at most one upstream connection per shard.
    before = up.accepted
    for i in range(10):
        assert requests.get(f"{gw.base}/pool/f{i}").status_code == 200
    assert up.accepted - before <= SHARDS, (up.accepted - before, SHARDS)
    # The backend closes the pooled connection as an idempotent request
    # arrives on it: sent once more on a new connection.
    before = up.accepted
    up.drop_next = True
    r = s.get(f"{gw.base}/pool/retried")
    assert r.status_code == 200 and r.json()["path"] == "/retried"
    assert up.dropped >= 1 and up.accepted - before == 1
    # ... a POST (not idempotent) is not sent again: 502.
    up.drop_next = True
    r = s.post(f"{gw.base}/pool/once", data=b"body")
    assert r.status_code == 502 and "closed without an answer" in r.text
    # The client's connection and the pool work on.
    assert s.get(f"{gw.base}/pool/after").json()["path"] == "/after"


def test_reverse_proxy_upstream_down_and_timeout(gw):
    assert requests.get(f"{gw.base}/dead/x").status_code == 502
    t0 = time.monotonic()
    assert requests.get(f"{gw.base}/proxy/slow", timeout=20).status_code == 504
    assert time.monotonic() - t0 < 4.5


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_reverse_proxy_answer_streams_while_the_body_is_sent(gw, framing):
    """Through the proxy to a raw-socket backend that echoes each line as
    it reads it: its answer reaches the client before the client sends the
    next line."""
    echo_while_sending(gw, "/lines/echo", framing)


def test_reverse_proxy_echoing_backend_and_a_client_that_reads_only_after_sending(gw):
    echo_after_sending(f"{gw.base}/lines/echo")


def test_reverse_proxy_streaming_backend_keeps_its_connection_when_complete(gw):
    """Exchanges that completed (the whole body went in, the answer ended by
    its chunks) leave the backend's connection in the pool: one client
    connection (one shard) needs at most one new backend connection (none
    when an earlier test left one in this shard's pool)."""
    before = gw.lines.accepted
    s = requests.Session()
    for i in range(5):
        r = s.post(f"{gw.base}/lines/k", data=b"k%d\n" % i)
        assert r.status_code == 200 and r.content == b"echo: k%d\ndone\n" % i
    assert gw.lines.accepted - before <= 1, gw.lines.accepted - before


def ws_at(gw, path: str):
    return types.SimpleNamespace(ws_url=f"ws://127.0.0.1:{gw.port}{path}", ws_port=gw.port)


async def test_reverse_proxy_websocket_upgrade_to_junction_itself(gw):
    """An Autobahn|Python session through the proxy path to Junction's own
    WebSocket path: after the 101 the proxy is a byte pipe."""
    callee = await connect(ws_at(gw, "/ws"), "ws", "json")
    # `self` proxies to this port with no prefix: /self/ws → /ws.
    caller = await connect(ws_at(gw, "/self/ws"), "ws", "json")
    try:
        await callee.register(lambda a, b: a + b, "com.gw.add")
        results = [await caller.call("com.gw.add", i, 1) for i in range(20)]
        big = "x" * 300_000
        assert await caller.call("com.gw.add", big, "y") == big + "y"
    finally:
        await caller.close()
        await callee.close()
    assert results == [i + 1 for i in range(20)]


# -- WSGI --------------------------------------------------------------------


def test_wsgi_application_in_a_python_child(gw):
    r = requests.get(f"{gw.base}/app/hello/world?q=1")
    assert r.status_code == 200, r.text
    assert r.headers["X-App"] == "wsgi"
    env = env_lines(r.text)
    assert env["method"] == "GET"
    assert (env["script"], env["path"], env["query"]) == ("/app", "/hello/world", "q=1")
    assert env["remote"] == "127.0.0.1"
    r = requests.post(f"{gw.base}/app/form", data=b"a=1&b=2")
    env = env_lines(r.text)
    assert (env["method"], env["length"], env["body"]) == ("POST", "7", "a=1&b=2")
    assert requests.get(f"{gw.base}/app/missing").status_code == 404
    # A reload rebuilds every site: the path keeps the same process.
    pid = env_lines(requests.get(f"{gw.base}/app/x").text)["pid"]
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    sock = gw.workdir / "run" / "junction.sock"
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the control socket opens before the listeners; kept as a guard
    out = subprocess.run(
        [binary, "reload", "--socket", str(sock)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    r = requests.get(f"{gw.base}/app/x")
    assert r.status_code == 200
    assert env_lines(r.text)["pid"] == pid


def test_wsgi_application_restarted_after_a_crash(gw):
    pid = env_lines(requests.get(f"{gw.base}/app/x").text)["pid"]
    r = requests.get(f"{gw.base}/app/crash")
    assert r.status_code == 502, "the process died without answering"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = requests.get(f"{gw.base}/app/x")
        if r.status_code == 200:
            break
        assert r.status_code == 502
        time.sleep(0.1)
    assert r.status_code == 200, "restarted within the first backoff"
    assert env_lines(r.text)["pid"] != pid


def test_wsgi_import_error_names_path_and_module(tmp_path):
    port = free_port()
    config = gateways_config(port, free_port(), free_port())
    paths = config["workers"][0]["transports"][0]["paths"]
    config["workers"][0]["transports"][0]["paths"] = {
        "/": paths["/"],
        "app": {"type": "wsgi", "module": "no_such_module_xyz", "object": "application"},
    }
    proc = RouterProcess(tmp_path, config=config, wait_ports=[port])
    with pytest.raises(Exception):
        proc.start()
    logs = proc.logs()
    proc.kill()
    assert "/app: WSGI application: cannot load no_such_module_xyz:application" in logs, logs
    assert "ModuleNotFoundError: No module named 'no_such_module_xyz'" in logs, logs


# -- metrics -----------------------------------------------------------------


async def test_metrics_path_parsed_by_prometheus_client(gw):
    from autobahn.wamp.types import PublishOptions
    from prometheus_client.parser import text_string_to_metric_families

    def scrape() -> dict:
        r = requests.get(f"{gw.base}/metrics")
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {f.name: f for f in text_string_to_metric_families(r.text)}

    before = scrape()
    c = await connect(ws_at(gw, "/ws"), "ws", "json")
    try:
        for _ in range(3):
            await c.publish("com.gw.topic", 1, options=PublishOptions(acknowledge=True))
        after = scrape()
    finally:
        await c.close()
    # Every shard reported (the router runs with JUNCTION_SHARDS shards).
    shards = {s.labels["shard"] for s in after["junction_subscriptions"].samples}
    assert shards == {str(i) for i in range(SHARDS)}

    def published(fams):
        return sum(
            s.value
            for s in fams["junction_wamp_messages_received"].samples
            if s.labels.get("type") == "PUBLISH" and s.name.endswith("_total")
        )

    assert published(after) >= published(before) + 3
    sessions = sum(s.value for s in after["junction_sessions"].samples if s.labels.get("realm") == "realm1")
    assert sessions >= 1
    assert requests.post(f"{gw.base}/metrics").status_code == 405

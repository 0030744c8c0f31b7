"""The web transport with real HTTP clients: Python ``requests`` and ``curl``
against the static, redirect, JSON and node info services, raw sockets for
what clients normalise away (path traversal, malformed requests), and
Autobahn|Python sessions over two WebSocket paths of the same port.

One router serves a Crossbar-format config whose ``static`` directory is
given relative to the node directory (the config file's), as Crossbar reads it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import types

import pytest
import requests

from routerproc import RouterProcess, free_port
from wampclient import connect

pytestmark = pytest.mark.junction_only

BIG = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: streamed from disk


def web_config(port: int) -> dict:
    anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
    return {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [anyone]}]}],
                "transports": [
                    {
                        "type": "web",
                        "id": "web1",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": {
                            "/": {"type": "static", "directory": "www", "options": {"enable_directory_listing": True}},
                            "ws": {"type": "websocket", "serializers": ["json", "msgpack"]},
                            "ws2": {"type": "websocket", "serializers": ["cbor"]},
                            "info": {"type": "nodeinfo"},
                            "api": {"type": "json", "value": {"name": "junction", "list": [1, 2, 3]}},
                            "go": {"type": "redirect", "url": "/hello.txt"},
                            "app": {
                                "type": "path",
                                "paths": {
                                    "/": {"type": "json", "value": {"app": True}},
                                    "docs": {"type": "static", "directory": "www/sub"},
                                },
                            },
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web")
    www = workdir / "www"
    (www / "sub").mkdir(parents=True)
    (www / "hello.txt").write_text("hello, world\n")
    (www / "index.html").write_text("<h1>home</h1>")
    (www / "sub" / "page.html").write_text("<p>page</p>")
    (www / "big.bin").write_bytes(BIG)
    (workdir / "secret.txt").write_text("TOP SECRET")
    (www / "escape.txt").symlink_to(workdir / "secret.txt")
    port = free_port()
    proc = RouterProcess(workdir, config=web_config(port), wait_ports=[port]).start()
    base = f"http://127.0.0.1:{port}"
    yield types.SimpleNamespace(
        base=base,
        port=port,
        proc=proc,
        ws_url=f"ws://127.0.0.1:{port}/ws",
        ws_port=port,
    )
    alive = proc.alive()
    proc.kill()
    assert alive, f"router died during the web tests:\n{proc.logs()}"


def test_requests_static_files_validators_and_ranges(web):
    s = requests.Session()
    r = s.get(f"{web.base}/hello.txt")
    assert r.status_code == 200
    assert r.text == "hello, world\n"
    assert r.headers["Content-Type"] == "text/plain"
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert s.get(f"{web.base}/hello.txt", headers={"If-None-Match": etag}).status_code == 304
    assert s.get(f"{web.base}/hello.txt", headers={"If-Modified-Since": modified}).status_code == 304
    r = s.get(f"{web.base}/hello.txt", headers={"Range": "bytes=0-4"})
    assert (r.status_code, r.text, r.headers["Content-Range"]) == (206, "hello", "bytes 0-4/13")
    h = s.head(f"{web.base}/hello.txt")
    assert (h.status_code, h.headers["Content-Length"], h.text) == (200, "13", "")
    r = s.get(f"{web.base}/big.bin")
    assert r.status_code == 200 and r.content == BIG
    r = s.get(f"{web.base}/")
    assert r.text == "<h1>home</h1>"
    r = s.get(f"{web.base}/sub/")
    assert "page.html" in r.text, "the listing is enabled"
    r = s.get(f"{web.base}/sub", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (301, "/sub/")
    assert s.get(f"{web.base}/nothing-here").status_code == 404
    assert s.post(f"{web.base}/hello.txt", data=b"x").status_code == 405


def test_requests_redirect_json_nodeinfo_and_nested_paths(web):
    r = requests.get(f"{web.base}/go", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (302, "/hello.txt")
    assert requests.get(f"{web.base}/go").text == "hello, world\n", "followed"
    r = requests.get(f"{web.base}/api")
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"name": "junction", "list": [1, 2, 3]}
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.get(f"{web.base}/app").json() == {"app": True}
    assert requests.get(f"{web.base}/app/docs/page.html").text == "<p>page</p>"
    r = requests.get(f"{web.base}/info")
    assert r.status_code == 200 and "Junction" in r.text
    assert requests.get(f"{web.base}/ws").status_code == 426, "a WebSocket path asked plainly"


def curl(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("curl")
    assert binary, "curl is needed (.ci/run installs it)"
    return subprocess.run([binary, "-sS", "--max-time", "10", *args], capture_output=True, check=False)


def test_curl(web):
    r = curl("-i", f"{web.base}/hello.txt")
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    assert body == b"hello, world\n"
    r = curl("-I", f"{web.base}/big.bin")
    assert b"Content-Length: 1048580" in r.stdout, r.stdout
    r = curl("-r", "1048576-", f"{web.base}/big.bin")
    assert r.stdout == b"tail"
    r = curl("--http1.0", "-o", "/dev/null", "-w", "%{http_code}", f"{web.base}/hello.txt")
    assert r.stdout == b"200"
    # Two URLs on one connection (keep-alive).
    r = curl("-v", f"{web.base}/hello.txt", f"{web.base}/api")
    assert b"Re-using existing" in r.stderr or b"Reusing existing" in r.stderr, r.stderr
    # Traversal as curl sends it verbatim.
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/escape.txt"):
        r = curl("--path-as-is", "-o", "-", "-w", "\n%{http_code}", f"{web.base}{path}")
        code = r.stdout.rsplit(b"\n", 1)[-1]
        assert code in (b"400", b"404"), (path, r.stdout)
        assert b"TOP SECRET" not in r.stdout, path


def raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/app/docs/../../../secret.txt",
    ],
)
def test_traversal_spellings(web, path):
    out = raw(web.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert out.split(b" ")[1] in (b"400", b"404"), out[:200]
    assert b"TOP SECRET" not in out


def test_malformed_requests_do_not_disturb_others(web):
    s = requests.Session()
    assert s.get(f"{web.base}/hello.txt").status_code == 200
    for bad in (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 500 + b"\r\n"):
        out = raw(web.port, bad)
        assert out.startswith(b"HTTP/1.1 4") or out.startswith(b"HTTP/1.1 5"), out[:100]
    assert s.get(f"{web.base}/hello.txt").text == "hello, world\n", "the kept-alive session still works"


async def test_wamp_sessions_on_two_websocket_paths(web):
    json_side = await connect(web, "ws", "json")
    cbor_router = types.SimpleNamespace(ws_url=f"ws://127.0.0.1:{web.port}/ws2", ws_port=web.port)
    cbor_side = await connect(cbor_router, "ws", "cbor")
    try:
        await json_side.register(lambda a, b: a + b, "com.web.add")
        assert await cbor_side.call("com.web.add", 2, 3) == 5
    finally:
        await cbor_side.close()
        await json_side.close()
    # The JSON path does not speak CBOR.
    with pytest.raises(Exception):
        await connect(types.SimpleNamespace(ws_url=web.ws_url, ws_port=web.port), "ws", "cbor", timeout=3)
    await asyncio.sleep(0)
    assert json.loads(requests.get(f"{web.base}/api").text)["name"] == "junction"

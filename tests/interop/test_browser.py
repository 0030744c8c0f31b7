"""A real browser: headless Chromium loads a page served by Junction's
``static`` service, connects with Autobahn|JS (the browser build, served
from the same directory) over WebSocket on the same port, calls a
procedure registered by an Autobahn|Python callee, and shows the result;
the test reads it from the page's DOM (``--dump-dom``).

Needs Debian's ``chromium`` (.ci/run installs it) and the
``autobahn-browser`` npm package (tests/interop/js, installed by
tests/run.sh). Outside CI the test is skipped when either is missing; in CI
(``CI`` set) it fails instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import types
from pathlib import Path

import pytest

from routerproc import RouterProcess, free_port
from wampclient import connect

pytestmark = pytest.mark.junction_only

AUTOBAHN_JS = Path(__file__).parent / "js" / "node_modules" / "autobahn-browser" / "autobahn.min.js"

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Junction in a browser</title>
<script src="js/autobahn.min.js"></script></head>
<body><p id="result">waiting</p>
<script>
var out = document.getElementById('result');
var connection = new autobahn.Connection({
  url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws',
  realm: 'realm1', max_retries: 0});
connection.onopen = function (session) {
  session.call('com.browser.add2', [20, 22]).then(
    function (r) { out.textContent = 'result: ' + r; connection.close(); },
    function (e) { out.textContent = 'error: ' + e.error; });
};
connection.onclose = function (reason) {
  if (out.textContent === 'waiting') { out.textContent = 'closed: ' + reason; }
};
connection.open();
// Headless Chromium's virtual time runs on while a WebSocket waits, but
// stops while a fetch is pending: chained fetches of this page hold it
// until the result is in (at most 20,000 fetches).
var started = Date.now();
function hold(n) {
  if (out.textContent !== 'waiting' || n > 20000 || Date.now() - started > 20000) { return; }
  fetch('/index.html?hold=' + n, {cache: 'no-store'}).then(
    function () { hold(n + 1); }, function () { hold(n + 1); });
}
hold(0);
</script></body></html>
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI")
    pytest.skip(f"{what} is not installed")


async def test_chromium_calls_a_procedure_over_websocket(tmp_path):
    browser = chromium()
    if browser is None:
        missing("chromium")
    if not AUTOBAHN_JS.exists():
        missing("autobahn-browser (npm ci in tests/interop/js)")
    www = tmp_path / "www"
    (www / "js").mkdir(parents=True)
    shutil.copy(AUTOBAHN_JS, www / "js" / "autobahn.min.js")
    (www / "index.html").write_text(PAGE)
    port = free_port()
    anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
    config = {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [anyone]}]}],
                "transports": [
                    {
                        "type": "web",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": {
                            "/": {"type": "static", "directory": "www"},
                            "ws": {"type": "websocket", "serializers": ["json", "msgpack"]},
                        },
                    }
                ],
            }
        ],
    }
    proc = RouterProcess(tmp_path, config=config, wait_ports=[port]).start()
    router = types.SimpleNamespace(ws_url=f"ws://127.0.0.1:{port}/ws", ws_port=port)
    callee = await connect(router, "ws", "msgpack")
    calls = []

    def add2(a, b):
        calls.append((a, b))
        return a + b

    try:
        await callee.register(add2, "com.browser.add2")
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"http://127.0.0.1:{port}/",
        ]
        done = await asyncio.to_thread(
            subprocess.run, cmd, capture_output=True, timeout=90, check=False
        )
        dom = done.stdout.decode(errors="replace")
        found = re.search(r'<p id="result">([^<]*)</p>', dom)
        assert found, f"no result element in the page:\n{dom[:2000]}\n{done.stderr.decode(errors='replace')[-2000:]}"
        assert found.group(1) == "result: 42", dom[:2000]
        assert calls == [(20, 22)], "the browser's call reached the Python callee"
    finally:
        await callee.close()
        alive = proc.alive()
        proc.kill()
    assert alive, proc.logs()

"""Autobahn|JS (Node.js) clients against the router under test: the advanced
publish options and pattern-based subscriptions (``js/pubsub_options.js``),
with the sessions on one shard and on different shards.

Needs ``node`` and the npm packages of ``js/package.json`` (installed with
``npm install`` on first use; the test fails when that is impossible).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from advhelpers import PLACEMENT_IDS, PLACEMENTS
from routerproc import SHARDS

JS_DIR = Path(__file__).parent / "js"


def node_command() -> list[str]:
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed: the Autobahn|JS tests need Node.js (.ci/run installs it)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    # Autobahn|JS uses the global WebSocket: built in from Node 22, behind a flag before.
    return [node] if major >= 22 else [node, "--experimental-websocket"]


@pytest.fixture(scope="session")
def js_ready():
    if not (JS_DIR / "node_modules" / "autobahn").is_dir():
        npm = shutil.which("npm")
        if not npm:
            pytest.fail("npm is not installed: the Autobahn|JS tests need Node.js and npm (.ci/run installs them)")
        r = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if r.returncode != 0:
            pytest.fail(f"npm install failed: {r.stderr[-2000:]}")
    return node_command()


@pytest.mark.parametrize("placement", PLACEMENTS, ids=PLACEMENT_IDS)
def test_js_pubsub_options(router, js_ready, placement):
    _, pub_shard, sub_shard = placement
    r = subprocess.run(
        [
            *js_ready,
            str(JS_DIR / "pubsub_options.js"),
            router.ws_url,
            str(pub_shard),
            str(sub_shard),
            str(SHARDS),
        ],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [line for line in r.stdout.splitlines() if line.startswith("JS-OK")]
    assert last and int(last[-1].split()[1]) >= 15, out

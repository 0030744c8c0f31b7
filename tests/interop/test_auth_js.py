"""Authentication with Autobahn|JS (Node.js): ticket, wampcra plain and salted,
and cryptosign against the static methods of ``authhelpers.AuthRouter``, over
WebSocket. The logins live in ``tests/interop/js/auth.js``; each run prints one
JSON line that the tests assert on.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from authhelpers import CRA_PASSWORD, CRA_SECRET, TICKET, AuthRouter, seed
from routerproc import IS_CROSSBAR
from test_rpc_js import JS_DIR, NODE, _node_args

pytestmark = pytest.mark.skipif(IS_CROSSBAR, reason="Junction config (junction block, listeners)")


@pytest.fixture(autouse=True)
def js_installed():
    """Node.js and Autobahn|JS are required: missing ones are a failure, not a skip."""
    if NODE is None or not (JS_DIR / "node_modules" / "autobahn").is_dir():
        pytest.fail("needs node and `npm ci` in tests/interop/js (tests/run.sh does it)")


@pytest.fixture(scope="module")
def auth_router(tmp_path_factory):
    proc = AuthRouter(tmp_path_factory.mktemp("auth_js")).start()
    yield proc
    proc.kill()


async def run_js(**spec) -> dict:
    proc = await asyncio.create_subprocess_exec(
        *_node_args(),
        str(JS_DIR / "auth.js"),
        json.dumps(spec),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except asyncio.TimeoutError:
        proc.kill()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, f"no output from auth.js (rc={proc.returncode}); stderr:\n{err.decode()}"
    result = json.loads(lines[-1])
    assert "failed" not in result, f"{result['failed']}\nstderr:\n{err.decode()}"
    return result


CASES = [
    ("ticket", "joe", {"secret": TICKET}),
    ("wampcra", "ann", {"secret": CRA_SECRET}),
    ("wampcra", "sal", {"secret": CRA_PASSWORD}),
    ("cryptosign", "dev", {"seed": seed(1)}),
]


@pytest.mark.parametrize("method,authid,cred", CASES, ids=[f"{m}-{a}" for m, a, _ in CASES])
async def test_js_static_login(auth_router, method, authid, cred):
    url = f"ws://127.0.0.1:{auth_router.ports['ws_static']}/ws"
    r = await run_js(url=url, method=method, authid=authid, **cred)
    assert r.get("joined"), r
    assert (r["authid"], r["authrole"], r["authmethod"], r["authprovider"]) == (
        authid,
        "user",
        method,
        "static",
    )
    assert r["echo"] == "hello"


@pytest.mark.parametrize(
    "method,authid,cred",
    [
        ("ticket", "joe", {"secret": "nope"}),
        ("wampcra", "sal", {"secret": "nope"}),
        ("cryptosign", "dev", {"seed": seed(9)}),
    ],
    ids=["ticket", "wampcra", "cryptosign"],
)
async def test_js_wrong_credentials_are_refused(auth_router, method, authid, cred):
    url = f"ws://127.0.0.1:{auth_router.ports['ws_static']}/ws"
    r = await run_js(url=url, method=method, authid=authid, **cred)
    assert r.get("closed") == "wamp.error.authentication_failed", r

"""Advanced RPC features with Autobahn|JS clients (Node.js).

The scenarios live in ``tests/interop/js/rpc.js``; each run prints one JSON
line that the tests assert on. Every case runs with caller and callee on the
same and on different shards. Skipped when ``node`` or the npm packages
(``npm install`` in tests/interop/js, done by tests/run.sh) are missing.

Autobahn|JS quirks these tests account for:
- its callee announces no ``call_canceling``, so a JS callee is never
  interrupted (the cancel cases use an Autobahn|Python callee); it is offered
  ``receive_progress`` whenever its caller asked (Junction forwards the flag
  to every callee), so a JS callee streams progressive results
  (``test_js_callee_progressive_results``);
- after ``cancel({mode: "skip" | "killnowait"})`` it fails the call locally
  and then treats the router's ERROR for it as a protocol violation and
  closes its connection (the spec says the dealer sends that ERROR).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions

from routerproc import IS_CROSSBAR, SHARDS
from test_rpc_advanced import hanging_callee, on_shard

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")



@pytest.fixture(autouse=True)
def js_installed():
    """These tests need Node.js and Autobahn|JS: missing ones are a failure, not a skip."""
    if NODE is None or not (JS_DIR / "node_modules" / "autobahn").is_dir():
        pytest.fail("needs node and `npm ci` in tests/interop/js (tests/run.sh does it; .ci/run installs Node.js)")

PLACEMENTS = [(0, 0), (1, 0)] if SHARDS >= 2 and not IS_CROSSBAR else [(None, None)]
PLACEMENT_IDS = [f"caller{a}-callee{b}" for a, b in PLACEMENTS]


def _node_args() -> list[str]:
    """`node`, plus the flag that enables the global WebSocket before Node 22."""
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True)
    major = int(out.stdout.strip().lstrip("v").split(".")[0])
    return [NODE] + (["--experimental-websocket"] if major < 22 else [])


async def run_js(router, **spec) -> dict:
    spec.setdefault("url", router.ws_url)
    spec.setdefault("realm", "realm1")
    proc = await asyncio.create_subprocess_exec(
        *_node_args(),
        str(JS_DIR / "rpc.js"),
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
    assert lines, f"no output from rpc.js (rc={proc.returncode}); stderr:\n{err.decode()}"
    result = json.loads(lines[-1])
    assert "failed" not in result, f"{result['failed']}\nstderr:\n{err.decode()}"
    assert proc.returncode == 0, err.decode()
    return result


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_js_progressive_call_results(router, clients, uniq, caller_shard, callee_shard):
    proc = uniq("com.js.stream")
    callee = await on_shard(clients, callee_shard, "rs", "cbor")

    async def stream(n, details=None):
        for i in range(n):
            details.progress(i * 10)
            await asyncio.sleep(0)
        return "done"

    await callee.register(stream, proc, options=RegisterOptions(details_arg="details"))
    out = await run_js(
        router, scenario="progressive", procedure=proc, n=5, caller_shard=caller_shard
    )
    assert out["progress"] == [0, 10, 20, 30, 40]
    assert out["result"] == "done"
    if caller_shard is not None:
        assert out["caller_shard"] == caller_shard


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_js_callee_progressive_results(router, clients, uniq, caller_shard, callee_shard):
    """A JS callee (progressive_call_results, no call_canceling) gets
    ``receive_progress`` and streams to a JS caller and to a Python caller."""
    proc = uniq("com.js.calleestream")
    ready_topic, done_topic = uniq("com.js.ready"), uniq("com.js.done")
    py_caller = await on_shard(clients, caller_shard, "ws", "msgpack")
    ready = asyncio.Event()
    await py_caller.subscribe(lambda *a, **k: ready.set(), ready_topic)
    js = asyncio.create_task(
        run_js(
            router,
            scenario="callee_progressive",
            procedure=proc,
            n=4,
            caller_shard=caller_shard,
            callee_shard=callee_shard,
            ready_topic=ready_topic,
            done_topic=done_topic,
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 30)
    except asyncio.TimeoutError:
        if js.done():
            js.result()  # raises with the JS side's failure
        raise
    seen = []
    result = await py_caller.call(
        proc, 3, options=CallOptions(on_progress=lambda v: seen.append(v))
    )
    assert (seen, result) == ([0, 10, 20], "done")
    await py_caller.publish(done_topic, options=PublishOptions(acknowledge=True))
    out = await js
    assert out["offered"] == [True, True], "receive_progress offered to the JS callee"
    assert out["progress"] == [0, 10, 20, 30]
    assert out["result"] == "done"
    if caller_shard is not None:
        assert (out["caller_shard"], out["callee_shard"]) == (caller_shard, callee_shard)


@pytest.mark.parametrize("mode", ["kill", "killnowait", "skip"])
@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_js_cancel(router, clients, uniq, mode, caller_shard, callee_shard):
    proc = uniq("com.js.hang")
    started_topic = uniq("com.js.started")
    callee = await on_shard(clients, callee_shard, "ws", "msgpack")
    hang, state = hanging_callee()

    async def announced():
        callee.publish(started_topic)
        return await hang()

    await callee.register(announced, proc)
    out = await run_js(
        router,
        scenario="cancel",
        procedure=proc,
        started_topic=started_topic,
        mode=mode,
        caller_shard=caller_shard,
    )
    assert out["outcome"] == "error"
    if mode == "kill":
        # The router waited for the (interrupted) callee's own answer.
        assert out["error"] == "wamp.error.canceled"
        assert state["interrupted"].is_set()
        assert not out["closed_by_client"]
    else:
        # Autobahn|JS rejects the call itself ("Cancelled").
        assert "Cancelled" in out["error"]
        if mode == "killnowait":
            await asyncio.wait_for(state["interrupted"].wait(), 5)
        else:
            await asyncio.sleep(0.2)
            assert not state["interrupted"].is_set(), "skip sends no INTERRUPT"
            state["release"].set()
    assert callee.is_attached()


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_js_shared_registration_roundrobin(router, uniq, caller_shard, callee_shard):
    proc = uniq("com.js.shared")
    other = None if callee_shard is None else (1 if SHARDS >= 2 else 0)
    callee_shards = [callee_shard, other, callee_shard]
    out = await run_js(
        router,
        scenario="shared",
        procedure=proc,
        invoke="roundrobin",
        other_invoke="random",
        callee_shards=callee_shards,
        caller_shard=caller_shard,
        n=7,
    )
    assert out["sequence"] == [0, 1, 2, 0, 1, 2, 0]
    assert out["conflict"] == "wamp.error.procedure_exists_with_different_invocation_policy"
    if caller_shard is not None:
        assert out["caller_shard"] == caller_shard
        assert out["callee_shards"] == callee_shards

"""wampy.js (Node.js) clients against Autobahn|Python clients, over WebSocket
with JSON, MessagePack and CBOR (the serializers wampy.js supports), with the
two sessions on the same and on different shards.

The scenarios live in ``tests/interop/js/wampy.mjs``; each run prints one JSON
line that the tests assert on. They need Node.js and ``npm ci`` in
tests/interop/js (tests/run.sh does it): missing ones are a failure.

wampy.js's callee announces neither ``progressive_call_results`` nor
``call_canceling`` in HELLO, but streams progressive results when
``INVOCATION.Details.receive_progress`` says the caller asked: the dealer must
forward that flag whatever the callee announced (as Crossbar.io does).
"""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, CallResult, PublishOptions, RegisterOptions

from routerproc import IS_CROSSBAR, SHARDS
from test_rpc_advanced import on_shard
from test_rpc_js import JS_DIR, _node_args

SERIALIZERS = ["json", "msgpack", "cbor"]
PLACEMENTS = [(0, 0), (1, 0)] if SHARDS >= 2 and not IS_CROSSBAR else [(None, None)]
PLACEMENT_IDS = [f"py{a}-wampy{b}" for a, b in PLACEMENTS]

#: What survives JSON, MessagePack and CBOR between Python and JavaScript
#: (no bytes, no integers beyond 2**53, floats with a fraction).
ARGS = [0, 7, -42, 1.5, "héllo wörld ✓ 日本", [1, [2, [3, "x"]]], {"k": [True, False, None]}]
KWARGS = {"int": 123456789, "neg": -1, "float": -0.25, "text": "ünïcödé", "nested": {"a": {"b": [None]}}}


@pytest.fixture(autouse=True)
def wampy_installed():
    """These tests need Node.js and wampy.js: missing ones are a failure, not a skip."""
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "wampy").is_dir():
        pytest.fail("needs node and `npm ci` in tests/interop/js (tests/run.sh does it; .ci/run installs Node.js)")


async def run_wampy(router, **spec) -> dict:
    """Runs one wampy.mjs scenario to its end and returns its report."""
    spec.setdefault("url", router.ws_url)
    spec.setdefault("realm", "realm1")
    proc = await asyncio.create_subprocess_exec(
        *_node_args(),
        str(JS_DIR / "wampy.mjs"),
        json.dumps(spec),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        proc.kill()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, f"no output from wampy.mjs (rc={proc.returncode}); stderr:\n{err.decode()}"
    result = json.loads(lines[-1])
    assert "failed" not in result, f"{result['failed']}\nstderr:\n{err.decode()}"
    assert proc.returncode == 0, err.decode()
    return result


async def wait_ready(ready: asyncio.Event, js: asyncio.Task) -> None:
    """Waits for the wampy side's ready event; fails with its error if it ended first."""
    waiter = asyncio.ensure_future(ready.wait())
    done, _ = await asyncio.wait({waiter, js}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if js in done:
        waiter.cancel()
        js.result()  # raises with the wampy side's failure
        pytest.fail("wampy.mjs ended before it was ready")
    if waiter not in done:
        waiter.cancel()
        pytest.fail("wampy.mjs was not ready within 30 s")


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_wampy_callee_progressive_results_to_autobahn_python(
    router, clients, uniq, serializer, caller_shard, callee_shard
):
    """A wampy.js callee (announcing no progressive_call_results) streams to an
    Autobahn|Python caller with ``on_progress``."""
    proc = uniq("com.wampy.stream")
    ready_topic = uniq("com.wampy.ready")
    py = await on_shard(clients, caller_shard, "rs", serializer)
    ready = asyncio.Event()
    await py.subscribe(lambda *a, **k: ready.set(), ready_topic)
    js = asyncio.create_task(
        run_wampy(
            router,
            scenario="callee_progressive",
            serializer=serializer,
            shard=callee_shard,
            procedure=proc,
            ready_topic=ready_topic,
            calls=2,
        )
    )
    try:
        await wait_ready(ready, js)
        seen = []
        result = await py.call(proc, 4, options=CallOptions(on_progress=seen.append))
        assert (seen, result) == ([0, 10, 20, 30], "done")
        # Without on_progress the wampy callee is not asked to stream.
        assert await py.call(proc, 2) == "done"
        out = await js
    finally:
        js.cancel()
    assert out["offered"] == [True, False], "receive_progress only when the caller asked"
    if callee_shard is not None:
        assert (py.shard, out["shard"]) == (caller_shard, callee_shard)


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("callee_shard,caller_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_wampy_caller_against_autobahn_python_callees(
    router, clients, uniq, serializer, callee_shard, caller_shard
):
    """A wampy.js caller: args and kwargs both ways, progressive results from a
    Python callee, and a Python callee's application error."""
    echo, stream, fail = uniq("com.wampy.echo"), uniq("com.wampy.pstream"), uniq("com.wampy.fail")
    py = await on_shard(clients, callee_shard, "ws", serializer)

    def echo_fn(*args, **kwargs):
        return CallResult(*args, **kwargs)

    async def stream_fn(n, details=None):
        for i in range(n):
            details.progress(i)
            await asyncio.sleep(0)
        return "end"

    def fail_fn():
        raise ApplicationError("com.wampy.failed", "no luck", code=7)

    await py.register(echo_fn, echo)
    await py.register(stream_fn, stream, options=RegisterOptions(details_arg="details"))
    await py.register(fail_fn, fail)
    out = await run_wampy(
        router,
        scenario="caller",
        serializer=serializer,
        shard=caller_shard,
        procedure=echo,
        stream_procedure=stream,
        failing_procedure=fail,
        args=ARGS,
        kwargs=KWARGS,
        n=3,
    )
    assert out["plain"] == {"args": ARGS, "kwargs": KWARGS}
    assert (out["progress"], out["streamed"]) == ([0, 1, 2], ["end"])
    assert out["app_error"] == {"error": "com.wampy.failed", "args": ["no luck"], "kwargs": {"code": 7}}
    if caller_shard is not None:
        assert (py.shard, out["shard"]) == (callee_shard, caller_shard)


# wampy.js sends SUBSCRIBE options {match: undefined, get_retained: undefined}:
# msgpackr writes undefined as MessagePack extension type 0 and cbor-x as CBOR
# undefined; Junction reads both as null and a null option as absent.
@pytest.mark.parametrize("serializer", ["json", "msgpack", "cbor"])
@pytest.mark.parametrize("publisher_shard,subscriber_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_wampy_subscriber_gets_autobahn_python_events(
    router, clients, uniq, serializer, publisher_shard, subscriber_shard
):
    topic, ready_topic = uniq("com.wampy.topic"), uniq("com.wampy.subready")
    py = await on_shard(clients, publisher_shard, "rs", serializer)
    ready = asyncio.Event()
    await py.subscribe(lambda *a, **k: ready.set(), ready_topic)
    n = 20
    js = asyncio.create_task(
        run_wampy(
            router,
            scenario="subscriber",
            serializer=serializer,
            shard=subscriber_shard,
            topic=topic,
            ready_topic=ready_topic,
            n=n,
        )
    )
    try:
        await wait_ready(ready, js)
        for i in range(n):
            py.publish(topic, i, *ARGS, **KWARGS)
        out = await js
    finally:
        js.cancel()
    assert out["events"] == [{"args": [i, *ARGS], "kwargs": KWARGS} for i in range(n)]
    if subscriber_shard is not None:
        assert (py.shard, out["shard"]) == (publisher_shard, subscriber_shard)


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_wampy_cancel_kill_gets_canceled_with_the_callees_payload(
    router, clients, uniq, serializer, caller_shard, callee_shard
):
    """wampy.js cancels with ``kill``; the Python callee answers the INTERRUPT
    with its own error URI: the caller gets ``wamp.error.canceled`` with the
    callee's args and kwargs."""
    proc, started_proc = uniq("com.wampy.hang"), uniq("com.wampy.started")
    callee = await on_shard(clients, callee_shard, "ws", serializer)
    interrupted = asyncio.Event()

    async def hang():
        # Tell the wampy caller that the call is running (it then cancels).
        callee.call(started_proc)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            interrupted.set()
            raise ApplicationError("com.example.interrupted", "stopped at", 40, done=40)

    await callee.register(hang, proc)
    out = await run_wampy(
        router,
        scenario="cancel_kill",
        serializer=serializer,
        shard=caller_shard,
        procedure=proc,
        started_procedure=started_proc,
    )
    assert interrupted.is_set()
    assert out["outcome"] == "error"
    assert (out["error"], out["args"], out["kwargs"]) == (
        "wamp.error.canceled",
        ["stopped at", 40],
        {"done": 40},
    )
    assert callee.is_attached()

"""Advanced-profile RPC features (dealer side) with real clients.

Autobahn|Python sessions where the library supports the feature; a raw
WebSocket/JSON client (``RawSession``) where it does not (progressive call
invocations, cancel modes, ``disclose_me``/``disclose_caller``, ``rkey``,
trust levels, revocation messages, malformed options).

Each feature runs with caller and callee on the same and on different shards:
Junction names the shard in WELCOME (``x_junction_shard``) and the tests
reconnect until a session lands where they want it.
"""

from __future__ import annotations

import asyncio

import pytest
from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, RegisterOptions

from routerproc import IS_CROSSBAR, SHARDS, RouterProcess
from wampclient import TIMEOUT, RawWs

CALL, RESULT, ERROR, CANCEL, INVOCATION, INTERRUPT, YIELD = 48, 50, 8, 49, 68, 69, 70
REGISTER, REGISTERED, UNREGISTERED, HELLO, WELCOME = 64, 65, 67, 1, 2

#: (caller shard, callee shard) placements: same shard and different shards.
PLACEMENTS = [(0, 0), (1, 0)] if SHARDS >= 2 and not IS_CROSSBAR else [(0, 0)]
PLACEMENT_IDS = [f"caller{a}-callee{b}" for a, b in PLACEMENTS]

junction_only = pytest.mark.junction_only

FULL_FEATURES = {
    "caller": {
        "features": {
            "progressive_call_invocations": True,
            "progressive_call_results": True,
            "call_canceling": True,
            "caller_identification": True,
        }
    },
    "callee": {
        "features": {
            "progressive_call_invocations": True,
            "progressive_call_results": True,
            "call_canceling": True,
            "registration_revocation": True,
            "caller_identification": True,
            "call_trustlevels": True,
            "shared_registration": True,
        }
    },
    "subscriber": {},
    "publisher": {},
}


async def on_shard(clients, shard: int | None, transport: str = "ws", serializer: str = "json"):
    """An Autobahn|Python session on ``shard`` (any session on Crossbar)."""
    for _ in range(64):
        session = await clients(transport, serializer)
        if shard is None or session.shard is None or session.shard == shard:
            return session
        await session.close()
    pytest.fail(f"no session landed on shard {shard}")


class RawSession:
    """A WAMP session over a hand-written WebSocket/JSON client."""

    def __init__(self, ws: RawWs, welcome: list):
        self.ws = ws
        self.id = welcome[1]
        self.shard = welcome[2].get("x_junction_shard")
        self.next_request = 0

    @classmethod
    async def join(cls, router, roles: dict | None = None, realm: str = "realm1") -> "RawSession":
        ws = await RawWs.connect(router.ws_port)
        ws.send_json([HELLO, realm, {"roles": roles or FULL_FEATURES}])
        welcome = await ws.recv_json()
        assert welcome[0] == WELCOME, welcome
        return cls(ws, welcome)

    @classmethod
    async def on_shard(cls, router, shard: int | None, roles: dict | None = None) -> "RawSession":
        for _ in range(64):
            s = await cls.join(router, roles)
            if shard is None or s.shard is None or s.shard == shard:
                return s
            s.close()
        pytest.fail(f"no raw session landed on shard {shard}")

    def request(self) -> int:
        self.next_request += 1
        return self.next_request

    def send(self, msg: list) -> None:
        self.ws.send_json(msg)

    async def recv(self, timeout: float = TIMEOUT) -> list:
        return await self.ws.recv_json(timeout)

    async def expect(self, code: int, timeout: float = TIMEOUT) -> list:
        msg = await self.recv(timeout)
        assert msg[0] == code, f"expected message type {code}, got {msg!r}"
        return msg

    async def quiet(self, seconds: float = 0.3) -> None:
        """Nothing arrives for ``seconds``."""
        try:
            msg = await self.ws.recv_json(seconds)
        except asyncio.TimeoutError:
            return
        pytest.fail(f"expected no message, got {msg!r}")

    async def register(self, procedure: str, options: dict | None = None) -> int:
        req = self.request()
        self.send([REGISTER, req, options or {}, procedure])
        msg = await self.expect(REGISTERED)
        assert msg[1] == req
        return msg[2]

    def close(self) -> None:
        self.ws.abort()


@pytest.fixture
async def raw(router):
    opened: list[RawSession] = []

    async def make(shard: int | None = None, roles: dict | None = None) -> RawSession:
        s = await RawSession.on_shard(router, shard, roles)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


# -- progressive call results ---------------------------------------------------


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_progressive_call_results(clients, uniq, caller_shard, callee_shard):
    proc = uniq("com.adv.stream")
    callee = await on_shard(clients, callee_shard, "rs", "msgpack")
    caller = await on_shard(clients, caller_shard, "ws", "cbor")

    async def stream(n, details=None):
        if details.progress:
            for i in range(n):
                details.progress(i, label=f"chunk-{i}")
                await asyncio.sleep(0)
        return "done"

    await callee.register(stream, proc, options=RegisterOptions(details_arg="details"))
    got = []
    result = await caller.call(
        proc, 4, options=CallOptions(on_progress=lambda i, label: got.append((i, label)))
    )
    assert result == "done"
    assert got == [(i, f"chunk-{i}") for i in range(4)]
    # A caller that does not ask for progress gets only the final result.
    assert await caller.call(proc, 3) == "done"


# -- progressive call invocations (raw clients: Autobahn|Python lacks them) ------


@junction_only
@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_progressive_call_invocations(raw, uniq, caller_shard, callee_shard):
    proc = uniq("com.adv.upload")
    callee = await raw(callee_shard)
    caller = await raw(caller_shard)
    reg = await callee.register(proc)
    caller.send([CALL, 1, {"progress": True, "disclose_me": True}, proc, ["a"]])
    first = await callee.expect(INVOCATION)
    inv = first[1]
    assert first[2] == reg
    assert first[3].get("progress") is True
    assert first[3].get("caller") == caller.id
    assert first[4] == ["a"]
    caller.send([CALL, 1, {"progress": True}, proc, ["b"]])
    second = await callee.expect(INVOCATION)
    assert (second[1], second[3].get("progress"), second[4]) == (inv, True, ["b"])
    assert second[3].get("caller") == caller.id, "options of the first CALL are frozen"
    caller.send([CALL, 1, {}, proc, ["c"]])
    last = await callee.expect(INVOCATION)
    assert (last[1], last[3].get("progress"), last[4]) == (inv, None, ["c"])
    callee.send([YIELD, inv, {}, ["abc"]])
    assert await caller.expect(RESULT) == [RESULT, 1, {}, ["abc"]]
    # A continuation after the call ended is discarded.
    caller.send([CALL, 1, {"progress": True}, proc, ["late"]])
    await callee.quiet()
    await caller.quiet()


@junction_only
async def test_progressive_invocation_to_callee_without_support(raw, uniq):
    proc = uniq("com.adv.upload_old")
    old = {"callee": {"features": {"call_canceling": True}}, "caller": {}}
    callee = await raw(0, old)
    caller = await raw(None)
    await callee.register(proc)
    caller.send([CALL, 1, {"progress": True}, proc, [1]])
    err = await caller.expect(ERROR)
    assert err[4] == "wamp.error.feature_not_supported"
    await callee.quiet()


# -- call canceling ------------------------------------------------------------------


def hanging_callee():
    """A procedure that waits until released or interrupted; records what happened."""
    state = {"started": asyncio.Event(), "interrupted": asyncio.Event(), "release": asyncio.Event()}

    async def hang():
        state["started"].set()
        try:
            await state["release"].wait()
        except asyncio.CancelledError:
            state["interrupted"].set()
            # Answer the INTERRUPT with our own error (seen by the caller in `kill` mode).
            raise ApplicationError("wamp.error.canceled", "interrupted")
        return "late"

    return hang, state


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_cancel_from_autobahn_python_interrupts_callee(
    clients, uniq, caller_shard, callee_shard
):
    proc = uniq("com.adv.hang")
    callee = await on_shard(clients, callee_shard, "ws", "json")
    caller = await on_shard(clients, caller_shard, "rs", "cbor")
    hang, state = hanging_callee()
    await callee.register(hang, proc)
    call = asyncio.ensure_future(caller.call(proc))
    await asyncio.wait_for(state["started"].wait(), TIMEOUT)
    call.cancel()
    await asyncio.wait_for(state["interrupted"].wait(), TIMEOUT)
    with pytest.raises((asyncio.CancelledError, ApplicationError)):
        await call
    assert caller.is_attached() and callee.is_attached()


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_cancel_kill_from_autobahn_python_gets_canceled_with_callee_payload(
    clients, uniq, caller_shard, callee_shard
):
    """CANCEL ``kill`` from an Autobahn|Python caller; the callee answers the
    INTERRUPT with its own error URI, args and kwargs. The caller gets
    ``wamp.error.canceled`` (the URI clients map to their cancellation
    error) with the callee's args and kwargs."""
    proc = uniq("com.adv.killme")
    callee = await on_shard(clients, callee_shard, "rs", "msgpack")
    caller = await on_shard(clients, caller_shard, "ws", "cbor")
    started, interrupted = asyncio.Event(), asyncio.Event()

    async def work():
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            interrupted.set()
            raise ApplicationError("com.example.interrupted", "stopped at", 40, done=40)

    await callee.register(work, proc)
    call = asyncio.ensure_future(caller.call(proc))
    await asyncio.wait_for(started.wait(), TIMEOUT)
    # Autobahn|Python's own cancel sends no mode; send CANCEL {mode: kill}
    # for the one call in flight on its transport.
    (request,) = caller._call_reqs.keys()
    caller._transport.send(message.Cancel(request, mode=message.Cancel.KILL))
    with pytest.raises(ApplicationError) as err:
        await asyncio.wait_for(call, TIMEOUT)
    assert interrupted.is_set()
    assert err.value.error == ApplicationError.CANCELED
    assert (list(err.value.args), err.value.kwargs) == (["stopped at", 40], {"done": 40})
    assert caller.is_attached() and callee.is_attached()


@junction_only
@pytest.mark.parametrize("mode", ["skip", "kill", "killnowait"])
@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_cancel_modes(clients, raw, uniq, mode, caller_shard, callee_shard):
    proc = uniq("com.adv.hang")
    callee = await on_shard(clients, callee_shard, "ws", "msgpack")
    caller = await raw(caller_shard)
    hang, state = hanging_callee()
    await callee.register(hang, proc)
    caller.send([CALL, 7, {}, proc, []])
    await asyncio.wait_for(state["started"].wait(), TIMEOUT)
    caller.send([CANCEL, 7, {"mode": mode}])
    err = await caller.expect(ERROR)
    assert err[1:3] == [CALL, 7]
    assert err[4] == "wamp.error.canceled"
    if mode == "kill":
        assert err[5] == ["interrupted"], "kill: the caller gets the callee's answer"
        assert state["interrupted"].is_set()
    if mode == "skip":
        await asyncio.sleep(0.2)
        assert not state["interrupted"].is_set(), "skip sends no INTERRUPT"
        state["release"].set()
    else:
        await asyncio.wait_for(state["interrupted"].wait(), TIMEOUT)
    # Whatever the callee answers later is discarded.
    await caller.quiet()
    # Canceling a finished call is ignored; a bad mode is an ERROR for the CANCEL.
    caller.send([CANCEL, 7, {"mode": "kill"}])
    await caller.quiet(0.2)
    caller.send([CANCEL, 7, {"mode": "nuke"}])
    bad = await caller.expect(ERROR)
    assert bad[1:3] == [CANCEL, 7] and bad[4] == "wamp.error.invalid_argument"


# -- call timeouts -----------------------------------------------------------------


@junction_only
@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_call_timeout(clients, uniq, caller_shard, callee_shard):
    """CALL.Options.timeout is in milliseconds (spec). Autobahn|Python passes its
    `timeout` through unchanged, so `CallOptions(timeout=300)` means 300 ms."""
    proc = uniq("com.adv.slow")
    callee = await on_shard(clients, callee_shard, "ws", "json")
    caller = await on_shard(clients, caller_shard, "ws", "msgpack")
    hang, state = hanging_callee()
    await callee.register(hang, proc)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ApplicationError) as err:
        await caller.call(proc, options=CallOptions(timeout=300))
    elapsed = loop.time() - started
    assert err.value.error == "wamp.error.timeout"
    assert 0.25 <= elapsed < 3, elapsed
    await asyncio.wait_for(state["interrupted"].wait(), TIMEOUT)
    # A call that answers in time is not affected.
    fast = uniq("com.adv.fast")
    await callee.register(lambda: "quick", fast)
    assert await caller.call(fast, options=CallOptions(timeout=5000)) == "quick"


# -- caller identification ------------------------------------------------------------


@pytest.mark.parametrize("caller_shard,callee_shard", PLACEMENTS, ids=PLACEMENT_IDS)
async def test_caller_identification(clients, raw, uniq, caller_shard, callee_shard):
    proc = uniq("com.adv.whoami")
    callee = await on_shard(clients, callee_shard, "rs", "json")

    def whoami(details=None):
        return [details.caller, details.caller_authrole]

    await callee.register(whoami, proc, options=RegisterOptions(details_arg="details"))
    caller = await raw(caller_shard)
    caller.send([CALL, 1, {"disclose_me": True}, proc, []])
    res = await caller.expect(RESULT)
    assert res[3] == [[caller.id, "anonymous"]]
    caller.send([CALL, 2, {}, proc, []])
    res = await caller.expect(RESULT)
    assert res[3] == [[None, None]]


@junction_only
async def test_callee_requests_caller_disclosure(raw, uniq):
    proc = uniq("com.adv.disclosed")
    callee = await raw(0)
    caller = await raw(1 if SHARDS >= 2 else 0)
    await callee.register(proc, {"disclose_caller": True})
    caller.send([CALL, 1, {}, proc, []])
    inv = await callee.expect(INVOCATION)
    assert inv[3].get("caller") == caller.id
    assert inv[3].get("caller_authrole") == "anonymous"


# -- call trust levels (Junction config: role junction.trustlevel) ----------------------


@junction_only
async def test_trustlevel_from_role_config(tmp_path, uniq):
    proc = RouterProcess(tmp_path)
    roles = proc.config["workers"][0]["realms"][0]["roles"]
    roles[0]["junction"] = {"trustlevel": 2}
    proc.start()
    opened = []
    try:
        callee = await RawSession.on_shard(proc, 0)
        caller = await RawSession.on_shard(proc, 1 if SHARDS >= 2 else 0)
        opened += [callee, caller]
        name = uniq("com.adv.trust")
        await callee.register(name)
        caller.send([CALL, 1, {}, name, []])
        inv = await callee.expect(INVOCATION)
        assert inv[3].get("trustlevel") == 2
    finally:
        for s in opened:
            s.close()
        proc.kill()


# -- shared registration -------------------------------------------------------------


def label(name):
    return lambda: name


@pytest.mark.parametrize(
    "invoke,expected",
    [
        ("roundrobin", ["a", "b", "c", "a", "b", "c"]),
        ("first", ["a", "a", "a"]),
        ("last", ["c", "c", "c"]),
    ],
)
async def test_shared_registration(clients, uniq, invoke, expected):
    proc = uniq("com.adv.shared")
    shards = [0, 1, 0] if SHARDS >= 2 else [0, 0, 0]
    regs = []
    for name, shard in zip("abc", shards):
        callee = await on_shard(clients, shard, "ws", "json")
        regs.append(
            await callee.register(label(name), proc, options=RegisterOptions(invoke=invoke))
        )
    assert len({r.id for r in regs}) == 1, "one registration shared by all callees"
    caller = await on_shard(clients, 1 if SHARDS >= 2 else 0, "rs", "msgpack")
    got = [await caller.call(proc) for _ in expected]
    assert got == expected


async def test_shared_registration_random_and_conflicts(clients, uniq):
    proc = uniq("com.adv.random")
    for name, shard in zip("ab", [0, 1 if SHARDS >= 2 else 0]):
        callee = await on_shard(clients, shard)
        await callee.register(label(name), proc, options=RegisterOptions(invoke="random"))
    caller = await clients("ws", "cbor")
    got = {await caller.call(proc) for _ in range(40)}
    assert got == {"a", "b"}
    intruder = await clients("rs", "json")
    with pytest.raises(ApplicationError) as err:
        await intruder.register(label("x"), proc, options=RegisterOptions(invoke="roundrobin"))
    assert err.value.error == "wamp.error.procedure_exists_with_different_invocation_policy"
    single = uniq("com.adv.single")
    await caller.register(label("s"), single)
    with pytest.raises(ApplicationError) as err:
        await intruder.register(label("x"), single, options=RegisterOptions(invoke="single"))
    assert err.value.error == "wamp.error.procedure_already_exists"


async def test_shared_registration_survives_callee_leaving(clients, uniq):
    proc = uniq("com.adv.failover")
    first = await on_shard(clients, 0)
    second = await on_shard(clients, 1 if SHARDS >= 2 else 0)
    await first.register(label("first"), proc, options=RegisterOptions(invoke="first"))
    await second.register(label("second"), proc, options=RegisterOptions(invoke="first"))
    caller = await clients("ws", "json")
    assert await caller.call(proc) == "first"
    await first.close()
    assert await caller.call(proc) == "second"


# -- sharded registration (CALL.Options.rkey) ----------------------------------------


@junction_only
async def test_sharded_registration_rkey(clients, raw, uniq):
    proc = uniq("com.adv.db")
    for name, shard in zip("abcd", [0, 1, 0, 1] if SHARDS >= 2 else [0] * 4):
        callee = await on_shard(clients, shard)
        await callee.register(label(name), proc, options=RegisterOptions(invoke="roundrobin"))
    callers = [await raw(0), await raw(1 if SHARDS >= 2 else 0)]
    owners = set()
    for k in range(12):
        seen = set()
        for caller in callers:
            for options in ({"rkey": f"user-{k}"}, {"rkey": f"user-{k}", "runmode": "partition"}):
                req = caller.request()
                caller.send([CALL, req, options, proc, []])
                res = await caller.expect(RESULT)
                seen.add(res[3][0])
        assert len(seen) == 1, f"user-{k} reached {seen}"
        owners |= seen
    assert len(owners) >= 2, "keys spread over callees"


# -- pattern-based registration ----------------------------------------------------------


@pytest.mark.parametrize("caller_shard", [0, 1] if SHARDS >= 2 else [0])
async def test_pattern_registration_precedence_across_shards(clients, uniq, caller_shard):
    base = uniq("com.adv.pat")
    other = 1 if SHARDS >= 2 else 0

    def reporter(name):
        def fn(details=None):
            return [name, details.procedure]

        return fn

    regs = [
        (f"com..{base.split('.')[-1]}", "wildcard", "wild", 0),
        (base, "prefix", "short", other),
        (f"{base}.users", "prefix", "long", 0),
        (f"{base}.users.get", "exact", "exact", other),
    ]
    for uri, match, name, shard in regs:
        callee = await on_shard(clients, shard)
        options = RegisterOptions(details_arg="details", match=None if match == "exact" else match)
        await callee.register(reporter(name), uri, options=options)
    caller = await on_shard(clients, caller_shard, "rs", "json")
    leaf = base.split(".")[-1]
    # (Autobahn|Python fills `procedure` itself for exact registrations.)
    assert await caller.call(f"{base}.users.get") == ["exact", f"{base}.users.get"]
    assert await caller.call(f"{base}.users.list") == ["long", f"{base}.users.list"]
    assert await caller.call(f"{base}.other") == ["short", f"{base}.other"]
    assert await caller.call(f"com.zzz.{leaf}") == ["wild", f"com.zzz.{leaf}"]


# -- registration meta API and revocation ------------------------------------------------


async def test_registration_meta_api(clients, uniq):
    proc = uniq("com.adv.meta")
    watcher = await on_shard(clients, 1 if SHARDS >= 2 else 0)
    events = []
    changed = asyncio.Event()

    ids: set = set()

    def on_event(topic):
        def handler(*args):
            # The router is shared with other tests: keep only this test's registration.
            if topic == "on_create":
                if args[1].get("uri") != proc:
                    return
                ids.add(args[1]["id"])
            elif args[1] not in ids:
                return
            events.append((topic, args))
            changed.set()

        return handler

    for topic in ("on_create", "on_register", "on_unregister", "on_delete"):
        await watcher.subscribe(on_event(topic), f"wamp.registration.{topic}")

    async def wait_events(n):
        while len(events) < n:
            changed.clear()
            await asyncio.wait_for(changed.wait(), TIMEOUT)

    callee = await on_shard(clients, 0, "rs", "msgpack")
    callee_id = callee._session_id
    # The on_create event names the registration: learn its ID from there.
    reg_task = asyncio.ensure_future(
        callee.register(label("x"), proc, options=RegisterOptions(invoke="roundrobin"))
    )
    await wait_events(1)
    topic, (session, details) = events[0]
    assert topic == "on_create" and session == callee_id
    reg = await reg_task
    assert details["id"] == reg.id
    assert details["uri"] == proc and details["match"] == "exact"
    assert details["invoke"] == "roundrobin" and details["created"].endswith("Z")
    await wait_events(2)
    assert events[1] == ("on_register", (callee_id, reg.id))

    caller = await on_shard(clients, 1 if SHARDS >= 2 else 0, "ws", "json")
    lists = await caller.call("wamp.registration.list")
    assert reg.id in lists["exact"]
    assert await caller.call("wamp.registration.lookup", proc) == reg.id
    assert await caller.call("wamp.registration.lookup", proc, {"match": "prefix"}) is None
    assert await caller.call("wamp.registration.match", proc) == reg.id
    got = await caller.call("wamp.registration.get", reg.id)
    assert got["id"] == reg.id and got["uri"] == proc and got["invoke"] == "roundrobin"
    assert await caller.call("wamp.registration.list_callees", reg.id) == [callee_id]
    assert await caller.call("wamp.registration.count_callees", reg.id) == 1
    with pytest.raises(ApplicationError) as err:
        await caller.call("wamp.registration.get", 2**52)
    assert err.value.error == "wamp.error.no_such_registration"

    await reg.unregister()
    await wait_events(4)
    assert events[2:] == [
        ("on_unregister", (callee_id, reg.id)),
        ("on_delete", (callee_id, reg.id)),
    ]


async def eventually(check, timeout: float = 5.0):
    """Polls ``check`` (an async callable returning bool) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.02)


@junction_only
async def test_registration_revocation(clients, raw, uniq):
    proc = uniq("com.adv.revoked")
    callee = await raw(0)
    plain = await raw(
        1 if SHARDS >= 2 else 0, {"callee": {"features": {}}, "caller": {}}
    )
    reg = await callee.register(proc, {"invoke": "roundrobin"})
    assert await plain.register(proc, {"invoke": "roundrobin"}) == reg
    admin = await clients("ws", "json")
    await admin.call("wamp.registration.remove_callee", reg, callee.id, "maintenance")
    msg = await callee.expect(UNREGISTERED)
    assert msg == [UNREGISTERED, 0, {"registration": reg, "reason": "maintenance"}]


    async def one_callee_left():
        return await admin.call("wamp.registration.count_callees", reg) == 1

    await eventually(one_callee_left)
    # The other callee did not announce registration_revocation: no UNREGISTERED.
    await admin.call("wamp.registration.remove", reg)
    await plain.quiet()

    async def gone():
        return await admin.call("wamp.registration.match", proc) is None

    await eventually(gone)
    with pytest.raises(ApplicationError) as err:
        await admin.call(proc)
    assert err.value.error == "wamp.error.no_such_procedure"


@pytest.mark.parametrize("old_shard,new_shard", [(0, 1), (1, 1)], ids=["cross-shard", "same-shard"])
async def test_force_reregister_takes_over_from_a_stale_callee(clients, uniq, old_shard, new_shard):
    """Autobahn|Python's ``RegisterOptions(force_reregister=True)``, as
    Crossbar.io honours it: a restarted service registers while the router
    still holds its old session's registration; the newcomer takes the
    procedure, the old session (which handles the UNREGISTERED with request
    0) stays joined and is no longer called."""
    proc = uniq("com.adv.takeover")
    old = await on_shard(clients, old_shard % SHARDS)
    new = await on_shard(clients, new_shard % SHARDS, "rs", "msgpack")
    caller = await on_shard(clients, 0, "ws", "cbor")
    await old.register(lambda: "old", proc)
    with pytest.raises(ApplicationError) as err:
        await new.register(lambda: "new", proc)
    assert err.value.error == "wamp.error.procedure_already_exists"
    await new.register(lambda: "new", proc, options=RegisterOptions(force_reregister=True))
    assert [await caller.call(proc) for _ in range(5)] == ["new"] * 5
    assert await old.call("wamp.session.get", old.session_id), "the old session stays joined"


async def test_callee_concurrency_is_enforced_across_shards(clients, uniq):
    """Autobahn|Python's ``RegisterOptions(concurrency=1)`` on a pool of two
    callees (round robin, on two shards): two slow calls occupy both, a
    third fails with Crossbar.io's ``crossbar.error.max_concurrency_reached``,
    and once they answer calls go through again."""
    proc = uniq("com.adv.pool")
    release = asyncio.Event()

    async def slow(n):
        await release.wait()
        return n

    opts = RegisterOptions(invoke="roundrobin", concurrency=1)
    for shard in (0, 1):
        worker = await on_shard(clients, shard % SHARDS, "rs", "msgpack")
        await worker.register(slow, proc, options=opts)
    caller = await on_shard(clients, 0)
    a = asyncio.ensure_future(caller.call(proc, 1))
    b = asyncio.ensure_future(caller.call(proc, 2))
    await asyncio.sleep(0.2)
    with pytest.raises(ApplicationError) as err:
        await caller.call(proc, 3)
    assert err.value.error == "crossbar.error.max_concurrency_reached"
    release.set()
    assert sorted([await a, await b]) == [1, 2]
    assert await caller.call(proc, 4) == 4


# -- malformed options ------------------------------------------------------------------


@junction_only
@pytest.mark.parametrize(
    "msg_type,options,needle",
    [
        (REGISTER, {"invoke": "fastest"}, "fastest"),
        (REGISTER, {"invoke": 3}, "invoke"),
        (REGISTER, {"disclose_caller": "yes"}, "disclose_caller"),
        (CALL, {"timeout": -1}, "timeout"),
        (CALL, {"timeout": "1s"}, "timeout"),
        (CALL, {"receive_progress": "yes"}, "receive_progress"),
        (CALL, {"runmode": "all"}, "runmode"),
        (CALL, {"rkey": [1]}, "rkey"),
    ],
)
async def test_bad_options_get_invalid_argument(raw, uniq, msg_type, options, needle):
    s = await raw(None)
    proc = uniq("com.adv.bad")
    if msg_type == CALL:
        await s.register(proc)
    req = s.request()
    s.send([msg_type, req, options, proc, []] if msg_type == CALL else [msg_type, req, options, proc])
    err = await s.expect(ERROR)
    assert err[1:3] == [msg_type, req]
    assert err[4] == "wamp.error.invalid_argument"
    assert needle in err[5][0]
    # The session is still fine.
    assert await s.register(uniq("com.adv.after")) > 0

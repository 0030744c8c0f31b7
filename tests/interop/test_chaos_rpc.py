"""Routed calls under churn: well-formed RawSocket clients on both shards
call each other's procedures (their own, a shared one, round robin, and
through prefix and wildcard registrations when the exact callee is gone)
with every kind of answer (a result, progressive results, an error, a slow
answer, none), with timeouts and with cancels of every mode, while clients
leave abruptly with invocations pending and come back.

What a caller that stays must see: every CALL it made gets exactly one
final answer (a RESULT that is not progressive, or an ERROR), nothing for
it after that, progressive results only when it asked for them, and the
answer its callee meant (the echoed value; the callee's error URI), unless
the call was cancelled, timed out, or lost its callee. Afterwards the
router holds no connection, and logged no panic and no ERROR.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from authhelpers import RawRs
from fuzzhelpers import clean_log, rng, settled
from routerproc import RouterProcess

pytestmark = pytest.mark.junction_only

CLIENTS = 8
ACTIONS = 300
SHARED = "com.chaos.shared"

CALL, RESULT, ERROR, INVOCATION, YIELD, INTERRUPT, CANCEL = 48, 50, 8, 68, 70, 69, 49
#: Finals that a call may get without its callee's answer.
LOST = {"wamp.error.canceled", "wamp.error.timeout", "wamp.error.no_such_procedure", "wamp.error.no_available_callee"}


class Client:
    """One session: a callee of ``com.chaos.p<n>`` and of the shared
    procedure, and a caller keeping count of what each call got."""

    def __init__(self, n: int, port: int, r: random.Random):
        self.n = n
        self.port = port
        self.r = r
        self.rs: RawRs | None = None
        self.reader: asyncio.Task | None = None
        self.next_id = 1
        #: request ID → (what the callee was told to do, the value, receive_progress, finals so far)
        self.calls: dict[int, dict] = {}
        self.violations: list[str] = []
        self.invocations: dict[int, str] = {}
        self.welcomed = asyncio.Event()
        self.finals = 0
        #: Calls of earlier sessions: request ID → (session ID, call).
        self.archive: dict[int, tuple[int, dict]] = {}
        self.session = 0
        #: REGISTER request ID → (procedure, options, tries)
        self.registering: dict[int, tuple[str, dict, int]] = {}

    def rid(self) -> int:
        self.next_id += 1
        return self.next_id

    async def join(self) -> None:
        self.rs = await RawRs.connect("127.0.0.1", self.port)
        self.welcomed.clear()
        features = {"progressive_call_results": True, "call_canceling": True, "call_timeout": True}
        roles = {"caller": {"features": features}, "callee": {"features": features}}
        await self.rs.send([1, "realm1", {"roles": roles}])
        self.reader = asyncio.create_task(self.read(self.rs))
        await asyncio.wait_for(self.welcomed.wait(), 10)
        await self.register(f"com.chaos.p{self.n}", {}, 0)
        await self.register(SHARED, {"invoke": "roundrobin"}, 0)
        # Pattern registrations: a call whose exact callee left falls back
        # to them (exact, then prefix, then wildcard).
        if self.n == 0:
            await self.register("com.chaos", {"match": "prefix"}, 0)
        if self.n == 1:
            await self.register("com.chaos.", {"match": "wildcard"}, 0)

    async def register(self, procedure: str, options: dict, tries: int) -> None:
        if self.rs is None:
            return
        request = self.rid()
        self.registering[request] = (procedure, options, tries)
        await self.rs.send([64, request, options, procedure])

    def leave(self) -> None:
        """Gone without a word, invocations and calls pending."""
        if self.reader:
            self.reader.cancel()
        if self.rs:
            self.rs.close()
        self.rs = None
        self.archive.update({k: (self.session, c) for k, c in self.calls.items()})
        self.calls.clear()
        self.invocations.clear()
        self.registering.clear()

    def bad(self, what: str) -> None:
        self.violations.append(f"client {self.n}: {what}")

    async def read(self, rs: RawRs) -> None:
        while True:
            try:
                msg = await rs.recv(timeout=60)
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
                return
            if self.rs is not rs:
                # This session was left (Python 3.11's wait_for can swallow
                # the reader's cancel and hand out what was buffered).
                return
            kind = msg[0]
            if kind == 2:
                self.session = msg[1]
                self.welcomed.set()
            elif kind == INVOCATION:
                await self.invoked(rs, msg)
            elif kind == INTERRUPT:
                if self.invocations.pop(msg[1], None) is not None:
                    await rs.send([ERROR, INVOCATION, msg[1], {}, "wamp.error.canceled"])
            elif kind == RESULT:
                self.result(msg)
            elif kind == ERROR and msg[1] == CALL:
                self.error(msg)
            elif kind == 65:
                self.registering.pop(msg[1], None)
            elif kind == ERROR and msg[1] == 64:
                procedure, options, tries = self.registering.pop(msg[2], ("?", {}, 99))
                # This client's procedure, still held by its previous
                # session whose end the router has not seen yet (it may sit
                # on the other shard): try again shortly.
                if msg[4] == "wamp.error.procedure_already_exists" and tries < 40:

                    async def again() -> None:
                        await asyncio.sleep(0.05)
                        if self.rs is rs:  # not for a later session of this client
                            await self.register(procedure, options, tries + 1)

                    asyncio.ensure_future(again())
                else:
                    self.bad(f"registration refused: {msg}")
            elif kind in (3, 6):
                self.bad(f"session ended by the router: {msg}")
                return

    async def invoked(self, rs: RawRs, msg: list) -> None:
        request, details, args = msg[1], msg[3], msg[4] if len(msg) > 4 else []
        how, value = args[0], args[1]
        if how == "yield":
            await rs.send([YIELD, request, {}, [value]])
        elif how == "error":
            await rs.send([ERROR, INVOCATION, request, {}, "com.chaos.failed", [value]])
        elif how == "progress":
            if details.get("receive_progress"):
                for k in range(self.r.randint(1, 3)):
                    await rs.send([YIELD, request, {"progress": True}, [k]])
            await rs.send([YIELD, request, {}, [value]])
        elif how == "slow":
            self.invocations[request] = how

            async def later():
                await asyncio.sleep(self.r.random() * 0.05)
                if self.invocations.pop(request, None) is not None and self.rs is rs:
                    await rs.send([YIELD, request, {}, [value]])

            asyncio.create_task(later())
        else:  # "ignore": answered only by an INTERRUPT's ERROR
            self.invocations[request] = how

    def final(self, request: int) -> dict | None:
        call = self.calls.get(request)
        if call is None:
            return None
        call["finals"] += 1
        if call["finals"] > 1:
            self.bad(f"a second final answer to call {request}")
        self.finals += 1
        return call

    def result(self, msg: list) -> None:
        request, details = msg[1], msg[2]
        call = self.calls.get(request)
        if call is None:
            self.bad(
                f"a RESULT for no call of this session: {msg} (this session {self.session}, "
                f"an earlier session's call: {self.archive.get(request)})"
            )
            return
        if call["finals"]:
            self.bad(f"a RESULT after the final answer: {msg} (the call: {call})")
            return
        call["seen"].append(msg)
        if details.get("progress"):
            if not call["progress"]:
                self.bad(f"a progressive result not asked for: {msg}")
            return
        self.final(request)
        args = msg[3] if len(msg) > 3 else []
        if call["how"] in ("yield", "progress", "slow") and args != [call["value"]]:
            self.bad(f"call {request} ({call['how']}) answered {msg}")
        if call["how"] in ("error", "ignore"):
            self.bad(f"call {request} ({call['how']}) got a RESULT: {msg}")

    def error(self, msg: list) -> None:
        request, uri = msg[2], msg[4]
        call = self.calls.get(request)
        if call is None or call["finals"]:
            self.bad(
                f"an ERROR for no pending call: {msg} (the call: {call}; this session {self.session}, "
                f"an earlier session's call: {self.archive.get(request)})"
            )
            return
        call["seen"].append(msg)
        self.final(request)
        if uri == "com.chaos.failed":
            if call["how"] != "error":
                self.bad(f"call {request} ({call['how']}) got the callee's error")
        elif uri not in LOST:
            self.bad(f"call {request} ({call['how']}): unexpected error {msg}")
        elif uri == "wamp.error.timeout" and not call["timeout"]:
            # A lost callee or a cancel may end any call; only a call with
            # a timeout may time out.
            self.bad(f"call {request} ({call['how']}) timed out without a timeout")

    async def call(self, targets: list[str]) -> None:
        if self.rs is None:
            return
        r = self.r
        how = r.choice(["yield", "yield", "progress", "error", "slow", "ignore"])
        procedure = r.choice(targets + [SHARED, SHARED])
        request = self.rid()
        options: dict = {}
        progress = r.random() < 0.5
        if progress:
            options["receive_progress"] = True
        cancel_mode = None
        if how == "ignore":
            # Only a timeout or a cancel ends it.
            if r.random() < 0.5:
                options["timeout"] = r.choice([1, 20, 100])
            else:
                cancel_mode = r.choice(["skip", "kill", "killnowait"])
        elif r.random() < 0.1:
            cancel_mode = r.choice(["skip", "kill", "killnowait"])
        value = r.randrange(1 << 30)
        self.calls[request] = {
            "how": how,
            "value": value,
            "progress": progress,
            "finals": 0,
            "timeout": "timeout" in options,
            "seen": [],
        }
        await self.rs.send([CALL, request, options, procedure, [how, value]])
        if cancel_mode:
            await asyncio.sleep(r.random() * 0.02)
            if self.rs is not None:
                self.calls[request]["cancel"] = cancel_mode
                await self.rs.send([CANCEL, request, {"mode": cancel_mode}])

    def pending(self) -> list[int]:
        return [k for k, c in self.calls.items() if not c["finals"]]


async def test_calls_under_churn_each_get_exactly_one_answer(tmp_path):
    proc = RouterProcess(tmp_path)
    proc.start()
    try:
        r = rng(7)
        clients = [Client(n, proc.rs_port, rng(100 + n)) for n in range(CLIENTS)]
        for c in clients:
            await c.join()
        targets = [f"com.chaos.p{n}" for n in range(CLIENTS)] + ["com.chaos.nobody"]
        for _ in range(ACTIONS):
            tasks = []
            for c in clients:
                if r.random() < 0.04:
                    c.leave()
                    await c.join()
                else:
                    tasks.append(c.call(targets))
            await asyncio.gather(*tasks)
            await asyncio.sleep(0.005)
        # Every call of a session that stayed ends, once.
        for _ in range(200):
            if not any(c.pending() for c in clients):
                break
            await asyncio.sleep(0.05)
        left = {c.n: [c.calls[k] for k in c.pending()][:3] for c in clients if c.pending()}
        violations = [v for c in clients for v in c.violations]
        assert not violations, "\n".join(violations[:20])
        assert not left, f"calls without a final answer: {left}"
        assert sum(c.finals for c in clients) > CLIENTS * ACTIONS // 2
        for c in clients:
            c.leave()
        await settled(proc, 0)
        clean_log(proc)
    finally:
        proc.kill()

"""The meta API under churn: sessions on both shards join, subscribe,
register and leave (abruptly, or killed through ``wamp.session.kill``)
while two observers keep asking every session, subscription and
registration meta procedure, several questions in flight at once.

Every question gets an answer (a RESULT, or an ERROR saying the session,
subscription or registration is gone): a question scattered to the shards
never stalls however its subject moves. Once the churn stops, the answers
agree with what the test holds: ``wamp.session.count`` and
``wamp.session.list`` name exactly the sessions still connected, each
staying session's procedure is found by ``wamp.registration.lookup`` and
every departed one's is not. No panic, no ERROR logged, no connection left.
"""

from __future__ import annotations

import asyncio

import pytest

from authhelpers import RawRs
from fuzzhelpers import clean_log, rng, settled
from routerproc import RouterProcess

pytestmark = pytest.mark.junction_only

CHURNERS = 6
ROUNDS = 400
#: Errors a question may get when its subject went away meanwhile.
GONE = {
    "wamp.error.no_such_session",
    "wamp.error.no_such_subscription",
    "wamp.error.no_such_registration",
}


class Session:
    """A RawSocket session with requests answered by ID."""

    def __init__(self, port: int):
        self.port = port
        self.rs: RawRs | None = None
        self.id = 0
        self.next = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.ended = asyncio.Event()
        self.goodbye: list | None = None
        self.task: asyncio.Task | None = None

    async def join(self) -> None:
        self.rs = await RawRs.connect("127.0.0.1", self.port)
        roles = {"caller": {}, "callee": {}, "subscriber": {}, "publisher": {}}
        await self.rs.send([1, "realm1", {"roles": roles}])
        welcome = await self.rs.recv(timeout=10)
        assert welcome[0] == 2, welcome
        self.id = welcome[1]
        self.task = asyncio.create_task(self.read(self.rs))

    async def read(self, rs: RawRs) -> None:
        try:
            while True:
                msg = await rs.recv(timeout=60)
                if self.rs is not rs:
                    return
                if msg[0] in (33, 65, 50):  # SUBSCRIBED, REGISTERED, RESULT
                    fut = self.waiting.pop(msg[1], None)
                elif msg[0] == 8:
                    fut = self.waiting.pop(msg[2], None)
                elif msg[0] == 6:  # GOODBYE (killed): answer it
                    self.goodbye = msg
                    await rs.send([6, {}, "wamp.close.goodbye_and_out"])
                    fut = None
                else:
                    fut = None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            if self.rs is rs:
                self.ended.set()

    async def ask(self, msg: list, timeout: float = 5.0) -> list:
        """Sends ``msg`` (its request ID filled in) and waits for the answer."""
        assert self.rs is not None
        self.next += 1
        msg = [msg[0], self.next, *msg[1:]]
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next] = fut
        await self.rs.send(msg)
        return await asyncio.wait_for(fut, timeout)

    async def call(self, procedure: str, *args) -> list:
        return await self.ask([48, {}, procedure, list(args)])

    def leave(self) -> None:
        if self.task:
            self.task.cancel()
        if self.rs:
            self.rs.close()
        self.rs = None


async def test_meta_questions_under_churn_are_all_answered_and_agree(tmp_path):
    proc = RouterProcess(tmp_path)
    proc.start()
    try:
        r = rng(3)
        problems: list[str] = []
        churners: list[Session] = []
        departed: list[int] = []
        answered = 0

        async def churner(n: int) -> Session:
            s = Session(proc.rs_port)
            await s.join()
            await s.ask([32, {}, f"com.meta.t{n % 3}"])
            await s.ask([64, {}, f"com.meta.p{s.id}"])
            return s

        for n in range(CHURNERS):
            churners.append(await churner(n))
        observers = [Session(proc.rs_port) for _ in range(2)]
        for o in observers:
            await o.join()

        async def question(o: Session) -> None:
            nonlocal answered
            live = [s.id for s in churners if s.rs is not None]
            someone = r.choice(live + departed[-3:] + [12345])
            q = r.choice(
                [
                    ("wamp.session.count",),
                    ("wamp.session.list",),
                    ("wamp.session.get", someone),
                    ("wamp.subscription.list",),
                    ("wamp.subscription.lookup", "com.meta.t1"),
                    ("wamp.subscription.match", "com.meta.t2"),
                    ("wamp.registration.list",),
                    ("wamp.registration.lookup", f"com.meta.p{someone}"),
                    ("wamp.registration.match", f"com.meta.p{someone}"),
                    ("wamp.session.kill", someone),
                ]
            )
            try:
                got = await o.call(*q)
            except asyncio.TimeoutError:
                problems.append(f"no answer to {q} within 5 s")
                return
            answered += 1
            if got[0] == 8 and got[4] not in GONE:
                problems.append(f"{q}: {got}")
            if q[0] == "wamp.session.kill" and got[0] == 50:
                departed.append(someone)

        for _ in range(ROUNDS):
            tasks = [question(o) for o in observers for _ in range(3)]
            for i, s in enumerate(churners):
                if s.rs is None or s.ended.is_set():
                    if s.rs is not None:
                        s.leave()
                    churners[i] = await churner(i)
                elif r.random() < 0.05:
                    departed.append(s.id)
                    s.leave()
            await asyncio.gather(*tasks)
        assert not problems, "\n".join(problems[:10])
        assert answered == ROUNDS * 6

        # Quiet now: the answers agree with the sessions still connected.
        for s in churners:
            if s.ended.is_set() and s.rs is not None:
                s.leave()
        live = {s.id for s in churners if s.rs is not None} | {o.id for o in observers}
        want_registered = {s.id: s.rs is not None for s in churners} | {gone: False for gone in departed[-5:]}
        for _ in range(100):
            count = (await observers[0].call("wamp.session.count"))[3][0]
            listed = set((await observers[0].call("wamp.session.list"))[3][0])
            registered = {}
            for sid in want_registered:
                found = (await observers[1].call("wamp.registration.lookup", f"com.meta.p{sid}"))[3][0]
                registered[sid] = found is not None
            if (count, listed, registered) == (len(live), live, want_registered):
                break
            await asyncio.sleep(0.1)
        assert (count, listed) == (len(live), live)
        assert registered == want_registered

        for s in churners + observers:
            s.leave()
        await settled(proc, 0)
        clean_log(proc)
    finally:
        proc.kill()

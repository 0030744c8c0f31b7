"""Logins and dynamic authorization under a storm: many RawSocket
connections from many source addresses log in with right, wrong, cut and odd
credentials (ticket, WAMP-CRA, SCRAM, cryptosign, anonymous; static and
dynamic), dynamic authenticators and an authorizer answer with every shape
of nonsense, some answers come late and some clients leave before them,
while two Autobahn sessions that logged in properly keep routing.

Unlike test_fuzz.py, which asserts only invariants, each login and each
authorized action here has an expected outcome that the fuzzer knows: a
WELCOME exactly when the credentials were right and the authenticator's
answer was sound, an ABORT otherwise, never a WELCOME for a wrong secret or
a nonsense answer; an action allowed exactly when the authorizer allowed it
in a valid answer (never "yes", 1 or a dict without ``allow``), and every
action answered. Connections whose bytes were mutated are held to the
invariants only (no panic, no ERROR logged, nobody else harmed, no
connection left behind).

Source addresses rotate over 127.0.1.0/24 so that the failed-login limit
(10 per address by default) does not throttle the storm; the healthy
sessions come from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import threading

import pytest
from autobahn.wamp.exception import ApplicationError
from nacl.signing import SigningKey

from authhelpers import CRA_SECRET, TICKET, TICKET_ENV, _perm, login, pubkey, scram_credential, seed, static_auth
from fuzzhelpers import JSON, MSGPACK, RawSocketClient, clean_log, mutate, rng, settled, storm
from routerproc import RouterProcess, free_port
from wampclient import EventSink

pytestmark = pytest.mark.junction_only

#: Connections per fuzzing thread, and threads.
ROUNDS = 300
THREADS = 3

WELCOME, ABORT, CHALLENGE, ERROR = 2, 3, 4, 8
ROLES = {"publisher": {}, "subscriber": {}, "caller": {}, "callee": {}}

#: Dynamic authenticators' answers that must fail every login: wrong types,
#: no role, a role or realm that does not exist.
NONSENSE = [
    5,
    None,
    [],
    True,
    {},
    {"role": 5},
    {"role": ["user"]},
    {"role": ""},
    {"role": "user", "extra": "x"},
    {"role": "user", "authid": {}},
    {"role": "user", "realm": 7},
    {"role": "nosuchrole"},
    {"role": "user", "realm": "nosuchrealm"},
]
#: Answers that must fail a login because the credential is unusable.
BAD_CREDENTIAL = {
    "wampcra": [{"role": "user"}, {"role": "user", "secret": 7}, {"role": "user", "secret": ["dyn-secret"]}],
    "cryptosign": [{"role": "user"}, {"role": "user", "pubkey": "zz"}, {"role": "user", "pubkey": 12}],
}
#: The authorizer's answers that must deny: anything but a boolean or a
#: dict whose ``allow`` is a boolean (and that has no unknown key).
DENYING = [False, "yes", 1, None, [], {}, {"allow": "yes"}, {"allow": 1}, {"allow": True, "permit": True}]
ALLOWING = [True, {"allow": True}, {"allow": True, "disclose": True, "cache": True}]

DYN_CRA_SECRET = "dyn-secret"
DYN_TICKET = "dyn-ticket"


def config(ports: dict[str, int]) -> dict:
    dynamic = {
        m: {"type": "dynamic", "authenticator": f"com.fz.auth.{m}"}
        for m in ("anonymous", "ticket", "wampcra", "scram", "cryptosign")
    }
    auth = {
        "rs_static": static_auth(),
        "rs_dynamic": dynamic,
        "rs_authz": {"anonymous": {"type": "static", "role": "dyn"}},
        "ws_backend": {"anonymous": {"type": "static", "role": "backend"}},
        "ws_static": static_auth(),
    }
    transports = [
        {
            "type": "websocket" if name.startswith("ws") else "rawsocket",
            "id": name,
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": ports[name]},
            "serializers": ["json", "msgpack"],
            "auth": a,
        }
        for name, a in auth.items()
    ]
    roles = [
        {"name": "user", "permissions": [_perm()]},
        {"name": "backend", "permissions": [_perm()]},
        {"name": "dyn", "authorizer": "com.fz.authorize"},
    ]
    return {
        "version": 2,
        "controller": {},
        "workers": [{"type": "router", "realms": [{"name": "realm1", "roles": roles}], "transports": transports}],
        "junction": {"pack_connections": 0, "shutdown_timeout": 2},
    }


class Backend:
    """The dynamic authenticators and the authorizer. What each answers is
    chosen by the client: the authid ``fz.<mode>.<index>`` (authenticators)
    or the URI ``com.fz.<mode>.<index>`` (the authorizer), so the fuzzer that
    sent it knows what outcome to expect."""

    def __init__(self):
        self.asked = 0

    @staticmethod
    def _mode(text) -> tuple[str, int]:
        parts = str(text).split(".")
        if len(parts) >= 3 and parts[-2].lstrip("-").isdigit():
            # com.fz.<mode>.<i>.<n>: the mode, the index
            return parts[-3], int(parts[-2])
        return "?", 0

    async def _answer(self, method: str, authid, details) -> object:
        self.asked += 1
        # anonymous: the router does not pass the client's authid (it proved
        # nothing); details carry it.
        mode, i = self._mode(authid if authid is not None else details.get("authid"))
        if mode == "slow":
            await asyncio.sleep(0.05 * (i % 6))
            mode = "ok"
        if mode == "raise":
            raise ApplicationError("com.fz.denied", "not you")
        if mode == "nonsense":
            return NONSENSE[i % len(NONSENSE)]
        if mode == "badcred":
            return BAD_CREDENTIAL[method][i % len(BAD_CREDENTIAL[method])]
        if mode == "role":
            return "user"
        if mode != "ok":
            raise ApplicationError("com.fz.unknown", str(authid))
        if method == "ticket":
            if details.get("ticket") != DYN_TICKET:
                raise ApplicationError("com.fz.bad_ticket", "wrong ticket")
            return {"role": "user", "extra": {"n": i}}
        if method == "wampcra":
            return {"secret": DYN_CRA_SECRET, "role": "user"}
        if method == "cryptosign":
            return {"pubkey": pubkey(7), "role": "user"}
        if method == "scram":
            return dict(scram_credential("dyn-password", b"fedcba9876543210"), role="user")
        return {"role": "user"}

    def procedures(self) -> dict:
        out = {}
        for m in ("anonymous", "ticket", "wampcra", "scram", "cryptosign"):

            async def one(realm, authid, details, m=m):
                return await self._answer(m, authid, details)

            out[f"com.fz.auth.{m}"] = one
        return out

    async def authorize(self, details, uri, action, options):
        self.asked += 1
        mode, i = self._mode(uri)
        if mode == "slow":
            await asyncio.sleep(0.05 * (i % 6))
            return True
        if mode == "raise":
            raise ApplicationError("com.fz.oops", "the authorizer broke")
        if mode == "allow":
            return ALLOWING[i % len(ALLOWING)]
        return DENYING[i % len(DENYING)]


def cra_signature(secret: str, challenge: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), challenge.encode(), hashlib.sha256).digest()).decode()


def cryptosign_signature(seed_hex: str, challenge_hex: str) -> str:
    signed = SigningKey(bytes.fromhex(seed_hex)).sign(bytes.fromhex(challenge_hex))
    return signed.hex()  # signature (64 octets) followed by the challenge, as Autobahn sends it


class LoginFuzzer:
    """One thread's seeded stream of logins and authorized actions. Every
    violation of an expected outcome goes into ``self.violations``."""

    def __init__(self, n: int, ports: dict[str, int]):
        self.n = n
        self.r = rng(1000 + n)
        self.ports = ports
        self.violations: list[str] = []
        self.counts = {"welcome": 0, "abort": 0, "challenge": 0, "allowed": 0, "denied": 0, "mutated": 0}
        self.serial = 0

    # -- helpers -------------------------------------------------------------
    def source(self) -> str:
        return f"127.0.1.{self.r.randint(1, 254)}"

    def odd(self):
        """A value of a surprising type or size for a string field."""
        r = self.r
        return r.choice([5, None, [], {}, "", "x" * r.choice([1, 300, 5000]), "é\u0000", ["joe"], -1, 1.5])

    def violation(self, what: str) -> None:
        self.violations.append(f"thread {self.n}: {what}")

    def send(self, c: RawSocketClient, msg: list, mutated: bool) -> None:
        body = c.encode(msg)
        c.send_bytes(mutate(self.r, body) if mutated else body)

    # -- one login ------------------------------------------------------------
    def login(self) -> None:
        r = self.r
        self.serial += 1
        dynamic = r.random() < 0.5
        method = r.choice(["ticket", "wampcra", "cryptosign", "anonymous", "scram", "bogus"])
        mutated = r.random() < 0.12
        if mutated:
            self.counts["mutated"] += 1
        right = r.random() < 0.6
        leave_early = r.random() < 0.08
        if dynamic:
            mode = r.choice(["ok", "ok", "ok", "slow", "raise", "nonsense", "nonsense", "role", "badcred", "nope"])
            if mode == "badcred" and method not in BAD_CREDENTIAL:
                mode = "nonsense"
            authid = f"fz.{mode}.{r.randrange(1000)}.t{self.n}s{self.serial}"
            # What a sound login needs from the authenticator.
            sound = mode in ("ok", "slow") or (mode == "role" and method in ("ticket", "anonymous"))
        else:
            mode = "static"
            authid = {"ticket": "joe", "wampcra": "ann", "cryptosign": "dev"}.get(method, "nobody")
            if r.random() < 0.1:
                authid = r.choice(["nobody", "JOE", "joe ", "", "x" * 300])
            sound = method in ("ticket", "wampcra", "cryptosign") and authid in ("joe", "ann", "dev")
        # Judged: held to an expected outcome (not so when bytes were mutated,
        # the client broke the protocol on purpose, or sent an odd value the
        # method may read either way).
        judged = not mutated
        extra: dict = {}
        if method == "cryptosign":
            key = pubkey(7 if dynamic else 1) if right else pubkey(9)
            if r.random() < 0.1:
                key, judged = self.odd(), False
            extra["pubkey"] = key
        if method == "scram":
            extra["nonce"] = base64.b64encode(os.urandom(16)).decode() if r.random() > 0.2 else self.odd()
            extra["channel_binding"] = r.choice([None, "tls-unique", 5])
        odd_extra = r.random() < 0.1
        if odd_extra:
            key = r.choice(["pubkey", "nonce", "channel_binding", "trustroot", "challenge", "x"])
            extra[key] = self.odd()
            if method == "cryptosign" and key not in ("nonce", "x"):
                judged = False
        details = {"roles": ROLES, "authmethods": [method], "authid": authid, "authextra": extra}
        if r.random() < 0.05:
            details["authmethods"] = r.choice([[], [5], "ticket", None, [method] * 50])
            judged = False
        # Which welcomes are earned: sound credentials, sent as they are, and
        # (for methods with a secret) the right one.
        earned = sound and method not in ("scram", "bogus")
        # The secret matters unless a dynamic authenticator waves a ticket
        # through by answering with a bare role.
        if method in ("wampcra", "cryptosign") or (method == "ticket" and mode != "role"):
            earned = earned and right
        listener = "rs_dynamic" if dynamic else "rs_static"
        # The authenticator surely gets asked (so its error is the reason).
        plain = method in ("ticket", "wampcra", "anonymous") and not odd_extra
        try:
            c = RawSocketClient(self.ports[listener], r.choice([JSON, MSGPACK]), self.source())
        except OSError as e:
            self.violation(f"connect to {listener} failed: {e}")
            return
        try:
            self.send(c, [1, "realm1", details], mutated and r.random() < 0.5)
            if leave_early:
                return
            msg = c.recv(timeout=5)
            if msg is not None and msg[0] == CHALLENGE:
                self.counts["challenge"] += 1
                signature = self.answer(method, msg, dynamic, right)
                if r.random() < 0.1:
                    # An odd signature: refused unless it is a string that a
                    # bare-role answer waves through; not judged.
                    signature = self.odd()
                    judged = plain = False
                self.send(c, [5, signature, {}], mutated)
                if r.random() < 0.05:  # a second AUTHENTICATE, or another HELLO
                    self.send(c, r.choice([[5, signature, {}], [1, "realm1", details]]), False)
                    judged = False
                if leave_early or r.random() < 0.05:
                    return
                msg = c.recv(timeout=5)
            what = f"{listener} {method} authid={authid!r} right={right} extra={extra!r}: {msg!r}"[:500]
            if msg is None:
                if judged:
                    self.violation(f"no answer to a login: {what}")
                return
            if msg[0] == WELCOME:
                self.counts["welcome"] += 1
                if judged and not earned:
                    self.violation(f"WELCOME not earned: {what}")
                elif judged and msg[2].get("authrole") != "user":
                    self.violation(f"WELCOME with the wrong role: {what}")
                elif r.random() < 0.5:
                    c.send([6, {}, "wamp.close.normal"])
                    c.recv(timeout=2)
            elif msg[0] == ABORT:
                self.counts["abort"] += 1
                if judged and earned:
                    self.violation(f"ABORT of a login that should succeed: {what}")
                elif judged and mode == "raise" and plain and msg[2] != "com.fz.denied":
                    self.violation(f"the authenticator's error is not the ABORT's reason: {what}")
            elif judged:
                self.violation(f"unexpected answer to a login: {what}")
        finally:
            c.close()

    def answer(self, method: str, challenge: list, dynamic: bool, right: bool):
        extra = challenge[2] if len(challenge) > 2 and isinstance(challenge[2], dict) else {}
        if method == "ticket":
            good = DYN_TICKET if dynamic else TICKET
            return good if right else good + "x"
        if method == "wampcra":
            secret = (DYN_CRA_SECRET if dynamic else CRA_SECRET) if right else "wrong"
            return cra_signature(secret, str(extra.get("challenge", "")))
        if method == "cryptosign":
            try:
                return cryptosign_signature(seed(7 if dynamic else 1) if right else seed(9), str(extra.get("challenge", "")))
            except ValueError:
                return "00"
        return base64.b64encode(os.urandom(32)).decode()  # scram and the rest: a wrong proof

    # -- authorized actions ----------------------------------------------------
    def actions(self) -> None:
        r = self.r
        try:
            c = RawSocketClient(self.ports["rs_authz"], r.choice([JSON, MSGPACK]), self.source())
        except OSError as e:
            self.violation(f"connect to rs_authz failed: {e}")
            return
        try:
            c.send([1, "realm1", {"roles": ROLES}])
            msg = c.recv(timeout=5)
            if msg is None or msg[0] != WELCOME:
                self.violation(f"anonymous login on rs_authz refused: {msg!r}")
                return
            expect: dict[int, tuple[str, str]] = {}
            for k in range(r.randint(1, 8)):
                self.serial += 1
                mode = r.choice(["allow", "allow", "deny", "slow", "raise"])
                uri = f"com.fz.{mode}.{r.randrange(1000)}.t{self.n}s{self.serial}"
                req = 100 + k
                kind = r.choice([16, 32, 48, 64])
                msg = {
                    16: [16, req, {"acknowledge": True}, uri, [k]],
                    32: [32, req, {}, uri],
                    48: [48, req, {}, uri, []],
                    64: [64, req, {}, uri],
                }[kind]
                mutated = r.random() < 0.05
                if mutated:
                    self.send(c, msg, True)
                    return  # what follows a mutated message is not held to anything
                c.send(msg)
                expect[req] = (mode, uri)
            if r.random() < 0.1:
                return  # gone before the answers
            while expect:
                msg = c.recv(timeout=5)
                if msg is None:
                    self.violation(f"actions not answered: {sorted(expect.values())}")
                    return
                if msg[0] in (17, 33, 65):
                    mode, uri = expect.pop(msg[1], ("?", "?"))
                    self.counts["allowed"] += 1
                    if mode not in ("allow", "slow"):
                        self.violation(f"{uri}: allowed ({msg!r})")
                elif msg[0] == ERROR:
                    mode, uri = expect.pop(msg[2], ("?", "?"))
                    allowed = msg[4] == "wamp.error.no_such_procedure"
                    self.counts["allowed" if allowed else "denied"] += 1
                    if allowed != (mode in ("allow", "slow")):
                        self.violation(f"{uri}: {msg!r}")
                elif msg[0] == ABORT or msg[0] == 6:
                    self.violation(f"session ended while acting: {msg!r}")
                    return
        finally:
            c.close()

    def run(self) -> None:
        for _ in range(ROUNDS):
            if self.r.random() < 0.75:
                self.login()
            else:
                self.actions()


async def test_logins_and_authorizations_under_a_storm(tmp_path):
    names = ["rs_static", "rs_dynamic", "rs_authz", "ws_backend", "ws_static"]
    ports: dict[str, int] = {}
    for name in names:
        p = free_port()
        while p in ports.values():
            p = free_port()
        ports[name] = p
    os.environ[TICKET_ENV] = TICKET
    router = RouterProcess(tmp_path, config=config(ports), wait_ports=list(ports.values())).start()
    try:
        backend = Backend()
        back = await login(("127.0.0.1", ports["ws_backend"]), "ws", "anonymous", None)
        for uri, fn in backend.procedures().items():
            await back.register(fn, uri)
        await back.register(backend.authorize, "com.fz.authorize")
        # The healthy sessions: a cryptosign subscriber, a ticket publisher.
        topic = "com.healthy.events"
        subscriber = await login(("127.0.0.1", ports["ws_static"]), "ws", "cryptosign", "dev", seed(1))
        publisher = await login(("127.0.0.1", ports["rs_static"]), "rs", "ticket", "joe", TICKET, serializer="msgpack")
        sink = EventSink()
        await subscriber.subscribe(sink, topic)

        fuzzers = [LoginFuzzer(n, ports) for n in range(THREADS)]
        await storm([threading.Thread(target=f.run) for f in fuzzers], publisher, sink, topic)

        violations = [v for f in fuzzers for v in f.violations]
        assert not violations, "\n".join(violations[:20])
        counts = {k: sum(f.counts[k] for f in fuzzers) for k in fuzzers[0].counts}
        # The storm exercised what it should: logins both ways, challenges,
        # the authenticators and the authorizer, actions both ways.
        assert counts["welcome"] > 40 and counts["abort"] > 40, counts
        assert counts["challenge"] > 40 and counts["mutated"] > 10, counts
        assert counts["allowed"] > 20 and counts["denied"] > 20, counts
        assert backend.asked > 100, backend.asked

        # A proper login still works, from the address the storm did not use.
        late = await login(("127.0.0.1", ports["rs_static"]), "rs", "wampcra", "ann", CRA_SECRET)
        await late.close()
        assert router.alive(), router.logs()
        # Only the backend and the two healthy sessions hold connections.
        await settled(router, 3)
        for s in (subscriber, publisher, back):
            await s.close()
        clean_log(router)
    finally:
        router.kill()

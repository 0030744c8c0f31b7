"""Authentication helpers for the interop suite: a router config with every
method (static and dynamic), Autobahn|Python sessions that log in with a method,
credentials in Crossbar's config format, and a minimal raw RawSocket client
for login storms.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import struct
import time
from pathlib import Path

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth as ab_auth

from routerproc import ALLOW_ALL, RouterProcess, _port_open, free_port
from wampclient import TIMEOUT, Client, JoinFailed, _SERIALIZER_CLASSES

# -- credentials ---------------------------------------------------------------

TICKET_ENV = "JUNCTION_TEST_TICKET"
TICKET = "t1cket-from-env"
CRA_SECRET = "cra-s3cret"
CRA_PASSWORD = "salted-pw"
CRA_SALT = "salt123"
SCRAM_PASSWORD = "pencil"


def seed(n: int) -> str:
    """A 32-byte Ed25519 seed (hex)."""
    return (bytes([n]) * 32).hex()


def pubkey(n: int) -> str:
    """The public key (hex) of ``seed(n)``."""
    from nacl.signing import SigningKey

    return SigningKey(bytes([n]) * 32).verify_key.encode().hex()


def scram_credential(password: str, salt: bytes, iterations: int = 8, memory: int = 512) -> dict:
    """A SCRAM credential as Crossbar stores it (Autobahn's derive_scram_credential,
    with a small Argon2id cost so that tests stay quick)."""
    from argon2.low_level import Type, hash_secret

    raw = hash_secret(
        secret=password.encode(),
        salt=salt,
        time_cost=iterations,
        memory_cost=memory,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    salted = raw.decode("ascii").split("$")[-1].encode("ascii")
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return {
        "kdf": "argon2id-13",
        "iterations": iterations,
        "memory": memory,
        "salt": salt.hex(),
        "stored-key": stored_key.hex(),
        "server-key": server_key.hex(),
    }


def authenticator(method: str, authid: str | None, secret: str | None = None):
    """An Autobahn|Python authenticator (``autobahn.wamp.auth``) for ``method``."""
    kw: dict = {}
    if authid is not None:
        kw["authid"] = authid
    if method == "ticket":
        return ab_auth.AuthTicket(ticket=secret, **kw)
    if method == "wampcra":
        return ab_auth.AuthWampCra(secret=secret, **kw)
    if method == "scram":
        return ab_auth.AuthScram(password=secret, **kw)
    if method == "cryptosign":
        return ab_auth.AuthCryptoSign(privkey=secret, **kw)
    if method == "anonymous":
        return ab_auth.AuthAnonymous(**kw)
    raise ValueError(method)


class AuthClient(Client):
    """A test session that logs in with an Autobahn authenticator."""

    def __init__(self, realm: str, label: str, auth, authid: str | None):
        super().__init__(realm, label)
        self.auth = auth
        self.authid_asked = authid
        self.challenges: list = []

    def onConnect(self):
        self.join(
            self.config.realm,
            authmethods=[self.auth.name],
            authid=self.authid_asked,
            authextra=self.auth.authextra,
        )

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        return self.auth.on_challenge(self, challenge)

    def onWelcome(self, welcome):
        err = self.auth.on_welcome(self, welcome.authextra or {})
        if err:
            return err
        return super().onWelcome(welcome)


async def login(
    host_port: tuple[str, int],
    transport: str,
    method: str,
    authid: str | None,
    secret: str | None = None,
    realm: str = "realm1",
    serializer: str = "json",
    local_addr: tuple[str, int] | None = None,
    url_path: str = "/ws",
) -> AuthClient:
    """Connect and log in; raises JoinFailed when refused."""
    loop = asyncio.get_running_loop()
    session = AuthClient(realm, f"{transport}-{method}", authenticator(method, authid, secret), authid)
    ser = _SERIALIZER_CLASSES[serializer]()
    host, port = host_port
    if transport == "ws":
        factory = WampWebSocketClientFactory(
            lambda: session, url=f"ws://{host}:{port}{url_path}", serializers=[ser]
        )
    else:
        factory = WampRawSocketClientFactory(lambda: session, serializer=ser)
    await asyncio.wait_for(
        loop.create_connection(factory, host, port, local_addr=local_addr), TIMEOUT
    )
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), TIMEOUT)
    except asyncio.TimeoutError:
        session.drop()
        raise
    return session


# -- the router config ----------------------------------------------------------


def _perm(uri: str = "") -> dict:
    return {
        "uri": uri,
        "match": "prefix",
        "allow": dict(ALLOW_ALL),
        "disclose": {"caller": True, "publisher": True},
        "cache": True,
    }


def static_auth() -> dict:
    """Every static method (the ticket read from the environment: ``${VAR}``)."""
    return {
        "ticket": {
            "type": "static",
            "principals": {
                "joe": {"ticket": "${" + TICKET_ENV + "}", "role": "user"},
            },
        },
        "wampcra": {
            "type": "static",
            "users": {
                "ann": {"secret": CRA_SECRET, "role": "user"},
                # Crossbar's reading of a salted entry: the secret is the password.
                "sal": {
                    "secret": CRA_PASSWORD,
                    "role": "user",
                    "salt": CRA_SALT,
                    "iterations": 100,
                    "keylen": 32,
                },
            },
        },
        "scram": {
            "type": "static",
            "principals": {
                "sam": dict(scram_credential(SCRAM_PASSWORD, b"0123456789abcdef"), role="user"),
            },
        },
        "cryptosign": {
            "type": "static",
            "principals": {
                "dev": {"authorized_keys": [pubkey(1)], "role": "user"},
                "roam": {"authorized_keys": [pubkey(2)], "role": "user", "realm": "realm2"},
                # Many keys, none announced by the client: verified off the reactor.
                "multi": {"authorized_keys": [pubkey(3), pubkey(4), pubkey(5)], "role": "user"},
            },
        },
    }


def dynamic_auth() -> dict:
    """Every method dynamic, each with its authenticator procedure."""
    return {
        m: {"type": "dynamic", "authenticator": f"com.example.auth.{m}"}
        for m in ("anonymous", "ticket", "wampcra", "scram", "cryptosign")
    }


#: Listener name → (type, auth).
LISTENERS = {
    "ws_static": ("websocket", static_auth),
    "rs_static": ("rawsocket", static_auth),
    "ws_dynamic": ("websocket", dynamic_auth),
    "rs_dynamic": ("rawsocket", dynamic_auth),
    # Components (authenticators, authorizers, test peers) join here anonymously.
    "ws_backend": ("websocket", lambda: {"anonymous": {"type": "static", "role": "backend"}}),
    # Sessions whose every action the dynamic authorizer decides.
    "ws_authz": ("websocket", lambda: {"anonymous": {"type": "static", "role": "dyn"}}),
}


def auth_config(ports: dict[str, int], junction: dict | None = None) -> dict:
    roles = [
        {"name": "user", "permissions": [_perm()]},
        {"name": "backend", "permissions": [_perm()]},
        {"name": "dyn", "authorizer": "com.example.authorize"},
    ]
    transports = []
    for name, (kind, auth) in LISTENERS.items():
        t = {
            "type": kind,
            "id": name,
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": ports[name]},
            "serializers": ["json", "msgpack", "cbor"],
            "auth": auth(),
        }
        transports.append(t)
    config: dict = {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [
                    {"name": "realm1", "roles": roles},
                    {"name": "realm2", "roles": [{"name": "user", "permissions": [_perm()]}]},
                ],
                "transports": transports,
            }
        ],
    }
    if junction:
        config["junction"] = junction
    return config


class AuthRouter(RouterProcess):
    """A router with one listener per entry of LISTENERS."""

    def __init__(self, workdir: Path, junction: dict | None = None):
        super().__init__(workdir)
        self.ports = {}
        for name in LISTENERS:
            p = free_port()
            while p in self.ports.values():
                p = free_port()
            self.ports[name] = p
        self.ws_port = self.ports["ws_static"]
        self.rs_port = self.ports["rs_static"]
        self.config = auth_config(self.ports, junction)

    def start(self) -> "AuthRouter":
        os.environ[TICKET_ENV] = TICKET
        super().start()
        # Every listener is bound before the router reports ready; be sure anyway.
        for port in self.ports.values():
            for _ in range(200):
                if _port_open(port):
                    break
                time.sleep(0.05)
        return self

    def addr(self, listener: str) -> tuple[str, int]:
        return ("127.0.0.1", self.ports[listener])


# -- a raw RawSocket client (login storms) ---------------------------------------


class RawRs:
    """A bare RawSocket/JSON client: only what a login storm needs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> "RawRs":
        reader, writer = await asyncio.open_connection(host, port)
        # Magic, max length 2^24 (0xF), serializer JSON (1).
        writer.write(bytes([0x7F, 0xF1, 0, 0]))
        await writer.drain()
        reply = await reader.readexactly(4)
        if reply[0] != 0x7F or reply[1] & 0x0F != 1:
            raise RuntimeError(f"RawSocket handshake refused: {reply!r}")
        return cls(reader, writer)

    async def send(self, msg: list) -> None:
        data = json.dumps(msg).encode()
        self.writer.write(struct.pack(">I", len(data)) + data)
        await self.writer.drain()

    async def recv(self, timeout: float = TIMEOUT) -> list:
        while True:
            head = await asyncio.wait_for(self.reader.readexactly(4), timeout)
            length = int.from_bytes(head[1:], "big")
            body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
            if head[0] & 0x07 == 0:
                return json.loads(body)
            # a ping: answer it
            if head[0] & 0x07 == 1:
                self.writer.write(bytes([2]) + head[1:] + body)

    def close(self) -> None:
        self.writer.close()


async def bad_ticket_login(host: str, port: int, authid: str, ticket: str) -> tuple[bool, list]:
    """HELLO (ticket) and a wrong ticket: (whether a CHALLENGE came, the last message)."""
    rs = await RawRs.connect(host, port)
    try:
        await rs.send([1, "realm1", {"authmethods": ["ticket"], "authid": authid, "roles": {"caller": {}}}])
        msg = await rs.recv()
        challenged = msg[0] == 4
        if challenged:
            await rs.send([5, ticket, {}])
            msg = await rs.recv()
        return challenged, msg
    finally:
        rs.close()


__all__ = [
    "AuthClient",
    "AuthRouter",
    "JoinFailed",
    "RawRs",
    "bad_ticket_login",
    "login",
    "pubkey",
    "scram_credential",
    "seed",
]

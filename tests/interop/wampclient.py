"""WAMP clients for the interop tests.

* :func:`connect` opens an Autobahn|Python (asyncio) session over WebSocket or
  RawSocket with the JSON, MessagePack or CBOR serializer and waits until it
  has joined (or was aborted).
* :class:`RawWs` is a minimal hand-written WebSocket client (no library
  between the test and the socket): it can stop reading, send garbage, and
  observe exactly how the router closes the connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

import txaio

txaio.use_asyncio()

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import ComponentConfig  # noqa: E402

TRANSPORTS = ("ws", "rs")
SERIALIZERS = ("json", "msgpack", "cbor")
#: Every (transport, serializer) pair.
COMBOS = [(t, s) for t in TRANSPORTS for s in SERIALIZERS]
COMBO_IDS = [f"{t}-{s}" for t, s in COMBOS]

_SERIALIZER_CLASSES = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
}

#: Default bound for any single wait in the tests.
TIMEOUT = 10.0


class JoinFailed(Exception):
    """The router refused the session (ABORT) or the transport failed before WELCOME."""

    def __init__(self, reason: str | None, message: str | None = None):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Client(ApplicationSession):
    """An Autobahn session that exposes its life cycle as futures."""

    def __init__(self, realm: str, label: str):
        super().__init__(ComponentConfig(realm=realm))
        loop = asyncio.get_running_loop()
        self.label = label
        #: Resolves with SessionDetails on WELCOME; fails with JoinFailed.
        self.joined: asyncio.Future = loop.create_future()
        #: Resolves with CloseDetails when the session ends (GOODBYE, ABORT, transport lost).
        self.left: asyncio.Future = loop.create_future()
        #: Resolves when the transport is gone.
        self.disconnected: asyncio.Future = loop.create_future()
        #: Implementation-specific WELCOME.Details attributes (``x_...``).
        self.welcome_custom: dict = {}

    # -- Autobahn callbacks ---------------------------------------------------
    def onWelcome(self, welcome):
        self.welcome_custom = dict(welcome.custom or {})
        return super().onWelcome(welcome)

    def onJoin(self, details):
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details):
        if not self.joined.done():
            self.joined.set_exception(JoinFailed(details.reason, details.message))
        if not self.left.done():
            self.left.set_result(details)
        return super().onLeave(details)

    def onDisconnect(self):
        if not self.joined.done():
            self.joined.set_exception(JoinFailed("transport lost", "disconnected before WELCOME"))
        if not self.left.done():
            self.left.set_result(None)
        if not self.disconnected.done():
            self.disconnected.set_result(True)
        return super().onDisconnect()

    # -- helpers for tests ------------------------------------------------------
    @property
    def shard(self) -> int | None:
        """The shard Junction reports in WELCOME (``x_junction_shard``), if any."""
        return self.welcome_custom.get("x_junction_shard")

    def drop(self) -> None:
        """Kill the TCP connection without GOODBYE or closing handshake."""
        proto = self._transport
        if proto is not None and getattr(proto, "transport", None) is not None:
            proto.transport.abort()

    async def close(self, timeout: float = 5.0) -> None:
        """Leave (GOODBYE) if joined and wait for the transport to go; never raises."""
        try:
            if self.is_attached() and not self.left.done():
                self.leave()
                await asyncio.wait_for(asyncio.shield(self.left), timeout)
        except Exception:
            pass
        if not self.disconnected.done():
            try:
                if self._transport is not None:
                    self._transport.close()
                await asyncio.wait_for(asyncio.shield(self.disconnected), timeout)
            except Exception:
                self.drop()


async def connect(
    router,
    transport: str = "ws",
    serializer: str = "json",
    realm: str = "realm1",
    timeout: float = TIMEOUT,
) -> Client:
    """Open a session to ``router`` and wait until it joined ``realm``.

    Raises :class:`JoinFailed` when the router aborts the join.
    """
    loop = asyncio.get_running_loop()
    session = Client(realm, f"{transport}-{serializer}")
    ser = _SERIALIZER_CLASSES[serializer]()
    if transport == "ws":
        factory = WampWebSocketClientFactory(
            lambda: session, url=router.ws_url, serializers=[ser]
        )
        factory.setProtocolOptions(maxMessagePayloadSize=0, maxFramePayloadSize=0)
        port = router.ws_port
    elif transport == "rs":
        factory = WampRawSocketClientFactory(lambda: session, serializer=ser)
        port = router.rs_port
    else:
        raise ValueError(transport)
    await asyncio.wait_for(loop.create_connection(factory, "127.0.0.1", port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except asyncio.TimeoutError:
        session.drop()
        raise
    return session


class EventSink:
    """Collects events of a subscription; tests wait on it with bounds."""

    def __init__(self):
        self.events: list[tuple[tuple, dict]] = []
        self._changed = asyncio.Event()

    def __call__(self, *args, **kwargs):
        self.events.append((args, kwargs))
        self._changed.set()

    async def wait_count(self, n: int, timeout: float = TIMEOUT) -> list:
        """Wait until at least ``n`` events arrived; fails on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.events) < n:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"expected {n} events within {timeout} s, got {len(self.events)}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self.events


# ---------------------------------------------------------------------------
# Raw WebSocket client
# ---------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The peer closed the connection; ``how`` says how (EOF, reset, close frame)."""

    def __init__(self, how: str, code: int | None = None, reason: str = ""):
        super().__init__(f"{how} code={code} reason={reason!r}")
        self.how = how
        self.code = code
        self.reason = reason


class RawWs:
    """A minimal RFC 6455 client speaking ``wamp.2.json`` by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls,
        port: int,
        protocol: str = "wamp.2.json",
        rcvbuf: int | None = None,
        timeout: float = TIMEOUT,
    ) -> "RawWs":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect(), so that the TCP window is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET /ws HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n"
            "\r\n"
        )
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise AssertionError(f"WebSocket upgrade refused: {head!r}")
        return cls(reader, writer)

    # -- sending -----------------------------------------------------------
    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        mask = os.urandom(4)
        header = bytearray([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", n)
        header += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes(header) + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode())

    def send_json(self, msg: Any) -> None:
        self.send_text(json.dumps(msg))

    # -- receiving ---------------------------------------------------------
    async def _read_exactly(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError:
            raise Closed("eof")
        except ConnectionResetError:
            raise Closed("reset")

    async def recv_frame(self) -> tuple[int, bytes]:
        """One whole message (continuations joined); answers pings; raises Closed."""
        message = bytearray()
        first_opcode = None
        while True:
            b0, b1 = await self._read_exactly(2)
            fin, opcode = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", await self._read_exactly(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", await self._read_exactly(8))
            if b1 & 0x80:
                mask = await self._read_exactly(4)
            else:
                mask = None
            payload = await self._read_exactly(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed("close-frame", code, payload[2:].decode(errors="replace"))
            if first_opcode is None:
                first_opcode = opcode
            message += payload
            if fin:
                return first_opcode, bytes(message)

    async def recv_json(self, timeout: float = TIMEOUT) -> Any:
        _, payload = await asyncio.wait_for(self.recv_frame(), timeout)
        return json.loads(payload)

    async def hello(self, realm: str = "realm1", timeout: float = TIMEOUT) -> list:
        """HELLO → WELCOME; returns the WELCOME message."""
        self.send_json(
            [1, realm, {"roles": {"subscriber": {}, "publisher": {}, "caller": {}, "callee": {}}}]
        )
        msg = await self.recv_json(timeout)
        assert msg[0] == 2, f"expected WELCOME, got {msg!r}"
        return msg

    async def wait_closed(
        self, timeout: float = TIMEOUT, answer_goodbye: bool = True
    ) -> tuple[Closed, list]:
        """Read (and keep) messages until the router closes; returns how, and the messages.

        A GOODBYE from the router is answered with GOODBYE, as a client would.
        """
        seen: list = []

        async def drain():
            while True:
                try:
                    _, payload = await self.recv_frame()
                except Closed as closed:
                    return closed
                try:
                    msg = json.loads(payload)
                except ValueError:
                    seen.append(payload)
                    continue
                seen.append(msg)
                if answer_goodbye and isinstance(msg, list) and msg[:1] == [6]:
                    try:
                        self.send_json([6, {}, "wamp.close.goodbye_and_out"])
                    except (ConnectionError, RuntimeError):
                        pass

        closed = await asyncio.wait_for(drain(), timeout)
        return closed, seen

    def pause_reading(self) -> None:
        """Stop taking bytes off the socket (the kernel buffers fill, then TCP stalls)."""
        self.writer.transport.pause_reading()

    def resume_reading(self) -> None:
        self.writer.transport.resume_reading()

    def abort(self) -> None:
        self.writer.transport.abort()

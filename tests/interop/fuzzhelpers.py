"""Helpers for the fuzz tests: seeded byte mutation, and a blocking
RawSocket client that fuzzing threads drive message by message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import threading
import time

import msgpack
from autobahn.wamp.types import PublishOptions

#: RawSocket serializer IDs.
JSON, MSGPACK = 1, 2

#: Added to every fuzz and chaos test's seeds: the suite runs with 0 (the
#: same bytes every run); a soak runs other seeds, e.g.
#: ``for s in $(seq 1 50); do FUZZ_SEED=$s pytest test_fuzz*.py test_chaos*.py; done``.
SEED = int(os.environ.get("FUZZ_SEED", "0"))


def rng(seed: int) -> random.Random:
    """The seeded generator of a test, shifted by ``FUZZ_SEED``."""
    return random.Random(seed + SEED * 1_000_003)


def mutate(r: random.Random, data: bytes) -> bytes:
    """``data`` with one to four seeded changes: a byte replaced, bytes cut,
    random bytes inserted, a run repeated, or a byte set to one that often
    matters to a parser (0, 0x7F, 0x80, 0xFF, 0xC0, '"', '[', '{')."""
    b = bytearray(data)
    for _ in range(r.randint(1, 4)):
        op = r.randint(0, 4)
        i = r.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = r.randrange(256)
        elif op == 1:
            del b[i : i + r.randint(1, 8)]
        elif op == 2:
            b[i:i] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
        elif op == 3:
            b[i:i] = b[i : i + r.randint(1, 16)] * r.randint(1, 5)
        elif b:
            b[min(i, len(b) - 1)] = r.choice([0, 0x7F, 0x80, 0xFF, 0xC0, 0x22, 0x5B, 0x7B])
    return bytes(b)


class RawSocketClient:
    """A blocking RawSocket client (JSON or MessagePack) from a chosen source
    address. ``recv`` answers pings and returns the next WAMP message, or
    ``None`` when the router closed the connection or said nothing in time."""

    def __init__(self, port: int, serializer: int = JSON, source: str = "127.0.0.1", timeout: float = 5.0):
        self.serializer = serializer
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.sock.sendall(bytes([0x7F, 0xF0 | serializer, 0, 0]))
        reply = self._exact(4)
        if reply is None or reply[0] != 0x7F or reply[1] & 0x0F != serializer:
            self.close()
            raise ConnectionError(f"RawSocket handshake refused: {reply!r}")

    def encode(self, msg: list) -> bytes:
        return json.dumps(msg).encode() if self.serializer == JSON else msgpack.packb(msg)

    def send_bytes(self, body: bytes) -> None:
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def send(self, msg: list) -> None:
        self.send_bytes(self.encode(msg))

    def _exact(self, n: int) -> bytes | None:
        out = b""
        while len(out) < n:
            try:
                chunk = self.sock.recv(n - len(out))
            except OSError:
                return None
            if not chunk:
                return None
            out += chunk
        return out

    def recv(self, timeout: float) -> list | None:
        self.sock.settimeout(timeout)
        while True:
            head = self._exact(4)
            if head is None:
                return None
            body = self._exact(int.from_bytes(head[1:], "big"))
            if body is None:
                return None
            kind = head[0] & 0x07
            if kind == 1:  # ping: answer with a pong
                try:
                    self.sock.sendall(bytes([2]) + head[1:] + body)
                except OSError:
                    return None
            elif kind == 0:
                msg = json.loads(body) if self.serializer == JSON else msgpack.unpackb(body, strict_map_key=False)
                return msg

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def varint(n: int) -> bytes:
    """An MQTT variable byte integer."""
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_packet(first: int, body: bytes) -> bytes:
    """An MQTT packet: the first octet, the remaining length, the body."""
    return bytes([first]) + varint(len(body)) + body


def mqtt_str(x: bytes) -> bytes:
    """An MQTT string (or binary data): two octets of length, then ``x``."""
    return struct.pack(">H", len(x)) + x


# -- the router under test: what a storm must leave behind ----------------------


def status(router) -> dict:
    """``junction status --json`` of a router started by ``RouterProcess``."""
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    sock = str(router.workdir / "run" / "junction.sock")
    out = subprocess.run([binary, "status", "--json", "--socket", sock], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def counts(router) -> tuple[int, int]:
    """Open connections and MQTT sessions held offline, all shards."""
    shards = status(router)["per_shard"]
    return sum(s["connections"] for s in shards), sum(s.get("offline_sessions", 0) for s in shards)


async def settled(router, connections: int, offline: int | None = None, within: float = 10.0) -> None:
    """Waits until exactly ``connections`` connections are open (and, when
    given, ``offline`` MQTT sessions held offline)."""
    deadline = time.monotonic() + within
    while True:
        got = counts(router)
        want = (connections, got[1] if offline is None else offline)
        if got == want or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert got == want, status(router)["per_shard"]


def clean_log(router) -> None:
    """The router is alive and logged no panic and no ERROR."""
    assert router.alive(), router.logs()
    log = router.stderr_path.read_text()
    assert "panicked" not in log, router.logs()
    assert " ERROR " not in log, router.logs()


async def storm(threads: list[threading.Thread], publisher, sink, topic: str) -> int:
    """Runs the fuzzing threads while ``publisher`` publishes to ``sink``'s
    topic every 50 ms; every event must arrive, in order. Returns how many
    were published."""
    for t in threads:
        t.start()
    sent = 0
    while any(t.is_alive() for t in threads):
        await publisher.publish(topic, sent, options=PublishOptions(acknowledge=True))
        sent += 1
        await asyncio.sleep(0.05)
    for t in threads:
        t.join()
    await sink.wait_count(sent)
    assert [args[0] for args, _ in sink.events] == list(range(sent))
    assert sent > 10, "the storm was over before the healthy sessions routed"
    return sent

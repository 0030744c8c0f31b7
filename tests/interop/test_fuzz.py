"""Mutated input from many connections at once, while well-behaved
sessions keep routing: WAMP over RawSocket (JSON and MessagePack) and over
WebSocket, and MQTT 3.1.1 and 5.0, on their own listeners and on a
universal one (the first octets choose). Each connection opens properly, then
sends a burst of valid messages of which some are mutated (bytes changed,
cut, inserted or repeated; sometimes the framing itself). The quality bar:
bad input never panics, stalls or harms other sessions.

The input is seeded (the same bytes every run); what the router answers
depends on timing, so the test asserts invariants only: an Autobahn
subscriber gets every event an Autobahn publisher sends during the storm,
in order; afterwards the router is alive, logged no panic and no error,
serves a new session, and holds no connection but the healthy sessions'
(MQTT sessions left offline by the storm are sessions, not connections).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import zlib

import msgpack
import pytest

from fuzzhelpers import clean_log, mqtt_packet, mqtt_str, mutate, rng, settled, storm, varint
from routerproc import RouterProcess, free_port
from wampclient import EventSink, connect

pytestmark = pytest.mark.junction_only

#: Connections per fuzzing thread, and threads.
ROUNDS = 400
THREADS = 3

WAMP = [
    [32, 1, {}, "com.fuzz.a"],
    [32, 2, {"match": "prefix"}, "com.fuzz"],
    [32, 3, {"match": "wildcard"}, "com..b"],
    [16, 4, {"acknowledge": True, "exclude_me": False}, "com.fuzz.a", [1, "x", {"k": [1, 2]}], {"a": 1}],
    [64, 5, {"invoke": "roundrobin"}, "com.fuzz.p"],
    [48, 6, {"receive_progress": True, "timeout": 100}, "com.fuzz.p", [1], {}],
    [70, 1, {"progress": True}, [2]],
    [49, 6, {"mode": "kill"}],
    [34, 7, 1],
    [66, 8, 1],
    [6, {}, "wamp.close.normal"],
    [16, 9, {"eligible": [1, 2], "exclude": [3]}, "com.fuzz.a"],
    [48, 10, {}, "wamp.session.count", []],
    [48, 11, {}, "wamp.registration.match", ["com.fuzz.p"]],
    [5, "ticket", {}],
    [8, 48, 1, {}, "com.err", []],
]
HELLO = [1, "realm1", {"roles": {"publisher": {}, "subscriber": {}, "caller": {}, "callee": {}}}]

#: MQTT 5 property identifiers by the type of their value.
PROPS_BYTE = [0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A]
PROPS_U16 = [0x13, 0x21, 0x22, 0x23]
PROPS_U32 = [0x02, 0x11, 0x18, 0x27]
PROPS_STR = [0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F]
PROPS_BIN = [0x09, 0x16]
PROPS_VARINT = [0x0B]
PROPS_PAIR = [0x26]


def deflate(data: bytes) -> bytes:
    """A permessage-deflate message body (raw deflate, the final empty
    block's 00 00 FF FF left off, as RFC 7692 says)."""
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


#: A compressed message that inflates to 64 MiB (a deflate bomb): refused
#: by the message size limit, never inflated whole.
BOMB = deflate(b"[" + b" " * (64 << 20) + b"]")


class Fuzzer:
    """One thread's seeded stream of mutated connections."""

    def __init__(self, seed: int, ports: dict[str, int]):
        self.r = rng(seed)
        self.ports = ports

    def mutate(self, b: bytes) -> bytes:
        return mutate(self.r, b)

    def maybe(self, b: bytes, p: float) -> bytes:
        return self.mutate(b) if self.r.random() < p else b

    def messages(self, n: int) -> list:
        return [HELLO] + [self.r.choice(WAMP) for _ in range(self.r.randint(1, n))]

    def rawsocket(self, serializer: int) -> bytes:
        out = bytearray()
        for m in self.messages(20):
            body = self.maybe(json.dumps(m).encode() if serializer == 1 else msgpack.packb(m), 0.5)
            out += self.maybe(struct.pack(">I", len(body)), 0.05) + body
        return bytes([0x7F, 0xF0 | serializer, 0, 0]) + bytes(out)

    def websocket(self) -> bytes:
        head = (
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: wamp.2.json\r\n"
        )
        compressed = self.r.random() < 0.3
        if compressed:
            head += b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        out = bytearray(self.maybe(head + b"\r\n", 0.2))
        for m in self.messages(10):
            body = json.dumps(m).encode()
            opcode = 0x81
            # Compressed messages (RSV1), their compressed bytes mutated at
            # times, and now and then a deflate bomb.
            if compressed and self.r.random() < 0.7:
                body = BOMB if self.r.random() < 0.03 else deflate(body)
                opcode = 0xC1
            body = self.maybe(body, 0.4)
            if self.r.random() < 0.05:
                opcode = self.r.randrange(256)
            mask = bytes(self.r.randrange(256) for _ in range(4))
            n = len(body)
            if n < 126:
                length = bytes([0x80 | n])
            elif n < 65536:
                length = bytes([0x80 | 126]) + struct.pack(">H", n)
            else:
                length = bytes([0x80 | 127]) + struct.pack(">Q", n)
            frame = bytes([opcode]) + length + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(body))
            out += self.maybe(frame, 0.1)
        return bytes(out)

    def mqtt(self) -> bytes:
        r = self.r

        s, packet = mqtt_str, mqtt_packet

        v5 = r.random() < 0.5

        def properties(extra: bytes = b"") -> bytes:
            """MQTT 5 properties: often none, else a few of any kind (some
            not allowed in the packet, repeated, or out of range)."""
            if not v5:
                return b""
            out = extra
            if r.random() < 0.5:
                for _ in range(r.randint(1, 4)):
                    pid = r.choice(PROPS_BYTE + PROPS_U16 + PROPS_U32 + PROPS_STR + PROPS_BIN + PROPS_VARINT + PROPS_PAIR)
                    if pid in PROPS_BYTE:
                        value = bytes([r.choice([0, 1, 2, 255])])
                    elif pid in PROPS_U16:
                        value = struct.pack(">H", r.choice([0, 1, 2, 10, 65535]))
                    elif pid in PROPS_U32:
                        value = struct.pack(">I", r.choice([0, 1, 60, 2**32 - 1]))
                    elif pid in PROPS_STR:
                        value = s(r.choice([b"", b"fuzz/reply", b"\xff\xfe", b"x" * 300]))
                    elif pid in PROPS_BIN:
                        value = s(bytes(r.randrange(256) for _ in range(r.randint(0, 20))))
                    elif pid in PROPS_VARINT:
                        value = varint(r.choice([0, 1, 268435455, 5000]))
                    else:
                        value = s(b"k") + s(r.choice([b"v", b"", b"\x00"]))
                    out += varint(pid) + value
            return varint(len(out)) + out

        props = properties()
        flags = r.choice([0x02, 0x00, 0x2E, 0xC2])
        connect = s(b"MQTT") + bytes([5 if v5 else 4, flags]) + struct.pack(">H", 30) + props
        connect += s(b"fuzz%d" % r.randrange(20))
        if flags & 0x04:
            connect += props + s(b"fuzz/will") + s(b"bye")
        if flags & 0x80:
            connect += s(b"user")
        if flags & 0x40:
            connect += s(b"pw")
        packets = [packet(0x10, connect)]
        for _ in range(r.randint(1, 20)):
            pid = struct.pack(">H", r.randint(1, 9))
            kind = r.randint(0, 6)
            if kind == 0:
                f = r.choice([b"fuzz/#", b"+/b", b"$share/g/fuzz/+", b"fuzz/b", b"#"])
                packets.append(packet(0x82, pid + props + s(f) + bytes([r.randint(0, 2)])))
            elif kind == 1:
                q = r.randint(0, 2)
                topic, alias = r.choice([b"fuzz/b", b"fuzz/c/d", b"x"]), b""
                if v5 and r.random() < 0.3:
                    # A topic alias: set with a topic, or used with an empty one.
                    alias = varint(0x23) + struct.pack(">H", r.choice([0, 1, 2, 3, 65535]))
                    topic = topic if r.random() < 0.5 else b""
                body = s(topic) + (pid if q else b"") + (properties(alias) if v5 else b"")
                body += bytes(r.randrange(256) for _ in range(r.randint(0, 50)))
                packets.append(packet(0x30 | (q << 1) | r.randint(0, 1), body))
            elif kind == 2:
                packets.append(packet(r.choice([0x40, 0x50, 0x62]), pid))
            elif kind == 3:
                packets.append(packet(0xC0, b""))
            elif kind == 4:
                packets.append(packet(0xA2, pid + props + s(b"fuzz/#")))
            else:
                packets.append(packet(r.choice([0xE0, 0xF0, 0x00]), b""))
        return self.maybe(b"".join(self.maybe(p, 0.4) for p in packets), 0.3)

    def one(self) -> None:
        kind = self.r.randint(0, 3)
        data, port = {
            0: lambda: (self.rawsocket(1), self.ports["rs"]),
            1: lambda: (self.rawsocket(2), self.ports["rs"]),
            2: lambda: (self.mqtt(), self.ports["mqtt"]),
            3: lambda: (self.websocket(), self.ports["ws"]),
        }[kind]()
        if self.r.random() < 0.25:
            port = self.ports["uni"]  # the same bytes to the universal port
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if self.r.random() < 0.1:
                    for i in range(0, len(data), 7):
                        sock.sendall(data[i : i + 7])
                else:
                    sock.sendall(data)
                sock.settimeout(0.05)
                while sock.recv(65536):
                    pass
        except OSError:
            # The router may close on bad input at any point (reset, broken pipe).
            pass

    def run(self) -> None:
        for _ in range(ROUNDS):
            self.one()


@pytest.fixture
def router(tmp_path):
    """The standard router, with permessage-deflate on its WebSocket listener."""
    proc = RouterProcess(tmp_path)
    transports = proc.config["workers"][0]["transports"]
    ws = next(t for t in transports if t["id"] == "ws_main")
    ws["options"] = {"compression": {"deflate": {}}}
    # One port for every protocol: the first octets choose.
    proc.uni_port = free_port()
    transports.append(
        {
            "type": "universal",
            "id": "uni",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": proc.uni_port},
            "rawsocket": {"serializers": ["json", "msgpack"]},
            "websocket": {"ws": {"type": "websocket", "serializers": ["json"], "options": {"compression": {"deflate": {}}}}},
            "mqtt": {"options": {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}}},
        }
    )
    proc.start()
    yield proc
    proc.kill()


async def test_a_storm_of_mutated_input_harms_no_other_session(router):
    topic = "com.healthy.events"
    subscriber = await connect(router, "ws", "msgpack")
    publisher = await connect(router, "rs", "json")
    sink = EventSink()
    await subscriber.subscribe(sink, topic)
    ports = {"rs": router.rs_port, "ws": router.ws_port, "mqtt": router.mqtt_port, "uni": router.uni_port}
    threads = [threading.Thread(target=Fuzzer(seed, ports).run) for seed in range(THREADS)]
    await storm(threads, publisher, sink, topic)

    assert router.alive(), router.logs()
    # A new session is served.
    late = await connect(router, "ws", "json")
    assert await late.call("wamp.session.count") >= 3
    await late.close()
    # Only the two healthy sessions hold a connection once the storm's
    # sockets are gone.
    await settled(router, 2)
    # The storm reached the protocol layer: most connections got as far as
    # a HELLO (an MQTT CONNECT counts as one).
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    sock = str(router.workdir / "run" / "junction.sock")
    metrics = subprocess.run([binary, "status", "--metrics", "--socket", sock], capture_output=True, text=True, timeout=30)
    hellos = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.stdout.splitlines()
        if line.startswith('junction_wamp_messages_received_total{type="HELLO"')
    )
    assert hellos > THREADS * ROUNDS / 4, metrics.stdout
    await subscriber.close()
    await publisher.close()
    clean_log(router)

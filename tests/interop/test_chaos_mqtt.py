"""MQTT persistent sessions under churn: QoS 1 and QoS 2 delivery must survive
abrupt disconnects, acknowledgements withheld, and reconnects that land on
the other shard (a session taken over across shards).

Six subscribers with persistent sessions (MQTT 3.1.1, clean session 0)
subscribe to ``chaos/#`` at QoS 1 (or 2) and then, over and over, drop their TCP
connection without a DISCONNECT (sometimes with PUBLISHes read but not
acknowledged), stay away a moment and reconnect with the same client ID.
Two publishers publish at the same QoS meanwhile. Afterwards every
subscriber is connected once more and must, over the whole run, have
received every message its publisher had acknowledged (at least once: a
message not acknowledged is sent again; at QoS 2 delivered exactly once,
a resend of a packet ID not yet released being the same message), and
nothing never published. Then everyone disconnects properly: no connection is left, and
the six sessions are held offline.
"""

from __future__ import annotations

import asyncio
import struct

import pytest

from fuzzhelpers import clean_log, rng, settled
from fuzzhelpers import mqtt_packet as packet
from fuzzhelpers import mqtt_str as s
from routerproc import RouterProcess

pytestmark = pytest.mark.junction_only

SUBSCRIBERS = 6
PUBLISHERS = 2
ROUNDS = 500


class Mqtt:
    """A bare asyncio MQTT 3.1.1 client: QoS 1 only, acknowledgements under
    the test's control."""

    def __init__(self, port: int, client_id: str, clean: bool):
        self.port = port
        self.client_id = client_id
        self.clean = clean
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.acks: dict[int, asyncio.Future] = {}
        self.received: list[tuple[bytes, bytes, bool]] = []
        self.task: asyncio.Task | None = None
        self.ack_publishes = True
        self.session_present: bool | None = None
        self.next_id = 0
        #: QoS 2 packet IDs received and not yet released (the session's
        #: state on the client side: kept across reconnects).
        self.inflight2: set[bytes] = set()
        #: QoS 2 deliveries to the application (at most once each).
        self.delivered2: list[bytes] = []

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        flags = 0x02 if self.clean else 0x00
        body = s(b"MQTT") + bytes([4, flags]) + struct.pack(">H", 60) + s(self.client_id.encode())
        self.writer.write(packet(0x10, body))
        connack = await asyncio.wait_for(self.reader.readexactly(4), 10)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"{self.client_id}: CONNACK {connack!r}")
        self.session_present = bool(connack[2] & 1)
        self.task = asyncio.create_task(self.read(self.reader, self.writer))

    def pid(self) -> int:
        self.next_id = self.next_id % 65535 + 1
        return self.next_id

    async def read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                first = (await reader.readexactly(1))[0]
                n, shift = 0, 0
                while True:
                    b = (await reader.readexactly(1))[0]
                    n |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                body = await reader.readexactly(n)
                kind = first >> 4
                if kind == 3:  # PUBLISH
                    qos = (first >> 1) & 3
                    tlen = struct.unpack(">H", body[:2])[0]
                    topic = body[2 : 2 + tlen]
                    rest = body[2 + tlen :]
                    if qos:
                        pid, rest = rest[:2], rest[2:]
                    self.received.append((topic, rest, bool(first & 0x08)))
                    if qos == 2:
                        # Delivered on first receipt; a resend of a packet ID
                        # not yet released is the same message.
                        if pid not in self.inflight2:
                            self.inflight2.add(pid)
                            self.delivered2.append(rest)
                        if self.ack_publishes:
                            writer.write(packet(0x50, pid))
                    elif qos and self.ack_publishes:
                        writer.write(packet(0x40, pid))
                elif kind == 6:  # PUBREL: the message is released
                    self.inflight2.discard(body[:2])
                    if self.ack_publishes:
                        writer.write(packet(0x70, body[:2]))
                elif kind == 5:  # PUBREC of our QoS 2 PUBLISH
                    writer.write(packet(0x62, body[:2]))
                elif kind in (4, 7, 9):  # PUBACK, PUBCOMP, SUBACK
                    pid = struct.unpack(">H", body[:2])[0]
                    fut = self.acks.pop(pid, None)
                    if fut and not fut.done():
                        fut.set_result(body)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        # The connection ended: what waits for an acknowledgement fails now.
        for fut in self.acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the connection ended"))
        self.acks.clear()

    def alive(self) -> None:
        if self.writer is None or self.task is None or self.task.done():
            raise ConnectionError("the connection ended")

    async def request(self, first: int, body_after_pid: bytes, pid: int | None = None) -> bytes:
        self.alive()
        pid = pid or self.pid()
        fut = asyncio.get_running_loop().create_future()
        self.acks[pid] = fut
        assert self.writer is not None
        self.writer.write(packet(first, struct.pack(">H", pid) + body_after_pid))
        return await asyncio.wait_for(fut, 10)

    async def subscribe(self, topic: bytes, qos: int = 1) -> None:
        ack = await self.request(0x82, s(topic) + bytes([qos]))
        assert ack[2:] == bytes([qos]), ack

    async def publish(self, topic: bytes, payload: bytes, qos: int = 1) -> None:
        """Returns once acknowledged (PUBACK; PUBCOMP at QoS 2)."""
        self.alive()
        assert self.writer is not None
        pid = self.pid()
        fut = asyncio.get_running_loop().create_future()
        self.acks[pid] = fut
        self.writer.write(packet(0x30 | qos << 1, s(topic) + struct.pack(">H", pid) + payload))
        await asyncio.wait_for(fut, 10)

    def drop(self) -> None:
        """Gone without DISCONNECT."""
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.transport.abort()
        self.writer = None

    async def disconnect(self) -> None:
        if self.writer:
            self.writer.write(b"\xe0\x00")
            await self.writer.drain()
            self.writer.close()
        if self.task:
            self.task.cancel()
        self.writer = None


@pytest.mark.parametrize("qos", [1, 2])
async def test_persistent_sessions_lose_no_message_under_churn(tmp_path, qos):
    """QoS 1: every message at least once; QoS 2: exactly once."""
    proc = RouterProcess(tmp_path)
    proc.start()
    try:
        r = rng(5)
        subs = [Mqtt(proc.mqtt_port, f"chaos-sub-{i}", clean=False) for i in range(SUBSCRIBERS)]
        for m in subs:
            await m.connect()
            await m.subscribe(b"chaos/#", qos)
        pubs = [Mqtt(proc.mqtt_port, f"chaos-pub-{i}", clean=True) for i in range(PUBLISHERS)]
        for m in pubs:
            await m.connect()
        published: list[bytes] = []
        online = [True] * SUBSCRIBERS
        withheld = [0] * SUBSCRIBERS
        takeovers_seen = 0

        async def publish(m: Mqtt, n: int, k: int) -> None:
            payload = b"%d:%d" % (n, k)
            await m.publish(b"chaos/%d" % (k % 3), payload, qos)
            published.append(payload)

        for k in range(ROUNDS):
            await asyncio.gather(*(publish(m, n, k) for n, m in enumerate(pubs)))
            for i, m in enumerate(subs):
                roll = r.random()
                if online[i] and not m.ack_publishes:
                    # Withheld its acknowledgements for a few rounds: gone.
                    withheld[i] -= 1
                    if withheld[i] == 0:
                        m.drop()
                        online[i] = False
                elif online[i] and roll < 0.08:
                    if r.random() < 0.5:
                        # PUBLISHes read and not acknowledged, then gone.
                        m.ack_publishes = False
                        withheld[i] = r.randint(1, 3)
                    else:
                        m.drop()
                        online[i] = False
                elif not online[i] and roll < 0.3:
                    m.ack_publishes = True
                    await m.connect()
                    if not m.session_present:
                        pytest.fail(f"{m.client_id}: its session was not kept (session present 0)")
                    takeovers_seen += 1
                    online[i] = True
            await asyncio.sleep(0.002)
        for i, m in enumerate(subs):
            if not online[i]:
                m.ack_publishes = True
                await m.connect()
                assert m.session_present, m.client_id
        want = set(published)
        for _ in range(200):
            if all(want <= {p for _, p, _ in m.received} for m in subs):
                break
            await asyncio.sleep(0.05)
        for m in subs:
            got = {p for _, p, _ in m.received}
            missing = sorted(want - got)
            assert not missing, f"{m.client_id} never got {len(missing)} messages, e.g. {missing[:5]}"
            assert got <= want, f"{m.client_id} got messages never published: {sorted(got - want)[:5]}"
            if qos == 2:
                twice = sorted(p for p in set(m.delivered2) if m.delivered2.count(p) > 1)
                assert not twice, f"{m.client_id} got {len(twice)} QoS 2 messages twice, e.g. {twice[:5]}"
                assert set(m.delivered2) == want, m.client_id
        assert takeovers_seen > 10, takeovers_seen
        for m in subs + pubs:
            await m.disconnect()
        await settled(proc, 0, offline=SUBSCRIBERS)
        clean_log(proc)
    finally:
        proc.kill()

"""MQTT persistent sessions (paho-mqtt, 3.1.1 and 5.0): subscriptions kept
and QoS 1/2 messages queued while the client is away, resumption with
re-delivery, the per-session queue bound, sessions that survive a router
restart and a ``kill -9`` (realm with a file store), and QoS 2 exactly once
across a client reconnect."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import struct
import threading
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from advhelpers import realm_config
from mqttclient import TIMEOUT, V5, V311, Mqtt
from routerproc import RouterProcess

pytestmark = pytest.mark.junction_only

VERSIONS = [V311, V5]
VIDS = ["3.1.1", "5.0"]


def topic_of(prefix: str) -> str:
    return f"{prefix}/{secrets.token_hex(4)}"


def persistent(port: int, version, cid: str, expiry: int = 300, clean: bool = False) -> Mqtt:
    """A client asking for a persistent session (3.1.1 clean session 0,
    5.0 clean start 0 with a Session Expiry Interval)."""
    if version == V5:
        m = Mqtt(port, V5, client_id=cid, clean_start=clean)
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = expiry
        m.connect_props = p
        return m
    return Mqtt(port, V311, client_id=cid, clean=clean)


def connect(m: Mqtt) -> Mqtt:
    return m.connect(properties=getattr(m, "connect_props", None))


def session_present(m: Mqtt) -> bool:
    return bool(m.session_present)


def file_store_router(tmp_path_factory, name: str, store_dir, queue: dict | None = None) -> RouterProcess:
    proc = RouterProcess(tmp_path_factory.mktemp(name))
    realm_config(proc.config, "realm1")["store"] = {"type": "file", "path": str(store_dir)}
    if queue:
        for t in proc.config["workers"][0]["transports"]:
            if t["type"] == "mqtt":
                t["junction"] = dict(queue)
    return proc


def wait_mqtt(proc: RouterProcess) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", proc.mqtt_port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("MQTT port not open")


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_persistent_session_across_a_reconnect(router, made, version):
    cid = "persist-" + secrets.token_hex(4)
    t = topic_of("persist")
    sub = connect(persistent(router.mqtt_port, version, cid))
    made.append(sub)
    assert not session_present(sub), "a new session"
    sub.subscribe(t, 1)
    sub.close()
    assert sub.disconnected.wait(TIMEOUT)
    time.sleep(0.2)  # offline (not a connection still closing: it would get the QoS 0 one)
    pub = Mqtt(router.mqtt_port, version).connect()
    made.append(pub)
    # QoS 0 first: the QoS 1 acknowledgements after it order it before the reconnect.
    pub.publish(t, b"qos0-not-kept", qos=0)
    for i in range(5):
        pub.publish(t, f"m{i}".encode(), qos=1)
    again = connect(persistent(router.mqtt_port, version, cid))
    made.append(again)
    assert session_present(again), "the session was kept"
    got = again.expect(5)
    assert [m.payload for m in got] == [f"m{i}".encode() for i in range(5)]
    assert all(m.qos == 1 for m in got)
    again.nothing()
    # The subscription is still there without a new SUBSCRIBE.
    pub.publish(t, b"live", qos=1)
    assert again.expect(1)[0].payload == b"live"


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_clean_start_discards_the_session(router, made, version):
    cid = "discard-" + secrets.token_hex(4)
    t = topic_of("discard")
    sub = connect(persistent(router.mqtt_port, version, cid))
    made.append(sub)
    sub.subscribe(t, 1)
    sub.close()
    pub = Mqtt(router.mqtt_port, version).connect()
    made.append(pub)
    pub.publish(t, b"queued", qos=1)
    fresh = connect(persistent(router.mqtt_port, version, cid, clean=True))
    made.append(fresh)
    assert not session_present(fresh)
    fresh.nothing()
    pub.publish(t, b"after", qos=1)
    fresh.nothing()


def test_v5_session_expiry_zero_ends_with_the_connection(router, made):
    cid = "noexp-" + secrets.token_hex(4)
    t = topic_of("noexp")
    sub = connect(persistent(router.mqtt_port, V5, cid, expiry=0))
    made.append(sub)
    sub.subscribe(t, 1)
    sub.close()
    again = connect(persistent(router.mqtt_port, V5, cid))
    made.append(again)
    assert not session_present(again)


def test_v5_connack_grants_the_capped_session_expiry(router, made):
    c = connect(persistent(router.mqtt_port, V5, "cap-" + secrets.token_hex(4), expiry=99_999))
    made.append(c)
    assert c.connack_props.SessionExpiryInterval == 7200  # max_session_expiry default


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_unacknowledged_messages_are_sent_again_with_dup(router, made, version):
    """A QoS 1 message the client never acknowledged comes again, DUP set,
    when the session resumes (raw client: it does not answer PUBLISH)."""
    cid = "dup-" + secrets.token_hex(4)
    t = topic_of("dup")
    level = 5 if version == V5 else 4
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(raw_connect_packet(cid, level, clean=False, expiry=300))
        assert read_packet(s)[0] >> 4 == 2  # CONNACK
        s.sendall(raw_subscribe(t, 1, level))
        assert read_packet(s)[0] >> 4 == 9  # SUBACK
        pub = Mqtt(router.mqtt_port, version).connect()
        made.append(pub)
        pub.publish(t, b"unacked", qos=1)
        first = read_packet(s)
        assert first[0] & 0xF0 == 0x30 and not first[0] & 0x08, "PUBLISH without DUP"
        # Gone without PUBACK.
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(raw_connect_packet(cid, level, clean=False, expiry=300))
        connack = read_packet(s)
        assert connack[0] >> 4 == 2 and connack[2] & 1 == 1, "session present"
        again = read_packet(s)
        assert again[0] & 0xF0 == 0x30 and again[0] & 0x08, "PUBLISH again with DUP"
        assert b"unacked" in again
        pid = packet_id_of(again, version)
        s.sendall(bytes([0x40, 2]) + struct.pack(">H", pid))  # PUBACK
        s.sendall(b"\xe0\x00")  # DISCONNECT


def test_queue_bound_drops_new_messages(tmp_path_factory, made):
    proc = RouterProcess(tmp_path_factory.mktemp("qbound"))
    for tr in proc.config["workers"][0]["transports"]:
        if tr["type"] == "mqtt":
            tr["junction"] = {"max_queued_messages": 3}
    proc.start()
    try:
        wait_mqtt(proc)
        cid = "bound-" + secrets.token_hex(4)
        t = topic_of("bound")
        sub = connect(persistent(proc.mqtt_port, V311, cid))
        made.append(sub)
        sub.subscribe(t, 1)
        sub.close()
        sub.disconnected.wait(TIMEOUT)
        time.sleep(0.3)  # the session is offline (not in flight to a closing connection)
        pub = Mqtt(proc.mqtt_port, V311).connect()
        made.append(pub)
        for i in range(6):
            pub.publish(t, f"b{i}".encode(), qos=1)
        again = connect(persistent(proc.mqtt_port, V311, cid))
        made.append(again)
        got = again.expect(3)
        assert [m.payload for m in got] == [b"b0", b"b1", b"b2"], "drop_new keeps the oldest"
        again.nothing()
    finally:
        proc.kill()


def test_persistent_session_survives_a_router_restart(tmp_path_factory, made):
    store = tmp_path_factory.mktemp("mqtt-store")
    proc = file_store_router(tmp_path_factory, "restart1", store)
    proc.start()
    cid = "restart-" + secrets.token_hex(4)
    t = topic_of("restart")
    try:
        wait_mqtt(proc)
        sub = connect(persistent(proc.mqtt_port, V5, cid))
        sub.subscribe(t, 2)
        sub.close()
        # A second one stays connected through the shutdown.
        online_cid = cid + "-online"
        online = connect(persistent(proc.mqtt_port, V311, online_cid))
        made.append(online)
        online.subscribe(t, 1)
        pub = Mqtt(proc.mqtt_port, V311).connect()
        for i in range(3):
            pub.publish(t, f"r{i}".encode(), qos=1)
        assert [m.payload for m in online.expect(3)] == [b"r0", b"r1", b"r2"]
        pub.close()
        online.sync()  # the online subscriber's PUBACKs are in
        proc.terminate()
        assert proc.wait(15) == 0
        # paho reconnects by itself: the old client would take the session
        # over from `back` below (and back again, every second).
        online.c.loop_stop()
        proc.start()
        wait_mqtt(proc)
        again = connect(persistent(proc.mqtt_port, V5, cid))
        made.append(again)
        assert session_present(again), "the session came back from the store"
        got = again.expect(3)
        assert [m.payload for m in got] == [b"r0", b"r1", b"r2"]
        again.nothing()
        back = connect(persistent(proc.mqtt_port, V311, online_cid))
        made.append(back)
        assert session_present(back), "a session online at shutdown came back too"
        back.nothing(0.3)
        # Its subscription is back too.
        pub = Mqtt(proc.mqtt_port, V311).connect()
        made.append(pub)
        pub.publish(t, b"after-restart", qos=1)
        assert again.expect(1)[0].payload == b"after-restart"
        assert back.expect(1)[0].payload == b"after-restart"
    finally:
        proc.kill()


def test_kill_9_during_a_qos1_stream_loses_no_acknowledged_message(tmp_path_factory, made):
    store = tmp_path_factory.mktemp("mqtt-kill")
    proc = file_store_router(tmp_path_factory, "kill1", store)
    proc.start()
    cid = "kill-" + secrets.token_hex(4)
    t = topic_of("kill")
    acked: list[int] = []
    try:
        wait_mqtt(proc)
        sub = connect(persistent(proc.mqtt_port, V311, cid))
        sub.subscribe(t, 1)
        sub.close()
        pub = Mqtt(proc.mqtt_port, V311).connect()
        # Publish with up to 20 in flight (paho default); kill -9 once some were acknowledged.
        lock = threading.Lock()
        sent = {}

        def on_publish(c, u, mid, rc, props):
            with lock:
                if mid in sent:
                    acked.append(sent[mid])

        pub.c.on_publish = on_publish
        killed = False
        for i in range(3000):
            info = pub.c.publish(t, f"k{i}".encode(), qos=1)
            with lock:
                sent[info.mid] = i
            if not killed and len(acked) >= 200:
                os.kill(proc.proc.pid, signal.SIGKILL)
                killed = True
                break
            if i % 50 == 49:
                time.sleep(0.01)
        if not killed:
            os.kill(proc.proc.pid, signal.SIGKILL)
        proc.wait(15)
        with lock:
            acknowledged = set(acked)
        try:
            pub.c.loop_stop()
        except Exception:
            pass
        assert acknowledged, "some publications were acknowledged before the kill"
        proc.start()
        wait_mqtt(proc)
        again = connect(persistent(proc.mqtt_port, V311, cid))
        made.append(again)
        assert session_present(again)
        got = set()
        deadline = time.monotonic() + 20
        while not acknowledged <= got and time.monotonic() < deadline:
            try:
                m = again.messages.get(timeout=1)
            except Exception:
                continue
            got.add(int(m.payload[1:]))
        missing = sorted(acknowledged - got)
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:10]}"
    finally:
        proc.kill()


def test_qos2_exactly_once_across_a_publisher_reconnect(router, made):
    """The publisher's PUBLISH (QoS 2) got PUBREC, then the connection broke:
    it reconnects to its session, sends the PUBLISH again (DUP) and PUBREL;
    the subscriber gets the message once."""
    t = topic_of("q2re")
    sub = Mqtt(router.mqtt_port, V311).connect()
    made.append(sub)
    sub.subscribe(t, 2)
    cid = "q2pub-" + secrets.token_hex(4)
    tb = t.encode()
    publish = struct.pack(">H", len(tb)) + tb + b"\x00\x07" + b"exactly-once"
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(raw_connect_packet(cid, 4, clean=False))
        assert read_packet(s)[:2] == b"\x20\x02"
        s.sendall(bytes([0x34, len(publish)]) + publish)
        assert read_packet(s) == b"\x50\x02\x00\x07"  # PUBREC
        # The connection breaks before PUBREL.
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(raw_connect_packet(cid, 4, clean=False))
        connack = read_packet(s)
        assert connack == b"\x20\x02\x01\x00", "session present"
        s.sendall(bytes([0x3C, len(publish)]) + publish)  # DUP
        assert read_packet(s) == b"\x50\x02\x00\x07"
        s.sendall(b"\x62\x02\x00\x07")  # PUBREL
        assert read_packet(s) == b"\x70\x02\x00\x07"  # PUBCOMP
        s.sendall(b"\xe0\x00")
    (m,) = sub.expect(1)
    assert m.payload == b"exactly-once"
    sub.nothing(1.0)


def test_qos2_to_a_subscriber_resumes_at_pubrel(router, made):
    """The subscriber answered PUBREC and broke before PUBCOMP: on resuming
    it gets PUBREL again (not the message), so it sees the message once."""
    cid = "q2sub-" + secrets.token_hex(4)
    t = topic_of("q2sub")
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(raw_connect_packet(cid, 4, clean=False))
        assert read_packet(s)[:2] == b"\x20\x02"
        s.sendall(raw_subscribe(t, 2, 4))
        assert read_packet(s)[0] >> 4 == 9
        pub = Mqtt(router.mqtt_port, V311).connect()
        made.append(pub)
        pub.publish(t, b"once", qos=2)
        p = read_packet(s)
        assert p[0] & 0xF6 == 0x34 and b"once" in p
        pid = packet_id_of(p, V311)
        s.sendall(bytes([0x50, 2]) + struct.pack(">H", pid))  # PUBREC
        assert read_packet(s) == bytes([0x62, 2]) + struct.pack(">H", pid)  # PUBREL
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=5) as s:
        s.sendall(raw_connect_packet(cid, 4, clean=False))
        assert read_packet(s) == b"\x20\x02\x01\x00"
        assert read_packet(s) == bytes([0x62, 2]) + struct.pack(">H", pid), "PUBREL again"
        s.sendall(bytes([0x70, 2]) + struct.pack(">H", pid))  # PUBCOMP
        s.settimeout(0.7)
        try:
            extra = s.recv(64)
        except TimeoutError:
            extra = b""
        assert extra == b"", f"nothing else: {extra!r}"


# --- raw packets ---------------------------------------------------------------


def raw_connect_packet(cid: str, level: int, clean: bool, expiry: int = 0) -> bytes:
    c = cid.encode()
    flags = 0x02 if clean else 0x00
    body = b"\x00\x04MQTT" + bytes([level, flags]) + b"\x00\x3c"
    if level == 5:
        props = b"\x11" + struct.pack(">I", expiry) if expiry else b""
        body += bytes([len(props)]) + props
    body += struct.pack(">H", len(c)) + c
    return b"\x10" + bytes([len(body)]) + body


def raw_subscribe(t: str, qos: int, level: int) -> bytes:
    tb = t.encode()
    body = b"\x00\x01" + (b"\x00" if level == 5 else b"") + struct.pack(">H", len(tb)) + tb + bytes([qos])
    return b"\x82" + bytes([len(body)]) + body


def read_packet(s: socket.socket) -> bytes:
    head = recv_exact(s, 1)
    length, mult, raw = 0, 1, b""
    while True:
        b = recv_exact(s, 1)
        raw += b
        length += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    return head + raw + recv_exact(s, length)


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise AssertionError(f"connection closed after {out!r}")
        out += chunk
    return out


def packet_id_of(p: bytes, version) -> int:
    # fixed header (1 + varint), topic length + topic, then the packet id
    i = 1
    while p[i] & 0x80:
        i += 1
    i += 1
    tlen = struct.unpack(">H", p[i : i + 2])[0]
    i += 2 + tlen
    return struct.unpack(">H", p[i : i + 2])[0]


@pytest.mark.parametrize("takeover", [False, True], ids=["reconnect", "takeover"])
def test_no_qos1_message_lost_while_the_session_moves(router, made, takeover):
    """A stream of QoS 1 messages while the subscriber reconnects (or a new
    connection takes its session over) again and again, on whichever shard
    each connection lands: every message arrives (QoS 1 may repeat one)."""
    cid = "moving-" + secrets.token_hex(4)
    t = topic_of("moving")
    sub = connect(persistent(router.mqtt_port, V5, cid))
    made.append(sub)
    sub.subscribe(t, 1)
    got: set[int] = set()
    pub = Mqtt(router.mqtt_port, V311).connect()
    made.append(pub)
    total = 400
    done = threading.Event()

    def stream():
        for i in range(total):
            pub.publish(t, f"s{i}".encode(), qos=1)
            time.sleep(0.002)
        done.set()

    threading.Thread(target=stream, daemon=True).start()
    current = sub
    while not done.is_set():
        time.sleep(0.05)
        nxt = persistent(router.mqtt_port, V5, cid)
        made.append(nxt)
        if not takeover:
            current.close()
        connect(nxt)
        assert session_present(nxt)
        while not current.messages.empty():
            got.add(int(current.messages.get().payload[1:]))
        current = nxt

    def collect():
        # The current connection's, and what an old one received after its
        # last drain (before a takeover cut it).
        for m in made:
            while not m.messages.empty():
                p = m.messages.get_nowait().payload
                if p.startswith(b"s"):
                    got.add(int(p[1:]))

    deadline = time.monotonic() + 15
    while len(got) < total and time.monotonic() < deadline:
        collect()
        time.sleep(0.05)
    collect()
    missing = sorted(set(range(total)) - got)
    assert not missing, f"{len(missing)} lost, e.g. {missing[:10]}"


# --- shared subscriptions and $SYS -------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=VIDS)
def test_shared_subscription_round_robin_delivers_each_message_once(router, made, version):
    """Three members of one group, on whichever shards they land: every
    message goes to exactly one of them, in turn (round_robin, the default)."""
    group = "g" + secrets.token_hex(3)
    t = topic_of("shared")
    members = []
    for _ in range(3):
        m = Mqtt(router.mqtt_port, version).connect()
        made.append(m)
        codes = m.subscribe(f"$share/{group}/{t}", 1)
        assert codes[0] in (1,) or getattr(codes[0], "value", None) == 1
        members.append(m)
    time.sleep(0.3)  # the joins travel to the group's shard
    pub = Mqtt(router.mqtt_port, version).connect()
    made.append(pub)
    n = 30
    for i in range(n):
        pub.publish(t, f"s{i}".encode(), qos=1)
    got = [[] for _ in members]

    def take():
        for mine, m in zip(got, members):
            while not m.messages.empty():
                mine.append(m.messages.get_nowait().payload)

    deadline = time.monotonic() + 10
    while sum(map(len, got)) < n and time.monotonic() < deadline:
        take()
        time.sleep(0.02)
    time.sleep(0.3)  # a message delivered twice would have arrived by now
    take()
    counts = [len(mine) for mine in got]
    seen = [p for mine in got for p in mine]
    assert sorted(seen) == sorted(f"s{i}".encode() for i in range(n)), "each exactly once"
    assert counts == [10, 10, 10], counts


def test_shared_and_plain_subscriptions_side_by_side(router, made):
    """A plain subscriber gets every message; the group shares them."""
    group = "g" + secrets.token_hex(3)
    t = topic_of("mixed")
    plain = Mqtt(router.mqtt_port, V5).connect()
    made.append(plain)
    plain.subscribe(t, 1)
    a = Mqtt(router.mqtt_port, V5).connect()
    b = Mqtt(router.mqtt_port, V5).connect()
    made += [a, b]
    a.subscribe(f"$share/{group}/{t.split('/')[0]}/#", 1)
    b.subscribe(f"$share/{group}/{t.split('/')[0]}/#", 1)
    time.sleep(0.3)
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    for i in range(4):
        pub.publish(t, f"x{i}".encode(), qos=1)
    assert len(plain.expect(4)) == 4
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 4 and time.monotonic() < deadline:
        for m in (a, b):
            try:
                got.append(m.messages.get(timeout=0.2).payload)
            except Exception:
                pass
    assert sorted(got) == [b"x0", b"x1", b"x2", b"x3"]
    a.nothing(0.3)
    b.nothing(0.3)


def test_shared_member_that_unsubscribes_gets_nothing_more(router, made):
    group = "g" + secrets.token_hex(3)
    t = topic_of("leave")
    a = Mqtt(router.mqtt_port, V5).connect()
    b = Mqtt(router.mqtt_port, V5).connect()
    made += [a, b]
    a.subscribe(f"$share/{group}/{t}", 0)
    b.subscribe(f"$share/{group}/{t}", 0)
    time.sleep(0.2)
    a.c.unsubscribe(f"$share/{group}/{t}")
    time.sleep(0.3)
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    for i in range(4):
        pub.publish(t, f"l{i}".encode(), qos=1)
    assert [m.payload for m in b.expect(4)] == [b"l0", b"l1", b"l2", b"l3"]
    a.nothing(0.3)


def test_sys_topics_report_clients_and_messages(tmp_path_factory, made):
    proc = RouterProcess(tmp_path_factory.mktemp("sys"))
    for tr in proc.config["workers"][0]["transports"]:
        if tr["type"] == "mqtt":
            tr["junction"] = {"sys_interval": 1}
    proc.start()
    try:
        wait_mqtt(proc)
        watcher = Mqtt(proc.mqtt_port, V311).connect()
        made.append(watcher)
        watcher.subscribe("$SYS/broker/#", 0)
        everything = Mqtt(proc.mqtt_port, V311).connect()
        made.append(everything)
        everything.subscribe("#", 0)
        plus = Mqtt(proc.mqtt_port, V311).connect()
        made.append(plus)
        plus.subscribe("+/broker/#", 0)
        pub = Mqtt(proc.mqtt_port, V311).connect()
        made.append(pub)
        for i in range(3):
            pub.publish("sys/test", b"x", qos=1)
        values: dict[str, int] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                m = watcher.messages.get(timeout=0.5)
            except Exception:
                continue
            values[m.topic] = int(m.payload)
            if values.get("$SYS/broker/messages/received", 0) >= 3 and values.get(
                "$SYS/broker/clients/connected", 0
            ) >= 4:
                break
        assert values.get("$SYS/broker/clients/connected", 0) >= 4, values
        assert values.get("$SYS/broker/messages/received", 0) >= 3, values
        assert values.get("$SYS/broker/listeners/mqtt_main/messages/received", 0) >= 3, values
        assert "$SYS/broker/uptime" in values
        # `#` and `+` at the first level never match $SYS topics.
        while not everything.messages.empty():
            assert not everything.messages.get().topic.startswith("$SYS"), "# matched $SYS"
        plus.nothing(0.2)
    finally:
        proc.kill()

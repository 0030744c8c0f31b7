"""MQTT 5 Will Delay Interval, the node's bound on persistent sessions, and
the 5.0 limits both ways (paho-mqtt and raw packets): a delayed will is cancelled by a reconnect to the session within
the delay, published after the delay otherwise (not before), published when
the session ends first (expiry, clean start), kept across a router restart
and a ``kill -9`` for sessions in a file store; ``mqtt_offline_store_sessions``
refuses a new persistent session with CONNACK 0x97 (3.1.1: 3) and never a
resumption; Topic Alias Maximum, the client's Maximum Packet Size and Receive
Maximum, Message Expiry of queued messages, Server Keep Alive and the
listener limits."""

from __future__ import annotations

import json
import secrets
import socket
import struct
import time

import pytest
from paho.mqtt.client import SubscribeOptions
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttclient import TIMEOUT, V5, V311, Mqtt, props
from routerproc import RouterProcess
from test_mqtt_sessions import (
    file_store_router,
    packet_id_of,
    raw_connect_packet,
    raw_subscribe,
    read_packet,
    wait_mqtt,
)

pytestmark = pytest.mark.junction_only


def topic_of(prefix: str) -> str:
    return f"{prefix}/{secrets.token_hex(4)}"


def v5_session(port: int, cid: str, expiry: int, clean: bool = False) -> tuple[Mqtt, Properties]:
    m = Mqtt(port, V5, client_id=cid, clean_start=clean)
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = expiry
    return m, p


def delayed_will(topic: str, payload: bytes, delay: int, retain: bool = False) -> dict:
    wp = Properties(PacketTypes.WILLMESSAGE)
    wp.WillDelayInterval = delay
    return {"topic": topic, "payload": payload, "qos": 1, "retain": retain, "properties": wp}


def connect_v5(made: list, port: int, cid: str, expiry: int, will=None, clean=False) -> Mqtt:
    m, p = v5_session(port, cid, expiry, clean)
    made.append(m)
    return m.connect(properties=p, will=will)


def test_a_reconnect_within_the_delay_cancels_the_will(router, made):
    t = topic_of("wd-cancel")
    cid = "wd-cancel-" + secrets.token_hex(4)
    watcher = Mqtt(router.mqtt_port, V5).connect()
    made.append(watcher)
    watcher.subscribe(t, 1)
    dev = connect_v5(made, router.mqtt_port, cid, 60, delayed_will(t, b"gone", 2))
    dev.drop()
    time.sleep(0.5)
    back = connect_v5(made, router.mqtt_port, cid, 60)
    assert back.session_present, "the session was resumed"
    watcher.nothing(3.0)
    # The resumed connection has no will: a clean end publishes nothing.
    back.close()
    watcher.nothing(0.5)


def test_the_will_goes_after_the_delay_not_before(router, made):
    t = topic_of("wd-fire")
    cid = "wd-fire-" + secrets.token_hex(4)
    watcher = Mqtt(router.mqtt_port, V5).connect()
    made.append(watcher)
    watcher.subscribe(t, 1)
    dev = connect_v5(made, router.mqtt_port, cid, 60, delayed_will(t, b"gone", 2))
    dropped = time.monotonic()
    dev.drop()
    watcher.nothing(1.5)
    (m,) = watcher.expect(1, timeout=TIMEOUT)
    waited = time.monotonic() - dropped
    assert m.payload == b"gone"
    assert waited >= 1.9, f"published {waited:.2f} s after the connection ended, delay 2 s"
    assert waited < 4.5, f"published {waited:.2f} s after the connection ended, delay 2 s"
    watcher.nothing(0.5)
    # The session is still there (its will went, not the session).
    back = connect_v5(made, router.mqtt_port, cid, 60)
    assert back.session_present


def test_the_session_ending_first_publishes_the_will(router, made):
    t = topic_of("wd-expiry")
    watcher = Mqtt(router.mqtt_port, V5).connect()
    made.append(watcher)
    watcher.subscribe(t, 1)
    # Session Expiry 1 s, Will Delay 30 s: the session ends first.
    dev = connect_v5(made, router.mqtt_port, "wd-exp-" + secrets.token_hex(4), 1,
                     delayed_will(t, b"expired", 30))
    dropped = time.monotonic()
    dev.drop()
    (m,) = watcher.expect(1, timeout=6)
    assert m.payload == b"expired"
    assert time.monotonic() - dropped < 4, "at the session's expiry, not the will's delay"
    # No Session Expiry: the session ends with the connection, the will goes at once.
    dev = connect_v5(made, router.mqtt_port, "wd-zero-" + secrets.token_hex(4), 0,
                     delayed_will(t, b"no-session", 30))
    dev.drop()
    assert watcher.expect(1, timeout=1.5)[0].payload == b"no-session"
    # A clean start ends the waiting session: its will goes then.
    cid = "wd-clean-" + secrets.token_hex(4)
    dev = connect_v5(made, router.mqtt_port, cid, 60, delayed_will(t, b"replaced", 30))
    dev.drop()
    watcher.nothing(0.7)
    connect_v5(made, router.mqtt_port, cid, 60, clean=True)
    assert watcher.expect(1, timeout=2)[0].payload == b"replaced"


def test_v311_wills_are_not_delayed(router, made):
    t = topic_of("wd-311")
    watcher = Mqtt(router.mqtt_port, V311).connect()
    made.append(watcher)
    watcher.subscribe(t, 1)
    dev = Mqtt(router.mqtt_port, V311, client_id="wd311-" + secrets.token_hex(4), clean=False)
    made.append(dev)
    dev.connect(will={"topic": t, "payload": b"now", "qos": 1})
    dev.drop()
    assert watcher.expect(1, timeout=1.5)[0].payload == b"now"


def test_a_waiting_will_survives_a_restart_and_a_kill_9(tmp_path_factory, made):
    store = tmp_path_factory.mktemp("wd-store")
    proc = file_store_router(tmp_path_factory, "wdrestart", store)
    proc.start()
    try:
        wait_mqtt(proc)
        # Offline with its will waiting (retained, so a later subscriber sees it).
        t1 = topic_of("wd-restart")
        dev = connect_v5(made, proc.mqtt_port, "wd-r1-" + secrets.token_hex(4), 300,
                         delayed_will(t1, b"after-restart", 3, retain=True))
        dev.drop()
        time.sleep(0.3)
        proc.terminate()
        assert proc.wait(15) == 0
        proc.start()
        wait_mqtt(proc)
        w = Mqtt(proc.mqtt_port, V5).connect()
        made.append(w)
        w.subscribe(t1, 1)
        (m,) = w.expect(1, timeout=8)
        assert m.payload == b"after-restart"
        # Connected when the router is killed: its will is due its delay
        # after the next start.
        t2 = topic_of("wd-kill")
        cid = "wd-k-" + secrets.token_hex(4)
        connect_v5(made, proc.mqtt_port, cid, 300, delayed_will(t2, b"after-kill", 1, retain=True))
        time.sleep(0.3)
        proc.kill()
        proc.start()
        wait_mqtt(proc)
        w = Mqtt(proc.mqtt_port, V5).connect()
        made.append(w)
        w.subscribe(t2, 1)
        (m,) = w.expect(1, timeout=8)
        assert m.payload == b"after-kill"
        # The session itself is still there; a reconnect finds no new will.
        back = connect_v5(made, proc.mqtt_port, cid, 300)
        assert back.session_present
    finally:
        proc.kill()


def test_a_resume_after_a_restart_cancels_the_stored_will(tmp_path_factory, made):
    store = tmp_path_factory.mktemp("wd-store2")
    proc = file_store_router(tmp_path_factory, "wdresume", store)
    proc.start()
    try:
        wait_mqtt(proc)
        t = topic_of("wd-resume")
        cid = "wd-rs-" + secrets.token_hex(4)
        dev = connect_v5(made, proc.mqtt_port, cid, 300, delayed_will(t, b"x", 4, retain=True))
        dev.drop()
        time.sleep(0.3)
        proc.terminate()
        assert proc.wait(15) == 0
        proc.start()
        wait_mqtt(proc)
        back = connect_v5(made, proc.mqtt_port, cid, 300)
        assert back.session_present
        time.sleep(4.5)
        w = Mqtt(proc.mqtt_port, V5).connect()
        made.append(w)
        w.subscribe(t, 1)
        w.nothing(1.0)
    finally:
        proc.kill()


@pytest.fixture
def bounded(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("sessbound"),
                         junction={"mqtt_offline_store_sessions": 2})
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["junction"] = {"sys_interval": 1}
    proc.start()
    yield proc
    proc.kill()


def test_persistent_sessions_are_bounded_node_wide(bounded, made):
    port = bounded.mqtt_port
    a, b = "bound-a-" + secrets.token_hex(3), "bound-b-" + secrets.token_hex(3)
    connect_v5(made, port, a, 300).close()
    m = Mqtt(port, V311, client_id=b, clean=False)
    made.append(m)
    m.connect().close()
    # Both are offline now: a third persistent session is refused, both versions.
    m, p = v5_session(port, "bound-c-" + secrets.token_hex(3), 300)
    made.append(m)
    m.connect(properties=p)
    assert m.connack_code.value == 0x97, m.connack_code
    assert m.disconnected.wait(TIMEOUT), "the refused connection is closed"
    m.c.loop_stop()  # paho would try again (and get in once there is room)
    m = Mqtt(port, V311, client_id="bound-d-" + secrets.token_hex(3), clean=False)
    made.append(m)
    m.connect()
    # Return code 3, server unavailable (paho reports it as 0x88).
    assert m.connack_code.value == 0x88, m.connack_code
    m.c.loop_stop()
    # Connections without a session are not counted.
    for v in (V5, V311):
        m = Mqtt(port, v)
        made.append(m)
        m.connect()
        assert m.connack_code.value == 0
    # $SYS reports the count.
    m.subscribe("$SYS/broker/sessions/persistent", 0)
    assert m.expect(1, timeout=3)[0].payload == b"2"
    # Resuming a kept session is never refused.
    again = connect_v5(made, port, a, 300)
    assert again.connack_code.value == 0 and again.session_present
    # Ending one (clean start, no expiry) makes room for a new one.
    again.close()
    connect_v5(made, port, a, 0, clean=True).close()
    time.sleep(0.3)
    m = connect_v5(made, port, "bound-e-" + secrets.token_hex(3), 300)
    assert m.connack_code.value == 0


# --- MQTT 5 limits both ways, with real clients -----------------------------------


def test_v5_topic_alias_above_the_maximum_is_0x94(router, made):
    c = Mqtt(router.mqtt_port, V5).connect()
    made.append(c)
    assert c.connack_props.TopicAliasMaximum == 64
    c.c.publish(topic_of("alias"), b"x", qos=0, properties=props(TopicAlias=65))
    assert c.disconnected.wait(TIMEOUT)
    assert c.disconnect_reason == 0x94


def test_v5_the_clients_maximum_packet_size_is_respected(router, made):
    t = topic_of("mps")
    cp = Properties(PacketTypes.CONNECT)
    cp.MaximumPacketSize = 200
    sub = Mqtt(router.mqtt_port, V5)
    made.append(sub)
    sub.connect(properties=cp)
    sub.subscribe(t, 1)
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    pub.publish(t, b"s" * 50, qos=1)
    pub.publish(t, b"L" * 500, qos=1)
    pub.publish(t, b"t" * 60, qos=1)
    got = sub.expect(2)
    assert [m.payload for m in got] == [b"s" * 50, b"t" * 60], "the large one is not sent"
    sub.nothing(0.3)
    assert not sub.disconnected.is_set()


def test_v5_message_expiry_of_queued_messages(router, made):
    t = topic_of("expiry")
    cid = "exp-" + secrets.token_hex(4)
    sub = connect_v5(made, router.mqtt_port, cid, 300)
    sub.subscribe(t, 1)
    sub.close()
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    pub.publish(t, b"short", qos=1, properties=props(MessageExpiryInterval=1))
    pub.publish(t, b"long", qos=1, properties=props(MessageExpiryInterval=60))
    time.sleep(2.2)
    back = connect_v5(made, router.mqtt_port, cid, 300)
    assert back.session_present
    (m,) = back.expect(1)
    assert m.payload == b"long", "the expired one is not sent"
    assert 55 <= m.properties.MessageExpiryInterval <= 58, "sent with the time it has left"
    back.nothing(0.3)


@pytest.fixture
def limited(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("mqttlimits"))
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["junction"] = {
                "max_keep_alive": 5,
                "max_subscriptions": 2,
                "max_inflight": 2,
                "max_topic_levels": 3,
            }
    proc.start()
    yield proc
    proc.kill()


def test_listener_limits_with_real_clients(limited, made):
    port = limited.mqtt_port
    # Server Keep Alive: a longer (or no) keep-alive gets the cap.
    c = Mqtt(port, V5)
    made.append(c)
    c.connect(keepalive=60)
    assert c.connack_props.ServerKeepAlive == 5
    assert c.connack_props.ReceiveMaximum == 2
    # max_subscriptions: the third filter is refused, both versions.
    for version, refused in ((V5, 0x97), (V311, 0x80)):
        m = Mqtt(port, version).connect()
        made.append(m)
        m.subscribe(topic_of("lim"), 0)
        m.subscribe(topic_of("lim"), 0)
        (code,) = m.subscribe(topic_of("lim"), 0)
        assert (code if isinstance(code, int) else code.value) == refused
    # max_topic_levels: a topic with 4 levels ends the connection (5.0: 0x90).
    c.c.publish("a/b/c/d", b"x", qos=0)
    assert c.disconnected.wait(TIMEOUT)
    assert c.disconnect_reason == 0x90


def test_inbound_receive_maximum_is_enforced(limited):
    # Raw 5.0 client: QoS 2 PUBLISHes stay in flight until PUBREL; a third
    # over Receive Maximum 2 gets DISCONNECT 0x93.
    with socket.create_connection(("127.0.0.1", limited.mqtt_port), timeout=TIMEOUT) as s:
        s.sendall(raw_connect_packet("rm-" + secrets.token_hex(3), 5, True))
        assert read_packet(s)[0] == 0x20
        def publish(pid: int) -> None:
            body = struct.pack(">H", 3) + b"a/b" + struct.pack(">H", pid) + b"\x00" + b"x"
            s.sendall(b"\x34" + bytes([len(body)]) + body)

        for pid in (1, 2):
            publish(pid)
            assert read_packet(s)[:4] == b"\x50\x02" + struct.pack(">H", pid), "PUBREC"
        publish(3)
        got = read_packet(s)
        assert got[0] == 0xE0 and got[2] == 0x93, got


def test_the_clients_receive_maximum_bounds_what_is_in_flight(router, made):
    t = topic_of("rmout")
    with socket.create_connection(("127.0.0.1", router.mqtt_port), timeout=TIMEOUT) as s:
        # CONNECT 5.0 with Receive Maximum 2.
        cid = ("rmo-" + secrets.token_hex(3)).encode()
        props_ = b"\x21\x00\x02"
        body = b"\x00\x04MQTT\x05\x02\x00\x3c" + bytes([len(props_)]) + props_
        body += struct.pack(">H", len(cid)) + cid
        s.sendall(b"\x10" + bytes([len(body)]) + body)
        assert read_packet(s)[0] == 0x20
        s.sendall(raw_subscribe(t, 1, 5))
        assert read_packet(s)[0] == 0x90
        pub = Mqtt(router.mqtt_port, V5).connect()
        made.append(pub)
        for i in range(4):
            pub.publish(t, f"m{i}".encode(), qos=1)
        first = [read_packet(s) for _ in range(2)]
        s.settimeout(0.7)
        with pytest.raises(TimeoutError):
            s.recv(1)
        s.settimeout(TIMEOUT)
        # PUBACK one: one more comes.
        pid = packet_id_of(first[0], V5)
        s.sendall(b"\x40\x02" + struct.pack(">H", pid))
        third = read_packet(s)
        assert third[-2:] == b"m2"
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(1)


# --- TLS client certificates: the transport's `tls` authentication ----------------


@pytest.fixture(scope="module")
def cert_router(tmp_path_factory):
    from routerproc import ALLOW_ALL, free_port
    from tlshelpers import Pki

    pki = Pki(tmp_path_factory.mktemp("mqtt-pki"))
    alice = pki.client("alice")
    port = free_port()

    def perm(prefix: str) -> dict:
        return {"uri": prefix, "match": "prefix", "allow": dict(ALLOW_ALL), "disclose": {}, "cache": True}

    roles = [
        {"name": "user", "permissions": [perm("")]},
        {"name": "device", "permissions": [perm("dev.")]},
        {"name": "anonymous", "permissions": [perm("pub.")]},
    ]
    auth = {
        "tls": {
            "type": "static",
            "principals": {"alice": {"certificate-sha1": alice[2], "role": "user"}},
            "junction": {"authid": "cn", "role": "device"},
        },
        "ticket": {"type": "static", "principals": {"joe": {"ticket": "joe-secret", "role": "user"}}},
        "anonymous": {"type": "static", "role": "anonymous"},
    }
    mqtts = {
        "type": "mqtt",
        "id": "mqtts_auth",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port, "tls": pki.endpoint_tls("optional")},
        "options": {"realm": "realm1", "payload_mapping": {"": {"type": "passthrough"}}, "auth": auth},
    }
    config = {
        "version": 2,
        "controller": {},
        "workers": [{"type": "router", "realms": [{"name": "realm1", "roles": roles}], "transports": [mqtts]}],
    }
    proc = RouterProcess(tmp_path_factory.mktemp("mqtt-certs"), config=config, wait_ports=[port]).start()
    proc.tls_port = port
    proc.pki = pki
    proc.alice = alice
    yield proc
    proc.kill()


def tls_client(router, version, cert=None, user=None) -> Mqtt:
    m = Mqtt(router.tls_port, version)
    m.c.tls_set(
        ca_certs=str(router.pki.ca_path),
        certfile=str(cert[0]) if cert else None,
        keyfile=str(cert[1]) if cert else None,
    )
    if user:
        m.c.username_pw_set(*user)
    m.c.connect("localhost", router.tls_port)
    m.c.loop_start()
    assert m.connack.wait(TIMEOUT), "no CONNACK"
    return m


def granted(m: Mqtt, topic: str) -> bool:
    (code,) = m.subscribe(topic, 1)
    value = code if isinstance(code, int) else code.value
    return value < 0x80


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_tls_client_certificates_log_in_with_the_tls_method(cert_router, made, version):
    # A listed certificate: its principal's role (everything).
    m = tls_client(cert_router, version, cert=cert_router.alice)
    made.append(m)
    assert m.connack_code.value == 0
    assert granted(m, "any/topic")
    # Another certificate of the CA: authid from its CN, role `device`.
    device = cert_router.pki.client("device-9")
    m = tls_client(cert_router, version, cert=device)
    made.append(m)
    assert granted(m, "dev/9/status")
    assert not granted(m, "any/topic")
    # It wins over a user name and password in the same CONNECT.
    m = tls_client(cert_router, version, cert=device, user=("joe", "joe-secret"))
    made.append(m)
    assert not granted(m, "any/topic")
    # Without a certificate: ticket, else anonymous, as before.
    m = tls_client(cert_router, version, user=("joe", "joe-secret"))
    made.append(m)
    assert granted(m, "any/topic")
    m = tls_client(cert_router, version)
    made.append(m)
    assert granted(m, "pub/x")
    assert not granted(m, "dev/9/status")


# --- shared subscription strategies ------------------------------------------------


@pytest.fixture(params=["sticky", "random"])
def shared_router(request, tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp(f"share-{request.param}"))
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["junction"] = {"shared_subscriptions": request.param}
    proc.start()
    proc.strategy = request.param
    yield proc
    proc.kill()


def drain(m: Mqtt, quiet: float = 0.5) -> list:
    got = []
    while True:
        try:
            got.append(m.messages.get(timeout=quiet))
        except Exception:
            return got


def test_shared_subscription_strategies(shared_router, made):
    """Every message goes to exactly one member; `sticky` sends all messages
    of one publisher to the same member."""
    port = shared_router.mqtt_port
    group = "g" + secrets.token_hex(3)
    t = topic_of("strategy")
    members = []
    for _ in range(3):
        m = Mqtt(port, V5).connect()
        made.append(m)
        m.subscribe(f"$share/{group}/{t}", 1)
        members.append(m)
    time.sleep(0.3)  # the joins travel to the group's shard
    pubs = []
    for p in range(4):
        pub = Mqtt(port, V5).connect()
        made.append(pub)
        pubs.append(pub)
    n = 10
    for i in range(n):
        for p, pub in enumerate(pubs):
            pub.publish(t, f"p{p}-{i}".encode(), qos=1)
    got = [[m.payload.decode() for m in drain(member)] for member in members]
    every = sorted(x for g in got for x in g)
    assert every == sorted(f"p{p}-{i}" for p in range(4) for i in range(n)), "each exactly once"
    if shared_router.strategy == "sticky":
        for p in range(4):
            holders = [k for k, g in enumerate(got) if any(x.startswith(f"p{p}-") for x in g)]
            assert len(holders) == 1, f"publisher {p} spread over members {holders}"
    else:
        # 40 messages over 3 members at random: all three get some (p of a
        # member getting none: 3 * (2/3)^40, about 3e-7).
        assert all(len(g) > 0 for g in got), [len(g) for g in got]


# --- MQTT 5 request/response answered by WAMP procedures ---------------------------


@pytest.fixture
def rr_router(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("reqresp"))
    for t in proc.config["workers"][0]["transports"]:
        if t["type"] == "mqtt":
            t["junction"] = {"request_response": True}
    proc.start()
    yield proc
    proc.kill()


async def test_v5_request_answered_by_a_wamp_procedure(rr_router, made):
    import asyncio

    from autobahn.wamp.exception import ApplicationError

    from conftest import Clients

    pool = Clients(rr_router)
    try:
        wamp = await pool("ws", "json")
        base = "rr" + secrets.token_hex(3)

        def echo(data):
            return "pong:" + data.decode()

        def fail(data):
            raise ApplicationError("com.example.too_hot", "it is", 42)

        await wamp.register(echo, f"{base}.echo")
        await wamp.register(fail, f"{base}.fail")

        def scenario():
            req = Mqtt(rr_router.mqtt_port, V5).connect()
            made.append(req)
            reply = f"{base}/reply/{secrets.token_hex(2)}"
            req.subscribe(reply, 1)
            # An MQTT subscriber of the request topic still gets the request.
            watcher = Mqtt(rr_router.mqtt_port, V5).connect()
            made.append(watcher)
            watcher.subscribe(f"{base}/echo", 1)
            req.publish(f"{base}/echo", b"hi", qos=1,
                        properties=props(ResponseTopic=reply, CorrelationData=b"c-1"))
            (m,) = req.expect(1)
            assert m.payload == b"pong:hi"
            assert m.properties.CorrelationData == b"c-1"
            assert m.qos == 1
            assert watcher.expect(1)[0].payload == b"hi"
            # A call error: the error URI as a User Property, its payload.
            req.publish(f"{base}/fail", b"x", qos=0,
                        properties=props(ResponseTopic=reply, CorrelationData=b"c-2"))
            (m,) = req.expect(1)
            assert m.properties.CorrelationData == b"c-2"
            assert ("wamp_error", "com.example.too_hot") in m.properties.UserProperty
            assert json.loads(m.payload) == {"args": ["it is", 42]}
            # No procedure: nothing comes back (an MQTT responder may answer).
            req.publish(f"{base}/nobody", b"x", qos=1,
                        properties=props(ResponseTopic=reply, CorrelationData=b"c-3"))
            req.nothing(0.7)
            # Without a Response Topic nothing is called.
            req.publish(f"{base}/echo", b"plain", qos=1)
            req.nothing(0.5)

        await asyncio.to_thread(scenario)
    finally:
        await pool.close_all()


async def test_requests_are_not_calls_unless_the_listener_says_so(router, clients, made):
    """The shared router has no `request_response`: a request to a topic
    with a registered procedure is only published, the procedure not called."""
    import asyncio

    base = "rrno" + secrets.token_hex(3)
    called = []
    wamp = await clients("ws", "json")
    await wamp.register(lambda data: called.append(data) or "pong", f"{base}.echo")

    def scenario():
        req = Mqtt(router.mqtt_port, V5).connect()
        made.append(req)
        reply = f"{base}/reply"
        req.subscribe(reply, 1)
        req.publish(f"{base}/echo", b"hi", qos=1, properties=props(ResponseTopic=reply))
        req.nothing(0.5)

    await asyncio.to_thread(scenario)
    assert called == []


# --- more of the points with real clients ----------------------------------


def test_v5_disconnect_carries_a_reason_string(router, made):
    c = Mqtt(router.mqtt_port, V5).connect()
    made.append(c)
    got = {}

    def on_disconnect(cl, u, flags, rc, p):
        got["reason"] = rc.value
        got["string"] = getattr(p, "ReasonString", None)
        c.disconnected.set()

    c.c.on_disconnect = on_disconnect
    c.c.publish(topic_of("alias"), b"x", qos=0, properties=props(TopicAlias=65))
    assert c.disconnected.wait(TIMEOUT)
    assert got == {"reason": 0x94, "string": "topic alias above the maximum"}


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_wrong_password_is_refused(cert_router, made, version):
    m = tls_client(cert_router, version, user=("joe", "wrong"))
    made.append(m)
    # 5.0: 0x86; 3.1.1: return code 4 (paho reports it as 0x86 too).
    assert m.connack_code.value == 0x86


def test_overlapping_subscriptions_follow_the_spec(router, made):
    """MQTT-3.3.4-2: the message reaches the client at the highest QoS of
    its matching subscriptions; further copies are allowed, each with the
    identifiers of the subscriptions it stands for (MQTT-3.3.4-4/-5)."""
    base = topic_of("overlap")
    sub = Mqtt(router.mqtt_port, V5).connect()
    made.append(sub)
    granted = {}
    for i, (f, qos) in enumerate(((f"{base}/+", 0), (f"{base}/#", 1), (f"{base}/x", 2)), 1):
        p = Properties(PacketTypes.SUBSCRIBE)
        p.SubscriptionIdentifier = i
        sub.subscribe(f, options=SubscribeOptions(qos=qos), properties=p)
        granted[i] = qos
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    pub.publish(f"{base}/x", b"one", qos=2)
    copies = drain(sub, 0.7)
    assert copies and all(m.payload == b"one" for m in copies)
    assert max(m.qos for m in copies) == 2, "at the highest QoS of the matches"
    ids = [i for m in copies for i in m.properties.SubscriptionIdentifier]
    assert sorted(ids) == [1, 2, 3], "every identifier, each once"
    for m in copies:
        assert m.qos <= max(granted[i] for i in m.properties.SubscriptionIdentifier)
    # 3.1.1: the highest QoS too.
    sub3 = Mqtt(router.mqtt_port, V311).connect()
    made.append(sub3)
    sub3.subscribe(f"{base}/+", 0)
    sub3.subscribe(f"{base}/#", 1)
    pub.publish(f"{base}/y", b"two", qos=1)
    copies = drain(sub3, 0.7)
    assert 1 <= len(copies) <= 2 and max(m.qos for m in copies) == 1


def test_v311_overlapping_subscriptions_of_one_qos_give_one_copy(router, made):
    """3.1.1 has no subscription identifiers to tell copies apart: a device
    subscribed to ``cmd/#`` and ``cmd/dev1`` gets a command once (as from
    mosquitto), not once per subscription; 5.0 keeps its copies."""
    base = topic_of("one-copy")
    sub = Mqtt(router.mqtt_port, V311).connect()
    made.append(sub)
    for f in (f"{base}/#", f"{base}/dev1", f"{base}/+"):
        sub.subscribe(f, 1)
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    for n in range(3):
        pub.publish(f"{base}/dev1", b"toggle %d" % n, qos=1)
    got = drain(sub, 0.7)
    assert [(m.payload, m.qos) for m in got] == [(b"toggle %d" % n, 1) for n in range(3)]
    # QoS 0 publications the same way.
    pub.publish(f"{base}/dev1", b"q0", qos=0)
    assert [(m.payload, m.qos) for m in drain(sub, 0.7)] == [(b"q0", 0)]
    # An offline 3.1.1 session queues one copy too.
    cid = f"one-copy-{base[-8:]}"
    away = Mqtt(router.mqtt_port, V311, client_id=cid, clean=False).connect()
    made.append(away)
    for f in (f"{base}/#", f"{base}/dev1"):
        away.subscribe(f, 1)
    away.drop()
    pub.publish(f"{base}/dev1", b"queued", qos=1)
    back = Mqtt(router.mqtt_port, V311, client_id=cid, clean=False).connect()
    made.append(back)
    assert [m.payload for m in drain(back, 0.7)] == [b"queued"]


def test_v5_retain_handling_1_sends_retained_only_to_a_new_subscription(router, made):
    t = topic_of("rh1")
    pub = Mqtt(router.mqtt_port, V5).connect()
    made.append(pub)
    pub.publish(t, b"kept", qos=1, retain=True)
    sub = Mqtt(router.mqtt_port, V5).connect()
    made.append(sub)
    sub.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=1))
    assert sub.expect(1)[0].payload == b"kept"
    sub.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=1))
    sub.nothing(0.5)
    sub.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=0))
    assert sub.expect(1)[0].payload == b"kept", "Retain Handling 0: at every subscribe"


def test_queue_overflow_drop_oldest_and_max_connections(tmp_path_factory, made):
    proc = RouterProcess(tmp_path_factory.mktemp("qoldest"))
    for tr in proc.config["workers"][0]["transports"]:
        if tr["type"] == "mqtt":
            tr["junction"] = {"max_queued_messages": 3, "queue_overflow": "drop_oldest", "max_connections": 3}
    proc.start()
    try:
        wait_mqtt(proc)
        cid = "oldest-" + secrets.token_hex(4)
        t = topic_of("oldest")
        sub = Mqtt(proc.mqtt_port, V311, client_id=cid, clean=False)
        made.append(sub)
        sub.connect()
        sub.subscribe(t, 1)
        sub.close()
        assert sub.disconnected.wait(TIMEOUT)
        time.sleep(0.3)
        pub = Mqtt(proc.mqtt_port, V311).connect()
        made.append(pub)
        for i in range(6):
            pub.publish(t, f"o{i}".encode(), qos=1)
        again = Mqtt(proc.mqtt_port, V311, client_id=cid, clean=False)
        made.append(again)
        again.connect()
        got = again.expect(3)
        assert [m.payload for m in got] == [b"o3", b"o4", b"o5"], "drop_oldest keeps the newest"
        # Two connections held (pub, again): one more fits, the fourth is closed.
        third = Mqtt(proc.mqtt_port, V311).connect()
        made.append(third)
        with socket.create_connection(("127.0.0.1", proc.mqtt_port), timeout=TIMEOUT) as s:
            s.sendall(raw_connect_packet("fourth", 4, True))
            try:
                answer = s.recv(4)
            except ConnectionResetError:
                answer = b""
            assert answer == b"", "closed at max_connections, no CONNACK"
    finally:
        proc.kill()


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_client_identifier_over_the_authid_limit_is_rejected_as_such(router, made, version):
    # Without a user name the client identifier is the WAMP authid, bounded
    # by junction.auth.max_authid_len (256 bytes): over it, CONNACK 0x85
    # (3.1.1: 2, identifier rejected), not "server unavailable".
    m = Mqtt(router.mqtt_port, version, client_id="c" * 257)
    m.connect()
    made.append(m)
    assert m.connack_code.value == 0x85, m.connack_code
    ok = Mqtt(router.mqtt_port, version, client_id="c" * 256).connect()
    made.append(ok)
    assert ok.connack_code.value == 0
    # With a user name, the user name is the authid (the client identifier
    # is not): one over the limit is a bad user name (0x86; 3.1.1: 4).
    named = Mqtt(router.mqtt_port, version, client_id="d" * 1000)
    named.c.username_pw_set("u" * 257, "pw")
    named.connect()
    made.append(named)
    assert named.connack_code.value == 0x86, named.connack_code

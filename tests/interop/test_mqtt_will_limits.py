"""MQTT 5 Will Delay Interval and the node's bound on persistent sessions
(paho-mqtt): a delayed will is cancelled by a reconnect to the session within
the delay, published after the delay otherwise (not before), published when
the session ends first (expiry, clean start), kept across a router restart
and a ``kill -9`` for sessions in a file store; ``mqtt_offline_store_sessions``
refuses a new persistent session with CONNACK 0x97 (3.1.1: 3) and never a
resumption."""

from __future__ import annotations

import secrets
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttclient import TIMEOUT, V5, V311, Mqtt
from routerproc import RouterProcess
from test_mqtt_sessions import file_store_router, wait_mqtt

pytestmark = pytest.mark.junction_only


def topic_of(prefix: str) -> str:
    return f"{prefix}/{secrets.token_hex(4)}"


@pytest.fixture
def made():
    clients: list[Mqtt] = []
    yield clients
    for c in clients:
        try:
            c.close()
        except Exception:
            pass


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
                         junction={"mqtt_offline_store_sessions": 2}).start()
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
    m = Mqtt(port, V311, client_id="bound-d-" + secrets.token_hex(3), clean=False)
    made.append(m)
    m.connect()
    # Return code 3, server unavailable (paho reports it as 0x88).
    assert m.connack_code.value == 0x88, m.connack_code
    # Connections without a session are not counted.
    for v in (V5, V311):
        m = Mqtt(port, v)
        made.append(m)
        m.connect()
        assert m.connack_code.value == 0
    # Resuming a kept session is never refused.
    again = connect_v5(made, port, a, 300)
    assert again.connack_code.value == 0 and again.session_present
    # Ending one (clean start, no expiry) makes room for a new one.
    again.close()
    connect_v5(made, port, a, 0, clean=True).close()
    time.sleep(0.3)
    m = connect_v5(made, port, "bound-e-" + secrets.token_hex(3), 300)
    assert m.connack_code.value == 0

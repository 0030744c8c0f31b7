"""A small synchronous wrapper around paho-mqtt (2.x) for the MQTT tests:
connect with either protocol version, subscribe, publish and wait for what
arrives, with timeouts instead of sleeps."""

from __future__ import annotations

import queue
import socket
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0
V311 = paho.MQTTv311
V5 = paho.MQTTv5


class Mqtt:
    """One paho client on its own network thread."""

    def __init__(
        self,
        port: int,
        version=V311,
        client_id: str = "",
        clean: bool = True,
        ws_path: str | None = None,
        **kw,
    ):
        """``ws_path``: MQTT over WebSocket at that HTTP path (subprotocol ``mqtt``)."""
        self.version = version
        self.messages: queue.Queue = queue.Queue()
        self.connack = threading.Event()
        self.connack_code = None
        self.connack_props = None
        self.session_present = None
        self.disconnected = threading.Event()
        self.disconnect_reason = None
        self.subacks: queue.Queue = queue.Queue()
        self.acks: queue.Queue = queue.Queue()
        self.c = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=version,
            **({"clean_session": clean} if version != V5 else {}),
            **({"transport": "websockets"} if ws_path else {}),
        )
        if ws_path:
            self.c.ws_set_options(path=ws_path)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put((mid, codes))
        self.c.on_publish = lambda c, u, mid, rc, props: self.acks.put((mid, rc))
        self.c.on_disconnect = self._on_disconnect
        self.port = port
        self.kw = kw

    def _on_connect(self, c, u, flags, rc, props):
        self.session_present = getattr(flags, "session_present", None)
        self.connack_code = rc
        self.connack_props = props
        self.connack.set()

    def _on_disconnect(self, c, u, flags, rc, props):
        self.disconnect_reason = rc
        self.disconnected.set()

    def connect(self, keepalive: int = 30, properties=None, will=None, wait: bool = True):
        if will:
            self.c.will_set(**will)
        kwargs = {"keepalive": keepalive}
        if self.version == V5:
            kwargs["clean_start"] = self.kw.get("clean_start", True)
            if properties is not None:
                kwargs["properties"] = properties
        self.c.connect("127.0.0.1", self.port, **kwargs)
        self.c.loop_start()
        if wait:
            assert self.connack.wait(TIMEOUT), "no CONNACK"
        return self

    def subscribe(self, topic: str, qos: int = 0, options=None, properties=None):
        if self.version == V5:
            opts = options or paho.SubscribeOptions(qos=qos)
            _, mid = self.c.subscribe(topic, options=opts, properties=properties)
        else:
            _, mid = self.c.subscribe(topic, qos)
        got_mid, codes = self.subacks.get(timeout=TIMEOUT)
        assert got_mid == mid
        return codes

    def sync(self) -> None:
        """Returns once the broker has read everything this client sent so
        far (its PUBACKs included): a SUBSCRIBE's SUBACK comes after the
        packets before it, which an MQTT server handles in order. The short
        pause lets paho's network thread send the acknowledgement of a
        message that ``expect`` just returned."""
        time.sleep(0.05)
        self.subscribe(f"junction-test/sync/{id(self)}", 0)

    def publish(self, topic: str, payload, qos: int = 0, retain: bool = False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos > 0:
            info.wait_for_publish(TIMEOUT)
            assert info.is_published(), "no acknowledgement"
        return info

    def expect(self, n: int = 1, timeout: float = TIMEOUT) -> list:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        assert len(out) == n, f"expected {n} messages, got {[(m.topic, m.payload) for m in out]}"
        return out

    def nothing(self, wait: float = 0.5) -> None:
        try:
            m = self.messages.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message {m.topic} {m.payload!r}")

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()

    def drop(self):
        """Ends the connection without DISCONNECT (the will fires)."""
        self.c.loop_stop()
        self.c.socket().shutdown(socket.SHUT_RDWR)
        self.c.socket().close()


def props(**values) -> Properties:
    p = Properties(PacketTypes.PUBLISH)
    for k, v in values.items():
        setattr(p, k, v)
    return p


def raw_connect(port: int, packet: bytes, read: int = 64, timeout: float = 5.0) -> bytes:
    """Sends raw bytes and returns what comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(packet)
        data = b""
        try:
            while len(data) < read:
                chunk = s.recv(read)
                if not chunk:
                    break
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return data


def pool(make_one):
    """``(make, made)``: ``make`` builds a client with ``make_one`` and keeps
    it in ``made``; a fixture yields ``make`` and then calls
    :func:`close_all` on ``made``."""
    made: list = []

    def make(*args, **kw):
        m = make_one(*args, **kw)
        made.append(m)
        return m

    return make, made


def close_all(made: list) -> None:
    """Closes every client a test opened, ignoring those already gone."""
    for m in made:
        try:
            m.close()
        except Exception:
            pass


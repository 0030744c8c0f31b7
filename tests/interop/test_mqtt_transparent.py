"""MQTT `passthrough` in Crossbar's form (`"junction": {"transparent": true}`
on the mapping entry): an MQTT payload reaches WAMP subscribers as a
payload-transparency event (`enc_algo: "mqtt"`), which an Autobahn|Python
session decodes with its payload codec, as crossbar-examples
mqtt/basic/passthrough's WAMP client does; a codec's publication reaches
MQTT subscribers as its bytes. Other prefixes keep Junction's default
(one binary argument). paho-mqtt on the MQTT side.

Junction only: the option is Junction's (Crossbar has this form alone)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from autobahn.wamp.interfaces import IPayloadCodec
from autobahn.wamp.types import EncodedPayload, PublishOptions, SubscribeOptions

from mqttclient import Mqtt
from routerproc import IS_JUNCTION, RouterProcess
from wampclient import connect

pytestmark = pytest.mark.skipif(not IS_JUNCTION, reason="a Junction option")

#: The example's binary form: unsigned short, signed int, 8 bytes.
FORMAT = ">Hl8s"


class Codec:
    """Crossbar's example codec: (pid, seq, 8 bytes) <-> the packed bytes.
    Records what it decoded."""

    def __init__(self):
        self.decoded = []

    def encode(self, is_originating, uri, args=None, kwargs=None):
        return EncodedPayload(struct.pack(FORMAT, *args), "mqtt")

    def decode(self, is_originating, uri, encoded_payload):
        assert encoded_payload.enc_algo == "mqtt"
        self.decoded.append(encoded_payload.payload)
        return uri, list(struct.unpack(FORMAT, encoded_payload.payload)), None


IPayloadCodec.register(Codec)


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    proc = RouterProcess(tmp_path_factory.mktemp("transparent"))
    for t in proc.config["workers"][0]["transports"]:
        if t.get("id") == "mqtt_main":
            t["options"]["payload_mapping"] = {
                "": {"type": "passthrough"},
                "mqtt.": {"type": "passthrough", "junction": {"transparent": True}},
            }
    proc.start()
    yield proc
    proc.kill()


async def test_mqtt_payload_reaches_a_codec_and_back(router):
    wamp = await connect(router, "rs", "msgpack")
    codec = Codec()
    wamp.set_payload_codec(codec)
    events = asyncio.Queue()
    await wamp.subscribe(
        lambda *args, details=None: events.put_nowait((list(args), details)),
        "mqtt.test.t1",
        options=SubscribeOptions(details=True),
    )
    device = Mqtt(router.mqtt_port).connect()
    try:
        device.subscribe("mqtt/test/t1")
        raw = struct.pack(FORMAT, 7, -3, b"\x00\x01abcdef")
        device.publish("mqtt/test/t1", raw, qos=1)
        args, _ = await asyncio.wait_for(events.get(), 10)
        assert args == [7, -3, b"\x00\x01abcdef"], "decoded by the codec"
        assert codec.decoded == [raw], "the MQTT bytes untouched, enc_algo mqtt"
        assert device.expect(1)[0].payload == raw, "MQTT to MQTT unchanged"
        # The codec's publication: its bytes reach the device as they are.
        await wamp.publish(
            "mqtt.test.t1", 9, 10, b"12345678", options=PublishOptions(acknowledge=True, exclude_me=True)
        )
        assert device.expect(1)[0].payload == struct.pack(FORMAT, 9, 10, b"12345678")
    finally:
        device.close()
        await wamp.close()


async def test_other_prefixes_keep_one_binary_argument(router):
    wamp = await connect(router, "ws", "json")
    events = asyncio.Queue()
    await wamp.subscribe(lambda *args: events.put_nowait(list(args)), "plain.t1")
    device = Mqtt(router.mqtt_port).connect()
    try:
        device.publish("plain/t1", b"21.5", qos=1)
        assert await asyncio.wait_for(events.get(), 10) == [b"21.5"]
    finally:
        device.close()
        await wamp.close()

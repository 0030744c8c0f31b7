"""WAMP side of the MQTT walkthrough: an application that receives what MQTT
devices publish under sensors/... and commands a device over MQTT.

Subscribes to every topic under ``sensors.`` (MQTT ``sensors/#``) over
WebSocket; for each reading it prints the topic and the payload (MQTT
payloads arrive as one binary argument) and, when a temperature is above
20, publishes ``on`` to ``devices.lamp.set`` (MQTT ``devices/lamp/set``).

Run a router (``junction start``: MQTT on 127.0.0.1:1883), then
``python examples/python/sensors.py`` and publish with mosquitto_pub.
"""

import os

from autobahn.asyncio.component import Component, run
from autobahn.wamp.types import SubscribeOptions

WS_URL = os.environ.get("JUNCTION_WS_URL", "ws://127.0.0.1:8080/ws")

component = Component(
    transports=[{"type": "websocket", "url": WS_URL, "serializers": ["cbor"]}],
    realm="realm1",
)


@component.on_join
async def joined(session, details):
    async def reading(payload, details=None):
        print(f"sensors: {details.topic} = {payload.decode()}", flush=True)
        if details.topic.endswith(".temp") and float(payload) > 20:
            session.publish("devices.lamp.set", b"on")
            print("sensors: too warm, lamp on", flush=True)

    await session.subscribe(
        reading, "sensors.", options=SubscribeOptions(match="prefix", details=True)
    )
    print("sensors: subscribed to sensors/#", flush=True)


if __name__ == "__main__":
    run([component], log_level="warn")

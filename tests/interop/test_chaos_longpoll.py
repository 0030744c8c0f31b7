"""Long-poll sessions under churn: subscribers over HTTP long-poll (JSON and
MessagePack, batched or not) keep polling, others stop polling without a
word, others open and close again and again, while an Autobahn publisher
over WebSocket on the same port publishes.

A polling subscriber gets every event published after its SUBSCRIBED, in
order, none twice; the sessions whose clients stopped polling end with
their session timeout (1 s here), so afterwards only the publisher holds a
connection; nothing panics or logs an ERROR.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import requests
from autobahn.wamp.types import PublishOptions

from fuzzhelpers import clean_log, settled
from longpoll import lp_join
from routerproc import RouterProcess, free_port, web_node_config
from wampclient import connect

pytestmark = pytest.mark.junction_only

PROTOCOLS = ["wamp.2.json", "wamp.2.json.batched", "wamp.2.msgpack", "wamp.2.msgpack.batched"]
TOPIC = "com.lp.events"
EVENTS = 300


def config(port: int) -> dict:
    return web_node_config(
        port,
        {
            "ws": {"type": "websocket", "serializers": ["json"]},
            "lp": {"type": "longpoll", "options": {"request_timeout": 1, "session_timeout": 1}},
        },
    )


def subscribe(base: str, protocol: str):
    """A long-poll session on realm1 subscribed to TOPIC (after SUBSCRIBED)."""
    c, _ = lp_join(base, protocol, http=requests.Session())
    assert c.send([32, 1, {}, TOPIC]).status_code == 204
    subscribed = c.receive()
    assert subscribed[0] == 33, subscribed
    return c


async def test_longpoll_sessions_under_churn(tmp_path):
    port = free_port()
    router = RouterProcess(tmp_path, config=config(port), wait_ports=[port])
    router.ws_port = port
    router.start()
    base = f"http://127.0.0.1:{port}/lp"
    try:
        publisher = await connect(router, "ws", "json")
        stop = threading.Event()
        problems: list[str] = []
        got: dict[int, list[int]] = {}
        churned = [0]

        ready = threading.Semaphore(0)

        def steady(n: int) -> None:
            c = subscribe(base, PROTOCOLS[n % len(PROTOCOLS)])
            got[n] = []
            ready.release()
            while len(got[n]) < EVENTS:
                try:
                    msg = c.receive(timeout=5)
                except AssertionError:
                    problems.append(f"steady {n}: nothing for 5 s after {len(got[n])} events")
                    return
                if msg[0] == 36:
                    got[n].append(msg[4][0])
            c.close()

        def abandoner(n: int) -> None:
            while not stop.is_set():
                subscribe(base, PROTOCOLS[n % len(PROTOCOLS)])  # and never polls again
                stop.wait(0.2)

        def closer(n: int) -> None:
            while not stop.is_set():
                c = subscribe(base, PROTOCOLS[n % len(PROTOCOLS)])
                c.send([6, {}, "wamp.close.normal"])
                c.close()
                churned[0] += 1

        threads = [threading.Thread(target=steady, args=(n,)) for n in range(4)]
        threads += [threading.Thread(target=abandoner, args=(n,)) for n in range(2)]
        threads += [threading.Thread(target=closer, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for _ in range(4):  # the steady subscribers are in
            assert await asyncio.to_thread(ready.acquire, True, 30)
        for i in range(EVENTS):
            await publisher.publish(TOPIC, i, options=PublishOptions(acknowledge=True))
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.gather(*(asyncio.to_thread(t.join, 30) for t in threads))
        assert not problems, "\n".join(problems)
        for n, events in got.items():
            # Subscribed before the publishing began: every event, in order, once.
            assert events == list(range(EVENTS)), (n, events[:5], len(events))
        assert churned[0] > 20, churned
        # The abandoned sessions end with their 1 s session timeout.
        await settled(router, 1, within=15)
        await publisher.close()
        clean_log(router)
    finally:
        router.kill()

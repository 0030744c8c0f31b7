"""Hot reloads in a row under churn: twenty reloads alternate between a
config with realm2 and an extra listener and one without them, while
sessions keep joining realm2 (on the standard and on the extra listener),
subscribing, publishing and leaving, and two Autobahn sessions on realm1
keep publishing, receiving and calling.

Every reload succeeds; realm1's sessions see every event in order and every
call answered; a churning session always gets an answer (WELCOME, or ABORT
when realm2 is gone, or its connection refused or closed): never silence;
afterwards only the healthy sessions hold connections, and nothing panicked
or logged an ERROR.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess

import pytest
from autobahn.wamp.types import PublishOptions

from authhelpers import RawRs
from fuzzhelpers import clean_log, settled, status
from routerproc import RouterProcess, free_port
from wampclient import EventSink, connect

pytestmark = pytest.mark.junction_only

RELOADS = 20


def cli(router: RouterProcess, *args: str) -> subprocess.CompletedProcess:
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    sock = str(router.workdir / "run" / "junction.sock")
    return subprocess.run([binary, *args, "--socket", sock], capture_output=True, text=True, timeout=60)


async def reloads(router: RouterProcess, configs: tuple[dict, dict], pause: float) -> None:
    """``RELOADS`` reloads, alternating between ``configs`` (the first
    first), each written whole where the router reads its config; every
    reload must succeed."""
    path = router.workdir / "config.json"
    loop = asyncio.get_running_loop()
    for i in range(RELOADS):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(configs[i % 2], indent=2))
        os.replace(tmp, path)
        out = await loop.run_in_executor(None, cli, router, "reload")
        assert out.returncode == 0, out.stdout + out.stderr
        await asyncio.sleep(pause)


async def healthy_sessions(router: RouterProcess) -> tuple:
    """An Autobahn subscriber (and callee of ``com.healthy.echo``) over
    WebSocket and a publisher over RawSocket on realm1, and the subscriber's
    sink for ``com.healthy.events``."""
    subscriber = await connect(router, "ws", "msgpack")
    publisher = await connect(router, "rs", "json")
    await subscriber.register(lambda x: x, "com.healthy.echo")
    sink = EventSink()
    await subscriber.subscribe(sink, "com.healthy.events")
    return subscriber, publisher, sink


async def churn(port_of, stop: asyncio.Event, tally: dict, problems: list) -> None:
    """Sessions on realm2, one after another, until ``stop``."""
    n = 0
    while not stop.is_set():
        n += 1
        port = port_of(n)
        try:
            rs = await asyncio.wait_for(RawRs.connect("127.0.0.1", port), 5)
        except (OSError, RuntimeError, asyncio.IncompleteReadError):
            tally["refused"] += 1  # the extra listener is closed now
            await asyncio.sleep(0.01)
            continue
        except asyncio.TimeoutError:
            problems.append(f"no RawSocket handshake answer on port {port}")
            continue
        try:
            await rs.send([1, "realm2", {"roles": {"publisher": {}, "subscriber": {}}}])
            msg = await rs.recv(timeout=5)
            if msg[0] == 3:
                tally["aborted"] += 1
                continue
            if msg[0] != 2:
                problems.append(f"an answer to HELLO: {msg}")
                continue
            tally["welcomed"] += 1
            await rs.send([32, 1, {}, "com.churn.t"])
            published = False
            while True:
                msg = await rs.recv(timeout=5)
                if msg[0] in (3, 6):  # realm2 went away meanwhile: closed
                    tally["closed"] += 1
                    break
                if msg[0] == 33 and not published:
                    # Subscribed: now its own publication comes back to it.
                    published = True
                    await rs.send([16, 2, {"acknowledge": True, "exclude_me": False}, "com.churn.t", [n]])
                if msg[0] == 36:
                    tally["events"] += 1
                    await rs.send([6, {}, "wamp.close.normal"])
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            tally["closed"] += 1
        except asyncio.TimeoutError:
            problems.append(f"a session on port {port} got no answer within 5 s")
        finally:
            rs.close()


async def test_reloads_in_a_row_under_churn(tmp_path):
    router = RouterProcess(tmp_path)
    extra_port = free_port()
    with_realm2 = copy.deepcopy(router.config)
    with_realm2["workers"][0]["transports"].append(
        {
            "type": "rawsocket",
            "id": "rs_extra",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": extra_port},
            "serializers": ["json"],
        }
    )
    without = copy.deepcopy(router.config)
    without["workers"][0]["realms"] = [r for r in without["workers"][0]["realms"] if r["name"] != "realm2"]
    router.config = with_realm2
    router.start()
    try:
        subscriber, publisher, sink = await healthy_sessions(router)
        stop = asyncio.Event()
        tally = {"refused": 0, "aborted": 0, "welcomed": 0, "closed": 0, "events": 0}
        problems: list[str] = []
        churners = [
            asyncio.create_task(churn(lambda n: router.rs_port, stop, tally, problems)),
            asyncio.create_task(churn(lambda n: router.rs_port, stop, tally, problems)),
            asyncio.create_task(churn(lambda n: extra_port, stop, tally, problems)),
        ]
        sent = 0

        async def healthy() -> None:
            nonlocal sent
            while not stop.is_set():
                await publisher.publish("com.healthy.events", sent, options=PublishOptions(acknowledge=True))
                assert await publisher.call("com.healthy.echo", sent) == sent
                sent += 1
                await asyncio.sleep(0.01)

        traffic = asyncio.create_task(healthy())
        await reloads(router, (without, with_realm2), pause=0.1)
        stop.set()
        await asyncio.gather(*churners)
        await traffic
        assert not problems, "\n".join(problems[:10])
        await sink.wait_count(sent)
        assert [args[0] for args, _ in sink.events] == list(range(sent))
        # Both ways happened: welcomed and aborted on realm2, the extra
        # listener refusing while closed.
        assert tally["welcomed"] > 10 and tally["aborted"] > 10 and tally["refused"] > 0, tally
        await settled(router, 2)
        assert status(router)["reloads"] == {"ok": RELOADS, "failed": 0}
        await subscriber.close()
        await publisher.close()
        clean_log(router)
    finally:
        router.kill()


async def test_a_graceful_stop_under_churn(tmp_path):
    """SIGTERM while sessions churn and Autobahn sessions publish and call:
    the router says GOODBYE, refuses newcomers, and exits with status 0
    within its shutdown timeout (2 s here; clients that never answer the
    GOODBYE are closed then), with no panic and no ERROR logged."""
    router = RouterProcess(tmp_path)
    router.start()
    try:
        subscriber, publisher, sink = await healthy_sessions(router)
        stop = asyncio.Event()
        tally = {"refused": 0, "aborted": 0, "welcomed": 0, "closed": 0, "events": 0}
        problems: list[str] = []
        churners = [asyncio.create_task(churn(lambda n: router.rs_port, stop, tally, problems)) for _ in range(3)]

        async def healthy() -> None:
            n = 0
            while not stop.is_set():
                try:
                    await publisher.publish("com.healthy.events", n, options=PublishOptions(acknowledge=True))
                    await publisher.call("com.healthy.echo", n)
                except Exception:  # noqa: BLE001 - the router is stopping
                    return
                n += 1
                await asyncio.sleep(0.005)

        traffic = asyncio.create_task(healthy())
        await asyncio.sleep(1.0)
        assert tally["welcomed"] > 5, tally
        loop = asyncio.get_running_loop()
        started = loop.time()
        router.terminate()
        code = await loop.run_in_executor(None, router.wait, 15)
        took = loop.time() - started
        stop.set()
        await asyncio.gather(*churners, return_exceptions=True)
        await asyncio.gather(traffic, return_exceptions=True)
        assert code == 0, router.logs()
        # The shutdown timeout (2 s) bounds the stop; 10 s is far beyond it.
        assert took < 10, took
        assert "panicked" not in router.stderr_path.read_text(), router.logs()
        assert " ERROR " not in router.stderr_path.read_text(), router.logs()
    finally:
        router.kill()


async def test_reloads_that_remove_and_restore_an_mqtt_realm_under_mqtt_churn(tmp_path):
    """Reloads alternate a config with realm ``mqrealm`` and an MQTT listener on
    it and one without both, while MQTT clients with persistent sessions
    connect there, subscribe, publish at QoS 1 and drop: every reload
    succeeds, a client finding the listener open is accepted (CONNACK 0;
    or 3, server unavailable, while the shards are between two configs)
    and gets its own QoS 1 message back, and nothing panics."""
    from test_chaos_mqtt import Mqtt

    router = RouterProcess(tmp_path)
    mq_port = free_port()
    with_mq = copy.deepcopy(router.config)
    worker = with_mq["workers"][0]
    mq = copy.deepcopy(worker["realms"][0])
    mq["name"] = "mqrealm"
    worker["realms"].append(mq)
    worker["transports"].append(
        {
            "type": "mqtt",
            "id": "mqtt_mq",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": mq_port},
            "options": {"realm": "mqrealm", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}},
        }
    )
    without = copy.deepcopy(router.config)
    router.config = with_mq
    router.start()
    try:
        stop = asyncio.Event()
        tally = {"refused": 0, "accepted": 0, "echoed": 0, "cut": 0, "unavailable": 0}
        problems: list[str] = []

        async def mqtt_churn(n: int) -> None:
            k = 0
            while not stop.is_set():
                k += 1
                m = Mqtt(mq_port, f"mq-{n}", clean=False)
                try:
                    await m.connect()
                except (OSError, asyncio.IncompleteReadError):
                    tally["refused"] += 1
                    await asyncio.sleep(0.01)
                    continue
                except RuntimeError as e:
                    # 3, server unavailable: the connection met a shard
                    # between its reload and the others' (the realm gone
                    # or not yet there). Any other refusal is wrong.
                    if "\\x00\\x03" in str(e):
                        tally["unavailable"] += 1
                    else:
                        problems.append(str(e))
                    continue
                tally["accepted"] += 1
                try:
                    await m.subscribe(b"mq/%d" % n)
                    await m.publish(b"mq/%d" % n, b"%d:%d" % (n, k))
                    for _ in range(100):
                        if any(p == b"%d:%d" % (n, k) for _, p, _ in m.received):
                            tally["echoed"] += 1
                            break
                        await asyncio.sleep(0.01)
                except (asyncio.TimeoutError, ConnectionError, OSError, AssertionError):
                    tally["cut"] += 1  # the listener or the realm went meanwhile
                m.drop()

        churners = [asyncio.create_task(mqtt_churn(n)) for n in range(3)]
        await reloads(router, (without, with_mq), pause=0.15)
        stop.set()
        await asyncio.gather(*churners)
        assert not problems, "\n".join(problems[:10])
        assert tally["accepted"] > 10 and tally["echoed"] > 5 and tally["refused"] > 0, tally
        clean_log(router)
    finally:
        router.kill()

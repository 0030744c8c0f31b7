"""Operations with real clients (Junction only): the graceful drain seen by
Autobahn|Python sessions, the metrics read by Prometheus' own text-format
parser and moving with traffic, and a hot reload (realm and transport added
and removed, a broken config refused) while an Autobahn session keeps
calling.

The router gets its own runtime directory, so ``junction status`` and
``junction reload`` reach it through ``--socket``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import types
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from routerproc import IS_CROSSBAR, RouterProcess, free_port
from wampclient import TIMEOUT, EventSink, connect

pytestmark = pytest.mark.junction_only


class OpsRouter(RouterProcess):
    """A router with its own control socket."""

    def __init__(self, workdir: Path, junction: dict | None = None):
        super().__init__(workdir, junction=junction)
        self.extra_env["RUNTIME_DIRECTORY"] = str(self.workdir / "run")

    @property
    def socket(self) -> Path:
        return self.workdir / "run" / "junction.sock"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
        return subprocess.run(
            [binary, *args, "--socket", str(self.socket)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def write_config(self) -> None:
        """Writes ``self.config`` where the router reads it (for a reload)."""
        path = self.workdir / "config.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.config, indent=2))
        os.replace(tmp, path)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """Every sample of ``junction status --metrics``, parsed by prometheus_client."""
        out = self.cli("status", "--metrics")
        assert out.returncode == 0, out.stderr
        samples = {}
        for family in text_string_to_metric_families(out.stdout):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (all shards)."""
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )


@pytest.fixture
def ops_router(tmp_path):
    if IS_CROSSBAR:
        pytest.skip("Junction only")
    proc = OpsRouter(tmp_path, junction={"shutdown_timeout": 60})
    proc.start()
    yield proc
    proc.kill()


async def test_drain_says_goodbye_to_autobahn_sessions_and_exits_once_they_left(ops_router):
    sessions = [
        await connect(ops_router, t, s) for t, s in (("ws", "json"), ("rs", "msgpack"), ("ws", "cbor"))
    ]
    ops_router.proc.send_signal(signal.SIGTERM)
    for s in sessions:
        details = await asyncio.wait_for(s.left, TIMEOUT)
        assert details.reason == "wamp.close.system_shutdown", details
    # Autobahn answers GOODBYE and closes: the node exits 0 without waiting
    # for its 60 s shutdown_timeout.
    loop = asyncio.get_running_loop()
    rc = await loop.run_in_executor(None, ops_router.wait, 30)
    assert rc == 0, ops_router.logs()
    for s in sessions:
        await asyncio.wait_for(s.disconnected, TIMEOUT)
    # A clean stop logs no error (the shards' rings are torn down with
    # operations in flight: their cancellations are expected).
    assert " ERROR " not in ops_router.stderr_path.read_text(), ops_router.logs()


async def test_metrics_parse_and_move_with_traffic(ops_router):
    before = ops_router.metrics()
    for name in (
        "junction_wamp_messages_received_total",
        "junction_wamp_messages_sent_total",
        "junction_routing_latency_seconds_count",
        "junction_subscriptions",
        "junction_registrations",
        "junction_cross_shard_messages_sent_total",
    ):
        assert any(n == name for n, _ in before), name
    sub = await connect(ops_router, "ws", "json")
    pub = await connect(ops_router, "rs", "msgpack")
    callee = await connect(ops_router, "ws", "cbor")
    sink = EventSink()
    await sub.subscribe(sink, "com.example.ops.topic")
    await callee.register(lambda x: x, "com.example.ops.echo")
    from autobahn.wamp.types import PublishOptions

    for i in range(20):
        await pub.publish("com.example.ops.topic", i, options=PublishOptions(acknowledge=True))
    await sink.wait_count(20)
    for i in range(7):
        assert await pub.call("com.example.ops.echo", i) == i
    with pytest.raises(Exception):
        await pub.call("com.example.ops.missing")
    after = ops_router.metrics()

    def grew(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("junction_wamp_messages_received_total", type="PUBLISH") == 20
    assert grew("junction_wamp_messages_sent_total", type="PUBLISHED") == 20
    assert grew("junction_wamp_messages_sent_total", type="EVENT") == 20
    assert grew("junction_wamp_messages_received_total", type="CALL") == 8
    assert grew("junction_wamp_messages_sent_total", type="INVOCATION") == 7
    assert grew("junction_wamp_messages_received_total", type="YIELD") == 7
    assert grew("junction_wamp_messages_sent_total", type="RESULT") == 7
    assert grew("junction_wamp_messages_received_total", type="HELLO") == 3
    assert grew("junction_wamp_errors_sent_total", uri="wamp.error.no_such_procedure") == 1
    # One latency observation per PUBLISH and CALL.
    assert grew("junction_routing_latency_seconds_count") == 28
    assert total(after, "junction_sessions", realm="realm1") == 3
    assert total(after, "junction_subscriptions") == 1
    assert total(after, "junction_registrations") == 1
    assert grew("junction_wamp_sent_bytes_total") > 0
    # The histogram is cumulative and ends at the count.
    for shard in ("0", "1"):
        inf = total(after, "junction_routing_latency_seconds_bucket", shard=shard, le="+Inf")
        assert inf == total(after, "junction_routing_latency_seconds_count", shard=shard)
    for s in (sub, pub, callee):
        await s.close()
    done = ops_router.metrics()
    assert total(done, "junction_sessions", realm="realm1") == 0
    assert total(done, "junction_subscriptions") == 0


async def test_reload_while_an_autobahn_session_keeps_calling(ops_router):
    callee = await connect(ops_router, "ws", "json")
    await callee.register(lambda x: x, "com.example.ops.echo")
    caller = await connect(ops_router, "rs", "cbor")
    doomed = await connect(ops_router, "ws", "msgpack", realm="realm2")
    answered = 0
    failures: list = []
    stop = asyncio.Event()

    async def keep_calling():
        nonlocal answered
        i = 0
        while not stop.is_set():
            i += 1
            try:
                assert await caller.call("com.example.ops.echo", i) == i
                answered += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failures.append(repr(e))
            await asyncio.sleep(0.005)

    async def calls_go_on():
        start = answered
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while answered < start + 5:
            assert loop.time() < deadline, "calls stalled"
            await asyncio.sleep(0.01)

    calling = asyncio.create_task(keep_calling())
    await calls_go_on()
    loop = asyncio.get_running_loop()

    # realm2 goes, realm3 and a second WebSocket transport come.
    extra_port = free_port()
    worker = ops_router.config["workers"][0]
    worker["realms"] = [r for r in worker["realms"] if r["name"] != "realm2"]
    realm3 = json.loads(json.dumps(worker["realms"][0]))
    realm3["name"] = "realm3"
    worker["realms"].append(realm3)
    worker["transports"].append(
        {
            "type": "websocket",
            "id": "ws_extra",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": extra_port},
            "serializers": ["json"],
        }
    )
    ops_router.write_config()
    out = await loop.run_in_executor(None, ops_router.cli, "reload")
    assert out.returncode == 0, out.stderr
    assert "realms added: realm3" in out.stdout
    assert "realms removed: realm2" in out.stdout
    assert "listeners opened: ws_extra" in out.stdout
    details = await asyncio.wait_for(doomed.left, TIMEOUT)
    assert details.reason == "wamp.close.close_realm", details
    assert "realm2" in (details.message or "")
    extra = types.SimpleNamespace(
        ws_url=f"ws://127.0.0.1:{extra_port}/", ws_port=extra_port, rs_port=None
    )
    newcomer = await connect(extra, "ws", "json", realm="realm3")
    await calls_go_on()

    # The extra transport goes: its session gets GOODBYE.
    worker["transports"] = [t for t in worker["transports"] if t["id"] != "ws_extra"]
    ops_router.write_config()
    out = await loop.run_in_executor(None, ops_router.cli, "reload")
    assert out.returncode == 0, out.stderr
    assert "listeners closed: ws_extra" in out.stdout
    details = await asyncio.wait_for(newcomer.left, TIMEOUT)
    assert details.reason == "wamp.close.system_shutdown", details
    await calls_go_on()

    # A broken config is refused; the running one stays.
    (ops_router.workdir / "config.json").write_text("{ this is not json")
    out = await loop.run_in_executor(None, ops_router.cli, "reload")
    assert out.returncode == 1
    assert "error:" in out.stderr and "the running one stays" in out.stderr
    status = json.loads((await loop.run_in_executor(None, ops_router.cli, "status", "--json")).stdout)
    assert status["reloads"] == {"ok": 2, "failed": 1}
    realms = {s["realm"] for s in status["sessions"]}
    assert realms == {"realm1"}, status["sessions"]
    await calls_go_on()
    r3 = await connect(ops_router, "ws", "json", realm="realm3")

    stop.set()
    await calling
    assert failures == []
    assert answered > 15
    for s in (callee, caller, r3):
        await s.close()


def test_status_and_metrics_tell_offline_mqtt_sessions_from_connections(ops_router):
    """A paho client with a persistent session (clean session 0) that
    disconnects leaves a session and no connection: `junction status`
    counts it as a session and OFFLINE, not as a connection, and so does
    the metrics; when the client comes back it is a connection again."""
    from mqttclient import V311, Mqtt

    def shards() -> dict:
        out = ops_router.cli("status", "--json")
        assert out.returncode == 0, out.stderr
        per_shard = json.loads(out.stdout)["per_shard"]
        return {k: sum(s[k] for s in per_shard) for k in ("connections", "sessions", "offline_sessions")}

    base = shards()
    m = Mqtt(ops_router.mqtt_port, V311, client_id="ops-offline", clean=False)
    m.connect()
    m.subscribe("ops/offline", qos=1)
    assert shards() == {"connections": base["connections"] + 1, "sessions": base["sessions"] + 1, "offline_sessions": 0}
    m.close()
    held = {"connections": base["connections"], "sessions": base["sessions"] + 1, "offline_sessions": 1}
    for _ in range(50):
        if shards() == held:
            break
        time.sleep(0.1)
    assert shards() == held
    samples = ops_router.metrics()
    assert total(samples, "junction_mqtt_offline_sessions") == 1
    assert total(samples, "junction_connections") == base["connections"]
    text = ops_router.cli("status").stdout
    assert "OFFLINE" in text, text
    back = Mqtt(ops_router.mqtt_port, V311, client_id="ops-offline", clean=False)
    back.connect()
    try:
        assert back.session_present
        assert shards() == {"connections": base["connections"] + 1, "sessions": base["sessions"] + 1, "offline_sessions": 0}
    finally:
        back.close()


async def test_a_realm_removed_and_added_back_keeps_its_file_store(tmp_path):
    """A realm with a file store, removed by one reload and added back by
    the next, is served again with its retained event, and what it retains
    after that is written to its log: a restart brings back the newest one.
    (A realm added back once took a new place with no log: its retained
    events after the re-add were lost at the next restart, and the one from
    before came back instead.) A reload that adds a realm with a file store
    warns that its events stay in memory until the next start."""
    from autobahn.wamp.types import PublishOptions, SubscribeOptions

    proc = OpsRouter(tmp_path)
    worker = proc.config["workers"][0]
    realm2 = next(r for r in worker["realms"] if r["name"] == "realm2")
    realm2["store"] = {"type": "file", "path": str(tmp_path / "store")}
    proc.start()
    loop = asyncio.get_running_loop()
    topic = "com.example.ops.kept"

    async def retained(realm: str = "realm2") -> list:
        c = await connect(proc, "ws", "json", realm=realm)
        sink = EventSink()
        await c.subscribe(sink, topic, options=SubscribeOptions(get_retained=True))
        got = [e[0] for e in await sink.wait_count(1)]
        await c.close()
        return got

    async def reload(expect: str) -> str:
        proc.write_config()
        out = await loop.run_in_executor(None, proc.cli, "reload")
        assert out.returncode == 0, out.stderr
        assert expect in out.stdout, out.stdout
        return out.stderr

    try:
        pub = await connect(proc, "rs", "msgpack", realm="realm2")
        await pub.publish(topic, "before", options=PublishOptions(retain=True, acknowledge=True))
        await pub.close()
        worker["realms"] = [r for r in worker["realms"] if r["name"] != "realm2"]
        await reload("realms removed: realm2")
        with pytest.raises(Exception):
            await connect(proc, "ws", "json", realm="realm2")
        worker["realms"].append(realm2)
        # realm4 is new: a file store for it opens only at the next start.
        realm4 = json.loads(json.dumps(realm2))
        realm4["name"] = "realm4"
        worker["realms"].append(realm4)
        err = await reload("realms added: realm2, realm4")
        assert 'realm "realm4": added by a reload' in err, err
        assert "realm2" not in err, err
        assert await retained() == [("before",)]
        pub = await connect(proc, "ws", "cbor", realm="realm2")
        await pub.publish(topic, "after", options=PublishOptions(retain=True, acknowledge=True))
        await pub.close()
        assert await retained() == [("after",)]
    finally:
        proc.kill()
    proc.start()
    try:
        assert await retained() == [("after",)]
    finally:
        proc.kill()

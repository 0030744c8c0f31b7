"""Guest workers (Crossbar's ``"type": "guest"``) run by Junction: a real
Autobahn|Python guest that reads its stdin value, connects back and
registers a procedure the test calls; its output in the router's log;
exits and ``options.restart``; a reload that adds, removes and changes
guests; ``junction status`` and the metrics; no guest left behind when the
node stops, is forced to stop, or is killed with SIGKILL. Also the reload of
a ``static`` path served from a Python package (it answered 404 after a
reload), container workers, and the router's own Python components
(``guests/router_app.py``) in the component host: their roles apply, the
private socket refuses a wrong ticket, a reload restarts the host.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from routerproc import IS_CROSSBAR, RouterProcess, free_port
from wampclient import TIMEOUT, EventSink, connect

pytestmark = pytest.mark.junction_only

GUEST = Path(__file__).parent / "guests" / "echo_guest.py"


def guest(router: RouterProcess, name: str, **options) -> dict:
    """A guest worker running ``echo_guest.py`` as ``name``."""
    opts = {
        "stdin": {
            "type": "json",
            "value": {"url": router.ws_url, "realm": "realm1", "name": name},
            "close": True,
        },
        "env": {"vars": {"GUEST_COLOR": "blue"}},
    }
    opts.update(options)
    return {
        "type": "guest",
        "id": name,
        "executable": sys.executable,
        "arguments": [str(GUEST), "--flag", name],
        "options": opts,
    }


class WorkersRouter(RouterProcess):
    """A router with its own control socket and guest workers."""

    def __init__(self, workdir: Path):
        super().__init__(workdir, junction={"shutdown_timeout": 5})
        self.extra_env["RUNTIME_DIRECTORY"] = str(self.workdir / "run")

    @property
    def socket(self) -> Path:
        return self.workdir / "run" / "junction.sock"

    def start(self) -> "WorkersRouter":
        super().start()
        # The control socket is up before the ports (a guard, not a wait).
        wait_for("the control socket", self.socket.exists)
        return self

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
        return subprocess.run(
            [binary, *args, "--socket", str(self.socket)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def reload(self) -> subprocess.CompletedProcess:
        path = self.workdir / "config.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.config, indent=2))
        os.replace(tmp, path)
        return self.cli("reload")

    def workers(self) -> dict[str, dict]:
        out = self.cli("status", "--json")
        assert out.returncode == 0, out.stderr
        return {w["id"]: w for w in json.loads(out.stdout)["workers"]}

    def metrics(self) -> dict[tuple[str, tuple], float]:
        out = self.cli("status", "--metrics")
        assert out.returncode == 0, out.stderr
        samples = {}
        for family in text_string_to_metric_families(out.stdout):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def log_text(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in (self.stderr_path, self.stdout_path) if p.exists()
        )


def wait_for(what, check, timeout: float = 20.0):
    """Polls ``check`` until it returns something true; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not reaped by a dead parent yet) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def assert_host_stopped_on_request(r: "WorkersRouter", pid: int) -> None:
    """The container host ``pid`` left when the node sent it SIGTERM: its
    components stopped and it exited 0, without waiting out its stop
    timeout for the SIGKILL."""
    log = r.log_text()
    assert re.search(rf"guest exited: exit status 0 worker=\S+ pid={pid}\b", log), log
    assert "stopped by SIGTERM: the components have left" in log, log
    assert not re.search(rf"did not stop in time: SIGKILL worker=\S+ pid={pid}\b", log), log


@pytest.fixture
def workers_router(tmp_path):
    if IS_CROSSBAR:
        pytest.skip("Junction only")
    proc = WorkersRouter(tmp_path)
    yield proc
    proc.kill()


async def call_when_registered(router, procedure: str, *args, timeout: float = 20.0, **kwargs):
    """Calls ``procedure`` (with keyword arguments too) once a guest or
    component has registered it."""
    client = await connect(router, "ws", "json")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                return await client.call(procedure, *args, **kwargs)
            except Exception as e:  # noqa: BLE001 - no_such_procedure until registered
                if "no_such_procedure" not in str(e) or loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        client.leave()


async def test_a_guest_connects_back_and_its_output_is_logged(workers_router):
    r = workers_router
    (r.workdir / "app").mkdir()
    r.config["workers"].append(
        guest(
            r,
            "alpha",
            workdir="app",
            env={"inherit": ["PATH"], "vars": {"GUEST_COLOR": "blue"}},
        )
    )
    os.environ["GUEST_SECRET"] = "not inherited"
    try:
        r.start()
    finally:
        del os.environ["GUEST_SECRET"]
    got = await call_when_registered(r, "com.guest.alpha.echo", 7)
    assert got["args"] == [7]
    assert got["argv"] == ["--flag", "alpha"]
    assert got["color"] == "blue"
    assert got["secret"] is None, "env.inherit is a list without it"
    assert got["unbuffered"] == "1"
    assert got["cwd"] == str(r.workdir / "app")
    assert got["stdin"] == {"url": r.ws_url, "realm": "realm1", "name": "alpha"}
    # Its stdout and stderr lines are in the router's log, with the worker's ID.
    lines = wait_for(
        "the guest's lines in the log",
        lambda: [
            l
            for l in r.log_text().splitlines()
            if "guest alpha ready" in l or "guest alpha says hello on stderr" in l
        ]
        if "says hello" in r.log_text()
        else None,
    )
    assert len(lines) == 2, lines
    assert all(re.search(r"worker=alpha\b", l) for l in lines), lines
    assert any('stream="stderr"' in l for l in lines), lines
    # Status and metrics.
    w = r.workers()["alpha"]
    assert (w["type"], w["state"], w["pid"], w["restarts"]) == ("guest", "running", got["pid"], 0)
    table = r.cli("status").stdout
    assert re.search(rf"alpha\s+guest\s+{got['pid']}\s+running\s+0\s+-", table), table
    m = r.metrics()
    assert m[("junction_guest_starts_total", (("worker", "alpha"),))] == 1
    assert m[("junction_guest_running", (("worker", "alpha"),))] == 1
    assert m[("junction_guest_exits_total", (("worker", "alpha"),))] == 0
    # A graceful stop takes the guest with it.
    r.terminate()
    assert r.wait(30) == 0, r.logs()
    assert not alive(got["pid"])


def test_exits_are_logged_and_restart_policies_apply(workers_router):
    r = workers_router
    r.config["workers"] += [
        {"type": "guest", "id": "once", "executable": "sh", "arguments": ["-c", "exit 3"]},
        {
            "type": "guest",
            "id": "again",
            "executable": "sh",
            "arguments": ["-c", "echo run; exit 4"],
            "options": {"restart": "restart-on-failed"},
        },
    ]
    r.start()
    ws = wait_for(
        "a restart",
        lambda: (lambda w: w if w["again"]["restarts"] >= 1 and w["once"]["state"] == "exited" else None)(
            r.workers()
        ),
    )
    assert ws["once"]["last_exit"] == "exit status 3"
    assert ws["once"]["restarts"] == 0
    assert ws["again"]["last_exit"] == "exit status 4"
    # A failure the node did not ask for is a warning.
    assert re.search(r"WARN junction::guest: guest exited: exit status 3 worker=once\b", r.log_text()), r.log_text()
    assert r.alive(), "a guest's exit does not stop the node"
    m = r.metrics()
    assert m[("junction_guest_exits_total", (("worker", "once"),))] == 1
    assert m[("junction_guest_restarts_total", (("worker", "again"),))] >= 1


def test_a_missing_executable_refuses_the_start_and_a_reload(workers_router):
    r = workers_router
    missing = {"type": "guest", "id": "missing", "executable": "junction-test-no-such-program"}
    r.config["workers"].append(missing)
    with pytest.raises(RuntimeError) as refused:
        r.start()
    text = str(refused.value)
    assert "router exited with code 1 during startup" in text, text
    assert 'worker missing (guest): no executable "junction-test-no-such-program"' in text, text
    # Without it the node starts; a reload that adds it is refused and the
    # running config (and its workers) stay.
    r.config["workers"].remove(missing)
    r.start()
    r.config["workers"].append(missing)
    out = r.reload()
    assert out.returncode == 1, out.stdout + out.stderr
    assert "junction-test-no-such-program" in out.stdout + out.stderr
    assert "missing" not in r.workers()
    assert r.alive()


async def test_a_reload_adds_removes_and_restarts_guests(workers_router):
    r = workers_router
    r.config["workers"] += [guest(r, "keep"), guest(r, "gone"), guest(r, "changed")]
    r.start()
    before = {
        n: (await call_when_registered(r, f"com.guest.{n}.echo"))["pid"]
        for n in ("keep", "gone", "changed")
    }
    r.config["workers"] = [r.config["workers"][0], guest(r, "keep"), guest(r, "new")]
    changed = guest(r, "changed")
    changed["options"]["env"]["vars"]["GUEST_COLOR"] = "green"
    r.config["workers"].append(changed)
    loop = asyncio.get_running_loop()
    out = await loop.run_in_executor(None, r.reload)
    assert out.returncode == 0, out.stderr
    assert "workers started: new" in out.stdout, out.stdout
    assert "workers stopped: gone" in out.stdout, out.stdout
    assert "workers restarted: changed" in out.stdout, out.stdout
    new = await call_when_registered(r, "com.guest.new.echo")
    assert new["name"] == "new"
    got = await call_when_registered(r, "com.guest.changed.echo")
    assert got["color"] == "green"
    assert got["pid"] != before["changed"]
    assert (await call_when_registered(r, "com.guest.keep.echo"))["pid"] == before["keep"]
    await loop.run_in_executor(None, wait_for, "the removed guest's exit", lambda: not alive(before["gone"]))
    ws = await loop.run_in_executor(None, r.workers)
    assert list(ws) == ["keep", "new", "changed"], ws
    assert ws["changed"]["restarts"] == 1
    # The same config again changes nothing.
    out = await loop.run_in_executor(None, r.reload)
    assert "workers" not in out.stdout, out.stdout
    assert (await loop.run_in_executor(None, r.workers))["keep"]["pid"] == before["keep"]


@pytest.mark.parametrize("how", ["sigterm", "forced", "sigkill"])
async def test_no_guest_outlives_the_node(workers_router, how):
    r = workers_router
    # A guest that ignores SIGTERM needs its SIGKILL after stop_timeout.
    stubborn = {
        "type": "guest",
        "id": "stubborn",
        "executable": "sh",
        "arguments": ["-c", "trap '' TERM; echo up; while :; do sleep 1; done"],
        "options": {"stop_timeout": 1},
    }
    r.config["workers"] += [guest(r, "polite"), stubborn]
    r.start()
    polite = (await call_when_registered(r, "com.guest.polite.echo"))["pid"]
    loop = asyncio.get_running_loop()
    ws = await loop.run_in_executor(None, r.workers)
    pids = [polite, ws["stubborn"]["pid"]]
    await asyncio.sleep(0.3)  # the shell's trap is set
    if how == "sigkill":
        os.kill(r.proc.pid, signal.SIGKILL)
        r.wait(10)
    else:
        r.terminate()
        if how == "forced":
            await asyncio.sleep(0.2)
            r.terminate()
        rc = await loop.run_in_executor(None, r.wait, 30)
        if how == "sigterm":
            assert rc == 0, r.logs()
    for pid in pids:
        await loop.run_in_executor(None, wait_for, f"guest {pid} to end", lambda p=pid: not alive(p), 10.0)


def test_a_static_package_path_is_served_after_a_reload(tmp_path):
    if IS_CROSSBAR:
        pytest.skip("Junction only")
    pkg = tmp_path / "pylib" / "junction_test_site"
    (pkg / "www").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "www" / "index.html").write_text("<p>from a package</p>")
    port = free_port()
    r = WorkersRouter(tmp_path / "node")
    router = r.config["workers"][0]
    router["options"] = {"pythonpath": [str(tmp_path / "pylib")], "python": sys.executable}
    router["transports"].append(
        {
            "type": "web",
            "id": "web",
            "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
            "paths": {"/": {"type": "static", "package": "junction_test_site", "resource": "www"}},
        }
    )
    r.start()
    try:
        url = f"http://127.0.0.1:{port}/index.html"
        assert urllib.request.urlopen(url, timeout=10).read() == b"<p>from a package</p>"
        out = r.reload()
        assert out.returncode == 0, out.stderr
        assert urllib.request.urlopen(url, timeout=10).read() == b"<p>from a package</p>"
        # A package that does not import refuses the reload; the running config stays.
        router["transports"][-1]["paths"]["/"]["package"] = "junction_test_no_such_package"
        out = r.reload()
        assert out.returncode == 1
        assert "junction_test_no_such_package" in out.stderr, out.stderr
        assert urllib.request.urlopen(url, timeout=10).read() == b"<p>from a package</p>"
    finally:
        r.kill()


def test_stdin_msgpack_close_false_and_a_watched_change(workers_router, tmp_path):
    r = workers_router
    src = r.workdir / "src"
    src.mkdir()
    r.config["workers"] += [
        {
            # Copies its stdin to a file: with close false it only gets the
            # value (no end of file) and stays; the file has the bytes.
            "type": "guest",
            "id": "reader",
            "executable": "sh",
            "arguments": ["-c", "head -c 4 > got.bin; echo $$ > reader.pid; exec sleep 60"],
            "options": {
                "stdin": {"type": "msgpack", "value": [1, "x"], "close": False},
                "stdout": "drop",
                "stderr": "close",
            },
        },
        {
            "type": "guest",
            "id": "watched",
            "executable": "sh",
            "arguments": ["-c", "echo $$ >> watched.pids; exec sleep 60"],
            "options": {"watch": {"directories": ["src"], "action": "restart", "timeout": 0}},
        },
    ]
    r.start()
    got = r.workdir / "got.bin"
    wait_for("the stdin copy", lambda: (r.workdir / "reader.pid").exists())
    assert got.read_bytes() == b"\x92\x01\xa1x"  # fixarray(2) 1 "x"
    pids = r.workdir / "watched.pids"
    wait_for("the watched guest", pids.exists)
    first = pids.read_text().split()
    assert len(first) == 1
    time.sleep(1.2)  # one scan without a change
    assert pids.read_text().split() == first
    (src / "app.py").write_text("print('changed')")
    wait_for("a restart on the change", lambda: len(pids.read_text().split()) == 2)
    ws = r.workers()
    assert ws["watched"]["restarts"] == 1
    assert ws["watched"]["last_exit"] == "killed by SIGTERM"
    assert str(ws["watched"]["pid"]) == pids.read_text().split()[1]
    assert ws["reader"]["state"] == "running"
    assert not alive(int(first[0]))


def container_worker(components: list, cid: str = "box") -> dict:
    """A container worker running ``components`` from guests/ on this Python."""
    return {
        "type": "container",
        "id": cid,
        "options": {"pythonpath": [str(GUEST.parent)], "python": sys.executable},
        "components": components,
    }


def echo_component(procedure: str, transport: dict, classname: str = "container_app.EchoSession") -> dict:
    """A container component (guests/) that registers ``procedure`` and echoes."""
    return {
        "type": "class",
        "classname": classname,
        "realm": "realm1",
        "extra": {"procedure": procedure},
        "transport": transport,
    }


async def test_a_container_runs_its_python_components(workers_router):
    r = workers_router
    component = echo_component
    r.config["workers"].append(
        container_worker(
            [
                component(
                    "com.container.ws",
                    {
                        "type": "websocket",
                        "url": r.ws_url,
                        "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": r.ws_port},
                    },
                ),
                component(
                    "com.container.rs",
                    {
                        "type": "rawsocket",
                        "serializer": "cbor",
                        "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": r.rs_port},
                    },
                ),
            ]
        )
    )
    r.start()
    ws = await call_when_registered(r, "com.container.ws", 1)
    rs = await call_when_registered(r, "com.container.rs", 2)
    assert ws["extra"] == {"procedure": "com.container.ws"} and ws["args"] == [1]
    assert rs["extra"] == {"procedure": "com.container.rs"} and rs["args"] == [2]
    assert ws["pid"] == rs["pid"], "one host process"
    loop = asyncio.get_running_loop()
    w = (await loop.run_in_executor(None, r.workers))["box"]
    assert (w["type"], w["state"], w["pid"]) == ("container", "running", ws["pid"])
    assert "container component registered com.container.rs" in r.log_text()
    # A class that does not import: the host exits 2 with Python's message.
    r.config["workers"][-1]["components"][0]["classname"] = "container_app.Missing"
    out = await loop.run_in_executor(None, r.reload)
    assert "workers restarted: box" in out.stdout, out.stdout
    await loop.run_in_executor(None, wait_for, "the old host's end", lambda: not alive(ws["pid"]))
    assert_host_stopped_on_request(r, ws["pid"])
    w = await loop.run_in_executor(
        None,
        wait_for,
        "the host's exit",
        lambda: (lambda w: w if w["state"] == "exited" and w["restarts"] == 1 else None)(r.workers()["box"]),
    )
    assert w["last_exit"] == "exit status 2"
    assert "AttributeError" in r.log_text() and "Missing" in r.log_text()


async def test_a_containers_shutdown_mode_decides_when_its_host_exits(workers_router):
    r = workers_router

    def container(cid: str, shutdown: str) -> dict:
        return {
            "type": "container",
            "id": cid,
            "options": {
                "pythonpath": [str(GUEST.parent)],
                "python": sys.executable,
                "shutdown": shutdown,
            },
            "components": [
                {
                    "type": "class",
                    "classname": "container_app.EchoSession",
                    "realm": "realm1",
                    "extra": {"procedure": f"com.{cid}"},
                    "transport": {
                        "type": "websocket",
                        "url": r.ws_url,
                        "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": r.ws_port},
                    },
                }
            ],
        }

    r.config["workers"] += [
        container("last", "shutdown-on-last-component-stopped"),
        container("manual", "shutdown-manual"),
    ]
    # Only a signal stops this node: by default (Crossbar's
    # shutdown_on_worker_exit) the end of "last" would stop it
    # (test_crossbar_functests.py).
    r.config["controller"] = {"options": {"shutdown": ["shutdown_on_shutdown_requested"]}}
    r.start()
    loop = asyncio.get_running_loop()
    for cid in ["last", "manual"]:
        await call_when_registered(r, f"com.{cid}", 1)
        assert await call_when_registered(r, f"com.{cid}.leave") == "leaving"
    # The last (only) component left: that host exits 0, the manual one stays.
    w = await loop.run_in_executor(
        None,
        wait_for,
        "the host's exit",
        lambda: (lambda w: w if w["state"] == "exited" else None)(r.workers()["last"]),
    )
    assert w["last_exit"] == "exit status 0", w
    await loop.run_in_executor(
        None,
        wait_for,
        "the manual host's wait",
        lambda: "shutdown-manual: no component runs; waiting to be stopped" in r.log_text(),
    )
    assert r.workers()["manual"]["state"] == "running"
    assert "a container worker ended; the node runs on" in r.log_text()


def twisted_python() -> str:
    """A Python with Twisted and Autobahn: ``JUNCTION_TWISTED_PYTHON``, else this one."""
    return os.environ.get("JUNCTION_TWISTED_PYTHON") or sys.executable


async def test_a_container_runs_crossbar_style_twisted_components(workers_router):
    python = twisted_python()
    probe = subprocess.run([python, "-c", "import twisted.internet, autobahn.twisted"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"{python} has no Twisted (requirements.txt installs it; or set JUNCTION_TWISTED_PYTHON)")
    r = workers_router
    r.config["workers"].append(
        {
            "type": "container",
            "options": {"pythonpath": [str(GUEST.parent)], "python": python},
            "components": [
                {
                    "type": "class",
                    "classname": "container_twisted.TwistedEcho",
                    "realm": "realm1",
                    "extra": {"procedure": "com.container.twisted"},
                    "transport": {
                        "type": "websocket",
                        "url": r.ws_url,
                        "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": r.ws_port},
                        "serializers": ["msgpack"],
                    },
                }
            ],
        }
    )
    r.start()
    got = await call_when_registered(r, "com.container.twisted", "x")
    assert got["extra"] == {"procedure": "com.container.twisted"} and got["args"] == ["x"]
    assert "Reactor" in got["reactor"], got
    loop = asyncio.get_running_loop()
    ws = await loop.run_in_executor(None, r.workers)
    # Crossbar's default name: the router is worker001.
    assert ws["worker002"]["type"] == "container"
    assert ws["worker002"]["pid"] == got["pid"]
    r.terminate()
    assert await loop.run_in_executor(None, r.wait, 30) == 0, r.logs()
    assert not alive(got["pid"])
    assert_host_stopped_on_request(r, got["pid"])


def router_components(r: WorkersRouter, *components: dict) -> None:
    """Gives ``r``'s router the roles ``backend`` (everything) and
    ``limited`` (publish and subscribe under ``com.rcomp.`` only) on
    ``realm1``, these ``components``, the guests' directory on its
    ``pythonpath`` and ``RCOMP_MODE=hosted`` in its ``env``."""
    router = r.config["workers"][0]
    realm = next(x for x in router["realms"] if x["name"] == "realm1")
    everything = {"call": True, "register": True, "publish": True, "subscribe": True}
    pubsub = {"call": False, "register": False, "publish": True, "subscribe": True}
    realm["roles"] += [
        {"name": "backend", "permissions": [{"uri": "", "match": "prefix", "allow": everything}]},
        {"name": "limited", "permissions": [{"uri": "com.rcomp.", "match": "prefix", "allow": pubsub}]},
    ]
    router["options"] = {
        "pythonpath": [str(GUEST.parent)],
        "python": sys.executable,
        "env": {"vars": {"RCOMP_MODE": "hosted"}},
    }
    router["components"] = list(components)


async def test_router_components_run_in_the_host_with_their_roles(workers_router):
    r = workers_router
    router_components(
        r,
        {
            "type": "class",
            "id": "backend1",
            "classname": "router_app.Backend",
            "realm": "realm1",
            "role": "backend",
            "extra": {"procedure": "com.rcomp.echo", "topic": "com.rcomp.echoed"},
        },
        {
            "type": "class",
            "classname": "router_app.Limited",
            "realm": "realm1",
            "role": "limited",
            "extra": {"procedure": "com.rcomp.forbidden"},
        },
        {
            "type": "function",
            "id": "fn",
            "realm": "realm1",
            "role": "backend",
            "callbacks": {"join": "router_app.on_join"},
            "extra": {"procedure": "com.rcomp.fn"},
        },
    )
    r.start()
    # The router holds its clients until its components have joined (as
    # Crossbar starts them before its transports): the first call finds
    # the procedure, with no retry.
    client = await connect(r, "ws", "json")
    try:
        events = EventSink()
        await client.subscribe(events, "com.rcomp.echoed")
        got = await client.call("com.rcomp.echo", 7, "x")
        # The session has exactly the component's id and role.
        assert (got["authid"], got["authrole"]) == ("backend1", "backend"), got
        assert got["args"] == [7, "x"] and got["extra"]["topic"] == "com.rcomp.echoed"
        assert got["mode"] == "hosted", "the router's options.env"
        (args, _), = await events.wait_count(1)
        assert list(args) == [7, "x"]
    finally:
        client.leave()
    assert "the router's components have joined: accepting clients" in r.log_text()
    # A function component: its join callback on Autobahn's session.
    c = await connect(r, "ws", "json")
    try:
        assert await c.call("com.rcomp.fn") == {"authid": "fn", "authrole": "backend"}
    finally:
        c.leave()
    loop = asyncio.get_running_loop()
    # The second component's role may not register: the router refused it.
    await loop.run_in_executor(
        None,
        wait_for,
        "the limited component's refusal",
        lambda: "router component component2 (limited): register com.rcomp.forbidden: wamp.error.not_authorized"
        in r.log_text(),
    )
    with pytest.raises(Exception, match="no_such_procedure"):
        c = await connect(r, "ws", "json")
        try:
            await c.call("com.rcomp.forbidden")
        finally:
            c.leave()
    # One host, a worker of its own; the private socket is this user's only.
    w = (await loop.run_in_executor(None, r.workers))["router-components"]
    assert (w["type"], w["state"], w["pid"]) == ("router-components", "running", got["pid"])
    sockets = list((r.workdir / "run").glob("router-components-*.sock"))
    assert len(sockets) == 1 and (sockets[0].stat().st_mode & 0o777) == 0o600, sockets
    # The secret (64 hex digits) is never logged, nor in the host's
    # command line or environment.
    assert not re.search(r"[0-9a-f]{64}", r.log_text())
    with open(f"/proc/{w['pid']}/cmdline", "rb") as f:
        cmdline = f.read()
    with open(f"/proc/{w['pid']}/environ", "rb") as f:
        environ = f.read()
    # No 64-hex-digit token (the secret's form) in either.
    assert not re.search(rb"[0-9a-f]{64}", cmdline) and not re.search(rb"[0-9a-f]{64}", environ)
    # Nobody else can log in as a component over the private socket.
    refused = await try_unix_ticket(sockets[0], "backend1", "guessed")
    assert refused[0] == 3 and refused[2] == "wamp.error.authentication_failed", refused  # ABORT
    r.terminate()
    assert await loop.run_in_executor(None, r.wait, 30) == 0, r.logs()
    assert not alive(got["pid"])
    assert not sockets[0].exists(), "the socket is removed at the end"


async def test_router_components_start_in_order_and_legacy_authorizers_work(workers_router):
    """As in crossbar-examples' authorization/dynamic: the first component
    registers a dynamic authorizer (the old three-argument shape), the
    second has a role that authorizer decides and registers a procedure in
    its onJoin. Crossbar starts router components one after another, so
    the authorizer is there when the second registers."""
    r = workers_router
    router_components(
        r,
        {
            "type": "class",
            "id": "authorizer",
            "classname": "router_app.LegacyAuthorizer",
            "realm": "realm1",
            "role": "backend",
            "extra": {"procedure": "com.rcomp.authorize", "prefix": "com.rcomp.ok."},
        },
        {
            "type": "class",
            "id": "app",
            "classname": "router_app.Authorized",
            "realm": "realm1",
            "role": "authzapp",
            "extra": {"procedure": "com.rcomp.ok.echo", "topic": "com.rcomp.ok.echoed"},
        },
    )
    realm = next(x for x in r.config["workers"][0]["realms"] if x["name"] == "realm1")
    realm["roles"].append({"name": "authzapp", "authorizer": "com.rcomp.authorize"})
    r.start()
    client = await connect(r, "ws", "json")
    try:
        got = await client.call("com.rcomp.ok.echo", 1)
        assert (got["authid"], got["authrole"], got["args"]) == ("app", "authzapp", [1]), got
    finally:
        client.leave()
    log = r.log_text()
    # In order: the app started once the authorizer was ready, and the
    # authorizer decided its REGISTER (asked again without options).
    assert log.index("component authorizer ready") < log.index("authorize app register com.rcomp.ok.echo"), log
    assert "dynamic authorizer failed" not in log, log


async def test_clients_wait_for_the_router_components_at_most_the_timeout(workers_router):
    r = workers_router
    router_components(
        r,
        {
            "type": "class",
            "id": "slow",
            "classname": "router_app.Slow",
            "realm": "realm1",
            "role": "backend",
            "extra": {"procedure": "com.rcomp.slow", "sleep": 600},
        },
        {
            "type": "class",
            "id": "after_slow",
            "classname": "router_app.Backend",
            "realm": "realm1",
            "role": "backend",
            "extra": {"procedure": "com.rcomp.after", "topic": "com.rcomp.after.echoed"},
        },
    )
    r.config["junction"]["components_timeout"] = 1
    r.start()
    # Served once the timeout passed, although the component never got ready.
    client = await connect(r, "ws", "json")
    try:
        with pytest.raises(Exception, match="no_such_procedure"):
            await client.call("com.rcomp.slow")
        # The component after it started once the timeout passed (Crossbar
        # would wait for the first one forever).
        got = await call_when_registered(r, "com.rcomp.after", 2)
        assert (got["authid"], got["args"]) == ("after_slow", [2]), got
    finally:
        client.leave()
    log = r.log_text()
    assert "component slow has not joined within 1 s (junction.components_timeout): the next ones start" in log, log
    assert "have not all joined within junction.components_timeout: accepting clients anyway" in log, log
    assert "have joined: accepting clients" not in log, log


async def test_a_failing_router_components_host_does_not_hold_the_clients(workers_router):
    r = workers_router
    router_components(
        r,
        {"type": "class", "classname": "router_app.NoSuchClass", "realm": "realm1", "role": "backend"},
    )
    # Longer than the interop client's connect timeout: only the host's end opens.
    r.config["junction"]["components_timeout"] = 600
    r.start()
    client = await connect(r, "ws", "json")
    try:
        assert client.joined.result().realm == "realm1"
    finally:
        client.leave()
    log = r.log_text()
    assert "cannot load a component class" in log, log
    assert "host ended before they all joined: accepting clients" in log, log


async def try_unix_ticket(path: Path, authid: str, ticket: str) -> list:
    """HELLO to realm1 over the RawSocket (JSON) at ``path``, answering a
    ticket challenge with ``ticket``: the router's last message."""
    reader, writer = await asyncio.open_unix_connection(str(path))

    def send(msg: list) -> None:
        body = json.dumps(msg).encode()
        writer.write(len(body).to_bytes(4, "big") + body)

    async def recv() -> list:
        head = await asyncio.wait_for(reader.readexactly(4), 10)
        return json.loads(await reader.readexactly(int.from_bytes(head[1:], "big")))

    try:
        writer.write(bytes([0x7F, 0xF1, 0, 0]))  # 16 MiB, JSON
        assert (await asyncio.wait_for(reader.readexactly(4), 10))[0] == 0x7F
        send([1, "realm1", {"roles": {"caller": {}}, "authmethods": ["ticket"], "authid": authid}])
        msg = await recv()
        if msg[0] == 4:  # CHALLENGE
            send([5, ticket, {}])
            msg = await recv()
        return msg
    finally:
        writer.close()


async def test_a_reload_restarts_the_router_components_host(workers_router):
    r = workers_router
    comp = {
        "type": "class",
        "classname": "router_app.Backend",
        "realm": "realm1",
        "role": "backend",
        "extra": {"procedure": "com.rcomp.one", "topic": "com.rcomp.t"},
    }
    router_components(r, comp)
    r.start()
    loop = asyncio.get_running_loop()
    first = await call_when_registered(r, "com.rcomp.one")
    assert first["authid"] == "component1"
    # An unchanged component list leaves the host alone.
    out = await loop.run_in_executor(None, r.reload)
    assert "router-components" not in out.stdout, out.stdout
    # A changed one restarts it, with the new component.
    r.config["workers"][0]["components"][0]["extra"]["procedure"] = "com.rcomp.two"
    out = await loop.run_in_executor(None, r.reload)
    assert "workers restarted: router-components" in out.stdout, out.stdout
    second = await call_when_registered(r, "com.rcomp.two")
    assert second["pid"] != first["pid"] and not alive(first["pid"])
    assert_host_stopped_on_request(r, first["pid"])
    # No component left: the host stops.
    r.config["workers"][0]["components"] = []
    out = await loop.run_in_executor(None, r.reload)
    assert "workers stopped: router-components" in out.stdout, out.stdout
    await loop.run_in_executor(None, wait_for, "the host's end", lambda: not alive(second["pid"]))
    assert "router-components" not in await loop.run_in_executor(None, r.workers)


async def test_a_crossbar_style_twisted_router_component_runs(workers_router):
    python = twisted_python()
    probe = subprocess.run([python, "-c", "import twisted.internet, autobahn.twisted"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"{python} has no Twisted (requirements.txt installs it; or set JUNCTION_TWISTED_PYTHON)")
    r = workers_router
    router_components(
        r,
        {
            "type": "class",
            "classname": "container_twisted.TwistedEcho",
            "realm": "realm1",
            "role": "backend",
            "extra": {"procedure": "com.rcomp.twisted"},
        },
    )
    r.config["workers"][0]["options"]["python"] = python
    r.start()
    got = await call_when_registered(r, "com.rcomp.twisted", "x")
    assert got["args"] == ["x"] and "Reactor" in got["reactor"], got

"""Starting and stopping the router under test.

The router is Junction (``ROUTER=junction``, the default; binary from
``JUNCTION_BIN``) or Crossbar.io, the reference router (``ROUTER=crossbar``;
binary from ``CROSSBAR_BIN``, default ``crossbar`` on PATH).  Both get the same
Crossbar-format node config (version 2, one router worker), listening on
ephemeral loopback ports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROUTER = os.environ.get("ROUTER", "junction").strip().lower()
IS_CROSSBAR = ROUTER == "crossbar"
IS_JUNCTION = ROUTER == "junction"

#: Shards Junction is started with (Crossbar has no such notion).
SHARDS = int(os.environ.get("JUNCTION_SHARDS", "2"))

#: How long a router may take until its ports accept connections.  Crossbar
#: starts a node controller and then a router worker process: slower.
START_TIMEOUT_S = 60.0 if IS_CROSSBAR else 20.0

ALLOW_ALL = {"call": True, "register": True, "publish": True, "subscribe": True}


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _permission(uri: str, match: str = "prefix", allow: dict | None = None) -> dict:
    return {
        "uri": uri,
        "match": match,
        "allow": dict(allow or ALLOW_ALL),
        "disclose": {"caller": False, "publisher": False},
        "cache": True,
    }


def web_node_config(port: int, paths: dict) -> dict:
    """A node config with one web transport on 127.0.0.1:``port`` serving
    ``paths``, realm1 where role ``anonymous`` may do everything, and a 2 s
    shutdown timeout (Junction only)."""
    return {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [_permission("")]}]}],
                "transports": [
                    {
                        "type": "web",
                        "id": "web1",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": paths,
                    }
                ],
            }
        ],
        "junction": {"shutdown_timeout": 2},
    }


def mqtt_transport(tid: str, port: int, realm: str) -> dict:
    """An MQTT transport: passthrough payloads, JSON ``native`` under ``com.native.``."""
    return {
        "type": "mqtt",
        "id": tid,
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
        "options": {
            "realm": realm,
            "role": "anonymous",
            "payload_mapping": {
                "": {"type": "passthrough"},
                "com.native.": {"type": "native", "serializer": "json"},
            },
        },
    }


def make_config(
    ws_port: int,
    rs_port: int,
    junction: dict | None = None,
    mqtt_ports: tuple[int, int] | None = None,
) -> dict:
    """The node config used by every test.

    Realms:
      * ``realm1`` and ``realm2``: role ``anonymous`` may do everything.
      * ``restricted``: role ``anonymous`` may only act on URIs under
        ``com.allowed.`` (everything else is ``wamp.error.not_authorized``).

    ``junction`` adds the top-level ``junction`` section (Junction-only keys);
    it is never written for Crossbar, whose config checker rejects unknown
    top-level keys. Junction runs with connection placement off
    (``pack_connections`` 0: the kernel's ``SO_REUSEPORT`` hash picks the
    shard), so that tests can reconnect until a session lands on the shard
    they want (``advhelpers.placed``); a test's ``junction`` may set it.
    Its ``shutdown_timeout`` is 2 s (the router's default is 10): tests stop
    routers from synchronous code (fixture teardown, ``RouterProcess.kill``)
    while their asyncio clients cannot answer the GOODBYE, so the router
    would wait out the whole timeout each time; tests of the graceful
    shutdown set their own.
    """
    everything = [_permission("")]
    config: dict = {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [
                    {"name": "realm1", "roles": [{"name": "anonymous", "permissions": everything}]},
                    {"name": "realm2", "roles": [{"name": "anonymous", "permissions": everything}]},
                    {
                        "name": "restricted",
                        "roles": [
                            {
                                "name": "anonymous",
                                "permissions": [_permission("com.allowed.")],
                            }
                        ],
                    },
                ],
                "transports": [
                    {
                        "type": "websocket",
                        "id": "ws_main",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": ws_port},
                        "serializers": ["json", "msgpack", "cbor"],
                    },
                    {
                        "type": "rawsocket",
                        "id": "rawsocket_main",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": rs_port},
                        "serializers": ["json", "msgpack", "cbor"],
                    },
                ],
            }
        ],
    }
    if mqtt_ports:
        transports = config["workers"][0]["transports"]
        transports.append(mqtt_transport("mqtt_main", mqtt_ports[0], "realm1"))
        transports.append(mqtt_transport("mqtt_restricted", mqtt_ports[1], "restricted"))
    if not IS_CROSSBAR:
        config["junction"] = {"pack_connections": 0, "shutdown_timeout": 2, **(junction or {})}
    return config


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RouterProcess:
    """One running router: its process, ports and log files."""

    def __init__(
        self,
        workdir: Path,
        junction: dict | None = None,
        config: dict | None = None,
        wait_ports: list[int] | None = None,
    ):
        """``config`` replaces the standard config (then ``wait_ports`` are
        the ports that must accept connections before the router counts as
        started)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ws_port = free_port()
        self.rs_port = free_port()
        while self.rs_port == self.ws_port:
            self.rs_port = free_port()
        taken = {self.ws_port, self.rs_port}
        self.mqtt_port = free_port()
        while self.mqtt_port in taken:
            self.mqtt_port = free_port()
        taken.add(self.mqtt_port)
        self.mqtt_restricted_port = free_port()
        while self.mqtt_restricted_port in taken:
            self.mqtt_restricted_port = free_port()
        if config is not None:
            self.config = config
            self.wait_ports = wait_ports or []
        else:
            self.config = make_config(
                self.ws_port, self.rs_port, junction, (self.mqtt_port, self.mqtt_restricted_port)
            )
            # The standard ports, read at start (subclasses may change them).
            self.wait_ports = None
        #: Extra environment variables for the router process.
        self.extra_env: dict[str, str] = {}
        self.stdout_path = self.workdir / "router.stdout.log"
        self.stderr_path = self.workdir / "router.stderr.log"
        self.proc: subprocess.Popen | None = None

    # -- addresses ---------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    # -- lifecycle ---------------------------------------------------------
    def _command(self) -> list[str]:
        if IS_CROSSBAR:
            cbdir = self.workdir / ".crossbar"
            cbdir.mkdir(exist_ok=True)
            (cbdir / "config.json").write_text(json.dumps(self.config, indent=2))
            binary = os.environ.get("CROSSBAR_BIN") or shutil.which("crossbar")
            if not binary:
                raise RuntimeError("ROUTER=crossbar needs CROSSBAR_BIN or crossbar on PATH")
            return [binary, "start", "--cbdir", str(cbdir), "--loglevel", "warn"]
        if not IS_JUNCTION:
            raise RuntimeError(f"unknown ROUTER={ROUTER!r} (junction or crossbar)")
        binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
        if not Path(binary).exists():
            raise RuntimeError(
                f"JUNCTION_BIN={binary!r} does not exist; build it with "
                "`cargo build --release --bin junction`"
            )
        path = self.workdir / "config.json"
        path.write_text(json.dumps(self.config, indent=2))
        return [binary, "start", "--config", str(path), "--shards", str(SHARDS)]

    def _ports_to_wait(self) -> list[int]:
        if self.wait_ports is None:
            return [self.ws_port, self.rs_port]
        return self.wait_ports

    def start(self) -> "RouterProcess":
        cmd = self._command()
        self.command = cmd
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        # The router's control socket in its own directory: a node refuses a
        # socket another live node owns, and routers run side by side here.
        env["RUNTIME_DIRECTORY"] = str(self.workdir / "run")
        env.update(self.extra_env)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # Own process group, so that everything the router spawns (Crossbar's
            # worker processes) can be cleaned up with it.
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"router exited with code {self.proc.returncode} during startup "
                    f"({' '.join(cmd)}):\n{self.logs()}"
                )
            if all(_port_open(p) for p in self._ports_to_wait()):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"router did not accept connections on ports {self._ports_to_wait()} "
            f"within {START_TIMEOUT_S:.0f} s ({' '.join(cmd)}):\n{self.logs()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self, limit: int = 8000) -> str:
        parts = []
        for name, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                text = ""
            if text:
                parts.append(f"--- router {name} (last {limit} chars) ---\n{text[-limit:]}")
        return "\n".join(parts) or "(router wrote nothing)"

    def terminate(self) -> None:
        """Send SIGTERM to the router (graceful shutdown)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Stop the router and anything it spawned: SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the pid
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

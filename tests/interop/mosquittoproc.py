"""mosquitto, the reference MQTT broker of test_mqtt_differential.py:
found (``MOSQUITTO_BIN``, PATH, /usr/sbin), started on a free loopback port
(anonymous, no persistence) and stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from routerproc import free_port


def mosquitto_binary() -> str | None:
    """``MOSQUITTO_BIN``, else ``mosquitto`` on PATH or in /usr/sbin (where
    Debian puts it, not on a normal user's PATH)."""
    if os.environ.get("MOSQUITTO_BIN"):
        path = os.environ["MOSQUITTO_BIN"]
        return path if os.access(path, os.X_OK) else None
    found = [shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
    return next((p for p in found if p and os.access(p, os.X_OK)), None)


def wait_port(port: int, proc: subprocess.Popen, what: str, logs) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}:\n{logs()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections on {port}:\n{logs()}")


class Mosquitto:
    """The reference broker on a free loopback port, anonymous, no persistence."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Mosquitto":
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\n"
        )
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        wait_port(self.port, self.proc, "mosquitto", self.logs)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

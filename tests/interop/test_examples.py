"""The README's walkthrough, as a test: ``examples/python/callee.py`` (RawSocket,
MessagePack) registers ``com.example.add2`` and ``examples/python/caller.py``
(WebSocket, JSON) calls it through the router under test. The scripts are run
exactly as a reader runs them, only pointed at the test router's ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


def test_readme_walkthrough_caller_and_callee_on_different_serializers(router):
    env = dict(
        os.environ,
        JUNCTION_RS_URL=f"rs://127.0.0.1:{router.rs_port}",
        JUNCTION_WS_URL=router.ws_url,
        PYTHONUNBUFFERED="1",
    )
    callee = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "callee.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            line = callee.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "add2 registered" in line:
                break
        assert any("add2 registered" in line for line in seen), "".join(seen)
        caller = subprocess.run(
            [sys.executable, str(EXAMPLES / "caller.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert caller.returncode == 0, caller.stdout + caller.stderr
        assert "com.example.add2(2, 3) = 5" in caller.stdout, caller.stdout + caller.stderr
        assert "(JSON over WebSocket)" in caller.stdout
    finally:
        callee.terminate()
        try:
            out, _ = callee.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            callee.kill()
            out, _ = callee.communicate()
    assert "add2(2, 3) called" in out, "the callee saw the invocation"
    assert router.alive()


def test_readme_mqtt_walkthrough_device_and_application(router):
    """The README's MQTT walkthrough: ``mosquitto_pub`` (a device) publishes a
    reading, ``examples/python/sensors.py`` (WAMP) receives it and commands
    the lamp, which ``mosquitto_sub`` (another device) receives."""
    env = dict(os.environ, JUNCTION_WS_URL=router.ws_url, PYTHONUNBUFFERED="1")
    app = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "sensors.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    port = str(router.mqtt_port)
    lamp = None
    try:
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = app.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "subscribed" in line:
                break
        assert any("subscribed" in line for line in seen), "".join(seen)
        lamp = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t", "devices/lamp/set", "-C", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(0.5)  # mosquitto_sub has no "subscribed" output to wait for
        pub = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", "sensors/kitchen/temp",
             "-m", "21.5", "-q", "1"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert pub.returncode == 0, pub.stdout + pub.stderr
        out, _ = lamp.communicate(timeout=20)
        assert out.strip() == "on", out
    finally:
        if lamp and lamp.poll() is None:
            lamp.kill()
        app.terminate()
        try:
            out, _ = app.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            out, _ = app.communicate()
    assert "sensors: sensors.kitchen.temp = 21.5" in out, out
    assert "too warm, lamp on" in out, out

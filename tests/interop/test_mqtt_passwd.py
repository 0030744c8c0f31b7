"""A mosquitto password file as the ticket users of a transport
(``auth.ticket.junction.password_file``, docs/mqtt.md "Coming from
mosquitto"): a file written by ``mosquitto_passwd`` (``$7$`` PBKDF2-SHA512
and ``$6$`` SHA-512 hashes) lets paho-mqtt 3.1.1/5.0 and mosquitto_pub log
in with those passwords and that role's permissions; a wrong password or an
unknown user gets CONNACK 4 (3.1.1) / 0x86 (5.0); an Autobahn|Python WAMP session logs in
with the same user and password as a ticket; ``junction reload`` reads the
file again (a user added with ``mosquitto_passwd`` logs in, a deleted one no
longer)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

from authhelpers import login
from mqttclient import TIMEOUT, V5, V311, Mqtt
from routerproc import ALLOW_ALL, RouterProcess, free_port
from test_chaos_reload import cli
from wampclient import JoinFailed

pytestmark = pytest.mark.junction_only

PASSWD = shutil.which("mosquitto_passwd") or (
    "/usr/bin/mosquitto_passwd" if os.path.exists("/usr/bin/mosquitto_passwd") else None
)


def passwd(*args: str) -> None:
    subprocess.run([PASSWD, *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pw_router(tmp_path_factory):
    if PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed (Debian package mosquitto)")
    work = tmp_path_factory.mktemp("mqtt-passwd")
    pwfile = work / "passwd"
    pwfile.touch()
    passwd("-b", str(pwfile), "sensor-1", "hunter2 with spaces")
    passwd("-H", "sha512", "-b", str(pwfile), "legacy", "0ld-style")
    mqtt_port, ws_port = free_port(), free_port()

    def perm(prefix: str) -> dict:
        return {"uri": prefix, "match": "prefix", "allow": dict(ALLOW_ALL), "disclose": {}, "cache": True}

    roles = [{"name": "device", "permissions": [perm("dev.")]}]
    auth = {"ticket": {"type": "static", "junction": {"password_file": "passwd", "role": "device"}}}
    endpoint = {"type": "tcp", "interface": "127.0.0.1"}
    config = {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": roles}],
                "transports": [
                    {
                        "type": "mqtt",
                        "id": "mqtt_pw",
                        "endpoint": {**endpoint, "port": mqtt_port},
                        "options": {"realm": "realm1", "auth": auth},
                    },
                    {
                        "type": "websocket",
                        "id": "ws_pw",
                        "endpoint": {**endpoint, "port": ws_port},
                        "auth": auth,
                    },
                ],
            }
        ],
    }
    # The password file's path is relative to the node directory: the
    # config's directory.
    proc = RouterProcess(work, config=config, wait_ports=[mqtt_port, ws_port]).start()
    proc.pwfile = pwfile
    proc.mqtt_port = mqtt_port
    proc.ws_port = ws_port
    yield proc
    proc.kill()


def mqtt_login(router, version, user: str, password: str) -> Mqtt:
    m = Mqtt(router.mqtt_port, version)
    m.c.username_pw_set(user, password)
    m.connect()
    return m


def code(m: Mqtt) -> int:
    c = m.connack_code
    return c if isinstance(c, int) else c.value


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_users_of_the_file_log_in_with_their_role(pw_router, made, version):
    for user, password in [("sensor-1", "hunter2 with spaces"), ("legacy", "0ld-style")]:
        m = mqtt_login(pw_router, version, user, password)
        made.append(m)
        assert code(m) == 0, user
        # The file's role: `dev.` only.
        granted = [c if isinstance(c, int) else c.value for c in m.subscribe("dev/1/#", 1)]
        assert granted == [1]
        denied = [c if isinstance(c, int) else c.value for c in m.subscribe("other/#", 1)]
        assert denied[0] >= 0x80
    # 3.1.1's return code 4 (bad user name or password): paho reports it
    # as 5.0's 0x86.
    refused = 0x86
    for user, password in [("sensor-1", "hunter2"), ("legacy", ""), ("nobody", "x")]:
        m = mqtt_login(pw_router, version, user, password)
        made.append(m)
        assert code(m) == refused, (user, m.connack_code)


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_role_allowed_under_a_prefix_subscribes_to_its_multilevel_filter(pw_router, made, version):
    # The role may act under `dev.` but not on `dev` itself. `dev/#` also
    # matches `dev`, whose WAMP subscription is refused; the filter stands on
    # the rest (an ACL on `dev/#` allows this subscription in mosquitto).
    sub = mqtt_login(pw_router, version, "sensor-1", "hunter2 with spaces")
    made.append(sub)
    assert [c if isinstance(c, int) else c.value for c in sub.subscribe("dev/#", 1)] == [1]
    pub = mqtt_login(pw_router, version, "legacy", "0ld-style")
    made.append(pub)
    pub.publish("dev/3/humidity", b"40", qos=1)
    (m,) = sub.expect(1)
    assert (m.topic, m.payload) == ("dev/3/humidity", b"40")
    sub.nothing(0.3)


def test_mosquitto_pub_logs_in_with_a_password_from_the_file(pw_router, made):
    sub = mqtt_login(pw_router, V5, "sensor-1", "hunter2 with spaces")
    made.append(sub)
    sub.subscribe("dev/+/temp", 1)
    base = ["mosquitto_pub", "-p", str(pw_router.mqtt_port), "-t", "dev/7/temp", "-q", "1"]
    ok = subprocess.run([*base, "-u", "legacy", "-P", "0ld-style", "-m", "21.5"],
                        capture_output=True, text=True, timeout=TIMEOUT)
    assert ok.returncode == 0, ok.stderr
    (m,) = sub.expect(1)
    assert (m.topic, m.payload) == ("dev/7/temp", b"21.5")
    bad = subprocess.run([*base, "-u", "legacy", "-P", "nope", "-m", "x"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode != 0
    assert "not authorised" in (bad.stderr + bad.stdout).lower() or "refused" in bad.stderr.lower(), bad.stderr
    sub.nothing(0.3)


async def test_a_wamp_client_logs_in_with_the_same_user_as_a_ticket(pw_router):
    addr = ("127.0.0.1", pw_router.ws_port)
    s = await login(addr, "ws", "ticket", "sensor-1", "hunter2 with spaces")
    try:
        assert (s._authid, s._authrole, s._authmethod) == ("sensor-1", "device", "ticket")
        # The file's role: `dev.` only.
        await s.publish("dev.1.temp", 1, options=PublishOptions(acknowledge=True))
        with pytest.raises(ApplicationError) as denied:
            await s.publish("other.x", 1, options=PublishOptions(acknowledge=True))
        assert denied.value.error == "wamp.error.not_authorized"
    finally:
        await s.close()
    with pytest.raises(JoinFailed) as refused:
        await login(addr, "ws", "ticket", "sensor-1", "hunter3")
    assert refused.value.reason == "wamp.error.authentication_failed"


def test_a_reload_reads_the_file_again(pw_router, made):
    passwd("-b", str(pw_router.pwfile), "sensor-2", "new one")
    passwd("-D", str(pw_router.pwfile), "legacy")
    out = cli(pw_router, "reload")
    assert out.returncode == 0, out.stdout + out.stderr
    m = mqtt_login(pw_router, V311, "sensor-2", "new one")
    made.append(m)
    assert code(m) == 0
    m = mqtt_login(pw_router, V311, "legacy", "0ld-style")
    made.append(m)
    assert code(m) == 0x86

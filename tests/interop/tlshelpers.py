"""TLS helpers for the interop suite: a private CA and certificates made by the
tests (Python ``cryptography``), SSL contexts for clients, a router config with
TLS on every kind of listener, and a minimal WebSocket client (for cookies).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import os
import ssl
import struct
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.websocket import WampWebSocketClientFactory

from authhelpers import AuthClient
from routerproc import ALLOW_ALL, RouterProcess, free_port
from wampclient import TIMEOUT, _SERIALIZER_CLASSES


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Pki:
    """A CA (``ca.crt``), a server certificate for ``localhost``/127.0.0.1
    (``server.crt``, ``server.key``) and client certificates on request, in
    ``directory``."""

    def __init__(self, directory: Path, ca_cn: str = "Junction Interop CA"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name(ca_cn))
            .issuer_name(_name(ca_cn))
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_path = self.dir / "ca.crt"
        self.ca_path.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self.server_serial = self.issue_server()

    def _issue(self, cn: str, sans: list | None, client: bool):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usage = x509.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return b.sign(self.ca_key, hashes.SHA256()), key

    def issue_server(self) -> int:
        """(Re)writes ``server.crt``/``server.key`` with a new certificate; its serial."""
        import ipaddress

        cert, key = self._issue(
            "localhost",
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
            client=False,
        )
        # Written whole, then renamed: a reload never reads half a file.
        for name, data in (
            ("server.crt", cert.public_bytes(serialization.Encoding.PEM)),
            ("server.key", None),
        ):
            tmp = self.dir / (name + ".tmp")
            if data is None:
                _write_key(tmp, key)
            else:
                tmp.write_bytes(data)
            os.replace(tmp, self.dir / name)
        return cert.serial_number

    def client(self, cn: str) -> tuple[Path, Path, str]:
        """A client certificate with subject CN ``cn``: (cert path, key path,
        SHA-1 fingerprint as Crossbar writes it)."""
        cert, key = self._issue(cn, None, client=True)
        cpath = self.dir / f"client-{cn}.crt"
        kpath = self.dir / f"client-{cn}.key"
        cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(kpath, key)
        sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()
        return cpath, kpath, ":".join(sha1[i : i + 2] for i in range(0, len(sha1), 2))

    def endpoint_tls(self, client_certificates: str | None = None) -> dict:
        tls = {"key": str(self.dir / "server.key"), "certificate": str(self.dir / "server.crt")}
        if client_certificates:
            tls["ca_certificates"] = [str(self.ca_path)]
            tls["junction"] = {"client_certificates": client_certificates}
        return tls

    def context(self, client: tuple[Path, Path, str] | None = None, tls13: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_path))
        if not tls13:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if client:
            ctx.load_cert_chain(str(client[0]), str(client[1]))
        return ctx


def _perm() -> dict:
    return {
        "uri": "",
        "match": "prefix",
        "allow": dict(ALLOW_ALL),
        "disclose": {"caller": True, "publisher": True},
        "cache": True,
    }


#: Listener name → what it is.
TLS_LISTENERS = ["wss", "rss", "web", "mqtts", "uni", "ws_plain", "rs_plain", "web_plain"]


class TlsRouter(RouterProcess):
    """A router with TLS on a WebSocket, a RawSocket, a web and an MQTT
    listener (client certificates optional, verified against the test CA),
    and a plaintext WebSocket and RawSocket listener."""

    def __init__(self, workdir: Path, pki: Pki, alice_sha1: str, ports: dict | None = None):
        self.pki = pki
        self.ports = ports or {}
        for name in TLS_LISTENERS:
            if name not in self.ports:
                p = free_port()
                while p in self.ports.values():
                    p = free_port()
                self.ports[name] = p
        auth = {
            "anonymous": {"type": "static", "role": "anonymous"},
            "ticket": {"type": "static", "principals": {"joe": {"ticket": "joe-secret", "role": "user"}}},
            "tls": {
                "type": "static",
                "principals": {"alice": {"certificate-sha1": alice_sha1, "role": "user"}},
                # Junction extension: any other CA-verified certificate, by CN.
                "junction": {"authid": "cn", "role": "device"},
            },
            "cryptosign": {
                "type": "static",
                "principals": {"dev": {"authorized_keys": [_pubkey(1)], "role": "user"}},
            },
            "cookie": {},
        }
        tls = pki.endpoint_tls("optional")
        ep = lambda name, t=None: dict(  # noqa: E731
            {"type": "tcp", "interface": "127.0.0.1", "port": self.ports[name]},
            **({"tls": t} if t else {}),
        )
        transports = [
            {
                "type": "websocket",
                "id": "wss",
                "endpoint": ep("wss", tls),
                "serializers": ["json", "msgpack", "cbor"],
                "auth": auth,
                "cookie": {"store": {"type": "file", "filename": "cookies.jsonl"}, "max_age": 3600},
            },
            {"type": "rawsocket", "id": "rss", "endpoint": ep("rss", tls), "serializers": ["json", "msgpack", "cbor"], "auth": auth},
            {
                "type": "web",
                "id": "web",
                "endpoint": ep("web", tls),
                "options": {"hsts": True, "hsts_max_age": 600},
                "paths": {
                    "/": {"type": "json", "value": {"hello": "tls"}},
                    "ws": {"type": "websocket", "serializers": ["json"], "auth": auth},
                    "mqtt": {
                        "type": "mqtt",
                        "options": {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}},
                    },
                },
            },
            {
                "type": "mqtt",
                "id": "mqtts",
                "endpoint": ep("mqtts", tls),
                "options": {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}},
            },
            {
                # One port, the protocol chosen by the first decrypted octet.
                "type": "universal",
                "id": "uni",
                "endpoint": ep("uni", tls),
                "rawsocket": {"serializers": ["json", "msgpack"]},
                "websocket": {"ws": {"type": "websocket", "serializers": ["json"]}},
                "mqtt": {"options": {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}}},
            },
            {"type": "websocket", "id": "ws_plain", "endpoint": ep("ws_plain"), "serializers": ["json"]},
            {"type": "rawsocket", "id": "rs_plain", "endpoint": ep("rs_plain"), "serializers": ["json"]},
            {
                # HSTS configured on a plaintext listener: never sent there.
                "type": "web",
                "id": "web_plain",
                "endpoint": ep("web_plain"),
                "options": {"hsts": True},
                "paths": {"/": {"type": "json", "value": {"hello": "plain"}}},
            },
        ]
        roles = [{"name": n, "permissions": [_perm()]} for n in ("anonymous", "user", "device")]
        config = {
            "version": 2,
            "controller": {},
            "workers": [{"type": "router", "realms": [{"name": "realm1", "roles": roles}], "transports": transports}],
            "junction": {"auth": {"failed_login_burst": 100000}},
        }
        super().__init__(workdir, config=config, wait_ports=list(self.ports.values()))

    def addr(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", self.ports[name])

    def log_text(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")


def _pubkey(n: int) -> str:
    from nacl.signing import SigningKey

    return SigningKey(bytes([n]) * 32).verify_key.encode().hex()


async def tls_login(
    router: TlsRouter,
    listener: str,
    transport: str,
    auth,
    ctx: ssl.SSLContext | None,
    authid: str | None = None,
    serializer: str = "json",
    path: str = "/",
) -> AuthClient:
    """Autobahn|Python over TLS (``ctx``) or plaintext; raises JoinFailed when refused."""
    loop = asyncio.get_running_loop()
    session = AuthClient("realm1", f"{listener}-{auth.name}", auth, authid)
    ser = _SERIALIZER_CLASSES[serializer]()
    host, port = router.addr(listener)
    scheme = "wss" if ctx else "ws"
    if transport == "ws":
        factory = WampWebSocketClientFactory(
            lambda: session, url=f"{scheme}://localhost:{port}{path}", serializers=[ser]
        )
    else:
        factory = WampRawSocketClientFactory(lambda: session, serializer=ser)
    kw = {"ssl": ctx, "server_hostname": "localhost"} if ctx else {}
    await asyncio.wait_for(loop.create_connection(factory, host, port, **kw), TIMEOUT)
    try:
        await asyncio.wait_for(asyncio.shield(session.joined), TIMEOUT)
    except asyncio.TimeoutError:
        session.drop()
        raise
    return session


# -- a minimal WebSocket client (JSON WAMP, text frames) ----------------------------


class RawWs:
    """A bare WebSocket client: the upgrade (with a ``Cookie`` header), its
    answer's header fields, and JSON WAMP messages in text frames."""

    def __init__(self, reader, writer, headers: dict[str, list[str]]):
        self.reader = reader
        self.writer = writer
        self.headers = headers

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str = "/", ctx: ssl.SSLContext | None = None, cookie: str | None = None
    ) -> "RawWs":
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname="localhost" if ctx else None)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: localhost:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: wamp.2.json",
        ]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status, *fields = head.decode().split("\r\n")
        if " 101 " not in status:
            raise RuntimeError(f"upgrade refused: {head!r}")
        headers: dict[str, list[str]] = {}
        for f in fields:
            if ":" in f:
                n, v = f.split(":", 1)
                headers.setdefault(n.strip().lower(), []).append(v.strip())
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert headers["sec-websocket-accept"] == [accept]
        return cls(reader, writer, headers)

    def set_cookie(self, name: str = "cbtid") -> str | None:
        for v in self.headers.get("set-cookie", []):
            if v.startswith(name + "="):
                return v
        return None

    async def send(self, msg: list) -> None:
        data = json.dumps(msg).encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(head + mask + body)
        await self.writer.drain()

    async def recv(self, timeout: float = 10) -> list:
        while True:
            b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            data = await self.reader.readexactly(n)
            op = b0 & 0x0F
            if op == 0x1:
                return json.loads(data)
            if op == 0x8:
                raise ConnectionError(f"closed: {data!r}")

    def close(self) -> None:
        self.writer.close()


__all__ = ["Pki", "RawWs", "TlsRouter"]

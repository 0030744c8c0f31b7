"""A WAMP-over-HTTP long-poll client for the tests (the transport's
protocol as the WAMP spec describes it), with JSON and MessagePack, batched
or not."""

from __future__ import annotations

import json
import time

import msgpack
import requests


class LongPollClient:
    """WAMP over HTTP long-poll as the spec describes it: POST <base>/open with
    the protocols, then <base>/<transport>/send|receive|close. Every request
    on a fresh connection, unless ``http`` is a ``requests.Session`` (one
    kept-alive connection, as a browser's)."""

    def __init__(self, base: str, protocol: str = "wamp.2.json", http=requests):
        self.base = base
        self.http = http
        r = http.post(f"{base}/open", json={"protocols": ["wamp.2.ubjson", protocol]}, timeout=10)
        assert r.status_code == 200, r.text
        info = r.json()
        assert info["protocol"] == protocol
        self.transport = info["transport"]
        self.protocol = protocol
        self.pending: list = []

    def url(self, op: str) -> str:
        return f"{self.base}/{self.transport}/{op}"

    def encode(self, msgs: list) -> bytes:
        if self.protocol == "wamp.2.json":
            assert len(msgs) == 1
            return json.dumps(msgs[0]).encode()
        if self.protocol == "wamp.2.json.batched":
            # Autobahn|Python's separator (0x18) on the first, the spec's (0x1E) after the rest.
            parts = [json.dumps(m).encode() for m in msgs]
            return b"".join(p + (b"\x18" if i == 0 else b"\x1e") for i, p in enumerate(parts))
        if self.protocol == "wamp.2.msgpack.batched":
            out = b""
            for m in msgs:
                b = msgpack.packb(m)
                out += len(b).to_bytes(4, "big") + b
            return out
        assert self.protocol == "wamp.2.msgpack"
        return msgpack.packb(msgs[0])

    def decode(self, body: bytes) -> list:
        if self.protocol == "wamp.2.json":
            return [json.loads(body)]
        if self.protocol == "wamp.2.json.batched":
            return [json.loads(p) for p in body.split(b"\x1e") if p]
        if self.protocol == "wamp.2.msgpack":
            return [msgpack.unpackb(body)]
        out = []
        while body:
            n = int.from_bytes(body[:4], "big")
            out.append(msgpack.unpackb(body[4 : 4 + n]))
            body = body[4 + n :]
        return out

    def send(self, *msgs) -> requests.Response:
        r = self.http.post(self.url("send"), data=self.encode(list(msgs)), timeout=10)
        return r

    def receive(self, timeout: float = 10) -> list:
        """The next message(s), polling until one arrives."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            assert time.monotonic() < deadline, "nothing received"
            r = self.http.post(self.url("receive"), timeout=10)
            if r.status_code == 204:
                continue
            assert r.status_code == 200, (r.status_code, r.text)
            self.pending.extend(self.decode(r.content))
        return self.pending.pop(0)

    def close(self) -> requests.Response:
        return self.http.post(self.url("close"), timeout=10)


def lp_join(base: str, protocol: str, http=requests) -> tuple[LongPollClient, int]:
    c = LongPollClient(base, protocol, http)
    assert c.send([1, "realm1", {"roles": {"subscriber": {}, "publisher": {}, "caller": {}, "callee": {}}}]).status_code == 204
    welcome = c.receive()
    assert welcome[0] == 2, welcome
    return c, welcome[1]

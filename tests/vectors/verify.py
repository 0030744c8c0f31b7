#!/usr/bin/env python3
"""Independent check of the golden vectors against reference implementations.

The expected messages below are written out again, by hand, in Python (not
generated from the Rust side). For each vector this checks that:
  * Python's json / msgpack / cbor2 decode the file to the expected structure;
  * the same libraries encode the expected structure to exactly the file's
    bytes (compact JSON with UTF-8 output; msgpack with use_bin_type=True;
    cbor2 defaults), i.e. our encoder agrees with the reference encoders.

Usage:
    python3 -m venv /tmp/vec && /tmp/vec/bin/pip install msgpack cbor2
    /tmp/vec/bin/python tests/vectors/verify.py
"""

import base64
import json
import pathlib
import sys

import cbor2
import msgpack

HERE = pathlib.Path(__file__).resolve().parent

JOHN_ARGS = ["johnny"]
JOHN_KW = {"firstname": "John", "surname": "Doe"}

EXPECTED = {
    "hello": [
        1,
        "com.example.realm",
        {
            "roles": {
                "publisher": {},
                "subscriber": {},
                "caller": {},
                "callee": {"features": {"progressive_call_results": True}},
            },
            "authmethods": ["anonymous", "ticket"],
            "agent": "junction-test/0.1",
        },
    ],
    "welcome": [
        2,
        9129137332,
        {
            "authid": "alice",
            "authrole": "user",
            "roles": {
                "broker": {"features": {"publisher_exclusion": True}},
                "dealer": {},
            },
        },
    ],
    "abort": [3, {"message": "The realm does not exist."}, "wamp.error.no_such_realm"],
    "goodbye": [6, {"message": "The host is shutting down now."}, "wamp.close.system_shutdown"],
    "publish": [
        16,
        239714735,
        {"acknowledge": True, "exclude_me": False},
        "com.myapp.mytopic1",
        ["Hello, world!", 42, -7, 3.25, None, True, b"\x00\x01\x02\xff", [1, [2, [3]]]],
        {
            "color": "orange",
            "sizes": [23, 42, 7],
            "blob": b"hi",
            "big": 2**64 - 1,
            "neg": -(2**63),
            "medium": 70000,
            "unicode": "Grüße, 世界 😀",
            "escape": 'line\nbreak "q" \\ tab\t\x01',
            "long": "a string longer than thirty-one bytes, so not a fixstr",
        },
    ],
    "publish_minimal": [16, 1, {}, "com.myapp.t"],
    "subscribe": [32, 713845233, {"match": "wildcard"}, "com.myapp..update"],
    "event": [36, 5512315355, 4429313566, {"publisher": 3335656}, JOHN_ARGS, JOHN_KW],
    "call": [
        48,
        7814135,
        {"timeout": 1000, "receive_progress": True},
        "com.myapp.user.new",
        JOHN_ARGS,
        JOHN_KW,
    ],
    "result": [50, 7814135, {"progress": False}, [30, 1.5, -0.25]],
    "error": [
        8,
        48,
        7814135,
        {},
        "com.myapp.error.object_write_protected",
        ["Object is write protected."],
        {"severity": 3},
    ],
    "register": [
        64,
        25349185,
        {"match": "prefix", "invoke": "roundrobin"},
        "com.myapp.myprocedure1",
    ],
    "invocation": [
        68,
        6131533,
        9823526,
        {"caller": 3335656, "procedure": "com.myapp.myprocedure1.x"},
        ["Hello, world!"],
    ],
    "yield": [70, 6131533, {}, [], {"userid": 123, "karma": 10}],
}


def to_json_model(v):
    """WAMP's JSON convention: bytes travel as "\\u0000" + base64."""
    if isinstance(v, bytes):
        return "\x00" + base64.b64encode(v).decode("ascii")
    if isinstance(v, list):
        return [to_json_model(x) for x in v]
    if isinstance(v, dict):
        return {k: to_json_model(x) for k, x in v.items()}
    return v


def same(a, b):
    """Equality that also compares types (True != 1, 1.0 != 1) and key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def main():
    failures = 0
    checked = 0
    for name, msg in EXPECTED.items():
        files = {
            "json": HERE / "json" / f"{name}.json",
            "msgpack": HERE / "msgpack" / f"{name}.bin",
            "cbor": HERE / "cbor" / f"{name}.bin",
        }
        data = {k: p.read_bytes() for k, p in files.items()}
        jmsg = to_json_model(msg)
        checks = [
            ("json decode", same(json.loads(data["json"].decode("utf-8")), jmsg)),
            (
                "json encode",
                json.dumps(jmsg, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                == data["json"],
            ),
            ("msgpack decode", same(msgpack.unpackb(data["msgpack"], raw=False), msg)),
            ("msgpack encode", msgpack.packb(msg, use_bin_type=True) == data["msgpack"]),
            ("cbor decode", same(cbor2.loads(data["cbor"]), msg)),
            ("cbor encode", cbor2.dumps(msg) == data["cbor"]),
        ]
        for what, ok in checks:
            checked += 1
            if not ok:
                failures += 1
                print(f"FAIL {name}: {what}")
    print(f"{checked - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

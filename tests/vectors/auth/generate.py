#!/usr/bin/env python3
"""Golden vectors for Junction's WAMP authentication methods (src/proto/auth).

Every value a client computes comes from the real client library, Autobahn|Python, whenever
it has a helper for it:

- wampcra: ``autobahn.wamp.auth.AuthWampCra.on_challenge`` (plain and salted secrets),
  ``derive_key``; the challenge string is built the way Crossbar.io 26.10.1 builds it
  (``crossbar/router/auth/wampcra.py``: a dict in the order authid, authrole, authmethod,
  authprovider, session, nonce, timestamp, dumped by ``json.dumps(..., ensure_ascii=False)``,
  the timestamp from ``autobahn.util.utcstr``).
- scram (Autobahn/Crossbar dialect, authmethod ``scram``): ``AuthScram.on_challenge`` for the
  client proof, ``AuthScram.on_welcome`` to check the server signature we expect, and
  ``derive_scram_credential`` for a credential in Crossbar's config format.
- cryptosign: ``CryptosignKey.sign_challenge`` from fixed seeds, with and without a
  ``tls-unique`` channel id; the WAMP spec's own test vectors are re-checked against it.

Where Autobahn has no helper the script says so in the vector's ``source`` field and computes
the value from the spec's pseudocode with Python's hashlib/hmac/argon2-cffi:

- Autobahn's SCRAM client cannot do PBKDF2 (it passes the base64 salt *string* to its own
  ``pbkdf2()``, which raises ``ValueError: Invalid argument types``); the script records that.
- Nothing in Autobahn speaks the spec's ``wamp-scram`` dialect.

Run it from the repository root with a virtualenv holding autobahn==26.10.2, PyNaCl,
argon2-cffi and passlib:

    python3 -m venv .venv && .venv/bin/pip install autobahn==26.10.2 pynacl argon2-cffi passlib
    .venv/bin/python tests/vectors/auth/generate.py

It rewrites ``tests/vectors/auth/vectors.json`` deterministically (fixed seeds, nonces and
times), so a second run gives the same bytes.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import version

from argon2.low_level import Type, hash_secret_raw
import asyncio

import txaio

txaio.use_asyncio()
_LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(_LOOP)
txaio.config.loop = _LOOP

from autobahn import util  # noqa: E402
from autobahn.wamp import auth
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.types import Challenge
from passlib.utils import saslprep

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def det_bytes(label: str, n: int) -> bytes:
    """Deterministic 'random' bytes: SHA-256 chain over a label (the vectors must not change)."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:n]


# ---------------------------------------------------------------------------------------------
# wampcra
# ---------------------------------------------------------------------------------------------


def crossbar_challenge(authid, authrole, authprovider, session, nonce, when):
    """The challenge string exactly as Crossbar.io 26.10.1 builds it (see the module doc)."""
    obj = {
        "authid": authid,
        "authrole": authrole,
        "authmethod": "wampcra",
        "authprovider": authprovider,
        "session": session,
        "nonce": nonce,
        "timestamp": util.utcstr(when),
    }
    return json.dumps(obj, ensure_ascii=False)


def wampcra_vectors():
    epoch = datetime(1970, 1, 1)
    cases = [
        # name, authid, role, provider, session, secret, salt params, when (naive UTC)
        ("plain", "joe", "frontend", "static", 3251278072152162, "secret2", None,
         datetime(2014, 6, 22, 16, 36, 25, 448000)),
        # A timestamp with sub-millisecond digits: utcstr truncates to milliseconds.
        ("plain-truncated-ms", "peter", "user", "dynamic", 1, "s3cr3t \u00e9\u00e8", None,
         datetime(2026, 2, 28, 23, 59, 59, 999999)),
        # Characters JSON must escape, and non-ASCII kept as is (ensure_ascii=False).
        ("plain-escaping", "j\u00f6rg \"x\"\\\n\t\u0001\u2028\U0001F600", "r\u00f4le",
         "static", 9007199254740992, "k", None, datetime(2000, 2, 29, 0, 0, 0, 0)),
        # The salted example of Crossbar's docs (keylen 16) and Autobahn's example (keylen 32).
        ("salted-keylen16", "peter", "frontend", "static", 4242, "secret1",
         ("salt123", 100, 16), datetime(2021, 1, 1, 12, 0, 0, 7000)),
        ("salted-keylen32", "salted", "authenticated", "static", 77, "s33kr1t",
         ("salt123", 100, 32), datetime(1999, 12, 31, 23, 59, 59, 1000)),
    ]
    out = []
    for name, authid, role, provider, session, secret, salted, when in cases:
        nonce = b64(det_bytes("wampcra-nonce/" + name, 48))  # util.newid(64): 64 chars
        assert len(nonce) == 64
        challenge = crossbar_challenge(authid, role, provider, session, nonce, when)
        extra = {"challenge": challenge}
        derived = None
        if salted:
            salt, iterations, keylen = salted
            extra.update({"salt": salt, "iterations": iterations, "keylen": keylen})
            derived = auth.derive_key(secret, salt, iterations, keylen).decode("ascii")
        client = auth.AuthWampCra(authid=authid, secret=secret)
        signature = client.on_challenge(None, Challenge("wampcra", extra))
        # The router's side: HMAC keyed with the stored key (the derived key when salted).
        key = (derived if salted else secret).encode("utf8")
        assert auth.compute_wcs(key, challenge.encode("utf8")).decode() == signature
        delta = when - epoch
        out.append({
            "name": name,
            "source": "autobahn AuthWampCra.on_challenge; challenge as Crossbar.io builds it",
            "authid": authid,
            "authrole": role,
            "authprovider": provider,
            "session": session,
            "nonce": nonce,
            "unix_micros": delta // timedelta(microseconds=1),
            "timestamp": util.utcstr(when),
            "challenge": challenge,
            "secret": secret,
            "salt": salted[0] if salted else None,
            "iterations": salted[1] if salted else None,
            "keylen": salted[2] if salted else None,
            "derived_key": derived,
            "signature": signature,
        })
    return out


def wampcra_crossbar_quirk():
    """Crossbar 26.10.1 derives a key from the configured `secret` at every login, although its
    docs and Autobahn's example config store the *derived* key there. This records both
    signatures for Autobahn's example (config secret = derive_key("s33kr1t", ...))."""
    configured = auth.derive_key("s33kr1t", "salt123", 100, 32).decode("ascii")
    challenge = crossbar_challenge("salted", "authenticated", "static", 5, "n" * 64,
                                   datetime(2020, 5, 5, 5, 5, 5))
    extra = {"challenge": challenge, "salt": "salt123", "iterations": 100, "keylen": 32}
    client_with_password = auth.AuthWampCra(authid="salted", secret="s33kr1t")
    client_with_configured = auth.AuthWampCra(authid="salted", secret=configured)
    return {
        "configured_secret": configured,
        "salt": "salt123",
        "iterations": 100,
        "keylen": 32,
        "challenge": challenge,
        "signature_client_holds_password": client_with_password.on_challenge(
            None, Challenge("wampcra", extra)),
        "signature_client_holds_configured_secret": client_with_configured.on_challenge(
            None, Challenge("wampcra", extra)),
    }


# ---------------------------------------------------------------------------------------------
# scram
# ---------------------------------------------------------------------------------------------


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def spec_salted_password(kdf, password, salt, iterations, memory):
    """SaltedPassword per the spec: the KDF's 32 raw octets."""
    if kdf == "pbkdf2":
        return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)
    if kdf == "argon2id13":
        return hash_secret_raw(password, salt, time_cost=iterations, memory_cost=memory,
                               parallelism=1, hash_len=32, type=Type.ID, version=0x13)
    raise ValueError(kdf)


def keys_from_salted(salted):
    client_key = hmac256(salted, b"Client Key")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac256(salted, b"Server Key")
    return client_key, stored_key, server_key


class _LogOnly:
    """What AuthScram.on_welcome needs of a session: a logger."""

    class log:  # noqa: N801 - mimics the session attribute
        @staticmethod
        def info(*_a, **_k):
            pass

        @staticmethod
        def error(*_a, **_k):
            pass


def autobahn_scram_vector(name, authid, password, salt, kdf, iterations, memory, use_tool):
    """The Autobahn/Crossbar dialect, computed by Autobahn's own client."""
    client_nonce = b64(det_bytes("scram-client-nonce/" + name, 16))
    server_random = det_bytes("scram-server-nonce/" + name, 16)
    nonce = client_nonce + b64(server_random)
    if use_tool:
        # Autobahn's credential tool: argon2id-13 with t=4096, m=512 KiB (fixed by the tool).
        cred = auth.derive_scram_credential(authid, password, salt)
        assert cred["kdf"] == kdf and cred["iterations"] == iterations and cred["memory"] == memory
        stored_key = bytes.fromhex(cred["stored-key"])
        server_key = bytes.fromhex(cred["server-key"])
        source = "autobahn derive_scram_credential + AuthScram.on_challenge/on_welcome"
    else:
        salted = auth._hash_argon2id13_secret(password.encode("utf8"), b64(salt), iterations,
                                              memory)
        _, stored_key, server_key = keys_from_salted(salted)
        source = "autobahn AuthScram.on_challenge/on_welcome (keys from its _hash_argon2id13_secret)"
    client = auth.AuthScram(authid=authid, password=password)
    client._client_nonce = client_nonce
    extra = {"nonce": nonce, "kdf": kdf, "salt": b64(salt), "iterations": iterations,
             "memory": memory}
    proof = client.on_challenge(None, Challenge("scram", extra)).decode("ascii")
    # The router's side as Crossbar computes it (crossbar/router/auth/scram.py).
    auth_message = (f"n={saslprep(authid)},r={client_nonce},"
                    f"r={nonce},s={b64(salt)},i={iterations},c=,r={nonce}").encode("ascii")
    assert auth_message == client._auth_message
    server_signature = b64(hmac256(server_key, auth_message))
    assert client.on_welcome(_LogOnly(), {"scram_server_signature": server_signature}) is None
    return {
        "name": name,
        "source": source,
        "dialect": "autobahn",
        "authmethod": "scram",
        "authid": authid,
        "password": password,
        "kdf": kdf,
        "iterations": iterations,
        "memory": memory,
        "salt_hex": salt.hex(),
        "stored_key_hex": stored_key.hex(),
        "server_key_hex": server_key.hex(),
        "client_nonce": client_nonce,
        "server_nonce_hex": server_random.hex(),
        "nonce": nonce,
        "channel_binding": None,
        "cbind_data_hex": None,
        "auth_message": auth_message.decode("ascii"),
        "client_proof": proof,
        "server_signature": server_signature,
    }


def autobahn_pbkdf2_fails():
    client = auth.AuthScram(authid="alice", password="pw")
    _ = client.authextra
    extra = {"nonce": client._client_nonce + "AAAA", "kdf": "pbkdf2", "salt": b64(b"saltsalt"),
             "iterations": 4096}
    try:
        client.on_challenge(None, Challenge("scram", extra))
    except Exception as e:  # noqa: BLE001 - recording what the client does
        return f"{type(e).__name__}: {e}"
    raise AssertionError("Autobahn's SCRAM client learnt PBKDF2: make it a real vector")


def spec_scram_vector(name, dialect, authid, password, salt, kdf, iterations, memory,
                      channel_binding=None, cbind_data=None, client_nonce=None,
                      server_part=None):
    """A vector from the spec's pseudocode (no client library speaks this)."""
    if client_nonce is None:
        client_nonce = b64(det_bytes("scram-client-nonce/" + name, 16))
    if server_part is None:
        server_random = det_bytes("scram-server-nonce/" + name, 16)
        server_part = b64(server_random)
        server_nonce_hex = server_random.hex()
    else:
        server_nonce_hex = None
    nonce = client_nonce + server_part
    raw_kdf = "argon2id13" if kdf in ("argon2id13", "argon2id-13") else kdf
    salted = spec_salted_password(raw_kdf, password.encode("utf8"), salt, iterations, memory)
    if kdf == "argon2id-13":
        # Autobahn's argon2id-13 keys on the unpadded base64 text of the raw hash.
        salted = base64.b64encode(salted).rstrip(b"=")
    client_key, stored_key, server_key = keys_from_salted(salted)
    user = saslprep(authid)
    if dialect == "spec":
        user = user.replace("=", "=3D").replace(",", "=2C")
        flag = "n" if channel_binding is None else "p=" + channel_binding
        cbind_input = flag.encode("ascii") + b",," + (cbind_data or b"")
        c = b64(cbind_input)
    else:
        c = ""
    auth_message = (f"n={user},r={client_nonce},r={nonce},s={b64(salt)},i={iterations},"
                    f"c={c},r={nonce}").encode("utf8")
    client_signature = hmac256(stored_key, auth_message)
    proof = b64(xor(client_key, client_signature))
    return {
        "name": name,
        "source": "spec pseudocode (hashlib/hmac/argon2-cffi); no client library for this case",
        "dialect": dialect,
        "authmethod": "wamp-scram" if dialect == "spec" else "scram",
        "authid": authid,
        "password": password,
        "kdf": kdf,
        "iterations": iterations,
        "memory": memory,
        "salt_hex": salt.hex(),
        "stored_key_hex": stored_key.hex(),
        "server_key_hex": server_key.hex(),
        "client_nonce": client_nonce,
        "server_nonce_hex": server_nonce_hex,
        "nonce": nonce,
        "channel_binding": channel_binding,
        "cbind_data_hex": cbind_data.hex() if cbind_data is not None else None,
        "auth_message": auth_message.decode("utf8"),
        "client_proof": proof,
        "server_signature": b64(hmac256(server_key, auth_message)),
    }


def scram_vectors():
    vectors = [
        autobahn_scram_vector("autobahn-argon2id-13-crossbar-credential", "alice@example.com",
                              "correct horse", det_bytes("salt/cb", 16), "argon2id-13", 4096,
                              512, use_tool=True),
        # SASLprep maps the soft hyphen to nothing, NBSP to a space, and NFKC folds U+2163 to
        # "IV". Autobahn (and Crossbar) encode the AuthMessage as ASCII: a non-ASCII authid
        # (after SASLprep) cannot log in with them at all.
        autobahn_scram_vector("autobahn-argon2id-13-small", "bo\u00adb\u00a0\u2163", "p\u00e4ssw\u00f6rd",
                              det_bytes("salt/small", 16), "argon2id-13", 3, 64,
                              use_tool=False),
        spec_scram_vector("autobahn-dialect-pbkdf2", "autobahn", "carol", "pencil",
                          det_bytes("salt/pb", 16), "pbkdf2", 4096, None),
        spec_scram_vector("spec-pbkdf2", "spec", "dave", "pencil", det_bytes("salt/spb", 16),
                          "pbkdf2", 4096, None),
        spec_scram_vector("spec-argon2id13", "spec", "erin", "hunter2",
                          det_bytes("salt/sa", 16), "argon2id13", 3, 64),
        spec_scram_vector("spec-escaped-authid", "spec", "a,b=c\u00e9", "pw",
                          det_bytes("salt/esc", 16), "pbkdf2", 4096, None),
        spec_scram_vector("spec-tls-unique", "spec", "frank", "pw", det_bytes("salt/cb2", 16),
                          "pbkdf2", 4096, None, channel_binding="tls-unique",
                          cbind_data=det_bytes("tls-unique", 32)),
        # RFC 7677's SCRAM-SHA-256 example, which the WAMP spec's examples reuse.
        spec_scram_vector("rfc7677", "spec", "user", "pencil",
                          base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), "pbkdf2", 4096, None,
                          client_nonce="rOprNGfwEbeRWgbNEkqO",
                          server_part="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
    ]
    rfc = vectors[-1]
    assert rfc["client_proof"] == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    assert rfc["server_signature"] == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    rfc["source"] = "RFC 7677 section 3 (recomputed here from the spec's pseudocode)"
    # The spec pseudocode and Autobahn agree on the argon2id-13 quirk: check it once.
    check = spec_scram_vector("check", "autobahn", "bo\u00adb\u00a0\u2163", "p\u00e4ssw\u00f6rd",
                              det_bytes("salt/small", 16), "argon2id-13", 3, 64,
                              client_nonce=vectors[1]["client_nonce"],
                              server_part=b64(bytes.fromhex(vectors[1]["server_nonce_hex"])))
    assert check["client_proof"] == vectors[1]["client_proof"]
    return vectors


# ---------------------------------------------------------------------------------------------
# cryptosign
# ---------------------------------------------------------------------------------------------

SPEC_CRYPTOSIGN = [
    # (channel_id, private_key seed, challenge, signature) from the WAMP spec's test vectors
    (None, "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
     "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
    ("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff",
     "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
     "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
     "305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a427c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282"),
]


def sign_with_autobahn(seed_hex, challenge_hex, channel_id_hex):
    key = CryptosignKey.from_bytes(bytes.fromhex(seed_hex))
    channel_id = bytes.fromhex(channel_id_hex) if channel_id_hex else None
    fut = key.sign_challenge(Challenge("cryptosign", {"challenge": challenge_hex}),
                             channel_id=channel_id,
                             channel_id_type="tls-unique" if channel_id else None)
    # The signature arrives through txaio callbacks: let the event loop run them.
    return _LOOP.run_until_complete(fut), key.public_key()


def cryptosign_vectors():
    out = []
    for i in range(3):
        seed = det_bytes(f"cryptosign-seed/{i}", 32).hex()
        challenge = det_bytes(f"cryptosign-challenge/{i}", 32).hex()
        channel_id = det_bytes(f"cryptosign-channel/{i}", 32).hex() if i == 2 else None
        sig, pub = sign_with_autobahn(seed, challenge, channel_id)
        out.append({"name": f"autobahn-{i}", "source": "autobahn CryptosignKey.sign_challenge",
                    "seed": seed, "pubkey": pub, "challenge": challenge,
                    "channel_binding": "tls-unique" if channel_id else None,
                    "channel_id": channel_id, "signature": sig})
    for i, (channel_id, seed, challenge, expected) in enumerate(SPEC_CRYPTOSIGN):
        sig, pub = sign_with_autobahn(seed, challenge, channel_id)
        assert sig == expected, "Autobahn disagrees with the spec's test vector"
        out.append({"name": f"spec-{i}", "source": "WAMP spec test vector, re-signed by autobahn",
                    "seed": seed, "pubkey": pub, "challenge": challenge,
                    "channel_binding": "tls-unique" if channel_id else None,
                    "channel_id": channel_id, "signature": sig})
    return out


def router_signature_vector():
    """Router authentication: the router signs the client's HELLO challenge (PyNaCl)."""
    import nacl.signing
    seed = det_bytes("router-seed", 32)
    client_challenge = det_bytes("router-client-challenge", 32)
    channel_id = det_bytes("router-channel", 32)
    key = nacl.signing.SigningKey(seed)
    signed = key.sign(xor(client_challenge, channel_id))  # signature || message (96 bytes)
    return {"seed": seed.hex(), "pubkey": key.verify_key.encode().hex(),
            "client_challenge": client_challenge.hex(), "channel_id": channel_id.hex(),
            "signature": signed.hex(), "source": "PyNaCl SigningKey.sign (attached form)"}


def main():
    doc = {
        "generator": {
            "script": "tests/vectors/auth/generate.py",
            "autobahn": version("autobahn"),
            "pynacl": version("PyNaCl"),
            "argon2-cffi": version("argon2-cffi"),
            "passlib": version("passlib"),
            "python": sys.version.split()[0],
        },
        "wampcra": wampcra_vectors(),
        "wampcra_crossbar_quirk": wampcra_crossbar_quirk(),
        "scram": scram_vectors(),
        "scram_autobahn_pbkdf2_error": autobahn_pbkdf2_fails(),
        "cryptosign": cryptosign_vectors(),
        "cryptosign_router": router_signature_vector(),
    }
    with open(OUT, "w", encoding="utf8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(doc['wampcra'])} wampcra, {len(doc['scram'])} scram, "
          f"{len(doc['cryptosign'])} cryptosign vectors")


if __name__ == "__main__":
    main()

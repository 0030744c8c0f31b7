//! Golden vectors for `proto::auth`, produced by the real client library (Autobahn|Python
//! 26.10.2) and, where no client exists, by the spec's pseudocode: see
//! `tests/vectors/auth/generate.py`. Each test checks that our router side builds the same
//! challenge, accepts exactly the client's answer, returns the server signature the client
//! expects, and rejects altered answers.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use junction::proto::auth::cryptosign::{
    self, CryptosignHello, PendingCryptosign, PublicKey, RouterKey,
};
use junction::proto::auth::scram::{self, KdfParams, PendingScram, ScramCredential, ScramDialect};
use junction::proto::auth::wampcra::{
    self, ChallengeInfo, PendingWampCra, SaltParams, WampCraCredential,
};
use junction::proto::auth::{AuthError, AuthLimits, ChannelBinding};
use junction::proto::value::{Dict, Value};
use serde_json::Value as Json;

fn vectors() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/auth/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors.json")).expect("JSON")
}

fn s<'a>(v: &'a Json, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn opt_s<'a>(v: &'a Json, k: &str) -> Option<&'a str> {
    v[k].as_str()
}

fn u(v: &Json, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// The base64 string with one bit of its decoded bytes flipped.
fn flip_b64(sig: &str, byte: usize) -> String {
    let mut raw = B64.decode(sig).unwrap();
    let i = byte % raw.len();
    raw[i] ^= 0x01;
    B64.encode(raw)
}

/// The hex string with one bit of its decoded bytes flipped.
fn flip_hex(sig: &str, byte: usize) -> String {
    let mut raw = hex::decode(sig).unwrap();
    let i = byte % raw.len();
    raw[i] ^= 0x80;
    hex::encode(raw)
}

#[test]
fn generator_is_the_real_client() {
    let v = vectors();
    assert_eq!(s(&v["generator"], "autobahn"), "26.10.2");
    assert!(
        s(&v, "scram_autobahn_pbkdf2_error").starts_with("ValueError"),
        "Autobahn's SCRAM client still fails on PBKDF2"
    );
}

#[test]
fn wampcra_matches_autobahn_and_crossbar() {
    let v = vectors();
    let limits = AuthLimits::default();
    let cases = v["wampcra"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = s(case, "name");
        let info = ChallengeInfo {
            authid: s(case, "authid"),
            authrole: s(case, "authrole"),
            authprovider: s(case, "authprovider"),
            session: u(case, "session"),
        };
        let now = UNIX_EPOCH + Duration::from_micros(u(case, "unix_micros"));
        assert_eq!(wampcra::utc_timestamp(now), s(case, "timestamp"), "{name}");
        // The challenge string, byte for byte as Crossbar builds it.
        assert_eq!(
            wampcra::challenge_string(&info, s(case, "nonce"), now),
            s(case, "challenge"),
            "{name}"
        );
        let secret = s(case, "secret");
        let cred = match opt_s(case, "salt") {
            None => WampCraCredential::plain(secret),
            Some(salt) => {
                let (iterations, keylen) = (u(case, "iterations") as u32, u(case, "keylen") as u32);
                let derived = s(case, "derived_key");
                assert_eq!(
                    wampcra::derive_key(
                        secret.as_bytes(),
                        salt.as_bytes(),
                        iterations,
                        keylen,
                        &limits
                    )
                    .unwrap(),
                    derived,
                    "{name}: derive_key"
                );
                let params = SaltParams {
                    salt: salt.into(),
                    iterations,
                    keylen,
                };
                WampCraCredential::salted(derived, params, &limits).unwrap()
            }
        };
        let pending = PendingWampCra::with_nonce(&info, &cred, s(case, "nonce"), now);
        let extra = pending.challenge_extra();
        assert_eq!(
            extra.get("challenge").unwrap().as_str(),
            Some(s(case, "challenge"))
        );
        match opt_s(case, "salt") {
            None => assert_eq!(extra.len(), 1, "{name}"),
            Some(salt) => {
                assert_eq!(extra.get("salt").unwrap().as_str(), Some(salt));
                assert_eq!(
                    extra.get("iterations").unwrap().as_u64(),
                    Some(u(case, "iterations"))
                );
                assert_eq!(
                    extra.get("keylen").unwrap().as_u64(),
                    Some(u(case, "keylen"))
                );
            }
        }
        let sig = s(case, "signature");
        assert_eq!(pending.verify(sig, &limits), Ok(()), "{name}");
        for byte in [0, 13, 31] {
            assert_eq!(
                pending.verify(&flip_b64(sig, byte), &limits),
                Err(AuthError::BadSignature { method: "wampcra" }),
                "{name}"
            );
        }
        // The same signature for another session's challenge is refused.
        let other = ChallengeInfo {
            session: info.session ^ 1,
            ..info
        };
        let replay = PendingWampCra::with_nonce(&other, &cred, s(case, "nonce"), now);
        assert!(replay.verify(sig, &limits).is_err(), "{name}");
    }
}

#[test]
fn wampcra_crossbar_salted_quirk() {
    let v = vectors();
    let q = &v["wampcra_crossbar_quirk"];
    let limits = AuthLimits::default();
    let info = ChallengeInfo {
        authid: "salted",
        authrole: "authenticated",
        authprovider: "static",
        session: 5,
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_588_655_105);
    let nonce = "n".repeat(64);
    assert_eq!(
        wampcra::challenge_string(&info, &nonce, now),
        s(q, "challenge")
    );
    let salt = || SaltParams {
        salt: s(q, "salt").into(),
        iterations: u(q, "iterations") as u32,
        keylen: u(q, "keylen") as u32,
    };
    let by_password = s(q, "signature_client_holds_password");
    let by_configured = s(q, "signature_client_holds_configured_secret");
    assert_ne!(by_password, by_configured);
    // Spec reading: the configured secret is the derived key; the client holds the password.
    let spec = WampCraCredential::salted(s(q, "configured_secret"), salt(), &limits).unwrap();
    let pending = PendingWampCra::with_nonce(&info, &spec, &nonce, now);
    assert_eq!(pending.verify(by_password, &limits), Ok(()));
    assert!(pending.verify(by_configured, &limits).is_err());
    // Crossbar-compatible reading accepts both clients.
    let both =
        WampCraCredential::salted_crossbar_compatible(s(q, "configured_secret"), salt(), &limits)
            .unwrap();
    let pending = PendingWampCra::with_nonce(&info, &both, &nonce, now);
    assert_eq!(pending.verify(by_password, &limits), Ok(()));
    assert_eq!(pending.verify(by_configured, &limits), Ok(()));
    assert!(pending.verify(&flip_b64(by_password, 3), &limits).is_err());
}

#[test]
fn scram_matches_autobahn_and_the_spec() {
    let v = vectors();
    let limits = AuthLimits::default();
    let cases = v["scram"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let name = s(case, "name");
        let dialect = ScramDialect::from_authmethod(s(case, "authmethod")).unwrap();
        assert_eq!(
            dialect,
            if s(case, "dialect") == "spec" {
                ScramDialect::Spec
            } else {
                ScramDialect::Autobahn
            }
        );
        let memory = case["memory"].as_u64();
        // The stored credential, in Crossbar's config form.
        let cred = ScramCredential::from_crossbar(
            s(case, "kdf"),
            u(case, "iterations"),
            memory,
            s(case, "salt_hex"),
            s(case, "stored_key_hex"),
            s(case, "server_key_hex"),
            &limits,
        )
        .unwrap();
        // derive_credentials gives the same keys from the password.
        let params = KdfParams {
            kdf: scram::Kdf::from_name(s(case, "kdf")).unwrap(),
            iterations: u(case, "iterations") as u32,
            memory: memory.map(|m| m as u32),
        };
        let salt = hex::decode(s(case, "salt_hex")).unwrap();
        let derived =
            scram::derive_credentials(s(case, "password").as_bytes(), &salt, params, &limits)
                .unwrap();
        assert_eq!(derived.to_crossbar(), cred.to_crossbar(), "{name}");

        // HELLO as the client sends it.
        let mut authextra = Dict::new().with("nonce", s(case, "client_nonce"));
        if let Some(cb) = opt_s(case, "channel_binding") {
            authextra.insert("channel_binding", cb);
        }
        let hello = scram::parse_hello(dialect, Some(&authextra), &limits).unwrap();
        let channel_data = opt_s(case, "cbind_data_hex").map(|h| hex::decode(h).unwrap());
        let nonce = s(case, "nonce");
        let server_part = &nonce[s(case, "client_nonce").len()..];
        if let Some(h) = opt_s(case, "server_nonce_hex") {
            assert_eq!(server_part, B64.encode(hex::decode(h).unwrap()));
        }
        let pending = PendingScram::with_server_nonce(
            &hello,
            s(case, "authid"),
            cred.clone(),
            channel_data.as_deref(),
            server_part,
            &limits,
        )
        .unwrap();
        assert_eq!(pending.auth_message(), s(case, "auth_message"), "{name}");
        let extra = pending.challenge_extra();
        assert_eq!(extra.get("nonce").unwrap().as_str(), Some(nonce));
        assert_eq!(extra.get("kdf").unwrap().as_str(), Some(s(case, "kdf")));
        assert_eq!(
            extra.get("salt").unwrap().as_str(),
            Some(B64.encode(&salt).as_str())
        );
        assert_eq!(extra.get("memory").and_then(Value::as_u64), memory);

        // AUTHENTICATE as the client sends it.
        let mut auth_extra = Dict::new();
        if dialect == ScramDialect::Spec {
            auth_extra.insert("nonce", nonce);
            if let (Some(cb), Some(data)) = (opt_s(case, "channel_binding"), &channel_data) {
                auth_extra.insert("channel_binding", cb);
                auth_extra.insert("cbind_data", B64.encode(data));
            }
        }
        let proof = s(case, "client_proof");
        let welcome = pending.verify(proof, &auth_extra, &limits).unwrap();
        let key = match dialect {
            ScramDialect::Spec => "verifier",
            ScramDialect::Autobahn => "scram_server_signature",
        };
        assert_eq!(welcome.len(), 1);
        assert_eq!(
            welcome.get(key).unwrap().as_str(),
            Some(s(case, "server_signature")),
            "{name}"
        );
        for byte in [0, 17, 31] {
            assert_eq!(
                pending.verify(&flip_b64(proof, byte), &auth_extra, &limits),
                Err(AuthError::BadSignature {
                    method: dialect.authmethod()
                }),
                "{name}"
            );
        }
        // The other dialect's AuthMessage does not accept this proof.
        let other = if dialect == ScramDialect::Spec {
            ScramDialect::Autobahn
        } else {
            ScramDialect::Spec
        };
        let other_hello = scram::ScramHello {
            dialect: other,
            channel_binding: None,
            ..hello.clone()
        };
        let other_pending = PendingScram::with_server_nonce(
            &other_hello,
            s(case, "authid"),
            cred,
            None,
            server_part,
            &limits,
        )
        .unwrap();
        assert!(
            other_pending.verify(proof, &Dict::new(), &limits).is_err(),
            "{name}"
        );
    }
}

#[test]
fn cryptosign_matches_autobahn_and_the_spec() {
    let v = vectors();
    let limits = AuthLimits::default();
    let cases = v["cryptosign"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = s(case, "name");
        let seed: [u8; 32] = hex::decode(s(case, "seed")).unwrap().try_into().unwrap();
        let pk = PublicKey::from_hex("pubkey", s(case, "pubkey")).unwrap();
        assert_eq!(
            pk.to_bytes(),
            SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            "{name}"
        );
        let mut authextra = Dict::new().with("pubkey", s(case, "pubkey"));
        if let Some(cb) = opt_s(case, "channel_binding") {
            authextra.insert("channel_binding", cb);
        }
        let hello = cryptosign::parse_hello(Some(&authextra)).unwrap();
        let channel_id: Option<[u8; 32]> =
            opt_s(case, "channel_id").map(|h| hex::decode(h).unwrap().try_into().unwrap());
        let challenge: [u8; 32] = hex::decode(s(case, "challenge"))
            .unwrap()
            .try_into()
            .unwrap();
        let pending =
            PendingCryptosign::with_challenge(&[pk], &hello, channel_id.as_ref(), None, challenge)
                .unwrap();
        let extra = pending.challenge_extra();
        assert_eq!(
            extra.get("challenge").unwrap().as_str(),
            Some(s(case, "challenge"))
        );
        assert_eq!(
            extra.get("channel_binding").unwrap().as_str(),
            opt_s(case, "channel_binding")
        );
        let sig = s(case, "signature");
        assert_eq!(sig.len(), 192, "Autobahn sends signature || message");
        assert_eq!(pending.verify(sig, &limits), Ok(pk), "{name}");
        assert_eq!(
            pending.verify(&sig[..128], &limits),
            Ok(pk),
            "{name}: 64-byte form"
        );
        // Our signer agrees with Autobahn's (Ed25519 is deterministic).
        assert_eq!(
            cryptosign::sign(
                &SigningKey::from_bytes(&seed),
                &challenge,
                channel_id.as_ref()
            ),
            sig
        );
        for byte in [0, 40, 63] {
            assert_eq!(
                pending.verify(&flip_hex(sig, byte), &limits),
                Err(AuthError::BadSignature {
                    method: "cryptosign"
                }),
                "{name}"
            );
        }
        assert_eq!(
            pending.verify(&flip_hex(sig, 70), &limits),
            Err(AuthError::Mismatch {
                what: "signed message"
            })
        );
        // With channel binding, the signature is bound to that channel: another id fails.
        if let Some(id) = channel_id {
            let mut other = id;
            other[0] ^= 1;
            let elsewhere =
                PendingCryptosign::with_challenge(&[pk], &hello, Some(&other), None, challenge)
                    .unwrap();
            assert!(elsewhere.verify(sig, &limits).is_err(), "{name}");
        }
    }
}

#[test]
fn cryptosign_router_signature_matches_pynacl() {
    let v = vectors();
    let r = &v["cryptosign_router"];
    let seed: [u8; 32] = hex::decode(s(r, "seed")).unwrap().try_into().unwrap();
    let router = RouterKey::from_seed(&seed);
    assert_eq!(router.public().to_hex(), s(r, "pubkey"));
    let client = SigningKey::from_bytes(&[1; 32]);
    let client_pk =
        PublicKey::from_hex("pk", &hex::encode(client.verifying_key().to_bytes())).unwrap();
    let hello = CryptosignHello {
        pubkey: Some(client_pk),
        channel_binding: Some(ChannelBinding::TlsUnique),
        client_challenge: Some(
            hex::decode(s(r, "client_challenge"))
                .unwrap()
                .try_into()
                .unwrap(),
        ),
    };
    let id: [u8; 32] = hex::decode(s(r, "channel_id")).unwrap().try_into().unwrap();
    let pending =
        PendingCryptosign::with_challenge(&[client_pk], &hello, Some(&id), Some(&router), [0; 32])
            .unwrap();
    let extra = pending.challenge_extra();
    assert_eq!(
        extra.get("signature").unwrap().as_str(),
        Some(s(r, "signature"))
    );
    assert_eq!(extra.get("pubkey").unwrap().as_str(), Some(s(r, "pubkey")));
    assert_eq!(
        extra.get("channel_binding").unwrap().as_str(),
        Some("tls-unique")
    );
    assert_eq!(extra.get("challenge"), Some(&Value::from("00".repeat(32))));
}

//! Authentication micro-benchmarks (`src/proto/auth`): what each login step costs, so the
//! runtime knows which calls may run on the reactor and which must go off it.
//!
//! Per login (on the reactor is fine if these stay in the microseconds):
//! - `auth/ticket/verify`: SHA-256 of a 32-character ticket and a constant-time compare;
//! - `auth/wampcra/challenge`: nonce, challenge JSON and the expected HMAC;
//! - `auth/wampcra/verify`: decode and compare a signature;
//! - `auth/scram/challenge`: SASLprep, server nonce, AuthMessage;
//! - `auth/scram/verify`: ClientProof check (HMAC, SHA-256, HMAC for the server signature);
//! - `auth/cryptosign/challenge`: 32 random bytes and the CHALLENGE extra;
//! - `auth/cryptosign/verify`: one Ed25519 verification (client announced its key);
//! - `auth/cryptosign/verify_10_keys`: no `pubkey` in HELLO, ten authorized keys, the last
//!   one signs (the worst case of trying every key).
//!
//! Key derivations (CPU-heavy by design: off the reactor, at config load or in tooling):
//! - `auth/kdf/wampcra_pbkdf2_1000`: `derive_key` with 1,000 iterations (Crossbar's examples
//!   use 100 to 1,000);
//! - `auth/kdf/scram_pbkdf2_4096`: SCRAM's PBKDF2 at RFC 7677's minimum;
//! - `auth/kdf/scram_argon2id_t4096_m512`: Autobahn's `derive_scram_credential` parameters;
//! - `auth/kdf/scram_argon2id_t2_m19456`: OWASP's Argon2id baseline (19 MiB, 2 passes).

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use junction::proto::auth::AuthLimits;
use junction::proto::auth::cryptosign::{self, CryptosignHello, PendingCryptosign, PublicKey};
use junction::proto::auth::scram::{self, Kdf, KdfParams, PendingScram, ScramDialect, ScramHello};
use junction::proto::auth::ticket::{self, TicketSecret};
use junction::proto::auth::wampcra::{self, ChallengeInfo, PendingWampCra, WampCraCredential};
use junction::proto::value::Dict;
use rand::SeedableRng;

const INFO: ChallengeInfo<'static> = ChallengeInfo {
    authid: "joe",
    authrole: "frontend",
    authprovider: "static",
    session: 3_251_278_072_152_162,
};

fn per_login(c: &mut Criterion) {
    let limits = AuthLimits::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);

    let secret = TicketSecret::new("0123456789abcdef0123456789abcdef");
    c.bench_function("auth/ticket/verify", |b| {
        b.iter(|| {
            ticket::verify_ticket(
                black_box("0123456789abcdef0123456789abcdef"),
                &secret,
                &limits,
            )
        })
    });

    let cred = WampCraCredential::plain("secret2");
    c.bench_function("auth/wampcra/challenge", |b| {
        b.iter(|| PendingWampCra::new(black_box(&INFO), &cred, now, &mut rng))
    });
    let pending = PendingWampCra::new(&INFO, &cred, now, &mut rng);
    let sig = wampcra::compute_signature(b"secret2", pending.challenge());
    c.bench_function("auth/wampcra/verify", |b| {
        b.iter(|| pending.verify(black_box(&sig), &limits).expect("valid"))
    });

    let params = KdfParams {
        kdf: Kdf::Argon2id13Autobahn,
        iterations: 4096,
        memory: Some(512),
    };
    // A stored credential as Crossbar's config holds it; the KDF itself is benched below.
    let salted = scram::salted_password(b"pw", b"0123456789abcdef", &params, &limits).expect("kdf");
    let cred = scram::derive_credentials(b"pw", b"0123456789abcdef", params, &limits).expect("kdf");
    let hello = ScramHello {
        dialect: ScramDialect::Autobahn,
        client_nonce: "egVDf3DMJh0AAAAAAAAAAA==".into(),
        channel_binding: None,
    };
    c.bench_function("auth/scram/challenge", |b| {
        b.iter(|| {
            PendingScram::new(
                black_box(&hello),
                "alice",
                cred.clone(),
                None,
                &limits,
                &mut rng,
            )
            .expect("valid")
        })
    });
    let pending = PendingScram::new(&hello, "alice", cred, None, &limits, &mut rng).expect("valid");
    let proof = scram::client_proof(salted.expose(), pending.auth_message());
    let empty = Dict::new();
    c.bench_function("auth/scram/verify", |b| {
        b.iter(|| {
            pending
                .verify(black_box(&proof), &empty, &limits)
                .expect("valid")
        })
    });

    let keys: Vec<SigningKey> = (1..=10u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let publics: Vec<PublicKey> = keys
        .iter()
        .map(|k| PublicKey::from_hex("k", &hex::encode(k.verifying_key().to_bytes())).expect("key"))
        .collect();
    let announced = CryptosignHello {
        pubkey: Some(publics[0]),
        channel_binding: None,
        client_challenge: None,
    };
    c.bench_function("auth/cryptosign/challenge", |b| {
        b.iter(|| {
            PendingCryptosign::new(&publics[..1], black_box(&announced), None, None, &mut rng)
                .expect("valid")
                .challenge_extra()
        })
    });
    let pending = PendingCryptosign::with_challenge(&publics[..1], &announced, None, None, [7; 32])
        .expect("valid");
    let sig = cryptosign::sign(&keys[0], &[7; 32], None);
    c.bench_function("auth/cryptosign/verify", |b| {
        b.iter(|| pending.verify(black_box(&sig), &limits).expect("valid"))
    });
    let anonymous = CryptosignHello {
        pubkey: None,
        ..announced
    };
    let pending = PendingCryptosign::with_challenge(&publics, &anonymous, None, None, [7; 32])
        .expect("valid");
    let sig = cryptosign::sign(&keys[9], &[7; 32], None);
    c.bench_function("auth/cryptosign/verify_10_keys", |b| {
        b.iter(|| pending.verify(black_box(&sig), &limits).expect("valid"))
    });
}

fn kdfs(c: &mut Criterion) {
    let limits = AuthLimits::default();
    let mut g = c.benchmark_group("auth/kdf");
    g.sample_size(10);
    g.bench_function("wampcra_pbkdf2_1000", |b| {
        b.iter(|| wampcra::derive_key(black_box(b"secret1"), b"salt123", 1000, 32, &limits))
    });
    for (name, kdf, iterations, memory) in [
        ("scram_pbkdf2_4096", Kdf::Pbkdf2, 4096, None),
        (
            "scram_argon2id_t4096_m512",
            Kdf::Argon2id13Autobahn,
            4096,
            Some(512),
        ),
        ("scram_argon2id_t2_m19456", Kdf::Argon2id13, 2, Some(19_456)),
    ] {
        let params = KdfParams {
            kdf,
            iterations,
            memory,
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                scram::salted_password(black_box(b"pw"), b"0123456789abcdef", &params, &limits)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_login, kdfs
}
criterion_main!(benches);

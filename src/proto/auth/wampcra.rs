//! WAMP Challenge-Response Authentication (`wampcra`): HMAC-SHA256 over a JSON challenge, keyed
//! with a shared secret, optionally a PBKDF2-salted one.
//!
//! Flow: HELLO (authmethods contains `wampcra`, authid) → CHALLENGE `wampcra` with
//! `{"challenge": <JSON string>}` (+ `salt`, `iterations`, `keylen` for salted secrets) →
//! AUTHENTICATE with `base64(HMAC-SHA256(key, challenge))` → WELCOME or ABORT.
//!
//! The challenge string is built exactly as Crossbar.io 26.10.1 builds it
//! (`crossbar/router/auth/wampcra.py`): Python's `json.dumps(..., ensure_ascii=False)` of an object
//! with the keys in the order authid, authrole, authmethod, authprovider, session, nonce,
//! timestamp, with `", "` and `": "` separators, the nonce 64 characters of base64 (48 random
//! bytes) and the timestamp `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds truncated). Clients do
//! not parse it — Autobahn|Python and Autobahn|JS sign the string as received — so the format
//! matters only to three-legged setups that forward the challenge; matching Crossbar keeps those
//! working. The golden vectors check it byte for byte against Python's output.
//!
//! Salted secrets (spec "Password Salting", Autobahn's `derive_key`): the client computes
//! `key = base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen))` — salt and password as
//! UTF-8 bytes — and keys the HMAC with the *base64 text* of that key. The router stores that
//! derived key, never the password ([`WampCraCredential::salted`]). Crossbar.io's code differs
//! from its own docs here: it treats the configured `secret` as the password and derives the
//! key from it at every login; [`WampCraCredential::salted_crossbar_compatible`] accepts both
//! readings (see `docs/authentication.md`).
//!
//! Cost: building a challenge and verifying a signature are one or two HMACs (microseconds).
//! [`derive_key`] and [`WampCraCredential::salted_crossbar_compatible`] run PBKDF2: CPU-heavy,
//! call them at config load or off the reactor.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::{AuthError, AuthLimits, SecretBytes, b64, check_len, decode_b64_array};
use crate::proto::value::Dict;

/// The method name in HELLO.Details.authmethods and CHALLENGE.
pub const AUTHMETHOD: &str = "wampcra";

/// Random bytes in a challenge nonce: 48 bytes are 64 base64 characters, as Crossbar's
/// `util.newid(64)`.
pub const NONCE_BYTES: usize = 48;

type HmacSha256 = Hmac<Sha256>;

/// Who the client will be if the signature is right: the fields the challenge carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeInfo<'a> {
    /// The authid the client will be authenticated as.
    pub authid: &'a str,
    /// The role it will get.
    pub authrole: &'a str,
    /// Who vouches for it (`static`, `dynamic`, ...).
    pub authprovider: &'a str,
    /// The session ID WELCOME will carry.
    pub session: u64,
}

/// PBKDF2 parameters of a salted WAMP-CRA secret, sent to the client in the CHALLENGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltParams {
    /// The salt, as configured (a string; its UTF-8 bytes salt PBKDF2).
    pub salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Derived key length in bytes.
    pub keylen: u32,
}

impl SaltParams {
    fn check(&self, limits: &AuthLimits) -> Result<(), AuthError> {
        if self.iterations == 0 || self.iterations > limits.max_pbkdf2_iterations {
            return Err(AuthError::BadKdfParams {
                what: "iterations",
                rule: "1 to AuthLimits::max_pbkdf2_iterations",
            });
        }
        if self.keylen == 0 || self.keylen > limits.max_wampcra_keylen {
            return Err(AuthError::BadKdfParams {
                what: "keylen",
                rule: "1 to AuthLimits::max_wampcra_keylen",
            });
        }
        Ok(())
    }
}

/// What the router stores for one WAMP-CRA principal: the HMAC key(s) it accepts and, for salted
/// secrets, the parameters the client needs to derive its key. `Debug` hides the keys.
#[derive(Clone)]
pub struct WampCraCredential {
    /// HMAC keys a signature may be made with (one, or two for the Crossbar-compatible form).
    keys: Vec<SecretBytes>,
    /// Salt parameters to send in the CHALLENGE; `None` for a plain secret.
    salt: Option<SaltParams>,
}

impl WampCraCredential {
    /// A plain shared secret: the HMAC key is the secret's UTF-8 bytes.
    pub fn plain(secret: &str) -> Self {
        WampCraCredential {
            keys: vec![SecretBytes::new(secret.as_bytes().to_vec())],
            salt: None,
        }
    }

    /// A salted secret as the spec, Crossbar's docs and Autobahn's example config define it:
    /// `derived_key` is `derive_key(password, salt, iterations, keylen)` (base64 text), which is
    /// the HMAC key; the client, holding the password, derives the same key. No KDF runs here.
    ///
    /// # Errors
    /// [`AuthError::BadKdfParams`] for iterations or keylen out of [`AuthLimits`].
    pub fn salted(
        derived_key: &str,
        salt: SaltParams,
        limits: &AuthLimits,
    ) -> Result<Self, AuthError> {
        salt.check(limits)?;
        Ok(WampCraCredential {
            keys: vec![SecretBytes::new(derived_key.as_bytes().to_vec())],
            salt: Some(salt),
        })
    }

    /// A salted entry of an unmodified Crossbar.io config, read both ways: as the derived key
    /// (the spec and Crossbar's docs: the client holds the password) and as Crossbar 26.10.1's
    /// code reads it (the configured string is what the client holds, and the key is derived
    /// from it at login). Accepting both lets every client that works with either reading log
    /// in; it admits nobody new, since each key follows from the configured string.
    ///
    /// CPU-heavy: runs PBKDF2 once (`iterations` rounds). Call at config load, off the reactor.
    ///
    /// # Errors
    /// [`AuthError::BadKdfParams`] for iterations or keylen out of [`AuthLimits`].
    pub fn salted_crossbar_compatible(
        configured_secret: &str,
        salt: SaltParams,
        limits: &AuthLimits,
    ) -> Result<Self, AuthError> {
        let derived = derive_key(
            configured_secret.as_bytes(),
            salt.salt.as_bytes(),
            salt.iterations,
            salt.keylen,
            limits,
        )?;
        let mut cred = Self::salted(configured_secret, salt, limits)?;
        cred.keys.push(SecretBytes::new(derived.into_bytes()));
        Ok(cred)
    }

    /// The salt parameters, if the secret is salted.
    pub fn salt(&self) -> Option<&SaltParams> {
        self.salt.as_ref()
    }
}

impl fmt::Debug for WampCraCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WampCraCredential")
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .field("salt", &self.salt)
            .finish()
    }
}

/// Autobahn's `derive_key`: `base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen))`.
/// The result's ASCII text is the HMAC key of a salted login.
///
/// CPU-heavy: `iterations` rounds of HMAC-SHA256 per 32 bytes of key (about 0.3 ms per
/// thousand iterations on one core; see `benches/auth.rs`). Run off the reactor.
///
/// # Errors
/// [`AuthError::BadKdfParams`] for iterations or keylen out of [`AuthLimits`].
pub fn derive_key(
    secret: &[u8],
    salt: &[u8],
    iterations: u32,
    keylen: u32,
    limits: &AuthLimits,
) -> Result<String, AuthError> {
    SaltParams {
        salt: String::new(),
        iterations,
        keylen,
    }
    .check(limits)?;
    let mut key = vec![0u8; keylen as usize];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, salt, iterations, &mut key);
    let out = b64(&key);
    drop(SecretBytes::new(key));
    Ok(out)
}

/// The client's computation (Autobahn's `compute_wcs`): `base64(HMAC-SHA256(key, challenge))`.
/// The router uses it for tests and tooling; verification goes through [`PendingWampCra`].
pub fn compute_signature(key: &[u8], challenge: &str) -> String {
    b64(&hmac(key, challenge.as_bytes()))
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// A fresh challenge nonce: [`NONCE_BYTES`] random bytes as 64 base64 characters.
pub fn new_nonce<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut bytes);
    b64(&bytes)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, milliseconds truncated (Autobahn's `utcstr`). Times before
/// 1970 print as the epoch.
pub fn utc_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The challenge string, byte for byte as Crossbar.io builds it (see the module header).
pub fn challenge_string(info: &ChallengeInfo<'_>, nonce: &str, now: SystemTime) -> String {
    let mut s = String::with_capacity(200 + info.authid.len() + info.authrole.len());
    s.push_str("{\"authid\": ");
    push_json_str(&mut s, info.authid);
    s.push_str(", \"authrole\": ");
    push_json_str(&mut s, info.authrole);
    s.push_str(", \"authmethod\": \"wampcra\", \"authprovider\": ");
    push_json_str(&mut s, info.authprovider);
    s.push_str(", \"session\": ");
    s.push_str(itoa::Buffer::new().format(info.session));
    s.push_str(", \"nonce\": ");
    push_json_str(&mut s, nonce);
    s.push_str(", \"timestamp\": \"");
    s.push_str(&utc_timestamp(now));
    s.push_str("\"}");
    s
}

/// A JSON string literal as Python's `json.dumps(ensure_ascii=False)` writes it: `"` and `\`
/// and the C0 controls escaped (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00xx`), everything else
/// verbatim. serde_json's escaper follows the same rules.
fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a str always serializes"));
}

/// One WAMP-CRA login between CHALLENGE and AUTHENTICATE: the challenge sent and the
/// signature(s) that will be accepted. `Debug` hides the expected signatures.
#[derive(Clone)]
pub struct PendingWampCra {
    /// The challenge string sent to the client.
    challenge: String,
    /// Salt parameters sent along, if any.
    salt: Option<SaltParams>,
    /// The signatures that will be accepted (one per credential key).
    expected: Vec<[u8; 32]>,
}

impl PendingWampCra {
    /// Starts a login: draws a nonce from `rng`, builds the challenge for `info` at time `now`
    /// and computes the signature(s) `cred` allows.
    pub fn new<R: rand::CryptoRng + ?Sized>(
        info: &ChallengeInfo<'_>,
        cred: &WampCraCredential,
        now: SystemTime,
        rng: &mut R,
    ) -> Self {
        Self::with_nonce(info, cred, &new_nonce(rng), now)
    }

    /// [`PendingWampCra::new`] with a given nonce (deterministic; for tests and replays of
    /// recorded exchanges).
    pub fn with_nonce(
        info: &ChallengeInfo<'_>,
        cred: &WampCraCredential,
        nonce: &str,
        now: SystemTime,
    ) -> Self {
        let challenge = challenge_string(info, nonce, now);
        let expected = cred
            .keys
            .iter()
            .map(|k| hmac(k.expose(), challenge.as_bytes()))
            .collect();
        PendingWampCra {
            challenge,
            salt: cred.salt.clone(),
            expected,
        }
    }

    /// The challenge string.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// CHALLENGE.Extra: `challenge`, plus `salt`, `iterations`, `keylen` for a salted secret.
    pub fn challenge_extra(&self) -> Dict {
        let mut extra = Dict::new().with("challenge", self.challenge.as_str());
        if let Some(salt) = &self.salt {
            extra.insert("salt", salt.salt.as_str());
            extra.insert("iterations", u64::from(salt.iterations));
            extra.insert("keylen", u64::from(salt.keylen));
        }
        extra
    }

    /// Checks AUTHENTICATE.Signature: base64 of the 32-byte HMAC, compared in constant time
    /// with every accepted signature (no early exit).
    ///
    /// # Errors
    /// [`AuthError::TooLong`], [`AuthError::BadBase64`] or [`AuthError::WrongLength`] for a
    /// malformed signature; [`AuthError::BadSignature`] for a wrong one.
    pub fn verify(&self, signature: &str, limits: &AuthLimits) -> Result<(), AuthError> {
        check_len("signature", signature, limits.max_signature_len)?;
        let got: [u8; 32] = decode_b64_array("signature", signature)?;
        let mut ok = Choice::from(0);
        for expected in &self.expected {
            ok |= got.ct_eq(expected);
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(AuthError::BadSignature { method: AUTHMETHOD })
        }
    }
}

impl fmt::Debug for PendingWampCra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingWampCra")
            .field("challenge", &self.challenge)
            .field("salt", &self.salt)
            .field("expected", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use std::time::Duration;

    fn at(micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(micros)
    }

    const INFO: ChallengeInfo<'static> = ChallengeInfo {
        authid: "peter",
        authrole: "user",
        authprovider: "static",
        session: 3_251_278_072_152_162,
    };

    #[test]
    fn timestamps_match_autobahn_utcstr() {
        assert_eq!(utc_timestamp(at(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            utc_timestamp(at(1_403_454_985_448_000)),
            "2014-06-22T16:36:25.448Z"
        );
        // Truncated, not rounded.
        assert_eq!(
            utc_timestamp(at(1_772_323_199_999_999)),
            "2026-02-28T23:59:59.999Z"
        );
        assert_eq!(
            utc_timestamp(at(951_782_400_000_000)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            utc_timestamp(at(4_107_542_400_000_000)),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(
            utc_timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn challenge_has_crossbars_layout() {
        let s = challenge_string(&INFO, "abc", at(1_403_454_985_448_000));
        assert_eq!(
            s,
            "{\"authid\": \"peter\", \"authrole\": \"user\", \"authmethod\": \"wampcra\", \
             \"authprovider\": \"static\", \"session\": 3251278072152162, \"nonce\": \"abc\", \
             \"timestamp\": \"2014-06-22T16:36:25.448Z\"}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed["session"], 3_251_278_072_152_162u64);
    }

    #[test]
    fn nonce_is_64_base64_chars_from_the_rng() {
        let mut a = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = rand::rngs::StdRng::seed_from_u64(1);
        let n = new_nonce(&mut a);
        assert_eq!(n.len(), 64);
        assert_eq!(n, new_nonce(&mut b));
        assert_ne!(n, new_nonce(&mut a));
    }

    #[test]
    fn plain_round_trip_and_tamper() {
        let limits = AuthLimits::default();
        let cred = WampCraCredential::plain("secret2");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pending = PendingWampCra::new(&INFO, &cred, at(1), &mut rng);
        let extra = pending.challenge_extra();
        assert_eq!(extra.len(), 1);
        let challenge = extra.get("challenge").unwrap().as_str().unwrap();
        let sig = compute_signature(b"secret2", challenge);
        assert_eq!(pending.verify(&sig, &limits), Ok(()));
        let wrong = compute_signature(b"secret3", challenge);
        assert_eq!(
            pending.verify(&wrong, &limits),
            Err(AuthError::BadSignature { method: "wampcra" })
        );
        assert_eq!(
            pending.verify("not base64!", &limits),
            Err(AuthError::BadBase64 { what: "signature" })
        );
        assert!(matches!(
            pending.verify("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@=", &limits),
            Err(AuthError::BadBase64 { .. })
        ));
        assert_eq!(
            pending.verify(&b64(&[0u8; 31]), &limits),
            Err(AuthError::WrongLength {
                what: "signature",
                expected: 32,
                got: 31
            })
        );
        assert!(matches!(
            pending.verify(&"A".repeat(513), &limits),
            Err(AuthError::TooLong { max: 512, .. })
        ));
    }

    #[test]
    fn salted_extra_and_key() {
        let limits = AuthLimits::default();
        // Crossbar's docs example: password "secret1", salt "salt123", 100 iterations, 16 bytes.
        let derived = derive_key(b"secret1", b"salt123", 100, 16, &limits).unwrap();
        assert_eq!(derived, "prq7+YkJ1/KlW1X0YczMHw==");
        let salt = SaltParams {
            salt: "salt123".into(),
            iterations: 100,
            keylen: 16,
        };
        let cred = WampCraCredential::salted(&derived, salt.clone(), &limits).unwrap();
        let pending = PendingWampCra::with_nonce(&INFO, &cred, "n", at(0));
        let extra = pending.challenge_extra();
        assert_eq!(extra.get("salt").unwrap().as_str(), Some("salt123"));
        assert_eq!(extra.get("iterations").unwrap().as_u64(), Some(100));
        assert_eq!(extra.get("keylen").unwrap().as_u64(), Some(16));
        let sig = compute_signature(derived.as_bytes(), pending.challenge());
        assert_eq!(pending.verify(&sig, &limits), Ok(()));
        // Signed with the password itself (no derivation): refused.
        let raw = compute_signature(b"secret1", pending.challenge());
        assert!(pending.verify(&raw, &limits).is_err());
    }

    #[test]
    fn salt_params_are_bounded() {
        let limits = AuthLimits::default();
        for (iterations, keylen) in [(0, 32), (100, 0), (10_000_001, 32), (100, 257)] {
            let salt = SaltParams {
                salt: "s".into(),
                iterations,
                keylen,
            };
            assert!(matches!(
                WampCraCredential::salted("k", salt, &limits),
                Err(AuthError::BadKdfParams { .. })
            ));
        }
    }

    #[test]
    fn debug_output_hides_keys_and_signatures() {
        let cred = WampCraCredential::plain("hunter2");
        let pending = PendingWampCra::with_nonce(&INFO, &cred, "n", at(0));
        let shown = format!("{cred:?} {pending:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let sig = compute_signature(b"hunter2", pending.challenge());
        assert!(!shown.contains(&sig), "{shown}");
        assert!(shown.contains("<1 redacted>"), "{shown}");
    }

    proptest! {
        #[test]
        fn sign_verify_round_trip(secret in ".{0,40}", other in ".{0,40}", session in any::<u64>(),
                                  authid in ".{0,40}", micros in 0u64..8_000_000_000_000_000) {
            let limits = AuthLimits::default();
            let info = ChallengeInfo { authid: &authid, authrole: "r", authprovider: "p", session };
            let cred = WampCraCredential::plain(&secret);
            let pending = PendingWampCra::with_nonce(&info, &cred, "nonce", at(micros));
            // The challenge is always valid JSON carrying the authid unchanged.
            let parsed: serde_json::Value = serde_json::from_str(pending.challenge()).unwrap();
            prop_assert_eq!(parsed["authid"].as_str(), Some(authid.as_str()));
            prop_assert_eq!(parsed["session"].as_u64(), Some(session));
            let sig = compute_signature(secret.as_bytes(), pending.challenge());
            prop_assert!(pending.verify(&sig, &limits).is_ok());
            let other_sig = compute_signature(other.as_bytes(), pending.challenge());
            prop_assert_eq!(pending.verify(&other_sig, &limits).is_ok(), other == secret);
        }

        #[test]
        fn verify_never_panics(sig in ".{0,600}") {
            let cred = WampCraCredential::plain("k");
            let pending = PendingWampCra::with_nonce(&INFO, &cred, "n", at(0));
            let _ = pending.verify(&sig, &AuthLimits::default());
        }
    }
}

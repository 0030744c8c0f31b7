//! WAMP-Cryptosign (`cryptosign`): the client proves it holds the Ed25519 private key of an
//! authorized public key by signing a random challenge.
//!
//! Flow: HELLO (authmethods contains `cryptosign`, authextra `pubkey` hex, optional
//! `channel_binding`, optional `challenge` for router authentication) → CHALLENGE `cryptosign`
//! with `{"challenge": <32 random bytes, hex>, "channel_binding": <type or null>}` →
//! AUTHENTICATE with the hex of `signature || message` (96 bytes; see below) → WELCOME or ABORT.
//!
//! The message signed is the 32-byte challenge, or with channel binding the challenge XOR the
//! 32-byte channel id of the TLS connection (spec "TLS Channel Binding"; Crossbar.io and
//! Autobahn do the same). The channel id is an input: the transport computes it (for
//! `tls-unique` over TLS 1.3 Crossbar uses SHA-256 of the client's first Finished message).
//!
//! What clients send: Autobahn|Python, Autobahn|JS (tweetnacl's detached signature, then the
//! challenge) and the spec's test vectors send 96 bytes: the 64-byte signature followed by the
//! 32-byte message.
//! Some other clients send the detached 64-byte signature alone. Both are accepted; in the
//! 96-byte form the trailing message must equal the expected one.
//!
//! Router authentication (optional): when HELLO carries `authextra.challenge` (32 bytes hex),
//! the router signs it (XOR the channel id when binding) and adds `signature` (96 bytes hex)
//! and its `pubkey` to the CHALLENGE extra.
//!
//! Out of scope here: the `trustroot` and certificate-chain parts of the spec (Ethereum
//! addresses, EIP-712 certificates); principal lookup by authid or pubkey (the authenticator's
//! job: it passes the authorized keys in).
//!
//! Cost: one Ed25519 verification per attempted key (0.04 to 0.13 ms on one core;
//! `benches/auth.rs`).
//! A client that announces its `pubkey` costs one; one that does not costs one per authorized
//! key of the principal. Not CPU-heavy in the KDF sense, but not free either.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use subtle::ConstantTimeEq;

use super::{
    AuthError, AuthLimits, ChannelBinding, check_len, decode_hex_array, decode_hex_vec, opt_str,
};
use crate::proto::value::{Dict, Value};

/// The method name in HELLO.Details.authmethods and CHALLENGE.
pub const AUTHMETHOD: &str = "cryptosign";

/// Size of the random challenge and of a channel id.
pub const CHALLENGE_BYTES: usize = 32;

/// An Ed25519 public key a principal may log in with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 64 hex digits (the config's `authorized_keys` entries, HELLO's `pubkey`).
    ///
    /// # Errors
    /// [`AuthError::BadHex`], [`AuthError::WrongLength`], or [`AuthError::BadPublicKey`] for a
    /// point that is not on the curve or has small order.
    pub fn from_hex(what: &'static str, hex: &str) -> Result<Self, AuthError> {
        let bytes: [u8; 32] = decode_hex_array(what, hex)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| AuthError::BadPublicKey { what })?;
        if key.is_weak() {
            return Err(AuthError::BadPublicKey { what });
        }
        Ok(PublicKey(key))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Lower-case hex, as clients and Crossbar write keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// The router's own Ed25519 key for router authentication. `Debug` shows only the public half.
#[derive(Clone)]
pub struct RouterKey(SigningKey);

impl RouterKey {
    /// From the 32-byte seed (the private key as Autobahn and Crossbar store it).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        RouterKey(SigningKey::from_bytes(seed))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for RouterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RouterKey(public: {}, secret: <redacted>)",
            self.public().to_hex()
        )
    }
}

/// What a cryptosign HELLO asks for (from HELLO.Details.authextra).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptosignHello {
    /// `pubkey`: the key the client will sign with, if announced.
    pub pubkey: Option<PublicKey>,
    /// `channel_binding`: the binding type requested, if any.
    pub channel_binding: Option<ChannelBinding>,
    /// `challenge`: a client challenge for router authentication, if any.
    pub client_challenge: Option<[u8; 32]>,
}

/// Reads the cryptosign fields of HELLO.Details.authextra.
///
/// # Errors
/// [`AuthError::WrongType`] for a non-string field; hex and key errors as
/// [`PublicKey::from_hex`]; [`AuthError::UnsupportedChannelBinding`] for a type other than
/// `tls-unique` or `tls-exporter`.
pub fn parse_hello(authextra: Option<&Dict>) -> Result<CryptosignHello, AuthError> {
    let pubkey = opt_str(authextra, "pubkey", "authextra.pubkey")?
        .map(|h| PublicKey::from_hex("authextra.pubkey", h))
        .transpose()?;
    let channel_binding = match opt_str(authextra, "channel_binding", "authextra.channel_binding")?
    {
        None => None,
        Some(name) => match ChannelBinding::from_name(name) {
            Some(cb @ (ChannelBinding::TlsUnique | ChannelBinding::TlsExporter)) => Some(cb),
            _ => return Err(AuthError::UnsupportedChannelBinding { method: AUTHMETHOD }),
        },
    };
    let client_challenge = opt_str(authextra, "challenge", "authextra.challenge")?
        .map(|h| decode_hex_array::<32>("authextra.challenge", h))
        .transpose()?;
    Ok(CryptosignHello {
        pubkey,
        channel_binding,
        client_challenge,
    })
}

/// The message to sign: the challenge, XOR the channel id when binding is active.
pub fn signed_message(challenge: &[u8; 32], channel_id: Option<&[u8; 32]>) -> [u8; 32] {
    let mut msg = *challenge;
    if let Some(id) = channel_id {
        for (m, c) in msg.iter_mut().zip(id) {
            *m ^= c;
        }
    }
    msg
}

/// The client's computation (Autobahn's `sign_challenge`): hex of `signature || message`.
/// The router uses it for router authentication, tests and tooling.
pub fn sign(key: &SigningKey, challenge: &[u8; 32], channel_id: Option<&[u8; 32]>) -> String {
    let msg = signed_message(challenge, channel_id);
    let sig = key.sign(&msg);
    let mut out = hex::encode(sig.to_bytes());
    out.push_str(&hex::encode(msg));
    out
}

/// One cryptosign login between CHALLENGE and AUTHENTICATE.
#[derive(Clone)]
pub struct PendingCryptosign {
    /// The random challenge sent.
    challenge: [u8; 32],
    /// The binding type in use, if any.
    channel_binding: Option<ChannelBinding>,
    /// What the signature must cover: the challenge, XOR the channel id when binding.
    expected_message: [u8; 32],
    /// The router-authentication signature (hex) and public key, if asked for and possible.
    router_signature: Option<(String, PublicKey)>,
    /// The keys a signature may verify under: the announced one, or all authorized ones.
    keys: Vec<PublicKey>,
}

impl PendingCryptosign {
    /// Starts a login: draws the challenge from `rng`.
    ///
    /// `authorized` are the principal's keys. When the client announced a `pubkey` it must be
    /// one of them, and only it is tried; otherwise every authorized key is tried. `channel_id`
    /// is the transport's 32-byte channel id for the binding type the client asked for.
    /// `router_key` signs the client's challenge when HELLO carried one (router
    /// authentication); without a router key that request is ignored and the client decides.
    ///
    /// # Errors
    /// [`AuthError::UnknownPublicKey`] when the announced key is not authorized (also when
    /// `authorized` is empty); [`AuthError::NoChannelId`] when the client asked for channel
    /// binding and `channel_id` is `None` (never fall back silently: Crossbar 26.10.1 denies
    /// too).
    pub fn new<R: rand::CryptoRng + ?Sized>(
        authorized: &[PublicKey],
        hello: &CryptosignHello,
        channel_id: Option<&[u8; 32]>,
        router_key: Option<&RouterKey>,
        rng: &mut R,
    ) -> Result<Self, AuthError> {
        let mut challenge = [0u8; 32];
        rng.fill_bytes(&mut challenge);
        Self::with_challenge(authorized, hello, channel_id, router_key, challenge)
    }

    /// [`PendingCryptosign::new`] with a given challenge (deterministic).
    ///
    /// # Errors
    /// As [`PendingCryptosign::new`].
    pub fn with_challenge(
        authorized: &[PublicKey],
        hello: &CryptosignHello,
        channel_id: Option<&[u8; 32]>,
        router_key: Option<&RouterKey>,
        challenge: [u8; 32],
    ) -> Result<Self, AuthError> {
        let keys = match &hello.pubkey {
            Some(pk) if authorized.contains(pk) => vec![*pk],
            Some(_) => return Err(AuthError::UnknownPublicKey),
            None if authorized.is_empty() => return Err(AuthError::UnknownPublicKey),
            None => authorized.to_vec(),
        };
        let binding_id = match hello.channel_binding {
            None => None,
            Some(_) => Some(channel_id.ok_or(AuthError::NoChannelId)?),
        };
        let router_signature = match (router_key, &hello.client_challenge) {
            (Some(key), Some(client_challenge)) => {
                Some((sign(&key.0, client_challenge, binding_id), key.public()))
            }
            _ => None,
        };
        Ok(PendingCryptosign {
            challenge,
            channel_binding: hello.channel_binding,
            expected_message: signed_message(&challenge, binding_id),
            router_signature,
            keys,
        })
    }

    /// CHALLENGE.Extra: `challenge` (hex), `channel_binding` (the type or null), and for router
    /// authentication `signature` and `pubkey`.
    pub fn challenge_extra(&self) -> Dict {
        let mut extra = Dict::new()
            .with("challenge", hex::encode(self.challenge))
            .with(
                "channel_binding",
                match self.channel_binding {
                    Some(cb) => Value::from(cb.name()),
                    None => Value::Null,
                },
            );
        if let Some((sig, pubkey)) = &self.router_signature {
            extra.insert("signature", sig.as_str());
            extra.insert("pubkey", pubkey.to_hex());
        }
        extra
    }

    /// Checks AUTHENTICATE.Signature: hex of 96 bytes (`signature || message`) or of the
    /// 64-byte signature alone. Returns the key that verified.
    ///
    /// # Errors
    /// [`AuthError::TooLong`] over [`AuthLimits::max_signature_len`]; [`AuthError::BadHex`];
    /// [`AuthError::WrongLength`] for any size but 64 or 96 bytes; [`AuthError::Mismatch`] when
    /// the 96-byte form carries another message; [`AuthError::BadSignature`] when no key
    /// verifies it.
    pub fn verify(&self, signature: &str, limits: &AuthLimits) -> Result<PublicKey, AuthError> {
        check_len("signature", signature, limits.max_signature_len)?;
        let bytes = decode_hex_vec("signature", signature, 96)?;
        let sig_bytes: [u8; 64] = match bytes.len() {
            64 => bytes[..].try_into().expect("length checked"),
            96 => {
                if !bool::from(bytes[64..].ct_eq(&self.expected_message)) {
                    return Err(AuthError::Mismatch {
                        what: "signed message",
                    });
                }
                bytes[..64].try_into().expect("length checked")
            }
            got => {
                return Err(AuthError::WrongLength {
                    what: "signature",
                    expected: 96,
                    got,
                });
            }
        };
        let sig = Signature::from_bytes(&sig_bytes);
        self.keys
            .iter()
            .find(|k| k.0.verify_strict(&self.expected_message, &sig).is_ok())
            .copied()
            .ok_or(AuthError::BadSignature { method: AUTHMETHOD })
    }
}

impl fmt::Debug for PendingCryptosign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingCryptosign")
            .field("challenge", &hex::encode(self.challenge))
            .field("channel_binding", &self.channel_binding)
            .field("router_signature", &self.router_signature.is_some())
            .field("keys", &self.keys)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn public(n: u8) -> PublicKey {
        PublicKey(key(n).verifying_key())
    }

    fn hello(pubkey: Option<PublicKey>, cb: Option<ChannelBinding>) -> CryptosignHello {
        CryptosignHello {
            pubkey,
            channel_binding: cb,
            client_challenge: None,
        }
    }

    fn extra_challenge(p: &PendingCryptosign) -> [u8; 32] {
        let extra = p.challenge_extra();
        decode_hex_array("c", extra.get("challenge").unwrap().as_str().unwrap()).unwrap()
    }

    #[test]
    fn round_trip_96_and_64_byte_forms() {
        let limits = AuthLimits::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let p = PendingCryptosign::new(
            &[public(1)],
            &hello(Some(public(1)), None),
            None,
            None,
            &mut rng,
        )
        .unwrap();
        let extra = p.challenge_extra();
        assert_eq!(extra.get("channel_binding"), Some(&Value::Null));
        let challenge = extra_challenge(&p);
        let sig96 = sign(&key(1), &challenge, None);
        assert_eq!(sig96.len(), 192);
        assert_eq!(p.verify(&sig96, &limits), Ok(public(1)));
        assert_eq!(p.verify(&sig96[..128], &limits), Ok(public(1)));
        assert_eq!(p.verify(&sig96.to_uppercase(), &limits), Ok(public(1)));
        // Wrong key, tampered signature, tampered message, wrong sizes, bad hex.
        let other = sign(&key(2), &challenge, None);
        assert_eq!(
            p.verify(&other, &limits),
            Err(AuthError::BadSignature {
                method: "cryptosign"
            })
        );
        let mut tampered = sig96.clone().into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(p.verify(&tampered, &limits).is_err());
        let mut wrong_msg = sig96.clone();
        wrong_msg.replace_range(190..192, if &sig96[190..] == "00" { "01" } else { "00" });
        assert_eq!(
            p.verify(&wrong_msg, &limits),
            Err(AuthError::Mismatch {
                what: "signed message"
            })
        );
        assert_eq!(
            p.verify(&sig96[..190], &limits),
            Err(AuthError::WrongLength {
                what: "signature",
                expected: 96,
                got: 95
            })
        );
        assert_eq!(
            p.verify(&sig96[..191], &limits),
            Err(AuthError::BadHex { what: "signature" })
        );
        assert!(matches!(
            p.verify(&"ab".repeat(97), &limits),
            Err(AuthError::TooLong { .. })
        ));
        assert_eq!(
            p.verify(&"zz".repeat(96), &limits),
            Err(AuthError::BadHex { what: "signature" })
        );
    }

    #[test]
    fn announced_key_must_be_authorized() {
        let h = hello(Some(public(9)), None);
        assert_eq!(
            PendingCryptosign::with_challenge(&[public(1)], &h, None, None, [0; 32]).unwrap_err(),
            AuthError::UnknownPublicKey
        );
        assert_eq!(
            PendingCryptosign::with_challenge(&[], &hello(None, None), None, None, [0; 32])
                .unwrap_err(),
            AuthError::UnknownPublicKey
        );
    }

    #[test]
    fn without_announced_key_any_authorized_key_verifies() {
        let limits = AuthLimits::default();
        let keys = [public(1), public(2), public(3)];
        let p = PendingCryptosign::with_challenge(&keys, &hello(None, None), None, None, [5; 32])
            .unwrap();
        assert_eq!(
            p.verify(&sign(&key(3), &[5; 32], None), &limits),
            Ok(public(3))
        );
        assert!(p.verify(&sign(&key(4), &[5; 32], None), &limits).is_err());
        // With an announced key only that one counts, even if another authorized key signs.
        let p = PendingCryptosign::with_challenge(
            &keys,
            &hello(Some(public(1)), None),
            None,
            None,
            [5; 32],
        )
        .unwrap();
        assert!(p.verify(&sign(&key(2), &[5; 32], None), &limits).is_err());
    }

    #[test]
    fn channel_binding_xors_the_channel_id() {
        let limits = AuthLimits::default();
        let id = [0xa5; 32];
        let h = hello(Some(public(1)), Some(ChannelBinding::TlsUnique));
        assert_eq!(
            PendingCryptosign::with_challenge(&[public(1)], &h, None, None, [1; 32]).unwrap_err(),
            AuthError::NoChannelId
        );
        let p =
            PendingCryptosign::with_challenge(&[public(1)], &h, Some(&id), None, [1; 32]).unwrap();
        assert_eq!(
            p.challenge_extra().get("channel_binding").unwrap().as_str(),
            Some("tls-unique")
        );
        assert_eq!(
            p.verify(&sign(&key(1), &[1; 32], Some(&id)), &limits),
            Ok(public(1))
        );
        // Signing the bare challenge (no binding) is refused.
        assert!(p.verify(&sign(&key(1), &[1; 32], None), &limits).is_err());
        // A channel id is ignored when the client did not ask for binding.
        let p = PendingCryptosign::with_challenge(
            &[public(1)],
            &hello(Some(public(1)), None),
            Some(&id),
            None,
            [1; 32],
        )
        .unwrap();
        assert_eq!(
            p.verify(&sign(&key(1), &[1; 32], None), &limits),
            Ok(public(1))
        );
    }

    #[test]
    fn parse_hello_fields() {
        let pk = public(1).to_hex();
        let extra = Dict::new()
            .with("pubkey", pk.as_str())
            .with("channel_binding", "tls-exporter")
            .with("challenge", "ff".repeat(32));
        let h = parse_hello(Some(&extra)).unwrap();
        assert_eq!(h.pubkey, Some(public(1)));
        assert_eq!(h.channel_binding, Some(ChannelBinding::TlsExporter));
        assert_eq!(h.client_challenge, Some([0xff; 32]));
        assert_eq!(parse_hello(None).unwrap(), hello(None, None));
        let null_cb = Dict::new().with("channel_binding", Value::Null);
        assert_eq!(parse_hello(Some(&null_cb)).unwrap().channel_binding, None);
        // What Autobahn|JS sends: nulls for the parts it does not implement.
        let js = Dict::new()
            .with("pubkey", pk.as_str())
            .with("trustroot", Value::Null)
            .with("challenge", Value::Null)
            .with("channel_binding", Value::Null)
            .with("activation_code", Value::Null);
        assert_eq!(
            parse_hello(Some(&js)).unwrap(),
            hello(Some(public(1)), None)
        );
        for (k, v, err) in [
            (
                "pubkey",
                Value::from(1u64),
                AuthError::WrongType {
                    what: "authextra.pubkey",
                    expected: "a string",
                },
            ),
            (
                "pubkey",
                Value::from("xy".repeat(32)),
                AuthError::BadHex {
                    what: "authextra.pubkey",
                },
            ),
            (
                "pubkey",
                Value::from("00".repeat(31)),
                AuthError::WrongLength {
                    what: "authextra.pubkey",
                    expected: 32,
                    got: 31,
                },
            ),
            // The identity point has small order: refused.
            (
                "pubkey",
                Value::from(format!("01{}", "00".repeat(31))),
                AuthError::BadPublicKey {
                    what: "authextra.pubkey",
                },
            ),
            (
                "channel_binding",
                Value::from("tls-server-end-point"),
                AuthError::UnsupportedChannelBinding {
                    method: "cryptosign",
                },
            ),
            (
                "channel_binding",
                Value::from("bogus"),
                AuthError::UnsupportedChannelBinding {
                    method: "cryptosign",
                },
            ),
            (
                "challenge",
                Value::from("ab"),
                AuthError::WrongLength {
                    what: "authextra.challenge",
                    expected: 32,
                    got: 1,
                },
            ),
        ] {
            assert_eq!(parse_hello(Some(&Dict::new().with(k, v))), Err(err));
        }
    }

    #[test]
    fn router_authentication_signs_the_client_challenge() {
        let router = RouterKey::from_seed(&[7; 32]);
        let id = [3; 32];
        let h = CryptosignHello {
            pubkey: Some(public(1)),
            channel_binding: Some(ChannelBinding::TlsUnique),
            client_challenge: Some([9; 32]),
        };
        let p =
            PendingCryptosign::with_challenge(&[public(1)], &h, Some(&id), Some(&router), [1; 32])
                .unwrap();
        let extra = p.challenge_extra();
        let sig = extra.get("signature").unwrap().as_str().unwrap();
        assert_eq!(
            sig,
            sign(&SigningKey::from_bytes(&[7; 32]), &[9; 32], Some(&id))
        );
        assert_eq!(
            extra.get("pubkey").unwrap().as_str(),
            Some(router.public().to_hex().as_str())
        );
        // The client checks it like any cryptosign signature.
        let check = PendingCryptosign::with_challenge(
            &[router.public()],
            &hello(None, Some(ChannelBinding::TlsUnique)),
            Some(&id),
            None,
            [9; 32],
        )
        .unwrap();
        assert_eq!(
            check.verify(sig, &AuthLimits::default()),
            Ok(router.public())
        );
        // Debug never shows the seed's key material.
        let shown = format!("{router:?} {p:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&hex::encode(SigningKey::from_bytes(&[7; 32]).to_bytes())));
    }

    proptest! {
        #[test]
        fn sign_verify_and_tamper(seed in any::<[u8; 32]>(), challenge in any::<[u8; 32]>(),
                                  id in proptest::option::of(any::<[u8; 32]>()),
                                  flip in 0usize..96, bit in 0u8..8) {
            let limits = AuthLimits::default();
            let sk = SigningKey::from_bytes(&seed);
            let pk = PublicKey(sk.verifying_key());
            prop_assume!(!pk.0.is_weak());
            let cb = id.map(|_| ChannelBinding::TlsUnique);
            let p = PendingCryptosign::with_challenge(&[pk], &hello(Some(pk), cb), id.as_ref(), None, challenge)
                .unwrap();
            let sig = sign(&sk, &challenge, id.as_ref());
            prop_assert_eq!(p.verify(&sig, &limits), Ok(pk));
            let mut raw = hex::decode(&sig).unwrap();
            raw[flip] ^= 1 << bit;
            prop_assert!(p.verify(&hex::encode(&raw), &limits).is_err());
        }

        #[test]
        fn verify_never_panics(sig in ".{0,300}") {
            let p = PendingCryptosign::with_challenge(&[public(1)], &hello(None, None), None, None, [0; 32])
                .unwrap();
            let _ = p.verify(&sig, &AuthLimits::default());
        }
    }
}

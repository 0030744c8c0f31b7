//! SCRAM-SHA-256 (RFC 5802/7677 as the WAMP spec adapts them): a password login where neither
//! the password nor a password-equivalent ever crosses the wire, and the router stores only
//! salted keys (`StoredKey`, `ServerKey`, salt, KDF parameters), never the password.
//!
//! Flow: HELLO (authmethods contains `wamp-scram` or `scram`, authid, authextra `nonce`,
//! optional `channel_binding`) → CHALLENGE with `nonce` (client nonce + server nonce), `salt`,
//! `kdf`, `iterations`, `memory` → AUTHENTICATE with base64 `ClientProof` → WELCOME whose
//! authextra carries the base64 `ServerSignature` (mutual authentication), or ABORT.
//!
//! Two dialects, both accepted; the HELLO's authmethod picks one ([`ScramDialect`]):
//!
//! | | spec (`wamp-scram`) | Autobahn / Crossbar.io 26.10.1 (`scram`) |
//! |---|---|---|
//! | `c=` in AuthMessage | `base64(gs2 header + cbind data)`, `biws` without binding | empty |
//! | authid in `n=` | SASLprep, then `,`→`=2C`, `=`→`=3D` | SASLprep only |
//! | channel binding | `tls-unique`, `tls-server-end-point`: AUTHENTICATE extra `channel_binding` + `cbind_data` | none (refused here; Crossbar ignores it) |
//! | WELCOME authextra | `verifier` | `scram_server_signature` |
//! | AUTHENTICATE extra | `nonce`, `channel_binding`, `cbind_data` (checked when present) | empty (ignored) |
//!
//! KDFs ([`Kdf`]): `pbkdf2` (PBKDF2-HMAC-SHA256, 32 bytes), `argon2id13` (the spec: Argon2id
//! v1.3, parallelism 1, 32 raw bytes) and `argon2id-13` (Autobahn and Crossbar: the same Argon2id
//! run, but `SaltedPassword` is the *unpadded base64 text* of the 32 bytes — Autobahn takes it
//! from the `$...$<hash>` field of the encoded hash). The two Argon2 names therefore give
//! different keys from the same password: a stored credential's KDF name decides which
//! derivation the client must use, and the router sends that name back unchanged. Autobahn's
//! client cannot do `pbkdf2` (it raises `ValueError`); the PBKDF2 salt is the decoded salt bytes
//! (RFC 5802).
//!
//! The combined nonce is the client's nonce string followed by the base64 of 16 random bytes,
//! so it begins with the client nonce as the spec requires a client to check (Crossbar instead
//! base64-encodes the concatenated raw bytes; Autobahn does not check either way).
//!
//! Unknown authids: [`ScramCredential::mock`] makes a challenge indistinguishable from a real
//! one (stable per-authid salt, as the spec suggests) that never verifies, so a router need not
//! reveal which users exist (Crossbar does reveal it).
//!
//! Cost: verifying a proof is two HMACs and a SHA-256 (about a microsecond). The KDFs are
//! CPU-heavy by design — [`salted_password`] and [`derive_credentials`] run Argon2id or
//! PBKDF2 — and are only needed by tooling and config conversion, never during a login.

mod credential;

pub use credential::{Kdf, KdfParams, ScramCredential, derive_credentials, salted_password};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{
    AuthError, AuthLimits, ChannelBinding, b64, check_len, decode_b64_array, decode_b64_vec,
    opt_str,
};
use crate::proto::value::{Dict, Value};
use credential::hmac;

/// The spec's authmethod.
pub const AUTHMETHOD_SPEC: &str = "wamp-scram";
/// The authmethod of Autobahn's client and Crossbar.io.
pub const AUTHMETHOD_AUTOBAHN: &str = "scram";
/// Random bytes in the server's part of the nonce (the spec recommends 16).
pub const SERVER_NONCE_BYTES: usize = 16;
/// Longest salt accepted in a stored credential, in bytes.
pub const MAX_SALT_LEN: usize = 64;
/// Argon2's minimum salt length in bytes.
pub const MIN_ARGON2_SALT_LEN: usize = 8;

/// Which SCRAM dialect a login speaks (see the module header for the differences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramDialect {
    /// The WAMP spec's `wamp-scram`.
    Spec,
    /// The older draft Autobahn clients and Crossbar.io speak: `scram`.
    Autobahn,
}

impl ScramDialect {
    /// The dialect of a HELLO authmethod, if it is a SCRAM one.
    pub fn from_authmethod(authmethod: &str) -> Option<Self> {
        match authmethod {
            AUTHMETHOD_SPEC => Some(ScramDialect::Spec),
            AUTHMETHOD_AUTOBAHN => Some(ScramDialect::Autobahn),
            _ => None,
        }
    }

    /// The authmethod for CHALLENGE and WELCOME: the one the client asked for.
    pub fn authmethod(self) -> &'static str {
        match self {
            ScramDialect::Spec => AUTHMETHOD_SPEC,
            ScramDialect::Autobahn => AUTHMETHOD_AUTOBAHN,
        }
    }

    /// The WELCOME authextra key for the server signature.
    pub fn server_signature_key(self) -> &'static str {
        match self {
            ScramDialect::Spec => "verifier",
            ScramDialect::Autobahn => "scram_server_signature",
        }
    }
}

/// What a SCRAM HELLO asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramHello {
    /// The dialect (from the authmethod).
    pub dialect: ScramDialect,
    /// `authextra.nonce`, as sent.
    pub client_nonce: String,
    /// `authextra.channel_binding`, if any.
    pub channel_binding: Option<ChannelBinding>,
}

/// Reads the SCRAM fields of HELLO.Details.authextra.
///
/// The nonce must be [`AuthLimits::min_nonce_len`] to [`AuthLimits::max_nonce_len`] printable
/// ASCII characters without `,` (RFC 5802's `printable`; base64 qualifies).
///
/// # Errors
/// [`AuthError::Missing`] without a nonce; [`AuthError::WrongType`], [`AuthError::TooLong`],
/// [`AuthError::TooShort`], [`AuthError::BadCharacter`] for a bad one;
/// [`AuthError::UnsupportedChannelBinding`] for a binding type the dialect does not support.
pub fn parse_hello(
    dialect: ScramDialect,
    authextra: Option<&Dict>,
    limits: &AuthLimits,
) -> Result<ScramHello, AuthError> {
    let nonce = opt_str(authextra, "nonce", "authextra.nonce")?.ok_or(AuthError::Missing {
        what: "authextra.nonce",
    })?;
    check_len("authextra.nonce", nonce, limits.max_nonce_len)?;
    if nonce.len() < limits.min_nonce_len {
        return Err(AuthError::TooShort {
            what: "authextra.nonce",
            len: nonce.len(),
            min: limits.min_nonce_len,
        });
    }
    if !nonce
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(AuthError::BadCharacter {
            what: "authextra.nonce",
        });
    }
    let channel_binding = match opt_str(authextra, "channel_binding", "authextra.channel_binding")?
    {
        None => None,
        Some(name) => match (dialect, ChannelBinding::from_name(name)) {
            (
                ScramDialect::Spec,
                Some(cb @ (ChannelBinding::TlsUnique | ChannelBinding::TlsServerEndPoint)),
            ) => Some(cb),
            _ => {
                return Err(AuthError::UnsupportedChannelBinding {
                    method: dialect.authmethod(),
                });
            }
        },
    };
    Ok(ScramHello {
        dialect,
        client_nonce: nonce.to_owned(),
        channel_binding,
    })
}

/// The `n=` value: SASLprep of the authid, escaped in the spec dialect.
fn normalized_user(authid: &str, dialect: ScramDialect) -> Result<String, AuthError> {
    let prepped =
        stringprep::saslprep(authid).map_err(|_| AuthError::BadCharacter { what: "authid" })?;
    Ok(match dialect {
        ScramDialect::Spec => prepped.replace('=', "=3D").replace(',', "=2C"),
        ScramDialect::Autobahn => prepped.into_owned(),
    })
}

/// One SCRAM login between CHALLENGE and AUTHENTICATE. `Debug` hides the credential's keys.
#[derive(Debug, Clone)]
pub struct PendingScram {
    /// The dialect in use.
    dialect: ScramDialect,
    /// Client nonce + server nonce, as sent in the CHALLENGE.
    nonce: String,
    /// The binding type requested, if any.
    channel_binding: Option<ChannelBinding>,
    /// The transport's channel-binding data for that type.
    channel_data: Option<Vec<u8>>,
    /// `client-first-bare , server-first , client-final-without-proof`.
    auth_message: String,
    /// The principal's stored keys.
    cred: ScramCredential,
}

impl PendingScram {
    /// Starts a login: draws the server nonce from `rng`.
    ///
    /// `channel_data` is what the transport sees for the binding type the client asked for
    /// (the TLS Finished message for `tls-unique`, the certificate hash for
    /// `tls-server-end-point`).
    ///
    /// # Errors
    /// [`AuthError::TooLong`] or [`AuthError::BadCharacter`] for the authid;
    /// [`AuthError::NoChannelId`] when binding was asked for and `channel_data` is `None`.
    pub fn new<R: rand::CryptoRng + ?Sized>(
        hello: &ScramHello,
        authid: &str,
        cred: ScramCredential,
        channel_data: Option<&[u8]>,
        limits: &AuthLimits,
        rng: &mut R,
    ) -> Result<Self, AuthError> {
        let mut server = [0u8; SERVER_NONCE_BYTES];
        rng.fill_bytes(&mut server);
        Self::with_server_nonce(hello, authid, cred, channel_data, &b64(&server), limits)
    }

    /// [`PendingScram::new`] with a given server nonce part (deterministic; for tests and the
    /// RFC's example, whose server nonce is not base64).
    ///
    /// # Errors
    /// As [`PendingScram::new`].
    pub fn with_server_nonce(
        hello: &ScramHello,
        authid: &str,
        cred: ScramCredential,
        channel_data: Option<&[u8]>,
        server_nonce: &str,
        limits: &AuthLimits,
    ) -> Result<Self, AuthError> {
        check_len("authid", authid, limits.max_authid_len)?;
        let channel_data = match hello.channel_binding {
            None => None,
            Some(_) => Some(channel_data.ok_or(AuthError::NoChannelId)?.to_vec()),
        };
        let user = normalized_user(authid, hello.dialect)?;
        let nonce = format!("{}{}", hello.client_nonce, server_nonce);
        let c = match hello.dialect {
            ScramDialect::Autobahn => String::new(),
            ScramDialect::Spec => {
                let mut input = match hello.channel_binding {
                    None => b"n,,".to_vec(),
                    Some(cb) => format!("p={},,", cb.name()).into_bytes(),
                };
                input.extend_from_slice(channel_data.as_deref().unwrap_or_default());
                b64(&input)
            }
        };
        let auth_message = format!(
            "n={user},r={client},r={nonce},s={salt},i={iterations},c={c},r={nonce}",
            client = hello.client_nonce,
            salt = b64(&cred.salt),
            iterations = cred.params.iterations,
        );
        Ok(PendingScram {
            dialect: hello.dialect,
            nonce,
            channel_binding: hello.channel_binding,
            channel_data,
            auth_message,
            cred,
        })
    }

    /// The AuthMessage both sides sign.
    pub fn auth_message(&self) -> &str {
        &self.auth_message
    }

    /// CHALLENGE.Extra: `nonce`, `salt` (base64), `kdf`, `iterations`, and `memory` (KiB for
    /// Argon2; `null` for PBKDF2 in the spec dialect, absent in Autobahn's, whose client rejects
    /// both a `null` memory and any key it does not know).
    pub fn challenge_extra(&self) -> Dict {
        let params = &self.cred.params;
        let mut extra = Dict::new()
            .with("nonce", self.nonce.as_str())
            .with("salt", b64(&self.cred.salt))
            .with("kdf", params.kdf.name())
            .with("iterations", u64::from(params.iterations));
        match (params.memory, self.dialect) {
            (Some(m), _) => extra.insert("memory", u64::from(m)),
            (None, ScramDialect::Spec) => extra.insert("memory", Value::Null),
            (None, ScramDialect::Autobahn) => {}
        }
        extra
    }

    /// Checks AUTHENTICATE: the base64 `ClientProof` in `signature` and, in the spec dialect,
    /// the echoed `nonce`, `channel_binding` and `cbind_data` in `extra`. On success returns the
    /// WELCOME authextra entry with the base64 `ServerSignature` (`verifier` or
    /// `scram_server_signature`, per dialect).
    ///
    /// # Errors
    /// [`AuthError::TooLong`], [`AuthError::BadBase64`], [`AuthError::WrongLength`] for a
    /// malformed proof; [`AuthError::Mismatch`], [`AuthError::Missing`],
    /// [`AuthError::WrongType`] for echoed fields that disagree; [`AuthError::BadSignature`] for
    /// a wrong proof (always, for a mock credential).
    pub fn verify(
        &self,
        signature: &str,
        extra: &Dict,
        limits: &AuthLimits,
    ) -> Result<Dict, AuthError> {
        check_len("signature", signature, limits.max_signature_len)?;
        let proof: [u8; 32] = decode_b64_array("signature", signature)?;
        if self.dialect == ScramDialect::Spec {
            self.check_echoes(extra, limits)?;
        }
        let client_signature = hmac(&self.cred.stored_key, &[self.auth_message.as_bytes()]);
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key
            .iter_mut()
            .zip(proof.iter().zip(&client_signature))
        {
            *k = p ^ s;
        }
        let recovered: [u8; 32] = Sha256::digest(client_key).into();
        client_key.zeroize();
        let ok = bool::from(recovered.ct_eq(&self.cred.stored_key)) && !self.cred.mock;
        if !ok {
            return Err(AuthError::BadSignature {
                method: self.dialect.authmethod(),
            });
        }
        let server_signature = hmac(&self.cred.server_key, &[self.auth_message.as_bytes()]);
        Ok(Dict::new().with(self.dialect.server_signature_key(), b64(&server_signature)))
    }

    fn check_echoes(&self, extra: &Dict, limits: &AuthLimits) -> Result<(), AuthError> {
        if let Some(nonce) = opt_str(Some(extra), "nonce", "nonce")?
            && nonce != self.nonce
        {
            return Err(AuthError::Mismatch { what: "nonce" });
        }
        let echoed_cb = opt_str(Some(extra), "channel_binding", "channel_binding")?;
        if echoed_cb.is_some() && echoed_cb != self.channel_binding.map(ChannelBinding::name) {
            return Err(AuthError::Mismatch {
                what: "channel_binding",
            });
        }
        let cbind = opt_str(Some(extra), "cbind_data", "cbind_data")?;
        match (&self.channel_data, cbind) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(AuthError::Mismatch { what: "cbind_data" }),
            (Some(_), None) => Err(AuthError::Missing { what: "cbind_data" }),
            (Some(ours), Some(theirs)) => {
                let theirs = decode_b64_vec("cbind_data", theirs, limits.max_cbind_data_len)?;
                if theirs.len() == ours.len() && bool::from(theirs.ct_eq(ours)) {
                    Ok(())
                } else {
                    Err(AuthError::Mismatch { what: "cbind_data" })
                }
            }
        }
    }
}

/// The client's side, for tests, tooling and benchmarks: `ClientProof` (base64) for an
/// AuthMessage, given the SaltedPassword.
pub fn client_proof(salted_password: &[u8], auth_message: &str) -> String {
    let mut client_key = hmac(salted_password, &[b"Client Key"]);
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let signature = hmac(&stored_key, &[auth_message.as_bytes()]);
    for (k, s) in client_key.iter_mut().zip(signature) {
        *k ^= s;
    }
    let out = b64(&client_key);
    client_key.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::auth::SecretBytes;
    use proptest::prelude::*;
    use rand::SeedableRng;

    const PBKDF2_4096: KdfParams = KdfParams {
        kdf: Kdf::Pbkdf2,
        iterations: 4096,
        memory: None,
    };
    const PBKDF2_1: KdfParams = KdfParams {
        kdf: Kdf::Pbkdf2,
        iterations: 1,
        memory: None,
    };

    fn hello(dialect: ScramDialect, nonce: &str, cb: Option<ChannelBinding>) -> ScramHello {
        ScramHello {
            dialect,
            client_nonce: nonce.into(),
            channel_binding: cb,
        }
    }

    /// RFC 7677 section 3, which the WAMP spec's examples reuse.
    #[test]
    fn rfc7677_example() {
        let limits = AuthLimits::default();
        let salt = BASE64_STD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = derive_credentials(b"pencil", &salt, PBKDF2_4096, &limits).unwrap();
        let pending = PendingScram::with_server_nonce(
            &hello(ScramDialect::Spec, "rOprNGfwEbeRWgbNEkqO", None),
            "user",
            cred,
            None,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            &limits,
        )
        .unwrap();
        assert_eq!(
            pending.auth_message(),
            "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        );
        let welcome = pending
            .verify(
                "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                &Dict::new(),
                &limits,
            )
            .unwrap();
        assert_eq!(
            welcome.get("verifier").unwrap().as_str(),
            Some("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
        let extra = pending.challenge_extra();
        assert_eq!(extra.get("kdf").unwrap().as_str(), Some("pbkdf2"));
        assert_eq!(extra.get("memory"), Some(&Value::Null));
        assert_eq!(extra.get("iterations").unwrap().as_u64(), Some(4096));
        assert_eq!(
            extra.get("salt").unwrap().as_str(),
            Some("W22ZaJ0SNY7soEsUEjb6gQ==")
        );
    }

    fn login(
        dialect: ScramDialect,
        params: KdfParams,
        authid: &str,
        password: &[u8],
    ) -> (PendingScram, SecretBytes) {
        let limits = AuthLimits::default();
        let salt = b"0123456789abcdef";
        let cred = derive_credentials(password, salt, params, &limits).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let pending = PendingScram::new(
            &hello(dialect, "Y2xpZW50bm9uY2U=", None),
            authid,
            cred,
            None,
            &limits,
            &mut rng,
        )
        .unwrap();
        (
            pending,
            salted_password(password, salt, &params, &limits).unwrap(),
        )
    }

    #[test]
    fn dialects_differ_in_c_user_escaping_and_welcome_key() {
        let limits = AuthLimits::default();
        let (spec, salted) = login(ScramDialect::Spec, PBKDF2_1, "a,b=c", b"pw");
        assert!(
            spec.auth_message()
                .starts_with("n=a=2Cb=3Dc,r=Y2xpZW50bm9uY2U=,")
        );
        assert!(spec.auth_message().contains(",c=biws,r="));
        let proof = client_proof(salted.expose(), spec.auth_message());
        let welcome = spec.verify(&proof, &Dict::new(), &limits).unwrap();
        assert!(welcome.get("verifier").is_some());
        assert_eq!(welcome.len(), 1);

        let (old, salted) = login(ScramDialect::Autobahn, PBKDF2_1, "a,b=c", b"pw");
        assert!(
            old.auth_message()
                .starts_with("n=a,b=c,r=Y2xpZW50bm9uY2U=,")
        );
        assert!(old.auth_message().contains(",c=,r="));
        assert!(old.challenge_extra().get("memory").is_none());
        let proof = client_proof(salted.expose(), old.auth_message());
        // The Autobahn dialect ignores AUTHENTICATE's extra.
        let junk = Dict::new().with("nonce", "whatever");
        let welcome = old.verify(&proof, &junk, &limits).unwrap();
        assert!(welcome.get("scram_server_signature").is_some());
        // A proof for one dialect's AuthMessage fails in the other.
        assert_eq!(
            spec.verify(&proof, &Dict::new(), &limits),
            Err(AuthError::BadSignature {
                method: "wamp-scram"
            })
        );
    }

    #[test]
    fn combined_nonce_starts_with_the_client_nonce() {
        let (pending, _) = login(ScramDialect::Spec, PBKDF2_1, "u", b"pw");
        let nonce = pending
            .challenge_extra()
            .get("nonce")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert!(nonce.starts_with("Y2xpZW50bm9uY2U="));
        assert_eq!(nonce.len(), "Y2xpZW50bm9uY2U=".len() + 24);
    }

    #[test]
    fn spec_echoes_are_checked() {
        let limits = AuthLimits::default();
        let salt = b"0123456789abcdef";
        let cred = derive_credentials(b"pw", salt, PBKDF2_1, &limits).unwrap();
        let salted = salted_password(b"pw", salt, &PBKDF2_1, &limits).unwrap();
        let binding = [0x42u8; 32];
        let h = hello(
            ScramDialect::Spec,
            "clientnonce",
            Some(ChannelBinding::TlsUnique),
        );
        assert_eq!(
            PendingScram::with_server_nonce(&h, "u", cred.clone(), None, "srv", &limits)
                .unwrap_err(),
            AuthError::NoChannelId
        );
        let pending =
            PendingScram::with_server_nonce(&h, "u", cred, Some(&binding), "srv", &limits).unwrap();
        let mut gs2 = b"p=tls-unique,,".to_vec();
        gs2.extend_from_slice(&binding);
        assert!(
            pending
                .auth_message()
                .contains(&format!(",c={},r=", b64(&gs2)))
        );
        let proof = client_proof(salted.expose(), pending.auth_message());
        let good = Dict::new()
            .with("nonce", "clientnoncesrv")
            .with("channel_binding", "tls-unique")
            .with("cbind_data", b64(&binding));
        assert!(pending.verify(&proof, &good, &limits).is_ok());
        let cases = [
            (
                good.clone().with("nonce", "clientnonceXXX"),
                AuthError::Mismatch { what: "nonce" },
            ),
            (
                good.clone().with("channel_binding", "tls-server-end-point"),
                AuthError::Mismatch {
                    what: "channel_binding",
                },
            ),
            (
                good.clone().with("cbind_data", b64(&[0x43; 32])),
                AuthError::Mismatch { what: "cbind_data" },
            ),
            (
                good.clone().with("cbind_data", b64(&[0x42; 31])),
                AuthError::Mismatch { what: "cbind_data" },
            ),
            (
                good.clone().with("cbind_data", "***"),
                AuthError::BadBase64 { what: "cbind_data" },
            ),
            (
                good.clone().with("cbind_data", Value::Null),
                AuthError::Missing { what: "cbind_data" },
            ),
            (
                good.clone().with("nonce", 5u64),
                AuthError::WrongType {
                    what: "nonce",
                    expected: "a string",
                },
            ),
        ];
        for (extra, err) in cases {
            assert_eq!(pending.verify(&proof, &extra, &limits), Err(err));
        }
        // Without binding, cbind_data must not appear; a null channel_binding echo is fine.
        let (plain, salted) = login(ScramDialect::Spec, PBKDF2_1, "u", b"pw");
        let proof = client_proof(salted.expose(), plain.auth_message());
        let extra = Dict::new()
            .with("channel_binding", Value::Null)
            .with("cbind_data", "AAAA");
        assert_eq!(
            plain.verify(&proof, &extra, &limits),
            Err(AuthError::Mismatch { what: "cbind_data" })
        );
        let extra = Dict::new()
            .with("channel_binding", Value::Null)
            .with("cbind_data", Value::Null);
        assert!(plain.verify(&proof, &extra, &limits).is_ok());
    }

    #[test]
    fn parse_hello_rules() {
        let limits = AuthLimits::default();
        let ok = Dict::new()
            .with("nonce", "egVDf3DMJh0=")
            .with("channel_binding", Value::Null);
        assert_eq!(
            parse_hello(ScramDialect::Spec, Some(&ok), &limits).unwrap(),
            hello(ScramDialect::Spec, "egVDf3DMJh0=", None)
        );
        let with_cb = ok.clone().with("channel_binding", "tls-server-end-point");
        assert_eq!(
            parse_hello(ScramDialect::Spec, Some(&with_cb), &limits)
                .unwrap()
                .channel_binding,
            Some(ChannelBinding::TlsServerEndPoint)
        );
        assert_eq!(
            parse_hello(ScramDialect::Autobahn, Some(&with_cb), &limits),
            Err(AuthError::UnsupportedChannelBinding { method: "scram" })
        );
        let bad_cb = ok.clone().with("channel_binding", "tls-exporter");
        assert_eq!(
            parse_hello(ScramDialect::Spec, Some(&bad_cb), &limits),
            Err(AuthError::UnsupportedChannelBinding {
                method: "wamp-scram"
            })
        );
        assert_eq!(
            parse_hello(ScramDialect::Spec, None, &limits),
            Err(AuthError::Missing {
                what: "authextra.nonce"
            })
        );
        for (nonce, err) in [
            (
                "short",
                AuthError::TooShort {
                    what: "authextra.nonce",
                    len: 5,
                    min: 8,
                },
            ),
            (
                "has,comma",
                AuthError::BadCharacter {
                    what: "authextra.nonce",
                },
            ),
            (
                "has space",
                AuthError::BadCharacter {
                    what: "authextra.nonce",
                },
            ),
            (
                "nönce-ünicode",
                AuthError::BadCharacter {
                    what: "authextra.nonce",
                },
            ),
        ] {
            let d = Dict::new().with("nonce", nonce);
            assert_eq!(
                parse_hello(ScramDialect::Spec, Some(&d), &limits),
                Err(err),
                "{nonce}"
            );
        }
        let long = Dict::new().with("nonce", "a".repeat(257));
        assert!(matches!(
            parse_hello(ScramDialect::Spec, Some(&long), &limits),
            Err(AuthError::TooLong { max: 256, .. })
        ));
        let number = Dict::new().with("nonce", 7u64);
        assert_eq!(
            parse_hello(ScramDialect::Spec, Some(&number), &limits),
            Err(AuthError::WrongType {
                what: "authextra.nonce",
                expected: "a string"
            })
        );
        assert_eq!(
            ScramDialect::from_authmethod("scram"),
            Some(ScramDialect::Autobahn)
        );
        assert_eq!(
            ScramDialect::from_authmethod("wamp-scram"),
            Some(ScramDialect::Spec)
        );
        assert_eq!(ScramDialect::from_authmethod("wampcra"), None);
    }

    #[test]
    fn malformed_proofs_are_errors() {
        let limits = AuthLimits::default();
        let (pending, _) = login(ScramDialect::Spec, PBKDF2_1, "u", b"pw");
        assert_eq!(
            pending.verify("", &Dict::new(), &limits),
            Err(AuthError::WrongLength {
                what: "signature",
                expected: 32,
                got: 0
            })
        );
        assert_eq!(
            pending.verify("!!!!", &Dict::new(), &limits),
            Err(AuthError::BadBase64 { what: "signature" })
        );
        assert!(matches!(
            pending.verify(&"A".repeat(600), &Dict::new(), &limits),
            Err(AuthError::TooLong { max: 512, .. })
        ));
        assert_eq!(
            PendingScram::with_server_nonce(
                &hello(ScramDialect::Spec, "clientnonce", None),
                "bad\u{0007}",
                derive_credentials(b"pw", b"salt", PBKDF2_1, &limits).unwrap(),
                None,
                "s",
                &limits,
            )
            .unwrap_err(),
            AuthError::BadCharacter { what: "authid" }
        );
    }

    proptest! {
        #[test]
        fn proof_round_trip_and_tamper(password in proptest::collection::vec(any::<u8>(), 0..32),
                                       authid in "[a-zA-Z0-9@.,=_-]{1,20}",
                                       spec in any::<bool>(), flip in 0usize..32, bit in 0u8..8) {
            let limits = AuthLimits::default();
            let dialect = if spec { ScramDialect::Spec } else { ScramDialect::Autobahn };
            let (pending, salted) = login(dialect, PBKDF2_1, &authid, &password);
            let proof = client_proof(salted.expose(), pending.auth_message());
            let welcome = pending.verify(&proof, &Dict::new(), &limits).unwrap();
            // The server signature is HMAC(ServerKey, AuthMessage), as the client checks it.
            let server_key = hmac(salted.expose(), &[b"Server Key"]);
            let expected = b64(&hmac(&server_key, &[pending.auth_message().as_bytes()]));
            prop_assert_eq!(
                welcome.get(dialect.server_signature_key()).unwrap().as_str(),
                Some(expected.as_str())
            );
            let mut raw = BASE64_STD.decode(&proof).unwrap();
            raw[flip] ^= 1 << bit;
            prop_assert!(pending.verify(&b64(&raw), &Dict::new(), &limits).is_err());
        }

        #[test]
        fn verify_never_panics(sig in ".{0,100}", nonce in proptest::option::of(".{0,40}"),
                               cbind in proptest::option::of(".{0,60}")) {
            let (pending, _) = login(ScramDialect::Spec, PBKDF2_1, "u", b"pw");
            let mut extra = Dict::new();
            if let Some(n) = nonce { extra.insert("nonce", n); }
            if let Some(c) = cbind { extra.insert("cbind_data", c); }
            let _ = pending.verify(&sig, &extra, &AuthLimits::default());
        }
    }

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64_STD;
}

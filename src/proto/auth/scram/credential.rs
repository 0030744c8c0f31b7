//! SCRAM's stored credentials and key derivation: the KDF names and parameters, the
//! [`ScramCredential`] a router keeps per principal (salt, KDF parameters, `StoredKey`,
//! `ServerKey`; never the password), Crossbar.io's config form of it, mock credentials for
//! unknown authids, and the KDFs themselves ([`salted_password`], [`derive_credentials`]).
//!
//! Cost: everything here is cheap except [`salted_password`] and [`derive_credentials`], which
//! run Argon2id or PBKDF2 and are CPU-heavy by design: tooling and config conversion only, off
//! the reactor. A login never runs a KDF on the router.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::{MAX_SALT_LEN, MIN_ARGON2_SALT_LEN};
use crate::proto::auth::{AuthError, AuthLimits, SecretBytes, decode_hex_array, decode_hex_vec};
use crate::proto::value::Dict;

type HmacSha256 = Hmac<Sha256>;

/// A SCRAM key derivation function, by its name in credentials and CHALLENGE.kdf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kdf {
    /// `argon2id13`: the spec's Argon2id v1.3; SaltedPassword is the 32 raw bytes.
    Argon2id13,
    /// `argon2id-13`: Autobahn's and Crossbar's Argon2id v1.3; SaltedPassword is the unpadded
    /// base64 text of the 32 bytes.
    Argon2id13Autobahn,
    /// `pbkdf2`: PBKDF2-HMAC-SHA256 with a 32-byte output.
    Pbkdf2,
}

impl Kdf {
    /// Parses a KDF name.
    ///
    /// # Errors
    /// [`AuthError::UnknownKdf`] for any other name.
    pub fn from_name(name: &str) -> Result<Self, AuthError> {
        match name {
            "argon2id13" => Ok(Kdf::Argon2id13),
            "argon2id-13" => Ok(Kdf::Argon2id13Autobahn),
            "pbkdf2" => Ok(Kdf::Pbkdf2),
            _ => Err(AuthError::UnknownKdf),
        }
    }

    /// The name on the wire and in credentials.
    pub fn name(self) -> &'static str {
        match self {
            Kdf::Argon2id13 => "argon2id13",
            Kdf::Argon2id13Autobahn => "argon2id-13",
            Kdf::Pbkdf2 => "pbkdf2",
        }
    }

    fn is_argon2(self) -> bool {
        matches!(self, Kdf::Argon2id13 | Kdf::Argon2id13Autobahn)
    }
}

/// A KDF with its cost parameters, as stored with a credential and sent in the CHALLENGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// The function.
    pub kdf: Kdf,
    /// PBKDF2 iterations, or Argon2 passes (`t_cost`).
    pub iterations: u32,
    /// Argon2 memory in KiB (`m_cost`); `None` for PBKDF2.
    pub memory: Option<u32>,
}

impl KdfParams {
    /// Checks the parameters against [`AuthLimits`] and the KDF's own rules.
    ///
    /// # Errors
    /// [`AuthError::BadKdfParams`] naming the parameter.
    pub fn check(&self, limits: &AuthLimits) -> Result<(), AuthError> {
        if self.kdf.is_argon2() {
            if self.iterations == 0 || self.iterations > limits.max_argon2_iterations {
                return Err(AuthError::BadKdfParams {
                    what: "iterations",
                    rule: "1 to AuthLimits::max_argon2_iterations for Argon2",
                });
            }
            match self.memory {
                Some(m) if (8..=limits.max_argon2_memory_kib).contains(&m) => Ok(()),
                _ => Err(AuthError::BadKdfParams {
                    what: "memory",
                    rule: "8 KiB to AuthLimits::max_argon2_memory_kib for Argon2",
                }),
            }
        } else if self.iterations == 0 || self.iterations > limits.max_pbkdf2_iterations {
            Err(AuthError::BadKdfParams {
                what: "iterations",
                rule: "1 to AuthLimits::max_pbkdf2_iterations for PBKDF2",
            })
        } else {
            Ok(())
        }
    }
}

/// What the router stores for one SCRAM principal: salt, KDF parameters, `StoredKey` and
/// `ServerKey`. Never the password. `Debug` hides both keys; they are wiped on drop.
#[derive(Clone)]
pub struct ScramCredential {
    /// The KDF and its cost.
    pub(super) params: KdfParams,
    /// The per-user salt (raw bytes; base64 on the wire, hex in Crossbar's config).
    pub(super) salt: Vec<u8>,
    /// `SHA256(HMAC(SaltedPassword, "Client Key"))`.
    pub(super) stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub(super) server_key: [u8; 32],
    /// A stand-in for an unknown authid: never verifies.
    pub(super) mock: bool,
}

impl ScramCredential {
    /// A credential from its parts.
    ///
    /// # Errors
    /// [`AuthError::BadKdfParams`] for parameters out of range or a salt that is empty, longer
    /// than [`MAX_SALT_LEN`], or shorter than [`MIN_ARGON2_SALT_LEN`] for Argon2.
    pub fn new(
        params: KdfParams,
        salt: Vec<u8>,
        stored_key: [u8; 32],
        server_key: [u8; 32],
        limits: &AuthLimits,
    ) -> Result<Self, AuthError> {
        params.check(limits)?;
        check_salt(&salt, params.kdf)?;
        Ok(ScramCredential {
            params,
            salt,
            stored_key,
            server_key,
            mock: false,
        })
    }

    /// A credential as Crossbar.io's config holds it (a principal of a `scram` auth block, or
    /// Autobahn's `derive_scram_credential` output): `kdf` name, `iterations`, `memory` (KiB,
    /// Argon2 only), and hex `salt`, `stored-key`, `server-key`.
    ///
    /// # Errors
    /// [`AuthError::UnknownKdf`], [`AuthError::BadKdfParams`], hex errors naming the field.
    pub fn from_crossbar(
        kdf: &str,
        iterations: u64,
        memory: Option<u64>,
        salt_hex: &str,
        stored_key_hex: &str,
        server_key_hex: &str,
        limits: &AuthLimits,
    ) -> Result<Self, AuthError> {
        let kdf = Kdf::from_name(kdf)?;
        let iterations = u32::try_from(iterations).map_err(|_| AuthError::BadKdfParams {
            what: "iterations",
            rule: "at most 2^32 - 1",
        })?;
        let memory = match (kdf.is_argon2(), memory) {
            (false, _) => None,
            (true, None) => None,
            (true, Some(m)) => Some(u32::try_from(m).map_err(|_| AuthError::BadKdfParams {
                what: "memory",
                rule: "at most 2^32 - 1 KiB",
            })?),
        };
        let salt = decode_hex_vec("salt", salt_hex, MAX_SALT_LEN)?;
        let stored_key = decode_hex_array("stored-key", stored_key_hex)?;
        let server_key = decode_hex_array("server-key", server_key_hex)?;
        Self::new(
            KdfParams {
                kdf,
                iterations,
                memory,
            },
            salt,
            stored_key,
            server_key,
            limits,
        )
    }

    /// A stand-in credential for an authid that does not exist: its salt is stable per authid
    /// (derived from `mock_key`, a router-wide secret), its keys are unknowable, and
    /// [`PendingScram::verify`](super::PendingScram::verify) always fails for it after doing the same work as for a real one.
    /// `params` should be the ones real users have.
    pub fn mock(authid: &str, mock_key: &[u8; 32], params: KdfParams) -> Self {
        let label = |what: &[u8]| {
            let mut mac = <HmacSha256 as KeyInit>::new_from_slice(mock_key)
                .expect("HMAC takes keys of any size");
            mac.update(what);
            mac.update(authid.as_bytes());
            let out: [u8; 32] = mac.finalize().into_bytes().into();
            out
        };
        ScramCredential {
            params,
            salt: label(b"junction scram mock salt\0")[..16].to_vec(),
            stored_key: label(b"junction scram mock stored key\0"),
            server_key: label(b"junction scram mock server key\0"),
            mock: true,
        }
    }

    /// The KDF and its cost.
    pub fn params(&self) -> &KdfParams {
        &self.params
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The credential in Crossbar.io's config format (`kdf`, `iterations`, `memory`, `salt`,
    /// `stored-key`, `server-key`; hex), for tooling that writes configs.
    pub fn to_crossbar(&self) -> Dict {
        let mut d = Dict::new()
            .with("kdf", self.params.kdf.name())
            .with("iterations", u64::from(self.params.iterations));
        if let Some(m) = self.params.memory {
            d.insert("memory", u64::from(m));
        }
        d.with("salt", hex::encode(&self.salt))
            .with("stored-key", hex::encode(self.stored_key))
            .with("server-key", hex::encode(self.server_key))
    }
}

impl Drop for ScramCredential {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("params", &self.params)
            .field("salt", &hex::encode(&self.salt))
            .field("stored_key", &"<redacted>")
            .field("server_key", &"<redacted>")
            .field("mock", &self.mock)
            .finish()
    }
}

fn check_salt(salt: &[u8], kdf: Kdf) -> Result<(), AuthError> {
    if salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return Err(AuthError::BadKdfParams {
            what: "salt",
            rule: "1 to 64 bytes",
        });
    }
    if kdf.is_argon2() && salt.len() < MIN_ARGON2_SALT_LEN {
        return Err(AuthError::BadKdfParams {
            what: "salt",
            rule: "at least 8 bytes for Argon2",
        });
    }
    Ok(())
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(super) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any size");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `SaltedPassword = KDF(password, salt, params)` (see [`Kdf`] for the three flavours). The
/// password is taken as given: the spec says to SASLprep it first, Autobahn does not; both agree
/// for ASCII passwords.
///
/// CPU-heavy: Argon2id fills `memory` KiB `iterations` times; PBKDF2 runs `iterations` HMACs.
/// Run off the reactor.
///
/// # Errors
/// [`AuthError::BadKdfParams`] for parameters or a salt out of range.
pub fn salted_password(
    password: &[u8],
    salt: &[u8],
    params: &KdfParams,
    limits: &AuthLimits,
) -> Result<SecretBytes, AuthError> {
    params.check(limits)?;
    check_salt(salt, params.kdf)?;
    let mut raw = [0u8; 32];
    match params.kdf {
        Kdf::Pbkdf2 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, params.iterations, &mut raw),
        Kdf::Argon2id13 | Kdf::Argon2id13Autobahn => {
            let memory = params.memory.expect("checked: Argon2 has memory");
            let argon_params = argon2::Params::new(memory, params.iterations, 1, Some(32))
                .map_err(|_| AuthError::BadKdfParams {
                    what: "memory",
                    rule: "Argon2's own limits",
                })?;
            argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon_params,
            )
            .hash_password_into(password, salt, &mut raw)
            .map_err(|_| AuthError::BadKdfParams {
                what: "salt",
                rule: "Argon2's own limits",
            })?;
        }
    }
    let out = if params.kdf == Kdf::Argon2id13Autobahn {
        SecretBytes::new(STANDARD_NO_PAD.encode(raw).into_bytes())
    } else {
        SecretBytes::new(raw.to_vec())
    };
    raw.zeroize();
    Ok(out)
}

/// Derives the stored credential from a password (`derive_credentials` in the spec's terms:
/// `StoredKey = SHA256(HMAC(SaltedPassword, "Client Key"))`,
/// `ServerKey = HMAC(SaltedPassword, "Server Key")`). For tooling and config conversion; the
/// router itself never needs the password.
///
/// CPU-heavy (runs [`salted_password`]). Run off the reactor.
///
/// # Errors
/// As [`salted_password`].
pub fn derive_credentials(
    password: &[u8],
    salt: &[u8],
    params: KdfParams,
    limits: &AuthLimits,
) -> Result<ScramCredential, AuthError> {
    let salted = salted_password(password, salt, &params, limits)?;
    let mut client_key = hmac(salted.expose(), &[b"Client Key"]);
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    client_key.zeroize();
    let server_key = hmac(salted.expose(), &[b"Server Key"]);
    ScramCredential::new(params, salt.to_vec(), stored_key, server_key, limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::auth::b64;
    use crate::proto::auth::scram::{PendingScram, ScramDialect, ScramHello};

    fn hello(dialect: ScramDialect, nonce: &str) -> ScramHello {
        ScramHello {
            dialect,
            client_nonce: nonce.into(),
            channel_binding: None,
        }
    }

    #[test]
    fn argon2_flavours_give_different_keys() {
        let limits = AuthLimits::default();
        let p = |kdf| KdfParams {
            kdf,
            iterations: 1,
            memory: Some(8),
        };
        let raw = salted_password(b"pw", b"saltsalt", &p(Kdf::Argon2id13), &limits).unwrap();
        let text =
            salted_password(b"pw", b"saltsalt", &p(Kdf::Argon2id13Autobahn), &limits).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(
            text.expose(),
            STANDARD_NO_PAD.encode(raw.expose()).as_bytes()
        );
        assert_eq!(text.len(), 43);
        // Argon2's salt minimum.
        assert_eq!(
            salted_password(b"pw", b"short", &p(Kdf::Argon2id13), &limits).unwrap_err(),
            AuthError::BadKdfParams {
                what: "salt",
                rule: "at least 8 bytes for Argon2"
            }
        );
    }

    #[test]
    fn crossbar_credential_round_trip_and_errors() {
        let limits = AuthLimits::default();
        let cred = ScramCredential::from_crossbar(
            "argon2id-13",
            4096,
            Some(512),
            &"ab".repeat(16),
            &"01".repeat(32),
            &"02".repeat(32),
            &limits,
        )
        .unwrap();
        let d = cred.to_crossbar();
        assert_eq!(d.get("kdf").unwrap().as_str(), Some("argon2id-13"));
        assert_eq!(d.get("memory").unwrap().as_u64(), Some(512));
        assert_eq!(d.get("iterations").unwrap().as_u64(), Some(4096));
        assert_eq!(
            d.get("salt").unwrap().as_str(),
            Some("ab".repeat(16).as_str())
        );
        assert_eq!(
            d.get("stored-key").unwrap().as_str(),
            Some("01".repeat(32).as_str())
        );
        assert_eq!(
            d.get("server-key").unwrap().as_str(),
            Some("02".repeat(32).as_str())
        );
        let shown = format!("{cred:?}");
        assert!(
            !shown.contains(&"01".repeat(32)) && !shown.contains(&"02".repeat(32)),
            "{shown}"
        );
        let k = "00".repeat(32);
        let s = "ab".repeat(16);
        for (kdf, it, mem, salt, stored, err) in [
            (
                "sha1",
                4096,
                None,
                s.as_str(),
                k.as_str(),
                AuthError::UnknownKdf,
            ),
            (
                "argon2id13",
                4096,
                None,
                &s,
                &k,
                AuthError::BadKdfParams {
                    what: "memory",
                    rule: "8 KiB to AuthLimits::max_argon2_memory_kib for Argon2",
                },
            ),
            (
                "argon2id13",
                0,
                Some(512),
                &s,
                &k,
                AuthError::BadKdfParams {
                    what: "iterations",
                    rule: "1 to AuthLimits::max_argon2_iterations for Argon2",
                },
            ),
            (
                "argon2id13",
                1 << 40,
                Some(512),
                &s,
                &k,
                AuthError::BadKdfParams {
                    what: "iterations",
                    rule: "at most 2^32 - 1",
                },
            ),
            (
                "argon2id13",
                4,
                Some(1 << 21),
                &s,
                &k,
                AuthError::BadKdfParams {
                    what: "memory",
                    rule: "8 KiB to AuthLimits::max_argon2_memory_kib for Argon2",
                },
            ),
            (
                "pbkdf2",
                0,
                None,
                &s,
                &k,
                AuthError::BadKdfParams {
                    what: "iterations",
                    rule: "1 to AuthLimits::max_pbkdf2_iterations for PBKDF2",
                },
            ),
            (
                "pbkdf2",
                4096,
                None,
                "",
                &k,
                AuthError::BadKdfParams {
                    what: "salt",
                    rule: "1 to 64 bytes",
                },
            ),
            (
                "pbkdf2",
                4096,
                None,
                "zz",
                &k,
                AuthError::BadHex { what: "salt" },
            ),
            (
                "pbkdf2",
                4096,
                None,
                &s,
                "00",
                AuthError::WrongLength {
                    what: "stored-key",
                    expected: 32,
                    got: 1,
                },
            ),
        ] {
            assert_eq!(
                ScramCredential::from_crossbar(kdf, it, mem, salt, stored, &k, &limits)
                    .unwrap_err(),
                err
            );
        }
        // PBKDF2 ignores a memory value (Crossbar configs may carry one).
        let c =
            ScramCredential::from_crossbar("pbkdf2", 4096, Some(512), &s, &k, &k, &limits).unwrap();
        assert_eq!(c.params().memory, None);
    }

    #[test]
    fn mock_credentials_are_stable_and_never_verify() {
        let limits = AuthLimits::default();
        let key = [5u8; 32];
        let params = KdfParams {
            kdf: Kdf::Argon2id13Autobahn,
            iterations: 4096,
            memory: Some(512),
        };
        let a1 = ScramCredential::mock("ghost", &key, params);
        let a2 = ScramCredential::mock("ghost", &key, params);
        let b = ScramCredential::mock("other", &key, params);
        assert_eq!(a1.salt(), a2.salt());
        assert_ne!(a1.salt(), b.salt());
        assert_eq!(a1.salt().len(), 16);
        let pending = PendingScram::with_server_nonce(
            &hello(ScramDialect::Autobahn, "clientnonce"),
            "ghost",
            a1,
            None,
            "srv",
            &limits,
        )
        .unwrap();
        let extra = pending.challenge_extra();
        assert_eq!(extra.get("memory").unwrap().as_u64(), Some(512));
        assert_eq!(
            pending.verify(&b64(&[0u8; 32]), &Dict::new(), &limits),
            Err(AuthError::BadSignature { method: "scram" })
        );
    }
}

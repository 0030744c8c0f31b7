//! The WAMP authentication methods as sans-IO protocol code: what goes into a CHALLENGE, how an
//! AUTHENTICATE is checked, what goes into WELCOME's `authextra`, and the key derivations behind
//! them. One file per method:
//!
//! - [`ticket`]: a shared ticket, compared in constant time;
//! - [`wampcra`]: WAMP-CRA (HMAC-SHA256 over a JSON challenge), plain and PBKDF2-salted secrets;
//! - [`scram`]: SCRAM-SHA-256 with Argon2id or PBKDF2, in the spec's dialect (`wamp-scram`) and in
//!   the older one Autobahn clients and Crossbar.io speak (`scram`);
//! - [`cryptosign`]: Ed25519 challenge signatures, with optional TLS channel binding and router
//!   authentication.
//!
//! What lives here: pure functions and small per-login state (`Pending*` values that remember
//! what the CHALLENGE said until the AUTHENTICATE arrives). What does not: router state, config
//! parsing, principal lookup, clocks and random sources (time and randomness are arguments, so
//! tests are deterministic), I/O. The routing core's `Authenticator` decides *whether* and *as
//! whom* a session may join; it calls into this module for the method-specific protocol and
//! cryptography. Nothing here imports from the routing core, transports or the runtime.
//!
//! Cost: most checks take well under ten microseconds (HMAC, SHA-256); one Ed25519
//! verification takes 0.04 to 0.13 ms. But the key derivations — [`scram::derive_credentials`],
//! [`scram::salted_password`], [`wampcra::derive_key`] and
//! [`wampcra::WampCraCredential::salted_crossbar_compatible`] — are slow *by design* (PBKDF2 with thousands of iterations, Argon2id with megabytes of memory).
//! They are marked "CPU-heavy" in their docs; the runtime must run them off the reactor (at
//! config load, or on a blocking pool). `docs/authentication.md` and `benches/auth.rs` give the
//! figures.
//!
//! Safety rules every method follows: every size that comes from the network is bounded by
//! [`AuthLimits`] and checked before any work; malformed hex or base64 and wrong lengths are
//! [`AuthError`]s, never panics; secrets are compared in constant time (crate `subtle`); key
//! material lives in [`SecretBytes`] (wiped on drop, `Debug` prints `<redacted>`), and no
//! `Debug` output of any type here shows a secret.

pub mod cryptosign;
pub mod mosquitto;
pub mod scram;
pub mod ticket;
pub mod wampcra;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::proto::value::{Dict, Value};

/// Size limits for everything a client sends during authentication. Checked before any
/// decoding or cryptography, so an oversized field costs nothing.
///
/// The defaults are generous for real clients and small enough that a flood of bad logins
/// stays cheap; the config layer may override each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthLimits {
    /// Longest `authid` in bytes (HELLO.Details.authid). Default 256.
    pub max_authid_len: usize,
    /// Longest ticket in bytes (AUTHENTICATE.Signature for `ticket`). Default 4,096.
    pub max_ticket_len: usize,
    /// Longest AUTHENTICATE.Signature for the other methods, before decoding. Their signatures
    /// have fixed sizes (44 base64 characters for wampcra and SCRAM, 128 or 192 hex digits for
    /// cryptosign); this bound only stops an oversized string before it is decoded. Default 512.
    pub max_signature_len: usize,
    /// Longest SCRAM client nonce in bytes (HELLO.Details.authextra.nonce). Default 256.
    pub max_nonce_len: usize,
    /// Shortest SCRAM client nonce in bytes. Default 8 (the spec recommends 16 random octets,
    /// 24 base64 characters; RFC 7677's example uses 20 characters).
    pub min_nonce_len: usize,
    /// Longest SCRAM channel-binding data in bytes after base64 decoding
    /// (AUTHENTICATE.Extra.cbind_data). Default 128.
    pub max_cbind_data_len: usize,
    /// Most PBKDF2 iterations accepted in a stored credential or a derivation (SCRAM and salted
    /// WAMP-CRA). Default 10,000,000.
    pub max_pbkdf2_iterations: u32,
    /// Most Argon2id passes (`iterations`) accepted. Default 65,536 (Autobahn's credential tool
    /// uses 4,096).
    pub max_argon2_iterations: u32,
    /// Most Argon2id memory in KiB (`memory`). Default 1,048,576 (1 GiB).
    pub max_argon2_memory_kib: u32,
    /// Longest derived WAMP-CRA key in bytes (`keylen`). Default 256.
    pub max_wampcra_keylen: u32,
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            max_authid_len: 256,
            max_ticket_len: 4096,
            max_signature_len: 512,
            max_nonce_len: 256,
            min_nonce_len: 8,
            max_cbind_data_len: 128,
            max_pbkdf2_iterations: 10_000_000,
            max_argon2_iterations: 65_536,
            max_argon2_memory_kib: 1 << 20,
            max_wampcra_keylen: 256,
        }
    }
}

/// Why an authentication step failed. The router turns any of these into an ABORT
/// (`wamp.error.authentication_failed` or `wamp.error.not_authorized`, the core's choice) whose
/// message is this error's `Display` text: it names the field and the rule, never a secret and
/// never the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required field is absent.
    #[error("{what} is missing")]
    Missing {
        /// The field, in words.
        what: &'static str,
    },
    /// A field has the wrong type (a number where a string belongs, ...).
    #[error("{what} must be {expected}")]
    WrongType {
        /// The field.
        what: &'static str,
        /// What it should be, in words.
        expected: &'static str,
    },
    /// A field is longer than its limit.
    #[error("{what} is {len} bytes long, over the limit of {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field is shorter than its minimum.
    #[error("{what} is {len} bytes long, under the minimum of {min}")]
    TooShort {
        /// The field.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A field that must be hex is not.
    #[error("{what} is not valid hex")]
    BadHex {
        /// The field.
        what: &'static str,
    },
    /// A field that must be base64 (standard alphabet, padded, canonical) is not.
    #[error("{what} is not valid base64")]
    BadBase64 {
        /// The field.
        what: &'static str,
    },
    /// A decoded field has the wrong size.
    #[error("{what} must be {expected} bytes, not {got}")]
    WrongLength {
        /// The field.
        what: &'static str,
        /// The size it must have.
        expected: usize,
        /// The size it has.
        got: usize,
    },
    /// A field holds a character its syntax forbids (a `,` in a SCRAM nonce, a control
    /// character, a string SASLprep rejects).
    #[error("{what} contains a character that is not allowed")]
    BadCharacter {
        /// The field.
        what: &'static str,
    },
    /// The signature, proof or ticket is wrong: the one outcome of a well-formed but failed
    /// login.
    #[error("{method} signature is invalid")]
    BadSignature {
        /// The authentication method.
        method: &'static str,
    },
    /// A value the client echoes does not match what the router sent or sees (the SCRAM nonce,
    /// the channel-binding type or data, the message a cryptosign signature covers).
    #[error("{what} does not match")]
    Mismatch {
        /// The field.
        what: &'static str,
    },
    /// The client asked for a channel-binding type this method does not support.
    #[error("channel binding type is not supported by {method}")]
    UnsupportedChannelBinding {
        /// The authentication method.
        method: &'static str,
    },
    /// The client asked for channel binding, but the transport has no channel id (plain TCP, or
    /// a TLS stack that does not expose one).
    #[error("channel binding requested, but the transport has no channel id for it")]
    NoChannelId,
    /// A public key is not a valid Ed25519 point (or is a weak, small-order one).
    #[error("{what} is not a valid Ed25519 public key")]
    BadPublicKey {
        /// The field.
        what: &'static str,
    },
    /// The public key the client announced is not one of the principal's authorized keys.
    #[error("the public key is not authorized for this principal")]
    UnknownPublicKey,
    /// A stored credential names a KDF this module does not know.
    #[error("unknown key derivation function (expected argon2id13, argon2id-13 or pbkdf2)")]
    UnknownKdf,
    /// A KDF parameter (stored or configured) is out of range.
    #[error("key derivation parameter {what} is out of range ({rule})")]
    BadKdfParams {
        /// The parameter.
        what: &'static str,
        /// The rule it breaks, in words.
        rule: &'static str,
    },
}

/// A TLS channel-binding type a client may ask for (`authextra.channel_binding`).
///
/// The transport computes the channel data; this module only names the types and combines the
/// data with the method's challenge. Which method accepts which type: cryptosign takes
/// `tls-unique` and `tls-exporter` (32-byte channel ids), SCRAM takes `tls-unique` and
/// `tls-server-end-point` (the spec's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelBinding {
    /// `tls-unique` (RFC 5929). Over TLS 1.3, Crossbar.io uses SHA-256 of the client's first
    /// Finished message as the 32-byte channel id.
    TlsUnique,
    /// `tls-exporter` (RFC 9266), the TLS 1.3 replacement of `tls-unique`.
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929): a hash of the server's certificate.
    TlsServerEndPoint,
}

impl ChannelBinding {
    /// Parses the name a client sends.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "tls-unique" => Some(ChannelBinding::TlsUnique),
            "tls-exporter" => Some(ChannelBinding::TlsExporter),
            "tls-server-end-point" => Some(ChannelBinding::TlsServerEndPoint),
            _ => None,
        }
    }

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ChannelBinding::TlsUnique => "tls-unique",
            ChannelBinding::TlsExporter => "tls-exporter",
            ChannelBinding::TlsServerEndPoint => "tls-server-end-point",
        }
    }
}

/// Key material: bytes wiped from memory on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Box<[u8]>);

impl SecretBytes {
    /// Wraps key material.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        SecretBytes(bytes.into())
    }

    /// The bytes themselves (to key an HMAC, ...).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

/// Checks an `authid` against [`AuthLimits::max_authid_len`]. Every method calls this on
/// HELLO; a router may call it before choosing a method.
///
/// # Errors
/// [`AuthError::TooLong`] over the limit.
pub fn check_authid(authid: &str, limits: &AuthLimits) -> Result<(), AuthError> {
    check_len("authid", authid, limits.max_authid_len)
}

/// `Err(TooLong)` when `s` is longer than `max` bytes.
pub(crate) fn check_len(what: &'static str, s: &str, max: usize) -> Result<(), AuthError> {
    if s.len() > max {
        return Err(AuthError::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

/// Decodes exactly `N` bytes of hex (either case).
pub(crate) fn decode_hex_array<const N: usize>(
    what: &'static str,
    s: &str,
) -> Result<[u8; N], AuthError> {
    if s.len() != 2 * N {
        if s.len() % 2 == 1 {
            return Err(AuthError::BadHex { what });
        }
        return Err(AuthError::WrongLength {
            what,
            expected: N,
            got: s.len() / 2,
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| AuthError::BadHex { what })?;
    Ok(out)
}

/// Decodes hex of any length up to `max` decoded bytes.
pub(crate) fn decode_hex_vec(
    what: &'static str,
    s: &str,
    max: usize,
) -> Result<Vec<u8>, AuthError> {
    if s.len() > 2 * max {
        return Err(AuthError::TooLong {
            what,
            len: s.len() / 2,
            max,
        });
    }
    hex::decode(s).map_err(|_| AuthError::BadHex { what })
}

/// Decodes canonical, padded, standard-alphabet base64 of exactly `N` bytes.
pub(crate) fn decode_b64_array<const N: usize>(
    what: &'static str,
    s: &str,
) -> Result<[u8; N], AuthError> {
    let expected_chars = N.div_ceil(3) * 4;
    if s.len() != expected_chars {
        // Either garbage or another size: decode (bounded by the length check) to tell which.
        if s.len() > 4 * expected_chars {
            return Err(AuthError::TooLong {
                what,
                len: s.len(),
                max: expected_chars,
            });
        }
        let decoded = BASE64
            .decode(s)
            .map_err(|_| AuthError::BadBase64 { what })?;
        return Err(AuthError::WrongLength {
            what,
            expected: N,
            got: decoded.len(),
        });
    }
    let mut out = [0u8; N];
    let mut buf = [0u8; 96];
    debug_assert!(N <= buf.len(), "decode_b64_array is for short keys");
    let n = BASE64
        .decode_slice(s, &mut buf[..])
        .map_err(|_| AuthError::BadBase64 { what })?;
    if n != N {
        return Err(AuthError::WrongLength {
            what,
            expected: N,
            got: n,
        });
    }
    out.copy_from_slice(&buf[..N]);
    buf.zeroize();
    Ok(out)
}

/// Decodes canonical base64 of at most `max` bytes.
pub(crate) fn decode_b64_vec(
    what: &'static str,
    s: &str,
    max: usize,
) -> Result<Vec<u8>, AuthError> {
    if s.len() > max.div_ceil(3) * 4 {
        return Err(AuthError::TooLong {
            what,
            len: s.len(),
            max: max.div_ceil(3) * 4,
        });
    }
    BASE64.decode(s).map_err(|_| AuthError::BadBase64 { what })
}

/// Standard padded base64.
pub(crate) fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// A string member of an optional dict: `Ok(None)` when the dict or the key is absent or the
/// value is `null`; `Err(WrongType)` for any other type.
pub(crate) fn opt_str<'a>(
    dict: Option<&'a Dict>,
    key: &str,
    what: &'static str,
) -> Result<Option<&'a str>, AuthError> {
    match dict.and_then(|d| d.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::WrongType {
            what,
            expected: "a string",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_arrays_check_length_and_digits() {
        assert_eq!(decode_hex_array::<2>("x", "0aFf").unwrap(), [0x0a, 0xff]);
        assert_eq!(
            decode_hex_array::<2>("x", "0a"),
            Err(AuthError::WrongLength {
                what: "x",
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            decode_hex_array::<2>("x", "0af"),
            Err(AuthError::BadHex { what: "x" })
        );
        assert_eq!(
            decode_hex_array::<2>("x", "0g00"),
            Err(AuthError::BadHex { what: "x" })
        );
        // Multi-byte UTF-8 of the right byte length is still not hex, and does not panic.
        assert_eq!(
            decode_hex_array::<2>("x", "é00"),
            Err(AuthError::BadHex { what: "x" })
        );
    }

    #[test]
    fn base64_arrays_are_strict() {
        let s = b64(&[7u8; 32]);
        assert_eq!(decode_b64_array::<32>("x", &s).unwrap(), [7u8; 32]);
        // 31 bytes: right alphabet, wrong size.
        assert_eq!(
            decode_b64_array::<32>("x", &b64(&[7u8; 31])),
            Err(AuthError::WrongLength {
                what: "x",
                expected: 32,
                got: 31
            })
        );
        // Unpadded, whitespace, URL-safe alphabet and non-canonical trailing bits are rejected.
        let unpadded = s.trim_end_matches('=');
        assert!(decode_b64_array::<32>("x", unpadded).is_err());
        assert_eq!(
            decode_b64_array::<32>("x", &format!(" {}", &s[1..])),
            Err(AuthError::BadBase64 { what: "x" })
        );
        let mut url = b64(&[0xfb; 32]);
        assert!(url.contains('+') || url.contains('/'));
        url = url.replace('+', "-").replace('/', "_");
        assert_eq!(
            decode_b64_array::<32>("x", &url),
            Err(AuthError::BadBase64 { what: "x" })
        );
        let mut noncanonical = s.clone();
        // 32 bytes end in "...=" with the last char carrying 2 unused bits; flip one of them.
        let last = noncanonical.len() - 2;
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let pos = ALPHABET
            .iter()
            .position(|&a| a == noncanonical.as_bytes()[last])
            .unwrap();
        assert_eq!(pos & 3, 0, "canonical: the two unused bits are zero");
        let flipped = ALPHABET[pos + 1] as char;
        noncanonical.replace_range(last..last + 1, &flipped.to_string());
        assert!(decode_b64_array::<32>("x", &noncanonical).is_err());
        // A huge string is refused before decoding.
        assert!(matches!(
            decode_b64_array::<32>("x", &"A".repeat(10_000)),
            Err(AuthError::TooLong { .. })
        ));
    }

    #[test]
    fn secrets_are_redacted() {
        let s = SecretBytes::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "SecretBytes(<redacted>)");
        assert_eq!(s.expose(), b"hunter2");
    }

    #[test]
    fn authid_limit() {
        let limits = AuthLimits {
            max_authid_len: 4,
            ..AuthLimits::default()
        };
        assert!(check_authid("abcd", &limits).is_ok());
        assert_eq!(
            check_authid("abcde", &limits),
            Err(AuthError::TooLong {
                what: "authid",
                len: 5,
                max: 4
            })
        );
    }
}

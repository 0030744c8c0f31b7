//! mosquitto's password file (`mosquitto_passwd`): `user:hash` lines whose
//! hashes a `ticket` login (an MQTT CONNECT's user name and password, or a
//! WAMP client's authid and ticket) is checked against, so that a gateway
//! that replaces mosquitto keeps its users' passwords without knowing them.
//!
//! The two hash forms mosquitto writes (its `password_mosq.c`):
//! - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 of the password
//!   with the salt, 64 octets (mosquitto 2's default, 101 iterations);
//! - `$6$<salt>$<hash>`: SHA-512 of the password followed by the salt
//!   (mosquitto 1.x, and `mosquitto_passwd -H sha512`).
//!
//! Salt and hash are standard base64. Comparison is in constant time.
//! Reading the file is the config layer's; this module only parses text.
//!
//! Cost: `$6$` one SHA-512; `$7$` `iterations` HMAC-SHA512 pairs (101:
//! tens of microseconds), which the login runs off the reactor.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// Iterations a `$7$` hash may ask for: the bound of WAMP's own PBKDF2
/// logins ([`super::AuthLimits::max_pbkdf2_iterations`]' default).
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// One user's hash from a mosquitto password file. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MosquittoHash {
    /// 0: `$6$` (one SHA-512 over password and salt); else the PBKDF2
    /// iterations of `$7$`.
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl fmt::Debug for MosquittoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MosquittoHash(<redacted>)")
    }
}

impl MosquittoHash {
    /// Parses a `$6$` or `$7$` hash.
    ///
    /// # Errors
    /// Why it is not one, for the config's error message (never the hash).
    pub fn parse(text: &str) -> Result<MosquittoHash, String> {
        let parts: Vec<&str> = text.split('$').collect();
        let (iterations, salt, hash) = match parts.as_slice() {
            ["", "6", salt, hash] => (0, *salt, *hash),
            ["", "7", iterations, salt, hash] => {
                let n: u32 = iterations
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_ITERATIONS).contains(n))
                    .ok_or_else(|| {
                        format!("a $7$ hash's iterations must be 1 to {MAX_ITERATIONS}")
                    })?;
                (n, *salt, *hash)
            }
            _ if !text.starts_with('$') => {
                return Err("the password is not hashed (hash the file with \
                            `mosquitto_passwd -U FILE`)"
                    .to_owned());
            }
            _ => {
                return Err("not a mosquitto hash ($6$SALT$HASH or \
                            $7$ITERATIONS$SALT$HASH)"
                    .to_owned());
            }
        };
        let decode = |what: &str, b64: &str| {
            STANDARD
                .decode(b64)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("the {what} is not base64"))
        };
        let salt = decode("salt", salt)?;
        let hash = decode("hash", hash)?;
        if hash.len() != 64 {
            return Err("the hash is not 64 octets (SHA-512)".to_owned());
        }
        Ok(MosquittoHash {
            iterations,
            salt,
            hash,
        })
    }

    /// Whether checking a password costs more than one hash (`$7$`): the
    /// login then runs it off the reactor.
    pub fn is_costly(&self) -> bool {
        self.iterations > 0
    }

    /// Whether `password` is the one this hash was made from (constant
    /// time in the comparison).
    pub fn verify(&self, password: &str) -> bool {
        let mut got = [0u8; 64];
        if self.iterations == 0 {
            let mut h = Sha512::new();
            h.update(password.as_bytes());
            h.update(&self.salt);
            got.copy_from_slice(&h.finalize());
        } else {
            pbkdf2::pbkdf2_hmac::<Sha512>(
                password.as_bytes(),
                &self.salt,
                self.iterations,
                &mut got,
            );
        }
        bool::from(got.as_slice().ct_eq(&self.hash))
    }

    /// A hash no password matches, as costly as mosquitto's default, for an
    /// unknown user name (so that its refusal takes as long as a wrong
    /// password's).
    pub fn decoy() -> MosquittoHash {
        MosquittoHash {
            iterations: 101,
            salt: vec![0x5a; 12],
            hash: vec![0; 64],
        }
    }
}

/// Parses a mosquitto password file: `user:hash` per line; empty lines and
/// lines starting with `#` are skipped (as mosquitto does).
///
/// # Errors
/// `(line number from 1, message)` for the first bad line: no `:`, an empty
/// user name, a user named twice, or a hash [`MosquittoHash::parse`] refuses.
pub fn parse_file(text: &str) -> Result<Vec<(String, MosquittoHash)>, (usize, String)> {
    let mut out: Vec<(String, MosquittoHash)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err((n, "not `user:hash`".to_owned()));
        };
        if user.is_empty() {
            return Err((n, "empty user name".to_owned()));
        }
        if out.iter().any(|(u, _)| u == user) {
            return Err((n, format!("user \"{user}\" is listed twice")));
        }
        let hash = MosquittoHash::parse(hash).map_err(|e| (n, format!("user \"{user}\": {e}")))?;
        out.push((user.to_owned(), hash));
    }
    Ok(out)
}

/// Written by `mosquitto_passwd` 2.0.11 (`-b`, and `-H sha512 -b` for
/// bob): alice "correct horse", bob "s3cret", carol "ünïcode pass".
#[cfg(test)]
pub(crate) const TEST_FILE: &str = "\
# written by mosquitto_passwd
alice:$7$101$wtl7na6TMbpsGx80$NUpQTBdNIkHbqZPX+Pv5JaJpanC4fXnb0FTUMO+9zUrw+j8ywkGSnc3meYw2WYqzo8w/5ryGdJ7hJn0BvhUC8Q==
bob:$6$lYo07V3xENLRFvIG$voStABkLVm/QB0TAYjnd225Qu7sWqQ52C8OyThX5zPJtxuTNlGDKN40Ve5NimNE0GViFbbVc3yegZRGURVkr1w==

carol:$7$101$xyQ/hiGwhoLdv7gh$LVCCywlY/buC+HIq3jE/pzf5WSfy0D3HW7ksOgdrryCH6aWQyIYOvLfbwdxR66kCI4k9Ds5smpP0C/zq/JpyEg==
";

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = TEST_FILE;

    #[test]
    fn hashes_written_by_mosquitto_passwd_verify() {
        let users = parse_file(FILE).expect("parses");
        let names: Vec<&str> = users.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        let pw = ["correct horse", "s3cret", "ünïcode pass"];
        for ((user, hash), good) in users.iter().zip(pw) {
            assert!(hash.verify(good), "{user}");
            assert!(!hash.verify("wrong"), "{user}");
            assert!(!hash.verify(""), "{user}");
        }
        assert!(users[0].1.is_costly() && !users[1].1.is_costly());
        assert!(!MosquittoHash::decoy().verify(""));
        assert_eq!(format!("{:?}", users[0].1), "MosquittoHash(<redacted>)");
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let cases = [
            ("a:$6$c2FsdA==$aGFzaA==\n", 1, "64 octets"),
            ("a:plain\n", 1, "mosquitto_passwd -U"),
            ("\nnocolon\n", 2, "user:hash"),
            (":$6$x$y\n", 1, "empty user name"),
            ("a:$5$x$y\n", 1, "not a mosquitto hash"),
            ("a:$7$0$c2FsdA==$aGFzaA==\n", 1, "iterations"),
            ("a:$7$99999999999$c2FsdA==$aGFzaA==\n", 1, "iterations"),
            ("a:$6$!!$aGFzaA==\n", 1, "salt is not base64"),
        ];
        for (text, line, what) in cases {
            match parse_file(text) {
                Err((n, msg)) => {
                    assert_eq!(n, line, "{text:?}");
                    assert!(msg.contains(what), "{text:?}: {msg}");
                }
                Ok(_) => panic!("{text:?} parsed"),
            }
        }
        let twice = format!("{}{}", FILE, FILE.lines().nth(1).unwrap_or_default());
        let (n, msg) = parse_file(&twice).expect_err("alice twice");
        assert_eq!(n, 6);
        assert!(msg.contains("listed twice"), "{msg}");
    }
}

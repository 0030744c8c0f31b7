//! Ticket authentication (`ticket`): the client sends a shared secret string as the
//! AUTHENTICATE signature.
//!
//! Flow: HELLO (authmethods contains `ticket`, authid) → CHALLENGE `ticket` with an empty extra
//! (as Crossbar.io sends it) → AUTHENTICATE with the ticket → WELCOME or ABORT.
//!
//! Here: the bounded length check every ticket goes through (also before a dynamic authenticator
//! sees it) and the constant-time comparison against a configured ticket. The configured ticket
//! is kept only as its SHA-256 digest: comparing two 32-byte digests in constant time hides both
//! the ticket's content and its length, and the plain ticket need not stay in memory.
//! Not here: principal lookup, roles, cookies (`cookie` logins are the transport's business).
//!
//! Cost: one SHA-256 over at most [`AuthLimits::max_ticket_len`] bytes; never CPU-heavy.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthError, AuthLimits, check_len};
use crate::proto::value::Dict;

/// The method name in HELLO.Details.authmethods and CHALLENGE.
pub const AUTHMETHOD: &str = "ticket";

/// A configured ticket, kept as its SHA-256 digest. `Debug` does not show it.
#[derive(Clone)]
pub struct TicketSecret {
    /// SHA-256 of the ticket's UTF-8 bytes.
    digest: [u8; 32],
}

impl TicketSecret {
    /// Remembers `ticket` (from the config, or from a dynamic authenticator's answer).
    pub fn new(ticket: &str) -> Self {
        TicketSecret {
            digest: Sha256::digest(ticket.as_bytes()).into(),
        }
    }
}

impl fmt::Debug for TicketSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketSecret(<redacted>)")
    }
}

/// The CHALLENGE extra for `ticket`: empty, as Crossbar.io and the spec have it.
pub fn challenge_extra() -> Dict {
    Dict::new()
}

/// Checks a presented ticket's length ([`AuthLimits::max_ticket_len`]) and hands it back, for
/// a dynamic authenticator that decides itself.
///
/// # Errors
/// [`AuthError::TooLong`] over the limit.
pub fn check_ticket<'a>(presented: &'a str, limits: &AuthLimits) -> Result<&'a str, AuthError> {
    check_len("ticket", presented, limits.max_ticket_len)?;
    Ok(presented)
}

/// Verifies a presented ticket against a configured one, in constant time.
///
/// # Errors
/// [`AuthError::TooLong`] over the limit (checked first: that only says the input exceeded a
/// public bound); [`AuthError::BadSignature`] when the tickets differ.
pub fn verify_ticket(
    presented: &str,
    expected: &TicketSecret,
    limits: &AuthLimits,
) -> Result<(), AuthError> {
    check_ticket(presented, limits)?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if bool::from(digest.ct_eq(&expected.digest)) {
        Ok(())
    } else {
        Err(AuthError::BadSignature { method: AUTHMETHOD })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_exactly_the_configured_ticket() {
        let limits = AuthLimits::default();
        let secret = TicketSecret::new("s3cr3t-ticket");
        assert_eq!(verify_ticket("s3cr3t-ticket", &secret, &limits), Ok(()));
        for wrong in ["s3cr3t-ticke", "s3cr3t-ticket ", "S3cr3t-ticket", ""] {
            assert_eq!(
                verify_ticket(wrong, &secret, &limits),
                Err(AuthError::BadSignature { method: "ticket" }),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn empty_configured_ticket_matches_only_empty() {
        let limits = AuthLimits::default();
        let secret = TicketSecret::new("");
        assert_eq!(verify_ticket("", &secret, &limits), Ok(()));
        assert!(verify_ticket("x", &secret, &limits).is_err());
    }

    #[test]
    fn oversized_ticket_is_refused_before_comparison() {
        let limits = AuthLimits {
            max_ticket_len: 8,
            ..AuthLimits::default()
        };
        let long = "123456789";
        let secret = TicketSecret::new(long);
        assert_eq!(
            verify_ticket(long, &secret, &limits),
            Err(AuthError::TooLong {
                what: "ticket",
                len: 9,
                max: 8
            })
        );
        assert_eq!(check_ticket("12345678", &limits), Ok("12345678"));
    }

    #[test]
    fn debug_hides_the_ticket() {
        let secret = TicketSecret::new("hunter2");
        let shown = format!("{secret:?}");
        assert_eq!(shown, "TicketSecret(<redacted>)");
        assert!(challenge_extra().is_empty());
    }

    proptest! {
        #[test]
        fn verify_is_string_equality(a in ".{0,64}", b in ".{0,64}") {
            let limits = AuthLimits::default();
            let secret = TicketSecret::new(&a);
            prop_assert_eq!(verify_ticket(&b, &secret, &limits).is_ok(), a == b);
            prop_assert!(verify_ticket(&a, &secret, &limits).is_ok());
        }
    }
}

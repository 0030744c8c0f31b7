//! Authentication: the seam between a session's HELLO / AUTHENTICATE and
//! whatever decides who the client is.
//!
//! An [`Authenticator`] implements one WAMP authentication method for one
//! transport. On HELLO it answers with a [`Step`]: welcome with an
//! [`Identity`], send a CHALLENGE (and keep a [`Challenged`] state that
//! decides on AUTHENTICATE), deny, or decide later — either by handing the
//! core a job to run off the reactor ([`Step::Offload`]: key derivations
//! such as Argon2id must never run on a shard's thread) or by answering
//! through [`ShardRouter::resolve_authentication`] with the [`Ticket`] it was
//! given (a dynamic authenticator that calls a WAMP procedure does this).
//!
//! The transport's methods come from its `auth` config; a client that offers
//! several methods (`HELLO.Details.authmethods`) gets the first one, in the
//! client's order, that the transport allows. One file per method lives next
//! to this one (`anonymous.rs` today; the authentication issue adds ticket,
//! wampcra, scram, cryptosign, tls and cookie, each behind this trait).
//!
//! This module imports nothing of the transports or the runtime.
//!
//! [`ShardRouter::resolve_authentication`]: crate::core::ShardRouter::resolve_authentication

mod anonymous;

use std::rc::Rc;

use crate::config::TransportConfig;
use crate::core::api::LinkInfo;
use crate::proto::{Authenticate, Dict, SessionId};

pub use self::anonymous::Anonymous;

/// Identifies one authentication waiting for a decision on its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// What the authenticator knows when it decides on HELLO.
#[derive(Debug)]
pub struct HelloRequest<'a> {
    /// The realm asked for.
    pub realm: &'a str,
    /// `HELLO.Details` (authid, authextra, authmethods, roles).
    pub details: &'a Dict,
    /// The link's transport details (peer, TLS, HTTP request).
    pub link: &'a LinkInfo,
    /// The ID the session will get if it is welcomed (challenges may carry it).
    pub session: SessionId,
}

impl HelloRequest<'_> {
    /// `HELLO.Details.authid`, when the client gave one.
    pub fn authid(&self) -> Option<&str> {
        self.details.get("authid").and_then(|v| v.as_str())
    }
}

/// Who a client turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The authentication ID; `None` draws a random one (anonymous).
    pub authid: Option<String>,
    /// The role; it must exist on the realm.
    pub authrole: String,
    /// The method that authenticated it (`anonymous`, `ticket`, ...).
    pub authmethod: String,
    /// Who vouched for it (`static`, `dynamic`, `cookie`, ...).
    pub authprovider: String,
    /// `WELCOME.Details.authextra`, if any.
    pub authextra: Option<Dict>,
}

/// An authenticator's answer.
pub enum Step {
    /// The client is in: WELCOME.
    Welcome(Identity),
    /// Send CHALLENGE with this method's `extra`; `next` decides on AUTHENTICATE.
    Challenge {
        /// `CHALLENGE.AuthMethod`.
        method: String,
        /// `CHALLENGE.Extra`.
        extra: Dict,
        /// What decides on the client's AUTHENTICATE.
        next: Box<dyn Challenged>,
    },
    /// The client is refused: ABORT with `reason` (a URI) and `message`.
    Deny {
        /// The ABORT reason URI.
        reason: String,
        /// A human-readable message (never a secret).
        message: String,
    },
    /// The decision comes later through
    /// [`ShardRouter::resolve_authentication`](crate::core::ShardRouter::resolve_authentication)
    /// with the ticket the authenticator was given.
    Pending,
    /// Run this off the reactor; its result is the decision.
    Offload(Box<dyn FnOnce() -> Step + Send>),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Welcome(i) => f.debug_tuple("Welcome").field(i).finish(),
            Step::Challenge { method, extra, .. } => f
                .debug_struct("Challenge")
                .field("method", method)
                .field("extra", extra)
                .finish(),
            Step::Deny { reason, message } => f
                .debug_struct("Deny")
                .field("reason", reason)
                .field("message", message)
                .finish(),
            Step::Pending => f.write_str("Pending"),
            Step::Offload(_) => f.write_str("Offload"),
        }
    }
}

impl Step {
    /// A denial with `reason` and `message`.
    pub fn deny(reason: &str, message: impl Into<String>) -> Step {
        Step::Deny {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// One authentication method on one transport.
pub trait Authenticator {
    /// The method's name in `HELLO.Details.authmethods` (`anonymous`, `ticket`, ...).
    fn method(&self) -> &str;

    /// Decides on HELLO. `ticket` names this authentication if the answer is
    /// [`Step::Pending`].
    fn hello(&self, req: &HelloRequest<'_>, ticket: Ticket) -> Step;
}

/// A method's state between CHALLENGE and AUTHENTICATE.
pub trait Challenged: Send {
    /// Decides on the client's AUTHENTICATE.
    fn authenticate(self: Box<Self>, auth: &Authenticate, ticket: Ticket) -> Step;
}

/// A job handed to the runtime to run off the reactor.
pub struct AuthJob {
    /// The authentication it decides.
    pub ticket: Ticket,
    /// The work; its result goes back through
    /// [`ShardRouter::resolve_authentication`](crate::core::ShardRouter::resolve_authentication).
    pub run: Box<dyn FnOnce() -> Step + Send>,
}

impl std::fmt::Debug for AuthJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthJob")
            .field("ticket", &self.ticket)
            .finish()
    }
}

/// The authenticators of one transport, in the config's order.
#[derive(Default, Clone)]
pub struct Methods {
    methods: Vec<Rc<dyn Authenticator>>,
}

impl Methods {
    /// The methods a transport's config allows.
    pub fn from_config(t: &TransportConfig) -> Methods {
        let mut methods: Vec<Rc<dyn Authenticator>> = Vec::new();
        if let Some(role) = &t.auth.anonymous_role {
            methods.push(Rc::new(Anonymous::new(role.clone())));
        }
        Methods { methods }
    }

    /// Adds a method; one with the same name is replaced.
    pub fn add(&mut self, a: Rc<dyn Authenticator>) {
        self.methods.retain(|m| m.method() != a.method());
        self.methods.push(a);
    }

    /// Whether the transport allows no method at all.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    /// The names, in config order.
    pub fn names(&self) -> Vec<&str> {
        self.methods.iter().map(|m| m.method()).collect()
    }

    /// The method for a client offering `offered` (in its order of
    /// preference); a client that offers nothing is treated as offering
    /// `anonymous` (the spec's default).
    pub fn select(&self, offered: Option<&[&str]>) -> Option<&dyn Authenticator> {
        let offered = offered.unwrap_or(&["anonymous"]);
        offered.iter().find_map(|name| {
            self.methods
                .iter()
                .find(|m| m.method() == *name)
                .map(|m| &**m)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    impl Authenticator for Named {
        fn method(&self) -> &str {
            self.0
        }

        fn hello(&self, _: &HelloRequest<'_>, _: Ticket) -> Step {
            Step::Pending
        }
    }

    #[test]
    fn the_clients_order_wins_among_allowed_methods() {
        let mut m = Methods::default();
        m.add(Rc::new(Named("ticket")));
        m.add(Rc::new(Named("anonymous")));
        m.add(Rc::new(Named("wampcra")));
        let pick = |o: Option<&[&str]>| m.select(o).map(|a| a.method().to_owned());
        assert_eq!(
            pick(Some(&["wampcra", "ticket"])).as_deref(),
            Some("wampcra")
        );
        assert_eq!(pick(Some(&["scram", "ticket"])).as_deref(), Some("ticket"));
        assert_eq!(pick(Some(&["scram"])), None);
        assert_eq!(
            pick(None).as_deref(),
            Some("anonymous"),
            "none offered: anonymous"
        );
        m.add(Rc::new(Named("ticket")));
        assert_eq!(
            m.names(),
            ["anonymous", "wampcra", "ticket"],
            "re-adding replaces"
        );
    }
}

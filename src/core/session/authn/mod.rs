//! Authentication: the seam between a session's HELLO / AUTHENTICATE and
//! whatever decides who the client is.
//!
//! An [`Authenticator`] implements one WAMP authentication method for one
//! transport. On HELLO it answers with a [`Step`]: welcome with an
//! [`Identity`], send a CHALLENGE (and keep a [`Challenged`] state that
//! decides on AUTHENTICATE), deny, or decide later — by handing the core a
//! job to run off the reactor ([`Step::Offload`]: key derivations and
//! signature checks over many keys must never run on a shard's thread), by
//! asking a WAMP procedure through the router's own session
//! ([`Step::Call`]: a dynamic authenticator), or by answering through
//! [`ShardRouter::resolve_authentication`] with the [`Ticket`] it was given.
//!
//! The transport's methods come from its `auth` config ([`Methods::from_config`]);
//! a client that offers several methods (`HELLO.Details.authmethods`) gets
//! the first one, in the client's order, that the transport allows. One file
//! per method: `anonymous.rs`, `ticket.rs`, `wampcra.rs`, `scram.rs`,
//! `cryptosign.rs`, each static (principals from the config) and dynamic
//! (`dynamic.rs`: the authenticator procedure and its answer). The protocol
//! and cryptography of each method live in [`crate::proto::auth`]; this
//! folder looks principals up, builds identities and chooses where work runs.
//! `tls.rs` reads the client certificate the TLS layer left in the link's
//! `TlsInfo`; `cookie.rs` the WebSocket service's tracking cookie
//! (`LinkInfo::cookie`), and is skipped when the cookie remembers no login.
//!
//! This module imports nothing of the transports or the runtime.
//!
//! [`ShardRouter::resolve_authentication`]: crate::core::ShardRouter::resolve_authentication

mod anonymous;
mod cookie;
mod cryptosign;
pub mod dynamic;
mod scram;
mod ticket;
mod tls;
mod wampcra;

use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::config::TransportConfig;
use crate::config::auth::{AuthConfig, AuthSettings};
use crate::core::api::LinkInfo;
use crate::proto::{Authenticate, Dict, Payload, SessionId, Value};

pub use self::anonymous::Anonymous;
pub use self::cookie::CookieMethod;
pub use self::cryptosign::Cryptosign;
pub use self::scram::Scram;
pub use self::ticket::TicketMethod;
pub use self::tls::{TlsMethod, certificate_authid};
pub use self::wampcra::WampCra;

/// Identifies one authentication waiting for a decision on its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// What the authenticator knows when it decides on HELLO.
#[derive(Debug)]
pub struct HelloRequest<'a> {
    /// The realm asked for; `None` when HELLO named none (`null`), leaving
    /// it to the login to assign one (see `hello.rs`).
    pub realm: Option<&'a str>,
    /// `HELLO.Details` (authid, authextra, authmethods, roles).
    pub details: &'a Dict,
    /// The link's transport details (peer, TLS, HTTP request).
    pub link: &'a LinkInfo,
    /// The ID the session will get if it is welcomed (challenges may carry it).
    pub session: SessionId,
    /// Wall-clock time, milliseconds since the Unix epoch (from the router's
    /// injected clock: WAMP-CRA challenges carry a timestamp).
    pub unix_ms: u64,
}

impl HelloRequest<'_> {
    /// `HELLO.Details.authid`, when the client gave one.
    pub fn authid(&self) -> Option<&str> {
        self.details.get("authid").and_then(|v| v.as_str())
    }

    /// `HELLO.Details.authextra`, when it is a dict.
    pub fn authextra(&self) -> Option<&Dict> {
        self.details.get("authextra").and_then(Value::as_dict)
    }

    /// `HELLO.Details.authrole` (the role the client asks for), if any.
    pub fn authrole(&self) -> Option<&str> {
        self.details.get("authrole").and_then(Value::as_str)
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
    /// Who vouched for it (`static`, `dynamic`, ...).
    pub authprovider: String,
    /// `WELCOME.Details.authextra`, if any.
    pub authextra: Option<Dict>,
    /// The realm the session joins instead of the one it asked for (a
    /// cryptosign principal's `realm`, a dynamic authenticator's `realm`);
    /// `None`: the one asked for.
    pub realm: Option<String>,
}

impl Identity {
    /// An identity on the realm asked for, without authextra.
    pub fn new(
        authid: Option<String>,
        authrole: impl Into<String>,
        authmethod: impl Into<String>,
        authprovider: impl Into<String>,
    ) -> Identity {
        Identity {
            authid,
            authrole: authrole.into(),
            authmethod: authmethod.into(),
            authprovider: authprovider.into(),
            authextra: None,
            realm: None,
        }
    }
}

/// What a procedure the router called answered.
pub type CallOutcome = Result<Payload, CallError>;

/// A call the router made on its own behalf failed: the ERROR's URI and
/// payload (no callee: `wamp.error.no_such_procedure`; no answer in time:
/// `wamp.error.timeout`; the callee left: `wamp.error.canceled`; or the
/// callee's own error).
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    /// The error URI.
    pub error: String,
    /// Its args and kwargs.
    pub payload: Payload,
}

/// A procedure call an authenticator asks the router to make for it (a
/// dynamic authenticator): the router calls `procedure` on `realm` from its
/// own session and hands the answer to `then`, whose [`Step`] decides.
pub struct AuthCall {
    /// The realm the procedure is registered on.
    pub realm: String,
    /// The procedure.
    pub procedure: String,
    /// Args and kwargs.
    pub payload: Payload,
    /// Milliseconds the dealer waits for the answer (0: no limit).
    pub timeout_ms: u64,
    /// Decides, given the answer.
    pub then: Box<dyn FnOnce(CallOutcome) -> Step + Send>,
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
    /// The client is refused: ABORT with `reason` (a URI) and `message`. A
    /// denial counts as a failed login for the per-address rate limit
    /// unless its reason says the request itself was unusable (no such
    /// realm or role, no method).
    Deny {
        /// The ABORT reason URI.
        reason: String,
        /// A human-readable message (never a secret).
        message: String,
    },
    /// The login could not be decided (a dynamic authenticator is missing,
    /// failed, timed out or answered nonsense): ABORT
    /// `wamp.error.authentication_failed` with `message`. Not the client's
    /// fault, so it does not count as a failed login.
    Unavailable {
        /// Why, for the client and the log.
        message: String,
    },
    /// The decision comes later through
    /// [`ShardRouter::resolve_authentication`](crate::core::ShardRouter::resolve_authentication)
    /// with the ticket the authenticator was given.
    Pending,
    /// Run this off the reactor; its result is the decision.
    Offload(Box<dyn FnOnce() -> Step + Send>),
    /// Call a procedure through the router's own session; the answer decides.
    Call(AuthCall),
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
            Step::Unavailable { message } => f
                .debug_struct("Unavailable")
                .field("message", message)
                .finish(),
            Step::Pending => f.write_str("Pending"),
            Step::Offload(_) => f.write_str("Offload"),
            Step::Call(c) => f
                .debug_struct("Call")
                .field("realm", &c.realm)
                .field("procedure", &c.procedure)
                .field("timeout_ms", &c.timeout_ms)
                .finish(),
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

    /// A failed login: ABORT `wamp.error.authentication_failed`.
    pub fn failed(message: impl Into<String>) -> Step {
        Step::deny(AUTHENTICATION_FAILED, message)
    }
}

/// ABORT reason of a failed login (wrong credentials, unknown principal).
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
/// ABORT reason when no principal could be assigned.
pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";

/// One authentication method on one transport.
pub trait Authenticator {
    /// The method's name in `HELLO.Details.authmethods` (`anonymous`, `ticket`, ...).
    fn method(&self) -> &str;

    /// Whether the method can be chosen for a client on `link` asking for
    /// `realm` (`None`: HELLO named none; cookie authentication: only when
    /// the cookie remembers a login); a method that does not apply is
    /// skipped as if not offered.
    fn applies(&self, _link: &LinkInfo, _realm: Option<&str>) -> bool {
        true
    }

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
    /// The methods a transport's `auth` config allows, each static or
    /// dynamic, with the router-wide `settings` (limits, the dynamic
    /// authenticator timeout). SCRAM answers to both its
    /// authmethods, `wamp-scram` (the spec) and `scram` (Autobahn, Crossbar).
    pub fn from_config(t: &TransportConfig, settings: &AuthSettings) -> Methods {
        let auth = &t.auth.methods;
        let mock_key = mock_key(auth);
        let mut methods: Vec<Rc<dyn Authenticator>> = Vec::new();
        if let Some(a) = &auth.anonymous {
            methods.push(Rc::new(Anonymous::from_config(a, settings)));
        }
        if let Some(a) = &auth.ticket {
            methods.push(Rc::new(TicketMethod::from_config(a, settings)));
        }
        if let Some(a) = &auth.wampcra {
            methods.push(Rc::new(WampCra::from_config(a, settings, &mock_key)));
        }
        if let Some(a) = &auth.scram {
            let (spec, autobahn) = Scram::from_config(a, settings, &mock_key);
            methods.push(Rc::new(spec));
            methods.push(Rc::new(autobahn));
        }
        if let Some(a) = &auth.cryptosign {
            methods.push(Rc::new(Cryptosign::from_config(a, settings)));
        }
        if let Some(a) = &auth.tls {
            methods.push(Rc::new(TlsMethod::from_config(a, settings)));
        }
        if auth.cookie {
            methods.push(Rc::new(CookieMethod));
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

    /// The method for a client on `link` asking for `realm` (`None`: HELLO
    /// named none) and offering
    /// `offered` (in its order of preference), skipping methods that do not
    /// apply ([`Authenticator::applies`]); a client that offers nothing is
    /// treated as offering `anonymous` (the spec's default).
    pub fn select(
        &self,
        offered: Option<&[&str]>,
        link: &LinkInfo,
        realm: Option<&str>,
    ) -> Option<&dyn Authenticator> {
        let offered = offered.unwrap_or(&["anonymous"]);
        offered.iter().find_map(|name| {
            self.methods
                .iter()
                .find(|m| m.method() == *name && m.applies(link, realm))
                .map(|m| &**m)
        })
    }
}

/// A key only this router knows, for stand-in challenges to unknown authids
/// (SCRAM salts, WAMP-CRA salts): stable across restarts as long as the
/// secrets in the config are (it is a hash over them), so the same unknown
/// authid always gets the same salt, as a real one does. A transport with no
/// secret at all gets a per-process random key.
fn mock_key(auth: &AuthConfig) -> [u8; 32] {
    use crate::config::auth::{ScramAuth, TicketAuth, WampCraAuth};
    let mut h = Sha256::new();
    h.update(b"junction mock key\0");
    let mut any = false;
    if let Some(TicketAuth::Static { principals, .. }) = &auth.ticket {
        for (id, p) in principals {
            h.update(id.as_bytes());
            h.update(p.ticket.expose());
            any = true;
        }
    }
    if let Some(WampCraAuth::Static { users }) = &auth.wampcra {
        for (id, u) in users {
            h.update(id.as_bytes());
            h.update(u.secret.expose());
            any = true;
        }
    }
    if let Some(ScramAuth::Static { principals }) = &auth.scram {
        for (id, p) in principals {
            h.update(id.as_bytes());
            h.update(p.stored_key.expose());
            h.update(p.server_key.expose());
            any = true;
        }
    }
    if !any {
        static RANDOM: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
        h.update(RANDOM.get_or_init(|| {
            let mut k = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut k);
            k
        }));
    }
    h.finalize().into()
}

/// The details a dynamic authenticator gets about the link: `type`, `peer`,
/// `transport_id`, `is_secure`, and the HTTP headers of the WebSocket
/// upgrade when there was one.
pub(crate) fn transport_details(link: &LinkInfo) -> Dict {
    let mut d = Dict::new()
        .with("type", link.kind.as_str())
        .with("peer", link.peer.to_string())
        .with("transport_id", link.transport.id.as_str())
        .with("is_secure", link.tls().is_some());
    if let Some(http) = link.http() {
        let mut headers = Dict::new();
        for (name, value) in &http.headers {
            headers.insert(name.clone(), value.as_str());
        }
        d.insert("http_headers_received", headers);
        d.insert("http_path", http.path.as_str());
    }
    d
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
        let link = LinkInfo::new(
            Rc::new(TransportConfig::new(
                "t".into(),
                crate::config::TransportKind::RawSocket(Default::default()),
                crate::config::Endpoint::Tcp {
                    host: "127.0.0.1".into(),
                    port: 0,
                },
            )),
            crate::core::api::FrontEnd::RawSocket,
            "tcp4:127.0.0.1:1",
        );
        let pick =
            |o: Option<&[&str]>| m.select(o, &link, Some("r")).map(|a| a.method().to_owned());
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

    #[test]
    fn the_mock_key_follows_the_configured_secrets() {
        use crate::config::auth::{Secret, TicketAuth, TicketPrincipal};
        let with = |ticket: &str| AuthConfig {
            ticket: Some(TicketAuth::Static {
                principals: [(
                    "joe".to_owned(),
                    TicketPrincipal {
                        ticket: Secret::new(ticket),
                        role: None,
                    },
                )]
                .into(),
                password_file: None,
            }),
            ..AuthConfig::none()
        };
        assert_eq!(mock_key(&with("a")), mock_key(&with("a")), "stable");
        assert_ne!(mock_key(&with("a")), mock_key(&with("b")));
        assert_eq!(
            mock_key(&AuthConfig::none()),
            mock_key(&AuthConfig::default()),
            "no secret: one random key per process"
        );
    }
}

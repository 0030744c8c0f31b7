//! `ticket`: the client sends a shared secret in AUTHENTICATE.
//!
//! Static: `principals` map authids to a ticket (kept as its SHA-256,
//! compared in constant time: `proto::auth::ticket`) and a role. Every
//! HELLO with an authid gets a CHALLENGE, known or not, and a wrong ticket
//! and an unknown authid fail alike at AUTHENTICATE (Crossbar denies an
//! unknown authid at HELLO, which tells a prober which users exist).
//!
//! Dynamic: the CHALLENGE goes out at once; the ticket (length-checked) is
//! handed to the authenticator in `details.ticket` with the HELLO's details,
//! and its answer decides (Crossbar's flow).

use std::rc::Rc;

use ahash::AHashMap;

use super::dynamic::{self, Dynamic};
use super::{Authenticator, Challenged, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AuthSettings, TicketAuth};
use crate::core::uris;
use crate::proto::auth::ticket::{TicketSecret, check_ticket, verify_ticket};
use crate::proto::auth::{AuthError, AuthLimits};
use crate::proto::{Authenticate, Dict};

/// The method name.
const METHOD: &str = "ticket";

/// What a wrong ticket and an unknown authid both get.
const BAD_TICKET: &str = "ticket authentication failed: unknown authid or wrong ticket";

/// Ticket authentication.
#[derive(Debug, Clone)]
pub struct TicketMethod {
    kind: Kind,
    limits: AuthLimits,
}

#[derive(Debug, Clone)]
enum Kind {
    /// authid → (ticket digest, role).
    Static(Rc<AHashMap<String, (TicketSecret, Option<String>)>>),
    Dynamic(Dynamic),
}

impl TicketMethod {
    /// From a transport's `auth.ticket`.
    pub fn from_config(a: &TicketAuth, settings: &AuthSettings) -> TicketMethod {
        let kind = match a {
            TicketAuth::Static { principals } => Kind::Static(Rc::new(
                principals
                    .iter()
                    .map(|(id, p)| {
                        let ticket = String::from_utf8_lossy(p.ticket.expose());
                        (id.clone(), (TicketSecret::new(&ticket), p.role.clone()))
                    })
                    .collect(),
            )),
            TicketAuth::Dynamic(d) => Kind::Dynamic(Dynamic::from_config(d, settings)),
        };
        TicketMethod {
            kind,
            limits: settings.limits.clone(),
        }
    }
}

impl Authenticator for TicketMethod {
    fn method(&self) -> &str {
        METHOD
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        let next: Box<dyn Challenged> = match &self.kind {
            Kind::Static(principals) => {
                let Some(authid) = req.authid() else {
                    return Step::failed(
                        "ticket authentication needs an authid (HELLO.Details.authid)",
                    );
                };
                Box::new(StaticState {
                    authid: authid.to_owned(),
                    expected: principals.get(authid).cloned(),
                    limits: self.limits.clone(),
                })
            }
            Kind::Dynamic(d) => Box::new(DynamicState {
                dynamic: d.clone(),
                realm: req.realm.map(str::to_owned),
                authid: req.authid().map(str::to_owned),
                details: Dynamic::details(req, METHOD),
                limits: self.limits.clone(),
            }),
        };
        Step::Challenge {
            method: METHOD.to_owned(),
            extra: crate::proto::auth::ticket::challenge_extra(),
            next,
        }
    }
}

/// A static login waiting for the ticket.
struct StaticState {
    authid: String,
    /// The principal's ticket and role; `None`: no such authid.
    expected: Option<(TicketSecret, Option<String>)>,
    limits: AuthLimits,
}

impl Challenged for StaticState {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        // An unknown authid costs the same hash and comparison as a known one.
        let unknown = TicketSecret::new("\0junction: no such principal\0");
        let (secret, role) = match &self.expected {
            Some((s, r)) => (s, r.as_deref()),
            None => (&unknown, None),
        };
        match verify_ticket(&auth.signature, secret, &self.limits) {
            Ok(()) if self.expected.is_some() => match role {
                Some(role) => {
                    Step::Welcome(Identity::new(Some(self.authid), role, METHOD, "static"))
                }
                None => Step::deny(
                    uris::NO_SUCH_ROLE,
                    format!("principal '{}' has no role configured", self.authid),
                ),
            },
            Ok(()) | Err(AuthError::BadSignature { .. }) => Step::failed(BAD_TICKET),
            Err(e) => Step::failed(format!("ticket authentication failed: {e}")),
        }
    }
}

/// A dynamic login waiting for the ticket.
struct DynamicState {
    dynamic: Dynamic,
    /// The realm asked for (`None`: HELLO named none).
    realm: Option<String>,
    authid: Option<String>,
    details: Dict,
    limits: AuthLimits,
}

impl Challenged for DynamicState {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        let ticket = match check_ticket(&auth.signature, &self.limits) {
            Ok(t) => t,
            Err(e) => return Step::failed(format!("ticket authentication failed: {e}")),
        };
        let details = self.details.with("ticket", ticket);
        self.dynamic.ask(
            self.realm.as_deref(),
            self.authid.as_deref(),
            details,
            |p| match dynamic::identity(p, METHOD) {
                Ok(id) => Step::Welcome(id),
                Err(step) => *step,
            },
        )
    }
}

//! `ticket`: the client sends a shared secret in AUTHENTICATE.
//!
//! Static: `principals` map authids to a ticket (kept as its SHA-256,
//! compared in constant time: `proto::auth::ticket`) and a role; the users
//! of a mosquitto password file (`junction.password_file`) to their hash
//! (`proto::auth::mosquitto`, PBKDF2 checked off the reactor) and the file's
//! role. Every HELLO with an authid gets a CHALLENGE, known or not, and a
//! wrong ticket and an unknown authid fail alike at AUTHENTICATE (Crossbar
//! denies an unknown authid at HELLO, which tells a prober which users
//! exist); with a password file, an unknown authid is checked against a
//! decoy hash as costly as mosquitto's default.
//!
//! Dynamic: the CHALLENGE goes out at once; the ticket (length-checked) is
//! handed to the authenticator in `details.ticket` with the HELLO's details,
//! and its answer decides (Crossbar's flow).

use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap;

use super::dynamic::{self, Dynamic};
use super::{Authenticator, Challenged, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AuthSettings, TicketAuth};
use crate::core::uris;
use crate::proto::auth::mosquitto::MosquittoHash;
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
    /// authid → (what the ticket is checked against, role); whether a
    /// password file is among them (an unknown authid then costs a decoy
    /// PBKDF2).
    Static(Rc<AHashMap<String, (Expected, Option<String>)>>, bool),
    Dynamic(Dynamic),
}

/// What a static principal's ticket is checked against.
#[derive(Debug, Clone)]
enum Expected {
    /// A `principals` entry's ticket, as its digest.
    Ticket(TicketSecret),
    /// A password file's hash.
    Hash(Arc<MosquittoHash>),
}

impl TicketMethod {
    /// From a transport's `auth.ticket`.
    pub fn from_config(a: &TicketAuth, settings: &AuthSettings) -> TicketMethod {
        let kind = match a {
            TicketAuth::Static {
                principals,
                password_file,
            } => {
                let mut map: AHashMap<String, (Expected, Option<String>)> = principals
                    .iter()
                    .map(|(id, p)| {
                        let ticket = String::from_utf8_lossy(p.ticket.expose());
                        let expected = Expected::Ticket(TicketSecret::new(&ticket));
                        (id.clone(), (expected, p.role.clone()))
                    })
                    .collect();
                if let Some(f) = password_file {
                    for (user, hash) in &f.users {
                        let expected = Expected::Hash(Arc::new(hash.clone()));
                        map.insert(user.clone(), (expected, Some(f.role.clone())));
                    }
                }
                Kind::Static(Rc::new(map), password_file.is_some())
            }
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
            Kind::Static(principals, file) => {
                let Some(authid) = req.authid() else {
                    return Step::failed(
                        "ticket authentication needs an authid (HELLO.Details.authid)",
                    );
                };
                Box::new(StaticState {
                    authid: authid.to_owned(),
                    expected: principals.get(authid).cloned(),
                    decoy: *file,
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
    expected: Option<(Expected, Option<String>)>,
    /// An unknown authid is checked against [`MosquittoHash::decoy`] (the
    /// transport has a password file).
    decoy: bool,
    limits: AuthLimits,
}

impl Challenged for StaticState {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        let StaticState {
            authid,
            expected,
            decoy,
            limits,
        } = *self;
        let known = expected.is_some();
        let (expected, role) = match expected {
            Some((e, r)) => (e, r),
            // An unknown authid costs the same as a known one.
            None if decoy => (Expected::Hash(Arc::new(MosquittoHash::decoy())), None),
            None => (
                Expected::Ticket(TicketSecret::new("\0junction: no such principal\0")),
                None,
            ),
        };
        let decide = move |checked: Result<(), AuthError>| match checked {
            Ok(()) if known => match role {
                Some(role) => Step::Welcome(Identity::new(Some(authid), &role, METHOD, "static")),
                None => Step::deny(
                    uris::NO_SUCH_ROLE,
                    format!("principal '{authid}' has no role configured"),
                ),
            },
            Ok(()) | Err(AuthError::BadSignature { .. }) => Step::failed(BAD_TICKET),
            Err(e) => Step::failed(format!("ticket authentication failed: {e}")),
        };
        match expected {
            Expected::Ticket(secret) => decide(verify_ticket(&auth.signature, &secret, &limits)),
            Expected::Hash(hash) => {
                if let Err(e) = check_ticket(&auth.signature, &limits) {
                    return decide(Err(e));
                }
                let password = auth.signature.clone();
                let costly = hash.is_costly();
                let check = move || {
                    if hash.verify(&password) {
                        Ok(())
                    } else {
                        Err(AuthError::BadSignature { method: METHOD })
                    }
                };
                if costly {
                    Step::Offload(Box::new(move || decide(check())))
                } else {
                    decide(check())
                }
            }
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

//! `anonymous`: static — every client gets the configured role and authid
//! (a random one when none is configured); dynamic — the authenticator is
//! called with the HELLO's details (no credentials) and assigns the role,
//! authid, realm and authextra.

use super::dynamic::Dynamic;
use super::{Authenticator, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AnonymousAuth, AuthSettings};

/// The method name.
const METHOD: &str = "anonymous";

/// Anonymous authentication.
#[derive(Debug, Clone)]
pub struct Anonymous {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Static {
        role: String,
        authid: Option<String>,
    },
    Dynamic(Dynamic),
}

impl Anonymous {
    /// Anonymous sessions get `role` and a random authid.
    pub fn new(role: String) -> Anonymous {
        Anonymous {
            kind: Kind::Static { role, authid: None },
        }
    }

    /// From a transport's `auth.anonymous`.
    pub fn from_config(a: &AnonymousAuth, settings: &AuthSettings) -> Anonymous {
        let kind = match a {
            AnonymousAuth::Static { role, authid } => Kind::Static {
                role: role.clone(),
                authid: authid.clone(),
            },
            AnonymousAuth::Dynamic(d) => Kind::Dynamic(Dynamic::from_config(d, settings)),
        };
        Anonymous { kind }
    }
}

impl Authenticator for Anonymous {
    fn method(&self) -> &str {
        METHOD
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        match &self.kind {
            Kind::Static { role, authid } => Step::Welcome(Identity::new(
                authid.clone(),
                role.as_str(),
                METHOD,
                "static",
            )),
            Kind::Dynamic(d) => {
                let details = Dynamic::details(req, METHOD);
                // The client's own authid is not taken (it proved nothing;
                // the authenticator sees it in `details`): without one
                // assigned, the session gets a random one.
                d.ask(req.realm, None, details, |p| {
                    Step::Welcome(Identity {
                        authid: p.authid,
                        authrole: p.role,
                        authmethod: METHOD.to_owned(),
                        authprovider: "dynamic".to_owned(),
                        authextra: p.extra,
                        realm: p.realm,
                    })
                })
            }
        }
    }
}

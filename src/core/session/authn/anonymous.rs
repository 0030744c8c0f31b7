//! `anonymous`: every client gets the transport's configured role and a
//! random authid (the router draws it when the identity has none).

use super::{Authenticator, HelloRequest, Identity, Step, Ticket};

/// Anonymous authentication with a fixed role.
#[derive(Debug, Clone)]
pub struct Anonymous {
    role: String,
}

impl Anonymous {
    /// Anonymous sessions get `role`.
    pub fn new(role: String) -> Anonymous {
        Anonymous { role }
    }
}

impl Authenticator for Anonymous {
    fn method(&self) -> &str {
        "anonymous"
    }

    fn hello(&self, _req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        Step::Welcome(Identity {
            authid: None,
            authrole: self.role.clone(),
            authmethod: "anonymous".into(),
            authprovider: "static".into(),
            authextra: None,
        })
    }
}

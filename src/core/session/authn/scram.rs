//! `scram` and `wamp-scram`: SCRAM-SHA-256 with Argon2id or PBKDF2, in
//! Autobahn's and Crossbar's dialect (`scram`) and the spec's
//! (`wamp-scram`); the protocol is `proto::auth::scram`. One [`Scram`] per
//! dialect, both built from the same `auth.scram` config; the HELLO's
//! authmethod picks the dialect.
//!
//! The router keeps only the salted keys (`stored-key`, `server-key`, salt,
//! KDF parameters); a login never runs a KDF. An unknown authid gets a mock
//! credential (stable per-authid salt, the KDF parameters real principals
//! have) that never verifies, so the CHALLENGE does not tell which users
//! exist (Crossbar denies an unknown authid at HELLO).
//!
//! Dynamic: the authenticator is called at HELLO and answers the
//! principal's credential in Crossbar's form (`kdf`, `iterations`, `memory`,
//! hex `salt`, `stored-key`, `server-key`) with its `role`.
//!
//! Channel binding (`tls-unique`, spec dialect) uses the link's TLS channel
//! id; over plain TCP a client asking for it is refused.

use std::rc::Rc;

use ahash::AHashMap;

use super::dynamic::{self, Dynamic};
use super::{Authenticator, Challenged, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AuthSettings, ScramAuth, ScramKdf};
use crate::core::api::LinkInfo;
use crate::core::uris;
use crate::proto::auth::scram::{
    Kdf, KdfParams, PendingScram, ScramCredential, ScramDialect, ScramHello, parse_hello,
};
use crate::proto::auth::{AuthError, AuthLimits, ChannelBinding};
use crate::proto::{Authenticate, Dict};

/// What a wrong proof and an unknown authid both get.
const BAD_PROOF: &str = "scram authentication failed: unknown authid or wrong proof";

/// SCRAM authentication in one dialect.
#[derive(Debug, Clone)]
pub struct Scram {
    dialect: ScramDialect,
    kind: Kind,
    limits: AuthLimits,
}

#[derive(Debug, Clone)]
enum Kind {
    Static {
        /// authid → (credential, role).
        principals: Rc<AHashMap<String, (ScramCredential, Option<String>)>>,
        /// Makes mock credentials for unknown authids.
        mock_key: [u8; 32],
        /// The KDF parameters mock credentials get.
        mock_params: KdfParams,
    },
    Dynamic(Dynamic),
}

impl Scram {
    /// The spec's (`wamp-scram`) and Autobahn's (`scram`) method from a
    /// transport's `auth.scram`; `mock_key` makes unknown authids' salts.
    pub fn from_config(
        a: &ScramAuth,
        settings: &AuthSettings,
        mock_key: &[u8; 32],
    ) -> (Scram, Scram) {
        let limits = settings.limits.clone();
        let kind = match a {
            ScramAuth::Dynamic(d) => Kind::Dynamic(Dynamic::from_config(d, settings)),
            ScramAuth::Static { principals } => {
                let mut table = AHashMap::new();
                for (authid, p) in principals {
                    let params = KdfParams {
                        kdf: match p.kdf {
                            ScramKdf::Argon2id13 => Kdf::Argon2id13Autobahn,
                            ScramKdf::Pbkdf2 => Kdf::Pbkdf2,
                        },
                        iterations: p.iterations,
                        memory: match p.kdf {
                            ScramKdf::Argon2id13 => Some(p.memory),
                            ScramKdf::Pbkdf2 => None,
                        },
                    };
                    let key = |s: &crate::config::auth::Secret| -> [u8; 32] {
                        s.expose().try_into().unwrap_or([0; 32])
                    };
                    match ScramCredential::new(
                        params,
                        p.salt.clone(),
                        key(&p.stored_key),
                        key(&p.server_key),
                        &limits,
                    ) {
                        Ok(c) => {
                            table.insert(authid.clone(), (c, p.role.clone()));
                        }
                        Err(e) => tracing::error!(
                            %authid,
                            error = %e,
                            "scram principal left out: its credential is over the limits"
                        ),
                    }
                }
                // Mock credentials look like the real ones: the first principal's
                // parameters, else Autobahn's credential tool's.
                let mock_params =
                    table
                        .values()
                        .next()
                        .map(|(c, _)| *c.params())
                        .unwrap_or(KdfParams {
                            kdf: Kdf::Argon2id13Autobahn,
                            iterations: 4096,
                            memory: Some(512),
                        });
                Kind::Static {
                    principals: Rc::new(table),
                    mock_key: *mock_key,
                    mock_params,
                }
            }
        };
        let spec = Scram {
            dialect: ScramDialect::Spec,
            kind: kind.clone(),
            limits: limits.clone(),
        };
        let autobahn = Scram {
            dialect: ScramDialect::Autobahn,
            kind,
            limits,
        };
        (spec, autobahn)
    }
}

/// The link's channel data for the binding type asked for (`tls-unique`:
/// the TLS channel id), if it has it.
fn channel_data(link: &LinkInfo, hello: &ScramHello) -> Option<Vec<u8>> {
    match hello.channel_binding {
        Some(ChannelBinding::TlsUnique) => link.tls()?.channel_id.map(|c| c.to_vec()),
        _ => None,
    }
}

impl Authenticator for Scram {
    fn method(&self) -> &str {
        self.dialect.authmethod()
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        let method = self.dialect.authmethod();
        let Some(authid) = req.authid() else {
            return Step::failed(format!(
                "{method} authentication needs an authid (HELLO.Details.authid)"
            ));
        };
        let hello = match parse_hello(self.dialect, req.authextra(), &self.limits) {
            Ok(h) => h,
            Err(e) => return Step::failed(format!("{method} authentication failed: {e}")),
        };
        let cdata = channel_data(req.link, &hello);
        match &self.kind {
            Kind::Static {
                principals,
                mock_key,
                mock_params,
            } => {
                let (cred, identity) = match principals.get(authid) {
                    Some((cred, role)) => (
                        cred.clone(),
                        Some((
                            role.clone(),
                            Identity::new(
                                Some(authid.to_owned()),
                                role.clone().unwrap_or_default(),
                                method,
                                "static",
                            ),
                        )),
                    ),
                    None => (ScramCredential::mock(authid, mock_key, *mock_params), None),
                };
                challenge(&hello, authid, cred, cdata, identity, &self.limits)
            }
            Kind::Dynamic(d) => {
                let details = Dynamic::details(req, method);
                let limits = self.limits.clone();
                let hello_authid = authid.to_owned();
                d.ask(req.realm, Some(authid), details, move |p| {
                    let cred = match credential(&p, &limits) {
                        Ok(c) => c,
                        Err(e) => {
                            return Step::Unavailable {
                                message: format!(
                                    "the dynamic authenticator's scram credential is unusable: {e}"
                                ),
                            };
                        }
                    };
                    let identity = match dynamic::identity(p, hello.dialect.authmethod()) {
                        Ok(id) => id,
                        Err(step) => return *step,
                    };
                    // The proof covers the authid the client sent in HELLO.
                    challenge(
                        &hello,
                        &hello_authid,
                        cred,
                        cdata,
                        Some((Some(identity.authrole.clone()), identity)),
                        &limits,
                    )
                })
            }
        }
    }
}

/// The principal's credential from a dynamic authenticator's answer.
fn credential(p: &dynamic::Principal, limits: &AuthLimits) -> Result<ScramCredential, AuthError> {
    let need = |what: &'static str| p.str(what).ok_or(AuthError::Missing { what });
    ScramCredential::from_crossbar(
        need("kdf")?,
        p.uint("iterations")
            .ok_or(AuthError::Missing { what: "iterations" })?,
        p.uint("memory"),
        need("salt")?,
        need("stored-key")?,
        need("server-key")?,
        limits,
    )
}

/// CHALLENGE for a login; `identity`: who it is on success (`None`: a mock).
fn challenge(
    hello: &ScramHello,
    authid: &str,
    cred: ScramCredential,
    cdata: Option<Vec<u8>>,
    identity: Option<(Option<String>, Identity)>,
    limits: &AuthLimits,
) -> Step {
    let method = hello.dialect.authmethod();
    let pending = match PendingScram::new(
        hello,
        authid,
        cred,
        cdata.as_deref(),
        limits,
        &mut rand::rng(),
    ) {
        Ok(p) => p,
        Err(e) => return Step::failed(format!("{method} authentication failed: {e}")),
    };
    Step::Challenge {
        method: method.to_owned(),
        extra: pending.challenge_extra(),
        next: Box::new(State {
            pending,
            identity,
            limits: limits.clone(),
        }),
    }
}

/// A login between CHALLENGE and AUTHENTICATE.
struct State {
    pending: PendingScram,
    identity: Option<(Option<String>, Identity)>,
    limits: AuthLimits,
}

impl Challenged for State {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        let verified = self
            .pending
            .verify(&auth.signature, &auth.extra, &self.limits);
        match (verified, self.identity) {
            (Ok(server), Some((Some(_), mut id))) => {
                let mut extra = id.authextra.take().unwrap_or_else(Dict::new);
                for (k, v) in server.iter() {
                    extra.insert(k.to_owned(), v.clone());
                }
                id.authextra = Some(extra);
                Step::Welcome(id)
            }
            (Ok(_), Some((None, id))) => Step::deny(
                uris::NO_SUCH_ROLE,
                format!(
                    "principal '{}' has no role configured",
                    id.authid.unwrap_or_default()
                ),
            ),
            (Ok(_), None) | (Err(AuthError::BadSignature { .. }), _) => Step::failed(BAD_PROOF),
            (Err(e), _) => Step::failed(format!("scram authentication failed: {e}")),
        }
    }
}

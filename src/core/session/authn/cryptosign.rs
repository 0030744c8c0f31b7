//! `cryptosign`: the client signs a random challenge with an Ed25519 key
//! the principal lists (the protocol: `proto::auth::cryptosign`).
//!
//! Static: `principals` map authids to `authorized_keys`, a `role` and an
//! optional `realm` (the realm the principal joins, whatever it asked
//! for). A client without an authid is identified by the `pubkey` it
//! announces (as in Crossbar; a key listed by two principals cannot
//! identify anyone). An unknown authid, or a key the principal does not
//! list, gets a challenge like any other that no signature answers, so the
//! CHALLENGE does not tell which principals exist (Crossbar denies them at
//! HELLO).
//!
//! Dynamic: the authenticator is called at HELLO with the HELLO's details
//! (the announced `pubkey` is in `details.authextra`) and answers the
//! principal's `pubkey` (or a list, `authorized_keys`), `role`, `authid`.
//!
//! Cost: one Ed25519 verification per key tried (40–130 µs). A client that
//! announces its key costs one, verified on the reactor; one that does not
//! costs one per listed key, and more than [`OFFLOAD_ABOVE_KEYS`] keys are
//! verified off the reactor.
//!
//! Channel binding `tls-unique` uses the link's TLS channel id; without TLS
//! a client asking for it is refused. Router authentication (signing the
//! client's challenge) needs a router key, which the config has no place
//! for yet: such a request is ignored and the client decides. Trustroots
//! and certificate chains are not supported (the config refuses them).

use std::rc::Rc;

use ahash::AHashMap;

use super::dynamic::{self, Dynamic};
use super::{Authenticator, Challenged, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AuthSettings, CryptosignAuth};
use crate::core::api::LinkInfo;
use crate::core::uris;
use crate::proto::auth::cryptosign::{
    AUTHMETHOD as METHOD, CryptosignHello, PendingCryptosign, PublicKey, parse_hello,
};
use crate::proto::auth::{AuthError, AuthLimits};
use crate::proto::{Authenticate, Value};

/// Keys tried on the reactor; a login that may try more is verified off it.
pub const OFFLOAD_ABOVE_KEYS: usize = 2;

/// What a wrong signature, an unknown key and an unknown authid all get.
const BAD_SIGNATURE: &str =
    "cryptosign authentication failed: unknown principal or key, or wrong signature";

/// Cryptosign authentication.
#[derive(Debug, Clone)]
pub struct Cryptosign {
    kind: Kind,
    limits: AuthLimits,
}

/// A static principal.
#[derive(Debug)]
struct Principal {
    keys: Vec<PublicKey>,
    role: Option<String>,
    realm: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Static {
        principals: Rc<AHashMap<String, Principal>>,
        /// Public key → the authids that list it.
        by_key: Rc<AHashMap<[u8; 32], Vec<String>>>,
    },
    Dynamic(Dynamic),
}

impl Cryptosign {
    /// From a transport's `auth.cryptosign`.
    pub fn from_config(a: &CryptosignAuth, settings: &AuthSettings) -> Cryptosign {
        let kind = match a {
            CryptosignAuth::Dynamic(d) => Kind::Dynamic(Dynamic::from_config(d, settings)),
            CryptosignAuth::Static { principals } => {
                let mut table = AHashMap::new();
                let mut by_key: AHashMap<[u8; 32], Vec<String>> = AHashMap::new();
                for (authid, p) in principals {
                    let mut keys = Vec::with_capacity(p.authorized_keys.len());
                    for k in &p.authorized_keys {
                        match PublicKey::from_hex("authorized_keys", &hex::encode(k)) {
                            Ok(key) if !keys.contains(&key) => {
                                by_key.entry(*k).or_default().push(authid.clone());
                                keys.push(key);
                            }
                            Ok(_) => {}
                            Err(e) => tracing::error!(
                                %authid,
                                error = %e,
                                "cryptosign key left out: not a usable Ed25519 public key"
                            ),
                        }
                    }
                    table.insert(
                        authid.clone(),
                        Principal {
                            keys,
                            role: p.role.clone(),
                            realm: p.realm.clone(),
                        },
                    );
                }
                Kind::Static {
                    principals: Rc::new(table),
                    by_key: Rc::new(by_key),
                }
            }
        };
        Cryptosign {
            kind,
            limits: settings.limits.clone(),
        }
    }
}

/// The link's 32-byte channel id, if it has one.
fn channel_id(link: &LinkInfo) -> Option<[u8; 32]> {
    link.tls()?.channel_id
}

impl Authenticator for Cryptosign {
    fn method(&self) -> &str {
        METHOD
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        let hello = match parse_hello(req.authextra()) {
            Ok(h) => h,
            Err(e) => return Step::failed(format!("cryptosign authentication failed: {e}")),
        };
        let cid = channel_id(req.link);
        match &self.kind {
            Kind::Static { principals, by_key } => {
                let authid = match (req.authid(), &hello.pubkey) {
                    (Some(a), _) => a.to_owned(),
                    (None, Some(pk)) => match by_key.get(&pk.to_bytes()).map(Vec::as_slice) {
                        Some([one]) => one.clone(),
                        Some(_) => {
                            return Step::failed(
                                "cryptosign authentication failed: several principals list this \
                                 public key; give an authid",
                            );
                        }
                        None => return Step::failed(BAD_SIGNATURE),
                    },
                    (None, None) => {
                        return Step::failed(
                            "cryptosign authentication needs an authid or authextra.pubkey",
                        );
                    }
                };
                let Some(p) = principals.get(&authid) else {
                    return decoy(&hello, cid.as_ref(), &self.limits);
                };
                let identity = Identity {
                    authid: Some(authid),
                    authrole: p.role.clone().unwrap_or_default(),
                    authmethod: METHOD.to_owned(),
                    authprovider: "static".to_owned(),
                    authextra: None,
                    realm: p.realm.clone(),
                };
                challenge(
                    &hello,
                    &p.keys,
                    cid.as_ref(),
                    p.role.is_some(),
                    identity,
                    &self.limits,
                )
            }
            Kind::Dynamic(d) => {
                if hello.channel_binding.is_some() && cid.is_none() {
                    return Step::failed(format!(
                        "cryptosign authentication failed: {}",
                        AuthError::NoChannelId
                    ));
                }
                let details = Dynamic::details(req, METHOD);
                let limits = self.limits.clone();
                d.ask(req.realm, req.authid(), details, move |p| {
                    let keys = match keys_of(&p) {
                        Ok(k) => k,
                        Err(message) => return Step::Unavailable { message },
                    };
                    let identity = match dynamic::identity(p, METHOD) {
                        Ok(id) => id,
                        Err(step) => return *step,
                    };
                    challenge(&hello, &keys, cid.as_ref(), true, identity, &limits)
                })
            }
        }
    }
}

/// The keys a dynamic authenticator answered: `pubkey` and/or `authorized_keys`.
fn keys_of(p: &dynamic::Principal) -> Result<Vec<PublicKey>, String> {
    let mut hexes: Vec<&str> = p.str("pubkey").into_iter().collect();
    if let Some(list) = p.answer.get("authorized_keys").and_then(Value::as_list) {
        hexes.extend(list.iter().filter_map(Value::as_str));
    }
    if hexes.is_empty() {
        return Err("the dynamic authenticator answered no cryptosign 'pubkey'".into());
    }
    hexes
        .into_iter()
        .map(|h| {
            PublicKey::from_hex("pubkey", h)
                .map_err(|e| format!("the dynamic authenticator's cryptosign key is unusable: {e}"))
        })
        .collect()
}

/// CHALLENGE for a principal with `keys`; `has_role`: whether it may log in.
fn challenge(
    hello: &CryptosignHello,
    keys: &[PublicKey],
    cid: Option<&[u8; 32]>,
    has_role: bool,
    identity: Identity,
    limits: &AuthLimits,
) -> Step {
    match PendingCryptosign::new(keys, hello, cid, None, &mut rand::rng()) {
        Ok(pending) => {
            let tried = if hello.pubkey.is_some() {
                1
            } else {
                keys.len()
            };
            Step::Challenge {
                method: METHOD.to_owned(),
                extra: pending.challenge_extra(),
                next: Box::new(State {
                    pending,
                    tried,
                    identity: Some((has_role, identity)),
                    limits: limits.clone(),
                }),
            }
        }
        Err(AuthError::UnknownPublicKey) => decoy(hello, cid, limits),
        Err(e) => Step::failed(format!("cryptosign authentication failed: {e}")),
    }
}

/// A challenge that no signature answers (unknown principal or key).
fn decoy(hello: &CryptosignHello, cid: Option<&[u8; 32]>, limits: &AuthLimits) -> Step {
    // A throwaway key: the challenge looks like any other.
    let mut seed = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let Ok(key) = PublicKey::from_hex("pubkey", &hex::encode(key.to_bytes())) else {
        return Step::failed(BAD_SIGNATURE);
    };
    let hello = CryptosignHello {
        pubkey: None,
        ..hello.clone()
    };
    match PendingCryptosign::new(&[key], &hello, cid, None, &mut rand::rng()) {
        Ok(pending) => Step::Challenge {
            method: METHOD.to_owned(),
            extra: pending.challenge_extra(),
            next: Box::new(State {
                pending,
                tried: 1,
                identity: None,
                limits: limits.clone(),
            }),
        },
        Err(e) => Step::failed(format!("cryptosign authentication failed: {e}")),
    }
}

/// A login between CHALLENGE and AUTHENTICATE.
struct State {
    /// The challenge and the keys a signature may verify under (a decoy's
    /// throwaway key: the same work, and nothing logs in).
    pending: PendingCryptosign,
    /// Keys a verification may try.
    tried: usize,
    /// (has a role, identity) on success; `None`: a decoy.
    identity: Option<(bool, Identity)>,
    limits: AuthLimits,
}

impl Challenged for State {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        let len = auth.signature.len();
        // 64 or 96 bytes in hex; anything else is refused before any work.
        if len != 128 && len != 192 {
            let e = if len > self.limits.max_signature_len {
                AuthError::TooLong {
                    what: "signature",
                    len,
                    max: self.limits.max_signature_len,
                }
            } else {
                AuthError::WrongLength {
                    what: "signature",
                    expected: 96,
                    got: len / 2,
                }
            };
            return Step::failed(format!("cryptosign authentication failed: {e}"));
        }
        let State {
            pending,
            tried,
            identity,
            limits,
        } = *self;
        let signature = auth.signature.clone();
        let decide = move || match (pending.verify(&signature, &limits), identity) {
            (Ok(_), Some((true, identity))) => Step::Welcome(identity),
            (Ok(_), Some((false, identity))) => Step::deny(
                uris::NO_SUCH_ROLE,
                format!(
                    "principal '{}' has no role configured",
                    identity.authid.unwrap_or_default()
                ),
            ),
            (Ok(_), None)
            | (Err(AuthError::BadSignature { .. } | AuthError::Mismatch { .. }), _) => {
                Step::failed(BAD_SIGNATURE)
            }
            (Err(e), _) => Step::failed(format!("cryptosign authentication failed: {e}")),
        };
        if tried > OFFLOAD_ABOVE_KEYS {
            Step::Offload(Box::new(decide))
        } else {
            decide()
        }
    }
}

//! `wampcra`: HMAC-SHA256 over a challenge, keyed with a shared secret,
//! plain or PBKDF2-salted (the protocol: `proto::auth::wampcra`).
//!
//! Static: `users` map authids to a secret and role, and for salted
//! secrets `salt`, `iterations`, `keylen`. A salted entry is read both ways
//! (`WampCraCredential::salted_crossbar_compatible`, see
//! docs/authentication.md): as the derived key (the spec) and as the
//! password Crossbar derives the key from. That reading runs PBKDF2, which
//! never runs on a reactor: the first AUTHENTICATE of a salted user derives
//! the key off the reactor ([`Step::Offload`]) and keeps it for later logins.
//!
//! An unknown authid gets a challenge like a real one (a salted one, with
//! a stable stand-in salt, when the transport has salted users) that no
//! signature answers, so the CHALLENGE does not tell which users exist.
//!
//! Dynamic: the authenticator is called at HELLO with the HELLO's details
//! and answers the user's `secret` (and `salt`, `iterations`, `keylen`) with
//! its `role`; then the challenge goes out as for a static user (salted:
//! the key is derived off the reactor at AUTHENTICATE, every time).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ahash::AHashMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::dynamic::{self, Dynamic};
use super::{Authenticator, Challenged, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AuthSettings, WampCraAuth};
use crate::core::uris;
use crate::proto::auth::wampcra::{
    AUTHMETHOD as METHOD, ChallengeInfo, PendingWampCra, SaltParams, WampCraCredential,
    challenge_string, new_nonce,
};
use crate::proto::auth::{AuthError, AuthLimits, decode_b64_array};
use crate::proto::{Authenticate, Dict};

/// What a wrong signature and an unknown authid both get.
const BAD_SIGNATURE: &str = "wampcra authentication failed: unknown authid or wrong signature";

/// WAMP-CRA authentication.
#[derive(Debug, Clone)]
pub struct WampCra {
    kind: Kind,
    limits: AuthLimits,
}

#[derive(Debug, Clone)]
enum Kind {
    Static {
        users: Arc<AHashMap<String, Arc<User>>>,
        /// What unknown authids are challenged as.
        decoy: Decoy,
    },
    Dynamic(Dynamic),
}

/// A static user.
#[derive(Debug)]
struct User {
    role: Option<String>,
    /// The configured secret (for salted users: what the key is derived from).
    secret: Secret,
    salt: Option<SaltParams>,
    /// The credential: set at load for plain secrets, on first use (off the
    /// reactor) for salted ones.
    cred: OnceLock<WampCraCredential>,
}

/// A secret's bytes, wiped on drop, never printed.
struct Secret(crate::proto::auth::SecretBytes);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    fn text(&self) -> String {
        String::from_utf8_lossy(self.0.expose()).into_owned()
    }
}

/// How an unknown authid is challenged.
#[derive(Debug, Clone)]
struct Decoy {
    /// The role shown in the challenge (the first user's).
    role: String,
    /// Salt parameters (iterations, keylen) when the transport has salted users.
    salted: Option<(u32, u32)>,
    /// Makes the stand-in salt of an authid.
    key: [u8; 32],
}

impl Decoy {
    fn salt(&self, authid: &str) -> Option<SaltParams> {
        let (iterations, keylen) = self.salted?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any size");
        mac.update(b"junction wampcra decoy salt\0");
        mac.update(authid.as_bytes());
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        Some(SaltParams {
            salt: hex::encode(&bytes[..12]),
            iterations,
            keylen,
        })
    }
}

impl WampCra {
    /// From a transport's `auth.wampcra`; `mock_key` makes unknown authids'
    /// stand-in salts.
    pub fn from_config(a: &WampCraAuth, settings: &AuthSettings, mock_key: &[u8; 32]) -> WampCra {
        let limits = settings.limits.clone();
        let kind = match a {
            WampCraAuth::Dynamic(d) => Kind::Dynamic(Dynamic::from_config(d, settings)),
            WampCraAuth::Static { users } => {
                let mut table = AHashMap::new();
                let mut salted = None;
                for (authid, u) in users {
                    let secret = Secret(crate::proto::auth::SecretBytes::new(
                        u.secret.expose().to_vec(),
                    ));
                    let cred = OnceLock::new();
                    let salt = match &u.salt {
                        None => {
                            let _ = cred.set(WampCraCredential::plain(&secret.text()));
                            None
                        }
                        Some(s) => {
                            let params = SaltParams {
                                salt: s.salt.clone(),
                                iterations: s.iterations,
                                keylen: s.keylen,
                            };
                            // Checks the parameters against the limits (no KDF runs).
                            if let Err(e) =
                                WampCraCredential::salted(&secret.text(), params.clone(), &limits)
                            {
                                tracing::error!(
                                    %authid,
                                    error = %e,
                                    "wampcra user left out: its salt parameters are over the limits"
                                );
                                continue;
                            }
                            salted.get_or_insert((s.iterations, s.keylen));
                            Some(params)
                        }
                    };
                    let user = User {
                        role: u.role.clone(),
                        secret,
                        salt,
                        cred,
                    };
                    table.insert(authid.clone(), Arc::new(user));
                }
                let role = users
                    .values()
                    .find_map(|u| u.role.clone())
                    .unwrap_or_else(|| "user".to_owned());
                Kind::Static {
                    users: Arc::new(table),
                    decoy: Decoy {
                        role,
                        salted,
                        key: *mock_key,
                    },
                }
            }
        };
        WampCra { kind, limits }
    }
}

/// The challenge of one login, before the signature(s) it accepts are known.
#[derive(Debug, Clone)]
struct Challenge {
    authid: String,
    role: String,
    provider: &'static str,
    session: u64,
    nonce: String,
    now: SystemTime,
    salt: Option<SaltParams>,
}

impl Challenge {
    fn new(authid: &str, role: &str, provider: &'static str, session: u64, unix_ms: u64) -> Self {
        Challenge {
            authid: authid.to_owned(),
            role: role.to_owned(),
            provider,
            session,
            nonce: new_nonce(&mut rand::rng()),
            now: UNIX_EPOCH + Duration::from_millis(unix_ms),
            salt: None,
        }
    }

    fn info(&self) -> ChallengeInfo<'_> {
        ChallengeInfo {
            authid: &self.authid,
            authrole: &self.role,
            authprovider: self.provider,
            session: self.session,
        }
    }

    /// The login's pending state for `cred`.
    fn pending(&self, cred: &WampCraCredential) -> PendingWampCra {
        PendingWampCra::with_nonce(&self.info(), cred, &self.nonce, self.now)
    }

    /// CHALLENGE.Extra (the same as `PendingWampCra::challenge_extra`).
    fn extra(&self) -> Dict {
        let mut extra = Dict::new().with(
            "challenge",
            challenge_string(&self.info(), &self.nonce, self.now),
        );
        if let Some(s) = &self.salt {
            extra.insert("salt", s.salt.as_str());
            extra.insert("iterations", u64::from(s.iterations));
            extra.insert("keylen", u64::from(s.keylen));
        }
        extra
    }
}

/// Where the accepted signatures come from.
enum Keys {
    /// Known now.
    Ready(WampCraCredential),
    /// A static salted user whose key is not derived yet.
    Cached(Arc<User>),
    /// A dynamic salted secret: derived at AUTHENTICATE.
    Derive(Secret, SaltParams),
    /// An unknown authid: nothing verifies.
    None,
}

/// A login between CHALLENGE and AUTHENTICATE.
struct State {
    challenge: Challenge,
    keys: Keys,
    /// The identity on success; `None` role: the principal has no role.
    identity: (Option<String>, Identity),
    limits: AuthLimits,
}

impl State {
    fn challenge_step(self) -> Step {
        let extra = self.challenge.extra();
        Step::Challenge {
            method: METHOD.to_owned(),
            extra,
            next: Box::new(self),
        }
    }
}

impl Authenticator for WampCra {
    fn method(&self) -> &str {
        METHOD
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        match &self.kind {
            Kind::Static { users, decoy } => {
                let Some(authid) = req.authid() else {
                    return Step::failed(
                        "wampcra authentication needs an authid (HELLO.Details.authid)",
                    );
                };
                let user = users.get(authid);
                let role = user
                    .and_then(|u| u.role.clone())
                    .unwrap_or_else(|| decoy.role.clone());
                let mut challenge =
                    Challenge::new(authid, &role, "static", req.session.0, req.unix_ms);
                let keys = match user {
                    None => {
                        challenge.salt = decoy.salt(authid);
                        Keys::None
                    }
                    Some(u) => {
                        challenge.salt = u.salt.clone();
                        match u.cred.get() {
                            Some(c) => Keys::Ready(c.clone()),
                            None => Keys::Cached(Arc::clone(u)),
                        }
                    }
                };
                let role = user.and_then(|u| u.role.clone());
                State {
                    identity: (
                        role.clone(),
                        Identity::new(
                            Some(authid.to_owned()),
                            role.unwrap_or_default(),
                            METHOD,
                            "static",
                        ),
                    ),
                    challenge,
                    keys,
                    limits: self.limits.clone(),
                }
                .challenge_step()
            }
            Kind::Dynamic(d) => {
                let details = Dynamic::details(req, METHOD);
                let (session, unix_ms) = (req.session.0, req.unix_ms);
                let limits = self.limits.clone();
                d.ask(req.realm, req.authid(), details, move |p| {
                    dynamic_challenge(p, session, unix_ms, limits)
                })
            }
        }
    }
}

/// The CHALLENGE for a user the dynamic authenticator described.
fn dynamic_challenge(
    p: dynamic::Principal,
    session: u64,
    unix_ms: u64,
    limits: AuthLimits,
) -> Step {
    let Some(secret) = p.str("secret").map(str::to_owned) else {
        return Step::Unavailable {
            message: "the dynamic authenticator answered no wampcra 'secret'".into(),
        };
    };
    let salt = match (p.str("salt"), p.uint("iterations"), p.uint("keylen")) {
        (None, None, None) => None,
        (Some(salt), Some(i), Some(k)) => Some(SaltParams {
            salt: salt.to_owned(),
            iterations: u32::try_from(i).unwrap_or(u32::MAX),
            keylen: u32::try_from(k).unwrap_or(u32::MAX),
        }),
        _ => {
            return Step::Unavailable {
                message: "the dynamic authenticator answered a wampcra salt without all of \
                          'salt', 'iterations' and 'keylen'"
                    .into(),
            };
        }
    };
    let identity = match dynamic::identity(p, METHOD) {
        Ok(id) => id,
        Err(step) => return *step,
    };
    let authid = identity.authid.clone().unwrap_or_default();
    let mut challenge = Challenge::new(&authid, &identity.authrole, "dynamic", session, unix_ms);
    let keys = match salt {
        None => Keys::Ready(WampCraCredential::plain(&secret)),
        Some(s) => {
            if let Err(e) = WampCraCredential::salted(&secret, s.clone(), &limits) {
                return Step::Unavailable {
                    message: format!("the dynamic authenticator's wampcra salt is unusable: {e}"),
                };
            }
            challenge.salt = Some(s.clone());
            Keys::Derive(
                Secret(crate::proto::auth::SecretBytes::new(secret.into_bytes())),
                s,
            )
        }
    };
    State {
        identity: (Some(identity.authrole.clone()), identity),
        challenge,
        keys,
        limits,
    }
    .challenge_step()
}

impl Challenged for State {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        let signature = auth.signature.clone();
        // A malformed signature is refused before any key is derived.
        if signature.len() > self.limits.max_signature_len {
            return Step::failed(format!(
                "wampcra authentication failed: {}",
                AuthError::TooLong {
                    what: "signature",
                    len: signature.len(),
                    max: self.limits.max_signature_len
                }
            ));
        }
        if let Err(e) = decode_b64_array::<32>("signature", &signature) {
            return Step::failed(format!("wampcra authentication failed: {e}"));
        }
        let State {
            challenge,
            keys,
            identity,
            limits,
        } = *self;
        let decide = move |cred: Option<&WampCraCredential>| -> Step {
            let ok = cred.is_some_and(|c| challenge.pending(c).verify(&signature, &limits).is_ok());
            match (ok, identity) {
                (true, (Some(_), id)) => Step::Welcome(id),
                (true, (None, id)) => Step::deny(
                    uris::NO_SUCH_ROLE,
                    format!(
                        "principal '{}' has no role configured",
                        id.authid.unwrap_or_default()
                    ),
                ),
                (false, _) => Step::failed(BAD_SIGNATURE),
            }
        };
        match keys {
            Keys::Ready(cred) => decide(Some(&cred)),
            Keys::None => decide(None),
            Keys::Cached(user) => Step::Offload(Box::new(move || {
                let cred = user
                    .cred
                    .get_or_init(|| derive(&user.secret, user.salt.as_ref()));
                decide(Some(cred))
            })),
            Keys::Derive(secret, salt) => Step::Offload(Box::new(move || {
                let cred = derive(&secret, Some(&salt));
                decide(Some(&cred))
            })),
        }
    }
}

/// A salted credential read both ways (CPU-heavy: PBKDF2; off the reactor).
fn derive(secret: &Secret, salt: Option<&SaltParams>) -> WampCraCredential {
    let text = secret.text();
    let Some(salt) = salt else {
        return WampCraCredential::plain(&text);
    };
    // The parameters were checked against the limits when the user was read
    // (the default limits: a later check cannot fail where that one passed).
    let limits = AuthLimits {
        max_pbkdf2_iterations: u32::MAX,
        max_wampcra_keylen: u32::MAX,
        ..AuthLimits::default()
    };
    WampCraCredential::salted_crossbar_compatible(&text, salt.clone(), &limits).unwrap_or_else(
        |_| {
            // Unreachable (see above); a credential no signature matches.
            let mut junk = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut junk);
            WampCraCredential::plain(&hex::encode(junk))
        },
    )
}

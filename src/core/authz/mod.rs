//! Authorization: one guard in front of every CALL, REGISTER, PUBLISH and
//! SUBSCRIBE, whoever sent it (client, MQTT device, HTTP bridge).
//!
//! The router runs the guard ([`Authorization::decide`]) before a request
//! reaches the broker or the dealer: it validates the URI for the request's
//! match policy, then asks, in this order, the session's cache of earlier
//! answers, an [`Authorizer`] installed for the session's (realm, role) — a
//! dynamic authorizer answers there — and else the role's static
//! permissions (`rules.rs`). An authorizer may answer later
//! ([`Answer::Later`]); the session's requests then wait, in order, until
//! [`ShardRouter::resolve_authorization`](crate::core::ShardRouter::resolve_authorization)
//! delivers the decision. Answers marked `cache` are kept for the session's
//! life. A dynamic authorizer (`dynamic.rs`, a role's `authorizer` in the
//! config) answers [`Answer::Call`]: the router calls the procedure from its
//! own session and the answer decides.
//!
//! This module imports nothing of the broker, the dealer or the meta API.

mod dynamic;
mod rules;

use ahash::AHashMap;

pub use self::dynamic::DynamicAuthorizer;
pub use self::rules::{RealmAuthorizer, RoleAuthorizer};
use super::api::LinkId;
use super::cluster::RealmIdx;
use super::session::authn::CallOutcome;
use crate::config::Disclose;
use crate::proto::{Dict, SessionId};

/// An action a session asks to take on a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// CALL a procedure.
    Call,
    /// REGISTER a procedure.
    Register,
    /// PUBLISH to a topic.
    Publish,
    /// SUBSCRIBE to a topic.
    Subscribe,
}

impl Action {
    /// The action's name in the WAMP spec and Crossbar's authorizer calls.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

/// The answer to one authorization question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// Identity disclosure: `publisher` set only for [`Action::Publish`],
    /// `caller` only for [`Action::Call`], both `false` when denied.
    pub disclose: Disclose,
}

impl Grant {
    /// Not allowed, nothing disclosed.
    pub const DENY: Grant = Grant {
        allowed: false,
        disclose: Disclose {
            caller: false,
            publisher: false,
        },
    };

    /// Allowed, nothing disclosed.
    pub const ALLOW: Grant = Grant {
        allowed: true,
        disclose: Disclose {
            caller: false,
            publisher: false,
        },
    };
}

/// Identifies one authorization waiting for a decision on its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthzTicket(pub u64);

/// One authorization question.
#[derive(Debug)]
pub struct Request<'a> {
    /// The realm.
    pub realm: &'a str,
    /// The session asking.
    pub session: SessionId,
    /// Its authid when its authentication gave one (read it with
    /// [`Request::authid`]: an anonymous session's is derived on demand, not
    /// on every request).
    pub authid_given: Option<&'a str>,
    /// Its role.
    pub authrole: &'a str,
    /// What it wants to do.
    pub action: Action,
    /// On which URI.
    pub uri: &'a str,
    /// The request's options.
    pub options: &'a Dict,
}

impl<'a> Request<'a> {
    /// The session's authid.
    pub fn authid(&self) -> std::borrow::Cow<'a, str> {
        match self.authid_given {
            Some(a) => std::borrow::Cow::Borrowed(a),
            None => std::borrow::Cow::Owned(crate::core::session::anonymous_authid(self.session)),
        }
    }
}

/// A procedure call an authorizer asks the router to make for it: the
/// router calls `procedure` in the session's realm from its own session with
/// `(details, uri, action, options)` — `details` the asking session's, as
/// the session meta API gives them — and `then` turns the answer into a
/// grant and whether to cache it.
pub struct AuthzCall {
    /// The procedure.
    pub procedure: String,
    /// The URI asked about.
    pub uri: String,
    /// The action asked about.
    pub action: Action,
    /// The request's options.
    pub options: Dict,
    /// Milliseconds the dealer waits for the answer (0: no limit).
    pub timeout_ms: u64,
    /// Decides, given the answer: (grant, cache).
    pub then: Box<dyn FnOnce(CallOutcome) -> (Grant, bool)>,
}

impl std::fmt::Debug for AuthzCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzCall")
            .field("procedure", &self.procedure)
            .field("uri", &self.uri)
            .field("action", &self.action)
            .finish()
    }
}

/// An authorizer's answer.
#[derive(Debug)]
pub enum Answer {
    /// Decided now; `cache`: keep the answer for the session's life.
    Now {
        /// The decision.
        grant: Grant,
        /// Keep it for later requests of the same session, action and URI.
        cache: bool,
    },
    /// Decided later, through
    /// [`ShardRouter::resolve_authorization`](crate::core::ShardRouter::resolve_authorization)
    /// with the ticket given.
    Later,
    /// Decided by a procedure the router calls (a dynamic authorizer).
    Call(AuthzCall),
}

/// Decides for the sessions of one (realm, role) instead of its static permissions.
pub trait Authorizer {
    /// Answers `req`; `ticket` names the question if the answer is [`Answer::Later`].
    fn authorize(&self, req: &Request<'_>, ticket: AuthzTicket) -> Answer;
}

/// What the guard found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Decided (allowed or not).
    Now(Grant),
    /// Waiting for the answer of this ticket.
    Later(AuthzTicket),
}

/// The answers kept for one session, per action: URI → grant.
#[derive(Default)]
struct SessionCache([AHashMap<String, Grant>; 4]);

impl SessionCache {
    fn of(&self, action: Action) -> &AHashMap<String, Grant> {
        &self.0[action as usize]
    }

    fn of_mut(&mut self, action: Action) -> &mut AHashMap<String, Grant> {
        &mut self.0[action as usize]
    }
}

/// Authorization state of one shard: installed authorizers, cached answers,
/// questions waiting for an answer.
#[derive(Default)]
pub struct Authorization {
    /// Authorizers installed per realm for a role, in place of static
    /// permissions. Nested so that a lookup borrows the role (no key built
    /// per message).
    custom: AHashMap<RealmIdx, AHashMap<String, Box<dyn Authorizer>>>,
    /// The entries of `custom` the config named (a reload replaces them;
    /// those installed through the API stay).
    configured: Vec<(RealmIdx, String)>,
    /// Answers kept per session: action → URI → grant.
    cache: AHashMap<SessionId, Box<SessionCache>>,
    /// Questions waiting: ticket → the link and session that asked.
    pending: AHashMap<AuthzTicket, (LinkId, SessionId)>,
    /// Calls authorizers asked for: (ticket, realm, asking session, call).
    calls: Vec<(AuthzTicket, RealmIdx, SessionId, AuthzCall)>,
    /// Last ticket handed out.
    last_ticket: u64,
}

impl Authorization {
    /// Installs `a` for the sessions of `role` on `realm`.
    pub fn install(&mut self, realm: RealmIdx, role: &str, a: Box<dyn Authorizer>) {
        self.configured
            .retain(|(r, name)| (*r, name.as_str()) != (realm, role));
        self.custom
            .entry(realm)
            .or_default()
            .insert(role.to_owned(), a);
    }

    /// Installs `a` for `role` on `realm` as the config names it: replaced
    /// by the next [`Authorization::forget_configured`].
    pub fn install_configured(&mut self, realm: RealmIdx, role: &str, a: Box<dyn Authorizer>) {
        self.install(realm, role, a);
        self.configured.push((realm, role.to_owned()));
        // (`install` dropped an older entry for the same role.)
    }

    /// Removes the authorizers the config named (a reload installs its own).
    pub fn forget_configured(&mut self) {
        for (realm, role) in std::mem::take(&mut self.configured) {
            if let Some(roles) = self.custom.get_mut(&realm) {
                roles.remove(&role);
                if roles.is_empty() {
                    self.custom.remove(&realm);
                }
            }
        }
    }

    /// Removes every authorizer of `realm` (a reload removed the realm; a
    /// realm added back under its name starts without them).
    pub fn forget_realm(&mut self, realm: RealmIdx) {
        self.custom.remove(&realm);
        self.configured.retain(|(r, _)| *r != realm);
    }

    /// Decides `req` of the session on `link` in realm `realm`, whose
    /// static permissions are `rules`.
    pub fn decide(
        &mut self,
        rules: &RealmAuthorizer,
        realm: RealmIdx,
        link: LinkId,
        req: &Request<'_>,
    ) -> Decision {
        if let Some(g) = self
            .cache
            .get(&req.session)
            .and_then(|c| c.of(req.action).get(req.uri))
        {
            return Decision::Now(*g);
        }
        let Some(a) = self
            .custom
            .get(&realm)
            .and_then(|roles| roles.get(req.authrole))
        else {
            let g = rules.authorize(req.authrole, req.action, req.uri);
            return Decision::Now(g);
        };
        self.last_ticket += 1;
        let ticket = AuthzTicket(self.last_ticket);
        match a.authorize(req, ticket) {
            Answer::Now { grant, cache } => {
                if cache {
                    self.cache
                        .entry(req.session)
                        .or_default()
                        .of_mut(req.action)
                        .insert(req.uri.to_owned(), grant);
                }
                Decision::Now(grant)
            }
            Answer::Later => {
                self.pending.insert(ticket, (link, req.session));
                Decision::Later(ticket)
            }
            Answer::Call(call) => {
                self.pending.insert(ticket, (link, req.session));
                self.calls.push((ticket, realm, req.session, call));
                Decision::Later(ticket)
            }
        }
    }

    /// Calls to make from the router's own session.
    pub fn take_calls(&mut self) -> Vec<(AuthzTicket, RealmIdx, SessionId, AuthzCall)> {
        std::mem::take(&mut self.calls)
    }

    /// Takes a waiting question's link and session.
    pub fn take_pending(&mut self, ticket: AuthzTicket) -> Option<(LinkId, SessionId)> {
        self.pending.remove(&ticket)
    }

    /// Keeps an answer for the rest of the session's life.
    pub fn remember(&mut self, session: SessionId, action: Action, uri: &str, grant: Grant) {
        self.cache
            .entry(session)
            .or_default()
            .of_mut(action)
            .insert(uri.to_owned(), grant);
    }

    /// The session ended: its cached answers go; its waiting questions are
    /// answered into the void.
    pub fn session_ended(&mut self, session: SessionId) {
        self.cache.remove(&session);
        self.pending.retain(|_, (_, s)| *s != session);
    }

    /// Forgets every cached answer (a reload changed the permissions).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Questions waiting (tests: zero once settled).
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }
}

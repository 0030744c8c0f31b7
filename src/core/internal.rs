//! The router as a client of itself: calls and publications the router makes
//! on its own behalf, with the answers coming back to whoever asked.
//!
//! Dynamic authenticators and authorizers (a WAMP procedure decides), the
//! HTTP bridge, MQTT payload mapping and other router components need this.
//! Per realm, each shard opens one **router session** on first use: an
//! in-process link ([`Output::Typed`]) with an established session whose
//! role is `trusted` and which the authorization guard lets through (its
//! URIs are still checked). Its CALLs go through the dealer like anyone's,
//! so they reach callees on any shard, time out when asked
//! (`CALL.Options.timeout`), and fail when the callee leaves; the answers
//! arrive on its typed queue and are handed to the requester: a caller of
//! [`ShardRouter::call_as_router`] (through
//! [`ShardRouter::take_router_answers`]), or a part of the core itself — an
//! authentication waiting for a dynamic authenticator ([`Step::Call`]) or an
//! authorization waiting for a dynamic authorizer
//! ([`Answer::Call`](super::authz::Answer::Call)). At
//! the end of every router step, `settle` makes the calls those parts asked
//! for and delivers the answers that came back (`ShardRouter::run_core_calls`).
//!
//! Router sessions are invisible to the session meta API (no `on_join`, not
//! counted, listed or killable) and to `wamp.session.get`.

use std::rc::Rc;
use std::sync::OnceLock;

use ahash::AHashMap;

use super::ShardRouter;
use super::api::{FrontEnd, LinkId, LinkInfo, MessageQueue, MessageQueueRef, Output};
use super::authz::{Action, AuthzTicket, Grant};
use super::cluster::RealmIdx;
use super::ctx::Ctx;
use super::session::authn::{CallError, CallOutcome, Step, Ticket};
use super::session::{Auth, Features, Session};
use crate::config::auth::AuthConfig;
use crate::config::{Endpoint, RawSocketService, TransportAuth, TransportConfig, TransportKind};
use crate::proto::message::code;
use crate::proto::{
    Call, CallResult, Dict, Error, Message, Payload, RequestId, Serializer, SessionId, Value,
};

/// The role of router sessions.
pub const ROUTER_ROLE: &str = "trusted";
/// The authid of router sessions.
pub const ROUTER_AUTHID: &str = "junction";

/// Identifies a call the router made on its own behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterCall(pub u64);

/// The answer to a [`RouterCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum RouterAnswer {
    /// RESULT: the callee's answer (`progress` for a progressive result).
    Result {
        /// RESULT details.
        details: Dict,
        /// Args and kwargs.
        payload: Payload,
    },
    /// ERROR: the error URI and payload (no callee, timeout, callee error ...).
    Error {
        /// The error URI.
        error: String,
        /// Args and kwargs.
        payload: Payload,
    },
}

/// Who waits for the answer of a call the router made.
pub(crate) enum Requester {
    /// A caller of [`ShardRouter::call_as_router`].
    Api(RouterCall),
    /// An authentication waiting for a dynamic authenticator.
    Authn(Ticket, Box<dyn FnOnce(CallOutcome) -> Step + Send>),
    /// A front end's call on another realm: the answer goes to the link
    /// as RESULT or ERROR under the CALL's request ID.
    Front(LinkId, RequestId),
    /// An authorization waiting for a dynamic authorizer; with the call
    /// to make again the legacy way if the authorizer takes no `options`.
    Authz(
        AuthzTicket,
        Box<dyn FnOnce(CallOutcome) -> (Grant, bool)>,
        Option<Box<LegacyAuthz>>,
    ),
}

/// A dynamic authorizer's call the legacy way, `(details, uri, action)`:
/// made when the authorizer refused the four arguments (see
/// [`takes_fewer_arguments`]). Crossbar means to do the same, but its
/// check reads Python 2's message, so on Python 3 it denies.
pub(crate) struct LegacyAuthz {
    realm: RealmIdx,
    session: SessionId,
    procedure: String,
    uri: String,
    action: Action,
    timeout_ms: u64,
}

/// Whether a callee's error says its Python function takes fewer
/// arguments than it was given (Autobahn|Python reports the TypeError as
/// `wamp.error.runtime_error` or `wamp.error.invalid_argument` with
/// Python's message).
fn takes_fewer_arguments(e: &CallError) -> bool {
    if !matches!(
        e.error.as_str(),
        "wamp.error.runtime_error" | "wamp.error.invalid_argument"
    ) {
        return false;
    }
    let Some(Value::Str(m)) = e.payload.args.as_ref().and_then(|a| a.first()) else {
        return false;
    };
    (m.contains("positional argument") && m.contains("were given"))
        || m.contains("takes exactly 4 arguments")
}

/// A decision for a part of the core, made from an answer.
pub(crate) enum CoreAnswer {
    /// Resolves an authentication.
    Authn(Ticket, Step),
    /// Resolves an authorization: the grant and whether to cache it.
    Authz(AuthzTicket, Grant, bool),
    /// Hands a front end's link the answer to its call on another realm.
    Front(LinkId, Message),
    /// Asks a dynamic authorizer again, the legacy way.
    AuthzAgain(
        AuthzTicket,
        Box<LegacyAuthz>,
        Box<dyn FnOnce(CallOutcome) -> (Grant, bool)>,
    ),
}

/// The router-session part of one shard's core.
#[derive(Default)]
pub(crate) struct Internal {
    /// Per realm, this shard's router session, once opened.
    links: AHashMap<RealmIdx, (LinkId, MessageQueueRef)>,
    /// Front ends' own trusted sessions ([`ShardRouter::open_service`]).
    services: ahash::AHashSet<LinkId>,
    /// Service sessions of front ends (the HTTP bridge's, one per path):
    /// client links without a connection of their own
    /// ([`ShardRouter::open_service`]).
    client_services: ahash::AHashSet<LinkId>,
    /// Last CALL request ID (shared by all realms: unique per shard).
    last_request: u64,
    /// Calls waiting for their answer.
    waiting: AHashMap<RequestId, Requester>,
    /// Answers for [`ShardRouter::take_router_answers`], not yet taken.
    answers: Vec<(RouterCall, RouterAnswer)>,
    /// Decisions for the core's own parts, not yet delivered.
    core: Vec<CoreAnswer>,
}

/// The transport config of router sessions (they come over none).
pub(crate) fn router_transport() -> Rc<TransportConfig> {
    static CONFIG: OnceLock<TransportConfig> = OnceLock::new();
    let c = CONFIG.get_or_init(|| TransportConfig {
        id: "router".into(),
        kind: TransportKind::RawSocket(RawSocketService::default()),
        endpoint: Endpoint::Unix {
            path: "internal".into(),
        },
        serializers: vec![Serializer::Json],
        auth: TransportAuth {
            methods: AuthConfig::none(),
            trustlevel: None,
        },
        routes: None,
    });
    Rc::new(c.clone())
}

/// A router session: trusted, `junction` in role `trusted`.
fn router_session(id: crate::proto::SessionId, realm: RealmIdx) -> Session {
    Session::new(
        id,
        realm,
        Auth::new(ROUTER_ROLE, "internal", "router"),
        Some(ROUTER_AUTHID.into()),
        None,
        Features::default(),
        true,
    )
}

impl Internal {
    /// Router sessions open on this shard (one per realm used).
    pub fn link_count(&self) -> usize {
        self.links.len() + self.services.len()
    }

    /// Whether `link` is one of the router's own links (a router session
    /// or a front end's trusted service session).
    pub fn is_internal(&self, link: LinkId) -> bool {
        self.services.contains(&link) || self.links.values().any(|(l, _)| *l == link)
    }

    /// A trusted session in `realm` on a new in-process link whose output
    /// is `out` (see [`ShardRouter::open_service`]).
    pub fn open_service(&mut self, cx: &mut Ctx, realm: RealmIdx, out: Output) -> Option<LinkId> {
        let info = LinkInfo::new(router_transport(), FrontEnd::Internal, "internal");
        let link = cx.links.open(info, out, usize::MAX).ok()?;
        let id = cx.new_session_id();
        cx.links.establish(link, router_session(id, realm));
        self.services.insert(link);
        Some(link)
    }

    /// A link is gone: forgets it if it was a front end's session.
    pub fn forget(&mut self, link: LinkId) {
        if !self.services.is_empty() {
            self.services.remove(&link);
        }
        if !self.client_services.is_empty() {
            self.client_services.remove(&link);
        }
    }

    /// Service sessions of front ends open on this shard (not connections).
    pub fn client_service_count(&self) -> usize {
        self.client_services.len()
    }

    /// The router session of `realm` on this shard, opened if needed.
    pub fn link(&mut self, cx: &mut Ctx, realm: RealmIdx) -> Option<LinkId> {
        if let Some((l, _)) = self.links.get(&realm) {
            return Some(*l);
        }
        let queue = MessageQueue::new_ref(usize::MAX);
        let info = LinkInfo::new(router_transport(), FrontEnd::Internal, "internal");
        let link = cx
            .links
            .open(info, Output::Typed(Rc::clone(&queue)), usize::MAX)
            .ok()?;
        let id = cx.new_session_id();
        cx.links.establish(link, router_session(id, realm));
        self.links.insert(realm, (link, queue));
        Some(link)
    }

    /// A CALL request ID for `requester` (remembered until its answer).
    pub fn next_request(&mut self, requester: Requester) -> RequestId {
        self.last_request += 1;
        let r = RequestId(self.last_request);
        self.waiting.insert(r, requester);
        r
    }

    /// Moves what arrived on the router sessions' queues to the answers.
    pub fn collect(&mut self) {
        for (_, queue) in self.links.values() {
            let msgs = {
                let mut q = queue.borrow_mut();
                if q.is_empty() {
                    continue;
                }
                q.take()
            };
            for m in msgs {
                let (request, answer, last) = match m {
                    Message::Result(r) => {
                        let progress = r
                            .details
                            .get("progress")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false);
                        let a = RouterAnswer::Result {
                            details: r.details,
                            payload: r.payload,
                        };
                        (r.request, a, !progress)
                    }
                    Message::Error(e) => {
                        let a = RouterAnswer::Error {
                            error: e.error,
                            payload: e.payload,
                        };
                        (e.request, a, true)
                    }
                    _ => continue,
                };
                if !last {
                    // A progressive result: only API callers see those.
                    if let Some(Requester::Api(call)) = self.waiting.get(&request) {
                        self.answers.push((*call, answer));
                    }
                    continue;
                }
                let outcome = |a: RouterAnswer| -> CallOutcome {
                    match a {
                        RouterAnswer::Result { payload, .. } => Ok(payload),
                        RouterAnswer::Error { error, payload } => Err(CallError { error, payload }),
                    }
                };
                match self.waiting.remove(&request) {
                    Some(Requester::Api(call)) => self.answers.push((call, answer)),
                    Some(Requester::Front(link, request)) => {
                        let msg = match answer {
                            RouterAnswer::Result { details, payload } => {
                                Message::Result(CallResult {
                                    request,
                                    details,
                                    payload,
                                })
                            }
                            RouterAnswer::Error { error, payload } => Message::Error(Error {
                                request_type: code::CALL,
                                request,
                                details: Dict::new(),
                                error,
                                payload,
                            }),
                        };
                        self.core.push(CoreAnswer::Front(link, msg));
                    }
                    Some(Requester::Authn(ticket, then)) => {
                        let step = then(outcome(answer));
                        self.core.push(CoreAnswer::Authn(ticket, step));
                    }
                    Some(Requester::Authz(ticket, then, legacy)) => match (outcome(answer), legacy)
                    {
                        (Err(e), Some(legacy)) if takes_fewer_arguments(&e) => {
                            self.core.push(CoreAnswer::AuthzAgain(ticket, legacy, then));
                        }
                        (out, _) => {
                            let (grant, cache) = then(out);
                            self.core.push(CoreAnswer::Authz(ticket, grant, cache));
                        }
                    },
                    None => {}
                }
            }
        }
    }

    /// Answers that arrived.
    pub fn take_answers(&mut self) -> Vec<(RouterCall, RouterAnswer)> {
        std::mem::take(&mut self.answers)
    }

    /// Decisions for the core's parts that arrived.
    pub fn take_core_answers(&mut self) -> Vec<CoreAnswer> {
        std::mem::take(&mut self.core)
    }

    /// Calls still waiting for an answer.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }
}

impl ShardRouter {
    /// Opens a **service session**: a link whose session is established at
    /// once on realm `realm` with `authid` and `authrole`, without HELLO
    /// (Crossbar's service sessions: the HTTP bridge publishes and calls as
    /// one per path, with the path's role). Unlike the router session it is
    /// not trusted: the authorization guard checks its role's permissions,
    /// and the session meta API shows it like any other. It ends with
    /// [`ShardRouter::close`].
    ///
    /// # Errors
    /// [`Refused`](super::api::Refused) for an unknown realm, or as [`ShardRouter::open`].
    pub fn open_service(
        &mut self,
        info: LinkInfo,
        out: Output,
        realm: &str,
        authid: &str,
        authrole: &str,
    ) -> Result<LinkId, super::api::Refused> {
        let Some(&idx) = self.cx.realm_names.get(realm) else {
            return Err(super::api::Refused("no such realm"));
        };
        let link = self.open(info, out)?;
        let id = self.cx.new_session_id();
        let links = &mut self.cx.links;
        let auth = links.auth(authrole, "anonymous", "static", None);
        links.establish(
            link,
            Session::new(
                id,
                idx,
                auth,
                Some(authid.into()),
                None,
                Features::default(),
                false,
            ),
        );
        self.internal.client_services.insert(link);
        self.session_joined(link);
        self.settle();
        Ok(link)
    }

    /// CALLs `procedure` from this shard's router session on `realm` for
    /// `requester`. `false` when the session could not be opened.
    pub(super) fn router_call(
        &mut self,
        realm: RealmIdx,
        procedure: String,
        payload: Payload,
        timeout_ms: u64,
        requester: Requester,
    ) -> Option<RequestId> {
        let link = self.internal.link(&mut self.cx, realm)?;
        let request = self.internal.next_request(requester);
        let mut options = Dict::new();
        if timeout_ms > 0 {
            options.insert("timeout", timeout_ms);
        }
        self.message(
            link,
            Message::Call(Call {
                request,
                options,
                procedure,
                payload,
            }),
            None,
        );
        Some(request)
    }

    /// Whether `call` from `link` is an MQTT front end's call on another
    /// realm ([`CALL_ON_REALM_OPTION`](super::api::CALL_ON_REALM_OPTION));
    /// from any other link the option is ignored.
    pub(super) fn calls_on_realm(&self, link: LinkId, call: &Call) -> bool {
        call.options.get(super::api::CALL_ON_REALM_OPTION).is_some()
            && self
                .cx
                .links
                .get(link)
                .is_some_and(|l| l.info.kind == FrontEnd::Mqtt)
    }

    /// Makes `call` on the realm its options name, from the router's own
    /// session there (its `timeout` kept); the answer comes back to `link`
    /// under the CALL's request ID (ERROR `wamp.error.no_such_realm` at
    /// once when the realm does not exist).
    pub(super) fn call_on_realm(&mut self, link: LinkId, call: Call) {
        let realm = match call.options.get(super::api::CALL_ON_REALM_OPTION) {
            Some(Value::Str(r)) => r.clone(),
            _ => String::new(),
        };
        let timeout_ms = call
            .options
            .get("timeout")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let request = call.request;
        let issued = self.cx.realm_names.get(&realm).copied().and_then(|idx| {
            self.router_call(
                idx,
                call.procedure,
                call.payload,
                timeout_ms,
                Requester::Front(link, request),
            )
        });
        if issued.is_none() {
            let message = format!("no realm '{realm}' on this router");
            let no_realm = super::uris::NO_SUCH_REALM;
            self.cx
                .links
                .error(link, code::CALL, request, no_realm, Some(message));
        }
    }

    /// The asking session's details a dynamic authorizer gets (as the
    /// session meta API gives them; its ID alone once it has left).
    fn authz_details(&self, realm: RealmIdx, session: SessionId) -> Dict {
        self.session_details(realm, session)
            .unwrap_or_else(|| Dict::new().with("session", session.0))
    }

    /// Makes the calls authentication and authorization asked for, and
    /// delivers the decisions made from the answers that came back (see the
    /// module header). Returns whether it did anything: `settle` then runs
    /// again for what that queued.
    pub(super) fn run_core_calls(&mut self) -> bool {
        let mut did = false;
        for (ticket, call) in self.sessions.take_calls() {
            did = true;
            let realm = self.cx.realm_names.get(&call.realm).copied();
            let issued = realm.and_then(|idx| {
                self.router_call(
                    idx,
                    call.procedure.clone(),
                    call.payload,
                    call.timeout_ms,
                    Requester::Authn(ticket, call.then),
                )
            });
            if issued.is_none() {
                // The realm asked for (the default) or `authenticator-realm`.
                let step = Step::deny(
                    super::uris::NO_SUCH_REALM,
                    format!(
                        "the dynamic authenticator's realm '{}' does not exist on this router",
                        call.realm
                    ),
                );
                self.internal.core.push(CoreAnswer::Authn(ticket, step));
            }
        }
        for (ticket, realm, session, call) in self.authz.take_calls() {
            did = true;
            // Built again only if the authorizer refuses four arguments.
            let legacy = Box::new(LegacyAuthz {
                realm,
                session,
                procedure: call.procedure.clone(),
                uri: call.uri.clone(),
                action: call.action,
                timeout_ms: call.timeout_ms,
            });
            let payload = Payload::args(vec![
                Value::Dict(self.authz_details(realm, session)),
                Value::from(call.uri),
                Value::from(call.action.as_str()),
                Value::Dict(call.options),
            ]);
            let then = call.then;
            if self
                .router_call(
                    realm,
                    call.procedure,
                    payload,
                    call.timeout_ms,
                    Requester::Authz(ticket, then, Some(legacy)),
                )
                .is_none()
            {
                self.internal
                    .core
                    .push(CoreAnswer::Authz(ticket, Grant::DENY, false));
            }
        }
        for answer in self.internal.take_core_answers() {
            did = true;
            match answer {
                CoreAnswer::Authn(ticket, step) => {
                    if let Some(link) = self.sessions.resolve(&mut self.cx, ticket, step) {
                        self.session_joined(link);
                    }
                }
                CoreAnswer::Authz(ticket, grant, cache) => {
                    self.authorization_resolved(ticket, grant, cache);
                }
                CoreAnswer::Front(link, msg) => {
                    self.cx.links.send(link, &msg);
                }
                CoreAnswer::AuthzAgain(ticket, legacy, then) => {
                    let LegacyAuthz {
                        realm,
                        session,
                        procedure,
                        uri,
                        action,
                        timeout_ms,
                    } = *legacy;
                    let payload = Payload::args(vec![
                        Value::Dict(self.authz_details(realm, session)),
                        Value::from(uri),
                        Value::from(action.as_str()),
                    ]);
                    tracing::debug!(
                        authorizer = %procedure,
                        "the dynamic authorizer takes no options: asked again with (details, uri, action)"
                    );
                    let asked = self.router_call(
                        realm,
                        procedure,
                        payload,
                        timeout_ms,
                        Requester::Authz(ticket, then, None),
                    );
                    if asked.is_none() {
                        self.authorization_resolved(ticket, Grant::DENY, false);
                    }
                }
            }
        }
        did
    }
}

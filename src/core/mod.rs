//! The routing core: one shard's realms, sessions, broker, dealer and meta
//! API, as a single-threaded state machine ([`ShardRouter`]) with no I/O and
//! no runtime. It imports `proto` and `config`, never the transports, the
//! shard runtime or the node.
//!
//! Front ends drive it through the session API ([`api`]): open a link, feed
//! it typed messages (or WAMP frames), close it; what the router sends comes
//! out of the link's [`api::Output`]. The runtime feeds it messages from
//! other shards ([`ShardRouter::shard_msg`]), fires its call deadlines, and
//! runs the jobs it hands out (authentication crypto off the reactor).
//!
//! Parts, each with its own state and folder:
//! - [`session`]: links, the session state machine and authentication;
//! - [`authz`]: the authorization guard in front of every request;
//! - [`broker`]: subscriptions, publications, retained events, event
//!   history, testaments, sharded subscriptions;
//! - [`dealer`]: registrations, calls, progressive calls, cancels, timeouts;
//! - `meta`: the meta API's procedures (a registry keyed by URI) and its
//!   cross-shard questions;
//! - [`cluster`]: the cross-shard protocol's messages (depends on nothing
//!   else here) and [`index`]: the URI index both broker and dealer use;
//! - `ops`: a graceful drain and applying a reloaded config; [`metrics`]:
//!   the shard's counters.
//!
//! The parts never call each other; they share `ctx`'s queues, and this
//! module (`dispatch.rs`: client messages and the guard; `peers.rs`:
//! messages from other shards) routes between them. See
//! docs/architecture.md for the flows.

pub mod api;
pub mod authz;
pub mod broker;
pub mod cluster;
mod ctx;
pub mod dealer;
mod dispatch;
pub mod index;
pub mod internal;
pub mod journal;
mod meta;
pub mod metrics;
mod ops;
pub mod outbox;
mod peers;
pub mod realm;
pub mod session;

use std::borrow::Cow;
use std::task::Waker;
use std::time::Instant;

use self::api::{LinkId, LinkInfo, Output, Refused};
use self::authz::{Action, Authorization, Authorizer, AuthzTicket, Grant};
use self::broker::Broker;
use self::cluster::{Mesh, ShardMsg};
use self::ctx::{Ctx, Local};
use self::dealer::Dealer;
pub use self::dealer::timers::{Clock, SystemClock};
use self::internal::{Internal, RouterAnswer, RouterCall};
use self::meta::Meta;
pub use self::ops::Applied;
use self::ops::OpsState;
use self::outbox::CloseReason;
use self::session::Sessions;
use self::session::authn::{AuthJob, Authenticator, Step, Ticket};
use crate::config::Config;
use crate::proto::{Dict, Goodbye, Message, Payload, Publish, ShardId};

/// WAMP error and close URIs the router sends.
pub mod uris {
    /// The peer broke the protocol.
    pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
    /// HELLO named a realm the router does not serve.
    pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
    /// No authentication method the client offers is accepted.
    pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
    /// The authrole does not exist on the realm.
    pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
    /// Authorization denied the action.
    pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
    /// A URI failed validation.
    pub const INVALID_URI: &str = "wamp.error.invalid_uri";
    /// An option had a wrong type or value.
    pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
    /// No registration matches the called procedure.
    pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
    /// REGISTER for a procedure that is already registered.
    pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
    /// Every callee of the procedure has as many invocations in flight as
    /// its REGISTER's `concurrency` allows (Crossbar.io's URI, kept so that
    /// its clients' handlers match).
    pub const MAX_CONCURRENCY_REACHED: &str = "crossbar.error.max_concurrency_reached";
    /// The reason of a revocation by `force_reregister` (Crossbar.io's).
    pub const UNREGISTERED: &str = "wamp.error.unregistered";
    /// UNREGISTER for an unknown registration.
    pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
    /// UNSUBSCRIBE for an unknown subscription.
    pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
    /// A message would exceed what its receiver accepts.
    pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";
    /// The call ended without a result (the callee left, or the caller canceled).
    pub const CANCELED: &str = "wamp.error.canceled";
    /// The dealer ended a call whose `timeout` expired.
    pub const TIMEOUT: &str = "wamp.error.timeout";
    /// The callee cannot process a feature the call uses (progressive invocations).
    pub const FEATURE_NOT_SUPPORTED: &str = "wamp.error.feature_not_supported";
    /// REGISTER to join a shared registration with a different `invoke` policy.
    pub const PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY: &str =
        "wamp.error.procedure_exists_with_different_invocation_policy";
    /// GOODBYE reply.
    pub const GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";
    /// GOODBYE/ABORT on router shutdown.
    pub const SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
    /// The router ended the session (slow consumer).
    pub const CLOSE_REALM: &str = "wamp.close.close_realm";
    /// `wamp.session.get`/`kill` for a session that does not exist (or is the caller, for kill).
    pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
    /// `get_events` for a subscription without history.
    pub const HISTORY_UNAVAILABLE: &str = "wamp.error.history_unavailable";
    /// Default GOODBYE reason of the kill procedures.
    pub const CLOSE_KILLED: &str = "wamp.close.killed";
    /// A login failed (wrong credentials, unknown principal, an authenticator
    /// that could not decide).
    pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
    /// No principal (authid) could be assigned to a login.
    pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
}

/// The router's agent string in WELCOME.
pub const AGENT: &str = concat!("Junction/", env!("CARGO_PKG_VERSION"));

/// One shard's router. Single-threaded and `!Send` by design: it is owned by
/// its shard's executor and mutated only through `&mut self`.
pub struct ShardRouter {
    /// What every part shares: shard, mesh, links, realms, queues.
    cx: Ctx,
    /// Authentication state.
    sessions: Sessions,
    /// The authorization guard's state.
    authz: Authorization,
    /// Subscriptions and publications.
    broker: Broker,
    /// Registrations and calls.
    dealer: Dealer,
    /// The meta API's registry and questions in flight.
    meta: Meta,
    /// The router's own sessions and the calls they made.
    internal: Internal,
    /// Last [`RouterCall`] handed out.
    last_router_call: u64,
    /// Drain state (`ops.rs`).
    ops: OpsState,
}

impl ShardRouter {
    /// A router for shard `shard` of `shards`, serving `config`'s realms,
    /// whose retained events and history live in memory only.
    ///
    /// Every role with a dynamic `authorizer` in the config gets a
    /// [`DynamicAuthorizer`](authz::DynamicAuthorizer) calling it.
    pub fn new(shard: ShardId, shards: u16, config: &Config, mesh: Box<dyn Mesh>) -> Self {
        Self::with_journal(shard, shards, config, mesh, Box::new(journal::NoJournal))
    }

    /// A router that keeps retained events and event history in `journal`
    /// and starts with what it kept before.
    pub fn with_journal(
        shard: ShardId,
        shards: u16,
        config: &Config,
        mesh: Box<dyn Mesh>,
        journal: Box<dyn journal::EventJournal>,
    ) -> Self {
        let cx = Ctx::new(shard, shards, config, mesh);
        let broker = Broker::new(&cx, config, journal);
        let dealer = Dealer::new(config.realms.len());
        let mut cx = cx;
        cx.links.metrics.timing = config.node.metrics;
        let mut router = ShardRouter {
            cx,
            sessions: Sessions::new(&config.limits.auth),
            authz: Authorization::default(),
            broker,
            dealer,
            meta: Meta::new(),
            internal: Internal::default(),
            last_router_call: 0,
            ops: OpsState::default(),
        };
        router.install_configured_authorizers(config);
        router
    }

    /// Installs the dynamic authorizers `config` names for roles (at the
    /// start and at each reload; see [`ShardRouter::apply`]).
    fn install_configured_authorizers(&mut self, config: &Config) {
        let timeout = config.limits.auth.authenticator_timeout_ms;
        for a in &config.role_authorizers {
            let Some(&idx) = self.cx.realm_names.get(&a.realm) else {
                continue;
            };
            let authorizer = authz::DynamicAuthorizer::new(a.authorizer.as_str(), timeout);
            self.authz
                .install_configured(idx, &a.role, Box::new(authorizer));
        }
    }

    /// This router's shard.
    pub fn shard(&self) -> ShardId {
        self.cx.shard
    }

    /// How many shards the router runs.
    pub fn shard_count(&self) -> u16 {
        self.cx.shards
    }

    /// Sends a front end's message to its peer on shard `to` (not this one).
    pub fn send_front(&mut self, to: ShardId, msg: cluster::FrontMsg) {
        if to != self.cx.shard {
            self.cx.send_remote(to, ShardMsg::Front(msg));
            self.cx.flush_mesh();
        }
    }

    /// Front-end messages that arrived from other shards.
    pub fn take_front_msgs(&mut self) -> Vec<cluster::FrontMsg> {
        std::mem::take(&mut self.cx.front_inbox)
    }

    /// Open links on this shard.
    pub fn connection_count(&self) -> usize {
        self.cx.links.len()
    }

    /// Joined sessions on this shard.
    pub fn session_count(&self) -> usize {
        self.cx.links.session_count()
    }

    /// Subscription and registration index entries on this shard, all realms
    /// (replicas included): zero once every session has left and replicas settled.
    pub fn index_entry_count(&self) -> usize {
        self.broker.entry_count() + self.dealer.entry_count()
    }

    /// Authentications and authorizations waiting for a decision: zero once
    /// everything settled.
    pub fn pending_decision_count(&self) -> usize {
        self.sessions.pending_count() + self.authz.pending_count()
    }

    /// A copy of this shard's counters ([`metrics`]), with the gauges that
    /// are computed on demand: subscriptions and registrations of this
    /// shard's sessions, and what waits in its outboxes. Walks the links
    /// (about ten nanoseconds each); meant for scrapes, not for every message.
    pub fn metrics(&self) -> metrics::MetricsSnapshot {
        let mut m = self
            .cx
            .links
            .metrics
            .snapshot(|r| self.cx.realms[r as usize].name.clone());
        for (_, l) in self.cx.links.iter() {
            if let Output::Wire { outbox, .. } = &l.out {
                let o = outbox.borrow();
                m.queued_bytes += o.queued_bytes() as u64;
                m.queued_frames += o.len() as u64;
            }
            if let session::Phase::Established(s) = &l.phase
                && !s.trusted
            {
                m.subscriptions += s.subscriptions.len() as u64;
                m.registrations += s.registrations.len() as u64;
            }
        }
        m
    }

    /// The limits in force (a reload may change them for new links).
    pub fn limits(&self) -> &crate::config::Limits {
        &self.cx.limits
    }

    /// Turns the routing latency measurement on or off (config `junction.metrics`).
    pub fn set_timing(&mut self, on: bool) {
        self.cx.links.metrics.timing = on;
    }

    /// Opens a link for a front end (see [`api`]).
    ///
    /// # Errors
    /// [`Refused`] when the shard already holds `limits.max_sessions_per_shard`
    /// links, or is draining ([`ShardRouter::drain`]).
    pub fn open(&mut self, info: LinkInfo, out: Output) -> Result<LinkId, Refused> {
        if self.ops.draining {
            return Err(Refused("the router is shutting down"));
        }
        let max = self.cx.limits.max_sessions_per_shard;
        self.cx.links.open(info, out, max)
    }

    /// One message from the peer on `link`.
    pub fn feed(&mut self, link: LinkId, msg: Message) {
        if self.cx.links.is_closing(link) {
            return;
        }
        let start = self.cx.links.metrics.timing.then(Instant::now);
        let code = msg.code();
        self.cx.links.metrics.received(code);
        self.message(link, msg, None);
        self.settle();
        self.observe_latency(code, start);
    }

    /// One WAMP frame from the peer on a [`Output::Wire`] link, decoded in
    /// place with the link's serializer. A frame that does not decode is a
    /// protocol violation.
    pub fn feed_frame(&mut self, link: LinkId, data: &[u8]) {
        let Some(l) = self.cx.links.get(link) else {
            return;
        };
        if l.closing() {
            return;
        }
        let start = self.cx.links.metrics.timing.then(Instant::now);
        let decoded = match &l.out {
            Output::Wire { serializer, .. } => serializer.decode(data),
            Output::Typed(_) | Output::Sink(_) => {
                return self.fail(
                    link,
                    Cow::Borrowed("a frame on a link without a serializer"),
                );
            }
        };
        let mut code = 0;
        match decoded {
            Ok(msg) => {
                code = msg.code();
                self.cx.links.metrics.received(code);
                self.message(link, msg, None)
            }
            Err(e) => self.cx.violation(link, Cow::Owned(e.to_string())),
        }
        self.settle();
        self.observe_latency(code, start);
    }

    /// Records the routing latency of a PUBLISH or CALL whose step began at `start`.
    #[inline]
    fn observe_latency(&mut self, code: u64, start: Option<Instant>) {
        if let Some(t0) = start
            && (code == crate::proto::message::code::PUBLISH
                || code == crate::proto::message::code::CALL)
        {
            self.cx.links.metrics.latency.observe(t0.elapsed());
        }
    }

    /// The front end found the peer breaking the protocol: ABORT with
    /// `reason`, close, end the session.
    pub fn fail(&mut self, link: LinkId, reason: Cow<'static, str>) {
        self.cx.violation(link, reason);
        self.settle();
    }

    /// The front end is gone: ends the session (if any) and forgets the link.
    pub fn close(&mut self, link: LinkId) {
        if !self.ops.awaiting_goodbye.is_empty() {
            self.ops.awaiting_goodbye.remove(&link);
        }
        self.end_session(link, true);
        if let Some(l) = self.cx.links.get(link) {
            self.sessions.forget(link, &l.phase);
        }
        self.cx.links.remove(link);
        self.internal.forget(link);
        self.settle();
    }

    /// A message from shard `from`.
    pub fn shard_msg(&mut self, from: ShardId, msg: ShardMsg) {
        if let Some((from, msg)) = self.ahead_of_reload(from, msg) {
            self.peer_msg(from, msg);
        }
        self.settle();
    }

    /// Router shutdown: every session gets GOODBYE `wamp.close.system_shutdown`
    /// and every link is asked to close (1001 going away).
    pub fn shutdown(&mut self) {
        for link in self.cx.links.ids() {
            if self.cx.links.session(link).is_some() {
                let bye = Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: uris::SYSTEM_SHUTDOWN.into(),
                });
                self.cx.links.send(link, &bye);
            }
            self.end_session(link, true);
            self.cx.links.close_link(link, CloseReason::GoingAway);
        }
        self.settle();
    }

    /// Adds an authentication method to transport `transport` (by its ID);
    /// one with the same method name is replaced.
    pub fn add_authenticator(&mut self, transport: &str, a: Box<dyn Authenticator>) {
        self.sessions.add_authenticator(transport, a);
    }

    /// Delivers the decision of an authentication that answered
    /// [`Step::Pending`] or [`Step::Offload`]. A decision for a link that is
    /// gone is dropped.
    pub fn resolve_authentication(&mut self, ticket: Ticket, step: Step) {
        if let Some(link) = self.sessions.resolve(&mut self.cx, ticket, step) {
            self.session_joined(link);
        }
        self.settle();
    }

    /// Work to run off the reactor (authentication crypto); each job's
    /// result goes back through [`ShardRouter::resolve_authentication`].
    pub fn take_auth_jobs(&mut self) -> Vec<AuthJob> {
        self.sessions.take_jobs()
    }

    /// Installs `a` to authorize the sessions of `role` on realm `realm`
    /// in place of the role's static permissions. Returns `false` for an
    /// unknown realm.
    pub fn install_authorizer(&mut self, realm: &str, role: &str, a: Box<dyn Authorizer>) -> bool {
        let Some(&idx) = self.cx.realm_names.get(realm) else {
            return false;
        };
        self.authz.install(idx, role, a);
        true
    }

    /// Delivers the decision of an authorization that answered
    /// [`authz::Answer::Later`]; `cache` keeps it for the session's life.
    /// The session's waiting requests then go on, in order.
    pub fn resolve_authorization(&mut self, ticket: AuthzTicket, grant: Grant, cache: bool) {
        self.authorization_resolved(ticket, grant, cache);
        self.settle();
    }

    /// Calls `procedure` in `realm` on the router's own behalf (see
    /// [`internal`]); `timeout_ms` (0: none) bounds the wait. The answer comes
    /// back through [`ShardRouter::take_router_answers`]. `None` for an
    /// unknown realm.
    pub fn call_as_router(
        &mut self,
        realm: &str,
        procedure: &str,
        payload: Payload,
        timeout_ms: u64,
    ) -> Option<RouterCall> {
        let &idx = self.cx.realm_names.get(realm)?;
        self.last_router_call += 1;
        let call = RouterCall(self.last_router_call);
        let requester = internal::Requester::Api(call);
        let issued = self.router_call(idx, procedure.to_owned(), payload, timeout_ms, requester);
        self.settle();
        issued.map(|_| call)
    }

    /// Opens a trusted session in `realm` for a front end's own use, on an
    /// in-process link whose output is `out` (the MQTT front end keeps the
    /// subscriptions of offline sessions and of shared-subscription groups
    /// on one per shard and realm). Like the router sessions of
    /// [`internal`], it passes the authorization guard, is invisible to the
    /// session meta API, is not a client link (a drain does not wait for
    /// it), and ends with [`ShardRouter::close`]. `None` for an unknown realm.
    pub fn open_trusted_service(&mut self, realm: &str, out: Output) -> Option<LinkId> {
        let &idx = self.cx.realm_names.get(realm)?;
        self.internal.open_service(&mut self.cx, idx, out)
    }

    /// Publishes to `topic` in `realm` on the router's own behalf. Returns
    /// `false` for an unknown realm.
    pub fn publish_as_router(&mut self, realm: &str, topic: &str, payload: Payload) -> bool {
        let Some(&idx) = self.cx.realm_names.get(realm) else {
            return false;
        };
        let Some(link) = self.internal.link(&mut self.cx, idx) else {
            return false;
        };
        self.message(
            link,
            Message::Publish(Publish {
                request: crate::proto::RequestId(0),
                options: Dict::new(),
                topic: topic.to_owned(),
                payload,
            }),
            None,
        );
        self.settle();
        true
    }

    /// Answers to [`ShardRouter::call_as_router`] calls that arrived.
    pub fn take_router_answers(&mut self) -> Vec<(RouterCall, RouterAnswer)> {
        self.internal.take_answers()
    }

    /// Calls the router made that still wait for an answer.
    pub fn router_calls_waiting(&self) -> usize {
        self.internal.waiting_count()
    }

    /// Fires every deadline due at `now` (see [`ShardRouter::next_deadline`]):
    /// call timeouts, and the denials held back for throttled addresses.
    pub fn poll_timers(&mut self, now: Instant) {
        self.dealer.poll_timers(&mut self.cx, now);
        self.sessions.poll_timers(&mut self.cx, now);
        self.settle();
    }

    /// The earliest deadline on this shard (a call timeout, a held-back
    /// denial), if any: when the runtime should call
    /// [`ShardRouter::poll_timers`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.dealer.next_deadline(), self.sessions.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Changes whenever a deadline earlier than all others was added: the
    /// runtime's timer task re-reads [`ShardRouter::next_deadline`] then.
    pub fn timer_epoch(&self) -> u64 {
        self.dealer
            .timer_epoch()
            .wrapping_add(self.sessions.timer_epoch())
    }

    /// The waker of the runtime's timer task, woken when the epoch changes.
    pub fn set_timer_waker(&mut self, waker: &Waker) {
        self.dealer.set_timer_waker(waker);
        self.sessions.set_timer_waker(waker);
    }

    /// Calls in flight with this shard as the caller's shard, invocations
    /// indexed here as the callee's shard, and queued deadlines: zero once idle.
    pub fn pending_call_count(&self) -> usize {
        self.dealer.pending_count()
    }

    /// Replaces the clock (tests inject a manual one): call deadlines,
    /// failed-login buckets and challenge timestamps all read it.
    pub fn set_clock(&mut self, clock: Box<dyn Clock>) {
        let shared: std::rc::Rc<dyn Clock> = std::rc::Rc::from(clock);
        self.dealer
            .set_clock(Box::new(SharedClock(std::rc::Rc::clone(&shared))));
        self.sessions.set_clock(Box::new(SharedClock(shared)));
    }

    /// Runs what the current input queued, until nothing is left: messages
    /// to this shard, the router's own publications, ending sessions, slow
    /// consumers. Then wakes the peers sent to.
    fn settle(&mut self) {
        loop {
            self.settle_queues();
            self.internal.collect();
            // Calls authentication and authorization asked for, and the
            // decisions that came back, queue more work.
            if !self.run_core_calls() {
                break;
            }
        }
        self.cx.flush_mesh();
    }

    /// Runs the queues of [`ShardRouter::settle`] until they are empty.
    fn settle_queues(&mut self) {
        loop {
            while let Some(msg) = self.cx.next_local() {
                match msg {
                    Local::Msg(msg) => {
                        let me = self.cx.shard;
                        self.peer_msg(me, msg);
                    }
                    Local::Call(c) => self.dealer.invoke(&mut self.cx, c),
                    Local::Return(r) => self.dealer.call_return(&mut self.cx, r),
                }
            }
            while let Some(p) = self.cx.next_later() {
                self.broker.route_publish(&mut self.cx, p, None);
            }
            for (link, lost) in self.cx.take_ending() {
                self.end_session(link, lost);
            }
            for link in self.cx.links.take_unsendable() {
                self.end_session(link, true);
            }
            for link in self.cx.links.take_overflowed() {
                if self.cx.links.is_closing(link) {
                    continue;
                }
                if let Some(l) = self.cx.links.get(link) {
                    tracing::warn!(
                        link = link.0,
                        peer = %l.info.peer,
                        "closing slow consumer: outbound queue limit reached"
                    );
                }
                self.cx.links.metrics.slow_consumer_closes += 1;
                self.cx.links.close_link(link, CloseReason::SlowConsumer);
                self.end_session(link, true);
            }
            if !self.cx.has_queued() && !self.cx.links.has_overflowed() {
                break;
            }
        }
    }
}

/// One clock shared by the dealer and the session layer.
struct SharedClock(std::rc::Rc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn unix_ms(&self) -> u64 {
        self.0.unix_ms()
    }
}

impl session::AuthClock for SharedClock {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn unix_ms(&self) -> u64 {
        self.0.unix_ms()
    }
}

/// Parses the `match` option.
fn match_policy(options: &Dict) -> Result<crate::proto::uri::MatchPolicy, String> {
    use crate::proto::Value;
    use crate::proto::uri::MatchPolicy;
    match options.get("match") {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::Str(s)) => {
            MatchPolicy::parse(s).ok_or_else(|| format!("unknown match policy '{s}'"))
        }
        Some(_) => Err("option 'match' must be a string".to_owned()),
    }
}

/// What the guard lets through: the request's action, as checked.
fn action_of(msg: &Message) -> Option<Action> {
    Some(match msg {
        Message::Publish(_) => Action::Publish,
        Message::Subscribe(_) => Action::Subscribe,
        Message::Register(_) => Action::Register,
        Message::Call(_) => Action::Call,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

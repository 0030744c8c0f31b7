//! The routing core: realms, sessions, broker, dealer and the cross-shard
//! protocol, as one single-threaded state machine per shard ([`ShardRouter`])
//! with no I/O.
//!
//! The runtime feeds it connection events ([`ShardRouter::open`],
//! [`ShardRouter::frame`], [`ShardRouter::close`]) and messages from other
//! shards ([`ShardRouter::shard_msg`]); it answers by pushing encoded frames
//! into session [`outbox`]es and [`cluster::ShardMsg`]s into the [`cluster::Mesh`].
//! Tests drive several `ShardRouter`s with an in-memory mesh and fake peers.

pub mod api;
pub mod authz;
pub mod broker;
pub mod cluster;
pub mod dealer;
pub mod index;
pub mod journal;
mod meta;
pub mod outbox;
pub mod realm;

use std::borrow::Cow;

use ahash::AHashMap;
use bytes::BytesMut;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use self::api::{ConnInfo, Refused};
use self::cluster::{BarrierId, Mesh, RealmIdx, ShardMsg};
pub use self::dealer::timers::{Clock, SystemClock};
use self::outbox::{CloseReason, OutboxRef, Overflow};
use self::realm::{ConnId, Realm};
use crate::config::{Config, Limits};
use crate::proto::message::code;
use crate::proto::uri::MatchPolicy;
use crate::proto::{
    Abort, Dict, Error, Goodbye, Hello, MAX_ID, Message, Payload, RegistrationId, RequestId,
    Serializer, SessionId, ShardId, SubscriptionId, Value, Welcome,
};

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
}

/// The router's agent string in WELCOME.
pub const AGENT: &str = concat!("Junction/", env!("CARGO_PKG_VERSION"));

/// A map keyed by IDs the router itself assigns (subscription, registration
/// and invocation IDs). Peers cannot choose these keys, so a fixed-key hasher
/// is safe, and it saves each map the 32 octets of a random hasher state
/// (three maps in every session).
type IdMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<ahash::AHasher>>;

/// A joined session.
#[derive(Debug)]
struct Session {
    /// The session's global ID.
    id: SessionId,
    /// Its realm.
    realm: RealmIdx,
    /// Authentication ID.
    authid: String,
    /// Authentication role (permissions come from it).
    authrole: String,
    /// This session's subscriptions: ID → key in the realm's index.
    subscriptions: IdMap<SubscriptionId, (String, MatchPolicy)>,
    /// This session's registrations: ID → key.
    registrations: IdMap<RegistrationId, (String, MatchPolicy)>,
    /// Invocations sent to this session (as callee) and not yet answered.
    invocations: IdMap<RequestId, PendingInvocation>,
    /// Last INVOCATION request ID used towards this session.
    last_invocation: u64,
    /// Dealer-relevant features the client announced in HELLO.
    features: dealer::Features,
    /// Trust level of this session's publications and calls: its role's
    /// (`junction.trustlevel`), else its transport's; fixed at WELCOME.
    trustlevel: Option<u64>,
}

/// Where to send the answer to an invocation.
#[derive(Debug, Clone)]
struct PendingInvocation {
    caller_shard: ShardId,
    caller: SessionId,
    request: RequestId,
    /// The registration invoked (for further INVOCATIONs of a progressive call).
    registration: RegistrationId,
    /// Progressive call invocation still open: the initiating INVOCATION's details.
    stream: Option<Box<Dict>>,
}

/// A connection and, once HELLO succeeded, its session.
struct Conn {
    /// Frames for the peer.
    outbox: OutboxRef,
    /// The negotiated serializer.
    serializer: Serializer,
    /// Transport details.
    info: ConnInfo,
    /// `None` until WELCOME, and again after GOODBYE.
    session: Option<Session>,
    /// Set once the connection is being closed: no more input is processed.
    closing: bool,
    /// Largest frame the peer accepts (`usize::MAX`: no limit).
    max_outbound: usize,
}

/// A replica change waiting for acknowledgements, on its owner shard.
#[derive(Debug)]
struct Barrier {
    /// Acks still expected.
    pending: usize,
    /// The message to send to `to` once all acks are in.
    to: ShardId,
    then: ShardMsg,
}

/// One shard's router. Single-threaded and `!Send` by design: it is owned by
/// its shard's executor and mutated only through `&mut self`.
pub struct ShardRouter {
    /// This shard.
    shard: ShardId,
    /// Number of shards.
    shards: u16,
    /// Realms, indexed by [`RealmIdx`] (same order on every shard).
    realms: Vec<Realm>,
    /// Realm name → index.
    realm_names: AHashMap<String, RealmIdx>,
    /// Connections on this shard.
    conns: AHashMap<ConnId, Box<Conn>>,
    /// Joined sessions on this shard → their connection.
    sessions: AHashMap<SessionId, ConnId>,
    /// Cross-shard sender.
    mesh: Box<dyn Mesh>,
    /// Router-wide limits.
    limits: Limits,
    /// Random IDs (sessions, publications, authids).
    rng: SmallRng,
    /// Last connection ID handed out.
    last_conn: u64,
    /// Barriers this shard owns.
    barriers: AHashMap<BarrierId, Barrier>,
    /// Last barrier ID.
    last_barrier: u64,
    /// Encode buffer: frames are split off it, so one allocation serves many frames.
    scratch: BytesMut,
    /// Connections whose outbox overflowed during the current step; closed at its end.
    overflowed: Vec<ConnId>,
    /// Advanced broker state: retained events, event history, testaments,
    /// meta queries in flight (see `broker_adv.rs`).
    adv: broker::options::AdvState,
    /// Advanced dealer state: calls in flight, deadlines, the clock (see `rpc`).
    rpc: dealer::RpcState,
    /// Sharded subscriptions: node keys waiting and owned (see `sharded_sub.rs`).
    sharded: broker::sharded::ShardedState,
    /// Durable storage of retained events and event history (see `journal.rs`).
    journal: Box<dyn journal::EventJournal>,
}

impl ShardRouter {
    /// A router for shard `shard` of `shards`, serving `config`'s realms,
    /// whose retained events and history live in memory only.
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
        let realms: Vec<Realm> = config.realms.iter().map(Realm::new).collect();
        let realm_names = realms
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i as RealmIdx))
            .collect();
        let mut router = ShardRouter {
            shard,
            shards: shards.max(1),
            realms,
            realm_names,
            conns: AHashMap::new(),
            sessions: AHashMap::new(),
            mesh,
            limits: config.limits.clone(),
            rng: SmallRng::from_rng(&mut rand::rng()),
            last_conn: 0,
            barriers: AHashMap::new(),
            last_barrier: 0,
            scratch: BytesMut::with_capacity(64 * 1024),
            overflowed: Vec::new(),
            adv: broker::options::AdvState::default(),
            rpc: dealer::RpcState::new(),
            sharded: broker::sharded::ShardedState::default(),
            journal,
        };
        router.init_advanced(config);
        router
    }

    /// This router's shard.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// Open connections on this shard.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Joined sessions on this shard.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Subscription and registration index entries on this shard, all realms
    /// (replicas included): zero once every session has left and replicas settled.
    pub fn index_entry_count(&self) -> usize {
        self.realms
            .iter()
            .map(|r| r.subs.len() + r.regs.len() + r.owned_subs.len() + r.owned_regs.len())
            .sum::<usize>()
            + self.sharded.owned_len()
    }

    /// Registers a new connection whose transport handshake succeeded.
    ///
    /// # Errors
    /// [`Refused`] when the shard already holds `limits.max_sessions_per_shard` connections.
    pub fn open(&mut self, info: ConnInfo, outbox: OutboxRef) -> Result<ConnId, Refused> {
        if self.conns.len() >= self.limits.max_sessions_per_shard {
            return Err(Refused("session limit reached"));
        }
        self.last_conn += 1;
        let id = ConnId(self.last_conn);
        let serializer = info.serializer;
        let max_outbound = info.max_outbound.unwrap_or(usize::MAX);
        self.conns.insert(
            id,
            Box::new(Conn {
                outbox,
                serializer,
                info,
                session: None,
                closing: false,
                max_outbound,
            }),
        );
        Ok(id)
    }

    /// The transport is gone: ends the session (if any) and forgets the connection.
    pub fn close(&mut self, conn: ConnId) {
        self.end_session(conn, true);
        self.conns.remove(&conn);
        self.finish_step();
    }

    /// One complete WAMP message from connection `conn`.
    pub fn frame(&mut self, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        match c.serializer.decode(data) {
            Ok(msg) => self.message(conn, msg),
            Err(e) => self.violation(conn, Cow::Owned(e.to_string())),
        }
        self.finish_step();
    }

    /// A message from shard `from`.
    pub fn shard_msg(&mut self, from: ShardId, msg: ShardMsg) {
        self.handle_shard_msg(from, msg);
        self.finish_step();
    }

    /// Router shutdown: every session gets GOODBYE `wamp.close.system_shutdown`
    /// and every connection is asked to close (1001 going away).
    pub fn shutdown(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let established = self.conns.get(&id).is_some_and(|c| c.session.is_some());
            if established {
                let bye = Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: uris::SYSTEM_SHUTDOWN.into(),
                });
                self.send(id, &bye);
            }
            self.end_session(id, true);
            if let Some(c) = self.conns.get_mut(&id) {
                c.closing = true;
                c.outbox.borrow_mut().close(CloseReason::GoingAway);
            }
        }
        self.finish_step();
    }

    fn handle_shard_msg(&mut self, from: ShardId, msg: ShardMsg) {
        match msg {
            ShardMsg::SubJoin {
                realm,
                uri,
                policy,
                from: joiner,
                session,
            } => self.owner_sub_join(realm, uri, policy, joiner, session),
            ShardMsg::SubLeave {
                realm,
                uri,
                policy,
                from: leaver,
                session,
            } => self.owner_sub_leave(realm, uri, policy, leaver, session),
            ShardMsg::SubReplica {
                realm,
                uri,
                policy,
                id,
                shard,
                present,
                barrier,
            } => {
                self.apply_sub_replica(realm, &uri, policy, id, shard, present);
                self.ack(from, barrier);
            }
            ShardMsg::SubJoined {
                realm,
                uri,
                policy,
                id,
            } => self.sub_joined(realm, uri, policy, id),
            ShardMsg::SubNode {
                realm,
                uri,
                policy,
                from: node_shard,
                nkey,
                present,
            } => self.owner_sub_node(realm, uri, policy, node_shard, nkey, present),
            ShardMsg::SubNodeReplica {
                realm,
                uri,
                policy,
                nkey,
                shard,
                present,
                barrier,
            } => {
                self.apply_sub_node_replica(realm, &uri, policy, &nkey, shard, present);
                self.ack(from, barrier);
            }
            ShardMsg::SubNodeJoined {
                realm,
                uri,
                policy,
                nkey,
            } => self.sub_node_joined(realm, uri, policy, nkey),
            ShardMsg::BarrierAck { barrier } => self.barrier_ack(barrier),
            ShardMsg::RegJoin {
                realm,
                uri,
                policy,
                from: callee_shard,
                session,
                request,
                invoke,
                disclose_caller,
                forward_timeout,
            } => self.owner_reg_join(
                realm,
                uri,
                policy,
                callee_shard,
                session,
                request,
                invoke,
                disclose_caller,
                forward_timeout,
            ),
            ShardMsg::RegDone {
                realm,
                uri,
                policy,
                session,
                request,
                result,
            } => self.reg_done(realm, uri, policy, session, request, result),
            ShardMsg::RegLeave {
                realm,
                uri,
                policy,
                id,
                session,
            } => self.owner_reg_leave(realm, uri, policy, id, session),
            ShardMsg::RegReplica {
                realm,
                uri,
                policy,
                id,
                change,
                barrier,
            } => {
                self.apply_reg_replica(realm, &uri, policy, id, &change);
                self.ack(from, barrier);
            }
            ShardMsg::Publish(p) => self.deliver_routed(&p),
            ShardMsg::Call(c) => self.invoke(*c),
            ShardMsg::Return(r) => self.call_return(*r),
            ShardMsg::SubMeta {
                realm,
                subscribed,
                session,
                id,
            } => self.owner_sub_meta(realm, subscribed, session, id),
            ShardMsg::MetaQuery { from, query, q } => self.answer_meta_query(from, query, *q),
            ShardMsg::MetaPart { query, part } => self.meta_part(query, *part),
            ShardMsg::CallChunk(c) => self.call_chunk(*c),
            ShardMsg::Bounce(c) => self.call_bounced(*c),
            ShardMsg::CancelInvocation {
                caller,
                request,
                mode,
                reason,
            } => self.cancel_invocation(caller, request, mode, reason),
            ShardMsg::Revoke {
                realm,
                registration,
                session,
                reason,
            } => self.revoke(realm, registration, session, reason),
        }
    }

    /// Sends `msg` to `to`, or handles it right here when `to` is this shard.
    fn route(&mut self, to: ShardId, msg: ShardMsg) {
        if to == self.shard {
            self.handle_shard_msg(self.shard, msg);
        } else {
            self.mesh.send(to, msg);
        }
    }

    /// Sends a replica change to every other shard and arranges for `then` to
    /// go to `requester` once all of them except the requester have applied it
    /// (the requester applies it before `then` anyway: its channel is FIFO).
    fn broadcast_with_barrier(
        &mut self,
        requester: ShardId,
        then: ShardMsg,
        make: impl Fn(Option<BarrierId>) -> ShardMsg,
    ) {
        let acks = (0..self.shards)
            .filter(|s| *s != self.shard.0 && *s != requester.0)
            .count();
        let barrier = if acks > 0 {
            self.last_barrier += 1;
            Some(self.last_barrier)
        } else {
            None
        };
        for s in 0..self.shards {
            let s = ShardId(s);
            if s == self.shard {
                continue;
            }
            let b = if s == requester { None } else { barrier };
            self.mesh.send(s, make(b));
        }
        match barrier {
            Some(b) => {
                self.barriers.insert(
                    b,
                    Barrier {
                        pending: acks,
                        to: requester,
                        then,
                    },
                );
            }
            None => self.route(requester, then),
        }
    }

    /// Sends a replica change to every other shard, no acknowledgement needed.
    fn broadcast(&mut self, make: impl Fn() -> ShardMsg) {
        for s in 0..self.shards {
            if s != self.shard.0 {
                self.mesh.send(ShardId(s), make());
            }
        }
    }

    fn ack(&mut self, from: ShardId, barrier: Option<BarrierId>) {
        if let Some(barrier) = barrier {
            self.route(from, ShardMsg::BarrierAck { barrier });
        }
    }

    fn barrier_ack(&mut self, id: BarrierId) {
        let Some(b) = self.barriers.get_mut(&id) else {
            return;
        };
        b.pending -= 1;
        if b.pending == 0 {
            let b = self.barriers.remove(&id).expect("barrier present");
            self.route(b.to, b.then);
        }
    }

    /// Closes the connections that overflowed during this step.
    fn finish_step(&mut self) {
        self.close_overflowed();
        self.mesh.flush();
    }

    fn close_overflowed(&mut self) {
        while let Some(conn) = self.overflowed.pop() {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if c.closing {
                continue;
            }
            c.closing = true;
            tracing::warn!(conn = conn.0, peer = %c.info.peer, "closing slow consumer: outbound queue limit reached");
            c.outbox.borrow_mut().close(CloseReason::SlowConsumer);
            self.end_session(conn, true);
        }
    }

    /// Encodes `msg` for `conn` and queues it.
    ///
    /// A message larger than the peer accepts is not sent: a RESULT or a call's
    /// ERROR is replaced by ERROR `wamp.error.payload_size_exceeded` (the call
    /// still ends), anything else is dropped and logged; [`Sent::TooBig`] tells
    /// the caller, e.g. to fail an INVOCATION back to its caller.
    fn send(&mut self, conn: ConnId, msg: &Message) -> Sent {
        let Some(c) = self.conns.get(&conn) else {
            return Sent::Queued;
        };
        c.serializer.encode_into(msg, &mut self.scratch);
        let mut frame = self.scratch.split().freeze();
        let mut sent = Sent::Queued;
        if frame.len() > c.max_outbound {
            sent = Sent::TooBig;
            let Some(reply) = too_big_reply(msg, frame.len(), c.max_outbound) else {
                tracing::warn!(
                    conn = conn.0,
                    message = msg.name(),
                    len = frame.len(),
                    max = c.max_outbound,
                    "message larger than the peer accepts: not sent"
                );
                return sent;
            };
            c.serializer.encode_into(&reply, &mut self.scratch);
            frame = self.scratch.split().freeze();
        }
        if c.outbox.borrow_mut().push(frame) == Err(Overflow) {
            self.overflowed.push(conn);
        }
        sent
    }

    /// Sends `msg` to a session on this shard, if it is still here.
    fn send_to_session(&mut self, session: SessionId, msg: &Message) {
        if let Some(&conn) = self.sessions.get(&session) {
            self.send(conn, msg);
        }
    }

    /// Replies with ERROR to a request.
    fn error(
        &mut self,
        conn: ConnId,
        request_type: u64,
        request: RequestId,
        error: &str,
        message: Option<String>,
    ) {
        let payload = match message {
            Some(m) => Payload::args(vec![Value::Str(m)]),
            None => Payload::empty(),
        };
        let msg = Message::Error(Error {
            request_type,
            request,
            details: Dict::new(),
            error: error.to_owned(),
            payload,
        });
        self.send(conn, &msg);
    }

    /// Ends the connection for a protocol violation: ABORT with the reason, then close.
    fn violation(&mut self, conn: ConnId, reason: Cow<'static, str>) {
        tracing::debug!(conn = conn.0, %reason, "protocol violation");
        let abort = Message::Abort(Abort {
            details: Dict::new().with("message", reason.as_ref()),
            reason: uris::PROTOCOL_VIOLATION.into(),
            payload: Payload::empty(),
        });
        self.send(conn, &abort);
        self.end_session(conn, true);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.outbox
                .borrow_mut()
                .close(CloseReason::ProtocolViolation(reason));
        }
    }

    fn message(&mut self, conn: ConnId, msg: Message) {
        let established = self.conns.get(&conn).is_some_and(|c| c.session.is_some());
        if !established {
            return match msg {
                Message::Hello(h) => self.hello(conn, h),
                Message::Abort(_) => self.close_quietly(conn),
                other => self.violation(
                    conn,
                    Cow::Owned(format!(
                        "{} received before the session was established",
                        other.name()
                    )),
                ),
            };
        }
        match msg {
            Message::Publish(m) => self.publish(conn, m),
            Message::Subscribe(m) => self.subscribe(conn, m),
            Message::Unsubscribe(m) => self.unsubscribe(conn, m),
            Message::Call(m) => self.call(conn, m),
            Message::Register(m) => self.register(conn, m),
            Message::Unregister(m) => self.unregister(conn, m),
            Message::Yield(m) => self.yield_(conn, m),
            Message::Error(m) if m.request_type == code::INVOCATION => {
                self.invocation_error(conn, m)
            }
            Message::Error(m) => self.violation(
                conn,
                Cow::Owned(format!(
                    "ERROR for a {} request is not valid from a client",
                    crate::proto::code_name(m.request_type)
                )),
            ),
            Message::Goodbye(_) => {
                let reply = Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: uris::GOODBYE_AND_OUT.into(),
                });
                self.send(conn, &reply);
                self.end_session(conn, false);
            }
            Message::Abort(_) => self.close_quietly(conn),
            Message::Cancel(m) => self.cancel(conn, m),
            Message::Hello(_) => self.violation(
                conn,
                Cow::Borrowed("HELLO received on an established session"),
            ),
            other => self.violation(
                conn,
                Cow::Owned(format!(
                    "{} is not a message a client may send here",
                    other.name()
                )),
            ),
        }
    }

    /// The peer ABORTed: end the session and close without a reply.
    fn close_quietly(&mut self, conn: ConnId) {
        self.end_session(conn, true);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.outbox.borrow_mut().close(CloseReason::Normal);
        }
    }

    fn abort(&mut self, conn: ConnId, reason: &str, message: String) {
        let abort = Message::Abort(Abort {
            details: Dict::new().with("message", message),
            reason: reason.to_owned(),
            payload: Payload::empty(),
        });
        self.send(conn, &abort);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.outbox.borrow_mut().close(CloseReason::Normal);
        }
    }

    fn hello(&mut self, conn: ConnId, hello: Hello) {
        let Some(&realm) = self.realm_names.get(&hello.realm) else {
            return self.abort(
                conn,
                uris::NO_SUCH_REALM,
                format!("no realm '{}' on this router", hello.realm),
            );
        };
        let c = self.conns.get(&conn).expect("conn checked by caller");
        let Some(role) = c.info.transport.auth.anonymous_role.clone() else {
            return self.abort(
                conn,
                uris::NO_AUTH_METHOD,
                "this transport accepts no authentication method Junction supports yet".into(),
            );
        };
        if let Some(Value::List(methods)) = hello.details.get("authmethods")
            && !methods.iter().any(|m| m.as_str() == Some("anonymous"))
        {
            return self.abort(
                conn,
                uris::NO_AUTH_METHOD,
                "the only authentication method offered here is 'anonymous'".into(),
            );
        }
        if !self.realms[realm as usize].authz.has_role(&role) {
            return self.abort(
                conn,
                uris::NO_SUCH_ROLE,
                format!("role '{role}' does not exist on realm '{}'", hello.realm),
            );
        }
        let trustlevel = self.realms[realm as usize]
            .trustlevels
            .get(&role)
            .copied()
            .or(self
                .conns
                .get(&conn)
                .and_then(|c| c.info.transport.auth.trustlevel));
        let id = self.new_session_id();
        let authid = self.random_authid();
        let details = Dict::new()
            .with("realm", hello.realm.as_str())
            .with("authid", authid.as_str())
            .with("authrole", role.as_str())
            .with("authmethod", "anonymous")
            .with("authprovider", "static")
            .with("agent", AGENT)
            .with("roles", router_roles())
            .with("x_junction_shard", u64::from(self.shard.0));
        let c = self.conns.get_mut(&conn).expect("conn checked by caller");
        c.session = Some(Session {
            id,
            realm,
            authid,
            authrole: role,
            subscriptions: IdMap::default(),
            registrations: IdMap::default(),
            invocations: IdMap::default(),
            last_invocation: 0,
            features: dealer::Features::from_hello(&hello.details),
            trustlevel,
        });
        self.sessions.insert(id, conn);
        self.send(
            conn,
            &Message::Welcome(Welcome {
                session: id,
                details,
            }),
        );
        self.session_joined(conn);
    }

    /// A random session ID in `[1, 2^53]`, unique across shards without
    /// coordination: IDs drawn here are congruent to `shard + 1` modulo the
    /// shard count, and unique among this shard's live sessions.
    fn new_session_id(&mut self) -> SessionId {
        let n = u64::from(self.shards);
        let slots = (MAX_ID - 1 - u64::from(self.shard.0)) / n;
        loop {
            let r = self.rng.random_range(0..=slots);
            let id = SessionId(r * n + u64::from(self.shard.0) + 1);
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn random_authid(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut s = String::with_capacity(29);
        for i in 0..24 {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char);
        }
        s
    }

    /// Ends `conn`'s session: leaves every subscription and registration and
    /// fails every invocation it owed. `lost` tells whether the transport is gone.
    fn end_session(&mut self, conn: ConnId, lost: bool) {
        let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.take()) else {
            return;
        };
        let _ = lost;
        self.sessions.remove(&session.id);
        self.rpc_caller_left(session.id);
        let realm = session.realm;
        for (_, (uri, policy)) in session.subscriptions {
            self.local_unsubscribe(realm, &uri, policy, conn, session.id);
        }
        for (id, (uri, policy)) in session.registrations {
            let owner = cluster::owner_of(realm, &uri, policy, self.shards);
            self.route(
                owner,
                ShardMsg::RegLeave {
                    realm,
                    uri,
                    policy,
                    id,
                    session: session.id,
                },
            );
        }
        self.rpc_callee_left(session.invocations.into_values());
        self.session_ended(
            conn,
            session.id,
            realm,
            session.authid,
            session.authrole,
            session.trustlevel,
        );
    }

    /// The session on `conn`, if established.
    fn session(&self, conn: ConnId) -> Option<&Session> {
        self.conns.get(&conn).and_then(|c| c.session.as_ref())
    }

    fn session_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        self.conns.get_mut(&conn).and_then(|c| c.session.as_mut())
    }
}

/// What [`ShardRouter::send`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Queued on the connection's outbox (or the connection is gone).
    Queued,
    /// Larger than the peer accepts: not queued as it was (see `send`).
    TooBig,
}

/// The ERROR that replaces a call's RESULT or ERROR too large for its caller.
fn too_big_reply(msg: &Message, len: usize, max: usize) -> Option<Message> {
    let request = match msg {
        Message::Result(r) => r.request,
        Message::Error(e) if e.request_type == code::CALL => e.request,
        _ => return None,
    };
    Some(Message::Error(Error {
        request_type: code::CALL,
        request,
        details: Dict::new(),
        error: uris::PAYLOAD_SIZE_EXCEEDED.to_owned(),
        payload: Payload::args(vec![Value::Str(format!(
            "the call's answer is {len} bytes; this client accepts at most {max}"
        ))]),
    }))
}

/// WELCOME `roles`: what this router announces. Features are listed exactly when they work.
fn router_roles() -> Dict {
    let broker = Dict::new().with(
        "features",
        Dict::new()
            .with("pattern_based_subscription", true)
            .with("publisher_exclusion", true)
            .with("publisher_identification", true)
            .with("subscriber_blackwhite_listing", true)
            .with("publication_trustlevels", true)
            .with("event_history", true)
            .with("event_retention", true)
            .with("subscription_meta_api", true)
            .with("session_meta_api", true)
            // Sharded subscriptions: the spec's announcement key is misspelled
            // ("shareded_subscriptions"); clients written against the spec
            // look for that one, others for the regular spelling: send both.
            .with("shareded_subscriptions", true)
            .with("sharded_subscription", true),
    );
    let dealer = Dict::new().with(
        "features",
        Dict::new()
            .with("pattern_based_registration", true)
            .with("caller_identification", true)
            .with("progressive_call_results", true)
            .with("progressive_call_invocations", true)
            .with("call_canceling", true)
            .with("call_timeout", true)
            .with("call_trustlevels", true)
            .with("shared_registration", true)
            .with("sharded_registration", true)
            .with("registration_revocation", true)
            .with("registration_meta_api", true)
            .with("session_meta_api", true)
            .with("testament_meta_api", true),
    );
    Dict::new().with("broker", broker).with("dealer", dealer)
}

/// Parses the `match` option.
fn match_policy(options: &Dict) -> Result<MatchPolicy, String> {
    match options.get("match") {
        None => Ok(MatchPolicy::Exact),
        Some(Value::Str(s)) => {
            MatchPolicy::parse(s).ok_or_else(|| format!("unknown match policy '{s}'"))
        }
        Some(_) => Err("option 'match' must be a string".to_owned()),
    }
}

#[cfg(test)]
mod tests;

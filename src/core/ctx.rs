//! What every part of one shard's routing core shares while it handles an
//! input: the shard's place among the shards, the links and their sessions,
//! the realms' settings, the random source, and the queues through which the
//! parts hand work to each other without calling each other.
//!
//! The parts (broker, dealer, sessions, meta API) each own their state and
//! get `&mut Ctx` for everything else. They never call one another: a
//! message for this shard's own part of the cluster protocol goes to
//! [`Ctx::route`] (queued and run after the current input), a publication
//! the router makes on its own behalf outside the broker goes to
//! [`Ctx::publish_later`], and a session that must end goes to
//! [`Ctx::end_session_later`]. [`ShardRouter`](super::ShardRouter) drains
//! those queues at the end of every input, in that order, until all are
//! empty; only then does the step end (slow consumers closed, peers woken).

use std::borrow::Cow;
use std::collections::VecDeque;

use ahash::AHashMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::LinkId;
use super::cluster::{BarrierId, CallReturn, Mesh, RealmIdx, RoutedCall, RoutedPublish, ShardMsg};
use super::outbox::CloseReason;
use super::realm::Realm;
use super::session::Links;
use super::uris;
use crate::config::{Config, Limits};
use crate::proto::{Abort, Dict, MAX_ID, Message, Payload, PublicationId, SessionId, ShardId};

/// A replica change waiting for acknowledgements, on its owner shard.
#[derive(Debug)]
struct Barrier {
    /// Acks still expected.
    pending: usize,
    /// The message to send to `to` once all acks are in.
    to: ShardId,
    then: ShardMsg,
}

/// A message this shard sent itself ([`Ctx::route`]): calls and their
/// returns as they are, without the box they travel in between shards.
pub(crate) enum Local {
    /// Any message, as another shard would get it.
    Msg(ShardMsg),
    /// A call for a callee on this shard ([`Ctx::route_call`]).
    Call(RoutedCall),
    /// A call's result or error for a caller on this shard ([`Ctx::route_return`]).
    Return(CallReturn),
}

/// Shared state of one shard's routing core (see the module header).
pub(crate) struct Ctx {
    /// This shard.
    pub shard: ShardId,
    /// Number of shards.
    pub shards: u16,
    /// Realms, indexed by [`RealmIdx`] (the same order on every shard).
    pub realms: Vec<Realm>,
    /// Realm name → index.
    pub realm_names: AHashMap<String, RealmIdx>,
    /// Links, their sessions, and the encoder of what is sent to them.
    pub links: Links,
    /// Router-wide limits.
    pub limits: Limits,
    /// Random IDs (sessions, publications, authids) and random callee picks.
    pub rng: SmallRng,
    /// Cross-shard sender.
    mesh: Box<dyn Mesh>,
    /// Messages this shard sent itself, run after the current input.
    local: VecDeque<Local>,
    /// Publications made by the router outside the broker (meta events),
    /// routed after the current input.
    later: VecDeque<RoutedPublish>,
    /// Front-end messages from other shards, for the runtime to take.
    pub front_inbox: Vec<super::cluster::FrontMsg>,
    /// Links whose session ends after the current input (`lost`: the
    /// transport is gone or being closed).
    ending: Vec<(LinkId, bool)>,
    /// Barriers this shard owns.
    barriers: AHashMap<BarrierId, Barrier>,
    /// Last barrier ID.
    last_barrier: u64,
}

impl Ctx {
    /// The shared state of shard `shard` of `shards`, serving `config`.
    pub fn new(shard: ShardId, shards: u16, config: &Config, mesh: Box<dyn Mesh>) -> Ctx {
        let realms: Vec<Realm> = config.realms.iter().map(Realm::new).collect();
        let realm_names = realms
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i as RealmIdx))
            .collect();
        Ctx {
            shard,
            shards: shards.max(1),
            realms,
            realm_names,
            links: Links::new(),
            limits: config.limits.clone(),
            rng: SmallRng::from_rng(&mut rand::rng()),
            mesh,
            local: VecDeque::new(),
            later: VecDeque::new(),
            front_inbox: Vec::new(),
            ending: Vec::new(),
            barriers: AHashMap::new(),
            last_barrier: 0,
        }
    }

    /// Sends `msg` to shard `to`; a message to this shard runs after the current input.
    pub fn route(&mut self, to: ShardId, msg: ShardMsg) {
        if to == self.shard {
            self.local.push_back(Local::Msg(msg));
        } else {
            self.mesh.send(to, msg);
        }
    }

    /// Sends a call to the callee's shard `to`: boxed only to cross shards
    /// (the mesh message stays small); a call to this shard queues as it is.
    pub fn route_call(&mut self, to: ShardId, call: RoutedCall) {
        if to == self.shard {
            self.local.push_back(Local::Call(call));
        } else {
            self.mesh.send(to, ShardMsg::Call(Box::new(call)));
        }
    }

    /// Sends a call's result or error to the caller's shard `to`, boxed only
    /// to cross shards, as [`Ctx::route_call`].
    pub fn route_return(&mut self, to: ShardId, ret: CallReturn) {
        if to == self.shard {
            self.local.push_back(Local::Return(ret));
        } else {
            self.mesh.send(to, ShardMsg::Return(Box::new(ret)));
        }
    }

    /// Sends `msg` to another shard (never this one).
    pub fn send_remote(&mut self, to: ShardId, msg: ShardMsg) {
        debug_assert_ne!(to, self.shard, "send_remote to self");
        self.mesh.send(to, msg);
    }

    /// Sends a replica change to every other shard, no acknowledgement needed.
    pub fn broadcast(&mut self, make: impl Fn() -> ShardMsg) {
        for s in 0..self.shards {
            if s != self.shard.0 {
                self.mesh.send(ShardId(s), make());
            }
        }
    }

    /// Sends a replica change to every other shard and arranges for `then` to
    /// go to `requester` once all of them except the requester have applied it
    /// (the requester applies it before `then` anyway: its channel is FIFO).
    pub fn broadcast_with_barrier(
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

    /// Acknowledges a replica change to its owner, when it asked for it.
    pub fn ack(&mut self, from: ShardId, barrier: Option<BarrierId>) {
        if let Some(barrier) = barrier {
            self.route(from, ShardMsg::BarrierAck { barrier });
        }
    }

    /// One acknowledgement of a barrier this shard owns.
    pub fn barrier_ack(&mut self, id: BarrierId) {
        let Some(b) = self.barriers.get_mut(&id) else {
            return;
        };
        b.pending -= 1;
        if b.pending == 0 {
            let b = self.barriers.remove(&id).expect("barrier present");
            self.route(b.to, b.then);
        }
    }

    /// Routes a publication the router makes itself (a meta event) to
    /// `topic` in `realm` after the current input.
    pub fn publish_later(&mut self, realm: RealmIdx, topic: &str, details: Dict, payload: Payload) {
        let p = self.internal_publication(realm, topic, details, payload);
        self.later.push_back(p);
    }

    /// A publication the router makes itself (meta events, testaments): no
    /// publisher, nothing excluded.
    pub fn internal_publication(
        &mut self,
        realm: RealmIdx,
        topic: &str,
        details: Dict,
        payload: Payload,
    ) -> RoutedPublish {
        RoutedPublish {
            realm,
            topic: topic.to_owned(),
            publication: PublicationId(self.rng_id()),
            publisher: SessionId(0),
            exclude_me: false,
            details,
            payload,
            filter: None,
            retain: false,
            rkey: None,
            native: None,
        }
    }

    /// Ends `link`'s session after the current input.
    pub fn end_session_later(&mut self, link: LinkId, lost: bool) {
        self.ending.push((link, lost));
    }

    /// The next message this shard sent itself.
    pub fn next_local(&mut self) -> Option<Local> {
        self.local.pop_front()
    }

    /// The next publication queued by [`Ctx::publish_later`].
    pub fn next_later(&mut self) -> Option<RoutedPublish> {
        self.later.pop_front()
    }

    /// The sessions queued by [`Ctx::end_session_later`].
    pub fn take_ending(&mut self) -> Vec<(LinkId, bool)> {
        std::mem::take(&mut self.ending)
    }

    /// Whether any queue still holds work for this step.
    pub fn has_queued(&self) -> bool {
        !self.local.is_empty() || !self.later.is_empty() || !self.ending.is_empty()
    }

    /// End of a step: lets the mesh wake the peers sent to, once each.
    pub fn flush_mesh(&mut self) {
        self.mesh.flush();
    }

    /// Ends the link for a protocol violation: ABORT with the reason, then
    /// close; its session ends after the current input.
    pub fn violation(&mut self, link: LinkId, reason: Cow<'static, str>) {
        tracing::debug!(link = link.0, %reason, "protocol violation");
        let abort = Message::Abort(Abort {
            details: Dict::new().with("message", reason.as_ref()),
            reason: uris::PROTOCOL_VIOLATION.into(),
            payload: Payload::empty(),
        });
        self.links.send(link, &abort);
        self.links
            .close_link(link, CloseReason::ProtocolViolation(reason));
        self.end_session_later(link, true);
    }

    /// A random session ID in `[1, 2^53]`, unique across shards without
    /// coordination: IDs drawn here are congruent to `shard + 1` modulo the
    /// shard count, and unique among this shard's live sessions.
    pub fn new_session_id(&mut self) -> SessionId {
        let n = u64::from(self.shards);
        let slots = (MAX_ID - 1 - u64::from(self.shard.0)) / n;
        loop {
            let r = self.rng.random_range(0..=slots);
            let id = SessionId(r * n + u64::from(self.shard.0) + 1);
            if !self.links.has_session(id) {
                return id;
            }
        }
    }

    /// A random global-scope ID in `[1, 2^53]` (publications).
    pub fn rng_id(&mut self) -> u64 {
        self.rng.random_range(1..=MAX_ID)
    }

    /// The shard that drew a session ID or owns a subscription ID.
    pub fn shard_of_id(&self, id: u64) -> ShardId {
        ShardId((id.saturating_sub(1) % u64::from(self.shards)) as u16)
    }
}

impl super::session::Host for Ctx {
    fn links(&mut self) -> &mut Links {
        &mut self.links
    }

    fn realm_index(&self, name: &str) -> Option<RealmIdx> {
        self.realm_names.get(name).copied()
    }

    fn realm_name(&self, realm: RealmIdx) -> &str {
        &self.realms[realm as usize].name
    }

    fn has_role(&self, realm: RealmIdx, role: &str) -> bool {
        self.realms[realm as usize].authz.has_role(role)
    }

    fn role_trustlevel(&self, realm: RealmIdx, role: &str) -> Option<u64> {
        self.realms[realm as usize].trustlevels.get(role).copied()
    }

    fn new_session_id(&mut self) -> SessionId {
        Ctx::new_session_id(self)
    }

    fn shard_index(&self) -> u16 {
        self.shard.0
    }

    fn violation(&mut self, link: LinkId, reason: Cow<'static, str>) {
        Ctx::violation(self, link, reason)
    }
}

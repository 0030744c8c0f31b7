//! The cross-shard protocol: every message one shard sends another is a
//! [`ShardMsg`], carried by a [`Mesh`] (FIFO per shard pair).
//!
//! Ownership: each (realm, URI, match policy) has an *owner shard*
//! ([`owner_of`]) that holds the authoritative subscription/registration entry
//! and assigns its ID. Every shard holds a *replica* of the index saying which
//! shards have members. Changes flow owner → all shards as `*Replica` messages;
//! a join is acknowledged to the requesting shard only after every other shard
//! has applied the change (the barrier), so a client that has seen SUBSCRIBED or
//! REGISTERED is visible to every publish or call accepted afterwards anywhere.
//! See docs/architecture.md for the flows.

//!
//! This module depends on nothing else in the routing core (only on `proto`),
//! so every part of the core can use it without import cycles:
//! - `publish.rs`: [`RoutedPublish`] and its [`PublishFilter`];
//! - `call.rs`: [`RoutedCall`], [`CallChunk`], [`CallReturn`], cancels, and
//!   the registration entries replicas share ([`CalleeRef`], [`InvokePolicy`]);
//! - `query.rs`: meta-procedure scatter-gather ([`MetaQuery`], [`MetaPart`]).

mod call;
mod publish;
mod query;

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

pub use self::call::{
    CallChunk, CallReturn, CalleeRef, CancelMode, InvokePolicy, RegChange, RoutedCall,
};
pub use self::publish::{Native, PublishFilter, RoutedPublish};
pub use self::query::{EventsQuery, KillTarget, MetaPart, MetaQuery};
use crate::proto::uri::MatchPolicy;
use crate::proto::{RegistrationId, RequestId, SessionId, ShardId, SubscriptionId};

/// Index of a realm in the node config; identical on every shard.
pub type RealmIdx = u32;

/// Identifies one barrier (a replica change waiting for acknowledgements) on its owner shard.
pub type BarrierId = u64;

/// Carries [`ShardMsg`]s between shards. Sends never block: the runtime's mesh
/// is unbounded per shard pair (back-pressure lives in the session outboxes).
pub trait Mesh {
    /// Sends `msg` to shard `to`. Messages from one shard to another arrive in send order.
    fn send(&mut self, to: ShardId, msg: ShardMsg);
    /// Called at the end of every router step: a chance to wake the peers sent
    /// to, once each, instead of once per message.
    fn flush(&mut self) {}
}

/// A set of shards, as a bitmap. Junction supports up to [`ShardSet::MAX`] shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardSet([u64; 4]);

impl ShardSet {
    /// The largest shard count a set can hold.
    pub const MAX: usize = 256;

    /// Adds a shard; returns whether it was absent.
    pub fn insert(&mut self, s: ShardId) -> bool {
        let (w, b) = (s.index() / 64, s.index() % 64);
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }

    /// Removes a shard; returns whether it was present.
    pub fn remove(&mut self, s: ShardId) -> bool {
        let (w, b) = (s.index() / 64, s.index() % 64);
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] &= !(1 << b);
        was
    }

    /// Whether the shard is in the set.
    pub fn contains(&self, s: ShardId) -> bool {
        self.0[s.index() / 64] & (1 << (s.index() % 64)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// Adds every shard of `other`.
    pub fn union_with(&mut self, other: &ShardSet) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= *b;
        }
    }

    /// The shards in the set, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = ShardId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, bits)| {
            let mut bits = *bits;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(ShardId((w * 64 + b) as u16))
            })
        })
    }
}

/// The shard that owns (realm, uri, policy). Deterministic and the same on
/// every shard (fixed hash seeds).
pub fn owner_of(realm: RealmIdx, uri: &str, policy: MatchPolicy, shards: u16) -> ShardId {
    if shards <= 1 {
        return ShardId(0);
    }
    let mut h = ahash::RandomState::with_seeds(0x6a75_6e63, 0x7469_6f6e, 0x7761_6d70, 0x0002_0000)
        .build_hasher();
    realm.hash(&mut h);
    uri.hash(&mut h);
    policy.hash(&mut h);
    ShardId((h.finish() % u64::from(shards)) as u16)
}

/// The `n`-th ID (n ≥ 1) an owner shard assigns in a realm (subscription
/// and registration IDs): `(n - 1) * shards + shard + 1`, so IDs of
/// different owners never collide and `(id - 1) % shards` names the owner.
pub fn spread_id(n: u64, shard: ShardId, shards: u16) -> u64 {
    (n - 1) * u64::from(shards) + u64::from(shard.0) + 1
}

/// A front end's message between shards, opaque to the core: the runtime
/// takes it out with [`crate::core::ShardRouter::take_front_msgs`] and hands
/// it to the front end that sent it.
pub struct FrontMsg(pub Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for FrontMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrontMsg")
    }
}

/// Every message between shards.
#[derive(Debug)]
pub enum ShardMsg {
    /// To the owner: shard `from` now has local subscribers for (uri, policy).
    SubJoin {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The shard that gained subscribers.
        from: ShardId,
        /// The session whose SUBSCRIBE caused the join (for `on_create`).
        session: SessionId,
    },
    /// To the joining shard, after the barrier: the subscription's ID.
    SubJoined {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The realm-wide subscription ID.
        id: SubscriptionId,
    },
    /// To the owner: shard `from` has no local subscribers for (uri, policy) any more.
    SubLeave {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The shard that lost its last subscriber.
        from: ShardId,
        /// The last session that left (for `on_delete`).
        session: SessionId,
    },
    /// From the owner to every shard: `shard` has (or no longer has) subscribers.
    SubReplica {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The subscription ID.
        id: SubscriptionId,
        /// The shard whose membership changed.
        shard: ShardId,
        /// Added (`true`) or removed.
        present: bool,
        /// Acknowledge to the owner with this barrier, when set.
        barrier: Option<BarrierId>,
    },
    /// To the owner: a replica change was applied.
    BarrierAck {
        /// The barrier being acknowledged.
        barrier: BarrierId,
    },
    /// To the owner: a session asks to register (uri, policy).
    RegJoin {
        /// Realm.
        realm: RealmIdx,
        /// Procedure or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The callee's shard.
        from: ShardId,
        /// The callee session.
        session: SessionId,
        /// Its REGISTER request ID.
        request: RequestId,
        /// `REGISTER.Options.invoke`.
        invoke: InvokePolicy,
        /// `REGISTER.Options.disclose_caller`.
        disclose_caller: bool,
        /// `REGISTER.Options.forward_timeout`.
        forward_timeout: bool,
        /// `REGISTER.Options.force_reregister`: the registration's callees
        /// are revoked and this one takes it.
        force_reregister: bool,
    },
    /// To the callee's shard: the REGISTER's outcome (after the barrier on success).
    RegDone {
        /// Realm.
        realm: RealmIdx,
        /// Procedure or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The callee session.
        session: SessionId,
        /// Its REGISTER request ID.
        request: RequestId,
        /// The registration ID, or the error URI.
        result: Result<RegistrationId, &'static str>,
    },
    /// To the owner: the registration ends (UNREGISTER or callee gone).
    RegLeave {
        /// Realm.
        realm: RealmIdx,
        /// Procedure or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The registration ending.
        id: RegistrationId,
        /// The callee session leaving it.
        session: SessionId,
    },
    /// To the owner: the callee's UNREGISTER. Like [`ShardMsg::RegLeave`], and
    /// acknowledged with [`ShardMsg::RegUnregistered`] once the owner and
    /// every replica have removed the callee, so that UNREGISTERED means the
    /// procedure is free everywhere (as REGISTERED waits for the owner).
    RegUnregister {
        /// Realm.
        realm: RealmIdx,
        /// Procedure or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The registration ending.
        id: RegistrationId,
        /// The callee session leaving it.
        session: SessionId,
        /// The callee's shard, which gets the acknowledgement.
        from: ShardId,
        /// The UNREGISTER request ID.
        request: RequestId,
    },
    /// To the callee's shard: the owner has removed the callee (after the
    /// barrier); UNREGISTERED may go to the callee.
    RegUnregistered {
        /// The callee session.
        session: SessionId,
        /// Its UNREGISTER request ID.
        request: RequestId,
    },
    /// From the owner to every shard: the registration's callee, or its removal.
    RegReplica {
        /// Realm.
        realm: RealmIdx,
        /// Procedure or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The registration ID.
        id: RegistrationId,
        /// The callee joining or leaving.
        change: RegChange,
        /// Acknowledge to the owner with this barrier, when set.
        barrier: Option<BarrierId>,
    },
    /// To the owner: shard `from` gained its first (`present`) or lost its
    /// last subscriber of node key `nkey` of (uri, policy) (sharded subscriptions).
    SubNode {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The shard whose node-key membership changed.
        from: ShardId,
        /// The node key (`SUBSCRIBE.Options.nkey`).
        nkey: String,
        /// Joined (`true`) or left.
        present: bool,
    },
    /// From the owner to every shard: `shard` has (or no longer has)
    /// subscribers of node key `nkey` of (uri, policy).
    SubNodeReplica {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The node key.
        nkey: String,
        /// The shard whose membership changed.
        shard: ShardId,
        /// Added (`true`) or removed.
        present: bool,
        /// Acknowledge to the owner with this barrier, when set.
        barrier: Option<BarrierId>,
    },
    /// To the joining shard, after the barrier: its node-key membership is
    /// known everywhere; the waiting SUBSCRIBEs can be answered.
    SubNodeJoined {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// The node key.
        nkey: String,
    },
    /// A publication for the destination shard's local subscribers.
    Publish(Arc<RoutedPublish>),
    /// A front end's own message to its peer on another shard (MQTT:
    /// session takeover); the core hands it to the runtime untouched.
    Front(FrontMsg),
    /// A call for a callee on the destination shard.
    Call(Box<RoutedCall>),
    /// A call given back to the caller's shard because its callee had left the
    /// registration: the caller's shard picks another callee (shared registrations).
    Bounce(Box<RoutedCall>),
    /// A call given back to the caller's shard because its callee has as
    /// many invocations in flight as its REGISTER's `concurrency` allows:
    /// the caller's shard picks another callee, or fails the call with
    /// `crossbar.error.max_concurrency_reached`.
    Busy(Box<RoutedCall>),
    /// A call's result or error for a caller on the destination shard.
    Return(Box<CallReturn>),
    /// From a callee's shard, in a realm with a call queue: `callee` (on
    /// `shard`) can take one more invocation of `registration` (an invocation
    /// ended, or it took a queued call and has room left). The destination
    /// sends its first waiting call of that registration there.
    SlotFree {
        /// Realm.
        realm: RealmIdx,
        /// The registration.
        registration: RegistrationId,
        /// The callee with a free slot.
        callee: SessionId,
        /// The callee's shard.
        shard: ShardId,
    },
    /// To a subscription's owner: publish `wamp.subscription.on_subscribe` or
    /// `on_unsubscribe` (from the owner, so that each subscription's meta
    /// events are ordered with its `on_create`/`on_delete`).
    SubMeta {
        /// Realm.
        realm: RealmIdx,
        /// `true`: on_subscribe; `false`: on_unsubscribe.
        subscribed: bool,
        /// The session added or removed.
        session: SessionId,
        /// The subscription.
        id: SubscriptionId,
    },
    /// A meta-procedure question for the destination shard (scatter).
    MetaQuery {
        /// The asking shard, which gets the [`ShardMsg::MetaPart`] answer.
        from: ShardId,
        /// The asker's query ID.
        query: u64,
        /// The question.
        q: Box<MetaQuery>,
    },
    /// One shard's answer to a [`ShardMsg::MetaQuery`] (gather).
    MetaPart {
        /// The asker's query ID.
        query: u64,
        /// The answer.
        part: Box<MetaPart>,
    },
    /// A further chunk of a progressive call invocation, for the callee's shard.
    CallChunk(Box<CallChunk>),
    /// To the callee's shard: cancel the invocation of (caller, request).
    CancelInvocation {
        /// The caller session.
        caller: SessionId,
        /// The caller's CALL request ID.
        request: RequestId,
        /// How to cancel.
        mode: CancelMode,
        /// INTERRUPT `reason` (`wamp.error.canceled`, `wamp.error.timeout`).
        reason: &'static str,
    },
    /// To the callee's shard: the router revokes `session`'s registration
    /// (`wamp.registration.remove`): UNREGISTERED with request 0 goes to the callee.
    Revoke {
        /// Realm.
        realm: RealmIdx,
        /// The registration.
        registration: RegistrationId,
        /// The callee session.
        session: SessionId,
        /// `UNREGISTERED.Details.reason`, if given.
        reason: Option<String>,
    },
}

/// What a cross-shard message is for, as the runtime counts crossings
/// (`junction_cross_shard_messages_by_kind_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// A publication for the shard's subscribers ([`ShardMsg::Publish`]).
    Publish = 0,
    /// A call, a chunk, a cancel or a bounced call for a callee's shard.
    Call = 1,
    /// A call's result or error for the caller's shard.
    Return = 2,
    /// Index upkeep: subscription and registration joins, leaves,
    /// replicas, barrier acks, node keys, revocations, subscription meta events.
    Index = 3,
    /// Meta-procedure scatter/gather.
    Meta = 4,
    /// A front end's own message (MQTT session takeover).
    Front = 5,
}

impl MsgKind {
    /// Every kind, in index order.
    pub const ALL: [MsgKind; 6] = [
        MsgKind::Publish,
        MsgKind::Call,
        MsgKind::Return,
        MsgKind::Index,
        MsgKind::Meta,
        MsgKind::Front,
    ];

    /// The kind's label in metrics.
    pub fn name(self) -> &'static str {
        match self {
            MsgKind::Publish => "publish",
            MsgKind::Call => "call",
            MsgKind::Return => "return",
            MsgKind::Index => "index",
            MsgKind::Meta => "meta",
            MsgKind::Front => "front",
        }
    }
}

impl ShardMsg {
    /// The realm the message is about, where it names one (a message about
    /// a realm its receiver has not added yet waits for the receiver's
    /// reload: see `core/ops.rs`).
    pub fn realm(&self) -> Option<RealmIdx> {
        match self {
            ShardMsg::SubJoin { realm, .. }
            | ShardMsg::SubJoined { realm, .. }
            | ShardMsg::SubLeave { realm, .. }
            | ShardMsg::SubReplica { realm, .. }
            | ShardMsg::RegJoin { realm, .. }
            | ShardMsg::RegDone { realm, .. }
            | ShardMsg::RegLeave { realm, .. }
            | ShardMsg::RegUnregister { realm, .. }
            | ShardMsg::RegReplica { realm, .. }
            | ShardMsg::SubNode { realm, .. }
            | ShardMsg::SubNodeReplica { realm, .. }
            | ShardMsg::SubNodeJoined { realm, .. }
            | ShardMsg::SubMeta { realm, .. }
            | ShardMsg::SlotFree { realm, .. }
            | ShardMsg::Revoke { realm, .. } => Some(*realm),
            ShardMsg::Publish(p) => Some(p.realm),
            ShardMsg::Call(c) | ShardMsg::Bounce(c) | ShardMsg::Busy(c) => Some(c.realm),
            ShardMsg::MetaQuery { q, .. } => Some(q.realm()),
            ShardMsg::BarrierAck { .. }
            | ShardMsg::RegUnregistered { .. }
            | ShardMsg::Front(_)
            | ShardMsg::Return(_)
            | ShardMsg::MetaPart { .. }
            | ShardMsg::CallChunk(_)
            | ShardMsg::CancelInvocation { .. } => None,
        }
    }

    /// What the message is for.
    pub fn kind(&self) -> MsgKind {
        match self {
            ShardMsg::Publish(_) => MsgKind::Publish,
            ShardMsg::Call(_)
            | ShardMsg::Bounce(_)
            | ShardMsg::Busy(_)
            | ShardMsg::SlotFree { .. }
            | ShardMsg::CallChunk(_)
            | ShardMsg::CancelInvocation { .. } => MsgKind::Call,
            ShardMsg::Return(_) => MsgKind::Return,
            ShardMsg::SubJoin { .. }
            | ShardMsg::SubJoined { .. }
            | ShardMsg::SubLeave { .. }
            | ShardMsg::SubReplica { .. }
            | ShardMsg::BarrierAck { .. }
            | ShardMsg::SubNode { .. }
            | ShardMsg::SubNodeReplica { .. }
            | ShardMsg::SubNodeJoined { .. }
            | ShardMsg::SubMeta { .. }
            | ShardMsg::RegJoin { .. }
            | ShardMsg::RegDone { .. }
            | ShardMsg::RegLeave { .. }
            | ShardMsg::RegUnregister { .. }
            | ShardMsg::RegUnregistered { .. }
            | ShardMsg::RegReplica { .. }
            | ShardMsg::Revoke { .. } => MsgKind::Index,
            ShardMsg::MetaQuery { .. } | ShardMsg::MetaPart { .. } => MsgKind::Meta,
            ShardMsg::Front(_) => MsgKind::Front,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_ids_never_collide_across_shards() {
        let mut seen = std::collections::HashSet::new();
        for s in 0..3u16 {
            for n in 1..=50 {
                assert!(seen.insert(spread_id(n, ShardId(s), 3)));
            }
        }
        assert_eq!(spread_id(1, ShardId(0), 1), 1);
        assert!(!seen.contains(&0));
    }

    #[test]
    fn shard_set_ops() {
        let mut s = ShardSet::default();
        assert!(s.is_empty());
        assert!(s.insert(ShardId(3)));
        assert!(!s.insert(ShardId(3)));
        assert!(s.insert(ShardId(200)));
        assert!(s.contains(ShardId(200)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![ShardId(3), ShardId(200)]);
        assert!(s.remove(ShardId(3)));
        assert!(!s.remove(ShardId(3)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![ShardId(200)]);
    }

    #[test]
    fn owner_is_deterministic_and_in_range() {
        let a = owner_of(0, "com.example.topic", MatchPolicy::Exact, 7);
        assert_eq!(a, owner_of(0, "com.example.topic", MatchPolicy::Exact, 7));
        assert!(a.0 < 7);
        assert_eq!(owner_of(0, "x", MatchPolicy::Exact, 1), ShardId(0));
        let spread: std::collections::HashSet<_> = (0..100)
            .map(|i| owner_of(0, &format!("t{i}"), MatchPolicy::Exact, 4))
            .collect();
        assert_eq!(spread.len(), 4, "owners spread over all shards");
    }
}

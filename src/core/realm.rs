//! One realm's state as one shard sees it: the replicated subscription and
//! registration indexes, the entries this shard owns, and the ID counters.

use ahash::AHashMap;

use super::authz::RealmAuthorizer;
use super::cluster::ShardSet;
use super::cluster::{CalleeRef, InvokePolicy};
use super::index::UriIndex;
use crate::config::RealmConfig;
use crate::proto::uri::{MatchPolicy, UriCheck};
use crate::proto::{RegistrationId, RequestId, SessionId, ShardId, SubscriptionId};

/// A connection on this shard (the runtime's handle; stable for the connection's life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Where this shard stands with the owner for one subscription key.
#[derive(Debug, Default)]
pub enum JoinState {
    /// No local subscribers and no request in flight.
    #[default]
    Out,
    /// `SubJoin` sent; these SUBSCRIBE requests wait for `SubJoined`.
    Joining(Vec<(ConnId, SessionId, RequestId)>),
    /// The owner confirmed this shard's membership and every replica knows it.
    Joined,
}

/// A subscription (topic, policy) as one shard sees it.
#[derive(Debug, Default)]
pub struct SubEntry {
    /// The realm-wide ID, once the owner has told this shard.
    pub id: Option<SubscriptionId>,
    /// Shards with subscribers, per the owner's replica updates (may include this one).
    pub remote: ShardSet,
    /// This shard's subscribers: authoritative for delivery here.
    pub local: Vec<ConnId>,
    /// This shard's membership at the owner.
    pub join: JoinState,
    /// Node keys of a sharded subscription (`None` while it has none: the common case).
    pub nodes: Option<Box<super::broker::sharded::NodeKeys>>,
}

impl SubEntry {
    /// Whether the entry can be dropped from the index.
    pub fn is_unused(&self) -> bool {
        self.remote.is_empty()
            && self.local.is_empty()
            && matches!(self.join, JoinState::Out)
            && self.nodes.is_none()
    }
}

/// A registration as every shard's replica (and its owner) holds it.
#[derive(Debug, Clone)]
pub struct RegEntry {
    /// The realm-wide ID, shared by every callee of a shared registration.
    pub id: RegistrationId,
    /// How a call picks among several callees (`REGISTER.Options.invoke`).
    pub invoke: InvokePolicy,
    /// When the owner created the registration (milliseconds since the Unix epoch).
    pub created_ms: u64,
    /// The callees, in registration order (what `first`/`last`/`roundrobin` rely on).
    pub callees: Vec<CalleeRef>,
    /// Round-robin position of *this* shard's callers (see docs/architecture.md).
    pub cursor: std::cell::Cell<usize>,
}

/// An owner's authoritative subscription entry.
#[derive(Debug)]
pub struct OwnedSub {
    /// The subscription ID, assigned with the first subscriber.
    pub id: SubscriptionId,
    /// Shards that have subscribers.
    pub shards: ShardSet,
    /// When it was created (Unix time, nanoseconds), for the meta API.
    pub created: u64,
    /// Kept while it has no subscribers (its event history is configured).
    pub pinned: bool,
}

/// One realm on one shard.
pub struct Realm {
    /// The realm's name.
    pub name: String,
    /// URI validation rule.
    pub uri_check: UriCheck,
    /// Static permissions of its roles.
    pub authz: RealmAuthorizer,
    /// Trust levels configured per role (`junction.trustlevel`).
    pub trustlevels: AHashMap<String, u64>,
    /// Replica + local subscription index: the publish path's only lookup.
    pub subs: UriIndex<SubEntry>,
    /// Replica registration index: the call path's only lookup.
    pub regs: UriIndex<RegEntry>,
    /// Subscriptions this shard owns.
    pub owned_subs: AHashMap<(String, MatchPolicy), OwnedSub>,
    /// Registrations this shard owns.
    pub owned_regs: AHashMap<(String, MatchPolicy), RegEntry>,
    /// Counter behind the subscription IDs this shard assigns.
    next_sub: u64,
    /// Counter behind the registration IDs this shard assigns.
    next_reg: u64,
}

impl Realm {
    /// A realm with empty indexes.
    pub fn new(cfg: &RealmConfig) -> Self {
        Realm {
            name: cfg.name.clone(),
            uri_check: cfg.uri_check,
            authz: RealmAuthorizer::new(cfg),
            trustlevels: cfg
                .roles
                .iter()
                .filter_map(|r| r.trustlevel.map(|t| (r.name.clone(), t)))
                .collect(),
            subs: UriIndex::new(),
            regs: UriIndex::new(),
            owned_subs: AHashMap::new(),
            owned_regs: AHashMap::new(),
            next_sub: 0,
            next_reg: 0,
        }
    }

    /// A new subscription ID, unique in this realm across shards: IDs an owner
    /// assigns are congruent to its shard index modulo the shard count.
    pub fn new_sub_id(&mut self, shard: ShardId, shards: u16) -> SubscriptionId {
        self.next_sub += 1;
        SubscriptionId(spread_id(self.next_sub, shard, shards))
    }

    /// A new registration ID, unique in this realm across shards.
    pub fn new_reg_id(&mut self, shard: ShardId, shards: u16) -> RegistrationId {
        self.next_reg += 1;
        RegistrationId(spread_id(self.next_reg, shard, shards))
    }
}

/// The `n`-th ID (n ≥ 1) of shard `shard`: `(n - 1) * shards + shard + 1`.
fn spread_id(n: u64, shard: ShardId, shards: u16) -> u64 {
    (n - 1) * u64::from(shards) + u64::from(shard.0) + 1
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
}

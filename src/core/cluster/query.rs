//! Meta-procedure questions one shard asks others (scatter-gather), and
//! their answers.

use crate::proto::uri::MatchPolicy;
use crate::proto::{SessionId, SubscriptionId, Value};

use super::RealmIdx;

/// Which sessions a kill procedure ends.
#[derive(Debug, Clone)]
pub enum KillTarget {
    /// One session (`wamp.session.kill`).
    Session(SessionId),
    /// Every session with this authid.
    Authid(String),
    /// Every session with this authrole.
    Authrole(String),
    /// Every session of the realm.
    All,
}

/// A meta-procedure question one shard asks another.
#[derive(Debug, Clone)]
pub enum MetaQuery {
    /// Sessions of the realm here (optionally only these authroles): count them.
    SessionCount {
        /// Realm.
        realm: RealmIdx,
        /// Authrole filter.
        roles: Option<Vec<String>>,
    },
    /// The same, listing their IDs.
    SessionList {
        /// Realm.
        realm: RealmIdx,
        /// Authrole filter.
        roles: Option<Vec<String>>,
    },
    /// One session's details.
    SessionGet {
        /// Realm.
        realm: RealmIdx,
        /// The session.
        id: SessionId,
    },
    /// End sessions with GOODBYE.
    Kill {
        /// Realm.
        realm: RealmIdx,
        /// Which.
        target: KillTarget,
        /// GOODBYE reason.
        reason: String,
        /// GOODBYE details `message`.
        message: Option<String>,
        /// Never this session (the caller).
        except: SessionId,
    },
    /// Subscription IDs this shard owns, by policy.
    SubList {
        /// Realm.
        realm: RealmIdx,
    },
    /// The owner's ID for (uri, policy).
    SubLookup {
        /// Realm.
        realm: RealmIdx,
        /// Topic or pattern.
        uri: String,
        /// Policy.
        policy: MatchPolicy,
    },
    /// Owned subscriptions matching a topic.
    SubMatch {
        /// Realm.
        realm: RealmIdx,
        /// The topic.
        uri: String,
    },
    /// A subscription's details (from its owner).
    SubGet {
        /// Realm.
        realm: RealmIdx,
        /// The subscription.
        id: SubscriptionId,
    },
    /// This shard's subscribers of a subscription (the owner also says whether it exists).
    SubSubscribers {
        /// Realm.
        realm: RealmIdx,
        /// The subscription.
        id: SubscriptionId,
    },
    /// Revoke a session's subscription (`wamp.subscription.remove_subscriber`,
    /// to the session's shard).
    SubRemove {
        /// Realm.
        realm: RealmIdx,
        /// The subscription.
        id: SubscriptionId,
        /// The subscriber.
        session: SessionId,
        /// Why (logged).
        reason: Option<String>,
    },
    /// A subscription's event history (from its owner), as the caller may see it.
    SubEvents {
        /// Realm.
        realm: RealmIdx,
        /// The subscription.
        id: SubscriptionId,
        /// The caller's authid.
        authid: String,
        /// The caller's authrole.
        authrole: String,
        /// Options.
        q: EventsQuery,
    },
}

impl MetaQuery {
    /// The realm asked about.
    pub fn realm(&self) -> RealmIdx {
        match self {
            MetaQuery::SessionCount { realm, .. }
            | MetaQuery::SessionList { realm, .. }
            | MetaQuery::SessionGet { realm, .. }
            | MetaQuery::Kill { realm, .. }
            | MetaQuery::SubList { realm, .. }
            | MetaQuery::SubLookup { realm, .. }
            | MetaQuery::SubMatch { realm, .. }
            | MetaQuery::SubGet { realm, .. }
            | MetaQuery::SubSubscribers { realm, .. }
            | MetaQuery::SubRemove { realm, .. }
            | MetaQuery::SubEvents { realm, .. } => *realm,
        }
    }
}

/// One shard's answer; parts merge by summing counts and joining lists.
#[derive(Debug, Default)]
pub struct MetaPart {
    /// The thing asked about exists (on this shard).
    pub found: bool,
    /// A count.
    pub count: u64,
    /// IDs.
    pub ids: Vec<u64>,
    /// IDs by match policy (exact, prefix, wildcard).
    pub by_policy: [Vec<u64>; 3],
    /// A single value (details, lookup result, event list).
    pub value: Option<Value>,
    /// An error URI and message.
    pub error: Option<(&'static str, String)>,
}

/// Options of `wamp.subscription.get_events` (advanced profile, "Receiving Event History").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsQuery {
    /// At most this many events.
    pub limit: Option<usize>,
    /// Newest first.
    pub reverse: bool,
    /// Only publications to this topic.
    pub topic: Option<String>,
    /// Time bounds in Unix nanoseconds: `>=`, `>`, `<`, `<=`.
    pub from_time: Option<u64>,
    /// See `from_time`.
    pub after_time: Option<u64>,
    /// See `from_time`.
    pub before_time: Option<u64>,
    /// See `from_time`.
    pub until_time: Option<u64>,
    /// Publication bounds: at or after, after, before, at or before.
    pub from_publication: Option<u64>,
    /// See `from_publication`.
    pub after_publication: Option<u64>,
    /// See `from_publication`.
    pub before_publication: Option<u64>,
    /// See `from_publication`.
    pub until_publication: Option<u64>,
}

//! The broker: SUBSCRIBE, UNSUBSCRIBE and PUBLISH on one shard, and the
//! subscription side of the cross-shard protocol.
//!
//! Fast path: a SUBSCRIBE for a (topic, policy) this shard has already joined
//! is answered at once; only the first local subscriber of a key makes the
//! round trip to its owner shard (and waits for the replica barrier).
//! Publish (`publish.rs`): one index walk gives the local subscribers and the
//! set of remote shards; each remote shard gets one `ShardMsg::Publish`
//! (shared `Arc`), and each shard encodes the EVENT once per (subscription,
//! serializer).
//!
//! - `options.rs`: PUBLISH options, subscriber black- and whitelists;
//! - `retained.rs`: retained events, the hand-off to the event history and
//!   the event store;
//! - `history.rs`: event history buffers and queries;
//! - `sharded.rs`: sharded subscriptions (node keys);
//! - `testament.rs`: session testaments;
//! - `meta.rs`: the subscription meta events and the answers the meta API
//!   asks this shard for.
//!
//! The broker gets the shard's shared context (`Ctx`) with every input; it
//! never calls the dealer or the meta API.

pub mod history;
mod meta;
pub mod options;
mod publish;
mod retained;
pub mod sharded;
pub(crate) mod testament;

use std::sync::Arc;

use ahash::{AHashMap, AHashSet};

use self::history::RealmHistory;
use self::sharded::{NodeKeys, ShardedState};
use self::testament::Testaments;
use super::api::LinkId;
use super::cluster::{self, RealmIdx, RoutedPublish, ShardMsg, ShardSet, spread_id};
use super::ctx::Ctx;
use super::index::UriIndex;
use super::journal::EventJournal;
use super::uris;
use crate::config::Config;
use crate::proto::message::code;
use crate::proto::uri::MatchPolicy;
use crate::proto::{
    Message, RequestId, SessionId, ShardId, Subscribe, Subscribed, SubscriptionId, Unsubscribe,
    Unsubscribed,
};

pub use self::meta::is_meta_quiet;

/// Where this shard stands with the owner for one subscription key.
#[derive(Debug, Default)]
pub enum JoinState {
    /// No local subscribers and no request in flight.
    #[default]
    Out,
    /// `SubJoin` sent; these SUBSCRIBE requests wait for `SubJoined`.
    Joining(Vec<(LinkId, SessionId, RequestId)>),
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
    pub local: Vec<LinkId>,
    /// This shard's membership at the owner.
    pub join: JoinState,
    /// Node keys of a sharded subscription (`None` while it has none: the common case).
    pub nodes: Option<Box<NodeKeys>>,
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

/// One realm's broker state on one shard.
#[derive(Default)]
pub(crate) struct BrokerRealm {
    /// Replica + local subscription index: the publish path's only lookup.
    pub subs: UriIndex<SubEntry>,
    /// Subscriptions this shard owns.
    pub owned_subs: AHashMap<(String, MatchPolicy), OwnedSub>,
    /// Counter behind the subscription IDs this shard assigns.
    next_sub: u64,
    /// Retained event per topic (a copy on every shard).
    pub retained: AHashMap<String, Arc<RoutedPublish>>,
    /// Configured histories (every shard knows them all) and the buffers of those this shard owns.
    pub history: RealmHistory,
}

impl BrokerRealm {
    /// A new subscription ID, unique in this realm across shards.
    fn new_sub_id(&mut self, shard: ShardId, shards: u16) -> SubscriptionId {
        self.next_sub += 1;
        SubscriptionId(spread_id(self.next_sub, shard, shards))
    }
}

/// The broker's state on one shard.
pub(crate) struct Broker {
    /// Per realm, indexed by [`RealmIdx`].
    realms: Vec<BrokerRealm>,
    /// SUBSCRIBE requests that asked for `get_retained` and wait for SUBSCRIBED.
    want_retained: AHashSet<(LinkId, RequestId)>,
    /// Testaments of this shard's sessions.
    testaments: AHashMap<SessionId, Testaments>,
    /// Sessions ending without meta events or testaments (`kill_all`).
    quiet: AHashSet<SessionId>,
    /// Sharded subscriptions: node keys waiting and owned.
    sharded: ShardedState,
    /// Durable storage of retained events and event history (`core/journal.rs`).
    journal: Box<dyn EventJournal>,
}

impl Broker {
    /// The broker of shard `cx.shard` for `config`'s realms: history
    /// subscriptions this shard owns are created (pinned) now, and what
    /// `journal` kept before this start is loaded.
    pub fn new(cx: &Ctx, config: &Config, journal: Box<dyn EventJournal>) -> Broker {
        let mut b = Broker {
            realms: Vec::with_capacity(config.realms.len()),
            want_retained: AHashSet::new(),
            testaments: AHashMap::new(),
            quiet: AHashSet::new(),
            sharded: ShardedState::default(),
            journal,
        };
        b.init(cx, config);
        b
    }

    /// Index entries on this shard (replicas and owned entries).
    pub fn entry_count(&self) -> usize {
        self.realms
            .iter()
            .map(|r| r.subs.len() + r.owned_subs.len())
            .sum::<usize>()
            + self.sharded.owned_len()
    }

    /// A SUBSCRIBE the guard let through (`policy` from its options).
    pub fn subscribe(&mut self, cx: &mut Ctx, link: LinkId, m: Subscribe, policy: MatchPolicy) {
        let Some(s) = cx.links.session(link) else {
            return;
        };
        let (sid, realm_idx) = (s.id, s.realm);
        let get_retained = match m.options.bool_or("get_retained", false) {
            Ok(g) => g,
            Err(e) => {
                return cx.links.error(
                    link,
                    code::SUBSCRIBE,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e.to_string()),
                );
            }
        };
        let nkey = match sharded::nkey_option(&m.options) {
            Ok(n) => n,
            Err(e) => {
                return cx.links.error(
                    link,
                    code::SUBSCRIBE,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        if get_retained {
            self.want_retained.insert((link, m.request));
        }
        // Sharded subscription: the node key may need the owner's confirmation first.
        if let Some(nkey) = nkey
            && self.sharded_subscribe(cx, link, sid, realm_idx, &m.topic, policy, m.request, nkey)
        {
            return;
        }
        let realm = &mut self.realms[realm_idx as usize];
        if realm.subs.get(&m.topic, policy).is_none() {
            realm.subs.insert(&m.topic, policy, SubEntry::default());
        }
        let entry = realm.subs.get_mut(&m.topic, policy).expect("just inserted");
        match &mut entry.join {
            JoinState::Joined => {
                let id = entry.id.expect("joined entries have an ID");
                let added = !entry.local.contains(&link);
                if added {
                    entry.local.push(link);
                }
                if let Some(s) = cx.links.session_mut(link) {
                    s.subscriptions.insert(id, (m.topic.clone(), policy));
                }
                cx.links.send(
                    link,
                    &Message::Subscribed(Subscribed {
                        request: m.request,
                        subscription: id,
                    }),
                );
                self.after_subscribed(
                    cx, link, sid, realm_idx, id, &m.topic, policy, m.request, added,
                );
            }
            JoinState::Joining(waiting) => waiting.push((link, sid, m.request)),
            JoinState::Out => {
                entry.join = JoinState::Joining(vec![(link, sid, m.request)]);
                let owner = cluster::owner_of(realm_idx, &m.topic, policy, cx.shards);
                let from = cx.shard;
                cx.route(
                    owner,
                    ShardMsg::SubJoin {
                        realm: realm_idx,
                        uri: m.topic,
                        policy,
                        from,
                        session: sid,
                    },
                );
            }
        }
    }

    /// UNSUBSCRIBE.
    pub fn unsubscribe(&mut self, cx: &mut Ctx, link: LinkId, m: Unsubscribe) {
        let Some(s) = cx.links.session_mut(link) else {
            return;
        };
        let (realm, sid) = (s.realm, s.id);
        let Some((uri, policy)) = s.subscriptions.remove(&m.subscription) else {
            let msg = format!("no subscription {} for this session", m.subscription);
            return cx.links.error(
                link,
                code::UNSUBSCRIBE,
                m.request,
                uris::NO_SUCH_SUBSCRIPTION,
                Some(msg),
            );
        };
        self.local_unsubscribe(cx, realm, &uri, policy, link, sid);
        cx.links.send(
            link,
            &Message::Unsubscribed(Unsubscribed {
                request: m.request,
                details: None,
            }),
        );
    }

    /// Removes `link` from the local subscribers of (uri, policy); the last one
    /// leaving tells the owner.
    pub fn local_unsubscribe(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        link: LinkId,
        session: SessionId,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let Some(entry) = realm.subs.get_mut(uri, policy) else {
            return;
        };
        let before = entry.local.len();
        entry.local.retain(|c| *c != link);
        let sharded = entry.nodes.is_some();
        if entry.local.len() < before
            && let Some(id) = entry.id
        {
            self.sub_meta_removed(cx, realm_idx, session, id, uri);
        }
        if sharded {
            self.sharded_left(cx, realm_idx, uri, policy, link);
        }
        self.release_if_empty(cx, realm_idx, uri, policy, session);
    }

    /// Gives this shard's membership back to the owner once no local subscriber is left.
    pub fn release_if_empty(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        session: SessionId,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let Some(entry) = realm.subs.get_mut(uri, policy) else {
            return;
        };
        if !entry.local.is_empty()
            || !matches!(entry.join, JoinState::Joined)
            || entry.nodes.as_ref().is_some_and(|n| n.has_joining())
        {
            return;
        }
        entry.join = JoinState::Out;
        if entry.is_unused() {
            realm.subs.remove(uri, policy);
        }
        let owner = cluster::owner_of(realm_idx, uri, policy, cx.shards);
        let from = cx.shard;
        cx.route(
            owner,
            ShardMsg::SubLeave {
                realm: realm_idx,
                uri: uri.to_owned(),
                policy,
                from,
                session,
            },
        );
    }

    /// Owner side: shard `from` gained subscribers.
    pub fn owner_sub_join(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        from: ShardId,
        session: SessionId,
    ) {
        let (shard, shards) = (cx.shard, cx.shards);
        let realm = &mut self.realms[realm_idx as usize];
        let key = (uri, policy);
        let id = match realm.owned_subs.get(&key) {
            Some(o) => o.id,
            None => {
                let id = realm.new_sub_id(shard, shards);
                realm.owned_subs.insert(
                    key.clone(),
                    OwnedSub {
                        id,
                        shards: ShardSet::default(),
                        created: options::now_ns(),
                        pinned: false,
                    },
                );
                id
            }
        };
        let owned = realm.owned_subs.get_mut(&key).expect("present");
        let (uri, policy) = key;
        let joined = ShardMsg::SubJoined {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
        };
        let was_empty = owned.shards.is_empty();
        if !owned.shards.insert(from) {
            return cx.route(from, joined);
        }
        if was_empty {
            self.owner_sub_created(cx, realm_idx, session, &uri, policy);
        }
        self.apply_sub_replica(realm_idx, &uri, policy, id, from, true);
        cx.broadcast_with_barrier(from, joined, |barrier| ShardMsg::SubReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            shard: from,
            present: true,
            barrier,
        });
    }

    /// Owner side: shard `from` lost its last subscriber.
    pub fn owner_sub_leave(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        from: ShardId,
        session: SessionId,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let key = (uri, policy);
        let Some(owned) = realm.owned_subs.get_mut(&key) else {
            return;
        };
        if !owned.shards.remove(from) {
            return;
        }
        let id = owned.id;
        let deleted = owned.shards.is_empty();
        // A subscription kept for its event history outlives its subscribers (same ID).
        if deleted && !owned.pinned {
            realm.owned_subs.remove(&key);
        }
        if deleted {
            self.owner_sub_deleted(cx, realm_idx, session, id, &key.0);
        }
        let (uri, policy) = key;
        self.apply_sub_replica(realm_idx, &uri, policy, id, from, false);
        cx.broadcast(|| ShardMsg::SubReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            shard: from,
            present: false,
            barrier: None,
        });
    }

    /// A replica change: `shard` has (or no longer has) subscribers of (uri, policy).
    pub fn apply_sub_replica(
        &mut self,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        id: SubscriptionId,
        shard: ShardId,
        present: bool,
    ) {
        let subs = &mut self.realms[realm_idx as usize].subs;
        if present {
            if subs.get(uri, policy).is_none() {
                subs.insert(uri, policy, SubEntry::default());
            }
            let e = subs.get_mut(uri, policy).expect("just inserted");
            e.id = Some(id);
            e.remote.insert(shard);
        } else if let Some(e) = subs.get_mut(uri, policy) {
            e.remote.remove(shard);
            if e.is_unused() {
                subs.remove(uri, policy);
            }
        }
    }

    /// This shard's join was confirmed: answer the waiting SUBSCRIBE requests.
    pub fn sub_joined(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        id: SubscriptionId,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let Some(entry) = realm.subs.get_mut(&uri, policy) else {
            return;
        };
        entry.id = Some(id);
        let waiting = match std::mem::replace(&mut entry.join, JoinState::Joined) {
            JoinState::Joining(w) => w,
            other => {
                entry.join = other;
                return;
            }
        };
        let mut answered = Vec::with_capacity(waiting.len());
        let mut last_session = SessionId(0);
        for (link, sid, request) in waiting {
            last_session = sid;
            let nkey = self.sharded.take_pending(link, request);
            let alive = cx.links.session(link).is_some_and(|s| s.id == sid);
            if !alive {
                continue;
            }
            if let Some(nkey) = nkey
                && self.node_gate(cx, realm_idx, &uri, policy, (link, sid, request), nkey)
            {
                continue;
            }
            let entry = self.realms[realm_idx as usize]
                .subs
                .get_mut(&uri, policy)
                .expect("present");
            let added = !entry.local.contains(&link);
            if added {
                entry.local.push(link);
            }
            if let Some(s) = cx.links.session_mut(link) {
                s.subscriptions.insert(id, (uri.clone(), policy));
            }
            answered.push((link, sid, request, added));
        }
        for (link, sid, request, added) in answered {
            cx.links.send(
                link,
                &Message::Subscribed(Subscribed {
                    request,
                    subscription: id,
                }),
            );
            self.after_subscribed(cx, link, sid, realm_idx, id, &uri, policy, request, added);
        }
        // If every waiting session left meanwhile, give the membership back.
        self.release_if_empty(cx, realm_idx, &uri, policy, last_session);
    }

    /// A session ended: forget what the broker kept for it; returns its
    /// testaments unless it ends quietly (`kill_all`), and whether meta
    /// events are to be published for it.
    pub fn session_ended(&mut self, link: LinkId, id: SessionId) -> (Option<Testaments>, bool) {
        self.want_retained.retain(|(c, _)| *c != link);
        let testaments = self.testaments.remove(&id);
        if self.quiet.remove(&id) {
            return (None, false);
        }
        (testaments, true)
    }

    /// The session ends without meta events or testaments (`kill_all`).
    pub fn end_quietly(&mut self, id: SessionId) {
        self.quiet.insert(id);
    }
}

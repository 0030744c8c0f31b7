//! The broker: SUBSCRIBE, UNSUBSCRIBE and PUBLISH on one shard, and the
//! subscription side of the cross-shard protocol.
//!
//! Fast path: a SUBSCRIBE for a (topic, policy) this shard has already joined
//! is answered at once; only the first local subscriber of a key makes the
//! round trip to its owner shard (and waits for the replica barrier).
//! Publish: one index walk gives the local subscribers and the set of remote
//! shards; each remote shard gets one `ShardMsg::Publish` (shared `Arc`), and
//! each shard encodes the EVENT once per (subscription, serializer).

pub mod history;
pub mod options;
pub mod sharded;
mod testament;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::authz::Action;
use super::cluster::{self, RealmIdx, RoutedPublish, ShardMsg, ShardSet};
use super::outbox::Overflow;
use super::realm::{ConnId, JoinState, OwnedSub, SubEntry};
use super::{ShardRouter, match_policy, uris};
use crate::proto::message::code;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{
    Dict, Message, Payload, PublicationId, Publish, Published, SessionId, ShardId, Subscribe,
    Subscribed, SubscriptionId, Unsubscribe, Unsubscribed, Value,
};

impl ShardRouter {
    pub(in crate::core) fn subscribe(&mut self, conn: ConnId, m: Subscribe) {
        let Some(s) = self.session(conn) else { return };
        let (sid, realm_idx) = (s.id, s.realm);
        let policy = match match_policy(&m.options) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    conn,
                    code::SUBSCRIBE,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        let get_retained = match m.options.bool_or("get_retained", false) {
            Ok(g) => g,
            Err(e) => {
                return self.error(
                    conn,
                    code::SUBSCRIBE,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e.to_string()),
                );
            }
        };
        let nkey = match super::broker::sharded::nkey_option(&m.options) {
            Ok(n) => n,
            Err(e) => {
                return self.error(
                    conn,
                    code::SUBSCRIBE,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        let realm = &self.realms[realm_idx as usize];
        if !uri::is_valid(&m.topic, realm.uri_check, policy) {
            let msg = format!(
                "invalid topic URI '{}' for match policy '{}'",
                m.topic,
                policy.as_str()
            );
            return self.error(
                conn,
                code::SUBSCRIBE,
                m.request,
                uris::INVALID_URI,
                Some(msg),
            );
        }
        let authrole = &self.session(conn).expect("checked").authrole;
        if !realm
            .authz
            .authorize(authrole, Action::Subscribe, &m.topic)
            .allowed
        {
            let msg = format!("not authorized to subscribe to '{}'", m.topic);
            return self.error(
                conn,
                code::SUBSCRIBE,
                m.request,
                uris::NOT_AUTHORIZED,
                Some(msg),
            );
        }
        if get_retained {
            self.adv.want_retained.insert((conn, m.request));
        }
        // Sharded subscription: the node key may need the owner's confirmation first.
        if let Some(nkey) = nkey
            && self.sharded_subscribe(conn, sid, realm_idx, &m.topic, policy, m.request, nkey)
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
                let added = !entry.local.contains(&conn);
                if added {
                    entry.local.push(conn);
                }
                self.session_mut(conn)
                    .expect("checked")
                    .subscriptions
                    .insert(id, (m.topic.clone(), policy));
                self.send(
                    conn,
                    &Message::Subscribed(Subscribed {
                        request: m.request,
                        subscription: id,
                    }),
                );
                self.after_subscribed(conn, sid, realm_idx, id, &m.topic, policy, m.request, added);
            }
            JoinState::Joining(waiting) => waiting.push((conn, sid, m.request)),
            JoinState::Out => {
                entry.join = JoinState::Joining(vec![(conn, sid, m.request)]);
                let owner = cluster::owner_of(realm_idx, &m.topic, policy, self.shards);
                let from = self.shard;
                self.route(
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

    pub(in crate::core) fn unsubscribe(&mut self, conn: ConnId, m: Unsubscribe) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let (realm, sid) = (s.realm, s.id);
        let Some((uri, policy)) = s.subscriptions.remove(&m.subscription) else {
            let msg = format!("no subscription {} for this session", m.subscription);
            return self.error(
                conn,
                code::UNSUBSCRIBE,
                m.request,
                uris::NO_SUCH_SUBSCRIPTION,
                Some(msg),
            );
        };
        self.local_unsubscribe(realm, &uri, policy, conn, sid);
        self.send(
            conn,
            &Message::Unsubscribed(Unsubscribed {
                request: m.request,
                details: None,
            }),
        );
    }

    /// Removes `conn` from the local subscribers of (uri, policy); the last one
    /// leaving tells the owner.
    pub(in crate::core) fn local_unsubscribe(
        &mut self,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        conn: ConnId,
        session: SessionId,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let Some(entry) = realm.subs.get_mut(uri, policy) else {
            return;
        };
        let before = entry.local.len();
        entry.local.retain(|c| *c != conn);
        let sharded = entry.nodes.is_some();
        if entry.local.len() < before
            && let Some(id) = entry.id
        {
            self.sub_meta_removed(realm_idx, session, id, uri, policy);
        }
        if sharded {
            self.sharded_left(realm_idx, uri, policy, conn);
        }
        self.release_if_empty(realm_idx, uri, policy, session);
    }

    /// Gives this shard's membership back to the owner once no local subscriber is left.
    pub(in crate::core) fn release_if_empty(
        &mut self,
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
        let owner = cluster::owner_of(realm_idx, uri, policy, self.shards);
        let from = self.shard;
        self.route(
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
    pub(in crate::core) fn owner_sub_join(
        &mut self,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        from: ShardId,
        session: SessionId,
    ) {
        let (shard, shards) = (self.shard, self.shards);
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
                        created: super::broker::options::now_ns(),
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
            return self.route(from, joined);
        }
        if was_empty {
            self.owner_sub_created(realm_idx, session, id, &uri, policy);
        }
        self.apply_sub_replica(realm_idx, &uri, policy, id, from, true);
        self.broadcast_with_barrier(from, joined, |barrier| ShardMsg::SubReplica {
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
    pub(in crate::core) fn owner_sub_leave(
        &mut self,
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
            self.owner_sub_deleted(realm_idx, session, id, &key.0);
        }
        let (uri, policy) = key;
        self.apply_sub_replica(realm_idx, &uri, policy, id, from, false);
        self.broadcast(|| ShardMsg::SubReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            shard: from,
            present: false,
            barrier: None,
        });
    }

    pub(in crate::core) fn apply_sub_replica(
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
    pub(in crate::core) fn sub_joined(
        &mut self,
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
        for (conn, sid, request) in waiting {
            last_session = sid;
            let nkey = self.sharded.take_pending(conn, request);
            let alive = self
                .conns
                .get(&conn)
                .and_then(|c| c.session.as_ref())
                .is_some_and(|s| s.id == sid);
            if !alive {
                continue;
            }
            if let Some(nkey) = nkey
                && self.node_gate(realm_idx, &uri, policy, (conn, sid, request), nkey)
            {
                continue;
            }
            let entry = self.realms[realm_idx as usize]
                .subs
                .get_mut(&uri, policy)
                .expect("present");
            let added = !entry.local.contains(&conn);
            if added {
                entry.local.push(conn);
            }
            self.session_mut(conn)
                .expect("alive")
                .subscriptions
                .insert(id, (uri.clone(), policy));
            answered.push((conn, sid, request, added));
        }
        for (conn, sid, request, added) in answered {
            self.send(
                conn,
                &Message::Subscribed(Subscribed {
                    request,
                    subscription: id,
                }),
            );
            self.after_subscribed(conn, sid, realm_idx, id, &uri, policy, request, added);
        }
        // If every waiting session left meanwhile, give the membership back.
        self.release_if_empty(realm_idx, &uri, policy, last_session);
    }

    pub(in crate::core) fn publish(&mut self, conn: ConnId, m: Publish) {
        let publication = PublicationId(self.rng_id());
        let Some(s) = self.session(conn) else { return };
        let realm_idx = s.realm;
        let realm = &self.realms[realm_idx as usize];
        let opts = match super::broker::options::PubOptions::parse(&m.options) {
            Ok(o) => o,
            Err(e) => {
                return self.publish_error(
                    conn,
                    &m,
                    acknowledge_of(&m.options),
                    uris::INVALID_ARGUMENT,
                    e,
                );
            }
        };
        let (acknowledge, exclude_me, disclose_me) =
            (opts.acknowledge, opts.exclude_me, opts.disclose_me);
        if !uri::is_valid(&m.topic, realm.uri_check, MatchPolicy::Exact) {
            let msg = format!("invalid topic URI '{}'", m.topic);
            return self.publish_error(conn, &m, acknowledge, uris::INVALID_URI, msg);
        }
        if super::broker::options::is_reserved_topic(&m.topic) {
            let msg = format!(
                "publishing to '{}' is not allowed: 'wamp.' topics are reserved for the router",
                m.topic
            );
            return self.publish_error(conn, &m, acknowledge, uris::INVALID_URI, msg);
        }
        let grant = realm
            .authz
            .authorize(&s.authrole, Action::Publish, &m.topic);
        if !grant.allowed {
            let msg = format!("not authorized to publish to '{}'", m.topic);
            return self.publish_error(conn, &m, acknowledge, uris::NOT_AUTHORIZED, msg);
        }
        let mut details = Dict::new();
        if disclose_me || grant.disclose.publisher {
            details.insert("publisher", s.id.0);
            details.insert("publisher_authid", s.authid.as_str());
            details.insert("publisher_authrole", s.authrole.as_str());
        }
        if let Some(level) = s.trustlevel {
            details.insert("trustlevel", level);
        }
        let routed = RoutedPublish {
            realm: realm_idx,
            topic: m.topic,
            publication,
            publisher: s.id,
            exclude_me,
            details,
            payload: m.payload,
            filter: opts.filter,
            retain: opts.retain,
            rkey: opts.rkey,
        };
        self.route_publish(routed, if exclude_me { Some(conn) } else { None });
        if acknowledge {
            self.send(
                conn,
                &Message::Published(Published {
                    request: m.request,
                    publication,
                }),
            );
        }
    }

    /// Routes a publication: local subscribers now, and one shared message to
    /// each other shard that has subscribers.
    pub(in crate::core) fn route_publish(
        &mut self,
        routed: RoutedPublish,
        exclude: Option<ConnId>,
    ) {
        let mut remote = ShardSet::default();
        self.realms[routed.realm as usize]
            .subs
            .for_each_match(&routed.topic, |_, _, e| remote.union_with(&e.remote));
        // Retained events go to every shard; history to the history's owner.
        let keep = self.adv.publish_targets(&routed, self.shards, &mut remote);
        remote.remove(self.shard);
        self.deliver_local(&routed, exclude);
        if !remote.is_empty() || keep {
            let shared = Arc::new(routed);
            if keep {
                self.keep_publication(&shared);
            }
            for s in remote.iter() {
                self.mesh.send(s, ShardMsg::Publish(Arc::clone(&shared)));
            }
        }
    }

    /// Publishes an event originated by the router itself (meta events,
    /// testaments) to every subscriber of `topic` in `realm`, on every shard.
    /// Authorization for subscribing applies as usual; nothing is excluded.
    pub(in crate::core) fn publish_internal(
        &mut self,
        realm: RealmIdx,
        topic: &str,
        details: Dict,
        payload: Payload,
    ) {
        let publication = PublicationId(self.rng_id());
        let routed = RoutedPublish {
            realm,
            topic: topic.to_owned(),
            publication,
            publisher: crate::proto::SessionId(0),
            exclude_me: false,
            details,
            payload,
            filter: None,
            retain: false,
            rkey: None,
        };
        self.route_publish(routed, None);
    }

    fn publish_error(
        &mut self,
        conn: ConnId,
        m: &Publish,
        acknowledge: bool,
        error: &str,
        message: String,
    ) {
        // Without `acknowledge` the spec has the broker drop a failed publish silently.
        if acknowledge {
            self.error(conn, code::PUBLISH, m.request, error, Some(message));
        } else {
            tracing::debug!(conn = conn.0, %message, "unacknowledged publish dropped");
        }
    }

    /// A publication from another shard, for this shard's subscribers.
    pub(in crate::core) fn deliver_routed(&mut self, p: &Arc<RoutedPublish>) {
        self.deliver_local(p, None);
        if self.adv.keeps(p) {
            self.keep_publication(p);
        }
    }

    /// Delivers to this shard's subscribers: one EVENT encoding per
    /// (subscription, serializer), the same `Bytes` queued for each subscriber.
    fn deliver_local(&mut self, p: &RoutedPublish, exclude: Option<ConnId>) {
        let realm = &self.realms[p.realm as usize];
        let conns = &self.conns;
        let scratch = &mut self.scratch;
        let overflowed = &mut self.overflowed;
        let mut topic_details: Option<Dict> = None;
        realm.subs.for_each_match(&p.topic, |_, policy, entry| {
            let Some(id) = entry.id else { return };
            if entry.local.is_empty() {
                return;
            }
            let details = if policy == MatchPolicy::Exact {
                &p.details
            } else {
                &*topic_details.get_or_insert_with(|| {
                    p.details
                        .clone()
                        .with("topic", Value::from(p.topic.as_str()))
                })
            };
            // Sharded subscription and a publish with `rkey`: one node key gets it.
            let sharding = match (&p.rkey, &entry.nodes) {
                (Some(rkey), Some(nodes)) => Some((&**nodes, nodes.choose(rkey))),
                _ => None,
            };
            let mut frames: [Option<Rc<Bytes>>; 3] = [None, None, None];
            for c in &entry.local {
                if Some(*c) == exclude {
                    continue;
                }
                if let Some((nodes, chosen)) = sharding
                    && !nodes.admits(*c, chosen)
                {
                    continue;
                }
                let Some(conn) = conns.get(c) else { continue };
                if let Some(f) = &p.filter
                    && !conn
                        .session
                        .as_ref()
                        .is_some_and(|s| f.admits(s.id, &s.authid, &s.authrole))
                {
                    continue;
                }
                let slot = &mut frames[conn.serializer.index()];
                let frame = slot.get_or_insert_with(|| {
                    conn.serializer.encode_event_into(
                        id,
                        p.publication,
                        details,
                        &p.payload,
                        scratch,
                    );
                    Rc::new(scratch.split().freeze())
                });
                if frame.len() > conn.max_outbound {
                    // Larger than this subscriber accepts: it misses this event.
                    tracing::debug!(
                        conn = c.0,
                        len = frame.len(),
                        "event larger than the subscriber accepts: skipped"
                    );
                    continue;
                }
                if conn.outbox.borrow_mut().push(Rc::clone(frame)) == Err(Overflow) {
                    overflowed.push(*c);
                }
            }
        });
    }

    /// A random global-scope ID in `[1, 2^53]`.
    pub(in crate::core) fn rng_id(&mut self) -> u64 {
        use rand::Rng;
        self.rng.random_range(1..=crate::proto::MAX_ID)
    }
}

/// The `acknowledge` option, read leniently (for answering a malformed PUBLISH).
fn acknowledge_of(options: &Dict) -> bool {
    options
        .get("acknowledge")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

//! Sharded subscriptions (advanced profile, feature status alpha): the node
//! keys of each subscription, their replication through the subscription's
//! owner shard, and the choice of node for a publication's resource key.
//!
//! The spec only defines `SUBSCRIBE.Options.nkey|string` (a stable node key)
//! and `PUBLISH.Options.rkey|string` (a stable resource key). Junction gives
//! them the semantics of sharded registrations: the subscribers that
//! subscribed with an `nkey` form, per subscription, a set of node keys; a
//! PUBLISH with `rkey` goes, for each subscription it matches, to the
//! subscribers of exactly one node key, the one with the highest rendezvous
//! hash of `(rkey, nkey)` among the subscription's current node keys, plus to
//! every subscriber without an `nkey` (they get everything). A PUBLISH
//! without `rkey` goes to everyone. The same `rkey` reaches the same node
//! while the node set is unchanged; a node joining or leaving moves only the
//! keys it wins or held.
//!
//! Every shard must make the same choice, so every shard's replica entry
//! ([`SubEntry::nodes`]) holds the subscription's whole node-key set, with the
//! shards that have subscribers of each key. A shard whose first local
//! subscriber of a node key arrives sends [`ShardMsg::SubNode`] to the owner,
//! which updates its map and broadcasts [`ShardMsg::SubNodeReplica`] with the
//! same barrier as subscriptions; the SUBSCRIBE is answered only after
//! [`ShardMsg::SubNodeJoined`], so once SUBSCRIBED every later publication
//! sees the node. The last local subscriber of a node key leaving tells the
//! owner (no barrier), before the shard's `SubLeave` if it was the last one.
//!
//! Cost: subscriptions without any `nkey` have `nodes: None` and a publish
//! without `rkey` never looks at node keys: one branch per matching
//! subscription. A publish with `rkey` hashes once per node key of each
//! matching sharded subscription, then looks up each local subscriber's node.
//!
//! Choices Junction makes where the spec is silent: a session that is already
//! a subscriber keeps its node key (or none) when it subscribes again;
//! retained events and the event history ignore `rkey` (a retained event is
//! the topic's state and goes to every new subscriber asking for it);
//! testaments carry no `rkey`.
//!
//! [`SubEntry::nodes`]: super::SubEntry::nodes

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};

use ahash::AHashMap;

use super::{Broker, JoinState};
use crate::core::api::LinkId;
use crate::core::cluster::{self, RealmIdx, ShardMsg, ShardSet};
use crate::core::ctx::Ctx;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Message, RequestId, SessionId, ShardId, Subscribed, Value};

/// A SUBSCRIBE waiting for its node key to be confirmed: (connection, session, request).
type Waiting = (LinkId, SessionId, RequestId);

/// The node keys of one subscription, as one shard sees them (present only
/// while the subscription has node keys anywhere or here).
#[derive(Debug, Default)]
pub struct NodeKeys {
    /// Every node key of the subscription → the shards with subscribers of
    /// it, per the owner's replica updates. Ordered, so ties break the same
    /// way on every shard.
    replica: BTreeMap<String, ShardSet>,
    /// This shard's confirmed subscribers that have a node key.
    local: AHashMap<LinkId, String>,
    /// How many of `local` have each node key.
    counts: AHashMap<String, usize>,
    /// SUBSCRIBEs waiting for the owner to confirm this shard's membership of a node key.
    joining: AHashMap<String, Vec<Waiting>>,
}

impl NodeKeys {
    /// Whether nothing is left: the entry can drop it.
    pub fn is_empty(&self) -> bool {
        self.replica.is_empty() && self.local.is_empty() && self.joining.is_empty()
    }

    /// Whether SUBSCRIBEs wait for a node key confirmation (the shard must
    /// keep its membership of the subscription meanwhile).
    pub fn has_joining(&self) -> bool {
        !self.joining.is_empty()
    }

    /// The node key that gets a publication with resource key `rkey`: the
    /// highest rendezvous hash of `(rkey, nkey)`; `None` without node keys.
    pub fn choose(&self, rkey: &str) -> Option<&str> {
        self.replica
            .keys()
            .max_by_key(|nkey| rendezvous(rkey, nkey))
            .map(String::as_str)
    }

    /// Whether local subscriber `conn` gets a publication routed to node `chosen`:
    /// yes without a node key of its own, else only if its node was chosen.
    pub fn admits(&self, conn: LinkId, chosen: Option<&str>) -> bool {
        match self.local.get(&conn) {
            None => true,
            Some(nkey) => Some(nkey.as_str()) == chosen,
        }
    }

    /// The node keys, in order (for tests and introspection).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.replica.keys().map(String::as_str)
    }

    fn add_local(&mut self, conn: LinkId, nkey: String) {
        *self.counts.entry(nkey.clone()).or_default() += 1;
        self.local.insert(conn, nkey);
    }

    /// Removes `conn`; returns its node key when it was the last local subscriber of it.
    fn remove_local(&mut self, conn: LinkId) -> Option<String> {
        let nkey = self.local.remove(&conn)?;
        let count = self.counts.get_mut(&nkey).expect("counted with local");
        *count -= 1;
        if *count > 0 {
            return None;
        }
        self.counts.remove(&nkey);
        Some(nkey)
    }
}

/// Rendezvous (highest random weight) score of a node key for a resource key.
/// Fixed seeds: every shard and every run computes the same.
fn rendezvous(rkey: &str, nkey: &str) -> u64 {
    let mut h = ahash::RandomState::with_seeds(0x6e6b_6579, 0x726b_6579, 0x7375_6273, 0x0005_0000)
        .build_hasher();
    rkey.hash(&mut h);
    nkey.hash(&mut h);
    h.finish()
}

/// `SUBSCRIBE.Options.nkey`: a string, if present.
///
/// # Errors
/// The message for `wamp.error.invalid_argument` when it is not a string.
pub fn nkey_option(options: &Dict) -> Result<Option<String>, String> {
    match options.get("nkey") {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err("option 'nkey' must be a string".to_owned()),
    }
}

/// `PUBLISH.Options.rkey`: a string.
///
/// # Errors
/// The message for `wamp.error.invalid_argument` when it is not a string.
pub fn rkey_option(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| "option 'rkey' must be a string".to_owned())
}

/// Per-shard state of sharded subscriptions (one field of `ShardRouter`).
#[derive(Debug, Default)]
pub struct ShardedState {
    /// SUBSCRIBEs with a node key that wait for this shard's join of the
    /// subscription itself: (connection, request) → node key.
    pending: AHashMap<(LinkId, RequestId), String>,
    /// Owner side: (realm, uri, policy) → node key → shards with subscribers of it.
    owned: AHashMap<(RealmIdx, String, MatchPolicy), BTreeMap<String, ShardSet>>,
}

impl ShardedState {
    /// Takes the node key a waiting SUBSCRIBE asked for (cheap when none is pending).
    pub(crate) fn take_pending(&mut self, conn: LinkId, request: RequestId) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending.remove(&(conn, request))
    }

    /// Owned node-key maps (for the index leak checks).
    pub(crate) fn owned_len(&self) -> usize {
        self.owned.len()
    }
}

impl Broker {
    /// A SUBSCRIBE with `nkey`, before the broker answers it. Returns `true`
    /// when the SUBSCRIBE now waits for the node key's confirmation (the
    /// broker must not answer it); otherwise the broker goes on as usual.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sharded_subscribe(
        &mut self,
        cx: &mut Ctx,
        conn: LinkId,
        session: SessionId,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        request: RequestId,
        nkey: String,
    ) -> bool {
        let joined = self.realms[realm_idx as usize]
            .subs
            .get(uri, policy)
            .is_some_and(|e| matches!(e.join, JoinState::Joined));
        if joined {
            return self.node_gate(cx, realm_idx, uri, policy, (conn, session, request), nkey);
        }
        // The shard joins the subscription first; `sub_joined` calls `node_gate`.
        self.sharded.pending.insert((conn, request), nkey);
        false
    }

    /// On a shard that has joined (uri, policy): lets the subscriber in at
    /// once if this shard's membership of `nkey` is confirmed, else queues it
    /// and asks the owner (returns `true`: the SUBSCRIBE waits).
    pub(crate) fn node_gate(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        waiting: Waiting,
        nkey: String,
    ) -> bool {
        let Some(entry) = self.realms[realm_idx as usize].subs.get_mut(uri, policy) else {
            return false;
        };
        let conn = waiting.0;
        if entry.local.contains(&conn) {
            // Already a subscriber: it keeps its node key (or none).
            return false;
        }
        let nodes = entry.nodes.get_or_insert_default();
        if nodes.counts.contains_key(&nkey) {
            nodes.add_local(conn, nkey);
            return false;
        }
        if let Some(w) = nodes.joining.get_mut(&nkey) {
            w.push(waiting);
            return true;
        }
        nodes.joining.insert(nkey.clone(), vec![waiting]);
        let owner = cluster::owner_of(realm_idx, uri, policy, cx.shards);
        let from = cx.shard;
        cx.route(
            owner,
            ShardMsg::SubNode {
                realm: realm_idx,
                uri: uri.to_owned(),
                policy,
                from,
                nkey,
                present: true,
            },
        );
        true
    }

    /// Local subscriber `conn` of (uri, policy) left: the owner hears when it
    /// was the last one of its node key on this shard.
    pub(crate) fn sharded_left(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        conn: LinkId,
    ) {
        let Some(entry) = self.realms[realm_idx as usize].subs.get_mut(uri, policy) else {
            return;
        };
        let Some(nodes) = entry.nodes.as_mut() else {
            return;
        };
        let gone = nodes.remove_local(conn);
        if nodes.is_empty() {
            entry.nodes = None;
        }
        if let Some(nkey) = gone {
            self.send_node_leave(cx, realm_idx, uri, policy, nkey);
        }
    }

    fn send_node_leave(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        nkey: String,
    ) {
        let owner = cluster::owner_of(realm_idx, uri, policy, cx.shards);
        let from = cx.shard;
        cx.route(
            owner,
            ShardMsg::SubNode {
                realm: realm_idx,
                uri: uri.to_owned(),
                policy,
                from,
                nkey,
                present: false,
            },
        );
    }

    /// Owner side: shard `from` gained (`present`) or lost its subscribers of `nkey`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn owner_sub_node(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        from: ShardId,
        nkey: String,
        present: bool,
    ) {
        let key = (realm_idx, uri, policy);
        if present {
            let set = self
                .sharded
                .owned
                .entry(key.clone())
                .or_default()
                .entry(nkey.clone())
                .or_default();
            let (_, uri, policy) = key;
            let joined = ShardMsg::SubNodeJoined {
                realm: realm_idx,
                uri: uri.clone(),
                policy,
                nkey: nkey.clone(),
            };
            if !set.insert(from) {
                return cx.route(from, joined);
            }
            self.apply_sub_node_replica(realm_idx, &uri, policy, &nkey, from, true);
            cx.broadcast_with_barrier(from, joined, |barrier| ShardMsg::SubNodeReplica {
                realm: realm_idx,
                uri: uri.clone(),
                policy,
                nkey: nkey.clone(),
                shard: from,
                present: true,
                barrier,
            });
        } else {
            let Some(map) = self.sharded.owned.get_mut(&key) else {
                return;
            };
            let Some(set) = map.get_mut(&nkey) else {
                return;
            };
            if !set.remove(from) {
                return;
            }
            if set.is_empty() {
                map.remove(&nkey);
            }
            if map.is_empty() {
                self.sharded.owned.remove(&key);
            }
            let (_, uri, policy) = key;
            self.apply_sub_node_replica(realm_idx, &uri, policy, &nkey, from, false);
            cx.broadcast(|| ShardMsg::SubNodeReplica {
                realm: realm_idx,
                uri: uri.clone(),
                policy,
                nkey: nkey.clone(),
                shard: from,
                present: false,
                barrier: None,
            });
        }
    }

    /// Replica side: `shard` has (or no longer has) subscribers of `nkey`.
    pub(crate) fn apply_sub_node_replica(
        &mut self,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        nkey: &str,
        shard: ShardId,
        present: bool,
    ) {
        let subs = &mut self.realms[realm_idx as usize].subs;
        // The owner sends the shard's subscription replica before its node
        // replica, and a shard's node leave before its subscription leave, so
        // the entry exists here.
        let Some(e) = subs.get_mut(uri, policy) else {
            return;
        };
        if present {
            e.nodes
                .get_or_insert_default()
                .replica
                .entry(nkey.to_owned())
                .or_default()
                .insert(shard);
            return;
        }
        let Some(nodes) = e.nodes.as_mut() else {
            return;
        };
        if let Some(set) = nodes.replica.get_mut(nkey) {
            set.remove(shard);
            if set.is_empty() {
                nodes.replica.remove(nkey);
            }
        }
        if nodes.is_empty() {
            e.nodes = None;
        }
        if e.is_unused() {
            subs.remove(uri, policy);
        }
    }

    /// The owner confirmed this shard's membership of `nkey`: the waiting
    /// SUBSCRIBEs become subscribers and get SUBSCRIBED.
    pub(crate) fn sub_node_joined(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        nkey: String,
    ) {
        let Some(entry) = self.realms[realm_idx as usize].subs.get_mut(&uri, policy) else {
            return;
        };
        let Some(waiting) = entry.nodes.as_mut().and_then(|n| n.joining.remove(&nkey)) else {
            return;
        };
        let Some(id) = entry.id else {
            return;
        };
        let mut answered = Vec::with_capacity(waiting.len());
        let mut last_session = SessionId(0);
        for (conn, sid, request) in waiting {
            last_session = sid;
            let alive = cx.links.session(conn).is_some_and(|s| s.id == sid);
            if !alive {
                continue;
            }
            let entry = self.realms[realm_idx as usize]
                .subs
                .get_mut(&uri, policy)
                .expect("present");
            let added = !entry.local.contains(&conn);
            if added {
                entry.local.push(conn);
                entry
                    .nodes
                    .get_or_insert_default()
                    .add_local(conn, nkey.clone());
            }
            if let Some(s) = cx.links.session_mut(conn) {
                s.subscriptions.insert(id, (uri.clone(), policy));
            }
            answered.push((conn, sid, request, added));
        }
        let entry = self.realms[realm_idx as usize]
            .subs
            .get_mut(&uri, policy)
            .expect("present");
        let nodes = entry.nodes.get_or_insert_default();
        let unused = !nodes.counts.contains_key(&nkey);
        if nodes.is_empty() {
            entry.nodes = None;
        }
        for (conn, sid, request, added) in answered {
            cx.links.send(
                conn,
                &Message::Subscribed(Subscribed {
                    request,
                    subscription: id,
                }),
            );
            self.after_subscribed(cx, conn, sid, realm_idx, id, &uri, policy, request, added);
        }
        if unused {
            // Every waiting session left meanwhile: give the node key back.
            self.send_node_leave(cx, realm_idx, &uri, policy, nkey);
        }
        self.release_if_empty(cx, realm_idx, &uri, policy, last_session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(keys: &[&str]) -> NodeKeys {
        let mut n = NodeKeys::default();
        for k in keys {
            n.replica.insert((*k).to_owned(), ShardSet::default());
        }
        n
    }

    #[test]
    fn choice_is_stable_and_moves_only_keys_of_a_leaving_node() {
        let three = nodes(&["n1", "n2", "n3"]);
        let two = nodes(&["n1", "n3"]);
        let mut per_node: AHashMap<&str, usize> = AHashMap::new();
        for i in 0..300 {
            let rkey = format!("sensor-{i}");
            let a = three.choose(&rkey).expect("three nodes");
            assert_eq!(Some(a), three.choose(&rkey), "same key, same node");
            *per_node.entry(a).or_default() += 1;
            let b = two.choose(&rkey).expect("two nodes");
            if a != "n2" {
                assert_eq!(a, b, "keys of staying nodes do not move");
            }
        }
        assert_eq!(per_node.len(), 3, "keys spread over every node");
        assert!(per_node.values().all(|n| *n > 50), "{per_node:?}");
        assert_eq!(NodeKeys::default().choose("x"), None);
    }

    #[test]
    fn admits_subscribers_without_node_key_and_the_chosen_node() {
        let mut n = nodes(&["a", "b"]);
        n.add_local(LinkId(1), "a".into());
        n.add_local(LinkId(2), "b".into());
        n.add_local(LinkId(4), "a".into());
        assert!(n.admits(LinkId(3), Some("a")), "no node key: everything");
        assert!(n.admits(LinkId(1), Some("a")) && !n.admits(LinkId(2), Some("a")));
        assert_eq!(n.remove_local(LinkId(1)), None, "LinkId(4) still has 'a'");
        assert_eq!(n.remove_local(LinkId(4)), Some("a".to_owned()));
        assert_eq!(n.remove_local(LinkId(4)), None);
    }

    #[test]
    fn options_must_be_strings() {
        assert_eq!(nkey_option(&Dict::new()), Ok(None));
        assert_eq!(
            nkey_option(&Dict::new().with("nkey", "node1")),
            Ok(Some("node1".to_owned()))
        );
        assert!(nkey_option(&Dict::new().with("nkey", 3u64)).is_err());
        assert_eq!(rkey_option(&Value::from("k")), Ok("k".to_owned()));
        assert!(rkey_option(&Value::Int(7)).is_err());
    }
}

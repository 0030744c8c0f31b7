//! Retained events and the event history's feed.
//!
//! Retained events live on **every** shard: a `retain: true` publication goes
//! to all shards (one shared `Arc`), each keeps it for its topic, so a
//! `get_retained` SUBSCRIBE is answered from the subscriber's own shard right
//! after SUBSCRIBED. A retained publication that is still in flight when
//! SUBSCRIBED goes out reaches the new subscriber as a normal event, after the
//! older retained one: order is kept. The topic's owner shard
//! (`owner_of(realm, topic, exact)`) is the one that persists it.
//!
//! Event history lives on the owner shard of the history's subscription
//! (see `history.rs`); publishers' shards send matching publications there.
//! A realm without history and a publication without `retain` cost one
//! boolean test each.

use std::sync::Arc;

use super::history::RealmHistory;
use super::options::{now_ns, pattern_matches};
use super::{Broker, BrokerRealm, OwnedSub};
use crate::config::{Config, RealmConfig};
use crate::core::api::LinkId;
use crate::core::cluster::{self, RealmIdx, RoutedPublish, ShardSet};
use crate::core::ctx::Ctx;
use crate::core::journal::StoredEvent;
use crate::core::session::EventOut;
use crate::proto::uri::MatchPolicy;
use crate::proto::{RequestId, SessionId, ShardId, SubscriptionId};

impl Broker {
    /// Sets up each realm: history subscriptions this shard owns (created and
    /// pinned now, so their IDs are stable), and what the journal kept before
    /// this start.
    pub(super) fn init(&mut self, cx: &Ctx, config: &Config) {
        for rc in &config.realms {
            self.add_realm(cx, rc);
        }
    }

    /// Sets up the next realm (index: the number of realms so far), at
    /// startup or when a reload adds a realm: as [`Broker::init`] for one.
    pub(crate) fn add_realm(&mut self, cx: &Ctx, rc: &RealmConfig) {
        let (shard, shards) = (cx.shard, cx.shards);
        {
            let realm_idx = self.realms.len() as RealmIdx;
            let mut realm = BrokerRealm::default();
            let mut owned_ids = Vec::new();
            for h in &rc.store.event_history {
                let owner = cluster::owner_of(realm_idx, &h.uri, h.match_policy, shards);
                let id = if owner == shard {
                    let key = (h.uri.clone(), h.match_policy);
                    let id = match realm.owned_subs.get(&key) {
                        Some(o) => o.id,
                        None => {
                            let id = realm.new_sub_id(shard, shards);
                            realm.owned_subs.insert(
                                key,
                                OwnedSub {
                                    id,
                                    shards: ShardSet::default(),
                                    created: now_ns(),
                                    pinned: true,
                                },
                            );
                            id
                        }
                    };
                    Some(id)
                } else {
                    None
                };
                owned_ids.push(id);
            }
            realm.history = RealmHistory::new(
                &rc.store.event_history,
                realm_idx,
                shard,
                shards,
                &owned_ids,
            );
            for rec in self.journal.stored(realm_idx) {
                realm.load_record(rec);
            }
            self.realms.push(realm);
        }
    }

    /// Adds the shards that must see `p` besides its subscribers' (every
    /// shard for a retained event, the owners of matching histories) to
    /// `remote`; returns whether this shard keeps it (retains or records it).
    pub(super) fn publish_targets(
        &self,
        p: &RoutedPublish,
        shards: u16,
        remote: &mut ShardSet,
    ) -> bool {
        let Some(r) = self.realms.get(p.realm as usize) else {
            return false;
        };
        if p.retain {
            for s in 0..shards {
                remote.insert(ShardId(s));
            }
        }
        if !r.history.is_empty() && r.history.records(p) {
            r.history.owners_matching(&p.topic, remote);
        }
        self.keeps(p)
    }

    /// Whether this shard keeps `p`: it is retained, or it matches a history this shard owns.
    pub(super) fn keeps(&self, p: &RoutedPublish) -> bool {
        let Some(r) = self.realms.get(p.realm as usize) else {
            return false;
        };
        p.retain
            || (!r.history.is_empty() && r.history.records(p) && r.history.owns_match(&p.topic))
    }

    /// Keeps `p` on this shard: as its topic's retained event, and in every
    /// history this shard owns that it matches. Hands what this shard is the
    /// writer of to the journal (which only enqueues it).
    pub(super) fn keep_publication(&mut self, cx: &Ctx, p: &Arc<RoutedPublish>) {
        let (shard, shards) = (cx.shard, cx.shards);
        let Some(r) = self.realms.get_mut(p.realm as usize) else {
            return;
        };
        let now = now_ns();
        if p.retain {
            let owner = cluster::owner_of(p.realm, &p.topic, MatchPolicy::Exact, shards) == shard;
            if clears_retained(p) {
                // MQTT's rule: an empty retained MQTT payload clears the topic.
                if r.retained.remove(&p.topic).is_some() && owner {
                    self.journal.clear_retained(p.realm, &p.topic);
                }
            } else {
                r.retained.insert(p.topic.clone(), Arc::clone(p));
                if owner {
                    self.journal.keep_retained(p.realm, p, now);
                }
            }
        }
        if !r.history.is_empty() && r.history.records(p) {
            for (uri, policy) in r.history.record(p, now) {
                self.journal.keep_history(p.realm, &uri, policy, p, now);
            }
        }
    }

    /// After SUBSCRIBED for `link`: the subscription meta event (through the
    /// owner) when the session is new to it, and the retained events when
    /// the SUBSCRIBE asked for them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn after_subscribed(
        &mut self,
        cx: &mut Ctx,
        link: LinkId,
        session: SessionId,
        realm: RealmIdx,
        id: SubscriptionId,
        uri: &str,
        policy: MatchPolicy,
        request: RequestId,
        added: bool,
    ) {
        if added && !super::is_meta_quiet(uri) {
            self.sub_meta_added(cx, realm, session, id);
        }
        if self.want_retained.remove(&(link, request)) {
            self.send_retained(cx, link, realm, id, uri, policy);
        }
    }

    /// Sends `link` the retained events of every topic its new subscription
    /// (uri, policy) covers that it would have been eligible for.
    fn send_retained(
        &mut self,
        cx: &mut Ctx,
        link: LinkId,
        realm: RealmIdx,
        id: SubscriptionId,
        uri: &str,
        policy: MatchPolicy,
    ) {
        let Some(r) = self.realms.get(realm as usize) else {
            return;
        };
        let Some(s) = cx.links.session(link) else {
            return;
        };
        let mut out: Vec<Arc<RoutedPublish>> = match policy {
            MatchPolicy::Exact => r.retained.get(uri).cloned().into_iter().collect(),
            _ => r
                .retained
                .iter()
                .filter(|(topic, _)| pattern_matches(uri, policy, topic))
                .map(|(_, p)| Arc::clone(p))
                .collect(),
        };
        out.retain(|p| {
            p.filter
                .as_ref()
                .is_none_or(|f| f.admits(s.id, &s.authid(), &s.auth.authrole))
        });
        // Oldest publication first would need timestamps; topic order is stable.
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        let mut front = None;
        for p in out {
            let mut details = p.details.clone();
            if policy != MatchPolicy::Exact {
                details.insert("topic", p.topic.as_str());
            }
            details.insert("retained", true);
            let mut ev = EventOut::new(id, &p, &details, &mut front);
            ev.retained = true;
            cx.links.push_event(link, &mut ev);
            // Each retained publication is a publication of its own.
            front = None;
        }
    }
}

/// Whether a retained publication clears its topic's retained event rather
/// than replacing it: an MQTT publication with a zero-length payload, as MQTT
/// defines it.
pub(super) fn clears_retained(p: &RoutedPublish) -> bool {
    // Only MQTT's rule: a WAMP retained event with no arguments is kept like
    // any other (WAMP has no "clear"; Crossbar keeps it too).
    p.native.as_ref().is_some_and(|n| n.body.is_empty())
}

impl BrokerRealm {
    /// Takes one stored event at startup: every shard takes the retained
    /// events, the owner of a history its events.
    fn load_record(&mut self, rec: StoredEvent) {
        match rec {
            StoredEvent::Retained { publish, .. } => {
                self.retained.insert(publish.topic.clone(), publish);
            }
            StoredEvent::History {
                uri,
                policy,
                time_ns,
                publish,
            } => {
                self.history.load(&uri, policy, time_ns, publish);
            }
        }
    }
}

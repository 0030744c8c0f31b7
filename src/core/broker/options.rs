//! The broker's advanced-profile features that sit on the publish path:
//! PUBLISH option parsing (publisher exclusion, subscriber black- and
//! whitelisting, `retain`), publication trust levels, retained events and the
//! hand-off of publications to the event history; and [`AdvState`], the
//! per-shard state of the advanced features (retained events, history,
//! testaments, meta queries in flight).
//!
//! Cost on the common path: a PUBLISH without advanced options gets no
//! [`PublishFilter`] (`RoutedPublish::filter` is `None`, one branch per
//! subscriber), and a realm without history and a publish without `retain`
//! cost one boolean test each.
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

use std::sync::Arc;

use ahash::{AHashMap, AHashSet};

use crate::config::Config;
use crate::core::ShardRouter;
use crate::core::broker::history::RealmHistory;
use crate::core::broker::testament::Testaments;
use crate::core::cluster::{self, PublishFilter, RealmIdx, RoutedPublish, ShardSet};
use crate::core::journal::StoredEvent;
use crate::core::meta::query::Pending;
use crate::core::realm::{ConnId, OwnedSub};
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Event, Message, RequestId, SessionId, SubscriptionId, Value};

/// Whether `topic` is reserved for the router's own events (`wamp.*`):
/// clients may subscribe to it, not publish to it (as in Crossbar).
pub fn is_reserved_topic(topic: &str) -> bool {
    topic.starts_with("wamp.")
}

/// Unix time now, in nanoseconds.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl PublishFilter {
    /// Whether a subscriber with this identity gets the event.
    pub fn admits(&self, session: SessionId, authid: &str, authrole: &str) -> bool {
        if self.exclude.binary_search(&session).is_ok() {
            return false;
        }
        if let Some(e) = &self.eligible
            && e.binary_search(&session).is_err()
        {
            return false;
        }
        self.admits_identity(authid, authrole)
    }

    /// Whether `authid`/`authrole` pass the authid and authrole lists (the
    /// session lists ignored): the test the event history applies.
    pub fn admits_identity(&self, authid: &str, authrole: &str) -> bool {
        !self.exclude_authid.iter().any(|a| a == authid)
            && !self.exclude_authrole.iter().any(|r| r == authrole)
            && self
                .eligible_authid
                .as_ref()
                .is_none_or(|l| l.iter().any(|a| a == authid))
            && self
                .eligible_authrole
                .as_ref()
                .is_none_or(|l| l.iter().any(|r| r == authrole))
    }

    /// Whether it names sessions: such events are not kept in the history
    /// (session IDs do not survive their sessions; the spec says to skip them).
    pub fn names_sessions(&self) -> bool {
        !self.exclude.is_empty() || self.eligible.is_some()
    }
}

/// The PUBLISH options the broker acts on.
#[derive(Debug, Default)]
pub struct PubOptions {
    /// `acknowledge` (default false).
    pub acknowledge: bool,
    /// `exclude_me` (default true).
    pub exclude_me: bool,
    /// `disclose_me` (default false).
    pub disclose_me: bool,
    /// `retain` (default false).
    pub retain: bool,
    /// Black- and whitelists, `None` when the publish has none.
    pub filter: Option<Box<PublishFilter>>,
    /// `rkey`: the resource key for sharded subscriptions.
    pub rkey: Option<String>,
}

impl PubOptions {
    /// Reads the options in one pass over the dictionary; unknown keys are ignored.
    ///
    /// # Errors
    /// A message naming the option with a wrong type (for `wamp.error.invalid_argument`).
    pub fn parse(options: &Dict) -> Result<PubOptions, String> {
        let mut o = PubOptions {
            exclude_me: true,
            ..PubOptions::default()
        };
        for (key, v) in options.iter() {
            match key {
                "acknowledge" => o.acknowledge = flag(key, v)?,
                "exclude_me" => o.exclude_me = flag(key, v)?,
                "disclose_me" => o.disclose_me = flag(key, v)?,
                "retain" => o.retain = flag(key, v)?,
                "rkey" => o.rkey = Some(crate::core::broker::sharded::rkey_option(v)?),
                "exclude" => filter(&mut o).exclude = session_list(key, v)?,
                "eligible" => filter(&mut o).eligible = Some(session_list(key, v)?),
                "exclude_authid" => filter(&mut o).exclude_authid = string_list(key, v)?,
                "eligible_authid" => filter(&mut o).eligible_authid = Some(string_list(key, v)?),
                "exclude_authrole" => filter(&mut o).exclude_authrole = string_list(key, v)?,
                "eligible_authrole" => {
                    filter(&mut o).eligible_authrole = Some(string_list(key, v)?);
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

fn filter(o: &mut PubOptions) -> &mut PublishFilter {
    o.filter.get_or_insert_with(Box::default)
}

fn flag(key: &str, v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("option '{key}' must be a boolean"))
}

/// A list of session IDs, sorted for binary search.
fn session_list(key: &str, v: &Value) -> Result<Vec<SessionId>, String> {
    let err = || format!("option '{key}' must be a list of session IDs (integers 1..2^53)");
    let list = v.as_list().ok_or_else(err)?;
    let mut ids = Vec::with_capacity(list.len());
    for item in list {
        match item.as_u64() {
            Some(id) if crate::proto::is_valid_id(id) => ids.push(SessionId(id)),
            _ => return Err(err()),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn string_list(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let err = || format!("option '{key}' must be a list of strings");
    let list = v.as_list().ok_or_else(err)?;
    list.iter()
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(err))
        .collect()
}

/// Whether `uri` matches (`pattern`, `policy`) by the rules of
/// pattern-based subscriptions (prefix: string prefix; wildcard: same number
/// of components, every non-empty pattern component equal).
pub fn pattern_matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let mut p = pattern.split('.');
            let mut u = uri.split('.');
            loop {
                match (p.next(), u.next()) {
                    (None, None) => return true,
                    (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
                    _ => return false,
                }
            }
        }
    }
}

/// Advanced state of one realm on one shard.
#[derive(Default)]
pub(in crate::core) struct RealmAdv {
    /// Retained event per topic (a copy on every shard).
    pub retained: AHashMap<String, Arc<RoutedPublish>>,
    /// Configured histories (every shard knows them all) and the buffers of those this shard owns.
    pub history: RealmHistory,
}

/// The advanced features' state on one shard.
#[derive(Default)]
pub struct AdvState {
    /// Per realm, indexed like `ShardRouter::realms`.
    pub(in crate::core) realms: Vec<RealmAdv>,
    /// SUBSCRIBE requests that asked for `get_retained` and wait for SUBSCRIBED.
    pub(in crate::core) want_retained: AHashSet<(ConnId, RequestId)>,
    /// Testaments of this shard's sessions.
    pub(in crate::core) testaments: AHashMap<SessionId, Testaments>,
    /// Sessions ending without meta events or testaments (`kill_all`).
    pub(in crate::core) quiet: AHashSet<SessionId>,
    /// Meta queries this shard asked and is gathering answers for.
    pub(in crate::core) pending: AHashMap<u64, Pending>,
    /// Last meta query ID.
    pub(in crate::core) last_query: u64,
}

impl AdvState {
    /// Adds the shards that must see `p` besides its subscribers' (every
    /// shard for a retained event, the owners of matching histories) to
    /// `remote`; returns whether this shard keeps it (retains or records it).
    pub(in crate::core) fn publish_targets(
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
                remote.insert(crate::proto::ShardId(s));
            }
        }
        if !r.history.is_empty() && r.history.records(p) {
            r.history.owners_matching(&p.topic, remote);
        }
        self.keeps(p)
    }

    /// Whether this shard keeps `p`: it is retained, or it matches a history this shard owns.
    pub(in crate::core) fn keeps(&self, p: &RoutedPublish) -> bool {
        let Some(r) = self.realms.get(p.realm as usize) else {
            return false;
        };
        p.retain
            || (!r.history.is_empty() && r.history.records(p) && r.history.owns_match(&p.topic))
    }
}

impl ShardRouter {
    /// Sets up the advanced state from the config: trust levels, history
    /// subscriptions this shard owns (created and pinned now, so their IDs
    /// are stable), and what the journal kept before this start.
    pub(in crate::core) fn init_advanced(&mut self, config: &Config) {
        let (shard, shards) = (self.shard, self.shards);
        for (idx, rc) in config.realms.iter().enumerate() {
            let realm_idx = idx as RealmIdx;
            let mut adv = RealmAdv::default();
            let realm = &mut self.realms[idx];
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
            adv.history = RealmHistory::new(
                &rc.store.event_history,
                realm_idx,
                shard,
                shards,
                &owned_ids,
            );
            for rec in self.journal.stored(realm_idx) {
                adv.load_record(rec);
            }
            self.adv.realms.push(adv);
        }
    }

    /// Keeps `p` on this shard: as its topic's retained event, and in every
    /// history this shard owns that it matches. Hands what this shard is the
    /// writer of to the journal (which only enqueues it).
    pub(in crate::core) fn keep_publication(&mut self, p: &Arc<RoutedPublish>) {
        let (shard, shards) = (self.shard, self.shards);
        let Some(r) = self.adv.realms.get_mut(p.realm as usize) else {
            return;
        };
        let now = now_ns();
        if p.retain {
            r.retained.insert(p.topic.clone(), Arc::clone(p));
            if cluster::owner_of(p.realm, &p.topic, MatchPolicy::Exact, shards) == shard {
                self.journal.keep_retained(p.realm, p, now);
            }
        }
        if !r.history.is_empty() && r.history.records(p) {
            for (uri, policy) in r.history.record(p, now) {
                self.journal.keep_history(p.realm, &uri, policy, p, now);
            }
        }
    }

    /// After SUBSCRIBED for `conn`: the subscription meta event (through the
    /// owner) when the session is new to it, and the retained events when
    /// the SUBSCRIBE asked for them.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::core) fn after_subscribed(
        &mut self,
        conn: ConnId,
        session: SessionId,
        realm: RealmIdx,
        id: SubscriptionId,
        uri: &str,
        policy: MatchPolicy,
        request: RequestId,
        added: bool,
    ) {
        if added && !crate::core::meta::subscription::is_meta_quiet(uri) {
            self.sub_meta_added(realm, session, id);
        }
        if self.adv.want_retained.remove(&(conn, request)) {
            self.send_retained(conn, realm, id, uri, policy);
        }
    }

    /// Sends `conn` the retained events of every topic its new subscription
    /// (uri, policy) covers that it would have been eligible for.
    fn send_retained(
        &mut self,
        conn: ConnId,
        realm: RealmIdx,
        id: SubscriptionId,
        uri: &str,
        policy: MatchPolicy,
    ) {
        let Some(r) = self.adv.realms.get(realm as usize) else {
            return;
        };
        let Some(s) = self.session(conn) else { return };
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
                .is_none_or(|f| f.admits(s.id, &s.authid, &s.authrole))
        });
        // Oldest publication first would need timestamps; topic order is stable.
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        for p in out {
            let mut details = p.details.clone();
            if policy != MatchPolicy::Exact {
                details.insert("topic", p.topic.as_str());
            }
            details.insert("retained", true);
            let ev = Message::Event(Event {
                subscription: id,
                publication: p.publication,
                details,
                payload: p.payload.clone(),
            });
            self.send(conn, &ev);
        }
    }
}

impl RealmAdv {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_in_one_pass_and_reject_wrong_types() {
        let o = PubOptions::parse(&Dict::new()).expect("empty is fine");
        assert!(o.exclude_me && !o.acknowledge && !o.retain && o.filter.is_none());
        let d = Dict::new()
            .with("exclude", Value::List(vec![Value::Int(9), Value::Int(3)]))
            .with("eligible_authrole", Value::List(vec!["admin".into()]))
            .with("retain", true);
        let o = PubOptions::parse(&d).expect("valid");
        let f = o.filter.expect("filter present");
        assert_eq!(f.exclude, vec![SessionId(3), SessionId(9)]);
        assert_eq!(f.eligible_authrole, Some(vec!["admin".to_owned()]));
        assert!(o.retain);
        for bad in [
            Dict::new().with("exclude", Value::Int(3)),
            Dict::new().with("exclude", Value::List(vec!["x".into()])),
            Dict::new().with("eligible", Value::List(vec![Value::Int(0)])),
            Dict::new().with("exclude_authid", Value::List(vec![Value::Int(1)])),
            Dict::new().with("retain", "yes"),
        ] {
            let e = PubOptions::parse(&bad).expect_err("wrong type");
            assert!(e.starts_with("option '"), "{e}");
        }
    }

    #[test]
    fn filter_follows_the_spec_rules() {
        let f = PublishFilter {
            exclude: vec![SessionId(2)],
            eligible: Some(vec![SessionId(1), SessionId(2), SessionId(3)]),
            exclude_authrole: vec!["guest".into()],
            ..PublishFilter::default()
        };
        assert!(f.admits(SessionId(1), "a", "user"));
        assert!(
            !f.admits(SessionId(2), "a", "user"),
            "excluded wins over eligible"
        );
        assert!(!f.admits(SessionId(4), "a", "user"), "not eligible");
        assert!(!f.admits(SessionId(3), "a", "guest"), "role excluded");
        assert!(f.names_sessions());
        let g = PublishFilter {
            eligible_authid: Some(vec!["alice".into()]),
            ..PublishFilter::default()
        };
        assert!(g.admits_identity("alice", "x") && !g.admits_identity("bob", "x"));
        assert!(!g.names_sessions());
    }

    #[test]
    fn patterns_match_like_the_index() {
        assert!(pattern_matches("a.b", MatchPolicy::Prefix, "a.bc"));
        assert!(!pattern_matches("a.b", MatchPolicy::Prefix, "a"));
        assert!(pattern_matches("a..c", MatchPolicy::Wildcard, "a.x.c"));
        assert!(!pattern_matches("a..c", MatchPolicy::Wildcard, "a.x.c.d"));
        assert!(!pattern_matches("a..c", MatchPolicy::Wildcard, "a.x.d"));
        assert!(pattern_matches("a.b", MatchPolicy::Exact, "a.b"));
    }
}

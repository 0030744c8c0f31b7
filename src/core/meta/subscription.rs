//! The subscription meta API (advanced profile, "Subscriptions Meta API")
//! and `wamp.subscription.get_events` (event history).
//!
//! **Events.** Every meta event of one subscription is published by the
//! subscription's **owner shard**: `on_create` when its first subscribing
//! shard joins, `on_delete` when the last leaves, and `on_subscribe` /
//! `on_unsubscribe`, which the subscriber's shard forwards to the owner
//! (`ShardMsg::SubMeta`) instead of publishing them itself. Shard pairs are
//! FIFO, so a meta subscriber sees `on_create` before `on_subscribe` and
//! `on_unsubscribe` before `on_delete`, as the spec requires, wherever the
//! sessions are. The forwarding is skipped when no shard has a subscriber of
//! the event's topic (checked on the local replica). As in Crossbar,
//! subscriptions to `wamp.*` topics (the meta API itself) fire no meta events.
//!
//! **Procedures.** `list`, `lookup`, `match` and `get` ask the owners (the
//! authoritative entries, including history subscriptions without
//! subscribers); `list_subscribers` and `count_subscribers` gather the
//! subscribers from every shard; `get_events` asks the history's owner.

use crate::core::ShardRouter;
use crate::core::authz::Action;
use crate::core::broker::history::format_rfc3339;
use crate::core::broker::options::pattern_matches;
use crate::core::cluster::{self, RealmIdx, ShardMsg};
use crate::core::cluster::{EventsQuery, MetaPart, MetaQuery};
use crate::core::meta::query::{Reply, Targets, uris_meta};
use crate::core::realm::ConnId;
use crate::core::{match_policy, uris};
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{Call, Dict, Payload, SessionId, SubscriptionId, Value};

/// Whether subscriptions to `uri` fire no meta events (the meta API's own topics).
pub(in crate::core) fn is_meta_quiet(uri: &str) -> bool {
    uri.starts_with("wamp.")
}

const ON_CREATE: &str = "wamp.subscription.on_create";
const ON_SUBSCRIBE: &str = "wamp.subscription.on_subscribe";
const ON_UNSUBSCRIBE: &str = "wamp.subscription.on_unsubscribe";
const ON_DELETE: &str = "wamp.subscription.on_delete";

fn policy_slot(p: MatchPolicy) -> usize {
    match p {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

impl ShardRouter {
    /// Whether any shard has a subscriber of `topic` in `realm` (local replica).
    pub(in crate::core) fn has_listeners(&self, realm: RealmIdx, topic: &str) -> bool {
        let mut any = false;
        self.realms[realm as usize]
            .subs
            .for_each_match(topic, |_, _, e| {
                any |= !e.remote.is_empty() || !e.local.is_empty();
            });
        any
    }

    /// A session was added to subscription `id` on this shard.
    pub(in crate::core) fn sub_meta_added(
        &mut self,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
    ) {
        if self.has_listeners(realm, ON_SUBSCRIBE) {
            let owner = self.shard_of_id(id.0);
            self.route(
                owner,
                ShardMsg::SubMeta {
                    realm,
                    subscribed: true,
                    session,
                    id,
                },
            );
        }
    }

    /// A session was removed from subscription `id` (uri, policy) on this shard.
    pub(in crate::core) fn sub_meta_removed(
        &mut self,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
        uri: &str,
        _policy: MatchPolicy,
    ) {
        if !is_meta_quiet(uri) && self.has_listeners(realm, ON_UNSUBSCRIBE) {
            let owner = self.shard_of_id(id.0);
            self.route(
                owner,
                ShardMsg::SubMeta {
                    realm,
                    subscribed: false,
                    session,
                    id,
                },
            );
        }
    }

    /// Owner: publishes `on_subscribe` / `on_unsubscribe`.
    pub(in crate::core) fn owner_sub_meta(
        &mut self,
        realm: RealmIdx,
        subscribed: bool,
        session: SessionId,
        id: SubscriptionId,
    ) {
        let topic = if subscribed {
            ON_SUBSCRIBE
        } else {
            ON_UNSUBSCRIBE
        };
        self.publish_internal(
            realm,
            topic,
            Dict::new(),
            Payload::args(vec![Value::from(session.0), Value::from(id.0)]),
        );
    }

    /// Owner: the subscription got its first subscribing shard.
    pub(in crate::core) fn owner_sub_created(
        &mut self,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
        uri: &str,
        policy: MatchPolicy,
    ) {
        if is_meta_quiet(uri) {
            return;
        }
        let Some(details) = self.owned_sub_details(realm, uri, policy) else {
            return;
        };
        let _ = id;
        self.publish_internal(
            realm,
            ON_CREATE,
            Dict::new(),
            Payload::args(vec![Value::from(session.0), Value::Dict(details)]),
        );
    }

    /// Owner: the subscription lost its last subscriber.
    pub(in crate::core) fn owner_sub_deleted(
        &mut self,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
        uri: &str,
    ) {
        if is_meta_quiet(uri) {
            return;
        }
        self.publish_internal(
            realm,
            ON_DELETE,
            Dict::new(),
            Payload::args(vec![Value::from(session.0), Value::from(id.0)]),
        );
    }

    /// `SubscriptionDetails` of an owned subscription.
    fn owned_sub_details(&self, realm: RealmIdx, uri: &str, policy: MatchPolicy) -> Option<Dict> {
        let o = self.realms[realm as usize]
            .owned_subs
            .get(&(uri.to_owned(), policy))?;
        Some(
            Dict::new()
                .with("id", o.id.0)
                .with("created", format_rfc3339(o.created))
                .with("uri", uri)
                .with("match", policy.as_str()),
        )
    }

    /// `wamp.subscription.*` calls; gives back a call it does not implement.
    pub(in crate::core) fn meta_subscription_call(
        &mut self,
        conn: ConnId,
        call: Call,
    ) -> Option<Call> {
        let s = self.session(conn)?;
        let (realm, authid, authrole) = (s.realm, s.authid.clone(), s.authrole.clone());
        let args: &[Value] = call.payload.args.as_deref().unwrap_or(&[]);
        let req = call.request;
        let sub_id = || {
            args.first()
                .and_then(Value::as_u64)
                .filter(|n| crate::proto::is_valid_id(*n))
                .map(SubscriptionId)
        };
        match call.procedure.as_str() {
            "wamp.subscription.list" => {
                self.meta_ask(
                    conn,
                    req,
                    Reply::PolicyLists,
                    Targets::All,
                    MetaQuery::SubList { realm },
                );
            }
            "wamp.subscription.lookup" => {
                let Some(topic) = args.first().and_then(Value::as_str) else {
                    return self.meta_invalid(conn, &call, "the first argument must be a topic");
                };
                let policy = match args.get(1) {
                    None | Some(Value::Null) => Ok(MatchPolicy::Exact),
                    Some(Value::Dict(d)) => match_policy(d),
                    Some(_) => Err("the options argument must be a dict".to_owned()),
                };
                let policy = match policy {
                    Ok(p) => p,
                    Err(e) => return self.meta_invalid(conn, &call, &e),
                };
                let owner = cluster::owner_of(realm, topic, policy, self.shards);
                let q = MetaQuery::SubLookup {
                    realm,
                    uri: topic.to_owned(),
                    policy,
                };
                self.meta_ask(conn, req, Reply::ValueOrNull, Targets::One(owner), q);
            }
            "wamp.subscription.match" => {
                let Some(topic) = args.first().and_then(Value::as_str) else {
                    return self.meta_invalid(conn, &call, "the first argument must be a topic");
                };
                if !uri::is_valid(
                    topic,
                    self.realms[realm as usize].uri_check,
                    MatchPolicy::Exact,
                ) {
                    let msg = format!("invalid topic URI '{topic}'");
                    self.error(
                        conn,
                        crate::proto::message::code::CALL,
                        req,
                        uris::INVALID_URI,
                        Some(msg),
                    );
                    return None;
                }
                let q = MetaQuery::SubMatch {
                    realm,
                    uri: topic.to_owned(),
                };
                self.meta_ask(conn, req, Reply::IdsOrNull, Targets::All, q);
            }
            "wamp.subscription.get" => {
                let Some(id) = sub_id() else {
                    return self.meta_invalid(
                        conn,
                        &call,
                        "the argument must be a subscription ID",
                    );
                };
                let owner = self.shard_of_id(id.0);
                let q = MetaQuery::SubGet { realm, id };
                self.meta_ask(conn, req, Reply::SubValue, Targets::One(owner), q);
            }
            "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
                let Some(id) = sub_id() else {
                    return self.meta_invalid(
                        conn,
                        &call,
                        "the argument must be a subscription ID",
                    );
                };
                let reply = if call.procedure.ends_with("list_subscribers") {
                    Reply::SubIds
                } else {
                    Reply::SubCount
                };
                let q = MetaQuery::SubSubscribers { realm, id };
                self.meta_ask(conn, req, reply, Targets::All, q);
            }
            "wamp.subscription.get_events" => {
                let Some(id) = sub_id() else {
                    return self.meta_invalid(
                        conn,
                        &call,
                        "the first argument must be a subscription ID",
                    );
                };
                let q = match EventsQuery::parse(args, call.payload.kwargs.as_ref()) {
                    Ok(q) => q,
                    Err(e) => return self.meta_invalid(conn, &call, &e),
                };
                let owner = self.shard_of_id(id.0);
                let q = MetaQuery::SubEvents {
                    realm,
                    id,
                    authid,
                    authrole,
                    q,
                };
                self.meta_ask(conn, req, Reply::ValueOrError, Targets::One(owner), q);
            }
            _ => return Some(call),
        }
        None
    }

    pub(in crate::core) fn sub_list_part(&self, realm: RealmIdx) -> MetaPart {
        let mut part = MetaPart::default();
        for ((_, policy), o) in &self.realms[realm as usize].owned_subs {
            part.by_policy[policy_slot(*policy)].push(o.id.0);
        }
        part
    }

    pub(in crate::core) fn sub_lookup_part(
        &self,
        realm: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
    ) -> MetaPart {
        let o = self.realms[realm as usize]
            .owned_subs
            .get(&(uri.to_owned(), policy));
        MetaPart {
            found: o.is_some(),
            value: o.map(|o| Value::from(o.id.0)),
            ..MetaPart::default()
        }
    }

    pub(in crate::core) fn sub_match_part(&self, realm: RealmIdx, topic: &str) -> MetaPart {
        let ids = self.realms[realm as usize]
            .owned_subs
            .iter()
            .filter(|((pattern, policy), _)| pattern_matches(pattern, *policy, topic))
            .map(|(_, o)| o.id.0)
            .collect();
        MetaPart {
            ids,
            ..MetaPart::default()
        }
    }

    pub(in crate::core) fn sub_get_part(&self, realm: RealmIdx, id: SubscriptionId) -> MetaPart {
        let found = self.realms[realm as usize]
            .owned_subs
            .iter()
            .find(|(_, o)| o.id == id)
            .map(|((uri, policy), _)| (uri.clone(), *policy));
        let value = found
            .and_then(|(uri, policy)| self.owned_sub_details(realm, &uri, policy))
            .map(Value::Dict);
        MetaPart {
            found: value.is_some(),
            value,
            ..MetaPart::default()
        }
    }

    pub(in crate::core) fn sub_subscribers_part(
        &self,
        realm: RealmIdx,
        id: SubscriptionId,
    ) -> MetaPart {
        let r = &self.realms[realm as usize];
        let found = r.owned_subs.values().any(|o| o.id == id);
        let mut ids = Vec::new();
        for (_, _, e) in r.subs.iter() {
            if e.id != Some(id) {
                continue;
            }
            for c in &e.local {
                if let Some(s) = self.conns.get(c).and_then(|c| c.session.as_ref()) {
                    ids.push(s.id.0);
                }
            }
        }
        MetaPart {
            found,
            ids,
            ..MetaPart::default()
        }
    }

    pub(in crate::core) fn sub_events_part(
        &self,
        realm: RealmIdx,
        id: SubscriptionId,
        authid: &str,
        authrole: &str,
        q: &EventsQuery,
    ) -> MetaPart {
        let r = &self.realms[realm as usize];
        let adv = &self.adv.realms[realm as usize];
        let err = |uri: &'static str, msg: String| MetaPart {
            error: Some((uri, msg)),
            ..MetaPart::default()
        };
        let Some((uri, _)) = adv.history.key_of(id) else {
            return if r.owned_subs.values().any(|o| o.id == id) {
                err(
                    uris_meta::HISTORY_UNAVAILABLE,
                    "no event history is kept for this subscription".into(),
                )
            } else {
                err(
                    uris::NO_SUCH_SUBSCRIPTION,
                    "no subscription with this ID on the realm".into(),
                )
            };
        };
        // Reading a history needs the right to subscribe to it (as in Crossbar).
        if !r.authz.authorize(authrole, Action::Subscribe, uri).allowed {
            return err(
                uris::NOT_AUTHORIZED,
                format!("not authorized to subscribe to '{uri}', so not to read its history"),
            );
        }
        let events = adv
            .history
            .query(id, authid, authrole, q)
            .unwrap_or_default();
        MetaPart {
            found: true,
            value: Some(Value::List(events)),
            ..MetaPart::default()
        }
    }
}

//! The subscription meta API's broker side (advanced profile,
//! "Subscriptions Meta API").
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
//! **Answers.** The procedures themselves live in the meta API
//! (`meta/subscription.rs`); the parts of their answers that this shard
//! holds are computed here (`*_part`).
//!
//! **Revocation** (`wamp.subscription.remove_subscriber`, on the
//! subscriber's shard): the subscription goes as if the session had sent
//! UNSUBSCRIBE (`on_unsubscribe`, and `on_delete` for the last subscriber),
//! but the session is not told: the spec's UNSUBSCRIBED with request 0 is
//! for subscribers that announce `subscription_revocation`, and
//! Autobahn|Python and Autobahn|JS announce it yet treat that message as a
//! protocol error and drop their connection. So the router does not
//! announce the feature, and revokes silently, as the spec says for
//! subscribers without it. Subscriptions to `wamp.*` topics cannot be
//! revoked (as in Crossbar.io).

use super::Broker;
use super::history::format_rfc3339;
use super::options::pattern_matches;
use crate::core::authz::Action;
use crate::core::cluster::{EventsQuery, MetaPart, RealmIdx, ShardMsg};
use crate::core::ctx::Ctx;
use crate::core::uris;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Payload, SessionId, SubscriptionId, Value};

/// Whether subscriptions to `uri` fire no meta events (the meta API's own topics).
pub fn is_meta_quiet(uri: &str) -> bool {
    uri.starts_with("wamp.")
}

const ON_CREATE: &str = "wamp.subscription.on_create";
const ON_SUBSCRIBE: &str = "wamp.subscription.on_subscribe";
const ON_UNSUBSCRIBE: &str = "wamp.subscription.on_unsubscribe";
const ON_DELETE: &str = "wamp.subscription.on_delete";

/// The slot of a match policy in a `wamp.subscription.list` answer.
fn policy_slot(p: MatchPolicy) -> usize {
    match p {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

impl Broker {
    /// Revokes `session`'s subscription `id` (see the module header).
    pub(crate) fn revoke_subscriber(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        id: SubscriptionId,
        session: SessionId,
        reason: Option<&str>,
    ) -> Result<(), (&'static str, String)> {
        let link = cx
            .links
            .link_of(session)
            .filter(|l| cx.links.session(*l).is_some_and(|s| s.realm == realm))
            .ok_or_else(|| {
                let msg = format!("no session with ID {} exists on this realm", session.0);
                (uris::NO_SUCH_SESSION, msg)
            })?;
        let s = cx.links.session_mut(link).expect("found above");
        match s.subscriptions.get(&id) {
            None => {
                let msg = format!(
                    "session {} is not subscribed on subscription {id}",
                    session.0
                );
                return Err((uris::NO_SUCH_SUBSCRIPTION, msg));
            }
            Some((uri, _)) if is_meta_quiet(uri) => {
                let msg = format!(
                    "the subscription to '{uri}' is the router's own: it cannot be revoked"
                );
                return Err((uris::NOT_AUTHORIZED, msg));
            }
            Some(_) => {}
        }
        let (uri, policy) = s.subscriptions.remove(&id).expect("checked above");
        tracing::info!(
            subscription = id.0,
            session = session.0,
            %uri,
            reason = reason.unwrap_or(""),
            "subscription revoked"
        );
        self.local_unsubscribe(cx, realm, &uri, policy, link, session);
        Ok(())
    }

    /// Whether any shard has a subscriber of `topic` in `realm` (local replica).
    pub(crate) fn has_listeners(&self, realm: RealmIdx, topic: &str) -> bool {
        let mut any = false;
        self.realms[realm as usize]
            .subs
            .for_each_match(topic, |_, _, e| {
                any |= !e.remote.is_empty() || !e.local.is_empty();
            });
        any
    }

    /// A session was added to subscription `id` on this shard.
    pub(crate) fn sub_meta_added(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
    ) {
        if self.has_listeners(realm, ON_SUBSCRIBE) {
            let owner = cx.shard_of_id(id.0);
            cx.route(
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
    pub(crate) fn sub_meta_removed(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
        uri: &str,
    ) {
        if !is_meta_quiet(uri) && self.has_listeners(realm, ON_UNSUBSCRIBE) {
            let owner = cx.shard_of_id(id.0);
            cx.route(
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
    pub(crate) fn owner_sub_meta(
        &mut self,
        cx: &mut Ctx,
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
            cx,
            realm,
            topic,
            Dict::new(),
            Payload::args(vec![Value::from(session.0), Value::from(id.0)]),
        );
    }

    /// Owner: the subscription got its first subscribing shard.
    pub(crate) fn owner_sub_created(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        session: SessionId,
        uri: &str,
        policy: MatchPolicy,
    ) {
        if is_meta_quiet(uri) {
            return;
        }
        let Some(details) = self.owned_sub_details(realm, uri, policy) else {
            return;
        };
        self.publish_internal(
            cx,
            realm,
            ON_CREATE,
            Dict::new(),
            Payload::args(vec![Value::from(session.0), Value::Dict(details)]),
        );
    }

    /// Owner: the subscription lost its last subscriber.
    pub(crate) fn owner_sub_deleted(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        session: SessionId,
        id: SubscriptionId,
        uri: &str,
    ) {
        if is_meta_quiet(uri) {
            return;
        }
        self.publish_internal(
            cx,
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

    pub(crate) fn sub_list_part(&self, realm: RealmIdx) -> MetaPart {
        let mut part = MetaPart::default();
        for ((_, policy), o) in &self.realms[realm as usize].owned_subs {
            part.by_policy[policy_slot(*policy)].push(o.id.0);
        }
        part
    }

    pub(crate) fn sub_lookup_part(
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

    pub(crate) fn sub_match_part(&self, realm: RealmIdx, topic: &str) -> MetaPart {
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

    pub(crate) fn sub_get_part(&self, realm: RealmIdx, id: SubscriptionId) -> MetaPart {
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

    pub(crate) fn sub_subscribers_part(
        &self,
        cx: &Ctx,
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
                if let Some(s) = cx.links.session(*c) {
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

    pub(crate) fn sub_events_part(
        &self,
        cx: &Ctx,
        realm: RealmIdx,
        id: SubscriptionId,
        authid: &str,
        authrole: &str,
        q: &EventsQuery,
    ) -> MetaPart {
        let r = &self.realms[realm as usize];
        let err = |uri: &'static str, msg: String| MetaPart {
            error: Some((uri, msg)),
            ..MetaPart::default()
        };
        let Some((uri, _)) = r.history.key_of(id) else {
            return if r.owned_subs.values().any(|o| o.id == id) {
                err(
                    uris::HISTORY_UNAVAILABLE,
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
        if !cx.realms[realm as usize]
            .authz
            .authorize(authrole, Action::Subscribe, uri)
            .allowed
        {
            return err(
                uris::NOT_AUTHORIZED,
                format!("not authorized to subscribe to '{uri}', so not to read its history"),
            );
        }
        let events = r.history.query(id, authid, authrole, q).unwrap_or_default();
        MetaPart {
            found: true,
            value: Some(Value::List(events)),
            ..MetaPart::default()
        }
    }
}

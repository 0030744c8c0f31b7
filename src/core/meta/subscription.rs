//! The subscription meta API's procedures (advanced profile, "Subscriptions
//! Meta API") and `wamp.subscription.get_events` (event history).
//!
//! `list`, `lookup`, `match` and `get` ask the owners (the authoritative
//! entries, including history subscriptions without subscribers);
//! `remove_subscriber` (Crossbar.io's; positional or keyword arguments
//! `subscription_id`, `subscriber_id`, `reason`) asks the subscriber's shard
//! (`broker/meta.rs` says how it revokes);
//! `list_subscribers` and `count_subscribers` gather the subscribers from
//! every shard; `get_events` asks the history's owner. The events and the
//! answers each shard gives live with the broker (`broker/meta.rs`).

use super::query::{Reply, Targets};
use super::{Procedure, meta_arg};
use crate::core::api::LinkId;
use crate::core::cluster::{self, EventsQuery, MetaQuery};
use crate::core::{ShardRouter, match_policy, uris};
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{Call, SessionId, SubscriptionId, Value};

/// The procedures of this family.
pub(super) const PROCEDURES: &[(&str, Procedure)] = &[
    (
        "wamp.subscription.list",
        ShardRouter::meta_subscription_call,
    ),
    (
        "wamp.subscription.lookup",
        ShardRouter::meta_subscription_call,
    ),
    (
        "wamp.subscription.match",
        ShardRouter::meta_subscription_call,
    ),
    ("wamp.subscription.get", ShardRouter::meta_subscription_call),
    (
        "wamp.subscription.list_subscribers",
        ShardRouter::meta_subscription_call,
    ),
    (
        "wamp.subscription.count_subscribers",
        ShardRouter::meta_subscription_call,
    ),
    (
        "wamp.subscription.get_events",
        ShardRouter::meta_subscription_call,
    ),
    (
        "wamp.subscription.remove_subscriber",
        ShardRouter::meta_subscription_call,
    ),
];

impl ShardRouter {
    /// `wamp.subscription.*` calls.
    fn meta_subscription_call(&mut self, conn: LinkId, call: Call) {
        let Some(s) = self.cx.links.session(conn) else {
            return;
        };
        let (realm, authid, authrole) = (
            s.realm,
            s.authid().into_owned(),
            s.auth.authrole.to_string(),
        );
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
                let owner = cluster::owner_of(realm, topic, policy, self.cx.shards);
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
                    self.cx.realms[realm as usize].uri_check,
                    MatchPolicy::Exact,
                ) {
                    let msg = format!("invalid topic URI '{topic}'");
                    return self.cx.links.error(
                        conn,
                        crate::proto::message::code::CALL,
                        req,
                        uris::INVALID_URI,
                        Some(msg),
                    );
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
                let owner = self.cx.shard_of_id(id.0);
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
                let owner = self.cx.shard_of_id(id.0);
                let q = MetaQuery::SubEvents {
                    realm,
                    id,
                    authid,
                    authrole,
                    q,
                };
                self.meta_ask(conn, req, Reply::ValueOrError, Targets::One(owner), q);
            }
            "wamp.subscription.remove_subscriber" => {
                let id = |i, name| {
                    meta_arg(&call, i, name)
                        .and_then(Value::as_u64)
                        .filter(|n| crate::proto::is_valid_id(*n))
                };
                let (Some(sub), Some(session)) = (id(0, "subscription_id"), id(1, "subscriber_id"))
                else {
                    return self.meta_invalid(
                        conn,
                        &call,
                        "the arguments must be a subscription ID and a session ID",
                    );
                };
                let reason = match meta_arg(&call, 2, "reason") {
                    None | Some(Value::Null) => None,
                    Some(Value::Str(r)) => Some(r.clone()),
                    Some(_) => {
                        return self.meta_invalid(conn, &call, "the reason must be a string");
                    }
                };
                let q = MetaQuery::SubRemove {
                    realm,
                    id: SubscriptionId(sub),
                    session: SessionId(session),
                    reason,
                };
                let shard = self.cx.shard_of_id(session);
                self.meta_ask(conn, req, Reply::Done, Targets::One(shard), q);
            }
            other => tracing::error!(
                procedure = other,
                "meta procedure registered but not handled"
            ),
        }
    }
}

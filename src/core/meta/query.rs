//! Scatter-gather for meta procedures whose answer lives on other shards
//! (sessions live on their own shard, subscribers on many, a subscription's
//! details and history on its owner).
//!
//! The caller's shard sends a [`MetaQuery`] to the shards that know (all of
//! them, or the one a session or subscription ID names: IDs are
//! `(n - 1) * shards + shard + 1`, so `(id - 1) % shards` is the shard), keeps
//! a [`Pending`] entry, merges the [`MetaPart`] answers, and sends RESULT or
//! ERROR once every asked shard has answered. A question to its own shard is
//! answered in place. Shards never drop a question, so every query completes;
//! a caller that left meanwhile just gets nothing.

use crate::core::ShardRouter;
use crate::core::api::LinkId;
use crate::core::cluster::{MetaPart, MetaQuery, ShardMsg};
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::{
    CallResult, Dict, Error, Message, Payload, RequestId, SessionId, ShardId, Value,
};

impl MetaPart {
    fn merge(&mut self, o: MetaPart) {
        self.found |= o.found;
        self.count += o.count;
        self.ids.extend(o.ids);
        for (a, b) in self.by_policy.iter_mut().zip(o.by_policy) {
            a.extend(b);
        }
        if self.value.is_none() {
            self.value = o.value;
        }
        if self.error.is_none() {
            self.error = o.error;
        }
    }
}

/// How the merged answer becomes the RESULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `[count]`.
    Count,
    /// `[ids]`.
    Ids,
    /// `[ids]`, or `[null]` when empty.
    IdsOrNull,
    /// `[value]` or ERROR `no_such_session`.
    SessionValue,
    /// `[]` or ERROR `no_such_session`.
    KilledOne,
    /// `[{exact, prefix, wildcard}]`.
    PolicyLists,
    /// `[value or null]`.
    ValueOrNull,
    /// `[value]` or ERROR `no_such_subscription`.
    SubValue,
    /// `[ids]` or ERROR `no_such_subscription`.
    SubIds,
    /// `[count]` or ERROR `no_such_subscription`.
    SubCount,
    /// `[value]` or the part's ERROR.
    ValueOrError,
    /// `[]` or the part's ERROR.
    Done,
}

/// Where a meta query goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Targets {
    /// Every shard.
    All,
    /// One shard.
    One(ShardId),
}

/// A meta query waiting for answers, on the caller's shard.
#[derive(Debug)]
pub(crate) struct Pending {
    caller: SessionId,
    request: RequestId,
    reply: Reply,
    remaining: usize,
    acc: MetaPart,
}

impl ShardRouter {
    /// Asks `targets` the question `q` on behalf of the CALL `request` of the
    /// session on `conn`; the answer goes out when all have answered.
    pub(crate) fn meta_ask(
        &mut self,
        conn: LinkId,
        request: RequestId,
        reply: Reply,
        targets: Targets,
        q: MetaQuery,
    ) {
        let Some(s) = self.cx.links.session(conn) else {
            return;
        };
        let caller = s.id;
        self.meta.last_query += 1;
        let query = self.meta.last_query;
        let list: Vec<ShardId> = match targets {
            Targets::All => (0..self.cx.shards).map(ShardId).collect(),
            Targets::One(s) => vec![s],
        };
        self.meta.pending.insert(
            query,
            Pending {
                caller,
                request,
                reply,
                remaining: list.len(),
                acc: MetaPart::default(),
            },
        );
        let mut local = false;
        for s in list {
            if s == self.cx.shard {
                local = true;
            } else {
                let from = self.cx.shard;
                self.cx.send_remote(
                    s,
                    ShardMsg::MetaQuery {
                        from,
                        query,
                        q: Box::new(q.clone()),
                    },
                );
            }
        }
        if local {
            let part = self.meta_answer(q);
            self.meta_part(query, part);
        }
    }

    /// A question from shard `from`: answer it.
    pub(crate) fn answer_meta_query(&mut self, from: ShardId, query: u64, q: MetaQuery) {
        let part = self.meta_answer(q);
        self.cx.route(
            from,
            ShardMsg::MetaPart {
                query,
                part: Box::new(part),
            },
        );
    }

    /// This shard's answer to `q`.
    fn meta_answer(&mut self, q: MetaQuery) -> MetaPart {
        match q {
            MetaQuery::SessionCount { realm, roles } => {
                let ids = self.local_sessions(realm, roles.as_deref());
                MetaPart {
                    count: ids.len() as u64,
                    ..MetaPart::default()
                }
            }
            MetaQuery::SessionList { realm, roles } => MetaPart {
                ids: self.local_sessions(realm, roles.as_deref()),
                ..MetaPart::default()
            },
            MetaQuery::SessionGet { realm, id } => MetaPart {
                value: self.session_details(realm, id).map(Value::Dict),
                ..MetaPart::default()
            },
            MetaQuery::Kill {
                realm,
                target,
                reason,
                message,
                except,
            } => {
                let killed = self.kill_local(realm, &target, &reason, message.as_deref(), except);
                MetaPart {
                    found: !killed.is_empty(),
                    count: killed.len() as u64,
                    ids: killed,
                    ..MetaPart::default()
                }
            }
            MetaQuery::SubList { realm } => self.broker.sub_list_part(realm),
            MetaQuery::SubLookup { realm, uri, policy } => {
                self.broker.sub_lookup_part(realm, &uri, policy)
            }
            MetaQuery::SubMatch { realm, uri } => self.broker.sub_match_part(realm, &uri),
            MetaQuery::SubGet { realm, id } => self.broker.sub_get_part(realm, id),
            MetaQuery::SubSubscribers { realm, id } => {
                self.broker.sub_subscribers_part(&self.cx, realm, id)
            }
            MetaQuery::SubRemove {
                realm,
                id,
                session,
                reason,
            } => MetaPart {
                error: self
                    .broker
                    .revoke_subscriber(&mut self.cx, realm, id, session, reason.as_deref())
                    .err(),
                ..MetaPart::default()
            },
            MetaQuery::SubEvents {
                realm,
                id,
                authid,
                authrole,
                q,
            } => self
                .broker
                .sub_events_part(&self.cx, realm, id, &authid, &authrole, &q),
        }
    }

    /// One answer arrived (or was computed here).
    pub(crate) fn meta_part(&mut self, query: u64, part: MetaPart) {
        let Some(p) = self.meta.pending.get_mut(&query) else {
            return;
        };
        p.acc.merge(part);
        p.remaining -= 1;
        if p.remaining > 0 {
            return;
        }
        let p = self.meta.pending.remove(&query).expect("present");
        let msg = finish(p.request, p.reply, p.acc);
        self.cx.links.send_to_session(p.caller, &msg);
    }
}

/// The merged answer as RESULT or ERROR.
fn finish(request: RequestId, reply: Reply, mut acc: MetaPart) -> Message {
    let error = |uri: &str, msg: String| {
        Message::Error(Error {
            request_type: code::CALL,
            request,
            details: Dict::new(),
            error: uri.to_owned(),
            payload: Payload::args(vec![Value::from(msg)]),
        })
    };
    let ok = |args: Vec<Value>| {
        Message::Result(CallResult {
            request,
            details: Dict::new(),
            payload: Payload::args(args),
        })
    };
    let ids = |v: &mut Vec<u64>| {
        v.sort_unstable();
        Value::List(v.iter().map(|i| Value::from(*i)).collect())
    };
    match reply {
        Reply::Count => ok(vec![Value::from(acc.count)]),
        Reply::Ids => ok(vec![ids(&mut acc.ids)]),
        Reply::IdsOrNull if acc.ids.is_empty() => ok(vec![Value::Null]),
        Reply::IdsOrNull => ok(vec![ids(&mut acc.ids)]),
        Reply::SessionValue => match acc.value {
            Some(v) => ok(vec![v]),
            None => error(uris::NO_SUCH_SESSION, "no such session".into()),
        },
        Reply::KilledOne if acc.found => ok(vec![]),
        Reply::KilledOne => error(uris::NO_SUCH_SESSION, "no such session".into()),
        Reply::PolicyLists => {
            let [mut e, mut p, mut w] = acc.by_policy;
            ok(vec![Value::Dict(
                Dict::new()
                    .with("exact", ids(&mut e))
                    .with("prefix", ids(&mut p))
                    .with("wildcard", ids(&mut w)),
            )])
        }
        Reply::ValueOrNull => ok(vec![acc.value.unwrap_or(Value::Null)]),
        Reply::SubValue | Reply::SubIds | Reply::SubCount if !acc.found => error(
            uris::NO_SUCH_SUBSCRIPTION,
            "no subscription with this ID on the realm".into(),
        ),
        Reply::SubValue => ok(vec![acc.value.unwrap_or(Value::Null)]),
        Reply::SubIds => ok(vec![ids(&mut acc.ids)]),
        Reply::SubCount => ok(vec![Value::from(acc.ids.len() as u64)]),
        Reply::Done => match acc.error {
            Some((uri, msg)) => error(uri, msg),
            None => ok(vec![]),
        },
        Reply::ValueOrError => match (acc.error, acc.value) {
            (Some((uri, msg)), _) => error(uri, msg),
            (None, Some(v)) => ok(vec![v]),
            (None, None) => error(
                uris::NO_SUCH_SUBSCRIPTION,
                "no subscription with this ID on the realm".into(),
            ),
        },
    }
}

//! Session testaments (advanced profile, "Session Testament"):
//! `wamp.session.add_testament(topic, args, kwargs, publish_options=, scope=)`
//! and `wamp.session.flush_testaments(scope=)`.
//!
//! Testaments are kept per session on the session's shard, in two buckets
//! (`detached`, `destroyed`, default `destroyed`), in the order they were
//! added. Junction has no session resumption, so a session is detached and
//! destroyed at the same moment: when it ends for any reason (GOODBYE, lost
//! transport, kill, slow consumer), the `detached` testaments are published
//! first, then the `destroyed` ones, as the spec requires of routers without
//! resumption. Both buckets exist so that `flush_testaments` works per scope.
//!
//! The publish options honoured are `retain`, the black/whitelists and
//! `disclose_me`; `acknowledge` and `exclude_me` make no sense for a session
//! that is gone and are ignored. Adding a testament needs the session's role
//! to be allowed to publish to its topic (checked when it is added).

use super::Broker;
use crate::core::api::LinkId;
use crate::core::authz::Action;
use crate::core::broker::options::{PubOptions, is_reserved_topic};
use crate::core::cluster::PublishFilter;
use crate::core::cluster::{RealmIdx, RoutedPublish};
use crate::core::ctx::Ctx;
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{Call, CallResult, Dict, Message, Payload, PublicationId, SessionId, Value};

/// Most testaments one session may hold (per scope).
pub const MAX_TESTAMENTS: usize = 64;

/// One testament: a publication made when the session ends.
#[derive(Debug, Clone)]
pub struct Testament {
    topic: String,
    payload: Payload,
    retain: bool,
    disclose_me: bool,
    filter: Option<Box<PublishFilter>>,
}

/// A session's testaments, by scope.
#[derive(Debug, Default)]
pub struct Testaments {
    detached: Vec<Testament>,
    destroyed: Vec<Testament>,
}

/// `scope`: `true` for detached.
fn scope_of(kw: Option<&Dict>) -> Result<bool, String> {
    match kw.and_then(|k| k.get("scope")) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Str(s)) if s == "destroyed" => Ok(false),
        Some(Value::Str(s)) if s == "detached" => Ok(true),
        Some(other) => Err(format!(
            "'scope' must be \"destroyed\" or \"detached\", not {other:?}"
        )),
    }
}

impl Broker {
    /// `wamp.session.add_testament`.
    pub(crate) fn add_testament(&mut self, cx: &mut Ctx, conn: LinkId, call: &Call) {
        let Some(s) = cx.links.session(conn) else {
            return;
        };
        let (id, realm) = (s.id, s.realm);
        let args: &[Value] = call.payload.args.as_deref().unwrap_or(&[]);
        let kw = call.payload.kwargs.as_ref();
        let parsed = (|| -> Result<(Testament, bool), (&'static str, String)> {
            let invalid = |m: &str| (uris::INVALID_ARGUMENT, m.to_owned());
            let topic = args
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("the first argument must be the topic"))?;
            let t_args = match args.get(1) {
                None | Some(Value::Null) => None,
                Some(Value::List(l)) => Some(l.clone()),
                Some(_) => return Err(invalid("the second argument (args) must be a list")),
            };
            let t_kwargs = match args.get(2) {
                None | Some(Value::Null) => None,
                Some(Value::Dict(d)) => Some(d.clone()),
                Some(_) => return Err(invalid("the third argument (kwargs) must be a dict")),
            };
            let opts = match kw.and_then(|k| k.get("publish_options")) {
                None | Some(Value::Null) => PubOptions::parse(&Dict::new()),
                Some(Value::Dict(d)) => PubOptions::parse(d),
                Some(_) => return Err(invalid("'publish_options' must be a dict")),
            }
            .map_err(|e| (uris::INVALID_ARGUMENT, format!("publish_options: {e}")))?;
            let detached = scope_of(kw).map_err(|e| (uris::INVALID_ARGUMENT, e))?;
            let realm_ref = &cx.realms[realm as usize];
            if !uri::is_valid(topic, realm_ref.uri_check, MatchPolicy::Exact)
                || is_reserved_topic(topic)
            {
                return Err((
                    uris::INVALID_URI,
                    format!("invalid testament topic '{topic}'"),
                ));
            }
            let authrole = &s.auth.authrole;
            if !realm_ref
                .authz
                .authorize(authrole, Action::Publish, topic)
                .allowed
            {
                return Err((
                    uris::NOT_AUTHORIZED,
                    format!("not authorized to publish to '{topic}'"),
                ));
            }
            Ok((
                Testament {
                    topic: topic.to_owned(),
                    payload: Payload {
                        args: t_args,
                        kwargs: t_kwargs,
                    },
                    retain: opts.retain,
                    disclose_me: opts.disclose_me,
                    filter: opts.filter,
                },
                detached,
            ))
        })();
        let (t, detached) = match parsed {
            Ok(p) => p,
            Err((error, msg)) => {
                return cx
                    .links
                    .error(conn, code::CALL, call.request, error, Some(msg));
            }
        };
        let bucket = self.testaments.entry(id).or_default();
        let list = if detached {
            &mut bucket.detached
        } else {
            &mut bucket.destroyed
        };
        if list.len() >= MAX_TESTAMENTS {
            let msg = format!("at most {MAX_TESTAMENTS} testaments per scope");
            return cx.links.error(
                conn,
                code::CALL,
                call.request,
                uris::INVALID_ARGUMENT,
                Some(msg),
            );
        }
        list.push(t);
        cx.links.send(conn, &empty_result(call));
    }

    /// `wamp.session.flush_testaments`.
    pub(crate) fn flush_testaments(&mut self, cx: &mut Ctx, conn: LinkId, call: &Call) {
        let Some(s) = cx.links.session(conn) else {
            return;
        };
        let id = s.id;
        let detached = match scope_of(call.payload.kwargs.as_ref()) {
            Ok(d) => d,
            Err(e) => {
                return cx.links.error(
                    conn,
                    code::CALL,
                    call.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        if let Some(b) = self.testaments.get_mut(&id) {
            if detached {
                b.detached.clear();
            } else {
                b.destroyed.clear();
            }
        }
        cx.links.send(conn, &empty_result(call));
    }

    /// Publishes a session's testaments: `detached` first, then `destroyed`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish_testaments(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        session: SessionId,
        authid: &str,
        authrole: &str,
        trustlevel: Option<u64>,
        t: Testaments,
    ) {
        for t in t.detached.into_iter().chain(t.destroyed) {
            let grant =
                cx.realms[realm as usize]
                    .authz
                    .authorize(authrole, Action::Publish, &t.topic);
            let mut details = Dict::new();
            if t.disclose_me || grant.disclose.publisher {
                details.insert("publisher", session.0);
                details.insert("publisher_authid", authid);
                details.insert("publisher_authrole", authrole);
            }
            if let Some(level) = trustlevel {
                details.insert("trustlevel", level);
            }
            let routed = RoutedPublish {
                realm,
                topic: t.topic,
                publication: PublicationId(cx.rng_id()),
                publisher: session,
                exclude_me: false,
                details,
                payload: t.payload,
                filter: t.filter,
                retain: t.retain,
                rkey: None,
                native: None,
            };
            self.route_publish(cx, routed, None);
        }
    }
}

fn empty_result(call: &Call) -> Message {
    Message::Result(CallResult {
        request: call.request,
        details: Dict::new(),
        payload: Payload::empty(),
    })
}

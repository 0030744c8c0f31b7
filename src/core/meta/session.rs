//! The session meta API (advanced profile, "Session Meta API"): the events
//! `wamp.session.on_join` / `on_leave`, published by the session's own shard,
//! and the procedures `wamp.session.count`, `list`, `get`, `kill`,
//! `kill_by_authid`, `kill_by_authrole`, `kill_all`, answered by
//! scatter-gather over the shards (`meta_query.rs`); `get` and `kill` go only
//! to the shard the session ID names.
//!
//! A killed session gets GOODBYE with the reason (default
//! `wamp.close.killed`) and `details.message`, and its connection is closed
//! after the GOODBYE is flushed. The caller is never killed: `kill` of its own
//! ID is `wamp.error.no_such_session`, the other variants skip it. As the spec
//! says, `kill_all` publishes neither `on_leave` nor testaments for the
//! sessions it ends.

use super::Procedure;
use super::query::{Reply, Targets};
use crate::core::api::LinkId;
use crate::core::api::Output;
use crate::core::cluster::{KillTarget, MetaQuery, RealmIdx};
use crate::core::outbox::CloseReason;
use crate::core::{ShardRouter, uris};
use crate::proto::message::code;
use crate::proto::uri::{self, MatchPolicy, UriCheck};
use crate::proto::{Call, Dict, Goodbye, Message, Payload, SessionId, Value};

const ON_JOIN: &str = "wamp.session.on_join";
const ON_LEAVE: &str = "wamp.session.on_leave";

/// The procedures of this family.
pub(super) const PROCEDURES: &[(&str, Procedure)] = &[
    ("wamp.session.count", ShardRouter::meta_session_call),
    ("wamp.session.list", ShardRouter::meta_session_call),
    ("wamp.session.get", ShardRouter::meta_session_call),
    ("wamp.session.kill", ShardRouter::meta_session_call),
    (
        "wamp.session.kill_by_authid",
        ShardRouter::meta_session_call,
    ),
    (
        "wamp.session.kill_by_authrole",
        ShardRouter::meta_session_call,
    ),
    ("wamp.session.kill_all", ShardRouter::meta_session_call),
    ("wamp.session.add_testament", ShardRouter::meta_session_call),
    (
        "wamp.session.flush_testaments",
        ShardRouter::meta_session_call,
    ),
];

impl ShardRouter {
    /// `wamp.session.*` calls.
    fn meta_session_call(&mut self, conn: LinkId, call: Call) {
        let Some(s) = self.cx.links.session(conn) else {
            return;
        };
        let (realm, me) = (s.realm, s.id);
        let args: &[Value] = call.payload.args.as_deref().unwrap_or(&[]);
        let kwargs = call.payload.kwargs.as_ref();
        let req = call.request;
        match call.procedure.as_str() {
            "wamp.session.count" | "wamp.session.list" => {
                let roles = match args.first() {
                    None | Some(Value::Null) => None,
                    Some(v) => match string_list(v) {
                        Some(l) => Some(l),
                        None => {
                            return self.meta_invalid(
                                conn,
                                &call,
                                "filter_authroles must be a list of strings",
                            );
                        }
                    },
                };
                let (reply, q) = if call.procedure == "wamp.session.count" {
                    (Reply::Count, MetaQuery::SessionCount { realm, roles })
                } else {
                    (Reply::Ids, MetaQuery::SessionList { realm, roles })
                };
                self.meta_ask(conn, req, reply, Targets::All, q);
            }
            "wamp.session.get" => {
                let Some(id) = args.first().and_then(session_id) else {
                    return self.meta_invalid(conn, &call, "the argument must be a session ID");
                };
                let shard = self.cx.shard_of_id(id.0);
                let q = MetaQuery::SessionGet { realm, id };
                self.meta_ask(conn, req, Reply::SessionValue, Targets::One(shard), q);
            }
            "wamp.session.kill"
            | "wamp.session.kill_by_authid"
            | "wamp.session.kill_by_authrole"
            | "wamp.session.kill_all" => {
                // After the target, except for kill_all, which has none.
                let at = usize::from(call.procedure != "wamp.session.kill_all");
                let (reason, message) = match kill_reason(args, kwargs, at) {
                    Ok(r) => r,
                    Err((error, msg)) => {
                        let msg = format!("{}: {msg}", call.procedure);
                        return self.cx.links.error(conn, code::CALL, req, error, Some(msg));
                    }
                };
                let (target, reply, targets) = match call.procedure.as_str() {
                    "wamp.session.kill" => {
                        let Some(id) = args.first().and_then(session_id) else {
                            return self.meta_invalid(
                                conn,
                                &call,
                                "the argument must be a session ID",
                            );
                        };
                        if id == me {
                            let msg = "a session cannot kill itself with wamp.session.kill";
                            return self.cx.links.error(
                                conn,
                                code::CALL,
                                req,
                                uris::NO_SUCH_SESSION,
                                Some(msg.into()),
                            );
                        }
                        let shard = self.cx.shard_of_id(id.0);
                        (
                            KillTarget::Session(id),
                            Reply::KilledOne,
                            Targets::One(shard),
                        )
                    }
                    "wamp.session.kill_by_authid" => {
                        let Some(a) = args.first().and_then(Value::as_str) else {
                            return self.meta_invalid(
                                conn,
                                &call,
                                "the argument must be an authid",
                            );
                        };
                        (KillTarget::Authid(a.to_owned()), Reply::Ids, Targets::All)
                    }
                    "wamp.session.kill_by_authrole" => {
                        let Some(a) = args.first().and_then(Value::as_str) else {
                            return self.meta_invalid(
                                conn,
                                &call,
                                "the argument must be an authrole",
                            );
                        };
                        (
                            KillTarget::Authrole(a.to_owned()),
                            Reply::Count,
                            Targets::All,
                        )
                    }
                    _ => (KillTarget::All, Reply::Count, Targets::All),
                };
                let q = MetaQuery::Kill {
                    realm,
                    target,
                    reason,
                    message,
                    except: me,
                };
                self.meta_ask(conn, req, reply, targets, q);
            }
            "wamp.session.add_testament" => self.broker.add_testament(&mut self.cx, conn, &call),
            "wamp.session.flush_testaments" => {
                self.broker.flush_testaments(&mut self.cx, conn, &call)
            }
            other => tracing::error!(
                procedure = other,
                "meta procedure registered but not handled"
            ),
        }
    }

    /// Answers a meta call with `wamp.error.invalid_argument`.
    pub(super) fn meta_invalid(&mut self, conn: LinkId, call: &Call, msg: &str) {
        self.cx.links.error(
            conn,
            code::CALL,
            call.request,
            uris::INVALID_ARGUMENT,
            Some(format!("{}: {msg}", call.procedure)),
        );
    }

    /// IDs of this shard's sessions in `realm` (with an authrole in `roles`, if given).
    pub(crate) fn local_sessions(&self, realm: RealmIdx, roles: Option<&[String]>) -> Vec<u64> {
        self.cx
            .links
            .sessions()
            .map(|(_, s)| s)
            .filter(|s| s.realm == realm && !s.trusted)
            .filter(|s| roles.is_none_or(|r| r.iter().any(|r| **r == *s.auth.authrole)))
            .map(|s| s.id.0)
            .collect()
    }

    /// A session's details as `on_join` and `wamp.session.get` give them.
    pub(crate) fn session_details(&self, realm: RealmIdx, id: SessionId) -> Option<Dict> {
        let link = self.cx.links.link_of(id)?;
        let l = self.cx.links.get(link)?;
        let s = self
            .cx
            .links
            .session(link)
            .filter(|s| s.realm == realm && !s.trusted)?;
        let serializer = match &l.out {
            Output::Wire { serializer, .. } => serializer.name(),
            Output::Typed(_) => "typed",
            Output::Sink(_) => l.info.kind.as_str(),
        };
        let transport = Dict::new()
            .with("type", l.info.kind.as_str())
            .with("peer", l.info.peer.to_string())
            .with("serializer", serializer)
            .with("transport_id", l.info.transport.id.as_str())
            .with("x_junction_shard", u64::from(self.cx.shard.0));
        let mut d = Dict::new()
            .with("session", s.id.0)
            .with("realm", self.cx.realms[s.realm as usize].name.as_str())
            .with("authid", &*s.authid())
            .with("authrole", &*s.auth.authrole)
            .with("authmethod", &*s.auth.authmethod)
            .with("authprovider", &*s.auth.authprovider);
        if let Some(extra) = s.authextra() {
            d.insert("authextra", extra.clone());
        }
        Some(d.with("transport", transport))
    }

    /// Publishes `wamp.session.on_join` for the session that just got WELCOME.
    pub(crate) fn session_joined(&mut self, conn: LinkId) {
        let Some(s) = self.cx.links.session(conn) else {
            return;
        };
        let (realm, id) = (s.realm, s.id);
        if let Some(l) = self.cx.links.get(conn) {
            tracing::debug!(
                session = id.0,
                realm = %self.cx.realms[realm as usize].name,
                authid = %s.authid(),
                authrole = %s.auth.authrole,
                authmethod = %s.auth.authmethod,
                peer = %l.info.peer,
                transport = %l.info.transport.id,
                "session opened"
            );
            if !s.trusted {
                let (transport, method) = (l.info.transport.id.clone(), s.auth.authmethod.clone());
                self.cx
                    .links
                    .metrics
                    .session_opened(realm, &transport, &method);
            }
        }
        if !self.broker.has_listeners(realm, ON_JOIN) {
            return;
        }
        if let Some(details) = self.session_details(realm, id) {
            self.broker.publish_internal(
                &mut self.cx,
                realm,
                ON_JOIN,
                Dict::new(),
                Payload::args(vec![Value::Dict(details)]),
            );
        }
    }

    /// The session has ended (whatever the cause): its testaments, then `on_leave`.
    pub(crate) fn session_left(
        &mut self,
        conn: LinkId,
        id: SessionId,
        realm: RealmIdx,
        authid: String,
        authrole: std::rc::Rc<str>,
        trustlevel: Option<u64>,
    ) {
        let (testaments, announce) = self.broker.session_ended(conn, id);
        if !announce {
            return;
        }
        if let Some(t) = testaments {
            self.broker.publish_testaments(
                &mut self.cx,
                realm,
                id,
                &authid,
                &authrole,
                trustlevel,
                t,
            );
        }
        if !self.broker.has_listeners(realm, ON_LEAVE) {
            return;
        }
        self.broker.publish_internal(
            &mut self.cx,
            realm,
            ON_LEAVE,
            Dict::new(),
            Payload::args(vec![
                Value::from(id.0),
                Value::from(authid),
                Value::from(&*authrole),
            ]),
        );
    }

    /// Ends this shard's sessions in `realm` that `target` names, except
    /// `except`, with GOODBYE; returns their IDs.
    pub(crate) fn kill_local(
        &mut self,
        realm: RealmIdx,
        target: &KillTarget,
        reason: &str,
        message: Option<&str>,
        except: SessionId,
    ) -> Vec<u64> {
        let victims: Vec<(LinkId, SessionId)> = self
            .cx
            .links
            .sessions()
            .filter_map(|(conn, s)| {
                let id = s.id;
                let hit = s.realm == realm
                    && !s.trusted
                    && id != except
                    && match target {
                        KillTarget::Session(t) => *t == id,
                        KillTarget::Authid(a) => *s.authid() == **a,
                        KillTarget::Authrole(r) => *s.auth.authrole == **r,
                        KillTarget::All => true,
                    };
                hit.then_some((conn, id))
            })
            .collect();
        let mut killed = Vec::with_capacity(victims.len());
        for (conn, id) in victims {
            let mut details = Dict::new();
            if let Some(m) = message {
                details.insert("message", m);
            }
            self.cx.links.send(
                conn,
                &Message::Goodbye(Goodbye {
                    details,
                    reason: reason.to_owned(),
                }),
            );
            if matches!(target, KillTarget::All) {
                self.broker.end_quietly(id);
            }
            self.end_session(conn, false);
            self.cx.links.close_link(conn, CloseReason::Normal);
            tracing::debug!(session = id.0, reason, "session killed by the meta API");
            killed.push(id.0);
        }
        killed
    }
}

/// A session ID argument.
fn session_id(v: &Value) -> Option<SessionId> {
    v.as_u64()
        .filter(|n| crate::proto::is_valid_id(*n))
        .map(SessionId)
}

/// A list of strings.
pub(crate) fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_list()?
        .iter()
        .map(|i| i.as_str().map(str::to_owned))
        .collect()
}

/// The `reason` and `message` of a kill procedure: positional after its
/// target (`at`: 1 after the session ID, authid or authrole, 0 for
/// `kill_all`), as Crossbar.io's `session_kill(session_id, reason, message)`
/// takes them and crossbar-examples' metaapi calls it, or as keyword
/// arguments, which win when both are given. A reason that is not a string
/// or a message that is not a string is `invalid_argument`; a reason that
/// is not a URI is `invalid_uri`.
fn kill_reason(
    args: &[Value],
    kw: Option<&Dict>,
    at: usize,
) -> Result<(String, Option<String>), (&'static str, String)> {
    // A keyword given as null is absent: the positional one applies.
    let pick = |i: usize, name: &str| {
        kw.and_then(|k| k.get(name))
            .filter(|v| !matches!(v, Value::Null))
            .or_else(|| args.get(i))
    };
    let reason = match pick(at, "reason") {
        None | Some(Value::Null) => uris::CLOSE_KILLED.to_owned(),
        Some(Value::Str(r)) if uri::is_valid(r, UriCheck::Loose, MatchPolicy::Exact) => r.clone(),
        Some(Value::Str(r)) => {
            return Err((
                uris::INVALID_URI,
                format!("'reason' must be a valid non-empty URI, not '{r}'"),
            ));
        }
        Some(other) => {
            return Err((
                uris::INVALID_ARGUMENT,
                format!("'reason' must be a URI string, not {other:?}"),
            ));
        }
    };
    let message = match pick(at + 1, "message") {
        None | Some(Value::Null) => None,
        Some(Value::Str(m)) => Some(m.clone()),
        Some(other) => {
            return Err((
                uris::INVALID_ARGUMENT,
                format!("'message' must be a string, not {other:?}"),
            ));
        }
    };
    Ok((reason, message))
}

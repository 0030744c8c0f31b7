//! The registration meta API's procedures: `wamp.registration.*`, answered
//! on the caller's shard from its replica (every replica holds each
//! registration's ID, policy, creation time and full callee list, so no
//! cross-shard request is needed). The `wamp.registration.on_*` events are
//! published by the registration's owner (`dealer/meta.rs`).
//!
//! `wamp.registration.remove` and `wamp.registration.remove_callee` revoke
//! registrations (positional arguments, or Crossbar.io's keywords
//! `registration_id`, `callee_id`, `reason`): each callee's shard removes it and, if the callee announced
//! `registration_revocation`, sends UNREGISTERED with request 0 and details
//! `{registration, reason}`.

use super::{Procedure, meta_arg};
use crate::core::api::LinkId;
use crate::core::cluster::{RealmIdx, ShardMsg};
use crate::core::dealer::RegEntry;
use crate::core::dealer::meta::reg_details;
use crate::core::{ShardRouter, uris};
use crate::proto::message::code;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Call, CallResult, Dict, Message, Payload, RegistrationId, SessionId, Value};

/// The procedures of this family.
pub(super) const PROCEDURES: &[(&str, Procedure)] = &[
    (
        "wamp.registration.list",
        ShardRouter::registration_meta_call,
    ),
    (
        "wamp.registration.lookup",
        ShardRouter::registration_meta_call,
    ),
    (
        "wamp.registration.match",
        ShardRouter::registration_meta_call,
    ),
    ("wamp.registration.get", ShardRouter::registration_meta_call),
    (
        "wamp.registration.list_callees",
        ShardRouter::registration_meta_call,
    ),
    (
        "wamp.registration.count_callees",
        ShardRouter::registration_meta_call,
    ),
    (
        "wamp.registration.remove",
        ShardRouter::registration_meta_call,
    ),
    (
        "wamp.registration.remove_callee",
        ShardRouter::registration_meta_call,
    ),
];

/// Positional argument `i`, if present.
fn arg(call: &Call, i: usize) -> Option<&Value> {
    call.payload.args.as_ref().and_then(|a| a.get(i))
}

impl ShardRouter {
    /// Answers a `wamp.registration.*` meta procedure.
    fn registration_meta_call(&mut self, conn: LinkId, call: Call) {
        let Some(name) = call.procedure.strip_prefix("wamp.registration.") else {
            return;
        };
        let Some(realm) = self.cx.links.session(conn).map(|s| s.realm) else {
            return;
        };
        let answer: Result<Value, (&'static str, String)> = match name {
            "list" => Ok(self.reg_list(realm)),
            "lookup" => self.reg_lookup(realm, &call),
            "match" => match arg(&call, 0) {
                Some(Value::Str(p)) => Ok(self
                    .dealer
                    .realm(realm)
                    .regs
                    .best_match(p)
                    .map_or(Value::Null, |(_, _, e)| Value::from(e.id.0))),
                _ => Err(bad("a procedure URI (string)")),
            },
            "get" => self.with_reg(realm, &call, |uri, policy, e| {
                Value::Dict(reg_details(e.id, uri, policy, e.invoke, e.created_ms))
            }),
            "list_callees" => self.with_reg(realm, &call, |_, _, e| {
                Value::List(e.callees.iter().map(|c| Value::from(c.session.0)).collect())
            }),
            "count_callees" => {
                self.with_reg(realm, &call, |_, _, e| Value::from(e.callees.len() as u64))
            }
            "remove" => self.reg_remove(realm, &call, None),
            "remove_callee" => match meta_arg(&call, 1, "callee_id").and_then(Value::as_u64) {
                Some(callee) => self.reg_remove(realm, &call, Some(SessionId(callee))),
                None => Err(bad("a registration ID and a callee session ID")),
            },
            other => {
                tracing::error!(
                    procedure = other,
                    "meta procedure registered but not handled"
                );
                return;
            }
        };
        match answer {
            Ok(v) => {
                let payload = if matches!(name, "remove" | "remove_callee") {
                    Payload::empty()
                } else {
                    Payload::args(vec![v])
                };
                let msg = Message::Result(CallResult {
                    request: call.request,
                    details: Dict::new(),
                    payload,
                });
                self.cx.links.send(conn, &msg);
            }
            Err((error, message)) => {
                self.cx
                    .links
                    .error(conn, code::CALL, call.request, error, Some(message));
            }
        }
    }

    fn reg_list(&self, realm: RealmIdx) -> Value {
        let (mut exact, mut prefix, mut wildcard) = (Vec::new(), Vec::new(), Vec::new());
        for (_, policy, e) in self.dealer.realm(realm).regs.iter() {
            let list = match policy {
                MatchPolicy::Exact => &mut exact,
                MatchPolicy::Prefix => &mut prefix,
                MatchPolicy::Wildcard => &mut wildcard,
            };
            list.push(e.id.0);
        }
        let ids = |mut v: Vec<u64>| {
            v.sort_unstable();
            Value::List(v.into_iter().map(Value::from).collect())
        };
        Value::Dict(
            Dict::new()
                .with("exact", ids(exact))
                .with("prefix", ids(prefix))
                .with("wildcard", ids(wildcard)),
        )
    }

    fn reg_lookup(&self, realm: RealmIdx, call: &Call) -> Result<Value, (&'static str, String)> {
        let Some(Value::Str(procedure)) = arg(call, 0) else {
            return Err(bad("a procedure URI (string)"));
        };
        let policy = match arg(call, 1) {
            None | Some(Value::Null) => MatchPolicy::Exact,
            Some(Value::Dict(o)) => {
                crate::core::match_policy(o).map_err(|e| (uris::INVALID_ARGUMENT, e))?
            }
            Some(_) => return Err(bad("options as a dictionary")),
        };
        Ok(self
            .dealer
            .realm(realm)
            .regs
            .get(procedure, policy)
            .map_or(Value::Null, |e| Value::from(e.id.0)))
    }

    /// Runs `f` on the registration whose ID is the first argument.
    fn with_reg(
        &self,
        realm: RealmIdx,
        call: &Call,
        f: impl FnOnce(&str, MatchPolicy, &RegEntry) -> Value,
    ) -> Result<Value, (&'static str, String)> {
        let Some(id) = arg(call, 0).and_then(Value::as_u64) else {
            return Err(bad("a registration ID"));
        };
        match self.find_reg(realm, RegistrationId(id)) {
            Some((uri, policy, e)) => Ok(f(uri, policy, e)),
            None => Err(no_such(id)),
        }
    }

    fn find_reg(
        &self,
        realm: RealmIdx,
        id: RegistrationId,
    ) -> Option<(&str, MatchPolicy, &RegEntry)> {
        self.dealer
            .realm(realm)
            .regs
            .iter()
            .find(|(_, _, e)| e.id == id)
    }

    /// Revokes registration `arg 0` from all its callees, or from `only`.
    fn reg_remove(
        &mut self,
        realm: RealmIdx,
        call: &Call,
        only: Option<SessionId>,
    ) -> Result<Value, (&'static str, String)> {
        let Some(id) = meta_arg(call, 0, "registration_id").and_then(Value::as_u64) else {
            return Err(bad("a registration ID"));
        };
        let reason_at = if only.is_some() { 2 } else { 1 };
        let reason = match meta_arg(call, reason_at, "reason") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) => Some(s.clone()),
            Some(_) => return Err(bad("the reason as a string")),
        };
        let registration = RegistrationId(id);
        let Some((_, _, e)) = self.find_reg(realm, registration) else {
            return Err(no_such(id));
        };
        let targets: Vec<_> = e
            .callees
            .iter()
            .filter(|c| only.is_none_or(|s| s == c.session))
            .map(|c| (c.shard, c.session))
            .collect();
        if targets.is_empty() {
            return Err((
                uris::NO_SUCH_REGISTRATION,
                format!(
                    "session {} is not a callee of registration {id}",
                    only.map_or(0, |s| s.0)
                ),
            ));
        }
        for (shard, session) in targets {
            let msg = ShardMsg::Revoke {
                realm,
                registration,
                session,
                reason: reason.clone(),
            };
            self.cx.route(shard, msg);
        }
        Ok(Value::Null)
    }
}

fn bad(what: &str) -> (&'static str, String) {
    (
        uris::INVALID_ARGUMENT,
        format!("expected {what} as argument"),
    )
}

fn no_such(id: u64) -> (&'static str, String) {
    (
        uris::NO_SUCH_REGISTRATION,
        format!("no registration with ID {id} exists"),
    )
}

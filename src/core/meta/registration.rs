//! The registration meta API: the `wamp.registration.*` procedures, answered
//! on the caller's shard from its replica (every replica holds each
//! registration's ID, policy, creation time and full callee list, so no
//! cross-shard request is needed), and the `wamp.registration.on_*` meta
//! events, published by the registration's owner shard.
//!
//! `wamp.registration.remove` and `wamp.registration.remove_callee` revoke
//! registrations: each callee's shard removes it and, if the callee announced
//! `registration_revocation`, sends UNREGISTERED with request 0 and details
//! `{registration, reason}`.

use crate::core::cluster::InvokePolicy;
use crate::core::cluster::{RealmIdx, ShardMsg};
use crate::core::dealer::timers::iso8601_utc;
use crate::core::realm::{ConnId, RegEntry};
use crate::core::{ShardRouter, uris};
use crate::proto::message::code;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Call, CallResult, Dict, Message, Payload, RegistrationId, SessionId, Value};

/// `RegistrationDetails` as the spec defines it.
fn reg_details(
    id: RegistrationId,
    uri: &str,
    policy: MatchPolicy,
    invoke: InvokePolicy,
    created_ms: u64,
) -> Dict {
    Dict::new()
        .with("id", id.0)
        .with("created", iso8601_utc(created_ms))
        .with("uri", uri)
        .with("match", policy.as_str())
        .with("invoke", invoke.as_str())
}

/// Positional argument `i`, if present.
fn arg(call: &Call, i: usize) -> Option<&Value> {
    call.payload.args.as_ref().and_then(|a| a.get(i))
}

impl ShardRouter {
    /// Publishes `wamp.registration.on_create` (owner shard).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::core) fn reg_meta_created(
        &mut self,
        realm: RealmIdx,
        session: SessionId,
        id: RegistrationId,
        uri: &str,
        policy: MatchPolicy,
        invoke: InvokePolicy,
        created_ms: u64,
    ) {
        let details = reg_details(id, uri, policy, invoke, created_ms);
        let payload = Payload::args(vec![Value::from(session.0), Value::Dict(details)]);
        self.publish_internal(realm, "wamp.registration.on_create", Dict::new(), payload);
    }

    /// Publishes `on_register`/`on_unregister`/`on_delete` with `[session, registration]`.
    pub(in crate::core) fn reg_meta_event(
        &mut self,
        realm: RealmIdx,
        topic: &str,
        session: SessionId,
        id: RegistrationId,
    ) {
        let payload = Payload::args(vec![Value::from(session.0), Value::from(id.0)]);
        self.publish_internal(realm, topic, Dict::new(), payload);
    }

    /// Answers a `wamp.registration.*` meta procedure; gives back calls to
    /// names it does not implement (they are routed normally).
    pub(in crate::core) fn registration_meta_call(
        &mut self,
        conn: ConnId,
        call: Call,
    ) -> Option<Call> {
        let Some(name) = call.procedure.strip_prefix("wamp.registration.") else {
            return Some(call);
        };
        let realm = self.session(conn)?.realm;
        let answer: Result<Value, (&'static str, String)> = match name {
            "list" => Ok(self.reg_list(realm)),
            "lookup" => self.reg_lookup(realm, &call),
            "match" => match arg(&call, 0) {
                Some(Value::Str(p)) => Ok(self.realms[realm as usize]
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
            "remove_callee" => match arg(&call, 1).and_then(Value::as_u64) {
                Some(callee) => self.reg_remove(realm, &call, Some(SessionId(callee))),
                None => Err(bad("a registration ID and a callee session ID")),
            },
            _ => return Some(call),
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
                self.send(conn, &msg);
            }
            Err((error, message)) => {
                self.error(conn, code::CALL, call.request, error, Some(message));
            }
        }
        None
    }

    fn reg_list(&self, realm: RealmIdx) -> Value {
        let (mut exact, mut prefix, mut wildcard) = (Vec::new(), Vec::new(), Vec::new());
        for (_, policy, e) in self.realms[realm as usize].regs.iter() {
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
        Ok(self.realms[realm as usize]
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
        self.realms[realm as usize]
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
        let Some(id) = arg(call, 0).and_then(Value::as_u64) else {
            return Err(bad("a registration ID"));
        };
        let reason_at = if only.is_some() { 2 } else { 1 };
        let reason = match arg(call, reason_at) {
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
            self.route(shard, msg);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_follow_the_spec_schema() {
        let d = reg_details(
            RegistrationId(7),
            "com.x",
            MatchPolicy::Prefix,
            InvokePolicy::RoundRobin,
            0,
        );
        let keys: Vec<&str> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["id", "created", "uri", "match", "invoke"]);
        assert_eq!(
            d.get("created").and_then(Value::as_str),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(d.get("invoke").and_then(Value::as_str), Some("roundrobin"));
    }
}

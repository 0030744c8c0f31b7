//! The dealer's registration requests: REGISTER (options `match`, `invoke`,
//! `disclose_caller`, `forward_timeout`), the callee-side outcome, and
//! UNREGISTER.
//!
//! A registration's owner shard decides (duplicate, shared with the same
//! invocation policy, or refused) and assigns the ID; every shard's replica
//! lists the registration's callees (see `registry.rs`). REGISTERED and
//! UNREGISTERED both wait until the owner has applied the change and every
//! replica has acknowledged it. The call path (CALL, INVOCATION, YIELD,
//! CANCEL, timeouts) lives in `caller.rs` and `callee.rs`.

use crate::core::authz::Action;
use crate::core::cluster::InvokePolicy;
use crate::core::cluster::{self, RealmIdx, ShardMsg};
use crate::core::realm::ConnId;
use crate::core::{ShardRouter, match_policy, uris};
use crate::proto::message::code;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{
    Message, Register, Registered, RegistrationId, RequestId, SessionId, Unregister, Unregistered,
    Value,
};

impl ShardRouter {
    pub(in crate::core) fn register(&mut self, conn: ConnId, m: Register) {
        let Some(s) = self.session(conn) else { return };
        let (sid, realm_idx) = (s.id, s.realm);
        let policy = match match_policy(&m.options) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    conn,
                    code::REGISTER,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        let invoke = match m.options.get("invoke") {
            None | Some(Value::Null) => Ok(InvokePolicy::Single),
            Some(Value::Str(p)) => InvokePolicy::parse(p).ok_or_else(|| {
                format!(
                    "unknown invocation policy \"{p}\" (expected \"single\", \"roundrobin\", \
                     \"random\", \"first\" or \"last\")"
                )
            }),
            Some(_) => Err("option 'invoke' must be a string".to_owned()),
        };
        let flags = m
            .options
            .bool_or("disclose_caller", false)
            .and_then(|d| Ok((d, m.options.bool_or("forward_timeout", false)?)))
            .map_err(|e| e.to_string());
        let (invoke, (disclose_caller, forward_timeout)) = match (invoke, flags) {
            (Ok(i), Ok(f)) => (i, f),
            (Err(e), _) | (_, Err(e)) => {
                return self.error(
                    conn,
                    code::REGISTER,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        let realm = &self.realms[realm_idx as usize];
        if !uri::is_valid(&m.procedure, realm.uri_check, policy) {
            let msg = format!(
                "invalid procedure URI '{}' for match policy '{}'",
                m.procedure,
                policy.as_str()
            );
            return self.error(
                conn,
                code::REGISTER,
                m.request,
                uris::INVALID_URI,
                Some(msg),
            );
        }
        if !realm
            .authz
            .authorize(&s.authrole, Action::Register, &m.procedure)
            .allowed
        {
            let msg = format!("not authorized to register '{}'", m.procedure);
            return self.error(
                conn,
                code::REGISTER,
                m.request,
                uris::NOT_AUTHORIZED,
                Some(msg),
            );
        }
        let owner = cluster::owner_of(realm_idx, &m.procedure, policy, self.shards);
        let from = self.shard;
        self.route(
            owner,
            ShardMsg::RegJoin {
                realm: realm_idx,
                uri: m.procedure,
                policy,
                from,
                session: sid,
                request: m.request,
                invoke,
                disclose_caller,
                forward_timeout,
            },
        );
    }

    /// Callee's shard: the REGISTER's outcome.
    pub(in crate::core) fn reg_done(
        &mut self,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        session: SessionId,
        request: RequestId,
        result: Result<RegistrationId, &'static str>,
    ) {
        let conn = self.sessions.get(&session).copied();
        match (conn, result) {
            (Some(conn), Ok(id)) => {
                self.session_mut(conn)
                    .expect("session present")
                    .registrations
                    .insert(id, (uri, policy));
                self.send(
                    conn,
                    &Message::Registered(Registered {
                        request,
                        registration: id,
                    }),
                );
            }
            (Some(conn), Err(error)) => {
                let msg = if error == uris::PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY {
                    format!("'{uri}' is already registered with a different invocation policy")
                } else {
                    format!("'{uri}' is already registered")
                };
                self.error(conn, code::REGISTER, request, error, Some(msg));
            }
            (None, Ok(id)) => {
                // The callee left while registering: undo.
                let owner = cluster::owner_of(realm_idx, &uri, policy, self.shards);
                self.route(
                    owner,
                    ShardMsg::RegLeave {
                        realm: realm_idx,
                        uri,
                        policy,
                        id,
                        session,
                    },
                );
            }
            (None, Err(_)) => {}
        }
    }

    pub(in crate::core) fn unregister(&mut self, conn: ConnId, m: Unregister) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let (realm, session) = (s.realm, s.id);
        let Some((uri, policy)) = s.registrations.remove(&m.registration) else {
            let msg = format!("no registration {} for this session", m.registration);
            return self.error(
                conn,
                code::UNREGISTER,
                m.request,
                uris::NO_SUCH_REGISTRATION,
                Some(msg),
            );
        };
        // UNREGISTERED waits for the owner (`reg_unregistered`): until the
        // owner has dropped the callee, a REGISTER of the same URI from
        // another shard could still find it there.
        let owner = cluster::owner_of(realm, &uri, policy, self.shards);
        self.route(
            owner,
            ShardMsg::RegUnregister {
                realm,
                uri,
                policy,
                id: m.registration,
                session,
                from: self.shard,
                request: m.request,
            },
        );
    }

    /// Callee's shard: the owner and every replica have dropped the callee;
    /// its UNREGISTER is answered (unless the session ended meanwhile).
    pub(in crate::core) fn reg_unregistered(&mut self, session: SessionId, request: RequestId) {
        let msg = Message::Unregistered(Unregistered {
            request,
            details: None,
        });
        self.send_to_session(session, &msg);
    }
}

//! The dealer: REGISTER, UNREGISTER, CALL, YIELD and callee ERROR on one
//! shard, and the registration side of the cross-shard protocol.
//!
//! A registration's owner shard rejects duplicates and assigns the ID; every
//! shard's replica maps the procedure to the callee's (shard, session). A CALL
//! is matched on the caller's shard (exact, then longest prefix, then
//! wildcard) and forwarded to the callee's shard, which sends INVOCATION and
//! remembers where the answer goes. YIELD/ERROR go straight back to the
//! caller's shard. A callee that leaves fails its pending invocations at once.

use super::auth::Action;
use super::mesh::{self, CallReturn, RealmIdx, RoutedCall, ShardMsg};
use super::realm::{ConnId, RegEntry};
use super::{PendingInvocation, ShardRouter, match_policy, uris};
use crate::proto::message::code;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{
    Call, CallResult, Dict, Error, Invocation, Message, Payload, Register, Registered,
    RegistrationId, RequestId, SessionId, ShardId, Unregister, Unregistered, Value, Yield,
};

impl ShardRouter {
    pub(super) fn register(&mut self, conn: ConnId, m: Register) {
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
        match m.options.get("invoke") {
            None => {}
            Some(Value::Str(p)) if p == "single" => {}
            Some(other) => {
                let msg =
                    format!("invocation policy {other:?} is not supported yet (only 'single')");
                return self.error(
                    conn,
                    code::REGISTER,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(msg),
                );
            }
        }
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
        let owner = mesh::owner_of(realm_idx, &m.procedure, policy, self.shards);
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
            },
        );
    }

    /// Owner side: a session asks for (uri, policy).
    pub(super) fn owner_reg_join(
        &mut self,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        from: ShardId,
        session: SessionId,
        request: RequestId,
    ) {
        let (shard, shards) = (self.shard, self.shards);
        let realm = &mut self.realms[realm_idx as usize];
        let key = (uri, policy);
        if realm.owned_regs.contains_key(&key) {
            let (uri, policy) = key;
            let result = Err(uris::PROCEDURE_ALREADY_EXISTS);
            return self.route(
                from,
                ShardMsg::RegDone {
                    realm: realm_idx,
                    uri,
                    policy,
                    session,
                    request,
                    result,
                },
            );
        }
        let id = realm.new_reg_id(shard, shards);
        let callee = (from, session);
        realm
            .owned_regs
            .insert(key.clone(), RegEntry { id, callee });
        let (uri, policy) = key;
        self.apply_reg_replica(realm_idx, &uri, policy, id, Some(callee));
        let done = ShardMsg::RegDone {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            session,
            request,
            result: Ok(id),
        };
        self.broadcast_with_barrier(from, done, |barrier| ShardMsg::RegReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            callee: Some(callee),
            barrier,
        });
    }

    /// Callee's shard: the REGISTER's outcome.
    pub(super) fn reg_done(
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
                let msg = format!("'{uri}' is already registered");
                self.error(conn, code::REGISTER, request, error, Some(msg));
            }
            (None, Ok(id)) => {
                // The callee left while registering: undo.
                let owner = mesh::owner_of(realm_idx, &uri, policy, self.shards);
                self.route(
                    owner,
                    ShardMsg::RegLeave {
                        realm: realm_idx,
                        uri,
                        policy,
                        id,
                    },
                );
            }
            (None, Err(_)) => {}
        }
    }

    pub(super) fn unregister(&mut self, conn: ConnId, m: Unregister) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let realm = s.realm;
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
        let owner = mesh::owner_of(realm, &uri, policy, self.shards);
        self.route(
            owner,
            ShardMsg::RegLeave {
                realm,
                uri,
                policy,
                id: m.registration,
            },
        );
        self.send(
            conn,
            &Message::Unregistered(Unregistered {
                request: m.request,
                details: None,
            }),
        );
    }

    /// Owner side: the registration ends.
    pub(super) fn owner_reg_leave(
        &mut self,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        id: RegistrationId,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let key = (uri, policy);
        match realm.owned_regs.get(&key) {
            Some(e) if e.id == id => {
                realm.owned_regs.remove(&key);
            }
            _ => return,
        }
        let (uri, policy) = key;
        self.apply_reg_replica(realm_idx, &uri, policy, id, None);
        self.broadcast(|| ShardMsg::RegReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            callee: None,
            barrier: None,
        });
    }

    pub(super) fn apply_reg_replica(
        &mut self,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        id: RegistrationId,
        callee: Option<(ShardId, SessionId)>,
    ) {
        let regs = &mut self.realms[realm_idx as usize].regs;
        match callee {
            Some(callee) => {
                regs.insert(uri, policy, RegEntry { id, callee });
            }
            None => {
                if regs.get(uri, policy).is_some_and(|e| e.id == id) {
                    regs.remove(uri, policy);
                }
            }
        }
    }

    pub(super) fn call(&mut self, conn: ConnId, m: Call) {
        let Some(s) = self.session(conn) else { return };
        let realm = &self.realms[s.realm as usize];
        let disclose_me = match m.options.bool_or("disclose_me", false) {
            Ok(d) => d,
            Err(e) => {
                return self.error(
                    conn,
                    code::CALL,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e.to_string()),
                );
            }
        };
        if !uri::is_valid(&m.procedure, realm.uri_check, MatchPolicy::Exact) {
            let msg = format!("invalid procedure URI '{}'", m.procedure);
            return self.error(conn, code::CALL, m.request, uris::INVALID_URI, Some(msg));
        }
        let grant = realm
            .authz
            .authorize(&s.authrole, Action::Call, &m.procedure);
        if !grant.allowed {
            let msg = format!("not authorized to call '{}'", m.procedure);
            return self.error(conn, code::CALL, m.request, uris::NOT_AUTHORIZED, Some(msg));
        }
        let m = match self.try_meta_call(conn, m) {
            Some(m) => m,
            None => return,
        };
        let Some(s) = self.session(conn) else { return };
        let realm = &self.realms[s.realm as usize];
        let Some((_, policy, entry)) = realm.regs.best_match(&m.procedure) else {
            let msg = format!("no callee registered for procedure '{}'", m.procedure);
            return self.error(
                conn,
                code::CALL,
                m.request,
                uris::NO_SUCH_PROCEDURE,
                Some(msg),
            );
        };
        let mut details = Dict::new();
        if policy != MatchPolicy::Exact {
            details.insert("procedure", m.procedure.as_str());
        }
        if disclose_me || grant.disclose.caller {
            details.insert("caller", s.id.0);
            details.insert("caller_authid", s.authid.as_str());
            details.insert("caller_authrole", s.authrole.as_str());
        }
        let (callee_shard, callee) = entry.callee;
        let routed = RoutedCall {
            realm: s.realm,
            registration: entry.id,
            callee,
            caller_shard: self.shard,
            caller: s.id,
            request: m.request,
            details,
            payload: m.payload,
        };
        self.route(callee_shard, ShardMsg::Call(Box::new(routed)));
    }

    /// Callee's shard: turns a routed call into an INVOCATION.
    pub(super) fn invoke(&mut self, c: RoutedCall) {
        let conn = self.sessions.get(&c.callee).copied();
        let session = conn.and_then(|conn| self.session_mut(conn));
        let Some(session) = session.filter(|s| s.registrations.contains_key(&c.registration))
        else {
            let ret = CallReturn {
                caller: c.caller,
                request: c.request,
                details: Dict::new(),
                error: Some(uris::NO_SUCH_PROCEDURE.to_owned()),
                payload: Payload::args(vec![Value::from("the callee is no longer registered")]),
            };
            return self.route(c.caller_shard, ShardMsg::Return(Box::new(ret)));
        };
        session.last_invocation += 1;
        let request = RequestId(session.last_invocation);
        session.invocations.insert(
            request,
            PendingInvocation {
                caller_shard: c.caller_shard,
                caller: c.caller,
                request: c.request,
            },
        );
        let inv = Message::Invocation(Invocation {
            request,
            registration: c.registration,
            details: c.details,
            payload: c.payload,
        });
        self.send(conn.expect("session found"), &inv);
    }

    pub(super) fn yield_(&mut self, conn: ConnId, m: Yield) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        // A YIELD for an unknown invocation (e.g. answered after the caller left) is dropped.
        let Some(inv) = s.invocations.remove(&m.request) else {
            return;
        };
        let ret = CallReturn {
            caller: inv.caller,
            request: inv.request,
            details: Dict::new(),
            error: None,
            payload: m.payload,
        };
        self.route(inv.caller_shard, ShardMsg::Return(Box::new(ret)));
    }

    pub(super) fn invocation_error(&mut self, conn: ConnId, m: Error) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let Some(inv) = s.invocations.remove(&m.request) else {
            return;
        };
        if !uri::is_valid(&m.error, uri::UriCheck::Loose, MatchPolicy::Exact) {
            let msg = format!("invalid error URI '{}'", m.error);
            let ret = CallReturn {
                caller: inv.caller,
                request: inv.request,
                details: Dict::new(),
                error: Some(uris::INVALID_URI.to_owned()),
                payload: Payload::args(vec![Value::from(msg)]),
            };
            return self.route(inv.caller_shard, ShardMsg::Return(Box::new(ret)));
        }
        let ret = CallReturn {
            caller: inv.caller,
            request: inv.request,
            details: m.details,
            error: Some(m.error),
            payload: m.payload,
        };
        self.route(inv.caller_shard, ShardMsg::Return(Box::new(ret)));
    }

    /// Caller's shard: RESULT or ERROR for a call.
    pub(super) fn call_return(&mut self, r: CallReturn) {
        let msg = match r.error {
            None => Message::Result(CallResult {
                request: r.request,
                details: r.details,
                payload: r.payload,
            }),
            Some(error) => Message::Error(Error {
                request_type: code::CALL,
                request: r.request,
                details: r.details,
                error,
                payload: r.payload,
            }),
        };
        self.send_to_session(r.caller, &msg);
    }
}

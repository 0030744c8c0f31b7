//! The dealer's registration requests: REGISTER (options `match`, `invoke`,
//! `disclose_caller`, `forward_timeout`, `force_reregister`), the callee-side
//! outcome, and UNREGISTER.
//!
//! `force_reregister` (Autobahn|Python's `RegisterOptions`, as Crossbar.io
//! does it): the owner first revokes every callee of an existing
//! registration of the same (URI, policy) — each gets UNREGISTERED with
//! request 0 and reason `wamp.error.unregistered` if it announced
//! `registration_revocation` — and the new callee then registers as if
//! there had been none (a new registration ID, its own invocation policy).
//! For a service restarted while the router still holds its old
//! connection.
//!
//! `concurrency` (Autobahn|Python's `RegisterOptions`, Crossbar.io's
//! semantics): at most that many invocations of this registration in
//! flight at this callee. The callee's shard enforces it (it holds the
//! pending invocations): a call beyond it goes back to the caller's shard
//! (`ShardMsg::Busy`), which tries the registration's other callees and
//! fails with `crossbar.error.max_concurrency_reached` when none is left.
//! Calls are not queued.
//!
//! A registration's owner shard decides (duplicate, shared with the same
//! invocation policy, or refused) and assigns the ID; every shard's replica
//! lists the registration's callees (see `registry.rs`). REGISTERED and
//! UNREGISTERED both wait until the owner has applied the change and every
//! replica has acknowledged it. The call path (CALL, INVOCATION, YIELD,
//! CANCEL, timeouts) lives in `caller.rs` and `callee.rs`.

use super::Dealer;
use crate::core::api::LinkId;
use crate::core::cluster::{self, InvokePolicy, RealmIdx, ShardMsg};
use crate::core::ctx::Ctx;
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::uri::MatchPolicy;
use crate::proto::{
    Message, Register, Registered, RegistrationId, RequestId, SessionId, Unregister, Unregistered,
    Value,
};

impl Dealer {
    /// A REGISTER the guard let through (`policy` from its options).
    pub(crate) fn register(
        &mut self,
        cx: &mut Ctx,
        conn: LinkId,
        m: Register,
        policy: MatchPolicy,
    ) {
        let Some(s) = cx.links.session(conn) else {
            return;
        };
        let (sid, realm_idx) = (s.id, s.realm);
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
            .and_then(|d| {
                Ok((
                    d,
                    m.options.bool_or("forward_timeout", false)?,
                    m.options.bool_or("force_reregister", false)?,
                ))
            })
            .map_err(|e| e.to_string());
        let (invoke, (disclose_caller, forward_timeout, force_reregister)) = match (invoke, flags) {
            (Ok(i), Ok(f)) => (i, f),
            (Err(e), _) | (_, Err(e)) => {
                return cx.links.error(
                    conn,
                    code::REGISTER,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        let concurrency = match m.options.get("concurrency") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().filter(|n| *n >= 1).map(u32::try_from) {
                Some(Ok(n)) => Some(n),
                _ => {
                    return cx.links.error(
                        conn,
                        code::REGISTER,
                        m.request,
                        uris::INVALID_ARGUMENT,
                        Some("option 'concurrency' must be a positive integer".into()),
                    );
                }
            },
        };
        if let Some(n) = concurrency {
            self.limits_asked.insert((sid, m.request), n);
        }
        let owner = cluster::owner_of(realm_idx, &m.procedure, policy, cx.shards);
        let from = cx.shard;
        cx.route(
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
                force_reregister,
            },
        );
    }

    /// Callee's shard: the REGISTER's outcome.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reg_done(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        session: SessionId,
        request: RequestId,
        result: Result<RegistrationId, &'static str>,
    ) {
        let conn = cx.links.link_of(session);
        let limit = self.limits_asked.remove(&(session, request));
        match (conn, result) {
            (Some(conn), Ok(id)) => {
                if let Some(n) = limit {
                    self.limits.insert((session, id), n);
                }
                cx.links
                    .session_mut(conn)
                    .expect("session present")
                    .registrations
                    .insert(id, (uri, policy));
                cx.links.send(
                    conn,
                    &Message::Registered(Registered {
                        request,
                        registration: id,
                    }),
                );
                // Calls may wait for this registration on any shard.
                if cx.realms[realm_idx as usize].queues_calls() {
                    Self::has_room(cx, realm_idx, id, session, None);
                }
            }
            (Some(conn), Err(error)) => {
                let msg = if error == uris::PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY {
                    format!("'{uri}' is already registered with a different invocation policy")
                } else {
                    format!("'{uri}' is already registered")
                };
                cx.links
                    .error(conn, code::REGISTER, request, error, Some(msg));
            }
            (None, Ok(id)) => {
                // The callee left while registering: undo.
                let owner = cluster::owner_of(realm_idx, &uri, policy, cx.shards);
                cx.route(
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

    pub(crate) fn unregister(&mut self, cx: &mut Ctx, conn: LinkId, m: Unregister) {
        let Some(s) = cx.links.session_mut(conn) else {
            return;
        };
        let (realm, session) = (s.realm, s.id);
        self.limits.remove(&(s.id, m.registration));
        let Some((uri, policy)) = s.registrations.remove(&m.registration) else {
            let msg = format!("no registration {} for this session", m.registration);
            return cx.links.error(
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
        let owner = cluster::owner_of(realm, &uri, policy, cx.shards);
        let from = cx.shard;
        cx.route(
            owner,
            ShardMsg::RegUnregister {
                realm,
                uri,
                policy,
                id: m.registration,
                session,
                from,
                request: m.request,
            },
        );
    }

    /// Callee's shard: the owner and every replica have dropped the callee;
    /// its UNREGISTER is answered (unless the session ended meanwhile).
    pub(crate) fn reg_unregistered(
        &mut self,
        cx: &mut Ctx,
        session: SessionId,
        request: RequestId,
    ) {
        let msg = Message::Unregistered(Unregistered {
            request,
            details: None,
        });
        cx.links.send_to_session(session, &msg);
    }

    /// A session leaves registration `id` (its session ended): the owner
    /// removes it as a callee.
    pub(crate) fn leave(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        id: RegistrationId,
        session: SessionId,
    ) {
        self.limits.remove(&(session, id));
        let owner = cluster::owner_of(realm, &uri, policy, cx.shards);
        cx.route(
            owner,
            ShardMsg::RegLeave {
                realm,
                uri,
                policy,
                id,
                session,
            },
        );
    }
}

//! The callee's shard: INVOCATION (including the chunks of progressive call
//! invocations), INTERRUPT, YIELD (progressive and final), callee ERROR,
//! registration revocation, and the callee leaving.
//!
//! The callee's HELLO features decide what it gets: INTERRUPT only for
//! callees with call canceling (otherwise a cancel behaves as `skip`),
//! progressive invocations only for callees announcing them (and call
//! canceling), else `wamp.error.feature_not_supported`.
//!
//! `receive_progress` goes to every callee whose caller asked, whatever the
//! callee announced. The spec forwards it "if the Callee supports Progressive
//! Call Results" and has callees that do not support them ignore the flag;
//! but some libraries (wampy.js) produce progressive results without
//! announcing `progressive_call_results`, and only learn from this flag that
//! the caller wants them (Crossbar.io forwards it the same way). Progressive
//! YIELDs are accepted from any callee: the spec says nothing about a callee
//! that did not announce the feature, and the caller asked for them.

use std::borrow::Cow;

use super::super::cluster::{CallChunk, CallReturn, CancelMode, RealmIdx, RoutedCall, ShardMsg};
use super::super::realm::ConnId;
use super::super::{PendingInvocation, Sent, ShardRouter, uris};
use super::Features;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{
    Dict, Error, Interrupt, Invocation, Message, Payload, RegistrationId, RequestId, SessionId,
    Unregistered, Value, Yield,
};

/// A call's failure, as the caller's shard receives it.
fn failure(caller: SessionId, request: RequestId, error: &str, message: &str) -> Box<CallReturn> {
    Box::new(CallReturn {
        caller,
        request,
        details: Dict::new(),
        error: Some(error.to_owned()),
        payload: Payload::args(vec![Value::from(message)]),
        progress: false,
    })
}

impl ShardRouter {
    /// Callee's shard: turns a routed call into an INVOCATION.
    pub(in crate::core) fn invoke(&mut self, c: RoutedCall) {
        let conn = self.sessions.get(&c.callee).copied();
        let session = conn.and_then(|conn| self.session_mut(conn));
        let Some(session) = session.filter(|s| s.registrations.contains_key(&c.registration))
        else {
            if !c.progress {
                // The caller's replica was stale: let its shard try another callee.
                let to = c.caller_shard;
                return self.route(to, ShardMsg::Bounce(Box::new(c)));
            }
            let ret = failure(
                c.caller,
                c.request,
                uris::NO_SUCH_PROCEDURE,
                "the callee is no longer registered",
            );
            return self.route(c.caller_shard, ShardMsg::Return(ret));
        };
        let features = session.features;
        let can_cancel = features.has(Features::CALLEE_CANCELING);
        if c.progress && !(can_cancel && features.has(Features::CALLEE_PROGRESSIVE_INVOCATIONS)) {
            let ret = failure(
                c.caller,
                c.request,
                uris::FEATURE_NOT_SUPPORTED,
                "the callee does not support progressive call invocations",
            );
            return self.route(c.caller_shard, ShardMsg::Return(ret));
        }
        let mut details = c.details;
        if c.receive_progress {
            details.insert("receive_progress", true);
        }
        // Later chunks carry the details of the initiating CALL ("frozen options").
        let stream = c.progress.then(|| Box::new(details.clone()));
        if c.progress {
            details.insert("progress", true);
        }
        session.last_invocation += 1;
        let request = RequestId(session.last_invocation);
        session.invocations.insert(
            request,
            PendingInvocation {
                caller_shard: c.caller_shard,
                caller: c.caller,
                request: c.request,
                registration: c.registration,
                stream,
            },
        );
        self.rpc
            .by_call
            .insert((c.caller, c.request), (c.callee, request));
        let inv = Message::Invocation(Invocation {
            request,
            registration: c.registration,
            details,
            payload: c.payload,
        });
        let conn = conn.expect("session found");
        if self.send(conn, &inv) == Sent::TooBig {
            self.undeliverable_invocation(conn, request);
        }
    }

    /// An INVOCATION was larger than its callee accepts: the call fails at once.
    fn undeliverable_invocation(&mut self, conn: ConnId, request: RequestId) {
        let Some(inv) = self
            .session_mut(conn)
            .and_then(|s| s.invocations.remove(&request))
        else {
            return;
        };
        self.rpc.by_call.remove(&(inv.caller, inv.request));
        let ret = failure(
            inv.caller,
            inv.request,
            uris::PAYLOAD_SIZE_EXCEEDED,
            "the call's arguments are larger than the callee accepts",
        );
        self.route(inv.caller_shard, ShardMsg::Return(ret));
    }

    /// Callee's shard: the next chunk of a progressive call invocation goes to
    /// the same INVOCATION request. A chunk for an ended invocation is dropped.
    pub(in crate::core) fn call_chunk(&mut self, ch: CallChunk) {
        let Some(&(callee, request)) = self.rpc.by_call.get(&(ch.caller, ch.request)) else {
            return;
        };
        let Some(&conn) = self.sessions.get(&callee) else {
            return;
        };
        let Some(inv) = self
            .session_mut(conn)
            .and_then(|s| s.invocations.get_mut(&request))
        else {
            return;
        };
        let registration = inv.registration;
        let mut details = match (&inv.stream, ch.progress) {
            (None, _) => return,
            (Some(d), true) => {
                let mut d = (**d).clone();
                d.insert("progress", true);
                d
            }
            (Some(_), false) => *inv.stream.take().expect("checked above"),
        };
        if !ch.progress {
            details.0.retain(|(k, _)| k != "progress");
        }
        let msg = Message::Invocation(Invocation {
            request,
            registration,
            details,
            payload: ch.payload,
        });
        if self.send(conn, &msg) == Sent::TooBig {
            self.undeliverable_invocation(conn, request);
        }
    }

    /// Callee's shard: cancel the invocation of (caller, request).
    pub(in crate::core) fn cancel_invocation(
        &mut self,
        caller: SessionId,
        request: RequestId,
        mode: CancelMode,
        reason: &'static str,
    ) {
        let Some(&(callee, inv_request)) = self.rpc.by_call.get(&(caller, request)) else {
            // Answered already: nothing to interrupt.
            return;
        };
        let Some(&conn) = self.sessions.get(&callee) else {
            return;
        };
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let can_cancel = session.features.has(Features::CALLEE_CANCELING);
        if mode == CancelMode::Kill && can_cancel {
            // The invocation stays pending: the callee's answer goes to the caller.
            return self.interrupt(conn, inv_request, mode, reason);
        }
        // skip, killnowait, or kill to a callee that cannot be interrupted
        // (which the spec turns into skip): the answer will be discarded.
        let Some(inv) = session.invocations.remove(&inv_request) else {
            return;
        };
        self.rpc.by_call.remove(&(caller, request));
        if mode == CancelMode::KillNoWait && can_cancel {
            self.interrupt(conn, inv_request, mode, reason);
        }
        if mode == CancelMode::Kill {
            let ret = failure(
                caller,
                request,
                uris::CANCELED,
                "the call was canceled (the callee does not support call canceling)",
            );
            self.route(inv.caller_shard, ShardMsg::Return(ret));
        }
    }

    fn interrupt(&mut self, conn: ConnId, request: RequestId, mode: CancelMode, reason: &str) {
        let msg = Message::Interrupt(Interrupt {
            request,
            options: Dict::new()
                .with("mode", mode.as_str())
                .with("reason", reason),
        });
        self.send(conn, &msg);
    }

    /// YIELD from a callee on this shard: a progressive result keeps the
    /// invocation pending, the final one ends it.
    pub(in crate::core) fn yield_(&mut self, conn: ConnId, m: Yield) {
        let progress = match m.options.bool_or("progress", false) {
            Ok(p) => p,
            Err(e) => return self.violation(conn, Cow::Owned(e.to_string())),
        };
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        // A YIELD for an unknown invocation (answered after a cancel, or after
        // the caller left) is dropped.
        let inv = if progress {
            match s.invocations.get(&m.request) {
                Some(inv) => (inv.caller_shard, inv.caller, inv.request),
                None => return,
            }
        } else {
            match s.invocations.remove(&m.request) {
                Some(inv) => {
                    self.rpc.by_call.remove(&(inv.caller, inv.request));
                    (inv.caller_shard, inv.caller, inv.request)
                }
                None => return,
            }
        };
        let ret = CallReturn {
            caller: inv.1,
            request: inv.2,
            details: Dict::new(),
            error: None,
            payload: m.payload,
            progress,
        };
        self.route(inv.0, ShardMsg::Return(Box::new(ret)));
    }

    /// ERROR for an INVOCATION from a callee on this shard.
    pub(in crate::core) fn invocation_error(&mut self, conn: ConnId, m: Error) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let Some(inv) = s.invocations.remove(&m.request) else {
            return;
        };
        self.rpc.by_call.remove(&(inv.caller, inv.request));
        if !uri::is_valid(&m.error, uri::UriCheck::Loose, MatchPolicy::Exact) {
            let msg = format!("invalid error URI '{}'", m.error);
            let ret = failure(inv.caller, inv.request, uris::INVALID_URI, &msg);
            return self.route(inv.caller_shard, ShardMsg::Return(ret));
        }
        let ret = CallReturn {
            caller: inv.caller,
            request: inv.request,
            details: m.details,
            error: Some(m.error),
            payload: m.payload,
            progress: false,
        };
        self.route(inv.caller_shard, ShardMsg::Return(Box::new(ret)));
    }

    /// The callee's session ended: every invocation it owed fails at once
    /// with `wamp.error.canceled`.
    pub(in crate::core) fn rpc_callee_left(
        &mut self,
        invocations: impl IntoIterator<Item = PendingInvocation>,
    ) {
        for inv in invocations {
            self.rpc.by_call.remove(&(inv.caller, inv.request));
            let ret = failure(
                inv.caller,
                inv.request,
                uris::CANCELED,
                "callee left before answering the call",
            );
            self.route(inv.caller_shard, ShardMsg::Return(ret));
        }
    }

    /// Callee's shard: the router revokes `session`'s registration. The callee
    /// gets UNREGISTERED with request 0 if it announced registration_revocation.
    pub(in crate::core) fn revoke(
        &mut self,
        realm: RealmIdx,
        registration: RegistrationId,
        session: SessionId,
        reason: Option<String>,
    ) {
        let Some(&conn) = self.sessions.get(&session) else {
            return;
        };
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        if s.realm != realm {
            return;
        }
        let Some((uri, policy)) = s.registrations.remove(&registration) else {
            return;
        };
        let notify = s.features.has(Features::CALLEE_REVOCATION);
        let owner = super::super::cluster::owner_of(realm, &uri, policy, self.shards);
        self.route(
            owner,
            ShardMsg::RegLeave {
                realm,
                uri,
                policy,
                id: registration,
                session,
            },
        );
        if notify {
            let mut details = Dict::new().with("registration", registration.0);
            if let Some(r) = reason {
                details.insert("reason", r);
            }
            let msg = Message::Unregistered(Unregistered {
                request: RequestId(0),
                details: Some(details),
            });
            self.send(conn, &msg);
        }
    }
}

//! The callee's shard: INVOCATION (including the chunks of progressive call
//! invocations), INTERRUPT, YIELD (progressive and final), callee ERROR,
//! registration revocation, and the callee leaving.
//!
//! The callee's HELLO features decide what it gets: INTERRUPT only for
//! callees with call canceling (otherwise a cancel behaves as `skip`),
//! progressive invocations only for callees announcing them (and call
//! canceling), else `wamp.error.feature_not_supported`; a call in payload
//! passthru mode only for callees announcing `payload_passthru_mode` (same
//! error), and a YIELD in that mode only for callers that announced it (see
//! `proto/passthru.rs`).
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

use super::{Dealer, PendingInvocation};
use crate::core::api::LinkId;
use crate::core::cluster::{
    self, CallChunk, CallReturn, CancelMode, RealmIdx, RoutedCall, ShardMsg,
};
use crate::core::ctx::Ctx;
use crate::core::session::{Features, Sent};
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::passthru;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{
    Dict, Error, Interrupt, Invocation, Message, Payload, RegistrationId, RequestId, SessionId,
    Unregistered, Value, Yield,
};

/// A call's failure, as the caller's shard receives it.
fn failure(caller: SessionId, request: RequestId, error: &str, message: &str) -> CallReturn {
    CallReturn {
        caller,
        request,
        details: Dict::new(),
        error: Some(error.to_owned()),
        payload: Payload::args(vec![Value::from(message)]),
        progress: false,
    }
}

/// The call `c` fails before any INVOCATION: the caller's shard is told.
fn refuse(cx: &mut Ctx, c: &RoutedCall, error: &str, message: &str) {
    let ret = failure(c.caller, c.request, error, message);
    cx.route_return(c.caller_shard, ret);
}

impl Dealer {
    /// Callee's shard: turns a routed call into an INVOCATION.
    pub(crate) fn invoke(&mut self, cx: &mut Ctx, c: RoutedCall) {
        let conn = cx.links.link_of(c.callee);
        let session = conn.and_then(|conn| cx.links.session(conn));
        let Some(session) = session.filter(|s| s.registrations.contains_key(&c.registration))
        else {
            if !c.progress {
                // The caller's replica was stale: let its shard try another callee.
                let to = c.caller_shard;
                return cx.route(to, ShardMsg::Bounce(Box::new(c)));
            }
            return refuse(
                cx,
                &c,
                uris::NO_SUCH_PROCEDURE,
                "the callee is no longer registered",
            );
        };
        let features = session.features;
        let can_cancel = features.has(Features::CALLEE_CANCELING);
        if c.progress && !(can_cancel && features.has(Features::CALLEE_PROGRESSIVE_INVOCATIONS)) {
            return refuse(
                cx,
                &c,
                uris::FEATURE_NOT_SUPPORTED,
                "the callee does not support progressive call invocations",
            );
        }
        // (Most routers set no `concurrency`: no lookup then.)
        let limit = if self.limits.is_empty() {
            None
        } else {
            self.limits.get(&(c.callee, c.registration)).copied()
        };
        let mut room = true;
        if let Some(limit) = limit {
            let in_flight = self.invocations.get(&c.callee).map_or(0, |o| {
                o.pending
                    .values()
                    .filter(|p| p.registration == c.registration)
                    .count()
            });
            room = in_flight + 1 < limit as usize;
            if in_flight >= limit as usize {
                if c.progress {
                    // Its further chunks may be on their way here already.
                    return refuse(
                        cx,
                        &c,
                        uris::MAX_CONCURRENCY_REACHED,
                        "the callee has as many invocations in flight as its concurrency allows",
                    );
                }
                let to = c.caller_shard;
                return cx.route(to, ShardMsg::Busy(Box::new(c)));
            }
        }
        if passthru::is_ppt(&c.details) && !features.has(Features::CALLEE_PPT) {
            return refuse(
                cx,
                &c,
                uris::FEATURE_NOT_SUPPORTED,
                "the callee does not support payload passthru mode",
            );
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
        let owed = self.invocations.entry(c.callee).or_default();
        owed.last += 1;
        let request = RequestId(owed.last);
        owed.pending.insert(
            request,
            PendingInvocation {
                caller_shard: c.caller_shard,
                caller: c.caller,
                request: c.request,
                registration: c.registration,
                stream,
                caller_ppt: c.caller_ppt,
                abandoned: false,
            },
        );
        self.by_call
            .insert((c.caller, c.request), (c.callee, request));
        let inv = Message::Invocation(Invocation {
            request,
            registration: c.registration,
            details,
            payload: c.payload,
        });
        let conn = conn.expect("session found");
        if c.queued && room {
            // More calls may wait on the caller's shard (`queue.rs`).
            Self::has_room(cx, c.realm, c.registration, c.callee, Some(c.caller_shard));
        }
        if cx.links.send(conn, &inv) == Sent::TooBig {
            self.undeliverable_invocation(cx, conn, request);
        }
    }

    /// An INVOCATION was larger than its callee accepts: the call fails at once.
    fn undeliverable_invocation(&mut self, cx: &mut Ctx, conn: LinkId, request: RequestId) {
        let Some(inv) = self.owed(cx, conn).and_then(|o| o.pending.remove(&request)) else {
            return;
        };
        self.by_call.remove(&(inv.caller, inv.request));
        if let Some(callee) = cx.links.session(conn).map(|s| s.id) {
            self.invocation_ended(cx, callee, inv.registration);
        }
        let ret = failure(
            inv.caller,
            inv.request,
            uris::PAYLOAD_SIZE_EXCEEDED,
            "the call's arguments are larger than the callee accepts",
        );
        cx.route_return(inv.caller_shard, ret);
    }

    /// Callee's shard: the next chunk of a progressive call invocation goes to
    /// the same INVOCATION request. A chunk for an ended invocation is dropped.
    pub(crate) fn call_chunk(&mut self, cx: &mut Ctx, ch: CallChunk) {
        let Some(&(callee, request)) = self.by_call.get(&(ch.caller, ch.request)) else {
            return;
        };
        let Some(conn) = cx.links.link_of(callee) else {
            return;
        };
        let Some(inv) = self
            .invocations
            .get_mut(&callee)
            .and_then(|o| o.pending.get_mut(&request))
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
        if cx.links.send(conn, &msg) == Sent::TooBig {
            self.undeliverable_invocation(cx, conn, request);
        }
    }

    /// Callee's shard: cancel the invocation of (caller, request).
    pub(crate) fn cancel_invocation(
        &mut self,
        cx: &mut Ctx,
        caller: SessionId,
        request: RequestId,
        mode: CancelMode,
        reason: &'static str,
    ) {
        let Some(&(callee, inv_request)) = self.by_call.get(&(caller, request)) else {
            // Answered already: nothing to interrupt.
            return;
        };
        let Some(conn) = cx.links.link_of(callee) else {
            return;
        };
        let Some(session) = cx.links.session(conn) else {
            return;
        };
        let can_cancel = session.features.has(Features::CALLEE_CANCELING);
        if mode == CancelMode::Kill && can_cancel {
            // The invocation stays pending: the callee's answer goes to the caller.
            return self.interrupt(cx, conn, inv_request, mode, reason);
        }
        // skip, killnowait, or kill to a callee that cannot be interrupted
        // (which the spec turns into skip): the answer will be discarded.
        let limits = &self.limits;
        let Some(owed) = self.invocations.get_mut(&callee) else {
            return;
        };
        let Some(pending) = owed.pending.get_mut(&inv_request) else {
            return;
        };
        let caller_shard = pending.caller_shard;
        if !limits.is_empty() && limits.contains_key(&(callee, pending.registration)) {
            // It keeps its slot until the callee answers.
            pending.abandoned = true;
            pending.stream = None;
        } else {
            owed.pending.remove(&inv_request);
        }
        self.by_call.remove(&(caller, request));
        if mode == CancelMode::KillNoWait && can_cancel {
            self.interrupt(cx, conn, inv_request, mode, reason);
        }
        if mode == CancelMode::Kill {
            let ret = failure(
                caller,
                request,
                uris::CANCELED,
                "the call was canceled (the callee does not support call canceling)",
            );
            cx.route_return(caller_shard, ret);
        }
    }

    fn interrupt(
        &mut self,
        cx: &mut Ctx,
        conn: LinkId,
        request: RequestId,
        mode: CancelMode,
        reason: &str,
    ) {
        let msg = Message::Interrupt(Interrupt {
            request,
            options: Dict::new()
                .with("mode", mode.as_str())
                .with("reason", reason),
        });
        cx.links.send(conn, &msg);
    }

    /// YIELD from a callee on this shard: a progressive result keeps the
    /// invocation pending, the final one ends it.
    pub(crate) fn yield_(&mut self, cx: &mut Ctx, conn: LinkId, m: Yield) {
        let progress = match m.options.bool_or("progress", false) {
            Ok(p) => p,
            Err(e) => return cx.violation(conn, Cow::Owned(e.to_string())),
        };
        let ppt = passthru::is_ppt(&m.options);
        if ppt
            && !cx
                .links
                .session(conn)
                .is_some_and(|s| s.features.has(Features::CALLEE_PPT))
        {
            return cx.violation(
                conn,
                Cow::Borrowed(
                    "YIELD in payload passthru mode (ppt_scheme), but the callee did not \
                     announce payload_passthru_mode",
                ),
            );
        }
        let Some(owed) = self.owed(cx, conn) else {
            return;
        };
        // A YIELD for an unknown invocation (answered after a cancel, or after
        // the caller left) is dropped.
        let Some(inv) = owed.pending.get(&m.request) else {
            return;
        };
        if inv.abandoned {
            // Dropped too; the final one frees the callee's slot.
            if !progress {
                let registration = inv.registration;
                owed.pending.remove(&m.request);
                self.ended_on(cx, conn, registration);
            }
            return;
        }
        if ppt && !inv.caller_ppt {
            // The spec: an error to the callee; and the call ends for its caller.
            let (caller_shard, caller, request) = (inv.caller_shard, inv.caller, inv.request);
            let registration = inv.registration;
            owed.pending.remove(&m.request);
            self.by_call.remove(&(caller, request));
            self.ended_on(cx, conn, registration);
            let why = "the caller does not support payload passthru mode";
            cx.links.error(
                conn,
                code::YIELD,
                m.request,
                uris::FEATURE_NOT_SUPPORTED,
                Some(why.to_owned()),
            );
            let ret = failure(caller, request, uris::FEATURE_NOT_SUPPORTED, why);
            return cx.route_return(caller_shard, ret);
        }
        let registration = inv.registration;
        let inv = (inv.caller_shard, inv.caller, inv.request);
        if !progress {
            owed.pending.remove(&m.request);
            self.by_call.remove(&(inv.1, inv.2));
            self.ended_on(cx, conn, registration);
        }
        let mut details = Dict::new();
        passthru::copy_passthru(&m.options, &mut details);
        let ret = CallReturn {
            caller: inv.1,
            request: inv.2,
            details,
            error: None,
            payload: m.payload,
            progress,
        };
        cx.route_return(inv.0, ret);
    }

    /// ERROR for an INVOCATION from a callee on this shard.
    pub(crate) fn invocation_error(&mut self, cx: &mut Ctx, conn: LinkId, m: Error) {
        let Some(inv) = self
            .owed(cx, conn)
            .and_then(|o| o.pending.remove(&m.request))
        else {
            return;
        };
        self.by_call.remove(&(inv.caller, inv.request));
        self.ended_on(cx, conn, inv.registration);
        if inv.abandoned {
            return;
        }
        if !uri::is_valid(&m.error, uri::UriCheck::Loose, MatchPolicy::Exact) {
            let msg = format!("invalid error URI '{}'", m.error);
            let ret = failure(inv.caller, inv.request, uris::INVALID_URI, &msg);
            return cx.route_return(inv.caller_shard, ret);
        }
        let ret = CallReturn {
            caller: inv.caller,
            request: inv.request,
            details: m.details,
            error: Some(m.error),
            payload: m.payload,
            progress: false,
        };
        cx.route_return(inv.caller_shard, ret);
    }

    /// The callee's session ended: every invocation it owed fails at once
    /// with `wamp.error.canceled`.
    pub(crate) fn callee_left(&mut self, cx: &mut Ctx, session: SessionId) {
        let Some(owed) = self.invocations.remove(&session) else {
            return;
        };
        for inv in owed.pending.into_values() {
            if inv.abandoned {
                continue;
            }
            self.by_call.remove(&(inv.caller, inv.request));
            let ret = failure(
                inv.caller,
                inv.request,
                uris::CANCELED,
                "callee left before answering the call",
            );
            cx.route_return(inv.caller_shard, ret);
        }
    }

    /// Callee's shard: the router revokes `session`'s registration. The callee
    /// gets UNREGISTERED with request 0 if it announced registration_revocation.
    pub(crate) fn revoke(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        registration: RegistrationId,
        session: SessionId,
        reason: Option<String>,
    ) {
        let Some(conn) = cx.links.link_of(session) else {
            return;
        };
        let Some(s) = cx.links.session_mut(conn) else {
            return;
        };
        if s.realm != realm {
            return;
        }
        let Some((uri, policy)) = s.registrations.remove(&registration) else {
            return;
        };
        self.limits.remove(&(session, registration));
        let notify = s.features.has(Features::CALLEE_REVOCATION);
        let owner = cluster::owner_of(realm, &uri, policy, cx.shards);
        cx.route(
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
            cx.links.send(conn, &msg);
        }
    }

    /// An invocation of `registration` owed by the session on `link` ended.
    fn ended_on(&mut self, cx: &mut Ctx, link: LinkId, registration: RegistrationId) {
        if self.limits.is_empty() {
            return;
        }
        if let Some(callee) = cx.links.session(link).map(|s| s.id) {
            self.invocation_ended(cx, callee, registration);
        }
    }

    /// The invocations the session on `link` owes, if any.
    fn owed(&mut self, cx: &Ctx, link: LinkId) -> Option<&mut super::Invocations> {
        let s = cx.links.session(link)?;
        self.invocations.get_mut(&s.id)
    }
}

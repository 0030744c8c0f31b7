//! The caller's shard: CALL (new calls and progressive-invocation chunks),
//! CANCEL, call timeouts, RESULT/ERROR delivery, and the caller leaving.
//!
//! Every call a session makes is recorded here until its final answer
//! ([`CallRecord`]), which is what lets a CANCEL, a timeout or a further
//! chunk find the callee's shard, and what lets late answers (after
//! `skip`/`killnowait`, a timeout, or the caller leaving) be dropped.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::{CallOptions, CallRecord, Dealer, FINISHED_STREAMS, registry};
use crate::core::api::LinkId;
use crate::core::authz::Grant;
use crate::core::cluster::{CallChunk, CallReturn, CancelMode, RoutedCall, ShardMsg};
use crate::core::ctx::Ctx;
use crate::core::session::Features;
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::passthru;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Call, CallResult, Cancel, Dict, Error, Message, Payload, RequestId, SessionId};

impl Dealer {
    /// A CALL from a session on this shard that the guard let through
    /// (`grant`: its disclosure flags): a new call, or the next chunk of a
    /// progressive call invocation (same request ID as a call in progress).
    pub(crate) fn call(&mut self, cx: &mut Ctx, conn: LinkId, m: Call, grant: Grant) {
        let Some(s) = cx.links.session(conn) else {
            return;
        };
        let sid = s.id;
        let in_flight = self
            .calls
            .get(&sid)
            .and_then(|c| c.get(&m.request))
            .map(|r| (r.streaming, r.callee_shard));
        if let Some((streaming, callee_shard)) = in_flight {
            return self.continue_call(cx, conn, sid, m, streaming, callee_shard);
        }
        if self
            .finished_streams
            .get(&sid)
            .is_some_and(|f| f.contains(&m.request))
        {
            // A continuation of a progressive call that already ended: discarded (spec).
            tracing::debug!(
                conn = conn.0,
                request = m.request.0,
                "late CALL continuation discarded"
            );
            return;
        }
        let opts = match CallOptions::parse(&m.options) {
            Ok(o) => o,
            Err(e) => {
                return cx.links.error(
                    conn,
                    code::CALL,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e),
                );
            }
        };
        let Some(s) = cx.links.session(conn) else {
            return;
        };
        if opts.progress && !s.features.has(Features::CALLER_PROGRESSIVE_INVOCATIONS) {
            return cx.violation(
                conn,
                Cow::Borrowed(
                    "CALL with progress=true, but the caller did not announce \
                     progressive_call_invocations",
                ),
            );
        }
        let ppt = passthru::is_ppt(&m.options);
        if ppt && !s.features.has(Features::CALLER_PPT) {
            return cx.violation(
                conn,
                Cow::Borrowed(
                    "CALL in payload passthru mode (ppt_scheme), but the caller did not \
                     announce payload_passthru_mode",
                ),
            );
        }
        let caller_ppt = s.features.has(Features::CALLER_PPT);
        let realm_idx = s.realm;
        let local = cx.realms[realm_idx as usize]
            .prefer_local_callee
            .then_some(cx.shard);
        let realm = &self.realms[realm_idx as usize];
        let Some((reg_uri, policy, entry)) = realm.regs.best_match(&m.procedure) else {
            let msg = format!("no callee registered for procedure '{}'", m.procedure);
            return cx.links.error(
                conn,
                code::CALL,
                m.request,
                uris::NO_SUCH_PROCEDURE,
                Some(msg),
            );
        };
        let Some(callee) = registry::pick(entry, opts.rkey.as_deref(), &mut cx.rng, local) else {
            let msg = format!("no callee registered for procedure '{}'", m.procedure);
            return cx.links.error(
                conn,
                code::CALL,
                m.request,
                uris::NO_SUCH_PROCEDURE,
                Some(msg),
            );
        };
        let registration = entry.id;
        // Calls of this registration wait on this shard already: this one
        // joins them rather than overtake them (`queue.rs`).
        let join_queue = (self.queues.has_waiting(realm_idx, registration)
            && !opts.progress
            && opts.rkey.is_none())
        .then(|| cx.realms[realm_idx as usize].call_queue_limit(reg_uri))
        .flatten();
        let mut details = Dict::new();
        if policy != MatchPolicy::Exact {
            details.insert("procedure", m.procedure.as_str());
        }
        if opts.disclose_me || grant.disclose.caller || callee.disclose_caller {
            details.insert("caller", s.id.0);
            details.insert("caller_authid", &*s.authid());
            details.insert("caller_authrole", &*s.auth.authrole);
        }
        if let Some(t) = s.auth.trustlevel {
            details.insert("trustlevel", t);
        }
        passthru::copy_passthru(&m.options, &mut details);
        let mut timeout = None;
        if opts.timeout_ms > 0 {
            if callee.forward_timeout {
                details.insert("timeout", opts.timeout_ms);
            } else {
                timeout = Some(Duration::from_millis(opts.timeout_ms));
            }
        }
        let deadline = timeout.map(|t| self.clock.now() + t);
        if let Some(at) = deadline {
            self.timers.insert(at, sid, m.request);
        }
        self.calls.entry(sid).or_default().insert(
            m.request,
            CallRecord {
                callee_shard: callee.shard,
                receive_progress: opts.receive_progress,
                streaming: opts.progress,
                progressive: opts.progress,
                canceling: false,
                timeout,
                deadline,
                rkey: opts.rkey,
                excluded: Vec::new(),
                busy: false,
                seq: 0,
                waiting: None,
                epoch: self.queues.epoch(),
            },
        );
        let routed = RoutedCall {
            realm: realm_idx,
            registration,
            callee: callee.session,
            caller_shard: cx.shard,
            caller: sid,
            request: m.request,
            details,
            payload: m.payload,
            receive_progress: opts.receive_progress,
            progress: opts.progress,
            caller_ppt,
            queued: false,
        };
        if let Some(limit) = join_queue {
            return self.wait(cx, routed, limit);
        }
        cx.route_call(callee.shard, routed);
    }

    /// A CALL reusing the request ID of a call in flight: the next chunk of a
    /// progressive call invocation, or a protocol violation.
    fn continue_call(
        &mut self,
        cx: &mut Ctx,
        conn: LinkId,
        sid: SessionId,
        m: Call,
        streaming: bool,
        callee_shard: crate::proto::ShardId,
    ) {
        if !streaming {
            let msg = format!(
                "CALL request ID {} is already in use by a call in progress",
                m.request.0
            );
            return cx.violation(conn, Cow::Owned(msg));
        }
        // Only `progress` counts in a continuation; the other options are frozen.
        let progress = match m.options.bool_or("progress", false) {
            Ok(p) => p,
            Err(e) => return cx.violation(conn, Cow::Owned(e.to_string())),
        };
        if !progress && let Some(r) = super::record(&mut self.calls, sid, m.request) {
            r.streaming = false;
        }
        let chunk = CallChunk {
            caller: sid,
            request: m.request,
            progress,
            payload: m.payload,
        };
        cx.route(callee_shard, ShardMsg::CallChunk(Box::new(chunk)));
    }

    /// A call bounced off a callee that had left the registration (this
    /// shard's replica did not know yet), or that is `busy` (its
    /// `concurrency` reached): pick another callee of the same registration,
    /// or fail with `wamp.error.no_such_procedure`, or, if a callee was busy,
    /// wait in the realm's call queue or fail with
    /// `crossbar.error.max_concurrency_reached`.
    pub(crate) fn call_bounced(&mut self, cx: &mut Ctx, mut c: RoutedCall, busy: bool) {
        let Some(rec) = super::record(&mut self.calls, c.caller, c.request) else {
            return; // canceled meanwhile
        };
        rec.excluded.push(c.callee);
        rec.busy |= busy;
        let local = cx.realms[c.realm as usize]
            .prefer_local_callee
            .then_some(cx.shard);
        let found = self.realms[c.realm as usize]
            .regs
            .iter()
            .find(|(_, _, e)| e.id == c.registration);
        let mut next = found.and_then(|(_, _, e)| {
            registry::pick_excluding(e, rec.rkey.as_deref(), &mut cx.rng, &rec.excluded, local)
        });
        if next.is_none() && rec.busy && rec.epoch != self.queues.epoch() {
            // A callee freed a slot since this call was routed (`queue.rs`):
            // every callee may have room again.
            rec.epoch = self.queues.epoch();
            rec.excluded.clear();
            next = found.and_then(|(_, _, e)| {
                registry::pick_excluding(e, rec.rkey.as_deref(), &mut cx.rng, &[], local)
            });
        }
        let Some(callee) = next else {
            let queue_limit = found
                .filter(|_| rec.busy && !c.progress && rec.rkey.is_none())
                .and_then(|(uri, _, _)| cx.realms[c.realm as usize].call_queue_limit(uri));
            if let Some(limit) = queue_limit {
                return self.wait(cx, c, limit);
            }
            let (error, why) = if rec.busy {
                (
                    uris::MAX_CONCURRENCY_REACHED,
                    "every callee has as many invocations in flight as its concurrency allows",
                )
            } else {
                (
                    uris::NO_SUCH_PROCEDURE,
                    "the callee is no longer registered",
                )
            };
            let ret = CallReturn {
                caller: c.caller,
                request: c.request,
                details: Dict::new(),
                error: Some(error.to_owned()),
                payload: Payload::args(vec![why.into()]),
                progress: false,
            };
            return self.call_return(cx, ret);
        };
        rec.callee_shard = callee.shard;
        c.callee = callee.session;
        cx.route_call(callee.shard, c);
    }

    /// CANCEL from a caller on this shard.
    pub(crate) fn cancel(&mut self, cx: &mut Ctx, conn: LinkId, m: Cancel) {
        let Some(s) = cx.links.session(conn) else {
            return;
        };
        let sid = s.id;
        let mode = match m.options.str_opt("mode") {
            Ok(None) => CancelMode::KillNoWait,
            Ok(Some(s)) => match CancelMode::parse(s) {
                Some(mode) => mode,
                None => {
                    let msg = format!(
                        "unknown cancel mode \"{s}\" (expected \"skip\", \"kill\" or \"killnowait\")"
                    );
                    return cx.links.error(
                        conn,
                        code::CANCEL,
                        m.request,
                        uris::INVALID_ARGUMENT,
                        Some(msg),
                    );
                }
            },
            Err(e) => {
                return cx.links.error(
                    conn,
                    code::CANCEL,
                    m.request,
                    uris::INVALID_ARGUMENT,
                    Some(e.to_string()),
                );
            }
        };
        let Some(rec) = super::record(&mut self.calls, sid, m.request) else {
            // Already answered (or never made): nothing to cancel.
            return;
        };
        if rec.canceling {
            return;
        }
        if rec.waiting.is_some() {
            // No callee has it yet: it leaves its queue, whatever the mode.
            self.forget_call(sid, m.request);
            return cx.links.error(
                conn,
                code::CALL,
                m.request,
                uris::CANCELED,
                Some("the call was canceled".to_owned()),
            );
        }
        let callee_shard = rec.callee_shard;
        match mode {
            CancelMode::Kill => rec.canceling = true,
            CancelMode::Skip | CancelMode::KillNoWait => {
                self.forget_call(sid, m.request);
                let err = Message::Error(Error {
                    request_type: code::CALL,
                    request: m.request,
                    details: Dict::new(),
                    error: uris::CANCELED.to_owned(),
                    payload: Payload::args(vec!["the call was canceled".into()]),
                });
                cx.links.send(conn, &err);
            }
        }
        cx.route(
            callee_shard,
            ShardMsg::CancelInvocation {
                caller: sid,
                request: m.request,
                mode,
                reason: uris::CANCELED,
            },
        );
    }

    /// Removes a call's record and deadline; remembers it if it was progressive.
    fn forget_call(&mut self, sid: SessionId, request: RequestId) -> Option<CallRecord> {
        // The session's (possibly empty) map stays until the session ends
        // (`rpc_caller_left`): no allocation per call for a session calling in turn.
        let rec = self.calls.get_mut(&sid)?.remove(&request)?;
        if let Some(at) = rec.deadline {
            self.timers.remove(at, sid, request);
        }
        self.unqueue(rec.waiting, rec.seq);
        if rec.progressive {
            let f = self.finished_streams.entry(sid).or_default();
            if f.len() == FINISHED_STREAMS {
                f.pop_front();
            }
            f.push_back(request);
        }
        Some(rec)
    }

    /// Caller's shard: RESULT (progressive or final) or ERROR for a call.
    pub(crate) fn call_return(&mut self, cx: &mut Ctx, r: CallReturn) {
        let Some(rec) = super::record(&mut self.calls, r.caller, r.request) else {
            // The call was canceled, timed out, or its caller left: dropped.
            return;
        };
        if r.progress && r.error.is_none() {
            if !rec.receive_progress {
                // The caller cannot tell a progressive result from the final one.
                return;
            }
            if let Some(t) = rec.timeout {
                // The timeout runs between results (progressive call results, "Timeouts").
                let old = rec.deadline.take();
                let at = self.clock.now() + t;
                rec.deadline = Some(at);
                if let Some(old) = old {
                    self.timers.remove(old, r.caller, r.request);
                }
                self.timers.insert(at, r.caller, r.request);
            }
            let msg = Message::Result(CallResult {
                request: r.request,
                details: r.details.with("progress", true),
                payload: r.payload,
            });
            return cx.links.send_to_session(r.caller, &msg);
        }
        let killed = self
            .forget_call(r.caller, r.request)
            .is_some_and(|rec| rec.canceling);
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
                // A call canceled with `kill` that ends in an ERROR was
                // canceled, whatever URI the callee answered the INTERRUPT
                // with: clients map `wamp.error.canceled` to their
                // cancellation exception. The callee's args and kwargs stay.
                error: if killed {
                    uris::CANCELED.to_owned()
                } else {
                    error
                },
                payload: r.payload,
            }),
        };
        cx.links.send_to_session(r.caller, &msg);
    }

    /// The caller's session ended: its calls in flight are interrupted
    /// (`killnowait`) on their callees' shards (basic profile, "Caller Leaving").
    pub(crate) fn caller_left(&mut self, cx: &mut Ctx, sid: SessionId) {
        self.finished_streams.remove(&sid);
        let Some(calls) = self.calls.remove(&sid) else {
            return;
        };
        for (request, rec) in calls {
            if let Some(at) = rec.deadline {
                self.timers.remove(at, sid, request);
            }
            if self.unqueue(rec.waiting, rec.seq) {
                continue;
            }
            cx.route(
                rec.callee_shard,
                ShardMsg::CancelInvocation {
                    caller: sid,
                    request,
                    mode: CancelMode::KillNoWait,
                    reason: uris::CANCELED,
                },
            );
        }
    }

    /// Fires every call deadline due at `now`: the caller gets ERROR
    /// `wamp.error.timeout`, the callee an INTERRUPT (`killnowait`) if it
    /// supports call canceling.
    pub(crate) fn poll_timers(&mut self, cx: &mut Ctx, now: Instant) {
        while let Some((sid, request)) = self.timers.pop_due(now) {
            let Some(rec) = super::record(&mut self.calls, sid, request) else {
                continue;
            };
            rec.deadline = None;
            let callee_shard = rec.callee_shard;
            let waiting = rec.waiting.is_some();
            self.forget_call(sid, request);
            let err = Message::Error(Error {
                request_type: code::CALL,
                request,
                details: Dict::new(),
                error: uris::TIMEOUT.to_owned(),
                payload: Payload::args(vec!["the call timed out".into()]),
            });
            cx.links.send_to_session(sid, &err);
            if waiting {
                continue;
            }
            cx.route(
                callee_shard,
                ShardMsg::CancelInvocation {
                    caller: sid,
                    request,
                    mode: CancelMode::KillNoWait,
                    reason: uris::TIMEOUT,
                },
            );
        }
    }
}

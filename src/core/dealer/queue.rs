//! Call queues (the realm store's `call-queue`, as in Crossbar.io): a call
//! that finds every callee of its registration at the `concurrency` its
//! REGISTER set waits instead of failing with
//! `crossbar.error.max_concurrency_reached`, until a callee has room.
//!
//! - The queue lives on the **caller's** shard, per (realm, registration), in
//!   arrival order. A call waits there only after its bounces showed every
//!   callee busy, or when calls of its registration already wait on that
//!   shard (it joins them at the back, so that it does not overtake them).
//! - The **callee's** shard knows the limits. When an invocation of a callee
//!   with a limit ends (answer, error, cancel) in a realm with a call queue,
//!   it tells every shard ([`ShardMsg::SlotFree`]); each shard sends its first
//!   waiting call of that registration to that callee. One of them gets the
//!   slot; the others bounce as busy and wait again at their old place (a
//!   waiting call keeps its sequence number).
//! - A callee that takes a queued call and still has room says so to that
//!   call's shard alone, which sends the next waiting call: a callee joining
//!   the registration (its replica change sends the first waiting call to
//!   it) or one without a limit drains the queue one call per round trip.
//! - A slot freed while a call was between two busy callees is not lost:
//!   every freed slot bumps this shard's `epoch`, and a call that found every
//!   callee busy tries them all again if the epoch moved since it was routed.
//! - A waiting call keeps its timeout; CANCEL (any mode) and the caller
//!   leaving take it out of the queue. When the registration goes away, its
//!   waiting calls fail with `wamp.error.no_such_procedure`.
//! - Queues are bounded by the rule's `limit`, per registration and caller
//!   shard. Progressive call invocations and partitioned calls (`rkey`)
//!   never wait: they fail as before.

use std::collections::VecDeque;

use ahash::AHashMap;

use super::Dealer;
use crate::core::cluster::{CallReturn, RealmIdx, RoutedCall, ShardMsg};
use crate::core::ctx::Ctx;
use crate::core::uris;
use crate::proto::{Dict, Payload, RegistrationId, SessionId, ShardId};

/// A call waiting for a free callee.
#[derive(Debug)]
struct Waiting {
    /// Its place in the queue (kept when it bounces and waits again).
    seq: u64,
    /// The call, ready to route.
    call: RoutedCall,
}

/// The call queues of the calls made on one shard.
#[derive(Debug, Default)]
pub(crate) struct CallQueues {
    /// Waiting calls per (realm, registration), by `seq`.
    queues: AHashMap<(RealmIdx, RegistrationId), VecDeque<Waiting>>,
    /// The last sequence number handed out.
    last_seq: u64,
    /// Bumped by every freed slot this shard hears of.
    epoch: u64,
}

impl CallQueues {
    /// The free-slot epoch (see the module header).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether calls of (realm, registration) wait on this shard.
    pub(crate) fn has_waiting(&self, realm: RealmIdx, registration: RegistrationId) -> bool {
        !self.queues.is_empty() && self.queues.contains_key(&(realm, registration))
    }

    /// Calls waiting on this shard.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Takes the call with sequence number `seq` out of its queue.
    fn remove(&mut self, key: (RealmIdx, RegistrationId), seq: u64) -> Option<RoutedCall> {
        let q = self.queues.get_mut(&key)?;
        let at = q.partition_point(|w| w.seq < seq);
        let found = q.get(at).is_some_and(|w| w.seq == seq);
        let w = if found { q.remove(at) } else { None };
        if q.is_empty() {
            self.queues.remove(&key);
        }
        w.map(|w| w.call)
    }
}

/// Where a waiting call waits (in its [`super::CallRecord`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitingAt {
    /// The queue's key.
    key: (RealmIdx, RegistrationId),
}

/// The error for a call that cannot wait.
fn full(c: &RoutedCall, limit: usize) -> CallReturn {
    let why = format!(
        "every callee has as many invocations in flight as its concurrency allows, \
         and the call queue is full ({limit} calls wait)"
    );
    CallReturn {
        caller: c.caller,
        request: c.request,
        details: Dict::new(),
        error: Some(uris::MAX_CONCURRENCY_REACHED.to_owned()),
        payload: Payload::args(vec![why.into()]),
        progress: false,
    }
}

impl Dealer {
    /// Caller's shard: `c` waits in its registration's queue (at most `limit`
    /// new calls; a call that waited before goes back to its place), or fails
    /// when the queue is full.
    pub(super) fn wait(&mut self, cx: &mut Ctx, c: RoutedCall, limit: usize) {
        let Some(rec) = super::record(&mut self.calls, c.caller, c.request) else {
            return;
        };
        let key = (c.realm, c.registration);
        let q = self.queues.queues.entry(key).or_default();
        if rec.seq == 0 {
            if q.len() >= limit {
                let ret = full(&c, limit);
                return self.call_return(cx, ret);
            }
            self.queues.last_seq += 1;
            rec.seq = self.queues.last_seq;
        }
        let seq = rec.seq;
        rec.waiting = Some(WaitingAt { key });
        rec.callee_shard = cx.shard;
        rec.excluded.clear();
        rec.busy = false;
        let at = q.partition_point(|w| w.seq < seq);
        q.insert(at, Waiting { seq, call: c });
    }

    /// Caller's shard: `callee` on `shard` has room for one more invocation
    /// of `registration`: the first call waiting for it goes there.
    pub(crate) fn slot_freed(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        registration: RegistrationId,
        callee: SessionId,
        shard: ShardId,
    ) {
        self.queues.epoch += 1;
        let key = (realm, registration);
        let Some(q) = self.queues.queues.get_mut(&key) else {
            return;
        };
        let next = q.pop_front();
        if q.is_empty() {
            self.queues.queues.remove(&key);
        }
        let Some(Waiting { call: mut c, .. }) = next else {
            return;
        };
        let epoch = self.queues.epoch;
        let Some(rec) = super::record(&mut self.calls, c.caller, c.request) else {
            return;
        };
        rec.waiting = None;
        rec.callee_shard = shard;
        rec.epoch = epoch;
        c.callee = callee;
        c.queued = true;
        cx.route_call(shard, c);
    }

    /// Caller's shard: a waiting call leaves its queue (canceled, timed out,
    /// its caller left). `false` if it was not waiting.
    pub(super) fn unqueue(&mut self, at: Option<WaitingAt>, seq: u64) -> bool {
        match at {
            Some(at) => self.queues.remove(at.key, seq).is_some(),
            None => false,
        }
    }

    /// Caller's shard: the registration is gone from this shard's replica:
    /// its waiting calls fail.
    pub(super) fn registration_gone(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        registration: RegistrationId,
    ) {
        let Some(q) = self.queues.queues.remove(&(realm, registration)) else {
            return;
        };
        for w in q {
            if let Some(rec) = super::record(&mut self.calls, w.call.caller, w.call.request) {
                rec.waiting = None;
            }
            let ret = CallReturn {
                caller: w.call.caller,
                request: w.call.request,
                details: Dict::new(),
                error: Some(uris::NO_SUCH_PROCEDURE.to_owned()),
                payload: Payload::args(vec![
                    "the procedure was unregistered while the call waited for a callee".into(),
                ]),
                progress: false,
            };
            self.call_return(cx, ret);
        }
    }

    /// After a reload: calls waiting for a registration that no `call-queue`
    /// rule covers any more are tried once more, and fail as calls without
    /// a queue do if every callee is still busy.
    pub(crate) fn reload_queues(&mut self, cx: &mut Ctx) {
        let stale: Vec<(RealmIdx, RegistrationId)> = self
            .queues
            .queues
            .keys()
            .filter(|(realm, id)| {
                let uri = self.realms[*realm as usize]
                    .regs
                    .iter()
                    .find(|(_, _, e)| e.id == *id)
                    .map(|(uri, _, _)| uri);
                uri.is_none_or(|u| cx.realms[*realm as usize].call_queue_limit(u).is_none())
            })
            .copied()
            .collect();
        for key in stale {
            let Some(q) = self.queues.queues.remove(&key) else {
                continue;
            };
            for Waiting { call, .. } in q {
                if let Some(rec) = super::record(&mut self.calls, call.caller, call.request) {
                    rec.waiting = None;
                    // As if a slot had freed since it was routed: every
                    // callee is tried again (`call_bounced`).
                    rec.epoch = self.queues.epoch.wrapping_sub(1);
                }
                self.call_bounced(cx, call, true);
            }
        }
    }

    /// Callee's shard: an invocation of `registration` that `callee` owed
    /// has ended. If the callee has a `concurrency` limit and its realm
    /// queues calls, every shard hears that it has room.
    pub(super) fn invocation_ended(
        &mut self,
        cx: &mut Ctx,
        callee: SessionId,
        registration: RegistrationId,
    ) {
        if self.limits.is_empty() || !self.limits.contains_key(&(callee, registration)) {
            return;
        }
        let Some(realm) = cx
            .links
            .link_of(callee)
            .and_then(|l| cx.links.session(l))
            .map(|s| s.realm)
        else {
            return;
        };
        if cx.realms[realm as usize].queues_calls() {
            Self::has_room(cx, realm, registration, callee, None);
        }
    }

    /// Callee's shard: `callee` can take one more invocation of
    /// `registration`: `to` is told (the shard of a queued call it just
    /// took), or every shard.
    pub(super) fn has_room(
        cx: &mut Ctx,
        realm: RealmIdx,
        registration: RegistrationId,
        callee: SessionId,
        to: Option<ShardId>,
    ) {
        let shard = cx.shard;
        let msg = move || ShardMsg::SlotFree {
            realm,
            registration,
            callee,
            shard,
        };
        match to {
            Some(to) => cx.route(to, msg()),
            None => {
                cx.broadcast(msg);
                cx.route(shard, msg());
            }
        }
    }
}

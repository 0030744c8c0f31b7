//! The dealer: registrations and calls on one shard, with progressive call
//! results and invocations, call canceling and timeouts, caller
//! identification and trust levels, shared and sharded registrations,
//! registration revocation, and the registration meta API's dealer side.
//!
//! - `register.rs`: REGISTER and UNREGISTER, and their outcome on the
//!   callee's shard.
//! - `caller.rs`: the caller's shard. It owns every in-flight call of its
//!   sessions (`CallRecord`: where the call went, progress flags, deadline),
//!   picks the callee from its replica, and turns CANCEL, timeouts and the
//!   caller leaving into [`ShardMsg::CancelInvocation`] for the callee's shard.
//! - `callee.rs`: the callee's shard. It turns routed calls into INVOCATIONs,
//!   maps (caller, CALL request) → invocation for chunks and cancels, and
//!   handles YIELD/ERROR.
//! - `registry.rs`: the owner's registration entries (callee lists, invocation
//!   policies) and the replicas; callee selection (shared and sharded).
//! - `queue.rs`: call queues (the store's `call-queue`): calls waiting for a
//!   callee below its `concurrency`, on the caller's shard.
//! - `meta.rs`: the `wamp.registration.on_*` meta events (published by the
//!   owner) and the replica reads the meta procedures need.
//! - [`timers`]: the injected clock and the deadline queue.
//!
//! The dealer gets the shard's shared context with every input; it never
//! calls the broker or the meta API (meta events go through the context).
//!
//! [`ShardMsg::CancelInvocation`]: super::cluster::ShardMsg::CancelInvocation

mod callee;
mod caller;
pub(crate) mod meta;
mod queue;
mod register;
pub(crate) mod registry;
pub mod timers;

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use self::timers::{Clock, SystemClock, TimerQueue};
use super::cluster::{CalleeRef, InvokePolicy, spread_id};
use super::index::UriIndex;
use super::session::IdMap;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, RegistrationId, RequestId, SessionId, ShardId, Value};

/// A registration as every shard's replica (and its owner) holds it.
#[derive(Debug, Clone)]
pub struct RegEntry {
    /// The realm-wide ID, shared by every callee of a shared registration.
    pub id: RegistrationId,
    /// How a call picks among several callees (`REGISTER.Options.invoke`).
    pub invoke: InvokePolicy,
    /// When the owner created the registration (milliseconds since the Unix epoch).
    pub created_ms: u64,
    /// The callees, in registration order (what `first`/`last`/`roundrobin` rely on).
    pub callees: Vec<CalleeRef>,
    /// Round-robin position of *this* shard's callers (see docs/architecture.md).
    pub cursor: Cell<usize>,
}

/// One realm's dealer state on one shard.
#[derive(Default)]
pub(crate) struct DealerRealm {
    /// Replica registration index: the call path's only lookup.
    pub regs: UriIndex<RegEntry>,
    /// Registrations this shard owns.
    pub owned_regs: AHashMap<(String, MatchPolicy), RegEntry>,
    /// Counter behind the registration IDs this shard assigns.
    next_reg: u64,
}

impl DealerRealm {
    /// A new registration ID, unique in this realm across shards.
    fn new_reg_id(&mut self, shard: ShardId, shards: u16) -> RegistrationId {
        self.next_reg += 1;
        RegistrationId(spread_id(self.next_reg, shard, shards))
    }
}

/// Where to send the answer to an invocation (callee side).
#[derive(Debug, Clone)]
pub(crate) struct PendingInvocation {
    /// The caller's shard.
    caller_shard: ShardId,
    /// The caller session.
    caller: SessionId,
    /// The caller's CALL request ID.
    request: RequestId,
    /// The registration invoked (for further INVOCATIONs of a progressive call).
    registration: RegistrationId,
    /// Progressive call invocation still open: the initiating INVOCATION's details.
    stream: Option<Box<Dict>>,
    /// The caller announced `payload_passthru_mode`.
    caller_ppt: bool,
    /// The caller no longer waits (a `skip`/`killnowait` cancel, a timeout,
    /// the caller leaving), but the callee has a `concurrency` limit: the
    /// invocation keeps its slot until the callee answers (the answer is
    /// dropped), as in Crossbar.io, so that a callee still busy with it gets
    /// no more than its limit.
    abandoned: bool,
}

/// The invocations sent to one callee session and not yet answered.
#[derive(Debug, Default)]
pub(crate) struct Invocations {
    /// Last INVOCATION request ID used towards this session.
    last: u64,
    /// INVOCATION request → where its answer goes.
    pending: IdMap<RequestId, PendingInvocation>,
}

/// A call in flight, on the caller's shard.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    /// Where the invocation runs.
    callee_shard: ShardId,
    /// The caller asked for progressive results.
    receive_progress: bool,
    /// A progressive call invocation whose final chunk has not been sent yet.
    streaming: bool,
    /// Started as a progressive call invocation (remembered after it ends, so
    /// late continuations are discarded instead of starting a new call).
    progressive: bool,
    /// A `kill` cancel is under way: further CANCELs are ignored.
    canceling: bool,
    /// Dealer-enforced timeout, restarted by each progressive result.
    timeout: Option<Duration>,
    /// The queued deadline, if any.
    deadline: Option<Instant>,
    /// `CALL.Options.rkey`, kept for a re-pick after a bounce.
    rkey: Option<String>,
    /// Callees that turned out to be gone (the call bounced off them).
    excluded: Vec<SessionId>,
    /// A callee refused the call for its `concurrency` limit.
    busy: bool,
    /// Its place in a call queue, once it waited (0: never waited).
    seq: u64,
    /// Waiting in a call queue now (no callee has it).
    waiting: Option<queue::WaitingAt>,
    /// The call queues' free-slot epoch when the call was last routed.
    epoch: u64,
}

/// The in-flight calls of a shard's sessions, by caller, then CALL request.
type Calls = AHashMap<SessionId, AHashMap<RequestId, CallRecord>>;

/// The record of `caller`'s call `request`, if it is still in flight (a
/// function on the map, so the dealer's other fields stay free to borrow).
fn record(calls: &mut Calls, caller: SessionId, request: RequestId) -> Option<&mut CallRecord> {
    calls.get_mut(&caller)?.get_mut(&request)
}

/// How many finished progressive-invocation request IDs a caller session
/// remembers, so that a continuation arriving after the call ended is
/// discarded (the spec's "grace period table", bounded by count, not time).
const FINISHED_STREAMS: usize = 32;

/// The dealer's state on one shard.
pub(crate) struct Dealer {
    /// Per realm, indexed by `RealmIdx`.
    realms: Vec<DealerRealm>,
    /// Callee side: invocations each callee session owes.
    invocations: AHashMap<SessionId, Invocations>,
    /// Caller side: in-flight calls of this shard's sessions, by caller, then CALL request.
    calls: Calls,
    /// Caller side: recently finished progressive invocations per caller session.
    finished_streams: AHashMap<SessionId, VecDeque<RequestId>>,
    /// Callee side: (caller, CALL request) → (callee session, INVOCATION request),
    /// to find the invocation a chunk or a cancel is for.
    by_call: AHashMap<(SessionId, RequestId), (SessionId, RequestId)>,
    /// Caller side: call deadlines.
    timers: TimerQueue,
    /// Callee side: the `concurrency` of a callee's registration (REGISTER
    /// option; only registrations that set one).
    limits: AHashMap<(SessionId, RegistrationId), u32>,
    /// Callee side: `concurrency` of REGISTERs waiting for their owner.
    limits_asked: AHashMap<(SessionId, RequestId), u32>,
    /// Caller side: calls waiting for a callee with room (`call-queue`).
    queues: queue::CallQueues,
    /// The time source.
    clock: Box<dyn Clock>,
}

impl Dealer {
    /// The dealer of a shard serving `realms` realms, on the system clock.
    pub fn new(realms: usize) -> Dealer {
        Dealer {
            realms: (0..realms).map(|_| DealerRealm::default()).collect(),
            invocations: AHashMap::new(),
            calls: AHashMap::new(),
            finished_streams: AHashMap::new(),
            by_call: AHashMap::new(),
            timers: TimerQueue::default(),
            limits: AHashMap::new(),
            limits_asked: AHashMap::new(),
            queues: queue::CallQueues::default(),
            clock: Box::new(SystemClock),
        }
    }

    /// Adds the state of one more realm (a reload added it).
    pub fn add_realm(&mut self) {
        self.realms.push(DealerRealm::default());
    }

    /// Calls in flight with this shard as the caller's shard, invocations
    /// indexed here as the callee's shard, and queued deadlines: zero once idle.
    pub fn pending_count(&self) -> usize {
        self.calls.values().map(|c| c.len()).sum::<usize>() + self.by_call.len() + self.timers.len()
    }

    /// Calls made on this shard that wait in a call queue.
    #[cfg(test)]
    pub fn waiting_count(&self) -> usize {
        self.queues.len()
    }

    /// Callee registrations on this shard with a `concurrency` limit.
    #[cfg(test)]
    pub fn limit_count(&self) -> usize {
        self.limits.len() + self.limits_asked.len()
    }

    /// Index entries on this shard (replicas and owned entries).
    pub fn entry_count(&self) -> usize {
        self.realms
            .iter()
            .map(|r| r.regs.len() + r.owned_regs.len())
            .sum()
    }

    /// The replica of `realm` (the meta API reads it).
    pub fn realm(&self, realm: super::cluster::RealmIdx) -> &DealerRealm {
        &self.realms[realm as usize]
    }

    /// The earliest call deadline on this shard, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Changes whenever a deadline earlier than all others was added.
    pub fn timer_epoch(&self) -> u64 {
        self.timers.epoch()
    }

    /// The waker of the runtime's timer task, woken when the epoch changes.
    pub fn set_timer_waker(&mut self, waker: &std::task::Waker) {
        self.timers.set_waker(waker);
    }

    /// Replaces the clock (tests inject a manual one).
    pub fn set_clock(&mut self, clock: Box<dyn Clock>) {
        self.clock = clock;
    }
}

/// Parsed CALL options that the dealer acts on.
#[derive(Debug, Default)]
struct CallOptions {
    disclose_me: bool,
    receive_progress: bool,
    progress: bool,
    timeout_ms: u64,
    rkey: Option<String>,
}

impl CallOptions {
    /// Parses and checks the options; `Err` is the message for `wamp.error.invalid_argument`.
    fn parse(o: &Dict) -> Result<CallOptions, String> {
        let disclose_me = o.bool_or("disclose_me", false).map_err(|e| e.to_string())?;
        let receive_progress = o
            .bool_or("receive_progress", false)
            .map_err(|e| e.to_string())?;
        let progress = o.bool_or("progress", false).map_err(|e| e.to_string())?;
        let timeout_ms = match o.get("timeout") {
            None | Some(Value::Null) => 0,
            Some(v) => parse_timeout(v)?,
        };
        let runmode = o.str_opt("runmode").map_err(|e| e.to_string())?;
        let rkey = match o.get("rkey") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Int(i)) => Some(i.to_string()),
            Some(Value::UInt(u)) => Some(u.to_string()),
            Some(_) => return Err("option 'rkey' must be a string or an integer".to_owned()),
        };
        match (runmode, &rkey) {
            (None, _) | (Some("partition"), Some(_)) => {}
            (Some("partition"), None) => {
                return Err("option 'runmode' \"partition\" needs option 'rkey'".to_owned());
            }
            (Some(other), _) => {
                return Err(format!(
                    "option 'runmode' \"{other}\" is not supported (only \"partition\")"
                ));
            }
        }
        Ok(CallOptions {
            disclose_me,
            receive_progress,
            progress,
            timeout_ms,
            rkey,
        })
    }
}

/// `CALL.Options.timeout`: milliseconds, an integer ≥ 0 (a whole float is accepted).
fn parse_timeout(v: &Value) -> Result<u64, String> {
    const MAX_MS: u64 = 365 * 24 * 3600 * 1000;
    let ms = match v {
        Value::Int(i) if *i >= 0 => *i as u64,
        Value::UInt(u) => *u,
        Value::Float(f) if f.is_finite() && *f >= 0.0 && f.fract() == 0.0 => *f as u64,
        Value::Int(_) | Value::Float(_) => {
            return Err(
                "option 'timeout' must be a non-negative integer (milliseconds)".to_owned(),
            );
        }
        _ => return Err("option 'timeout' must be an integer (milliseconds)".to_owned()),
    };
    Ok(ms.min(MAX_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_options_are_checked() {
        let ok = CallOptions::parse(
            &Dict::new()
                .with("timeout", 1500u64)
                .with("receive_progress", true)
                .with("rkey", "user-7"),
        )
        .expect("valid");
        assert_eq!(ok.timeout_ms, 1500);
        assert!(ok.receive_progress && !ok.progress && !ok.disclose_me);
        assert_eq!(ok.rkey.as_deref(), Some("user-7"));
        let float = CallOptions::parse(&Dict::new().with("timeout", Value::Float(250.0)));
        assert_eq!(float.expect("whole float").timeout_ms, 250);
        for (bad, needle) in [
            (Dict::new().with("timeout", -1i64), "non-negative"),
            (
                Dict::new().with("timeout", Value::Float(0.5)),
                "non-negative",
            ),
            (Dict::new().with("timeout", "10"), "integer"),
            (
                Dict::new().with("receive_progress", 1u64),
                "receive_progress",
            ),
            (Dict::new().with("progress", "yes"), "progress"),
            (Dict::new().with("runmode", "all"), "runmode"),
            (Dict::new().with("runmode", "partition"), "rkey"),
            (Dict::new().with("rkey", Value::Float(1.5)), "rkey"),
        ] {
            let e = CallOptions::parse(&bad).expect_err("invalid");
            assert!(e.contains(needle), "{e:?} should mention {needle}");
        }
    }
}

//! The dealer's advanced profile: progressive call results and invocations,
//! call canceling and timeouts, caller identification and trust levels,
//! shared and sharded registrations, registration revocation and the
//! registration meta API.
//!
//! Split by side of a call:
//! - [`caller`]: the caller's shard. It owns every in-flight call of its
//!   sessions ([`CallRecord`]: where the call went, progress flags, deadline),
//!   picks the callee from its replica, and turns CANCEL, timeouts and the
//!   caller leaving into [`ShardMsg::CancelInvocation`] for the callee's shard.
//! - [`callee`]: the callee's shard. It turns routed calls into INVOCATIONs,
//!   maps (caller, CALL request) → invocation for chunks and cancels, and
//!   handles YIELD/ERROR.
//! - [`registry`]: the owner's registration entries (callee lists, invocation
//!   policies) and the replicas; callee selection (shared and sharded).
//! - [`meta_reg`]: `wamp.registration.*` procedures and meta events.
//! - [`timers`]: the injected clock and the deadline queue.
//!
//! Registration (REGISTER/UNREGISTER) requests themselves stay in `dealer.rs`.
//!
//! [`ShardMsg::CancelInvocation`]: super::cluster::ShardMsg::CancelInvocation

mod callee;
mod caller;
mod register;
pub(in crate::core) mod registry;
pub mod timers;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use self::timers::{Clock, SystemClock, TimerQueue};
use crate::proto::{Dict, RequestId, SessionId, ShardId, Value};

/// What a client announced in `HELLO.Details.roles.<role>.features`, as far
/// as the dealer needs it. `progressive_call_results` is not among them:
/// `receive_progress` reaches every callee whose caller asked (see `callee.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::core) struct Features(u8);

impl Features {
    /// callee: `call_canceling` (or the spelling `call_cancelling`).
    pub(in crate::core) const CALLEE_CANCELING: u8 = 1;
    /// callee: `progressive_call_invocations`.
    pub(in crate::core) const CALLEE_PROGRESSIVE_INVOCATIONS: u8 = 2;
    /// callee: `registration_revocation`.
    pub(in crate::core) const CALLEE_REVOCATION: u8 = 4;
    /// caller: `progressive_call_invocations`.
    pub(in crate::core) const CALLER_PROGRESSIVE_INVOCATIONS: u8 = 8;

    /// Reads the features from HELLO details; anything malformed counts as absent.
    pub(in crate::core) fn from_hello(details: &Dict) -> Features {
        let roles = details.get("roles").and_then(Value::as_dict);
        let features = |role: &str| {
            roles
                .and_then(|r| r.get(role))
                .and_then(Value::as_dict)
                .and_then(|r| r.get("features"))
                .and_then(Value::as_dict)
        };
        let on = |f: Option<&Dict>, key: &str| {
            f.and_then(|f| f.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let mut bits = 0;
        let callee = features("callee");
        if on(callee, "call_canceling") || on(callee, "call_cancelling") {
            bits |= Self::CALLEE_CANCELING;
        }
        if on(callee, "progressive_call_invocations") {
            bits |= Self::CALLEE_PROGRESSIVE_INVOCATIONS;
        }
        if on(callee, "registration_revocation") {
            bits |= Self::CALLEE_REVOCATION;
        }
        if on(features("caller"), "progressive_call_invocations") {
            bits |= Self::CALLER_PROGRESSIVE_INVOCATIONS;
        }
        Features(bits)
    }

    /// Whether every bit of `flag` is set.
    pub(in crate::core) fn has(self, flag: u8) -> bool {
        self.0 & flag == flag
    }
}

/// A call in flight, on the caller's shard.
#[derive(Debug, Clone)]
pub(in crate::core) struct CallRecord {
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
}

/// How many finished progressive-invocation request IDs a caller session
/// remembers, so that a continuation arriving after the call ended is
/// discarded (the spec's "grace period table", bounded by count, not time).
const FINISHED_STREAMS: usize = 32;

/// The advanced dealer's per-shard state (one field of `ShardRouter`).
pub(in crate::core) struct RpcState {
    /// Caller side: in-flight calls of this shard's sessions, by caller, then CALL request.
    calls: AHashMap<SessionId, AHashMap<RequestId, CallRecord>>,
    /// Caller side: recently finished progressive invocations per caller session.
    finished_streams: AHashMap<SessionId, VecDeque<RequestId>>,
    /// Callee side: (caller, CALL request) → (callee session, INVOCATION request),
    /// to find the invocation a chunk or a cancel is for.
    by_call: AHashMap<(SessionId, RequestId), (SessionId, RequestId)>,
    /// Caller side: call deadlines.
    timers: TimerQueue,
    /// The time source.
    clock: Box<dyn Clock>,
}

impl RpcState {
    /// State for a router serving `config`'s realms, on the system clock.
    pub(in crate::core) fn new() -> RpcState {
        RpcState {
            calls: AHashMap::new(),
            finished_streams: AHashMap::new(),
            by_call: AHashMap::new(),
            timers: TimerQueue::default(),
            clock: Box::new(SystemClock),
        }
    }

    /// In-flight calls on this shard (caller side) plus invocations indexed
    /// on this shard (callee side): zero when the shard is idle.
    pub(in crate::core) fn pending_count(&self) -> usize {
        self.calls.values().map(|c| c.len()).sum::<usize>() + self.by_call.len()
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
    fn features_from_hello() {
        let hello = Dict::new().with(
            "roles",
            Dict::new()
                .with(
                    "callee",
                    Dict::new().with(
                        "features",
                        Dict::new()
                            .with("call_cancelling", true)
                            .with("progressive_call_results", true)
                            .with("registration_revocation", "yes"),
                    ),
                )
                .with(
                    "caller",
                    Dict::new().with(
                        "features",
                        Dict::new().with("progressive_call_invocations", true),
                    ),
                ),
        );
        let f = Features::from_hello(&hello);
        assert!(f.has(Features::CALLEE_CANCELING));
        assert!(!f.has(Features::CALLEE_PROGRESSIVE_INVOCATIONS));
        assert!(
            !f.has(Features::CALLEE_REVOCATION),
            "a non-boolean counts as absent"
        );
        assert!(f.has(Features::CALLER_PROGRESSIVE_INVOCATIONS));
        assert_eq!(Features::from_hello(&Dict::new()), Features::default());
    }

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
            (Dict::new().with("disclose_me", Value::Null), "disclose_me"),
            (Dict::new().with("runmode", "all"), "runmode"),
            (Dict::new().with("runmode", "partition"), "rkey"),
            (Dict::new().with("rkey", Value::Float(1.5)), "rkey"),
        ] {
            let e = CallOptions::parse(&bad).expect_err("invalid");
            assert!(e.contains(needle), "{e:?} should mention {needle}");
        }
    }
}

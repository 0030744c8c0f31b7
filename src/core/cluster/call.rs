//! Calls on their way between shards: the routed call, its further chunks,
//! cancels, the answer, and the registration entries replicas share.

use crate::proto::{Dict, Payload, RegistrationId, RequestId, SessionId, ShardId};

use super::RealmIdx;

/// A call forwarded to the callee's shard.
#[derive(Debug)]
pub struct RoutedCall {
    /// The realm.
    pub realm: RealmIdx,
    /// The registration matched on the caller's shard.
    pub registration: RegistrationId,
    /// The callee session.
    pub callee: SessionId,
    /// The caller's shard, for the answer.
    pub caller_shard: ShardId,
    /// The caller session.
    pub caller: SessionId,
    /// The caller's CALL request ID.
    pub request: RequestId,
    /// INVOCATION details (`procedure` for pattern registrations, ...).
    pub details: Dict,
    /// The call's arguments.
    pub payload: Payload,
    /// `CALL.Options.receive_progress`: the caller accepts progressive results.
    pub receive_progress: bool,
    /// `CALL.Options.progress`: the first chunk of a progressive call invocation.
    pub progress: bool,
    /// The caller announced `payload_passthru_mode`: the callee may answer in it.
    pub caller_ppt: bool,
    /// The call waited in a call queue: a callee that takes it and has room
    /// for more tells the caller's shard ([`super::ShardMsg::SlotFree`]).
    pub queued: bool,
}

/// A further chunk of a progressive call invocation (a CALL with the request
/// ID of a call in progress), for the callee's shard.
#[derive(Debug)]
pub struct CallChunk {
    /// The caller session.
    pub caller: SessionId,
    /// The caller's CALL request ID (the same for every chunk).
    pub request: RequestId,
    /// More chunks follow (`CALL.Options.progress`).
    pub progress: bool,
    /// The chunk's arguments.
    pub payload: Payload,
}

/// How a call is canceled (`CANCEL.Options.mode`), as sent to the callee's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// No INTERRUPT; the callee's answer is discarded.
    Skip,
    /// INTERRUPT; the caller waits for the callee's answer.
    Kill,
    /// INTERRUPT; the caller already has its ERROR, the answer is discarded.
    KillNoWait,
}

impl CancelMode {
    /// Parses `CANCEL.Options.mode`.
    pub fn parse(s: &str) -> Option<CancelMode> {
        Some(match s {
            "skip" => CancelMode::Skip,
            "kill" => CancelMode::Kill,
            "killnowait" => CancelMode::KillNoWait,
            _ => return None,
        })
    }

    /// The mode's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

/// A change to a registration's callee list, from its owner to every replica.
#[derive(Debug, Clone)]
pub enum RegChange {
    /// A callee joins (the entry is created with `invoke`/`created_ms` if absent).
    Add {
        /// The new callee.
        callee: CalleeRef,
        /// The registration's invocation policy.
        invoke: InvokePolicy,
        /// The registration's creation time (ms since the Unix epoch).
        created_ms: u64,
    },
    /// A callee leaves (the entry goes with its last callee).
    Remove {
        /// The callee session leaving.
        session: SessionId,
    },
}

/// The answer to a call, sent back to the caller's shard.
#[derive(Debug)]
pub struct CallReturn {
    /// The caller session.
    pub caller: SessionId,
    /// The caller's CALL request ID.
    pub request: RequestId,
    /// RESULT details, or ERROR details.
    pub details: Dict,
    /// `None` for RESULT, `Some(error URI)` for ERROR.
    pub error: Option<String>,
    /// The result's or error's payload.
    pub payload: Payload,
    /// A progressive result (`YIELD.Options.progress`): the call goes on.
    pub progress: bool,
}

/// One callee attached to a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalleeRef {
    /// The callee's shard.
    pub shard: ShardId,
    /// The callee session.
    pub session: SessionId,
    /// `REGISTER.Options.disclose_caller`: the callee wants the caller's identity.
    pub disclose_caller: bool,
    /// `REGISTER.Options.forward_timeout`: the callee handles call timeouts itself.
    pub forward_timeout: bool,
}

/// `REGISTER.Options.invoke`: the shared-registration invocation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum InvokePolicy {
    /// One callee only (the default): a second REGISTER fails.
    #[default]
    Single,
    /// Callees in turn, in registration order.
    RoundRobin,
    /// A random callee per call.
    Random,
    /// The earliest registered callee.
    First,
    /// The latest registered callee.
    Last,
}

impl InvokePolicy {
    /// Parses the option's string value.
    pub fn parse(s: &str) -> Option<InvokePolicy> {
        Some(match s {
            "single" => InvokePolicy::Single,
            "roundrobin" => InvokePolicy::RoundRobin,
            "random" => InvokePolicy::Random,
            "first" => InvokePolicy::First,
            "last" => InvokePolicy::Last,
            _ => return None,
        })
    }

    /// The option's string value.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

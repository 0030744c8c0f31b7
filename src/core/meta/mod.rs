//! The router's own procedures (`wamp.session.*`, `wamp.subscription.*`,
//! `wamp.registration.*`): CALLs to them are answered by the router on the
//! caller's shard instead of being routed to a callee. Authorization applies
//! to them like to any other URI (checked before dispatch, in the dealer).
//!
//! Each family lives in its own module; this one only dispatches.

pub mod query;
mod registration;
mod session;
pub(in crate::core) mod subscription;

use super::ShardRouter;
use super::realm::ConnId;
use crate::proto::Call;

impl ShardRouter {
    /// Answers `call` if it names a meta procedure this router implements;
    /// otherwise gives it back for normal routing.
    pub(in crate::core) fn try_meta_call(&mut self, conn: ConnId, call: Call) -> Option<Call> {
        if !call.procedure.starts_with("wamp.") {
            return Some(call);
        }
        if call.procedure.starts_with("wamp.subscription.") {
            return self.meta_subscription_call(conn, call);
        }
        if call.procedure.starts_with("wamp.session.") {
            return self.meta_session_call(conn, call);
        }
        if call.procedure.starts_with("wamp.registration.") {
            return self.registration_meta_call(conn, call);
        }
        // Anything else is routed normally, so a client-registered `wamp.*`
        // procedure (if permitted) still works.
        Some(call)
    }
}

//! What happens to a message larger than its peer accepts (RawSocket peers
//! announce a maximum length in their handshake; [`LinkInfo::max_outbound`]).
//! Nothing is silently lost:
//! - EVENT and INVOCATION are not sent: the subscriber misses that event;
//!   for an INVOCATION the dealer fails the call;
//! - a RESULT or a call's ERROR becomes ERROR `wamp.error.payload_size_exceeded`
//!   (the call still ends);
//! - ERROR for other requests, ABORT, GOODBYE and revocations lose their
//!   optional details and arguments, keeping the URI and IDs;
//! - anything else the peer must get (WELCOME, SUBSCRIBED, REGISTERED, ...),
//!   or a shortened form that still does not fit: the session is aborted
//!   (`Links::abort_unsendable`).
//!
//! [`LinkInfo::max_outbound`]: crate::core::api::LinkInfo::max_outbound

use crate::core::uris;
use crate::proto::message::code;
use crate::proto::{
    Abort, CallResult, Dict, Error, Goodbye, Message, Payload, RequestId, Unregistered,
    Unsubscribed, Value,
};

/// What to do with a message larger than its peer accepts.
#[derive(Debug)]
pub(super) enum Oversize {
    /// Not sent: the peer can do without it (EVENT), or the sender answers
    /// for it (INVOCATION: the call fails).
    Drop,
    /// Sent in this smaller form instead (if that fits).
    Replace(Message),
    /// The peer must get it and it cannot be shortened: abort the session.
    Abort,
}

/// How to handle `msg`, `len` bytes encoded, for a peer accepting `max`.
pub(super) fn oversize(msg: &Message, len: usize, max: usize) -> Oversize {
    match msg {
        Message::Event(_) | Message::Invocation(_) => Oversize::Drop,
        Message::Result(CallResult { request, .. }) => {
            Oversize::Replace(call_too_big(*request, len, max))
        }
        Message::Error(e) if e.request_type == code::CALL => {
            Oversize::Replace(call_too_big(e.request, len, max))
        }
        Message::Error(e) if !e.details.is_empty() || e.payload != Payload::empty() => {
            Oversize::Replace(Message::Error(Error {
                request_type: e.request_type,
                request: e.request,
                details: Dict::new(),
                error: e.error.clone(),
                payload: Payload::empty(),
            }))
        }
        Message::Abort(a) if !a.details.is_empty() || a.payload != Payload::empty() => {
            Oversize::Replace(Message::Abort(Abort {
                details: Dict::new(),
                reason: a.reason.clone(),
                payload: Payload::empty(),
            }))
        }
        Message::Goodbye(g) if !g.details.is_empty() => {
            Oversize::Replace(Message::Goodbye(Goodbye {
                details: Dict::new(),
                reason: g.reason.clone(),
            }))
        }
        // Revocations (request 0) keep the ID they revoke and lose the reason.
        Message::Unregistered(u) if u.details.is_some() => {
            Oversize::Replace(Message::Unregistered(Unregistered {
                request: u.request,
                details: u.details.as_ref().map(|d| only(d, "registration")),
            }))
        }
        Message::Unsubscribed(u) if u.details.is_some() => {
            Oversize::Replace(Message::Unsubscribed(Unsubscribed {
                request: u.request,
                details: u.details.as_ref().map(|d| only(d, "subscription")),
            }))
        }
        _ => Oversize::Abort,
    }
}

/// `d` with only its entry `key` (if present).
fn only(d: &Dict, key: &str) -> Dict {
    match d.get(key) {
        Some(v) => Dict::new().with(key.to_owned(), v.clone()),
        None => Dict::new(),
    }
}

/// The ERROR that replaces a call's RESULT or ERROR too large for its caller.
fn call_too_big(request: RequestId, len: usize, max: usize) -> Message {
    Message::Error(Error {
        request_type: code::CALL,
        request,
        details: Dict::new(),
        error: uris::PAYLOAD_SIZE_EXCEEDED.to_owned(),
        payload: Payload::args(vec![Value::Str(format!(
            "the call's answer is {len} bytes; this client accepts at most {max}"
        ))]),
    })
}

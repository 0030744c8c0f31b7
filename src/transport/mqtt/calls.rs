//! The bookkeeping of a connection's MQTT 5 requests answered by WAMP
//! procedures (`request_response`): the CALLs waiting and the answers for
//! the connection's task. `request.rs` makes the calls and publishes the
//! answers; the connection state holds these.
//!
//! Imports only the protocol's types.

use ahash::AHashMap;

use crate::proto::RequestId;
use crate::proto::mqtt::{MqttString, QoS};

/// A CALL made for an MQTT 5 request, waiting for its answer.
#[derive(Debug, Clone)]
pub struct PendingCall {
    /// Where the answer goes.
    pub response_topic: MqttString,
    /// The request's Correlation Data.
    pub correlation: Option<bytes::Bytes>,
    /// The request's QoS (the answer's).
    pub qos: QoS,
}

/// An answer the router gave to one of those calls.
#[derive(Debug, Clone)]
pub struct CallAnswer {
    /// The CALL.
    pub request: RequestId,
    /// The RESULT's payload, or the ERROR's URI and payload.
    pub outcome: Result<crate::proto::Payload, (String, crate::proto::Payload)>,
}

/// A connection's MQTT 5 requests answered by WAMP procedures.
#[derive(Debug, Default)]
pub struct Requests {
    /// CALLs waiting for an answer.
    pub calls: AHashMap<RequestId, PendingCall>,
    /// Answers for the task to publish.
    pub answers: Vec<CallAnswer>,
}

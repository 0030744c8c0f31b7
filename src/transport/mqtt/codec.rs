//! The queues of the `dynamic` payload mapping's conversions in progress
//! (the data only; `dynamic.rs` fills and drains them). Apart from
//! `dynamic.rs` so that the connection state can hold them without
//! importing the module that works on the state.

use std::collections::VecDeque;

use bytes::Bytes;

use super::out::Matched;
use crate::proto::mqtt::{MqttString, ReasonCode};
use crate::proto::{Message, PublicationId, RequestId};

/// A connection's payload conversions in progress (boxed in its state,
/// `None` until the first).
#[derive(Debug, Default)]
pub struct Codec {
    /// The client's publications from the first one waiting for its
    /// decoder on, in arrival order.
    pub(super) inbound: VecDeque<In>,
    /// Deliveries waiting for the encoder, in arrival order.
    pub(super) outbound: VecDeque<Out>,
}

/// A client publication held for the decoder (its own, or one before it).
#[derive(Debug)]
pub(super) struct In {
    /// The decoder CALL it waits for (`None`: ready).
    pub(super) call: Option<RequestId>,
    /// What to feed the router when its turn comes (the PUBLISH first).
    pub(super) msgs: Vec<Message>,
    /// The PUBLISH's request, answered with this code when decoding failed.
    pub(super) failed: Option<(RequestId, ReasonCode)>,
}

/// A delivery waiting for the encoder.
#[derive(Debug)]
pub(super) struct Out {
    /// The encoder CALL.
    pub(super) call: RequestId,
    /// `None` while waiting; then the payload, or `None` when it failed.
    pub(super) payload: Option<Option<Bytes>>,
    /// The MQTT topic.
    pub(super) topic: MqttString,
    /// How the publication matched the session.
    pub(super) matched: Matched,
    /// The publication.
    pub(super) publication: PublicationId,
    /// A retained event sent at SUBSCRIBE.
    pub(super) retained: bool,
    /// The publication's retain flag.
    pub(super) retain: bool,
}

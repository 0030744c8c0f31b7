//! Outgoing messages as a framing encodes them (permessage-deflate, a
//! per-message opcode): what the connection driver keeps beside the
//! outbox's front frames until they are written.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::proto::websocket::MAX_HEADER;

/// An outgoing message as a framing that encodes encoded it.
#[derive(Debug)]
pub(super) struct Encoded {
    /// The frame header.
    pub header: [u8; MAX_HEADER],
    /// Octets of `header` used.
    pub header_len: u8,
    /// The payload, when it is not the outbox frame's own octets.
    pub payload: Option<Bytes>,
}

/// The encoded front frames of a connection whose framing encodes; one
/// pointer (no queue at all) on the connections that do not, the many.
// Boxed on purpose: 8 bytes per held connection instead of a 32-byte
// `VecDeque` that almost none of them uses.
#[allow(clippy::box_collection)]
#[derive(Debug, Default)]
pub(super) struct EncodedQueue(Option<Box<VecDeque<Encoded>>>);

impl EncodedQueue {
    pub(super) fn get(&self, i: usize) -> Option<&Encoded> {
        self.0.as_ref()?.get(i)
    }

    pub(super) fn front(&self) -> Option<&Encoded> {
        self.get(0)
    }

    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    pub(super) fn push_back(&mut self, e: Encoded) {
        self.0.get_or_insert_with(Box::default).push_back(e);
    }

    pub(super) fn pop_front(&mut self) {
        if let Some(q) = &mut self.0 {
            q.pop_front();
        }
    }
}

//! Crossbar's `websocket-testee` worker: a WebSocket endpoint that echoes
//! every message back, with the kind it came with, for conformance testing
//! (Autobahn|Testsuite's `wstest -m fuzzingclient`). It runs on the same
//! connection driver and framing as WAMP connections (fragmentation,
//! control frames, closing, UTF-8 checks, permessage-deflate), so the
//! testsuite tests what WAMP clients get; only the handshake (no
//! subprotocol needed) and the echo differ.
//!
//! The testee speaks no WAMP and never reaches the router: its connections
//! use [`EchoHooks`] instead of the router's.

use bytes::Bytes;

use super::ConnectionHooks;
use crate::config::worker::TesteeWorker;
use crate::core::api::{LinkInfo, Refused};
use crate::core::outbox::{CloseReason, Outbox, OutboxRef};
use crate::proto::Serializer;

/// A testee connection's side: each message goes back out.
#[derive(Debug)]
pub struct EchoHooks {
    /// The echo queue.
    outbox: Option<OutboxRef>,
    /// Its bound in octets.
    limit: usize,
}

impl EchoHooks {
    /// Echo hooks whose queue holds at most `limit` octets (a client that
    /// sends faster than it reads is closed as a slow consumer past it).
    pub fn new(limit: usize) -> Self {
        EchoHooks {
            outbox: None,
            limit,
        }
    }
}

impl ConnectionHooks for EchoHooks {
    fn open(&mut self, _: LinkInfo, _: Serializer) -> Result<OutboxRef, Refused> {
        let outbox = Outbox::new_ref(self.limit);
        self.outbox = Some(outbox.clone());
        Ok(outbox)
    }

    fn frame(&mut self, data: &[u8]) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        let mut o = outbox.borrow_mut();
        if o.push(Bytes::copy_from_slice(data)).is_err() {
            o.close(CloseReason::SlowConsumer);
        }
    }

    fn closed(&mut self) {}
}

/// A testee worker's transport as a listener's config: a `websocket`
/// transport with the worker's options.
pub fn testee_transport(t: &TesteeWorker) -> crate::config::TransportConfig {
    use crate::config::{TransportConfig, TransportKind, WebSocketService};
    TransportConfig::new(
        t.transport_id.clone(),
        TransportKind::WebSocket(WebSocketService {
            options: t.options.clone(),
            ..WebSocketService::default()
        }),
        t.endpoint.clone(),
    )
}

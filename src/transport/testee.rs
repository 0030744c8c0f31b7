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

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::conn::Conn;
use super::websocket::{run_session, ws_framing};
use super::{ConnectionHooks, Stream, upgrade, with_timeout};
use crate::config::worker::TesteeWorker;
use crate::config::{TransportConfig, TransportKind, WebSocketOptions};
use crate::core::api::{FrontEnd, LinkInfo, Refused};
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

/// Serves one connection of a `websocket-testee` worker: any client (no
/// subprotocol needed, permessage-deflate as configured), and every message
/// echoed back with the kind it came with, through `hooks` (an echo).
pub(super) fn serve_testee<H: ConnectionHooks>(
    stream: Stream,
    peer: String,
    transport: Rc<TransportConfig>,
    hooks: H,
) -> impl Future<Output = ()> {
    let mut framing = match &transport.kind {
        TransportKind::WebSocket(ws) => ws_framing(&ws.options, usize::MAX),
        _ => ws_framing(&WebSocketOptions::default(), 0),
    };
    framing.set_echo();
    let conn = Conn::new(stream, hooks, framing);
    async move {
        let mut conn = conn;
        let config = Rc::clone(&transport);
        let TransportKind::WebSocket(ws) = &config.kind else {
            return;
        };
        let timeout = Duration::from_millis(ws.options.open_handshake_timeout_ms);
        let handshake = Box::pin(upgrade::handshake(
            &mut conn.sock,
            ws,
            &[],
            true,
            &peer,
            &transport.id,
        ));
        let (accepted, leftover) = match with_timeout(timeout, handshake).await {
            Some(Ok(done)) => done,
            _ => return,
        };
        let info = LinkInfo::new(transport, FrontEnd::WebSocket, peer);
        run_session(conn, info, &ws.options, &accepted, leftover).await;
    }
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

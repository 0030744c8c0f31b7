//! The server side of the WebSocket opening handshake, shared by the
//! `websocket` transport (which reads the upgrade request itself), the web
//! server's WebSocket paths (which route by path first) and the
//! `websocket-testee`: the subprotocol (a serializer enabled on the
//! service, in the client's order of preference), permessage-deflate as the
//! service's `options.compression` allows, and the 101 answer.

use std::future::{Future, poll_fn};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::conn::{self, Conn};
use super::socket::Socket;
use super::websocket::{negotiate_subprotocol, path_matches, run_session, ws_framing};
use super::{ConnectionHooks, Stream, with_timeout};
use crate::config::{TransportConfig, TransportKind, WebSocketOptions, WebSocketService};
use crate::core::api::{FrontEnd, LinkCookie, LinkInfo};
use crate::proto::Serializer;
use crate::proto::websocket::deflate::{Agreed, negotiate as negotiate_deflate};
use crate::proto::websocket::{self as wire};

/// An accepted upgrade: what was negotiated and the whole 101 answer.
#[derive(Debug)]
pub(super) struct Accepted {
    /// The subprotocol's serializer (JSON for the testee, which has none).
    pub serializer: Serializer,
    /// permessage-deflate, when agreed.
    pub deflate: Option<Agreed>,
    /// The 101 answer.
    pub answer: Vec<u8>,
    /// The tracking cookie, when the service tracks cookies ([`track_cookie`]).
    pub cookie: Option<LinkCookie>,
}

/// Accepts a checked upgrade request on a service offering `enabled`
/// serializers with `options` (compression): the negotiated serializer and
/// extension and the whole 101 answer. `no_subprotocol`: the testee, which
/// speaks no WAMP and takes any client.
///
/// # Errors
/// 400 when the client offers no subprotocol naming an enabled serializer
/// (the body lists the ones spoken here).
pub(super) fn accept(
    request: &wire::UpgradeRequest,
    enabled: &[Serializer],
    options: &WebSocketOptions,
    no_subprotocol: bool,
) -> Result<Accepted, wire::HttpRefusal> {
    let serializer = match negotiate_subprotocol(&request.protocols, enabled) {
        _ if no_subprotocol => None,
        Some(s) => Some(s),
        None => {
            let offered: Vec<&str> = enabled.iter().map(|s| s.ws_subprotocol()).collect();
            return Err(wire::HttpRefusal {
                status: 400,
                body: format!(
                    "This server only speaks the WebSocket subprotocols {}\n",
                    offered.join(", ")
                ),
            });
        }
    };
    let deflate = options.compression.as_ref().and_then(|params| {
        negotiate_deflate(request.extensions.iter().map(|v| v.as_bytes()), params)
    });
    let answer = wire::switching_protocols_with(
        &request.key,
        serializer.map_or("", |s| s.ws_subprotocol()),
        deflate.as_ref().map_or("", |(_, value)| value.as_str()),
    );
    Ok(Accepted {
        serializer: serializer.unwrap_or(Serializer::Json),
        deflate: deflate.map(|(agreed, _)| agreed),
        answer,
        cookie: None,
    })
}

/// Cookie tracking of an accepted upgrade on `service` (transport
/// `transport`), when the service has it (its `cookie` object): the
/// link's cookie, and a `Set-Cookie` field in the 101 answer when a new one
/// is issued ([`super::cookie::track`]).
pub(super) fn track_cookie(
    accepted: &mut Accepted,
    service: &WebSocketService,
    transport: &str,
    request: &wire::UpgradeRequest,
    tls: bool,
) {
    let Some(config) = &service.cookie else {
        return;
    };
    let presented = request
        .cookies
        .iter()
        .filter(|(n, _)| *n == config.name)
        .map(|(_, v)| v.as_str());
    let (cookie, set) = super::cookie::track(transport, config, presented, tls);
    if let Some(set) = set {
        // Before the blank line that ends the head.
        let at = accepted.answer.len() - 2;
        let field = format!("Set-Cookie: {set}\r\n");
        accepted.answer.splice(at..at, field.into_bytes());
    }
    accepted.cookie = Some(cookie);
}

/// Reads the upgrade request and answers it: 101 with the negotiated
/// subprotocol (and extension), or an HTTP error. Returns what was accepted
/// and whatever the client sent after the request head (its first frames).
pub(super) async fn handshake(
    sock: &mut Stream,
    service: &WebSocketService,
    enabled: &[Serializer],
    testee: bool,
    peer: &str,
    transport: &str,
) -> io::Result<(Accepted, Vec<u8>)> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let (request, head_len) = loop {
        if super::tls::looks_like_tls(&buf) {
            super::tls::refuse_tls_client(sock, peer, transport).await;
            return Err(io::Error::other("a TLS client on a plaintext port"));
        }
        match wire::parse_upgrade(&buf) {
            Ok(Some(done)) => break done,
            Ok(None) => {}
            Err(refusal) => {
                let _ = conn::write_all(sock, &refusal.to_response()).await;
                return Err(io::Error::other(format!(
                    "refused with HTTP {}",
                    refusal.status
                )));
            }
        }
        let len = buf.len();
        buf.resize(len + 1024, 0);
        let n = poll_fn(|cx| sock.poll_read(cx, &mut buf[len..])).await?;
        buf.truncate(len + n);
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    if let Some(path) = &service.options.path
        && !path_matches(&request.path, path)
    {
        let body = format!("no WebSocket endpoint at {}\n", request.path);
        let _ = conn::write_all(sock, &wire::http_error(404, &body)).await;
        return Err(io::Error::other("refused with HTTP 404"));
    }
    let mut accepted = match accept(&request, enabled, &service.options, testee) {
        Ok(done) => done,
        Err(refusal) => {
            let _ = conn::write_all(sock, &refusal.to_response()).await;
            return Err(io::Error::other("refused with HTTP 400 (no subprotocol)"));
        }
    };
    if !testee {
        track_cookie(&mut accepted, service, transport, &request, sock.is_tls());
    }
    conn::write_all(sock, &accepted.answer).await?;
    buf.drain(..head_len);
    Ok((accepted, buf))
}

/// Serves one connection of a `websocket-testee` worker: any client (no
/// subprotocol needed, permessage-deflate as configured), and every message
/// echoed back with the kind it came with, through `hooks` (an echo).
pub fn serve_testee<H: ConnectionHooks>(
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
        let handshake = Box::pin(handshake(
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

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod tests;

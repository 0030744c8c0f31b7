//! The server side of the WebSocket opening handshake, shared by the
//! `websocket` transport (which reads the upgrade request itself), the web
//! server's WebSocket paths (which route by path first) and the
//! `websocket-testee`: the subprotocol (a serializer enabled on the
//! service, in the client's order of preference), permessage-deflate as the
//! service's `options.compression` allows, and the 101 answer.

use std::future::poll_fn;
use std::io;

use super::Stream;
use super::conn;
use super::socket::Socket;
use crate::config::{WebSocketOptions, WebSocketService};
use crate::core::api::LinkCookie;
use crate::proto::Serializer;
use crate::proto::websocket::deflate::{Agreed, negotiate as negotiate_deflate};
use crate::proto::websocket::{self as wire};

/// Picks the subprotocol: the first value the client offers (in its order)
/// that names an enabled serializer.
pub(super) fn negotiate_subprotocol(
    offered: &[String],
    enabled: &[Serializer],
) -> Option<Serializer> {
    offered
        .iter()
        .filter_map(|p| Serializer::from_ws_subprotocol(p))
        .find(|s| enabled.contains(s))
}

/// Whether a request path matches the configured one (a trailing `/` is ignored).
pub(super) fn path_matches(request: &str, configured: &str) -> bool {
    fn norm(p: &str) -> &str {
        let t = p.trim_end_matches('/');
        if t.is_empty() { "/" } else { t }
    }
    norm(request) == norm(configured)
}

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
        // `require_websocket_subprotocol: false`: a client that offers none
        // speaks JSON, where the service speaks it (no header in the 101).
        None if !options.require_subprotocol
            && request.protocols.is_empty()
            && enabled.contains(&Serializer::Json) =>
        {
            None
        }
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

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod tests;

//! WAMP-over-WebSocket: the server side of one connection, on async-tungstenite.
//!
//! Opening handshake: the request path must match `WebSocketOptions::path`
//! (when set; otherwise HTTP 404). The subprotocol is the first of the
//! client's `Sec-WebSocket-Protocol` values, in the client's order, that names
//! a serializer enabled on the transport; when there is none (also when the
//! client offers no subprotocol at all) the request is refused with HTTP 400.
//! This is what Crossbar.io does by default: Autobahn's
//! `WampWebSocketServerProtocol.onConnect` walks `request.protocols` in order
//! and, with `STRICT_PROTOCOL_NEGOTIATION` (Crossbar's
//! `require_websocket_subprotocol`, default true), denies with 400 otherwise.
//!
//! Frames: the WAMP spec says that with `wamp.2.json` *all* WebSocket messages
//! MUST be text and with `wamp.2.msgpack` binary (CBOR: binary too). A message
//! of the other type is refused like Autobahn does (it raises a protocol error):
//! the connection is closed with 1003 "unsupported data" (RFC 6455 names this
//! very case), nothing reaches the router.
//!
//! Closing: a close requested through the outbox is sent with the reason's code
//! and text after everything queued before it; the peer's close reply is awaited
//! for [`CLOSE_TIMEOUT`]. Messages over the size limit close with 1009, other
//! WebSocket protocol errors with 1002, a refused connection with 1013.
//!
//! Auto-ping: after `auto_ping_interval_ms` without anything received, a ping is
//! sent; when nothing (no pong, no message) arrives within
//! `auto_ping_timeout_ms`, the connection is dropped without a close handshake,
//! as Autobahn's `onAutoPingTimeout` does (a peer that does not answer pings
//! will not answer a close frame either).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::{self, HeaderMap, HeaderValue, StatusCode};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use bytes::Bytes;
use futures::future::{FutureExt, select};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::{Sink, StreamExt};

use super::{CLOSE_TIMEOUT, ClosedOnDrop, ConnInfo, ConnectionHooks, StallGuard, with_timeout};
use crate::config::{TransportConfig, WebSocketOptions};
use crate::proto::Serializer;
use crate::router::outbox::OutboxRef;

/// tungstenite's read buffer per connection. Small, so that many idle
/// connections stay cheap (tungstenite allocates it eagerly).
pub const READ_BUFFER_SIZE: usize = 4 * 1024;
/// Bytes tungstenite gathers before writing to the socket; every batch from the
/// outbox ends with a flush, so this only bounds the syscalls within a batch.
pub const WRITE_BUFFER_SIZE: usize = 16 * 1024;
/// A close reason's text is limited to 123 octets (RFC 6455 section 5.5).
const MAX_CLOSE_REASON: usize = 123;
/// Payload of our auto-pings.
const PING_PAYLOAD: &[u8] = b"junction";

/// The WebSocket over one stream.
type Ws<S> = WebSocketStream<S>;

/// Why the connection's main phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer sent a close frame (tungstenite queued the reply).
    PeerClosed,
    /// The stream ended or failed without a close handshake.
    Gone,
    /// A message or frame over the size limit: close 1009.
    TooBig,
    /// A WebSocket protocol error (bad framing, bad UTF-8 text, ...): close 1002.
    ProtocolError,
    /// A text message on a binary serializer or vice versa: close 1003.
    WrongFrameType,
    /// The outbox's close was sent; await the peer's reply.
    CloseSent,
    /// No answer to an auto-ping in time: drop.
    PingTimeout,
}

/// The tungstenite configuration for a connection accepting messages up to
/// `max_message` octets in frames up to `max_frame` octets.
fn ws_config(max_message: usize, max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_frame.min(max_message)))
}

/// Picks the subprotocol: the first value the client offers (in its order,
/// over all `Sec-WebSocket-Protocol` headers) that names an enabled serializer.
pub fn negotiate_subprotocol(headers: &HeaderMap, enabled: &[Serializer]) -> Option<Serializer> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| Serializer::from_ws_subprotocol(p.trim()))
        .find(|s| enabled.contains(s))
}

/// Whether a request path matches the configured one (a trailing `/` is ignored).
fn path_matches(request: &str, configured: &str) -> bool {
    fn norm(p: &str) -> &str {
        let t = p.trim_end_matches('/');
        if t.is_empty() { "/" } else { t }
    }
    norm(request) == norm(configured)
}

/// A plain-text HTTP error reply for a refused handshake.
fn http_error(status: StatusCode, body: String) -> ErrorResponse {
    let mut resp = http::Response::new(Some(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves one WebSocket connection on `stream` (any byte stream: TCP, Unix, TLS).
/// See [`super::serve`] for the contract with `hooks`.
pub async fn serve_websocket<S, H>(
    stream: S,
    peer: String,
    transport: Rc<TransportConfig>,
    opts: &WebSocketOptions,
    max_message_size: usize,
    hooks: H,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    H: ConnectionHooks,
{
    let mut hooks = ClosedOnDrop(hooks);
    let max_message = opts.max_message_size.min(max_message_size);
    let config = ws_config(max_message, opts.max_frame_size);

    let chosen: Rc<Cell<Option<Serializer>>> = Rc::new(Cell::new(None));
    // The error type is tungstenite's (an HTTP response), not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = {
        let chosen = chosen.clone();
        let path = opts.path.clone();
        let enabled = transport.serializers.clone();
        move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
            if let Some(path) = &path
                && !path_matches(req.uri().path(), path)
            {
                return Err(http_error(
                    StatusCode::NOT_FOUND,
                    format!("no WebSocket endpoint at {}\n", req.uri().path()),
                ));
            }
            let Some(serializer) = negotiate_subprotocol(req.headers(), &enabled) else {
                let offered: Vec<&str> = enabled.iter().map(|s| s.ws_subprotocol()).collect();
                return Err(http_error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "This server only speaks the WebSocket subprotocols {}\n",
                        offered.join(", ")
                    ),
                ));
            };
            resp.headers_mut().insert(
                http::header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(serializer.ws_subprotocol()),
            );
            chosen.set(Some(serializer));
            Ok(resp)
        }
    };

    let handshake = async_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let timeout = Duration::from_millis(opts.open_handshake_timeout_ms);
    let ws = match with_timeout(timeout, handshake).await {
        Some(Ok(ws)) => ws,
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "websocket handshake failed");
            return;
        }
        None => {
            tracing::debug!(%peer, "websocket opening handshake timed out");
            return;
        }
    };
    let Some(serializer) = chosen.get() else {
        return; // The callback sets it before every successful handshake.
    };

    let info = ConnInfo {
        serializer,
        transport,
        protocol: "websocket",
        peer,
        max_outbound: None,
    };
    let outbox = match hooks.0.open(info) {
        Ok(outbox) => outbox,
        Err(refused) => {
            let ws = RefCell::new(ws);
            if send_close(&ws, CloseCode::Again, refused.0).await.is_ok() {
                await_close_reply(&ws).await;
            }
            return;
        }
    };

    let ws = RefCell::new(ws);
    let last_rx = Cell::new(Instant::now());
    let end = {
        let reader = pin!(read_loop(&ws, &mut hooks.0, &outbox, serializer, &last_rx));
        let writer = pin!(write_loop(&ws, &outbox, serializer));
        let pinger = pin!(ping_loop(
            &ws,
            &last_rx,
            Duration::from_millis(opts.auto_ping_interval_ms),
            Duration::from_millis(opts.auto_ping_timeout_ms),
        ));
        let rw = select(reader, writer).map(|e| e.factor_first().0);
        select(rw, pinger).await.factor_first().0
    };

    match end {
        End::PeerClosed => {
            // Send tungstenite's queued close reply; then dropping the stream ends TCP.
            let _ = with_timeout(CLOSE_TIMEOUT, ws_flush(&ws)).await;
        }
        End::CloseSent => await_close_reply(&ws).await,
        End::TooBig => fail(ws, CloseCode::Size, "message too big").await,
        End::ProtocolError => fail(ws, CloseCode::Protocol, "websocket protocol error").await,
        End::WrongFrameType => {
            let why = if serializer.is_text() {
                "wamp.2.json requires text messages"
            } else {
                "binary serializers require binary messages"
            };
            fail(ws, CloseCode::Unsupported, why).await;
        }
        End::Gone | End::PingTimeout => {}
    }
}

/// Waits until the sink can take a message, then queues it (no flush).
async fn ws_feed<S>(ws: &RefCell<Ws<S>>, msg: Message) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *ws.borrow_mut()).poll_ready(cx)).await?;
    Pin::new(&mut *ws.borrow_mut()).start_send(msg)
}

/// Writes out everything queued (messages, automatic pongs and close replies).
async fn ws_flush<S>(ws: &RefCell<Ws<S>>) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *ws.borrow_mut()).poll_flush(cx)).await
}

/// Queues and flushes a close frame.
async fn send_close<S>(ws: &RefCell<Ws<S>>, code: CloseCode, reason: &str) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(truncate_reason(reason)),
    };
    let sent = async {
        ws_feed(ws, Message::Close(Some(frame))).await?;
        ws_flush(ws).await
    };
    with_timeout(CLOSE_TIMEOUT, sent)
        .await
        .unwrap_or(Err(WsError::ConnectionClosed))
}

/// The longest prefix of `reason` that fits a close frame, cut at a char boundary.
fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// After we sent a close frame: reads (and discards) until the peer's close
/// reply or the end of the stream, for at most [`CLOSE_TIMEOUT`].
async fn await_close_reply<S>(ws: &RefCell<Ws<S>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let drain = async {
        while let Some(Ok(_)) = poll_fn(|cx| ws.borrow_mut().poll_next_unpin(cx)).await {}
    };
    let _ = with_timeout(CLOSE_TIMEOUT, drain).await;
}

/// Fails the connection after a read error: sends a close frame, shuts our side
/// down and discards what the peer still sends (the rest of an oversize message)
/// until it closes, so that the close frame is not lost to a TCP reset.
async fn fail<S>(ws: RefCell<Ws<S>>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if send_close(&ws, code, reason).await.is_err() {
        return;
    }
    let mut stream = ws.into_inner().into_inner();
    let linger = async {
        let _ = stream.close().await;
        let mut sink = [0u8; 4096];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = with_timeout(CLOSE_TIMEOUT, linger).await;
}

/// Hands every message from the peer to the router until the stream ends or breaks.
/// Once the outbox is closed, messages are read but no longer handed on.
async fn read_loop<S, H>(
    ws: &RefCell<Ws<S>>,
    hooks: &mut H,
    outbox: &OutboxRef,
    serializer: Serializer,
    last_rx: &Cell<Instant>,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: ConnectionHooks,
{
    loop {
        // The next read also writes out a pong tungstenite queued for a ping.
        let next = poll_fn(|cx| ws.borrow_mut().poll_next_unpin(cx)).await;
        last_rx.set(Instant::now());
        let data: Bytes = match next {
            None => return End::Gone,
            Some(Ok(Message::Text(t))) if serializer.is_text() => t.into(),
            Some(Ok(Message::Binary(b))) if !serializer.is_text() => b,
            Some(Ok(Message::Text(_) | Message::Binary(_))) => return End::WrongFrameType,
            Some(Ok(Message::Close(_))) => return End::PeerClosed,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Err(e)) => return classify(e),
        };
        if !outbox.borrow().is_closed() {
            hooks.frame(data);
        }
    }
}

/// Maps a tungstenite read error to how the connection ends.
fn classify(e: WsError) -> End {
    use async_tungstenite::tungstenite::error::ProtocolError;
    match e {
        WsError::Capacity(_) => End::TooBig,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => End::Gone,
        WsError::Protocol(_) | WsError::Utf8(_) => End::ProtocolError,
        _ => End::Gone,
    }
}

/// Drains the outbox into the socket, one flush per batch; sends the outbox's
/// close frame once everything queued before it is written.
async fn write_loop<S>(ws: &RefCell<Ws<S>>, outbox: &OutboxRef, serializer: Serializer) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let guard = StallGuard::new(outbox);
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    loop {
        poll_fn(|cx| outbox.borrow_mut().poll_ready(cx)).await;
        let close = {
            let mut o = outbox.borrow_mut();
            o.drain_into(&mut batch);
            o.close_reason().cloned()
        };
        while let Some(frame) = batch.pop_front() {
            let msg = if serializer.is_text() {
                match Utf8Bytes::try_from(frame) {
                    Ok(text) => Message::Text(text),
                    Err(_) => {
                        tracing::error!("dropping a JSON frame that is not UTF-8 (encoder bug)");
                        continue;
                    }
                }
            } else {
                Message::Binary(frame)
            };
            if !matches!(guard.write(ws_feed(ws, msg)).await, Some(Ok(()))) {
                return End::Gone;
            }
        }
        if let Some(reason) = close {
            return match send_close(ws, CloseCode::from(reason.ws_code()), reason.text()).await {
                Ok(()) => End::CloseSent,
                Err(_) => End::Gone,
            };
        }
        if !matches!(guard.write(ws_flush(ws)).await, Some(Ok(()))) {
            return End::Gone;
        }
    }
}

/// Sends a ping after `interval` without receiving anything; ends the
/// connection when nothing arrives within `timeout` after it. Never returns
/// when `interval` is zero; with a zero `timeout` it only pings.
async fn ping_loop<S>(
    ws: &RefCell<Ws<S>>,
    last_rx: &Cell<Instant>,
    interval: Duration,
    timeout: Duration,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if interval.is_zero() {
        return std::future::pending().await;
    }
    loop {
        let idle = last_rx.get().elapsed();
        if idle < interval {
            glommio::timer::Timer::new(interval - idle).await;
            continue;
        }
        let sent_at = Instant::now();
        let sent = async {
            ws_feed(ws, Message::Ping(Bytes::from_static(PING_PAYLOAD))).await?;
            ws_flush(ws).await
        };
        if sent.await.is_err() {
            return End::Gone;
        }
        if timeout.is_zero() {
            glommio::timer::Timer::new(interval).await;
            continue;
        }
        glommio::timer::Timer::new(timeout).await;
        if last_rx.get() < sent_at {
            tracing::debug!("websocket auto-ping timed out");
            return End::PingTimeout;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use async_tungstenite::tungstenite::client::IntoClientRequest;
    use async_tungstenite::tungstenite::handshake::HandshakeError;
    use async_tungstenite::tungstenite::{self as tung, Message, WebSocket};
    use bytes::Bytes;
    use rstest::rstest;

    use super::*;
    use crate::transport::testutil::{Behaviour, run_one, ws_transport};

    const ALL: &[Serializer] = &Serializer::ALL;

    /// Opens a WebSocket to `addr` + `path`, offering `protocols` (comma-separated; empty: none).
    fn connect<Sock: std::io::Read + std::io::Write>(
        sock: Sock,
        url: &str,
        protocols: &str,
    ) -> Result<(WebSocket<Sock>, tung::handshake::client::Response), tung::Error> {
        let mut req = url.into_client_request()?;
        if !protocols.is_empty() {
            req.headers_mut().insert(
                http::header::SEC_WEBSOCKET_PROTOCOL,
                protocols.parse().expect("header value"),
            );
        }
        tung::client(req, sock).map_err(|e| match e {
            HandshakeError::Failure(e) => e,
            HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
        })
    }

    fn tcp(addr: &str) -> TcpStream {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn ws(addr: &str, protocols: &str) -> WebSocket<TcpStream> {
        let (ws, _) = connect(tcp(addr), &format!("ws://{addr}/ws"), protocols).expect("handshake");
        ws
    }

    /// Reads until a close frame; returns its code and reason (and the messages before it).
    fn expect_close<Sock: std::io::Read + std::io::Write>(
        ws: &mut WebSocket<Sock>,
    ) -> (u16, String, Vec<Message>) {
        let mut before = Vec::new();
        loop {
            match ws.read().expect("read until close") {
                Message::Close(Some(f)) => return (f.code.into(), f.reason.to_string(), before),
                Message::Close(None) => return (1005, String::new(), before),
                m => before.push(m),
            }
        }
    }

    /// Completes the client side of a close handshake.
    fn finish<Sock: std::io::Read + std::io::Write>(mut ws: WebSocket<Sock>) {
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    }

    #[test]
    fn negotiate_walks_all_headers_in_client_order() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("mqtt, wamp.2.cbor"),
        );
        h.append(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("wamp.2.json"),
        );
        assert_eq!(negotiate_subprotocol(&h, ALL), Some(Serializer::Cbor));
        assert_eq!(
            negotiate_subprotocol(&h, &[Serializer::Json, Serializer::MsgPack]),
            Some(Serializer::Json)
        );
        assert_eq!(negotiate_subprotocol(&h, &[Serializer::MsgPack]), None);
        assert_eq!(negotiate_subprotocol(&HeaderMap::new(), ALL), None);
    }

    #[test]
    fn path_matching_ignores_trailing_slash_only() {
        assert!(path_matches("/ws", "/ws"));
        assert!(path_matches("/ws/", "/ws"));
        assert!(path_matches("/", "/"));
        assert!(!path_matches("/wss", "/ws"));
        assert!(!path_matches("/", "/ws"));
    }

    #[test]
    fn close_reason_is_cut_at_a_char_boundary() {
        let long = "é".repeat(100); // 200 octets
        let cut = truncate_reason(&long);
        assert_eq!(cut.len(), 122);
        assert_eq!(truncate_reason("short"), "short");
    }

    #[rstest]
    #[case::json("wamp.2.json", ALL, Serializer::Json)]
    #[case::msgpack_first("wamp.2.foo, wamp.2.msgpack, wamp.2.json", ALL, Serializer::MsgPack)]
    #[case::cbor_first("wamp.2.cbor,wamp.2.json", ALL, Serializer::Cbor)]
    #[case::skips_disabled("wamp.2.cbor, wamp.2.json", &[Serializer::Json], Serializer::Json)]
    fn negotiates_first_supported_subprotocol_and_echoes(
        #[case] offer: &'static str,
        #[case] enabled: &'static [Serializer],
        #[case] expected: Serializer,
    ) {
        let t = ws_transport(WebSocketOptions::default(), enabled);
        let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
            let (mut ws, resp) =
                connect(tcp(&addr), &format!("ws://{addr}/ws"), offer).expect("handshake");
            assert_eq!(
                resp.headers()
                    .get(http::header::SEC_WEBSOCKET_PROTOCOL)
                    .and_then(|v| v.to_str().ok()),
                Some(expected.ws_subprotocol())
            );
            let msg = if expected.is_text() {
                Message::text("[1,\"realm1\",{}]")
            } else {
                Message::binary(Bytes::from_static(b"\x93\x01\xa6realm1\x80"))
            };
            ws.send(msg.clone()).expect("send");
            assert_eq!(ws.read().expect("echo"), msg);
            finish(ws);
        });
        assert_eq!(out.opened, 1);
        assert_eq!(out.closed, 1);
        assert_eq!(out.frames.len(), 1);
        let (serializer, protocol, peer) = out.info.expect("opened");
        assert_eq!(serializer, expected);
        assert_eq!(protocol, "websocket");
        assert!(peer.starts_with("tcp4:127.0.0.1:"), "peer {peer}");
    }

    #[rstest]
    #[case::unsupported("wamp.2.cbor, wamp.2.msgpack")]
    #[case::none_offered("")]
    #[case::not_wamp("mqtt")]
    fn refuses_without_a_supported_subprotocol_with_400(#[case] offer: &'static str) {
        let t = ws_transport(WebSocketOptions::default(), &[Serializer::Json]);
        let (out, (status, body)) =
            run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
                match connect(tcp(&addr), &format!("ws://{addr}/ws"), offer) {
                    Err(tung::Error::Http(resp)) => (
                        resp.status().as_u16(),
                        resp.body()
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default(),
                    ),
                    other => panic!("expected an HTTP error, got {:?}", other.map(|_| ())),
                }
            });
        assert_eq!(status, 400);
        assert!(body.contains("wamp.2.json"), "body: {body}");
        assert_eq!((out.opened, out.closed), (0, 1));
    }

    #[test]
    fn wrong_path_is_404() {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, status) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            match connect(tcp(&addr), &format!("ws://{addr}/other"), "wamp.2.json") {
                Err(tung::Error::Http(resp)) => resp.status().as_u16(),
                other => panic!("expected an HTTP error, got {:?}", other.map(|_| ())),
            }
        });
        assert_eq!(status, 404);
        assert_eq!((out.opened, out.closed), (0, 1));
    }

    #[test]
    fn burst_of_frames_arrives_in_order() {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            let mut ws = ws(&addr, "wamp.2.json");
            ws.send(Message::text("burst")).expect("send");
            for i in 0..1000 {
                assert_eq!(
                    ws.read().expect("frame"),
                    Message::text(format!("frame {i}"))
                );
            }
            finish(ws);
        });
        assert_eq!(out.frames, vec![Bytes::from_static(b"burst")]);
        assert_eq!(out.closed, 1);
    }

    #[test]
    fn answers_pings_with_pongs() {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            let mut ws = ws(&addr, "wamp.2.json");
            ws.send(Message::Ping(Bytes::from_static(b"abc")))
                .expect("ping");
            assert_eq!(
                ws.read().expect("pong"),
                Message::Pong(Bytes::from_static(b"abc"))
            );
            // Still usable afterwards.
            ws.send(Message::text("[]")).expect("send");
            assert_eq!(ws.read().expect("echo"), Message::text("[]"));
            finish(ws);
        });
        assert_eq!(out.frames, vec![Bytes::from_static(b"[]")]);
        assert_eq!(out.closed, 1);
    }

    #[rstest]
    #[case::router_limit(1024, WebSocketOptions::default())]
    #[case::transport_limit(1 << 20, WebSocketOptions { max_message_size: 1024, ..WebSocketOptions::default() })]
    fn oversize_message_closes_with_1009(#[case] limit: usize, #[case] opts: WebSocketOptions) {
        let t = ws_transport(opts, ALL);
        let (out, (code, reason)) = run_one(t, limit, Behaviour::Echo, |addr| {
            let mut ws = ws(&addr, "wamp.2.msgpack");
            ws.send(Message::binary(vec![0x90u8; 1024]))
                .expect("send at the limit");
            assert_eq!(ws.read().expect("echo").len(), 1024);
            ws.send(Message::binary(vec![0x90u8; 4000]))
                .expect("send oversize");
            let (code, reason, _) = expect_close(&mut ws);
            finish(ws);
            (code, reason)
        });
        assert_eq!(code, 1009);
        assert_eq!(reason, "message too big");
        assert_eq!(
            out.frames.len(),
            1,
            "the oversize message never reaches the router"
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[rstest]
    #[case::binary_on_json("wamp.2.json", Message::binary(Bytes::from_static(b"[]")))]
    #[case::text_on_msgpack("wamp.2.msgpack", Message::text("[]"))]
    fn wrong_frame_type_closes_with_1003(#[case] offer: &'static str, #[case] msg: Message) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, code) = run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
            let mut ws = ws(&addr, offer);
            ws.send(msg).expect("send");
            let (code, _, _) = expect_close(&mut ws);
            finish(ws);
            code
        });
        assert_eq!(code, 1003);
        assert!(out.frames.is_empty());
        assert_eq!(out.closed, 1);
    }

    #[rstest]
    #[case::protocol_violation("close-me", 1002, "closing on request", 0)]
    #[case::normal("close-normal", 1000, "session closed", 1)]
    fn outbox_close_reason_reaches_the_client(
        #[case] command: &'static str,
        #[case] want_code: u16,
        #[case] want_reason: &'static str,
        #[case] frames_before: usize,
    ) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, (code, reason, before)) = run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
            let mut ws = ws(&addr, "wamp.2.json");
            ws.send(Message::text(command)).expect("send");
            let result = expect_close(&mut ws);
            finish(ws);
            result
        });
        assert_eq!(code, want_code);
        assert_eq!(reason, want_reason);
        assert_eq!(before.len(), frames_before);
        if frames_before == 1 {
            assert_eq!(before[0], Message::text("bye"));
        }
        assert_eq!((out.opened, out.closed), (1, 1));
        assert!(
            out.elapsed < Duration::from_millis(900),
            "the client's close reply ends the connection without waiting for the timeout ({:?})",
            out.elapsed
        );
    }

    #[test]
    fn slow_consumer_is_dropped_after_close_even_if_it_never_reads() {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            let mut ws = ws(&addr, "wamp.2.msgpack");
            ws.send(Message::binary(Bytes::from_static(b"flood")))
                .expect("send");
            std::thread::sleep(Duration::from_secs(4)); // never reads
        });
        assert!(
            out.elapsed < Duration::from_secs(3),
            "server gave up on the stuck write: {:?}",
            out.elapsed
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[test]
    fn refused_connection_closes_with_1013() {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, (code, reason)) = run_one(t, 1 << 20, Behaviour::Refuse, |addr| {
            let mut ws = ws(&addr, "wamp.2.cbor");
            let (code, reason, _) = expect_close(&mut ws);
            finish(ws);
            (code, reason)
        });
        assert_eq!((code, reason.as_str()), (1013, "server full"));
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[test]
    fn auto_ping_is_sent_when_idle() {
        let opts = WebSocketOptions {
            auto_ping_interval_ms: 50,
            auto_ping_timeout_ms: 500,
            ..WebSocketOptions::default()
        };
        let t = ws_transport(opts, ALL);
        let (out, pings) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            let mut ws = ws(&addr, "wamp.2.json");
            let mut pings = 0;
            // tungstenite answers each ping as it reads, so the server keeps the connection.
            while pings < 3 {
                if let Message::Ping(p) = ws.read().expect("ping") {
                    assert_eq!(&p[..], b"junction");
                    pings += 1;
                }
            }
            finish(ws);
            pings
        });
        assert_eq!(pings, 3);
        assert_eq!(out.closed, 1);
    }

    #[test]
    fn unanswered_auto_ping_drops_the_connection() {
        let opts = WebSocketOptions {
            auto_ping_interval_ms: 50,
            auto_ping_timeout_ms: 100,
            ..WebSocketOptions::default()
        };
        let t = ws_transport(opts, ALL);
        let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            let mut ws = ws(&addr, "wamp.2.json");
            std::thread::sleep(Duration::from_millis(1000)); // not reading: no pong
            let mut ended = false;
            for _ in 0..10 {
                match ws.read() {
                    Ok(Message::Ping(_)) => {}
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
            assert!(ended, "server dropped the connection");
        });
        assert!(
            out.elapsed < Duration::from_millis(800),
            "{:?}",
            out.elapsed
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[test]
    fn opening_handshake_times_out() {
        let opts = WebSocketOptions {
            open_handshake_timeout_ms: 100,
            ..WebSocketOptions::default()
        };
        let t = ws_transport(opts, ALL);
        let (out, n) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
            let mut s = tcp(&addr);
            let started = Instant::now();
            let n = s.read(&mut [0u8; 16]).unwrap_or(0);
            assert!(started.elapsed() < Duration::from_secs(2));
            n
        });
        assert_eq!(n, 0, "closed without a reply");
        assert_eq!((out.opened, out.closed), (0, 1));
    }

    #[test]
    fn works_over_a_unix_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.sock");
        let mut t = ws_transport(WebSocketOptions::default(), ALL);
        t.endpoint = crate::config::Endpoint::Unix { path: path.clone() };
        let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
            assert_eq!(addr, path.display().to_string());
            let sock = std::os::unix::net::UnixStream::connect(&addr).expect("connect");
            let (mut ws, _) = connect(sock, "ws://localhost/ws", "wamp.2.json").expect("handshake");
            ws.send(Message::text("[2]")).expect("send");
            assert_eq!(ws.read().expect("echo"), Message::text("[2]"));
            finish(ws);
        });
        assert_eq!(out.info.map(|i| i.2), Some("unix".to_owned()));
        assert_eq!(out.closed, 1);
    }
}

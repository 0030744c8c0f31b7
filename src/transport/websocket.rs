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

use super::{CLOSE_TIMEOUT, ClosedOnDrop, ConnInfo, ConnectionHooks, with_timeout};
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
            if let Some(path) = &path {
                if !path_matches(req.uri().path(), path) {
                    return Err(http_error(
                        StatusCode::NOT_FOUND,
                        format!("no WebSocket endpoint at {}\n", req.uri().path()),
                    ));
                }
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
            if ws_feed(ws, msg).await.is_err() {
                return End::Gone;
            }
        }
        if let Some(reason) = close {
            return match send_close(ws, CloseCode::from(reason.ws_code()), reason.text()).await {
                Ok(()) => End::CloseSent,
                Err(_) => End::Gone,
            };
        }
        if ws_flush(ws).await.is_err() {
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

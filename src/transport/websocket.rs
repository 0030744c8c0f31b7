//! WAMP-over-WebSocket: the opening handshake and the framing
//! ([`crate::proto::websocket`]) of one server-side connection; the connection
//! itself runs on the shared driver (`transport/conn.rs`).
//!
//! Opening handshake: the request path must match `WebSocketOptions::path`
//! (when set; otherwise HTTP 404). The subprotocol is the first of the
//! client's `Sec-WebSocket-Protocol` values, in the client's order, that names
//! a serializer enabled on the transport; when there is none (also when the
//! client offers no subprotocol at all) the request is refused with HTTP 400,
//! unless the service has `require_websocket_subprotocol: false`: then a
//! client that offers no subprotocol at all speaks JSON (as Crossbar assumes
//! `wamp.2.json`), and the 101 names none.
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
//! for [`CLOSE_TIMEOUT`](super::CLOSE_TIMEOUT). Messages over the size limit
//! close with 1009, text that is not UTF-8 with 1007, other WebSocket protocol
//! errors with 1002, a peer pinging faster than it reads with 1008, a refused
//! connection with 1013.
//!
//! Auto-ping: after `auto_ping_interval_ms` without anything received, a ping is
//! sent; when nothing (no pong, no message) arrives within
//! `auto_ping_timeout_ms`, the connection is dropped without a close handshake,
//! as Autobahn's `onAutoPingTimeout` does (a peer that does not answer pings
//! will not answer a close frame either).
//!
//! Memory: see `transport/conn.rs`; the handshake's buffers live in a boxed future
//! of their own, gone once it is done.

use std::borrow::Cow;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use std::collections::VecDeque;

use bytes::Bytes;

use super::compress::DeflateOut;
use super::conn::{AutoPing, Conn, Decoded, Encoded, Fail, Frame, Framing, MAX_HEADER};
use super::upgrade::{self, Accepted};
use super::{ConnectionHooks, Stream, with_timeout};
use crate::config::{TransportConfig, WebSocketOptions};
use crate::core::api::{FrontEnd, LinkInfo};
use crate::core::outbox::Frame as OutFrame;
use crate::proto::websocket::{self as wire, Decoder, Event, MessageKind, Opcode, Payload};

/// Control frames (pongs) waiting to be written; a peer that pings faster than
/// it reads is closed (1008).
const MAX_PENDING_CONTROL: usize = 16 * 1024;

/// The WebSocket framing of one connection.
pub(super) struct WsFraming {
    /// The frame decoder (it holds a fragmented message while it arrives).
    decoder: Decoder,
    /// Whether data messages are text (`wamp.2.json`) rather than binary.
    text: bool,
    /// What only some connections encode their messages with (boxed: the
    /// many WAMP connections without compression pay one pointer for it).
    out: Option<Box<WsOut>>,
}

/// The per-message encoding of some connections.
#[derive(Default)]
struct WsOut {
    /// permessage-deflate on what we send, when agreed.
    deflate: Option<DeflateOut>,
    /// The testee's echo: the kinds of the messages received and not yet
    /// echoed, oldest first (each goes back with the kind it came with);
    /// `None` on WAMP connections, whose messages have one kind.
    echo: Option<VecDeque<MessageKind>>,
}

impl WsFraming {
    /// Makes this the testee's framing: messages of either kind are taken
    /// and each is echoed with its own kind.
    pub(super) fn set_echo(&mut self) {
        self.out.get_or_insert_default().echo = Some(VecDeque::new());
    }

    /// The testee's echo queue, when this is the testee's framing.
    fn echo(&mut self) -> Option<&mut VecDeque<MessageKind>> {
        self.out.as_mut()?.echo.as_mut()
    }

    fn opcode(&self) -> Opcode {
        if self.text {
            Opcode::Text
        } else {
            Opcode::Binary
        }
    }

    /// Appends a control frame to `out`.
    fn control(opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
        let (hdr, n) = wire::frame_header(opcode, payload.len());
        out.extend_from_slice(&hdr[..n]);
        out.extend_from_slice(payload);
    }
}

impl Framing for WsFraming {
    const MAX_PENDING_CONTROL: usize = MAX_PENDING_CONTROL;

    fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, Fail> {
        let decoded = self
            .decoder
            .decode(buf)
            .map_err(|e| Fail(e.close_code(), fail_reason(&e)))?;
        let (event, consumed) = match decoded {
            wire::Decoded::Incomplete { needed } => return Ok(Decoded::Incomplete { needed }),
            wire::Decoded::Frame { event, consumed } => (event, consumed),
        };
        let frame = match event {
            None => None,
            Some(Event::Message(kind, payload)) if self.echo().is_some() => {
                if let Some(kinds) = self.echo() {
                    kinds.push_back(kind);
                }
                Some(Frame::Message(match payload {
                    Payload::Borrowed(b) => Cow::Borrowed(b),
                    Payload::Owned(v) => Cow::Owned(v),
                }))
            }
            Some(Event::Message(kind, payload)) => {
                if (kind == MessageKind::Text) != self.text {
                    let why = if self.text {
                        "wamp.2.json requires text messages"
                    } else {
                        "binary serializers require binary messages"
                    };
                    return Err(Fail(1003, why));
                }
                Some(Frame::Message(match payload {
                    Payload::Borrowed(b) => Cow::Borrowed(b),
                    Payload::Owned(v) => Cow::Owned(v),
                }))
            }
            Some(Event::Ping(payload)) => Some(Frame::Ping(payload)),
            Some(Event::Pong(_)) => Some(Frame::Pong),
            Some(Event::Close(close)) => Some(Frame::Close(close.map(|(c, _)| c))),
        };
        Ok(Decoded::Frame { frame, consumed })
    }

    fn data_header(&self, len: usize) -> ([u8; MAX_HEADER], usize) {
        wire::frame_header(self.opcode(), len)
    }

    fn encodes(&self) -> bool {
        self.out.is_some()
    }

    fn encode(&mut self, frame: &OutFrame) -> Encoded {
        let own = self.opcode();
        let (opcode, payload) = match self.out.as_deref_mut() {
            None => (own, None),
            Some(out) => {
                let opcode = match out.echo.as_mut().map(VecDeque::pop_front) {
                    None => own,
                    Some(Some(MessageKind::Text)) => Opcode::Text,
                    Some(_) => Opcode::Binary,
                };
                (opcode, out.deflate.as_mut().and_then(|d| d.compress(frame)))
            }
        };
        let (mut header, n) =
            wire::frame_header(opcode, payload.as_ref().map_or(frame.len(), Bytes::len));
        if payload.is_some() {
            header[0] |= 0x40; // RSV1: a compressed message
        }
        Encoded {
            header,
            header_len: n as u8,
            payload,
        }
    }

    fn pong(&self, payload: &[u8], out: &mut Vec<u8>) {
        Self::control(Opcode::Pong, payload, out);
    }

    fn ping(&self, payload: &[u8], out: &mut Vec<u8>) {
        Self::control(Opcode::Ping, payload, out);
    }

    fn close_frame(&self, code: u16, reason: &str) -> Option<Vec<u8>> {
        Some(wire::close_frame(code, reason))
    }
}

/// Serves one WebSocket connection on `stream` (a `websocket` transport: the
/// whole connection is the upgrade request and then the WebSocket). See
/// [`super::serve`] for the contract with `hooks`.
///
/// Everything a held connection keeps is in one boxed `Conn`; the returned
/// future holds little more than that box, and the handshake's and closing
/// phase's futures are boxed only while they run.
pub fn serve_websocket<H: ConnectionHooks>(
    stream: Stream,
    peer: String,
    transport: Rc<TransportConfig>,
    max_message_size: usize,
    hooks: H,
) -> impl Future<Output = ()> {
    let framing = match transport.kind.served_websocket() {
        Some(ws) => ws_framing(&ws.options, max_message_size),
        None => ws_framing(&WebSocketOptions::default(), 0), // not ours: `opening` ends at once
    };
    // The opening phase runs in a boxed future of its own; the future a held
    // connection's task keeps holds only that box's place and the main phase.
    let opening = Box::pin(opening(Conn::new(stream, hooks, framing), peer, transport));
    async move {
        // `let else`, not `if let`: the opening's result is not kept while
        // the session runs (only its parts, moved into `serve`).
        let Some((conn, leftover)) = opening.await else {
            return;
        };
        conn.serve(leftover).await;
    }
}

/// The framing of a connection on a service with `opts`, under the router's
/// `max_message_size` (the smaller limit applies). Text or binary is set
/// once the subprotocol is known.
pub(super) fn ws_framing(opts: &WebSocketOptions, max_message_size: usize) -> WsFraming {
    let max_message = opts.max_message_size.min(max_message_size);
    WsFraming {
        decoder: Decoder::new(max_message, opts.max_frame_size.min(max_message)),
        text: true,
        out: None,
    }
}

/// The opening phase: handshake and `open`. Returns the opened connection and
/// what arrived after the upgrade request; `None` when it ended there.
async fn opening<H: ConnectionHooks>(
    mut conn: Box<Conn<H, WsFraming>>,
    peer: String,
    transport: Rc<TransportConfig>,
) -> Option<(Box<Conn<H, WsFraming>>, Vec<u8>)> {
    let config = Rc::clone(&transport);
    let ws = config.kind.served_websocket()?;
    let opts = &ws.options;
    // The handshake's buffers live in their own (boxed) future, gone once it is done.
    let timeout = Duration::from_millis(opts.open_handshake_timeout_ms);
    let handshake = Box::pin(upgrade::handshake(
        &mut conn.sock,
        ws,
        &transport.serializers,
        false,
        &peer,
        &transport.id,
    ));
    let (accepted, leftover) = match with_timeout(timeout, handshake).await {
        Some(Ok(done)) => done,
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "websocket handshake failed");
            return None;
        }
        None => {
            tracing::debug!(%peer, "websocket opening handshake timed out");
            return None;
        }
    };
    let info = LinkInfo::new(transport, FrontEnd::WebSocket, peer);
    let conn = open_session(conn, info, opts, &accepted).await?;
    Some((conn, leftover))
}

/// The WebSocket session after the 101 answer: `open` with `info`, then
/// frames both ways (`leftover`: what the client sent after its upgrade
/// request), then the closing phase. The web server's WebSocket paths and
/// the testee run their sessions with it.
pub(super) async fn run_session<H: ConnectionHooks>(
    conn: Box<Conn<H, WsFraming>>,
    info: LinkInfo,
    opts: &WebSocketOptions,
    accepted: &Accepted,
    leftover: Vec<u8>,
) {
    if let Some(conn) = Box::pin(open_session(conn, info, opts, accepted)).await {
        conn.serve(leftover).await;
    }
}

/// Sets the connection up for what was negotiated (text or binary,
/// permessage-deflate, auto-ping) and opens its link; `None` when the router
/// refused it (answered with close 1013).
pub(super) async fn open_session<H: ConnectionHooks>(
    mut conn: Box<Conn<H, WsFraming>>,
    info: LinkInfo,
    opts: &WebSocketOptions,
    accepted: &Accepted,
) -> Option<Box<Conn<H, WsFraming>>> {
    let serializer = accepted.serializer;
    conn.framing.text = serializer.is_text();
    if let Some(agreed) = accepted.deflate {
        conn.framing
            .decoder
            .set_deflate(agreed.client_no_context_takeover);
        conn.framing.out.get_or_insert_default().deflate = Some(DeflateOut::new(agreed));
    }
    conn.ping = AutoPing::new(
        Duration::from_millis(opts.auto_ping_interval_ms),
        Duration::from_millis(opts.auto_ping_timeout_ms),
    );
    // The TLS handshake's results (client certificate, channel bindings).
    let mut info = info;
    info.set_tls(conn.sock.take_tls_info());
    info.set_cookie(accepted.cookie.clone().map(Box::new));
    if let Err(refused) = conn.open(info, serializer) {
        Box::pin(conn.refuse(wire::close_frame(1013, refused.0))).await;
        return None;
    }
    Some(conn)
}

/// The close reason sent for a decoding error.
fn fail_reason(e: &wire::WsError) -> &'static str {
    match e {
        wire::WsError::TooBig => "message too big",
        wire::WsError::InvalidUtf8 => "invalid UTF-8 in a text message",
        wire::WsError::Protocol(_) => "websocket protocol error",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use async_tungstenite::tungstenite::client::IntoClientRequest;
    use async_tungstenite::tungstenite::handshake::HandshakeError;
    use async_tungstenite::tungstenite::http;
    use async_tungstenite::tungstenite::{self as tung, Message, WebSocket};
    use bytes::Bytes;
    use rstest::rstest;

    use super::*;
    use crate::proto::Serializer;
    use crate::transport::testutil::{Behaviour, Io, run_one, run_one_on, ws_transport};

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

    /// `require_websocket_subprotocol: false`: a client that offers no
    /// subprotocol is served JSON (no header in the answer); one that offers
    /// only unknown ones is still refused.
    #[rstest]
    #[case::none_offered("", Some(Serializer::Json))]
    #[case::unsupported("wamp.2.cbor", None)]
    #[case::not_wamp("mqtt", None)]
    fn without_required_subprotocol_a_client_offering_none_speaks_json(
        #[case] offer: &'static str,
        #[case] expected: Option<Serializer>,
    ) {
        let options = WebSocketOptions {
            require_subprotocol: false,
            ..WebSocketOptions::default()
        };
        let t = ws_transport(options, &[Serializer::Json, Serializer::MsgPack]);
        let (out, answered) = run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
            match connect(tcp(&addr), &format!("ws://{addr}/ws"), offer) {
                Ok((mut ws, resp)) => {
                    assert_eq!(
                        resp.headers().get(http::header::SEC_WEBSOCKET_PROTOCOL),
                        None
                    );
                    let msg = Message::text("[1,\"realm1\",{}]");
                    ws.send(msg.clone()).expect("send");
                    assert_eq!(ws.read().expect("echo"), msg);
                    finish(ws);
                    101
                }
                Err(tung::Error::Http(resp)) => resp.status().as_u16(),
                Err(e) => panic!("expected a 101 or an HTTP error, got {e}"),
            }
        });
        match expected {
            Some(serializer) => {
                assert_eq!(answered, 101);
                assert_eq!(out.info.expect("opened").0, serializer);
                assert_eq!(out.frames.len(), 1);
            }
            None => {
                assert_eq!(answered, 400);
                assert_eq!(out.opened, 0);
            }
        }
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

    #[rstest]
    fn burst_of_frames_arrives_in_order(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, |addr| {
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

    #[rstest]
    fn answers_pings_with_pongs(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, |addr| {
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
    fn oversize_message_closes_with_1009(
        #[case] limit: usize,
        #[case] opts: WebSocketOptions,
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let t = ws_transport(opts, ALL);
        let (out, (code, reason)) = run_one_on(io, t, limit, Behaviour::Echo, |addr| {
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
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, (code, reason, before)) =
            run_one_on(io, t, 1 << 20, Behaviour::Echo, move |addr| {
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

    #[rstest]
    fn slow_consumer_is_dropped_after_close_even_if_it_never_reads(
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, |addr| {
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

    #[rstest]
    fn auto_ping_is_sent_when_idle(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let opts = WebSocketOptions {
            auto_ping_interval_ms: 50,
            auto_ping_timeout_ms: 500,
            ..WebSocketOptions::default()
        };
        let t = ws_transport(opts, ALL);
        let (out, pings) = run_one_on(io, t, 1 << 20, Behaviour::Echo, |addr| {
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

    #[rstest]
    fn works_over_a_unix_socket(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ws.sock");
        let mut t = ws_transport(WebSocketOptions::default(), ALL);
        t.endpoint = crate::config::Endpoint::Unix { path: path.clone() };
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, move |addr| {
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

    /// A client frame: FIN as given, masked with a fixed key.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// A raw client: does the handshake by hand and returns the socket.
    fn raw_ws(addr: &str, protocol: &str) -> TcpStream {
        raw_ws_with_first_frames(addr, protocol, &[])
    }

    /// [`raw_ws`], sending `frames` in the same write as the upgrade request.
    fn raw_ws_with_first_frames(addr: &str, protocol: &str, frames: &[u8]) -> TcpStream {
        use std::io::Write;
        let mut s = tcp(addr);
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        );
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(frames);
        s.write_all(&bytes).expect("request");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("response head");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).expect("ascii head");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        s
    }

    /// Reads one server frame: (opcode, payload). Server frames are unmasked.
    fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).expect("frame header");
        assert_eq!(h[0] & 0x80, 0x80, "FIN set");
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7F {
            126 => {
                let mut l = [0u8; 2];
                s.read_exact(&mut l).expect("len16");
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                s.read_exact(&mut l).expect("len64");
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).expect("payload");
        (h[0] & 0x0F, payload)
    }

    #[rstest]
    fn fragments_with_a_ping_between_them_make_one_message(
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        use std::io::Write;
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, |addr| {
            let mut s = raw_ws(&addr, "wamp.2.json");
            let mut bytes = client_frame(false, 1, b"[1,\"re");
            bytes.extend(client_frame(true, 9, b"p"));
            bytes.extend(client_frame(false, 0, b"alm1\","));
            bytes.extend(client_frame(true, 0, b"{}]"));
            // Byte by byte: every split point of every frame.
            for b in bytes {
                s.write_all(&[b]).expect("write");
            }
            assert_eq!(read_frame(&mut s), (10, b"p".to_vec()), "pong first");
            assert_eq!(read_frame(&mut s), (1, b"[1,\"realm1\",{}]".to_vec()));
            s.write_all(&client_frame(true, 8, &1000u16.to_be_bytes()))
                .expect("close");
            assert_eq!(read_frame(&mut s), (8, 1000u16.to_be_bytes().to_vec()));
        });
        assert_eq!(out.frames, vec![Bytes::from_static(b"[1,\"realm1\",{}]")]);
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[rstest]
    fn frames_sent_with_the_upgrade_request_are_not_lost(
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, |addr| {
            use std::io::Write;
            let mut first = client_frame(true, 1, b"[1,\"realm1\",{}]");
            first.extend(client_frame(false, 1, b"[2,"));
            let mut s = raw_ws_with_first_frames(&addr, "wamp.2.json", &first);
            assert_eq!(read_frame(&mut s), (1, b"[1,\"realm1\",{}]".to_vec()));
            // The fragment that came with the request is completed afterwards.
            s.write_all(&client_frame(true, 0, b"3]")).expect("write");
            assert_eq!(read_frame(&mut s), (1, b"[2,3]".to_vec()));
            s.write_all(&client_frame(true, 8, &1000u16.to_be_bytes()))
                .expect("close");
            assert_eq!(read_frame(&mut s), (8, 1000u16.to_be_bytes().to_vec()));
        });
        assert_eq!(
            out.frames,
            vec![
                Bytes::from_static(b"[1,\"realm1\",{}]"),
                Bytes::from_static(b"[2,3]")
            ]
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[rstest]
    fn pipelined_frames_and_large_messages_round_trip(#[values(Io::Uring, Io::Readiness)] io: Io) {
        use std::io::Write;
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let expected = big.clone();
        let (out, ()) = run_one_on(io, t, 1 << 20, Behaviour::Echo, move |addr| {
            let mut s = raw_ws(&addr, "wamp.2.msgpack");
            // 300 small frames and one 700 kB frame in one write, after the handshake.
            let mut bytes = Vec::new();
            for i in 0..300u32 {
                bytes.extend(client_frame(true, 2, &i.to_be_bytes()));
            }
            bytes.extend(client_frame(true, 2, &big));
            s.write_all(&bytes).expect("write");
            for i in 0..300u32 {
                assert_eq!(read_frame(&mut s), (2, i.to_be_bytes().to_vec()));
            }
            assert_eq!(read_frame(&mut s), (2, big));
            s.write_all(&client_frame(true, 8, &[])).expect("close");
            assert_eq!(read_frame(&mut s), (8, 1000u16.to_be_bytes().to_vec()));
        });
        assert_eq!(out.frames.len(), 301);
        assert_eq!(out.frames[300], Bytes::from(expected));
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[rstest]
    #[case::bad_utf8(client_frame(true, 1, b"[\xff]"), 1007)]
    #[case::unmasked(vec![0x81, 0x02, b'[', b']'], 1002)]
    #[case::reserved_bits(vec![0xC1, 0x80, 0, 0, 0, 0], 1002)]
    #[case::continuation_first(client_frame(true, 0, b"[]"), 1002)]
    fn broken_frames_fail_the_connection(
        #[case] frame: Vec<u8>,
        #[case] code: u16,
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        use std::io::Write;
        let t = ws_transport(WebSocketOptions::default(), ALL);
        let (out, got) = run_one_on(io, t, 1 << 20, Behaviour::Echo, move |addr| {
            let mut s = raw_ws(&addr, "wamp.2.json");
            s.write_all(&frame).expect("write");
            let (op, payload) = read_frame(&mut s);
            assert_eq!(op, 8, "a close frame");
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            assert!(rest.is_empty(), "nothing after the close frame");
            u16::from_be_bytes([payload[0], payload[1]])
        });
        assert_eq!(got, code);
        assert!(out.frames.is_empty());
        assert_eq!((out.opened, out.closed), (1, 1));
    }
}

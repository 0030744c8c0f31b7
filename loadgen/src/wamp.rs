//! A minimal WAMP client connection over RawSocket or WebSocket, split into a
//! [`WampReader`] and a [`WampWriter`] so one task can publish while another
//! drains, or one task can do both ([`WampConn::next`]).
//!
//! Writes are batched: [`WampWriter::feed`] encodes into a buffer (RawSocket)
//! or tungstenite's write buffer (WebSocket), [`WampWriter::flush`] puts it on
//! the wire. RawSocket PINGs seen by the reader are queued and answered by the
//! writer's next flush; WebSocket pings are answered by tungstenite itself.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use anyhow::{Context, bail};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Message as WsMsg, Utf8Bytes};
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use bytes::{Bytes, BytesMut};
use futures::future::FutureExt;
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::{SinkExt, StreamExt};
use junction::proto::rawsocket::{self as rs, FrameKind, ServerReply};
use junction::proto::{Dict, Hello, Message, Serializer, Value};

use crate::net::{self, Stream};
use crate::url::{Proto, Target};

/// The largest message we accept and announce (RawSocket), 16 MiB.
const MAX_LEN: usize = 16 * 1024 * 1024;
/// RawSocket: write out once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;
/// Bytes read per read call.
const READ_CHUNK: usize = 32 * 1024;
/// Messages a connection handles before it lets the executor's other tasks
/// run: a socket that always has data would otherwise never yield.
pub const FAIR_SHARE: u32 = 32;

/// PONG payloads the reader saw and the writer still has to send.
type Pongs = Rc<RefCell<Vec<Bytes>>>;

/// The writing half.
pub struct WampWriter {
    sink: Sink,
    ser: Serializer,
    buf: BytesMut,
    pongs: Pongs,
    ws_pending: bool,
    next_request: u64,
}

enum Sink {
    Raw(WriteHalf<Stream>),
    Ws(WebSocketSender<Stream>),
}

/// The reading half.
pub struct WampReader {
    source: Source,
    ser: Serializer,
}

enum Source {
    Raw {
        half: ReadHalf<Stream>,
        buf: BytesMut,
        pongs: Pongs,
    },
    Ws(WebSocketReceiver<Stream>),
}

/// A joined WAMP session.
pub struct WampConn {
    /// The reading half.
    pub reader: WampReader,
    /// The writing half.
    pub writer: WampWriter,
    /// The session id from WELCOME.
    pub session: u64,
    /// Messages since the last yield.
    streak: u32,
}

impl WampWriter {
    /// A fresh request id (1, 2, ...).
    pub fn request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// Queues `msg`; it goes out at the next [`flush`](Self::flush) at the latest.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn feed(&mut self, msg: &Message) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Raw(_) => {
                let start = self.buf.len();
                self.buf.extend_from_slice(&[0; rs::HEADER_LEN]);
                self.ser.encode_into(msg, &mut self.buf);
                let len = self.buf.len() - start - rs::HEADER_LEN;
                let head = rs::encode_header(FrameKind::Message, len)?;
                self.buf[start..start + rs::HEADER_LEN].copy_from_slice(&head);
                if self.buf.len() >= FLUSH_AT {
                    self.flush().await?;
                }
            }
            Sink::Ws(sink) => {
                let mut b = BytesMut::with_capacity(128);
                self.ser.encode_into(msg, &mut b);
                let m = if self.ser.is_text() {
                    WsMsg::Text(Utf8Bytes::try_from(b.freeze())?)
                } else {
                    WsMsg::Binary(b.freeze())
                };
                sink.feed(m).await?;
                self.ws_pending = true;
            }
        }
        Ok(())
    }

    /// Whether anything waits for a flush.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || self.ws_pending || !self.pongs.borrow().is_empty()
    }

    /// Writes out everything queued (and pending PONGs).
    ///
    /// # Errors
    /// The connection failed.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Raw(half) => {
                for p in self.pongs.borrow_mut().drain(..) {
                    self.buf
                        .extend_from_slice(&rs::encode_header(FrameKind::Pong, p.len())?);
                    self.buf.extend_from_slice(&p);
                }
                if !self.buf.is_empty() {
                    half.write_all(&self.buf).await?;
                    self.buf.clear();
                }
            }
            Sink::Ws(sink) => {
                sink.flush().await?;
                self.ws_pending = false;
            }
        }
        Ok(())
    }

    /// Feeds and flushes one message.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn send(&mut self, msg: &Message) -> anyhow::Result<()> {
        self.feed(msg).await?;
        self.flush().await
    }
}

impl WampReader {
    /// The serializer in use.
    pub fn serializer(&self) -> Serializer {
        self.ser
    }

    /// Decodes one message's bytes.
    ///
    /// # Errors
    /// Bytes that are not a valid WAMP message.
    pub fn decode(&self, b: &[u8]) -> anyhow::Result<Message> {
        Ok(self.ser.decode(b)?)
    }

    /// The next message; `None` when the peer closed the connection.
    ///
    /// # Errors
    /// A framing or decoding error, or the connection failed.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Message>> {
        match self.recv_raw().await? {
            Some(b) => Ok(Some(self.decode(&b)?)),
            None => Ok(None),
        }
    }

    /// The bytes of a message already received and buffered, without waiting.
    ///
    /// # Errors
    /// A framing error, or the connection failed.
    pub fn try_recv_raw(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            match &mut self.source {
                Source::Raw { buf, pongs, .. } => match rs::decode_frame(buf, MAX_LEN)? {
                    None => return Ok(None),
                    Some((FrameKind::Message, b)) => return Ok(Some(b)),
                    Some((FrameKind::Ping, p)) => pongs.borrow_mut().push(p),
                    Some((FrameKind::Pong, _)) => {}
                },
                Source::Ws(s) => match s.next().now_or_never() {
                    None => return Ok(None),
                    Some(m) => {
                        if let Some(b) = ws_data(m)? {
                            return Ok(Some(b));
                        }
                    }
                },
            }
        }
    }

    /// The bytes of the next message; `None` when the peer closed the connection.
    ///
    /// # Errors
    /// A framing error, or the connection failed.
    pub async fn recv_raw(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            // WebSocket: tungstenite buffers itself; polling it twice per
            // message (try, then await) would only cost time.
            if matches!(self.source, Source::Raw { .. }) {
                if let Some(b) = self.try_recv_raw()? {
                    return Ok(Some(b));
                }
            }
            match &mut self.source {
                Source::Raw { half, buf, .. } => {
                    glommio::yield_if_needed().await;
                    let old = buf.len();
                    buf.resize(old + READ_CHUNK, 0);
                    let n = half.read(&mut buf[old..]).await;
                    buf.truncate(old + *n.as_ref().unwrap_or(&0));
                    if n? == 0 {
                        return Ok(None);
                    }
                }
                Source::Ws(s) => {
                    glommio::yield_if_needed().await;
                    let m = s.next().await;
                    if m.is_none() {
                        return Ok(None);
                    }
                    if let Some(b) = ws_data(m)? {
                        return Ok(Some(b));
                    }
                }
            }
        }
    }
}

/// The payload of a WebSocket data message; `None` for control frames.
fn ws_data(
    m: Option<Result<WsMsg, async_tungstenite::tungstenite::Error>>,
) -> anyhow::Result<Option<Bytes>> {
    match m {
        None => bail!("connection closed"),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(WsMsg::Binary(b))) => Ok(Some(b)),
        Some(Ok(WsMsg::Text(t))) => Ok(Some(Bytes::from(t))),
        Some(Ok(WsMsg::Close(_))) => bail!("connection closed by peer"),
        Some(Ok(_)) => Ok(None),
    }
}

/// An ERROR's URI and, when present, its first argument (the usual message).
pub fn error_text(e: &junction::proto::Error) -> String {
    match e.payload.args.as_ref().and_then(|a| a.first()) {
        Some(Value::Str(s)) => format!("{} ({s})", e.error),
        _ => e.error.clone(),
    }
}

impl WampConn {
    /// Connects, opens the transport and joins `realm`.
    ///
    /// # Errors
    /// Connection, transport handshake or session (ABORT) failure.
    pub async fn connect(
        target: &Target,
        ser: Serializer,
        realm: &str,
        source: Option<IpAddr>,
    ) -> anyhow::Result<WampConn> {
        let stream = net::connect(&target.endpoint, source)
            .await
            .context("connect")?;
        let (reader, writer) = match &target.proto {
            Proto::RawSocket => raw_handshake(stream, ser).await?,
            Proto::Ws { request_url } => ws_handshake(stream, ser, request_url).await?,
            Proto::Mqtt => bail!("not a WAMP URL"),
        };
        let mut conn = WampConn {
            reader,
            writer,
            session: 0,
            streak: 0,
        };
        let roles = Dict::new()
            .with("publisher", Dict::new())
            .with("subscriber", Dict::new())
            .with("caller", Dict::new())
            .with("callee", Dict::new());
        let hello = Message::Hello(Hello {
            realm: realm.to_owned(),
            details: Dict::new()
                .with("roles", roles)
                .with("agent", Value::from("junction-loadgen")),
        });
        conn.writer.send(&hello).await?;
        match conn.next().await? {
            Some(Message::Welcome(w)) => conn.session = w.session.get(),
            Some(Message::Abort(a)) => bail!("session refused: ABORT {}", a.reason),
            Some(m) => bail!("expected WELCOME, got {}", m.name()),
            None => bail!("connection closed before WELCOME"),
        }
        Ok(conn)
    }

    /// The next message, flushing pending writes before it waits.
    ///
    /// # Errors
    /// As [`WampReader::recv`] and [`WampWriter::flush`].
    pub async fn next(&mut self) -> anyhow::Result<Option<Message>> {
        match self.next_raw().await? {
            Some(b) => Ok(Some(self.reader.decode(&b)?)),
            None => Ok(None),
        }
    }

    /// The bytes of the next message, flushing pending writes before it waits.
    ///
    /// # Errors
    /// As [`WampReader::recv_raw`] and [`WampWriter::flush`].
    pub async fn next_raw(&mut self) -> anyhow::Result<Option<Bytes>> {
        self.streak += 1;
        if self.streak >= FAIR_SHARE {
            self.streak = 0;
            futures_lite::future::yield_now().await;
        }
        if matches!(self.reader.source, Source::Raw { .. }) {
            if let Some(b) = self.reader.try_recv_raw()? {
                return Ok(Some(b));
            }
        }
        if self.writer.has_pending() {
            self.writer.flush().await?;
        }
        self.reader.recv_raw().await
    }
}

async fn raw_handshake(
    mut stream: Stream,
    ser: Serializer,
) -> anyhow::Result<(WampReader, WampWriter)> {
    stream
        .write_all(&rs::client_handshake(ser.rawsocket_id(), MAX_LEN))
        .await
        .context("RawSocket handshake write")?;
    let mut reply = [0u8; 4];
    stream
        .read_exact(&mut reply)
        .await
        .context("RawSocket handshake read")?;
    match rs::parse_server_handshake(reply)? {
        ServerReply::Accepted { serializer_id, .. } if serializer_id == ser.rawsocket_id() => {}
        ServerReply::Accepted { serializer_id, .. } => {
            bail!("router answered with serializer {serializer_id}")
        }
        ServerReply::Error(code) => bail!("RawSocket handshake refused, error {code}"),
    }
    let (r, w) = stream.split();
    let pongs = Pongs::default();
    Ok((
        WampReader {
            source: Source::Raw {
                half: r,
                buf: BytesMut::new(),
                pongs: pongs.clone(),
            },
            ser,
        },
        WampWriter {
            sink: Sink::Raw(w),
            ser,
            buf: BytesMut::new(),
            pongs,
            ws_pending: false,
            next_request: 0,
        },
    ))
}

async fn ws_handshake(
    stream: Stream,
    ser: Serializer,
    url: &str,
) -> anyhow::Result<(WampReader, WampWriter)> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(ser.ws_subprotocol()),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(FLUSH_AT)
        .max_message_size(Some(MAX_LEN));
    let (ws, resp) = async_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .context("WebSocket handshake")?;
    let proto = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if proto != Some(ser.ws_subprotocol()) {
        bail!(
            "router chose subprotocol {proto:?}, not {}",
            ser.ws_subprotocol()
        );
    }
    let (sink, source) = ws.split();
    Ok((
        WampReader {
            source: Source::Ws(source),
            ser,
        },
        WampWriter {
            sink: Sink::Ws(sink),
            ser,
            buf: BytesMut::new(),
            pongs: Pongs::default(),
            ws_pending: false,
            next_request: 0,
        },
    ))
}

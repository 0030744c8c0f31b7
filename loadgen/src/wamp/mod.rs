//! A minimal WAMP client connection over RawSocket or WebSocket, split into a
//! [`WampReader`] and a [`WampWriter`] so one task can publish while another
//! drains, or one task can do both ([`WampConn::next`]).
//!
//! Writes are batched: [`WampWriter::feed`] encodes a frame into a buffer
//! (WebSocket: masked, as a client must), [`WampWriter::flush`] puts it on the
//! wire. PINGs (RawSocket) and pings (WebSocket) seen by the reader are queued
//! and answered by the writer's next flush, as is a WebSocket close.
//!
//! WebSocket uses Junction's own sans-IO framing
//! ([`junction::proto::websocket`]): the reader reads into one buffer per
//! connection and decodes server frames where they lie; a message is split off
//! that buffer as [`Bytes`] without a copy or an allocation of its own.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use bytes::{Buf, Bytes, BytesMut};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use junction::proto::rawsocket::{self as rs, FrameKind, ServerReply};
use junction::proto::websocket::{self as ws, Decoded, Decoder, Event, Opcode, Payload};
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

/// WebSocket: the read buffer's size; a frame larger than that grows it. With
/// 15,000 connections this is 240 MB, as tungstenite's buffer was.
const WS_READ_BUF: usize = 16 * 1024;
/// WebSocket: the least free room a read is given before the buffer is
/// renewed (or reclaimed, when no message split off it is alive).
const WS_MIN_ROOM: usize = 2 * 1024;
/// WebSocket: the header octets reserved before a message is encoded, enough
/// for a payload up to 125 octets; a longer one moves its payload up.
const WS_SHORT_HEADER: usize = 6;

/// A control frame the reader saw and the writer has to answer.
enum Control {
    /// A PING (RawSocket) or ping (WebSocket): answer with its payload.
    Pong(Bytes),
    /// A WebSocket close: answer with this body (the code, echoed).
    Close(Bytes),
}

/// Control answers the reader queued and the writer still has to send.
type Controls = Rc<RefCell<Vec<Control>>>;

/// The writing half.
pub struct WampWriter {
    sink: Sink,
    ser: Serializer,
    buf: BytesMut,
    pongs: Controls,
    next_request: u64,
    /// WebSocket: the state of the xorshift generator of frame masks.
    mask_state: u64,
}

enum Sink {
    Raw(WriteHalf<Stream>),
    Ws(WriteHalf<Stream>),
}

/// The reading half.
pub struct WampReader {
    source: Source,
    ser: Serializer,
    stats: Arc<ReadStats>,
}

/// A reader's counters, readable from another thread: what a run that
/// stalls reports about each connection it waits on.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Octets read from the socket.
    pub octets: AtomicU64,
    /// Messages handed out.
    pub messages: AtomicU64,
    /// Octets read and not handed out yet (buffered, undecoded).
    pub buffered: AtomicU64,
    /// 1 while the reader waits for the socket, else 0.
    pub waiting: AtomicU64,
}

impl std::fmt::Display for ReadStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} octets read, {} messages out, {} octets buffered, {}",
            self.octets.load(Ordering::Relaxed),
            self.messages.load(Ordering::Relaxed),
            self.buffered.load(Ordering::Relaxed),
            if self.waiting.load(Ordering::Relaxed) == 1 {
                "waiting for the socket"
            } else {
                "not waiting for the socket"
            }
        )
    }
}

enum Source {
    Raw {
        half: ReadHalf<Stream>,
        buf: BytesMut,
        pongs: Controls,
    },
    Ws(WsSource),
}

/// The reading side of a WebSocket connection (over any byte source: the
/// tests feed it scripted reads).
struct WsSource<R = ReadHalf<Stream>> {
    half: R,
    /// Always initialized (zeroed) up to its length; `buf[..filled]` holds
    /// what was read and not yet decoded.
    buf: BytesMut,
    filled: usize,
    /// Octets (from the start of `buf`) the decoder needs to go on.
    need: usize,
    dec: Decoder,
    controls: Controls,
    /// The server sent a close: nothing more is read.
    closed: bool,
}

/// What to do with the buffer after a decoded frame.
enum Step {
    /// Drop the frame's octets.
    Skip(usize),
    /// Hand on the last `len` octets of the frame's `consumed`.
    Split { consumed: usize, len: usize },
    /// Drop the frame's octets and hand on a reassembled message.
    Owned(usize, Vec<u8>),
}

impl<R: AsyncRead + Unpin> WsSource<R> {
    /// A reader of the frames in `buf[..filled]` and then from `half`.
    fn new(half: R, buf: BytesMut, filled: usize) -> Self {
        WsSource {
            half,
            buf,
            filled,
            need: 0,
            dec: Decoder::client(MAX_LEN, MAX_LEN),
            controls: Controls::default(),
            closed: false,
        }
    }

    /// The next message already buffered, answering control frames on the way.
    fn try_next(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            if self.closed {
                return Ok(None);
            }
            let step = match self
                .dec
                .decode(&mut self.buf[..self.filled])
                .context("WebSocket frame from the router")?
            {
                Decoded::Incomplete { needed } => {
                    self.need = needed;
                    return Ok(None);
                }
                Decoded::Frame { event, consumed } => match event {
                    None | Some(Event::Pong(_)) => Step::Skip(consumed),
                    Some(Event::Message(_, Payload::Borrowed(p))) => Step::Split {
                        consumed,
                        len: p.len(),
                    },
                    Some(Event::Message(_, Payload::Owned(v))) => Step::Owned(consumed, v),
                    Some(Event::Ping(p)) => {
                        let p = Bytes::copy_from_slice(p);
                        self.controls.borrow_mut().push(Control::Pong(p));
                        Step::Skip(consumed)
                    }
                    Some(Event::Close(c)) => {
                        let body = c.map_or(Bytes::new(), |(code, _)| {
                            Bytes::copy_from_slice(&code.to_be_bytes())
                        });
                        self.controls.borrow_mut().push(Control::Close(body));
                        self.closed = true;
                        Step::Skip(consumed)
                    }
                },
            };
            self.need = 0;
            match step {
                Step::Skip(consumed) => {
                    self.buf.advance(consumed);
                    self.filled -= consumed;
                }
                Step::Split { consumed, len } => {
                    // A server frame's payload ends the frame (Decoder::client).
                    self.buf.advance(consumed - len);
                    self.filled -= consumed;
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                Step::Owned(consumed, v) => {
                    self.buf.advance(consumed);
                    self.filled -= consumed;
                    return Ok(Some(Bytes::from(v)));
                }
            }
        }
    }

    /// Reads more; `Ok(0)` at the end of the stream.
    async fn read_more(&mut self) -> std::io::Result<usize> {
        if self.buf.len() < self.need.max(self.filled + WS_MIN_ROOM) {
            // Renew the buffer: reclaimed in place when every message split
            // off it is gone, else a fresh one (the undecoded octets move).
            // Zeroed once per renewal, not per read.
            self.buf.truncate(self.filled);
            // A frame larger than the usual buffer gets room for what
            // follows it too, so the next frame's head comes in the same read.
            let target = if self.need > WS_READ_BUF {
                self.need + WS_READ_BUF
            } else {
                WS_READ_BUF
            };
            let additional = target.saturating_sub(self.filled).max(WS_MIN_ROOM);
            self.buf.reserve(additional);
            let cap = self.buf.capacity();
            self.buf.resize(cap, 0);
        }
        let n = self.half.read(&mut self.buf[self.filled..]).await?;
        self.filled += n;
        Ok(n)
    }
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
            Sink::Ws(_) => {
                let mask = self.next_mask();
                let start = self.buf.len();
                self.buf.extend_from_slice(&[0; WS_SHORT_HEADER]);
                self.ser.encode_into(msg, &mut self.buf);
                let len = self.buf.len() - start - WS_SHORT_HEADER;
                let op = if self.ser.is_text() {
                    Opcode::Text
                } else {
                    Opcode::Binary
                };
                let (head, n) = ws::client_frame_header(op, len, mask);
                if n > WS_SHORT_HEADER {
                    let body = start + WS_SHORT_HEADER;
                    self.buf
                        .extend_from_slice(&[0; ws::MAX_CLIENT_HEADER][..n - WS_SHORT_HEADER]);
                    self.buf.copy_within(body..body + len, start + n);
                }
                self.buf[start..start + n].copy_from_slice(&head[..n]);
                ws::mask_in_place(&mut self.buf[start + n..], mask);
                if self.buf.len() >= FLUSH_AT {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    /// A fresh WebSocket frame mask (xorshift64: masks need not be secret
    /// here, only vary).
    fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        let [a, b, c, d, ..] = x.to_le_bytes();
        [a, b, c, d]
    }

    /// Appends a whole masked WebSocket control frame.
    fn push_ws_control(&mut self, op: Opcode, payload: &[u8]) {
        let mask = self.next_mask();
        let (head, n) = ws::client_frame_header(op, payload.len(), mask);
        self.buf.extend_from_slice(&head[..n]);
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        ws::mask_in_place(&mut self.buf[start..], mask);
    }

    /// Whether anything waits for a flush.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || !self.pongs.borrow().is_empty()
    }

    /// Writes out everything queued (and pending PONGs).
    ///
    /// # Errors
    /// The connection failed.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        let controls = std::mem::take(&mut *self.pongs.borrow_mut());
        for c in controls {
            match (&self.sink, c) {
                (Sink::Raw(_), Control::Pong(p)) => {
                    self.buf
                        .extend_from_slice(&rs::encode_header(FrameKind::Pong, p.len())?);
                    self.buf.extend_from_slice(&p);
                }
                (Sink::Raw(_), Control::Close(_)) => {}
                (Sink::Ws(_), Control::Pong(p)) => self.push_ws_control(Opcode::Pong, &p),
                (Sink::Ws(_), Control::Close(body)) => self.push_ws_control(Opcode::Close, &body),
            }
        }
        if !self.buf.is_empty() {
            let (Sink::Raw(half) | Sink::Ws(half)) = &mut self.sink;
            half.write_all(&self.buf).await?;
            self.buf.clear();
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
        let got = self.try_decode()?;
        if got.is_some() {
            self.stats.messages.fetch_add(1, Ordering::Relaxed);
        }
        let buffered = match &self.source {
            Source::Raw { buf, .. } => buf.len(),
            Source::Ws(s) => s.filled,
        };
        self.stats
            .buffered
            .store(buffered as u64, Ordering::Relaxed);
        Ok(got)
    }

    /// This reader's counters (shared: they stay readable from any thread).
    pub fn stats(&self) -> Arc<ReadStats> {
        self.stats.clone()
    }

    /// The next buffered message, answering control frames on the way.
    fn try_decode(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            match &mut self.source {
                Source::Raw { buf, pongs, .. } => match rs::decode_frame(buf, MAX_LEN)? {
                    None => return Ok(None),
                    Some((FrameKind::Message, b)) => return Ok(Some(b)),
                    Some((FrameKind::Ping, p)) => pongs.borrow_mut().push(Control::Pong(p)),
                    Some((FrameKind::Pong, _)) => {}
                },
                Source::Ws(s) => return s.try_next(),
            }
        }
    }

    /// The bytes of the next message; `None` when the peer closed the connection.
    ///
    /// # Errors
    /// A framing error, or the connection failed.
    pub async fn recv_raw(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            if let Some(b) = self.try_recv_raw()? {
                return Ok(Some(b));
            }
            match &mut self.source {
                Source::Raw { half, buf, .. } => {
                    glommio::yield_if_needed().await;
                    let old = buf.len();
                    buf.resize(old + READ_CHUNK, 0);
                    self.stats.waiting.store(1, Ordering::Relaxed);
                    let n = half.read(&mut buf[old..]).await;
                    self.stats.waiting.store(0, Ordering::Relaxed);
                    buf.truncate(old + *n.as_ref().unwrap_or(&0));
                    let n = n?;
                    self.stats.octets.fetch_add(n as u64, Ordering::Relaxed);
                    if n == 0 {
                        return Ok(None);
                    }
                }
                Source::Ws(s) => {
                    if s.closed {
                        return Ok(None);
                    }
                    glommio::yield_if_needed().await;
                    self.stats.waiting.store(1, Ordering::Relaxed);
                    let n = s.read_more().await;
                    self.stats.waiting.store(0, Ordering::Relaxed);
                    let n = n?;
                    self.stats.octets.fetch_add(n as u64, Ordering::Relaxed);
                    if n == 0 {
                        return Ok(None);
                    }
                }
            }
        }
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
            realm: Some(realm.to_owned()),
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
        if let Some(b) = self.reader.try_recv_raw()? {
            return Ok(Some(b));
        }
        if self.writer.has_pending() {
            self.writer.flush().await?;
        }
        let got = self.reader.recv_raw().await?;
        if got.is_none() && self.writer.has_pending() {
            // The answer to the router's close; it may be gone already.
            let _ = self.writer.flush().await;
        }
        Ok(got)
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
    let pongs = Controls::default();
    Ok((
        WampReader {
            source: Source::Raw {
                half: r,
                buf: BytesMut::new(),
                pongs: pongs.clone(),
            },
            ser,
            stats: Arc::default(),
        },
        WampWriter {
            sink: Sink::Raw(w),
            ser,
            buf: BytesMut::new(),
            pongs,
            next_request: 0,
            mask_state: 0,
        },
    ))
}

async fn ws_handshake(
    mut stream: Stream,
    ser: Serializer,
    url: &str,
) -> anyhow::Result<(WampReader, WampWriter)> {
    use base64::Engine as _;
    let rest = url
        .strip_prefix("ws://")
        .with_context(|| format!("not a ws:// request URL: {url}"))?;
    let (host, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let protocol = ser.ws_subprotocol();
    stream
        .write_all(&ws::upgrade_request(host, path, &key, protocol))
        .await
        .context("WebSocket handshake write")?;
    let mut buf = BytesMut::zeroed(WS_READ_BUF);
    let mut filled = 0;
    let (chosen, head) = loop {
        if let Some(done) =
            ws::parse_upgrade_response(&buf[..filled], &key).context("WebSocket handshake")?
        {
            break done;
        }
        if filled == buf.len() {
            buf.resize(filled + WS_READ_BUF, 0);
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .context("WebSocket handshake read")?;
        if n == 0 {
            bail!("connection closed during the WebSocket handshake");
        }
        filled += n;
    };
    if chosen != protocol {
        bail!("router chose subprotocol {chosen:?}, not {protocol}");
    }
    // What follows the head are the router's first frames.
    buf.advance(head);
    filled -= head;
    let (r, w) = stream.split();
    let controls = Controls::default();
    Ok((
        WampReader {
            source: Source::Ws(WsSource {
                controls: controls.clone(),
                ..WsSource::new(r, buf, filled)
            }),
            ser,
            stats: Arc::default(),
        },
        WampWriter {
            sink: Sink::Ws(w),
            ser,
            buf: BytesMut::new(),
            pongs: controls,
            next_request: 0,
            // xorshift needs a state other than 0.
            mask_state: rand::random::<u64>() | 1,
        },
    ))
}

#[cfg(test)]
mod tests;

//! `baseline-server`: the raw baseline. A minimal WAMP "router" that does no
//! routing work beyond what loadgen's own clients need: HELLO → WELCOME,
//! SUBSCRIBE → SUBSCRIBED, REGISTER → REGISTERED, PUBLISH → EVENT to every
//! matching subscriber, CALL → INVOCATION to a callee (round robin), YIELD →
//! RESULT, GOODBYE → GOODBYE. No authentication, authorization, options,
//! meta events or shards.
//!
//! Fan-out does the least byte work possible: per PUBLISH and subscription,
//! the EVENT frame (transport header included: a RawSocket header, or an
//! unmasked WebSocket frame header, both identical for every subscriber) is
//! encoded **once**, and those same bytes are appended to every subscriber's
//! output buffer; each connection's writer task writes whatever accumulated
//! in one `write` (batched writes). So `loadgen fanout --url <baseline>`
//! measures what the sockets and loadgen's own parsing allow.
//!
//! **Single-threaded, on purpose.** A publication must reach subscribers on
//! every connection; with one executor per core, each PUBLISH would have to be
//! forwarded to the other threads, which is exactly the routing work a real
//! router does (and what this baseline is meant to leave out). One thread
//! writing the same bytes to N sockets is the simplest physical reference;
//! run loadgen with the remaining cores.
//!
//! Test-only faults (loadgen's own tests use them): `--drop-every N` drops
//! every N-th publication, `--swap-every N` delivers every N-th publication
//! after the one following it. Warm-up publications (sender 0, see
//! [`crate::payload`]) are never dropped or swapped nor counted.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use anyhow::{Context, bail};
use bytes::{BufMut, Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use junction::proto::rawsocket::{self as rs, FrameKind};
use junction::proto::{
    CallResult, Dict, Error, Goodbye, Invocation, Message, Payload, PublicationId, Published,
    Registered, RegistrationId, RequestId, Serializer, SessionId, Subscribed, SubscriptionId,
    Unsubscribed, Welcome, code,
};

/// Largest message accepted.
const MAX_LEN: usize = 16 * 1024 * 1024;
/// Bytes read per read call.
const READ_CHUNK: usize = 64 * 1024;
/// A connection with this much output pending makes the server stop reading
/// (from everyone) until it is down to [`LOW_WATER`]: TCP backpressure
/// reaches the publisher instead of the queues growing without bound.
const HIGH_WATER: usize = 1 << 20;
/// See [`HIGH_WATER`].
const LOW_WATER: usize = 256 << 10;

/// Which transport the baseline serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// WAMP over WebSocket (any request path).
    Ws,
    /// WAMP over RawSocket.
    Rs,
}

/// `baseline-server` options.
#[derive(Debug, Clone)]
pub struct BaselineOpts {
    /// Address to listen on (port 0: any free port, printed on stdout).
    pub listen: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// Accept only this serializer (default: all three).
    pub serializer: Option<Serializer>,
    /// Drop every N-th publication.
    pub drop_every: Option<u64>,
    /// Swap every N-th publication with the next one.
    pub swap_every: Option<u64>,
}

/// Runs the server until killed. Prints `listening on ADDR` once bound.
///
/// # Errors
/// The executor cannot start or the address cannot be bound.
pub fn run(opts: BaselineOpts) -> anyhow::Result<()> {
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("baseline")
        .io_memory(1 << 20)
        .spawn(move || serve(opts))
        .map_err(std::io::Error::from)?
        .join()
        .map_err(|e| anyhow::anyhow!("executor failed: {e}"))?
}

/// How frames are wrapped on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Raw,
    Ws,
}

/// One connection's output side.
struct Out {
    buf: RefCell<BytesMut>,
    waker: Cell<Option<Waker>>,
    closed: Cell<bool>,
    /// Bytes the writer task is writing right now.
    in_flight: Cell<usize>,
    ser: Serializer,
    framing: Framing,
}

impl Out {
    /// Output not yet written.
    fn pending(&self) -> usize {
        self.buf.borrow().len() + self.in_flight.get()
    }

    fn push(&self, frame: &[u8]) {
        if self.closed.get() {
            return;
        }
        self.buf.borrow_mut().extend_from_slice(frame);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn send(&self, msg: &Message) {
        let mut body = BytesMut::with_capacity(128);
        self.ser.encode_into(msg, &mut body);
        self.push(&frame(self.framing, self.ser, &body));
    }

    fn close(&self) {
        self.closed.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// A transport frame around `body`.
fn frame(framing: Framing, ser: Serializer, body: &[u8]) -> Bytes {
    let mut f = BytesMut::with_capacity(body.len() + 10);
    match framing {
        Framing::Raw => {
            let head =
                rs::encode_header(FrameKind::Message, body.len()).unwrap_or([0, 0xFF, 0xFF, 0xFF]);
            f.put_slice(&head);
        }
        Framing::Ws => ws_header(&mut f, if ser.is_text() { 1 } else { 2 }, body.len()),
    }
    f.put_slice(body);
    f.freeze()
}

/// An unmasked (server → client) WebSocket frame header.
fn ws_header(out: &mut BytesMut, opcode: u8, len: usize) {
    out.put_u8(0x80 | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= 0xFFFF {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
}

/// A subscription: topic or pattern, and who is on it.
struct Sub {
    id: u64,
    topic: String,
    wildcard: bool,
    members: Vec<u64>,
}

impl Sub {
    fn matches(&self, topic: &str) -> bool {
        if !self.wildcard {
            return self.topic == topic;
        }
        let mut a = self.topic.split('.');
        let mut b = topic.split('.');
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(p), Some(t)) if p.is_empty() || p == t => {}
                _ => return false,
            }
        }
    }
}

/// A registration and its callees.
struct Reg {
    id: u64,
    callees: Vec<u64>,
    next: usize,
}

/// All server state (one thread, so a `RefCell`).
#[derive(Default)]
struct Hub {
    conns: HashMap<u64, Rc<Out>>,
    subs: Vec<Sub>,
    regs: HashMap<String, Reg>,
    /// INVOCATION request → (caller connection, CALL request).
    calls: HashMap<u64, (u64, u64)>,
    next_id: u64,
    /// Non-warm-up publications seen.
    publications: u64,
    /// A publication held back by `--swap-every`: (connection, frame) pairs.
    held: Option<Vec<(Rc<Out>, Bytes)>>,
    drop_every: Option<u64>,
    swap_every: Option<u64>,
    /// Connections whose output went past [`HIGH_WATER`].
    congested: Vec<Rc<Out>>,
}

impl Hub {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn drop_conn(&mut self, conn: u64) {
        if let Some(o) = self.conns.remove(&conn) {
            o.close();
        }
        for s in &mut self.subs {
            s.members.retain(|&m| m != conn);
        }
        self.subs.retain(|s| !s.members.is_empty());
        for r in self.regs.values_mut() {
            r.callees.retain(|&c| c != conn);
        }
        self.regs.retain(|_, r| !r.callees.is_empty());
    }

    /// Handles one message from `conn`; `false` ends the connection.
    fn handle(&mut self, conn: u64, msg: Message) -> bool {
        let Some(out) = self.conns.get(&conn).cloned() else {
            return false;
        };
        match msg {
            Message::Hello(_) => {
                let roles = Dict::new()
                    .with("broker", Dict::new())
                    .with("dealer", Dict::new());
                let session = SessionId(self.id());
                out.send(&Message::Welcome(Welcome {
                    session,
                    details: Dict::new().with("roles", roles),
                }));
            }
            Message::Subscribe(s) => {
                let wildcard = s.options.get("match").and_then(|v| v.as_str()) == Some("wildcard");
                let id = match self
                    .subs
                    .iter_mut()
                    .find(|x| x.topic == s.topic && x.wildcard == wildcard)
                {
                    Some(x) => {
                        x.members.push(conn);
                        x.id
                    }
                    None => {
                        let id = self.id();
                        self.subs.push(Sub {
                            id,
                            topic: s.topic,
                            wildcard,
                            members: vec![conn],
                        });
                        id
                    }
                };
                out.send(&Message::Subscribed(Subscribed {
                    request: s.request,
                    subscription: SubscriptionId(id),
                }));
            }
            Message::Unsubscribe(u) => {
                for s in &mut self.subs {
                    if s.id == u.subscription.get() {
                        s.members.retain(|&m| m != conn);
                    }
                }
                out.send(&Message::Unsubscribed(Unsubscribed {
                    request: u.request,
                    details: None,
                }));
            }
            Message::Publish(p) => self.publish(conn, &out, p),
            Message::Register(r) => {
                let id = self.id();
                let reg = self.regs.entry(r.procedure).or_insert(Reg {
                    id,
                    callees: Vec::new(),
                    next: 0,
                });
                reg.callees.push(conn);
                out.send(&Message::Registered(Registered {
                    request: r.request,
                    registration: RegistrationId(reg.id),
                }));
            }
            Message::Call(c) => {
                let inv = self.id();
                let target = self.regs.get_mut(&c.procedure).and_then(|r| {
                    let callee = *r.callees.get(r.next % r.callees.len().max(1))?;
                    r.next = r.next.wrapping_add(1);
                    Some((callee, r.id))
                });
                match target.and_then(|(callee, reg)| Some((self.conns.get(&callee)?.clone(), reg)))
                {
                    Some((callee, reg)) => {
                        self.calls.insert(inv, (conn, c.request.get()));
                        callee.send(&Message::Invocation(Invocation {
                            request: RequestId(inv),
                            registration: RegistrationId(reg),
                            details: Dict::new(),
                            payload: c.payload,
                        }));
                    }
                    None => out.send(&Message::Error(Error {
                        request_type: code::CALL,
                        request: c.request,
                        details: Dict::new(),
                        error: "wamp.error.no_such_procedure".into(),
                        payload: Payload::empty(),
                    })),
                }
            }
            Message::Yield(y) => {
                if let Some((caller, req)) = self.calls.remove(&y.request.get()) {
                    if let Some(o) = self.conns.get(&caller) {
                        o.send(&Message::Result(CallResult {
                            request: RequestId(req),
                            details: Dict::new(),
                            payload: y.payload,
                        }));
                    }
                }
            }
            Message::Error(e) if e.request_type == code::INVOCATION => {
                if let Some((caller, req)) = self.calls.remove(&e.request.get()) {
                    if let Some(o) = self.conns.get(&caller) {
                        o.send(&Message::Error(Error {
                            request_type: code::CALL,
                            request: RequestId(req),
                            ..e
                        }));
                    }
                }
            }
            Message::Goodbye(_) => {
                out.send(&Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.goodbye_and_out".into(),
                }));
                return false;
            }
            _ => {}
        }
        true
    }

    fn publish(&mut self, conn: u64, out: &Out, p: junction::proto::Publish) {
        let publication = PublicationId(self.id());
        if p.options.get("acknowledge").and_then(|v| v.as_bool()) == Some(true) {
            out.send(&Message::Published(Published {
                request: p.request,
                publication,
            }));
        }
        let warmup = p
            .payload
            .args
            .as_ref()
            .and_then(|a| a.get(1))
            .and_then(|v| v.as_u64())
            == Some(crate::payload::WARMUP_SENDER);
        let mut deliveries: Vec<(Rc<Out>, Bytes)> = Vec::new();
        for s in self.subs.iter().filter(|s| s.matches(&p.topic)) {
            let details = if s.wildcard {
                Dict::new().with("topic", p.topic.as_str())
            } else {
                Dict::new()
            };
            // One encoding per (serializer, framing) among the members.
            let mut frames: Vec<((Serializer, Framing), Bytes)> = Vec::new();
            for m in &s.members {
                if *m == conn {
                    continue; // exclude_me defaults to true
                }
                let Some(o) = self.conns.get(m) else { continue };
                let key = (o.ser, o.framing);
                let f = match frames.iter().find(|(k, _)| *k == key) {
                    Some((_, f)) => f.clone(),
                    None => {
                        let mut body = BytesMut::with_capacity(
                            64 + p.payload.args.as_ref().map_or(0, |a| a.len() * 16),
                        );
                        o.ser.encode_event_into(
                            SubscriptionId(s.id),
                            publication,
                            &details,
                            &p.payload,
                            &mut body,
                        );
                        let f = frame(o.framing, o.ser, &body);
                        frames.push((key, f.clone()));
                        f
                    }
                };
                deliveries.push((o.clone(), f));
            }
        }
        for (o, _) in &deliveries {
            if o.pending() > HIGH_WATER && !self.congested.iter().any(|c| Rc::ptr_eq(c, o)) {
                self.congested.push(o.clone());
            }
        }
        if warmup {
            deliver(&deliveries);
            return;
        }
        self.publications += 1;
        let k = self.publications;
        if self.drop_every.is_some_and(|n| n > 0 && k % n == 0) {
            return;
        }
        if self.swap_every.is_some_and(|n| n > 0 && k % n == 0) {
            self.held = Some(deliveries);
            return;
        }
        deliver(&deliveries);
        if let Some(held) = self.held.take() {
            deliver(&held);
        }
    }
}

fn deliver(d: &[(Rc<Out>, Bytes)]) {
    for (o, f) in d {
        o.push(f);
    }
}

async fn serve(opts: BaselineOpts) -> anyhow::Result<()> {
    let listener = TcpListener::bind(opts.listen)
        .map_err(std::io::Error::from)
        .context("bind")?;
    let addr = listener
        .local_addr()
        .map_err(std::io::Error::from)
        .context("local_addr")?;
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let hub = Rc::new(RefCell::new(Hub {
        drop_every: opts.drop_every,
        swap_every: opts.swap_every,
        ..Hub::default()
    }));
    loop {
        let s = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = s.set_nodelay(true);
        let (hub, opts) = (hub.clone(), opts.clone());
        glommio::spawn_local(async move {
            let _ = connection(s, hub, opts).await;
        })
        .detach();
    }
}

/// Serializers allowed by `--serializer`.
fn allowed(opts: &BaselineOpts, s: Serializer) -> bool {
    opts.serializer.is_none_or(|x| x == s)
}

async fn connection(
    stream: TcpStream,
    hub: Rc<RefCell<Hub>>,
    opts: BaselineOpts,
) -> anyhow::Result<()> {
    let (mut r, mut w) = stream.split();
    let mut buf = BytesMut::new();
    let (ser, framing) = match opts.transport {
        Transport::Rs => {
            let mut hs = [0u8; 4];
            r.read_exact(&mut hs).await?;
            let ch = rs::parse_client_handshake(hs).map_err(|e| anyhow::anyhow!("{e}"))?;
            let Some(ser) =
                Serializer::from_rawsocket_id(ch.serializer_id).filter(|&s| allowed(&opts, s))
            else {
                w.write_all(&rs::error_reply(rs::ERR_SERIALIZER_UNSUPPORTED))
                    .await?;
                bail!("serializer not supported");
            };
            w.write_all(&rs::server_handshake_reply(ch.serializer_id, MAX_LEN))
                .await?;
            (ser, Framing::Raw)
        }
        Transport::Ws => {
            let ser = ws_accept(&mut r, &mut w, &mut buf, &opts).await?;
            (ser, Framing::Ws)
        }
    };
    let out = Rc::new(Out {
        buf: RefCell::new(BytesMut::new()),
        waker: Cell::new(None),
        closed: Cell::new(false),
        in_flight: Cell::new(0),
        ser,
        framing,
    });
    let conn = {
        let mut h = hub.borrow_mut();
        let id = h.id();
        h.conns.insert(id, out.clone());
        id
    };
    // Writer: everything that accumulated goes out in one write.
    let writer = {
        let out = out.clone();
        glommio::spawn_local(async move {
            loop {
                let data = poll_fn(|cx| {
                    let mut b = out.buf.borrow_mut();
                    if !b.is_empty() {
                        return Poll::Ready(Some(b.split().freeze()));
                    }
                    if out.closed.get() {
                        return Poll::Ready(None);
                    }
                    out.waker.set(Some(cx.waker().clone()));
                    Poll::Pending
                })
                .await;
                let Some(data) = data else { break };
                out.in_flight.set(data.len());
                let res = w.write_all(&data).await;
                out.in_flight.set(0);
                if res.is_err() {
                    out.closed.set(true);
                    break;
                }
            }
            let _ = w.close().await;
        })
    };
    let res = read_loop(&mut r, &mut buf, &hub, conn, &out).await;
    hub.borrow_mut().drop_conn(conn);
    out.close();
    writer.await;
    res
}

async fn read_loop(
    r: &mut ReadHalf<TcpStream>,
    buf: &mut BytesMut,
    hub: &RefCell<Hub>,
    conn: u64,
    out: &Out,
) -> anyhow::Result<()> {
    let mut fragments: Option<BytesMut> = None;
    loop {
        // Handle every complete frame already buffered, then read more.
        loop {
            let body = match out.framing {
                Framing::Raw => match rs::decode_frame(buf, MAX_LEN)? {
                    None => break,
                    Some((FrameKind::Message, b)) => b,
                    Some((FrameKind::Ping, p)) => {
                        let mut f = BytesMut::new();
                        f.put_slice(&rs::encode_header(FrameKind::Pong, p.len())?);
                        f.put_slice(&p);
                        out.push(&f);
                        continue;
                    }
                    Some((FrameKind::Pong, _)) => continue,
                },
                Framing::Ws => match ws_frame(buf)? {
                    None => break,
                    Some(WsFrame::Data { fin, payload }) => match (fragments.take(), fin) {
                        (None, true) => payload,
                        (Some(mut acc), fin) => {
                            acc.extend_from_slice(&payload);
                            if !fin {
                                fragments = Some(acc);
                                continue;
                            }
                            acc.freeze()
                        }
                        (None, false) => {
                            fragments = Some(BytesMut::from(&payload[..]));
                            continue;
                        }
                    },
                    Some(WsFrame::Ping(p)) => {
                        let mut f = BytesMut::new();
                        ws_header(&mut f, 0xA, p.len());
                        f.put_slice(&p);
                        out.push(&f);
                        continue;
                    }
                    Some(WsFrame::Pong) => continue,
                    Some(WsFrame::Close) => {
                        out.push(&[0x88, 0x00]);
                        return Ok(());
                    }
                },
            };
            let msg = out.ser.decode(&body)?;
            if !hub.borrow_mut().handle(conn, msg) {
                return Ok(());
            }
        }
        wait_uncongested(hub).await;
        let old = buf.len();
        buf.resize(old + READ_CHUNK, 0);
        let n = r.read(&mut buf[old..]).await;
        buf.truncate(old + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            return Ok(());
        }
    }
}

/// Waits until no connection has more than [`LOW_WATER`] output pending.
async fn wait_uncongested(hub: &RefCell<Hub>) {
    loop {
        let done = {
            let mut h = hub.borrow_mut();
            h.congested
                .retain(|o| !o.closed.get() && o.pending() > LOW_WATER);
            h.congested.is_empty()
        };
        if done {
            return;
        }
        glommio::timer::sleep(std::time::Duration::from_micros(100)).await;
    }
}

/// A WebSocket frame from a client.
enum WsFrame {
    /// Text, binary or continuation data.
    Data {
        fin: bool,
        payload: Bytes,
    },
    Ping(Bytes),
    Pong,
    Close,
}

/// Takes one client frame (masked) off `buf`; `Ok(None)` while incomplete.
fn ws_frame(buf: &mut BytesMut) -> anyhow::Result<Option<WsFrame>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (usize::try_from(u64::from_be_bytes(b))?, 10)
        }
        n => (usize::from(n), 2),
    };
    if len > MAX_LEN {
        bail!("WebSocket frame too long");
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < at + len {
        return Ok(None);
    }
    let _ = buf.split_to(at);
    let mut payload = buf.split_to(len);
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i & 3];
        }
    }
    let payload = payload.freeze();
    Ok(Some(match b0 & 0x0F {
        0..=2 => WsFrame::Data {
            fin: b0 & 0x80 != 0,
            payload,
        },
        8 => WsFrame::Close,
        9 => WsFrame::Ping(payload),
        10 => WsFrame::Pong,
        op => bail!("unknown WebSocket opcode {op}"),
    }))
}

/// Reads the HTTP upgrade request and answers 101; returns the serializer.
async fn ws_accept(
    r: &mut ReadHalf<TcpStream>,
    w: &mut futures::io::WriteHalf<TcpStream>,
    buf: &mut BytesMut,
    opts: &BaselineOpts,
) -> anyhow::Result<Serializer> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|x| x == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            bail!("HTTP request too long");
        }
        let old = buf.len();
        buf.resize(old + 4096, 0);
        let n = r.read(&mut buf[old..]).await;
        buf.truncate(old + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            bail!("closed during WebSocket handshake");
        }
    };
    let head = buf.split_to(end);
    let text = std::str::from_utf8(&head).context("HTTP request is not UTF-8")?;
    let mut key = None;
    let mut chosen = None;
    for line in text.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "sec-websocket-key" {
            key = Some(value.trim().to_owned());
        } else if name == "sec-websocket-protocol" && chosen.is_none() {
            chosen = value
                .split(',')
                .filter_map(|p| Serializer::from_ws_subprotocol(p.trim()))
                .find(|&s| allowed(opts, s));
        }
    }
    let (Some(key), Some(ser)) = (key, chosen) else {
        w.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await?;
        bail!("not a WAMP WebSocket upgrade");
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        junction::proto::websocket::accept_key(&key),
        ser.ws_subprotocol()
    );
    w.write_all(resp.as_bytes()).await?;
    Ok(ser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        let s = Sub {
            id: 1,
            topic: "a..c".into(),
            wildcard: true,
            members: vec![],
        };
        assert!(s.matches("a.b.c"));
        assert!(!s.matches("a.b.d"));
        assert!(!s.matches("a.b.c.d"));
        let e = Sub {
            wildcard: false,
            topic: "a.b".into(),
            ..s
        };
        assert!(e.matches("a.b"));
        assert!(!e.matches("a.bb"));
    }

    #[test]
    fn ws_frames_parse_and_unmask() {
        let mask = [1u8, 2, 3, 4];
        let data = b"hello";
        let mut b = BytesMut::new();
        b.put_slice(&[0x82, 0x80 | data.len() as u8]);
        b.put_slice(&mask);
        for (i, &x) in data.iter().enumerate() {
            b.put_u8(x ^ mask[i & 3]);
        }
        let mut partial = BytesMut::from(&b[..4]);
        assert!(ws_frame(&mut partial).expect("ok").is_none());
        match ws_frame(&mut b).expect("ok") {
            Some(WsFrame::Data { fin, payload }) => {
                assert!(fin);
                assert_eq!(&payload[..], data);
            }
            _ => panic!("data frame expected"),
        }
        assert!(b.is_empty());
    }

    #[test]
    fn ws_header_lengths() {
        let mut b = BytesMut::new();
        ws_header(&mut b, 2, 100);
        assert_eq!(&b[..], &[0x82, 100]);
        let mut b = BytesMut::new();
        ws_header(&mut b, 1, 300);
        assert_eq!(&b[..], &[0x81, 126, 1, 44]);
        let mut b = BytesMut::new();
        ws_header(&mut b, 2, 70_000);
        assert_eq!(b.len(), 10);
    }
}

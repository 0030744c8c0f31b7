//! What a front end sees of the routing core.
//!
//! Every front end — the WebSocket and RawSocket connections, and later
//! long-poll, MQTT, the HTTP bridge, guest components and links to other
//! nodes — talks to its shard's [`ShardRouter`](super::ShardRouter) the same
//! way:
//!
//! 1. [`ShardRouter::open`](super::ShardRouter::open) with a [`LinkInfo`]
//!    (which transport, what kind of front end, the peer's address, TLS
//!    state, HTTP headers and cookies when it has them) and an [`Output`]
//!    that says how it wants to receive what the router sends: encoded frames
//!    in an [`Outbox`](super::outbox::Outbox) (one encoding per publish and
//!    serializer, shared by every subscriber that uses it), or typed
//!    [`Message`]s in a [`MessageQueue`]. The router answers with a
//!    [`LinkId`].
//! 2. [`ShardRouter::feed`](super::ShardRouter::feed) with each typed
//!    [`Message`] the peer sends (or
//!    [`ShardRouter::feed_frame`](super::ShardRouter::feed_frame) with a
//!    WAMP frame, decoded with the link's serializer without copying it).
//! 3. [`ShardRouter::close`](super::ShardRouter::close) when the front end
//!    is gone. When the router wants the link closed (GOODBYE done, ABORT,
//!    protocol violation, slow consumer, shutdown) it says so through the
//!    output's close reason; the front end carries it out and then calls
//!    `close`.
//!
//! A link carries at most one WAMP session at a time (HELLO, WELCOME ...
//! GOODBYE, then possibly HELLO again). In-process front ends (tests, the
//! router's own clients) use [`Output::Typed`]: see [`LocalLink`].
//!
//! This module imports nothing of the transports or the runtime.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::outbox::{CloseReason, OutboxRef, Overflow};
pub use super::session::EventOut;
pub use super::session::peer::Peer;
use crate::config::TransportConfig;
use crate::proto::{Message, Serializer};

/// The `PUBLISH.Options` key under which a front end whose output is a
/// [`FrontSink`] hands the broker its own form of a publication
/// (`[meta|bytes, body|bytes]`, see [`crate::core::cluster::Native`]). The
/// broker takes it out of the options; from other links it is ignored.
pub const NATIVE_OPTION: &str = "x_junction_native";

/// The `CALL.Options` key under which an MQTT front end asks the router to
/// make the call on another realm, from the router's own session there
/// (Crossbar's `dynamic` payload mapping with a codec `realm`): the answer
/// comes back to the link as RESULT or ERROR under the CALL's request ID,
/// and the link's own permissions do not apply (as in Crossbar, the router
/// calls the codec). From other links the key means nothing
/// (`ShardRouter::call_on_realm`).
pub const CALL_ON_REALM_OPTION: &str = "x_junction_call_on_realm";

/// One front end's link to its shard's router (a connection, a long-poll
/// session, an in-process client). Unique on its shard for the shard's life,
/// never 0: the link's slot in the shard's slab (low 32 bits) and the slot's
/// generation (high 32 bits; see `core/session/links.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// What kind of front end a link is: reported in the session meta API and
/// used by authentication (e.g. cookies only over WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// WAMP over WebSocket.
    WebSocket,
    /// WAMP over RawSocket.
    RawSocket,
    /// WAMP over HTTP long-poll.
    LongPoll,
    /// An MQTT client mapped to WAMP.
    Mqtt,
    /// A request of the HTTP bridge (publisher, caller, webhook).
    HttpBridge,
    /// A session the router or a component host runs in-process.
    Internal,
}

impl FrontEnd {
    /// The name reported as the session's transport `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            FrontEnd::WebSocket => "websocket",
            FrontEnd::RawSocket => "rawsocket",
            FrontEnd::LongPoll => "longpoll",
            FrontEnd::Mqtt => "mqtt",
            FrontEnd::HttpBridge => "http",
            FrontEnd::Internal => "internal",
        }
    }
}

/// The TLS state of a link, when it came over TLS. Kept with the link for
/// its lifetime (authentication, the session meta API), so kept small: no
/// heap but `tls_unique` and `alpn` when there is no client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The channel id cryptosign binds to with `tls-unique`: SHA-256 of the
    /// `tls-unique` value (32 octets), as Autobahn and Crossbar compute it.
    pub channel_id: Option<[u8; 32]>,
    /// `tls-unique` (RFC 5929): the first Finished message's verify_data
    /// (the client's in a full handshake, the server's in a resumed one).
    pub tls_unique: Option<Vec<u8>>,
    /// `tls-exporter` (RFC 9266, TLS 1.3): 32 octets exported with label
    /// `EXPORTER-Channel-Binding` and an empty context.
    pub tls_exporter: Option<[u8; 32]>,
    /// The protocol version (`TLSv1.3`, `TLSv1.2`).
    pub version: &'static str,
    /// The cipher suite (IANA name).
    pub cipher: &'static str,
    /// The ALPN protocol agreed on, if any.
    pub alpn: Option<String>,
    /// The client certificate, when the client presented one (boxed: most
    /// links have none).
    pub peer_certificate: Option<Box<PeerCertificate>>,
}

/// What authentication needs of a client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCertificate {
    /// SHA-1 of the DER certificate (what Crossbar's `certificate-sha1` names).
    pub sha1: [u8; 20],
    /// SHA-256 of the DER certificate.
    pub sha256: [u8; 32],
    /// The serial number, lowercase hex.
    pub serial: String,
    /// The subject's common name, if any.
    pub subject_cn: Option<String>,
    /// The subject's attributes in order (`CN`, `O`, `OU`, `C`, ... or dotted OIDs).
    pub subject: Vec<(String, String)>,
    /// The issuer's attributes in order.
    pub issuer: Vec<(String, String)>,
    /// Whether the certificate was verified against the listener's
    /// `ca_certificates` (a certificate that was not is only a public key
    /// with a fingerprint).
    pub ca_verified: bool,
}

impl PeerCertificate {
    /// The SHA-1 fingerprint as Crossbar writes it: upper-case hex pairs joined by colons.
    pub fn sha1_hex(&self) -> String {
        colon_hex(&self.sha1)
    }

    /// The SHA-256 fingerprint, upper-case hex pairs joined by colons.
    pub fn sha256_hex(&self) -> String {
        colon_hex(&self.sha256)
    }
}

/// `AB:CD:...`.
fn colon_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// The HTTP request that opened a link (WebSocket upgrade, long-poll, bridge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpInfo {
    /// The request path.
    pub path: String,
    /// Request headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Cookies from the `Cookie` header(s), in order.
    pub cookies: Vec<(String, String)>,
}

impl HttpInfo {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first cookie named `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a front end tells the router about a new link.
///
/// Every held link keeps one, so what only some links have (TLS state, the
/// HTTP request that opened it, a tracking cookie) is in one box that a
/// plain link does not allocate ([`LinkInfo::tls`], [`LinkInfo::http`],
/// [`LinkInfo::cookie`] and their setters).
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// The listening transport's config (its id and `auth`).
    pub transport: Rc<TransportConfig>,
    /// The peer, for logs and session details (`tcp4:127.0.0.1:5000`,
    /// `unix`, `internal`); a TCP peer's socket address (rate limits,
    /// `require_ip`) is [`Peer::addr`].
    pub peer: Peer,
    /// TLS, HTTP request and cookie: `None` while all three are absent.
    rare: Option<Box<RareInfo>>,
    /// What kind of front end this is.
    pub kind: FrontEnd,
    /// The largest message the peer accepts, `u32::MAX` for none (see
    /// [`LinkInfo::max_outbound`]).
    max_outbound: u32,
    /// The core's flag: the router asked the front end to close the link
    /// (kept here, in the padding after the limit, so that the core's
    /// `Link` fits in 112 octets; always `false` in a new `LinkInfo`).
    pub(crate) closing: bool,
}

/// What only some links have (see [`LinkInfo`]).
#[derive(Debug, Clone, Default)]
struct RareInfo {
    tls: Option<Box<TlsInfo>>,
    http: Option<Box<HttpInfo>>,
    cookie: Option<Box<LinkCookie>>,
}

impl LinkInfo {
    /// A link of `kind` on `transport` from `peer`, with no TLS, no HTTP
    /// request and no outbound size limit.
    pub fn new(transport: Rc<TransportConfig>, kind: FrontEnd, peer: impl Into<Peer>) -> Self {
        LinkInfo {
            transport,
            peer: peer.into(),
            rare: None,
            kind,
            max_outbound: u32::MAX,
            closing: false,
        }
    }

    /// TLS state, when the link came over TLS.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.rare.as_ref()?.tls.as_deref()
    }

    /// Sets (or clears) the TLS state.
    pub fn set_tls(&mut self, tls: Option<Box<TlsInfo>>) {
        self.rare_mut(tls.is_some(), |r| r.tls = tls);
    }

    /// The HTTP request that opened the link, when there was one.
    pub fn http(&self) -> Option<&HttpInfo> {
        self.rare.as_ref()?.http.as_deref()
    }

    /// Sets (or clears) the HTTP request.
    pub fn set_http(&mut self, http: Option<Box<HttpInfo>>) {
        self.rare_mut(http.is_some(), |r| r.http = http);
    }

    /// Takes the HTTP request out of the link.
    pub fn take_http(&mut self) -> Option<Box<HttpInfo>> {
        let mut http = None;
        self.rare_mut(false, |r| http = r.http.take());
        http
    }

    /// The WebSocket service's tracking cookie, when it has cookie tracking
    /// (cookie authentication looks it up; a successful login is remembered
    /// under it).
    pub fn cookie(&self) -> Option<&LinkCookie> {
        self.rare.as_ref()?.cookie.as_deref()
    }

    /// Sets (or clears) the tracking cookie.
    pub fn set_cookie(&mut self, cookie: Option<Box<LinkCookie>>) {
        self.rare_mut(cookie.is_some(), |r| r.cookie = cookie);
    }

    /// The largest message the peer accepts (RawSocket: what its handshake
    /// announced); `None` when the transport has no such limit. The router
    /// answers rather than send a message past it. Kept in 32 bits: a limit
    /// of 4 GiB or more is no limit (every message limit is far below).
    pub fn max_outbound(&self) -> Option<usize> {
        (self.max_outbound != u32::MAX).then_some(self.max_outbound as usize)
    }

    /// Sets (or clears) the largest message the peer accepts.
    pub fn set_max_outbound(&mut self, max: Option<usize>) {
        self.max_outbound = max.map_or(u32::MAX, |m| u32::try_from(m).unwrap_or(u32::MAX));
    }

    /// Runs `f` on the rare box (allocated first when `alloc`), then frees
    /// the box if nothing is left in it.
    fn rare_mut(&mut self, alloc: bool, f: impl FnOnce(&mut RareInfo)) {
        if self.rare.is_none() && !alloc {
            return;
        }
        let rare = self.rare.get_or_insert_with(Default::default);
        f(rare);
        if rare.tls.is_none() && rare.http.is_none() && rare.cookie.is_none() {
            self.rare = None;
        }
    }
}

/// A login remembered under a tracking cookie (cookie authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieLogin {
    /// The realm it joined.
    pub realm: String,
    /// Its authid.
    pub authid: String,
    /// Its role.
    pub authrole: String,
    /// The method it logged in with (`ticket`, `wampcra`, ...).
    pub authmethod: String,
}

/// Where a WebSocket service keeps its tracking cookies: shared by every
/// shard (a cookie set on one is presented on another), looked at only when
/// a connection opens and when it logs in, never on the routing path.
pub trait CookieJar: std::fmt::Debug + Send + Sync {
    /// The login remembered under cookie `id`, if it has one and has not expired.
    fn login(&self, id: &str) -> Option<CookieLogin>;
    /// Remembers `login` under cookie `id` (until the cookie expires).
    fn remember(&self, id: &str, login: CookieLogin);
}

/// A link's tracking cookie.
#[derive(Debug, Clone)]
pub struct LinkCookie {
    /// The cookie's value (its ID).
    pub id: String,
    /// The service's store.
    pub jar: std::sync::Arc<dyn CookieJar>,
}

/// How a link receives what the router sends it.
#[derive(Debug, Clone)]
pub enum Output {
    /// Encoded WAMP frames in this serializer. A publish is encoded once per
    /// serializer and the same bytes are queued for every subscriber.
    Wire {
        /// The frames for the peer.
        outbox: OutboxRef,
        /// The negotiated serializer.
        serializer: Serializer,
    },
    /// Typed messages, for in-process front ends.
    Typed(MessageQueueRef),
    /// A front end that translates what the router sends into its own
    /// protocol (MQTT), with a per-publication cache so that a publication
    /// is encoded once per form the front end needs (see [`FrontSink`]).
    Sink(FrontSinkRef),
}

/// The receiving side of a front end that speaks another protocol. The
/// router calls it synchronously while it routes; an implementation
/// translates and queues, never blocks, and never calls back into the router.
pub trait FrontSink: std::fmt::Debug {
    /// A message for the peer other than an EVENT (WELCOME, ABORT,
    /// CHALLENGE, SUBSCRIBED, ERROR, PUBLISHED, GOODBYE, ...).
    ///
    /// # Errors
    /// [`Overflow`] when the front end's queue is full: the router then
    /// closes the link as a slow consumer.
    fn message(&mut self, msg: &Message) -> Result<(), Overflow>;

    /// An EVENT. [`EventOut::front_cache`] is shared by every link a
    /// publication reaches on this shard: what the first sink prepares there
    /// (an encoded packet) the others reuse. Returns whether it was queued.
    ///
    /// # Errors
    /// [`Overflow`] as for [`FrontSink::message`].
    fn event(&mut self, ev: &mut EventOut<'_, '_>) -> Result<bool, Overflow>;

    /// The router wants the link closed (after what is queued).
    fn close(&mut self, reason: CloseReason);

    /// Whether [`FrontSink::close`] was called.
    fn is_closed(&self) -> bool;
}

/// The shared handle of a [`FrontSink`] (single-threaded, like the outbox).
pub type FrontSinkRef = Rc<RefCell<dyn FrontSink>>;

impl Output {
    /// Wire output in `serializer` into a new outbox bounded at `limit` bytes.
    pub fn wire(serializer: Serializer, limit: usize) -> (Output, OutboxRef) {
        let outbox = super::outbox::Outbox::new_ref(limit);
        let out = Output::Wire {
            outbox: Rc::clone(&outbox),
            serializer,
        };
        (out, outbox)
    }

    /// Asks the front end to close the link after what is queued.
    pub fn close(&self, reason: CloseReason) {
        match self {
            Output::Wire { outbox, .. } => outbox.borrow_mut().close(reason),
            Output::Typed(q) => q.borrow_mut().close(reason),
            Output::Sink(s) => s.borrow_mut().close(reason),
        }
    }

    /// Whether the router asked for the link to be closed.
    pub fn is_closed(&self) -> bool {
        match self {
            Output::Wire { outbox, .. } => outbox.borrow().is_closed(),
            Output::Typed(q) => q.borrow().close_reason().is_some(),
            Output::Sink(s) => s.borrow().is_closed(),
        }
    }
}

/// How much of the queue limit one typed message takes. Typed messages are
/// not encoded, so their size is not known; in-process front ends drain
/// their queue promptly, and this keeps a stuck one bounded all the same.
pub const TYPED_MESSAGE_COST: usize = 256;

/// A bounded queue of typed messages for an in-process front end.
#[derive(Debug)]
pub struct MessageQueue {
    /// Messages not yet taken, oldest first.
    messages: VecDeque<Message>,
    /// Bound on `messages.len() * TYPED_MESSAGE_COST`.
    limit: usize,
    /// The consumer, parked until there is something to take.
    waker: Option<Waker>,
    /// Set once: the router wants the link closed.
    close: Option<CloseReason>,
}

/// The shared handle both sides hold (single-threaded, like the outbox).
pub type MessageQueueRef = Rc<RefCell<MessageQueue>>;

impl MessageQueue {
    /// An empty queue bounded at `limit` bytes (counted as
    /// [`TYPED_MESSAGE_COST`] per message).
    pub fn new_ref(limit: usize) -> MessageQueueRef {
        Rc::new(RefCell::new(MessageQueue {
            messages: VecDeque::new(),
            limit,
            waker: None,
            close: None,
        }))
    }

    /// Queues a message; dropped silently once the queue is closed.
    ///
    /// # Errors
    /// [`Overflow`] when the queue is full (one message always fits an empty queue).
    pub fn push(&mut self, m: Message) -> Result<(), Overflow> {
        if self.close.is_some() {
            return Ok(());
        }
        if !self.messages.is_empty() && (self.messages.len() + 1) * TYPED_MESSAGE_COST > self.limit
        {
            return Err(Overflow);
        }
        self.messages.push_back(m);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Takes every queued message.
    pub fn take(&mut self) -> Vec<Message> {
        self.messages.drain(..).collect()
    }

    /// Takes the oldest queued message.
    pub fn pop(&mut self) -> Option<Message> {
        self.messages.pop_front()
    }

    /// Takes the parked consumer's waker, so that messages queued before
    /// [`MessageQueue::unpark`] do not wake it: for a front end that feeds
    /// the router and takes what it answered at once (an HTTP bridge
    /// request), sparing its consumer task a pass for nothing.
    pub fn park_consumer(&mut self) -> Option<Waker> {
        self.waker.take()
    }

    /// Gives back a waker taken by [`MessageQueue::park_consumer`]: woken
    /// now when messages are queued or a close was requested, parked again
    /// otherwise.
    pub fn unpark(&mut self, waker: Option<Waker>) {
        let Some(w) = waker else { return };
        if !self.messages.is_empty() || self.close.is_some() {
            w.wake();
        } else if self.waker.is_none() {
            self.waker = Some(w);
        }
    }

    /// Asks the consumer to close; the first reason wins.
    pub fn close(&mut self, reason: CloseReason) {
        if self.close.is_none() {
            self.close = Some(reason);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    /// The close reason, once set.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close.as_ref()
    }

    /// Ready when messages are queued or a close was requested.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.messages.is_empty() || self.close.is_some() {
            Poll::Ready(())
        } else {
            self.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// An in-process front end: a link whose output is typed messages. Tests
/// drive the core with it, and the router's own clients use it.
#[derive(Debug, Clone)]
pub struct LocalLink {
    /// The link, once opened.
    pub id: LinkId,
    /// What the router sent.
    pub queue: MessageQueueRef,
}

impl LocalLink {
    /// Takes what the router sent since the last call.
    pub fn take(&self) -> Vec<Message> {
        self.queue.borrow_mut().take()
    }

    /// Whether the router asked for this link to be closed, and why.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.queue.borrow().close_reason().cloned()
    }
}

/// The router refused a link (e.g. the shard's session limit is reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

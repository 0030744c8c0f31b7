//! The `longpoll` path: WAMP over HTTP long-poll (the spec's "HTTP Longpoll
//! Transport"), a front end of the session API that outlives TCP
//! connections.
//!
//! - `POST <path>/open` with `{"protocols": [...]}` opens a link on the
//!   shard that got the request (a normal link: routing, authentication
//!   and the meta API treat it like a WebSocket session) and answers
//!   `{"transport": <id>, "protocol": <chosen>}`. The transport ID names its
//!   shard (four hex digits, then twelve random characters).
//! - `POST <path>/<id>/send`: the body's message(s) (batched per
//!   [`crate::proto::longpoll`]) go to the router; 204.
//! - `POST <path>/<id>/receive`: answers at once with what is queued (all of
//!   it when batched, one message when not), else waits until something is
//!   queued, up to `request_timeout` (then 204, empty). A newer receive on the
//!   same transport ends a waiting one (204), so a client that lost its poll
//!   does not wait twice.
//! - `POST <path>/<id>/close`: ends the session and the link; 204.
//! - A transport with no request for `session_timeout` seconds (and no
//!   receive waiting) is closed like a lost connection.
//! - At a graceful shutdown, a transport whose client is not polling (no
//!   receive waiting, no request for [`DRAIN_GRACE`]) is closed at once
//!   ([`drain`]) instead of holding the node until `shutdown_timeout`.
//!
//! Status codes: the spec says 202 for `send` and `close`, and calls it "no
//! content"; Crossbar.io answers 204, and Autobahn|JS's long-poll client
//! takes only 200 and 204, so Junction answers 204. Errors: 400 for a
//! malformed body or an `open` without a common protocol (text, as Crossbar),
//! 404 for an unknown transport, 405 for methods other than POST.
//!
//! Shards: a request may arrive on any shard (each TCP connection is
//! accepted by one). A request for a transport of another shard is
//! forwarded to it as a [`FrontMsg`] (see [`take_front_msgs`]) and the
//! answer comes back on a oneshot channel; the session lives, and its
//! messages are routed, on the shard that opened it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use futures::future::{Either, select};
use glommio::timer::Timer;
use rand::Rng as _;

use super::conn::{Body, HttpConn, Stop};
use super::port::WebRouter;
use crate::config::web::LongPollService;
use crate::config::{TransportConfig, TransportKind, WebSocketService};
use crate::core::api::{FrontEnd, LinkId, LinkInfo, Output};
use crate::core::cluster::FrontMsg;
use crate::core::outbox::OutboxRef;
use crate::proto::codec::json::decode_value;
use crate::proto::http::{BodyLength, Method, Request, RequestHead, ResponseBody, ResponseHead};
use crate::proto::longpoll::Protocol;
use crate::proto::{ShardId, Value};

thread_local! {
    /// This shard's long-poll sessions by transport ID.
    static SESSIONS: RefCell<AHashMap<String, Rc<LpSession>>> = RefCell::new(AHashMap::new());
}

/// Long-poll sessions open on this shard (tests, status).
pub fn sessions_on_shard() -> usize {
    SESSIONS.with(|s| s.borrow().len())
}

/// A `longpoll` path, prepared once per listener and shard.
#[derive(Debug)]
pub(crate) struct LongPoll {
    /// The transport its links report: a `websocket` view of the web
    /// transport with default WAMP settings (every serializer, anonymous
    /// authentication), as Crossbar's long-poll service has no `auth`.
    transport: Rc<TransportConfig>,
    /// The path's options.
    options: LongPollService,
    /// Identifies the path (transport ID and HTTP path): a transport ID of
    /// another long-poll path is unknown here.
    key: Rc<str>,
}

impl LongPoll {
    /// The `longpoll` path at `http_path` of `transport`.
    pub fn new(transport: &TransportConfig, options: &LongPollService, http_path: &str) -> Self {
        LongPoll {
            transport: Rc::new(
                transport.service(TransportKind::WebSocket(WebSocketService::default())),
            ),
            options: options.clone(),
            key: Rc::from(format!("{}{http_path}", transport.id)),
        }
    }
}

/// One long-poll session on its shard.
struct LpSession {
    router: Rc<dyn WebRouter>,
    link: LinkId,
    outbox: OutboxRef,
    protocol: Protocol,
    key: Rc<str>,
    /// The last request seen (the session timeout counts from it).
    last_seen: Cell<Instant>,
    /// Counts receives: a waiting receive ends when a newer one starts.
    polls: Cell<u64>,
    /// A receive is waiting.
    receiving: Cell<bool>,
    /// The waiting receive's task.
    poll_waker: RefCell<Option<Waker>>,
    /// Closed and forgotten.
    gone: Cell<bool>,
    /// The bodies of receives' answers that did not reach their client
    /// (the connection went away), oldest first: they go out before what
    /// is queued, with the next receive (all of them when batched, one per
    /// receive when not).
    returned: RefCell<VecDeque<Bytes>>,
    request_timeout: Duration,
    session_timeout: Duration,
    /// `queue_limit_messages`: undelivered messages beyond it close the session.
    max_queued: usize,
}

impl LpSession {
    /// Whether more messages wait than `queue_limit_messages` allows (the
    /// byte limit is the outbox's own, enforced by the router).
    fn over_limit(&self) -> bool {
        self.outbox.borrow().len() > self.max_queued
    }

    fn touch(&self) {
        self.last_seen.set(Instant::now());
    }

    /// Takes back the messages of a receive's answer that did not reach its
    /// client: they go out, in front of what was queued since, with the
    /// next receive (which a waiting one is woken to make).
    fn give_back(&self, body: Bytes) {
        if self.gone.get() || body.is_empty() {
            return;
        }
        self.returned.borrow_mut().push_back(body);
        if let Some(w) = self.poll_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Ends the session: the link closes, the transport ID is forgotten.
    fn kill(&self, id: &str) {
        if self.gone.replace(true) {
            return;
        }
        SESSIONS.with(|s| s.borrow_mut().remove(id));
        if let Some(w) = self.poll_waker.borrow_mut().take() {
            w.wake();
        }
        self.router.close(self.link);
    }
}

/// What a request asks of an open transport.
#[derive(Debug)]
enum Op {
    Send(Bytes),
    Receive,
    Close,
    /// A receive's messages whose answer did not reach the client.
    GiveBack(Bytes),
}

/// An answer, made on the transport's shard (it may travel back to another).
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Bytes,
    /// The body carries messages taken off the session's queue (a
    /// receive's answer): should it not reach the client, they are given
    /// back.
    messages: bool,
}

impl Reply {
    fn empty(status: u16) -> Reply {
        Reply {
            status,
            content_type: "",
            body: Bytes::new(),
            messages: false,
        }
    }

    fn text(status: u16, text: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(text.into()),
            messages: false,
        }
    }
}

/// A request for a transport of another shard.
struct Forward {
    id: String,
    key: String,
    op: Op,
    reply: oneshot::Sender<Reply>,
}

/// Takes the long-poll requests out of front-end messages that arrived from
/// other shards and runs each in a task of its own (the router may be
/// borrowed by the caller); returns the other messages.
pub fn take_front_msgs(msgs: Vec<FrontMsg>) -> Vec<FrontMsg> {
    let mut rest = Vec::new();
    for m in msgs {
        match m.0.downcast::<Forward>() {
            Ok(f) => {
                glommio::spawn_local(async move {
                    // The caller holds the router: go on once it let go.
                    futures_lite::future::yield_now().await;
                    let Forward { id, key, op, reply } = *f;
                    let Some(s) = lookup(&id, &key) else {
                        let _ = reply.send(unknown(&id));
                        return;
                    };
                    let r = run_op(Rc::clone(&s), &id, op).await;
                    // The requesting shard let go (its client went away):
                    // a receive's messages stay queued.
                    if let Err(r) = reply.send(r)
                        && r.messages
                    {
                        s.give_back(r.body);
                    }
                })
                .detach();
            }
            Err(other) => rest.push(FrontMsg(other)),
        }
    }
    rest
}

fn lookup(id: &str, key: &str) -> Option<Rc<LpSession>> {
    SESSIONS
        .with(|s| s.borrow().get(id).cloned())
        .filter(|s| &*s.key == key && !s.gone.get())
}

fn unknown(id: &str) -> Reply {
    Reply::text(404, format!("no WAMP transport '{id}'"))
}

/// The shard a transport ID names.
fn owner_of(id: &str) -> Option<ShardId> {
    let hex = id.get(..4)?;
    u16::from_str_radix(hex, 16).ok().map(ShardId)
}

/// Runs `op` on a transport of this shard.
async fn run_op(s: Rc<LpSession>, id: &str, op: Op) -> Reply {
    s.touch();
    if s.over_limit() {
        tracing::info!(transport = %id, "long-poll session closed: queue_limit_messages reached");
        s.kill(id);
        return unknown(id);
    }
    match op {
        Op::Send(body) => {
            let frames = match s.protocol.split(&body) {
                Ok(f) => f,
                Err(e) => {
                    return Reply::text(400, format!("could not unserialize WAMP message: {e}"));
                }
            };
            for f in frames {
                if s.gone.get() {
                    break;
                }
                s.router.feed_frame(s.link, f);
            }
            Reply::empty(204)
        }
        Op::Close => {
            s.kill(id);
            Reply::empty(204)
        }
        Op::GiveBack(body) => {
            s.give_back(body);
            Reply::empty(204)
        }
        Op::Receive => receive(&s, id).await,
    }
}

/// Why a receive stopped waiting.
enum Woke {
    Ready,
    Superseded,
    TimedOut,
    Gone,
}

async fn receive(s: &Rc<LpSession>, id: &str) -> Reply {
    let epoch = s.polls.get() + 1;
    s.polls.set(epoch);
    if let Some(w) = s.poll_waker.borrow_mut().take() {
        w.wake();
    }
    s.receiving.set(true);
    // Clears the waiting state also when the receive is dropped while it
    // waits (its client went away).
    let _waiting = Waiting { s, epoch };
    let mut timer = (!s.request_timeout.is_zero()).then(|| Timer::new(s.request_timeout));
    let woke = poll_fn(|cx| {
        if s.gone.get() {
            return Poll::Ready(Woke::Gone);
        }
        if s.polls.get() != epoch {
            return Poll::Ready(Woke::Superseded);
        }
        if !s.returned.borrow().is_empty() || s.outbox.borrow_mut().poll_ready(cx).is_ready() {
            return Poll::Ready(Woke::Ready);
        }
        *s.poll_waker.borrow_mut() = Some(cx.waker().clone());
        if let Some(t) = timer.as_mut()
            && Pin::new(t).poll(cx).is_ready()
        {
            return Poll::Ready(Woke::TimedOut);
        }
        Poll::Pending
    })
    .await;
    s.touch();
    match woke {
        Woke::Gone => unknown(id),
        Woke::Superseded | Woke::TimedOut => Reply::empty(204),
        Woke::Ready => {
            let body = {
                let mut ob = s.outbox.borrow_mut();
                let mut returned = s.returned.borrow_mut();
                if !s.protocol.batched
                    && let Some(one) = returned.pop_front()
                {
                    // One message per answer when not batched: what was
                    // given back is one.
                    return messages(s, one);
                }
                let mut out = BytesMut::new();
                for b in returned.drain(..) {
                    out.extend_from_slice(&b);
                }
                while let Some(f) = ob.pop_written() {
                    s.protocol.append(&f, &mut out);
                    if !s.protocol.batched {
                        break;
                    }
                }
                out
            };
            if body.is_empty() {
                // The router closed the link (GOODBYE done, ABORT, slow
                // consumer) and everything was delivered.
                s.kill(id);
                return unknown(id);
            }
            messages(s, body.freeze())
        }
    }
}

/// A receive's answer carrying `body`, messages taken off the queue.
fn messages(s: &LpSession, body: Bytes) -> Reply {
    Reply {
        status: 200,
        content_type: s.protocol.mime_type(),
        body,
        messages: true,
    }
}

/// A receive waiting on its session; ends the wait when dropped.
struct Waiting<'a> {
    s: &'a LpSession,
    epoch: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.s.polls.get() == self.epoch {
            self.s.receiving.set(false);
            self.s.poll_waker.borrow_mut().take();
        }
    }
}

/// Closes `s` once it has seen no request for its session timeout.
async fn watchdog(s: std::rc::Weak<LpSession>, id: String, timeout: Duration) {
    let tick = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        Timer::new(tick).await;
        let Some(s) = s.upgrade() else {
            return;
        };
        if s.gone.get() {
            return;
        }
        if s.over_limit() {
            tracing::info!(transport = %id, "long-poll session closed: queue_limit_messages reached");
            s.kill(&id);
            return;
        }
        if s.receiving.get() {
            s.touch();
            continue;
        }
        if s.last_seen.get().elapsed() >= timeout {
            tracing::debug!(transport = %id, "long-poll session timed out");
            s.kill(&id);
            return;
        }
    }
}

/// How long a draining shard waits for a long-poll client that is not
/// polling (no receive waiting) to come back for its GOODBYE. A client that
/// polls sends its next receive within milliseconds of an answer.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How often [`drain`] looks at this shard's sessions.
const DRAIN_TICK: Duration = Duration::from_millis(250);

/// Called when the shard drains (graceful shutdown), after the router queued
/// GOODBYE to every session: ends, as lost connections, the long-poll
/// sessions whose client is not polling (no receive waiting and no request
/// for [`DRAIN_GRACE`]). Without it, a client that went away without
/// closing its transport would hold the node for its whole
/// `shutdown_timeout` (the session timeout, 30 s by default, is longer).
/// A client that is polling collects the GOODBYE and answers it like any
/// other. Runs until no session is left on this shard.
pub fn drain() {
    glommio::spawn_local(async {
        loop {
            let ended: Vec<(String, Rc<LpSession>, bool)> = SESSIONS.with(|s| {
                s.borrow()
                    .iter()
                    .filter_map(|(id, s)| {
                        // The router closed the link (the client answered
                        // the GOODBYE) and everything was delivered.
                        let done = s.outbox.borrow().is_closed()
                            && s.outbox.borrow().is_empty()
                            && s.returned.borrow().is_empty();
                        let idle = !s.receiving.get() && s.last_seen.get().elapsed() >= DRAIN_GRACE;
                        (done || idle).then(|| (id.clone(), Rc::clone(s), done))
                    })
                    .collect()
            });
            for (id, s, done) in ended {
                if done {
                    tracing::debug!(transport = %id, "long-poll session ended at shutdown");
                } else {
                    tracing::info!(
                        transport = %id,
                        "long-poll session closed at shutdown: its client is not polling"
                    );
                }
                s.kill(&id);
            }
            if SESSIONS.with(|s| s.borrow().is_empty()) {
                return;
            }
            Timer::new(DRAIN_TICK).await;
        }
    })
    .detach();
}

/// Opens a transport: `{"protocols": [...]}` → `{"transport", "protocol"}`.
fn open(lp: &LongPoll, router: &Rc<dyn WebRouter>, peer: &str, body: &[u8]) -> Reply {
    let Ok(Value::Dict(d)) = decode_value(body) else {
        return Reply::text(400, "could not parse WAMP session open request body");
    };
    let Some(Value::List(offered)) = d.get("protocols") else {
        return Reply::text(
            400,
            "missing attribute 'protocols' in WAMP session open request",
        );
    };
    let names = offered.iter().filter_map(Value::as_str);
    let Some(protocol) = Protocol::choose(names, &lp.transport.serializers) else {
        return Reply::text(
            400,
            "no common protocol to speak (I speak: wamp.2.json, wamp.2.msgpack, wamp.2.cbor, each also .batched)",
        );
    };
    let (shard, _) = router.shard();
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    let id = format!("{:04x}{suffix}", shard.0);
    let (out, outbox) = Output::wire(protocol.serializer, lp.options.queue_limit_bytes.max(1));
    let info = LinkInfo::new(Rc::clone(&lp.transport), FrontEnd::LongPoll, peer);
    let link = match router.open(info, out) {
        Ok(l) => l,
        Err(e) => return Reply::text(503, e.0),
    };
    let s = Rc::new(LpSession {
        router: Rc::clone(router),
        link,
        outbox,
        protocol,
        key: Rc::clone(&lp.key),
        last_seen: Cell::new(Instant::now()),
        polls: Cell::new(0),
        receiving: Cell::new(false),
        poll_waker: RefCell::new(None),
        gone: Cell::new(false),
        returned: RefCell::new(VecDeque::new()),
        request_timeout: Duration::from_secs(lp.options.request_timeout_s),
        session_timeout: Duration::from_secs(lp.options.session_timeout_s),
        max_queued: lp.options.queue_limit_messages.max(1),
    });
    if !s.session_timeout.is_zero() {
        glommio::spawn_local(watchdog(Rc::downgrade(&s), id.clone(), s.session_timeout)).detach();
    }
    SESSIONS.with(|m| m.borrow_mut().insert(id.clone(), s));
    let mut answer = BytesMut::new();
    let doc = crate::proto::Dict::new()
        .with("transport", id.as_str())
        .with("protocol", protocol.name());
    crate::proto::codec::json::encode_value(&Value::Dict(doc), &mut answer);
    Reply {
        status: 200,
        content_type: "application/json; charset=utf-8",
        body: answer.freeze(),
        messages: false,
    }
}

/// Answers a request on a `longpoll` path (`rest`: the path below it).
pub(super) async fn answer(
    c: &mut HttpConn,
    lp: &LongPoll,
    router: Option<&Rc<dyn WebRouter>>,
    peer: &str,
    req: &Request,
    rest: &str,
) -> Result<(u16, u64), Stop> {
    let method = req.head.method();
    let mut body = BytesMut::new();
    if req.framing.body != BodyLength::Empty {
        while let Some(piece) = c.body_piece().await? {
            body.extend_from_slice(&piece);
        }
    }
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let reply = match (method, parts.as_slice()) {
        (Method::Options, _) => {
            let mut head = ResponseHead::new(204);
            let _ = head.header("Allow", "POST, OPTIONS");
            let _ = head.header("Access-Control-Allow-Methods", "POST, OPTIONS");
            return send(c, &req.head, head, Reply::empty(204)).await;
        }
        (Method::Get | Method::Head, []) => Reply::text(
            200,
            "This is a WAMP-over-Longpoll endpoint: POST <this URL>/open to start.\n",
        ),
        (Method::Post, _) => match (router, parts.as_slice()) {
            (None, _) => Reply::text(503, "the router is not reachable"),
            (Some(r), ["open"]) => open(lp, r, peer, &body),
            (Some(r), [id, op @ ("send" | "receive" | "close")]) => {
                let op = match *op {
                    "send" => Op::Send(body.freeze()),
                    "receive" => return receive_for(c, lp, r, &req.head, id).await,
                    _ => Op::Close,
                };
                on_transport(lp, r, id, op).await
            }
            _ => Reply::text(404, "not found"),
        },
        _ => {
            let mut head = ResponseHead::method_not_allowed(&[Method::Post]);
            let r = Reply::text(405, "only POST is accepted here");
            head.body(ResponseBody::Length(r.body.len() as u64));
            return send(c, &req.head, head, r).await;
        }
    };
    let head = ResponseHead::new(reply.status);
    send(c, &req.head, head, reply).await
}

/// A receive for a client on `c`: the wait ends when the client goes away
/// (nothing is taken off the queue then), and an answer with messages
/// that cannot be written to it gives them back to the session, to go out
/// with the next receive.
async fn receive_for(
    c: &mut HttpConn,
    lp: &LongPoll,
    router: &Rc<dyn WebRouter>,
    req: &RequestHead<Bytes>,
    id: &str,
) -> Result<(u16, u64), Stop> {
    let reply = {
        let run = pin!(on_transport(lp, router, id, Op::Receive));
        let gone = pin!(c.peer_gone());
        match select(run, gone).await {
            Either::Left((reply, _)) => reply,
            Either::Right(((), _)) => {
                tracing::debug!(transport = %id, "long-poll client went away while receiving");
                return Err(Stop);
            }
        }
    };
    let taken = reply.messages.then(|| reply.body.clone());
    // The client may have gone in the same turn as the messages came.
    let gone = futures::poll!(pin!(c.peer_gone())).is_ready();
    let sent = if gone {
        Err(Stop)
    } else {
        send(c, req, ResponseHead::new(reply.status), reply).await
    };
    if sent.is_err()
        && let Some(body) = taken
    {
        tracing::debug!(transport = %id, "long-poll answer not delivered; its messages stay queued");
        on_transport(lp, router, id, Op::GiveBack(body)).await;
    }
    sent
}

/// Runs `op` on transport `id`, here or on its shard.
async fn on_transport(lp: &LongPoll, router: &Rc<dyn WebRouter>, id: &str, op: Op) -> Reply {
    let (here, shards) = router.shard();
    let Some(owner) = owner_of(id).filter(|o| o.0 < shards) else {
        return unknown(id);
    };
    if owner == here {
        return match lookup(id, &lp.key) {
            Some(s) => run_op(s, id, op).await,
            None => unknown(id),
        };
    }
    let (tx, rx) = oneshot::channel();
    let fwd = Forward {
        id: id.to_owned(),
        key: lp.key.to_string(),
        op,
        reply: tx,
    };
    router.send_front(owner, FrontMsg(Box::new(fwd)));
    rx.await
        .unwrap_or_else(|_| Reply::text(503, "the transport's shard did not answer"))
}

/// Writes `reply` with `head` and the long-poll service's standard fields.
async fn send(
    c: &mut HttpConn,
    req: &RequestHead<Bytes>,
    mut head: ResponseHead,
    reply: Reply,
) -> Result<(u16, u64), Stop> {
    super::reply::cross_origin(req, &mut head);
    let _ = head.header(
        "Cache-Control",
        "no-store, no-cache, must-revalidate, max-age=0",
    );
    if !reply.content_type.is_empty() {
        let _ = head.header("Content-Type", reply.content_type);
    }
    let body = if reply.status == 204 {
        head.body(ResponseBody::Empty);
        Body::Empty
    } else {
        head.body(ResponseBody::Length(reply.body.len() as u64));
        Body::Bytes(reply.body)
    };
    let sent = c.respond(&head, body).await?;
    Ok((head.status(), sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_ids_name_their_shard() {
        assert_eq!(owner_of("0003abcdefghijkl"), Some(ShardId(3)));
        assert_eq!(owner_of("00ffx"), Some(ShardId(255)));
        assert_eq!(owner_of("zzzzabc"), None);
        assert_eq!(owner_of("01"), None);
    }
}

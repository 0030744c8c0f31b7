//! The MQTT connection driver: CONNECT (within `connect_timeout`), the
//! router link and its authentication, then packets both ways until one
//! side ends, then the will and the link's end.
//!
//! Reads go into the shard's scratch buffer; the bytes of whole packets are
//! copied once into a buffer the decoded packets slice (payloads stay
//! zero-copy from there on), and only an incomplete packet's tail is kept
//! per connection. Writes are vectored: per queued PUBLISH a head written on
//! the stack for this client, then the shared payload; control packets
//! inline. Keep-alive: no packet for 1.5 × the keep-alive ends the
//! connection (MQTT-3.1.2-22), with the will.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::Future;
use glommio::timer::Timer;

use super::connect::{assigned_client_id, decode_limits, hello, read_connect, refusal};
use super::inbound::{self, Violation};
use super::keepalive::KeepAlive;
use super::out::Item;
use super::state::{Phase, State, StateRef};
use super::will::{self, WillAt};
use super::{PortMesh, RouterPort, Service, takeover};
use crate::core::api::{FrontEnd, LinkInfo, Output};
use crate::core::cluster::FrontMsg;
use crate::proto::Message;
use crate::proto::mqtt::{
    self, ConnAck, ConnAckProperties, Connect, MqttString, Packet, ReasonCode, Version,
};
use crate::transport::conn::{with_scratch, write_all};
use crate::transport::socket::Socket;
use crate::transport::{CLOSE_TIMEOUT, STALL_TICK, Stream, with_timeout};

/// Reads per wake before yielding.
const READS_PER_WAKE: usize = 16;
/// Writes per wake before yielding.
const WRITES_PER_WAKE: usize = 16;
/// Items per vectored write.
const ITEMS_PER_WRITE: usize = 64;
/// Room for the heads of one write.
const HEADS: usize = 8192;

/// Serves one MQTT connection whose first bytes (`first`, possibly empty)
/// were already read (a universal listener sniffed them).
///
/// The future is small (see the test bounding it): while the session runs
/// it is the `Session` alone (the service is the state's). The CONNECT
/// phase and the end
/// run in boxed futures of their own, so their buffers, timers and decoded
/// packets are gone while the session runs; the arguments go into the
/// boxed CONNECT phase at once.
pub fn serve_mqtt(
    sock: Stream,
    peer: String,
    svc: Rc<Service>,
    router: Rc<dyn RouterPort>,
    first: Vec<u8>,
) -> impl Future<Output = ()> {
    if !svc.admit() {
        tracing::debug!(%peer, "MQTT listener at max_connections: connection refused");
        return Serve::Done;
    }
    let opening = Box::pin(open(sock, peer, Rc::clone(&svc), router, first));
    Serve::Opening(opening, svc)
}

/// A boxed phase of a connection.
type Phased<T> = Pin<Box<dyn Future<Output = T>>>;

/// The phases of [`serve_mqtt`], by hand: a compiler-made future would
/// keep room for every phase's locals at once.
enum Serve {
    /// CONNECT, up to the session's start.
    Opening(Phased<Option<Session>>, Rc<Service>),
    /// The session's main phase (the service is the state's).
    Main(Session),
    /// The end (will, link, socket).
    Finishing(Phased<()>, Rc<Service>),
    /// Over (or refused at `max_connections`).
    Done,
}

impl Future for Serve {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let next = match this {
                Serve::Opening(f, svc) => match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(session)) => Serve::Main(session),
                    Poll::Ready(None) => {
                        svc.release();
                        Serve::Done
                    }
                },
                Serve::Main(session) => {
                    let Poll::Ready(end) = session.poll_main(cx) else {
                        return Poll::Pending;
                    };
                    if let Some(ka) = session.keep_alive.take() {
                        ka.release(cx.waker());
                    }
                    match std::mem::replace(this, Serve::Done) {
                        Serve::Main(session) => {
                            let svc = Rc::clone(&session.state.borrow().svc);
                            Serve::Finishing(Box::pin(session.finish(end)), svc)
                        }
                        other => other,
                    }
                }
                Serve::Finishing(f, svc) => match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        svc.release();
                        Serve::Done
                    }
                },
                Serve::Done => return Poll::Ready(()),
            };
            *this = next;
        }
    }
}

/// The CONNECT phase: the first packet within `connect_timeout`, then the
/// session (or the refusal, answered here).
async fn open(
    mut sock: Stream,
    peer: String,
    svc: Rc<Service>,
    router: Rc<dyn RouterPort>,
    first: Vec<u8>,
) -> Option<Session> {
    let svc = &svc;
    let limits = decode_limits(svc);
    let mut buf = BytesMut::from(&first[..]);
    let timeout = Duration::from_millis(svc.limits.connect_timeout_ms);
    let connect = with_timeout(timeout, read_connect(&mut sock, &mut buf, &limits)).await;
    let connect = match connect {
        None => {
            tracing::debug!(%peer, "no CONNECT within connect_timeout");
            return None;
        }
        Some(Err(_)) if crate::transport::tls::looks_like_tls(&buf) => {
            crate::transport::tls::refuse_tls_client(&mut sock, &peer, &svc.transport.id).await;
            return None;
        }
        Some(Err(refusal)) => {
            if let Some((bytes, _)) = refusal {
                let _ = write_all(&mut sock, &bytes).await;
            }
            let _ = sock.shutdown_write();
            return None;
        }
        Some(Ok(c)) => c,
    };
    match Session::start(sock, peer, svc, router, *connect, buf) {
        Ok(session) => Some(session),
        Err((mut sock, bytes)) => {
            let _ = write_all(&mut sock, &bytes).await;
            let _ = sock.shutdown_write();
            None
        }
    }
}

thread_local! {
    /// The messages decoded packets ask the router for, reused by every
    /// connection of the shard ([`Session::decode_all`]).
    static FEED: std::cell::Cell<Vec<Message>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An acknowledgement waiting for a WAL marker: PUBACK/PUBREC of a packet.
type Ack = (mqtt::PacketId, mqtt::QoS, ReasonCode);

/// The will when a connection ends (`keep`: its session stays offline
/// here): published now (returned), kept waiting with the offline session
/// (MQTT 5 Will Delay Interval), or dropped; see [`will::plan`].
fn end_will(s: &mut State, keep: bool) -> Option<Message> {
    // Every end but a DISCONNECT is abnormal, and a DISCONNECT cleared the
    // will unless it asked for it (0x04): a will still here fires.
    let fires = s.rare.will.is_some();
    let moved = s.rare.forward.is_some() || s.rare.handed.is_some();
    // The router stops: a durable session stays in the store, its will too.
    let stored_at_stop = s.rare.router_ended && s.p.persistent() && s.p.inc != 0;
    let kept = (keep && s.rare.handed.is_none()) || stored_at_stop;
    let delay = s
        .rare
        .will
        .as_ref()
        .map_or(0, |w| will::delay_of(w, s.version));
    let at = will::plan(fires, delay, kept, moved);
    let out = match at {
        WillAt::Now => inbound::will_publish(s),
        WillAt::Later(d) => {
            will::defer(s, d);
            None
        }
        WillAt::Never => None,
    };
    if kept && at != WillAt::Later(delay) {
        will::forget(s);
    }
    if at == WillAt::Never {
        s.rare.will = None;
    }
    out
}

/// How the main phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer went away (EOF, error): abnormal, the will fires.
    Gone,
    /// We end it after writing what is queued (DISCONNECT either way, a refusal).
    Closed,
    /// A rule was broken or time ran out: abnormal.
    Failed,
}

/// A connected client.
struct Session {
    sock: Stream,
    state: StateRef,
    router: Rc<dyn RouterPort>,
    /// An incomplete packet's tail (boxed: most connections have none
    /// between reads).
    inbuf: Option<Box<BytesMut>>,
    /// Octets of the front item already written.
    front_sent: usize,
    /// Keep-alive: the limit (1.5 × keep-alive) and the last packet's
    /// arrival, enforced by the shard's sweep (`keepalive.rs`).
    keep_alive: Option<KeepAlive>,
    /// Since when writes have been stuck after the close was decided
    /// (boxed: only a closing connection whose peer stopped reading has it).
    stall: Option<Box<(Instant, Timer)>>,
    /// Acknowledgements waiting for WAL markers (allocated while some wait).
    durable: Option<Box<Durable>>,
}

/// PUBACK/PUBREC waiting for a WAL marker, oldest first; the timer that
/// looks again.
#[derive(Default)]
struct Durable {
    acks: std::collections::VecDeque<(Arc<AtomicUsize>, Vec<Ack>)>,
    timer: Option<Timer>,
}

impl Session {
    /// Checks the CONNECT, takes over an existing session of the client
    /// identifier, opens the link and sends HELLO.
    #[allow(clippy::result_large_err)]
    fn start(
        mut sock: Stream,
        peer: String,
        svc: &Rc<Service>,
        router: Rc<dyn RouterPort>,
        c: Connect,
        leftover: BytesMut,
    ) -> Result<Session, (Stream, Vec<u8>)> {
        let version = c.version;
        let mut assigned = None;
        let client_id = if c.client_id.is_empty() {
            if version == Version::V311 && !c.clean_start {
                // MQTT-3.1.3-8.
                return Err((sock, refusal(version, ReasonCode::ClientIdentifierNotValid)));
            }
            let id = assigned_client_id();
            assigned = Some(id.clone());
            id
        } else {
            c.client_id.as_str().to_owned()
        };
        if let Some(w) = &c.will
            && !inbound::will_topic_allowed(&w.topic)
        {
            return Err((sock, refusal(version, ReasonCode::NotAuthorized)));
        }
        if let Some(code) = super::connect::auth_refusal(svc, &c, &peer) {
            return Err((sock, refusal(version, code)));
        }
        let mut st = State::new(Rc::clone(svc), version, client_id.clone());
        // What the client announced (5.0).
        if version == Version::V5 {
            let p = &c.properties;
            if let Some(rm) = p.receive_maximum {
                st.send_max = rm;
            }
            if let Some(mps) = p.maximum_packet_size {
                st.rare.max_packet_out = mps;
            }
            st.rare.alias_out_max = p.topic_alias_maximum.unwrap_or(0);
        }
        // Keep-alive: capped by max_keep_alive; 0 (none) gets the cap in 5.0.
        let max_ka = svc.limits.max_keep_alive_s;
        let mut server_keep_alive = None;
        let ka = if version == Version::V5 && (c.keep_alive == 0 || c.keep_alive > max_ka) {
            if max_ka != u16::MAX || c.keep_alive > max_ka {
                server_keep_alive = Some(max_ka);
                max_ka
            } else {
                0
            }
        } else {
            c.keep_alive
        };
        let mut props = ConnAckProperties::default();
        if version == Version::V5 {
            props.receive_maximum = Some(svc.limits.max_inflight);
            props.maximum_packet_size = Some(svc.limits.max_packet_size as u32);
            props.topic_alias_maximum = Some(svc.topic_alias_max);
            props.retain_available = Some(true);
            props.wildcard_subscription_available = Some(true);
            props.subscription_identifiers_available = Some(true);
            props.shared_subscription_available = Some(true);
            props.server_keep_alive = server_keep_alive;
            // Enhanced authentication (`WAMP-CRA`, see `connect.rs`).
            props.authentication_method = c.properties.authentication_method.clone();
            if let Some(id) = &assigned {
                props.assigned_client_identifier = MqttString::try_from(id.as_str()).ok();
            }
        }
        st.rare.connack = Some(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: props,
        }));
        st.rare.credentials = c.username.is_some() && c.password.is_some();
        st.rare.password = c
            .password
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into());
        st.rare.will = c.will.clone().map(Box::new);
        // Session Expiry (5.0) or clean session 0 (3.1.1: kept up to the cap).
        let requested_expiry = match version {
            Version::V5 => c.properties.session_expiry_interval.unwrap_or(0),
            Version::V311 if !c.clean_start => u32::MAX,
            Version::V311 => 0,
        };
        st.expiry_asked = requested_expiry > 0;
        st.p.expiry_s = requested_expiry.min(svc.limits.max_session_expiry_s);
        let token = takeover::new_token(router.shard().0);
        st.token = token;
        let state = Rc::new(RefCell::new(st));
        // Takeover: an earlier connection of this client, on any shard,
        // ends; its session is resumed unless this is a clean start.
        takeover::claim(
            &PortMesh(&*router),
            &client_id,
            token,
            &state,
            !c.clean_start,
        );
        let mut info = LinkInfo::new(Rc::clone(&svc.transport), FrontEnd::Mqtt, peer);
        info.set_tls(sock.take_tls_info());
        let certificate = info.tls().is_some_and(|t| t.peer_certificate.is_some());
        let sink: crate::core::api::FrontSinkRef = Rc::<RefCell<State>>::clone(&state);
        let link = match router.open(info, Output::Sink(sink)) {
            Ok(l) => l,
            Err(_) => {
                takeover::release(&PortMesh(&*router), &client_id, token, &state);
                return Err((sock, refusal(version, ReasonCode::ServerBusy)));
            }
        };
        state.borrow_mut().link = Some(link);
        let hello = hello(svc, &c, &client_id, certificate);
        let keep_alive =
            (ka > 0).then(|| KeepAlive::new(Duration::from_millis(u64::from(ka) * 1500)));
        let session = Session {
            sock,
            state,
            router,
            // The CONNECT's read buffer goes unless whole packets wait in it.
            inbuf: (!leftover.is_empty()).then(|| Box::new(leftover)),
            front_sent: 0,
            keep_alive,
            stall: None,
            durable: None,
        };
        session.router.feed(link, hello);
        Ok(session)
    }

    /// The end, after the main phase ([`Session::poll_main`]): the will
    /// when the end was abnormal, the link closed (or kept for a persistent
    /// session, now offline), the socket shut.
    async fn finish(mut self, end: End) {
        self.run_todo();
        let (link, will, client_id, token, offline) = {
            let mut s = self.state.borrow_mut();
            s.phase = Phase::Closing;
            // Acknowledgements not sent: the client sends again.
            s.rare.pending_pubs.clear();
            if let Some((shard, token)) = s.rare.resume.from {
                // The session's old shard waits for this connection's
                // subscriptions: it may send the tail now (it is queued
                // here, or passed on when this session was handed on).
                let msg = super::mesh::Takeover::Subscribed {
                    client: s.client_id.to_string(),
                    token,
                };
                s.chores().front.push((shard, msg));
            }
            let keep = s.p.persistent()
                && !s.rare.router_ended
                && s.rare.forward.is_none()
                && s.link.is_some();
            let offline = keep || (s.rare.handed.is_some() && s.link.is_some());
            let will = end_will(&mut s, keep);
            if !offline && s.rare.forward.is_none() && s.rare.handed.is_none() {
                if s.rare.router_ended && s.p.persistent() {
                    // The router shuts down: the stored session stays for
                    // the next start.
                    let meta = s.p.meta(s.version, &s.svc.transport.id, false);
                    s.write(crate::store::mqtt::Record::Meta(meta));
                } else {
                    s.leave_shares();
                    s.end_incarnation();
                }
                s.p.clear();
            }
            let link = if offline { s.link } else { s.link.take() };
            (link, will, Rc::clone(&s.client_id), s.token, offline)
        };
        self.run_todo();
        if let Some(link) = link {
            if let Some(w) = will {
                self.router.feed(link, w);
            }
            if !offline {
                self.router.close(link);
            }
        }
        if offline {
            super::offline::park(Rc::clone(&self.state), Rc::clone(&self.router));
        } else {
            takeover::release(&PortMesh(&*self.router), &client_id, token, &self.state);
        }
        if end != End::Gone {
            // Let the peer read what we sent (a DISCONNECT with its reason
            // code) before it sees the end: closing with its data unread
            // would reset the connection and lose the DISCONNECT.
            let _ = self.sock.shutdown_write();
            let _ = with_timeout(
                CLOSE_TIMEOUT,
                poll_fn(|cx| {
                    with_scratch(|b| match self.sock.poll_read(cx, b) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(()),
                        Poll::Ready(Ok(_)) => {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                    })
                }),
            )
            .await;
        }
    }

    fn poll_main(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        self.state.borrow_mut().waker = Some(cx.waker().clone());
        self.run_todo();
        self.poll_durable(cx);
        if let Some(end) = self.poll_read(cx) {
            return Poll::Ready(end);
        }
        if let Some(end) = self.poll_keep_alive(cx) {
            return Poll::Ready(end);
        }
        match self.poll_write(cx) {
            Some(end) => Poll::Ready(end),
            None => {
                // Parked: what only some connections use goes if unused
                // (e.g. a SUBSCRIBE's bookkeeping once its SUBACK went).
                self.state.borrow_mut().tidy();
                Poll::Pending
            }
        }
    }

    /// Feeds what the sink asked for (AUTHENTICATE after CHALLENGE, the
    /// subscriptions of a resumed session) and does its chores (takeover
    /// messages, an old link to close, WAL markers before acknowledgements).
    fn run_todo(&mut self) {
        loop {
            let (todo, link, old_will, chores) = {
                let mut s = self.state.borrow_mut();
                if s.rare
                    .requests
                    .as_ref()
                    .is_some_and(|r| !r.answers.is_empty())
                {
                    super::request::answer(&mut s);
                }
                let will = match s.rare.allocated_mut() {
                    Some(r) => r.resume.take_old_wills(),
                    None => Vec::new(),
                };
                (s.take_todo(), s.link, will, s.take_chores())
            };
            if todo.is_empty() && old_will.is_empty() && chores.is_empty() {
                return;
            }
            for (old, will) in old_will {
                self.router.feed(old, will);
            }
            if let Some(link) = link {
                for m in todo {
                    self.router.feed(link, m);
                }
            }
            let mesh = PortMesh(&*self.router);
            for (to, msg) in chores.front {
                takeover::send_or_handle(&mesh, to, msg);
            }
            for link in chores.close {
                self.router.close(link);
            }
            for msg in chores.share {
                super::share::send(&mesh, None, msg);
            }
            if !chores.marks.is_empty() {
                self.mark(chores.marks);
            }
        }
    }

    /// Queues a WAL marker behind what the router wrote for these
    /// publications, here and (through the mesh, FIFO behind the
    /// publications) on every other shard; their PUBACK/PUBREC go once all
    /// are acknowledged (at once when the marker cannot be queued).
    fn mark(&mut self, acks: Vec<Ack>) {
        let (me, shards) = self.router.shard();
        let left = Arc::new(AtomicUsize::new(usize::from(shards.max(1))));
        let realm = self.state.borrow().svc.realm.clone();
        for s in 0..shards {
            let mark = takeover::DurableMark {
                realm: realm.clone(),
                left: Arc::clone(&left),
            };
            if s == me.0 {
                mark.queue();
            } else {
                self.router
                    .send_front(crate::proto::ShardId(s), FrontMsg(Box::new(mark)));
            }
        }
        self.durable
            .get_or_insert_with(Box::default)
            .acks
            .push_back((left, acks));
    }

    /// Sends the acknowledgements whose marker came back; looks again in a
    /// millisecond while some wait.
    fn poll_durable(&mut self, cx: &mut Context<'_>) {
        let Some(d) = self.durable.as_mut() else {
            return;
        };
        while let Some((flag, _)) = d.acks.front() {
            if flag.load(Ordering::Acquire) > 0 {
                break;
            }
            let (_, acks) = d.acks.pop_front().expect("front exists");
            let mut s = self.state.borrow_mut();
            for (pid, qos, reason) in acks {
                if s.answer_publish(pid, qos, reason).is_err() {
                    s.disconnect(ReasonCode::QuotaExceeded, "outgoing queue full");
                }
            }
        }
        if d.acks.is_empty() {
            self.durable = None;
            return;
        }
        let t = d
            .timer
            .get_or_insert_with(|| Timer::new(Duration::from_millis(1)));
        if Pin::new(t).poll(cx).is_ready() {
            d.timer = None;
            cx.waker().wake_by_ref();
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<End> {
        {
            let s = self.state.borrow();
            // Packets wait in the socket until CONNACK (but AUTH during
            // enhanced authentication); nothing is read once closing.
            if !super::connect::reading(&s) {
                return None;
            }
        }
        // Whole packets left over from CONNECT's read.
        if let Some(data) = self.inbuf.take()
            && let Err(end) = self.decode_all(*data)
        {
            return Some(end);
        }
        for _ in 0..READS_PER_WAKE {
            let step = with_scratch(|buf| match self.sock.poll_read(cx, buf) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(Err(End::Gone)),
                Poll::Ready(Ok(n)) => {
                    let mut data = self.inbuf.take().map_or_else(BytesMut::new, |b| *b);
                    data.extend_from_slice(&buf[..n]);
                    Poll::Ready(Ok(data))
                }
            });
            match step {
                Poll::Pending => return None,
                Poll::Ready(Err(end)) => return Some(end),
                Poll::Ready(Ok(data)) => {
                    if let Some(ka) = &mut self.keep_alive {
                        ka.seen(Instant::now());
                    }
                    if let Err(end) = self.decode_all(data) {
                        return Some(end);
                    }
                    if !super::connect::reading(&self.state.borrow()) {
                        return None;
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        None
    }

    /// Decodes and handles every whole packet in `data`; keeps what is
    /// left (an incomplete packet, or packets that wait for CONNACK).
    fn decode_all(&mut self, mut data: BytesMut) -> Result<(), End> {
        let limits = decode_limits(&self.state.borrow().svc);
        // What the packets ask the router for, in the shard's reused list
        // (taken while in use: a connection keeps no capacity of its own).
        let mut feed = FEED.take();
        let done = self.decode_with(&limits, &mut feed, &mut data);
        feed.clear();
        FEED.set(feed);
        if done.is_ok() && !data.is_empty() {
            self.inbuf = Some(Box::new(data));
        }
        done
    }

    fn decode_with(
        &mut self,
        limits: &mqtt::Limits,
        feed: &mut Vec<Message>,
        data: &mut BytesMut,
    ) -> Result<(), End> {
        loop {
            let version = self.state.borrow().version;
            let packet = match mqtt::decode(data, Some(version), limits) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "malformed MQTT packet");
                    self.violation(Violation(e.reason_code(), "malformed packet"));
                    return Err(End::Failed);
                }
            };
            let result = {
                let mut s = self.state.borrow_mut();
                inbound::on_packet(&mut s, packet, feed)
            };
            let link = self.state.borrow().link;
            if let Some(link) = link {
                for m in feed.drain(..) {
                    self.router.feed(link, m);
                }
            }
            if let Err(v) = result {
                self.violation(v);
                return Err(End::Failed);
            }
            if !super::connect::reading(&self.state.borrow()) {
                break;
            }
        }
        Ok(())
    }

    /// A rule broken: 5.0 gets DISCONNECT with the code (best effort, now).
    fn violation(&mut self, v: Violation) {
        let mut s = self.state.borrow_mut();
        tracing::debug!(client = %s.client_id, code = ?v.0, reason = v.1, "MQTT protocol violation");
        s.disconnect(v.0, v.1);
        if s.version == Version::V5 {
            // Written now, ahead of the close (the connection ends abnormally).
            let mut out = BytesMut::new();
            let mut d = mqtt::Disconnect {
                reason: v.0,
                properties: Default::default(),
            };
            d.properties.reason_string = MqttString::try_from(v.1).ok();
            if mqtt::encode(&Packet::Disconnect(d), Version::V5, &mut out).is_ok() {
                let _ = Socket::poll_write_vectored(
                    &mut self.sock,
                    &mut Context::from_waker(std::task::Waker::noop()),
                    &[IoSlice::new(&out)],
                );
            }
        }
    }

    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Option<End> {
        if !self.keep_alive.as_mut()?.expired(cx) {
            return None;
        }
        let mut s = self.state.borrow_mut();
        tracing::debug!(client = %s.client_id, "keep-alive expired");
        s.disconnect(ReasonCode::KeepAliveTimeout, "keep-alive timeout");
        Some(End::Failed)
    }

    /// Writes the queue until the socket is full or it is empty; ends the
    /// connection once it is empty and a close was decided.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Option<End> {
        for _ in 0..WRITES_PER_WAKE {
            let (empty, closing) = {
                let s = self.state.borrow();
                (s.out.items.is_empty(), s.rare.close.is_some())
            };
            if empty {
                return closing.then_some(End::Closed);
            }
            match self.write_once(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Some(End::Gone),
                Poll::Pending => return self.stalled(cx, closing),
            }
        }
        cx.waker().wake_by_ref();
        None
    }

    /// The socket is full: wait, but once the connection is closing a peer
    /// that does not read gets [`STALL_TICK`].
    fn stalled(&mut self, cx: &mut Context<'_>, closing: bool) -> Option<End> {
        if !closing {
            return None;
        }
        let (since, timer) = &mut **self
            .stall
            .get_or_insert_with(|| Box::new((Instant::now(), Timer::new(STALL_TICK))));
        if Pin::new(timer).poll(cx).is_ready() || since.elapsed() >= STALL_TICK {
            return Some(End::Failed);
        }
        None
    }

    /// One vectored write of queued items.
    fn write_once(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = Rc::clone(&self.state);
        let s = state.borrow();
        let mut heads = [0u8; HEADS];
        let mut used = 0;
        let mut spans: [(usize, usize); ITEMS_PER_WRITE] = [(0, 0); ITEMS_PER_WRITE];
        let mut n_items = 0;
        for item in s.out.items.iter().take(ITEMS_PER_WRITE) {
            if let Item::Publish(p) = item {
                let d = p.delivery();
                match p.tmpl.write_head(&d, &mut heads[used..]) {
                    Ok(n) => {
                        spans[n_items] = (used, n);
                        used += n;
                    }
                    Err(_) if n_items > 0 => break,
                    Err(_) => {
                        // A head longer than the whole area: its own buffer.
                        drop(s);
                        return self.write_big_front(cx);
                    }
                }
            }
            n_items += 1;
        }
        let mut iov = [IoSlice::new(&[]); 2 * ITEMS_PER_WRITE];
        let mut k = 0;
        let mut skip = self.front_sent;
        for (i, item) in s.out.items.iter().take(n_items).enumerate() {
            let parts: [&[u8]; 2] = match item {
                Item::Small { len, buf } => [&buf[..*len as usize], &[]],
                Item::Encoded(b) => [b, &[]],
                Item::Publish(p) => {
                    let (at, n) = spans[i];
                    [&heads[at..at + n], p.tmpl.payload()]
                }
            };
            for part in parts {
                if part.is_empty() {
                    continue;
                }
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                iov[k] = IoSlice::new(&part[skip..]);
                skip = 0;
                k += 1;
            }
        }
        if k == 0 {
            drop(s);
            let mut s = state.borrow_mut();
            // Only empty parts (cannot happen for MQTT packets): drop them.
            for _ in 0..n_items {
                s.out.pop();
            }
            self.front_sent = 0;
            return Poll::Ready(Ok(()));
        }
        let written = match self.sock.poll_write_vectored(cx, &iov[..k]) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => n,
        };
        let lens: Vec<usize> = s
            .out
            .items
            .iter()
            .take(n_items)
            .enumerate()
            .map(|(i, item)| match item {
                Item::Publish(p) => spans[i].1 + p.tmpl.payload().len(),
                other => other.wire_len(),
            })
            .collect();
        drop(s);
        self.account(&lens, written);
        Poll::Ready(Ok(()))
    }

    /// Drops written items and remembers how much of a partly written one went.
    fn account(&mut self, lens: &[usize], mut written: usize) {
        let mut s = self.state.borrow_mut();
        for len in lens {
            let rest = len - self.front_sent;
            if written < rest {
                self.front_sent += written;
                return;
            }
            written -= rest;
            self.front_sent = 0;
            s.out.pop();
            s.last_delivery = None;
        }
    }

    /// The front item's head does not fit the stack area (a huge topic or
    /// property block): written from a buffer of its own.
    fn write_big_front(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = Rc::clone(&self.state);
        let s = state.borrow();
        let Some(Item::Publish(p)) = s.out.items.front() else {
            return Poll::Ready(Ok(()));
        };
        let mut head = BytesMut::new();
        if p.tmpl.put_head(&p.delivery(), &mut head).is_err() {
            drop(s);
            state.borrow_mut().out.pop();
            return Poll::Ready(Ok(()));
        }
        let total = head.len() + p.tmpl.payload().len();
        let mut whole = head.to_vec();
        whole.extend_from_slice(p.tmpl.payload());
        let written = match self
            .sock
            .poll_write_vectored(cx, &[IoSlice::new(&whole[self.front_sent..])])
        {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => n,
        };
        drop(s);
        self.account(&[total], written);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, D, E, F: Future>(_: fn(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What every held connection keeps (issue #11: no more memory per
    /// idle connection than mosquitto): the task's future is the session
    /// alone, not room for the CONNECT phase or the end (nor the decode
    /// limits, a list of its own for what packets feed the router, or an
    /// empty read buffer); the
    /// state's allocation stays in the 256-byte size class (the `Rc` and
    /// `RefCell` counters included), what only some connections use in one
    /// box apart (`rare.rs`), freed while unused.
    #[test]
    fn a_held_connection_stays_small() {
        let fut = future_size(serve_mqtt);
        let session = std::mem::size_of::<Session>();
        assert!(
            fut <= session,
            "serve_mqtt's future is {fut} bytes, the session {session}"
        );
        // `transport::serve`'s box is this future alone (the listener's
        // hooks are not kept): the 96-byte size class.
        assert!(session <= 96, "Session is {session} bytes");
        let state = std::mem::size_of::<RefCell<State>>() + 2 * std::mem::size_of::<usize>();
        eprintln!("future {fut} B, Session {session} B, the state's Rc {state} B");
        assert!(state <= 256, "the state's Rc allocation is {state} bytes");
        let rare = std::mem::size_of::<super::super::rare::Rare>();
        assert!(rare <= 208, "the rarely used part is {rare} bytes");
    }

    /// Hooks that count `closed`; nothing else is called on an MQTT listener.
    struct CountClosed(Rc<std::cell::Cell<usize>>);

    impl crate::transport::ConnectionHooks for CountClosed {
        fn open(
            &mut self,
            _: LinkInfo,
            _: crate::proto::Serializer,
        ) -> Result<crate::core::outbox::OutboxRef, crate::core::api::Refused> {
            unreachable!("an MQTT connection opens its links through its port")
        }
        fn frame(&mut self, _: &[u8]) {
            unreachable!("no WAMP frames on an MQTT listener")
        }
        fn closed(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    /// A router port never reached: the connection is not polled.
    struct NoRouter;

    impl RouterPort for NoRouter {
        fn open(
            &self,
            _: LinkInfo,
            _: Output,
        ) -> Result<crate::core::api::LinkId, crate::core::api::Refused> {
            unreachable!()
        }
        fn feed(&self, _: crate::core::api::LinkId, _: Message) {
            unreachable!()
        }
        fn close(&self, _: crate::core::api::LinkId) {
            unreachable!()
        }
        fn open_service(&self, _: &str, _: Output) -> Option<crate::core::api::LinkId> {
            unreachable!()
        }
        fn publish_as_router(&self, _: &str, _: &str, _: crate::proto::Payload) {
            unreachable!()
        }
        fn shard(&self) -> (crate::proto::ShardId, u16) {
            unreachable!()
        }
        fn send_front(&self, _: crate::proto::ShardId, _: FrontMsg) {
            unreachable!()
        }
    }

    /// On an MQTT listener `transport::serve` is done with the listener's
    /// hooks at once (their `closed` comes before the connection is
    /// served, exactly once), so a held connection's box is the MQTT
    /// future alone.
    #[test]
    fn an_mqtt_connection_keeps_no_hooks() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let service = Rc::new(Service::default_for_tests());
                let listening =
                    crate::transport::Listening::new(Rc::clone(&service.transport), 1 << 20)
                        .expect("an MQTT listener");
                let (a, _b) = glommio::net::UnixStream::pair().expect("a socket pair");
                let closed = Rc::new(std::cell::Cell::new(0));
                let port = crate::transport::MqttPort {
                    service,
                    router: Rc::new(NoRouter),
                };
                let fut = crate::transport::serve(
                    Stream::Unix(Box::new(a)),
                    "unix".into(),
                    &listening,
                    CountClosed(Rc::clone(&closed)),
                    Some(port),
                );
                assert_eq!(closed.get(), 1, "closed before the connection is served");
                let boxed = std::mem::size_of_val(&*fut);
                assert_eq!(boxed, future_size(serve_mqtt), "the MQTT future alone");
                drop(fut);
                assert_eq!(closed.get(), 1, "once");
            })
            .expect("executor")
            .join()
            .expect("joined");
    }
}

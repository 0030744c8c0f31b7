//! The MQTT connection driver: CONNECT (within `connect_timeout`), the
//! router link and its authentication, then packets both ways until one
//! side ends, then the will and the link's end.
//!
//! Reads go into the shard's scratch buffer; the bytes of whole packets are
//! copied once into a buffer the decoded packets slice (payloads stay
//! zero-copy from there on), and only an incomplete packet's tail is kept
//! per connection. Writes are vectored (`writes.rs`): per queued PUBLISH a
//! head written for this client, then the shared payload; control packets
//! inline; on the shard's ring, one send op in flight per connection,
//! submitted with the turn's others. Keep-alive: no packet for 1.5 × the
//! keep-alive ends the connection (MQTT-3.1.2-22), with the will.
//!
//! Split by concern: this file has the main phase (the [`Session`], its
//! reads and router work); `driver.rs` the connection's task through its
//! phases and its waker, `opening.rs` the CONNECT phase and the session's
//! start, `writes.rs` the writes, `finish.rs` the end.

use std::io::IoSlice;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::Future;
use glommio::timer::Timer;

use super::connect::decode_limits;
use super::inbound::{self, Violation};
use super::keepalive::KeepAlive;
use super::state::StateRef;
use super::{PortMesh, RouterPort, takeover};
use crate::core::cluster::FrontMsg;
use crate::proto::Message;
use crate::proto::mqtt::{self, MqttString, Packet, ReasonCode, Version};
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;
use crate::transport::{Counted, Stream};

/// Reads per wake before yielding.
const READS_PER_WAKE: usize = 16;

thread_local! {
    /// The messages decoded packets ask the router for, reused by every
    /// connection of the shard ([`Session::decode_all`]).
    static FEED: std::cell::Cell<Vec<Message>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An acknowledgement waiting for a WAL marker: PUBACK/PUBREC of a packet.
pub(super) type Ack = (mqtt::PacketId, mqtt::QoS, ReasonCode);

/// How the main phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The peer went away (EOF, error): abnormal, the will fires.
    Gone,
    /// We end it after writing what is queued (DISCONNECT either way, a refusal).
    Closed,
    /// A rule was broken or time ran out: abnormal.
    Failed,
}

/// A connected client.
pub(super) struct Session {
    pub(super) sock: Stream,
    pub(super) state: StateRef,
    pub(super) router: Rc<dyn RouterPort>,
    /// An incomplete packet's tail (boxed: most connections have none
    /// between reads).
    pub(super) inbuf: Option<Box<BytesMut>>,
    /// Octets of the front item already written.
    pub(super) front_sent: u32,
    /// Keep-alive: the limit (1.5 × keep-alive) and the last packet's
    /// arrival, enforced by the shard's sweep (`keepalive.rs`).
    pub(super) keep_alive: Option<KeepAlive>,
    /// Since when writes have been stuck after the close was decided
    /// (boxed: only a closing connection whose peer stopped reading has it).
    pub(super) stall: Option<Box<(Instant, Timer)>>,
    /// Acknowledgements waiting for WAL markers (allocated while some wait).
    pub(super) durable: Option<Box<Durable>>,
    /// Its place in the shard's connection count, when it holds it (then
    /// it may park without a task, `park.rs`).
    pub(super) counted: Option<Counted>,
}

/// PUBACK/PUBREC waiting for a WAL marker, oldest first; the timer that
/// looks again.
#[derive(Default)]
pub(super) struct Durable {
    pub(super) acks: std::collections::VecDeque<(Arc<AtomicUsize>, Vec<Ack>)>,
    pub(super) timer: Option<Timer>,
}

impl Session {
    /// One poll of the main phase. The task's waker goes into the state
    /// (what wakes it there takes it); everything else registers the
    /// connection's own waker (`park.rs`), which wakes the task through
    /// the state, or revives the connection once it parked.
    pub(super) fn poll_main(&mut self, task: &mut Context<'_>, conn: &Waker) -> Poll<End> {
        {
            let mut s = self.state.borrow_mut();
            s.waker = Some(task.waker().clone());
            s.park |= super::state::ACTIVE;
        }
        let cx = &mut Context::from_waker(conn);
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
    pub(super) fn run_todo(&mut self) {
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
    pub(super) fn mark(&mut self, acks: Vec<Ack>) {
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
    pub(super) fn poll_durable(&mut self, cx: &mut Context<'_>) {
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

    pub(super) fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<End> {
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
    pub(super) fn decode_all(&mut self, mut data: BytesMut) -> Result<(), End> {
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
    pub(super) fn violation(&mut self, v: Violation) {
        let mut s = self.state.borrow_mut();
        tracing::debug!(client = %s.client_id, code = ?v.0, reason = v.1, "MQTT protocol violation");
        s.disconnect(v.0, v.1);
        let v5 = s.version == Version::V5;
        drop(s);
        // Written now, ahead of the close (the connection ends abnormally),
        // but only between packets: never into a packet partly written, nor
        // beside a send the ring has in flight (a completed one is
        // collected first).
        if v5 && self.settle_now() && self.front_sent == 0 {
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

    pub(super) fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Option<End> {
        if !self.keep_alive.as_mut()?.expired(cx) {
            return None;
        }
        let mut s = self.state.borrow_mut();
        tracing::debug!(client = %s.client_id, "keep-alive expired");
        s.disconnect(ReasonCode::KeepAliveTimeout, "keep-alive timeout");
        Some(End::Failed)
    }
}

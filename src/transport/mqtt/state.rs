//! One MQTT connection's state, shared (`Rc<RefCell<_>>`) by the
//! connection task (which reads packets and writes the queue) and the sink
//! the router delivers to (the state itself, see `sink.rs`). The router calls the
//! sink while it routes; the connection never holds a borrow across a call
//! into the router.
//!
//! Every connection keeps the fields here inline (the state's `Rc`
//! allocation is in the 224-byte size class), a parked connection's socket
//! and keep-alive included (`park.rs`: it then has no task); what only some
//! use is in boxes apart ([`Rare`], `rare.rs`; the outgoing queue),
//! allocated while in use. The session part that outlives the connection is
//! [`Persist`].
//!
//! The state's behaviour is split by concern: the router's answers become
//! MQTT in `answers.rs` (CONNACK, SUBACK, PUBACK/PUBREC), deliveries and
//! the in-flight window in `window.rs`, the session's life (installed,
//! resumed, its incarnation and will in the log, shared subscriptions) in
//! `lifecycle.rs`; this file has the fields, the queue and the end.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Waker;

use super::Service;
pub use super::answers::{granted_code, reason_of};
pub use super::calls::{CallAnswer, PendingCall, Requests};
use super::keepalive::KeepAlive;
use super::lazy::Lazy;
use super::mesh::ShareMsg;
use super::out::{Item, OutQueue};
pub use super::rare::{Chores, PendingSub, PendingSuback, Rare};
pub use super::resume::{Resume, ResumeSlot};
use super::session::{IdMap, Owner, Persist};
use crate::core::api::LinkId;
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::mqtt::{Disconnect, MqttString, Packet, ReasonCode, Version, Will};
use crate::proto::{RequestId, SubscriptionId};
use crate::store::mqtt::Record;
use crate::transport::uring::UringStream;

/// What a parked connection resumes with (in `State::parked`; see `park.rs`, 32 bytes).
/// Its place in the shard's connection count stays taken; the count itself
/// is the shard's ([`super::ctx::counted`]).
#[derive(Debug)]
pub struct Parked {
    /// Its socket on the shard's ring.
    pub(super) sock: UringStream,
    /// Its keep-alive, if it has one.
    pub(super) keep_alive: Option<KeepAlive>,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// HELLO sent, waiting for WELCOME (or CHALLENGE, or ABORT), and for the
    /// session when it is resumed.
    Joining,
    /// CONNACK (success) queued: packets flow.
    Up,
    /// The connection is ending (CONNACK refusal, DISCONNECT, router close).
    Closing,
    /// The connection ended and its session persists: the link stays open
    /// and queues QoS 1/2 messages for the client (see [`super::offline`]).
    Offline,
}

/// One client's connection: what every connection uses, inline; what only
/// some use, in [`Rare`] (one box, allocated while in use).
#[derive(Debug)]
pub struct State {
    /// The service (listener) it connected to.
    pub svc: Rc<Service>,
    /// Client identifier.
    pub client_id: Rc<str>,
    /// This connection, among the client identifier's connections (takeover).
    pub token: u64,
    /// The router link, once opened.
    pub link: Option<LinkId>,
    /// The WAMP session's ID, once welcomed (IDs are never 0: 8 bytes).
    pub session: Option<std::num::NonZeroU64>,
    /// What to write (allocated while something is queued or the
    /// connection runs; freed when it parks).
    pub out: Lazy<OutQueue>,
    /// The connection task, parked until there is something to do.
    pub waker: Option<Waker>,
    /// The session part that outlives the connection.
    pub p: Persist,
    /// WAMP subscription → the filters it carries.
    pub wamp_subs: Lazy<IdMap<SubscriptionId, Vec<String>>>,
    /// Last WAMP request ID used.
    pub last_request: u64,
    /// What only some connections use.
    pub rare: Lazy<Rare>,
    /// Most messages in flight to the client (its Receive Maximum, or the
    /// configured default for 3.1.1).
    pub send_max: u16,
    /// QoS 1/2 messages from the client not yet acknowledged (5.0 Receive Maximum).
    pub inflight_in: u16,
    /// Protocol version.
    pub version: Version,
    /// Where the connection stands.
    pub phase: Phase,
    /// The CONNECT asked for a session that outlives it (a Session Expiry
    /// Interval above 0; 3.1.1: clean session 0).
    pub expiry_asked: bool,
    /// The park sweep's marks (`park.rs`: candidate, ran since the last
    /// look, asked to park).
    pub park: u8,
    /// A parked connection's socket, keep-alive and count: it has no task
    /// (`park.rs`); `waker` is then the connection's own.
    pub parked: Option<Parked>,
}

/// `State::park`: the connection is in the shard's list of candidates.
pub const CANDIDATE: u8 = 1;
/// `State::park`: its task ran since the last look.
pub const ACTIVE: u8 = 2;
/// `State::park`: the sweep asked it to park.
pub const ASKED: u8 = 4;

/// The shared handle.
pub type StateRef = Rc<RefCell<State>>;

impl State {
    /// A connection of `version` on `svc`.
    pub fn new(svc: Rc<Service>, version: Version, client_id: impl Into<Rc<str>>) -> State {
        let send_max = svc.limits.max_inflight.max(1);
        State {
            svc,
            client_id: client_id.into(),
            token: 0,
            link: None,
            session: None,
            out: Lazy::default(),
            waker: None,
            p: Persist::new(),
            wamp_subs: Lazy::default(),
            last_request: 0,
            rare: Lazy::default(),
            send_max,
            inflight_in: 0,
            version,
            phase: Phase::Joining,
            expiry_asked: false,
            park: 0,
            parked: None,
        }
    }

    /// Frees what only some connections use once none of it is in use
    /// (the connection task calls it when it has nothing left to do).
    pub fn tidy(&mut self) {
        if self.phase == Phase::Up
            && let Some(r) = self.rare.allocated_mut()
        {
            // The CONNACK has gone: the credentials are not needed again.
            r.password = None;
            r.credentials = false;
            r.resume.release_if_idle();
        }
        self.rare.free_if_empty();
    }

    /// The messages to feed the router, taken (without allocating).
    pub fn take_todo(&mut self) -> Vec<crate::proto::Message> {
        self.rare
            .allocated_mut()
            .map(|r| std::mem::take(&mut r.todo))
            .unwrap_or_default()
    }

    /// The chores, allocated at the first.
    pub fn chores(&mut self) -> &mut Chores {
        self.rare.chores.get_or_insert_with(Box::default)
    }

    /// The chores, taken (none kept: their room goes too).
    pub fn take_chores(&mut self) -> Chores {
        self.rare
            .allocated_mut()
            .and_then(|r| r.chores.take())
            .map(|c| *c)
            .unwrap_or_default()
    }

    /// The shared-subscription messages among the chores, taken.
    pub fn take_share_chores(&mut self) -> Vec<ShareMsg> {
        self.rare
            .allocated_mut()
            .and_then(|r| r.chores.as_mut())
            .map(|c| std::mem::take(&mut c.share))
            .unwrap_or_default()
    }

    /// Who the session is, for its log records.
    pub fn owner(&self) -> Owner<'_> {
        Owner {
            svc: &self.svc,
            client: &self.client_id,
        }
    }

    /// Writes a record of the session (when it is kept durably).
    pub fn write(&self, rec: Record) {
        self.owner().write(&self.p, rec);
    }

    /// A fresh WAMP request ID.
    pub fn request(&mut self) -> RequestId {
        self.last_request += 1;
        RequestId(self.last_request)
    }

    /// Wakes the connection task.
    pub fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Queues a control packet.
    ///
    /// # Errors
    /// [`Overflow`] when the queue is full.
    pub fn send(&mut self, p: &Packet) -> Result<(), Overflow> {
        if let Some(item) = Item::packet(p, self.version) {
            self.out.push(item, self.svc.queue_limit)?;
            self.out.last_delivery = None;
            // Acknowledgements and answers do not wait with deliveries.
            self.out.hold.open();
            self.wake();
        }
        Ok(())
    }

    /// Ends the connection after what is queued: 5.0 gets DISCONNECT with
    /// `reason` first.
    pub fn disconnect(&mut self, reason: ReasonCode, why: &str) {
        if matches!(self.phase, Phase::Closing | Phase::Offline) {
            return;
        }
        if self.version == Version::V5 && self.phase == Phase::Up {
            let mut d = Disconnect {
                reason,
                properties: Default::default(),
            };
            if let Ok(s) = MqttString::try_from(why) {
                d.properties.reason_string = Some(s);
            }
            if let Some(item) = Item::packet(&Packet::Disconnect(d), self.version) {
                self.out.push_last(item);
            }
        }
        tracing::debug!(client = %self.client_id, reason = ?reason, why, "closing MQTT connection");
        self.phase = Phase::Closing;
        if self.rare.close.is_none() {
            self.rare.close = Some(CloseReason::Normal);
        }
        self.wake();
    }
}

/// The Will Delay Interval of `w` in seconds (3.1.1: 0).
pub fn delay_of(w: &Will, version: Version) -> u32 {
    match version {
        Version::V5 => w.properties.will_delay_interval.unwrap_or(0),
        Version::V311 => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mqtt::{ConnAck, QoS};
    use crate::proto::{PublicationId, SessionId, ShardId};

    #[test]
    fn a_resume_slot_exists_only_while_something_is_under_way() {
        let mut r = ResumeSlot::default();
        assert!(!r.awaiting && r.from.is_none() && r.old_links.is_empty());
        assert!(r.take_old_wills().is_empty());
        assert!(!r.is_allocated(), "reading allocates nothing");
        r.from = Some((ShardId(1), 7));
        assert!(r.is_allocated());
        r.release_if_idle();
        assert_eq!(r.from, Some((ShardId(1), 7)), "kept while a tail may come");
        r.from = None;
        r.seen.insert(PublicationId(3));
        r.release_if_idle();
        assert!(r.is_allocated(), "kept while duplicates may come");
        r.seen.clear();
        r.release_if_idle();
        assert!(!r.is_allocated());
        assert!(r.seen.is_empty() && r.from.is_none());
    }

    #[test]
    fn a_connection_that_is_up_keeps_no_rare_box() {
        let svc = Rc::new(Service::default_for_tests());
        let mut s = State::new(svc, Version::V5, "c");
        assert!(!s.rare.is_allocated(), "a new state has none");
        s.rare.connack = Some(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: Default::default(),
        }));
        s.rare.password = Some("pw".into());
        s.rare.credentials = true;
        s.tidy();
        assert!(s.rare.is_allocated(), "joining: the credentials stay");
        s.link = Some(LinkId(1));
        s.welcomed(SessionId(5)).expect("CONNACK queued");
        assert_eq!(s.phase, Phase::Up);
        assert_eq!(s.out.items.len(), 1, "the CONNACK");
        s.tidy();
        assert!(!s.rare.is_allocated(), "up and idle: freed: {:?}", &*s.rare);
        s.rare.will = Some(Box::new(Will {
            topic: MqttString::try_from("w").expect("topic"),
            payload: bytes::Bytes::from_static(b"gone"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Default::default(),
        }));
        s.tidy();
        assert!(s.rare.is_allocated(), "a will is kept");
        assert!(!s.rare.credentials && s.rare.password.is_none());
    }
}

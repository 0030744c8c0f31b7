//! What only some MQTT connections use ([`Rare`]): kept in one box that
//! exists while any of it is in use and is freed once all of it is back
//! to empty, so an idle connection's state stays in a small size class.
//!
//! What goes here: the CONNECT's answer and credentials while joining, the
//! end (close reason, DISCONNECT, the will and its delay), where a taken
//! over session went, WAMP requests waiting for the router (SUBSCRIBE,
//! PUBLISH with QoS 1/2, CALLs of requests and dynamic mappings), MQTT 5
//! options the client set (topic aliases, Maximum Packet Size), takeover
//! and resumption ([`ResumeSlot`]) and chores for the task.
//!
//! Reads go through [`Lazy`]'s `Deref` (an absent box reads as
//! [`Rare::default`]); a write allocates it; [`State::tidy`] frees it once
//! [`Rare::is_idle`]. Imports the connection's parts; nothing above them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Weak;

use ahash::AHashMap;

use super::calls::Requests;
use super::codec::Codec;
use super::lazy::{Empty, IsEmpty, Lazy};
use super::mesh::{ShareMsg, Takeover};
use super::out::Item;
use super::resume::ResumeSlot;
use super::session::IdMap;
use super::state::State;
use crate::core::api::LinkId;
use crate::core::outbox::CloseReason;
use crate::proto::mqtt::{ConnAck, MqttString, PacketId, QoS, ReasonCode, Will};
use crate::proto::{Message, RequestId, ShardId};

/// The Maximum Packet Size of a client that set none (the protocol's).
pub const PROTOCOL_MAX_PACKET: u32 = crate::config::mqtt::MQTT_PROTOCOL_MAX_PACKET_SIZE as u32;

/// A SUBSCRIBE waiting for the router's answers.
#[derive(Debug)]
pub struct PendingSuback {
    /// The packet.
    pub packet_id: PacketId,
    /// Per filter: granted code, or `None` while a WAMP answer is missing.
    pub codes: Vec<Option<ReasonCode>>,
    /// WAMP requests still unanswered.
    pub waiting: usize,
    /// Retained messages that arrived before the SUBACK could go.
    pub held: Vec<Item>,
}

/// A WAMP SUBSCRIBE sent for a filter.
#[derive(Debug, Clone)]
pub struct PendingSub {
    /// The SUBSCRIBE packet it belongs to (`None`: a resumed session's
    /// subscription, subscribed again without a SUBACK).
    pub packet_id: Option<PacketId>,
    /// Index of the filter in that packet.
    pub index: usize,
    /// The filter.
    pub filter: String,
    /// The exact subscription of the parent level of a `/#` filter (`a` of
    /// `a/#`): a refusal (not authorized) leaves the filter with its prefix
    /// subscription, so a role allowed under `a.` but not on `a` itself
    /// subscribes to `a/#` (as an ACL on `a/#` allows in mosquitto) and gets
    /// everything below `a`.
    pub parent: bool,
}

/// Work the sink leaves for the connection task (it cannot call the
/// router while the router calls it).
#[derive(Debug, Default)]
pub struct Chores {
    /// Takeover messages to send.
    pub front: Vec<(ShardId, Takeover)>,
    /// Links to close (an old connection's, once this one has subscribed).
    pub close: Vec<LinkId>,
    /// PUBACK/PUBREC waiting for a WAL marker (durable sessions).
    pub marks: Vec<(PacketId, QoS, ReasonCode)>,
    /// Shared-subscription memberships to join or leave.
    pub share: Vec<ShareMsg>,
}

impl Chores {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.front.is_empty()
            && self.close.is_empty()
            && self.marks.is_empty()
            && self.share.is_empty()
    }
}

/// What only some connections use (see the module header).
#[derive(Debug)]
pub struct Rare {
    // Joining.
    /// The CONNACK to send once welcomed (and the session is here).
    pub connack: Option<Box<ConnAck>>,
    /// The password to answer a ticket CHALLENGE with (until CONNACK).
    pub password: Option<Box<str>>,
    /// Whether the client gave a user name and password (until CONNACK).
    pub credentials: bool,
    /// Takeover and resumption.
    pub resume: ResumeSlot,

    // Requests to the router and their answers.
    /// Messages the connection must feed the router (the sink cannot).
    pub todo: Vec<Message>,
    /// Work for the task (boxed: taken whole each turn).
    pub chores: Option<Box<Chores>>,
    /// WAMP SUBSCRIBE requests waiting for an answer.
    pub pending_subs: Lazy<IdMap<RequestId, PendingSub>>,
    /// SUBSCRIBE packets waiting for answers, in arrival order.
    pub subacks: Lazy<VecDeque<PendingSuback>>,
    /// WAMP PUBLISH requests (QoS 1/2) waiting for PUBLISHED/ERROR.
    pub pending_pubs: Lazy<IdMap<RequestId, (PacketId, QoS, bool)>>,
    /// CALLs made for MQTT 5 requests and their answers (see
    /// [`super::request`]); boxed, `None` until the first.
    pub requests: Option<Box<Requests>>,
    /// Payloads waiting for a `dynamic` mapping's encoder or decoder (see
    /// [`super::dynamic`]); boxed, `None` while none waits.
    pub codec: Option<Box<Codec>>,

    // MQTT 5 options the client set.
    /// Topic aliases the client set (allocated at the first).
    pub aliases_in: Option<Box<IdMap<u16, MqttString>>>,
    /// Topic aliases we set, by topic (allocated at the first).
    pub aliases_out: Option<Box<AHashMap<MqttString, u16>>>,
    /// The client's Topic Alias Maximum.
    pub alias_out_max: u16,
    /// The client's Maximum Packet Size.
    pub max_packet_out: u32,

    // The end.
    /// Set when the connection must end after what is queued.
    pub close: Option<CloseReason>,
    /// The client sent DISCONNECT (normal end: no will, unless 0x04).
    pub disconnected: bool,
    /// The router ended the session (GOODBYE, shutdown): a persistent
    /// session is not kept offline (it stays in the store).
    pub router_ended: bool,
    /// The will, until the connection ends (or, with a Will Delay
    /// Interval, until it is published or cancelled, see [`super::will`]).
    pub will: Option<Box<Will>>,
    /// When the waiting will of an offline session is due (Unix ms); 0:
    /// none waits.
    pub will_due_ms: u64,
    /// The session was resumed by a connection on this shard: what this
    /// (old) link still delivers goes there.
    pub forward: Option<Weak<RefCell<State>>>,
    /// The session was handed to a connection on another shard (shard,
    /// token): this link queues the tail until that connection has subscribed.
    pub handed: Option<(ShardId, u64)>,
}

impl Default for Rare {
    fn default() -> Rare {
        Rare {
            connack: None,
            password: None,
            credentials: false,
            resume: ResumeSlot::default(),
            todo: Vec::new(),
            chores: None,
            pending_subs: Lazy::default(),
            subacks: Lazy::default(),
            pending_pubs: Lazy::default(),
            requests: None,
            codec: None,
            aliases_in: None,
            aliases_out: None,
            alias_out_max: 0,
            max_packet_out: PROTOCOL_MAX_PACKET,
            close: None,
            disconnected: false,
            router_ended: false,
            will: None,
            will_due_ms: 0,
            forward: None,
            handed: None,
        }
    }
}

impl Rare {
    /// Whether every field is back to its default (the box can go).
    pub fn is_idle(&self) -> bool {
        let Rare {
            connack,
            password,
            credentials,
            resume,
            todo,
            chores,
            pending_subs,
            subacks,
            pending_pubs,
            requests,
            codec,
            aliases_in,
            aliases_out,
            alias_out_max,
            max_packet_out,
            close,
            disconnected,
            router_ended,
            will,
            will_due_ms,
            forward,
            handed,
        } = self;
        // Destructured, so that a field added later must be listed here.
        connack.is_none()
            && password.is_none()
            && !credentials
            && !resume.is_allocated()
            && todo.is_empty()
            && chores.as_ref().is_none_or(|c| c.is_empty())
            && !pending_subs.is_allocated()
            && !subacks.is_allocated()
            && !pending_pubs.is_allocated()
            && requests.is_none()
            && codec.is_none()
            && aliases_in.is_none()
            && aliases_out.is_none()
            && *alias_out_max == 0
            && *max_packet_out == PROTOCOL_MAX_PACKET
            && close.is_none()
            && !disconnected
            && !router_ended
            && will.is_none()
            && *will_due_ms == 0
            && forward.is_none()
            && handed.is_none()
    }
}

impl Empty for Rare {
    fn empty() -> &'static Self {
        thread_local! {
            static EMPTY: &'static Rare = Box::leak(Box::default());
        }
        EMPTY.with(|e| *e)
    }
}

impl IsEmpty for Rare {
    fn is_empty_(&self) -> bool {
        self.is_idle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_box_is_idle_and_any_use_is_not() {
        assert!(Rare::default().is_idle());
        let uses: [fn(&mut Rare); 6] = [
            |r| r.credentials = true,
            |r| {
                r.todo
                    .push(Message::Authenticate(crate::proto::Authenticate {
                        signature: "pw".into(),
                        extra: Default::default(),
                    }))
            },
            |r| r.close = Some(CloseReason::Normal),
            |r| r.will_due_ms = 1,
            |r| r.max_packet_out = 1000,
            |r| r.resume.present = true,
        ];
        for (i, u) in uses.iter().enumerate() {
            let mut r = Rare::default();
            u(&mut r);
            assert!(!r.is_idle(), "use {i}");
        }
    }

    #[test]
    fn the_box_is_freed_once_idle_and_reads_as_default_meanwhile() {
        let mut slot: Lazy<Rare> = Lazy::default();
        assert_eq!(slot.max_packet_out, PROTOCOL_MAX_PACKET, "absent: default");
        assert!(!slot.is_allocated(), "a read does not allocate");
        slot.close = Some(CloseReason::Normal);
        assert!(slot.is_allocated());
        slot.free_if_empty();
        assert!(slot.is_allocated(), "in use: kept");
        slot.close = None;
        slot.free_if_empty();
        assert!(!slot.is_allocated(), "idle: freed");
    }
}

//! What an MQTT connection has to send: small control packets held inline,
//! encoded packets, and PUBLISH deliveries that share one
//! [`PublishTemplate`] (the topic, shared properties and payload encoded
//! once per publication, QoS and version) and differ only in a head written
//! per delivery at write time (packet identifier, flags, topic alias,
//! subscription identifiers). Bounded in bytes like the WAMP outbox: a push
//! past the bound is an [`Overflow`] and the router closes the link as a
//! slow consumer.

use std::collections::VecDeque;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::lazy::{Empty, IsEmpty, Lazy};
use crate::core::outbox::Overflow;
use crate::proto::PublicationId;
use crate::proto::mqtt::{
    self, Delivery, MqttString, Packet, PacketId, Publish, PublishProperties, PublishTemplate, QoS,
    Version,
};
use crate::store::mqtt::StoredMsg;
use crate::transport::hold::Hold;

/// Longest control packet kept inline (PUBACK with reason code and no
/// properties is 4–5 bytes; SUBACK of a few filters fits too).
const INLINE: usize = 22;

/// An application message as the front end delivers it: what its
/// templates are made from, and what is stored or moved. One per
/// publication (and payload format) on a shard, shared by every session.
#[derive(Debug, PartialEq)]
pub struct Msg {
    /// The WAMP publication it is.
    pub publication: PublicationId,
    /// Topic name.
    pub topic: MqttString,
    /// Payload (in the subscribers' payload format).
    pub payload: Bytes,
    /// PUBLISH properties (5.0; none from WAMP publishers).
    pub props: PublishProperties,
    /// Arrival at the broker (Unix ms; 0: unknown, never expires).
    pub at_ms: u64,
}

impl Msg {
    /// The message of a stored one.
    pub fn of_stored(m: &StoredMsg) -> Msg {
        Msg {
            publication: PublicationId(m.publication),
            topic: m.topic.clone(),
            payload: m.payload.clone(),
            props: m.props.clone(),
            at_ms: m.at_ms,
        }
    }

    /// Whether it carries a Message Expiry Interval (else
    /// [`Msg::expiry_left`] is always `Ok(None)`, without reading the clock).
    pub fn expires(&self) -> bool {
        self.props.message_expiry_interval.is_some() && self.at_ms != 0
    }

    /// Seconds of Message Expiry left now: `Ok(None)` when it never
    /// expires or has not waited a whole second.
    ///
    /// # Errors
    /// [`Expired`]: the message must not be delivered any more.
    pub fn expiry_left(&self, now_ms: u64) -> Result<Option<u32>, Expired> {
        let Some(exp) = self.props.message_expiry_interval else {
            return Ok(None);
        };
        if self.at_ms == 0 {
            return Ok(None);
        }
        let waited = (now_ms.saturating_sub(self.at_ms) / 1000) as u32;
        if waited >= exp {
            Err(Expired)
        } else if waited == 0 {
            Ok(None)
        } else {
            Ok(Some(exp - waited))
        }
    }

    /// A template of this message for (`qos`, `version`), its Message
    /// Expiry Interval counted down; `None` when it expired (or cannot be
    /// encoded).
    pub fn template(&self, qos: QoS, version: Version) -> Option<Rc<PublishTemplate>> {
        let left = self.expiry_left(super::ctx::now_ms()).ok()?;
        let mut props = self.props.clone();
        if left.is_some() {
            props.message_expiry_interval = left;
        }
        let p = Publish {
            dup: false,
            qos,
            retain: false,
            topic: self.topic.clone(),
            packet_id: None,
            properties: props,
            payload: self.payload.clone(),
        };
        PublishTemplate::new(&p, qos, version).ok().map(Rc::new)
    }
}

/// A message whose Message Expiry Interval passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired;

/// How a publication reaches a session through its filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The highest QoS of the matching filters (at most the publication's).
    pub qos: QoS,
    /// Their subscription identifiers.
    pub sub_ids: SubIds,
    /// Whether one of them keeps the RETAIN flag as published.
    pub retain_as_published: bool,
}

/// Subscription identifiers of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SubIds {
    /// None (3.1.1, or no subscription gave one).
    #[default]
    None,
    /// One: the common case, no allocation.
    One(u32),
    /// Several overlapping subscriptions had one.
    Many(Box<[u32]>),
}

impl SubIds {
    /// As a slice.
    pub fn as_slice(&self) -> &[u32] {
        match self {
            SubIds::None => &[],
            SubIds::One(id) => std::slice::from_ref(id),
            SubIds::Many(ids) => ids,
        }
    }

    /// Adds an identifier (kept unique).
    pub fn push(&mut self, id: u32) {
        if self.as_slice().contains(&id) {
            return;
        }
        *self = match std::mem::take(self) {
            SubIds::None => SubIds::One(id),
            SubIds::One(a) => SubIds::Many(Box::new([a, id])),
            SubIds::Many(ids) => {
                let mut v = ids.into_vec();
                v.push(id);
                SubIds::Many(v.into_boxed_slice())
            }
        };
    }
}

/// One PUBLISH to one client.
#[derive(Debug, Clone)]
pub struct PubOut {
    /// The shared encoding.
    pub tmpl: Rc<PublishTemplate>,
    /// The message (shared): what a template for another version, a
    /// stored copy or a copy for another shard is made from.
    pub msg: Rc<Msg>,
    /// Its key in a persistent session (order; 0: none).
    pub key: u64,
    /// Packet identifier (QoS 1 and 2).
    pub packet_id: Option<PacketId>,
    /// DUP flag (a re-delivery).
    pub dup: bool,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic alias, and whether the topic is sent with it (first use).
    pub alias: Option<u16>,
    /// Whether the topic name is in the packet.
    pub send_topic: bool,
    /// Subscription identifiers.
    pub sub_ids: SubIds,
}

impl PubOut {
    /// A first delivery of `msg` with `tmpl`: no key, packet identifier,
    /// flags, alias or subscription identifiers yet.
    pub fn first(tmpl: Rc<PublishTemplate>, msg: Rc<Msg>) -> PubOut {
        PubOut {
            tmpl,
            msg,
            key: 0,
            packet_id: None,
            dup: false,
            retain: false,
            alias: None,
            send_topic: true,
            sub_ids: SubIds::None,
        }
    }

    /// The per-delivery part of the head.
    pub fn delivery(&self) -> Delivery<'_> {
        Delivery {
            packet_id: self.packet_id,
            topic_alias: self.alias,
            send_topic: self.send_topic,
            dup: self.dup,
            retain: self.retain,
            subscription_ids: self.sub_ids.as_slice(),
        }
    }

    /// Bytes on the wire. A QoS 1/2 delivery not yet given its packet
    /// identifier counts the two bytes one takes (its value does not change
    /// the length), so the client's Maximum Packet Size is checked against
    /// the packet as it will be sent (MQTT-3.1.2-24).
    pub fn wire_len(&self) -> usize {
        let mut d = self.delivery();
        if d.packet_id.is_none() && self.tmpl.qos() != QoS::AtMostOnce {
            d.packet_id = PacketId::new(1);
        }
        self.tmpl.head_len(&d).unwrap_or(0) + self.tmpl.payload().len()
    }
}

/// One queued packet.
#[derive(Debug, Clone)]
pub enum Item {
    /// A short control packet, inline.
    Small {
        /// Its length.
        len: u8,
        /// Its bytes.
        buf: [u8; INLINE],
    },
    /// An encoded packet.
    Encoded(Bytes),
    /// A PUBLISH delivery.
    Publish(PubOut),
}

impl Item {
    /// An encoded packet, inline when short.
    pub fn packet(p: &Packet, version: Version) -> Option<Item> {
        let mut b = BytesMut::new();
        if let Err(e) = mqtt::encode(p, version, &mut b) {
            tracing::warn!(error = %e, packet = p.packet_type().name(), "cannot encode");
            return None;
        }
        Some(if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(&b);
            Item::Small {
                len: b.len() as u8,
                buf,
            }
        } else {
            Item::Encoded(b.freeze())
        })
    }

    /// Bytes on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            Item::Small { len, .. } => *len as usize,
            Item::Encoded(b) => b.len(),
            Item::Publish(p) => p.wire_len(),
        }
    }
}

/// The queue. A connection keeps it in a [`Lazy`] box (`State::out`):
/// allocated with the first packet queued, freed when the connection
/// parks (`park.rs`); an absent box reads as an empty queue.
#[derive(Debug, Default)]
pub struct OutQueue {
    /// Packets not yet fully written, oldest first.
    pub items: VecDeque<Item>,
    /// Sum of their wire lengths.
    pub bytes: usize,
    /// The last publication queued and its position in `items`, to merge
    /// overlapping subscriptions into one delivery (the publication's ID,
    /// never 0, as `NonZeroU64` and the position as `u32`).
    pub last_delivery: Option<(std::num::NonZeroU64, u32)>,
    /// 3.1.1: the last publication delivered and its QoS, so that
    /// overlapping subscriptions give one copy (`sink::one_copy`).
    pub last_copy: Option<(std::num::NonZeroU64, crate::proto::mqtt::QoS)>,
    /// Write coalescing (`transport::hold`): whether the deliveries queued
    /// are held back; a control packet releases them (here, not in the
    /// state: only a connection with something queued has one).
    pub hold: Hold,
}

impl Empty for OutQueue {
    fn empty() -> &'static Self {
        const {
            &OutQueue {
                items: VecDeque::new(),
                bytes: 0,
                last_delivery: None,
                last_copy: None,
                hold: Hold::IDLE,
            }
        }
    }
}

impl IsEmpty for OutQueue {
    fn is_empty_(&self) -> bool {
        self.items.is_empty()
    }
}

/// Forgets the last delivery (no merge with the next), without allocating.
pub fn forget_last(q: &mut Lazy<OutQueue>) {
    if let Some(q) = q.allocated_mut() {
        q.last_delivery = None;
    }
}

/// The queue is empty: after a write, the next delivery soon is held
/// (write coalescing), without allocating.
pub fn forget_hold(q: &mut Lazy<OutQueue>) {
    if let Some(q) = q.allocated_mut() {
        q.hold.drained();
    }
}

impl OutQueue {
    /// An empty queue (its bound is the service's `queue_limit`, given to
    /// [`OutQueue::push`]: kept once per listener, not per connection).
    pub fn new() -> OutQueue {
        OutQueue {
            items: VecDeque::new(),
            bytes: 0,
            last_delivery: None,
            last_copy: None,
            hold: Hold::IDLE,
        }
    }

    /// Queues the connection's last packet (a DISCONNECT) even past the
    /// bound: a slow consumer closed because its queue is full still gets
    /// the reason, if it reads on.
    pub fn push_last(&mut self, item: Item) {
        self.bytes += item.wire_len();
        self.items.push_back(item);
    }

    /// Queues `item` within `limit` bytes.
    ///
    /// # Errors
    /// [`Overflow`] past the bound (one item always fits an empty queue).
    pub fn push(&mut self, item: Item, limit: usize) -> Result<(), Overflow> {
        let len = item.wire_len();
        if !self.items.is_empty() && self.bytes + len > limit {
            return Err(Overflow);
        }
        self.bytes += len;
        self.items.push_back(item);
        Ok(())
    }

    /// Drops the front item (written).
    pub fn pop(&mut self) {
        if let Some(i) = self.items.pop_front() {
            self.bytes -= i.wire_len();
        }
        if self.items.is_empty() && self.items.capacity() > 0 {
            // Nothing kept while idle: most connections are idle most of
            // the time, and a burst's first push allocates again.
            self.items = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(at_ms: u64, expiry: Option<u32>) -> Msg {
        Msg {
            publication: PublicationId(1),
            topic: MqttString::try_from("a/b").expect("topic"),
            payload: Bytes::from_static(b"x"),
            props: PublishProperties {
                message_expiry_interval: expiry,
                ..Default::default()
            },
            at_ms,
        }
    }

    #[test]
    fn the_last_packet_goes_past_the_bound() {
        let mut q = OutQueue::new();
        let ping = || Item::packet(&Packet::PingResp, Version::V5).expect("small");
        for _ in 0..4 {
            q.push(ping(), 8).expect("fits");
        }
        assert_eq!(q.push(ping(), 8), Err(Overflow), "8 bytes queued");
        q.push_last(ping());
        assert_eq!((q.items.len(), q.bytes), (5, 10));
    }

    /// A QoS 1/2 delivery is measured with its packet identifier before it
    /// has one: the in-flight window checks the client's Maximum Packet
    /// Size first (paho.mqtt.testing client_test5 test_maximum_packet_size
    /// got a 77-byte PUBLISH under a 64-byte maximum).
    #[test]
    fn a_delivery_counts_its_packet_identifier_before_it_has_one() {
        let m = Rc::new(msg(0, None));
        for (qos, pid_len) in [
            (QoS::AtMostOnce, 0),
            (QoS::AtLeastOnce, 2),
            (QoS::ExactlyOnce, 2),
        ] {
            for version in [Version::V311, Version::V5] {
                let tmpl = m.template(qos, version).expect("template");
                let mut p = PubOut::first(tmpl, m.clone());
                // Fixed header 2, topic 2 + 3, payload 1; 5.0: property length 1.
                let props = usize::from(version == Version::V5);
                assert_eq!(p.wire_len(), 8 + props + pid_len, "{qos:?} {version:?}");
                let before = p.wire_len();
                if qos != QoS::AtMostOnce {
                    p.packet_id = PacketId::new(0xFFFF);
                }
                let mut buf = BytesMut::new();
                p.tmpl.put_head(&p.delivery(), &mut buf).expect("head");
                assert_eq!(buf.len() + p.tmpl.payload().len(), before, "as sent");
            }
        }
    }

    #[test]
    fn expiry_counts_down_and_ends() {
        let now = 1_000_000;
        assert_eq!(msg(now, None).expiry_left(now + 99_000), Ok(None));
        assert_eq!(
            msg(0, Some(5)).expiry_left(now),
            Ok(None),
            "unknown arrival"
        );
        assert_eq!(msg(now, Some(5)).expiry_left(now + 500), Ok(None));
        assert_eq!(msg(now, Some(5)).expiry_left(now + 2_100), Ok(Some(3)));
        assert_eq!(msg(now, Some(5)).expiry_left(now + 5_000), Err(Expired));
    }

    #[test]
    fn sub_ids_stay_unique_and_grow() {
        let mut s = SubIds::None;
        s.push(3);
        s.push(3);
        assert_eq!(s, SubIds::One(3));
        s.push(7);
        s.push(9);
        assert_eq!(s.as_slice(), &[3, 7, 9]);
    }

    #[test]
    fn the_queue_counts_bytes_and_refuses_past_its_bound() {
        let mut q = OutQueue::new();
        let ping = Item::packet(&Packet::PingResp, Version::V311).expect("encodes");
        assert!(matches!(ping, Item::Small { len: 2, .. }));
        for _ in 0..5 {
            q.push(ping.clone(), 10).expect("fits");
        }
        assert_eq!(q.bytes, 10);
        assert_eq!(q.push(ping.clone(), 10), Err(Overflow));
        q.pop();
        assert_eq!(q.bytes, 8);
        let big = Item::Encoded(Bytes::from(vec![0u8; 100]));
        let mut empty = OutQueue::new();
        empty.push(big, 10).expect("one item always fits");
        assert!(empty.items.capacity() > 0);
        empty.pop();
        assert_eq!(
            (empty.bytes, empty.items.capacity()),
            (0, 0),
            "an emptied queue keeps no capacity (idle connections)"
        );
    }
}

//! Encode once, send to many: a [`PublishTemplate`] holds one PUBLISH prepared
//! for one (message, QoS, protocol version), shared by every subscriber that gets
//! it at that QoS and version. Per subscriber only a small head is written
//! ([`PublishTemplate::write_head`]): fixed header, topic (or an empty topic when
//! a topic alias stands for it), packet identifier, and in 5.0 the property
//! block: Topic Alias and Subscription Identifiers (per subscriber) followed by
//! the shared properties, encoded once. The payload follows the head as the
//! template's shared [`Bytes`], never copied.
//!
//! A head is at most [`HEAD_OVERHEAD`] bytes, plus the topic, plus the shared
//! properties, plus 5 bytes per Subscription Identifier;
//! [`PublishTemplate::head_len`] gives the exact figure. With topic and shared properties of at most 220 bytes together
//! and at most four subscription identifiers, a 256-byte stack buffer fits.

use bytes::{Bytes, BytesMut};

use super::encode::publish_flags;
use super::error::EncodeError;
use super::packet::Publish;
use super::properties::emit_per_delivery;
use super::types::{MqttString, PacketId, PacketType, QoS, Version};
use super::wire::{Counter, MAX_VARINT, Sink, SliceSink, put_varint, varint_len};

/// The bytes of a head beyond the topic, the shared properties and the
/// subscription identifiers: fixed header 5, topic length 2, packet identifier
/// 2, property length 4, Topic Alias 3.
pub const HEAD_OVERHEAD: usize = 16;

/// The most bytes one Subscription Identifier adds to a head (identifier byte
/// and a four-byte Variable Byte Integer).
pub const HEAD_PER_SUBSCRIPTION_ID: usize = 5;

/// What differs between the subscribers of one template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery<'a> {
    /// Packet Identifier: `Some` exactly when the template's QoS is above 0.
    pub packet_id: Option<PacketId>,
    /// Topic Alias to send (5.0).
    pub topic_alias: Option<u16>,
    /// Whether to send the topic name; `false` (5.0, with an established alias)
    /// sends an empty topic name and the alias alone.
    pub send_topic: bool,
    /// DUP (a re-delivery; QoS > 0 only).
    pub dup: bool,
    /// RETAIN as this subscriber sees it (Retain As Published, or a retained
    /// message sent because of a new subscription).
    pub retain: bool,
    /// Subscription Identifiers of this subscriber's matching subscriptions (5.0).
    pub subscription_ids: &'a [u32],
}

/// One PUBLISH encoded once for a (message, QoS, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishTemplate {
    version: Version,
    qos: QoS,
    topic: MqttString,
    /// The encoded 5.0 properties every subscriber gets (empty in 3.1.1).
    shared_props: Bytes,
    payload: Bytes,
}

impl PublishTemplate {
    /// Prepares `publish`'s topic, payload and shared properties (Payload
    /// Format Indicator, Message Expiry Interval, Content Type, Response Topic,
    /// Correlation Data, User Properties) for delivery at `qos` over `version`.
    /// Its own packet identifier, DUP, RETAIN, Topic Alias and Subscription
    /// Identifiers are ignored (they are per delivery). For 3.1.1 the properties
    /// are dropped: 3.1.1 subscribers cannot receive them. A message that waits
    /// (offline queue) gets a new template with its remaining expiry.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] for correlation data over 65,535 bytes.
    pub fn new(publish: &Publish, qos: QoS, version: Version) -> Result<Self, EncodeError> {
        let shared_props = if version == Version::V5 {
            let mut c = Counter::default();
            publish.properties.emit_shared(&mut c)?;
            let mut b = BytesMut::with_capacity(c.len());
            publish.properties.emit_shared(&mut b)?;
            b.freeze()
        } else {
            Bytes::new()
        };
        Ok(PublishTemplate {
            version,
            qos,
            topic: publish.topic.clone(),
            shared_props,
            payload: publish.payload.clone(),
        })
    }

    /// The QoS it is encoded for.
    pub fn qos(&self) -> QoS {
        self.qos
    }

    /// The version it is encoded for.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The topic name.
    pub fn topic(&self) -> &MqttString {
        &self.topic
    }

    /// The shared payload (written after each head, never copied).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Checks `d` and returns (property block length, remaining length, head
    /// length).
    fn layout(&self, d: &Delivery<'_>) -> Result<(usize, usize, usize), EncodeError> {
        if d.packet_id.is_some() != (self.qos != QoS::AtMostOnce) {
            return Err(EncodeError::PacketIdMismatch);
        }
        if d.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::DupOnQoS0);
        }
        if !d.send_topic && d.topic_alias.is_none() {
            return Err(EncodeError::NoTopic);
        }
        let props = if self.version == Version::V5 {
            if d.topic_alias == Some(0) {
                return Err(EncodeError::TopicAliasZero);
            }
            let mut c = Counter::default();
            emit_per_delivery(&mut c, d.topic_alias, d.subscription_ids)?;
            c.len() + self.shared_props.len()
        } else {
            if d.topic_alias.is_some() || !d.subscription_ids.is_empty() {
                return Err(EncodeError::NotInV311 {
                    packet: PacketType::Publish,
                    what: "topic alias or subscription identifiers",
                });
            }
            0
        };
        let topic = if d.send_topic { self.topic.len() } else { 0 };
        let mut head_body = 2 + topic + if d.packet_id.is_some() { 2 } else { 0 };
        if self.version == Version::V5 {
            head_body += varint_len(props) + props;
        }
        let remaining = head_body + self.payload.len();
        if remaining > MAX_VARINT as usize {
            return Err(EncodeError::PacketTooLarge(PacketType::Publish));
        }
        Ok((props, remaining, 1 + varint_len(remaining) + head_body))
    }

    /// The length of `d`'s head.
    ///
    /// # Errors
    /// As [`PublishTemplate::write_head`].
    pub fn head_len(&self, d: &Delivery<'_>) -> Result<usize, EncodeError> {
        Ok(self.layout(d)?.2)
    }

    fn emit_head<S: Sink>(
        &self,
        d: &Delivery<'_>,
        props: usize,
        remaining: usize,
        s: &mut S,
    ) -> Result<(), EncodeError> {
        s.w8((PacketType::Publish as u8) << 4 | publish_flags(d.dup, self.qos as u8, d.retain));
        put_varint(s, remaining)?;
        if d.send_topic {
            s.wstr(&self.topic);
        } else {
            s.w16(0);
        }
        if let Some(id) = d.packet_id {
            s.w16(id.get());
        }
        if self.version == Version::V5 {
            put_varint(s, props)?;
            emit_per_delivery(s, d.topic_alias, d.subscription_ids)?;
            s.wslice(&self.shared_props);
        }
        Ok(())
    }

    /// Writes `d`'s head at the start of `out` (a stack buffer) and returns its
    /// length; the whole packet is that head followed by [`Self::payload`].
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when `out` is shorter than
    /// [`Self::head_len`]; [`EncodeError::PacketIdMismatch`],
    /// [`EncodeError::DupOnQoS0`], [`EncodeError::NoTopic`], or
    /// [`EncodeError::NotInV311`] (an alias or subscription identifier on 3.1.1)
    /// for a delivery that does not fit the template.
    pub fn write_head(&self, d: &Delivery<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        let (props, remaining, head) = self.layout(d)?;
        if out.len() < head {
            return Err(EncodeError::BufferTooSmall { needed: head });
        }
        let mut s = SliceSink {
            buf: out,
            pos: 0,
            overflow: false,
        };
        self.emit_head(d, props, remaining, &mut s)?;
        debug_assert!(!s.overflow && s.pos == head);
        Ok(s.pos)
    }

    /// Appends `d`'s head to `out`, laid out once (the ring's send ops copy
    /// heads into a vector of their own); returns its length. On an error
    /// `out` is as it was.
    ///
    /// # Errors
    /// As [`Self::write_head`], but for the buffer's size.
    pub fn append_head(&self, d: &Delivery<'_>, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let (props, remaining, head) = self.layout(d)?;
        let start = out.len();
        out.resize(start + head, 0);
        let mut s = SliceSink {
            buf: &mut out[start..],
            pos: 0,
            overflow: false,
        };
        match self.emit_head(d, props, remaining, &mut s) {
            Ok(()) => {
                debug_assert!(!s.overflow && s.pos == head);
                Ok(head)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Appends `d`'s head to `out` (for a writer without a stack buffer).
    ///
    /// # Errors
    /// As [`Self::write_head`], without the buffer size.
    pub fn put_head(&self, d: &Delivery<'_>, out: &mut BytesMut) -> Result<(), EncodeError> {
        let (props, remaining, head) = self.layout(d)?;
        out.reserve(head);
        self.emit_head(d, props, remaining, out)
    }
}

//! MQTT 3.1.1 and 5.0, sans-IO: every control packet of both versions as one
//! [`Packet`] type, a strict decoder and an encoder over caller-owned buffers,
//! every 5.0 property and reason code, topic rules, and the encode-once
//! [`PublishTemplate`] for fan-out.
//!
//! - [`decode`] takes one packet off the front of a `BytesMut`: `Ok(None)` when
//!   the packet is not all there yet (check, then parse), an [`MqttError`] that
//!   names the 5.0 reason code to answer with when the bytes break the spec.
//!   A packet over the [`Limits::max_packet_size`] is refused from its fixed
//!   header alone, before the rest is read. Topics, strings, binary properties
//!   and payloads are `Bytes` slices of the input, never copies.
//! - [`encode`] writes any packet for either version.
//! - [`topic`]: topic name and filter rules, matching, `$share/` parsing.
//!
//! What is not here: connection state (the packet-id, QoS, keep-alive, topic
//! alias and session rules that depend on earlier packets), sockets, timers, and
//! the mapping of MQTT to WAMP; those belong to the MQTT front end
//! (`transport`). This module imports nothing from the rest of the crate.
//! See `docs/mqtt.md` for the rules enforced and what the front end must add.

mod decode;
mod encode;
pub mod error;
pub mod packet;
pub mod properties;
mod property_id;
pub mod reason;
mod template;
pub mod topic;
mod types;
mod wire;

pub use decode::{FixedHeader, decode, peek_connect_version, peek_header};
pub use encode::{encode, encoded_len};
pub use error::{EncodeError, MqttError};
pub use packet::*;
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PropertyContext, PropertyId, PropertyType, PublishProperties, SubscribeProperties,
    UnsubscribeProperties, UserProperties, WillProperties,
};
pub use reason::ReasonCode;
pub use template::{Delivery, HEAD_OVERHEAD, HEAD_PER_SUBSCRIPTION_ID, PublishTemplate};

/// The default [`Limits::max_packet_size`]: 1 MiB.
pub const DEFAULT_MAX_PACKET_SIZE: u32 = 1 << 20;
/// The default [`Limits::max_topic_levels`].
pub const DEFAULT_MAX_TOPIC_LEVELS: u16 = 128;

/// Who sent the bytes being decoded; some packets, properties and reason codes
/// may come from one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A client (the broker decodes): CONNACK, SUBACK, UNSUBACK, PINGRESP, a
    /// second CONNECT, and a Subscription Identifier in PUBLISH are refused.
    Client,
    /// A server (a client decodes): CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, a
    /// 3.1.1 DISCONNECT and a Session Expiry Interval in DISCONNECT are refused.
    Server,
    /// Either (tests, tools): no direction checks.
    Any,
}

/// What the decoder accepts. Every field is a configurable limit of the MQTT
/// listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest packet accepted, fixed header included (5.0 Maximum Packet
    /// Size; also enforced on 3.1.1). A bigger packet is refused from its fixed
    /// header, with reason code 0x95.
    pub max_packet_size: u32,
    /// The longest topic name or filter in bytes (at most 65,535 by the
    /// encoding). Longer: 0x90 Topic Name invalid / 0x8F Topic Filter invalid.
    pub max_topic_len: u16,
    /// The most levels (`/`-separated parts) in a topic name or filter.
    pub max_topic_levels: u16,
    /// Who sent the bytes.
    pub peer: Peer,
    /// Check that payloads marked UTF-8 (Payload Format Indicator 1) are valid
    /// UTF-8 and refuse them with 0x99 otherwise (the spec allows, not
    /// requires, the check; it costs a pass over the payload).
    pub validate_payload_format: bool,
}

impl Limits {
    /// The defaults for a broker decoding what clients send.
    pub fn server() -> Limits {
        Limits {
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_topic_len: u16::MAX,
            max_topic_levels: DEFAULT_MAX_TOPIC_LEVELS,
            peer: Peer::Client,
            validate_payload_format: false,
        }
    }

    /// The defaults for a client decoding what a server sends.
    pub fn client() -> Limits {
        Limits {
            peer: Peer::Server,
            ..Limits::server()
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::server()
    }
}

#[cfg(test)]
mod tests;

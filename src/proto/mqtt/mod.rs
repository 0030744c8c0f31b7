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
//! The files form layers; each imports only files of the layers under it:
//! 1. `types.rs` (`PacketType`, `Version`, `QoS`, `PacketId`, `MqttString`),
//!    `topic.rs`, `limits.rs` ([`Limits`], [`Peer`]): no sibling;
//! 2. `reason.rs` ([`ReasonCode`]), `property_id.rs` (the property table);
//! 3. `error.rs` ([`MqttError`], [`EncodeError`]);
//! 4. `wire.rs`: Variable Byte Integers, the bounds-checked reader, the sinks
//!    that writing goes to;
//! 5. `properties.rs`: the property sets, read and written;
//! 6. `packet.rs`: the packets;
//! 7. `decode.rs`, `encode.rs`; then `template.rs` on `encode.rs`.
//!
//! What is not here: connection state (the packet-id, QoS, keep-alive, topic
//! alias and session rules that depend on earlier packets), sockets, timers, and
//! the mapping of MQTT to WAMP; those belong to the MQTT front end
//! (`transport`). This module imports nothing from the rest of the crate.
//! See `docs/mqtt.md` for the rules enforced and what the front end must add.

mod decode;
mod encode;
pub mod error;
mod limits;
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
pub use limits::{DEFAULT_MAX_PACKET_SIZE, DEFAULT_MAX_TOPIC_LEVELS, Limits, Peer};
pub use packet::*;
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PropertyContext, PropertyId, PropertyType, PublishProperties, SubscribeProperties,
    UnsubscribeProperties, UserProperties, WillProperties,
};
pub use reason::ReasonCode;
pub use template::{Delivery, HEAD_OVERHEAD, HEAD_PER_SUBSCRIPTION_ID, PublishTemplate};

#[cfg(test)]
mod tests;

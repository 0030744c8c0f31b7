//! The MQTT codec's errors: [`MqttError`] for bytes that break the protocol (each
//! carries the MQTT 5.0 reason code the spec names for it) and [`EncodeError`]
//! for a packet that cannot be put into bytes.
//!
//! Both are small `Copy` enums without heap data (no `format!` on the hot path).

use super::property_id::PropertyId;
use super::reason::ReasonCode;
use super::topic::TopicError;
use super::types::{PacketType, StringError};

/// Received bytes that are not a valid MQTT packet. The connection that sent them
/// is closed: on 5.0 after a DISCONNECT (or, for a bad CONNECT, a CONNACK) with
/// [`MqttError::reason_code`]; on 3.1.1 silently (or with a CONNACK return code,
/// see [`MqttError::v311_connack_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// The packet, as its fixed header announces it, is bigger than the maximum
    /// packet size (detected before the rest is buffered).
    #[error("packet of {size} bytes exceeds the maximum packet size of {max}")]
    PacketTooLarge {
        /// Its total size (fixed header included).
        size: usize,
        /// The limit.
        max: u32,
    },
    /// A Variable Byte Integer is longer than four bytes, or (in 5.0) not in its
    /// shortest form (MQTT-1.5.5-1).
    #[error("{field}: malformed variable byte integer")]
    MalformedVarInt {
        /// Which integer.
        field: &'static str,
    },
    /// Packet type 0, or 15 in 3.1.1.
    #[error("reserved packet type {0}")]
    ReservedPacketType(u8),
    /// The fixed header's flags are not the ones the packet type requires
    /// (MQTT-2.2.2-1, 2.2.2-2).
    #[error("{packet}: invalid fixed-header flags {flags:#06b}")]
    BadFlags {
        /// The packet type.
        packet: PacketType,
        /// The low nibble received.
        flags: u8,
    },
    /// A field runs past the end of the packet (or of its property block).
    #[error("{packet}: {field} runs past the end of the packet")]
    Truncated {
        /// The packet type.
        packet: PacketType,
        /// The field being read.
        field: &'static str,
    },
    /// Bytes left after the last field.
    #[error("{packet}: {extra} bytes after the last field")]
    TrailingBytes {
        /// The packet type.
        packet: PacketType,
        /// How many.
        extra: usize,
    },
    /// A UTF-8 string field breaks MQTT-1.5.4 (ill-formed UTF-8, a surrogate, or
    /// U+0000).
    #[error("{packet}: {field}: {what}")]
    BadString {
        /// The packet type.
        packet: PacketType,
        /// The field.
        field: &'static str,
        /// What is wrong, in words.
        what: &'static str,
    },
    /// Any other structural violation that the spec calls a Malformed Packet
    /// (QoS 3, reserved bits set, DUP on QoS 0, ...).
    #[error("{packet}: malformed: {what}")]
    Malformed {
        /// The packet type.
        packet: PacketType,
        /// What is wrong, in words.
        what: &'static str,
    },
    /// A well-formed packet that breaks a protocol rule (Protocol Error): a
    /// packet before CONNECT, a packet the sender may not send, an empty
    /// SUBSCRIBE, ...
    #[error("{packet}: protocol error: {what}")]
    Protocol {
        /// The packet type.
        packet: PacketType,
        /// What is wrong, in words.
        what: &'static str,
    },
    /// CONNECT with a protocol name other than `MQTT`.
    #[error("CONNECT: unsupported protocol name")]
    UnsupportedProtocolName,
    /// CONNECT with a protocol level other than 4 (3.1.1) or 5 (5.0).
    #[error("CONNECT: unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// A property identifier the spec does not define.
    #[error("{packet}: unknown property identifier {id:#04x}")]
    UnknownProperty {
        /// The packet type.
        packet: PacketType,
        /// The identifier (the low byte when the encoding was longer).
        id: u32,
    },
    /// A property that this packet may not carry (spec section 2.2.2.2: a
    /// Malformed Packet).
    #[error("{packet}: property {id:?} is not allowed here")]
    PropertyNotAllowed {
        /// The packet type.
        packet: PacketType,
        /// The property.
        id: PropertyId,
    },
    /// A property that may appear only once appears twice (Protocol Error).
    #[error("{packet}: property {id:?} appears more than once")]
    DuplicateProperty {
        /// The packet type.
        packet: PacketType,
        /// The property.
        id: PropertyId,
    },
    /// A property value out of its range (0/1 flags, a zero Receive Maximum,
    /// Maximum Packet Size or Subscription Identifier, ...): Protocol Error.
    #[error("{packet}: invalid value for property {id:?}")]
    BadPropertyValue {
        /// The packet type.
        packet: PacketType,
        /// The property.
        id: PropertyId,
    },
    /// A reason code this packet may not carry.
    #[error("{packet}: reason code {code:#04x} is not allowed here")]
    BadReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The code received.
        code: u8,
    },
    /// Packet Identifier 0 where one is required (MQTT-2.2.1-3).
    #[error("{packet}: packet identifier 0")]
    PacketIdZero {
        /// The packet type.
        packet: PacketType,
    },
    /// A topic name that is not acceptable (wildcards, empty, over the limits).
    #[error("{packet}: invalid topic name: {why}")]
    TopicNameInvalid {
        /// The packet type.
        packet: PacketType,
        /// Which rule.
        why: TopicError,
    },
    /// A topic filter that is not acceptable (misplaced wildcard, bad
    /// `$share/`, empty, over the limits).
    #[error("{packet}: invalid topic filter: {why}")]
    TopicFilterInvalid {
        /// The packet type.
        packet: PacketType,
        /// Which rule.
        why: TopicError,
    },
    /// Topic Alias 0 (MQTT-3.3.2-8).
    #[error("PUBLISH: topic alias 0")]
    TopicAliasInvalid,
    /// A payload marked UTF-8 (Payload Format Indicator 1) that is not
    /// (checked only when the limits ask for it).
    #[error("{packet}: payload is marked UTF-8 but is not")]
    PayloadFormatInvalid {
        /// PUBLISH or CONNECT (the Will).
        packet: PacketType,
    },
}

impl MqttError {
    /// The MQTT 5.0 reason code for a CONNACK or DISCONNECT that answers it.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            MqttError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            MqttError::MalformedVarInt { .. }
            | MqttError::ReservedPacketType(_)
            | MqttError::BadFlags { .. }
            | MqttError::Truncated { .. }
            | MqttError::TrailingBytes { .. }
            | MqttError::BadString { .. }
            | MqttError::Malformed { .. }
            | MqttError::UnknownProperty { .. }
            | MqttError::PropertyNotAllowed { .. }
            | MqttError::BadReasonCode { .. } => ReasonCode::MalformedPacket,
            MqttError::Protocol { .. }
            | MqttError::DuplicateProperty { .. }
            | MqttError::BadPropertyValue { .. }
            | MqttError::PacketIdZero { .. } => ReasonCode::ProtocolError,
            MqttError::UnsupportedProtocolName | MqttError::UnsupportedProtocolVersion(_) => {
                ReasonCode::UnsupportedProtocolVersion
            }
            MqttError::TopicNameInvalid { .. } => ReasonCode::TopicNameInvalid,
            MqttError::TopicFilterInvalid { .. } => ReasonCode::TopicFilterInvalid,
            MqttError::TopicAliasInvalid => ReasonCode::TopicAliasInvalid,
            MqttError::PayloadFormatInvalid { .. } => ReasonCode::PayloadFormatInvalid,
        }
    }

    /// On a 3.1.1 connection (or a CONNECT of unknown level), the CONNACK return
    /// code the spec asks for before closing: 0x01 for an unacceptable protocol
    /// level (MQTT-3.1.2-2). `None`: close without answering.
    pub fn v311_connack_code(&self) -> Option<u8> {
        match self {
            MqttError::UnsupportedProtocolVersion(_) => Some(1),
            _ => None,
        }
    }

    pub(crate) fn bad_string(packet: PacketType, field: &'static str, e: StringError) -> Self {
        let what = match e {
            StringError::InvalidUtf8 => "ill-formed UTF-8",
            StringError::NullChar => "contains U+0000",
            StringError::TooLong => "longer than 65535 bytes",
        };
        MqttError::BadString {
            packet,
            field,
            what,
        }
    }
}

/// A packet that cannot be encoded for the version asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The packet type does not exist in this version (AUTH in 3.1.1).
    #[error("{0} does not exist in MQTT 3.1.1")]
    NotInVersion(PacketType),
    /// The packet uses a 5.0 feature that 3.1.1 cannot express (properties, a
    /// reason code other than success, subscription options, ...).
    #[error("{packet}: {what} cannot be expressed in MQTT 3.1.1")]
    NotInV311 {
        /// The packet type.
        packet: PacketType,
        /// The feature.
        what: &'static str,
    },
    /// A binary field (payload of a Will, password, correlation or authentication
    /// data) longer than 65,535 bytes.
    #[error("a binary field is longer than 65535 bytes")]
    FieldTooLong,
    /// A Variable Byte Integer value above 268,435,455 (a Subscription Identifier).
    #[error("a variable byte integer exceeds 268435455")]
    IntegerTooLarge,
    /// The packet is longer than MQTT's maximum (remaining length 268,435,455).
    #[error("{0}: the packet exceeds the 256 MiB MQTT maximum")]
    PacketTooLarge(PacketType),
    /// QoS > 0 without a packet identifier, or QoS 0 with one.
    #[error("PUBLISH: the packet identifier must be present exactly when QoS > 0")]
    PacketIdMismatch,
    /// DUP set on a QoS 0 PUBLISH (MQTT-3.3.1-2).
    #[error("PUBLISH: DUP set at QoS 0")]
    DupOnQoS0,
    /// Topic Alias 0, which does not exist (MQTT-3.3.2-8).
    #[error("PUBLISH: topic alias 0")]
    TopicAliasZero,
    /// A PUBLISH head without its topic and without a topic alias.
    #[error("PUBLISH: no topic name and no topic alias")]
    NoTopic,
    /// The caller's buffer cannot hold the PUBLISH head.
    #[error("PUBLISH head needs {needed} bytes")]
    BufferTooSmall {
        /// The head's length.
        needed: usize,
    },
}

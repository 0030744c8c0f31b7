//! What the decoder accepts ([`Limits`]) and who sent the bytes ([`Peer`]):
//! every limit of the MQTT listener, with its default.
//!
//! This file imports nothing from its siblings.

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

//! The small value types every other file of the codec is built on: the
//! control [`PacketType`], the protocol [`Version`], [`QoS`], [`PacketId`], and
//! [`MqttString`] with its rules ([`StringError`]).
//!
//! This file imports nothing from its siblings: it is the codec's ground floor.

use std::fmt;
use std::num::NonZeroU16;

use bytes::Bytes;

/// The protocol version a connection speaks, chosen by the client's CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Version {
    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }

    /// The version of a CONNECT protocol level; `None` for any other level
    /// (3 is MQTT 3.1, which is not supported).
    pub fn from_level(level: u8) -> Option<Version> {
        match level {
            4 => Some(Version::V311),
            5 => Some(Version::V5),
            _ => None,
        }
    }
}

/// Quality of service of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: at most once.
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS of a two-bit value; `None` for 3, which is invalid everywhere.
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// A packet identifier: never 0 (MQTT-2.2.1-3 / MQTT-2.3.1-1), so `Option<PacketId>`
/// is two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The identifier `v`; `None` for 0.
    pub fn new(v: u16) -> Option<PacketId> {
        NonZeroU16::new(v).map(PacketId)
    }

    /// Its value (1..=65535).
    pub fn get(self) -> u16 {
        self.0.get()
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A UTF-8 string as MQTT defines it (MQTT-1.5.3 / MQTT-1.5.4): valid UTF-8 (so no
/// surrogates), no U+0000, at most 65,535 bytes once encoded. It holds a [`Bytes`],
/// so a string decoded from a packet is a slice of that packet's buffer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttString(Bytes);

/// Why bytes are not an [`MqttString`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringError {
    /// Not valid UTF-8 (this includes encoded surrogates U+D800..U+DFFF).
    InvalidUtf8,
    /// Contains U+0000.
    NullChar,
    /// Longer than 65,535 bytes.
    TooLong,
}

impl MqttString {
    /// A string of static text.
    ///
    /// # Panics
    /// When `s` holds U+0000 or is longer than 65,535 bytes (a programming error).
    pub fn from_static(s: &'static str) -> MqttString {
        assert!(
            check_text(s.as_bytes()).is_ok(),
            "not an MQTT string: {s:?}"
        );
        MqttString(Bytes::from_static(s.as_bytes()))
    }

    /// Checks `bytes` against the MQTT string rules and wraps them (no copy).
    ///
    /// # Errors
    /// [`StringError`] when a rule is broken.
    pub fn from_bytes(bytes: Bytes) -> Result<MqttString, StringError> {
        check_text(&bytes)?;
        Ok(MqttString(bytes))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checked that the bytes are valid UTF-8
        // (`check_text` runs `std::str::from_utf8`), and they are immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The encoded bytes (without the two-byte length prefix).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The MQTT string rules on raw bytes.
pub(crate) fn check_text(b: &[u8]) -> Result<(), StringError> {
    if b.len() > usize::from(u16::MAX) {
        return Err(StringError::TooLong);
    }
    std::str::from_utf8(b).map_err(|_| StringError::InvalidUtf8)?;
    if b.contains(&0) {
        return Err(StringError::NullChar);
    }
    Ok(())
}

impl TryFrom<&str> for MqttString {
    type Error = StringError;
    fn try_from(s: &str) -> Result<MqttString, StringError> {
        MqttString::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for MqttString {
    type Error = StringError;
    fn try_from(s: String) -> Result<MqttString, StringError> {
        MqttString::from_bytes(Bytes::from(s))
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The control packet types (the high nibble of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// CONNECT, client to server.
    Connect = 1,
    /// CONNACK, server to client.
    ConnAck = 2,
    /// PUBLISH, both ways.
    Publish = 3,
    /// PUBACK, both ways.
    PubAck = 4,
    /// PUBREC, both ways.
    PubRec = 5,
    /// PUBREL, both ways.
    PubRel = 6,
    /// PUBCOMP, both ways.
    PubComp = 7,
    /// SUBSCRIBE, client to server.
    Subscribe = 8,
    /// SUBACK, server to client.
    SubAck = 9,
    /// UNSUBSCRIBE, client to server.
    Unsubscribe = 10,
    /// UNSUBACK, server to client.
    UnsubAck = 11,
    /// PINGREQ, client to server.
    PingReq = 12,
    /// PINGRESP, server to client.
    PingResp = 13,
    /// DISCONNECT, client to server (and, in 5.0, server to client).
    Disconnect = 14,
    /// AUTH, both ways, MQTT 5.0 only.
    Auth = 15,
}

impl PacketType {
    /// The type of a first byte's high nibble; `None` for the reserved 0.
    pub fn from_nibble(n: u8) -> Option<PacketType> {
        Some(match n {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// The spec's name (`"PUBLISH"`).
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }

    /// The fixed-header flags (low nibble) every packet of this type must carry;
    /// `None` for PUBLISH, whose flags are DUP, QoS and RETAIN.
    pub fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }

    /// Whether a client may send it (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
    /// and the two-way packets).
    pub fn sent_by_client(self) -> bool {
        !matches!(
            self,
            PacketType::ConnAck | PacketType::SubAck | PacketType::UnsubAck | PacketType::PingResp
        )
    }

    /// Whether a server may send it (CONNACK, SUBACK, UNSUBACK, PINGRESP, and the
    /// two-way packets; DISCONNECT only in 5.0).
    pub fn sent_by_server(self) -> bool {
        !matches!(
            self,
            PacketType::Connect
                | PacketType::Subscribe
                | PacketType::Unsubscribe
                | PacketType::PingReq
        )
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

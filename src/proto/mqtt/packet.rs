//! The MQTT control packets of both protocol versions as one [`Packet`] type, and
//! the small value types they are built from ([`Version`], [`QoS`], [`PacketId`],
//! [`MqttString`]).
//!
//! One struct per packet covers MQTT 3.1.1 and 5.0: the 5.0-only parts (reason
//! codes, properties) are simply at their defaults in a 3.1.1 packet
//! ([`ReasonCode::Success`], empty properties). Strings, topics, binary fields and
//! payloads are [`Bytes`] slices of the received packet, never copies.
//! Nothing here reads or writes bytes; see `decode.rs` and `encode.rs`.

use std::fmt;
use std::num::NonZeroU16;

use bytes::Bytes;

use super::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use super::reason::ReasonCode;

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

/// Any MQTT control packet, of either version.
///
/// CONNECT and CONNACK are boxed: they come once per connection and are the
/// largest, so the hot packets (PUBLISH and its acknowledgements) stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT.
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK (QoS 1 acknowledgement).
    PubAck(PubResponse),
    /// PUBREC (QoS 2, part 1).
    PubRec(PubResponse),
    /// PUBREL (QoS 2, part 2).
    PubRel(PubResponse),
    /// PUBCOMP (QoS 2, part 3).
    PubComp(PubResponse),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (5.0 only).
    Auth(Auth),
}

impl Packet {
    /// Its control packet type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}

/// CONNECT: the first packet of every connection; its protocol level chooses the
/// version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The version its protocol level names.
    pub version: Version,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive in seconds (0: none).
    pub keep_alive: u16,
    /// Client Identifier; may be empty (the server then assigns one or refuses).
    pub client_id: MqttString,
    /// The Will (testament), when the Will Flag is set.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password (binary data). In 3.1.1 only present with a user name.
    pub password: Option<Bytes>,
    /// Properties (5.0).
    pub properties: ConnectProperties,
}

/// The Will of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic: a topic name (no wildcards).
    pub topic: MqttString,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will Properties (5.0).
    pub properties: WillProperties,
}

/// CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present (must be false when `code` is not success).
    pub session_present: bool,
    /// Connect Reason Code (5.0); in 3.1.1 the return codes 0..=5 map to
    /// Success, UnsupportedProtocolVersion, ClientIdentifierNotValid,
    /// ServerUnavailable, BadUserNameOrPassword and NotAuthorized
    /// (see [`ReasonCode::to_v311_connack`]).
    pub code: ReasonCode,
    /// Properties (5.0).
    pub properties: ConnAckProperties,
}

/// PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: a re-delivery (always false at QoS 0).
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name: no wildcards. Empty only in 5.0 with a Topic Alias property.
    pub topic: MqttString,
    /// Packet Identifier: `Some` exactly when QoS > 0.
    pub packet_id: Option<PacketId>,
    /// Properties (5.0).
    pub properties: PublishProperties,
    /// Application payload, a slice of the received buffer.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP: a packet identifier, and in 5.0 a reason
/// code and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResponse {
    /// Packet Identifier of the PUBLISH (or PUBREL) it answers.
    pub packet_id: PacketId,
    /// Reason Code (5.0; always Success in 3.1.1).
    pub reason: ReasonCode,
    /// Properties (5.0).
    pub properties: AckProperties,
}

impl PubResponse {
    /// A successful response without properties (all 3.1.1 can say).
    pub fn new(packet_id: PacketId) -> PubResponse {
        PubResponse {
            packet_id,
            reason: ReasonCode::Success,
            properties: AckProperties::default(),
        }
    }
}

/// What a subscription does with retained messages when it is made (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not exist yet.
    SendIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

/// The Subscription Options byte (in 3.1.1 only the QoS is meaningful; the other
/// fields are at their defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// Maximum QoS the server may deliver with.
    pub qos: QoS,
    /// No Local: do not send the client its own publications (5.0).
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag when forwarding (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with QoS `qos` and every 5.0 option at its default.
    pub fn new(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }
}

/// One topic filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Topic Filter (checked by the decoder; a `$share/{group}/{filter}` shared
    /// subscription in 5.0 is checked in that form).
    pub filter: MqttString,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// At least one filter.
    pub subscriptions: Vec<Subscription>,
    /// Properties (5.0).
    pub properties: SubscribeProperties,
}

/// SUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// One code per filter, in order: GrantedQoS0/1/2 or a failure (3.1.1 has
    /// only 0x80, [`ReasonCode::UnspecifiedError`]).
    pub codes: Vec<ReasonCode>,
    /// Properties (5.0).
    pub properties: AckProperties,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// At least one filter.
    pub filters: Vec<MqttString>,
    /// Properties (5.0).
    pub properties: UnsubscribeProperties,
}

/// UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// One code per filter (5.0); empty in 3.1.1, which has none.
    pub codes: Vec<ReasonCode>,
    /// Properties (5.0).
    pub properties: AckProperties,
}

/// DISCONNECT (in 3.1.1 it has no content: reason Success, no properties).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Disconnect Reason Code (5.0).
    pub reason: ReasonCode,
    /// Properties (5.0).
    pub properties: DisconnectProperties,
}

/// AUTH (5.0 only): extended authentication exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Success, ContinueAuthentication or ReAuthenticate.
    pub reason: ReasonCode,
    /// Properties.
    pub properties: AuthProperties,
}

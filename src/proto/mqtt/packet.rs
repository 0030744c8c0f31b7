//! The MQTT control packets of both protocol versions as one [`Packet`] type:
//! one struct per packet, with the small types only packets use
//! ([`RetainHandling`], [`SubscriptionOptions`], [`Subscription`], [`Will`]).
//! The value types they are built from ([`Version`], [`QoS`], [`PacketId`],
//! [`MqttString`], [`PacketType`]) live in `types.rs` and are re-exported here.
//!
//! One struct per packet covers MQTT 3.1.1 and 5.0: the 5.0-only parts (reason
//! codes, properties) are simply at their defaults in a 3.1.1 packet
//! ([`ReasonCode::Success`], empty properties). Strings, topics, binary fields and
//! payloads are [`Bytes`] slices of the received packet, never copies.
//! Nothing here reads or writes bytes; see `decode.rs` and `encode.rs`.

use bytes::Bytes;

use super::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use super::reason::ReasonCode;
pub use super::types::{MqttString, PacketId, PacketType, QoS, StringError, Version};

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

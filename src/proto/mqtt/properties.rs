//! MQTT 5.0 properties (spec section 2.2.2): the table of identifiers, types and
//! placement ([`PropertyId`], kept in `property_id.rs`), one struct per
//! property set (CONNECT, Will, CONNACK, PUBLISH, the acknowledgements,
//! SUBSCRIBE, UNSUBSCRIBE, DISCONNECT, AUTH), and their reading and writing.
//!
//! Reading enforces, for every packet: known identifiers only, only those the
//! packet may carry (else Malformed Packet), no repetition of a property that may
//! appear once (Protocol Error), and the value ranges the spec gives (0/1 flags,
//! non-zero Receive Maximum, Maximum Packet Size, Subscription Identifier and
//! Topic Alias). Strings and binary values are slices of the packet.

use bytes::Bytes;

use super::error::{EncodeError, MqttError};
pub use super::property_id::{ALL_PROPERTIES, PropertyContext, PropertyId, PropertyType};
use super::types::{MqttString, PacketType, QoS};
pub use super::wire::MAX_VARINT;
use super::wire::{Counter, Reader, Sink, put_varint};

/// User Properties: name/value pairs, in the order received (they may repeat).
pub type UserProperties = Vec<(MqttString, MqttString)>;

/// A property value as read, by data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// Byte.
    Byte(u8),
    /// Two-byte integer.
    U16(u16),
    /// Four-byte integer.
    U32(u32),
    /// Variable byte integer.
    VarInt(u32),
    /// UTF-8 string.
    Str(MqttString),
    /// Binary data.
    Bin(Bytes),
    /// UTF-8 string pair.
    Pair(MqttString, MqttString),
}

/// Reads a property block (length, then properties) in context `ctx`, checking
/// identifiers, placement, repetition and ranges, and hands each to `set`.
fn read_block(
    r: &mut Reader,
    ctx: PropertyContext,
    mut set: impl FnMut(PropertyId, PropertyValue) -> Option<()>,
) -> Result<(), MqttError> {
    let packet = ctx.packet();
    let len = r.varint("property length")?;
    let mut p = r.sub(len as usize, "properties")?;
    let mut seen = 0u64;
    while p.remaining() > 0 {
        let raw = p.varint("property identifier")?;
        let id = u8::try_from(raw)
            .ok()
            .and_then(PropertyId::from_u8)
            .ok_or(MqttError::UnknownProperty { packet, id: raw })?;
        if !id.allowed_in(ctx) {
            return Err(MqttError::PropertyNotAllowed { packet, id });
        }
        let bit = 1u64 << (id as u8);
        if seen & bit != 0 && !id.repeatable_in(ctx) {
            return Err(MqttError::DuplicateProperty { packet, id });
        }
        seen |= bit;
        let bad = MqttError::BadPropertyValue { packet, id };
        let value = match id.value_type() {
            PropertyType::Byte => match p.u8("property value")? {
                v @ (0 | 1) => PropertyValue::Byte(v),
                _ => return Err(bad),
            },
            PropertyType::TwoByteInteger => match p.u16("property value")? {
                0 if id == PropertyId::TopicAlias => return Err(MqttError::TopicAliasInvalid),
                0 if id == PropertyId::ReceiveMaximum => return Err(bad),
                v => PropertyValue::U16(v),
            },
            PropertyType::FourByteInteger => match p.u32("property value")? {
                0 if id == PropertyId::MaximumPacketSize => return Err(bad),
                v => PropertyValue::U32(v),
            },
            PropertyType::VariableByteInteger => match p.varint("property value")? {
                0 => return Err(bad),
                v => PropertyValue::VarInt(v),
            },
            PropertyType::Utf8String => PropertyValue::Str(p.string("property value")?),
            PropertyType::BinaryData => PropertyValue::Bin(p.binary("property value")?),
            PropertyType::Utf8StringPair => {
                let k = p.string("user property name")?;
                PropertyValue::Pair(k, p.string("user property value")?)
            }
        };
        // `set` refuses only a value whose type contradicts the table above,
        // which the table's unit test rules out; report it as not allowed.
        set(id, value).ok_or(MqttError::PropertyNotAllowed { packet, id })?;
    }
    Ok(())
}

/// A property set that can be written.
pub(crate) trait Props {
    /// Writes the properties (without the length prefix).
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

/// Whether a property set has nothing to write (what 3.1.1 requires). Cheaper
/// than comparing with a default value, which compares every field.
pub(crate) fn is_empty<P: Props>(p: &P) -> bool {
    let mut c = Counter::default();
    p.emit(&mut c).is_ok() && c.len() == 0
}

/// Writes a property block: its length, then the properties.
pub(crate) fn put_block<S: Sink, P: Props>(s: &mut S, p: &P) -> Result<(), EncodeError> {
    let mut c = Counter::default();
    p.emit(&mut c)?;
    put_varint(s, c.len())?;
    p.emit(s)
}

// Writers of one property each; `None` writes nothing.
fn w_u8<S: Sink>(s: &mut S, id: PropertyId, v: Option<u8>) {
    if let Some(v) = v {
        s.w8(id as u8);
        s.w8(v);
    }
}
fn w_flag<S: Sink>(s: &mut S, id: PropertyId, v: Option<bool>) {
    w_u8(s, id, v.map(u8::from));
}
fn w_u16<S: Sink>(s: &mut S, id: PropertyId, v: Option<u16>) {
    if let Some(v) = v {
        s.w8(id as u8);
        s.w16(v);
    }
}
fn w_u32<S: Sink>(s: &mut S, id: PropertyId, v: Option<u32>) {
    if let Some(v) = v {
        s.w8(id as u8);
        s.w32(v);
    }
}
pub(crate) fn w_varint<S: Sink>(s: &mut S, id: PropertyId, v: u32) -> Result<(), EncodeError> {
    s.w8(id as u8);
    put_varint(s, v as usize)
}
fn w_str<S: Sink>(s: &mut S, id: PropertyId, v: &Option<MqttString>) {
    if let Some(v) = v {
        s.w8(id as u8);
        s.wstr(v);
    }
}
fn w_bin<S: Sink>(s: &mut S, id: PropertyId, v: &Option<Bytes>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        s.w8(id as u8);
        s.wbin(v)?;
    }
    Ok(())
}
fn w_user<S: Sink>(s: &mut S, v: &UserProperties) {
    for (k, val) in v {
        s.w8(PropertyId::UserProperty as u8);
        s.wstr(k);
        s.wstr(val);
    }
}

/// CONNECT properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectProperties {
    /// Session Expiry Interval (seconds; absent means 0).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (absent means 65,535).
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size the client accepts (absent: no limit).
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum the client accepts (absent means 0).
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information.
    pub request_response_information: Option<bool>,
    /// Request Problem Information.
    pub request_problem_information: Option<bool>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (only with a method).
    pub authentication_data: Option<Bytes>,
}

impl ConnectProperties {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::Connect, |id, v| {
            match (id, v) {
                (P::SessionExpiryInterval, V::U32(v)) => p.session_expiry_interval = Some(v),
                (P::ReceiveMaximum, V::U16(v)) => p.receive_maximum = Some(v),
                (P::MaximumPacketSize, V::U32(v)) => p.maximum_packet_size = Some(v),
                (P::TopicAliasMaximum, V::U16(v)) => p.topic_alias_maximum = Some(v),
                (P::RequestResponseInformation, V::Byte(v)) => {
                    p.request_response_information = Some(v == 1)
                }
                (P::RequestProblemInformation, V::Byte(v)) => {
                    p.request_problem_information = Some(v == 1)
                }
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                (P::AuthenticationMethod, V::Str(v)) => p.authentication_method = Some(v),
                (P::AuthenticationData, V::Bin(v)) => p.authentication_data = Some(v),
                _ => return None,
            }
            Some(())
        })?;
        if p.authentication_data.is_some() && p.authentication_method.is_none() {
            // MQTT-3.1.2.11.10: data without a method is a Protocol Error.
            return Err(MqttError::Protocol {
                packet: PacketType::Connect,
                what: "authentication data without a method",
            });
        }
        Ok(p)
    }
}

impl Props for ConnectProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId as P;
        w_u32(s, P::SessionExpiryInterval, self.session_expiry_interval);
        w_str(s, P::AuthenticationMethod, &self.authentication_method);
        w_bin(s, P::AuthenticationData, &self.authentication_data)?;
        w_flag(
            s,
            P::RequestProblemInformation,
            self.request_problem_information,
        );
        w_flag(
            s,
            P::RequestResponseInformation,
            self.request_response_information,
        );
        w_u16(s, P::ReceiveMaximum, self.receive_maximum);
        w_u16(s, P::TopicAliasMaximum, self.topic_alias_maximum);
        w_user(s, &self.user_properties);
        w_u32(s, P::MaximumPacketSize, self.maximum_packet_size);
        Ok(())
    }
}

/// Will Properties (inside CONNECT).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillProperties {
    /// Will Delay Interval (seconds).
    pub will_delay_interval: Option<u32>,
    /// Payload Format Indicator (true: UTF-8).
    pub payload_format_indicator: Option<bool>,
    /// Message Expiry Interval (seconds).
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    pub content_type: Option<MqttString>,
    /// Response Topic (a topic name).
    pub response_topic: Option<MqttString>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties.
    pub user_properties: UserProperties,
}

impl WillProperties {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::Will, |id, v| {
            match (id, v) {
                (P::WillDelayInterval, V::U32(v)) => p.will_delay_interval = Some(v),
                (P::PayloadFormatIndicator, V::Byte(v)) => {
                    p.payload_format_indicator = Some(v == 1)
                }
                (P::MessageExpiryInterval, V::U32(v)) => p.message_expiry_interval = Some(v),
                (P::ContentType, V::Str(v)) => p.content_type = Some(v),
                (P::ResponseTopic, V::Str(v)) => p.response_topic = Some(v),
                (P::CorrelationData, V::Bin(v)) => p.correlation_data = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }
}

impl Props for WillProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId as P;
        w_flag(s, P::PayloadFormatIndicator, self.payload_format_indicator);
        w_u32(s, P::MessageExpiryInterval, self.message_expiry_interval);
        w_str(s, P::ContentType, &self.content_type);
        w_str(s, P::ResponseTopic, &self.response_topic);
        w_bin(s, P::CorrelationData, &self.correlation_data)?;
        w_u32(s, P::WillDelayInterval, self.will_delay_interval);
        w_user(s, &self.user_properties);
        Ok(())
    }
}

/// CONNACK properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAckProperties {
    /// Session Expiry Interval the server uses.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum of the server.
    pub receive_maximum: Option<u16>,
    /// Maximum QoS the server supports (0 or 1; absent means 2).
    pub maximum_qos: Option<QoS>,
    /// Retain Available.
    pub retain_available: Option<bool>,
    /// Maximum Packet Size the server accepts.
    pub maximum_packet_size: Option<u32>,
    /// Assigned Client Identifier.
    pub assigned_client_identifier: Option<MqttString>,
    /// Topic Alias Maximum the server accepts.
    pub topic_alias_maximum: Option<u16>,
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Wildcard Subscription Available.
    pub wildcard_subscription_available: Option<bool>,
    /// Subscription Identifiers Available.
    pub subscription_identifiers_available: Option<bool>,
    /// Shared Subscription Available.
    pub shared_subscription_available: Option<bool>,
    /// Server Keep Alive (overrides the client's).
    pub server_keep_alive: Option<u16>,
    /// Response Information.
    pub response_information: Option<MqttString>,
    /// Server Reference.
    pub server_reference: Option<MqttString>,
    /// Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
}

impl ConnAckProperties {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::ConnAck, |id, v| {
            match (id, v) {
                (P::SessionExpiryInterval, V::U32(v)) => p.session_expiry_interval = Some(v),
                (P::ReceiveMaximum, V::U16(v)) => p.receive_maximum = Some(v),
                (P::MaximumQoS, V::Byte(v)) => p.maximum_qos = QoS::from_u8(v),
                (P::RetainAvailable, V::Byte(v)) => p.retain_available = Some(v == 1),
                (P::MaximumPacketSize, V::U32(v)) => p.maximum_packet_size = Some(v),
                (P::AssignedClientIdentifier, V::Str(v)) => p.assigned_client_identifier = Some(v),
                (P::TopicAliasMaximum, V::U16(v)) => p.topic_alias_maximum = Some(v),
                (P::ReasonString, V::Str(v)) => p.reason_string = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                (P::WildcardSubscriptionAvailable, V::Byte(v)) => {
                    p.wildcard_subscription_available = Some(v == 1)
                }
                (P::SubscriptionIdentifierAvailable, V::Byte(v)) => {
                    p.subscription_identifiers_available = Some(v == 1)
                }
                (P::SharedSubscriptionAvailable, V::Byte(v)) => {
                    p.shared_subscription_available = Some(v == 1)
                }
                (P::ServerKeepAlive, V::U16(v)) => p.server_keep_alive = Some(v),
                (P::ResponseInformation, V::Str(v)) => p.response_information = Some(v),
                (P::ServerReference, V::Str(v)) => p.server_reference = Some(v),
                (P::AuthenticationMethod, V::Str(v)) => p.authentication_method = Some(v),
                (P::AuthenticationData, V::Bin(v)) => p.authentication_data = Some(v),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }
}

impl Props for ConnAckProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId as P;
        w_u32(s, P::SessionExpiryInterval, self.session_expiry_interval);
        w_str(
            s,
            P::AssignedClientIdentifier,
            &self.assigned_client_identifier,
        );
        w_u16(s, P::ServerKeepAlive, self.server_keep_alive);
        w_str(s, P::AuthenticationMethod, &self.authentication_method);
        w_bin(s, P::AuthenticationData, &self.authentication_data)?;
        w_str(s, P::ResponseInformation, &self.response_information);
        w_str(s, P::ServerReference, &self.server_reference);
        w_str(s, P::ReasonString, &self.reason_string);
        w_u16(s, P::ReceiveMaximum, self.receive_maximum);
        w_u16(s, P::TopicAliasMaximum, self.topic_alias_maximum);
        w_u8(s, P::MaximumQoS, self.maximum_qos.map(|q| q as u8));
        w_flag(s, P::RetainAvailable, self.retain_available);
        w_user(s, &self.user_properties);
        w_u32(s, P::MaximumPacketSize, self.maximum_packet_size);
        w_flag(
            s,
            P::WildcardSubscriptionAvailable,
            self.wildcard_subscription_available,
        );
        w_flag(
            s,
            P::SubscriptionIdentifierAvailable,
            self.subscription_identifiers_available,
        );
        w_flag(
            s,
            P::SharedSubscriptionAvailable,
            self.shared_subscription_available,
        );
        Ok(())
    }
}

/// PUBLISH properties.
///
/// Written in two parts, so that a fan-out can share the second: first the
/// per-delivery ones (Topic Alias, Subscription Identifiers), then the rest in
/// identifier order (what a fan-out template shares).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// Payload Format Indicator (true: UTF-8).
    pub payload_format_indicator: Option<bool>,
    /// Message Expiry Interval (seconds).
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias (never 0).
    pub topic_alias: Option<u16>,
    /// Response Topic (a topic name).
    pub response_topic: Option<MqttString>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Subscription Identifiers (server to client only; one per matching
    /// subscription that has one).
    pub subscription_identifiers: Vec<u32>,
    /// Content Type.
    pub content_type: Option<MqttString>,
}

impl PublishProperties {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::Publish, |id, v| {
            match (id, v) {
                (P::PayloadFormatIndicator, V::Byte(v)) => {
                    p.payload_format_indicator = Some(v == 1)
                }
                (P::MessageExpiryInterval, V::U32(v)) => p.message_expiry_interval = Some(v),
                (P::TopicAlias, V::U16(v)) => p.topic_alias = Some(v),
                (P::ResponseTopic, V::Str(v)) => p.response_topic = Some(v),
                (P::CorrelationData, V::Bin(v)) => p.correlation_data = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                (P::SubscriptionIdentifier, V::VarInt(v)) => p.subscription_identifiers.push(v),
                (P::ContentType, V::Str(v)) => p.content_type = Some(v),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }

    /// Writes the properties every subscriber of a fan-out shares (all but
    /// Topic Alias and Subscription Identifiers), in identifier order.
    pub(crate) fn emit_shared<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId as P;
        w_flag(s, P::PayloadFormatIndicator, self.payload_format_indicator);
        w_u32(s, P::MessageExpiryInterval, self.message_expiry_interval);
        w_str(s, P::ContentType, &self.content_type);
        w_str(s, P::ResponseTopic, &self.response_topic);
        w_bin(s, P::CorrelationData, &self.correlation_data)?;
        w_user(s, &self.user_properties);
        Ok(())
    }
}

/// Writes the per-delivery PUBLISH properties: Topic Alias, then Subscription
/// Identifiers.
pub(crate) fn emit_per_delivery<S: Sink>(
    s: &mut S,
    topic_alias: Option<u16>,
    subscription_ids: &[u32],
) -> Result<(), EncodeError> {
    w_u16(s, PropertyId::TopicAlias, topic_alias);
    for id in subscription_ids {
        if *id == 0 || *id > MAX_VARINT {
            return Err(EncodeError::IntegerTooLarge);
        }
        w_varint(s, PropertyId::SubscriptionIdentifier, *id)?;
    }
    Ok(())
}

impl Props for PublishProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        emit_per_delivery(s, self.topic_alias, &self.subscription_identifiers)?;
        self.emit_shared(s)
    }
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckProperties {
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: UserProperties,
}

impl AckProperties {
    /// Whether there are none (then short forms of the packets apply).
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }

    pub(crate) fn read(r: &mut Reader, ctx: PropertyContext) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, ctx, |id, v| {
            match (id, v) {
                (P::ReasonString, V::Str(v)) => p.reason_string = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }
}

impl Props for AckProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_str(s, PropertyId::ReasonString, &self.reason_string);
        w_user(s, &self.user_properties);
        Ok(())
    }
}

/// SUBSCRIBE properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeProperties {
    /// Subscription Identifier (1..=268,435,455).
    pub subscription_identifier: Option<u32>,
    /// User Properties.
    pub user_properties: UserProperties,
}

impl SubscribeProperties {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::Subscribe, |id, v| {
            match (id, v) {
                (P::SubscriptionIdentifier, V::VarInt(v)) => p.subscription_identifier = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }
}

impl Props for SubscribeProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        emit_per_delivery(s, None, self.subscription_identifier.as_slice())?;
        w_user(s, &self.user_properties);
        Ok(())
    }
}

/// UNSUBSCRIBE properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnsubscribeProperties {
    /// User Properties.
    pub user_properties: UserProperties,
}

impl UnsubscribeProperties {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        let mut p = Self::default();
        read_block(r, PropertyContext::Unsubscribe, |id, v| match (id, v) {
            (PropertyId::UserProperty, PropertyValue::Pair(k, v)) => {
                p.user_properties.push((k, v));
                Some(())
            }
            _ => None,
        })?;
        Ok(p)
    }
}

impl Props for UnsubscribeProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_user(s, &self.user_properties);
        Ok(())
    }
}

/// DISCONNECT properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectProperties {
    /// Session Expiry Interval (client to server only).
    pub session_expiry_interval: Option<u32>,
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: UserProperties,
    /// Server Reference.
    pub server_reference: Option<MqttString>,
}

impl DisconnectProperties {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
            && self.server_reference.is_none()
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::Disconnect, |id, v| {
            match (id, v) {
                (P::SessionExpiryInterval, V::U32(v)) => p.session_expiry_interval = Some(v),
                (P::ReasonString, V::Str(v)) => p.reason_string = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                (P::ServerReference, V::Str(v)) => p.server_reference = Some(v),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }
}

impl Props for DisconnectProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId as P;
        w_u32(s, P::SessionExpiryInterval, self.session_expiry_interval);
        w_str(s, P::ServerReference, &self.server_reference);
        w_str(s, P::ReasonString, &self.reason_string);
        w_user(s, &self.user_properties);
        Ok(())
    }
}

/// AUTH properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthProperties {
    /// Authentication Method (required whenever the AUTH has properties).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: UserProperties,
}

impl AuthProperties {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self, MqttError> {
        use PropertyId as P;
        use PropertyValue as V;
        let mut p = Self::default();
        read_block(r, PropertyContext::Auth, |id, v| {
            match (id, v) {
                (P::AuthenticationMethod, V::Str(v)) => p.authentication_method = Some(v),
                (P::AuthenticationData, V::Bin(v)) => p.authentication_data = Some(v),
                (P::ReasonString, V::Str(v)) => p.reason_string = Some(v),
                (P::UserProperty, V::Pair(k, v)) => p.user_properties.push((k, v)),
                _ => return None,
            }
            Some(())
        })?;
        Ok(p)
    }
}

impl Props for AuthProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId as P;
        w_str(s, P::AuthenticationMethod, &self.authentication_method);
        w_bin(s, P::AuthenticationData, &self.authentication_data)?;
        w_str(s, P::ReasonString, &self.reason_string);
        w_user(s, &self.user_properties);
        Ok(())
    }
}

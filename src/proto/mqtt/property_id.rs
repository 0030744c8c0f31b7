//! The MQTT 5.0 property table (spec section 2.2.2.2): every property
//! identifier with its data type, the packets (and the Will) that may carry it,
//! and which may repeat. Reading and writing property sets is in
//! `properties.rs`.

use super::types::PacketType;

/// A property identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PropertyId {
    /// 0x01 Payload Format Indicator (byte 0/1): PUBLISH, Will.
    PayloadFormatIndicator = 0x01,
    /// 0x02 Message Expiry Interval (four-byte integer, seconds): PUBLISH, Will.
    MessageExpiryInterval = 0x02,
    /// 0x03 Content Type (UTF-8 string): PUBLISH, Will.
    ContentType = 0x03,
    /// 0x08 Response Topic (UTF-8 string, a topic name): PUBLISH, Will.
    ResponseTopic = 0x08,
    /// 0x09 Correlation Data (binary): PUBLISH, Will.
    CorrelationData = 0x09,
    /// 0x0B Subscription Identifier (variable byte integer 1..268435455):
    /// PUBLISH (repeatable), SUBSCRIBE.
    SubscriptionIdentifier = 0x0B,
    /// 0x11 Session Expiry Interval (four-byte integer, seconds): CONNECT,
    /// CONNACK, DISCONNECT.
    SessionExpiryInterval = 0x11,
    /// 0x12 Assigned Client Identifier (UTF-8 string): CONNACK.
    AssignedClientIdentifier = 0x12,
    /// 0x13 Server Keep Alive (two-byte integer, seconds): CONNACK.
    ServerKeepAlive = 0x13,
    /// 0x15 Authentication Method (UTF-8 string): CONNECT, CONNACK, AUTH.
    AuthenticationMethod = 0x15,
    /// 0x16 Authentication Data (binary): CONNECT, CONNACK, AUTH.
    AuthenticationData = 0x16,
    /// 0x17 Request Problem Information (byte 0/1): CONNECT.
    RequestProblemInformation = 0x17,
    /// 0x18 Will Delay Interval (four-byte integer, seconds): Will.
    WillDelayInterval = 0x18,
    /// 0x19 Request Response Information (byte 0/1): CONNECT.
    RequestResponseInformation = 0x19,
    /// 0x1A Response Information (UTF-8 string): CONNACK.
    ResponseInformation = 0x1A,
    /// 0x1C Server Reference (UTF-8 string): CONNACK, DISCONNECT.
    ServerReference = 0x1C,
    /// 0x1F Reason String (UTF-8 string): CONNACK, PUBACK, PUBREC, PUBREL,
    /// PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH.
    ReasonString = 0x1F,
    /// 0x21 Receive Maximum (two-byte integer, not 0): CONNECT, CONNACK.
    ReceiveMaximum = 0x21,
    /// 0x22 Topic Alias Maximum (two-byte integer): CONNECT, CONNACK.
    TopicAliasMaximum = 0x22,
    /// 0x23 Topic Alias (two-byte integer, not 0): PUBLISH.
    TopicAlias = 0x23,
    /// 0x24 Maximum QoS (byte 0/1): CONNACK.
    MaximumQoS = 0x24,
    /// 0x25 Retain Available (byte 0/1): CONNACK.
    RetainAvailable = 0x25,
    /// 0x26 User Property (UTF-8 string pair, repeatable): every packet with
    /// properties.
    UserProperty = 0x26,
    /// 0x27 Maximum Packet Size (four-byte integer, not 0): CONNECT, CONNACK.
    MaximumPacketSize = 0x27,
    /// 0x28 Wildcard Subscription Available (byte 0/1): CONNACK.
    WildcardSubscriptionAvailable = 0x28,
    /// 0x29 Subscription Identifiers Available (byte 0/1): CONNACK.
    SubscriptionIdentifierAvailable = 0x29,
    /// 0x2A Shared Subscription Available (byte 0/1): CONNACK.
    SharedSubscriptionAvailable = 0x2A,
}

/// Every property, in identifier order.
pub const ALL_PROPERTIES: [PropertyId; 27] = {
    use PropertyId::*;
    [
        PayloadFormatIndicator,
        MessageExpiryInterval,
        ContentType,
        ResponseTopic,
        CorrelationData,
        SubscriptionIdentifier,
        SessionExpiryInterval,
        AssignedClientIdentifier,
        ServerKeepAlive,
        AuthenticationMethod,
        AuthenticationData,
        RequestProblemInformation,
        WillDelayInterval,
        RequestResponseInformation,
        ResponseInformation,
        ServerReference,
        ReasonString,
        ReceiveMaximum,
        TopicAliasMaximum,
        TopicAlias,
        MaximumQoS,
        RetainAvailable,
        UserProperty,
        MaximumPacketSize,
        WildcardSubscriptionAvailable,
        SubscriptionIdentifierAvailable,
        SharedSubscriptionAvailable,
    ]
};

/// A property's data type (spec section 1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// One byte.
    Byte,
    /// Big-endian u16.
    TwoByteInteger,
    /// Big-endian u32.
    FourByteInteger,
    /// Variable Byte Integer.
    VariableByteInteger,
    /// UTF-8 Encoded String.
    Utf8String,
    /// Binary Data.
    BinaryData,
    /// UTF-8 String Pair.
    Utf8StringPair,
}

/// Where a property set appears: each packet with properties, plus the Will
/// properties inside CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PropertyContext {
    /// CONNECT.
    Connect,
    /// The Will Properties of CONNECT.
    Will,
    /// CONNACK.
    ConnAck,
    /// PUBLISH.
    Publish,
    /// PUBACK.
    PubAck,
    /// PUBREC.
    PubRec,
    /// PUBREL.
    PubRel,
    /// PUBCOMP.
    PubComp,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    SubAck,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    UnsubAck,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

impl PropertyContext {
    /// The packet the properties belong to.
    pub fn packet(self) -> PacketType {
        use PropertyContext as C;
        match self {
            C::Connect | C::Will => PacketType::Connect,
            C::ConnAck => PacketType::ConnAck,
            C::Publish => PacketType::Publish,
            C::PubAck => PacketType::PubAck,
            C::PubRec => PacketType::PubRec,
            C::PubRel => PacketType::PubRel,
            C::PubComp => PacketType::PubComp,
            C::Subscribe => PacketType::Subscribe,
            C::SubAck => PacketType::SubAck,
            C::Unsubscribe => PacketType::Unsubscribe,
            C::UnsubAck => PacketType::UnsubAck,
            C::Disconnect => PacketType::Disconnect,
            C::Auth => PacketType::Auth,
        }
    }

    /// The context of an acknowledgement packet's properties
    /// (`AckProperties`); `None` for the other packets.
    pub fn of_ack(packet: PacketType) -> Option<PropertyContext> {
        Some(match packet {
            PacketType::PubAck => PropertyContext::PubAck,
            PacketType::PubRec => PropertyContext::PubRec,
            PacketType::PubRel => PropertyContext::PubRel,
            PacketType::PubComp => PropertyContext::PubComp,
            PacketType::SubAck => PropertyContext::SubAck,
            PacketType::UnsubAck => PropertyContext::UnsubAck,
            _ => return None,
        })
    }

    const fn bit(self) -> u16 {
        1 << self as u8
    }
}

impl PropertyId {
    /// The property with identifier `v`; `None` for an undefined one.
    pub fn from_u8(v: u8) -> Option<PropertyId> {
        ALL_PROPERTIES.iter().copied().find(|p| *p as u8 == v)
    }

    /// Its data type.
    pub fn value_type(self) -> PropertyType {
        use PropertyId::*;
        use PropertyType as T;
        match self {
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => T::Byte,
            ServerKeepAlive | ReceiveMaximum | TopicAliasMaximum | TopicAlias => T::TwoByteInteger,
            MessageExpiryInterval
            | SessionExpiryInterval
            | WillDelayInterval
            | MaximumPacketSize => T::FourByteInteger,
            SubscriptionIdentifier => T::VariableByteInteger,
            ContentType
            | ResponseTopic
            | AssignedClientIdentifier
            | AuthenticationMethod
            | ResponseInformation
            | ServerReference
            | ReasonString => T::Utf8String,
            CorrelationData | AuthenticationData => T::BinaryData,
            UserProperty => T::Utf8StringPair,
        }
    }

    /// The contexts that may carry it, as a bit set of [`PropertyContext`].
    const fn contexts(self) -> u16 {
        use PropertyContext as C;
        use PropertyId::*;
        match self {
            PayloadFormatIndicator
            | MessageExpiryInterval
            | ContentType
            | ResponseTopic
            | CorrelationData => C::Publish.bit() | C::Will.bit(),
            SubscriptionIdentifier => C::Publish.bit() | C::Subscribe.bit(),
            SessionExpiryInterval => C::Connect.bit() | C::ConnAck.bit() | C::Disconnect.bit(),
            AssignedClientIdentifier
            | ServerKeepAlive
            | ResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => C::ConnAck.bit(),
            AuthenticationMethod | AuthenticationData => {
                C::Connect.bit() | C::ConnAck.bit() | C::Auth.bit()
            }
            RequestProblemInformation | RequestResponseInformation => C::Connect.bit(),
            WillDelayInterval => C::Will.bit(),
            ServerReference => C::ConnAck.bit() | C::Disconnect.bit(),
            ReasonString => {
                C::ConnAck.bit()
                    | C::PubAck.bit()
                    | C::PubRec.bit()
                    | C::PubRel.bit()
                    | C::PubComp.bit()
                    | C::SubAck.bit()
                    | C::UnsubAck.bit()
                    | C::Disconnect.bit()
                    | C::Auth.bit()
            }
            ReceiveMaximum | TopicAliasMaximum | MaximumPacketSize => {
                C::Connect.bit() | C::ConnAck.bit()
            }
            TopicAlias => C::Publish.bit(),
            UserProperty => u16::MAX,
        }
    }

    /// Whether `ctx` may carry it.
    pub fn allowed_in(self, ctx: PropertyContext) -> bool {
        self.contexts() & ctx.bit() != 0
    }

    /// Whether it may appear more than once in `ctx`: User Property everywhere,
    /// Subscription Identifier in PUBLISH (one per matching subscription).
    pub fn repeatable_in(self, ctx: PropertyContext) -> bool {
        match self {
            PropertyId::UserProperty => true,
            PropertyId::SubscriptionIdentifier => ctx == PropertyContext::Publish,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PropertyContext as C;

    const CONTEXTS: [PropertyContext; 14] = [
        C::Connect,
        C::Will,
        C::ConnAck,
        C::Publish,
        C::PubAck,
        C::PubRec,
        C::PubRel,
        C::PubComp,
        C::Subscribe,
        C::SubAck,
        C::Unsubscribe,
        C::UnsubAck,
        C::Disconnect,
        C::Auth,
    ];

    #[test]
    fn identifiers() {
        for p in ALL_PROPERTIES {
            assert_eq!(PropertyId::from_u8(p as u8), Some(p));
        }
        let defined = (0..=255u8)
            .filter(|v| PropertyId::from_u8(*v).is_some())
            .count();
        assert_eq!(defined, 27);
        assert_eq!(PropertyId::from_u8(0x00), None);
        assert_eq!(PropertyId::from_u8(0x04), None);
        assert_eq!(PropertyId::from_u8(0x2B), None);
    }

    #[test]
    fn placement_table() {
        // How many properties each context may carry (spec section 3, per packet).
        let count = |c: PropertyContext| ALL_PROPERTIES.iter().filter(|p| p.allowed_in(c)).count();
        let expect = [
            (C::Connect, 9),
            (C::Will, 7),
            (C::ConnAck, 17),
            (C::Publish, 8),
            (C::PubAck, 2),
            (C::PubRec, 2),
            (C::PubRel, 2),
            (C::PubComp, 2),
            (C::Subscribe, 2),
            (C::SubAck, 2),
            (C::Unsubscribe, 1),
            (C::UnsubAck, 2),
            (C::Disconnect, 4),
            (C::Auth, 4),
        ];
        for (c, n) in expect {
            assert_eq!(count(c), n, "{c:?}");
        }
        assert!(PropertyId::UserProperty.repeatable_in(C::Auth));
        assert!(PropertyId::SubscriptionIdentifier.repeatable_in(C::Publish));
        assert!(!PropertyId::SubscriptionIdentifier.repeatable_in(C::Subscribe));
        assert!(!PropertyId::ReasonString.repeatable_in(C::ConnAck));
        for c in CONTEXTS {
            assert!(PropertyId::UserProperty.allowed_in(c));
        }
    }
}

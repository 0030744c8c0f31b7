//! MQTT 5.0 reason codes (spec section 2.4), which packets may carry each one, and
//! the mapping to MQTT 3.1.1's CONNACK return codes and SUBACK codes.
//!
//! Only the code values live here; the errors that produce them are in `error.rs`.

use std::fmt;

use super::types::PacketType;

/// A reason code. One value can have several names in the spec (0x00 is Success,
/// Normal disconnection and Granted QoS 0); the variant carries the first and the
/// docs the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum ReasonCode {
    /// 0x00 Success; also Normal disconnection (DISCONNECT) and Granted QoS 0 (SUBACK).
    #[default]
    Success = 0x00,
    /// 0x01 Granted QoS 1 (SUBACK).
    GrantedQoS1 = 0x01,
    /// 0x02 Granted QoS 2 (SUBACK).
    GrantedQoS2 = 0x02,
    /// 0x04 Disconnect with Will Message (DISCONNECT from a client).
    DisconnectWithWill = 0x04,
    /// 0x10 No matching subscribers (PUBACK, PUBREC).
    NoMatchingSubscribers = 0x10,
    /// 0x11 No subscription existed (UNSUBACK).
    NoSubscriptionExisted = 0x11,
    /// 0x18 Continue authentication (AUTH).
    ContinueAuthentication = 0x18,
    /// 0x19 Re-authenticate (AUTH).
    ReAuthenticate = 0x19,
    /// 0x80 Unspecified error (3.1.1 SUBACK "Failure" is the same value).
    UnspecifiedError = 0x80,
    /// 0x81 Malformed Packet.
    MalformedPacket = 0x81,
    /// 0x82 Protocol Error.
    ProtocolError = 0x82,
    /// 0x83 Implementation specific error.
    ImplementationSpecificError = 0x83,
    /// 0x84 Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84,
    /// 0x85 Client Identifier not valid.
    ClientIdentifierNotValid = 0x85,
    /// 0x86 Bad User Name or Password.
    BadUserNameOrPassword = 0x86,
    /// 0x87 Not authorized.
    NotAuthorized = 0x87,
    /// 0x88 Server unavailable.
    ServerUnavailable = 0x88,
    /// 0x89 Server busy.
    ServerBusy = 0x89,
    /// 0x8A Banned.
    Banned = 0x8A,
    /// 0x8B Server shutting down.
    ServerShuttingDown = 0x8B,
    /// 0x8C Bad authentication method.
    BadAuthenticationMethod = 0x8C,
    /// 0x8D Keep Alive timeout.
    KeepAliveTimeout = 0x8D,
    /// 0x8E Session taken over.
    SessionTakenOver = 0x8E,
    /// 0x8F Topic Filter invalid.
    TopicFilterInvalid = 0x8F,
    /// 0x90 Topic Name invalid.
    TopicNameInvalid = 0x90,
    /// 0x91 Packet Identifier in use.
    PacketIdentifierInUse = 0x91,
    /// 0x92 Packet Identifier not found.
    PacketIdentifierNotFound = 0x92,
    /// 0x93 Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93,
    /// 0x94 Topic Alias invalid.
    TopicAliasInvalid = 0x94,
    /// 0x95 Packet too large.
    PacketTooLarge = 0x95,
    /// 0x96 Message rate too high.
    MessageRateTooHigh = 0x96,
    /// 0x97 Quota exceeded.
    QuotaExceeded = 0x97,
    /// 0x98 Administrative action.
    AdministrativeAction = 0x98,
    /// 0x99 Payload format invalid.
    PayloadFormatInvalid = 0x99,
    /// 0x9A Retain not supported.
    RetainNotSupported = 0x9A,
    /// 0x9B QoS not supported.
    QoSNotSupported = 0x9B,
    /// 0x9C Use another server.
    UseAnotherServer = 0x9C,
    /// 0x9D Server moved.
    ServerMoved = 0x9D,
    /// 0x9E Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E,
    /// 0x9F Connection rate exceeded.
    ConnectionRateExceeded = 0x9F,
    /// 0xA0 Maximum connect time.
    MaximumConnectTime = 0xA0,
    /// 0xA1 Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// 0xA2 Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2,
}

/// Every reason code, in value order.
pub const ALL_REASON_CODES: [ReasonCode; 43] = {
    use ReasonCode::*;
    [
        Success,
        GrantedQoS1,
        GrantedQoS2,
        DisconnectWithWill,
        NoMatchingSubscribers,
        NoSubscriptionExisted,
        ContinueAuthentication,
        ReAuthenticate,
        UnspecifiedError,
        MalformedPacket,
        ProtocolError,
        ImplementationSpecificError,
        UnsupportedProtocolVersion,
        ClientIdentifierNotValid,
        BadUserNameOrPassword,
        NotAuthorized,
        ServerUnavailable,
        ServerBusy,
        Banned,
        ServerShuttingDown,
        BadAuthenticationMethod,
        KeepAliveTimeout,
        SessionTakenOver,
        TopicFilterInvalid,
        TopicNameInvalid,
        PacketIdentifierInUse,
        PacketIdentifierNotFound,
        ReceiveMaximumExceeded,
        TopicAliasInvalid,
        PacketTooLarge,
        MessageRateTooHigh,
        QuotaExceeded,
        AdministrativeAction,
        PayloadFormatInvalid,
        RetainNotSupported,
        QoSNotSupported,
        UseAnotherServer,
        ServerMoved,
        SharedSubscriptionsNotSupported,
        ConnectionRateExceeded,
        MaximumConnectTime,
        SubscriptionIdentifiersNotSupported,
        WildcardSubscriptionsNotSupported,
    ]
};

/// Who may send a reason code in a packet that both sides send (DISCONNECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Client,
    Server,
    Both,
}

impl ReasonCode {
    /// The code with value `v`; `None` for a value the spec does not define.
    pub fn from_u8(v: u8) -> Option<ReasonCode> {
        ALL_REASON_CODES.iter().copied().find(|c| *c as u8 == v)
    }

    /// Its value.
    pub fn value(self) -> u8 {
        self as u8
    }

    /// Whether it reports a failure (0x80 and above).
    pub fn is_error(self) -> bool {
        self as u8 >= 0x80
    }

    /// Whether the spec's table of `packet`'s reason codes lists it. `from_client`
    /// matters for DISCONNECT only (some codes are sent by one side alone);
    /// `None` accepts a code either side may send.
    pub fn allowed_in(self, packet: PacketType, from_client: Option<bool>) -> bool {
        use ReasonCode::*;
        match packet {
            PacketType::ConnAck => matches!(
                self,
                Success
                    | UnspecifiedError
                    | MalformedPacket
                    | ProtocolError
                    | ImplementationSpecificError
                    | UnsupportedProtocolVersion
                    | ClientIdentifierNotValid
                    | BadUserNameOrPassword
                    | NotAuthorized
                    | ServerUnavailable
                    | ServerBusy
                    | Banned
                    | BadAuthenticationMethod
                    | TopicNameInvalid
                    | PacketTooLarge
                    | QuotaExceeded
                    | PayloadFormatInvalid
                    | RetainNotSupported
                    | QoSNotSupported
                    | UseAnotherServer
                    | ServerMoved
                    | ConnectionRateExceeded
            ),
            PacketType::PubAck | PacketType::PubRec => matches!(
                self,
                Success
                    | NoMatchingSubscribers
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicNameInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | PayloadFormatInvalid
            ),
            PacketType::PubRel | PacketType::PubComp => {
                matches!(self, Success | PacketIdentifierNotFound)
            }
            PacketType::SubAck => matches!(
                self,
                Success
                    | GrantedQoS1
                    | GrantedQoS2
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | SharedSubscriptionsNotSupported
                    | SubscriptionIdentifiersNotSupported
                    | WildcardSubscriptionsNotSupported
            ),
            PacketType::UnsubAck => matches!(
                self,
                Success
                    | NoSubscriptionExisted
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
            ),
            PacketType::Disconnect => match self.disconnect_sender() {
                None => false,
                Some(By::Both) => true,
                Some(By::Client) => from_client != Some(false),
                Some(By::Server) => from_client != Some(true),
            },
            PacketType::Auth => matches!(self, Success | ContinueAuthentication | ReAuthenticate),
            _ => false,
        }
    }

    /// Who may send it in a DISCONNECT (spec table 3-10); `None`: nobody.
    fn disconnect_sender(self) -> Option<By> {
        use ReasonCode::*;
        Some(match self {
            Success
            | UnspecifiedError
            | MalformedPacket
            | ProtocolError
            | ImplementationSpecificError
            | TopicNameInvalid
            | ReceiveMaximumExceeded
            | TopicAliasInvalid
            | PacketTooLarge
            | MessageRateTooHigh
            | QuotaExceeded
            | AdministrativeAction
            | PayloadFormatInvalid => By::Both,
            DisconnectWithWill => By::Client,
            NotAuthorized
            | ServerBusy
            | ServerShuttingDown
            | KeepAliveTimeout
            | SessionTakenOver
            | TopicFilterInvalid
            | RetainNotSupported
            | QoSNotSupported
            | UseAnotherServer
            | ServerMoved
            | SharedSubscriptionsNotSupported
            | ConnectionRateExceeded
            | MaximumConnectTime
            | SubscriptionIdentifiersNotSupported
            | WildcardSubscriptionsNotSupported => By::Server,
            _ => return None,
        })
    }

    /// The MQTT 3.1.1 CONNACK return code for this connect reason. 3.1.1 has only
    /// six, so the 5.0 failures map onto the nearest: authentication and
    /// authorization failures to 4 or 5, identifier problems to 2, protocol
    /// version to 1, everything else to 3 (server unavailable).
    pub fn to_v311_connack(self) -> u8 {
        use ReasonCode::*;
        match self {
            Success => 0,
            UnsupportedProtocolVersion => 1,
            ClientIdentifierNotValid => 2,
            BadUserNameOrPassword | BadAuthenticationMethod => 4,
            NotAuthorized | Banned => 5,
            _ => 3,
        }
    }

    /// The 5.0 reason of a 3.1.1 CONNACK return code (0..=5); `None` for others.
    pub fn from_v311_connack(code: u8) -> Option<ReasonCode> {
        use ReasonCode::*;
        Some(match code {
            0 => Success,
            1 => UnsupportedProtocolVersion,
            2 => ClientIdentifierNotValid,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }

    /// Whether 3.1.1 can express it in a SUBACK (0x00, 0x01, 0x02, 0x80).
    pub fn is_v311_suback(self) -> bool {
        use ReasonCode::*;
        matches!(self, Success | GrantedQoS1 | GrantedQoS2 | UnspecifiedError)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} {:?}", *self as u8, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_are_ordered() {
        let mut last = None;
        for c in ALL_REASON_CODES {
            assert_eq!(ReasonCode::from_u8(c.value()), Some(c));
            if let Some(prev) = last {
                assert!(c.value() > prev, "{c} out of order");
            }
            last = Some(c.value());
        }
        let undefined = (0..=255u8)
            .filter(|v| ReasonCode::from_u8(*v).is_none())
            .count();
        assert_eq!(undefined, 256 - 43);
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xA3), None);
    }

    #[test]
    fn tables_per_packet() {
        use ReasonCode::*;
        let count = |p: PacketType, by: Option<bool>| {
            ALL_REASON_CODES
                .iter()
                .filter(|c| c.allowed_in(p, by))
                .count()
        };
        // Sizes of the spec's tables 3-1, 3-4, 3-5, 3-6, 3-7, 3-8, 3-9, 3-10, 3-11.
        assert_eq!(count(PacketType::ConnAck, None), 22);
        assert_eq!(count(PacketType::PubAck, None), 9);
        assert_eq!(count(PacketType::PubRec, None), 9);
        assert_eq!(count(PacketType::PubRel, None), 2);
        assert_eq!(count(PacketType::PubComp, None), 2);
        assert_eq!(count(PacketType::SubAck, None), 12);
        assert_eq!(count(PacketType::UnsubAck, None), 7);
        assert_eq!(count(PacketType::Disconnect, None), 29);
        assert_eq!(count(PacketType::Auth, None), 3);
        assert_eq!(count(PacketType::Publish, None), 0);
        // DISCONNECT: 0x04 only from a client, 0x8B only from a server.
        assert!(DisconnectWithWill.allowed_in(PacketType::Disconnect, Some(true)));
        assert!(!DisconnectWithWill.allowed_in(PacketType::Disconnect, Some(false)));
        assert!(!ServerShuttingDown.allowed_in(PacketType::Disconnect, Some(true)));
        assert!(ServerShuttingDown.allowed_in(PacketType::Disconnect, Some(false)));
        assert!(ProtocolError.allowed_in(PacketType::Disconnect, Some(true)));
        assert_eq!(count(PacketType::Disconnect, Some(true)), 14);
        assert_eq!(count(PacketType::Disconnect, Some(false)), 28);
    }

    #[test]
    fn v311_connack_mapping() {
        for code in 0..=5u8 {
            let r = ReasonCode::from_v311_connack(code).unwrap();
            assert_eq!(r.to_v311_connack(), code);
        }
        assert_eq!(ReasonCode::from_v311_connack(6), None);
        assert_eq!(ReasonCode::Banned.to_v311_connack(), 5);
        assert_eq!(ReasonCode::ServerBusy.to_v311_connack(), 3);
        assert_eq!(ReasonCode::MalformedPacket.to_v311_connack(), 3);
    }
}

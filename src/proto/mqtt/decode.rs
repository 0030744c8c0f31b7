//! Decoding of every packet, both versions: the fixed header (checked, size
//! limit included, before the rest is buffered) and one body parser per packet
//! type, each over a bounds-checked [`Reader`] (in `wire.rs`).
//!
//! Check, then parse: nothing is consumed from the caller's buffer until a whole
//! packet is there. Fields that carry data (topics, strings, payloads, binary
//! properties) are [`Bytes`] slices split off the input.

use bytes::{Buf, Bytes, BytesMut};

use super::error::MqttError;
use super::limits::{Limits, Peer};
use super::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubResponse, Publish, RetainHandling, SubAck,
    Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use super::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PropertyContext, PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use super::reason::ReasonCode;
use super::topic;
use super::types::{PacketType, QoS, Version, check_text};
use super::wire::{Reader, VarInt, parse_varint};

/// A fixed header: the first byte and the remaining length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// The Remaining Length (bytes after the fixed header).
    pub remaining_len: usize,
    /// Length of the fixed header itself (2..=5).
    pub header_len: usize,
    /// Whether the remaining length was in its shortest form (required in 5.0).
    pub minimal: bool,
}

impl FixedHeader {
    /// The whole packet's size.
    pub fn total_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Reads the fixed header at the start of `buf`, if it is all there, and checks
/// the packet's announced size against `max_packet_size` (so a too large packet is
/// refused before it is buffered). `Ok(None)`: fewer than five bytes and the
/// remaining length is still incomplete.
///
/// # Errors
/// [`MqttError::ReservedPacketType`] (type 0), [`MqttError::MalformedVarInt`]
/// (more than four length bytes), [`MqttError::PacketTooLarge`].
pub fn peek_header(buf: &[u8], max_packet_size: u32) -> Result<Option<FixedHeader>, MqttError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type =
        PacketType::from_nibble(first >> 4).ok_or(MqttError::ReservedPacketType(first >> 4))?;
    let (remaining, n, minimal) = match parse_varint(&buf[1..]) {
        VarInt::Value(v, n, m) => (v as usize, n, m),
        VarInt::Short => return Ok(None),
        VarInt::TooLong => {
            return Err(MqttError::MalformedVarInt {
                field: "remaining length",
            });
        }
    };
    let h = FixedHeader {
        packet_type,
        flags: first & 0x0F,
        remaining_len: remaining,
        header_len: 1 + n,
        minimal,
    };
    if h.total_len() > max_packet_size as usize {
        return Err(MqttError::PacketTooLarge {
            size: h.total_len(),
            max: max_packet_size,
        });
    }
    Ok(Some(h))
}

/// The protocol version a buffered CONNECT asks for, read from its fixed header,
/// protocol name and level (without checking the rest). `None` when the buffer
/// does not start with that much of a CONNECT or the level is not 4 or 5. A
/// front end calls it after [`decode`] refused a CONNECT (which leaves the buffer
/// as it was) to learn whether to answer with a 5.0 CONNACK.
pub fn peek_connect_version(buf: &[u8]) -> Option<Version> {
    let first = *buf.first()?;
    if first >> 4 != PacketType::Connect as u8 {
        return None;
    }
    let VarInt::Value(_, n, _) = parse_varint(&buf[1..]) else {
        return None;
    };
    let rest = buf.get(1 + n..)?;
    if rest.get(..6)? != b"\x00\x04MQTT" {
        return None;
    }
    Version::from_level(*rest.get(6)?)
}

/// Decodes one packet from the front of `buf`.
///
/// `version` is the connection's version, `None` while awaiting CONNECT (then
/// only CONNECT is accepted, and its protocol level decides the version of the
/// packet returned). `Ok(None)`: `buf` does not hold a whole packet yet (nothing
/// consumed; [`peek_header`] tells how many bytes it will take). On
/// `Ok(Some(_))` the packet's bytes are consumed; its data fields are slices of
/// them. On `Err` the connection must be closed; the bytes of a refused CONNECT
/// are left in `buf` (see [`peek_connect_version`]), others are unspecified.
///
/// # Errors
/// [`MqttError`], carrying the reason code to report.
pub fn decode(
    buf: &mut BytesMut,
    version: Option<Version>,
    limits: &Limits,
) -> Result<Option<Packet>, MqttError> {
    let Some(h) = peek_header(buf, limits.max_packet_size)? else {
        return Ok(None);
    };
    let t = h.packet_type;
    // Everything the fixed header alone can refuse, before buffering the rest.
    match (version, t) {
        (None, PacketType::Connect) => {}
        (None, _) => {
            return Err(MqttError::Protocol {
                packet: t,
                what: "the first packet must be CONNECT",
            });
        }
        (Some(_), PacketType::Connect) if limits.peer == Peer::Client => {
            return Err(MqttError::Protocol {
                packet: t,
                what: "a second CONNECT",
            });
        }
        (Some(Version::V311), PacketType::Auth) => return Err(MqttError::ReservedPacketType(15)),
        (Some(Version::V5), _) if !h.minimal => {
            return Err(MqttError::MalformedVarInt {
                field: "remaining length",
            });
        }
        _ => {}
    }
    if let Some(required) = t.required_flags()
        && h.flags != required
    {
        return Err(MqttError::BadFlags {
            packet: t,
            flags: h.flags,
        });
    }
    let allowed = match limits.peer {
        Peer::Client => t.sent_by_client(),
        Peer::Server => {
            t.sent_by_server() && !(t == PacketType::Disconnect && version == Some(Version::V311))
        }
        Peer::Any => true,
    };
    if !allowed {
        return Err(MqttError::Protocol {
            packet: t,
            what: "a packet this peer may not send",
        });
    }
    let total = h.total_len();
    if buf.len() < total {
        return Ok(None);
    }
    if t == PacketType::Connect {
        // Once per connection: parse a copy so that a refused CONNECT stays in
        // the buffer for `peek_connect_version`.
        let frame = Bytes::copy_from_slice(&buf[h.header_len..total]);
        let connect = connect(Reader::new(frame, t), &h, limits)?;
        buf.advance(total);
        return Ok(Some(Packet::Connect(Box::new(connect))));
    }
    let Some(v) = version else {
        return Err(MqttError::Protocol {
            packet: t,
            what: "the first packet must be CONNECT",
        });
    };
    let mut frame = buf.split_to(total).freeze();
    frame.advance(h.header_len);
    let r = Reader::new(frame, t);
    let v5 = v == Version::V5;
    Ok(Some(match t {
        PacketType::Connect => unreachable_connect()?,
        PacketType::ConnAck => Packet::ConnAck(Box::new(connack(r, v5)?)),
        PacketType::Publish => Packet::Publish(publish(r, h.flags, v5, limits)?),
        PacketType::PubAck => Packet::PubAck(pub_response(r, v5)?),
        PacketType::PubRec => Packet::PubRec(pub_response(r, v5)?),
        PacketType::PubRel => Packet::PubRel(pub_response(r, v5)?),
        PacketType::PubComp => Packet::PubComp(pub_response(r, v5)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(r, v5)?),
        PacketType::SubAck => Packet::SubAck(suback(r, v5)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(r, v5)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback(r, v5)?),
        PacketType::PingReq => {
            r.finish()?;
            Packet::PingReq
        }
        PacketType::PingResp => {
            r.finish()?;
            Packet::PingResp
        }
        PacketType::Disconnect => Packet::Disconnect(disconnect(r, v5, limits.peer)?),
        PacketType::Auth => Packet::Auth(auth(r)?),
    }))
}

/// CONNECT returned above; this arm cannot be reached, but answers with an error
/// rather than a panic.
fn unreachable_connect() -> Result<Packet, MqttError> {
    Err(MqttError::Protocol {
        packet: PacketType::Connect,
        what: "unexpected CONNECT",
    })
}

fn check_name(packet: PacketType, name: &str, limits: &Limits) -> Result<(), MqttError> {
    topic::validate_name(
        name,
        usize::from(limits.max_topic_len),
        usize::from(limits.max_topic_levels),
    )
    .map_err(|why| MqttError::TopicNameInvalid { packet, why })
}

/// A SUBSCRIBE or UNSUBSCRIBE filter's syntax. Not the topic limits: a
/// well-formed filter over them is "correctly formed but not allowed" (5.0
/// SUBACK 0x8F), which the broker answers per filter (3.1.1: 0x80), not a
/// malformed packet.
fn check_filter(packet: PacketType, filter: &str, v5: bool) -> Result<(), MqttError> {
    let any = usize::from(u16::MAX);
    topic::validate_subscription_filter(filter, v5, any, any)
        .map_err(|why| MqttError::TopicFilterInvalid { packet, why })
}

fn check_payload(
    packet: PacketType,
    utf8: Option<bool>,
    payload: &[u8],
    limits: &Limits,
) -> Result<(), MqttError> {
    if limits.validate_payload_format && utf8 == Some(true) && check_text(payload).is_err() {
        return Err(MqttError::PayloadFormatInvalid { packet });
    }
    Ok(())
}

fn connect(mut r: Reader, h: &FixedHeader, limits: &Limits) -> Result<Connect, MqttError> {
    let t = PacketType::Connect;
    let name = r.binary("protocol name")?;
    let level = r.u8("protocol level")?;
    if &name[..] != b"MQTT" {
        return Err(if &name[..] == b"MQIsdp" {
            // MQTT 3.1: refused like an unknown level (CONNACK 0x01).
            MqttError::UnsupportedProtocolVersion(level)
        } else {
            MqttError::UnsupportedProtocolName
        });
    }
    let version = Version::from_level(level).ok_or(MqttError::UnsupportedProtocolVersion(level))?;
    let v5 = version == Version::V5;
    if v5 && !h.minimal {
        return Err(MqttError::MalformedVarInt {
            field: "remaining length",
        });
    }
    let flags = r.u8("connect flags")?;
    if flags & 1 != 0 {
        return Err(r.malformed("reserved connect flag set")); // MQTT-3.1.2-3
    }
    let has_will = flags & 0b100 != 0;
    let will_qos = (flags >> 3) & 3;
    let will_retain = flags & 0b10_0000 != 0;
    let has_password = flags & 0b100_0000 != 0;
    let has_username = flags & 0b1000_0000 != 0;
    if !has_will && (will_qos != 0 || will_retain) {
        return Err(r.malformed("will QoS or retain without a will")); // MQTT-3.1.2-11/13
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(r.malformed("will QoS 3"))?; // MQTT-3.1.2-12
    if !v5 && has_password && !has_username {
        return Err(r.malformed("password without user name")); // MQTT-3.1.2-22 (3.1.1)
    }
    let keep_alive = r.u16("keep alive")?;
    let properties = if v5 {
        ConnectProperties::read(&mut r)?
    } else {
        ConnectProperties::default()
    };
    let client_id = r.string("client identifier")?;
    let will = if has_will {
        let properties = if v5 {
            WillProperties::read(&mut r)?
        } else {
            WillProperties::default()
        };
        let topic = r.string("will topic")?;
        check_name(t, topic.as_str(), limits)?;
        if let Some(rt) = &properties.response_topic {
            check_name(t, rt.as_str(), limits)?;
        }
        let payload = r.binary("will payload")?;
        check_payload(t, properties.payload_format_indicator, &payload, limits)?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.binary("password")?)
    } else {
        None
    };
    r.finish()?;
    Ok(Connect {
        version,
        clean_start: flags & 0b10 != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn connack(mut r: Reader, v5: bool) -> Result<ConnAck, MqttError> {
    let flags = r.u8("acknowledge flags")?;
    if flags & 0xFE != 0 {
        return Err(r.malformed("reserved acknowledge flags set")); // MQTT-3.2.2-1
    }
    let session_present = flags == 1;
    let (code, properties) = if v5 {
        let code = r.reason(None)?;
        (code, ConnAckProperties::read(&mut r)?)
    } else {
        let v = r.u8("return code")?;
        let code = ReasonCode::from_v311_connack(v).ok_or(MqttError::BadReasonCode {
            packet: PacketType::ConnAck,
            code: v,
        })?;
        (code, ConnAckProperties::default())
    };
    if session_present && code != ReasonCode::Success {
        return Err(r.protocol("session present on a refused connection")); // MQTT-3.2.2-6
    }
    r.finish()?;
    Ok(ConnAck {
        session_present,
        code,
        properties,
    })
}

fn publish(mut r: Reader, flags: u8, v5: bool, limits: &Limits) -> Result<Publish, MqttError> {
    let t = PacketType::Publish;
    let dup = flags & 0b1000 != 0;
    let qos = QoS::from_u8((flags >> 1) & 3).ok_or(r.malformed("QoS 3"))?; // MQTT-3.3.1-4
    if dup && qos == QoS::AtMostOnce {
        return Err(r.malformed("DUP set on a QoS 0 message")); // MQTT-3.3.1-2
    }
    let topic = r.string("topic name")?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(r.packet_id()?)
    };
    let properties = if v5 {
        PublishProperties::read(&mut r)?
    } else {
        PublishProperties::default()
    };
    if limits.peer == Peer::Client && !properties.subscription_identifiers.is_empty() {
        return Err(r.protocol("subscription identifier from a client")); // MQTT-3.3.4-6
    }
    if topic.is_empty() && v5 {
        if properties.topic_alias.is_none() {
            return Err(r.protocol("empty topic name without a topic alias"));
        }
    } else {
        check_name(t, topic.as_str(), limits)?;
    }
    if let Some(rt) = &properties.response_topic {
        check_name(t, rt.as_str(), limits)?; // MQTT-3.3.2-14
    }
    let payload = r.rest();
    check_payload(t, properties.payload_format_indicator, &payload, limits)?;
    Ok(Publish {
        dup,
        qos,
        retain: flags & 1 != 0,
        topic,
        packet_id,
        properties,
        payload,
    })
}

fn pub_response(mut r: Reader, v5: bool) -> Result<PubResponse, MqttError> {
    let packet_id = r.packet_id()?;
    let mut resp = PubResponse::new(packet_id);
    // 5.0: reason code and properties may be left out (remaining length 2 or 3).
    if v5 && r.remaining() > 0 {
        resp.reason = r.reason(None)?;
        if r.remaining() > 0 {
            let ctx = PropertyContext::of_ack(r.packet).ok_or(r.protocol("not an ack"))?;
            resp.properties = AckProperties::read(&mut r, ctx)?;
        }
    }
    r.finish()?;
    Ok(resp)
}

fn subscribe(mut r: Reader, v5: bool) -> Result<Subscribe, MqttError> {
    let t = PacketType::Subscribe;
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        SubscribeProperties::read(&mut r)?
    } else {
        SubscribeProperties::default()
    };
    let mut subscriptions = Vec::new();
    while r.remaining() > 0 {
        let filter = r.string("topic filter")?;
        let o = r.u8("subscription options")?;
        let reserved = if v5 { 0xC0 } else { 0xFC };
        if o & reserved != 0 {
            return Err(r.malformed("reserved subscription option bits set")); // MQTT-3.8.3-5
        }
        let Some(qos) = QoS::from_u8(o & 3) else {
            return Err(if v5 {
                r.protocol("maximum QoS 3")
            } else {
                r.malformed("QoS 3") // MQTT-3-8.3-4 (3.1.1)
            });
        };
        let retain_handling = match (o >> 4) & 3 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(r.protocol("retain handling 3")),
        };
        let options = SubscriptionOptions {
            qos,
            no_local: o & 0b100 != 0,
            retain_as_published: o & 0b1000 != 0,
            retain_handling,
        };
        check_filter(t, filter.as_str(), v5)?;
        if options.no_local && v5 && filter.as_str().starts_with(topic::SHARE_PREFIX) {
            return Err(r.protocol("No Local on a shared subscription")); // MQTT-3.8.3-4
        }
        subscriptions.push(Subscription { filter, options });
    }
    if subscriptions.is_empty() {
        return Err(r.protocol("no topic filter")); // MQTT-3.8.3-2 (5.0), 3.8.3-3 (3.1.1)
    }
    Ok(Subscribe {
        packet_id,
        subscriptions,
        properties,
    })
}

/// The reason codes that fill the rest of a SUBACK or UNSUBACK.
fn reason_list(r: &mut Reader, v5: bool) -> Result<Vec<ReasonCode>, MqttError> {
    let mut codes = Vec::with_capacity(r.remaining());
    while r.remaining() > 0 {
        let code = if v5 {
            r.reason(None)?
        } else {
            let v = r.u8("return code")?;
            ReasonCode::from_u8(v)
                .filter(|c| c.is_v311_suback())
                .ok_or(MqttError::BadReasonCode {
                    packet: r.packet,
                    code: v,
                })?
        };
        codes.push(code);
    }
    if codes.is_empty() {
        return Err(r.protocol("no reason code"));
    }
    Ok(codes)
}

fn suback(mut r: Reader, v5: bool) -> Result<SubAck, MqttError> {
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        AckProperties::read(&mut r, PropertyContext::SubAck)?
    } else {
        AckProperties::default()
    };
    let codes = reason_list(&mut r, v5)?;
    Ok(SubAck {
        packet_id,
        codes,
        properties,
    })
}

fn unsubscribe(mut r: Reader, v5: bool) -> Result<Unsubscribe, MqttError> {
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        UnsubscribeProperties::read(&mut r)?
    } else {
        UnsubscribeProperties::default()
    };
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let filter = r.string("topic filter")?;
        check_filter(PacketType::Unsubscribe, filter.as_str(), v5)?;
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(r.protocol("no topic filter")); // MQTT-3.10.3-2
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

fn unsuback(mut r: Reader, v5: bool) -> Result<UnsubAck, MqttError> {
    let packet_id = r.packet_id()?;
    if !v5 {
        r.finish()?;
        return Ok(UnsubAck {
            packet_id,
            codes: Vec::new(),
            properties: AckProperties::default(),
        });
    }
    let properties = AckProperties::read(&mut r, PropertyContext::UnsubAck)?;
    let codes = reason_list(&mut r, true)?;
    Ok(UnsubAck {
        packet_id,
        codes,
        properties,
    })
}

fn disconnect(mut r: Reader, v5: bool, peer: Peer) -> Result<Disconnect, MqttError> {
    let mut d = Disconnect::default();
    // 5.0: remaining length 0 means Normal disconnection; 1, no properties.
    if v5 && r.remaining() > 0 {
        let from_client = match peer {
            Peer::Client => Some(true),
            Peer::Server => Some(false),
            Peer::Any => None,
        };
        d.reason = r.reason(from_client)?;
        if r.remaining() > 0 {
            d.properties = DisconnectProperties::read(&mut r)?;
        }
        if peer == Peer::Server && d.properties.session_expiry_interval.is_some() {
            return Err(r.protocol("session expiry interval from the server")); // MQTT-3.14.2-2
        }
    }
    r.finish()?;
    Ok(d)
}

fn auth(mut r: Reader) -> Result<Auth, MqttError> {
    let mut a = Auth::default();
    // Remaining length 0 means Success without properties; otherwise both.
    if r.remaining() > 0 {
        a.reason = r.reason(None)?;
        a.properties = AuthProperties::read(&mut r)?;
        if a.properties.authentication_method.is_none() {
            return Err(r.protocol("AUTH without an authentication method")); // 3.15.2.2.2
        }
    }
    r.finish()?;
    Ok(a)
}

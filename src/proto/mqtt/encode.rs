//! Encoding of every packet, both versions, into a [`BytesMut`]: one body writer
//! per packet, over the write primitives of `wire.rs` ([`Sink`], Variable Byte
//! Integers).
//!
//! Each packet body is written by one function that is run twice: once into a
//! [`Counter`] (which also runs every check, so a refused packet leaves the output
//! untouched) to learn the remaining length, then into the buffer.

use bytes::BytesMut;

use super::error::EncodeError;
use super::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubResponse, Publish, SubAck, Subscribe, UnsubAck,
};
use super::properties::{self, AckProperties};
use super::reason::ReasonCode;
use super::types::{PacketType, Version};
use super::wire::{Counter, MAX_VARINT, Sink, put_varint, varint_len};

/// Encodes `packet` for a connection of `version`, appending it to `out`.
/// CONNECT is always encoded in its own [`Connect::version`]. On 3.1.1 a CONNACK
/// reason code is mapped to a 3.1.1 return code
/// ([`ReasonCode::to_v311_connack`]); any other 5.0-only content is refused.
///
/// # Errors
/// [`EncodeError`] when the packet cannot be expressed; `out` is then unchanged.
pub fn encode(packet: &Packet, version: Version, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut c = Counter::default();
    body(packet, version, &mut c)?;
    let len = c.len();
    if len > MAX_VARINT as usize {
        return Err(EncodeError::PacketTooLarge(packet.packet_type()));
    }
    out.reserve(1 + varint_len(len) + len);
    out.w8(first_byte(packet));
    put_varint(out, len)?;
    body(packet, version, out)
}

/// The number of bytes [`encode`] would write (to honour a peer's Maximum Packet
/// Size before sending).
///
/// # Errors
/// As [`encode`].
pub fn encoded_len(packet: &Packet, version: Version) -> Result<usize, EncodeError> {
    let mut c = Counter::default();
    body(packet, version, &mut c)?;
    if c.len() > MAX_VARINT as usize {
        return Err(EncodeError::PacketTooLarge(packet.packet_type()));
    }
    Ok(1 + varint_len(c.len()) + c.len())
}

/// The first byte: type and flags.
fn first_byte(packet: &Packet) -> u8 {
    let t = packet.packet_type();
    let flags = match packet {
        Packet::Publish(p) => publish_flags(p.dup, p.qos as u8, p.retain),
        _ => t.required_flags().unwrap_or(0),
    };
    (t as u8) << 4 | flags
}

pub(crate) fn publish_flags(dup: bool, qos: u8, retain: bool) -> u8 {
    u8::from(dup) << 3 | qos << 1 | u8::from(retain)
}

fn body<S: Sink>(packet: &Packet, v: Version, s: &mut S) -> Result<(), EncodeError> {
    let t = packet.packet_type();
    let v311 = |what| EncodeError::NotInV311 { packet: t, what };
    match packet {
        Packet::Connect(c) => connect(c, s),
        Packet::ConnAck(c) => connack(c, v, s),
        Packet::Publish(p) => publish(p, v, s),
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            pub_response(r, v, s).map_err(|e| e.unwrap_or(v311("a reason code or properties")))
        }
        Packet::Subscribe(p) => subscribe(p, v, s),
        Packet::SubAck(p) => suback(p, v, s),
        Packet::Unsubscribe(p) => {
            s.w16(p.packet_id.get());
            if v == Version::V5 {
                properties::put_block(s, &p.properties)?;
            } else if !p.properties.user_properties.is_empty() {
                return Err(v311("properties"));
            }
            for f in &p.filters {
                s.wstr(f);
            }
            Ok(())
        }
        Packet::UnsubAck(p) => unsuback(p, v, s),
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(d) => disconnect(d, v, s),
        Packet::Auth(a) => auth(a, v, s),
    }
}

fn connect<S: Sink>(c: &Connect, s: &mut S) -> Result<(), EncodeError> {
    let v5 = c.version == Version::V5;
    let refuse = |what| EncodeError::NotInV311 {
        packet: PacketType::Connect,
        what,
    };
    if !v5 {
        if !properties::is_empty(&c.properties) {
            return Err(refuse("properties"));
        }
        if c.will
            .as_ref()
            .is_some_and(|w| !properties::is_empty(&w.properties))
        {
            return Err(refuse("will properties"));
        }
        if c.password.is_some() && c.username.is_none() {
            return Err(refuse("a password without a user name"));
        }
    }
    s.w16(4);
    s.wslice(b"MQTT");
    s.w8(c.version.level());
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        flags |= 0b100 | (w.qos as u8) << 3 | u8::from(w.retain) << 5;
    }
    flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
    s.w8(flags);
    s.w16(c.keep_alive);
    if v5 {
        properties::put_block(s, &c.properties)?;
    }
    s.wstr(&c.client_id);
    if let Some(w) = &c.will {
        if v5 {
            properties::put_block(s, &w.properties)?;
        }
        s.wstr(&w.topic);
        s.wbin(&w.payload)?;
    }
    if let Some(u) = &c.username {
        s.wstr(u);
    }
    if let Some(p) = &c.password {
        s.wbin(p)?;
    }
    Ok(())
}

fn connack<S: Sink>(c: &ConnAck, v: Version, s: &mut S) -> Result<(), EncodeError> {
    s.w8(u8::from(c.session_present));
    if v == Version::V5 {
        s.w8(c.code as u8);
        properties::put_block(s, &c.properties)
    } else if !properties::is_empty(&c.properties) {
        Err(EncodeError::NotInV311 {
            packet: PacketType::ConnAck,
            what: "properties",
        })
    } else {
        s.w8(c.code.to_v311_connack());
        Ok(())
    }
}

fn publish<S: Sink>(p: &Publish, v: Version, s: &mut S) -> Result<(), EncodeError> {
    if p.packet_id.is_some() != (p.qos as u8 > 0) {
        return Err(EncodeError::PacketIdMismatch);
    }
    if p.dup && p.qos as u8 == 0 {
        return Err(EncodeError::DupOnQoS0);
    }
    if p.topic.is_empty() && (v == Version::V311 || p.properties.topic_alias.is_none()) {
        return Err(EncodeError::NoTopic);
    }
    s.wstr(&p.topic);
    if let Some(id) = p.packet_id {
        s.w16(id.get());
    }
    if v == Version::V5 {
        properties::put_block(s, &p.properties)?;
    } else if !properties::is_empty(&p.properties) {
        return Err(EncodeError::NotInV311 {
            packet: PacketType::Publish,
            what: "properties",
        });
    }
    s.wslice(&p.payload);
    Ok(())
}

/// `Err(None)`: not expressible in 3.1.1.
fn pub_response<S: Sink>(
    r: &PubResponse,
    v: Version,
    s: &mut S,
) -> Result<(), Option<EncodeError>> {
    s.w16(r.packet_id.get());
    reason_and_props(r.reason, &r.properties, v, s)
}

/// The optional tail of PUBACK/PUBREC/PUBREL/PUBCOMP: nothing for success without
/// properties, the reason code alone without properties, else both.
fn reason_and_props<S: Sink>(
    reason: ReasonCode,
    props: &AckProperties,
    v: Version,
    s: &mut S,
) -> Result<(), Option<EncodeError>> {
    if v == Version::V311 {
        return if reason == ReasonCode::Success && props.is_empty() {
            Ok(())
        } else {
            Err(None)
        };
    }
    if props.is_empty() {
        if reason != ReasonCode::Success {
            s.w8(reason as u8);
        }
        return Ok(());
    }
    s.w8(reason as u8);
    properties::put_block(s, props).map_err(Some)
}

fn subscribe<S: Sink>(p: &Subscribe, v: Version, s: &mut S) -> Result<(), EncodeError> {
    let refuse = |what| EncodeError::NotInV311 {
        packet: PacketType::Subscribe,
        what,
    };
    s.w16(p.packet_id.get());
    if v == Version::V5 {
        properties::put_block(s, &p.properties)?;
    } else if !properties::is_empty(&p.properties) {
        return Err(refuse("properties"));
    }
    for sub in &p.subscriptions {
        let o = sub.options;
        let extra = u8::from(o.no_local) << 2
            | u8::from(o.retain_as_published) << 3
            | (o.retain_handling as u8) << 4;
        if v == Version::V311 && extra != 0 {
            return Err(refuse("subscription options"));
        }
        s.wstr(&sub.filter);
        s.w8(o.qos as u8 | extra);
    }
    Ok(())
}

fn suback<S: Sink>(p: &SubAck, v: Version, s: &mut S) -> Result<(), EncodeError> {
    let refuse = |what| EncodeError::NotInV311 {
        packet: PacketType::SubAck,
        what,
    };
    s.w16(p.packet_id.get());
    if v == Version::V5 {
        properties::put_block(s, &p.properties)?;
    } else if !p.properties.is_empty() {
        return Err(refuse("properties"));
    }
    for c in &p.codes {
        if v == Version::V311 && !c.is_v311_suback() {
            return Err(refuse("this reason code"));
        }
        s.w8(*c as u8);
    }
    Ok(())
}

fn unsuback<S: Sink>(p: &UnsubAck, v: Version, s: &mut S) -> Result<(), EncodeError> {
    s.w16(p.packet_id.get());
    if v == Version::V311 {
        if !p.properties.is_empty() || !p.codes.is_empty() {
            return Err(EncodeError::NotInV311 {
                packet: PacketType::UnsubAck,
                what: "reason codes or properties",
            });
        }
        return Ok(());
    }
    properties::put_block(s, &p.properties)?;
    for c in &p.codes {
        s.w8(*c as u8);
    }
    Ok(())
}

fn disconnect<S: Sink>(d: &Disconnect, v: Version, s: &mut S) -> Result<(), EncodeError> {
    let empty = d.properties.is_empty();
    if v == Version::V311 {
        if d.reason != ReasonCode::Success || !empty {
            return Err(EncodeError::NotInV311 {
                packet: PacketType::Disconnect,
                what: "a reason code or properties",
            });
        }
        return Ok(());
    }
    if d.reason == ReasonCode::Success && empty {
        return Ok(());
    }
    s.w8(d.reason as u8);
    if !empty {
        properties::put_block(s, &d.properties)?;
    }
    Ok(())
}

fn auth<S: Sink>(a: &Auth, v: Version, s: &mut S) -> Result<(), EncodeError> {
    if v == Version::V311 {
        return Err(EncodeError::NotInVersion(PacketType::Auth));
    }
    if a.reason == ReasonCode::Success && a.properties.is_empty() {
        return Ok(());
    }
    s.w8(a.reason as u8);
    properties::put_block(s, &a.properties)
}

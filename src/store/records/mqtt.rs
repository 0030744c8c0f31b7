//! The records a persistent MQTT session is made of in a realm's log: how
//! they are keyed and encoded, the log operation of each change to a
//! session ([`op_of`]), and how a log's records are read back at start
//! ([`Loader`]). Writing them is the job of the store's `mqtt` module.
//!
//! **Keys** (all under `m`; MQTT strings never hold U+0000):
//!
//! | key | value | what |
//! |---|---|---|
//! | `m<client>\0<inc>M` | [`SessionMeta`] | the session: version, expiry, subscriptions |
//! | `m<client>\0<inc>Q<key>` | [`StoredMsg`] | one message queued for, or in flight to, the client |
//! | `m<client>\0<inc>I<pid>` | empty | an incoming QoS 2 packet identifier waiting for PUBREL |
//! | `m<client>\0<inc>W` | [`StoredWill`] | the will of the session's connection, or a delayed will waiting (MQTT 5 Will Delay Interval) |
//!
//! `<inc>` (8 bytes, big-endian) names one incarnation of the session: a new
//! session of the same client identifier gets a new one, so ending the old
//! one (a `DeletePrefix` of `m<client>\0<inc>`) never removes records of the
//! new one, whichever shard writes first. At load the newest incarnation of a
//! client wins and older ones are deleted.
//!
//! **Values** are small hand-written encodings; a message is kept as an MQTT
//! 5.0 PUBLISH (the project's own codec) after a fixed header.
//!
//! Imports `proto` (the MQTT codec) and the WAL's operations; nothing else
//! of the store, never the front end.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::proto::mqtt::{
    self, MqttString, Packet, Publish, PublishProperties, QoS, Version, Will, WillProperties,
};
use crate::store::wal::{Encode, Op};

/// First byte of every MQTT session key in a realm's log.
pub const KEY_MQTT: u8 = b'm';
const KIND_META: u8 = b'M';
const KIND_MSG: u8 = b'Q';
const KIND_QOS2: u8 = b'I';
const KIND_WILL: u8 = b'W';
/// Format of the encoded values.
const FORMAT: u8 = 1;

/// One subscription of a session, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFilter {
    /// The topic filter.
    pub filter: String,
    /// Maximum QoS granted.
    pub qos: QoS,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Subscription Identifier.
    pub sub_id: Option<u32>,
}

/// What a session is besides its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta {
    /// Protocol version of its last connection.
    pub version: Version,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    pub expiry_s: u32,
    /// Last packet identifier used towards the client.
    pub last_pid: u16,
    /// When the client went away (Unix ms); 0 while it is connected.
    pub offline_since_ms: u64,
    /// Subscriptions.
    pub filters: Vec<StoredFilter>,
    /// The listener (transport ID) of its last connection.
    pub listener: String,
}

/// One message kept for a session: queued behind the in-flight window or
/// while the client is away, or in flight to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMsg {
    /// Its key in the session (order of arrival; unique per session).
    pub key: u64,
    /// The WAMP publication it came from (duplicates are recognised by it).
    pub publication: u64,
    /// Arrival at the broker (Unix ms; Message Expiry counts from it).
    pub at_ms: u64,
    /// QoS it is delivered with.
    pub qos: QoS,
    /// RETAIN flag of the delivery.
    pub retain: bool,
    /// Packet identifier, once sent.
    pub packet_id: Option<u16>,
    /// QoS 2: PUBREC came back, PUBREL was sent.
    pub released: bool,
    /// Subscription Identifiers of the delivery.
    pub sub_ids: Vec<u32>,
    /// Topic name.
    pub topic: MqttString,
    /// Payload.
    pub payload: Bytes,
    /// PUBLISH properties (no Topic Alias, no Subscription Identifiers).
    pub props: PublishProperties,
}

impl StoredMsg {
    /// Bytes it takes in memory and in the log, roughly (payload and topic).
    pub fn cost(&self) -> usize {
        self.payload.len() + self.topic.len() + 64
    }
}

/// The will of a durable session: written when its connection comes up (a
/// `kill -9` then still publishes it after the restart) and when its
/// connection ends with a Will Delay Interval (the will waits, offline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWill {
    /// When it is due (Unix ms); 0 while its connection is open: it is due
    /// `delay_s` after the connection is found gone (a restart).
    pub due_ms: u64,
    /// The Will Delay Interval (seconds; 0 for 3.1.1).
    pub delay_s: u32,
    /// The will (its properties without the Will Delay Interval, which is
    /// `delay_s`).
    pub will: Will,
}

impl StoredWill {
    /// When the will is due, for a router that starts at `now_ms`: the
    /// stored time, or (its connection was open when the router stopped)
    /// `delay_s` from now.
    pub fn due_at(&self, now_ms: u64) -> u64 {
        if self.due_ms == 0 {
            now_ms + u64::from(self.delay_s) * 1000
        } else {
            self.due_ms
        }
    }
}

/// A value of the log under an `m` key, encoded on the writer thread.
#[derive(Debug)]
pub enum MqttValue {
    /// A session.
    Meta(SessionMeta),
    /// A message.
    Msg(Box<StoredMsg>),
    /// A will.
    Will(Box<StoredWill>),
    /// An incoming QoS 2 identifier (no value).
    Empty,
}

impl Encode for MqttValue {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MqttValue::Meta(m) => encode_meta(m, out),
            MqttValue::Msg(m) => encode_msg(m, out),
            MqttValue::Will(w) => encode_will(w, out),
            MqttValue::Empty => {}
        }
    }
}

/// A change to a session's records.
#[derive(Debug)]
pub enum Record {
    /// The session's meta (created, subscriptions changed, connected, away).
    Meta(SessionMeta),
    /// A message kept.
    Msg(Box<StoredMsg>),
    /// A message acknowledged, dropped or expired.
    DelMsg(u64),
    /// An incoming QoS 2 identifier received (`true`) or released (`false`).
    Qos2(u16, bool),
    /// The will (see [`StoredWill`]).
    Will(Box<StoredWill>),
    /// The will is gone (published, cancelled, or the connection has none).
    DelWill,
    /// The session ended: everything of this incarnation goes.
    End,
}

/// The prefix of every key of (client, inc).
fn session_prefix(client: &str, inc: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(client.len() + 12);
    k.push(KEY_MQTT);
    k.extend_from_slice(client.as_bytes());
    k.push(0);
    k.extend_from_slice(&inc.to_be_bytes());
    k
}

/// The log operation of `rec` for session (client, inc).
pub fn op_of(client: &str, inc: u64, rec: Record) -> Op<MqttValue> {
    let mut key = session_prefix(client, inc);
    match rec {
        Record::Meta(m) => {
            key.push(KIND_META);
            Op::Put {
                key,
                value: MqttValue::Meta(m),
            }
        }
        Record::Msg(m) => {
            key.push(KIND_MSG);
            key.extend_from_slice(&m.key.to_be_bytes());
            Op::Put {
                key,
                value: MqttValue::Msg(m),
            }
        }
        Record::DelMsg(k) => {
            key.push(KIND_MSG);
            key.extend_from_slice(&k.to_be_bytes());
            Op::Delete { key }
        }
        Record::Qos2(pid, true) => {
            key.push(KIND_QOS2);
            key.extend_from_slice(&pid.to_be_bytes());
            Op::Put {
                key,
                value: MqttValue::Empty,
            }
        }
        Record::Qos2(pid, false) => {
            key.push(KIND_QOS2);
            key.extend_from_slice(&pid.to_be_bytes());
            Op::Delete { key }
        }
        Record::Will(w) => {
            key.push(KIND_WILL);
            Op::Put {
                key,
                value: MqttValue::Will(w),
            }
        }
        Record::DelWill => {
            key.push(KIND_WILL);
            Op::Delete { key }
        }
        Record::End => Op::DeletePrefix { prefix: key },
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.put_u16(s.len().min(u16::MAX as usize) as u16);
    out.extend_from_slice(&s.as_bytes()[..s.len().min(u16::MAX as usize)]);
}

fn encode_meta(m: &SessionMeta, out: &mut Vec<u8>) {
    out.put_u8(FORMAT);
    out.put_u8(m.version.level());
    out.put_u32(m.expiry_s);
    out.put_u16(m.last_pid);
    out.put_u64(m.offline_since_ms);
    put_str(out, &m.listener);
    out.put_u32(m.filters.len() as u32);
    for f in &m.filters {
        put_str(out, &f.filter);
        let flags = (f.qos as u8)
            | (u8::from(f.no_local) << 2)
            | (u8::from(f.retain_as_published) << 3)
            | (u8::from(f.sub_id.is_some()) << 4);
        out.put_u8(flags);
        out.put_u32(f.sub_id.unwrap_or(0));
    }
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let n = b.get_u16() as usize;
    if b.remaining() < n {
        return None;
    }
    let s = std::str::from_utf8(&b[..n]).ok()?.to_owned();
    b.advance(n);
    Some(s)
}

/// Reads a [`SessionMeta`]; `None` when it does not read back.
pub fn decode_meta(mut b: &[u8]) -> Option<SessionMeta> {
    if b.remaining() < 1 + 1 + 4 + 2 + 8 + 4 || b.get_u8() != FORMAT {
        return None;
    }
    let version = Version::from_level(b.get_u8())?;
    let expiry_s = b.get_u32();
    let last_pid = b.get_u16();
    let offline_since_ms = b.get_u64();
    let listener = get_str(&mut b)?;
    if b.remaining() < 4 {
        return None;
    }
    let n = b.get_u32() as usize;
    let mut filters = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let filter = get_str(&mut b)?;
        if b.remaining() < 5 {
            return None;
        }
        let flags = b.get_u8();
        let sub_id = b.get_u32();
        filters.push(StoredFilter {
            filter,
            qos: QoS::from_u8(flags & 3)?,
            no_local: flags & 4 != 0,
            retain_as_published: flags & 8 != 0,
            sub_id: (flags & 16 != 0).then_some(sub_id),
        });
    }
    b.is_empty().then_some(SessionMeta {
        version,
        expiry_s,
        last_pid,
        offline_since_ms,
        filters,
        listener,
    })
}

fn encode_msg(m: &StoredMsg, out: &mut Vec<u8>) {
    out.put_u8(FORMAT);
    out.put_u64(m.key);
    out.put_u64(m.publication);
    out.put_u64(m.at_ms);
    let flags = (m.qos as u8)
        | (u8::from(m.retain) << 2)
        | (u8::from(m.released) << 3)
        | (u8::from(m.packet_id.is_some()) << 4);
    out.put_u8(flags);
    out.put_u16(m.packet_id.unwrap_or(0));
    // The rest is a 5.0 PUBLISH at QoS 0 (QoS and identifier are above).
    let mut props = m.props.clone();
    props.topic_alias = None;
    props.subscription_identifiers = m.sub_ids.clone();
    let p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: m.topic.clone(),
        packet_id: None,
        properties: props,
        payload: m.payload.clone(),
    };
    let mut b = BytesMut::new();
    if mqtt::encode(&Packet::Publish(p), Version::V5, &mut b).is_ok() {
        out.extend_from_slice(&b);
    }
}

/// Reads a [`StoredMsg`]; `None` when it does not read back.
pub fn decode_msg(b: &[u8]) -> Option<StoredMsg> {
    let mut h = b;
    if h.remaining() < 1 + 8 + 8 + 8 + 1 + 2 || h.get_u8() != FORMAT {
        return None;
    }
    let key = h.get_u64();
    let publication = h.get_u64();
    let at_ms = h.get_u64();
    let flags = h.get_u8();
    let pid = h.get_u16();
    let (p, _) = stored_publish(h)?;
    let mut props = p.properties;
    let sub_ids = std::mem::take(&mut props.subscription_identifiers);
    Some(StoredMsg {
        key,
        publication,
        at_ms,
        qos: QoS::from_u8(flags & 3)?,
        retain: flags & 4 != 0,
        released: flags & 8 != 0,
        packet_id: (flags & 16 != 0 && pid != 0).then_some(pid),
        sub_ids,
        topic: p.topic,
        payload: p.payload,
        props,
    })
}

fn encode_will(w: &StoredWill, out: &mut Vec<u8>) {
    out.put_u8(FORMAT);
    out.put_u64(w.due_ms);
    out.put_u32(w.delay_s);
    out.put_u8((w.will.qos as u8) | (u8::from(w.will.retain) << 2));
    // The rest is a 5.0 PUBLISH at QoS 0 with the will's properties.
    let wp = &w.will.properties;
    let props = PublishProperties {
        payload_format_indicator: wp.payload_format_indicator,
        message_expiry_interval: wp.message_expiry_interval,
        content_type: wp.content_type.clone(),
        response_topic: wp.response_topic.clone(),
        correlation_data: wp.correlation_data.clone(),
        user_properties: wp.user_properties.clone(),
        ..Default::default()
    };
    let p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: w.will.topic.clone(),
        packet_id: None,
        properties: props,
        payload: w.will.payload.clone(),
    };
    let mut b = BytesMut::new();
    if mqtt::encode(&Packet::Publish(p), Version::V5, &mut b).is_ok() {
        out.extend_from_slice(&b);
    }
}

/// The 5.0 PUBLISH a stored message or will ends with, and whether octets
/// follow it; `None` when it does not decode.
fn stored_publish(rest: &[u8]) -> Option<(mqtt::Publish, bool)> {
    let mut buf = BytesMut::from(rest);
    let limits = mqtt::Limits {
        peer: mqtt::Peer::Any,
        max_packet_size: crate::config::mqtt::MQTT_PROTOCOL_MAX_PACKET_SIZE as u32,
        ..mqtt::Limits::server()
    };
    let Ok(Some(Packet::Publish(p))) = mqtt::decode(&mut buf, Some(Version::V5), &limits) else {
        return None;
    };
    Some((p, !buf.is_empty()))
}

/// Reads a [`StoredWill`]; `None` when it does not read back.
pub fn decode_will(b: &[u8]) -> Option<StoredWill> {
    let mut h = b;
    if h.remaining() < 1 + 8 + 4 + 1 || h.get_u8() != FORMAT {
        return None;
    }
    let due_ms = h.get_u64();
    let delay_s = h.get_u32();
    let flags = h.get_u8();
    let (p, trailing) = stored_publish(h)?;
    if trailing {
        return None;
    }
    let pp = p.properties;
    Some(StoredWill {
        due_ms,
        delay_s,
        will: Will {
            topic: p.topic,
            payload: p.payload,
            qos: QoS::from_u8(flags & 3)?,
            retain: flags & 4 != 0,
            properties: WillProperties {
                will_delay_interval: None,
                payload_format_indicator: pp.payload_format_indicator,
                message_expiry_interval: pp.message_expiry_interval,
                content_type: pp.content_type,
                response_topic: pp.response_topic,
                correlation_data: pp.correlation_data,
                user_properties: pp.user_properties,
            },
        },
    })
}

/// A session read back at start.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The realm whose log held it.
    pub realm: String,
    /// Client identifier.
    pub client: String,
    /// Its incarnation.
    pub inc: u64,
    /// The session.
    pub meta: SessionMeta,
    /// Its messages, oldest first.
    pub msgs: Vec<StoredMsg>,
    /// Incoming QoS 2 identifiers waiting for PUBREL.
    pub qos2_in: Vec<u16>,
    /// Its will, when one was kept (see [`StoredWill`]).
    pub will: Option<StoredWill>,
}

/// Collects the MQTT records of one realm's log while it is loaded.
#[derive(Debug, Default)]
pub struct Loader {
    sessions: BTreeMap<(String, u64), Partial>,
    /// Records that did not read back.
    pub unreadable: usize,
}

#[derive(Debug, Default)]
struct Partial {
    meta: Option<SessionMeta>,
    msgs: Vec<StoredMsg>,
    qos2: Vec<u16>,
    will: Option<StoredWill>,
}

impl Loader {
    /// Takes one live record whose key starts with [`KEY_MQTT`].
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let Some((client, inc, kind, rest)) = split_key(key) else {
            self.unreadable += 1;
            return;
        };
        let part = self.sessions.entry((client, inc)).or_default();
        match (kind, rest.len()) {
            (KIND_META, 0) => match decode_meta(value) {
                Some(m) => part.meta = Some(m),
                None => self.unreadable += 1,
            },
            (KIND_MSG, 8) => match decode_msg(value) {
                Some(m) => part.msgs.push(m),
                None => self.unreadable += 1,
            },
            (KIND_QOS2, 2) => part.qos2.push(u16::from_be_bytes([rest[0], rest[1]])),
            (KIND_WILL, 0) => match decode_will(value) {
                Some(w) => part.will = Some(w),
                None => self.unreadable += 1,
            },
            _ => self.unreadable += 1,
        }
    }

    /// The sessions of `realm` (the newest incarnation of each client), and
    /// the prefixes of what is stale (older incarnations, records without a
    /// session) for the caller to delete.
    pub fn finish(self, realm: &str) -> (Vec<RestoredSession>, Vec<Vec<u8>>) {
        let mut out: Vec<RestoredSession> = Vec::new();
        let mut stale = Vec::new();
        // Keys sort by (client, inc): the last of a client is its newest.
        let mut newest: BTreeMap<String, u64> = BTreeMap::new();
        for ((client, inc), p) in &self.sessions {
            if p.meta.is_some() {
                newest.insert(client.clone(), *inc);
            }
        }
        for ((client, inc), p) in self.sessions {
            let keep = newest.get(&client) == Some(&inc);
            match (keep, p.meta) {
                (true, Some(meta)) => {
                    let mut msgs = p.msgs;
                    msgs.sort_by_key(|m| m.key);
                    out.push(RestoredSession {
                        realm: realm.to_owned(),
                        client,
                        inc,
                        meta,
                        msgs,
                        qos2_in: p.qos2,
                        will: p.will,
                    });
                }
                _ => stale.push(session_prefix(&client, inc)),
            }
        }
        (out, stale)
    }
}

/// (client, inc, kind, rest) of an MQTT key.
fn split_key(key: &[u8]) -> Option<(String, u64, u8, &[u8])> {
    let rest = key.strip_prefix(&[KEY_MQTT])?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let client = std::str::from_utf8(&rest[..nul]).ok()?.to_owned();
    let rest = &rest[nul + 1..];
    if rest.len() < 9 {
        return None;
    }
    let inc = u64::from_be_bytes(rest[..8].try_into().ok()?);
    Some((client, inc, rest[8], &rest[9..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mqtt::UserProperties;

    fn msg(key: u64) -> StoredMsg {
        let mut props = PublishProperties {
            message_expiry_interval: Some(60),
            content_type: MqttString::try_from("text/plain").ok(),
            correlation_data: Some(Bytes::from_static(b"\x00\x01")),
            ..Default::default()
        };
        props.user_properties = UserProperties::default();
        StoredMsg {
            key,
            publication: 0x1234_5678_9abc,
            at_ms: 1_700_000_000_000,
            qos: QoS::ExactlyOnce,
            retain: true,
            packet_id: Some(7),
            released: true,
            sub_ids: vec![3, 9],
            topic: MqttString::try_from("a/b").expect("topic"),
            payload: Bytes::from_static(b"\x00payload\xff"),
            props,
        }
    }

    #[test]
    fn messages_and_metas_read_back_unchanged() {
        let m = msg(42);
        let mut b = Vec::new();
        encode_msg(&m, &mut b);
        assert_eq!(decode_msg(&b), Some(m));
        let mut plain = msg(1);
        plain.packet_id = None;
        plain.released = false;
        plain.qos = QoS::AtLeastOnce;
        plain.sub_ids.clear();
        plain.props = PublishProperties::default();
        let mut b = Vec::new();
        encode_msg(&plain, &mut b);
        assert_eq!(decode_msg(&b), Some(plain));
        assert_eq!(decode_msg(&b[..b.len() - 1]), None, "cut short");
        let meta = SessionMeta {
            version: Version::V5,
            expiry_s: u32::MAX,
            last_pid: 65535,
            offline_since_ms: 99,
            listener: "mqtt-1".into(),
            filters: vec![
                StoredFilter {
                    filter: "a/+/c".into(),
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: false,
                    sub_id: Some(268_435_455),
                },
                StoredFilter {
                    filter: "#".into(),
                    qos: QoS::ExactlyOnce,
                    no_local: false,
                    retain_as_published: true,
                    sub_id: None,
                },
            ],
        };
        let mut b = Vec::new();
        encode_meta(&meta, &mut b);
        assert_eq!(decode_meta(&b), Some(meta));
        assert_eq!(decode_meta(&b[..b.len() - 2]), None);
    }

    fn will(due_ms: u64, delay_s: u32) -> StoredWill {
        StoredWill {
            due_ms,
            delay_s,
            will: Will {
                topic: MqttString::try_from("dev/7/status").expect("topic"),
                payload: Bytes::from_static(b"\x00gone\xff"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: WillProperties {
                    will_delay_interval: None,
                    payload_format_indicator: Some(false),
                    message_expiry_interval: Some(30),
                    content_type: MqttString::try_from("text/plain").ok(),
                    response_topic: MqttString::try_from("dev/7/reply").ok(),
                    correlation_data: Some(Bytes::from_static(b"\x01\x02")),
                    user_properties: UserProperties::default(),
                },
            },
        }
    }

    #[test]
    fn wills_read_back_unchanged() {
        for w in [will(1_700_000_123_456, 5), will(0, 0), will(0, u32::MAX)] {
            let mut b = Vec::new();
            encode_will(&w, &mut b);
            assert_eq!(decode_will(&b), Some(w.clone()));
            assert_eq!(decode_will(&b[..b.len() - 1]), None, "cut short");
            let mut longer = b.clone();
            longer.push(0);
            assert_eq!(decode_will(&longer), None, "trailing bytes");
        }
        let mut plain = will(9, 1);
        plain.will.retain = false;
        plain.will.qos = QoS::AtMostOnce;
        plain.will.properties = WillProperties::default();
        plain.will.payload = Bytes::new();
        let mut b = Vec::new();
        encode_will(&plain, &mut b);
        assert_eq!(decode_will(&b), Some(plain));
    }

    #[test]
    fn a_will_is_due_when_stored_or_its_delay_after_the_start() {
        assert_eq!(
            will(5_000, 60).due_at(1_000_000),
            5_000,
            "offline: as stored"
        );
        assert_eq!(
            will(0, 60).due_at(1_000_000),
            1_060_000,
            "connection open at the stop: the delay counts from the start"
        );
        assert_eq!(will(0, 0).due_at(1_000_000), 1_000_000, "no delay: at once");
    }

    fn value(v: &MqttValue) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(&mut out);
        out
    }

    /// Replays operations the way a log's image does (last put wins,
    /// deletes remove), then loads: the newest incarnation of a client
    /// wins, its messages come back in key order, stale ones are named.
    #[test]
    fn the_loader_keeps_the_newest_incarnation() {
        let meta = |expiry_s| SessionMeta {
            version: Version::V311,
            expiry_s,
            last_pid: 3,
            offline_since_ms: 0,
            filters: Vec::new(),
            listener: String::new(),
        };
        let ops = vec![
            op_of("dev", 5, Record::Meta(meta(10))),
            op_of("dev", 5, Record::Msg(Box::new(msg(2)))),
            op_of("dev", 9, Record::Meta(meta(20))),
            op_of("dev", 9, Record::Msg(Box::new(msg(8)))),
            op_of("dev", 9, Record::Msg(Box::new(msg(4)))),
            op_of("dev", 9, Record::Msg(Box::new(msg(6)))),
            op_of("dev", 9, Record::DelMsg(6)),
            op_of("dev", 9, Record::Qos2(17, true)),
            op_of("dev", 9, Record::Qos2(18, true)),
            op_of("dev", 9, Record::Qos2(17, false)),
            op_of("dev", 5, Record::Will(Box::new(will(1, 1)))),
            op_of("dev", 9, Record::Will(Box::new(will(0, 3)))),
            op_of("dev", 9, Record::DelWill),
            op_of("dev", 9, Record::Will(Box::new(will(77, 3)))),
            op_of("gone", 1, Record::Will(Box::new(will(2, 2)))),
            op_of("gone", 1, Record::Meta(meta(1))),
            op_of("gone", 1, Record::End),
            op_of("orphan", 2, Record::Msg(Box::new(msg(1)))),
        ];
        let mut image: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put { key, value: v } => {
                    image.insert(key, value(&v));
                }
                Op::Delete { key } => {
                    image.remove(&key);
                }
                Op::DeletePrefix { prefix } => image.retain(|k, _| !k.starts_with(&prefix)),
                Op::Append { .. } => unreachable!("not used"),
            }
        }
        let mut l = Loader::default();
        for (k, v) in &image {
            l.add(k, v);
        }
        let (sessions, stale) = l.finish("realm1");
        assert_eq!(sessions.len(), 1);
        let s = &sessions[0];
        assert_eq!((s.client.as_str(), s.inc, s.meta.expiry_s), ("dev", 9, 20));
        assert_eq!(s.msgs.iter().map(|m| m.key).collect::<Vec<_>>(), vec![4, 8]);
        assert_eq!(s.qos2_in, vec![18]);
        assert_eq!(s.will, Some(will(77, 3)), "the last will written");
        assert_eq!(
            stale,
            vec![session_prefix("dev", 5), session_prefix("orphan", 2)]
        );
    }
}

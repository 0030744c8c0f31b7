//! What every published event and every call carries: a [`Stamp`]
//! `(seq, sender, t_ns)` plus padding up to `--payload` bytes.
//!
//! WAMP: positional arguments `[seq, sender, t_ns, padding]`; padding is a
//! string of `x` with JSON and binary zeros with MessagePack and CBOR.
//! MQTT: a binary payload: `seq`, `sender`, `t_ns` as big-endian u64, then
//! zeros. In both, the padding is `payload - 24` bytes (none below 24), so
//! `--payload` is the application payload size, not the frame size.
//!
//! `sender` 0 is reserved for warm-up events, which are never tracked. In
//! `pubsub` a sender is one publisher's stream on one topic:
//! `sender = (publisher << 20) | topic`, so that sequence numbers are
//! contiguous per (sender, receiver) pair even when a receiver subscribes to
//! only some topics.

use bytes::{BufMut, Bytes, BytesMut};
use junction::proto::{Serializer, Value};

/// Bytes of the three numbers.
pub const STAMP_LEN: usize = 24;
/// The sender id of warm-up events.
pub const WARMUP_SENDER: u64 = 0;
/// Bits of a pubsub sender id that hold the topic index.
pub const TOPIC_BITS: u32 = 20;

/// The fields a receiver needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Sequence number, from 0 per sender.
    pub seq: u64,
    /// The sender (stream) id; 0 for warm-up.
    pub sender: u64,
    /// When it was sent (or, with `--rate`, was due to be sent), [`crate::clock::now_ns`].
    pub t_ns: u64,
}

/// The pubsub stream id of `publisher`'s messages on topic `topic`.
pub fn stream_id(publisher: u64, topic: u64) -> u64 {
    (publisher << TOPIC_BITS) | topic
}

/// The padding value for a WAMP payload of `payload` bytes.
pub fn wamp_padding(ser: Serializer, payload: usize) -> Value {
    let n = payload.saturating_sub(STAMP_LEN);
    match ser {
        Serializer::Json => Value::Str("x".repeat(n)),
        _ => Value::Bytes(Bytes::from(vec![0u8; n])),
    }
}

/// WAMP positional arguments for `stamp`.
pub fn wamp_args(stamp: Stamp, padding: &Value) -> Vec<Value> {
    vec![
        Value::from_u64(stamp.seq),
        Value::from_u64(stamp.sender),
        Value::from_u64(stamp.t_ns),
        padding.clone(),
    ]
}

/// Reads a stamp back from WAMP positional arguments.
pub fn from_wamp_args(args: Option<&Vec<Value>>) -> Option<Stamp> {
    let a = args?;
    Some(Stamp {
        seq: a.first()?.as_u64()?,
        sender: a.get(1)?.as_u64()?,
        t_ns: a.get(2)?.as_u64()?,
    })
}

/// Appends an MQTT payload of `payload` bytes (at least [`STAMP_LEN`]).
pub fn put_mqtt(stamp: Stamp, payload: usize, out: &mut BytesMut) {
    out.put_u64(stamp.seq);
    out.put_u64(stamp.sender);
    out.put_u64(stamp.t_ns);
    out.put_bytes(0, payload.saturating_sub(STAMP_LEN));
}

/// The MQTT payload length for `--payload`.
pub fn mqtt_len(payload: usize) -> usize {
    payload.max(STAMP_LEN)
}

/// Reads a stamp back from an MQTT payload.
pub fn from_mqtt(b: &[u8]) -> Option<Stamp> {
    let num =
        |i: usize| -> Option<u64> { Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?)) };
    Some(Stamp {
        seq: num(0)?,
        sender: num(8)?,
        t_ns: num(16)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use junction::proto::{Message, Payload, Publish, RequestId};

    #[test]
    fn wamp_round_trip_every_serializer() {
        let st = Stamp {
            seq: 42,
            sender: stream_id(3, 5),
            t_ns: 123_456_789_012,
        };
        for ser in Serializer::ALL {
            let pad = wamp_padding(ser, 100);
            let m = Message::Publish(Publish {
                request: RequestId(1),
                options: Default::default(),
                topic: "a.b".into(),
                payload: Payload::args(wamp_args(st, &pad)),
            });
            let bytes = ser.encode(&m);
            let Ok(Message::Publish(p)) = ser.decode(&bytes) else {
                panic!("decode {ser:?}")
            };
            assert_eq!(from_wamp_args(p.payload.args.as_ref()), Some(st));
            // About `payload` bytes of arguments plus the envelope.
            assert!(
                bytes.len() >= 100 && bytes.len() < 140,
                "{ser:?} {}",
                bytes.len()
            );
        }
    }

    #[test]
    fn mqtt_round_trip_and_size() {
        let st = Stamp {
            seq: 1,
            sender: 2,
            t_ns: 3,
        };
        let mut b = BytesMut::new();
        put_mqtt(st, 100, &mut b);
        assert_eq!(b.len(), 100);
        assert_eq!(from_mqtt(&b), Some(st));
        let mut small = BytesMut::new();
        put_mqtt(st, 4, &mut small);
        assert_eq!(small.len(), mqtt_len(4));
        assert_eq!(from_mqtt(&b[..23]), None);
    }
}

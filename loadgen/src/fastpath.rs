//! The receive fast path: reads the [`Stamp`] out of an encoded EVENT or
//! RESULT without decoding the whole message into values.
//!
//! Subscribers receive far more messages than anything else in a run, and a
//! full decode allocates the message list, the details dictionary and the
//! padding. This scanner walks the encoded bytes, skips the ids and the
//! details, and reads the first three positional arguments as integers. It
//! never allocates. Anything it does not recognise (another message type, a
//! layout that is not loadgen's, indefinite CBOR lengths, malformed input)
//! yields `None`, and the caller falls back to the full decoder, which also
//! reports malformed input properly.

use junction::proto::Serializer;
use junction::proto::code::{EVENT, RESULT};

use crate::payload::Stamp;

/// Deepest nesting the skipper follows.
const MAX_DEPTH: u32 = 32;

/// `(message code, stamp)` for an EVENT or RESULT carrying a loadgen stamp.
pub fn scan(ser: Serializer, data: &[u8]) -> Option<(u64, Stamp)> {
    match ser {
        Serializer::Json => json(data),
        Serializer::MsgPack => msgpack(data),
        Serializer::Cbor => cbor(data),
    }
}

/// Elements between the code and the arguments: EVENT has subscription,
/// publication, details; RESULT has request, details.
fn fields_before_args(code: u64) -> Option<usize> {
    match code {
        EVENT => Some(3),
        RESULT => Some(2),
        _ => None,
    }
}

struct Cur<'a> {
    d: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.d.get(self.i)?;
        self.i += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.d.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |a, &b| (a << 8) | u64::from(b)),
        )
    }
}

// ---- JSON -----------------------------------------------------------------

impl Cur<'_> {
    fn ws(&mut self) {
        while matches!(self.d.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.byte()? == c).then_some(())
    }

    fn json_uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&b) = self.d.get(self.i) {
            if !b.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.i += 1;
        }
        (self.i > start).then_some(v)
    }

    fn json_skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.byte()? {
            b'"' => loop {
                match self.byte()? {
                    b'"' => return Some(()),
                    b'\\' => {
                        self.byte()?;
                    }
                    _ => {}
                }
            },
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.ws();
                if self.d.get(self.i) == Some(&close) {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.json_skip(depth + 1)?;
                        self.expect(b':')?;
                    }
                    self.json_skip(depth + 1)?;
                    self.ws();
                    match self.byte()? {
                        b',' => {}
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                while matches!(
                    self.d.get(self.i),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z')
                ) {
                    self.i += 1;
                }
                Some(())
            }
            _ => None,
        }
    }
}

fn json(d: &[u8]) -> Option<(u64, Stamp)> {
    let mut c = Cur { d, i: 0 };
    c.expect(b'[')?;
    let code = c.json_uint()?;
    for _ in 0..fields_before_args(code)? {
        c.expect(b',')?;
        c.json_skip(0)?;
    }
    c.expect(b',')?;
    c.expect(b'[')?;
    let seq = c.json_uint()?;
    c.expect(b',')?;
    let sender = c.json_uint()?;
    c.expect(b',')?;
    let t_ns = c.json_uint()?;
    Some((code, Stamp { seq, sender, t_ns }))
}

// ---- MessagePack ----------------------------------------------------------

impl Cur<'_> {
    fn mp_array(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(u64::from(b & 0x0f)),
            0xdc => self.be(2),
            0xdd => self.be(4),
            _ => None,
        }
    }

    fn mp_uint(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            b @ 0xd0..=0xd3 => {
                let n = 1usize << (b - 0xd0);
                let v = self.be(n)?;
                // Signed: accept only values whose sign bit is clear.
                (v >> (n * 8 - 1) == 0).then_some(v)
            }
            _ => None,
        }
    }

    fn mp_skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let b = self.byte()?;
        let (skip, items): (u64, u64) = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(b & 0x0f)),
            0x90..=0x9f => (0, u64::from(b & 0x0f)),
            0xa0..=0xbf => (u64::from(b & 0x1f), 0),
            0xc4 | 0xd9 => (self.be(1)?, 0),
            0xc5 | 0xda => (self.be(2)?, 0),
            0xc6 | 0xdb => (self.be(4)?, 0),
            0xc7 => (self.be(1)? + 1, 0),
            0xc8 => (self.be(2)? + 1, 0),
            0xc9 => (self.be(4)? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4..=0xd8 => (1 + (1u64 << (b - 0xd4)), 0),
            0xdc => (0, self.be(2)?),
            0xdd => (0, self.be(4)?),
            0xde => (0, 2 * self.be(2)?),
            0xdf => (0, 2 * self.be(4)?),
            0xc1 => return None,
        };
        self.take(usize::try_from(skip).ok()?)?;
        for _ in 0..items {
            self.mp_skip(depth + 1)?;
        }
        Some(())
    }
}

fn msgpack(d: &[u8]) -> Option<(u64, Stamp)> {
    let mut c = Cur { d, i: 0 };
    c.mp_array()?;
    let code = c.mp_uint()?;
    for _ in 0..fields_before_args(code)? {
        c.mp_skip(0)?;
    }
    if c.mp_array()? < 3 {
        return None;
    }
    let seq = c.mp_uint()?;
    let sender = c.mp_uint()?;
    let t_ns = c.mp_uint()?;
    Some((code, Stamp { seq, sender, t_ns }))
}

// ---- CBOR -----------------------------------------------------------------

impl Cur<'_> {
    /// Major type and argument; `None` for indefinite lengths and reserved values.
    fn cb_head(&mut self) -> Option<(u8, u64)> {
        let b = self.byte()?;
        let arg = match b & 0x1f {
            v @ 0..=23 => u64::from(v),
            24 => self.be(1)?,
            25 => self.be(2)?,
            26 => self.be(4)?,
            27 => self.be(8)?,
            _ => return None,
        };
        Some((b >> 5, arg))
    }

    fn cb_skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (major, arg) = self.cb_head()?;
        match major {
            0 | 1 | 7 => {}
            2 | 3 => {
                self.take(usize::try_from(arg).ok()?)?;
            }
            4 | 5 => {
                let n = if major == 5 { arg.checked_mul(2)? } else { arg };
                for _ in 0..n {
                    self.cb_skip(depth + 1)?;
                }
            }
            _ => self.cb_skip(depth + 1)?, // tag: skip the tagged item
        }
        Some(())
    }

    fn cb_uint(&mut self) -> Option<u64> {
        match self.cb_head()? {
            (0, v) => Some(v),
            _ => None,
        }
    }
}

fn cbor(d: &[u8]) -> Option<(u64, Stamp)> {
    let mut c = Cur { d, i: 0 };
    let (4, _) = c.cb_head()? else { return None };
    let code = c.cb_uint()?;
    for _ in 0..fields_before_args(code)? {
        c.cb_skip(0)?;
    }
    match c.cb_head()? {
        (4, n) if n >= 3 => {}
        _ => return None,
    }
    let seq = c.cb_uint()?;
    let sender = c.cb_uint()?;
    let t_ns = c.cb_uint()?;
    Some((code, Stamp { seq, sender, t_ns }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{wamp_args, wamp_padding};
    use junction::proto::{
        CallResult, Dict, Event, Message, Payload, PublicationId, Publish, RequestId,
        SubscriptionId, Value,
    };

    fn details() -> Vec<Dict> {
        vec![
            Dict::new(),
            Dict::new().with("topic", "a.b.c"),
            Dict::new()
                .with("x", Value::Float(-1.5e10))
                .with("esc", "q\"u\\o,t]e}")
                .with("n", Value::Null)
                .with("b", true)
                .with("neg", Value::Int(-70000))
                .with("big", Value::from_u64(u64::MAX))
                .with("bin", Value::Bytes(bytes::Bytes::from_static(&[1, 2, 3])))
                .with(
                    "nested",
                    Value::List(vec![
                        Value::Dict(Dict::new().with("k", Value::List(vec![]))),
                        Value::Str(String::new()),
                    ]),
                ),
        ]
    }

    #[test]
    fn reads_stamps_from_events_and_results_in_every_serializer() {
        let stamps = [
            Stamp {
                seq: 0,
                sender: 1,
                t_ns: 2,
            },
            Stamp {
                seq: 300,
                sender: 1 << 20 | 7,
                t_ns: 123_456_789_012_345,
            },
            Stamp {
                seq: u64::from(u32::MAX) + 1,
                sender: 65_535,
                t_ns: i64::MAX as u64,
            },
        ];
        for ser in Serializer::ALL {
            for payload in [0, 24, 100, 70_000] {
                let pad = wamp_padding(ser, payload);
                for st in stamps {
                    for d in details() {
                        let p = Payload {
                            args: Some(wamp_args(st, &pad)),
                            kwargs: Some(Dict::new().with("k", 1u64)),
                        };
                        let ev = Message::Event(Event {
                            subscription: SubscriptionId(1 << 52),
                            publication: PublicationId(42),
                            details: d.clone(),
                            payload: p.clone(),
                        });
                        assert_eq!(
                            scan(ser, &ser.encode(&ev)),
                            Some((EVENT, st)),
                            "{ser:?} {d:?}"
                        );
                        let res = Message::Result(CallResult {
                            request: RequestId(9),
                            details: d,
                            payload: p,
                        });
                        assert_eq!(scan(ser, &ser.encode(&res)), Some((RESULT, st)), "{ser:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn other_messages_and_garbage_fall_back() {
        for ser in Serializer::ALL {
            let publish = Message::Publish(Publish {
                request: RequestId(1),
                options: Dict::new(),
                topic: "t".into(),
                payload: Payload::args(vec![1u64.into(), 2u64.into(), 3u64.into()]),
            });
            assert_eq!(scan(ser, &ser.encode(&publish)), None);
            let no_args = Message::Event(Event {
                subscription: SubscriptionId(1),
                publication: PublicationId(2),
                details: Dict::new(),
                payload: Payload::empty(),
            });
            let bytes = ser.encode(&no_args);
            assert_eq!(scan(ser, &bytes), None);
            for cut in 0..bytes.len() {
                assert_eq!(scan(ser, &bytes[..cut]), None);
            }
            let strings = Message::Event(Event {
                subscription: SubscriptionId(1),
                publication: PublicationId(2),
                details: Dict::new(),
                payload: Payload::args(vec!["a".into(), 2u64.into(), 3u64.into()]),
            });
            assert_eq!(scan(ser, &ser.encode(&strings)), None);
        }
        assert_eq!(scan(Serializer::Json, b"[36,1,2,{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}],[1,2,3]]"), None);
        assert_eq!(scan(Serializer::MsgPack, &[0x95, 36, 1, 2, 0xc1]), None);
        assert_eq!(scan(Serializer::Cbor, &[0x9f]), None);
    }
}

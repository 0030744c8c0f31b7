//! The `wamp.2.json` codec: UTF-8 JSON text.
//!
//! Decoding goes through `serde_json` straight into [`Value`] (a depth-tracking
//! `DeserializeSeed`, no `serde_json::Value` in between). Encoding is written by
//! hand into the caller's `BytesMut`: integers via `itoa`, floats via `ryu`,
//! strings with RFC 8259 escaping.
//!
//! WAMP's JSON binary convention: a string whose first character is U+0000 is
//! binary data, the rest of the string being standard base64. Decoding accepts
//! the base64 with or without `=` padding; encoding always pads.
//!
//! Lossy corners, all forced by JSON itself:
//! - NaN and ±infinity have no JSON form and are encoded as `null`;
//! - integers beyond `u64` in the input decode as [`Value::Float`];
//! - a [`Value::Str`] that begins with U+0000 comes back as binary (or fails
//!   as [`DecodeError::BadBase64`]), as the WAMP spec says.

use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{MAX_DEPTH, Writer};
use crate::proto::error::DecodeError;
use crate::proto::value::{Dict, Value};

/// Standard alphabet; pads on encode, takes padded or unpadded input on decode.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes one message's top-level list.
///
/// # Errors
/// [`DecodeError::Syntax`] for invalid JSON (including trailing data),
/// [`DecodeError::NotAList`] when the top level is not an array,
/// [`DecodeError::TooDeep`] beyond [`MAX_DEPTH`] levels and
/// [`DecodeError::BadBase64`] for a binary string that is not base64.
pub fn decode_list(data: &[u8]) -> Result<Vec<Value>, DecodeError> {
    match decode_value(data)? {
        Value::List(l) => Ok(l),
        _ => Err(DecodeError::NotAList),
    }
}

/// Decodes any single JSON value (the whole input, nothing may follow but whitespace).
///
/// # Errors
/// As [`decode_list`], except that any top-level value is accepted.
pub fn decode_value(data: &[u8]) -> Result<Value, DecodeError> {
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(data);
    let result = ValueSeed {
        depth: 0,
        failure: &failure,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    result.map_err(|e| {
        failure.take().unwrap_or_else(|| DecodeError::Syntax {
            serializer: "json",
            detail: e.to_string(),
        })
    })
}

/// Decodes a JSON object keeping only the values under `keys` (the first
/// entry of a key sent twice), as [`decode_value`] would decode them,
/// without building the object: no dictionary and no key is allocated.
/// Other entries are decoded all the same (their errors are the object's)
/// and dropped. `Ok(None)`: valid JSON whose top level is not an object.
///
/// # Errors
/// As [`decode_value`].
pub fn decode_object_fields<const N: usize>(
    data: &[u8],
    keys: [&str; N],
) -> Result<Option<[Option<Value>; N]>, DecodeError> {
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(data);
    let seed = FieldsSeed {
        keys,
        value: ValueSeed {
            depth: 0,
            failure: &failure,
        },
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    result.map_err(|e| {
        failure.take().unwrap_or_else(|| DecodeError::Syntax {
            serializer: "json",
            detail: e.to_string(),
        })
    })
}

/// The top level of [`decode_object_fields`]: an object's wanted entries,
/// anything else checked as [`ValueSeed`] checks it.
struct FieldsSeed<'k, 'a, const N: usize> {
    keys: [&'k str; N],
    value: ValueSeed<'a>,
}

impl<'de, const N: usize> DeserializeSeed<'de> for FieldsSeed<'_, '_, N> {
    type Value = Option<[Option<Value>; N]>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for FieldsSeed<'_, '_, N> {
    type Value = Option<[Option<Value>; N]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        self.value.visit_str(s).map(|_| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.value.visit_seq(seq).map(|_| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let inner = self.value.enter()?;
        let mut found: [Option<Value>; N] = std::array::from_fn(|_| None);
        while let Some(key) = map.next_key_seed(KeySeed(&self.keys))? {
            let v = map.next_value_seed(inner)?;
            if let Some(i) = key
                && found[i].is_none()
            {
                found[i] = Some(v);
            }
        }
        Ok(Some(found))
    }
}

/// An object key: the index of the wanted key it is, compared in place.
struct KeySeed<'s, 'k, const N: usize>(&'s [&'k str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for KeySeed<'_, '_, N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for KeySeed<'_, '_, N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| *k == s))
    }
}

/// Appends the JSON encoding of `v` to `out`.
pub fn encode_value(v: &Value, out: &mut BytesMut) {
    write_value(out, v);
}

/// Deserializes one [`Value`] at nesting `depth` (containers enclosing it).
///
/// Errors that have their own [`DecodeError`] variant are parked in `failure`,
/// because serde only lets a visitor report a `serde_json::Error`.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    depth: usize,
    failure: &'a Cell<Option<DecodeError>>,
}

impl<'a> ValueSeed<'a> {
    /// The seed for a container's elements, or an error past [`MAX_DEPTH`].
    fn enter<E: de::Error>(self) -> Result<ValueSeed<'a>, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(self.fail(DecodeError::TooDeep(MAX_DEPTH)));
        }
        Ok(ValueSeed {
            depth,
            failure: self.failure,
        })
    }

    fn fail<E: de::Error>(&self, err: DecodeError) -> E {
        let e = E::custom(&err);
        self.failure.set(Some(err));
        e
    }

    fn binary<E: de::Error>(&self, b64: &str) -> Result<Value, E> {
        match BASE64.decode(b64) {
            Ok(bytes) => Ok(Value::Bytes(Bytes::from(bytes))),
            Err(_) => Err(self.fail(DecodeError::BadBase64)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from_u64(u))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        match s.strip_prefix('\0') {
            Some(b64) => self.binary(b64),
            None => Ok(Value::Str(s.to_owned())),
        }
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        match s.strip_prefix('\0') {
            Some(b64) => self.binary(b64),
            None => Ok(Value::Str(s)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut list = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            list.push(v);
        }
        Ok(Value::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut dict = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            dict.push((key.into(), v));
        }
        Ok(Value::Dict(Dict(dict)))
    }
}

/// Writes WAMP values as JSON, appending to a `BytesMut`.
pub struct JsonWriter<'a> {
    out: &'a mut BytesMut,
}

impl<'a> JsonWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut BytesMut) -> Self {
        JsonWriter { out }
    }
}

impl Writer for JsonWriter<'_> {
    fn begin_list(&mut self, _len: usize) {
        self.out.put_u8(b'[');
    }
    fn sep(&mut self) {
        self.out.put_u8(b',');
    }
    fn end_list(&mut self) {
        self.out.put_u8(b']');
    }
    fn uint(&mut self, v: u64) {
        write_u64(self.out, v);
    }
    fn str(&mut self, s: &str) {
        write_str(self.out, s);
    }
    fn dict(&mut self, d: &Dict) {
        write_dict(self.out, d);
    }
    fn list(&mut self, l: &[Value]) {
        write_list(self.out, l);
    }
    fn value(&mut self, v: &Value) {
        write_value(self.out, v);
    }
}

fn write_value(out: &mut BytesMut, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::UInt(u) => write_u64(out, *u),
        Value::Float(f) => write_f64(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => write_binary(out, b),
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

fn write_u64(out: &mut BytesMut, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Shortest text that parses back to the same `f64`; always has a `.` or an
/// exponent (ryu writes `1.0`, `1e16`), so it decodes as a float again.
/// Non-finite values have no JSON form: they become `null`.
fn write_f64(out: &mut BytesMut, f: f64) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_list(out: &mut BytesMut, l: &[Value]) {
    out.put_u8(b'[');
    for (i, v) in l.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        write_value(out, v);
    }
    out.put_u8(b']');
}

fn write_dict(out: &mut BytesMut, d: &Dict) {
    out.put_u8(b'{');
    for (i, (k, v)) in d.0.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        write_str(out, k);
        out.put_u8(b':');
        write_value(out, v);
    }
    out.put_u8(b'}');
}

/// `"\u0000"` followed by padded standard base64, encoded in place.
fn write_binary(out: &mut BytesMut, b: &[u8]) {
    const PREFIX: &[u8] = b"\"\\u0000";
    let b64_len =
        base64::encoded_len(b.len(), true).expect("a buffer in memory has a base64 length");
    out.reserve(PREFIX.len() + b64_len + 1);
    out.extend_from_slice(PREFIX);
    let start = out.len();
    out.resize(start + b64_len, 0);
    let written = BASE64
        .encode_slice(b, &mut out[start..])
        .expect("the slice is exactly encoded_len long");
    debug_assert_eq!(written, b64_len);
    out.put_u8(b'"');
}

/// For each byte, what follows the `\` of its escape, `u` for `\u00XX`, 0 for none.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// A JSON string per RFC 8259: `"` and `\` escaped, control characters as
/// their short escape (`\n`, `\t`, ...) or `\u00XX`; everything else, including
/// non-ASCII, is copied as UTF-8. Runs without escapes are copied in one go.
fn write_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.put_u8(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[usize::from(b)];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Serializer;
    use crate::proto::message::{Message, Payload, Publish};
    use crate::proto::{PublicationId, RequestId, SubscriptionId};

    fn enc(v: &Value) -> String {
        let mut out = BytesMut::new();
        encode_value(v, &mut out);
        String::from_utf8(out.to_vec()).expect("JSON output is UTF-8")
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    /// What [`decode_object_fields`] must give: [`decode_value`]'s object,
    /// looked up.
    fn fields_oracle<const N: usize>(
        data: &[u8],
        keys: [&str; N],
    ) -> Result<Option<[Option<Value>; N]>, DecodeError> {
        Ok(match decode_value(data)? {
            Value::Dict(d) => Some(keys.map(|k| d.get(k).cloned())),
            _ => None,
        })
    }

    #[test]
    fn object_fields_are_decoded_as_the_object_would_be() {
        let keys = ["topic", "args", "kwargs"];
        for input in [
            r#"{"topic": "com.t", "args": [1, "two"], "kwargs": {"k": true}}"#,
            r#"{"topic": "a", "topic": "b", "other": {"x": [null]}}"#,
            r#"{"to\u0070ic": "escaped key", "args": "\u0000AAE="}"#,
            r#"{"other": "\u0000!!", "topic": "t"}"#,
            r#"{"topic": 1} x"#,
            r#"[1, {"topic": "t"}]"#,
            r#"["\u0000!!"]"#,
            r#""text""#,
            "3",
            "null",
            "{}",
            "{",
        ] {
            let got = decode_object_fields(input.as_bytes(), keys);
            let want = fields_oracle(input.as_bytes(), keys);
            assert_eq!(got.is_ok(), want.is_ok(), "{input}");
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{input}"),
                (Err(DecodeError::Syntax { .. }), Err(DecodeError::Syntax { .. })) => {}
                (Err(g), Err(w)) => assert_eq!(g, w, "{input}"),
                _ => unreachable!(),
            }
        }
        let deep = format!(r#"{{"other": {}, "topic": "t"}}"#, nested(MAX_DEPTH + 1));
        assert_eq!(
            decode_object_fields(deep.as_bytes(), keys),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
    }

    proptest::proptest! {
        #[test]
        fn object_fields_agree_with_the_decoded_object(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"topic\"", "\"args\"", "\"x\"", "1",
                "null", "\"\\u0000AA==\"", "\"\\u0000!!\"", " ",
            ]), 0..24)
        ) {
            let input = tokens.concat();
            let keys = ["topic", "args"];
            let got = decode_object_fields(input.as_bytes(), keys);
            let want = fields_oracle(input.as_bytes(), keys);
            proptest::prop_assert_eq!(got.is_ok(), want.is_ok(), "{}", input);
            if let (Ok(g), Ok(w)) = (got, want) {
                proptest::prop_assert_eq!(g, w, "{}", input);
            }
        }
    }

    #[test]
    fn decodes_publish() {
        let msg = Serializer::Json
            .decode(br#"[16,123,{},"com.topic",[1,2],{"k":1}]"#)
            .expect("valid PUBLISH");
        assert_eq!(
            msg,
            Message::Publish(Publish {
                request: RequestId(123),
                options: Dict::new(),
                topic: "com.topic".into(),
                payload: Payload {
                    args: Some(vec![Value::Int(1), Value::Int(2)]),
                    kwargs: Some(Dict::new().with("k", 1i64)),
                },
            })
        );
    }

    #[test]
    fn encodes_event_compactly() {
        let msg = Message::Event(crate::proto::message::Event {
            subscription: SubscriptionId(5),
            publication: PublicationId(6),
            details: Dict::new(),
            payload: Payload::args(vec!["a".into(), Value::Float(1.5)]),
        });
        assert_eq!(
            &Serializer::Json.encode(&msg)[..],
            br#"[36,5,6,{},["a",1.5]]"#
        );
    }

    #[test]
    fn binary_round_trip_and_padding() {
        let v = Value::Bytes(Bytes::from_static(b"\x00\x01\xfehi"));
        assert_eq!(enc(&v), r#""\u0000AAH+aGk=""#);
        assert_eq!(decode_value(enc(&v).as_bytes()), Ok(v.clone()));
        // Without padding.
        assert_eq!(decode_value(br#""\u0000AAH+aGk""#), Ok(v));
        assert_eq!(decode_value(br#""\u0000""#), Ok(Value::Bytes(Bytes::new())));
        assert_eq!(decode_value(br#""\u0000!!""#), Err(DecodeError::BadBase64));
        assert_eq!(
            decode_list(br#"[1,"\u0000a*b"]"#),
            Err(DecodeError::BadBase64)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(decode_value(b"-5"), Ok(Value::Int(-5)));
        assert_eq!(
            decode_value(b"-9223372036854775808"),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(
            decode_value(b"9223372036854775807"),
            Ok(Value::Int(i64::MAX))
        );
        assert_eq!(
            decode_value(b"9223372036854775808"),
            Ok(Value::UInt(1 << 63))
        );
        assert_eq!(
            decode_value(b"18446744073709551615"),
            Ok(Value::UInt(u64::MAX))
        );
        assert_eq!(
            decode_value(b"18446744073709551616"),
            Ok(Value::Float(18446744073709551616.0))
        );
        assert_eq!(
            decode_value(b"-9223372036854775809"),
            Ok(Value::Float(-9223372036854775809.0))
        );
        assert_eq!(enc(&Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(enc(&Value::Int(i64::MIN)), "-9223372036854775808");
    }

    #[test]
    fn floats() {
        assert_eq!(enc(&Value::Float(1.0)), "1.0");
        assert_eq!(enc(&Value::Float(-0.5)), "-0.5");
        assert_eq!(enc(&Value::Float(1e300)), "1e300");
        assert_eq!(enc(&Value::Float(f64::NAN)), "null");
        assert_eq!(enc(&Value::Float(f64::NEG_INFINITY)), "null");
        assert_eq!(decode_value(b"1.0"), Ok(Value::Float(1.0)));
        assert_eq!(decode_value(b"2e3"), Ok(Value::Float(2000.0)));
        let tricky = 0.1 + 0.2;
        assert_eq!(
            decode_value(enc(&Value::Float(tricky)).as_bytes()),
            Ok(Value::Float(tricky))
        );
    }

    #[test]
    fn string_escaping() {
        let s = "a\"b\\c\n\t\u{1}\u{1f}\u{7f}é😀";
        let json = enc(&Value::Str(s.into()));
        assert_eq!(json, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\u{7f}é😀\"");
        assert_eq!(decode_value(json.as_bytes()), Ok(Value::Str(s.into())));
        // serde_json agrees it is the same string.
        let parsed: String = serde_json::from_str(&json).expect("valid JSON string");
        assert_eq!(parsed, s);
    }

    #[test]
    fn depth_limit() {
        assert!(decode_list(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            decode_list(nested(MAX_DEPTH + 1).as_bytes()),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
        let deep_dicts = format!(
            "[{}1{}]",
            r#"{"a":"#.repeat(MAX_DEPTH),
            "}".repeat(MAX_DEPTH)
        );
        assert_eq!(
            decode_list(deep_dicts.as_bytes()),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
        // Far deeper than serde_json's own limit: still our error, no overflow.
        assert_eq!(
            decode_list(nested(100_000).as_bytes()),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
    }

    #[test]
    fn structural_errors() {
        assert_eq!(decode_list(br#"{"a":1}"#), Err(DecodeError::NotAList));
        assert_eq!(decode_list(b"42"), Err(DecodeError::NotAList));
        assert!(matches!(
            decode_list(b"[1,2] x"),
            Err(DecodeError::Syntax {
                serializer: "json",
                ..
            })
        ));
        assert_eq!(decode_list(b" [1] \n"), Ok(vec![Value::Int(1)]));
        for bad in [
            &b"[1,2"[..],
            b"[1,",
            b"",
            b"[\"abc",
            b"[1,]",
            b"[\xff]",
            b"[\"\xff\"]",
        ] {
            assert!(
                matches!(decode_list(bad), Err(DecodeError::Syntax { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn writer_reuses_buffer() {
        let mut out = BytesMut::with_capacity(64);
        out.extend_from_slice(b"prefix:");
        let mut w = JsonWriter::new(&mut out);
        w.begin_list(2);
        w.uint(1);
        w.sep();
        w.value(&Value::Dict(Dict::new().with("x", Value::Null)));
        w.end_list();
        assert_eq!(&out[..], br#"prefix:[1,{"x":null}]"#);
    }
}

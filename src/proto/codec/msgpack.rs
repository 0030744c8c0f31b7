//! The `wamp.2.msgpack` codec: MessagePack.
//!
//! Decoding walks the input slice directly, classifying each byte with
//! `rmp::Marker` and copying strings and binaries out once. Length prefixes are
//! only trusted as far as the remaining input could hold, so a forged header
//! cannot trigger a huge allocation. Extension types have no WAMP meaning and
//! are rejected, but for one: msgpackr (wampy.js, and other JavaScript
//! clients) writes JavaScript's `undefined` as fixext 1 of type 0 with the
//! octet 0 (`d4 00 00`); it is read as nil, as CBOR's `undefined` is.
//!
//! Encoding uses `rmp`'s writers, which pick the smallest representation for
//! integers and lengths. Floats are always written as float 64 (lossless and
//! what the reference implementations do).

use bytes::buf::Writer as BufWriter;
use bytes::{BufMut, Bytes, BytesMut};
use rmp::Marker;
use rmp::encode as rmpe;

use super::{MAX_DEPTH, Writer, capped_capacity};
use crate::proto::error::DecodeError;
use crate::proto::value::{Dict, Value};

/// Decodes one message's top-level list.
///
/// # Errors
/// [`DecodeError::Syntax`] for truncated or malformed input, invalid UTF-8 in a
/// string, extension types or trailing bytes; [`DecodeError::NotAList`] when the
/// top level is not an array; [`DecodeError::TooDeep`] beyond [`MAX_DEPTH`]
/// levels; [`DecodeError::NonStringKey`] for a map key that is not a string.
pub fn decode_list(data: &[u8]) -> Result<Vec<Value>, DecodeError> {
    match data.first().map(|&b| Marker::from_u8(b)) {
        Some(Marker::FixArray(_) | Marker::Array16 | Marker::Array32) => {}
        Some(_) => return Err(DecodeError::NotAList),
        None => return Err(syntax("empty input")),
    }
    match decode_value(data)? {
        Value::List(l) => Ok(l),
        _ => Err(DecodeError::NotAList),
    }
}

/// Decodes any single MessagePack value; the whole input must be that value.
///
/// # Errors
/// As [`decode_list`], except that any top-level value is accepted.
pub fn decode_value(data: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader { data, pos: 0 };
    let v = r.value(0)?;
    if r.pos != data.len() {
        return Err(syntax("trailing bytes after the message"));
    }
    Ok(v)
}

/// Appends the MessagePack encoding of `v` to `out`.
///
/// # Panics
/// If a string, binary, list or dict has 2^32 or more elements (MessagePack
/// cannot express it; transports cap messages far below that).
pub fn encode_value(v: &Value, out: &mut BytesMut) {
    write_value(&mut out.writer(), v);
}

#[cold]
fn syntax(detail: &'static str) -> DecodeError {
    DecodeError::Syntax {
        serializer: "msgpack",
        detail: detail.into(),
    }
}

#[cold]
fn truncated() -> DecodeError {
    syntax("unexpected end of input")
}

/// A cursor over the input.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(truncated());
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        Ok(s.try_into().expect("take returned N bytes"))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.data.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }

    /// A `u32` length field as `usize`.
    fn len32(&mut self) -> Result<usize, DecodeError> {
        self.u32().map(|n| n as usize)
    }

    fn string(&mut self, len: usize) -> Result<String, DecodeError> {
        let raw = self.take(len)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(syntax("invalid UTF-8 in a string")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let v = match Marker::from_u8(self.u8()?) {
            Marker::FixPos(n) => Value::Int(i64::from(n)),
            Marker::FixNeg(n) => Value::Int(i64::from(n)),
            Marker::Null => Value::Null,
            Marker::False => Value::Bool(false),
            Marker::True => Value::Bool(true),
            Marker::U8 => Value::Int(i64::from(self.u8()?)),
            Marker::U16 => Value::Int(i64::from(self.u16()?)),
            Marker::U32 => Value::Int(i64::from(self.u32()?)),
            Marker::U64 => Value::from_u64(self.u64()?),
            Marker::I8 => Value::Int(i64::from(self.u8()? as i8)),
            Marker::I16 => Value::Int(i64::from(self.u16()? as i16)),
            Marker::I32 => Value::Int(i64::from(self.u32()? as i32)),
            Marker::I64 => Value::Int(self.u64()? as i64),
            Marker::F32 => Value::Float(f64::from(f32::from_bits(self.u32()?))),
            Marker::F64 => Value::Float(f64::from_bits(self.u64()?)),
            Marker::FixStr(n) => Value::Str(self.string(usize::from(n))?),
            Marker::Str8 => {
                let n = self.u8()?;
                Value::Str(self.string(usize::from(n))?)
            }
            Marker::Str16 => {
                let n = self.u16()?;
                Value::Str(self.string(usize::from(n))?)
            }
            Marker::Str32 => {
                let n = self.len32()?;
                Value::Str(self.string(n)?)
            }
            Marker::Bin8 => {
                let n = self.u8()?;
                Value::Bytes(Bytes::copy_from_slice(self.take(usize::from(n))?))
            }
            Marker::Bin16 => {
                let n = self.u16()?;
                Value::Bytes(Bytes::copy_from_slice(self.take(usize::from(n))?))
            }
            Marker::Bin32 => {
                let n = self.len32()?;
                Value::Bytes(Bytes::copy_from_slice(self.take(n)?))
            }
            Marker::FixArray(n) => self.list(usize::from(n), depth)?,
            Marker::Array16 => {
                let n = self.u16()?;
                self.list(usize::from(n), depth)?
            }
            Marker::Array32 => {
                let n = self.len32()?;
                self.list(n, depth)?
            }
            Marker::FixMap(n) => self.dict(usize::from(n), depth)?,
            Marker::Map16 => {
                let n = self.u16()?;
                self.dict(usize::from(n), depth)?
            }
            Marker::Map32 => {
                let n = self.len32()?;
                self.dict(n, depth)?
            }
            // msgpackr's `undefined`: fixext 1, type 0, data 0.
            Marker::FixExt1 if self.take(2)? == [0, 0] => Value::Null,
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => return Err(syntax("unsupported extension type")),
            Marker::Reserved => return Err(syntax("reserved marker 0xc1")),
        };
        Ok(v)
    }

    fn list(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        // Every element takes at least one byte.
        let mut list = Vec::with_capacity(capped_capacity(len as u64, self.remaining(), 1));
        for _ in 0..len {
            list.push(self.value(depth)?);
        }
        Ok(Value::List(list))
    }

    fn dict(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        // Every entry takes at least two bytes (a fixstr key and a fixint value).
        let mut entries = Vec::with_capacity(capped_capacity(len as u64, self.remaining(), 2));
        for _ in 0..len {
            let key_len = match Marker::from_u8(self.u8()?) {
                Marker::FixStr(n) => usize::from(n),
                Marker::Str8 => usize::from(self.u8()?),
                Marker::Str16 => usize::from(self.u16()?),
                Marker::Str32 => self.len32()?,
                _ => return Err(DecodeError::NonStringKey),
            };
            let key = self.string(key_len)?;
            let value = self.value(depth)?;
            entries.push((key.into(), value));
        }
        Ok(Value::Dict(Dict(entries)))
    }
}

/// Writes WAMP values as MessagePack, appending to a `BytesMut`.
///
/// # Panics
/// Its methods panic if a string, binary, list or dict has 2^32 or more
/// elements, which MessagePack cannot express.
pub struct MsgPackWriter<'a> {
    out: BufWriter<&'a mut BytesMut>,
}

impl<'a> MsgPackWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut BytesMut) -> Self {
        MsgPackWriter { out: out.writer() }
    }
}

impl Writer for MsgPackWriter<'_> {
    fn begin_list(&mut self, len: usize) {
        write_array_len(&mut self.out, len);
    }
    fn sep(&mut self) {}
    fn end_list(&mut self) {}
    fn uint(&mut self, v: u64) {
        rmpe::write_uint(&mut self.out, v).expect(WRITE_OK);
    }
    fn str(&mut self, s: &str) {
        write_str(&mut self.out, s);
    }
    fn dict(&mut self, d: &Dict) {
        write_dict(&mut self.out, d);
    }
    fn list(&mut self, l: &[Value]) {
        write_list(&mut self.out, l);
    }
    fn value(&mut self, v: &Value) {
        write_value(&mut self.out, v);
    }
}

/// The output is a growable in-memory buffer, so writes cannot fail.
const WRITE_OK: &str = "appending to a BytesMut cannot fail";

type Out<'a> = BufWriter<&'a mut BytesMut>;

/// A length as MessagePack's `u32`.
fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("MessagePack lengths are below 2^32")
}

fn write_array_len(out: &mut Out<'_>, len: usize) {
    rmpe::write_array_len(out, len32(len)).expect(WRITE_OK);
}

fn write_str(out: &mut Out<'_>, s: &str) {
    rmpe::write_str_len(out, len32(s.len())).expect(WRITE_OK);
    out.get_mut().extend_from_slice(s.as_bytes());
}

fn write_list(out: &mut Out<'_>, l: &[Value]) {
    write_array_len(out, l.len());
    for v in l {
        write_value(out, v);
    }
}

fn write_dict(out: &mut Out<'_>, d: &Dict) {
    rmpe::write_map_len(out, len32(d.len())).expect(WRITE_OK);
    for (k, v) in &d.0 {
        write_str(out, k);
        write_value(out, v);
    }
}

fn write_value(out: &mut Out<'_>, v: &Value) {
    match v {
        Value::Null => rmpe::write_nil(out).expect(WRITE_OK),
        Value::Bool(b) => rmpe::write_bool(out, *b).expect(WRITE_OK),
        Value::Int(i) => {
            rmpe::write_sint(out, *i).expect(WRITE_OK);
        }
        Value::UInt(u) => {
            rmpe::write_uint(out, *u).expect(WRITE_OK);
        }
        Value::Float(f) => rmpe::write_f64(out, *f).expect(WRITE_OK),
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => {
            rmpe::write_bin_len(out, len32(b.len())).expect(WRITE_OK);
            out.get_mut().extend_from_slice(b);
        }
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::RequestId;
    use crate::proto::Serializer;
    use crate::proto::message::{Message, Payload, Publish};

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_value(v, &mut out);
        out.to_vec()
    }

    fn syntax_err(r: Result<Value, DecodeError>) -> String {
        match r {
            Err(DecodeError::Syntax {
                serializer: "msgpack",
                detail,
            }) => detail,
            other => panic!("expected a msgpack syntax error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_publish() {
        // [16, 123, {}, "com.topic", [1, 2], {"k": 1}]
        let data = b"\x96\x10\x7b\x80\xa9com.topic\x92\x01\x02\x81\xa1k\x01";
        let msg = Serializer::MsgPack.decode(data).expect("valid PUBLISH");
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
        assert_eq!(&Serializer::MsgPack.encode(&msg)[..], &data[..]);
    }

    #[test]
    fn integers_all_widths() {
        let cases: &[(&[u8], Value)] = &[
            (b"\x7f", Value::Int(127)),
            (b"\xe0", Value::Int(-32)),
            (b"\xff", Value::Int(-1)),
            (b"\xcc\xff", Value::Int(255)),
            (b"\xcd\xff\xff", Value::Int(65535)),
            (b"\xce\xff\xff\xff\xff", Value::Int(4294967295)),
            (
                b"\xcf\x7f\xff\xff\xff\xff\xff\xff\xff",
                Value::Int(i64::MAX),
            ),
            (
                b"\xcf\x80\x00\x00\x00\x00\x00\x00\x00",
                Value::UInt(1 << 63),
            ),
            (
                b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
                Value::UInt(u64::MAX),
            ),
            (b"\xd0\x80", Value::Int(-128)),
            (b"\xd1\x80\x00", Value::Int(-32768)),
            (b"\xd2\x80\x00\x00\x00", Value::Int(-2147483648)),
            (
                b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
                Value::Int(i64::MIN),
            ),
            // Non-minimal forms are accepted too.
            (b"\xd0\x05", Value::Int(5)),
            (b"\xcf\x00\x00\x00\x00\x00\x00\x00\x07", Value::Int(7)),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_value(bytes).as_ref(), Ok(want), "{bytes:x?}");
        }
        // Encoding is minimal.
        assert_eq!(enc(&Value::Int(127)), b"\x7f");
        assert_eq!(enc(&Value::Int(128)), b"\xcc\x80");
        assert_eq!(enc(&Value::Int(-33)), b"\xd0\xdf");
        assert_eq!(enc(&Value::Int(70000)), b"\xce\x00\x01\x11\x70");
        assert_eq!(
            enc(&Value::UInt(u64::MAX)),
            b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"
        );
        assert_eq!(
            enc(&Value::Int(i64::MIN)),
            b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"
        );
    }

    #[test]
    fn floats() {
        assert_eq!(decode_value(b"\xca\x3f\xc0\x00\x00"), Ok(Value::Float(1.5)));
        assert_eq!(
            decode_value(b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
            Ok(Value::Float(1.5))
        );
        assert_eq!(
            enc(&Value::Float(1.5)),
            b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"
        );
    }

    #[test]
    fn strings_and_binary() {
        let long = "x".repeat(300);
        for (s, head) in [
            ("", &b"\xa0"[..]),
            ("é", b"\xa2"),
            (&"y".repeat(32), b"\xd9\x20"),
            (&long, b"\xda\x01\x2c"),
        ] {
            let bytes = enc(&Value::Str(s.to_owned()));
            assert_eq!(&bytes[..head.len()], head);
            assert_eq!(decode_value(&bytes), Ok(Value::Str(s.to_owned())));
        }
        assert_eq!(
            decode_value(b"\xdb\x00\x00\x00\x02hi"),
            Ok(Value::Str("hi".into()))
        );
        let bin = Value::Bytes(Bytes::from_static(b"\x00\xff"));
        assert_eq!(enc(&bin), b"\xc4\x02\x00\xff");
        assert_eq!(decode_value(b"\xc4\x02\x00\xff"), Ok(bin.clone()));
        assert_eq!(decode_value(b"\xc5\x00\x02\x00\xff"), Ok(bin.clone()));
        assert_eq!(decode_value(b"\xc6\x00\x00\x00\x02\x00\xff"), Ok(bin));
        assert_eq!(
            syntax_err(decode_value(b"\xa2\xc3\x28")),
            "invalid UTF-8 in a string"
        );
    }

    #[test]
    fn javascript_undefined_from_msgpackr_reads_as_nil() {
        assert_eq!(decode_value(b"\xd4\x00\x00"), Ok(Value::Null));
        // The same length with another type or datum is still refused.
        for data in [&b"\xd4\x00\x01"[..], b"\xd4\x05\x00"] {
            assert_eq!(syntax_err(decode_value(data)), "unsupported extension type");
        }
    }

    #[test]
    fn rejects_extensions_and_reserved() {
        for data in [&b"\xd4\x01\x00"[..], b"\xc7\x01\x05\x00", b"\xd8\x01"] {
            assert_eq!(syntax_err(decode_value(data)), "unsupported extension type");
        }
        assert_eq!(syntax_err(decode_value(b"\xc1")), "reserved marker 0xc1");
    }

    #[test]
    fn structural_errors() {
        assert_eq!(decode_list(b"\x81\xa1a\x01"), Err(DecodeError::NotAList));
        assert_eq!(decode_list(b"\x01"), Err(DecodeError::NotAList));
        assert_eq!(
            decode_list(b"\x91\x81\x01\x02"),
            Err(DecodeError::NonStringKey)
        );
        assert_eq!(
            decode_list(b"\x91\x81\xc4\x01a\x02"),
            Err(DecodeError::NonStringKey)
        );
        assert_eq!(
            syntax_err(decode_value(b"\x91\x01\x02")),
            "trailing bytes after the message"
        );
        for truncated in [
            &b"\x92\x01"[..],
            b"\x91\xa5abc",
            b"\x91\xcd\x01",
            b"\xdc\x00",
            b"",
        ] {
            assert!(
                matches!(decode_list(truncated), Err(DecodeError::Syntax { .. })),
                "{truncated:x?}"
            );
        }
    }

    #[test]
    fn forged_lengths_do_not_allocate() {
        // Claims 2^32-1 elements / entries / bytes with nothing behind them.
        for data in [
            &b"\xdd\xff\xff\xff\xff"[..],
            b"\xdf\xff\xff\xff\xff",
            b"\xc6\xff\xff\xff\xff",
            b"\xdb\xff\xff\xff\xff",
        ] {
            assert_eq!(syntax_err(decode_value(data)), "unexpected end of input");
        }
    }

    #[test]
    fn depth_limit() {
        let mut ok = vec![0x91u8; MAX_DEPTH - 1];
        ok.push(0x90);
        assert!(decode_list(&ok).is_ok());
        let mut deep = vec![0x91u8; MAX_DEPTH];
        deep.push(0x90);
        assert_eq!(decode_list(&deep), Err(DecodeError::TooDeep(MAX_DEPTH)));
        let mut maps = vec![0x91u8];
        for _ in 0..MAX_DEPTH {
            maps.extend_from_slice(b"\x81\xa1k");
        }
        maps.push(0x01);
        assert_eq!(decode_list(&maps), Err(DecodeError::TooDeep(MAX_DEPTH)));
        let huge = vec![0x91u8; 1_000_000];
        assert_eq!(decode_list(&huge), Err(DecodeError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn writer_appends() {
        let mut out = BytesMut::from(&b"\x00"[..]);
        let mut w = MsgPackWriter::new(&mut out);
        w.begin_list(3);
        w.uint(1);
        w.sep();
        w.str("r");
        w.sep();
        w.dict(&Dict::new().with("a", Value::Null));
        w.end_list();
        assert_eq!(&out[..], b"\x00\x93\x01\xa1r\x81\xa1a\xc0");
    }
}

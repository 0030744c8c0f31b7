//! The `wamp.2.cbor` codec: CBOR (RFC 8949), written by hand over the input slice.
//!
//! Decoding accepts everything a WAMP peer may reasonably send:
//! - unsigned and negative integers of any head width (non-minimal heads too);
//!   a negative integer below `i64::MIN` decodes as [`Value::Float`], like an
//!   out-of-range JSON number;
//! - byte and text strings, definite and indefinite (chunked) length;
//! - arrays and maps, definite and indefinite length; map keys must be text;
//! - tags are skipped and their content used, except bignums (tags 2 and 3),
//!   which must enclose a byte string and become integers when they fit 64 bits
//!   (larger ones are a syntax error);
//! - `false`, `true`, `null`, and `undefined` (as [`Value::Null`]); other simple
//!   values are a syntax error;
//! - half, single and double floats, all widened to `f64`.
//!
//! Length prefixes are only trusted as far as the remaining input could hold.
//! Encoding writes the shortest heads and definite lengths only; floats are
//! always double precision.

use bytes::{BufMut, Bytes, BytesMut};

use super::{MAX_DEPTH, Writer, capped_capacity};
use crate::proto::error::DecodeError;
use crate::proto::value::{Dict, Value};

const UINT: u8 = 0;
const NINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
const SIMPLE: u8 = 7;

/// The "break" stop code ending indefinite-length items.
const BREAK: u8 = 0xff;

/// Decodes one message's top-level list.
///
/// # Errors
/// [`DecodeError::Syntax`] for truncated or malformed input, invalid UTF-8,
/// unsupported simple values or trailing bytes; [`DecodeError::NotAList`] when
/// the top level is not an array; [`DecodeError::TooDeep`] beyond
/// [`MAX_DEPTH`] levels; [`DecodeError::NonStringKey`] for a non-text map key.
pub fn decode_list(data: &[u8]) -> Result<Vec<Value>, DecodeError> {
    match decode_value(data)? {
        Value::List(l) => Ok(l),
        _ => Err(DecodeError::NotAList),
    }
}

/// Decodes any single CBOR data item; the whole input must be that item.
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

/// Appends the CBOR encoding of `v` to `out`.
pub fn encode_value(v: &Value, out: &mut BytesMut) {
    write_value(out, v);
}

#[cold]
fn syntax(detail: &'static str) -> DecodeError {
    DecodeError::Syntax {
        serializer: "cbor",
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

/// A decoded initial byte: major type and argument (`None` for indefinite length).
struct Head {
    major: u8,
    info: u8,
    arg: Option<u64>,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.data.get(self.pos).copied().ok_or_else(truncated)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => n,
            _ => return Err(truncated()),
        };
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N as u64)?;
        Ok(s.try_into().expect("take returned N bytes"))
    }

    fn head(&mut self) -> Result<Head, DecodeError> {
        let ib = self.peek()?;
        self.pos += 1;
        let (major, info) = (ib >> 5, ib & 0x1f);
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(self.be::<1>()?[0])),
            25 => Some(u64::from(u16::from_be_bytes(self.be()?))),
            26 => Some(u64::from(u32::from_be_bytes(self.be()?))),
            27 => Some(u64::from_be_bytes(self.be()?)),
            28..=30 => return Err(syntax("reserved additional information value")),
            _ => None,
        };
        Ok(Head { major, info, arg })
    }

    /// A definite-length argument, where indefinite length is not allowed.
    fn definite(arg: Option<u64>) -> Result<u64, DecodeError> {
        arg.ok_or_else(|| syntax("indefinite length not allowed here"))
    }

    /// The payload of a byte or text string (`major`), joining indefinite chunks.
    fn string_bytes(&mut self, major: u8, arg: Option<u64>) -> Result<Vec<u8>, DecodeError> {
        if let Some(n) = arg {
            return Ok(self.take(n)?.to_vec());
        }
        let mut buf = Vec::new();
        loop {
            if self.peek()? == BREAK {
                self.pos += 1;
                return Ok(buf);
            }
            let chunk = self.head()?;
            if chunk.major != major {
                return Err(syntax("indefinite string chunk of another type"));
            }
            let n = chunk
                .arg
                .ok_or_else(|| syntax("nested indefinite string chunk"))?;
            let data = self.take(n)?;
            if major == TEXT && std::str::from_utf8(data).is_err() {
                return Err(syntax("invalid UTF-8 in a text string"));
            }
            buf.extend_from_slice(data);
        }
    }

    fn text(&mut self, arg: Option<u64>) -> Result<String, DecodeError> {
        let raw = match arg {
            Some(n) => {
                let data = self.take(n)?;
                return match std::str::from_utf8(data) {
                    Ok(s) => Ok(s.to_owned()),
                    Err(_) => Err(syntax("invalid UTF-8 in a text string")),
                };
            }
            None => self.string_bytes(TEXT, None)?,
        };
        // Each chunk was checked; chunks end on character boundaries, so the whole is valid.
        String::from_utf8(raw).map_err(|_| syntax("invalid UTF-8 in a text string"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        // Tags are consumed in this loop, not by recursion: a long tag chain
        // cannot grow the stack.
        let mut h = self.head()?;
        while h.major == TAG {
            let tag = Self::definite(h.arg)?;
            if tag == 2 || tag == 3 {
                return self.bignum(tag == 3);
            }
            h = self.head()?;
        }
        let v = match h.major {
            UINT => Value::from_u64(Self::definite(h.arg)?),
            NINT => negative(Self::definite(h.arg)?),
            BYTES => Value::Bytes(Bytes::from(self.string_bytes(BYTES, h.arg)?)),
            TEXT => Value::Str(self.text(h.arg)?),
            ARRAY => self.list(h.arg, depth)?,
            MAP => self.dict(h.arg, depth)?,
            _ => self.simple(&h)?,
        };
        Ok(v)
    }

    fn bignum(&mut self, negative_tag: bool) -> Result<Value, DecodeError> {
        if self.peek()? >> 5 != BYTES {
            return Err(syntax("bignum tag must enclose a byte string"));
        }
        let h = self.head()?;
        let raw = self.string_bytes(BYTES, h.arg)?;
        let digits = match raw.iter().position(|&b| b != 0) {
            Some(first) => &raw[first..],
            None => &[][..],
        };
        if digits.len() > 8 {
            return Err(syntax("bignum out of 64-bit range"));
        }
        let n = digits.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        Ok(if negative_tag {
            negative(n)
        } else {
            Value::from_u64(n)
        })
    }

    fn simple(&mut self, h: &Head) -> Result<Value, DecodeError> {
        debug_assert_eq!(h.major, SIMPLE);
        let v = match h.info {
            20 => Value::Bool(false),
            21 => Value::Bool(true),
            22 | 23 => Value::Null,
            25 => Value::Float(f16_to_f64(h.arg.expect("info 25 has an argument") as u16)),
            26 => Value::Float(f64::from(f32::from_bits(
                h.arg.expect("info 26 has an argument") as u32,
            ))),
            27 => Value::Float(f64::from_bits(h.arg.expect("info 27 has an argument"))),
            31 => return Err(syntax("unexpected break")),
            _ => return Err(syntax("unsupported simple value")),
        };
        Ok(v)
    }

    fn list(&mut self, arg: Option<u64>, depth: usize) -> Result<Value, DecodeError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        let list = match arg {
            Some(n) => {
                // Every element takes at least one byte.
                let mut list = Vec::with_capacity(capped_capacity(n, self.remaining(), 1));
                for _ in 0..n {
                    list.push(self.value(depth)?);
                }
                list
            }
            None => {
                let mut list = Vec::new();
                while self.peek()? != BREAK {
                    list.push(self.value(depth)?);
                }
                self.pos += 1;
                list
            }
        };
        Ok(Value::List(list))
    }

    fn dict(&mut self, arg: Option<u64>, depth: usize) -> Result<Value, DecodeError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        let mut entries = match arg {
            // Every entry takes at least two bytes.
            Some(n) => Vec::with_capacity(capped_capacity(n, self.remaining(), 2)),
            None => Vec::new(),
        };
        let mut left = arg;
        loop {
            match left {
                Some(0) => break,
                Some(ref mut n) => *n -= 1,
                None => {
                    if self.peek()? == BREAK {
                        self.pos += 1;
                        break;
                    }
                }
            }
            let key = self.key()?;
            let value = self.value(depth)?;
            entries.push((key.into(), value));
        }
        Ok(Value::Dict(Dict(entries)))
    }

    /// A map key: a text string, possibly tagged or chunked.
    fn key(&mut self) -> Result<String, DecodeError> {
        let mut h = self.head()?;
        while h.major == TAG {
            Self::definite(h.arg)?;
            h = self.head()?;
        }
        if h.major != TEXT {
            return Err(DecodeError::NonStringKey);
        }
        self.text(h.arg)
    }
}

/// CBOR negative integer `-1 - n`: an `Int` when it fits, else the nearest float.
fn negative(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(n) => Value::Int(-1 - n),
        Err(_) => Value::Float(-1.0 - n as f64),
    }
}

/// IEEE 754 half precision to double (exact: every half is a double).
fn f16_to_f64(h: u16) -> f64 {
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    let mag = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1024.0 + mant) * 2f64.powi(e - 25),
    };
    if h & 0x8000 != 0 { -mag } else { mag }
}

/// Writes WAMP values as CBOR, appending to a `BytesMut`.
pub struct CborWriter<'a> {
    out: &'a mut BytesMut,
}

impl<'a> CborWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut BytesMut) -> Self {
        CborWriter { out }
    }
}

impl Writer for CborWriter<'_> {
    fn begin_list(&mut self, len: usize) {
        write_head(self.out, ARRAY, len as u64);
    }
    fn sep(&mut self) {}
    fn end_list(&mut self) {}
    fn uint(&mut self, v: u64) {
        write_head(self.out, UINT, v);
    }
    fn str(&mut self, s: &str) {
        write_text(self.out, s);
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

/// The shortest head for `major` with argument `n`.
fn write_head(out: &mut BytesMut, major: u8, n: u64) {
    let mt = major << 5;
    if n < 24 {
        out.put_u8(mt | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.put_slice(&[mt | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.put_u8(mt | 25);
        out.put_u16(n as u16);
    } else if n <= u64::from(u32::MAX) {
        out.put_u8(mt | 26);
        out.put_u32(n as u32);
    } else {
        out.put_u8(mt | 27);
        out.put_u64(n);
    }
}

fn write_text(out: &mut BytesMut, s: &str) {
    write_head(out, TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_list(out: &mut BytesMut, l: &[Value]) {
    write_head(out, ARRAY, l.len() as u64);
    for v in l {
        write_value(out, v);
    }
}

fn write_dict(out: &mut BytesMut, d: &Dict) {
    write_head(out, MAP, d.len() as u64);
    for (k, v) in &d.0 {
        write_text(out, k);
        write_value(out, v);
    }
}

fn write_value(out: &mut BytesMut, v: &Value) {
    match v {
        Value::Null => out.put_u8(0xf6),
        Value::Bool(false) => out.put_u8(0xf4),
        Value::Bool(true) => out.put_u8(0xf5),
        Value::Int(i) if *i >= 0 => write_head(out, UINT, *i as u64),
        // -1 - n == !n in two's complement.
        Value::Int(i) => write_head(out, NINT, !*i as u64),
        Value::UInt(u) => write_head(out, UINT, *u),
        Value::Float(f) => {
            out.put_u8(0xfb);
            out.put_f64(*f);
        }
        Value::Str(s) => write_text(out, s),
        Value::Bytes(b) => {
            write_head(out, BYTES, b.len() as u64);
            out.extend_from_slice(b);
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
                serializer: "cbor",
                detail,
            }) => detail,
            other => panic!("expected a cbor syntax error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_publish() {
        // [16, 123, {}, "com.topic", [1, 2], {"k": 1}]
        let data = b"\x86\x10\x18\x7b\xa0\x69com.topic\x82\x01\x02\xa1\x61k\x01";
        let msg = Serializer::Cbor.decode(data).expect("valid PUBLISH");
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
        assert_eq!(&Serializer::Cbor.encode(&msg)[..], &data[..]);
    }

    #[test]
    fn integers() {
        let cases: &[(&[u8], Value)] = &[
            (b"\x17", Value::Int(23)),
            (b"\x18\x18", Value::Int(24)),
            (b"\x19\x01\x00", Value::Int(256)),
            (b"\x1a\x00\x01\x00\x00", Value::Int(65536)),
            (
                b"\x1b\x7f\xff\xff\xff\xff\xff\xff\xff",
                Value::Int(i64::MAX),
            ),
            (
                b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff",
                Value::UInt(u64::MAX),
            ),
            (b"\x20", Value::Int(-1)),
            (b"\x38\x63", Value::Int(-100)),
            (
                b"\x3b\x7f\xff\xff\xff\xff\xff\xff\xff",
                Value::Int(i64::MIN),
            ),
            (
                b"\x3b\xff\xff\xff\xff\xff\xff\xff\xff",
                Value::Float(-18446744073709551616.0),
            ),
            // Non-minimal head.
            (b"\x1b\x00\x00\x00\x00\x00\x00\x00\x05", Value::Int(5)),
            // Bignums (tags 2 and 3).
            (
                b"\xc2\x49\x00\x00\x00\x00\x00\x00\x00\x00\x07",
                Value::Int(7),
            ),
            (
                b"\xc2\x48\x80\x00\x00\x00\x00\x00\x00\x00",
                Value::UInt(1 << 63),
            ),
            (b"\xc3\x41\x09", Value::Int(-10)),
            (b"\xc2\x40", Value::Int(0)),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_value(bytes).as_ref(), Ok(want), "{bytes:x?}");
        }
        assert_eq!(enc(&Value::Int(23)), b"\x17");
        assert_eq!(enc(&Value::Int(24)), b"\x18\x18");
        assert_eq!(enc(&Value::Int(-1)), b"\x20");
        assert_eq!(enc(&Value::Int(-1000)), b"\x39\x03\xe7");
        assert_eq!(
            enc(&Value::Int(i64::MIN)),
            b"\x3b\x7f\xff\xff\xff\xff\xff\xff\xff"
        );
        assert_eq!(
            enc(&Value::UInt(u64::MAX)),
            b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff"
        );
        assert_eq!(
            syntax_err(decode_value(
                b"\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00"
            )),
            "bignum out of 64-bit range"
        );
        assert_eq!(
            syntax_err(decode_value(b"\xc2\x01")),
            "bignum tag must enclose a byte string"
        );
    }

    #[test]
    fn floats() {
        let cases: &[(&[u8], f64)] = &[
            (b"\xf9\x3c\x00", 1.0),
            (b"\xf9\x3e\x00", 1.5),
            (b"\xf9\xc4\x00", -4.0),
            (b"\xf9\x7b\xff", 65504.0),
            (b"\xf9\x00\x01", 5.960464477539063e-8),
            (b"\xf9\x7c\x00", f64::INFINITY),
            (b"\xfa\x47\xc3\x50\x00", 100000.0),
            (b"\xfb\x3f\xf1\x99\x99\x99\x99\x99\x9a", 1.1),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_value(bytes), Ok(Value::Float(*want)), "{bytes:x?}");
        }
        assert!(matches!(decode_value(b"\xf9\x7e\x00"), Ok(Value::Float(f)) if f.is_nan()));
        assert_eq!(
            enc(&Value::Float(1.1)),
            b"\xfb\x3f\xf1\x99\x99\x99\x99\x99\x9a"
        );
    }

    #[test]
    fn simple_values() {
        assert_eq!(decode_value(b"\xf4"), Ok(Value::Bool(false)));
        assert_eq!(decode_value(b"\xf5"), Ok(Value::Bool(true)));
        assert_eq!(decode_value(b"\xf6"), Ok(Value::Null));
        assert_eq!(decode_value(b"\xf7"), Ok(Value::Null));
        for bad in [&b"\xf0"[..], b"\xf8\x20", b"\xf8\x10"] {
            assert_eq!(syntax_err(decode_value(bad)), "unsupported simple value");
        }
        assert_eq!(syntax_err(decode_value(b"\xff")), "unexpected break");
        assert_eq!(
            syntax_err(decode_value(b"\x1c")),
            "reserved additional information value"
        );
    }

    #[test]
    fn strings_and_binary() {
        assert_eq!(decode_value(b"\x62\xc3\xa9"), Ok(Value::Str("é".into())));
        assert_eq!(
            decode_value(b"\x7f\x62ab\x61c\x60\xff"),
            Ok(Value::Str("abc".into()))
        );
        assert_eq!(
            decode_value(b"\x43\x01\x02\x03"),
            Ok(Value::Bytes(Bytes::from_static(b"\x01\x02\x03")))
        );
        assert_eq!(
            decode_value(b"\x5f\x42\x01\x02\x41\x03\xff"),
            Ok(Value::Bytes(Bytes::from_static(b"\x01\x02\x03")))
        );
        assert_eq!(
            enc(&Value::Bytes(Bytes::from_static(b"\x01\x02"))),
            b"\x42\x01\x02"
        );
        let long = "z".repeat(300);
        assert_eq!(&enc(&Value::Str(long.clone()))[..3], b"\x79\x01\x2c");
        assert_eq!(
            decode_value(&enc(&Value::Str(long.clone()))),
            Ok(Value::Str(long))
        );
        assert_eq!(
            syntax_err(decode_value(b"\x62\xc3\x28")),
            "invalid UTF-8 in a text string"
        );
        // A chunk may not split a character.
        assert_eq!(
            syntax_err(decode_value(b"\x7f\x61\xc3\x61\xa9\xff")),
            "invalid UTF-8 in a text string"
        );
        assert_eq!(
            syntax_err(decode_value(b"\x7f\x41a\xff")),
            "indefinite string chunk of another type"
        );
        assert_eq!(
            syntax_err(decode_value(b"\x7f\x7f\xff\xff")),
            "nested indefinite string chunk"
        );
    }

    #[test]
    fn containers_and_tags() {
        // Indefinite array and map, tagged values, tagged key.
        let data = b"\x9f\x01\xbf\x61a\xc1\x02\xd8\x20\x61b\x03\xff\xd9\xd9\xf7\x04\xff";
        assert_eq!(
            decode_list(data),
            Ok(vec![
                Value::Int(1),
                Value::Dict(Dict::new().with("a", 2i64).with("b", 3i64)),
                Value::Int(4),
            ])
        );
        assert_eq!(
            decode_list(b"\x81\xbf\x61a\xff\xff"),
            Err(syntax("unexpected break"))
        );
        assert_eq!(
            decode_list(b"\x81\xa1\x01\x02"),
            Err(DecodeError::NonStringKey)
        );
        assert_eq!(
            decode_list(b"\x81\xa1\x41a\x02"),
            Err(DecodeError::NonStringKey)
        );
        assert_eq!(decode_list(b"\xa0"), Err(DecodeError::NotAList));
        assert_eq!(decode_list(b"\x01"), Err(DecodeError::NotAList));
        // A long tag chain does not recurse.
        let mut chain = vec![0xc6u8; 100_000];
        chain.push(0x80);
        assert_eq!(decode_list(&chain), Ok(vec![]));
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            syntax_err(decode_value(b"\x81\x01\x02")),
            "trailing bytes after the message"
        );
        for truncated in [
            &b"\x82\x01"[..],
            b"\x81\x65abc",
            b"\x81\x19\x01",
            b"\x9f\x01",
            b"\x5f\x41",
            b"\xc1",
            b"",
        ] {
            assert_eq!(
                syntax_err(decode_value(truncated)),
                "unexpected end of input",
                "{truncated:x?}"
            );
        }
        assert_eq!(
            syntax_err(decode_value(b"\x1f")),
            "indefinite length not allowed here"
        );
    }

    #[test]
    fn forged_lengths_do_not_allocate() {
        for data in [
            &b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff"[..],
            b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x7b\x00\x00\x00\x01\x00\x00\x00\x00",
        ] {
            assert_eq!(syntax_err(decode_value(data)), "unexpected end of input");
        }
    }

    #[test]
    fn depth_limit() {
        let mut ok = vec![0x81u8; MAX_DEPTH - 1];
        ok.push(0x80);
        assert!(decode_list(&ok).is_ok());
        let mut deep = vec![0x81u8; MAX_DEPTH];
        deep.push(0x80);
        assert_eq!(decode_list(&deep), Err(DecodeError::TooDeep(MAX_DEPTH)));
        let indefinite = vec![0x9fu8; 1_000_000];
        assert_eq!(
            decode_list(&indefinite),
            Err(DecodeError::TooDeep(MAX_DEPTH))
        );
        let mut maps = vec![0x81u8];
        for _ in 0..MAX_DEPTH {
            maps.extend_from_slice(b"\xa1\x61k");
        }
        maps.push(0x01);
        assert_eq!(decode_list(&maps), Err(DecodeError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn agrees_with_minicbor() {
        let v = Value::List(vec![
            Value::Int(-70000),
            Value::UInt(u64::MAX),
            Value::Str("hé".into()),
            Value::Bytes(Bytes::from_static(b"\x00\x01")),
            Value::Float(0.25),
            Value::Null,
            Value::Dict(Dict::new().with("x", true)),
        ]);
        let bytes = enc(&v);
        let mut d = minicbor::Decoder::new(&bytes);
        assert_eq!(d.array().ok(), Some(Some(7)));
        assert_eq!(d.i64().ok(), Some(-70000));
        assert_eq!(d.u64().ok(), Some(u64::MAX));
        assert_eq!(d.str().ok(), Some("hé"));
        assert_eq!(d.bytes().ok(), Some(&b"\x00\x01"[..]));
        assert_eq!(d.f64().ok(), Some(0.25));
        assert!(d.null().is_ok());
        assert_eq!(d.map().ok(), Some(Some(1)));
        assert_eq!(d.str().ok(), Some("x"));
        assert_eq!(d.bool().ok(), Some(true));
        assert_eq!(d.position(), bytes.len());
    }
}

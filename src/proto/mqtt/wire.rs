//! The wire primitives every packet is read and written with: Variable Byte
//! Integers, the bounds-checked [`Reader`] over one packet's bytes, and the
//! [`Sink`]s that writing goes to (a buffer, a caller's slice, or a
//! [`Counter`] that measures first).
//!
//! Packet layouts are not here: `decode.rs`, `encode.rs`, `properties.rs` and
//! `template.rs` build on these. This file imports only the value types, the
//! reason codes and the errors.

use bytes::{Buf, Bytes, BytesMut};

use super::error::{EncodeError, MqttError};
use super::reason::ReasonCode;
use super::types::{MqttString, PacketId, PacketType};

/// The largest value of a Variable Byte Integer.
pub const MAX_VARINT: u32 = 268_435_455;

// ---- reading ----

/// Result of parsing a Variable Byte Integer from a slice.
pub(crate) enum VarInt {
    /// Value, bytes used, shortest form.
    Value(u32, usize, bool),
    /// More bytes needed.
    Short,
    /// A fifth byte would be needed.
    TooLong,
}

pub(crate) fn parse_varint(b: &[u8]) -> VarInt {
    let mut value = 0u32;
    for i in 0..4 {
        let Some(&byte) = b.get(i) else {
            return VarInt::Short;
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // Non-minimal exactly when a continued encoding ends in a zero byte.
            return VarInt::Value(value, i + 1, i == 0 || byte != 0);
        }
    }
    VarInt::TooLong
}

/// A bounds-checked cursor over one packet's bytes (after the fixed header).
pub(crate) struct Reader {
    buf: Bytes,
    /// The packet being read, named in every error.
    pub(crate) packet: PacketType,
}

impl Reader {
    pub(crate) fn new(buf: Bytes, packet: PacketType) -> Reader {
        Reader { buf, packet }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), MqttError> {
        if self.buf.len() < n {
            return Err(MqttError::Truncated {
                packet: self.packet,
                field,
            });
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, MqttError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, MqttError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, MqttError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    /// A Variable Byte Integer, which must be in its shortest form (only 5.0
    /// packets have them after the fixed header, and 5.0 requires it).
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, MqttError> {
        match parse_varint(&self.buf) {
            VarInt::Value(v, n, true) => {
                self.buf.advance(n);
                Ok(v)
            }
            VarInt::Value(..) | VarInt::TooLong => Err(MqttError::MalformedVarInt { field }),
            VarInt::Short => Err(MqttError::Truncated {
                packet: self.packet,
                field,
            }),
        }
    }

    /// The next `n` bytes, as a slice of the packet.
    fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, MqttError> {
        self.need(n, field)?;
        Ok(self.buf.split_to(n))
    }

    /// A reader over the next `n` bytes (a property block).
    pub(crate) fn sub(&mut self, n: usize, field: &'static str) -> Result<Reader, MqttError> {
        Ok(Reader::new(self.take(n, field)?, self.packet))
    }

    /// Binary Data: a two-byte length, then the bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, MqttError> {
        let n = self.u16(field)?;
        self.take(usize::from(n), field)
    }

    /// A UTF-8 Encoded String, checked (MQTT-1.5.4).
    pub(crate) fn string(&mut self, field: &'static str) -> Result<MqttString, MqttError> {
        let b = self.binary(field)?;
        MqttString::from_bytes(b).map_err(|e| MqttError::bad_string(self.packet, field, e))
    }

    pub(crate) fn packet_id(&mut self) -> Result<PacketId, MqttError> {
        PacketId::new(self.u16("packet identifier")?).ok_or(MqttError::PacketIdZero {
            packet: self.packet,
        })
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Checks that nothing is left.
    pub(crate) fn finish(self) -> Result<(), MqttError> {
        if !self.buf.is_empty() {
            return Err(MqttError::TrailingBytes {
                packet: self.packet,
                extra: self.buf.len(),
            });
        }
        Ok(())
    }

    pub(crate) fn malformed(&self, what: &'static str) -> MqttError {
        MqttError::Malformed {
            packet: self.packet,
            what,
        }
    }

    pub(crate) fn protocol(&self, what: &'static str) -> MqttError {
        MqttError::Protocol {
            packet: self.packet,
            what,
        }
    }

    /// A reason code that `self.packet` may carry.
    pub(crate) fn reason(&mut self, from_client: Option<bool>) -> Result<ReasonCode, MqttError> {
        let v = self.u8("reason code")?;
        ReasonCode::from_u8(v)
            .filter(|c| c.allowed_in(self.packet, from_client))
            .ok_or(MqttError::BadReasonCode {
                packet: self.packet,
                code: v,
            })
    }
}

// ---- writing ----

/// Where encoded bytes go: a buffer, a fixed slice, or a counter.
pub(crate) trait Sink {
    /// Appends bytes.
    fn wslice(&mut self, b: &[u8]);
    /// Appends one byte.
    fn w8(&mut self, v: u8) {
        self.wslice(&[v]);
    }
    /// Appends a big-endian u16.
    fn w16(&mut self, v: u16) {
        self.wslice(&v.to_be_bytes());
    }
    /// Appends a big-endian u32.
    fn w32(&mut self, v: u32) {
        self.wslice(&v.to_be_bytes());
    }
    /// Appends a length-prefixed UTF-8 string (its length is at most 65,535 by
    /// construction of [`MqttString`]).
    fn wstr(&mut self, s: &MqttString) {
        self.w16(s.len() as u16);
        self.wslice(s.as_bytes());
    }
    /// Appends length-prefixed binary data.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] over 65,535 bytes.
    fn wbin(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(b.len()).map_err(|_| EncodeError::FieldTooLong)?;
        self.w16(len);
        self.wslice(b);
        Ok(())
    }
}

/// Counts bytes instead of writing them.
#[derive(Debug, Default)]
pub(crate) struct Counter(usize);

impl Counter {
    /// Bytes counted.
    pub(crate) fn len(&self) -> usize {
        self.0
    }
}

impl Sink for Counter {
    fn wslice(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
}

impl Sink for BytesMut {
    fn wslice(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// Writes into a caller's slice; the caller sized it (bytes past its end are
/// dropped and flagged, never a panic).
pub(crate) struct SliceSink<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) pos: usize,
    pub(crate) overflow: bool,
}

impl Sink for SliceSink<'_> {
    fn wslice(&mut self, b: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + b.len()) {
            Some(dst) => {
                dst.copy_from_slice(b);
                self.pos += b.len();
            }
            None => self.overflow = true,
        }
    }
}

/// Bytes a Variable Byte Integer of value `v` takes (1..=4; values are checked
/// where they are written).
pub(crate) fn varint_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a Variable Byte Integer in its shortest form.
///
/// # Errors
/// [`EncodeError::IntegerTooLarge`] above 268,435,455.
pub(crate) fn put_varint<S: Sink>(s: &mut S, v: usize) -> Result<(), EncodeError> {
    if v > MAX_VARINT as usize {
        return Err(EncodeError::IntegerTooLarge);
    }
    let mut v = v;
    loop {
        let mut b = (v % 128) as u8;
        v /= 128;
        if v > 0 {
            b |= 0x80;
        }
        s.w8(b);
        if v == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for (v, bytes) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = BytesMut::new();
            put_varint(&mut out, v).unwrap();
            assert_eq!(&out[..], bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len());
        }
        assert_eq!(
            put_varint(&mut BytesMut::new(), 268_435_456),
            Err(EncodeError::IntegerTooLarge)
        );
    }

    #[test]
    fn slice_sink_never_overruns() {
        let mut buf = [0u8; 3];
        let mut s = SliceSink {
            buf: &mut buf,
            pos: 0,
            overflow: false,
        };
        s.w16(0x0102);
        assert!(!s.overflow);
        s.w16(0x0304);
        assert!(s.overflow);
        assert_eq!(s.pos, 2);
        assert_eq!(buf, [1, 2, 0]);
    }
}

//! The write-ahead log's bytes on disk: segment headers, record frames and
//! the layout of a keyed operation inside a record. Pure functions over byte
//! slices (no files), so that recovery can be tested at every byte offset.
//!
//! ```text
//! segment := header record*
//! header  := "JWAL" | version u16 | flags u16 | seq u64 | reserved [0u8; 12] | crc32c(header[..28]) u32
//! record  := len u32 | crc u32 | payload (len bytes)        crc = crc32c(len as 4 bytes ++ payload)
//! payload := op u8 | keep u32 | key_len u32 | key | value
//! ```
//!
//! Integers are little endian. The header is 32 bytes; `flags` bit 0 marks a
//! **snapshot** segment (written by compaction: it holds every live record,
//! so every segment with a lower `seq` is obsolete). The record checksum
//! covers the length too, so a damaged length is caught like damaged data.

/// The first four bytes of every segment.
pub const MAGIC: [u8; 4] = *b"JWAL";
/// The segment format this build writes and reads. A segment with a higher
/// version is set aside, never read and never deleted.
pub const VERSION: u16 = 1;
/// Bytes in a segment header.
pub const HEADER_LEN: usize = 32;
/// `flags` bit: the segment is a snapshot (see the module docs).
pub const FLAG_SNAPSHOT: u16 = 1;
/// Bytes a record adds around its payload (length and checksum).
pub const FRAME_OVERHEAD: usize = 8;
/// Bytes of a payload before its key.
const PAYLOAD_HEAD: usize = 9;
/// The largest payload a frame can carry.
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// A segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version.
    pub version: u16,
    /// [`FLAG_SNAPSHOT`] or 0.
    pub flags: u16,
    /// The segment's sequence number (also its file name).
    pub seq: u64,
}

impl SegmentHeader {
    /// A header of this build's version.
    pub fn new(seq: u64, snapshot: bool) -> SegmentHeader {
        SegmentHeader {
            version: VERSION,
            flags: if snapshot { FLAG_SNAPSHOT } else { 0 },
            seq,
        }
    }

    /// Whether this segment is a snapshot.
    pub fn is_snapshot(&self) -> bool {
        self.flags & FLAG_SNAPSHOT != 0
    }

    /// The header's 32 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4..6].copy_from_slice(&self.version.to_le_bytes());
        h[6..8].copy_from_slice(&self.flags.to_le_bytes());
        h[8..16].copy_from_slice(&self.seq.to_le_bytes());
        let crc = crc32c::crc32c(&h[..28]);
        h[28..].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Reads the header at the start of `buf`.
    ///
    /// # Errors
    /// [`HeaderError`]: too short, not a segment, damaged, or of a later version.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, HeaderError> {
        if buf.len() < HEADER_LEN {
            return Err(HeaderError::Short);
        }
        if buf[..4] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if crc32c::crc32c(&buf[..28]) != le32(&buf[28..32]) {
            return Err(HeaderError::BadChecksum);
        }
        let version = u16::from_le_bytes([buf[4], buf[5]]);
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&buf[8..16]);
        Ok(SegmentHeader {
            version,
            flags: u16::from_le_bytes([buf[6], buf[7]]),
            seq: u64::from_le_bytes(seq),
        })
    }
}

/// Why a segment header cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than 32 bytes: a segment whose creation was cut short (it holds no record).
    #[error("shorter than a segment header")]
    Short,
    /// Not a segment of this log.
    #[error("no segment magic")]
    BadMagic,
    /// The header's checksum does not match.
    #[error("header checksum mismatch")]
    BadChecksum,
    /// Written by a build with another format version.
    #[error("format version {0} (this build reads version {VERSION})")]
    Version(u16),
}

/// Why a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// At the end of the buffer, after a whole record.
    End,
    /// At a record cut short or never written: it runs past the end, or
    /// everything from it on is zero, or it is the last one and fails its
    /// checksum. What a crash during a write leaves.
    Torn,
    /// At a record that fails its checksum (or is malformed) with more bytes
    /// after it: damage a crash does not explain.
    Corrupt,
}

/// Iterates over the records of a segment's body (after the header):
/// yields `(offset in the body, payload)` for each valid record and stops
/// at the first invalid one; [`Scan::stop`] then says why and
/// [`Scan::valid_len`] where.
#[derive(Debug)]
pub struct Scan<'a> {
    buf: &'a [u8],
    pos: usize,
    stop: Option<Stop>,
}

impl<'a> Scan<'a> {
    /// A scan of `body`.
    pub fn new(body: &'a [u8]) -> Scan<'a> {
        Scan {
            buf: body,
            pos: 0,
            stop: None,
        }
    }

    /// Bytes of whole valid records read so far.
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// Why the scan stopped (`None` while it has not).
    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }

    fn bad(&mut self, frame_end: usize) -> Option<(usize, &'a [u8])> {
        let rest = &self.buf[self.pos..];
        let torn = frame_end >= self.buf.len() || rest.iter().all(|b| *b == 0);
        self.stop = Some(if torn { Stop::Torn } else { Stop::Corrupt });
        None
    }
}

impl<'a> Iterator for Scan<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.stop.is_some() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            self.stop = Some(Stop::End);
            return None;
        }
        if rest.len() < FRAME_OVERHEAD {
            return self.bad(usize::MAX);
        }
        let len = le32(&rest[..4]) as usize;
        let end = FRAME_OVERHEAD.saturating_add(len);
        if end > rest.len() {
            return self.bad(usize::MAX);
        }
        if len < PAYLOAD_HEAD {
            return self.bad(self.pos + end);
        }
        let payload = &rest[FRAME_OVERHEAD..end];
        if checksum(&rest[..4], payload) != le32(&rest[4..8]) {
            return self.bad(self.pos + end);
        }
        let at = self.pos;
        self.pos += end;
        Some((at, payload))
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn checksum(len: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len), payload)
}

/// What a record does to the live image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    /// The key's value becomes this one.
    Put = 1,
    /// The value joins the key's list, which keeps its last `keep` values.
    Append = 2,
    /// Tombstone: the key is gone.
    Delete = 3,
    /// Tombstone: every key starting with this one is gone.
    DeletePrefix = 4,
}

impl OpCode {
    fn of(b: u8) -> Option<OpCode> {
        match b {
            1 => Some(OpCode::Put),
            2 => Some(OpCode::Append),
            3 => Some(OpCode::Delete),
            4 => Some(OpCode::DeletePrefix),
            _ => None,
        }
    }
}

/// A record's payload, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The operation.
    pub op: OpCode,
    /// For [`OpCode::Append`]: how many values the list keeps.
    pub keep: u32,
    /// The key (or prefix).
    pub key: &'a [u8],
    /// The value (empty for tombstones).
    pub value: &'a [u8],
}

/// Reads a payload; `None` when it is malformed or of an unknown operation
/// (its checksum was fine, so a later build wrote it: it is skipped).
pub fn decode_payload(p: &[u8]) -> Option<Decoded<'_>> {
    if p.len() < PAYLOAD_HEAD {
        return None;
    }
    let op = OpCode::of(p[0])?;
    let keep = le32(&p[1..5]);
    let key_len = le32(&p[5..9]) as usize;
    let key_end = PAYLOAD_HEAD.checked_add(key_len)?;
    if key_end > p.len() {
        return None;
    }
    Some(Decoded {
        op,
        keep,
        key: &p[PAYLOAD_HEAD..key_end],
        value: &p[key_end..],
    })
}

/// Starts a record in `out`: reserves the frame head and writes the payload
/// head and key. Append the value to `out`, then call [`finish_record`] with
/// the returned start.
pub fn begin_record(out: &mut Vec<u8>, op: OpCode, keep: u32, key: &[u8]) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_OVERHEAD]);
    out.push(op as u8);
    out.extend_from_slice(&keep.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    start
}

/// Completes the record begun at `start`: writes its length and checksum.
///
/// # Errors
/// The payload is larger than [`MAX_PAYLOAD`] (`out` is cut back to `start`).
pub fn finish_record(out: &mut Vec<u8>, start: usize) -> Result<(), usize> {
    let len = out.len() - start - FRAME_OVERHEAD;
    if len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(len);
    }
    let len_bytes = (len as u32).to_le_bytes();
    let crc = checksum(&len_bytes, &out[start + FRAME_OVERHEAD..]);
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Frames an already encoded payload (compaction copies live payloads).
pub fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len_bytes = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&checksum(&len_bytes, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record(out: &mut Vec<u8>, op: OpCode, key: &[u8], value: &[u8]) {
        let s = begin_record(out, op, 7, key);
        out.extend_from_slice(value);
        finish_record(out, s).expect("small");
    }

    fn body(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        let mut payloads = Vec::new();
        for i in 0..n {
            let start = out.len();
            let value = vec![i as u8; i * 3 + 1];
            record(&mut out, OpCode::Put, format!("k{i}").as_bytes(), &value);
            payloads.push(out[start + FRAME_OVERHEAD..].to_vec());
        }
        (out, payloads)
    }

    fn scan_all(b: &[u8]) -> (Vec<Vec<u8>>, usize, Stop) {
        let mut s = Scan::new(b);
        let got: Vec<Vec<u8>> = s.by_ref().map(|(_, p)| p.to_vec()).collect();
        (got, s.valid_len(), s.stop().expect("stopped"))
    }

    #[test]
    fn header_round_trip_and_rejections() {
        let h = SegmentHeader::new(0x0102_0304_0506, true);
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        assert!(h.is_snapshot());
        assert_eq!(SegmentHeader::decode(&bytes[..31]), Err(HeaderError::Short));
        assert_eq!(SegmentHeader::decode(&[]), Err(HeaderError::Short));
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::BadMagic));
        let mut bad = bytes;
        bad[9] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::BadChecksum));
        // A later version with a valid checksum is recognised as such.
        let mut future = bytes;
        future[4..6].copy_from_slice(&(VERSION + 1).to_le_bytes());
        let crc = crc32c::crc32c(&future[..28]);
        future[28..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&future),
            Err(HeaderError::Version(VERSION + 1))
        );
    }

    #[test]
    fn payload_round_trip() {
        let mut out = Vec::new();
        record(&mut out, OpCode::Append, b"key", b"value");
        let (got, len, stop) = scan_all(&out);
        assert_eq!((len, stop), (out.len(), Stop::End));
        let d = decode_payload(&got[0]).expect("valid");
        assert_eq!(
            d,
            Decoded {
                op: OpCode::Append,
                keep: 7,
                key: b"key",
                value: b"value"
            }
        );
        assert_eq!(
            decode_payload(&[9, 0, 0, 0, 0, 0, 0, 0, 0]),
            None,
            "unknown op"
        );
        assert_eq!(
            decode_payload(&[1, 0, 0, 0, 0, 5, 0, 0, 0, b'a']),
            None,
            "key past the end"
        );
    }

    #[test]
    fn empty_body_is_a_clean_end() {
        assert_eq!(scan_all(&[]), (vec![], 0, Stop::End));
    }

    #[test]
    fn torn_tail_at_every_byte_of_the_last_record() {
        let (full, payloads) = body(4);
        let last_start = full.len() - (FRAME_OVERHEAD + payloads[3].len());
        for cut in last_start..full.len() {
            let (got, len, stop) = scan_all(&full[..cut]);
            assert_eq!(got, payloads[..3], "cut at {cut}");
            assert_eq!(len, last_start, "cut at {cut}");
            let want = if cut == last_start {
                Stop::End
            } else {
                Stop::Torn
            };
            assert_eq!(stop, want, "cut at {cut}");
        }
        // A tail of zeros (space allocated, never written) is torn too.
        let mut zeros = full.clone();
        zeros.extend_from_slice(&[0u8; 40]);
        assert_eq!(scan_all(&zeros), (payloads.clone(), full.len(), Stop::Torn));
    }

    #[test]
    fn a_flipped_bit_in_the_middle_is_corrupt_and_stops_there() {
        let (full, payloads) = body(5);
        let second = FRAME_OVERHEAD + payloads[0].len();
        let third = second + FRAME_OVERHEAD + payloads[1].len();
        for at in second..third {
            let mut bad = full.clone();
            bad[at] ^= 0x10;
            let (got, len, stop) = scan_all(&bad);
            assert_eq!(got, payloads[..1], "flip at {at}");
            assert_eq!(len, second, "flip at {at}");
            if at < second + 4 {
                // A damaged length may point past the end: it cannot be told
                // from a record cut short (and is handled the same way).
                assert_ne!(stop, Stop::End, "flip at {at}");
            } else {
                assert_eq!(stop, Stop::Corrupt, "flip at {at}");
            }
        }
        // The same damage in the last record reads as a torn tail.
        let mut bad = full.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let (got, _, stop) = scan_all(&bad);
        assert_eq!((got.len(), stop), (4, Stop::Torn));
    }

    proptest! {
        /// Any prefix of a body scans to exactly the records wholly inside it.
        #[test]
        fn any_truncation_yields_the_whole_records_before_it(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..30),
            cut_frac in 0.0f64..=1.0,
        ) {
            let mut out = Vec::new();
            let mut ends = Vec::new();
            for (i, v) in values.iter().enumerate() {
                record(&mut out, OpCode::Put, &(i as u32).to_le_bytes(), v);
                ends.push(out.len());
            }
            let cut = ((out.len() as f64) * cut_frac) as usize;
            let (got, len, stop) = scan_all(&out[..cut]);
            let whole = ends.iter().filter(|e| **e <= cut).count();
            prop_assert_eq!(got.len(), whole);
            for (i, p) in got.iter().enumerate() {
                let d = decode_payload(p).expect("valid");
                prop_assert_eq!(d.key, &(i as u32).to_le_bytes()[..]);
                prop_assert_eq!(d.value, &values[i][..]);
            }
            prop_assert_eq!(len, if whole == 0 { 0 } else { ends[whole - 1] });
            prop_assert_eq!(stop == Stop::End, len == cut);
        }
    }
}

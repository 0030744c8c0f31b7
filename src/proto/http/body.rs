//! Body framing both ways (RFC 9112 sections 6 and 7): decoding a request
//! body delimited by Content-Length or by the chunked coding (chunk
//! extensions checked and skipped, trailer fields kept, the size limit
//! enforced), and encoding a chunked response body.
//!
//! Decoders read from the connection's `BytesMut` and hand out body octets as
//! [`Bytes`] split off it: no copy, and a large chunk is handed on as it
//! arrives rather than buffered whole.
//!
//! The chunked framing lines must end in CRLF: a bare LF there is refused
//! (400). Heads accept bare LF line ends (RFC 9112 section 2.2 allows it), but
//! inside a body the two readings of a bare LF are how chunked-body smuggling
//! works, so no leniency there.

use bytes::{Buf, Bytes, BytesMut};

use super::head::{Field, Headers, fields_of};
use super::{BodyLength, HttpError, Limits, MAX_HEADERS_CAP};

/// A piece of a decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Body octets (never empty).
    Data(Bytes),
    /// The body is complete; a chunked body's trailer fields (empty
    /// otherwise).
    End(Trailers),
}

/// The trailer section of a chunked body: header fields sent after the body.
/// They are handed over as they came; a server must not merge fields such as
/// `Content-Length` or `Host` from here into the head (RFC 9110 section 6.5).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    /// The section's octets.
    raw: Bytes,
    /// Its fields.
    fields: Vec<Field>,
}

impl std::fmt::Debug for Trailers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.headers()
                    .iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl Trailers {
    /// The trailer fields.
    pub fn headers(&self) -> Headers<'_> {
        Headers::new(&self.raw, &self.fields)
    }
}

/// Decodes one request body.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// A Content-Length body: octets still to come.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkedDecoder),
    /// The body is complete (the end was reported).
    Done,
}

impl BodyDecoder {
    /// A decoder for a body of `length`, under `limits` (`max_body`,
    /// `max_chunk_line`, `max_head` and `max_headers` for trailers).
    pub fn new(length: BodyLength, limits: &Limits) -> Self {
        match length {
            BodyLength::Empty => BodyDecoder::Length(0),
            BodyLength::Length(n) => BodyDecoder::Length(n),
            BodyLength::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new(limits)),
        }
    }

    /// The next piece of the body from the start of `buf` (taken off it).
    /// `Ok(None)`: more input is needed (or the body already ended).
    ///
    /// # Errors
    /// Chunked bodies only: see [`ChunkedDecoder::decode`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, HttpError> {
        match self {
            BodyDecoder::Length(0) => {
                *self = BodyDecoder::Done;
                Ok(Some(Chunk::End(Trailers::default())))
            }
            BodyDecoder::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                *left -= n as u64;
                Ok(Some(Chunk::Data(buf.split_to(n).freeze())))
            }
            BodyDecoder::Chunked(c) => {
                let out = c.decode(buf)?;
                if matches!(out, Some(Chunk::End(_))) {
                    *self = BodyDecoder::Done;
                }
                Ok(out)
            }
            BodyDecoder::Done => Ok(None),
        }
    }

    /// Whether the whole body was decoded.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyDecoder::Done)
    }

    /// Changes the body size limit for what is still to come.
    ///
    /// # Errors
    /// 413 when a Content-Length body has more octets left than `max_body`
    /// allows, or a chunked body already passed it.
    pub fn set_limit(&mut self, max_body: u64) -> Result<(), HttpError> {
        match self {
            BodyDecoder::Length(left) if *left > max_body => Err(TOO_LARGE),
            BodyDecoder::Chunked(c) => {
                c.max_body = max_body;
                if c.received > max_body {
                    Err(TOO_LARGE)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

const TOO_LARGE: HttpError = HttpError::new(413, "request body too large");

/// Where a chunked decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data: octets still to come.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: the trailer section and the final CRLF.
    Trailers,
    /// The end was reported.
    Done,
}

/// Decodes a chunked body (RFC 9112 section 7.1).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Data octets decoded so far.
    received: u64,
    /// Largest total of data octets (413 past it).
    max_body: u64,
    /// Longest chunk-size line with extensions, CRLF included (400 past it).
    max_line: usize,
    /// Longest trailer section (431 past it).
    max_trailers: usize,
    /// Most trailer fields (431 past it).
    max_fields: usize,
}

impl ChunkedDecoder {
    /// A decoder under `limits`.
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            received: 0,
            max_body: limits.max_body,
            max_line: limits.max_chunk_line,
            max_trailers: limits.max_head,
            max_fields: limits.max_headers.min(MAX_HEADERS_CAP),
        }
    }

    /// The next piece of the body from the start of `buf` (what it used is
    /// taken off `buf`). `Ok(None)`: more input is needed, or the end was
    /// already reported.
    ///
    /// # Errors
    /// [`HttpError`]: a malformed chunk-size line, extension, data end or
    /// trailer section, or a bare LF in them (400); a size line over
    /// `max_chunk_line` (400); data over `max_body` (413, as soon as a chunk
    /// size says so); a trailer section over `max_head` octets or with more
    /// than `max_headers` fields (431).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, HttpError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line_end) = find_line(buf, self.max_line)? else {
                        return Ok(None);
                    };
                    let size = parse_size_line(&buf[..line_end])?;
                    buf.advance(line_end + 2);
                    if size == 0 {
                        self.state = ChunkState::Trailers;
                        continue;
                    }
                    if size > self.max_body.saturating_sub(self.received) {
                        return Err(TOO_LARGE);
                    }
                    self.state = ChunkState::Data(size);
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - n as u64;
                    self.received += n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Some(Chunk::Data(buf.split_to(n).freeze())));
                }
                ChunkState::DataEnd => match buf.as_ref() {
                    [b'\r', b'\n', ..] => {
                        buf.advance(2);
                        self.state = ChunkState::Size;
                    }
                    [] | [b'\r'] => return Ok(None),
                    _ => return Err(HttpError::bad_request("chunk data not followed by CRLF")),
                },
                ChunkState::Trailers => return self.trailers(buf),
                ChunkState::Done => return Ok(None),
            }
        }
    }

    /// The trailer section (possibly empty) and the final CRLF.
    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, HttpError> {
        match buf.as_ref() {
            [b'\r', b'\n', ..] => {
                buf.advance(2);
                self.state = ChunkState::Done;
                return Ok(Some(Chunk::End(Trailers::default())));
            }
            [] | [b'\r'] => return Ok(None),
            [b'\n', ..] => return Err(BARE_LF),
            _ => {}
        }
        let window = &buf[..buf.len().min(self.max_trailers)];
        let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
            if has_bare_lf(window) {
                return Err(BARE_LF);
            }
            if buf.len() >= self.max_trailers {
                return Err(HttpError::new(431, "trailer section too large"));
            }
            return Ok(None);
        };
        let raw = buf.split_to(end + 4).freeze();
        if has_bare_lf(&raw) {
            return Err(BARE_LF);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
        let fields = match httparse::parse_headers(&raw, &mut headers[..self.max_fields]) {
            Ok(httparse::Status::Complete((_, parsed))) => fields_of(&raw, parsed)?,
            Ok(httparse::Status::Partial) => {
                return Err(HttpError::bad_request("malformed trailer section"));
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::new(431, "too many trailer fields"));
            }
            Err(_) => return Err(HttpError::bad_request("malformed trailer field")),
        };
        self.state = ChunkState::Done;
        Ok(Some(Chunk::End(Trailers { raw, fields })))
    }
}

const BARE_LF: HttpError = HttpError::bad_request("bare LF in chunked framing");

/// Whether `s` has an LF not preceded by CR.
fn has_bare_lf(s: &[u8]) -> bool {
    s.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || s[i - 1] != b'\r'))
}

/// The position of the CR of the first CRLF in `buf`, searched within
/// `max_line` octets. `Ok(None)`: not there yet.
fn find_line(buf: &[u8], max_line: usize) -> Result<Option<usize>, HttpError> {
    let window = &buf[..buf.len().min(max_line)];
    match window.iter().position(|&b| b == b'\n') {
        Some(0) => Err(BARE_LF),
        Some(i) if window[i - 1] == b'\r' => Ok(Some(i - 1)),
        Some(_) => Err(BARE_LF),
        None if buf.len() >= max_line => Err(HttpError::bad_request("chunk size line too long")),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]` (without the CRLF): the size. Extensions are
/// checked (`*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`)
/// and ignored.
fn parse_size_line(line: &[u8]) -> Result<u64, HttpError> {
    const BAD_SIZE: HttpError = HttpError::bad_request("invalid chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(BAD_SIZE);
    }
    let mut size: u64 = 0;
    for &d in &line[..digits] {
        let v = (d as char).to_digit(16).map(u64::from).ok_or(BAD_SIZE)?;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(v))
            .ok_or(TOO_LARGE)?;
    }
    if valid_extensions(&line[digits..]) {
        Ok(size)
    } else {
        Err(HttpError::bad_request("invalid chunk extension"))
    }
}

/// Whether `s` is a valid (possibly empty) list of chunk extensions.
fn valid_extensions(mut s: &[u8]) -> bool {
    fn ws(s: &[u8]) -> &[u8] {
        let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        &s[n..]
    }
    fn token(s: &[u8]) -> Option<&[u8]> {
        let n = s.iter().take_while(|&&b| super::is_tchar(b)).count();
        (n > 0).then(|| &s[n..])
    }
    fn quoted(s: &[u8]) -> Option<&[u8]> {
        let mut i = 1;
        while i < s.len() {
            match s[i] {
                b'"' => return Some(&s[i + 1..]),
                b'\\'
                    if s.get(i + 1)
                        .is_some_and(|&c| is_qtext(c) || c == b'"' || c == b'\\') =>
                {
                    i += 2
                }
                c if is_qtext(c) => i += 1,
                _ => return None,
            }
        }
        None
    }
    fn is_qtext(c: u8) -> bool {
        matches!(c, b'\t' | b' ' | b'!' | b'#'..=b'[' | b']'..=b'~' | 0x80..=0xFF)
    }
    loop {
        s = ws(s);
        match s.split_first() {
            None => return true,
            Some((b';', rest)) => s = ws(rest),
            Some(_) => return false,
        }
        let Some(rest) = token(s) else {
            return false;
        };
        s = ws(rest);
        if let Some((b'=', rest)) = s.split_first() {
            let rest = ws(rest);
            let after = if rest.first() == Some(&b'"') {
                quoted(rest)
            } else {
                token(rest)
            };
            let Some(after) = after else {
                return false;
            };
            s = after;
        }
    }
}

/// The most octets [`chunk_header`] writes (16 hex digits and CRLF).
pub const MAX_CHUNK_HEADER: usize = 18;

/// The CRLF that ends a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and the end of an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The size line of a chunk of `len` octets (`len` in hex, then CRLF): the
/// buffer and how many of its octets are used. The chunk's data and
/// [`CHUNK_END`] follow it. `len` must not be 0 (that is the last chunk).
pub fn chunk_header(len: usize) -> ([u8; MAX_CHUNK_HEADER], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; MAX_CHUNK_HEADER];
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in 0..digits {
        out[digits - 1 - i] = HEX[(len >> (4 * i)) & 0xF];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    (out, digits + 2)
}

/// Appends `data` as one chunk to `out` (nothing for empty `data`: an empty
/// chunk would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let (header, n) = chunk_header(data.len());
    out.reserve(n + data.len() + 2);
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(data);
    out.extend_from_slice(CHUNK_END);
}

/// Appends the last chunk with `trailers` to `out`.
///
/// # Errors
/// [`super::response::InvalidHeader`] for a name that is not a token or a
/// value with CR, LF or NUL (nothing is written then).
pub fn encode_last_chunk(
    trailers: &[(&str, &[u8])],
    out: &mut Vec<u8>,
) -> Result<(), super::response::InvalidHeader> {
    for (name, value) in trailers {
        super::response::check_field(name, value)?;
    }
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data, the trailers (when the body ended) and what is left in the buffer.
    type Decoded = (Vec<u8>, Option<Trailers>, Vec<u8>);

    /// Decodes `input` fed in pieces of `step` octets: the data and the
    /// trailers, or the first error.
    fn decode_in_steps(input: &[u8], step: usize, limits: &Limits) -> Result<Decoded, HttpError> {
        let mut dec = ChunkedDecoder::new(limits);
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(chunk) = dec.decode(&mut buf)? {
                match chunk {
                    Chunk::Data(d) => {
                        assert!(!d.is_empty());
                        data.extend_from_slice(&d);
                    }
                    Chunk::End(t) => return Ok((data, Some(t), buf.to_vec())),
                }
            }
        }
        Ok((data, None, buf.to_vec()))
    }

    fn decode_all(input: &[u8]) -> Result<Decoded, HttpError> {
        decode_in_steps(input, input.len(), &Limits::default())
    }

    #[test]
    fn rfc_style_body_with_extensions_and_trailers() {
        let input = b"4;name=value\r\nWiki\r\n5 ; a ; b = \"q\\\"x\" \r\npedia\r\n\
                      E\r\n in\r\n\r\nchunks.\r\n0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, input.len()] {
            let (data, trailers, left) =
                decode_in_steps(input, step, &Limits::default()).expect("valid");
            assert_eq!(data, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            let trailers = trailers.expect("ended");
            assert_eq!(trailers.headers().get("expires"), Some(&b"never"[..]));
            assert_eq!(trailers.headers().get("x-sum"), Some(&b"1"[..]));
            assert_eq!(trailers.headers().len(), 2);
            // What follows the body (the next request) stays in the buffer.
            assert!(b"NEXT".starts_with(&left), "step {step}: {left:?}");
            if step == input.len() {
                assert_eq!(left, b"NEXT");
            }
        }
    }

    #[test]
    fn empty_body_and_leading_zeros() {
        let (data, trailers, left) = decode_all(b"0\r\n\r\n").expect("valid");
        assert!(data.is_empty());
        assert!(trailers.expect("ended").headers().is_empty());
        assert!(left.is_empty());
        let (data, _, _) = decode_all(b"0003\r\nabc\r\n000\r\n\r\n").expect("valid");
        assert_eq!(data, b"abc");
    }

    #[test]
    fn incomplete_input_waits() {
        for input in [
            &b""[..],
            b"4",
            b"4\r",
            b"4\r\nWi",
            b"4\r\nWiki",
            b"4\r\nWiki\r",
            b"0\r\n",
            b"0\r\n\r",
            b"0\r\nX: y\r\n",
        ] {
            let (_, trailers, _) = decode_all(input).expect("no error yet");
            assert!(trailers.is_none(), "{input:?}");
        }
    }

    #[test]
    fn malformed_framing_is_400() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"-1\r\n",
            b" 4\r\nWiki\r\n0\r\n\r\n",
            b"4\nWiki\r\n0\r\n\r\n",
            b"4\r\nWikiX\r\n0\r\n\r\n",
            b"4\r\nWiki\n0\r\n\r\n",
            b"4;\r\nWiki\r\n0\r\n\r\n",
            b"4;a=\r\nWiki\r\n0\r\n\r\n",
            b"4;a=\"x\r\nWiki\r\n0\r\n\r\n",
            b"4;a b\r\nWiki\r\n0\r\n\r\n",
            b"4 x\r\nWiki\r\n0\r\n\r\n",
            b"0x4\r\nWiki\r\n0\r\n\r\n",
            b"0\r\nX: y\n\r\n",
            b"0\r\n\n",
            b"0\r\nBad Name: y\r\n\r\n",
            b"0\r\n: y\r\n\r\n",
        ] {
            assert_eq!(
                decode_all(bad).map_err(|e| e.status),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_body: 10,
            max_chunk_line: 16,
            max_head: 32,
            max_headers: 2,
            ..Limits::default()
        };
        let run = |input: &[u8]| decode_in_steps(input, input.len(), &limits);
        assert!(run(b"5\r\nabcde\r\n5\r\nabcde\r\n0\r\n\r\n").is_ok());
        // The eleventh octet is refused as soon as its chunk size is read.
        assert_eq!(run(b"5\r\nabcde\r\n6\r\n").map_err(|e| e.status), Err(413));
        assert_eq!(
            decode_all(b"ffffffffffffffffff\r\n").map_err(|e| e.status),
            Err(413)
        );
        assert_eq!(
            run(b"1;aaaaaaaaaaaaaaaaaaaa\r\n").map_err(|e| e.status),
            Err(400)
        );
        assert_eq!(run(b"1;aaaaaaaaaaaaaaaa").map_err(|e| e.status), Err(400));
        assert!(run(b"1;aaaaaaaaaaa\r\na\r\n0\r\n\r\n").is_ok());
        assert_eq!(
            run(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").map_err(|e| e.status),
            Err(431)
        );
        let mut long = b"0\r\nX: ".to_vec();
        long.resize(40, b'a');
        assert_eq!(run(&long).map_err(|e| e.status), Err(431));
    }

    #[test]
    fn length_decoder_splits_at_the_end() {
        let mut dec = BodyDecoder::new(BodyLength::Length(5), &Limits::default());
        let mut buf = BytesMut::from(&b"abc"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Some(Chunk::Data(Bytes::from_static(b"abc"))))
        );
        assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"deGET /");
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Some(Chunk::Data(Bytes::from_static(b"de"))))
        );
        assert!(!dec.is_done());
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Some(Chunk::End(Trailers::default())))
        );
        assert!(dec.is_done());
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"GET /");
        let mut empty = BodyDecoder::new(BodyLength::Empty, &Limits::default());
        assert_eq!(
            empty.decode(&mut BytesMut::new()),
            Ok(Some(Chunk::End(Trailers::default())))
        );
    }

    #[test]
    fn lowering_the_limit() {
        let mut dec = BodyDecoder::new(BodyLength::Length(100), &Limits::default());
        assert_eq!(dec.set_limit(99).map_err(|e| e.status), Err(413));
        assert_eq!(dec.set_limit(100), Ok(()));
        let mut dec = BodyDecoder::new(BodyLength::Chunked, &Limits::default());
        let mut buf = BytesMut::from(&b"5\r\nabcde\r\n"[..]);
        assert!(matches!(dec.decode(&mut buf), Ok(Some(Chunk::Data(_)))));
        assert_eq!(dec.set_limit(4).map_err(|e| e.status), Err(413));
        assert_eq!(dec.set_limit(6), Ok(()));
        buf.extend_from_slice(b"2\r\nxy\r\n");
        assert_eq!(dec.decode(&mut buf).map_err(|e| e.status), Err(413));
    }

    #[test]
    fn chunk_headers() {
        for (len, text) in [
            (1usize, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (255, "ff\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let (h, n) = chunk_header(len);
            assert_eq!(&h[..n], text.as_bytes(), "{len}");
        }
    }

    #[test]
    fn encoding() {
        let mut out = Vec::new();
        encode_chunk(b"hello", &mut out);
        encode_chunk(b"", &mut out);
        encode_chunk(&[b'x'; 20], &mut out);
        encode_last_chunk(&[("X-Checksum", b"abc")], &mut out).expect("valid trailer");
        let mut expected = b"5\r\nhello\r\n14\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 20]);
        expected.extend_from_slice(b"\r\n0\r\nX-Checksum: abc\r\n\r\n");
        assert_eq!(out, expected);
        let (data, trailers, _) = decode_all(&out).expect("valid");
        assert_eq!(data.len(), 25);
        assert_eq!(
            trailers.expect("ended").headers().get("x-checksum"),
            Some(&b"abc"[..])
        );
        let before = out.len();
        assert!(encode_last_chunk(&[("X", b"a\r\nb")], &mut out).is_err());
        assert!(encode_last_chunk(&[("X Y", b"a")], &mut out).is_err());
        assert_eq!(out.len(), before);
        let mut last = Vec::new();
        encode_last_chunk(&[], &mut last).expect("valid");
        assert_eq!(last, LAST_CHUNK);
    }
}

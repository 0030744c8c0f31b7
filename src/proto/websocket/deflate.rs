//! permessage-deflate (RFC 7692): the negotiation of the extension's
//! parameters and the compression of whole messages, sans-IO.
//!
//! Negotiation ([`negotiate`]): the client's `Sec-WebSocket-Extensions`
//! offers are read in its order; the first `permessage-deflate` offer whose
//! parameters are valid and acceptable is taken, and the answer's value is
//! built from it and the server's [`DeflateParams`]:
//!
//! - `server_no_context_takeover`: sent when the client asked for it or the
//!   server compresses every message on its own anyway (its default: then no
//!   compression state is kept per connection);
//! - `client_no_context_takeover`: sent when the server asks clients not to
//!   keep their context (always allowed by the RFC); then nothing of a
//!   client's message stream needs to be kept to inflate the next one;
//! - `server_max_window_bits`: the smaller of the client's limit and the
//!   server's own; an offer limiting it to 8 is declined (zlib's raw deflate
//!   cannot produce 256-octet windows), the next offer is tried;
//! - `client_max_window_bits`: only when the client offered the parameter
//!   and the server asks for a smaller window than 15.
//!
//! An offer with an unknown parameter, a repeated one or a malformed value
//! is declined, as the RFC requires.
//!
//! Messages: [`Deflater::compress`] deflates a whole message with a sync
//! flush and strips the final `00 00 FF FF`; [`Inflater`] appends it back and
//! inflates, never past a size limit (a small message cannot inflate into a
//! large one: decompression bombs end with [`WsError::TooBig`]).
//!
//! Imports `flate2` (zlib-rs: raw deflate with window sizes 9 to 15).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::WsError;

/// The extension's token.
pub const EXTENSION: &str = "permessage-deflate";
/// The tail a sync flush ends with, left out of every message (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The server's compression settings (a WebSocket service's
/// `options.compression.deflate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// Compress each message on its own (answer `server_no_context_takeover`
    /// even when not asked): no compression state per connection.
    pub no_context_takeover: bool,
    /// Ask clients not to keep their compression context
    /// (`client_no_context_takeover`): no inflate state per connection.
    pub request_no_context_takeover: bool,
    /// The server's largest window, 9 to 15.
    pub max_window_bits: u8,
    /// The window asked of clients that offer `client_max_window_bits`
    /// (9 to 15; 15 or 0: not asked).
    pub request_max_window_bits: u8,
    /// zlib compression level, 1 to 9.
    pub level: u8,
    /// Messages shorter than this go uncompressed.
    pub threshold: usize,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            no_context_takeover: true,
            request_no_context_takeover: false,
            max_window_bits: 15,
            request_max_window_bits: 0,
            level: 6,
            threshold: 128,
        }
    }
}

/// What was agreed for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message (so the server
    /// may reset its inflater).
    pub client_no_context_takeover: bool,
    /// The server's window (9 to 15).
    pub server_window_bits: u8,
    /// The client's window (at most 15: the server inflates with 15).
    pub client_window_bits: u8,
    /// zlib level.
    pub level: u8,
    /// Messages shorter than this go uncompressed.
    pub threshold: usize,
}

/// One offer's parameters.
#[derive(Debug, Default, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Picks the first acceptable `permessage-deflate` offer among the values of
/// the client's `Sec-WebSocket-Extensions` header fields (in order): what is
/// agreed and the answer's `Sec-WebSocket-Extensions` value. `None`: no
/// offer is acceptable (the connection goes on uncompressed).
pub fn negotiate<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    params: &DeflateParams,
) -> Option<(Agreed, String)> {
    for value in values {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        for extension in split_quoted(value, ',') {
            let mut parts = split_quoted(extension, ';');
            let name = parts.next().unwrap_or_default().trim();
            if !name.eq_ignore_ascii_case(EXTENSION) {
                continue;
            }
            let Some(offer) = parse_offer(parts) else {
                continue;
            };
            if let Some(done) = accept(&offer, params) {
                return Some(done);
            }
        }
    }
    None
}

/// Splits at `sep` outside double quotes.
fn split_quoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut in_quotes = false;
    let mut start = 0;
    let mut done = false;
    let bytes: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            let (at, c) = bytes[i];
            i += 1;
            if c == '"' {
                in_quotes = !in_quotes;
            } else if c == sep && !in_quotes {
                let part = &s[start..at];
                start = at + 1;
                return Some(part);
            }
        }
        done = true;
        Some(&s[start..])
    })
}

/// The parameters of one offer; `None` for one that must be declined.
fn parse_offer<'a>(params: impl Iterator<Item = &'a str>) -> Option<Offer> {
    let mut offer = Offer::default();
    let mut seen: Vec<&str> = Vec::new();
    for p in params {
        let p = p.trim();
        if p.is_empty() {
            return None;
        }
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                (n.trim(), Some(v))
            }
            None => (p, None),
        };
        if seen.contains(&name) {
            return None;
        }
        seen.push(name);
        match (name, value) {
            ("server_no_context_takeover", None) => offer.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => offer.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => offer.server_max_window_bits = Some(bits(v)?),
            ("client_max_window_bits", None) => offer.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(v)) => {
                offer.client_max_window_bits = Some(Some(bits(v)?));
            }
            _ => return None,
        }
    }
    Some(offer)
}

/// A window size value: 8 to 15, digits only, no leading zero.
fn bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

/// The answer to an acceptable offer.
fn accept(offer: &Offer, params: &DeflateParams) -> Option<(Agreed, String)> {
    let own = params.max_window_bits.clamp(9, 15);
    let server_window = match offer.server_max_window_bits {
        Some(8) => return None,
        Some(n) => n.min(own),
        None => own,
    };
    let server_nct = offer.server_no_context_takeover || params.no_context_takeover;
    let client_nct = offer.client_no_context_takeover || params.request_no_context_takeover;
    let mut answer = String::from(EXTENSION);
    if server_nct {
        answer.push_str("; server_no_context_takeover");
    }
    if client_nct {
        answer.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() || server_window < 15 {
        answer.push_str(&format!("; server_max_window_bits={server_window}"));
    }
    let mut client_window = match offer.client_max_window_bits {
        Some(Some(n)) => n,
        _ => 15,
    };
    if let Some(offered) = offer.client_max_window_bits {
        let asked = match params.request_max_window_bits {
            n @ 9..=14 => Some(n),
            _ => None,
        };
        match (offered, asked) {
            (Some(o), Some(a)) => client_window = o.min(a),
            (Some(o), None) => client_window = o,
            (None, Some(a)) => client_window = a,
            (None, None) => {}
        }
        if client_window < 15 {
            answer.push_str(&format!("; client_max_window_bits={client_window}"));
        }
    }
    Some((
        Agreed {
            server_no_context_takeover: server_nct,
            client_no_context_takeover: client_nct,
            server_window_bits: server_window,
            client_window_bits: client_window.max(9),
            level: params.level.clamp(1, 9),
            threshold: params.threshold,
        },
        answer,
    ))
}

/// A compressor of whole messages.
pub struct Deflater {
    /// zlib's state.
    c: Compress,
    /// Reset after each message.
    no_context_takeover: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// A compressor with `window_bits` (9 to 15) and `level` (1 to 9).
    pub fn new(window_bits: u8, level: u8, no_context_takeover: bool) -> Self {
        Deflater {
            c: Compress::new_with_window_bits(
                Compression::new(u32::from(level.clamp(1, 9))),
                false,
                window_bits.clamp(9, 15),
            ),
            no_context_takeover,
        }
    }

    /// The compressed form of `message` (without the sync flush's tail).
    pub fn compress(&mut self, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() / 2 + 64);
        let mut input = message;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            let before = self.c.total_in();
            let status = self
                .c
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate with a valid state never fails");
            let used = (self.c.total_in() - before) as usize;
            input = &input[used..];
            // Done when all input is taken and the flush fit (room was left).
            if input.is_empty() && out.len() < out.capacity() && status != Status::BufError {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.no_context_takeover {
            self.c.reset();
        }
        out
    }
}

/// An inflater of whole messages (fed piece by piece for fragmented ones).
pub struct Inflater {
    /// zlib's state.
    d: Decompress,
    /// Reset after each message (the client does not keep its context).
    no_context_takeover: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater for a client's messages (window 15 takes any client window).
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater {
            d: Decompress::new_with_window_bits(false, 15),
            no_context_takeover,
        }
    }

    /// Inflates `piece` of a compressed message into `out`, which must not
    /// grow past `max` octets; `last`: the message ends with this piece.
    ///
    /// # Errors
    /// [`WsError::TooBig`] past `max`; [`WsError::Protocol`] for data that
    /// does not inflate.
    pub fn inflate(
        &mut self,
        piece: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), WsError> {
        self.feed(piece, out, max)?;
        if last {
            self.feed(&TAIL, out, max)?;
            if self.no_context_takeover {
                self.d.reset(false);
            }
        }
        Ok(())
    }

    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), WsError> {
        loop {
            if out.len() >= max && !input.is_empty() {
                // Output is full; more would pass the limit (or it is exactly
                // at the limit and only the tail's flush is left: check it).
                let mut probe = [0u8; 1];
                let before = self.d.total_in();
                let before_out = self.d.total_out();
                self.d
                    .decompress(input, &mut probe, FlushDecompress::Sync)
                    .map_err(|_| WsError::Protocol("invalid compressed data"))?;
                if self.d.total_out() > before_out {
                    return Err(WsError::TooBig);
                }
                let used = (self.d.total_in() - before) as usize;
                if used == 0 {
                    return Ok(());
                }
                input = &input[used..];
                continue;
            }
            let room = (max - out.len()).clamp(1, 64 * 1024);
            out.reserve(room);
            let before = self.d.total_in();
            let before_out = out.len();
            let status = self
                .d
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|_| WsError::Protocol("invalid compressed data"))?;
            let used = (self.d.total_in() - before) as usize;
            input = &input[used..];
            if out.len() > max {
                return Err(WsError::TooBig);
            }
            let progressed = used > 0 || out.len() > before_out;
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
            if status == Status::StreamEnd {
                if input.is_empty() {
                    return Ok(());
                }
                return Err(WsError::Protocol("data after the end of a deflate stream"));
            }
            if !progressed {
                return Err(WsError::Protocol("invalid compressed data"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn offer(v: &str) -> Option<(Agreed, String)> {
        negotiate([v.as_bytes()], &DeflateParams::default())
    }

    #[rstest]
    #[case::plain("permessage-deflate", "permessage-deflate; server_no_context_takeover")]
    #[case::browser(
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover"
    )]
    #[case::server_window(
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
    )]
    #[case::quoted(
        "permessage-deflate; server_max_window_bits=\"10\"",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    )]
    #[case::client_nct(
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )]
    #[case::client_window(
        "permessage-deflate; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    )]
    #[case::first_bad_then_good(
        "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover"
    )]
    #[case::other_extension_first(
        "x-webkit-deflate-frame, permessage-deflate",
        "permessage-deflate; server_no_context_takeover"
    )]
    fn offers_are_answered(#[case] offered: &str, #[case] answer: &str) {
        let (_, got) = offer(offered).expect("accepted");
        assert_eq!(got, answer);
    }

    #[rstest]
    #[case::unknown_param("permessage-deflate; foo")]
    #[case::repeated("permessage-deflate; client_no_context_takeover; client_no_context_takeover")]
    #[case::bad_bits("permessage-deflate; server_max_window_bits=16")]
    #[case::bits_leading_zero("permessage-deflate; server_max_window_bits=09")]
    #[case::bits_without_value("permessage-deflate; server_max_window_bits")]
    #[case::value_on_flag("permessage-deflate; server_no_context_takeover=1")]
    #[case::window_8("permessage-deflate; server_max_window_bits=8")]
    #[case::other("x-webkit-deflate-frame")]
    fn offers_are_declined(#[case] offered: &str) {
        assert_eq!(offer(offered), None);
    }

    #[test]
    fn server_settings_shape_the_answer() {
        let params = DeflateParams {
            no_context_takeover: false,
            request_no_context_takeover: true,
            max_window_bits: 12,
            request_max_window_bits: 10,
            ..DeflateParams::default()
        };
        let (agreed, answer) = negotiate(
            [&b"permessage-deflate; client_max_window_bits"[..]],
            &params,
        )
        .expect("accepted");
        assert_eq!(
            answer,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; \
             client_max_window_bits=10"
        );
        assert!(!agreed.server_no_context_takeover);
        assert!(agreed.client_no_context_takeover);
        assert_eq!(
            (agreed.server_window_bits, agreed.client_window_bits),
            (12, 10)
        );
        // A client limiting the server below its own maximum wins.
        let (agreed, _) = negotiate(
            [&b"permessage-deflate; server_max_window_bits=9"[..]],
            &params,
        )
        .expect("accepted");
        assert_eq!(agreed.server_window_bits, 9);
    }

    /// The RFC's example (section 7.2.3.1): "Hello" compressed.
    #[test]
    fn rfc_example_inflates() {
        let mut i = Inflater::new(false);
        let mut out = Vec::new();
        i.inflate(
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            true,
            &mut out,
            100,
        )
        .expect("inflates");
        assert_eq!(out, b"Hello");
        // With context takeover, the second "Hello" refers back to the first.
        let mut out = Vec::new();
        i.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], true, &mut out, 100)
            .expect("inflates");
        assert_eq!(out, b"Hello");
    }

    #[rstest]
    #[case::takeover(false)]
    #[case::no_takeover(true)]
    fn round_trip_in_pieces(#[case] no_context_takeover: bool) {
        let mut d = Deflater::new(15, 6, no_context_takeover);
        let mut i = Inflater::new(no_context_takeover);
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|n| format!("[16,{n},{{}},\"com.topic\"]").into_bytes())
            .collect();
        for _ in 0..3 {
            let z = d.compress(&text);
            assert!(z.len() < text.len() / 4, "{} of {}", z.len(), text.len());
            assert!(!z.ends_with(&TAIL));
            let mut out = Vec::new();
            for (k, piece) in z.chunks(1000).enumerate() {
                let last = (k + 1) * 1000 >= z.len();
                i.inflate(piece, last, &mut out, 1 << 30).expect("inflates");
            }
            assert!(out == text);
        }
        // Small window: still a valid stream.
        let mut d = Deflater::new(9, 9, true);
        let mut out = Vec::new();
        Inflater::new(true)
            .inflate(&d.compress(&text), true, &mut out, 1 << 30)
            .expect("inflates");
        assert!(out == text);
        // An empty message: a stored empty block (RFC 7692 section 7.2.3.6).
        let empty = Deflater::new(15, 6, true).compress(b"");
        assert_eq!(empty, [0x00]);
        let mut out = Vec::new();
        Inflater::new(true)
            .inflate(&empty, true, &mut out, 10)
            .expect("inflates");
        assert!(out.is_empty());
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let zeros = vec![0u8; 1 << 20];
        let z = Deflater::new(15, 9, true).compress(&zeros);
        assert!(z.len() < 2000);
        let mut out = Vec::new();
        assert_eq!(
            Inflater::new(true).inflate(&z, true, &mut out, 1000),
            Err(WsError::TooBig)
        );
        assert!(out.len() <= 1000 + 64 * 1024);
        let mut out = Vec::new();
        Inflater::new(true)
            .inflate(&z, true, &mut out, 1 << 20)
            .expect("exactly at the limit");
        assert_eq!(out.len(), 1 << 20);
        let mut out = Vec::new();
        assert!(matches!(
            Inflater::new(true).inflate(&[0xff, 0xff, 0xff, 0xff], true, &mut out, 1000),
            Err(WsError::Protocol(_))
        ));
    }
}

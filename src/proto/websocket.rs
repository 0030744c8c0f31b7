//! WebSocket (RFC 6455), server side, sans-IO: the HTTP/1.1 opening handshake
//! and the frame format. The transport ([`crate::transport::websocket`]) owns
//! the socket and the buffers; this module only looks at bytes.
//!
//! - Handshake: [`parse_upgrade`] reads a client's upgrade request,
//!   [`switching_protocols`] builds the 101 answer, [`http_error`] a refusal.
//! - Frames in: a [`Decoder`] per connection decodes client frames from a
//!   caller-owned buffer, unmasking payloads in place, so an unfragmented
//!   message is handed on without a copy. It enforces the RFC's rules (masked
//!   client frames, no RSV bits without extensions, control frames short and
//!   unfragmented, continuation order, close codes, UTF-8 in text and close
//!   reasons) and the configured size limits.
//! - Frames out: [`frame_header`] writes the 2 to 10 header octets of an
//!   unmasked server frame, so a shared payload can be written after it without
//!   a copy; [`close_frame`] builds a whole close frame.
//!
//! The client side (used by the load generator, and by tests that speak to the
//! router) has its counterparts: [`upgrade_request`] and
//! [`parse_upgrade_response`] for the handshake, [`Decoder::client`] for the
//! (unmasked) frames a server sends, and [`client_frame_header`] with
//! [`mask_in_place`] for the masked frames a client must send.

/// The longest request head (request line and headers) accepted.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// A close reason's text is limited to 123 octets (RFC 6455 section 5.5).
pub const MAX_CLOSE_REASON: usize = 123;
/// The longest header of a frame we send (2 + 8 octets of length).
pub const MAX_HEADER: usize = 10;
/// The longest header of a client frame (2 + 8 octets of length + 4 of mask).
pub const MAX_CLIENT_HEADER: usize = 14;
/// The longest response head (status line and headers) a client accepts.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// Continuation of a fragmented data message.
    Continuation = 0,
    /// Text data (UTF-8).
    Text = 1,
    /// Binary data.
    Binary = 2,
    /// Close.
    Close = 8,
    /// Ping.
    Ping = 9,
    /// Pong.
    Pong = 10,
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message (valid UTF-8; checked by the decoder).
    Text,
    /// A binary message.
    Binary,
}

/// A client's upgrade request, as far as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request target's path (without the query).
    pub path: String,
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// Every `Sec-WebSocket-Protocol` value, over all such headers, comma-split
    /// and trimmed, in the client's order.
    pub protocols: Vec<String>,
}

/// Why an upgrade request is refused: the HTTP answer to send before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    /// HTTP status code (400, 405, 426, 431, ...).
    pub status: u16,
    /// Plain-text body saying why.
    pub body: String,
}

impl HttpRefusal {
    /// The whole HTTP response: status line, `Content-Type: text/plain`,
    /// `Content-Length`, `Connection: close`, and for 426 also
    /// `Sec-WebSocket-Version: 13`; then the body.
    pub fn to_response(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.body.len()
        );
        match self.status {
            405 => head.push_str("Allow: GET\r\n"),
            426 => head.push_str("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
            _ => {}
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }

    fn new(status: u16, body: &str) -> Self {
        HttpRefusal {
            status,
            body: body.to_owned(),
        }
    }
}

/// The standard reason phrase of the status codes this module uses.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => match status / 100 {
            4 => "Client Error",
            5 => "Server Error",
            _ => "Unknown",
        },
    }
}

/// Parses the upgrade request at the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet (and shorter than
/// [`MAX_REQUEST_HEAD`]). `Ok(Some((request, consumed)))`: the request and the
/// length of its head; bytes after it are the client's first frames.
///
/// # Errors
/// A refusal: malformed HTTP or a head over [`MAX_REQUEST_HEAD`] (400 / 431),
/// a method other than GET (405), not HTTP/1.1, no `Upgrade: websocket` or no
/// `Connection: upgrade` token (400), a missing or malformed
/// `Sec-WebSocket-Key` (400), a `Sec-WebSocket-Version` other than 13 (426).
pub fn parse_upgrade(buf: &[u8]) -> Result<Option<(UpgradeRequest, usize)>, HttpRefusal> {
    let window = &buf[..buf.len().min(MAX_REQUEST_HEAD)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(HttpRefusal::new(431, "request head too large\n"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpRefusal::new(431, "too many header fields\n"));
        }
        Err(_) => return Err(HttpRefusal::new(400, "malformed HTTP request\n")),
    };
    // A complete parse always sets these three.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpRefusal::new(400, "malformed HTTP request\n"));
    };
    if method != "GET" {
        return Err(HttpRefusal::new(
            405,
            "a WebSocket upgrade must use the GET method\n",
        ));
    }
    if version != 1 {
        return Err(HttpRefusal::new(
            400,
            "a WebSocket upgrade needs HTTP/1.1\n",
        ));
    }

    let mut upgrade = false;
    let mut connection = false;
    let mut versions = 0usize;
    let mut version_13 = true;
    let mut key: Option<&[u8]> = None;
    let mut keys = 0usize;
    let mut protocols = Vec::new();
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(h.value, b"websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(h.value, b"upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            versions += 1;
            version_13 &= h.value.trim_ascii() == b"13";
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            keys += 1;
            key = Some(h.value.trim_ascii());
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            let Ok(value) = std::str::from_utf8(h.value) else {
                return Err(HttpRefusal::new(
                    400,
                    "Sec-WebSocket-Protocol is not valid text\n",
                ));
            };
            protocols.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    if !upgrade {
        return Err(HttpRefusal::new(
            400,
            "missing header field \"Upgrade: websocket\"\n",
        ));
    }
    if !connection {
        return Err(HttpRefusal::new(
            400,
            "missing header field \"Connection: Upgrade\"\n",
        ));
    }
    if versions == 0 || !version_13 {
        return Err(HttpRefusal::new(
            426,
            "unsupported or missing Sec-WebSocket-Version: only 13 is supported\n",
        ));
    }
    let key = match (key, keys) {
        (Some(key), 1) if is_valid_key(key) => key,
        (None, _) => return Err(HttpRefusal::new(400, "missing Sec-WebSocket-Key\n")),
        _ => return Err(HttpRefusal::new(400, "malformed Sec-WebSocket-Key\n")),
    };
    let key = std::str::from_utf8(key)
        .expect("a key that decodes as base64 is ASCII")
        .to_owned();
    Ok(Some((
        UpgradeRequest {
            path: target_path(target).to_owned(),
            key,
            protocols,
        },
        consumed,
    )))
}

/// Header fields accepted in an upgrade request; more is a 431.
const MAX_HEADERS: usize = 64;

/// The GUID of RFC 6455 section 1.3, appended to the key for the accept hash.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// A `Sec-WebSocket-Key` must be base64 of 16 octets (RFC 6455 section 4.1).
fn is_valid_key(key: &[u8]) -> bool {
    use base64::Engine as _;
    // 16 octets are always 24 base64 characters; check before decoding.
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|k| k.len() == 16)
}

/// The path of a request target: origin form (`/ws?x=1`) or absolute form
/// (`http://host/ws`), without query or fragment.
fn target_path(target: &str) -> &str {
    let mut path = target;
    for scheme in ["http://", "https://", "ws://", "wss://"] {
        if target.len() >= scheme.len()
            && target.is_char_boundary(scheme.len())
            && target[..scheme.len()].eq_ignore_ascii_case(scheme)
        {
            let rest = &target[scheme.len()..];
            path = rest.find('/').map_or("/", |i| &rest[i..]);
            break;
        }
    }
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// `Sec-WebSocket-Accept` for a client's key (SHA-1 and base64, RFC 6455 section 4.2.2).
pub fn accept_key(key: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut hasher = sha1::Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// The 101 answer accepting `key` with `subprotocol`.
///
/// An empty `subprotocol` leaves out the `Sec-WebSocket-Protocol` header.
pub fn switching_protocols(key: &str, subprotocol: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if !subprotocol.is_empty() {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(subprotocol);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A plain-text HTTP error response (see [`HttpRefusal::to_response`]).
pub fn http_error(status: u16, body: &str) -> Vec<u8> {
    HttpRefusal {
        status,
        body: body.to_owned(),
    }
    .to_response()
}

/// The header of an unmasked server frame with FIN set, carrying
/// `payload_len` octets: the buffer and how many of its octets are used.
pub fn frame_header(opcode: Opcode, payload_len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x80 | opcode as u8;
    if payload_len <= 125 {
        h[1] = payload_len as u8;
        (h, 2)
    } else if let Ok(len) = u16::try_from(payload_len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        let len = u64::try_from(payload_len).expect("usize fits in 64 bits");
        h[2..10].copy_from_slice(&len.to_be_bytes());
        (h, 10)
    }
}

/// A whole close frame with `code` and `reason` (cut to [`MAX_CLOSE_REASON`]
/// octets at a char boundary).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let reason = &reason.as_bytes()[..cut];
    let (header, n) = frame_header(Opcode::Close, 2 + reason.len());
    let mut out = Vec::with_capacity(n + 2 + reason.len());
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
    out
}

/// The header of a masked client frame with FIN set, carrying `payload_len`
/// octets masked with `mask`: the buffer and how many of its octets are used
/// (6, 8 or 14). The payload that follows must be masked with the same `mask`
/// ([`mask_in_place`]).
pub fn client_frame_header(
    opcode: Opcode,
    payload_len: usize,
    mask: [u8; 4],
) -> ([u8; MAX_CLIENT_HEADER], usize) {
    let (server, n) = frame_header(opcode, payload_len);
    let mut h = [0u8; MAX_CLIENT_HEADER];
    h[..n].copy_from_slice(&server[..n]);
    h[1] |= 0x80;
    h[n..n + 4].copy_from_slice(&mask);
    (h, n + 4)
}

/// XORs `buf` with the 4-octet `mask` starting at mask offset 0: masks a
/// client frame's payload (and unmasks it again, the operation being its own
/// inverse).
pub fn mask_in_place(buf: &mut [u8], mask: [u8; 4]) {
    unmask(buf, mask);
}

/// A client's upgrade request (RFC 6455 section 4.1) for `path` on `host`
/// (`host` or `host:port`, as the `Host` header wants it), with
/// `Sec-WebSocket-Key: key` (base64 of 16 random octets) and, unless
/// `subprotocol` is empty, `Sec-WebSocket-Protocol: subprotocol`.
pub fn upgrade_request(host: &str, path: &str, key: &str, subprotocol: &str) -> Vec<u8> {
    let mut out = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !subprotocol.is_empty() {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(subprotocol);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Why a server's answer to an upgrade request fails the handshake (the
/// client then closes the connection, RFC 6455 section 4.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not a parsable HTTP/1.1 response head, or a head over
    /// [`MAX_RESPONSE_HEAD`].
    #[error("malformed HTTP response")]
    Malformed,
    /// A status other than 101: the server refused the upgrade.
    #[error("the server answered HTTP {0}, not 101")]
    Status(u16),
    /// No `Upgrade: websocket` header field.
    #[error("missing \"Upgrade: websocket\" in the response")]
    NoUpgrade,
    /// No `Connection: upgrade` token.
    #[error("missing \"Connection: Upgrade\" in the response")]
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not the one derived from our key.
    #[error("missing or wrong Sec-WebSocket-Accept")]
    BadAccept,
    /// A `Sec-WebSocket-Extensions` header: we ask for none.
    #[error("the server chose an extension that was not asked for")]
    Extension,
    /// A `Sec-WebSocket-Protocol` that is not one value of valid text.
    #[error("malformed Sec-WebSocket-Protocol in the response")]
    BadProtocol,
}

/// Parses the server's answer to [`upgrade_request`] sent with `key`, at the
/// start of `buf`.
///
/// `Ok(None)`: the head is not complete yet. `Ok(Some((subprotocol, len)))`:
/// the upgrade is accepted; `subprotocol` is the server's
/// `Sec-WebSocket-Protocol` (empty when it sent none; the caller checks that
/// it is one it asked for), `len` the length of the head: bytes after it are
/// the server's first frames.
///
/// # Errors
/// [`HandshakeError`]: the response is malformed or too large, its status is
/// not 101, it lacks `Upgrade: websocket` or `Connection: Upgrade`, its
/// `Sec-WebSocket-Accept` does not match `key` ([`accept_key`]), or it names
/// an extension.
pub fn parse_upgrade_response(
    buf: &[u8],
    key: &str,
) -> Result<Option<(String, usize)>, HandshakeError> {
    let window = &buf[..buf.len().min(MAX_RESPONSE_HEAD)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let consumed = match resp.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) | Err(_) => return Err(HandshakeError::Malformed),
    };
    let (Some(code), Some(1)) = (resp.code, resp.version) else {
        return Err(HandshakeError::Malformed);
    };
    if code != 101 {
        return Err(HandshakeError::Status(code));
    }
    let expected = accept_key(key);
    let mut upgrade = false;
    let mut connection = false;
    let mut accepted = false;
    let mut protocol: Option<String> = None;
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(h.value, b"websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(h.value, b"upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accepted = h.value.trim_ascii() == expected.as_bytes();
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            return Err(HandshakeError::Extension);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            let value = std::str::from_utf8(h.value)
                .map_err(|_| HandshakeError::BadProtocol)?
                .trim();
            if protocol.is_some() || value.contains(',') {
                return Err(HandshakeError::BadProtocol);
            }
            protocol = Some(value.to_owned());
        }
    }
    if !upgrade {
        return Err(HandshakeError::NoUpgrade);
    }
    if !connection {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    if !accepted {
        return Err(HandshakeError::BadAccept);
    }
    Ok(Some((protocol.unwrap_or_default(), consumed)))
}

/// Whether a peer may send `code` in a close frame (RFC 6455 section 7.4 and
/// the IANA registry: 1012-1014 were registered later).
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// XORs `data` with the 4-octet `mask`, starting at mask offset 0, eight octets
/// at a time.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at mask offset 0.
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
}

/// A frame the peer sent breaks the protocol or a limit; the connection must be
/// failed with [`WsError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A protocol violation (close 1002), with what was wrong.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A frame or message over the configured limit (close 1009).
    #[error("message too big")]
    TooBig,
    /// A text message or close reason that is not UTF-8 (close 1007).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
}

impl WsError {
    /// The close code to fail the connection with.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => 1002,
            WsError::TooBig => 1009,
            WsError::InvalidUtf8 => 1007,
        }
    }
}

/// A data message's payload: a slice of the caller's buffer (one unfragmented
/// frame, unmasked in place) or the reassembled fragments.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Borrowed from the buffer given to [`Decoder::decode`].
    Borrowed(&'a [u8]),
    /// Reassembled from fragments.
    Owned(Vec<u8>),
}

/// What a decoded frame means.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message.
    Message(MessageKind, Payload<'a>),
    /// A ping with its payload (at most 125 octets).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: its code and reason, `None` when it had no body.
    Close(Option<(u16, &'a str)>),
}

/// The result of one [`Decoder::decode`] step.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One whole frame was used: `consumed` octets from the start of the buffer;
    /// `event` is `None` for a fragment that did not finish its message.
    Frame {
        /// What the frame means.
        event: Option<Event<'a>>,
        /// Octets of the buffer the frame took.
        consumed: usize,
    },
    /// The buffer does not hold a whole frame: at least `needed` octets (from
    /// the start of the buffer) are required to go on. Nothing was consumed.
    Incomplete {
        /// Total octets required before the next call can make progress.
        needed: usize,
    },
}

/// Decodes the frames of one client connection.
#[derive(Debug)]
pub struct Decoder {
    /// Largest message (the sum of its fragments' payloads).
    max_message: usize,
    /// Largest frame payload.
    max_frame: usize,
    /// A fragmented data message in progress.
    fragments: Option<(MessageKind, Vec<u8>)>,
    /// Octets of a fragmented text message in progress already known to be
    /// valid UTF-8 (the rest may end in a sequence cut between fragments).
    utf8_checked: usize,
    /// Client side: frames come from a server, so must be unmasked.
    client: bool,
}

impl Decoder {
    /// A decoder accepting messages up to `max_message` octets, in frames with
    /// payloads up to `max_frame` octets.
    pub fn new(max_message: usize, max_frame: usize) -> Self {
        Decoder {
            max_message,
            max_frame,
            fragments: None,
            utf8_checked: 0,
            client: false,
        }
    }

    /// A client-side decoder, for the frames a server sends: they must be
    /// unmasked (RFC 6455 section 5.1: a client fails the connection on a
    /// masked frame), so payloads are used where they lie, without a change to
    /// the buffer. Everything else is as in [`Decoder::new`]: the same limits,
    /// fragmentation and control-frame rules, and UTF-8 checks of text
    /// messages and close reasons.
    ///
    /// An unfragmented data message's [`Payload::Borrowed`] slice ends at the
    /// frame's end: it is `buf[consumed - len..consumed]`.
    pub fn client(max_message: usize, max_frame: usize) -> Self {
        Decoder {
            client: true,
            ..Decoder::new(max_message, max_frame)
        }
    }

    /// Decodes the first frame in `buf`, unmasking its payload in place (a
    /// [`Decoder::client`] leaves the buffer as it is: server frames are not
    /// masked).
    ///
    /// # Errors
    /// [`WsError`] when the frame breaks the protocol or a limit; the
    /// connection must then be failed. A frame header announcing a payload over
    /// the limit fails at once, before the payload arrives.
    pub fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Ok(Decoded::Incomplete { needed: 2 });
        };
        if b0 & 0x70 != 0 {
            return Err(WsError::Protocol("reserved bits set"));
        }
        let fin = b0 & 0x80 != 0;
        let opcode = match b0 & 0x0F {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return Err(WsError::Protocol("unknown opcode")),
        };
        let masked = b1 & 0x80 != 0;
        if self.client && masked {
            return Err(WsError::Protocol("server frames must not be masked"));
        }
        if !self.client && !masked {
            return Err(WsError::Protocol("client frames must be masked"));
        }
        let len7 = b1 & 0x7F;
        let control = (opcode as u8) & 0x08 != 0;
        if control {
            if !fin {
                return Err(WsError::Protocol("fragmented control frame"));
            }
            if len7 > 125 {
                return Err(WsError::Protocol("control frame payload over 125 octets"));
            }
        }
        let ext_len = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_len = if masked { 4 } else { 0 };
        let header_len = 2 + ext_len + mask_len;
        if buf.len() < header_len {
            return Ok(Decoded::Incomplete { needed: header_len });
        }
        let payload_len: u64 = match len7 {
            126 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol("payload length with its high bit set"));
                }
                len
            }
            n => u64::from(n),
        };
        let payload_len = usize::try_from(payload_len).map_err(|_| WsError::TooBig)?;
        if payload_len > self.max_frame {
            return Err(WsError::TooBig);
        }
        // Message-level rules, decided from the header alone.
        match opcode {
            Opcode::Continuation => {
                let Some((_, so_far)) = &self.fragments else {
                    return Err(WsError::Protocol("continuation frame without a message"));
                };
                if payload_len > self.max_message.saturating_sub(so_far.len()) {
                    return Err(WsError::TooBig);
                }
            }
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(WsError::Protocol(
                        "new data message before the fragmented one ended",
                    ));
                }
                if payload_len > self.max_message {
                    return Err(WsError::TooBig);
                }
            }
            Opcode::Close | Opcode::Ping | Opcode::Pong => {}
        }
        let total = header_len.checked_add(payload_len).ok_or(WsError::TooBig)?;
        if buf.len() < total {
            return Ok(Decoded::Incomplete { needed: total });
        }

        if masked {
            let mask = [
                buf[header_len - 4],
                buf[header_len - 3],
                buf[header_len - 2],
                buf[header_len - 1],
            ];
            unmask(&mut buf[header_len..total], mask);
        }
        let payload: &'a [u8] = &buf[header_len..total];
        let event = match opcode {
            Opcode::Text | Opcode::Binary => {
                let kind = if opcode == Opcode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                if fin {
                    if kind == MessageKind::Text && std::str::from_utf8(payload).is_err() {
                        return Err(WsError::InvalidUtf8);
                    }
                    Some(Event::Message(kind, Payload::Borrowed(payload)))
                } else {
                    self.utf8_checked = 0;
                    self.fragments = Some((kind, payload.to_vec()));
                    self.check_fragment_utf8(false)?;
                    None
                }
            }
            Opcode::Continuation => {
                let (_, so_far) = self
                    .fragments
                    .as_mut()
                    .expect("checked above: a message is in progress");
                so_far.extend_from_slice(payload);
                self.check_fragment_utf8(fin)?;
                if fin {
                    let (kind, message) = self
                        .fragments
                        .take()
                        .expect("checked above: a message is in progress");
                    self.utf8_checked = 0;
                    Some(Event::Message(kind, Payload::Owned(message)))
                } else {
                    None
                }
            }
            Opcode::Ping => Some(Event::Ping(payload)),
            Opcode::Pong => Some(Event::Pong(payload)),
            Opcode::Close => Some(Event::Close(parse_close(payload)?)),
        };
        Ok(Decoded::Frame {
            event,
            consumed: total,
        })
    }

    /// Validates the UTF-8 of a fragmented text message as its fragments
    /// arrive, so a bad sequence fails at once; `done` when the message ended
    /// and no sequence may stay cut.
    fn check_fragment_utf8(&mut self, done: bool) -> Result<(), WsError> {
        let Some((MessageKind::Text, so_far)) = &self.fragments else {
            return Ok(());
        };
        let rest = so_far.get(self.utf8_checked..).unwrap_or_default();
        match std::str::from_utf8(rest) {
            Ok(_) => self.utf8_checked = so_far.len(),
            // An invalid sequence, or one cut at the end of a whole message.
            Err(e) if e.error_len().is_some() || done => return Err(WsError::InvalidUtf8),
            Err(e) => self.utf8_checked += e.valid_up_to(),
        }
        Ok(())
    }

    /// Whether a fragmented message is being reassembled (its bytes are held here).
    pub fn in_message(&self) -> bool {
        self.fragments.is_some()
    }
}

/// The body of a close frame: nothing, or a valid code and a UTF-8 reason.
fn parse_close(body: &[u8]) -> Result<Option<(u16, &str)>, WsError> {
    match body {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("close frame body of one octet")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A client frame: FIN as given, masked with `mask`, shortest length form.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len <= 125 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// An event with owned data, to outlive the buffer it came from.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Message(MessageKind, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    fn own(e: Event<'_>) -> Ev {
        match e {
            Event::Message(k, Payload::Borrowed(p)) => Ev::Message(k, p.to_vec()),
            Event::Message(k, Payload::Owned(p)) => Ev::Message(k, p),
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close(c) => Ev::Close(c.map(|(code, r)| (code, r.to_owned()))),
        }
    }

    /// Feeds `stream` in pieces cut at `cuts` (sorted offsets), as a transport
    /// would: append, decode until incomplete, drop what was consumed.
    fn decode_stream(dec: &mut Decoder, stream: &[u8], cuts: &[usize]) -> Result<Vec<Ev>, WsError> {
        decode_stream_min(dec, stream, cuts, 6)
    }

    /// [`decode_stream`] for frames of at least `min_frame` octets (2 for
    /// unmasked server frames, 6 for masked client frames).
    fn decode_stream_min(
        dec: &mut Decoder,
        stream: &[u8],
        cuts: &[usize],
        min_frame: usize,
    ) -> Result<Vec<Ev>, WsError> {
        let mut events = Vec::new();
        let mut buf = Vec::new();
        let mut start = 0;
        let ends = cuts.iter().copied().chain(std::iter::once(stream.len()));
        for end in ends {
            let end = end.clamp(start, stream.len());
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            loop {
                let len = buf.len();
                match dec.decode(&mut buf)? {
                    Decoded::Frame { event, consumed } => {
                        assert!(consumed <= len && consumed >= min_frame);
                        if let Some(e) = event {
                            events.push(own(e));
                        }
                        buf.drain(..consumed);
                    }
                    Decoded::Incomplete { needed } => {
                        assert!(needed > len, "needed {needed} with {len} buffered");
                        break;
                    }
                }
            }
        }
        assert!(buf.is_empty(), "{} octets left over", buf.len());
        Ok(events)
    }

    fn decode_one(bytes: &[u8]) -> Result<Ev, WsError> {
        decode_one_with(&mut Decoder::new(1 << 20, 1 << 20), bytes)
    }

    fn decode_one_with(dec: &mut Decoder, bytes: &[u8]) -> Result<Ev, WsError> {
        let mut buf = bytes.to_vec();
        match dec.decode(&mut buf)? {
            Decoded::Frame {
                event: Some(e),
                consumed,
            } => {
                assert_eq!(consumed, bytes.len());
                Ok(own(e))
            }
            other => panic!("expected one whole frame, got {other:?}"),
        }
    }

    // --- frames in: RFC 6455 section 5.7 examples ---

    #[test]
    fn rfc_masked_hello() {
        let mut buf = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut dec = Decoder::new(1024, 1024);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Frame {
                event: Some(Event::Message(
                    MessageKind::Text,
                    Payload::Borrowed(b"Hello")
                )),
                consumed: 11
            })
        );
        // Unmasked in place.
        assert_eq!(&buf[6..], b"Hello");
    }

    #[test]
    fn rfc_fragmented_hello_masked() {
        let mut stream = client_frame(false, 0x1, b"Hel", MASK);
        stream.extend(client_frame(true, 0x0, b"lo", [1, 2, 3, 4]));
        let mut dec = Decoder::new(1024, 1024);
        let mut buf = stream.clone();
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Frame {
                event: None,
                consumed: 9
            })
        );
        assert!(dec.in_message());
        assert_eq!(
            dec.decode(&mut buf[9..]),
            Ok(Decoded::Frame {
                event: Some(Event::Message(
                    MessageKind::Text,
                    Payload::Owned(b"Hello".to_vec())
                )),
                consumed: 8
            })
        );
        assert!(!dec.in_message());
    }

    #[test]
    fn rfc_ping_and_pong() {
        let ping = [
            0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(decode_one(&ping), Ok(Ev::Ping(b"Hello".to_vec())));
        let pong = client_frame(true, 0xA, b"Hello", MASK);
        assert_eq!(
            pong,
            [
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        assert_eq!(decode_one(&pong), Ok(Ev::Pong(b"Hello".to_vec())));
        assert_eq!(decode_one(&[0x89, 0x80, 1, 2, 3, 4]), Ok(Ev::Ping(vec![])));
    }

    #[test]
    fn rfc_256_octet_binary() {
        let payload: Vec<u8> = (0..256).map(|i| i as u8).collect();
        let frame = client_frame(true, 0x2, &payload, MASK);
        assert_eq!(&frame[..4], &[0x82, 0xFE, 0x01, 0x00]);
        assert_eq!(frame.len(), 8 + 256);
        assert_eq!(
            decode_one(&frame),
            Ok(Ev::Message(MessageKind::Binary, payload))
        );
    }

    #[test]
    fn rfc_64k_binary() {
        let payload: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
        let frame = client_frame(true, 0x2, &payload, MASK);
        assert_eq!(&frame[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(frame.len(), 14 + 65536);
        assert_eq!(
            decode_one(&frame),
            Ok(Ev::Message(MessageKind::Binary, payload))
        );
    }

    #[test]
    fn non_minimal_length_forms_are_accepted() {
        // 5 octets in the 16-bit and 64-bit forms.
        let mut f16 = vec![0x82, 0xFE, 0, 5, 0, 0, 0, 0];
        f16.extend_from_slice(b"abcde");
        assert_eq!(
            decode_one(&f16),
            Ok(Ev::Message(MessageKind::Binary, b"abcde".to_vec()))
        );
        let mut f64 = vec![0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0];
        f64.extend_from_slice(b"abcde");
        assert_eq!(
            decode_one(&f64),
            Ok(Ev::Message(MessageKind::Binary, b"abcde".to_vec()))
        );
    }

    #[test]
    fn unmask_matches_bytewise_xor_for_every_length() {
        let mask = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..70 {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
            let mut fast = data.clone();
            unmask(&mut fast, mask);
            let slow: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(fast, slow, "length {len}");
        }
    }

    // --- incomplete input ---

    #[test]
    fn incomplete_reports_what_is_needed() {
        let mut dec = Decoder::new(1 << 20, 1 << 20);
        assert_eq!(dec.decode(&mut []), Ok(Decoded::Incomplete { needed: 2 }));
        assert_eq!(
            dec.decode(&mut [0x81]),
            Ok(Decoded::Incomplete { needed: 2 })
        );
        assert_eq!(
            dec.decode(&mut [0x81, 0x85, 1]),
            Ok(Decoded::Incomplete { needed: 6 })
        );
        assert_eq!(
            dec.decode(&mut [0x81, 0x85, 1, 2, 3, 4, 9]),
            Ok(Decoded::Incomplete { needed: 11 })
        );
        assert_eq!(
            dec.decode(&mut [0x82, 0xFE, 1]),
            Ok(Decoded::Incomplete { needed: 8 })
        );
        assert_eq!(
            dec.decode(&mut [0x82, 0xFE, 1, 0, 0, 0, 0, 0]),
            Ok(Decoded::Incomplete { needed: 8 + 256 })
        );
        assert_eq!(
            dec.decode(&mut [0x82, 0xFF, 0]),
            Ok(Decoded::Incomplete { needed: 14 })
        );
        assert_eq!(
            dec.decode(&mut [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]),
            Ok(Decoded::Incomplete { needed: 14 + 65536 })
        );
    }

    #[test]
    fn incomplete_leaves_the_buffer_masked() {
        let frame = client_frame(true, 0x1, b"Hello", MASK);
        let mut buf = frame[..9].to_vec();
        let mut dec = Decoder::new(1024, 1024);
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete { needed: 11 }));
        assert_eq!(buf, frame[..9]);
    }

    /// A stream exercising every frame kind and length form.
    fn mixed_stream() -> (Vec<u8>, Vec<Ev>) {
        let big: Vec<u8> = (0..300).map(|i| i as u8).collect();
        let mut s = Vec::new();
        s.extend(client_frame(true, 0x1, "héllo".as_bytes(), MASK));
        s.extend(client_frame(false, 0x2, &big[..100], [9, 8, 7, 6]));
        s.extend(client_frame(true, 0x9, b"ping!", [1, 1, 1, 1]));
        s.extend(client_frame(false, 0x0, &big[100..], [0, 0, 0, 0]));
        s.extend(client_frame(true, 0xA, b"", [5, 6, 7, 8]));
        s.extend(client_frame(true, 0x0, b"", [5, 6, 7, 8]));
        s.extend(client_frame(false, 0x1, &"€uro".as_bytes()[..2], MASK));
        s.extend(client_frame(true, 0x0, &"€uro".as_bytes()[2..], MASK));
        s.extend(client_frame(true, 0x2, &big, MASK));
        s.extend(client_frame(true, 0x8, b"\x03\xe8bye", MASK));
        let events = vec![
            Ev::Message(MessageKind::Text, "héllo".as_bytes().to_vec()),
            Ev::Ping(b"ping!".to_vec()),
            Ev::Pong(vec![]),
            Ev::Message(MessageKind::Binary, big.clone()),
            Ev::Message(MessageKind::Text, "€uro".as_bytes().to_vec()),
            Ev::Message(MessageKind::Binary, big),
            Ev::Close(Some((1000, "bye".to_owned()))),
        ];
        (s, events)
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let (stream, expected) = mixed_stream();
        let whole = decode_stream(&mut Decoder::new(1024, 1024), &stream, &[]);
        assert_eq!(whole.as_ref(), Ok(&expected));
        for cut in 0..=stream.len() {
            let got = decode_stream(&mut Decoder::new(1024, 1024), &stream, &[cut]);
            assert_eq!(got.as_ref(), Ok(&expected), "cut at {cut}");
        }
        let bytewise: Vec<usize> = (1..stream.len()).collect();
        let got = decode_stream(&mut Decoder::new(1024, 1024), &stream, &bytewise);
        assert_eq!(got, Ok(expected));
    }

    #[test]
    fn ping_between_fragments() {
        let mut s = client_frame(false, 0x1, b"frag", MASK);
        s.extend(client_frame(true, 0x9, b"p", MASK));
        s.extend(client_frame(false, 0x0, b"men", MASK));
        s.extend(client_frame(true, 0x8, b"", MASK));
        // A close in the middle of a message is legal too; then the end.
        s.extend(client_frame(true, 0x0, b"ted", MASK));
        assert_eq!(
            decode_stream(&mut Decoder::new(64, 64), &s, &[]),
            Ok(vec![
                Ev::Ping(b"p".to_vec()),
                Ev::Close(None),
                Ev::Message(MessageKind::Text, b"fragmented".to_vec()),
            ])
        );
    }

    // --- protocol errors ---

    fn err(bytes: &[u8]) -> WsError {
        decode_one(bytes).expect_err("should fail")
    }

    #[test]
    fn reserved_bits_fail() {
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(
                err(&[0x81 | rsv, 0x80, 0, 0, 0, 0]),
                WsError::Protocol("reserved bits set")
            );
        }
    }

    #[test]
    fn unknown_opcodes_fail() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                err(&[0x80 | op, 0x80, 0, 0, 0, 0]),
                WsError::Protocol("unknown opcode"),
                "opcode {op}"
            );
        }
    }

    #[test]
    fn unmasked_frames_fail() {
        let e = err(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
        assert_eq!(e, WsError::Protocol("client frames must be masked"));
        assert_eq!(e.close_code(), 1002);
        // Decided from the first two octets alone.
        assert_eq!(
            Decoder::new(10, 10).decode(&mut [0x89, 0x00]),
            Err(WsError::Protocol("client frames must be masked"))
        );
    }

    #[test]
    fn bad_control_frames_fail() {
        // Ping without FIN.
        assert_eq!(
            err(&[0x09, 0x80, 0, 0, 0, 0]),
            WsError::Protocol("fragmented control frame")
        );
        // Close with FIN clear.
        assert_eq!(
            err(&[0x08, 0x80, 0, 0, 0, 0]),
            WsError::Protocol("fragmented control frame")
        );
        // 126 octets of ping (16-bit length form), refused before the payload.
        let mut buf = [0x89, 0xFE];
        assert_eq!(
            Decoder::new(1 << 20, 1 << 20).decode(&mut buf),
            Err(WsError::Protocol("control frame payload over 125 octets"))
        );
        let ping125 = client_frame(true, 0x9, &[7; 125], MASK);
        assert_eq!(decode_one(&ping125), Ok(Ev::Ping(vec![7; 125])));
    }

    #[test]
    fn length_with_high_bit_fails() {
        let mut buf = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(
            Decoder::new(usize::MAX, usize::MAX).decode(&mut buf),
            Err(WsError::Protocol("payload length with its high bit set"))
        );
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        // 2^63 - 1 octets: fits no buffer; with unlimited limits it is TooBig on
        // 32-bit targets and an honest (huge) Incomplete or TooBig on 64-bit ones.
        let mut buf = [
            0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4,
        ];
        match Decoder::new(usize::MAX, usize::MAX).decode(&mut buf) {
            Ok(Decoded::Incomplete { needed }) => assert_eq!(needed as u64, (1u64 << 63) - 1 + 14),
            Err(WsError::TooBig) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            Decoder::new(1 << 20, 1 << 20).decode(&mut buf),
            Err(WsError::TooBig)
        );
    }

    #[test]
    fn frame_over_max_frame_fails_before_payload() {
        let mut dec = Decoder::new(1000, 100);
        // Header announcing 101 octets, no payload yet.
        let mut buf = [0x82, 0xE5, 1, 2, 3, 4];
        assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
        assert_eq!(WsError::TooBig.close_code(), 1009);
        let mut dec = Decoder::new(1000, 100);
        let mut buf = [0x82, 0xE4, 1, 2, 3, 4];
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Incomplete { needed: 106 })
        );
    }

    #[test]
    fn message_over_max_message_fails() {
        // Unfragmented.
        let mut dec = Decoder::new(10, 100);
        let mut buf = [0x82, 0x8B, 1, 2, 3, 4];
        assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
        // First fragment alone is over.
        let mut dec = Decoder::new(10, 100);
        let mut buf = [0x02, 0x8B, 1, 2, 3, 4];
        assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
        // Accumulated fragments: 6 + 4 fit, 6 + 5 fail at the header.
        let mut dec = Decoder::new(10, 100);
        let first = client_frame(false, 0x2, &[1; 6], MASK);
        assert_eq!(decode_stream(&mut dec, &first, &[]), Ok(vec![]));
        let mut probe = Decoder::new(10, 100);
        decode_stream(&mut probe, &first, &[]).expect("first fragment");
        let ok = client_frame(true, 0x0, &[2; 4], MASK);
        assert_eq!(
            decode_stream(&mut probe, &ok, &[]),
            Ok(vec![Ev::Message(
                MessageKind::Binary,
                vec![1, 1, 1, 1, 1, 1, 2, 2, 2, 2]
            )])
        );
        let mut buf = [0x80, 0x85, 1, 2, 3, 4];
        assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
    }

    #[test]
    fn continuation_without_message_fails() {
        assert_eq!(
            err(&client_frame(true, 0x0, b"x", MASK)),
            WsError::Protocol("continuation frame without a message")
        );
        assert_eq!(
            err(&client_frame(false, 0x0, b"x", MASK)),
            WsError::Protocol("continuation frame without a message")
        );
    }

    #[test]
    fn new_message_inside_fragmented_one_fails() {
        for op in [0x1, 0x2] {
            let mut s = client_frame(false, 0x1, b"a", MASK);
            s.extend(client_frame(true, op, b"b", MASK));
            assert_eq!(
                decode_stream(&mut Decoder::new(64, 64), &s, &[]),
                Err(WsError::Protocol(
                    "new data message before the fragmented one ended"
                ))
            );
        }
    }

    #[test]
    fn invalid_utf8_text_fails() {
        let e = err(&client_frame(
            true,
            0x1,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80",
            MASK,
        ));
        assert_eq!(e, WsError::InvalidUtf8);
        assert_eq!(e.close_code(), 1007);
        // Binary is not checked.
        assert_eq!(
            decode_one(&client_frame(true, 0x2, b"\xff", MASK)),
            Ok(Ev::Message(MessageKind::Binary, vec![0xff]))
        );
    }

    #[test]
    fn invalid_utf8_in_fragments_fails_fast() {
        // The bad octet is in the first fragment: fail before the message ends.
        let s = client_frame(false, 0x1, b"ok\xff", MASK);
        assert_eq!(
            decode_stream(&mut Decoder::new(64, 64), &s, &[]),
            Err(WsError::InvalidUtf8)
        );
        // A sequence cut across fragments is fine until the message ends cut.
        let mut s = client_frame(false, 0x1, b"a\xe2\x82", MASK);
        s.extend(client_frame(false, 0x0, b"", MASK));
        let mut dec = Decoder::new(64, 64);
        assert_eq!(decode_stream(&mut dec, &s, &[]), Ok(vec![]));
        assert_eq!(
            decode_stream(&mut dec, &client_frame(true, 0x0, b"\xac", MASK), &[]),
            Ok(vec![Ev::Message(
                MessageKind::Text,
                "a€".as_bytes().to_vec()
            )])
        );
        let mut s = client_frame(false, 0x1, b"a\xe2\x82", MASK);
        s.extend(client_frame(true, 0x0, b"", MASK));
        assert_eq!(
            decode_stream(&mut Decoder::new(64, 64), &s, &[]),
            Err(WsError::InvalidUtf8)
        );
    }

    // --- close frames ---

    #[test]
    fn close_bodies() {
        assert_eq!(
            decode_one(&client_frame(true, 0x8, b"", MASK)),
            Ok(Ev::Close(None))
        );
        assert_eq!(
            decode_one(&client_frame(true, 0x8, b"\x03\xe8", MASK)),
            Ok(Ev::Close(Some((1000, String::new()))))
        );
        assert_eq!(
            decode_one(&client_frame(true, 0x8, b"\x0f\xa0n\xc3\xa9", MASK)),
            Ok(Ev::Close(Some((4000, "né".to_owned()))))
        );
        assert_eq!(
            err(&client_frame(true, 0x8, b"\x03", MASK)),
            WsError::Protocol("close frame body of one octet")
        );
        assert_eq!(
            err(&client_frame(true, 0x8, b"\x03\xe8\xff", MASK)),
            WsError::InvalidUtf8
        );
    }

    #[test]
    fn close_codes() {
        let valid: [u16; 16] = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let invalid: [u16; 12] = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in valid {
            let body = code.to_be_bytes();
            assert_eq!(
                decode_one(&client_frame(true, 0x8, &body, MASK)),
                Ok(Ev::Close(Some((code, String::new())))),
                "code {code}"
            );
        }
        for code in invalid {
            let body = code.to_be_bytes();
            assert_eq!(
                err(&client_frame(true, 0x8, &body, MASK)),
                WsError::Protocol("invalid close code"),
                "code {code}"
            );
        }
    }

    // --- frames out ---

    #[test]
    fn frame_header_length_forms() {
        let cases: [(usize, &[u8]); 6] = [
            (0, &[0x82, 0]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (65535, &[0x82, 126, 0xFF, 0xFF]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (
                0x0123_4567_89AB,
                &[0x82, 127, 0, 0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB],
            ),
        ];
        for (len, want) in cases {
            let (h, n) = frame_header(Opcode::Binary, len);
            assert_eq!(&h[..n], want, "length {len}");
        }
        let (h, n) = frame_header(Opcode::Text, 5);
        assert_eq!(&h[..n], &[0x81, 5]);
        let (h, n) = frame_header(Opcode::Ping, 0);
        assert_eq!(&h[..n], &[0x89, 0]);
        let (h, n) = frame_header(Opcode::Pong, 3);
        assert_eq!(&h[..n], &[0x8A, 3]);
    }

    #[test]
    fn close_frame_encoding() {
        assert_eq!(close_frame(1000, ""), vec![0x88, 2, 0x03, 0xE8]);
        assert_eq!(
            close_frame(1002, "bad"),
            vec![0x88, 5, 0x03, 0xEA, b'b', b'a', b'd']
        );
        // 122 ASCII octets then a 2-octet char: it would end at 124, so it goes.
        let reason = format!("{}é", "x".repeat(122));
        let f = close_frame(1001, &reason);
        assert_eq!(f[1] as usize, 2 + 122);
        assert_eq!(&f[4..], "x".repeat(122).as_bytes());
        let f = close_frame(4000, &"y".repeat(500));
        assert_eq!(f.len(), 2 + 2 + MAX_CLOSE_REASON);
        assert_eq!(f[1] as usize, 125);
        // What we send, a client-side decoder would accept: re-mask and decode.
        let payload = &f[2..];
        assert_eq!(
            decode_one(&client_frame(true, 0x8, payload, MASK)),
            Ok(Ev::Close(Some((4000, "y".repeat(123)))))
        );
    }

    // --- client side: frames ---

    /// A server frame: FIN as given, unmasked, shortest length form.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = client_frame(fin, opcode, payload, [0; 4]);
        // Same layout without the mask bit and the 4 mask octets (a zero mask
        // leaves the payload as it is).
        out[1] &= 0x7F;
        let at = match out[1] {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        out.drain(at..at + 4);
        out
    }

    #[test]
    fn mask_in_place_is_xor_and_its_own_inverse() {
        for len in [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 100, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut buf = data.clone();
            mask_in_place(&mut buf, MASK);
            let want: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ MASK[i % 4])
                .collect();
            assert_eq!(buf, want, "length {len}");
            mask_in_place(&mut buf, MASK);
            assert_eq!(buf, data, "length {len}");
        }
    }

    #[test]
    fn client_frame_header_forms() {
        let cases: [(usize, &[u8]); 4] = [
            (0, &[0x82, 0x80]),
            (125, &[0x82, 0x80 | 125]),
            (126, &[0x82, 0x80 | 126, 0, 126]),
            (65536, &[0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for (len, want) in cases {
            let (h, n) = client_frame_header(Opcode::Binary, len, MASK);
            assert_eq!(n, want.len() + 4, "length {len}");
            assert_eq!(&h[..n - 4], want, "length {len}");
            assert_eq!(&h[n - 4..n], &MASK, "length {len}");
        }
        // RFC 6455 section 5.7: a masked "Hello".
        let (h, n) = client_frame_header(Opcode::Text, 5, MASK);
        let mut frame = h[..n].to_vec();
        let start = frame.len();
        frame.extend_from_slice(b"Hello");
        mask_in_place(&mut frame[start..], MASK);
        assert_eq!(
            frame,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn client_frames_round_trip_through_the_server_decoder() {
        for len in [0usize, 1, 125, 126, 1000, 65535, 65536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (h, n) = client_frame_header(Opcode::Binary, len, MASK);
            let mut frame = h[..n].to_vec();
            frame.extend_from_slice(&payload);
            mask_in_place(&mut frame[n..], MASK);
            assert_eq!(
                frame,
                client_frame(true, 0x2, &payload, MASK),
                "length {len}"
            );
            assert_eq!(
                decode_one(&frame),
                Ok(Ev::Message(MessageKind::Binary, payload)),
                "length {len}"
            );
        }
        let (h, n) = client_frame_header(Opcode::Pong, 3, MASK);
        let mut frame = h[..n].to_vec();
        frame.extend_from_slice(b"abc");
        mask_in_place(&mut frame[n..], MASK);
        assert_eq!(decode_one(&frame), Ok(Ev::Pong(b"abc".to_vec())));
    }

    #[test]
    fn server_frames_round_trip_through_the_client_decoder() {
        for len in [0usize, 1, 125, 126, 1000, 65535, 65536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (h, n) = frame_header(Opcode::Binary, len);
            let mut buf = h[..n].to_vec();
            buf.extend_from_slice(&payload);
            let total = buf.len();
            let mut dec = Decoder::client(1 << 20, 1 << 20);
            match dec.decode(&mut buf) {
                Ok(Decoded::Frame {
                    event: Some(Event::Message(MessageKind::Binary, Payload::Borrowed(p))),
                    consumed,
                }) => {
                    assert_eq!(consumed, total, "length {len}");
                    assert_eq!(p, &payload[..], "length {len}");
                }
                other => panic!("length {len}: {other:?}"),
            }
            // The borrowed payload is the end of the frame, untouched.
            assert_eq!(&buf[total - len..], &payload[..]);
            // Every shorter prefix is incomplete.
            for cut in [0, 1, n - 1, n, total - 1] {
                if cut < total {
                    let mut part = buf[..cut].to_vec();
                    assert!(
                        matches!(dec.decode(&mut part), Ok(Decoded::Incomplete { needed }) if needed > cut),
                        "length {len} cut {cut}"
                    );
                }
            }
        }
        let mut dec = Decoder::client(1024, 1024);
        let text = server_frame(true, 0x1, "héllo".as_bytes());
        assert_eq!(
            decode_one_with(&mut dec, &text),
            Ok(Ev::Message(MessageKind::Text, "héllo".as_bytes().to_vec()))
        );
        assert_eq!(
            decode_one_with(&mut dec, &server_frame(true, 0x9, b"hi")),
            Ok(Ev::Ping(b"hi".to_vec()))
        );
        assert_eq!(
            decode_one_with(&mut dec, &close_frame(1000, "bye")),
            Ok(Ev::Close(Some((1000, "bye".to_owned()))))
        );
        // Fragmented, with a ping between the fragments.
        let mut stream = server_frame(false, 0x1, b"[1,");
        stream.extend(server_frame(true, 0x9, b""));
        stream.extend(server_frame(false, 0x0, b"2"));
        stream.extend(server_frame(true, 0x0, b"]"));
        let cuts: Vec<usize> = (0..stream.len()).collect();
        assert_eq!(
            decode_stream_min(&mut Decoder::client(1024, 1024), &stream, &cuts, 2),
            Ok(vec![
                Ev::Ping(vec![]),
                Ev::Message(MessageKind::Text, b"[1,2]".to_vec())
            ])
        );
    }

    #[test]
    fn client_decoder_keeps_the_server_rules() {
        let err = |bytes: &[u8]| {
            let mut dec = Decoder::client(64, 32);
            dec.decode(&mut bytes.to_vec()).expect_err("should fail")
        };
        // RFC 6455 section 5.1: a masked server frame fails the connection.
        assert_eq!(
            err(&client_frame(true, 0x2, b"x", MASK)),
            WsError::Protocol("server frames must not be masked")
        );
        // And the server decoder still wants its frames masked.
        assert_eq!(
            Decoder::new(64, 64).decode(&mut server_frame(true, 0x2, b"x")),
            Err(WsError::Protocol("client frames must be masked"))
        );
        assert_eq!(
            err(&server_frame(true, 0x1, &[0xC3, 0x28])),
            WsError::InvalidUtf8
        );
        assert_eq!(err(&server_frame(true, 0x2, &[0; 33])), WsError::TooBig);
        assert_eq!(
            err(&server_frame(false, 0x9, b"")),
            WsError::Protocol("fragmented control frame")
        );
        assert_eq!(
            err(&server_frame(true, 0x0, b"x")),
            WsError::Protocol("continuation frame without a message")
        );
        assert_eq!(err(&[0xC2, 0x00]), WsError::Protocol("reserved bits set"));
        let mut stream = server_frame(false, 0x2, &[0; 32]);
        stream.extend(server_frame(false, 0x0, &[0; 32]));
        stream.extend(server_frame(true, 0x0, &[0; 1]));
        assert_eq!(
            decode_stream_min(&mut Decoder::client(64, 32), &stream, &[], 2),
            Err(WsError::TooBig)
        );
    }

    // --- client side: handshake ---

    #[test]
    fn upgrade_request_is_accepted_by_parse_upgrade() {
        let req = upgrade_request("127.0.0.1:8080", "/ws", KEY, "wamp.2.json");
        assert_eq!(
            String::from_utf8(req.clone()).expect("ascii"),
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
        );
        let (parsed, n) = parse_upgrade(&req).expect("valid").expect("complete");
        assert_eq!(n, req.len());
        assert_eq!(
            parsed,
            UpgradeRequest {
                path: "/ws".to_owned(),
                key: KEY.to_owned(),
                protocols: vec!["wamp.2.json".to_owned()],
            }
        );
        let plain = upgrade_request("h", "/", KEY, "");
        let (parsed, _) = parse_upgrade(&plain).expect("valid").expect("complete");
        assert!(parsed.protocols.is_empty());
    }

    #[test]
    fn parses_switching_protocols_with_trailing_frames() {
        let mut resp = switching_protocols(KEY, "wamp.2.cbor");
        let head = resp.len();
        assert_eq!(
            parse_upgrade_response(&resp, KEY),
            Ok(Some(("wamp.2.cbor".to_owned(), head)))
        );
        for cut in 0..head {
            assert_eq!(
                parse_upgrade_response(&resp[..cut], KEY),
                Ok(None),
                "cut at {cut}"
            );
        }
        resp.extend(server_frame(true, 0x1, b"[2]"));
        let (_, n) = parse_upgrade_response(&resp, KEY)
            .expect("valid")
            .expect("complete");
        assert_eq!(&resp[n..], &server_frame(true, 0x1, b"[2]")[..]);
        // No subprotocol chosen; header names and tokens in any case.
        assert_eq!(
            parse_upgrade_response(&switching_protocols(KEY, ""), KEY),
            Ok(Some((
                String::new(),
                head - "Sec-WebSocket-Protocol: wamp.2.cbor\r\n".len()
            )))
        );
        let lenient = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
                       sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";
        assert_eq!(
            parse_upgrade_response(lenient.as_bytes(), KEY),
            Ok(Some((String::new(), lenient.len())))
        );
    }

    #[test]
    fn refused_upgrade_responses() {
        let ok = String::from_utf8(switching_protocols(KEY, "wamp.2.json")).expect("ascii");
        let check = |resp: &str| parse_upgrade_response(resp.as_bytes(), KEY);
        // Another key's accept value.
        let other = "x3JJHMbDL1EzLkh9GBhXDw==";
        assert_eq!(
            parse_upgrade_response(ok.as_bytes(), other),
            Err(HandshakeError::BadAccept)
        );
        assert_eq!(
            check(&ok.replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "")),
            Err(HandshakeError::BadAccept)
        );
        assert_eq!(
            check(&String::from_utf8(http_error(400, "bad\n")).expect("ascii")),
            Err(HandshakeError::Status(400))
        );
        assert_eq!(
            check(&ok.replace("101 Switching Protocols", "200 OK")),
            Err(HandshakeError::Status(200))
        );
        assert_eq!(
            check(&ok.replace("Upgrade: websocket\r\n", "")),
            Err(HandshakeError::NoUpgrade)
        );
        assert_eq!(
            check(&ok.replace("Connection: Upgrade", "Connection: close")),
            Err(HandshakeError::NoConnectionUpgrade)
        );
        assert_eq!(
            check(&ok.replace(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            )),
            Err(HandshakeError::Extension)
        );
        assert_eq!(
            check(&ok.replace("wamp.2.json", "wamp.2.json, wamp.2.cbor")),
            Err(HandshakeError::BadProtocol)
        );
        assert_eq!(
            check(&ok.replace("HTTP/1.1", "HTTP/1.0")),
            Err(HandshakeError::Malformed)
        );
        assert_eq!(check("garbage\r\n\r\n"), Err(HandshakeError::Malformed));
        let mut big = b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: ".to_vec();
        big.resize(MAX_RESPONSE_HEAD - 1, b'a');
        assert_eq!(parse_upgrade_response(&big, KEY), Ok(None));
        big.push(b'a');
        assert_eq!(
            parse_upgrade_response(&big, KEY),
            Err(HandshakeError::Malformed)
        );
    }

    // --- handshake ---

    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    fn refusal(req: &str) -> HttpRefusal {
        parse_upgrade(req.as_bytes()).expect_err("should be refused")
    }

    #[test]
    fn accept_key_rfc_example() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn parses_rfc_request() {
        let (req, n) = parse_upgrade(RFC_REQUEST.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(n, RFC_REQUEST.len());
        assert_eq!(
            req,
            UpgradeRequest {
                path: "/chat".to_owned(),
                key: KEY.to_owned(),
                protocols: vec!["chat".to_owned(), "superchat".to_owned()],
            }
        );
    }

    #[test]
    fn parses_lenient_variants_and_trailing_frames() {
        let head = "GET /ws?realm=x&y=1 HTTP/1.1\r\n\
            host: a\r\n\
            UPGRADE: WebSocket\r\n\
            connection: keep-alive, Upgrade\r\n\
            sec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  \r\n\
            sec-websocket-protocol: wamp.2.json\r\n\
            Sec-WebSocket-Protocol:  wamp.2.msgpack ,wamp.2.cbor\r\n\
            sec-websocket-version: 13\r\n\r\n";
        let mut bytes = head.as_bytes().to_vec();
        let frame = client_frame(true, 0x1, b"[1]", MASK);
        bytes.extend_from_slice(&frame);
        let (req, n) = parse_upgrade(&bytes).expect("valid").expect("complete");
        assert_eq!(n, head.len());
        assert_eq!(req.path, "/ws");
        assert_eq!(req.key, KEY);
        assert_eq!(
            req.protocols,
            vec!["wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"]
        );
        assert_eq!(&bytes[n..], &frame[..]);
        // No subprotocol header at all.
        let plain = RFC_REQUEST.replace("Sec-WebSocket-Protocol: chat, superchat\r\n", "");
        let (req, _) = parse_upgrade(plain.as_bytes())
            .expect("valid")
            .expect("complete");
        assert!(req.protocols.is_empty());
        // Absolute-form target.
        let abs = RFC_REQUEST.replace("GET /chat ", "GET http://server.example.com/x/y?q ");
        let (req, _) = parse_upgrade(abs.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(req.path, "/x/y");
    }

    #[test]
    fn partial_head_is_none_at_every_cut() {
        let bytes = RFC_REQUEST.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(parse_upgrade(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_head_is_431() {
        let mut big = b"GET /chat HTTP/1.1\r\nX-Pad: ".to_vec();
        big.resize(MAX_REQUEST_HEAD, b'a');
        assert_eq!(parse_upgrade(&big[..MAX_REQUEST_HEAD - 1]), Ok(None));
        assert_eq!(parse_upgrade(&big).map_err(|r| r.status), Err(431));
        big.extend_from_slice(b"aaaa\r\n\r\n");
        assert_eq!(parse_upgrade(&big).map_err(|r| r.status), Err(431));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut req = String::from("GET /chat HTTP/1.1\r\n");
        for i in 0..100 {
            req.push_str(&format!("X-H{i}: v\r\n"));
        }
        req.push_str("\r\n");
        assert_eq!(refusal(&req).status, 431);
    }

    #[test]
    fn refusals() {
        let r = refusal(&RFC_REQUEST.replace("GET", "POST"));
        assert_eq!(r.status, 405);
        assert!(r.body.ends_with('\n'));
        assert_eq!(
            refusal(&RFC_REQUEST.replace("HTTP/1.1", "HTTP/1.0")),
            HttpRefusal::new(400, "a WebSocket upgrade needs HTTP/1.1\n")
        );
        assert_eq!(
            refusal("GET /chat HTTP/1.1\r\nbad header\r\n\r\n").status,
            400
        );
        assert_eq!(refusal("\x01\x02\x03 nonsense\r\n\r\n").status, 400);
        assert_eq!(
            refusal(&RFC_REQUEST.replace("Upgrade: websocket\r\n", "")),
            HttpRefusal::new(400, "missing header field \"Upgrade: websocket\"\n")
        );
        assert_eq!(
            refusal(&RFC_REQUEST.replace("Upgrade: websocket", "Upgrade: h2c")).status,
            400
        );
        assert_eq!(
            refusal(&RFC_REQUEST.replace("Connection: Upgrade", "Connection: keep-alive")),
            HttpRefusal::new(400, "missing header field \"Connection: Upgrade\"\n")
        );
        assert_eq!(
            refusal(&RFC_REQUEST.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
            HttpRefusal::new(400, "missing Sec-WebSocket-Key\n")
        );
        for bad in [
            "abc",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZQ=!",
            "dGhlIHNhbXBsZSBub25jZSE=",
            "dGhlIHNhbXBsZSBub25jZSEh",
        ] {
            assert_eq!(
                refusal(&RFC_REQUEST.replace(KEY, bad)),
                HttpRefusal::new(400, "malformed Sec-WebSocket-Key\n"),
                "key {bad}"
            );
        }
        let two_keys = RFC_REQUEST.replace(
            "Origin:",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin:",
        );
        assert_eq!(refusal(&two_keys).status, 400);
        for version in [
            "Sec-WebSocket-Version: 8\r\n",
            "Sec-WebSocket-Version: 13, 8\r\n",
            "",
        ] {
            let r = refusal(&RFC_REQUEST.replace("Sec-WebSocket-Version: 13\r\n", version));
            assert_eq!(r.status, 426, "{version:?}");
        }
    }

    #[test]
    fn switching_protocols_response() {
        assert_eq!(
            String::from_utf8(switching_protocols(KEY, "wamp.2.json")).expect("ascii"),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
        );
    }

    #[test]
    fn refusal_responses() {
        let text = |r: Vec<u8>| String::from_utf8(r).expect("ascii");
        assert_eq!(
            text(http_error(400, "bad key\n")),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\
             Connection: close\r\n\r\nbad key\n"
        );
        assert_eq!(
            text(http_error(426, "v\n")),
            "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
             Connection: close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\nv\n"
        );
        assert_eq!(
            text(http_error(405, "")),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\
             Connection: close\r\nAllow: GET\r\n\r\n"
        );
        for (status, phrase) in [
            (404, "Not Found"),
            (431, "Request Header Fields Too Large"),
            (503, "Service Unavailable"),
            (418, "Client Error"),
        ] {
            let r = text(http_error(status, "x\n"));
            assert!(
                r.starts_with(&format!("HTTP/1.1 {status} {phrase}\r\n")),
                "{r}"
            );
        }
    }

    // --- property: what a client sends is what the decoder returns ---

    #[derive(Debug, Clone)]
    enum Msg {
        Data(MessageKind, Vec<u8>),
        Ping(Vec<u8>),
    }

    fn msg() -> impl Strategy<Value = Msg> {
        prop_oneof![
            ".{0,60}".prop_map(|s| Msg::Data(MessageKind::Text, s.into_bytes())),
            proptest::collection::vec(any::<u8>(), 0..400)
                .prop_map(|b| Msg::Data(MessageKind::Binary, b)),
            proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Msg::Ping),
        ]
    }

    /// Decodes frame after frame until the input runs out, is incomplete or
    /// fails, checking that `consumed` and `needed` stay consistent.
    fn walk_frames(
        dec: &mut Decoder,
        buf: &mut [u8],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut at = 0;
        while at < buf.len() {
            let len = buf.len() - at;
            match dec.decode(&mut buf[at..]) {
                Ok(Decoded::Frame { consumed, .. }) => {
                    prop_assert!(consumed <= len && consumed > 0);
                    at += consumed;
                }
                Ok(Decoded::Incomplete { needed }) => {
                    prop_assert!(needed > len);
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decoder_returns_what_a_client_sent(
            msgs in proptest::collection::vec(msg(), 0..8),
            frag_seed in proptest::collection::vec(any::<u16>(), 64),
            masks in proptest::collection::vec(any::<[u8; 4]>(), 64),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
            ping_between in any::<bool>(),
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            let mut seed = frag_seed.iter().cycle();
            let mut mask = masks.iter().cycle();
            for m in &msgs {
                match m {
                    Msg::Ping(p) => {
                        stream.extend(client_frame(true, 0x9, p, *mask.next().expect("cycle")));
                        expected.push(Ev::Ping(p.clone()));
                    }
                    Msg::Data(kind, data) => {
                        // Split into 1..=4 fragments at arbitrary octets (also
                        // inside UTF-8 sequences).
                        let pieces = 1 + usize::from(*seed.next().expect("cycle")) % 4;
                        let mut bounds: Vec<usize> = (1..pieces)
                            .map(|_| usize::from(*seed.next().expect("cycle")) % (data.len() + 1))
                            .collect();
                        bounds.sort_unstable();
                        bounds.insert(0, 0);
                        bounds.push(data.len());
                        let n = bounds.len() - 1;
                        for i in 0..n {
                            let op = if i > 0 { 0x0 } else if *kind == MessageKind::Text { 0x1 } else { 0x2 };
                            let piece = &data[bounds[i]..bounds[i + 1]];
                            stream.extend(client_frame(i + 1 == n, op, piece, *mask.next().expect("cycle")));
                            if ping_between && i + 1 < n {
                                stream.extend(client_frame(true, 0xA, b"pong", *mask.next().expect("cycle")));
                                expected.push(Ev::Pong(b"pong".to_vec()));
                            }
                        }
                        expected.push(Ev::Message(*kind, data.clone()));
                    }
                }
            }
            let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            offsets.sort_unstable();
            let mut dec = Decoder::new(1 << 16, 1 << 16);
            let got = decode_stream(&mut dec, &stream, &offsets);
            prop_assert_eq!(got, Ok(expected));
            prop_assert!(!dec.in_message());
        }

        #[test]
        fn client_decoder_returns_what_a_server_sent(
            msgs in proptest::collection::vec(msg(), 0..8),
            frag_seed in proptest::collection::vec(any::<u16>(), 64),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            let mut seed = frag_seed.iter().cycle();
            for m in &msgs {
                match m {
                    Msg::Ping(p) => {
                        stream.extend(server_frame(true, 0x9, p));
                        expected.push(Ev::Ping(p.clone()));
                    }
                    Msg::Data(kind, data) => {
                        let pieces = 1 + usize::from(*seed.next().expect("cycle")) % 3;
                        let mut bounds: Vec<usize> = (1..pieces)
                            .map(|_| usize::from(*seed.next().expect("cycle")) % (data.len() + 1))
                            .collect();
                        bounds.sort_unstable();
                        bounds.insert(0, 0);
                        bounds.push(data.len());
                        let n = bounds.len() - 1;
                        for i in 0..n {
                            let op = if i > 0 { 0x0 } else if *kind == MessageKind::Text { 0x1 } else { 0x2 };
                            stream.extend(server_frame(i + 1 == n, op, &data[bounds[i]..bounds[i + 1]]));
                        }
                        expected.push(Ev::Message(*kind, data.clone()));
                    }
                }
            }
            let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            offsets.sort_unstable();
            let mut dec = Decoder::client(1 << 16, 1 << 16);
            prop_assert_eq!(decode_stream_min(&mut dec, &stream, &offsets, 2), Ok(expected));
            prop_assert!(!dec.in_message());
        }

        #[test]
        fn client_side_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), max in 0usize..300) {
            let mut dec = Decoder::client(max, max / 2);
            let mut buf = bytes;
            walk_frames(&mut dec, &mut buf)?;
            let _ = parse_upgrade_response(&buf, KEY);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), max in 0usize..300) {
            let mut dec = Decoder::new(max, max / 2);
            let mut buf = bytes;
            walk_frames(&mut dec, &mut buf)?;
            let _ = parse_upgrade(&buf);
        }
    }
}

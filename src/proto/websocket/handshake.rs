//! The WebSocket opening handshake (RFC 6455 section 4), both sides.
//!
//! Server side: the request head is parsed by the HTTP layer
//! ([`crate::proto::http::parse_request_head`]: syntax, limits, and the
//! `Host` rule of RFC 9112 section 3.2, so a request without `Host` is
//! refused with 400), then [`check_upgrade`] checks the upgrade itself.
//! [`parse_upgrade`] does both on the bytes read so far, for a transport that
//! serves WebSocket only.

use super::{MAX_REQUEST_HEAD, MAX_RESPONSE_HEAD};
use crate::proto::http::response::reason_phrase;
use crate::proto::http::{HttpError, Limits, Method, RequestHead, Version, parse_request_head};

/// A client's upgrade request, as far as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request target's path (without the query, still percent-encoded).
    pub path: String,
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// Every `Sec-WebSocket-Protocol` value, over all such headers, comma-split
    /// and trimmed, in the client's order.
    pub protocols: Vec<String>,
    /// The `Sec-WebSocket-Extensions` field values, in order, as sent (see
    /// [`super::deflate::negotiate`]); values that are not text are left out.
    pub extensions: Vec<String>,
    /// The cookies of the `Cookie` header(s), `(name, value)` in order
    /// (cookie tracking reads its own).
    pub cookies: Vec<(String, String)>,
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

    pub(super) fn new(status: u16, body: &str) -> Self {
        HttpRefusal {
            status,
            body: body.to_owned(),
        }
    }
}

impl From<HttpError> for HttpRefusal {
    /// The HTTP layer's refusal, its reason as the body.
    fn from(e: HttpError) -> Self {
        HttpRefusal {
            status: e.status,
            body: format!("{}\n", e.reason),
        }
    }
}

/// Header fields accepted in an upgrade request; more is a 431.
pub(super) const MAX_HEADERS: usize = 64;

/// The limits [`parse_upgrade`] reads a request head under.
fn upgrade_limits() -> Limits {
    Limits {
        max_head: MAX_REQUEST_HEAD,
        max_headers: MAX_HEADERS,
        ..Limits::default()
    }
}

/// Parses the upgrade request at the start of `buf`: the head
/// ([`parse_request_head`], at most [`MAX_REQUEST_HEAD`] octets and 64
/// fields), then [`check_upgrade`].
///
/// `Ok(None)`: the head is not complete yet (and shorter than
/// [`MAX_REQUEST_HEAD`]). `Ok(Some((request, consumed)))`: the request and the
/// length of its head; bytes after it are the client's first frames.
///
/// # Errors
/// A refusal: malformed HTTP (400), a head over [`MAX_REQUEST_HEAD`] or
/// with too many fields (431), a target over 8 KiB (414), an HTTP version
/// other than 1.0 and 1.1 (505), no `Host` (400), or anything
/// [`check_upgrade`] refuses.
pub fn parse_upgrade(buf: &[u8]) -> Result<Option<(UpgradeRequest, usize)>, HttpRefusal> {
    match parse_request_head(buf, &upgrade_limits())? {
        None => Ok(None),
        Some(head) => check_upgrade(&head).map(|req| Some((req, head.len()))),
    }
}

/// Checks that a parsed request head is a WebSocket upgrade request (RFC 6455
/// section 4.2.1) and returns what the router needs of it.
///
/// # Errors
/// A refusal: a method other than GET (405), not HTTP/1.1, no
/// `Upgrade: websocket` or no `Connection: upgrade` token (400), a missing,
/// repeated or malformed `Sec-WebSocket-Key` (400), a
/// `Sec-WebSocket-Protocol` that is not text (400), a `Sec-WebSocket-Version`
/// other than 13 (426). (A head has a `Host`: the parser refuses one without.)
pub fn check_upgrade<B: AsRef<[u8]>>(head: &RequestHead<B>) -> Result<UpgradeRequest, HttpRefusal> {
    if head.method() != Method::Get {
        return Err(HttpRefusal::new(
            405,
            "a WebSocket upgrade must use the GET method\n",
        ));
    }
    if head.version() != Version::Http11 {
        return Err(HttpRefusal::new(
            400,
            "a WebSocket upgrade needs HTTP/1.1\n",
        ));
    }
    let headers = head.headers();
    if !headers.has_token("upgrade", "websocket") {
        return Err(HttpRefusal::new(
            400,
            "missing header field \"Upgrade: websocket\"\n",
        ));
    }
    if !headers.has_token("connection", "upgrade") {
        return Err(HttpRefusal::new(
            400,
            "missing header field \"Connection: Upgrade\"\n",
        ));
    }
    let mut versions = headers.get_all("sec-websocket-version").peekable();
    if versions.peek().is_none() || !versions.all(|v| v == b"13") {
        return Err(HttpRefusal::new(
            426,
            "unsupported or missing Sec-WebSocket-Version: only 13 is supported\n",
        ));
    }
    let mut keys = headers.get_all("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key) => key,
        (None, _) => return Err(HttpRefusal::new(400, "missing Sec-WebSocket-Key\n")),
        _ => return Err(HttpRefusal::new(400, "malformed Sec-WebSocket-Key\n")),
    };
    let key = std::str::from_utf8(key)
        .expect("a key that decodes as base64 is ASCII")
        .to_owned();
    let mut protocols = Vec::new();
    for value in headers.get_all("sec-websocket-protocol") {
        let Ok(value) = std::str::from_utf8(value) else {
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
    let extensions = headers
        .get_all("sec-websocket-extensions")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
        .collect();
    let cookies = crate::proto::http::cookie::cookies(&headers)
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Ok(UpgradeRequest {
        path: head.path().to_owned(),
        key,
        protocols,
        extensions,
        cookies,
    })
}

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
    switching_protocols_with(key, subprotocol, "")
}

/// [`switching_protocols`] with a `Sec-WebSocket-Extensions` value (left
/// out when empty), for an agreed extension such as permessage-deflate.
pub fn switching_protocols_with(key: &str, subprotocol: &str, extensions: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if !subprotocol.is_empty() {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(subprotocol);
        out.push_str("\r\n");
    }
    if !extensions.is_empty() {
        out.push_str("Sec-WebSocket-Extensions: ");
        out.push_str(extensions);
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

//! HTTP/1.1 (RFC 9110, RFC 9112), server side, sans-IO: everything of the web
//! transport that only looks at bytes. The I/O driver (the web server on the
//! shard reactors, built on the shared connection driver) owns the socket, the
//! buffers, the clock and the timeouts; this module owns the rules.
//!
//! - [`head`]: a request head ([`RequestHead`]: method, target, version,
//!   header fields) parsed with `httparse` under [`Limits`] (431, 414, 400,
//!   505), borrowed from the read buffer or owned (`RequestHead<Bytes>`, split
//!   off the buffer without a copy).
//! - [`framing`]: what a request head says about its body and its connection
//!   (Content-Length, chunked, `Expect: 100-continue`, keep-alive, upgrade),
//!   with the request-smuggling rules (RFC 9112 section 6).
//! - [`body`]: body framing both ways: Content-Length and chunked decoding
//!   (chunk extensions, trailers, size limit) and chunked encoding.
//! - [`request`]: the request head writer (for requests the router sends).
//! - [`response`]: the response head writer (status line, reason phrase,
//!   `Date`, `Content-Length` or chunked, `Connection`) and error responses.
//! - [`conn`]: the connection state machine: fed bytes, it yields request
//!   heads, body pieces and ends; it writes response heads with the right
//!   framing, keeps pipelined responses in order and says when the
//!   connection must close.
//! - Path services' pure parts: [`path`] (percent-decoding, static-file path
//!   normalisation that can never leave the root, query strings), [`mime`],
//!   [`conditional`] (ETag, Last-Modified: 304 and 412), [`range`] (206, 416),
//!   [`listing`] (directory listing HTML), [`cookie`] (`Cookie`,
//!   `Set-Cookie`), [`date`] (HTTP-date), [`gateway`] (CGI environment and
//!   script output, upstream response heads, hop-by-hop fields).
//!
//! This module imports nothing outside `crate::proto` (and no runtime, socket
//! or clock: the current time is always a parameter). The WebSocket upgrade
//! check ([`crate::proto::websocket::check_upgrade`]) works on a
//! [`RequestHead`] from here.
//!
//! An [`HttpError`] always means: answer with its status (see
//! [`response::error_response`]) and close the connection.

pub mod body;
pub mod conditional;
pub mod conn;
pub mod cookie;
pub mod date;
pub mod framing;
pub mod gateway;
pub mod head;
pub mod listing;
pub mod mime;
pub mod path;
pub mod range;
pub mod request;
pub mod response;

pub use body::{BodyDecoder, Chunk, ChunkedDecoder, Trailers};
pub use conn::{Connection, Event, Phase, Request};
pub use date::HttpDate;
pub use framing::{BodyLength, Framing};
pub use head::{Headers, RequestHead, parse_request_head};
pub use response::{
    BodyWrite, FixedFields, ResponseBody, ResponseHead, ResponsePlan, error_response,
};

/// The HTTP version of a request. Only HTTP/1.0 and HTTP/1.1 are spoken;
/// any other version is answered with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each response unless the client
    /// asks for `Connection: keep-alive`; no chunked bodies.
    Http10,
    /// HTTP/1.1: persistent connections, chunked bodies, `Host` required.
    Http11,
}

/// A request method. Extension methods (any other token) are
/// [`Method::Other`]; [`RequestHead::method_str`] has their name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD: a GET whose response has no body.
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// PATCH
    Patch,
    /// TRACE
    Trace,
    /// CONNECT (its target is an authority, `host:port`).
    Connect,
    /// Any other method token.
    Other,
}

impl Method {
    /// The method named by `token` (case-sensitive, as RFC 9110 says).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// The method's name; `None` for [`Method::Other`].
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other => return None,
        })
    }
}

/// The limits on what a client may send. Every one is enforced; each says
/// which status a request over it gets. [`Limits::default`] holds the
/// defaults; the web transport's configuration is to set them (the driver
/// and its config keys are not built yet, see docs/architecture.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request head (request line and header fields, with their line
    /// ends); longer is 431. Also the longest trailer section of a chunked
    /// body (431). Default 16 KiB.
    pub max_head: usize,
    /// Longest request target; longer is 414. Default 8 KiB.
    pub max_target: usize,
    /// Most header fields in a request head (and in a trailer section); more
    /// is 431. Default 100; at most [`MAX_HEADERS_CAP`].
    pub max_headers: usize,
    /// Largest request body, as declared by Content-Length or as the sum of
    /// its chunks; larger is 413. The driver may lower (or raise) it per
    /// request once it knows the path ([`Connection::set_body_limit`]).
    /// Default 16 MiB.
    pub max_body: u64,
    /// Longest chunk-size line of a chunked body, with its chunk extensions;
    /// longer is 400. Default 4 KiB.
    pub max_chunk_line: usize,
    /// Most requests read ahead of their responses (pipelining); past it the
    /// connection stops reading until a response is done. Default 16.
    pub max_pipelined: usize,
}

/// The most header fields a [`Limits::max_headers`] can allow (they are
/// parsed into a stack array of this size).
pub const MAX_HEADERS_CAP: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_target: 8 * 1024,
            max_headers: 100,
            max_body: 16 * 1024 * 1024,
            max_chunk_line: 4 * 1024,
            max_pipelined: 16,
        }
    }
}

/// A request the server must refuse: answer with `status` (and `reason` as
/// the plain-text body, see [`response::error_response`]), then close the
/// connection. Small and `Copy`: no allocation on the error path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (HTTP {status})")]
pub struct HttpError {
    /// The status code: 400, 413, 414, 417, 431, 501 or 505.
    pub status: u16,
    /// Why, in a few words (no trailing newline).
    pub reason: &'static str,
}

impl HttpError {
    /// 400 Bad Request.
    pub const fn bad_request(reason: &'static str) -> Self {
        HttpError {
            status: 400,
            reason,
        }
    }

    /// An error with any status.
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }
}

/// Whether `b` may appear in a token (RFC 9110 section 5.6.2: method names,
/// header field names, transfer codings, cookie names).
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Whether `s` is a non-empty token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// The elements of a comma-separated list value (RFC 9110 section 5.6.1),
/// trimmed, empty elements skipped.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_their_names() {
        for m in [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Patch,
            Method::Trace,
            Method::Connect,
        ] {
            let name = m.name().expect("a known method has a name");
            assert_eq!(Method::from_token(name), m);
        }
        assert_eq!(Method::from_token("get"), Method::Other);
        assert_eq!(Method::from_token("PROPFIND"), Method::Other);
        assert_eq!(Method::Other.name(), None);
    }

    #[test]
    fn tokens_and_lists() {
        assert!(is_token(b"Content-Type"));
        assert!(is_token(b"x!#$%&'*+-.^_`|~9"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"\xc3\xa9"));
        let v: Vec<&[u8]> = list_elements(b" a, ,b ,, c\t").collect();
        assert_eq!(v, [&b"a"[..], b"b", b"c"]);
        assert_eq!(list_elements(b" , ").count(), 0);
    }

    #[test]
    fn error_display_names_status_and_reason() {
        let e = HttpError::new(431, "too many header fields");
        assert_eq!(e.to_string(), "too many header fields (HTTP 431)");
        assert_eq!(HttpError::bad_request("x").status, 400);
    }
}

//! The response head writer (RFC 9112 section 4, RFC 9110 section 15): status
//! line with reason phrase, `Date`, the caller's header fields, then the
//! framing fields this module decides: `Content-Length` or
//! `Transfer-Encoding: chunked` (or none, for a body delimited by closing the
//! connection), and `Connection`.
//!
//! The framing follows the request: a HEAD answer carries the GET answer's
//! header fields but no body; 1xx, 204 and 304 never have a body; an
//! HTTP/1.0 client gets no chunked coding (its body ends when the connection
//! closes). [`crate::proto::http::Connection::write_head`] supplies the
//! request's side; [`ResponseHead::write`] takes it as a [`RequestContext`].

use super::date::{DATE_LEN, HttpDate};
use super::{HttpError, Method, Version, is_token};

/// The reason phrase of `status` (RFC 9110 section 15); an unknown code gets
/// its class's name.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Unknown",
        },
    }
}

/// A header field the writer refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHeader {
    /// The name is not a token.
    #[error("header field name is not a token")]
    Name,
    /// The value holds CR, LF, NUL or another control octet but HTAB (a
    /// response-splitting attempt, for values that come from a request).
    #[error("header field value with a control character")]
    Value,
    /// `Content-Length`, `Transfer-Encoding`, `Connection` and `Date` are
    /// written by the writer itself, from [`ResponseBody`] and the connection.
    #[error("header field managed by the writer")]
    Managed,
}

/// Checks a field for writing: a token name, a value without control octets
/// (HTAB allowed).
pub(crate) fn check_field(name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
    if !is_token(name.as_bytes()) {
        return Err(InvalidHeader::Name);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7F) {
        return Err(InvalidHeader::Value);
    }
    Ok(())
}

/// Header field lines added to every answer of a connection (e.g. a site's
/// `Strict-Transport-Security` on TLS connections), checked and written out
/// once ([`Connection::set_fixed_fields`](super::Connection::set_fixed_fields)),
/// shared by every connection of the site: no answer clones its head to add
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedFields(std::rc::Rc<[u8]>);

impl FixedFields {
    /// The fields `name: value`, in order.
    ///
    /// # Errors
    /// [`InvalidHeader`], as [`ResponseHead::header`] checks them.
    pub fn new(fields: &[(&str, &[u8])]) -> Result<Self, InvalidHeader> {
        let mut out = Vec::new();
        for &(name, value) in fields {
            check_field(name, value)?;
            if is_managed(name) {
                return Err(InvalidHeader::Managed);
            }
            push_line(&mut out, name, value);
        }
        Ok(FixedFields(out.into()))
    }

    /// The field lines, each `name: value\r\n`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Whether the writer writes field `name` itself.
fn is_managed(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection", "date"]
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m))
}

/// Appends `name: value\r\n`.
fn push_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A response body's length, as the application knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body: `Content-Length: 0`.
    Empty,
    /// Exactly this many octets: `Content-Length`.
    Length(u64),
    /// Not known in advance: chunked for HTTP/1.1 clients, delimited by
    /// closing the connection for HTTP/1.0 clients.
    Streamed,
}

/// How the driver must send the body after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyWrite {
    /// No body at all (HEAD, 1xx, 204, 304, an empty body, or 101 after
    /// which the connection speaks another protocol).
    None,
    /// Exactly this many octets, as they are.
    Length(u64),
    /// Chunks ([`super::body::encode_chunk`]), then
    /// [`super::body::encode_last_chunk`].
    Chunked,
    /// The octets as they are, then close the connection.
    UntilClose,
}

/// What the driver must do after writing a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePlan {
    /// How to send the body.
    pub body: BodyWrite,
    /// Close the connection once the body is sent (the head says
    /// `Connection: close`, or the body is delimited by the close).
    pub close: bool,
}

/// What the writer needs to know of the request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestContext {
    /// The request was HEAD: header fields as for GET, no body.
    pub head: bool,
    /// The request's version.
    pub version: Version,
    /// Whether the connection may persist after this response (see
    /// [`super::Framing::keep_alive`]).
    pub keep_alive: bool,
}

impl Default for RequestContext {
    /// No request known (a refusal before one was read): HTTP/1.1, not HEAD,
    /// close afterwards.
    fn default() -> Self {
        RequestContext {
            head: false,
            version: Version::Http11,
            keep_alive: false,
        }
    }
}

/// A response head being built: status, header fields, body length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code (100..=999; others are written as 500).
    status: u16,
    /// The header fields, each written as `name: value\r\n`.
    fields: Vec<u8>,
    /// The body's length.
    body: ResponseBody,
    /// Close the connection after this response.
    close: bool,
}

impl ResponseHead {
    /// A head with `status` and no fields, for an empty body.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            // Room for a bridge or WebSocket answer's fields without growing.
            fields: Vec::with_capacity(256),
            body: ResponseBody::Empty,
            close: false,
        }
    }

    /// A 405 answer with `Allow` listing `allowed`.
    pub fn method_not_allowed(allowed: &[Method]) -> Self {
        let mut allow = String::new();
        for name in allowed.iter().filter_map(|m| m.name()) {
            if !allow.is_empty() {
                allow.push_str(", ");
            }
            allow.push_str(name);
        }
        let mut head = ResponseHead::new(405);
        head.push_field("Allow", allow.as_bytes());
        head
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Adds a header field (after those added before; repeated names are
    /// written as repeated lines, as `Set-Cookie` needs).
    ///
    /// # Errors
    /// [`InvalidHeader`]: the name is not a token, the value holds a control
    /// octet (CR and LF included), or the name is one the writer manages.
    pub fn header(
        &mut self,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<&mut Self, InvalidHeader> {
        let value = value.as_ref();
        check_field(name, value)?;
        if is_managed(name) {
            return Err(InvalidHeader::Managed);
        }
        self.push_field(name, value);
        Ok(self)
    }

    /// Adds a header field given in the code (not from a request): checked
    /// in debug builds only, as [`ResponseHead::header`] checks.
    pub fn header_static(&mut self, name: &'static str, value: &'static str) -> &mut Self {
        debug_assert!(
            check_field(name, value.as_bytes()).is_ok() && !is_managed(name),
            "invalid static field {name}"
        );
        self.push_field(name, value.as_bytes());
        self
    }

    fn push_field(&mut self, name: &str, value: &[u8]) {
        push_line(&mut self.fields, name, value);
    }

    /// Sets the body's length.
    pub fn body(&mut self, body: ResponseBody) -> &mut Self {
        self.body = body;
        self
    }

    /// Asks for the connection to close after this response.
    pub fn close(&mut self) -> &mut Self {
        self.close = true;
        self
    }

    /// Writes the head for a request described by `request`, with `date`,
    /// to `out`, and says how the body must follow.
    pub fn write(
        &self,
        request: RequestContext,
        date: HttpDate,
        out: &mut Vec<u8>,
    ) -> ResponsePlan {
        self.write_with_date(request, &date.to_bytes(), &[], out)
    }

    /// [`ResponseHead::write`] with the date already formatted (the
    /// connection formats it once a second) and `fixed` field lines
    /// (already checked: [`FixedFields`]) after the head's own.
    pub(crate) fn write_with_date(
        &self,
        request: RequestContext,
        date: &[u8; DATE_LEN],
        fixed: &[u8],
        out: &mut Vec<u8>,
    ) -> ResponsePlan {
        let status = if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        };
        out.reserve(64 + self.fields.len() + fixed.len() + DATE_LEN);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        let interim = status < 200;
        if !interim {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(date);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.fields);
        out.extend_from_slice(fixed);

        let mut close = self.close || !request.keep_alive;
        let mut body = BodyWrite::None;
        if status == 101 {
            out.extend_from_slice(b"Connection: Upgrade\r\n\r\n");
            return ResponsePlan { body, close: false };
        }
        if interim {
            out.extend_from_slice(b"\r\n");
            return ResponsePlan { body, close: false };
        }
        if status != 204 && status != 304 {
            match self.body {
                ResponseBody::Empty => out.extend_from_slice(b"Content-Length: 0\r\n"),
                ResponseBody::Length(n) => {
                    out.extend_from_slice(b"Content-Length: ");
                    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                    out.extend_from_slice(b"\r\n");
                    body = BodyWrite::Length(n);
                }
                ResponseBody::Streamed if request.head => {}
                ResponseBody::Streamed if request.version == Version::Http11 => {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                    body = BodyWrite::Chunked;
                }
                ResponseBody::Streamed => {
                    body = BodyWrite::UntilClose;
                    close = true;
                }
            }
        }
        if request.head || body == BodyWrite::Length(0) {
            body = BodyWrite::None;
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if request.version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        ResponsePlan { body, close }
    }
}

/// The whole answer to a refused request: its status, `Date`,
/// `Content-Type: text/plain; charset=utf-8`, `Connection: close` and the
/// reason as the body (with a newline).
pub fn error_response(error: &HttpError, date: HttpDate) -> Vec<u8> {
    let mut head = ResponseHead::new(error.status);
    head.push_field("Content-Type", b"text/plain; charset=utf-8");
    head.body(ResponseBody::Length(error.reason.len() as u64 + 1))
        .close();
    let mut out = Vec::with_capacity(160 + error.reason.len());
    head.write(RequestContext::default(), date, &mut out);
    out.extend_from_slice(error.reason.as_bytes());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: HttpDate = HttpDate::from_unix(784_111_777);
    const D: &str = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

    fn ctx(version: Version, keep_alive: bool, head: bool) -> RequestContext {
        RequestContext {
            head,
            version,
            keep_alive,
        }
    }

    #[test]
    fn static_fields_are_written_as_checked_ones() {
        let mut a = ResponseHead::new(200);
        a.header_static("Cache-Control", "no-store");
        let mut b = ResponseHead::new(200);
        b.header("Cache-Control", "no-store").expect("valid");
        assert_eq!(a, b);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invalid static field")]
    fn an_invalid_static_field_is_caught_in_debug_builds() {
        ResponseHead::new(200).header_static("Content-Length", "1");
    }

    fn write(h: &ResponseHead, c: RequestContext) -> (String, ResponsePlan) {
        let mut out = Vec::new();
        let plan = h.write(c, DATE, &mut out);
        (String::from_utf8(out).expect("ascii"), plan)
    }

    const KEEP11: RequestContext = RequestContext {
        head: false,
        version: Version::Http11,
        keep_alive: true,
    };

    #[test]
    fn ok_with_length() {
        let mut h = ResponseHead::new(200);
        h.header("Content-Type", "text/html")
            .and_then(|h| h.header("Set-Cookie", "a=1"))
            .and_then(|h| h.header("set-cookie", "b=2"))
            .expect("valid");
        h.body(ResponseBody::Length(1234));
        let (text, plan) = write(&h, KEEP11);
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 200 OK\r\n{D}Content-Type: text/html\r\nSet-Cookie: a=1\r\n\
                 set-cookie: b=2\r\nContent-Length: 1234\r\n\r\n"
            )
        );
        assert_eq!(
            plan,
            ResponsePlan {
                body: BodyWrite::Length(1234),
                close: false
            }
        );
        // The same for HEAD: same fields, no body.
        let (head_text, plan) = write(&h, ctx(Version::Http11, true, true));
        assert_eq!(head_text, text);
        assert_eq!(plan.body, BodyWrite::None);
    }

    #[test]
    fn streamed_bodies() {
        let mut h = ResponseHead::new(200);
        h.body(ResponseBody::Streamed);
        let (text, plan) = write(&h, KEEP11);
        assert_eq!(
            text,
            format!("HTTP/1.1 200 OK\r\n{D}Transfer-Encoding: chunked\r\n\r\n")
        );
        assert_eq!(plan.body, BodyWrite::Chunked);
        assert!(!plan.close);
        // HTTP/1.0 keep-alive client: no chunked, the close ends the body.
        let (text, plan) = write(&h, ctx(Version::Http10, true, false));
        assert_eq!(
            text,
            format!("HTTP/1.1 200 OK\r\n{D}Connection: close\r\n\r\n")
        );
        assert_eq!(
            plan,
            ResponsePlan {
                body: BodyWrite::UntilClose,
                close: true
            }
        );
        // HEAD: no framing field, nothing follows, the connection stays.
        let (text, plan) = write(&h, ctx(Version::Http11, true, true));
        assert_eq!(text, format!("HTTP/1.1 200 OK\r\n{D}\r\n"));
        assert_eq!(plan.body, BodyWrite::None);
        assert!(!plan.close);
    }

    #[test]
    fn connection_field() {
        let h = ResponseHead::new(204);
        let (text, plan) = write(&h, ctx(Version::Http11, false, false));
        assert_eq!(
            text,
            format!("HTTP/1.1 204 No Content\r\n{D}Connection: close\r\n\r\n")
        );
        assert!(plan.close);
        let (text, plan) = write(&h, ctx(Version::Http10, true, false));
        assert_eq!(
            text,
            format!("HTTP/1.1 204 No Content\r\n{D}Connection: keep-alive\r\n\r\n")
        );
        assert!(!plan.close);
        let mut closing = ResponseHead::new(200);
        closing.close();
        let (text, plan) = write(&closing, KEEP11);
        assert_eq!(
            text,
            format!("HTTP/1.1 200 OK\r\n{D}Content-Length: 0\r\nConnection: close\r\n\r\n")
        );
        assert_eq!(plan.body, BodyWrite::None);
        assert!(plan.close);
    }

    #[test]
    fn bodiless_statuses() {
        for status in [204, 304] {
            let mut h = ResponseHead::new(status);
            h.body(ResponseBody::Length(10));
            let (text, plan) = write(&h, KEEP11);
            assert!(!text.contains("Content-Length"), "{text}");
            assert_eq!(plan.body, BodyWrite::None);
        }
        let (text, plan) = write(&ResponseHead::new(100), KEEP11);
        assert_eq!(text, "HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(plan.body, BodyWrite::None);
        let mut up = ResponseHead::new(101);
        up.header("Upgrade", "websocket").expect("valid");
        let (text, plan) = write(&up, ctx(Version::Http11, false, false));
        assert_eq!(
            text,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        );
        assert!(!plan.close);
    }

    #[test]
    fn refused_fields() {
        let mut h = ResponseHead::new(200);
        assert_eq!(h.header("Bad Name", "x").err(), Some(InvalidHeader::Name));
        assert_eq!(h.header("", "x").err(), Some(InvalidHeader::Name));
        assert_eq!(
            h.header("Location", "/a\r\nSet-Cookie: evil=1").err(),
            Some(InvalidHeader::Value)
        );
        assert_eq!(h.header("X", "a\0b").err(), Some(InvalidHeader::Value));
        assert_eq!(h.header("X", "a\nb").err(), Some(InvalidHeader::Value));
        for managed in ["Content-Length", "transfer-encoding", "CONNECTION", "Date"] {
            assert_eq!(h.header(managed, "1").err(), Some(InvalidHeader::Managed));
        }
        assert!(h.header("X", "tab\tand \u{e9}").is_ok());
        assert_eq!(h, {
            let mut g = ResponseHead::new(200);
            g.header("X", "tab\tand \u{e9}").expect("valid");
            g
        });
    }

    #[test]
    fn method_not_allowed_lists_allow() {
        let h = ResponseHead::method_not_allowed(&[Method::Get, Method::Head, Method::Other]);
        let (text, _) = write(&h, KEEP11);
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 405 Method Not Allowed\r\n{D}Allow: GET, HEAD\r\nContent-Length: 0\r\n\r\n"
            )
        );
    }

    #[test]
    fn error_responses() {
        let text = String::from_utf8(error_response(
            &HttpError::new(431, "too many header fields"),
            DATE,
        ))
        .expect("ascii");
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 431 Request Header Fields Too Large\r\n{D}\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: 23\r\n\
                 Connection: close\r\n\r\ntoo many header fields\n"
            )
        );
    }

    #[test]
    fn status_lines() {
        for (status, line) in [
            (413, "HTTP/1.1 413 Content Too Large\r\n"),
            (414, "HTTP/1.1 414 URI Too Long\r\n"),
            (505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"),
            (299, "HTTP/1.1 299 Success\r\n"),
            (499, "HTTP/1.1 499 Client Error\r\n"),
            (42, "HTTP/1.1 500 Internal Server Error\r\n"),
        ] {
            let (text, _) = write(&ResponseHead::new(status), KEEP11);
            assert!(text.starts_with(line), "{status}: {text}");
        }
    }
}

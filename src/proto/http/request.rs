//! The request head writer, for requests the router sends itself (the
//! reverse proxy, the HTTP bridge's outgoing calls), and the counterpart that
//! the parser is tested against (`tests/http_props.rs` writes heads with it
//! and parses them back).

use super::response::{InvalidHeader, check_field};
use super::{Version, is_token};

/// A request head the writer refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// The method is not a token.
    #[error("method is not a token")]
    Method,
    /// The target is empty or holds a space, a control or a non-ASCII octet.
    #[error("request target with a forbidden character")]
    Target,
    /// A header field is refused.
    #[error(transparent)]
    Field(#[from] InvalidHeader),
}

/// Appends the head `method target version`, `fields` in order, and the
/// blank line to `out`. Framing fields (`Host`, `Content-Length`,
/// `Transfer-Encoding`) are the caller's: they are written as given.
///
/// # Errors
/// [`InvalidRequest`]; nothing is written then.
pub fn write_request_head(
    method: &str,
    target: &str,
    version: Version,
    fields: &[(&str, &[u8])],
    out: &mut Vec<u8>,
) -> Result<(), InvalidRequest> {
    if !is_token(method.as_bytes()) {
        return Err(InvalidRequest::Method);
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidRequest::Target);
    }
    for (name, value) in fields {
        check_field(name, value)?;
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(match version {
        Version::Http10 => b" HTTP/1.0\r\n",
        Version::Http11 => b" HTTP/1.1\r\n",
    });
    for (name, value) in fields {
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
    use crate::proto::http::{Limits, parse_request_head};

    #[test]
    fn writes_what_the_parser_reads() {
        let mut out = Vec::new();
        write_request_head(
            "POST",
            "/call?x=1",
            Version::Http11,
            &[("Host", b"h:1"), ("Content-Length", b"2")],
            &mut out,
        )
        .expect("valid");
        assert_eq!(
            out,
            b"POST /call?x=1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\n"
        );
        let head = parse_request_head(&out, &Limits::default())
            .expect("valid")
            .expect("complete");
        assert_eq!(head.method_str(), "POST");
        assert_eq!(head.query(), Some("x=1"));
        assert_eq!(head.headers().get("content-length"), Some(&b"2"[..]));
    }

    #[test]
    fn refuses_what_could_split_a_request() {
        let mut out = Vec::new();
        let w = |m: &str, t: &str, f: &[(&str, &[u8])], out: &mut Vec<u8>| {
            write_request_head(m, t, Version::Http11, f, out)
        };
        assert_eq!(w("GE T", "/", &[], &mut out), Err(InvalidRequest::Method));
        assert_eq!(w("GET", "/a b", &[], &mut out), Err(InvalidRequest::Target));
        assert_eq!(w("GET", "", &[], &mut out), Err(InvalidRequest::Target));
        assert_eq!(
            w("GET", "/\u{e9}", &[], &mut out),
            Err(InvalidRequest::Target)
        );
        assert_eq!(
            w("GET", "/", &[("X", b"a\r\nHost: evil")], &mut out),
            Err(InvalidRequest::Field(InvalidHeader::Value))
        );
        assert!(out.is_empty());
    }
}

//! What a request head says about its body and its connection (RFC 9112
//! sections 6, 9.3 and RFC 9110 section 10.1.1): how long the body is, whether
//! the connection persists, whether the client waits for `100 Continue`, and
//! whether it offers a protocol upgrade.
//!
//! Request smuggling: a request whose length two parties could read
//! differently is refused with 400 and the connection closed:
//! `Transfer-Encoding` with `Content-Length`, `Transfer-Encoding` in HTTP/1.0,
//! `chunked` not last or twice, `Content-Length` values that disagree or are
//! not plain digits. Transfer codings other than `chunked` (gzip, ...) are
//! not implemented (501).

use super::head::RequestHead;
use super::{HttpError, Limits, Version};

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body (no `Content-Length`, no `Transfer-Encoding`, or `Content-Length: 0`).
    Empty,
    /// Exactly this many octets (`Content-Length`, more than 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What a request head says about its body and its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// How the body is delimited.
    pub body: BodyLength,
    /// Whether the connection may carry another request after this one:
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body: the client
    /// waits for `100 Continue` (or a final answer) before sending it.
    pub expect_continue: bool,
    /// An HTTP/1.1 request with `Upgrade` and a `Connection: upgrade` token:
    /// an offer to switch protocols (WebSocket). The connection reads nothing
    /// after it until its response is written.
    pub upgrade: bool,
}

/// The framing of `head`'s request, checked against `limits.max_body`.
///
/// # Errors
/// [`HttpError`]: 400 for ambiguous or malformed framing (see the module
/// header), 413 for a `Content-Length` over `limits.max_body`, 417 for an
/// `Expect` other than `100-continue`, 501 for a transfer coding other than
/// `chunked`.
pub fn request_framing<B: AsRef<[u8]>>(
    head: &RequestHead<B>,
    limits: &Limits,
) -> Result<Framing, HttpError> {
    let headers = head.headers();
    let http11 = head.version() == Version::Http11;
    let has_te = headers.contains("transfer-encoding");
    let has_cl = headers.contains("content-length");
    let body = if has_te {
        if has_cl {
            return Err(HttpError::bad_request(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if !http11 {
            return Err(HttpError::bad_request("Transfer-Encoding in HTTP/1.0"));
        }
        transfer_coding(headers.get_all("transfer-encoding"))?
    } else if has_cl {
        match content_length(headers.get_all("content-length"))? {
            Some(0) => BodyLength::Empty,
            Some(n) if n <= limits.max_body => BodyLength::Length(n),
            _ => return Err(HttpError::new(413, "request body too large")),
        }
    } else {
        BodyLength::Empty
    };

    let mut expect_continue = false;
    for value in headers.get_all("expect") {
        if value.eq_ignore_ascii_case(b"100-continue") {
            // RFC 9110 section 10.1.1: ignored in HTTP/1.0.
            expect_continue = http11 && body != BodyLength::Empty;
        } else {
            return Err(HttpError::new(417, "unsupported expectation"));
        }
    }

    let close = headers.has_token("connection", "close");
    let keep_alive = !close && (http11 || headers.has_token("connection", "keep-alive"));
    let upgrade =
        http11 && headers.contains("upgrade") && headers.has_token("connection", "upgrade");
    Ok(Framing {
        body,
        keep_alive,
        expect_continue,
        upgrade,
    })
}

/// The body length the `Transfer-Encoding` lines give: `chunked` must be the
/// last coding and appear once.
fn transfer_coding<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<BodyLength, HttpError> {
    let mut codings = 0usize;
    let mut chunked_at = None;
    for value in values {
        for coding in super::list_elements(value) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                if chunked_at.is_some() {
                    return Err(HttpError::bad_request("chunked applied twice"));
                }
                chunked_at = Some(codings);
            }
            codings += 1;
        }
    }
    match chunked_at {
        Some(i) if i + 1 == codings && codings == 1 => Ok(BodyLength::Chunked),
        Some(i) if i + 1 == codings => Err(HttpError::new(501, "transfer coding not implemented")),
        _ => Err(HttpError::bad_request(
            "Transfer-Encoding without chunked last",
        )),
    }
}

/// The value of the `Content-Length` lines: every element must be digits and
/// all must be equal (`5, 5` is allowed, RFC 9110 section 8.6). `None`: a
/// number too big for 64 bits (over any limit).
fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<u64>, HttpError> {
    const BAD: HttpError = HttpError::bad_request("invalid Content-Length");
    let mut seen: Option<&[u8]> = None;
    let mut any = false;
    for value in values {
        any = true;
        let mut elements = value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
        for e in &mut elements {
            if e.is_empty() || !e.iter().all(u8::is_ascii_digit) {
                return Err(BAD);
            }
            match seen {
                Some(s) if s != e => {
                    return Err(HttpError::bad_request("conflicting Content-Length values"));
                }
                _ => seen = Some(e),
            }
        }
    }
    let (true, Some(digits)) = (any, seen) else {
        return Err(BAD);
    };
    let mut n: u64 = 0;
    for &d in digits {
        let Some(next) = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
        else {
            return Ok(None);
        };
        n = next;
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::parse_request_head;

    fn framing(head: &str) -> Result<Framing, HttpError> {
        framing_with(head, &Limits::default())
    }

    fn framing_with(head: &str, limits: &Limits) -> Result<Framing, HttpError> {
        let head = parse_request_head(head.as_bytes(), limits)
            .expect("valid head")
            .expect("complete head");
        request_framing(&head, limits)
    }

    fn req11(extra: &str) -> String {
        format!("POST /x HTTP/1.1\r\nHost: h\r\n{extra}\r\n")
    }

    fn req10(extra: &str) -> String {
        format!("POST /x HTTP/1.0\r\n{extra}\r\n")
    }

    #[test]
    fn body_lengths() {
        let body = |extra: &str| framing(&req11(extra)).map(|f| f.body);
        assert_eq!(body(""), Ok(BodyLength::Empty));
        assert_eq!(body("Content-Length: 0\r\n"), Ok(BodyLength::Empty));
        assert_eq!(body("Content-Length: 12\r\n"), Ok(BodyLength::Length(12)));
        assert_eq!(body("Content-Length: 007\r\n"), Ok(BodyLength::Length(7)));
        assert_eq!(body("Content-Length: 5, 5\r\n"), Ok(BodyLength::Length(5)));
        assert_eq!(
            body("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(BodyLength::Length(5))
        );
        assert_eq!(
            body("Transfer-Encoding: chunked\r\n"),
            Ok(BodyLength::Chunked)
        );
        assert_eq!(
            body("Transfer-Encoding: CHUNKED\r\n"),
            Ok(BodyLength::Chunked)
        );
        assert_eq!(
            body("Transfer-Encoding: , chunked ,\r\n"),
            Ok(BodyLength::Chunked)
        );
    }

    #[test]
    fn smuggling_attempts_are_400() {
        for extra in [
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
            "Transfer-Encoding: chunked, identity\r\n",
            "Transfer-Encoding: identity\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked;q=1\r\n",
            "Transfer-Encoding: \"chunked\"\r\n",
            "Transfer-Encoding: xchunked\r\n",
            "Transfer-Encoding: \r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5, 6\r\n",
            "Content-Length: +5\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: 5 5\r\n",
            "Content-Length: \r\n",
            "Content-Length: 5,\r\n",
        ] {
            let got = framing(&req11(extra));
            assert_eq!(got.map_err(|e| e.status), Err(400), "{extra:?}");
        }
        // chunked last, other codings before it: not implemented.
        assert_eq!(
            framing(&req11("Transfer-Encoding: gzip, chunked\r\n")),
            Err(HttpError::new(501, "transfer coding not implemented"))
        );
        assert_eq!(
            framing(&req11(
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
            ))
            .map_err(|e| e.status),
            Err(501)
        );
        assert_eq!(
            framing(&req10("Transfer-Encoding: chunked\r\n")),
            Err(HttpError::bad_request("Transfer-Encoding in HTTP/1.0"))
        );
    }

    #[test]
    fn body_limit_is_413() {
        let limits = Limits {
            max_body: 100,
            ..Limits::default()
        };
        assert_eq!(
            framing_with(&req11("Content-Length: 100\r\n"), &limits).map(|f| f.body),
            Ok(BodyLength::Length(100))
        );
        for n in ["101", "18446744073709551615", "99999999999999999999999"] {
            assert_eq!(
                framing_with(&req11(&format!("Content-Length: {n}\r\n")), &limits),
                Err(HttpError::new(413, "request body too large")),
                "{n}"
            );
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        let ka = |s: &str| framing(s).map(|f| f.keep_alive);
        assert_eq!(ka(&req11("")), Ok(true));
        assert_eq!(ka(&req11("Connection: close\r\n")), Ok(false));
        assert_eq!(ka(&req11("Connection: Keep-Alive, CLOSE\r\n")), Ok(false));
        assert_eq!(ka(&req11("Connection: keep-alive\r\n")), Ok(true));
        assert_eq!(ka(&req10("")), Ok(false));
        assert_eq!(ka(&req10("Connection: keep-alive\r\n")), Ok(true));
        assert_eq!(ka(&req10("Connection: keep-alive, close\r\n")), Ok(false));
    }

    #[test]
    fn expect_continue() {
        let ec = |s: &str| framing(s).map(|f| f.expect_continue);
        assert_eq!(
            ec(&req11("Expect: 100-continue\r\nContent-Length: 3\r\n")),
            Ok(true)
        );
        assert_eq!(
            ec(&req11(
                "Expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n"
            )),
            Ok(true)
        );
        // No body: nothing to wait for.
        assert_eq!(ec(&req11("Expect: 100-continue\r\n")), Ok(false));
        // HTTP/1.0: ignored.
        assert_eq!(
            ec(&req10("Expect: 100-continue\r\nContent-Length: 3\r\n")),
            Ok(false)
        );
        assert_eq!(
            ec(&req11("Expect: something-else\r\n")),
            Err(HttpError::new(417, "unsupported expectation"))
        );
    }

    #[test]
    fn upgrade_offers() {
        let up = |s: &str| framing(s).map(|f| f.upgrade);
        assert_eq!(
            up(&req11(
                "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
            )),
            Ok(true)
        );
        assert_eq!(up(&req11("Upgrade: websocket\r\n")), Ok(false));
        assert_eq!(up(&req11("Connection: upgrade\r\n")), Ok(false));
        assert_eq!(
            up(&req10("Upgrade: websocket\r\nConnection: upgrade\r\n")),
            Ok(false)
        );
    }
}

//! The pure parts of the gateways to other programs: CGI (RFC 3875) and the
//! reverse proxy (RFC 9110 section 7.6, RFC 9112).
//!
//! - [`cgi_env`]: the CGI 1.1 meta-variables of a request (`PATH_INFO`,
//!   `SCRIPT_NAME`, `QUERY_STRING`, `HTTP_*`, ...), never `HTTP_PROXY`
//!   (httpoxy) nor the request's `Authorization`.
//! - [`parse_cgi_head`]: the header block a script prints before its body:
//!   `Status:`, `Location:` and other fields, lines ended by CRLF or LF.
//! - [`parse_response_head`]: an upstream server's response head (status,
//!   fields, how its body is delimited).
//! - [`is_hop_by_hop`]: the fields a proxy never forwards (RFC 9110 section
//!   7.6.1), including those the `Connection` field names.
//!
//! No I/O here: the web server's `cgi` and `reverseproxy` services run the
//! processes and sockets.

use super::head::RequestHead;
use super::{HttpError, Version, is_token, list_elements};

/// What a CGI request's environment is built from, besides the head.
#[derive(Debug, Clone)]
pub struct CgiRequest<'a> {
    /// `SCRIPT_NAME`: the URL path of the script (mount point and the
    /// script's own path, as decoded segments joined by `/`).
    pub script_name: &'a str,
    /// `PATH_INFO`: the decoded path after the script (empty or starting with `/`).
    pub path_info: &'a str,
    /// `SCRIPT_FILENAME`: the script's file.
    pub script_filename: &'a str,
    /// `REMOTE_ADDR`, `REMOTE_PORT`: the client as the listener names it
    /// (`tcp4:1.2.3.4:5`, `tcp6:::1:5`, or a Unix socket's text).
    pub peer: &'a str,
    /// `SERVER_PORT` when the `Host` field names none.
    pub server_port: u16,
    /// `CONTENT_LENGTH`, when the request has a body.
    pub content_length: Option<u64>,
    /// `HTTPS=on` when the request came over TLS.
    pub https: bool,
}

/// The server software's name and version (`SERVER_SOFTWARE`).
pub const SERVER_SOFTWARE: &str = concat!("Junction/", env!("CARGO_PKG_VERSION"));

/// The CGI 1.1 meta-variables (RFC 3875 section 4.1) for `head`, as name and
/// value (values may hold any octet but NUL, which is dropped).
pub fn cgi_env<B: AsRef<[u8]>>(
    head: &RequestHead<B>,
    r: &CgiRequest<'_>,
) -> Vec<(String, Vec<u8>)> {
    let headers = head.headers();
    let mut env: Vec<(String, Vec<u8>)> = Vec::with_capacity(24 + headers.len());
    let mut set = |name: &str, value: &[u8]| {
        env.push((
            name.to_owned(),
            value.iter().copied().filter(|&b| b != 0).collect(),
        ));
    };
    set("GATEWAY_INTERFACE", b"CGI/1.1");
    set("SERVER_SOFTWARE", SERVER_SOFTWARE.as_bytes());
    set(
        "SERVER_PROTOCOL",
        match head.version() {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        },
    );
    set("REQUEST_METHOD", head.method_str().as_bytes());
    set("REQUEST_URI", head.target().as_bytes());
    set("SCRIPT_NAME", r.script_name.as_bytes());
    set("PATH_INFO", r.path_info.as_bytes());
    set("SCRIPT_FILENAME", r.script_filename.as_bytes());
    set("QUERY_STRING", head.query().unwrap_or("").as_bytes());
    let host = headers.get("host").unwrap_or_default();
    let (name, port) = split_host(host);
    set(
        "SERVER_NAME",
        if name.is_empty() { b"localhost" } else { name },
    );
    let port = port.map_or_else(|| r.server_port.to_string(), |p| p.to_string());
    set("SERVER_PORT", port.as_bytes());
    let (addr, peer_port) = split_peer(r.peer);
    set("REMOTE_ADDR", addr.as_bytes());
    if let Some(p) = peer_port {
        set("REMOTE_PORT", p.as_bytes());
    }
    if r.https {
        set("HTTPS", b"on");
    }
    if let Some(n) = r.content_length {
        set("CONTENT_LENGTH", n.to_string().as_bytes());
    }
    if let Some(t) = headers.get("content-type") {
        set("CONTENT_TYPE", t);
    }
    // Header fields as HTTP_*: repeated fields joined by ", " (RFC 3875
    // section 4.1.18); names that would collide after mapping `-` to `_`
    // are joined the same way.
    let mut http: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in headers.iter() {
        let lower = name.to_ascii_lowercase();
        // Given as CONTENT_* above; Authorization is withheld (RFC 3875
        // section 4.1.18 allows it; Apache does the same); Proxy would become
        // HTTP_PROXY, which HTTP clients in the script read as their proxy.
        if matches!(
            lower.as_str(),
            "content-length" | "content-type" | "authorization" | "proxy" | "proxy-authorization"
        ) {
            continue;
        }
        let var: String = std::iter::once("HTTP_".to_owned())
            .chain(std::iter::once(
                name.chars()
                    .map(|c| {
                        if c == '-' {
                            '_'
                        } else {
                            c.to_ascii_uppercase()
                        }
                    })
                    .collect::<String>(),
            ))
            .collect();
        match http.iter_mut().find(|(n, _)| *n == var) {
            Some((_, v)) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(value);
            }
            None => http.push((var, value.to_vec())),
        }
    }
    for (n, v) in http {
        set(&n, &v);
    }
    env
}

/// `host[:port]` → (host, port); a bracketed IPv6 literal keeps its brackets.
fn split_host(host: &[u8]) -> (&[u8], Option<u16>) {
    let colon = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host[i..].contains(&b']') => i,
        _ => return (host, None),
    };
    let port = std::str::from_utf8(&host[colon + 1..])
        .ok()
        .and_then(|p| p.parse().ok());
    (&host[..colon], port)
}

/// A peer as the transport names it (`tcp4:1.2.3.4:5`, `tcp6:2001:db8::1:5`,
/// or a Unix socket's text) → address and port.
pub fn split_peer(peer: &str) -> (&str, Option<&str>) {
    let Some(rest) = peer
        .strip_prefix("tcp4:")
        .or_else(|| peer.strip_prefix("tcp6:"))
    else {
        return (peer, None);
    };
    match rest.rfind(':') {
        Some(i) if rest[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < rest.len() => {
            (&rest[..i], Some(&rest[i + 1..]))
        }
        _ => (rest, None),
    }
}

/// A script's header block, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    /// The status to answer with: `Status:`, else 302 with a `Location`,
    /// else 200.
    pub status: u16,
    /// The fields to send on, in order (`Status` taken out; `Content-Length`,
    /// `Transfer-Encoding`, `Connection` and other hop-by-hop fields dropped:
    /// the server frames the body itself).
    pub fields: Vec<(String, Vec<u8>)>,
}

/// Why a script's output is not a CGI response (answered with 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CgiOutputError {
    /// The header block is longer than allowed.
    #[error("the script's header block is too long")]
    TooLong,
    /// A line is not a header field.
    #[error("the script printed a malformed header line")]
    Malformed,
    /// `Status:` is not a three-digit code from 100 to 999.
    #[error("the script printed an invalid Status")]
    BadStatus,
    /// The output ended before the blank line after the header block.
    #[error("the script's output ended inside its header block")]
    Truncated,
}

/// The most fields a script may print.
const MAX_CGI_FIELDS: usize = 100;

/// Reads a script's header block at the start of `buf`: `Ok(None)` when the
/// blank line has not arrived yet (and `buf` is shorter than `max`), else
/// the head and the octets it took (the body starts after them).
///
/// # Errors
/// [`CgiOutputError`] for a block over `max` octets or a malformed one.
pub fn parse_cgi_head(buf: &[u8], max: usize) -> Result<Option<(CgiHead, usize)>, CgiOutputError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_CGI_FIELDS];
    let window = &buf[..buf.len().min(max)];
    let (used, fields) = match httparse::parse_headers(window, &mut storage) {
        Ok(httparse::Status::Complete((used, fields))) => (used, fields),
        Ok(httparse::Status::Partial) if window.len() < max => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(CgiOutputError::TooLong),
        Err(httparse::Error::TooManyHeaders) => return Err(CgiOutputError::TooLong),
        Err(_) => return Err(CgiOutputError::Malformed),
    };
    let mut status = None;
    let mut location = false;
    let mut out = Vec::with_capacity(fields.len());
    for f in fields.iter() {
        let value = trim(f.value);
        if f.name.eq_ignore_ascii_case("status") {
            let code = value
                .get(..3)
                .filter(|d| d.iter().all(u8::is_ascii_digit))
                .filter(|_| value.len() == 3 || value[3] == b' ')
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<u16>().ok())
                .filter(|c| (100..=999).contains(c))
                .ok_or(CgiOutputError::BadStatus)?;
            status = Some(code);
            continue;
        }
        if f.name.eq_ignore_ascii_case("location") {
            location = true;
        }
        if is_hop_by_hop(f.name) || f.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7F) {
            return Err(CgiOutputError::Malformed);
        }
        out.push((f.name.to_owned(), value.to_vec()));
    }
    let status = status.unwrap_or(if location { 302 } else { 200 });
    Ok(Some((
        CgiHead {
            status,
            fields: out,
        },
        used,
    )))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// Fields that concern one connection only (RFC 9110 section 7.6.1), never
/// forwarded by a proxy; `Upgrade` is handled apart by the WebSocket
/// tunnel.
pub fn is_hop_by_hop(name: &str) -> bool {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// The field names a `Connection` field lists (each also hop-by-hop).
pub fn connection_options<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .flat_map(list_elements)
        .filter(|t| is_token(t))
        .filter_map(|t| std::str::from_utf8(t).ok())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// How an upstream response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamBody {
    /// No body (HEAD, 1xx, 204, 304, `Content-Length: 0`).
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// An upstream server's response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHead {
    /// The status code.
    pub status: u16,
    /// The HTTP version it answered with.
    pub version: Version,
    /// Every field, in order, as sent.
    pub fields: Vec<(String, Vec<u8>)>,
    /// How its body is delimited.
    pub body: UpstreamBody,
}

impl UpstreamHead {
    /// The first field named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// The most fields an upstream response may have.
const MAX_UPSTREAM_FIELDS: usize = 128;

/// Reads an upstream response head at the start of `buf` (the answer to a
/// request whose method was HEAD when `head_request`): `Ok(None)` when it
/// has not all arrived (and `buf` is shorter than `max`), else the head and
/// the octets it took.
///
/// # Errors
/// [`HttpError`] 502 for a head over `max`, malformed, or framed
/// ambiguously (Content-Length with chunked, differing lengths).
pub fn parse_response_head(
    buf: &[u8],
    max: usize,
    head_request: bool,
) -> Result<Option<(UpstreamHead, usize)>, HttpError> {
    let bad = |reason: &'static str| HttpError::new(502, reason);
    let mut storage = [httparse::EMPTY_HEADER; MAX_UPSTREAM_FIELDS];
    let mut resp = httparse::Response::new(&mut storage);
    let window = &buf[..buf.len().min(max)];
    let used = match resp.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() < max => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(bad("upstream response head too long")),
        Err(_) => return Err(bad("malformed upstream response head")),
    };
    let status = resp
        .code
        .ok_or_else(|| bad("malformed upstream response head"))?;
    let version = if resp.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };
    let fields: Vec<(String, Vec<u8>)> = resp
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), trim(h.value).to_vec()))
        .collect();
    let mut chunked = false;
    let mut length: Option<u64> = None;
    for (n, v) in &fields {
        if n.eq_ignore_ascii_case("transfer-encoding") {
            chunked = list_elements(v)
                .last()
                .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
            if !chunked {
                return Err(bad("upstream transfer coding not supported"));
            }
        } else if n.eq_ignore_ascii_case("content-length") {
            for part in list_elements(v) {
                let n: u64 = std::str::from_utf8(part)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("malformed upstream Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("conflicting upstream Content-Length"));
                }
                length = Some(n);
            }
        }
    }
    if chunked && length.is_some() {
        return Err(bad(
            "upstream response with both Content-Length and chunked",
        ));
    }
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        UpstreamBody::Empty
    } else if chunked {
        UpstreamBody::Chunked
    } else {
        match length {
            Some(0) => UpstreamBody::Empty,
            Some(n) => UpstreamBody::Length(n),
            None => UpstreamBody::UntilClose,
        }
    };
    Ok(Some((
        UpstreamHead {
            status,
            version,
            fields,
            body,
        },
        used,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{Limits, parse_request_head};

    fn head(raw: &str) -> RequestHead<Vec<u8>> {
        let h = parse_request_head(raw.as_bytes(), &Limits::default())
            .expect("valid")
            .expect("complete");
        h.into_owned().with_storage(raw.as_bytes().to_vec())
    }

    fn env_of(raw: &str, r: &CgiRequest<'_>) -> Vec<(String, String)> {
        cgi_env(&head(raw), r)
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8(v).expect("utf-8")))
            .collect()
    }

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn req<'a>() -> CgiRequest<'a> {
        CgiRequest {
            script_name: "/cgi/env.sh",
            path_info: "/extra/path",
            script_filename: "/srv/cgi/env.sh",
            peer: "tcp4:192.0.2.7:40000",
            server_port: 8080,
            content_length: Some(5),
            https: false,
        }
    }

    #[test]
    fn cgi_env_has_the_meta_variables() {
        let env = env_of(
            "POST /cgi/env.sh/extra/path?a=1&b=%20 HTTP/1.1\r\nHost: example.org:9000\r\n\
             Content-Type: text/plain\r\nContent-Length: 5\r\nX-Thing: one\r\nx-thing: two\r\n\
             Accept-Language: de\r\n\r\n",
            &req(),
        );
        for (k, v) in [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/cgi/env.sh/extra/path?a=1&b=%20"),
            ("SCRIPT_NAME", "/cgi/env.sh"),
            ("PATH_INFO", "/extra/path"),
            ("SCRIPT_FILENAME", "/srv/cgi/env.sh"),
            ("QUERY_STRING", "a=1&b=%20"),
            ("SERVER_NAME", "example.org"),
            ("SERVER_PORT", "9000"),
            ("REMOTE_ADDR", "192.0.2.7"),
            ("REMOTE_PORT", "40000"),
            ("CONTENT_LENGTH", "5"),
            ("CONTENT_TYPE", "text/plain"),
            ("HTTP_X_THING", "one, two"),
            ("HTTP_ACCEPT_LANGUAGE", "de"),
            ("HTTP_HOST", "example.org:9000"),
        ] {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
        assert_eq!(get(&env, "HTTP_CONTENT_LENGTH"), None);
        assert_eq!(get(&env, "HTTPS"), None);
        assert!(get(&env, "SERVER_SOFTWARE").is_some_and(|s| s.starts_with("Junction/")));
    }

    #[test]
    fn cgi_env_withholds_proxy_and_authorization() {
        let env = env_of(
            "GET /x HTTP/1.1\r\nHost: h\r\nProxy: http://evil:1\r\nAuthorization: Basic eA==\r\n\r\n",
            &CgiRequest {
                content_length: None,
                peer: "tcp6:2001:db8::1:5000",
                path_info: "",
                https: true,
                ..req()
            },
        );
        assert_eq!(get(&env, "HTTP_PROXY"), None);
        assert_eq!(get(&env, "HTTP_AUTHORIZATION"), None);
        assert_eq!(get(&env, "CONTENT_LENGTH"), None);
        assert_eq!(get(&env, "QUERY_STRING"), Some(""));
        assert_eq!(get(&env, "PATH_INFO"), Some(""));
        assert_eq!(get(&env, "REMOTE_ADDR"), Some("2001:db8::1"));
        assert_eq!(get(&env, "REMOTE_PORT"), Some("5000"));
        assert_eq!(get(&env, "SERVER_NAME"), Some("h"));
        assert_eq!(get(&env, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&env, "HTTPS"), Some("on"));
    }

    #[test]
    fn cgi_env_keeps_ipv6_hosts_and_unix_peers() {
        let env = env_of(
            "GET /x HTTP/1.0\r\nHost: [::1]:81\r\n\r\n",
            &CgiRequest {
                peer: "unix:/run/j.sock",
                ..req()
            },
        );
        assert_eq!(get(&env, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(get(&env, "SERVER_PORT"), Some("81"));
        assert_eq!(get(&env, "SERVER_PROTOCOL"), Some("HTTP/1.0"));
        assert_eq!(get(&env, "REMOTE_ADDR"), Some("unix:/run/j.sock"));
        assert_eq!(get(&env, "REMOTE_PORT"), None);
    }

    #[test]
    fn cgi_head_status_location_and_fields() {
        let out = b"Status: 404 Not Found\nContent-Type: text/plain\nX-A: b \n\nbody";
        let (h, used) = parse_cgi_head(out, 1024).expect("valid").expect("complete");
        assert_eq!(h.status, 404);
        assert_eq!(
            h.fields,
            vec![
                ("Content-Type".to_owned(), b"text/plain".to_vec()),
                ("X-A".to_owned(), b"b".to_vec())
            ]
        );
        assert_eq!(&out[used..], b"body");

        let (h, _) = parse_cgi_head(b"Location: http://example.org/\r\n\r\n", 1024)
            .expect("valid")
            .expect("complete");
        assert_eq!(h.status, 302);
        let (h, _) = parse_cgi_head(b"Status: 201\r\nLocation: /x\r\n\r\n", 1024)
            .expect("valid")
            .expect("complete");
        assert_eq!(h.status, 201);
        let (h, _) = parse_cgi_head(
            b"Content-Type: text/html\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
            1024,
        )
        .expect("valid")
        .expect("complete");
        assert_eq!((h.status, h.fields.len()), (200, 1));
    }

    #[test]
    fn cgi_head_partial_too_long_and_malformed() {
        assert_eq!(
            parse_cgi_head(b"Content-Type: text/plain\n", 1024),
            Ok(None)
        );
        assert_eq!(
            parse_cgi_head(&[b'X'; 300], 256),
            Err(CgiOutputError::TooLong)
        );
        assert_eq!(
            parse_cgi_head(b"not a header line\n\n", 1024),
            Err(CgiOutputError::Malformed)
        );
        for bad in ["Status: abc\n\n", "Status: 99\n\n", "Status: 2000 x\n\n"] {
            assert_eq!(
                parse_cgi_head(bad.as_bytes(), 1024),
                Err(CgiOutputError::BadStatus),
                "{bad}"
            );
        }
    }

    #[test]
    fn upstream_heads_and_their_framing() {
        let p = |raw: &str, head: bool| {
            parse_response_head(raw.as_bytes(), 4096, head)
                .map(|o| o.map(|(h, n)| (h.status, h.body, n)))
        };
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            p(raw, false),
            Ok(Some((200, UpstreamBody::Length(5), raw.len() - 5)))
        );
        assert_eq!(
            p(raw, true).map(|o| o.map(|x| x.1)),
            Ok(Some(UpstreamBody::Empty))
        );
        assert_eq!(
            p(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            )
            .map(|o| o.map(|x| x.1)),
            Ok(Some(UpstreamBody::Chunked))
        );
        assert_eq!(
            p("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", false).map(|o| o.map(|x| x.1)),
            Ok(Some(UpstreamBody::UntilClose))
        );
        assert_eq!(
            p(
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false
            )
            .map(|o| o.map(|x| x.1)),
            Ok(Some(UpstreamBody::Empty))
        );
        assert_eq!(p("HTTP/1.1 200 OK\r\nContent-Le", false), Ok(None));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert_eq!(p(bad, false).map_err(|e| e.status), Err(502), "{bad}");
        }
    }

    #[test]
    fn hop_by_hop_fields() {
        for h in [
            "Connection",
            "keep-alive",
            "TE",
            "Transfer-Encoding",
            "Upgrade",
        ] {
            assert!(is_hop_by_hop(h), "{h}");
        }
        for h in ["Content-Type", "Cookie", "Host"] {
            assert!(!is_hop_by_hop(h), "{h}");
        }
        assert_eq!(
            connection_options([&b"close, X-Private"[..]].into_iter()),
            vec!["close".to_owned(), "x-private".to_owned()]
        );
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        fn field() -> impl Strategy<Value = (String, String)> {
            ("X-[A-Za-z0-9]{1,12}", "[ -~]{0,40}")
                .prop_map(|(n, v)| (n, v.trim_matches([' ', '\t']).to_owned()))
        }

        proptest! {
            #[test]
            fn cgi_heads_parse_whole_and_never_early(
                fields in prop::collection::vec(field(), 0..12),
                status in 100u16..1000,
                body in prop::collection::vec(any::<u8>(), 0..64),
                crlf in any::<bool>(),
            ) {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut head = format!("Status: {status} Whatever{eol}");
                for (n, v) in &fields {
                    head.push_str(&format!("{n}: {v}{eol}"));
                }
                head.push_str(eol);
                let mut all = head.clone().into_bytes();
                all.extend_from_slice(&body);
                let (h, used) = parse_cgi_head(&all, 1 << 16).expect("valid").expect("complete");
                prop_assert_eq!(used, head.len());
                prop_assert_eq!(h.status, status);
                let want: Vec<(String, Vec<u8>)> = fields
                    .iter()
                    .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
                    .collect();
                prop_assert_eq!(h.fields, want);
                // Every proper prefix of the head is "not yet".
                for cut in 0..head.len() {
                    prop_assert_eq!(parse_cgi_head(&all[..cut], 1 << 16), Ok(None));
                }
            }

            #[test]
            fn arbitrary_output_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(Some((_, used))) = parse_cgi_head(&data, 256) {
                    prop_assert!(used <= data.len());
                }
                if let Ok(Some((_, used))) = parse_response_head(&data, 256, false) {
                    prop_assert!(used <= data.len());
                }
            }
        }
    }
}

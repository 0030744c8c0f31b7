//! A small HTTP/1.1 client on the shard's reactor, for the HTTP bridge's
//! router components (MessageForwarder, RESTCallee): one request per
//! connection (`Connection: close`), `http://` and `https://` URLs, the
//! whole answer read into memory within [`MAX_RESPONSE`], everything within
//! one timeout.
//!
//! Why our own rather than a crate: the well-kept clients (hyper's client,
//! reqwest, ureq, isahc) bring a runtime (tokio) or block the thread, and
//! these components make a handful of plain requests; glommio's TCP stream,
//! `httparse` (already used by the server) for the answer's head and a
//! chunked-body decoder are all it takes. Name resolution runs on the
//! executor's blocking pool (`getaddrinfo` blocks).
//!
//! `https://` goes through rustls (the server's provider, aws-lc-rs) and is
//! checked against the system's trust store, as Crossbar's bridge (treq,
//! Twisted's platform trust) checks it: `rustls-native-certs` reads it
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` override where it is), once per
//! process, on the blocking pool; where it holds no certificate, Mozilla's
//! roots (`webpki-roots`) stand in. No client certificate is sent.

mod tls;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

/// The largest answer read (head and body).
pub const MAX_RESPONSE: usize = 16 << 20;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http[s]://host[:port][/path][?query]`.
    #[error("unsupported or malformed URL {0:?} (only http:// and https:// URLs)")]
    Url(String),
    /// The TLS handshake or record layer failed (an untrusted certificate
    /// included).
    #[error("TLS: {0}")]
    Tls(String),
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer is not valid HTTP/1.x or too large.
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
}

/// An `http://` or `https://` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://`.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80, or 443 for `https://`, by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses `http[s]://host[:port][/path][?query]`.
    ///
    /// # Errors
    /// [`ClientError::Url`] for anything else.
    pub fn parse(url: &str) -> Result<Url, ClientError> {
        let bad = || ClientError::Url(url.to_owned());
        let scheme = |s: &str| {
            url.get(..s.len())
                .filter(|p| p.eq_ignore_ascii_case(s))
                .map(|_| &url[s.len()..])
        };
        let (tls, rest) = match (scheme("http://"), scheme("https://")) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => return Err(bad()),
        };
        let default_port = if tls { 443 } else { 80 };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => default_port,
                None => return Err(bad()),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad());
        }
        Ok(Url {
            tls,
            host,
            port,
            target,
        })
    }

    /// `Host` header value.
    fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

/// `base` joined with `reference` as a browser would (Python's `urljoin`
/// for the cases the bridge sees): an absolute URL replaces the base, `/x`
/// replaces its path, `x` replaces its last segment, `?q` its query.
pub fn join(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_owned();
    }
    if reference.is_empty() {
        return base.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find(['/', '?'])
        .map_or(base.len(), |i| scheme_end + i);
    let origin = &base[..path_start];
    let path = &base[path_start..];
    let path_only = path.split('?').next().unwrap_or("");
    if let Some(q) = reference.strip_prefix('?') {
        return format!("{origin}{path_only}?{q}");
    }
    if reference.starts_with('/') {
        return format!("{origin}{reference}");
    }
    let dir = match path_only.rfind('/') {
        Some(i) => &path_only[..=i],
        None => "/",
    };
    format!("{origin}{dir}{reference}")
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body (chunked coding removed).
    pub body: Bytes,
}

/// Makes one request and reads its whole answer within `timeout`.
///
/// # Errors
/// [`ClientError`].
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, ClientError> {
    let url = Url::parse(url)?;
    let mut out = request_head(method, &url, headers, body.len());
    out.extend_from_slice(body);
    let work = async {
        let addr = resolve(&url).await?;
        let sock = TcpStream::connect(addr)
            .await
            .map_err(std::io::Error::from)?;
        if url.tls {
            let config = tls::config().await?;
            tls::exchange(sock, config, &url.host, &out).await
        } else {
            exchange(sock, &out).await
        }
    };
    match crate::transport::with_timeout(timeout, work).await {
        Some(r) => r,
        None => Err(ClientError::Timeout(timeout)),
    }
}

/// Sends `out` (head and body) on a plain connection and reads the answer.
async fn exchange(mut sock: TcpStream, out: &[u8]) -> Result<Response, ClientError> {
    sock.write_all(out).await?;
    sock.flush().await?;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return finish(&raw);
        }
        if let Some(r) = take(&mut raw, &buf[..n])? {
            return Ok(r);
        }
    }
}

/// Adds `more` to the answer read so far; the answer once complete by its
/// length (the server may keep the connection despite `Connection: close`).
fn take(raw: &mut Vec<u8>, more: &[u8]) -> Result<Option<Response>, ClientError> {
    raw.extend_from_slice(more);
    if raw.len() > MAX_RESPONSE {
        return Err(ClientError::Malformed("answer too large"));
    }
    parse_response(raw, false).or(Ok(None))
}

/// The answer once the connection ended.
fn finish(raw: &[u8]) -> Result<Response, ClientError> {
    parse_response(raw, true)?.ok_or(ClientError::Malformed("answer cut short"))
}

/// The request head: request line, `Host`, the given fields, the body's
/// length, `Connection: close`.
fn request_head(method: &str, url: &Url, headers: &[(String, String)], len: usize) -> Vec<u8> {
    let mut h = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\n",
        url.target,
        url.host_header()
    );
    for (n, v) in headers {
        let managed = ["host", "content-length", "connection", "transfer-encoding"];
        if managed.iter().any(|m| n.eq_ignore_ascii_case(m))
            || n.bytes().any(|b| b <= b' ' || b == b':')
            || v.bytes().any(|b| b == b'\r' || b == b'\n')
        {
            continue;
        }
        h.push_str(&format!("{n}: {v}\r\n"));
    }
    h.push_str(&format!(
        "Content-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    h.into_bytes()
}

async fn resolve(url: &Url) -> Result<SocketAddr, ClientError> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, url.port));
    }
    let (host, port) = (url.host.clone(), url.port);
    let found = glommio::executor()
        .spawn_blocking(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(|mut a| a.next())
        })
        .await;
    match found {
        Ok(Some(a)) => Ok(a),
        _ => Err(ClientError::Resolve(url.host.clone())),
    }
}

/// Parses an answer from `raw`: `Ok(None)` while incomplete (`at_eof`: the
/// connection ended, so a body without a length ends here).
///
/// # Errors
/// [`ClientError::Malformed`].
pub fn parse_response(raw: &[u8], at_eof: bool) -> Result<Option<Response>, ClientError> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut fields);
    let head_len = match r.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if at_eof => {
            return Err(ClientError::Malformed("answer head cut short"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ClientError::Malformed("invalid answer head")),
    };
    let status = r.code.ok_or(ClientError::Malformed("no status"))?;
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let field = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let rest = &raw[head_len..];
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    let body = if no_body {
        Bytes::new()
    } else if field("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().ends_with("chunked"))
    {
        match dechunk(rest)? {
            Some(b) => Bytes::from(b),
            None if at_eof => return Err(ClientError::Malformed("chunked body cut short")),
            None => return Ok(None),
        }
    } else if let Some(len) = field("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| ClientError::Malformed("bad Content-Length"))?;
        if rest.len() < len {
            if at_eof {
                return Err(ClientError::Malformed("body cut short"));
            }
            return Ok(None);
        }
        Bytes::copy_from_slice(&rest[..len])
    } else if at_eof {
        Bytes::copy_from_slice(rest)
    } else {
        return Ok(None);
    };
    Ok(Some(Response {
        status,
        headers,
        body,
    }))
}

/// Decodes a chunked body; `Ok(None)` while incomplete.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line =
            std::str::from_utf8(&rest[..eol]).map_err(|_| ClientError::Malformed("chunk size"))?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| ClientError::Malformed("chunk size"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_join() {
        let u = Url::parse("http://example.org:8080/a/b?x=1").expect("ok");
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("example.org", 8080, "/a/b?x=1")
        );
        let u = Url::parse("HTTP://[::1]/").expect("ok");
        assert_eq!(
            (u.host.as_str(), u.port, u.host_header()),
            ("::1", 80, "[::1]".to_owned())
        );
        assert_eq!(Url::parse("http://h?q").expect("ok").target, "/?q");
        let u = Url::parse("https://h/p").expect("ok");
        assert_eq!(
            (u.tls, u.port, u.host_header()),
            (true, 443, "h".to_owned())
        );
        let u = Url::parse("https://h:8443").expect("ok");
        assert_eq!(
            (u.tls, u.port, u.host_header()),
            (true, 8443, "h:8443".to_owned())
        );
        assert!(!Url::parse("http://h:443/").expect("ok").tls);
        assert_eq!(
            Url::parse("http://h:443/").expect("ok").host_header(),
            "h:443"
        );
        for bad in [
            "httpx://x/",
            "ftp://x",
            "http://",
            "http://h:x/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(join("http://h/api/", "users"), "http://h/api/users");
        assert_eq!(join("http://h/api/v1", "users"), "http://h/api/users");
        assert_eq!(join("http://h/api/", "/root"), "http://h/root");
        assert_eq!(join("http://h", "x"), "http://h/x");
        assert_eq!(join("http://h/a?q=1", "?r=2"), "http://h/a?r=2");
        assert_eq!(join("http://h/a", "http://o/b"), "http://o/b");
        assert_eq!(join("http://h/a", ""), "http://h/a");
    }

    #[test]
    fn answers_parse_by_length_chunks_or_close() {
        let r = parse_response(
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok",
            false,
        )
        .expect("ok")
        .expect("complete");
        assert_eq!((r.status, &r.body[..]), (201, &b"ok"[..]));
        assert_eq!(r.headers[1], ("X-A".to_owned(), "b".to_owned()));
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", false).expect("ok"),
            None
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", true).is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse_response(chunked, false)
            .expect("ok")
            .expect("complete");
        assert_eq!(&r.body[..], b"abcde");
        assert_eq!(
            parse_response(&chunked[..chunked.len() - 7], false).expect("ok"),
            None
        );
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nuntil close", true)
            .expect("ok")
            .expect("complete");
        assert_eq!(&r.body[..], b"until close");
        let r = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .expect("ok")
            .expect("complete");
        assert!(r.body.is_empty());
        assert!(parse_response(b"garbage\r\n\r\n", false).is_err());
    }

    #[test]
    fn request_heads_keep_managed_fields_ours() {
        let u = Url::parse("http://h:81/p").expect("ok");
        let head = request_head(
            "POST",
            &u,
            &[
                ("Content-Type".into(), "application/json".into()),
                ("Content-Length".into(), "999".into()),
                ("X-Bad".into(), "a\r\nInjected: 1".into()),
            ],
            3,
        );
        let text = String::from_utf8(head).expect("utf8");
        assert_eq!(
            text,
            "POST /p HTTP/1.1\r\nHost: h:81\r\nContent-Type: application/json\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
    }
}

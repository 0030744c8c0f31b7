//! Request heads (RFC 9112 sections 2 to 5): the request line and the header
//! fields, parsed by `httparse` into a [`RequestHead`] that keeps the raw
//! octets and the positions of each part.
//!
//! `httparse` was chosen over a parser of our own by the criterion benchmark
//! in `benches/http.rs` (`http_head/*`): on a typical browser GET it is the
//! fastest of the two (it scans with SIMD), it is the parser hyper uses, and it
//! is fuzzed upstream; what it lacks (limits, `Host` rules, target forms,
//! spans instead of borrows) is added here.
//!
//! A head is generic over its storage: `RequestHead<&[u8]>` borrows the read
//! buffer ([`parse_request_head`]), `RequestHead<Bytes>` (the default) owns
//! it: the connection splits the head's octets off its buffer without a copy,
//! and [`RequestHead::into_owned`] copies a borrowed head.

use std::mem::MaybeUninit;

use bytes::Bytes;

use super::{HttpError, Limits, MAX_HEADERS_CAP, Method, Version};

/// A range of octets of a head (heads are at most [`u32::MAX`] long: the
/// limit is far lower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The octets of `raw` this span covers (empty when out of range, which
    /// a span made by this module never is).
    pub(crate) fn of(self, raw: &[u8]) -> &[u8] {
        raw.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    /// The span of `part` inside `base`, trimmed of surrounding spaces and
    /// tabs; `None` when `part` does not lie in `base`.
    pub(crate) fn locate(base: &[u8], part: &[u8]) -> Option<Span> {
        let trimmed = trim_ows(part);
        let start = (trimmed.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
        let end = start.checked_add(trimmed.len())?;
        if end > base.len() {
            return None;
        }
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }
}

/// `part` without leading and trailing optional white space (SP, HTAB).
fn trim_ows(part: &[u8]) -> &[u8] {
    let start = part
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(part.len());
    let end = part
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &part[start..end]
}

/// One header field: where its name and its (trimmed) value lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

/// Collects the fields `httparse` found in `raw` as spans.
pub(crate) fn fields_of(
    raw: &[u8],
    headers: &[httparse::Header<'_>],
) -> Result<Vec<Field>, HttpError> {
    const LOST: HttpError = HttpError::bad_request("malformed header field");
    // One allocation of the right size (collecting into a `Result` would
    // lose the size hint and grow the vector step by step).
    let mut fields = Vec::with_capacity(headers.len());
    for h in headers {
        fields.push(Field {
            name: Span::locate(raw, h.name.as_bytes()).ok_or(LOST)?,
            value: Span::locate(raw, h.value).ok_or(LOST)?,
        });
    }
    Ok(fields)
}

/// A view of header fields (a request head's or a trailer section's): case
/// insensitive look-ups by name, values as octets.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    raw: &'a [u8],
    fields: &'a [Field],
}

impl<'a> Headers<'a> {
    pub(crate) fn new(raw: &'a [u8], fields: &'a [Field]) -> Self {
        Headers { raw, fields }
    }

    /// How many field lines there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field line in order: its name (as sent) and its value (without
    /// surrounding white space).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let raw = self.raw;
        self.fields.iter().map(move |f| {
            // Names are tokens (checked by the parser): ASCII.
            let name = std::str::from_utf8(f.name.of(raw)).unwrap_or_default();
            (name, f.value.of(raw))
        })
    }

    /// The values of every line named `name` (ASCII case-insensitive), in order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let raw = self.raw;
        self.fields
            .iter()
            .filter(move |f| f.name.of(raw).eq_ignore_ascii_case(name.as_bytes()))
            .map(move |f| f.value.of(raw))
    }

    /// The value of the first line named `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        let raw = self.raw;
        self.fields
            .iter()
            .find(|f| f.name.of(raw).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value.of(raw))
    }

    /// The value of the first line named `name`, when it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether a line named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many lines are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Whether the comma-separated lists of every line named `name` hold
    /// `token` (ASCII case-insensitive), as for `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .any(|v| super::list_elements(v).any(|e| e.eq_ignore_ascii_case(token.as_bytes())))
    }
}

/// A parsed request head: method, target, version and header fields, over
/// the head's raw octets `B` (borrowed `&[u8]` or owned [`Bytes`]).
#[derive(Clone)]
pub struct RequestHead<B = Bytes> {
    /// The head's octets, from the buffer's start to the blank line's end.
    raw: B,
    /// The method, decoded.
    method: Method,
    /// The method's token.
    method_span: Span,
    /// The request target, as sent.
    target: Span,
    /// HTTP/1.0 or HTTP/1.1.
    version: Version,
    /// The header fields, in order.
    fields: Vec<Field>,
}

impl<B: AsRef<[u8]>> std::fmt::Debug for RequestHead<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, String)> = self
            .headers()
            .iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned()))
            .collect();
        f.debug_struct("RequestHead")
            .field("method", &self.method_str())
            .field("target", &self.target())
            .field("version", &self.version)
            .field("headers", &headers)
            .finish()
    }
}

impl<B: AsRef<[u8]>, C: AsRef<[u8]>> PartialEq<RequestHead<C>> for RequestHead<B> {
    fn eq(&self, other: &RequestHead<C>) -> bool {
        self.method_str() == other.method_str()
            && self.target() == other.target()
            && self.version == other.version
            && self.headers().iter().eq(other.headers().iter())
    }
}

impl<B: AsRef<[u8]>> RequestHead<B> {
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method's name as sent (also for [`Method::Other`]).
    pub fn method_str(&self) -> &str {
        std::str::from_utf8(self.method_span.of(self.raw.as_ref())).unwrap_or_default()
    }

    /// The request target as sent: `/path?query` (origin form),
    /// `http://host/path` (absolute form), `host:port` (CONNECT) or `*`
    /// (OPTIONS).
    pub fn target(&self) -> &str {
        // The parser checked that the target is UTF-8.
        std::str::from_utf8(self.target.of(self.raw.as_ref())).unwrap_or_default()
    }

    /// The target's path, still percent-encoded, without query: `/` for an
    /// absolute-form target without a path, empty for CONNECT and `*`.
    pub fn path(&self) -> &str {
        target_path(self.target())
    }

    /// The target's query (after `?`, without it), if there is one.
    pub fn query(&self) -> Option<&str> {
        let t = self.target();
        let t = &t[..t.find('#').unwrap_or(t.len())];
        t.find('?').map(|i| &t[i + 1..])
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> Headers<'_> {
        Headers::new(self.raw.as_ref(), &self.fields)
    }

    /// The head's length in octets (what it took of the buffer).
    pub fn len(&self) -> usize {
        self.raw.as_ref().len()
    }

    /// Always false: a head has at least a request line.
    pub fn is_empty(&self) -> bool {
        self.raw.as_ref().is_empty()
    }

    /// The head's raw octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.raw.as_ref()
    }

    /// An owned copy of this head.
    pub fn into_owned(self) -> RequestHead<Bytes> {
        let raw = Bytes::copy_from_slice(self.raw.as_ref());
        self.with_storage(raw)
    }

    /// The same head over other storage, which must hold the same octets
    /// (the connection moves a parsed head onto the octets it split off its
    /// buffer; it detaches it first with an empty storage to end the
    /// borrow).
    pub(crate) fn with_storage<C: AsRef<[u8]>>(self, raw: C) -> RequestHead<C> {
        RequestHead {
            raw,
            method: self.method,
            method_span: self.method_span,
            target: self.target,
            version: self.version,
            fields: self.fields,
        }
    }
}

/// The path of a request target: origin form (`/ws?x=1`) or absolute form
/// (`http://host/ws`), without query or fragment.
fn target_path(target: &str) -> &str {
    let mut path = target;
    if let Some(rest) = strip_scheme(target) {
        path = rest.find('/').map_or("/", |i| &rest[i..]);
    } else if !target.starts_with('/') {
        return "";
    }
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// The target after `http://`, `https://`, `ws://` or `wss://` (any case).
fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|scheme| {
            let head = target.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme)
                .then(|| &target[scheme.len()..])
        })
}

/// Parses the request head at the start of `buf` (empty lines before the
/// request line are skipped, RFC 9112 section 2.2).
///
/// `Ok(None)`: the head is not complete yet and `buf` is shorter than
/// `limits.max_head`. `Ok(Some(head))`: the head, borrowing its `head.len()`
/// octets from `buf`; what follows is the body or the next request.
///
/// # Errors
/// [`HttpError`]: a head over `limits.max_head` or with more than
/// `limits.max_headers` fields (431), a target over `limits.max_target`
/// (414), a version other than HTTP/1.0 and HTTP/1.1 (505), or malformed
/// syntax (400): the request line, a field, a target that is not in a form
/// its method allows, a missing `Host` in HTTP/1.1, more than one `Host`, or
/// a `Host` that is not a valid authority.
pub fn parse_request_head<'b>(
    buf: &'b [u8],
    limits: &Limits,
) -> Result<Option<RequestHead<&'b [u8]>>, HttpError> {
    let window = &buf[..buf.len().min(limits.max_head)];
    let cap = limits.max_headers.min(MAX_HEADERS_CAP);
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(window, &mut storage[..cap]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if target_too_long(window, limits.max_target) {
                return Err(HttpError::new(414, "request target too long"));
            }
            if buf.len() >= limits.max_head {
                return Err(HttpError::new(431, "request head too large"));
            }
            return Ok(None);
        }
        Err(e) => return Err(syntax_error(e, window, limits)),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::bad_request("malformed request line"));
    };
    let raw = &buf[..len];
    if target.len() > limits.max_target {
        return Err(HttpError::new(414, "request target too long"));
    }
    let version = match minor {
        0 => Version::Http10,
        _ => Version::Http11,
    };
    let method_kind = Method::from_token(method);
    check_target_form(method_kind, target)?;
    let fields = fields_of(raw, req.headers)?;
    let head = RequestHead {
        raw,
        method: method_kind,
        method_span: Span::locate(raw, method.as_bytes())
            .ok_or(HttpError::bad_request("malformed request line"))?,
        target: Span::locate(raw, target.as_bytes())
            .ok_or(HttpError::bad_request("malformed request line"))?,
        version,
        fields,
    };
    check_host(&head)?;
    Ok(Some(head))
}

/// The error for what `httparse` refused: 431 for too many fields, 505 for a
/// well-formed version other than 1.0 and 1.1, 414 when the target alone is
/// over the limit, 400 otherwise.
fn syntax_error(e: httparse::Error, window: &[u8], limits: &Limits) -> HttpError {
    if target_too_long(window, limits.max_target) {
        return HttpError::new(414, "request target too long");
    }
    match e {
        httparse::Error::TooManyHeaders => HttpError::new(431, "too many header fields"),
        httparse::Error::Version if looks_like_version(window) => {
            HttpError::new(505, "HTTP version not supported")
        }
        httparse::Error::Version => HttpError::bad_request("malformed HTTP version"),
        httparse::Error::HeaderName => HttpError::bad_request("invalid header field name"),
        httparse::Error::HeaderValue => HttpError::bad_request("invalid header field value"),
        httparse::Error::NewLine => HttpError::bad_request("malformed line ending"),
        httparse::Error::Token | httparse::Error::Status => {
            HttpError::bad_request("malformed request line")
        }
    }
}

/// The request line's parts, split at single spaces (after leading empty lines).
fn request_line(window: &[u8]) -> impl Iterator<Item = &[u8]> {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    let line = &window[start..];
    let end = line
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(line.len());
    line[..end].split(|&b| b == b' ')
}

/// Whether the request line's target (complete or not) is longer than `max`.
fn target_too_long(window: &[u8], max: usize) -> bool {
    request_line(window).nth(1).is_some_and(|t| t.len() > max)
}

/// Whether the request line ends in a syntactically valid `HTTP/d.d`.
fn looks_like_version(window: &[u8]) -> bool {
    matches!(
        request_line(window).nth(2),
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
            if major.is_ascii_digit() && minor.is_ascii_digit()
    )
}

/// RFC 9112 section 3.2: origin form for most methods, authority form only
/// for CONNECT, `*` only for OPTIONS, absolute form (http or https, and ws or
/// wss as browsers' proxies write them) for any method.
fn check_target_form(method: Method, target: &str) -> Result<(), HttpError> {
    let ok = match method {
        Method::Connect => !target.is_empty() && !target.contains('/'),
        Method::Options if target == "*" => true,
        _ => target.starts_with('/') || strip_scheme(target).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(HttpError::bad_request("request target not allowed here"))
    }
}

/// RFC 9112 section 3.2: an HTTP/1.1 request must have exactly one `Host`;
/// any request may have at most one, and it must be a valid authority
/// (`host[:port]`, possibly empty).
fn check_host<B: AsRef<[u8]>>(head: &RequestHead<B>) -> Result<(), HttpError> {
    let mut hosts = head.headers().get_all("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if head.version == Version::Http11 => {
            Err(HttpError::bad_request("missing Host header field"))
        }
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(HttpError::bad_request("more than one Host header field")),
        (Some(host), None) if is_valid_authority(host) => Ok(()),
        (Some(_), None) => Err(HttpError::bad_request("invalid Host header field")),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986): reg-name or IPv4 characters, or an
/// IP literal in brackets, then an optional decimal port.
fn is_valid_authority(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..close];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'))
        {
            return false;
        }
        match &rest[close + 1..] {
            [] => (&b""[..], None),
            [b':', port @ ..] => (&b""[..], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        }
    };
    let host_ok = host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    });
    host_ok && port.is_none_or(|p| p.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER_GET: &str = "GET /static/app.js?v=3 HTTP/1.1\r\n\
        Host: example.com:8080\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
        Accept: */*\r\n\
        Accept-Language: en-US,en;q=0.5\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\
        Connection: keep-alive\r\n\
        Cookie: session=abc; theme=dark\r\n\r\n";

    fn parse(s: &str) -> Result<Option<RequestHead<&[u8]>>, HttpError> {
        parse_request_head(s.as_bytes(), &Limits::default())
    }

    fn status(s: &str) -> u16 {
        parse(s).expect_err("should be refused").status
    }

    #[test]
    fn parses_a_browser_get() {
        let head = parse(BROWSER_GET).expect("valid").expect("complete");
        assert_eq!(head.len(), BROWSER_GET.len());
        assert_eq!(head.method(), Method::Get);
        assert_eq!(head.method_str(), "GET");
        assert_eq!(head.target(), "/static/app.js?v=3");
        assert_eq!(head.path(), "/static/app.js");
        assert_eq!(head.query(), Some("v=3"));
        assert_eq!(head.version(), Version::Http11);
        let h = head.headers();
        assert_eq!(h.len(), 7);
        assert_eq!(h.get("HOST"), Some(&b"example.com:8080"[..]));
        assert_eq!(h.get_str("accept-language"), Some("en-US,en;q=0.5"));
        assert!(h.has_token("connection", "Keep-Alive"));
        assert!(!h.has_token("connection", "close"));
        assert_eq!(h.get("x-missing"), None);
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "Host");
        assert_eq!(names[6], "Cookie");
    }

    #[test]
    fn owned_head_equals_borrowed() {
        let head = parse(BROWSER_GET).expect("valid").expect("complete");
        let owned = head.clone().into_owned();
        assert_eq!(owned, head);
        assert_eq!(owned.headers().get("cookie"), head.headers().get("cookie"));
        assert_eq!(owned.as_bytes(), BROWSER_GET.as_bytes());
        let dbg = format!("{owned:?}");
        assert!(dbg.contains("\"GET\"") && dbg.contains("/static/app.js?v=3"));
    }

    #[test]
    fn values_are_trimmed_and_repeated_fields_kept() {
        let head =
            parse("GET / HTTP/1.1\r\nHost: a\r\nX-A:   one  \r\nx-a:\ttwo\r\nX-Empty:\r\n\r\n")
                .expect("valid")
                .expect("complete");
        let h = head.headers();
        let all: Vec<&[u8]> = h.get_all("X-A").collect();
        assert_eq!(all, [&b"one"[..], b"two"]);
        assert_eq!(h.count("x-a"), 2);
        assert_eq!(h.get("x-empty"), Some(&b""[..]));
        assert!(h.contains("X-EMPTY"));
    }

    #[test]
    fn incomplete_at_every_cut() {
        let bytes = BROWSER_GET.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_request_head(&bytes[..cut], &Limits::default()),
                Ok(None),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn leading_empty_lines_and_bare_lf_are_accepted() {
        let head = parse("\r\n\nGET /x HTTP/1.0\nHost: h\n\nBODY")
            .expect("valid")
            .expect("complete");
        assert_eq!(head.len(), "\r\n\nGET /x HTTP/1.0\nHost: h\n\n".len());
        assert_eq!(head.version(), Version::Http10);
        assert_eq!(head.path(), "/x");
    }

    #[test]
    fn target_forms() {
        let ok = |t: &str, m: &str| {
            let raw = format!("{m} {t} HTTP/1.1\r\nHost: h\r\n\r\n");
            let head = parse(&raw).expect("valid").expect("complete");
            (head.path().to_owned(), head.query().map(str::to_owned))
        };
        assert_eq!(
            ok("http://h/a/b?c=d#f", "GET"),
            ("/a/b".into(), Some("c=d".into()))
        );
        assert_eq!(ok("HTTPS://h", "GET"), ("/".into(), None));
        assert_eq!(ok("/p#frag", "GET"), ("/p".into(), None));
        assert_eq!(ok("*", "OPTIONS"), ("".into(), None));
        assert_eq!(ok("h:443", "CONNECT"), ("".into(), None));
        for (m, t) in [
            ("GET", "*"),
            ("GET", "x/y"),
            ("CONNECT", "/x"),
            ("GET", "ftp://h/"),
        ] {
            assert_eq!(
                parse(&format!("{m} {t} HTTP/1.1\r\nHost: h\r\n\r\n")),
                Err(HttpError::bad_request("request target not allowed here")),
                "{m} {t}"
            );
        }
    }

    #[test]
    fn host_rules() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Err(HttpError::bad_request("missing Host header field"))
        );
        assert!(parse("GET / HTTP/1.0\r\n\r\n").expect("valid").is_some());
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            Err(HttpError::bad_request("more than one Host header field"))
        );
        for good in [
            "",
            "a",
            "a.b-c_d~e",
            "a:1",
            "[::1]",
            "[::1]:80",
            "1.2.3.4:65535",
            "x%41",
        ] {
            assert!(
                parse(&format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n")).is_ok(),
                "{good:?}"
            );
        }
        for bad in ["a b", "a/b", "a@b", "a:b", "[::1", "[]", "[::1]x", "a:1:"] {
            assert_eq!(
                parse(&format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n")),
                Err(HttpError::bad_request("invalid Host header field")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits_give_431_and_414() {
        let limits = Limits {
            max_head: 200,
            max_target: 50,
            max_headers: 3,
            ..Limits::default()
        };
        let p = |s: &[u8]| parse_request_head(s, &limits).map(|h| h.map(|h| h.len()));
        // Head over the limit: 431, whether complete or not.
        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        big.resize(199, b'a');
        assert_eq!(p(&big), Ok(None));
        big.push(b'a');
        assert_eq!(p(&big).map_err(|e| e.status), Err(431));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(p(&big).map_err(|e| e.status), Err(431));
        // Too many fields.
        let many = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            p(many.as_bytes()),
            Err(HttpError::new(431, "too many header fields"))
        );
        assert!(p(many.replace("C: 3\r\n", "").as_bytes()).is_ok());
        // Target over the limit: 414 as soon as it is known, complete or not.
        let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(50));
        assert_eq!(p(long.as_bytes()).map_err(|e| e.status), Err(414));
        assert_eq!(p(&long.as_bytes()[..30]).map_err(|e| e.status), Ok(None));
        assert_eq!(p(&long.as_bytes()[..60]).map_err(|e| e.status), Err(414));
        let mut endless = b"GET /".to_vec();
        endless.resize(300, b'a');
        assert_eq!(p(&endless).map_err(|e| e.status), Err(414));
        let ok = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(49));
        assert!(p(ok.as_bytes()).expect("valid").is_some());
    }

    #[test]
    fn versions() {
        for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
            assert_eq!(status(&format!("GET / {v}\r\nHost: h\r\n\r\n")), 505, "{v}");
        }
        for v in ["HTTP/1", "http/1.1", "HTTP/1.1x", "HTTP/11.1", "FOO"] {
            assert_eq!(status(&format!("GET / {v}\r\nHost: h\r\n\r\n")), 400, "{v}");
        }
    }

    #[test]
    fn malformed_heads_are_400() {
        for bad in [
            "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\rHost: h\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03",
        ] {
            assert_eq!(status(bad), 400, "{bad:?}");
        }
    }

    #[test]
    fn authority_validation() {
        assert!(is_valid_authority(b"[v1.fe80::a]:1"));
        assert!(!is_valid_authority(b"a\xc3\xa9"));
        assert!(!is_valid_authority(b"a:1x"));
    }
}

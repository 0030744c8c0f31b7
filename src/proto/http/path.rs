//! Percent-encoding (RFC 3986 section 2.1), static-file path normalisation
//! and query strings.
//!
//! [`StaticPath::parse`] turns a request path into the relative file path a
//! static service may open, or refuses it. It is strict, so that no request
//! can name a file outside the served directory, whatever the spelling:
//!
//! - the path is percent-decoded exactly once; a malformed escape is refused;
//! - a `..` segment is refused, however it was spelled (`..`, `%2e%2e`,
//!   `.%2E`, ...), and so is a decoded result that still holds a
//!   percent-escape (double encoding: `%252e%252e` decodes to `%2e%2e`, which
//!   a second decoder anywhere would turn into `..`);
//! - an encoded slash (`%2f`) is refused rather than read as a separator or
//!   as part of a name, and so is a backslash (raw or `%5c`: a separator on
//!   Windows and in some URL parsers);
//! - NUL and other control characters, and paths that are not UTF-8, are
//!   refused;
//! - empty and `.` segments are dropped (`//a/./b` is `a/b`).
//!
//! What is left are plain names: joined under the root they only go down.
//! Symbolic links are the I/O side's business (it resolves the joined path
//! and checks it still lies under the root unless links are allowed).
//!
//! Query strings are read the way browsers write forms
//! (`application/x-www-form-urlencoded`): `+` is a space, and malformed
//! escapes are kept as they are rather than refused.

use std::borrow::Cow;
use std::path::PathBuf;

/// Why a request path cannot name a static file. Each is answered with 400
/// (there is no file to look for), see [`PathError::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("path is not absolute")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-escape")]
    BadEscape,
    /// The decoded path is not UTF-8.
    #[error("path is not UTF-8")]
    NotUtf8,
    /// A `..` segment.
    #[error("parent-directory segment")]
    DotDot,
    /// An encoded slash or a backslash.
    #[error("encoded slash or backslash")]
    Separator,
    /// NUL or another control character.
    #[error("control character in path")]
    Control,
    /// The decoded path still holds a percent-escape (double encoding).
    #[error("double percent-encoding")]
    DoubleEncoding,
}

impl PathError {
    /// The status to answer with: 400.
    pub fn status(self) -> u16 {
        400
    }
}

/// The value of a hex digit.
fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes `input` strictly: every `%` must start an escape of two
/// hex digits. Borrows when there is nothing to decode.
///
/// # Errors
/// [`PathError::BadEscape`] for a malformed escape.
pub fn percent_decode(input: &[u8]) -> Result<Cow<'_, [u8]>, PathError> {
    if !input.contains(&b'%') {
        return Ok(Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let (Some(hi), Some(lo)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Ok(Cow::Owned(out))
}

/// Percent-decodes `input` leniently (a malformed escape stays as it is),
/// with `+` as a space when `plus_is_space`; invalid UTF-8 becomes U+FFFD.
pub fn percent_decode_lossy(input: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !(input.contains('%') || plus_is_space && input.contains('+')) {
        return Cow::Borrowed(input);
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Percent-encodes `s` for use as one path segment in a URL: everything but
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) and `! $ & ' ( ) * + , ; = : @`.
pub fn encode_path_segment(s: &str) -> Cow<'_, str> {
    fn keep(b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
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
                    | b':'
                    | b'@'
            )
    }
    if s.bytes().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        }
    }
    Cow::Owned(out)
}

/// The `name=value` pairs of a query string (`a=1&b=x+y&c`), decoded; a
/// pair without `=` has an empty value; empty pairs are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (
            percent_decode_lossy(name, true),
            percent_decode_lossy(value, true),
        )
    })
}

/// A request path made safe for the file system: plain names only, none
/// `..`, none with a separator or a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPath {
    /// The names, in order (none empty, `.` or `..`).
    segments: Vec<String>,
    /// The request path ended in `/` (a directory was asked for).
    trailing_slash: bool,
}

impl StaticPath {
    /// Normalises a request path (the target's path, still percent-encoded,
    /// without query; a mount prefix already taken off, keeping the leading
    /// `/`).
    ///
    /// # Errors
    /// [`PathError`]: see the module header for what is refused.
    pub fn parse(path: &str) -> Result<StaticPath, PathError> {
        if !path.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        let mut segments = Vec::new();
        for raw in path.split('/') {
            let decoded = percent_decode(raw.as_bytes())?;
            if decoded.contains(&b'/') || decoded.contains(&b'\\') {
                return Err(PathError::Separator);
            }
            if decoded.iter().any(|&b| b < 0x20 || b == 0x7F) {
                return Err(PathError::Control);
            }
            let name = std::str::from_utf8(&decoded).map_err(|_| PathError::NotUtf8)?;
            if percent_decode(name.as_bytes()).is_ok_and(|again| again != name.as_bytes()) {
                return Err(PathError::DoubleEncoding);
            }
            match name {
                "" | "." => {}
                ".." => return Err(PathError::DotDot),
                _ => segments.push(name.to_owned()),
            }
        }
        Ok(StaticPath {
            segments,
            trailing_slash: path.len() > 1 && path.ends_with('/'),
        })
    }

    /// The names, in order; empty for the root.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether the request path ended in `/`.
    pub fn trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// Whether a name starts with `.` (hidden files; the static service
    /// decides whether to serve them).
    pub fn has_hidden_segment(&self) -> bool {
        self.segments.iter().any(|s| s.starts_with('.'))
    }

    /// The relative file path (empty for the root): join it to the root.
    pub fn to_relative(&self) -> PathBuf {
        self.segments.iter().collect()
    }

    /// The normalised URL path, percent-encoded again: `/a/b%20c/` (for
    /// redirects and directory listings).
    pub fn to_url_path(&self) -> String {
        let mut out = String::from("/");
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&encode_path_segment(s));
        }
        if self.trailing_slash && !self.segments.is_empty() {
            out.push('/');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> Vec<String> {
        StaticPath::parse(p).expect("allowed").segments().to_vec()
    }

    fn err(p: &str) -> PathError {
        StaticPath::parse(p).expect_err("refused")
    }

    #[test]
    fn plain_paths() {
        assert!(ok("/").is_empty());
        assert_eq!(ok("/index.html"), ["index.html"]);
        assert_eq!(ok("//a/./b//c/"), ["a", "b", "c"]);
        assert_eq!(ok("/a%20b/%C3%A9t%C3%A9.txt"), ["a b", "été.txt"]);
        assert_eq!(ok("/.../x"), ["...", "x"]);
        assert_eq!(ok("/a..b/..c/d.."), ["a..b", "..c", "d.."]);
        assert_eq!(ok("/%2e/x"), ["x"]);
        let p = StaticPath::parse("/docs/a%20b/").expect("allowed");
        assert!(p.trailing_slash());
        assert_eq!(p.to_relative(), PathBuf::from("docs/a b"));
        assert_eq!(p.to_url_path(), "/docs/a%20b/");
        assert!(!p.has_hidden_segment());
        assert!(
            StaticPath::parse("/.git/config")
                .expect("allowed")
                .has_hidden_segment()
        );
        assert_eq!(StaticPath::parse("/").expect("root").to_url_path(), "/");
    }

    #[test]
    fn traversal_in_every_spelling_is_refused() {
        for p in [
            "/..",
            "/../etc/passwd",
            "/a/../../b",
            "/a/..",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/%2e./x",
            "/a/%2e%2e",
        ] {
            assert_eq!(err(p), PathError::DotDot, "{p}");
        }
        for p in [
            "/..%2fetc",
            "/a%2fb",
            "/a%2Fb",
            "/..%5cx",
            "/a\\..\\b",
            "/a%5Cb",
        ] {
            assert_eq!(err(p), PathError::Separator, "{p}");
        }
        for p in ["/%252e%252e/x", "/%25%32%65%25%32%65/x", "/a%2541"] {
            assert_eq!(err(p), PathError::DoubleEncoding, "{p}");
        }
        for p in ["/a%00b", "/a%00", "/x%0a", "/a%7f", "/a\u{0}b"] {
            assert_eq!(err(p), PathError::Control, "{p}");
        }
        for p in ["/%", "/%2", "/%zz", "/a%g0"] {
            assert_eq!(err(p), PathError::BadEscape, "{p}");
        }
        assert_eq!(err("/%c0%ae%c0%ae/x"), PathError::NotUtf8);
        assert_eq!(err("/%ff"), PathError::NotUtf8);
        assert_eq!(err("a/b"), PathError::NotAbsolute);
        assert_eq!(err(""), PathError::NotAbsolute);
        assert_eq!(PathError::DotDot.status(), 400);
    }

    #[test]
    fn a_literal_percent_sign_in_a_name() {
        // "100%" is sent as "100%25"; decoded once it is a plain name.
        assert_eq!(ok("/100%25"), ["100%"]);
        assert_eq!(ok("/50%25off.txt"), ["50%off.txt"]);
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode(b"abc"), Ok(Cow::Borrowed(&b"abc"[..])));
        assert_eq!(percent_decode(b"a%41%7e").as_deref(), Ok(&b"aA~"[..]));
        assert_eq!(percent_decode(b"%"), Err(PathError::BadEscape));
        assert_eq!(percent_decode_lossy("a+b%20c", true), "a b c");
        assert_eq!(percent_decode_lossy("a+b", false), "a+b");
        assert_eq!(percent_decode_lossy("100%", true), "100%");
        assert_eq!(percent_decode_lossy("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode_lossy("%ff", false), "\u{fffd}");
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_path_segment("plain-name_1.txt"), "plain-name_1.txt");
        assert_eq!(encode_path_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(encode_path_segment("été"), "%C3%A9t%C3%A9");
        assert_eq!(
            percent_decode(encode_path_segment("a b/été?%").as_bytes()).as_deref(),
            Ok("a b/été?%".as_bytes())
        );
    }

    #[test]
    fn query_strings() {
        let pairs: Vec<(String, String)> = query_pairs("a=1&b=x+y&&c&d=%26%3D&e=%zz&=v")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("a", "1"),
            ("b", "x y"),
            ("c", ""),
            ("d", "&="),
            ("e", "%zz"),
            ("", "v"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert_eq!(query_pairs("").count(), 0);
    }
}

//! Cookies (RFC 6265): reading the `Cookie` request header and writing
//! `Set-Cookie` (the cookie authentication needs both).
//!
//! Reading is lenient, as browsers are: pairs without `=` or with an empty
//! name are skipped, values lose one pair of surrounding double quotes, and
//! a pair that is not UTF-8 is skipped. Writing is strict: a name must be a
//! token and a value cookie-octets, or [`SetCookie::new`] refuses it.

use super::date::HttpDate;
use super::head::Headers;
use super::is_token;

/// Every `name=value` pair of every `Cookie` line of `headers`, in order
/// (a name may repeat: browsers send the most specific path first).
pub fn cookies<'a>(headers: &Headers<'a>) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    headers.get_all("cookie").flat_map(parse_cookie_header)
}

/// The value of the first cookie called `name` in `headers`.
pub fn cookie<'a>(headers: &Headers<'a>, name: &str) -> Option<&'a str> {
    cookies(headers).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// The `name=value` pairs of one `Cookie` field value (`a=1; b="2"`).
pub fn parse_cookie_header(value: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    value.split(|&b| b == b';').filter_map(|pair| {
        let pair = std::str::from_utf8(pair).ok()?.trim_matches([' ', '\t']);
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches([' ', '\t']);
        if name.is_empty() {
            return None;
        }
        let value = value.trim_matches([' ', '\t']);
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some((name, value))
    })
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Also on top-level cross-site navigations.
    Lax,
    /// Always (requires `Secure` in browsers).
    None,
}

/// Why a cookie cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// The name is not a token.
    #[error("cookie name is not a token")]
    Name,
    /// The value holds an octet outside cookie-octet (space, `"`, `,`, `;`,
    /// `\`, controls, non-ASCII).
    #[error("cookie value with a forbidden character")]
    Value,
    /// A `Path` or `Domain` with `;` or a control character.
    #[error("cookie attribute with a forbidden character")]
    Attribute,
}

/// A `Set-Cookie` field value being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<i64>,
    expires: Option<HttpDate>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn check_attribute(v: &str) -> Result<String, CookieError> {
    if v.bytes().any(|b| b == b';' || b < 0x20 || b == 0x7F) {
        return Err(CookieError::Attribute);
    }
    Ok(v.to_owned())
}

impl SetCookie {
    /// A session cookie `name=value` with no attributes.
    ///
    /// # Errors
    /// [`CookieError`] when the name is not a token or the value is not
    /// cookie-octets (encode such values first, e.g. base64url).
    pub fn new(name: &str, value: &str) -> Result<Self, CookieError> {
        if !is_token(name.as_bytes()) {
            return Err(CookieError::Name);
        }
        if !value.bytes().all(is_cookie_octet) {
            return Err(CookieError::Value);
        }
        Ok(SetCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        })
    }

    /// `Path=path`.
    ///
    /// # Errors
    /// [`CookieError::Attribute`] for `;` or a control character.
    pub fn path(mut self, path: &str) -> Result<Self, CookieError> {
        self.path = Some(check_attribute(path)?);
        Ok(self)
    }

    /// `Domain=domain`.
    ///
    /// # Errors
    /// [`CookieError::Attribute`] for `;` or a control character.
    pub fn domain(mut self, domain: &str) -> Result<Self, CookieError> {
        self.domain = Some(check_attribute(domain)?);
        Ok(self)
    }

    /// `Max-Age=seconds` (0 or less deletes the cookie).
    pub fn max_age(mut self, seconds: i64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// `Expires=date`.
    pub fn expires(mut self, date: HttpDate) -> Self {
        self.expires = Some(date);
        self
    }

    /// `Secure`: sent over TLS only.
    pub fn secure(mut self) -> Self {
        self.secure = true;
        self
    }

    /// `HttpOnly`: hidden from scripts.
    pub fn http_only(mut self) -> Self {
        self.http_only = true;
        self
    }

    /// `SameSite=...`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// The field value, e.g. `cbtid=abc; Path=/; Max-Age=3600; HttpOnly`.
    pub fn to_header_value(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}={}", self.name, self.value);
        if let Some(p) = &self.path {
            let _ = write!(out, "; Path={p}");
        }
        if let Some(d) = &self.domain {
            let _ = write!(out, "; Domain={d}");
        }
        if let Some(age) = self.max_age {
            let _ = write!(out, "; Max-Age={age}");
        }
        if let Some(date) = self.expires {
            let _ = write!(out, "; Expires={date}");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(s) = self.same_site {
            out.push_str(match s {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{Limits, parse_request_head};

    #[test]
    fn parses_cookie_headers() {
        let pairs: Vec<_> =
            parse_cookie_header(b"a=1; b=\"two\";c=;  d = x y ;noeq; =v; e=f=g").collect();
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("b", "two"),
                ("c", ""),
                ("d", "x y"),
                ("e", "f=g")
            ]
        );
        assert_eq!(parse_cookie_header(b"").count(), 0);
        assert_eq!(
            parse_cookie_header(b"a=\xff; b=2").collect::<Vec<_>>(),
            [("b", "2")]
        );
    }

    #[test]
    fn cookies_over_every_line() {
        let raw = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: cbtid=abc; x=1\r\ncookie: x=2\r\n\r\n";
        let head = parse_request_head(raw, &Limits::default())
            .expect("valid")
            .expect("complete");
        let all: Vec<_> = cookies(&head.headers()).collect();
        assert_eq!(all, [("cbtid", "abc"), ("x", "1"), ("x", "2")]);
        assert_eq!(cookie(&head.headers(), "x"), Some("1"));
        assert_eq!(cookie(&head.headers(), "nope"), None);
    }

    #[test]
    fn writes_set_cookie() {
        let c = SetCookie::new("cbtid", "Zm9vYmFy-_")
            .and_then(|c| c.path("/"))
            .and_then(|c| c.domain("example.com"))
            .expect("valid")
            .max_age(3600)
            .expires(HttpDate::from_unix(784_111_777))
            .secure()
            .http_only()
            .same_site(SameSite::Lax);
        assert_eq!(
            c.to_header_value(),
            "cbtid=Zm9vYmFy-_; Path=/; Domain=example.com; Max-Age=3600; \
             Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            SetCookie::new("a", "")
                .expect("valid")
                .max_age(0)
                .same_site(SameSite::Strict)
                .to_header_value(),
            "a=; Max-Age=0; SameSite=Strict"
        );
        let written = c.to_header_value();
        let back: Vec<_> =
            parse_cookie_header(written.split(';').next().expect("pair").as_bytes()).collect();
        assert_eq!(back, [("cbtid", "Zm9vYmFy-_")]);
    }

    #[test]
    fn refuses_bad_cookies() {
        assert_eq!(SetCookie::new("a b", "x"), Err(CookieError::Name));
        assert_eq!(SetCookie::new("", "x"), Err(CookieError::Name));
        assert_eq!(SetCookie::new("a=", "x"), Err(CookieError::Name));
        for bad in ["a b", "a;b", "a,b", "a\"b", "a\\b", "\u{e9}", "a\r\nb"] {
            assert_eq!(SetCookie::new("a", bad), Err(CookieError::Value), "{bad:?}");
        }
        let c = SetCookie::new("a", "b").expect("valid");
        assert_eq!(c.clone().path("/x;y"), Err(CookieError::Attribute));
        assert_eq!(c.domain("a\nb"), Err(CookieError::Attribute));
    }
}

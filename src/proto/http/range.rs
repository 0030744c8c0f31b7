//! Range requests (RFC 9110 section 14): parsing `Range: bytes=...` and
//! deciding between 200 (whole), 206 (one range) and 416.
//!
//! - Only the `bytes` unit is known; another unit, or a malformed value, is
//!   ignored (200 with the whole body), as the RFC allows.
//! - Range applies to GET only (HEAD and others get the whole answer).
//! - `If-Range`: the range is served only when the validator (a strong
//!   entity tag, or a date equal to `Last-Modified`) still matches;
//!   otherwise the whole body.
//! - One satisfiable range gives 206 with `Content-Range: bytes a-b/len`; a
//!   set of which none is satisfiable gives 416 with
//!   `Content-Range: bytes */len`.
//! - Several ranges: answered with 200 and the whole body rather than a
//!   `multipart/byteranges` body (the RFC allows ignoring Range; browsers and
//!   media players send one range). Unless none of them is satisfiable: 416.
//! - At most [`MAX_RANGES`] ranges are read; a longer list is ignored (a
//!   defence against range-list amplification).

use super::Method;
use super::conditional::{EntityTag, Validators};
use super::date::HttpDate;
use super::head::Headers;

/// Most ranges read from one `Range` field.
pub const MAX_RANGES: usize = 64;

/// One range of a `Range` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last` (inclusive).
    FromTo(u64, u64),
    /// `first-`: to the end.
    From(u64),
    /// `-n`: the last n octets.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive octet range this selects in a body of `len` octets,
    /// `None` when it is not satisfiable.
    pub fn resolve(self, len: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::FromTo(first, last) if first < len => Some((first, last.min(len - 1))),
            ByteRange::From(first) if first < len => Some((first, len - 1)),
            ByteRange::Suffix(n) if n > 0 && len > 0 => Some((len - n.min(len), len - 1)),
            _ => None,
        }
    }
}

/// Parses a `Range` value: `bytes=` and a list of ranges. `None` when the
/// unit is not `bytes`, the syntax is wrong, a range is backwards
/// (`5-3`), or there are more than [`MAX_RANGES`].
pub fn parse_range(value: &[u8]) -> Option<Vec<ByteRange>> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (unit, set) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut ranges = Vec::new();
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if ranges.len() == MAX_RANGES {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        ranges.push(match (first.is_empty(), last.is_empty()) {
            (true, false) => ByteRange::Suffix(number(last)?),
            (false, true) => ByteRange::From(number(first)?),
            (false, false) => {
                let (a, b) = (number(first)?, number(last)?);
                if b < a {
                    return None;
                }
                ByteRange::FromTo(a, b)
            }
            (true, true) => return None,
        });
    }
    (!ranges.is_empty()).then_some(ranges)
}

/// What to answer a request for a body of `len` octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// 200 with the whole body.
    Full,
    /// 206 with octets `first..=last`.
    Partial {
        /// First octet.
        first: u64,
        /// Last octet (inclusive).
        last: u64,
    },
    /// 416 with `Content-Range: bytes */len`.
    NotSatisfiable,
}

impl RangeDecision {
    /// The `Content-Range` value for this decision (`None` for `Full`).
    pub fn content_range(self, len: u64) -> Option<String> {
        match self {
            RangeDecision::Full => None,
            RangeDecision::Partial { first, last } => Some(format!("bytes {first}-{last}/{len}")),
            RangeDecision::NotSatisfiable => Some(format!("bytes */{len}")),
        }
    }
}

/// Decides how to answer a request with `method` and `headers` for a body of
/// `len` octets whose validators are `validators` (for `If-Range`).
pub fn evaluate_range(
    method: Method,
    headers: &Headers<'_>,
    len: u64,
    validators: &Validators<'_>,
) -> RangeDecision {
    if method != Method::Get {
        return RangeDecision::Full;
    }
    let mut values = headers.get_all("range");
    let (Some(value), None) = (values.next(), values.next()) else {
        return RangeDecision::Full;
    };
    if let Some(if_range) = headers.get("if-range")
        && !if_range_matches(if_range, validators)
    {
        return RangeDecision::Full;
    }
    let Some(ranges) = parse_range(value) else {
        return RangeDecision::Full;
    };
    let mut satisfiable = ranges.iter().filter_map(|r| r.resolve(len));
    match (satisfiable.next(), ranges.len()) {
        (None, _) => RangeDecision::NotSatisfiable,
        (Some((first, last)), 1) => RangeDecision::Partial { first, last },
        (Some(_), _) => RangeDecision::Full,
    }
}

/// `If-Range`: an entity tag (strong comparison) or a date (exact match with
/// `Last-Modified`).
fn if_range_matches(value: &[u8], validators: &Validators<'_>) -> bool {
    let v = value.trim_ascii();
    if v.starts_with(b"\"") || v.starts_with(b"W/") {
        let tag = v
            .strip_prefix(b"\"")
            .and_then(|t| t.strip_suffix(b"\""))
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(EntityTag::strong);
        return match (tag, validators.etag) {
            (Some(tag), Some(current)) => tag.strong_eq(current),
            _ => false,
        };
    }
    match (HttpDate::parse(v), validators.last_modified) {
        (Some(date), Some(modified)) => date == modified,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{Limits, parse_request_head};

    fn decide(method: &str, fields: &str, len: u64) -> RangeDecision {
        let raw = format!("{method} /f HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        let head = parse_request_head(raw.as_bytes(), &Limits::default())
            .expect("valid")
            .expect("complete");
        let tag = EntityTag::strong("v1").expect("valid");
        let v = Validators {
            etag: Some(&tag),
            last_modified: Some(HttpDate::from_unix(784_111_777)),
        };
        evaluate_range(head.method(), &head.headers(), len, &v)
    }

    fn range(v: &str) -> String {
        format!("Range: {v}\r\n")
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse_range(b"bytes=0-499"),
            Some(vec![ByteRange::FromTo(0, 499)])
        );
        assert_eq!(
            parse_range(b"Bytes = 500- , -200,,1-1"),
            Some(vec![
                ByteRange::From(500),
                ByteRange::Suffix(200),
                ByteRange::FromTo(1, 1)
            ])
        );
        for bad in [
            &b"items=0-1"[..],
            b"bytes",
            b"bytes=",
            b"bytes=-",
            b"bytes=a-b",
            b"bytes=5-3",
            b"bytes=+1-2",
            b"bytes=1-2-3",
            b"bytes=99999999999999999999-",
            b"\xff",
        ] {
            assert_eq!(parse_range(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(many.as_bytes()), None);
        let max = format!("bytes={}", vec!["0-0"; MAX_RANGES].join(","));
        assert_eq!(
            parse_range(max.as_bytes()).map(|r| r.len()),
            Some(MAX_RANGES)
        );
    }

    #[test]
    fn resolving() {
        assert_eq!(ByteRange::FromTo(0, 499).resolve(1000), Some((0, 499)));
        assert_eq!(ByteRange::FromTo(900, 2000).resolve(1000), Some((900, 999)));
        assert_eq!(ByteRange::FromTo(1000, 2000).resolve(1000), None);
        assert_eq!(ByteRange::From(999).resolve(1000), Some((999, 999)));
        assert_eq!(ByteRange::Suffix(200).resolve(1000), Some((800, 999)));
        assert_eq!(ByteRange::Suffix(5000).resolve(1000), Some((0, 999)));
        assert_eq!(ByteRange::Suffix(0).resolve(1000), None);
        assert_eq!(ByteRange::Suffix(1).resolve(0), None);
        assert_eq!(ByteRange::From(0).resolve(0), None);
    }

    #[test]
    fn decisions() {
        assert_eq!(
            decide("GET", &range("bytes=0-99"), 1000),
            RangeDecision::Partial { first: 0, last: 99 }
        );
        assert_eq!(
            decide("GET", &range("bytes=-10"), 1000),
            RangeDecision::Partial {
                first: 990,
                last: 999
            }
        );
        assert_eq!(
            decide("GET", &range("bytes=1000-"), 1000),
            RangeDecision::NotSatisfiable
        );
        assert_eq!(
            decide("GET", &range("bytes=2000-, 3000-4000"), 1000),
            RangeDecision::NotSatisfiable
        );
        // Several ranges: the whole body.
        assert_eq!(
            decide("GET", &range("bytes=0-1, 5-6"), 1000),
            RangeDecision::Full
        );
        assert_eq!(
            decide("GET", &range("bytes=0-1, 5000-"), 1000),
            RangeDecision::Full
        );
        assert_eq!(
            decide("GET", &range("lines=1-2"), 1000),
            RangeDecision::Full
        );
        assert_eq!(
            decide("GET", &range("bytes=oops"), 1000),
            RangeDecision::Full
        );
        assert_eq!(
            decide("HEAD", &range("bytes=0-1"), 1000),
            RangeDecision::Full
        );
        assert_eq!(
            decide("POST", &range("bytes=0-1"), 1000),
            RangeDecision::Full
        );
        assert_eq!(decide("GET", "", 1000), RangeDecision::Full);
        assert_eq!(
            decide(
                "GET",
                &format!("{}{}", range("bytes=0-1"), range("bytes=2-3")),
                1000
            ),
            RangeDecision::Full
        );
    }

    #[test]
    fn if_range() {
        let with = |ir: &str| {
            decide(
                "GET",
                &format!("{}If-Range: {ir}\r\n", range("bytes=0-9")),
                100,
            )
        };
        let partial = RangeDecision::Partial { first: 0, last: 9 };
        assert_eq!(with("\"v1\""), partial);
        assert_eq!(with("\"v2\""), RangeDecision::Full);
        assert_eq!(with("W/\"v1\""), RangeDecision::Full);
        assert_eq!(with("Sun, 06 Nov 1994 08:49:37 GMT"), partial);
        assert_eq!(with("Sun, 06 Nov 1994 08:49:38 GMT"), RangeDecision::Full);
        assert_eq!(with("whenever"), RangeDecision::Full);
    }

    #[test]
    fn content_range_values() {
        assert_eq!(
            RangeDecision::Partial { first: 0, last: 99 }.content_range(1000),
            Some("bytes 0-99/1000".to_owned())
        );
        assert_eq!(
            RangeDecision::NotSatisfiable.content_range(1000),
            Some("bytes */1000".to_owned())
        );
        assert_eq!(RangeDecision::Full.content_range(1000), None);
    }
}

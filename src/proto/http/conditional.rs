//! Conditional requests (RFC 9110 section 13): entity tags and the
//! evaluation of `If-Match`, `If-Unmodified-Since`, `If-None-Match` and
//! `If-Modified-Since`, in the RFC's order (section 13.2.2), giving 304 or
//! 412 decisions; `If-Range` is evaluated by [`super::range`].
//!
//! A malformed `If-Modified-Since` / `If-Unmodified-Since` date is ignored
//! (as the RFC requires); a malformed `If-None-Match` list matches nothing
//! (the request proceeds), a malformed `If-Match` list matches nothing (412:
//! a client that asked for a precondition gets it refused rather than
//! ignored).

use super::Method;
use super::date::HttpDate;
use super::head::Headers;

/// An entity tag: its opaque value (without the quotes) and whether it is weak.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    /// `W/` prefix.
    pub weak: bool,
    /// The characters between the quotes.
    pub tag: String,
}

impl EntityTag {
    /// A strong tag, when `tag` holds only etagc characters (no `"`, no
    /// controls, no space).
    pub fn strong(tag: &str) -> Option<Self> {
        tag.bytes().all(is_etagc).then(|| EntityTag {
            weak: false,
            tag: tag.to_owned(),
        })
    }

    /// A weak tag (same rule as [`EntityTag::strong`]).
    pub fn weak(tag: &str) -> Option<Self> {
        EntityTag::strong(tag).map(|t| EntityTag { weak: true, ..t })
    }

    /// The tag a static file gets from its size and modification time
    /// (seconds and nanoseconds since the epoch): strong, since the same size
    /// and time stand for the same bytes for a file served as it is.
    pub fn for_file(len: u64, mtime_secs: u64, mtime_nanos: u32) -> Self {
        EntityTag {
            weak: false,
            tag: format!("{len:x}-{mtime_secs:x}.{mtime_nanos:x}"),
        }
    }

    /// The field value: `"tag"` or `W/"tag"`.
    pub fn to_header_value(&self) -> String {
        if self.weak {
            format!("W/\"{}\"", self.tag)
        } else {
            format!("\"{}\"", self.tag)
        }
    }

    /// Strong comparison: both strong and equal.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: equal tags, weak or not.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.tag == other.tag
    }
}

fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80
}

/// A parsed `If-Match` / `If-None-Match` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList {
    /// `*`: any current representation.
    Any,
    /// These tags.
    Tags(Vec<EntityTag>),
}

/// Parses `*` or a comma-separated list of entity tags over every line
/// (`None` when any line is malformed or there is none).
pub fn parse_tag_list<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<TagList> {
    let mut tags = Vec::new();
    let mut any = false;
    let mut lines = 0;
    for value in values {
        lines += 1;
        let v = value.trim_ascii();
        if v == b"*" {
            any = true;
            continue;
        }
        let mut rest = v;
        loop {
            rest = rest.trim_ascii_start();
            if rest.is_empty() {
                break;
            }
            if let Some(r) = rest.strip_prefix(b",") {
                rest = r;
                continue;
            }
            let (weak, r) = match rest.strip_prefix(b"W/") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let r = r.strip_prefix(b"\"")?;
            let end = r.iter().position(|&b| b == b'"')?;
            let tag = std::str::from_utf8(&r[..end]).ok()?;
            if !tag.bytes().all(is_etagc) {
                return None;
            }
            tags.push(EntityTag {
                weak,
                tag: tag.to_owned(),
            });
            rest = r[end + 1..].trim_ascii_start();
            match rest.first() {
                None | Some(b',') => {}
                Some(_) => return None,
            }
        }
    }
    match (lines, any) {
        (0, _) => None,
        (_, true) => Some(TagList::Any),
        _ => Some(TagList::Tags(tags)),
    }
}

/// What a resource offers to compare preconditions against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validators<'a> {
    /// Its current entity tag.
    pub etag: Option<&'a EntityTag>,
    /// When it last changed.
    pub last_modified: Option<HttpDate>,
}

/// The outcome of a request's preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Go on with the request.
    Proceed,
    /// 304 Not Modified (GET and HEAD): send the validators, no body.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates the preconditions of a request with `method` and `headers`
/// against the resource's `validators` (which exists: a missing resource
/// answers 404 before this).
pub fn evaluate(
    method: Method,
    headers: &Headers<'_>,
    validators: &Validators<'_>,
) -> Precondition {
    let get_or_head = matches!(method, Method::Get | Method::Head);
    // Step 1 and 2: If-Match, else If-Unmodified-Since.
    if headers.contains("if-match") {
        let matched = match parse_tag_list(headers.get_all("if-match")) {
            Some(TagList::Any) => true,
            Some(TagList::Tags(tags)) => validators
                .etag
                .is_some_and(|current| tags.iter().any(|t| t.strong_eq(current))),
            None => false,
        };
        if !matched {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (
        headers.get("if-unmodified-since").and_then(HttpDate::parse),
        validators.last_modified,
    ) && modified > since
    {
        return Precondition::Failed;
    }
    // Step 3 and 4: If-None-Match, else If-Modified-Since (GET/HEAD only).
    if headers.contains("if-none-match") {
        let matched = match parse_tag_list(headers.get_all("if-none-match")) {
            Some(TagList::Any) => true,
            Some(TagList::Tags(tags)) => validators
                .etag
                .is_some_and(|current| tags.iter().any(|t| t.weak_eq(current))),
            None => false,
        };
        if matched {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head
        && let (Some(since), Some(modified)) = (
            headers.get("if-modified-since").and_then(HttpDate::parse),
            validators.last_modified,
        )
        && modified <= since
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{Limits, parse_request_head};

    const LM: HttpDate = HttpDate::from_unix(784_111_777);
    const LM_TEXT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const EARLIER: &str = "Sat, 05 Nov 1994 08:49:37 GMT";

    fn eval(method: &str, fields: &str, etag: Option<&str>) -> Precondition {
        let raw = format!("{method} / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        let head = parse_request_head(raw.as_bytes(), &Limits::default())
            .expect("valid")
            .expect("complete");
        let tag = etag.and_then(EntityTag::strong);
        let v = Validators {
            etag: tag.as_ref(),
            last_modified: Some(LM),
        };
        evaluate(head.method(), &head.headers(), &v)
    }

    #[test]
    fn tag_lists() {
        let one = |s: &str| parse_tag_list(std::iter::once(s.as_bytes()));
        assert_eq!(one("*"), Some(TagList::Any));
        assert_eq!(
            one(" \"a\", W/\"b\" ,\"\" "),
            Some(TagList::Tags(vec![
                EntityTag::strong("a").expect("valid"),
                EntityTag::weak("b").expect("valid"),
                EntityTag::strong("").expect("valid"),
            ]))
        );
        for bad in ["a", "\"a", "\"a\" \"b\"", "w/\"a\"", "\"a\"x", "\"a b\""] {
            assert_eq!(one(bad), None, "{bad}");
        }
        assert_eq!(parse_tag_list(std::iter::empty()), None);
    }

    #[test]
    fn tags() {
        let s = EntityTag::strong("xyz").expect("valid");
        let w = EntityTag::weak("xyz").expect("valid");
        assert_eq!(s.to_header_value(), "\"xyz\"");
        assert_eq!(w.to_header_value(), "W/\"xyz\"");
        assert!(s.strong_eq(&s) && !s.strong_eq(&w) && s.weak_eq(&w));
        assert_eq!(EntityTag::strong("a\"b"), None);
        assert_eq!(EntityTag::for_file(255, 16, 1).tag, "ff-10.1");
        assert_ne!(EntityTag::for_file(1, 2, 3), EntityTag::for_file(1, 2, 4));
    }

    #[test]
    fn if_none_match() {
        let inm = |v: &str| format!("If-None-Match: {v}\r\n");
        assert_eq!(
            eval("GET", &inm("\"v1\""), Some("v1")),
            Precondition::NotModified
        );
        assert_eq!(
            eval("HEAD", &inm("W/\"v1\""), Some("v1")),
            Precondition::NotModified
        );
        assert_eq!(
            eval("GET", &inm("\"v0\", \"v1\""), Some("v1")),
            Precondition::NotModified
        );
        assert_eq!(
            eval("GET", &inm("\"v2\""), Some("v1")),
            Precondition::Proceed
        );
        assert_eq!(
            eval("GET", &inm("*"), Some("v1")),
            Precondition::NotModified
        );
        assert_eq!(eval("PUT", &inm("*"), Some("v1")), Precondition::Failed);
        assert_eq!(
            eval("GET", &inm("garbage"), Some("v1")),
            Precondition::Proceed
        );
        // If-None-Match present: If-Modified-Since is not looked at.
        assert_eq!(
            eval(
                "GET",
                &format!("{}If-Modified-Since: {LM_TEXT}\r\n", inm("\"v2\"")),
                Some("v1")
            ),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_modified_since() {
        let ims = |d: &str| format!("If-Modified-Since: {d}\r\n");
        assert_eq!(eval("GET", &ims(LM_TEXT), None), Precondition::NotModified);
        assert_eq!(
            eval("GET", &ims("Mon, 07 Nov 1994 08:49:37 GMT"), None),
            Precondition::NotModified
        );
        assert_eq!(eval("GET", &ims(EARLIER), None), Precondition::Proceed);
        assert_eq!(eval("GET", &ims("yesterday"), None), Precondition::Proceed);
        assert_eq!(eval("POST", &ims(LM_TEXT), None), Precondition::Proceed);
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        assert_eq!(
            eval("PUT", "If-Match: \"v1\"\r\n", Some("v1")),
            Precondition::Proceed
        );
        assert_eq!(
            eval("PUT", "If-Match: \"v2\"\r\n", Some("v1")),
            Precondition::Failed
        );
        assert_eq!(
            eval("PUT", "If-Match: W/\"v1\"\r\n", Some("v1")),
            Precondition::Failed
        );
        assert_eq!(eval("PUT", "If-Match: *\r\n", None), Precondition::Proceed);
        assert_eq!(
            eval("PUT", "If-Match: \"v1\"\r\n", None),
            Precondition::Failed
        );
        assert_eq!(
            eval("GET", "If-Match: junk\r\n", Some("v1")),
            Precondition::Failed
        );
        let ius = |d: &str| format!("If-Unmodified-Since: {d}\r\n");
        assert_eq!(eval("PUT", &ius(LM_TEXT), None), Precondition::Proceed);
        assert_eq!(eval("PUT", &ius(EARLIER), None), Precondition::Failed);
        assert_eq!(eval("PUT", &ius("bad date"), None), Precondition::Proceed);
        // If-Match present: If-Unmodified-Since is not looked at.
        assert_eq!(
            eval(
                "PUT",
                &format!("If-Match: \"v1\"\r\n{}", ius(EARLIER)),
                Some("v1")
            ),
            Precondition::Proceed
        );
        assert_eq!(eval("GET", "", Some("v1")), Precondition::Proceed);
    }
}

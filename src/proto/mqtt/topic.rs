//! MQTT topic names and topic filters (spec section 4.7): validation, matching,
//! and `$share/{ShareName}/{filter}` shared subscriptions (5.0 section 4.8.2).
//!
//! These work on `&str` (UTF-8 and the no-U+0000 rule are already checked by
//! [`super::MqttString`]). The mapping of MQTT topics to WAMP URIs is not here; it
//! belongs to the MQTT front end.

use std::fmt;

/// The topic level separator.
pub const SEPARATOR: char = '/';
/// The multi-level wildcard.
pub const MULTI_LEVEL: char = '#';
/// The single-level wildcard.
pub const SINGLE_LEVEL: char = '+';
/// The prefix of a shared subscription's filter.
pub const SHARE_PREFIX: &str = "$share/";

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// Empty (MQTT-4.7.3-1: at least one character).
    Empty,
    /// A topic name holds `+` or `#` (MQTT-4.7.0-1 / MQTT-3.3.2-2).
    WildcardInName,
    /// `#` not alone in the last level (MQTT-4.7.1-1 / 4.7.1-2).
    MultiLevelMisplaced,
    /// `+` not alone in its level (MQTT-4.7.1-2 / 4.7.1-3).
    SingleLevelMisplaced,
    /// More bytes than the configured maximum.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More levels than the configured maximum.
    TooManyLevels {
        /// The limit.
        max: usize,
    },
    /// `$share/` without a ShareName, or a ShareName holding `+` or `#`, or no
    /// `/` after it (MQTT-4.8.2-1 / 4.8.2-2).
    ShareNameInvalid,
    /// `$share/{ShareName}/` not followed by a topic filter (MQTT-4.8.2-2).
    SharedFilterMissing,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::Empty => f.write_str("empty topic"),
            TopicError::WildcardInName => f.write_str("wildcard in a topic name"),
            TopicError::MultiLevelMisplaced => f.write_str("'#' is not alone in the last level"),
            TopicError::SingleLevelMisplaced => f.write_str("'+' is not alone in its level"),
            TopicError::TooLong { len, max } => write!(f, "topic of {len} bytes (limit {max})"),
            TopicError::TooManyLevels { max } => write!(f, "more than {max} topic levels"),
            TopicError::ShareNameInvalid => f.write_str("invalid $share ShareName"),
            TopicError::SharedFilterMissing => f.write_str("$share without a topic filter"),
        }
    }
}

/// Checks length and level count against the limits.
fn check_size(s: &str, max_len: usize, max_levels: usize) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > max_len {
        return Err(TopicError::TooLong {
            len: s.len(),
            max: max_len,
        });
    }
    // Levels = separators + 1; count without allocating.
    let levels = s.bytes().filter(|b| *b == b'/').count() + 1;
    if levels > max_levels {
        return Err(TopicError::TooManyLevels { max: max_levels });
    }
    Ok(())
}

/// Checks a topic name (PUBLISH, Will Topic, Response Topic): not empty, no
/// wildcard, within `max_len` bytes and `max_levels` levels.
///
/// # Errors
/// The first rule broken.
pub fn validate_name(name: &str, max_len: usize, max_levels: usize) -> Result<(), TopicError> {
    check_size(name, max_len, max_levels)?;
    if name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a plain topic filter: not empty, `#` only as the whole last level, `+`
/// only as a whole level, within the limits. `$share/...` is checked as a plain
/// filter here; see [`validate_subscription_filter`].
///
/// # Errors
/// The first rule broken.
pub fn validate_filter(filter: &str, max_len: usize, max_levels: usize) -> Result<(), TopicError> {
    check_size(filter, max_len, max_levels)?;
    let mut levels = filter.split(SEPARATOR).peekable();
    while let Some(level) = levels.next() {
        if level.contains(MULTI_LEVEL) && (level.len() != 1 || levels.peek().is_some()) {
            return Err(TopicError::MultiLevelMisplaced);
        }
        if level.contains(SINGLE_LEVEL) && level.len() != 1 {
            return Err(TopicError::SingleLevelMisplaced);
        }
    }
    Ok(())
}

/// Checks a SUBSCRIBE/UNSUBSCRIBE filter: in 5.0 (`shared` true) a filter that
/// starts with `$share/` must be a valid shared subscription whose inner filter
/// is valid; otherwise (and always in 3.1.1, where `$share/` has no meaning) it is
/// checked as a plain filter.
///
/// # Errors
/// The first rule broken.
pub fn validate_subscription_filter(
    filter: &str,
    shared: bool,
    max_len: usize,
    max_levels: usize,
) -> Result<(), TopicError> {
    if shared && let Some(s) = parse_shared(filter)? {
        check_size(filter, max_len, max_levels)?;
        return validate_filter(s.filter, max_len, max_levels);
    }
    validate_filter(filter, max_len, max_levels)
}

/// A shared subscription's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The ShareName (non-empty, no `/`, `+` or `#`).
    pub group: &'a str,
    /// The topic filter after it (not validated here).
    pub filter: &'a str,
}

/// Splits `$share/{ShareName}/{filter}`. `Ok(None)` when `filter` does not start
/// with `$share/` (a plain filter).
///
/// # Errors
/// [`TopicError::ShareNameInvalid`] or [`TopicError::SharedFilterMissing`].
pub fn parse_shared(filter: &str) -> Result<Option<SharedFilter<'_>>, TopicError> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(None);
    };
    let Some((group, inner)) = rest.split_once(SEPARATOR) else {
        return Err(TopicError::ShareNameInvalid);
    };
    if group.is_empty() || group.contains([MULTI_LEVEL, SINGLE_LEVEL]) {
        return Err(TopicError::ShareNameInvalid);
    }
    if inner.is_empty() {
        return Err(TopicError::SharedFilterMissing);
    }
    Ok(Some(SharedFilter {
        group,
        filter: inner,
    }))
}

/// Whether topic `name` matches `filter` (both assumed valid; for a shared
/// subscription pass its inner filter). Per spec section 4.7: `+` matches one
/// whole level (which may be empty), `#` matches the rest including the parent
/// level itself (`a/#` matches `a`), and a name starting with `$` is never matched
/// by a filter whose first level is a wildcard (MQTT-4.7.2-1).
pub fn matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && filter.starts_with([MULTI_LEVEL, SINGLE_LEVEL]) {
        return false;
    }
    let mut f = filter.split(SEPARATOR);
    let mut n = name.split(SEPARATOR);
    loop {
        match (f.next(), n.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(nl)) if fl == nl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: usize = 65_535;

    #[test]
    fn names() {
        assert_eq!(validate_name("a/b/c", L, 128), Ok(()));
        assert_eq!(validate_name("/", L, 128), Ok(()));
        assert_eq!(validate_name("$SYS/x", L, 128), Ok(()));
        assert_eq!(validate_name("", L, 128), Err(TopicError::Empty));
        assert_eq!(
            validate_name("a/+", L, 128),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(validate_name("a#", L, 128), Err(TopicError::WildcardInName));
        assert_eq!(
            validate_name("abcd", 3, 128),
            Err(TopicError::TooLong { len: 4, max: 3 })
        );
        assert_eq!(validate_name("a/b/c", L, 3), Ok(()));
        assert_eq!(
            validate_name("a/b/c/d", L, 3),
            Err(TopicError::TooManyLevels { max: 3 })
        );
    }

    #[test]
    fn filters() {
        for ok in [
            "#",
            "+",
            "a/#",
            "a/+/b",
            "+/+",
            "/+",
            "sport/tennis/#",
            "a//b",
            "$SYS/#",
        ] {
            assert_eq!(validate_filter(ok, L, 128), Ok(()), "{ok}");
        }
        for (bad, e) in [
            ("a#", TopicError::MultiLevelMisplaced),
            ("a/#/b", TopicError::MultiLevelMisplaced),
            ("#/", TopicError::MultiLevelMisplaced),
            ("a/b#", TopicError::MultiLevelMisplaced),
            ("a+", TopicError::SingleLevelMisplaced),
            ("a/+b/c", TopicError::SingleLevelMisplaced),
            ("++", TopicError::SingleLevelMisplaced),
            ("", TopicError::Empty),
        ] {
            assert_eq!(validate_filter(bad, L, 128), Err(e), "{bad}");
        }
    }

    #[test]
    fn shared() {
        assert_eq!(parse_shared("a/b"), Ok(None));
        assert_eq!(parse_shared("$share"), Ok(None));
        assert_eq!(
            parse_shared("$share/g1/a/+"),
            Ok(Some(SharedFilter {
                group: "g1",
                filter: "a/+"
            }))
        );
        assert_eq!(parse_shared("$share/g"), Err(TopicError::ShareNameInvalid));
        assert_eq!(parse_shared("$share//a"), Err(TopicError::ShareNameInvalid));
        assert_eq!(
            parse_shared("$share/g+/a"),
            Err(TopicError::ShareNameInvalid)
        );
        assert_eq!(
            parse_shared("$share/#/a"),
            Err(TopicError::ShareNameInvalid)
        );
        assert_eq!(
            parse_shared("$share/g/"),
            Err(TopicError::SharedFilterMissing)
        );
        assert_eq!(
            validate_subscription_filter("$share/g/a/#", true, L, 128),
            Ok(())
        );
        assert_eq!(
            validate_subscription_filter("$share/g/a#", true, L, 128),
            Err(TopicError::MultiLevelMisplaced)
        );
        // 3.1.1: `$share/g` is an ordinary filter.
        assert_eq!(
            validate_subscription_filter("$share/g", false, L, 128),
            Ok(())
        );
        assert_eq!(
            validate_subscription_filter("$share/g", true, L, 128),
            Err(TopicError::ShareNameInvalid)
        );
    }

    #[test]
    fn matching() {
        let yes = [
            ("a/b", "a/b"),
            ("a/+", "a/b"),
            ("a/#", "a/b/c"),
            ("a/#", "a"),
            ("#", "a/b"),
            ("#", "/"),
            ("+/+", "/"),
            ("/+", "/x"),
            ("+", "x"),
            ("a/+/c", "a//c"),
            ("$SYS/#", "$SYS/broker/clients"),
            ("$SYS/+", "$SYS/x"),
            ("sport/tennis/player1/#", "sport/tennis/player1"),
            ("sport/+", "sport/"),
        ];
        for (f, n) in yes {
            assert!(matches(f, n), "{f} should match {n}");
        }
        let no = [
            ("a/b", "a/c"),
            ("a/+", "a/b/c"),
            ("a/+", "a"),
            ("+", "/x"),
            ("a/b", "a/b/c"),
            ("a/b/c", "a/b"),
            ("#", "$SYS/x"),
            ("+/x", "$SYS/x"),
            ("+", "$x"),
            ("sport/+", "sport"),
            ("a/#", "ab"),
        ];
        for (f, n) in no {
            assert!(!matches(f, n), "{f} should not match {n}");
        }
    }
}

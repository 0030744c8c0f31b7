//! WAMP URI rules: loose and strict validation of URIs and URI patterns, and
//! the match policies (`exact`, `prefix`, `wildcard`).
//!
//! What lives here is only the *syntax* check; matching URIs against patterns
//! is [`crate::core::index`]'s job. The rules follow the spec (basic profile,
//! "Building Blocks / URIs", and the advanced profile's pattern-based
//! subscription/registration and interface IDL attribute regexes):
//!
//! | policy     | loose (`[^\s.#]` chars)                 | strict (`[0-9a-z_]` chars)          |
//! |------------|------------------------------------------|-------------------------------------|
//! | `exact`    | `^([^\s\.#]+\.)*([^\s\.#]+)$`            | `^([0-9a-z_]+\.)*([0-9a-z_]+)$`      |
//! | `wildcard` | `^(([^\s\.#]+\.)\|\.)*([^\s\.#]+)?$`      | `^(([0-9a-z_]+\.)\|\.)*([0-9a-z_]+)?$` |
//! | `prefix`   | `^([^\s\.#]+\.)*([^\s\.#]*)$`            | `^([0-9a-z_]+\.)*([0-9a-z_]*)$`      |
//!
//! Read as components split on `.`: an exact URI has no empty component; a
//! wildcard pattern may have any component empty (each empty component is a
//! wildcard for one whole component, and the empty string is the one-component
//! wildcard); a prefix pattern (the IDL's `wampuri_pp`) may only have its
//! *last* component empty, i.e. it may end with a dot (`com.myapp.` matches
//! `com.myapp.x` but not `com.myappx`), and the empty string is the prefix of
//! every URI.
//!
//! "Whitespace" is what Python's `\s` matches on `str` (the spec's reference
//! regexes): Unicode `White_Space` plus the ASCII separators U+001C..U+001F.
//! All checks are hand-written, single pass and allocation-free.

/// How strictly URIs are checked (realm option `uri_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriCheck {
    /// Components are any non-empty strings without whitespace, `.` or `#`.
    #[default]
    Loose,
    /// Components are `[0-9a-z_]+`.
    Strict,
}

/// A subscription's or registration's match policy (`match` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MatchPolicy {
    /// The URI equals the topic/procedure.
    #[default]
    Exact,
    /// The topic/procedure starts with the pattern.
    Prefix,
    /// Empty components of the pattern match any one component.
    Wildcard,
}

impl MatchPolicy {
    /// The option's wire value (`exact`, `prefix`, `wildcard`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// Parses the option's wire value.
    pub fn parse(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }
}

/// Whether `uri` is a valid URI (for [`MatchPolicy::Exact`]) or URI pattern
/// (for [`MatchPolicy::Prefix`] and [`MatchPolicy::Wildcard`]) under `check`.
///
/// See the module documentation for the exact rules per policy.
pub fn is_valid(uri: &str, check: UriCheck, policy: MatchPolicy) -> bool {
    match policy {
        MatchPolicy::Exact => uri
            .split('.')
            .all(|c| !c.is_empty() && is_valid_component(c, check)),
        MatchPolicy::Wildcard => uri
            .split('.')
            .all(|c| c.is_empty() || is_valid_component(c, check)),
        MatchPolicy::Prefix => {
            // Every component non-empty, except that the last may be empty.
            let (init, last) = match uri.rfind('.') {
                Some(dot) => (Some(&uri[..dot]), &uri[dot + 1..]),
                None => (None, uri),
            };
            (last.is_empty() || is_valid_component(last, check))
                && init.is_none_or(|init| {
                    init.split('.')
                        .all(|c| !c.is_empty() && is_valid_component(c, check))
                })
        }
    }
}

/// Whether `uri` matches (`pattern`, `policy`) by the rules of
/// pattern-based subscriptions (prefix: string prefix; wildcard: same number
/// of components, every non-empty pattern component equal).
pub fn pattern_matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let mut p = pattern.split('.');
            let mut u = uri.split('.');
            loop {
                match (p.next(), u.next()) {
                    (None, None) => return true,
                    (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
                    _ => return false,
                }
            }
        }
    }
}

/// Whether `realm` is a valid realm name: realms are URIs (`HELLO.Realm|uri`),
/// so this is [`is_valid`] with [`MatchPolicy::Exact`].
pub fn is_valid_realm(realm: &str, check: UriCheck) -> bool {
    is_valid(realm, check, MatchPolicy::Exact)
}

/// Whether component `c` (which contains no `.`) has only characters allowed
/// under `check`; emptiness is the caller's concern.
fn is_valid_component(c: &str, check: UriCheck) -> bool {
    match check {
        UriCheck::Strict => c
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_'),
        UriCheck::Loose => {
            // ASCII fast path; only non-ASCII bytes pay for char decoding.
            if c.is_ascii() {
                c.bytes().all(|b| b != b'#' && !is_ascii_space(b))
            } else {
                c.chars().all(|ch| ch != '#' && !is_space(ch))
            }
        }
    }
}

/// ASCII whitespace as Python's `\s` sees it: `\t \n \v \f \r`, space and the
/// information separators U+001C..U+001F.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | 0x1c..=0x1f)
}

/// Whitespace as Python's `\s` sees it on `str` (what a loose URI refuses).
pub(crate) fn is_space(ch: char) -> bool {
    ch.is_whitespace() || matches!(ch, '\u{1c}'..='\u{1f}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchPolicy::{Exact, Prefix, Wildcard};
    use UriCheck::{Loose, Strict};

    /// (uri, loose exact, loose prefix, loose wildcard, strict exact, strict prefix, strict wildcard)
    #[rustfmt::skip]
    const CASES: &[(&str, [bool; 6])] = &[
        // plain URIs
        ("com.myapp.mytopic1",         [true,  true,  true,  true,  true,  true ]),
        ("a",                          [true,  true,  true,  true,  true,  true ]),
        ("a_1.b_2.c3",                 [true,  true,  true,  true,  true,  true ]),
        ("wamp.error.not_authorized",  [true,  true,  true,  true,  true,  true ]),
        // loose-only characters
        ("com.MyApp.topic",            [true,  true,  true,  false, false, false]),
        ("com.myapp.emergency-low",    [true,  true,  true,  false, false, false]),
        ("com.myapp.a:b/c",            [true,  true,  true,  false, false, false]),
        ("com.myäpp.topic",            [true,  true,  true,  false, false, false]),
        ("com.\u{1F600}.topic",        [true,  true,  true,  false, false, false]),
        ("日本.語",                     [true,  true,  true,  false, false, false]),
        // '#' is reserved everywhere
        ("com.my#app",                 [false, false, false, false, false, false]),
        ("#",                          [false, false, false, false, false, false]),
        ("a..#",                       [false, false, false, false, false, false]),
        // ASCII whitespace
        ("com.my app",                 [false, false, false, false, false, false]),
        ("com.myapp.topic ",           [false, false, false, false, false, false]),
        (" com.myapp",                 [false, false, false, false, false, false]),
        ("com.\tapp",                  [false, false, false, false, false, false]),
        ("com.app\n",                  [false, false, false, false, false, false]),
        ("com.a\rb",                   [false, false, false, false, false, false]),
        ("com.a\u{0b}b",               [false, false, false, false, false, false]),
        ("com.a\u{0c}b",               [false, false, false, false, false, false]),
        ("com.a\u{1f}b",               [false, false, false, false, false, false]),
        (" ",                          [false, false, false, false, false, false]),
        // Unicode whitespace
        ("com.a\u{a0}b",               [false, false, false, false, false, false]),
        ("com.a\u{85}b",               [false, false, false, false, false, false]),
        ("com.a\u{2003}b",             [false, false, false, false, false, false]),
        ("com.a\u{2028}b",             [false, false, false, false, false, false]),
        ("com.a\u{3000}b",             [false, false, false, false, false, false]),
        // not whitespace: zero-width space, control chars other than separators
        ("com.a\u{200b}b",             [true,  true,  true,  false, false, false]),
        ("com.a\u{1}b",                [true,  true,  true,  false, false, false]),
        // empty URI
        ("",                           [false, true,  true,  false, true,  true ]),
        // trailing dot: allowed for prefix and wildcard patterns only
        ("com.myapp.",                 [false, true,  true,  false, true,  true ]),
        // empty components in the middle / at the start: wildcard only
        ("com.myapp..userevent",       [false, false, true,  false, false, true ]),
        ("a1...d4",                    [false, false, true,  false, false, true ]),
        (".com.myapp",                 [false, false, true,  false, false, true ]),
        (".",                          [false, false, true,  false, false, true ]),
        ("..",                         [false, false, true,  false, false, true ]),
        ("a..",                        [false, false, true,  false, false, true ]),
        ("com..myapp.",                [false, false, true,  false, false, true ]),
        ("com.MyApp..x",               [false, false, true,  false, false, false]),
        ("com. ..x",                   [false, false, false, false, false, false]),
    ];

    #[test]
    fn table() {
        for (uri, want) in CASES {
            let got = [
                is_valid(uri, Loose, Exact),
                is_valid(uri, Loose, Prefix),
                is_valid(uri, Loose, Wildcard),
                is_valid(uri, Strict, Exact),
                is_valid(uri, Strict, Prefix),
                is_valid(uri, Strict, Wildcard),
            ];
            assert_eq!(&got, want, "uri {uri:?}");
        }
    }

    #[test]
    fn strict_implies_loose() {
        for (uri, _) in CASES {
            for policy in [Exact, Prefix, Wildcard] {
                if is_valid(uri, Strict, policy) {
                    assert!(is_valid(uri, Loose, policy), "{uri:?} {policy:?}");
                }
            }
        }
    }

    #[test]
    fn exact_implies_patterns() {
        for (uri, _) in CASES {
            for check in [Loose, Strict] {
                if is_valid(uri, check, Exact) {
                    assert!(is_valid(uri, check, Prefix), "{uri:?}");
                    assert!(is_valid(uri, check, Wildcard), "{uri:?}");
                }
            }
        }
    }

    #[test]
    fn spec_examples() {
        for uri in [
            "com.myapp.mytopic1",
            "com.myapp.myprocedure1",
            "com.myapp.myerror1",
        ] {
            assert!(is_valid(uri, Strict, Exact));
        }
        assert!(is_valid("com.myapp.topic.emergency", Strict, Prefix));
        assert!(is_valid("com.myapp..userevent", Strict, Wildcard));
        assert!(!is_valid("com.myapp..userevent", Strict, Exact));
        assert!(is_valid("a1.b2..d4.e5..g7", Strict, Wildcard));
    }

    #[test]
    fn realm() {
        assert!(is_valid_realm("realm1", Strict));
        assert!(is_valid_realm("com.example.Realm", Loose));
        assert!(!is_valid_realm("com.example.Realm", Strict));
        assert!(!is_valid_realm("", Loose));
        assert!(!is_valid_realm("a..b", Loose));
        assert!(!is_valid_realm("realm 1", Loose));
    }

    #[test]
    fn policy_wire_names_round_trip() {
        for p in [Exact, Prefix, Wildcard] {
            assert_eq!(MatchPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(MatchPolicy::parse("Exact"), None);
        assert_eq!(MatchPolicy::parse(""), None);
    }
}

//! WAMP URI rules: loose and strict validation, with and without empty
//! components (patterns), and the match policies. (Placeholder: being written.)

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

/// Whether `uri` is valid under `check` for use with `policy`.
pub fn is_valid(uri: &str, check: UriCheck, policy: MatchPolicy) -> bool {
    let _ = (check, policy);
    !uri.is_empty()
}

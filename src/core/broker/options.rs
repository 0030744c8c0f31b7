//! PUBLISH options: publisher exclusion, subscriber black- and
//! whitelisting ([`PublishFilter`]), `retain`, `rkey`; and the pattern
//! matching the meta API and retained events use.
//!
//! Cost on the common path: a PUBLISH without advanced options gets no
//! [`PublishFilter`] (`RoutedPublish::filter` is `None`, one branch per
//! subscriber).

use crate::core::cluster::PublishFilter;
use crate::proto::{Dict, SessionId, Value};

/// Whether `topic` is reserved for the router's own events (`wamp.*`):
/// clients may subscribe to it, not publish to it (as in Crossbar).
pub fn is_reserved_topic(topic: &str) -> bool {
    topic.starts_with("wamp.")
}

/// Unix time now, in nanoseconds.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl PublishFilter {
    /// Whether a subscriber with this identity gets the event.
    pub fn admits(&self, session: SessionId, authid: &str, authrole: &str) -> bool {
        if self.exclude.binary_search(&session).is_ok() {
            return false;
        }
        if let Some(e) = &self.eligible
            && e.binary_search(&session).is_err()
        {
            return false;
        }
        self.admits_identity(authid, authrole)
    }

    /// Whether `authid`/`authrole` pass the authid and authrole lists (the
    /// session lists ignored): the test the event history applies.
    pub fn admits_identity(&self, authid: &str, authrole: &str) -> bool {
        !self.exclude_authid.iter().any(|a| a == authid)
            && !self.exclude_authrole.iter().any(|r| r == authrole)
            && self
                .eligible_authid
                .as_ref()
                .is_none_or(|l| l.iter().any(|a| a == authid))
            && self
                .eligible_authrole
                .as_ref()
                .is_none_or(|l| l.iter().any(|r| r == authrole))
    }

    /// Whether it names sessions: such events are not kept in the history
    /// (session IDs do not survive their sessions; the spec says to skip them).
    pub fn names_sessions(&self) -> bool {
        !self.exclude.is_empty() || self.eligible.is_some()
    }
}

/// The PUBLISH options the broker acts on.
#[derive(Debug, Default)]
pub struct PubOptions {
    /// `acknowledge` (default false).
    pub acknowledge: bool,
    /// `exclude_me` (default true).
    pub exclude_me: bool,
    /// `disclose_me` (default false).
    pub disclose_me: bool,
    /// `retain` (default false).
    pub retain: bool,
    /// Black- and whitelists, `None` when the publish has none.
    pub filter: Option<Box<PublishFilter>>,
    /// `rkey`: the resource key for sharded subscriptions.
    pub rkey: Option<String>,
}

impl PubOptions {
    /// Reads the options in one pass over the dictionary; unknown keys are ignored.
    ///
    /// # Errors
    /// A message naming the option with a wrong type (for `wamp.error.invalid_argument`).
    pub fn parse(options: &Dict) -> Result<PubOptions, String> {
        let mut o = PubOptions {
            exclude_me: true,
            ..PubOptions::default()
        };
        for (key, v) in options.iter() {
            match key {
                "acknowledge" => o.acknowledge = flag(key, v)?,
                "exclude_me" => o.exclude_me = flag(key, v)?,
                "disclose_me" => o.disclose_me = flag(key, v)?,
                "retain" => o.retain = flag(key, v)?,
                "rkey" => o.rkey = Some(crate::core::broker::sharded::rkey_option(v)?),
                "exclude" => filter(&mut o).exclude = session_list(key, v)?,
                "eligible" => filter(&mut o).eligible = Some(session_list(key, v)?),
                "exclude_authid" => filter(&mut o).exclude_authid = string_list(key, v)?,
                "eligible_authid" => filter(&mut o).eligible_authid = Some(string_list(key, v)?),
                "exclude_authrole" => filter(&mut o).exclude_authrole = string_list(key, v)?,
                "eligible_authrole" => {
                    filter(&mut o).eligible_authrole = Some(string_list(key, v)?);
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

fn filter(o: &mut PubOptions) -> &mut PublishFilter {
    o.filter.get_or_insert_with(Box::default)
}

fn flag(key: &str, v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("option '{key}' must be a boolean"))
}

/// A list of session IDs, sorted for binary search.
fn session_list(key: &str, v: &Value) -> Result<Vec<SessionId>, String> {
    let err = || format!("option '{key}' must be a list of session IDs (integers 1..2^53)");
    let list = v.as_list().ok_or_else(err)?;
    let mut ids = Vec::with_capacity(list.len());
    for item in list {
        match item.as_u64() {
            Some(id) if crate::proto::is_valid_id(id) => ids.push(SessionId(id)),
            _ => return Err(err()),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn string_list(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let err = || format!("option '{key}' must be a list of strings");
    let list = v.as_list().ok_or_else(err)?;
    list.iter()
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(err))
        .collect()
}

/// Whether `uri` matches (`pattern`, `policy`) (lives with the URI rules).
pub use crate::proto::uri::pattern_matches;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::uri::MatchPolicy;

    #[test]
    fn options_parse_in_one_pass_and_reject_wrong_types() {
        let o = PubOptions::parse(&Dict::new()).expect("empty is fine");
        assert!(o.exclude_me && !o.acknowledge && !o.retain && o.filter.is_none());
        let d = Dict::new()
            .with("exclude", Value::List(vec![Value::Int(9), Value::Int(3)]))
            .with("eligible_authrole", Value::List(vec!["admin".into()]))
            .with("retain", true);
        let o = PubOptions::parse(&d).expect("valid");
        let f = o.filter.expect("filter present");
        assert_eq!(f.exclude, vec![SessionId(3), SessionId(9)]);
        assert_eq!(f.eligible_authrole, Some(vec!["admin".to_owned()]));
        assert!(o.retain);
        for bad in [
            Dict::new().with("exclude", Value::Int(3)),
            Dict::new().with("exclude", Value::List(vec!["x".into()])),
            Dict::new().with("eligible", Value::List(vec![Value::Int(0)])),
            Dict::new().with("exclude_authid", Value::List(vec![Value::Int(1)])),
            Dict::new().with("retain", "yes"),
        ] {
            let e = PubOptions::parse(&bad).expect_err("wrong type");
            assert!(e.starts_with("option '"), "{e}");
        }
    }

    #[test]
    fn filter_follows_the_spec_rules() {
        let f = PublishFilter {
            exclude: vec![SessionId(2)],
            eligible: Some(vec![SessionId(1), SessionId(2), SessionId(3)]),
            exclude_authrole: vec!["guest".into()],
            ..PublishFilter::default()
        };
        assert!(f.admits(SessionId(1), "a", "user"));
        assert!(
            !f.admits(SessionId(2), "a", "user"),
            "excluded wins over eligible"
        );
        assert!(!f.admits(SessionId(4), "a", "user"), "not eligible");
        assert!(!f.admits(SessionId(3), "a", "guest"), "role excluded");
        assert!(f.names_sessions());
        let g = PublishFilter {
            eligible_authid: Some(vec!["alice".into()]),
            ..PublishFilter::default()
        };
        assert!(g.admits_identity("alice", "x") && !g.admits_identity("bob", "x"));
        assert!(!g.names_sessions());
    }

    #[test]
    fn patterns_match_like_the_index() {
        assert!(pattern_matches("a.b", MatchPolicy::Prefix, "a.bc"));
        assert!(!pattern_matches("a.b", MatchPolicy::Prefix, "a"));
        assert!(pattern_matches("a..c", MatchPolicy::Wildcard, "a.x.c"));
        assert!(!pattern_matches("a..c", MatchPolicy::Wildcard, "a.x.c.d"));
        assert!(!pattern_matches("a..c", MatchPolicy::Wildcard, "a.x.d"));
        assert!(pattern_matches("a.b", MatchPolicy::Exact, "a.b"));
    }
}

//! `UriIndex<T>`: the broker's and dealer's pattern index, generic over the
//! value stored per (pattern, match policy).
//!
//! What lives here is only matching: which stored patterns match a URI (the
//! broker delivers to all of them) and which one matches best (the dealer
//! routes to that one). Validating URIs is [`crate::proto::uri`]'s job; the
//! index accepts any string and never panics on one.
//!
//! Matching follows the advanced profile ("Pattern-based Subscription",
//! "Pattern-based Registrations"):
//! - **exact**: the URI equals the pattern;
//! - **prefix**: the pattern is a *string* prefix of the URI, so `a.b`
//!   matches `a.b`, `a.b.c` and `a.bc`, but not `a`;
//! - **wildcard**: pattern and URI have the same number of `.`-separated
//!   components and every non-empty pattern component equals the URI's.
//!
//! One structure per policy, so no match is a scan over patterns:
//! - exact entries in an `ahash` map: one hash and compare;
//! - prefix entries in a byte-level radix tree (`prefix.rs`). A component
//!   trie would need special cases for the last component matching only part
//!   of a URI component (`a.b` vs `a.bc`), which is what the spec's string
//!   semantics asks for; a radix tree gets it for free, and a match is one
//!   walk down the URI's bytes, O(URI length) whatever the number of
//!   patterns. The entries on the walked path are the matches, shortest
//!   first, and the last is the dealer's longest prefix;
//! - wildcard entries in a URI-component trie with one dedicated wildcard child
//!   per node (`wildcard.rs`), searched depth first with literal children
//!   before wildcards, which visits the best wildcard match first.
//!
//! No matching call allocates: URIs are split by iterating over them, the
//! searches keep their state in the trie nodes' parent links, and results go
//! to a callback. There is no match cache: the tries already cost about one
//! hash lookup per URI component, and a cache would need patching on every
//! subscribe and unsubscribe.

mod prefix;
mod wildcard;

use ahash::AHashMap;

use crate::proto::uri::MatchPolicy;
use prefix::PrefixTree;
use wildcard::WildcardTree;

/// Values keyed by (URI pattern, match policy), matched against concrete URIs.
///
/// Each (pattern, policy) pair holds at most one value; the same pattern string
/// under two policies is two entries.
#[derive(Debug)]
pub struct UriIndex<T> {
    /// Exact entries: a hash lookup per match.
    exact: AHashMap<Box<str>, T>,
    /// Prefix entries: a radix tree walked along the URI's bytes.
    prefix: PrefixTree<T>,
    /// Wildcard entries: a component trie with a wildcard child per level.
    wildcard: WildcardTree<T>,
}

impl<T> Default for UriIndex<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> UriIndex<T> {
    /// An empty index.
    pub fn new() -> Self {
        UriIndex {
            exact: AHashMap::new(),
            prefix: PrefixTree::new(),
            wildcard: WildcardTree::new(),
        }
    }

    /// Stores `value` for (`pattern`, `policy`); returns the value it replaced.
    pub fn insert(&mut self, pattern: &str, policy: MatchPolicy, value: T) -> Option<T> {
        match policy {
            MatchPolicy::Exact => match self.exact.get_mut(pattern) {
                Some(old) => Some(std::mem::replace(old, value)),
                None => {
                    self.exact.insert(pattern.into(), value);
                    None
                }
            },
            MatchPolicy::Prefix => self.prefix.insert(pattern, value),
            MatchPolicy::Wildcard => self.wildcard.insert(pattern, value),
        }
    }

    /// The value stored for exactly (`pattern`, `policy`); no matching.
    pub fn get(&self, pattern: &str, policy: MatchPolicy) -> Option<&T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(pattern),
            MatchPolicy::Prefix => self.prefix.get(pattern),
            MatchPolicy::Wildcard => self.wildcard.get(pattern),
        }
    }

    /// The value stored for exactly (`pattern`, `policy`), mutably.
    pub fn get_mut(&mut self, pattern: &str, policy: MatchPolicy) -> Option<&mut T> {
        match policy {
            MatchPolicy::Exact => self.exact.get_mut(pattern),
            MatchPolicy::Prefix => self.prefix.get_mut(pattern),
            MatchPolicy::Wildcard => self.wildcard.get_mut(pattern),
        }
    }

    /// Removes (`pattern`, `policy`) and returns its value. Trie nodes that no
    /// longer lead to an entry are freed at once.
    pub fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(pattern),
            MatchPolicy::Prefix => self.prefix.remove(pattern),
            MatchPolicy::Wildcard => self.wildcard.remove(pattern),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefix.len() + self.wildcard.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry as (pattern, policy, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MatchPolicy, &T)> {
        let exact = self
            .exact
            .iter()
            .map(|(p, v)| (&**p, MatchPolicy::Exact, v));
        let prefix = self.prefix.iter().map(|(p, v)| (p, MatchPolicy::Prefix, v));
        let wildcard = self
            .wildcard
            .iter()
            .map(|(p, v)| (p, MatchPolicy::Wildcard, v));
        exact.chain(prefix).chain(wildcard)
    }

    /// Calls `f(pattern, policy, value)` once for every entry whose pattern
    /// matches `uri`: the exact entry first, then prefix entries from shortest
    /// to longest, then wildcard entries (most specific first).
    ///
    /// Allocates nothing.
    pub fn for_each_match<'a>(&'a self, uri: &str, mut f: impl FnMut(&'a str, MatchPolicy, &'a T)) {
        if let Some((p, v)) = self.exact.get_key_value(uri) {
            f(p, MatchPolicy::Exact, v);
        }
        self.prefix
            .for_each_match(uri, |p, v| f(p, MatchPolicy::Prefix, v));
        self.wildcard
            .for_each_match(uri, |p, v| f(p, MatchPolicy::Wildcard, v));
    }

    /// The single entry a dealer routes a call for `uri` to, by the spec's
    /// rules: an exact match; else the longest matching prefix; else the
    /// wildcard pattern with the longest run of literal components before its
    /// first wildcard, ties broken by the run before the second wildcard, and
    /// so on. `None` means `wamp.error.no_such_procedure`.
    ///
    /// Allocates nothing.
    pub fn best_match(&self, uri: &str) -> Option<(&str, MatchPolicy, &T)> {
        if let Some((p, v)) = self.exact.get_key_value(uri) {
            return Some((p, MatchPolicy::Exact, v));
        }
        if let Some((p, v)) = self.prefix.longest_match(uri) {
            return Some((p, MatchPolicy::Prefix, v));
        }
        self.wildcard
            .best_match(uri)
            .map(|(p, v)| (p, MatchPolicy::Wildcard, v))
    }

    /// Trie nodes in use (prefix and wildcard tries, roots not counted): zero
    /// whenever no prefix or wildcard entry is stored. For tests and metrics.
    pub fn node_count(&self) -> usize {
        self.prefix.node_count() + self.wildcard.node_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchPolicy::{Exact, Prefix, Wildcard};

    fn matches(ix: &UriIndex<u32>, uri: &str) -> Vec<(String, MatchPolicy, u32)> {
        let mut out = Vec::new();
        ix.for_each_match(uri, |p, m, v| out.push((p.to_owned(), m, *v)));
        out
    }

    fn best(ix: &UriIndex<u32>, uri: &str) -> Option<u32> {
        ix.best_match(uri).map(|(_, _, v)| *v)
    }

    #[test]
    fn spec_prefix_subscription_example() {
        let mut ix = UriIndex::new();
        ix.insert("com.myapp.topic.emergency", Prefix, 1);
        for uri in [
            "com.myapp.topic.emergency.11",
            "com.myapp.topic.emergency-low",
            "com.myapp.topic.emergency.category.severe",
            "com.myapp.topic.emergency",
        ] {
            assert_eq!(
                matches(&ix, uri),
                vec![("com.myapp.topic.emergency".to_owned(), Prefix, 1)],
                "{uri}"
            );
        }
        assert_eq!(matches(&ix, "com.myapp.topic.emerge"), vec![]);
    }

    #[test]
    fn spec_prefix_registration_example() {
        let mut ix = UriIndex::new();
        ix.insert("com.myapp.myobject1", Prefix, 1);
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject1-mysubobject1",
            "com.myapp.myobject1.mysubobject1.myprocedure1",
            "com.myapp.myobject1",
        ] {
            assert_eq!(best(&ix, uri), Some(1), "{uri}");
        }
        for uri in ["com.myapp.myobject2", "com.myapp.myobject"] {
            assert_eq!(best(&ix, uri), None, "{uri}");
        }
    }

    #[test]
    fn spec_wildcard_subscription_example() {
        let mut ix = UriIndex::new();
        ix.insert("com.myapp..userevent", Wildcard, 1);
        for uri in [
            "com.myapp.foo.userevent",
            "com.myapp.bar.userevent",
            "com.myapp.a12.userevent",
        ] {
            assert_eq!(
                matches(&ix, uri),
                vec![("com.myapp..userevent".to_owned(), Wildcard, 1)],
                "{uri}"
            );
        }
        for uri in [
            "com.myapp.foo.userevent.bar",
            "com.myapp.foo.user",
            "com.myapp2.foo.userevent",
        ] {
            assert_eq!(matches(&ix, uri), vec![], "{uri}");
        }
    }

    #[test]
    fn spec_wildcard_registration_example() {
        let mut ix = UriIndex::new();
        ix.insert("com.myapp..myprocedure1", Wildcard, 1);
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject2.myprocedure1",
        ] {
            assert_eq!(best(&ix, uri), Some(1), "{uri}");
        }
        for uri in [
            "com.myapp.myobject1.myprocedure1.mysubprocedure1",
            "com.myapp.myobject1.myprocedure2",
            "com.myapp2.myobject1.myprocedure1",
        ] {
            assert_eq!(best(&ix, uri), None, "{uri}");
        }
    }

    fn spec_registrations() -> UriIndex<u32> {
        let mut ix = UriIndex::new();
        ix.insert("a1.b2.c3.d4.e55", Exact, 1);
        ix.insert("a1.b2.c3", Prefix, 2);
        ix.insert("a1.b2.c3.d4", Prefix, 3);
        ix.insert("a1.b2..d4.e5", Wildcard, 4);
        ix.insert("a1.b2.c33..e5", Wildcard, 5);
        ix.insert("a1.b2..d4.e5..g7", Wildcard, 6);
        ix.insert("a1.b2..d4..f6.g7", Wildcard, 7);
        ix
    }

    /// The spec's "Calls matching multiple registrations" examples.
    #[test]
    fn spec_best_match_examples() {
        let ix = spec_registrations();
        assert_eq!(
            ix.best_match("a1.b2.c3.d4.e55"),
            Some(("a1.b2.c3.d4.e55", Exact, &1))
        );
        assert_eq!(
            ix.best_match("a1.b2.c3.d98.e74"),
            Some(("a1.b2.c3", Prefix, &2))
        );
        assert_eq!(
            ix.best_match("a1.b2.c3.d4.e325"),
            Some(("a1.b2.c3.d4", Prefix, &3))
        );
        assert_eq!(
            ix.best_match("a1.b2.c55.d4.e5"),
            Some(("a1.b2..d4.e5", Wildcard, &4))
        );
        assert_eq!(
            ix.best_match("a1.b2.c88.d4.e5.f6.g7"),
            Some(("a1.b2..d4.e5..g7", Wildcard, &6))
        );
        assert_eq!(ix.best_match("a2.b2.c2.d2.e2"), None);

        // The spec says `a1.b2.c33.d4.e5` has "no prefix match" and goes to
        // RPC 5, but its own prefix rule is string prefix matching
        // (`...emergency` matches `...emergency-low`), under which prefix
        // `a1.b2.c3` matches `a1.b2.c33...` and wins over any wildcard. We
        // follow the string rule (as Crossbar.io's string trie does) ...
        assert_eq!(
            ix.best_match("a1.b2.c33.d4.e5"),
            Some(("a1.b2.c3", Prefix, &2))
        );
        // ... and the example's wildcard tie-break holds once that prefix
        // registration is gone.
        let mut ix = ix;
        ix.remove("a1.b2.c3", Prefix);
        assert_eq!(
            ix.best_match("a1.b2.c33.d4.e5"),
            Some(("a1.b2.c33..e5", Wildcard, &5))
        );
    }

    #[test]
    fn broker_sees_every_match_once() {
        let ix = spec_registrations();
        assert_eq!(
            matches(&ix, "a1.b2.c3.d4.e55"),
            vec![
                ("a1.b2.c3.d4.e55".to_owned(), Exact, 1),
                ("a1.b2.c3".to_owned(), Prefix, 2),
                ("a1.b2.c3.d4".to_owned(), Prefix, 3),
            ]
        );
        assert_eq!(
            matches(&ix, "a1.b2.c33.d4.e5"),
            vec![
                ("a1.b2.c3".to_owned(), Prefix, 2),
                ("a1.b2.c33..e5".to_owned(), Wildcard, 5),
                ("a1.b2..d4.e5".to_owned(), Wildcard, 4),
            ]
        );
        assert_eq!(
            matches(&ix, "a1.b2.c88.d4.e5.f6.g7"),
            vec![
                ("a1.b2..d4.e5..g7".to_owned(), Wildcard, 6),
                ("a1.b2..d4..f6.g7".to_owned(), Wildcard, 7),
            ]
        );
    }

    #[test]
    fn longer_first_run_beats_more_literals() {
        // The rule compares runs before wildcards, not literal counts.
        let mut ix = UriIndex::new();
        ix.insert("a.b...", Wildcard, 1);
        ix.insert("a..c.d.e", Wildcard, 2);
        assert_eq!(best(&ix, "a.b.c.d.e"), Some(1));
        ix.insert("a1.b2..d4", Wildcard, 3);
        ix.insert("a1...d4", Wildcard, 4);
        assert_eq!(best(&ix, "a1.b2.c3.d4"), Some(3));
    }

    #[test]
    fn same_pattern_under_each_policy_is_three_entries() {
        let mut ix = UriIndex::new();
        assert_eq!(ix.insert("a.b", Exact, 1), None);
        assert_eq!(ix.insert("a.b", Prefix, 2), None);
        assert_eq!(ix.insert("a.b", Wildcard, 3), None);
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.insert("a.b", Prefix, 20), Some(2));
        assert_eq!(ix.len(), 3);
        assert_eq!(
            matches(&ix, "a.b"),
            vec![
                ("a.b".to_owned(), Exact, 1),
                ("a.b".to_owned(), Prefix, 20),
                ("a.b".to_owned(), Wildcard, 3),
            ]
        );
        assert_eq!(ix.get("a.b", Wildcard), Some(&3));
        *ix.get_mut("a.b", Exact).expect("stored") += 10;
        assert_eq!(ix.get("a.b", Exact), Some(&11));
        assert_eq!(ix.get("a", Prefix), None);
        assert_eq!(ix.get_mut("a.b.c", Wildcard), None);

        let mut all: Vec<_> = ix.iter().map(|(p, m, v)| (p.to_owned(), m, *v)).collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                ("a.b".to_owned(), Exact, 11),
                ("a.b".to_owned(), Prefix, 20),
                ("a.b".to_owned(), Wildcard, 3),
            ]
        );
    }

    #[test]
    fn prefix_with_trailing_dot_matches_whole_components_only() {
        let mut ix = UriIndex::new();
        ix.insert("com.myapp.", Prefix, 1);
        assert_eq!(best(&ix, "com.myapp.x"), Some(1));
        assert_eq!(best(&ix, "com.myapp.x.y"), Some(1));
        assert_eq!(best(&ix, "com.myappx"), None);
        assert_eq!(best(&ix, "com.myapp"), None);
    }

    #[test]
    fn empty_patterns() {
        let mut ix = UriIndex::new();
        ix.insert("", Prefix, 1);
        ix.insert("", Wildcard, 2);
        assert_eq!(best(&ix, "anything.at.all"), Some(1));
        assert_eq!(
            matches(&ix, "one"),
            vec![("".to_owned(), Prefix, 1), ("".to_owned(), Wildcard, 2)]
        );
        assert_eq!(matches(&ix, "two.comps"), vec![("".to_owned(), Prefix, 1)]);
    }

    #[test]
    fn removal_leaves_no_garbage_nodes() {
        let mut ix = UriIndex::new();
        let patterns = [
            ("a1.b2.c3", Prefix),
            ("a1.b2.c3.d4", Prefix),
            ("a1.b2.c", Prefix),
            ("a1.x", Prefix),
            ("a1.b2..d4.e5", Wildcard),
            ("a1.b2.c33..e5", Wildcard),
            ("a1.b2..d4.e5..g7", Wildcard),
            ("..", Wildcard),
            ("a1.b2.c3.d4.e55", Exact),
        ];
        for (i, (p, m)) in patterns.iter().enumerate() {
            ix.insert(p, *m, i as u32);
        }
        assert!(ix.node_count() > 0);
        assert_eq!(ix.len(), patterns.len());
        // Removing what is not there changes nothing.
        let before = ix.node_count();
        assert_eq!(ix.remove("a1.b2", Prefix), None);
        assert_eq!(ix.remove("a1.b2.", Wildcard), None);
        assert_eq!(ix.remove("a1.b2.c3", Exact), None);
        assert_eq!(ix.node_count(), before);
        // Remove in an order different from insertion.
        for (i, (p, m)) in patterns.iter().enumerate().rev().step_by(2) {
            assert_eq!(ix.remove(p, *m), Some(i as u32));
        }
        for (i, (p, m)) in patterns.iter().enumerate() {
            if ix.get(p, *m).is_some() {
                assert_eq!(ix.remove(p, *m), Some(i as u32));
            }
        }
        assert_eq!(ix.len(), 0);
        assert!(ix.is_empty());
        assert_eq!(ix.node_count(), 0);
        assert_eq!(ix.iter().count(), 0);
        assert_eq!(matches(&ix, "a1.b2.c3.d4.e55"), vec![]);
    }

    #[test]
    fn hostile_uris_do_not_panic() {
        let mut ix = UriIndex::new();
        ix.insert("a.", Prefix, 1);
        ix.insert(".", Wildcard, 2);
        ix.insert("ä.", Wildcard, 3);
        for uri in [
            "",
            ".",
            "..",
            "ä",
            "ä.",
            "ä.ö",
            "\u{0}",
            "a.\u{10FFFF}",
            "#.#",
        ] {
            let _ = matches(&ix, uri);
            let _ = ix.best_match(uri);
        }
        assert_eq!(best(&ix, "ä.ö"), Some(3));
        assert_eq!(best(&ix, "."), Some(2));
    }
}

//! Property tests: `UriIndex` agrees with a naive linear matcher written
//! straight from the spec's pattern-based subscription/registration rules,
//! over random patterns, URIs and insert/remove sequences.

use std::collections::BTreeMap;

use junction::core::index::UriIndex;
use junction::proto::uri::MatchPolicy;
use proptest::prelude::*;

type Entry = (String, MatchPolicy, u32);

/// The spec's wildcard rule: same number of components, and every non-empty
/// pattern component equals the URI's component at that position.
fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let u: Vec<&str> = uri.split('.').collect();
    p.len() == u.len() && p.iter().zip(&u).all(|(p, u)| p.is_empty() || p == u)
}

fn naive_matches(model: &BTreeMap<(String, MatchPolicy), u32>, uri: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = model
        .iter()
        .filter(|((p, m), _)| match m {
            MatchPolicy::Exact => p == uri,
            MatchPolicy::Prefix => uri.starts_with(p.as_str()),
            MatchPolicy::Wildcard => wildcard_matches(p, uri),
        })
        .map(|((p, m), v)| (p.clone(), *m, *v))
        .collect();
    out.sort();
    out
}

/// Lengths of the runs of literal components before each wildcard (and after
/// the last): the spec's wildcard priority, compared lexicographically.
fn literal_runs(pattern: &str) -> Vec<usize> {
    let mut runs = vec![0];
    for c in pattern.split('.') {
        if c.is_empty() {
            runs.push(0);
        } else {
            *runs.last_mut().expect("never empty") += 1;
        }
    }
    runs
}

/// The spec's dealer rule: exact, else longest prefix, else the wildcard with
/// the longest literal portion before the first wildcard, then the second, ...
fn naive_best(model: &BTreeMap<(String, MatchPolicy), u32>, uri: &str) -> Option<Entry> {
    let all = naive_matches(model, uri);
    let of = |m: MatchPolicy| all.iter().filter(move |e| e.1 == m);
    if let Some(e) = of(MatchPolicy::Exact).next() {
        return Some(e.clone());
    }
    if let Some(e) = of(MatchPolicy::Prefix).max_by_key(|e| e.0.len()) {
        return Some(e.clone());
    }
    of(MatchPolicy::Wildcard)
        .max_by_key(|e| literal_runs(&e.0))
        .cloned()
}

fn index_matches(ix: &UriIndex<u32>, uri: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    ix.for_each_match(uri, |p, m, v| out.push((p.to_owned(), m, *v)));
    out.sort();
    out
}

fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "ab", "ba"])
}

/// Concrete URIs over a small alphabet, plus raw strings (empty components,
/// leading/trailing dots) that are not valid URIs but must not confuse the
/// index either.
fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(component(), 1..6).prop_map(|c| c.join(".")),
        1 => "[ab.]{0,9}",
    ]
}

fn pattern() -> impl Strategy<Value = (String, MatchPolicy)> {
    let wild_comp = prop::sample::select(vec!["", "", "a", "b", "ab"]);
    prop_oneof![
        prop::collection::vec(component(), 1..5).prop_map(|c| (c.join("."), MatchPolicy::Exact)),
        "[ab.]{0,8}".prop_map(|p| (p, MatchPolicy::Prefix)),
        prop::collection::vec(component(), 1..4)
            .prop_map(|c| (c.join(".") + ".", MatchPolicy::Prefix)),
        prop::collection::vec(wild_comp, 1..6).prop_map(|c| (c.join("."), MatchPolicy::Wildcard)),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, MatchPolicy, u32),
    Remove(String, MatchPolicy),
    Check(String),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pattern(), any::<u32>()).prop_map(|((p, m), v)| Op::Insert(p, m, v)),
        2 => pattern().prop_map(|(p, m)| Op::Remove(p, m)),
        3 => uri().prop_map(Op::Check),
    ]
}

fn check_agreement(
    ix: &UriIndex<u32>,
    model: &BTreeMap<(String, MatchPolicy), u32>,
    uri: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        index_matches(ix, uri),
        naive_matches(model, uri),
        "uri {:?}",
        uri
    );
    let best = ix.best_match(uri).map(|(p, m, v)| (p.to_owned(), m, *v));
    prop_assert_eq!(best, naive_best(model, uri), "best for uri {:?}", uri);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A fixed set of patterns, many URIs: same matches, same best match.
    #[test]
    fn matches_agree_with_naive(
        patterns in prop::collection::vec(pattern(), 0..40),
        uris in prop::collection::vec(uri(), 1..40),
    ) {
        let mut ix = UriIndex::new();
        let mut model = BTreeMap::new();
        for (i, (p, m)) in patterns.into_iter().enumerate() {
            let v = i as u32;
            prop_assert_eq!(ix.insert(&p, m, v), model.insert((p, m), v));
        }
        prop_assert_eq!(ix.len(), model.len());
        for uri in &uris {
            check_agreement(&ix, &model, uri)?;
        }
    }

    /// Random insert/remove/check sequences keep the index equal to the model,
    /// and removing everything frees every trie node.
    #[test]
    fn insert_remove_sequences_agree(ops in prop::collection::vec(op(), 1..120)) {
        let mut ix = UriIndex::new();
        let mut model = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(p, m, v) => {
                    prop_assert_eq!(ix.insert(&p, m, v), model.insert((p, m), v));
                }
                Op::Remove(p, m) => {
                    prop_assert_eq!(ix.remove(&p, m), model.remove(&(p, m)));
                }
                Op::Check(uri) => check_agreement(&ix, &model, &uri)?,
            }
            prop_assert_eq!(ix.len(), model.len());
        }
        let mut stored: Vec<Entry> = ix.iter().map(|(p, m, v)| (p.to_owned(), m, *v)).collect();
        stored.sort();
        let expected: Vec<Entry> = model.iter().map(|((p, m), v)| (p.clone(), *m, *v)).collect();
        prop_assert_eq!(stored, expected);
        for ((p, m), v) in &model {
            prop_assert_eq!(ix.get(p, *m), Some(v));
        }
        for (p, m) in model.keys() {
            prop_assert!(ix.remove(p, *m).is_some());
        }
        prop_assert!(ix.is_empty());
        prop_assert_eq!(ix.node_count(), 0);
    }
}

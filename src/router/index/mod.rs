//! TEMPORARY linear `UriIndex<T>` with the agreed API, so the router compiles
//! while the real trie is written. Replaced at merge.
#![allow(missing_docs)]
use crate::proto::uri::MatchPolicy;

pub struct UriIndex<T> {
    entries: Vec<(String, MatchPolicy, T)>,
}

impl<T> Default for UriIndex<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let p: Vec<&str> = pattern.split('.').collect();
            let u: Vec<&str> = uri.split('.').collect();
            p.len() == u.len() && p.iter().zip(u.iter()).all(|(a, b)| a.is_empty() || a == b)
        }
    }
}

impl<T> UriIndex<T> {
    pub fn new() -> Self {
        UriIndex {
            entries: Vec::new(),
        }
    }
    pub fn insert(&mut self, pattern: &str, policy: MatchPolicy, value: T) -> Option<T> {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.0 == pattern && e.1 == policy)
        {
            return Some(std::mem::replace(&mut e.2, value));
        }
        self.entries.push((pattern.to_owned(), policy, value));
        None
    }
    pub fn get(&self, pattern: &str, policy: MatchPolicy) -> Option<&T> {
        self.entries
            .iter()
            .find(|e| e.0 == pattern && e.1 == policy)
            .map(|e| &e.2)
    }
    pub fn get_mut(&mut self, pattern: &str, policy: MatchPolicy) -> Option<&mut T> {
        self.entries
            .iter_mut()
            .find(|e| e.0 == pattern && e.1 == policy)
            .map(|e| &mut e.2)
    }
    pub fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<T> {
        let i = self
            .entries
            .iter()
            .position(|e| e.0 == pattern && e.1 == policy)?;
        Some(self.entries.swap_remove(i).2)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, MatchPolicy, &T)> {
        self.entries.iter().map(|e| (e.0.as_str(), e.1, &e.2))
    }
    pub fn for_each_match(&self, uri: &str, mut f: impl FnMut(&str, MatchPolicy, &T)) {
        for e in &self.entries {
            if matches(&e.0, e.1, uri) {
                f(&e.0, e.1, &e.2)
            }
        }
    }
    pub fn best_match(&self, uri: &str) -> Option<(&str, MatchPolicy, &T)> {
        let mut best: Option<&(String, MatchPolicy, T)> = None;
        for e in &self.entries {
            if !matches(&e.0, e.1, uri) {
                continue;
            }
            best = match best {
                None => Some(e),
                Some(b) => {
                    let better = match (e.1, b.1) {
                        (MatchPolicy::Exact, _) => true,
                        (MatchPolicy::Prefix, MatchPolicy::Prefix) => e.0.len() > b.0.len(),
                        (MatchPolicy::Prefix, MatchPolicy::Wildcard) => true,
                        (MatchPolicy::Wildcard, MatchPolicy::Wildcard) => e.0 < b.0,
                        _ => false,
                    };
                    if better { Some(e) } else { Some(b) }
                }
            };
        }
        best.map(|e| (e.0.as_str(), e.1, &e.2))
    }
}

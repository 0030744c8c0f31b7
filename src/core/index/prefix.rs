//! Prefix patterns in a byte-level radix (PATRICIA) tree.
//!
//! The spec's prefix matching is plain string prefix matching (`a.b` matches
//! `a.b.c` *and* `a.bc`), so the tree is keyed by bytes, not by URI
//! components. Edges carry byte strings, siblings have distinct first bytes,
//! and every node other than the root either holds an entry or has at least two
//! children, so the tree has at most `2 × entries` nodes. Matching walks the
//! URI once from the root: every entry on the path is a matching prefix, the
//! deepest one is the longest. Nodes live in an arena (`Vec` plus free list),
//! linked by `u32` indices.

use std::mem;

/// Arena index of the root node; the root is never freed.
const ROOT: u32 = 0;

/// One node of the radix tree.
#[derive(Debug)]
struct Node<T> {
    /// The bytes on the edge from the parent (empty only for the root).
    label: Box<[u8]>,
    /// Children as (first byte of their label, index), sorted by byte, so a
    /// lookup is a binary search over at most 256 entries.
    children: Vec<(u8, u32)>,
    /// The parent's index (the root points at itself).
    parent: u32,
    /// The pattern ending exactly here, if any, with its value.
    entry: Option<(Box<str>, T)>,
}

impl<T> Node<T> {
    fn new(label: Box<[u8]>, parent: u32, entry: Option<(Box<str>, T)>) -> Self {
        Node {
            label,
            children: Vec::new(),
            parent,
            entry,
        }
    }
}

/// Prefix-pattern entries in a radix tree over the pattern's bytes.
#[derive(Debug)]
pub(crate) struct PrefixTree<T> {
    /// Node arena; index 0 is the root.
    nodes: Vec<Node<T>>,
    /// Indices of freed arena slots, reused before the arena grows.
    free: Vec<u32>,
    /// Number of entries.
    len: usize,
}

impl<T> PrefixTree<T> {
    /// An empty tree (just the root).
    pub(crate) fn new() -> Self {
        PrefixTree {
            nodes: vec![Node::new(Box::default(), ROOT, None)],
            free: Vec::new(),
            len: 0,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Nodes in use, not counting the root.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len() - 1
    }

    fn node(&self, i: u32) -> &Node<T> {
        &self.nodes[i as usize]
    }

    fn node_mut(&mut self, i: u32) -> &mut Node<T> {
        &mut self.nodes[i as usize]
    }

    fn alloc(&mut self, node: Node<T>) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len()).expect("fewer than 2^32 trie nodes");
                self.nodes.push(node);
                i
            }
        }
    }

    fn release(&mut self, i: u32) {
        // Drop the label and children buffers now; the slot is reused later.
        *self.node_mut(i) = Node::new(Box::default(), ROOT, None);
        self.free.push(i);
    }

    /// Position of the child starting with `byte` in `node`'s sorted child
    /// list, or where it would be inserted.
    fn child_pos(&self, node: u32, byte: u8) -> Result<usize, usize> {
        self.node(node)
            .children
            .binary_search_by_key(&byte, |&(b, _)| b)
    }

    /// The child of `node` whose label starts with `byte`.
    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        let children = &self.node(node).children;
        children
            .binary_search_by_key(&byte, |&(b, _)| b)
            .ok()
            .map(|pos| children[pos].1)
    }

    /// The node at which exactly `pattern` ends, if the tree has one.
    fn find(&self, pattern: &str) -> Option<u32> {
        let p = pattern.as_bytes();
        let (mut node, mut i) = (ROOT, 0);
        while i < p.len() {
            let c = self.child(node, p[i])?;
            let label = &self.node(c).label;
            if !p[i..].starts_with(label) {
                return None;
            }
            i += label.len();
            node = c;
        }
        Some(node)
    }

    /// Inserts or replaces; returns the replaced value.
    pub(crate) fn insert(&mut self, pattern: &str, value: T) -> Option<T> {
        let p = pattern.as_bytes();
        let (mut node, mut i) = (ROOT, 0);
        while i < p.len() {
            match self.child_pos(node, p[i]) {
                Err(pos) => {
                    let leaf = Node::new(p[i..].into(), node, Some((pattern.into(), value)));
                    let leaf = self.alloc(leaf);
                    self.node_mut(node).children.insert(pos, (p[i], leaf));
                    self.len += 1;
                    return None;
                }
                Ok(pos) => {
                    let c = self.node(node).children[pos].1;
                    let label = &self.node(c).label;
                    let common = label
                        .iter()
                        .zip(&p[i..])
                        .take_while(|(a, b)| a == b)
                        .count();
                    if common < label.len() {
                        // Split the edge: node -> mid (shared head) -> c (tail).
                        // `common >= 1` because the first bytes are equal.
                        let head: Box<[u8]> = label[..common].into();
                        let tail: Box<[u8]> = label[common..].into();
                        let mut mid = Node::new(head, node, None);
                        mid.children.push((tail[0], c));
                        let mid = self.alloc(mid);
                        let cn = self.node_mut(c);
                        cn.label = tail;
                        cn.parent = mid;
                        self.node_mut(node).children[pos].1 = mid;
                        node = mid;
                    } else {
                        node = c;
                    }
                    i += common;
                }
            }
        }
        match &mut self.node_mut(node).entry {
            Some((_, old)) => Some(mem::replace(old, value)),
            slot @ None => {
                *slot = Some((pattern.into(), value));
                self.len += 1;
                None
            }
        }
    }

    /// The value stored for exactly `pattern`.
    pub(crate) fn get(&self, pattern: &str) -> Option<&T> {
        let n = self.find(pattern)?;
        self.node(n).entry.as_ref().map(|(_, v)| v)
    }

    /// The value stored for exactly `pattern`, mutably.
    pub(crate) fn get_mut(&mut self, pattern: &str) -> Option<&mut T> {
        let n = self.find(pattern)?;
        self.node_mut(n).entry.as_mut().map(|(_, v)| v)
    }

    /// Removes `pattern`'s entry and every node that no longer carries one.
    pub(crate) fn remove(&mut self, pattern: &str) -> Option<T> {
        let n = self.find(pattern)?;
        let (_, value) = self.node_mut(n).entry.take()?;
        self.len -= 1;
        self.prune(n);
        Some(value)
    }

    /// Restores the invariant (every non-root node has an entry or at least
    /// two children) upwards from `n`, whose entry was just removed.
    fn prune(&mut self, mut n: u32) {
        while n != ROOT && self.node(n).entry.is_none() {
            let parent = self.node(n).parent;
            let first = self.node(n).label[0];
            let pos = self
                .child_pos(parent, first)
                .expect("a node is listed under its parent");
            match self.node(n).children.len() {
                0 => {
                    self.node_mut(parent).children.remove(pos);
                    self.release(n);
                    n = parent;
                }
                1 => {
                    // Merge n into its only child: parent -> child, label joined.
                    let (_, c) = self.node(n).children[0];
                    let mut label =
                        Vec::with_capacity(self.node(n).label.len() + self.node(c).label.len());
                    label.extend_from_slice(&self.node(n).label);
                    label.extend_from_slice(&self.node(c).label);
                    let cn = self.node_mut(c);
                    cn.label = label.into_boxed_slice();
                    cn.parent = parent;
                    self.node_mut(parent).children[pos].1 = c;
                    self.release(n);
                    return;
                }
                _ => return,
            }
        }
    }

    /// Calls `f` for every entry whose pattern is a prefix of `uri`, shortest
    /// first.
    pub(crate) fn for_each_match<'a>(&'a self, uri: &str, mut f: impl FnMut(&'a str, &'a T)) {
        if self.len == 0 {
            return;
        }
        let u = uri.as_bytes();
        let (mut node, mut i) = (ROOT, 0);
        loop {
            if let Some((p, v)) = &self.node(node).entry {
                f(p, v);
            }
            if i == u.len() {
                return;
            }
            let Some(c) = self.child(node, u[i]) else {
                return;
            };
            let label = &self.node(c).label;
            if !u[i..].starts_with(label) {
                return;
            }
            i += label.len();
            node = c;
        }
    }

    /// The entry with the longest pattern that is a prefix of `uri`.
    pub(crate) fn longest_match(&self, uri: &str) -> Option<(&str, &T)> {
        let mut best = None;
        self.for_each_match(uri, |p, v| best = Some((p, v)));
        best
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.nodes
            .iter()
            .filter_map(|n| n.entry.as_ref().map(|(p, v)| (&**p, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(t: &PrefixTree<u32>, uri: &str) -> Vec<u32> {
        let mut out = Vec::new();
        t.for_each_match(uri, |_, v| out.push(*v));
        out
    }

    #[test]
    fn split_and_merge() {
        let mut t = PrefixTree::new();
        assert_eq!(t.insert("abcd", 1), None);
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.insert("abxy", 2), None);
        // root -> "ab" -> {"cd", "xy"}
        assert_eq!(t.node_count(), 3);
        assert_eq!(t.insert("ab", 3), None);
        assert_eq!(t.node_count(), 3);
        assert_eq!(t.insert("a", 4), None);
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.insert("ab", 5), Some(3));
        assert_eq!(t.len(), 4);
        assert_eq!(matches(&t, "abcdef"), vec![4, 5, 1]);
        assert_eq!(matches(&t, "abx"), vec![4, 5]);
        assert_eq!(matches(&t, "b"), Vec::<u32>::new());
        assert_eq!(t.longest_match("abxyz"), Some(("abxy", &2)));

        assert_eq!(t.remove("ab"), Some(5));
        assert_eq!(t.remove("ab"), None);
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.remove("a"), Some(4));
        // "a" and "ab" merge back into one "ab" branch node.
        assert_eq!(t.node_count(), 3);
        assert_eq!(t.remove("abcd"), Some(1));
        // "ab" now has one child left and merges into "abxy".
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.get("abxy"), Some(&2));
        assert_eq!(t.get("ab"), None);
        assert_eq!(t.remove("abxy"), Some(2));
        assert_eq!(t.node_count(), 0);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn empty_pattern_is_prefix_of_everything() {
        let mut t = PrefixTree::new();
        t.insert("", 7);
        assert_eq!(t.node_count(), 0);
        assert_eq!(matches(&t, ""), vec![7]);
        assert_eq!(matches(&t, "x.y"), vec![7]);
        assert_eq!(t.remove(""), Some(7));
        assert_eq!(matches(&t, "x.y"), Vec::<u32>::new());
    }

    #[test]
    fn non_ascii_split_inside_a_char() {
        // "ä" is 0xC3 0xA4 and "ö" 0xC3 0xB6: the edge splits mid-character.
        let mut t = PrefixTree::new();
        t.insert("a.ä", 1);
        t.insert("a.ö", 2);
        assert_eq!(t.node_count(), 3);
        assert_eq!(matches(&t, "a.äx"), vec![1]);
        assert_eq!(matches(&t, "a.ö"), vec![2]);
        assert_eq!(matches(&t, "a.\u{c3}"), Vec::<u32>::new());
        let mut all: Vec<_> = t.iter().map(|(p, v)| (p.to_owned(), *v)).collect();
        all.sort();
        assert_eq!(all, vec![("a.ä".to_owned(), 1), ("a.ö".to_owned(), 2)]);
    }
}

//! Wildcard patterns in a URI-component trie.
//!
//! Each level of the trie is one URI component. A node's literal children are
//! in a hash map keyed by component; an empty pattern component (the wildcard)
//! goes to the node's one dedicated `wild` child instead, which matches any one
//! component. An entry sits on the node reached after its last component, so
//! a pattern only matches URIs with as many components as it has.
//!
//! Matching is a depth-first search that tries a level's literal child before
//! its wildcard child. It needs no stack: nodes know their parent, and the
//! byte offset into the URI for the parent's level is recovered by scanning
//! back to the previous `.`. So a match allocates nothing and cannot overflow
//! the call stack, however deep a (client-supplied) pattern is.
//!
//! The literal-first order is also the dealer's tie-break: the spec prefers the
//! wildcard registration with the longest run of literal components before the
//! first wildcard, then before the second, and so on. Among patterns matching
//! one URI (all of the same length) that is the lexicographically greatest
//! literal/wildcard sequence with literal > wildcard, which is exactly the
//! first match this search finds.

use std::ops::ControlFlow;

use ahash::AHashMap;

/// Arena index of the root node; the root is never freed.
const ROOT: u32 = 0;
/// "No node" for [`Node::wild`].
const NONE: u32 = u32::MAX;

/// One trie node: one URI component position below its parent.
#[derive(Debug)]
struct Node<T> {
    /// Literal (non-empty) next components.
    children: AHashMap<Box<str>, u32>,
    /// The wildcard child (pattern component empty), or [`NONE`].
    wild: u32,
    /// The parent's index (the root points at itself).
    parent: u32,
    /// The pattern ending at this depth, if any, with its value.
    entry: Option<(Box<str>, T)>,
}

impl<T> Node<T> {
    fn new(parent: u32) -> Self {
        Node {
            children: AHashMap::new(),
            wild: NONE,
            parent,
            entry: None,
        }
    }

    fn is_unused(&self) -> bool {
        self.entry.is_none() && self.children.is_empty() && self.wild == NONE
    }
}

/// Wildcard-pattern entries in a component trie.
#[derive(Debug)]
pub(crate) struct WildcardTree<T> {
    /// Node arena; index 0 is the root.
    nodes: Vec<Node<T>>,
    /// Indices of freed arena slots, reused before the arena grows.
    free: Vec<u32>,
    /// Number of entries.
    len: usize,
}

/// The component of `uri` starting at byte `pos`, and the start of the next
/// one (`uri.len() + 1` after the last component).
fn component_at(uri: &str, pos: usize) -> (&str, usize) {
    let end = uri[pos..].find('.').map_or(uri.len(), |k| pos + k);
    (&uri[pos..end], end + 1)
}

/// The start of the component that ends just before `next` (`next` as
/// returned by [`component_at`]).
fn component_start(uri: &str, next: usize) -> usize {
    uri[..next - 1].rfind('.').map_or(0, |k| k + 1)
}

impl<T> WildcardTree<T> {
    /// An empty trie (just the root).
    pub(crate) fn new() -> Self {
        WildcardTree {
            nodes: vec![Node::new(ROOT)],
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

    fn alloc(&mut self, parent: u32) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = Node::new(parent);
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len()).expect("fewer than 2^32 trie nodes");
                self.nodes.push(Node::new(parent));
                i
            }
        }
    }

    fn release(&mut self, i: u32) {
        // Drop the child map's buffer now; the slot is reused later.
        *self.node_mut(i) = Node::new(ROOT);
        self.free.push(i);
    }

    /// The node for exactly `pattern`, if the trie has one.
    fn find(&self, pattern: &str) -> Option<u32> {
        pattern.split('.').try_fold(ROOT, |n, comp| {
            let n = self.node(n);
            if comp.is_empty() {
                (n.wild != NONE).then_some(n.wild)
            } else {
                n.children.get(comp).copied()
            }
        })
    }

    /// Inserts or replaces; returns the replaced value.
    pub(crate) fn insert(&mut self, pattern: &str, value: T) -> Option<T> {
        let mut n = ROOT;
        for comp in pattern.split('.') {
            n = if comp.is_empty() {
                match self.node(n).wild {
                    NONE => {
                        let c = self.alloc(n);
                        self.node_mut(n).wild = c;
                        c
                    }
                    c => c,
                }
            } else {
                match self.node(n).children.get(comp) {
                    Some(&c) => c,
                    None => {
                        let c = self.alloc(n);
                        self.node_mut(n).children.insert(comp.into(), c);
                        c
                    }
                }
            };
        }
        match &mut self.node_mut(n).entry {
            Some((_, old)) => Some(std::mem::replace(old, value)),
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

    /// Removes `pattern`'s entry and every node left without entries below it.
    pub(crate) fn remove(&mut self, pattern: &str) -> Option<T> {
        let mut n = self.find(pattern)?;
        let (_, value) = self.node_mut(n).entry.take()?;
        self.len -= 1;
        // Walk back up, pairing each node with its component (last first).
        let mut comps = pattern.rsplit('.');
        while n != ROOT && self.node(n).is_unused() {
            let comp = comps
                .next()
                .expect("a node's depth equals its pattern's component count");
            let parent = self.node(n).parent;
            let p = self.node_mut(parent);
            if p.wild == n {
                p.wild = NONE;
            } else {
                p.children.remove(comp);
            }
            self.release(n);
            n = parent;
        }
        Some(value)
    }

    /// Depth-first search over the entries matching `uri`, literal children
    /// before the wildcard child at each level; stops when `f` breaks.
    fn walk<'a>(&'a self, uri: &str, mut f: impl FnMut(&'a str, &'a T) -> ControlFlow<()>) {
        // `pos` is the byte offset of the next component to match at `node`;
        // `done` means every component of `uri` has been matched.
        if self.len == 0 {
            return;
        }
        let done = uri.len() + 1;
        let (mut node, mut pos) = (ROOT, 0);
        'descend: loop {
            let n = self.node(node);
            if pos == done {
                if let Some((p, v)) = &n.entry
                    && f(p, v).is_break()
                {
                    return;
                }
            } else {
                let (comp, next) = component_at(uri, pos);
                let literal = if comp.is_empty() {
                    None
                } else {
                    n.children.get(comp).copied()
                };
                if let Some(c) = literal.or((n.wild != NONE).then_some(n.wild)) {
                    node = c;
                    pos = next;
                    continue 'descend;
                }
            }
            // Backtrack: go up until a level whose wildcard child is untried.
            loop {
                if node == ROOT {
                    return;
                }
                let parent = self.node(node).parent;
                let wild = self.node(parent).wild;
                if wild != NONE && wild != node {
                    // We came from the literal child; the wildcard child
                    // consumes the same component.
                    node = wild;
                    continue 'descend;
                }
                node = parent;
                pos = component_start(uri, pos);
            }
        }
    }

    /// Calls `f` for every entry whose pattern matches `uri`.
    pub(crate) fn for_each_match<'a>(&'a self, uri: &str, mut f: impl FnMut(&'a str, &'a T)) {
        self.walk(uri, |p, v| {
            f(p, v);
            ControlFlow::Continue(())
        });
    }

    /// The most specific matching entry by the spec's rule (longest literal
    /// run before the first wildcard, then before the second, ...).
    pub(crate) fn best_match(&self, uri: &str) -> Option<(&str, &T)> {
        let mut best = None;
        self.walk(uri, |p, v| {
            best = Some((p, v));
            ControlFlow::Break(())
        });
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

    fn matches(t: &WildcardTree<u32>, uri: &str) -> Vec<u32> {
        let mut out = Vec::new();
        t.for_each_match(uri, |_, v| out.push(*v));
        out
    }

    #[test]
    fn component_offsets() {
        assert_eq!(component_at("a.bc.d", 0), ("a", 2));
        assert_eq!(component_at("a.bc.d", 2), ("bc", 5));
        assert_eq!(component_at("a.bc.d", 5), ("d", 7));
        assert_eq!(component_at("a..", 2), ("", 3));
        assert_eq!(component_at("a..", 3), ("", 4));
        assert_eq!(component_at("", 0), ("", 1));
        assert_eq!(component_start("a.bc.d", 7), 5);
        assert_eq!(component_start("a.bc.d", 5), 2);
        assert_eq!(component_start("a.bc.d", 2), 0);
        assert_eq!(component_start("a..", 4), 3);
        assert_eq!(component_start("", 1), 0);
    }

    #[test]
    fn literal_before_wildcard_and_full_backtracking() {
        let mut t = WildcardTree::new();
        t.insert("a.b.c", 1);
        t.insert("a..c", 2);
        t.insert("..c", 3);
        t.insert("a.b.", 4);
        t.insert("..", 5);
        t.insert("a.b", 6);
        t.insert("...", 7);
        assert_eq!(matches(&t, "a.b.c"), vec![1, 4, 2, 3, 5]);
        assert_eq!(matches(&t, "a.x.c"), vec![2, 3, 5]);
        assert_eq!(matches(&t, "a.b.x"), vec![4, 5]);
        assert_eq!(matches(&t, "a.b"), vec![6]);
        assert_eq!(matches(&t, "a.b.c.d"), vec![7]);
        assert_eq!(matches(&t, "a..c"), vec![2, 3, 5]);
        assert_eq!(t.best_match("x.y.c"), Some(("..c", &3)));
        assert_eq!(t.best_match("a.b.c"), Some(("a.b.c", &1)));
    }

    #[test]
    fn removal_prunes_to_zero() {
        let mut t = WildcardTree::new();
        t.insert("a..c", 1);
        t.insert("a.b.c", 2);
        t.insert("", 3);
        assert_eq!(t.node_count(), 6);
        assert_eq!(t.remove("a..d"), None);
        assert_eq!(t.remove("a."), None);
        assert_eq!(t.remove("a..c"), Some(1));
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.get("a.b.c"), Some(&2));
        assert_eq!(t.remove("a.b.c"), Some(2));
        assert_eq!(t.node_count(), 1);
        assert_eq!(matches(&t, "anything"), vec![3]);
        assert_eq!(t.remove(""), Some(3));
        assert_eq!(t.node_count(), 0);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn deep_pattern_needs_no_stack() {
        let mut t = WildcardTree::new();
        let pattern = ".".repeat(200_000);
        let uri = "x.".repeat(200_000) + "x";
        t.insert(&pattern, 1);
        assert_eq!(matches(&t, &uri), vec![1]);
        assert_eq!(matches(&t, &uri[2..]), Vec::<u32>::new());
        assert_eq!(t.remove(&pattern), Some(1));
        assert_eq!(t.node_count(), 0);
    }
}

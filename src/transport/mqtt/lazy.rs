//! A collection allocated at its first entry and freed when it empties again
//! ([`Lazy`]), with what it needs of the collection ([`Empty`], [`IsEmpty`]):
//! the MQTT state's and session's rarely used maps and queues cost a pointer
//! while unused. Imports no sibling module (the session's own collections
//! implement [`Empty`] in `session.rs`).

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

/// A map allocated at its first entry and freed when it empties again:
/// most connections are idle with few of their maps in use, and an absent
/// map costs a pointer. Reads go through `Deref` (an absent map reads as
/// empty); `DerefMut` allocates (inserting); [`Lazy::remove`],
/// [`Lazy::get_mut`] and [`Lazy::clear`] never allocate, and `remove`
/// frees the map with its last entry.
#[derive(Debug, Clone, Default)]
pub struct Lazy<T>(Option<Box<T>>);

/// What an absent [`Lazy`] reads as.
pub trait Empty: Default + 'static {
    /// The empty value (one per type and thread, never freed).
    fn empty() -> &'static Self;
}

impl<T: 'static> Empty for VecDeque<T> {
    fn empty() -> &'static Self {
        const { &VecDeque::new() }
    }
}

impl<T: Empty> std::ops::Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Some(m) => m,
            None => T::empty(),
        }
    }
}

impl<T: Empty> std::ops::DerefMut for Lazy<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<A, T: FromIterator<A> + Empty + IsEmpty> FromIterator<A> for Lazy<T> {
    fn from_iter<I: IntoIterator<Item = A>>(iter: I) -> Self {
        let m: T = iter.into_iter().collect();
        Lazy((!m.is_empty_()).then(|| Box::new(m)))
    }
}

/// Whether a collection is empty (for [`Lazy`]).
pub trait IsEmpty {
    /// Whether it is empty.
    fn is_empty_(&self) -> bool;
}

impl<K, V, S> IsEmpty for HashMap<K, V, S> {
    fn is_empty_(&self) -> bool {
        self.is_empty()
    }
}

impl<K, S> IsEmpty for std::collections::HashSet<K, S> {
    fn is_empty_(&self) -> bool {
        self.is_empty()
    }
}

impl<T> Lazy<T> {
    /// The whole collection, taken out (an absent one: empty).
    pub fn take(&mut self) -> T
    where
        T: Default,
    {
        self.0.take().map(|b| *b).unwrap_or_default()
    }

    /// Whether it is allocated.
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }

    /// The value, to change, if allocated (never allocates).
    pub fn allocated_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    /// Frees the value once it is empty again.
    pub fn free_if_empty(&mut self)
    where
        T: IsEmpty,
    {
        if self.0.as_ref().is_some_and(|t| t.is_empty_()) {
            self.0 = None;
        }
    }
}

impl<K: Eq + Hash, S: BuildHasher> Lazy<std::collections::HashSet<K, S>> {
    /// Removes `k`; the set goes with its last entry.
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        let Some(m) = self.0.as_mut() else {
            return false;
        };
        let had = m.remove(k);
        if m.is_empty() {
            self.0 = None;
        }
        had
    }
}

impl<T> Lazy<VecDeque<T>> {
    /// Takes the front; the queue goes with its last entry.
    pub fn pop_front(&mut self) -> Option<T> {
        let q = self.0.as_mut()?;
        let v = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        v
    }

    /// The entries, to change (never allocates).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut().flat_map(|q| q.iter_mut())
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> Lazy<HashMap<K, V, S>> {
    /// The entry of `k`, to change (never allocates).
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.0.as_mut()?.get_mut(k)
    }

    /// Removes `k`; the map goes with its last entry.
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let m = self.0.as_mut()?;
        let v = m.remove(k);
        if m.is_empty() {
            self.0 = None;
        }
        v
    }

    /// Empties the map (and frees it).
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

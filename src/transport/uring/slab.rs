//! The ring's table of slots: indexed like a `Vec`, grown in fixed chunks.
//!
//! A `Vec` doubles: at 19,000 connections a shard's slot table had room for
//! 32,768 (and the copy made at each doubling). Here the table grows by one
//! chunk of [`CHUNK`] entries at a time and nothing already stored moves:
//! at most one chunk is allocated past need.

use std::ops::{Index, IndexMut};

/// Entries per chunk (a power of two: an index splits with a shift and a mask).
pub(super) const CHUNK: usize = 512;

/// A table of `T` indexed from 0, grown a chunk at a time.
pub(super) struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Adds `value` at the end; returns its index.
    pub(super) fn push(&mut self, value: T) -> usize {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks
            .last_mut()
            .expect("a chunk with room was added above")
            .push(value);
        self.len += 1;
        self.len - 1
    }

    /// The entry at `i`, if there is one.
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// Every entry, in index order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// Entries allocated (stored or not).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_across_chunks_and_grows_one_chunk_at_a_time() {
        let mut s = Slab::default();
        for i in 0..(2 * CHUNK + 3) {
            assert_eq!(s.push(i * 10), i);
        }
        assert_eq!(s.capacity(), 3 * CHUNK, "one chunk past need, not double");
        assert_eq!(s[0], 0);
        assert_eq!(s[CHUNK], CHUNK * 10);
        assert_eq!(s[2 * CHUNK + 2], (2 * CHUNK + 2) * 10);
        s[CHUNK + 1] = 7;
        assert_eq!(s.get_mut(CHUNK + 1).copied(), Some(7));
        assert_eq!(s.get_mut(2 * CHUNK + 3), None);
        assert_eq!(s.get_mut(5 * CHUNK), None);
        assert_eq!(s.iter().count(), 2 * CHUNK + 3);
        assert_eq!(s.iter().nth(CHUNK + 1), Some(&7));
    }
}

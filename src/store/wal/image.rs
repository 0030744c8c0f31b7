//! The live image of a write-ahead log: for every key, the records that
//! still matter (the last `Put`, or the last `keep` values of an `Append`
//! list), with tombstones applied. Recovery builds it by replaying the
//! segments; the writer thread keeps it current and writes it out as a
//! snapshot when it compacts. It holds each live record's payload as written,
//! so a snapshot replays to the same image.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use super::frame::{FRAME_OVERHEAD, OpCode, decode_payload};

/// What a key holds.
#[derive(Debug)]
enum Entry {
    /// The payload of the last `Put`.
    One(Box<[u8]>),
    /// The payloads of the last `Append`s, oldest first.
    List(VecDeque<Box<[u8]>>),
}

impl Entry {
    fn bytes(&self) -> u64 {
        match self {
            Entry::One(p) => cost(p),
            Entry::List(l) => l.iter().map(|p| cost(p)).sum(),
        }
    }
}

/// Bytes a payload takes in a segment.
fn cost(p: &[u8]) -> u64 {
    (p.len() + FRAME_OVERHEAD) as u64
}

/// The live records by key.
#[derive(Debug, Default)]
pub(super) struct Image {
    map: BTreeMap<Box<[u8]>, Entry>,
    /// Bytes the live records take when written out (frames included).
    live: u64,
}

impl Image {
    /// Applies one record's payload; `false` (and no change) when it cannot
    /// be read (an operation of a later build).
    pub fn apply(&mut self, payload: &[u8]) -> bool {
        let Some(d) = decode_payload(payload) else {
            return false;
        };
        match d.op {
            OpCode::Put => {
                let old = self.map.insert(d.key.into(), Entry::One(payload.into()));
                self.live += cost(payload);
                self.live -= old.map_or(0, |e| e.bytes());
            }
            OpCode::Append => {
                let keep = d.keep.max(1) as usize;
                let entry = self
                    .map
                    .entry(d.key.into())
                    .or_insert_with(|| Entry::List(VecDeque::new()));
                if let Entry::One(_) = entry {
                    self.live -= entry.bytes();
                    *entry = Entry::List(VecDeque::new());
                }
                if let Entry::List(list) = entry {
                    list.push_back(payload.into());
                    self.live += cost(payload);
                    while list.len() > keep {
                        if let Some(old) = list.pop_front() {
                            self.live -= cost(&old);
                        }
                    }
                }
            }
            OpCode::Delete => {
                if let Some(old) = self.map.remove(d.key) {
                    self.live -= old.bytes();
                }
            }
            OpCode::DeletePrefix => {
                let gone: Vec<Box<[u8]>> = self
                    .map
                    .range::<[u8], _>((Bound::Included(d.key), Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(d.key))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    if let Some(old) = self.map.remove(&k) {
                        self.live -= old.bytes();
                    }
                }
            }
        }
        true
    }

    /// Bytes the live records take in a segment.
    pub fn live_bytes(&self) -> u64 {
        self.live
    }

    /// Number of live values.
    pub fn values(&self) -> usize {
        self.map
            .values()
            .map(|e| match e {
                Entry::One(_) => 1,
                Entry::List(l) => l.len(),
            })
            .sum()
    }

    /// Every live payload, by key, list values oldest first: what a snapshot holds.
    pub fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.map.values().flat_map(|e| {
            let (one, list) = match e {
                Entry::One(p) => (Some(&**p), None),
                Entry::List(l) => (None, Some(l.iter().map(|p| &**p))),
            };
            one.into_iter().chain(list.into_iter().flatten())
        })
    }

    /// Calls `f(key, value)` for every live value (see [`Image::payloads`]).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        for p in self.payloads() {
            if let Some(d) = decode_payload(p) {
                f(d.key, d.value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{begin_record, finish_record};
    use super::*;

    fn payload(op: OpCode, keep: u32, key: &str, value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let s = begin_record(&mut out, op, keep, key.as_bytes());
        out.extend_from_slice(value.as_bytes());
        finish_record(&mut out, s).expect("small");
        out.split_off(FRAME_OVERHEAD)
    }

    fn contents(i: &Image) -> Vec<(String, String)> {
        let mut v = Vec::new();
        i.for_each(|k, val| {
            v.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(val).into_owned(),
            ));
        });
        v
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn puts_replace_appends_keep_the_last_n_tombstones_remove() {
        let mut i = Image::default();
        for (op, keep, k, v) in [
            (OpCode::Put, 0, "a", "1"),
            (OpCode::Put, 0, "a", "2"),
            (OpCode::Append, 2, "h", "x"),
            (OpCode::Append, 2, "h", "y"),
            (OpCode::Append, 2, "h", "z"),
            (OpCode::Put, 0, "s/1/a", "p"),
            (OpCode::Put, 0, "s/1/b", "q"),
            (OpCode::Put, 0, "s/2/a", "r"),
            (OpCode::Put, 0, "t", "gone"),
            (OpCode::Delete, 0, "t", ""),
            (OpCode::DeletePrefix, 0, "s/1/", ""),
        ] {
            assert!(i.apply(&payload(op, keep, k, v)));
        }
        assert_eq!(
            contents(&i),
            pairs(&[("a", "2"), ("h", "y"), ("h", "z"), ("s/2/a", "r")])
        );
        assert_eq!(i.values(), 4);
        let sum: u64 = i.payloads().map(cost).sum();
        assert_eq!(i.live_bytes(), sum, "live bytes follow every change");
        // A snapshot of the payloads replays to the same image.
        let mut again = Image::default();
        for p in i.payloads() {
            assert!(again.apply(p));
        }
        assert_eq!(contents(&again), contents(&i));
        assert_eq!(again.live_bytes(), i.live_bytes());
    }

    #[test]
    fn put_and_append_on_the_same_key_replace_each_other() {
        let mut i = Image::default();
        i.apply(&payload(OpCode::Append, 3, "k", "1"));
        i.apply(&payload(OpCode::Append, 3, "k", "2"));
        i.apply(&payload(OpCode::Put, 0, "k", "p"));
        assert_eq!(contents(&i), pairs(&[("k", "p")]));
        i.apply(&payload(OpCode::Append, 3, "k", "3"));
        assert_eq!(contents(&i), pairs(&[("k", "3")]));
        let sum: u64 = i.payloads().map(cost).sum();
        assert_eq!(i.live_bytes(), sum);
        i.apply(&payload(OpCode::Delete, 0, "k", ""));
        assert_eq!((i.values(), i.live_bytes()), (0, 0));
        assert!(!i.apply(&[42, 0, 0, 0, 0, 0, 0, 0, 0]), "unknown operation");
    }
}

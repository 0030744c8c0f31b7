//! This shard's tables of MQTT client identifiers: per identifier, what
//! the shard knows of it: its connection here (or its offline session),
//! and, when this shard is the identifier's owner (see
//! [`super::takeover`]), the token of the session holding it, wherever
//! that is (the token carries its shard).
//!
//! An identifier with a connection here has one entry in the connection
//! table, holder included (every identifier with one shard), keyed by the
//! connection state's own `Rc<str>` (one allocation for the state and the
//! table). An identifier owned here but connected elsewhere is in the
//! holder table instead, with a key of its own and a smaller entry (24
//! bytes against 32).
//!
//! Both tables are a `Table`: the entries side by side in a vector and a
//! hash index of their 4-byte positions, not a hash table of the entries
//! themselves, whose growth by doubling left 10,000 connections of one
//! shard in 16,384 buckets of 33 bytes (54 per connection); now 32 bytes
//! per entry and 5 per bucket of the index (about 40 per connection).
//!
//! Imports the connection state's handle; nothing above it.

use std::cell::RefCell;
use std::num::NonZeroU64;
use std::rc::Rc;

use hashbrown::HashTable;

use super::state::{Phase, StateRef};
use crate::core::api::LinkId;

/// An identifier's connection here (16 bytes).
struct Entry {
    /// The identifier's connection or offline session on this shard.
    conn: StateRef,
    /// This shard owns the identifier: the token of the session holding it
    /// (tokens are never 0).
    holder: Option<NonZeroU64>,
}

/// Identifiers and their values: the entries in a vector (filled up to
/// the most held at once), found through a hash index of their positions
/// (a removed entry's place is taken by the last one).
struct Table<V> {
    /// The entries, in no order.
    entries: Vec<(Rc<str>, V)>,
    /// Positions in `entries`, hashed by identifier.
    index: HashTable<u32>,
    /// The identifiers' hash.
    hasher: ahash::RandomState,
}

impl<V> Table<V> {
    fn new() -> Self {
        Table {
            entries: Vec::new(),
            index: HashTable::new(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// The position of `key`'s entry.
    fn find(&self, key: &str) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(self.hasher.hash_one(key), |&i| {
                &*entries[i as usize].0 == key
            })
            .map(|&i| i as usize)
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.find(key).map(|i| &self.entries[i].1)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.find(key).map(|i| &mut self.entries[i].1)
    }

    /// Adds `key` (not in the table).
    fn insert_new(&mut self, key: Rc<str>, v: V) {
        debug_assert!(self.find(&key).is_none(), "inserted twice");
        let i = u32::try_from(self.entries.len()).expect("fewer than 2^32 client identifiers");
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hasher.hash_one(&*key), i, |&j| {
            hasher.hash_one(&*entries[j as usize].0)
        });
        self.entries.push((key, v));
    }

    /// Takes `key`'s entry out.
    fn remove(&mut self, key: &str) -> Option<(Rc<str>, V)> {
        let entries = &self.entries;
        let (i, _) = self
            .index
            .find_entry(self.hasher.hash_one(key), |&i| {
                &*entries[i as usize].0 == key
            })
            .ok()?
            .remove();
        let i = i as usize;
        let last = self.entries.len() - 1;
        if i != last {
            // The last entry moves into the gap: its position follows.
            let moved = self.hasher.hash_one(&*self.entries[last].0);
            let slot = self
                .index
                .find_mut(moved, |&j| j as usize == last)
                .expect("every entry is indexed");
            *slot = i as u32;
        }
        Some(self.entries.swap_remove(i))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.index.is_empty()
    }

    #[cfg(test)]
    fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    #[cfg(test)]
    fn get_key_value(&self, key: &str) -> Option<(&Rc<str>, &V)> {
        self.find(key)
            .map(|i| (&self.entries[i].0, &self.entries[i].1))
    }
}

thread_local! {
    /// Identifiers connected here (one entry per connection).
    static CONNECTED: RefCell<Table<Entry>> = RefCell::new(Table::new());
    /// Identifiers owned here and connected elsewhere (or nowhere yet):
    /// their holders' tokens.
    static HELD: RefCell<Table<NonZeroU64>> = RefCell::new(Table::new());
}

/// The connection (or offline session) of `client` on this shard.
pub fn conn(client: &str) -> Option<StateRef> {
    CONNECTED.with(|t| t.borrow().get(client).map(|e| Rc::clone(&e.conn)))
}

/// Makes `state` the connection of `client` (keyed by `key`, the state's
/// own identifier where it is the same); returns the one it replaces.
pub fn set_conn(key: Rc<str>, state: StateRef) -> Option<StateRef> {
    CONNECTED.with(|t| {
        let mut t = t.borrow_mut();
        // Inserted again with the new state's key; a holder recorded while
        // the identifier was connected elsewhere moves into the entry.
        let (old, holder) = match t.remove(&key) {
            Some((_, e)) => (Some(e.conn), e.holder),
            None => (
                None,
                HELD.with(|h| h.borrow_mut().remove(&key)).map(|(_, t)| t),
            ),
        };
        t.insert_new(
            key,
            Entry {
                conn: state,
                holder,
            },
        );
        old
    })
}

/// Forgets the connection of `client` if it is `state`.
pub fn remove_conn(client: &str, state: &StateRef) {
    CONNECTED.with(|t| {
        let mut t = t.borrow_mut();
        if !t.get(client).is_some_and(|e| Rc::ptr_eq(&e.conn, state)) {
            return;
        }
        let (key, e) = t.remove(client).expect("just found");
        if let Some(holder) = e.holder {
            HELD.with(|h| h.borrow_mut().insert_new(key, holder));
        }
    });
}

/// Records `token` as the holder of `client` (owned here); returns the
/// holder it replaces.
pub fn set_holder(client: &str, token: u64) -> Option<u64> {
    let token = NonZeroU64::new(token).expect("tokens are never 0");
    let here = CONNECTED.with(|t| {
        let mut t = t.borrow_mut();
        let e = t.get_mut(client)?;
        Some(e.holder.replace(token))
    });
    let old = match here {
        Some(old) => old,
        None => HELD.with(|h| {
            let mut h = h.borrow_mut();
            match h.get_mut(client) {
                Some(t) => Some(std::mem::replace(t, token)),
                None => {
                    h.insert_new(client.into(), token);
                    None
                }
            }
        }),
    };
    old.map(NonZeroU64::get)
}

/// Forgets the holder of `client` if it is `token`.
pub fn release_holder(client: &str, token: u64) {
    let connected = CONNECTED.with(|t| {
        let mut t = t.borrow_mut();
        let e = t.get_mut(client)?;
        if e.holder.map(NonZeroU64::get) == Some(token) {
            e.holder = None;
        }
        Some(())
    });
    if connected.is_none() {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if h.get(client).map(|t| t.get()) == Some(token) {
                h.remove(client);
            }
        });
    }
}

/// MQTT sessions on this shard, connected or offline (tests, logs).
pub fn conns() -> usize {
    CONNECTED.with(|t| t.borrow().len())
}

/// The router links of this shard's offline sessions (kept while their
/// client is away). A state borrowed at the time is not counted (the
/// caller is the shard's report, which runs between connections' steps).
pub fn offline_links() -> Vec<LinkId> {
    CONNECTED.with(|t| {
        t.borrow()
            .entries
            .iter()
            .filter_map(|(_, e)| {
                let s = e.conn.try_borrow().ok()?;
                (s.phase == Phase::Offline).then_some(s.link).flatten()
            })
            .collect()
    })
}

/// The holder of `client` recorded here (tests).
#[cfg(test)]
pub fn holder(client: &str) -> Option<u64> {
    let here = CONNECTED.with(|t| t.borrow().get(client).map(|e| e.holder));
    here.unwrap_or_else(|| HELD.with(|h| h.borrow().get(client).copied()))
        .map(NonZeroU64::get)
}

/// Empties the tables (tests).
#[cfg(test)]
pub fn clear() {
    CONNECTED.with(|t| t.borrow_mut().clear());
    HELD.with(|h| h.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::proto::mqtt::Version;
    use crate::transport::mqtt::Service;
    use crate::transport::mqtt::state::State;

    fn state(client: &str) -> StateRef {
        let svc = Rc::new(Service::default_for_tests());
        Rc::new(RefCell::new(State::new(svc, Version::V5, client)))
    }

    #[test]
    fn one_entry_holds_the_connection_and_the_holder_with_the_states_key() {
        clear();
        // Owned here before its connection came (the Claim's order when
        // handled in place is the other one; both end the same).
        assert_eq!(set_holder("c1", 5), None);
        let s = state("c1");
        let key = Rc::clone(&s.borrow().client_id);
        assert!(set_conn(Rc::clone(&key), Rc::clone(&s)).is_none());
        HELD.with(|h| assert!(h.borrow().is_empty(), "moved to the connection's entry"));
        CONNECTED.with(|t| {
            let t = t.borrow();
            assert_eq!(t.len(), 1, "one entry");
            let (k, _) = t.get_key_value("c1").expect("entry");
            assert!(Rc::ptr_eq(k, &key), "keyed by the state's identifier");
        });
        assert_eq!(holder("c1"), Some(5));
        assert_eq!(conns(), 1);
        // A second connection replaces the first; the holder stays.
        let s2 = state("c1");
        let key2 = Rc::clone(&s2.borrow().client_id);
        let old = set_conn(key2, Rc::clone(&s2)).expect("replaced");
        assert!(Rc::ptr_eq(&old, &s));
        assert_eq!(conns(), 1);
        remove_conn("c1", &s);
        assert!(
            conn("c1").is_some_and(|c| Rc::ptr_eq(&c, &s2)),
            "not the old one's to remove"
        );
        assert_eq!(set_holder("c1", 7), Some(5));
        release_holder("c1", 5);
        assert_eq!(holder("c1"), Some(7), "not the old token's to release");
        release_holder("c1", 7);
        assert!(conn("c1").is_some(), "the connection stays");
        remove_conn("c1", &s2);
        assert_eq!(conns(), 0);
        CONNECTED.with(|t| assert!(t.borrow().is_empty(), "both gone: the entry goes"));
        HELD.with(|h| assert!(h.borrow().is_empty()));
    }

    /// An identifier owned here whose connection goes keeps its holder in
    /// the holder table (a key of its own), and back in the connection's
    /// entry when it connects here again.
    #[test]
    fn a_holder_outlives_its_connection_here() {
        clear();
        let s = state("c2");
        set_conn(Rc::clone(&s.borrow().client_id), Rc::clone(&s));
        assert_eq!(set_holder("c2", 9), None);
        HELD.with(|h| assert!(h.borrow().is_empty()));
        remove_conn("c2", &s);
        assert!(conn("c2").is_none());
        assert_eq!(conns(), 0);
        assert_eq!(holder("c2"), Some(9), "the holder stays");
        HELD.with(|h| assert!(h.borrow().contains_key("c2"), "in the holder table"));
        // Held elsewhere now: replaced, then released by its own token only.
        assert_eq!(set_holder("c2", 11), Some(9));
        release_holder("c2", 9);
        assert_eq!(holder("c2"), Some(11));
        let s2 = state("c2");
        set_conn(Rc::clone(&s2.borrow().client_id), Rc::clone(&s2));
        HELD.with(|h| assert!(h.borrow().is_empty(), "back in the entry"));
        assert_eq!(holder("c2"), Some(11));
        release_holder("c2", 11);
        assert_eq!(holder("c2"), None);
        remove_conn("c2", &s2);
        CONNECTED.with(|t| assert!(t.borrow().is_empty()));
        HELD.with(|h| assert!(h.borrow().is_empty()));
    }

    /// An entry of the connection table is 32 bytes (key, state, holder),
    /// of the holder table 24 (key, token); the index keeps 4-byte
    /// positions, not entries.
    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<(Rc<str>, Entry)>(), 32);
        assert_eq!(std::mem::size_of::<(Rc<str>, NonZeroU64)>(), 24);
        let mut t: Table<u64> = Table::new();
        for i in 0..10_000u64 {
            t.insert_new(format!("c{i}").into(), i);
        }
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.entries.len(), 10_000);
        // The index: 16,384 buckets, 5 bytes each (a 33-byte bucket each
        // when the entries were the hash table's).
        assert!(t.index.capacity() >= 10_000 && t.index.capacity() < 16_384);
        assert_eq!(std::mem::size_of::<u32>(), 4);
    }

    proptest::proptest! {
        /// The table agrees with a `HashMap` through any inserts and
        /// removes (a removed entry's place taken by the last one).
        #[test]
        fn the_table_agrees_with_a_hash_map(ops in proptest::collection::vec((0u8..40, proptest::bool::ANY), 0..400)) {
            let mut t: Table<u32> = Table::new();
            let mut oracle = std::collections::HashMap::new();
            for (n, (k, insert)) in ops.into_iter().enumerate() {
                let key = format!("client-{k}");
                if insert {
                    if let Some(v) = t.get_mut(&key) {
                        *v = n as u32;
                    } else {
                        t.insert_new(key.as_str().into(), n as u32);
                    }
                    oracle.insert(key, n as u32);
                } else {
                    let got = t.remove(&key).map(|(k, v)| (k.to_string(), v));
                    proptest::prop_assert_eq!(got, oracle.remove(&key).map(|v| (key.clone(), v)));
                }
                proptest::prop_assert_eq!(t.len(), oracle.len());
                for k in 0u8..40 {
                    let key = format!("client-{k}");
                    proptest::prop_assert_eq!(t.get(&key), oracle.get(&key));
                }
            }
        }
    }
}

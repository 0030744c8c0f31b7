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
//! holder table instead, with a key of its own and a smaller slot (24
//! bytes against 32): with several shards the two tables share out the
//! entries (and each grows by doubling on its own).
//!
//! Imports the connection state's handle; nothing above it.

use std::cell::RefCell;
use std::num::NonZeroU64;
use std::rc::Rc;

use ahash::AHashMap;

use super::state::StateRef;

/// An identifier's connection here (16 bytes).
struct Entry {
    /// The identifier's connection or offline session on this shard.
    conn: StateRef,
    /// This shard owns the identifier: the token of the session holding it
    /// (tokens are never 0).
    holder: Option<NonZeroU64>,
}

thread_local! {
    /// Identifiers connected here (one entry per connection).
    static CONNECTED: RefCell<AHashMap<Rc<str>, Entry>> = RefCell::new(AHashMap::new());
    /// Identifiers owned here and connected elsewhere (or nowhere yet):
    /// their holders' tokens.
    static HELD: RefCell<AHashMap<Rc<str>, NonZeroU64>> = RefCell::new(AHashMap::new());
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
        let (old, holder) = match t.remove(&*key) {
            Some(e) => (Some(e.conn), e.holder),
            None => (None, HELD.with(|h| h.borrow_mut().remove(&*key))),
        };
        t.insert(
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
        let (key, e) = t.remove_entry(client).expect("just found");
        if let Some(holder) = e.holder {
            HELD.with(|h| h.borrow_mut().insert(key, holder));
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
                None => h.insert(client.into(), token),
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

    /// A slot of the connection table is 32 bytes (key, state, holder), of
    /// the holder table 24 (key, token).
    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<(Rc<str>, Entry)>(), 32);
        assert_eq!(std::mem::size_of::<(Rc<str>, NonZeroU64)>(), 24);
    }
}

//! This shard's table of MQTT client identifiers. Per identifier, one
//! entry holds both what the shard knows of it: its connection here (or
//! its offline session), and, when this shard is the identifier's owner
//! (see [`super::takeover`]), the token of the session holding it,
//! wherever that is (the token carries its shard).
//!
//! One entry, not two tables: an identifier connected on its owner shard
//! (every identifier with one shard) costs one slot, and its key is the
//! connection state's own `Rc<str>` (one allocation for the state and the
//! table). An identifier owned here but connected elsewhere keeps a key of
//! its own.
//!
//! Imports the connection state's handle; nothing above it.

use std::cell::{Cell, RefCell};
use std::num::NonZeroU64;
use std::rc::Rc;

use ahash::AHashMap;

use super::state::StateRef;

/// What this shard knows of one identifier (16 bytes).
#[derive(Default)]
struct Entry {
    /// The identifier's connection or offline session on this shard.
    conn: Option<StateRef>,
    /// This shard owns the identifier: the token of the session holding it
    /// (tokens are never 0).
    holder: Option<NonZeroU64>,
}

thread_local! {
    /// The table.
    static TABLE: RefCell<AHashMap<Rc<str>, Entry>> = RefCell::new(AHashMap::new());
    /// Entries with a connection.
    static CONNS: Cell<usize> = const { Cell::new(0) };
}

/// The connection (or offline session) of `client` on this shard.
pub fn conn(client: &str) -> Option<StateRef> {
    TABLE.with(|t| t.borrow().get(client).and_then(|e| e.conn.clone()))
}

/// Makes `state` the connection of `client` (keyed by `key`, the state's
/// own identifier where it is the same); returns the one it replaces.
pub fn set_conn(key: Rc<str>, state: StateRef) -> Option<StateRef> {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        // Inserted again with the state's key (an entry owned here and
        // connected elsewhere until now had a key of its own).
        let (old, holder) = t.remove(&*key).map_or((None, None), |e| (e.conn, e.holder));
        if old.is_none() {
            CONNS.with(|c| c.set(c.get() + 1));
        }
        t.insert(
            key,
            Entry {
                conn: Some(state),
                holder,
            },
        );
        old
    })
}

/// Forgets the connection of `client` if it is `state`.
pub fn remove_conn(client: &str, state: &StateRef) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let Some(e) = t.get_mut(client) else {
            return;
        };
        if !e.conn.as_ref().is_some_and(|c| Rc::ptr_eq(c, state)) {
            return;
        }
        e.conn = None;
        CONNS.with(|c| c.set(c.get() - 1));
        if e.holder.is_none() {
            t.remove(client);
        }
    });
}

/// Records `token` as the holder of `client` (owned here); returns the
/// holder it replaces.
pub fn set_holder(client: &str, token: u64) -> Option<u64> {
    let token = NonZeroU64::new(token).expect("tokens are never 0");
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(e) = t.get_mut(client) {
            return e.holder.replace(token).map(NonZeroU64::get);
        }
        let e = Entry {
            conn: None,
            holder: Some(token),
        };
        t.insert(client.into(), e);
        None
    })
}

/// Forgets the holder of `client` if it is `token`.
pub fn release_holder(client: &str, token: u64) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let Some(e) = t.get_mut(client) else {
            return;
        };
        if e.holder.map(NonZeroU64::get) != Some(token) {
            return;
        }
        e.holder = None;
        if e.conn.is_none() {
            t.remove(client);
        }
    });
}

/// MQTT sessions on this shard, connected or offline (tests, logs).
pub fn conns() -> usize {
    CONNS.with(Cell::get)
}

/// The holder of `client` recorded here (tests).
#[cfg(test)]
pub fn holder(client: &str) -> Option<u64> {
    TABLE.with(|t| t.borrow().get(client)?.holder.map(NonZeroU64::get))
}

/// Empties the table (tests).
#[cfg(test)]
pub fn clear() {
    TABLE.with(|t| t.borrow_mut().clear());
    CONNS.with(|c| c.set(0));
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
        TABLE.with(|t| {
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
        TABLE.with(|t| assert!(t.borrow().is_empty(), "both gone: the entry goes"));
    }

    #[test]
    fn an_entry_is_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}

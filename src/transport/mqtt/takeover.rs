//! Session takeover across shards. Every client identifier has an **owner
//! shard** (a hash of the identifier, modulo the shard count) that knows
//! which connection holds the identifier now, wherever it was accepted:
//!
//! 1. A CONNECT accepted on shard B registers the connection in B's table
//!    (a connection of the same identifier already on B is taken over at
//!    once) and sends `Claim{client, B, token}` to the owner O (handled in
//!    place when O = B).
//! 2. O records B's connection as the holder; if another connection held
//!    the identifier, O sends `Kick{client, token}` to its shard A.
//! 3. A ends that connection if it is still the one with that token:
//!    DISCONNECT 0x8E "Session taken over" (5.0), the connection closed, its
//!    will published (the end is not the client's DISCONNECT).
//! 4. A connection that ends sends `Release{client, token}` to O, which
//!    forgets it if it is still the holder.
//!
//! The new connection does not wait for the old one to end (sessions end
//! with their connection today, so there is nothing to hand over); the
//! messages travel on the shard mesh as [`FrontMsg`]s, FIFO per pair of
//! shards, so a `Release` of an old connection never overtakes its `Claim`.

use std::cell::RefCell;
use std::rc::Rc;

use ahash::AHashMap;

use super::CLIENTS;
use super::state::StateRef;
use crate::core::ShardRouter;
use crate::core::cluster::FrontMsg;
use crate::proto::ShardId;
use crate::proto::mqtt::ReasonCode;

/// What shards tell each other about client identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Takeover {
    /// To the owner: this connection holds `client` now.
    Claim {
        /// The client identifier.
        client: String,
        /// The holder's shard.
        shard: ShardId,
        /// The connection.
        token: u64,
    },
    /// To a holder's shard: end this connection.
    Kick {
        /// The client identifier.
        client: String,
        /// The connection.
        token: u64,
    },
    /// To the owner: this connection ended.
    Release {
        /// The client identifier.
        client: String,
        /// The connection.
        token: u64,
    },
}

/// How the front end reaches the mesh (the shard's router).
pub trait Mesh {
    /// This shard and the shard count.
    fn shard(&self) -> (ShardId, u16);
    /// Sends to another shard.
    fn send(&self, to: ShardId, msg: Takeover);
}

thread_local! {
    /// Client identifiers this shard owns → the connection holding each.
    static OWNED: RefCell<AHashMap<String, (ShardId, u64)>> = RefCell::new(AHashMap::new());
    /// Tokens of this shard's connections.
    static NEXT_TOKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The owner shard of a client identifier (FNV-1a: stable across runs and builds).
pub fn owner_of(client: &str, shards: u16) -> ShardId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in client.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    ShardId((h % u64::from(shards.max(1))) as u16)
}

/// A token for a new connection on `shard`: unique across shards.
pub fn new_token(shard: ShardId) -> u64 {
    NEXT_TOKEN.with(|n| {
        let v = n.get() + 1;
        n.set(v);
        (v << 16) | u64::from(shard.0)
    })
}

/// A connection of `client` (token `token`, state `state`) starts on this shard.
pub fn claim(mesh: &dyn Mesh, client: &str, token: u64, state: &StateRef) {
    let old = CLIENTS.with(|m| m.borrow_mut().insert(client.to_owned(), Rc::clone(state)));
    if let Some(old) = old {
        kick_state(&old);
    }
    let (me, shards) = mesh.shard();
    let owner = owner_of(client, shards);
    let msg = Takeover::Claim {
        client: client.to_owned(),
        shard: me,
        token,
    };
    if owner == me {
        handle(mesh, msg);
    } else {
        mesh.send(owner, msg);
    }
}

/// The connection `token` of `client` on this shard ended.
pub fn release(mesh: &dyn Mesh, client: &str, token: u64, state: &StateRef) {
    CLIENTS.with(|m| {
        let mut m = m.borrow_mut();
        if m.get(client).is_some_and(|s| Rc::ptr_eq(s, state)) {
            m.remove(client);
        }
    });
    let (me, shards) = mesh.shard();
    let owner = owner_of(client, shards);
    let msg = Takeover::Release {
        client: client.to_owned(),
        token,
    };
    if owner == me {
        handle(mesh, msg);
    } else {
        mesh.send(owner, msg);
    }
}

fn kick_state(s: &StateRef) {
    tracing::debug!(client = %s.borrow().client_id, "session taken over by a new connection");
    s.borrow_mut().disconnect(
        ReasonCode::SessionTakenOver,
        "another connection took the session over",
    );
    let mut s = s.borrow_mut();
    if s.close.is_none() {
        s.close = Some(crate::core::outbox::CloseReason::Normal);
    }
    s.wake();
}

/// One takeover message, on this shard.
pub fn handle(mesh: &dyn Mesh, msg: Takeover) {
    let (me, _) = mesh.shard();
    match msg {
        Takeover::Claim {
            client,
            shard,
            token,
        } => {
            let prev = OWNED.with(|o| o.borrow_mut().insert(client.clone(), (shard, token)));
            if let Some((at, old)) = prev
                && old != token
            {
                let kick = Takeover::Kick { client, token: old };
                if at == me {
                    handle(mesh, kick);
                } else {
                    mesh.send(at, kick);
                }
            }
        }
        Takeover::Kick { client, token } => {
            let holder = CLIENTS.with(|m| m.borrow().get(&client).cloned());
            if let Some(s) = holder
                && s.borrow().token == token
            {
                kick_state(&s);
            }
        }
        Takeover::Release { client, token } => OWNED.with(|o| {
            let mut o = o.borrow_mut();
            if o.get(&client).is_some_and(|(_, t)| *t == token) {
                o.remove(&client);
            }
        }),
    }
}

/// The mesh through a router borrowed mutably (the runtime's inbox drain).
pub struct RouterMesh<'a>(pub RefCell<&'a mut ShardRouter>);

impl Mesh for RouterMesh<'_> {
    fn shard(&self) -> (ShardId, u16) {
        let r = self.0.borrow();
        (r.shard(), r.shard_count())
    }

    fn send(&self, to: ShardId, msg: Takeover) {
        self.0.borrow_mut().send_front(to, FrontMsg(Box::new(msg)));
    }
}

/// Front-end messages the runtime took from the router after draining its
/// inbox: the MQTT ones are handled here.
pub fn on_front_msgs(router: &mut ShardRouter, msgs: Vec<FrontMsg>) {
    let mesh = RouterMesh(RefCell::new(router));
    for m in msgs {
        if let Ok(t) = m.0.downcast::<Takeover>() {
            handle(&mesh, *t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_spread_and_are_stable() {
        assert_eq!(owner_of("device-1", 1), ShardId(0));
        let a = owner_of("device-1", 8);
        assert_eq!(a, owner_of("device-1", 8));
        let spread: std::collections::BTreeSet<u16> =
            (0..200).map(|i| owner_of(&format!("d{i}"), 8).0).collect();
        assert_eq!(
            spread.len(),
            8,
            "200 identifiers reach every one of 8 shards"
        );
    }

    #[test]
    fn tokens_carry_their_shard() {
        let a = new_token(ShardId(3));
        let b = new_token(ShardId(3));
        assert_ne!(a, b);
        assert_eq!(a & 0xFFFF, 3);
    }
}

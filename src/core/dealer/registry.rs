//! Registrations: the owner's authoritative entries (callee list in
//! registration order, invocation policy), the replicas every shard keeps,
//! and the choice of callee for a call.
//!
//! Shared registrations (`invoke` other than `single`) keep the whole callee
//! list in every replica, so the caller's shard picks the callee from its own
//! replica, like any call: no extra hop through the owner. The price is that
//! `roundrobin` rotates per caller shard (each shard keeps its own cursor);
//! see docs/architecture.md. A realm with `junction.prefer_local_callee`
//! narrows `roundrobin` and `random` to the callees on the caller's shard
//! when there are any: such a call never crosses shards.
//!
//! Sharded registrations: a CALL with `rkey` (optionally `runmode:
//! "partition"`) goes to the callee chosen by rendezvous hashing of the key
//! over the callee list: the same key reaches the same callee from every
//! shard, and only the keys of a callee that joins or leaves move.

use std::cell::Cell;
use std::hash::{BuildHasher, Hash, Hasher};

use rand::Rng;
use rand::rngs::SmallRng;

use super::{Dealer, RegEntry};
use crate::core::cluster::{CalleeRef, InvokePolicy, RealmIdx, RegChange, ShardMsg};
use crate::core::ctx::Ctx;
use crate::core::uris;
use crate::proto::uri::MatchPolicy;
use crate::proto::{RegistrationId, RequestId, SessionId, ShardId};

/// The callee a call goes to, per the registration's policy or the call's
/// `rkey`; with `local` (the caller's shard, where the realm prefers local
/// callees), a `roundrobin` or `random` call picks among the callees on that
/// shard when there are any.
pub(crate) fn pick(
    entry: &RegEntry,
    rkey: Option<&str>,
    rng: &mut SmallRng,
    local: Option<ShardId>,
) -> Option<CalleeRef> {
    pick_excluding(entry, rkey, rng, &[], local)
}

/// [`pick`] among the callees not in `excluded` (callees a bounced call
/// already found gone, while this shard's replica still lists them).
pub(crate) fn pick_excluding(
    entry: &RegEntry,
    rkey: Option<&str>,
    rng: &mut SmallRng,
    excluded: &[SessionId],
    local: Option<ShardId>,
) -> Option<CalleeRef> {
    let ok = |c: &CalleeRef| !excluded.contains(&c.session);
    if let Some(here) = local
        && rkey.is_none()
        && matches!(
            entry.invoke,
            InvokePolicy::RoundRobin | InvokePolicy::Random
        )
        && entry.callees.iter().any(|c| c.shard == here && ok(c))
    {
        return choose(entry, None, rng, |c| c.shard == here && ok(c));
    }
    choose(entry, rkey, rng, ok)
}

/// The callee among those `ok` accepts.
fn choose(
    entry: &RegEntry,
    rkey: Option<&str>,
    rng: &mut SmallRng,
    ok: impl Fn(&CalleeRef) -> bool,
) -> Option<CalleeRef> {
    let ok = |c: &&CalleeRef| ok(c);
    if let Some(key) = rkey {
        return entry
            .callees
            .iter()
            .filter(ok)
            .max_by_key(|c| rendezvous(key, c.session))
            .copied();
    }
    let n = entry.callees.iter().filter(ok).count();
    if n == 0 {
        return None;
    }
    let i = match entry.invoke {
        InvokePolicy::Single | InvokePolicy::First => 0,
        InvokePolicy::Last => n - 1,
        InvokePolicy::Random => rng.random_range(0..n),
        InvokePolicy::RoundRobin => {
            let i = entry.cursor.get() % n;
            entry.cursor.set(i + 1);
            i
        }
    };
    entry.callees.iter().filter(ok).nth(i).copied()
}

/// Rendezvous (highest random weight) score of `key` for a callee: fixed
/// seeds, so every shard computes the same.
fn rendezvous(key: &str, session: SessionId) -> u64 {
    let mut h = ahash::RandomState::with_seeds(0x726b_6579, 0x7368_6172, 0x6465_6421, 0x0004_0000)
        .build_hasher();
    key.hash(&mut h);
    session.0.hash(&mut h);
    h.finish()
}

impl Dealer {
    /// Owner side: a session asks to register (uri, policy).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn owner_reg_join(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        from: ShardId,
        session: SessionId,
        request: RequestId,
        invoke: InvokePolicy,
        disclose_caller: bool,
        forward_timeout: bool,
    ) {
        let callee = CalleeRef {
            shard: from,
            session,
            disclose_caller,
            forward_timeout,
        };
        let now_ms = self.clock.unix_ms();
        let (shard, shards) = (cx.shard, cx.shards);
        let realm = &mut self.realms[realm_idx as usize];
        let key = (uri, policy);
        let (id, created_ms, created) = match realm.owned_regs.get_mut(&key) {
            Some(e) => {
                let refused = if e.invoke == InvokePolicy::Single
                    || e.callees.iter().any(|c| c.session == session)
                {
                    Some(uris::PROCEDURE_ALREADY_EXISTS)
                } else if e.invoke != invoke {
                    Some(uris::PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY)
                } else {
                    None
                };
                if let Some(error) = refused {
                    let (uri, policy) = key;
                    return cx.route(
                        from,
                        ShardMsg::RegDone {
                            realm: realm_idx,
                            uri,
                            policy,
                            session,
                            request,
                            result: Err(error),
                        },
                    );
                }
                e.callees.push(callee);
                (e.id, e.created_ms, false)
            }
            None => {
                let id = realm.new_reg_id(shard, shards);
                realm.owned_regs.insert(
                    key.clone(),
                    RegEntry {
                        id,
                        invoke,
                        created_ms: now_ms,
                        callees: vec![callee],
                        cursor: Cell::new(0),
                    },
                );
                (id, now_ms, true)
            }
        };
        let (uri, policy) = key;
        let change = RegChange::Add {
            callee,
            invoke,
            created_ms,
        };
        self.apply_reg_replica(cx, realm_idx, &uri, policy, id, &change);
        if created {
            self.reg_meta_created(cx, realm_idx, session, id, &uri, policy, invoke, created_ms);
        }
        self.reg_meta_event(cx, realm_idx, "wamp.registration.on_register", session, id);
        let done = ShardMsg::RegDone {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            session,
            request,
            result: Ok(id),
        };
        cx.broadcast_with_barrier(from, done, |barrier| ShardMsg::RegReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            change: change.clone(),
            barrier,
        });
    }

    /// Owner side, before a REGISTER with `force_reregister` joins: every
    /// callee of the registration of (uri, policy) is removed here and
    /// revoked on its shard (see `register.rs`).
    pub(crate) fn owner_force_reregister(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        by: SessionId,
    ) {
        let key = (uri.to_owned(), policy);
        let Some(e) = self.realms[realm_idx as usize].owned_regs.get(&key) else {
            return;
        };
        let (id, callees) = (e.id, e.callees.clone());
        tracing::info!(
            registration = id.0,
            %uri,
            session = by.0,
            callees = callees.len(),
            "force_reregister: the registration's callees are revoked"
        );
        for c in callees {
            self.owner_reg_remove(cx, realm_idx, uri.to_owned(), policy, id, c.session, None);
            cx.route(
                c.shard,
                ShardMsg::Revoke {
                    realm: realm_idx,
                    registration: id,
                    session: c.session,
                    reason: Some(uris::UNREGISTERED.to_owned()),
                },
            );
        }
    }

    /// Owner side: `session` leaves the registration without a request
    /// waiting (revocation, or the callee gone); the entry goes with its
    /// last callee.
    pub(crate) fn owner_reg_leave(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        id: RegistrationId,
        session: SessionId,
    ) {
        self.owner_reg_remove(cx, realm_idx, uri, policy, id, session, None);
    }

    /// Owner side: the callee's UNREGISTER. As [`Self::owner_reg_leave`];
    /// then [`ShardMsg::RegUnregistered`] goes to the callee's shard once
    /// every replica has dropped the callee (at once if the owner no longer
    /// lists it: the callee's shard had it, so the UNREGISTER succeeded).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn owner_reg_unregister(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        id: RegistrationId,
        session: SessionId,
        from: ShardId,
        request: RequestId,
    ) {
        self.owner_reg_remove(
            cx,
            realm_idx,
            uri,
            policy,
            id,
            session,
            Some((from, request)),
        );
    }

    /// Removes `session` from the owned entry and every replica; `ack`: the
    /// shard and request to answer with [`ShardMsg::RegUnregistered`] after
    /// the replicas' barrier.
    #[allow(clippy::too_many_arguments)]
    fn owner_reg_remove(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: String,
        policy: MatchPolicy,
        id: RegistrationId,
        session: SessionId,
        ack: Option<(ShardId, RequestId)>,
    ) {
        let realm = &mut self.realms[realm_idx as usize];
        let key = (uri, policy);
        let removed = match realm.owned_regs.get_mut(&key).filter(|e| e.id == id) {
            Some(e) => {
                let before = e.callees.len();
                e.callees.retain(|c| c.session != session);
                e.callees.len() < before
            }
            None => false,
        };
        if !removed {
            if let Some((from, request)) = ack {
                cx.route(from, ShardMsg::RegUnregistered { session, request });
            }
            return;
        }
        let deleted = realm
            .owned_regs
            .get(&key)
            .is_some_and(|e| e.callees.is_empty());
        if deleted {
            realm.owned_regs.remove(&key);
        }
        let (uri, policy) = key;
        let change = RegChange::Remove { session };
        self.apply_reg_replica(cx, realm_idx, &uri, policy, id, &change);
        let replica = |barrier| ShardMsg::RegReplica {
            realm: realm_idx,
            uri: uri.clone(),
            policy,
            id,
            change: change.clone(),
            barrier,
        };
        match ack {
            Some((from, request)) => {
                let done = ShardMsg::RegUnregistered { session, request };
                cx.broadcast_with_barrier(from, done, replica);
            }
            None => cx.broadcast(|| replica(None)),
        }
        self.reg_meta_event(
            cx,
            realm_idx,
            "wamp.registration.on_unregister",
            session,
            id,
        );
        if deleted {
            self.reg_meta_event(cx, realm_idx, "wamp.registration.on_delete", session, id);
        }
    }

    /// Applies an owner's change to this shard's replica. Calls waiting in a
    /// call queue for a registration that is gone fail (`queue.rs`).
    pub(crate) fn apply_reg_replica(
        &mut self,
        cx: &mut Ctx,
        realm_idx: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        id: RegistrationId,
        change: &RegChange,
    ) {
        let regs = &mut self.realms[realm_idx as usize].regs;
        match change {
            RegChange::Add {
                callee,
                invoke,
                created_ms,
            } => match regs.get_mut(uri, policy) {
                Some(e) if e.id == id => {
                    if !e.callees.iter().any(|c| c.session == callee.session) {
                        e.callees.push(*callee);
                    }
                }
                _ => {
                    regs.insert(
                        uri,
                        policy,
                        RegEntry {
                            id,
                            invoke: *invoke,
                            created_ms: *created_ms,
                            callees: vec![*callee],
                            cursor: Cell::new(0),
                        },
                    );
                }
            },
            RegChange::Remove { session } => {
                if let Some(e) = regs.get_mut(uri, policy).filter(|e| e.id == id) {
                    e.callees.retain(|c| c.session != *session);
                    if e.callees.is_empty() {
                        regs.remove(uri, policy);
                    }
                }
            }
        }
        if !self.queues.has_waiting(realm_idx, id) {
            return;
        }
        // (A callee joining says so itself, once registered: `reg_done`.)
        if let RegChange::Remove { .. } = change {
            let gone = self.realms[realm_idx as usize]
                .regs
                .get(uri, policy)
                .is_none_or(|e| e.id != id);
            if gone {
                self.registration_gone(cx, realm_idx, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn entry(invoke: InvokePolicy, sessions: &[u64]) -> RegEntry {
        RegEntry {
            id: RegistrationId(1),
            invoke,
            created_ms: 0,
            callees: sessions
                .iter()
                .map(|s| CalleeRef {
                    shard: ShardId((*s % 3) as u16),
                    session: SessionId(*s),
                    disclose_caller: false,
                    forward_timeout: false,
                })
                .collect(),
            cursor: Cell::new(0),
        }
    }

    #[test]
    fn a_local_callee_is_preferred_only_for_free_policies() {
        // Callees 5 and 7 on shard 1, 9 on shard 0.
        let on = |invoke| {
            let mut e = entry(invoke, &[5, 9, 7]);
            for c in &mut e.callees {
                c.shard = ShardId(if c.session.0 == 9 { 0 } else { 1 });
            }
            e
        };
        let mut rng = SmallRng::seed_from_u64(1);
        let mut got = |e: &RegEntry, rkey, local, excluded: &[SessionId]| {
            (0..6)
                .map(|_| {
                    pick_excluding(e, rkey, &mut rng, excluded, local)
                        .expect("callee")
                        .session
                        .0
                })
                .collect::<Vec<u64>>()
        };
        let rr = on(InvokePolicy::RoundRobin);
        assert_eq!(got(&rr, None, Some(ShardId(1)), &[]), [5, 7, 5, 7, 5, 7]);
        assert_eq!(got(&rr, None, Some(ShardId(0)), &[]), [9; 6]);
        // No callee on the caller's shard: every callee, as without the option.
        assert_eq!(got(&rr, None, Some(ShardId(2)), &[]).len(), 6);
        // The local callee left: the others.
        assert_eq!(
            got(&rr, None, Some(ShardId(0)), &[SessionId(9)]),
            [7, 5, 7, 5, 7, 5]
        );
        let random = on(InvokePolicy::Random);
        assert!(
            got(&random, None, Some(ShardId(1)), &[])
                .iter()
                .all(|s| *s == 5 || *s == 7)
        );
        // Policies that name their callee, and `rkey`, keep their choice.
        assert_eq!(
            got(&on(InvokePolicy::First), None, Some(ShardId(0)), &[]),
            [5; 6]
        );
        assert_eq!(
            got(&on(InvokePolicy::Last), None, Some(ShardId(0)), &[]),
            [7; 6]
        );
        let keyed = got(&rr, Some("k"), None, &[]);
        assert_eq!(got(&rr, Some("k"), Some(ShardId(0)), &[]), keyed);
    }

    fn picks(e: &RegEntry, n: usize, rkey: Option<&str>) -> Vec<u64> {
        let mut rng = SmallRng::seed_from_u64(1);
        (0..n)
            .map(|_| pick(e, rkey, &mut rng, None).expect("callee").session.0)
            .collect()
    }

    #[test]
    fn policies_pick_by_registration_order() {
        assert_eq!(picks(&entry(InvokePolicy::Single, &[5]), 2, None), [5, 5]);
        assert_eq!(
            picks(&entry(InvokePolicy::First, &[5, 9, 7]), 2, None),
            [5, 5]
        );
        assert_eq!(
            picks(&entry(InvokePolicy::Last, &[5, 9, 7]), 2, None),
            [7, 7]
        );
        assert_eq!(
            picks(&entry(InvokePolicy::RoundRobin, &[5, 9, 7]), 7, None),
            [5, 9, 7, 5, 9, 7, 5]
        );
        let random = picks(&entry(InvokePolicy::Random, &[5, 9, 7]), 300, None);
        for s in [5, 9, 7] {
            let n = random.iter().filter(|x| **x == s).count();
            assert!((50..=150).contains(&n), "{s} picked {n} times of 300");
        }
        assert!(
            pick(
                &entry(InvokePolicy::RoundRobin, &[]),
                None,
                &mut SmallRng::seed_from_u64(1),
                None
            )
            .is_none()
        );
    }

    #[test]
    fn rkey_is_sticky_and_moves_only_the_keys_of_a_leaving_callee() {
        let all = entry(InvokePolicy::Random, &[11, 22, 33, 44]);
        let keys: Vec<String> = (0..200).map(|i| format!("key-{i}")).collect();
        let before: Vec<u64> = keys.iter().map(|k| picks(&all, 1, Some(k))[0]).collect();
        assert_eq!(
            before,
            keys.iter()
                .map(|k| picks(&all, 1, Some(k))[0])
                .collect::<Vec<_>>(),
            "the same key always reaches the same callee"
        );
        for s in [11, 22, 33, 44] {
            assert!(before.contains(&s), "every callee gets some keys");
        }
        let without_33 = entry(InvokePolicy::Random, &[11, 22, 44]);
        for (k, b) in keys.iter().zip(&before) {
            let after = picks(&without_33, 1, Some(k))[0];
            if *b != 33 {
                assert_eq!(after, *b, "key {k} stays where it was");
            } else {
                assert_ne!(after, 33);
            }
        }
    }
}

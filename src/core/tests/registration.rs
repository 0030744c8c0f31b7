//! Multi-shard tests of UNREGISTER on the sans-IO cluster (random
//! interleaving of shard pairs): UNREGISTERED is sent only once the
//! registration's owner and every replica have dropped the callee, so a
//! REGISTER of the same URI from another shard right after it succeeds.

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use super::{Cluster, Peer, error_uri};

/// A URI of realm1 whose owner is `owner` (of `shards`).
fn uri_owned_by(owner: u16, shards: u16) -> String {
    (0..)
        .map(|i| format!("com.example.proc{i}"))
        .find(|u| cluster::owner_of(0, u, MatchPolicy::Exact, shards) == ShardId(owner))
        .expect("some URI hashes to every shard")
}

fn unregister(c: &mut Cluster, p: &Peer, req: u64, registration: RegistrationId) {
    c.send(
        p,
        Message::Unregister(Unregister {
            request: RequestId(req),
            registration,
        }),
    );
}

/// Delivers shard messages one at a time until `p` has an answer; returns it.
fn step_until_answer(c: &mut Cluster, p: &Peer) -> Vec<Message> {
    loop {
        let got = c.recv(p);
        if !got.is_empty() {
            return got;
        }
        assert!(c.step(), "no answer, and no shard message left to deliver");
    }
}

#[test]
fn register_right_after_unregistered_succeeds_on_another_shard() {
    // Callee A on shard 0, callee B on shard 1, the URI's owner on shard 2:
    // A's UNREGISTER and B's REGISTER reach the owner on different shard
    // pairs, which the cluster interleaves at random (a new order per seed).
    let uri = uri_owned_by(2, 3);
    for seed in 0..64 {
        let mut c = Cluster::new(3);
        c.rng = SmallRng::seed_from_u64(seed);
        let (a, _) = c.join(0, Serializer::Json, "realm1");
        let (b, _) = c.join(1, Serializer::Json, "realm1");
        let reg = match c.register(&a, 1, &uri, Dict::new()) {
            Message::Registered(r) => r.registration,
            other => panic!("expected REGISTERED, got {other:?}"),
        };
        unregister(&mut c, &a, 2, reg);
        match step_until_answer(&mut c, &a).as_slice() {
            [Message::Unregistered(u)] => assert_eq!(u.request, RequestId(2)),
            other => panic!("seed {seed}: expected UNREGISTERED, got {other:?}"),
        }
        for (shard, r) in c.routers.iter().enumerate() {
            assert!(
                r.dealer
                    .realm(0)
                    .regs
                    .get(&uri, MatchPolicy::Exact)
                    .is_none(),
                "seed {seed}: shard {shard}'s replica still lists the procedure"
            );
        }
        match c.register(&b, 1, &uri, Dict::new()) {
            Message::Registered(_) => {}
            other => panic!("seed {seed}: REGISTER after UNREGISTERED got {other:?}"),
        }
        // A's registration ID is gone for A.
        unregister(&mut c, &a, 3, reg);
        c.pump();
        assert_eq!(
            error_uri(&c.recv(&a)[0]),
            uris::NO_SUCH_REGISTRATION,
            "seed {seed}"
        );
    }
}

#[test]
fn unregister_on_the_owner_shard_and_a_callee_leaving_meanwhile() {
    // The owner is the callee's own shard: answered within the step.
    let uri = uri_owned_by(0, 2);
    let mut c = Cluster::new(2);
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let reg = match c.register(&a, 1, &uri, Dict::new()) {
        Message::Registered(r) => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    };
    unregister(&mut c, &a, 2, reg);
    c.pump();
    match c.recv(&a).as_slice() {
        [Message::Unregistered(u)] => assert_eq!(u.request, RequestId(2)),
        other => panic!("expected UNREGISTERED, got {other:?}"),
    }

    // The callee leaves before the owner's answer: nothing is sent, nothing stays.
    let uri = uri_owned_by(1, 2);
    let (b, _) = c.join(0, Serializer::Json, "realm1");
    let reg = match c.register(&b, 1, &uri, Dict::new()) {
        Message::Registered(r) => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    };
    unregister(&mut c, &b, 2, reg);
    assert!(c.recv(&b).is_empty(), "UNREGISTERED waits for the owner");
    c.close(&b);
    c.close(&a);
    c.pump();
    assert_eq!(c.index_entries(), 0);
    assert_eq!(
        c.routers.iter().map(|r| r.session_count()).sum::<usize>(),
        0
    );
}

//! Call queues (the store's `call-queue`, `dealer/queue.rs`): calls that find
//! every callee at its `concurrency` wait on the caller's shard, in order,
//! and go to the first callee with room; the queue's limit, cancels,
//! timeouts, callers leaving, callees joining and the registration going.

use std::time::Duration;

use super::rpc::*;
use super::*;
use crate::config::CallQueueConfig;

/// The test config with realm1 queueing calls to `com.compute` (at most `limit`).
fn queued_config(limit: usize) -> Config {
    let mut config = test_config();
    config.realms[0].call_queue = vec![CallQueueConfig {
        uri: "com.compute".into(),
        match_policy: MatchPolicy::Exact,
        limit,
    }];
    config
}

/// A cluster of [`queued_config`].
fn queued(shards: u16, limit: usize) -> Cluster {
    Cluster::with_config(shards, queued_config(limit))
}

fn concurrency(n: u64) -> Dict {
    Dict::new()
        .with("concurrency", n)
        .with("invoke", "roundrobin")
}

/// The INVOCATIONs `p` got, as (INVOCATION request, the call's number).
fn invocations(c: &mut Cluster, p: &Peer) -> Vec<(RequestId, i64)> {
    c.recv(p)
        .into_iter()
        .map(|m| match m {
            Message::Invocation(i) => (i.request, number(&i.payload)),
            other => panic!("expected INVOCATION, got {other:?}"),
        })
        .collect()
}

fn waiting(c: &Cluster) -> usize {
    c.routers.iter().map(|r| r.dealer.waiting_count()).sum()
}

/// The numbers of the calls `caller` got a RESULT for (the callee echoes them).
fn results(c: &mut Cluster, caller: &Peer) -> Vec<i64> {
    c.recv(caller)
        .iter()
        .map(|m| number(&result(m).payload))
        .collect()
}

/// The error URIs of the ERRORs `p` got.
fn error_uris(c: &mut Cluster, p: &Peer) -> Vec<String> {
    c.recv(p).iter().map(|m| error_uri(m).to_owned()).collect()
}

/// The call's number, its only argument.
fn number(p: &Payload) -> i64 {
    match p.args.as_deref() {
        Some([Value::Int(n)]) => *n,
        Some([Value::UInt(n)]) => *n as i64,
        other => panic!("expected the call's number, got {other:?}"),
    }
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
fn calls_wait_in_order_for_a_callee_with_room(#[case] shards: u16) {
    let mut c = queued(shards, 100);
    let last = shards as usize - 1;
    let (two, _) = c.join_with(last, &[]);
    let (one_slot, _) = c.join_with(0, &[]);
    let (caller, _) = c.join_with(last.min(1), &[]);
    let reg = c.reg_ok(&two, 1, "com.compute", concurrency(2));
    assert_eq!(c.reg_ok(&one_slot, 1, "com.compute", concurrency(1)), reg);
    for n in 1..=7 {
        c.call(&caller, n, "com.compute", Dict::new(), int(n as i64));
    }
    assert!(c.recv(&caller).is_empty(), "no call fails");
    let mut at_two = invocations(&mut c, &two);
    let mut at_one = invocations(&mut c, &one_slot);
    assert_eq!((at_two.len(), at_one.len()), (2, 1));
    assert_eq!(waiting(&c), 4);
    // Each answer frees a slot, which the first waiting call takes.
    let mut started: Vec<i64> = at_two.iter().chain(&at_one).map(|(_, n)| *n).collect();
    started.sort_unstable();
    assert_eq!(started, [1, 2, 3]);
    let mut done = Vec::new();
    for _ in 0..7 {
        let (callee, list) = if at_one.is_empty() {
            (&two, &mut at_two)
        } else {
            (&one_slot, &mut at_one)
        };
        let (req, n) = list.remove(0);
        c.yield_(callee, req, false, int(n));
        done.extend(results(&mut c, &caller));
        let new_two = invocations(&mut c, &two);
        let new_one = invocations(&mut c, &one_slot);
        started.extend(new_two.iter().chain(&new_one).map(|(_, n)| *n));
        at_two.extend(new_two);
        at_one.extend(new_one);
        assert!(at_two.len() <= 2 && at_one.len() <= 1, "a limit was passed");
    }
    assert_eq!(started, [1, 2, 3, 4, 5, 6, 7], "in the order they came");
    done.sort_unstable();
    assert_eq!(done, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!((waiting(&c), c.pending_calls()), (0, 0));
}

#[test]
fn a_full_queue_fails_the_call_and_other_procedures_never_wait() {
    let mut c = queued(2, 2);
    let (callee, _) = c.join_with(1, &[]);
    let (caller, _) = c.join_with(0, &[]);
    c.reg_ok(&callee, 1, "com.compute", concurrency(1));
    c.reg_ok(&callee, 2, "com.other", concurrency(1));
    for n in 1..=3 {
        c.call(&caller, n, "com.compute", Dict::new(), int(n as i64));
    }
    assert_eq!(invocations(&mut c, &callee).len(), 1);
    assert!(c.recv(&caller).is_empty());
    c.call(&caller, 4, "com.compute", Dict::new(), int(4));
    let m = one(c.recv(&caller));
    assert_eq!(error_uri(&m), uris::MAX_CONCURRENCY_REACHED);
    assert!(error_message(&m).contains("call queue is full (2 calls wait)"));
    assert_eq!(waiting(&c), 2);
    // No rule for com.other: its second call fails at once, as without a queue.
    c.call(&caller, 5, "com.other", Dict::new(), int(5));
    assert_eq!(invocations(&mut c, &callee).len(), 1);
    c.call(&caller, 6, "com.other", Dict::new(), int(6));
    assert_eq!(
        error_uri(&one(c.recv(&caller))),
        uris::MAX_CONCURRENCY_REACHED
    );
}

#[test]
fn waiting_calls_leave_on_cancel_timeout_and_their_caller_leaving() {
    let mut c = queued(3, 10);
    let clock = manual_clock(&mut c);
    let t0 = clock.0.get();
    let (callee, _) = c.join_with(2, &[CANCEL]);
    let (caller, _) = c.join_with(0, &[]);
    let (other, _) = c.join_with(1, &[]);
    c.reg_ok(&callee, 1, "com.compute", concurrency(1));
    c.call(&caller, 1, "com.compute", Dict::new(), int(1));
    let (running, _) = invocations(&mut c, &callee)[0];
    c.call(&caller, 2, "com.compute", Dict::new(), int(2));
    let timeout = Dict::new().with("timeout", 100u64);
    c.call(&caller, 3, "com.compute", timeout, int(3));
    c.call(&other, 4, "com.compute", Dict::new(), int(4));
    assert_eq!(waiting(&c), 3);
    // CANCEL, even `kill`: no callee has it, so the caller is answered at once.
    c.cancel(&caller, 2, "kill");
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    c.routers[0].poll_timers(t0 + Duration::from_millis(100));
    c.pump();
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::TIMEOUT);
    assert!(
        c.recv(&callee).is_empty(),
        "no INTERRUPT for a waiting call"
    );
    assert_eq!(waiting(&c), 1);
    c.close(&other);
    c.pump();
    assert_eq!(waiting(&c), 0);
    // The slot that frees finds nobody waiting.
    c.yield_(&callee, running, false, int(1));
    assert_eq!(results(&mut c, &caller), [1]);
    assert!(c.recv(&callee).is_empty());
    assert_eq!(c.pending_calls(), 0);
}

#[test]
fn a_joining_callee_drains_the_queue_and_a_gone_registration_fails_it() {
    let mut c = queued(3, 10);
    let (busy, _) = c.join_with(1, &[]);
    let (caller, _) = c.join_with(0, &[]);
    c.reg_ok(&busy, 1, "com.compute", concurrency(1));
    for n in 1..=4 {
        c.call(&caller, n, "com.compute", Dict::new(), int(n as i64));
    }
    let (running, _) = invocations(&mut c, &busy)[0];
    assert_eq!(waiting(&c), 3);
    // A callee without a limit joins: every waiting call goes to it, in order.
    let (free, _) = c.join_with(2, &[]);
    c.send(
        &free,
        Message::Register(Register {
            request: RequestId(1),
            options: Dict::new().with("invoke", "roundrobin"),
            procedure: "com.compute".into(),
        }),
    );
    c.pump();
    let mut got = c.recv(&free);
    assert!(matches!(got.remove(0), Message::Registered(_)), "{got:?}");
    let got: Vec<(RequestId, i64)> = got
        .into_iter()
        .map(|m| match m {
            Message::Invocation(i) => (i.request, number(&i.payload)),
            other => panic!("expected INVOCATION, got {other:?}"),
        })
        .collect();
    assert_eq!(got.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(waiting(&c), 0);
    for (req, n) in got {
        c.yield_(&free, req, false, int(n));
    }
    assert_eq!(results(&mut c, &caller), [2, 3, 4]);
    // The free callee leaves; calls wait for the busy one, which then leaves
    // too: they fail, as the procedure is gone.
    c.close(&free);
    c.pump();
    c.call(&caller, 5, "com.compute", Dict::new(), int(5));
    c.call(&caller, 6, "com.compute", Dict::new(), int(6));
    assert_eq!(waiting(&c), 2);
    c.close(&busy);
    c.pump();
    let errors = error_uris(&mut c, &caller);
    // Its own invocation was canceled; the waiting calls found no procedure.
    assert_eq!(
        errors,
        [
            uris::CANCELED,
            uris::NO_SUCH_PROCEDURE,
            uris::NO_SUCH_PROCEDURE
        ]
    );
    let _ = running;
    assert_eq!((waiting(&c), c.pending_calls()), (0, 0));
}

#[test]
fn callers_on_two_shards_share_a_free_slot() {
    let mut c = queued(3, 10);
    let (callee, _) = c.join_with(0, &[]);
    let (x, _) = c.join_with(1, &[]);
    let (y, _) = c.join_with(2, &[]);
    c.reg_ok(&callee, 1, "com.compute", concurrency(1));
    c.call(&x, 1, "com.compute", Dict::new(), int(1));
    c.call(&y, 2, "com.compute", Dict::new(), int(2));
    c.call(&x, 3, "com.compute", Dict::new(), int(3));
    assert_eq!(waiting(&c), 2);
    let mut next = invocations(&mut c, &callee);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let [(req, n)] = next[..] else {
            panic!("expected one invocation at a time, got {next:?}");
        };
        seen.push(n);
        c.yield_(&callee, req, false, int(n));
        next = invocations(&mut c, &callee);
    }
    assert!(next.is_empty());
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3]);
    let mut got = results(&mut c, &x);
    got.extend(results(&mut c, &y));
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3]);
    assert_eq!((waiting(&c), c.pending_calls()), (0, 0));
}

/// A reload that drops the `call-queue` rule: the waiting calls are tried
/// once more and fail as calls without a queue do; a reload that keeps it
/// leaves them waiting.
#[test]
fn a_reload_without_the_rule_releases_the_waiting_calls() {
    let mut c = queued(2, 10);
    let (callee, _) = c.join_with(1, &[]);
    let (caller, _) = c.join_with(0, &[]);
    c.reg_ok(&callee, 1, "com.compute", concurrency(1));
    for n in 1..=3 {
        c.call(&caller, n, "com.compute", Dict::new(), int(n as i64));
    }
    let (running, _) = invocations(&mut c, &callee)[0];
    assert_eq!(waiting(&c), 2);
    let mut same = queued_config(10);
    // The harness's links belong to transport "test" (see tests/ops.rs).
    same.transports[1].id = "test".into();
    for r in &mut c.routers {
        r.apply(&same);
    }
    c.pump();
    assert_eq!(
        waiting(&c),
        2,
        "the rule is still there: {:?}",
        c.recv(&caller)
    );
    let mut next = same;
    next.realms[0].call_queue.clear();
    for r in &mut c.routers {
        r.apply(&next);
    }
    c.pump();
    let errors = error_uris(&mut c, &caller);
    assert_eq!(errors, [uris::MAX_CONCURRENCY_REACHED; 2]);
    assert_eq!(waiting(&c), 0);
    c.yield_(&callee, running, false, int(1));
    assert_eq!(results(&mut c, &caller), [1]);
    assert!(c.recv(&callee).is_empty());
    assert_eq!(c.pending_calls(), 0);
}

/// A canceled invocation (`killnowait`, `skip`) keeps its callee's slot until
/// the callee answers it, as in Crossbar.io: the callee may still be busy
/// with it. The answer itself is dropped.
#[test]
fn a_canceled_invocation_keeps_its_slot_until_the_callee_answers() {
    let mut c = queued(2, 10);
    let (callee, _) = c.join_with(1, &[CANCEL]);
    let (caller, _) = c.join_with(0, &[]);
    c.reg_ok(&callee, 1, "com.compute", concurrency(1));
    c.reg_ok(&callee, 2, "com.other", concurrency(1));
    c.call(&caller, 1, "com.compute", Dict::new(), int(1));
    let (first, _) = invocations(&mut c, &callee)[0];
    c.cancel(&caller, 1, "killnowait");
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    assert_eq!(interrupt(&one(c.recv(&callee))).request, first);
    // Still busy with it: the next call waits.
    c.call(&caller, 2, "com.compute", Dict::new(), int(2));
    assert!(c.recv(&callee).is_empty());
    assert_eq!(waiting(&c), 1);
    // Its answer to the canceled one frees the slot (and goes nowhere).
    c.send(
        &callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: first,
            details: Dict::new(),
            error: uris::CANCELED.into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert!(c.recv(&caller).is_empty());
    let [(second, 2)] = invocations(&mut c, &callee)[..] else {
        panic!("the waiting call goes out");
    };
    c.yield_(&callee, second, false, int(2));
    assert_eq!(results(&mut c, &caller), [2]);

    // Without a queue the slot is held the same way: busy until the answer.
    c.call(&caller, 3, "com.other", Dict::new(), int(3));
    let (third, _) = invocations(&mut c, &callee)[0];
    c.cancel(&caller, 3, "skip");
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    c.call(&caller, 4, "com.other", Dict::new(), int(4));
    assert_eq!(
        error_uri(&one(c.recv(&caller))),
        uris::MAX_CONCURRENCY_REACHED
    );
    c.yield_(&callee, third, false, int(3));
    assert!(
        c.recv(&caller).is_empty(),
        "the skipped call's result is dropped"
    );
    c.call(&caller, 5, "com.other", Dict::new(), int(5));
    assert_eq!(invocations(&mut c, &callee).len(), 1);
    // A callee that leaves owes nothing for what it abandoned.
    c.close(&callee);
    c.pump();
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    assert_eq!(c.pending_calls(), 0);
}

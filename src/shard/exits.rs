//! How the node learns that a shard's thread ended, in whatever order they
//! end: each shard holds an [`ExitSignal`] that reports its index when it is
//! dropped, which happens also while a panic unwinds the thread, and
//! [`join_shards`] joins each shard as it reports.
//!
//! A shard that fails while the others still run stops the wait at once:
//! a router with a dead shard is broken (its connections are gone, the
//! other shards' messages to it go nowhere), so the node exits with that
//! error and a service manager (`Restart=on-failure` in
//! `dist/junction.service`) starts it again. Before, the shards were joined
//! in order, and a panic of any but the last went unnoticed until the
//! others stopped.
//!
//! Knows threads and channels only; nothing of the shards' work.

use std::sync::mpsc::{Receiver, Sender};

use super::RunError;

/// Reports its shard's index on drop (the shard's thread ended).
pub(super) struct ExitSignal {
    tx: Sender<usize>,
    shard: usize,
}

impl ExitSignal {
    /// The signal of shard `shard`.
    pub(super) fn new(tx: Sender<usize>, shard: usize) -> ExitSignal {
        ExitSignal { tx, shard }
    }
}

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.tx.send(self.shard);
    }
}

/// Joins the shards `joins` as `exited` reports them, with `join`. Returns
/// the first failure; when a shard fails while others still run, returns
/// it at once with `false` (not every shard stopped), else the result once
/// every shard stopped with `true`.
pub(super) fn join_shards<H>(
    joins: Vec<H>,
    exited: &Receiver<usize>,
    mut join: impl FnMut(usize, H) -> Result<(), RunError>,
) -> (Result<(), RunError>, bool) {
    let mut joins: Vec<Option<H>> = joins.into_iter().map(Some).collect();
    let mut running = joins.len();
    let mut first = Ok(());
    while running > 0 {
        // Every signal dropped without a report cannot happen (each sends
        // on drop); if the channel closes anyway, join the rest in order.
        let Ok(i) = exited.recv() else { break };
        let Some(handle) = joins.get_mut(i).and_then(Option::take) else {
            continue;
        };
        running -= 1;
        if let Err(e) = join(i, handle) {
            if running > 0 {
                return (Err(e), false);
            }
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    for (i, handle) in joins.into_iter().enumerate() {
        if let Some(h) = handle
            && let Err(e) = join(i, h)
            && first.is_ok()
        {
            first = Err(e);
        }
    }
    (first, true)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    fn join_thread(i: usize, h: thread::JoinHandle<()>) -> Result<(), RunError> {
        h.join().map_err(|_| RunError::Executor {
            shard: i,
            detail: "thread panicked".into(),
        })
    }

    #[test]
    fn a_shard_that_panics_while_the_others_run_is_reported_at_once() {
        let (tx, exited) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        // Shard 0 runs until released; shard 1 panics.
        let s0 = ExitSignal::new(tx.clone(), 0);
        let first = thread::spawn(move || {
            let _signal = s0;
            let _ = release.recv();
        });
        let s1 = ExitSignal::new(tx, 1);
        let second = thread::spawn(move || {
            let _signal = s1;
            panic!("shard 1 fails");
        });
        let (r, all) = join_shards(vec![first, second], &exited, join_thread);
        assert!(!all, "shard 0 still runs");
        match r {
            Err(RunError::Executor { shard, .. }) => assert_eq!(shard, 1),
            other => panic!("expected shard 1's failure, got {other:?}"),
        }
        release_tx.send(()).expect("release shard 0");
    }

    /// Threads with exit signals, each ending once released; shard `i` is
    /// released by `releases[i]`.
    fn shards(
        n: usize,
    ) -> (
        Vec<thread::JoinHandle<()>>,
        Vec<mpsc::Sender<bool>>,
        Receiver<usize>,
    ) {
        let (tx, exited) = mpsc::channel();
        let mut handles = Vec::new();
        let mut releases = Vec::new();
        for i in 0..n {
            let signal = ExitSignal::new(tx.clone(), i);
            let (release_tx, release) = mpsc::channel::<bool>();
            releases.push(release_tx);
            handles.push(thread::spawn(move || {
                let _signal = signal;
                if release.recv() == Ok(true) {
                    panic!("shard {i} fails");
                }
            }));
        }
        (handles, releases, exited)
    }

    #[test]
    fn shards_that_stop_in_any_order_are_all_joined() {
        // Shard 1 stops first; joining each releases the next: 1, 2, 0.
        let (handles, releases, exited) = shards(3);
        releases[1].send(false).expect("release");
        let mut order = Vec::new();
        let (r, all) = join_shards(handles, &exited, |i, h| {
            order.push(i);
            let r = join_thread(i, h);
            let _ = releases[(i + 1) % 3].send(false);
            r
        });
        assert!(r.is_ok() && all, "{r:?}");
        assert_eq!(order, [1, 2, 0]);
    }

    #[test]
    fn a_failure_of_the_last_shard_is_returned_after_all_stopped() {
        // Shard 0 stops; joining it makes shard 1, the last, fail.
        let (handles, releases, exited) = shards(2);
        releases[0].send(false).expect("release");
        let (r, all) = join_shards(handles, &exited, |i, h| {
            let r = join_thread(i, h);
            if i == 0 {
                let _ = releases[1].send(true);
            }
            r
        });
        assert!(all);
        assert!(
            matches!(r, Err(RunError::Executor { shard: 1, .. })),
            "{r:?}"
        );
    }
}

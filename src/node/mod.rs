//! The process around the shards: start them, wait for a signal, shut down.
//! Hot reload, guest workers, the control socket and the cluster link will
//! live here too. It may use every layer below it (`shard`, `config`); no
//! layer below imports it.

use crate::config::Config;
use crate::shard::{RunError, start};

/// Runs the router until SIGINT or SIGTERM, then shuts down gracefully.
///
/// # Errors
/// [`RunError`] from [`start`] or from a shard.
pub fn run(config: Config, shards: Option<usize>) -> Result<(), RunError> {
    let signals = block_shutdown_signals();
    let handle = start(config, shards)?;
    let sig = wait_for_signal(&signals);
    tracing::info!(signal = sig, "shutting down");
    handle.shutdown();
    handle.join()
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it spawns
/// afterwards) so that [`wait_for_signal`] can take them synchronously.
fn block_shutdown_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local, zero-initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` was initialised by `block_shutdown_signals`; `sig` is a valid out-pointer.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

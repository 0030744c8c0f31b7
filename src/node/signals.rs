//! Process signals, taken synchronously by one thread: SIGTERM and SIGINT
//! (drain, then exit; a second one exits at once) and SIGHUP (reload).
//!
//! The signals are blocked in the calling thread before any other thread
//! starts (threads inherit the mask), so no thread is interrupted and the
//! waiter thread takes each with `sigwait` and hands it to the node's loop.

use std::sync::mpsc::Sender;

use super::Event;

/// The signals the node handles.
pub(super) const HANDLED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// A set of signals, blocked in the thread that made it.
pub(super) struct Blocked(libc::sigset_t);

// SAFETY: a `sigset_t` is a plain bit set; reading it from another thread is fine.
unsafe impl Send for Blocked {}

/// Blocks [`HANDLED`] in this thread (and so in every thread it spawns
/// afterwards).
pub(super) fn block() -> Blocked {
    // SAFETY: plain libc signal-set manipulation on a local, zero-initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in HANDLED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        Blocked(set)
    }
}

/// Starts the thread that waits for the signals of `set` and sends each to `to`.
///
/// # Errors
/// When the thread cannot be started.
pub(super) fn spawn_waiter(set: Blocked, to: Sender<Event>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("junction-signals".into())
        .spawn(move || {
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: `set` was initialised by `block`; `sig` is a valid out-pointer.
                let rc = unsafe { libc::sigwait(&set.0, &mut sig) };
                if rc != 0 {
                    continue;
                }
                if to.send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .map(|_| ())
}

/// A signal's name, for logs.
pub(super) fn name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

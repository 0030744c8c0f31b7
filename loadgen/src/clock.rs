//! The process-wide monotonic clock every timestamp in a payload is read from.
//!
//! Senders and receivers run in the same process (on different threads), so a
//! single `Instant` taken at start-up is a shared base: a timestamp is the
//! number of nanoseconds since that instant (CLOCK_MONOTONIC underneath), and
//! a latency is simply `now_ns() - t_ns`.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Fixes the clock base; call once at start-up, before any thread starts.
pub fn init() {
    START.get_or_init(Instant::now);
}

/// Nanoseconds since the process-wide base.
pub fn now_ns() -> u64 {
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic() {
        init();
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = now_ns();
        assert!(b >= a + 2_000_000, "{a} {b}");
    }
}

// Junction patch (not upstream): switches that restore glommio 0.9.0's own
// park behaviour, one item at a time, for A/B measurements. Read once from
// the environment variable `GLOMMIO_UPSTREAM_PARK`, a comma-separated list:
//
// - `barrier`: `membarrier(PRIVATE_EXPEDITED)` before every sleep (patched:
//   a full fence on each side of the sleep/notify handshake instead);
// - `tput`: the throughput preemption timer cancelled and armed again on
//   every reactor turn (patched: once half of its count has passed);
// - `lat`: the latency preemption timer cancelled and armed again on every
//   reactor turn (patched: kept while it has not fired, cancelled before a
//   sleep as upstream);
// - `sleep`: the ring-linking poll submitted, then waited for, in two
//   `io_uring_enter` calls (patched: one call submits and waits);
// - `ready`: the run loop may park while task queues are ready, when the
//   preemption flag was set on entry (patched: it never does);
// - `slot`: the latency ring's timer cancelled before every sleep and the
//   user timer armed for it, then cancelled on waking for the preemption
//   timer (patched: a pending timer is kept whenever it fires no later than
//   the one wanted, across sleeps too);
// - `link`: the poll that links the latency ring to the main ring submitted
//   on every sleep and cancelled on waking (patched: kept in flight until it
//   fires, and a sleep with it in flight only waits);
// - `preempt`: a pending preemption timer cancelled before every sleep
//   (patched: kept for a sleep unless the previous sleep ended by it or a
//   user timer is due first);
// - `all`: every item above.
use std::sync::OnceLock;

const BARRIER: u32 = 1;
const TPUT: u32 = 2;
const LAT: u32 = 4;
const SLEEP: u32 = 8;
const READY: u32 = 16;
const SLOT: u32 = 32;
const LINK: u32 = 64;
const PREEMPT: u32 = 128;

fn flags() -> u32 {
    static FLAGS: OnceLock<u32> = OnceLock::new();
    *FLAGS.get_or_init(|| {
        let v = std::env::var("GLOMMIO_UPSTREAM_PARK").unwrap_or_default();
        v.split(',').fold(0, |f, item| {
            f | match item.trim() {
                "barrier" => BARRIER,
                "tput" => TPUT,
                "lat" => LAT,
                "sleep" => SLEEP,
                "ready" => READY,
                "slot" => SLOT,
                "link" => LINK,
                "preempt" => PREEMPT,
                "all" => BARRIER | TPUT | LAT | SLEEP | READY | SLOT | LINK | PREEMPT,
                _ => 0,
            }
        })
    })
}

pub(crate) fn upstream_barrier() -> bool {
    flags() & BARRIER != 0
}

pub(crate) fn upstream_tput() -> bool {
    flags() & TPUT != 0
}

pub(crate) fn upstream_lat() -> bool {
    flags() & LAT != 0
}

pub(crate) fn upstream_sleep() -> bool {
    flags() & SLEEP != 0
}

pub(crate) fn ready_park_fixed() -> bool {
    flags() & READY == 0
}

pub(crate) fn upstream_slot() -> bool {
    flags() & (SLOT | LAT) != 0
}

pub(crate) fn upstream_link() -> bool {
    flags() & LINK != 0
}

pub(crate) fn upstream_preempt_sleep() -> bool {
    flags() & (PREEMPT | SLOT | LAT) != 0
}

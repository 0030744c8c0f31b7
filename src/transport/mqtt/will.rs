//! The will of a connection and the MQTT 5 Will Delay Interval (section
//! 3.1.3.2.2): a will fires on an abnormal end (or DISCONNECT 0x04); with a
//! delay above 0 it is published when the delay ends or when the session
//! ends, whichever comes first, and not at all when a new connection takes
//! the session before then. 3.1.1 wills and wills without a delay are
//! published at once.
//!
//! A delayed will waits in the offline session ([`Rare::will`](super::rare::Rare::will) with
//! [`Rare::will_due_ms`](super::rare::Rare::will_due_ms); the offline task publishes it, see
//! [`super::offline`]). In a realm with a file store the will is kept in the
//! session's records ([`StoredWill`]): written when the connection comes up
//! (due 0: "its connection is open"), again with its due time when the
//! connection ends with a delay, deleted when it is published or the
//! connection ends without one. After a restart (graceful or `kill -9`) a
//! restored session publishes its will when it is due: the stored time, or
//! the delay counted from the start when its connection was open when the
//! router stopped.
//!
//! Imports the connection state and `inbound` (the will's WAMP PUBLISH).

use super::ctx::now_ms;
use super::state::State;
pub use super::state::delay_of;
use crate::proto::Message;
use crate::store::mqtt::{Record, StoredWill};

/// What happens to a will when its connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WillAt {
    /// Published now.
    Now,
    /// Kept with the offline session, published after this many seconds
    /// (or when the session ends first).
    Later(u32),
    /// Not published.
    Never,
}

/// What happens to the will when a connection ends: `fires` (the end was
/// abnormal, or DISCONNECT 0x04 asked for it), `delay_s` its Will Delay
/// Interval, `kept` its session stays here offline, `moved` a new
/// connection took the session over (resumed it).
pub fn plan(fires: bool, delay_s: u32, kept: bool, moved: bool) -> WillAt {
    match () {
        _ if !fires => WillAt::Never,
        _ if delay_s == 0 => WillAt::Now,
        // A new connection to the session came before the delay passed.
        _ if moved => WillAt::Never,
        _ if kept => WillAt::Later(delay_s),
        // The session ends with the connection: that comes first.
        _ => WillAt::Now,
    }
}

/// Milliseconds until a will due at `due_ms` (Unix ms), at `now_ms`.
pub fn left_ms(due_ms: u64, now_ms: u64) -> u64 {
    due_ms.saturating_sub(now_ms)
}

/// The connection ended and its will waits `delay_s` seconds with the
/// offline session (written with its due time when the session is durable).
pub fn defer(s: &mut State, delay_s: u32) {
    s.rare.will_due_ms = now_ms() + u64::from(delay_s) * 1000;
    if let Some(w) = &s.rare.will {
        let stored = StoredWill {
            due_ms: s.rare.will_due_ms,
            delay_s,
            will: (**w).clone(),
        };
        s.write(Record::Will(Box::new(stored)));
    }
}

/// The connection ended without a will waiting: a durable session that
/// stays drops its stored one.
pub fn forget(s: &mut State) {
    s.rare.will = None;
    s.rare.will_due_ms = 0;
    s.write(Record::DelWill);
}

/// The waiting will, as a WAMP PUBLISH to feed through the session's link
/// (its delay passed, or the session ends); `None` when none waits.
pub fn take_due(s: &mut State) -> Option<Message> {
    if s.rare.will_due_ms == 0 {
        return None;
    }
    s.rare.will_due_ms = 0;
    tracing::debug!(client = %s.client_id, "MQTT delayed will published");
    let m = super::inbound::will_publish(s);
    s.write(Record::DelWill);
    m
}

/// A restored session's will: waiting in the session until it is due.
pub fn restore(s: &mut State, w: StoredWill) {
    s.rare.will_due_ms = w.due_at(now_ms()).max(1);
    s.rare.will = Some(Box::new(w.will));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mqtt::{MqttString, QoS, Version, Will, WillProperties};
    use bytes::Bytes;

    fn will(delay: Option<u32>) -> Will {
        Will {
            topic: MqttString::try_from("dev/status").expect("topic"),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties {
                will_delay_interval: delay,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_delay_is_an_mqtt5_property() {
        assert_eq!(delay_of(&will(Some(7)), Version::V5), 7);
        assert_eq!(delay_of(&will(None), Version::V5), 0);
        assert_eq!(delay_of(&will(Some(7)), Version::V311), 0);
    }

    #[test]
    fn when_a_will_is_published() {
        // (fires, delay, kept offline, moved to a new connection) → outcome.
        let cases = [
            ((false, 0, false, false), WillAt::Never),
            ((false, 5, true, false), WillAt::Never),
            ((true, 0, false, false), WillAt::Now),
            ((true, 0, true, false), WillAt::Now),
            ((true, 0, false, true), WillAt::Now),
            ((true, 5, true, false), WillAt::Later(5)),
            ((true, 5, false, false), WillAt::Now),
            ((true, 5, false, true), WillAt::Never),
            ((true, 5, true, true), WillAt::Never),
        ];
        for ((fires, delay, kept, moved), want) in cases {
            assert_eq!(
                plan(fires, delay, kept, moved),
                want,
                "fires {fires} delay {delay} kept {kept} moved {moved}"
            );
        }
    }

    #[test]
    fn time_left_counts_down_to_zero() {
        let now = 1_700_000_000_000;
        assert_eq!(left_ms(now + 2_000, now), 2_000);
        assert_eq!(left_ms(now + 2_000, now + 1_999), 1);
        assert_eq!(left_ms(now + 2_000, now + 2_000), 0);
        assert_eq!(
            left_ms(now, now + 60_000),
            0,
            "due while the router was down"
        );
    }
}

//! Per-receiver sequence tracking: loss, reordering and duplicates.
//!
//! Every message a sender emits carries `(sender, seq)`, `seq` counting from 0
//! without gaps per sender (in `pubsub` a "sender" is one publisher's stream
//! on one topic, see [`crate::payload`]). A receiver keeps one [`SeqTracker`],
//! which keeps per sender the next sequence number after the highest seen and
//! the ranges below it that have not arrived yet. Then, for each arrival:
//!
//! * `seq == next`: in order.
//! * `seq > next`: in order, and `next..seq` becomes a gap.
//! * `seq < next` inside a gap: **reordered** (it arrived after a higher one);
//!   it is removed from the gap, so it does not count as lost.
//! * `seq < next` outside any gap: a **duplicate**.
//!
//! At the end, [`SeqTracker::finish`] is told how many messages each expected
//! sender sent to this receiver; every sequence number below that count that
//! never arrived is **lost**. Messages from senders the receiver should not
//! have heard from, or past the sent count, are **unexpected**.
//!
//! Gaps are stored as ranges, so memory grows with the number of gaps, not
//! with the number of messages.

use std::collections::BTreeMap;

use ahash::AHashMap;

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Next in order (possibly after a gap).
    InOrder,
    /// Lower than one seen before, filling a gap.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// One sender's state at one receiver.
#[derive(Debug, Default, Clone)]
struct Stream {
    /// One past the highest sequence number seen.
    next: u64,
    /// Gaps below `next`: start → end (exclusive).
    missing: BTreeMap<u64, u64>,
}

/// The counts a receiver ends with.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeqCounts {
    /// Messages received (all of them, duplicates included).
    pub received: u64,
    /// Expected messages never received.
    pub lost: u64,
    /// Messages that arrived after a higher sequence number from the same sender.
    pub reordered: u64,
    /// Messages received more than once.
    pub duplicates: u64,
    /// Messages from a sender this receiver should not hear from, or beyond
    /// what that sender sent.
    pub unexpected: u64,
}

impl SeqCounts {
    /// Adds another receiver's counts.
    pub fn add(&mut self, o: &SeqCounts) {
        self.received += o.received;
        self.lost += o.lost;
        self.reordered += o.reordered;
        self.duplicates += o.duplicates;
        self.unexpected += o.unexpected;
    }

    /// Whether anything went wrong.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.reordered == 0 && self.duplicates == 0 && self.unexpected == 0
    }
}

/// All senders' sequence state at one receiver.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    streams: AHashMap<u64, Stream>,
    received: u64,
    reordered: u64,
    duplicates: u64,
}

impl SeqTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the arrival of `seq` from `sender`.
    pub fn record(&mut self, sender: u64, seq: u64) -> Arrival {
        self.received += 1;
        let s = self.streams.entry(sender).or_default();
        if seq >= s.next {
            if seq > s.next {
                s.missing.insert(s.next, seq);
            }
            s.next = seq.saturating_add(1);
            return Arrival::InOrder;
        }
        let gap = s
            .missing
            .range(..=seq)
            .next_back()
            .map(|(&start, &end)| (start, end));
        match gap {
            Some((start, end)) if seq < end => {
                s.missing.remove(&start);
                if start < seq {
                    s.missing.insert(start, seq);
                }
                if seq + 1 < end {
                    s.missing.insert(seq + 1, end);
                }
                self.reordered += 1;
                Arrival::Reordered
            }
            _ => {
                self.duplicates += 1;
                Arrival::Duplicate
            }
        }
    }

    /// The final counts, given how many messages each sender this receiver
    /// should hear from sent to it (`expected` yields `(sender, count)`;
    /// a sender listed twice has its counts added).
    pub fn finish(&self, expected: impl IntoIterator<Item = (u64, u64)>) -> SeqCounts {
        let mut want: AHashMap<u64, u64> = AHashMap::new();
        for (sender, n) in expected {
            *want.entry(sender).or_default() += n;
        }
        let mut c = SeqCounts {
            received: self.received,
            reordered: self.reordered,
            duplicates: self.duplicates,
            ..SeqCounts::default()
        };
        for (&sender, &n) in &want {
            match self.streams.get(&sender) {
                None => c.lost += n,
                Some(s) => {
                    let missing_below: u64 = s
                        .missing
                        .iter()
                        .filter(|&(&start, _)| start < n)
                        .map(|(&start, &end)| end.min(n) - start)
                        .sum();
                    c.lost += missing_below + n.saturating_sub(s.next);
                    // Seen sequence numbers at or above n were never sent.
                    if s.next > n {
                        let missing_above: u64 = s
                            .missing
                            .iter()
                            .filter(|&(_, &end)| end > n)
                            .map(|(&start, &end)| end - start.max(n))
                            .sum();
                        c.unexpected += s.next - n - missing_above;
                    }
                }
            }
        }
        for (sender, s) in &self.streams {
            if !want.contains_key(sender) {
                let missing: u64 = s.missing.iter().map(|(&a, &b)| b - a).sum();
                c.unexpected += s.next - missing;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_is_clean() {
        let mut t = SeqTracker::new();
        for i in 0..1000 {
            assert_eq!(t.record(7, i), Arrival::InOrder);
        }
        let c = t.finish([(7, 1000)]);
        assert_eq!(
            c,
            SeqCounts {
                received: 1000,
                ..SeqCounts::default()
            }
        );
        assert!(c.is_clean());
    }

    #[test]
    fn every_tenth_dropped_is_lost() {
        let mut t = SeqTracker::new();
        for i in (0..100).filter(|i| i % 10 != 9) {
            t.record(1, i);
        }
        let c = t.finish([(1, 100)]);
        assert_eq!(c.lost, 10);
        assert_eq!(c.reordered, 0);
        assert_eq!(c.received, 90);
    }

    #[test]
    fn tail_loss_and_missing_sender_count() {
        let mut t = SeqTracker::new();
        for i in 0..5 {
            t.record(1, i);
        }
        let c = t.finish([(1, 8), (2, 4)]);
        assert_eq!(c.lost, 3 + 4);
    }

    #[test]
    fn swapped_pairs_count_as_reordered_not_lost() {
        let mut t = SeqTracker::new();
        let order = [0, 2, 1, 3, 5, 4, 6];
        let kinds: Vec<Arrival> = order.iter().map(|&s| t.record(3, s)).collect();
        assert_eq!(
            kinds,
            [
                Arrival::InOrder,
                Arrival::InOrder,
                Arrival::Reordered,
                Arrival::InOrder,
                Arrival::InOrder,
                Arrival::Reordered,
                Arrival::InOrder
            ]
        );
        let c = t.finish([(3, 7)]);
        assert_eq!((c.lost, c.reordered, c.duplicates), (0, 2, 0));
    }

    #[test]
    fn late_message_inside_a_wide_gap_splits_it() {
        let mut t = SeqTracker::new();
        t.record(1, 0);
        t.record(1, 10);
        assert_eq!(t.record(1, 5), Arrival::Reordered);
        assert_eq!(t.record(1, 5), Arrival::Duplicate);
        assert_eq!(t.record(1, 1), Arrival::Reordered);
        assert_eq!(t.record(1, 9), Arrival::Reordered);
        let c = t.finish([(1, 11)]);
        // Never seen: 2, 3, 4, 6, 7, 8.
        assert_eq!((c.lost, c.reordered, c.duplicates), (6, 3, 1));
    }

    #[test]
    fn duplicates_are_counted() {
        let mut t = SeqTracker::new();
        for s in [0, 1, 1, 2, 0, 2] {
            t.record(1, s);
        }
        let c = t.finish([(1, 3)]);
        assert_eq!((c.lost, c.reordered, c.duplicates), (0, 0, 3));
        assert_eq!(c.received, 6);
    }

    #[test]
    fn senders_are_tracked_separately() {
        let mut t = SeqTracker::new();
        // Interleaving two senders is not reordering.
        for i in 0..50 {
            assert_eq!(t.record(1, i), Arrival::InOrder);
            assert_eq!(t.record(2, i), Arrival::InOrder);
        }
        t.record(2, 60);
        let c = t.finish([(1, 50), (2, 61)]);
        assert_eq!((c.lost, c.reordered, c.unexpected), (10, 0, 0));
    }

    #[test]
    fn unexpected_senders_and_overruns() {
        let mut t = SeqTracker::new();
        for i in 0..5 {
            t.record(1, i);
        }
        t.record(9, 0);
        t.record(9, 1);
        let c = t.finish([(1, 3)]);
        assert_eq!(c.unexpected, 2 + 2);
        assert_eq!(c.lost, 0);
    }
}

//! permessage-deflate on the sending side of a WebSocket connection.
//!
//! Where the cost goes: the router encodes an event once per serializer and
//! queues the same octets for every subscriber; compression happens later,
//! in each connection's writer, when the message is first written, never in
//! the router's fan-out loop. And it is not repeated per subscriber where it
//! need not be:
//!
//! - a connection that compresses each message on its own (the server's
//!   `no_context_takeover`, Junction's default) keeps no compressor: the
//!   shard has one per window size and level, reset after each message, so
//!   an idle connection holds no compression memory (a zlib compressor is
//!   about 270 KiB);
//! - for such connections, an event shared by many subscribers' outboxes is
//!   compressed once per shard: the last few shared frames and their
//!   compressed forms are kept ([`MEMO`]), and a connection writing the same
//!   frame (the same allocation, with the same window and level) reuses the
//!   compressed octets;
//! - a connection that keeps its context (`no_context_takeover: false`)
//!   owns its compressor and compresses every message itself;
//! - messages shorter than the threshold are sent as they are, and so are
//!   messages that do not get shorter (only without context takeover: with
//!   it, the peer's inflater must see every message the compressor did).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;

use crate::core::outbox::Frame as OutFrame;
use crate::proto::websocket::deflate::{Agreed, Deflater};

/// Shared frames whose compressed form is remembered.
const MEMO_SIZE: usize = 8;

/// A remembered compression: the frame (kept alive, so that its address
/// cannot be reused by another frame), the window and level, the octets.
type Memo = (Rc<Bytes>, (u8, u8), Bytes);

thread_local! {
    /// The shard's compressors for messages compressed on their own, by
    /// (window bits, level).
    static SHARED: RefCell<Vec<((u8, u8), Deflater)>> = const { RefCell::new(Vec::new()) };
    /// The last shared frames compressed on this shard.
    static MEMO: RefCell<VecDeque<Memo>> = const { RefCell::new(VecDeque::new()) };
}

/// The sending side of permessage-deflate on one connection.
#[derive(Debug)]
pub(super) struct DeflateOut {
    /// What was agreed.
    agreed: Agreed,
    /// The connection's own compressor (context takeover); `None`: the
    /// shard's shared ones.
    own: Option<Deflater>,
}

impl DeflateOut {
    /// The sending side for what was `agreed`.
    pub fn new(agreed: Agreed) -> Self {
        let own = (!agreed.server_no_context_takeover)
            .then(|| Deflater::new(agreed.server_window_bits, agreed.level, false));
        DeflateOut { agreed, own }
    }

    /// The compressed payload to send for `frame`, or `None` to send it as
    /// it is (short, or not shorter compressed).
    pub fn compress(&mut self, frame: &OutFrame) -> Option<Bytes> {
        if frame.len() < self.agreed.threshold {
            return None;
        }
        if let Some(own) = &mut self.own {
            return Some(Bytes::from(own.compress(frame)));
        }
        let key = (self.agreed.server_window_bits, self.agreed.level);
        let shared = match frame {
            OutFrame::Shared(rc) => Some(rc),
            OutFrame::Own(_) => None,
        };
        if let Some(rc) = shared
            && let Some(hit) = MEMO.with(|m| {
                m.borrow()
                    .iter()
                    .find(|(f, k, _)| Rc::ptr_eq(f, rc) && *k == key)
                    .map(|(_, _, z)| z.clone())
            })
        {
            return (hit.len() < frame.len()).then_some(hit);
        }
        let z = Bytes::from(SHARED.with(|s| {
            let mut s = s.borrow_mut();
            let at = match s.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    s.push((key, Deflater::new(key.0, key.1, true)));
                    s.len() - 1
                }
            };
            s[at].1.compress(frame)
        }));
        if let Some(rc) = shared {
            MEMO.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() == MEMO_SIZE {
                    m.pop_front();
                }
                m.push_back((Rc::clone(rc), key, z.clone()));
            });
        }
        (z.len() < frame.len()).then_some(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::websocket::deflate::Inflater;

    fn agreed(no_context_takeover: bool) -> Agreed {
        Agreed {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: true,
            server_window_bits: 15,
            client_window_bits: 15,
            level: 6,
            threshold: 64,
        }
    }

    fn inflate(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Inflater::new(true)
            .inflate(z, true, &mut out, 1 << 20)
            .expect("inflates");
        out
    }

    #[test]
    fn short_frames_go_as_they_are_and_long_ones_compressed() {
        let mut d = DeflateOut::new(agreed(true));
        assert_eq!(d.compress(&OutFrame::Own(Bytes::from_static(b"[1]"))), None);
        let text = Bytes::from("[36,1,2,{},[\"x\"]]".repeat(20));
        let z = d
            .compress(&OutFrame::Own(text.clone()))
            .expect("compressed");
        assert!(z.len() < text.len());
        assert_eq!(inflate(&z), text);
        // Random octets do not get shorter: sent as they are.
        let noise: Vec<u8> = (0..512u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        assert_eq!(d.compress(&OutFrame::Own(Bytes::from(noise))), None);
    }

    #[test]
    fn a_shared_frame_is_compressed_once_per_shard() {
        let event = Rc::new(Bytes::from("[36,1,2,{},[\"hello\"]]".repeat(30)));
        let mut a = DeflateOut::new(agreed(true));
        let mut b = DeflateOut::new(agreed(true));
        let za = a
            .compress(&OutFrame::Shared(Rc::clone(&event)))
            .expect("compressed");
        let zb = b
            .compress(&OutFrame::Shared(Rc::clone(&event)))
            .expect("compressed");
        assert_eq!(
            za.as_ptr(),
            zb.as_ptr(),
            "the same octets, not a second compression"
        );
        assert_eq!(inflate(&zb), &event[..]);
        // Equal content in another allocation is compressed on its own (and equally).
        let other = Rc::new(Bytes::copy_from_slice(&event));
        let zc = b.compress(&OutFrame::Shared(other)).expect("compressed");
        assert_ne!(zc.as_ptr(), za.as_ptr());
        assert_eq!(zc, za);
    }

    #[test]
    fn context_takeover_keeps_a_compressor_per_connection() {
        let mut d = DeflateOut::new(agreed(false));
        let msg = Bytes::from("[16,1,{},\"com.example.topic\",[1,2,3]]".repeat(4));
        let first = d.compress(&OutFrame::Own(msg.clone())).expect("compressed");
        let second = d.compress(&OutFrame::Own(msg.clone())).expect("compressed");
        assert!(
            second.len() < first.len(),
            "the second refers back to the first"
        );
        let mut i = Inflater::new(false);
        for z in [first, second] {
            let mut out = Vec::new();
            i.inflate(&z, true, &mut out, 1 << 20).expect("inflates");
            assert_eq!(out, msg);
        }
    }
}

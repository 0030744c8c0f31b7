//! What a held connection keeps only while it has something pending, each
//! in a box that exists only then (a held, idle connection keeps one word
//! for each): the tail of a frame that has not fully arrived, and control
//! frames waiting to be written. Used by the driver in `conn.rs`.

/// The start of a frame that has not fully arrived: boxed, and only while
/// one is incomplete (a held connection keeps a pointer, not a buffer's
/// three words).
#[derive(Default)]
#[allow(clippy::box_collection)] // the box is the point: one word when absent
pub(super) struct InBuf(pub(super) Option<Box<Vec<u8>>>);

impl InBuf {
    /// The buffer, to add to (allocated now if absent).
    pub(super) fn buf(&mut self) -> &mut Vec<u8> {
        self.0.get_or_insert_default()
    }
}

/// A connection's control frames waiting to be written, and how much of
/// them went: boxed, and only while some wait (a held connection keeps a
/// pointer, not a buffer's three words and a count).
#[derive(Default)]
pub(super) struct Ctrl(Option<Box<(Vec<u8>, usize)>>);

impl Ctrl {
    /// Whether none wait.
    pub(super) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|c| c.0.is_empty())
    }

    /// Octets waiting, written or not.
    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |c| c.0.len())
    }

    /// Octets already written.
    pub(super) fn sent(&self) -> usize {
        self.0.as_ref().map_or(0, |c| c.1)
    }

    /// The octets not written yet.
    pub(super) fn unsent(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |c| &c.0[c.1..])
    }

    /// The buffer, to add frames to (allocated now if absent).
    pub(super) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.0.get_or_insert_default().0
    }

    /// `n` more octets were written.
    pub(super) fn wrote(&mut self, n: usize) {
        if let Some(c) = &mut self.0 {
            c.1 += n;
        }
    }

    /// Drops what was written; the box goes once nothing is left.
    pub(super) fn drop_sent(&mut self) {
        if let Some(c) = &mut self.0 {
            let (bytes, sent) = &mut **c;
            bytes.drain(..*sent);
            *sent = 0;
            if bytes.is_empty() {
                self.0 = None;
            }
        }
    }
}

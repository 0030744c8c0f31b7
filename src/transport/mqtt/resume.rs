//! A connection's resumption and takeover bookkeeping ([`Resume`]), kept
//! in a [`ResumeSlot`] that is allocated only while a takeover or
//! resumption is under way.
//!
//! Imports the session's id sets and the core's ids; nothing above it in
//! the MQTT front end (the connection state holds a slot).

use super::session::IdSet;
use crate::core::api::LinkId;
use crate::proto::{Message, PublicationId, ShardId};

/// Where a session's state is coming from (resumption, takeover).
#[derive(Debug, Default)]
pub struct Resume {
    /// The CONNECT asked for its session (clean start 0) and the owner's
    /// answer has not come: no CONNACK yet.
    pub awaiting: bool,
    /// A session was found: CONNACK says session present.
    pub present: bool,
    /// The session came from another shard (shard, token there), which
    /// still queues what arrives for it until told that this connection
    /// has subscribed.
    pub from: Option<(ShardId, u64)>,
    /// The links of the connections this one took the session from (this
    /// shard): closed once this connection has subscribed again.
    pub old_links: Vec<LinkId>,
    /// The wills of those connections, published through their links.
    pub old_wills: Vec<(LinkId, Message)>,
    /// Tokens of those connections: a `Handover` or `Tail` addressed to
    /// one of them (it was still settling) is this connection's.
    pub aliases: Vec<u64>,
    /// WAMP subscriptions of the resumed session not confirmed yet.
    pub restoring: usize,
    /// Publications delivered while an old link or a tail may deliver them
    /// too (duplicates are dropped).
    pub seen: IdSet<PublicationId>,
    /// A kick that came while this connection waited for its session: it
    /// is handled once the session is here (the new connection, resume).
    pub kick: Option<((ShardId, u64), bool)>,
    /// (Old side) the new connection has subscribed while this
    /// connection's task was still ending: the tail goes once it is offline.
    pub tail_due: bool,
}

impl Resume {
    /// Nothing under way: no session awaited, no old link or tail to
    /// wait for, no old connection's token to answer for.
    fn is_idle(&self) -> bool {
        !self.awaiting
            && self.from.is_none()
            && self.old_links.is_empty()
            && self.old_wills.is_empty()
            && self.aliases.is_empty()
            && self.restoring == 0
            && self.seen.is_empty()
            && self.kick.is_none()
            && !self.tail_due
    }
}

/// A [`Resume`] that exists only while a takeover or resumption is under
/// way: an idle connection keeps a pointer, not the 170 bytes of its
/// fields. Reading an absent one reads the defaults; changing it
/// allocates it; [`ResumeSlot::release_if_idle`] frees it once settled.
#[derive(Debug, Default)]
pub struct ResumeSlot(Option<Box<Resume>>);

thread_local! {
    /// What an absent [`ResumeSlot`] reads as (one per thread, never freed).
    static NO_RESUME: &'static Resume = Box::leak(Box::default());
}

impl std::ops::Deref for ResumeSlot {
    type Target = Resume;

    fn deref(&self) -> &Resume {
        match &self.0 {
            Some(r) => r,
            None => NO_RESUME.with(|r| *r),
        }
    }
}

impl std::ops::DerefMut for ResumeSlot {
    fn deref_mut(&mut self) -> &mut Resume {
        self.0.get_or_insert_with(Box::default)
    }
}

impl ResumeSlot {
    /// The wills of the connections taken over, taken (without allocating).
    pub fn take_old_wills(&mut self) -> Vec<(LinkId, Message)> {
        self.0
            .as_mut()
            .map(|r| std::mem::take(&mut r.old_wills))
            .unwrap_or_default()
    }

    /// Frees the fields once nothing is under way (CONNACK has gone: the
    /// session-present flag was read).
    pub fn release_if_idle(&mut self) {
        if self.0.as_ref().is_some_and(|r| r.is_idle()) {
            self.0 = None;
        }
    }

    /// Whether the fields are allocated (tests).
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

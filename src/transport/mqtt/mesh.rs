//! What the MQTT front ends of different shards tell each other, and how:
//! the takeover messages ([`Takeover`], see [`super::takeover`]), the
//! shared-subscription messages ([`ShareMsg`], see [`super::share`]), the
//! [`Mesh`] they travel on, and the owner shards of client identifiers and
//! groups. Plain data: the state machines that send and handle these live
//! in `takeover.rs` and `share.rs`.
//!
//! Imports the session's moved form ([`SessionData`]) and the core's
//! cluster API; nothing of the connection's state.

use std::collections::BTreeMap;

use super::Service;
use super::session::SessionData;
use crate::config::mqtt::{PayloadFormat, SharedStrategy};
use crate::core::api::LinkId;
use crate::core::cluster::FrontMsg;
use crate::proto::ShardId;
use crate::proto::mqtt::QoS;
use crate::store::mqtt::StoredMsg;

/// What shards tell each other about client identifiers and sessions.
#[derive(Debug, Clone, PartialEq)]
pub enum Takeover {
    /// To the owner: this connection holds `client` now.
    Claim {
        /// The client identifier.
        client: String,
        /// The holder's shard.
        shard: ShardId,
        /// The connection.
        token: u64,
        /// It asked for its session (clean start 0).
        resume: bool,
    },
    /// To a holder's shard: end this session's connection; hand the session
    /// to `next` when `resume`, else end it.
    Kick {
        /// The client identifier.
        client: String,
        /// The session's connection.
        token: u64,
        /// The new connection (shard, token).
        next: (ShardId, u64),
        /// The new connection asked for the session.
        resume: bool,
    },
    /// To the new connection: its session (`None`: there was none to resume).
    Handover {
        /// The client identifier.
        client: String,
        /// The new connection.
        token: u64,
        /// Where the session was (shard, token): it sends the tail.
        from: (ShardId, u64),
        /// The session.
        data: Option<Box<SessionData>>,
    },
    /// To the old shard: the new connection's subscriptions are in place.
    Subscribed {
        /// The client identifier.
        client: String,
        /// The old session's token.
        token: u64,
    },
    /// To the new connection: what the old shard queued after the hand-over.
    Tail {
        /// The client identifier.
        client: String,
        /// The new connection.
        token: u64,
        /// The messages, oldest first.
        msgs: Vec<StoredMsg>,
    },
    /// To the owner: this session ended.
    Release {
        /// The client identifier.
        client: String,
        /// The connection.
        token: u64,
    },
}

/// How the front end reaches the mesh (the shard's router).
pub trait Mesh {
    /// This shard and the shard count.
    fn shard(&self) -> (ShardId, u16);
    /// Sends to another shard.
    fn send(&self, to: ShardId, msg: Takeover);
    /// Closes a link of this shard (a session handed over or ended).
    fn close_link(&self, link: LinkId);
    /// Sends any front-end message to another shard.
    fn send_front(&self, to: ShardId, msg: FrontMsg);
    /// Opens a trusted in-process session (a shared-subscription group).
    fn open_service(&self, realm: &str, out: crate::core::api::Output) -> Option<LinkId>;
    /// Feeds a message to a link of this shard.
    fn feed(&self, link: LinkId, msg: crate::proto::Message);
}

/// The owner shard of a client identifier (FNV-1a: stable across runs and builds).
pub fn owner_of(client: &str, shards: u16) -> ShardId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in client.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    ShardId((h % u64::from(shards.max(1))) as u16)
}

/// A group: (realm, ShareName, filter).
pub type GroupKey = (String, String, String);

/// What shards tell each other about shared subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub enum ShareMsg {
    /// To the group's owner: `client` (connection `token` on `shard`) is a
    /// member, or its options changed.
    Join {
        /// The group.
        key: GroupKey,
        /// The member's client identifier.
        client: String,
        /// Its shard.
        shard: ShardId,
        /// Its connection.
        token: u64,
        /// Maximum QoS.
        qos: QoS,
        /// Subscription Identifier (5.0).
        sub_id: Option<u32>,
        /// The member's payload mapping (WAMP publications become MQTT
        /// payloads in its format).
        mapping: BTreeMap<String, PayloadFormat>,
        /// The member's listener's strategy (the first member's applies).
        strategy: SharedStrategy,
    },
    /// To the group's owner: the membership of connection `token` ends.
    Leave {
        /// The group.
        key: GroupKey,
        /// The member's client identifier.
        client: String,
        /// Its connection.
        token: u64,
    },
    /// To a member's shard: a message for it.
    Deliver {
        /// The member's client identifier.
        client: String,
        /// Its shared filter (`$share/{group}/{filter}`).
        share: String,
        /// The message (its QoS already the lower of publication and member).
        msg: Box<StoredMsg>,
    },
}

/// The owner shard of a group.
pub fn owner(key: &GroupKey, shards: u16) -> ShardId {
    owner_of(&format!("{}\0{}\0{}", key.0, key.1, key.2), shards)
}

/// The Leave of a member's shared filter.
pub fn leave_of(svc: &Service, client: &str, token: u64, share: &str) -> Option<ShareMsg> {
    let (group, filter) = split(share)?;
    Some(ShareMsg::Leave {
        key: (svc.realm.clone(), group, filter),
        client: client.to_owned(),
        token,
    })
}

/// (ShareName, filter) of a `$share/...` filter.
pub fn split(share: &str) -> Option<(String, String)> {
    match crate::proto::mqtt::topic::parse_shared(share) {
        Ok(Some(s)) => Some((s.group.to_owned(), s.filter.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_spread_and_are_stable() {
        assert_eq!(owner_of("device-1", 1), ShardId(0));
        let a = owner_of("device-1", 8);
        assert_eq!(a, owner_of("device-1", 8));
        let spread: std::collections::BTreeSet<u16> =
            (0..200).map(|i| owner_of(&format!("d{i}"), 8).0).collect();
        assert_eq!(
            spread.len(),
            8,
            "200 identifiers reach every one of 8 shards"
        );
    }

    #[test]
    fn groups_split_and_have_stable_owners() {
        assert_eq!(
            split("$share/g1/a/+/c"),
            Some(("g1".into(), "a/+/c".into()))
        );
        assert_eq!(split("a/b"), None);
        let k: GroupKey = ("realm1".into(), "g".into(), "a/#".into());
        assert_eq!(owner(&k, 4), owner(&k, 4));
        assert_eq!(owner(&k, 1), ShardId(0));
    }
}

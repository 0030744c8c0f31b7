//! A connection's session over its life: installed (new, resumed, or
//! moved from another shard), its incarnation started and ended in the
//! log, its meta record and will kept, its subscriptions made again after
//! a resumption (duplicates dropped while an old link or a tail may still
//! deliver), its shared-subscription memberships joined and left.
//!
//! `impl State` in the connection's own module tree; imports the session
//! and the mesh messages, nothing above the connection.

use super::mesh::{ShareMsg, Takeover};
use super::session::{IdSet, Persist, SessionData, next_key};
use super::state::{PendingSub, Phase, State, delay_of};
use crate::proto::{PublicationId, ShardId};
use crate::store::mqtt::{Record, StoredWill};

impl State {
    /// The resumed session arrived from another shard (or none was found).
    pub fn install(&mut self, data: Option<SessionData>, from: Option<(ShardId, u64)>) {
        self.rare.resume.awaiting = false;
        if let Some(d) = data {
            let expiry_s = self.p.expiry_s;
            let version = self.version;
            // The incarnation moves with it (counted once in the process).
            let mut p = Persist::unpack(d, self.owner(), version);
            p.expiry_s = expiry_s;
            self.rare.resume.present = true;
            self.rare.resume.from = from;
            self.p = p;
            // The connection ended while the session was on its way and
            // stays offline here: it will not subscribe now (its client
            // resubscribes when it returns), so the old shard must not wait
            // for it to, as `finish` tells it for a connection that ends
            // after the session came.
            if self.phase == Phase::Offline
                && let Some(old) = from
            {
                self.tell_subscribed(old);
            }
        } else if let Some(old) = from {
            // Nothing came but the old shard waits: tell it.
            self.tell_subscribed(old);
        }
        let _ = self.maybe_up();
        self.wake();
    }

    /// A persistent session gets an incarnation in the log (a realm with a
    /// file store), or loses it when it is no longer persistent.
    pub fn start_incarnation(&mut self) {
        if self.p.persistent() && self.p.inc == 0 && super::ctx::durable(&self.svc.realm) {
            self.p.inc = next_key(super::ctx::shard_index());
            super::ctx::adopt_incarnation();
        } else if !self.p.persistent() && self.p.inc != 0 {
            self.end_incarnation();
        }
    }

    /// The session's incarnation ends: its records go (`End`).
    pub fn end_incarnation(&mut self) {
        if self.p.inc != 0 {
            self.write(Record::End);
            self.p.inc = 0;
            super::ctx::drop_incarnation();
        }
    }

    /// The subscriptions changed: the session's meta record again.
    pub fn write_meta(&self) {
        if self.p.inc != 0 {
            let meta = self.p.meta(self.version, &self.svc.transport.id, true);
            self.write(Record::Meta(meta));
        }
    }

    /// The connection came up: a durable session keeps its will (due 0:
    /// the connection is open) or drops one an earlier connection left
    /// (see `will.rs`).
    pub(super) fn keep_will(&self) {
        if self.p.inc == 0 {
            return;
        }
        match &self.rare.will {
            Some(w) => self.write(Record::Will(Box::new(StoredWill {
                due_ms: 0,
                delay_s: delay_of(w, self.version),
                will: (**w).clone(),
            }))),
            None => self.write(Record::DelWill),
        }
    }

    /// Subscribes the resumed session's filters again through this link
    /// (no retained messages: those come with a SUBSCRIBE only); its shared
    /// subscriptions join their groups from this shard.
    pub fn resubscribe(&mut self) {
        let filters: Vec<String> = self.p.filters.keys().cloned().collect();
        let me = ShardId(super::ctx::shard_index());
        for filter in filters {
            if let Some(join) = self.share_join(&filter, me) {
                self.chores().share.push(join);
                continue;
            }
            if let Some(f) = self.p.filters.get_mut(&filter) {
                f.wamp.clear();
            }
            let map = super::mapping::filter_to_wamp(&filter);
            for (i, (uri, policy)) in map.wamp.into_iter().enumerate() {
                let request = self.request();
                self.rare.pending_subs.insert(
                    request,
                    PendingSub {
                        packet_id: None,
                        index: 0,
                        filter: filter.clone(),
                        parent: super::mapping::FilterMap::is_parent(i),
                    },
                );
                self.rare.resume.restoring += 1;
                self.rare
                    .todo
                    .push(super::mapping::wamp_subscribe(request, uri, policy, false));
            }
        }
        if self.rare.resume.restoring == 0 {
            self.restored();
        }
        self.wake();
    }

    /// Every subscription of the resumed session is in place: the old link
    /// of this shard closes, or the shard the session came from sends the tail.
    pub(super) fn restored(&mut self) {
        let links = std::mem::take(&mut self.rare.resume.old_links);
        self.chores().close.extend(links);
        if let Some(old) = self.rare.resume.from {
            self.tell_subscribed(old);
        }
        self.wake();
    }

    /// Tells the shard the session came from (`old`: its shard and the
    /// token of its state there, collecting the tail) that it may send the
    /// tail and close its link: this connection's subscriptions are in
    /// place, or it will not make them.
    pub(super) fn tell_subscribed(&mut self, (shard, token): (ShardId, u64)) {
        let msg = Takeover::Subscribed {
            client: self.client_id.to_string(),
            token,
        };
        self.chores().front.push((shard, msg));
    }

    /// Whether an old link or a tail may still deliver what this link delivers.
    pub fn settling(&self) -> bool {
        !self.rare.resume.old_links.is_empty() || self.rare.resume.from.is_some()
    }

    /// Whether a publication was already delivered (through the old link or
    /// the tail); records it while either may still deliver.
    pub fn duplicate(&mut self, publication: PublicationId, retained: bool) -> bool {
        if retained || !self.settling() {
            if !self.rare.resume.seen.is_empty() {
                self.rare.resume.seen = IdSet::default();
            }
            return false;
        }
        !self.rare.resume.seen.insert(publication)
    }

    /// The Join of a member's shared filter (subscribe, resumption).
    pub fn share_join(&self, share: &str, shard: ShardId) -> Option<ShareMsg> {
        let (group, filter) = super::mesh::split(share)?;
        let f = self.p.filters.get(share)?;
        Some(ShareMsg::Join {
            key: (self.svc.realm.clone(), group, filter),
            client: self.client_id.to_string(),
            shard,
            token: self.token,
            qos: f.qos,
            sub_id: f.sub_id,
            mapping: self.svc.payload_mapping.clone(),
            strategy: self.svc.limits.shared_strategy,
        })
    }

    /// The session ends: its shared-subscription memberships end too.
    pub fn leave_shares(&mut self) {
        let leaves: Vec<ShareMsg> = self
            .p
            .filters
            .keys()
            .filter_map(|f| super::mesh::leave_of(&self.svc, &self.client_id, self.token, f))
            .collect();
        self.chores().share.extend(leaves);
    }
}

//! What the process asks of one shard's router besides routing: a graceful
//! drain before shutdown, and applying a reloaded config.
//!
//! **Drain** ([`ShardRouter::drain`]): every session gets GOODBYE
//! `wamp.close.system_shutdown` and ends at once on the router's side
//! (subscriptions and registrations go, `on_leave` is published); its link
//! stays open for the client's GOODBYE reply, after which the router closes
//! it. Links without a session are closed now and new links are refused.
//! The runtime waits for the links to go, up to its timeout, then closes the
//! rest ([`ShardRouter::shutdown`]).
//!
//! **Reload** ([`ShardRouter::apply`]): realms keep their index
//! ([`RealmIdx`] travels in cross-shard messages, so every shard must agree
//! on it): a realm that stays is updated in place (URI rule, roles and
//! their static permissions, trust levels, dynamic authorizers), a new
//! realm is appended, a removed realm is only unnamed (HELLO for it gets
//! `no_such_realm`) and its sessions get GOODBYE `wamp.close.close_realm`.
//! A realm added back under a removed realm's name takes that realm's
//! index again, with its broker and dealer state as the removal left them:
//! no session, subscription or registration, but its retained events and
//! history, as across a restart with a file store. (It once took a new
//! index each time, and a router reloaded with a toggling realm grew
//! without end.) Its state is not reset because shards that re-added it
//! first may already have sent their peers messages about it. Sessions of a transport
//! the new config no longer has get GOODBYE `wamp.close.system_shutdown`.
//! Every shard applies the same configs in the same order, so the indices
//! agree, but not at the same moment: the node reloads the shards one after
//! the other, so a shard that has appended a realm may already send its
//! peers messages about it (a SUBSCRIBE's `SubJoin` to the owner shard).
//! A shard that has not added that realm yet keeps such messages, in the
//! order they came, and handles them right after its own reload added the
//! realm ([`ShardRouter::ahead_of_reload`]); they once indexed past its
//! realms and panicked the shard. A realm's event store (history,
//! persistence) is set up when the realm is created and not changed by a
//! reload (the node says so).
//! Sessions the change does not touch are not disturbed.

use std::borrow::Cow;
use std::collections::VecDeque;

use ahash::{AHashMap, AHashSet};

use super::ShardRouter;
use super::api::{FrontEnd, LinkId};
use super::cluster::{RealmIdx, ShardMsg};
use super::outbox::CloseReason;
use super::realm::Realm;
use super::session::Phase;
use super::uris;
use crate::config::Config;
use crate::proto::{Dict, Goodbye, Message, ShardId};

/// What a drain or a reload keeps between inputs.
#[derive(Default)]
pub(super) struct OpsState {
    /// A drain started: new links are refused.
    pub draining: bool,
    /// Links whose session got the router's GOODBYE during a drain and
    /// whose client has not answered yet.
    pub awaiting_goodbye: AHashSet<LinkId>,
    /// Messages from other shards about realms this shard has not added
    /// yet (they reloaded first), in the order they came.
    pub ahead: VecDeque<(ShardId, ShardMsg)>,
    /// Realms a reload removed, by name: the index a reload that adds the
    /// name back gives it again (every shard keeps the same map).
    pub retired: AHashMap<String, RealmIdx>,
}

/// What [`ShardRouter::apply`] changed on this shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Realms added, by name.
    pub realms_added: Vec<String>,
    /// Realms removed, by name.
    pub realms_removed: Vec<String>,
    /// Sessions closed because their realm or transport went away.
    pub sessions_closed: usize,
}

impl ShardRouter {
    /// Starts a graceful drain (see the module header).
    pub fn drain(&mut self) {
        self.ops.draining = true;
        for link in self.cx.links.ids() {
            let Some(l) = self.cx.links.get(link) else {
                continue;
            };
            if l.info.kind == FrontEnd::Internal || l.closing() {
                continue;
            }
            if self.cx.links.session(link).is_some() {
                self.goodbye(link, uris::SYSTEM_SHUTDOWN, None);
                self.end_session(link, false);
                self.ops.awaiting_goodbye.insert(link);
            } else {
                self.end_session(link, true);
                self.cx.links.close_link(link, CloseReason::GoingAway);
            }
        }
        self.settle();
    }

    /// Links of clients (the router's own in-process sessions not counted):
    /// what a drain waits for.
    pub fn client_link_count(&self) -> usize {
        self.cx.links.len() - self.internal.link_count()
    }

    /// Client links that have no connection of their own: the service
    /// sessions of front ends (the HTTP bridge's paths), and those of
    /// `detached` (links a front end holds without a connection: MQTT
    /// sessions kept while their client is away) that are client links of
    /// this shard. [`ShardRouter::client_link_count`] less them is the
    /// number of open connections.
    pub fn unconnected_client_links(&self, detached: &[LinkId]) -> usize {
        self.internal.client_service_count() + self.detached_client_links(detached)
    }

    /// How many of `detached` are client links of this shard.
    pub fn detached_client_links(&self, detached: &[LinkId]) -> usize {
        detached
            .iter()
            .filter(|l| self.cx.links.get(**l).is_some() && !self.internal.is_internal(**l))
            .count()
    }

    /// A message on a link whose session got the router's GOODBYE during
    /// a drain: GOODBYE (the reply) or ABORT closes the link; anything else
    /// (a new HELLO) is answered with ABORT `wamp.close.system_shutdown`.
    pub(super) fn after_goodbye(&mut self, link: LinkId, msg: &Message) {
        self.ops.awaiting_goodbye.remove(&link);
        match msg {
            Message::Goodbye(_) | Message::Abort(_) => {
                self.cx.links.close_link(link, CloseReason::Normal);
            }
            _ => {
                self.cx.links.abort(
                    link,
                    uris::SYSTEM_SHUTDOWN,
                    Cow::Borrowed("the router is shutting down"),
                );
            }
        }
    }

    /// Sends GOODBYE with `reason` (and `message` in its details) to the session on `link`.
    fn goodbye(&mut self, link: LinkId, reason: &str, message: Option<String>) {
        let mut details = Dict::new();
        if let Some(m) = message {
            details.insert("message", m);
        }
        let bye = Message::Goodbye(Goodbye {
            details,
            reason: reason.into(),
        });
        self.cx.links.send(link, &bye);
    }

    /// Applies a reloaded config (see the module header): realms added,
    /// removed or changed; sessions of removed realms and transports closed
    /// with GOODBYE; limits for new links; the latency switch.
    pub fn apply(&mut self, config: &Config) -> Applied {
        let mut out = Applied::default();
        // Realms that go: unnamed, their sessions closed.
        let keep: AHashSet<&str> = config.realms.iter().map(|r| r.name.as_str()).collect();
        let gone: Vec<(String, RealmIdx)> = self
            .cx
            .realm_names
            .iter()
            .filter(|(name, _)| !keep.contains(name.as_str()))
            .map(|(name, idx)| (name.clone(), *idx))
            .collect();
        for (name, idx) in gone {
            self.cx.realm_names.remove(&name);
            self.authz.forget_realm(idx);
            self.ops.retired.insert(name.clone(), idx);
            out.sessions_closed += self.close_where(
                |realm, _| realm == Some(idx),
                uris::CLOSE_REALM,
                &format!("realm '{name}' was removed from the router's configuration"),
            );
            tracing::info!(realm = %name, "realm removed");
            out.realms_removed.push(name);
        }
        // Realms that stay get their new settings; new ones are appended.
        for rc in &config.realms {
            match self.cx.realm_names.get(&rc.name) {
                Some(&idx) => self.cx.realms[idx as usize] = Realm::new(rc),
                None => {
                    let idx = match self.ops.retired.remove(&rc.name) {
                        // Back in its old place: its broker and dealer state
                        // were kept (see the module header).
                        Some(idx) => {
                            self.cx.realms[idx as usize] = Realm::new(rc);
                            idx
                        }
                        None => {
                            let idx = self.cx.realms.len() as RealmIdx;
                            self.cx.realms.push(Realm::new(rc));
                            self.broker.add_realm(&self.cx, rc);
                            self.dealer.add_realm();
                            idx
                        }
                    };
                    self.cx.realm_names.insert(rc.name.clone(), idx);
                    tracing::info!(realm = %rc.name, "realm added");
                    out.realms_added.push(rc.name.clone());
                }
            }
        }
        // Calls waiting in a call queue that the new config no longer has.
        self.dealer.reload_queues(&mut self.cx);
        // Dynamic authorizers as the config names them now.
        self.authz.forget_configured();
        self.install_configured_authorizers(config);
        // Sessions of transports that go.
        let transports: AHashSet<&str> = config.transports.iter().map(|t| t.id.as_str()).collect();
        out.sessions_closed += self.close_where(
            |_, transport| !transports.contains(transport),
            uris::SYSTEM_SHUTDOWN,
            "its transport was removed from the router's configuration",
        );
        // Answers cached for the old permissions no longer hold.
        self.authz.clear_cache();
        self.cx.limits = config.limits.clone();
        self.cx.links.metrics.timing = config.node.metrics;
        // Messages about the realms just added, from shards that reloaded first.
        for (from, msg) in std::mem::take(&mut self.ops.ahead) {
            if let Some((from, msg)) = self.ahead_of_reload(from, msg) {
                self.peer_msg(from, msg);
            }
        }
        self.settle();
        out
    }

    /// `Some` when a message from another shard can be handled now; `None`
    /// when it is about a realm this shard has not added yet (kept, in
    /// order, until [`Self::apply`] adds it). Messages about other realms
    /// go on: nothing orders one realm's messages after another's.
    pub(super) fn ahead_of_reload(
        &mut self,
        from: ShardId,
        msg: ShardMsg,
    ) -> Option<(ShardId, ShardMsg)> {
        let unknown = msg
            .realm()
            .is_some_and(|r| r as usize >= self.cx.realms.len());
        if unknown {
            tracing::debug!(
                shard = self.cx.shard.0,
                from = from.0,
                "a message about a realm this shard has not added yet: kept until its reload"
            );
            self.ops.ahead.push_back((from, msg));
            return None;
        }
        Some((from, msg))
    }

    /// Closes every client link for which `hit(realm, transport id)` holds
    /// (`realm`: the realm of its session or of the session being
    /// authenticated): a session gets GOODBYE `reason` with `message`, a
    /// session being authenticated gets ABORT. Returns how many sessions
    /// (joined or joining) were closed.
    fn close_where(
        &mut self,
        hit: impl Fn(Option<RealmIdx>, &str) -> bool,
        reason: &str,
        message: &str,
    ) -> usize {
        let victims: Vec<(LinkId, bool)> = self
            .cx
            .links
            .iter()
            .filter(|(_, l)| l.info.kind != FrontEnd::Internal && !l.closing())
            .filter_map(|(id, l)| {
                let realm = match &l.phase {
                    Phase::Established(s) => Some(s.realm),
                    Phase::Authenticating(j) => j.realm.as_ref().ok().copied(),
                    Phase::Challenged(c) => c.0.realm.as_ref().ok().copied(),
                    Phase::Connected => None,
                };
                let joined = matches!(l.phase, Phase::Established(_));
                hit(realm, &l.info.transport.id).then_some((id, joined))
            })
            .collect();
        let mut closed = 0;
        for (link, joined) in victims {
            if joined {
                self.goodbye(link, reason, Some(message.to_owned()));
                self.end_session(link, false);
                self.cx.links.close_link(link, CloseReason::Normal);
                closed += 1;
            } else {
                let phase_joining = self
                    .cx
                    .links
                    .get(link)
                    .is_some_and(|l| !matches!(l.phase, Phase::Connected));
                if let Some(l) = self.cx.links.get(link) {
                    self.sessions.forget(link, &l.phase);
                }
                closed += usize::from(phase_joining);
                self.cx
                    .links
                    .abort(link, reason, Cow::Owned(message.to_owned()));
            }
        }
        closed
    }
}

//! `$share/{group}/{filter}` shared subscriptions, across shards. Each group
//! (realm, ShareName, filter) has an **owner shard** (a hash of the three,
//! like client identifiers) that holds the group: its members (client
//! identifier, shard, QoS, Subscription Identifier, payload mapping), and
//! one trusted in-process session ([`RouterPort::open_service`](super::RouterPort::open_service)) subscribed
//! to the filter's WAMP URIs. Every publication that reaches that session
//! goes to exactly one member, picked by the listener's
//! `shared_subscriptions` strategy (`round_robin`, `random`, or `sticky`:
//! every publication of one publisher to the same member while it stays),
//! and travels to the member's shard as a `Deliver` (a stored message),
//! where it is sent (or queued, when the member's persistent session is
//! offline) like any other delivery.
//!
//! Members join when they subscribe (or when their session is resumed on a
//! shard, which moves the membership there) and leave when they unsubscribe
//! or their session ends; a `Leave` names the connection (token), so a late
//! one never removes a newer membership of the same client. The last member
//! leaving closes the group's session. Retained messages are not sent on a
//! shared subscription (MQTT-4.8.2), and No Local is refused by the codec.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use ahash::AHashMap;

use super::mapping;
use super::mesh::{GroupKey, Mesh, ShareMsg, owner};
use super::out::PubOut;
use super::sink::{PubCache, Source};
use super::state::Phase;
use crate::config::mqtt::{PayloadFormat, SharedStrategy};
use crate::core::api::{EventOut, FrontSink, LinkId, Output};
use crate::core::cluster::FrontMsg;
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::message::code;
use crate::proto::mqtt::{QoS, Version};
use crate::proto::{Message, RequestId, SessionId, ShardId, SubscriptionId};
use crate::store::mqtt::StoredMsg;

/// Sends `msg` where it belongs: a `Join`/`Leave` to the group's owner, a
/// `Deliver` to `to`; handled in place on this shard.
pub fn send(mesh: &dyn Mesh, to: Option<ShardId>, msg: ShareMsg) {
    let (me, shards) = mesh.shard();
    let dest = match (&msg, to) {
        (ShareMsg::Join { key, .. } | ShareMsg::Leave { key, .. }, _) => owner(key, shards),
        (_, Some(t)) => t,
        (_, None) => me,
    };
    if dest == me {
        handle(mesh, msg);
    } else {
        mesh.send_front(dest, FrontMsg(Box::new(msg)));
    }
}

/// One member of a group.
#[derive(Debug, Clone)]
struct Member {
    client: String,
    shard: ShardId,
    token: u64,
    qos: QoS,
    sub_id: Option<u32>,
    mapping: BTreeMap<String, PayloadFormat>,
}

/// A group on its owner shard.
#[derive(Debug)]
struct Group {
    key: GroupKey,
    /// The group's session (`None` until opened, or for an unknown realm).
    link: Option<LinkId>,
    /// Whether the filter's WAMP subscriptions cover it exactly.
    exact: bool,
    /// Its WAMP subscriptions.
    subs: Vec<SubscriptionId>,
    members: Vec<Member>,
    strategy: SharedStrategy,
    /// Round robin: the next member.
    next: usize,
    /// Sticky: publisher → member's client identifier.
    sticky: AHashMap<SessionId, String>,
}

impl Group {
    /// The member for a publication of `publisher`.
    fn pick(&mut self, publisher: SessionId) -> Option<usize> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        match self.strategy {
            SharedStrategy::RoundRobin => {
                let i = self.next % n;
                self.next = (i + 1) % n;
                Some(i)
            }
            SharedStrategy::Random => Some(rand::random::<u32>() as usize % n),
            SharedStrategy::Sticky => {
                if let Some(c) = self.sticky.get(&publisher)
                    && let Some(i) = self.members.iter().position(|m| &m.client == c)
                {
                    return Some(i);
                }
                let i = self.next % n;
                self.next = (i + 1) % n;
                self.sticky
                    .insert(publisher, self.members[i].client.clone());
                Some(i)
            }
        }
    }
}

type GroupRef = Rc<RefCell<Group>>;

thread_local! {
    /// The groups this shard owns.
    static GROUPS: RefCell<AHashMap<GroupKey, GroupRef>> = RefCell::new(AHashMap::new());
}

/// Members of the groups this shard owns (tests, logs).
pub fn members_on_shard() -> usize {
    GROUPS.with(|g| g.borrow().values().map(|x| x.borrow().members.len()).sum())
}

/// One shared-subscription message, on this shard.
pub fn handle(mesh: &dyn Mesh, msg: ShareMsg) {
    match msg {
        ShareMsg::Join {
            key,
            client,
            shard,
            token,
            qos,
            sub_id,
            mapping,
            strategy,
        } => {
            let group = GROUPS.with(|g| g.borrow().get(&key).cloned());
            let group = match group {
                Some(g) => g,
                None => open(mesh, key.clone(), strategy),
            };
            let mut g = group.borrow_mut();
            let m = Member {
                client,
                shard,
                token,
                qos,
                sub_id,
                mapping,
            };
            match g.members.iter_mut().find(|x| x.client == m.client) {
                Some(x) => *x = m,
                None => g.members.push(m),
            }
        }
        ShareMsg::Leave { key, client, token } => {
            let Some(group) = GROUPS.with(|g| g.borrow().get(&key).cloned()) else {
                return;
            };
            let mut guard = group.borrow_mut();
            let g = &mut *guard;
            g.members
                .retain(|m| !(m.client == client && m.token == token));
            let members = &g.members;
            g.sticky.retain(|_, c| g_has(members, c));
            if g.members.is_empty() {
                if let Some(link) = g.link.take() {
                    mesh.close_link(link);
                }
                GROUPS.with(|x| x.borrow_mut().remove(&key));
            }
        }
        ShareMsg::Deliver { client, share, msg } => deliver(&client, &share, &msg),
    }
}

fn g_has(members: &[Member], client: &str) -> bool {
    members.iter().any(|m| m.client == client)
}

/// A new group: its session, subscribed to the filter's URIs.
fn open(mesh: &dyn Mesh, key: GroupKey, strategy: SharedStrategy) -> GroupRef {
    let map = mapping::filter_to_wamp(&key.2);
    let group = Rc::new(RefCell::new(Group {
        key: key.clone(),
        link: None,
        exact: map.exact,
        subs: Vec::new(),
        members: Vec::new(),
        strategy,
        next: 0,
        sticky: AHashMap::new(),
    }));
    GROUPS.with(|g| g.borrow_mut().insert(key.clone(), Rc::clone(&group)));
    let sink = Rc::new(RefCell::new(GroupSink(Rc::clone(&group))));
    let Some(link) = mesh.open_service(&key.0, Output::Sink(sink)) else {
        tracing::debug!(realm = %key.0, "shared subscription for an unknown realm");
        return group;
    };
    group.borrow_mut().link = Some(link);
    for (i, (uri, policy)) in map.wamp.into_iter().enumerate() {
        let sub = mapping::wamp_subscribe(RequestId(i as u64 + 1), uri, policy, false);
        mesh.feed(link, sub);
    }
    tracing::debug!(realm = %key.0, group = %key.1, filter = %key.2, "shared subscription group opened");
    group
}

/// A message for member `client` of shared filter `share`, on its shard.
fn deliver(client: &str, share: &str, m: &StoredMsg) {
    let Some(state) = super::clients::conn(client) else {
        tracing::debug!(%client, "shared subscription message for a session not here: dropped");
        return;
    };
    let mut guard = state.borrow_mut();
    let s = &mut *guard;
    if !s.p.filters.contains_key(share) {
        return;
    }
    let Some(p) = super::session::delivery(m, s.version) else {
        return;
    };
    let p = PubOut { key: 0, ..p };
    let r = if s.phase == Phase::Up && s.rare.handed.is_none() {
        s.deliver(p).map(|_| ())
    } else if (s.p.persistent() || s.rare.handed.is_some()) && m.qos != QoS::AtMostOnce {
        let owner = super::session::Owner {
            svc: &s.svc,
            client: &s.client_id,
        };
        s.p.enqueue(owner, p);
        Ok(())
    } else {
        Ok(())
    };
    if r.is_err() {
        s.disconnect(
            crate::proto::mqtt::ReasonCode::QuotaExceeded,
            "outgoing queue full",
        );
    }
}

/// The group session's side: SUBSCRIBED answers and the publications.
#[derive(Debug)]
struct GroupSink(GroupRef);

impl FrontSink for GroupSink {
    fn message(&mut self, msg: &Message) -> Result<(), Overflow> {
        match msg {
            Message::Subscribed(m) => self.0.borrow_mut().subs.push(m.subscription),
            Message::Error(e) if e.request_type == code::SUBSCRIBE => {
                let g = self.0.borrow();
                tracing::warn!(realm = %g.key.0, filter = %g.key.2, error = %e.error,
                    "shared subscription refused by the router");
            }
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, ev: &mut EventOut<'_, '_>) -> Result<bool, Overflow> {
        if ev.retained {
            return Ok(false);
        }
        let mut g = self.0.borrow_mut();
        if !g.subs.contains(&ev.subscription) {
            return Ok(false);
        }
        let (publisher, publication) = (ev.publisher, ev.publication);
        let (src, uri) = (Source::of(ev), ev.topic);
        let Some(cache) = PubCache::of(ev) else {
            return Ok(false);
        };
        let Some(topic) = cache.topic().cloned() else {
            return Ok(false);
        };
        if !mapping::delivers(&g.key.2, g.exact, topic.as_str()) {
            return Ok(false);
        }
        let Some(i) = g.pick(publisher) else {
            return Ok(false);
        };
        let member = g.members[i].clone();
        let qos = member.qos.min(cache.qos);
        let format = mapping::format_of(&member.mapping, uri);
        let Some((msg, _)) = cache.delivery(&src, format, Version::V5, qos) else {
            return Ok(false);
        };
        let stored = StoredMsg {
            key: 0,
            publication: publication.0,
            at_ms: msg.at_ms,
            qos,
            retain: false,
            packet_id: None,
            released: false,
            sub_ids: member.sub_id.into_iter().collect(),
            topic: msg.topic.clone(),
            payload: msg.payload.clone(),
            props: msg.props.clone(),
        };
        let share = format!("$share/{}/{}", g.key.1, g.key.2);
        let out = ShareMsg::Deliver {
            client: member.client,
            share,
            msg: Box::new(stored),
        };
        let to = member.shard;
        // Inside the router: the shard's MQTT task sends it.
        super::ctx::later(move |port| send(&super::PortMesh(port), Some(to), out));
        Ok(true)
    }

    fn close(&mut self, _reason: CloseReason) {
        // The router ends the group's session (shutdown): nothing to keep.
        self.0.borrow_mut().link = None;
    }

    fn is_closed(&self) -> bool {
        self.0.borrow().link.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(strategy: SharedStrategy, members: &[&str]) -> Group {
        Group {
            key: ("r".into(), "g".into(), "a/#".into()),
            link: None,
            exact: false,
            subs: Vec::new(),
            members: members
                .iter()
                .map(|c| Member {
                    client: (*c).into(),
                    shard: ShardId(0),
                    token: 1,
                    qos: QoS::AtLeastOnce,
                    sub_id: None,
                    mapping: BTreeMap::new(),
                })
                .collect(),
            strategy,
            next: 0,
            sticky: AHashMap::new(),
        }
    }

    #[test]
    fn round_robin_takes_each_member_in_turn() {
        let mut g = group(SharedStrategy::RoundRobin, &["a", "b", "c"]);
        let picks: Vec<usize> = (0..7)
            .map(|i| g.pick(SessionId(i)).expect("a member"))
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn sticky_keeps_a_publisher_on_its_member_while_it_stays() {
        let mut g = group(SharedStrategy::Sticky, &["a", "b"]);
        let first = g.pick(SessionId(7)).expect("a member");
        for _ in 0..5 {
            assert_eq!(g.pick(SessionId(7)), Some(first));
        }
        let other = g.pick(SessionId(8)).expect("a member");
        assert_ne!(other, first, "a second publisher gets the next member");
        // The member leaves: the publisher moves on.
        let gone = g.members.remove(first).client;
        g.sticky.retain(|_, c| *c != gone);
        let now = g.pick(SessionId(7)).expect("a member");
        assert_eq!(g.members[now].client, g.members[0].client);
    }

    #[test]
    fn random_stays_in_range_and_reaches_every_member() {
        let mut g = group(SharedStrategy::Random, &["a", "b", "c"]);
        let mut seen = [0usize; 3];
        for i in 0..300 {
            seen[g.pick(SessionId(i)).expect("a member")] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        assert!(
            group(SharedStrategy::Random, &[])
                .pick(SessionId(1))
                .is_none()
        );
    }
}

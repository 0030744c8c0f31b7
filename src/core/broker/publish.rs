//! PUBLISH and the delivery of publications to this shard's subscribers.
//!
//! One walk of the replica index gives the local subscribers and the set of
//! remote shards with subscribers; each remote shard gets one
//! `ShardMsg::Publish` holding the decoded publication behind an `Arc`; each
//! shard encodes the EVENT once per (subscription, serializer) and queues the
//! same bytes for every subscriber ([`EventOut`]).

use std::borrow::Cow;
use std::sync::Arc;

use super::Broker;
use super::options::{PubOptions, is_reserved_topic};
use crate::core::api::LinkId;
use crate::core::api::{NATIVE_OPTION, Output};
use crate::core::authz::Grant;
use crate::core::cluster::Native;
use crate::core::cluster::{RealmIdx, RoutedPublish, ShardMsg, ShardSet};
use crate::core::ctx::Ctx;
use crate::core::session::{EventOut, Features, FrontCache};
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::passthru;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Message, Payload, PublicationId, Publish, Published, Value};

/// Why a PUBLISH in Payload Passthru Mode from a publisher that did not
/// announce the feature is a protocol violation (the spec's rule).
const PPT_UNANNOUNCED: &str = "PUBLISH in payload passthru mode (ppt_scheme) from a publisher that did not announce payload_passthru_mode";

impl Broker {
    /// A PUBLISH the guard let through (`grant`: its disclosure flags).
    pub fn publish(&mut self, cx: &mut Ctx, link: LinkId, mut m: Publish, grant: Grant) {
        let publication = PublicationId(cx.rng_id());
        let Some(s) = cx.links.session(link) else {
            return;
        };
        let realm_idx = s.realm;
        let opts = match PubOptions::parse(&m.options) {
            Ok(o) => o,
            Err(e) => {
                return publish_error(
                    cx,
                    link,
                    &m,
                    acknowledge_of(&m.options),
                    uris::INVALID_ARGUMENT,
                    e,
                );
            }
        };
        let (acknowledge, exclude_me, disclose_me) =
            (opts.acknowledge, opts.exclude_me, opts.disclose_me);
        if is_reserved_topic(&m.topic) {
            // Crossbar's words first ("publish with restricted topic URI"):
            // its functional tests (test_cb_pubsub.py::test_internal_uri)
            // look for them.
            let msg = format!(
                "publish with restricted topic URI '{}': 'wamp.' topics are reserved for the router",
                m.topic
            );
            return publish_error(cx, link, &m, acknowledge, uris::INVALID_URI, msg);
        }
        let native = take_native(cx, link, &mut m.options);
        let s = cx.links.session(link).expect("checked above");
        if passthru::is_ppt(&m.options) && !s.features.has(Features::PUBLISHER_PPT) {
            return cx.violation(link, Cow::Borrowed(PPT_UNANNOUNCED));
        }
        let mut details = Dict::new();
        if disclose_me || grant.disclose.publisher {
            details.insert("publisher", s.id.0);
            details.insert("publisher_authid", &*s.authid());
            details.insert("publisher_authrole", &*s.auth.authrole);
        }
        if let Some(level) = s.auth.trustlevel {
            details.insert("trustlevel", level);
        }
        passthru::copy_passthru(&m.options, &mut details);
        let routed = RoutedPublish {
            realm: realm_idx,
            topic: m.topic,
            publication,
            publisher: s.id,
            exclude_me,
            details,
            payload: m.payload,
            filter: opts.filter,
            retain: opts.retain,
            rkey: opts.rkey,
            native,
        };
        self.route_publish(cx, routed, if exclude_me { Some(link) } else { None });
        if acknowledge {
            cx.links.send(
                link,
                &Message::Published(Published {
                    request: m.request,
                    publication,
                }),
            );
        }
    }

    /// Routes a publication: local subscribers now, and one shared message to
    /// each other shard that has subscribers.
    pub fn route_publish(&mut self, cx: &mut Ctx, routed: RoutedPublish, exclude: Option<LinkId>) {
        let mut remote = ShardSet::default();
        self.realms[routed.realm as usize]
            .subs
            .for_each_match(&routed.topic, |_, _, e| remote.union_with(&e.remote));
        // Retained events go to every shard; history to the history's owner.
        let keep = self.publish_targets(&routed, cx.shards, &mut remote);
        remote.remove(cx.shard);
        self.deliver_local(cx, &routed, exclude);
        if !remote.is_empty() || keep {
            let shared = Arc::new(routed);
            if keep {
                self.keep_publication(cx, &shared);
            }
            for s in remote.iter() {
                cx.send_remote(s, ShardMsg::Publish(Arc::clone(&shared)));
            }
        }
    }

    /// Publishes an event originated by the router itself (meta events,
    /// testaments) to every subscriber of `topic` in `realm`, on every shard.
    /// Authorization for subscribing applies as usual; nothing is excluded.
    pub fn publish_internal(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        topic: &str,
        details: Dict,
        payload: Payload,
    ) {
        let routed = cx.internal_publication(realm, topic, details, payload);
        self.route_publish(cx, routed, None);
    }

    /// A publication from another shard, for this shard's subscribers.
    pub fn deliver_routed(&mut self, cx: &mut Ctx, p: &Arc<RoutedPublish>) {
        self.deliver_local(cx, p, None);
        if self.keeps(p) {
            self.keep_publication(cx, p);
        }
    }

    /// Delivers to this shard's subscribers: one EVENT encoding per
    /// (subscription, serializer), the same bytes queued for each subscriber.
    fn deliver_local(&mut self, cx: &mut Ctx, p: &RoutedPublish, exclude: Option<LinkId>) {
        let realm = &self.realms[p.realm as usize];
        let links = &mut cx.links;
        let mut topic_details: Option<Dict> = None;
        let mut front: FrontCache = None;
        realm.subs.for_each_match(&p.topic, |_, policy, entry| {
            let Some(id) = entry.id else { return };
            if entry.local.is_empty() {
                return;
            }
            // Sharded subscription and a publish with `rkey`: one node key gets it.
            let sharding = match (&p.rkey, &entry.nodes) {
                (Some(rkey), Some(nodes)) => Some((&**nodes, nodes.choose(rkey))),
                _ => None,
            };
            let mut ev = EventOut::new(id, p, &p.details, &mut front);
            if policy != MatchPolicy::Exact {
                ev = ev.with_topic_details(&mut topic_details);
            }
            for c in &entry.local {
                if Some(*c) == exclude {
                    continue;
                }
                if let Some((nodes, chosen)) = sharding
                    && !nodes.admits(*c, chosen)
                {
                    continue;
                }
                if let Some(f) = &p.filter
                    && !links
                        .session(*c)
                        .is_some_and(|s| f.admits(s.id, &s.authid(), &s.auth.authrole))
                {
                    continue;
                }
                links.push_event(*c, &mut ev);
            }
        });
    }
}

/// Takes a front end's native form of the publication out of `options`
/// ([`NATIVE_OPTION`]); only links with a sink output may hand one over
/// (from any other link the key is dropped and ignored).
fn take_native(cx: &Ctx, link: LinkId, options: &mut Dict) -> Option<Box<Native>> {
    let at = options.0.iter().position(|(k, _)| k == NATIVE_OPTION)?;
    let (_, v) = options.0.remove(at);
    if !matches!(cx.links.get(link).map(|l| &l.out), Some(Output::Sink(_))) {
        return None;
    }
    match v {
        Value::List(l) => match <[Value; 2]>::try_from(l) {
            Ok([Value::Bytes(meta), Value::Bytes(body)]) => Some(Box::new(Native { meta, body })),
            _ => None,
        },
        _ => None,
    }
}

fn publish_error(
    cx: &mut Ctx,
    link: LinkId,
    m: &Publish,
    acknowledge: bool,
    error: &str,
    message: String,
) {
    // Without `acknowledge` the spec has the broker drop a failed publish silently.
    if acknowledge {
        cx.links
            .error(link, code::PUBLISH, m.request, error, Some(message));
    } else {
        tracing::debug!(link = link.0, %message, "unacknowledged publish dropped");
    }
}

/// The `acknowledge` option, read leniently (for answering a malformed PUBLISH).
fn acknowledge_of(options: &Dict) -> bool {
    options
        .get("acknowledge")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

//! What the client sends, after CONNECT: each packet updates the session
//! and yields the WAMP messages the connection then feeds the router
//! (SUBSCRIBE, UNSUBSCRIBE, PUBLISH). A protocol violation that the codec
//! cannot see alone (an unknown topic alias, the Receive Maximum exceeded)
//! is an [`Violation`]: the connection answers it with DISCONNECT (5.0) or
//! closes (3.1.1).

use super::mapping::{self, MapError};
use super::session::Filter;
use super::sink::native_meta;
use super::state::{PendingSub, PendingSuback, Phase, State};
use crate::config::mqtt::PayloadFormat;
use crate::core::api::NATIVE_OPTION;
use crate::core::outbox::Overflow;
use crate::proto::mqtt::{
    AckProperties, MqttString, Packet, PubResponse, Publish, QoS, ReasonCode, RetainHandling,
    Subscribe, UnsubAck, Unsubscribe, Version, topic,
};
use crate::proto::{Message, Value};

/// The client broke a rule: DISCONNECT with this code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation(pub ReasonCode, pub &'static str);

impl From<Overflow> for Violation {
    fn from(_: Overflow) -> Violation {
        Violation(ReasonCode::QuotaExceeded, "outgoing queue full")
    }
}

/// Handles one packet; WAMP messages for the router go to `feed`.
///
/// # Errors
/// [`Violation`] ends the connection.
pub fn on_packet(s: &mut State, p: Packet, feed: &mut Vec<Message>) -> Result<(), Violation> {
    if s.phase == Phase::Joining && !matches!(p, Packet::Auth(_) | Packet::Disconnect(_)) {
        // Read before CONNACK only during enhanced authentication, where
        // nothing but AUTH (or DISCONNECT) may come (section 4.12).
        return Err(Violation(
            ReasonCode::ProtocolError,
            "a packet other than AUTH during enhanced authentication",
        ));
    }
    match p {
        Packet::Publish(p) => publish(s, p, feed),
        Packet::PubAck(r) => Ok(s.acked(r.packet_id, QoS::AtLeastOnce)?),
        Packet::PubRec(r) => Ok(s.received(&r)?),
        Packet::PubComp(r) => Ok(s.acked(r.packet_id, QoS::ExactlyOnce)?),
        Packet::PubRel(r) => {
            let mut comp = PubResponse::new(r.packet_id);
            if s.p.qos2_in.contains(&r.packet_id.get()) {
                s.qos2_in(r.packet_id.get(), false);
                s.inflight_in = s.inflight_in.saturating_sub(1);
            } else if s.version == Version::V5 {
                comp.reason = ReasonCode::PacketIdentifierNotFound;
            }
            Ok(s.send(&Packet::PubComp(comp))?)
        }
        Packet::Subscribe(m) => subscribe(s, m, feed),
        Packet::Unsubscribe(m) => unsubscribe(s, m, feed),
        Packet::PingReq => Ok(s.send(&Packet::PingResp)?),
        Packet::Disconnect(d) => {
            s.rare.disconnected = true;
            if d.reason != ReasonCode::DisconnectWithWill {
                s.rare.will = None;
            }
            if let Some(e) = d.properties.session_expiry_interval {
                if e > 0 && !s.expiry_asked {
                    // MQTT-3.14.2-2.
                    s.rare.disconnected = false;
                    return Err(Violation(
                        ReasonCode::ProtocolError,
                        "Session Expiry Interval set in DISCONNECT but not in CONNECT",
                    ));
                }
                s.p.expiry_s = e.min(s.svc.limits.max_session_expiry_s);
            }
            s.phase = Phase::Closing;
            s.rare.close = Some(crate::core::outbox::CloseReason::Normal);
            Ok(())
        }
        Packet::Auth(a) => match super::connect::client_auth(s, &a) {
            Ok(m) => {
                feed.push(m);
                Ok(())
            }
            Err(why) => Err(Violation(ReasonCode::ProtocolError, why)),
        },
        // The codec refuses what a client may not send.
        _ => Err(Violation(ReasonCode::ProtocolError, "unexpected packet")),
    }
}

/// An answer to a QoS 1/2 PUBLISH that the router never sees.
fn answer(s: &mut State, qos: QoS, p: &Publish, reason: ReasonCode) -> Result<(), Overflow> {
    let Some(pid) = p.packet_id else {
        return Ok(());
    };
    let mut r = PubResponse::new(pid);
    if s.version == Version::V5 {
        r.reason = reason;
    }
    match qos {
        QoS::AtMostOnce => Ok(()),
        QoS::AtLeastOnce => s.send(&Packet::PubAck(r)),
        QoS::ExactlyOnce => s.send(&Packet::PubRec(r)),
    }
}

fn publish(s: &mut State, mut p: Publish, feed: &mut Vec<Message>) -> Result<(), Violation> {
    // Topic aliases (5.0).
    if let Some(alias) = p.properties.topic_alias {
        if alias > s.svc.topic_alias_max {
            return Err(Violation(
                ReasonCode::TopicAliasInvalid,
                "topic alias above the maximum",
            ));
        }
        if p.topic.is_empty() {
            match s.rare.aliases_in.as_ref().and_then(|m| m.get(&alias)) {
                Some(t) => p.topic = t.clone(),
                None => {
                    return Err(Violation(ReasonCode::ProtocolError, "unknown topic alias"));
                }
            }
        } else {
            s.rare
                .aliases_in
                .get_or_insert_with(Box::default)
                .insert(alias, p.topic.clone());
        }
    }
    let qos = p.qos;
    if qos != QoS::AtMostOnce {
        let pid = p.packet_id.expect("the codec requires one at QoS 1 and 2");
        if qos == QoS::ExactlyOnce && s.p.qos2_in.contains(&pid.get()) {
            // A re-sent QoS 2 message already accepted: PUBREC again, never twice to subscribers.
            return Ok(answer(s, qos, &p, ReasonCode::Success)?);
        }
        if s.version == Version::V5 && s.inflight_in >= s.svc.limits.max_inflight {
            return Err(Violation(
                ReasonCode::ReceiveMaximumExceeded,
                "more QoS 1/2 messages in flight than Receive Maximum",
            ));
        }
    }
    if p.topic.as_str().starts_with("$SYS") {
        // `$SYS/` belongs to the router.
        return Ok(answer(s, qos, &p, ReasonCode::NotAuthorized)?);
    }
    let uri = mapping::topic_to_uri(p.topic.as_str());
    let format = mapping::format_of(&s.svc.payload_mapping, &uri);
    let decoder = match format {
        PayloadFormat::Dynamic { decoder, realm, .. } => {
            if !super::dynamic::may_decode(s) {
                tracing::debug!(client = %s.client_id, topic = %p.topic, "MQTT dynamic decoder: max_inflight decodes wait, dropped");
                return Ok(answer(s, qos, &p, ReasonCode::QuotaExceeded)?);
            }
            Some((decoder.clone(), realm.clone()))
        }
        _ => None,
    };
    let mapped = match decoder {
        // Converted when the decoder answers.
        Some(_) => Ok((crate::proto::Payload::empty(), crate::proto::Dict::new())),
        None => mapping::mqtt_to_wamp(format, &p.payload),
    };
    let (payload, mut options) = match mapped {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(client = %s.client_id, topic = %p.topic, error = %e, "MQTT payload not mapped: dropped");
            let code = match e {
                MapError::NotADict(_) => ReasonCode::PayloadFormatInvalid,
                MapError::Dynamic => ReasonCode::ImplementationSpecificError,
            };
            return Ok(answer(s, qos, &p, code)?);
        }
    };
    let meta = native_meta(qos, &p.properties);
    options.insert(
        NATIVE_OPTION,
        Value::List(vec![Value::Bytes(meta), Value::Bytes(p.payload.clone())]),
    );
    options.insert("exclude_me", false);
    if p.retain {
        options.insert("retain", true);
    }
    let request = s.request();
    if let Some(pid) = p.packet_id {
        options.insert("acknowledge", true);
        s.rare.pending_pubs.insert(request, (pid, qos, p.retain));
        s.inflight_in += 1;
        if qos == QoS::ExactlyOnce {
            // Kept (and logged) before the message is routed: a re-sent
            // PUBLISH after a crash is then recognised.
            s.qos2_in(pid.get(), true);
        }
    }
    s.svc.stats.received(1, p.payload.len() + p.topic.len());
    let call = match decoder {
        Some(_) => None,
        None => super::request::call_of(s, &p, &uri, &payload),
    };
    let publish = Message::Publish(crate::proto::Publish {
        request,
        options,
        topic: uri,
        payload,
    });
    match decoder {
        Some((d, realm)) => super::dynamic::decode(
            s,
            (&d, realm.as_deref()),
            p.topic.as_str(),
            &p.payload,
            publish,
            request,
            feed,
        ),
        // Behind a publication being decoded: in order.
        None if super::dynamic::holding(s) => {
            super::dynamic::hold(s, std::iter::once(publish).chain(call).collect());
        }
        None => {
            feed.push(publish);
            feed.extend(call);
        }
    }
    Ok(())
}

/// The WAMP PUBLISH of a will (or any message the front end publishes for
/// the client): QoS and retain as given, no acknowledgement.
pub fn will_publish(s: &mut State) -> Option<Message> {
    let w = s.rare.will.take()?;
    let uri = mapping::topic_to_uri(w.topic.as_str());
    let format = mapping::format_of(&s.svc.payload_mapping, &uri);
    let (payload, mut options) = match mapping::mqtt_to_wamp(format, &w.payload) {
        Ok(v) => v,
        Err(e) => {
            // `dynamic`: no decoder answer can come once the connection is gone.
            tracing::info!(client = %s.client_id, topic = %w.topic, error = %e, "MQTT will not mapped: dropped");
            return None;
        }
    };
    let props = crate::proto::mqtt::PublishProperties {
        payload_format_indicator: w.properties.payload_format_indicator,
        message_expiry_interval: w.properties.message_expiry_interval,
        content_type: w.properties.content_type.clone(),
        response_topic: w.properties.response_topic.clone(),
        correlation_data: w.properties.correlation_data.clone(),
        user_properties: w.properties.user_properties.clone(),
        ..Default::default()
    };
    options.insert(
        NATIVE_OPTION,
        Value::List(vec![
            Value::Bytes(native_meta(w.qos, &props)),
            Value::Bytes(w.payload.clone()),
        ]),
    );
    options.insert("exclude_me", false);
    if w.retain {
        options.insert("retain", true);
    }
    Some(Message::Publish(crate::proto::Publish {
        request: s.request(),
        options,
        topic: uri,
        payload,
    }))
}

fn subscribe(s: &mut State, m: Subscribe, feed: &mut Vec<Message>) -> Result<(), Violation> {
    let mut pending = PendingSuback {
        packet_id: m.packet_id,
        codes: vec![None; m.subscriptions.len()],
        waiting: 0,
        held: Vec::new(),
    };
    let sub_id = m.properties.subscription_identifier;
    let mut changed = false;
    for (index, sub) in m.subscriptions.into_iter().enumerate() {
        let filter = sub.filter.as_str();
        let limits = &s.svc.limits;
        if let Err(why) = topic::validate_subscription_filter(
            filter,
            s.version == Version::V5,
            limits.max_topic_length,
            limits.max_topic_levels,
        ) {
            // Well formed (the codec checked), but over this listener's
            // limits: refused alone (5.0 0x8F; 3.1.1 0x80).
            tracing::debug!(client = %s.client_id, %why, "subscription refused");
            pending.codes[index] = Some(ReasonCode::TopicFilterInvalid);
            continue;
        }
        if !s.p.filters.contains_key(filter) && s.p.filters.len() >= s.svc.limits.max_subscriptions
        {
            pending.codes[index] = Some(ReasonCode::QuotaExceeded);
            continue;
        }
        let o = sub.options;
        let map = mapping::filter_to_wamp(filter);
        let is_new = !s.p.filters.contains_key(filter);
        let wamp =
            s.p.filters
                .get(filter)
                .map(|f| f.wamp.clone())
                .unwrap_or_default();
        s.p.filters.insert(
            filter.to_owned(),
            Filter {
                qos: o.qos,
                no_local: o.no_local,
                retain_as_published: o.retain_as_published,
                sub_id,
                exact: map.exact,
                wamp,
            },
        );
        changed = true;
        if topic::parse_shared(filter).ok().flatten().is_some() {
            // The group's owner shard picks a member per message; no
            // retained messages on a shared subscription (MQTT-4.8.2).
            let me = crate::proto::ShardId(super::ctx::shard_index());
            if let Some(join) = s.share_join(filter, me) {
                s.chores().share.push(join);
            }
            pending.codes[index] = Some(super::state::granted_code(o.qos));
            continue;
        }
        let get_retained = match o.retain_handling {
            RetainHandling::SendAtSubscribe => true,
            RetainHandling::SendIfNew => is_new,
            RetainHandling::DoNotSend => false,
        };
        for (i, (uri, policy)) in map.wamp.into_iter().enumerate() {
            let request = s.request();
            s.rare.pending_subs.insert(
                request,
                PendingSub {
                    packet_id: Some(m.packet_id),
                    index,
                    filter: filter.to_owned(),
                    parent: mapping::FilterMap::is_parent(i),
                },
            );
            pending.waiting += 1;
            feed.push(mapping::wamp_subscribe(request, uri, policy, get_retained));
        }
    }
    if changed {
        s.write_meta();
    }
    s.rare.subacks.push_back(pending);
    // A packet all of whose filters were answered here goes at once.
    if s.rare.subacks.back().is_some_and(|p| p.waiting == 0) {
        s.flush_subacks()?;
    }
    Ok(())
}

fn unsubscribe(s: &mut State, m: Unsubscribe, feed: &mut Vec<Message>) -> Result<(), Violation> {
    let mut codes = Vec::with_capacity(m.filters.len());
    for f in &m.filters {
        let Some(filter) = s.p.filters.remove(f.as_str()) else {
            codes.push(ReasonCode::NoSubscriptionExisted);
            continue;
        };
        codes.push(ReasonCode::Success);
        if let Some(leave) = super::mesh::leave_of(&s.svc, &s.client_id, s.token, f.as_str()) {
            s.chores().share.push(leave);
        }
        for id in filter.wamp {
            let Some(list) = s.wamp_subs.get_mut(&id) else {
                continue;
            };
            list.retain(|x| x != f.as_str());
            if list.is_empty() {
                s.wamp_subs.remove(&id);
                let request = s.request();
                feed.push(Message::Unsubscribe(crate::proto::Unsubscribe {
                    request,
                    subscription: id,
                }));
            }
        }
    }
    if codes.contains(&ReasonCode::Success) {
        s.write_meta();
    }
    if s.version == Version::V311 {
        codes.clear();
    }
    s.send(&Packet::UnsubAck(UnsubAck {
        packet_id: m.packet_id,
        codes,
        properties: AckProperties::default(),
    }))?;
    Ok(())
}

/// Whether a CONNECT's Will topic may be published by a client (`$SYS/`
/// belongs to the router).
pub fn will_topic_allowed(t: &MqttString) -> bool {
    !t.as_str().starts_with("$SYS")
}

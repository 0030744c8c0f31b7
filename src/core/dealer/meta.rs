//! The registration meta events (`wamp.registration.on_create`,
//! `on_register`, `on_unregister`, `on_delete`), published by the
//! registration's owner shard through the shared context (the dealer does
//! not call the broker), and the `RegistrationDetails` the meta API returns.

use super::Dealer;
use super::timers::iso8601_utc;
use crate::core::cluster::{InvokePolicy, RealmIdx};
use crate::core::ctx::Ctx;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Payload, RegistrationId, SessionId, Value};

/// `RegistrationDetails` as the spec defines it.
pub(crate) fn reg_details(
    id: RegistrationId,
    uri: &str,
    policy: MatchPolicy,
    invoke: InvokePolicy,
    created_ms: u64,
) -> Dict {
    Dict::new()
        .with("id", id.0)
        .with("created", iso8601_utc(created_ms))
        .with("uri", uri)
        .with("match", policy.as_str())
        .with("invoke", invoke.as_str())
}

impl Dealer {
    /// Publishes `wamp.registration.on_create` (owner shard).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reg_meta_created(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        session: SessionId,
        id: RegistrationId,
        uri: &str,
        policy: MatchPolicy,
        invoke: InvokePolicy,
        created_ms: u64,
    ) {
        let details = reg_details(id, uri, policy, invoke, created_ms);
        let payload = Payload::args(vec![Value::from(session.0), Value::Dict(details)]);
        cx.publish_later(realm, "wamp.registration.on_create", Dict::new(), payload);
    }

    /// Publishes `on_register`/`on_unregister`/`on_delete` with `[session, registration]`.
    pub(crate) fn reg_meta_event(
        &mut self,
        cx: &mut Ctx,
        realm: RealmIdx,
        topic: &str,
        session: SessionId,
        id: RegistrationId,
    ) {
        let payload = Payload::args(vec![Value::from(session.0), Value::from(id.0)]);
        cx.publish_later(realm, topic, Dict::new(), payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_follow_the_spec_schema() {
        let d = reg_details(
            RegistrationId(7),
            "com.x",
            MatchPolicy::Prefix,
            InvokePolicy::RoundRobin,
            0,
        );
        let keys: Vec<&str> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["id", "created", "uri", "match", "invoke"]);
        assert_eq!(
            d.get("created").and_then(Value::as_str),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(d.get("invoke").and_then(Value::as_str), Some("roundrobin"));
    }
}

//! The `$SYS/` statistics topics: every `sys_interval` seconds shard 0
//! publishes the broker's counters, all shards together, into every realm
//! with an MQTT listener, as the router (WAMP topics `$SYS.broker....`, a
//! single string argument: the number, as MQTT brokers send it). Like every
//! topic starting with `$`, they are never matched by a filter starting
//! with `+` or `#`; clients subscribe to `$SYS/#` (or a topic of it) and
//! may not publish there.
//!
//! | topic | what |
//! |---|---|
//! | `$SYS/broker/uptime` | seconds since the front end started |
//! | `$SYS/broker/clients/connected` | MQTT connections, every listener |
//! | `$SYS/broker/sessions/durable` | persistent sessions kept in a file store |
//! | `$SYS/broker/sessions/persistent` | persistent sessions, connected or away (against `mqtt_offline_store_sessions`) |
//! | `$SYS/broker/messages/received`, `…/sent` | PUBLISH packets from and to clients |
//! | `$SYS/broker/messages/dropped` | QoS 1/2 messages dropped by full session queues (`queue_overflow`) |
//! | `$SYS/broker/bytes/received`, `…/sent` | their bytes (received: topic and payload; sent: on the wire) |
//! | `$SYS/broker/store/queued_bytes` | payload bytes queued in sessions (against `mqtt_offline_store_bytes`) |
//! | `$SYS/broker/listeners/<id>/…` | `clients/connected`, `messages/received`, `messages/sent`, `messages/dropped`, `bytes/received`, `bytes/sent` of one listener |

use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{RouterPort, Service, StatTotals};
use crate::proto::{Payload, Value};

/// When the front end started (for the uptime).
fn started() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Marks the start (the uptime counts from the first call).
pub fn start_clock() {
    let _ = started();
}

/// A listener ID as one topic level (`/`, `+`, `#` and `.` become `_`).
pub fn level(id: &str) -> String {
    id.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#' | '.') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The (topic, value) pairs of one round: the broker's and each listener's.
pub fn topics(services: &[Rc<Service>]) -> Vec<(String, u64)> {
    let mut seen: Vec<&str> = Vec::new();
    let mut total = StatTotals::default();
    let mut connected = 0u64;
    let mut out = Vec::new();
    for s in services {
        let id = s.transport.id.as_str();
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let t = s.stats.totals();
        let c = s.connections.load(Ordering::Relaxed) as u64;
        connected += c;
        total.msgs_in += t.msgs_in;
        total.msgs_out += t.msgs_out;
        total.bytes_in += t.bytes_in;
        total.bytes_out += t.bytes_out;
        total.dropped += t.dropped;
        let base = format!("$SYS/broker/listeners/{}", level(id));
        out.extend([
            (format!("{base}/clients/connected"), c),
            (format!("{base}/messages/received"), t.msgs_in),
            (format!("{base}/messages/sent"), t.msgs_out),
            (format!("{base}/messages/dropped"), t.dropped),
            (format!("{base}/bytes/received"), t.bytes_in),
            (format!("{base}/bytes/sent"), t.bytes_out),
        ]);
    }
    let b = "$SYS/broker";
    out.extend([
        (format!("{b}/uptime"), started().elapsed().as_secs()),
        (format!("{b}/clients/connected"), connected),
        (
            format!("{b}/sessions/durable"),
            super::ctx::durable_sessions() as u64,
        ),
        (
            format!("{b}/sessions/persistent"),
            super::session::persistent_sessions() as u64,
        ),
        (format!("{b}/messages/received"), total.msgs_in),
        (format!("{b}/messages/sent"), total.msgs_out),
        (format!("{b}/messages/dropped"), total.dropped),
        (format!("{b}/bytes/received"), total.bytes_in),
        (format!("{b}/bytes/sent"), total.bytes_out),
        (
            format!("{b}/store/queued_bytes"),
            super::session::queued_bytes(),
        ),
    ]);
    out
}

/// Publishes one round into every realm with an MQTT listener.
pub fn publish(port: &dyn RouterPort, services: &[Rc<Service>]) {
    let values = topics(services);
    let mut realms: Vec<&str> = services.iter().map(|s| s.realm.as_str()).collect();
    realms.sort_unstable();
    realms.dedup();
    for realm in realms {
        for (topic, value) in &values {
            let payload = Payload {
                args: Some(vec![Value::Str(value.to_string())]),
                kwargs: None,
            };
            port.publish_as_router(realm, &super::mapping::topic_to_uri(topic), payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_ids_become_one_level() {
        assert_eq!(level("mqtt.main/1+#"), "mqtt_main_1__");
        assert_eq!(level("mqtt"), "mqtt");
    }

    #[test]
    fn topics_sum_the_listeners() {
        let config = crate::config::Config::embedded_default();
        let t = config
            .transports
            .iter()
            .find(|t| t.id == "mqtt")
            .expect("an MQTT listener");
        let mut t2 = t.clone();
        t2.id = "sys-test-other".into();
        let a = Rc::new(Service::of(t, 1 << 20).expect("service"));
        let b = Rc::new(Service::of(&t2, 1 << 20).expect("service"));
        let before = topics(&[Rc::clone(&a), Rc::clone(&b)]);
        let get = |v: &[(String, u64)], k: &str| {
            v.iter()
                .find(|(t, _)| t == k)
                .map(|(_, n)| *n)
                .unwrap_or_else(|| panic!("{k} published"))
        };
        b.stats.received(3, 30);
        b.stats.sent(2, 50);
        let after = topics(&[Rc::clone(&a), Rc::clone(&b), Rc::clone(&b)]);
        let d = |k: &str| get(&after, k) - get(&before, k);
        assert_eq!(
            d("$SYS/broker/listeners/sys-test-other/messages/received"),
            3
        );
        assert_eq!(d("$SYS/broker/listeners/sys-test-other/bytes/sent"), 50);
        assert!(d("$SYS/broker/messages/received") >= 3, "the broker's sum");
        let _ = get(&after, "$SYS/broker/sessions/persistent");
        let other: Vec<_> = after
            .iter()
            .filter(|(t, _)| t.starts_with("$SYS/broker/listeners/sys-test-other/"))
            .collect();
        assert_eq!(other.len(), 6, "a listener given twice counts once");
    }
}

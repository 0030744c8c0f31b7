//! One shard's counters: plain integers owned by the shard's router and
//! bumped in place (no atomics, no locks: the router is single-threaded).
//! The runtime copies them out ([`Metrics::snapshot`]) when someone asks
//! (`junction status`, a Prometheus scrape) and adds the shards up; the
//! text format is rendered there, not here.
//!
//! Where each counter moves:
//! - messages received: [`ShardRouter::feed`](super::ShardRouter::feed) and
//!   [`ShardRouter::feed_frame`](super::ShardRouter::feed_frame), by type;
//! - messages sent, bytes queued, errors by URI: `session/links.rs`, the one
//!   place that queues what the router sends;
//! - sessions by (realm, transport, authmethod): at WELCOME and when the
//!   session ends;
//! - slow-consumer closes and authentication failures: where they happen;
//! - routing latency: one observation per PUBLISH and CALL from before its
//!   decoding to the end of the router step it started (the last enqueue on
//!   this shard and the last cross-shard send), only while
//!   [`Metrics::timing`] is on.

use std::rc::Rc;
use std::time::Duration;

use ahash::AHashMap;

use super::cluster::RealmIdx;

/// Message type codes go up to 70 (YIELD).
pub const MESSAGE_CODES: usize = 71;

/// Upper bounds of the routing latency histogram's buckets, in seconds
/// (the last bucket, `+Inf`, is implicit).
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.000_001, 0.000_002, 0.000_005, 0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_2, 0.000_5,
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
];

/// How many distinct error URIs are counted by name; further ones are
/// counted as [`OTHER_ERROR_URI`] (callee errors carry any URI a client
/// chooses: the label set must stay bounded).
pub const MAX_ERROR_URIS: usize = 64;

/// The label of error URIs past [`MAX_ERROR_URIS`].
pub const OTHER_ERROR_URI: &str = "other";

/// The authentication method names counted by name; any other is "other".
const AUTH_METHODS: [&str; 9] = [
    "anonymous",
    "ticket",
    "wampcra",
    "scram",
    "cryptosign",
    "tls",
    "cookie",
    "none",
    "other",
];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// Sum of all observations, in nanoseconds.
    pub sum_ns: u64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum_ns = self
            .sum_ns
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.count += 1;
    }

    /// Adds `other`'s observations to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.count += other.count;
    }
}

/// Sessions of one (realm, transport, authmethod) on a shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// The realm's name.
    pub realm: Rc<str>,
    /// The transport's ID.
    pub transport: Rc<str>,
    /// The authentication method.
    pub authmethod: Rc<str>,
}

/// The live counters of one shard's router (see the module header).
#[derive(Debug)]
pub struct Metrics {
    /// Whether routing latency is measured (config `junction.metrics`).
    pub timing: bool,
    /// Messages received from peers, by type code.
    pub received: [u64; MESSAGE_CODES],
    /// Messages queued for peers, by type code.
    pub sent: [u64; MESSAGE_CODES],
    /// Bytes of encoded frames queued for peers (typed links not counted).
    pub sent_bytes: u64,
    /// Joined sessions now, by realm index, then transport and authmethod.
    sessions: AHashMap<(RealmIdx, Rc<str>, Rc<str>), u64>,
    /// Sessions closed because their outbound queue overflowed.
    pub slow_consumer_closes: u64,
    /// Authentications that ended in ABORT, by method (index into `AUTH_METHODS`).
    auth_failures: [u64; AUTH_METHODS.len()],
    /// ERROR messages sent, by error URI (bounded, see [`MAX_ERROR_URIS`]).
    errors_sent: AHashMap<Box<str>, u64>,
    /// Routing latency of PUBLISH and CALL.
    pub latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            timing: true,
            received: [0; MESSAGE_CODES],
            sent: [0; MESSAGE_CODES],
            sent_bytes: 0,
            sessions: AHashMap::new(),
            slow_consumer_closes: 0,
            auth_failures: [0; AUTH_METHODS.len()],
            errors_sent: AHashMap::new(),
            latency: Histogram::default(),
        }
    }
}

impl Metrics {
    /// A message of type `code` was received.
    #[inline]
    pub fn received(&mut self, code: u64) {
        if let Some(c) = self.received.get_mut(code as usize) {
            *c += 1;
        }
    }

    /// A message of type `code` (`len` bytes encoded; 0 for typed links) was queued.
    #[inline]
    pub fn sent(&mut self, code: u64, len: usize) {
        if let Some(c) = self.sent.get_mut(code as usize) {
            *c += 1;
        }
        self.sent_bytes += len as u64;
    }

    /// An ERROR with URI `uri` was queued.
    pub fn error_sent(&mut self, uri: &str) {
        if let Some(n) = self.errors_sent.get_mut(uri) {
            *n += 1;
            return;
        }
        let key: Box<str> = if self.errors_sent.len() < MAX_ERROR_URIS {
            uri.into()
        } else {
            OTHER_ERROR_URI.into()
        };
        *self.errors_sent.entry(key).or_insert(0) += 1;
    }

    /// An authentication by `method` (`none`: no method matched) was refused.
    pub fn auth_failed(&mut self, method: &str) {
        let i = AUTH_METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(AUTH_METHODS.len() - 1);
        self.auth_failures[i] += 1;
    }

    /// The label of authentication method `method`: its name if it is one
    /// of the methods Junction knows, else `other`.
    pub fn auth_method_label(method: &str) -> &'static str {
        AUTH_METHODS
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("other")
    }

    /// A session joined `realm` over `transport`, authenticated by `authmethod`.
    pub fn session_opened(&mut self, realm: RealmIdx, transport: &str, authmethod: &str) {
        let key = (realm, Rc::from(transport), Rc::from(authmethod));
        *self.sessions.entry(key).or_insert(0) += 1;
    }

    /// A session of `realm` over `transport` by `authmethod` ended.
    pub fn session_closed(&mut self, realm: RealmIdx, transport: &str, authmethod: &str) {
        let key = (realm, Rc::from(transport), Rc::from(authmethod));
        if let Some(n) = self.sessions.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.sessions.remove(&key);
            }
        }
    }

    /// A copy of the counters, with realm names from `realm_name`.
    pub fn snapshot(&self, realm_name: impl Fn(RealmIdx) -> String) -> MetricsSnapshot {
        let mut sessions: Vec<(String, String, String, u64)> = self
            .sessions
            .iter()
            .map(|((r, t, m), n)| (realm_name(*r), t.to_string(), m.to_string(), *n))
            .collect();
        sessions.sort();
        let mut errors_sent: Vec<(String, u64)> = self
            .errors_sent
            .iter()
            .map(|(u, n)| (u.to_string(), *n))
            .collect();
        errors_sent.sort();
        MetricsSnapshot {
            received: self.received.to_vec(),
            sent: self.sent.to_vec(),
            sent_bytes: self.sent_bytes,
            sessions,
            slow_consumer_closes: self.slow_consumer_closes,
            auth_failures: AUTH_METHODS
                .iter()
                .zip(self.auth_failures.iter())
                .filter(|(_, n)| **n > 0)
                .map(|(m, n)| ((*m).to_owned(), *n))
                .collect(),
            errors_sent,
            latency: self.latency.clone(),
            timing: self.timing,
            subscriptions: 0,
            registrations: 0,
            queued_bytes: 0,
            queued_frames: 0,
        }
    }
}

/// A copy of one shard's counters, to send across threads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Messages received, by type code (index).
    pub received: Vec<u64>,
    /// Messages sent, by type code (index).
    pub sent: Vec<u64>,
    /// Bytes of encoded frames queued.
    pub sent_bytes: u64,
    /// Joined sessions: (realm, transport, authmethod, count), sorted.
    pub sessions: Vec<(String, String, String, u64)>,
    /// Slow-consumer closes.
    pub slow_consumer_closes: u64,
    /// Authentication failures by method (only methods that failed).
    pub auth_failures: Vec<(String, u64)>,
    /// ERRORs sent by URI, sorted.
    pub errors_sent: Vec<(String, u64)>,
    /// Routing latency of PUBLISH and CALL.
    pub latency: Histogram,
    /// Whether the latency was measured.
    pub timing: bool,
    /// Subscriptions this shard's sessions hold.
    pub subscriptions: u64,
    /// Registrations this shard's sessions hold.
    pub registrations: u64,
    /// Bytes waiting in this shard's outboxes now.
    pub queued_bytes: u64,
    /// Frames waiting in this shard's outboxes now.
    pub queued_frames: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_upper_bound() {
        let mut h = Histogram::default();
        h.observe(Duration::from_nanos(500)); // ≤ 1 µs
        h.observe(Duration::from_micros(1)); // ≤ 1 µs (bounds are inclusive)
        h.observe(Duration::from_micros(3)); // ≤ 5 µs
        h.observe(Duration::from_secs(1)); // +Inf
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.buckets[2], 1);
        assert_eq!(h.buckets[LATENCY_BUCKETS.len()], 1);
        assert_eq!(h.count, 4);
        assert_eq!(h.sum_ns, 500 + 1_000 + 3_000 + 1_000_000_000);
        let mut sum = Histogram::default();
        sum.merge(&h);
        sum.merge(&h);
        assert_eq!(sum.count, 8);
        assert_eq!(sum.buckets[0], 4);
    }

    #[test]
    fn error_uris_are_bounded() {
        let mut m = Metrics::default();
        for i in 0..MAX_ERROR_URIS + 10 {
            m.error_sent(&format!("com.example.error{i}"));
        }
        m.error_sent("com.example.error0");
        let s = m.snapshot(|_| String::new());
        assert_eq!(s.errors_sent.len(), MAX_ERROR_URIS + 1);
        let get = |u: &str| s.errors_sent.iter().find(|(k, _)| k == u).map(|(_, n)| *n);
        assert_eq!(get("com.example.error0"), Some(2));
        // The first MAX_ERROR_URIS distinct URIs by name, the rest as "other".
        assert_eq!(get(OTHER_ERROR_URI), Some(10));
        assert_eq!(
            get(&format!("com.example.error{}", MAX_ERROR_URIS - 1)),
            Some(1)
        );
        assert_eq!(get(&format!("com.example.error{MAX_ERROR_URIS}")), None);
    }

    #[test]
    fn session_gauge_goes_up_and_down() {
        let mut m = Metrics::default();
        m.session_opened(0, "ws", "anonymous");
        m.session_opened(0, "ws", "anonymous");
        m.session_opened(1, "rs", "ticket");
        m.session_closed(0, "ws", "anonymous");
        m.session_closed(2, "ws", "anonymous"); // never opened: ignored
        let s = m.snapshot(|r| format!("realm{r}"));
        assert_eq!(
            s.sessions,
            vec![
                ("realm0".into(), "ws".into(), "anonymous".into(), 1),
                ("realm1".into(), "rs".into(), "ticket".into(), 1),
            ]
        );
        m.auth_failed("ticket");
        m.auth_failed("kerberos");
        let s = m.snapshot(|r| format!("realm{r}"));
        assert_eq!(
            s.auth_failures,
            vec![("ticket".into(), 1), ("other".into(), 1)]
        );
    }
}

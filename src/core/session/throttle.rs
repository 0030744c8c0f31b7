//! The per-source-address limit on failed logins: a token bucket per
//! address (IPv4 address, or IPv6 /64 network: one host usually owns a whole
//! /64), holding `failed_login_burst` tokens and refilled at
//! `failed_logins_per_minute`. Every failed login takes a token. An address
//! with no token left is throttled: its logins are refused without looking
//! at the credentials, and the refusal (ABORT) is held back for
//! `throttle_delay` — so guessing is capped at the refill rate however many
//! connections the offender opens, and nobody else is slowed.
//!
//! Each shard keeps its own buckets (shared nothing): connections from one
//! address spread over the shards, so the effective burst and rate are up
//! to the shard count times the configured ones. At most
//! [`MAX_TRACKED_SOURCES`] addresses are tracked per shard; when that many
//! have failed recently, refilled buckets are dropped, and if none is, a new
//! address goes untracked until some refill (the table's memory stays
//! bounded under an attack from many addresses).
//!
//! Links without an IP address (Unix sockets, in-process links) are not
//! limited.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ahash::AHashMap;

use crate::config::auth::AuthSettings;
use crate::core::api::LinkInfo;

/// Addresses tracked per shard at most.
pub const MAX_TRACKED_SOURCES: usize = 65_536;

/// Where logins come from, as the limit counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// An IPv4 address (also an IPv4-mapped IPv6 one).
    V4([u8; 4]),
    /// The /64 network of an IPv6 address.
    V6([u8; 8]),
}

impl Source {
    /// The source of an IP address.
    pub fn of_ip(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(a) => Source::V4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let o = a.octets();
                    let mut net = [0u8; 8];
                    net.copy_from_slice(&o[..8]);
                    Source::V6(net)
                }
            },
        }
    }

    /// The source of a link: its peer address, or the one in its peer text
    /// (`tcp4:1.2.3.4:5000`, `tcp6:::1:5000`); `None` for links without one.
    pub fn of_link(link: &LinkInfo) -> Option<Source> {
        link.peer.addr().map(|a| Source::of_ip(a.ip()))
    }
}

impl From<SocketAddr> for Source {
    fn from(a: SocketAddr) -> Source {
        Source::of_ip(a.ip())
    }
}

/// One address's tokens.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Whether its throttling was reported (once per episode, so that a
    /// storm of failures does not become a storm of log lines).
    reported: bool,
}

/// What a failed login did to its address's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Counted; the address may go on.
    Counted,
    /// The address is throttled; `first`: the first failure of this episode.
    Throttled {
        /// The first throttled failure since the bucket last had a token.
        first: bool,
    },
}

/// Failed-login buckets of one shard.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// Tokens a full bucket holds (0: no limit).
    burst: f64,
    /// Tokens added per second.
    per_sec: f64,
    /// How long a throttled address's ABORT is held back.
    delay: Duration,
    buckets: AHashMap<Source, Bucket>,
}

impl Throttle {
    /// Buckets with the settings' burst, rate and delay.
    pub fn new(settings: &AuthSettings) -> Throttle {
        Throttle {
            burst: f64::from(settings.failed_login_burst),
            per_sec: f64::from(settings.failed_logins_per_minute.max(1)) / 60.0,
            delay: Duration::from_millis(settings.throttle_delay_ms),
            buckets: AHashMap::new(),
        }
    }

    /// How long a throttled address waits for its ABORT.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The bucket of `src`, refilled to `now`.
    fn refilled(&mut self, src: Source, now: Instant) -> Option<&mut Bucket> {
        let (burst, per_sec) = (self.burst, self.per_sec);
        let b = self.buckets.get_mut(&src)?;
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(burst);
        b.at = now;
        Some(b)
    }

    /// Whether `src` has no failed login left (its logins are refused).
    pub fn is_throttled(&mut self, src: Source, now: Instant) -> bool {
        if self.burst == 0.0 {
            return false;
        }
        self.refilled(src, now).is_some_and(|b| b.tokens < 1.0)
    }

    /// Records a failed login from `src`: [`Failure::Throttled`] when it had
    /// no token left for it.
    pub fn failed(&mut self, src: Source, now: Instant) -> Failure {
        if self.burst == 0.0 {
            return Failure::Counted;
        }
        if !self.buckets.contains_key(&src) {
            if self.buckets.len() >= MAX_TRACKED_SOURCES {
                let (burst, per_sec) = (self.burst, self.per_sec);
                self.buckets.retain(|_, b| {
                    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                    b.tokens + elapsed * per_sec < burst
                });
                if self.buckets.len() >= MAX_TRACKED_SOURCES {
                    return Failure::Counted;
                }
            }
            self.buckets.insert(
                src,
                Bucket {
                    tokens: self.burst,
                    at: now,
                    reported: false,
                },
            );
        }
        let b = self.refilled(src, now).expect("inserted above");
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.reported = false;
            Failure::Counted
        } else {
            let first = !b.reported;
            b.reported = true;
            Failure::Throttled { first }
        }
    }

    /// Addresses tracked (tests).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api::FrontEnd;
    use std::rc::Rc;

    fn throttle(burst: u32, per_minute: u32) -> Throttle {
        Throttle::new(&AuthSettings {
            failed_login_burst: burst,
            failed_logins_per_minute: per_minute,
            ..AuthSettings::default()
        })
    }

    fn ip(s: &str) -> Source {
        Source::of_ip(s.parse().expect("ip"))
    }

    #[test]
    fn a_burst_then_the_refill_rate() {
        let mut t = throttle(3, 60);
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(!t.is_throttled(a, t0));
            assert_eq!(t.failed(a, t0), Failure::Counted, "within the burst");
        }
        assert!(t.is_throttled(a, t0));
        assert_eq!(
            t.failed(a, t0),
            Failure::Throttled { first: true },
            "the fourth"
        );
        assert_eq!(
            t.failed(a, t0),
            Failure::Throttled { first: false },
            "reported once"
        );
        assert!(!t.is_throttled(b, t0), "another address is not");
        // One token a second comes back.
        let t1 = t0 + Duration::from_millis(999);
        assert!(t.is_throttled(a, t1));
        let t2 = t0 + Duration::from_millis(1_000);
        assert!(!t.is_throttled(a, t2));
        assert_eq!(t.failed(a, t2), Failure::Counted);
        assert_eq!(
            t.failed(a, t2),
            Failure::Throttled { first: true },
            "a new episode"
        );
        // Failures while throttled take no token: as the bucket refills,
        // one real attempt per token gets through, whatever the offender sends.
        let t3 = t2 + Duration::from_secs(3);
        assert!(!t.is_throttled(a, t3));
        // No limit at all with a burst of 0.
        let mut off = throttle(0, 60);
        for _ in 0..100 {
            assert_eq!(off.failed(a, t0), Failure::Counted);
        }
        assert!(!off.is_throttled(a, t0));
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_per_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8::1"), ip("2001:db8::ffff:2"));
        assert_ne!(ip("2001:db8::1"), ip("2001:db8:0:1::1"));
        assert_eq!(ip("::ffff:10.1.2.3"), ip("10.1.2.3"));
    }

    #[test]
    fn links_give_their_source_from_the_peer_address_or_text() {
        let t = Rc::new(crate::config::Config::embedded_default().transports[0].clone());
        let link = |peer: &str| LinkInfo::new(Rc::clone(&t), FrontEnd::WebSocket, peer);
        assert_eq!(
            Source::of_link(&link("tcp4:127.0.0.1:5000")),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(Source::of_link(&link("tcp6:::1:5000")), Some(ip("::1")));
        assert_eq!(Source::of_link(&link("unix")), None);
        assert_eq!(Source::of_link(&link("internal")), None);
        assert_eq!(Source::of_link(&link("whatever")), None);
        assert_eq!(
            Source::of_link(&link("tcp6:[2001:db8::7]:1")),
            Some(ip("2001:db8::7"))
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut t = throttle(1, 60);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_SOURCES as u32 + 10) {
            let src = Source::V4(i.to_be_bytes());
            t.failed(src, t0);
        }
        assert_eq!(t.tracked(), MAX_TRACKED_SOURCES);
        // Once buckets refill, they make room.
        let later = t0 + Duration::from_secs(120);
        t.failed(Source::V4([250, 0, 0, 1]), later);
        assert_eq!(t.tracked(), 1);
    }
}

//! Event history (advanced profile, "Event History"): the last events of
//! configured subscriptions, kept on the subscription's **owner shard**, and
//! `wamp.subscription.get_events`.
//!
//! Every shard knows every configured history pattern (a small [`UriIndex`]
//! built from the realm's `store.event-history`), so a publisher's shard sends
//! a matching publication to the history's owner along with its subscribers'
//! shards. The owner appends it to a bounded buffer in the order it receives
//! publications; one publisher's events stay in publish order (FIFO per shard
//! pair). A history subscription is created and *pinned* at startup, so its ID
//! is stable while it has no subscribers.
//!
//! Events published with session-based black/whitelists (`exclude`,
//! `eligible`) are not kept (as the spec asks); authid/authrole lists are kept
//! and applied to the caller of `get_events`.

use std::collections::VecDeque;
use std::sync::Arc;

use ahash::AHashMap;

use crate::config::HistoryConfig;
use crate::core::cluster::EventsQuery;
use crate::core::cluster::{self, RealmIdx, RoutedPublish, ShardSet};
use crate::core::index::UriIndex;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, ShardId, SubscriptionId, Value};

/// One configured history.
#[derive(Debug)]
struct Spec {
    uri: String,
    policy: MatchPolicy,
    limit: usize,
    owner: ShardId,
    /// The subscription ID, on the owner shard only.
    id: Option<SubscriptionId>,
}

/// A kept event: when the owner received it, and the publication.
type Kept = (u64, Arc<RoutedPublish>);

/// The histories of one realm as one shard sees them.
#[derive(Default)]
pub(crate) struct RealmHistory {
    specs: Vec<Spec>,
    /// Pattern → index in `specs`.
    index: UriIndex<usize>,
    /// Buffers of the histories this shard owns, by subscription ID.
    buffers: AHashMap<SubscriptionId, (usize, VecDeque<Kept>)>,
}

impl EventsQuery {
    /// Reads the call's arguments: `[subscription, limit?]` (Crossbar's
    /// positional `limit`) and the keyword options of the spec.
    ///
    /// # Errors
    /// A message naming the argument that is wrong.
    pub fn parse(args: &[Value], kwargs: Option<&Dict>) -> Result<EventsQuery, String> {
        let mut q = EventsQuery::default();
        if let Some(v) = args.get(1) {
            q.limit = Some(limit(v)?);
        }
        let Some(kw) = kwargs else { return Ok(q) };
        for (k, v) in kw.iter() {
            match k {
                "limit" => q.limit = Some(limit(v)?),
                "reverse" => {
                    q.reverse = v
                        .as_bool()
                        .ok_or_else(|| "'reverse' must be a boolean".to_owned())?;
                }
                "topic" => {
                    q.topic = Some(
                        v.as_str()
                            .ok_or_else(|| "'topic' must be a string".to_owned())?
                            .to_owned(),
                    );
                }
                "from_time" => q.from_time = Some(time(k, v)?),
                "after_time" => q.after_time = Some(time(k, v)?),
                "before_time" => q.before_time = Some(time(k, v)?),
                "until_time" => q.until_time = Some(time(k, v)?),
                "from_publication" => q.from_publication = Some(publication(k, v)?),
                "after_publication" => q.after_publication = Some(publication(k, v)?),
                "before_publication" => q.before_publication = Some(publication(k, v)?),
                "until_publication" => q.until_publication = Some(publication(k, v)?),
                _ => {}
            }
        }
        Ok(q)
    }
}

fn limit(v: &Value) -> Result<usize, String> {
    match v.as_u64() {
        Some(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err("'limit' must be a positive integer".to_owned()),
    }
}

fn publication(k: &str, v: &Value) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| crate::proto::is_valid_id(*n))
        .ok_or_else(|| format!("'{k}' must be a publication ID"))
}

fn time(k: &str, v: &Value) -> Result<u64, String> {
    v.as_str()
        .and_then(parse_rfc3339)
        .ok_or_else(|| format!("'{k}' must be an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z)"))
}

impl RealmHistory {
    /// The histories of `configs`; `owned_ids[i]` is the subscription ID of
    /// `configs[i]` when this shard owns it.
    pub fn new(
        configs: &[HistoryConfig],
        realm: RealmIdx,
        shard: ShardId,
        shards: u16,
        owned_ids: &[Option<SubscriptionId>],
    ) -> RealmHistory {
        let mut h = RealmHistory::default();
        for (i, c) in configs.iter().enumerate() {
            if h.index.get(&c.uri, c.match_policy).is_some() {
                continue; // the same pattern twice: the first entry wins
            }
            let owner = cluster::owner_of(realm, &c.uri, c.match_policy, shards);
            let id = owned_ids
                .get(i)
                .copied()
                .flatten()
                .filter(|_| owner == shard);
            let n = h.specs.len();
            h.index.insert(&c.uri, c.match_policy, n);
            if let Some(id) = id {
                h.buffers.insert(id, (n, VecDeque::new()));
            }
            h.specs.push(Spec {
                uri: c.uri.clone(),
                policy: c.match_policy,
                limit: c.limit,
                owner,
                id,
            });
        }
        h
    }

    /// Whether the realm has no history configured.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Whether `p` may be kept at all (it names no sessions).
    pub fn records(&self, p: &RoutedPublish) -> bool {
        p.filter.as_ref().is_none_or(|f| !f.names_sessions())
    }

    /// Adds the owners of the histories `topic` matches to `set`.
    pub fn owners_matching(&self, topic: &str, set: &mut ShardSet) {
        self.index.for_each_match(topic, |_, _, &i| {
            set.insert(self.specs[i].owner);
        });
    }

    /// Whether `topic` matches a history this shard owns.
    pub fn owns_match(&self, topic: &str) -> bool {
        let mut any = false;
        self.index.for_each_match(topic, |_, _, &i| {
            any |= self.specs[i].id.is_some();
        });
        any
    }

    /// Appends `p` to every owned history it matches; returns their keys (for the log).
    pub fn record(&mut self, p: &Arc<RoutedPublish>, now: u64) -> Vec<(String, MatchPolicy)> {
        let mut hit = Vec::new();
        self.index.for_each_match(&p.topic, |_, _, &i| hit.push(i));
        let mut keys = Vec::new();
        for i in hit {
            let spec = &self.specs[i];
            let Some(id) = spec.id else { continue };
            if let Some((_, buf)) = self.buffers.get_mut(&id) {
                buf.push_back((now, Arc::clone(p)));
                while buf.len() > spec.limit {
                    buf.pop_front();
                }
                keys.push((spec.uri.clone(), spec.policy));
            }
        }
        keys
    }

    /// Restores a stored event of history (uri, policy), if this shard owns it.
    pub fn load(&mut self, uri: &str, policy: MatchPolicy, time: u64, p: Arc<RoutedPublish>) {
        let Some(&i) = self.index.get(uri, policy) else {
            return;
        };
        let spec = &self.specs[i];
        let Some(id) = spec.id else { return };
        if let Some((_, buf)) = self.buffers.get_mut(&id) {
            buf.push_back((time, p));
            while buf.len() > spec.limit {
                buf.pop_front();
            }
        }
    }

    /// The history's subscription (uri, policy) for `id`, if this shard keeps one.
    pub fn key_of(&self, id: SubscriptionId) -> Option<(&str, MatchPolicy)> {
        let (i, _) = self.buffers.get(&id)?;
        let s = &self.specs[*i];
        Some((&s.uri, s.policy))
    }

    /// Answers `get_events` for history `id` as seen by a caller with
    /// `authid`/`authrole`: the events as the spec's `Event` objects.
    pub fn query(
        &self,
        id: SubscriptionId,
        authid: &str,
        authrole: &str,
        q: &EventsQuery,
    ) -> Option<Vec<Value>> {
        let (i, buf) = self.buffers.get(&id)?;
        let pattern = self.specs[*i].policy != MatchPolicy::Exact;
        // Position bounds by publication ID (IDs are random: find them in the buffer).
        let pos =
            |pid: Option<u64>| pid.map(|p| buf.iter().position(|(_, e)| e.publication.0 == p));
        let lower = match (pos(q.from_publication), pos(q.after_publication)) {
            (Some(None), _) | (_, Some(None)) => return Some(Vec::new()),
            (Some(Some(a)), Some(Some(b))) => a.max(b + 1),
            (Some(Some(a)), None) => a,
            (None, Some(Some(b))) => b + 1,
            (None, None) => 0,
        };
        let upper = match (pos(q.until_publication), pos(q.before_publication)) {
            (Some(None), _) | (_, Some(None)) => return Some(Vec::new()),
            (Some(Some(a)), Some(Some(b))) => (a + 1).min(b),
            (Some(Some(a)), None) => a + 1,
            (None, Some(Some(b))) => b,
            (None, None) => buf.len(),
        };
        let selected = buf
            .iter()
            .enumerate()
            .filter(|(n, _)| *n >= lower && *n < upper)
            .map(|(_, e)| e)
            .filter(|(t, p)| {
                q.from_time.is_none_or(|x| *t >= x)
                    && q.after_time.is_none_or(|x| *t > x)
                    && q.before_time.is_none_or(|x| *t < x)
                    && q.until_time.is_none_or(|x| *t <= x)
                    && q.topic.as_deref().is_none_or(|x| p.topic == x)
                    && p.filter
                        .as_ref()
                        .is_none_or(|f| f.admits_identity(authid, authrole))
            });
        let mut events: Vec<&Kept> = selected.collect();
        if q.reverse {
            events.reverse();
        }
        if let Some(limit) = q.limit
            && events.len() > limit
        {
            // Forward without a lower bound: the most recent `limit` events,
            // still oldest first. Otherwise the first `limit` in traversal order.
            let lower_bound = q.from_publication.is_some()
                || q.after_publication.is_some()
                || q.from_time.is_some()
                || q.after_time.is_some();
            if !q.reverse && !lower_bound {
                events.drain(..events.len() - limit);
            } else {
                events.truncate(limit);
            }
        }
        Some(
            events
                .into_iter()
                .map(|(t, p)| event_object(id, *t, p, pattern))
                .collect(),
        )
    }
}

/// One history entry as the spec's `Event` object.
fn event_object(id: SubscriptionId, time: u64, p: &RoutedPublish, pattern: bool) -> Value {
    let mut details = p.details.clone();
    if pattern {
        details.insert("topic", p.topic.as_str());
    }
    let mut d = Dict::new()
        .with("timestamp", format_rfc3339(time))
        .with("subscription", id.0)
        .with("publication", p.publication.0)
        .with("topic", p.topic.as_str())
        .with("details", details);
    if let Some(a) = &p.payload.args {
        d.insert("args", Value::List(a.clone()));
    }
    if let Some(k) = &p.payload.kwargs {
        d.insert("kwargs", k.clone());
    }
    Value::Dict(d)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Unix nanoseconds as RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.123Z`).
pub fn format_rfc3339(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let millis = (ns / 1_000_000) % 1000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses an RFC 3339 timestamp (`Z` or `±hh:mm` offset, optional fraction) to Unix nanoseconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Payload, PublicationId, SessionId};

    #[test]
    fn rfc3339_round_trips() {
        let ns = 1_714_564_800_123_000_000; // 2024-05-01T12:00:00.123Z
        assert_eq!(format_rfc3339(ns), "2024-05-01T12:00:00.123Z");
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00.123Z"), Some(ns));
        assert_eq!(parse_rfc3339("2024-05-01T14:00:00.123+02:00"), Some(ns));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T00:00:00",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    fn publ(topic: &str, id: u64) -> Arc<RoutedPublish> {
        Arc::new(RoutedPublish {
            realm: 0,
            topic: topic.into(),
            publication: PublicationId(id),
            publisher: SessionId(1),
            exclude_me: true,
            details: Dict::new(),
            payload: Payload::args(vec![Value::from(id)]),
            filter: None,
            retain: false,
            rkey: None,
            native: None,
        })
    }

    fn pubs(v: &[Value]) -> Vec<u64> {
        v.iter()
            .map(|e| {
                e.as_dict()
                    .and_then(|d| d.get("publication"))
                    .and_then(Value::as_u64)
                    .expect("publication")
            })
            .collect()
    }

    #[test]
    fn bounded_buffer_and_query_options() {
        let cfg = vec![HistoryConfig {
            uri: "a.".into(),
            match_policy: MatchPolicy::Prefix,
            limit: 5,
        }];
        let id = SubscriptionId(1);
        let mut h = RealmHistory::new(&cfg, 0, ShardId(0), 1, &[Some(id)]);
        assert!(h.owns_match("a.x") && !h.owns_match("b.x"));
        for i in 1..=8 {
            let topic = if i % 2 == 0 { "a.even" } else { "a.odd" };
            assert_eq!(h.record(&publ(topic, i), i * 1000).len(), 1);
        }
        let all = h
            .query(id, "x", "y", &EventsQuery::default())
            .expect("owned");
        assert_eq!(
            pubs(&all),
            vec![4, 5, 6, 7, 8],
            "bounded to the last 5, oldest first"
        );
        let q = |f: fn(&mut EventsQuery)| {
            let mut q = EventsQuery::default();
            f(&mut q);
            pubs(&h.query(id, "x", "y", &q).expect("owned"))
        };
        assert_eq!(q(|q| q.limit = Some(2)), vec![7, 8]);
        assert_eq!(
            q(|q| {
                q.limit = Some(2);
                q.reverse = true;
            }),
            vec![8, 7]
        );
        assert_eq!(
            q(|q| {
                q.limit = Some(2);
                q.after_publication = Some(5);
            }),
            vec![6, 7]
        );
        assert_eq!(q(|q| q.before_publication = Some(6)), vec![4, 5]);
        assert_eq!(q(|q| q.topic = Some("a.even".into())), vec![4, 6, 8]);
        assert_eq!(q(|q| q.from_time = Some(7000)), vec![7, 8]);
        assert_eq!(q(|q| q.after_publication = Some(999)), Vec::<u64>::new());
        let first = &all[0];
        let d = first.as_dict().expect("dict");
        assert_eq!(
            d.get("details")
                .and_then(Value::as_dict)
                .and_then(|d| d.get("topic")),
            Some(&Value::from("a.even"))
        );
        assert_eq!(d.get("args"), Some(&Value::List(vec![Value::from(4u64)])));
    }

    #[test]
    fn parse_accepts_positional_limit_and_rejects_bad_types() {
        let q = EventsQuery::parse(&[Value::from(1u64), Value::from(3u64)], None).expect("ok");
        assert_eq!(q.limit, Some(3));
        let kw = Dict::new().with("reverse", true).with("limit", 2u64);
        let q = EventsQuery::parse(&[Value::from(1u64)], Some(&kw)).expect("ok");
        assert!(q.reverse);
        assert_eq!(q.limit, Some(2));
        assert!(EventsQuery::parse(&[Value::from(1u64), "x".into()], None).is_err());
        let kw = Dict::new().with("from_time", "yesterday");
        assert!(EventsQuery::parse(&[], Some(&kw)).is_err());
    }
}

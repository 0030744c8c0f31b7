//! The persistent event store of a realm (`store: {type: "file", path}`):
//! one append-only log per realm, `<path>/<realm>.evlog`, holding the
//! event history and the retained events so that they survive a restart.
//!
//! Records are [rkyv] archives, read in place (zero copy) from the file's
//! bytes at startup. Each record is framed so that a torn or corrupt tail
//! (a crash in the middle of a write) is detected and cut off:
//!
//! ```text
//! frame := magic "JEV1" | len u32 LE | fnv1a32(data) u32 LE | 0u32 | data (len bytes) | zero padding to 16
//! ```
//!
//! Frames start at multiples of 16, so an archive read from a 16-aligned
//! buffer is aligned. A record's WAMP details and payload are kept as one
//! MessagePack-encoded EVENT (the router's own codec), so every value type
//! survives unchanged.
//!
//! **Bounded size.** The log keeps an image of what is live: per history the
//! last `limit` frames, per topic the last retained frame. When the file
//! grows past `maxsize`, or past four times the live bytes (and 1 MiB), it is
//! rewritten from the image (to a temporary file, then renamed over the log),
//! so the file never holds more than the configured history plus one
//! retained event per topic, plus the garbage since the last compaction.
//!
//! **Sharing.** All shards of a process share one [`RealmLog`] per file
//! (behind a mutex: only stored publications touch it, never the common
//! publish path). Writers: the owner shard of a history writes its events,
//! the owner shard of a topic (exact policy) writes its retained events, so
//! no record is written twice.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use ahash::AHashMap;
use rkyv::util::AlignedVec;

use crate::config::StoreConfig;
use crate::core::cluster::{PublishFilter, RoutedPublish};
use crate::proto::uri::MatchPolicy;
use crate::proto::{Event, Message, PublicationId, Serializer, SessionId, SubscriptionId};

const MAGIC: &[u8; 4] = b"JEV1";
const HEADER: usize = 16;
/// Below this, a log is never compacted for being mostly garbage.
const MIN_COMPACT_BYTES: u64 = 1 << 20;

/// What a record holds.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq)]
struct Record {
    /// 0: history event of (`uri`, `policy`); 1: retained event of topic `uri`.
    kind: u8,
    /// The history's pattern, or the retained event's topic.
    uri: String,
    /// The history's match policy (0 exact, 1 prefix, 2 wildcard).
    policy: u8,
    /// When the event was kept (Unix nanoseconds).
    time_ns: u64,
    /// The topic published to.
    topic: String,
    /// The publication ID.
    publication: u64,
    /// The publisher's session ID.
    publisher: u64,
    /// `exclude_authid`.
    exclude_authid: Vec<String>,
    /// `eligible_authid`.
    eligible_authid: Option<Vec<String>>,
    /// `exclude_authrole`.
    exclude_authrole: Vec<String>,
    /// `eligible_authrole`.
    eligible_authrole: Option<Vec<String>>,
    /// Details and payload, as a MessagePack EVENT.
    event: Vec<u8>,
}

const KIND_HISTORY: u8 = 0;
const KIND_RETAINED: u8 = 1;

fn policy_code(p: MatchPolicy) -> u8 {
    match p {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

fn policy_of(c: u8) -> Option<MatchPolicy> {
    match c {
        0 => Some(MatchPolicy::Exact),
        1 => Some(MatchPolicy::Prefix),
        2 => Some(MatchPolicy::Wildcard),
        _ => None,
    }
}

/// A stored event, rebuilt at startup.
#[derive(Debug)]
pub enum Loaded {
    /// An event of history (`uri`, `policy`).
    History {
        /// The history's pattern.
        uri: String,
        /// Its policy.
        policy: MatchPolicy,
        /// When it was kept.
        time_ns: u64,
        /// The publication (realm index 0: the caller sets it).
        publish: RoutedPublish,
    },
    /// A retained event.
    Retained {
        /// When it was kept.
        time_ns: u64,
        /// The publication.
        publish: RoutedPublish,
    },
}

/// One realm's log file and the image of its live records.
pub struct RealmLog {
    path: PathBuf,
    file: File,
    /// Bytes in the file.
    len: u64,
    /// Compaction threshold (`maxsize`).
    max_size: u64,
    /// History limits by (pattern, policy code), from the config.
    limits: AHashMap<(String, u8), usize>,
    /// Live history frames per history, oldest first.
    history: AHashMap<(String, u8), VecDeque<Vec<u8>>>,
    /// Live retained frame per topic.
    retained: AHashMap<String, Vec<u8>>,
    /// Sum of the live frames' sizes.
    live: u64,
}

/// Open logs of this process, shared by the shards.
static OPEN: Mutex<Vec<(PathBuf, Weak<Mutex<RealmLog>>)>> = Mutex::new(Vec::new());

/// The log of realm `realm` under `dir` (created if missing), shared with
/// every shard of this process that opened it and is still running.
///
/// # Errors
/// The directory or file cannot be created, read or written.
pub fn open(dir: &Path, realm: &str, cfg: &StoreConfig) -> io::Result<Arc<Mutex<RealmLog>>> {
    let path = dir.join(format!("{realm}.evlog"));
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|(_, w)| w.strong_count() > 0);
    if let Some(log) = open
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(log);
    }
    std::fs::create_dir_all(dir)?;
    let log = Arc::new(Mutex::new(RealmLog::open(&path, cfg)?));
    open.push((path, Arc::downgrade(&log)));
    Ok(log)
}

impl RealmLog {
    /// Opens (or creates) the log at `path`, loads its valid records, cuts
    /// off a corrupt tail and compacts it.
    ///
    /// # Errors
    /// The file cannot be read or written.
    pub fn open(path: &Path, cfg: &StoreConfig) -> io::Result<RealmLog> {
        let limits = cfg
            .event_history
            .iter()
            .map(|h| ((h.uri.clone(), policy_code(h.match_policy)), h.limit))
            .collect();
        let mut log = RealmLog {
            path: path.to_owned(),
            file: OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(path)?,
            len: 0,
            max_size: cfg.max_size.max(HEADER as u64 * 64),
            limits,
            history: AHashMap::new(),
            retained: AHashMap::new(),
            live: 0,
        };
        let mut raw = Vec::new();
        File::open(path)?.read_to_end(&mut raw)?;
        let mut buf = AlignedVec::<16>::with_capacity(raw.len());
        buf.extend_from_slice(&raw);
        drop(raw);
        let mut off = 0;
        while let Some((frame_len, rec)) = read_frame(&buf[off..]) {
            let frame = buf[off..off + frame_len].to_vec();
            log.take(rec.kind, rec.uri.as_str(), rec.policy, frame);
            off += frame_len;
        }
        if off < buf.len() {
            tracing::warn!(
                path = %path.display(),
                valid = off,
                size = buf.len(),
                "event store: ignoring a corrupt or torn tail"
            );
        }
        log.len = buf.len() as u64;
        log.compact()?;
        Ok(log)
    }

    /// Adds a frame to the image (trimming its history to the limit).
    fn take(&mut self, kind: u8, uri: &str, policy: u8, frame: Vec<u8>) {
        let n = frame.len() as u64;
        match kind {
            KIND_HISTORY => {
                let key = (uri.to_owned(), policy);
                let Some(&limit) = self.limits.get(&key) else {
                    return; // no longer configured
                };
                let buf = self.history.entry(key).or_default();
                buf.push_back(frame);
                self.live += n;
                while buf.len() > limit {
                    if let Some(old) = buf.pop_front() {
                        self.live -= old.len() as u64;
                    }
                }
            }
            KIND_RETAINED => {
                if let Some(old) = self.retained.insert(uri.to_owned(), frame) {
                    self.live -= old.len() as u64;
                }
                self.live += n;
            }
            _ => {}
        }
    }

    /// Every live record, rebuilt (history events oldest first).
    pub fn records(&self) -> Vec<Loaded> {
        let mut out = Vec::new();
        let frames = self
            .history
            .values()
            .flat_map(|q| q.iter())
            .chain(self.retained.values());
        for frame in frames {
            let mut buf = AlignedVec::<16>::with_capacity(frame.len());
            buf.extend_from_slice(frame);
            let Some((_, rec)) = read_frame(&buf) else {
                continue;
            };
            if let Some(l) = loaded(rec) {
                out.push(l);
            }
        }
        out
    }

    /// Appends a history event of (`uri`, `policy`).
    ///
    /// # Errors
    /// The write failed.
    pub fn append_history(
        &mut self,
        uri: &str,
        policy: MatchPolicy,
        p: &RoutedPublish,
        time_ns: u64,
    ) -> io::Result<()> {
        self.append(record(KIND_HISTORY, uri, policy_code(policy), p, time_ns))
    }

    /// Appends the retained event of `p.topic`.
    ///
    /// # Errors
    /// The write failed.
    pub fn append_retained(&mut self, p: &RoutedPublish, time_ns: u64) -> io::Result<()> {
        self.append(record(KIND_RETAINED, &p.topic, 0, p, time_ns))
    }

    fn append(&mut self, rec: Record) -> io::Result<()> {
        let frame = encode_frame(&rec)?;
        self.file.write_all(&frame)?;
        self.len += frame.len() as u64;
        self.take(rec.kind, &rec.uri, rec.policy, frame);
        if self.len > self.max_size || (self.len > MIN_COMPACT_BYTES && self.len > 4 * self.live) {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only the live records.
    fn compact(&mut self) -> io::Result<()> {
        if self.len == self.live {
            return Ok(());
        }
        let tmp = self.path.with_extension("evlog.tmp");
        {
            let mut f = File::create(&tmp)?;
            let mut w = io::BufWriter::new(&mut f);
            for q in self.history.values() {
                for frame in q {
                    w.write_all(frame)?;
                }
            }
            for frame in self.retained.values() {
                w.write_all(frame)?;
            }
            w.flush()?;
            drop(w);
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.len = self.live;
        Ok(())
    }

    /// Bytes in the file now.
    pub fn file_len(&self) -> u64 {
        self.len
    }
}

fn record(kind: u8, uri: &str, policy: u8, p: &RoutedPublish, time_ns: u64) -> Record {
    let f = p.filter.as_deref();
    let event = Serializer::MsgPack.encode(&Message::Event(Event {
        subscription: SubscriptionId(1),
        publication: p.publication,
        details: p.details.clone(),
        payload: p.payload.clone(),
    }));
    Record {
        kind,
        uri: uri.to_owned(),
        policy,
        time_ns,
        topic: p.topic.clone(),
        publication: p.publication.0,
        publisher: p.publisher.0,
        exclude_authid: f.map(|f| f.exclude_authid.clone()).unwrap_or_default(),
        eligible_authid: f.and_then(|f| f.eligible_authid.clone()),
        exclude_authrole: f.map(|f| f.exclude_authrole.clone()).unwrap_or_default(),
        eligible_authrole: f.and_then(|f| f.eligible_authrole.clone()),
        event: event.to_vec(),
    }
}

fn encode_frame(rec: &Record) -> io::Result<Vec<u8>> {
    let data = rkyv::to_bytes::<rkyv::rancor::Error>(rec).map_err(io::Error::other)?;
    let len = u32::try_from(data.len()).map_err(io::Error::other)?;
    let padded = data.len().div_ceil(16) * 16;
    let mut frame = Vec::with_capacity(HEADER + padded);
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&fnv1a(&data).to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(&data);
    frame.resize(HEADER + padded, 0);
    Ok(frame)
}

/// The frame at the start of `buf` (which must start 16-aligned): its total
/// length and the archived record, read in place. `None` at the end or at a
/// torn or corrupt frame.
fn read_frame(buf: &[u8]) -> Option<(usize, &ArchivedRecord)> {
    if buf.len() < HEADER || &buf[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(buf[4..8].try_into().ok()?) as usize;
    let sum = u32::from_le_bytes(buf[8..12].try_into().ok()?);
    let total = HEADER + len.div_ceil(16) * 16;
    if buf.len() < total {
        return None;
    }
    let data = &buf[HEADER..HEADER + len];
    if fnv1a(data) != sum {
        return None;
    }
    let rec = rkyv::access::<ArchivedRecord, rkyv::rancor::Error>(data).ok()?;
    Some((total, rec))
}

/// Rebuilds a publication from an archived record.
fn loaded(rec: &ArchivedRecord) -> Option<Loaded> {
    let Ok(Message::Event(ev)) = Serializer::MsgPack.decode(rec.event.as_slice()) else {
        return None;
    };
    let strings = |v: &rkyv::vec::ArchivedVec<rkyv::string::ArchivedString>| -> Vec<String> {
        v.iter().map(|s| s.as_str().to_owned()).collect()
    };
    let filter = PublishFilter {
        exclude_authid: strings(&rec.exclude_authid),
        eligible_authid: rec.eligible_authid.as_ref().map(strings),
        exclude_authrole: strings(&rec.exclude_authrole),
        eligible_authrole: rec.eligible_authrole.as_ref().map(strings),
        ..PublishFilter::default()
    };
    let publish = RoutedPublish {
        realm: 0,
        topic: rec.topic.as_str().to_owned(),
        publication: PublicationId(rec.publication.to_native()),
        publisher: SessionId(rec.publisher.to_native()),
        exclude_me: false,
        details: ev.details,
        payload: ev.payload,
        filter: (filter != PublishFilter::default()).then(|| Box::new(filter)),
        retain: rec.kind == KIND_RETAINED,
        rkey: None,
    };
    let time_ns = rec.time_ns.to_native();
    match rec.kind {
        KIND_HISTORY => Some(Loaded::History {
            uri: rec.uri.as_str().to_owned(),
            policy: policy_of(rec.policy)?,
            time_ns,
            publish,
        }),
        KIND_RETAINED => Some(Loaded::Retained { time_ns, publish }),
        _ => None,
    }
}

/// FNV-1a, 32 bits: a cheap check against torn writes (not against tampering).
fn fnv1a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HistoryConfig;
    use crate::proto::{Dict, Payload, Value};

    fn cfg(limit: usize, max_size: u64) -> StoreConfig {
        StoreConfig {
            path: None,
            max_size,
            event_history: vec![HistoryConfig {
                uri: "com.h.".into(),
                match_policy: MatchPolicy::Prefix,
                limit,
            }],
            ..StoreConfig::default()
        }
    }

    fn publ(topic: &str, id: u64, retain: bool) -> RoutedPublish {
        RoutedPublish {
            realm: 0,
            topic: topic.into(),
            publication: PublicationId(id),
            publisher: SessionId(77),
            exclude_me: true,
            details: Dict::new().with("trustlevel", 2u64),
            payload: Payload {
                args: Some(vec![Value::from(id), Value::Float(1.5)]),
                kwargs: Some(
                    Dict::new().with("b", Value::Bytes(bytes::Bytes::from_static(b"\x00\xff"))),
                ),
            },
            filter: Some(Box::new(PublishFilter {
                eligible_authrole: Some(vec!["admin".into()]),
                ..PublishFilter::default()
            })),
            retain,
            rkey: None,
        }
    }

    fn history_ids(records: &[Loaded]) -> Vec<u64> {
        let mut v: Vec<(u64, u64)> = records
            .iter()
            .filter_map(|r| match r {
                Loaded::History {
                    time_ns, publish, ..
                } => Some((*time_ns, publish.publication.0)),
                Loaded::Retained { .. } => None,
            })
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, p)| p).collect()
    }

    #[test]
    fn write_reopen_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.evlog");
        {
            let mut log = RealmLog::open(&path, &cfg(3, 1 << 30)).expect("open");
            for i in 1..=5 {
                log.append_history("com.h.", MatchPolicy::Prefix, &publ("com.h.x", i, false), i)
                    .expect("append");
            }
            log.append_retained(&publ("com.r", 10, true), 10)
                .expect("append");
            log.append_retained(&publ("com.r", 11, true), 11)
                .expect("append");
        }
        let log = RealmLog::open(&path, &cfg(3, 1 << 30)).expect("reopen");
        let recs = log.records();
        assert_eq!(
            history_ids(&recs),
            vec![3, 4, 5],
            "only the last `limit` survive"
        );
        let retained: Vec<&RoutedPublish> = recs
            .iter()
            .filter_map(|r| match r {
                Loaded::Retained { publish, .. } => Some(publish),
                Loaded::History { .. } => None,
            })
            .collect();
        assert_eq!(retained.len(), 1);
        let r = retained[0];
        assert_eq!(
            r.publication,
            PublicationId(11),
            "the latest retained event wins"
        );
        let want = publ("com.r", 11, true);
        assert_eq!(r.payload, want.payload, "payload survives byte for byte");
        assert_eq!(r.details, want.details);
        assert_eq!(r.filter, want.filter);
        assert!(r.retain);
        // Reopening compacted the file to the live records.
        assert_eq!(log.file_len(), log.live);
    }

    #[test]
    fn torn_tail_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.evlog");
        {
            let mut log = RealmLog::open(&path, &cfg(10, 1 << 30)).expect("open");
            for i in 1..=3 {
                log.append_history("com.h.", MatchPolicy::Prefix, &publ("com.h.x", i, false), i)
                    .expect("append");
            }
        }
        let full = std::fs::read(&path).expect("read");
        std::fs::write(&path, &full[..full.len() - 7]).expect("truncate");
        let log = RealmLog::open(&path, &cfg(10, 1 << 30)).expect("reopen");
        assert_eq!(history_ids(&log.records()), vec![1, 2]);
        // Garbage in the middle of a frame is detected by the checksum.
        let mut bad = std::fs::read(&path).expect("read");
        let last = bad.len() - 20;
        bad[last] ^= 0xff;
        std::fs::write(&path, &bad).expect("write");
        let log = RealmLog::open(&path, &cfg(10, 1 << 30)).expect("reopen");
        assert_eq!(history_ids(&log.records()), vec![1]);
    }

    #[test]
    fn file_stays_bounded_by_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.evlog");
        let max = 64 * 1024;
        let mut log = RealmLog::open(&path, &cfg(5, max)).expect("open");
        for i in 1..=2000 {
            log.append_history("com.h.", MatchPolicy::Prefix, &publ("com.h.x", i, false), i)
                .expect("append");
            log.append_retained(&publ("com.r", i, true), i)
                .expect("append");
            assert!(
                log.file_len() <= max + 4096,
                "log grew to {}",
                log.file_len()
            );
        }
        let on_disk = std::fs::metadata(&path).expect("stat").len();
        assert_eq!(on_disk, log.file_len());
        drop(log);
        let log = RealmLog::open(&path, &cfg(5, max)).expect("reopen");
        assert_eq!(
            history_ids(&log.records()),
            vec![1996, 1997, 1998, 1999, 2000]
        );
    }

    #[test]
    fn shards_share_one_log_per_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = cfg(3, 1 << 30);
        let a = open(dir.path(), "realm1", &c).expect("open");
        let b = open(dir.path(), "realm1", &c).expect("open");
        assert!(Arc::ptr_eq(&a, &b));
        let other = open(dir.path(), "realm2", &c).expect("open");
        assert!(!Arc::ptr_eq(&a, &other));
        drop((a, b));
        let again = open(dir.path(), "realm1", &c).expect("open");
        assert_eq!(again.lock().expect("lock").records().len(), 0);
    }
}

//! The event store of the realms (`store: {type: "file", path}`): one
//! write-ahead log ([`crate::store::wal`]) per realm, in
//! `<path>/<realm>.events/`, holding the event history and the retained
//! events so that they survive a restart. It implements the core's
//! [`EventJournal`]: a shard hands over an `Arc` of the publication it
//! already holds, and the log's writer thread encodes and writes it.
//!
//! **Keys.** A retained event is a `Put` under `r<topic>` (the last one
//! wins); a history event is an `Append` under `h<policy><uri>` that keeps
//! the history's `limit` (so the log's image is exactly the live history).
//! Histories no longer configured are deleted (a tombstone) at open.
//!
//! **Values** are [rkyv] archives of an event's
//! [`Record`](crate::store::records::event::Record), read in place at
//! startup; the realm's log holds them as [`StoreValue::Event`].
//!
//! **MQTT sessions** of the realm's MQTT clients live in the same log under
//! `m` keys ([`crate::store::mqtt`]): one writer orders a publication's
//! retained event and the session records it produced, so a marker after
//! them covers both.
//!
//! **Lifetime.** [`EventStore::open`] runs once per process before the
//! shards start: it opens every log, loads what it holds (blocking is fine
//! there) and starts one writer thread per realm log; each shard gets a
//! [`FileJournal`] (cloned senders and the loaded events).
//! [`EventStore::close`] (after the shards stopped) writes and syncs what
//! is queued.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use crate::config::{Config, RealmConfig};
use crate::core::cluster::{RealmIdx, RoutedPublish};
use crate::core::journal::{EventJournal, StoredEvent};
use crate::proto::uri::MatchPolicy;
use crate::store::mqtt::MqttLog;
use crate::store::records::StoreValue;
use crate::store::records::event::{EventValue, publication};
use crate::store::records::mqtt::{KEY_MQTT, Loader, RestoredSession};
use crate::store::wal::{self, Op, Wal, WalError, WalSender};

/// At most one warning per this interval per shard when records are not persisted.
const WARN_EVERY: Duration = Duration::from_secs(10);

const KEY_RETAINED: u8 = b'r';
const KEY_HISTORY: u8 = b'h';

fn policy_code(p: MatchPolicy) -> u8 {
    match p {
        MatchPolicy::Exact => b'e',
        MatchPolicy::Prefix => b'p',
        MatchPolicy::Wildcard => b'w',
    }
}

fn policy_of(c: u8) -> Option<MatchPolicy> {
    match c {
        b'e' => Some(MatchPolicy::Exact),
        b'p' => Some(MatchPolicy::Prefix),
        b'w' => Some(MatchPolicy::Wildcard),
        _ => None,
    }
}

fn retained_key(topic: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + topic.len());
    k.push(KEY_RETAINED);
    k.extend_from_slice(topic.as_bytes());
    k
}

fn history_key(uri: &str, policy: MatchPolicy) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + uri.len());
    k.push(KEY_HISTORY);
    k.push(policy_code(policy));
    k.extend_from_slice(uri.as_bytes());
    k
}

/// The stored event of (`key`, `value`); `Err(true)` for a history no
/// longer configured (its key is deleted), `Err(false)` for an unreadable
/// value.
fn stored_event(
    realm: RealmIdx,
    limits: &Limits,
    key: &[u8],
    value: &[u8],
) -> Result<StoredEvent, bool> {
    match key.split_first() {
        Some((&KEY_RETAINED, _)) => {
            let (time_ns, publish) = publication(realm, value, true).ok_or(false)?;
            Ok(StoredEvent::Retained {
                time_ns,
                publish: Arc::new(publish),
            })
        }
        Some((&KEY_HISTORY, rest)) if !rest.is_empty() => {
            let policy = policy_of(rest[0]).ok_or(false)?;
            let uri = std::str::from_utf8(&rest[1..]).map_err(|_| false)?;
            if !limits.contains_key(key) {
                return Err(true);
            }
            let (time_ns, publish) = publication(realm, value, false).ok_or(false)?;
            Ok(StoredEvent::History {
                uri: uri.to_owned(),
                policy,
                time_ns,
                publish: Arc::new(publish),
            })
        }
        _ => Err(false),
    }
}

/// One realm's open log and what it held at open.
struct RealmLog {
    name: String,
    wal: Wal<StoreValue>,
    stored: Arc<Vec<StoredEvent>>,
    limits: Arc<Limits>,
    /// The MQTT sessions it held (taken once by [`EventStore::mqtt_sessions`]).
    mqtt: Vec<RestoredSession>,
}

/// History limits by history key.
type Limits = AHashMap<Vec<u8>, u32>;

/// The event logs of every realm with a file store; owns their writer threads.
pub struct EventStore {
    /// By realm index; `None` for a memory store (or one that failed to open).
    realms: Vec<Option<RealmLog>>,
}

/// The directory of realm `name`'s log under `dir`.
pub fn log_dir(dir: &std::path::Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.events"))
}

impl EventStore {
    /// Opens the log of every realm whose store has a path and loads it.
    /// Never fails: a log that cannot be opened is logged and its realm
    /// keeps history and retained events in memory only. Blocking: call it
    /// before the shards start.
    pub fn open(config: &Config) -> EventStore {
        let realms = config
            .realms
            .iter()
            .enumerate()
            .map(|(i, rc)| {
                let dir = rc.store.path.as_ref()?;
                match open_realm(i as RealmIdx, rc, dir) {
                    Ok(log) => Some(log),
                    Err(e) => {
                        tracing::error!(
                            realm = %rc.name,
                            path = %dir.display(),
                            error = %e,
                            "cannot open the event store; history and retained events stay in memory"
                        );
                        None
                    }
                }
            })
            .collect();
        EventStore { realms }
    }

    /// One journal per shard, each handing back what was loaded once.
    /// After this the store holds none of the loaded events (so superseded
    /// ones are freed once the shards have taken them).
    pub fn journals(&mut self, shards: usize) -> Vec<FileJournal> {
        let journals = (0..shards)
            .map(|_| FileJournal {
                realms: self
                    .realms
                    .iter()
                    .map(|r| {
                        r.as_ref().map(|r| RealmJournal {
                            tx: r.wal.sender(),
                            stored: Arc::clone(&r.stored),
                            limits: Arc::clone(&r.limits),
                        })
                    })
                    .collect(),
                last_warn: None,
            })
            .collect();
        for r in self.realms.iter_mut().flatten() {
            r.stored = Arc::default();
        }
        journals
    }

    /// One handle per shard on the MQTT session records of every realm with
    /// a log (see [`crate::store::mqtt`]).
    pub fn mqtt_logs(&self, shards: usize) -> Vec<MqttLog> {
        let realms: Vec<(String, WalSender<StoreValue>)> = self
            .realms
            .iter()
            .flatten()
            .map(|r| (r.name.clone(), r.wal.sender()))
            .collect();
        (0..shards).map(|_| MqttLog::new(realms.clone())).collect()
    }

    /// The MQTT sessions the logs held at open (handed out once).
    pub fn mqtt_sessions(&mut self) -> Vec<RestoredSession> {
        self.realms
            .iter_mut()
            .flatten()
            .flat_map(|r| std::mem::take(&mut r.mqtt))
            .collect()
    }

    /// The counters of realm `realm`'s log, if it has one.
    pub fn stats(&self, realm: RealmIdx) -> Option<wal::Stats> {
        self.realms
            .get(realm as usize)
            .and_then(Option::as_ref)
            .map(|r| r.wal.stats())
    }

    /// Blocks until everything handed over so far is written and synced.
    ///
    /// # Errors
    /// A log failed to sync.
    pub fn flush(&self) -> Result<(), WalError> {
        for r in self.realms.iter().flatten() {
            r.wal.flush()?;
        }
        Ok(())
    }

    /// Writes and syncs what is queued and stops the writers (call it once
    /// the shards have stopped; later hand-overs are not persisted).
    pub fn close(self) {
        for r in self.realms.into_iter().flatten() {
            r.wal.close();
        }
    }
}

fn open_realm(
    realm: RealmIdx,
    rc: &RealmConfig,
    dir: &std::path::Path,
) -> Result<RealmLog, WalError> {
    let old = dir.join(format!("{}.evlog", rc.name));
    if old.exists() {
        tracing::warn!(file = %old.display(), "event store: a log of an earlier format is not read (history and retained events now live in {}.events/)", rc.name);
    }
    let limits: Limits = rc
        .store
        .event_history
        .iter()
        .map(|h| {
            (
                history_key(&h.uri, h.match_policy),
                u32::try_from(h.limit).unwrap_or(u32::MAX),
            )
        })
        .collect();
    let opts = wal::Options {
        queue: rc.store.queue,
        ..wal::Options::new(
            &format!("events-{}", rc.name),
            rc.store.fsync,
            rc.store.max_size,
        )
    };
    let mut stored = Vec::new();
    let mut gone = Vec::new();
    let mut unreadable = 0usize;
    let mut sessions = Loader::default();
    let started = Instant::now();
    let (wal, recovery) = Wal::open(&log_dir(dir, &rc.name), opts, |key, value| {
        if key.first() == Some(&KEY_MQTT) {
            return sessions.add(key, value);
        }
        match stored_event(realm, &limits, key, value) {
            Ok(ev) => stored.push(ev),
            Err(true) => {
                if gone.last().is_none_or(|k: &Vec<u8>| k != key) {
                    gone.push(key.to_vec());
                }
            }
            Err(false) => unreadable += 1,
        }
    })?;
    unreadable += sessions.unreadable;
    if unreadable > 0 {
        tracing::warn!(realm = %rc.name, records = unreadable, "event store: records that do not read back were skipped");
    }
    let (mqtt, stale) = sessions.finish(&rc.name);
    let tx = wal.sender();
    for key in gone {
        // A history no longer configured: its events go at the next compaction.
        let _ = tx.append(Op::Delete { key });
    }
    for prefix in stale {
        // An older incarnation of an MQTT session (its end was not written).
        let _ = tx.append(Op::DeletePrefix { prefix });
    }
    tracing::info!(
        realm = %rc.name,
        events = stored.len(),
        mqtt_sessions = mqtt.len(),
        segments = recovery.segments,
        records = recovery.records,
        damaged = recovery.damage.len(),
        ms = started.elapsed().as_millis() as u64,
        "event store loaded"
    );
    Ok(RealmLog {
        name: rc.name.clone(),
        wal,
        stored: Arc::new(stored),
        limits: Arc::new(limits),
        mqtt,
    })
}

/// One shard's hand-off to the realm logs: [`EventJournal`] by enqueueing.
pub struct FileJournal {
    realms: Vec<Option<RealmJournal>>,
    last_warn: Option<Instant>,
}

struct RealmJournal {
    tx: WalSender<StoreValue>,
    stored: Arc<Vec<StoredEvent>>,
    limits: Arc<Limits>,
}

impl FileJournal {
    fn send(&mut self, realm: RealmIdx, op: Op<StoreValue>) {
        let Some(Some(r)) = self.realms.get(realm as usize) else {
            return;
        };
        if let Err(e) = r.tx.append(op) {
            let now = Instant::now();
            if self
                .last_warn
                .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
            {
                self.last_warn = Some(now);
                let dropped = r.tx.stats().dropped;
                tracing::warn!(error = %e, dropped, "event store: an event is not persisted");
            }
        }
    }
}

impl EventJournal for FileJournal {
    fn stored(&mut self, realm: RealmIdx) -> Vec<StoredEvent> {
        match self.realms.get_mut(realm as usize) {
            // Taken once: the router keeps what it needs.
            Some(Some(r)) => std::mem::take(&mut r.stored).as_ref().clone(),
            _ => Vec::new(),
        }
    }

    fn keep_retained(&mut self, realm: RealmIdx, p: &Arc<RoutedPublish>, time_ns: u64) {
        self.send(
            realm,
            Op::Put {
                key: retained_key(&p.topic),
                value: StoreValue::Event(EventValue::new(Arc::clone(p), time_ns)),
            },
        );
    }

    fn clear_retained(&mut self, realm: RealmIdx, topic: &str) {
        self.send(
            realm,
            Op::Delete {
                key: retained_key(topic),
            },
        );
    }

    fn keep_history(
        &mut self,
        realm: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        p: &Arc<RoutedPublish>,
        time_ns: u64,
    ) {
        let key = history_key(uri, policy);
        let keep = match self.realms.get(realm as usize) {
            Some(Some(r)) => match r.limits.get(&key) {
                Some(&k) => k,
                None => return,
            },
            _ => return,
        };
        self.send(
            realm,
            Op::Append {
                key,
                keep,
                value: StoreValue::Event(EventValue::new(Arc::clone(p), time_ns)),
            },
        );
    }
}

#[cfg(test)]
mod tests;

//! A write-ahead log of keyed records, written by its own thread: the
//! durable storage under the event store and, next, the MQTT session store.
//! It knows nothing of WAMP or MQTT: keys and values are bytes.
//!
//! **Model.** A log is a directory of segment files (`<seq>.wal`, 16 hex
//! digits) of checksummed records (see [`frame`]). Each record is an [`Op`]
//! on a key: `Put` (the key's value), `Append` (one more value in the key's
//! list, which keeps its last `keep`), `Delete` and `DeletePrefix`
//! (tombstones). Replaying the segments in order gives the **live image**:
//! per key, the last value or the last `keep` values. Everything else is
//! garbage that compaction drops.
//!
//! **Writing never blocks the caller.** [`WalSender::append`] puts the
//! operation on a bounded crossbeam channel (`try_send`: a full queue is an
//! error, never a wait); values are encoded on the writer thread
//! ([`Encode`]), so a caller can hand over an `Arc` of what it already holds.
//! The writer takes everything queued (up to 1 MiB), encodes it into one
//! buffer, writes it with one `write`, and syncs per [`FsyncPolicy`]:
//! `always` syncs every batch before acknowledging it, `interval` syncs at
//! most once per interval while something is unsynced, `never` leaves it to
//! the OS. An append may carry an [`Ack`], called on the writer thread once
//! the record is as durable as the policy promises (after its sync for
//! `always` and `interval`, after its write for `never`), or with an error.
//! [`WalSender::mark_acked`] asks for the same acknowledgement of
//! everything queued before it without writing a record (the MQTT front end
//! acknowledges a batch of publications with one). [`Wal::flush`] and
//! closing always sync.
//!
//! **Recovery** ([`Wal::open`]) reads the segments, sets aside (renames to
//! `.bad`) a segment whose header it cannot read, replays from the last
//! snapshot on, and cuts off the first record that is torn or fails its
//! checksum, with the rest of that segment. It logs each with file and
//! offset and never refuses to start because of them. The caller gets the
//! live image once (a visitor) before the writer starts.
//!
//! **Compaction** runs on the writer thread when garbage passes a quarter of
//! the live bytes (and 1 MiB) and the log is over `max_size` or more than
//! half garbage: it writes the live image to `<seq>.wal.tmp` with a snapshot
//! header, fsyncs it, renames it into place, fsyncs the directory, then
//! removes the older segments. A crash at any point leaves either the old
//! segments or the snapshot (recovery ignores segments older than the last
//! snapshot, and removes stray `.tmp` files). So a log holds at most about
//! `max(max_size, 2 × live)` bytes plus one segment.
//!
//! **One process.** A log's directory is locked (`flock` on `LOCK`) while
//! it is open; a second open fails with [`WalError::Locked`].

pub mod frame;
mod image;
mod recover;
mod writer;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};

pub use self::frame::HeaderError;
use crate::config::FsyncPolicy;

/// Default [`Options::queue`]: operations waiting for the writer.
pub const DEFAULT_QUEUE: usize = 65_536;

/// How a log is written.
#[derive(Debug, Clone)]
pub struct Options {
    /// A name for logs and the writer thread (`junction-wal-<name>`).
    pub name: String,
    /// When the writer syncs.
    pub fsync: FsyncPolicy,
    /// Compaction threshold in bytes (see the module docs).
    pub max_size: u64,
    /// A segment is sealed and the next started past this many bytes.
    pub segment_size: u64,
    /// Operations that may wait for the writer; past that, appends fail
    /// with [`WalError::QueueFull`].
    pub queue: usize,
}

impl Options {
    /// Options for a log compacted past `max_size`: segments of a quarter of
    /// it (64 KiB to 64 MiB) and a queue of [`DEFAULT_QUEUE`].
    pub fn new(name: &str, fsync: FsyncPolicy, max_size: u64) -> Options {
        Options {
            name: name.to_owned(),
            fsync,
            max_size,
            segment_size: (max_size / 4).clamp(64 << 10, 64 << 20),
            queue: DEFAULT_QUEUE,
        }
    }
}

/// A value the writer thread encodes into a record.
pub trait Encode: Send + 'static {
    /// Appends the value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

impl Encode for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Encode for bytes::Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// One operation on the log's image.
#[derive(Debug, Clone, PartialEq)]
pub enum Op<V> {
    /// `key` now holds `value` (whatever it held before).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: V,
    },
    /// `value` joins `key`'s list, which keeps its last `keep` values (at least one).
    Append {
        /// The key.
        key: Vec<u8>,
        /// How many values the list keeps.
        keep: u32,
        /// The value.
        value: V,
    },
    /// Tombstone: `key` holds nothing.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Tombstone: no key starting with `prefix` holds anything.
    DeletePrefix {
        /// The prefix.
        prefix: Vec<u8>,
    },
}

impl<V> Op<V> {
    /// The same operation with its value turned into `f(value)`: how a log
    /// that holds values of several kinds takes the operations of one kind.
    pub fn map<W>(self, f: impl FnOnce(V) -> W) -> Op<W> {
        match self {
            Op::Put { key, value } => Op::Put {
                key,
                value: f(value),
            },
            Op::Append { key, keep, value } => Op::Append {
                key,
                keep,
                value: f(value),
            },
            Op::Delete { key } => Op::Delete { key },
            Op::DeletePrefix { prefix } => Op::DeletePrefix { prefix },
        }
    }
}

/// Called on the writer thread once an acknowledged append is durable (per
/// the policy), or with why it is not.
pub type Ack = Box<dyn FnOnce(Result<(), AckError>) + Send>;

/// Why an acknowledged record is not durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The write failed (e.g. the disk is full).
    #[error("the write failed")]
    Write,
    /// The sync failed; what was written since the last good sync may be lost.
    #[error("the sync failed")]
    Sync,
    /// The record is larger than a frame can carry (4 GiB).
    #[error("the record is too large")]
    TooLarge,
}

/// Why a log cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file operation failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process has this log open.
    #[error("{0} is in use by another process")]
    Locked(PathBuf),
    /// The writer is behind by [`Options::queue`] operations; this one is not logged.
    #[error("the write queue is full")]
    QueueFull,
    /// The log was closed.
    #[error("the log is closed")]
    Closed,
    /// A flush could not make the log durable.
    #[error("flush: {0}")]
    Failed(AckError),
}

pub(crate) fn io_err(what: &'static str, path: &Path, source: io::Error) -> WalError {
    WalError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Damage found at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub file: PathBuf,
    /// Byte offset in it where the damage starts (what follows was dropped).
    pub offset: u64,
    /// What was found.
    pub what: DamageKind,
}

/// Kinds of [`Damage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// A record cut short at the end of a segment (a crash during a write).
    Torn,
    /// A record that fails its checksum with more data after it.
    Corrupt,
    /// The segment's header cannot be used; the file was set aside (`.bad`),
    /// or removed when it was shorter than a header (it held no record).
    Header(HeaderError),
    /// The header names another segment than the file name; set aside.
    Misnamed,
}

/// What [`Wal::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segments read.
    pub segments: usize,
    /// Records replayed.
    pub records: u64,
    /// Valid records of an unknown operation (a later build's), skipped.
    pub skipped: u64,
    /// Live values after replay.
    pub live: usize,
    /// Everything damaged, in the order found.
    pub damage: Vec<Damage>,
}

/// Counters of a log, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations queued.
    pub queued: u64,
    /// Operations refused because the queue was full.
    pub dropped: u64,
    /// Records written.
    pub records_written: u64,
    /// Bytes written (frames).
    pub bytes_written: u64,
    /// Successful syncs.
    pub syncs: u64,
    /// Compactions done.
    pub compactions: u64,
    /// Failed writes, syncs and compactions.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queued: AtomicU64,
    dropped: AtomicU64,
    records_written: AtomicU64,
    bytes_written: AtomicU64,
    syncs: AtomicU64,
    compactions: AtomicU64,
    errors: AtomicU64,
}

enum Cmd<V> {
    Op(Op<V>, Option<Ack>),
    Flush(Ack),
    Mark(Ack),
    Written(Ack),
    Close,
}

/// A handle that queues operations for a log's writer: cheap to clone, `Send`,
/// never blocks.
pub struct WalSender<V> {
    tx: Sender<Cmd<V>>,
    shared: Arc<Shared>,
}

impl<V> Clone for WalSender<V> {
    fn clone(&self) -> Self {
        WalSender {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<V: Encode> WalSender<V> {
    fn push(&self, cmd: Cmd<V>) -> Result<(), WalError> {
        match self.tx.try_send(cmd) {
            Ok(()) => {
                self.shared.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                Err(WalError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => Err(WalError::Closed),
        }
    }

    /// Queues `op`.
    ///
    /// # Errors
    /// [`WalError::QueueFull`] or [`WalError::Closed`]: the operation is not logged.
    pub fn append(&self, op: Op<V>) -> Result<(), WalError> {
        self.push(Cmd::Op(op, None))
    }

    /// Queues `op`; `ack` is called on the writer thread once it is durable
    /// per the policy (or with the reason it is not).
    ///
    /// # Errors
    /// [`WalError::QueueFull`] or [`WalError::Closed`]: the operation is not
    /// logged and `ack` is dropped without being called.
    pub fn append_acked(&self, op: Op<V>, ack: Ack) -> Result<(), WalError> {
        self.push(Cmd::Op(op, Some(ack)))
    }

    /// Queues a marker without a record: `ack` is called once everything
    /// queued before it is as durable as the policy promises (as an append's
    /// acknowledgement would be). Costs no record and no extra sync.
    ///
    /// # Errors
    /// As [`WalSender::append_acked`].
    pub fn mark_acked(&self, ack: Ack) -> Result<(), WalError> {
        self.push(Cmd::Mark(ack))
    }

    /// Queues a marker acknowledged once everything queued before it is
    /// written to the segment (handed to the kernel: safe from a crash of
    /// the process, not from a power cut) — or, under the `always` policy,
    /// synced, like [`WalSender::mark_acked`]. What a front end waits for
    /// before acknowledging a client when waiting for the policy's sync
    /// (up to `fsync-interval`) would stall it.
    ///
    /// # Errors
    /// As [`WalSender::append_acked`].
    pub fn mark_written(&self, ack: Ack) -> Result<(), WalError> {
        self.push(Cmd::Written(ack))
    }

    /// Asks for a sync of everything queued so far, whatever the policy;
    /// `ack` is called once it is done.
    ///
    /// # Errors
    /// As [`WalSender::append_acked`].
    pub fn flush_acked(&self, ack: Ack) -> Result<(), WalError> {
        self.push(Cmd::Flush(ack))
    }

    /// The log's counters.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            queued: s.queued.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            records_written: s.records_written.load(Ordering::Relaxed),
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            compactions: s.compactions.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
        }
    }
}

/// An open log: owns its writer thread. Dropping it closes the log (as
/// [`Wal::close`], errors ignored).
pub struct Wal<V: Encode> {
    sender: WalSender<V>,
    thread: Option<JoinHandle<()>>,
}

/// Takes the directory's lock.
fn lock(dir: &Path) -> Result<File, WalError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_err("open", &path, e))?;
    // SAFETY: flock on a file descriptor this function owns; no memory is involved.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::WouldBlock {
            WalError::Locked(dir.to_owned())
        } else {
            io_err("lock", &path, e)
        });
    }
    Ok(f)
}

impl<V: Encode> Wal<V> {
    /// Opens (or creates) the log in `dir`: recovers it (see the module
    /// docs), calls `visit(key, value)` for every live value (by key, list
    /// values oldest first), then starts the writer thread. Blocking: call
    /// it at startup, not on a reactor.
    ///
    /// # Errors
    /// The directory cannot be created, locked, listed or written, or the
    /// thread cannot be started. Damaged content is not an error (see [`Recovery`]).
    pub fn open(
        dir: &Path,
        opts: Options,
        mut visit: impl FnMut(&[u8], &[u8]),
    ) -> Result<(Wal<V>, Recovery), WalError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
        let lock = lock(dir)?;
        let recovered = recover::recover(dir)?;
        let report = recovered.report.clone();
        recovered.image.for_each(&mut visit);
        let (tx, rx) = crossbeam_channel::bounded(opts.queue.max(1));
        let shared = Arc::new(Shared::default());
        let name = format!("junction-wal-{}", opts.name);
        let w = writer::Writer::new(
            rx,
            dir.to_owned(),
            opts,
            recovered,
            Arc::clone(&shared),
            lock,
        )?;
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || w.run())
            .map_err(|e| io_err("start the writer of", dir, e))?;
        Ok((
            Wal {
                sender: WalSender { tx, shared },
                thread: Some(thread),
            },
            report,
        ))
    }

    /// A handle for appending (one per shard or thread).
    pub fn sender(&self) -> WalSender<V> {
        self.sender.clone()
    }

    /// Blocks until everything queued before this call is written and synced.
    ///
    /// # Errors
    /// The log is closed or the sync failed.
    pub fn flush(&self) -> Result<(), WalError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ack: Ack = Box::new(move |r| {
            let _ = tx.send(r);
        });
        self.sender
            .tx
            .send(Cmd::Flush(ack))
            .map_err(|_| WalError::Closed)?;
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WalError::Failed(e)),
            Err(_) => Err(WalError::Closed),
        }
    }

    /// Writes and syncs what is queued, stops the writer and releases the
    /// directory. Appends made after this fail with [`WalError::Closed`].
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            // Blocking send: the queue may be full; the writer is draining it.
            let _ = self.sender.tx.send(Cmd::Close);
            if t.join().is_err() {
                tracing::error!("store: the writer thread panicked");
            }
        }
    }

    /// The log's counters.
    pub fn stats(&self) -> Stats {
        self.sender.stats()
    }
}

impl<V: Encode> Drop for Wal<V> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests;

//! The writer thread of one log: takes what is queued, encodes it into one
//! buffer, writes it with one `write`, syncs by the policy, answers the
//! acknowledgements, rolls segments and compacts. The only code that touches
//! the log's files after it is opened.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::frame::{self, FRAME_OVERHEAD, HEADER_LEN, OpCode, SegmentHeader};
use super::image::Image;
use super::recover::{segment_name, sync_dir};
use super::{Ack, AckError, Cmd, Encode, Op, Options, Shared, WalError, io_err};
use crate::config::FsyncPolicy;

/// Bytes encoded before a batch is written even if more is queued.
const MAX_BATCH: usize = 1 << 20;
/// Garbage below this is never worth a compaction (scaled down for tiny `max_size`).
const MIN_GARBAGE: u64 = 1 << 20;
/// At most one log line per this interval for repeated write errors.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Writer<V> {
    rx: Receiver<Cmd<V>>,
    dir: PathBuf,
    opts: Options,
    image: Image,
    /// The segment appended to.
    seg: File,
    seg_seq: u64,
    seg_len: u64,
    /// Sequence numbers of the segments before it (removed by compaction).
    older: Vec<u64>,
    /// Bytes in all segments.
    total: u64,
    /// The batch being encoded.
    buf: Vec<u8>,
    /// Records in `buf`.
    batch_records: u64,
    /// Acknowledgements of the records in `buf`.
    batch_acks: Vec<Ack>,
    /// Acknowledgements of records written but not yet synced.
    waiting: Vec<Ack>,
    /// Markers answered once the batch before them is written
    /// ([`super::WalSender::mark_written`]).
    written_acks: Vec<Ack>,
    /// Bytes were written since the last sync.
    unsynced: bool,
    last_sync: Instant,
    /// After a failed compaction: no new try before the log passes this size.
    retry_compact_at: u64,
    last_error_log: Option<Instant>,
    shared: Arc<Shared>,
    /// Held (with its `flock`) for as long as the writer runs.
    _lock: File,
}

/// Creates segment `seq` with its header; syncs it and the directory unless the policy is `never`.
fn create_segment(dir: &Path, seq: u64, sync: bool) -> Result<File, WalError> {
    let path = dir.join(segment_name(seq));
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_err("create", &path, e))?;
    f.write_all(&SegmentHeader::new(seq, false).encode())
        .map_err(|e| io_err("write", &path, e))?;
    if sync {
        f.sync_all().map_err(|e| io_err("sync", &path, e))?;
        sync_dir(dir)?;
    }
    Ok(f)
}

impl<V: Encode> Writer<V> {
    /// A writer over the recovered log: appends to its last segment, or to a
    /// new one when there is none or it is full.
    pub(super) fn new(
        rx: Receiver<Cmd<V>>,
        dir: PathBuf,
        opts: Options,
        recovered: super::recover::Recovered,
        shared: Arc<Shared>,
        lock: File,
    ) -> Result<Writer<V>, WalError> {
        let mut segs = recovered.segments;
        let mut total: u64 = segs.iter().map(|(_, l)| *l).sum();
        let sync = opts.fsync != FsyncPolicy::Never;
        let (seg, seg_seq, seg_len) = match segs.last() {
            Some(&(seq, len)) if len < opts.segment_size => {
                segs.pop();
                let path = dir.join(segment_name(seq));
                let f = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| io_err("open", &path, e))?;
                (f, seq, len)
            }
            _ => {
                let seq = recovered.max_seq + 1;
                total += HEADER_LEN as u64;
                (create_segment(&dir, seq, sync)?, seq, HEADER_LEN as u64)
            }
        };
        let older = segs.into_iter().map(|(s, _)| s).collect();
        Ok(Writer {
            rx,
            dir,
            opts,
            image: recovered.image,
            seg,
            seg_seq,
            seg_len,
            older,
            total,
            buf: Vec::with_capacity(64 * 1024),
            batch_records: 0,
            batch_acks: Vec::new(),
            waiting: Vec::new(),
            written_acks: Vec::new(),
            unsynced: false,
            last_sync: Instant::now(),
            retry_compact_at: 0,
            last_error_log: None,
            shared,
            _lock: lock,
        })
    }

    /// Runs until [`Cmd::Close`] or until every sender is gone.
    pub(super) fn run(mut self) {
        self.maybe_compact();
        loop {
            let first = match self.sync_deadline() {
                Some(at) => match self.rx.recv_deadline(at) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => break,
                },
            };
            let mut force_sync = Vec::new();
            let mut closing = false;
            if let Some(cmd) = first {
                self.take(cmd, &mut force_sync, &mut closing);
                let max_batch = MAX_BATCH.min(self.opts.segment_size as usize);
                while !closing && self.buf.len() < max_batch {
                    let Ok(cmd) = self.rx.try_recv() else { break };
                    self.take(cmd, &mut force_sync, &mut closing);
                }
            }
            self.write_batch();
            let synced = self.sync(!force_sync.is_empty() || closing);
            if !closing {
                self.maybe_compact();
            }
            for ack in force_sync {
                ack(if synced { Ok(()) } else { Err(AckError::Sync) });
            }
            if closing {
                return;
            }
        }
        // Every sender is gone: what was queued is written; make it durable.
        self.write_batch();
        self.sync(true);
    }

    /// When the writer must wake up to sync even if nothing arrives.
    fn sync_deadline(&self) -> Option<Instant> {
        match self.opts.fsync {
            FsyncPolicy::Interval(every) if self.unsynced => Some(self.last_sync + every),
            _ => None,
        }
    }

    fn take(&mut self, cmd: Cmd<V>, force_sync: &mut Vec<Ack>, closing: &mut bool) {
        match cmd {
            Cmd::Op(op, ack) => {
                let ok = self.encode(&op);
                match (ack, ok) {
                    (Some(a), true) => self.batch_acks.push(a),
                    (Some(a), false) => a(Err(AckError::TooLarge)),
                    (None, _) => {}
                }
            }
            Cmd::Flush(ack) => force_sync.push(ack),
            // Answered with the records of this batch (or at once when
            // everything before it is already durable).
            Cmd::Mark(ack) => self.batch_acks.push(ack),
            Cmd::Written(ack) if self.opts.fsync == FsyncPolicy::Always => {
                self.batch_acks.push(ack)
            }
            Cmd::Written(ack) => self.written_acks.push(ack),
            Cmd::Close => *closing = true,
        }
    }

    /// Encodes one operation into the batch and applies it to the image;
    /// `false` when it is too large to frame.
    fn encode(&mut self, op: &Op<V>) -> bool {
        if self.seg_len + self.buf.len() as u64 >= self.opts.segment_size
            && self.seg_len + (self.buf.len() as u64) > HEADER_LEN as u64
        {
            self.write_batch();
            self.roll();
        }
        let (code, keep, key, value) = match op {
            Op::Put { key, value } => (OpCode::Put, 0, key, Some(value)),
            Op::Append { key, keep, value } => (OpCode::Append, *keep, key, Some(value)),
            Op::Delete { key } => (OpCode::Delete, 0, key, None),
            Op::DeletePrefix { prefix } => (OpCode::DeletePrefix, 0, prefix, None),
        };
        let start = frame::begin_record(&mut self.buf, code, keep, key);
        if let Some(v) = value {
            v.encode(&mut self.buf);
        }
        if let Err(len) = frame::finish_record(&mut self.buf, start) {
            self.error_log(format_args!("record of {len} bytes is too large; dropped"));
            return false;
        }
        self.image.apply(&self.buf[start + FRAME_OVERHEAD..]);
        self.batch_records += 1;
        true
    }

    /// Writes the batch to the segment in one call.
    fn write_batch(&mut self) {
        if self.buf.is_empty() {
            // Markers alone: they wait for what was written before them.
            self.waiting.append(&mut self.batch_acks);
            for ack in self.written_acks.drain(..) {
                ack(Ok(()));
            }
            return;
        }
        match self.seg.write_all(&self.buf) {
            Ok(()) => {
                let n = self.buf.len() as u64;
                self.seg_len += n;
                self.total += n;
                self.unsynced = true;
                self.shared.bytes_written.fetch_add(n, Ordering::Relaxed);
                self.shared
                    .records_written
                    .fetch_add(self.batch_records, Ordering::Relaxed);
                self.waiting.append(&mut self.batch_acks);
                for ack in self.written_acks.drain(..) {
                    ack(Ok(()));
                }
            }
            Err(e) => {
                // Cut back a partial write so that later records stay readable;
                // the image still has these records, so the next compaction
                // writes them.
                let _ = self.seg.set_len(self.seg_len);
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
                self.error_log(format_args!("write failed: {e}"));
                for ack in self.batch_acks.drain(..).chain(self.written_acks.drain(..)) {
                    ack(Err(AckError::Write));
                }
            }
        }
        self.buf.clear();
        self.batch_records = 0;
    }

    /// Syncs when the policy (or `force`) asks, then answers the waiting
    /// acknowledgements; `false` when a sync failed.
    fn sync(&mut self, force: bool) -> bool {
        let due = match self.opts.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval(every) => self.last_sync.elapsed() >= every,
            FsyncPolicy::Never => false,
        };
        if self.unsynced && (due || force) {
            match self.seg.sync_data() {
                Ok(()) => {
                    self.unsynced = false;
                    self.last_sync = Instant::now();
                    self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                    for ack in self.waiting.drain(..) {
                        ack(Ok(()));
                    }
                }
                Err(e) => {
                    // The kernel may have dropped the dirty pages: nothing
                    // written since the last good sync is known durable.
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    self.error_log(format_args!("sync failed: {e}"));
                    for ack in self.waiting.drain(..) {
                        ack(Err(AckError::Sync));
                    }
                    return false;
                }
            }
        } else if self.opts.fsync == FsyncPolicy::Never || !self.unsynced {
            // `never`: written is as durable as this policy promises; and
            // with nothing unsynced, markers have nothing to wait for.
            for ack in self.waiting.drain(..) {
                ack(Ok(()));
            }
        }
        true
    }

    /// Seals the current segment and starts the next.
    fn roll(&mut self) {
        let sync = self.opts.fsync != FsyncPolicy::Never;
        if sync && self.unsynced {
            // Acks waiting for the next sync cover records in this segment.
            self.sync(true);
        }
        match create_segment(&self.dir, self.seg_seq + 1, sync) {
            Ok(f) => {
                self.older.push(self.seg_seq);
                self.seg = f;
                self.seg_seq += 1;
                self.seg_len = HEADER_LEN as u64;
                self.total += HEADER_LEN as u64;
            }
            Err(e) => {
                // Keep appending to the current segment.
                self.error_log(format_args!("cannot start a new segment: {e}"));
            }
        }
    }

    fn maybe_compact(&mut self) {
        let live = self.image.live_bytes() + HEADER_LEN as u64;
        let garbage = self.total.saturating_sub(live);
        let min = MIN_GARBAGE.min(self.opts.max_size / 4);
        let worth = garbage >= min.max(live / 4);
        let over = self.total > self.opts.max_size || garbage >= live;
        if worth && over && self.total >= self.retry_compact_at {
            match self.compact() {
                Ok(()) => {
                    self.shared.compactions.fetch_add(1, Ordering::Relaxed);
                    self.retry_compact_at = 0;
                }
                Err(e) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    self.error_log(format_args!("compaction failed: {e}"));
                    self.retry_compact_at = self.total + min.max(1);
                }
            }
        }
    }

    /// Writes the image as a snapshot segment (temporary file, fsync,
    /// rename, directory fsync), then removes every older segment.
    fn compact(&mut self) -> Result<(), WalError> {
        let seq = self.seg_seq + 1;
        let path = self.dir.join(segment_name(seq));
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let written = (|| -> Result<u64, WalError> {
            let mut f = File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
            let mut out = Vec::with_capacity(MAX_BATCH + 4096);
            out.extend_from_slice(&SegmentHeader::new(seq, true).encode());
            let mut len = 0u64;
            for p in self.image.payloads() {
                frame::push_frame(&mut out, p);
                if out.len() >= MAX_BATCH {
                    f.write_all(&out).map_err(|e| io_err("write", &tmp, e))?;
                    len += out.len() as u64;
                    out.clear();
                }
            }
            f.write_all(&out).map_err(|e| io_err("write", &tmp, e))?;
            len += out.len() as u64;
            f.sync_all().map_err(|e| io_err("sync", &tmp, e))?;
            Ok(len)
        })();
        let len = match written {
            Ok(len) => len,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, &path).map_err(|e| io_err("rename", &tmp, e))?;
        sync_dir(&self.dir)?;
        // The snapshot is in place: every record so far is durable.
        let seg = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err("open", &path, e))?;
        for old in self.older.drain(..).chain(std::iter::once(self.seg_seq)) {
            let p = self.dir.join(segment_name(old));
            if let Err(e) = std::fs::remove_file(&p) {
                // Recovery removes it next time (it is older than the snapshot).
                tracing::warn!(file = %p.display(), error = %e, "store: cannot remove a compacted segment");
            }
        }
        sync_dir(&self.dir)?;
        self.seg = seg;
        self.seg_seq = seq;
        self.seg_len = len;
        self.total = len;
        self.unsynced = false;
        self.last_sync = Instant::now();
        for ack in self.waiting.drain(..) {
            ack(Ok(()));
        }
        Ok(())
    }

    fn error_log(&mut self, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last_error_log
            .is_none_or(|t| now.duration_since(t) >= ERROR_LOG_EVERY)
        {
            self.last_error_log = Some(now);
            tracing::error!(store = %self.opts.name, dir = %self.dir.display(), "store: {what}");
        }
    }
}

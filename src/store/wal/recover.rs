//! Opening a log directory: lists its segments, sets aside those it cannot
//! read, drops those a snapshot made obsolete, replays the rest into an
//! [`Image`] and cuts a torn or corrupt tail off. It never fails because of
//! what is *in* the files (only when the directory itself cannot be read or
//! written): every damaged byte is reported in [`Recovery::damage`] and
//! logged with its file and offset.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::frame::{HEADER_LEN, HeaderError, Scan, SegmentHeader, Stop};
use super::image::Image;
use super::{Damage, DamageKind, Recovery, WalError, io_err};

/// What opening found.
pub(super) struct Recovered {
    /// The live records.
    pub image: Image,
    /// Readable segments left, oldest first: (seq, bytes).
    pub segments: Vec<(u64, u64)>,
    /// The highest sequence number seen in any segment's name (set-aside ones too).
    pub max_seq: u64,
    /// The report.
    pub report: Recovery,
}

/// A segment file's name.
pub(super) fn segment_name(seq: u64) -> String {
    format!("{seq:016x}.wal")
}

fn parse_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".wal")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Renames an unreadable segment to `<name>.bad`, where no later open reads or deletes it.
fn set_aside(path: &Path) -> Result<(), WalError> {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    fs::rename(path, &bad).map_err(|e| io_err("set aside", path, e))
}

/// Opens the directory's log (see the module docs).
///
/// # Errors
/// The directory cannot be listed, or a file cannot be read, truncated,
/// renamed or removed.
pub(super) fn recover(dir: &Path) -> Result<Recovered, WalError> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| io_err("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".wal.tmp") {
            // A compaction that did not finish: the segments it would have replaced are intact.
            fs::remove_file(entry.path()).map_err(|e| io_err("remove", &entry.path(), e))?;
        } else if let Some(seq) = parse_name(name) {
            found.push((seq, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(seq, _)| *seq);
    let max_seq = found.last().map_or(0, |(s, _)| *s);
    let mut report = Recovery::default();
    let mut changed = false;
    // Read every header first (one segment's bytes are held at a time below).
    let mut readable: Vec<(u64, PathBuf, SegmentHeader)> = Vec::new();
    for (seq, path) in found {
        let head = read_head(&path)?;
        match SegmentHeader::decode(&head) {
            Ok(h) if h.seq == seq => readable.push((seq, path, h)),
            Ok(_) => {
                tracing::error!(file = %path.display(), "store: segment header names another segment; set aside as .bad");
                report.damage.push(Damage {
                    file: path.clone(),
                    offset: 0,
                    what: DamageKind::Misnamed,
                });
                set_aside(&path)?;
                changed = true;
            }
            Err(HeaderError::Short) => {
                // Created but cut short before its header was complete: it holds no record.
                tracing::warn!(file = %path.display(), bytes = head.len(), "store: removing a segment cut short at creation");
                report.damage.push(Damage {
                    file: path.clone(),
                    offset: 0,
                    what: DamageKind::Header(HeaderError::Short),
                });
                fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
                changed = true;
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "store: unreadable segment set aside as .bad (its records are not loaded)");
                report.damage.push(Damage {
                    file: path.clone(),
                    offset: 0,
                    what: DamageKind::Header(e),
                });
                set_aside(&path)?;
                changed = true;
            }
        }
    }
    // Everything before the last snapshot is obsolete (a compaction that
    // stopped before removing it).
    if let Some(last_snap) = readable.iter().rposition(|(_, _, h)| h.is_snapshot()) {
        for (_, path, _) in readable.drain(..last_snap) {
            fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
            changed = true;
        }
    }
    let mut image = Image::default();
    let mut segments = Vec::with_capacity(readable.len());
    let n = readable.len();
    for (i, (seq, path, _)) in readable.into_iter().enumerate() {
        let bytes = fs::read(&path).map_err(|e| io_err("read", &path, e))?;
        let mut scan = Scan::new(&bytes[HEADER_LEN..]);
        for (_, payload) in scan.by_ref() {
            if image.apply(payload) {
                report.records += 1;
            } else {
                report.skipped += 1;
            }
        }
        let valid = (HEADER_LEN + scan.valid_len()) as u64;
        let stop = scan.stop().unwrap_or(Stop::End);
        if stop != Stop::End {
            let last = i + 1 == n;
            let what = if stop == Stop::Torn {
                DamageKind::Torn
            } else {
                DamageKind::Corrupt
            };
            if last && stop == Stop::Torn {
                tracing::warn!(file = %path.display(), offset = valid, size = bytes.len(), "store: cutting off a torn tail (a write cut short by a crash)");
            } else {
                tracing::error!(file = %path.display(), offset = valid, size = bytes.len(), damage = ?what, "store: damaged record; it and the rest of its segment are dropped");
            }
            report.damage.push(Damage {
                file: path.clone(),
                offset: valid,
                what,
            });
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_err("open", &path, e))?;
            f.set_len(valid)
                .and_then(|()| f.sync_all())
                .map_err(|e| io_err("truncate", &path, e))?;
        }
        report.segments += 1;
        segments.push((seq, valid));
    }
    if changed {
        sync_dir(dir)?;
    }
    report.live = image.values();
    Ok(Recovered {
        image,
        segments,
        max_seq,
        report,
    })
}

/// The first [`HEADER_LEN`] bytes of a file (fewer if it is shorter).
fn read_head(path: &Path) -> Result<Vec<u8>, WalError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(HEADER_LEN);
    File::open(path)
        .and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut head))
        .map_err(|e| io_err("read", path, e))?;
    Ok(head)
}

/// Makes the directory's entries (created, renamed, removed files) durable.
///
/// # Errors
/// The directory cannot be opened or synced.
pub(super) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sixteen_hex_digits() {
        assert_eq!(parse_name(&segment_name(0xab)), Some(0xab));
        assert_eq!(parse_name("00000000000000ab.wal.bad"), None);
        assert_eq!(parse_name("ab.wal"), None);
        assert_eq!(parse_name("LOCK"), None);
    }
}

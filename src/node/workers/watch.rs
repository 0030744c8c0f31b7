//! `options.watch` of a guest: a fingerprint of the watched directories
//! (every entry's path, size and modification time, recursively, without
//! following symbolic links), taken on the supervisor's thread every
//! [`POLL`]; a different fingerprint is a change. Polling instead of
//! inotify: no extra crate, it works on every file system (NFS, bind
//! mounts), and at one scan a second of a source tree it costs little. At
//! most [`MAX_ENTRIES`] entries per guest are looked at (the rest is not
//! watched; a warning says so once).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// How often the directories are scanned.
pub(super) const POLL: Duration = Duration::from_secs(1);
/// The most entries scanned per guest.
pub(super) const MAX_ENTRIES: usize = 20_000;

/// The watch of one guest.
#[derive(Debug)]
pub(super) struct Watch {
    dirs: Vec<PathBuf>,
    last: u64,
    next: Instant,
    warned: bool,
}

impl Watch {
    /// Starts watching `dirs` (their state now is the reference).
    pub(super) fn new(dirs: Vec<PathBuf>, now: Instant) -> Watch {
        let (last, _) = fingerprint(&dirs, MAX_ENTRIES);
        Watch {
            dirs,
            last,
            next: now + POLL,
            warned: false,
        }
    }

    /// Whether something changed since the last scan (scans at most once per [`POLL`]).
    pub(super) fn changed(&mut self, id: &str, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + POLL;
        let (fp, complete) = fingerprint(&self.dirs, MAX_ENTRIES);
        if !complete && !self.warned {
            self.warned = true;
            tracing::warn!(target: "junction::guest", worker = %id, max = MAX_ENTRIES, "watched directories hold more entries than are watched");
        }
        let changed = fp != self.last;
        self.last = fp;
        changed
    }
}

/// The fingerprint of `dirs` and whether every entry was seen.
pub(super) fn fingerprint(dirs: &[PathBuf], max: usize) -> (u64, bool) {
    let mut h = DefaultHasher::new();
    let mut seen = 0;
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // A missing directory counts too: its appearance is a change.
            dir.hash(&mut h);
            continue;
        };
        let mut list: Vec<_> = entries.filter_map(Result::ok).collect();
        list.sort_by_key(|e| e.file_name());
        for e in list {
            if seen == max {
                return (h.finish(), false);
            }
            seen += 1;
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            entry(&path, &meta).hash(&mut h);
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    (h.finish(), true)
}

fn entry(path: &Path, meta: &std::fs::Metadata) -> (PathBuf, u64, u128) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (path.to_owned(), meta.len(), mtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_changing_and_removing_files_changes_the_fingerprint() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().to_owned();
        let sub = root.join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        let dirs = vec![root.clone()];
        let fp = || fingerprint(&dirs, MAX_ENTRIES);
        let a = fp();
        assert!(a.1);
        assert_eq!(fp(), a, "stable");
        std::fs::write(sub.join("f.py"), "1").expect("write");
        let b = fp();
        assert_ne!(b, a, "a file added in a subdirectory");
        std::fs::write(sub.join("f.py"), "12").expect("write");
        let c = fp();
        assert_ne!(c, b, "a file grew");
        std::fs::remove_file(sub.join("f.py")).expect("rm");
        assert_ne!(fp(), c, "a file removed");
        // Over the limit: incomplete.
        for i in 0..3 {
            std::fs::write(root.join(format!("n{i}")), "").expect("write");
        }
        assert!(!fingerprint(&dirs, 2).1);
        // A missing directory is not an error.
        let gone = vec![root.join("nope")];
        assert!(fingerprint(&gone, 10).1);
    }

    #[test]
    fn the_watch_scans_at_most_once_per_poll() {
        let dir = tempfile::tempdir().expect("dir");
        let t0 = Instant::now();
        let mut w = Watch::new(vec![dir.path().to_owned()], t0);
        std::fs::write(dir.path().join("x"), "1").expect("write");
        assert!(!w.changed("g", t0), "too early");
        assert!(w.changed("g", t0 + POLL));
        assert!(!w.changed("g", t0 + POLL * 2), "no new change");
    }
}

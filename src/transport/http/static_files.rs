//! The `static` service: files from a directory.
//!
//! - The request path below the mount point is normalised by
//!   [`StaticPath`](crate::proto::http::path::StaticPath) (one
//!   percent-decoding; `..` in any spelling, encoded slashes, backslashes,
//!   control characters and double encoding are refused with 400), so it
//!   names plain components under the root.
//! - Symbolic links: the joined path is resolved (`realpath`); a target
//!   outside the directory is answered 404 unless the service's
//!   `junction.follow_symlinks_outside` allows it. The resolved path is then
//!   opened without following a link in its last component, non-blocking
//!   (a FIFO cannot stall the open), and served only if it is a regular file.
//! - Nothing here blocks the reactor: resolving, opening, reading a small
//!   file and listing a directory run on the shard's blocking thread pool;
//!   a large file is then read with glommio's io_uring file API, in pieces
//!   of 256 KiB ([`FileBody`]), each written before the next is read.
//! - Files up to `cache_max_file` octets are kept in memory per shard (at
//!   most `cache_bytes` in all) and served from there for `cache_valid`
//!   milliseconds before they are looked at again: repeated requests for a
//!   small file cost no system call but the socket's.
//! - Answers: `Content-Type` by extension (the service's `mime_types` on
//!   top of the built-in table), `Last-Modified` and a strong `ETag` (size
//!   and modification time), conditional requests (304, 412), one byte
//!   range (206, 416), `Cache-Control`/`Expires` from `cache_timeout`,
//!   Crossbar's cross-origin fields; a directory without its trailing slash
//!   is redirected (301), one with it serves `index.html` / `index.htm`,
//!   else a listing when enabled, else 404; a missing path serves
//!   `default_file` when one is configured.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::conn::Body;
use super::files::{Content, FileInfo, FilePolicy, redirect, service_path};
use super::reply::text;
use crate::config::web::{StaticService, StaticSource};
use crate::proto::http::conditional::EntityTag;
use crate::proto::http::listing::{ListingEntry, directory_listing};
use crate::proto::http::mime::{MimeError, MimeTypes};
use crate::proto::http::{HttpDate, RequestHead, ResponseBody, ResponseHead};

/// Index files tried for a directory, in order (Twisted's, without scripts).
const INDEX_FILES: [&str; 2] = ["index.html", "index.htm"];
/// Most entries a directory listing shows.
const MAX_LISTING: usize = 10_000;

/// A `static` service, prepared.
#[derive(Debug)]
pub(super) struct StaticFiles {
    /// What the blocking jobs need (shared with them).
    fs: std::sync::Arc<FsView>,
    /// `options.enable_directory_listing`.
    listing: bool,
    /// Content types.
    mime: MimeTypes,
    /// `Cache-Control` from `cache_timeout`, and the cross-origin fields.
    policy: FilePolicy,
    /// Small files in memory, this shard's.
    cache: RefCell<FileCache>,
}

/// The file-system side of a static service (what blocking jobs see).
#[derive(Debug)]
struct FsView {
    /// The directory as configured (absolute).
    root: PathBuf,
    /// The directory with every link resolved (`None`: it did not exist
    /// when the service was built; resolved per request then).
    canonical_root: Option<PathBuf>,
    /// Links leading outside the directory are followed.
    follow_outside: bool,
    /// `options.default_file`, relative to the root.
    default_file: Option<String>,
    /// Largest file read whole (and cached).
    max_cached: usize,
}

/// A file found for a request.
#[derive(Debug)]
struct FileMeta {
    /// Its length.
    len: u64,
    /// Its modification time.
    mtime: SystemTime,
    /// Its name (for the content type).
    name: String,
}

/// What a path names.
#[derive(Debug)]
enum Found {
    /// A file.
    File(FileMeta, Content),
    /// A directory, asked for without its trailing slash.
    DirNoSlash,
    /// A directory's listing (no index file in it).
    Listing(Vec<ListingEntry>),
    /// Nothing to serve.
    Missing,
}

/// A cached small file.
#[derive(Debug)]
struct Cached {
    /// When it was read.
    read_at: Instant,
    /// Its metadata.
    meta: FileMeta,
    /// Its octets.
    content: Bytes,
}

/// Small files by normalised URL path, with the total of their sizes.
#[derive(Debug, Default)]
struct FileCache {
    /// Entries.
    map: HashMap<String, Rc<Cached>>,
    /// Sum of the entries' sizes.
    bytes: usize,
    /// Most octets kept.
    limit: usize,
    /// How long an entry is served.
    valid: Duration,
}

impl FileCache {
    fn get(&self, key: &str) -> Option<Rc<Cached>> {
        self.map
            .get(key)
            .filter(|c| c.read_at.elapsed() < self.valid)
            .cloned()
    }

    fn insert(&mut self, key: String, entry: Rc<Cached>) {
        let size = entry.content.len();
        if size > self.limit {
            return;
        }
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.content.len();
        }
        if self.bytes + size > self.limit {
            // Expired entries first, then any until there is room.
            let valid = self.valid;
            let mut freed = 0;
            self.map.retain(|_, c| {
                let keep = c.read_at.elapsed() < valid;
                if !keep {
                    freed += c.content.len();
                }
                keep
            });
            self.bytes -= freed;
            while self.bytes + size > self.limit {
                let Some(k) = self.map.keys().next().cloned() else {
                    break;
                };
                if let Some(c) = self.map.remove(&k) {
                    self.bytes -= c.content.len();
                }
            }
        }
        self.bytes += size;
        self.map.insert(key, entry);
    }
}

impl StaticFiles {
    /// The service `s` (its source resolved to a directory, see
    /// `resolve_packages` in the module above).
    ///
    /// # Errors
    /// An invalid `mime_types` entry.
    pub fn new(s: &StaticService) -> Result<Self, MimeError> {
        let root = match &s.source {
            StaticSource::Directory(d) => d.clone(),
            // Not resolved: nothing is served (every path is missing).
            StaticSource::Package { .. } => PathBuf::from("/nonexistent/unresolved-package"),
        };
        let mime =
            MimeTypes::with_overrides(s.mime_types.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(StaticFiles {
            fs: std::sync::Arc::new(FsView {
                canonical_root: fs::canonicalize(&root).ok(),
                root,
                follow_outside: s.files.follow_symlinks_outside,
                default_file: s.default_file.clone(),
                max_cached: s.files.cache_max_file,
            }),
            listing: s.enable_directory_listing,
            mime,
            policy: FilePolicy {
                cache_control: s
                    .cache_timeout_s
                    .map(|t| (format!("max-age={t}, public"), t)),
                cors: s.allow_cross_origin,
            },
            cache: RefCell::new(FileCache {
                limit: s.files.cache_bytes,
                valid: Duration::from_millis(s.files.cache_valid_ms),
                ..FileCache::default()
            }),
        })
    }

    /// Answers a GET or HEAD for `rest` (the path below the mount point
    /// `mount`).
    pub(super) async fn answer(
        &self,
        req: &RequestHead<Bytes>,
        mount: &str,
        rest: &str,
    ) -> (ResponseHead, Body) {
        let sp = match service_path(req, mount, rest) {
            Ok(p) => p,
            Err(answer) => return *answer,
        };
        let key = sp.to_url_path();
        let cached = self.cache.borrow().get(&key);
        if let Some(c) = cached {
            return self.file_answer(req, &c.meta, Content::Whole(c.content.clone()));
        }
        let fs = std::sync::Arc::clone(&self.fs);
        let listing = self.listing;
        let rel = sp.to_relative();
        let slash = sp.trailing_slash() || sp.segments().is_empty();
        let found = glommio::executor()
            .spawn_blocking(move || fs.lookup(&rel, slash, listing))
            .await;
        match found {
            Ok(Found::File(meta, content)) => {
                if let Content::Whole(bytes) = &content {
                    let entry = Rc::new(Cached {
                        read_at: Instant::now(),
                        meta: FileMeta {
                            len: meta.len,
                            mtime: meta.mtime,
                            name: meta.name.clone(),
                        },
                        content: bytes.clone(),
                    });
                    self.cache.borrow_mut().insert(key, entry);
                }
                self.file_answer(req, &meta, content)
            }
            Ok(Found::DirNoSlash) => redirect(&format!("{mount}{key}/"), req.query()),
            Ok(Found::Listing(entries)) => {
                let page = directory_listing(&format!("{mount}{key}"), &entries);
                let mut head = ResponseHead::new(200);
                let _ = head.header("Content-Type", "text/html; charset=utf-8");
                head.body(ResponseBody::Length(page.len() as u64));
                (head, Body::Bytes(Bytes::from(page)))
            }
            Ok(Found::Missing) => text(404, "not found\n"),
            Err(e) => {
                tracing::warn!(root = %self.fs.root.display(), error = %e, "static file lookup failed");
                text(500, "cannot read the file\n")
            }
        }
    }

    /// The answer for a file (see [`FilePolicy::answer`]).
    fn file_answer(
        &self,
        req: &RequestHead<Bytes>,
        meta: &FileMeta,
        content: Content,
    ) -> (ResponseHead, Body) {
        let since = meta.mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        let info = FileInfo {
            len: meta.len,
            etag: EntityTag::for_file(meta.len, since.as_secs(), since.subsec_nanos()),
            last_modified: HttpDate::from_system_time(meta.mtime),
            content_type: self.mime.lookup(&meta.name),
        };
        self.policy.answer(req, &info, content)
    }
}

impl FsView {
    /// What `rel` (under the root; `slash`: asked for as a directory)
    /// names. Runs on the blocking pool.
    fn lookup(&self, rel: &Path, slash: bool, listing: bool) -> io::Result<Found> {
        let Some(target) = self.resolve(rel)? else {
            return self.default_file();
        };
        let meta = fs::metadata(&target)?;
        if meta.is_dir() {
            if !slash {
                return Ok(Found::DirNoSlash);
            }
            for index in INDEX_FILES {
                if let Some(t) = self.resolve(&rel.join(index))?
                    && let Some(found) = self.open_file(&t)?
                {
                    return Ok(found);
                }
            }
            if listing {
                return Ok(Found::Listing(list_dir(&target)?));
            }
            return self.default_file();
        }
        match self.open_file(&target)? {
            Some(found) if !slash => Ok(found),
            _ => self.default_file(),
        }
    }

    /// `default_file`, or missing.
    fn default_file(&self) -> io::Result<Found> {
        let Some(name) = &self.default_file else {
            return Ok(Found::Missing);
        };
        match self.resolve(Path::new(name))? {
            Some(t) => Ok(self.open_file(&t)?.unwrap_or(Found::Missing)),
            None => Ok(Found::Missing),
        }
    }

    /// The real path of `rel` under the root, every link resolved; `None`
    /// when it does not exist or (unless allowed) leads outside the root.
    fn resolve(&self, rel: &Path) -> io::Result<Option<PathBuf>> {
        let target = match fs::canonicalize(self.root.join(rel)) {
            Ok(t) => t,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if self.follow_outside {
            return Ok(Some(target));
        }
        let root = match &self.canonical_root {
            Some(r) => r.clone(),
            None => match fs::canonicalize(&self.root) {
                Ok(r) => r,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        if !target.starts_with(&root) {
            tracing::debug!(path = %target.display(), "a link leads outside the static directory");
            return Ok(None);
        }
        Ok(Some(target))
    }

    /// Opens a resolved path: a regular file (read whole when small), or
    /// `None` for anything else.
    fn open_file(&self, target: &Path) -> io::Result<Option<Found>> {
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(target)
        {
            Ok(f) => f,
            Err(e) if is_missing(&e) || e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(None);
        }
        let info = FileMeta {
            len: meta.len(),
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
            name: target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if meta.len() > self.max_cached as u64 {
            return Ok(Some(Found::File(info, Content::Open(file))));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        (&file).take(meta.len()).read_to_end(&mut data)?;
        let info = FileMeta {
            len: data.len() as u64,
            ..info
        };
        Ok(Some(Found::File(info, Content::Whole(Bytes::from(data)))))
    }
}

/// Whether an error means "no such file" (or a file used as a directory).
fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ENAMETOOLONG))
}

/// The entries of a directory (names that are not UTF-8 are left out).
fn list_dir(dir: &Path) -> io::Result<Vec<ListingEntry>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)?.take(MAX_LISTING) {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let meta = entry.metadata().ok();
        let is_dir = meta.as_ref().is_some_and(fs::Metadata::is_dir);
        out.push(ListingEntry {
            name,
            is_dir,
            size: meta.as_ref().filter(|m| m.is_file()).map(fs::Metadata::len),
            modified: meta
                .and_then(|m| m.modified().ok())
                .map(HttpDate::from_system_time),
        });
    }
    Ok(out)
}

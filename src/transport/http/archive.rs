//! The `archive` service: files out of a ZIP archive (Crossbar's web
//! archive service).
//!
//! - Loading ([`load`], from `resolve_packages` before the shards start;
//!   blocking): the archive file is read whole (at most `max_size`
//!   octets); when it is missing and `download` is set, it is fetched from
//!   `origin` first (HTTP or HTTPS, redirects followed, within
//!   `download_timeout`), checked against `hashes`, and only then written
//!   to the archive's path: to `<name>.download` beside it, then renamed
//!   over it, so that a process killed mid-download leaves no half archive
//!   behind (a stale `.download` file is overwritten by the next try). An
//!   archive already there is checked against `hashes` too. Then every
//!   file under `object_prefix` is uncompressed into memory (at most
//!   `max_content` octets in all; its CRC checked): one copy per process,
//!   shared by every shard ([`ArchiveFiles`] holds it behind an `Arc`).
//! - Serving ([`Archive::answer`], `GET` and `HEAD`): the path below the
//!   mount point, normalised as the `static` service does
//!   ([`StaticPath`](crate::proto::http::path::StaticPath)), names a file
//!   under the prefix; the service's own path without its slash is
//!   redirected to it (301), and the path with the slash, or any folder's
//!   path ending in `/`, gets `default_object` in it; a folder without its
//!   slash is redirected (301); anything else the archive lacks gets
//!   `options.default_file` when set, else 404. Answers carry
//!   `Content-Type` by suffix (the `mime_types` overrides, longest suffix
//!   first, on the built-in table), a strong `ETag` (the archive's digest
//!   and the file's CRC) and `Last-Modified` (the archive file's time),
//!   and honour conditional and range requests (the answers the `static`
//!   service gives, from [`super::files`]). As Crossbar's: no
//!   `Cache-Control` and no cross-origin fields.
//!
//! Imports the file answers, the config and `proto`; no other service.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::conn::Body;
use super::files::{Content, FileInfo, FilePolicy, redirect, service_path};
use super::reply::text;
use crate::config::web::{ArchiveEntry, ArchiveFiles, ArchiveLimits, ArchiveService};
use crate::proto::http::conditional::EntityTag;
use crate::proto::http::mime::{MimeError, MimeTypes};
use crate::proto::http::{HttpDate, RequestHead, ResponseHead};

/// Most redirects followed when downloading.
const MAX_REDIRECTS: u32 = 10;

/// Why an archive cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file is missing and `download` is not set.
    #[error("{0}: no such file (set `download` and `origin` to fetch it)")]
    Missing(PathBuf),
    /// The path is there but is not a regular file.
    #[error("{0}: not a regular file")]
    NotAFile(PathBuf),
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// Larger than `max_size`.
    #[error("{path}: larger than the limit of {limit} octets (`junction.max_size`)")]
    TooLarge {
        /// The file (or the URL it came from).
        path: String,
        /// The limit.
        limit: u64,
    },
    /// The download failed.
    #[error("{path}: download from {url} failed: {why}")]
    Download {
        /// Where it was to be written.
        path: PathBuf,
        /// `origin`.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The archive matches none of `hashes`.
    #[error("{path}: SHA-256 {actual} matches none of `hashes`")]
    Hash {
        /// The file (or the URL it came from).
        path: String,
        /// Its digest.
        actual: String,
    },
    /// Not a ZIP archive, or a damaged or unsupported one.
    #[error("{path}: not a readable ZIP archive: {why}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        why: String,
    },
    /// The files hold more than `max_content` octets.
    #[error(
        "{path}: its files hold more than {limit} octets uncompressed (`junction.max_content`)"
    )]
    TooMuchContent {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Nothing under `object_prefix`.
    #[error("{path}: no file under object_prefix {prefix:?}")]
    EmptyPrefix {
        /// The file.
        path: PathBuf,
        /// `object_prefix`.
        prefix: String,
    },
}

/// Reads (or, when it is missing and `download` is set and `fetch`
/// allows, downloads) the archive of `svc`, checks it, and returns its
/// files; `Ok(None)` when it is missing and would be downloaded but
/// `fetch` is false (`junction check`). Blocking.
///
/// # Errors
/// [`ArchiveError`]: a missing file without `download`, a failed
/// download, a digest not in `hashes`, an archive that is not a readable
/// ZIP, a limit passed, nothing under `object_prefix`.
pub fn load(svc: &ArchiveService, fetch: bool) -> Result<Option<ArchiveFiles>, ArchiveError> {
    let path = &svc.archive;
    let files = match fs::metadata(path) {
        Ok(m) if !m.is_file() => return Err(ArchiveError::NotAFile(path.clone())),
        Ok(m) if m.len() > svc.limits.max_size => {
            return Err(ArchiveError::TooLarge {
                path: path.display().to_string(),
                limit: svc.limits.max_size,
            });
        }
        Ok(_) => {
            let data = read_limited(path, svc.limits.max_size)?;
            check_hash(svc, &data, &path.display().to_string())?;
            let modified = fs::metadata(path)
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            index(svc, &data, modified)?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let origin = match &svc.origin {
                Some(o) if svc.download => o,
                _ => return Err(ArchiveError::Missing(path.clone())),
            };
            if !fetch {
                return Ok(None);
            }
            tracing::info!(archive = %path.display(), url = %origin, "downloading the archive");
            let data = download(origin, &svc.limits).map_err(|why| match why {
                Fetch::TooLarge => ArchiveError::TooLarge {
                    path: origin.clone(),
                    limit: svc.limits.max_size,
                },
                Fetch::Failed(why) => ArchiveError::Download {
                    path: path.clone(),
                    url: origin.clone(),
                    why,
                },
            })?;
            check_hash(svc, &data, origin)?;
            // Read as a ZIP before it is kept.
            let mut files = index(svc, &data, SystemTime::now())?;
            write_atomically(path, &data).map_err(|source| ArchiveError::Io {
                path: path.clone(),
                source,
            })?;
            if let Ok(t) = fs::metadata(path).and_then(|m| m.modified()) {
                files.modified = t;
            }
            files
        }
        Err(source) => {
            return Err(ArchiveError::Io {
                path: path.clone(),
                source,
            });
        }
    };
    if svc.hashes.is_empty() {
        tracing::warn!(archive = %path.display(), "archive not verified (no `hashes`)");
    }
    tracing::info!(
        archive = %path.display(),
        files = files.entries.len(),
        "archive loaded"
    );
    Ok(Some(files))
}

/// The file at `path`, at most `limit` octets (it may have grown since
/// its size was looked at).
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let io_err = |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = fs::File::open(path).map_err(io_err)?;
    let mut data = Vec::new();
    f.take(limit + 1).read_to_end(&mut data).map_err(io_err)?;
    if data.len() as u64 > limit {
        return Err(ArchiveError::TooLarge {
            path: path.display().to_string(),
            limit,
        });
    }
    Ok(data)
}

/// Lower-case hex SHA-256 of `data`.
fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Checks `data` against the service's `hashes` (none: anything goes).
fn check_hash(svc: &ArchiveService, data: &[u8], what: &str) -> Result<(), ArchiveError> {
    if svc.hashes.is_empty() {
        return Ok(());
    }
    let actual = sha256_hex(data);
    if svc.hashes.contains(&actual) {
        return Ok(());
    }
    Err(ArchiveError::Hash {
        path: what.to_owned(),
        actual,
    })
}

/// Why a download failed.
#[derive(Debug)]
enum Fetch {
    /// The body passed `max_size`.
    TooLarge,
    /// Anything else, said.
    Failed(String),
}

/// `GET url` (redirects followed), the body within `max_size`.
fn download(url: &str, limits: &ArchiveLimits) -> Result<Vec<u8>, Fetch> {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::WebPki)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_millis(limits.download_timeout_ms)))
        .max_redirects(MAX_REDIRECTS)
        .user_agent(concat!("junction/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => Fetch::Failed(format!("HTTP status {code}")),
        other => Fetch::Failed(other.to_string()),
    })?;
    resp.body_mut()
        .with_config()
        .limit(limits.max_size)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => Fetch::TooLarge,
            other => Fetch::Failed(other.to_string()),
        })
}

/// Writes `data` to `<path>.download`, syncs it, and renames it over
/// `path` (a reader sees the old file or the whole new one, never part).
fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".download");
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // The rename itself made durable (best effort: the archive is a cache).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The files of ZIP `data` under the service's prefix, uncompressed.
fn index(
    svc: &ArchiveService,
    data: &[u8],
    modified: SystemTime,
) -> Result<ArchiveFiles, ArchiveError> {
    let path = &svc.archive;
    let zip_err = |e: zip::result::ZipError| ArchiveError::Zip {
        path: path.clone(),
        why: e.to_string(),
    };
    let mut zip = zip::ZipArchive::new(io::Cursor::new(data)).map_err(zip_err)?;
    let prefix = svc
        .object_prefix
        .as_ref()
        .map(|p| format!("{p}/"))
        .unwrap_or_default();
    let mut entries = HashMap::new();
    let mut folders = HashSet::new();
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        // By name first: an entry outside the prefix is not uncompressed
        // (nor refused when it is encrypted or uses another method).
        let name = match zip.name_for_index(i) {
            Some(n) => n.map_err(zip_err)?.into_owned(),
            None => continue,
        };
        let Some(rel) = name.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let mut f = zip.by_index(i).map_err(zip_err)?;
        let rel = rel.trim_start_matches('/').to_owned();
        if f.is_dir() || rel.is_empty() {
            let folder = rel.trim_end_matches('/');
            if !folder.is_empty() {
                add_folders(&mut folders, folder, true);
            }
            continue;
        }
        let left = svc.limits.max_content.saturating_sub(total);
        if f.size() > left {
            return Err(ArchiveError::TooMuchContent {
                path: path.clone(),
                limit: svc.limits.max_content,
            });
        }
        let mut content = Vec::with_capacity(f.size() as usize);
        // At most one octet past the limit: an entry whose header lies
        // about its size is caught too. Reading to the end checks the CRC.
        (&mut f)
            .take(left + 1)
            .read_to_end(&mut content)
            .map_err(|e| ArchiveError::Zip {
                path: path.clone(),
                why: format!("{name}: {e}"),
            })?;
        if content.len() as u64 > left {
            return Err(ArchiveError::TooMuchContent {
                path: path.clone(),
                limit: svc.limits.max_content,
            });
        }
        total += content.len() as u64;
        add_folders(&mut folders, &rel, false);
        entries.insert(
            rel,
            ArchiveEntry {
                data: Bytes::from(content),
                crc32: f.crc32(),
            },
        );
    }
    if entries.is_empty() && svc.object_prefix.is_some() {
        return Err(ArchiveError::EmptyPrefix {
            path: path.clone(),
            prefix: svc.object_prefix.clone().unwrap_or_default(),
        });
    }
    Ok(ArchiveFiles {
        sha256: sha256_hex(data),
        modified,
        entries: Arc::new(entries),
        folders: Arc::new(folders),
    })
}

/// Adds the folders of `path` (`a/b/c`: `a`, `a/b`; and `a/b/c` itself
/// when `is_folder`).
fn add_folders(folders: &mut HashSet<String>, path: &str, is_folder: bool) {
    for (i, _) in path.match_indices('/') {
        folders.insert(path[..i].to_owned());
    }
    if is_folder {
        folders.insert(path.to_owned());
    }
}

/// An `archive` service, prepared (on each shard; the files are shared).
#[derive(Debug)]
pub(super) struct Archive {
    /// The files (`None`: not loaded, every path is missing).
    files: Option<ArchiveFiles>,
    /// `default_object`.
    default_object: Option<String>,
    /// `options.default_file`.
    default_file: Option<String>,
    /// Content types.
    mime: MimeTypes,
    /// The archive's `Last-Modified`.
    last_modified: HttpDate,
    /// How files are answered (no caching fields, no cross-origin fields).
    policy: FilePolicy,
}

impl Archive {
    /// The service `s` (its files loaded by `resolve_packages`).
    ///
    /// # Errors
    /// An invalid `mime_types` entry.
    pub fn new(s: &ArchiveService) -> Result<Self, MimeError> {
        let mime =
            MimeTypes::with_overrides(s.mime_types.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(Archive {
            last_modified: HttpDate::from_system_time(
                s.files.as_ref().map_or(UNIX_EPOCH, |f| f.modified),
            ),
            files: s.files.clone(),
            default_object: s.default_object.clone(),
            default_file: s.default_file.clone(),
            mime,
            policy: FilePolicy::default(),
        })
    }

    /// Answers a GET or HEAD for `rest` (the path below the mount point
    /// `mount`).
    pub(super) fn answer(
        &self,
        req: &RequestHead<Bytes>,
        mount: &str,
        rest: &str,
    ) -> (ResponseHead, Body) {
        let sp = match service_path(req, mount, rest) {
            Ok(p) => p,
            Err(answer) => return *answer,
        };
        let Some(files) = &self.files else {
            return text(404, "not found\n");
        };
        let key = sp.segments().join("/");
        let folder_asked = sp.trailing_slash() || sp.segments().is_empty();
        let name = if folder_asked {
            self.default_object.as_ref().map(|d| {
                if key.is_empty() {
                    d.clone()
                } else {
                    format!("{key}/{d}")
                }
            })
        } else if !files.entries.contains_key(&key) && files.folders.contains(&key) {
            return redirect(&format!("{mount}{}/", sp.to_url_path()), req.query());
        } else {
            Some(key)
        };
        let found = name
            .and_then(|n| files.entries.get_key_value(&n))
            .or_else(|| {
                self.default_file
                    .as_ref()
                    .and_then(|d| files.entries.get_key_value(d))
            });
        match found {
            Some((name, entry)) => self.file_answer(req, files, name, entry),
            None => text(404, "not found\n"),
        }
    }

    fn file_answer(
        &self,
        req: &RequestHead<Bytes>,
        files: &ArchiveFiles,
        name: &str,
        entry: &ArchiveEntry,
    ) -> (ResponseHead, Body) {
        let tag = format!("{}-{:08x}", &files.sha256[..16], entry.crc32);
        let info = FileInfo {
            len: entry.data.len() as u64,
            etag: EntityTag::strong(&tag).expect("hex digits are etag characters"),
            last_modified: self.last_modified,
            content_type: self.mime.lookup(name),
        };
        self.policy
            .answer(req, &info, Content::Whole(entry.data.clone()))
    }
}

#[cfg(test)]
#[path = "tests_archive.rs"]
mod tests;

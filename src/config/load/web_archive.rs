//! The `archive` web service (Crossbar's ZIP archive service): its keys,
//! checked here; the archive itself is read (and downloaded) by the web
//! server before the shards start.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Key, Loader, Obj};
use crate::config::path::{child, index};
use crate::config::web::{ArchiveLimits, ArchiveService};

impl Loader<'_> {
    /// An `archive` service.
    pub(super) fn archive_service(&mut self, path: &str, obj: &Obj) -> Option<ArchiveService> {
        let archive = self.required(path, obj, "archive", Self::node_path);
        let origin = match obj.get("origin") {
            None => Ok(None),
            Some(v) => self
                .origin_url(&child(path, "origin"), v)
                .map(Some)
                .ok_or(()),
        };
        let download = self.opt_bool(path, obj, "download");
        let cache = self.opt_bool(path, obj, "cache");
        let hashes = match obj.get("hashes") {
            None => Ok(Vec::new()),
            Some(v) => self.sha256_list(&child(path, "hashes"), v).ok_or(()),
        };
        let object_prefix = match obj.get("object_prefix") {
            None => Ok(None),
            Some(v) => self
                .archive_path(&child(path, "object_prefix"), v, true)
                .ok_or(()),
        };
        let default_object = self.optional(path, obj, "default_object", |l, p, v| {
            l.archive_path(p, v, false)?
                .or_else(|| l.empty_archive_path(p))
        });
        let mime_types = match obj.get("mime_types") {
            None => Ok(BTreeMap::new()),
            Some(v) => self.mime_map(&child(path, "mime_types"), v).ok_or(()),
        };
        let default_file = match obj.get("options") {
            None => Ok(None),
            Some(v) => self.archive_options(&child(path, "options"), v).ok_or(()),
        };
        let limits = match obj.get("junction") {
            None => Ok(ArchiveLimits::default()),
            Some(v) => self.archive_limits(&child(path, "junction"), v).ok_or(()),
        };
        let download = download.unwrap_or(false);
        let origin = origin.ok()?;
        if download && origin.is_none() {
            self.error(
                &child(path, "download"),
                "true needs `origin` (the URL to download the archive from)",
            );
            return None;
        }
        Some(ArchiveService {
            archive: archive?,
            origin,
            download,
            cache: cache.unwrap_or(false),
            hashes: hashes.ok()?,
            object_prefix: object_prefix.ok()?,
            default_object: default_object.ok()?,
            default_file: default_file.ok()?,
            mime_types: mime_types.ok()?,
            limits: limits.ok()?,
            files: None,
        })
    }

    /// An error for an empty `default_object` (a path that names nothing).
    fn empty_archive_path(&mut self, path: &str) -> Option<String> {
        self.error(path, "names no file (empty)");
        None
    }

    /// An `http://` or `https://` URL with a host.
    fn origin_url(&mut self, path: &str, v: &Value) -> Option<String> {
        let url = self.nonempty(path, v)?;
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        let host_ok = rest.is_some_and(|r| {
            let authority = r.split(['/', '?', '#']).next().unwrap_or("");
            !authority.is_empty() && !authority.starts_with(':')
        });
        if !host_ok || url.bytes().any(|b| b <= b' ' || b == 0x7F) {
            self.error(
                path,
                format!("\"{url}\" is not an http:// or https:// URL with a host"),
            );
            return None;
        }
        Some(url.into_owned())
    }

    /// A list of SHA-256 digests (64 hex digits each), in lower case.
    fn sha256_list(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
        let items = self.array(path, v)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(h) = self.string(&p, item) else {
                ok = false;
                continue;
            };
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.error(
                    &p,
                    format!("\"{h}\" is not a SHA-256 digest (64 hexadecimal digits)"),
                );
                ok = false;
                continue;
            }
            out.push(h.to_ascii_lowercase());
        }
        ok.then_some(out)
    }

    /// A path inside the archive (`a/b`): `/`-separated, no `.` or `..`
    /// component, no backslash or control character; leading and (for a
    /// folder) trailing slashes are dropped. `Some(None)` when nothing is
    /// left.
    fn archive_path(&mut self, path: &str, v: &Value, folder: bool) -> Option<Option<String>> {
        let s = self.string(path, v)?;
        let mut t = s.trim_start_matches('/');
        if folder {
            t = t.trim_end_matches('/');
        }
        let bad = t.chars().any(|c| c == '\\' || c.is_control())
            || (!t.is_empty() && t.split('/').any(|c| c.is_empty() || c == "." || c == ".."));
        if bad {
            self.error(
                path,
                format!(
                    "\"{s}\" is not a path inside the archive (`/`-separated names, \
                     no `.` or `..`, no backslash)"
                ),
            );
            return None;
        }
        Some((!t.is_empty()).then(|| t.to_owned()))
    }

    /// The service's `options`: Crossbar reads `default_file` only.
    fn archive_options(&mut self, path: &str, v: &Value) -> Option<Option<String>> {
        let o = self.object(path, v)?;
        self.keys(path, o, &[("default_file", Key::Read)]);
        match o.get("default_file") {
            None => Some(None),
            Some(v) => {
                let p = child(path, "default_file");
                let f = self.archive_path(&p, v, false)?;
                match f {
                    Some(f) => Some(Some(f)),
                    None => self.empty_archive_path(&p).map(Some),
                }
            }
        }
    }

    /// The service's `junction` object: its limits.
    fn archive_limits(&mut self, path: &str, v: &Value) -> Option<ArchiveLimits> {
        let o = self.object(path, v)?;
        self.keys(
            path,
            o,
            &[
                ("max_size", Key::Read),
                ("max_content", Key::Read),
                ("download_timeout", Key::Read),
            ],
        );
        let mut l = ArchiveLimits::default();
        if let Some(v) = o.get("max_size") {
            l.max_size = self.uint(&child(path, "max_size"), v, 22, 1 << 32)?;
        }
        if let Some(v) = o.get("max_content") {
            l.max_content = self.uint(&child(path, "max_content"), v, 0, 1 << 34)?;
        }
        if let Some(v) = o.get("download_timeout") {
            l.download_timeout_ms = self.uint(&child(path, "download_timeout"), v, 1, 3_600_000)?;
        }
        Some(l)
    }

    /// A `mime_types` map: suffix with its dot (`.svg`, `.min.js`) → type
    /// (the `static` service's `options.mime_types` and the `archive`
    /// service's `mime_types`).
    pub(super) fn mime_map(&mut self, path: &str, v: &Value) -> Option<BTreeMap<String, String>> {
        let map = self.object(path, v)?;
        let mut out = BTreeMap::new();
        for (ext, mime) in map {
            let ep = child(path, ext);
            if !ext.starts_with('.') || ext.len() < 2 {
                self.error(
                    &ep,
                    format!("\"{ext}\" is not a file extension (like \".svg\")"),
                );
                return None;
            }
            let mime = self.nonempty(&ep, mime)?;
            out.insert(ext.clone(), mime.into_owned());
        }
        Some(out)
    }
}

//! Content types by file extension: a built-in table of the types a web
//! front end serves, plus per-service overrides (Crossbar's
//! `options.mime_types`, `{".ext": "type"}`).
//!
//! Types are given as they are, without a charset parameter: text files are
//! served as the bytes they are on disk, and a `charset` would claim to know
//! their encoding. An override may add one (`"text/html; charset=utf-8"`).

use std::collections::HashMap;

/// The type of anything not in the table.
pub const DEFAULT_TYPE: &str = "application/octet-stream";

/// The built-in table, sorted by extension (lower case, without the dot).
const BUILTIN: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("apng", "image/apng"),
    ("avif", "image/avif"),
    ("bin", "application/octet-stream"),
    ("bmp", "image/bmp"),
    ("cjs", "text/javascript"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("eot", "application/vnd.ms-fontobject"),
    ("epub", "application/epub+zip"),
    ("flac", "audio/flac"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ico", "image/vnd.microsoft.icon"),
    ("ics", "text/calendar"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("m4a", "audio/mp4"),
    ("manifest", "application/manifest+json"),
    ("map", "application/json"),
    ("md", "text/markdown"),
    ("mjs", "text/javascript"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("msgpack", "application/msgpack"),
    ("oga", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("opus", "audio/opus"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("py", "text/x-python"),
    ("rss", "application/rss+xml"),
    ("rtf", "application/rtf"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("ts", "video/mp2t"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("weba", "audio/webm"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
];

/// The built-in type for `ext` (without the dot, any case).
pub fn builtin(ext: &str) -> Option<&'static str> {
    let ext = ext.to_ascii_lowercase();
    BUILTIN
        .binary_search_by(|(e, _)| (*e).cmp(ext.as_str()))
        .ok()
        .map(|i| BUILTIN[i].1)
}

/// The extension of a file name: what follows its last dot, unless the dot
/// starts the name (`.htaccess` has none).
pub fn extension(file_name: &str) -> Option<&str> {
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    match name.rfind('.') {
        Some(0) | None => None,
        Some(i) => Some(&name[i + 1..]),
    }
}

/// Content types: the built-in table with a service's overrides on top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MimeTypes {
    /// Extension (lower case, without the dot) → type.
    overrides: HashMap<String, String>,
}

/// An override the table refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mime_types entry {extension:?}: {why}")]
pub struct MimeError {
    /// The extension as given.
    pub extension: String,
    /// What is wrong.
    pub why: &'static str,
}

impl MimeTypes {
    /// The built-in table only.
    pub fn new() -> Self {
        MimeTypes::default()
    }

    /// The built-in table with `overrides` (extension with or without its
    /// leading dot, any case → type).
    ///
    /// # Errors
    /// [`MimeError`] for an empty extension or one with `/`, or a type that
    /// is not `type/subtype` or holds a control character.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, MimeError> {
        let mut table = HashMap::new();
        for (ext, ty) in overrides {
            let bad = |why| MimeError {
                extension: ext.to_owned(),
                why,
            };
            let key = ext.strip_prefix('.').unwrap_or(ext).to_ascii_lowercase();
            if key.is_empty() || key.contains('/') {
                return Err(bad("not a file extension"));
            }
            let (main, sub) = ty.split_once('/').ok_or(bad("type is not type/subtype"))?;
            if main.trim().is_empty() || sub.trim().is_empty() {
                return Err(bad("type is not type/subtype"));
            }
            if ty.bytes().any(|b| b < 0x20 || b == 0x7F) {
                return Err(bad("control character in type"));
            }
            table.insert(key, ty.to_owned());
        }
        Ok(MimeTypes { overrides: table })
    }

    /// The type of `file_name` by its extension (overrides first, the
    /// longest matching suffix winning, so that an override for `.min.js`
    /// beats one for `.js`; then the built-in table, then [`DEFAULT_TYPE`]).
    pub fn lookup(&self, file_name: &str) -> &str {
        let Some(ext) = extension(file_name) else {
            return DEFAULT_TYPE;
        };
        if !self.overrides.is_empty() {
            let name = file_name.rsplit('/').next().unwrap_or(file_name);
            let name = name.to_ascii_lowercase();
            // Every suffix after a dot (not a leading one), longest first.
            for (i, _) in name.match_indices('.').filter(|(i, _)| *i > 0) {
                if let Some(ty) = self.overrides.get(&name[i + 1..]) {
                    return ty;
                }
            }
        }
        builtin(ext).unwrap_or(DEFAULT_TYPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in BUILTIN.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (ext, ty) in BUILTIN {
            assert_eq!(builtin(ext), Some(*ty));
        }
    }

    #[test]
    fn lookups() {
        let m = MimeTypes::new();
        assert_eq!(m.lookup("index.html"), "text/html");
        assert_eq!(m.lookup("APP.JS"), "text/javascript");
        assert_eq!(m.lookup("a/b.c/style.css"), "text/css");
        assert_eq!(m.lookup("archive.tar.gz"), "application/gzip");
        assert_eq!(m.lookup("font.woff2"), "font/woff2");
        assert_eq!(m.lookup("README"), DEFAULT_TYPE);
        assert_eq!(m.lookup(".htaccess"), DEFAULT_TYPE);
        assert_eq!(m.lookup("x.unknownext"), DEFAULT_TYPE);
        assert_eq!(m.lookup("trailingdot."), DEFAULT_TYPE);
        assert_eq!(extension("dir.d/file"), None);
        assert_eq!(extension("a.b.c"), Some("c"));
    }

    #[test]
    fn longest_override_suffix_wins() {
        let m = MimeTypes::with_overrides([
            (".js", "application/x-js"),
            (".min.js", "text/x-min"),
            (".JGZ", "text/javascript"),
        ])
        .expect("valid");
        assert_eq!(m.lookup("dist/autobahn.min.js"), "text/x-min");
        assert_eq!(m.lookup("AUTOBAHN.MIN.JS"), "text/x-min");
        assert_eq!(m.lookup("autobahn.js"), "application/x-js");
        assert_eq!(m.lookup("x.min.jgz"), "text/javascript");
        assert_eq!(m.lookup("min.js.map"), "application/json");
        assert_eq!(m.lookup("a.min.js/readme"), DEFAULT_TYPE);
        assert_eq!(m.lookup(".min.js"), "application/x-js");
    }

    #[test]
    fn overrides_win() {
        let m = MimeTypes::with_overrides([
            (".html", "text/html; charset=utf-8"),
            ("WAMP", "application/x-wamp"),
        ])
        .expect("valid");
        assert_eq!(m.lookup("index.html"), "text/html; charset=utf-8");
        assert_eq!(m.lookup("x.wamp"), "application/x-wamp");
        assert_eq!(m.lookup("x.css"), "text/css");
        for (ext, ty) in [
            (".", "a/b"),
            ("a/b", "a/b"),
            ("x", "text"),
            ("x", "/b"),
            ("x", "a/b\r\n"),
        ] {
            assert!(
                MimeTypes::with_overrides([(ext, ty)]).is_err(),
                "{ext} {ty}"
            );
        }
    }
}

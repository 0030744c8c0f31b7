//! The node directory, as Crossbar.io lays it out: which config file a
//! command reads (`--config`, `--cbdir`, `$CROSSBAR_DIR`, `./.crossbar`), and
//! `junction init`, which creates a new one from a template.
//!
//! Only file-system work on paths it is given; it imports nothing from the
//! rest of the crate but the parent module's `Config` loader (in its tests).

use std::io;
use std::path::{Path, PathBuf};

/// The node directory Crossbar.io uses when none is named.
pub const DEFAULT_CBDIR: &str = ".crossbar";

/// The environment variable Crossbar.io reads the node directory from.
pub const CBDIR_ENV: &str = "CROSSBAR_DIR";

/// The config file names looked for in a node directory, in this order.
const CONFIG_NAMES: [&str; 3] = ["config.json", "config.yaml", "config.yml"];

/// The config `junction init` writes: the embedded default (realm `realm1`,
/// WebSocket, RawSocket and MQTT on localhost) plus a static web root.
const TEMPLATE_CONFIG: &str = include_str!("init_template.json");

/// The page `junction init` puts in the web root.
const TEMPLATE_PAGE: &str = include_str!("init_index.html");

/// Where a command's config comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file: named by `--config`, or found in the node directory.
    File(PathBuf),
    /// No file named and none found: the embedded default.
    EmbeddedDefault,
}

/// Why no config file could be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocateError {
    /// `--cbdir` (or `$CROSSBAR_DIR`) names a directory without a config file.
    #[error("no config.json, config.yaml or config.yml in the node directory {0}")]
    NoConfigIn(PathBuf),
}

/// Chooses the config file as Crossbar.io does: `config` when given (relative
/// to `cbdir` when both are given, as `crossbar start --cbdir D --config F`);
/// else the first of `config.json`, `config.yaml`, `config.yml` in `cbdir`
/// (given, else `cbdir_env`, i.e. `$CROSSBAR_DIR`), where one must exist;
/// else the same names in `<cwd>/.crossbar` when that directory has one;
/// else the embedded default.
///
/// # Errors
/// [`LocateError::NoConfigIn`] when a named node directory has no config.
pub fn locate(
    config: Option<&Path>,
    cbdir: Option<&Path>,
    cbdir_env: Option<&Path>,
    cwd: &Path,
) -> Result<ConfigSource, LocateError> {
    let named_dir = cbdir.or(cbdir_env);
    if let Some(file) = config {
        return Ok(ConfigSource::File(match named_dir {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.to_owned(),
        }));
    }
    if let Some(dir) = named_dir {
        return find_in(dir)
            .map(ConfigSource::File)
            .ok_or_else(|| LocateError::NoConfigIn(dir.to_owned()));
    }
    Ok(find_in(&cwd.join(DEFAULT_CBDIR))
        .map(|p| {
            ConfigSource::File(Path::new(DEFAULT_CBDIR).join(p.file_name().unwrap_or_default()))
        })
        .unwrap_or(ConfigSource::EmbeddedDefault))
}

/// The first config file name present in `dir`.
fn find_in(dir: &Path) -> Option<PathBuf> {
    CONFIG_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// What `junction init` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The node directory (`<appdir>/.crossbar`).
    pub cbdir: PathBuf,
    /// The files written, in order.
    pub created: Vec<PathBuf>,
}

/// Why `junction init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The application directory already has a node config.
    #[error("{0} already exists: not overwritten (remove it, or init another directory)")]
    Exists(PathBuf),
    /// A directory or file could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Creates a node in `appdir` (created if missing), laid out as
/// `crossbar init` does: `<appdir>/.crossbar/config.json` (the embedded
/// default plus a static web root) and `<appdir>/web/index.html`. Nothing is
/// written when the node directory already holds a config file; an existing
/// `web/index.html` is kept.
///
/// # Errors
/// [`InitError::Exists`], or [`InitError::Io`] naming the path that failed.
pub fn init(appdir: &Path) -> Result<InitReport, InitError> {
    let cbdir = appdir.join(DEFAULT_CBDIR);
    if let Some(existing) = find_in(&cbdir) {
        return Err(InitError::Exists(existing));
    }
    let web = appdir.join("web");
    let mut created = Vec::new();
    for dir in [&cbdir, &web] {
        std::fs::create_dir_all(dir).map_err(|source| InitError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let config = cbdir.join(CONFIG_NAMES[0]);
    write_new(&config, TEMPLATE_CONFIG)?;
    created.push(config);
    let page = web.join("index.html");
    match write_new(&page, TEMPLATE_PAGE) {
        Ok(()) => created.push(page),
        Err(InitError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    Ok(InitReport { cbdir, created })
}

/// Writes `text` to a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> Result<(), InitError> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| InitError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, "{}").expect("write");
    }

    #[test]
    fn nothing_named_and_nothing_found_is_the_embedded_default() {
        let cwd = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            locate(None, None, None, cwd.path()),
            Ok(ConfigSource::EmbeddedDefault)
        );
    }

    #[test]
    fn a_dot_crossbar_config_in_the_working_directory_is_used() {
        let cwd = tempfile::tempdir().expect("tempdir");
        touch(&cwd.path().join(".crossbar/config.yaml"));
        assert_eq!(
            locate(None, None, None, cwd.path()),
            Ok(ConfigSource::File(PathBuf::from(".crossbar/config.yaml")))
        );
        // JSON wins over YAML, as listed.
        touch(&cwd.path().join(".crossbar/config.json"));
        assert_eq!(
            locate(None, None, None, cwd.path()),
            Ok(ConfigSource::File(PathBuf::from(".crossbar/config.json")))
        );
    }

    #[test]
    fn a_named_node_directory_must_hold_a_config() {
        let cwd = tempfile::tempdir().expect("tempdir");
        let node = cwd.path().join("node");
        std::fs::create_dir_all(&node).expect("mkdir");
        assert_eq!(
            locate(None, Some(&node), None, cwd.path()),
            Err(LocateError::NoConfigIn(node.clone()))
        );
        touch(&node.join("config.yml"));
        assert_eq!(
            locate(None, None, Some(&node), cwd.path()),
            Ok(ConfigSource::File(node.join("config.yml")))
        );
    }

    #[test]
    fn config_is_relative_to_the_named_node_directory() {
        let cwd = tempfile::tempdir().expect("tempdir");
        let node = Path::new("/srv/node/.crossbar");
        assert_eq!(
            locate(Some(Path::new("prod.yaml")), Some(node), None, cwd.path()),
            Ok(ConfigSource::File(node.join("prod.yaml")))
        );
        assert_eq!(
            locate(Some(Path::new("/etc/j.json")), Some(node), None, cwd.path()),
            Ok(ConfigSource::File(PathBuf::from("/etc/j.json")))
        );
        assert_eq!(
            locate(Some(Path::new("a.json")), None, None, cwd.path()),
            Ok(ConfigSource::File(PathBuf::from("a.json")))
        );
    }

    #[test]
    fn init_writes_a_node_that_loads_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path().join("app");
        let report = init(&app).expect("init");
        assert_eq!(report.cbdir, app.join(".crossbar"));
        assert_eq!(
            report.created,
            vec![
                app.join(".crossbar/config.json"),
                app.join("web/index.html")
            ]
        );
        let config = Config::from_file(&report.created[0]).expect("the template loads");
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        assert!(
            config.unsupported().is_empty(),
            "{:?}",
            config.unsupported()
        );
        let default = Config::embedded_default();
        assert_eq!(config.realms, default.realms);
        assert_eq!(config.transports.len(), default.transports.len());
        assert_eq!(
            locate(None, None, None, &app),
            Ok(ConfigSource::File(PathBuf::from(".crossbar/config.json")))
        );
        match init(&app) {
            Err(InitError::Exists(p)) => assert_eq!(p, app.join(".crossbar/config.json")),
            other => panic!("expected Exists, got {other:?}"),
        }
    }

    #[test]
    fn init_keeps_an_existing_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(&dir.path().join("web/index.html"));
        let report = init(dir.path()).expect("init");
        assert_eq!(
            report.created,
            vec![dir.path().join(".crossbar/config.json")]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("web/index.html")).expect("read"),
            "{}"
        );
    }
}

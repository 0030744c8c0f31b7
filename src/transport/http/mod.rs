//! The web server: HTTP/1.1 on the shard reactors for `web` transports, with
//! Crossbar's path services.
//!
//! - [`Site`]: what one web transport serves, built once per listener on each
//!   shard from its config: the path tree (`router.rs`), one prepared service
//!   per path (static files, redirects, JSON documents, the node info page,
//!   WebSocket endpoints), and the limits and timeouts.
//! - The floors, from the ground up (no file imports one above it):
//!   `conn` (one connection's socket side: `HttpConn` reads request
//!   heads and body pieces with the timeouts by phase, writes answers,
//!   closes; the peer's address) and `reply` (the answers and checks every
//!   service shares); `files` (a file's answer with its validators and
//!   ranges, shared by `static` and `archive`); `stream` (answers streamed as they are produced);
//!   `duplex` (a program's answer streamed out while the request body
//!   streams in, both at once: CGI);
//!   the path services, each in a file of its own that imports no other
//!   service: `static_files`, `archive` (files out of a ZIP archive, read
//!   into memory before the shards start), `pages` (`redirect`, `json`, `nodeinfo`),
//!   `ws_path` (`websocket`), `mqtt_ws`, `bridge` (`publisher`, `caller`,
//!   `webhook`), [`longpoll`], `cgi`, `proxy` (`reverseproxy`, and the
//!   HTTP side of `wsgi`), `metrics`; this file ([`Site`], the prepared
//!   services by path); `services`, the dispatcher (a routed request to
//!   its service, the hand-over of an upgrade); [`driver`], one
//!   connection's life (requests answered one at a time, in order, then
//!   the WebSocket session after a 101).
//! - The bridge and long-poll reach the router through [`WebRouter`].
//!   [`components`]: the bridge's router components (MessageForwarder,
//!   RESTCallee) with the HTTP [`client`].
//!
//! How a path service plugs in: a variant of `Service` built from its
//! config in [`Site::new`], and an arm in `services::dispatch` that answers
//! a routed request (the request head, the path below its mount point, and
//! the connection to read a body from or stream an answer to).
//!
//! Imports `proto`, `config`, the core's front-end API and the transport's
//! own connection driver; never the shard runtime.

mod archive;
mod bridge;
mod cgi;
pub mod client;
pub mod components;
mod conn;
pub mod driver;
mod duplex;
mod files;
pub mod longpoll;
mod metrics;
mod mqtt_ws;
mod pages;
mod port;
mod proxy;
mod reply;
mod router;
mod services;
mod static_files;
mod stream;
mod wap;
mod ws_path;
mod wsgi;

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

pub use bridge::sign;
pub use metrics::{METRICS_CONTENT_TYPE, MetricsSource, SCRAPE_TIMEOUT, set_metrics_source};
pub use port::WebRouter;

use self::bridge::Bridge;
use self::conn::Timeouts;
use self::mqtt_ws::MqttPath;
use self::pages::{JsonDoc, NodeInfo, Redirect};
use self::router::{Level, Node};
use self::static_files::StaticFiles;
use self::ws_path::WsPath;
use crate::config::web::{HttpLimits, StaticSource, WebPaths, WebService, WebTransport};
use crate::config::{Config, TransportConfig, TransportKind, UniversalTransport};
use crate::proto::http::{FixedFields, Limits};

/// Why a web transport cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The transport is not a web transport.
    #[error("transport {0} is not a web transport")]
    NotWeb(String),
    /// A path type the runtime does not serve (the gap list refuses these
    /// configs first).
    #[error("{path}: web service type \"{kind}\" is not supported yet")]
    Unsupported {
        /// The HTTP path.
        path: String,
        /// The path type.
        kind: &'static str,
    },
    /// A static service's `mime_types` entry is not valid.
    #[error("{path}: {source}")]
    Mime {
        /// The HTTP path.
        path: String,
        /// What is wrong.
        source: crate::proto::http::mime::MimeError,
    },
    /// A static service's `package` could not be located.
    #[error("{path}: cannot locate resource {resource:?} of Python package {package:?}: {why}")]
    Package {
        /// The HTTP path.
        path: String,
        /// `package`.
        package: String,
        /// `resource`.
        resource: String,
        /// What went wrong.
        why: String,
    },
    /// An `archive` service's archive cannot be read, downloaded or
    /// verified.
    #[error("{path}: archive {source}")]
    Archive {
        /// The HTTP path.
        path: String,
        /// What is wrong.
        source: archive::ArchiveError,
    },
    /// A `wsgi` service's application cannot run.
    #[error("{path}: WSGI application: {why}")]
    Wsgi {
        /// The HTTP path.
        path: String,
        /// What went wrong (Python's message when the import failed).
        why: String,
    },
    /// A `wap` service's templates cannot be read or do not compile, or a
    /// route renders a template that is not there.
    #[error("{path}: WAMP Application Page templates: {why}")]
    Wap {
        /// The HTTP path.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// One path's prepared service.
#[derive(Debug)]
enum Service {
    /// `static`: files from a directory.
    Static(Rc<StaticFiles>),
    /// `archive`: files from a ZIP archive.
    Archive(Rc<archive::Archive>),
    /// `websocket`: WAMP over WebSocket.
    WebSocket(Rc<WsPath>),
    /// `redirect`.
    Redirect(Redirect),
    /// `json`.
    Json(JsonDoc),
    /// `nodeinfo`.
    NodeInfo(NodeInfo),
    /// `none`: 404 for everything.
    NotFound,
    /// `mqtt` (Junction extension): MQTT over WebSocket.
    Mqtt(Rc<MqttPath>),
    /// `publisher`, `caller`, `webhook`: the HTTP bridge.
    Bridge(Rc<Bridge>),
    /// `longpoll`: WAMP over HTTP long-poll.
    LongPoll(Rc<longpoll::LongPoll>),
    /// `cgi`: scripts.
    Cgi(Rc<cgi::Cgi>),
    /// `reverseproxy` (and `wsgi`, a proxy to its Python host).
    Proxy(Rc<proxy::Proxy>),
    /// `metrics`: the Prometheus text of every shard.
    Metrics,
    /// `wap`: WAMP Application Pages.
    Wap(Rc<wap::Wap>),
}

/// What one web transport serves, built once per listener on each shard.
#[derive(Debug)]
pub struct Site {
    /// The transport (for logs and the WebSocket paths' links).
    transport: Rc<TransportConfig>,
    /// The path tree.
    routes: Level<Service>,
    /// The request limits the sans-IO connection enforces.
    limits: Limits,
    /// The connection timeouts.
    timeouts: Timeouts,
    /// `options.access_log`: one log line per request.
    access_log: bool,
    /// `options.hsts`: the `Strict-Transport-Security` field sent on every
    /// answer over TLS (`max-age=...`), written out once; `None` when off.
    hsts: Option<FixedFields>,
    /// The router-wide message limit (WebSocket paths).
    max_message_size: usize,
    /// When the site was built (the node info page's "started").
    started: SystemTime,
}

impl Site {
    /// Builds the site of a `web` transport; `max_message_size` is the
    /// router-wide limit (`junction.max_message_size`).
    ///
    /// # Errors
    /// [`SiteError`]: not a web transport, a path type not served, an
    /// invalid MIME override, or a static `package` source not resolved
    /// (see [`resolve_packages`]).
    pub fn new(transport: Rc<TransportConfig>, max_message_size: usize) -> Result<Site, SiteError> {
        let TransportKind::Web(web) = &transport.kind else {
            return Err(SiteError::NotWeb(transport.id.clone()));
        };
        let web = web.clone();
        Site::with_paths(transport, &web, max_message_size)
    }

    /// The site of `web` (paths, options, limits) on `transport` (a `web`
    /// transport, or the universal transport whose HTTP side it is).
    ///
    /// # Errors
    /// As [`Site::new`].
    pub fn with_paths(
        transport: Rc<TransportConfig>,
        web: &WebTransport,
        max_message_size: usize,
    ) -> Result<Site, SiteError> {
        let routes = build_level(&transport, &web.paths, "")?;
        let http = &web.http;
        Ok(Site {
            limits: sans_io_limits(http),
            timeouts: timeouts(http),
            access_log: web.options.access_log,
            hsts: web
                .options
                .hsts
                .then(|| hsts_field(web.options.hsts_max_age_s)),
            routes,
            max_message_size,
            started: SystemTime::now(),
            transport,
        })
    }

    /// The transport this site serves.
    pub fn transport(&self) -> &Rc<TransportConfig> {
        &self.transport
    }
}

/// The HTTP side of a universal transport as a web transport: its `web`
/// paths (and options and limits), with each `websocket` entry added as a
/// websocket path at its key; `None` when it has neither.
pub fn universal_web(u: &UniversalTransport) -> Option<WebTransport> {
    if u.web.is_none() && u.websocket.is_empty() {
        return None;
    }
    let mut web = u.web.clone().unwrap_or_default();
    for (key, ws) in &u.websocket {
        web.paths
            .insert(key.clone(), WebService::WebSocket(ws.clone()));
    }
    Some(web)
}

/// The sans-IO connection's limits for a transport's `junction` limits.
/// The `Strict-Transport-Security` field of a site's TLS answers.
fn hsts_field(max_age_s: u64) -> FixedFields {
    let value = format!("max-age={max_age_s}");
    FixedFields::new(&[("Strict-Transport-Security", value.as_bytes())])
        .expect("a token name and a value of digits are a valid field")
}

fn sans_io_limits(http: &HttpLimits) -> Limits {
    Limits {
        max_head: http.max_head_bytes,
        max_target: http.max_target_bytes,
        max_headers: http.max_headers,
        max_body: http.max_body_bytes,
        // The driver answers requests one at a time, in order: it reads a
        // pipelined request once the one before it is answered.
        max_pipelined: 1,
        ..Limits::default()
    }
}

fn timeouts(http: &HttpLimits) -> Timeouts {
    Timeouts {
        head: Duration::from_millis(http.head_timeout_ms),
        body: Duration::from_millis(http.body_timeout_ms),
        idle: Duration::from_millis(http.idle_timeout_ms),
        send: Duration::from_millis(http.send_timeout_ms),
    }
}

/// Builds one level of the path tree; `prefix` is its HTTP path (`""` at the top).
fn build_level(
    transport: &Rc<TransportConfig>,
    paths: &WebPaths,
    prefix: &str,
) -> Result<Level<Service>, SiteError> {
    let mut level = Level::default();
    for (name, config) in paths {
        let http_path = if name == "/" {
            format!("{prefix}/")
        } else {
            format!("{prefix}/{name}")
        };
        let node = match config {
            WebService::Path(nested) => {
                let nested = build_level(transport, nested, &format!("{prefix}/{name}"))?;
                if name == "/" {
                    // A `path` service at `/`: its paths are this level's.
                    merge(&mut level, nested);
                    continue;
                }
                Node::Level(nested)
            }
            other => Node::Service(build_service(transport, other, &http_path)?),
        };
        match (name.as_str(), node) {
            ("/", Node::Service(s)) => level.set_root(s),
            (_, node) => level.add(name.clone(), node),
        }
    }
    Ok(level)
}

/// Moves `from`'s services into `into` (a `path` service mounted at `/`).
fn merge(into: &mut Level<Service>, from: Level<Service>) {
    let (root, children) = from.into_parts();
    if let Some(r) = root {
        into.set_root(r);
    }
    for (name, node) in children {
        into.add(name, node);
    }
}

/// The prepared service of one path.
fn build_service(
    transport: &Rc<TransportConfig>,
    config: &WebService,
    http_path: &str,
) -> Result<Service, SiteError> {
    Ok(match config {
        WebService::Static(s) => {
            Service::Static(Rc::new(StaticFiles::new(s).map_err(|source| {
                SiteError::Mime {
                    path: http_path.to_owned(),
                    source,
                }
            })?))
        }
        WebService::Archive(a) => {
            Service::Archive(Rc::new(archive::Archive::new(a).map_err(|source| {
                SiteError::Mime {
                    path: http_path.to_owned(),
                    source,
                }
            })?))
        }
        WebService::WebSocket(ws) => Service::WebSocket(Rc::new(WsPath::new(transport, ws))),
        WebService::Redirect(r) => Service::Redirect(Redirect::new(&r.url)),
        WebService::Json(j) => Service::Json(JsonDoc::new(j)),
        WebService::NodeInfo => Service::NodeInfo(NodeInfo),
        WebService::NotFound => Service::NotFound,
        WebService::Mqtt(m) => Service::Mqtt(Rc::new(MqttPath::new(transport, m))),
        WebService::Publisher(b) => Service::Bridge(Rc::new(Bridge::new(transport, b, false))),
        WebService::Caller(b) => Service::Bridge(Rc::new(Bridge::new(transport, b, true))),
        WebService::Webhook(w) => Service::Bridge(Rc::new(Bridge::webhook(transport, w))),
        WebService::LongPoll(l) => {
            Service::LongPoll(Rc::new(longpoll::LongPoll::new(transport, l, http_path)))
        }
        WebService::Metrics => Service::Metrics,
        WebService::Wap(w) => Service::Wap(Rc::new(wap::Wap::new(transport, w))),
        WebService::Cgi(cgi) => Service::Cgi(Rc::new(cgi::Cgi::new(transport, cgi))),
        WebService::ReverseProxy(p) => Service::Proxy(Rc::new(proxy::Proxy::new(p))),
        WebService::Wsgi(w) => Service::Proxy(Rc::new(proxy::Proxy::to_wsgi(
            wsgi::app_socket(w),
            Duration::from_millis(crate::config::web::DEFAULT_PROXY_CONNECT_TIMEOUT_MS),
            Duration::from_millis(w.timeout_ms),
        ))),
        other => {
            return Err(SiteError::Unsupported {
                path: http_path.to_owned(),
                kind: other.type_name(),
            });
        }
    })
}

/// Loads every `archive` service's files (downloading a missing archive
/// from its `origin` when `download` is set; see `archive::load`);
/// replaces every static service's `package` + `resource` source by the
/// directory it names, asking the router's Python (`options.python`, else
/// `python3`, with `options.pythonpath`) where the package is, as Crossbar
/// does with `importlib.resources`; and starts every `wsgi` service's
/// application process (its interpreter and module path as the loader
/// filled them in: `junction.python`, else that Python, and
/// `options.pythonpath`), waiting until each listens. Blocking: call it
/// before the shards start.
///
/// # Errors
/// [`SiteError::Package`] when Python cannot be run or cannot import the
/// package, or the resource is not a directory in it;
/// [`SiteError::Wsgi`] when a WSGI application cannot be loaded;
/// [`SiteError::Archive`] when an archive cannot be loaded.
pub fn resolve_packages(config: &mut Config) -> Result<(), SiteError> {
    resolve(config, true)
}

/// [`resolve_packages`] without starting the `wsgi` applications and
/// without downloading a missing archive (for `junction check`: nothing is
/// left running, nothing fetched or written; an archive that is there is
/// read and checked as at the start).
///
/// # Errors
/// [`SiteError::Package`] and [`SiteError::Archive`] as
/// [`resolve_packages`].
pub fn resolve_static_packages(config: &mut Config) -> Result<(), SiteError> {
    resolve(config, false)
}

fn resolve(config: &mut Config, start_apps: bool) -> Result<(), SiteError> {
    let python = config
        .python
        .executable
        .clone()
        .unwrap_or_else(|| PathBuf::from("python3"));
    let pythonpath = config.python.path.clone();
    for t in &mut config.transports {
        let paths = match &mut t.kind {
            TransportKind::Web(w) => &mut w.paths,
            TransportKind::Universal(u) => match &mut u.web {
                Some(w) => &mut w.paths,
                None => continue,
            },
            _ => continue,
        };
        resolve_in(paths, "", &python, &pythonpath, start_apps)?;
    }
    Ok(())
}

fn resolve_in(
    paths: &mut WebPaths,
    prefix: &str,
    python: &std::path::Path,
    pythonpath: &[PathBuf],
    start_apps: bool,
) -> Result<(), SiteError> {
    for (name, service) in paths.iter_mut() {
        let here = format!("{prefix}/{}", if name == "/" { "" } else { name });
        match service {
            WebService::Path(nested) => {
                resolve_in(nested, &here, python, pythonpath, start_apps)?;
            }
            WebService::Wsgi(w) if start_apps => {
                // The loader gave it its interpreter and module path.
                wsgi::start_app(w).map_err(|why| SiteError::Wsgi {
                    path: here.clone(),
                    why,
                })?;
            }
            WebService::Archive(a) => {
                // `start_apps` is the start (or a reload), not a check:
                // only then is a missing archive downloaded.
                a.files = archive::load(a, start_apps).map_err(|source| SiteError::Archive {
                    path: here.clone(),
                    source,
                })?;
            }
            WebService::Wap(w) => {
                let dir = match &w.templates {
                    StaticSource::Directory(d) => d.clone(),
                    StaticSource::Package { package, resource } => {
                        located(python, pythonpath, package, resource, &here)?
                    }
                };
                wap::load(w, &dir).map_err(|why| SiteError::Wap {
                    path: here.clone(),
                    why,
                })?;
            }
            WebService::Static(s) => {
                if let StaticSource::Package { package, resource } = &s.source {
                    let dir = located(python, pythonpath, package, resource, &here)?;
                    s.source = StaticSource::Directory(dir);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`package_dir`], its failure as the [`SiteError`] of HTTP path `here`.
fn located(
    python: &std::path::Path,
    pythonpath: &[PathBuf],
    package: &str,
    resource: &str,
    here: &str,
) -> Result<PathBuf, SiteError> {
    package_dir(python, pythonpath, package, resource).map_err(|why| SiteError::Package {
        path: here.to_owned(),
        package: package.to_owned(),
        resource: resource.to_owned(),
        why,
    })
}

/// The directory `resource` inside Python package `package`.
fn package_dir(
    python: &std::path::Path,
    pythonpath: &[PathBuf],
    package: &str,
    resource: &str,
) -> Result<PathBuf, String> {
    const SCRIPT: &str = "import sys, importlib.resources as r\n\
                          print(r.files(sys.argv[1]).joinpath(sys.argv[2]))";
    let mut cmd = std::process::Command::new(python);
    cmd.arg("-c").arg(SCRIPT).arg(package).arg(resource);
    if !pythonpath.is_empty() {
        let mut all: Vec<PathBuf> = pythonpath.to_vec();
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            all.extend(std::env::split_paths(&existing));
        }
        let joined = std::env::join_paths(all).map_err(|e| e.to_string())?;
        cmd.env("PYTHONPATH", joined);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("failed").trim();
        return Err(last.to_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|_| "path is not UTF-8".to_owned())?;
    let dir = PathBuf::from(text.trim_end_matches(['\n', '\r']));
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cgi;
#[cfg(test)]
mod tests_proxy;
#[cfg(test)]
mod tests_ws;

//! The Junction options (`junction` objects) of the web gateways (`cgi`,
//! `reverseproxy`, `wsgi`), and the Python each `wsgi` service runs with.

use std::path::{Path, PathBuf};

use super::{Key, Loader, Obj};
use crate::config::path::child;
use crate::config::web::{
    DEFAULT_CGI_CHUNKED_BUFFER, DEFAULT_CGI_MAX_HEAD, DEFAULT_CGI_TIMEOUT_MS,
    DEFAULT_PROXY_CONNECT_TIMEOUT_MS, DEFAULT_PROXY_POOL_IDLE_MS, DEFAULT_PROXY_POOL_SIZE,
    DEFAULT_PROXY_TIMEOUT_MS, DEFAULT_WSGI_START_TIMEOUT_MS, WebPaths, WebService,
};
use crate::config::{Config, TransportKind};

/// A `reverseproxy` service's `junction` options.
pub(super) struct ProxyJunction {
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub pool_size: usize,
    pub pool_idle_ms: u64,
}

impl Loader<'_> {
    /// A timeout in milliseconds under `junction` (1 ms to 24 h), or `default`.
    fn junction_ms(&mut self, path: &str, o: &Obj, key: &str, default: u64) -> Option<u64> {
        match o.get(key) {
            None => Some(default),
            Some(v) => self.uint(&child(path, key), v, 1, 86_400_000),
        }
    }

    /// A `cgi` service's `junction` object: `timeout`, `max_head_size`,
    /// `chunked_buffer`.
    pub(super) fn cgi_junction(&mut self, path: &str, obj: &Obj) -> Option<(u64, usize, usize)> {
        let Some(v) = obj.get("junction") else {
            return Some((
                DEFAULT_CGI_TIMEOUT_MS,
                DEFAULT_CGI_MAX_HEAD,
                DEFAULT_CGI_CHUNKED_BUFFER,
            ));
        };
        let jp = child(path, "junction");
        let o = self.object(&jp, v)?;
        self.keys(
            &jp,
            o,
            &[
                ("timeout", Key::Read),
                ("max_head_size", Key::Read),
                ("chunked_buffer", Key::Read),
            ],
        );
        let timeout = self.junction_ms(&jp, o, "timeout", DEFAULT_CGI_TIMEOUT_MS);
        let head = match o.get("max_head_size") {
            None => Some(DEFAULT_CGI_MAX_HEAD),
            Some(v) => self.size(&child(&jp, "max_head_size"), v, 256, 1 << 20),
        };
        let chunked = match o.get("chunked_buffer") {
            None => Some(DEFAULT_CGI_CHUNKED_BUFFER),
            Some(v) => self.size(&child(&jp, "chunked_buffer"), v, 0, 16 << 20),
        };
        Some((timeout?, head?, chunked?))
    }

    /// A `reverseproxy` service's `junction` object: `connect_timeout`,
    /// `timeout`, `pool_size`, `pool_idle_timeout`.
    pub(super) fn proxy_junction(&mut self, path: &str, obj: &Obj) -> Option<ProxyJunction> {
        let Some(v) = obj.get("junction") else {
            return Some(ProxyJunction {
                connect_timeout_ms: DEFAULT_PROXY_CONNECT_TIMEOUT_MS,
                timeout_ms: DEFAULT_PROXY_TIMEOUT_MS,
                pool_size: DEFAULT_PROXY_POOL_SIZE,
                pool_idle_ms: DEFAULT_PROXY_POOL_IDLE_MS,
            });
        };
        let jp = child(path, "junction");
        let o = self.object(&jp, v)?;
        self.keys(
            &jp,
            o,
            &[
                ("connect_timeout", Key::Read),
                ("timeout", Key::Read),
                ("pool_size", Key::Read),
                ("pool_idle_timeout", Key::Read),
            ],
        );
        let connect = self.junction_ms(&jp, o, "connect_timeout", DEFAULT_PROXY_CONNECT_TIMEOUT_MS);
        let timeout = self.junction_ms(&jp, o, "timeout", DEFAULT_PROXY_TIMEOUT_MS);
        let pool_size = match o.get("pool_size") {
            None => Some(DEFAULT_PROXY_POOL_SIZE),
            Some(v) => self
                .uint(&child(&jp, "pool_size"), v, 0, 1024)
                .map(|n| n as usize),
        };
        let pool_idle = self.junction_ms(&jp, o, "pool_idle_timeout", DEFAULT_PROXY_POOL_IDLE_MS);
        Some(ProxyJunction {
            connect_timeout_ms: connect?,
            timeout_ms: timeout?,
            pool_size: pool_size?,
            pool_idle_ms: pool_idle?,
        })
    }

    /// A `wsgi` service's `junction` object: `python`, `start_timeout`, `timeout`.
    pub(super) fn wsgi_junction(
        &mut self,
        path: &str,
        obj: &Obj,
    ) -> Option<(Option<PathBuf>, u64, u64)> {
        let Some(v) = obj.get("junction") else {
            return Some((
                None,
                DEFAULT_WSGI_START_TIMEOUT_MS,
                DEFAULT_PROXY_TIMEOUT_MS,
            ));
        };
        let jp = child(path, "junction");
        let o = self.object(&jp, v)?;
        self.keys(
            &jp,
            o,
            &[
                ("python", Key::Read),
                ("start_timeout", Key::Read),
                ("timeout", Key::Read),
            ],
        );
        let python = match o.get("python") {
            None => Ok(None),
            Some(v) => self
                .nonempty(&child(&jp, "python"), v)
                .map(|s| Some(PathBuf::from(s.as_ref())))
                .ok_or(()),
        };
        let start = self.junction_ms(&jp, o, "start_timeout", DEFAULT_WSGI_START_TIMEOUT_MS);
        let timeout = self.junction_ms(&jp, o, "timeout", DEFAULT_PROXY_TIMEOUT_MS);
        Some((python.ok()?, start?, timeout?))
    }
}

/// Gives every `wsgi` service the router's Python: its `junction.python`,
/// else `options.python`, else `python3`, and `options.pythonpath` (so that
/// a reloaded config names the same application as the running one).
pub(super) fn fill_wsgi_python(config: &mut Config) {
    fn fill(paths: &mut WebPaths, python: &Path, pythonpath: &[PathBuf]) {
        for service in paths.values_mut() {
            match service {
                WebService::Path(nested) => fill(nested, python, pythonpath),
                WebService::Wsgi(w) => {
                    if w.python.is_none() {
                        w.python = Some(python.to_owned());
                    }
                    w.pythonpath = pythonpath.to_vec();
                }
                _ => {}
            }
        }
    }
    let python = config
        .python
        .executable
        .clone()
        .unwrap_or_else(|| PathBuf::from("python3"));
    let pythonpath = config.python.path.clone();
    for t in &mut config.transports {
        match &mut t.kind {
            TransportKind::Web(w) => fill(&mut w.paths, &python, &pythonpath),
            TransportKind::Universal(u) => {
                if let Some(w) = &mut u.web {
                    fill(&mut w.paths, &python, &pythonpath);
                }
            }
            _ => {}
        }
    }
}

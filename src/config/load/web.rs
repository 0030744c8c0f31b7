//! The `web` transport: its HTTP `options` and every path service type,
//! nested paths included.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use super::realm::is_realm_name;
use super::transport::{DEBUG, Within};
use super::{Key, Loader, Obj};
use crate::config::Limits;
use crate::config::path::{child, index};
use crate::config::web::{
    BridgeService, BridgeSigning, CgiService, DEFAULT_STATIC_CACHE_TIMEOUT_S,
    DEFAULT_TIMESTAMP_DELTA_LIMIT_S, ForwardedProto, HttpLimits, IpNetwork, JsonService,
    LongPollService, RedirectService, ReverseProxyService, StaticFileOptions, StaticService,
    StaticSource, UploadService, WebOptions, WebPaths, WebService, WebTransport, WsgiService,
    mask32, mask128,
};
use crate::proto::http::MAX_HEADERS_CAP;

/// Crossbar's upper bound for `post_body_limit`: 1 MiB.
const MAX_POST_BODY_LIMIT: u64 = 1 << 20;

/// Form fields an `upload` service must name (Crossbar's checker).
const UPLOAD_FIELDS: [&str; 7] = [
    "file_name",
    "mime_type",
    "total_size",
    "chunk_number",
    "chunk_size",
    "total_chunks",
    "content",
];

/// Form fields an `upload` service may name.
const UPLOAD_OPTIONAL_FIELDS: [&str; 4] = ["on_progress", "session", "chunk_extra", "finish_extra"];

/// Crossbar's rule for web path keys: `/` or `[A-Za-z0-9_-]+`.
pub(super) fn is_web_path(name: &str) -> bool {
    name == "/"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
}

/// The HTTP path of key `name` under `prefix` (`""` at the top, `/a` inside path `a`).
fn http_path(prefix: &str, name: &str) -> String {
    match (prefix, name) {
        ("", "/") => "/".to_owned(),
        (p, "/") => p.to_owned(),
        (p, n) => format!("{p}/{n}"),
    }
}

/// Parses a `require_ip` entry: `addr`, `addr/prefix` or (IPv4) `addr/netmask`.
/// Host bits must be zero, as Python's `ip_network` demands.
fn parse_network(s: &str) -> Result<IpNetwork, String> {
    let (addr_text, prefix_text) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr_text
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not an IP address or network"))?;
    let bits: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => bits,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= bits => n,
            Ok(_) => return Err(format!("\"{s}\": prefix longer than {bits} bits")),
            Err(_) => match (addr, p.parse::<std::net::Ipv4Addr>()) {
                (IpAddr::V4(_), Ok(mask)) => {
                    let m = u32::from(mask);
                    if m.leading_ones() + m.trailing_zeros() != 32 {
                        return Err(format!("\"{s}\": {p} is not a netmask"));
                    }
                    u8::try_from(m.leading_ones()).map_err(|_| format!("\"{s}\": bad netmask"))?
                }
                _ => return Err(format!("\"{s}\": \"{p}\" is not a prefix length")),
            },
        },
    };
    let host_bits_zero = match addr {
        IpAddr::V4(a) => u32::from(a) & !mask32(prefix) == 0,
        IpAddr::V6(a) => u128::from(a) & !mask128(prefix) == 0,
    };
    if !host_bits_zero {
        return Err(format!("\"{s}\" has host bits set"));
    }
    Ok(IpNetwork { addr, prefix })
}

impl Loader<'_> {
    /// A `web` transport, or the `web` entry of a universal transport.
    pub(super) fn web_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
        within: Within,
    ) -> Option<WebTransport> {
        let mut table = vec![
            ("paths", Key::Read),
            ("options", Key::Read),
            ("junction", Key::Read),
        ];
        if within == Within::Transport {
            table.extend([
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
            ]);
        }
        self.keys(path, obj, &table);
        let options = match obj.get("options") {
            Some(v) => self.web_options(&child(path, "options"), v),
            None => Some(WebOptions::default()),
        };
        let paths = self.required(path, obj, "paths", |l, p, v| {
            let map = l.object(p, v)?;
            if map.is_empty() {
                l.error(p, "no path; a web transport needs at least one");
                return None;
            }
            l.web_paths(p, map, "", limits)
        });
        let mut http = match obj.get("junction") {
            Some(v) => self.http_limits(&child(path, "junction"), v)?,
            None => HttpLimits::default(),
        };
        let options = options?;
        if let Some(s) = options.client_timeout_s {
            http.idle_timeout_ms = s * 1000;
        }
        Some(WebTransport {
            paths: paths?,
            options,
            http,
        })
    }

    /// A web transport's `junction` object: the HTTP server's limits.
    fn http_limits(&mut self, path: &str, v: &Value) -> Option<HttpLimits> {
        let obj = self.object(path, v)?;
        let sizes: [(&str, u64, u64); 4] = [
            ("max_head_size", 1024, 1 << 20),
            ("max_target_size", 256, 1 << 20),
            ("max_header_fields", 1, MAX_HEADERS_CAP as u64),
            ("max_body_size", 0, 1 << 30),
        ];
        let times = [
            "head_timeout",
            "body_timeout",
            "idle_timeout",
            "send_timeout",
        ];
        let mut table: Vec<(&str, Key)> = sizes.iter().map(|(k, ..)| (*k, Key::Read)).collect();
        table.extend(times.iter().map(|k| (*k, Key::Read)));
        self.keys(path, obj, &table);
        let mut l = HttpLimits::default();
        let mut ok = true;
        for (key, min, max) in sizes {
            let Some(v) = obj.get(key) else { continue };
            let Some(n) = self.uint(&child(path, key), v, min, max) else {
                ok = false;
                continue;
            };
            let n_usize = usize::try_from(n).unwrap_or(usize::MAX);
            match key {
                "max_head_size" => l.max_head_bytes = n_usize,
                "max_target_size" => l.max_target_bytes = n_usize,
                "max_header_fields" => l.max_headers = n_usize,
                _ => l.max_body_bytes = n,
            }
        }
        for key in times {
            let Some(v) = obj.get(key) else { continue };
            // 0 turns a timeout off, as elsewhere; the head timeout may not be off.
            let min = u64::from(key == "head_timeout");
            let Some(ms) = self.uint(&child(path, key), v, min, 86_400_000) else {
                ok = false;
                continue;
            };
            match key {
                "head_timeout" => l.head_timeout_ms = ms,
                "body_timeout" => l.body_timeout_ms = ms,
                "idle_timeout" => l.idle_timeout_ms = ms,
                _ => l.send_timeout_ms = ms,
            }
        }
        if l.max_target_bytes > l.max_head_bytes {
            self.error(
                &child(path, "max_target_size"),
                format!(
                    "{} is above max_head_size ({})",
                    l.max_target_bytes, l.max_head_bytes
                ),
            );
            ok = false;
        }
        ok.then_some(l)
    }

    fn web_options(&mut self, path: &str, v: &Value) -> Option<WebOptions> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("access_log", Key::Read),
                ("hsts", Key::Read),
                ("hsts_max_age", Key::Read),
                ("client_timeout", Key::Read),
                (
                    "display_tracebacks",
                    Key::Warn("ignored: Python tracebacks (Crossbar's runtime) do not exist here"),
                ),
            ],
        );
        let mut o = WebOptions::default();
        if let Some(b) = self.opt_bool(path, obj, "access_log") {
            o.access_log = b;
        }
        if let Some(b) = self.opt_bool(path, obj, "hsts") {
            o.hsts = b;
        }
        if let Some(v) = obj.get("hsts_max_age") {
            o.hsts_max_age_s =
                self.uint(&child(path, "hsts_max_age"), v, 0, u64::from(u32::MAX))?;
        }
        match obj.get("client_timeout") {
            None | Some(Value::Null) => {}
            Some(v) => {
                o.client_timeout_s =
                    Some(self.uint(&child(path, "client_timeout"), v, 1, 86_400)?)
            }
        }
        Some(o)
    }

    /// A `paths` map; `prefix` is the HTTP path of the level (`""` at the top).
    fn web_paths(
        &mut self,
        path: &str,
        map: &Obj,
        prefix: &str,
        limits: &Limits,
    ) -> Option<WebPaths> {
        let mut out = WebPaths::new();
        let mut ok = true;
        for (name, svc) in map {
            let sp = child(path, name);
            if !is_web_path(name) {
                self.error(
                    &sp,
                    format!("invalid path \"{name}\" (\"/\" or letters, digits, _ and -)"),
                );
                ok = false;
                continue;
            }
            match self.web_service(&sp, svc, &http_path(prefix, name), limits) {
                Some(s) => {
                    out.insert(name.clone(), s);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One path's service; `http` is its HTTP path.
    fn web_service(
        &mut self,
        path: &str,
        v: &Value,
        http: &str,
        limits: &Limits,
    ) -> Option<WebService> {
        let obj = self.object(path, v)?;
        let stype = self.required_str(path, obj, "type")?;
        if let Some(v) = obj.get("id") {
            let p = child(path, "id");
            if let Some(id) = self.string(&p, v) {
                self.check_id(&p, &id);
            }
        }
        let keys = |l: &mut Self, extra: &[(&str, Key)]| {
            let mut table = vec![("id", Key::Ignore), ("type", Key::Read)];
            table.extend_from_slice(extra);
            l.keys(path, obj, &table);
        };
        match &*stype {
            "websocket" => self
                .websocket_service(path, obj, limits, Some(http.to_owned()), Within::Listener)
                .map(WebService::WebSocket),
            "static" => {
                keys(
                    self,
                    &[
                        ("directory", Key::Read),
                        ("package", Key::Read),
                        ("resource", Key::Read),
                        ("options", Key::Read),
                        ("junction", Key::Read),
                    ],
                );
                self.static_service(path, obj).map(WebService::Static)
            }
            "redirect" => {
                keys(self, &[("url", Key::Read)]);
                let url = self.required(path, obj, "url", Self::nonempty)?;
                Some(WebService::Redirect(RedirectService {
                    url: url.into_owned(),
                }))
            }
            "json" => {
                keys(self, &[("value", Key::Read), ("options", Key::Read)]);
                self.json_service(path, obj).map(WebService::Json)
            }
            "path" => {
                keys(self, &[("paths", Key::Read)]);
                self.required(path, obj, "paths", |l, p, v| {
                    let map = l.object(p, v)?;
                    l.web_paths(p, map, http.trim_end_matches('/'), limits)
                })
                .map(WebService::Path)
            }
            "nodeinfo" => {
                keys(self, &[]);
                Some(WebService::NodeInfo)
            }
            "none" => {
                keys(self, &[]);
                Some(WebService::NotFound)
            }
            "metrics" => {
                keys(self, &[]);
                Some(WebService::Metrics)
            }
            "cgi" => {
                keys(
                    self,
                    &[
                        ("directory", Key::Read),
                        ("processor", Key::Read),
                        ("junction", Key::Read),
                    ],
                );
                let directory = self.required(path, obj, "directory", Self::node_path);
                let processor = self.required(path, obj, "processor", Self::nonempty);
                let (timeout_ms, max_head_bytes, chunked_buffer) = self.cgi_junction(path, obj)?;
                Some(WebService::Cgi(CgiService {
                    directory: directory?,
                    processor: processor?.into_owned(),
                    timeout_ms,
                    max_head_bytes,
                    chunked_buffer,
                }))
            }
            "reverseproxy" => {
                keys(
                    self,
                    &[
                        ("host", Key::Read),
                        ("port", Key::Read),
                        ("path", Key::Read),
                        ("forwarded_port", Key::Read),
                        ("forwarded_proto", Key::Read),
                        ("junction", Key::Read),
                    ],
                );
                self.reverse_proxy(path, obj).map(WebService::ReverseProxy)
            }
            "wsgi" => {
                const THREADS: Key =
                    Key::Warn("ignored: the size of Crossbar's Python thread pool");
                keys(
                    self,
                    &[
                        ("module", Key::Read),
                        ("object", Key::Read),
                        ("minthreads", THREADS),
                        ("maxthreads", THREADS),
                        ("junction", Key::Read),
                    ],
                );
                let module = self.required(path, obj, "module", Self::nonempty);
                let object = self.required(path, obj, "object", Self::nonempty);
                let (python, start_timeout_ms, timeout_ms) = self.wsgi_junction(path, obj)?;
                Some(WebService::Wsgi(WsgiService {
                    module: module?.into_owned(),
                    object: object?.into_owned(),
                    python,
                    pythonpath: Vec::new(),
                    start_timeout_ms,
                    timeout_ms,
                }))
            }
            "longpoll" => {
                keys(self, &[("options", Key::Read)]);
                self.long_poll(path, obj, limits).map(WebService::LongPoll)
            }
            "publisher" | "caller" => {
                keys(
                    self,
                    &[
                        ("realm", Key::Read),
                        ("role", Key::Read),
                        ("options", Key::Read),
                    ],
                );
                let svc = self.bridge(path, obj, limits)?;
                Some(if &*stype == "publisher" {
                    WebService::Publisher(svc)
                } else {
                    WebService::Caller(svc)
                })
            }
            "webhook" => {
                keys(
                    self,
                    &[
                        ("realm", Key::Read),
                        ("role", Key::Read),
                        ("options", Key::Read),
                    ],
                );
                self.webhook(path, obj, limits)
            }
            "upload" => {
                keys(
                    self,
                    &[
                        ("realm", Key::Read),
                        ("role", Key::Read),
                        ("directory", Key::Read),
                        ("temp_directory", Key::Read),
                        ("form_fields", Key::Read),
                        ("options", Key::Read),
                    ],
                );
                self.upload(path, obj).map(WebService::Upload)
            }
            "resource" => {
                // A Python Twisted resource class: Junction hosts no Python
                // code in the router. The path answers 404 (as `none`), so
                // its requests do not fall through to the level's `/`.
                keys(self, &[("classname", Key::Read), ("extra", Key::Read)]);
                let classname = self.required(path, obj, "classname", Self::nonempty)?;
                self.warn(
                    &child(path, "type"),
                    &format!(
                        "served as 404 (as a `none` path): the Python Twisted resource \
                         \"{classname}\" needs Crossbar's Python router"
                    ),
                );
                Some(WebService::NotFound)
            }
            "mqtt" => self
                .mqtt_service(path, obj, limits, Within::Listener)
                .map(WebService::Mqtt),
            "archive" => {
                keys(
                    self,
                    &[
                        ("archive", Key::Read),
                        ("origin", Key::Read),
                        ("download", Key::Read),
                        ("cache", Key::Read),
                        ("hashes", Key::Read),
                        ("object_prefix", Key::Read),
                        ("default_object", Key::Read),
                        ("mime_types", Key::Read),
                        ("options", Key::Read),
                        ("junction", Key::Read),
                    ],
                );
                self.archive_service(path, obj).map(WebService::Archive)
            }
            "wap" => self.wap_service(path, obj).map(WebService::Wap),
            "websocket-reverseproxy" | "catalog" | "pairme" => {
                self.unsupported(
                    &child(path, "type"),
                    &format!("web service type \"{stype}\""),
                );
                None
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("unknown web service type \"{other}\""),
                );
                None
            }
        }
    }

    /// A realm and role of an HTTP bridge service (both required).
    fn realm_and_role(&mut self, path: &str, obj: &Obj) -> Option<(String, String)> {
        let realm = self.required(path, obj, "realm", |l, p, v| {
            let r = l.string(p, v)?;
            if !is_realm_name(&r) {
                l.error(p, format!("invalid realm name \"{r}\""));
                return None;
            }
            Some(r.into_owned())
        });
        let role = self.required(path, obj, "role", Self::nonempty);
        Some((realm?, role?.into_owned()))
    }

    fn static_service(&mut self, path: &str, obj: &Obj) -> Option<StaticService> {
        let source = match (
            obj.get("directory"),
            obj.get("package"),
            obj.get("resource"),
        ) {
            (Some(d), None, None) => {
                StaticSource::Directory(self.node_path(&child(path, "directory"), d)?)
            }
            (None, Some(p), Some(r)) => {
                let package = self.nonempty(&child(path, "package"), p);
                let resource = self.nonempty(&child(path, "resource"), r);
                StaticSource::Package {
                    package: package?.into_owned(),
                    resource: resource?.into_owned(),
                }
            }
            _ => {
                self.error(path, "give either `directory`, or `package` and `resource`");
                return None;
            }
        };
        let mut s = StaticService {
            source,
            enable_directory_listing: false,
            mime_types: BTreeMap::new(),
            cache_timeout_s: Some(DEFAULT_STATIC_CACHE_TIMEOUT_S),
            default_file: None,
            allow_cross_origin: true,
            files: StaticFileOptions::default(),
        };
        if let Some(v) = obj.get("junction") {
            s.files = self.static_files(&child(path, "junction"), v)?;
        }
        let Some(v) = obj.get("options") else {
            return Some(s);
        };
        let op = child(path, "options");
        let o = self.object(&op, v)?;
        self.keys(
            &op,
            o,
            &[
                ("enable_directory_listing", Key::Read),
                ("mime_types", Key::Read),
                ("cache_timeout", Key::Read),
                ("default_file", Key::Read),
                ("allow_cross_origin", Key::Read),
            ],
        );
        if let Some(b) = self.opt_bool(&op, o, "enable_directory_listing") {
            s.enable_directory_listing = b;
        }
        if let Some(b) = self.opt_bool(&op, o, "allow_cross_origin") {
            s.allow_cross_origin = b;
        }
        match o.get("cache_timeout") {
            None => {}
            Some(Value::Null) => s.cache_timeout_s = None,
            Some(v) => {
                s.cache_timeout_s =
                    Some(self.uint(&child(&op, "cache_timeout"), v, 0, u64::from(u32::MAX))?);
            }
        }
        if let Some(v) = o.get("default_file") {
            s.default_file = Some(self.nonempty(&child(&op, "default_file"), v)?.into_owned());
        }
        if let Some(v) = o.get("mime_types") {
            s.mime_types = self.mime_map(&child(&op, "mime_types"), v)?;
        }
        Some(s)
    }

    /// A static service's `junction` object: symlinks and the file cache.
    fn static_files(&mut self, path: &str, v: &Value) -> Option<StaticFileOptions> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("follow_symlinks_outside", Key::Read),
                ("cache_bytes", Key::Read),
                ("cache_max_file", Key::Read),
                ("cache_valid", Key::Read),
            ],
        );
        let mut f = StaticFileOptions::default();
        if let Some(b) = self.opt_bool(path, obj, "follow_symlinks_outside") {
            f.follow_symlinks_outside = b;
        }
        if let Some(v) = obj.get("cache_bytes") {
            f.cache_bytes = self.size(&child(path, "cache_bytes"), v, 0, 1 << 40)?;
        }
        if let Some(v) = obj.get("cache_max_file") {
            f.cache_max_file = self.size(&child(path, "cache_max_file"), v, 0, 1 << 30)?;
        }
        if let Some(v) = obj.get("cache_valid") {
            f.cache_valid_ms = self.uint(&child(path, "cache_valid"), v, 0, 86_400_000)?;
        }
        Some(f)
    }

    fn json_service(&mut self, path: &str, obj: &Obj) -> Option<JsonService> {
        let Some(value) = obj.get("value") else {
            self.error(&child(path, "value"), "missing (required)");
            return None;
        };
        let mut s = JsonService {
            value: value.clone(),
            prettify: false,
            allow_cross_origin: true,
            discourage_caching: false,
        };
        if let Some(v) = obj.get("options") {
            let op = child(path, "options");
            let o = self.object(&op, v)?;
            self.keys(
                &op,
                o,
                &[
                    ("prettify", Key::Read),
                    ("allow_cross_origin", Key::Read),
                    ("discourage_caching", Key::Read),
                ],
            );
            s.prettify = self.opt_bool(&op, o, "prettify").unwrap_or(false);
            s.allow_cross_origin = self.opt_bool(&op, o, "allow_cross_origin").unwrap_or(true);
            s.discourage_caching = self.opt_bool(&op, o, "discourage_caching").unwrap_or(false);
        }
        Some(s)
    }

    fn reverse_proxy(&mut self, path: &str, obj: &Obj) -> Option<ReverseProxyService> {
        let host = self.required(path, obj, "host", Self::nonempty);
        let port = |l: &mut Self, key: &str| -> Option<u16> {
            match obj.get(key) {
                None => Some(80),
                Some(v) => l
                    .uint(&child(path, key), v, 1, 65535)
                    .and_then(|p| u16::try_from(p).ok()),
            }
        };
        let backend_port = port(self, "port");
        let forwarded_port = port(self, "forwarded_port");
        let prefix = self.opt_str(path, obj, "path").unwrap_or_default();
        let proto = match obj.get("forwarded_proto") {
            None => Some(ForwardedProto::Http),
            Some(v) => {
                let p = child(path, "forwarded_proto");
                match self.string(&p, v)?.as_ref() {
                    "http" => Some(ForwardedProto::Http),
                    "https" => Some(ForwardedProto::Https),
                    other => {
                        self.error(&p, format!("\"{other}\" is not \"http\" or \"https\""));
                        None
                    }
                }
            }
        };
        let j = self.proxy_junction(path, obj)?;
        Some(ReverseProxyService {
            host: host?.into_owned(),
            port: backend_port?,
            path: prefix,
            forwarded_port: forwarded_port?,
            forwarded_proto: proto?,
            connect_timeout_ms: j.connect_timeout_ms,
            timeout_ms: j.timeout_ms,
            pool_size: j.pool_size,
            pool_idle_ms: j.pool_idle_ms,
        })
    }

    fn long_poll(&mut self, path: &str, obj: &Obj, limits: &Limits) -> Option<LongPollService> {
        let mut s = LongPollService::default();
        let Some(v) = obj.get("options") else {
            return Some(s);
        };
        let op = child(path, "options");
        let o = self.object(&op, v)?;
        self.keys(
            &op,
            o,
            &[
                ("debug", DEBUG),
                (
                    "debug_transport_id",
                    Key::Warn(
                        "ignored: every transport gets its own ID (its first four hex digits \
                         name the shard that holds it); use the `transport` that `open` answers",
                    ),
                ),
                ("request_timeout", Key::Read),
                ("session_timeout", Key::Read),
                ("queue_limit_bytes", Key::Read),
                ("queue_limit_messages", Key::Read),
            ],
        );
        let max_bytes = limits.outbound_queue_bytes as u64;
        if let Some(v) = o.get("request_timeout") {
            s.request_timeout_s = self.uint(&child(&op, "request_timeout"), v, 1, 3600)?;
        }
        if let Some(v) = o.get("session_timeout") {
            let p = child(&op, "session_timeout");
            s.session_timeout_s = self.uint(&p, v, 0, 86_400)?;
            if s.session_timeout_s == 0 {
                // Crossbar's meaning (crossbar-examples longpoll_curl).
                self.warn(
                    &p,
                    "0: an idle session is never closed, as in Crossbar; a client that goes \
                     away without `close` keeps its session until the router stops",
                );
            }
        }
        if let Some(v) = o.get("queue_limit_bytes") {
            s.queue_limit_bytes = self.size(&child(&op, "queue_limit_bytes"), v, 1, max_bytes)?;
        }
        if let Some(v) = o.get("queue_limit_messages") {
            s.queue_limit_messages =
                self.size(&child(&op, "queue_limit_messages"), v, 1, 1_000_000)?;
        }
        Some(s)
    }

    /// `post_body_limit`: Crossbar's 0 – 1 MiB, 0 meaning no limit, which
    /// Junction bounds by `junction.max_message_size`.
    fn post_body_limit(&mut self, path: &str, o: &Obj, limits: &Limits) -> Option<usize> {
        match o.get("post_body_limit") {
            None => Some(limits.max_message_size),
            Some(v) => {
                match self.size(&child(path, "post_body_limit"), v, 0, MAX_POST_BODY_LIMIT)? {
                    0 => Some(limits.max_message_size),
                    n => Some(n),
                }
            }
        }
    }

    fn bridge(&mut self, path: &str, obj: &Obj, limits: &Limits) -> Option<BridgeService> {
        let rr = self.realm_and_role(path, obj);
        let mut s = BridgeService {
            realm: String::new(),
            role: String::new(),
            signing: None,
            require_tls: false,
            require_ip: Vec::new(),
            post_body_limit: limits.max_message_size,
            timestamp_delta_limit_s: DEFAULT_TIMESTAMP_DELTA_LIMIT_S,
        };
        if let Some(v) = obj.get("options") {
            let op = child(path, "options");
            let o = self.object(&op, v)?;
            self.keys(
                &op,
                o,
                &[
                    ("debug", DEBUG),
                    ("key", Key::Read),
                    ("secret", Key::Read),
                    ("require_tls", Key::Read),
                    ("require_ip", Key::Read),
                    ("post_body_limit", Key::Read),
                    ("timestamp_delta_limit", Key::Read),
                ],
            );
            let key = self.optional(&op, o, "key", Self::nonempty);
            let secret = self.optional(&op, o, "secret", Self::secret);
            s.signing = match (key.ok()?, secret.ok()?) {
                (Some(key), Some(secret)) => Some(BridgeSigning {
                    key: key.into_owned(),
                    secret,
                }),
                (None, None) => None,
                _ => {
                    self.error(
                        &op,
                        "give `key` and `secret` together (signed requests) or neither",
                    );
                    return None;
                }
            };
            s.require_tls = self.opt_bool(&op, o, "require_tls").unwrap_or(false);
            if let Some(v) = o.get("require_ip") {
                let ip = child(&op, "require_ip");
                for (i, entry) in self.strings(&ip, v)?.iter().enumerate() {
                    match parse_network(entry) {
                        Ok(n) => s.require_ip.push(n),
                        Err(why) => {
                            self.error(&index(&ip, i), why);
                            return None;
                        }
                    }
                }
            }
            s.post_body_limit = self.post_body_limit(&op, o, limits)?;
            if let Some(v) = o.get("timestamp_delta_limit") {
                s.timestamp_delta_limit_s =
                    self.uint(&child(&op, "timestamp_delta_limit"), v, 0, 86_400)?;
            }
        }
        (s.realm, s.role) = rr?;
        Some(s)
    }

    fn webhook(&mut self, path: &str, obj: &Obj, limits: &Limits) -> Option<WebService> {
        let rr = self.realm_and_role(path, obj);
        let o = self.required(path, obj, "options", |l, p, v| l.object(p, v))?;
        let op = child(path, "options");
        self.keys(
            &op,
            o,
            &[
                ("debug", DEBUG),
                ("post_body_limit", Key::Read),
                ("topic", Key::Read),
                ("success_response", Key::Read),
                ("error_response", Key::Read),
                ("github_secret", Key::Read),
            ],
        );
        // Crossbar's checker lets `topic` out, then fails every request.
        let topic = self.required(&op, o, "topic", Self::uri);
        let github_secret = self.optional(&op, o, "github_secret", Self::secret);
        let limit = self.post_body_limit(&op, o, limits);
        let (realm, role) = rr?;
        Some(WebService::Webhook(crate::config::web::WebhookService {
            realm,
            role,
            topic: topic?,
            success_response: self
                .opt_str(&op, o, "success_response")
                .unwrap_or_else(|| "OK".to_owned()),
            error_response: self
                .opt_str(&op, o, "error_response")
                .unwrap_or_else(|| "NOT OK".to_owned()),
            github_secret: github_secret.ok()?,
            post_body_limit: limit?,
        }))
    }

    fn upload(&mut self, path: &str, obj: &Obj) -> Option<UploadService> {
        let rr = self.realm_and_role(path, obj);
        let directory = self.required(path, obj, "directory", Self::node_path);
        let temp = self.optional(path, obj, "temp_directory", Self::node_path);
        let fields = self.required(path, obj, "form_fields", |l, p, v| {
            let map = l.object(p, v)?;
            let mut table: Vec<(&str, Key)> =
                UPLOAD_FIELDS.iter().map(|k| (*k, Key::Read)).collect();
            table.extend(UPLOAD_OPTIONAL_FIELDS.iter().map(|k| (*k, Key::Read)));
            l.keys(p, map, &table);
            let mut out = BTreeMap::new();
            let mut ok = true;
            for key in UPLOAD_FIELDS {
                match l.required(p, map, key, Self::nonempty) {
                    Some(v) => {
                        out.insert(key.to_owned(), v.into_owned());
                    }
                    None => ok = false,
                }
            }
            for key in UPLOAD_OPTIONAL_FIELDS {
                if let Some(v) = l.opt_str(p, map, key) {
                    out.insert(key.to_owned(), v);
                }
            }
            ok.then_some(out)
        });
        let mut s = UploadService {
            realm: String::new(),
            role: String::new(),
            directory: directory?,
            temp_directory: temp.ok()?,
            form_fields: fields?,
            max_file_size: None,
            file_types: Vec::new(),
            file_permissions: None,
        };
        if let Some(v) = obj.get("options") {
            let op = child(path, "options");
            let o = self.object(&op, v)?;
            self.keys(
                &op,
                o,
                &[
                    ("max_file_size", Key::Read),
                    ("file_types", Key::Read),
                    ("file_permissions", Key::Read),
                ],
            );
            if let Some(v) = o.get("max_file_size") {
                s.max_file_size = Some(self.uint(&child(&op, "max_file_size"), v, 0, u64::MAX)?);
            }
            if let Some(v) = o.get("file_types") {
                s.file_types = self.strings(&child(&op, "file_types"), v)?;
            }
            s.file_permissions = self.opt_str(&op, o, "file_permissions");
        }
        (s.realm, s.role) = rr?;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_paths_follow_crossbar() {
        assert!(is_web_path("/"));
        assert!(is_web_path("ws"));
        assert!(is_web_path("my-ws_2"));
        assert!(!is_web_path(""));
        assert!(!is_web_path("/ws"));
        assert!(!is_web_path("a/b"));
    }

    #[test]
    fn http_paths_of_nested_keys() {
        assert_eq!(http_path("", "/"), "/");
        assert_eq!(http_path("", "ws"), "/ws");
        assert_eq!(http_path("/a", "/"), "/a");
        assert_eq!(http_path("/a", "b"), "/a/b");
    }

    proptest::proptest! {
        /// Any IPv4 network written as `net/prefix` parses back to itself,
        /// and `contains` agrees with comparing the leading `prefix` bits.
        #[test]
        fn ipv4_networks_round_trip_and_match_by_leading_bits(
            addr in proptest::prelude::any::<u32>(),
            probe in proptest::prelude::any::<u32>(),
            prefix in 0u8..=32,
        ) {
            let net = addr & mask32(prefix);
            let text = format!("{}/{prefix}", std::net::Ipv4Addr::from(net));
            let parsed = parse_network(&text).expect("a network with host bits zero");
            proptest::prop_assert_eq!(parsed, IpNetwork { addr: IpAddr::V4(net.into()), prefix });
            let same = u64::from(probe) >> (32 - u32::from(prefix)) == u64::from(net) >> (32 - u32::from(prefix));
            proptest::prop_assert_eq!(parsed.contains(IpAddr::V4(probe.into())), same);
            proptest::prop_assert!(parsed.contains(IpAddr::V4(addr.into())));
        }
    }

    #[test]
    fn networks_parse_like_pythons_ip_network() {
        let n = parse_network("10.0.0.0/8").expect("valid");
        assert_eq!((n.addr.to_string(), n.prefix), ("10.0.0.0".to_owned(), 8));
        let n = parse_network("192.168.1.0/255.255.255.0").expect("netmask form");
        assert_eq!(n.prefix, 24);
        assert_eq!(parse_network("127.0.0.1").expect("host").prefix, 32);
        assert_eq!(parse_network("fd00::/8").expect("v6").prefix, 8);
        assert!(parse_network("10.0.0.1/8").is_err(), "host bits set");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("10.0.0.0/255.0.255.0").is_err());
        assert!(parse_network("example.com").is_err());
    }
}

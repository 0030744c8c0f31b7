//! The `web` transport: HTTP services by path (Crossbar's `paths`), and the
//! transport's HTTP `options`. Every Crossbar path type is here, plus two
//! Junction extensions: `mqtt` (MQTT over WebSocket) and `metrics`
//! (Prometheus). Paths (`directory`, ...) are resolved against the node
//! directory, as Crossbar does.
//!
//! Only types live here; `load/web.rs` reads them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::auth::Secret;
use super::mqtt::MqttService;
use super::wamp::WebSocketService;

/// Services by path key: `/` is the root of the level, any other key
/// (`[A-Za-z0-9_-]+`) one path component below it.
pub type WebPaths = BTreeMap<String, WebService>;

/// A `web` transport (or the `web` part of a `universal` transport).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebTransport {
    /// `paths`.
    pub paths: WebPaths,
    /// `options`.
    pub options: WebOptions,
    /// The HTTP server's limits (Junction extension `"junction": {...}` on
    /// the transport).
    pub http: HttpLimits,
}

/// The HTTP server's limits on one web transport (Junction extension: the
/// transport's `junction` object). Every one is enforced; each says what a
/// client gets past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// `max_head_size`: longest request head (request line and header
    /// fields); longer is 431. Default 16 KiB.
    pub max_head_bytes: usize,
    /// `max_target_size`: longest request target; longer is 414. Default 8 KiB.
    pub max_target_bytes: usize,
    /// `max_header_fields`: most header fields in a request head; more is
    /// 431. Default 100.
    pub max_headers: usize,
    /// `max_body_size`: largest request body read (and discarded) by a
    /// service that takes none; larger is 413. Default 1 MiB.
    pub max_body_bytes: u64,
    /// `head_timeout` (ms): time from the first octet of a request head to
    /// its end; past it the client gets 408 and the connection closes.
    /// Default 10 000.
    pub head_timeout_ms: u64,
    /// `body_timeout` (ms): time a request body may go without an octet
    /// arriving; past it 408 and close. Default 30 000.
    pub body_timeout_ms: u64,
    /// `idle_timeout` (ms): a keep-alive connection with no request for this
    /// long is closed (0: never). Default 60 000; Crossbar's
    /// `options.client_timeout` (seconds), when given, sets it instead.
    pub idle_timeout_ms: u64,
    /// `send_timeout` (ms): a response that makes no progress for this long
    /// (the client does not read) is abandoned and the connection closed.
    /// Default 30 000.
    pub send_timeout_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_bytes: 16 * 1024,
            max_target_bytes: 8 * 1024,
            max_headers: 100,
            max_body_bytes: 1024 * 1024,
            head_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            send_timeout_ms: 30_000,
        }
    }
}

/// Default for [`WebOptions::hsts_max_age_s`]: one year (Crossbar's).
pub const DEFAULT_HSTS_MAX_AGE_S: u64 = 31_536_000;

/// HTTP options of a web transport (Crossbar's web transport `options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOptions {
    /// `access_log`: log one line per HTTP request (default false).
    pub access_log: bool,
    /// `hsts`: send `Strict-Transport-Security` on TLS (default false).
    pub hsts: bool,
    /// `hsts_max_age`: its `max-age` in seconds (default one year).
    pub hsts_max_age_s: u64,
    /// `client_timeout`: close an idle HTTP connection after this many
    /// seconds (1 – 86 400); `None`: no idle timeout (Crossbar's default).
    pub client_timeout_s: Option<u64>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            access_log: false,
            hsts: false,
            hsts_max_age_s: DEFAULT_HSTS_MAX_AGE_S,
            client_timeout_s: None,
        }
    }
}

/// One path's service (the `type` of a path).
#[derive(Debug, Clone, PartialEq)]
pub enum WebService {
    /// `static`: files from a directory.
    Static(StaticService),
    /// `archive`: files from a ZIP archive.
    Archive(ArchiveService),
    /// `websocket`: WAMP over WebSocket.
    WebSocket(WebSocketService),
    /// `redirect`: an HTTP redirect.
    Redirect(RedirectService),
    /// `json`: a fixed JSON document.
    Json(JsonService),
    /// `path`: nested services (`paths`).
    Path(WebPaths),
    /// `nodeinfo`: a page about the node.
    NodeInfo,
    /// `cgi`: CGI scripts.
    Cgi(CgiService),
    /// `reverseproxy`: forward requests to another HTTP server.
    ReverseProxy(ReverseProxyService),
    /// `wsgi`: a Python WSGI application.
    Wsgi(WsgiService),
    /// `longpoll`: WAMP over HTTP long-poll.
    LongPoll(LongPollService),
    /// `publisher`: HTTP bridge, POST → WAMP publish.
    Publisher(BridgeService),
    /// `caller`: HTTP bridge, POST → WAMP call.
    Caller(BridgeService),
    /// `webhook`: HTTP bridge, any POST → a WAMP event with its headers and body.
    Webhook(WebhookService),
    /// `upload`: Crossbar's file upload service (checked by Crossbar's
    /// checker but not served by Crossbar 26 either).
    Upload(UploadService),
    /// `none`: answers 404.
    NotFound,
    /// `mqtt` (Junction extension): MQTT over WebSocket (subprotocol `mqtt`).
    Mqtt(MqttService),
    /// `metrics` (Junction extension): Prometheus metrics.
    Metrics,
    /// `wap`: WAMP Application Pages, a WAMP call's result rendered by a template.
    Wap(WapService),
}

impl WebService {
    /// The path type as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            WebService::Static(_) => "static",
            WebService::Archive(_) => "archive",
            WebService::WebSocket(_) => "websocket",
            WebService::Redirect(_) => "redirect",
            WebService::Json(_) => "json",
            WebService::Path(_) => "path",
            WebService::NodeInfo => "nodeinfo",
            WebService::Cgi(_) => "cgi",
            WebService::ReverseProxy(_) => "reverseproxy",
            WebService::Wsgi(_) => "wsgi",
            WebService::LongPoll(_) => "longpoll",
            WebService::Publisher(_) => "publisher",
            WebService::Caller(_) => "caller",
            WebService::Webhook(_) => "webhook",
            WebService::Upload(_) => "upload",
            WebService::NotFound => "none",
            WebService::Mqtt(_) => "mqtt",
            WebService::Metrics => "metrics",
            WebService::Wap(_) => "wap",
        }
    }
}

/// Default [`StaticService::cache_timeout_s`]: 12 hours (Crossbar's).
pub const DEFAULT_STATIC_CACHE_TIMEOUT_S: u64 = 12 * 3600;

/// A `static` service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticService {
    /// Where the files are.
    pub source: StaticSource,
    /// `options.enable_directory_listing` (default false).
    pub enable_directory_listing: bool,
    /// `options.mime_types`: extension (with its dot, `.svg`) → MIME type,
    /// on top of the built-in table.
    pub mime_types: BTreeMap<String, String>,
    /// `options.cache_timeout` in seconds (default 12 h); `None` (`null`): no caching headers.
    pub cache_timeout_s: Option<u64>,
    /// `options.default_file`: served for paths that do not exist (single-page apps).
    pub default_file: Option<String>,
    /// `options.allow_cross_origin`: CORS header fields (default true, Crossbar's).
    pub allow_cross_origin: bool,
    /// How files are opened and cached (Junction extension `junction`).
    pub files: StaticFileOptions,
}

/// Default [`StaticFileOptions::cache_bytes`]: 16 MiB per shard and service.
pub const DEFAULT_STATIC_CACHE_BYTES: usize = 16 << 20;
/// Default [`StaticFileOptions::cache_max_file`]: 64 KiB.
pub const DEFAULT_STATIC_CACHE_MAX_FILE: usize = 64 << 10;
/// Default [`StaticFileOptions::cache_valid_ms`]: one second.
pub const DEFAULT_STATIC_CACHE_VALID_MS: u64 = 1000;

/// How a `static` service opens and caches files (Junction extension: the
/// service's `junction` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFileOptions {
    /// `follow_symlinks_outside`: serve a symbolic link whose target lies
    /// outside the directory (default false: such a link is answered 404;
    /// links that stay inside are always followed).
    pub follow_symlinks_outside: bool,
    /// `cache_bytes`: file contents kept in memory, per shard (0: no cache).
    pub cache_bytes: usize,
    /// `cache_max_file`: largest file whose content is cached; larger files
    /// are read from disk for each request, in pieces.
    pub cache_max_file: usize,
    /// `cache_valid` (ms): how long a cached file is served before it is
    /// looked at again on disk (a changed file shows after at most this).
    pub cache_valid_ms: u64,
}

impl Default for StaticFileOptions {
    fn default() -> Self {
        StaticFileOptions {
            follow_symlinks_outside: false,
            cache_bytes: DEFAULT_STATIC_CACHE_BYTES,
            cache_max_file: DEFAULT_STATIC_CACHE_MAX_FILE,
            cache_valid_ms: DEFAULT_STATIC_CACHE_VALID_MS,
        }
    }
}

/// The files of a `static` service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticSource {
    /// `directory`, resolved against the node directory.
    Directory(PathBuf),
    /// `package` + `resource`: a directory inside an installed Python package.
    Package {
        /// `package`: the Python package.
        package: String,
        /// `resource`: the directory in it.
        resource: String,
    },
}

/// A `wap` service: each route maps a request path (Werkzeug's rule syntax)
/// and method to a WAMP call, whose result a Jinja template renders.
#[derive(Debug, Clone, PartialEq)]
pub struct WapService {
    /// `templates`: where the templates are (a directory or a Python package).
    pub templates: StaticSource,
    /// The template files, by name (relative path), read when the node
    /// starts or reloads (`transport::http::resolve_packages`); empty before.
    pub sources: std::sync::Arc<BTreeMap<String, String>>,
    /// `routes`, in the order given (the first match wins).
    pub routes: Vec<WapRoute>,
    /// `wamp.realm`: where the calls are made.
    pub realm: String,
    /// `wamp.authrole`: the role they are made with.
    pub role: String,
}

/// Most template files a `wap` service reads, and their total size.
pub const WAP_MAX_TEMPLATES: usize = 1000;
/// See [`WAP_MAX_TEMPLATES`]: 16 MiB.
pub const WAP_MAX_TEMPLATE_BYTES: u64 = 16 << 20;

/// One route of a `wap` service.
#[derive(Debug, Clone, PartialEq)]
pub struct WapRoute {
    /// `path`, parsed: literal segments and variables.
    pub path: Vec<WapSegment>,
    /// `path` as written (for logs and errors).
    pub rule: String,
    /// `method`: `GET` (default) or `POST`.
    pub post: bool,
    /// `call`: the procedure; `None`: the template is rendered with an
    /// empty context.
    pub call: Option<String>,
    /// `render`: the template's name.
    pub render: String,
}

/// A segment of a `wap` route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WapSegment {
    /// Matched as it is.
    Literal(String),
    /// `<name>`, `<string:name>`: one segment; `<int:…>`, `<float:…>`:
    /// one segment that is a number (passed as one); `<path:name>`: the rest
    /// of the path, slashes included (last segment only).
    Var {
        /// The keyword argument it becomes.
        name: String,
        /// Its converter.
        kind: WapVar,
    },
}

/// A `wap` path variable's converter (Werkzeug's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WapVar {
    /// `string` (the default): one segment.
    Str,
    /// `int`: digits, passed as an integer.
    Int,
    /// `float`: digits with a dot, passed as a float.
    Float,
    /// `path`: the rest, slashes included.
    Path,
}

/// Default [`ArchiveLimits::max_size`]: 64 MiB.
pub const DEFAULT_ARCHIVE_MAX_SIZE: u64 = 64 << 20;
/// Default [`ArchiveLimits::max_content`]: 256 MiB.
pub const DEFAULT_ARCHIVE_MAX_CONTENT: u64 = 256 << 20;
/// Default [`ArchiveLimits::download_timeout_ms`]: two minutes.
pub const DEFAULT_ARCHIVE_DOWNLOAD_TIMEOUT_MS: u64 = 120_000;

/// An `archive` service: the files of a ZIP archive, read into memory once
/// before the shards start (and downloaded from `origin` first when it is
/// missing and `download` is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveService {
    /// `archive`: the ZIP file, resolved against the node directory.
    pub archive: PathBuf,
    /// `origin`: the `http://` or `https://` URL it is downloaded from.
    pub origin: Option<String>,
    /// `download`: fetch it from `origin` when the file is missing
    /// (default false).
    pub download: bool,
    /// `cache`: Crossbar's "keep the contents in memory" (default false);
    /// accepted, and always the case here.
    pub cache: bool,
    /// `hashes`: SHA-256 digests (64 hex digits, lower case); the archive
    /// must match one. Empty: not checked.
    pub hashes: Vec<String>,
    /// `object_prefix`: the folder inside the archive that URL paths map to
    /// (no leading or trailing slash); `None`: the archive's top.
    pub object_prefix: Option<String>,
    /// `default_object`: appended to a request for the service's path
    /// itself or a folder (a path ending in `/`).
    pub default_object: Option<String>,
    /// `options.default_file`: served (from the archive, under the prefix)
    /// for a path the archive does not hold.
    pub default_file: Option<String>,
    /// `mime_types`: suffix (with its dot: `.svg`, `.min.js`) → MIME type,
    /// on top of the built-in table; the longest matching suffix wins.
    pub mime_types: BTreeMap<String, String>,
    /// Limits (Junction extension `junction`).
    pub limits: ArchiveLimits,
    /// The archive's files, filled in by the web server's loader before the
    /// shards start (`None` in a config just read).
    pub files: Option<ArchiveFiles>,
}

/// The limits of an `archive` service (Junction extension: the service's
/// `junction` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// `max_size`: largest archive file read or downloaded, in octets
    /// (default 64 MiB); a larger one refuses the start.
    pub max_size: u64,
    /// `max_content`: most octets the archive's files may hold once
    /// uncompressed, all of them together (default 256 MiB); more refuses
    /// the start (the files are held in memory).
    pub max_content: u64,
    /// `download_timeout` (ms): the whole download from `origin`, redirects
    /// included (default 120 000).
    pub download_timeout_ms: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_size: DEFAULT_ARCHIVE_MAX_SIZE,
            max_content: DEFAULT_ARCHIVE_MAX_CONTENT,
            download_timeout_ms: DEFAULT_ARCHIVE_DOWNLOAD_TIMEOUT_MS,
        }
    }
}

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Its content, uncompressed.
    pub data: bytes::Bytes,
    /// Its CRC-32 as the archive gives it (for the entity tag).
    pub crc32: u32,
}

/// The files of an archive under its `object_prefix`, shared by every
/// shard (one copy per process).
#[derive(Debug, Clone)]
pub struct ArchiveFiles {
    /// The archive's SHA-256, hex.
    pub sha256: String,
    /// The archive file's modification time (`Last-Modified`).
    pub modified: std::time::SystemTime,
    /// Files by path below the prefix (`js/app.js`).
    pub entries: std::sync::Arc<std::collections::HashMap<String, ArchiveEntry>>,
    /// Folders below the prefix, without their trailing slash (`js`).
    pub folders: std::sync::Arc<std::collections::HashSet<String>>,
}

impl PartialEq for ArchiveFiles {
    /// The same archive file: same digest and time.
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256 && self.modified == other.modified
    }
}

impl Eq for ArchiveFiles {}

/// A `redirect` service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectService {
    /// `url`: where to.
    pub url: String,
}

/// A `json` service.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonService {
    /// `value`: the document.
    pub value: serde_json::Value,
    /// `options.prettify`: indented output (default false).
    pub prettify: bool,
    /// `options.allow_cross_origin`: CORS headers (default true).
    pub allow_cross_origin: bool,
    /// `options.discourage_caching`: `Cache-Control: no-store, ...` (default false).
    pub discourage_caching: bool,
}

/// A `cgi` service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiService {
    /// `directory`: where scripts are, resolved against the node directory.
    pub directory: PathBuf,
    /// `processor`: the interpreter scripts run with (as given: a path, or a
    /// name looked up in `PATH`).
    pub processor: String,
    /// `junction.timeout` (ms): how long one request's script may run, from
    /// its start to the end of its output; past it the script is killed
    /// (504 when nothing was answered yet).
    pub timeout_ms: u64,
    /// `junction.max_head_size`: the largest header block a script may
    /// print before its body (past it: 502).
    pub max_head_bytes: usize,
    /// `junction.chunked_buffer`: a chunked request body up to this many
    /// octets is read whole before the script starts (it gets
    /// `CONTENT_LENGTH`); a longer one is streamed to its stdin as it
    /// arrives, without `CONTENT_LENGTH` (the script reads to the end of
    /// its input). 0: always streamed.
    pub chunked_buffer: usize,
}

/// Default [`CgiService::timeout_ms`]: 60 s.
pub const DEFAULT_CGI_TIMEOUT_MS: u64 = 60_000;
/// Default [`CgiService::max_head_bytes`]: 64 KiB.
pub const DEFAULT_CGI_MAX_HEAD: usize = 64 << 10;
/// Default [`CgiService::chunked_buffer`]: 64 KiB.
pub const DEFAULT_CGI_CHUNKED_BUFFER: usize = 64 << 10;
/// Default [`ReverseProxyService::connect_timeout_ms`]: 10 s.
pub const DEFAULT_PROXY_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Default [`ReverseProxyService::timeout_ms`]: 60 s.
pub const DEFAULT_PROXY_TIMEOUT_MS: u64 = 60_000;
/// `reverseproxy` `junction.pool_size`: idle backend connections kept per shard.
pub const DEFAULT_PROXY_POOL_SIZE: usize = 16;
/// `reverseproxy` `junction.pool_idle_timeout` (ms): how long an idle
/// backend connection is kept.
pub const DEFAULT_PROXY_POOL_IDLE_MS: u64 = 15_000;
/// Default [`WsgiService::start_timeout_ms`]: 30 s.
pub const DEFAULT_WSGI_START_TIMEOUT_MS: u64 = 30_000;

/// Protocol of the public side of a reverse proxy (`forwarded_proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedProto {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

/// A `reverseproxy` service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseProxyService {
    /// `host`: the backend.
    pub host: String,
    /// `port` (default 80).
    pub port: u16,
    /// `path`: prefix added to the forwarded path (default empty).
    pub path: String,
    /// `forwarded_port`: public port announced to the backend (default 80).
    pub forwarded_port: u16,
    /// `forwarded_proto`: public protocol announced to the backend (default http).
    pub forwarded_proto: ForwardedProto,
    /// `junction.connect_timeout` (ms): connecting to the backend (past it: 504).
    pub connect_timeout_ms: u64,
    /// `junction.timeout` (ms): the longest the backend may hold things up
    /// (take none of the request body, or send nothing once it has all of
    /// it); past it: 504, or the connection is closed mid-answer.
    pub timeout_ms: u64,
    /// `junction.pool_size`: idle keep-alive connections to the backend
    /// kept per shard for the next requests (0: a connection per request).
    pub pool_size: usize,
    /// `junction.pool_idle_timeout` (ms): an idle pooled connection older
    /// than this is closed rather than reused.
    pub pool_idle_ms: u64,
}

/// A `wsgi` service: a Python WSGI application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsgiService {
    /// `module`: the Python module.
    pub module: String,
    /// `object`: the application object in it.
    pub object: String,
    /// `junction.python`: the interpreter; else the router's
    /// `options.python`, else `python3` (the loader fills it in; `None`
    /// only in a config built by hand: `python3`).
    pub python: Option<PathBuf>,
    /// The router's `options.pythonpath` (filled in by the loader).
    pub pythonpath: Vec<PathBuf>,
    /// `junction.start_timeout` (ms): how long the application may take to
    /// import and listen.
    pub start_timeout_ms: u64,
    /// `junction.timeout` (ms): a request's response head, and each read of
    /// its body, as for a reverse proxy.
    pub timeout_ms: u64,
}

/// A `longpoll` service (defaults are Crossbar's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongPollService {
    /// `options.request_timeout`: seconds a poll is held open (default 10).
    pub request_timeout_s: u64,
    /// `options.session_timeout`: seconds without a poll before the session
    /// is closed (default 30).
    pub session_timeout_s: u64,
    /// `options.queue_limit_bytes`: bytes queued for a session between polls (default 128 KiB).
    pub queue_limit_bytes: usize,
    /// `options.queue_limit_messages`: messages queued between polls (default 100).
    pub queue_limit_messages: usize,
}

impl Default for LongPollService {
    fn default() -> Self {
        LongPollService {
            request_timeout_s: 10,
            session_timeout_s: 30,
            queue_limit_bytes: 128 * 1024,
            queue_limit_messages: 100,
        }
    }
}

/// Default [`BridgeService::timestamp_delta_limit_s`]: 300 s (Crossbar's).
pub const DEFAULT_TIMESTAMP_DELTA_LIMIT_S: u64 = 300;

/// A `publisher` or `caller` HTTP bridge service.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeService {
    /// `realm`: where publishes/calls go.
    pub realm: String,
    /// `role`: the role they are made with.
    pub role: String,
    /// `options.key` and `options.secret`: requests must be signed
    /// (HMAC-SHA256 over key, timestamp, seq, nonce and body); `None`: unsigned.
    pub signing: Option<BridgeSigning>,
    /// `options.require_tls`: refuse requests over plain HTTP (default false).
    pub require_tls: bool,
    /// `options.require_ip`: only these networks may post; empty: anyone.
    pub require_ip: Vec<IpNetwork>,
    /// `options.post_body_limit`: largest request body in bytes
    /// (Crossbar: 0 or absent = no limit; Junction: `junction.max_message_size`).
    pub post_body_limit: usize,
    /// `options.timestamp_delta_limit`: seconds a signed request's timestamp
    /// may differ from the router's clock (default 300).
    pub timestamp_delta_limit_s: u64,
}

/// The signing key pair of an HTTP bridge service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSigning {
    /// `key`: sent by the client to name the secret.
    pub key: String,
    /// `secret`.
    pub secret: Secret,
}

/// A `webhook` HTTP bridge service.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookService {
    /// `realm`.
    pub realm: String,
    /// `role`.
    pub role: String,
    /// `options.topic`: the topic events are published to.
    pub topic: String,
    /// `options.success_response`: body of the 202 answer (default `OK`).
    pub success_response: String,
    /// `options.error_response`: body of the 500 answer (default `NOT OK`).
    pub error_response: String,
    /// `options.github_secret`: requests must carry GitHub's `X-Hub-Signature` for it.
    pub github_secret: Option<Secret>,
    /// `options.post_body_limit`, as for [`BridgeService`].
    pub post_body_limit: usize,
}

/// An IP network (`require_ip` entry): address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl IpNetwork {
    /// Whether `ip` is in this network (an IPv4 address never matches an IPv6 network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A 32-bit mask of `prefix` leading ones.
pub(super) fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

/// A 128-bit mask of `prefix` leading ones.
pub(super) fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// An `upload` service (accepted so Crossbar configs with it load; Crossbar
/// itself checks it but registers no factory for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadService {
    /// `realm`.
    pub realm: String,
    /// `role`.
    pub role: String,
    /// `directory`, resolved against the node directory.
    pub directory: PathBuf,
    /// `temp_directory`, resolved against the node directory.
    pub temp_directory: Option<PathBuf>,
    /// `form_fields`: form field names by meaning (`file_name`, `content`, ...).
    pub form_fields: BTreeMap<String, String>,
    /// `options.max_file_size` in bytes.
    pub max_file_size: Option<u64>,
    /// `options.file_types`: accepted extensions.
    pub file_types: Vec<String>,
    /// `options.file_permissions`: octal mode of stored files, as given.
    pub file_permissions: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses() {
        let net = IpNetwork {
            addr: "192.168.1.0".parse().expect("ip"),
            prefix: 24,
        };
        assert!(net.contains("192.168.1.77".parse().expect("ip")));
        assert!(!net.contains("192.168.2.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        let any = IpNetwork {
            addr: "0.0.0.0".parse().expect("ip"),
            prefix: 0,
        };
        assert!(any.contains("8.8.8.8".parse().expect("ip")));
        let v6 = IpNetwork {
            addr: "fd00::".parse().expect("ip"),
            prefix: 8,
        };
        assert!(v6.contains("fdff::1".parse().expect("ip")));
        assert!(!v6.contains("fe80::1".parse().expect("ip")));
        assert_eq!(mask32(0), 0);
        assert_eq!(mask32(32), u32::MAX);
        assert_eq!(mask128(128), u128::MAX);
    }
}

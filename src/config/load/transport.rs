//! Transports of a router worker: the dispatch by `type`, WebSocket and
//! RawSocket transports and services, endpoints with TLS, serializers,
//! WebSocket options and the services' `junction` block. Web transports are
//! in `web.rs`, MQTT and universal transports in `mqtt.rs`, `auth` in `auth.rs`.

use std::net::IpAddr;

use serde_json::Value;

use super::{Key, Loader, Obj};
use crate::config::path::{child, index};
use crate::config::{
    ClientCertificates, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, DeflateParams, Endpoint, Limits,
    RawSocketOptions, RawSocketService, TlsConfig, TlsVersion, TransportConfig, TransportKind,
    WampService, WebSocketOptions, WebSocketService,
};
use crate::proto::Serializer;

/// Crossbar's limit for `max_message_size` on transports: 64 MiB.
pub(super) const CROSSBAR_MAX_MESSAGE_SIZE: u64 = 64 * 1024 * 1024;

/// Warning text for WebSocket tuning options Junction does not offer.
const WS_TUNING: &str = "ignored: WebSocket tuning option Junction does not offer";

/// Warning for `debug` flags.
pub(super) const DEBUG: Key = Key::Warn("ignored: use --log-level or RUST_LOG");

/// Where a WebSocket or RawSocket service sits: its own transport (with an
/// endpoint), or inside a web or universal transport (without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Within {
    /// A `websocket` / `rawsocket` transport.
    Transport,
    /// A web transport's path or a universal transport's entry.
    Listener,
}

impl Loader<'_> {
    pub(super) fn transport(
        &mut self,
        path: &str,
        i: usize,
        v: &Value,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        let obj = self.object(path, v)?;
        let ttype = self.required_str(path, obj, "type")?;
        let type_path = child(path, "type");
        let id = self.item_id(path, obj, format!("{}transport{}", self.id_prefix, i + 1));
        let kind = match &*ttype {
            "websocket" => self
                .websocket_service(path, obj, limits, None, Within::Transport)
                .map(TransportKind::WebSocket),
            "rawsocket" => self
                .rawsocket_service(path, obj, limits, Within::Transport)
                .map(TransportKind::RawSocket),
            "web" => self
                .web_transport(path, obj, limits, Within::Transport)
                .map(TransportKind::Web),
            "mqtt" => self
                .mqtt_service(path, obj, limits, Within::Transport)
                .map(TransportKind::Mqtt),
            "universal" => self
                .universal_transport(path, obj, limits)
                .map(TransportKind::Universal),
            "flashpolicy" | "websocket.testee" | "stream.testee" => {
                self.unsupported(&type_path, &format!("transport type \"{ttype}\""));
                return None;
            }
            other => {
                self.error(
                    &type_path,
                    format!(
                        "unknown transport type \"{other}\" (websocket, rawsocket, web, mqtt or universal)"
                    ),
                );
                return None;
            }
        };
        let endpoint = self.required_endpoint(path, obj);
        Some(TransportConfig::new(id, kind?, endpoint?))
    }

    /// The mandatory listening endpoint.
    pub(super) fn required_endpoint(&mut self, path: &str, obj: &Obj) -> Option<Endpoint> {
        match obj.get("endpoint") {
            Some(v) => self.endpoint(&child(path, "endpoint"), v),
            None => {
                self.error(&child(path, "endpoint"), "missing (required)");
                None
            }
        }
    }

    /// A WebSocket service: a `websocket` transport, a web transport's
    /// `websocket` path or a universal transport's `websocket` entry.
    /// `http_path` is the HTTP path it is served on (`None`: any).
    pub(super) fn websocket_service(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
        http_path: Option<String>,
        within: Within,
    ) -> Option<WebSocketService> {
        let mut table = vec![
            ("type", Key::Read),
            ("serializers", Key::Read),
            ("debug", DEBUG),
            ("options", Key::Read),
            ("auth", Key::Read),
            ("junction", Key::Read),
            ("cookie", Key::Read),
        ];
        match within {
            Within::Transport => table.extend([
                ("id", Key::Read),
                ("endpoint", Key::Read),
                (
                    "url",
                    Key::Warn("ignored: Junction accepts WebSocket upgrades on any path and host"),
                ),
            ]),
            Within::Listener => table.extend([
                ("id", Key::Ignore),
                (
                    "url",
                    Key::Warn("ignored: Junction accepts WebSocket upgrades on any host"),
                ),
            ]),
        }
        self.keys(path, obj, &table);
        let options = match obj.get("options") {
            Some(v) => self.websocket_options(&child(path, "options"), v, limits),
            None => Some(WebSocketOptions {
                max_message_size: limits.max_message_size,
                max_frame_size: limits.max_message_size,
                ..WebSocketOptions::default()
            }),
        }
        .map(|o| WebSocketOptions {
            path: http_path,
            ..o
        });
        let cookie = match obj.get("cookie") {
            Some(v) => self.cookie(&child(path, "cookie"), v).map(Some),
            None => Some(None),
        };
        let wamp = self.wamp_service(path, obj);
        Some(WebSocketService {
            options: options?,
            wamp: wamp?,
            cookie: cookie?,
        })
    }

    /// Serializers, `auth` and the `junction` block of a WAMP service.
    fn wamp_service(&mut self, path: &str, obj: &Obj) -> Option<WampService> {
        let serializers = self.serializers(path, obj);
        let trustlevel = self.service_junction(path, obj);
        let auth = match obj.get("auth") {
            Some(v) => self.auth(&child(path, "auth"), v),
            None => Some(Default::default()),
        };
        Some(WampService {
            serializers: serializers?,
            auth: auth?,
            trustlevel: trustlevel?,
        })
    }

    /// A service's `junction` block: `{"trustlevel": N}`.
    fn service_junction(&mut self, path: &str, obj: &Obj) -> Option<Option<u64>> {
        let Some(v) = obj.get("junction") else {
            return Some(None);
        };
        let jp = child(path, "junction");
        let j = self.object(&jp, v)?;
        self.keys(&jp, j, &[("trustlevel", Key::Read)]);
        match j.get("trustlevel") {
            Some(t) => Some(Some(self.uint(
                &child(&jp, "trustlevel"),
                t,
                0,
                u64::from(u32::MAX),
            )?)),
            None => Some(None),
        }
    }

    fn websocket_options(
        &mut self,
        path: &str,
        v: &Value,
        limits: &Limits,
    ) -> Option<WebSocketOptions> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("max_message_size", Key::Read),
                ("max_frame_size", Key::Read),
                ("open_handshake_timeout", Key::Read),
                ("auto_ping_interval", Key::Read),
                ("auto_ping_timeout", Key::Read),
                ("allowed_origins", Key::Read),
                ("allow_null_origin", Key::Read),
                ("require_websocket_subprotocol", Key::Read),
                ("validate_utf8", Key::Read),
                ("require_masked_client_frames", Key::Read),
                ("enable_rfc6455", Key::Read),
                ("close_handshake_timeout", Key::Warn(WS_TUNING)),
                ("auto_ping_size", Key::Warn(WS_TUNING)),
                ("auto_ping_restart_on_any_traffic", Key::Warn(WS_TUNING)),
                ("auto_fragment_size", Key::Warn(WS_TUNING)),
                ("fail_by_drop", Key::Warn(WS_TUNING)),
                ("echo_close_codereason", Key::Warn(WS_TUNING)),
                ("tcp_nodelay", Key::Warn(WS_TUNING)),
                ("compression", Key::Read),
                (
                    "external_port",
                    Key::Warn("ignored: only used by Crossbar's status page"),
                ),
                (
                    "enable_webstatus",
                    Key::Warn("ignored: Junction renders no status page"),
                ),
                (
                    "show_server_version",
                    Key::Warn("ignored: Junction renders no status page"),
                ),
                (
                    "enable_hybi10",
                    Key::Warn("ignored: Junction speaks RFC 6455 only"),
                ),
                (
                    "mask_server_frames",
                    Key::Warn("ignored: testing option; Junction always masks as RFC 6455 says"),
                ),
                (
                    "apply_mask",
                    Key::Warn("ignored: testing option; Junction always masks as RFC 6455 says"),
                ),
                (
                    "enable_flash_policy",
                    Key::Warn("ignored: Flash is not supported"),
                ),
                ("flash_policy", Key::Warn("ignored: Flash is not supported")),
            ],
        );
        let mut o = WebSocketOptions {
            max_message_size: limits.max_message_size,
            max_frame_size: 0,
            ..WebSocketOptions::default()
        };
        if let Some(v) = obj.get("max_message_size") {
            let p = child(path, "max_message_size");
            if let Some(n) = self.size(&p, v, 1, CROSSBAR_MAX_MESSAGE_SIZE) {
                o.max_message_size = self.clamp_to_limit(&p, n, limits);
            }
        }
        if let Some(v) = obj.get("max_frame_size") {
            let p = child(path, "max_frame_size");
            // 0 means "any size" in Crossbar; a frame is never larger than a message.
            if let Some(n) = self.size(&p, v, 0, CROSSBAR_MAX_MESSAGE_SIZE) {
                o.max_frame_size = n;
            }
        }
        if o.max_frame_size == 0 || o.max_frame_size > o.max_message_size {
            o.max_frame_size = o.max_message_size;
        }
        for (key, slot) in [
            ("open_handshake_timeout", &mut o.open_handshake_timeout_ms),
            ("auto_ping_interval", &mut o.auto_ping_interval_ms),
            ("auto_ping_timeout", &mut o.auto_ping_timeout_ms),
        ] {
            if let Some(v) = obj.get(key)
                && let Some(ms) = self.millis(&child(path, key), v)
            {
                *slot = ms;
            }
        }
        if let Some(v) = obj.get("compression") {
            o.compression = self.compression(&child(path, "compression"), v)?;
        }
        if let Some(v) = obj.get("allowed_origins") {
            let p = child(path, "allowed_origins");
            if let Some(items) = self.array(&p, v) {
                let any = items.len() == 1 && items[0].as_str() == Some("*");
                if !any {
                    self.unsupported(
                        &p,
                        "checking the Origin header (`allowed_origins` other than [\"*\"])",
                    );
                }
            }
        }
        // Options whose Crossbar default is what Junction does: accepted at that
        // value; the other value changes security or protocol behaviour.
        if let Some(b) = self.opt_bool(path, obj, "require_websocket_subprotocol") {
            o.require_subprotocol = b;
        }
        let fixed: [(&str, bool, &str); 4] = [
            (
                "allow_null_origin",
                true,
                "rejecting the null Origin (`allow_null_origin: false`)",
            ),
            ("validate_utf8", true, ""),
            ("require_masked_client_frames", true, ""),
            ("enable_rfc6455", true, ""),
        ];
        for (key, junction_value, what) in fixed {
            let Some(b) = self.opt_bool(path, obj, key) else {
                continue;
            };
            if b == junction_value {
                continue;
            }
            let p = child(path, key);
            match key {
                "validate_utf8" => {
                    self.warn(&p, "ignored: Junction always validates UTF-8 text messages")
                }
                "require_masked_client_frames" => {
                    self.warn(
                        &p,
                        "ignored: Junction always requires masked client frames (RFC 6455)",
                    );
                }
                "enable_rfc6455" => {
                    self.error(&p, "cannot be turned off: RFC 6455 is the only WebSocket version Junction speaks");
                }
                _ => self.unsupported(&p, what),
            }
        }
        Some(o)
    }

    /// A transport's `max_message_size` above the router-wide limit is lowered to it.
    /// A WebSocket service's `compression` object: `{"deflate": {...}}`.
    fn compression(&mut self, path: &str, v: &Value) -> Option<Option<DeflateParams>> {
        let obj = self.object(path, v)?;
        self.keys(path, obj, &[("deflate", Key::Read)]);
        let Some(v) = obj.get("deflate") else {
            return Some(None);
        };
        let dp = child(path, "deflate");
        let d = self.object(&dp, v)?;
        self.keys(
            &dp,
            d,
            &[
                ("request_no_context_takeover", Key::Read),
                ("request_max_window_bits", Key::Read),
                ("no_context_takeover", Key::Read),
                ("max_window_bits", Key::Read),
                (
                    "memory_level",
                    Key::Warn("ignored: zlib's default memory level (8) is used"),
                ),
                ("level", Key::Read),
                ("threshold", Key::Read),
            ],
        );
        let mut p = DeflateParams::default();
        if let Some(b) = self.opt_bool(&dp, d, "request_no_context_takeover") {
            p.request_no_context_takeover = b;
        }
        if let Some(b) = self.opt_bool(&dp, d, "no_context_takeover") {
            p.no_context_takeover = b;
        }
        // Window sizes: Crossbar allows 8, which zlib's raw deflate cannot
        // make; 8 is read as 9 (the smallest window zlib makes).
        for (key, slot, min) in [
            ("max_window_bits", &mut p.max_window_bits, 8),
            ("request_max_window_bits", &mut p.request_max_window_bits, 0),
        ] {
            if let Some(v) = d.get(key) {
                let kp = child(&dp, key);
                let n = self.uint(&kp, v, min, 15)?;
                if n != 0 && n < 8 {
                    self.error(
                        &kp,
                        format!("{n} is not a window size (8 to 15, or 0: none)"),
                    );
                    return None;
                }
                if n == 8 {
                    self.warn(&kp, "8 is used as 9: zlib makes no smaller window");
                }
                *slot = if n == 8 { 9 } else { n as u8 };
            }
        }
        if let Some(v) = d.get("level") {
            p.level = self.uint(&child(&dp, "level"), v, 1, 9)? as u8;
        }
        if let Some(v) = d.get("threshold") {
            p.threshold = self.size(&child(&dp, "threshold"), v, 0, u64::from(u32::MAX))?;
        }
        Some(Some(p))
    }

    pub(super) fn clamp_to_limit(&mut self, path: &str, n: usize, limits: &Limits) -> usize {
        if n > limits.max_message_size {
            self.warn(
                path,
                &format!(
                    "{n} is above junction.max_message_size; lowered to {}",
                    limits.max_message_size
                ),
            );
            limits.max_message_size
        } else {
            n
        }
    }

    /// A RawSocket service: a `rawsocket` transport or a universal transport's `rawsocket`.
    pub(super) fn rawsocket_service(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
        within: Within,
    ) -> Option<RawSocketService> {
        let mut table = vec![
            ("serializers", Key::Read),
            ("debug", DEBUG),
            ("options", Key::Read),
            ("auth", Key::Read),
            ("junction", Key::Read),
            // Crossbar's RawSocket docs put it here; its checker wants `options`.
            ("max_message_size", Key::Read),
        ];
        match within {
            Within::Transport => table.extend([
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
            ]),
            Within::Listener => table.extend([("id", Key::Ignore), ("type", Key::Read)]),
        }
        self.keys(path, obj, &table);
        if within == Within::Listener
            && let Some(v) = obj.get("type")
            && let Some(t) = self.string(&child(path, "type"), v)
            && t != "rawsocket"
        {
            self.error(
                &child(path, "type"),
                format!("\"{t}\" is not \"rawsocket\""),
            );
        }
        let mut size_at: Option<(String, &Value)> = obj
            .get("max_message_size")
            .map(|v| (child(path, "max_message_size"), v));
        if let Some(v) = obj.get("options") {
            let p = child(path, "options");
            if let Some(o) = self.object(&p, v) {
                self.keys(&p, o, &[("max_message_size", Key::Read)]);
                if let Some(v) = o.get("max_message_size") {
                    let op = child(&p, "max_message_size");
                    if size_at.is_some() {
                        self.error(
                            &op,
                            "also given as max_message_size on the transport; use one",
                        );
                    }
                    size_at = Some((op, v));
                }
            }
        }
        let mut options = RawSocketOptions {
            max_message_size: limits.max_message_size,
            ..RawSocketOptions::default()
        };
        if let Some((p, v)) = size_at
            && let Some(n) = self.size(&p, v, 1, CROSSBAR_MAX_MESSAGE_SIZE)
        {
            options.max_message_size = self.clamp_to_limit(&p, n, limits);
        }
        let wamp = self.wamp_service(path, obj)?;
        Some(RawSocketService { options, wamp })
    }

    fn endpoint(&mut self, path: &str, v: &Value) -> Option<Endpoint> {
        let obj = self.object(path, v)?;
        let etype = self.required_str(path, obj, "type")?;
        match &*etype {
            "tcp" => self.tcp_endpoint(path, obj),
            "unix" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("path", Key::Read),
                        ("backlog", Key::Read),
                    ],
                );
                if let Some(v) = obj.get("backlog") {
                    self.uint(&child(path, "backlog"), v, 1, 65535);
                }
                // Relative to the node directory, as Crossbar resolves it
                // (and as a container component's connecting path is).
                let p = self.required(path, obj, "path", Self::node_path)?;
                Some(Endpoint::Unix { path: p })
            }
            "twisted" | "onion" => {
                self.unsupported(&child(path, "type"), &format!("endpoint type \"{etype}\""));
                None
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("unknown endpoint type \"{other}\" (tcp or unix)"),
                );
                None
            }
        }
    }

    fn tcp_endpoint(&mut self, path: &str, obj: &Obj) -> Option<Endpoint> {
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("port", Key::Read),
                ("interface", Key::Read),
                ("host", Key::Read),
                ("version", Key::Read),
                ("backlog", Key::Read),
                ("shared", Key::Read),
                ("tls", Key::Read),
                (
                    "portrange",
                    Key::Unsupported("listening on a port range (`portrange`)"),
                ),
                (
                    "user_timeout",
                    Key::Warn("ignored: Junction does not set TCP_USER_TIMEOUT"),
                ),
            ],
        );
        let port = match obj.get("port") {
            Some(v) => self.port(&child(path, "port"), v),
            None => {
                self.error(&child(path, "port"), "missing (required)");
                None
            }
        };
        let version = match obj.get("version") {
            Some(v) => {
                let p = child(path, "version");
                match self.uint(&p, v, 4, 6) {
                    Some(n @ (4 | 6)) => Some(n),
                    Some(n) => {
                        self.error(&p, format!("{n} is not 4 or 6"));
                        None
                    }
                    None => None,
                }
            }
            None => Some(4),
        };
        if let Some(v) = obj.get("backlog") {
            self.uint(&child(path, "backlog"), v, 1, 65535);
        }
        // Junction always shares the port between its shards (SO_REUSEPORT).
        self.opt_bool(path, obj, "shared");
        let tls = obj.get("tls").map(|v| self.tls(&child(path, "tls"), v));
        let host = match (obj.get("interface"), obj.get("host")) {
            (Some(_), Some(_)) => {
                self.error(
                    &child(path, "host"),
                    "give either `interface` or `host`, not both",
                );
                None
            }
            (Some(v), None) => self
                .string(&child(path, "interface"), v)
                .map(|s| (s, "interface")),
            (None, Some(v)) => self.string(&child(path, "host"), v).map(|s| (s, "host")),
            (None, None) => None,
        };
        let version = version?;
        let host = match host {
            Some((h, key)) => {
                let p = child(path, key);
                if h.is_empty() {
                    self.error(&p, "must not be empty");
                    return None;
                }
                if let Ok(ip) = h.parse::<IpAddr>()
                    && ((ip.is_ipv4() && version == 6) || (ip.is_ipv6() && version == 4))
                {
                    self.error(
                        &p,
                        format!("{h} is not an IPv{version} address (see `version`)"),
                    );
                    return None;
                }
                h.into_owned()
            }
            // Crossbar (Twisted) listens on all interfaces by default.
            None if version == 6 => "::".to_owned(),
            None => "0.0.0.0".to_owned(),
        };
        let port = port?;
        match tls {
            None => Some(Endpoint::Tcp { host, port }),
            Some(tls) => Some(Endpoint::TcpTls {
                host,
                port,
                tls: Box::new(tls?),
            }),
        }
    }

    /// A listening port: 0–65535, or Crossbar's `"$VAR"` (and `"${VAR}"`)
    /// environment reference.
    fn port(&mut self, path: &str, v: &Value) -> Option<u16> {
        if let Value::String(s) = v
            && let Some(name) = s.strip_prefix('$')
            && super::read::is_env_name(name)
        {
            let Some(value) = (self.env)(name) else {
                self.error(path, format!("environment variable {name} is not set"));
                return None;
            };
            return match value.trim().parse::<u16>() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.error(
                        path,
                        format!("expected a port (0 to 65535), the environment gives \"{value}\""),
                    );
                    None
                }
            };
        }
        self.uint(path, v, 0, 65535)
            .and_then(|p| u16::try_from(p).ok())
    }

    /// `endpoint.tls` of a listening TCP endpoint.
    fn tls(&mut self, path: &str, v: &Value) -> Option<TlsConfig> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("key", Key::Read),
                ("certificate", Key::Read),
                ("chain_certificates", Key::Read),
                ("ca_certificates", Key::Read),
                ("dhparam", Key::Read),
                ("ciphers", Key::Read),
                ("junction", Key::Read),
            ],
        );
        let key = self.required(path, obj, "key", Self::node_path);
        let certificate = self.required(path, obj, "certificate", Self::node_path);
        let chain = self.optional(path, obj, "chain_certificates", Self::node_paths);
        let ca = self.optional(path, obj, "ca_certificates", Self::node_paths);
        let dhparam = self.optional(path, obj, "dhparam", Self::node_path);
        let ciphers = self.optional(path, obj, "ciphers", |l, p, v| {
            let s = l.string(p, v)?;
            let list: Vec<String> = s
                .split(':')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            if list.is_empty() {
                l.error(p, "names no cipher");
                return None;
            }
            Some(list)
        });
        let ca_certificates = ca.ok()?.unwrap_or_default();
        let mut client_certificates = if ca_certificates.is_empty() {
            ClientCertificates::None
        } else {
            ClientCertificates::Required
        };
        let mut min_version = TlsVersion::Tls12;
        let mut handshake_timeout_ms = DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
        if let Some(v) = obj.get("junction") {
            let jp = child(path, "junction");
            let j = self.object(&jp, v)?;
            self.keys(
                &jp,
                j,
                &[
                    ("client_certificates", Key::Read),
                    ("min_version", Key::Read),
                    ("handshake_timeout", Key::Read),
                ],
            );
            if let Some(v) = j.get("client_certificates") {
                let p = child(&jp, "client_certificates");
                client_certificates = match self.string(&p, v)?.as_ref() {
                    "none" => ClientCertificates::None,
                    "optional" => ClientCertificates::Optional,
                    "required" => ClientCertificates::Required,
                    other => {
                        self.error(
                            &p,
                            format!("\"{other}\" is not \"none\", \"optional\" or \"required\""),
                        );
                        return None;
                    }
                };
                if client_certificates != ClientCertificates::None && ca_certificates.is_empty() {
                    self.error(
                        &p,
                        "client certificates need `ca_certificates` to be verified against",
                    );
                    return None;
                }
                if client_certificates == ClientCertificates::None && !ca_certificates.is_empty() {
                    self.warn(
                        &child(path, "ca_certificates"),
                        "unused: client certificates are not asked for (junction.client_certificates is \"none\")",
                    );
                }
            }
            if let Some(v) = j.get("handshake_timeout")
                && let Some(ms) = self.millis(&child(&jp, "handshake_timeout"), v)
            {
                handshake_timeout_ms = ms;
            }
            if let Some(v) = j.get("min_version") {
                let p = child(&jp, "min_version");
                min_version = match self.string(&p, v)?.as_ref() {
                    "1.2" => TlsVersion::Tls12,
                    "1.3" => TlsVersion::Tls13,
                    other => {
                        self.error(&p, format!("\"{other}\" is not \"1.2\" or \"1.3\""));
                        return None;
                    }
                };
            }
        }
        Some(TlsConfig {
            key: key?,
            certificate: certificate?,
            chain_certificates: chain.ok()?.unwrap_or_default(),
            ca_certificates,
            dhparam: dhparam.ok()?,
            ciphers: ciphers.ok()?,
            client_certificates,
            min_version,
            handshake_timeout_ms,
        })
    }

    /// `serializers` of a WAMP service: the given order, or all when absent.
    pub(super) fn serializers(&mut self, path: &str, obj: &Obj) -> Option<Vec<Serializer>> {
        let Some(v) = obj.get("serializers") else {
            return Some(Serializer::ALL.to_vec());
        };
        let p = child(path, "serializers");
        let items = self.array(&p, v)?;
        if items.is_empty() {
            self.error(&p, "must name at least one serializer");
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        // Serializers Crossbar offers and Junction does not: left out of
        // the list with a warning while another serializer remains (a
        // client negotiates one of those), an error when none would.
        let mut skipped: Vec<(String, &'static str)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ip = index(&p, i);
            let Some(name) = self.string(&ip, item) else {
                ok = false;
                continue;
            };
            if let Some(missing) = ["ubjson", "flatbuffers"].into_iter().find(|m| *m == name) {
                skipped.push((ip, missing));
                continue;
            }
            match self.serializer(&ip, item) {
                Some(s) if !out.contains(&s) => out.push(s),
                Some(_) => {}
                None => ok = false,
            }
        }
        if out.is_empty() {
            for (ip, name) in skipped {
                self.unsupported(&ip, &format!("serializer \"{name}\""));
            }
            return None;
        }
        for (ip, name) in skipped {
            self.warn(
                &ip,
                &format!(
                    "skipped: Junction has no \"{name}\" serializer; clients negotiate one of \
                     the others listed (a client that offers only \"{name}\" is refused)"
                ),
            );
        }
        ok.then_some(out)
    }

    /// One serializer name.
    pub(super) fn serializer(&mut self, path: &str, v: &Value) -> Option<Serializer> {
        let name = self.string(path, v)?;
        match Serializer::from_name(&name) {
            Some(s) => Some(s),
            None if matches!(&*name, "ubjson" | "flatbuffers") => {
                self.unsupported(path, &format!("serializer \"{name}\""));
                None
            }
            None => {
                self.error(
                    path,
                    format!("unknown serializer \"{name}\" (json, msgpack or cbor)"),
                );
                None
            }
        }
    }
}

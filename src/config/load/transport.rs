//! Transports of a router worker: WebSocket, RawSocket and web transports,
//! their endpoints, serializers, WebSocket options and authentication.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

use super::{Key, Loader, Obj, child, index};
use crate::config::{
    Endpoint, Limits, RawSocketOptions, TransportAuth, TransportConfig, TransportKind,
    WebSocketOptions,
};
use crate::proto::Serializer;

/// Crossbar's limit for `max_message_size` on transports: 64 MiB.
const CROSSBAR_MAX_MESSAGE_SIZE: u64 = 64 * 1024 * 1024;

/// Warning text for WebSocket tuning options Junction does not offer.
const WS_TUNING: &str = "ignored: WebSocket tuning option Junction does not offer";

impl Loader {
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
        let default_id = format!("transport{}", i + 1);
        match ttype {
            "websocket" => self.websocket_transport(path, obj, default_id, limits),
            "rawsocket" => self.rawsocket_transport(path, obj, default_id, limits),
            "web" => self.web_transport(path, obj, default_id, limits),
            "universal" | "mqtt" | "flashpolicy" | "websocket.testee" | "stream.testee" => {
                self.unsupported(&type_path, &format!("transport type \"{ttype}\""));
                None
            }
            other => {
                self.error(
                    &type_path,
                    format!("unknown transport type \"{other}\" (websocket, rawsocket or web)"),
                );
                None
            }
        }
    }

    /// The transport's `id`, or the Crossbar default `transportN`.
    fn transport_id(&mut self, path: &str, obj: &Obj, default_id: String) -> String {
        let Some(v) = obj.get("id") else {
            return default_id;
        };
        let p = child(path, "id");
        match self.string(&p, v) {
            Some(id) => {
                self.check_id(&p, id);
                id.to_owned()
            }
            None => default_id,
        }
    }

    /// The mandatory listening endpoint.
    fn required_endpoint(&mut self, path: &str, obj: &Obj) -> Option<Endpoint> {
        match obj.get("endpoint") {
            Some(v) => self.endpoint(&child(path, "endpoint"), v),
            None => {
                self.error(&child(path, "endpoint"), "missing (required)");
                None
            }
        }
    }

    fn websocket_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                (
                    "url",
                    Key::Warn("ignored: Junction accepts WebSocket upgrades on any path and host"),
                ),
                ("serializers", Key::Read),
                ("debug", Key::Warn("ignored: use --log-level or RUST_LOG")),
                ("options", Key::Read),
                ("auth", Key::Read),
                ("junction", Key::Read),
                (
                    "cookie",
                    Key::Warn(
                        "ignored: cookie tracking is not implemented; sessions get random authids",
                    ),
                ),
            ],
        );
        let id = self.transport_id(path, obj, default_id);
        let endpoint = self.required_endpoint(path, obj);
        let (options, serializers, auth) = self.websocket_service(path, obj, limits, None);
        Some(TransportConfig {
            id,
            kind: TransportKind::WebSocket(options?),
            endpoint: endpoint?,
            serializers: serializers?,
            auth: auth?,
        })
    }

    /// The WAMP parts of a WebSocket transport or a web transport's websocket
    /// path: options (with `ws_path`), serializers and auth.
    fn websocket_service(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
        ws_path: Option<String>,
    ) -> (
        Option<WebSocketOptions>,
        Option<Vec<Serializer>>,
        Option<TransportAuth>,
    ) {
        let options = match obj.get("options") {
            Some(v) => self.websocket_options(&child(path, "options"), v, limits),
            None => Some(WebSocketOptions {
                max_message_size: limits.max_message_size,
                max_frame_size: limits.max_message_size,
                ..WebSocketOptions::default()
            }),
        }
        .map(|o| WebSocketOptions { path: ws_path, ..o });
        let serializers = self.serializers(path, obj);
        let auth = self.auth(path, obj);
        (options, serializers, auth)
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
                (
                    "compression",
                    Key::Warn(
                        "ignored: permessage-deflate is not offered; messages go uncompressed",
                    ),
                ),
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
        let fixed: [(&str, bool, &str); 5] = [
            (
                "allow_null_origin",
                true,
                "rejecting the null Origin (`allow_null_origin: false`)",
            ),
            (
                "require_websocket_subprotocol",
                true,
                "WebSocket connections without a WAMP subprotocol (`require_websocket_subprotocol: false`)",
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
    fn clamp_to_limit(&mut self, path: &str, n: usize, limits: &Limits) -> usize {
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

    fn rawsocket_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                ("serializers", Key::Read),
                ("debug", Key::Warn("ignored: use --log-level or RUST_LOG")),
                ("options", Key::Read),
                ("auth", Key::Read),
                ("junction", Key::Read),
                // Crossbar's RawSocket docs put it here; its checker wants `options`.
                ("max_message_size", Key::Read),
            ],
        );
        let id = self.transport_id(path, obj, default_id);
        let endpoint = self.required_endpoint(path, obj);
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
        let serializers = self.serializers(path, obj);
        let auth = self.auth(path, obj);
        Some(TransportConfig {
            id,
            kind: TransportKind::RawSocket(options),
            endpoint: endpoint?,
            serializers: serializers?,
            auth: auth?,
        })
    }

    fn web_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                ("paths", Key::Read),
                ("options", Key::Read),
            ],
        );
        let id = self.transport_id(path, obj, default_id);
        let endpoint = self.required_endpoint(path, obj);
        if let Some(v) = obj.get("options") {
            let p = child(path, "options");
            if let Some(o) = self.object(&p, v) {
                const NO_HTTP: &str =
                    "ignored: Junction serves nothing over HTTP but the WebSocket upgrade";
                self.keys(
                    &p,
                    o,
                    &[
                        ("access_log", Key::Warn(NO_HTTP)),
                        ("display_tracebacks", Key::Warn(NO_HTTP)),
                        ("hsts", Key::Warn(NO_HTTP)),
                        ("hsts_max_age", Key::Warn(NO_HTTP)),
                        ("client_timeout", Key::Warn(NO_HTTP)),
                    ],
                );
            }
        }
        let paths_path = child(path, "paths");
        let Some(paths_v) = obj.get("paths") else {
            self.error(&paths_path, "missing (required)");
            return None;
        };
        let paths = self.object(&paths_path, paths_v)?;
        let mut service = None;
        let mut ws_at: Option<String> = None;
        for (name, svc) in paths {
            let sp = child(&paths_path, name);
            if !is_web_path(name) {
                self.error(
                    &sp,
                    format!("invalid path \"{name}\" (\"/\" or letters, digits, _ and -)"),
                );
                continue;
            }
            let Some(sobj) = self.object(&sp, svc) else {
                continue;
            };
            let Some(stype) = self.required_str(&sp, sobj, "type") else {
                continue;
            };
            if stype != "websocket" {
                self.unsupported(
                    &child(&sp, "type"),
                    &format!("web service type \"{stype}\""),
                );
                continue;
            }
            if let Some(first) = &ws_at {
                self.unsupported(
                    &sp,
                    &format!("a second websocket path on one web transport (first: {first})"),
                );
                continue;
            }
            ws_at = Some(sp.clone());
            self.keys(
                &sp,
                sobj,
                &[
                    ("id", Key::Ignore),
                    ("type", Key::Read),
                    ("url", Key::Warn("ignored: Junction accepts WebSocket upgrades on any host")),
                    ("serializers", Key::Read),
                    (
                        "cookie",
                        Key::Warn(
                            "ignored: cookie tracking is not implemented; sessions get random authids",
                        ),
                    ),
                    ("auth", Key::Read),
                    ("junction", Key::Read),
                    ("options", Key::Read),
                    ("debug", Key::Warn("ignored: use --log-level or RUST_LOG")),
                ],
            );
            let http_path = if name == "/" {
                "/".to_owned()
            } else {
                format!("/{name}")
            };
            service = Some(self.websocket_service(&sp, sobj, limits, Some(http_path)));
        }
        let any_ws = paths
            .values()
            .any(|s| s.get("type").and_then(Value::as_str) == Some("websocket"));
        if !any_ws {
            self.error(
                &paths_path,
                "no path of type \"websocket\"; Junction serves only WAMP over WebSocket on web transports",
            );
        }
        let (options, serializers, auth) = service?;
        Some(TransportConfig {
            id,
            kind: TransportKind::WebSocket(options?),
            endpoint: endpoint?,
            serializers: serializers?,
            auth: auth?,
        })
    }

    fn endpoint(&mut self, path: &str, v: &Value) -> Option<Endpoint> {
        let obj = self.object(path, v)?;
        let etype = self.required_str(path, obj, "type")?;
        match etype {
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
                let p = self.required_str(path, obj, "path")?;
                if p.is_empty() {
                    self.error(&child(path, "path"), "must not be empty");
                    return None;
                }
                Some(Endpoint::Unix {
                    path: PathBuf::from(p),
                })
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
                ("tls", Key::Unsupported("TLS")),
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
            Some(v) => self.uint(&child(path, "port"), v, 0, 65535),
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
                h.to_owned()
            }
            // Crossbar (Twisted) listens on all interfaces by default.
            None if version == 6 => "::".to_owned(),
            None => "0.0.0.0".to_owned(),
        };
        Some(Endpoint::Tcp {
            host,
            port: u16::try_from(port?).ok()?,
        })
    }

    /// `serializers` of a transport: the given order, or all when absent.
    fn serializers(&mut self, path: &str, obj: &Obj) -> Option<Vec<Serializer>> {
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
        for (i, item) in items.iter().enumerate() {
            let ip = index(&p, i);
            let Some(name) = self.string(&ip, item) else {
                ok = false;
                continue;
            };
            match Serializer::from_name(name) {
                Some(s) if !out.contains(&s) => out.push(s),
                Some(_) => {}
                None if matches!(name, "ubjson" | "flatbuffers") => {
                    self.unsupported(&ip, &format!("serializer \"{name}\""));
                    ok = false;
                }
                None => {
                    self.error(
                        &ip,
                        format!("unknown serializer \"{name}\" (json, msgpack or cbor)"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `auth` of a transport. Absent or empty: anonymous with role
    /// `anonymous`, as Crossbar does when no authentication is configured.
    fn auth(&mut self, path: &str, obj: &Obj) -> Option<TransportAuth> {
        let trustlevel = match obj.get("junction") {
            Some(v) => {
                let jp = child(path, "junction");
                let j = self.object(&jp, v)?;
                self.keys(&jp, j, &[("trustlevel", Key::Read)]);
                match j.get("trustlevel") {
                    Some(t) => {
                        Some(self.uint(&child(&jp, "trustlevel"), t, 0, u64::from(u32::MAX))?)
                    }
                    None => None,
                }
            }
            None => None,
        };
        let mut auth = self.auth_methods(path, obj)?;
        auth.trustlevel = trustlevel;
        Some(auth)
    }

    fn auth_methods(&mut self, path: &str, obj: &Obj) -> Option<TransportAuth> {
        let Some(v) = obj.get("auth") else {
            return Some(TransportAuth::default());
        };
        let p = child(path, "auth");
        let methods = self.object(&p, v)?;
        if methods.is_empty() {
            return Some(TransportAuth::default());
        }
        let mut auth = TransportAuth {
            anonymous_role: None,
            trustlevel: None,
        };
        let mut ok = true;
        for (method, cfg) in methods {
            let mp = child(&p, method);
            match method.as_str() {
                "anonymous" => match self.anonymous(&mp, cfg) {
                    Some(role) => auth.anonymous_role = Some(role),
                    None => ok = false,
                },
                "ticket" | "wampcra" | "scram" | "cryptosign" | "cookie" | "tls"
                | "cryptosign-proxy" | "anonymous-proxy" => {
                    self.unsupported(&mp, &format!("\"{method}\" authentication"));
                    ok = false;
                }
                other => {
                    self.error(&mp, format!("unknown authentication method \"{other}\""));
                    ok = false;
                }
            }
        }
        ok.then_some(auth)
    }

    /// `auth.anonymous`: the role it assigns.
    fn anonymous(&mut self, path: &str, v: &Value) -> Option<String> {
        let obj = self.object(path, v)?;
        let atype = self.required_str(path, obj, "type")?;
        match atype {
            "static" => {}
            "dynamic" | "function" => {
                self.unsupported(
                    &child(path, "type"),
                    &format!("{atype} anonymous authentication"),
                );
                return None;
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("unknown type \"{other}\" (Junction supports \"static\")"),
                );
                return None;
            }
        }
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("role", Key::Read),
                (
                    "realm",
                    Key::Warn(
                        "ignored: the client's requested realm is used (Crossbar ignores it too)",
                    ),
                ),
                (
                    "authid",
                    Key::Warn("ignored: anonymous sessions get a random authid"),
                ),
            ],
        );
        match obj.get("role") {
            None => Some("anonymous".to_owned()),
            Some(v) => {
                let p = child(path, "role");
                let role = self.string(&p, v)?;
                if role.is_empty() {
                    self.error(&p, "must not be empty");
                    return None;
                }
                Some(role.to_owned())
            }
        }
    }
}

/// Crossbar's rule for web transport path keys: `/` or `[A-Za-z0-9_-]+`.
fn is_web_path(name: &str) -> bool {
    name == "/"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
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
}

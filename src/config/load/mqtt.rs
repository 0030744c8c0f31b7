//! MQTT services (an `mqtt` transport, a universal transport's `mqtt`, a
//! web transport's `mqtt` path) and the `universal` transport.

use std::collections::BTreeMap;

use serde_json::Value;

use super::realm::is_realm_name;
use super::transport::Within;
use super::web::is_web_path;
use super::{Key, Loader, Obj};
use crate::config::auth::{AnonymousAuth, AuthConfig};
use crate::config::mqtt::{
    MQTT_PROTOCOL_MAX_PACKET_SIZE, MqttLimits, MqttService, PayloadFormat, QueueOverflow,
    SharedStrategy,
};
use crate::config::path::child;
use crate::config::{Limits, UniversalTransport};

impl Loader<'_> {
    /// An MQTT service: `options` (Crossbar's) and `junction` (limits).
    pub(super) fn mqtt_service(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
        within: Within,
    ) -> Option<MqttService> {
        let mut table = vec![
            ("type", Key::Read),
            ("options", Key::Read),
            ("junction", Key::Read),
        ];
        match within {
            Within::Transport => table.extend([("id", Key::Read), ("endpoint", Key::Read)]),
            Within::Listener => table.push(("id", Key::Ignore)),
        }
        self.keys(path, obj, &table);
        let junction = match obj.get("junction") {
            Some(v) => self.mqtt_junction(&child(path, "junction"), v, limits),
            None => Some((MqttLimits::default(), None)),
        };
        let o = self.required(path, obj, "options", |l, p, v| l.object(p, v))?;
        let op = child(path, "options");
        self.keys(
            &op,
            o,
            &[
                ("realm", Key::Read),
                ("role", Key::Read),
                ("payload_mapping", Key::Read),
                ("auth", Key::Read),
            ],
        );
        let realm = self.required(&op, o, "realm", |l, p, v| {
            let r = l.string(p, v)?;
            if !is_realm_name(&r) {
                l.error(p, format!("invalid realm name \"{r}\""));
                return None;
            }
            Some(r.into_owned())
        });
        let role = self.optional(&op, o, "role", Self::nonempty);
        let mapping = match o.get("payload_mapping") {
            Some(v) => self.payload_mapping(&child(&op, "payload_mapping"), v),
            None => Some(BTreeMap::from([(
                String::new(),
                PayloadFormat::PASSTHROUGH,
            )])),
        };
        let role = role
            .ok()?
            .map_or_else(|| "anonymous".to_owned(), |r| r.into_owned());
        let auth = match o.get("auth") {
            Some(v) => self.auth(&child(&op, "auth"), v),
            // Without `auth`, MQTT clients join with `role` (Crossbar's docs).
            None => Some(AuthConfig {
                anonymous: Some(AnonymousAuth::Static {
                    role: role.clone(),
                    authid: None,
                }),
                ..AuthConfig::none()
            }),
        };
        let (mut mqtt_limits, trustlevel) = junction?;
        // No packet larger than the router's largest message (the default too).
        mqtt_limits.max_packet_size = mqtt_limits.max_packet_size.min(limits.max_message_size);
        Some(MqttService {
            realm: realm?,
            role,
            payload_mapping: mapping?,
            auth: auth?,
            limits: mqtt_limits,
            trustlevel,
        })
    }

    fn payload_mapping(
        &mut self,
        path: &str,
        v: &Value,
    ) -> Option<BTreeMap<String, PayloadFormat>> {
        let map = self.object(path, v)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (prefix, fmt) in map {
            let fp = child(path, prefix);
            if prefix.chars().any(|c| c.is_whitespace() || c == '#') {
                self.error(&fp, format!("invalid URI prefix \"{prefix}\""));
                ok = false;
                continue;
            }
            match self.payload_format(&fp, fmt) {
                Some(f) => {
                    out.insert(prefix.clone(), f);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn payload_format(&mut self, path: &str, v: &Value) -> Option<PayloadFormat> {
        let obj = self.object(path, v)?;
        let t = self.required_str(path, obj, "type")?;
        match &*t {
            "passthrough" => {
                self.keys(path, obj, &[("type", Key::Read), ("junction", Key::Read)]);
                let mut transparent = false;
                if let Some(v) = obj.get("junction") {
                    let jp = child(path, "junction");
                    let j = self.object(&jp, v)?;
                    self.keys(&jp, j, &[("transparent", Key::Read)]);
                    transparent = self.opt_bool(&jp, j, "transparent").unwrap_or(false);
                }
                Some(PayloadFormat::Passthrough { transparent })
            }
            "native" => {
                self.keys(path, obj, &[("type", Key::Read), ("serializer", Key::Read)]);
                let serializer = self.required(path, obj, "serializer", Self::serializer)?;
                Some(PayloadFormat::Native { serializer })
            }
            "dynamic" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("encoder", Key::Read),
                        ("decoder", Key::Read),
                        ("realm", Key::Read),
                    ],
                );
                let encoder = self.required(path, obj, "encoder", Self::uri);
                let decoder = self.required(path, obj, "decoder", Self::uri);
                let realm = self.optional(path, obj, "realm", |l, p, v| {
                    let r = l.string(p, v)?;
                    if !is_realm_name(&r) {
                        l.error(p, format!("invalid realm name \"{r}\""));
                        return None;
                    }
                    Some(r.into_owned())
                });
                Some(PayloadFormat::Dynamic {
                    encoder: encoder?,
                    decoder: decoder?,
                    realm: realm.ok()?,
                })
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("\"{other}\" is not \"passthrough\", \"native\" or \"dynamic\""),
                );
                None
            }
        }
    }

    /// The `junction` block of an MQTT service: limits and trust level.
    fn mqtt_junction(
        &mut self,
        path: &str,
        v: &Value,
        limits: &Limits,
    ) -> Option<(MqttLimits, Option<u64>)> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("max_connections", Key::Read),
                ("max_packet_size", Key::Read),
                ("max_topic_length", Key::Read),
                ("max_topic_levels", Key::Read),
                ("max_subscriptions", Key::Read),
                ("max_inflight", Key::Read),
                ("max_queued_messages", Key::Read),
                ("max_queued_bytes", Key::Read),
                ("max_session_expiry", Key::Read),
                ("max_keep_alive", Key::Read),
                ("connect_timeout", Key::Read),
                ("queue_overflow", Key::Read),
                ("shared_subscriptions", Key::Read),
                ("sys_interval", Key::Read),
                ("request_response", Key::Read),
                ("dynamic_timeout", Key::Read),
                ("trustlevel", Key::Read),
            ],
        );
        let mut m = MqttLimits::default();
        let mut ok = true;
        let mut read = |l: &mut Self, key: &str, min: u64, max: u64| -> Option<u64> {
            let v = obj.get(key)?;
            let n = l.uint(&child(path, key), v, min, max);
            ok &= n.is_some();
            n
        };
        // Every `as` below is bounded by the range just checked.
        if let Some(n) = read(self, "max_connections", 1, u64::from(u32::MAX)) {
            m.max_connections = n as usize;
        }
        if let Some(n) = read(
            self,
            "max_packet_size",
            16,
            MQTT_PROTOCOL_MAX_PACKET_SIZE as u64,
        ) {
            m.max_packet_size = n as usize;
        }
        if let Some(n) = read(self, "max_topic_length", 1, 65_535) {
            m.max_topic_length = n as usize;
        }
        if let Some(n) = read(self, "max_topic_levels", 1, 65_535) {
            m.max_topic_levels = n as usize;
        }
        if let Some(n) = read(self, "max_subscriptions", 1, u64::from(u32::MAX)) {
            m.max_subscriptions = n as usize;
        }
        if let Some(n) = read(self, "max_inflight", 1, 65_535) {
            m.max_inflight = n as u16;
        }
        if let Some(n) = read(self, "max_queued_messages", 0, u64::from(u32::MAX)) {
            m.max_queued_messages = n as usize;
        }
        if let Some(n) = read(self, "max_queued_bytes", 0, 1 << 30) {
            m.max_queued_bytes = n as usize;
        }
        if let Some(n) = read(self, "max_session_expiry", 0, u64::from(u32::MAX)) {
            m.max_session_expiry_s = n as u32;
        }
        if let Some(n) = read(self, "max_keep_alive", 1, 65_535) {
            m.max_keep_alive_s = n as u16;
        }
        if let Some(n) = read(self, "sys_interval", 0, 86_400) {
            m.sys_interval_s = n as u32;
        }
        if let Some(n) = read(self, "dynamic_timeout", 1, 3_600_000) {
            m.dynamic_timeout_ms = n;
        }
        if let Some(v) = obj.get("connect_timeout") {
            match self.millis(&child(path, "connect_timeout"), v) {
                Some(ms) => m.connect_timeout_ms = ms,
                None => ok = false,
            }
        }
        if let Some(v) = obj.get("request_response") {
            match self.boolean(&child(path, "request_response"), v) {
                Some(b) => m.request_response = b,
                None => ok = false,
            }
        }
        if let Some(v) = obj.get("queue_overflow") {
            let p = child(path, "queue_overflow");
            match self.string(&p, v).as_deref() {
                Some("drop_new") => m.queue_overflow = QueueOverflow::DropNew,
                Some("drop_oldest") => m.queue_overflow = QueueOverflow::DropOldest,
                Some(other) => {
                    self.error(
                        &p,
                        format!("\"{other}\" is not \"drop_new\" or \"drop_oldest\""),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(v) = obj.get("shared_subscriptions") {
            let p = child(path, "shared_subscriptions");
            match self.string(&p, v).as_deref() {
                Some("round_robin") => m.shared_strategy = SharedStrategy::RoundRobin,
                Some("random") => m.shared_strategy = SharedStrategy::Random,
                Some("sticky") => m.shared_strategy = SharedStrategy::Sticky,
                Some(other) => {
                    self.error(
                        &p,
                        format!("\"{other}\" is not \"round_robin\", \"random\" or \"sticky\""),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        let trustlevel = match obj.get("trustlevel") {
            Some(v) => match self.uint(&child(path, "trustlevel"), v, 0, u64::from(u32::MAX)) {
                Some(t) => Some(t),
                None => return None,
            },
            None => None,
        };
        if obj.contains_key("max_packet_size") && m.max_packet_size > limits.max_message_size {
            self.warn(
                &child(path, "max_packet_size"),
                &format!(
                    "{} is above junction.max_message_size; lowered to {}",
                    m.max_packet_size, limits.max_message_size
                ),
            );
        }
        ok.then_some((m, trustlevel))
    }

    /// A `universal` transport.
    pub(super) fn universal_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
    ) -> Option<UniversalTransport> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                ("rawsocket", Key::Read),
                ("websocket", Key::Read),
                ("mqtt", Key::Read),
                ("web", Key::Read),
            ],
        );
        let mut u = UniversalTransport::default();
        let mut ok = true;
        if let Some(v) = obj.get("rawsocket") {
            let p = child(path, "rawsocket");
            u.rawsocket = self
                .object(&p, v)
                .and_then(|o| self.rawsocket_service(&p, o, limits, Within::Listener));
            ok &= u.rawsocket.is_some();
        }
        if let Some(v) = obj.get("websocket") {
            let p = child(path, "websocket");
            match self.object(&p, v) {
                Some(map) => {
                    for (name, svc) in map {
                        let sp = child(&p, name);
                        if !is_web_path(name) {
                            self.error(
                                &sp,
                                format!(
                                    "invalid path \"{name}\" (\"/\" or letters, digits, _ and -)"
                                ),
                            );
                            ok = false;
                            continue;
                        }
                        let Some(sobj) = self.object(&sp, svc) else {
                            ok = false;
                            continue;
                        };
                        match self.required_str(&sp, sobj, "type").as_deref() {
                            Some("websocket") => {}
                            Some(other) => {
                                self.error(
                                    &child(&sp, "type"),
                                    format!("\"{other}\" is not \"websocket\" (use `web` for other services)"),
                                );
                                ok = false;
                                continue;
                            }
                            None => {
                                ok = false;
                                continue;
                            }
                        }
                        let http = if name == "/" {
                            "/".to_owned()
                        } else {
                            format!("/{name}")
                        };
                        match self.websocket_service(
                            &sp,
                            sobj,
                            limits,
                            Some(http),
                            Within::Listener,
                        ) {
                            Some(s) => {
                                u.websocket.insert(name.clone(), s);
                            }
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        if let Some(v) = obj.get("mqtt") {
            let p = child(path, "mqtt");
            u.mqtt = self
                .object(&p, v)
                .and_then(|o| self.mqtt_service(&p, o, limits, Within::Listener));
            ok &= u.mqtt.is_some();
        }
        if let Some(v) = obj.get("web") {
            let p = child(path, "web");
            u.web = self
                .object(&p, v)
                .and_then(|o| self.web_transport(&p, o, limits, Within::Listener));
            ok &= u.web.is_some();
        }
        if ok
            && u.rawsocket.is_none()
            && u.websocket.is_empty()
            && u.mqtt.is_none()
            && u.web.is_none()
        {
            self.warn(
                path,
                "serves nothing: give at least one of rawsocket, websocket, mqtt, web",
            );
        }
        ok.then_some(u)
    }
}

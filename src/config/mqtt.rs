//! MQTT services: an `mqtt` transport, the `mqtt` part of a `universal`
//! transport, or (Junction extension) an `mqtt` path of a `web` transport
//! (MQTT over WebSocket). Crossbar's `options` (realm, role, payload mapping,
//! authentication) and Junction's MQTT limits (`junction` object).
//!
//! Only types live here; `load/mqtt.rs` reads them.

use std::collections::BTreeMap;

use super::auth::AuthConfig;
use crate::proto::Serializer;

/// An MQTT service.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttService {
    /// `options.realm`: the realm MQTT clients join.
    pub realm: String,
    /// `options.role`: the role of MQTT clients when `auth` is not given
    /// (default `anonymous`).
    pub role: String,
    /// `options.payload_mapping`: WAMP URI prefix → payload format, the
    /// longest matching prefix applies. Default: `{"": passthrough}`.
    pub payload_mapping: BTreeMap<String, PayloadFormat>,
    /// `options.auth`: username/password map to `ticket`, a TLS client
    /// certificate to `tls`, neither to `anonymous`. Without `auth`:
    /// anonymous with [`role`](Self::role).
    pub auth: AuthConfig,
    /// Junction limits (`junction` object next to `options`).
    pub limits: MqttLimits,
    /// Junction extension `junction.trustlevel`: trust level of MQTT
    /// sessions whose role sets none.
    pub trustlevel: Option<u64>,
}

/// How payloads convert between MQTT (bytes) and WAMP (args/kwargs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `passthrough`: the MQTT payload travels untouched: as one binary
    /// argument (Junction's default, which every WAMP client reads), or
    /// with `junction.transparent` as Crossbar sends it, a
    /// payload-transparency event (`enc_algo: "mqtt"`, the bytes in place of
    /// the arguments) for clients with an Autobahn payload codec.
    Passthrough {
        /// `junction.transparent`.
        transparent: bool,
    },
    /// `native`: the MQTT payload is the serialized `[args, kwargs]`.
    Native {
        /// `serializer`.
        serializer: Serializer,
    },
    /// `dynamic`: procedures convert each way.
    Dynamic {
        /// `encoder`: WAMP → MQTT procedure.
        encoder: String,
        /// `decoder`: MQTT → WAMP procedure.
        decoder: String,
        /// `realm` the codec procedures are on; `None`: the service's realm.
        realm: Option<String>,
    },
}

impl PayloadFormat {
    /// `passthrough` as Junction sends it by default (one binary argument).
    pub const PASSTHROUGH: PayloadFormat = PayloadFormat::Passthrough { transparent: false };
}

/// Default [`MqttLimits::max_connections`].
pub const DEFAULT_MQTT_MAX_CONNECTIONS: usize = 1_000_000;
/// Default [`MqttLimits::max_packet_size`]: 1 MiB (EMQX's).
pub const DEFAULT_MQTT_MAX_PACKET_SIZE: usize = 1024 * 1024;
/// The protocol's largest packet: 256 MiB - 1.
pub const MQTT_PROTOCOL_MAX_PACKET_SIZE: usize = 268_435_455;

/// MQTT limits of one service (Junction extension, `junction` object of the
/// MQTT service). Every one is enforced; defaults follow mosquitto and EMQX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttLimits {
    /// `max_connections`: connections this listener holds at once (all
    /// shards together); further CONNECTs are refused (default 1 000 000).
    pub max_connections: usize,
    /// `max_packet_size`: largest packet accepted, in bytes; MQTT 5
    /// announces it as Maximum Packet Size (default 1 MiB, up to 256 MiB).
    pub max_packet_size: usize,
    /// `max_topic_length`: bytes of a topic name or filter (default 65 535).
    pub max_topic_length: usize,
    /// `max_topic_levels`: `/`-separated levels of a topic (default 128).
    pub max_topic_levels: usize,
    /// `max_subscriptions`: subscriptions one client holds (default 10 000).
    pub max_subscriptions: usize,
    /// `max_inflight`: unacknowledged QoS 1/2 messages to a client; MQTT 5
    /// announces it as Receive Maximum (default 32, EMQX's).
    pub max_inflight: u16,
    /// `max_queued_messages`: QoS 1/2 messages queued for an offline (or
    /// full in-flight) session (default 1000, mosquitto's and EMQX's).
    pub max_queued_messages: usize,
    /// `max_queued_bytes`: payload bytes queued per session (default 16 MiB).
    pub max_queued_bytes: usize,
    /// `max_session_expiry`: cap on a session's expiry interval in seconds
    /// (MQTT 5 Session Expiry Interval; 3.1.1 clean-session-0 sessions get
    /// this) (default 7200, EMQX's two hours).
    pub max_session_expiry_s: u32,
    /// `max_keep_alive`: cap on the client's keep-alive in seconds; a larger
    /// (or 0) request gets this as MQTT 5 Server Keep Alive (default 65 535,
    /// mosquitto's: no cap).
    pub max_keep_alive_s: u16,
    /// `connect_timeout`: ms from TCP accept to CONNECT before the
    /// connection is dropped (default 10 000).
    pub connect_timeout_ms: u64,
    /// `queue_overflow`: what a full session queue does with one more
    /// QoS 1/2 message (default `drop_new`, mosquitto's).
    pub queue_overflow: QueueOverflow,
    /// `shared_subscriptions`: how a `$share/{group}/{filter}` group picks the
    /// member that gets a message (default `round_robin`).
    pub shared_strategy: SharedStrategy,
    /// `sys_interval`: seconds between two `$SYS/` updates (0: no `$SYS/`
    /// topics; default 10, mosquitto's).
    pub sys_interval_s: u32,
    /// `request_response`: an MQTT 5 PUBLISH with a Response Topic is also
    /// a WAMP CALL of the procedure at the topic's URI, whose result is
    /// published to the Response Topic with the Correlation Data (default
    /// off).
    pub request_response: bool,
    /// `dynamic_timeout`: ms a `dynamic` payload mapping's encoder or
    /// decoder may take; a call that takes longer fails and its message is
    /// dropped (default 5000).
    pub dynamic_timeout_ms: u64,
}

/// What a full session queue (`max_queued_messages`, `max_queued_bytes`,
/// or the process-wide `mqtt_offline_store_bytes`) does with one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueOverflow {
    /// `drop_new`: the new message is dropped (counted).
    #[default]
    DropNew,
    /// `drop_oldest`: the oldest queued message is dropped to make room (counted).
    DropOldest,
}

/// How a shared-subscription group picks the member a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedStrategy {
    /// `round_robin`: each member in turn.
    #[default]
    RoundRobin,
    /// `random`: a member at random.
    Random,
    /// `sticky`: every message of one publisher goes to the same member
    /// while that member stays in the group (sticky by client).
    Sticky,
}

impl Default for MqttLimits {
    fn default() -> Self {
        MqttLimits {
            max_connections: DEFAULT_MQTT_MAX_CONNECTIONS,
            max_packet_size: DEFAULT_MQTT_MAX_PACKET_SIZE,
            max_topic_length: 65_535,
            max_topic_levels: 128,
            max_subscriptions: 10_000,
            max_inflight: 32,
            max_queued_messages: 1000,
            max_queued_bytes: 16 * 1024 * 1024,
            max_session_expiry_s: 7200,
            max_keep_alive_s: u16::MAX,
            connect_timeout_ms: 10_000,
            queue_overflow: QueueOverflow::DropNew,
            shared_strategy: SharedStrategy::RoundRobin,
            sys_interval_s: 10,
            request_response: false,
            dynamic_timeout_ms: 5000,
        }
    }
}

/// Default for [`crate::config::Limits::mqtt_offline_store_bytes`]: 1 GiB.
pub const DEFAULT_MQTT_OFFLINE_STORE_BYTES: u64 = 1 << 30;
/// Default for [`crate::config::Limits::mqtt_offline_store_sessions`]: 100 000.
pub const DEFAULT_MQTT_OFFLINE_STORE_SESSIONS: usize = 100_000;

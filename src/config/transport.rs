//! Listening transports: what each listener speaks ([`TransportKind`]),
//! where it listens ([`Endpoint`], with TLS), and the services it carries
//! ([`ServiceKind`]). The WAMP services themselves ([`WebSocketService`],
//! [`RawSocketService`]: serializers, options, authentication) are in
//! `wamp.rs`, web paths in `web.rs`, MQTT in `mqtt.rs`.
//!
//! [`TransportConfig::serializers`] and [`TransportConfig::auth`] are a copy,
//! for today's runtime, of the one WAMP service a listener serves (see
//! [`TransportKind::served_websocket`]); the full settings are in the kind.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::auth::AuthConfig;
use super::mqtt::MqttService;
use super::wamp::{RawSocketService, WampService, WebSocketService};
use super::web::{WebPaths, WebService, WebTransport};
use crate::proto::Serializer;
pub use crate::proto::websocket::deflate::DeflateParams;

/// A listening transport.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportConfig {
    /// Transport ID from the config (`id`), or a generated one, for logs.
    pub id: String,
    /// What the listener speaks, with every setting of its services.
    pub kind: TransportKind,
    /// Where to listen.
    pub endpoint: Endpoint,
    /// Serializers of the WAMP service today's runtime serves on this
    /// listener, in preference order: a copy of the kind's (see
    /// [`TransportKind::runtime_service`]); empty when there is none.
    pub serializers: Vec<Serializer>,
    /// The service's authentication methods and trust level: a copy of the
    /// kind's (see [`TransportKind::runtime_service`]).
    pub auth: TransportAuth,
    /// The realms (and roles) sessions of this transport may join; `None`:
    /// every realm of the router. Set where one Crossbar config becomes one
    /// Junction router but its clients reached only part of it: the
    /// transports of a second router worker serve only that worker's realms.
    pub routes: Option<RealmRoutes>,
}

/// The realms a transport's sessions may join, each with the roles they may
/// have there (`None`: every role of the realm).
pub type RealmRoutes = std::collections::BTreeMap<String, Option<Vec<String>>>;

impl TransportConfig {
    /// A transport whose [`serializers`](Self::serializers) and
    /// [`auth`](Self::auth) are derived from `kind`.
    pub fn new(id: String, kind: TransportKind, endpoint: Endpoint) -> TransportConfig {
        if let TransportKind::Mqtt(m) = &kind {
            let auth = TransportAuth {
                methods: m.auth.clone(),
                trustlevel: m.trustlevel,
            };
            return TransportConfig {
                id,
                kind,
                endpoint,
                serializers: Vec::new(),
                auth,
                routes: None,
            };
        }
        let (serializers, auth) = match kind.runtime_service() {
            Some(s) => (
                s.serializers.clone(),
                TransportAuth {
                    methods: s.auth.clone(),
                    trustlevel: s.trustlevel,
                },
            ),
            None => (
                Vec::new(),
                TransportAuth {
                    methods: AuthConfig::none(),
                    trustlevel: None,
                },
            ),
        };
        TransportConfig {
            id,
            kind,
            endpoint,
            serializers,
            auth,
            routes: None,
        }
    }

    /// The config a connection to one of this listener's services runs
    /// with: `kind` on this transport's ID and endpoint, with its
    /// [`routes`](Self::routes).
    pub fn service(&self, kind: TransportKind) -> TransportConfig {
        TransportConfig {
            routes: self.routes.clone(),
            ..TransportConfig::new(self.id.clone(), kind, self.endpoint.clone())
        }
    }

    /// Whether sessions of this transport may join `realm`.
    pub fn serves_realm(&self, realm: &str) -> bool {
        self.routes.as_ref().is_none_or(|r| r.contains_key(realm))
    }

    /// Whether sessions of this transport may join `realm` with `role`.
    pub fn serves_role(&self, realm: &str, role: &str) -> bool {
        match &self.routes {
            None => true,
            Some(r) => match r.get(realm) {
                None => false,
                Some(None) => true,
                Some(Some(roles)) => roles.iter().any(|x| x == role),
            },
        }
    }
}

/// The protocol(s) a transport speaks.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per listener and shared behind an Rc; boxing would only make configs noisier to build"
)]
pub enum TransportKind {
    /// WebSocket (`websocket` transport).
    WebSocket(WebSocketService),
    /// RawSocket (`rawsocket`).
    RawSocket(RawSocketService),
    /// HTTP with services by path (`web`), WebSocket among them.
    Web(WebTransport),
    /// MQTT (`mqtt`).
    Mqtt(MqttService),
    /// One port, protocol chosen by the first bytes (`universal`).
    Universal(UniversalTransport),
}

impl TransportKind {
    /// `websocket`, `rawsocket`, `web`, `mqtt` or `universal`.
    pub fn name(&self) -> &'static str {
        match self {
            TransportKind::WebSocket(_) => "websocket",
            TransportKind::RawSocket(_) => "rawsocket",
            TransportKind::Web(_) => "web",
            TransportKind::Mqtt(_) => "mqtt",
            TransportKind::Universal(_) => "universal",
        }
    }

    /// The WebSocket service today's runtime serves on this listener: a
    /// `websocket` transport's, or a `web` transport's when its only path is
    /// a websocket path (the one web case served before the HTTP server).
    pub fn served_websocket(&self) -> Option<&WebSocketService> {
        match self {
            TransportKind::WebSocket(s) => Some(s),
            TransportKind::Web(w) => match w.paths.values().collect::<Vec<_>>().as_slice() {
                [WebService::WebSocket(s)] => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The WAMP service whose serializers and authentication today's
    /// runtime reads from [`TransportConfig`]: a `rawsocket` transport's, or
    /// [`served_websocket`](Self::served_websocket)'s, else the first
    /// websocket path of a `web` transport.
    pub fn runtime_service(&self) -> Option<&WampService> {
        match self {
            TransportKind::RawSocket(s) => Some(&s.wamp),
            TransportKind::Web(w) => first_websocket(&w.paths).map(|s| &s.wamp),
            other => other.served_websocket().map(|s| &s.wamp),
        }
    }
}

/// The kinds of service a listener has.
#[derive(Debug, Clone, Copy)]
pub enum ServiceKind<'a> {
    /// WAMP over WebSocket.
    WebSocket(&'a WebSocketService),
    /// WAMP over RawSocket.
    RawSocket(&'a RawSocketService),
    /// MQTT (over TCP, or over WebSocket on a web path).
    Mqtt(&'a MqttService),
    /// Any other web path service (a `path` service is listed, and so is
    /// each service nested in it).
    Http(&'a WebService),
}

impl TransportKind {
    /// Every service of the listener, depth first, in key order.
    pub fn services(&self) -> Vec<(String, ServiceKind<'_>)> {
        let mut out = Vec::new();
        match self {
            TransportKind::WebSocket(s) => out.push((String::new(), ServiceKind::WebSocket(s))),
            TransportKind::RawSocket(s) => out.push((String::new(), ServiceKind::RawSocket(s))),
            TransportKind::Mqtt(s) => out.push((String::new(), ServiceKind::Mqtt(s))),
            TransportKind::Web(w) => web_services("paths", &w.paths, &mut out),
            TransportKind::Universal(u) => {
                if let Some(s) = &u.rawsocket {
                    out.push(("rawsocket".to_owned(), ServiceKind::RawSocket(s)));
                }
                for (name, s) in &u.websocket {
                    out.push((format!("websocket.{name}"), ServiceKind::WebSocket(s)));
                }
                if let Some(s) = &u.mqtt {
                    out.push(("mqtt".to_owned(), ServiceKind::Mqtt(s)));
                }
                if let Some(w) = &u.web {
                    web_services("web.paths", &w.paths, &mut out);
                }
            }
        }
        out
    }
}

fn web_services<'a>(at: &str, paths: &'a WebPaths, out: &mut Vec<(String, ServiceKind<'a>)>) {
    for (name, s) in paths {
        let p = format!("{at}.{name}");
        match s {
            WebService::WebSocket(ws) => out.push((p, ServiceKind::WebSocket(ws))),
            WebService::Mqtt(m) => out.push((p, ServiceKind::Mqtt(m))),
            WebService::Path(nested) => {
                out.push((p.clone(), ServiceKind::Http(s)));
                web_services(&format!("{p}.paths"), nested, out);
            }
            other => out.push((p, ServiceKind::Http(other))),
        }
    }
}

/// The first websocket service of `paths`: of the top level first, in key
/// order, else of the nested paths.
fn first_websocket(paths: &WebPaths) -> Option<&WebSocketService> {
    let top = paths.values().find_map(|s| match s {
        WebService::WebSocket(ws) => Some(ws),
        _ => None,
    });
    top.or_else(|| {
        paths.values().find_map(|s| match s {
            WebService::Path(nested) => first_websocket(nested),
            _ => None,
        })
    })
}

/// A `universal` transport: one port where the first bytes choose the
/// protocol (RawSocket magic `0x7F`, MQTT CONNECT `0x10`, else HTTP).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UniversalTransport {
    /// `rawsocket`: the RawSocket service.
    pub rawsocket: Option<RawSocketService>,
    /// `websocket`: WebSocket services by path key (HTTP upgrades on these paths).
    pub websocket: BTreeMap<String, WebSocketService>,
    /// `mqtt`: the MQTT service.
    pub mqtt: Option<MqttService>,
    /// `web`: HTTP services by path (and web options).
    pub web: Option<WebTransport>,
}

/// Where a transport listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP on `host:port` (port 0 picks a free port).
    Tcp {
        /// Interface address or host name.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket at `path`.
    Unix {
        /// Socket path.
        path: PathBuf,
    },
    /// TCP with TLS (a `tcp` endpoint with `tls`).
    TcpTls {
        /// Interface address or host name.
        host: String,
        /// Port.
        port: u16,
        /// Keys, certificates and protocol settings.
        tls: Box<TlsConfig>,
    },
}

impl Endpoint {
    /// `(host, port)` of a TCP endpoint, with or without TLS.
    pub fn tcp(&self) -> Option<(&str, u16)> {
        match self {
            Endpoint::Tcp { host, port } | Endpoint::TcpTls { host, port, .. } => {
                Some((host, *port))
            }
            Endpoint::Unix { .. } => None,
        }
    }

    /// The TLS settings, if the endpoint has TLS.
    pub fn tls(&self) -> Option<&TlsConfig> {
        match self {
            Endpoint::TcpTls { tls, .. } => Some(tls),
            _ => None,
        }
    }
}

/// TLS on a listening endpoint (Crossbar's `endpoint.tls`). Every path is
/// resolved against the node directory, as Crossbar does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `key`: the server's private key (PEM).
    pub key: PathBuf,
    /// `certificate`: the server's certificate (PEM).
    pub certificate: PathBuf,
    /// `chain_certificates`: intermediate certificates sent after `certificate`.
    pub chain_certificates: Vec<PathBuf>,
    /// `ca_certificates`: CAs that client certificates are verified against.
    pub ca_certificates: Vec<PathBuf>,
    /// `dhparam`: Diffie-Hellman parameters for DHE cipher suites.
    pub dhparam: Option<PathBuf>,
    /// `ciphers`: an OpenSSL cipher list, split at `:`; `None`: safe defaults.
    pub ciphers: Option<Vec<String>>,
    /// Junction extension `junction.client_certificates`: whether clients
    /// must present a certificate. Default: `Required` when
    /// `ca_certificates` is given (Crossbar's behaviour), else `None`.
    pub client_certificates: ClientCertificates,
    /// Junction extension `junction.min_version`: the oldest TLS version
    /// accepted (default 1.2; Crossbar allows 1.1).
    pub min_version: TlsVersion,
    /// Junction extension `junction.handshake_timeout`: milliseconds a
    /// client has to complete its TLS handshake (default 10 s).
    pub handshake_timeout_ms: u64,
}

/// Default for [`TlsConfig::handshake_timeout_ms`]: 10 s.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Whether a TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificates {
    /// Not asked for.
    None,
    /// Asked for; a client without one may still connect.
    Optional,
    /// A client without a certificate the CAs vouch for is refused.
    Required,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Today's runtime's view of a transport's authentication (see
/// [`TransportConfig::auth`]): a copy of the served WAMP service's `auth`
/// and trust level, which the routing core builds its authenticators from.
/// The default: anonymous with role `anonymous`, no trust level.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransportAuth {
    /// The service's authentication methods (its `auth` object).
    pub methods: AuthConfig,
    /// Trust level of sessions joined over this transport (transport
    /// `"junction": {"trustlevel": N}`), used when their role sets none.
    pub trustlevel: Option<u64>,
}

impl TransportAuth {
    /// The role of static anonymous authentication, if it is allowed.
    pub fn anonymous_role(&self) -> Option<&str> {
        self.methods.anonymous_role()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::wamp::WebSocketOptions;

    fn ws(path: &str, serializers: &[Serializer]) -> WebSocketService {
        WebSocketService {
            options: WebSocketOptions {
                path: Some(path.to_owned()),
                ..WebSocketOptions::default()
            },
            wamp: WampService {
                serializers: serializers.to_vec(),
                ..WampService::default()
            },
            cookie: None,
        }
    }

    #[test]
    fn one_websocket_path_is_served_and_copied_to_the_runtime_fields() {
        let mut paths = WebPaths::new();
        paths.insert(
            "ws".into(),
            WebService::WebSocket(ws("/ws", &[Serializer::Cbor])),
        );
        let kind = TransportKind::Web(WebTransport {
            paths,
            ..WebTransport::default()
        });
        assert_eq!(
            kind.served_websocket()
                .and_then(|s| s.options.path.as_deref()),
            Some("/ws")
        );
        let t = TransportConfig::new(
            "t".into(),
            kind,
            Endpoint::Tcp {
                host: "::".into(),
                port: 1,
            },
        );
        assert_eq!(t.serializers, vec![Serializer::Cbor]);
        assert_eq!(t.auth, TransportAuth::default());
    }

    #[test]
    fn two_paths_are_not_served_but_the_first_websocket_is_the_runtime_view() {
        let mut nested = WebPaths::new();
        nested.insert(
            "b".into(),
            WebService::WebSocket(ws("/a/b", &[Serializer::Json])),
        );
        let mut paths = WebPaths::new();
        paths.insert("a".into(), WebService::Path(nested));
        paths.insert("z".into(), WebService::NodeInfo);
        let kind = TransportKind::Web(WebTransport {
            paths,
            ..WebTransport::default()
        });
        assert!(kind.served_websocket().is_none());
        assert_eq!(
            kind.runtime_service().map(|s| s.serializers.clone()),
            Some(vec![Serializer::Json])
        );
        let mqtt = TransportConfig::new(
            "m".into(),
            TransportKind::Universal(UniversalTransport::default()),
            Endpoint::Unix {
                path: "/tmp/x".into(),
            },
        );
        assert!(mqtt.serializers.is_empty());
        assert_eq!(mqtt.auth.anonymous_role(), None);
    }

    #[test]
    fn endpoint_accessors() {
        let plain = Endpoint::Tcp {
            host: "h".into(),
            port: 1,
        };
        assert_eq!(plain.tcp(), Some(("h", 1)));
        assert!(plain.tls().is_none());
        let tls = Endpoint::TcpTls {
            host: "h".into(),
            port: 2,
            tls: Box::new(TlsConfig {
                key: "k".into(),
                certificate: "c".into(),
                chain_certificates: vec![],
                ca_certificates: vec![],
                dhparam: None,
                ciphers: None,
                client_certificates: ClientCertificates::None,
                min_version: TlsVersion::Tls12,
                handshake_timeout_ms: DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
            }),
        };
        assert_eq!(tls.tcp(), Some(("h", 2)));
        assert_eq!(tls.tls().map(|t| t.key.clone()), Some("k".into()));
        assert_eq!(Endpoint::Unix { path: "/x".into() }.tcp(), None);
    }
}

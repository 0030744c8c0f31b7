//! Target URLs: which protocol, over which socket.
//!
//! | URL | protocol | socket |
//! |---|---|---|
//! | `ws://host:port/path` | WAMP over WebSocket | TCP |
//! | `rs://host:port` | WAMP over RawSocket | TCP |
//! | `unix:///path/to.sock` (or `rs+unix://`, as Junction logs it) | WAMP over RawSocket | Unix |
//! | `ws+unix:///path/to.sock` | WAMP over WebSocket (request path `/`, or `?path=/ws`) | Unix |
//! | `mqtt://host:port` | MQTT 3.1.1 | TCP |
//! | `wss://`, `rss://`, `mqtts://` | the same over TLS (the server's certificate is not checked) | TCP |

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, bail};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP address, with TLS to the server name given.
    TcpTls(SocketAddr, String),
}

/// The protocol spoken on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// WAMP over WebSocket; the HTTP request URL to send.
    Ws {
        /// `ws://host:port/path` as sent in the opening handshake.
        request_url: String,
    },
    /// WAMP over RawSocket.
    RawSocket,
    /// MQTT 3.1.1.
    Mqtt,
}

/// A parsed `--url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The protocol.
    pub proto: Proto,
    /// The socket address.
    pub endpoint: Endpoint,
}

impl Target {
    /// Parses a URL (see the module docs for the forms).
    ///
    /// # Errors
    /// An unknown scheme, a missing port or an unresolvable host.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let (scheme, rest) = url
            .split_once("://")
            .with_context(|| format!("URL without scheme: {url}"))?;
        if let Some(plain) = scheme.strip_suffix('s')
            && matches!(plain, "ws" | "rs" | "mqtt")
        {
            let mut t = Target::parse(&format!("{plain}://{rest}"))?;
            let Endpoint::Tcp(addr) = t.endpoint else {
                bail!("TLS is for TCP targets");
            };
            let hostport = rest.split('/').next().unwrap_or(rest);
            let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
            t.endpoint = Endpoint::TcpTls(addr, host.trim_matches(['[', ']']).to_owned());
            return Ok(t);
        }
        match scheme {
            "ws" => {
                let (hostport, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                Ok(Target {
                    proto: Proto::Ws {
                        request_url: format!("ws://{hostport}{path}"),
                    },
                    endpoint: Endpoint::Tcp(resolve(hostport)?),
                })
            }
            "rs" | "tcp" | "rawsocket" => Ok(Target {
                proto: Proto::RawSocket,
                endpoint: Endpoint::Tcp(resolve(rest.trim_end_matches('/'))?),
            }),
            "mqtt" => Ok(Target {
                proto: Proto::Mqtt,
                endpoint: Endpoint::Tcp(resolve(rest.trim_end_matches('/'))?),
            }),
            "unix" | "rs+unix" => Ok(Target {
                proto: Proto::RawSocket,
                endpoint: Endpoint::Unix(unix_path(rest)?),
            }),
            "ws+unix" => {
                let (path, ws_path) = match rest.split_once("?path=") {
                    Some((p, w)) => (p, w),
                    None => (rest, "/"),
                };
                Ok(Target {
                    proto: Proto::Ws {
                        request_url: format!("ws://localhost{ws_path}"),
                    },
                    endpoint: Endpoint::Unix(unix_path(path)?),
                })
            }
            other => bail!(
                "unsupported URL scheme {other:?} (ws, rs, unix, ws+unix, mqtt, wss, rss, mqtts)"
            ),
        }
    }

    /// Whether the target speaks MQTT.
    pub fn is_mqtt(&self) -> bool {
        self.proto == Proto::Mqtt
    }
}

fn unix_path(p: &str) -> anyhow::Result<PathBuf> {
    if !p.starts_with('/') {
        bail!("unix socket path must be absolute (unix:///path): {p}");
    }
    Ok(PathBuf::from(p))
}

fn resolve(hostport: &str) -> anyhow::Result<SocketAddr> {
    hostport
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {hostport:?} (host:port expected)"))?
        .next()
        .with_context(|| format!("{hostport:?} resolves to nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let t = Target::parse("ws://127.0.0.1:8080/ws").expect("ws");
        assert_eq!(
            t.proto,
            Proto::Ws {
                request_url: "ws://127.0.0.1:8080/ws".into()
            }
        );
        assert_eq!(
            t.endpoint,
            Endpoint::Tcp("127.0.0.1:8080".parse().expect("addr"))
        );
        let t = Target::parse("rs://127.0.0.1:8081").expect("rs");
        assert_eq!(t.proto, Proto::RawSocket);
        let t = Target::parse("wss://localhost:8443/ws").expect("wss");
        assert_eq!(
            t.proto,
            Proto::Ws {
                request_url: "ws://localhost:8443/ws".into()
            }
        );
        assert!(
            matches!(&t.endpoint, Endpoint::TcpTls(a, name) if a.port() == 8443 && name == "localhost")
        );
        let t = Target::parse("mqtts://127.0.0.1:8883").expect("mqtts");
        assert_eq!(t.proto, Proto::Mqtt);
        assert!(matches!(&t.endpoint, Endpoint::TcpTls(_, name) if name == "127.0.0.1"));
        assert_eq!(
            Target::parse("rs+unix:///tmp/j.sock").expect("rs+unix"),
            Target::parse("unix:///tmp/j.sock").expect("unix")
        );
        let t = Target::parse("unix:///tmp/j.sock").expect("unix");
        assert_eq!(t.endpoint, Endpoint::Unix("/tmp/j.sock".into()));
        assert_eq!(t.proto, Proto::RawSocket);
        let t = Target::parse("ws+unix:///tmp/j.sock?path=/ws").expect("ws+unix");
        assert_eq!(t.endpoint, Endpoint::Unix("/tmp/j.sock".into()));
        assert_eq!(
            t.proto,
            Proto::Ws {
                request_url: "ws://localhost/ws".into()
            }
        );
        assert!(
            Target::parse("mqtt://127.0.0.1:1883")
                .expect("mqtt")
                .is_mqtt()
        );
        assert!(Target::parse("http://x:1").is_err());
        assert!(Target::parse("unix://relative").is_err());
        assert!(Target::parse("rs://127.0.0.1").is_err());
    }
}

//! A link's peer, kept compact: every link keeps one for its whole life
//! (logs, the session meta API, the failed-login limit), so a TCP peer is
//! its socket address (formatted as `tcp4:…`/`tcp6:…` on demand, not kept
//! as text beside the address), and the fixed names (`unix`, `internal`,
//! ...) take no allocation. An IPv4 peer (every connection of the
//! benchmarks, most in practice) is kept inline in 16 bytes; an IPv6
//! address (28 bytes with its flow label and scope) or other text is boxed.
//!
//! Imports nothing of the core.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The names a front end gives a peer that has no address.
const NAMES: [&str; 6] = ["unix", "internal", "http-bridge", "tcp", "tls", "testee"];

/// Where a link comes from: `tcp4:127.0.0.1:5000`, `tcp6:::1:5000`,
/// `unix`, `internal`, or any other text a front end gave (16 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Peer(Repr);

/// How a [`Peer`] is kept.
#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// A TCP peer over IPv4: address and port.
    V4([u8; 4], u16),
    /// A fixed name: its index in [`NAMES`].
    Name(u8),
    /// Anything else (boxed: rare).
    Other(Box<Other>),
}

/// A [`Peer`] that is neither IPv4 nor a fixed name.
#[derive(Clone, PartialEq, Eq)]
enum Other {
    /// A TCP peer over IPv6.
    Tcp(SocketAddr),
    /// Any other text.
    Text(Box<str>),
}

impl Peer {
    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Peer {
        match addr {
            SocketAddr::V4(a) => Peer(Repr::V4(a.ip().octets(), a.port())),
            v6 => Peer(Repr::Other(Box::new(Other::Tcp(v6)))),
        }
    }

    /// The fixed name of this peer, if it has one (`unix`, `internal`, ...).
    pub fn name(&self) -> Option<&'static str> {
        match self.0 {
            Repr::Name(i) => Some(NAMES[usize::from(i)]),
            _ => None,
        }
    }
}

impl Peer {
    /// The peer of `text` as front ends write it: a `tcp4:`/`tcp6:` address
    /// that reads back the same is kept as the address, a known name as
    /// itself, anything else as text.
    pub fn parse(text: &str) -> Peer {
        if let Some(addr) = tcp_addr(text) {
            let peer = Peer::tcp(addr);
            // Only what formats back to the very same text is kept parsed.
            if peer.to_string() == text {
                return peer;
            }
        }
        match NAMES.iter().position(|n| *n == text) {
            Some(i) => Peer(Repr::Name(i as u8)),
            None => Peer(Repr::Other(Box::new(Other::Text(text.into())))),
        }
    }

    /// The socket address, for a TCP peer (also one kept as text, such as
    /// `tcp6:[::1]:5000`).
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.0 {
            Repr::V4(ip, port) => Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(*ip),
                *port,
            ))),
            Repr::Other(o) => match &**o {
                Other::Tcp(a) => Some(*a),
                Other::Text(t) => tcp_addr(t),
            },
            Repr::Name(_) => None,
        }
    }
}

/// The address of `tcp4:IP:PORT` / `tcp6:IP:PORT` (the IP possibly in brackets).
fn tcp_addr(text: &str) -> Option<SocketAddr> {
    let rest = text
        .strip_prefix("tcp4:")
        .or_else(|| text.strip_prefix("tcp6:"))?;
    let (ip, port) = rest.rsplit_once(':')?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::V4(ip, port) => write!(f, "tcp4:{}:{port}", Ipv4Addr::from(*ip)),
            Repr::Name(i) => f.write_str(NAMES[usize::from(*i)]),
            Repr::Other(o) => match &**o {
                Other::Tcp(SocketAddr::V4(a)) => write!(f, "tcp4:{}:{}", a.ip(), a.port()),
                Other::Tcp(SocketAddr::V6(a)) => write!(f, "tcp6:{}:{}", a.ip(), a.port()),
                Other::Text(t) => f.write_str(t),
            },
        }
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl From<&str> for Peer {
    fn from(text: &str) -> Peer {
        Peer::parse(text)
    }
}

impl From<String> for Peer {
    fn from(text: String) -> Peer {
        Peer::parse(&text)
    }
}

impl From<&String> for Peer {
    fn from(text: &String) -> Peer {
        Peer::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_read_back_as_written() {
        for text in [
            "tcp4:127.0.0.1:5000",
            "tcp6:::1:5000",
            "tcp6:fe80::1:443",
            "unix",
            "internal",
            "http-bridge",
            "tcp",
            "tcp4:127.0.0.1:x",
            "tcp4:127.000.0.1:5",
            "somewhere else",
        ] {
            assert_eq!(Peer::parse(text).to_string(), text, "{text}");
        }
    }

    #[test]
    fn tcp_peers_keep_the_address_and_names_allocate_nothing() {
        let p = Peer::parse("tcp4:192.0.2.7:1");
        assert_eq!(p.addr(), Some("192.0.2.7:1".parse().expect("addr")));
        assert_eq!(
            Peer::parse("tcp6:::1:2").addr(),
            Some("[::1]:2".parse().expect("addr"))
        );
        assert!(
            matches!(Peer::parse("tcp4:192.0.2.7:1").0, Repr::V4(..)),
            "inline"
        );
        assert!(
            matches!(Peer::parse("tcp6:::1:2").0, Repr::Other(_)),
            "boxed"
        );
        assert_eq!(Peer::parse("unix").name(), Some("unix"));
        assert!(matches!(Peer::parse("unix").0, Repr::Name(_)));
        // Not the same text once formatted (leading zeros): kept as text.
        let p = Peer::parse("tcp4:127.000.0.1:5");
        assert!(matches!(&p.0, Repr::Other(o) if matches!(**o, Other::Text(_))));
        assert_eq!(Peer::parse("unix").addr(), None);
    }

    #[test]
    fn a_peer_is_smaller_than_the_text_and_address_it_replaces() {
        let before = std::mem::size_of::<String>() + std::mem::size_of::<Option<SocketAddr>>();
        // 16: an IPv4 address and port inline, a box for the rest (32 when
        // every peer kept a `SocketAddr`, whose IPv6 form is 28 bytes).
        assert!(
            std::mem::size_of::<Peer>() <= 16,
            "{}",
            std::mem::size_of::<Peer>()
        );
        assert!(std::mem::size_of::<Peer>() < before);
    }
}

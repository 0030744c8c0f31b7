//! A link's peer, kept compact: every link keeps one for its whole life
//! (logs, the session meta API, the failed-login limit), so a TCP peer is
//! its socket address (formatted as `tcp4:…`/`tcp6:…` on demand, not kept
//! as text beside the address), and the fixed names (`unix`, `internal`,
//! ...) take no allocation.
//!
//! Imports nothing of the core.

use std::fmt;
use std::net::SocketAddr;

/// The names a front end gives a peer that has no address.
const NAMES: [&str; 6] = ["unix", "internal", "http-bridge", "tcp", "tls", "testee"];

/// Where a link comes from: `tcp4:127.0.0.1:5000`, `tcp6:::1:5000`,
/// `unix`, `internal`, or any other text a front end gave.
#[derive(Clone, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer (written `tcp4:IP:PORT` or `tcp6:IP:PORT`).
    Tcp(SocketAddr),
    /// A fixed name (`unix`, `internal`, ...).
    Name(&'static str),
    /// Any other text.
    Text(Box<str>),
}

impl Peer {
    /// The peer of `text` as front ends write it: a `tcp4:`/`tcp6:` address
    /// that reads back the same is kept as the address, a known name as
    /// itself, anything else as text.
    pub fn parse(text: &str) -> Peer {
        if let Some(addr) = tcp_addr(text) {
            let peer = Peer::Tcp(addr);
            // Only what formats back to the very same text is kept parsed.
            if peer.to_string() == text {
                return peer;
            }
        }
        match NAMES.iter().find(|n| **n == text) {
            Some(n) => Peer::Name(n),
            None => Peer::Text(text.into()),
        }
    }

    /// The socket address, for a TCP peer (also one kept as text, such as
    /// `tcp6:[::1]:5000`).
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Peer::Tcp(a) => Some(*a),
            Peer::Text(t) => tcp_addr(t),
            Peer::Name(_) => None,
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
        match self {
            Peer::Tcp(SocketAddr::V4(a)) => write!(f, "tcp4:{}:{}", a.ip(), a.port()),
            Peer::Tcp(SocketAddr::V6(a)) => write!(f, "tcp6:{}:{}", a.ip(), a.port()),
            Peer::Name(n) => f.write_str(n),
            Peer::Text(t) => f.write_str(t),
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
        assert!(matches!(Peer::parse("unix"), Peer::Name("unix")));
        // Not the same text once formatted (leading zeros): kept as text.
        assert!(matches!(Peer::parse("tcp4:127.000.0.1:5"), Peer::Text(_)));
        assert_eq!(Peer::parse("unix").addr(), None);
    }

    #[test]
    fn a_peer_is_smaller_than_the_text_and_address_it_replaces() {
        let before = std::mem::size_of::<String>() + std::mem::size_of::<Option<SocketAddr>>();
        assert!(
            std::mem::size_of::<Peer>() <= 32,
            "{}",
            std::mem::size_of::<Peer>()
        );
        assert!(std::mem::size_of::<Peer>() < before);
    }
}

//! The web server's WebSocket side over real sockets: several websocket
//! paths on one port, what links keep of the upgrade request, and the HTTP
//! side of a universal transport. The harness is in `tests.rs`.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;

use rstest::rstest;

use super::tests::{
    closed, connect, get, read_resp, req, site, static_service, tree, web, with_server,
    with_server_on, ws_service,
};
use crate::config::auth::CookieConfig;
use crate::config::web::{HttpLimits, WebPaths, WebService, WebTransport};
use crate::config::{Endpoint, TransportConfig, TransportKind, WebSocketOptions, WebSocketService};
use crate::proto::Serializer;
use crate::transport::testutil::Io;

/// A client frame (masked).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one (short, unmasked) server frame.
fn read_frame(c: &mut BufReader<TcpStream>) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    c.read_exact(&mut h).expect("frame header");
    let mut p = vec![0u8; usize::from(h[1] & 0x7F)];
    c.read_exact(&mut p).expect("payload");
    (h[0] & 0x0F, p)
}

fn upgrade(path: &str, protocol: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocol}\r\n{extra}\r\n"
    )
}

#[rstest]
fn websocket_on_several_paths_each_with_its_serializers(
    #[values(Io::Uring, Io::Readiness)] io: Io,
) {
    let t = tree();
    let (seen, ()) = with_server_on(io, web(site(&t, |_| {}), HttpLimits::default()), |addr| {
        // Static requests first on the same connection, then the upgrade,
        // with a first frame in the same write.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        let mut bytes = upgrade("/ws1", "wamp.2.json", "").into_bytes();
        bytes.extend(client_frame(1, b"[1]"));
        c.get_mut().write_all(&bytes).expect("write");
        let r = read_resp(&mut c, true);
        assert_eq!(r.status, 101);
        assert_eq!(r.header("sec-websocket-protocol"), Some("wamp.2.json"));
        assert_eq!(
            r.header("sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(read_frame(&mut c), (1, b"[1]".to_vec()));
        c.get_mut()
            .write_all(&client_frame(8, &[0x03, 0xE8]))
            .expect("close");
        assert_eq!(read_frame(&mut c).0, 8);
        // ws2 speaks MessagePack only.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(upgrade("/ws2", "wamp.2.json", "").as_bytes())
            .expect("write");
        let r = read_resp(&mut c, false);
        assert_eq!(r.status, 400);
        assert!(r.text().contains("wamp.2.msgpack"), "{}", r.text());
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(upgrade("/ws2/", "wamp.2.json, wamp.2.msgpack", "").as_bytes())
            .expect("write");
        let r = read_resp(&mut c, true);
        assert_eq!(r.header("sec-websocket-protocol"), Some("wamp.2.msgpack"));
        c.get_mut()
            .write_all(&client_frame(2, b"\x91\x01"))
            .expect("frame");
        assert_eq!(read_frame(&mut c), (2, b"\x91\x01".to_vec()));
        c.get_mut().write_all(&client_frame(8, &[])).expect("close");
        assert_eq!(read_frame(&mut c).0, 8);
        // A plain GET of a WebSocket path: 426, and the connection goes on.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(req("/ws1").as_bytes())
            .expect("write");
        let r = read_resp(&mut c, false);
        assert_eq!(r.status, 426);
        assert_eq!(r.header("upgrade"), Some("websocket"));
        c.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        // An upgrade offer on a static path is answered as a plain request.
        c.get_mut()
            .write_all(upgrade("/hello.txt", "wamp.2.json", "").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, false).text(), "hello, world\n");
        // A broken upgrade: 400 and close.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"GET /ws1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .expect("write");
        let r = read_resp(&mut c, false);
        assert_eq!(r.status, 400);
        assert!(r.text().contains("Sec-WebSocket-Key"), "{}", r.text());
        assert!(closed(&mut c));
    });
    assert_eq!(seen.links.len(), 2);
    assert_eq!(seen.links[0].0, vec![Serializer::Json]);
    assert_eq!(seen.links[1].0, vec![Serializer::MsgPack]);
    assert!(
        seen.links.iter().all(|(_, http)| http.is_none()),
        "nothing kept"
    );
    // Every connection's hooks were closed once: 2 sessions + 3 plain ones.
    assert_eq!(seen.closed, 2 + 3);
}

#[test]
fn links_keep_the_tracking_cookie_only_when_configured() {
    let mut service = WebSocketService {
        options: WebSocketOptions {
            path: Some("/ws".into()),
            ..WebSocketOptions::default()
        },
        cookie: Some(CookieConfig {
            name: "cbtid".into(),
            ..CookieConfig::default()
        }),
        ..WebSocketService::default()
    };
    service.wamp.serializers = vec![Serializer::Json];
    let mut paths = WebPaths::new();
    paths.insert("ws".into(), WebService::WebSocket(service));
    let (seen, ()) = with_server(web(paths, HttpLimits::default()), |addr| {
        let mut c = connect(&addr);
        let cookie = "Cookie: theme=dark; cbtid=abc123\r\nUser-Agent: t\r\n";
        c.get_mut()
            .write_all(upgrade("/ws?x=1", "wamp.2.json", cookie).as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, true).status, 101);
        c.get_mut().write_all(&client_frame(8, &[])).expect("close");
        assert_eq!(read_frame(&mut c).0, 8);
    });
    let http = seen.links[0].1.as_ref().expect("http info kept");
    assert_eq!(http.path, "/ws");
    assert_eq!(
        http.cookies,
        vec![("cbtid".to_owned(), "abc123".to_owned())]
    );
    assert!(
        http.headers.is_empty(),
        "no dynamic authenticator: no headers"
    );
}

#[test]
fn a_universal_transport_serves_http_through_the_web_server() {
    use crate::config::UniversalTransport;
    let t = tree();
    let mut paths = WebPaths::new();
    paths.insert("/".into(), static_service(&t.www, |_| {}));
    let WebService::WebSocket(ws) = ws_service("/ws", &[Serializer::Json]) else {
        unreachable!("a websocket service")
    };
    let universal = TransportConfig::new(
        "u".to_owned(),
        TransportKind::Universal(UniversalTransport {
            websocket: BTreeMap::from([("ws".to_owned(), ws)]),
            web: Some(WebTransport {
                paths,
                ..WebTransport::default()
            }),
            ..UniversalTransport::default()
        }),
        Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port: 0,
        },
    );
    let (seen, ()) = with_server(universal, |addr| {
        assert_eq!(get(&addr, &req("/hello.txt")).text(), "hello, world\n");
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(upgrade("/ws", "wamp.2.json", "").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, true).status, 101);
        c.get_mut()
            .write_all(&client_frame(1, b"[7]"))
            .expect("frame");
        assert_eq!(read_frame(&mut c), (1, b"[7]".to_vec()));
        c.get_mut().write_all(&client_frame(8, &[])).expect("close");
        assert_eq!(read_frame(&mut c).0, 8);
    });
    assert_eq!(seen.links.len(), 1);
}

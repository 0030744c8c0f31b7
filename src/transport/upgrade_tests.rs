//! Subprotocol and path matching; permessage-deflate over real sockets, and
//! the testee's echo.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;

use super::{negotiate_subprotocol, path_matches};
use crate::config::{DeflateParams, WebSocketOptions};
use crate::proto::Serializer;
use crate::proto::websocket::deflate::{Deflater, Inflater};
use crate::transport::Listening;
use crate::transport::testutil::{Behaviour, Io, run_one, run_one_with, ws_transport};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends an upgrade request for `/ws` with `protocol` (empty: none) and
/// `extensions` (empty: none); returns the socket and the answer's head.
fn upgrade(addr: &str, protocol: &str, extensions: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut req = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !protocol.is_empty() {
        req.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    if !extensions.is_empty() {
        req.push_str(&format!("Sec-WebSocket-Extensions: {extensions}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("request");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("answer head");
        head.push(b[0]);
    }
    (s, String::from_utf8(head).expect("ascii"))
}

/// A masked client frame: FIN, `rsv1`, `opcode`.
fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut f = vec![(if fin { 0x80 } else { 0 }) | (if rsv1 { 0x40 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server frame: (RSV1, opcode, payload).
fn read_frame(s: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame header");
    assert_eq!(h[0] & 0x80, 0x80, "FIN");
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).expect("len");
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).expect("len");
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).expect("payload");
    (h[0] & 0x40 != 0, h[0] & 0x0F, p)
}

fn inflate(z: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Inflater::new(true)
        .inflate(z, true, &mut out, 1 << 24)
        .expect("inflates");
    out
}

fn compressed_options() -> WebSocketOptions {
    WebSocketOptions {
        compression: Some(DeflateParams::default()),
        ..WebSocketOptions::default()
    }
}

fn json_message(n: usize) -> Vec<u8> {
    format!("[36,1,2,{{}},[\"{}\"]]", "payload ".repeat(n)).into_bytes()
}

#[test]
fn deflate_is_negotiated_and_messages_inflate_and_deflate() {
    let t = ws_transport(compressed_options(), &[Serializer::Json]);
    let big = json_message(200);
    let expected = big.clone();
    let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, move |addr| {
        let (mut s, head) = upgrade(
            &addr,
            "wamp.2.json",
            "permessage-deflate; client_max_window_bits",
        );
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains(
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
            ),
            "{head}"
        );
        // A compressed message from the client: inflated before the router sees it.
        let z = Deflater::new(15, 6, false).compress(&big);
        s.write_all(&frame(true, true, 1, &z)).expect("write");
        let (rsv1, op, payload) = read_frame(&mut s);
        assert_eq!((rsv1, op), (true, 1), "a long answer goes compressed");
        assert!(payload.len() < big.len());
        assert_eq!(inflate(&payload), big);
        // The same message fragmented: RSV1 on the first frame only.
        let mut d = Deflater::new(15, 6, false);
        let z = d.compress(&big);
        let (a, b) = z.split_at(z.len() / 2);
        let mut bytes = frame(false, true, 1, a);
        bytes.extend(frame(true, false, 0, b));
        s.write_all(&bytes).expect("write");
        assert_eq!(inflate(&read_frame(&mut s).2), big);
        // A short message is neither compressed by us nor has to be by the client.
        s.write_all(&frame(true, false, 1, b"[1]")).expect("write");
        assert_eq!(read_frame(&mut s), (false, 1, b"[1]".to_vec()));
        s.write_all(&frame(true, false, 8, &1000u16.to_be_bytes()))
            .expect("close");
        assert_eq!(read_frame(&mut s).1, 8);
    });
    assert_eq!(out.frames.len(), 3);
    assert_eq!(out.frames[0], Bytes::from(expected.clone()));
    assert_eq!(out.frames[1], Bytes::from(expected));
}

#[test]
fn without_compression_configured_offers_are_ignored_and_rsv1_fails() {
    let t = ws_transport(WebSocketOptions::default(), &[Serializer::Json]);
    let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
        let (mut s, head) = upgrade(&addr, "wamp.2.json", "permessage-deflate");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
        let z = Deflater::new(15, 6, true).compress(&json_message(10));
        s.write_all(&frame(true, true, 1, &z)).expect("write");
        let (_, op, payload) = read_frame(&mut s);
        assert_eq!(op, 8);
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
    });
    assert!(out.frames.is_empty());
}

#[test]
fn a_compressed_bomb_closes_with_1009() {
    let t = ws_transport(compressed_options(), &[Serializer::Json]);
    let (out, ()) = run_one(t, 64 * 1024, Behaviour::Echo, |addr| {
        let (mut s, _) = upgrade(&addr, "wamp.2.json", "permessage-deflate");
        let zeros = vec![b' '; 4 << 20];
        let z = Deflater::new(15, 9, true).compress(&zeros);
        assert!(z.len() < 64 * 1024);
        s.write_all(&frame(true, true, 1, &z)).expect("write");
        let (_, op, payload) = read_frame(&mut s);
        assert_eq!(op, 8);
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1009);
    });
    assert!(out.frames.is_empty());
}

#[test]
fn testee_echoes_each_kind_without_a_subprotocol() {
    let options = compressed_options();
    let t = ws_transport(options, &[Serializer::Json]);
    let (out, ()) = run_one_with(Io::Uring, t, Listening::testee, Behaviour::Echo, |addr| {
        let (mut s, head) = upgrade(&addr, "", "permessage-deflate");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(!head.contains("Sec-WebSocket-Protocol"), "{head}");
        let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut bytes = frame(true, false, 1, b"text");
        bytes.extend(frame(true, false, 2, &binary));
        bytes.extend(frame(true, false, 1, &json_message(50)));
        s.write_all(&bytes).expect("write");
        assert_eq!(read_frame(&mut s), (false, 1, b"text".to_vec()));
        let (rsv1, op, payload) = read_frame(&mut s);
        assert_eq!(op, 2, "binary comes back binary");
        let payload = if rsv1 { inflate(&payload) } else { payload };
        assert_eq!(payload, binary);
        let (rsv1, op, payload) = read_frame(&mut s);
        assert_eq!((rsv1, op), (true, 1));
        assert_eq!(inflate(&payload), json_message(50));
        s.write_all(&frame(true, false, 8, &1000u16.to_be_bytes()))
            .expect("close");
        assert_eq!(read_frame(&mut s).1, 8);
    });
    assert_eq!(out.frames.len(), 3);
}

#[test]
fn text_fails_fast_on_bad_utf8_before_the_frame_ends() {
    let t = ws_transport(WebSocketOptions::default(), &[Serializer::Json]);
    let (out, ()) = run_one(t, 1 << 20, Behaviour::Echo, |addr| {
        let (mut s, _) = upgrade(&addr, "wamp.2.json", "");
        // A 1000-octet text frame whose first 20 octets hold an invalid sequence.
        let mut payload = b"[\"ok ok ok \xf4\x90\x80\x80".to_vec();
        payload.resize(1000, b' ');
        let f = frame(true, false, 1, &payload);
        s.write_all(&f[..40]).expect("write");
        let (_, op, payload) = read_frame(&mut s);
        assert_eq!(op, 8, "closed before the rest arrived");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1007);
    });
    assert!(out.frames.is_empty());
}

#[test]
fn negotiate_walks_offers_in_client_order() {
    let offered: Vec<String> = ["mqtt", "wamp.2.cbor", "wamp.2.json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        negotiate_subprotocol(&offered, &Serializer::ALL),
        Some(Serializer::Cbor)
    );
    assert_eq!(
        negotiate_subprotocol(&offered, &[Serializer::Json, Serializer::MsgPack]),
        Some(Serializer::Json)
    );
    assert_eq!(
        negotiate_subprotocol(&offered, &[Serializer::MsgPack]),
        None
    );
    assert_eq!(negotiate_subprotocol(&[], &Serializer::ALL), None);
}

#[test]
fn path_matching_ignores_trailing_slash_only() {
    assert!(path_matches("/ws", "/ws"));
    assert!(path_matches("/ws/", "/ws"));
    assert!(path_matches("/", "/"));
    assert!(!path_matches("/wss", "/ws"));
    assert!(!path_matches("/", "/ws"));
}

//! Tests of the opening handshake, both sides.

use super::*;
use crate::proto::http::{HttpError, Limits, parse_request_head};

// --- client side: handshake ---

#[test]
fn upgrade_request_is_accepted_by_parse_upgrade() {
    let req = upgrade_request("127.0.0.1:8080", "/ws", KEY, "wamp.2.json");
    assert_eq!(
        String::from_utf8(req.clone()).expect("ascii"),
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    );
    let (parsed, n) = parse_upgrade(&req).expect("valid").expect("complete");
    assert_eq!(n, req.len());
    assert_eq!(
        parsed,
        UpgradeRequest {
            path: "/ws".to_owned(),
            key: KEY.to_owned(),
            protocols: vec!["wamp.2.json".to_owned()],
            extensions: vec![],
            cookies: vec![],
        }
    );
    let plain = upgrade_request("h", "/", KEY, "");
    let (parsed, _) = parse_upgrade(&plain).expect("valid").expect("complete");
    assert!(parsed.protocols.is_empty());
}

#[test]
fn parses_switching_protocols_with_trailing_frames() {
    let mut resp = switching_protocols(KEY, "wamp.2.cbor");
    let head = resp.len();
    assert_eq!(
        parse_upgrade_response(&resp, KEY),
        Ok(Some(("wamp.2.cbor".to_owned(), head)))
    );
    for cut in 0..head {
        assert_eq!(
            parse_upgrade_response(&resp[..cut], KEY),
            Ok(None),
            "cut at {cut}"
        );
    }
    resp.extend(server_frame(true, 0x1, b"[2]"));
    let (_, n) = parse_upgrade_response(&resp, KEY)
        .expect("valid")
        .expect("complete");
    assert_eq!(&resp[n..], &server_frame(true, 0x1, b"[2]")[..]);
    // No subprotocol chosen; header names and tokens in any case.
    assert_eq!(
        parse_upgrade_response(&switching_protocols(KEY, ""), KEY),
        Ok(Some((
            String::new(),
            head - "Sec-WebSocket-Protocol: wamp.2.cbor\r\n".len()
        )))
    );
    let lenient = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
                   sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";
    assert_eq!(
        parse_upgrade_response(lenient.as_bytes(), KEY),
        Ok(Some((String::new(), lenient.len())))
    );
}

#[test]
fn refused_upgrade_responses() {
    let ok = String::from_utf8(switching_protocols(KEY, "wamp.2.json")).expect("ascii");
    let check = |resp: &str| parse_upgrade_response(resp.as_bytes(), KEY);
    // Another key's accept value.
    let other = "x3JJHMbDL1EzLkh9GBhXDw==";
    assert_eq!(
        parse_upgrade_response(ok.as_bytes(), other),
        Err(HandshakeError::BadAccept)
    );
    assert_eq!(
        check(&ok.replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "")),
        Err(HandshakeError::BadAccept)
    );
    assert_eq!(
        check(&String::from_utf8(http_error(400, "bad\n")).expect("ascii")),
        Err(HandshakeError::Status(400))
    );
    assert_eq!(
        check(&ok.replace("101 Switching Protocols", "200 OK")),
        Err(HandshakeError::Status(200))
    );
    assert_eq!(
        check(&ok.replace("Upgrade: websocket\r\n", "")),
        Err(HandshakeError::NoUpgrade)
    );
    assert_eq!(
        check(&ok.replace("Connection: Upgrade", "Connection: close")),
        Err(HandshakeError::NoConnectionUpgrade)
    );
    assert_eq!(
        check(&ok.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        )),
        Err(HandshakeError::Extension)
    );
    assert_eq!(
        check(&ok.replace("wamp.2.json", "wamp.2.json, wamp.2.cbor")),
        Err(HandshakeError::BadProtocol)
    );
    assert_eq!(
        check(&ok.replace("HTTP/1.1", "HTTP/1.0")),
        Err(HandshakeError::Malformed)
    );
    assert_eq!(check("garbage\r\n\r\n"), Err(HandshakeError::Malformed));
    let mut big = b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: ".to_vec();
    big.resize(MAX_RESPONSE_HEAD - 1, b'a');
    assert_eq!(parse_upgrade_response(&big, KEY), Ok(None));
    big.push(b'a');
    assert_eq!(
        parse_upgrade_response(&big, KEY),
        Err(HandshakeError::Malformed)
    );
}

// --- handshake ---

const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn refusal(req: &str) -> HttpRefusal {
    parse_upgrade(req.as_bytes()).expect_err("should be refused")
}

#[test]
fn accept_key_rfc_example() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn parses_rfc_request() {
    let (req, n) = parse_upgrade(RFC_REQUEST.as_bytes())
        .expect("valid")
        .expect("complete");
    assert_eq!(n, RFC_REQUEST.len());
    assert_eq!(
        req,
        UpgradeRequest {
            path: "/chat".to_owned(),
            key: KEY.to_owned(),
            protocols: vec!["chat".to_owned(), "superchat".to_owned()],
            extensions: vec![],
            cookies: vec![],
        }
    );
}

#[test]
fn parses_lenient_variants_and_trailing_frames() {
    let head = "GET /ws?realm=x&y=1 HTTP/1.1\r\n\
        host: a\r\n\
        UPGRADE: WebSocket\r\n\
        connection: keep-alive, Upgrade\r\n\
        sec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  \r\n\
        sec-websocket-protocol: wamp.2.json\r\n\
        Sec-WebSocket-Protocol:  wamp.2.msgpack ,wamp.2.cbor\r\n\
        sec-websocket-version: 13\r\n\r\n";
    let mut bytes = head.as_bytes().to_vec();
    let frame = client_frame(true, 0x1, b"[1]", MASK);
    bytes.extend_from_slice(&frame);
    let (req, n) = parse_upgrade(&bytes).expect("valid").expect("complete");
    assert_eq!(n, head.len());
    assert_eq!(req.path, "/ws");
    assert_eq!(req.key, KEY);
    assert_eq!(
        req.protocols,
        vec!["wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"]
    );
    assert_eq!(&bytes[n..], &frame[..]);
    // No subprotocol header at all.
    let plain = RFC_REQUEST.replace("Sec-WebSocket-Protocol: chat, superchat\r\n", "");
    let (req, _) = parse_upgrade(plain.as_bytes())
        .expect("valid")
        .expect("complete");
    assert!(req.protocols.is_empty());
    // Absolute-form target.
    let abs = RFC_REQUEST.replace("GET /chat ", "GET http://server.example.com/x/y?q ");
    let (req, _) = parse_upgrade(abs.as_bytes())
        .expect("valid")
        .expect("complete");
    assert_eq!(req.path, "/x/y");
}

#[test]
fn partial_head_is_none_at_every_cut() {
    let bytes = RFC_REQUEST.as_bytes();
    for cut in 0..bytes.len() {
        assert_eq!(parse_upgrade(&bytes[..cut]), Ok(None), "cut at {cut}");
    }
}

#[test]
fn oversized_head_is_431() {
    let mut big = b"GET /chat HTTP/1.1\r\nX-Pad: ".to_vec();
    big.resize(MAX_REQUEST_HEAD, b'a');
    assert_eq!(parse_upgrade(&big[..MAX_REQUEST_HEAD - 1]), Ok(None));
    assert_eq!(parse_upgrade(&big).map_err(|r| r.status), Err(431));
    big.extend_from_slice(b"aaaa\r\n\r\n");
    assert_eq!(parse_upgrade(&big).map_err(|r| r.status), Err(431));
}

#[test]
fn too_many_headers_is_431() {
    let mut req = String::from("GET /chat HTTP/1.1\r\n");
    for i in 0..100 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert_eq!(refusal(&req).status, 431);
}

#[test]
fn refusals() {
    let r = refusal(&RFC_REQUEST.replace("GET", "POST"));
    assert_eq!(r.status, 405);
    assert!(r.body.ends_with('\n'));
    assert_eq!(
        refusal(&RFC_REQUEST.replace("HTTP/1.1", "HTTP/1.0")),
        HttpRefusal::new(400, "a WebSocket upgrade needs HTTP/1.1\n")
    );
    assert_eq!(
        refusal("GET /chat HTTP/1.1\r\nbad header\r\n\r\n").status,
        400
    );
    assert_eq!(refusal("\x01\x02\x03 nonsense\r\n\r\n").status, 400);
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Upgrade: websocket\r\n", "")),
        HttpRefusal::new(400, "missing header field \"Upgrade: websocket\"\n")
    );
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Upgrade: websocket", "Upgrade: h2c")).status,
        400
    );
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Connection: Upgrade", "Connection: keep-alive")),
        HttpRefusal::new(400, "missing header field \"Connection: Upgrade\"\n")
    );
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
        HttpRefusal::new(400, "missing Sec-WebSocket-Key\n")
    );
    for bad in [
        "abc",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQ=!",
        "dGhlIHNhbXBsZSBub25jZSE=",
        "dGhlIHNhbXBsZSBub25jZSEh",
    ] {
        assert_eq!(
            refusal(&RFC_REQUEST.replace(KEY, bad)),
            HttpRefusal::new(400, "malformed Sec-WebSocket-Key\n"),
            "key {bad}"
        );
    }
    let two_keys = RFC_REQUEST.replace(
        "Origin:",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin:",
    );
    assert_eq!(refusal(&two_keys).status, 400);
    for version in [
        "Sec-WebSocket-Version: 8\r\n",
        "Sec-WebSocket-Version: 13, 8\r\n",
        "",
    ] {
        let r = refusal(&RFC_REQUEST.replace("Sec-WebSocket-Version: 13\r\n", version));
        assert_eq!(r.status, 426, "{version:?}");
    }
}

#[test]
fn switching_protocols_response() {
    assert_eq!(
        String::from_utf8(switching_protocols(KEY, "wamp.2.json")).expect("ascii"),
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
         Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    );
}

#[test]
fn refusal_responses() {
    let text = |r: Vec<u8>| String::from_utf8(r).expect("ascii");
    assert_eq!(
        text(http_error(400, "bad key\n")),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\
         Connection: close\r\n\r\nbad key\n"
    );
    assert_eq!(
        text(http_error(426, "v\n")),
        "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
         Connection: close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\nv\n"
    );
    assert_eq!(
        text(http_error(405, "")),
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\
         Connection: close\r\nAllow: GET\r\n\r\n"
    );
    for (status, phrase) in [
        (404, "Not Found"),
        (431, "Request Header Fields Too Large"),
        (503, "Service Unavailable"),
        (418, "Client Error"),
    ] {
        let r = text(http_error(status, "x\n"));
        assert!(
            r.starts_with(&format!("HTTP/1.1 {status} {phrase}\r\n")),
            "{r}"
        );
    }
}

#[test]
fn missing_or_repeated_host_is_400() {
    // RFC 9112 section 3.2 (before, a request without Host was accepted).
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Host: server.example.com\r\n", "")),
        HttpRefusal::new(400, "missing Host header field\n")
    );
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Origin:", "Host: other.example.com\r\nOrigin:")),
        HttpRefusal::new(400, "more than one Host header field\n")
    );
    assert_eq!(
        refusal(&RFC_REQUEST.replace("Host: server.example.com", "Host: a b")).status,
        400
    );
}

#[test]
fn the_http_layer_refuses_before_the_upgrade_check() {
    assert_eq!(
        refusal(&RFC_REQUEST.replace("HTTP/1.1", "HTTP/2.0")),
        HttpRefusal::new(505, "HTTP version not supported\n")
    );
    let long = RFC_REQUEST.replace("/chat", &format!("/{}", "c".repeat(9000)));
    assert_eq!(refusal(&long).status, 414);
    let refusal = HttpRefusal::from(HttpError::new(431, "too many header fields"));
    assert_eq!(refusal.body, "too many header fields\n");
    assert!(
        refusal
            .to_response()
            .starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    );
}

#[test]
fn check_upgrade_after_routing_by_path() {
    // A web server parses the head, routes by path, then checks the upgrade.
    let mut bytes = RFC_REQUEST
        .replace("GET /chat", "GET /ws2?x=1")
        .into_bytes();
    bytes.extend_from_slice(&client_frame(true, 0x1, b"[1]", MASK));
    let head = parse_request_head(&bytes, &Limits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(head.path(), "/ws2");
    let req = check_upgrade(&head).expect("an upgrade");
    assert_eq!(req.path, "/ws2");
    assert_eq!(req.key, KEY);
    assert_eq!(req.protocols, ["chat", "superchat"]);
    // The same over an owned head (as the HTTP connection hands them out).
    let owned = head.into_owned();
    assert_eq!(check_upgrade(&owned), Ok(req));
    // A plain GET on the same path is no upgrade.
    let plain = b"GET /ws2 HTTP/1.1\r\nHost: h\r\n\r\n";
    let head = parse_request_head(plain, &Limits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(
        check_upgrade(&head),
        Err(HttpRefusal::new(
            400,
            "missing header field \"Upgrade: websocket\"\n"
        ))
    );
}

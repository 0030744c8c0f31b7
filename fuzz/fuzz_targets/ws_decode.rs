//! Fuzzes the WebSocket upgrade parser and frame decoder. The whole input goes
//! to `parse_upgrade` and, separately, to the HTTP layer's
//! `parse_request_head` then `check_upgrade` (the two must agree); then, after two octets choosing the limits and the chunk
//! size, the rest is fed to a `Decoder` in chunks (as a socket would): no
//! panics, `consumed` and `needed` stay consistent with the buffer, payloads
//! respect the limits, and no bytes are lost or invented.
#![no_main]

use junction::proto::http::{Limits, parse_request_head};
use junction::proto::websocket::{
    self, Decoded, Decoder, Event, HttpRefusal, MAX_REQUEST_HEAD, MessageKind, Payload,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = websocket::parse_upgrade(data);
    match &whole {
        Ok(Some((req, consumed))) => {
            assert!(*consumed <= data.len().min(MAX_REQUEST_HEAD));
            assert_eq!(websocket::accept_key(&req.key).len(), 28);
        }
        Ok(None) => assert!(data.len() < MAX_REQUEST_HEAD),
        Err(refusal) => {
            assert!((400..=505).contains(&refusal.status));
            let _ = refusal.to_response();
        }
    }
    // The same answer from the HTTP layer's head parser and the upgrade check
    // over the parsed head (how the web server will use them: route by path
    // first, then upgrade). 64 fields is the upgrade parser's limit.
    let limits = Limits {
        max_head: MAX_REQUEST_HEAD,
        max_headers: 64,
        ..Limits::default()
    };
    let split = match parse_request_head(data, &limits) {
        Ok(None) => Ok(None),
        Err(e) => Err(HttpRefusal::from(e)),
        Ok(Some(head)) => websocket::check_upgrade(&head).map(|r| Some((r, head.len()))),
    };
    assert_eq!(whole, split);
    if data.len() < 2 {
        return;
    }
    let max_message = 16usize << (data[0] % 12);
    let max_frame = max_message >> (data[0] / 12 % 4);
    let chunk = usize::from(data[1]).max(1);
    let mut decoder = Decoder::new(max_message, max_frame);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0usize;
    let mut consumed_total = 0usize;
    for piece in data[2..].chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let len = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Decoded::Frame { event, consumed }) => {
                    assert!(consumed <= len, "consumed past the buffer");
                    assert!(consumed >= 6, "a client frame has at least 6 octets");
                    assert!(consumed - 6 <= max_frame + 8, "frame over the limit");
                    match event {
                        Some(Event::Message(kind, payload)) => {
                            let bytes: &[u8] = match &payload {
                                Payload::Borrowed(b) => b,
                                Payload::Owned(v) => v,
                            };
                            assert!(bytes.len() <= max_message, "message over the limit");
                            if kind == MessageKind::Text {
                                assert!(std::str::from_utf8(bytes).is_ok());
                            }
                        }
                        Some(Event::Ping(p) | Event::Pong(p)) => assert!(p.len() <= 125),
                        Some(Event::Close(Some((_, reason)))) => assert!(reason.len() <= 123),
                        Some(Event::Close(None)) | None => {}
                    }
                    consumed_total += consumed;
                    buf.drain(..consumed);
                }
                Ok(Decoded::Incomplete { needed }) => {
                    assert!(needed > len, "incomplete with enough octets");
                    break;
                }
                Err(_) => return,
            }
        }
        assert_eq!(consumed_total + buf.len(), fed, "bytes lost or invented");
    }
    // Frames out: any header length round-trips its length form.
    let len = usize::from(data[0]) << (data[1] % 24);
    let (header, n) = websocket::frame_header(websocket::Opcode::Binary, len);
    assert!((2..=websocket::MAX_HEADER).contains(&n));
    assert_eq!(header[0], 0x82);
    let reason = String::from_utf8_lossy(&data[2..]);
    let close = websocket::close_frame(1000, &reason);
    assert!(close.len() <= 4 + websocket::MAX_CLOSE_REASON);
});

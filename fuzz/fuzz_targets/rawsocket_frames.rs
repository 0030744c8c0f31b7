//! Fuzzes the RawSocket handshake parser and frame decoder, feeding the input
//! in chunks (as a socket would) under a small length limit: no panics, every
//! decoded frame respects the limit, and the decoder never loses bytes (what
//! it consumes plus what remains equals what it was given).
#![no_main]

use bytes::BytesMut;
use junction::proto::rawsocket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let _ = rawsocket::parse_client_handshake([data[0], data[1], data[2], data[3]]);
    let _ = rawsocket::parse_server_handshake([data[0], data[1], data[2], data[3]]);
    let max_len = 512usize << (data[4] % 8);
    let chunk = usize::from(data[4] / 8).max(1);
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    for piece in data[5..].chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            match rawsocket::decode_frame(&mut buf, max_len) {
                Ok(Some((_, payload))) => {
                    assert!(payload.len() <= max_len, "frame over the limit");
                    consumed += 4 + payload.len();
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert_eq!(consumed + buf.len(), fed, "bytes lost or invented");
    }
});

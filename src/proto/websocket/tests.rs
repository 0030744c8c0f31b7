//! Tests of the WebSocket codec: frames in and out, client and server side
//! (this file, with the helpers the others share), the handshake
//! (`tests/handshake.rs`) and the properties (`tests/props.rs`).

use super::frame::unmask;
use super::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A client frame: FIN as given, masked with `mask`, shortest length form.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len <= 125 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// An event with owned data, to outlive the buffer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Message(k, Payload::Borrowed(p)) => Ev::Message(k, p.to_vec()),
        Event::Message(k, Payload::Owned(p)) => Ev::Message(k, p),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c) => Ev::Close(c.map(|(code, r)| (code, r.to_owned()))),
    }
}

/// Feeds `stream` in pieces cut at `cuts` (sorted offsets), as a transport
/// would: append, decode until incomplete, drop what was consumed.
fn decode_stream(dec: &mut Decoder, stream: &[u8], cuts: &[usize]) -> Result<Vec<Ev>, WsError> {
    decode_stream_min(dec, stream, cuts, 6)
}

/// [`decode_stream`] for frames of at least `min_frame` octets (2 for
/// unmasked server frames, 6 for masked client frames).
fn decode_stream_min(
    dec: &mut Decoder,
    stream: &[u8],
    cuts: &[usize],
    min_frame: usize,
) -> Result<Vec<Ev>, WsError> {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(stream.len()));
    for end in ends {
        let end = end.clamp(start, stream.len());
        buf.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            let len = buf.len();
            match dec.decode(&mut buf)? {
                Decoded::Frame { event, consumed } => {
                    assert!(consumed <= len && consumed >= min_frame);
                    if let Some(e) = event {
                        events.push(own(e));
                    }
                    buf.drain(..consumed);
                }
                Decoded::Incomplete { needed } => {
                    assert!(needed > len, "needed {needed} with {len} buffered");
                    break;
                }
            }
        }
    }
    assert!(buf.is_empty(), "{} octets left over", buf.len());
    Ok(events)
}

fn decode_one(bytes: &[u8]) -> Result<Ev, WsError> {
    decode_one_with(&mut Decoder::new(1 << 20, 1 << 20), bytes)
}

fn decode_one_with(dec: &mut Decoder, bytes: &[u8]) -> Result<Ev, WsError> {
    let mut buf = bytes.to_vec();
    match dec.decode(&mut buf)? {
        Decoded::Frame {
            event: Some(e),
            consumed,
        } => {
            assert_eq!(consumed, bytes.len());
            Ok(own(e))
        }
        other => panic!("expected one whole frame, got {other:?}"),
    }
}

// --- frames in: RFC 6455 section 5.7 examples ---

#[test]
fn rfc_masked_hello() {
    let mut buf = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut dec = Decoder::new(1024, 1024);
    assert_eq!(
        dec.decode(&mut buf),
        Ok(Decoded::Frame {
            event: Some(Event::Message(
                MessageKind::Text,
                Payload::Borrowed(b"Hello")
            )),
            consumed: 11
        })
    );
    // Unmasked in place.
    assert_eq!(&buf[6..], b"Hello");
}

#[test]
fn rfc_fragmented_hello_masked() {
    let mut stream = client_frame(false, 0x1, b"Hel", MASK);
    stream.extend(client_frame(true, 0x0, b"lo", [1, 2, 3, 4]));
    let mut dec = Decoder::new(1024, 1024);
    let mut buf = stream.clone();
    assert_eq!(
        dec.decode(&mut buf),
        Ok(Decoded::Frame {
            event: None,
            consumed: 9
        })
    );
    assert!(dec.in_message());
    assert_eq!(
        dec.decode(&mut buf[9..]),
        Ok(Decoded::Frame {
            event: Some(Event::Message(
                MessageKind::Text,
                Payload::Owned(b"Hello".to_vec())
            )),
            consumed: 8
        })
    );
    assert!(!dec.in_message());
}

#[test]
fn rfc_ping_and_pong() {
    let ping = [
        0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode_one(&ping), Ok(Ev::Ping(b"Hello".to_vec())));
    let pong = client_frame(true, 0xA, b"Hello", MASK);
    assert_eq!(
        pong,
        [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
    assert_eq!(decode_one(&pong), Ok(Ev::Pong(b"Hello".to_vec())));
    assert_eq!(decode_one(&[0x89, 0x80, 1, 2, 3, 4]), Ok(Ev::Ping(vec![])));
}

#[test]
fn rfc_256_octet_binary() {
    let payload: Vec<u8> = (0..256).map(|i| i as u8).collect();
    let frame = client_frame(true, 0x2, &payload, MASK);
    assert_eq!(&frame[..4], &[0x82, 0xFE, 0x01, 0x00]);
    assert_eq!(frame.len(), 8 + 256);
    assert_eq!(
        decode_one(&frame),
        Ok(Ev::Message(MessageKind::Binary, payload))
    );
}

#[test]
fn rfc_64k_binary() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let frame = client_frame(true, 0x2, &payload, MASK);
    assert_eq!(&frame[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    assert_eq!(frame.len(), 14 + 65536);
    assert_eq!(
        decode_one(&frame),
        Ok(Ev::Message(MessageKind::Binary, payload))
    );
}

#[test]
fn non_minimal_length_forms_fail() {
    // RFC 6455 section 5.2: "the minimal number of bytes MUST be used".
    // 5 octets in the 16-bit and 64-bit forms, 125 in the 16-bit form,
    // 65,535 in the 64-bit form: each fails the connection with 1002, from
    // the header alone.
    let non_minimal: [&[u8]; 4] = [
        &[0x82, 0xFE, 0, 5, 0, 0, 0, 0],
        &[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0],
        &[0x82, 0xFE, 0, 125, 0, 0, 0, 0],
        &[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0],
    ];
    for header in non_minimal {
        for client in [false, true] {
            let mut dec = if client {
                Decoder::client(1 << 20, 1 << 20)
            } else {
                Decoder::new(1 << 20, 1 << 20)
            };
            let mut frame = header.to_vec();
            if client {
                // Server frames carry no mask: drop the 4 mask octets.
                frame[1] &= 0x7F;
                frame.truncate(frame.len() - 4);
            }
            frame.extend(std::iter::repeat_n(b'x', 65_535));
            let e = dec.decode(&mut frame).expect_err("non-minimal length");
            assert_eq!(
                e,
                WsError::Protocol("payload length not in its minimal form")
            );
            assert_eq!(e.close_code(), 1002);
        }
    }
    // The smallest lengths of each form are accepted.
    let mut f16 = client_frame(true, 0x2, &[7; 126], MASK);
    assert_eq!(&f16[..4], &[0x82, 0xFE, 0, 126]);
    assert!(matches!(
        Decoder::new(1 << 20, 1 << 20).decode(&mut f16),
        Ok(Decoded::Frame { consumed: 134, .. })
    ));
    let mut f64 = client_frame(true, 0x2, &[7; 65_536], MASK);
    assert_eq!(&f64[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert!(matches!(
        Decoder::new(1 << 20, 1 << 20).decode(&mut f64),
        Ok(Decoded::Frame { .. })
    ));
}

#[test]
fn unmask_matches_bytewise_xor_for_every_length() {
    let mask = [0xde, 0xad, 0xbe, 0xef];
    for len in 0..70 {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
        let mut fast = data.clone();
        unmask(&mut fast, mask);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(fast, slow, "length {len}");
    }
}

// --- incomplete input ---

#[test]
fn incomplete_reports_what_is_needed() {
    let mut dec = Decoder::new(1 << 20, 1 << 20);
    assert_eq!(dec.decode(&mut []), Ok(Decoded::Incomplete { needed: 2 }));
    assert_eq!(
        dec.decode(&mut [0x81]),
        Ok(Decoded::Incomplete { needed: 2 })
    );
    assert_eq!(
        dec.decode(&mut [0x81, 0x85, 1]),
        Ok(Decoded::Incomplete { needed: 6 })
    );
    assert_eq!(
        dec.decode(&mut [0x81, 0x85, 1, 2, 3, 4, 9]),
        Ok(Decoded::Incomplete { needed: 11 })
    );
    assert_eq!(
        dec.decode(&mut [0x82, 0xFE, 1]),
        Ok(Decoded::Incomplete { needed: 8 })
    );
    assert_eq!(
        dec.decode(&mut [0x82, 0xFE, 1, 0, 0, 0, 0, 0]),
        Ok(Decoded::Incomplete { needed: 8 + 256 })
    );
    assert_eq!(
        dec.decode(&mut [0x82, 0xFF, 0]),
        Ok(Decoded::Incomplete { needed: 14 })
    );
    assert_eq!(
        dec.decode(&mut [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]),
        Ok(Decoded::Incomplete { needed: 14 + 65536 })
    );
}

#[test]
fn incomplete_leaves_the_buffer_masked() {
    let frame = client_frame(true, 0x1, b"Hello", MASK);
    let mut buf = frame[..9].to_vec();
    let mut dec = Decoder::new(1024, 1024);
    assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete { needed: 11 }));
    assert_eq!(buf, frame[..9]);
}

/// A stream exercising every frame kind and length form.
fn mixed_stream() -> (Vec<u8>, Vec<Ev>) {
    let big: Vec<u8> = (0..300).map(|i| i as u8).collect();
    let mut s = Vec::new();
    s.extend(client_frame(true, 0x1, "héllo".as_bytes(), MASK));
    s.extend(client_frame(false, 0x2, &big[..100], [9, 8, 7, 6]));
    s.extend(client_frame(true, 0x9, b"ping!", [1, 1, 1, 1]));
    s.extend(client_frame(false, 0x0, &big[100..], [0, 0, 0, 0]));
    s.extend(client_frame(true, 0xA, b"", [5, 6, 7, 8]));
    s.extend(client_frame(true, 0x0, b"", [5, 6, 7, 8]));
    s.extend(client_frame(false, 0x1, &"€uro".as_bytes()[..2], MASK));
    s.extend(client_frame(true, 0x0, &"€uro".as_bytes()[2..], MASK));
    s.extend(client_frame(true, 0x2, &big, MASK));
    s.extend(client_frame(true, 0x8, b"\x03\xe8bye", MASK));
    let events = vec![
        Ev::Message(MessageKind::Text, "héllo".as_bytes().to_vec()),
        Ev::Ping(b"ping!".to_vec()),
        Ev::Pong(vec![]),
        Ev::Message(MessageKind::Binary, big.clone()),
        Ev::Message(MessageKind::Text, "€uro".as_bytes().to_vec()),
        Ev::Message(MessageKind::Binary, big),
        Ev::Close(Some((1000, "bye".to_owned()))),
    ];
    (s, events)
}

#[test]
fn every_split_point_gives_the_same_events() {
    let (stream, expected) = mixed_stream();
    let whole = decode_stream(&mut Decoder::new(1024, 1024), &stream, &[]);
    assert_eq!(whole.as_ref(), Ok(&expected));
    for cut in 0..=stream.len() {
        let got = decode_stream(&mut Decoder::new(1024, 1024), &stream, &[cut]);
        assert_eq!(got.as_ref(), Ok(&expected), "cut at {cut}");
    }
    let bytewise: Vec<usize> = (1..stream.len()).collect();
    let got = decode_stream(&mut Decoder::new(1024, 1024), &stream, &bytewise);
    assert_eq!(got, Ok(expected));
}

#[test]
fn ping_between_fragments() {
    let mut s = client_frame(false, 0x1, b"frag", MASK);
    s.extend(client_frame(true, 0x9, b"p", MASK));
    s.extend(client_frame(false, 0x0, b"men", MASK));
    s.extend(client_frame(true, 0x8, b"", MASK));
    // A close in the middle of a message is legal too; then the end.
    s.extend(client_frame(true, 0x0, b"ted", MASK));
    assert_eq!(
        decode_stream(&mut Decoder::new(64, 64), &s, &[]),
        Ok(vec![
            Ev::Ping(b"p".to_vec()),
            Ev::Close(None),
            Ev::Message(MessageKind::Text, b"fragmented".to_vec()),
        ])
    );
}

// --- protocol errors ---

fn err(bytes: &[u8]) -> WsError {
    decode_one(bytes).expect_err("should fail")
}

#[test]
fn reserved_bits_fail() {
    for rsv in [0x40, 0x20, 0x10] {
        assert_eq!(
            err(&[0x81 | rsv, 0x80, 0, 0, 0, 0]),
            WsError::Protocol("reserved bits set")
        );
    }
}

#[test]
fn unknown_opcodes_fail() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            err(&[0x80 | op, 0x80, 0, 0, 0, 0]),
            WsError::Protocol("unknown opcode"),
            "opcode {op}"
        );
    }
}

#[test]
fn unmasked_frames_fail() {
    let e = err(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    assert_eq!(e, WsError::Protocol("client frames must be masked"));
    assert_eq!(e.close_code(), 1002);
    // Decided from the first two octets alone.
    assert_eq!(
        Decoder::new(10, 10).decode(&mut [0x89, 0x00]),
        Err(WsError::Protocol("client frames must be masked"))
    );
}

#[test]
fn bad_control_frames_fail() {
    // Ping without FIN.
    assert_eq!(
        err(&[0x09, 0x80, 0, 0, 0, 0]),
        WsError::Protocol("fragmented control frame")
    );
    // Close with FIN clear.
    assert_eq!(
        err(&[0x08, 0x80, 0, 0, 0, 0]),
        WsError::Protocol("fragmented control frame")
    );
    // 126 octets of ping (16-bit length form), refused before the payload.
    let mut buf = [0x89, 0xFE];
    assert_eq!(
        Decoder::new(1 << 20, 1 << 20).decode(&mut buf),
        Err(WsError::Protocol("control frame payload over 125 octets"))
    );
    let ping125 = client_frame(true, 0x9, &[7; 125], MASK);
    assert_eq!(decode_one(&ping125), Ok(Ev::Ping(vec![7; 125])));
}

#[test]
fn length_with_high_bit_fails() {
    let mut buf = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(
        Decoder::new(usize::MAX, usize::MAX).decode(&mut buf),
        Err(WsError::Protocol("payload length with its high bit set"))
    );
}

#[test]
fn huge_lengths_do_not_overflow() {
    // 2^63 - 1 octets: fits no buffer; with unlimited limits it is TooBig on
    // 32-bit targets and an honest (huge) Incomplete or TooBig on 64-bit ones.
    let mut buf = [
        0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4,
    ];
    match Decoder::new(usize::MAX, usize::MAX).decode(&mut buf) {
        Ok(Decoded::Incomplete { needed }) => assert_eq!(needed as u64, (1u64 << 63) - 1 + 14),
        Err(WsError::TooBig) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        Decoder::new(1 << 20, 1 << 20).decode(&mut buf),
        Err(WsError::TooBig)
    );
}

#[test]
fn frame_over_max_frame_fails_before_payload() {
    let mut dec = Decoder::new(1000, 100);
    // Header announcing 101 octets, no payload yet.
    let mut buf = [0x82, 0xE5, 1, 2, 3, 4];
    assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
    assert_eq!(WsError::TooBig.close_code(), 1009);
    let mut dec = Decoder::new(1000, 100);
    let mut buf = [0x82, 0xE4, 1, 2, 3, 4];
    assert_eq!(
        dec.decode(&mut buf),
        Ok(Decoded::Incomplete { needed: 106 })
    );
}

#[test]
fn message_over_max_message_fails() {
    // Unfragmented.
    let mut dec = Decoder::new(10, 100);
    let mut buf = [0x82, 0x8B, 1, 2, 3, 4];
    assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
    // First fragment alone is over.
    let mut dec = Decoder::new(10, 100);
    let mut buf = [0x02, 0x8B, 1, 2, 3, 4];
    assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
    // Accumulated fragments: 6 + 4 fit, 6 + 5 fail at the header.
    let mut dec = Decoder::new(10, 100);
    let first = client_frame(false, 0x2, &[1; 6], MASK);
    assert_eq!(decode_stream(&mut dec, &first, &[]), Ok(vec![]));
    let mut probe = Decoder::new(10, 100);
    decode_stream(&mut probe, &first, &[]).expect("first fragment");
    let ok = client_frame(true, 0x0, &[2; 4], MASK);
    assert_eq!(
        decode_stream(&mut probe, &ok, &[]),
        Ok(vec![Ev::Message(
            MessageKind::Binary,
            vec![1, 1, 1, 1, 1, 1, 2, 2, 2, 2]
        )])
    );
    let mut buf = [0x80, 0x85, 1, 2, 3, 4];
    assert_eq!(dec.decode(&mut buf), Err(WsError::TooBig));
}

#[test]
fn continuation_without_message_fails() {
    assert_eq!(
        err(&client_frame(true, 0x0, b"x", MASK)),
        WsError::Protocol("continuation frame without a message")
    );
    assert_eq!(
        err(&client_frame(false, 0x0, b"x", MASK)),
        WsError::Protocol("continuation frame without a message")
    );
}

#[test]
fn new_message_inside_fragmented_one_fails() {
    for op in [0x1, 0x2] {
        let mut s = client_frame(false, 0x1, b"a", MASK);
        s.extend(client_frame(true, op, b"b", MASK));
        assert_eq!(
            decode_stream(&mut Decoder::new(64, 64), &s, &[]),
            Err(WsError::Protocol(
                "new data message before the fragmented one ended"
            ))
        );
    }
}

#[test]
fn invalid_utf8_text_fails() {
    let e = err(&client_frame(
        true,
        0x1,
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80",
        MASK,
    ));
    assert_eq!(e, WsError::InvalidUtf8);
    assert_eq!(e.close_code(), 1007);
    // Binary is not checked.
    assert_eq!(
        decode_one(&client_frame(true, 0x2, b"\xff", MASK)),
        Ok(Ev::Message(MessageKind::Binary, vec![0xff]))
    );
}

#[test]
fn invalid_utf8_in_fragments_fails_fast() {
    // The bad octet is in the first fragment: fail before the message ends.
    let s = client_frame(false, 0x1, b"ok\xff", MASK);
    assert_eq!(
        decode_stream(&mut Decoder::new(64, 64), &s, &[]),
        Err(WsError::InvalidUtf8)
    );
    // A sequence cut across fragments is fine until the message ends cut.
    let mut s = client_frame(false, 0x1, b"a\xe2\x82", MASK);
    s.extend(client_frame(false, 0x0, b"", MASK));
    let mut dec = Decoder::new(64, 64);
    assert_eq!(decode_stream(&mut dec, &s, &[]), Ok(vec![]));
    assert_eq!(
        decode_stream(&mut dec, &client_frame(true, 0x0, b"\xac", MASK), &[]),
        Ok(vec![Ev::Message(
            MessageKind::Text,
            "a€".as_bytes().to_vec()
        )])
    );
    let mut s = client_frame(false, 0x1, b"a\xe2\x82", MASK);
    s.extend(client_frame(true, 0x0, b"", MASK));
    assert_eq!(
        decode_stream(&mut Decoder::new(64, 64), &s, &[]),
        Err(WsError::InvalidUtf8)
    );
}

// --- close frames ---

#[test]
fn close_bodies() {
    assert_eq!(
        decode_one(&client_frame(true, 0x8, b"", MASK)),
        Ok(Ev::Close(None))
    );
    assert_eq!(
        decode_one(&client_frame(true, 0x8, b"\x03\xe8", MASK)),
        Ok(Ev::Close(Some((1000, String::new()))))
    );
    assert_eq!(
        decode_one(&client_frame(true, 0x8, b"\x0f\xa0n\xc3\xa9", MASK)),
        Ok(Ev::Close(Some((4000, "né".to_owned()))))
    );
    assert_eq!(
        err(&client_frame(true, 0x8, b"\x03", MASK)),
        WsError::Protocol("close frame body of one octet")
    );
    assert_eq!(
        err(&client_frame(true, 0x8, b"\x03\xe8\xff", MASK)),
        WsError::InvalidUtf8
    );
}

#[test]
fn close_codes() {
    let valid: [u16; 16] = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
        4999,
    ];
    let invalid: [u16; 12] = [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ];
    for code in valid {
        let body = code.to_be_bytes();
        assert_eq!(
            decode_one(&client_frame(true, 0x8, &body, MASK)),
            Ok(Ev::Close(Some((code, String::new())))),
            "code {code}"
        );
    }
    for code in invalid {
        let body = code.to_be_bytes();
        assert_eq!(
            err(&client_frame(true, 0x8, &body, MASK)),
            WsError::Protocol("invalid close code"),
            "code {code}"
        );
    }
}

// --- frames out ---

#[test]
fn frame_header_length_forms() {
    let cases: [(usize, &[u8]); 6] = [
        (0, &[0x82, 0]),
        (125, &[0x82, 125]),
        (126, &[0x82, 126, 0, 126]),
        (65535, &[0x82, 126, 0xFF, 0xFF]),
        (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        (
            0x0123_4567_89AB,
            &[0x82, 127, 0, 0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB],
        ),
    ];
    for (len, want) in cases {
        let (h, n) = frame_header(Opcode::Binary, len);
        assert_eq!(&h[..n], want, "length {len}");
    }
    let (h, n) = frame_header(Opcode::Text, 5);
    assert_eq!(&h[..n], &[0x81, 5]);
    let (h, n) = frame_header(Opcode::Ping, 0);
    assert_eq!(&h[..n], &[0x89, 0]);
    let (h, n) = frame_header(Opcode::Pong, 3);
    assert_eq!(&h[..n], &[0x8A, 3]);
}

#[test]
fn close_frame_encoding() {
    assert_eq!(close_frame(1000, ""), vec![0x88, 2, 0x03, 0xE8]);
    assert_eq!(
        close_frame(1002, "bad"),
        vec![0x88, 5, 0x03, 0xEA, b'b', b'a', b'd']
    );
    // 122 ASCII octets then a 2-octet char: it would end at 124, so it goes.
    let reason = format!("{}é", "x".repeat(122));
    let f = close_frame(1001, &reason);
    assert_eq!(f[1] as usize, 2 + 122);
    assert_eq!(&f[4..], "x".repeat(122).as_bytes());
    let f = close_frame(4000, &"y".repeat(500));
    assert_eq!(f.len(), 2 + 2 + MAX_CLOSE_REASON);
    assert_eq!(f[1] as usize, 125);
    // What we send, a client-side decoder would accept: re-mask and decode.
    let payload = &f[2..];
    assert_eq!(
        decode_one(&client_frame(true, 0x8, payload, MASK)),
        Ok(Ev::Close(Some((4000, "y".repeat(123)))))
    );
}

// --- client side: frames ---

/// A server frame: FIN as given, unmasked, shortest length form.
fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = client_frame(fin, opcode, payload, [0; 4]);
    // Same layout without the mask bit and the 4 mask octets (a zero mask
    // leaves the payload as it is).
    out[1] &= 0x7F;
    let at = match out[1] {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    out.drain(at..at + 4);
    out
}

#[test]
fn mask_in_place_is_xor_and_its_own_inverse() {
    for len in [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 100, 1000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut buf = data.clone();
        mask_in_place(&mut buf, MASK);
        let want: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[i % 4])
            .collect();
        assert_eq!(buf, want, "length {len}");
        mask_in_place(&mut buf, MASK);
        assert_eq!(buf, data, "length {len}");
    }
}

#[test]
fn client_frame_header_forms() {
    let cases: [(usize, &[u8]); 4] = [
        (0, &[0x82, 0x80]),
        (125, &[0x82, 0x80 | 125]),
        (126, &[0x82, 0x80 | 126, 0, 126]),
        (65536, &[0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ];
    for (len, want) in cases {
        let (h, n) = client_frame_header(Opcode::Binary, len, MASK);
        assert_eq!(n, want.len() + 4, "length {len}");
        assert_eq!(&h[..n - 4], want, "length {len}");
        assert_eq!(&h[n - 4..n], &MASK, "length {len}");
    }
    // RFC 6455 section 5.7: a masked "Hello".
    let (h, n) = client_frame_header(Opcode::Text, 5, MASK);
    let mut frame = h[..n].to_vec();
    let start = frame.len();
    frame.extend_from_slice(b"Hello");
    mask_in_place(&mut frame[start..], MASK);
    assert_eq!(
        frame,
        [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
}

#[test]
fn client_frames_round_trip_through_the_server_decoder() {
    for len in [0usize, 1, 125, 126, 1000, 65535, 65536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (h, n) = client_frame_header(Opcode::Binary, len, MASK);
        let mut frame = h[..n].to_vec();
        frame.extend_from_slice(&payload);
        mask_in_place(&mut frame[n..], MASK);
        assert_eq!(
            frame,
            client_frame(true, 0x2, &payload, MASK),
            "length {len}"
        );
        assert_eq!(
            decode_one(&frame),
            Ok(Ev::Message(MessageKind::Binary, payload)),
            "length {len}"
        );
    }
    let (h, n) = client_frame_header(Opcode::Pong, 3, MASK);
    let mut frame = h[..n].to_vec();
    frame.extend_from_slice(b"abc");
    mask_in_place(&mut frame[n..], MASK);
    assert_eq!(decode_one(&frame), Ok(Ev::Pong(b"abc".to_vec())));
}

#[test]
fn server_frames_round_trip_through_the_client_decoder() {
    for len in [0usize, 1, 125, 126, 1000, 65535, 65536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (h, n) = frame_header(Opcode::Binary, len);
        let mut buf = h[..n].to_vec();
        buf.extend_from_slice(&payload);
        let total = buf.len();
        let mut dec = Decoder::client(1 << 20, 1 << 20);
        match dec.decode(&mut buf) {
            Ok(Decoded::Frame {
                event: Some(Event::Message(MessageKind::Binary, Payload::Borrowed(p))),
                consumed,
            }) => {
                assert_eq!(consumed, total, "length {len}");
                assert_eq!(p, &payload[..], "length {len}");
            }
            other => panic!("length {len}: {other:?}"),
        }
        // The borrowed payload is the end of the frame, untouched.
        assert_eq!(&buf[total - len..], &payload[..]);
        // Every shorter prefix is incomplete.
        for cut in [0, 1, n - 1, n, total - 1] {
            if cut < total {
                let mut part = buf[..cut].to_vec();
                assert!(
                    matches!(dec.decode(&mut part), Ok(Decoded::Incomplete { needed }) if needed > cut),
                    "length {len} cut {cut}"
                );
            }
        }
    }
    let mut dec = Decoder::client(1024, 1024);
    let text = server_frame(true, 0x1, "héllo".as_bytes());
    assert_eq!(
        decode_one_with(&mut dec, &text),
        Ok(Ev::Message(MessageKind::Text, "héllo".as_bytes().to_vec()))
    );
    assert_eq!(
        decode_one_with(&mut dec, &server_frame(true, 0x9, b"hi")),
        Ok(Ev::Ping(b"hi".to_vec()))
    );
    assert_eq!(
        decode_one_with(&mut dec, &close_frame(1000, "bye")),
        Ok(Ev::Close(Some((1000, "bye".to_owned()))))
    );
    // Fragmented, with a ping between the fragments.
    let mut stream = server_frame(false, 0x1, b"[1,");
    stream.extend(server_frame(true, 0x9, b""));
    stream.extend(server_frame(false, 0x0, b"2"));
    stream.extend(server_frame(true, 0x0, b"]"));
    let cuts: Vec<usize> = (0..stream.len()).collect();
    assert_eq!(
        decode_stream_min(&mut Decoder::client(1024, 1024), &stream, &cuts, 2),
        Ok(vec![
            Ev::Ping(vec![]),
            Ev::Message(MessageKind::Text, b"[1,2]".to_vec())
        ])
    );
}

#[test]
fn client_decoder_keeps_the_server_rules() {
    let err = |bytes: &[u8]| {
        let mut dec = Decoder::client(64, 32);
        dec.decode(&mut bytes.to_vec()).expect_err("should fail")
    };
    // RFC 6455 section 5.1: a masked server frame fails the connection.
    assert_eq!(
        err(&client_frame(true, 0x2, b"x", MASK)),
        WsError::Protocol("server frames must not be masked")
    );
    // And the server decoder still wants its frames masked.
    assert_eq!(
        Decoder::new(64, 64).decode(&mut server_frame(true, 0x2, b"x")),
        Err(WsError::Protocol("client frames must be masked"))
    );
    assert_eq!(
        err(&server_frame(true, 0x1, &[0xC3, 0x28])),
        WsError::InvalidUtf8
    );
    assert_eq!(err(&server_frame(true, 0x2, &[0; 33])), WsError::TooBig);
    assert_eq!(
        err(&server_frame(false, 0x9, b"")),
        WsError::Protocol("fragmented control frame")
    );
    assert_eq!(
        err(&server_frame(true, 0x0, b"x")),
        WsError::Protocol("continuation frame without a message")
    );
    assert_eq!(err(&[0xC2, 0x00]), WsError::Protocol("reserved bits set"));
    let mut stream = server_frame(false, 0x2, &[0; 32]);
    stream.extend(server_frame(false, 0x0, &[0; 32]));
    stream.extend(server_frame(true, 0x0, &[0; 1]));
    assert_eq!(
        decode_stream_min(&mut Decoder::client(64, 32), &stream, &[], 2),
        Err(WsError::TooBig)
    );
}

/// A held connection keeps one decoder (issue #9): its limits and flags in
/// 16 octets, a fragmented message's state and the inflater boxed.
#[test]
fn a_decoder_stays_small() {
    let size = std::mem::size_of::<Decoder>();
    assert!(size <= 32, "Decoder is {size} bytes");
}

/// Limits past `u32::MAX` act as `u32::MAX`: a frame within it still passes.
#[test]
fn a_limit_past_four_gib_keeps_accepting() {
    let mut dec = Decoder::new(usize::MAX, usize::MAX);
    let mut frame = vec![0x82, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4];
    frame.extend(std::iter::repeat_n(0u8, 256));
    assert!(matches!(
        dec.decode(&mut frame),
        Ok(Decoded::Frame { consumed: 264, .. })
    ));
}

mod handshake;
mod props;

//! Properties of the codec: what one side sends is what the other decodes,
//! and no input makes the decoders panic.

use super::*;
use proptest::prelude::*;

// --- property: what a client sends is what the decoder returns ---

#[derive(Debug, Clone)]
enum Msg {
    Data(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        ".{0,60}".prop_map(|s| Msg::Data(MessageKind::Text, s.into_bytes())),
        proptest::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| Msg::Data(MessageKind::Binary, b)),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Msg::Ping),
    ]
}

/// Decodes frame after frame until the input runs out, is incomplete or
/// fails, checking that `consumed` and `needed` stay consistent.
fn walk_frames(
    dec: &mut Decoder,
    buf: &mut [u8],
) -> Result<(), proptest::test_runner::TestCaseError> {
    let mut at = 0;
    while at < buf.len() {
        let len = buf.len() - at;
        match dec.decode(&mut buf[at..]) {
            Ok(Decoded::Frame { consumed, .. }) => {
                prop_assert!(consumed <= len && consumed > 0);
                at += consumed;
            }
            Ok(Decoded::Incomplete { needed }) => {
                prop_assert!(needed > len);
                break;
            }
            Err(_) => break,
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoder_returns_what_a_client_sent(
        msgs in proptest::collection::vec(msg(), 0..8),
        frag_seed in proptest::collection::vec(any::<u16>(), 64),
        masks in proptest::collection::vec(any::<[u8; 4]>(), 64),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ping_between in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let mut seed = frag_seed.iter().cycle();
        let mut mask = masks.iter().cycle();
        for m in &msgs {
            match m {
                Msg::Ping(p) => {
                    stream.extend(client_frame(true, 0x9, p, *mask.next().expect("cycle")));
                    expected.push(Ev::Ping(p.clone()));
                }
                Msg::Data(kind, data) => {
                    // Split into 1..=4 fragments at arbitrary octets (also
                    // inside UTF-8 sequences).
                    let pieces = 1 + usize::from(*seed.next().expect("cycle")) % 4;
                    let mut bounds: Vec<usize> = (1..pieces)
                        .map(|_| usize::from(*seed.next().expect("cycle")) % (data.len() + 1))
                        .collect();
                    bounds.sort_unstable();
                    bounds.insert(0, 0);
                    bounds.push(data.len());
                    let n = bounds.len() - 1;
                    for i in 0..n {
                        let op = if i > 0 { 0x0 } else if *kind == MessageKind::Text { 0x1 } else { 0x2 };
                        let piece = &data[bounds[i]..bounds[i + 1]];
                        stream.extend(client_frame(i + 1 == n, op, piece, *mask.next().expect("cycle")));
                        if ping_between && i + 1 < n {
                            stream.extend(client_frame(true, 0xA, b"pong", *mask.next().expect("cycle")));
                            expected.push(Ev::Pong(b"pong".to_vec()));
                        }
                    }
                    expected.push(Ev::Message(*kind, data.clone()));
                }
            }
        }
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        offsets.sort_unstable();
        let mut dec = Decoder::new(1 << 16, 1 << 16);
        let got = decode_stream(&mut dec, &stream, &offsets);
        prop_assert_eq!(got, Ok(expected));
        prop_assert!(!dec.in_message());
    }

    #[test]
    fn client_decoder_returns_what_a_server_sent(
        msgs in proptest::collection::vec(msg(), 0..8),
        frag_seed in proptest::collection::vec(any::<u16>(), 64),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let mut seed = frag_seed.iter().cycle();
        for m in &msgs {
            match m {
                Msg::Ping(p) => {
                    stream.extend(server_frame(true, 0x9, p));
                    expected.push(Ev::Ping(p.clone()));
                }
                Msg::Data(kind, data) => {
                    let pieces = 1 + usize::from(*seed.next().expect("cycle")) % 3;
                    let mut bounds: Vec<usize> = (1..pieces)
                        .map(|_| usize::from(*seed.next().expect("cycle")) % (data.len() + 1))
                        .collect();
                    bounds.sort_unstable();
                    bounds.insert(0, 0);
                    bounds.push(data.len());
                    let n = bounds.len() - 1;
                    for i in 0..n {
                        let op = if i > 0 { 0x0 } else if *kind == MessageKind::Text { 0x1 } else { 0x2 };
                        stream.extend(server_frame(i + 1 == n, op, &data[bounds[i]..bounds[i + 1]]));
                    }
                    expected.push(Ev::Message(*kind, data.clone()));
                }
            }
        }
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        offsets.sort_unstable();
        let mut dec = Decoder::client(1 << 16, 1 << 16);
        prop_assert_eq!(decode_stream_min(&mut dec, &stream, &offsets, 2), Ok(expected));
        prop_assert!(!dec.in_message());
    }

    #[test]
    fn client_side_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), max in 0usize..300) {
        let mut dec = Decoder::client(max, max / 2);
        let mut buf = bytes;
        walk_frames(&mut dec, &mut buf)?;
        let _ = parse_upgrade_response(&buf, KEY);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), max in 0usize..300) {
        let mut dec = Decoder::new(max, max / 2);
        let mut buf = bytes;
        walk_frames(&mut dec, &mut buf)?;
        let _ = parse_upgrade(&buf);
    }
}

/// `data` as a text message in `pieces` fragments (cut at arbitrary
/// octets), each masked with `mask`.
fn fragmented(kind_opcode: u8, data: &[u8], pieces: usize, rsv1: bool, mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = pieces.max(1);
    let step = data.len().div_ceil(n).max(1);
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(step).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let opcode = if i == 0 { kind_opcode } else { 0 };
        let mut f = client_frame(last, opcode, c, mask);
        if i == 0 && rsv1 {
            f[0] |= 0x40;
        }
        out.extend(f);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A text message with an octet that can start no UTF-8 sequence fails
    /// as soon as that octet arrives, however the message is fragmented and
    /// however its frames arrive (fail fast: RFC 6455 section 8.1).
    #[test]
    fn bad_utf8_fails_when_it_arrives(
        text in ".{1,80}",
        at in any::<prop::sample::Index>(),
        pieces in 1usize..5,
        mask in any::<[u8; 4]>(),
    ) {
        let mut data = text.into_bytes();
        let bad = at.index(data.len() + 1);
        data.insert(bad, 0xFF);
        let stream = fragmented(1, &data, pieces, false, mask);
        // The stream offset of the bad octet: count payload octets frame by frame.
        let mut dec = Decoder::new(1 << 20, 1 << 20);
        let mut buf = Vec::new();
        let mut failed_at = None;
        for (i, b) in stream.iter().enumerate() {
            buf.push(*b);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Decoded::Frame { consumed, .. }) => { buf.drain(..consumed); }
                    Ok(Decoded::Incomplete { .. }) => break,
                    Err(e) => {
                        prop_assert_eq!(e, WsError::InvalidUtf8);
                        failed_at = Some(i);
                        break;
                    }
                }
            }
            if failed_at.is_some() {
                break;
            }
        }
        let failed_at = failed_at.expect("the message fails");
        // Where the bad octet lies in the stream: walk the frames' payloads.
        let mut payload_seen = 0;
        let mut pos = 0;
        let mut bad_pos = None;
        while pos < stream.len() && bad_pos.is_none() {
            let len7 = usize::from(stream[pos + 1] & 0x7F);
            let (len, hdr) = match len7 {
                126 => (usize::from(u16::from_be_bytes([stream[pos + 2], stream[pos + 3]])), 8),
                n => (n, 6),
            };
            if bad < payload_seen + len {
                bad_pos = Some(pos + hdr + (bad - payload_seen));
            }
            payload_seen += len;
            pos += hdr + len;
        }
        prop_assert_eq!(Some(failed_at), bad_pos);
    }

    /// Compressed messages (permessage-deflate), fragmented and chopped,
    /// come out as they went in, with and without context takeover.
    #[test]
    fn compressed_messages_round_trip(
        texts in proptest::collection::vec(".{0,300}", 1..5),
        pieces in 1usize..4,
        takeover in any::<bool>(),
        mask in any::<[u8; 4]>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut deflater = super::deflate::Deflater::new(15, 6, !takeover);
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for t in &texts {
            let z = deflater.compress(t.as_bytes());
            stream.extend(fragmented(1, &z, pieces, true, mask));
            expected.push(Ev::Message(MessageKind::Text, t.clone().into_bytes()));
        }
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        offsets.sort_unstable();
        let mut dec = Decoder::new(1 << 20, 1 << 20);
        dec.set_deflate(!takeover);
        let got = decode_stream(&mut dec, &stream, &offsets);
        prop_assert_eq!(got, Ok(expected));
    }
}

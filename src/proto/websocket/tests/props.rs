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

//! WebSocket framing micro-benchmarks (`src/proto/websocket.rs`), the per-frame
//! work of every WebSocket connection:
//!
//! - `ws/decode/text_100`: one masked 100-byte text frame (a small CALL or
//!   PUBLISH): header, unmasking in place, UTF-8 check;
//! - `ws/decode/binary_1k`: one masked 1 KiB binary frame;
//! - `ws/decode/batch_100x100`: 100 masked 100-byte text frames read in one
//!   buffer, decoded one after the other as the connection driver does;
//! - `ws/encode/header`: the header of an outgoing frame (what the writer
//!   builds on the stack per frame and subscriber).
//!
//! Decoding unmasks in place, so each iteration first copies the masked input
//! into a reused buffer; `ws/copy/*` measures that copy alone, to subtract.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use junction::proto::websocket::{Decoded, Decoder, Opcode, frame_header};

/// A masked client frame, as a browser sends it.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Decodes every frame in `buf`; returns the number of messages.
fn decode_all(decoder: &mut Decoder, buf: &mut [u8]) -> usize {
    let mut used = 0;
    let mut messages = 0;
    while let Ok(Decoded::Frame { event, consumed }) = decoder.decode(&mut buf[used..]) {
        used += consumed;
        messages += usize::from(event.is_some());
    }
    messages
}

fn bench(c: &mut Criterion) {
    let text: Vec<u8> =
        format!("[16,1,{{}},\"com.example.topic\",[\"{}\"]]", "x".repeat(66)).into_bytes();
    assert_eq!(text.len(), 100);
    let cases = [
        ("text_100", client_frame(1, &text)),
        ("binary_1k", client_frame(2, &[0x5a; 1024])),
        (
            "batch_100x100",
            (0..100).flat_map(|_| client_frame(1, &text)).collect(),
        ),
    ];
    let mut g = c.benchmark_group("ws");
    for (name, input) in &cases {
        g.throughput(Throughput::Bytes(input.len() as u64));
        let mut buf = input.clone();
        let mut decoder = Decoder::new(1 << 20, 1 << 20);
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                buf.copy_from_slice(input);
                black_box(decode_all(&mut decoder, black_box(&mut buf)))
            })
        });
        g.bench_function(format!("copy/{name}"), |b| {
            b.iter(|| {
                buf.copy_from_slice(black_box(input));
                black_box(&buf);
            })
        });
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode/header", |b| {
        b.iter(|| black_box(frame_header(Opcode::Text, black_box(130))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

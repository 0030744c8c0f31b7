//! serde_json and simd-json parsing the same WAMP messages into the same
//! value tree (`serde_json::Value`, built by the same serde visitor), as
//! Junction's JSON codec would with either parser. simd-json parses in place,
//! so its input is first copied into a reused buffer (Junction's frames are
//! decoded from the shard's read buffer, which could be parsed in place,
//! but a copy of a message this size costs a few nanoseconds).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A publish of one device's reading, a call with keyword arguments, and a
/// publish of a 1.6 KB batch of readings.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let readings: Vec<String> = (0..40)
        .map(|i| format!(r#"{{"sensor":"s{i}","value":{i}.25,"ok":true}}"#))
        .collect();
    vec![
        (
            "publish_60B",
            br#"[16,7131533615521111,{},"com.myapp.topic1",[42,"hello"]]"#.to_vec(),
        ),
        (
            "call_kwargs_200B",
            br#"[48,7814135,{"timeout":1000,"receive_progress":true},"com.myapp.add2",[23,7],{"firstname":"John","surname":"Doe","age":42,"tags":["a","b","c"],"nested":{"x":1.5,"y":-2}}]"#.to_vec(),
        ),
        (
            "publish_1600B",
            format!(
                r#"[16,1,{{"acknowledge":true}},"devices.123.telemetry",[[{}]]]"#,
                readings.join(",")
            )
            .into_bytes(),
        ),
    ]
}

fn parse(c: &mut Criterion) {
    for (name, msg) in messages() {
        let mut g = c.benchmark_group(name);
        g.bench_function("serde_json", |b| {
            b.iter(|| {
                serde_json::from_slice::<serde_json::Value>(black_box(&msg)).expect("valid JSON")
            })
        });
        let mut buf = Vec::with_capacity(4096);
        g.bench_function("simd_json", |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&msg));
                simd_json::serde::from_slice::<serde_json::Value>(&mut buf).expect("valid JSON")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);

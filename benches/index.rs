//! `UriIndex` micro-benchmarks: matching one URI against 10k stored patterns,
//! per policy, for the broker (`for_each_match`) and the dealer (`best_match`).
//!
//! Pattern sets (each 10,000 entries):
//! - exact: `com.app{a}.obj{b}.evt{c}` (a, b < 10, c < 100);
//! - prefix: the same strings as prefix patterns;
//! - wildcard: `com.app{a}..evt{c}.x{d}` (a, d < 10, c < 100);
//! - mixed: 3,334 of each of the above.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use junction::core::index::UriIndex;
use junction::proto::uri::MatchPolicy;

const N: usize = 10_000;

fn exact_patterns() -> impl Iterator<Item = String> {
    (0..N).map(|i| format!("com.app{}.obj{}.evt{}", i % 10, (i / 10) % 10, i / 100))
}

fn wildcard_patterns() -> impl Iterator<Item = String> {
    (0..N).map(|i| format!("com.app{}..evt{}.x{}", i % 10, i / 100, (i / 10) % 10))
}

fn build(policy: MatchPolicy) -> UriIndex<u64> {
    let mut ix = UriIndex::new();
    let patterns: Box<dyn Iterator<Item = String>> = match policy {
        MatchPolicy::Wildcard => Box::new(wildcard_patterns()),
        _ => Box::new(exact_patterns()),
    };
    for (i, p) in patterns.enumerate() {
        ix.insert(&p, policy, i as u64);
    }
    assert_eq!(ix.len(), N);
    ix
}

fn build_mixed() -> UriIndex<u64> {
    let mut ix = UriIndex::new();
    let per = N / 3 + 1;
    for (i, p) in exact_patterns().take(per).enumerate() {
        ix.insert(&p, MatchPolicy::Exact, i as u64);
    }
    for (i, p) in exact_patterns().skip(per).take(per).enumerate() {
        ix.insert(&p, MatchPolicy::Prefix, i as u64);
    }
    for (i, p) in wildcard_patterns().take(per).enumerate() {
        ix.insert(&p, MatchPolicy::Wildcard, i as u64);
    }
    ix
}

/// Sums the values of all matches, so nothing is optimized away.
fn match_all(ix: &UriIndex<u64>, uri: &str) -> u64 {
    let mut sum = 0;
    ix.for_each_match(uri, |_, _, v| sum += *v);
    sum
}

fn best(ix: &UriIndex<u64>, uri: &str) -> Option<u64> {
    ix.best_match(uri).map(|(_, _, v)| *v)
}

fn bench_match(c: &mut Criterion) {
    let exact = build(MatchPolicy::Exact);
    let prefix = build(MatchPolicy::Prefix);
    let wildcard = build(MatchPolicy::Wildcard);
    let mixed = build_mixed();

    let hit = "com.app7.obj4.evt57";
    let prefix_hit = "com.app7.obj4.evt57.sub.topic"; // matches evt5 and evt57
    let wildcard_hit = "com.app7.something.evt57.x4";
    let miss = "com.app7.obj4.other.topic";

    assert_eq!(match_all(&exact, hit), 5_747);
    assert_eq!(best(&prefix, prefix_hit), Some(5_747));
    assert_eq!(best(&wildcard, wildcard_hit), Some(5_747));
    assert_eq!(match_all(&mixed, miss), 0);

    let mut g = c.benchmark_group("index_match");
    g.bench_function("exact_hit_10k", |b| {
        b.iter(|| match_all(&exact, black_box(hit)))
    });
    g.bench_function("miss_10k", |b| {
        b.iter(|| match_all(&mixed, black_box(miss)))
    });
    g.bench_function("prefix_10k", |b| {
        b.iter(|| match_all(&prefix, black_box(prefix_hit)))
    });
    g.bench_function("wildcard_10k", |b| {
        b.iter(|| match_all(&wildcard, black_box(wildcard_hit)))
    });
    g.bench_function("mixed_hit_10k", |b| {
        b.iter(|| match_all(&mixed, black_box(prefix_hit)))
    });
    g.finish();

    let mut g = c.benchmark_group("index_best_match");
    g.bench_function("exact_hit_10k", |b| b.iter(|| best(&exact, black_box(hit))));
    g.bench_function("miss_10k", |b| b.iter(|| best(&mixed, black_box(miss))));
    g.bench_function("prefix_10k", |b| {
        b.iter(|| best(&prefix, black_box(prefix_hit)))
    });
    g.bench_function("wildcard_10k", |b| {
        b.iter(|| best(&wildcard, black_box(wildcard_hit)))
    });
    g.finish();
}

fn bench_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("index_update");
    let mut ix = build_mixed();
    g.bench_function("insert_remove_wildcard_10k", |b| {
        b.iter(|| {
            ix.insert(black_box("com.app3..evt999.y"), MatchPolicy::Wildcard, 1);
            ix.remove(black_box("com.app3..evt999.y"), MatchPolicy::Wildcard)
        })
    });
    g.bench_function("insert_remove_prefix_10k", |b| {
        b.iter(|| {
            ix.insert(black_box("com.app3.obj4.evt5x"), MatchPolicy::Prefix, 1);
            ix.remove(black_box("com.app3.obj4.evt5x"), MatchPolicy::Prefix)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_match, bench_update);
criterion_main!(benches);

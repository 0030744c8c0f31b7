//! The loader against mutated configs: every sample file in
//! `tests/config_files/`, each mutated thousands of times by a seeded walk
//! (a value replaced by one of another type or out of range, a key or an
//! element deleted, an element repeated, a key added). The loader never
//! panics, and a refusal always names what is wrong (a message, and a path
//! unless the document itself is wrong).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::*;

const SAMPLES: &[(&str, &str)] = &[
    (
        "auth.json",
        include_str!("../../../tests/config_files/auth.json"),
    ),
    (
        "compat_archive.json",
        include_str!("../../../tests/config_files/compat_archive.json"),
    ),
    (
        "compat_call_queue.json",
        include_str!("../../../tests/config_files/compat_call_queue.json"),
    ),
    (
        "compat_no_transport.json",
        include_str!("../../../tests/config_files/compat_no_transport.json"),
    ),
    (
        "compat_proxy.json",
        include_str!("../../../tests/config_files/compat_proxy.json"),
    ),
    (
        "compat_roles.json",
        include_str!("../../../tests/config_files/compat_roles.json"),
    ),
    (
        "compat_store.json",
        include_str!("../../../tests/config_files/compat_store.json"),
    ),
    (
        "compat_testee_only.json",
        include_str!("../../../tests/config_files/compat_testee_only.json"),
    ),
    (
        "compat_web_only.json",
        include_str!("../../../tests/config_files/compat_web_only.json"),
    ),
    (
        "components.json",
        include_str!("../../../tests/config_files/components.json"),
    ),
    (
        "crossbar.json",
        include_str!("../../../tests/config_files/crossbar.json"),
    ),
    (
        "crossbar.yaml",
        include_str!("../../../tests/config_files/crossbar.yaml"),
    ),
    (
        "crossbar_full.yaml",
        include_str!("../../../tests/config_files/crossbar_full.yaml"),
    ),
    (
        "crossbar_static.json",
        include_str!("../../../tests/config_files/crossbar_static.json"),
    ),
    (
        "embedded_default.json",
        include_str!("../../../tests/config_files/embedded_default.json"),
    ),
    (
        "junction_limits.yaml",
        include_str!("../../../tests/config_files/junction_limits.yaml"),
    ),
    (
        "mqtt.json",
        include_str!("../../../tests/config_files/mqtt.json"),
    ),
    (
        "tls.json",
        include_str!("../../../tests/config_files/tls.json"),
    ),
    (
        "web.json",
        include_str!("../../../tests/config_files/web.json"),
    ),
];

/// Mutations per sample file.
const ROUNDS: usize = 400;

/// A value of a surprising type or size.
fn odd(r: &mut SmallRng) -> Value {
    match r.random_range(0..14) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(u64::MAX),
        5 => json!(1e308),
        6 => json!(0.5),
        7 => json!(""),
        8 => json!("x".repeat(5000)),
        9 => json!([]),
        10 => json!({}),
        11 => json!("${JUNCTION_TEST_NOT_SET}"),
        12 => json!("../../../etc/passwd"),
        _ => json!([{"x": [null]}]),
    }
}

/// Paths (object keys and array indices) of every value in `v`.
fn paths(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(json!(k));
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(json!(i));
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match (v, step) {
        (Value::Object(m), Value::String(k)) => m.get_mut(k),
        (Value::Array(a), Value::Number(i)) => a.get_mut(i.as_u64()? as usize),
        _ => None,
    })
}

/// One seeded change somewhere in `doc`.
fn mutate(doc: &mut Value, r: &mut SmallRng) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let path = all[r.random_range(0..all.len())].clone();
    let op = r.random_range(0..5);
    if op == 0 || path.is_empty() {
        if let Some(v) = get_mut(doc, &path) {
            *v = odd(r);
        }
        return;
    }
    let (last, parent) = path.split_last().expect("not the root");
    let Some(parent) = get_mut(doc, parent) else {
        return;
    };
    match (parent, last, op) {
        (Value::Object(m), Value::String(k), 1) => {
            m.remove(k);
        }
        (Value::Array(a), Value::Number(i), 1) => {
            let i = i.as_u64().unwrap_or(0) as usize;
            if i < a.len() {
                a.remove(i);
            }
        }
        (Value::Array(a), Value::Number(i), 2) => {
            let i = i.as_u64().unwrap_or(0) as usize;
            if let Some(v) = a.get(i).cloned() {
                a.insert(i, v);
            }
        }
        (Value::Object(m), _, 3) => {
            let key = ["type", "port", "realm", "paths", "options", "x", ""][r.random_range(0..7)];
            m.insert(key.to_owned(), odd(r));
        }
        (parent, _, _) => {
            if let Some(v) = get_mut(parent, std::slice::from_ref(last)) {
                *v = match v {
                    Value::String(_) => {
                        json!(["0.0.0.0", "-1", "1e9", "ws", "static", "*"][r.random_range(0..6)])
                    }
                    Value::Number(_) => {
                        json!([0, -5, 65536, 4_294_967_296i64][r.random_range(0..4)])
                    }
                    Value::Object(_) => Value::Object(Map::new()),
                    _ => odd(r),
                };
            }
        }
    }
}

#[test]
fn mutated_configs_are_refused_clearly_and_never_panic() {
    let env = |_: &str| None;
    let ctx = LoadContext {
        node_dir: Path::new("/nonexistent-node-dir"),
        env: &env,
    };
    let mut r = SmallRng::seed_from_u64(14);
    let (mut refused, mut loaded) = (0, 0);
    for (name, text) in SAMPLES {
        let doc: Value = if name.ends_with(".yaml") {
            serde_yaml_ng::from_str(text).expect("sample YAML")
        } else {
            serde_json::from_str(text).expect("sample JSON")
        };
        for round in 0..ROUNDS {
            let mut m = doc.clone();
            for _ in 0..r.random_range(1..4) {
                mutate(&mut m, &mut r);
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Config::from_value_in(&m, &ctx)
            }));
            let Ok(result) = result else {
                panic!("{name}, round {round}: the loader panicked on\n{m:#}");
            };
            match result {
                Ok(config) => {
                    loaded += 1;
                    // What `start` and `check` do next must not panic either.
                    let _ = config.unsupported();
                }
                Err(ConfigError::Invalid(issues)) => {
                    refused += 1;
                    assert!(
                        !issues.is_empty(),
                        "{name}, round {round}: refused without a reason"
                    );
                    for i in &issues {
                        assert!(!i.message.trim().is_empty(), "{name}, round {round}: {i:?}");
                    }
                }
                Err(other) => panic!("{name}, round {round}: {other}"),
            }
        }
    }
    // Both ways happened: many mutations are refused, many are harmless.
    assert!(
        refused > 1000 && loaded > 500,
        "refused {refused}, loaded {loaded}"
    );
}

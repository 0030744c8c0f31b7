//! The router's own counters through Junction's control socket
//! (`--router-control PATH`): cross-shard messages (by kind) and wake-ups,
//! read before and after the measured phase so that a report can say how
//! many routed messages crossed shards per delivery.
//!
//! Protocol (Junction's `src/node/control.rs`): one JSON line
//! `{"command": "metrics"}`, answered by one JSON line whose `text` is the
//! Prometheus text format.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

/// The control socket every meter reads, set once from the command line.
static CONTROL: OnceLock<PathBuf> = OnceLock::new();

/// Sets the router's control socket for this run.
pub fn set_control(path: PathBuf) {
    let _ = CONTROL.set(path);
}

/// The router's control socket, if one was given.
pub fn control() -> Option<&'static Path> {
    CONTROL.get().map(PathBuf::as_path)
}

/// Cross-shard counters summed over the router's shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshSnapshot {
    /// Messages sent to other shards.
    pub sent: u64,
    /// Wake-ups of other shards.
    pub wakes: u64,
    /// Messages sent to other shards by kind.
    pub by_kind: BTreeMap<String, u64>,
}

impl MeshSnapshot {
    /// Reads the counters out of Prometheus text `text`.
    pub fn parse(text: &str) -> MeshSnapshot {
        let mut s = MeshSnapshot::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let v = v as u64;
            let name = series.split('{').next().unwrap_or(series);
            match name {
                "junction_cross_shard_messages_sent_total" => s.sent += v,
                "junction_cross_shard_wakes_total" => s.wakes += v,
                "junction_cross_shard_messages_by_kind_total" => {
                    if let Some(kind) = label(series, "kind") {
                        *s.by_kind.entry(kind.to_owned()).or_default() += v;
                    }
                }
                _ => {}
            }
        }
        s
    }

    /// What happened between `self` (before) and `after`.
    pub fn delta(&self, after: &MeshSnapshot) -> MeshSnapshot {
        MeshSnapshot {
            sent: after.sent.saturating_sub(self.sent),
            wakes: after.wakes.saturating_sub(self.wakes),
            by_kind: after
                .by_kind
                .iter()
                .map(|(k, v)| {
                    let before = self.by_kind.get(k).copied().unwrap_or(0);
                    (k.clone(), v.saturating_sub(before))
                })
                .collect(),
        }
    }

    /// The figures per delivery, for a report's `extra`.
    pub fn per_delivery(&self, delivered: u64) -> serde_json::Map<String, serde_json::Value> {
        let d = delivered.max(1) as f64;
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let mut m = serde_json::Map::new();
        m.insert("cross_shard_messages".into(), self.sent.into());
        m.insert(
            "cross_shard_per_delivery".into(),
            round(self.sent as f64 / d).into(),
        );
        m.insert(
            "wakes_per_delivery".into(),
            round(self.wakes as f64 / d).into(),
        );
        let kinds: serde_json::Map<String, serde_json::Value> = self
            .by_kind
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (k.clone(), round(*v as f64 / d).into()))
            .collect();
        m.insert("cross_shard_per_delivery_by_kind".into(), kinds.into());
        m
    }
}

/// The value of label `key` in a series `name{a="x",key="y"}`.
fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    let labels = series.split_once('{')?.1.strip_suffix('}')?;
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// Asks the router at `path` for its metrics and reads the mesh counters.
///
/// # Errors
/// Nothing listens there, or the answer is not a metrics answer.
pub fn read_mesh(path: &Path) -> anyhow::Result<MeshSnapshot> {
    let conn = UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to the router's control socket {}",
            path.display()
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    (&conn).write_all(b"{\"command\": \"metrics\"}\n")?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).context("the router's answer is not JSON")?;
    if v.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
        bail!("the router refused the metrics request: {line}");
    }
    let Some(text) = v.get("text").and_then(serde_json::Value::as_str) else {
        bail!("the router's metrics answer has no text");
    };
    Ok(MeshSnapshot::parse(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP junction_cross_shard_messages_sent_total Messages sent to other shards.
# TYPE junction_cross_shard_messages_sent_total counter
junction_cross_shard_messages_sent_total{shard=\"0\"} 10
junction_cross_shard_messages_sent_total{shard=\"1\"} 32
junction_cross_shard_messages_by_kind_total{kind=\"call\",shard=\"0\"} 7
junction_cross_shard_messages_by_kind_total{kind=\"call\",shard=\"1\"} 2
junction_cross_shard_messages_by_kind_total{kind=\"return\",shard=\"1\"} 30
junction_cross_shard_wakes_total{shard=\"0\"} 4
junction_cross_shard_wakes_total{shard=\"1\"} 5
junction_cross_shard_messages_received_total{shard=\"1\"} 99
";

    #[test]
    fn sums_shards_and_kinds_and_takes_deltas() {
        let after = MeshSnapshot::parse(TEXT);
        assert_eq!(after.sent, 42);
        assert_eq!(after.wakes, 9);
        assert_eq!(after.by_kind.get("call"), Some(&9));
        assert_eq!(after.by_kind.get("return"), Some(&30));
        let before = MeshSnapshot {
            sent: 2,
            wakes: 1,
            by_kind: [("call".to_owned(), 1)].into_iter().collect(),
        };
        let d = before.delta(&after);
        assert_eq!((d.sent, d.wakes), (40, 8));
        assert_eq!(d.by_kind.get("call"), Some(&8));
        assert_eq!(d.by_kind.get("return"), Some(&30));
        let m = d.per_delivery(20);
        assert_eq!(m["cross_shard_per_delivery"], 2.0);
        assert_eq!(m["wakes_per_delivery"], 0.4);
        assert_eq!(m["cross_shard_per_delivery_by_kind"]["return"], 1.5);
    }

    #[test]
    fn labels_are_found_by_name() {
        assert_eq!(label("m{kind=\"call\",shard=\"0\"}", "kind"), Some("call"));
        assert_eq!(label("m{kind=\"call\",shard=\"0\"}", "shard"), Some("0"));
        assert_eq!(label("m{shard=\"0\"}", "kind"), None);
        assert_eq!(label("m", "kind"), None);
    }

    #[test]
    fn reads_a_metrics_answer_from_a_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctl.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let mut req = String::new();
            BufReader::new(&conn).read_line(&mut req).expect("request");
            assert_eq!(req.trim(), "{\"command\": \"metrics\"}");
            let answer = serde_json::json!({"ok": true, "text": TEXT}).to_string() + "\n";
            (&conn).write_all(answer.as_bytes()).expect("answer");
        });
        let s = read_mesh(&path).expect("metrics");
        server.join().expect("server");
        assert_eq!(s.sent, 42);
        assert!(read_mesh(&dir.path().join("none.sock")).is_err());
    }
}

//! What `junction status` shows: the node's facts (version, PID, uptime,
//! config file) and the shards' (listeners, connections, sessions per realm
//! and transport), built from the shards' reports, as JSON and as a table.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::workers::WorkerStatus;
use crate::shard::ShardReport;

/// A running node's status (`junction status --json` prints this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Junction's version.
    pub version: String,
    /// The process ID.
    pub pid: u32,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// The config file (`None`: the embedded default).
    pub config: Option<String>,
    /// Shards running.
    pub shards: usize,
    /// Shards that answered this request (fewer: a shard is stuck).
    pub shards_answered: usize,
    /// Whether a graceful shutdown is under way.
    pub draining: bool,
    /// While the start holds clients back for the router's components:
    /// seconds until the listeners accept anyway (`junction.components_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holding_seconds: Option<f64>,
    /// Reloads applied and refused since the start.
    pub reloads: Reloads,
    /// Listeners, one per transport.
    pub listeners: Vec<Listener>,
    /// Joined sessions per realm and transport, all shards.
    pub sessions: Vec<Sessions>,
    /// Per shard.
    pub per_shard: Vec<ShardStatus>,
    /// Guest workers, in config order.
    #[serde(default)]
    pub workers: Vec<WorkerStatus>,
}

/// Reload counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloads {
    /// Applied.
    pub ok: u64,
    /// Refused (the running config stayed).
    pub failed: u64,
}

/// One transport's listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// The transport ID.
    pub transport: String,
    /// Where clients connect.
    pub url: String,
    /// The shards accepting on it.
    pub shards: Vec<u16>,
}

/// Sessions of one realm over one transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// The realm.
    pub realm: String,
    /// The transport ID.
    pub transport: String,
    /// Joined sessions.
    pub count: u64,
}

/// One shard's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStatus {
    /// The shard.
    pub shard: u16,
    /// Open client connections.
    pub connections: usize,
    /// Joined sessions, those held offline included.
    pub sessions: u64,
    /// MQTT sessions held while their client is away (in `sessions`, not
    /// in `connections`).
    #[serde(default)]
    pub offline_sessions: usize,
    /// Subscriptions its sessions hold.
    pub subscriptions: u64,
    /// Registrations its sessions hold.
    pub registrations: u64,
}

/// What the node knows about itself, for [`Status::build`].
pub struct NodeFacts<'a> {
    /// Time since the start.
    pub uptime: Duration,
    /// The config file.
    pub config: Option<&'a Path>,
    /// Shards running.
    pub shards: usize,
    /// Draining.
    pub draining: bool,
    /// Time left while the listeners are held for the router's components.
    pub holding: Option<Duration>,
    /// Reload counts.
    pub reloads: Reloads,
}

impl Status {
    /// The status from the node's facts and the shards' reports.
    pub fn build(
        node: &NodeFacts<'_>,
        reports: &[ShardReport],
        workers: Vec<WorkerStatus>,
    ) -> Status {
        let mut listeners: Vec<Listener> = Vec::new();
        let mut sessions: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut per_shard = Vec::with_capacity(reports.len());
        for r in reports {
            for a in &r.listeners {
                match listeners
                    .iter_mut()
                    .find(|l| l.transport == a.transport && l.url == a.url)
                {
                    Some(l) => l.shards.push(r.shard),
                    None => listeners.push(Listener {
                        transport: a.transport.clone(),
                        url: a.url.clone(),
                        shards: vec![r.shard],
                    }),
                }
            }
            let mut joined = 0;
            for (realm, transport, _, n) in &r.metrics.sessions {
                *sessions
                    .entry((realm.clone(), transport.clone()))
                    .or_insert(0) += n;
                joined += n;
            }
            per_shard.push(ShardStatus {
                shard: r.shard,
                connections: r.connections,
                sessions: joined,
                offline_sessions: r.offline_sessions,
                subscriptions: r.metrics.subscriptions,
                registrations: r.metrics.registrations,
            });
        }
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            uptime_seconds: node.uptime.as_secs_f64(),
            config: node.config.map(|p| p.display().to_string()),
            shards: node.shards,
            shards_answered: reports.len(),
            draining: node.draining,
            holding_seconds: node.holding.map(|d| d.as_secs_f64()),
            reloads: node.reloads,
            listeners,
            sessions: sessions
                .into_iter()
                .map(|((realm, transport), count)| Sessions {
                    realm,
                    transport,
                    count,
                })
                .collect(),
            per_shard,
            workers,
        }
    }

    /// The status as a human-readable report with tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "junction {} (pid {}), up {}{}",
            self.version,
            self.pid,
            uptime(self.uptime_seconds),
            if self.draining { ", shutting down" } else { "" }
        );
        if let Some(left) = self.holding_seconds {
            let _ = writeln!(
                out,
                "starting: clients wait until the router's components have joined ({left:.1} s at most)"
            );
        }
        let _ = writeln!(
            out,
            "config:  {}",
            self.config.as_deref().unwrap_or("(embedded default)")
        );
        let answered = if self.shards_answered == self.shards {
            String::new()
        } else {
            format!(" ({} answered)", self.shards_answered)
        };
        let _ = writeln!(out, "shards:  {}{answered}", self.shards);
        let _ = writeln!(
            out,
            "reloads: {} applied, {} refused",
            self.reloads.ok, self.reloads.failed
        );
        out.push('\n');
        table(
            &mut out,
            &["TRANSPORT", "URL", "SHARDS"],
            self.listeners
                .iter()
                .map(|l| vec![l.transport.clone(), l.url.clone(), shard_list(&l.shards)])
                .collect(),
        );
        out.push('\n');
        if self.sessions.is_empty() {
            out.push_str("no sessions\n");
        } else {
            table(
                &mut out,
                &["REALM", "TRANSPORT", "SESSIONS"],
                self.sessions
                    .iter()
                    .map(|s| vec![s.realm.clone(), s.transport.clone(), s.count.to_string()])
                    .collect(),
            );
        }
        out.push('\n');
        table(
            &mut out,
            &[
                "SHARD",
                "CONNECTIONS",
                "SESSIONS",
                "OFFLINE",
                "SUBSCRIPTIONS",
                "REGISTRATIONS",
            ],
            self.per_shard
                .iter()
                .map(|s| {
                    vec![
                        s.shard.to_string(),
                        s.connections.to_string(),
                        s.sessions.to_string(),
                        s.offline_sessions.to_string(),
                        s.subscriptions.to_string(),
                        s.registrations.to_string(),
                    ]
                })
                .collect(),
        );
        if !self.workers.is_empty() {
            out.push('\n');
            table(
                &mut out,
                &["WORKER", "TYPE", "PID", "STATE", "RESTARTS", "LAST EXIT"],
                self.workers
                    .iter()
                    .map(|w| {
                        vec![
                            w.id.clone(),
                            w.kind.clone(),
                            w.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                            w.state.as_str().to_owned(),
                            w.restarts.to_string(),
                            w.last_exit.clone().unwrap_or_else(|| "-".to_owned()),
                        ]
                    })
                    .collect(),
            );
        }
        out
    }
}

/// `3725.2` → `1h 2m 5s`.
fn uptime(secs: f64) -> String {
    let s = secs as u64;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

/// `[0, 1, 2, 5]` → `0-2,5`, in any order.
fn shard_list(shards: &[u16]) -> String {
    let mut s: Vec<usize> = shards.iter().map(|&n| usize::from(n)).collect();
    s.sort_unstable();
    crate::shard::compact_list(&s)
}

/// Writes `rows` under `header`, columns padded to their widest cell.
fn table(out: &mut String, header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:<w$}  ");
            }
        }
        out.push('\n');
    };
    line(out, header.to_vec());
    for r in &rows {
        line(out, r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metrics::MetricsSnapshot;
    use crate::node::workers::WorkerState;
    use crate::shard::ListenAddr;

    fn report(shard: u16, sessions: Vec<(&str, &str, u64)>) -> ShardReport {
        ShardReport {
            shard,
            connections: sessions.iter().map(|s| s.2 as usize).sum(),
            offline_sessions: 0,
            listeners: vec![ListenAddr {
                transport: "ws".into(),
                url: "ws://127.0.0.1:8080/ws".into(),
            }],
            metrics: MetricsSnapshot {
                sessions: sessions
                    .into_iter()
                    .map(|(r, t, n)| (r.into(), t.into(), "anonymous".into(), n))
                    .collect(),
                subscriptions: 3,
                ..MetricsSnapshot::default()
            },
            mesh: Default::default(),
            uring: Default::default(),
            coalesce: Default::default(),
        }
    }

    #[test]
    fn sessions_add_up_over_shards_and_the_table_lines_up() {
        let facts = NodeFacts {
            uptime: Duration::from_secs(3725),
            config: Some(Path::new("/etc/junction/config.json")),
            shards: 3,
            draining: false,
            holding: Some(Duration::from_millis(8500)),
            reloads: Reloads { ok: 1, failed: 2 },
        };
        let s = Status::build(
            &facts,
            &[report(0, vec![("realm1", "ws", 2), ("realm2", "ws", 1)]), {
                // One of its three sessions is an MQTT session held offline.
                let mut r = report(1, vec![("realm1", "ws", 3)]);
                r.connections = 2;
                r.offline_sessions = 1;
                r
            }],
            vec![
                WorkerStatus {
                    id: "backend".into(),
                    kind: "guest".into(),
                    pid: Some(4242),
                    state: WorkerState::Running,
                    starts: 3,
                    exits: 2,
                    restarts: 2,
                    last_exit: Some("exit status 1".into()),
                },
                WorkerStatus {
                    id: "gone".into(),
                    kind: "guest".into(),
                    pid: None,
                    state: WorkerState::Exited,
                    starts: 1,
                    exits: 1,
                    restarts: 0,
                    last_exit: None,
                },
            ],
        );
        assert_eq!(
            s.sessions,
            vec![
                Sessions {
                    realm: "realm1".into(),
                    transport: "ws".into(),
                    count: 5
                },
                Sessions {
                    realm: "realm2".into(),
                    transport: "ws".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(s.listeners[0].shards, vec![0, 1]);
        assert_eq!(s.shards_answered, 2);
        let text = s.to_table();
        assert!(text.contains("up 1h 2m 5s"), "{text}");
        assert!(
            text.contains(
                "starting: clients wait until the router's components have joined (8.5 s at most)"
            ),
            "{text}"
        );
        assert_eq!(s.holding_seconds, Some(8.5));
        assert!(text.contains("shards:  3 (2 answered)"), "{text}");
        assert!(
            text.contains("ws         ws://127.0.0.1:8080/ws  0-1"),
            "{text}"
        );
        assert!(text.contains("realm1  ws         5"), "{text}");
        assert!(
            text.contains("SHARD  CONNECTIONS  SESSIONS  OFFLINE  SUBSCRIPTIONS"),
            "{text}"
        );
        assert!(
            text.contains("1      2            3         1        3"),
            "{text}"
        );
        assert_eq!(s.per_shard[1].offline_sessions, 1);
        assert!(
            text.contains("WORKER   TYPE   PID   STATE    RESTARTS  LAST EXIT\n"),
            "{text}"
        );
        assert!(
            text.contains("backend  guest  4242  running  2         exit status 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gone     guest  -     exited   0         -\n"),
            "{text}"
        );
        // JSON round trip.
        let json = serde_json::to_string(&s).expect("serialize");
        let back: Status = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, s);
    }

    #[test]
    fn shard_lists_and_uptimes_are_compact() {
        assert_eq!(shard_list(&[2, 0, 1, 5]), "0-2,5");
        assert_eq!(uptime(59.9), "59s");
        assert_eq!(uptime(61.0), "1m 1s");
        assert_eq!(uptime(90_061.0), "1d 1h 1m");
    }
}

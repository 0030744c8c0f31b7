//! The Prometheus text exposition format (version 0.0.4) of the shards'
//! reports: [`render_metrics`]. Every series carries a `shard` label; the
//! counters come from each shard's own copy ([`ShardReport`]), taken on its
//! own thread when asked, so a scrape costs the shards one message each and
//! never a lock. `docs/metrics.md` documents every metric.
//!
//! The web server's `{"type": "metrics"}` path (and `junction status
//! --metrics` over the control socket) call [`render_metrics`] with
//! [`RouterControl::gather`](super::RouterControl::gather) /
//! [`RouterControl::reports`](super::RouterControl::reports).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::request::{ProcessStats, ShardReport};
use crate::core::metrics::LATENCY_BUCKETS;
use crate::proto::code_name;
use crate::proto::message::code;

/// The content type of [`render_metrics`]'s output.
pub const CONTENT_TYPE: &str = crate::transport::http::METRICS_CONTENT_TYPE;

/// The web server's `metrics` paths' source on one shard: every shard's
/// report, gathered through the control channels without blocking the
/// reactor ([`RouterControl::gather`](super::RouterControl::gather)), rendered.
pub(super) struct WebMetrics(pub super::RouterControl);

impl crate::transport::http::MetricsSource for WebMetrics {
    fn scrape(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = String>>> {
        let control = self.0.clone();
        Box::pin(async move {
            let reports = control.gather().await;
            render_metrics(&reports, control.process())
        })
    }
}

/// Message types a client sends, always listed (zero or not) so that
/// dashboards see every series from the first scrape.
const FROM_CLIENTS: [u64; 13] = [
    code::HELLO,
    code::ABORT,
    code::AUTHENTICATE,
    code::GOODBYE,
    code::ERROR,
    code::PUBLISH,
    code::SUBSCRIBE,
    code::UNSUBSCRIBE,
    code::CALL,
    code::CANCEL,
    code::REGISTER,
    code::UNREGISTER,
    code::YIELD,
];

/// Message types the router sends, always listed.
const TO_CLIENTS: [u64; 14] = [
    code::WELCOME,
    code::ABORT,
    code::CHALLENGE,
    code::GOODBYE,
    code::ERROR,
    code::PUBLISHED,
    code::SUBSCRIBED,
    code::UNSUBSCRIBED,
    code::EVENT,
    code::RESULT,
    code::REGISTERED,
    code::UNREGISTERED,
    code::INVOCATION,
    code::INTERRUPT,
];

/// A label value, escaped as the text format requires (`\\`, `\"`, `\n`).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `# HELP` and `# TYPE` for a metric.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A float as the text format writes it.
fn float(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// Renders `reports` (one per shard) and the process's own facts in the
/// Prometheus text format.
pub fn render_metrics(reports: &[ShardReport], process: &ProcessStats) -> String {
    let mut out = String::with_capacity(8 * 1024);
    head(
        &mut out,
        "junction_build_info",
        "gauge",
        "Always 1; the version is a label.",
    );
    let _ = writeln!(
        out,
        "junction_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    head(
        &mut out,
        "junction_start_time_seconds",
        "gauge",
        "When the router started, in seconds since the Unix epoch.",
    );
    let _ = writeln!(
        out,
        "junction_start_time_seconds {}",
        float(process.start_unix_ms as f64 / 1000.0)
    );
    head(
        &mut out,
        "junction_shards",
        "gauge",
        "Shards (threads, one per core) that answered this scrape.",
    );
    let _ = writeln!(out, "junction_shards {}", reports.len());
    head(
        &mut out,
        "junction_config_reloads_total",
        "counter",
        "Configuration reloads, by result (ok: applied; failed: refused, the running config stayed).",
    );
    let _ = writeln!(
        out,
        "junction_config_reloads_total{{result=\"ok\"}} {}",
        process.reloads.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "junction_config_reloads_total{{result=\"failed\"}} {}",
        process.reload_failures.load(Ordering::Relaxed)
    );

    messages(
        &mut out,
        reports,
        "junction_wamp_messages_received_total",
        "WAMP messages received from clients, by message type.",
        &FROM_CLIENTS,
        |r| &r.metrics.received,
    );
    messages(
        &mut out,
        reports,
        "junction_wamp_messages_sent_total",
        "WAMP messages queued for clients, by message type.",
        &TO_CLIENTS,
        |r| &r.metrics.sent,
    );
    per_shard(
        &mut out,
        reports,
        "junction_wamp_sent_bytes_total",
        "counter",
        "Bytes of encoded WAMP messages queued for clients (before WebSocket/RawSocket framing).",
        |r| r.metrics.sent_bytes,
    );
    per_shard(
        &mut out,
        reports,
        "junction_connections",
        "gauge",
        "Open client connections (MQTT sessions held offline and HTTP bridge service sessions are sessions without one).",
        |r| r.connections as u64,
    );
    per_shard(
        &mut out,
        reports,
        "junction_mqtt_offline_sessions",
        "gauge",
        "MQTT sessions held while their client is away (a session each, no connection).",
        |r| r.offline_sessions as u64,
    );
    head(
        &mut out,
        "junction_sessions",
        "gauge",
        "Joined sessions, by realm, transport and authentication method.",
    );
    for r in reports {
        for (realm, transport, method, n) in &r.metrics.sessions {
            let _ = writeln!(
                out,
                "junction_sessions{{realm=\"{}\",transport=\"{}\",authmethod=\"{}\",shard=\"{}\"}} {n}",
                escape(realm),
                escape(transport),
                escape(method),
                r.shard
            );
        }
    }
    per_shard(
        &mut out,
        reports,
        "junction_subscriptions",
        "gauge",
        "Subscriptions held by the shard's sessions.",
        |r| r.metrics.subscriptions,
    );
    per_shard(
        &mut out,
        reports,
        "junction_registrations",
        "gauge",
        "Registrations held by the shard's sessions.",
        |r| r.metrics.registrations,
    );
    per_shard(
        &mut out,
        reports,
        "junction_outbox_queued_bytes",
        "gauge",
        "Bytes queued for clients and not yet written to their sockets.",
        |r| r.metrics.queued_bytes,
    );
    per_shard(
        &mut out,
        reports,
        "junction_outbox_queued_frames",
        "gauge",
        "Frames queued for clients and not yet written to their sockets.",
        |r| r.metrics.queued_frames,
    );
    per_shard(
        &mut out,
        reports,
        "junction_slow_consumer_closes_total",
        "counter",
        "Sessions closed because their outbound queue reached outbound_queue_bytes.",
        |r| r.metrics.slow_consumer_closes,
    );
    head(
        &mut out,
        "junction_auth_failures_total",
        "counter",
        "Authentications refused, by method (none: no method the client offered is accepted).",
    );
    for r in reports {
        for (method, n) in &r.metrics.auth_failures {
            let _ = writeln!(
                out,
                "junction_auth_failures_total{{method=\"{}\",shard=\"{}\"}} {n}",
                escape(method),
                r.shard
            );
        }
    }
    head(
        &mut out,
        "junction_wamp_errors_sent_total",
        "counter",
        "ERROR messages queued for clients, by error URI (the first 64 URIs by name, then \"other\").",
    );
    for r in reports {
        for (uri, n) in &r.metrics.errors_sent {
            let _ = writeln!(
                out,
                "junction_wamp_errors_sent_total{{uri=\"{}\",shard=\"{}\"}} {n}",
                escape(uri),
                r.shard
            );
        }
    }
    per_shard(
        &mut out,
        reports,
        "junction_cross_shard_messages_sent_total",
        "counter",
        "Messages sent to other shards.",
        |r| r.mesh.sent,
    );
    head(
        &mut out,
        "junction_cross_shard_messages_by_kind_total",
        "counter",
        "Messages sent to other shards, by what they are for: publish, call (calls, chunks, cancels), return (results and errors), index (subscription and registration upkeep), meta, front.",
    );
    for r in reports {
        for (kind, n) in &r.mesh.sent_by_kind {
            let _ = writeln!(
                out,
                "junction_cross_shard_messages_by_kind_total{{kind=\"{kind}\",shard=\"{}\"}} {n}",
                r.shard
            );
        }
    }
    per_shard(
        &mut out,
        reports,
        "junction_cross_shard_messages_received_total",
        "counter",
        "Messages received from other shards.",
        |r| r.mesh.received,
    );
    per_shard(
        &mut out,
        reports,
        "junction_cross_shard_wakes_total",
        "counter",
        "Wake-ups of other shards (at most one per peer per routing step).",
        |r| r.mesh.wakes,
    );
    per_shard(
        &mut out,
        reports,
        "junction_uring_receives_total",
        "counter",
        "Receive completions carrying data on the shard's io_uring.",
        |r| r.uring.recvs,
    );
    per_shard(
        &mut out,
        reports,
        "junction_uring_sends_total",
        "counter",
        "Sends submitted on the shard's io_uring.",
        |r| r.uring.sends,
    );
    per_shard(
        &mut out,
        reports,
        "junction_uring_submits_total",
        "counter",
        "io_uring_enter calls the shard's ring made to submit.",
        |r| r.uring.submits,
    );
    per_shard(
        &mut out,
        reports,
        "junction_write_coalesce_windows_total",
        "counter",
        "Write coalescing windows that ended with connections to release.",
        |r| r.coalesce.windows,
    );
    per_shard(
        &mut out,
        reports,
        "junction_write_coalesce_holds_total",
        "counter",
        "Times write coalescing held a connection's writes back.",
        |r| r.coalesce.holds,
    );
    per_shard(
        &mut out,
        reports,
        "junction_uring_recv_starved_total",
        "counter",
        "Receives re-armed after the shard's receive buffers ran out (ENOBUFS).",
        |r| r.uring.starved,
    );
    head(
        &mut out,
        "junction_uring_recv_starve_max_seconds",
        "gauge",
        "The longest a receive waited for a receive buffer since the shard started.",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "junction_uring_recv_starve_max_seconds{{shard=\"{}\"}} {}",
            r.shard,
            float(r.uring.starved_max_us as f64 / 1e6)
        );
    }
    per_shard(
        &mut out,
        reports,
        "junction_uring_buffers_grown_total",
        "counter",
        "Times the shard's receive-buffer working set doubled.",
        |r| r.uring.grown,
    );
    per_shard(
        &mut out,
        reports,
        "junction_uring_buffers_shrunk_total",
        "counter",
        "Times the shard's receive-buffer working set shrank.",
        |r| r.uring.shrunk,
    );
    head(
        &mut out,
        "junction_routing_latency_seconds",
        "histogram",
        "Time from receiving a PUBLISH or CALL (before decoding) to the end of its routing step on the receiving shard (last enqueue, last cross-shard send).",
    );
    for r in reports {
        let h = &r.metrics.latency;
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i];
            let _ = writeln!(
                out,
                "junction_routing_latency_seconds_bucket{{shard=\"{}\",le=\"{}\"}} {cumulative}",
                r.shard,
                float(*le)
            );
        }
        let _ = writeln!(
            out,
            "junction_routing_latency_seconds_bucket{{shard=\"{}\",le=\"+Inf\"}} {}",
            r.shard, h.count
        );
        let _ = writeln!(
            out,
            "junction_routing_latency_seconds_sum{{shard=\"{}\"}} {}",
            r.shard,
            float(h.sum_ns as f64 / 1e9)
        );
        let _ = writeln!(
            out,
            "junction_routing_latency_seconds_count{{shard=\"{}\"}} {}",
            r.shard, h.count
        );
    }
    if let Ok(node) = process.node_text.lock() {
        out.push_str(&node);
    }
    out
}

/// One value per shard.
fn per_shard(
    out: &mut String,
    reports: &[ShardReport],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&ShardReport) -> u64,
) {
    head(out, name, kind, help);
    for r in reports {
        let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", r.shard, value(r));
    }
}

/// A counter per (message type, shard): the usual types always, others when not zero.
fn messages<'a>(
    out: &mut String,
    reports: &'a [ShardReport],
    name: &str,
    help: &str,
    usual: &[u64],
    counts: impl Fn(&'a ShardReport) -> &'a Vec<u64>,
) {
    head(out, name, "counter", help);
    for r in reports {
        let c = counts(r);
        for (code, n) in c.iter().enumerate() {
            let code = code as u64;
            if *n == 0 && !usual.contains(&code) {
                continue;
            }
            let _ = writeln!(
                out,
                "{name}{{type=\"{}\",shard=\"{}\"}} {n}",
                code_name(code),
                r.shard
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metrics::{Histogram, MetricsSnapshot};

    fn report(shard: u16) -> ShardReport {
        let mut received = vec![0; 71];
        received[code::PUBLISH as usize] = 7;
        received[code::EVENT as usize] = 1; // not a client message: listed because not zero
        let mut latency = Histogram::default();
        latency.observe(std::time::Duration::from_micros(3));
        latency.observe(std::time::Duration::from_millis(3));
        ShardReport {
            shard,
            connections: 2,
            offline_sessions: 1,
            listeners: Vec::new(),
            metrics: MetricsSnapshot {
                received,
                sent: vec![0; 71],
                sessions: vec![("realm\"1".into(), "ws".into(), "anonymous".into(), 2)],
                errors_sent: vec![("a\\b\nc".into(), 1)],
                latency,
                ..MetricsSnapshot::default()
            },
            mesh: crate::shard::request::MeshCounters {
                sent: 5,
                sent_by_kind: vec![("call", 3), ("return", 2)],
                ..Default::default()
            },
            uring: crate::transport::uring::Stats {
                recvs: 11,
                starved: 4,
                starved_max_us: 2_500,
                ..Default::default()
            },
            coalesce: crate::transport::hold::Stats {
                windows: 3,
                holds: 40,
            },
        }
    }

    /// The metric names `text` declares (`# TYPE` lines).
    fn declared(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect()
    }

    /// Every `junction_...` name in `text`.
    fn names_in(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("junction_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
        out
    }

    #[test]
    fn docs_and_dashboard_name_only_metrics_that_exist_and_docs_name_them_all() {
        let text = render_metrics(&[report(0)], &ProcessStats::default());
        let declared = declared(&text);
        let base = |n: &str| {
            n.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
                .to_owned()
        };
        let docs = include_str!("../../docs/metrics.md");
        for name in &declared {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/metrics.md lacks {name}"
            );
        }
        let dashboard = include_str!("../../dist/grafana-dashboard.json");
        let used = names_in(dashboard);
        assert!(used.len() > 10, "{used:?}");
        for name in used.iter().chain(names_in(docs).iter()) {
            // The node renders these (`ProcessStats::node_text`) and checks them.
            if name.starts_with("junction_guest_") {
                continue;
            }
            assert!(
                declared.contains(name) || declared.contains(&base(name)),
                "{name} is not a metric Junction renders"
            );
        }
    }

    #[test]
    fn renders_labels_escaped_and_histograms_cumulative() {
        let text = render_metrics(&[report(0), report(1)], &ProcessStats::default());
        for line in [
            "junction_wamp_messages_received_total{type=\"PUBLISH\",shard=\"1\"} 7",
            "junction_wamp_messages_received_total{type=\"EVENT\",shard=\"0\"} 1",
            "junction_wamp_messages_received_total{type=\"CALL\",shard=\"0\"} 0",
            "junction_wamp_messages_sent_total{type=\"EVENT\",shard=\"0\"} 0",
            "junction_sessions{realm=\"realm\\\"1\",transport=\"ws\",authmethod=\"anonymous\",shard=\"0\"} 2",
            "junction_wamp_errors_sent_total{uri=\"a\\\\b\\nc\",shard=\"1\"} 1",
            "junction_routing_latency_seconds_bucket{shard=\"0\",le=\"0.000005\"} 1",
            "junction_routing_latency_seconds_bucket{shard=\"0\",le=\"0.002\"} 1",
            "junction_routing_latency_seconds_bucket{shard=\"0\",le=\"0.005\"} 2",
            "junction_routing_latency_seconds_bucket{shard=\"0\",le=\"+Inf\"} 2",
            "junction_routing_latency_seconds_count{shard=\"1\"} 2",
            "junction_routing_latency_seconds_sum{shard=\"1\"} 0.003003",
            "junction_shards 2",
            "junction_connections{shard=\"1\"} 2",
            "junction_mqtt_offline_sessions{shard=\"0\"} 1",
            "junction_cross_shard_messages_sent_total{shard=\"0\"} 5",
            "junction_cross_shard_messages_by_kind_total{kind=\"call\",shard=\"1\"} 3",
            "junction_cross_shard_messages_by_kind_total{kind=\"return\",shard=\"0\"} 2",
            "junction_uring_receives_total{shard=\"1\"} 11",
            "junction_uring_recv_starved_total{shard=\"0\"} 4",
            "junction_uring_recv_starve_max_seconds{shard=\"1\"} 0.0025",
            "junction_uring_sends_total{shard=\"0\"} 0",
            "junction_write_coalesce_windows_total{shard=\"1\"} 3",
            "junction_write_coalesce_holds_total{shard=\"0\"} 40",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        // A client never sends EVENT: not listed when zero.
        assert!(!text.contains("received_total{type=\"WELCOME\""));
        // Every sample belongs to a declared metric.
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().expect("name");
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(declared.contains(&name) || declared.contains(&base), "{l}");
        }
    }
}

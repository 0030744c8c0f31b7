//! End-to-end tests of loadgen against its own baseline-server (as a child
//! process): exact loss and reorder counts with the fault flags, exit
//! statuses, every scenario on both transports; and a smoke test against the
//! real Junction binary when one has been built.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// A running child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `baseline-server` with `args`; returns it and its port.
fn baseline(args: &[&str]) -> (Proc, u16) {
    let mut child = Command::new(LOADGEN)
        .args(["baseline-server", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start baseline-server");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("read");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Proc(child), port)
}

/// Runs loadgen with `args` plus `--json`; returns the exit code and the JSON.
fn loadgen(args: &[&str]) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("out.json");
    let out = Command::new(LOADGEN)
        .args(args)
        .args(["--json", json.to_str().expect("utf-8 path")])
        .output()
        .expect("run loadgen");
    let code = out.status.code().expect("exit code");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "no JSON written (exit {code}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, serde_json::from_str(&text).expect("valid JSON"))
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn clean_fanout_reports_zero_and_exits_0() {
    let (_srv, port) = baseline(&["--transport", "rs"]);
    let url = format!("rs://127.0.0.1:{port}");
    let (code, v) = loadgen(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "3",
        "--messages",
        "100",
        "--threads",
        "2",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (n(&v, "delivered"), n(&v, "expected"), n(&v, "sent")),
        (300, 300, 100)
    );
    assert_eq!(
        (n(&v, "lost"), n(&v, "reordered"), n(&v, "duplicates")),
        (0, 0, 0)
    );
    assert_eq!(v["latency_us"]["count"], 300);
    assert!(v["latency_us"]["p99"].as_f64().expect("p99") > 0.0);
    assert_eq!(v["scenario"], "fanout");
}

#[test]
fn dropped_events_are_counted_lost_and_exit_3() {
    let (_srv, port) = baseline(&["--transport", "rs", "--drop-every", "10"]);
    let url = format!("rs://127.0.0.1:{port}");
    let (code, v) = loadgen(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "3",
        "--messages",
        "100",
        "--threads",
        "1",
        "--serializer",
        "msgpack",
        "--drain",
        "0.5",
    ]);
    assert_eq!(code, 3);
    // Publications 10, 20, ..., 100 never reach any of the 3 subscribers.
    assert_eq!(n(&v, "lost"), 30);
    assert_eq!(n(&v, "reordered"), 0);
    assert_eq!(n(&v, "delivered"), 270);
    assert_eq!(v["clean"], false);
}

#[test]
fn swapped_events_are_counted_reordered_and_exit_3() {
    let (_srv, port) = baseline(&["--transport", "ws", "--swap-every", "7"]);
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (code, v) = loadgen(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "3",
        "--messages",
        "100",
        "--threads",
        "2",
        "--serializer",
        "cbor",
        "--drain",
        "0.5",
    ]);
    assert_eq!(code, 3);
    // Publications 7, 14, ..., 98 (14 of them) each arrive after their successor.
    assert_eq!(n(&v, "reordered"), 3 * 14);
    assert_eq!(n(&v, "lost"), 0);
    assert_eq!(n(&v, "duplicates"), 0);
    assert_eq!(n(&v, "delivered"), 300);
}

#[test]
fn pubsub_wildcard_expected_deliveries_are_exact() {
    let (_srv, port) = baseline(&["--transport", "ws"]);
    let url = format!("ws://127.0.0.1:{port}/");
    let (code, v) = loadgen(&[
        "pubsub",
        "--url",
        &url,
        "--publishers",
        "3",
        "--subscribers",
        "4",
        "--topics",
        "4",
        "--wildcard",
        "--groups",
        "2",
        "--messages",
        "50",
        "--threads",
        "2",
    ]);
    assert_eq!(code, 0, "{v}");
    // Each publisher sends 25 messages per group; each subscriber hears its group.
    assert_eq!(n(&v, "expected"), 4 * 3 * 25);
    assert_eq!(n(&v, "delivered"), 300);
    assert_eq!(n(&v, "sent"), 150);
}

#[test]
fn pubsub_exact_topics_with_rate() {
    let (_srv, port) = baseline(&["--transport", "rs"]);
    let url = format!("rs://127.0.0.1:{port}");
    let (code, v) = loadgen(&[
        "pubsub",
        "--url",
        &url,
        "--publishers",
        "2",
        "--subscribers",
        "5",
        "--topics",
        "3",
        "--messages",
        "30",
        "--rate",
        "1000",
        "--threads",
        "1",
    ]);
    assert_eq!(code, 0, "{v}");
    // Publisher j sends message m to topic (j+m)%3: 10 per topic each.
    // Topics of subscribers 0..5: 0,1,2,0,1 → 5 subscribers × 20.
    assert_eq!(n(&v, "expected"), 100);
    assert_eq!(n(&v, "delivered"), 100);
}

#[test]
fn rpc_round_robin_over_baseline() {
    let (_srv, port) = baseline(&["--transport", "rs"]);
    let url = format!("rs://127.0.0.1:{port}");
    let (code, v) = loadgen(&[
        "rpc",
        "--url",
        &url,
        "--callers",
        "2",
        "--callees",
        "2",
        "--concurrency",
        "1",
        "--calls",
        "200",
        "--threads",
        "2",
        "--serializer",
        "cbor",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!((n(&v, "delivered"), n(&v, "expected")), (400, 400));
    assert_eq!(n(&v, "reordered"), 0);
}

#[test]
fn connections_open_and_hold() {
    let (_srv, port) = baseline(&["--transport", "ws"]);
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (code, v) = loadgen(&[
        "connections",
        "--url",
        &url,
        "--sessions",
        "50",
        "--ramp",
        "1000",
        "--hold",
        "0.2",
        "--source-ips",
        "127.0.0.1-127.0.0.3",
        "--threads",
        "2",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["extra"]["sessions_ok"], 50);
    assert_eq!(v["extra"]["sessions_failed"], 0);
}

#[test]
fn setup_failure_exits_1() {
    let port = free_port();
    let out = Command::new(LOADGEN)
        .args(["fanout", "--url", &format!("rs://127.0.0.1:{port}")])
        .args(["--subscribers", "1", "--messages", "1", "--threads", "1"])
        .output()
        .expect("run loadgen");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The Junction binary: `$JUNCTION_BIN`, or `junction` next to loadgen.
fn junction_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("JUNCTION_BIN") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(LOADGEN).with_file_name("junction");
    p.exists().then_some(p)
}

#[test]
fn smoke_against_junction() {
    let Some(bin) = junction_bin() else {
        eprintln!("junction binary not built (cargo build --bin junction); smoke test skipped");
        return;
    };
    let (ws, rs) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.json");
    let perms = r#"[{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}, "disclose": {"caller": false, "publisher": false}, "cache": true}]"#;
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 2, "controller": {{}}, "workers": [{{"type": "router",
            "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous", "permissions": {perms}}}]}}],
            "transports": [
              {{"type": "websocket", "endpoint": {{"type": "tcp", "interface": "127.0.0.1", "port": {ws}}}, "serializers": ["json", "msgpack", "cbor"]}},
              {{"type": "rawsocket", "endpoint": {{"type": "tcp", "interface": "127.0.0.1", "port": {rs}}}, "serializers": ["json", "msgpack", "cbor"]}}
            ]}}]}}"#
        ),
    )
    .expect("write config");
    let child = Command::new(&bin)
        .args(["start", "--shards", "2", "--config"])
        .arg(&config)
        // Its control socket in the test's own directory: a node refuses one
        // that another live node owns.
        .env("RUNTIME_DIRECTORY", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start junction");
    let router = Proc(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", rs)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "junction did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = router.0.id().to_string();
    let ws_url = format!("ws://127.0.0.1:{ws}/ws");
    let rs_url = format!("rs://127.0.0.1:{rs}");
    let (code, v) = loadgen(&[
        "fanout",
        "--url",
        &ws_url,
        "--subscribers",
        "4",
        "--messages",
        "200",
        "--threads",
        "2",
        "--router-pid",
        &pid,
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(n(&v, "delivered"), 800);
    assert!(v["cpu"]["router_rss_kib_after"].as_u64().expect("rss") > 0);
    let (code, v) = loadgen(&[
        "rpc",
        "--url",
        &rs_url,
        "--callers",
        "2",
        "--callees",
        "1",
        "--calls",
        "100",
        "--threads",
        "2",
        "--serializer",
        "msgpack",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(n(&v, "delivered"), 200);
}

//! `junction status` and `junction reload` against a running node: the
//! status reflects sessions per realm and transport and the listeners; a
//! reload adds and removes a realm and a transport while a session on
//! another realm keeps calling; a broken config is refused and the running
//! one stays.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use junction::proto::*;
use serde_json::{Value as Json, json};

use crate::node::{Client, Node, config, free_port, port_open, rawsocket, realm, write_config};

fn status(node: &Node) -> Json {
    let (code, out, err) = node.cli(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("status JSON")
}

fn sessions(s: &Json, realm: &str, transport: &str) -> u64 {
    s["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|x| x["realm"] == realm && x["transport"] == transport)
        .map_or(0, |x| x["count"].as_u64().expect("count"))
}

#[test]
fn status_shows_listeners_sessions_and_metrics() {
    let (p1, p2) = (free_port(), free_port());
    let c = config(
        vec![realm("realm1"), realm("realm2")],
        vec![rawsocket("rs1", p1), rawsocket("rs2", p2)],
        json!({}),
    );
    let node = Node::start(&c, &[p1, p2], &[], &[]);
    let mut a = Client::join(p1, "realm1");
    let _b = Client::join(p1, "realm1");
    let _c = Client::join(p2, "realm2");
    a.subscribe("com.example.topic");
    let s = status(&node);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["shards"], 2);
    assert_eq!(s["shards_answered"], 2);
    assert_eq!(s["pid"], node.child.id());
    assert_eq!(
        s["config"].as_str(),
        node.config_path.to_str(),
        "the config's absolute path"
    );
    assert_eq!(sessions(&s, "realm1", "rs1"), 2);
    assert_eq!(sessions(&s, "realm2", "rs2"), 1);
    let listeners = s["listeners"].as_array().expect("listeners");
    assert_eq!(listeners.len(), 2);
    assert_eq!(listeners[0]["url"], format!("rs://127.0.0.1:{p1}"));
    assert_eq!(listeners[0]["shards"], json!([0, 1]));
    let per_shard = s["per_shard"].as_array().expect("per shard");
    let total = |k: &str| {
        per_shard
            .iter()
            .map(|x| x[k].as_u64().expect(k))
            .sum::<u64>()
    };
    assert_eq!(total("sessions"), 3);
    assert_eq!(total("connections"), 3);
    assert_eq!(total("subscriptions"), 1);
    // The human table.
    let (code, out, _) = node.cli(&["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("rs1        rs://127.0.0.1:{p1}  0-1")),
        "{out}"
    );
    assert!(out.contains("realm1  rs1        2"), "{out}");
    // Metrics over the control socket.
    let (code, out, _) = node.cli(&["status", "--metrics"]);
    assert_eq!(code, 0);
    let total_sessions: u64 = out
        .lines()
        .filter(|l| l.starts_with("junction_sessions{realm=\"realm1\",transport=\"rs1\""))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .expect("value")
                .parse::<u64>()
                .expect("number")
        })
        .sum();
    assert_eq!(total_sessions, 2, "{out}");
    // No node there: exit 1 with a hint.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(["status", "--socket"])
        .arg(node.dir.path().join("nothing.sock"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach a junction node"));
}

/// Calls `com.example.echo` in a loop until stopped; counts the results and
/// fails on anything else.
fn keep_calling(
    port: u16,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let mut caller = Client::join(port, "realm1");
    std::thread::spawn(move || {
        let mut req = 100;
        while !stop.load(Ordering::Relaxed) {
            req += 1;
            match caller.request(&Message::Call(Call {
                request: RequestId(req),
                options: Dict::new(),
                procedure: "com.example.echo".into(),
                payload: Payload::args(vec![Value::from(req)]),
            })) {
                Some(Message::Result(r)) => assert_eq!(r.request, RequestId(req)),
                other => panic!("call {req}: {other:?}"),
            }
            done.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

/// Answers INVOCATIONs until the connection closes.
fn serve_echo(port: u16) -> std::thread::JoinHandle<()> {
    let mut callee = Client::join(port, "realm1");
    match callee.request(&Message::Register(Register {
        request: RequestId(1),
        options: Dict::new(),
        procedure: "com.example.echo".into(),
    })) {
        Some(Message::Registered(_)) => {}
        other => panic!("expected REGISTERED, got {other:?}"),
    }
    std::thread::spawn(move || {
        while let Some(m) = callee.recv() {
            match m {
                Message::Invocation(inv) => callee.send(&Message::Yield(Yield {
                    request: inv.request,
                    options: Dict::new(),
                    payload: inv.payload,
                })),
                Message::Goodbye(_) => callee.send(&Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.goodbye_and_out".into(),
                })),
                _ => {}
            }
        }
    })
}

fn wait_calls(done: &AtomicU64, more_than: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::Relaxed) <= more_than {
        assert!(std::time::Instant::now() < deadline, "calls stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn reload_adds_and_removes_a_realm_and_a_transport_while_calls_go_on() {
    let (p1, p2) = (free_port(), free_port());
    let before = config(
        vec![realm("realm1"), realm("realm2")],
        vec![rawsocket("rs1", p1)],
        json!({}),
    );
    let mut node = Node::start(&before, &[p1], &[], &[]);
    let callee = serve_echo(p1);
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let caller = keep_calling(p1, Arc::clone(&stop), Arc::clone(&done));
    let mut doomed = Client::join(p1, "realm2");
    wait_calls(&done, 5);

    // realm2 goes, realm3 and transport rs2 come.
    let after = config(
        vec![realm("realm1"), realm("realm3")],
        vec![rawsocket("rs1", p1), rawsocket("rs2", p2)],
        json!({}),
    );
    write_config(&node.config_path, &after);
    let (code, out, err) = node.cli(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("realms added: realm3"), "{out}");
    assert!(out.contains("realms removed: realm2"), "{out}");
    assert!(out.contains("listeners opened: rs2"), "{out}");
    match doomed.recv() {
        Some(Message::Goodbye(g)) => {
            assert_eq!(g.reason, "wamp.close.close_realm");
            let m = g
                .details
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("");
            assert!(m.contains("realm2"), "{m}");
        }
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert_eq!(doomed.recv(), None);
    let mut newcomer = Client::join(p2, "realm3");
    let n = done.load(Ordering::Relaxed);
    wait_calls(&done, n + 5);

    // rs2 goes again: its session gets GOODBYE, its port closes.
    write_config(
        &node.config_path,
        &config(
            vec![realm("realm1"), realm("realm3")],
            vec![rawsocket("rs1", p1)],
            json!({}),
        ),
    );
    node.signal(libc::SIGHUP);
    match newcomer.recv() {
        Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    // Every shard closes its rs2 listener (SIGHUP does not wait for that).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while port_open(p2) {
        assert!(std::time::Instant::now() < deadline, "rs2 still accepts");
        std::thread::sleep(Duration::from_millis(10));
    }
    let n = done.load(Ordering::Relaxed);
    wait_calls(&done, n + 5);

    // A broken config (syntax) and one whose TLS files do not load: both
    // refused, the running config stays.
    std::fs::write(&node.config_path, "{ not json").expect("write");
    let (code, _, err) = node.cli(&["reload"]);
    assert_eq!(code, 1);
    // The file, then the parser's line and column.
    assert!(
        err.contains(&format!(
            "error: {}: JSON syntax error: ",
            node.config_path.display()
        )) && err.contains("line 1 column"),
        "{err}"
    );
    assert!(err.contains("the running one stays"), "{err}");
    let mut tls = after.clone();
    tls["workers"][0]["transports"][0]["endpoint"]["tls"] =
        json!({"key": "k.pem", "certificate": "c.pem"});
    write_config(&node.config_path, &tls);
    let (code, _, err) = node.cli(&["reload"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("TLS: certificate") && err.contains("c.pem"),
        "{err}"
    );
    assert!(node.log().contains("reload refused"), "{}", node.log());
    let s = status(&node);
    assert_eq!(s["reloads"], json!({"ok": 2, "failed": 2}));
    // realm3 still served, realm2 still gone, calls still answered.
    drop(Client::join(p1, "realm3"));
    let mut late = Client::connect(p1);
    match late.request(&Message::Hello(Hello {
        realm: Some("realm2".into()),
        details: Dict::new(),
    })) {
        Some(Message::Abort(a)) => assert_eq!(a.reason, "wamp.error.no_such_realm"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    let n = done.load(Ordering::Relaxed);
    wait_calls(&done, n + 5);
    stop.store(true, Ordering::Relaxed);
    caller.join().expect("every call answered");
    node.signal(libc::SIGINT);
    assert_eq!(
        node.wait(Duration::from_secs(60)).and_then(|s| s.code()),
        Some(0)
    );
    callee.join().expect("callee");
}

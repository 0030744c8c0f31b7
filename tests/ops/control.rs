//! The control socket's path as a shared resource: a second node whose
//! socket path another node answers on does not start (and says which path
//! and how to choose another); a socket left by a killed node is replaced;
//! the socket is up no later than the listeners.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::node::{Node, config, free_port, rawsocket, realm, write_config};

/// The pid `junction status` reports for the node on `node`'s socket.
fn status_pid(node: &Node) -> u64 {
    let (code, out, err) = node.cli(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let s: Json = serde_json::from_str(&out).expect("status JSON");
    s["pid"].as_u64().expect("pid")
}

#[test]
fn a_second_node_on_the_same_socket_fails_and_names_it() {
    let p1 = free_port();
    let first = Node::start(
        &config(vec![realm("realm1")], vec![rawsocket("rs", p1)], json!({})),
        &[p1],
        &[],
        &[],
    );
    // The second node: other ports, the same (default) runtime directory.
    let p2 = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.json");
    write_config(
        &path,
        &config(vec![realm("realm1")], vec![rawsocket("rs", p2)], json!({})),
    );
    let mut second = Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(["start", "--shards", "1", "--config"])
        .arg(&path)
        .env("RUNTIME_DIRECTORY", first.run_dir())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("junction starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = second.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second node kept running on the first one's control socket");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    let socket = first.socket();
    assert!(
        stderr.contains(&format!(
            "another junction node owns the control socket {}",
            socket.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("junction.control_socket"), "{stderr}");
    // It stopped before its listeners, and the first node keeps its socket.
    assert!(!stderr.contains("listening"), "{stderr}");
    assert!(socket.exists());
    assert_eq!(status_pid(&first), u64::from(first.child.id()));
}

#[test]
fn a_socket_left_by_a_killed_node_is_replaced() {
    let p1 = free_port();
    let c = config(vec![realm("realm1")], vec![rawsocket("rs", p1)], json!({}));
    let mut killed = Node::start(&c, &[p1], &[], &[]);
    let run_dir = killed.run_dir();
    killed.signal(libc::SIGKILL);
    killed.wait(Duration::from_secs(30)).expect("killed");
    assert!(killed.socket().exists(), "SIGKILL leaves the socket file");
    let p2 = free_port();
    let run = run_dir.to_str().expect("UTF-8 path").to_owned();
    let next = Node::start(
        &config(vec![realm("realm1")], vec![rawsocket("rs", p2)], json!({})),
        &[p2],
        &[],
        &[("RUNTIME_DIRECTORY", &run)],
    );
    assert_eq!(next.socket(), killed.socket());
    assert_eq!(status_pid(&next), u64::from(next.child.id()));
}

#[test]
fn the_socket_is_up_before_the_listeners() {
    let (p1, p2) = (free_port(), free_port());
    let node = Node::start(
        &config(
            vec![realm("realm1")],
            vec![rawsocket("rs1", p1), rawsocket("rs2", p2)],
            json!({}),
        ),
        &[p1, p2],
        &[],
        &[],
    );
    // The ports accept as soon as the shards listen; "listening" is
    // logged once every shard has.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.log().matches("listening").count() < 2 {
        assert!(Instant::now() < deadline, "{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = node.log();
    let at = |what: &str| {
        log.find(what)
            .unwrap_or_else(|| panic!("no {what:?} in\n{log}"))
    };
    assert!(at("control socket") < at("listening"), "{log}");
}

#[test]
fn a_reload_whose_new_port_is_taken_is_refused_and_says_what_to_do() {
    let p1 = free_port();
    let node = Node::start(
        &config(vec![realm("realm1")], vec![rawsocket("rs", p1)], json!({})),
        &[p1],
        &[],
        &[],
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let p2 = taken.local_addr().expect("addr").port();
    write_config(
        &node.config_path,
        &config(
            vec![realm("realm1")],
            vec![rawsocket("rs", p1), rawsocket("rs2", p2)],
            json!({}),
        ),
    );
    let (code, _, err) = node.cli(&["reload"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("error: cannot listen on 127.0.0.1:{p2}: ")),
        "{err}"
    );
    assert!(
        err.contains("stop the process that listens there, or give this transport another port"),
        "{err}"
    );
    assert!(err.contains("the running one stays"), "{err}");
}

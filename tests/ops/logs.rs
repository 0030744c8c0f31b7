//! `--log-format json`: every line is a JSON object; per-module levels turn
//! on the session open/close lines of the core only.

use std::time::Duration;

use junction::proto::*;
use serde_json::{Value as Json, json};

use crate::node::{Client, Node, config, free_port, rawsocket, realm};

#[test]
fn json_logs_parse_and_carry_session_open_and_close() {
    let port = free_port();
    let c = config(
        vec![realm("realm1")],
        vec![rawsocket("rs", port)],
        json!({}),
    );
    let mut node = Node::start(
        &c,
        &[port],
        &[
            "--log-format",
            "json",
            "--log-level",
            "info,junction::core=debug",
        ],
        &[],
    );
    let mut client = Client::join(port, "realm1");
    let session = client.session.0;
    client.send(&Message::Goodbye(Goodbye {
        details: Dict::new(),
        reason: "wamp.close.goodbye_and_out".into(),
    }));
    assert!(matches!(client.recv(), Some(Message::Goodbye(_))));
    drop(client);
    node.signal(libc::SIGTERM);
    assert_eq!(
        node.wait(Duration::from_secs(60)).and_then(|s| s.code()),
        Some(0)
    );
    let log = node.log();
    let lines: Vec<Json> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() >= 4, "{log}");
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
        assert!(l["fields"]["message"].is_string(), "{l}");
    }
    let find = |msg: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == msg)
            .unwrap_or_else(|| panic!("no {msg:?} line in\n{log}"))
    };
    for msg in ["session opened", "session closed"] {
        let l = find(msg);
        assert_eq!(l["level"], "DEBUG");
        let f = &l["fields"];
        assert_eq!(f["session"], session, "{l}");
        assert_eq!(f["realm"], "realm1");
        assert_eq!(f["authrole"], "anonymous");
        assert_eq!(f["authmethod"], "anonymous");
        assert_eq!(f["transport"], "rs");
        assert!(
            f["peer"].as_str().is_some_and(|p| p.contains("127.0.0.1")),
            "{l}"
        );
        assert!(f["authid"].as_str().is_some_and(|a| !a.is_empty()), "{l}");
        assert!(
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("junction::core"))
        );
    }
    // Other modules stay at info.
    assert!(
        lines
            .iter()
            .filter(|l| l["level"] == "DEBUG")
            .all(|l| l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("junction::core"))),
        "{log}"
    );
}

#[test]
fn a_bad_log_filter_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(["start", "--log-level", "junction=loud"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --log-level"));
}

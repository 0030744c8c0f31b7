//! SIGTERM: stop accepting, GOODBYE `wamp.close.system_shutdown` to every
//! session, wait for the clients (up to `junction.shutdown_timeout`), exit 0;
//! a second SIGTERM or SIGINT exits at once (status 1).

use std::time::Duration;

use junction::proto::*;
use serde_json::json;

use crate::node::{Client, Node, config, free_port, port_open, rawsocket, realm};

fn start(timeout_s: u64) -> (Node, u16) {
    let port = free_port();
    let c = config(
        vec![realm("realm1")],
        vec![rawsocket("rs", port)],
        json!({"shutdown_timeout": timeout_s}),
    );
    (Node::start(&c, &[port], &[], &[]), port)
}

fn expect_shutdown_goodbye(c: &mut Client) {
    match c.recv() {
        Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
}

#[test]
fn clients_that_answer_goodbye_let_the_node_exit_before_the_timeout() {
    // A long timeout: the node must not wait for it once the clients left.
    let (mut node, port) = start(600);
    let mut a = Client::join(port, "realm1");
    let mut b = Client::join(port, "realm1");
    node.signal(libc::SIGTERM);
    for c in [&mut a, &mut b] {
        expect_shutdown_goodbye(c);
    }
    // Listeners are closed once the drain started.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while port_open(port) {
        assert!(std::time::Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(10));
    }
    // One client answers; the node still waits for the other.
    a.send(&Message::Goodbye(Goodbye {
        details: Dict::new(),
        reason: "wamp.close.goodbye_and_out".into(),
    }));
    assert_eq!(a.recv(), None, "the router closes after the GOODBYE reply");
    assert!(
        node.wait(Duration::from_millis(300)).is_none(),
        "exited while b was still there"
    );
    b.send(&Message::Goodbye(Goodbye {
        details: Dict::new(),
        reason: "wamp.close.goodbye_and_out".into(),
    }));
    let status = node
        .wait(Duration::from_secs(60))
        .expect("exits once the clients left");
    assert_eq!(status.code(), Some(0), "{}", node.log());
    assert!(node.log().contains("shutting down"), "{}", node.log());
    assert!(!node.log().contains("shutdown timeout"), "{}", node.log());
}

#[test]
fn a_client_that_never_leaves_is_cut_at_the_timeout() {
    let (mut node, port) = start(1);
    let mut stubborn = Client::join(port, "realm1");
    node.signal(libc::SIGTERM);
    expect_shutdown_goodbye(&mut stubborn);
    // It never answers: the router closes its connection at the timeout,
    // then exits 0.
    assert_eq!(stubborn.recv(), None, "connection closed by the router");
    let status = node.wait(Duration::from_secs(60)).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", node.log());
    assert!(node.log().contains("shutdown timeout"), "{}", node.log());
}

#[test]
fn a_second_signal_exits_at_once() {
    for second in [libc::SIGTERM, libc::SIGINT] {
        let (mut node, port) = start(600);
        let mut stubborn = Client::join(port, "realm1");
        node.signal(libc::SIGTERM);
        expect_shutdown_goodbye(&mut stubborn);
        assert!(
            node.wait(Duration::from_millis(200)).is_none(),
            "waits for the client"
        );
        node.signal(second);
        let status = node.wait(Duration::from_secs(60)).expect("exits");
        assert_eq!(status.code(), Some(1), "{}", node.log());
        assert!(node.log().contains("second signal"), "{}", node.log());
    }
}

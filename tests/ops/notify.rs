//! sd_notify over a test datagram socket: READY=1 once every listener is
//! up, WATCHDOG=1 while the shards answer, RELOADING=1/READY=1 around a
//! reload, STOPPING=1 at the drain.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::node::{Node, config, free_port, port_open, rawsocket, realm};

/// The next notification (its first line), waiting up to 20 s.
fn next(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification within 20 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_watchdog_reloading_and_stopping_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let (p1, p2) = (free_port(), free_port());
    let c = config(
        vec![realm("realm1")],
        vec![rawsocket("a", p1), rawsocket("b", p2)],
        json!({"shutdown_timeout": 5}),
    );
    let notify = path.to_str().expect("UTF-8").to_owned();
    // Node::start waits for the ports itself; READY must come no earlier.
    let mut node = Node::start(
        &c,
        &[],
        &[],
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "200000")],
    );
    let first = next(&sock);
    assert!(first.starts_with("READY=1\n"), "{first:?}");
    assert!(
        first.contains("STATUS=serving 1 realm(s) on 2 transport(s), 2 shard(s)"),
        "{first:?}"
    );
    // Every listener was up when READY was sent.
    assert!(port_open(p1) && port_open(p2));
    // Watchdog pings at half of WATCHDOG_USEC while the shards answer.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        assert_eq!(next(&sock), "WATCHDOG=1");
        pings += 1;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "pings are paced"
    );
    // A reload: RELOADING=1 then READY=1 (watchdog pings may come in between).
    node.signal(libc::SIGHUP);
    let mut seen = Vec::new();
    loop {
        let n = next(&sock);
        if n == "WATCHDOG=1" {
            continue;
        }
        let ready = n.starts_with("READY=1");
        seen.push(n);
        if ready {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{seen:?}"
    );
    // The drain.
    node.signal(libc::SIGTERM);
    loop {
        let n = next(&sock);
        if n == "WATCHDOG=1" {
            continue;
        }
        assert!(n.starts_with("STOPPING=1"), "{n:?}");
        break;
    }
    let status = node.wait(Duration::from_secs(60)).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", node.log());
}

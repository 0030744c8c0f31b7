//! WebSocket fan-out with permessage-deflate off and on, end to end: a
//! router (one shard, in this process) with a `websocket` transport, 100
//! subscribers that negotiate the extension when it is offered (and inflate
//! what they get), one publisher. Each iteration publishes a batch of events
//! (a 400-octet JSON EVENT, compressible like most WAMP payloads) and waits
//! until every subscriber has every event.
//!
//! - `fanout_deflate/off`: no compression configured;
//! - `fanout_deflate/shared`: `no_context_takeover` (Junction's default):
//!   one compression per event on the shard, reused for every subscriber;
//! - `fanout_deflate/takeover`: `no_context_takeover: false`: every
//!   subscriber's connection compresses every event itself.
//!
//! Throughput is events delivered (to subscribers) per second; the wire
//! size per event is printed once per case. The subscribers' threads run
//! on the same two cores as the router: the figures compare the cases, not
//! the router alone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use junction::config::Config;
use junction::proto::websocket::{Decoded, Decoder, Event, Payload};

const SUBSCRIBERS: usize = 100;
const BATCH: u64 = 200;

fn config(compression: &str) -> Config {
    let json = format!(
        r#"{{"version": 2, "workers": [{{"type": "router",
          "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous", "permissions": [{{"uri": "", "match": "prefix", "allow": {{"call": true, "register": true, "publish": true, "subscribe": true}}}}]}}]}}],
          "transports": [{{"type": "websocket", "endpoint": {{"type": "tcp", "interface": "127.0.0.1", "port": 0}},
            "options": {{{compression}}}}}]}}]}}"#
    );
    Config::from_json_str(&json).expect("bench config")
}

/// A masked client text frame.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A client connection: the socket, its decoder and what it read.
struct Client {
    sock: TcpStream,
    dec: Decoder,
    buf: Vec<u8>,
    /// Octets received after the handshake.
    wire: u64,
}

impl Client {
    /// Connects and upgrades (offering permessage-deflate), then joins realm1.
    fn join(addr: &str) -> Client {
        let mut sock = TcpStream::connect(addr).expect("connect");
        sock.set_nodelay(true).expect("nodelay");
        let req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: wamp.2.json\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
        sock.write_all(req.as_bytes()).expect("upgrade");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            sock.read_exact(&mut b).expect("answer");
            head.push(b[0]);
        }
        let head = String::from_utf8(head).expect("ascii");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let mut dec = Decoder::client(1 << 24, 1 << 24);
        if let Some(line) = head.lines().find(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions:")
        }) {
            dec.set_deflate(line.contains("server_no_context_takeover"));
        }
        let mut c = Client {
            sock,
            dec,
            buf: Vec::new(),
            wire: 0,
        };
        c.send(br#"[1,"realm1",{"roles":{"subscriber":{},"publisher":{}}}]"#);
        assert!(c.next().starts_with(b"[2,"), "WELCOME");
        c.wire = 0;
        c
    }

    fn send(&mut self, msg: &[u8]) {
        self.sock.write_all(&frame(msg)).expect("send");
    }

    /// The next message.
    fn next(&mut self) -> Vec<u8> {
        loop {
            match self.dec.decode(&mut self.buf).expect("valid frames") {
                Decoded::Frame { event, consumed } => {
                    let msg = match event {
                        Some(Event::Message(_, Payload::Borrowed(p))) => Some(p.to_vec()),
                        Some(Event::Message(_, Payload::Owned(p))) => Some(p),
                        _ => None,
                    };
                    self.buf.drain(..consumed);
                    if let Some(m) = msg {
                        return m;
                    }
                }
                Decoded::Incomplete { .. } => {
                    let mut chunk = [0u8; 65536];
                    let n = self.sock.read(&mut chunk).expect("read");
                    assert!(n > 0, "router closed the connection");
                    self.wire += n as u64;
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let payload = format!(
        "[16,{{id}},{{}},\"com.bench.fanout\",[{{\"sensor\":\"temperature\",\"unit\":\"celsius\",\"values\":[{}]}}]]",
        (0..40)
            .map(|i| format!("{}.{}", 20 + i % 7, i % 10))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut g = c.benchmark_group("fanout_deflate");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(BATCH * SUBSCRIBERS as u64));
    for (name, compression) in [
        ("off", ""),
        ("shared", r#""compression": {"deflate": {}}"#),
        (
            "takeover",
            r#""compression": {"deflate": {"no_context_takeover": false}}"#,
        ),
    ] {
        let router = junction::shard::start(config(compression), Some(1)).expect("router");
        let url = &router.addrs()[0].url;
        let addr = url
            .trim_start_matches("ws://")
            .trim_end_matches('/')
            .to_owned();
        let received = Arc::new(AtomicU64::new(0));
        let wire = Arc::new(AtomicU64::new(0));
        let mut readers = Vec::new();
        for _ in 0..SUBSCRIBERS {
            let mut sub = Client::join(&addr);
            sub.send(br#"[32,1,{},"com.bench.fanout"]"#);
            assert!(sub.next().starts_with(b"[33,"), "SUBSCRIBED");
            let (received, wire) = (Arc::clone(&received), Arc::clone(&wire));
            readers.push(std::thread::spawn(move || {
                loop {
                    let m = sub.next();
                    if m.starts_with(b"[36,") {
                        received.fetch_add(1, Ordering::Relaxed);
                        wire.store(sub.wire, Ordering::Relaxed);
                    } else if m.starts_with(b"[6,") {
                        break; // GOODBYE at shutdown
                    }
                }
            }));
        }
        let mut publisher = Client::join(&addr);
        let mut id = 1u64;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let before = received.load(Ordering::Relaxed);
                    for _ in 0..BATCH {
                        id += 1;
                        publisher.send(payload.replace("{id}", &id.to_string()).as_bytes());
                    }
                    let want = before + BATCH * SUBSCRIBERS as u64;
                    while received.load(Ordering::Relaxed) < want {
                        std::thread::yield_now();
                    }
                }
                start.elapsed()
            });
        });
        let events = received.load(Ordering::Relaxed).max(1);
        let per_sub = events / SUBSCRIBERS as u64;
        println!(
            "fanout_deflate/{name}: {} octets on the wire per event per subscriber (message {} octets)",
            wire.load(Ordering::Relaxed) / per_sub.max(1),
            payload.len()
        );
        router.shutdown();
        drop(publisher);
        for r in readers {
            let _ = r.join();
        }
        let _ = router.join();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

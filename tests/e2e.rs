//! End-to-end tests of the real runtime: `shard::start` with two shards on
//! ephemeral ports, driven by minimal blocking RawSocket clients built on the
//! crate's own sans-IO codecs. Sessions are placed on chosen shards
//! deterministically: a client reconnects until WELCOME's `x_junction_shard`
//! names the shard it wants (the kernel's SO_REUSEPORT hash picks a shard per
//! connection: these routers run with connection placement off,
//! `pack_connections` 0, except the placement test). Real third-party
//! clients are exercised in `tests/interop/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use junction::config::{Config, Endpoint};
use junction::proto::rawsocket::{self, FrameKind, ServerReply};
use junction::proto::*;
use junction::shard::{self, RouterHandle};

fn start(shards: usize) -> (RouterHandle, String) {
    start_packing(shards, 0)
}

/// A router on `shards` shards placing connections with
/// `pack_connections` = `pack` (0: the kernel's hash).
fn start_packing(shards: usize, pack: usize) -> (RouterHandle, String) {
    let handle = shard::start(config_packing(pack), Some(shards)).expect("router starts");
    let rs = handle
        .addrs()
        .iter()
        .find(|a| a.url.starts_with("rs://"))
        .expect("rawsocket listener")
        .url
        .clone();
    (handle, rs.trim_start_matches("rs://").to_owned())
}

/// The embedded default config on ephemeral ports, `pack_connections` = `pack`.
fn config_packing(pack: usize) -> Config {
    let mut config = Config::embedded_default();
    config.node.pack_connections = pack;
    for t in &mut config.transports {
        if let Endpoint::Tcp { port, .. } = &mut t.endpoint {
            *port = 0;
        }
    }
    config
}

/// A RawSocket transport `id` on the Unix socket `path`.
fn unix_rawsocket(id: &str, path: &std::path::Path) -> junction::config::TransportConfig {
    use junction::config::{RawSocketService, TransportAuth, TransportConfig, TransportKind};
    TransportConfig {
        id: id.into(),
        kind: TransportKind::RawSocket(RawSocketService::default()),
        endpoint: Endpoint::Unix {
            path: path.to_owned(),
        },
        serializers: Serializer::ALL.to_vec(),
        auth: TransportAuth::default(),
        routes: None,
    }
}

/// The TCP RawSocket listener's address (`host:port`).
fn rs_addr(handle: &RouterHandle) -> String {
    handle
        .addrs()
        .iter()
        .find(|a| a.url.starts_with("rs://"))
        .expect("tcp rawsocket")
        .url
        .trim_start_matches("rs://")
        .to_owned()
}

/// A session joined to `realm1` over the Unix socket `path`.
fn join_unix(path: &std::path::Path, serializer: Serializer) -> Client {
    let unix = std::os::unix::net::UnixStream::connect(path).expect("unix connect");
    unix.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    Client::join_over(
        Client::handshake(Box::new(unix), serializer),
        serializer,
        "realm1",
    )
}

/// A byte stream a client can run over (TCP or a Unix socket).
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

struct Client {
    stream: Box<dyn Stream>,
    serializer: Serializer,
    session: SessionId,
    shard: u64,
}

impl Client {
    fn connect(addr: &str, serializer: Serializer) -> Box<dyn Stream> {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Client::handshake(Box::new(s), serializer)
    }

    fn handshake(mut s: Box<dyn Stream>, serializer: Serializer) -> Box<dyn Stream> {
        s.write_all(&rawsocket::client_handshake(
            serializer.rawsocket_id(),
            1 << 24,
        ))
        .expect("handshake");
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).expect("handshake reply");
        match rawsocket::parse_server_handshake(reply) {
            Ok(ServerReply::Accepted { serializer_id, .. }) => {
                assert_eq!(serializer_id, serializer.rawsocket_id())
            }
            other => panic!("handshake refused: {other:?}"),
        }
        s
    }

    fn join(addr: &str, serializer: Serializer, realm: &str) -> Client {
        Client::join_over(Client::connect(addr, serializer), serializer, realm)
    }

    fn join_over(stream: Box<dyn Stream>, serializer: Serializer, realm: &str) -> Client {
        let mut c = Client {
            stream,
            serializer,
            session: SessionId(0),
            shard: 0,
        };
        c.send(&Message::Hello(Hello {
            realm: Some(realm.into()),
            details: Dict::new(),
        }));
        match c.recv() {
            Message::Welcome(w) => {
                c.session = w.session;
                c.shard = w
                    .details
                    .get("x_junction_shard")
                    .and_then(Value::as_u64)
                    .expect("shard detail");
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
        c
    }

    /// Joins on exactly `shard`, reconnecting until the kernel places us there.
    fn join_on(addr: &str, serializer: Serializer, shard: u64) -> Client {
        for _ in 0..500 {
            let c = Client::join(addr, serializer, "realm1");
            if c.shard == shard {
                return c;
            }
        }
        panic!("never placed on shard {shard}");
    }

    fn send(&mut self, msg: &Message) {
        let payload = self.serializer.encode(msg);
        let header = rawsocket::encode_header(FrameKind::Message, payload.len()).expect("size");
        self.stream.write_all(&header).expect("write");
        self.stream.write_all(&payload).expect("write");
    }

    fn recv(&mut self) -> Message {
        loop {
            let mut h = [0u8; 4];
            self.stream.read_exact(&mut h).expect("read header");
            let header = rawsocket::decode_header(h).expect("valid header");
            let mut body = vec![0u8; header.len];
            self.stream.read_exact(&mut body).expect("read body");
            if header.kind == FrameKind::Message {
                return self.serializer.decode(&body).expect("decodes");
            }
        }
    }

    fn request(&mut self, msg: Message) -> Message {
        self.send(&msg);
        self.recv()
    }
}

fn subscribe(c: &mut Client, topic: &str) -> SubscriptionId {
    match c.request(Message::Subscribe(Subscribe {
        request: RequestId(1),
        options: Dict::new(),
        topic: topic.into(),
    })) {
        Message::Subscribed(s) => s.subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
}

#[test]
fn cross_shard_pubsub_in_order_and_rpc_across_serializers() {
    let (handle, addr) = start(2);
    let mut sub0 = Client::join_on(&addr, Serializer::Json, 0);
    let mut sub1 = Client::join_on(&addr, Serializer::Cbor, 1);
    let mut publisher = Client::join_on(&addr, Serializer::MsgPack, 1);
    assert_ne!(sub0.session, sub1.session);
    let id0 = subscribe(&mut sub0, "com.e2e.seq");
    let id1 = subscribe(&mut sub1, "com.e2e.seq");
    assert_eq!(id0, id1, "one subscription ID per topic across shards");
    for i in 0..500i64 {
        let payload = Payload::args(vec![
            Value::Int(i),
            Value::Bytes(bytes::Bytes::from_static(b"\x00\xff")),
        ]);
        publisher.send(&Message::Publish(Publish {
            request: RequestId(i as u64 + 1),
            options: Dict::new(),
            topic: "com.e2e.seq".into(),
            payload,
        }));
    }
    for sub in [&mut sub0, &mut sub1] {
        for i in 0..500i64 {
            match sub.recv() {
                Message::Event(e) => {
                    let args = e.payload.args.expect("args");
                    assert_eq!(args[0], Value::Int(i), "in publish order");
                    assert_eq!(
                        args[1],
                        Value::Bytes(bytes::Bytes::from_static(b"\x00\xff"))
                    );
                }
                other => panic!("expected EVENT, got {other:?}"),
            }
        }
    }

    // RPC: callee on shard 0 (CBOR), caller on shard 1 (JSON).
    let mut callee = Client::join_on(&addr, Serializer::Cbor, 0);
    let mut caller = Client::join_on(&addr, Serializer::Json, 1);
    let reg = Message::Register(Register {
        request: RequestId(1),
        options: Dict::new(),
        procedure: "com.e2e.add2".into(),
    });
    assert!(matches!(callee.request(reg), Message::Registered(_)));
    caller.send(&Message::Call(Call {
        request: RequestId(9),
        options: Dict::new(),
        procedure: "com.e2e.add2".into(),
        payload: Payload::args(vec![Value::Int(2), Value::Int(3)]),
    }));
    let inv = match callee.recv() {
        Message::Invocation(i) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    let sum: i64 = inv
        .payload
        .args
        .as_ref()
        .expect("args")
        .iter()
        .filter_map(Value::as_i64)
        .sum();
    callee.send(&Message::Yield(Yield {
        request: inv.request,
        options: Dict::new(),
        payload: Payload::args(vec![Value::Int(sum)]),
    }));
    match caller.recv() {
        Message::Result(r) => {
            assert_eq!(r.request, RequestId(9));
            assert_eq!(r.payload.args, Some(vec![Value::Int(5)]));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

#[test]
fn subscribed_then_publish_from_other_shard_always_arrives() {
    let (handle, addr) = start(2);
    let mut sub = Client::join_on(&addr, Serializer::Json, 0);
    let mut publisher = Client::join_on(&addr, Serializer::Json, 1);
    for round in 0..100 {
        let topic = format!("com.e2e.barrier.{round}");
        subscribe(&mut sub, &topic);
        publisher.send(&Message::Publish(Publish {
            request: RequestId(1),
            options: Dict::new(),
            topic: topic.clone(),
            payload: Payload::args(vec![Value::Int(round)]),
        }));
        match sub.recv() {
            Message::Event(e) => assert_eq!(e.payload.args, Some(vec![Value::Int(round)])),
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

#[test]
fn graceful_shutdown_sends_goodbye() {
    let (handle, addr) = start(2);
    let mut a = Client::join_on(&addr, Serializer::Json, 0);
    let mut b = Client::join_on(&addr, Serializer::MsgPack, 1);
    handle.shutdown();
    for c in [&mut a, &mut b] {
        match c.recv() {
            Message::Goodbye(g) => assert_eq!(g.reason, "wamp.close.system_shutdown"),
            other => panic!("expected GOODBYE, got {other:?}"),
        }
    }
    handle.join().expect("clean shutdown");
}

#[test]
fn session_ids_are_unique_and_congruent_to_their_shard() {
    let (handle, addr) = start(2);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let c = Client::join(&addr, Serializer::Json, "realm1");
        assert!(is_valid_id(c.session.0));
        assert_eq!(
            (c.session.0 - 1) % 2,
            c.shard,
            "session ID encodes its shard"
        );
        assert!(seen.insert(c.session.0));
    }
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// Open connections per shard, from the shards' own reports (what
/// `junction status` and the `junction_connections` metric show), once
/// they add up to `total`.
fn connections_per_shard(handle: &RouterHandle, total: usize) -> Vec<usize> {
    for _ in 0..200 {
        let mut reports = handle.control().reports(Duration::from_secs(5));
        reports.sort_by_key(|r| r.shard);
        let counts: Vec<usize> = reports.iter().map(|r| r.connections).collect();
        // The sessions, and the connections as placement counts them (a
        // closed connection leaves its count once its task ended).
        if counts.iter().sum::<usize>() == total && handle.placed_connections() == counts {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the shards never reported {total} connections");
}

#[test]
fn placement_packs_a_light_load_then_evens_out() {
    let (handle, addr) = start_packing(2, 4);
    // One after another, each joined before the next connects: the first 4
    // fill shard 0, the next 4 shard 1, whichever shard accepted them.
    let mut clients: Vec<Client> = (0..8)
        .map(|_| Client::join(&addr, Serializer::Json, "realm1"))
        .collect();
    let shards: Vec<u64> = clients.iter().map(|c| c.shard).collect();
    assert_eq!(shards, vec![0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(connections_per_shard(&handle, 8), vec![4, 4]);
    // Above the threshold: least connections, so pairs stay even.
    for _ in 0..6 {
        clients.push(Client::join(&addr, Serializer::MsgPack, "realm1"));
    }
    assert_eq!(connections_per_shard(&handle, 14), vec![7, 7]);
    // Connections that end free their place: with 3 of shard 0's gone, the
    // next 3 go there.
    let mut kept = Vec::new();
    let mut dropped = 0;
    for c in clients {
        if c.shard == 0 && dropped < 3 {
            dropped += 1;
        } else {
            kept.push(c);
        }
    }
    assert_eq!(connections_per_shard(&handle, 11), vec![4, 7]);
    for _ in 0..3 {
        let c = Client::join(&addr, Serializer::Cbor, "realm1");
        assert_eq!(c.shard, 0);
        kept.push(c);
    }
    assert_eq!(connections_per_shard(&handle, 14), vec![7, 7]);
    // A session on a placed connection routes across shards as any other.
    let (mut sub, mut publisher) = {
        let i = kept
            .iter()
            .position(|c| c.shard == 1)
            .expect("one on shard 1");
        let sub = kept.swap_remove(i);
        let j = kept
            .iter()
            .position(|c| c.shard == 0)
            .expect("one on shard 0");
        (sub, kept.swap_remove(j))
    };
    subscribe(&mut sub, "com.e2e.placed");
    publisher.send(&Message::Publish(Publish {
        request: RequestId(1),
        options: Dict::new(),
        topic: "com.e2e.placed".into(),
        payload: Payload::args(vec![Value::from("across")]),
    }));
    match sub.recv() {
        Message::Event(e) => assert_eq!(e.payload.args, Some(vec![Value::from("across")])),
        other => panic!("expected EVENT, got {other:?}"),
    }
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

#[test]
fn a_reload_turns_placement_on() {
    let mut config = config_packing(0);
    let (handle, addr) = start_packing(2, 0);
    // Off: the kernel's hash puts some of 40 connections on each shard.
    let held: Vec<Client> = (0..40)
        .map(|_| Client::join(&addr, Serializer::Json, "realm1"))
        .collect();
    assert!(held.iter().any(|c| c.shard == 1), "the hash used shard 1");
    assert!(held.iter().any(|c| c.shard == 0), "the hash used shard 0");
    drop(held);
    assert_eq!(connections_per_shard(&handle, 0), vec![0, 0]);
    config.node.pack_connections = 8;
    handle
        .control()
        .reload(config, Duration::from_secs(10))
        .expect("reload");
    let held: Vec<Client> = (0..10)
        .map(|_| Client::join(&addr, Serializer::Json, "realm1"))
        .collect();
    let shards: Vec<u64> = held.iter().map(|c| c.shard).collect();
    assert_eq!(shards, vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

#[test]
fn unix_socket_transports_route_to_tcp_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junction.sock");
    let mut config = config_packing(0);
    config.transports.push(unix_rawsocket("unix-rs", &path));
    let handle = shard::start(config, Some(2)).expect("router starts");
    let rs = rs_addr(&handle);
    assert!(
        handle
            .addrs()
            .iter()
            .any(|a| a.url == format!("rs+unix://{}", path.display()))
    );
    let mut sub = join_unix(&path, Serializer::Cbor);
    subscribe(&mut sub, "com.e2e.unix");
    let mut publisher = Client::join(&rs, Serializer::Json, "realm1");
    publisher.send(&Message::Publish(Publish {
        request: RequestId(1),
        options: Dict::new(),
        topic: "com.e2e.unix".into(),
        payload: Payload::args(vec![Value::from("over unix")]),
    }));
    match sub.recv() {
        Message::Event(e) => assert_eq!(e.payload.args, Some(vec![Value::from("over unix")])),
        other => panic!("expected EVENT, got {other:?}"),
    }
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

#[test]
fn held_listeners_accept_only_once_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("early.sock");
    let mut config = config_packing(0);
    config.transports.push(unix_rawsocket("early", &path));
    let opening = shard::Opening::Held {
        except: vec!["early".into()],
    };
    let handle = shard::start_with(config, Some(2), opening).expect("router starts");
    let rs = rs_addr(&handle);
    // Bound and listening: the kernel completes the connection, which then
    // waits in the backlog.
    let waiting = TcpStream::connect(&rs).expect("tcp connect while held");
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The exempt transport serves meanwhile.
    let mut early = join_unix(&path, Serializer::Json);
    subscribe(&mut early, "com.e2e.held");
    // Only the exempt session is a connection of the router.
    assert_eq!(connections_per_shard(&handle, 1).iter().sum::<usize>(), 1);
    handle.control().open();
    let mut late = Client::join_over(
        Client::handshake(Box::new(waiting), Serializer::Json),
        Serializer::Json,
        "realm1",
    );
    late.send(&Message::Publish(Publish {
        request: RequestId(1),
        options: Dict::new(),
        topic: "com.e2e.held".into(),
        payload: Payload::args(vec![Value::from("after opening")]),
    }));
    match early.recv() {
        Message::Event(e) => {
            assert_eq!(e.payload.args, Some(vec![Value::from("after opening")]));
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
    assert_eq!(connections_per_shard(&handle, 2).iter().sum::<usize>(), 2);
    // Opening again changes nothing.
    handle.control().open();
    let mut more = Client::join(&rs, Serializer::Cbor, "realm1");
    subscribe(&mut more, "com.e2e.held.more");
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

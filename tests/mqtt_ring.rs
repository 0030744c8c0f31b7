//! MQTT connections write through the shard's own io_uring (issue #9): the
//! real runtime (`shard::start`, one shard, ephemeral ports) driven by
//! blocking MQTT 5.0 clients built on the crate's own codec. The shard's ring
//! counters (its report) tell the sends submitted on the ring from the direct
//! `sendmsg` writes; a subscriber that does not read shows partial sends and
//! backpressure (everything in order once it reads; past the queue's bound a
//! slow consumer's close, its DISCONNECT after what was queued).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use junction::config::{Config, Endpoint};
use junction::proto::mqtt::*;
use junction::shard::{self, RouterHandle};

/// A one-shard router on ephemeral ports (`queue` bytes of outgoing queue
/// per connection) and its MQTT listener's address.
fn start(queue: Option<usize>) -> (RouterHandle, SocketAddr) {
    start_with(queue, Duration::ZERO)
}

/// [`start`] with write coalescing (`junction.write_coalesce_us`) at `hold`.
fn start_with(queue: Option<usize>, hold: Duration) -> (RouterHandle, SocketAddr) {
    start_config(config(queue, hold))
}

/// The embedded default on ephemeral ports, `queue` bytes of outgoing
/// queue, write coalescing at `hold`.
fn config(queue: Option<usize>, hold: Duration) -> Config {
    let mut config = Config::embedded_default();
    config.node.write_coalesce = hold;
    for t in &mut config.transports {
        if let Endpoint::Tcp { port, .. } = &mut t.endpoint {
            *port = 0;
        }
    }
    if let Some(q) = queue {
        config.limits.outbound_queue_bytes = q;
    }
    config
}

/// A one-shard router on `config` and its MQTT listener's address.
fn start_config(config: Config) -> (RouterHandle, SocketAddr) {
    let handle = shard::start(config, Some(1)).expect("router starts");
    let url = handle
        .addrs()
        .iter()
        .find(|a| a.url.starts_with("mqtt://"))
        .expect("an MQTT listener")
        .url
        .clone();
    let addr = url
        .trim_start_matches("mqtt://")
        .trim_end_matches('/')
        .parse()
        .expect("address");
    (handle, addr)
}

/// The shard's ring counters.
fn ring(handle: &RouterHandle) -> junction::transport::uring::Stats {
    let reports = handle.control().reports(Duration::from_secs(5));
    assert_eq!(reports.len(), 1, "one shard");
    reports[0].uring
}

/// The shard's write coalescing counters.
fn coalesce(handle: &RouterHandle) -> junction::transport::hold::Stats {
    handle.control().reports(Duration::from_secs(5))[0].coalesce
}

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).expect("string")
}

struct Client {
    sock: TcpStream,
    buf: BytesMut,
}

impl Client {
    /// Connects (`rcvbuf`: the socket's receive buffer, set before the
    /// connection so that the window stays small) and waits for CONNACK.
    fn connect(addr: SocketAddr, id: &str, rcvbuf: Option<usize>) -> Client {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        if let Some(n) = rcvbuf {
            sock.set_recv_buffer_size(n).expect("SO_RCVBUF");
        }
        sock.connect(&addr.into()).expect("connect");
        let sock: TcpStream = sock.into();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut c = Client {
            sock,
            buf: BytesMut::new(),
        };
        c.send(&Packet::Connect(Box::new(Connect {
            version: Version::V5,
            clean_start: true,
            keep_alive: 60,
            client_id: s(id),
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        })));
        match c.recv() {
            Some(Packet::ConnAck(a)) => assert_eq!(a.code, ReasonCode::Success),
            other => panic!("CONNACK expected, got {other:?}"),
        }
        c
    }

    fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        encode(p, Version::V5, &mut out).expect("encodes");
        self.sock.write_all(&out).expect("write");
    }

    /// The next packet; `None` at the end of the stream.
    fn recv(&mut self) -> Option<Packet> {
        let limits = Limits {
            peer: Peer::Server,
            max_packet_size: 1 << 24,
            ..Limits::server()
        };
        loop {
            if let Some(p) = decode(&mut self.buf, Some(Version::V5), &limits).expect("decodes") {
                return Some(p);
            }
            let mut chunk = [0u8; 16384];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn subscribe(&mut self, filter: &str) {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).expect("id"),
            subscriptions: vec![Subscription {
                filter: s(filter),
                options: SubscriptionOptions::new(QoS::AtMostOnce),
            }],
            properties: SubscribeProperties::default(),
        }));
        match self.recv() {
            Some(Packet::SubAck(_)) => {}
            other => panic!("SUBACK expected, got {other:?}"),
        }
    }

    fn publish(&mut self, topic: &str, payload: Bytes) {
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: s(topic),
            packet_id: None,
            properties: PublishProperties::default(),
            payload,
        }));
    }

    /// Publishes at QoS 1 and waits for the PUBACK: the router has routed it.
    fn publish_acked(&mut self, topic: &str, payload: Bytes, id: u16) {
        let packet_id = PacketId::new(id).expect("id");
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: s(topic),
            packet_id: Some(packet_id),
            properties: PublishProperties::default(),
            payload,
        }));
        match self.recv() {
            Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, packet_id),
            other => panic!("PUBACK expected, got {other:?}"),
        }
    }
}

/// Message `i` of `len` octets: its number, then a pattern of it.
fn numbered(i: u32, len: usize) -> Bytes {
    let mut v = i.to_be_bytes().to_vec();
    v.extend((0..len - 4).map(|k| (k as u32).wrapping_mul(31).wrapping_add(i) as u8));
    Bytes::from(v)
}

/// The number of a message received, checked whole.
fn number_of(p: &Packet, len: usize) -> u32 {
    let Packet::Publish(p) = p else {
        panic!("PUBLISH expected, got {p:?}");
    };
    assert_eq!(p.payload.len(), len, "whole payload");
    let i = u32::from_be_bytes(p.payload[..4].try_into().expect("4 octets"));
    assert_eq!(p.payload, numbered(i, len), "message {i} intact");
    i
}

/// Every write of a subscribed connection (CONNACK, SUBACK, the PUBLISH
/// deliveries) is a send on the shard's ring, none a direct `sendmsg`; a
/// fan-in of 300 messages to one subscriber arrives whole and in order.
#[test]
fn mqtt_writes_are_sends_on_the_shards_ring() {
    let (handle, addr) = start(None);
    let before = ring(&handle);
    let mut sub = Client::connect(addr, "sub", None);
    sub.subscribe("t/#");
    let mut publisher = Client::connect(addr, "pub", None);
    const N: u32 = 300;
    for i in 0..N {
        publisher.publish("t/x", numbered(i, 100));
    }
    for i in 0..N {
        let p = sub.recv().expect("a delivery");
        assert_eq!(number_of(&p, 100), i, "in order");
    }
    let after = ring(&handle);
    if after == junction::transport::uring::Stats::default() {
        eprintln!("the shard runs without its own ring (kernel): nothing to check");
    } else {
        // Two CONNACKs and a SUBACK at least, the deliveries in batches.
        assert!(
            after.sends >= before.sends + 4,
            "ring sends: {} -> {}",
            before.sends,
            after.sends
        );
        assert!(
            after.sends <= before.sends + 3 + u64::from(N),
            "at most one send per delivery: {} -> {}",
            before.sends,
            after.sends
        );
        assert_eq!(
            after.direct_writes, before.direct_writes,
            "no direct sendmsg on an MQTT connection's main phase"
        );
    }
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// A subscriber whose window is small and who does not read for a while:
/// the ring's sends stall and complete partly, the rest waits queued; once
/// it reads, all arrives whole and in order (the connection never parked
/// with a send in flight: it would have lost its place in a packet), and
/// after it went idle (parked) a later message still arrives.
#[test]
fn a_subscriber_that_stops_reading_gets_everything_in_order_once_it_reads() {
    let (handle, addr) = start(None);
    let mut sub = Client::connect(addr, "slow", Some(4096));
    sub.subscribe("t/#");
    let mut publisher = Client::connect(addr, "pub", None);
    const N: u32 = 2000;
    const LEN: usize = 1000;
    for i in 0..N {
        publisher.publish("t/x", numbered(i, LEN));
    }
    // Several park ticks (100 ms) with sends stalled.
    std::thread::sleep(Duration::from_millis(400));
    for i in 0..N {
        let p = sub.recv().expect("a delivery");
        assert_eq!(number_of(&p, LEN), i, "in order");
    }
    // Idle long enough to park, then one more.
    std::thread::sleep(Duration::from_millis(400));
    publisher.publish("t/x", numbered(N, LEN));
    let p = sub.recv().expect("a delivery after parking");
    assert_eq!(number_of(&p, LEN), N);
    let r = ring(&handle);
    if r != junction::transport::uring::Stats::default() {
        assert_eq!(r.direct_writes, 0, "no direct sendmsg");
    }
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// Past the queue's bound (64 KiB here) a subscriber that does not read is
/// a slow consumer: it gets what was queued, in order and whole, then
/// DISCONNECT (Quota exceeded), then the end of the stream.
#[test]
fn a_slow_consumers_queue_is_bounded_and_drains_in_order() {
    let (handle, addr) = start(Some(64 * 1024));
    let mut sub = Client::connect(addr, "slow", Some(4096));
    sub.subscribe("t/#");
    let mut publisher = Client::connect(addr, "pub", None);
    const N: u32 = 2000;
    const LEN: usize = 1000;
    for i in 0..N {
        publisher.publish("t/x", numbered(i, LEN));
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut next = 0;
    let end = loop {
        match sub.recv() {
            Some(p @ Packet::Publish(_)) => {
                assert_eq!(number_of(&p, LEN), next, "in order, no gap");
                next += 1;
            }
            other => break other,
        }
    };
    eprintln!("{next} of {N} delivered before the DISCONNECT");
    assert!(next > 0, "what was queued arrives");
    assert!(next < N, "bounded: {next} of {N} delivered");
    match end {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::QuotaExceeded),
        other => panic!("DISCONNECT expected, got {other:?}"),
    }
    assert!(sub.recv().is_none(), "then the end");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// A PUBLISH whose head (a 20,000-octet topic) is longer than what one send
/// on the ring copies goes out whole, between smaller ones, in order.
#[test]
fn a_head_longer_than_a_sends_copy_area_goes_out_whole() {
    let (handle, addr) = start(None);
    let mut sub = Client::connect(addr, "sub", None);
    sub.subscribe("#");
    let mut publisher = Client::connect(addr, "pub", None);
    let long = format!("t/{}", "x".repeat(20_000));
    for i in 0..30u32 {
        let topic = if i % 10 == 5 { long.as_str() } else { "t/x" };
        publisher.publish(topic, numbered(i, 100));
    }
    for i in 0..30u32 {
        let p = sub.recv().expect("a delivery");
        let Packet::Publish(pb) = &p else {
            panic!("PUBLISH expected, got {p:?}");
        };
        let want = if i % 10 == 5 { long.as_str() } else { "t/x" };
        assert_eq!(pb.topic.as_str(), want, "message {i}'s topic");
        assert_eq!(number_of(&p, 100), i, "in order");
    }
    let r = ring(&handle);
    if r != junction::transport::uring::Stats::default() {
        assert_eq!(r.direct_writes, 0, "no direct sendmsg");
    }
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// Write coalescing (`junction.write_coalesce_us`) with a window of an
/// hour, so that only what ends a hold early sends anything: deliveries to a
/// subscriber that has written (its SUBACK) wait until a control packet for
/// it is queued (the PINGRESP),
/// then leave with it, in order, in one send on the ring; a write's worth of
/// deliveries (64) goes at once.
#[test]
fn held_deliveries_leave_with_the_next_control_packet_or_a_full_write() {
    let (handle, addr) = start_with(None, Duration::from_secs(3600));
    let mut sub = Client::connect(addr, "sub", None);
    sub.subscribe("t/#");
    let mut publisher = Client::connect(addr, "pub", None);
    let before = ring(&handle);
    let held = coalesce(&handle);
    for i in 0..3 {
        publisher.publish_acked("t/x", numbered(i, 100), i as u16 + 1);
    }
    sub.send(&Packet::PingReq);
    for i in 0..3 {
        let p = sub.recv().expect("a delivery");
        assert_eq!(number_of(&p, 100), i, "in order");
    }
    match sub.recv() {
        Some(Packet::PingResp) => {}
        other => panic!("PINGRESP expected, got {other:?}"),
    }
    let counted = coalesce(&handle);
    assert_eq!(
        (counted.holds, counted.windows),
        (held.holds + 1, 0),
        "the subscriber held once, no window ended (an hour)"
    );
    let after = ring(&handle);
    if after != junction::transport::uring::Stats::default() {
        // Three PUBACKs (answers: never held), then the deliveries and the
        // PINGRESP together (without the hold: three sends more).
        assert_eq!(
            after.sends,
            before.sends + 4,
            "the deliveries and the PINGRESP in one send"
        );
    }
    // A write's worth goes without waiting for anything else.
    for i in 3..67 {
        publisher.publish("t/x", numbered(i, 100));
    }
    for i in 3..67 {
        let p = sub.recv().expect("a delivery");
        assert_eq!(number_of(&p, 100), i, "in order");
    }
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// A send on the ring that completes only in part (a subscriber slow to
/// read) goes on with the rest at once, though the connection wrote lately
/// (coalescing for an hour: a rest left to wait would never arrive).
#[test]
fn a_send_completed_in_part_goes_on() {
    let (handle, addr) = start_with(None, Duration::from_secs(3600));
    let mut sub = Client::connect(addr, "sub", Some(64 * 1024));
    sub.subscribe("t/#");
    let mut publisher = Client::connect(addr, "pub", None);
    // 8 MB held (the SUBACK was a write), then sent in one go with the
    // PINGRESP: more than the kernel buffers for a peer that does not read.
    for i in 0..8 {
        publisher.publish_acked("t/x", numbered(i, 1_000_000), i as u16 + 1);
    }
    sub.send(&Packet::PingReq);
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..8 {
        let p = sub.recv().expect("a delivery");
        assert_eq!(number_of(&p, 1_000_000), i, "in order");
    }
    assert!(matches!(sub.recv(), Some(Packet::PingResp)));
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

/// `junction reload` turns write coalescing on and off for what is queued
/// after it (the hold again an hour: once the connection has written,
/// held deliveries leave only with a control packet).
#[test]
fn a_reload_turns_write_coalescing_on_and_off() {
    let (handle, addr) = start_with(None, Duration::ZERO);
    let mut sub = Client::connect(addr, "sub", None);
    sub.subscribe("t/#");
    let mut publisher = Client::connect(addr, "pub", None);
    publisher.publish_acked("t/x", numbered(0, 100), 1);
    assert_eq!(number_of(&sub.recv().expect("a delivery"), 100), 0);
    let reload = |hold| {
        handle
            .control()
            .reload(config(None, hold), Duration::from_secs(10))
            .expect("reload");
    };
    reload(Duration::from_secs(3600));
    // A connection that has not written since holds nothing: the delivery
    // goes at once (held, it would wait for the PINGRESP below).
    let before = ring(&handle);
    publisher.publish_acked("t/x", numbered(1, 100), 2);
    assert_eq!(number_of(&sub.recv().expect("a delivery"), 100), 1);
    sub.send(&Packet::PingReq);
    assert!(matches!(sub.recv(), Some(Packet::PingResp)));
    // Written lately: the next delivery waits for the next PINGRESP.
    publisher.publish_acked("t/x", numbered(2, 100), 3);
    sub.send(&Packet::PingReq);
    assert_eq!(number_of(&sub.recv().expect("a delivery"), 100), 2);
    assert!(matches!(sub.recv(), Some(Packet::PingResp)));
    let after = ring(&handle);
    if after != junction::transport::uring::Stats::default() {
        // PUBACK, delivery, PINGRESP; then the PUBACK, and the delivery
        // held until the PINGRESP: one send.
        assert_eq!(after.sends, before.sends + 5, "held after the reload");
    }
    reload(Duration::ZERO);
    publisher.publish_acked("t/x", numbered(3, 100), 4);
    // Held, this would wait for a control packet that never comes.
    assert_eq!(number_of(&sub.recv().expect("a delivery"), 100), 3);
    drop((sub, publisher));
    handle.shutdown();
    handle.join().expect("clean shutdown");
}

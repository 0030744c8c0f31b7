//! How TLS runs on the reactors: rustls's *unbuffered* API driven over our
//! own buffers (what `transport::tls` does) against rustls's buffered
//! `ServerConnection`, the one `futures-rustls`/`tokio-rustls` drive over an
//! async stream. Both sides in memory (no sockets: the figures are the TLS
//! layer's own cost), ECDSA P-256 server key, the aws-lc-rs provider.
//!
//! - `tls_handshake/{unbuffered,buffered}`: one full TLS 1.3 handshake,
//!   client and server (the server's share is about half);
//! - `tls_records/{unbuffered,buffered}`: the server decrypts 64 client
//!   records of 1 KiB and encrypts 64 answers of 1 KiB (the per-message
//!   work of a busy connection).
//!
//! Before the timings, the heap each held connection keeps (after its
//! handshake and one exchange, idle) is measured with a counting allocator
//! over 500 connections and printed: the figure the design decision in
//! docs/architecture.md ("TLS") rests on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::ConnectionState;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: a pointer this allocator gave out, with its layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, with the new size.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MSG: usize = 1024;
const MSGS: usize = 64;

struct Setup {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn setup() -> Setup {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).expect("key der"),
        )
        .expect("server config");
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .expect("root");
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    Setup {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

fn client(s: &Setup) -> ClientConnection {
    let mut c = ClientConnection::new(
        Arc::clone(&s.client),
        ServerName::try_from("localhost").expect("name"),
    )
    .expect("client");
    // 64 KiB of records at once (the default limit is exactly that).
    c.set_buffer_limit(None);
    c
}

/// Moves what the client has to send into `wire`.
fn client_out(c: &mut ClientConnection, wire: &mut Vec<u8>) {
    while c.wants_write() {
        c.write_tls(wire).expect("client write");
    }
}

/// Feeds `wire` to the client.
fn client_in(c: &mut ClientConnection, wire: &[u8]) {
    let mut rd = wire;
    while !rd.is_empty() {
        c.read_tls(&mut rd).expect("client read");
        c.process_new_packets().expect("client process");
    }
}

/// The unbuffered server over `input` (ciphertext, consumed in place):
/// records to send go to `out`, plaintext to `plain`.
fn unbuffered_step(
    conn: &mut UnbufferedServerConnection,
    input: &mut Vec<u8>,
    out: &mut Vec<u8>,
    plain: &mut Vec<u8>,
) {
    let mut off = 0;
    loop {
        let status = conn.process_tls_records(&mut input[off..]);
        let mut discard = status.discard;
        match status.state.expect("server") {
            ConnectionState::EncodeTlsData(mut e) => {
                let start = out.len();
                out.resize(start + 8192, 0);
                let n = e.encode(&mut out[start..]).expect("encode");
                out.truncate(start + n);
            }
            ConnectionState::TransmitTlsData(t) => t.done(),
            ConnectionState::ReadTraffic(mut r) => {
                while let Some(rec) = r.next_record() {
                    let rec = rec.expect("record");
                    discard += rec.discard;
                    plain.extend_from_slice(rec.payload);
                }
            }
            ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_) => {
                off += discard;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        off += discard;
    }
    input.drain(..off);
}

/// Encrypts `data` (≤ 16 KiB) into `out` on the unbuffered server.
fn unbuffered_seal(conn: &mut UnbufferedServerConnection, data: &[u8], out: &mut Vec<u8>) {
    let status = conn.process_tls_records(&mut []);
    let ConnectionState::WriteTraffic(mut w) = status.state.expect("server") else {
        panic!("not ready to write");
    };
    let start = out.len();
    out.resize(start + data.len() + 64, 0);
    let n = w.encrypt(data, &mut out[start..]).expect("encrypt");
    out.truncate(start + n);
}

/// A handshake with the unbuffered server; returns both ends, established.
fn handshake_unbuffered(s: &Setup) -> (ClientConnection, UnbufferedServerConnection) {
    let mut c = client(s);
    let mut srv = UnbufferedServerConnection::new(Arc::clone(&s.server)).expect("server");
    let mut wire = Vec::new();
    let (mut out, mut plain) = (Vec::new(), Vec::new());
    while c.is_handshaking() || srv.is_handshaking() {
        client_out(&mut c, &mut wire);
        unbuffered_step(&mut srv, &mut wire, &mut out, &mut plain);
        client_in(&mut c, &out);
        out.clear();
    }
    client_out(&mut c, &mut wire);
    unbuffered_step(&mut srv, &mut wire, &mut out, &mut plain);
    client_in(&mut c, &out);
    (c, srv)
}

/// A handshake with the buffered server.
fn handshake_buffered(s: &Setup) -> (ClientConnection, ServerConnection) {
    let mut c = client(s);
    let mut srv = ServerConnection::new(Arc::clone(&s.server)).expect("server");
    let mut wire = Vec::new();
    while c.is_handshaking() || srv.is_handshaking() {
        client_out(&mut c, &mut wire);
        let mut rd = &wire[..];
        while !rd.is_empty() {
            srv.read_tls(&mut rd).expect("server read");
            srv.process_new_packets().expect("server process");
        }
        wire.clear();
        let mut out = Vec::new();
        while srv.wants_write() {
            srv.write_tls(&mut out).expect("server write");
        }
        client_in(&mut c, &out);
    }
    (c, srv)
}

/// Client records of `MSGS` × `MSG` octets.
fn client_records(c: &mut ClientConnection) -> Vec<u8> {
    let msg = vec![7u8; MSG];
    for _ in 0..MSGS {
        c.writer().write_all(&msg).expect("client data");
    }
    let mut wire = Vec::new();
    client_out(c, &mut wire);
    wire
}

fn exchange_unbuffered(srv: &mut UnbufferedServerConnection, mut wire: Vec<u8>) -> usize {
    let (mut out, mut plain) = (Vec::new(), Vec::new());
    unbuffered_step(srv, &mut wire, &mut out, &mut plain);
    for chunk in plain.chunks(MSG) {
        unbuffered_seal(srv, chunk, &mut out);
    }
    out.len()
}

fn exchange_buffered(srv: &mut ServerConnection, wire: &[u8]) -> usize {
    // As futures-rustls does: read some ciphertext, take the plaintext
    // out (rustls holds at most 16 KiB of it), write the answers.
    let mut rd = wire;
    let mut buf = [0u8; MSG];
    let mut out = Vec::new();
    while !rd.is_empty() {
        srv.read_tls(&mut rd).expect("server read");
        srv.process_new_packets().expect("server process");
        loop {
            match srv.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => srv.writer().write_all(&buf[..n]).expect("server data"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        while srv.wants_write() {
            srv.write_tls(&mut out).expect("server write");
        }
    }
    out.len()
}

/// Heap each held server connection keeps, over `n` connections that did a
/// handshake and one exchange of `MSGS` messages, then went idle.
fn held_bytes(s: &Setup, n: usize) -> (f64, f64) {
    let mut held_u = Vec::with_capacity(n);
    let mut held_b = Vec::with_capacity(n);
    let mut clients = Vec::with_capacity(2 * n);
    let base = LIVE.load(Ordering::Relaxed);
    for _ in 0..n {
        let (mut c, mut srv) = handshake_unbuffered(s);
        let wire = client_records(&mut c);
        black_box(exchange_unbuffered(&mut srv, wire));
        held_u.push(srv);
        clients.push(c);
    }
    // The clients' share is measured apart and taken out.
    let with_clients = LIVE.load(Ordering::Relaxed) - base;
    let servers_u = {
        let before = LIVE.load(Ordering::Relaxed);
        drop(std::mem::take(&mut held_u));
        before - LIVE.load(Ordering::Relaxed)
    };
    let _ = with_clients;
    drop(std::mem::take(&mut clients));
    for _ in 0..n {
        let (mut c, mut srv) = handshake_buffered(s);
        let wire = client_records(&mut c);
        black_box(exchange_buffered(&mut srv, &wire));
        held_b.push(srv);
        clients.push(c);
    }
    let servers_b = {
        let before = LIVE.load(Ordering::Relaxed);
        drop(std::mem::take(&mut held_b));
        before - LIVE.load(Ordering::Relaxed)
    };
    (servers_u as f64 / n as f64, servers_b as f64 / n as f64)
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let (u, b) = held_bytes(&s, 500);
    println!(
        "tls held connection (server side, idle after one exchange): unbuffered {u:.0} B, buffered {b:.0} B"
    );
    let mut g = c.benchmark_group("tls_handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("unbuffered", |bch| {
        bch.iter(|| black_box(handshake_unbuffered(&s)))
    });
    g.bench_function("buffered", |bch| {
        bch.iter(|| black_box(handshake_buffered(&s)))
    });
    g.finish();
    let mut g = c.benchmark_group("tls_records");
    g.throughput(Throughput::Bytes((2 * MSG * MSGS) as u64));
    let (mut cu, mut su) = handshake_unbuffered(&s);
    g.bench_function("unbuffered", |bch| {
        bch.iter_batched(
            || client_records(&mut cu),
            |wire| black_box(exchange_unbuffered(&mut su, wire)),
            criterion::BatchSize::SmallInput,
        )
    });
    let (mut cb, mut sb) = handshake_buffered(&s);
    g.bench_function("buffered", |bch| {
        bch.iter_batched(
            || client_records(&mut cb),
            |wire| black_box(exchange_buffered(&mut sb, &wire)),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}

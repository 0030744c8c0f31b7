//! Test scaffolding for the transport tests: a glommio executor that accepts one
//! connection and [`serve`]s it with recording hooks, while a blocking client
//! runs in a std thread.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glommio::LocalExecutorBuilder;

use super::{ConnectionHooks, Listening, Refused, bind, serve};
use crate::config::{
    Endpoint, RawSocketOptions, RawSocketService, TransportConfig, TransportKind, WampService,
    WebSocketOptions, WebSocketService,
};
use crate::core::api::LinkInfo;
use crate::core::outbox::{CloseReason, Outbox, OutboxRef};
use crate::proto::Serializer;

/// What the test hooks do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Echo every frame; `close-me` closes with 1002, `close-normal` with 1000,
    /// `burst` answers with 1000 numbered frames, `flood` queues 32 MiB and
    /// closes as a slow consumer.
    Echo,
    /// Refuse the connection in `open`.
    Refuse,
    /// Write coalescing: `open` sets the shard's hold to this delay; every
    /// frame comes back as an event (held), except `now…`, which comes back
    /// as a reply (never held).
    Events(Duration),
}

/// What happened on the server side.
#[derive(Debug)]
pub struct Outcome {
    /// `open` calls.
    pub opened: usize,
    /// `closed` calls.
    pub closed: usize,
    /// Frames received, in order.
    pub frames: Vec<Bytes>,
    /// Serializer, protocol and peer given to `open`.
    pub info: Option<(Serializer, &'static str, String)>,
    /// How long `serve` ran.
    pub elapsed: Duration,
    /// The link's TLS state, as `open` got it.
    pub tls: Option<Box<crate::core::api::TlsInfo>>,
    /// Sends submitted on the shard's ring (`None` without one).
    pub sends: Option<u64>,
}

#[derive(Default)]
struct Log {
    opened: usize,
    closed: usize,
    frames: Vec<Bytes>,
    info: Option<(Serializer, &'static str, String)>,
    tls: Option<Box<crate::core::api::TlsInfo>>,
}

struct TestHooks {
    log: Rc<RefCell<Log>>,
    behaviour: Behaviour,
    outbox: Option<OutboxRef>,
}

impl ConnectionHooks for TestHooks {
    fn open(&mut self, info: LinkInfo, serializer: Serializer) -> Result<OutboxRef, Refused> {
        let mut log = self.log.borrow_mut();
        log.opened += 1;
        log.tls = info.tls().cloned().map(Box::new);
        log.info = Some((serializer, info.kind.as_str(), info.peer.to_string()));
        match self.behaviour {
            Behaviour::Refuse => Err(Refused("server full")),
            Behaviour::Echo | Behaviour::Events(_) => {
                if let Behaviour::Events(delay) = self.behaviour {
                    crate::transport::hold::set_delay(delay);
                }
                let outbox = Outbox::new_ref(64 << 20);
                self.outbox = Some(outbox.clone());
                Ok(outbox)
            }
        }
    }

    fn frame(&mut self, data: &[u8]) {
        let data = Bytes::copy_from_slice(data);
        self.log.borrow_mut().frames.push(data.clone());
        let outbox = self.outbox.as_ref().expect("frame after open");
        let mut o = outbox.borrow_mut();
        if matches!(self.behaviour, Behaviour::Events(_)) {
            let reply = data.starts_with(b"now");
            let pushed = if reply {
                o.push(data)
            } else {
                o.push_event(data)
            };
            pushed.expect("fits");
            return;
        }
        match &data[..] {
            b"close-me" => o.close(CloseReason::ProtocolViolation("closing on request".into())),
            b"close-normal" => {
                o.push(Bytes::from_static(b"bye")).expect("fits");
                o.close(CloseReason::Normal);
            }
            b"flood" => {
                // 32 MiB: more than the kernel's socket buffers hold.
                let chunk = Bytes::from(vec![b'f'; 64 * 1024]);
                for _ in 0..512 {
                    o.push(chunk.clone()).expect("fits");
                }
                o.close(CloseReason::SlowConsumer);
            }
            b"burst" => {
                for i in 0..1000 {
                    o.push(Bytes::from(format!("frame {i}"))).expect("fits");
                }
            }
            _ => o.push(data).expect("fits"),
        }
    }

    fn closed(&mut self) {
        self.log.borrow_mut().closed += 1;
    }
}

/// A transport on 127.0.0.1, port 0.
pub fn transport(kind: TransportKind) -> TransportConfig {
    TransportConfig::new(
        "test".to_owned(),
        kind,
        Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port: 0,
        },
    )
}

/// A WAMP service offering `serializers`, anonymous authentication.
fn wamp(serializers: &[Serializer]) -> WampService {
    WampService {
        serializers: serializers.to_vec(),
        ..WampService::default()
    }
}

/// A WebSocket transport on 127.0.0.1:0 with path `/ws`.
pub fn ws_transport(opts: WebSocketOptions, serializers: &[Serializer]) -> TransportConfig {
    let options = WebSocketOptions {
        path: Some("/ws".to_owned()),
        ..opts
    };
    transport(TransportKind::WebSocket(WebSocketService {
        options,
        wamp: wamp(serializers),
        cookie: None,
    }))
}

/// A RawSocket transport on 127.0.0.1:0.
pub fn raw_transport(options: RawSocketOptions, serializers: &[Serializer]) -> TransportConfig {
    transport(TransportKind::RawSocket(RawSocketService {
        options,
        wamp: wamp(serializers),
    }))
}

/// Which socket I/O the server side uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// The shard's own io_uring ([`crate::transport::uring`]), as a shard runs
    /// where the kernel has it (the test fails where it does not).
    Uring,
    /// glommio's readiness-based sockets (the fallback).
    Readiness,
}

/// Serves one connection on `transport` while `client` (given the listener's
/// address) runs in a thread; returns what the server saw and the client's
/// result. The server runs on the shard's ring ([`Io::Uring`]).
pub fn run_one<C, R>(
    transport: TransportConfig,
    max_message_size: usize,
    behaviour: Behaviour,
    client: C,
) -> (Outcome, R)
where
    C: FnOnce(String) -> R + Send + 'static,
    R: Send + 'static,
{
    run_one_on(Io::Uring, transport, max_message_size, behaviour, client)
}

/// [`run_one`] with the server's socket I/O chosen.
pub fn run_one_on<C, R>(
    io: Io,
    transport: TransportConfig,
    max_message_size: usize,
    behaviour: Behaviour,
    client: C,
) -> (Outcome, R)
where
    C: FnOnce(String) -> R + Send + 'static,
    R: Send + 'static,
{
    run_one_with(
        io,
        transport,
        move |t| Listening::new(t, max_message_size).expect("a servable transport"),
        behaviour,
        client,
    )
}

/// [`run_one_on`] on the listener `listening` makes of the transport (a
/// testee's, say).
pub fn run_one_with<C, R, L>(
    io: Io,
    transport: TransportConfig,
    listening: L,
    behaviour: Behaviour,
    client: C,
) -> (Outcome, R)
where
    C: FnOnce(String) -> R + Send + 'static,
    R: Send + 'static,
    L: FnOnce(Rc<TransportConfig>) -> Listening + Send + 'static,
{
    run_one_tls(io, transport, listening, None, behaviour, client)
}

/// [`run_one_with`] on a TLS listener when `tls` is given: the accepted
/// stream goes through [`super::tls::accept`] first (a failed handshake
/// ends the server side with nothing opened).
pub fn run_one_tls<C, R, L>(
    io: Io,
    transport: TransportConfig,
    listening: L,
    tls: Option<std::sync::Arc<super::tls::TlsAcceptor>>,
    behaviour: Behaviour,
    client: C,
) -> (Outcome, R)
where
    C: FnOnce(String) -> R + Send + 'static,
    R: Send + 'static,
    L: FnOnce(Rc<TransportConfig>) -> Listening + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<String>();
    let server = LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let ring = match io {
                Io::Uring => Some(crate::transport::uring::start().expect("io_uring")),
                Io::Readiness => None,
            };
            let listener = bind(&transport.endpoint).expect("bind");
            assert_eq!(
                matches!(listener, crate::transport::Listener::Uring(_)),
                io == Io::Uring
            );
            tx.send(listener.local_addr_string()).expect("send address");
            let accept = glommio::timer::timeout(Duration::from_secs(10), async {
                Ok(listener.accept().await)
            });
            let (stream, peer) = accept.await.expect("a client within 10 s").expect("accept");
            let started = Instant::now();
            let stream = match tls {
                None => Some(stream),
                Some(acceptor) => super::tls::accept(acceptor, stream, &peer, "test").await,
            };
            let Some(stream) = stream else {
                drop(listener);
                if let Some(ring) = ring {
                    ring.stop().await;
                }
                return Outcome {
                    opened: 0,
                    closed: 0,
                    frames: Vec::new(),
                    info: None,
                    elapsed: started.elapsed(),
                    tls: None,
                    sends: None,
                };
            };
            let log = Rc::new(RefCell::new(Log::default()));
            let hooks = TestHooks {
                log: log.clone(),
                behaviour,
                outbox: None,
            };
            let listening = listening(Rc::new(transport));
            serve(stream, peer, &listening, hooks, None, &mut None).await;
            let elapsed = started.elapsed();
            drop(listener);
            let sends = crate::transport::uring::current().map(|r| r.stats().sends);
            crate::transport::hold::set_delay(Duration::ZERO);
            if let Some(ring) = ring {
                ring.stop().await;
            }
            let log = std::mem::take(&mut *log.borrow_mut());
            Outcome {
                opened: log.opened,
                closed: log.closed,
                frames: log.frames,
                info: log.info,
                elapsed,
                tls: log.tls,
                sends,
            }
        })
        .expect("start executor");
    let addr = rx.recv().expect("server address");
    let client = std::thread::spawn(move || client(addr));
    let outcome = server.join().expect("server executor");
    let result = client.join().expect("client thread");
    (outcome, result)
}

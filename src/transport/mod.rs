//! Transports: bytes in, WAMP message frames out. WebSocket and RawSocket,
//! over TCP or Unix domain sockets, on the shard's own io_uring or glommio's
//! streams.
//!
//! A transport knows nothing of WAMP semantics. It performs the opening
//! handshake (serializer negotiation, size limits), hands each complete
//! message to [`ConnectionHooks::frame`], and drains the connection's
//! [`Outbox`](crate::core::outbox::Outbox) into the socket, many frames
//! per write.
//!
//! - [`listener`]: binding TCP / Unix sockets and accepting [`Stream`]s;
//!   `sockopt.rs`: socket options both I/O paths' listeners set;
//! - [`websocket`]: WAMP-over-WebSocket (subprotocols `wamp.2.json`, `wamp.2.msgpack`, `wamp.2.cbor`);
//! - [`rawsocket`]: WAMP-over-RawSocket (framing in [`crate::proto::rawsocket`]);
//! - [`mqtt`]: MQTT 3.1.1 and 5.0 clients as sessions (its own driver);
//! - [`universal`]: one port, the protocol chosen by the first octet;
//! - `conn`: the connection driver both protocols run on once their handshake
//!   is done (reads, writes, control frames, closing), generic over a framing;
//! - [`socket`]: the `Socket` trait the handshakes and closing phases use
//!   (reads, vectored writes), readiness-based on glommio's streams;
//! - [`uring`]: the shard's own io_uring (multishot receives into shared
//!   buffers, sends submitted once per turn), the data path when the kernel
//!   has it;
//! - [`tls`]: TLS on TCP listeners, a property of the accepted stream
//!   ([`Stream::Tls`]): the accept loop runs the handshake, then any front
//!   end reads and writes plaintext through the same [`socket::Socket`];
//! - [`hold`]: write coalescing (`junction.write_coalesce_us`, opt-in): a
//!   shard-wide window in which a connection that wrote lately holds its
//!   next message, to send it with the ones that follow;
//! - [`serve`]: the entry point the runtime spawns per accepted connection.
//!
//! Each connection runs as one task on its shard's executor: one boxed
//! connection state polled as a single future (reads, the auto-ping timer and
//! writes in one poll function). An MQTT connection idle for a while has
//! none: it parks in its state and its first wake spawns a task again
//! (`mqtt/park.rs`). Nothing here is `Send`.
//!
//! It imports `proto`, `config` and the core's front-end API
//! ([`crate::core::api`], the outbox); never the shard runtime or the node.

mod compress;
mod conn;
pub mod cookie;
mod encoded;
mod framing;
pub mod hold;
pub mod http;
pub mod listener;
pub mod mqtt;
mod pending;
pub mod rawsocket;
pub mod socket;
mod sockopt;
pub mod testee;
#[cfg(test)]
mod testutil;
pub mod tls;
pub mod universal;
mod upgrade;
pub mod uring;
pub mod websocket;
pub mod wsbytes;

use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::{Either, select};

use crate::config::{TransportConfig, TransportKind};
use crate::core::api::{LinkInfo, Refused};
use crate::core::outbox::OutboxRef;
use crate::proto::Serializer;

pub use http::{Site, SiteError};
pub use listener::{Listener, Stream, bind, is_transient_accept_error};
pub use rawsocket::serve_rawsocket;
pub use websocket::serve_websocket;

/// The router side of a connection, implemented by the shard runtime.
pub trait ConnectionHooks {
    /// After a successful handshake: opens the connection's link with the
    /// router (frames in `serializer`) and returns the outbox the transport
    /// must drain.
    ///
    /// # Errors
    /// [`Refused`] when the router will not take the connection; the transport
    /// closes it (RawSocket error 4 "max connection count reached", WebSocket 1013).
    fn open(&mut self, info: LinkInfo, serializer: Serializer) -> Result<OutboxRef, Refused>;
    /// One complete WAMP message from the peer, borrowed from the read buffer
    /// for the duration of the call (no copy).
    fn frame(&mut self, data: &[u8]);
    /// The connection is gone (EOF, error, or after the outbox's close was carried out).
    fn closed(&mut self);
    /// The router as the MQTT front end sees it, and the outgoing queue
    /// bound, for a connection that turns out to be MQTT (a web
    /// transport's `mqtt` path); `None` where MQTT is not served.
    fn mqtt_router(&self) -> Option<(Rc<dyn mqtt::RouterPort>, usize)> {
        None
    }
    /// The shard's router for the web server's own front ends (HTTP bridge,
    /// long-poll); `None` where there is none (tests, the testee).
    fn web_router(&self) -> Option<Rc<dyn http::WebRouter>> {
        None
    }
}

/// Calls [`ConnectionHooks::closed`] exactly once, when dropped: at the end of
/// [`serve`] however the connection ended, and also when the serving task is
/// cancelled mid-way (the executor shutting down).
struct ClosedOnDrop<H: ConnectionHooks>(H);

impl<H: ConnectionHooks> Drop for ClosedOnDrop<H> {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// A connection counted on its shard (connection placement): the count
/// drops with it. The shard counts; a front end that outlives its task (a
/// parked MQTT connection) keeps it until the connection ends.
#[derive(Debug)]
pub struct Counted(Arc<AtomicUsize>);

impl Counted {
    /// Counted in `count`, already incremented for this connection.
    pub fn new(count: Arc<AtomicUsize>) -> Counted {
        Counted(count)
    }

    /// The count this connection is in.
    pub fn count(&self) -> &Arc<AtomicUsize> {
        &self.0
    }

    /// The count, with this connection still in it (kept elsewhere: a
    /// [`Counted::new`] of it ends the connection's place later).
    pub fn into_count(self) -> Arc<AtomicUsize> {
        // Counted once more before this one's drop takes its place out.
        self.0.fetch_add(1, Ordering::Relaxed);
        Arc::clone(&self.0)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a connection may take to answer our closing (WebSocket close
/// handshake, or the peer's EOF after a RawSocket shutdown) before it is dropped.
/// Autobahn's default `closeHandshakeTimeout` is the same 1 s.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a write may stay stuck on a full socket once the router closed the
/// connection's outbox, before the connection is dropped.
const STALL_TICK: Duration = Duration::from_secs(1);

/// Runs `f` for at most `limit` (`Duration::ZERO` = no limit); `None` when time ran out.
async fn with_timeout<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    if limit.is_zero() {
        return Some(f.await);
    }
    let f = pin!(f);
    let timer = pin!(glommio::timer::Timer::new(limit));
    match select(f, timer).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// What one listener serves, prepared once per listener on each shard (a
/// web transport's path tree and services are built here, not per
/// connection).
#[derive(Debug, Clone)]
pub struct Listening {
    /// The transport.
    transport: Rc<TransportConfig>,
    /// The router-wide message limit (`limits.max_message_size`).
    max_message_size: usize,
    /// A web transport's site.
    site: Option<Rc<Site>>,
    /// A `websocket-testee` worker's endpoint (an echo, no WAMP).
    testee: bool,
}

impl Listening {
    /// Prepares `transport`; `max_message_size` is the router-wide limit
    /// (the smaller of it and a service's own option applies).
    ///
    /// # Errors
    /// [`SiteError`] when a web transport's site cannot be built.
    pub fn new(transport: Rc<TransportConfig>, max_message_size: usize) -> Result<Self, SiteError> {
        let site = match &transport.kind {
            TransportKind::Web(_) => {
                Some(Rc::new(Site::new(Rc::clone(&transport), max_message_size)?))
            }
            // The HTTP side of a universal transport: its web paths and its
            // websocket entries, served by the web server.
            TransportKind::Universal(u) => match http::universal_web(u) {
                Some(web) => Some(Rc::new(Site::with_paths(
                    Rc::clone(&transport),
                    &web,
                    max_message_size,
                )?)),
                None => None,
            },
            _ => None,
        };
        Ok(Listening {
            transport,
            max_message_size,
            site,
            testee: false,
        })
    }

    /// A `websocket-testee` worker's listener (`transport`: see
    /// [`testee::testee_transport`]); its connections take
    /// [`testee::EchoHooks`].
    pub fn testee(transport: Rc<TransportConfig>) -> Self {
        Listening {
            transport,
            max_message_size: usize::MAX,
            site: None,
            testee: true,
        }
    }

    /// Whether this is a testee's listener.
    pub fn is_testee(&self) -> bool {
        self.testee
    }

    /// The transport.
    pub fn transport(&self) -> &Rc<TransportConfig> {
        &self.transport
    }
}

/// Serves one accepted connection until it ends: the opening handshake of the
/// transport's protocol, [`ConnectionHooks::open`], then frames in both
/// directions until the peer goes away or the outbox asks for a close. A web
/// transport's connection first serves HTTP requests by path; a WebSocket
/// upgrade on a `websocket` path then opens the link.
///
/// [`ConnectionHooks::closed`] is called exactly once when this returns (or the
/// future is dropped), on an MQTT listener (whose connections open their links
/// through [`MqttPort`], not the hooks) before the connection is served;
/// also when the handshake failed, `open` refused the
/// connection, or (web) no link was ever opened; `open` is called at most
/// once, before any `frame`. Hooks that track a session must therefore
/// accept `closed` without a prior `open`. Never fails: every error ends this
/// one connection and is logged at debug level.
///
/// An MQTT listener's connection takes `counted` (it keeps it while it is
/// parked without a task, see `mqtt/park.rs`); every other connection
/// leaves it to the caller, who holds it as long as the returned future.
pub fn serve<H: ConnectionHooks + 'static>(
    stream: Stream,
    peer: String,
    listening: &Listening,
    hooks: H,
    mqtt: Option<MqttPort>,
    counted: &mut Option<Counted>,
) -> Pin<Box<dyn Future<Output = ()>>> {
    let transport = Rc::clone(&listening.transport);
    let max_message_size = listening.max_message_size;
    // A boxed future of the protocol in use: the connection's task then holds a
    // pointer, not room for the largest protocol's state.
    if listening.testee {
        return Box::pin(testee::serve_testee(stream, peer, transport, hooks));
    }
    match (&transport.kind, &listening.site) {
        (TransportKind::RawSocket(_), _) => Box::pin(rawsocket::serve_rawsocket(
            stream,
            peer,
            transport,
            max_message_size,
            hooks,
        )),
        (TransportKind::Mqtt(_), _) if mqtt.is_some() => {
            // The MQTT front end opens its links through the port's router,
            // never through the hooks: they are done with before the
            // connection is served, and a held connection's box is the MQTT
            // future alone (96 octets, not 128 with the shard's hooks).
            drop(ClosedOnDrop(hooks));
            let m = mqtt.expect("checked");
            Box::pin(mqtt::serve_mqtt_counted(
                stream,
                peer,
                m.service,
                m.router,
                counted.take(),
            ))
        }
        (TransportKind::Universal(u), site) => {
            let u = u.clone();
            let site = site.clone();
            Box::pin(async move {
                let timeout = mqtt.as_ref().map_or(Duration::from_secs(10), |m| {
                    Duration::from_millis(m.service.limits.connect_timeout_ms)
                });
                let mut stream = stream;
                let Some(sniffed) = universal::sniff(&mut stream, timeout).await else {
                    drop(ClosedOnDrop(hooks));
                    return;
                };
                if sniffed == universal::Sniffed::Tls {
                    tls::refuse_tls_client(&mut stream, &peer, &transport.id).await;
                    drop(ClosedOnDrop(hooks));
                    return;
                }
                // HTTP: the web server, with the websocket entries as paths.
                if sniffed == universal::Sniffed::Http
                    && let Some(site) = site
                {
                    http::driver::serve_web(stream, peer, site, hooks).await;
                    return;
                }
                let Some(t) = universal::service_transport(&transport, &u, sniffed) else {
                    tracing::debug!(%peer, ?sniffed, "universal transport does not serve this protocol");
                    drop(ClosedOnDrop(hooks));
                    return;
                };
                let inner = Listening {
                    transport: t,
                    max_message_size,
                    site: None,
                    testee: false,
                };
                // The count stays with this task (the caller's): a
                // connection served here never parks.
                serve(stream, peer, &inner, hooks, mqtt, &mut None).await;
            })
        }
        (TransportKind::WebSocket(_), _) => Box::pin(websocket::serve_websocket(
            stream,
            peer,
            transport,
            max_message_size,
            hooks,
        )),
        (TransportKind::Web(_), Some(site)) => Box::pin(http::driver::serve_web(
            stream,
            peer,
            Rc::clone(site),
            hooks,
        )),
        // Listeners of other kinds are not started (`shard::start` refuses
        // such configs); should one get here, the connection is dropped.
        (kind, _) => {
            tracing::debug!(%peer, kind = kind.name(), "transport kind not served; connection dropped");
            let closed = ClosedOnDrop(hooks);
            Box::pin(async move {
                drop((stream, closed));
            })
        }
    }
}

/// What an MQTT service's connections need: the service and the router.
#[derive(Clone)]
pub struct MqttPort {
    /// The listener's MQTT service.
    pub service: Rc<mqtt::Service>,
    /// The shard's router.
    pub router: Rc<dyn mqtt::RouterPort>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A count handed on keeps the connection in it, and nothing more: no
    /// place and no reference to the count is lost or left behind.
    #[test]
    fn a_count_handed_on_keeps_its_place() {
        let count = Arc::new(AtomicUsize::new(1));
        let counted = Counted::new(Arc::clone(&count));
        let kept = counted.into_count();
        assert_eq!(count.load(Ordering::Relaxed), 1, "still counted");
        assert_eq!(Arc::strong_count(&count), 2, "ours and the kept one");
        drop(Counted::new(kept));
        assert_eq!(
            count.load(Ordering::Relaxed),
            0,
            "its end takes the place out"
        );
        assert_eq!(Arc::strong_count(&count), 1);
    }
}

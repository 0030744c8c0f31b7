//! Unit tests of `conn.rs`: what a held connection costs.

use super::*;
use crate::core::api::Refused;
use crate::transport::rawsocket::RawFraming;
use crate::transport::websocket::WsFraming;

/// Hooks of no size: what a `Conn` costs beyond the router's hooks.
struct NoHooks;

impl ConnectionHooks for NoHooks {
    fn open(&mut self, _: LinkInfo, _: Serializer) -> Result<OutboxRef, Refused> {
        Err(Refused("test"))
    }
    fn frame(&mut self, _: &[u8]) {}
    fn closed(&mut self) {}
}

/// What a held connection's box costs (issue #9): with the shard's
/// hooks (32 octets: the router, the link, the queue limit) a WebSocket
/// `Conn` is 160 octets, in mimalloc's 160 class rather than the 256 (an
/// incomplete frame's tail, the inflater and deflater, control frames
/// and the closing phase's state are boxed while they exist).
#[test]
fn a_held_connection_stays_small() {
    let ws = std::mem::size_of::<Conn<NoHooks, WsFraming>>();
    let raw = std::mem::size_of::<Conn<NoHooks, RawFraming>>();
    eprintln!("Conn without hooks: WebSocket {ws} B, RawSocket {raw} B");
    assert!(std::mem::size_of::<WsFraming>() <= 48);
    assert!(ws <= 128, "a WebSocket Conn is {ws} bytes beyond its hooks");
    assert!(
        raw <= 128,
        "a RawSocket Conn is {raw} bytes beyond its hooks"
    );
}

fn future_size4<A, B, C, D, F: Future>(_: fn(A, B, C, D) -> F) -> usize {
    std::mem::size_of::<F>()
}

fn future_size5<A, B, C, D, E, F: Future>(_: fn(A, B, C, D, E) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// The future a held connection's task keeps (issue #9): the main phase
/// on the connection's box and nothing kept from the handshake (it was
/// 56 octets for `serve`, 104 for the WebSocket paths of the web server).
#[test]
fn a_held_connections_future_stays_small() {
    let serve = std::mem::size_of::<Serve<'static, NoHooks, WsFraming>>();
    let web = future_size4(crate::transport::http::driver::serve_web::<NoHooks>);
    let ws = future_size5(crate::transport::websocket::serve_websocket::<NoHooks>);
    let raw = future_size5(crate::transport::rawsocket::serve_rawsocket::<NoHooks>);
    eprintln!(
        "futures: serve {serve} B, serve_web {web} B, serve_websocket {ws} B, serve_rawsocket {raw} B"
    );
    assert!(serve <= 24, "Serve is {serve} bytes");
    for (name, size) in [
        ("serve_web", web),
        ("serve_websocket", ws),
        ("serve_rawsocket", raw),
    ] {
        assert!(size <= serve + 16, "{name}'s future is {size} bytes");
    }
}

//! Socket options shared by the listeners of both I/O paths (glommio's, in
//! `listener.rs`, and the shard ring's, in `uring/stream.rs`). A leaf: it
//! imports nothing from the crate.

/// Sets `TCP_NODELAY` on a listening socket: Linux copies it to every
/// socket accepted from it, which saves a system call per connection. A
/// failure only costs latency: logged, the listener is kept.
pub(crate) fn set_listener_nodelay(socket: &socket2::Socket) {
    if let Err(e) = socket.set_tcp_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY on the listener failed");
    }
}

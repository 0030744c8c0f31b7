//! One HTTP connection's life on the shard: requests answered one at a
//! time in order by the dispatcher (`services`), and the hand-over
//! to the WebSocket session after a 101.
//!
//! - Requests: one at a time. The next (pipelined) request is decoded once
//!   the one before it is answered, so answers go out in order and nothing
//!   is queued per connection.
//! - The socket side (reads, writes, timeouts, the closing) is
//!   `HttpConn`'s, in `conn`.
//!
//! The top floor of the web server: imports the dispatcher and the
//! connection; no service imports it.

use std::future::Future;
use std::rc::Rc;

use futures::future::Either;

use super::Site;
use super::conn::{HttpConn, Stop};
use super::port::WebRouter;
use super::services::{self, MainPhase, Upgraded};
use crate::transport::{ConnectionHooks, Stream};

/// Calls [`ConnectionHooks::closed`] when dropped, unless the hooks were
/// taken for a WebSocket session (whose driver then owns them).
struct HooksGuard<H: ConnectionHooks>(Option<H>);

impl<H: ConnectionHooks> Drop for HooksGuard<H> {
    fn drop(&mut self) {
        if let Some(h) = &mut self.0 {
            h.closed();
        }
    }
}

/// Serves one connection of a web transport: HTTP requests by path until
/// the connection closes or upgrades to a WebSocket, whose session then
/// runs on the shared connection driver. See [`crate::transport::serve`]
/// for the contract with `hooks`.
///
/// The HTTP phase and the session's opening run in a boxed future of their
/// own, gone once the session is open: a held session's future keeps only
/// that box's place and its main phase.
pub fn serve_web<H: ConnectionHooks + 'static>(
    stream: Stream,
    peer: String,
    site: Rc<Site>,
    hooks: H,
) -> impl Future<Output = ()> {
    let opening = Box::pin(open_web(stream, peer, site, hooks));
    async move {
        // The main phase is chosen in a statement of its own: the opening's
        // result is not kept while the session runs.
        let main = match opening.await {
            Some(MainPhase::Wamp(conn, leftover)) => Either::Left(conn.serve(leftover)),
            Some(MainPhase::Other(main)) => Either::Right(main),
            None => return,
        };
        main.await;
    }
}

/// The HTTP phase, then the opening of the upgraded connection's session.
async fn open_web<H: ConnectionHooks + 'static>(
    stream: Stream,
    peer: String,
    site: Rc<Site>,
    hooks: H,
) -> Option<MainPhase<H>> {
    let router = hooks.web_router();
    let mut hooks = HooksGuard(Some(hooks));
    // The HTTP phase's buffers live in a boxed future of their own, gone
    // before a WebSocket session starts.
    let up = Box::pin(http_phase(stream, &peer, &site, router.as_ref())).await?;
    let hooks = hooks.0.take().expect("the hooks are taken once");
    services::open_upgraded(up, hooks, peer, &site).await
}

/// Requests until the connection closes (`None`) or upgrades.
async fn http_phase(
    stream: Stream,
    peer: &str,
    site: &Site,
    router: Option<&Rc<dyn WebRouter>>,
) -> Option<Upgraded> {
    let mut c = HttpConn::new(
        stream,
        site.limits.clone(),
        site.timeouts,
        site.hsts.clone(),
    );
    loop {
        let Ok(request) = c.next_request().await else {
            c.linger().await;
            return None;
        };
        match services::dispatch(&mut c, site, peer, request, router).await {
            Ok(None) => {}
            Ok(Some(up)) => {
                let (sock, leftover) = c.into_parts();
                return Some(up.with_leftover(sock, leftover));
            }
            Err(Stop) => {
                c.linger().await;
                return None;
            }
        }
        if c.conn.must_close() {
            c.linger().await;
            return None;
        }
    }
}

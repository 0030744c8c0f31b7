//! The router as the web server's own front ends see it: the session API of
//! the shard that accepted the connection (the HTTP bridge's service
//! sessions, long-poll sessions). The shard runtime implements it and hands
//! it out through [`ConnectionHooks::web_router`](crate::transport::ConnectionHooks::web_router).

use crate::core::api::{LinkId, LinkInfo, Output, Refused};
use crate::core::cluster::FrontMsg;
use crate::proto::{Message, ShardId};

/// The shard's router, for web front ends.
pub trait WebRouter {
    /// Opens a link ([`crate::core::ShardRouter::open`]).
    ///
    /// # Errors
    /// [`Refused`] at the shard's session limit or while draining.
    fn open(&self, info: LinkInfo, out: Output) -> Result<LinkId, Refused>;
    /// Opens a service session with `authrole` on `realm`
    /// ([`crate::core::ShardRouter::open_service`]).
    ///
    /// # Errors
    /// [`Refused`] for an unknown realm, at the session limit, while draining.
    fn open_service(
        &self,
        info: LinkInfo,
        out: Output,
        realm: &str,
        authid: &str,
        authrole: &str,
    ) -> Result<LinkId, Refused>;
    /// A typed message from the peer ([`crate::core::ShardRouter::feed`]).
    fn feed(&self, link: LinkId, msg: Message);
    /// A WAMP frame from the peer ([`crate::core::ShardRouter::feed_frame`]).
    fn feed_frame(&self, link: LinkId, data: &[u8]);
    /// The front end is gone ([`crate::core::ShardRouter::close`]).
    fn close(&self, link: LinkId);
    /// This shard and the shard count.
    fn shard(&self) -> (ShardId, u16);
    /// Sends a front-end message to another shard
    /// ([`crate::core::ShardRouter::send_front`]).
    fn send_front(&self, to: ShardId, msg: FrontMsg);
}

//! The shard's router as the front ends reach it: [`FrontPort`] (the MQTT
//! front end's `RouterPort` and the web front end's `WebRouter`), [`Hooks`]
//! (a WAMP connection's `ConnectionHooks`), and [`spawn_auth_jobs`], which
//! moves the router's authentication work off the reactor after each feed.
//!
//! Each is a thin adapter over one `Rc<RefCell<ShardRouter>>`: no state of
//! its own beyond the connection's link. Imports the core and the transports'
//! traits; never the node.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::{Config, TransportConfig};
use crate::core::ShardRouter;
use crate::core::api::{LinkId, LinkInfo, Output, Refused};
use crate::core::outbox::{Outbox, OutboxRef};
use crate::proto::{Serializer, ShardId};
use crate::store::mqtt::{MqttLog, RestoredSession};
use crate::transport::{self, ConnectionHooks};

/// Runs the authentication work the router handed out (key derivations,
/// signature checks) on the executor's blocking pool, off the reactor, and
/// hands each result back. Costs one empty-vector check when there is none.
pub(crate) fn spawn_auth_jobs(router: &Rc<RefCell<ShardRouter>>) {
    let jobs = router.borrow_mut().take_auth_jobs();
    for job in jobs {
        let router = Rc::clone(router);
        glommio::spawn_local(async move {
            let ticket = job.ticket;
            let step = glommio::executor().spawn_blocking(job.run).await;
            router.borrow_mut().resolve_authentication(ticket, step);
            spawn_auth_jobs(&router);
        })
        .detach();
    }
}

/// Starts the shard's MQTT front end: its handle on the session logs and
/// the persistent sessions it owns, read back from them.
pub(super) fn start_mqtt(
    router: &Rc<RefCell<ShardRouter>>,
    config: &Config,
    transports: &[TransportConfig],
    (log, restored): (MqttLog, Arc<Vec<RestoredSession>>),
) {
    let port: Rc<dyn transport::mqtt::RouterPort> = Rc::new(FrontPort(Rc::clone(router)));
    let queue_limit = router.borrow().limits().outbound_queue_bytes;
    let services: Vec<Rc<transport::mqtt::Service>> = transports
        .iter()
        .filter_map(|t| transport::mqtt::Service::of(t, queue_limit))
        .map(Rc::new)
        .collect();
    transport::mqtt::task::start_shard(port, log, &services, &restored, &config.limits);
}

/// The shard's router as the MQTT and web front ends reach it.
pub(super) struct FrontPort(pub(super) Rc<RefCell<ShardRouter>>);

impl transport::mqtt::RouterPort for FrontPort {
    fn open(&self, info: LinkInfo, out: Output) -> Result<LinkId, Refused> {
        self.0.borrow_mut().open(info, out)
    }

    fn feed(&self, link: LinkId, msg: crate::proto::Message) {
        self.0.borrow_mut().feed(link, msg);
        spawn_auth_jobs(&self.0);
    }

    fn close(&self, link: LinkId) {
        self.0.borrow_mut().close(link);
    }

    fn open_service(&self, realm: &str, out: Output) -> Option<LinkId> {
        self.0.borrow_mut().open_trusted_service(realm, out)
    }

    fn publish_as_router(&self, realm: &str, topic: &str, payload: crate::proto::Payload) {
        self.0.borrow_mut().publish_as_router(realm, topic, payload);
    }

    fn shard(&self) -> (ShardId, u16) {
        let r = self.0.borrow();
        (r.shard(), r.shard_count())
    }

    fn send_front(&self, to: ShardId, msg: crate::core::cluster::FrontMsg) {
        self.0.borrow_mut().send_front(to, msg);
    }
}

impl transport::http::WebRouter for FrontPort {
    fn open(&self, info: LinkInfo, out: Output) -> Result<LinkId, Refused> {
        self.0.borrow_mut().open(info, out)
    }

    fn open_service(
        &self,
        info: LinkInfo,
        out: Output,
        realm: &str,
        authid: &str,
        authrole: &str,
    ) -> Result<LinkId, Refused> {
        self.0
            .borrow_mut()
            .open_service(info, out, realm, authid, authrole)
    }

    fn feed(&self, link: LinkId, msg: crate::proto::Message) {
        self.0.borrow_mut().feed(link, msg);
        spawn_auth_jobs(&self.0);
    }

    fn feed_frame(&self, link: LinkId, data: &[u8]) {
        self.0.borrow_mut().feed_frame(link, data);
        spawn_auth_jobs(&self.0);
    }

    fn close(&self, link: LinkId) {
        self.0.borrow_mut().close(link);
    }

    fn shard(&self) -> (ShardId, u16) {
        let r = self.0.borrow();
        (r.shard(), r.shard_count())
    }

    fn send_front(&self, to: ShardId, msg: crate::core::cluster::FrontMsg) {
        self.0.borrow_mut().send_front(to, msg);
    }
}

/// The router side of one connection: a WAMP front end over the core's
/// session API.
pub(super) struct Hooks {
    router: Rc<RefCell<ShardRouter>>,
    conn: Option<LinkId>,
    queue_limit: usize,
}

impl Hooks {
    /// Hooks for a connection not yet opened, whose outbox holds up to
    /// `queue_limit` bytes.
    pub(super) fn new(router: Rc<RefCell<ShardRouter>>, queue_limit: usize) -> Self {
        Hooks {
            router,
            conn: None,
            queue_limit,
        }
    }
}

impl ConnectionHooks for Hooks {
    fn open(&mut self, info: LinkInfo, serializer: Serializer) -> Result<OutboxRef, Refused> {
        let outbox = Outbox::new_ref(self.queue_limit);
        let out = Output::Wire {
            outbox: Rc::clone(&outbox),
            serializer,
        };
        let id = self.router.borrow_mut().open(info, out)?;
        self.conn = Some(id);
        Ok(outbox)
    }

    fn frame(&mut self, data: &[u8]) {
        if let Some(c) = self.conn {
            self.router.borrow_mut().feed_frame(c, data);
            spawn_auth_jobs(&self.router);
        }
    }

    fn closed(&mut self) {
        if let Some(c) = self.conn.take() {
            self.router.borrow_mut().close(c);
        }
    }

    fn mqtt_router(&self) -> Option<(Rc<dyn transport::mqtt::RouterPort>, usize)> {
        Some((
            Rc::new(FrontPort(Rc::clone(&self.router))),
            self.queue_limit,
        ))
    }

    fn web_router(&self) -> Option<Rc<dyn transport::http::WebRouter>> {
        Some(Rc::new(FrontPort(Rc::clone(&self.router))))
    }
}

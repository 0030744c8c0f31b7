//! The service session of one bridge (or `wap`) path on one shard: opened
//! on the first request with the path's realm and role
//! ([`WebRouter::open_service`], through a [`SessionSlot`]), kept for the
//! site's life, reopened when the router ended it (killed, realm removed). Its output is a typed queue;
//! a pump task hands each answer (PUBLISHED, RESULT, ERROR) to the request
//! waiting for it, by request ID.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;

use ahash::AHashMap;
use futures::channel::oneshot;

use crate::config::TransportConfig;
use crate::core::api::{FrontEnd, LinkId, LinkInfo, MessageQueue, MessageQueueRef, Output};
use crate::core::outbox::CloseReason;
use crate::core::uris;
use crate::proto::{Dict, Goodbye, Message, RequestId};
use crate::transport::http::port::WebRouter;

/// Bound on the answers queued for the pump (it drains at once).
const QUEUE_LIMIT: usize = 64 << 20;

/// What the session and its pump share.
struct Shared {
    /// Requests waiting for their answer.
    waiting: RefCell<AHashMap<RequestId, oneshot::Sender<Message>>>,
    /// Set once the router ended the session (or the site dropped it).
    dead: Cell<bool>,
}

/// Where a path keeps its service session on this shard.
pub(in crate::transport::http) struct SessionSlot {
    transport: Rc<TransportConfig>,
    realm: String,
    role: String,
    session: RefCell<Option<Rc<ServiceSession>>>,
}

impl SessionSlot {
    /// A slot for sessions on `realm` with `role`, reporting `transport`.
    pub fn new(transport: &Rc<TransportConfig>, realm: &str, role: &str) -> Self {
        SessionSlot {
            transport: Rc::clone(transport),
            realm: realm.to_owned(),
            role: role.to_owned(),
            session: RefCell::new(None),
        }
    }

    /// The realm the sessions join.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The role they have.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// This shard's service session, opened (again) if needed; `None` when
    /// the router refused it.
    pub fn get(&self, router: &Rc<dyn WebRouter>) -> Option<Rc<ServiceSession>> {
        let mut slot = self.session.borrow_mut();
        if let Some(s) = &*slot
            && !s.is_dead()
        {
            return Some(Rc::clone(s));
        }
        let s = ServiceSession::open(router, &self.transport, &self.realm, &self.role)?;
        *slot = Some(Rc::clone(&s));
        Some(s)
    }
}

/// One path's service session on this shard.
pub(in crate::transport::http) struct ServiceSession {
    router: Rc<dyn WebRouter>,
    link: LinkId,
    queue: MessageQueueRef,
    shared: Rc<Shared>,
    last_request: Cell<u64>,
}

impl ServiceSession {
    /// Opens the session; `None` when the router refused (unknown realm,
    /// session limit, draining).
    pub fn open(
        router: &Rc<dyn WebRouter>,
        transport: &Rc<TransportConfig>,
        realm: &str,
        role: &str,
    ) -> Option<Rc<ServiceSession>> {
        let queue = MessageQueue::new_ref(QUEUE_LIMIT);
        let info = LinkInfo::new(Rc::clone(transport), FrontEnd::HttpBridge, "http-bridge");
        let link = match router.open_service(
            info,
            Output::Typed(Rc::clone(&queue)),
            realm,
            "http-bridge",
            role,
        ) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(realm, role, why = e.0, "HTTP bridge session refused");
                return None;
            }
        };
        let shared = Rc::new(Shared {
            waiting: RefCell::new(AHashMap::new()),
            dead: Cell::new(false),
        });
        glommio::spawn_local(pump(
            Rc::clone(router),
            link,
            Rc::clone(&queue),
            Rc::clone(&shared),
        ))
        .detach();
        Some(Rc::new(ServiceSession {
            router: Rc::clone(router),
            link,
            queue,
            shared,
            last_request: Cell::new(0),
        }))
    }

    /// Whether the router ended it.
    pub fn is_dead(&self) -> bool {
        self.shared.dead.get()
    }

    /// A fresh request ID.
    pub fn next_request(&self) -> RequestId {
        let r = self.last_request.get() + 1;
        self.last_request.set(r);
        RequestId(r)
    }

    /// Sends `msg` (a PUBLISH or CALL with request ID `request`) and waits
    /// for its answer; `None` when the session ended first.
    pub async fn request(&self, request: RequestId, msg: Message) -> Option<Message> {
        if self.is_dead() {
            return None;
        }
        // A local publication is acknowledged while it is fed: its answer
        // is taken here, without waking the pump (nor a channel for it).
        // Nothing else runs between the feed and the registration below,
        // so the pump cannot see the answer first.
        let parked = self.queue.borrow_mut().park_consumer();
        self.router.feed(self.link, msg);
        let mine = deliver(
            &self.router,
            self.link,
            &self.queue,
            &self.shared,
            Some(request),
        );
        self.queue.borrow_mut().unpark(parked);
        if mine.is_some() {
            return mine;
        }
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.borrow_mut().insert(request, tx);
        rx.await.ok()
    }
}

impl Drop for ServiceSession {
    fn drop(&mut self) {
        // The pump sees the close, and closes the link from its own task
        // (the router may be borrowed where a site is dropped).
        self.queue.borrow_mut().close(CloseReason::Normal);
    }
}

/// The request ID an answer is for.
fn answer_to(m: &Message) -> Option<RequestId> {
    match m {
        Message::Published(p) => Some(p.request),
        Message::Result(r) => Some(r.request),
        Message::Error(e) => Some(e.request),
        _ => None,
    }
}

/// Hands what is on `queue` to the requests waiting for it; the answer to
/// `own` (a request not registered as waiting) is returned instead. The
/// router's GOODBYE (a drain, a kill) is answered as a client would, which
/// ends the session: without the answer a drain would wait for it until its
/// timeout.
fn deliver(
    router: &Rc<dyn WebRouter>,
    link: LinkId,
    queue: &MessageQueueRef,
    shared: &Shared,
    own: Option<RequestId>,
) -> Option<Message> {
    let mut mine = None;
    loop {
        let Some(m) = queue.borrow_mut().pop() else {
            return mine;
        };
        if matches!(m, Message::Goodbye(_)) && !shared.dead.replace(true) {
            router.feed(
                link,
                Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: uris::GOODBYE_AND_OUT.into(),
                }),
            );
            continue;
        }
        let Some(r) = answer_to(&m) else { continue };
        if own == Some(r) && mine.is_none() {
            mine = Some(m);
        } else if let Some(tx) = shared.waiting.borrow_mut().remove(&r) {
            let _ = tx.send(m);
        }
    }
}

/// Hands the answers on `queue` to their requests until the queue closes,
/// then ends the link.
async fn pump(router: Rc<dyn WebRouter>, link: LinkId, queue: MessageQueueRef, shared: Rc<Shared>) {
    loop {
        poll_fn(|cx| queue.borrow_mut().poll_ready(cx)).await;
        deliver(&router, link, &queue, &shared, None);
        if queue.borrow().close_reason().is_some() {
            break;
        }
    }
    shared.dead.set(true);
    // Waiting requests get no answer (their senders drop).
    shared.waiting.borrow_mut().clear();
    router.close(link);
}

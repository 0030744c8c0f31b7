//! The router as a client of itself: calls and publications the router makes
//! on its own behalf, with the answers coming back to whoever asked.
//!
//! Dynamic authenticators and authorizers (a WAMP procedure decides), the
//! HTTP bridge, MQTT payload mapping and other router components need this.
//! Per realm, each shard opens one **router session** on first use: an
//! in-process link ([`Output::Typed`]) with an established session whose
//! role is `trusted` and which the authorization guard lets through (its
//! URIs are still checked). Its CALLs go through the dealer like anyone's,
//! so they reach callees on any shard, time out when asked
//! (`CALL.Options.timeout`), and fail when the callee leaves; the answers
//! arrive on its typed queue and are handed to the requester.
//!
//! Router sessions are invisible to the session meta API (no `on_join`, not
//! counted, listed or killable) and to `wamp.session.get`.

use std::rc::Rc;
use std::sync::OnceLock;

use ahash::AHashMap;

use super::api::{FrontEnd, LinkId, LinkInfo, MessageQueue, MessageQueueRef, Output};
use super::cluster::RealmIdx;
use super::ctx::Ctx;
use super::session::{Features, IdMap, Session};
use crate::config::{Endpoint, RawSocketService, TransportAuth, TransportConfig, TransportKind};
use crate::proto::{Dict, Message, Payload, RequestId, Serializer};

/// The role of router sessions.
pub const ROUTER_ROLE: &str = "trusted";
/// The authid of router sessions.
pub const ROUTER_AUTHID: &str = "junction";

/// Identifies a call the router made on its own behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterCall(pub u64);

/// The answer to a [`RouterCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum RouterAnswer {
    /// RESULT: the callee's answer (`progress` for a progressive result).
    Result {
        /// RESULT details.
        details: Dict,
        /// Args and kwargs.
        payload: Payload,
    },
    /// ERROR: the error URI and payload (no callee, timeout, callee error ...).
    Error {
        /// The error URI.
        error: String,
        /// Args and kwargs.
        payload: Payload,
    },
}

/// The router-session part of one shard's core.
#[derive(Default)]
pub(crate) struct Internal {
    /// Per realm, this shard's router session, once opened.
    links: AHashMap<RealmIdx, (LinkId, MessageQueueRef)>,
    /// Last CALL request ID (shared by all realms: unique per shard).
    last_request: u64,
    /// Calls waiting for their answer.
    waiting: AHashMap<RequestId, RouterCall>,
    /// Answers not yet taken.
    answers: Vec<(RouterCall, RouterAnswer)>,
}

/// The transport config of router sessions (they come over none).
fn router_transport() -> Rc<TransportConfig> {
    static CONFIG: OnceLock<TransportConfig> = OnceLock::new();
    let c = CONFIG.get_or_init(|| TransportConfig {
        id: "router".into(),
        kind: TransportKind::RawSocket(RawSocketService::default()),
        endpoint: Endpoint::Unix {
            path: "internal".into(),
        },
        serializers: vec![Serializer::Json],
        auth: TransportAuth {
            anonymous_role: None,
            trustlevel: None,
        },
    });
    Rc::new(c.clone())
}

impl Internal {
    /// Router sessions open on this shard (one per realm used).
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// The router session of `realm` on this shard, opened if needed.
    pub fn link(&mut self, cx: &mut Ctx, realm: RealmIdx) -> Option<LinkId> {
        if let Some((l, _)) = self.links.get(&realm) {
            return Some(*l);
        }
        let queue = MessageQueue::new_ref(usize::MAX);
        let info = LinkInfo::new(router_transport(), FrontEnd::Internal, "internal");
        let link = cx
            .links
            .open(info, Output::Typed(Rc::clone(&queue)), usize::MAX)
            .ok()?;
        let id = cx.new_session_id();
        cx.links.establish(
            link,
            Session {
                id,
                realm,
                authid: ROUTER_AUTHID.into(),
                authrole: ROUTER_ROLE.into(),
                authmethod: "internal".into(),
                authprovider: "router".into(),
                authextra: None,
                subscriptions: IdMap::default(),
                registrations: IdMap::default(),
                features: Features::default(),
                trustlevel: None,
                parked: None,
                trusted: true,
            },
        );
        self.links.insert(realm, (link, queue));
        Some(link)
    }

    /// A CALL request ID for `call` (remembered until its answer).
    pub fn next_request(&mut self, call: RouterCall) -> RequestId {
        self.last_request += 1;
        let r = RequestId(self.last_request);
        self.waiting.insert(r, call);
        r
    }

    /// Moves what arrived on the router sessions' queues to the answers.
    pub fn collect(&mut self) {
        for (_, queue) in self.links.values() {
            let msgs = {
                let mut q = queue.borrow_mut();
                if q.is_empty() {
                    continue;
                }
                q.take()
            };
            for m in msgs {
                let (request, answer, last) = match m {
                    Message::Result(r) => {
                        let progress = r
                            .details
                            .get("progress")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false);
                        let a = RouterAnswer::Result {
                            details: r.details,
                            payload: r.payload,
                        };
                        (r.request, a, !progress)
                    }
                    Message::Error(e) => {
                        let a = RouterAnswer::Error {
                            error: e.error,
                            payload: e.payload,
                        };
                        (e.request, a, true)
                    }
                    _ => continue,
                };
                let call = if last {
                    self.waiting.remove(&request)
                } else {
                    self.waiting.get(&request).copied()
                };
                if let Some(call) = call {
                    self.answers.push((call, answer));
                }
            }
        }
    }

    /// Answers that arrived.
    pub fn take_answers(&mut self) -> Vec<(RouterCall, RouterAnswer)> {
        std::mem::take(&mut self.answers)
    }

    /// Calls still waiting for an answer.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }
}

//! One shard's listeners: binding the config's transports, one accept task
//! each, and changing them on a reload without a gap.
//!
//! A reload is two steps so that it can be refused before anything changed:
//! [`Listeners::prepare`] binds every listener the new config needs (new
//! transports, changed endpoints) and fails if one cannot be bound; then the
//! router applies the config and [`Listeners::commit`] starts the new
//! accept tasks and stops the ones of removed or rebound transports
//! (dropping a task closes its socket). A transport whose endpoint stayed
//! keeps its socket; if its other settings changed (serializers, auth,
//! WebSocket options) new connections get them and existing ones keep what
//! they were accepted with. A changed `endpoint.tls` counts as a changed
//! endpoint, so a reload with new certificates rebinds with them (TLS is
//! being built; its engineer may swap the acceptor in place here instead).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::control::ListenerChanges;
use super::{Hooks, ListenAddr, RunError, bound_transport, endpoint_text};
use crate::config::{Endpoint, TransportConfig, TransportKind};
use crate::core::ShardRouter;
use crate::proto::ShardId;
use crate::transport::{self, Listener, Listening};

/// What an accept task hands to new connections (the transport, prepared);
/// replaced in place when a reload changes settings other than the endpoint.
type ConfigCell = Rc<RefCell<Rc<Listening>>>;

/// What a shard is asked to serve.
#[derive(Clone, Copy)]
pub(super) struct Wanted<'a> {
    /// Every transport to listen on, in the config's order (the router's
    /// transports, then the `websocket-testee` workers').
    pub transports: &'a [TransportConfig],
    /// The IDs of the transports that are `websocket-testee` workers'.
    pub testees: &'a [String],
    /// The router-wide message limit (`limits.max_message_size`).
    pub max_message_size: usize,
}

impl Wanted<'_> {
    /// Prepares `t` (real port) for serving: a web transport's site is built
    /// here, once per listener.
    fn listening(&self, t: TransportConfig) -> Result<Listening, RunError> {
        if self.testees.contains(&t.id) {
            return Ok(Listening::testee(Rc::new(t)));
        }
        Ok(Listening::new(Rc::new(t), self.max_message_size)?)
    }
}

/// One transport this shard listens on.
struct Served {
    /// The transport ID.
    id: String,
    /// Its config as bound (real port), shared with the accept task.
    config: ConfigCell,
    /// The dialable URL.
    url: String,
    /// The accept task; dropping or cancelling it closes the socket.
    task: glommio::Task<()>,
}

/// A listener bound for a transport, not accepting yet.
pub(super) struct Bound {
    listener: Listener,
    /// The transport with its real port, prepared.
    config: Listening,
    url: String,
}

impl Bound {
    /// The transport with its real port, and its URL.
    pub fn resolved(&self) -> (TransportConfig, String) {
        (self.config.transport().as_ref().clone(), self.url.clone())
    }
}

/// What [`Listeners::prepare`] bound, to [`Listeners::commit`].
pub(super) struct Plan {
    /// New listeners, by transport ID (new transports and changed endpoints).
    bound: Vec<Bound>,
    /// Transports whose endpoint stayed, with their new config (real port kept).
    kept: Vec<Listening>,
    /// Transports served now and not in the new config.
    closed: Vec<String>,
}

impl Plan {
    /// Every transport this shard will serve after the commit, with its URL,
    /// in the config's order.
    pub fn resolved(
        &self,
        order: &[TransportConfig],
        current: &Listeners,
    ) -> Vec<(TransportConfig, String)> {
        order
            .iter()
            .filter_map(|t| {
                if let Some(b) = self.bound.iter().find(|b| b.config.transport().id == t.id) {
                    return Some(b.resolved());
                }
                let k = self.kept.iter().find(|k| k.transport().id == t.id)?;
                let url = current.served.iter().find(|s| s.id == t.id)?.url.clone();
                Some((k.transport().as_ref().clone(), url))
            })
            .collect()
    }
}

/// This shard's listeners.
#[derive(Default)]
pub(super) struct Listeners {
    served: Vec<Served>,
}

/// Whether shard `shard` serves `t` (Unix sockets: shard 0 only).
fn serves(shard: ShardId, t: &TransportConfig) -> bool {
    shard.0 == 0 || !matches!(t.endpoint, Endpoint::Unix { .. })
}

/// Binds `t` on this executor.
fn bind(t: &TransportConfig, wanted: Wanted<'_>) -> Result<Bound, RunError> {
    let listener = transport::listener::bind(&t.endpoint).map_err(|source| RunError::Bind {
        endpoint: endpoint_text(&t.endpoint),
        source,
    })?;
    let (config, url) = bound_transport(t, &listener.local_addr_string());
    let config = wanted.listening(config)?;
    Ok(Bound {
        listener,
        config,
        url,
    })
}

/// Whether a transport bound at `old` (real port) still listens where `new` says:
/// the same endpoint, or the same host with port 0 (any port: keep the one it has).
fn same_endpoint(old: &Endpoint, new: &Endpoint) -> bool {
    match (old, new) {
        (Endpoint::Tcp { host: h1, .. }, Endpoint::Tcp { host: h2, port: 0 }) => h1 == h2,
        _ => old == new,
    }
}

impl Listeners {
    /// Binds every transport of `wanted` this shard serves.
    ///
    /// # Errors
    /// [`RunError::Bind`] for the first that cannot be bound,
    /// [`RunError::Web`] for a web transport that cannot be served.
    pub fn bind_all(shard: ShardId, wanted: Wanted<'_>) -> Result<Vec<Bound>, RunError> {
        wanted
            .transports
            .iter()
            .filter(|t| serves(shard, t))
            .map(|t| bind(t, wanted))
            .collect()
    }

    /// Starts accepting on `bound`.
    pub fn start(&mut self, bound: Vec<Bound>, router: &Rc<RefCell<ShardRouter>>) {
        for b in bound {
            let id = b.config.transport().id.clone();
            let config: ConfigCell = Rc::new(RefCell::new(Rc::new(b.config)));
            let task = accept_loop(b.listener, Rc::clone(&config), Rc::clone(router));
            self.served.push(Served {
                id,
                config,
                url: b.url,
                task,
            });
        }
    }

    /// What this shard listens on.
    pub fn addrs(&self) -> Vec<ListenAddr> {
        self.served
            .iter()
            .map(|s| ListenAddr {
                transport: s.id.clone(),
                url: s.url.clone(),
            })
            .collect()
    }

    /// Stops accepting everywhere (closes the sockets).
    pub async fn close_all(&mut self) {
        for s in self.served.drain(..) {
            s.task.cancel().await;
        }
    }

    /// First step of a reload: binds what `transports` needs that this
    /// shard does not listen on yet. Nothing changes if it fails.
    ///
    /// # Errors
    /// [`RunError::Bind`] for the first listener that cannot be bound.
    pub fn prepare(&self, shard: ShardId, wanted: Wanted<'_>) -> Result<Plan, RunError> {
        let mut plan = Plan {
            bound: Vec::new(),
            kept: Vec::new(),
            closed: Vec::new(),
        };
        let served: Vec<&TransportConfig> = wanted
            .transports
            .iter()
            .filter(|t| serves(shard, t))
            .collect();
        for t in &served {
            match self.served.iter().find(|s| s.id == t.id) {
                Some(s) if same_endpoint(&s.config.borrow().transport().endpoint, &t.endpoint) => {
                    let mut kept = (*t).clone();
                    kept.endpoint = s.config.borrow().transport().endpoint.clone();
                    plan.kept.push(wanted.listening(kept)?);
                }
                _ => plan.bound.push(bind(t, wanted)?),
            }
        }
        plan.closed = self
            .served
            .iter()
            .filter(|s| !served.iter().any(|t| t.id == s.id))
            .map(|s| s.id.clone())
            .collect();
        Ok(plan)
    }

    /// Second step of a reload: new configs for the transports kept, new
    /// accept tasks, the old ones stopped. Keeps the config's order.
    pub async fn commit(
        &mut self,
        plan: Plan,
        order: &[TransportConfig],
        router: &Rc<RefCell<ShardRouter>>,
    ) -> ListenerChanges {
        let mut changes = ListenerChanges::default();
        for k in plan.kept {
            if let Some(s) = self.served.iter().find(|s| s.id == k.transport().id) {
                // Always the new one (the router-wide limits may have
                // changed); reported only where the transport did.
                if **s.config.borrow().transport() != **k.transport() {
                    changes.updated.push(k.transport().id.clone());
                }
                *s.config.borrow_mut() = Rc::new(k);
            }
        }
        let mut stopped = Vec::new();
        for b in plan.bound {
            let id = b.config.transport().id.clone();
            match self.served.iter().position(|s| s.id == id) {
                Some(i) => {
                    stopped.push(self.served.remove(i));
                    changes.rebound.push(id);
                }
                None => changes.opened.push(id),
            }
            self.start(vec![b], router);
        }
        for id in plan.closed {
            if let Some(i) = self.served.iter().position(|s| s.id == id) {
                stopped.push(self.served.remove(i));
                changes.closed.push(id);
            }
        }
        for s in stopped {
            s.task.cancel().await;
        }
        self.served.sort_by_key(|s| {
            order
                .iter()
                .position(|t| t.id == s.id)
                .unwrap_or(usize::MAX)
        });
        changes
    }
}

/// Accepts connections on `listener` until cancelled; each is served with
/// the transport's current config and the router's current limits.
fn accept_loop(
    listener: Listener,
    config: ConfigCell,
    router: Rc<RefCell<ShardRouter>>,
) -> glommio::Task<()> {
    glommio::spawn_local(async move {
        let port: Rc<dyn transport::mqtt::RouterPort> =
            Rc::new(super::MqttRouter(Rc::clone(&router)));
        // The MQTT service of the transport's current config (rebuilt when a
        // reload changes the config).
        let mut mqtt: Option<(Rc<Listening>, Option<transport::MqttPort>)> = None;
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let queue_limit = router.borrow().limits().outbound_queue_bytes;
                    let t = Rc::clone(&config.borrow());
                    if t.is_testee() {
                        // An echo: room for a whole message of the largest
                        // size the testee takes, twice, or the queue limit.
                        let max = match &t.transport().kind {
                            TransportKind::WebSocket(ws) => ws.options.max_message_size,
                            _ => 0,
                        };
                        let hooks = transport::testee::EchoHooks::new(
                            queue_limit.max(max.saturating_mul(2)),
                        );
                        glommio::spawn_local(transport::serve(stream, peer, &t, hooks, None))
                            .detach();
                        continue;
                    }
                    let hooks = Hooks {
                        router: Rc::clone(&router),
                        conn: None,
                        queue_limit,
                    };
                    if !mqtt.as_ref().is_some_and(|(c, _)| Rc::ptr_eq(c, &t)) {
                        let m = transport::mqtt::Service::of(t.transport(), queue_limit).map(|s| {
                            transport::MqttPort {
                                service: Rc::new(s),
                                router: Rc::clone(&port),
                            }
                        });
                        mqtt = Some((Rc::clone(&t), m));
                    }
                    let port = mqtt.as_ref().and_then(|(_, m)| m.clone());
                    glommio::spawn_local(transport::serve(stream, peer, &t, hooks, port)).detach();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

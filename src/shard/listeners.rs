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
//! they were accepted with.
//!
//! TLS: an endpoint is the same when its host and port are, whatever its
//! `tls`. Every reload reads every TLS listener's key and certificates
//! again ([`TlsSet::load`], on the node's thread, before any shard
//! changes) and swaps the listener's acceptor in place: the socket stays,
//! new handshakes use the new certificates, established connections keep
//! their sessions. (Turning TLS on or off on a port is the same swap.)

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::control::ListenerChanges;
use super::{Hooks, ListenAddr, RunError, bound_transport, endpoint_text};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Endpoint, TransportConfig};
use crate::core::ShardRouter;
use crate::proto::ShardId;
use crate::transport::tls::TlsAcceptor;
use crate::transport::{self, Listener};

/// The transport config an accept task hands to new connections; replaced
/// in place when a reload changes settings other than the endpoint.
type ConfigCell = Rc<RefCell<Rc<TransportConfig>>>;

/// The TLS acceptor an accept task hands new connections to (`None`:
/// plaintext); replaced in place by every reload.
type TlsCell = Rc<RefCell<Option<Arc<TlsAcceptor>>>>;

/// The acceptors of a config's TLS listeners, by transport ID: built once
/// (reading the files) on the node's thread and shared by every shard, so
/// that they share one session-ticket key (a client resumes on any shard).
#[derive(Debug, Default)]
pub struct TlsSet(HashMap<String, Arc<TlsAcceptor>>);

impl TlsSet {
    /// Builds the acceptor of every TLS transport of `transports`.
    ///
    /// # Errors
    /// [`RunError::Tls`] for the first whose files do not load.
    pub fn load(transports: &[TransportConfig]) -> Result<TlsSet, RunError> {
        let mut set = HashMap::new();
        for t in transports {
            if let Some(built) = transport::tls::for_transport(t) {
                let acceptor = built.map_err(|source| RunError::Tls {
                    transport: t.id.clone(),
                    source,
                })?;
                set.insert(t.id.clone(), Arc::new(acceptor));
            }
        }
        Ok(TlsSet(set))
    }

    /// The acceptor of transport `id`, if it has TLS.
    pub fn get(&self, id: &str) -> Option<Arc<TlsAcceptor>> {
        self.0.get(id).cloned()
    }
}

/// One transport this shard listens on.
struct Served {
    /// The transport ID.
    id: String,
    /// Its config as bound (real port), shared with the accept task.
    config: ConfigCell,
    /// Its TLS acceptor, shared with the accept task.
    tls: TlsCell,
    /// The dialable URL.
    url: String,
    /// The accept task; dropping or cancelling it closes the socket.
    task: glommio::Task<()>,
}

/// A listener bound for a transport, not accepting yet.
pub(super) struct Bound {
    listener: Listener,
    /// The transport with its real port.
    config: TransportConfig,
    url: String,
}

impl Bound {
    /// The transport with its real port, and its URL.
    pub fn resolved(&self) -> (TransportConfig, String) {
        (self.config.clone(), self.url.clone())
    }
}

/// What [`Listeners::prepare`] bound, to [`Listeners::commit`].
pub(super) struct Plan {
    /// New listeners, by transport ID (new transports and changed endpoints).
    bound: Vec<Bound>,
    /// Transports whose endpoint stayed, with their new config (real port kept).
    kept: Vec<TransportConfig>,
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
                if let Some(b) = self.bound.iter().find(|b| b.config.id == t.id) {
                    return Some(b.resolved());
                }
                let k = self.kept.iter().find(|k| k.id == t.id)?;
                let url = current.served.iter().find(|s| s.id == t.id)?.url.clone();
                Some((k.clone(), url))
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
pub(super) fn bind(t: &TransportConfig) -> Result<Bound, RunError> {
    let listener = transport::listener::bind(&t.endpoint).map_err(|source| RunError::Bind {
        endpoint: endpoint_text(&t.endpoint),
        source,
    })?;
    let (config, url) = bound_transport(t, &listener.local_addr_string());
    Ok(Bound {
        listener,
        config,
        url,
    })
}

/// Whether a transport bound at `old` (real port) still listens where `new` says:
/// the same endpoint, or the same host with port 0 (any port: keep the one
/// it has). TLS settings do not count (the acceptor is swapped in place).
fn same_endpoint(old: &Endpoint, new: &Endpoint) -> bool {
    match (old.tcp(), new.tcp()) {
        (Some((h1, p1)), Some((h2, p2))) => h1 == h2 && (p2 == 0 || p1 == p2),
        _ => old == new,
    }
}

impl Listeners {
    /// Binds every transport of `transports` this shard serves.
    ///
    /// # Errors
    /// [`RunError::Bind`] for the first that cannot be bound.
    pub fn bind_all(
        shard: ShardId,
        transports: &[TransportConfig],
    ) -> Result<Vec<Bound>, RunError> {
        transports
            .iter()
            .filter(|t| serves(shard, t))
            .map(bind)
            .collect()
    }

    /// Starts accepting on `bound`, TLS listeners with their acceptor of `tls`.
    pub fn start(&mut self, bound: Vec<Bound>, router: &Rc<RefCell<ShardRouter>>, tls: &TlsSet) {
        for b in bound {
            let id = b.config.id.clone();
            let acceptor: TlsCell = Rc::new(RefCell::new(tls.get(&id)));
            let config: ConfigCell = Rc::new(RefCell::new(Rc::new(b.config)));
            let task = accept_loop(
                b.listener,
                Rc::clone(&config),
                Rc::clone(&acceptor),
                Rc::clone(router),
            );
            self.served.push(Served {
                id,
                config,
                tls: acceptor,
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
    pub fn prepare(
        &self,
        shard: ShardId,
        transports: &[TransportConfig],
    ) -> Result<Plan, RunError> {
        let mut plan = Plan {
            bound: Vec::new(),
            kept: Vec::new(),
            closed: Vec::new(),
        };
        let wanted: Vec<&TransportConfig> =
            transports.iter().filter(|t| serves(shard, t)).collect();
        for t in &wanted {
            match self.served.iter().find(|s| s.id == t.id) {
                Some(s) if same_endpoint(&s.config.borrow().endpoint, &t.endpoint) => {
                    let mut kept = (*t).clone();
                    kept.endpoint = s.config.borrow().endpoint.clone();
                    plan.kept.push(kept);
                }
                _ => plan.bound.push(bind(t)?),
            }
        }
        plan.closed = self
            .served
            .iter()
            .filter(|s| !wanted.iter().any(|t| t.id == s.id))
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
        tls: &TlsSet,
    ) -> ListenerChanges {
        let mut changes = ListenerChanges::default();
        for k in plan.kept {
            if let Some(s) = self.served.iter().find(|s| s.id == k.id) {
                let acceptor = tls.get(&k.id);
                if acceptor.is_some() {
                    changes.tls_reloaded.push(k.id.clone());
                }
                *s.tls.borrow_mut() = acceptor;
                if **s.config.borrow() != k {
                    changes.updated.push(k.id.clone());
                    *s.config.borrow_mut() = Rc::new(k);
                }
            }
        }
        let mut stopped = Vec::new();
        for b in plan.bound {
            let id = b.config.id.clone();
            match self.served.iter().position(|s| s.id == id) {
                Some(i) => {
                    stopped.push(self.served.remove(i));
                    changes.rebound.push(id);
                }
                None => changes.opened.push(id),
            }
            self.start(vec![b], router, tls);
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
    tls: TlsCell,
    router: Rc<RefCell<ShardRouter>>,
) -> glommio::Task<()> {
    glommio::spawn_local(async move {
        let port: Rc<dyn transport::mqtt::RouterPort> =
            Rc::new(super::MqttRouter(Rc::clone(&router)));
        // The MQTT service of the transport's current config (rebuilt when a
        // reload changes the config).
        let mut mqtt: Option<(Rc<TransportConfig>, Option<transport::MqttPort>)> = None;
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let (queue_limit, max_message_size) = {
                        let r = router.borrow();
                        (r.limits().outbound_queue_bytes, r.limits().max_message_size)
                    };
                    let hooks = Hooks {
                        router: Rc::clone(&router),
                        conn: None,
                        queue_limit,
                    };
                    let t = Rc::clone(&config.borrow());
                    if !mqtt.as_ref().is_some_and(|(c, _)| Rc::ptr_eq(c, &t)) {
                        let m = transport::mqtt::Service::of(&t, queue_limit).map(|s| {
                            transport::MqttPort {
                                service: Rc::new(s),
                                router: Rc::clone(&port),
                            }
                        });
                        mqtt = Some((Rc::clone(&t), m));
                    }
                    let port = mqtt.as_ref().and_then(|(_, m)| m.clone());
                    let Some(acceptor) = tls.borrow().clone() else {
                        glommio::spawn_local(transport::serve(
                            stream,
                            peer,
                            t,
                            max_message_size,
                            hooks,
                            port,
                        ))
                        .detach();
                        continue;
                    };
                    // TLS: the handshake first (its state boxed and gone
                    // once done), then the front end on the decrypted stream.
                    glommio::spawn_local(async move {
                        let handshake =
                            Box::pin(transport::tls::accept(acceptor, stream, &peer, &t.id));
                        if let Some(stream) = handshake.await {
                            transport::serve(stream, peer, t, max_message_size, hooks, port).await;
                        }
                    })
                    .detach();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

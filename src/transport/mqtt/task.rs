//! This shard's MQTT front end as a whole: its start ([`start_shard`]: the
//! shard's context, the sessions read back from the logs) and the shard's
//! MQTT task (work deferred out of router calls, the `$SYS/` statistics).
//!
//! The top of the front end beside the connection driver: imports the
//! offline sessions and the statistics; nothing imports it but the shard.

use std::future::Future as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::mesh::owner_of;
use super::{RouterPort, Service, ctx, offline, session, sys};
use crate::store::mqtt::{MqttLog, RestoredSession};

/// Starts this shard's MQTT front end: its handle on the session logs, and
/// the sessions read back from the logs (this shard keeps those whose
/// client identifier it owns, each with the service of its listener, or the
/// first of its realm). Call once per shard, on the shard, before it serves.
pub fn start_shard(
    port: Rc<dyn RouterPort>,
    log: MqttLog,
    services: &[Rc<Service>],
    restored: &[RestoredSession],
    limits: &crate::config::Limits,
) {
    let (me, shards) = port.shard();
    ctx::init(me.0, log);
    ctx::set_port(Rc::clone(&port));
    session::set_offline_limit(limits.mqtt_offline_store_bytes);
    session::set_session_limit(limits.mqtt_offline_store_sessions);
    sys::start_clock();
    // `$SYS/`: shard 0 publishes for the whole process, at the shortest
    // interval of the listeners that want it.
    let every = services
        .iter()
        .map(|s| s.limits.sys_interval_s)
        .filter(|&s| s > 0)
        .min();
    let sys = match every {
        Some(s) if me.0 == 0 => Some((Duration::from_secs(u64::from(s)), services.to_vec())),
        _ => None,
    };
    glommio::spawn_local(run(Rc::clone(&port), sys)).detach();
    for r in restored {
        if owner_of(&r.client, shards) != me {
            continue;
        }
        let svc = services
            .iter()
            .find(|s| s.transport.id == r.meta.listener)
            .or_else(|| services.iter().find(|s| s.realm == r.realm));
        match svc {
            Some(svc) => offline::restore(&port, Rc::clone(svc), r.clone()),
            None => tracing::warn!(client = %r.client, realm = %r.realm,
                "stored MQTT session has no MQTT listener of its realm: not restored"),
        }
    }
}

/// The shard's MQTT task: runs deferred work, and publishes the `$SYS/`
/// statistics every `sys_interval` (shard 0).
async fn run(port: Rc<dyn RouterPort>, sys: Option<(Duration, Vec<Rc<Service>>)>) {
    let mut next_sys = sys.as_ref().map(|(every, _)| Instant::now() + *every);
    let mut timer = next_sys.map(|at| glommio::timer::Timer::new(at - Instant::now()));
    loop {
        let due = std::future::poll_fn(|cx| {
            if ctx::park_task(cx) {
                return std::task::Poll::Ready(false);
            }
            if let Some(t) = &mut timer
                && std::pin::Pin::new(t).poll(cx).is_ready()
            {
                return std::task::Poll::Ready(true);
            }
            std::task::Poll::Pending
        })
        .await;
        for _ in 0..64 {
            let work = ctx::take_later();
            if work.is_empty() {
                break;
            }
            for w in work {
                w(&*port);
            }
        }
        if due && let Some((every, services)) = &sys {
            sys::publish(&*port, services);
            let at = next_sys.map_or(Instant::now(), |n| n.max(Instant::now())) + *every;
            next_sys = Some(at);
            timer = Some(glommio::timer::Timer::new(at - Instant::now()));
        }
    }
}

//! The `mqtt` path service (a Junction extension, as mosquitto and EMQX
//! offer it, and what browsers need): MQTT over WebSocket. The upgrade
//! takes the `mqtt` subprotocol (or none); the connection then runs the MQTT
//! front end's driver unchanged over [`WsBytes`], the WebSocket connection
//! read and written as a byte stream.
//!
//! Imports the web server's connection and shared answers, and the MQTT front end; never the shard
//! runtime (the router comes from [`ConnectionHooks::mqtt_router`]).

use std::cell::OnceCell;
use std::rc::Rc;

use super::conn::{HttpConn, Stop};
use super::reply::{check_ws_request, refusal};
use crate::config::TransportConfig;
use crate::config::mqtt::MqttService;
use crate::proto::http::Request;
use crate::proto::websocket::switching_protocols;
use crate::transport::wsbytes::WsBytes;
use crate::transport::{ClosedOnDrop, ConnectionHooks, Stream, mqtt};

/// The WebSocket subprotocol of MQTT 3.1.1 and 5.0.
const SUBPROTOCOL: &str = "mqtt";

/// One `mqtt` path of a web transport.
#[derive(Debug)]
pub(crate) struct MqttPath {
    /// The web transport (ID and endpoint, for the service's links).
    transport: TransportConfig,
    /// The path's options (realm, role, payload mapping, auth, limits).
    config: MqttService,
    /// The MQTT service, made on this shard's first connection (it needs
    /// the router's queue bound).
    service: OnceCell<Rc<mqtt::Service>>,
}

impl MqttPath {
    /// The `mqtt` path `config` of web transport `transport`.
    pub fn new(transport: &TransportConfig, config: &MqttService) -> Self {
        MqttPath {
            transport: transport.clone(),
            config: config.clone(),
            service: OnceCell::new(),
        }
    }

    fn service(&self, queue_limit: usize) -> Rc<mqtt::Service> {
        Rc::clone(self.service.get_or_init(|| {
            Rc::new(mqtt::Service::new(
                &self.transport,
                &self.config,
                queue_limit,
            ))
        }))
    }
}

/// Answers an upgrade request on an `mqtt` path: 101 with the `mqtt`
/// subprotocol (or none when the client offered none), 400 when the client
/// offers only other subprotocols (`mqttv3.1`: MQTT 3.1 is not served), or
/// the refusals of every WebSocket path.
pub(super) async fn upgrade(
    c: &mut HttpConn,
    path: &Rc<MqttPath>,
    req: &Request,
) -> Result<(u16, u64, Option<Rc<MqttPath>>), Stop> {
    let request = match check_ws_request(c, req).await? {
        Ok(r) => r,
        Err((status, sent)) => return Ok((status, sent, None)),
    };
    let subprotocol = if request.protocols.is_empty() {
        ""
    } else if request
        .protocols
        .iter()
        .any(|p| p.eq_ignore_ascii_case(SUBPROTOCOL))
    {
        SUBPROTOCOL
    } else {
        let why = format!(
            "this path serves MQTT 3.1.1 and 5.0 over WebSocket (subprotocol \"mqtt\"); offered: {}\n",
            request.protocols.join(", ")
        );
        let (head, body) = refusal(400, why);
        let sent = c.respond(&head, body).await?;
        return Ok((400, sent, None));
    };
    c.body_piece().await?;
    c.write_parts(&[&switching_protocols(&request.key, subprotocol)])
        .await?;
    Ok((101, 0, Some(Rc::clone(path))))
}

/// Runs the MQTT connection of an upgraded WebSocket; `leftover`: the
/// client's first frames; WebSocket messages up to `max_message` octets.
pub(super) async fn run<H: ConnectionHooks>(
    path: &MqttPath,
    sock: Stream,
    leftover: Vec<u8>,
    hooks: H,
    peer: String,
    max_message: usize,
) {
    // The MQTT driver opens its own link; the hooks only learn the end.
    let hooks = ClosedOnDrop(hooks);
    let Some((router, queue_limit)) = hooks.0.mqtt_router() else {
        tracing::debug!(%peer, "MQTT over WebSocket is not served here");
        return;
    };
    let svc = path.service(queue_limit);
    let ws = Stream::Ws(Box::new(WsBytes::new(sock, leftover, max_message)));
    mqtt::serve_mqtt(ws, peer, svc, router, Vec::new()).await;
}

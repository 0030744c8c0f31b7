//! The CONNECT phase of an MQTT connection: the first packet within
//! `connect_timeout` (or the refusal, answered here), then the session:
//! the CONNECT checked, the state built, an earlier connection of the client
//! identifier taken over, the link opened and HELLO sent.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;

use super::conn::Session;
use super::connect::{assigned_client_id, decode_limits, hello, read_connect, refusal};
use super::inbound;
use super::keepalive::KeepAlive;
use super::state::State;
use super::{PortMesh, RouterPort, Service, takeover};
use crate::core::api::{FrontEnd, LinkInfo, Output};
use crate::proto::mqtt::{ConnAck, ConnAckProperties, Connect, MqttString, ReasonCode, Version};
use crate::transport::conn::write_all;
use crate::transport::socket::Socket;
use crate::transport::{Counted, Stream, with_timeout};

/// The CONNECT phase: the first packet within `connect_timeout`, then the
/// session (or the refusal, answered here).
pub(super) async fn open(
    mut sock: Stream,
    peer: String,
    svc: Rc<Service>,
    router: Rc<dyn RouterPort>,
    first: Vec<u8>,
    counted: Option<Counted>,
) -> Option<Session> {
    let svc = &svc;
    let limits = decode_limits(svc);
    let mut buf = BytesMut::from(&first[..]);
    let timeout = Duration::from_millis(svc.limits.connect_timeout_ms);
    let connect = with_timeout(timeout, read_connect(&mut sock, &mut buf, &limits)).await;
    let connect = match connect {
        None => {
            tracing::debug!(%peer, "no CONNECT within connect_timeout");
            return None;
        }
        Some(Err(_)) if crate::transport::tls::looks_like_tls(&buf) => {
            crate::transport::tls::refuse_tls_client(&mut sock, &peer, &svc.transport.id).await;
            return None;
        }
        Some(Err(refusal)) => {
            if let Some((bytes, _)) = refusal {
                let _ = write_all(&mut sock, &bytes).await;
            }
            let _ = sock.shutdown_write();
            return None;
        }
        Some(Ok(c)) => c,
    };
    match Session::start(sock, peer, svc, router, *connect, buf, counted) {
        Ok(session) => Some(session),
        Err((mut sock, bytes)) => {
            let _ = write_all(&mut sock, &bytes).await;
            let _ = sock.shutdown_write();
            None
        }
    }
}

impl Session {
    /// Checks the CONNECT, takes over an existing session of the client
    /// identifier, opens the link and sends HELLO.
    #[allow(clippy::result_large_err)]
    pub(super) fn start(
        mut sock: Stream,
        peer: String,
        svc: &Rc<Service>,
        router: Rc<dyn RouterPort>,
        c: Connect,
        leftover: BytesMut,
        counted: Option<Counted>,
    ) -> Result<Session, (Stream, Vec<u8>)> {
        let version = c.version;
        let mut assigned = None;
        let client_id = if c.client_id.is_empty() {
            if version == Version::V311 && !c.clean_start {
                // MQTT-3.1.3-8.
                return Err((sock, refusal(version, ReasonCode::ClientIdentifierNotValid)));
            }
            let id = assigned_client_id();
            assigned = Some(id.clone());
            id
        } else {
            c.client_id.as_str().to_owned()
        };
        if let Some(w) = &c.will
            && !inbound::will_topic_allowed(&w.topic)
        {
            return Err((sock, refusal(version, ReasonCode::NotAuthorized)));
        }
        if let Some(code) = super::connect::auth_refusal(svc, &c, &peer) {
            return Err((sock, refusal(version, code)));
        }
        let mut st = State::new(Rc::clone(svc), version, client_id.clone());
        // What the client announced (5.0).
        if version == Version::V5 {
            let p = &c.properties;
            if let Some(rm) = p.receive_maximum {
                st.send_max = rm;
            }
            if let Some(mps) = p.maximum_packet_size {
                st.rare.max_packet_out = mps;
            }
            st.rare.alias_out_max = p.topic_alias_maximum.unwrap_or(0);
        }
        // Keep-alive: capped by max_keep_alive; 0 (none) gets the cap in 5.0.
        let max_ka = svc.limits.max_keep_alive_s;
        let mut server_keep_alive = None;
        let ka = if version == Version::V5 && (c.keep_alive == 0 || c.keep_alive > max_ka) {
            if max_ka != u16::MAX || c.keep_alive > max_ka {
                server_keep_alive = Some(max_ka);
                max_ka
            } else {
                0
            }
        } else {
            c.keep_alive
        };
        let mut props = ConnAckProperties::default();
        if version == Version::V5 {
            props.receive_maximum = Some(svc.limits.max_inflight);
            props.maximum_packet_size = Some(svc.limits.max_packet_size as u32);
            props.topic_alias_maximum = Some(svc.topic_alias_max);
            props.retain_available = Some(true);
            props.wildcard_subscription_available = Some(true);
            props.subscription_identifiers_available = Some(true);
            props.shared_subscription_available = Some(true);
            props.server_keep_alive = server_keep_alive;
            // Enhanced authentication (`WAMP-CRA`, see `connect.rs`).
            props.authentication_method = c.properties.authentication_method.clone();
            if let Some(id) = &assigned {
                props.assigned_client_identifier = MqttString::try_from(id.as_str()).ok();
            }
        }
        st.rare.connack = Some(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: props,
        }));
        st.rare.credentials = c.username.is_some() && c.password.is_some();
        st.rare.password = c
            .password
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into());
        st.rare.will = c.will.clone().map(Box::new);
        // Session Expiry (5.0) or clean session 0 (3.1.1: kept up to the cap).
        let requested_expiry = match version {
            Version::V5 => c.properties.session_expiry_interval.unwrap_or(0),
            Version::V311 if !c.clean_start => u32::MAX,
            Version::V311 => 0,
        };
        st.expiry_asked = requested_expiry > 0;
        st.p.expiry_s = requested_expiry.min(svc.limits.max_session_expiry_s);
        let token = takeover::new_token(router.shard().0);
        st.token = token;
        let state = Rc::new(RefCell::new(st));
        // Takeover: an earlier connection of this client, on any shard,
        // ends; its session is resumed unless this is a clean start.
        takeover::claim(
            &PortMesh(&*router),
            &client_id,
            token,
            &state,
            !c.clean_start,
        );
        let mut info = LinkInfo::new(Rc::clone(&svc.transport), FrontEnd::Mqtt, peer);
        info.set_tls(sock.take_tls_info());
        let certificate = info.tls().is_some_and(|t| t.peer_certificate.is_some());
        let sink: crate::core::api::FrontSinkRef = Rc::<RefCell<State>>::clone(&state);
        let link = match router.open(info, Output::Sink(sink)) {
            Ok(l) => l,
            Err(_) => {
                takeover::release(&PortMesh(&*router), &client_id, token, &state);
                return Err((sock, refusal(version, ReasonCode::ServerBusy)));
            }
        };
        state.borrow_mut().link = Some(link);
        let hello = hello(svc, &c, &client_id, certificate);
        let keep_alive =
            (ka > 0).then(|| KeepAlive::new(Duration::from_millis(u64::from(ka) * 1500)));
        let session = Session {
            sock,
            state,
            router,
            // The CONNECT's read buffer goes unless whole packets wait in it.
            inbuf: (!leftover.is_empty()).then(|| Box::new(leftover)),
            front_sent: 0,
            keep_alive,
            stall: None,
            durable: None,
            counted,
        };
        session.router.feed(link, hello);
        Ok(session)
    }
}

//! What the router answers becomes MQTT: WELCOME/ABORT → CONNACK (once the
//! session is here), SUBSCRIBED/ERROR → SUBACK codes, PUBLISHED/ERROR →
//! PUBACK/PUBREC, RESULT/ERROR of a request's CALL kept for the task.
//!
//! `impl State` in the connection's own module tree; imports the session
//! and the outgoing queue, nothing above the connection.

use super::out::Item;
use super::state::{CallAnswer, Phase, State};
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::mqtt::{
    AckProperties, ConnAck, MqttString, Packet, PacketId, PubResponse, QoS, ReasonCode, SubAck,
    Version,
};
use crate::proto::{RequestId, SessionId, SubscriptionId};

impl State {
    /// The router answered CALL `request` (the sink): kept for the task
    /// when the call is one of this connection's requests.
    pub fn call_answered(
        &mut self,
        request: RequestId,
        outcome: Result<crate::proto::Payload, (String, crate::proto::Payload)>,
    ) {
        if let Some(r) = &mut self.rare.requests
            && r.calls.contains_key(&request)
        {
            r.answers.push(CallAnswer { request, outcome });
            self.wake();
        }
    }

    /// WELCOME: CONNACK goes out unless the session is still on its way.
    pub fn welcomed(&mut self, session: SessionId) -> Result<(), Overflow> {
        // Session IDs are in [1, 2^53] (never 0).
        self.session = std::num::NonZeroU64::new(session.0);
        self.rare.password = None;
        if self.phase != Phase::Joining {
            return Ok(());
        }
        self.maybe_up()
    }

    /// CONNACK once WELCOME came and the session is here; then the resumed
    /// session's subscriptions, its messages in flight again (DUP), and
    /// what waited.
    pub fn maybe_up(&mut self) -> Result<(), Overflow> {
        if self.phase != Phase::Joining || self.session.is_none() || self.rare.resume.awaiting {
            return Ok(());
        }
        if !self.p.persistent() {
            self.p.slot = None;
        } else if self.p.slot.is_none() {
            // A new persistent session: within `mqtt_offline_store_sessions`.
            match super::session::SessionSlot::take() {
                Some(slot) => self.p.slot = Some(slot),
                None => {
                    self.over_quota();
                    return Ok(());
                }
            }
        }
        self.phase = Phase::Up;
        self.start_incarnation();
        if let Some(mut c) = self.rare.connack.take() {
            c.session_present = self.rare.resume.present;
            if self.version == Version::V5 && self.expiry_asked {
                c.properties.session_expiry_interval = Some(self.p.expiry_s);
            }
            self.send(&Packet::ConnAck(c))?;
        }
        self.write_meta();
        self.keep_will();
        self.resubscribe();
        self.redeliver()?;
        self.refill()
    }

    /// The node holds `mqtt_offline_store_sessions` persistent sessions: a
    /// CONNECT asking for a new one gets CONNACK 0x97 Quota exceeded (3.1.1:
    /// 3, server unavailable) and nothing of it is kept (no will either).
    pub(super) fn over_quota(&mut self) {
        tracing::info!(client = %self.client_id,
            "MQTT CONNECT refused: the node keeps mqtt_offline_store_sessions persistent sessions");
        let mut c = ConnAck {
            session_present: false,
            code: ReasonCode::QuotaExceeded,
            properties: Default::default(),
        };
        if self.version == Version::V5 {
            c.properties.reason_string = MqttString::try_from("too many persistent sessions").ok();
        }
        self.rare.connack = None;
        self.rare.will = None;
        self.p.expiry_s = 0;
        let _ = self.send(&Packet::ConnAck(Box::new(c)));
        self.phase = Phase::Closing;
        self.rare.close = Some(CloseReason::Normal);
    }

    /// ABORT while joining: CONNACK with the refusal, then close.
    pub fn refused(&mut self, reason: &str) {
        let code = match reason {
            "wamp.error.no_such_realm" | "wamp.error.no_such_role" => ReasonCode::ServerUnavailable,
            "wamp.error.not_authorized"
            | "wamp.error.authentication_failed"
            | "wamp.error.no_auth_method"
            | "wamp.error.authorization_failed" => {
                if self.rare.credentials {
                    ReasonCode::BadUserNameOrPassword
                } else {
                    ReasonCode::NotAuthorized
                }
            }
            // The HELLO's only arguments are the CONNECT's: the user name,
            // else the client identifier, stands for the authid (over
            // `junction.auth.max_authid_len`, ...).
            "wamp.error.invalid_argument" if self.rare.credentials => {
                ReasonCode::BadUserNameOrPassword
            }
            "wamp.error.invalid_argument" => ReasonCode::ClientIdentifierNotValid,
            _ => ReasonCode::UnspecifiedError,
        };
        tracing::debug!(client = %self.client_id, %reason, "MQTT CONNECT refused");
        let c = ConnAck {
            session_present: false,
            code,
            properties: Default::default(),
        };
        self.rare.connack = None;
        let _ = self.send(&Packet::ConnAck(Box::new(c)));
        self.phase = Phase::Closing;
        self.rare.close = Some(CloseReason::Normal);
    }

    /// The SUBACK at the front is complete: send it, then what it held back.
    pub fn flush_subacks(&mut self) -> Result<(), Overflow> {
        while let Some(front) = self.rare.subacks.front() {
            if front.waiting > 0 {
                break;
            }
            let s = self.rare.subacks.pop_front().expect("front exists");
            let codes = s
                .codes
                .iter()
                .map(|c| c.unwrap_or(ReasonCode::UnspecifiedError))
                .map(|c| {
                    if self.version == Version::V311 && c.is_error() {
                        ReasonCode::UnspecifiedError
                    } else {
                        c
                    }
                })
                .collect();
            self.send(&Packet::SubAck(SubAck {
                packet_id: s.packet_id,
                codes,
                properties: AckProperties::default(),
            }))?;
            for item in s.held {
                if let Item::Publish(p) = item {
                    self.deliver(p)?;
                }
            }
        }
        Ok(())
    }

    /// The router answered a WAMP SUBSCRIBE.
    pub fn subscribe_answer(
        &mut self,
        request: RequestId,
        result: Result<SubscriptionId, ReasonCode>,
    ) -> Result<(), Overflow> {
        let Some(p) = self.rare.pending_subs.remove(&request) else {
            return Ok(());
        };
        let granted = match result {
            // The parent level of `a/#` refused alone: the filter stands on
            // its prefix subscription, whose answer decides the code.
            Err(ReasonCode::NotAuthorized) if p.parent => None,
            Ok(id) => {
                let filters = self.wamp_subs.entry(id).or_default();
                if !filters.contains(&p.filter) {
                    filters.push(p.filter.clone());
                }
                Some(match self.p.filters.get_mut(&p.filter) {
                    Some(f) => {
                        if !f.wamp.contains(&id) {
                            f.wamp.push(id);
                        }
                        granted_code(f.qos)
                    }
                    None => ReasonCode::UnspecifiedError,
                })
            }
            Err(code) => {
                // One failed WAMP subscription fails the filter.
                if self.p.filters.remove(&p.filter).is_some() {
                    tracing::debug!(client = %self.client_id, filter = %p.filter, "subscription refused");
                    self.write_meta();
                }
                Some(code)
            }
        };
        let Some(packet_id) = p.packet_id else {
            // A resumed session's subscription.
            self.rare.resume.restoring = self.rare.resume.restoring.saturating_sub(1);
            if self.rare.resume.restoring == 0 {
                self.restored();
            }
            return Ok(());
        };
        if let Some(s) = self
            .rare
            .subacks
            .iter_mut()
            .find(|s| s.packet_id == packet_id)
        {
            if let Some(granted) = granted {
                let slot = &mut s.codes[p.index];
                *slot = Some(match *slot {
                    Some(c) if c.is_error() => c,
                    _ => granted,
                });
            }
            s.waiting = s.waiting.saturating_sub(1);
        }
        self.flush_subacks()
    }

    /// The router answered a WAMP PUBLISH of a QoS 1/2 message: PUBACK or
    /// PUBREC, after a WAL marker when the realm keeps sessions durably and
    /// there are some (the copies queued for sessions on this shard, its
    /// retained event and this session's QoS 2 identifier are durable first).
    pub fn publish_answer(
        &mut self,
        request: RequestId,
        reason: ReasonCode,
    ) -> Result<(), Overflow> {
        let Some((pid, qos, retain)) = self.rare.pending_pubs.remove(&request) else {
            return Ok(());
        };
        let _ = retain;
        if super::ctx::durable_sessions() > 0 && super::ctx::durable(&self.svc.realm) {
            self.chores().marks.push((pid, qos, reason));
            self.wake();
            return Ok(());
        }
        self.answer_publish(pid, qos, reason)
    }

    /// PUBACK or PUBREC for an incoming message.
    pub fn answer_publish(
        &mut self,
        pid: PacketId,
        qos: QoS,
        reason: ReasonCode,
    ) -> Result<(), Overflow> {
        let mut r = PubResponse::new(pid);
        if self.version == Version::V5 {
            r.reason = reason;
        }
        match qos {
            QoS::AtLeastOnce => {
                self.inflight_in = self.inflight_in.saturating_sub(1);
                self.send(&Packet::PubAck(r))
            }
            _ => {
                if reason.is_error() {
                    // A refused QoS 2 message ends its flow at PUBREC (5.0).
                    self.qos2_in(pid.get(), false);
                    self.inflight_in = self.inflight_in.saturating_sub(1);
                }
                self.send(&Packet::PubRec(r))
            }
        }
    }
}

/// The SUBACK code for a granted QoS.
pub fn granted_code(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

/// The MQTT reason for a WAMP error URI.
pub fn reason_of(error: &str) -> ReasonCode {
    match error {
        "wamp.error.not_authorized" => ReasonCode::NotAuthorized,
        "wamp.error.invalid_uri" => ReasonCode::TopicNameInvalid,
        _ => ReasonCode::UnspecifiedError,
    }
}

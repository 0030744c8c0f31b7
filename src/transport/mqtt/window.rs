//! Deliveries to the client: QoS 0 straight into the outgoing queue, QoS
//! 1/2 into the in-flight window (packet identifiers, the client's Receive
//! Maximum) or behind it ([`super::session::Persist`]'s waiting queue);
//! their acknowledgements free the window; outgoing topic aliases and the
//! client's Maximum Packet Size; a resumed session's messages in flight go
//! out again with DUP, and a moved session's tail is delivered.
//!
//! `impl State` in the connection's own module tree; imports the session
//! and the outgoing queue, nothing above the connection.

use super::ctx::now_ms;
use super::out::{Item, PubOut};
use super::session::{Inflight, Owner, next_key, stored};
use super::state::{Phase, State};
use crate::core::outbox::Overflow;
use crate::proto::PublicationId;
use crate::proto::mqtt::{Packet, PacketId, PubResponse, QoS, ReasonCode, Version};
use crate::store::mqtt::Record;

impl State {
    /// Queues a delivery: QoS 0 at once; QoS 1/2 into the in-flight window
    /// with a fresh packet identifier, or behind it (bounded, see
    /// [`Persist::enqueue`](super::session::Persist::enqueue)) when it is full.
    pub fn deliver(&mut self, mut p: PubOut) -> Result<bool, Overflow> {
        if p.wire_len() > self.rare.max_packet_out as usize {
            // MQTT-3.1.2-24: never above the client's Maximum Packet Size.
            return Ok(false);
        }
        if p.tmpl.qos() == QoS::AtMostOnce {
            self.push_publish(p)?;
            return Ok(true);
        }
        if p.key == 0 && self.p.persistent() {
            p.key = next_key(super::ctx::shard_index());
        }
        if self.p.inflight.len() >= self.send_max as usize || !self.p.waiting.is_empty() {
            let owner = Owner {
                svc: &self.svc,
                client: &self.client_id,
            };
            return Ok(self.p.enqueue(owner, p));
        }
        self.send_inflight(p)
    }

    /// Sends a QoS 1/2 delivery with a fresh packet identifier.
    pub(super) fn send_inflight(&mut self, mut p: PubOut) -> Result<bool, Overflow> {
        let Some(pid) = self.p.next_pid() else {
            return Ok(false);
        };
        p.packet_id = Some(pid);
        self.write(Record::Msg(Box::new(stored(&p, Some(pid.get()), false))));
        self.p.inflight.insert(
            pid.get(),
            Inflight {
                out: p.clone(),
                released: false,
            },
        );
        self.push_publish(p)?;
        Ok(true)
    }

    pub(super) fn push_publish(&mut self, mut p: PubOut) -> Result<(), Overflow> {
        if self.rare.alias_out_max > 0 && self.version == Version::V5 {
            self.assign_alias(&mut p);
        }
        let len = p.wire_len();
        self.out.push(Item::Publish(p), self.svc.queue_limit)?;
        self.svc.stats.sent(1, len);
        // A connection holding its deliveries back (write coalescing) is
        // woken at its window's end, or once a write's worth is queued.
        if !self.out.hold.is_held() || self.out.items.len() >= super::writes::HOLD_FULL {
            self.wake();
        }
        Ok(())
    }

    /// Outgoing topic aliases: a topic gets the next free alias until the
    /// client's maximum; later deliveries of it send the alias alone. A
    /// delivery the alias would take over the client's Maximum Packet Size
    /// (the property's 3 bytes; the packet without it fits, `deliver`
    /// checked) goes without one (MQTT-3.1.2-24).
    pub(super) fn assign_alias(&mut self, p: &mut PubOut) {
        let topic = p.tmpl.topic().clone();
        let rare = &mut *self.rare;
        let max = usize::from(rare.alias_out_max);
        // Only a client that announced a Maximum Packet Size pays for the check.
        let max_len = rare.max_packet_out as usize;
        let tight = rare.max_packet_out != super::rare::PROTOCOL_MAX_PACKET;
        let aliases = rare.aliases_out.get_or_insert_with(Box::default);
        if let Some(&a) = aliases.get(&topic) {
            p.alias = Some(a);
            p.send_topic = false;
            if tight && p.wire_len() > max_len {
                p.alias = None;
                p.send_topic = true;
            }
        } else if aliases.len() < max {
            let a = aliases.len() as u16 + 1;
            p.alias = Some(a);
            p.send_topic = true;
            if tight && p.wire_len() > max_len {
                p.alias = None;
            } else {
                aliases.insert(topic, a);
            }
        }
    }

    /// A slot in the in-flight window is free: messages waiting behind it go
    /// (expired ones are dropped).
    pub fn refill(&mut self) -> Result<(), Overflow> {
        while self.p.inflight.len() < self.send_max as usize {
            let Some(p) = self.p.pop_waiting() else {
                break;
            };
            // A message that waited gets its remaining expiry; an expired
            // one goes.
            let left = if p.msg.expires() {
                p.msg.expiry_left(now_ms())
            } else {
                Ok(None)
            };
            let p = match left {
                Err(_) => {
                    self.write(Record::DelMsg(p.key));
                    continue;
                }
                Ok(Some(_)) => match p.msg.template(p.tmpl.qos(), self.version) {
                    Some(tmpl) => PubOut { tmpl, ..p },
                    None => continue,
                },
                Ok(None) => p,
            };
            self.send_inflight(p)?;
        }
        Ok(())
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client.
    pub fn acked(&mut self, pid: PacketId, qos: QoS) -> Result<(), Overflow> {
        match self.p.inflight.get(&pid.get()) {
            Some(f) if f.out.tmpl.qos() == qos && (qos == QoS::AtLeastOnce || f.released) => {
                if let Some(f) = self.p.inflight.remove(&pid.get()) {
                    self.write(Record::DelMsg(f.out.key));
                }
                self.refill()
            }
            _ => {
                tracing::debug!(client = %self.client_id, pid = pid.get(), "acknowledgement for no message in flight: ignored");
                Ok(())
            }
        }
    }

    /// PUBREC from the client: answer PUBREL (5.0: 0x92 for an unknown identifier).
    pub fn received(&mut self, r: &PubResponse) -> Result<(), Overflow> {
        let mut rel = PubResponse::new(r.packet_id);
        let pid = r.packet_id.get();
        match self.p.inflight.get_mut(&pid) {
            Some(f) if f.out.tmpl.qos() == QoS::ExactlyOnce => {
                if r.reason.is_error() {
                    // The receiver refused it: the flow ends here (MQTT-4.3.3).
                    if let Some(f) = self.p.inflight.remove(&pid) {
                        self.write(Record::DelMsg(f.out.key));
                    }
                    return self.refill();
                }
                if !f.released {
                    f.released = true;
                    let rec = stored(&f.out, Some(pid), true);
                    self.write(Record::Msg(Box::new(rec)));
                }
            }
            _ => rel.reason = ReasonCode::PacketIdentifierNotFound,
        }
        if self.version == Version::V311 {
            rel.reason = ReasonCode::Success;
        }
        self.send(&Packet::PubRel(rel))
    }

    /// An incoming QoS 2 identifier was accepted (`true`) or released.
    pub fn qos2_in(&mut self, pid: u16, on: bool) {
        let changed = if on {
            self.p.qos2_in.insert(pid)
        } else {
            self.p.qos2_in.remove(&pid)
        };
        if changed {
            self.write(Record::Qos2(pid, on));
        }
    }

    /// The tail of a session that moved here: what its old shard queued
    /// after the move, less what this connection got itself.
    pub fn take_tail(&mut self, msgs: Vec<crate::store::mqtt::StoredMsg>) -> Result<(), Overflow> {
        let seen = std::mem::take(&mut self.rare.resume.seen);
        self.rare.resume.from = None;
        for m in msgs {
            if seen.contains(&PublicationId(m.publication)) {
                continue;
            }
            if let Some(p) = super::session::delivery(&m, self.version) {
                let p = super::out::PubOut { key: 0, ..p };
                if self.phase == Phase::Up {
                    self.deliver(p)?;
                } else {
                    let owner = Owner {
                        svc: &self.svc,
                        client: &self.client_id,
                    };
                    self.p.enqueue(owner, p);
                }
            }
        }
        Ok(())
    }

    /// Messages in flight when the session was resumed go out again: DUP
    /// PUBLISH, or PUBREL for a QoS 2 message whose PUBREC came.
    pub(super) fn redeliver(&mut self) -> Result<(), Overflow> {
        let mut flights: Vec<(u16, PubOut, bool)> = self
            .p
            .inflight
            .iter()
            .map(|(pid, f)| (*pid, f.out.clone(), f.released))
            .collect();
        flights.sort_by_key(|(_, p, _)| p.key);
        for (pid, mut p, released) in flights {
            if released {
                let Some(id) = PacketId::new(pid) else {
                    continue;
                };
                self.send(&Packet::PubRel(PubResponse::new(id)))?;
                continue;
            }
            // A message stored for another version gets this one's template.
            if let Some(t) = p.msg.template(p.tmpl.qos(), self.version)
                && self.version != p.tmpl.version()
            {
                p.tmpl = t;
            }
            p.dup = true;
            p.packet_id = PacketId::new(pid);
            if p.wire_len() <= self.rare.max_packet_out as usize {
                self.push_publish(p)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use bytes::Bytes;

    use super::*;
    use crate::proto::mqtt::{MqttString, PublishProperties};
    use crate::transport::mqtt::Service;
    use crate::transport::mqtt::out::Msg;

    fn delivery(topic: &str, payload: usize, qos: QoS) -> PubOut {
        let msg = Rc::new(Msg {
            publication: PublicationId(1),
            topic: MqttString::try_from(topic).expect("topic"),
            payload: Bytes::from(vec![b'x'; payload]),
            props: PublishProperties::default(),
            at_ms: 0,
        });
        PubOut::first(msg.template(qos, Version::V5).expect("template"), msg)
    }

    /// A 5.0 connection whose client announced a 64-byte Maximum Packet
    /// Size and a Topic Alias Maximum of `aliases`.
    fn state(aliases: u16) -> State {
        let mut s = State::new(Rc::new(Service::default_for_tests()), Version::V5, "c");
        s.rare.max_packet_out = 64;
        s.rare.alias_out_max = aliases;
        s
    }

    /// (length on the wire, topic alias) of each PUBLISH queued.
    fn sent(s: &State) -> Vec<(usize, Option<u16>)> {
        s.out
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Publish(p) => Some((p.wire_len(), p.alias)),
                _ => None,
            })
            .collect()
    }

    /// paho.mqtt.testing client_test5 test_maximum_packet_size: a QoS 1
    /// PUBLISH whose payload fits but whose packet (with its packet
    /// identifier) does not was sent.
    #[test]
    fn nothing_above_the_clients_maximum_packet_size_is_sent() {
        let mut s = state(0);
        // `a/b`: fixed header 2, topic 5, property length 1; QoS 1/2: + 2.
        assert_eq!(s.deliver(delivery("a/b", 55, QoS::AtLeastOnce)), Ok(false));
        assert_eq!(s.deliver(delivery("a/b", 55, QoS::ExactlyOnce)), Ok(false));
        assert_eq!(s.deliver(delivery("a/b", 57, QoS::AtMostOnce)), Ok(false));
        assert!(s.p.inflight.is_empty(), "no packet identifier taken");
        assert_eq!(s.deliver(delivery("a/b", 54, QoS::AtLeastOnce)), Ok(true));
        assert_eq!(s.deliver(delivery("a/b", 56, QoS::AtMostOnce)), Ok(true));
        assert_eq!(sent(&s), [(64, None), (64, None)]);
    }

    /// A Topic Alias adds 3 bytes on its first use, and more than a short
    /// topic saves later: a delivery it would take over the maximum goes
    /// without it, and the alias stays free for the next one.
    #[test]
    fn a_topic_alias_never_takes_a_packet_over_the_maximum() {
        let mut s = state(5);
        assert_eq!(s.deliver(delivery("a/b", 56, QoS::AtMostOnce)), Ok(true));
        assert_eq!(s.deliver(delivery("a/b", 4, QoS::AtMostOnce)), Ok(true));
        assert_eq!(s.deliver(delivery("a/b", 4, QoS::AtMostOnce)), Ok(true));
        assert_eq!(s.deliver(delivery("a", 1, QoS::AtMostOnce)), Ok(true));
        assert_eq!(s.deliver(delivery("a", 58, QoS::AtMostOnce)), Ok(true));
        assert_eq!(
            sent(&s),
            [
                (64, None),
                (15, Some(1)),
                (12, Some(1)),
                (10, Some(2)),
                (64, None)
            ]
        );
    }
}

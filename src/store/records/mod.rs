//! The records a realm's log holds, and its value type. One log per realm
//! holds both its events ([`event`]) and the sessions of its MQTT clients
//! ([`mqtt`]), so that one writer thread orders everything the realm keeps;
//! [`StoreValue`] is either. Each kind keys, encodes and reads back its own
//! records; the writers that hand values over (the event store's journals,
//! the MQTT front end's handle) stand above this folder.
//!
//! Imports the WAL's [`Encode`], `proto` and the core's publication types;
//! nothing else of the store.

pub mod event;
pub mod mqtt;

use crate::store::wal::Encode;
use event::EventValue;
use mqtt::MqttValue;

/// What a realm's log holds: events, and the sessions of its MQTT clients.
pub enum StoreValue {
    /// A retained or history event.
    Event(EventValue),
    /// An MQTT session record.
    Mqtt(MqttValue),
}

impl Encode for StoreValue {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            StoreValue::Event(e) => e.encode(out),
            StoreValue::Mqtt(m) => m.encode(out),
        }
    }
}

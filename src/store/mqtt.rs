//! MQTT sessions in a realm's log. The sessions of the MQTT clients of a
//! realm live in that realm's write-ahead log (`<path>/<realm>.events/`,
//! next to its retained events and history), so one writer thread orders
//! everything the realm keeps: a marker queued after a publication's
//! records ([`MqttLog::mark`]) is acknowledged only once the retained event
//! and the session records it produced are durable.
//!
//! What a session is made of in the log (keys, values, their encodings,
//! reading them back) is in [`crate::store::records::mqtt`]. Here: the
//! handle through which a shard's MQTT front end writes them ([`MqttLog`]),
//! as values of the realm's log ([`StoreValue::Mqtt`]).
//!
//! Imports the WAL and the log's records; never the front end.

pub use crate::store::records::mqtt::{
    Record, RestoredSession, SessionMeta, StoredFilter, StoredMsg, StoredWill,
};

use crate::store::records::StoreValue;
use crate::store::records::mqtt::op_of;
use crate::store::wal::{Ack, WalError, WalSender};

/// One shard's handle on the MQTT session records of the realms with a
/// file store. Cheap to clone; writing never blocks (see
/// [`WalSender::append`]).
#[derive(Clone, Default)]
pub struct MqttLog {
    /// Realm name → its log.
    realms: Vec<(String, WalSender<StoreValue>)>,
}

impl std::fmt::Debug for MqttLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.realms.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("MqttLog").field("realms", &names).finish()
    }
}

impl MqttLog {
    /// A handle over the logs of `realms` (name, sender).
    pub fn new(realms: Vec<(String, WalSender<StoreValue>)>) -> MqttLog {
        MqttLog { realms }
    }

    fn log(&self, realm: &str) -> Option<&WalSender<StoreValue>> {
        self.realms.iter().find(|(n, _)| n == realm).map(|(_, s)| s)
    }

    /// Whether `realm` keeps its sessions durably.
    pub fn durable(&self, realm: &str) -> bool {
        self.log(realm).is_some()
    }

    /// Queues a change to session (client, inc) of `realm`; `Ok` without
    /// doing anything for a realm without a file store.
    ///
    /// # Errors
    /// The log's queue is full or it is closed: the change is not kept.
    pub fn write(&self, realm: &str, client: &str, inc: u64, rec: Record) -> Result<(), WalError> {
        match self.log(realm) {
            Some(tx) => tx.append(op_of(client, inc, rec).map(StoreValue::Mqtt)),
            None => Ok(()),
        }
    }

    /// Queues a marker in `realm`'s log ([`WalSender::mark_written`]: written
    /// for `interval` and `never`, synced for `always`).
    ///
    /// # Errors
    /// As [`MqttLog::write`]; [`WalError::Closed`] for a realm without a log.
    pub fn mark(&self, realm: &str, ack: Ack) -> Result<(), WalError> {
        match self.log(realm) {
            Some(tx) => tx.mark_written(ack),
            None => Err(WalError::Closed),
        }
    }
}

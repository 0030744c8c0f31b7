//! Newtypes for WAMP identifiers, so that a subscription ID can never be passed
//! where a request ID is expected.
//!
//! All WAMP IDs are integers in `[1, 2^53]` (the spec keeps them exact in an IEEE
//! double, for JavaScript peers). [`MAX_ID`] is that bound.

use std::fmt;

/// The largest valid WAMP ID, 2^53.
pub const MAX_ID: u64 = 1 << 53;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw integer.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A session's ID, global scope: random, unique across all shards.
    SessionId
);
id_type!(
    /// A request ID, session scope: chosen by whoever sends the request.
    RequestId
);
id_type!(
    /// A subscription ID, router scope: shared by every subscriber of the same
    /// topic with the same match policy, unique per realm across shards.
    SubscriptionId
);
id_type!(
    /// A registration ID, router scope, unique per realm across shards.
    RegistrationId
);
id_type!(
    /// A publication ID, global scope: random.
    PublicationId
);

/// Index of a shard (one per core) in `0..shards`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

impl ShardId {
    /// The index as `usize`, for indexing per-shard tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether `v` is a valid WAMP ID (`1..=2^53`).
pub const fn is_valid_id(v: u64) -> bool {
    v >= 1 && v <= MAX_ID
}

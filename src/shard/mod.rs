//! The thread-per-core runtime: one glommio executor per core, each owning the
//! sessions it accepted, joined by a cross-shard channel mesh. (Being written.)

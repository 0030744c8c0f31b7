//! Advanced-profile dealer tests (issue 4), on the multi-shard harness of
//! `tests.rs` (this module is its child, so it uses the harness directly).

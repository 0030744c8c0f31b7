//! Empty: the comparison is `benches/parse.rs`.

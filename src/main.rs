//! The `junction` binary. (Being written.)
fn main() {}

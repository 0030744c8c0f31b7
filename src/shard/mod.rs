//! The thread-per-core runtime: one glommio executor per core, each owning the
//! sessions it accepted, joined by a cross-shard channel mesh. (Being written.)

use crate::config::Config;

/// Why the runtime stopped with an error. (Temporary stub: the runtime
/// branch replaces this module.)
#[derive(thiserror::Error, Debug)]
pub enum RunError {
    /// An I/O error while setting up listeners or executors.
    #[error("runtime I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the router until shutdown. (Temporary stub until the runtime is
/// merged: prints a notice and returns.)
///
/// # Errors
/// [`RunError`] when the runtime cannot start.
pub fn run(config: Config, shards: Option<usize>) -> Result<(), RunError> {
    let _ = (config, shards);
    println!("runtime not merged yet");
    Ok(())
}

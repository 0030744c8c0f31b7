//! The `controller` block: Crossbar's node controller. Junction has none;
//! of its settings only `options.shutdown` (when the node shuts itself
//! down) means something here, and every other key is warned.

use serde_json::Value;

use super::Loader;
use super::read::Key;
use crate::config::WorkerExitShutdown;
use crate::config::path::child;

/// The warning for the controller's other keys.
const NO_CONTROLLER: &str = "ignored: Junction has no node controller (of its settings only \
     `options.shutdown` is read)";

impl Loader<'_> {
    /// Reads `controller` at `path`: the node's shutdown triggers
    /// (`options.shutdown`), Crossbar's default when it says nothing.
    pub(super) fn controller(&mut self, path: &str, v: &Value) -> WorkerExitShutdown {
        let Some(obj) = self.object(path, v) else {
            return WorkerExitShutdown::default();
        };
        if obj.keys().any(|k| k != "options") {
            self.warn(path, NO_CONTROLLER);
        }
        let Some(options) = obj.get("options") else {
            return WorkerExitShutdown::default();
        };
        let op = child(path, "options");
        let Some(options) = self.object(&op, options) else {
            return WorkerExitShutdown::default();
        };
        self.keys_lenient(&op, options, &[("shutdown", Key::Read)]);
        let Some(shutdown) = options.get("shutdown") else {
            return WorkerExitShutdown::default();
        };
        let sp = child(&op, "shutdown");
        let Some(triggers) = self.strings(&sp, shutdown) else {
            return WorkerExitShutdown::default();
        };
        let mut on = WorkerExitShutdown::Never;
        for t in &triggers {
            match t.as_str() {
                "shutdown_on_worker_exit" => on = WorkerExitShutdown::Any,
                "shutdown_on_worker_exit_with_error" if on == WorkerExitShutdown::Never => {
                    on = WorkerExitShutdown::Failed;
                }
                "shutdown_on_worker_exit_with_error"
                | "shutdown_on_shutdown_requested"
                | "shutdown_on_last_worker_exit" => {}
                other => self.error(
                    &sp,
                    format!(
                        "unknown shutdown trigger \"{other}\" (shutdown_on_shutdown_requested, \
                         shutdown_on_worker_exit, shutdown_on_worker_exit_with_error, \
                         shutdown_on_last_worker_exit)"
                    ),
                ),
            }
        }
        on
    }
}

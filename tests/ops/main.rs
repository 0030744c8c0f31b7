//! Operations against a real `junction start` process: the graceful drain
//! (GOODBYE, waiting for clients, the timeout, a second signal),
//! sd_notify over a test datagram socket (READY, WATCHDOG, RELOADING,
//! STOPPING), `junction status` and `junction reload` over the control
//! socket (one node per socket path, up before the listeners), and JSON
//! logs. The interop suite (`tests/interop/test_ops.py`) runs the same
//! features with Autobahn|Python clients.

mod node;

mod control;
mod drain;
mod logs;
mod notify;
mod status;

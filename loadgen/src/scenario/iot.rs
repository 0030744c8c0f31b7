//! `iot`: N devices, each a session publishing at `--rate` msg/s to its own
//! topic `devices.<n>.telemetry` (MQTT: `devices/<n>/telemetry`), M
//! dashboards subscribed to all of them by prefix (`devices.`; MQTT
//! `devices/#`) or wildcard (`devices..telemetry`; MQTT
//! `devices/+/telemetry`), and commands from one controller to each device
//! in turn at `--commands` per second: a WAMP call of
//! `devices.<n>.command`, which the device's own session registered and
//! answers; over MQTT a publish to `commands/<n>` that the device answers
//! on `replies/<n>`, to which the controller subscribes (`replies/+`;
//! outside `devices/` so that dashboards subscribed by prefix hear only
//! telemetry).
//!
//! The telemetry part is the `pubsub` machinery (loss, order and latency
//! per device stream, flow control, the router's CPU); this module adds the
//! names, the devices' command handling and the controller, whose round
//! trips are reported separately (`extra.commands`).

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use bytes::BytesMut;
use hdrhistogram::Histogram;
use junction::proto::{Call, Dict, Message, Payload, Register, RequestId, Serializer, Yield};

use super::{Amount, Pace, pace, sleep_until};
use crate::clock::now_ns;
use crate::mqtt::{self, MqttConn, Packet};
use crate::payload::{self, Stamp};
use crate::runner::{Control, MEASURE, STOP};
use crate::stats::{self, Latency, Report};
use crate::url::Target;
use crate::wamp::{self, WampConn};

/// What `iot` adds to a pubsub run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Iot {
    /// Dashboards subscribe by prefix (else by wildcard).
    pub prefix: bool,
    /// Commands per second from the controller (round robin over devices).
    pub commands: Option<f64>,
}

/// Device `k`'s telemetry topic.
pub fn topic(ns: &str, k: usize) -> String {
    format!("{ns}devices.{k}.telemetry")
}

/// Device `k`'s command procedure (WAMP).
pub fn command(ns: &str, k: usize) -> String {
    format!("{ns}devices.{k}.command")
}

/// Device `k`'s command topic (MQTT, as a WAMP URI): outside `devices.`,
/// so that dashboards subscribed by prefix do not hear commands.
pub fn command_topic(ns: &str, k: usize) -> String {
    format!("{ns}commands.{k}")
}

/// Device `k`'s reply topic (MQTT, as a WAMP URI).
pub fn reply(ns: &str, k: usize) -> String {
    format!("{ns}replies.{k}")
}

impl Iot {
    /// The dashboards' subscription and its match policy.
    pub fn subscription(&self, ns: &str) -> (String, Option<&'static str>) {
        if self.prefix {
            (format!("{ns}devices."), Some("prefix"))
        } else {
            (format!("{ns}devices..telemetry"), Some("wildcard"))
        }
    }
}

/// A device's answer to a command, queued by its reader for its writer.
pub enum Answer {
    /// YIELD to an INVOCATION.
    Wamp(Message),
    /// A reply publish carrying the command's stamp.
    Mqtt(Stamp),
}

/// The answer to INVOCATION `inv`: its arguments back.
pub fn answer_invocation(inv: junction::proto::Invocation) -> Answer {
    Answer::Wamp(Message::Yield(Yield {
        request: inv.request,
        options: Dict::new(),
        payload: inv.payload,
    }))
}

/// Registers device `j`'s command procedure on `c` and waits for REGISTERED.
///
/// # Errors
/// The router refused or the connection failed.
pub async fn register_command(c: &mut WampConn, ns: &str, j: usize) -> anyhow::Result<()> {
    let req = c.writer.request_id();
    c.writer
        .send(&Message::Register(Register {
            request: RequestId(req),
            options: Dict::new(),
            procedure: command(ns, j),
        }))
        .await?;
    loop {
        match c.next().await? {
            Some(Message::Registered(r)) if r.request.get() == req => return Ok(()),
            Some(Message::Error(e)) => bail!("REGISTER refused: {}", wamp::error_text(&e)),
            Some(_) => {}
            None => bail!("connection closed before REGISTERED"),
        }
    }
}

/// Encodes an MQTT reply of device `j` into `out`.
pub fn encode_mqtt_reply(ns: &str, j: usize, st: Stamp, payload: usize, out: &mut BytesMut) {
    mqtt::encode_publish(
        &mqtt::topic_from_wamp(&reply(ns, j)),
        0,
        0,
        st,
        payload,
        out,
    );
}

/// The run as the controller sees it (the pubsub run's parameters give
/// it): where it connects, how long it sends, to how many devices.
#[derive(Debug, Clone)]
pub struct ControllerParams {
    /// Router or broker.
    pub target: Target,
    /// WAMP serializer.
    pub ser: Serializer,
    /// WAMP realm.
    pub realm: String,
    /// Application payload bytes per command.
    pub payload: usize,
    /// The measured phase's length: messages per device, or seconds.
    pub amount: Amount,
    /// Devices (the run's publishers).
    pub devices: usize,
    /// Prefix of every topic and procedure (see [`topic`]).
    pub namespace: String,
    /// Commands per second.
    pub rate: f64,
}

/// The controller's figures.
#[derive(Debug, Default)]
struct Commands {
    sent: u64,
    answered: u64,
    errors: u64,
    hist: Option<Histogram<u64>>,
}

/// The controller's figures of this run (one controller per process).
static COMMANDS: Mutex<Option<Commands>> = Mutex::new(None);

/// The controller: connects (counted as ready), then in the measured phase
/// sends `p.rate` commands per second, device 0, 1, ... in turn, and
/// records each round trip.
///
/// # Errors
/// The connection failed or the router refused a command.
pub async fn controller(p: &ControllerParams, ctl: &Control) -> anyhow::Result<()> {
    *COMMANDS.lock().expect("commands lock") = Some(Commands {
        hist: Some(stats::new_histogram()),
        ..Commands::default()
    });
    let devices = p.devices;
    let ns = p.namespace.clone();
    let interval = Some(1e9 / p.rate);
    let result = if p.target.is_mqtt() {
        let id = format!("loadgen-{}-ctl{}", std::process::id(), ns);
        let mut c = MqttConn::connect(&p.target, &id, None).await?;
        let filter = mqtt::topic_from_wamp(&format!("{ns}replies."));
        c.subscribe(&filter, 0).await?;
        ctl.ready.fetch_add(1, Ordering::Relaxed);
        let mut reader = c.reader;
        let mut w = c.writer;
        let reading = glommio::spawn_local(async move {
            loop {
                match reader.recv().await {
                    Ok(Some(Packet::Publish { payload: body, .. })) => {
                        record(payload::from_mqtt(&body));
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        })
        .detach();
        let topics: Vec<String> = (0..devices)
            .map(|k| mqtt::topic_from_wamp(&command_topic(&ns, k)))
            .collect();
        let mut sched = Schedule::start(p, ctl, interval).await;
        let r: anyhow::Result<()> = async {
            while let Some(step) = sched.next(p, ctl) {
                match step {
                    Step::Sleep(t) => {
                        w.flush().await?;
                        sleep_until(t).await;
                    }
                    Step::Send(m, st) => {
                        mqtt::encode_publish(
                            &topics[m as usize % devices],
                            0,
                            0,
                            st,
                            p.payload,
                            w.buf(),
                        );
                        with(|c| c.sent += 1);
                        w.maybe_flush().await?;
                    }
                }
            }
            w.flush().await
        }
        .await;
        drop(reading);
        r
    } else {
        let c = WampConn::connect(&p.target, p.ser, &p.realm, None).await?;
        ctl.ready.fetch_add(1, Ordering::Relaxed);
        let mut reader = c.reader;
        let mut w = c.writer;
        glommio::spawn_local(async move {
            loop {
                match reader.recv().await {
                    Ok(Some(Message::Result(r))) => {
                        record(payload::from_wamp_args(r.payload.args.as_ref()));
                    }
                    Ok(Some(Message::Error(_))) => with(|c| c.errors += 1),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        })
        .detach();
        let pad = payload::wamp_padding(p.ser, p.payload);
        let procs: Vec<String> = (0..devices).map(|k| command(&ns, k)).collect();
        let mut sched = Schedule::start(p, ctl, interval).await;
        async {
            while let Some(step) = sched.next(p, ctl) {
                match step {
                    Step::Sleep(t) => {
                        w.flush().await?;
                        sleep_until(t).await;
                    }
                    Step::Send(m, st) => {
                        w.feed(&Message::Call(Call {
                            request: RequestId(m + 1),
                            options: Dict::new(),
                            procedure: procs[m as usize % devices].clone(),
                            payload: Payload::args(payload::wamp_args(st, &pad)),
                        }))
                        .await?;
                        with(|c| c.sent += 1);
                    }
                }
            }
            w.flush().await
        }
        .await
    };
    // Answers still on their way: wait until every command is answered or
    // the run stops.
    while ctl.phase() < STOP && !with(|c| c.answered + c.errors >= c.sent) {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    result
}

/// Runs `f` on the controller's figures (kept process-wide, so that the
/// report has them whenever the executors stop).
fn with<T: Default>(f: impl FnOnce(&mut Commands) -> T) -> T {
    COMMANDS
        .lock()
        .expect("commands lock")
        .as_mut()
        .map(f)
        .unwrap_or_default()
}

/// Records a command's answer.
fn record(st: Option<Stamp>) {
    let now = now_ns();
    with(|c| {
        c.answered += 1;
        if let (Some(st), Some(h)) = (st, c.hist.as_mut()) {
            stats::record(h, now.saturating_sub(st.t_ns));
        }
    });
}

/// What the controller does next.
enum Step {
    /// Send command `m` with this stamp.
    Send(u64, Stamp),
    /// Flush, then sleep until then.
    Sleep(u64),
}

/// The `--commands` schedule over the measured phase: it ends with the
/// phase's deadline, or (for a count) once every device is done.
struct Schedule {
    start: u64,
    deadline: Option<u64>,
    interval: Option<f64>,
    m: u64,
    until: u64,
}

impl Schedule {
    async fn start(p: &ControllerParams, ctl: &Control, interval: Option<f64>) -> Schedule {
        ctl.wait_phase(MEASURE).await;
        let start = now_ns();
        Schedule {
            start,
            deadline: p.amount.deadline(start),
            interval,
            m: 0,
            until: 0,
        }
    }

    fn next(&mut self, p: &ControllerParams, ctl: &Control) -> Option<Step> {
        if self.m < self.until {
            let m = self.m;
            self.m += 1;
            return Some(Step::Send(
                m,
                Stamp {
                    seq: m,
                    sender: 1,
                    t_ns: super::intended_ns(m, self.start, self.interval),
                },
            ));
        }
        let now = now_ns();
        let devices_done = ctl.senders_done.load(Ordering::Acquire) >= p.devices as u64;
        if self.deadline.is_some_and(|d| now >= d)
            || ctl.phase() >= STOP
            || (self.deadline.is_none() && devices_done)
        {
            return None;
        }
        match pace(self.m, self.start, now, self.interval) {
            Pace::SleepUntil(t) => Some(Step::Sleep(t.min(self.deadline.unwrap_or(u64::MAX)))),
            Pace::SendUntil(u) => {
                self.until = u;
                self.next(p, ctl)
            }
        }
    }
}

/// Adds the controller's figures to `report` (`extra.commands`); a command
/// left unanswered or refused makes the run unclean.
pub fn finish(report: &mut Report) {
    let Some(c) = COMMANDS.lock().expect("commands lock").take() else {
        return;
    };
    let lat = c.hist.as_ref().map(Latency::of).unwrap_or_default();
    report.extra.insert(
        "commands".into(),
        serde_json::json!({
            "sent": c.sent,
            "answered": c.answered,
            "errors": c.errors,
            "latency_us": lat,
        }),
    );
    if c.answered != c.sent || c.errors > 0 {
        report.clean = false;
        report.problems.push(format!(
            "commands: {} sent, {} answered, {} errors",
            c.sent, c.answered, c.errors
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_device_index_and_namespace() {
        assert_eq!(topic("", 7), "devices.7.telemetry");
        assert_eq!(command("w1.", 7), "w1.devices.7.command");
        assert_eq!(mqtt::topic_from_wamp(&reply("", 3)), "replies/3");
        assert_eq!(
            mqtt::topic_from_wamp(&format!("{}.", reply("w2.", 3).trim_end_matches(".3"))),
            "w2/replies/+"
        );
        assert_eq!(command_topic("", 4), "commands.4");
        let prefix = Iot {
            prefix: true,
            commands: None,
        };
        assert_eq!(prefix.subscription(""), ("devices.".into(), Some("prefix")));
        let wild = Iot {
            prefix: false,
            commands: Some(10.0),
        };
        assert_eq!(
            wild.subscription("w0."),
            ("w0.devices..telemetry".into(), Some("wildcard"))
        );
        assert_eq!(
            mqtt::topic_from_wamp(&wild.subscription("").0),
            "devices/+/telemetry"
        );
    }
}

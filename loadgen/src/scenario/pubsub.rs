//! `fanout` and `pubsub`: publishers, subscribers, topics.
//!
//! `fanout` is the special case of one publisher and one topic (`--topic`).
//! `pubsub`: subscriber `i` subscribes to topic `i % T`, or with `--wildcard`
//! to the pattern `loadgen.pubsub.g<i % G>.` matching every topic of its group
//! (topic `k` is `loadgen.pubsub.g<k % G>.t<k>`, `G = --groups`); publisher `j`
//! sends its `m`-th message to topic `(j + m) % T`. Sequence numbers count per
//! (publisher, topic) stream, so every (stream, subscriber) pair is checked
//! for loss and order, and the expected deliveries are computed exactly from
//! what each publisher reports it sent.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::sync::Semaphore;
use junction::proto::{
    Dict, Message, Payload, Publish, RequestId, Serializer, Subscribe, Value, code,
};

use super::iot::{self, Answer};
use super::{Amount, Local, Pace, ThreadOut, intended_ns, pace, report_until_stop, sleep_until};
use crate::clock::now_ns;
use crate::fastpath;
use crate::mqtt::{self, MqttConn, MqttWriter, Packet};
use crate::payload::{self, Stamp, WARMUP_SENDER, stream_id};
use crate::runner::{self, Control, MEASURE, STOP, WARMUP};
use crate::stats::{self, CpuMeter, Report};
use crate::tracker::{SeqCounts, SeqTracker};
use crate::url::Target;
use crate::wamp::{self, WampConn, WampWriter};

/// Connections opening at once per executor.
const CONNECT_CONCURRENCY: u64 = 128;

/// Parameters of a `fanout` or `pubsub` run.
#[derive(Debug, Clone)]
pub struct PubSubParams {
    /// Router or broker.
    pub target: Target,
    /// WAMP serializer.
    pub ser: Serializer,
    /// WAMP realm.
    pub realm: String,
    /// Application payload bytes per message.
    pub payload: usize,
    /// Messages per publisher, or seconds.
    pub amount: Amount,
    /// Messages per second per publisher.
    pub rate: Option<f64>,
    /// Flow control: publications per publisher that may be on their way to
    /// subscribers at once (0: none, publish as fast as possible).
    pub window: u64,
    /// MQTT QoS (0 or 1).
    pub qos: u8,
    /// Publishers.
    pub publishers: usize,
    /// Subscribers.
    pub subscribers: usize,
    /// Topics.
    pub topics: usize,
    /// Subscribe to group wildcard patterns.
    pub wildcard: bool,
    /// Topic groups (for `--wildcard`).
    pub groups: usize,
    /// `Some(topic)` for `fanout`.
    pub fanout_topic: Option<String>,
    /// Executors.
    pub threads: usize,
    /// How long to wait for deliveries with no progress after the last send.
    pub drain: Duration,
    /// Router process to measure.
    pub router_pid: Option<u32>,
    /// `iot`: devices (publishers) each on its own topic, dashboards
    /// (subscribers) on all of them, commands (see [`super::iot`]).
    pub iot: Option<iot::Iot>,
    /// Prefix of every topic (a worker of `--procs`: `w<i>.`; else empty).
    pub namespace: String,
}

impl PubSubParams {
    /// Name of topic `k`.
    pub fn topic(&self, k: usize) -> String {
        let ns = &self.namespace;
        match (&self.fanout_topic, &self.iot) {
            (Some(t), _) => format!("{ns}{t}"),
            (None, Some(_)) => iot::topic(ns, k),
            (None, None) => format!("{ns}loadgen.pubsub.g{}.t{k}", k % self.groups),
        }
    }

    /// Subscriber `i`'s topic or pattern and its match policy (`None`: exact).
    pub fn subscription(&self, i: usize) -> (String, Option<&'static str>) {
        let ns = &self.namespace;
        match (&self.fanout_topic, &self.iot) {
            (Some(_), _) => (self.topic(0), None),
            (None, Some(iot)) => iot.subscription(ns),
            (None, None) if self.wildcard => (
                format!("{ns}loadgen.pubsub.g{}.", i % self.groups),
                Some("wildcard"),
            ),
            (None, None) => (self.topic(i % self.topics), None),
        }
    }

    /// The MQTT filter of subscriber `i`.
    pub fn mqtt_filter(&self, i: usize) -> String {
        let (topic, policy) = self.subscription(i);
        match policy {
            Some("prefix") => format!(
                "{}/#",
                mqtt::topic_from_wamp(topic.strip_suffix('.').unwrap_or(&topic))
            ),
            _ => mqtt::topic_from_wamp(&topic),
        }
    }

    /// The topic of publisher `j`'s `m`-th message.
    pub fn topic_for(&self, j: usize, m: u64) -> usize {
        if self.iot.is_some() {
            j
        } else {
            (j + m as usize) % self.topics
        }
    }

    /// The topics subscriber `i` receives.
    pub fn topics_of(&self, i: usize) -> Vec<usize> {
        if self.iot.is_some() {
            (0..self.topics).collect()
        } else if self.fanout_topic.is_some() {
            vec![0]
        } else if self.wildcard {
            (0..self.topics)
                .filter(|k| k % self.groups == i % self.groups)
                .collect()
        } else {
            vec![i % self.topics]
        }
    }

    /// The `iot` controller's view of this run, when it sends commands.
    fn controller(&self) -> Option<iot::ControllerParams> {
        let rate = self.iot.as_ref()?.commands?;
        Some(iot::ControllerParams {
            target: self.target.clone(),
            ser: self.ser,
            realm: self.realm.clone(),
            payload: self.payload,
            amount: self.amount,
            devices: self.publishers,
            namespace: self.namespace.clone(),
            rate,
        })
    }

    fn params_json(&self, url: &str) -> serde_json::Value {
        serde_json::json!({
            "url": url,
            "serializer": self.ser.name(),
            "realm": self.realm,
            "payload": self.payload,
            "amount": self.amount,
            "rate": self.rate,
            "window": self.window,
            "qos": self.qos,
            "publishers": self.publishers,
            "subscribers": self.subscribers,
            "topics": self.topics,
            "wildcard": self.wildcard,
            "groups": self.groups,
            "topic": self.fanout_topic,
            "threads": self.threads,
            "iot": self.iot,
            "namespace": self.namespace,
        })
    }
}

/// Runs a `fanout` / `pubsub` scenario and builds its report.
///
/// # Errors
/// Setup failed (connect, subscribe, warm-up).
pub fn run(p: PubSubParams, url: &str) -> anyhow::Result<Report> {
    if p.topics == 0 || p.groups == 0 || p.groups > p.topics {
        bail!("need 1 <= --groups <= --topics");
    }
    if p.iot.is_some() && p.topics != p.publishers {
        bail!("iot: one topic per device");
    }
    if p.topics >= 1 << payload::TOPIC_BITS {
        bail!("at most {} topics", (1 << payload::TOPIC_BITS) - 1);
    }
    let p = Arc::new(p);
    let ctl = Arc::new(Control::new(p.threads));
    let join = {
        let (p, ctl) = (p.clone(), ctl.clone());
        std::thread::spawn(move || {
            runner::run_threads(p.threads, move |t| thread_main(t, p.clone(), ctl.clone()))
        })
    };
    let result = drive(&p, &ctl, url);
    ctl.set_phase(STOP);
    let outs = join
        .join()
        .map_err(|_| anyhow::anyhow!("executor thread panicked"))??;
    let (mut report, cpu_meter) = result?;
    finish(&p, &ctl, outs, &mut report, &cpu_meter);
    Ok(report)
}

/// The main thread's part: phases, progress, drain.
fn drive(p: &PubSubParams, ctl: &Control, url: &str) -> anyhow::Result<(Report, CpuMeter)> {
    let controller = usize::from(p.iot.as_ref().is_some_and(|i| i.commands.is_some()));
    let pb = runner::connect_and_warm_up(
        ctl,
        (p.publishers + p.subscribers + controller) as u64,
        p.subscribers as u64,
        Duration::from_secs(10),
        "warm-up (events not reaching every subscriber)",
    )?;
    let meter = CpuMeter::start(p.router_pid);
    let t0 = now_ns();
    ctl.measure_start_ns.store(t0, Ordering::Release);
    ctl.set_phase(MEASURE);
    pb.set_message("delivered");
    pb.set_position(0);
    pb.set_length(match p.amount {
        Amount::Count(n) => {
            let per_sub: u64 = (0..p.subscribers)
                .map(|i| p.topics_of(i).len() as u64)
                .sum();
            n * p.publishers as u64 * per_sub / p.topics as u64
        }
        Amount::Seconds(_) => 0,
    });
    let (expected, _) = runner::wait_drain(ctl, &pb, p.publishers as u64, p.drain, |c| {
        expected_total(p, c)
    });
    pb.finish_and_clear();
    let mut report = Report::new(
        if p.iot.is_some() {
            "iot"
        } else if p.fanout_topic.is_some() {
            "fanout"
        } else {
            "pubsub"
        },
        p.params_json(url),
        SeqCounts::default(),
    );
    report.expected = expected;
    report.sent = ctl.reported_sent();
    report.cpu = meter.finish();
    Ok((report, meter))
}

/// Per-topic totals over all publishers.
fn topic_totals(p: &PubSubParams, ctl: &Control) -> Vec<Vec<u64>> {
    let mut per_pub = vec![vec![0u64; p.topics]; p.publishers];
    for (j, counts) in ctl.sender_counts.lock().expect("lock").iter() {
        per_pub[*j].clone_from(counts);
    }
    per_pub
}

/// `iot`: what each device sent on its own topic, by device.
fn device_totals(p: &PubSubParams, ctl: &Control) -> Vec<u64> {
    let mut sent = vec![0u64; p.publishers];
    for (j, counts) in ctl.sender_counts.lock().expect("lock").iter() {
        sent[*j] = counts.iter().sum();
    }
    sent
}

fn expected_total(p: &PubSubParams, ctl: &Control) -> u64 {
    if p.iot.is_some() {
        return device_totals(p, ctl).iter().sum::<u64>() * p.subscribers as u64;
    }
    let per_pub = topic_totals(p, ctl);
    let tot: Vec<u64> = (0..p.topics)
        .map(|k| per_pub.iter().map(|c| c[k]).sum())
        .collect();
    // Subscribers with the same subscription expect the same; count each kind once.
    let key = |i: usize| {
        if p.fanout_topic.is_some() || p.iot.is_some() {
            0
        } else if p.wildcard {
            i % p.groups
        } else {
            i % p.topics
        }
    };
    let mut per_key: ahash::AHashMap<usize, u64> = ahash::AHashMap::new();
    (0..p.subscribers)
        .map(|i| {
            *per_key
                .entry(key(i))
                .or_insert_with(|| p.topics_of(i).iter().map(|&k| tot[k]).sum())
        })
        .sum()
}

fn finish(
    p: &PubSubParams,
    ctl: &Control,
    outs: Vec<ThreadOut>,
    report: &mut Report,
    _meter: &CpuMeter,
) {
    let t0 = ctl.measure_start_ns.load(Ordering::Acquire);
    let per_pub = if p.iot.is_some() {
        Vec::new()
    } else {
        topic_totals(p, ctl)
    };
    let devices: Vec<(u64, u64)> = if p.iot.is_some() {
        device_totals(p, ctl)
            .into_iter()
            .enumerate()
            .map(|(j, c)| (stream_id(j as u64 + 1, j as u64), c))
            .collect()
    } else {
        Vec::new()
    };
    let mut hist = stats::new_histogram();
    let mut counts = SeqCounts::default();
    let mut last_rx = 0;
    for o in outs {
        let _ = hist.add(&o.hist);
        last_rx = last_rx.max(o.last_rx_ns);
        for (i, tr) in o.trackers {
            if p.iot.is_some() {
                counts.add(&tr.finish(devices.iter().copied()));
                continue;
            }
            let expected = p.topics_of(i).into_iter().flat_map(|k| {
                per_pub
                    .iter()
                    .enumerate()
                    .map(move |(j, c)| (stream_id(j as u64 + 1, k as u64), c[k]))
            });
            counts.add(&tr.finish(expected.collect::<Vec<_>>()));
        }
    }
    let end = if last_rx > t0 { last_rx } else { now_ns() };
    report.duration_s = (end - t0) as f64 / 1e9;
    report.delivered = counts.received;
    report.lost = counts.lost;
    report.reordered = counts.reordered;
    report.duplicates = counts.duplicates;
    report.unexpected = counts.unexpected;
    report.throughput_per_s = counts.received as f64 / report.duration_s.max(1e-9);
    report.set_latency(&hist);
    report.timeline = stats::rates(&ctl.timeline());
    report.errors = ctl.failures.load(Ordering::Relaxed);
    report.problems = ctl.problems();
    let send_end = ctl.last_send_ns.load(Ordering::Relaxed);
    if send_end > t0 {
        let secs = (send_end - t0) as f64 / 1e9;
        report.extra.insert(
            "publish_rate_per_s".into(),
            serde_json::json!((report.sent as f64 / secs).round()),
        );
    }
    report.clean = counts.is_clean() && report.errors == 0 && report.delivered == report.expected;
    if p.iot.is_some() {
        iot::finish(report);
    }
}

async fn thread_main(t: usize, p: Arc<PubSubParams>, ctl: Arc<Control>) -> ThreadOut {
    let local = Rc::new(Local::default());
    *local.hist.borrow_mut() = Some(stats::new_histogram());
    let gate = Rc::new(Semaphore::new(CONNECT_CONCURRENCY));
    for i in (t..p.subscribers).step_by(p.threads) {
        let tracker = Rc::new(RefCell::new(SeqTracker::new()));
        local.trackers.borrow_mut().push((i, tracker.clone()));
        let (p, ctl, local, gate) = (p.clone(), ctl.clone(), local.clone(), gate.clone());
        glommio::spawn_local(async move {
            if let Err(e) = subscriber(i, &p, &ctl, &local, tracker, &gate).await {
                if ctl.phase() < STOP {
                    ctl.fail(format!("subscriber {i}: {e:#}"));
                }
            }
        })
        .detach();
    }
    for j in (t..p.publishers).step_by(p.threads) {
        let (p, ctl, local, gate) = (p.clone(), ctl.clone(), local.clone(), gate.clone());
        glommio::spawn_local(async move {
            if let Err(e) = publisher(j, &p, &ctl, &local, &gate).await {
                if ctl.phase() < STOP {
                    ctl.fail(format!("publisher {j}: {e:#}"));
                }
            }
        })
        .detach();
    }
    if t == 0 {
        if let Some(c) = p.controller() {
            let ctl = ctl.clone();
            glommio::spawn_local(async move {
                if let Err(e) = iot::controller(&c, &ctl).await {
                    if ctl.phase() < STOP {
                        ctl.fail(format!("controller: {e:#}"));
                    }
                }
            })
            .detach();
        }
    }
    report_until_stop(t, &ctl, &local).await;
    local.take_thread_out()
}

/// Receiving side of one subscriber.
struct Receiver<'a> {
    ctl: &'a Control,
    local: &'a Local,
    tracker: Rc<RefCell<SeqTracker>>,
    warmed: bool,
}

impl Receiver<'_> {
    fn on(&mut self, stamp: Option<Stamp>) -> anyhow::Result<()> {
        let Some(s) = stamp else {
            bail!("event without a loadgen payload");
        };
        if s.sender == WARMUP_SENDER {
            if !self.warmed {
                self.warmed = true;
                self.ctl.warm.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(());
        }
        let now = now_ns();
        if let Some(h) = self.local.hist.borrow_mut().as_mut() {
            stats::record(h, now.saturating_sub(s.t_ns));
        }
        self.tracker.borrow_mut().record(s.sender, s.seq);
        self.local.delivered.set(self.local.delivered.get() + 1);
        self.local.last_rx_ns.set(now);
        Ok(())
    }
}

async fn subscriber(
    i: usize,
    p: &PubSubParams,
    ctl: &Control,
    local: &Local,
    tracker: Rc<RefCell<SeqTracker>>,
    gate: &Semaphore,
) -> anyhow::Result<()> {
    let (topic, policy) = p.subscription(i);
    let mut rx = Receiver {
        ctl,
        local,
        tracker,
        warmed: false,
    };
    if p.target.is_mqtt() {
        let mut c = {
            let _permit = gate.acquire_permit(1).await.map_err(std::io::Error::from)?;
            let id = format!("loadgen-{}-s{i}", std::process::id());
            let mut c = MqttConn::connect(&p.target, &id, None).await?;
            c.subscribe(&p.mqtt_filter(i), p.qos).await?;
            c
        };
        ctl.ready.fetch_add(1, Ordering::Relaxed);
        loop {
            match c.next().await? {
                Some(Packet::Publish {
                    pid, payload: body, ..
                }) => {
                    if let Some(pid) = pid {
                        mqtt::encode_puback(pid, c.writer.buf());
                    }
                    rx.on(payload::from_mqtt(&body))?;
                }
                Some(_) => {}
                None => bail!("connection closed by the broker"),
            }
        }
    }
    let mut c = {
        let _permit = gate.acquire_permit(1).await.map_err(std::io::Error::from)?;
        let mut c = WampConn::connect(&p.target, p.ser, &p.realm, None).await?;
        let req = c.writer.request_id();
        let options = match policy {
            Some(m) => Dict::new().with("match", m),
            None => Dict::new(),
        };
        c.writer
            .send(&Message::Subscribe(Subscribe {
                request: RequestId(req),
                options,
                topic,
            }))
            .await?;
        loop {
            match c.next().await? {
                Some(Message::Subscribed(s)) if s.request.get() == req => break,
                Some(Message::Error(e)) => bail!("SUBSCRIBE refused: {}", wamp::error_text(&e)),
                Some(_) => {}
                None => bail!("connection closed before SUBSCRIBED"),
            }
        }
        c
    };
    ctl.ready.fetch_add(1, Ordering::Relaxed);
    let ser = c.reader.serializer();
    loop {
        let Some(bytes) = c.next_raw().await? else {
            bail!("connection closed by the router");
        };
        if let Some((code::EVENT, st)) = fastpath::scan(ser, &bytes) {
            rx.on(Some(st))?;
            continue;
        }
        match Some(c.reader.decode(&bytes)?) {
            Some(Message::Event(e)) => rx.on(payload::from_wamp_args(e.payload.args.as_ref()))?,
            Some(Message::Goodbye(_) | Message::Abort(_)) => bail!("session closed by the router"),
            Some(_) => {}
            None => bail!("connection closed by the router"),
        }
    }
}

/// A publisher's connection.
enum PubWriter {
    Wamp { w: WampWriter, pad: Value },
    Mqtt { w: MqttWriter, qos: u8 },
}

/// A publisher's sending side: its topics (from index `base`) and, for an
/// `iot` device, the answers to commands its reader queued.
struct PubSink {
    w: PubWriter,
    topics: Vec<String>,
    base: usize,
    payload: usize,
    answers: Option<LocalReceiver<Answer>>,
    /// MQTT replies: the namespace and the device.
    ns: String,
    j: usize,
}

impl PubSink {
    async fn publish(&mut self, k: usize, stamp: Stamp) -> anyhow::Result<()> {
        let topic = &self.topics[k - self.base];
        match &mut self.w {
            PubWriter::Wamp { w, pad } => {
                let request = RequestId(w.request_id());
                w.feed(&Message::Publish(Publish {
                    request,
                    options: Dict::new(),
                    topic: topic.clone(),
                    payload: Payload::args(payload::wamp_args(stamp, pad)),
                }))
                .await
            }
            PubWriter::Mqtt { w, qos } => {
                let pid = if *qos > 0 { w.pid() } else { 0 };
                mqtt::encode_publish(topic, *qos, pid, stamp, self.payload, w.buf());
                w.maybe_flush().await
            }
        }
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        match &mut self.w {
            PubWriter::Wamp { w, .. } => w.flush().await,
            PubWriter::Mqtt { w, .. } => w.flush().await,
        }
    }

    /// Queues one answer to a command.
    async fn answer(&mut self, a: Answer) -> anyhow::Result<()> {
        match (&mut self.w, a) {
            (PubWriter::Wamp { w, .. }, Answer::Wamp(msg)) => w.feed(&msg).await,
            (PubWriter::Mqtt { w, .. }, Answer::Mqtt(st)) => {
                iot::encode_mqtt_reply(&self.ns, self.j, st, self.payload, w.buf());
                w.maybe_flush().await
            }
            _ => Ok(()),
        }
    }

    /// Sleeps until `t_ns`, answering the commands that arrive meanwhile.
    async fn sleep_until(&mut self, t_ns: u64) -> anyhow::Result<()> {
        loop {
            let Some(rx) = &self.answers else {
                sleep_until(t_ns).await;
                return Ok(());
            };
            let got = futures_lite::future::or(
                async {
                    sleep_until(t_ns).await;
                    None
                },
                rx.recv(),
            )
            .await;
            let Some(a) = got else {
                return Ok(());
            };
            self.answer(a).await?;
            self.flush().await?;
        }
    }
}

async fn publisher(
    j: usize,
    p: &PubSubParams,
    ctl: &Arc<Control>,
    local: &Local,
    gate: &Semaphore,
) -> anyhow::Result<()> {
    // An iot device publishes to its own topic only.
    let (base, names): (usize, Vec<String>) = if p.iot.is_some() {
        (j, vec![p.topic(j)])
    } else {
        (0, (0..p.topics).map(|k| p.topic(k)).collect())
    };
    let commands = p.iot.as_ref().is_some_and(|i| i.commands.is_some());
    let (answer_tx, answer_rx) = local_channel::new_unbounded::<Answer>();
    let answers = commands.then_some(answer_rx);
    let mut sink = {
        let _permit = gate.acquire_permit(1).await.map_err(std::io::Error::from)?;
        if p.target.is_mqtt() {
            let id = format!("loadgen-{}-p{j}{}", std::process::id(), p.namespace);
            let mut c = MqttConn::connect(&p.target, &id, None).await?;
            if commands {
                let topic = mqtt::topic_from_wamp(&iot::command_topic(&p.namespace, j));
                c.subscribe(&topic, 0).await?;
            }
            let mut reader = c.reader;
            let ctl = ctl.clone();
            glommio::spawn_local(async move {
                // PUBACKs (QoS 1) need no action; a command is answered; the
                // end of the connection ends the publisher.
                loop {
                    match reader.recv().await {
                        Ok(Some(Packet::Publish { payload: body, .. })) => {
                            if let Some(st) = payload::from_mqtt(&body) {
                                let _ = answer_tx.try_send(Answer::Mqtt(st));
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => {
                            if ctl.phase() < STOP {
                                ctl.fail(format!("publisher {j}: connection closed by the broker"));
                            }
                            break;
                        }
                    }
                }
            })
            .detach();
            PubSink {
                w: PubWriter::Mqtt {
                    w: c.writer,
                    qos: p.qos,
                },
                topics: names.iter().map(|t| mqtt::topic_from_wamp(t)).collect(),
                base,
                payload: p.payload,
                answers,
                ns: p.namespace.clone(),
                j,
            }
        } else {
            let mut c = WampConn::connect(&p.target, p.ser, &p.realm, None).await?;
            if commands {
                iot::register_command(&mut c, &p.namespace, j).await?;
            }
            let mut reader = c.reader;
            let ctl = ctl.clone();
            glommio::spawn_local(async move {
                loop {
                    match reader.recv().await {
                        Ok(Some(Message::Invocation(inv))) => {
                            let _ = answer_tx.try_send(iot::answer_invocation(inv));
                        }
                        Ok(Some(Message::Error(e))) => {
                            ctl.fail(format!(
                                "publisher {j}: PUBLISH error {}",
                                wamp::error_text(&e)
                            ));
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => {
                            if ctl.phase() < STOP {
                                ctl.fail(format!("publisher {j}: connection closed by the router"));
                            }
                            break;
                        }
                    }
                }
            })
            .detach();
            PubSink {
                w: PubWriter::Wamp {
                    w: c.writer,
                    pad: payload::wamp_padding(p.ser, p.payload),
                },
                topics: names,
                base,
                payload: p.payload,
                answers,
                ns: p.namespace.clone(),
                j,
            }
        }
    };
    ctl.ready.fetch_add(1, Ordering::Relaxed);
    ctl.wait_phase(WARMUP).await;
    if j == 0 {
        while ctl.phase() == WARMUP {
            for k in 0..p.topics {
                let st = Stamp {
                    seq: 0,
                    sender: WARMUP_SENDER,
                    t_ns: now_ns(),
                };
                if p.iot.is_some() {
                    // A device has only its own topic; one per device is
                    // enough to reach every dashboard.
                    if k != j {
                        continue;
                    }
                }
                sink.publish(k, st).await?;
            }
            sink.flush().await?;
            for _ in 0..100 {
                if ctl.phase() != WARMUP {
                    break;
                }
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    ctl.wait_phase(MEASURE).await;
    let interval = p.rate.map(|r| 1e9 / r);
    // iot devices are spread over the interval (device j starts j/N of it
    // late), as independent devices would be, instead of all publishing at
    // the same instants.
    let start = match (&p.iot, interval) {
        (Some(_), Some(iv)) => {
            let start = now_ns() + (iv * j as f64 / p.publishers as f64) as u64;
            sink.sleep_until(start).await?;
            start
        }
        _ => now_ns(),
    };
    let deadline = p.amount.deadline(start);
    let limit = p.amount.count().unwrap_or(u64::MAX);
    let mut seqs = vec![0u64; sink.topics.len()];
    let mut m = 0u64;
    // Flow control: how many subscribers hear each topic, and how many
    // deliveries may be outstanding (all publishers together) before this
    // publisher waits. Without it, a publisher outruns any router and the run
    // measures queueing (and the router's memory), not throughput.
    let hearers = hearers(p);
    let hears = |k: usize| hearers.get(k).copied().unwrap_or(p.subscribers as u64);
    let fanout = if hearers.is_empty() {
        p.subscribers as u64
    } else {
        hearers.iter().sum::<u64>() / p.topics.max(1) as u64
    }
    .max(1);
    let max_in_flight = p
        .window
        .saturating_mul(p.publishers as u64)
        .saturating_mul(fanout);
    loop {
        let now = now_ns();
        if m >= limit || deadline.is_some_and(|d| now >= d) || ctl.phase() >= STOP {
            break;
        }
        if p.window > 0 {
            let delivered: u64 = ctl
                .delivered
                .iter()
                .map(|d| d.load(Ordering::Relaxed))
                .sum();
            let in_flight = ctl
                .expected
                .load(Ordering::Relaxed)
                .saturating_sub(delivered);
            if in_flight > max_in_flight {
                sink.flush().await?;
                sink.sleep_until(now_ns() + 200_000).await?;
                continue;
            }
        }
        let until = match pace(m, start, now, interval) {
            Pace::SleepUntil(t) => {
                sink.flush().await?;
                sink.sleep_until(t.min(deadline.unwrap_or(u64::MAX)))
                    .await?;
                continue;
            }
            Pace::SendUntil(u) => u.min(limit),
        };
        let batch_start = m;
        while m < until {
            let k = p.topic_for(j, m);
            let st = Stamp {
                seq: seqs[k - base],
                sender: stream_id(j as u64 + 1, k as u64),
                t_ns: intended_ns(m, start, interval),
            };
            sink.publish(k, st).await?;
            seqs[k - base] += 1;
            m += 1;
        }
        sink.flush().await?;
        let batch_deliveries: u64 = (batch_start..m).map(|x| hears(p.topic_for(j, x))).sum();
        ctl.expected.fetch_add(batch_deliveries, Ordering::Relaxed);
        local.sent.set(local.sent.get() + (m - batch_start));
        glommio::yield_if_needed().await;
    }
    sink.flush().await?;
    ctl.sender_done(j, seqs);
    // Devices answer commands until the run stops.
    while ctl.phase() < STOP {
        sink.sleep_until(now_ns() + 1_000_000).await?;
    }
    Ok(())
}

/// How many subscribers hear each topic (empty for `iot`: every dashboard
/// hears every device).
fn hearers(p: &PubSubParams) -> Vec<u64> {
    if p.iot.is_some() {
        return Vec::new();
    }
    let mut hearers = vec![0u64; p.topics];
    for i in 0..p.subscribers {
        for k in p.topics_of(i) {
            hearers[k] += 1;
        }
    }
    hearers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(topics: usize, wildcard: bool, groups: usize) -> PubSubParams {
        PubSubParams {
            target: Target::parse("rs://127.0.0.1:1").expect("url"),
            ser: Serializer::Json,
            realm: "realm1".into(),
            payload: 100,
            amount: Amount::Count(10),
            rate: None,
            window: 0,
            qos: 0,
            publishers: 2,
            subscribers: 6,
            topics,
            wildcard,
            groups,
            fanout_topic: None,
            threads: 1,
            drain: Duration::from_secs(1),
            router_pid: None,
            iot: None,
            namespace: String::new(),
        }
    }

    #[test]
    fn exact_subscriptions_cycle_over_topics() {
        let p = params(3, false, 1);
        assert_eq!(p.subscription(4), ("loadgen.pubsub.g0.t1".into(), None));
        assert_eq!(p.topics_of(5), vec![2]);
    }

    #[test]
    fn wildcard_groups_partition_topics() {
        let p = params(6, true, 2);
        assert_eq!(
            p.subscription(3),
            ("loadgen.pubsub.g1.".into(), Some("wildcard"))
        );
        assert_eq!(p.topics_of(3), vec![1, 3, 5]);
        assert_eq!(p.topic(4), "loadgen.pubsub.g0.t4");
    }

    #[test]
    fn iot_devices_publish_to_their_own_topic_and_dashboards_hear_all() {
        let mut p = params(4, false, 1);
        p.publishers = 4;
        p.iot = Some(crate::scenario::iot::Iot {
            prefix: true,
            commands: None,
        });
        assert_eq!(p.topic_for(3, 0), 3);
        assert_eq!(p.topic_for(3, 17), 3);
        assert_eq!(p.topic(2), "devices.2.telemetry");
        assert_eq!(p.topics_of(5), vec![0, 1, 2, 3]);
        assert_eq!(p.mqtt_filter(0), "devices/#");
        assert!(hearers(&p).is_empty());
        p.iot = Some(crate::scenario::iot::Iot {
            prefix: false,
            commands: None,
        });
        p.namespace = "w1.".into();
        assert_eq!(p.mqtt_filter(0), "w1/devices/+/telemetry");
        let ctl = Control::new(1);
        ctl.sender_done(0, vec![5]);
        ctl.sender_done(2, vec![7]);
        // Six dashboards, each hears every device.
        assert_eq!(expected_total(&p, &ctl), 6 * 12);
    }

    #[test]
    fn the_controller_sees_the_run_only_when_it_sends_commands() {
        let mut p = params(4, false, 1);
        p.publishers = 4;
        p.namespace = "w2.".into();
        p.iot = Some(iot::Iot {
            prefix: true,
            commands: None,
        });
        assert!(p.controller().is_none());
        p.iot = Some(iot::Iot {
            prefix: true,
            commands: Some(25.0),
        });
        let c = p.controller().expect("commands asked for");
        assert_eq!((c.devices, c.rate, c.payload), (4, 25.0, 100));
        assert_eq!((c.namespace.as_str(), c.realm.as_str()), ("w2.", "realm1"));
        assert_eq!((c.ser, c.amount), (Serializer::Json, Amount::Count(10)));
        p.iot = None;
        assert!(p.controller().is_none());
    }

    #[test]
    fn expected_counts_follow_what_was_sent() {
        let p = params(3, false, 1);
        let ctl = Control::new(1);
        // Publisher 0 sent 4/3/3 over topics 0..3, publisher 1 3/4/3.
        ctl.sender_done(0, vec![4, 3, 3]);
        ctl.sender_done(1, vec![3, 4, 3]);
        // Six subscribers: two per topic.
        assert_eq!(expected_total(&p, &ctl), 2 * (7 + 7 + 6));
        let w = params(3, true, 1);
        assert_eq!(expected_total(&w, &ctl), 6 * 20);
    }
}

//! The supervisor's state machine with real processes (`/bin/sh`), driven
//! by hand: `step` at chosen instants, waiting (bounded) for exits.

use super::*;
use crate::config::worker::{GuestOutput, GuestStdin, ProcessEnv};

fn sh(script: &str) -> GuestWorker {
    GuestWorker {
        executable: "sh".into(),
        arguments: vec!["-c".into(), script.into()],
        workdir: std::env::temp_dir(),
        env: ProcessEnv::default(),
        stdin: GuestStdin::Close,
        stdout: GuestOutput::Drop,
        stderr: GuestOutput::Drop,
        watch: None,
        restart: GuestRestart::Never,
        stop_timeout_s: 10,
    }
}

fn spec(id: &str, config: GuestWorker) -> GuestSpec {
    GuestSpec {
        id: id.into(),
        kind: "guest",
        config,
    }
}

fn get<'a>(s: &'a [WorkerStatus], id: &str) -> &'a WorkerStatus {
    s.iter().find(|w| w.id == id).expect("listed")
}

/// Steps until `done` holds (at most 10 s of real time).
fn until(g: &mut Guests, mut done: impl FnMut(&[WorkerStatus]) -> bool) -> Vec<WorkerStatus> {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        g.step(Instant::now());
        let s = g.status();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < give_up, "not reached: {s:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[test]
fn ids_default_to_crossbars_worker_numbers() {
    let c = Config::from_json_str(
        r#"{"version": 2, "workers": [
            {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
             "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 0}}]},
            {"type": "guest", "executable": "a"},
            {"type": "guest", "id": "named", "executable": "b"},
            {"type": "guest", "executable": "c", "options": {"disabled": true}},
            {"type": "guest", "executable": "d"}]}"#,
    )
    .expect("loads");
    let g = guests(&c);
    assert_eq!(
        g.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["worker002", "named", "worker004"],
        "the router is worker001; a disabled worker takes its number too"
    );
    assert_eq!(g[1].config.executable, "b");
}

#[test]
fn an_exit_is_logged_and_kept_without_restart_policy() {
    let mut g = Guests::default();
    let done = g.apply(vec![spec("a", sh("exit 3"))], Instant::now());
    assert_eq!(done.started, ["a"]);
    let s = until(&mut g, |s| s[0].state == WorkerState::Exited);
    assert_eq!(s[0].last_exit.as_deref(), Some("exit status 3"));
    assert_eq!((s[0].starts, s[0].exits, s[0].restarts), (1, 1, 0));
    assert_eq!(s[0].pid, None);
    // Never started again.
    g.step(Instant::now() + BACKOFF_MAX * 2);
    assert_eq!(g.status()[0].starts, 1);
}

#[test]
fn restart_on_failed_backs_off_and_restart_always_restarts_clean_exits() {
    let mut g = Guests::default();
    let mut failing = sh("exit 1");
    failing.restart = GuestRestart::OnFailed;
    let mut clean = sh("exit 0");
    clean.restart = GuestRestart::OnFailed;
    let mut always = sh("exit 0");
    always.restart = GuestRestart::Always;
    g.apply(
        vec![
            spec("failing", failing),
            spec("clean", clean),
            spec("always", always),
        ],
        Instant::now(),
    );
    let s = until(&mut g, |s| s.iter().all(|w| w.exits == 1));
    assert_eq!(get(&s, "failing").state, WorkerState::Restarting);
    assert_eq!(get(&s, "clean").state, WorkerState::Exited);
    assert_eq!(get(&s, "always").state, WorkerState::Restarting);
    // Not before the pause; then started again, with a doubled pause next.
    let failing = g.list.iter().find(|w| w.id == "failing").expect("there");
    let at = failing.start_at.expect("scheduled");
    assert_eq!(failing.backoff, BACKOFF_MIN * 2);
    g.step(at - Duration::from_millis(1));
    assert_eq!(get(&g.status(), "failing").starts, 1);
    g.step(at + BACKOFF_MIN);
    let s = g.status();
    assert_eq!(get(&s, "failing").starts, 2);
    assert_eq!(get(&s, "failing").restarts, 1);
    assert_eq!(get(&s, "always").starts, 2);
    assert_eq!(get(&s, "clean").starts, 1);
}

#[test]
fn a_missing_executable_fails_and_a_restart_policy_retries() {
    let mut g = Guests::default();
    let mut missing = sh("");
    missing.executable = "junction-no-such-program".into();
    let mut retried = missing.clone();
    retried.restart = GuestRestart::Always;
    g.apply(
        vec![spec("once", missing), spec("again", retried)],
        Instant::now(),
    );
    let s = g.status();
    assert_eq!(get(&s, "once").state, WorkerState::Failed);
    assert!(
        get(&s, "once")
            .last_exit
            .as_deref()
            .is_some_and(|e| e.contains("no executable \"junction-no-such-program\"")),
        "{s:?}"
    );
    g.step(Instant::now() + BACKOFF_MIN * 2);
    let s = g.status();
    assert_eq!(get(&s, "once").starts, 1);
    assert_eq!(get(&s, "again").starts, 2);
    assert_eq!(get(&s, "again").state, WorkerState::Failed);
}

#[test]
fn a_reload_starts_stops_and_restarts_only_what_changed() {
    let mut g = Guests::default();
    let now = Instant::now();
    g.apply(
        vec![
            spec("keep", sh("sleep 30")),
            spec("change", sh("sleep 30")),
            spec("drop", sh("sleep 30")),
        ],
        now,
    );
    let before = g.status();
    let pid = |s: &[WorkerStatus], id: &str| get(s, id).pid.expect("running");
    let mut changed = sh("sleep 31");
    changed.stop_timeout_s = 0;
    let done = g.apply(
        vec![
            spec("new", sh("sleep 30")),
            spec("keep", sh("sleep 30")),
            spec("change", changed),
        ],
        Instant::now(),
    );
    assert_eq!(
        done,
        Applied {
            started: vec!["new".into()],
            stopped: vec!["drop".into()],
            restarted: vec!["change".into()],
        }
    );
    let dropped = pid(&before, "drop");
    let s = until(&mut g, |s| {
        s.len() == 3 && get(s, "change").state == WorkerState::Running
    });
    assert_eq!(
        s.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["new", "keep", "change"],
        "config order"
    );
    assert_eq!(pid(&s, "keep"), pid(&before, "keep"), "untouched");
    assert_ne!(pid(&s, "change"), pid(&before, "change"));
    assert_eq!(get(&s, "change").restarts, 1);
    assert_eq!(
        get(&s, "change").last_exit.as_deref(),
        Some("killed by SIGTERM")
    );
    assert!(!alive(dropped), "the removed guest is gone");
    // A drain stops everything.
    g.stop_all(false, Instant::now());
    let s = until(&mut g, |s| s.iter().all(|w| w.pid.is_none()));
    assert!(s.iter().all(|w| w.state == WorkerState::Exited), "{s:?}");
    assert!(g.all_gone());
}

#[test]
fn a_guest_that_ignores_sigterm_is_killed_after_its_stop_timeout() {
    let mut g = Guests::default();
    let mut stubborn = sh("trap '' TERM; echo ready; while :; do sleep 1; done");
    stubborn.stop_timeout_s = 1;
    stubborn.stdout = GuestOutput::Log;
    g.apply(vec![spec("stubborn", stubborn)], Instant::now());
    let pid = g.status()[0].pid.expect("running");
    // Let the shell install its trap.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    g.stop_all(false, t);
    g.step(t);
    assert_eq!(g.status()[0].state, WorkerState::Stopping);
    // Still there before the timeout...
    std::thread::sleep(Duration::from_millis(200));
    g.step(t + Duration::from_millis(200));
    assert_eq!(g.status()[0].state, WorkerState::Stopping);
    assert!(alive(pid));
    // ...killed at it (the group: the shell's sleep too).
    g.step(t + Duration::from_secs(1));
    let s = until(&mut g, |s| s[0].pid.is_none());
    assert_eq!(s[0].last_exit.as_deref(), Some("killed by SIGKILL"));
}

#[test]
fn a_watched_change_restarts_the_guest() {
    let dir = tempfile::tempdir().expect("dir");
    let mut watched = sh("sleep 30");
    watched.watch = Some(crate::config::worker::GuestWatch {
        directories: vec![dir.path().to_owned()],
        restart: true,
        timeout_s: 0,
    });
    let mut g = Guests::default();
    let t0 = Instant::now();
    g.apply(vec![spec("w", watched)], t0);
    let first = g.status()[0].pid.expect("running");
    g.step(t0 + watch::POLL);
    assert_eq!(g.status()[0].pid, Some(first), "nothing changed");
    std::fs::write(dir.path().join("app.py"), "print(1)").expect("write");
    g.step(t0 + watch::POLL * 2);
    assert_eq!(g.status()[0].state, WorkerState::Stopping);
    let s = until(&mut g, |s| {
        s[0].state == WorkerState::Running && s[0].pid != Some(first)
    });
    assert_eq!(s[0].restarts, 1);
    g.stop_all(true, Instant::now());
    until(&mut g, |s| s[0].pid.is_none());
}

#[test]
fn metrics_name_every_worker() {
    let w = |id: &str, pid| WorkerStatus {
        id: id.into(),
        kind: "guest".into(),
        pid,
        state: WorkerState::Running,
        starts: 3,
        exits: 2,
        restarts: 2,
        last_exit: None,
    };
    assert_eq!(render_metrics(&[]), "");
    let text = render_metrics(&[w("a", Some(7)), w("b\"", None)]);
    assert!(text.contains("# TYPE junction_guest_starts_total counter\n"));
    assert!(text.contains("junction_guest_starts_total{worker=\"a\"} 3\n"));
    assert!(text.contains("junction_guest_exits_total{worker=\"a\"} 2\n"));
    assert!(text.contains("junction_guest_restarts_total{worker=\"b\\\"\"} 2\n"));
    assert!(text.contains("junction_guest_running{worker=\"a\"} 1\n"));
    assert!(text.contains("junction_guest_running{worker=\"b\\\"\"} 0\n"));
}

#[test]
fn docs_name_every_guest_metric_and_only_those() {
    let text = render_metrics(&[WorkerStatus {
        id: "a".into(),
        kind: "guest".into(),
        pid: None,
        state: WorkerState::Exited,
        starts: 0,
        exits: 0,
        restarts: 0,
        last_exit: None,
    }]);
    let rendered: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(rendered.len(), 4);
    let docs = include_str!("../../../docs/metrics.md");
    for name in &rendered {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/metrics.md lacks {name}"
        );
    }
    let mut rest = docs;
    while let Some(i) = rest.find("junction_guest_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        // `_exits_total` and the like: a suffix of a full name in a list.
        assert!(
            rendered
                .iter()
                .any(|r| r.ends_with(name.trim_start_matches("junction_guest"))),
            "docs/metrics.md names {name}, which is not rendered"
        );
        rest = &tail[end..];
    }
}

#[test]
fn the_supervisor_thread_serves_status_and_metrics_and_stops_guests_when_dropped() {
    let stats: Arc<crate::shard::request::ProcessStats> = Arc::default();
    let sup = Supervisor::start(Arc::clone(&stats), Box::new(|_| {})).expect("thread");
    let mut quick = sh("trap 'exit 0' TERM; while :; do sleep 1; done");
    quick.stop_timeout_s = 5;
    let done = sup.apply(vec![spec("a", quick)]);
    assert_eq!(done.started, ["a"]);
    let s = sup.status();
    let pid = s[0].pid.expect("running");
    assert_eq!(s[0].state, WorkerState::Running);
    let give_up = Instant::now() + Duration::from_secs(10);
    while !stats
        .node_text
        .lock()
        .expect("lock")
        .contains("junction_guest_running{worker=\"a\"} 1")
    {
        assert!(Instant::now() < give_up, "no metrics");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(sup);
    assert!(
        !alive(pid),
        "stopped and reaped before the handle's drop returned"
    );
}

/// Steps until every process has exited; returns what the steps reported
/// as ended (at most 10 s of real time).
fn ended_until_all_exited(g: &mut Guests) -> Vec<WorkerEnded> {
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut ended = Vec::new();
    loop {
        ended.extend(g.step(Instant::now()));
        let s = g.status();
        if s.iter()
            .all(|w| w.pid.is_none() && w.state != WorkerState::Restarting)
        {
            return ended;
        }
        assert!(Instant::now() < give_up, "not reached: {s:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Crossbar's node shuts down when a native worker ends (its default
/// trigger `shutdown_on_worker_exit`; Crossbar's test_cb_apperrors.py
/// `test_log_error_from_subscribe`): a container host that ends by itself
/// is reported, with whether it failed. Not reported: a guest's end, a
/// host whose components could not be set up (status 2: Crossbar's
/// container would have stayed up), a host that its restart policy
/// starts again, and a host the node stopped.
#[test]
fn a_container_that_ends_by_itself_is_reported_and_nothing_else() {
    let container = |id: &str, config: GuestWorker| GuestSpec {
        id: id.into(),
        kind: container::KIND,
        config,
    };
    let mut again = sh("exit 1");
    again.restart = GuestRestart::OnFailed;
    let mut g = Guests::default();
    g.apply(
        vec![
            container("done", sh("exit 0")),
            container("crashed", sh("kill -SEGV $$")),
            container("setup", sh("exit 2")),
            spec("guest", sh("exit 0")),
        ],
        Instant::now(),
    );
    let mut ended = ended_until_all_exited(&mut g);
    ended.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        ended,
        [
            WorkerEnded {
                id: "crashed".into(),
                how: "killed by SIGSEGV".into(),
                failed: true
            },
            WorkerEnded {
                id: "done".into(),
                how: "exit status 0".into(),
                failed: false
            },
        ]
    );
    // Restarted by its policy: not an end.
    let mut g = Guests::default();
    g.apply(vec![container("again", again)], Instant::now());
    let give_up = Instant::now() + Duration::from_secs(5);
    while g.status()[0].exits < 1 {
        assert!(g.step(Instant::now()).is_empty());
        assert!(Instant::now() < give_up, "no exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(g.status()[0].state, WorkerState::Restarting);
    // Stopped by the node: not an end.
    let mut g = Guests::default();
    g.apply(vec![container("box", sh("sleep 30"))], Instant::now());
    g.stop_all(false, Instant::now());
    assert!(ended_until_all_exited(&mut g).is_empty());
}

//! A `junction start` process with its own config, control socket directory
//! and log file, and a minimal blocking RawSocket client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use junction::proto::rawsocket::{self, FrameKind, ServerReply};
use junction::proto::*;
use serde_json::{Value as Json, json};

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A realm where role `anonymous` may do everything.
pub fn realm(name: &str) -> Json {
    json!({"name": name, "roles": [{"name": "anonymous", "permissions": [
        {"uri": "", "match": "prefix",
         "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]})
}

/// A RawSocket transport on 127.0.0.1.
pub fn rawsocket(id: &str, port: u16) -> Json {
    json!({"type": "rawsocket", "id": id,
           "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port}})
}

/// A node config with `realms`, `transports` and the `junction` block.
pub fn config(realms: Vec<Json>, transports: Vec<Json>, junction: Json) -> Json {
    json!({"version": 2, "junction": junction,
           "workers": [{"type": "router", "realms": realms, "transports": transports}]})
}

/// A running node.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub config_path: PathBuf,
    /// `RUNTIME_DIRECTORY` as the test set it.
    run_dir: Option<PathBuf>,
}

impl Node {
    /// Starts `junction start` on `config` (2 shards) and waits until `ports` accept.
    pub fn start(config: &Json, ports: &[u16], extra_args: &[&str], env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.json");
        write_config(&config_path, config);
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_junction"));
        cmd.args(["start", "--config"])
            .arg(&config_path)
            .args(["--shards", "2"])
            .args(extra_args)
            .env("RUNTIME_DIRECTORY", dir.path().join("run"))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd.spawn().expect("junction starts");
        let mut node = Node {
            dir,
            child,
            config_path,
            run_dir: env
                .iter()
                .find(|(k, _)| *k == "RUNTIME_DIRECTORY")
                .map(|(_, v)| PathBuf::from(v)),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ports.iter().all(|p| port_open(*p)) {
            if let Some(status) = node.child.try_wait().expect("wait") {
                panic!("junction exited during startup: {status}\n{}", node.log());
            }
            assert!(Instant::now() < deadline, "no listener:\n{}", node.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        // The control socket is made before the listeners: once a port
        // accepts, it is there. (No port to wait for: wait for the socket.)
        assert!(
            ports.is_empty() || node.socket().exists(),
            "a port accepts but there is no control socket:\n{}",
            node.log()
        );
        while !node.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "no control socket:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// The runtime directory: `RUNTIME_DIRECTORY` when the test set it, else `run` in the node's directory.
    pub fn run_dir(&self) -> PathBuf {
        self.run_dir
            .clone()
            .unwrap_or_else(|| self.dir.path().join("run"))
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.run_dir().join("junction.sock")
    }

    /// What the node logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends `sig` to the node.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill with the child's own PID.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill");
    }

    /// Waits up to `limit` for the node to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `junction <args> --socket <this node's socket>`: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_junction"))
            .args(args)
            .arg("--socket")
            .arg(self.socket())
            .output()
            .expect("junction runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `config` to `path` (atomically: a reload never sees half a file).
pub fn write_config(path: &Path, config: &Json) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).expect("json")).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A blocking RawSocket client (JSON).
pub struct Client {
    stream: TcpStream,
    pub session: SessionId,
}

impl Client {
    /// Connects and joins `realm`.
    pub fn join(port: u16, realm: &str) -> Client {
        let mut c = Client::connect(port);
        match c.request(&Message::Hello(Hello {
            realm: Some(realm.into()),
            details: Dict::new(),
        })) {
            Some(Message::Welcome(w)) => c.session = w.session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
        c
    }

    /// Connects and completes the RawSocket handshake.
    pub fn connect(port: u16) -> Client {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s.write_all(&rawsocket::client_handshake(
            Serializer::Json.rawsocket_id(),
            1 << 24,
        ))
        .expect("handshake");
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).expect("handshake reply");
        assert!(matches!(
            rawsocket::parse_server_handshake(reply),
            Ok(ServerReply::Accepted { .. })
        ));
        Client {
            stream: s,
            session: SessionId(0),
        }
    }

    pub fn send(&mut self, msg: &Message) {
        let payload = Serializer::Json.encode(msg);
        let header = rawsocket::encode_header(FrameKind::Message, payload.len()).expect("size");
        self.stream.write_all(&header).expect("write");
        self.stream.write_all(&payload).expect("write");
    }

    /// The next message, or `None` when the router closed the connection.
    pub fn recv(&mut self) -> Option<Message> {
        loop {
            let mut h = [0u8; 4];
            if self.stream.read_exact(&mut h).is_err() {
                return None;
            }
            let header = rawsocket::decode_header(h).expect("valid header");
            let mut body = vec![0u8; header.len];
            self.stream.read_exact(&mut body).ok()?;
            if header.kind == FrameKind::Message {
                return Some(Serializer::Json.decode(&body).expect("decodes"));
            }
        }
    }

    pub fn request(&mut self, msg: &Message) -> Option<Message> {
        self.send(msg);
        self.recv()
    }

    /// Subscribes to `topic`.
    pub fn subscribe(&mut self, topic: &str) {
        match self.request(&Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: topic.into(),
        })) {
            Some(Message::Subscribed(_)) => {}
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }
}

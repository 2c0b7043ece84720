//! Starting and stopping the service under test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xinsheng"));
    command
        .current_dir(repo_root())
        .env("XINSHENG_LEXICON_DIR", repo_root().join("lexicons"))
        .env("XINSHENG_MODEL_DIR", repo_root().join("models"))
        .env(
            "XINSHENG_ONNXRUNTIME_LIB",
            repo_root().join(".onnxruntime/libonnxruntime.so"),
        )
        .env(
            "XINSHENG_DEMO_FILE",
            repo_root().join("examples/demo_feedback.jsonl"),
        )
        .env("RUST_LOG", "warn");
    command
}

/// The default tenant's admin key in every test service: `Server::start`
/// hands it to the service as `XINSHENG_BOOTSTRAP_KEY`, and `Server::client`
/// sends it on every request. Tests of other keys and tenants send their own
/// `Authorization` header, which replaces this one.
pub const TEST_API_KEY: &str = "xs_test_0123456789abcdef0123456789abcdef";

/// A blocking client that authenticates as [`TEST_API_KEY`].
pub fn authorised_client(timeout: Duration) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {TEST_API_KEY}"))
            .expect("header value"),
    );
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
        .expect("client")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub client: reqwest::blocking::Client,
}

impl Server {
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)], extra_args: &[&str]) -> Server {
        Server::launch(binary(), data_dir, extra_env, extra_args, false).0
    }

    /// Starts the service from `command` (the binary, or a wrapper running
    /// it) with its log (stderr) read line by line into the returned
    /// channel, for tests that act on what the service logs.
    pub fn start_logged(
        command: Command,
        data_dir: &Path,
        extra_env: &[(&str, &str)],
    ) -> (Server, Receiver<String>) {
        let (server, log) = Server::launch(command, data_dir, extra_env, &[], true);
        (server, log.expect("captured log"))
    }

    fn launch(
        mut command: Command,
        data_dir: &Path,
        extra_env: &[(&str, &str)],
        extra_args: &[&str],
        capture_log: bool,
    ) -> (Server, Option<Receiver<String>>) {
        let port = free_port();
        command
            .arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(if capture_log {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .env("XINSHENG_BOOTSTRAP_KEY", TEST_API_KEY)
            // Tests read back thousands of items with one key; the budget
            // itself is tested with keys that carry their own limit.
            .env("XINSHENG_RATE_LIMIT_PER_MINUTE", "0");
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start xinsheng");
        let log = child.stderr.take().map(|stderr| {
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
            receiver
        });
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: authorised_client(Duration::from_secs(30)),
        };
        server.wait_ready(log.as_ref());
        (server, log)
    }

    /// Waits for `/healthz`; a service that exits instead fails the test at
    /// once, with its log when it is captured.
    fn wait_ready(&mut self, log: Option<&Receiver<String>>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let lines: Vec<String> =
                    log.map(|log| log.try_iter().collect()).unwrap_or_default();
                panic!("the service exited with {status} at start: {lines:#?}");
            }
            if let Ok(response) = self.client.get(format!("{}/healthz", self.base)).send() {
                if response.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("service did not become ready at {}", self.base);
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Waits until nothing is pending analysis or projection.
    pub fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let (_, health) = self.get("/healthz");
            // Analysed and indexed, and the derived views (consumer
            // profiles, follow-ups, severe alerts) up to date.
            if health["queue"]["pending"] == 0 && health["projections"]["backlog"] == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("analysis queue did not drain");
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Short reviews covering several tags and both polarities, for tests that
/// need many plausible items.
pub const SAMPLE_REVIEWS: [&str; 8] = [
    "物流很快，但是衣服起球了",
    "尺码偏小，穿不进去",
    "客服态度很差，一直不回消息",
    "橙子很新鲜，很甜",
    "包装破了，漏了一箱",
    "价格便宜，性价比高",
    "屏幕有坏点，申请换货",
    "快递员态度很好，送货上门",
];

/// Unix seconds now: fixtures are dated relative to it.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Percent-encodes every byte, for Chinese in query strings.
pub fn urlencode(text: &str) -> String {
    text.bytes().map(|byte| format!("%{byte:02X}")).collect()
}

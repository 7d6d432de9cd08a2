//! The real `imhub` binary as separate processes, under faults: `kill -9`
//! during a load of signed pushes and while the outbox drains, a receiving
//! end that times out, fails, rate-limits or hangs up, two nodes on one
//! PostgreSQL database, and bad input at the edges.
//!
//! Each test starts its own `imhub serve` processes (SIGKILLed when the test
//! ends, however it ends) on its own database: a SQLite file, or a database
//! in a throwaway PostgreSQL that `imhub_store::testing` starts. Where
//! PostgreSQL is missing the PostgreSQL tests say so loudly and skip, except
//! under `CI=true`, where they fail. The merchant's system at the other end
//! of the custom channel is a raw TCP server in this process, so that it can
//! also stall, answer errors and hang up without answering.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use imhub_server::channels::custom::{sign, verify};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    process::{Child, Command},
    task::{JoinHandle, JoinSet},
};

const SECRET: &str = "process-test-secret-0123";
/// The account every push names (created through the API).
const ACCOUNT: &str = "shop-1";
/// The longest wait for anything a test expects to happen.
const WAIT: Duration = Duration::from_secs(30);
/// The longest any one test may run.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Runs a test body with an overall time limit, so that nothing hangs.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {TEST_LIMIT:?}"));
}

/// Polls `done` every few milliseconds until it holds, failing after [`WAIT`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------- databases and processes ----------

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database in a throwaway PostgreSQL; `None` when PostgreSQL is
/// not installed (the testing module has warned loudly, or failed under CI).
async fn postgres_database() -> Option<String> {
    tokio::task::spawn_blocking(imhub_store::testing::postgres_database)
        .await
        .expect("the database set-up thread panicked")
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// What the processes of one test share: database, scratch directory and
/// settings (`IMHUB_*` variables).
struct Setup {
    db: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Setup {
    /// A scratch directory and a fresh, empty database for one test: a
    /// SQLite file in that directory, or a PostgreSQL database. `None` when
    /// PostgreSQL is missing.
    async fn new(name: &str, backend: Backend, env: &[(&str, &str)]) -> Option<Setup> {
        let dir =
            std::env::temp_dir().join(format!("imhub-processes-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the scratch directory");
        let db = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("imhub.db").display()),
            Backend::Postgres => postgres_database().await?,
        };
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Setup { db, dir, env })
    }

    /// The binary with this test's settings and nothing else: no `IMHUB_*`
    /// from the caller's environment, no `imhub.toml` from a working directory.
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imhub"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IMHUB_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.dir)
            .env("IMHUB_DATABASE_URL", &self.db)
            .env("IMHUB_LOG", "warn")
            // PostgreSQL needs a configured key; every process of the test shares it.
            .env(
                "IMHUB_SECRET_KEY",
                imhub_store::testing::secret_key_base64(),
            )
            .env("IMHUB_INBOX", "false")
            // The tests' receivers listen on loopback, which only the operator can allow.
            .env("IMHUB_OUTBOUND__ALLOW_CIDRS", "127.0.0.0/8")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// `imhub workspace create shop`; returns the admin token it prints.
    async fn create_workspace(&self) -> String {
        let out = tokio::time::timeout(
            WAIT,
            self.command()
                .args(["workspace", "create", "shop"])
                .output(),
        )
        .await
        .expect("`imhub workspace create` hung")
        .expect("cannot run imhub");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "imhub workspace create: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("admin token (shown once): "))
            .unwrap_or_else(|| panic!("no admin token in {stdout:?}"))
            .trim()
            .to_string()
    }

    /// Starts `imhub serve` on a free port and waits until it is ready.
    async fn start(&self, name: &str) -> Node {
        // Another process may take the free port before imhub binds it:
        // then imhub exits, and another port is tried.
        for _ in 0..3 {
            match self.try_start(name).await {
                Ok(node) => return node,
                Err(log) if log.contains("in use") => continue,
                Err(log) => panic!("{name} exited before it was ready:\n{log}"),
            }
        }
        panic!("{name}: no free port after three tries");
    }

    /// One attempt of [`Setup::start`]; the log when imhub exited early.
    async fn try_start(&self, name: &str) -> Result<Node, String> {
        let port = free_port();
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("cannot create the node's log");
        let child = self
            .command()
            .arg("serve")
            .env("IMHUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("IMHUB_NODE_ID", name)
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("cannot start imhub serve");
        let mut node = Node {
            name: name.to_string(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http.get(format!("{}/readyz", node.base)).send().await;
            // Checked after the probe too: a ready answer from a process
            // that took the port is not this node's.
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!("{status}\n{}", node.log_tail()));
            }
            if ready.is_ok_and(|r| r.status() == 200) {
                return Ok(node);
            }
            assert!(
                Instant::now() < deadline,
                "{name} was not ready within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Setup {
    /// Removes the database file and the logs, but keeps them for a look
    /// when the test failed.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("files of the failed test kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One `imhub serve` process; SIGKILLed when dropped, and its log printed
/// when the test is failing.
struct Node {
    name: String,
    child: Child,
    base: String,
    log: PathBuf,
}

impl Node {
    /// `kill -9`, and waits until the process is gone.
    async fn kill_9(&mut self) {
        // On Unix this is SIGKILL: no shutdown handler runs.
        self.child.start_kill().expect("cannot kill the node");
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the killed node did not exit")
            .expect("cannot wait for the node");
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A counter from `/metrics`.
    async fn metric(&self, name: &str) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "---------- last lines of {}'s log ({}) ----------\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

// ---------- the API and the custom channel's pushes ----------

/// The HTTP API of one node, with the workspace's admin token.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(node: &Node, token: &str) -> Api {
        Api {
            http: client(),
            base: node.base.clone(),
            token: token.to_string(),
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API request failed");
        let status = res.status().as_u16();
        let text = res.text().await.expect("API answer");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self
            .call(self.http.get(format!("{}{path}", self.base)))
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.call(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    /// Connects a custom channel with `config` and the account pushes
    /// name; returns the channel's id.
    async fn connect_channel(&self, config: Value) -> i64 {
        let (status, channel) = self
            .post(
                "/api/v1/channels",
                &json!({"platform": "custom", "name": "Website", "config": config}),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        let id = channel["id"].as_i64().expect("channel id");
        let (status, account) = self
            .post(
                "/api/v1/accounts",
                &json!({"channel_id": id, "external_id": ACCOUNT, "name": "Shop"}),
            )
            .await;
        assert_eq!(status, 201, "{account}");
        id
    }

    /// Conversation ids by the contact's id.
    async fn conversations(&self) -> HashMap<String, i64> {
        self.census()
            .await
            .conversations
            .into_iter()
            .map(|c| (c.peer, c.id))
            .collect()
    }

    /// Reply `text` to a conversation with an Idempotency-Key; the message's id.
    async fn reply(&self, conversation: i64, text: &str, key: &str) -> i64 {
        let res = self
            .http
            .post(format!(
                "{}/api/v1/conversations/{conversation}/messages",
                self.base
            ))
            .header("idempotency-key", key)
            .json(&json!({"content": {"type": "text", "text": text}}));
        let (status, message) = self.call(res).await;
        assert_eq!(status, 202, "reply {key}: {message}");
        message["id"].as_i64().expect("message id")
    }

    /// Everything the API lists: every conversation and every message in it.
    async fn census(&self) -> Census {
        let mut census = Census::default();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let query = cursor
                .as_ref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default();
            let page = self
                .get(&format!("/api/v1/conversations?limit=200{query}"))
                .await;
            for c in page["items"].as_array().expect("items") {
                census.conversations.push(Conversation {
                    id: c["id"].as_i64().expect("conversation id"),
                    peer: c["peer_external_id"].as_str().unwrap_or_default().into(),
                    unread: c["unread_count"].as_i64().expect("unread_count"),
                });
            }
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        for c in &census.conversations {
            let mut before: Option<String> = None;
            for _ in 0..1000 {
                let query = before
                    .as_ref()
                    .map(|b| format!("&before={b}"))
                    .unwrap_or_default();
                let page = self
                    .get(&format!(
                        "/api/v1/conversations/{}/messages?limit=200{query}",
                        c.id
                    ))
                    .await;
                for m in page["items"].as_array().expect("items") {
                    census.messages.push(m.clone());
                }
                before = page["next_cursor"].as_str().map(str::to_string);
                if before.is_none() {
                    break;
                }
            }
        }
        census
    }
}

/// An HTTP client that gives up on any one request after 10 s.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

#[derive(Debug)]
struct Conversation {
    id: i64,
    peer: String,
    unread: i64,
}

/// What the API shows after a test: conversations and all their messages.
#[derive(Default)]
struct Census {
    conversations: Vec<Conversation>,
    messages: Vec<Value>,
}

impl Census {
    /// How many stored messages carry each platform message id.
    fn by_platform_id(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for m in &self.messages {
            if let Some(id) = m["platform_message_id"].as_str() {
                *counts.entry(id.to_string()).or_insert(0) += 1;
            }
        }
        counts
    }

    fn unread(&self) -> i64 {
        self.conversations.iter().map(|c| c.unread).sum()
    }

    fn inbound(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m["direction"] == "in")
            .count()
    }

    /// Message by imhub id.
    fn message(&self, id: i64) -> Option<&Value> {
        self.messages.iter().find(|m| m["id"] == id)
    }
}

/// A custom-channel push: contact `c{contact}` writes `text`; event `e{n}`,
/// message `m{n}`.
fn push_body(n: usize, contact: usize, text: &str) -> String {
    json!({
        "event_id": format!("e{n}"),
        "account": {"id": ACCOUNT},
        "contact": {"id": format!("c{contact}"), "nickname": format!("客户{contact}")},
        "message": {"id": format!("m{n}"), "content": {"type": "text", "text": text}},
    })
    .to_string()
}

/// POSTs a signed push to `base`'s custom webhook; the status and the
/// answer, or the transport error (no answer at all).
async fn push(
    http: &reqwest::Client,
    base: &str,
    channel: i64,
    body: Vec<u8>,
) -> Result<(u16, Value), reqwest::Error> {
    let res = http
        .post(format!("{base}/webhooks/custom/{channel}"))
        .header("x-imhub-signature", sign(SECRET, &body))
        .body(body)
        .send()
        .await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Sends every push once, `clients` at a time, push `n` to node
/// `bases[n % bases.len()]`; per push, the status it was answered with, or
/// `None` when no answer came. `acked` counts 2xx answers as they arrive.
async fn load(
    bases: Vec<String>,
    channel: i64,
    bodies: Arc<Vec<String>>,
    clients: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<Option<u16>> {
    let http = client();
    let mut tasks = JoinSet::new();
    for first in 0..clients {
        let (http, bases, bodies, acked) = (
            http.clone(),
            bases.clone(),
            Arc::clone(&bodies),
            Arc::clone(&acked),
        );
        tasks.spawn(async move {
            let mut answers = Vec::new();
            for n in (first..bodies.len()).step_by(clients) {
                let base = &bases[n % bases.len()];
                let answer = push(&http, base, channel, bodies[n].clone().into_bytes())
                    .await
                    .ok()
                    .map(|(status, _)| status);
                if answer.is_some_and(|s| (200..300).contains(&s)) {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                answers.push((n, answer));
            }
            answers
        });
    }
    let mut answers = vec![None; bodies.len()];
    while let Some(done) = tasks.join_next().await {
        for (n, answer) in done.expect("a load client panicked") {
            answers[n] = answer;
        }
    }
    answers
}

/// The first few pushes answered with anything but 2xx, for messages.
fn not_2xx(answers: &[Option<u16>]) -> Vec<(usize, Option<u16>)> {
    answers
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.is_some_and(|s| (200..300).contains(&s)))
        .map(|(n, a)| (n, *a))
        .collect()
}

// ---------- the merchant's system, at the other end of the custom channel ----------

/// One delivery as the receiving end saw it.
#[derive(Debug, Clone)]
struct Arrival {
    message_id: i64,
    /// The `idempotency-key` header.
    key: String,
    /// The body's `client_message_id`.
    client_message_id: String,
    text: String,
    at: Instant,
}

/// What the receiving end has seen: every attempt, and the deliveries it
/// accepted (processed and answered 2xx, whether or not the answer still
/// reached the sender).
#[derive(Default)]
struct Log {
    attempts: Vec<Arrival>,
    accepted: Vec<Arrival>,
    bad_signatures: usize,
}

/// A raw HTTP/1.1 endpoint for the channel's `outbound_url`. It verifies the
/// signature and accepts each delivery after `delay` with 200, unless it is
/// down (503 at once) or the text asks for a fault: `fault:<kind>:<n>` fails
/// the first `n` attempts of that message with `timeout` (stalls past the
/// sender's timeout), `500`, `429` (with `Retry-After: 1`), `close` (hangs
/// up without answering) or `400`.
struct Receiver {
    url: String,
    log: Arc<Mutex<Log>>,
    up: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// How long a `timeout` fault stalls: well past the sender's timeout.
const STALL: Duration = Duration::from_millis(2_000);

/// Arrivals grouped by message, each group in arrival order.
fn by_message(arrivals: &[Arrival]) -> HashMap<i64, Vec<Arrival>> {
    let mut by = HashMap::<i64, Vec<Arrival>>::new();
    for a in arrivals {
        by.entry(a.message_id).or_default().push(a.clone());
    }
    by
}

impl Receiver {
    async fn start(delay: Duration, up: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the receiver");
        let url = format!(
            "http://{}/inbox",
            listener.local_addr().expect("receiver address")
        );
        let log = Arc::new(Mutex::new(Log::default()));
        let up = Arc::new(AtomicBool::new(up));
        let (shared_log, shared_up) = (Arc::clone(&log), Arc::clone(&up));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, up) = (Arc::clone(&shared_log), Arc::clone(&shared_up));
                tokio::spawn(serve_delivery(stream, log, up, delay));
            }
        });
        Receiver { url, log, up, task }
    }

    /// Ends the outage: deliveries are accepted from now on.
    fn come_up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    fn attempts(&self) -> Vec<Arrival> {
        self.log.lock().expect("log").attempts.clone()
    }

    fn accepted(&self) -> Vec<Arrival> {
        self.log.lock().expect("log").accepted.clone()
    }

    fn accepted_count(&self) -> usize {
        self.log.lock().expect("log").accepted.len()
    }

    /// Checks what every delivery must satisfy, whatever the test: a valid
    /// signature, and one idempotency key per message, equal to the body's
    /// `client_message_id` and used by no other message.
    fn assert_keys_are_stable(&self) {
        let log = self.log.lock().expect("log");
        assert_eq!(log.bad_signatures, 0, "deliveries with a bad signature");
        let mut owners = HashMap::new();
        for (message, arrivals) in by_message(&log.attempts) {
            let first = &arrivals[0].key;
            assert!(!first.is_empty(), "message {message} came without a key");
            for a in &arrivals {
                assert_eq!(&a.key, first, "message {message} changed its key");
                assert_eq!(
                    a.key, a.client_message_id,
                    "message {message}: header and body disagree"
                );
            }
            if let Some(other) = owners.insert(first.clone(), message) {
                panic!("messages {other} and {message} share the key {first}");
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_delivery(
    mut stream: TcpStream,
    log: Arc<Mutex<Log>>,
    up: Arc<AtomicBool>,
    delay: Duration,
) {
    let Ok(Some((headers, body))) =
        tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream)).await
    else {
        return;
    };
    let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
    if !verify(SECRET, &body, &header("x-imhub-signature")) {
        log.lock().expect("log").bad_signatures += 1;
        return respond(&mut stream, 401, "", "{}").await;
    }
    let delivery: Value = serde_json::from_slice(&body).unwrap_or_default();
    let arrival = Arrival {
        message_id: delivery["message_id"].as_i64().unwrap_or_default(),
        key: header("idempotency-key"),
        client_message_id: delivery["client_message_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        text: delivery["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        at: Instant::now(),
    };
    let attempt = {
        let mut log = log.lock().expect("log");
        log.attempts.push(arrival.clone());
        log.attempts
            .iter()
            .filter(|a| a.message_id == arrival.message_id)
            .count()
    };
    if !up.load(Ordering::SeqCst) {
        return respond(&mut stream, 503, "", r#"{"error":"down"}"#).await;
    }
    let fault = arrival
        .text
        .strip_prefix("fault:")
        .and_then(|f| f.split_once(':'))
        .filter(|(_, times)| times.parse::<usize>().is_ok_and(|n| attempt <= n))
        .map(|(kind, _)| kind.to_string());
    match fault.as_deref() {
        Some("timeout") => {
            tokio::time::sleep(STALL).await;
            respond(&mut stream, 200, "", "{}").await;
        }
        Some("500") => respond(&mut stream, 500, "", r#"{"error":"overloaded"}"#).await,
        Some("429") => {
            respond(
                &mut stream,
                429,
                "retry-after: 1\r\n",
                r#"{"error":"slow_down"}"#,
            )
            .await
        }
        // Hang up without a word: the sender sees the connection close.
        Some("close") => drop(stream),
        Some("400") => respond(&mut stream, 400, "", r#"{"error":"bad_recipient"}"#).await,
        _ => {
            tokio::time::sleep(delay).await;
            // Accepted once processed, even if the sender is gone by now:
            // that is how a crash mid-send leads to a second delivery.
            log.lock().expect("log").accepted.push(arrival.clone());
            let answer = json!({"id": format!("r-{}", arrival.message_id)}).to_string();
            respond(&mut stream, 200, "", &answer).await;
        }
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body: lower-cased
/// headers and the body.
async fn read_request(stream: &mut TcpStream) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((headers, buf[head_end..head_end + len].to_vec()))
}

async fn respond(stream: &mut TcpStream, status: u16, extra_headers: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
    // The sender may have given up already (a timeout): nothing to do then.
    let _ = stream.write_all(text.as_bytes()).await;
    let _ = stream.shutdown().await;
}

// ---------- kill -9 during an ingest load ----------

async fn kill_9_during_ingest(backend: Backend) {
    const PUSHES: usize = 3_000;
    const CONTACTS: usize = 200;
    const CLIENTS: usize = 32;
    /// Acknowledged pushes before the kill: about a third of the load.
    const KILL_AFTER: usize = 1_000;

    let Some(setup) = Setup::new(&format!("ingest-{backend:?}"), backend, &[]).await else {
        return;
    };
    let token = setup.create_workspace().await;
    let mut node = setup.start("ingest-1").await;
    let channel = Api::new(&node, &token)
        .connect_channel(json!({"secret": SECRET}))
        .await;
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..PUSHES)
            .map(|n| push_body(n, n % CONTACTS, &format!("message {n}")))
            .collect(),
    );

    let acked = Arc::new(AtomicUsize::new(0));
    let running = tokio::spawn(load(
        vec![node.base.clone()],
        channel,
        Arc::clone(&bodies),
        CLIENTS,
        Arc::clone(&acked),
    ));
    wait_until("a third of the pushes are acknowledged", || {
        acked.load(Ordering::SeqCst) >= KILL_AFTER
    })
    .await;
    node.kill_9().await;
    let answers = tokio::time::timeout(WAIT, running)
        .await
        .expect("the load did not end after the kill")
        .expect("the load panicked");
    let acknowledged: Vec<usize> = (0..PUSHES)
        .filter(|&n| answers[n].is_some_and(|s| (200..300).contains(&s)))
        .collect();
    let refused: Vec<_> = not_2xx(&answers)
        .into_iter()
        .filter(|(_, a)| a.is_some())
        .collect();
    assert!(
        refused.is_empty(),
        "a healthy server refused valid pushes: {:?}",
        &refused[..refused.len().min(10)]
    );
    assert!(
        acknowledged.len() < PUSHES,
        "the whole load was acknowledged before the kill; nothing was tested"
    );

    let node = setup.start("ingest-2").await;
    let api = Api::new(&node, &token);
    let census = api.census().await;
    let stored = census.by_platform_id();
    let lost: Vec<&usize> = acknowledged
        .iter()
        .filter(|&&n| stored.get(&format!("m{n}")).copied() != Some(1))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged pushes not stored exactly once after kill -9 (first 10): {lost:?}"
    );
    assert!(stored.values().all(|&c| c == 1), "a push was stored twice");
    assert_eq!(
        census.unread(),
        census.inbound() as i64,
        "unread counts disagree with the stored messages"
    );
    eprintln!(
        "{backend:?}: {} of {PUSHES} pushes acknowledged before kill -9, {} stored \
         (the rest were in flight or never sent)",
        acknowledged.len(),
        census.inbound()
    );

    // The platform retries everything it has no answer for, and more: replay all.
    let answers = load(
        vec![node.base.clone()],
        channel,
        Arc::clone(&bodies),
        CLIENTS,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    let failed = not_2xx(&answers);
    assert!(
        failed.is_empty(),
        "replayed pushes not answered 2xx (first 10): {:?}",
        &failed[..failed.len().min(10)]
    );
    let census = api.census().await;
    let stored = census.by_platform_id();
    assert_eq!(census.inbound(), PUSHES, "messages after the replay");
    assert!(
        (0..PUSHES).all(|n| stored.get(&format!("m{n}")) == Some(&1)),
        "after the replay, a push is missing or doubled"
    );
    assert_eq!(census.unread(), PUSHES as i64);
    assert_eq!(census.conversations.len(), CONTACTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_no_acknowledged_push_on_sqlite() {
    bounded(kill_9_during_ingest(Backend::Sqlite)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_no_acknowledged_push_on_postgres() {
    bounded(kill_9_during_ingest(Backend::Postgres)).await;
}

// ---------- kill -9 while the outbox drains ----------

async fn kill_9_while_the_outbox_drains(backend: Backend) {
    const REPLIES: usize = 300;
    const CONVERSATIONS: usize = 50;
    const CLIENTS: usize = 8;
    /// Sends in flight at once: the most a kill can leave half-done.
    const CONCURRENCY: usize = 4;
    const KILL_AFTER: usize = 100;

    // The receiver is down (503) until every reply is queued, so the drain
    // starts with a full outbox and the kill surely falls in its middle.
    let receiver = Receiver::start(Duration::from_millis(20), false).await;
    let concurrency = CONCURRENCY.to_string();
    let Some(setup) = Setup::new(
        &format!("outbox-{backend:?}"),
        backend,
        &[
            ("IMHUB_DELIVERY__CONCURRENCY", concurrency.as_str()),
            ("IMHUB_DELIVERY__LEASE_SECS", "2"),
            ("IMHUB_DELIVERY__REQUEST_TIMEOUT_MS", "1000"),
            ("IMHUB_DELIVERY__BACKOFF_BASE_MS", "50"),
            ("IMHUB_DELIVERY__BACKOFF_MAX_MS", "300"),
            ("IMHUB_DELIVERY__MAX_ATTEMPTS", "1000"),
        ],
    )
    .await
    else {
        return;
    };
    let token = setup.create_workspace().await;
    let mut node = setup.start("outbox-1").await;
    let api = Api::new(&node, &token);
    let channel = api
        .connect_channel(json!({"secret": SECRET, "outbound_url": receiver.url}))
        .await;
    let http = client();
    for c in 0..CONVERSATIONS {
        let body = push_body(c, c, "你好").into_bytes();
        let (status, answer) = push(&http, &node.base, channel, body).await.expect("push");
        assert_eq!(status, 200, "{answer}");
    }
    let conversations = api.conversations().await;

    // Reply k goes to conversation k % 50. One client queues all the replies
    // of a conversation, one after the other, so their queue order is clear.
    let mut queueing = JoinSet::new();
    for client in 0..CLIENTS {
        let api = api.clone();
        let targets: Vec<(usize, i64)> = (0..REPLIES)
            .filter(|k| (k % CONVERSATIONS) % CLIENTS == client)
            .map(|k| (k, conversations[&format!("c{}", k % CONVERSATIONS)]))
            .collect();
        queueing.spawn(async move {
            let mut ids = Vec::new();
            for (k, conversation) in targets {
                let id = api
                    .reply(conversation, &format!("reply {k}"), &format!("reply-{k}"))
                    .await;
                ids.push((id, conversation));
            }
            ids
        });
    }
    // Message id → conversation id; within a conversation, ids grow in the
    // order the replies were queued.
    let mut queued: HashMap<i64, i64> = HashMap::new();
    while let Some(ids) = queueing.join_next().await {
        queued.extend(ids.expect("a queueing client panicked"));
    }
    assert_eq!(queued.len(), REPLIES);
    assert_eq!(receiver.accepted_count(), 0, "accepted while down");

    receiver.come_up();
    wait_until("a third of the replies were accepted", || {
        receiver.accepted_count() >= KILL_AFTER
    })
    .await;
    node.kill_9().await;
    // Whatever the dead node had sent is processed by now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let accepted_before_restart = receiver.accepted_count();
    assert!(
        accepted_before_restart < REPLIES,
        "the outbox drained before the kill; nothing was tested"
    );

    let node = setup.start("outbox-2").await;
    let api = Api::new(&node, &token);
    wait_until("every queued reply was accepted", || {
        let seen = by_message(&receiver.accepted());
        queued.keys().all(|id| seen.contains_key(id))
    })
    .await;
    let deadline = Instant::now() + WAIT;
    let census = loop {
        let census = api.census().await;
        let pending: Vec<(&i64, Option<&Value>)> = queued
            .keys()
            .map(|id| (id, census.message(*id).map(|m| &m["status"])))
            .filter(|(_, status)| *status != Some(&json!("sent")))
            .collect();
        if pending.is_empty() {
            break census;
        }
        assert!(
            Instant::now() < deadline,
            "replies not sent after the restart (first 10): {:?}",
            &pending[..pending.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    receiver.assert_keys_are_stable();
    let accepted = receiver.accepted();
    let accepted_by_message = by_message(&accepted);
    assert!(
        accepted_by_message.keys().all(|id| queued.contains_key(id)),
        "the receiver got a message nobody queued"
    );
    let repeats: Vec<(i64, usize)> = accepted_by_message
        .iter()
        .filter(|(_, a)| a.len() > 1)
        .map(|(id, a)| (*id, a.len()))
        .collect();
    let extra = accepted.len() - accepted_by_message.len();
    eprintln!(
        "{backend:?}: {accepted_before_restart} of {REPLIES} replies accepted before kill -9; \
         {extra} accepted again after the restart (same idempotency-key, so an idempotent \
         receiver keeps one): {repeats:?}"
    );
    // A repeat is a send that was in flight when the node died: first
    // accepted before the restart, and at most CONCURRENCY were in flight.
    for (id, _) in &repeats {
        let first = accepted
            .iter()
            .position(|a| a.message_id == *id)
            .expect("accepted");
        assert!(
            first < accepted_before_restart,
            "message {id} was accepted twice without being in flight at the kill"
        );
    }
    assert!(
        extra <= CONCURRENCY,
        "{extra} repeats, but at most {CONCURRENCY} sends were in flight"
    );
    // Each conversation's replies were first accepted in the order they
    // were queued, across the kill as well.
    for c in &census.conversations {
        let mut order: Vec<i64> = Vec::new();
        for a in accepted
            .iter()
            .filter(|a| queued.get(&a.message_id) == Some(&c.id))
        {
            if !order.contains(&a.message_id) {
                order.push(a.message_id);
            }
        }
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            order, sorted,
            "conversation {} delivered out of order",
            c.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_outbox_drains_sends_everything_on_sqlite() {
    bounded(kill_9_while_the_outbox_drains(Backend::Sqlite)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_outbox_drains_sends_everything_on_postgres() {
    bounded(kill_9_while_the_outbox_drains(Backend::Postgres)).await;
}

// ---------- faults at the receiving end ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_end_faults_are_retried() {
    bounded(async {
        let receiver = Receiver::start(Duration::ZERO, true).await;
        let setup = Setup::new(
            "faults",
            Backend::Sqlite,
            &[
                ("IMHUB_DELIVERY__REQUEST_TIMEOUT_MS", "500"),
                ("IMHUB_DELIVERY__LEASE_SECS", "2"),
                ("IMHUB_DELIVERY__BACKOFF_BASE_MS", "50"),
                ("IMHUB_DELIVERY__BACKOFF_MAX_MS", "400"),
            ],
        )
        .await
        .expect("SQLite is always there");
        let token = setup.create_workspace().await;
        let node = setup.start("faults").await;
        let api = Api::new(&node, &token);
        let channel = api
            .connect_channel(json!({"secret": SECRET, "outbound_url": receiver.url}))
            .await;
        // (fault, attempts that fail, attempts the receiver sees, final status)
        let cases = [
            ("timeout", 1, 2, "sent"),
            ("500", 2, 3, "sent"),
            ("429", 1, 2, "sent"),
            ("close", 2, 3, "sent"),
            ("400", 99, 1, "failed"),
        ];
        // One conversation per case, so that one case's retries do not hold
        // up another's (replies to one conversation go out in order).
        let http = client();
        for (n, _) in cases.iter().enumerate() {
            let (status, answer) = push(&http, &node.base, channel, push_body(n, n, "hi").into())
                .await
                .expect("push");
            assert_eq!(status, 200, "{answer}");
        }
        let conversations = api.conversations().await;
        let mut messages = Vec::new();
        for (n, (fault, times, _, _)) in cases.iter().enumerate() {
            let text = format!("fault:{fault}:{times}");
            let id = api
                .reply(conversations[&format!("c{n}")], &text, &text)
                .await;
            messages.push(id);
        }

        let deadline = Instant::now() + WAIT;
        let finals: Vec<Value> = loop {
            let mut finals = Vec::new();
            for id in &messages {
                let m = api.get(&format!("/api/v1/messages/{id}")).await;
                if m["status"] == "sent" || m["status"] == "failed" {
                    finals.push(m);
                }
            }
            if finals.len() == messages.len() {
                break finals;
            }
            assert!(
                Instant::now() < deadline,
                "not all replies settled: {finals:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };

        receiver.assert_keys_are_stable();
        let attempts = by_message(&receiver.attempts());
        let accepted = by_message(&receiver.accepted());
        for ((fault, _, tries, status), m) in cases.iter().zip(&finals) {
            let id = m["id"].as_i64().expect("id");
            assert_eq!(m["status"], *status, "{fault}: {m}");
            let seen = attempts.get(&id).map_or(0, Vec::len);
            assert_eq!(seen, *tries, "{fault}: attempts at the receiver");
            let kept = accepted.get(&id).map_or(0, Vec::len);
            assert_eq!(kept, usize::from(*status == "sent"), "{fault}: accepted");
        }
        let failed = &finals[4];
        assert_eq!(failed["error_code"], "http_400", "{failed}");
        // Its status, in words of imhub's own: the receiver's body could
        // carry anything (secrets, markup) and is never copied.
        let text = failed["error_text"].as_str().unwrap_or_default();
        assert!(text.contains("HTTP 400"), "the status is kept: {failed}");
        assert!(!text.contains("bad_recipient"), "the body is not: {failed}");
        // Retry-After: 1 is honoured: the second attempt waits a second.
        let limited = &attempts[&finals[2]["id"].as_i64().expect("id")];
        let waited = limited[1].at - limited[0].at;
        assert!(
            waited >= Duration::from_millis(900),
            "retried after {waited:?}, despite Retry-After: 1"
        );
        assert!(node.metric("imhub_delivery_retries_total").await >= 6);
    })
    .await;
}

// ---------- two nodes on one PostgreSQL database ----------

/// Two `imhub serve` processes on one PostgreSQL database, with a custom
/// channel whose replies go to `outbound_url`.
struct TwoNodes {
    a: Node,
    b: Node,
    token: String,
    channel: i64,
    // Last, so that the nodes are killed before their scratch directory goes.
    _setup: Setup,
}

impl TwoNodes {
    /// `None` where PostgreSQL is missing (after a loud warning).
    async fn start(name: &str, outbound_url: Option<&str>) -> Option<TwoNodes> {
        // A lease long enough that a second send of an entry can only come
        // from a broken lease, never from a takeover.
        let setup = Setup::new(
            name,
            Backend::Postgres,
            &[
                ("IMHUB_DELIVERY__LEASE_SECS", "30"),
                ("IMHUB_DELIVERY__BACKOFF_BASE_MS", "50"),
                ("IMHUB_DELIVERY__CONCURRENCY", "8"),
            ],
        )
        .await?;
        let token = setup.create_workspace().await;
        let (name_a, name_b) = (format!("{name}-a"), format!("{name}-b"));
        let (a, b) = tokio::join!(setup.start(&name_a), setup.start(&name_b));
        let mut config = json!({"secret": SECRET});
        if let Some(url) = outbound_url {
            config["outbound_url"] = json!(url);
        }
        let channel = Api::new(&a, &token).connect_channel(config).await;
        Some(TwoNodes {
            a,
            b,
            token,
            channel,
            _setup: setup,
        })
    }

    fn apis(&self) -> (Api, Api) {
        (
            Api::new(&self.a, &self.token),
            Api::new(&self.b, &self.token),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_behave_as_one() {
    const PUSHES: usize = 400;
    const CONTACTS: usize = 40;
    const REPLIES: usize = 200;
    bounded(async {
        let receiver = Receiver::start(Duration::from_millis(5), true).await;
        let Some(nodes) = TwoNodes::start("two-nodes", Some(&receiver.url)).await else {
            return;
        };
        let (api_a, api_b) = nodes.apis();

        // Pushes land on both nodes, alternately.
        let bodies: Arc<Vec<String>> = Arc::new(
            (0..PUSHES)
                .map(|n| push_body(n, n % CONTACTS, &format!("message {n}")))
                .collect(),
        );
        let answers = load(
            vec![nodes.a.base.clone(), nodes.b.base.clone()],
            nodes.channel,
            bodies,
            16,
            Arc::new(AtomicUsize::new(0)),
        )
        .await;
        let failed = not_2xx(&answers);
        assert!(
            failed.is_empty(),
            "{} pushes not answered 2xx (first 10): {:?}",
            failed.len(),
            &failed[..failed.len().min(10)]
        );
        let census = api_b.census().await;
        assert_eq!(census.inbound(), PUSHES, "each push stored once");
        assert!(census.by_platform_id().values().all(|&c| c == 1));
        assert_eq!(census.unread(), PUSHES as i64);
        assert_eq!(census.conversations.len(), CONTACTS);

        // Replies queued through both nodes, drained by both.
        let conversations = api_a.conversations().await;
        let mut queued = HashSet::new();
        let mut queueing = JoinSet::new();
        for first in 0..8 {
            let (api_a, api_b) = (api_a.clone(), api_b.clone());
            let targets: Vec<(usize, i64)> = (first..REPLIES)
                .step_by(8)
                .map(|k| (k, conversations[&format!("c{}", k % CONTACTS)]))
                .collect();
            queueing.spawn(async move {
                let mut ids = Vec::new();
                for (k, conversation) in targets {
                    let api = if k % 2 == 0 { &api_a } else { &api_b };
                    let text = format!("reply {k}");
                    ids.push(api.reply(conversation, &text, &format!("reply-{k}")).await);
                }
                ids
            });
        }
        while let Some(ids) = queueing.join_next().await {
            queued.extend(ids.expect("a queueing client panicked"));
        }
        assert_eq!(queued.len(), REPLIES);
        wait_until("every reply reached the receiver", || {
            by_message(&receiver.accepted()).len() >= REPLIES
        })
        .await;
        let deadline = Instant::now() + WAIT;
        loop {
            let census = api_a.census().await;
            let sent = queued
                .iter()
                .filter(|id| census.message(**id).is_some_and(|m| m["status"] == "sent"))
                .count();
            if sent == REPLIES {
                break;
            }
            assert!(Instant::now() < deadline, "{sent} of {REPLIES} sent");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Give a wrongly doubled send time to show up before counting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        receiver.assert_keys_are_stable();
        let doubled: Vec<(i64, usize)> = by_message(&receiver.attempts())
            .into_iter()
            .filter(|(_, a)| a.len() > 1)
            .map(|(id, a)| (id, a.len()))
            .collect();
        assert!(doubled.is_empty(), "sent more than once: {doubled:?}");
        assert_eq!(receiver.accepted_count(), REPLIES);
        let (sent_a, sent_b) = (
            nodes.a.metric("imhub_messages_sent_total").await,
            nodes.b.metric("imhub_messages_sent_total").await,
        );
        eprintln!("two nodes: node a sent {sent_a} replies, node b {sent_b}");
        assert_eq!(sent_a + sent_b, REPLIES as u64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_landing_on_two_nodes_at_once_is_stored_once() {
    const PUSHES: usize = 200;
    const CONTACTS: usize = 40;
    bounded(async {
        let Some(nodes) = TwoNodes::start("same-push", None).await else {
            return;
        };
        // A platform retrying through a load balancer: every push reaches
        // both nodes at the same moment.
        let mut clients = JoinSet::new();
        for first in 0..16 {
            let (base_a, base_b, http) = (nodes.a.base.clone(), nodes.b.base.clone(), client());
            let channel = nodes.channel;
            clients.spawn(async move {
                let mut answers = Vec::new();
                for n in (first..PUSHES).step_by(16) {
                    let body = push_body(n, n % CONTACTS, &format!("message {n}"));
                    let (on_a, on_b) = tokio::join!(
                        push(&http, &base_a, channel, body.clone().into_bytes()),
                        push(&http, &base_b, channel, body.into_bytes()),
                    );
                    for answer in [on_a, on_b] {
                        answers.push((n, answer.ok().map(|(status, _)| status)));
                    }
                }
                answers
            });
        }
        let mut failed = Vec::new();
        while let Some(answers) = clients.join_next().await {
            failed.extend(
                answers
                    .expect("a client panicked")
                    .into_iter()
                    .filter(|(_, status)| *status != Some(200)),
            );
        }
        assert!(
            failed.is_empty(),
            "{} of {} answers were not 200 (first 10): {:?}",
            failed.len(),
            2 * PUSHES,
            &failed[..failed.len().min(10)]
        );
        let census = nodes.apis().0.census().await;
        assert_eq!(census.inbound(), PUSHES, "each push stored once");
        assert!(census.by_platform_id().values().all(|&c| c == 1));
        assert_eq!(census.unread(), PUSHES as i64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_client_of_one_node_sees_a_push_ingested_by_another() {
    bounded(async {
        let Some(nodes) = TwoNodes::start("sse", None).await else {
            return;
        };
        let mut events = client()
            .get(format!("{}/api/v1/events", nodes.a.base))
            .bearer_auth(&nodes.token)
            .timeout(WAIT)
            .send()
            .await
            .expect("GET /api/v1/events");
        assert_eq!(events.status(), 200);
        // The first chunk is the `ready` event: the subscription is live.
        let ready = tokio::time::timeout(Duration::from_secs(5), events.chunk())
            .await
            .expect("no ready event")
            .expect("event stream")
            .unwrap_or_default();
        assert!(String::from_utf8_lossy(&ready).contains("ready"));

        let body = push_body(1, 1, "hi").into_bytes();
        let (status, answer) = push(&client(), &nodes.b.base, nodes.channel, body)
            .await
            .expect("push to node b");
        assert_eq!(status, 200, "{answer}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let mut seen = String::new();
        while !seen.contains("message.created") {
            match tokio::time::timeout_at(deadline, events.chunk()).await {
                Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                other => panic!(
                    "node a's SSE client saw no message.created within 2 s of node b's \
                     ingest ({other:?}); seen: {seen:?}"
                ),
            }
        }
    })
    .await;
}

// ---------- bad input at the edges ----------

/// A valid, signed push of exactly `len` bytes (its text padded with `x`).
fn padded_push(n: usize, len: usize) -> Vec<u8> {
    let base = push_body(n, 0, "").len();
    assert!(len > base, "{len} bytes cannot hold a push");
    let body = push_body(n, 0, &"x".repeat(len - base));
    assert_eq!(body.len(), len);
    body.into_bytes()
}

/// A valid reply body of exactly `len` bytes.
fn padded_reply(len: usize) -> Vec<u8> {
    let body = |text: &str| json!({"content": {"type": "text", "text": text}}).to_string();
    let base = body("").len();
    let body = body(&"x".repeat(len - base));
    assert_eq!(body.len(), len);
    body.into_bytes()
}

/// JSON nested `depth` deep inside otherwise valid custom content, so that
/// a parser must descend all the way.
fn deeply_nested_content(depth: usize) -> String {
    format!(
        r#"{{"type":"custom","data":{}1{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_at_the_edges_gets_a_clear_4xx_and_stores_nothing() {
    const LIMIT: usize = 32 * 1024;
    const DEPTH: usize = 10_000;
    bounded(async {
        let receiver = Receiver::start(Duration::ZERO, true).await;
        let limit = LIMIT.to_string();
        let setup = Setup::new(
            "bad-input",
            Backend::Sqlite,
            &[("IMHUB_MAX_BODY_BYTES", limit.as_str())],
        )
        .await
        .expect("SQLite is always there");
        let token = setup.create_workspace().await;
        let node = setup.start("bad-input").await;
        let api = Api::new(&node, &token);
        let channel = api
            .connect_channel(json!({"secret": SECRET, "outbound_url": receiver.url,
                "max_text_chars": LIMIT}))
            .await;
        let http = client();
        let webhook = |body: Vec<u8>| push(&http, &node.base, channel, body);

        // Webhooks: exactly at the limit is fine; one byte over is 413.
        let (status, answer) = webhook(padded_push(1, LIMIT)).await.expect("push");
        assert_eq!(status, 200, "a push of exactly the limit: {answer}");
        let (status, answer) = webhook(padded_push(2, LIMIT + 1)).await.expect("push");
        assert_eq!((status, &answer["code"]), (413, &json!("body_too_large")));
        // The same without a content-length: the limit holds for a stream too.
        let over = padded_push(3, LIMIT + 1);
        let status = chunked_post(
            &node.base,
            &format!("/webhooks/custom/{channel}"),
            &sign(SECRET, &over),
            &over,
        )
        .await;
        assert_eq!(status, 413, "a chunked body over the limit");

        // Signed, so that the body reaches the parser.
        let mut invalid_utf8 = push_body(4, 4, "bad byte: #").into_bytes();
        let hash = invalid_utf8
            .iter()
            .position(|&b| b == b'#')
            .expect("placeholder");
        invalid_utf8[hash] = 0xff;
        let deep = format!(
            r#"{{"event_id":"e5","account":{{"id":"{ACCOUNT}"}},"contact":{{"id":"c5"}},"message":{{"id":"m5","content":{}}}}}"#,
            deeply_nested_content(DEPTH)
        );
        let deep_array = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
        for (what, body) in [
            ("invalid UTF-8", invalid_utf8),
            ("10,000-deep content", deep.into_bytes()),
            ("10,000-deep array", deep_array.into_bytes()),
        ] {
            let (status, answer) = webhook(body).await.expect("push");
            assert_eq!(
                (status, &answer["code"]),
                (400, &json!("malformed_push")),
                "{what}"
            );
        }

        let census = api.census().await;
        assert_eq!(
            census.conversations.len(),
            1,
            "only the valid push is stored"
        );
        assert_eq!(
            census.by_platform_id(),
            HashMap::from([("m1".to_string(), 1)]),
            "only the push at the limit is stored"
        );
        assert_eq!(node.metric("imhub_pushes_accepted_total").await, 1);

        // The API: the same edges on a reply.
        let conversation = census.conversations[0].id;
        let path = format!("/api/v1/conversations/{conversation}/messages");
        let (status, answer) = api.post_raw(&path, padded_reply(LIMIT)).await;
        assert_eq!(status, 202, "a reply of exactly the limit: {answer}");
        let (status, answer) = api.post_raw(&path, padded_reply(LIMIT + 1)).await;
        assert_eq!((status, &answer["code"]), (413, &json!("body_too_large")));
        let deep_reply = format!(r#"{{"content":{}}}"#, deeply_nested_content(DEPTH));
        for (what, body) in [
            (
                "invalid UTF-8",
                b"{\"content\":{\"type\":\"text\",\"text\":\"\xff\"}}".to_vec(),
            ),
            ("10,000-deep content", deep_reply.into_bytes()),
        ] {
            let (status, answer) = api.post_raw(&path, body).await;
            assert_eq!(
                (status, &answer["code"]),
                (400, &json!("malformed_json")),
                "{what}"
            );
        }
        let census = api.census().await;
        assert_eq!(
            census.messages.len(),
            2,
            "the push and the reply at the limit, nothing else"
        );
        let health = reqwest::get(format!("{}/healthz", node.base))
            .await
            .expect("healthz");
        assert_eq!(health.status(), 200, "the server survived all of it");
    })
    .await;
}

/// POSTs `body` in 1000-byte chunks (`transfer-encoding: chunked`, no
/// content-length) over a plain TCP connection; the answer's status.
async fn chunked_post(base: &str, path: &str, signature: &str, body: &[u8]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\n\
             x-imhub-signature: {signature}\r\nconnection: close\r\n\r\n"
        );
        let mut request = head.into_bytes();
        for chunk in body.chunks(1000) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(&request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"))
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the chunked request hung")
}

// ---------- automation (issue 13): kill -9 between commit and delivery ----------

/// Pushes that match a keyword rule are acknowledged (their automatic
/// replies committed with them) while the receiver is down, the node is
/// killed with the replies still in the outbox, and after the restart each
/// conversation gets exactly one automatic reply; the same pushes again
/// add none.
async fn kill_9_before_an_automatic_reply_is_delivered(backend: Backend) {
    const PUSHES: usize = 20;
    let receiver = Receiver::start(Duration::from_millis(5), false).await;
    let Some(setup) = Setup::new(
        &format!("automation-{backend:?}"),
        backend,
        &[
            ("IMHUB_DELIVERY__LEASE_SECS", "2"),
            ("IMHUB_DELIVERY__BACKOFF_BASE_MS", "50"),
            ("IMHUB_DELIVERY__BACKOFF_MAX_MS", "300"),
            ("IMHUB_DELIVERY__MAX_ATTEMPTS", "1000"),
        ],
    )
    .await
    else {
        return;
    };
    let token = setup.create_workspace().await;
    let mut node = setup.start("auto-1").await;
    let api = Api::new(&node, &token);
    let channel = api
        .connect_channel(json!({"secret": SECRET, "outbound_url": receiver.url}))
        .await;
    let (status, rule) = api
        .post(
            "/api/v1/automation/rules",
            &json!({"name": "退款", "trigger": {"type": "keywords", "match": "contains_any",
                    "keywords": ["退款"]},
                    "actions": [{"type": "reply", "text": "退款请在订单页申请"}]}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let http = client();
    let bodies: Vec<String> = (0..PUSHES).map(|n| push_body(n, n, "我要退款")).collect();
    for body in &bodies {
        let (status, answer) = push(&http, &node.base, channel, body.clone().into_bytes())
            .await
            .expect("push");
        assert_eq!(status, 200, "{answer}");
    }
    node.kill_9().await;
    assert_eq!(receiver.accepted_count(), 0, "accepted while down");

    receiver.come_up();
    let node = setup.start("auto-1").await;
    let api = Api::new(&node, &token);
    wait_until("every automatic reply was accepted", || {
        receiver.accepted_count() >= PUSHES
    })
    .await;
    // The platform delivers every push again: nothing new is answered.
    for body in &bodies {
        let (status, _) = push(&http, &node.base, channel, body.clone().into_bytes())
            .await
            .expect("push");
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    receiver.assert_keys_are_stable();
    let accepted = by_message(&receiver.accepted());
    assert_eq!(accepted.len(), PUSHES, "one reply per push");
    assert!(
        accepted
            .values()
            .all(|a| a.len() == 1 && a[0].text == "退款请在订单页申请"),
        "{accepted:?}"
    );
    let census = api.census().await;
    let automatic: Vec<&Value> = census
        .messages
        .iter()
        .filter(|m| m["sender_kind"] == "automation")
        .collect();
    assert_eq!(automatic.len(), PUSHES);
    assert!(automatic.iter().all(|m| m["rule_id"] == rule["id"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_before_an_automatic_reply_is_delivered_sends_it_once_on_sqlite() {
    bounded(kill_9_before_an_automatic_reply_is_delivered(
        Backend::Sqlite,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_before_an_automatic_reply_is_delivered_sends_it_once_on_postgres() {
    bounded(kill_9_before_an_automatic_reply_is_delivered(
        Backend::Postgres,
    ))
    .await;
}

// ---------- platform rate limits across nodes ----------

/// The Tencent app of the rate-limit tests.
const TENCENT_APP: u64 = 1_400_000_777;
const TENCENT_KEY: &str = "5e1f9b3d7a2c46e8b0d4f6a8c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0";
const TENCENT_ADMIN: &str = "administrator";
const TENCENT_TOKEN: &str = "rate-limit-callback-token";
/// The Tencent per-app limit of these tests (the sandbox's and imhub's).
const TENCENT_LIMIT: u32 = 50;

/// What the sandbox saw of one run: sendmsg calls per Unix second, and the
/// seconds in which a node was killed and came back.
struct LimitedRun {
    seconds: Vec<imhub_sandbox::tencent::SecondCount>,
    killed_at: Option<u64>,
    back_at: Option<u64>,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Two nodes on one PostgreSQL send a backlog of Tencent replies through
/// the sandbox, which enforces the per-app limit per Unix second and counts
/// every call (the judge). With `kill`, node a is killed with SIGKILL once
/// a quarter is sent and started again two seconds later. Stops when
/// everything is sent, or, with `stop_when_over`, at the first second over
/// the limit. `None` where PostgreSQL is missing.
async fn two_nodes_send_a_tencent_backlog(
    name: &str,
    env: &[(&str, &str)],
    kill: bool,
    stop_when_over: bool,
) -> Option<LimitedRun> {
    const CUSTOMERS: usize = 120;
    const REPLIES: usize = TENCENT_LIMIT as usize * 16;
    let mut sandbox =
        imhub_sandbox::tencent::TencentSandbox::new(TENCENT_APP, TENCENT_KEY, TENCENT_ADMIN)
            .config()
            .clone();
    sandbox.callback_token = Some(TENCENT_TOKEN.into());
    sandbox.rate_per_sec = TENCENT_LIMIT;
    let sb = imhub_sandbox::tencent::TencentSandbox::with_config(sandbox);
    sb.import_account(ACCOUNT);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("sandbox port");
    let sandbox_url = format!("http://{}", listener.local_addr().expect("sandbox address"));
    let app = imhub_sandbox::tencent::router(sb.clone());
    let _sandbox = AbortOnDrop(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));

    let limit = TENCENT_LIMIT.to_string();
    let mut all_env = vec![
        ("IMHUB_PLATFORMS__TENCENT__BASE_URL", sandbox_url.as_str()),
        ("IMHUB_DELIVERY__APP_RATE_LIMITS__TENCENT", limit.as_str()),
        ("IMHUB_DELIVERY__BACKOFF_BASE_MS", "50"),
        ("IMHUB_DELIVERY__CONCURRENCY", "32"),
    ];
    all_env.extend_from_slice(env);
    let setup = Setup::new(name, Backend::Postgres, &all_env).await?;
    let token = setup.create_workspace().await;
    let (name_a, name_b) = (format!("{name}-a"), format!("{name}-b"));
    let (mut a, b) = tokio::join!(setup.start(&name_a), setup.start(&name_b));
    let (api_a, api_b) = (Api::new(&a, &token), Api::new(&b, &token));
    let (status, channel) = api_a
        .post(
            "/api/v1/channels",
            &json!({"platform": "tencent", "name": "小程序客服", "config": {
                "sdkappid": TENCENT_APP, "key": TENCENT_KEY, "identifier": TENCENT_ADMIN,
                "callback_token": TENCENT_TOKEN, "merchant_accounts": [ACCOUNT]}}),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    let webhook = channel["webhook_url"]
        .as_str()
        .expect("webhook_url")
        .to_string();
    for c in 0..CUSTOMERS {
        let (_, answer) = sb
            .customer_sends_text(&webhook, &format!("customer-{c}"), ACCOUNT, "在吗？")
            .await
            .expect("callback to imhub");
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let conversations: Vec<i64> = api_a.conversations().await.into_values().collect();
    assert_eq!(conversations.len(), CUSTOMERS);

    // Replies queued through both nodes, round-robin over the
    // conversations: a backlog of 16 seconds at the limit.
    let mut queueing = JoinSet::new();
    for first in 0..8 {
        let (api_a, api_b, conversations) = (api_a.clone(), api_b.clone(), conversations.clone());
        queueing.spawn(async move {
            for k in (first..REPLIES).step_by(8) {
                let api = if k % 2 == 0 { &api_a } else { &api_b };
                let conversation = conversations[k % conversations.len()];
                api.reply(conversation, &format!("回复 {k}"), &format!("limit-{k}"))
                    .await;
            }
        });
    }
    while let Some(done) = queueing.join_next().await {
        done.expect("a queueing client panicked");
    }
    let sent = || sb.c2c_messages().iter().filter(|m| m.via_rest).count();
    let over = || {
        sb.calls_per_second("openim/sendmsg")
            .iter()
            .any(|s| s.calls > TENCENT_LIMIT)
    };
    let (mut killed_at, mut back_at) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent() < REPLIES {
        if stop_when_over && over() {
            break;
        }
        if kill && killed_at.is_none() && sent() >= REPLIES / 4 {
            a.kill_9().await;
            killed_at = Some(unix_secs());
            tokio::time::sleep(Duration::from_secs(2)).await;
            a = setup.start(&name_a).await;
            back_at = Some(unix_secs());
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {REPLIES} replies reached the sandbox",
            sent()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything still in flight lands before the count is read.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop((a, b));
    Some(LimitedRun {
        seconds: sb.calls_per_second("openim/sendmsg"),
        killed_at,
        back_at,
    })
}

/// Aborts a spawned task when dropped (the sandbox's server).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The sandbox's seconds as a table, for the failure message and the log.
fn seconds_table(run: &LimitedRun) -> String {
    run.seconds
        .iter()
        .map(|s| {
            let mark = if Some(s.second) == run.killed_at {
                "  <- node a killed (kill -9)"
            } else if Some(s.second) == run.back_at {
                "  <- node a back"
            } else {
                ""
            };
            format!(
                "  {} {:>4} calls {:>4} refused{mark}",
                s.second, s.calls, s.refused
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_limit_holds_across_two_nodes_through_a_kill_9_and_a_restart() {
    bounded(async {
        let Some(run) = two_nodes_send_a_tencent_backlog("rate-shared", &[], true, false).await
        else {
            return;
        };
        let table = seconds_table(&run);
        eprintln!("sendmsg calls per second at the sandbox (limit {TENCENT_LIMIT}):\n{table}");
        for s in &run.seconds {
            assert!(
                s.calls <= TENCENT_LIMIT && s.refused == 0,
                "second {} held {} calls ({} refused), over the limit of {TENCENT_LIMIT}:\n{table}",
                s.second,
                s.calls,
                s.refused
            );
        }
        assert!(run.killed_at.is_some() && run.back_at.is_some());
        // The seconds between the first and the last (both partial) used
        // the limit while there was work, the kill and restart included.
        let inner = &run.seconds[1..run.seconds.len().saturating_sub(1)];
        let used: u32 = inner.iter().map(|s| s.calls).sum();
        let share = f64::from(used) / (inner.len().max(1) as f64 * f64::from(TENCENT_LIMIT));
        eprintln!(
            "limit used over {} full seconds: {:.1}%",
            inner.len(),
            share * 100.0
        );
        assert!(
            share >= 0.85,
            "only {:.1}% of the limit used:\n{table}",
            share * 100.0
        );
    })
    .await;
}

/// The judge has teeth: with each node counting on its own, two nodes send
/// more than the limit in some second, and the test above would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shared_count_two_nodes_pass_the_tencent_limit() {
    bounded(async {
        let Some(run) = two_nodes_send_a_tencent_backlog(
            "rate-local",
            &[("IMHUB_DELIVERY__SHARED_RATE_LIMITS", "false")],
            false,
            true,
        )
        .await
        else {
            return;
        };
        let table = seconds_table(&run);
        eprintln!("sendmsg calls per second, each node counting alone:\n{table}");
        assert!(
            run.seconds.iter().any(|s| s.calls > TENCENT_LIMIT),
            "no second over {TENCENT_LIMIT}: the judge would not have caught a per-node limit:\n{table}"
        );
    })
    .await;
}

//! No secret in logs, API answers or stored texts. Every platform and the
//! custom channel is configured with secrets of its own, then made to fail
//! every way it can: the platform (or the merchant's receiver) never
//! answers, refuses the connection, answers 503 or garbage (both echoing
//! the whole request back, secrets in the query string and body included,
//! as a misbehaving proxy would), or answers with the platform's own error
//! code. Afterwards every log line, every API answer the test received and
//! every stored row (error texts, account state reasons, raw events…) is
//! searched for each secret.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, Direction, InboundEvent, InboundMessage, Peer,
    Role, Timestamp, WorkspaceId,
};
use imhub_server::Config;
use imhub_store::{ConversationFilter, PushRecord, SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

const DOUYIN_CLIENT_SECRET: &str = "DY-CLIENT-SECRET-a81c";
const DOUYIN_WEBHOOK_SECRET: &str = "DY-WEBHOOK-SECRET-5f02";
const DOUYIN_ACCESS_TOKEN: &str = "act.DY-ACCESS-TOKEN-77de";
const DOUYIN_REFRESH_TOKEN: &str = "rft.DY-REFRESH-TOKEN-3b9a";
const TENCENT_KEY: &str = "TC-USERSIG-KEY-c4e1";
const TENCENT_CALLBACK_TOKEN: &str = "TC-CALLBACK-TOKEN-0d5b";
const MEITUAN_APP_SECRET: &str = "MT-APP-SECRET-e6f3";
const MEITUAN_ACCESS_TOKEN: &str = "MT-ACCESS-TOKEN-91aa";
const CUSTOM_SECRET: &str = "CUSTOM-HMAC-SECRET-28c7";

const SECRETS: &[&str] = &[
    DOUYIN_CLIENT_SECRET,
    DOUYIN_WEBHOOK_SECRET,
    DOUYIN_ACCESS_TOKEN,
    DOUYIN_REFRESH_TOKEN,
    TENCENT_KEY,
    TENCENT_CALLBACK_TOKEN,
    MEITUAN_APP_SECRET,
    MEITUAN_ACCESS_TOKEN,
    CUSTOM_SECRET,
];

// ---------- every log line of this test binary ----------

#[derive(Clone)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line at debug level for imhub's crates (more than a
/// production server writes) and info for the libraries below them.
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs(Arc::default());
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,imhub=debug,imhub_server=debug,imhub_store=debug,imhub_douyin=debug,\
                 imhub_tencent=debug,imhub_meituan=debug",
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        logs
    })
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

// ---------- the far end, failing ----------

/// How the platforms (and the custom channel's receiver) fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Accept the connection and never answer.
    Hang,
    /// Nobody listens.
    Refused,
    /// 503 with the whole request echoed in the body.
    Unavailable,
    /// 200 with a body that is not what the platform sends, echoing the request.
    Garbage,
    /// The platform's own error answer.
    PlatformError,
}

/// The platform's error answer for a request path.
fn platform_error(path: &str) -> String {
    if path.contains("/v4/") {
        json!({"ActionStatus": "FAIL", "ErrorCode": 70001, "ErrorInfo": "UserSig expired"})
            .to_string()
    } else if path.contains("/api/v1/") {
        json!({"data": "ng", "error": {"code": 703, "msg": "签名验证错误"}}).to_string()
    } else if path.contains("/inbox") {
        json!({"error": "rejected"}).to_string()
    } else {
        json!({"err_no": 28001003, "err_msg": "access_token无效", "log_id": "x"}).to_string()
    }
}

/// Reads one HTTP request (head and a body of `Content-Length` bytes).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(text);
            }
        }
        if buf.len() > 1 << 20 {
            return Some(text);
        }
    }
}

/// Every request a failing server received.
type Requests = Arc<Mutex<Vec<String>>>;

/// A server that fails every request as `failure` says; its base URL. The
/// custom channel's receiver (`/inbox`) answers 400 with the echo instead
/// of 200 garbage, and 422 for an error, since any 2xx is a delivery there.
async fn failing_server(failure: Failure) -> (String, Requests) {
    let requests = Requests::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if failure == Failure::Refused {
        // Nothing listens once the listener is gone.
        drop(listener);
        return (format!("http://{addr}"), requests);
    }
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let Some(request) = read_request(&mut stream).await else {
                    return;
                };
                seen.lock().unwrap().push(request.clone());
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let (status, body) = match failure {
                    Failure::Hang => {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        return;
                    }
                    Failure::Unavailable => ("503 Service Unavailable", request.clone()),
                    Failure::Garbage if path.starts_with("/inbox") => {
                        ("400 Bad Request", format!("<html>{request}</html>"))
                    }
                    Failure::Garbage => ("200 OK", format!("<html>{request}</html>")),
                    Failure::PlatformError if path.starts_with("/inbox") => {
                        ("422 Unprocessable Entity", platform_error(&path))
                    }
                    Failure::PlatformError => ("200 OK", platform_error(&path)),
                    Failure::Refused => unreachable!(),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), requests)
}

// ---------- imhub with one channel of each kind ----------

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    ws: WorkspaceId,
    /// Every answer the API gave, for the search at the end.
    answers: Mutex<Vec<String>>,
    /// What the failing far end received.
    requests: Requests,
}

impl Harness {
    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.bearer_auth(&self.token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        self.answers.lock().unwrap().push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn create(&self, path: &str, body: Value) -> i64 {
        let (status, created) = self.post(path, body).await;
        assert_eq!(status, 201, "{path}: {created}");
        created["id"].as_i64().unwrap()
    }
}

/// One channel of a platform, its account and a conversation to answer.
struct Line {
    platform: &'static str,
    channel: i64,
    account: i64,
    conversation: i64,
}

async fn start(url: String, failure: Failure) -> (Harness, Vec<Line>) {
    logs();
    let (far, requests) = failing_server(failure).await;
    let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.delivery.backoff_base_ms = 20;
    config.delivery.backoff_max_ms = 50;
    config.delivery.max_attempts = 2;
    config.delivery.request_timeout_ms = 700;
    config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
    config.outbound.connect_timeout_ms = 700;
    config.outbound.max_timeout_ms = 1_000;
    config.platforms.douyin.base_url = Some(far.clone());
    config.platforms.tencent.base_url = Some(far.clone());
    config.platforms.meituan.base_url = Some(format!("{far}/api/v1/"));
    let running = imhub_server::start(config, store.clone(), std::future::pending())
        .await
        .unwrap();
    let ws = store.create_workspace("shop").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
        .await
        .unwrap();
    let h = Harness {
        base: format!("http://{}", running.addr),
        http: reqwest::Client::new(),
        store,
        token,
        ws,
        answers: Mutex::default(),
        requests,
    };
    let channels = [
        (
            "douyin",
            json!({"client_key": "dy-key", "client_secret": DOUYIN_CLIENT_SECRET,
                   "webhook_secret": DOUYIN_WEBHOOK_SECRET, "request_timeout_secs": 1}),
            "dy-open-merchant",
            "dy-open-customer",
        ),
        (
            "tencent",
            json!({"sdkappid": 1400000001u64, "key": TENCENT_KEY, "identifier": "administrator",
                   "callback_token": TENCENT_CALLBACK_TOKEN}),
            "staff-1",
            "user-1",
        ),
        (
            "meituan",
            json!({"app_id": "4321", "app_secret": MEITUAN_APP_SECRET,
                   "access_token": MEITUAN_ACCESS_TOKEN}),
            "shop-1",
            "123456",
        ),
        (
            "custom",
            json!({"secret": CUSTOM_SECRET, "outbound_url": format!("{far}/inbox")}),
            "site-1",
            "visitor-1",
        ),
    ];
    let mut lines = Vec::new();
    for (platform, config, account, customer) in channels {
        let channel = h
            .create(
                "/api/v1/channels",
                json!({"platform": platform, "name": platform, "config": config}),
            )
            .await;
        let account_id = h
            .create(
                "/api/v1/accounts",
                json!({"channel_id": channel, "external_id": account, "name": account}),
            )
            .await;
        if platform == "douyin" {
            let now = Timestamp::now().millis();
            let tokens = json!({
                "open_id": account,
                "access_token": DOUYIN_ACCESS_TOKEN,
                "access_expires_at": now + 86_400_000,
                "refresh_token": DOUYIN_REFRESH_TOKEN,
                "refresh_expires_at": now + 20 * 86_400_000,
                "scope": "im",
            });
            h.store
                .put_channel_state(
                    ChannelId(channel),
                    &format!("douyin.user_tokens.{account}"),
                    &tokens.to_string(),
                )
                .await
                .unwrap();
        }
        let conversation = customer_writes(&h, ChannelId(channel), account, customer).await;
        lines.push(Line {
            platform,
            channel,
            account: account_id,
            conversation,
        });
    }
    (h, lines)
}

/// A customer message, recorded as if its push had been verified.
async fn customer_writes(h: &Harness, channel: ChannelId, account: &str, customer: &str) -> i64 {
    let now = Timestamp::now().millis();
    let event = InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: account.into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: customer.into(),
            nickname: None,
            avatar: None,
        }),
        direction: Direction::In,
        platform_message_id: format!("in-{account}"),
        content: Content::Text {
            text: "在吗".into(),
        },
        sent_at: Timestamp(now),
        reply_context: Some(json!({
            "msg_id": format!("srv-{account}"),
            "conversation_id": format!("conv-{account}"),
            "create_time": now,
            "order_id": 27_001_234_567_890_123i64,
        })),
    });
    h.store
        .record_push(
            h.ws,
            PushRecord {
                channel_id: channel,
                event_key: None,
                body: b"{}".to_vec(),
                received_at: Timestamp(now),
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    let conversations = h
        .store
        .list_conversations(
            h.ws,
            ConversationFilter {
                limit: 50,
                ..ConversationFilter::default()
            },
        )
        .await
        .unwrap();
    conversations
        .iter()
        .find(|c| c.channel_id == channel)
        .map(|c| c.id.0)
        .unwrap()
}

/// Every stored row, read with raw SQL beside the store.
async fn stored_rows(store: &SqlStore) -> String {
    store
        .read_raw(|db| {
            use imhub_store::db::{Dialect, Value};
            let list = match db.dialect() {
                Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
                Dialect::Postgres => {
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'"
                }
            };
            let mut out = String::new();
            for table in db.query(list, &[])? {
                let table = table.text(0)?;
                for row in db.query(&format!("SELECT * FROM \"{table}\""), &[])? {
                    for value in row.0 {
                        match value {
                            Value::Text(t) => out.push_str(&t),
                            Value::Blob(b) => out.push_str(&String::from_utf8_lossy(&b)),
                            other => out.push_str(&format!("{other:?}")),
                        }
                        out.push('\n');
                    }
                }
            }
            Ok(out)
        })
        .await
        .unwrap()
}

/// Replies on every line, waits until each failed, calls every route that
/// reaches a platform, then searches everything for every secret.
async fn every_failure_keeps_every_secret(url: String, failure: Failure) {
    let (h, lines) = start(url, failure).await;
    let mut messages = Vec::new();
    for line in &lines {
        let (status, sent) = h
            .post(
                &format!("/api/v1/conversations/{}/messages", line.conversation),
                json!({"content": {"type": "text", "text": "您好"}}),
            )
            .await;
        assert_eq!(status, 202, "{}: {sent}", line.platform);
        messages.push((line.platform, sent["id"].as_i64().unwrap()));
    }
    // Routes that call the platform right away, and what a tenant reads.
    let douyin = &lines[0];
    for path in [
        format!("/api/v1/douyin/channels/{}/card-templates", douyin.channel),
        format!("/api/v1/douyin/accounts/{}/groups/quota", douyin.account),
        format!("/api/v1/douyin/accounts/{}/groups", douyin.account),
        format!("/api/v1/douyin/accounts/{}/join-requests", douyin.account),
        format!("/api/v1/douyin/accounts/{}/lead-cards", douyin.account),
        format!("/api/v1/meituan/channels/{}/status", lines[2].channel),
    ] {
        let (status, _) = h.get(&path).await;
        assert!(status >= 400, "{failure:?} {path}: {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    for (platform, id) in &messages {
        loop {
            let (_, message) = h.get(&format!("/api/v1/messages/{id}")).await;
            if message["status"] == "failed" {
                assert!(
                    message["error_text"]
                        .as_str()
                        .is_some_and(|t| !t.is_empty())
                        || message["error_code"].as_str().is_some(),
                    "{failure:?} {platform}: failed without a reason: {message}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{failure:?} {platform}: still {} after 40 s: {message}",
                message["status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for path in [
        "/api/v1/channels".to_string(),
        "/api/v1/accounts".to_string(),
        "/api/v1/conversations".to_string(),
    ]
    .into_iter()
    .chain(lines.iter().flat_map(|l| {
        [
            format!("/api/v1/channels/{}", l.channel),
            format!("/api/v1/accounts/{}", l.account),
            format!("/api/v1/conversations/{}", l.conversation),
            format!("/api/v1/conversations/{}/messages", l.conversation),
        ]
    })) {
        let (status, _) = h.get(&path).await;
        assert_eq!(status, 200, "{path}");
    }

    // The test means something only if secrets did travel to the far end
    // (and, where it echoes, back), and if logs were captured.
    if matches!(failure, Failure::Unavailable | Failure::Garbage) {
        let received = h.requests.lock().unwrap().join("\n");
        assert!(
            received.contains(MEITUAN_ACCESS_TOKEN) && received.contains(DOUYIN_CLIENT_SECRET),
            "{failure:?}: the far end never saw a secret to echo"
        );
    }
    assert!(!log_text().is_empty(), "no log line was captured");
    let answers = h.answers.lock().unwrap().join("\n");
    let rows = stored_rows(&h.store).await;
    let logged = log_text();
    let mut leaks = Vec::new();
    for secret in SECRETS {
        for (place, text) in [
            ("log", &logged),
            ("API answer", &answers),
            ("stored row", &rows),
        ] {
            if let Some(at) = text.find(secret) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(160)
                    .map_or(0, |(i, _)| i);
                let to = (at + secret.len() + 80).min(text.len());
                let to = (to..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                leaks.push(format!("{secret} in a {place}: …{}…", &text[from..to]));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{failure:?}: secrets leaked:\n{}",
        leaks.join("\n")
    );
}

macro_rules! failures {
    ($($name:ident => $failure:expr),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::every_failure_keeps_every_secret(
                    imhub_store::testing::sqlite_database(),
                    $failure,
                )
                .await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = tokio::task::spawn_blocking(imhub_store::testing::postgres_database)
                    .await
                    .unwrap()
                else {
                    return;
                };
                super::every_failure_keeps_every_secret(url, $failure).await
            })*
        }
    };
}

failures!(
    no_secret_leaks_when_the_far_end_never_answers => super::Failure::Hang,
    no_secret_leaks_when_the_connection_is_refused => super::Failure::Refused,
    no_secret_leaks_when_the_far_end_answers_503_echoing_the_request => super::Failure::Unavailable,
    no_secret_leaks_when_the_far_end_answers_garbage_echoing_the_request => super::Failure::Garbage,
    no_secret_leaks_when_the_platform_answers_its_error_code => super::Failure::PlatformError,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_answers_never_show_configured_secrets() {
    let (h, lines) = start(testing::sqlite_database(), Failure::PlatformError).await;
    for line in &lines {
        let (status, channel) = h.get(&format!("/api/v1/channels/{}", line.channel)).await;
        assert_eq!(status, 200);
        let text = channel.to_string();
        for secret in SECRETS {
            assert!(!text.contains(secret), "{}: {text}", line.platform);
        }
    }
}

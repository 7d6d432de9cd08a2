//! Alerts through imhub's API and engine, on SQLite and on PostgreSQL,
//! against fake robots on 127.0.0.1 (allowed by the operator's
//! `outbound.allow_cidrs`) that check each request exactly as their
//! platform documents it and answer like it: 企业微信 (`key` in the URL,
//! `msgtype` text/markdown, `errcode` 93000 for a wrong key), 飞书
//! (`timestamp` in seconds and `sign` in the body; sign = Base64 of
//! HMAC-SHA256 keyed with `timestamp + "\n" + secret` over nothing; `code`
//! 19021 otherwise), 钉钉 (`timestamp` in milliseconds and the URL-encoded
//! `sign` in the query; sign = Base64 of HMAC-SHA256 keyed with the secret
//! over `timestamp + "\n" + secret`; `errcode` 310000 otherwise) and a
//! generic webhook checking imhub's signature. The checks here are written
//! from the platforms' documentation, not with imhub's own signing code.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use imhub_core::{
    AccountRef, ContactInfo, Content, Direction, InboundEvent, InboundMessage, Peer, Platform,
    Role, Timestamp,
    alerts::{Alert, AlertRule},
};
use imhub_server::Config;
use imhub_store::{PushRecord, SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};
use sha2::Sha256;

const WECOM_KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
const FEISHU_SECRET: &str = "feishu-sign-secret";
const DINGTALK_SECRET: &str = "SEC0123456789abcdef";
const HOOK_SECRET: &str = "whsec_alerts_0123456789";

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn now_ms() -> i64 {
    Timestamp::now().millis()
}

/// What the fake robots received (accepted and refused alike).
#[derive(Clone, Default)]
struct Robots {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    /// Answers 503 this many more times on the webhook.
    webhook_failures: Arc<Mutex<u32>>,
    /// When the 企业微信 robot took each message, for its 20-a-minute limit.
    wecom_sends: Arc<Mutex<Vec<Instant>>>,
    /// Messages the 企业微信 robot refused with 45009 (over its limit).
    wecom_over_limit: Arc<Mutex<u32>>,
}

impl Robots {
    fn accepted(&self, kind: &str) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn record(&self, kind: &str, body: Value) {
        self.seen.lock().unwrap().push((kind.to_string(), body));
    }
}

/// 企业微信 group robot: the key in the URL, `msgtype` text or markdown.
async fn wecom(
    State(robots): State<Robots>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if query.get("key").map(String::as_str) != Some(WECOM_KEY) {
        return Json(json!({"errcode": 93000,
            "errmsg": "invalid webhook url, hint: [1700000000_1_abc], from ip: 127.0.0.1"}));
    }
    let content = match body["msgtype"].as_str() {
        Some("text") => body["text"]["content"].as_str(),
        Some("markdown") => body["markdown"]["content"].as_str(),
        _ => return Json(json!({"errcode": 40008, "errmsg": "invalid message type"})),
    };
    {
        // 20 messages a minute per robot, as 企业微信 documents.
        let mut sends = robots.wecom_sends.lock().unwrap();
        sends.retain(|t| t.elapsed() < Duration::from_secs(60));
        if sends.len() >= 20 {
            *robots.wecom_over_limit.lock().unwrap() += 1;
            return Json(json!({"errcode": 45009,
                "errmsg": "api freq out of limit, hint: [1700000000_2_def]"}));
        }
        sends.push(Instant::now());
    }
    match content {
        Some(c) if !c.is_empty() && c.len() <= 4096 => {
            robots.record("wecom", body.clone());
            Json(json!({"errcode": 0, "errmsg": "ok"}))
        }
        _ => Json(json!({"errcode": 44004, "errmsg": "text content is empty"})),
    }
}

/// 飞书 custom bot with 签名校验.
async fn feishu(State(robots): State<Robots>, Json(body): Json<Value>) -> Json<Value> {
    let fail = Json(json!({"code": 19021, "data": {},
        "msg": "sign match fail or timestamp is not within one hour from current time"}));
    let Some(ts) = body["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<i64>().ok())
        .or_else(|| body["timestamp"].as_i64())
    else {
        return fail;
    };
    if (now_ms() / 1000 - ts).abs() > 3600 {
        return fail;
    }
    // The KEY is timestamp + "\n" + secret; the message is empty.
    let expected = STANDARD.encode(hmac(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b""));
    if body["sign"].as_str() != Some(expected.as_str()) {
        return fail;
    }
    if body["msg_type"] != "text" || body["content"]["text"].as_str().is_none_or(str::is_empty) {
        return Json(json!({"code": 9499, "data": {}, "msg": "Bad Request"}));
    }
    robots.record("feishu", body.clone());
    Json(
        json!({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {},
        "msg": "success"}),
    )
}

/// 钉钉 custom robot with 加签.
async fn dingtalk(
    State(robots): State<Robots>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let fail = Json(json!({"errcode": 310000,
        "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}));
    let (Some(ts), Some(sign)) = (
        query.get("timestamp").and_then(|t| t.parse::<i64>().ok()),
        query.get("sign"),
    ) else {
        return fail;
    };
    if (now_ms() - ts).abs() > 3_600_000 {
        return fail;
    }
    // Key: the secret; message: timestamp + "\n" + secret. The query
    // decoding already undid the URL encoding.
    let expected = STANDARD.encode(hmac(
        DINGTALK_SECRET.as_bytes(),
        format!("{ts}\n{DINGTALK_SECRET}").as_bytes(),
    ));
    if sign != &expected {
        return fail;
    }
    let ok = match body["msgtype"].as_str() {
        Some("text") => body["text"]["content"].is_string(),
        Some("markdown") => {
            body["markdown"]["title"].is_string() && body["markdown"]["text"].is_string()
        }
        _ => false,
    };
    if !ok {
        return Json(json!({"errcode": 40035, "errmsg": "缺少参数 json"}));
    }
    robots.record("dingtalk", body.clone());
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

/// A merchant's server checking imhub's outgoing-webhook signature.
async fn webhook(State(robots): State<Robots>, headers: HeaderMap, body: Bytes) -> StatusCode {
    {
        let mut failures = robots.webhook_failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let ts = header("x-imhub-timestamp");
    let mut signed = ts.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac(HOOK_SECRET.as_bytes(), &signed))
    );
    if header("x-imhub-signature") != expected || header("x-imhub-event") != "alert" {
        return StatusCode::UNAUTHORIZED;
    }
    robots.record(
        "webhook",
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    );
    StatusCode::NO_CONTENT
}

async fn start_robots() -> (String, Robots) {
    let robots = Robots::default();
    let app = Router::new()
        .route("/cgi-bin/webhook/send", post(wecom))
        .route("/open-apis/bot/v2/hook/{token}", post(feishu))
        .route("/robot/send", post(dingtalk))
        .route("/hook", post(webhook))
        .with_state(robots.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), robots)
}

struct Harness {
    base: String,
    robots_url: String,
    robots: Robots,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    ws: imhub_core::WorkspaceId,
    token: String,
    agent_token: String,
    other_token: String,
}

impl Harness {
    async fn start(url: String) -> Harness {
        let (robots_url, robots) = start_robots().await;
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let other = store.create_workspace("other").await.unwrap().id;
        let issue = |ws, role| {
            let store = store.clone();
            async move {
                imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", role)
                    .await
                    .unwrap()
            }
        };
        Harness {
            base: format!("http://{}", running.addr),
            robots_url,
            robots,
            http: reqwest::Client::new(),
            token: issue(ws, Role::Admin).await,
            agent_token: issue(ws, Role::Agent).await,
            other_token: issue(other, Role::Admin).await,
            store,
            ws,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, &self.token, Some(body))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, &self.token, None)
            .await
    }

    async fn target(&self, body: Value) -> i64 {
        let (status, target) = self.post("/api/v1/alert-targets", body).await;
        assert_eq!(status, 201, "{target}");
        target["id"].as_i64().unwrap()
    }

    fn wecom_url(&self, key: &str) -> String {
        format!("{}/cgi-bin/webhook/send?key={key}", self.robots_url)
    }

    fn feishu_url(&self) -> String {
        format!("{}/open-apis/bot/v2/hook/2f1d7d9a-hook", self.robots_url)
    }

    fn dingtalk_url(&self) -> String {
        format!("{}/robot/send?access_token=ding-token", self.robots_url)
    }

    async fn settings(&self, throttle_minutes: i64, digest_seconds: i64) {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                "/api/v1/alert-settings",
                &self.token,
                Some(
                    json!({"breach_minutes": 3, "throttle_minutes": throttle_minutes,
                    "digest_seconds": digest_seconds, "silence_hours": 6}),
                ),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Waits until `kind`'s robot has accepted `n` messages.
    async fn wait_for(&self, kind: &str, n: usize, within: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let got = self.robots.accepted(kind);
            if got.len() >= n || started.elapsed() > within {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::start(super::testing::sqlite_database()).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = super::testing::postgres_database() else { return };
                super::$name(super::Harness::start(url).await).await
            })*
        }
    };
}

both_backends!(
    each_robot_accepts_its_documented_format_from_the_test_button,
    a_robots_own_error_answer_is_shown_on_the_target,
    bad_input_is_refused_with_stable_codes,
    a_breach_reaches_the_robot_once_per_throttle_window,
    alerts_close_together_reach_the_robot_as_one_digest,
    a_refused_delivery_is_retried_until_the_receiver_takes_it,
    a_robot_never_gets_more_than_its_limit_a_minute,
);

async fn each_robot_accepts_its_documented_format_from_the_test_button(h: Harness) {
    let wecom = h
        .target(
            json!({"kind": "wecom", "name": "企业微信值班群", "url": h.wecom_url(WECOM_KEY),
            "rules": ["breach"]}),
        )
        .await;
    let wecom_md = h
        .target(json!({"kind": "wecom", "name": "企业微信 markdown",
            "url": h.wecom_url(WECOM_KEY), "format": "markdown", "rules": ["breach"]}))
        .await;
    let feishu = h
        .target(
            json!({"kind": "feishu", "name": "飞书群", "url": h.feishu_url(),
            "secret": FEISHU_SECRET, "rules": ["new_lead"]}),
        )
        .await;
    let dingtalk = h
        .target(
            json!({"kind": "dingtalk", "name": "钉钉群", "url": h.dingtalk_url(),
            "secret": DINGTALK_SECRET, "format": "markdown", "rules": ["reply_failed"]}),
        )
        .await;
    let hook = h
        .target(json!({"kind": "webhook", "name": "CRM",
            "url": format!("{}/hook", h.robots_url), "secret": HOOK_SECRET,
            "rules": ["channel_silent"]}))
        .await;
    for id in [wecom, wecom_md, feishu, dingtalk, hook] {
        let (status, outcome) = h
            .post(&format!("/api/v1/alert-targets/{id}/test"), json!({}))
            .await;
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["ok"], true, "{outcome}");
        let (_, shown) = h.get(&format!("/api/v1/alert-targets/{id}")).await;
        assert_eq!(shown["last_result"]["ok"], true, "{shown}");
        assert_eq!(shown["secret_set"], id != wecom && id != wecom_md);
    }
    let wecom_bodies = h.robots.accepted("wecom");
    assert_eq!(wecom_bodies[0]["msgtype"], "text");
    assert!(
        wecom_bodies[0]["text"]["content"]
            .as_str()
            .unwrap()
            .contains("imhub 提醒")
    );
    assert_eq!(wecom_bodies[1]["msgtype"], "markdown");
    let (_, outcome) = h
        .post(&format!("/api/v1/alert-targets/{feishu}/test"), json!({}))
        .await;
    // The robot's own answer comes back as it was.
    assert_eq!(outcome["code"], 0);
    assert_eq!(outcome["answer"]["StatusMessage"], "success");
    assert_eq!(h.robots.accepted("dingtalk")[0]["msgtype"], "markdown");
    assert_eq!(h.robots.accepted("webhook")[0]["type"], "alert");
    // The key in the URL is a credential: the API never shows it.
    let (_, list) = h.get("/api/v1/alert-targets").await;
    let text = list.to_string();
    assert!(!text.contains(WECOM_KEY), "{text}");
    assert!(
        !text.contains(FEISHU_SECRET) && !text.contains("ding-token"),
        "{text}"
    );
    assert!(!text.contains("2f1d7d9a-hook"), "{text}");
    assert!(text.contains("/open-apis/bot/v2/hook/***"), "{text}");
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
}

async fn a_robots_own_error_answer_is_shown_on_the_target(h: Harness) {
    let cases = [
        (
            json!({"kind": "feishu", "name": "f", "url": h.feishu_url(), "secret": "wrong"}),
            19021,
            "sign match fail",
        ),
        (
            json!({"kind": "dingtalk", "name": "d", "url": h.dingtalk_url(), "secret": "SECwrong"}),
            310000,
            "sign not match",
        ),
        (
            json!({"kind": "wecom", "name": "w", "url": h.wecom_url("not-the-key")}),
            93000,
            "invalid webhook url",
        ),
        // 飞书 with 签名校验 on, but no secret given: no sign at all.
        (
            json!({"kind": "feishu", "name": "f2", "url": h.feishu_url()}),
            19021,
            "sign match fail",
        ),
    ];
    for (body, code, message) in cases {
        let id = h.target(body).await;
        let (status, outcome) = h
            .post(&format!("/api/v1/alert-targets/{id}/test"), json!({}))
            .await;
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["ok"], false, "{outcome}");
        assert_eq!(outcome["code"], code, "{outcome}");
        assert!(
            outcome["message"].as_str().unwrap().starts_with(message),
            "{outcome}"
        );
        let (_, shown) = h.get(&format!("/api/v1/alert-targets/{id}")).await;
        assert_eq!(shown["last_result"]["code"], code, "{shown}");
        assert_eq!(shown["last_result"]["ok"], false);
    }
    assert!(h.robots.accepted("feishu").is_empty());
}

async fn bad_input_is_refused_with_stable_codes(h: Harness) {
    let cases = [
        (
            json!({"kind": "slack", "name": "x", "url": h.wecom_url(WECOM_KEY)}),
            "unknown_kind",
        ),
        (
            json!({"kind": "wecom", "name": "x", "url": h.wecom_url(WECOM_KEY), "rules": ["everything"]}),
            "unknown_rule",
        ),
        (
            json!({"kind": "wecom", "name": "x",
                "url": "http://169.254.169.254/cgi-bin/webhook/send?key=k"}),
            "target_not_allowed",
        ),
        (
            json!({"kind": "dingtalk", "name": "x", "url": "http://10.0.0.8/robot/send?access_token=t"}),
            "target_not_allowed",
        ),
        (
            json!({"kind": "wecom", "name": "x", "url": "ftp://robot/x"}),
            "invalid_request",
        ),
        (
            json!({"kind": "wecom", "name": "x", "url": h.wecom_url(WECOM_KEY), "secret": "s"}),
            "invalid_request",
        ),
        (
            json!({"kind": "webhook", "name": "x", "url": format!("{}/hook", h.robots_url)}),
            "invalid_request",
        ),
        (
            json!({"kind": "wecom", "name": " ", "url": h.wecom_url(WECOM_KEY)}),
            "invalid_request",
        ),
        (
            json!({"kind": "wecom", "name": "x", "url": h.wecom_url(WECOM_KEY), "format": "html"}),
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let (status, problem) = h.post("/api/v1/alert-targets", body.clone()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some(code)),
            "{body}: {problem}"
        );
    }
    let id = h
        .target(json!({"kind": "wecom", "name": "x", "url": h.wecom_url(WECOM_KEY)}))
        .await;
    // A URL refused by the guard on change too.
    let (status, problem) = h
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/alert-targets/{id}"),
            &h.token,
            Some(json!({"url": "http://[::1]/cgi-bin/webhook/send?key=k"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("target_not_allowed"))
    );
    // Another workspace's target does not exist for it.
    for (method, path) in [
        (reqwest::Method::GET, format!("/api/v1/alert-targets/{id}")),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/alert-targets/{id}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/alert-targets/{id}"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/alert-targets/{id}/test"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/alert-targets/{id}/deliveries"),
        ),
    ] {
        let (status, problem) = h
            .call(method.clone(), &path, &h.other_token, Some(json!({})))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("not_found")),
            "{method} {path}"
        );
    }
    // Agents may not read or change alert targets.
    let (status, problem) = h
        .call(
            reqwest::Method::GET,
            "/api/v1/alert-targets",
            &h.agent_token,
            None,
        )
        .await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
    let (status, problem) = h
        .call(
            reqwest::Method::PUT,
            "/api/v1/alert-settings",
            &h.token,
            Some(
                json!({"breach_minutes": 0, "throttle_minutes": 10, "digest_seconds": 60,
                "silence_hours": 6}),
            ),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
    // Changes keep the rest; the secret stays write-only.
    let (status, changed) = h
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/alert-targets/{id}"),
            &h.token,
            Some(json!({"name": "夜班", "rules": ["breach", "reply_failed"], "enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "夜班");
    assert_eq!(changed["rules"], json!(["breach", "reply_failed"]));
    assert_eq!(changed["enabled"], false);
    let (status, _) = h
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/alert-targets/{id}"),
            &h.token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = h.get(&format!("/api/v1/alert-targets/{id}")).await;
    assert_eq!(status, 404);
}

/// A customer's message, recorded as a verified push would be.
async fn customer_writes(
    h: &Harness,
    channel: imhub_core::ChannelId,
    id: &str,
) -> imhub_core::ConversationId {
    let recorded = h
        .store
        .record_push(
            h.ws,
            PushRecord {
                channel_id: channel,
                event_key: Some(format!("e-{id}")),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![InboundEvent::Message(InboundMessage {
                    account: AccountRef {
                        external_id: "acc-1".into(),
                        name: None,
                    },
                    peer: Peer::Direct(ContactInfo {
                        external_id: "c-1".into(),
                        nickname: Some("张三".into()),
                        avatar: None,
                    }),
                    direction: Direction::In,
                    platform_message_id: id.into(),
                    content: Content::Text {
                        text: "在吗".into(),
                    },
                    sent_at: Timestamp::now(),
                    reply_context: None,
                })],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    recorded
        .changes
        .iter()
        .find_map(|c| match c {
            imhub_store::Change::MessageCreated {
                conversation_id, ..
            } => Some(*conversation_id),
            _ => None,
        })
        .unwrap()
}

/// Fires the breach timers that are due by `by`, now (as the timer engine
/// does once their time has come).
async fn breach_time_comes(h: &Harness, by: Timestamp) -> usize {
    let timers = h.store.lease_timers("test", by, 60_000, 100).await.unwrap();
    let mut fired = 0;
    for timer in timers
        .iter()
        .filter(|t| t.kind == imhub_store::alerts::BREACH)
    {
        h.store.fire_timer(timer, Timestamp::now()).await.unwrap();
        fired += 1;
    }
    fired
}

async fn a_breach_reaches_the_robot_once_per_throttle_window(h: Harness) {
    h.settings(30, 0).await;
    h.target(
        json!({"kind": "dingtalk", "name": "钉钉值班", "url": h.dingtalk_url(),
        "secret": DINGTALK_SECRET, "rules": ["breach"]}),
    )
    .await;
    let channel = h
        .store
        .create_channel(h.ws, Platform::Custom, "官网", &json!({"secret": "s"}))
        .await
        .unwrap();
    h.store
        .create_account(h.ws, channel.id, "acc-1", "旗舰店")
        .await
        .unwrap();
    let conversation = customer_writes(&h, channel.id, "m1").await;
    let later = Timestamp::now().plus_millis(26 * 3_600_000);
    assert_eq!(breach_time_comes(&h, later).await, 1);
    let got = h.wait_for("dingtalk", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let text = got[0]["text"]["content"].as_str().unwrap();
    assert!(
        text.contains("客户等待超时：张三 · 自定义渠道 · 旗舰店"),
        "{text}"
    );
    // The agent answers, the customer writes again and waits again: the
    // second breach within the 30 minutes is not sent.
    h.store
        .enqueue_message(
            h.ws,
            imhub_store::NewOutbound {
                conversation_id: conversation,
                content: Content::Text {
                    text: "您好".into(),
                },
                idempotency_key: None,
                request_hash: String::new(),
                author_id: None,
            },
        )
        .await
        .unwrap();
    customer_writes(&h, channel.id, "m2").await;
    assert_eq!(breach_time_comes(&h, later).await, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.robots.accepted("dingtalk").len(), 1);
}

async fn alerts_close_together_reach_the_robot_as_one_digest(h: Harness) {
    h.settings(0, 2).await;
    h.target(
        json!({"kind": "feishu", "name": "飞书", "url": h.feishu_url(),
        "secret": FEISHU_SECRET, "rules": ["reply_failed"]}),
    )
    .await;
    for i in 0..4 {
        let n = h
            .store
            .raise_alert(
                h.ws,
                Alert {
                    rule: AlertRule::ReplyFailed,
                    at: Timestamp::now(),
                    subject: format!("客户{i}"),
                    detail: "reply_window_closed".into(),
                    conversation_id: None,
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    let got = h.wait_for("feishu", 2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let first = got[0]["content"]["text"].as_str().unwrap();
    assert!(
        first.starts_with("imhub 提醒\n回复发送失败：客户0"),
        "{first}"
    );
    let digest = got[1]["content"]["text"].as_str().unwrap();
    assert!(
        digest.starts_with("imhub 提醒（3 条）\n1. 回复发送失败：客户1"),
        "{digest}"
    );
    assert!(digest.contains("3. 回复发送失败：客户3"), "{digest}");
}

async fn a_refused_delivery_is_retried_until_the_receiver_takes_it(h: Harness) {
    h.settings(0, 0).await;
    *h.robots.webhook_failures.lock().unwrap() = 1;
    let id = h
        .target(
            json!({"kind": "webhook", "name": "CRM", "url": format!("{}/hook", h.robots_url),
            "secret": HOOK_SECRET, "rules": ["needs_reauthorization"]}),
        )
        .await;
    h.store
        .raise_alert(
            h.ws,
            Alert {
                rule: AlertRule::NeedsReauthorization,
                at: Timestamp::now(),
                subject: "抖音 · 旗舰店".into(),
                detail: "授权已失效".into(),
                conversation_id: None,
            },
            None,
        )
        .await
        .unwrap();
    // First attempt: 503, kept pending with the status.
    let started = Instant::now();
    let deliveries = loop {
        let (_, list) = h
            .get(&format!("/api/v1/alert-targets/{id}/deliveries"))
            .await;
        if list["items"][0]["attempts"] == 1 || started.elapsed() > Duration::from_secs(10) {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let first = &deliveries["items"][0];
    assert_eq!(first["status"], "pending", "{deliveries}");
    assert_eq!(first["last_status"], 503);
    assert!(first["next_attempt_at"].is_i64() || first["next_attempt_at"].is_string());
    let (_, shown) = h.get(&format!("/api/v1/alert-targets/{id}")).await;
    assert_eq!(shown["last_result"]["http_status"], 503);
    // The retry (backoff 5–10 s) gets through and is signed as documented.
    let got = h.wait_for("webhook", 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["alerts"][0]["rule"], "needs_reauthorization");
    let started = Instant::now();
    loop {
        let (_, list) = h
            .get(&format!("/api/v1/alert-targets/{id}/deliveries"))
            .await;
        if list["items"][0]["status"] == "delivered" {
            assert_eq!(list["items"][0]["attempts"], 2);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_robot_never_gets_more_than_its_limit_a_minute(h: Harness) {
    h.settings(0, 0).await;
    let id = h
        .target(
            json!({"kind": "wecom", "name": "企业微信", "url": h.wecom_url(WECOM_KEY),
            "rules": ["reply_failed"]}),
        )
        .await;
    for i in 0..25 {
        h.store
            .raise_alert(
                h.ws,
                Alert {
                    rule: AlertRule::ReplyFailed,
                    at: Timestamp::now(),
                    subject: format!("客户{i}"),
                    detail: String::new(),
                    conversation_id: None,
                },
                None,
            )
            .await
            .unwrap();
    }
    let got = h.wait_for("wecom", 20, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 20);
    // The other five wait for the minute to pass instead of being refused.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.robots.accepted("wecom").len(), 20);
    assert_eq!(*h.robots.wecom_over_limit.lock().unwrap(), 0);
    let (_, list) = h
        .get(&format!("/api/v1/alert-targets/{id}/deliveries"))
        .await;
    let pending: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "pending")
        .collect();
    assert_eq!(pending.len(), 5, "{list}");
    assert!(pending.iter().all(|d| d["attempts"] == 0), "{list}");
}

//! The HTTP API and the custom channel end to end: a real server on a real
//! database, a real receiver for outbound messages, real HTTP.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use imhub_core::Role;
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const SECRET: &str = "a-very-secret-secret";

#[path = "api/limits.rs"]
mod limits;
/// The guarded outbound client, end to end.
#[path = "api/outbound.rs"]
mod outbound;
/// Random and mutated requests to every platform's webhook.
#[path = "api/webhook_properties.rs"]
mod webhook_properties;

/// What the merchant's own system (the custom channel's receiver) got.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    /// Status codes to answer, in order; 200 once they run out.
    script: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("x-imhub-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !imhub_server::channels::custom::verify(SECRET, &body, signature) {
        return StatusCode::UNAUTHORIZED;
    }
    let status = {
        let mut script = r.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    if status == 200 {
        r.bodies
            .lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap());
    }
    StatusCode::from_u16(status).unwrap()
}

/// The receiver, listening on `ip` (any address of 127.0.0.0/8 is local).
async fn start_receiver_on(ip: &str) -> (String, Receiver) {
    let receiver = Receiver::default();
    let app = Router::new()
        .route("/inbox", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/inbox"), receiver)
}

struct Harness {
    state: imhub_server::AppState,
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    ws: imhub_core::WorkspaceId,
    receiver: Receiver,
    channel: i64,
}

impl Harness {
    async fn start(url: String) -> Harness {
        Harness::start_configured(url, "127.0.0.1", |_| {}).await
    }

    /// A harness with the test settings changed by `configure`, its
    /// receiver listening on `receiver_ip` (which the operator must allow).
    async fn start_configured(
        url: String,
        receiver_ip: &str,
        configure: impl FnOnce(&mut Config),
    ) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 64 * 1024,
            ..Config::default()
        };
        config.delivery.backoff_base_ms = 20;
        config.delivery.backoff_max_ms = 100;
        config.delivery.max_attempts = 4;
        // The test receivers listen on loopback, which only the operator can allow.
        config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        configure(&mut config);
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let (outbound_url, receiver) = start_receiver_on(receiver_ip).await;
        let mut h = Harness {
            state: running.state.clone(),
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            token,
            ws,
            receiver,
            channel: 0,
        };
        let channel = h
            .post(
                "/api/v1/channels",
                json!({"platform": "custom", "name": "Website",
                "config": {"secret": SECRET, "outbound_url": outbound_url}}),
            )
            .await;
        assert_eq!(channel.0, 201, "{:?}", channel.1);
        h.channel = channel.1["id"].as_i64().unwrap();
        let account = h
            .post(
                "/api/v1/accounts",
                json!({"channel_id": h.channel, "external_id": "shop-1", "name": "Shop"}),
            )
            .await;
        assert_eq!(account.0, 201, "{:?}", account.1);
        h
    }

    async fn sqlite() -> Harness {
        Harness::start(testing::sqlite_database()).await
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.bearer_auth(&self.token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
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

    /// POSTs a push to the custom webhook, signed unless `signature` is given.
    async fn push_raw(&self, body: &[u8], signature: Option<&str>) -> (u16, Value) {
        let sig = signature
            .map(str::to_string)
            .unwrap_or_else(|| sign(SECRET, body));
        let res = self
            .http
            .post(format!("{}/webhooks/custom/{}", self.base, self.channel))
            .header("x-imhub-signature", sig)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn push(&self, event: &str, contact: &str, message: &str, text: &str) -> (u16, Value) {
        let body = json!({
            "event_id": event,
            "account": {"id": "shop-1"},
            "contact": {"id": contact, "nickname": format!("客户{contact}")},
            "message": {"id": message, "content": {"type": "text", "text": text}},
        });
        self.push_raw(body.to_string().as_bytes(), None).await
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/conversations").await;
        assert_eq!(status, 200, "{body:?}");
        body["items"].as_array().unwrap().clone()
    }

    async fn message_status_becomes(&self, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, m) = self.get(&format!("/api/v1/messages/{id}")).await;
            if m["status"] == want {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "message {id} stayed {m:?}, wanted {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn newcomer_flow(h: Harness) {
    let (status, body) = h.push("e1", "u1", "m1", "你好，在吗？").await;
    assert_eq!(status, 200, "{body:?}");
    let list = h.conversations().await;
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(c["unread_count"], 1);
    assert_eq!(c["title"], "客户u1");
    assert_eq!(c["last_message_preview"], "你好，在吗？");
    let id = c["id"].as_i64().unwrap();
    let (status, read) = h
        .post(&format!("/api/v1/conversations/{id}/read"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["unread_count"], 0);
    let (status, reply) = h
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({"content": {"type": "text", "text": "在的！"}}),
        )
        .await;
    assert_eq!(status, 202, "{reply:?}");
    assert_eq!(reply["status"], "queued");
    let sent = h
        .message_status_becomes(reply["id"].as_i64().unwrap(), "sent")
        .await;
    assert!(sent["platform_message_id"].is_string());
    let got = h.receiver.bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "message");
    assert_eq!(got[0]["account_id"], "shop-1");
    assert_eq!(got[0]["peer_id"], "u1");
    assert_eq!(got[0]["content"], json!({"type": "text", "text": "在的！"}));
    let (_, page) = h.get(&format!("/api/v1/conversations/{id}/messages")).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["direction"], "out", "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_flow_on_sqlite() {
    newcomer_flow(Harness::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_flow_on_postgres() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    newcomer_flow(Harness::start(url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_401_and_stores_nothing() {
    let h = Harness::sqlite().await;
    let body = json!({"event_id": "e1", "account": {"id": "shop-1"}, "contact": {"id": "u"},
        "message": {"id": "m", "content": {"type": "text", "text": "x"}}})
    .to_string();
    let (status, problem) = h
        .push_raw(
            body.as_bytes(),
            Some(&sign("wrong-secret-wrong", body.as_bytes())),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "bad_signature");
    let (status, _) = h.push_raw(body.as_bytes(), Some("sha256=00")).await;
    assert_eq!(status, 401);
    assert!(h.conversations().await.is_empty());
    assert!(
        h.store
            .list_raw_events(h.ws, "processed", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversize_and_misdirected_pushes_get_clear_errors() {
    let h = Harness::sqlite().await;
    let (status, problem) = h.push_raw(b"{not json", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("malformed_push"))
    );
    let (status, _) = h.push_raw(&[0xff, 0xfe, 0x00], None).await;
    assert_eq!(status, 400, "invalid UTF-8");
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let (status, _) = h.push_raw(deep.as_bytes(), None).await;
    assert_eq!(status, 400, "deeply nested JSON");
    let big = vec![b'a'; 64 * 1024 + 1];
    let (status, problem) = h.push_raw(&big, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("body_too_large"))
    );
    for path in [
        "/webhooks/custom/999999",
        "/webhooks/douyin/1",
        "/webhooks/nope/1",
        "/webhooks/custom/abc",
    ] {
        let res = h
            .http
            .post(format!("{}{path}", h.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    assert!(h.conversations().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_push_is_answered_200_and_stored_once() {
    let h = Harness::sqlite().await;
    for _ in 0..3 {
        assert_eq!(h.push("e1", "u1", "m1", "hi").await.0, 200);
    }
    assert_eq!(
        h.push("e2", "u1", "m1", "hi").await.0,
        200,
        "same message, new event id"
    );
    let list = h.conversations().await;
    assert_eq!(list[0]["unread_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_account_is_422_and_kept_raw() {
    let h = Harness::sqlite().await;
    let body = json!({"event_id": "e1", "account": {"id": "nobody"}, "contact": {"id": "u"},
        "message": {"id": "m", "content": {"type": "text", "text": "x"}}})
    .to_string();
    let (status, problem) = h.push_raw(body.as_bytes(), None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("unknown_account"))
    );
    let raw = h
        .store
        .list_raw_events(h.ws, "unprocessable", 10)
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert!(h.conversations().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_sends_once() {
    let h = Harness::sqlite().await;
    h.push("e1", "u1", "m1", "hi").await;
    let id = h.conversations().await[0]["id"].as_i64().unwrap();
    let url = format!("{}/api/v1/conversations/{id}/messages", h.base);
    let body = json!({"content": {"type": "text", "text": "once"}});
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, m) = h
            .call(
                h.http
                    .post(&url)
                    .header("idempotency-key", "k-1")
                    .json(&body),
            )
            .await;
        assert_eq!(status, 202);
        ids.push(m["id"].as_i64().unwrap());
    }
    assert!(ids.iter().all(|i| *i == ids[0]));
    let (status, problem) = h
        .call(
            h.http
                .post(&url)
                .header("idempotency-key", "k-1")
                .json(&json!({"content": {"type": "text", "text": "other"}})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    h.message_status_becomes(ids[0], "sent").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.receiver.bodies.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_the_channel_cannot_carry_is_422_before_queueing() {
    let h = Harness::sqlite().await;
    h.push("e1", "u1", "m1", "hi").await;
    let id = h.conversations().await[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{id}/messages");
    let long = "长".repeat(4001);
    let (status, p) = h
        .post(&path, json!({"content": {"type": "text", "text": long}}))
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("message_too_long"))
    );
    let (status, p) = h
        .post(&path, json!({"content": {"type": "text", "text": "  "}}))
        .await;
    assert_eq!((status, p["code"].as_str()), (422, Some("invalid_content")));
    let (status, p) = h
        .post(&path, json!({"content": {"type": "hologram"}}))
        .await;
    assert_eq!((status, p["code"].as_str()), (422, Some("invalid_request")));
    let (status, p) = h.post(&path, json!("nope")).await;
    assert_eq!((status, p["code"].as_str()), (422, Some("invalid_request")));
    let (_, page) = h.get(&path).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "nothing was queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_permanent_ones_fail_with_the_code() {
    let h = Harness::sqlite().await;
    h.push("e1", "u1", "m1", "hi").await;
    let id = h.conversations().await[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{id}/messages");
    h.receiver.script.lock().unwrap().extend([500, 429, 503]);
    let (_, m) = h
        .post(
            &path,
            json!({"content": {"type": "text", "text": "persist"}}),
        )
        .await;
    h.message_status_becomes(m["id"].as_i64().unwrap(), "sent")
        .await;
    h.receiver.script.lock().unwrap().push(400);
    let (_, m) = h
        .post(
            &path,
            json!({"content": {"type": "text", "text": "refused"}}),
        )
        .await;
    let failed = h
        .message_status_becomes(m["id"].as_i64().unwrap(), "failed")
        .await;
    assert_eq!(failed["error_code"], "http_400");
    let (status, _) = h
        .post(&format!("/api/v1/messages/{}/retry", m["id"]), json!({}))
        .await;
    assert_eq!(status, 202);
    h.message_status_becomes(m["id"].as_i64().unwrap(), "sent")
        .await;
    let texts: Vec<Value> = h
        .receiver
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["content"]["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("persist"), json!("refused")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_reaches_the_receiver_and_marks_the_message() {
    let h = Harness::sqlite().await;
    h.push("e1", "u1", "m1", "hi").await;
    let id = h.conversations().await[0]["id"].as_i64().unwrap();
    let (_, m) = h
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({"content": {"type": "text", "text": "oops"}}),
        )
        .await;
    let mid = m["id"].as_i64().unwrap();
    let (status, p) = h
        .post(&format!("/api/v1/messages/{mid}/recall"), json!({}))
        .await;
    // Right after queueing it is usually not sent yet (409); if the send
    // already went out, this first request is the recall (202).
    assert!(status == 409 || status == 202, "{p:?}");
    if status == 409 {
        h.message_status_becomes(mid, "sent").await;
        let (status, _) = h
            .post(&format!("/api/v1/messages/{mid}/recall"), json!({}))
            .await;
        assert_eq!(status, 202);
    }
    h.message_status_becomes(mid, "recalled").await;
    let last = h.receiver.bodies.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["type"], "recall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspace_gets_404_for_everything() {
    let h = Harness::sqlite().await;
    h.push("e1", "u1", "m1", "hi").await;
    let id = h.conversations().await[0]["id"].as_i64().unwrap();
    let (_, page) = h.get(&format!("/api/v1/conversations/{id}/messages")).await;
    let mid = page["items"][0]["id"].as_i64().unwrap();
    let other = h.store.create_workspace("other").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "t", Role::Admin)
        .await
        .unwrap();
    let as_other = |req: reqwest::RequestBuilder| req.bearer_auth(&token).send();
    for path in [
        format!("/api/v1/conversations/{id}"),
        format!("/api/v1/conversations/{id}/messages"),
        format!("/api/v1/messages/{mid}"),
        format!("/api/v1/channels/{}", h.channel),
    ] {
        let res = as_other(h.http.get(format!("{}{path}", h.base)))
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    for path in [
        format!("/api/v1/conversations/{id}/read"),
        format!("/api/v1/messages/{mid}/recall"),
    ] {
        let res = as_other(h.http.post(format!("{}{path}", h.base)).json(&json!({})))
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = as_other(
        h.http
            .post(format!("{}/api/v1/conversations/{id}/messages", h.base))
            .json(&json!({"content": {"type": "text", "text": "x"}})),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 404);
    let res = as_other(h.http.get(format!("{}/api/v1/conversations", h.base)))
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert!(body["items"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_cannot_manage_channels_and_anonymous_callers_get_401() {
    let h = Harness::sqlite().await;
    let agent = imhub_server::auth::issue_api_token(h.store.as_ref(), h.ws, "a", Role::Agent)
        .await
        .unwrap();
    let res = h
        .http
        .post(format!("{}/api/v1/channels", h.base))
        .bearer_auth(&agent)
        .json(&json!({"platform": "custom", "name": "x", "config": {"secret": SECRET}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = h
        .http
        .post(format!("{}/api/v1/tokens", h.base))
        .bearer_auth(&agent)
        .json(&json!({"name": "x", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = h
        .http
        .get(format!("{}/api/v1/conversations", h.base))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = h
        .http
        .get(format!("{}/api/v1/conversations", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = h
        .http
        .get(format!("{}/api/v1/conversations", h.base))
        .bearer_auth("imh_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_secrets_are_never_returned() {
    let h = Harness::sqlite().await;
    let (_, list) = h.get("/api/v1/channels").await;
    let text = list.to_string();
    assert!(!text.contains(SECRET), "{text}");
    let channel = &list["items"][0];
    assert!(
        channel["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/webhooks/custom/{}", h.channel))
    );
    assert!(channel["settings"]["outbound_url"].is_string());
    let (status, p) = h
        .post(
            "/api/v1/channels",
            json!({"platform": "custom", "name": "x", "config": {"secret": "short"}}),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("invalid_channel_config"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_logs_in_with_a_session_cookie_and_out_again() {
    let h = Harness::sqlite().await;
    let (status, _) = h
        .post(
            "/api/v1/users",
            json!({"email": "Ann@Shop.cn", "name": "Ann", "password": "pa55word!"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, p) = h
        .post(
            "/api/v1/users",
            json!({"email": "b@shop.cn", "name": "B", "password": "short"}),
        )
        .await;
    assert_eq!((status, p["code"].as_str()), (422, Some("weak_password")));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = browser
        .post(format!("{}/api/v1/session", h.base))
        .json(&json!({"email": "ann@shop.cn", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = browser
        .post(format!("{}/api/v1/session", h.base))
        .json(&json!({"email": "ann@shop.cn", "password": "pa55word!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"));
    let res = browser
        .get(format!("{}/api/v1/conversations", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = browser
        .post(format!("{}/api/v1/channels", h.base))
        .json(&json!({"platform": "custom", "name": "x", "config": {"secret": SECRET}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "agents cannot manage channels");
    let res = browser
        .delete(format!("{}/api/v1/session", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = browser
        .get(format!("{}/api/v1/conversations", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_reach_an_sse_client_of_the_same_workspace_only() {
    let h = Harness::sqlite().await;
    let mut stream = h
        .http
        .get(format!("{}/api/v1/events", h.base))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // The first chunk is the `ready` event: the subscription is live.
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("ready"));
    h.push("e1", "u1", "m1", "hi").await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("message.created") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"conversation_id\""));
    let other = h.store.create_workspace("other").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "t", Role::Agent)
        .await
        .unwrap();
    let mut foreign = h
        .http
        .get(format!("{}/api/v1/events", h.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    foreign.chunk().await.unwrap();
    h.push("e2", "u2", "m2", "hi").await;
    let leaked = tokio::time::timeout(Duration::from_millis(300), foreign.chunk()).await;
    assert!(leaked.is_err(), "another workspace's client got {leaked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_endpoints_answer() {
    let h = Harness::sqlite().await;
    for (path, needle) in [
        ("/healthz", "ok"),
        ("/readyz", "ready"),
        ("/metrics", "imhub_pushes_accepted_total"),
    ] {
        let res = h
            .http
            .get(format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.text().await.unwrap().contains(needle), "{path}");
    }
    let (status, doc) = h.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/v1/conversations/{id}/messages"]["post"].is_object());
    let res = h
        .http
        .get(format!("{}/api/v1/conversations?limit=abc", h.base))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = h
        .http
        .get(format!("{}/api/v1/conversations?cursor=zzz", h.base))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_served_back_by_their_url() {
    let h = Harness::sqlite().await;
    let png = b"\x89PNG\r\n\x1a\nfake".to_vec();
    let (status, up) = h
        .call(
            h.http
                .post(format!("{}/api/v1/media", h.base))
                .header("content-type", "image/png")
                .body(png.clone()),
        )
        .await;
    assert_eq!(status, 201, "{up:?}");
    let res = h
        .http
        .get(up["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);
    let (status, p) = h
        .call(
            h.http
                .post(format!("{}/api/v1/media", h.base))
                .header("content-type", "text/html")
                .body("<script>"),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
}

/// A merchant's endpoint for imhub's outgoing webhooks.
#[derive(Clone, Default)]
struct Subscriber {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn subscriber_endpoint(
    State(s): State<Subscriber>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    {
        let mut fail = s.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    s.got.lock().unwrap().push((headers, body));
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_events_reach_the_merchant_signed_and_retried_with_attempts_visible() {
    let h = Harness::sqlite().await;
    let sub = Subscriber::default();
    *sub.fail_first.lock().unwrap() = 1;
    let app = Router::new()
        .route("/hook", post(subscriber_endpoint))
        .with_state(sub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (status, p) = h
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://{addr}/hook"), "event_types": ["nope"]}),
        )
        .await;
    assert_eq!((status, p["code"].as_str()), (422, Some("invalid_request")));
    let (status, created) = h
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://{addr}/hook"), "event_types": ["message.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{created:?}");
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    h.push("e1", "u1", "m1", "hi").await;
    // The first attempt fails (503); the retry comes after the backoff.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sub.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the event never arrived");
        let (_, d) = h.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
        if d["items"][0]["attempts"] == 1 {
            assert_eq!(d["items"][0]["last_status"], 503);
            // Skip the 10 s wait: make the retry due now.
            h.store
                .write_raw(|db| {
                    db.execute("UPDATE webhook_deliveries SET due_at = 0", &[])
                        .map(|_| ())
                })
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = sub.got.lock().unwrap()[0].clone();
    let ts: i64 = headers["x-imhub-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        headers["x-imhub-signature"].to_str().unwrap(),
        imhub_server::outgoing_webhooks::signature(&secret, ts, &body)
    );
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "message.created");
    assert!(event["message_id"].is_i64());
    let (_, d) = h.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(d["items"][0]["status"], "delivered");
    assert_eq!(d["items"][0]["attempts"], 2);
    assert_eq!(
        d["items"].as_array().unwrap().len(),
        1,
        "only subscribed types are delivered"
    );
    let (_, list) = h.get("/api/v1/webhooks").await;
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_push_is_processed_by_replay_once_its_account_exists() {
    let h = Harness::sqlite().await;
    let body = json!({"event_id": "e1", "account": {"id": "late-shop"}, "contact": {"id": "u"},
        "message": {"id": "m", "content": {"type": "text", "text": "hello?"}}})
    .to_string();
    assert_eq!(h.push_raw(body.as_bytes(), None).await.0, 422);
    let replayed = imhub_server::ingest::replay(&h.state, h.ws, 100)
        .await
        .unwrap();
    assert_eq!(replayed[0].status, "unprocessable", "still no account");
    h.post(
        "/api/v1/accounts",
        json!({"channel_id": h.channel, "external_id": "late-shop", "name": "Late"}),
    )
    .await;
    let replayed = imhub_server::ingest::replay(&h.state, h.ws, 100)
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].status, "processed");
    let list = h.conversations().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["last_message_preview"], "hello?");
    assert!(
        imhub_server::ingest::replay(&h.state, h.ws, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.push_raw(body.as_bytes(), None).await.0,
        200,
        "a platform retry is a duplicate now"
    );
    assert_eq!(h.conversations().await[0]["unread_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_client_of_one_node_sees_what_another_node_ingested() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    let a = Harness::start(url.clone()).await;
    // A second node on the same database.
    let store_b = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
    let b = imhub_server::start(config, store_b, std::future::pending())
        .await
        .unwrap();
    let mut stream = a
        .http
        .get(format!("{}/api/v1/events", a.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    stream.chunk().await.unwrap();
    let body = json!({"event_id": "e1", "account": {"id": "shop-1"}, "contact": {"id": "u1"},
        "message": {"id": "m1", "content": {"type": "text", "text": "via node B"}}})
    .to_string();
    let res = a
        .http
        .post(format!("http://{}/webhooks/custom/{}", b.addr, a.channel))
        .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !seen.contains("message.created") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("node A's client saw nothing within 2 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Ok(Ok(Some(more))) =
        tokio::time::timeout(Duration::from_millis(200), stream.chunk()).await
    {
        seen.push_str(&String::from_utf8_lossy(&more));
    }
    assert_eq!(
        seen.matches("event: message.created").count(),
        1,
        "delivered once, not once per node: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_live_streams_instead_of_waiting_for_them() {
    let store = Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    );
    let ws = store.create_workspace("shop").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Agent)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let running = imhub_server::start(config, store, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let mut stream = reqwest::Client::new()
        .get(format!("http://{}/api/v1/events", running.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    stream.chunk().await.unwrap();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running.task)
        .await
        .expect("the server waited for the open event stream")
        .unwrap();
}

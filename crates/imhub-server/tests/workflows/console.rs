//! The admin console's API (issue 15): channel settings and disconnection,
//! channel health, accounts, agents, one's own profile, webhook retry-now
//! and kept pushes, against a real server on SQLite and PostgreSQL with a
//! real receiver for the custom channel and for outgoing webhooks.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use imhub_core::Role;
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

/// Runs each behaviour on a fresh SQLite and a fresh PostgreSQL server.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::sqlite().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = imhub_store::testing::postgres_database() else { return };
                super::$name(super::Harness::start(url).await).await
            })*
        }
    };
}

on_both_backends!(
    a_channel_changes_partially_and_keeps_its_secrets,
    bad_channel_changes_are_refused_and_change_nothing,
    channels_tell_what_to_paste_in_each_platform_console,
    a_disconnected_channel_refuses_pushes_and_fails_its_queued_replies,
    channel_health_counts_pushes_and_shows_the_last_send_error,
    a_disabled_account_refuses_replies_but_keeps_its_pushes,
    a_disabled_account_assigns_nothing_automatically,
    agents_get_a_generated_first_password_and_change_role_and_name,
    the_last_admin_cannot_be_demoted_disabled_or_deleted,
    a_user_sets_name_avatar_and_language_in_the_profile,
    a_webhook_delivery_is_retried_now_unless_delivered,
    a_kept_push_is_replayed_after_its_cause_is_fixed,
);

const SECRET: &str = "a-very-secret-secret";
const PASSWORD: &str = "pa55word!";

/// A receiver (the merchant's system, or a webhook endpoint) answering a
/// status the test sets, counting what it got.
#[derive(Clone)]
struct Receiver {
    status: Arc<AtomicU16>,
    calls: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            status: Arc::new(AtomicU16::new(200)),
            calls: Arc::new(AtomicUsize::new(0)),
            bodies: Arc::default(),
        }
    }
}

async fn receive(State(r): State<Receiver>, body: Bytes) -> StatusCode {
    r.calls.fetch_add(1, Ordering::SeqCst);
    if let Ok(v) = serde_json::from_slice(&body) {
        r.bodies.lock().unwrap().push(v);
    }
    StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap()
}

/// Serves a receiver on a free local port; returns its URL.
async fn serve(receiver: Receiver) -> String {
    let app = Router::new()
        .route("/in", post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    admin: String,
    agent: String,
    other_admin: String,
    ws: imhub_core::WorkspaceId,
    /// The custom channel's receiver.
    receiver: Receiver,
    outbound_url: String,
    channel: i64,
    account: i64,
}

/// A logged-in user: a cookie jar, and the inbox's Origin on every request.
struct Session {
    base: String,
    http: reqwest::Client,
    id: i64,
}

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Session {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("origin", &self.base);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.unwrap()).await
    }
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

impl Harness {
    async fn start(url: String) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 64 * 1024,
            ..Config::default()
        };
        config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let other = store.create_workspace("other").await.unwrap().id;
        let token = |ws, role| imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", role);
        let receiver = Receiver::default();
        let outbound_url = serve(receiver.clone()).await;
        let mut h = Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            admin: token(ws, Role::Admin).await.unwrap(),
            agent: token(ws, Role::Agent).await.unwrap(),
            other_admin: token(other, Role::Admin).await.unwrap(),
            store,
            ws,
            receiver,
            outbound_url: outbound_url.clone(),
            channel: 0,
            account: 0,
        };
        let (status, channel) = h
            .admin(
                "POST",
                "/api/v1/channels",
                Some(json!({"platform": "custom", "name": "Website",
                    "config": {"secret": SECRET, "outbound_url": outbound_url}})),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        h.channel = channel["id"].as_i64().unwrap();
        let (status, account) = h
            .admin(
                "POST",
                "/api/v1/accounts",
                Some(json!({"channel_id": h.channel, "external_id": "shop-1", "name": "旗舰店"})),
            )
            .await;
        assert_eq!(status, 201, "{account}");
        h.account = account["id"].as_i64().unwrap();
        h
    }

    async fn sqlite() -> Harness {
        Harness::start(testing::sqlite_database()).await
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.unwrap()).await
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, &self.admin, body).await
    }

    /// A custom push signed with `secret` to `channel`; the status.
    async fn push_to(&self, channel: i64, secret: &str, account: &str, message: &str) -> u16 {
        let body = json!({
            "event_id": format!("e-{message}"),
            "account": {"id": account},
            "contact": {"id": "u1", "nickname": "客户"},
            "message": {"id": message, "content": {"type": "text", "text": "在吗"}},
        })
        .to_string();
        self.http
            .post(format!("{}/webhooks/custom/{channel}", self.base))
            .header("x-imhub-signature", sign(secret, body.as_bytes()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A message from `contact` on the harness's account; its conversation.
    async fn push_from(&self, contact: &str, message: &str) -> Value {
        let body = json!({
            "event_id": format!("e-{message}"),
            "account": {"id": "shop-1"},
            "contact": {"id": contact, "nickname": contact},
            "message": {"id": message, "content": {"type": "text", "text": "在吗"}},
        })
        .to_string();
        let res = self
            .http
            .post(format!("{}/webhooks/custom/{}", self.base, self.channel))
            .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let (_, list) = self.admin("GET", "/api/v1/conversations", None).await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["peer_external_id"] == contact)
            .unwrap()
            .clone()
    }

    /// A customer message on the harness's channel; its conversation.
    async fn push(&self, message: &str) -> i64 {
        assert_eq!(
            self.push_to(self.channel, SECRET, "shop-1", message).await,
            200
        );
        let (_, list) = self.admin("GET", "/api/v1/conversations", None).await;
        list["items"][0]["id"].as_i64().unwrap()
    }

    async fn reply(&self, conversation: i64, text: &str) -> (u16, Value) {
        self.admin(
            "POST",
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"content": {"type": "text", "text": text}})),
        )
        .await
    }

    /// Adds a user and logs them in.
    async fn login(&self, email: &str, role: &str) -> Session {
        let (status, user) = self
            .admin(
                "POST",
                "/api/v1/users",
                Some(json!({"email": email, "name": "小王", "password": PASSWORD, "role": role})),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = http
            .post(format!("{}/api/v1/session", self.base))
            .header("origin", &self.base)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        Session {
            base: self.base.clone(),
            http,
            id: user["id"].as_i64().unwrap(),
        }
    }

    async fn message_becomes(&self, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, m) = self
                .admin("GET", &format!("/api/v1/messages/{id}"), None)
                .await;
            if m["status"] == want {
                return m;
            }
            assert!(Instant::now() < deadline, "message {id} stayed {m}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn a_channel_changes_partially_and_keeps_its_secrets(h: Harness) {
    let path = format!("/api/v1/channels/{}", h.channel);
    let (status, before) = h.admin("GET", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(before["secrets"], json!({"secret": true}));
    // A new name and a new receiver; the secret is not sent, so it stays.
    let other_receiver = serve(Receiver::default()).await;
    let (status, after) = h
        .admin(
            "PATCH",
            &path,
            Some(json!({"name": " 官网 ", "config": {"outbound_url": other_receiver}})),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["name"], "官网");
    assert_eq!(after["settings"]["outbound_url"], other_receiver);
    assert_eq!(after["secrets"], json!({"secret": true}));
    assert!(after["settings"].get("secret").is_none(), "{after}");
    // The stored secret still verifies pushes, and the change holds at once.
    let conversation = h.push("m1").await;
    let (status, sent) = h.reply(conversation, "您好").await;
    assert_eq!(status, 202, "{sent}");
    h.message_becomes(sent["id"].as_i64().unwrap(), "sent")
        .await;
    assert_eq!(
        h.receiver.calls.load(Ordering::SeqCst),
        0,
        "the old receiver got the reply"
    );
    // A replaced secret: pushes signed with the old one are refused.
    let (status, _) = h
        .admin(
            "PATCH",
            &path,
            Some(json!({"config": {"secret": "another-secret-0123456789"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.push_to(h.channel, SECRET, "shop-1", "m2").await, 401);
    assert_eq!(
        h.push_to(h.channel, "another-secret-0123456789", "shop-1", "m3")
            .await,
        200
    );
    // Nothing but the name: the configuration is untouched.
    let (status, renamed) = h
        .admin("PATCH", &path, Some(json!({"name": "Web", "config": null})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["settings"]["outbound_url"], other_receiver);
}

async fn bad_channel_changes_are_refused_and_change_nothing(h: Harness) {
    let path = format!("/api/v1/channels/{}", h.channel);
    for (body, status_want, code_want) in [
        (
            json!({"config": {"secret": null}}),
            422,
            "invalid_channel_config",
        ),
        (
            json!({"config": {"outbound_url": "http://169.254.169.254/latest"}}),
            422,
            "target_not_allowed",
        ),
        (json!({"config": "secret"}), 422, "invalid_request"),
        (json!({"name": "  "}), 422, "invalid_request"),
        (json!({"nom": "x"}), 422, "invalid_request"),
    ] {
        let (status, problem) = h.admin("PATCH", &path, Some(body.clone())).await;
        assert_eq!(
            (status, code(&problem)),
            (status_want, code_want),
            "{body} {problem}"
        );
    }
    let (_, unchanged) = h.admin("GET", &path, None).await;
    assert_eq!(unchanged["name"], "Website");
    assert_eq!(unchanged["settings"]["outbound_url"], h.outbound_url);
    assert_eq!(unchanged["secrets"]["secret"], true);
    // A platform channel may not name the operator's base URL.
    let (status, tencent) = h
        .admin(
            "POST",
            "/api/v1/channels",
            Some(json!({"platform": "tencent", "name": "小程序",
                "config": {"sdkappid": 1400000001, "key": "k", "identifier": "administrator",
                    "callback_token": "tok-1"}})),
        )
        .await;
    assert_eq!(status, 201, "{tencent}");
    let tencent_path = format!("/api/v1/channels/{}", tencent["id"]);
    let (status, problem) = h
        .admin(
            "PATCH",
            &tencent_path,
            Some(json!({"config": {"base_url": "http://127.0.0.1:1"}})),
        )
        .await;
    assert_eq!((status, code(&problem)), (422, "invalid_channel_config"));
    // Agents may not; another workspace's admin finds nothing.
    let (status, problem) = h
        .call("PATCH", &path, &h.agent, Some(json!({"name": "x"})))
        .await;
    assert_eq!((status, code(&problem)), (403, "forbidden"));
    for (method, body) in [
        ("PATCH", Some(json!({"name": "x"}))),
        ("DELETE", None),
        ("GET", None),
    ] {
        let (status, _) = h.call(method, &path, &h.other_admin, body).await;
        assert_eq!(status, 404, "{method}");
    }
    let (status, _) = h.call("DELETE", &path, &h.agent, None).await;
    assert_eq!(status, 403);
    let (status, _) = h
        .admin("PATCH", "/api/v1/channels/999999", Some(json!({})))
        .await;
    assert_eq!(status, 404);
}

async fn channels_tell_what_to_paste_in_each_platform_console(h: Harness) {
    let value = |c: &Value, key: &str| {
        c["platform_values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == key)
            .map(|v| v["value"].as_str().unwrap().to_string())
    };
    let (status, tencent) = h
        .admin(
            "POST",
            "/api/v1/channels",
            Some(json!({"platform": "tencent", "name": "小程序",
                "config": {"sdkappid": 1400000001, "secret_key": "k", "identifier": "administrator",
                    "callback_token": "tok-1"}})),
        )
        .await;
    assert_eq!(status, 201, "{tencent}");
    assert_eq!(
        tencent["secrets"],
        json!({"key": true, "callback_token": true})
    );
    assert_eq!(
        value(&tencent, "tencent_callback_url").as_deref(),
        tencent["webhook_url"].as_str()
    );
    assert!(
        value(&tencent, "tencent_callback_commands")
            .unwrap()
            .contains("C2C.CallbackAfterSendMsg")
    );
    // The key replaced by its canonical name (it was given by its alias):
    // one value, the token kept.
    let (status, tencent) = h
        .admin(
            "PATCH",
            &format!("/api/v1/channels/{}", tencent["id"]),
            Some(json!({"config": {"key": "k2"}})),
        )
        .await;
    assert_eq!(status, 200, "{tencent}");
    assert_eq!(
        tencent["secrets"],
        json!({"key": true, "callback_token": true})
    );
    let stored = h
        .store
        .get_channel(h.ws, imhub_core::ChannelId(tencent["id"].as_i64().unwrap()))
        .await
        .unwrap();
    assert_eq!(stored.config["key"], "k2");
    assert!(
        stored.config.get("secret_key").is_none(),
        "one key, not two"
    );
    let (status, meituan) = h
        .admin(
            "POST",
            "/api/v1/channels",
            Some(json!({"platform": "meituan", "name": "外卖",
                "config": {"app_id": "123", "app_secret": "0123456789abcdef0123"}})),
        )
        .await;
    assert_eq!(status, 201, "{meituan}");
    assert_eq!(
        value(&meituan, "meituan_im_push_url").as_deref(),
        meituan["webhook_url"].as_str()
    );
    assert_eq!(
        meituan["secrets"],
        json!({"app_secret": true, "access_token": false})
    );
    let (_, meituan) = h
        .admin(
            "PATCH",
            &format!("/api/v1/channels/{}", meituan["id"]),
            Some(json!({"config": {"push_url": "https://im.shop.example/mt"}})),
        )
        .await;
    assert_eq!(
        value(&meituan, "meituan_im_push_url").as_deref(),
        Some("https://im.shop.example/mt")
    );
    let (status, douyin) = h
        .admin(
            "POST",
            "/api/v1/channels",
            Some(json!({"platform": "douyin", "name": "抖音",
                "config": {"client_key": "ck", "client_secret": "cs"}})),
        )
        .await;
    assert_eq!(status, 201, "{douyin}");
    assert!(
        value(&douyin, "douyin_oauth_redirect_uri")
            .unwrap()
            .ends_with("/api/v1/douyin/oauth/callback")
    );
    assert!(
        value(&douyin, "douyin_webhook_events")
            .unwrap()
            .contains("im_receive_msg")
    );
    assert_eq!(
        douyin["secrets"],
        json!({"client_secret": true, "webhook_secret": false})
    );
    let (_, custom) = h
        .admin("GET", &format!("/api/v1/channels/{}", h.channel), None)
        .await;
    assert_eq!(custom["platform_values"], json!([]));
}

async fn a_disconnected_channel_refuses_pushes_and_fails_its_queued_replies(h: Harness) {
    let conversation = h.push("m1").await;
    // The receiver is down: the reply waits in the outbox for its retry.
    h.receiver.status.store(503, Ordering::SeqCst);
    let (status, queued) = h.reply(conversation, "稍等").await;
    assert_eq!(status, 202, "{queued}");
    let queued = queued["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.receiver.calls.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the reply was never tried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the failed attempt release its lease.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = format!("/api/v1/channels/{}", h.channel);
    let (status, body) = h.admin("DELETE", &path, None).await;
    assert_eq!(status, 204, "{body}");
    let failed = h.message_becomes(queued, "failed").await;
    assert_eq!(failed["error_code"], "channel_disconnected", "{failed}");
    // Its webhook URL answers like an unknown channel's.
    assert_eq!(h.push_to(h.channel, SECRET, "shop-1", "m2").await, 404);
    // New replies and retries are refused; nothing is queued.
    let (status, problem) = h.reply(conversation, "还在吗").await;
    assert_eq!(
        (status, code(&problem)),
        (422, "channel_disconnected"),
        "{problem}"
    );
    let (status, problem) = h
        .admin("POST", &format!("/api/v1/messages/{queued}/retry"), None)
        .await;
    assert_eq!((status, code(&problem)), (422, "channel_disconnected"));
    // The conversation stays readable; the channel leaves the lists.
    let (status, _) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{conversation}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, messages) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert!(messages["items"].as_array().unwrap().len() >= 2);
    let (_, channels) = h.admin("GET", "/api/v1/channels", None).await;
    assert_eq!(channels["items"], json!([]));
    let (_, accounts) = h.admin("GET", "/api/v1/accounts", None).await;
    assert_eq!(accounts["items"], json!([]));
    let (_, health) = h.admin("GET", "/api/v1/channels/health", None).await;
    assert_eq!(health["items"], json!([]));
    for method in ["GET", "DELETE"] {
        let (status, _) = h.admin(method, &path, None).await;
        assert_eq!(status, 404, "{method} after disconnecting");
    }
    // Nothing was sent after all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = h
        .admin("GET", &format!("/api/v1/messages/{queued}"), None)
        .await
        .1;
    assert_eq!(m["status"], "failed");
}

async fn channel_health_counts_pushes_and_shows_the_last_send_error(h: Harness) {
    let (status, empty) = h.admin("GET", "/api/v1/channels/health", None).await;
    assert_eq!(status, 200);
    let item = &empty["items"][0];
    assert_eq!(item["channel_id"], h.channel);
    assert_eq!(item["pushes_today"], 0);
    assert_eq!(item["last_push_at"], Value::Null);
    assert_eq!(item["last_send_error"], Value::Null);
    assert_eq!(item["silent"], false, "a channel connected just now");
    let (_, alerts) = h.admin("GET", "/api/v1/alert-settings", None).await;
    assert_eq!(
        item["silent_after_secs"].as_i64(),
        alerts["silence_hours"].as_i64().map(|hours| hours * 3600),
        "{alerts}"
    );
    assert_eq!(item["douyin_accounts"], json!([]));
    let conversation = h.push("m1").await;
    h.push("m2").await;
    // The same push again counts once.
    assert_eq!(h.push_to(h.channel, SECRET, "shop-1", "m2").await, 200);
    h.receiver.status.store(400, Ordering::SeqCst);
    let (_, sent) = h.reply(conversation, "您好").await;
    h.message_becomes(sent["id"].as_i64().unwrap(), "failed")
        .await;
    let (_, health) = h.admin("GET", "/api/v1/channels/health", None).await;
    let item = &health["items"][0];
    assert_eq!(item["pushes_today"], 2, "{health}");
    assert!(item["last_push_at"].is_string(), "{health}");
    assert_eq!(item["last_send_error"]["code"], "http_400", "{health}");
    assert!(
        item["last_send_error"]["text"]
            .as_str()
            .unwrap()
            .contains("400")
    );
    // A Douyin channel lists its accounts with their authorization.
    let (_, douyin) = h
        .admin(
            "POST",
            "/api/v1/channels",
            Some(json!({"platform": "douyin", "name": "抖音",
                "config": {"client_key": "ck", "client_secret": "cs"}})),
        )
        .await;
    let (status, account) = h
        .admin(
            "POST",
            "/api/v1/accounts",
            Some(json!({"channel_id": douyin["id"], "external_id": "open-1", "name": "企业号"})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let (_, health) = h.admin("GET", "/api/v1/channels/health", None).await;
    let d = health["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel_id"] == douyin["id"])
        .unwrap()
        .clone();
    assert_eq!(
        d["douyin_accounts"],
        json!([{"account_id": account["id"], "name": "企业号", "token_expires_at": null,
            "needs_reauthorization": false}])
    );
    let (status, problem) = h
        .call("GET", "/api/v1/channels/health", &h.agent, None)
        .await;
    assert_eq!((status, code(&problem)), (403, "forbidden"));
    let (_, other) = h
        .call("GET", "/api/v1/channels/health", &h.other_admin, None)
        .await;
    assert_eq!(other["items"], json!([]));
}

async fn a_disabled_account_refuses_replies_but_keeps_its_pushes(h: Harness) {
    let conversation = h.push("m1").await;
    let path = format!("/api/v1/accounts/{}", h.account);
    let (status, account) = h
        .admin(
            "PATCH",
            &path,
            Some(json!({"name": "旗舰店(停用)", "disabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(
        (&account["name"], &account["disabled"]),
        (&json!("旗舰店(停用)"), &json!(true))
    );
    let (status, problem) = h.reply(conversation, "您好").await;
    assert_eq!((status, code(&problem)), (422, "account_disabled"));
    let (_, messages) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(
        messages["items"].as_array().unwrap().len(),
        1,
        "nothing queued"
    );
    // Pushes are still recorded: nothing is lost.
    h.push("m2").await;
    let (_, messages) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 2);
    let (_, listed) = h.admin("GET", "/api/v1/accounts", None).await;
    assert_eq!(listed["items"][0]["disabled"], true);
    // Enabled again (idempotent), replies go out.
    for _ in 0..2 {
        let (status, account) = h
            .admin("PATCH", &path, Some(json!({"disabled": false})))
            .await;
        assert_eq!((status, &account["disabled"]), (200, &json!(false)));
    }
    let (status, sent) = h.reply(conversation, "您好").await;
    assert_eq!(status, 202, "{sent}");
    h.message_becomes(sent["id"].as_i64().unwrap(), "sent")
        .await;
    // Bad input, agents, other workspaces.
    let (status, problem) = h.admin("PATCH", &path, Some(json!({"name": ""}))).await;
    assert_eq!((status, code(&problem)), (422, "invalid_request"));
    let (status, problem) = h
        .admin("PATCH", &path, Some(json!({"disabled": "yes"})))
        .await;
    assert_eq!((status, code(&problem)), (422, "invalid_request"));
    let (status, problem) = h
        .call("PATCH", &path, &h.agent, Some(json!({"disabled": true})))
        .await;
    assert_eq!((status, code(&problem)), (403, "forbidden"));
    let (status, _) = h
        .call(
            "PATCH",
            &path,
            &h.other_admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, account) = h.admin("GET", &path, None).await;
    assert_eq!(account["disabled"], false);
}

async fn agents_get_a_generated_first_password_and_change_role_and_name(h: Harness) {
    let (status, made) = h
        .admin(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "li@shop.cn", "name": "小李"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let password = made["initial_password"].as_str().unwrap().to_string();
    assert!(password.chars().count() >= 12, "{password}");
    assert_eq!(made["role"], "agent");
    // The generated password logs in.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = http
        .post(format!("{}/api/v1/session", h.base))
        .header("origin", &h.base)
        .json(&json!({"email": "li@shop.cn", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let li = Session {
        base: h.base.clone(),
        http,
        id: made["id"].as_i64().unwrap(),
    };
    let (status, _) = li.call("GET", "/api/v1/users", None).await;
    assert_eq!(status, 403, "an agent cannot list agents");
    // A given password is not echoed.
    let (status, given) = h
        .admin(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "wu@shop.cn", "name": "小吴", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 201);
    assert!(given.get("initial_password").is_none(), "{given}");
    let (status, problem) = h
        .admin(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "x@shop.cn", "name": "x", "password": "short"})),
        )
        .await;
    assert_eq!((status, code(&problem)), (422, "weak_password"));
    // Role and name change; the new role holds on the agent's next request.
    let path = format!("/api/v1/users/{}", li.id);
    let (status, user) = h
        .admin(
            "PATCH",
            &path,
            Some(json!({"role": "admin", "name": " 李组长 "})),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        (&user["role"], &user["name"]),
        (&json!("admin"), &json!("李组长"))
    );
    let (status, _) = li.call("GET", "/api/v1/users", None).await;
    assert_eq!(status, 200, "promoted at once");
    let (_, me) = li.call("GET", "/api/v1/session", None).await;
    assert_eq!(
        (&me["role"], &me["name"]),
        (&json!("admin"), &json!("李组长"))
    );
    // An admin cannot demote or disable themselves.
    let (status, problem) = li
        .call("PATCH", &path, Some(json!({"role": "agent"})))
        .await;
    assert_eq!((status, code(&problem)), (422, "cannot_demote_self"));
    let (status, problem) = li
        .call("PATCH", &path, Some(json!({"disabled": true})))
        .await;
    assert_eq!((status, code(&problem)), (422, "cannot_disable_self"));
    // Bad input, agents, other workspaces.
    for body in [
        json!({"role": "owner"}),
        json!({"name": " "}),
        json!({"disabled": 1}),
    ] {
        let (status, problem) = h.admin("PATCH", &path, Some(body.clone())).await;
        assert_eq!((status, code(&problem)), (422, "invalid_request"), "{body}");
    }
    let (status, _) = h
        .call("PATCH", &path, &h.agent, Some(json!({"role": "agent"})))
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .call(
            "PATCH",
            &path,
            &h.other_admin,
            Some(json!({"role": "agent"})),
        )
        .await;
    assert_eq!(status, 404);
    // The only admin user cannot be demoted; with another one, the API
    // token makes Li an agent once more.
    let (status, problem) = h
        .admin("PATCH", &path, Some(json!({"role": "agent"})))
        .await;
    assert_eq!((status, code(&problem)), (422, "last_admin"));
    h.login("boss@shop.cn", "admin").await;
    let (status, user) = h
        .admin(
            "PATCH",
            &path,
            Some(json!({"role": "agent", "disabled": false})),
        )
        .await;
    assert_eq!((status, &user["role"]), (200, &json!("agent")));
    let (status, _) = li.call("GET", "/api/v1/users", None).await;
    assert_eq!(status, 403);
}

async fn the_last_admin_cannot_be_demoted_disabled_or_deleted(h: Harness) {
    let boss = h.login("boss@shop.cn", "admin").await;
    let path = format!("/api/v1/users/{}", boss.id);
    for body in [json!({"role": "agent"}), json!({"disabled": true})] {
        let (status, problem) = h.admin("PATCH", &path, Some(body.clone())).await;
        assert_eq!((status, code(&problem)), (422, "last_admin"), "{body}");
    }
    let (status, problem) = h.admin("DELETE", &path, None).await;
    assert_eq!((status, code(&problem)), (422, "last_admin"));
    // With a second admin, the first can go.
    let second = h.login("second@shop.cn", "admin").await;
    let (status, user) = h
        .admin("PATCH", &path, Some(json!({"role": "agent"})))
        .await;
    assert_eq!((status, &user["role"]), (200, &json!("agent")), "{user}");
    let (status, problem) = boss.call("GET", "/api/v1/users", None).await;
    assert_eq!((status, code(&problem)), (403, "forbidden"));
    // Now the second is the last one.
    let (status, problem) = h
        .admin(
            "PATCH",
            &format!("/api/v1/users/{}", second.id),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!((status, code(&problem)), (422, "last_admin"));
    let (status, _) = h.admin("DELETE", &path, None).await;
    assert_eq!(status, 204, "an agent can be deleted");
}

async fn a_user_sets_name_avatar_and_language_in_the_profile(h: Harness) {
    let me = h.login("me@shop.cn", "agent").await;
    let (status, session) = me.call("GET", "/api/v1/session", None).await;
    assert_eq!(status, 200);
    assert_eq!(session["name"], "小王");
    assert_eq!(session["avatar_url"], Value::Null);
    assert_eq!(session["language"], Value::Null);
    let upload = |content_type: &'static str| {
        let h = &h;
        async move {
            let res = h
                .http
                .post(format!("{}/api/v1/media", h.base))
                .bearer_auth(&h.admin)
                .header("content-type", content_type)
                .body(b"\x89PNG\r\n\x1a\n0000".to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let png = upload("image/png").await;
    let (status, session) = me
        .call(
            "PATCH",
            "/api/v1/session/profile",
            Some(json!({"name": "王小明", "avatar_media_id": png, "language": "en"})),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["name"], "王小明");
    assert_eq!(session["language"], "en");
    let avatar = session["avatar_url"].as_str().unwrap().to_string();
    assert!(avatar.ends_with(&format!("/media/{png}")), "{avatar}");
    let (_, again) = me.call("GET", "/api/v1/session", None).await;
    assert_eq!(
        (&again["name"], &again["language"], &again["avatar_url"]),
        (&json!("王小明"), &json!("en"), &json!(avatar))
    );
    let (_, users) = h.admin("GET", "/api/v1/users", None).await;
    assert_eq!(users["items"][0]["avatar_url"], json!(avatar));
    // A field left out is kept; null clears the avatar and the language.
    let (_, cleared) = me
        .call(
            "PATCH",
            "/api/v1/session/profile",
            Some(json!({"avatar_media_id": null, "language": null})),
        )
        .await;
    assert_eq!(
        (
            &cleared["name"],
            &cleared["language"],
            &cleared["avatar_url"]
        ),
        (&json!("王小明"), &Value::Null, &Value::Null)
    );
    // Only this workspace's images.
    let pdf = upload("application/pdf").await;
    for (body, want) in [
        (json!({"avatar_media_id": pdf}), "invalid_avatar"),
        (
            json!({"avatar_media_id": "no-such-upload"}),
            "invalid_avatar",
        ),
        (json!({"language": "fr"}), "invalid_request"),
        (json!({"name": ""}), "invalid_request"),
        (json!({"email": "x@y.z"}), "invalid_request"),
    ] {
        let (status, problem) = me
            .call("PATCH", "/api/v1/session/profile", Some(body.clone()))
            .await;
        assert_eq!((status, code(&problem)), (422, want), "{body} {problem}");
    }
    let other = h
        .http
        .post(format!("{}/api/v1/media", h.base))
        .bearer_auth(&h.other_admin)
        .header("content-type", "image/png")
        .body(b"\x89PNG\r\n\x1a\n1111".to_vec())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["key"]
        .clone();
    let (status, problem) = me
        .call(
            "PATCH",
            "/api/v1/session/profile",
            Some(json!({"avatar_media_id": other})),
        )
        .await;
    assert_eq!((status, code(&problem)), (422, "invalid_avatar"));
    // An API token is no user.
    let (status, problem) = h
        .admin(
            "PATCH",
            "/api/v1/session/profile",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((status, code(&problem)), (403, "not_a_user"));
    let (_, unchanged) = me.call("GET", "/api/v1/session", None).await;
    assert_eq!(unchanged["name"], "王小明");
}

async fn a_webhook_delivery_is_retried_now_unless_delivered(h: Harness) {
    let hook = Receiver::default();
    hook.status.store(500, Ordering::SeqCst);
    let url = serve(hook.clone()).await;
    let (status, sub) = h
        .admin(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": url, "event_types": ["message.created"]})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let sub = sub["id"].as_i64().unwrap();
    h.push("m1").await;
    let deliveries = format!("/api/v1/webhooks/{sub}/deliveries");
    // The receiver fails: the delivery waits for its next retry.
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let (_, list) = h.admin("GET", &deliveries, None).await;
        if let Some(d) = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["attempts"].as_i64() >= Some(1))
        {
            break d.clone();
        }
        assert!(Instant::now() < deadline, "never attempted: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["status"], "pending", "{delivery}");
    let id = delivery["id"].as_i64().unwrap();
    let retry = format!("/api/v1/webhooks/{sub}/deliveries/{id}/retry");
    // Agents and other workspaces may not.
    let (status, problem) = h.call("POST", &retry, &h.agent, None).await;
    assert_eq!((status, code(&problem)), (403, "forbidden"));
    let (status, _) = h.call("POST", &retry, &h.other_admin, None).await;
    assert_eq!(status, 404);
    // The receiver is back: retry now delivers it at once, attempts kept.
    hook.status.store(200, Ordering::SeqCst);
    let calls = hook.calls.load(Ordering::SeqCst);
    let (status, due) = h.admin("POST", &retry, None).await;
    assert_eq!(status, 202, "{due}");
    assert_eq!(due["status"], "pending");
    assert!(due["attempts"].as_i64().unwrap() >= 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, list) = h.admin("GET", &deliveries, None).await;
        let d = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap()
            .clone();
        if d["status"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(hook.calls.load(Ordering::SeqCst) > calls);
    let (status, problem) = h.admin("POST", &retry, None).await;
    assert_eq!((status, code(&problem)), (409, "already_delivered"));
    // A delivery of another subscription, an unknown one, a deleted subscription.
    let (_, other_sub) = h
        .admin("POST", "/api/v1/webhooks", Some(json!({"url": url})))
        .await;
    let other_sub = other_sub["id"].as_i64().unwrap();
    let (status, _) = h
        .admin(
            "POST",
            &format!("/api/v1/webhooks/{other_sub}/deliveries/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .admin(
            "POST",
            &format!("/api/v1/webhooks/{sub}/deliveries/999999/retry"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .admin("DELETE", &format!("/api/v1/webhooks/{sub}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = h.admin("POST", &retry, None).await;
    assert_eq!(status, 404);
}

async fn a_kept_push_is_replayed_after_its_cause_is_fixed(h: Harness) {
    // Pushes for a store the channel does not know yet are kept raw.
    for message in ["k1", "k2"] {
        assert_eq!(h.push_to(h.channel, SECRET, "shop-new", message).await, 422);
    }
    let (status, page) = h.admin("GET", "/api/v1/kept-pushes", None).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(items[0]["channel_id"], h.channel);
    assert_eq!(items[0]["platform"], "custom");
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("unknown_account"),
        "{page}"
    );
    assert!(items[0].get("body").is_none());
    // Pages, the channel filter, bad queries.
    let (_, first) = h.admin("GET", "/api/v1/kept-pushes?limit=1", None).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, second) = h
        .admin(
            "GET",
            &format!("/api/v1/kept-pushes?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["items"][0]["id"], items[1]["id"]);
    assert!(second.get("next_cursor").is_none(), "{second}");
    let (_, filtered) = h
        .admin(
            "GET",
            &format!("/api/v1/kept-pushes?channel_id={}", h.channel),
            None,
        )
        .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 2);
    for (query, want) in [
        ("limit=0", 400),
        ("limit=201", 400),
        ("cursor=garbage!", 400),
        ("channel_id=999999", 404),
    ] {
        let (status, _) = h
            .admin("GET", &format!("/api/v1/kept-pushes?{query}"), None)
            .await;
        assert_eq!(status, want, "{query}");
    }
    let (status, _) = h.call("GET", "/api/v1/kept-pushes", &h.agent, None).await;
    assert_eq!(status, 403);
    let (_, theirs) = h
        .call("GET", "/api/v1/kept-pushes", &h.other_admin, None)
        .await;
    assert_eq!(theirs["items"], json!([]));
    let (status, _) = h
        .call(
            "GET",
            &format!("/api/v1/kept-pushes?channel_id={}", h.channel),
            &h.other_admin,
            None,
        )
        .await;
    assert_eq!(status, 404);
    // Replayed before the cause is fixed: still kept.
    let first_id = items[0]["id"].as_i64().unwrap();
    let replay = format!("/api/v1/kept-pushes/{first_id}/replay");
    let (status, result) = h.admin("POST", &replay, None).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["outcome"], "still_kept");
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .starts_with("unknown_account")
    );
    let (status, _) = h.call("POST", &replay, &h.agent, None).await;
    assert_eq!(status, 403);
    let (status, _) = h.call("POST", &replay, &h.other_admin, None).await;
    assert_eq!(status, 404);
    // The account is added: the first push is replayed alone, then the rest.
    let (status, _) = h
        .admin(
            "POST",
            "/api/v1/accounts",
            Some(json!({"channel_id": h.channel, "external_id": "shop-new", "name": "新店"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, result) = h.admin("POST", &replay, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        result,
        json!({"id": first_id, "outcome": "processed", "reason": null})
    );
    let (status, _) = h.admin("POST", &replay, None).await;
    assert_eq!(status, 404, "no longer kept");
    let (status, counts) = h
        .admin(
            "POST",
            "/api/v1/kept-pushes/replay",
            Some(json!({"channel_id": h.channel})),
        )
        .await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(
        counts,
        json!({"processed": 1, "still_kept": 0, "more": false})
    );
    let (_, left) = h.admin("GET", "/api/v1/kept-pushes", None).await;
    assert_eq!(left["items"], json!([]));
    // Both messages are in the new store's conversation, once each.
    let (_, list) = h.admin("GET", "/api/v1/conversations", None).await;
    let conversation = list["items"][0]["id"].as_i64().unwrap();
    let (_, messages) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 2, "{messages}");
    let (status, counts) = h
        .admin("POST", "/api/v1/kept-pushes/replay", Some(json!({})))
        .await;
    assert_eq!(
        (status, counts),
        (200, json!({"processed": 0, "still_kept": 0, "more": false}))
    );
    let (status, _) = h
        .admin(
            "POST",
            "/api/v1/kept-pushes/replay",
            Some(json!({"channel_id": 999999})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .call(
            "POST",
            "/api/v1/kept-pushes/replay",
            &h.agent,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
    // A disconnected channel's kept pushes leave the list.
    assert_eq!(h.push_to(h.channel, SECRET, "shop-x", "k3").await, 422);
    let (_, one) = h.admin("GET", "/api/v1/kept-pushes", None).await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let kept = h
        .store
        .list_kept_pushes(h.ws, None, None, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    h.admin("DELETE", &format!("/api/v1/channels/{}", h.channel), None)
        .await;
    let (_, none) = h.admin("GET", "/api/v1/kept-pushes", None).await;
    assert_eq!(none["items"], json!([]));
}

async fn a_disabled_account_assigns_nothing_automatically(h: Harness) {
    let agent = h.login("wang@shop.cn", "agent").await;
    let (status, me) = agent
        .call(
            "PUT",
            "/api/v1/session/availability",
            Some(json!({"availability": "online"})),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    let assignment = format!("/api/v1/accounts/{}/assignment", h.account);
    let (status, body) = h
        .admin(
            "PUT",
            &assignment,
            Some(json!({"auto_assign": true, "agent_ids": []})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let first = h.push_from("c1", "m1").await;
    assert_eq!(first["assignee_id"], agent.id, "{first}");
    let path = format!("/api/v1/accounts/{}", h.account);
    let (status, _) = h
        .admin("PATCH", &path, Some(json!({"disabled": true})))
        .await;
    assert_eq!(status, 200);
    let second = h.push_from("c2", "m2").await;
    assert_eq!(second["assignee_id"], Value::Null, "{second}");
    // Its settings are kept: enabled again, it assigns again.
    let (_, kept) = h.admin("GET", &assignment, None).await;
    assert_eq!(kept["auto_assign"], true);
    let (status, _) = h
        .admin("PATCH", &path, Some(json!({"disabled": false})))
        .await;
    assert_eq!(status, 200);
    let third = h.push_from("c3", "m3").await;
    assert_eq!(third["assignee_id"], agent.id, "{third}");
}

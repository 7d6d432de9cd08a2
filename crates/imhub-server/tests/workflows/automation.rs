//! Automation through imhub's API against the Douyin sandbox, on SQLite
//! and on PostgreSQL: a rule saved through the API, a signed
//! `im_enter_direct_msg` push (its `content` a JSON string) answered by a
//! welcome that reaches the sandbox with the enter scene and the event's
//! ids, a Chinese keyword answered as a reply, a replayed push answered
//! once, rules refused with their reason, agents reading but not writing,
//! another workspace's rule a 404, the dry run, and the counters.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use imhub_core::Role;
use imhub_sandbox::douyin::{CustomerMessage, DouyinSandbox};
use imhub_server::Config;
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const KEY: &str = "awx_imhub_auto";
const SECRET: &str = "douyin-client-secret";
const SHOP: &str = "b_open_shop";
const CUSTOMER: &str = "c_open_wang";
const PUBLIC_URL: &str = "https://imhub.example";

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    agent_token: String,
    sandbox: DouyinSandbox,
    channel: i64,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn decode(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Harness {
    /// imhub on `url` with a Douyin channel whose webhooks come from a
    /// fresh sandbox, and SHOP authorized through imhub's QR flow.
    async fn start(url: String) -> Harness {
        let sandbox = DouyinSandbox::new();
        sandbox.add_app(KEY, SECRET);
        sandbox.add_account(SHOP, "小店");
        sandbox.add_customer(CUSTOMER, Some("小王"), None);
        let platform = serve(imhub_sandbox::douyin::router(sandbox.clone())).await;
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            public_url: Some(PUBLIC_URL.into()),
            ..Config::default()
        };
        config.delivery.backoff_base_ms = 20;
        config.delivery.backoff_max_ms = 100;
        config.delivery.max_attempts = 3;
        config.platforms.douyin.base_url = Some(platform);
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let agent_token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "a", Role::Agent)
            .await
            .unwrap();
        let mut h = Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            store,
            token,
            agent_token,
            sandbox,
            channel: 0,
        };
        let (status, channel) = h
            .post(
                "/api/v1/channels",
                json!({"platform": "douyin", "name": "抖音企业号",
                       "config": {"client_key": KEY, "client_secret": SECRET}}),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        h.channel = channel["id"].as_i64().unwrap();
        h.sandbox
            .set_webhook_url(KEY, &format!("{}/webhooks/douyin/{}", h.base, h.channel));
        let (status, url) = h
            .post(
                &format!("/api/v1/douyin/channels/{}/authorize-url", h.channel),
                json!({}),
            )
            .await;
        assert_eq!(status, 201, "{url}");
        let page = h
            .http
            .get(url["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 302);
        let back = page.headers()["location"]
            .to_str()
            .unwrap()
            .strip_prefix(PUBLIC_URL)
            .unwrap()
            .to_string();
        let (status, account) = decode(
            h.http
                .get(format!("{}{back}", h.base))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{account}");
        h
    }

    async fn call(&self, req: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
        decode(req.bearer_auth(token).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(self.http.get(format!("{}{path}", self.base)), &self.token)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(
            self.http.post(format!("{}{path}", self.base)).json(&body),
            &self.token,
        )
        .await
    }

    async fn as_agent(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.call(
            self.http
                .request(method, format!("{}{path}", self.base))
                .json(&body),
            &self.agent_token,
        )
        .await
    }

    fn customer(&self) -> imhub_sandbox::douyin::SimulatedCustomer {
        self.sandbox.customer(KEY, SHOP, CUSTOMER)
    }

    /// Waits until the sandbox received `n` messages from SHOP.
    async fn wait_sent(&self, n: usize) -> Vec<imhub_sandbox::douyin::SentMessage> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let sent = self.sandbox.sent_messages(SHOP);
            if sent.len() >= n {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "only {} sent: {sent:?}",
                sent.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn messages(&self) -> Vec<Value> {
        let (status, page) = self.get("/api/v1/conversations").await;
        assert_eq!(status, 200, "{page}");
        let id = page["items"][0]["id"].as_i64().unwrap();
        let (status, page) = self
            .get(&format!("/api/v1/conversations/{id}/messages"))
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

async fn on_both(test: impl AsyncFn(Harness)) {
    test(Harness::start(testing::sqlite_database()).await).await;
    if let Some(url) = testing::postgres_database() {
        test(Harness::start(url).await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_douyin_enter_chat_push_gets_one_welcome_with_the_enter_scene() {
    on_both(async |h: Harness| {
        let (status, rule) = h
            .post(
                "/api/v1/automation/rules",
                json!({"name": "欢迎语", "trigger": {"type": "entered_chat"},
                       "actions": [{"type": "reply", "text": "{{contact.nickname}}您好，欢迎光临{{account.name}}"}]}),
            )
            .await;
        assert_eq!(status, 201, "{rule}");
        let opened = h.customer().enter_chat().await.unwrap();
        assert_eq!(opened.status, 200);
        // The push's content is a JSON string, as Douyin sends it.
        let pushed: Value = serde_json::from_slice(&opened.body).unwrap();
        assert!(pushed["content"].is_string(), "{pushed}");
        let sent = h.wait_sent(1).await;
        assert_eq!(sent[0].scene.as_deref(), Some("im_enter_direct_msg"));
        assert_eq!(sent[0].reply_to, opened.server_message_id);
        assert_eq!(Some(sent[0].conversation_id.clone()), opened.conversation_id);
        // The account is named by its open_id until the merchant renames it.
        assert_eq!(
            sent[0].contents[0]["text"]["text"],
            format!("小王您好，欢迎光临{SHOP}")
        );
        // The platform delivering the same push again sends nothing more.
        let again = h.sandbox.redeliver(&opened, KEY).await.unwrap();
        assert_eq!(again.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(h.sandbox.sent_messages(SHOP).len(), 1);
        let messages = h.messages().await;
        let auto: Vec<&Value> = messages
            .iter()
            .filter(|m| m["sender_kind"] == "automation")
            .collect();
        assert_eq!(auto.len(), 1, "{messages:?}");
        assert_eq!(auto[0]["rule_id"], rule["id"]);
        // Counted when it was sent.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, stats) = h
                .get(&format!("/api/v1/automation/rules/{}/stats", rule["id"]))
                .await;
            assert_eq!(status, 200, "{stats}");
            if stats["sent"] == 1 {
                assert_eq!(stats["fired"], 1);
                assert_eq!(stats["failed"], 0);
                break;
            }
            assert!(Instant::now() < deadline, "{stats}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chinese_keyword_is_answered_as_a_reply_to_that_message() {
    on_both(async |h: Harness| {
        let (status, rule) = h
            .post(
                "/api/v1/automation/rules",
                json!({"name": "退款", "scope": {"platforms": ["douyin"]},
                       "trigger": {"type": "keywords", "match": "contains_any", "keywords": ["退款", "退货"]},
                       "actions": [{"type": "reply", "text": "退款请在订单页申请，1-3个工作日到账"}]}),
            )
            .await;
        assert_eq!(status, 201, "{rule}");
        h.customer()
            .send(CustomerMessage::Text("你好".into()))
            .await
            .unwrap();
        let asked = h
            .customer()
            .send(CustomerMessage::Text("请问怎么退款？".into()))
            .await
            .unwrap();
        let sent = h.wait_sent(1).await;
        assert_eq!(sent[0].scene, None);
        assert_eq!(sent[0].reply_to, asked.server_message_id);
        assert_eq!(
            sent[0].contents[0]["text"]["text"],
            "退款请在订单页申请，1-3个工作日到账"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(h.sandbox.sent_messages(SHOP).len(), 1, "one reply only");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_admin_written_agent_read_and_refused_with_their_reason() {
    let h = Harness::start(testing::sqlite_database()).await;
    let bad = |trigger: Value, actions: Value| json!({"name": "r", "trigger": trigger, "actions": actions});
    let text = json!([{"type": "reply", "text": "x"}]);
    for (body, code) in [
        (
            bad(json!({"type": "regex", "pattern": "(退款"}), text.clone()),
            "invalid_pattern",
        ),
        (
            bad(
                json!({"type": "regex", "pattern": "a".repeat(501)}),
                text.clone(),
            ),
            "pattern_too_long",
        ),
        (
            bad(
                json!({"type": "keywords", "match": "exact", "keywords": []}),
                text.clone(),
            ),
            "invalid_keywords",
        ),
        (
            bad(json!({"type": "entered_chat"}), json!([])),
            "no_actions",
        ),
        (
            bad(json!({"type": "entered_chat"}), json!([{"type": "reply"}])),
            "invalid_reply",
        ),
        (
            bad(
                json!({"type": "entered_chat"}),
                json!([{"type": "reply", "text": "好".repeat(301)}]),
            ),
            "reply_too_long_for_douyin",
        ),
        (
            bad(
                json!({"type": "no_human_reply", "minutes": 0}),
                json!([{"type": "emit_webhook"}]),
            ),
            "invalid_minutes",
        ),
        (
            bad(
                json!({"type": "entered_chat"}),
                json!([{"type": "reply", "text": "a"}, {"type": "reply", "text": "b"}]),
            ),
            "several_replies",
        ),
        (
            bad(
                json!({"type": "entered_chat"}),
                json!([{"type": "reply", "quick_reply_id": 999}]),
            ),
            "unknown_quick_reply",
        ),
        (
            bad(
                json!({"type": "entered_chat"}),
                json!([{"type": "add_label", "label_id": 999}]),
            ),
            "unknown_label",
        ),
        (
            bad(
                json!({"type": "entered_chat"}),
                json!([{"type": "assign", "to": "agent", "agent_id": 999}]),
            ),
            "unknown_agent",
        ),
    ] {
        let (status, problem) = h.post("/api/v1/automation/rules", body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
    }
    let (status, rule) = h
        .post(
            "/api/v1/automation/rules",
            json!({"name": "r", "trigger": {"type": "off_hours"}, "actions": [{"type": "reply", "text": "稍后回复"}]}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let path = format!("/api/v1/automation/rules/{}", rule["id"]);
    // Agents read, test and count, but do not write.
    let (status, _) = h.as_agent(reqwest::Method::GET, &path, Value::Null).await;
    assert_eq!(status, 200);
    let (status, problem) = h
        .as_agent(
            reqwest::Method::POST,
            "/api/v1/automation/rules",
            json!({"name": "x", "trigger": {"type": "off_hours"}, "actions": [{"type": "emit_webhook"}]}),
        )
        .await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = h
        .as_agent(reqwest::Method::DELETE, &path, Value::Null)
        .await;
    assert_eq!(status, 403);
    let (status, out) = h
        .as_agent(
            reqwest::Method::POST,
            "/api/v1/automation/rules/test",
            // 2026-12-01T23:00:00+08:00: off hours by the default hours.
            json!({"text": "在吗", "platform": "douyin", "at": "2026-12-01T15:00:00Z"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["within_business_hours"], false);
    assert_eq!(out["fired"][0]["reply"]["text"], "稍后回复");
    // Another workspace's rule is a 404.
    let other = h.store.create_workspace("other").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "o", Role::Admin)
        .await
        .unwrap();
    let (status, problem) = h
        .call(h.http.get(format!("{}{path}", h.base)), &token)
        .await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    // Settings: refused with the hours' reason.
    let (status, problem) = h
        .call(
            h.http
                .put(format!("{}/api/v1/automation/settings", h.base))
                .json(&json!({"time_zone": "Mars/Olympus"})),
            &h.token,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_hours"))
    );
    let (status, settings) = h.get("/api/v1/automation/settings").await;
    assert_eq!(status, 200);
    assert_eq!(settings["time_zone"], "Asia/Shanghai");
    assert_eq!(settings["daily_reply_cap"], 5);
    assert_eq!(settings["takeover_minutes"], 30);
    let (status, order) = h
        .call(
            h.http
                .put(format!("{}/api/v1/automation/rules/order", h.base))
                .json(&json!({"rule_ids": [rule["id"]]})),
            &h.token,
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let (status, problem) = h
        .call(
            h.http
                .put(format!("{}/api/v1/automation/rules/order", h.base))
                .json(&json!({"rule_ids": []})),
            &h.token,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
}

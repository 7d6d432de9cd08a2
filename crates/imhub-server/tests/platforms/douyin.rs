//! Douyin through imhub against the sandbox: a real imhub server on a real
//! SQLite file, the Douyin emulator on another port, signed webhooks from
//! simulated customers, the QR authorization through imhub's API, and
//! replies, recalls, fan groups and cards through imhub's API only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use imhub_core::Role;
use imhub_douyin::webhook::signature;
use imhub_sandbox::douyin::{CustomerMessage, DouyinSandbox};
use imhub_server::Config;
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const KEY: &str = "awx_imhub_test";
const SECRET: &str = "douyin-client-secret";
const SHOP: &str = "b_open_shop";
const CUSTOMER: &str = "c_open_wang";
const PUBLIC_URL: &str = "https://imhub.example";

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

struct Douyin {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    ws: imhub_core::WorkspaceId,
    sandbox: DouyinSandbox,
    channel: i64,
    /// The imhub account of SHOP, once authorized.
    account: i64,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

impl Douyin {
    /// imhub with a Douyin channel pointed at a fresh sandbox, whose webhook
    /// URL is imhub's, and SHOP authorized through imhub's QR flow.
    async fn start() -> Douyin {
        let sandbox = DouyinSandbox::new();
        sandbox.add_app(KEY, SECRET);
        sandbox.add_account(SHOP, "小店");
        sandbox.add_customer(CUSTOMER, Some("小王"), Some("https://p3.example/wang.jpeg"));
        let platform = serve(imhub_sandbox::douyin::router(sandbox.clone())).await;

        let store = Arc::new(
            SqlStore::open(StoreOptions::new(testing::sqlite_database()))
                .await
                .unwrap(),
        );
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            // Douyin redirects only to https: imhub sits behind a TLS proxy.
            public_url: Some(PUBLIC_URL.into()),
            ..Config::default()
        };
        config.delivery.backoff_base_ms = 20;
        config.delivery.backoff_max_ms = 100;
        config.delivery.max_attempts = 3;
        config.platforms.douyin.base_url = Some(platform.clone());
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let mut h = Douyin {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            store,
            token,
            ws,
            sandbox,
            channel: 0,
            account: 0,
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
        let account = h.authorize().await;
        assert_eq!(account["external_id"], SHOP);
        assert_eq!(account["state"], "active");
        h.account = account["id"].as_i64().unwrap();
        h
    }

    /// The merchant's browser: imhub's authorize URL → the sandbox's QR page
    /// (the scanning account grants) → the redirect back to imhub.
    async fn authorize(&self) -> Value {
        let (status, url) = self
            .post(
                &format!("/api/v1/douyin/channels/{}/authorize-url", self.channel),
                json!({}),
            )
            .await;
        assert_eq!(status, 201, "{url}");
        let back = self.scan(url["url"].as_str().unwrap()).await;
        let (status, account) = self.get_public(&back).await;
        assert_eq!(status, 200, "{account}");
        account
    }

    /// Opens the platform's page and returns imhub's callback path + query.
    async fn scan(&self, url: &str) -> String {
        let page = self.http.get(url).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 302);
        let location = page.headers()["location"].to_str().unwrap().to_string();
        location
            .strip_prefix(PUBLIC_URL)
            .expect("redirects to imhub's public URL")
            .to_string()
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.bearer_auth(&self.token).send().await.unwrap();
        decode(res).await
    }

    async fn get_public(&self, path: &str) -> (u16, Value) {
        decode(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.put(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    fn customer(&self) -> imhub_sandbox::douyin::SimulatedCustomer {
        self.sandbox.customer(KEY, SHOP, CUSTOMER)
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, page) = self.get("/api/v1/conversations").await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    async fn messages(&self, conversation: i64) -> Vec<Value> {
        let (status, page) = self
            .get(&format!("/api/v1/conversations/{conversation}/messages"))
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    async fn upload_image(&self) -> String {
        let (status, image) = self
            .call(
                self.http
                    .post(format!(
                        "{}/api/v1/douyin/channels/{}/images",
                        self.base, self.channel
                    ))
                    .header("content-type", "image/png")
                    .body(PNG),
            )
            .await;
        assert_eq!(status, 201, "{image}");
        image["image_id"].as_str().unwrap().to_string()
    }

    async fn create_lead_card(&self, media_id: &str) -> String {
        let (status, card) = self
            .post(
                &format!("/api/v1/douyin/accounts/{}/lead-cards", self.account),
                json!({"title": "留下联系方式", "media_id": media_id, "components": [1, 2]}),
            )
            .await;
        assert_eq!(status, 201, "{card}");
        card["card_id"].as_str().unwrap().to_string()
    }

    /// Queues a reply; returns the message id.
    async fn reply(&self, conversation: i64, content: Value) -> i64 {
        let (status, message) = self
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                json!({ "content": content }),
            )
            .await;
        assert_eq!(status, 202, "{message}");
        message["id"].as_i64().unwrap()
    }

    /// Waits until a message reaches `status` and returns it.
    async fn wait_status(&self, message: i64, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (code, m) = self.get(&format!("/api/v1/messages/{message}")).await;
            assert_eq!(code, 200, "{m}");
            if m["status"] == status {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "message {message} never became {status}: {m}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Percent-encodes an opaque platform id for one URL path segment.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn decode(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Replies with text, an uploaded image and a lead card, checks the platform
/// got exactly those in order quoting `reply_to` in `conversation_id`, then
/// recalls the image.
async fn reply_three_and_recall_one(
    h: &Douyin,
    conversation: i64,
    reply_to: Option<&str>,
    platform_conversation: &str,
) {
    let image_id = h.upload_image().await;
    let card_id = h.create_lead_card(&image_id).await;
    let ids = [
        h.reply(conversation, json!({"type": "text", "text": "您好，在的"}))
            .await,
        h.reply(conversation, json!({"type": "image", "media_id": image_id}))
            .await,
        h.reply(
            conversation,
            json!({"type": "lead_card", "card_id": card_id}),
        )
        .await,
    ];
    let mut sent = Vec::new();
    for id in ids {
        sent.push(h.wait_status(id, "sent").await);
    }
    let received = h.sandbox.sent_messages(SHOP);
    assert_eq!(received.len(), 3, "{received:?}");
    let kinds: Vec<i64> = received
        .iter()
        .map(|m| m.contents[0]["msg_type"].as_i64().unwrap())
        .collect();
    assert_eq!(kinds, [1, 2, 8], "text, image, lead card in order");
    assert_eq!(received[0].contents[0]["text"]["text"], "您好，在的");
    assert_eq!(
        received[1].contents[0]["image"]["media_id"],
        image_id.as_str()
    );
    assert_eq!(
        received[2].contents[0]["retain_consult_card"]["card_id"],
        card_id.as_str()
    );
    for (platform, ours) in received.iter().zip(&sent) {
        assert_eq!(platform.reply_to.as_deref(), reply_to);
        assert_eq!(platform.conversation_id, platform_conversation);
        assert_eq!(ours["platform_message_id"], platform.msg_id.as_str());
    }

    let (status, recalled) = h
        .post(&format!("/api/v1/messages/{}/recall", ids[1]), json!({}))
        .await;
    assert_eq!(status, 202, "{recalled}");
    h.wait_status(ids[1], "recalled").await;
    let after = h.sandbox.sent_messages(SHOP);
    assert_eq!(
        after.iter().map(|m| m.recalled).collect::<Vec<_>>(),
        [false, true, false]
    );
    let recalls = h.sandbox.recalls();
    assert_eq!(recalls.len(), 1);
    assert_eq!(recalls[0].msg_id, after[1].msg_id);
    assert_eq!(recalls[0].conversation_id, platform_conversation);
    // The platform echoed each send as `im_send_msg`: no second copies.
    let messages = h.messages(conversation).await;
    assert_eq!(messages.len(), 4, "{messages:?}");
}

#[tokio::test]
async fn customer_message_is_listed_and_replies_reach_douyin_in_order_then_one_is_recalled() {
    let h = Douyin::start().await;
    let pushed = h
        .customer()
        .send(CustomerMessage::Text("在吗？想问下价格".into()))
        .await
        .unwrap();
    assert_eq!(pushed.status, 200);

    let list = h.conversations().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let chat = &list[0];
    assert_eq!(chat["kind"], "direct");
    assert_eq!(chat["platform"], "douyin");
    assert_eq!(chat["unread_count"], 1);
    assert_eq!(chat["title"], "小王");
    assert_eq!(chat["peer_external_id"], CUSTOMER);
    let conversation = chat["id"].as_i64().unwrap();

    reply_three_and_recall_one(
        &h,
        conversation,
        pushed.server_message_id.as_deref(),
        pushed.conversation_id.as_deref().unwrap(),
    )
    .await;
    let platform = h.sandbox.sent_messages(SHOP);
    assert!(
        platform
            .iter()
            .all(|m| m.to_user_id.as_deref() == Some(CUSTOMER))
    );
}

#[tokio::test]
async fn fan_group_message_is_listed_as_group_and_replies_go_to_the_group() {
    let h = Douyin::start().await;
    let acc = h.account;
    let (_, quota) = h
        .get(&format!("/api/v1/douyin/accounts/{acc}/groups/quota"))
        .await;
    assert_eq!(quota["left_count"], 3);
    let (status, created) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/groups"),
            json!({"group_name": "小店粉丝群", "description": "新品抢先看", "open_audit_switch": 1}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let group_id = created["group_id"].as_str().unwrap().to_string();
    let (_, groups) = h
        .get(&format!("/api/v1/douyin/accounts/{acc}/groups"))
        .await;
    assert_eq!(groups["items"][0]["group_id"], group_id.as_str());
    assert_eq!(groups["items"][0]["group_name"], "小店粉丝群");
    let (_, quota) = h
        .get(&format!("/api/v1/douyin/accounts/{acc}/groups/quota"))
        .await;
    assert_eq!(quota["left_count"], 2);

    let pushed = h
        .customer()
        .send_in_group(&group_id, CustomerMessage::Text("群里有优惠吗".into()))
        .await
        .unwrap();
    assert_eq!(pushed.status, 200);
    let list = h.conversations().await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "group");
    assert_eq!(list[0]["unread_count"], 1);
    assert_eq!(list[0]["peer_external_id"], group_id.as_str());
    let conversation = list[0]["id"].as_i64().unwrap();
    let messages = h.messages(conversation).await;
    assert_eq!(messages[0]["sender_name"], "小王");

    // Group sends quote no customer message: they go to the group.
    reply_three_and_recall_one(&h, conversation, None, &group_id).await;
    let platform = h.sandbox.sent_messages(SHOP);
    assert!(
        platform
            .iter()
            .all(|m| m.group_id.as_deref() == Some(group_id.as_str()))
    );
}

#[tokio::test]
async fn fan_group_settings_and_join_requests_are_managed_through_the_api() {
    let h = Douyin::start().await;
    let acc = h.account;
    let group_id = h.sandbox.add_group(SHOP, "老粉群");

    let (status, _) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/group-settings"),
            json!({"group_id": group_id, "setting": "welcome",
                   "messages": [{"type": "text", "text": "欢迎入群"}]}),
        )
        .await;
    assert_eq!(status, 204);
    let group = &h.sandbox.groups(SHOP)[0];
    assert_eq!(group.settings[&1][0]["text"]["text"], "欢迎入群");

    // An image cannot be a greeting: refused before the platform is asked.
    let (status, problem) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/group-settings"),
            json!({"group_id": group_id, "setting": "notice",
                   "messages": [{"type": "image", "media_id": "x"}]}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );

    let (status, _) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/group-settings/disable"),
            json!({"group_id": group_id, "setting": "welcome"}),
        )
        .await;
    assert_eq!(status, 204);
    assert!(h.sandbox.groups(SHOP)[0].settings.is_empty());

    // A group the account does not own: the platform's own error, kept.
    let (status, problem) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/group-settings/disable"),
            json!({"group_id": "@not-ours", "setting": "notice"}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("douyin_error"))
    );
    assert!(problem["detail"].as_str().unwrap().contains("28001007"));

    let first = h.sandbox.add_join_request(&group_id, "c_open_li");
    let second = h.sandbox.add_join_request(&group_id, "c_open_zhao");
    for bad in ["count=0", "count=51"] {
        let (status, problem) = h
            .get(&format!(
                "/api/v1/douyin/accounts/{acc}/join-requests?{bad}"
            ))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("invalid_query"))
        );
    }
    let (status, page) = h
        .get(&format!(
            "/api/v1/douyin/accounts/{acc}/join-requests?count=1"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["status"], "pending");
    let cursor = page["next_cursor"].as_i64().expect("a second page");
    let (_, rest) = h
        .get(&format!(
            "/api/v1/douyin/accounts/{acc}/join-requests?count=50&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());

    // apply_ids are opaque `@…==` strings with `/` and `+`: one path
    // segment once percent-encoded.
    assert!(first.contains('/') && first.contains('+'), "{first}");
    let (first, second) = (path_segment(&first), path_segment(&second));
    let (status, _) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/join-requests/{first}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/join-requests/{second}/reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/join-requests/{second}/maybe"),
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let decided: Vec<i64> = h
        .sandbox
        .join_requests(&group_id)
        .iter()
        .map(|a| a.apply_status)
        .collect();
    assert_eq!(decided, [2, 3]);
}

#[tokio::test]
async fn lead_cards_and_card_templates_round_trip_through_the_api() {
    let h = Douyin::start().await;
    let acc = h.account;
    let image_id = h.upload_image().await;

    let card_id = h.create_lead_card(&image_id).await;
    let (status, _) = h
        .put(
            &format!("/api/v1/douyin/accounts/{acc}/lead-cards/{card_id}"),
            json!({"title": "预约到店", "media_id": image_id, "components": [1, 2, 3]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, cards) = h
        .get(&format!("/api/v1/douyin/accounts/{acc}/lead-cards"))
        .await;
    assert_eq!(cards["items"][0]["title"], "预约到店");
    assert_eq!(cards["items"][0]["components"], json!([1, 2, 3]));
    let (status, problem) = h
        .post(
            &format!("/api/v1/douyin/accounts/{acc}/lead-cards"),
            json!({"title": "x", "media_id": image_id, "components": [4]}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, _) = h
        .delete(&format!(
            "/api/v1/douyin/accounts/{acc}/lead-cards/{card_id}"
        ))
        .await;
    assert_eq!(status, 204);
    assert!(h.sandbox.lead_cards(SHOP).is_empty());

    let templates = format!("/api/v1/douyin/channels/{}/card-templates", h.channel);
    let (status, created) = h
        .post(
            &templates,
            json!({"title": "进店领券", "content": "点击进入小程序", "media_id": image_id,
                   "app_id": "tt1234567890"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let template_id = created["card_template_id"].as_str().unwrap().to_string();
    // Template ids are opaque `@…==` strings: one path segment once encoded.
    let raw_template_id = template_id.clone();
    let template_id = path_segment(&template_id);
    let (status, _) = h
        .put(
            &format!("{templates}/{template_id}"),
            json!({"title": "进店领大额券", "content": "点击进入小程序", "media_id": image_id,
                   "app_id": "tt1234567890"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, page) = h.get(&format!("{templates}?count=10")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"][0]["card_template_id"],
        raw_template_id.as_str()
    );
    assert_eq!(page["items"][0]["title"], "进店领大额券");
    let (status, problem) = h
        .post(
            &templates,
            json!({"title": "这是一个明显超过了三十个字符限制的小程序引导卡片模板标题文字啊", "content": "c",
                   "media_id": image_id, "app_id": "tt1"}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, _) = h.delete(&format!("{templates}/{template_id}")).await;
    assert_eq!(status, 204);
    assert!(h.sandbox.templates().is_empty());
}

#[tokio::test]
async fn other_workspaces_get_404_and_agents_cannot_change_douyin_settings() {
    let h = Douyin::start().await;
    let other = h.store.create_workspace("other").await.unwrap().id;
    let outsider = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "o", Role::Admin)
        .await
        .unwrap();
    let agent = imhub_server::auth::issue_api_token(h.store.as_ref(), h.ws, "a", Role::Agent)
        .await
        .unwrap();
    let (acc, ch) = (h.account, h.channel);
    let paths = [
        format!("/api/v1/douyin/accounts/{acc}/groups"),
        format!("/api/v1/douyin/accounts/{acc}/groups/quota"),
        format!("/api/v1/douyin/accounts/{acc}/lead-cards"),
        format!("/api/v1/douyin/accounts/{acc}/join-requests"),
        format!("/api/v1/douyin/channels/{ch}/card-templates"),
    ];
    for path in &paths {
        let res = h
            .http
            .get(format!("{}{path}", h.base))
            .bearer_auth(&outsider)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
    }
    let res = h
        .http
        .post(format!(
            "{}/api/v1/douyin/channels/{ch}/authorize-url",
            h.base
        ))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let res = h
        .http
        .post(format!("{}/api/v1/douyin/accounts/{acc}/groups", h.base))
        .bearer_auth(&agent)
        .json(&json!({"group_name": "g"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    // Agents may read and upload images to reply with.
    let res = h
        .http
        .get(format!("{}/api/v1/douyin/accounts/{acc}/groups", h.base))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(h.sandbox.groups(SHOP).is_empty());
}

#[tokio::test]
async fn authorization_callback_refuses_forged_and_reused_state() {
    let h = Douyin::start().await;
    let (_, url) = h
        .post(
            &format!("/api/v1/douyin/channels/{}/authorize-url", h.channel),
            json!({}),
        )
        .await;
    let back = h.scan(url["url"].as_str().unwrap()).await;
    let state = url["state"].as_str().unwrap();
    // A forged state naming the same channel.
    let forged = back.replace(state, &format!("{}.forged", h.channel));
    let (status, problem) = h.get_public(&forged).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("authorization_state_invalid"))
    );
    let (status, _) = h.get_public(&back).await;
    assert_eq!(status, 200);
    let (status, problem) = h.get_public(&back).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("authorization_state_invalid")),
        "a state works once"
    );
    let (status, problem) = h
        .get_public(&format!("/api/v1/douyin/oauth/callback?state={state}"))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("authorization_denied"))
    );
    // One account, however often it authorizes.
    let (_, accounts) = h.get("/api/v1/accounts").await;
    assert_eq!(accounts["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn douyin_routes_are_in_the_openapi_document() {
    let h = Douyin::start().await;
    let (status, doc) = h.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/douyin/channels/{id}/authorize-url",
        "/api/v1/douyin/oauth/callback",
        "/api/v1/douyin/channels/{id}/images",
        "/api/v1/douyin/channels/{id}/card-templates/{template_id}",
        "/api/v1/douyin/accounts/{id}/groups/quota",
        "/api/v1/douyin/accounts/{id}/media",
        "/api/v1/douyin/accounts/{id}/join-requests/{apply_id}/{decision}",
        "/api/v1/douyin/accounts/{id}/lead-cards/{card_id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

#[tokio::test]
async fn wrong_signature_is_refused_with_401_and_nothing_is_stored() {
    let h = Douyin::start().await;
    let pushed = h
        .customer()
        .send_with_wrong_signature(CustomerMessage::Text("伪造".into()))
        .await
        .unwrap();
    assert_eq!(pushed.status, 401);
    assert!(h.conversations().await.is_empty());
    for status in ["processed", "unprocessable"] {
        let raw = h.store.list_raw_events(h.ws, status, 10).await.unwrap();
        assert!(raw.is_empty(), "{status}: {raw:?}");
    }
}

#[tokio::test]
async fn replayed_msg_id_is_stored_once_and_verify_webhook_gets_its_challenge() {
    let h = Douyin::start().await;
    let first = h
        .customer()
        .send(CustomerMessage::Text("只存一次".into()))
        .await
        .unwrap();
    let again = h.sandbox.redeliver(&first, KEY).await.unwrap();
    assert_eq!((first.status, again.status), (200, 200));
    let list = h.conversations().await;
    assert_eq!(list[0]["unread_count"], 1);
    let messages = h.messages(list[0]["id"].as_i64().unwrap()).await;
    assert_eq!(messages.len(), 1);

    let handshake = h.sandbox.push_verify_webhook(KEY, 987_654).await.unwrap();
    assert_eq!(handshake.status, 200);
    let answer: Value = serde_json::from_slice(&handshake.response).unwrap();
    assert_eq!(answer, json!({"challenge": 987_654}));
}

#[tokio::test]
async fn expired_access_token_is_refreshed_transparently_and_the_send_succeeds() {
    let h = Douyin::start().await;
    h.customer()
        .send(CustomerMessage::Text("还在吗".into()))
        .await
        .unwrap();
    let conversation = h.conversations().await[0]["id"].as_i64().unwrap();
    h.sandbox.expire_access_tokens(SHOP);
    let id = h
        .reply(conversation, json!({"type": "text", "text": "在的"}))
        .await;
    let sent = h.wait_status(id, "sent").await;
    let platform = h.sandbox.sent_messages(SHOP);
    assert_eq!(platform.len(), 1);
    assert_eq!(sent["platform_message_id"], platform[0].msg_id.as_str());
    let (_, account) = h.get(&format!("/api/v1/accounts/{}", h.account)).await;
    assert_eq!(account["state"], "active");
}

#[tokio::test]
async fn revoked_authorization_marks_the_account_and_sends_fail_with_a_clear_code() {
    let h = Douyin::start().await;
    h.customer()
        .send(CustomerMessage::Text("你好".into()))
        .await
        .unwrap();
    let conversation = h.conversations().await[0]["id"].as_i64().unwrap();
    h.sandbox.revoke(SHOP);
    let id = h
        .reply(conversation, json!({"type": "text", "text": "您好"}))
        .await;
    let failed = h.wait_status(id, "failed").await;
    assert_eq!(failed["error_code"], "auth_expired", "{failed}");
    let (_, account) = h.get(&format!("/api/v1/accounts/{}", h.account)).await;
    assert_eq!(account["state"], "needs_reauthorization");
    assert!(h.sandbox.sent_messages(SHOP).is_empty());

    // From now on imhub refuses at once, for messages and Douyin calls.
    let (status, problem) = h
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"content": {"type": "text", "text": "再试一次"}}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("account_needs_reauthorization"))
    );
    let (status, problem) = h
        .get(&format!("/api/v1/douyin/accounts/{}/groups", h.account))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("account_needs_reauthorization"))
    );

    // Scanning the QR code again brings the account back.
    let account = h.authorize().await;
    assert_eq!(account["id"], h.account);
    assert_eq!(account["state"], "active");
    let id = h
        .reply(conversation, json!({"type": "text", "text": "恢复了"}))
        .await;
    h.wait_status(id, "sent").await;
}

#[tokio::test]
async fn reply_after_the_24_hour_window_is_refused_before_queueing() {
    let h = Douyin::start().await;
    let written = imhub_core::Timestamp::now().millis() - 25 * 3600 * 1000;
    let content = json!({"conversation_short_id": "@old-conversation", "server_message_id": "@old-message",
        "conversation_type": 1, "message_type": "text", "text": "昨天问的", "create_time": written,
        "user_infos": [{"open_id": CUSTOMER, "nick_name": "小王"}]});
    let body = json!({"event": "im_receive_msg", "client_key": KEY, "from_user_id": CUSTOMER,
        "to_user_id": SHOP, "content": content.to_string(), "log_id": "old"})
    .to_string();
    let res = h
        .http
        .post(format!("{}/webhooks/douyin/{}", h.base, h.channel))
        .header("X-Douyin-Signature", signature(SECRET, body.as_bytes()))
        .header("Msg-Id", "old-push")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let conversation = h.conversations().await[0]["id"].as_i64().unwrap();
    let (status, problem) = h
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"content": {"type": "text", "text": "不好意思才看到"}}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("reply_window_closed"))
    );
    assert_eq!(h.messages(conversation).await.len(), 1, "nothing queued");
    assert!(h.sandbox.sent_messages(SHOP).is_empty());
}

#[tokio::test]
async fn unauthorize_push_marks_the_account_and_replies_are_refused() {
    let h = Douyin::start().await;
    h.customer()
        .send(CustomerMessage::Text("你好".into()))
        .await
        .unwrap();
    let conversation = h.conversations().await[0]["id"].as_i64().unwrap();
    let pushed = h
        .sandbox
        .push_authorization(KEY, SHOP, "unauthorize", &["im.direct_message"])
        .await
        .unwrap();
    assert_eq!(pushed.status, 200);
    let (_, account) = h.get(&format!("/api/v1/accounts/{}", h.account)).await;
    assert_eq!(account["state"], "needs_reauthorization", "{account}");
    let (status, problem) = h
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"content": {"type": "text", "text": "您好"}}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("account_needs_reauthorization"))
    );
}

#[tokio::test]
async fn customer_without_nickname_is_listed_as_anonymous() {
    let h = Douyin::start().await;
    h.sandbox
        .customer(KEY, SHOP, "c_open_nameless")
        .send(CustomerMessage::Text("hello".into()))
        .await
        .unwrap();
    let list = h.conversations().await;
    assert_eq!(list[0]["title"], "匿名");
}

#[tokio::test]
async fn opened_chat_can_be_answered_with_the_enter_scene() {
    let h = Douyin::start().await;
    let opened = h.customer().enter_chat().await.unwrap();
    assert_eq!(opened.status, 200);
    let list = h.conversations().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let conversation = list[0]["id"].as_i64().unwrap();
    let id = h
        .reply(conversation, json!({"type": "text", "text": "欢迎光临"}))
        .await;
    h.wait_status(id, "sent").await;
    let sent = h.sandbox.sent_messages(SHOP);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].scene.as_deref(), Some("im_enter_direct_msg"));
    assert_eq!(sent[0].reply_to, opened.server_message_id);
    assert_eq!(
        Some(sent[0].conversation_id.clone()),
        opened.conversation_id
    );
}

#[tokio::test]
async fn media_of_a_customers_phone_image_and_video_is_fetched_through_the_api() {
    let h = Douyin::start().await;
    let image = h
        .customer()
        .send(CustomerMessage::UserLocalImage)
        .await
        .unwrap();
    let video = h
        .customer()
        .send(CustomerMessage::UserLocalVideo)
        .await
        .unwrap();
    let text = h
        .customer()
        .send(CustomerMessage::Text("看图".into()))
        .await
        .unwrap();
    let media_of = |conversation: &str, message: &str| {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/douyin/accounts/{}/media", h.base, h.account),
            [("conversation_id", conversation), ("message_id", message)],
        )
        .unwrap();
        format!("{}?{}", url.path(), url.query().unwrap())
    };
    let media = |d: &imhub_sandbox::douyin::Delivery| {
        media_of(
            d.conversation_id.as_deref().unwrap(),
            d.server_message_id.as_deref().unwrap(),
        )
    };

    let (status, got) = h.get(&media(&image)).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["media_type"], "image");
    assert!(
        got["url"].as_str().unwrap().starts_with("https://"),
        "{got}"
    );
    let (status, got) = h.get(&media(&video)).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["media_type"], "video");

    // A text message has no resource: Douyin refuses, imhub says so.
    let (status, problem) = h.get(&media(&text)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("douyin_error"))
    );
    // An id from no conversation of this account.
    let (status, problem) = h
        .get(&media_of(image.conversation_id.as_deref().unwrap(), "nope"))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("douyin_error"))
    );
    let (status, problem) = h
        .get(&format!(
            "/api/v1/douyin/accounts/{}/media?conversation_id=%20&message_id=x",
            h.account
        ))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, problem) = h
        .get(&format!(
            "/api/v1/douyin/accounts/{}/media?message_id=x",
            h.account
        ))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_query"))
    );

    // Another workspace's caller does not see the account.
    let other = h.store.create_workspace("other").await.unwrap().id;
    let outsider = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "o", Role::Admin)
        .await
        .unwrap();
    let res = h
        .http
        .get(format!("{}{}", h.base, media(&image)))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

#[tokio::test]
async fn fan_group_create_sends_only_what_is_set_and_refuses_other_group_types() {
    let h = Douyin::start().await;
    let path = format!("/api/v1/douyin/accounts/{}/groups", h.account);
    let (status, created) = h.post(&path, json!({"group_name": "只有名字"})).await;
    assert_eq!(status, 201, "{created}");
    for bad in [0, 1, 3] {
        let (status, problem) = h
            .post(&path, json!({"group_name": "坏类型", "group_type": bad}))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("invalid_request")),
            "{bad}: {problem}"
        );
    }
    let (status, _) = h
        .post(&path, json!({"group_name": "万粉群", "group_type": 5}))
        .await;
    assert_eq!(status, 201);
    let groups = h.sandbox.groups(SHOP);
    assert_eq!(groups.len(), 2, "refused groups never reached the platform");
    assert!(groups.iter().any(|g| g.group_type == 5));
}

async fn stored_requests(
    h: &Douyin,
    group: &str,
) -> Vec<imhub_store::group_members::StoredJoinRequest> {
    let (ws, account, group) = (h.ws, imhub_core::AccountId(h.account), group.to_string());
    h.store
        .read_raw(move |db| {
            imhub_store::group_members::list_join_requests(db, ws, account, Some(&group))
        })
        .await
        .unwrap()
}

async fn stored_members(
    h: &Douyin,
    group: &str,
) -> Vec<imhub_store::group_members::StoredGroupMember> {
    let (ws, account, group) = (h.ws, imhub_core::AccountId(h.account), group.to_string());
    h.store
        .read_raw(move |db| imhub_store::group_members::list_group_members(db, ws, account, &group))
        .await
        .unwrap()
}

#[tokio::test]
async fn fan_group_pushes_keep_join_requests_and_members_and_replays_change_nothing() {
    use imhub_core::channel::JoinRequestStatus;
    let h = Douyin::start().await;
    let group = h.sandbox.add_group(SHOP, "老粉群");
    let (apply_id, asked) = h
        .sandbox
        .request_to_join(KEY, &group, CUSTOMER)
        .await
        .unwrap();
    assert_eq!(asked.status, 200);
    // A captured copy re-sent under a new Msg-Id is the same push.
    let again = h.sandbox.resend_with_new_msg_id(&asked, KEY).await.unwrap();
    assert_eq!(again.status, 200);
    let processed = h
        .store
        .list_raw_events(h.ws, "processed", 10)
        .await
        .unwrap();
    assert_eq!(processed.len(), 1, "{processed:?}");
    let requests = stored_requests(&h, &group).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].request_id, apply_id);
    assert_eq!(requests[0].status, JoinRequestStatus::Pending);
    assert_eq!(requests[0].applicant_name.as_deref(), Some("小王"));

    // Approved through imhub: the platform pushes the decision and the join.
    let (status, _) = h
        .post(
            &format!(
                "/api/v1/douyin/accounts/{}/join-requests/{}/approve",
                h.account,
                path_segment(&apply_id)
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let approved = stored_requests(&h, &group).await[0].status == JoinRequestStatus::Approved;
        let members = stored_members(&h, &group).await;
        if approved
            && members
                .iter()
                .any(|m| m.member_external_id == CUSTOMER && m.joined)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the decision and the join never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A late, genuinely signed "pending" for the same request does not reopen it.
    let late = json!({"event": "enter_group_audit_change", "client_key": KEY,
        "from_user_id": CUSTOMER, "to_user_id": SHOP, "log_id": "late",
        "content": json!({"group_id": group, "apply_id": apply_id, "apply_status": 1,
                          "user_nicker": "小王", "create_time": 1}).to_string()})
    .to_string();
    let res = h
        .http
        .post(format!("{}/webhooks/douyin/{}", h.base, h.channel))
        .header("X-Douyin-Signature", signature(SECRET, late.as_bytes()))
        .header("Msg-Id", "late-1")
        .body(late)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        stored_requests(&h, &group).await[0].status,
        JoinRequestStatus::Approved
    );
    assert!(
        h.store
            .list_raw_events(h.ws, "unprocessable", 10)
            .await
            .unwrap()
            .is_empty(),
        "fan-group events are processed, not kept raw"
    );
}

#[tokio::test]
async fn captured_unauthorize_resent_with_a_new_msg_id_does_not_undo_a_new_authorization() {
    let h = Douyin::start().await;
    let captured = h
        .sandbox
        .push_authorization(KEY, SHOP, "unauthorize", &["im.direct_message"])
        .await
        .unwrap();
    let (_, account) = h.get(&format!("/api/v1/accounts/{}", h.account)).await;
    assert_eq!(account["state"], "needs_reauthorization");
    // The merchant scans the QR code again.
    let account = h.authorize().await;
    assert_eq!(account["state"], "active");
    let replayed = h
        .sandbox
        .resend_with_new_msg_id(&captured, KEY)
        .await
        .unwrap();
    assert_eq!(replayed.status, 200);
    let (_, account) = h.get(&format!("/api/v1/accounts/{}", h.account)).await;
    assert_eq!(account["state"], "active", "the replay changed nothing");
}

/// Leads (issue 14): a customer who opens the chat and submits the lead
/// card through the sandbox becomes a lead with the card's answers and the
/// enter-chat event as its source; the platform redelivering the push
/// changes nothing.
#[tokio::test]
async fn a_submitted_lead_card_becomes_a_lead_once() {
    let h = Douyin::start().await;
    h.customer().enter_chat().await.unwrap();
    let pushed = h
        .customer()
        .send(CustomerMessage::LeadCardSubmission {
            card_id: "@card".into(),
            fields: vec![
                ("姓名".into(), "王女士".into()),
                ("手机号".into(), "13800138000".into()),
                ("城市".into(), "杭州".into()),
            ],
        })
        .await
        .unwrap();
    assert_eq!(pushed.status, 200);
    let again = h.sandbox.redeliver(&pushed, KEY).await.unwrap();
    assert_eq!(again.status, 200);
    let (status, page) = h.get("/api/v1/leads").await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let lead = &items[0];
    assert_eq!(lead["name"], "王女士");
    assert_eq!(lead["phones"], json!(["13800138000"]));
    assert_eq!(lead["city"], "杭州");
    assert_eq!(lead["source"]["platform"], "douyin");
    assert_eq!(lead["source"]["account_id"], h.account);
    assert_eq!(lead["contacts"][0]["nickname"], "小王");
    let (_, history) = h
        .get(&format!("/api/v1/leads/{}/history", lead["id"]))
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
}

//! Meituan through imhub against the sandbox, over real HTTP: the sandbox's
//! simulated customers push signed, encrypted, doubly encoded messages to
//! imhub's webhook; imhub answers through the sandbox's msgSend and msgRead,
//! which decrypt and check everything as Meituan does.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use imhub_core::{Role, WorkspaceId};
use imhub_meituan::client::unix_now;
use imhub_sandbox::meituan::{
    CustomerMessage, MeituanSandbox, PushOptions, ReceivedMessage, SandboxApp, router,
};
use imhub_server::Config;
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const APP_ID: &str = "4321";
const SECRET: &str = "0123456789abcdef-meituan-secret";
const SHOP: &str = "shop-1";
const ORDER: i64 = 27_001_234_567_890_123;

/// Where the Meituan console sends pushes.
enum PushUrl {
    /// Not configured: imhub checks each push against the URL it arrived at.
    Received,
    /// Registered as this URL (a reverse proxy in front of imhub).
    Registered(&'static str),
}

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    ws: WorkspaceId,
    sandbox: MeituanSandbox,
    channel: i64,
    webhook_url: String,
}

impl Harness {
    async fn start(push_url: PushUrl) -> Harness {
        let sandbox = MeituanSandbox::new();
        sandbox
            .add_app(SandboxApp::new(APP_ID, SECRET, &[SHOP]))
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox_addr = listener.local_addr().unwrap();
        let app = router(sandbox.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let store = Arc::new(
            SqlStore::open(StoreOptions::new(testing::sqlite_database()))
                .await
                .unwrap(),
        );
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config.delivery.backoff_base_ms = 20;
        config.delivery.backoff_max_ms = 100;
        config.platforms.meituan.base_url = Some(format!("http://{sandbox_addr}/api/v1/"));
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let mut h = Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            token,
            ws,
            sandbox,
            channel: 0,
            webhook_url: String::new(),
        };
        let mut config = json!({
            "app_id": APP_ID,
            "app_secret": SECRET,
        });
        if let PushUrl::Registered(url) = push_url {
            config["push_url"] = json!(url);
        }
        let (status, channel) = h
            .post(
                "/api/v1/channels",
                json!({"platform": "meituan", "name": "美团外卖", "config": config}),
            )
            .await;
        assert_eq!(status, 201, "{channel:?}");
        assert!(
            channel["settings"].get("app_secret").is_none(),
            "the secret is never shown: {channel:?}"
        );
        h.channel = channel["id"].as_i64().unwrap();
        h.webhook_url = channel["webhook_url"].as_str().unwrap().to_string();
        h
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

    /// A customer writes; the sandbox pushes as Meituan does.
    async fn customer_writes(&self, msg: CustomerMessage) -> i64 {
        let pushed = self
            .sandbox
            .push_message(APP_ID, &self.webhook_url, &msg)
            .await
            .unwrap();
        assert_eq!(pushed.status, 200, "{}", pushed.body);
        assert_eq!(pushed.body, r#"{"data":"ok"}"#);
        pushed.msg_id
    }

    async fn push_with(&self, msg: CustomerMessage, opts: PushOptions) -> (u16, String) {
        let pushed = self
            .sandbox
            .push_message_with(APP_ID, &self.webhook_url, &msg, &opts)
            .await
            .unwrap();
        (pushed.status, pushed.body)
    }

    /// POSTs a push body exactly as given.
    async fn post_push_body(&self, body: &str) -> (u16, String) {
        let res = self
            .http
            .post(&self.webhook_url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/conversations").await;
        assert_eq!(status, 200, "{body:?}");
        body["items"].as_array().unwrap().clone()
    }

    async fn messages(&self, conversation: i64) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/v1/conversations/{conversation}/messages"))
            .await;
        assert_eq!(status, 200, "{body:?}");
        body["items"].as_array().unwrap().clone()
    }

    async fn reply(&self, conversation: i64, content: Value) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({ "content": content }),
        )
        .await
    }

    async fn message_becomes(&self, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
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

    async fn raw_events(&self, status: &str) -> Vec<imhub_store::RawEvent> {
        self.store
            .list_raw_events(self.ws, status, 100)
            .await
            .unwrap()
    }

    /// Nothing of any push was kept: no raw event, no conversation.
    async fn assert_nothing_stored(&self) {
        assert!(self.raw_events("processed").await.is_empty());
        assert!(self.raw_events("unprocessable").await.is_empty());
        assert!(self.conversations().await.is_empty());
    }
}

/// Polls until `f` holds, for what the delivery engine does in the background.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn customer_message_lands_decrypted_and_text_picture_and_goods_reach_meituan_in_order() {
    let h = Harness::start(PushUrl::Received).await;
    let question = "你好，我的外卖到哪了？100% & a+b";
    h.customer_writes(CustomerMessage::text(SHOP, 1001, question).about_order(ORDER))
        .await;

    let list = h.conversations().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let c = &list[0];
    assert_eq!(c["platform"], "meituan");
    assert_eq!(c["kind"], "direct");
    assert_eq!(c["peer_external_id"], "1001");
    assert_eq!(c["last_message_preview"], question);
    assert_eq!(c["unread_count"], 1);
    let id = c["id"].as_i64().unwrap();
    let messages = h.messages(id).await;
    assert_eq!(messages[0]["direction"], "in");
    assert_eq!(
        messages[0]["content"],
        json!({"type": "text", "text": question})
    );

    // The order the conversation is about is shown, as text (17 digits).
    let (status, order) = h
        .get(&format!("/api/v1/meituan/conversations/{id}/order"))
        .await;
    assert_eq!(status, 200, "{order:?}");
    assert_eq!(order["order_id"], ORDER.to_string());

    let answer = "马上到，请稍等 😊 & 100% 准时 a+b";
    let picture = "https://img.example.com/rider/map.png?w=1&h=2";
    let mut sent = Vec::new();
    for content in [
        json!({"type": "text", "text": answer}),
        json!({"type": "image", "url": picture}),
        json!({"type": "goods_card", "product_codes": ["spu-1", "spu-2"]}),
    ] {
        let (status, m) = h.reply(id, content).await;
        assert_eq!(status, 202, "{m:?}");
        sent.push(m["id"].as_i64().unwrap());
    }
    for m in &sent {
        let m = h.message_becomes(*m, "sent").await;
        assert_eq!(m["platform_message_id"], m["id"].to_string());
    }

    let got: Vec<ReceivedMessage> = h.sandbox.messages_for(SHOP);
    let summary: Vec<_> = got
        .iter()
        .map(|m| (m.msg_type, m.content.clone(), m.app_spu_codes.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some(answer.to_string()), vec![]),
            (2, Some(picture.to_string()), vec![]),
            (4, None, vec!["spu-1".to_string(), "spu-2".to_string()]),
        ]
    );
    for (m, ours) in got.iter().zip(&sent) {
        assert_eq!(m.msg_id, *ours, "msg_id is our message id");
        assert_eq!(m.open_user_id, Some(1001));
        assert_eq!(m.order_id, Some(ORDER), "replies name the order");
        assert_eq!(m.group_id, None);
    }
    assert_eq!(h.sandbox.duplicate_sends(), 0);
    assert!(
        h.sandbox.rejections().is_empty(),
        "{:?}",
        h.sandbox.rejections()
    );
}

#[tokio::test]
async fn reading_a_conversation_sends_msg_read_for_the_newest_inbound_message() {
    let h = Harness::start(PushUrl::Received).await;
    h.customer_writes(CustomerMessage::text(SHOP, 1001, "在吗").about_order(ORDER))
        .await;
    let newest = h
        .customer_writes(CustomerMessage::text(SHOP, 1001, "还有多久？"))
        .await;
    let id = h.conversations().await[0]["id"].as_i64().unwrap();

    let (status, c) = h
        .post(&format!("/api/v1/conversations/{id}/read"), json!({}))
        .await;
    assert_eq!(status, 200, "{c:?}");
    assert_eq!(c["unread_count"], 0);
    let reads = eventually("msgRead", || {
        let r = h.sandbox.reads();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].msg_id, newest);
    assert_eq!(reads[0].open_user_id, 1001);
    assert_eq!(reads[0].app_poi_code, SHOP);

    // A later message without an order keeps the order of the conversation.
    let (_, order) = h
        .get(&format!("/api/v1/meituan/conversations/{id}/order"))
        .await;
    assert_eq!(order["order_id"], ORDER.to_string());

    // Reading again with nothing unread sends nothing more.
    let (status, _) = h
        .post(&format!("/api/v1/conversations/{id}/read"), json!({}))
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.sandbox.reads().len(), 1);
}

#[tokio::test]
async fn group_conversation_receives_answers_and_read_receipts_like_a_single_chat() {
    let h = Harness::start(PushUrl::Received).await;
    h.customer_writes(CustomerMessage::group_text(SHOP, 5001, 1001, "群里有人吗"))
        .await;
    let newest = h
        .customer_writes(CustomerMessage::group_text(SHOP, 5001, 1002, "我也想问"))
        .await;
    let list = h.conversations().await;
    assert_eq!(list.len(), 1, "one conversation per group: {list:?}");
    let c = &list[0];
    assert_eq!(c["kind"], "group");
    assert_eq!(c["peer_external_id"], "5001");
    assert_eq!(c["last_message_preview"], "我也想问");
    assert_eq!(c["unread_count"], 2);
    let id = c["id"].as_i64().unwrap();

    let answer = "大家好，今天满 30 减 5";
    let picture = "https://img.example.com/menu.png";
    let mut sent = Vec::new();
    for content in [
        json!({"type": "text", "text": answer}),
        json!({"type": "image", "url": picture}),
        json!({"type": "goods_card", "product_codes": ["spu-9"]}),
    ] {
        let (status, m) = h.reply(id, content).await;
        assert_eq!(status, 202, "{m:?}");
        sent.push(m["id"].as_i64().unwrap());
    }
    for m in &sent {
        h.message_becomes(*m, "sent").await;
    }
    let got = h.sandbox.messages_for(SHOP);
    let summary: Vec<_> = got
        .iter()
        .map(|m| (m.msg_type, m.content.clone(), m.group_id, m.open_user_id))
        .collect();
    assert_eq!(
        summary,
        vec![
            (11, Some(answer.to_string()), Some(5001), None),
            (12, Some(picture.to_string()), Some(5001), None),
            (14, None, Some(5001), None),
        ]
    );

    let (status, _) = h
        .post(&format!("/api/v1/conversations/{id}/read"), json!({}))
        .await;
    assert_eq!(status, 200);
    let reads = eventually("msgRead", || {
        let r = h.sandbox.reads();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].msg_id, newest);
    assert_eq!(reads[0].open_user_id, 1002, "the newest message's sender");
}

#[tokio::test]
async fn push_with_a_wrong_signature_is_refused_and_nothing_is_stored() {
    let h = Harness::start(PushUrl::Received).await;
    let pushed = h
        .sandbox
        .push_with_wrong_signature(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(SHOP, 1001, "伪造"),
        )
        .await
        .unwrap();
    assert_eq!(pushed.status, 401, "{}", pushed.body);
    assert!(pushed.body.contains("bad_signature"), "{}", pushed.body);
    h.assert_nothing_stored().await;
}

#[tokio::test]
async fn push_eleven_minutes_old_is_refused() {
    let h = Harness::start(PushUrl::Received).await;
    let opts = PushOptions {
        timestamp: Some(unix_now() - 11 * 60),
        ..PushOptions::default()
    };
    let (status, body) = h
        .push_with(CustomerMessage::text(SHOP, 1001, "旧消息"), opts)
        .await;
    assert_eq!(status, 401, "{body}");
    h.assert_nothing_stored().await;
}

#[tokio::test]
async fn msg_content_that_does_not_decrypt_is_kept_raw_and_answered_ok() {
    let h = Harness::start(PushUrl::Received).await;
    let opts = PushOptions {
        raw_msg_content: Some("bm90IGEgY2lwaGVydGV4dA==".into()),
        ..PushOptions::default()
    };
    let (status, body) = h
        .push_with(CustomerMessage::text(SHOP, 1001, "看不懂"), opts)
        .await;
    assert_eq!((status, body.as_str()), (200, r#"{"data":"ok"}"#));
    let kept = h.raw_events("unprocessable").await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    let reason = kept[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("msg_content does not decrypt"), "{reason}");
    assert!(!kept[0].body.is_empty(), "the push is kept as received");
    assert!(h.conversations().await.is_empty());
}

#[tokio::test]
async fn replayed_push_is_stored_once() {
    let h = Harness::start(PushUrl::Received).await;
    let (body, _) = h
        .sandbox
        .build_push(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(SHOP, 1001, "只算一次"),
            &PushOptions::default(),
        )
        .unwrap();
    for _ in 0..2 {
        let (status, answer) = h.post_push_body(&body).await;
        assert_eq!((status, answer.as_str()), (200, r#"{"data":"ok"}"#));
    }
    let list = h.conversations().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["unread_count"], 1);
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(h.messages(id).await.len(), 1);
    assert_eq!(h.raw_events("processed").await.len(), 1);
}

#[tokio::test]
async fn order_cards_and_more_than_seven_goods_are_refused_before_queueing() {
    let h = Harness::start(PushUrl::Received).await;
    h.customer_writes(CustomerMessage::order_card(SHOP, 1001, ORDER))
        .await;
    let c = &h.conversations().await[0];
    assert_eq!(c["last_message_preview"], "[订单]");
    let id = c["id"].as_i64().unwrap();
    let messages = h.messages(id).await;
    assert_eq!(messages[0]["content"]["type"], "order_card");
    assert_eq!(messages[0]["content"]["order_id"], ORDER.to_string());

    let (status, problem) = h
        .reply(
            id,
            json!({"type": "order_card", "order_id": ORDER.to_string()}),
        )
        .await;
    assert_eq!(status, 422, "{problem:?}");
    assert_eq!(problem["code"], "content_not_supported");

    let eight: Vec<String> = (1..=8).map(|i| format!("spu-{i}")).collect();
    let (status, problem) = h
        .reply(id, json!({"type": "goods_card", "product_codes": eight}))
        .await;
    assert_eq!(status, 422, "{problem:?}");
    assert_eq!(problem["code"], "too_many_goods");

    // Nothing was queued, so nothing reached Meituan.
    assert_eq!(h.messages(id).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.sandbox.messages().is_empty());
}

#[tokio::test]
async fn push_signed_over_the_registered_proxy_url_is_accepted_and_others_refused() {
    const REGISTERED: &str = "https://shop.example.com/meituan/im-push";
    let h = Harness::start(PushUrl::Registered(REGISTERED)).await;
    assert_eq!(
        h.get(&format!("/api/v1/channels/{}", h.channel)).await.1["settings"]["push_url"],
        REGISTERED
    );
    // Signed over the URL imhub itself sees: not what Meituan signs.
    let (status, _) = h
        .push_with(
            CustomerMessage::text(SHOP, 1001, "直连"),
            PushOptions::default(),
        )
        .await;
    assert_eq!(status, 401);
    h.assert_nothing_stored().await;

    let opts = PushOptions {
        registered_url: Some(REGISTERED.into()),
        ..PushOptions::default()
    };
    let (status, body) = h
        .push_with(CustomerMessage::text(SHOP, 1001, "经代理"), opts)
        .await;
    assert_eq!((status, body.as_str()), (200, r#"{"data":"ok"}"#));
    assert_eq!(h.conversations().await[0]["last_message_preview"], "经代理");
}

#[tokio::test]
async fn channel_status_shows_failed_user_count_as_json_and_metric() {
    let h = Harness::start(PushUrl::Received).await;
    let path = format!("/api/v1/meituan/channels/{}/status", h.channel);
    let (status, healthy) = h.get(&path).await;
    assert_eq!(status, 200, "{healthy:?}");
    assert_eq!(healthy["user_count"], 0);
    assert_eq!(healthy["failing"], false);
    assert_eq!(healthy["app_id"], APP_ID);
    assert_eq!(healthy["long_connection"], "not_implemented");
    assert!(healthy.get("connectionToken").is_none());

    h.sandbox.set_failed_user_count(APP_ID, 3);
    let (status, failing) = h.get(&path).await;
    assert_eq!(status, 200, "{failing:?}");
    assert_eq!(failing["user_count"], 3);
    assert_eq!(failing["failing"], true);
    assert_eq!(h.sandbox.tokens_issued(), 2);

    // The scrape reuses the fresh check instead of asking Meituan again.
    let res = h
        .http
        .get(format!("{}/api/v1/meituan/metrics", h.base))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = res.text().await.unwrap();
    let labels = format!("{{channel_id=\"{}\",app_id=\"{APP_ID}\"}}", h.channel);
    assert!(
        text.contains(&format!("imhub_meituan_failed_users{labels} 3\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("imhub_meituan_status_up{labels} 1\n")),
        "{text}"
    );
    assert_eq!(h.sandbox.tokens_issued(), 2);

    let (status, problem) = h.get("/api/v1/meituan/channels/999/status").await;
    assert_eq!(status, 404, "{problem:?}");
    let (_, custom) = h
        .post(
            "/api/v1/channels",
            json!({"platform": "custom", "name": "Website", "config":
                {"secret": "a-very-secret-secret", "outbound_url": "http://127.0.0.1:9/inbox"}}),
        )
        .await;
    let (status, problem) = h
        .get(&format!("/api/v1/meituan/channels/{}/status", custom["id"]))
        .await;
    assert_eq!(status, 404, "not a meituan channel: {problem:?}");

    let (_, doc) = h.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/meituan/channels/{id}/status",
        "/api/v1/meituan/conversations/{id}/order",
        "/api/v1/meituan/metrics",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} documented");
    }
}

#[tokio::test]
async fn channel_status_reports_meituan_refusals_as_bad_gateway() {
    let h = Harness::start(PushUrl::Received).await;
    // The app secret changed at Meituan: every call now fails with 703.
    h.sandbox
        .add_app(SandboxApp::new(
            APP_ID,
            "another-secret-of-16+chars",
            &[SHOP],
        ))
        .unwrap();
    let (status, problem) = h
        .get(&format!("/api/v1/meituan/channels/{}/status", h.channel))
        .await;
    assert_eq!(status, 502, "{problem:?}");
    assert_eq!(problem["code"], "platform_refused");
    assert!(
        problem["detail"].as_str().unwrap().contains("703"),
        "{problem:?}"
    );
}

//! Tencent through imhub against the sandbox: a real server on a real SQLite
//! file, the Tencent sandbox on its own port, signed callbacks in and REST
//! calls out, all over real HTTP.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use imhub_core::{ChannelId, Role};
use imhub_sandbox::tencent::{TencentSandbox, router};
use imhub_server::{
    Config,
    api::tencent::{ImportRequest, TimeArg, import_history},
};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use imhub_tencent::{client::ADMIN_USERSIG_TTL_SECS, usersig::now_secs};
use serde_json::{Value, json};

const APP: u64 = 1_400_000_123;
const KEY: &str = "7c3e9a1f5b2d48e6a0c4f8b2d6e0a4c8e2f6b0d4a8c2e6f0b4d8a2c6e0f4b8d2";
const ADMIN: &str = "administrator";
const TOKEN: &str = "callback-token";
const SHOP: &str = "shop";

struct Tencent {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    ws: imhub_core::WorkspaceId,
    channel: i64,
    webhook: String,
    sb: TencentSandbox,
    /// The operator's platform endpoints (the sandbox), for calls made
    /// without the server.
    platforms: imhub_server::config::PlatformsConfig,
}

impl Tencent {
    /// imhub and the sandbox, with the Tencent channel connected through the API.
    async fn start() -> Tencent {
        let mut sb_config = TencentSandbox::new(APP, KEY, ADMIN).config().clone();
        sb_config.callback_token = Some(TOKEN.into());
        let sb = TencentSandbox::with_config(sb_config);
        sb.import_account(SHOP);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox_url = format!("http://{}", listener.local_addr().unwrap());
        let app = router(sb.clone());
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
        config.delivery.backoff_max_ms = 200;
        config.platforms.tencent.base_url = Some(sandbox_url.clone());
        let platforms = config.platforms.clone();
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let mut t = Tencent {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            token,
            ws,
            channel: 0,
            webhook: String::new(),
            sb,
            platforms,
        };
        let (status, channel) = t
            .post(
                "/api/v1/channels",
                json!({"platform": "tencent", "name": "小程序客服", "config": {
                    "sdkappid": APP, "key": KEY, "identifier": ADMIN,
                    "callback_token": TOKEN,
                    "merchant_accounts": [SHOP]}}),
            )
            .await;
        assert_eq!(status, 201, "{channel:?}");
        t.channel = channel["id"].as_i64().unwrap();
        t.webhook = channel["webhook_url"].as_str().unwrap().to_string();
        assert!(
            t.webhook
                .ends_with(&format!("/webhooks/tencent/{}", t.channel))
        );
        assert!(
            channel["settings"].get("key").is_none(),
            "secrets are not shown"
        );
        t
    }

    async fn call_as(&self, token: &str, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.bearer_auth(token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call_as(&self.token, self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call_as(
            &self.token,
            self.http.post(format!("{}{path}", self.base)).json(&body),
        )
        .await
    }

    /// A customer writes to the shop; returns the callback's answer.
    async fn customer_writes(&self, customer: &str, text: &str) -> (u16, Value) {
        let (_, delivery) = self
            .sb
            .customer_sends_text(&self.webhook, customer, SHOP, text)
            .await
            .unwrap();
        (
            delivery.status,
            serde_json::from_str(&delivery.body).unwrap_or(Value::Null),
        )
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/conversations?limit=200").await;
        assert_eq!(status, 200, "{body:?}");
        body["items"].as_array().unwrap().clone()
    }

    async fn conversation_with(&self, customer: &str) -> Value {
        self.conversations()
            .await
            .into_iter()
            .find(|c| c["peer_external_id"] == customer)
            .unwrap_or_else(|| panic!("no conversation with {customer}"))
    }

    async fn reply(&self, conversation: i64, content: Value) -> Value {
        let (status, m) = self
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                json!({"content": content}),
            )
            .await;
        assert_eq!(status, 202, "{m:?}");
        m
    }

    async fn message_becomes(&self, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, m) = self.get(&format!("/api/v1/messages/{id}")).await;
            if m["status"] == want {
                return m;
            }
            assert!(Instant::now() < deadline, "message {id} stayed {m:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message of a conversation, through the API's pages.
    async fn all_messages(&self, conversation: i64) -> Vec<Value> {
        let mut all = Vec::new();
        let mut path = format!("/api/v1/conversations/{conversation}/messages?limit=200");
        loop {
            let (status, page) = self.get(&path).await;
            assert_eq!(status, 200, "{page:?}");
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => {
                    path = format!(
                        "/api/v1/conversations/{conversation}/messages?limit=200&before={c}"
                    )
                }
                None => return all,
            }
        }
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn msg_types(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| e["MsgType"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn customer_message_arrives_by_callback_in_the_chat_list_unread() {
    let t = Tencent::start().await;
    let (status, answer) = t.customer_writes("alice", "在吗？想问下发货时间").await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0})
    );
    let list = t.conversations().await;
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(c["platform"], "tencent");
    assert_eq!(c["peer_external_id"], "alice");
    assert_eq!(c["unread_count"], 1);
    assert_eq!(c["last_message_preview"], "在吗？想问下发货时间");
    let messages = t.all_messages(c["id"].as_i64().unwrap()).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["direction"], "in");
    let key = &t.sb.received_by(SHOP)[0].msg_key;
    assert_eq!(messages[0]["platform_message_id"], json!(key));
}

#[tokio::test]
async fn callback_with_a_wrong_sign_is_refused_and_nothing_is_stored() {
    let t = Tencent::start().await;
    let delivery =
        t.sb.customer_sends_with_bad_sign(&t.webhook, "mallory", SHOP, "伪造的消息")
            .await
            .unwrap();
    assert_eq!(delivery.status, 401, "{}", delivery.body);
    let problem: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(problem["code"], "bad_signature");
    assert!(t.conversations().await.is_empty());
    assert!(
        t.store
            .list_raw_events(t.ws, "processed", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn agent_replies_reach_the_customer_from_the_account_in_order_and_recall_works() {
    let t = Tencent::start().await;
    t.customer_writes("alice", "你好").await;
    let c = t.conversation_with("alice").await["id"].as_i64().unwrap();
    let text = t
        .reply(
            c,
            json!({"type": "text", "text": "您好，请问有什么可以帮您？"}),
        )
        .await;
    let image = t
        .reply(
            c,
            json!({"type": "image", "url": "https://cdn.example.com/size-chart.png", "width": 640, "height": 480}),
        )
        .await;
    let custom = t
        .reply(
            c,
            json!({"type": "custom", "data": {"coupon": "SAVE10"}, "description": "优惠券"}),
        )
        .await;
    let mut keys = Vec::new();
    for m in [&text, &image, &custom] {
        let sent = t.message_becomes(m["id"].as_i64().unwrap(), "sent").await;
        keys.push(sent["platform_message_id"].as_str().unwrap().to_string());
    }
    let received = t.sb.received_by("alice");
    assert_eq!(received.len(), 3, "{received:?}");
    let types: Vec<Vec<String>> = received.iter().map(|m| msg_types(&m.body)).collect();
    assert_eq!(
        types,
        [["TIMTextElem"], ["TIMImageElem"], ["TIMCustomElem"]],
        "in the order they were written"
    );
    for (m, key) in received.iter().zip(&keys) {
        assert_eq!(m.from, SHOP, "sent as the account, not the admin");
        assert!(m.via_rest && m.in_sender_roaming, "SyncOtherMachine = 1");
        assert_eq!(&m.msg_key, key, "imhub keeps Tencent's MsgKey");
    }
    assert_eq!(
        received[0].body[0]["MsgContent"]["Text"],
        "您好，请问有什么可以帮您？"
    );
    assert_eq!(
        received[2].body[0]["MsgContent"]["Data"],
        r#"{"coupon":"SAVE10"}"#
    );

    let (status, _) = t
        .post(
            &format!("/api/v1/messages/{}/recall", text["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    t.message_becomes(text["id"].as_i64().unwrap(), "recalled")
        .await;
    let recalled = t.sb.recalled_c2c();
    assert_eq!(recalled.len(), 1);
    assert_eq!(recalled[0].msg_key, keys[0]);
}

#[tokio::test]
async fn reading_a_conversation_reports_it_read_to_tencent() {
    let t = Tencent::start().await;
    t.customer_writes("bob", "还在吗").await;
    let c = t.conversation_with("bob").await;
    assert_eq!(c["unread_count"], 1);
    let (status, read) = t
        .post(
            &format!("/api/v1/conversations/{}/read", c["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{read:?}");
    assert_eq!(read["unread_count"], 0);
    let sb = t.sb.clone();
    eventually("admin_set_msg_read", move || !sb.reads().is_empty()).await;
    let reads = t.sb.reads();
    assert_eq!(reads.len(), 1);
    assert_eq!(
        (
            reads[0].report_account.as_str(),
            reads[0].peer_account.as_str()
        ),
        (SHOP, "bob")
    );
    assert!(
        t.sb.received_by("bob").is_empty(),
        "a receipt is not a message"
    );
}

#[tokio::test]
async fn customer_read_report_marks_our_replies_read_with_a_live_event() {
    let t = Tencent::start().await;
    t.customer_writes("alice", "你好").await;
    let c = t.conversation_with("alice").await["id"].as_i64().unwrap();
    let mut ids = Vec::new();
    for text in ["您好", "请问要什么尺码？"] {
        let m = t.reply(c, json!({"type": "text", "text": text})).await;
        let id = m["id"].as_i64().unwrap();
        t.message_becomes(id, "sent").await;
        ids.push(id);
    }
    let mut stream = t
        .http
        .get(format!("{}/api/v1/events", t.base))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    stream.chunk().await.unwrap().unwrap();

    // Bad input first: a forged report, and a report about an account this
    // channel does not have, change nothing.
    let forged = t
        .http
        .post(format!(
            "{}?SdkAppid={APP}&CallbackCommand=C2C.CallbackAfterMsgReport&Sign={}&RequestTime={}",
            t.webhook,
            "0".repeat(64),
            now_secs()
        ))
        .json(
            &json!({"CallbackCommand": "C2C.CallbackAfterMsgReport", "Report_Account": "alice",
            "Peer_Account": SHOP, "LastReadTime": now_secs() + 10, "UnreadMsgNum": 0}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    t.sb.customer_reads(&t.webhook, "alice", "other-shop")
        .await
        .unwrap();
    for id in &ids {
        let (_, m) = t.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(m["status"], "sent", "{m:?}");
    }

    let d =
        t.sb.customer_reads(&t.webhook, "alice", SHOP)
            .await
            .unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
    for id in &ids {
        t.message_becomes(*id, "read").await;
    }
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ids
        .iter()
        .all(|id| seen.contains(&format!("\"message_id\":{id}")))
    {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("live events for the read messages")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("message.updated"), "{seen}");
    // The customer's own message is theirs: it stays delivered.
    let messages = t.all_messages(c).await;
    let inbound: Vec<_> = messages.iter().filter(|m| m["direction"] == "in").collect();
    assert_eq!(inbound[0]["status"], "delivered");
    // A reply written after the report is not read yet.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = t
        .reply(c, json!({"type": "text", "text": "还在吗？"}))
        .await;
    let later = later["id"].as_i64().unwrap();
    t.message_becomes(later, "sent").await;
    // Until the customer reads again.
    let (_, m) = t.get(&format!("/api/v1/messages/{later}")).await;
    assert_eq!(m["status"], "sent", "{m:?}");
    t.sb.customer_reads(&t.webhook, "alice", SHOP)
        .await
        .unwrap();
    t.message_becomes(later, "read").await;
}

#[tokio::test]
async fn group_message_recalled_in_tencent_becomes_recalled_in_imhub() {
    let t = Tencent::start().await;
    let group = t.sb.create_group_direct("fans-1", &[SHOP, "alice"]);
    let (m, d) =
        t.sb.member_sends_group_text(&t.webhook, &group, "alice", "发错群了")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
    let c = t.conversation_with(&group).await["id"].as_i64().unwrap();
    let messages = t.all_messages(c).await;
    assert_eq!(messages.len(), 1);
    let id = messages[0]["id"].as_i64().unwrap();
    assert_eq!(
        messages[0]["platform_message_id"],
        json!(format!("{group}:{}", m.msg_seq))
    );
    // A recall of another group's message with the same MsgSeq changes nothing.
    let other = t.sb.create_group_direct("fans-2", &[SHOP, "bob"]);
    t.sb.member_sends_group_text(&t.webhook, &other, "bob", "hi")
        .await
        .unwrap();
    t.sb.member_recalls_group_message(&t.webhook, &other, "bob", m.msg_seq)
        .await
        .unwrap()
        .unwrap();
    let (_, kept) = t.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(kept["status"], "delivered", "{kept:?}");

    let d =
        t.sb.member_recalls_group_message(&t.webhook, &group, "alice", m.msg_seq)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(d.status, 200, "{}", d.body);
    t.message_becomes(id, "recalled").await;
    let kept_raw = t
        .store
        .list_raw_events(t.ws, "unprocessable", 10)
        .await
        .unwrap();
    assert!(kept_raw.is_empty(), "{kept_raw:?}");
}

#[tokio::test]
async fn oversized_reply_is_refused_before_queueing() {
    let t = Tencent::start().await;
    t.customer_writes("carol", "发个说明书").await;
    let c = t.conversation_with("carol").await["id"].as_i64().unwrap();
    // 3,000 CJK characters are 9,000 bytes of UTF-8: over the default 8 KB.
    let (status, problem) = t
        .post(
            &format!("/api/v1/conversations/{c}/messages"),
            json!({"content": {"type": "text", "text": "字".repeat(3000)}}),
        )
        .await;
    assert_eq!(status, 422, "{problem:?}");
    assert_eq!(problem["code"], "message_too_large");
    assert_eq!(t.all_messages(c).await.len(), 1, "nothing was queued");
    let (status, problem) = t
        .post(
            &format!("/api/v1/conversations/{c}/messages"),
            json!({"content": {"type": "lead_card", "card_id": "x"}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "content_not_supported");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(t.sb.received_by("carol").is_empty());
}

#[tokio::test]
async fn expired_usersig_is_renewed_and_the_send_succeeds() {
    let t = Tencent::start().await;
    t.customer_writes("dave", "在吗").await;
    let c = t.conversation_with("dave").await["id"].as_i64().unwrap();
    let first = t.reply(c, json!({"type": "text", "text": "在的"})).await;
    t.message_becomes(first["id"].as_i64().unwrap(), "sent")
        .await;
    // The cached admin UserSig was made at most now. Skew the server's clock
    // so that sig is past its expiry there while a fresh one is still valid.
    let made_by = now_secs();
    t.sb.set_usersig_clock_skew(ADMIN_USERSIG_TTL_SECS as i64 - 1);
    while now_secs() < made_by + 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = t.reply(c, json!({"type": "text", "text": "请讲"})).await;
    let sent = t
        .message_becomes(second["id"].as_i64().unwrap(), "sent")
        .await;
    assert!(sent.get("error_code").is_none(), "{sent:?}");
    assert_eq!(t.sb.refusals(70001), 1, "the stale sig was refused once");
    assert_eq!(t.sb.received_by("dave").len(), 2);
    let (_, accounts) = t.get("/api/v1/accounts").await;
    assert_eq!(accounts["items"][0]["state"], "active", "{accounts:?}");
}

#[tokio::test]
async fn history_import_of_10000_messages_resumes_and_stores_nothing_twice() {
    let t = Tencent::start().await;
    let now = now_secs();
    // Ten thousand older messages, alternately from the customer and the shop.
    t.sb.seed_history("erin", SHOP, 10_000, now - 3_600, 5);
    // Newer ones imhub already has: two by callback, one reply of ours.
    t.customer_writes("erin", "上次的订单到了吗").await;
    t.customer_writes("erin", "麻烦查一下").await;
    let c = t.conversation_with("erin").await["id"].as_i64().unwrap();
    let reply = t.reply(c, json!({"type": "text", "text": "正在查"})).await;
    t.message_becomes(reply["id"].as_i64().unwrap(), "sent")
        .await;
    t.post(&format!("/api/v1/conversations/{c}/read"), json!({}))
        .await;
    let sb = t.sb.clone();
    eventually("the agent's read receipt", move || sb.reads().len() == 1).await;
    let request = |since: Value| json!({"account": SHOP, "peer": "erin", "since": since});
    let path = format!("/api/v1/tencent/channels/{}/imports", t.channel);

    // Bad requests are refused before anything is fetched.
    let (status, problem) = t
        .post(
            &path,
            json!({"account": SHOP, "peer": "erin", "since": now, "until": now - 10}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_import"))
    );
    let (status, problem) = t.post(&path, request(json!("last tuesday"))).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_import"))
    );
    let agent = imhub_server::auth::issue_api_token(t.store.as_ref(), t.ws, "a", Role::Agent)
        .await
        .unwrap();
    let (status, _) = t
        .call_as(
            &agent,
            t.http
                .post(format!("{}{path}", t.base))
                .json(&request(json!(now - 7_200))),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = t
        .post(
            "/api/v1/tencent/channels/999999/imports",
            request(json!(now - 7_200)),
        )
        .await;
    assert_eq!(status, 404);

    // The first run is cut off after a few thousand messages, as a crash would.
    let channel = t
        .store
        .find_channel(ChannelId(t.channel))
        .await
        .unwrap()
        .unwrap();
    let channel = imhub_server::channels::operator_channel(&t.platforms, channel);
    let since = (now - 7_200) as i64;
    let first_run = ImportRequest {
        account: SHOP.into(),
        peer: "erin".into(),
        since: TimeArg::Unix(since),
        until: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stop_tx = Some(stop_tx);
    let mut seen = 0;
    let mut show = |c: &imhub_tencent::HistoryCursor| {
        seen = c.fetched;
        if c.fetched >= 3_000
            && let Some(tx) = stop_tx.take()
        {
            let _ = tx.send(());
        }
    };
    tokio::select! {
        done = import_history(t.store.as_ref(), &channel, &first_run, &mut show) => {
            panic!("the import was meant to be cut off: {done:?}")
        }
        _ = stop_rx => {}
    }
    assert!((3_000..10_003).contains(&seen), "{seen}");

    // Run again through the API: it resumes, and stores each message once.
    let (status, report) = t.post(&path, request(json!(since))).await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report["resumed"], true);
    assert_eq!(report["complete"], true);
    assert_eq!(report["fetched"], 10_003, "everything in range, once");
    assert_eq!(
        report["stored"], 10_000,
        "callbacks and our own reply were already there"
    );
    let messages = t.all_messages(c).await;
    assert_eq!(messages.len(), 10_003);
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| m["platform_message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10_003, "no message stored twice");
    let outbound = messages.iter().filter(|m| m["direction"] == "out").count();
    assert_eq!(outbound, 5_000 + 1);
    let conversation = t.conversation_with("erin").await;
    assert_eq!(conversation["unread_count"], 0, "history is not news");
    assert_eq!(conversation["last_message_preview"], "正在查");
    assert_eq!(
        t.sb.reads().len(),
        1,
        "no read receipt for imported history"
    );

    // Importing again finds everything stored.
    let (status, again) = t.post(&path, request(json!(since))).await;
    assert_eq!(status, 200, "{again:?}");
    assert_eq!(
        (again["resumed"].as_bool(), again["stored"].as_u64()),
        (Some(false), Some(0))
    );
    assert_eq!(t.sb.rate_limited("openim/admin_getroammsg"), 0);
}

#[tokio::test]
async fn burst_of_2000_replies_is_delivered_under_200_per_second() {
    let t = &Tencent::start().await;
    let customers: Vec<String> = (0..200).map(|i| format!("fan{i:03}")).collect();
    futures_util::stream::iter(customers.iter())
        .for_each_concurrent(16, |c| async move {
            let (status, _) = t.customer_writes(c, "抢购开始了吗").await;
            assert_eq!(status, 200);
        })
        .await;
    let conversations: Vec<i64> = t
        .conversations()
        .await
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(conversations.len(), 200);
    let replies: Vec<(i64, usize)> = (0..10)
        .flat_map(|n| conversations.iter().map(move |c| (*c, n)))
        .collect();
    futures_util::stream::iter(replies)
        .for_each_concurrent(32, |(c, n)| async move {
            t.reply(
                c,
                json!({"type": "text", "text": format!("第{n}条：已开始")}),
            )
            .await;
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let rest: Vec<_> =
            t.sb.c2c_messages()
                .into_iter()
                .filter(|m| m.via_rest)
                .collect();
        if rest.len() >= 2_000 {
            break rest;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 2000 delivered",
            rest.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivered.len(), 2_000);
    assert_eq!(
        t.sb.rate_limited("openim/sendmsg"),
        0,
        "imhub kept under Tencent's 200/s"
    );
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for m in &delivered {
        *per_second.entry(m.msg_time).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= 200), "{per_second:?}");
}

#[tokio::test]
async fn broadcast_reaches_every_known_customer_once_and_reports_unknown_ones() {
    let t = Tencent::start().await;
    t.sb.import_account("c_li");
    t.sb.import_account("c_zhao");
    let path = format!("/api/v1/tencent/channels/{}/broadcasts", t.channel);
    let (status, report) = t
        .post(
            &path,
            json!({"account": SHOP, "to": ["c_li", "c_zhao", "c_li", "c_ghost"],
                   "content": {"type": "text", "text": "周末全场八折"}}),
        )
        .await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report["sent"], 2);
    assert_eq!(
        report["failed"],
        json!([{"to": "c_ghost", "error_code": 70107}])
    );
    assert!(!report["msg_key"].as_str().unwrap().is_empty());
    for customer in ["c_li", "c_zhao"] {
        let got = t.sb.received_by(customer);
        assert_eq!(got.len(), 1, "{customer} got {got:?}");
        assert_eq!(got[0].from, SHOP);
        assert_eq!(msg_types(&got[0].body), ["TIMTextElem"]);
    }

    // Refused before Tencent is asked.
    let text = json!({"type": "text", "text": "hi"});
    let too_many: Vec<String> = (0..501).map(|i| format!("c{i}")).collect();
    for (body, code) in [
        (
            json!({"account": SHOP, "to": [], "content": text}),
            "invalid_request",
        ),
        (
            json!({"account": SHOP, "to": too_many, "content": text}),
            "invalid_request",
        ),
        (
            json!({"account": "", "to": ["c_li"], "content": text}),
            "invalid_request",
        ),
        (
            json!({"account": SHOP, "to": ["c_li"],
                   "content": {"type": "text", "text": "长".repeat(13_000)}}),
            "message_too_large",
        ),
    ] {
        let (status, problem) = t.post(&path, body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some(code)),
            "{problem:?}"
        );
    }
    // Tencent refuses a batch that reaches nobody.
    let (status, problem) = t
        .post(
            &path,
            json!({"account": SHOP, "to": ["c_ghost"], "content": text}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (502, Some("platform_error"))
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("70107"),
        "{problem:?}"
    );
    assert_eq!(t.sb.received_by("c_li").len(), 1, "nothing more was sent");

    let agent = imhub_server::auth::issue_api_token(t.store.as_ref(), t.ws, "a", Role::Agent)
        .await
        .unwrap();
    let (status, _) = t
        .call_as(
            &agent,
            t.http
                .post(format!("{}{path}", t.base))
                .json(&json!({"account": SHOP, "to": ["c_li"], "content": text})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn imported_account_is_registered_with_tencent_and_added_once() {
    let t = Tencent::start().await;
    let path = format!("/api/v1/tencent/channels/{}/accounts", t.channel);
    assert!(!t.sb.has_account("shop_2"));
    let (status, account) = t
        .post(&path, json!({"user_id": "shop_2", "name": "二号店"}))
        .await;
    assert_eq!(status, 200, "{account:?}");
    assert_eq!(account["external_id"], "shop_2");
    assert_eq!(account["name"], "二号店");
    assert_eq!(account["platform"], "tencent");
    assert!(t.sb.has_account("shop_2"));

    let (status, again) = t.post(&path, json!({"user_id": "shop_2"})).await;
    assert_eq!(status, 200, "{again:?}");
    assert_eq!(
        again["id"], account["id"],
        "importing twice adds one account"
    );
    let (_, accounts) = t.get("/api/v1/accounts").await;
    let named: Vec<_> = accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["external_id"] == "shop_2")
        .collect();
    assert_eq!(named.len(), 1);

    for user_id in ["", "  ", &"x".repeat(33)] {
        let (status, problem) = t.post(&path, json!({"user_id": user_id})).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("invalid_request")),
            "{user_id:?}"
        );
    }
    let (status, problem) = t.post(&path, json!({"user": "shop_3"})).await;
    assert_eq!(status, 422, "{problem:?}");
    assert!(!t.sb.has_account("shop_3"));
}

#[tokio::test]
async fn created_group_has_its_members_and_its_history_reads_page_by_page() {
    let t = Tencent::start().await;
    t.sb.import_account("c_li");
    let groups = format!("/api/v1/tencent/channels/{}/groups", t.channel);
    let (status, created) = t
        .post(
            &groups,
            json!({"name": "会员群", "owner": SHOP, "members": ["c_li"]}),
        )
        .await;
    assert_eq!(status, 201, "{created:?}");
    let group_id = created["group_id"].as_str().unwrap().to_string();
    let group = t.sb.group(&group_id).expect("the group exists on Tencent");
    assert_eq!(group.group_type, "Public");
    assert_eq!(group.name, "会员群");
    assert_eq!(group.owner.as_deref(), Some(SHOP));
    assert!(group.members.contains("c_li"));

    for i in 0..25 {
        t.sb.member_sends_group_text(&t.webhook, &group_id, "c_li", &format!("m{i}"))
            .await
            .unwrap()
            .expect("the group exists");
    }
    // Tencent's own group ids start with `@TGS#`: the `#` is escaped in the path.
    let history = format!(
        "/api/v1/tencent/channels/{}/groups/{}/messages",
        t.channel,
        group_id.replace('#', "%23")
    );
    let (status, first) = t.get(&history).await;
    assert_eq!(status, 200, "{first:?}");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!(items[0]["content"], json!({"type": "text", "text": "m24"}));
    assert_eq!(items[0]["from"], "c_li");
    assert_eq!(items[0]["placeholder"], false);
    let next = first["next_seq"].as_u64().expect("an older page");
    let (status, second) = t.get(&format!("{history}?limit=20&max_seq={next}")).await;
    assert_eq!(status, 200, "{second:?}");
    let older: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(older, ["m4", "m3", "m2", "m1", "m0"]);
    assert!(second["next_seq"].is_null());

    // Bad input.
    for (body, code) in [
        (json!({"name": ""}), "invalid_request"),
        (json!({"name": "x".repeat(31)}), "invalid_request"),
        (
            json!({"name": "g", "group_type": "Bogus"}),
            "invalid_request",
        ),
    ] {
        let (status, problem) = t.post(&groups, body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some(code)),
            "{problem:?}"
        );
    }
    let (status, problem) = t
        .post(&groups, json!({"name": "g", "members": ["c_ghost"]}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (502, Some("platform_error"))
    );
    let (status, problem) = t.get(&format!("{history}?limit=21")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, problem) = t.get(&format!("{history}?limit=0")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, problem) = t
        .get(&format!(
            "/api/v1/tencent/channels/{}/groups/@TGS%23none/messages",
            t.channel
        ))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (502, Some("platform_error"))
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("10010"),
        "{problem:?}"
    );
}

#[tokio::test]
async fn tencent_routes_are_in_the_openapi_document() {
    let t = Tencent::start().await;
    let (status, doc) = t.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/tencent/channels/{id}/imports",
        "/api/v1/tencent/channels/{id}/broadcasts",
        "/api/v1/tencent/channels/{id}/accounts",
        "/api/v1/tencent/channels/{id}/groups",
        "/api/v1/tencent/channels/{id}/groups/{group_id}/messages",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

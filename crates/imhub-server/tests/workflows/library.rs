//! Notes and mentions, labels, quick replies and the contact panel through
//! the HTTP API (issue 12): a real server on a real database, agents with
//! real login sessions, a real receiver for the custom channel.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use imhub_core::{
    AccountRef, ContactInfo, Content, Direction, InboundEvent, InboundMessage, Peer, Platform,
    Role, Timestamp,
};
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{PushRecord, SqlStore, Store, StoreOptions, testing};
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
    notes_never_reach_the_platform_and_show_only_when_asked,
    bad_notes_are_refused_with_their_codes,
    mentions_reach_the_mentioned_agent_live_and_in_their_list,
    labels_are_admins_to_manage_agents_to_apply_and_stay_in_their_workspace,
    quick_reply_variables_are_filled_and_unknown_ones_refused,
    quick_replies_follow_the_role_matrix_shared_and_personal,
    the_contact_panel_shows_ids_labels_notes_conversations_and_the_meituan_order,
);

const SECRET: &str = "a-very-secret-secret";
const PASSWORD: &str = "pa55word!";

/// Every body the custom channel's receiver (the merchant's system) got.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(r): State<Receiver>, body: Bytes) -> StatusCode {
    if let Ok(v) = serde_json::from_slice(&body) {
        r.bodies.lock().unwrap().push(v);
    }
    StatusCode::OK
}

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    admin: String,
    agent_token: String,
    ws: imhub_core::WorkspaceId,
    receiver: Receiver,
    channel: i64,
}

/// A logged-in agent: a cookie jar, and the inbox's Origin on every request.
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
        let admin = imhub_server::auth::issue_api_token(store.as_ref(), ws, "a", Role::Admin)
            .await
            .unwrap();
        let agent_token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "g", Role::Agent)
            .await
            .unwrap();
        let receiver = Receiver::default();
        let app = Router::new()
            .route("/inbox", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let outbound_url = format!("http://{}/inbox", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut h = Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            admin,
            agent_token,
            ws,
            receiver,
            channel: 0,
        };
        let (status, channel) = h
            .call(
                "POST",
                "/api/v1/channels",
                &h.admin.clone(),
                Some(json!({"platform": "custom", "name": "Website",
                    "config": {"secret": SECRET, "outbound_url": outbound_url}})),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        h.channel = channel["id"].as_i64().unwrap();
        for (id, name) in [("shop-1", "旗舰店"), ("shop-2", "二店")] {
            let (status, account) = h
                .call(
                    "POST",
                    "/api/v1/accounts",
                    &h.admin.clone(),
                    Some(json!({"channel_id": h.channel, "external_id": id, "name": name})),
                )
                .await;
            assert_eq!(status, 201, "{account}");
        }
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

    /// A customer message on `account`; returns its conversation id.
    async fn push(&self, account: &str, contact: &str, message: &str, text: &str) -> i64 {
        let body = json!({
            "event_id": format!("e-{message}"),
            "account": {"id": account},
            "contact": {"id": contact, "nickname": format!("客户{contact}")},
            "message": {"id": message, "content": {"type": "text", "text": text}},
        })
        .to_string();
        let res = self
            .http
            .post(format!("{}/webhooks/custom/{}", self.base, self.channel))
            .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
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
            .find(|c| c["peer_external_id"] == contact && c["account_id"].is_i64())
            .map(|c| c["id"].as_i64().unwrap())
            .unwrap()
    }

    /// Adds an agent (or admin) and logs them in.
    async fn login(&self, email: &str, name: &str, role: &str) -> Session {
        let (status, user) = self
            .admin(
                "POST",
                "/api/v1/users",
                Some(json!({"email": email, "name": name, "password": PASSWORD, "role": role})),
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

    async fn message_status_becomes(&self, id: i64, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, m) = self
                .admin("GET", &format!("/api/v1/messages/{id}"), None)
                .await;
            if m["status"] == want {
                return;
            }
            assert!(Instant::now() < deadline, "message {id} stayed {m}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

async fn notes_never_reach_the_platform_and_show_only_when_asked(h: Harness) {
    let c = h.push("shop-1", "u1", "m1", "我要退款").await;
    let wang = h.login("w@shop.cn", "小王", "agent").await;
    let hook = h
        .store
        .create_webhook(h.ws, "https://example.com/hook", "secret-secret-1234", &[])
        .await
        .unwrap()
        .id;
    let (_, before) = h
        .admin("GET", &format!("/api/v1/conversations/{c}"), None)
        .await;
    let (status, n) = wang
        .call(
            "POST",
            &format!("/api/v1/conversations/{c}/notes"),
            Some(json!({"text": "内部备注：客户是老顾客"})),
        )
        .await;
    assert_eq!(status, 201, "{n}");
    assert_eq!(n["direction"], "note");
    assert_eq!(n["author_id"], wang.id);
    assert_eq!(n["author_name"], "小王");
    let note = n["id"].as_i64().unwrap();
    let (status, by_token) = h
        .admin(
            "POST",
            &format!("/api/v1/conversations/{c}/notes"),
            Some(json!({"text": "来自集成的备注"})),
        )
        .await;
    assert_eq!(status, 201, "{by_token}");
    assert!(by_token.get("author_id").is_none(), "a token has no author");
    // A real reply goes out; only it reaches the merchant's system.
    let (status, reply) = wang
        .call(
            "POST",
            &format!("/api/v1/conversations/{c}/messages"),
            Some(json!({"content": {"type": "text", "text": "您好，马上处理"}})),
        )
        .await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["author_name"], "小王", "replies name their agent");
    h.message_status_becomes(reply["id"].as_i64().unwrap(), "sent")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = h.receiver.bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["content"]["text"], "您好，马上处理");
    assert!(!format!("{got:?}").contains("备注"), "{got:?}");
    let (_, after) = h
        .admin("GET", &format!("/api/v1/conversations/{c}"), None)
        .await;
    assert_eq!(after["unread_count"], before["unread_count"]);
    assert_eq!(after["last_message_preview"], "您好，马上处理");
    let (_, page) = h
        .admin("GET", &format!("/api/v1/conversations/{c}/messages"), None)
        .await;
    let directions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(
        directions,
        vec!["out", "in"],
        "no notes without internal=true"
    );
    let (_, page) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{c}/messages?internal=false"),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, page) = wang
        .call(
            "GET",
            &format!("/api/v1/conversations/{c}/messages?internal=true"),
            None,
        )
        .await;
    let directions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, vec!["out", "note", "note", "in"]);
    let (status, p) = h
        .admin("GET", &format!("/api/v1/messages/{note}"), None)
        .await;
    assert_eq!((status, code(&p)), (404, Some("not_found")));
    let (status, m) = h
        .admin(
            "GET",
            &format!("/api/v1/messages/{note}?internal=true"),
            None,
        )
        .await;
    assert_eq!((status, m["direction"].as_str()), (200, Some("note")));
    let deliveries = h
        .store
        .list_webhook_deliveries(h.ws, hook, 50)
        .await
        .unwrap();
    let kinds: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "note.created").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "message.created").count(),
        1,
        "only the reply is a message.created: {kinds:?}"
    );
    for d in &deliveries {
        assert!(!d.payload.to_string().contains("备注"), "{}", d.payload);
    }
    assert_eq!(h.store.next_outbox_due().await.unwrap(), None);
}

async fn bad_notes_are_refused_with_their_codes(h: Harness) {
    let c = h.push("shop-1", "u1", "m1", "hi").await;
    let path = format!("/api/v1/conversations/{c}/notes");
    let (status, p) = h.admin("POST", &path, Some(json!({"text": " \n "}))).await;
    assert_eq!((status, code(&p)), (422, Some("invalid_request")));
    let long = "备".repeat(10_001);
    let (status, p) = h.admin("POST", &path, Some(json!({"text": long}))).await;
    assert_eq!((status, code(&p)), (422, Some("note_too_long")));
    let (status, p) = h.admin("POST", &path, Some(json!({}))).await;
    assert_eq!((status, code(&p)), (422, Some("invalid_request")));
    let other = h.store.create_workspace("other").await.unwrap().id;
    let foreign = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "t", Role::Admin)
        .await
        .unwrap();
    let (status, _) = h
        .call("POST", &path, &foreign, Some(json!({"text": "x"})))
        .await;
    assert_eq!(status, 404);
}

/// Reads an SSE stream until `want` shows up (or fails after 5 s).
async fn sse_until(res: &mut reqwest::Response, want: &str) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline.into(), res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want} in {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

async fn mentions_reach_the_mentioned_agent_live_and_in_their_list(h: Harness) {
    let c = h.push("shop-1", "u1", "m1", "在吗").await;
    let wang = h.login("w@shop.cn", "小王", "agent").await;
    let li = h.login("li@shop.cn", "老李", "agent").await;
    let mut stream = wang
        .http
        .get(format!("{}/api/v1/events", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    sse_until(&mut stream, "ready").await;
    let (status, n) = li
        .call(
            "POST",
            &format!("/api/v1/conversations/{c}/notes"),
            Some(json!({"text": "@小王 这个客户要退款，请跟进"})),
        )
        .await;
    assert_eq!(status, 201, "{n}");
    let note = n["id"].as_i64().unwrap();
    let seen = sse_until(&mut stream, "mention.created").await;
    assert!(seen.contains("note.created"), "{seen}");
    assert!(seen.contains(&format!("\"user_id\":{}", wang.id)), "{seen}");
    let (status, list) = wang.call("GET", "/api/v1/mentions?unread=true", None).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["message_id"], note);
    assert_eq!(items[0]["conversation_id"], c);
    assert_eq!(items[0]["author_name"], "老李");
    assert_eq!(items[0]["snippet"], "@小王 这个客户要退款，请跟进");
    let (_, theirs) = li.call("GET", "/api/v1/mentions", None).await;
    assert!(theirs["items"].as_array().unwrap().is_empty(), "{theirs}");
    let (status, p) = h.admin("GET", "/api/v1/mentions", None).await;
    assert_eq!((status, code(&p)), (403, Some("needs_user")));
    let (status, p) = h
        .admin("POST", "/api/v1/mentions/read", Some(json!({})))
        .await;
    assert_eq!((status, code(&p)), (403, Some("needs_user")));
    let (status, read) = wang
        .call(
            "POST",
            "/api/v1/mentions/read",
            Some(json!({"message_ids": [note]})),
        )
        .await;
    assert_eq!((status, read["read"].as_i64()), (200, Some(1)));
    let (_, list) = wang.call("GET", "/api/v1/mentions?unread=true", None).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (_, list) = wang.call("GET", "/api/v1/mentions", None).await;
    assert!(list["items"][0]["read_at"].is_string(), "{list}");
    let (status, read) = wang
        .call("POST", "/api/v1/mentions/read", Some(json!({})))
        .await;
    assert_eq!((status, read["read"].as_i64()), (200, Some(0)));
}

async fn labels_are_admins_to_manage_agents_to_apply_and_stay_in_their_workspace(h: Harness) {
    let c1 = h.push("shop-1", "u1", "m1", "一").await;
    let c2 = h.push("shop-1", "u2", "m2", "二").await;
    let (status, vip) = h
        .admin(
            "POST",
            "/api/v1/labels",
            Some(json!({"name": "VIP", "color": "#FF0000"})),
        )
        .await;
    assert_eq!(status, 201, "{vip}");
    assert_eq!(vip["color"], "#ff0000");
    let vip = vip["id"].as_i64().unwrap();
    let (_, refund) = h
        .admin(
            "POST",
            "/api/v1/labels",
            Some(json!({"name": "退款", "color": "#00aa00"})),
        )
        .await;
    let refund = refund["id"].as_i64().unwrap();
    let (status, p) = h
        .admin(
            "POST",
            "/api/v1/labels",
            Some(json!({"name": "VIP", "color": "#000000"})),
        )
        .await;
    assert_eq!((status, code(&p)), (409, Some("label_exists")));
    for bad in [
        json!({"name": "x", "color": "red"}),
        json!({"name": " ", "color": "#000000"}),
        json!({"name": "x".repeat(51), "color": "#000000"}),
    ] {
        let (status, p) = h.admin("POST", "/api/v1/labels", Some(bad.clone())).await;
        assert_eq!((status, code(&p)), (422, Some("invalid_request")), "{bad}");
    }
    let agent = h.agent_token.clone();
    let (status, p) = h
        .call(
            "POST",
            "/api/v1/labels",
            &agent,
            Some(json!({"name": "A", "color": "#000000"})),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("forbidden")));
    let (status, p) = h
        .call(
            "PATCH",
            &format!("/api/v1/labels/{vip}"),
            &agent,
            Some(json!({"name": "B"})),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("forbidden")));
    let (status, list) = h.call("GET", "/api/v1/labels", &agent, None).await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 2));
    // Agents apply labels; inboxes hear of it live.
    let mut stream = h
        .http
        .get(format!("{}/api/v1/events", h.base))
        .bearer_auth(&h.agent_token)
        .send()
        .await
        .unwrap();
    sse_until(&mut stream, "ready").await;
    let (status, set) = h
        .call(
            "PUT",
            &format!("/api/v1/conversations/{c1}/labels"),
            &agent,
            Some(json!({"label_ids": [refund, vip]})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    let mut want = vec![vip, refund];
    want.sort();
    assert_eq!(set["label_ids"], json!(want));
    let seen = sse_until(&mut stream, "conversation.labels_changed").await;
    assert!(
        seen.contains(&format!("\"conversation_id\":{c1}")),
        "{seen}"
    );
    // Another workspace's label is a 404 and changes nothing.
    let other = h.store.create_workspace("other").await.unwrap().id;
    let theirs = h
        .store
        .create_label(other, "T", "#123456")
        .await
        .unwrap()
        .id
        .0;
    let (status, p) = h
        .call(
            "PUT",
            &format!("/api/v1/conversations/{c1}/labels"),
            &agent,
            Some(json!({"label_ids": [theirs]})),
        )
        .await;
    assert_eq!((status, code(&p)), (404, Some("not_found")));
    let (status, p) = h
        .call(
            "POST",
            "/api/v1/conversations/labels",
            &agent,
            Some(json!({"conversation_ids": [c1, c2], "add": [theirs]})),
        )
        .await;
    assert_eq!((status, code(&p)), (404, Some("not_found")));
    let (status, _) = h
        .admin(
            "PATCH",
            &format!("/api/v1/labels/{theirs}"),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .admin("DELETE", &format!("/api/v1/labels/{theirs}"), None)
        .await;
    assert_eq!(status, 404);
    let mut both = vec![imhub_core::LabelId(vip), imhub_core::LabelId(refund)];
    both.sort();
    assert_eq!(
        h.store
            .conversation_labels(h.ws, imhub_core::ConversationId(c1))
            .await
            .unwrap(),
        both
    );
    // Bulk apply from the chat list: add to both, remove from both.
    let (status, bulk) = h
        .call(
            "POST",
            "/api/v1/conversations/labels",
            &agent,
            Some(json!({"conversation_ids": [c1, c2], "add": [vip], "remove": [refund]})),
        )
        .await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(bulk["changed"], json!([c1, c2]));
    for c in [c1, c2] {
        assert_eq!(
            h.store
                .conversation_labels(h.ws, imhub_core::ConversationId(c))
                .await
                .unwrap(),
            vec![imhub_core::LabelId(vip)]
        );
    }
    let too_many: Vec<i64> = (1..=201).collect();
    for bad in [
        json!({"conversation_ids": too_many}),
        json!({"conversation_ids": []}),
        json!({"conversation_ids": [c1], "add": [vip], "remove": [vip]}),
    ] {
        let (status, p) = h
            .call(
                "POST",
                "/api/v1/conversations/labels",
                &agent,
                Some(bad.clone()),
            )
            .await;
        assert_eq!((status, code(&p)), (422, Some("invalid_request")), "{bad}");
    }
    // Deleting a label takes it off everything.
    let (status, _) = h
        .admin("DELETE", &format!("/api/v1/labels/{vip}"), None)
        .await;
    assert_eq!(status, 204);
    for c in [c1, c2] {
        assert!(
            h.store
                .conversation_labels(h.ws, imhub_core::ConversationId(c))
                .await
                .unwrap()
                .is_empty()
        );
    }
    let (_, list) = h.admin("GET", "/api/v1/labels", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn shared_reply(h: &Harness, body: Value) -> (u16, Value) {
    h.admin(
        "POST",
        "/api/v1/quick-replies",
        Some({
            let mut b = body;
            b["scope"] = json!("shared");
            b
        }),
    )
    .await
}

async fn quick_reply_variables_are_filled_and_unknown_ones_refused(h: Harness) {
    let c = h.push("shop-1", "u1", "m1", "有优惠吗").await;
    let wang = h.login("w@shop.cn", "小王", "agent").await;
    let (status, r) = shared_reply(
        &h,
        json!({"folder": "开场", "title": "欢迎语", "shortcut": "/Hi",
            "text": "您好{{contact.nickname}}，我是{{ agent.name }}，欢迎光临{{account.name}}（{{conversation.platform}}/{{contact.platform_id}}）"}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["scope"], "shared");
    assert_eq!(r["shortcut"], "hi");
    let id = r["id"].as_i64().unwrap();
    let (status, rendered) = wang
        .call(
            "POST",
            &format!("/api/v1/quick-replies/{id}/render"),
            Some(json!({"conversation_id": c})),
        )
        .await;
    assert_eq!(status, 200, "{rendered}");
    let text = rendered["text"].as_str().unwrap().to_string();
    assert_eq!(text, "您好客户u1，我是小王，欢迎光临旗舰店（custom/u1）");
    // The agent sends it with the ordinary route; it reaches the customer.
    let (status, sent) = wang
        .call(
            "POST",
            &format!("/api/v1/conversations/{c}/messages"),
            Some(json!({"content": {"type": "text", "text": text}})),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    h.message_status_becomes(sent["id"].as_i64().unwrap(), "sent")
        .await;
    assert_eq!(
        h.receiver.bodies.lock().unwrap()[0]["content"]["text"],
        "您好客户u1，我是小王，欢迎光临旗舰店（custom/u1）"
    );
    // A token has no agent: {{agent.name}} is empty.
    let (_, by_token) = h
        .admin(
            "POST",
            &format!("/api/v1/quick-replies/{id}/render"),
            Some(json!({"conversation_id": c})),
        )
        .await;
    assert!(
        by_token["text"].as_str().unwrap().contains("我是，"),
        "{by_token}"
    );
    let (status, p) = shared_reply(
        &h,
        json!({"title": "坏的", "text": "您好 {{contact.phone}}"}),
    )
    .await;
    assert_eq!((status, code(&p)), (422, Some("unknown_variable")));
    assert!(
        p["detail"].as_str().unwrap().contains("contact.phone"),
        "{p}"
    );
    let (status, p) = shared_reply(&h, json!({"title": "坏的", "text": "您好 {{agent.name"})).await;
    assert_eq!((status, code(&p)), (422, Some("invalid_template")));
    let (status, p) = h
        .admin(
            "PATCH",
            &format!("/api/v1/quick-replies/{id}"),
            Some(json!({"text": "{{agent.phone}}"})),
        )
        .await;
    assert_eq!((status, code(&p)), (422, Some("unknown_variable")));
    // Another workspace's conversation, or another workspace's reply: 404.
    let other = h.store.create_workspace("other").await.unwrap().id;
    let foreign = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "t", Role::Admin)
        .await
        .unwrap();
    let (status, _) = h
        .call(
            "POST",
            &format!("/api/v1/quick-replies/{id}/render"),
            &foreign,
            Some(json!({"conversation_id": c})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .call(
            "GET",
            &format!("/api/v1/quick-replies/{id}"),
            &foreign,
            None,
        )
        .await;
    assert_eq!(status, 404);
    // Image and card content, validated.
    let (status, r) = shared_reply(
        &h,
        json!({"title": "菜单", "text": "",
            "content": {"type": "image", "url": "https://img.example/menu.png"}}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let (_, rendered) = h
        .admin(
            "POST",
            &format!("/api/v1/quick-replies/{}/render", r["id"]),
            Some(json!({"conversation_id": c})),
        )
        .await;
    assert_eq!(rendered["content"]["type"], "image");
    for (bad, want) in [
        (
            json!({"title": "x", "text": "", "content": {"type": "image"}}),
            "invalid_content",
        ),
        (
            json!({"title": "x", "text": "", "content": {"type": "text", "text": "hi"}}),
            "invalid_content",
        ),
        (json!({"title": "x", "text": " "}), "invalid_request"),
        (json!({"title": " ", "text": "x"}), "invalid_request"),
        (
            json!({"title": "x", "text": "x", "shortcut": "a b"}),
            "invalid_request",
        ),
    ] {
        let (status, p) = shared_reply(&h, bad.clone()).await;
        assert_eq!((status, code(&p)), (422, Some(want)), "{bad}");
    }
}

async fn quick_replies_follow_the_role_matrix_shared_and_personal(h: Harness) {
    let wang = h.login("w@shop.cn", "小王", "agent").await;
    let li = h.login("li@shop.cn", "老李", "agent").await;
    let boss = h.login("boss@shop.cn", "店长", "admin").await;
    let new = |scope: &str, title: &str, shortcut: &str| json!({"scope": scope, "title": title, "shortcut": shortcut, "text": "您好{{contact.nickname}}"});
    // Agents: personal yes, shared no.
    let (status, mine) = wang
        .call(
            "POST",
            "/api/v1/quick-replies",
            Some(new("personal", "我的", "hi")),
        )
        .await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(
        (mine["scope"].as_str(), mine["owner_id"].as_i64()),
        (Some("personal"), Some(wang.id))
    );
    let (status, default_scope) = li
        .call(
            "POST",
            "/api/v1/quick-replies",
            Some(json!({"title": "老李的", "text": "好的"})),
        )
        .await;
    assert_eq!(
        (status, default_scope["scope"].as_str()),
        (201, Some("personal"))
    );
    let (status, p) = wang
        .call(
            "POST",
            "/api/v1/quick-replies",
            Some(new("shared", "共享", "s")),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("not_permitted")));
    // Tokens: no personal library.
    let (status, p) = h
        .call(
            "POST",
            "/api/v1/quick-replies",
            &h.agent_token,
            Some(new("personal", "x", "x")),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("needs_user")));
    let (status, p) = h
        .call(
            "POST",
            "/api/v1/quick-replies",
            &h.agent_token,
            Some(new("shared", "x", "x")),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("not_permitted")));
    // Admins (session or token): shared.
    let (status, shared) = boss
        .call(
            "POST",
            "/api/v1/quick-replies",
            Some(new("shared", "共享欢迎", "hi")),
        )
        .await;
    assert_eq!(status, 201, "{shared}");
    let shared_id = shared["id"].as_i64().unwrap();
    let (status, p) = h
        .admin(
            "POST",
            "/api/v1/quick-replies",
            Some(new("shared", "again", "HI")),
        )
        .await;
    assert_eq!((status, code(&p)), (409, Some("shortcut_exists")));
    let (status, p) = wang
        .call(
            "POST",
            "/api/v1/quick-replies",
            Some(new("personal", "again", "/hi")),
        )
        .await;
    assert_eq!((status, code(&p)), (409, Some("shortcut_exists")));
    // Who sees what.
    let titles = |list: &Value| -> Vec<String> {
        let mut t: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    let (_, list) = wang.call("GET", "/api/v1/quick-replies", None).await;
    assert_eq!(titles(&list), vec!["共享欢迎", "我的"]);
    let (_, list) = li.call("GET", "/api/v1/quick-replies", None).await;
    assert_eq!(titles(&list), vec!["共享欢迎", "老李的"]);
    let (_, list) = h
        .call("GET", "/api/v1/quick-replies", &h.agent_token, None)
        .await;
    assert_eq!(titles(&list), vec!["共享欢迎"]);
    let (_, list) = boss.call("GET", "/api/v1/quick-replies", None).await;
    assert_eq!(
        titles(&list),
        vec!["共享欢迎"],
        "admins do not see agents' own replies"
    );
    let (_, list) = wang.call("GET", "/api/v1/quick-replies?q=HI", None).await;
    assert_eq!(titles(&list), vec!["共享欢迎", "我的"]);
    let (_, list) = wang
        .call("GET", "/api/v1/quick-replies?q=%E6%88%91%E7%9A%84", None)
        .await;
    assert_eq!(titles(&list), vec!["我的"], "q=我的");
    let mine_id = mine["id"].as_i64().unwrap();
    let (status, _) = li
        .call("GET", &format!("/api/v1/quick-replies/{mine_id}"), None)
        .await;
    assert_eq!(status, 404, "another agent's reply is not found");
    let (status, _) = li
        .call(
            "PATCH",
            &format!("/api/v1/quick-replies/{mine_id}"),
            Some(json!({"title": "偷改"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = boss
        .call("DELETE", &format!("/api/v1/quick-replies/{mine_id}"), None)
        .await;
    assert_eq!(status, 404, "not even an admin's");
    // Agents use but do not change the shared library.
    let (status, p) = wang
        .call(
            "PATCH",
            &format!("/api/v1/quick-replies/{shared_id}"),
            Some(json!({"title": "改"})),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("not_permitted")));
    let (status, p) = wang
        .call(
            "DELETE",
            &format!("/api/v1/quick-replies/{shared_id}"),
            None,
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("not_permitted")));
    let (status, changed) = wang
        .call(
            "PATCH",
            &format!("/api/v1/quick-replies/{mine_id}"),
            Some(json!({"title": "我的（改）", "shortcut": null})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed.get("shortcut").is_none(), "{changed}");
    let (status, changed) = boss
        .call(
            "PATCH",
            &format!("/api/v1/quick-replies/{shared_id}"),
            Some(json!({"folder": "开场"})),
        )
        .await;
    assert_eq!((status, changed["folder"].as_str()), (200, Some("开场")));
    let (status, _) = wang
        .call("DELETE", &format!("/api/v1/quick-replies/{mine_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .admin(
            "DELETE",
            &format!("/api/v1/quick-replies/{shared_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

async fn the_contact_panel_shows_ids_labels_notes_conversations_and_the_meituan_order(h: Harness) {
    let c1 = h.push("shop-1", "u1", "m1", "一").await;
    let c2 = h.push("shop-2", "u1", "m2", "二").await;
    let (status, panel) = h
        .call(
            "GET",
            &format!("/api/v1/conversations/{c1}/contact"),
            &h.agent_token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{panel}");
    assert_eq!(panel["nickname"], "客户u1");
    assert_eq!(panel["external_id"], "u1");
    assert_eq!(panel["platform"], "custom");
    assert_eq!(panel["channel_id"], h.channel);
    assert!(panel["order"].is_null() && panel.get("order").is_some());
    assert!(panel["lead"].is_null() && panel.get("lead").is_some());
    let mut ids: Vec<i64> = panel["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![c1, c2]);
    let names: Vec<&str> = panel["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["account_name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"二店"), "{names:?}");
    let contact = panel["id"].as_i64().unwrap();
    let (_, label) = h
        .admin(
            "POST",
            "/api/v1/labels",
            Some(json!({"name": "老客", "color": "#ffaa00"})),
        )
        .await;
    let (status, labels) = h
        .call(
            "PUT",
            &format!("/api/v1/contacts/{contact}/labels"),
            &h.agent_token,
            Some(json!({"label_ids": [label["id"]]})),
        )
        .await;
    assert_eq!(status, 200, "{labels}");
    let (status, patched) = h
        .call(
            "PATCH",
            &format!("/api/v1/contacts/{contact}"),
            &h.agent_token,
            Some(json!({"notes": "喜欢辣，地址在二楼"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["notes"], "喜欢辣，地址在二楼");
    let (_, kept) = h
        .admin(
            "PATCH",
            &format!("/api/v1/contacts/{contact}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(kept["notes"], "喜欢辣，地址在二楼", "absent keeps");
    let (_, panel) = h
        .admin("GET", &format!("/api/v1/contacts/{contact}"), None)
        .await;
    assert_eq!(panel["labels"], json!([label["id"]]));
    assert_eq!(panel["notes"], "喜欢辣，地址在二楼");
    let (status, p) = h
        .admin(
            "PATCH",
            &format!("/api/v1/contacts/{contact}"),
            Some(json!({"notes": "x".repeat(10_001)})),
        )
        .await;
    assert_eq!((status, code(&p)), (422, Some("invalid_request")));
    let (_, cleared) = h
        .admin(
            "PATCH",
            &format!("/api/v1/contacts/{contact}"),
            Some(json!({"notes": null})),
        )
        .await;
    assert!(cleared.get("notes").is_none(), "{cleared}");
    let other = h.store.create_workspace("other").await.unwrap().id;
    let foreign = imhub_server::auth::issue_api_token(h.store.as_ref(), other, "t", Role::Admin)
        .await
        .unwrap();
    for path in [
        format!("/api/v1/contacts/{contact}"),
        format!("/api/v1/conversations/{c1}/contact"),
    ] {
        let (status, _) = h.call("GET", &path, &foreign, None).await;
        assert_eq!(status, 404, "{path}");
    }
    // A Meituan conversation: the order its latest push named.
    let mt = h
        .store
        .create_channel(h.ws, Platform::Meituan, "美团", &json!({}))
        .await
        .unwrap();
    h.store
        .create_account(h.ws, mt.id, "poi-1", "美团门店")
        .await
        .unwrap();
    let recorded = h
        .store
        .record_push(
            h.ws,
            PushRecord {
                channel_id: mt.id,
                event_key: Some("mt-1".into()),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![InboundEvent::Message(InboundMessage {
                    account: AccountRef {
                        external_id: "poi-1".into(),
                        name: None,
                    },
                    peer: Peer::Direct(ContactInfo {
                        external_id: "8801".into(),
                        nickname: Some("美团用户".into()),
                        avatar: None,
                    }),
                    direction: Direction::In,
                    platform_message_id: "mt-m1".into(),
                    content: Content::Text {
                        text: "我的外卖还没到".into(),
                    },
                    sent_at: Timestamp::now(),
                    reply_context: Some(json!({"order_id": 27000123456789012_i64})),
                })],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    let mc = recorded
        .changes
        .iter()
        .find_map(imhub_store::Change::conversation_id)
        .unwrap();
    let (status, panel) = h
        .admin("GET", &format!("/api/v1/conversations/{mc}/contact"), None)
        .await;
    assert_eq!(status, 200, "{panel}");
    assert_eq!(panel["platform"], "meituan");
    assert_eq!(panel["order"]["order_id"], "27000123456789012");
    assert_eq!(panel["order"]["conversation_id"], mc.0);
    let (_, by_contact) = h
        .admin("GET", &format!("/api/v1/contacts/{}", panel["id"]), None)
        .await;
    assert_eq!(by_contact["order"]["order_id"], "27000123456789012");
}

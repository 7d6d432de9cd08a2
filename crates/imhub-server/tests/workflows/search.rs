//! `GET /api/v1/search` end to end: a real server on a real database
//! (SQLite, and PostgreSQL where it is installed), messages pushed through
//! the custom channel's webhook, real HTTP.

use std::sync::Arc;

use imhub_core::Role;
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{SqlStore, Store, StoreOptions, db::Db, testing};
use serde_json::{Value, json};

const SECRET: &str = "a-very-secret-secret";

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    token: String,
    ws: imhub_core::WorkspaceId,
    channel: i64,
}

impl Harness {
    async fn start(url: String) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let base = format!("http://{}", running.addr);
        let mut h = Harness::workspace(store, base, "shop").await;
        h.account("shop-1").await;
        h
    }

    /// Another workspace on the same server, with its own token and channel.
    async fn workspace(store: Arc<SqlStore>, base: String, name: &str) -> Harness {
        let ws = store.create_workspace(name).await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let mut h = Harness {
            base,
            http: reqwest::Client::new(),
            store,
            token,
            ws,
            channel: 0,
        };
        let channel = h
            .post(
                "/api/v1/channels",
                json!({"platform": "custom", "name": "Website", "config": {"secret": SECRET}}),
            )
            .await;
        assert_eq!(channel.0, 201, "{:?}", channel.1);
        h.channel = channel.1["id"].as_i64().unwrap();
        h
    }

    async fn account(&mut self, external_id: &str) -> i64 {
        let account = self
            .post(
                "/api/v1/accounts",
                json!({"channel_id": self.channel, "external_id": external_id, "name": external_id}),
            )
            .await;
        assert_eq!(account.0, 201, "{:?}", account.1);
        account.1["id"].as_i64().unwrap()
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

    async fn search(&self, query: &[(&str, &str)]) -> (u16, Value) {
        self.call(
            self.http
                .get(format!("{}/api/v1/search", self.base))
                .query(query),
        )
        .await
    }

    /// A customer's text message to `account`, dated `sent_at` (ms).
    async fn push(&self, account: &str, contact: &str, id: &str, text: &str, sent_at: i64) {
        let body = json!({
            "event_id": format!("e-{id}"),
            "account": {"id": account},
            "contact": {"id": contact, "nickname": format!("客户{contact}")},
            "message": {"id": id, "content": {"type": "text", "text": text}, "sent_at": sent_at},
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
        assert!(res.status().is_success(), "{:?}", res.text().await);
    }
}

/// Test times start here.
const T0: i64 = 1_700_000_000_000;

fn ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["message_id"].as_i64().unwrap())
        .collect()
}

async fn sqlite() -> Harness {
    Harness::start(testing::sqlite_database()).await
}

async fn postgres() -> Option<Harness> {
    Some(Harness::start(testing::postgres_database()?).await)
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::sqlite().await).await
            })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(h) = super::postgres().await else { return };
                super::$name(h).await
            })*
        }
    };
}

both!(
    a_chinese_phrase_is_found_with_its_conversation_and_the_jump_to_it,
    bad_queries_are_refused_with_their_codes,
    another_workspace_never_sees_the_messages,
    pages_and_filters,
    notes_only_with_internal_and_activity_lines_never,
);

async fn a_chinese_phrase_is_found_with_its_conversation_and_the_jump_to_it(h: Harness) {
    h.push("shop-1", "a", "m1", "你好，在吗", T0).await;
    h.push("shop-1", "a", "m2", "我想申请退款，<b>急</b>", T0 + 1_000)
        .await;
    h.push("shop-1", "a", "m3", "好的谢谢", T0 + 2_000).await;
    h.push("shop-1", "b", "m4", "怎么退货", T0 + 3_000).await;

    let (status, body) = h.search(&[("q", "申请退款")]).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body["partial"], false);
    assert!(body.get("next_cursor").is_none(), "{body:?}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body:?}");
    let hit = &items[0];
    assert_eq!(hit["conversation_title"], "客户a");
    assert_eq!(hit["platform"], "custom");
    assert_eq!(hit["direction"], "in");
    assert_eq!(
        hit["snippet"],
        "我想<mark>申请退款</mark>，&lt;b&gt;急&lt;/b&gt;"
    );
    let accounts = h.get("/api/v1/accounts").await.1;
    assert_eq!(hit["account_id"], accounts["items"][0]["id"]);

    // The jump: the conversation's page that starts with the message.
    let conversation = hit["conversation_id"].as_i64().unwrap();
    let cursor = hit["messages_cursor"].as_str().unwrap();
    let (status, page) = h
        .call(
            h.http
                .get(format!(
                    "{}/api/v1/conversations/{conversation}/messages",
                    h.base
                ))
                .query(&[("before", cursor), ("limit", "2")]),
        )
        .await;
    assert_eq!(status, 200, "{page:?}");
    assert_eq!(page["items"][0]["id"], hit["message_id"]);
    assert_eq!(page["items"][0]["created_at"], hit["created_at"]);
    assert_eq!(page["items"][1]["content"]["text"], "你好，在吗");

    // Two characters, and inside one conversation.
    let (_, body) = h.search(&[("q", "退")]).await;
    assert_eq!(ids(&body).len(), 2);
    let (_, body) = h
        .search(&[("q", "退"), ("conversation_id", &conversation.to_string())])
        .await;
    assert_eq!(ids(&body), vec![hit["message_id"].as_i64().unwrap()]);
}

async fn bad_queries_are_refused_with_their_codes(h: Harness) {
    let problem = |r: (u16, Value)| (r.0, r.1["code"].as_str().unwrap_or_default().to_string());
    let long = "退".repeat(101);
    for (query, want) in [
        (vec![], (422, "query_too_short")),
        (vec![("q", "")], (422, "query_too_short")),
        (vec![("q", "  \u{3000}")], (422, "query_too_short")),
        (vec![("q", long.as_str())], (422, "query_too_long")),
        (
            vec![("q", "退款"), ("cursor", "!!")],
            (400, "invalid_cursor"),
        ),
        (
            vec![("q", "退款"), ("cursor", "eDp5")],
            (400, "invalid_cursor"),
        ),
        (vec![("q", "退款"), ("limit", "0")], (400, "invalid_query")),
        (
            vec![("q", "退款"), ("limit", "101")],
            (400, "invalid_query"),
        ),
        (
            vec![("q", "退款"), ("from", "yesterday")],
            (400, "invalid_query"),
        ),
        (
            vec![("q", "退款"), ("platform", "wechat")],
            (400, "invalid_query"),
        ),
        (
            vec![("q", "退款"), ("unknown", "1")],
            (400, "invalid_query"),
        ),
        (
            vec![("q", "退款"), ("conversation_id", "999999")],
            (404, "not_found"),
        ),
    ] {
        let got = problem(h.search(&query).await);
        assert_eq!((got.0, got.1.as_str()), want, "{query:?}");
    }
    let (status, _) = h
        .call(
            h.http
                .get(format!("{}/api/v1/search", h.base))
                .query(&[("q", &"退".repeat(100))]),
        )
        .await;
    assert_eq!(status, 200);
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/search?q=x", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}

async fn another_workspace_never_sees_the_messages(mut h: Harness) {
    let mut other = Harness::workspace(Arc::clone(&h.store), h.base.clone(), "other").await;
    other.account("shop-9").await;
    h.account("shop-2").await;
    h.push("shop-1", "a", "m1", "同一句话 退款进度", T0).await;
    other
        .push("shop-9", "a", "m1", "同一句话 退款进度", T0)
        .await;
    let (_, mine) = h.search(&[("q", "退款进度")]).await;
    let (_, theirs) = other.search(&[("q", "退款进度")]).await;
    assert_eq!(ids(&mine).len(), 1);
    assert_eq!(ids(&theirs).len(), 1);
    assert_ne!(ids(&mine), ids(&theirs));
    // Their conversation is not found from here, whatever the query.
    let conversation = theirs["items"][0]["conversation_id"].to_string();
    let (status, body) = h
        .search(&[("q", "退款"), ("conversation_id", &conversation)])
        .await;
    assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    // Short queries too.
    let (_, short) = h.search(&[("q", "进")]).await;
    assert_eq!(ids(&short), ids(&mine));
}

async fn pages_and_filters(mut h: Harness) {
    let second = h.account("shop-2").await;
    for i in 0..5 {
        h.push(
            "shop-1",
            "a",
            &format!("a{i}"),
            &format!("发票 第{i}张"),
            T0 + i * 1_000,
        )
        .await;
    }
    h.push("shop-2", "b", "b0", "要开发票", T0 + 10_000).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("q", "发票".to_string()), ("limit", "2".to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = h.search(&query).await;
        assert_eq!(status, 200, "{body:?}");
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["created_at"].as_str().unwrap().to_string()),
        );
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");

    let count = |body: Value| body["items"].as_array().unwrap().len();
    let second = second.to_string();
    assert_eq!(
        count(h.search(&[("q", "发票"), ("account_id", &second)]).await.1),
        1
    );
    assert_eq!(
        count(h.search(&[("q", "发票"), ("platform", "custom")]).await.1),
        6
    );
    assert_eq!(
        count(h.search(&[("q", "发票"), ("platform", "douyin")]).await.1),
        0
    );
    let from = (T0 + 1_000).to_string();
    assert_eq!(
        count(
            h.search(&[
                ("q", "发票"),
                ("from", &from),
                ("to", "2023-11-14T22:13:24Z")
            ])
            .await
            .1
        ),
        3,
        "from inclusive (ms), to exclusive (RFC 3339)"
    );
}

async fn notes_only_with_internal_and_activity_lines_never(h: Harness) {
    h.push("shop-1", "a", "m1", "能便宜点吗", T0).await;
    let (_, body) = h.search(&[("q", "便宜点")]).await;
    let conversation = body["items"][0]["conversation_id"].as_i64().unwrap();
    let (ws, ch) = (h.ws.0, h.channel);
    h.store
        .write_raw(move |db: &mut dyn Db| {
            for (direction, content, at) in [
                ("note", json!({"type": "text", "text": "老客户，可以便宜点"}), 1),
                (
                    "activity",
                    json!({"type": "custom", "data": {"activity": "status"}, "description": "便宜点"}),
                    2,
                ),
            ] {
                db.execute(
                    "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, \
                       content, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'sent', $6, $6)",
                    &[
                        ws.into(),
                        conversation.into(),
                        ch.into(),
                        direction.into(),
                        content.to_string().into(),
                        (T0 + at * 1_000).into(),
                    ],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    for q in ["便宜点", "便宜"] {
        let (_, plain) = h.search(&[("q", q)]).await;
        let directions: Vec<&str> = plain["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["direction"].as_str().unwrap())
            .collect();
        assert_eq!(directions, vec!["in"], "{q}");
        let (_, internal) = h.search(&[("q", q), ("internal", "true")]).await;
        let directions: Vec<&str> = internal["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["direction"].as_str().unwrap())
            .collect();
        assert_eq!(directions, vec!["note", "in"], "{q}");
    }
}

#[test]
fn the_spec_documents_the_route_and_its_codes() {
    let doc = serde_json::to_value(imhub_server::api::openapi::spec()).unwrap();
    let op = &doc["paths"]["/api/v1/search"]["get"];
    assert!(op.is_object(), "GET /api/v1/search is in the spec");
    let codes = |status: &str| {
        op["responses"][status]["description"]
            .as_str()
            .unwrap_or("")
    };
    for (status, code) in [
        ("422", "`query_too_short`"),
        ("422", "`query_too_long`"),
        ("400", "`invalid_cursor`"),
        ("400", "`invalid_query`"),
        ("404", "`not_found`"),
        ("401", "`unauthorized`"),
    ] {
        assert!(
            codes(status).contains(code),
            "{status} {code}: {}",
            codes(status)
        );
    }
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "q",
        "account_id",
        "platform",
        "from",
        "to",
        "conversation_id",
        "internal",
        "cursor",
        "limit",
    ] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    assert!(doc["components"]["schemas"]["SearchResults"].is_object());
}

//! The operator API against a real server on SQLite and PostgreSQL: only
//! the operator token opens it (not a workspace's token or session, and the
//! operator token opens no workspace route); workspaces are created,
//! renamed, given a first admin and token, given quotas that refuse
//! channels, users, sends, automatic replies and uploads past them while
//! inbound pushes still come in; a suspended workspace answers 403
//! `workspace_suspended` and holds its pushes (acknowledged, a replay
//! changes nothing), processed in order on resume; deletion needs the
//! typed name.

use std::sync::Arc;

use imhub_server::{Config, channels::custom::sign, config::SecretString};
use imhub_store::{SqlStore, StoreOptions, testing};
use serde_json::{Value, json};

const SECRET: &str = "operator-channel-secret-0123";
const OPERATOR: &str = "operator-token-0123456789abcdef";

struct Harness {
    base: String,
    http: reqwest::Client,
    /// Where the custom channels deliver replies (answers 200).
    outbound_url: String,
}

/// A merchant's receiver of custom-channel replies on a free local port.
async fn receiver() -> String {
    let app = axum::Router::new().route("/in", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

impl Harness {
    async fn start(url: String) -> Harness {
        Self::start_with(url, Some(OPERATOR)).await
    }

    async fn start_with(url: String, operator: Option<&str>) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 64 * 1024,
            operator_token: operator.map(|t| SecretString(t.into())),
            ..Config::default()
        };
        config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        let running = imhub_server::start(config, store, std::future::pending())
            .await
            .unwrap();
        Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            outbound_url: receiver().await,
        }
    }

    async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        self.http.request(method, format!("{}{path}", self.base))
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::send(req).await
    }

    async fn operator(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(OPERATOR, method, path, body).await
    }

    /// A new workspace with an admin token, a custom channel and an account.
    async fn workspace(&self, name: &str) -> Shop {
        let (status, ws) = self
            .operator(
                "post",
                "/api/v1/operator/workspaces",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{ws}");
        let id = ws["id"].as_i64().unwrap();
        let (status, token) = self
            .operator(
                "post",
                &format!("/api/v1/operator/workspaces/{id}/tokens"),
                Some(json!({"name": "setup"})),
            )
            .await;
        assert_eq!(status, 201, "{token}");
        let token = token["token"].as_str().unwrap().to_string();
        let (status, channel) = self
            .call_as(
                &token,
                "post",
                "/api/v1/channels",
                Some(json!({"platform": "custom", "name": "Website",
                    "config": {"secret": SECRET, "outbound_url": self.outbound_url}})),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        let channel = channel["id"].as_i64().unwrap();
        let (status, account) = self
            .call_as(
                &token,
                "post",
                "/api/v1/accounts",
                Some(json!({"channel_id": channel, "external_id": "shop-1", "name": "旗舰店"})),
            )
            .await;
        assert_eq!(status, 201, "{account}");
        Shop { id, token, channel }
    }

    /// A customer's message through the custom channel's webhook.
    async fn push(&self, shop: &Shop, event: &str, text: &str) -> u16 {
        self.push_from(shop, "u1", event, text).await
    }

    /// A message from another customer.
    async fn push_from(&self, shop: &Shop, contact: &str, event: &str, text: &str) -> u16 {
        let body = json!({
            "event_id": event, "account": {"id": "shop-1"},
            "contact": {"id": contact, "nickname": "客户"},
            "message": {"id": event, "content": {"type": "text", "text": text}},
        })
        .to_string();
        self.http
            .post(format!("{}/webhooks/custom/{}", self.base, shop.channel))
            .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The texts of the workspace's first conversation, oldest first.
    async fn texts(&self, shop: &Shop) -> Vec<String> {
        let (_, list) = self
            .call_as(&shop.token, "get", "/api/v1/conversations", None)
            .await;
        let Some(id) = list["items"][0]["id"].as_i64() else {
            return Vec::new();
        };
        let (_, page) = self
            .call_as(
                &shop.token,
                "get",
                &format!("/api/v1/conversations/{id}/messages?limit=200"),
                None,
            )
            .await;
        let mut texts: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "in")
            .map(|m| {
                m["content"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        texts.reverse();
        texts
    }
}

struct Shop {
    id: i64,
    token: String,
    channel: i64,
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

macro_rules! both {
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

both!(
    only_the_operator_token_opens_the_operator_api,
    the_operator_provisions_a_workspace_with_a_first_admin_and_token,
    quotas_refuse_past_them_count_usage_and_never_refuse_inbound,
    a_suspended_workspace_answers_403_and_catches_up_its_pushes_on_resume,
    deleting_a_workspace_needs_its_name_typed,
);

async fn only_the_operator_token_opens_the_operator_api(h: Harness) {
    let shop = h.workspace("店铺").await;
    let list = "/api/v1/operator/workspaces";
    let (status, body) = Harness::send(h.request("get", list)).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "no token");
    for wrong in [
        "operator-token-0123456789abcdeX",
        "x",
        OPERATOR.trim_end_matches('f'),
    ] {
        let (status, _) = h.call_as(wrong, "get", list, None).await;
        assert_eq!(status, 401, "{wrong}");
    }
    let (status, body) = h.call_as(&shop.token, "get", list, None).await;
    assert_eq!(
        (status, code(&body)),
        (401, "unauthorized"),
        "a workspace token"
    );
    let (status, _) = h
        .call_as(&shop.token, "post", list, Some(json!({"name": "x"})))
        .await;
    assert_eq!(status, 401);
    // A workspace admin's session cookie is not the operator either.
    let (status, created) = h
        .operator(
            "post",
            &format!("/api/v1/operator/workspaces/{}/admins", shop.id),
            Some(json!({"email": "boss@shop.cn", "name": "老板", "password": "pa55word!"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created.get("initial_password").is_none(),
        "a given password is not echoed"
    );
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = browser
        .post(format!("{}/api/v1/session", h.base))
        .json(&json!({"email": "boss@shop.cn", "password": "pa55word!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = browser
        .get(format!("{}{list}", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a session cookie");
    // The operator token opens no workspace route.
    let (status, _) = h.operator("get", "/api/v1/conversations", None).await;
    assert_eq!(status, 401);
    let (status, _) = h.operator("get", "/api/v1/channels", None).await;
    assert_eq!(status, 401);
    // The page is served, without the token in it.
    let res = h
        .http
        .get(format!("{}/operator", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("js/operator.js") && !page.contains(OPERATOR));
}

async fn the_operator_provisions_a_workspace_with_a_first_admin_and_token(h: Harness) {
    let (status, ws) = h
        .operator(
            "post",
            "/api/v1/operator/workspaces",
            Some(json!({"name": " 张记面馆 "})),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    assert_eq!(
        (ws["name"].as_str(), ws["status"].as_str()),
        (Some("张记面馆"), Some("active"))
    );
    assert_eq!(ws["quotas"]["usage"]["agents"], 0);
    let id = ws["id"].as_i64().unwrap();
    for bad in [json!({"name": "  "}), json!({"name": "x".repeat(101)})] {
        let (status, body) = h
            .operator("post", "/api/v1/operator/workspaces", Some(bad))
            .await;
        assert_eq!((status, code(&body)), (422, "invalid_name"));
    }
    let (status, body) = h
        .operator(
            "post",
            "/api/v1/operator/workspaces",
            Some(json!({"nom": "x"})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
    let (status, list) = h.operator("get", "/api/v1/operator/workspaces", None).await;
    assert_eq!(status, 200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == id)
    );
    let path = format!("/api/v1/operator/workspaces/{id}");
    let (status, renamed) = h
        .operator("patch", &path, Some(json!({"name": "张记面馆（总店）"})))
        .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("张记面馆（总店）"))
    );
    let (status, fetched) = h.operator("get", &path, None).await;
    assert_eq!(
        (status, fetched["name"].clone()),
        (200, renamed["name"].clone())
    );
    for unknown in [
        (
            "get",
            "/api/v1/operator/workspaces/999999".to_string(),
            None,
        ),
        (
            "patch",
            "/api/v1/operator/workspaces/999999".into(),
            Some(json!({"name": "x"})),
        ),
        (
            "post",
            "/api/v1/operator/workspaces/999999/suspend".into(),
            None,
        ),
        (
            "post",
            "/api/v1/operator/workspaces/999999/resume".into(),
            None,
        ),
        (
            "get",
            "/api/v1/operator/workspaces/999999/quotas".into(),
            None,
        ),
        ("get", "/api/v1/operator/workspaces/abc".into(), None),
        (
            "post",
            "/api/v1/operator/workspaces/999999/tokens".into(),
            Some(json!({"name": "t"})),
        ),
        (
            "post",
            "/api/v1/operator/workspaces/999999/admins".into(),
            Some(json!({"email": "a@b.cn", "name": "A"})),
        ),
    ] {
        let (status, body) = h.operator(unknown.0, &unknown.1, unknown.2).await;
        assert_eq!(
            (status, code(&body)),
            (404, "not_found"),
            "{} {}",
            unknown.0,
            unknown.1
        );
    }
    // The first admin, with a generated password shown once.
    let admins = format!("{path}/admins");
    let (status, created) = h
        .operator(
            "post",
            &admins,
            Some(json!({"email": "Zhang@Shop.cn", "name": "张老板"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["user"]["role"], "admin");
    let password = created["initial_password"].as_str().unwrap().to_string();
    assert!(password.len() >= 16);
    let res = h
        .http
        .post(format!("{}/api/v1/session", h.base))
        .json(&json!({"email": "zhang@shop.cn", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the admin logs in with it");
    let (status, body) = h
        .operator(
            "post",
            &admins,
            Some(json!({"email": "zhang@shop.cn", "name": "again"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    for (bad, expected) in [
        (
            json!({"email": "li@shop.cn", "name": "李", "password": "short"}),
            "weak_password",
        ),
        (
            json!({"email": "not an email", "name": "李"}),
            "invalid_email",
        ),
        (json!({"email": "li@shop.cn", "name": " "}), "invalid_name"),
    ] {
        let (status, body) = h.operator("post", &admins, Some(bad)).await;
        assert_eq!((status, code(&body)), (422, expected));
    }
    // A first token for the merchant's integration.
    let tokens = format!("{path}/tokens");
    let (status, issued) = h
        .operator(
            "post",
            &tokens,
            Some(json!({"name": "erp", "role": "agent", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["role"], "agent");
    assert!(issued["expires_at"].is_string());
    let token = issued["token"].as_str().unwrap();
    let (status, _) = h.call_as(token, "get", "/api/v1/conversations", None).await;
    assert_eq!(status, 200, "the issued token works in its workspace");
    for (bad, expected) in [
        (json!({"name": "t", "expires_in_days": 0}), "invalid_expiry"),
        (
            json!({"name": "t", "expires_in_days": 4000}),
            "invalid_expiry",
        ),
        (json!({"name": " "}), "invalid_name"),
    ] {
        let (status, body) = h.operator("post", &tokens, Some(bad)).await;
        assert_eq!((status, code(&body)), (422, expected));
    }
    let (_, fetched) = h.operator("get", &path, None).await;
    assert_eq!(fetched["quotas"]["usage"]["agents"], 1);
}

async fn quotas_refuse_past_them_count_usage_and_never_refuse_inbound(h: Harness) {
    let shop = h.workspace("quota").await;
    let quotas = format!("/api/v1/operator/workspaces/{}/quotas", shop.id);
    let (status, q) = h.operator("get", &quotas, None).await;
    assert_eq!(status, 200, "{q}");
    assert!(q["channels"].is_null(), "the default until set");
    assert_eq!(
        q["effective"]["media_bytes"],
        1024 * 1024 * 1024,
        "[limits] default"
    );
    let (status, q) = h
        .operator(
            "put",
            &quotas,
            Some(json!({"channels": 1, "agents": 1, "messages_per_day": 1, "media_bytes": 16})),
        )
        .await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["usage"]["channels"], 1);
    for bad in [
        json!({"channels": -1}),
        json!({"channels": 9007199254740992_u64}),
        json!({"channels": "1"}),
        json!({"seats": 1}),
    ] {
        let (status, body) = h.operator("put", &quotas, Some(bad.clone())).await;
        assert_eq!((status, code(&body)), (422, "invalid_request"), "{bad}");
    }
    let (status, body) = h
        .call_as(
            &shop.token,
            "post",
            "/api/v1/channels",
            Some(json!({"platform": "custom", "name": "Second", "config": {"secret": SECRET}})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "quota_exceeded"), "{body}");
    let user = json!({"email": "a@shop.cn", "name": "A", "password": "pa55word!"});
    let (status, body) = h
        .call_as(&shop.token, "post", "/api/v1/users", Some(user.clone()))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h
        .call_as(
            &shop.token,
            "post",
            "/api/v1/users",
            Some(json!({"email": "b@shop.cn", "name": "B", "password": "pa55word!"})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "quota_exceeded"));
    let (status, body) = h
        .operator(
            "post",
            &format!("/api/v1/operator/workspaces/{}/admins", shop.id),
            Some(json!({"email": "c@shop.cn", "name": "C"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (422, "quota_exceeded"),
        "the operator's too"
    );
    // Sends: one a day; the second waits for the next UTC day.
    assert_eq!(h.push(&shop, "e1", "在吗").await, 200);
    let (_, list) = h
        .call_as(&shop.token, "get", "/api/v1/conversations", None)
        .await;
    let conversation = list["items"][0]["id"].as_i64().unwrap();
    let send = format!("/api/v1/conversations/{conversation}/messages");
    let reply = json!({"content": {"type": "text", "text": "您好"}});
    let (status, body) = h
        .call_as(&shop.token, "post", &send, Some(reply.clone()))
        .await;
    assert_eq!(status, 202, "{body}");
    let res = h
        .request("post", &send)
        .bearer_auth(&shop.token)
        .json(&reply)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=86_400).contains(&retry),
        "until the next UTC day: {retry}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(code(&body), "quota_exceeded");
    // Inbound is never refused.
    for n in 2..5 {
        assert_eq!(h.push(&shop, &format!("e{n}"), "还在吗").await, 200);
    }
    assert_eq!(h.texts(&shop).await.len(), 4);
    // An automatic reply past the quota is the rule's failure, not queued.
    let (status, rule) = h
        .call_as(
            &shop.token,
            "post",
            "/api/v1/automation/rules",
            Some(json!({
                "name": "价格", "enabled": true,
                "trigger": {"type": "keywords", "match": "contains_any", "keywords": ["价格"]},
                "actions": [{"type": "reply", "text": "请看菜单"}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    // From a customer no human answered yet (a human reply takes over).
    assert_eq!(h.push_from(&shop, "u2", "e9", "价格多少").await, 200);
    let (_, stats) = h
        .call_as(
            &shop.token,
            "get",
            &format!("/api/v1/automation/rules/{}/stats", rule["id"]),
            None,
        )
        .await;
    assert!(
        stats["recent_failures"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f.to_string().contains("quota_exceeded"))),
        "{stats}"
    );
    // Uploads past the media bytes: 413.
    let upload = |bytes: Vec<u8>| {
        h.request("post", "/api/v1/media")
            .bearer_auth(&shop.token)
            .header("content-type", "image/png")
            .body(bytes)
    };
    let (status, _) = Harness::send(upload(vec![1; 10])).await;
    assert_eq!(status, 201);
    let (status, body) = Harness::send(upload(vec![1; 10])).await;
    assert_eq!((status, code(&body)), (413, "quota_exceeded"));
    let (_, q) = h.operator("get", &quotas, None).await;
    assert_eq!(
        q["usage"],
        json!({"channels": 1, "agents": 1, "messages_today": 1, "media_bytes": 10})
    );
    // 0 lifts a limit; null goes back to the default.
    let (status, q) = h
        .operator(
            "put",
            &quotas,
            Some(json!({"messages_per_day": 0, "channels": null})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (q["messages_per_day"].clone(), q["channels"].clone()),
        (json!(0), Value::Null)
    );
    let (status, _) = h.call_as(&shop.token, "post", &send, Some(reply)).await;
    assert_eq!(status, 202);
}

async fn a_suspended_workspace_answers_403_and_catches_up_its_pushes_on_resume(h: Harness) {
    let shop = h.workspace("暂停").await;
    let other = h.workspace("照常").await;
    assert_eq!(h.push(&shop, "e0", "之前").await, 200);
    let (status, suspended) = h
        .operator(
            "post",
            &format!("/api/v1/operator/workspaces/{}/suspend", shop.id),
            None,
        )
        .await;
    assert_eq!(
        (status, suspended["status"].as_str()),
        (200, Some("suspended"))
    );
    assert!(suspended["suspended_at"].is_string());
    for (method, path) in [
        ("get", "/api/v1/conversations"),
        ("get", "/api/v1/channels"),
        ("get", "/api/v1/session"),
        ("post", "/api/v1/tokens"),
    ] {
        let (status, body) = h
            .call_as(
                &shop.token,
                method,
                path,
                Some(json!({"name": "t", "role": "admin"})),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (403, "workspace_suspended"),
            "{method} {path}"
        );
    }
    let (status, _) = h
        .call_as(&other.token, "get", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 200, "another workspace works on");
    // Pushes are acknowledged and held; a replayed one is taken once.
    for (event, text) in [("e1", "一"), ("e2", "二"), ("e3", "三")] {
        assert_eq!(h.push(&shop, event, text).await, 200);
    }
    assert_eq!(h.push(&shop, "e2", "二").await, 200, "the platform retries");
    let path = format!("/api/v1/operator/workspaces/{}", shop.id);
    let (_, held) = h.operator("get", &path, None).await;
    assert_eq!(held["held_pushes"], 3, "{held}");
    let (status, again) = h.operator("post", &format!("{path}/suspend"), None).await;
    assert_eq!(
        (status, again["held_pushes"].clone()),
        (200, json!(3)),
        "suspend is idempotent"
    );
    let (status, resumed) = h.operator("post", &format!("{path}/resume"), None).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["held_pushes"], 0);
    assert!(resumed.get("suspended_at").is_none());
    assert_eq!(
        h.texts(&shop).await,
        ["之前", "一", "二", "三"],
        "in order, once each"
    );
    assert_eq!(h.push(&shop, "e3", "三").await, 200, "a late replay");
    assert_eq!(h.push(&shop, "e4", "四").await, 200);
    assert_eq!(h.texts(&shop).await, ["之前", "一", "二", "三", "四"]);
    let (status, _) = h.operator("post", &format!("{path}/resume"), None).await;
    assert_eq!(status, 200, "resuming an active workspace changes nothing");
}

async fn deleting_a_workspace_needs_its_name_typed(h: Harness) {
    let shop = h.workspace("要删除的店").await;
    let kept = h.workspace("留下的店").await;
    assert_eq!(h.push(&shop, "e1", "你好").await, 200);
    let path = format!("/api/v1/operator/workspaces/{}", shop.id);
    for query in [
        "",
        "?confirm=",
        "?confirm=%E8%A6%81%E5%88%A0%E9%99%A4",
        "?confirm=%E7%95%99%E4%B8%8B%E7%9A%84%E5%BA%97",
    ] {
        let (status, body) = h.operator("delete", &format!("{path}{query}"), None).await;
        assert_eq!(
            (status, code(&body)),
            (422, "confirmation_mismatch"),
            "{query}"
        );
    }
    let (status, body) = h
        .operator("delete", &format!("{path}?confirm=x&extra=1"), None)
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_query"));
    let (status, _) = h
        .call_as(&shop.token, "get", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 200, "nothing deleted yet");
    let confirm = "?confirm=%E8%A6%81%E5%88%A0%E9%99%A4%E7%9A%84%E5%BA%97";
    let (status, _) = h
        .operator("delete", &format!("{path}{confirm}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = h.operator("get", &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = h
        .operator("delete", &format!("{path}{confirm}"), None)
        .await;
    assert_eq!(status, 404, "deleted once");
    let (status, _) = h
        .call_as(&shop.token, "get", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 401, "its tokens are gone");
    assert_eq!(
        h.push(&shop, "e2", "还在吗").await,
        404,
        "its webhook is unknown"
    );
    let (status, _) = h
        .call_as(&kept.token, "get", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_operator_api_is_closed() {
    let h = Harness::start_with(testing::sqlite_database(), None).await;
    let (status, body) = h
        .call_as(OPERATOR, "get", "/api/v1/operator/workspaces", None)
        .await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no operator token")
    );
    let short = imhub_server::start(
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            operator_token: Some(SecretString("short".into())),
            ..Config::default()
        },
        Arc::new(
            SqlStore::open(StoreOptions::new(testing::sqlite_database()))
                .await
                .unwrap(),
        ),
        std::future::pending(),
    )
    .await;
    assert!(short.is_err(), "a short operator token is refused at start");
}

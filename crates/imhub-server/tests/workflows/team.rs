//! The team inbox over HTTP on a real server and database (both
//! backends): assignment and its role matrix, auto-assignment with
//! capacity and availability, availability and presence, status with
//! snooze and the timer engine, the chat-list views and counts.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use imhub_core::{Role, Timestamp};
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const SECRET: &str = "team-inbox-secret-0123";

struct Harness {
    state: imhub_server::AppState,
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    /// An admin API token of the workspace.
    admin: String,
    ws: imhub_core::WorkspaceId,
    channel: i64,
    account: i64,
}

/// A signed-in user: a browser with the session cookie.
struct Agent {
    id: i64,
    browser: reqwest::Client,
}

impl Harness {
    async fn start(url: String) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 64 * 1024,
            ..Config::default()
        };
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let admin = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let mut h = Harness {
            state: running.state.clone(),
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            admin,
            ws,
            channel: 0,
            account: 0,
        };
        let (status, channel) = h
            .call(
                "post",
                "/api/v1/channels",
                Some(
                    json!({"platform": "custom", "name": "Website", "config": {"secret": SECRET}}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        h.channel = channel["id"].as_i64().unwrap();
        let (status, account) = h
            .call(
                "post",
                "/api/v1/accounts",
                Some(json!({"channel_id": h.channel, "external_id": "shop-1", "name": "Shop"})),
            )
            .await;
        assert_eq!(status, 201, "{account}");
        h.account = account["id"].as_i64().unwrap();
        h
    }

    fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base);
        match method {
            "get" => self.http.get(url),
            "put" => self.http.put(url),
            "patch" => self.http.patch(url),
            "delete" => self.http.delete(url),
            _ => self.http.post(url),
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

    /// A call with the admin token.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.admin, method, path, body).await
    }

    /// A call with a bearer token.
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

    /// A call in an agent's browser (session cookie, same origin).
    async fn browse(
        &self,
        agent: &Agent,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "get" => agent.browser.get(url),
            "put" => agent.browser.put(url),
            "patch" => agent.browser.patch(url),
            _ => agent.browser.post(url),
        }
        .header("origin", &self.base);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::send(req).await
    }

    /// A user of the workspace, signed in.
    async fn agent(&self, name: &str, role: &str) -> Agent {
        let email = format!("agent{}@shop.cn", rand_suffix());
        let (status, user) = self
            .call(
                "post",
                "/api/v1/users",
                Some(json!({"email": email, "name": name, "password": "pa55word!", "role": role})),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = browser
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"email": email, "password": "pa55word!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        Agent {
            id: user["id"].as_i64().unwrap(),
            browser,
        }
    }

    /// A customer's message through the custom channel's webhook; returns
    /// the conversation's id.
    async fn customer_writes(&self, contact: &str, message: &str) -> i64 {
        let body = json!({
            "event_id": format!("e-{message}"),
            "account": {"id": "shop-1"},
            "contact": {"id": contact, "nickname": format!("客户{contact}")},
            "message": {"id": message, "content": {"type": "text", "text": "在吗？"}},
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
        let (_, list) = self
            .call("get", "/api/v1/conversations?limit=200", None)
            .await;
        let (_, every) = self
            .call(
                "get",
                "/api/v1/conversations?limit=200&status=resolved",
                None,
            )
            .await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(every["items"].as_array().unwrap())
            .find(|c| c["peer_external_id"] == contact)
            .and_then(|c| c["id"].as_i64())
            .expect("the customer's conversation")
    }

    async fn conversation(&self, id: i64) -> Value {
        let (status, c) = self
            .call("get", &format!("/api/v1/conversations/{id}"), None)
            .await;
        assert_eq!(status, 200, "{c}");
        c
    }

    /// The ids a chat-list query returns, sorted.
    async fn listed(&self, agent: Option<&Agent>, query: &str) -> Vec<i64> {
        let path = format!("/api/v1/conversations?{query}");
        let (status, page) = match agent {
            Some(a) => self.browse(a, "get", &path, None).await,
            None => self.call("get", &path, None).await,
        };
        assert_eq!(status, 200, "{query}: {page}");
        let mut ids: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    }

    /// The conversation's activity lines (`data`), oldest first.
    async fn activity(&self, id: i64) -> Vec<Value> {
        let (status, page) = self
            .call(
                "get",
                &format!("/api/v1/conversations/{id}/messages?internal=true"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let mut lines: Vec<Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "activity")
            .map(|m| m["content"]["data"].clone())
            .collect();
        lines.reverse();
        lines
    }

    async fn auto_assign(&self) {
        let (status, body) = self
            .call(
                "put",
                &format!("/api/v1/accounts/{}/assignment", self.account),
                Some(json!({"auto_assign": true, "agent_ids": []})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

fn rand_suffix() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
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
    assignment_follows_the_role_matrix,
    assignees_of_another_workspace_or_disabled_are_refused,
    team_settings_capacity_and_auto_assignment_are_for_admins,
    auto_assignment_respects_capacity_and_availability_and_requeues_on_away,
    presence_sweep_sets_agents_offline_unless_their_inbox_is_connected,
    a_snooze_in_the_past_is_refused_and_a_snoozed_chat_comes_back_by_itself,
    a_customer_message_reopens_resolved_and_snoozed_chats,
    chat_list_views_filters_and_counts,
    assignment_and_status_changes_reach_live_clients_and_webhooks,
);

async fn assignment_follows_the_role_matrix(h: Harness) {
    let wang = h.agent("小王", "agent").await;
    let li = h.agent("小李", "agent").await;
    let boss = h.agent("老板", "admin").await;
    let c = h.customer_writes("u1", "m1").await;
    let take = format!("/api/v1/conversations/{c}/assignment/take");
    let put = format!("/api/v1/conversations/{c}/assignment");
    // An agent cannot hand a free conversation to someone else.
    let (status, body) = h
        .browse(&wang, "put", &put, Some(json!({"assignee_id": li.id})))
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    // Taking it: 200, the assignee is set, an activity line says who.
    let (status, body) = h.browse(&wang, "post", &take, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assignee_id"], wang.id);
    let (status, _) = h.browse(&wang, "post", &take, None).await;
    assert_eq!(status, 200, "taking one's own again is fine");
    let lines = h.activity(c).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["activity"], "assigned");
    assert_eq!(lines[0]["by"]["name"], "小王");
    assert_eq!(lines[0]["to"]["name"], "小王");
    // Integrations never see activity lines.
    let (_, public) = h
        .call("get", &format!("/api/v1/conversations/{c}/messages"), None)
        .await;
    assert!(
        public["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["direction"] != "activity")
    );
    // Another agent can neither take nor unassign it.
    let (status, body) = h.browse(&li, "post", &take, None).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = h
        .browse(&li, "put", &put, Some(json!({"assignee_id": null})))
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    // An admin may reassign; API tokens have no "me".
    let (status, body) = h
        .browse(&boss, "put", &put, Some(json!({"assignee_id": li.id})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assignee_id"], li.id);
    let lines = h.activity(c).await;
    assert_eq!(lines[1]["by"]["name"], "老板");
    assert_eq!(lines[1]["from"]["name"], "小王");
    assert_eq!(lines[1]["to"]["name"], "小李");
    let (status, body) = h.call("post", &take, None).await;
    assert_eq!((status, code(&body)), (403, "needs_user"));
    let agent_token =
        imhub_server::auth::issue_api_token(h.store.as_ref(), h.ws, "agent", Role::Agent)
            .await
            .unwrap();
    let (status, body) = h
        .call_as(
            &agent_token,
            "put",
            &put,
            Some(json!({"assignee_id": null})),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "needs_user"));
    // The assignee gives it up; an admin token unassigns and assigns anyone.
    let (status, body) = h
        .browse(&li, "put", &put, Some(json!({"assignee_id": null})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("assignee_id").is_none() || body["assignee_id"].is_null());
    let (status, body) = h
        .call("put", &put, Some(json!({"assignee_id": wang.id})))
        .await;
    assert_eq!(status, 200, "{body}");
    // The field is required: `{}` is not "unassign".
    let (status, body) = h.call("put", &put, Some(json!({}))).await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
    assert_eq!(h.conversation(c).await["assignee_id"], wang.id);
}

async fn assignees_of_another_workspace_or_disabled_are_refused(h: Harness) {
    let other = h.store.create_workspace("other").await.unwrap().id;
    let stranger = h
        .store
        .create_user(other, "x@other.cn", "外人", Role::Agent, "x")
        .await
        .unwrap()
        .id;
    let off = h.agent("停用", "agent").await;
    let (status, _) = h
        .call(
            "patch",
            &format!("/api/v1/users/{}", off.id),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let c = h.customer_writes("u1", "m1").await;
    let put = format!("/api/v1/conversations/{c}/assignment");
    let (status, body) = h
        .call("put", &put, Some(json!({"assignee_id": stranger.0})))
        .await;
    assert_eq!((status, code(&body)), (422, "unknown_agent"));
    let (status, body) = h
        .call("put", &put, Some(json!({"assignee_id": off.id})))
        .await;
    assert_eq!((status, code(&body)), (422, "agent_disabled"));
    // Another workspace's admin sees no such conversation or account.
    let other_admin =
        imhub_server::auth::issue_api_token(h.store.as_ref(), other, "o", Role::Admin)
            .await
            .unwrap();
    let (status, body) = h
        .call_as(
            &other_admin,
            "put",
            &put,
            Some(json!({"assignee_id": stranger.0})),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, _) = h
        .call_as(
            &other_admin,
            "get",
            &format!("/api/v1/accounts/{}/assignment", h.account),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .call_as(
            &other_admin,
            "put",
            &format!("/api/v1/users/{}/capacity", off.id),
            Some(json!({"capacity": 3})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = h
        .call(
            "put",
            &format!("/api/v1/accounts/{}/assignment", h.account),
            Some(json!({"auto_assign": true, "agent_ids": [stranger.0]})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "unknown_agent"));
    assert!(h.conversation(c).await.get("assignee_id").is_none());
}

async fn team_settings_capacity_and_auto_assignment_are_for_admins(h: Harness) {
    let wang = h.agent("小王", "agent").await;
    let account = format!("/api/v1/accounts/{}/assignment", h.account);
    let capacity = format!("/api/v1/users/{}/capacity", wang.id);
    for (method, path, body) in [
        ("get", "/api/v1/team/settings", None),
        (
            "put",
            "/api/v1/team/settings",
            Some(json!({"requeue_on_away": false, "offline_after_minutes": 3})),
        ),
        ("get", account.as_str(), None),
        (
            "put",
            account.as_str(),
            Some(json!({"auto_assign": true, "agent_ids": []})),
        ),
        ("put", capacity.as_str(), Some(json!({"capacity": 3}))),
    ] {
        let (status, got) = h.browse(&wang, method, path, body.clone()).await;
        assert_eq!((status, code(&got)), (403, "forbidden"), "{method} {path}");
        let (status, got) = h.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {got}");
    }
    let (_, settings) = h.call("get", "/api/v1/team/settings", None).await;
    assert_eq!(
        settings,
        json!({"requeue_on_away": false, "offline_after_minutes": 3})
    );
    let (_, auto) = h.call("get", &account, None).await;
    assert_eq!(auto, json!({"auto_assign": true, "agent_ids": []}));
    // Every role reads the team.
    let (status, team) = h.browse(&wang, "get", "/api/v1/team/agents", None).await;
    assert_eq!(status, 200);
    let me = team["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == wang.id)
        .unwrap()
        .clone();
    assert_eq!(me["capacity"], 3);
    assert_eq!(me["availability"], "offline");
    assert_eq!(me["open_assigned"], 0);
    assert_eq!(me["name"], "小王");
    // Bad values are refused.
    let (status, body) = h
        .call("put", &capacity, Some(json!({"capacity": 1001})))
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
    let (status, body) = h
        .call(
            "put",
            "/api/v1/team/settings",
            Some(json!({"requeue_on_away": true, "offline_after_minutes": 0})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
    let (status, body) = h
        .call(
            "put",
            "/api/v1/session/availability",
            Some(json!({"availability": "online"})),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "needs_user"));
    let (status, body) = h
        .browse(
            &wang,
            "put",
            "/api/v1/session/availability",
            Some(json!({"availability": "busy"})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
}

async fn set_availability(h: &Harness, agent: &Agent, availability: &str) -> Value {
    let (status, body) = h
        .browse(
            agent,
            "put",
            "/api/v1/session/availability",
            Some(json!({"availability": availability})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["availability"], availability);
    body
}

/// Waits until `stream` carries live events: on PostgreSQL they come
/// through LISTEN/NOTIFY, whose connection may still be starting when a
/// test begins on a loaded machine. A probe agent's availability is
/// toggled until the stream shows it; the probe ends offline.
async fn until_live(h: &Harness, stream: &mut reqwest::Response) {
    let probe = h.agent("探针", "agent").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    let mut online = true;
    while !seen.contains("agent.availability_changed") {
        assert!(
            Instant::now() < deadline,
            "the live stream never carried an event"
        );
        set_availability(h, &probe, if online { "online" } else { "offline" }).await;
        online = !online;
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    set_availability(h, &probe, "offline").await;
}

async fn auto_assignment_respects_capacity_and_availability_and_requeues_on_away(h: Harness) {
    let a = h.agent("甲", "agent").await;
    let b = h.agent("乙", "agent").await;
    let (status, _) = h
        .call(
            "put",
            &format!("/api/v1/users/{}/capacity", a.id),
            Some(json!({"capacity": 1})),
        )
        .await;
    assert_eq!(status, 200);
    h.auto_assign().await;
    set_availability(&h, &a, "online").await;
    let first = h.customer_writes("u1", "m1").await;
    let second = h.customer_writes("u2", "m2").await;
    assert_eq!(h.conversation(first).await["assignee_id"], a.id);
    assert!(
        h.conversation(second).await.get("assignee_id").is_none(),
        "a is full and b offline: it waits"
    );
    let (_, counts) = h
        .browse(&a, "get", "/api/v1/conversations/counts", None)
        .await;
    assert_eq!(
        counts,
        json!({"mine": 1, "unassigned": 1, "all": 2, "mentions": 0})
    );
    // b coming online takes the waiting one.
    set_availability(&h, &b, "online").await;
    assert_eq!(h.conversation(second).await["assignee_id"], b.id);
    // a goes away (小休): a's unanswered conversation returns to the queue
    // and b, with room, takes it.
    set_availability(&h, &a, "away").await;
    assert_eq!(h.conversation(first).await["assignee_id"], b.id);
    let lines = h.activity(first).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1]["to"], Value::Null, "back to the queue");
    assert_eq!(lines[2]["to"]["name"], "乙");
    let (_, team) = h.call("get", "/api/v1/team/agents", None).await;
    let of = |id: i64| {
        team["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(of(a.id)["availability"], "away");
    assert_eq!(of(b.id)["open_assigned"], 2);
    assert!(of(a.id)["last_seen_at"].is_string());
}

async fn presence_sweep_sets_agents_offline_unless_their_inbox_is_connected(h: Harness) {
    let gone = h.agent("走了", "agent").await;
    let here = h.agent("还在", "agent").await;
    set_availability(&h, &gone, "online").await;
    set_availability(&h, &here, "online").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // `here` keeps the inbox open: the live stream records them as seen.
    let mut stream = here
        .browser
        .get(format!("{}/api/v1/events", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("ready"));
    until_live(&h, &mut stream).await;
    let seen = |team: &Value, id: i64| {
        team["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .and_then(|x| x["last_seen_at"].as_str())
            .and_then(Timestamp::parse_rfc3339)
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let (gone_seen, here_seen) = loop {
        let (_, team) = h.call("get", "/api/v1/team/agents", None).await;
        let (g, s) = (seen(&team, gone.id), seen(&team, here.id));
        if s > g {
            break (g, s);
        }
        assert!(
            Instant::now() < deadline,
            "the stream never touched presence"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Just past five minutes after `gone` was last seen, before `here` is due.
    let sweep_at = gone_seen.plus_millis(5 * 60_000 + 1);
    assert!(here_seen.millis() >= sweep_at.millis() - 5 * 60_000);
    let changed = imhub_server::presence::sweep(&h.state, sweep_at)
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let (_, team) = h.call("get", "/api/v1/team/agents", None).await;
    let availability = |id: i64| {
        team["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["availability"]
            .clone()
    };
    assert_eq!(availability(gone.id), "offline");
    assert_eq!(availability(here.id), "online");
    // The connected inbox heard about it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = String::new();
    let gone_offline = format!("\"user_id\":{},\"state\":\"offline\"", gone.id);
    while !events.contains(&gone_offline) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no live event: {events}");
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(left, stream.chunk()).await {
            events.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn a_snooze_in_the_past_is_refused_and_a_snoozed_chat_comes_back_by_itself(h: Harness) {
    let wang = h.agent("小王", "agent").await;
    let c = h.customer_writes("u1", "m1").await;
    let path = format!("/api/v1/conversations/{c}");
    let past = Timestamp::now().plus_millis(-60_000).to_rfc3339();
    let (status, body) = h
        .browse(
            &wang,
            "patch",
            &path,
            Some(json!({"status": "snoozed", "snoozed_until": past})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "snooze_in_past"));
    let (status, body) = h
        .browse(&wang, "patch", &path, Some(json!({"status": "snoozed"})))
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
    let (status, body) = h
        .browse(
            &wang,
            "patch",
            &path,
            Some(json!({"status": "open", "snoozed_until": Timestamp::now().plus_millis(60_000).millis()})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_request"));
    // Snoozed for 1.5 s, given in milliseconds (the time alone implies it).
    let until = Timestamp::now().plus_millis(1_500);
    let (status, body) = h
        .browse(
            &wang,
            "patch",
            &path,
            Some(json!({"snoozed_until": until.millis()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "snoozed");
    assert_eq!(body["snoozed_until"], until.to_rfc3339());
    // Asleep: out of the default list, in the snoozed one.
    assert!(h.listed(None, "").await.is_empty());
    assert_eq!(h.listed(None, "status=snoozed").await, vec![c]);
    let lines = h.activity(c).await;
    assert_eq!(lines[0]["status"], "snoozed");
    assert_eq!(lines[0]["by"]["name"], "小王");
    // The timer engine wakes it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conv = h.conversation(c).await;
        if conv["status"] == "open" {
            assert!(conv.get("snoozed_until").is_none());
            break;
        }
        assert!(Instant::now() < deadline, "still {conv}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.listed(None, "").await, vec![c]);
    let lines = h.activity(c).await;
    assert_eq!(lines.last().unwrap()["reason"], "snooze_ended");
    // Resolved leaves the default list.
    let (status, _) = h
        .browse(&wang, "patch", &path, Some(json!({"status": "resolved"})))
        .await;
    assert_eq!(status, 200);
    assert!(h.listed(None, "").await.is_empty());
    assert_eq!(h.listed(None, "status=resolved").await, vec![c]);
}

async fn a_customer_message_reopens_resolved_and_snoozed_chats(h: Harness) {
    let c = h.customer_writes("u1", "m1").await;
    let path = format!("/api/v1/conversations/{c}");
    let (status, _) = h
        .call("patch", &path, Some(json!({"status": "resolved"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.customer_writes("u1", "m2").await, c);
    assert_eq!(h.conversation(c).await["status"], "open");
    let later = Timestamp::now().plus_millis(3_600_000).to_rfc3339();
    let (status, body) = h
        .call(
            "patch",
            &path,
            Some(json!({"status": "snoozed", "snoozed_until": later})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.customer_writes("u1", "m3").await, c);
    let conv = h.conversation(c).await;
    assert_eq!(conv["status"], "open");
    assert!(conv.get("snoozed_until").is_none());
    let reasons: Vec<Value> = h
        .activity(c)
        .await
        .iter()
        .map(|l| l["reason"].clone())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "customer_message").count(),
        2
    );
    // The snooze's timer is gone with it.
    assert_eq!(h.store.next_timer_due().await.unwrap(), None);
}

async fn chat_list_views_filters_and_counts(h: Harness) {
    let me = h.agent("我", "agent").await;
    let other = h.agent("他", "agent").await;
    let mut c = Vec::new();
    for i in 0..4 {
        c.push(h.customer_writes(&format!("u{i}"), &format!("m{i}")).await);
    }
    for (id, to) in [(c[0], me.id), (c[1], other.id)] {
        let (status, body) = h
            .call(
                "put",
                &format!("/api/v1/conversations/{id}/assignment"),
                Some(json!({"assignee_id": to})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(h.listed(Some(&me), "view=mine").await, vec![c[0]]);
    assert_eq!(
        h.listed(Some(&me), "view=unassigned").await,
        vec![c[2], c[3]]
    );
    assert_eq!(h.listed(Some(&me), "view=all").await, c);
    assert_eq!(
        h.listed(None, &format!("assignee_id={}", other.id)).await,
        vec![c[1]]
    );
    let (status, body) = h.call("get", "/api/v1/conversations?view=mine", None).await;
    assert_eq!((status, code(&body)), (403, "needs_user"));
    // Labels: repeated or comma-separated, any of them.
    let mut labels = Vec::new();
    for name in ["VIP", "退款"] {
        let (status, label) = h
            .call(
                "post",
                "/api/v1/labels",
                Some(json!({"name": name, "color": "#ff0000"})),
            )
            .await;
        assert_eq!(status, 201, "{label}");
        labels.push(label["id"].as_i64().unwrap());
    }
    for (conversation, on) in [(c[0], vec![labels[0]]), (c[2], vec![labels[1]])] {
        let (status, body) = h
            .call(
                "put",
                &format!("/api/v1/conversations/{conversation}/labels"),
                Some(json!({"label_ids": on})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        h.listed(None, &format!("label_id={}", labels[0])).await,
        vec![c[0]]
    );
    assert_eq!(
        h.listed(None, &format!("label_id={},{}", labels[0], labels[1]))
            .await,
        vec![c[0], c[2]]
    );
    assert_eq!(
        h.listed(
            None,
            &format!("label_id={}&label_id={}", labels[0], labels[1])
        )
        .await,
        vec![c[0], c[2]]
    );
    assert_eq!(
        h.listed(Some(&me), &format!("view=mine&label_id={}", labels[1]))
            .await,
        Vec::<i64>::new()
    );
    let (status, body) = h
        .call("get", "/api/v1/conversations?label_id=abc", None)
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_query"));
    let conv = h.conversation(c[0]).await;
    assert_eq!(conv["labels"], json!([labels[0]]));
    // Mentions: a note naming me.
    let (status, body) = h
        .browse(
            &other,
            "post",
            &format!("/api/v1/conversations/{}/notes", c[3]),
            Some(json!({"text": "@我 帮忙看看"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.listed(Some(&me), "view=mentions").await, vec![c[3]]);
    assert!(h.listed(Some(&other), "view=mentions").await.is_empty());
    let (status, counts) = h
        .browse(&me, "get", "/api/v1/conversations/counts", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        counts,
        json!({"mine": 1, "unassigned": 2, "all": 4, "mentions": 1})
    );
    // Resolving mine leaves the counts and the default view.
    let (status, _) = h
        .browse(
            &me,
            "patch",
            &format!("/api/v1/conversations/{}", c[0]),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, counts) = h
        .browse(&me, "get", "/api/v1/conversations/counts", None)
        .await;
    assert_eq!(counts["mine"], 0);
    assert_eq!(counts["all"], 3);
    assert!(h.listed(Some(&me), "view=mine").await.is_empty());
    assert_eq!(
        h.listed(Some(&me), "view=mine&status=resolved").await,
        vec![c[0]]
    );
}

async fn assignment_and_status_changes_reach_live_clients_and_webhooks(h: Harness) {
    let hook = h
        .store
        .create_webhook(
            h.ws,
            "https://example.com/hook",
            SECRET,
            &[
                "conversation.assigned".to_string(),
                "conversation.status_changed".to_string(),
            ],
        )
        .await
        .unwrap();
    let wang = h.agent("小王", "agent").await;
    let c = h.customer_writes("u1", "m1").await;
    let mut stream = h
        .http
        .get(format!("{}/api/v1/events", h.base))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("ready"));
    until_live(&h, &mut stream).await;
    let (status, _) = h
        .browse(
            &wang,
            "post",
            &format!("/api/v1/conversations/{c}/assignment/take"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .browse(
            &wang,
            "patch",
            &format!("/api/v1/conversations/{c}"),
            Some(json!({"status": "pending"})),
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = String::new();
    while !(events.contains("conversation.assigned")
        && events.contains("conversation.status_changed"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no live events: {events}");
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(left, stream.chunk()).await {
            events.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert!(
        events.contains(&format!("\"user_id\":{}", wang.id)),
        "{events}"
    );
    assert!(events.contains("\"state\":\"pending\""), "{events}");
    // The merchant's webhook got both, written in the same transactions.
    let deliveries = h
        .store
        .list_webhook_deliveries(h.ws, hook.id, 50)
        .await
        .unwrap();
    let assigned = deliveries
        .iter()
        .find(|d| d.event_type == "conversation.assigned")
        .expect("a conversation.assigned delivery");
    assert_eq!(assigned.payload["conversation_id"], c);
    assert_eq!(assigned.payload["assignee_id"], wang.id);
    assert_eq!(assigned.payload["assigned_by"], wang.id);
    let status = deliveries
        .iter()
        .find(|d| d.event_type == "conversation.status_changed")
        .expect("a conversation.status_changed delivery");
    assert_eq!(status.payload["status"], "pending");
    assert!(
        deliveries.iter().all(|d| d.event_type != "message.created"),
        "only the subscribed kinds"
    );
}

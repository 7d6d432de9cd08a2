//! Leads through the HTTP API (issue 14), on SQLite and PostgreSQL: signed
//! Douyin pushes on imhub's real webhook route (an enter-chat event with
//! its ad context, then a submitted lead card) make a lead; phones are
//! masked for agents in lists and full in the lead, the contact panel and
//! for admins; bad input is refused with its codes; merge proposals are
//! accepted once; the CSV export (admins only) has a BOM and quotes its
//! cells against formula injection; the merchant's CRM receives
//! `lead.created` / `lead.updated` with the lead.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use imhub_core::Role;
use imhub_douyin::webhook::signature;
use imhub_server::Config;
use imhub_store::{SqlStore, Store, StoreOptions};
use serde_json::{Value, json};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::start(imhub_store::testing::sqlite_database()).await).await
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
    a_douyin_lead_card_push_makes_a_lead_masked_for_agents_and_full_in_the_lead,
    bad_input_is_refused_with_stable_codes,
    the_csv_export_is_for_admins_with_a_bom_and_safe_cells,
    a_merge_proposal_is_accepted_once_and_keeps_both_contacts,
    lead_events_reach_the_merchants_webhook_with_the_lead,
);

const KEY: &str = "awx_leads";
const SECRET: &str = "douyin-client-secret";
const SHOP: &str = "b_open_shop";

/// Every body the merchant's CRM received.
#[derive(Clone, Default)]
struct Crm {
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(r): State<Crm>, body: Bytes) -> StatusCode {
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
    agent: String,
    ws: imhub_core::WorkspaceId,
    channel: i64,
    crm: Crm,
    crm_url: String,
}

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Harness {
    async fn start(url: String) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
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
        let agent = imhub_server::auth::issue_api_token(store.as_ref(), ws, "g", Role::Agent)
            .await
            .unwrap();
        let crm = Crm::default();
        let app = Router::new()
            .route("/crm", post(receive))
            .with_state(crm.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let crm_url = format!("http://{}/crm", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut h = Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            admin,
            agent,
            ws,
            channel: 0,
            crm,
            crm_url,
        };
        let (status, channel) = h
            .admin(
                "POST",
                "/api/v1/channels",
                Some(json!({"platform": "douyin", "name": "抖音企业号",
                    "config": {"client_key": KEY, "client_secret": SECRET}})),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        h.channel = channel["id"].as_i64().unwrap();
        h
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

    async fn agent(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, &self.agent, body).await
    }

    /// A signed Douyin push on imhub's webhook route, as the platform
    /// sends it (content a JSON string).
    async fn douyin(&self, msg_id: &str, event: &str, from: &str, content: Value) -> u16 {
        let body = json!({"event": event, "client_key": KEY, "from_user_id": from,
            "to_user_id": SHOP, "content": content.to_string(), "log_id": "L"})
        .to_string();
        let res = self
            .http
            .post(format!("{}/webhooks/douyin/{}", self.base, self.channel))
            .header("x-douyin-signature", signature(SECRET, body.as_bytes()))
            .header("msg-id", msg_id)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    }

    async fn says(&self, msg_id: &str, customer: &str, message_type: &str, extra: Value) -> u16 {
        let mut content = json!({
            "conversation_short_id": format!("@conv-{customer}"),
            "server_message_id": format!("@{msg_id}"),
            "conversation_type": 1,
            "message_type": message_type,
            "create_time": imhub_core::Timestamp::now().millis(),
            "user_infos": [{"open_id": customer, "nick_name": format!("客户{customer}")}],
        });
        if let (Some(c), Some(e)) = (content.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        self.douyin(msg_id, "im_receive_msg", customer, content)
            .await
    }

    async fn text(&self, msg_id: &str, customer: &str, text: &str) {
        let status = self
            .says(msg_id, customer, "text", json!({"text": text}))
            .await;
        assert_eq!(status, 200);
    }

    async fn leads(&self, token: &str, query: &str) -> Vec<Value> {
        let (status, page) = self
            .call("GET", &format!("/api/v1/leads{query}"), token, None)
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

async fn a_douyin_lead_card_push_makes_a_lead_masked_for_agents_and_full_in_the_lead(h: Harness) {
    let enter = json!({"conversation_short_id": "@conv-c1", "server_message_id": "@e1",
        "conversation_type": 1, "scene_type": 3, "objectId": "v77",
        "ad_info": json!({"ad_id": 1234, "ad_name": "双十一投放"}).to_string(),
        "create_time": imhub_core::Timestamp::now().millis(),
        "user_infos": [{"open_id": "c1", "nick_name": "小王"}]});
    assert_eq!(
        h.douyin("enter-1", "im_enter_direct_msg", "c1", enter)
            .await,
        200
    );
    let card = json!({"card_id": "@card", "card_status": 2, "card_data": [
        {"label": "姓名", "value": "王女士"}, {"label": "手机号", "value": "13800138000"},
        {"label": "城市", "value": "杭州"}, {"label": "意向车型", "value": "SUV"}]});
    assert_eq!(
        h.says("m1", "c1", "retain_consult_card", card.clone())
            .await,
        200
    );
    // The platform delivers it again: nothing changes.
    assert_eq!(h.says("m1", "c1", "retain_consult_card", card).await, 200);

    let admin_list = h.leads(&h.admin, "").await;
    assert_eq!(admin_list.len(), 1, "{admin_list:?}");
    let lead = &admin_list[0];
    assert_eq!(lead["name"], "王女士");
    assert_eq!(lead["phones"], json!(["13800138000"]));
    assert_eq!(lead["city"], "杭州");
    assert_eq!(
        lead["fields"],
        json!([{"label": "意向车型", "value": "SUV"}])
    );
    assert_eq!(lead["stage"], "new");
    assert_eq!(lead["source"]["platform"], "douyin");
    assert_eq!(
        lead["source"]["context"],
        json!({"scene_type": 3, "object_id": "v77", "ad_info": {"ad_id": 1234, "ad_name": "双十一投放"}})
    );
    let id = lead["id"].as_i64().unwrap();
    let agent_list = h.leads(&h.agent, "").await;
    assert_eq!(agent_list[0]["phones"], json!(["138****8000"]));
    // The lead itself is full for agents too.
    let (status, one) = h.agent("GET", &format!("/api/v1/leads/{id}"), None).await;
    assert_eq!((status, &one["phones"]), (200, &json!(["13800138000"])));
    let (_, history) = h
        .agent("GET", &format!("/api/v1/leads/{id}/history"), None)
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["items"][0]["actor"], "capture");
    // The message itself is a lead card with its answers.
    let conversation = lead["source"]["conversation_id"].as_i64().unwrap();
    let (_, messages) = h
        .admin(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
    assert_eq!(messages["items"][0]["content"]["type"], "lead_card");
    assert_eq!(messages["items"][0]["content"]["status"], 2);
    // The contact panel shows the lead; an agent edits it from there.
    let (status, panel) = h
        .agent(
            "GET",
            &format!("/api/v1/conversations/{conversation}/contact"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{panel}");
    assert_eq!(panel["lead"]["id"], id);
    assert_eq!(panel["lead"]["phones"], json!(["13800138000"]));
    let (status, edited) = h
        .agent(
            "PATCH",
            &format!("/api/v1/leads/{id}"),
            Some(json!({"stage": "following", "notes": "周末回电"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["stage"], "following");
    let (_, panel) = h
        .agent(
            "GET",
            &format!("/api/v1/contacts/{}", lead["contact_id"]),
            None,
        )
        .await;
    assert_eq!(panel["lead"]["notes"], "周末回电");
    // Filters.
    assert_eq!(
        h.leads(&h.agent, "?stage=following&has_phone=true")
            .await
            .len(),
        1
    );
    assert!(h.leads(&h.agent, "?stage=new").await.is_empty());
    assert_eq!(h.leads(&h.agent, "?q=138%200013").await.len(), 1);
    assert!(h.leads(&h.agent, "?platform=tencent").await.is_empty());
}

async fn bad_input_is_refused_with_stable_codes(h: Harness) {
    h.text("m1", "c1", "电话13800138000").await;
    let id = h.leads(&h.admin, "").await[0]["id"].as_i64().unwrap();
    let other_ws = h.store.create_workspace("other").await.unwrap().id;
    let stranger = h
        .store
        .create_user(other_ws, "s@x.cn", "外人", Role::Agent, "x")
        .await
        .unwrap();
    let foreign_token =
        imhub_server::auth::issue_api_token(h.store.as_ref(), other_ws, "o", Role::Admin)
            .await
            .unwrap();
    let code =
        |(status, body): (u16, Value)| (status, body["code"].as_str().unwrap_or("").to_string());
    let path = format!("/api/v1/leads/{id}");
    assert_eq!(
        code(h.agent("PATCH", &path, Some(json!({"stage": "won"}))).await),
        (422, "invalid_stage".into())
    );
    assert_eq!(
        code(h.agent("GET", "/api/v1/leads?stage=won", None).await),
        (422, "invalid_stage".into())
    );
    assert_eq!(
        code(
            h.agent(
                "POST",
                "/api/v1/leads/bulk",
                Some(json!({"lead_ids": [id], "stage": "won"}))
            )
            .await
        ),
        (422, "invalid_stage".into())
    );
    assert_eq!(
        code(
            h.agent("PATCH", &path, Some(json!({"owner_id": stranger.id.0})))
                .await
        ),
        (422, "unknown_agent".into())
    );
    assert_eq!(
        code(
            h.agent("PATCH", &path, Some(json!({"phones": ["12345"]})))
                .await
        ),
        (422, "invalid_phone".into())
    );
    for (method, p, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"stage": "invalid"}))),
        ("GET", format!("{path}/history"), None),
        (
            "POST",
            "/api/v1/leads/bulk".to_string(),
            Some(json!({"lead_ids": [id], "stage": "invalid"})),
        ),
    ] {
        assert_eq!(
            code(h.call(method, &p, &foreign_token, body).await),
            (404, "not_found".into()),
            "{method} {p}"
        );
    }
    // The lead is unchanged by all of that.
    let (_, lead) = h.admin("GET", &path, None).await;
    assert_eq!(lead["stage"], "new");
    // Admin-only routes.
    assert_eq!(
        code(h.agent("GET", "/api/v1/leads/export.csv", None).await),
        (403, "forbidden".into())
    );
    assert_eq!(
        code(
            h.agent(
                "PUT",
                "/api/v1/leads/settings",
                Some(json!({"own_numbers": []}))
            )
            .await
        ),
        (403, "forbidden".into())
    );
    assert_eq!(
        code(
            h.admin(
                "PUT",
                "/api/v1/leads/settings",
                Some(json!({"own_numbers": ["400-800-8888"]}))
            )
            .await
        ),
        (422, "invalid_phone".into())
    );
    let (status, settings) = h
        .admin(
            "PUT",
            "/api/v1/leads/settings",
            Some(json!({"own_numbers": ["+86 139 0000 1111"]})),
        )
        .await;
    assert_eq!(
        (status, &settings["own_numbers"]),
        (200, &json!(["13900001111"]))
    );
    // From now on the merchant's number is nobody's lead.
    h.text("m2", "c2", "是打 139 0000 1111 吗").await;
    assert_eq!(h.leads(&h.admin, "").await.len(), 1);
    assert_eq!(
        code(
            h.agent("GET", "/api/v1/leads/merge-proposals?status=maybe", None)
                .await
        ),
        (400, "invalid_query".into())
    );
}

async fn the_csv_export_is_for_admins_with_a_bom_and_safe_cells(h: Harness) {
    h.text("m1", "c1", "电话13800138000").await;
    let id = h.leads(&h.admin, "").await[0]["id"].as_i64().unwrap();
    let (status, _) = h
        .admin(
            "PATCH",
            &format!("/api/v1/leads/{id}"),
            Some(
                json!({"name": "=HYPERLINK(\"http://evil\")", "notes": "要发票, \"加急\"\n第二行",
                "city": "@杭州"}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let res = h
        .http
        .get(format!("{}/api/v1/leads/export.csv", h.base))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let (header, rest) = text.split_once("\r\n").unwrap();
    assert!(
        header.starts_with("ID,姓名,手机号,微信,城市,阶段"),
        "{header}"
    );
    assert!(rest.starts_with(&format!("{id},")), "{rest}");
    assert!(
        rest.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{rest}"
    );
    assert!(
        rest.contains("13800138000"),
        "admins export phones in full: {rest}"
    );
    assert!(rest.contains(",'@杭州,"), "{rest}");
    assert!(rest.contains("\"要发票, \"\"加急\"\"\n第二行\""), "{rest}");
    assert!(
        rest.contains(",跟进中,") || rest.contains(",新线索,"),
        "{rest}"
    );
    // The list's filters apply.
    let (status, body) = h
        .admin("GET", "/api/v1/leads/export.csv?stage=converted", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_str()
            .unwrap()
            .trim_start_matches('\u{feff}')
            .lines()
            .count(),
        1
    );
}

async fn a_merge_proposal_is_accepted_once_and_keeps_both_contacts(h: Harness) {
    h.text("m1", "c1", "电话13800138000").await;
    h.text("m2", "c2", "我是王女士 13800138000 微信 wang_88888")
        .await;
    assert_eq!(h.leads(&h.admin, "").await.len(), 2);
    let (status, proposals) = h.agent("GET", "/api/v1/leads/merge-proposals", None).await;
    assert_eq!(status, 200, "{proposals}");
    let items = proposals["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["lead"]["phones"], json!(["138****8000"]));
    assert_eq!(
        items[0]["phone"], "138****8000",
        "the shared phone is masked too"
    );
    assert!(
        !proposals.to_string().contains("13800138000"),
        "{proposals}"
    );
    let pid = items[0]["id"].as_i64().unwrap();
    let (status, accepted) = h
        .agent(
            "POST",
            &format!("/api/v1/leads/merge-proposals/{pid}/accept"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    let (status, again) = h
        .agent(
            "POST",
            &format!("/api/v1/leads/merge-proposals/{pid}/reject"),
            None,
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let leads = h.leads(&h.admin, "").await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(leads[0]["wechat_id"], "wang_88888");
    let (_, pending) = h.agent("GET", "/api/v1/leads/merge-proposals", None).await;
    assert!(pending["items"].as_array().unwrap().is_empty());
}

/// Reads the event stream until `want` shows up (5 s at most).
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

async fn lead_events_reach_the_merchants_webhook_with_the_lead(h: Harness) {
    let (status, hook) = h
        .admin(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": h.crm_url, "secret": "a-very-secret-secret",
                "event_types": ["lead.created", "lead.updated"]})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    // The inbox hears of it live too.
    let mut stream = h
        .http
        .get(format!("{}/api/v1/events", h.base))
        .bearer_auth(&h.agent)
        .send()
        .await
        .unwrap();
    sse_until(&mut stream, "ready").await;
    h.text("m1", "c1", "电话13800138000").await;
    let id = h.leads(&h.admin, "").await[0]["id"].as_i64().unwrap();
    let seen = sse_until(&mut stream, "event: lead.created").await;
    let seen = if seen.contains(&format!("\"lead_id\":{id}")) {
        seen
    } else {
        sse_until(&mut stream, &format!("\"lead_id\":{id}")).await
    };
    assert!(seen.contains("lead.created"), "{seen}");
    let (status, _) = h
        .agent(
            "POST",
            "/api/v1/leads/bulk",
            Some(json!({"lead_ids": [id], "stage": "converted"})),
        )
        .await;
    assert_eq!(status, 200);
    sse_until(&mut stream, "event: lead.updated").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let bodies = loop {
        let bodies = h.crm.bodies.lock().unwrap().clone();
        if bodies.len() >= 2 {
            break bodies;
        }
        assert!(Instant::now() < deadline, "CRM got {bodies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let created = bodies.iter().find(|b| b["type"] == "lead.created").unwrap();
    assert_eq!(created["lead_id"], id);
    assert_eq!(created["lead"]["phones"], json!(["13800138000"]));
    let updated = bodies.iter().find(|b| b["type"] == "lead.updated").unwrap();
    assert_eq!(updated["lead"]["stage"], "converted");
    assert!(
        h.store
            .get_lead(h.ws, imhub_core::leads::LeadId(id))
            .await
            .is_ok()
    );
}

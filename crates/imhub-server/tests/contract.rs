//! The API's contract, read from the served OpenAPI spec: every route keeps
//! one workspace's data from another's admin and admin routes from agents,
//! and the spec says what the code does (security, problem documents, JSON
//! content types, the SSE stream). The probe is generated from the spec, so
//! a route added later is probed without editing this file.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use imhub_core::Role;
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Map, Value, json};

const SECRET: &str = "contract-secret-0123456789";
/// The server's operator token: only the operator routes take it.
const OPERATOR: &str = "contract-operator-token-0123456789";
/// Put into every name of the first workspace: a list that shows it to the
/// second workspace leaks.
const MARKER: &str = "WSA-PRIVATE-MARKER";

/// Routes callable without credentials, and why that is right.
const PUBLIC: &[(&str, &str, &str)] = &[
    (
        "post",
        "/api/v1/session",
        "the login itself: email and password are the credential",
    ),
    (
        "get",
        "/api/v1/douyin/oauth/callback",
        "Douyin redirects the merchant's browser here; the one-time `state` is the credential",
    ),
];

/// The first workspace and everything of it a route can name.
struct WorkspaceA {
    base: String,
    http: reqwest::Client,
    admin: String,
    agent: String,
    other_admin: String,
    ids: BTreeMap<&'static str, i64>,
}

async fn start(url: String) -> WorkspaceA {
    let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_body_bytes: 64 * 1024,
        operator_token: Some(imhub_server::config::SecretString(OPERATOR.into())),
        ..Config::default()
    };
    let running = imhub_server::start(config, store.clone(), std::future::pending())
        .await
        .unwrap();
    let ws = store.create_workspace(MARKER).await.unwrap().id;
    let other = store.create_workspace("other").await.unwrap().id;
    let token = |ws, role| imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", role);
    let mut a = WorkspaceA {
        base: format!("http://{}", running.addr),
        http: reqwest::Client::new(),
        admin: token(ws, Role::Admin).await.unwrap(),
        agent: token(ws, Role::Agent).await.unwrap(),
        other_admin: token(other, Role::Admin).await.unwrap(),
        ids: BTreeMap::new(),
    };
    let (status, channel) = a
        .call(
            "post",
            "/api/v1/channels",
            &a.admin,
            Some(Body::Json(
                json!({"platform": "custom", "name": MARKER, "config": {"secret": SECRET}}),
            )),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    let channel = channel["id"].as_i64().unwrap();
    let (status, account) = a
        .call(
            "post",
            "/api/v1/accounts",
            &a.admin,
            Some(Body::Json(
                json!({"channel_id": channel, "external_id": "shop-1", "name": MARKER}),
            )),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let push = json!({
        "event_id": "e1", "account": {"id": "shop-1"},
        "contact": {"id": "u1", "nickname": MARKER},
        "message": {"id": "m1", "content": {"type": "text", "text": MARKER}},
    })
    .to_string();
    let res = a
        .http
        .post(format!("{}/webhooks/custom/{channel}", a.base))
        .header("x-imhub-signature", sign(SECRET, push.as_bytes()))
        .header("content-type", "application/json")
        .body(push)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, list) = a.call("get", "/api/v1/conversations", &a.admin, None).await;
    let conversation = list["items"][0]["id"].as_i64().unwrap();
    let (_, page) = a
        .call(
            "get",
            &format!("/api/v1/conversations/{conversation}/messages"),
            &a.admin,
            None,
        )
        .await;
    let message = page["items"][0]["id"].as_i64().unwrap();
    let webhook = store
        .create_webhook(ws, "https://example.com/hook", SECRET, &[])
        .await
        .unwrap()
        .id
        .0;
    let (status, user) = a
        .call(
            "post",
            "/api/v1/users",
            &a.admin,
            Some(Body::Json(
                json!({"email": "ann@a.example", "name": MARKER, "password": "pa55word!"}),
            )),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (_, tokens) = a.call("get", "/api/v1/tokens", &a.admin, None).await;
    let token_id = tokens["items"][0]["id"].as_i64().unwrap_or(1);
    let label = store
        .create_label(ws, MARKER, "#112233")
        .await
        .unwrap()
        .id
        .0;
    let reply = store
        .create_quick_reply(
            ws,
            imhub_store::NewQuickReply {
                owner: None,
                folder: MARKER.into(),
                title: MARKER.into(),
                shortcut: None,
                text: MARKER.into(),
                content: None,
            },
        )
        .await
        .unwrap()
        .id
        .0;
    let contact = store
        .get_conversation(ws, imhub_core::ConversationId(conversation))
        .await
        .unwrap()
        .contact_id
        .unwrap()
        .0;
    // Alerts (K3): a robot whose host does not resolve (its test answers
    // 200 with `ok` false).
    let alert_target = store
        .create_alert_target(
            ws,
            imhub_store::alerts::NewAlertTarget {
                kind: imhub_core::alerts::TargetKind::Wecom,
                name: MARKER.into(),
                url: "https://robot.invalid/cgi-bin/webhook/send?key=k".into(),
                secret: None,
                format: Default::default(),
                rules: Vec::new(),
                enabled: true,
            },
            imhub_core::Timestamp::now(),
        )
        .await
        .unwrap()
        .id;
    // Two customers leave the same phone: two leads and a merge proposal.
    for (event, contact) in [("e2", "u2"), ("e3", "u3")] {
        let push = json!({
            "event_id": event, "account": {"id": "shop-1"},
            "contact": {"id": contact, "nickname": MARKER},
            "message": {"id": event, "content": {"type": "text", "text": format!("{MARKER} 电话13800138000")}},
        })
        .to_string();
        let res = a
            .http
            .post(format!("{}/webhooks/custom/{channel}", a.base))
            .header("x-imhub-signature", sign(SECRET, push.as_bytes()))
            .header("content-type", "application/json")
            .body(push)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let (_, leads) = a.call("get", "/api/v1/leads", &a.admin, None).await;
    let lead = leads["items"][0]["id"]
        .as_i64()
        .expect("a lead from the phone");
    let (_, proposals) = a
        .call("get", "/api/v1/leads/merge-proposals", &a.admin, None)
        .await;
    let proposal = proposals["items"][0]["id"]
        .as_i64()
        .expect("a merge proposal for the shared phone");
    let (status, rule) = a
        .call(
            "post",
            "/api/v1/automation/rules",
            &a.admin,
            Some(Body::Json(json!({
                "name": MARKER, "enabled": false,
                "trigger": {"type": "keywords", "match": "contains_any", "keywords": [MARKER]},
                "actions": [{"type": "reply", "text": MARKER}],
            }))),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    // The console (C): a kept push (an account the custom channel does not
    // know) and a webhook delivery (the pushes above made events).
    let push = json!({
        "event_id": "e-kept", "account": {"id": "no-such-shop"},
        "contact": {"id": "u9", "nickname": MARKER},
        "message": {"id": "m-kept", "content": {"type": "text", "text": MARKER}},
    })
    .to_string();
    let res = a
        .http
        .post(format!("{}/webhooks/custom/{channel}", a.base))
        .header("x-imhub-signature", sign(SECRET, push.as_bytes()))
        .header("content-type", "application/json")
        .body(push)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let kept = store
        .list_kept_pushes(ws, None, None, 10)
        .await
        .unwrap()
        .first()
        .expect("a kept push")
        .id;
    let delivery = store
        .list_webhook_deliveries(ws, imhub_core::WebhookId(webhook), 10)
        .await
        .unwrap()
        .first()
        .expect("a webhook delivery")
        .id;
    a.ids = BTreeMap::from([
        ("kept-pushes", kept),
        ("deliveries", delivery),
        ("leads", lead),
        ("merge-proposals", proposal),
        ("rules", rule["id"].as_i64().unwrap()),
        ("alert-targets", alert_target),
        ("labels", label),
        ("quick-replies", reply),
        ("contacts", contact),
        ("channels", channel),
        ("accounts", account["id"].as_i64().unwrap()),
        ("conversations", conversation),
        ("messages", message),
        ("webhooks", webhook),
        ("users", user["id"].as_i64().unwrap()),
        ("tokens", token_id),
        // The operator routes name workspaces.
        ("workspaces", ws.0),
    ]);
    a
}

impl WorkspaceA {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Body>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        match body {
            Some(Body::Json(v)) => req = req.json(&v),
            Some(Body::Bytes(t, bytes)) => req = req.header("content-type", t).body(bytes),
            None => {}
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        if res
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
        {
            // A live stream never ends: its status is the answer.
            return (status, Value::Null);
        }
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The id of the first workspace's resource a path segment names; the
    /// resource is the segment before the parameter (`/channels/{id}`).
    fn id_for(&self, path: &str, param: &str) -> i64 {
        let before = path
            .split(&format!("/{{{param}}}"))
            .next()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_default();
        *self.ids.get(before).unwrap_or_else(|| {
            panic!("{path}: no id of workspace A for `{{{param}}}` after `{before}`; add one to `start`")
        })
    }
}

/// Resolves a `$ref` to its schema.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// A small value the schema accepts, with integer `*_id` fields pointing at
/// the first workspace's resources.
fn example(doc: &Value, schema: &Value, name: &str, ids: &BTreeMap<&'static str, i64>) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema[key].as_array().and_then(|v| v.first()) {
            return example(doc, first, name, ids);
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        let mut out = Map::new();
        for part in all {
            if let Value::Object(o) = example(doc, part, name, ids) {
                out.extend(o);
            }
        }
        return Value::Object(out);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["object"],
    };
    let ty = types
        .iter()
        .find(|t| **t != "null")
        .copied()
        .unwrap_or("null");
    match ty {
        "object" => {
            let mut out = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema["properties"].as_object() {
                for (key, prop) in props {
                    if required.contains(&key.as_str()) {
                        out.insert(key.clone(), example(doc, prop, key, ids));
                    }
                }
            }
            Value::Object(out)
        }
        "integer" | "number" => {
            let resource = format!("{}s", name.trim_end_matches("_id"));
            match ids.get(resource.as_str()) {
                Some(id) if name.ends_with("_id") => json!(id),
                _ => schema["minimum"]
                    .as_i64()
                    .map_or(json!(1), |m| json!(m.max(1))),
            }
        }
        "boolean" => json!(false),
        "array" => {
            let min = schema["minItems"].as_u64().unwrap_or(0);
            Value::Array(
                (0..min.max(1))
                    .map(|_| example(doc, &schema["items"], name, ids))
                    .collect(),
            )
        }
        "string" => {
            let min = schema["minLength"].as_u64().unwrap_or(1).max(1) as usize;
            json!("x".repeat(min.max(8)))
        }
        _ => Value::Null,
    }
}

/// One call the probe makes.
struct Probe {
    method: String,
    /// The path as the spec writes it (`/channels/{id}`).
    template: String,
    path: String,
    /// The path or body names a resource of the first workspace.
    names_a: bool,
    admin_only: bool,
    /// Authenticated by the operator token only (`/api/v1/operator/...`):
    /// every workspace credential is a 401 there.
    operator: bool,
    body: Option<Body>,
}

/// A request body: JSON, or bytes of a content type.
#[derive(Clone)]
enum Body {
    Json(Value),
    Bytes(String, Vec<u8>),
}

fn probes(doc: &Value, a: &WorkspaceA) -> Vec<Probe> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if PUBLIC.iter().any(|(m, p, _)| m == method && p == template) {
                assert_eq!(
                    op["security"],
                    json!([{}]),
                    "{method} {template} is listed as public but needs credentials"
                );
                continue;
            }
            assert_ne!(
                op["security"],
                json!([{}]),
                "{method} {template} is public: list it in PUBLIC with the reason"
            );
            let mut path = template.clone();
            let mut query = Vec::new();
            let mut names_a = false;
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let schema = resolve(doc, &p["schema"]);
                let in_path = p["in"] == "path";
                if !in_path && p["required"] != true {
                    continue;
                }
                let value = if in_path && schema["type"] == "integer" {
                    names_a = true;
                    a.id_for(template, name).to_string()
                } else {
                    match example(doc, schema, name, &a.ids) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }
                };
                match p["in"].as_str() {
                    Some("path") => path = path.replace(&format!("{{{name}}}"), &value),
                    Some("query") if p["required"] == true => query.push(format!("{name}={value}")),
                    _ => {}
                }
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let content = &op["requestBody"]["content"];
            let body = if content["application/json"].is_object() {
                Some(Body::Json(example(
                    doc,
                    &content["application/json"]["schema"],
                    "",
                    &a.ids,
                )))
            } else {
                // A file upload: a few bytes of its first declared type.
                content
                    .as_object()
                    .and_then(|c| c.keys().next())
                    .map(|t| Body::Bytes(t.clone(), b"\x89PNG\r\n\x1a\n".to_vec()))
            };
            if let Some(Body::Json(b)) = &body {
                let text = b.to_string();
                if a.ids.iter().any(|(k, id)| {
                    text.contains(&format!("\"{}_id\":{id}", k.trim_end_matches('s')))
                }) {
                    names_a = true;
                }
            }
            out.push(Probe {
                method: method.clone(),
                template: template.clone(),
                path,
                names_a,
                admin_only: op["x-imhub-role"] == "admin",
                operator: op["security"] == json!([{"operator_token": []}]),
                body,
            });
        }
    }
    out
}

/// Why an answer breaks the spec: an error status the route does not list,
/// or a problem `code` the route does not list for that status.
fn undocumented(doc: &Value, p: &Probe, status: u16, body: &Value) -> Option<String> {
    let response = &doc["paths"][&p.template][&p.method]["responses"][status.to_string()];
    if response.is_null() {
        return Some(format!("status {status} is not documented"));
    }
    if status < 400 {
        return None;
    }
    let codes = &response["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
        ["code"]["enum"];
    let code = &body["code"];
    if codes.as_array().is_some_and(|c| c.contains(code)) {
        None
    } else {
        Some(format!("code {code} is not among {status}'s {codes}"))
    }
}

async fn probe_every_route(a: WorkspaceA) {
    let (status, doc) = a.call("get", "/api/v1/openapi.json", "", None).await;
    assert_eq!(status, 200);
    let probes = probes(&doc, &a);
    assert!(probes.len() > 40, "only {} routes probed", probes.len());
    let mut wrong = Vec::new();
    let check = |wrong: &mut Vec<String>, who: &str, p: &Probe, status: u16, body: &Value| {
        if let Some(why) = undocumented(&doc, p, status, body) {
            wrong.push(format!("{who}: {} {} -> {why}: {body}", p.method, p.path));
        }
    };
    // The second workspace's admin first: it must change nothing of A's.
    for p in &probes {
        let (status, body) = a
            .call(&p.method, &p.path, &a.other_admin, p.body.clone())
            .await;
        check(&mut wrong, "other workspace's admin", p, status, &body);
        let text = body.to_string();
        let ok = if p.operator {
            status == 401 && body["code"] == "unauthorized"
        } else if p.names_a {
            matches!(status, 403 | 404)
        } else {
            status < 500 && !text.contains(MARKER)
        };
        if !ok {
            wrong.push(format!(
                "other workspace's admin: {} {} -> {status} {text}",
                p.method, p.path
            ));
        }
    }
    for p in &probes {
        let (status, body) = a.call(&p.method, &p.path, &a.agent, p.body.clone()).await;
        check(&mut wrong, "agent", p, status, &body);
        let ok = if p.operator {
            status == 401 && body["code"] == "unauthorized"
        } else if p.admin_only {
            status == 403 && body["code"] == "forbidden"
        } else {
            status < 500 && body["code"] != "forbidden"
        };
        if !ok {
            wrong.push(format!(
                "agent ({}): {} {} -> {status} {body}",
                if p.admin_only {
                    "admin only"
                } else {
                    "agents allowed"
                },
                p.method,
                p.path
            ));
        }
    }
    // Last, A's own admin, deletions at the end (one revokes this token):
    // whatever each route answers its owner is in the spec, codes included.
    let mut own: Vec<&Probe> = probes.iter().collect();
    own.sort_by_key(|p| p.method == "delete");
    for p in own {
        let (status, body) = a.call(&p.method, &p.path, &a.admin, p.body.clone()).await;
        check(&mut wrong, "own admin", p, status, &body);
        if status >= 500 || (p.operator && status != 401) {
            wrong.push(format!(
                "own admin: {} {} -> {status} {body}",
                p.method, p.path
            ));
        }
    }
    // The operator last (it suspends A's workspace): whatever the operator
    // routes answer their caller is in the spec; the operator token opens
    // no workspace route.
    let mut operator: Vec<&Probe> = probes.iter().filter(|p| p.operator).collect();
    assert!(operator.len() >= 10, "the operator routes are in the spec");
    operator.sort_by_key(|p| p.method == "delete");
    for p in operator {
        let (status, body) = a.call(&p.method, &p.path, OPERATOR, p.body.clone()).await;
        check(&mut wrong, "operator", p, status, &body);
        if status >= 500 || status == 401 {
            wrong.push(format!(
                "operator: {} {} -> {status} {body}",
                p.method, p.path
            ));
        }
    }
    for p in probes.iter().filter(|p| !p.operator).take(20) {
        let (status, _) = a.call(&p.method, &p.path, OPERATOR, p.body.clone()).await;
        if status != 401 {
            wrong.push(format!(
                "operator token on {} {} -> {status}",
                p.method, p.path
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_keeps_workspaces_and_roles_apart_on_sqlite() {
    probe_every_route(start(testing::sqlite_database()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_keeps_workspaces_and_roles_apart_on_postgres() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    probe_every_route(start(url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_declares_security_problems_and_parameters() {
    let a = start(testing::sqlite_database()).await;
    let (_, doc) = a.call("get", "/api/v1/openapi.json", "", None).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "imhub_session");
    assert_eq!(schemes["operator_token"]["scheme"], "bearer");
    let operator = &doc["paths"]["/api/v1/operator/workspaces"]["get"];
    assert_eq!(operator["security"], json!([{"operator_token": []}]));
    let conversations = &doc["paths"]["/api/v1/conversations"]["get"]["responses"]["403"];
    assert!(
        conversations["description"]
            .as_str()
            .is_some_and(|d| d.contains("`workspace_suspended`")),
        "workspace routes list 403 workspace_suspended"
    );
    let problem = &doc["components"]["schemas"]["Problem"]["required"];
    for field in ["type", "title", "status", "code", "detail"] {
        assert!(
            problem.as_array().unwrap().contains(&json!(field)),
            "{field}"
        );
    }
    let media = &doc["paths"]["/api/v1/douyin/accounts/{id}/media"]["get"]["parameters"];
    let conversation_id = media
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "conversation_id")
        .expect("conversation_id is declared");
    assert_eq!(conversation_id["required"], true);
    let list = &doc["paths"]["/api/v1/conversations"]["get"];
    let limit = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(
        (
            limit["schema"]["minimum"].as_i64(),
            limit["schema"]["maximum"].as_i64()
        ),
        (Some(1), Some(200))
    );
    let create = &doc["paths"]["/api/v1/channels"]["post"];
    assert_eq!(create["x-imhub-role"], "admin");
    for status in ["401", "403", "413", "415", "422"] {
        assert!(
            create["responses"][status]["content"]["application/problem+json"].is_object(),
            "POST /channels {status}"
        );
    }
    let events = &doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"];
    assert!(events["text/event-stream"].is_object(), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_refuse_other_content_types_with_415() {
    let a = start(testing::sqlite_database()).await;
    let conversation = a.ids["conversations"];
    for (path, body) in [
        (
            "/api/v1/channels".to_string(),
            r#"{"platform":"custom","name":"x","config":{}}"#,
        ),
        (
            format!("/api/v1/conversations/{conversation}/messages"),
            r#"{"content":{"type":"text","text":"hi"}}"#,
        ),
    ] {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut req = a
                .http
                .post(format!("{}{path}", a.base))
                .bearer_auth(&a.admin)
                .body(body);
            if let Some(t) = content_type {
                req = req.header("content-type", t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 415, "{path} {content_type:?}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            let p: Value = res.json().await.unwrap();
            assert_eq!(p["code"], "unsupported_media_type");
        }
    }
    let res = a
        .http
        .post(format!(
            "{}/api/v1/conversations/{conversation}/messages",
            a.base
        ))
        .bearer_auth(&a.admin)
        .header("content-type", "application/vnd.imhub+json; charset=utf-8")
        .body(r#"{"content":{"type":"text","text":"hi"}}"#)
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 415, "+json types are JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_without_credentials_is_401() {
    let a = start(testing::sqlite_database()).await;
    let res = a
        .http
        .delete(format!("{}/api/v1/session", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = a
        .http
        .delete(format!("{}/api/v1/session", a.base))
        .header("cookie", "imhub_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_is_server_sent_events_and_needs_credentials() {
    let a = start(testing::sqlite_database()).await;
    let mut res = a
        .http
        .get(format!("{}/api/v1/events", a.base))
        .bearer_auth(&a.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = tokio::time::timeout(Duration::from_secs(5), res.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));
    let res = a
        .http
        .get(format!("{}/api/v1/events", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

//! Property test of `/webhooks/{platform}/{channel_id}` through the real
//! router over a real SQLite file: random and mutated requests — method,
//! headers (content type, every platform's signature headers), query
//! strings, bodies (random bytes, truncated or mutated valid pushes, huge
//! numbers, deep nesting) — to every platform's channel, to the channel of
//! another platform or workspace, to ids and platforms that do not exist.
//! Never a 5xx, never a panic, and nothing stored (no push, message,
//! contact, conversation or group record) unless the request was signed
//! as its channel requires (issue 11 §2).
//!
//! Bounded to 64 cases so it runs in the normal suite in a few seconds. A
//! case a run finds stays below as a named regression test.

use axum::{body::Body, http::Request};
use imhub_core::{ChannelId, Platform};
use imhub_meituan::{AesMode, ContentCipher, push::encode_push_body, sign as meituan_sign};
use imhub_server::AppState;
use proptest::{
    prelude::*,
    test_runner::{Config as ProptestConfig, TestCaseError, TestRunner},
};
use tower::ServiceExt;

use super::*;

const CUSTOM_SECRET: &str = "props-custom-secret-0123";
const DOUYIN_KEY: &str = "awx_props";
const DOUYIN_SECRET: &str = "props-douyin-secret";
const TENCENT_APP: u64 = 1_400_000_321;
const TENCENT_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const TENCENT_TOKEN: &str = "props-callback-token";
const MEITUAN_APP: &str = "4321";
const MEITUAN_SECRET: &str = "0123456789abcdef-props-secret";
/// The URL the Meituan channel is told pushes are signed over (a reverse
/// proxy's address), so the test can sign without a Host header.
const MEITUAN_URL: &str = "https://hub.example.com/webhooks/meituan";
/// The account every platform's pushes name.
const SHOP: &str = "shop";
/// The operator's platform endpoints: nothing listens there, so nothing the
/// ingest path might call out to can hang or reach the internet.
const NOWHERE: &str = "http://127.0.0.1:9";
/// The harness's body limit; one generated body is just over it.
const MAX_BODY: usize = 64 * 1024;

const PLATFORMS: [Platform; 4] = [
    Platform::Custom,
    Platform::Douyin,
    Platform::Tencent,
    Platform::Meituan,
];

/// The router, the store under it and the channels pushes go to.
struct Webhooks {
    router: axum::Router,
    store: Arc<SqlStore>,
    /// This workspace's channel of each platform, in [`PLATFORMS`] order.
    own: [ChannelId; 4],
    /// Another workspace's channel of each platform, with other secrets.
    foreign: [ChannelId; 4],
}

/// Channel settings of one platform; `other` gives another app and secrets.
fn channel_config(platform: Platform, other: bool) -> Value {
    let secret = |s: &str| {
        if other {
            format!("{s}-other")
        } else {
            s.to_string()
        }
    };
    match platform {
        Platform::Custom => json!({"secret": secret(CUSTOM_SECRET)}),
        Platform::Douyin => {
            json!({"client_key": DOUYIN_KEY, "client_secret": secret(DOUYIN_SECRET)})
        }
        Platform::Tencent => json!({
            "sdkappid": if other { TENCENT_APP + 1 } else { TENCENT_APP },
            "key": TENCENT_KEY, "identifier": "administrator",
            "callback_token": secret(TENCENT_TOKEN), "merchant_accounts": [SHOP]}),
        Platform::Meituan => json!({"app_id": MEITUAN_APP,
            "app_secret": secret(MEITUAN_SECRET), "push_url": MEITUAN_URL}),
    }
}

impl Webhooks {
    async fn start() -> Webhooks {
        let store = Arc::new(
            SqlStore::open(StoreOptions::new(testing::sqlite_database()))
                .await
                .expect("a SQLite store"),
        );
        let mut config = Config {
            max_body_bytes: MAX_BODY,
            ..Config::default()
        };
        config.platforms.douyin.base_url = Some(NOWHERE.into());
        config.platforms.tencent.base_url = Some(NOWHERE.into());
        config.platforms.meituan.base_url = Some(format!("{NOWHERE}/api/v1/"));
        let mut channels = Vec::new();
        for (name, other) in [("shop", false), ("another shop", true)] {
            let ws = store.create_workspace(name).await.expect("a workspace").id;
            for platform in PLATFORMS {
                let channel = store
                    .create_channel(
                        ws,
                        platform,
                        platform.as_str(),
                        &channel_config(platform, other),
                    )
                    .await
                    .expect("a channel");
                store
                    .create_account(ws, channel.id, SHOP, "Shop")
                    .await
                    .expect("an account");
                channels.push(channel.id);
            }
        }
        let own = [channels[0], channels[1], channels[2], channels[3]];
        let foreign = [channels[4], channels[5], channels[6], channels[7]];
        let state = AppState::new(store.clone(), config);
        Webhooks {
            router: imhub_server::router(state),
            store,
            own,
            foreign,
        }
    }

    /// How many rows of what a push can create exist, over all workspaces.
    async fn stored(&self) -> [i64; 6] {
        self.store
            .read_raw(|db| {
                let row = db.query_one(
                    "SELECT (SELECT COUNT(*) FROM raw_events), (SELECT COUNT(*) FROM messages), \
                     (SELECT COUNT(*) FROM contacts), (SELECT COUNT(*) FROM conversations), \
                     (SELECT COUNT(*) FROM group_join_requests), (SELECT COUNT(*) FROM group_members)",
                    &[],
                )?;
                Ok([
                    row.int(0)?,
                    row.int(1)?,
                    row.int(2)?,
                    row.int(3)?,
                    row.int(4)?,
                    row.int(5)?,
                ])
            })
            .await
            .expect("the counts")
    }

    /// Sends one request through the router; its status.
    async fn send(&self, request: Request<Body>) -> u16 {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        response.status().as_u16()
    }
}

fn index_of(platform: Platform) -> usize {
    PLATFORMS
        .iter()
        .position(|p| *p == platform)
        .unwrap_or_default()
}

fn now_secs() -> i64 {
    imhub_meituan::client::unix_now()
}

// ---------- what a case is ----------

/// Where the request goes.
#[derive(Debug, Clone)]
enum Target {
    /// The platform's channel of this workspace: the only place a signed
    /// request may be stored.
    Own,
    /// `/webhooks/{platform}/{id of another platform's channel}`.
    OtherPlatformsChannel(usize),
    /// The same platform's channel of another workspace (other secrets).
    Foreign,
    /// A channel id that is no channel (or no number).
    MissingId(String),
    /// A platform that does not exist, with this workspace's channel id.
    UnknownPlatform(String),
}

/// How the request is authenticated.
#[derive(Debug, Clone)]
enum Auth {
    Valid,
    /// Signed with another secret.
    WrongSecret,
    Missing,
    /// Any text where the signature goes.
    Garbage(String),
    /// Correctly signed an hour ago (only Tencent and Meituan sign a time).
    Stale,
}

/// The body before the platform's envelope (for Meituan, the
/// `push_content`; for the others the whole body).
#[derive(Debug, Clone)]
enum Payload {
    /// One of the platform's well-formed pushes, with this text.
    Seed(usize, String),
    /// A well-formed push with every number replaced by a huge or odd literal.
    HugeNumbers(usize, &'static str),
    /// A well-formed push with a value nested this deep.
    Deep(usize, usize),
    /// Any JSON.
    Json(Value),
    /// Any bytes.
    Bytes(Vec<u8>),
    /// Just over the body limit.
    Oversize,
}

/// A change made to the payload's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(usize),
    Flip(Vec<(usize, u8)>),
    Splice(usize, Vec<u8>),
}

#[derive(Debug, Clone)]
struct Case {
    platform: Platform,
    target: Target,
    method: &'static str,
    content_type: Option<String>,
    /// Extra headers, among them other platforms' signature headers; values
    /// may hold bytes that are not ASCII.
    headers: Vec<(String, Vec<u8>)>,
    /// Extra query pairs, and raw text appended to the query.
    query: Vec<(String, String)>,
    raw_query: String,
    payload: Payload,
    mutation: Mutation,
    /// Whether the signature is computed after the mutation (so it covers
    /// the bytes sent) or before (so a changed payload no longer matches).
    sign_after_mutation: bool,
    auth: Auth,
}

/// Well-formed pushes of each platform, with `text` in them.
fn seed(platform: Platform, which: usize, text: &str) -> Value {
    let now = now_secs();
    let seeds = match platform {
        Platform::Custom => vec![
            json!({"event_id": format!("e-{text}"), "account": {"id": SHOP},
                "contact": {"id": "c1", "nickname": "客户"},
                "message": {"id": format!("m-{text}"), "content": {"type": "text", "text": text},
                            "sent_at": now * 1000}}),
            json!({"event_id": format!("g-{text}"), "account": {"id": SHOP},
                "contact": {"id": "c2"}, "group": {"id": "g1", "name": "群"},
                "message": {"id": format!("gm-{text}"), "content": {"type": "image", "url": "https://cdn.example.com/a.png"}}}),
            json!({"event_id": format!("r-{text}"), "kind": "recall", "account": {"id": SHOP},
                "message": {"id": "m-1"}}),
        ],
        Platform::Douyin => {
            let im = json!({"conversation_short_id": "@c/+==", "server_message_id": format!("@m{text}=="),
                "conversation_type": 1, "message_type": "text", "text": text, "create_time": now * 1000,
                "user_infos": [{"open_id": "c1", "nick_name": "小王", "avatar": "https://a.example.com/a"}]});
            let audit = json!({"group_id": "@g/=", "apply_id": "@a+=", "apply_status": 1,
                "user_nicker": text, "user_avatar": "https://a.example.com/a", "create_time": now * 1000});
            let fans = json!({"open_id": SHOP, "im_group_id": "@g/=", "group_type": 1,
                "create_time": now * 1000, "create_group_type": "5"});
            let envelope = |event: &str, content: Value| {
                json!({"event": event, "client_key": DOUYIN_KEY, "from_user_id": "c1",
                       "to_user_id": SHOP, "content": content, "log_id": "L1"})
            };
            vec![
                envelope("im_receive_msg", im.clone()),
                envelope("im_receive_msg", Value::String(im.to_string())),
                envelope("im_group_receive_msg", im.clone()),
                envelope("im_recall_msg", im),
                envelope("enter_group_audit_change", Value::String(audit.to_string())),
                envelope("group_fans_event", Value::String(fans.to_string())),
                envelope("verify_webhook", json!({"challenge": 12345})),
            ]
        }
        Platform::Tencent => vec![
            json!({"CallbackCommand": "C2C.CallbackAfterSendMsg", "From_Account": "alice",
                "To_Account": SHOP, "MsgSeq": 1, "MsgRandom": 2, "MsgTime": now, "MsgKey": format!("k-{text}"),
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}),
            json!({"CallbackCommand": "Group.CallbackAfterSendMsg", "GroupId": "g1", "Type": "Public",
                "From_Account": "alice", "Operator_Account": "alice", "Random": 3, "MsgSeq": 7,
                "MsgTime": now, "EventTime": now * 1000,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}),
            json!({"CallbackCommand": "Group.CallbackAfterRecallMsg", "Operator_Account": "alice",
                "Type": "Public", "GroupId": "g1", "MsgSeqList": [{"MsgSeq": 7}],
                "EventTime": (now * 1000).to_string()}),
            json!({"CallbackCommand": "C2C.CallbackAfterMsgReport", "Report_Account": "alice",
                "Peer_Account": SHOP, "LastReadTime": now, "UnreadMsgNum": 0}),
        ],
        Platform::Meituan => {
            let cipher = ContentCipher::from_secret(MEITUAN_SECRET, AesMode::Cbc)
                .unwrap_or_else(|e| panic!("the test's Meituan secret: {e}"));
            vec![
                json!({"app_id": 4321, "app_poi_code": SHOP, "msg_id": 11, "msg_content": cipher.encrypt(text),
                    "msg_source": 2, "msg_type": 1, "cts": now, "open_user_id": 5}),
                json!({"app_id": 4321, "app_poi_code": SHOP, "msg_id": 12, "msg_content": cipher.encrypt(text),
                    "msg_source": 2, "msg_type": 1, "cts": now, "open_user_id": 5, "group_id": 77}),
            ]
        }
    };
    seeds[which % seeds.len()].clone()
}

/// Number literals no field expects.
const HUGE: [&str; 6] = [
    "18446744073709551616",
    "-9223372036854775809",
    "1e400",
    "-0.0",
    "123456789012345678901234567890",
    "9007199254740993.5",
];

/// `value` as JSON text with every number written as `literal`.
fn with_numbers(value: &Value, literal: &str) -> String {
    match value {
        Value::Number(_) => literal.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| with_numbers(v, literal))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), with_numbers(v, literal)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

fn render(platform: Platform, payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Seed(which, text) => seed(platform, *which, text).to_string().into_bytes(),
        Payload::HugeNumbers(which, literal) => {
            with_numbers(&seed(platform, *which, "n"), literal).into_bytes()
        }
        Payload::Deep(which, depth) => {
            let text = seed(platform, *which, "deep").to_string();
            let open = text.strip_suffix('}').unwrap_or(&text);
            format!(
                "{open},\"nested\":{}{}}}",
                "[{\"a\":".repeat(*depth),
                "1}]".repeat(*depth)
            )
            .into_bytes()
        }
        Payload::Json(value) => value.to_string().into_bytes(),
        Payload::Bytes(bytes) => bytes.clone(),
        Payload::Oversize => vec![b'7'; MAX_BODY + 1],
    }
}

fn mutate(bytes: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match mutation {
        Mutation::None => {}
        Mutation::Truncate(at) => out.truncate(at % out.len().max(1)),
        Mutation::Flip(flips) => {
            if !out.is_empty() {
                for (at, byte) in flips {
                    let i = at % out.len();
                    out[i] = *byte;
                }
            }
        }
        Mutation::Splice(at, insert) => {
            let i = at % (out.len() + 1);
            out.splice(i..i, insert.iter().copied());
        }
    }
    out
}

/// The request a case stands for, and whether it is signed as its channel
/// requires (or might be: then nothing is asserted about storing).
fn build(h: &Webhooks, case: &Case) -> (Request<Body>, bool) {
    let p = case.platform;
    let rendered = render(p, &case.payload);
    let mutated = mutate(&rendered, &case.mutation);
    // What the signature is computed over.
    let signed = if case.sign_after_mutation {
        mutated.clone()
    } else {
        rendered
    };
    let timed = matches!(p, Platform::Tencent | Platform::Meituan);
    let mut valid = match case.auth {
        Auth::Valid => true,
        Auth::Stale => !timed,
        _ => false,
    };
    // The body is covered by every signature but Tencent's.
    if p != Platform::Tencent && signed != mutated {
        valid = false;
    }
    let (channel, platform_name) = match &case.target {
        Target::Own => (h.own[index_of(p)].0.to_string(), p.as_str().to_string()),
        Target::OtherPlatformsChannel(which) => {
            valid = false;
            let others: Vec<usize> = (0..4).filter(|i| *i != index_of(p)).collect();
            (
                h.own[others[which % others.len()]].0.to_string(),
                p.as_str().to_string(),
            )
        }
        Target::Foreign => {
            valid = false;
            (h.foreign[index_of(p)].0.to_string(), p.as_str().to_string())
        }
        Target::MissingId(id) => {
            valid = false;
            (id.clone(), p.as_str().to_string())
        }
        Target::UnknownPlatform(name) => {
            valid = false;
            (h.own[index_of(p)].0.to_string(), name.clone())
        }
    };
    let now = now_secs();
    let time = if matches!(case.auth, Auth::Stale) {
        now - 3600
    } else {
        now
    };
    let signature = |secret: &str| match p {
        Platform::Custom => imhub_server::channels::custom::sign(secret, &signed),
        Platform::Douyin => imhub_douyin::webhook::signature(secret, &signed),
        Platform::Tencent => imhub_tencent::callback::callback_sign(secret, &time.to_string()),
        Platform::Meituan => {
            let mut params = meituan_sign::Params::new();
            params.insert("app_id".into(), MEITUAN_APP.into());
            params.insert("timestamp".into(), time.to_string());
            params.insert("biz_type".into(), "1".into());
            params.insert(
                "push_content".into(),
                String::from_utf8_lossy(&signed).into_owned(),
            );
            meituan_sign::sign(MEITUAN_URL, &params, secret)
        }
    };
    let secret = match p {
        Platform::Custom => CUSTOM_SECRET,
        Platform::Douyin => DOUYIN_SECRET,
        Platform::Tencent => TENCENT_TOKEN,
        Platform::Meituan => MEITUAN_SECRET,
    };
    let auth_value = match &case.auth {
        Auth::Valid | Auth::Stale => Some(signature(secret)),
        Auth::WrongSecret => Some(signature("not-the-secret")),
        Auth::Missing => None,
        Auth::Garbage(text) => Some(text.clone()),
    };

    let mut url = reqwest::Url::parse(&format!(
        "http://imhub.test/webhooks/{platform_name}/{channel}"
    ))
    .unwrap_or_else(|e| panic!("a webhook URL: {e}"));
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut body = mutated.clone();
    match p {
        Platform::Custom => {
            if let Some(sig) = auth_value {
                headers.push(("x-imhub-signature".into(), sig.into_bytes()));
            }
        }
        Platform::Douyin => {
            if let Some(sig) = auth_value {
                headers.push(("x-douyin-signature".into(), sig.into_bytes()));
            }
            headers.push(("msg-id".into(), format!("msg-{now}").into_bytes()));
        }
        Platform::Tencent => {
            let command = serde_json::from_slice::<Value>(&mutated)
                .ok()
                .and_then(|v| v["CallbackCommand"].as_str().map(str::to_string))
                .unwrap_or_else(|| "C2C.CallbackAfterSendMsg".into());
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("SdkAppid", &TENCENT_APP.to_string())
                .append_pair("CallbackCommand", &command)
                .append_pair("contenttype", "json")
                .append_pair("ClientIP", "203.0.113.7")
                .append_pair("OptPlatform", "iOS");
            if let Some(sig) = &auth_value {
                pairs.append_pair("Sign", sig);
            }
            pairs.append_pair("RequestTime", &time.to_string());
        }
        Platform::Meituan => {
            let time = time.to_string();
            let content = String::from_utf8_lossy(&mutated).into_owned();
            let mut fields = vec![
                ("app_id", MEITUAN_APP),
                ("timestamp", time.as_str()),
                ("biz_type", "1"),
                ("push_content", content.as_str()),
            ];
            if let Some(sig) = &auth_value {
                fields.push(("sig", sig.as_str()));
            }
            // Bytes that are not UTF-8 are signed and sent alike, as U+FFFD.
            body = encode_push_body(&fields, true).into_bytes();
        }
    }
    if matches!(case.payload, Payload::Oversize) {
        body = vec![b'7'; MAX_BODY + 1];
    }
    for (key, value) in &case.query {
        // Another value of a field Tencent's signature check reads may or
        // may not be the one read.
        if p == Platform::Tencent && ["SdkAppid", "Sign", "RequestTime"].contains(&key.as_str()) {
            valid = false;
        }
        url.query_pairs_mut().append_pair(key, value);
    }
    let mut uri = url.path().to_string();
    let query = match (url.query(), case.raw_query.as_str()) {
        (Some(q), "") => Some(q.to_string()),
        (Some(q), raw) => Some(format!("{q}&{raw}")),
        (None, "") => None,
        (None, raw) => Some(raw.to_string()),
    };
    if let Some(q) = query {
        uri = format!("{uri}?{q}");
    }
    let mut request = Request::builder().method(case.method).uri(&uri);
    if let Some(ct) = &case.content_type {
        request = request.header("content-type", ct.as_str());
    }
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_slice());
    }
    let own_header = match p {
        Platform::Custom => Some("x-imhub-signature"),
        Platform::Douyin => Some("x-douyin-signature"),
        Platform::Tencent | Platform::Meituan => None,
    };
    for (name, value) in &case.headers {
        // A second signature header of the channel's own kind: which one is
        // read is the server's choice, so the case may be signed.
        if Some(name.as_str()) == own_header && valid {
            return (
                finish(request.header(name.as_str(), value.as_slice()), body, &uri),
                true,
            );
        }
        request = request.header(name.as_str(), value.as_slice());
    }
    (finish(request, body, &uri), valid)
}

fn finish(request: axum::http::request::Builder, body: Vec<u8>, uri: &str) -> Request<Body> {
    request
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("a request to {uri}: {e}"))
}

// ---------- strategies ----------

fn platform() -> impl Strategy<Value = Platform> {
    prop::sample::select(PLATFORMS.to_vec())
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => Just(Target::Own),
        1 => any::<usize>().prop_map(Target::OtherPlatformsChannel),
        1 => Just(Target::Foreign),
        1 => prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("999999999".to_string()),
            Just("18446744073709551616".to_string()),
            Just("1.0".to_string()),
            Just("%20".to_string()),
            "[a-z0-9]{1,12}",
        ]
        .prop_map(Target::MissingId),
        1 => "[a-zA-Z0-9_-]{1,12}"
            .prop_filter("not a platform", |n| Platform::parse(n).is_none())
            .prop_map(Target::UnknownPlatform),
    ]
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        6 => Just(Auth::Valid),
        1 => Just(Auth::WrongSecret),
        1 => Just(Auth::Missing),
        1 => prop_oneof![
            "[ -~]{0,80}",
            "sha256=[0-9a-f]{64}",
            "[0-9a-f]{40}",
            "[0-9a-f]{64}",
        ]
        .prop_map(Auth::Garbage),
        1 => Just(Auth::Stale),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "event",
                        "event_id",
                        "kind",
                        "account",
                        "contact",
                        "message",
                        "content",
                        "type",
                        "text",
                        "id",
                        "client_key",
                        "from_user_id",
                        "to_user_id",
                        "CallbackCommand",
                        "From_Account",
                        "To_Account",
                        "MsgBody",
                        "GroupId",
                        "MsgSeqList",
                        "app_poi_code",
                        "msg_id",
                        "msg_type",
                        "msg_content",
                        "open_user_id",
                        "group_id",
                        "cts",
                    ])
                    .prop_map(str::to_string),
                    "[a-zA-Z_]{1,10}",
                ],
                inner,
                0..7,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        5 => (any::<usize>(), "[a-z0-9 在吗你好🙂]{0,24}").prop_map(|(i, t)| Payload::Seed(i, t)),
        1 => (any::<usize>(), prop::sample::select(HUGE.to_vec()))
            .prop_map(|(i, n)| Payload::HugeNumbers(i, n)),
        1 => (any::<usize>(), prop_oneof![Just(200usize), Just(2_000usize), 1usize..64])
            .prop_map(|(i, d)| Payload::Deep(i, d)),
        1 => json_value().prop_map(Payload::Json),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Payload::Bytes),
        1 => Just(Payload::Oversize),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => Just(Mutation::None),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec((any::<usize>(), any::<u8>()), 1..4).prop_map(Mutation::Flip),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Splice(i, b)),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..40)
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "x-imhub-signature",
            "x-douyin-signature",
            "msg-id",
            "content-encoding",
            "transfer-encoding",
            "content-length",
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
        ])
        .prop_map(str::to_string),
        "x-[a-z-]{1,12}",
    ];
    prop::collection::vec((name, header_value()), 0..4)
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("application/json".to_string()),
        Just("application/json; charset=utf-8".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("application/x-www-form-urlencoded;charset=gbk".to_string()),
        Just("text/plain".to_string()),
        Just("multipart/form-data; boundary=xyz".to_string()),
        "[ -~]{0,30}",
    ])
}

fn query() -> impl Strategy<Value = (Vec<(String, String)>, String)> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "SdkAppid",
            "CallbackCommand",
            "Sign",
            "RequestTime",
            "sig",
            "timestamp",
            "app_id",
            "push_content",
            "echostr",
            "challenge",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_]{1,8}",
    ];
    (
        prop::collection::vec((key, ".{0,20}"), 0..3),
        "[A-Za-z0-9%&=._~+-]{0,40}",
    )
}

fn case() -> impl Strategy<Value = Case> {
    (
        platform(),
        target(),
        prop_oneof![
            8 => Just("POST"),
            1 => prop::sample::select(vec!["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        ],
        content_type(),
        headers(),
        query(),
        payload(),
        mutation(),
        any::<bool>(),
        auth(),
    )
        .prop_map(
            |(
                platform,
                target,
                method,
                content_type,
                headers,
                (query, raw_query),
                payload,
                mutation,
                sign_after_mutation,
                auth,
            )| Case {
                platform,
                target,
                method,
                content_type,
                headers,
                query,
                raw_query,
                payload,
                mutation,
                sign_after_mutation,
                auth,
            },
        )
}

/// Sends one case and checks the property.
async fn check(h: &Webhooks, case: Case) -> Result<(), TestCaseError> {
    let (request, signed) = build(h, &case);
    let before = h.stored().await;
    let status = h.send(request).await;
    let after = h.stored().await;
    prop_assert!(status < 500, "answered {status}");
    if !signed {
        prop_assert_eq!(
            before,
            after,
            "stored although not signed (status {})",
            status
        );
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a runtime: {e}"))
}

#[test]
fn random_and_mutated_webhook_requests_never_fail_the_server_and_store_nothing_unsigned() {
    let rt = runtime();
    let h = rt.block_on(Webhooks::start());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| rt.block_on(check(&h, case)));
    if let Err(e) = result {
        panic!("{e}");
    }
    // The server still answers after all that.
    let status = rt.block_on(
        h.send(
            Request::get("/healthz")
                .body(Body::empty())
                .unwrap_or_else(|e| panic!("{e}")),
        ),
    );
    assert_eq!(status, 200);
}

/// A case of each platform that is signed as its channel requires.
fn signed_case(platform: Platform, which: usize) -> Case {
    Case {
        platform,
        target: Target::Own,
        method: "POST",
        content_type: Some(
            match platform {
                Platform::Meituan => "application/x-www-form-urlencoded",
                _ => "application/json",
            }
            .into(),
        ),
        headers: Vec::new(),
        query: Vec::new(),
        raw_query: String::new(),
        payload: Payload::Seed(which, format!("hello {which}")),
        mutation: Mutation::None,
        sign_after_mutation: false,
        auth: Auth::Valid,
    }
}

/// Without this the property could hold because nothing is ever stored:
/// the harness's signed requests are stored, and the same requests
/// changed after signing are not.
#[test]
fn the_harness_signs_as_each_channel_requires() {
    let rt = runtime();
    let h = rt.block_on(Webhooks::start());
    for platform in PLATFORMS {
        let case = signed_case(platform, 0);
        let (request, signed) = build(&h, &case);
        assert!(signed);
        let before = rt.block_on(h.stored());
        let status = rt.block_on(h.send(request));
        let after = rt.block_on(h.stored());
        assert_eq!(status, 200, "{platform:?}");
        assert!(after[0] > before[0], "{platform:?}: the push was stored");
        assert!(after[1] > before[1], "{platform:?}: its message was stored");

        let mut changed = signed_case(platform, 1);
        changed.mutation = Mutation::Splice(0, b" ".to_vec());
        changed.auth = if platform == Platform::Tencent {
            Auth::Stale
        } else {
            Auth::Valid
        };
        let (request, signed) = build(&h, &changed);
        assert!(!signed, "{platform:?}");
        let before = rt.block_on(h.stored());
        let status = rt.block_on(h.send(request));
        assert!((400..500).contains(&status), "{platform:?}: {status}");
        assert_eq!(rt.block_on(h.stored()), before, "{platform:?}");
    }
}

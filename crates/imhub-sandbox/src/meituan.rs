//! The Meituan part of the sandbox: the `waimaiopen` IM API (msgSend,
//! getConnectionToken, msgRead, userReadTime) as strict as the platform, and
//! simulated customers who push signed, encrypted, doubly-encoded IM
//! messages to imhub's webhook.
//!
//! Strictness: every call must carry `app_id`, `timestamp` (±10 minutes) and
//! a `sig` computed over the URL as requested (`http://{Host}{path}`, or the
//! configured public origin); msgSend must carry a well-formed
//! `push_content` whose `msg_content` decrypts with the app's key in the
//! app's mode; order cards, voice for b2c apps and goods cards with more
//! than 7 goods are refused; each app is rate limited (711).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Uri, header},
    response::{IntoResponse, Response},
    routing::post,
};
use imhub_meituan::{
    AesMode, ContentCipher, MsgType,
    client::{
        PATH_GET_CONNECTION_TOKEN, PATH_MSG_READ, PATH_MSG_SEND, PATH_USER_READ_TIME, unix_now,
    },
    errors::{
        CODE_BAD_PARAM, CODE_BAD_SIGNATURE, CODE_MISSING_PARAM, CODE_RATE_LIMITED,
        CODE_TOKEN_EXPIRED, CODE_UNKNOWN_APP, CODE_UNKNOWN_STORE,
    },
    im::{MAX_GOODS_PER_CARD, MSG_SOURCE_STORE, MSG_SOURCE_USER, split_spu_codes},
    push::{MAX_PUSH_SKEW_SECS, encode_push_body},
    sign::{self, Params},
};
use serde_json::{Value, json};
use url::form_urlencoded;

/// Requests per second per app the sandbox allows before answering 711.
/// Meituan documents no number; this default sits above imhub's own
/// `SEND_PER_SECOND` so a well-behaved engine never meets it.
pub const DEFAULT_RATE_LIMIT_PER_SEC: u32 = 20;

/// The first Meituan `msg_id` the simulated customers use (17 digits, like
/// real ids).
const FIRST_MSG_ID: i64 = 27_000_000_000_000_001;

/// One Meituan app the sandbox knows.
#[derive(Debug, Clone)]
pub struct SandboxApp {
    /// The app id callers sign with.
    pub app_id: String,
    /// The app secret; its first 16 characters key AES.
    pub app_secret: String,
    /// A b2c app: voice (3, 13) is refused.
    pub b2c: bool,
    /// The stores (`app_poi_code`) of this app; others are 803.
    pub stores: Vec<String>,
    /// When set, every call must carry this `access_token` (4001 otherwise).
    pub access_token: Option<String>,
    /// The AES mode the app's `msg_content` must use.
    pub aes_mode: AesMode,
}

impl SandboxApp {
    /// A plain (non-b2c, no access token, CBC) app with the given stores.
    pub fn new(app_id: &str, app_secret: &str, stores: &[&str]) -> Self {
        SandboxApp {
            app_id: app_id.to_string(),
            app_secret: app_secret.to_string(),
            b2c: false,
            stores: stores.iter().map(|s| s.to_string()).collect(),
            access_token: None,
            aes_mode: AesMode::Cbc,
        }
    }
}

/// A message a store sent through msgSend, as the sandbox received it
/// (content decrypted).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The app that sent.
    pub app_id: String,
    /// The store that sent.
    pub app_poi_code: String,
    /// The caller's `msg_id`.
    pub msg_id: i64,
    /// The `msg_type` as sent.
    pub msg_type: i64,
    /// Decrypted `msg_content` (`None` for goods cards).
    pub content: Option<String>,
    /// The customer of a single chat.
    pub open_user_id: Option<i64>,
    /// The group of a group message.
    pub group_id: Option<i64>,
    /// The order the message is about, if named.
    pub order_id: Option<i64>,
    /// Goods of a goods card.
    pub app_spu_codes: Vec<String>,
    /// The send time the caller gave (Unix seconds).
    pub cts: i64,
}

/// A msgRead call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMark {
    /// The app that called.
    pub app_id: String,
    /// The store.
    pub app_poi_code: String,
    /// The message marked read.
    pub msg_id: i64,
    /// The customer.
    pub open_user_id: i64,
}

/// A refused call, for tests that check what was refused and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The API path called.
    pub path: String,
    /// Meituan's error code answered.
    pub code: i64,
    /// Meituan's error text answered.
    pub msg: String,
}

struct AppState {
    app: SandboxApp,
    cipher: ContentCipher,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<String, AppState>,
    public_origin: Option<String>,
    rate_limit_per_sec: u32,
    windows: HashMap<String, (i64, u32)>,
    sent: Vec<ReceivedMessage>,
    seen_msg_ids: HashSet<(String, i64)>,
    duplicate_sends: u32,
    reads: Vec<ReadMark>,
    rejections: Vec<Rejection>,
    failed_user_count: HashMap<String, i64>,
    read_times: HashMap<(String, String, i64), i64>,
    next_msg_id: i64,
    tokens_issued: u32,
}

/// The sandbox's Meituan state: cloneable, shared with the router, and
/// inspectable by tests.
#[derive(Clone)]
pub struct MeituanSandbox {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MeituanSandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a simulated customer could not push.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox knows no meituan app {0}")]
    UnknownApp(String),
    #[error("push failed: {0}")]
    Http(String),
}

impl MeituanSandbox {
    /// An empty sandbox with the default rate limit.
    pub fn new() -> Self {
        MeituanSandbox {
            inner: Arc::new(Mutex::new(Inner {
                rate_limit_per_sec: DEFAULT_RATE_LIMIT_PER_SEC,
                next_msg_id: FIRST_MSG_ID,
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock only happens in a failing test;
        // the state is still consistent enough to inspect.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers (or replaces) an app. Its secret must key AES-128.
    pub fn add_app(&self, app: SandboxApp) -> Result<(), imhub_meituan::CryptoError> {
        let cipher = ContentCipher::from_secret(&app.app_secret, app.aes_mode)?;
        self.lock()
            .apps
            .insert(app.app_id.clone(), AppState { app, cipher });
        Ok(())
    }

    /// The origin (`https://waimaiopen.meituan.com`) signatures are checked
    /// against, when clients reach the sandbox through a proxy; by default
    /// `http://{Host}`. When the router is nested under a prefix, include
    /// the prefix here (`http://127.0.0.1:8080/meituan`): the handlers see
    /// the path without it.
    pub fn set_public_origin(&self, origin: Option<String>) {
        self.lock().public_origin = origin;
    }

    /// Requests per second per app before 711.
    pub fn set_rate_limit(&self, per_sec: u32) {
        self.lock().rate_limit_per_sec = per_sec;
    }

    /// The `userCount` getConnectionToken reports for an app.
    pub fn set_failed_user_count(&self, app_id: &str, count: i64) {
        self.lock()
            .failed_user_count
            .insert(app_id.to_string(), count);
    }

    /// Records that a customer read the store's messages at `millis`.
    pub fn set_user_read_time(
        &self,
        app_id: &str,
        app_poi_code: &str,
        open_user_id: i64,
        millis: i64,
    ) {
        self.lock().read_times.insert(
            (app_id.to_string(), app_poi_code.to_string(), open_user_id),
            millis,
        );
    }

    /// Every message stores sent, in order (each `msg_id` once).
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.lock().sent.clone()
    }

    /// Messages one store sent.
    pub fn messages_for(&self, app_poi_code: &str) -> Vec<ReceivedMessage> {
        self.lock()
            .sent
            .iter()
            .filter(|m| m.app_poi_code == app_poi_code)
            .cloned()
            .collect()
    }

    /// How many sends repeated a `msg_id` already received (not recorded twice).
    pub fn duplicate_sends(&self) -> u32 {
        self.lock().duplicate_sends
    }

    /// Every msgRead call.
    pub fn reads(&self) -> Vec<ReadMark> {
        self.lock().reads.clone()
    }

    /// Every refused call.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock().rejections.clone()
    }

    /// How many connection tokens were issued.
    pub fn tokens_issued(&self) -> u32 {
        self.lock().tokens_issued
    }
}

/// The sandbox's Meituan gateway under `/api/v1/`.
pub fn router(state: MeituanSandbox) -> Router {
    Router::new()
        .route(&format!("/api/v1/{PATH_MSG_SEND}"), post(msg_send))
        .route(
            &format!("/api/v1/{PATH_GET_CONNECTION_TOKEN}"),
            post(get_connection_token),
        )
        .route(&format!("/api/v1/{PATH_MSG_READ}"), post(msg_read))
        .route(
            &format!("/api/v1/{PATH_USER_READ_TIME}"),
            post(user_read_time),
        )
        .with_state(state)
}

/// A refusal: Meituan's code and text.
type Fail = (i64, String);

fn fail(code: i64, msg: impl Into<String>) -> Fail {
    (code, msg.into())
}

fn json_response(v: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

fn classic_error((code, msg): Fail) -> Response {
    json_response(json!({"data": "ng", "error": {"code": code, "msg": msg}}))
}

/// What an authenticated request brings to an endpoint.
struct Call {
    app_id: String,
    params: Params,
}

struct RawRequest {
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl MeituanSandbox {
    /// Parses, authenticates and rate limits a call (steps common to every
    /// endpoint), recording refusals.
    fn authenticate(&self, path: &str, req: &RawRequest) -> Result<Call, Fail> {
        let result = self.authenticate_inner(req);
        if let Err((code, msg)) = &result {
            self.lock().rejections.push(Rejection {
                path: path.to_string(),
                code: *code,
                msg: msg.clone(),
            });
        }
        result
    }

    fn authenticate_inner(&self, req: &RawRequest) -> Result<Call, Fail> {
        let mut params = Params::new();
        let content_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !req.body.is_empty() && !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(fail(
                CODE_BAD_PARAM,
                "参数格式错误: body must be form-encoded",
            ));
        }
        let sources = [req.uri.query().unwrap_or("").as_bytes(), &req.body[..]];
        for source in sources {
            for (k, v) in form_urlencoded::parse(source) {
                if params.insert(k.to_string(), v.to_string()).is_some() {
                    return Err(fail(
                        CODE_BAD_PARAM,
                        format!("参数格式错误: {k} given twice"),
                    ));
                }
            }
        }
        let need = |name: &str| {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| fail(CODE_MISSING_PARAM, format!("缺少参数: {name}")))
        };
        let app_id = need("app_id")?;
        let timestamp = need("timestamp")?;
        let sig = need(sign::SIG_PARAM)?;
        let mut inner = self.lock();
        let Some(app) = inner.apps.get(&app_id) else {
            return Err(fail(CODE_UNKNOWN_APP, "app_id不存在"));
        };
        let host = req
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let origin = inner
            .public_origin
            .clone()
            .unwrap_or_else(|| format!("http://{host}"));
        let url = format!("{origin}{}", req.uri.path());
        if !sign::verify(&url, &params, &app.app.app_secret, &sig) {
            return Err(fail(CODE_BAD_SIGNATURE, "签名验证错误"));
        }
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| fail(CODE_BAD_PARAM, "参数格式错误: timestamp"))?;
        // Meituan documents the ±10-minute rule but not the code it answers;
        // the sandbox uses 703, the signature-check family.
        if (unix_now() - ts).abs() > MAX_PUSH_SKEW_SECS {
            return Err(fail(CODE_BAD_SIGNATURE, "签名验证错误: timestamp expired"));
        }
        if let Some(token) = &app.app.access_token {
            match params.get("access_token") {
                None => return Err(fail(CODE_MISSING_PARAM, "缺少参数: access_token")),
                Some(t) if t != token => {
                    return Err(fail(CODE_TOKEN_EXPIRED, "用户token已过期，需重新获取"));
                }
                Some(_) => {}
            }
        }
        let limit = inner.rate_limit_per_sec;
        let now = unix_now();
        let window = inner.windows.entry(app_id.clone()).or_insert((now, 0));
        if window.0 != now {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return Err(fail(CODE_RATE_LIMITED, "接口调用过于频繁，触发流控"));
        }
        window.1 += 1;
        Ok(Call { app_id, params })
    }

    fn reject(&self, path: &str, (code, msg): &Fail) {
        self.lock().rejections.push(Rejection {
            path: path.to_string(),
            code: *code,
            msg: msg.clone(),
        });
    }
}

/// `ecommerce/IM/msgSend`: batch envelope. Request failures (signature,
/// rate, missing or malformed `push_content`) are `result_code` 4 with
/// `error`; a message refused for its content is `result_code` 3 with
/// `error_list`; a `msg_id` already received is accepted again without
/// being recorded twice.
async fn msg_send(
    State(sb): State<MeituanSandbox>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = RawRequest { uri, headers, body };
    let request_failed = |(code, msg): Fail| {
        json_response(json!({"result_code": 4, "data": "ng", "error": {"code": code, "msg": msg}}))
    };
    let call = match sb.authenticate(PATH_MSG_SEND, &req) {
        Ok(c) => c,
        Err(f) => return request_failed(f),
    };
    let Some(text) = call.params.get("push_content") else {
        let f = fail(CODE_MISSING_PARAM, "缺少参数: push_content");
        sb.reject(PATH_MSG_SEND, &f);
        return request_failed(f);
    };
    let pc: serde_json::Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(o)) => o,
        _ => {
            let f = fail(
                CODE_BAD_PARAM,
                "参数格式错误: push_content is not a JSON object",
            );
            sb.reject(PATH_MSG_SEND, &f);
            return request_failed(f);
        }
    };
    match sb.accept_message(&call.app_id, &pc) {
        Ok(()) => json_response(json!({"result_code": 1, "data": "ok"})),
        Err(f) => {
            sb.reject(PATH_MSG_SEND, &f);
            json_response(
                json!({"result_code": 3, "data": [], "error_list": [{"code": f.0, "msg": f.1}]}),
            )
        }
    }
}

impl MeituanSandbox {
    fn accept_message(
        &self,
        app_id: &str,
        pc: &serde_json::Map<String, Value>,
    ) -> Result<(), Fail> {
        // Outbound fields are JSON integers (reference §6): unlike pushes,
        // which imhub reads leniently, a send with "123" or 1.0 is refused.
        let int = |name: &str| -> Result<Option<i64>, Fail> {
            match pc.get(name) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    fail(CODE_BAD_PARAM, format!("参数格式错误: {name} 必须是整数"))
                }),
            }
        };
        let required = |name: &str| -> Result<i64, Fail> {
            int(name)?.ok_or_else(|| fail(CODE_MISSING_PARAM, format!("缺少参数: {name}")))
        };
        let pc_app_id = required("app_id")?;
        let msg_id = required("msg_id")?;
        let msg_source = required("msg_source")?;
        let msg_type = required("msg_type")?;
        let cts = required("cts")?;
        let store = pc
            .get("app_poi_code")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail(CODE_MISSING_PARAM, "缺少参数: app_poi_code"))?
            .to_string();
        if pc_app_id.to_string() != app_id {
            return Err(fail(
                CODE_BAD_PARAM,
                "参数格式错误: push_content.app_id differs from app_id",
            ));
        }
        if store.chars().count() > 128 {
            return Err(fail(
                CODE_BAD_PARAM,
                "参数格式错误: app_poi_code longer than 128",
            ));
        }
        if msg_source != MSG_SOURCE_STORE {
            return Err(fail(
                CODE_BAD_PARAM,
                "参数格式错误: msg_source must be 1 (商家)",
            ));
        }
        let kind = MsgType::from_code(msg_type)
            .ok_or_else(|| fail(CODE_BAD_PARAM, format!("参数格式错误: msg_type {msg_type}")))?;
        let open_user_id = int("open_user_id")?;
        let group_id = int("group_id")?;
        let order_id = int("order_id")?;
        let spu = pc
            .get("app_spu_codes")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut inner = self.lock();
        let app = inner
            .apps
            .get(app_id)
            .ok_or_else(|| fail(CODE_UNKNOWN_APP, "app_id不存在"))?;
        if !app.app.stores.contains(&store) {
            return Err(fail(CODE_UNKNOWN_STORE, "不存在此门店"));
        }
        // The content rules of msg_type (S1's comment on PushContentReq).
        // Meituan's codes for them are not documented; 705 is used.
        if kind.single() == MsgType::OrderCard {
            return Err(fail(
                CODE_BAD_PARAM,
                "订单卡片类型商家只能接收消息，不支持发送",
            ));
        }
        if kind.single() == MsgType::Voice && app.app.b2c {
            return Err(fail(CODE_BAD_PARAM, "b2c不支持语音"));
        }
        if kind.is_group() {
            if group_id.is_none_or(|g| g <= 0) {
                return Err(fail(
                    CODE_MISSING_PARAM,
                    "缺少参数: group_id (群聊消息必传)",
                ));
            }
        } else if open_user_id.is_none_or(|u| u <= 0) {
            return Err(fail(
                CODE_MISSING_PARAM,
                "缺少参数: open_user_id (单聊时必传)",
            ));
        }
        let spu_codes = split_spu_codes(spu);
        let content = if kind.has_content() {
            let cipher_text = pc
                .get("msg_content")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| fail(CODE_MISSING_PARAM, "缺少参数: msg_content"))?;
            let plain = app.cipher.decrypt_exact(cipher_text).map_err(|e| {
                fail(
                    CODE_BAD_PARAM,
                    format!("参数格式错误: msg_content 解密失败: {e}"),
                )
            })?;
            Some(plain)
        } else {
            if spu_codes.is_empty() {
                return Err(fail(CODE_MISSING_PARAM, "缺少参数: app_spu_codes"));
            }
            if spu_codes.len() > MAX_GOODS_PER_CARD {
                return Err(fail(CODE_BAD_PARAM, "商品卡片单次最多传7个商品"));
            }
            None
        };
        if !inner.seen_msg_ids.insert((app_id.to_string(), msg_id)) {
            inner.duplicate_sends += 1;
            return Ok(());
        }
        inner.sent.push(ReceivedMessage {
            app_id: app_id.to_string(),
            app_poi_code: store,
            msg_id,
            msg_type,
            content,
            open_user_id: open_user_id.filter(|_| !kind.is_group()),
            group_id: group_id.filter(|_| kind.is_group()),
            order_id,
            app_spu_codes: spu_codes,
            cts,
        });
        Ok(())
    }
}

/// `wm/IM/getConnectionToken`: classic envelope with `connectionToken`,
/// `userCount` and `appKey`.
async fn get_connection_token(
    State(sb): State<MeituanSandbox>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = RawRequest { uri, headers, body };
    let call = match sb.authenticate(PATH_GET_CONNECTION_TOKEN, &req) {
        Ok(c) => c,
        Err(f) => return classic_error(f),
    };
    let mut inner = sb.lock();
    inner.tokens_issued += 1;
    let n = inner.tokens_issued;
    let user_count = inner
        .failed_user_count
        .get(&call.app_id)
        .copied()
        .unwrap_or(0);
    json_response(json!({"data": {
        "connectionToken": format!("sandbox-conn-{}-{n}-{}", call.app_id, rand::random::<u64>()),
        "userCount": user_count,
        "appKey": format!("sandbox-appkey-{}", call.app_id),
    }}))
}

/// Required, numeric and store checks shared by msgRead and userReadTime.
fn store_and_user(sb: &MeituanSandbox, call: &Call) -> Result<(String, i64), Fail> {
    let store = call
        .params
        .get("app_poi_code")
        .cloned()
        .ok_or_else(|| fail(CODE_MISSING_PARAM, "缺少参数: app_poi_code"))?;
    let user = call
        .params
        .get("open_user_id")
        .ok_or_else(|| fail(CODE_MISSING_PARAM, "缺少参数: open_user_id"))?
        .parse::<i64>()
        .ok()
        .filter(|u| *u > 0)
        .ok_or_else(|| fail(CODE_BAD_PARAM, "参数格式错误: open_user_id"))?;
    let inner = sb.lock();
    let known = inner
        .apps
        .get(&call.app_id)
        .is_some_and(|a| a.app.stores.contains(&store));
    if !known {
        return Err(fail(CODE_UNKNOWN_STORE, "不存在此门店"));
    }
    Ok((store, user))
}

/// `wm/IM/msgRead`: `app_poi_code`, `msg_id`, `open_user_id`; classic
/// `{"data":"ok"}`.
async fn msg_read(
    State(sb): State<MeituanSandbox>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = RawRequest { uri, headers, body };
    let call = match sb.authenticate(PATH_MSG_READ, &req) {
        Ok(c) => c,
        Err(f) => return classic_error(f),
    };
    let result = store_and_user(&sb, &call).and_then(|(store, user)| {
        let msg_id = call
            .params
            .get("msg_id")
            .ok_or_else(|| fail(CODE_MISSING_PARAM, "缺少参数: msg_id"))?
            .parse::<i64>()
            .map_err(|_| fail(CODE_BAD_PARAM, "参数格式错误: msg_id"))?;
        sb.lock().reads.push(ReadMark {
            app_id: call.app_id.clone(),
            app_poi_code: store,
            msg_id,
            open_user_id: user,
        });
        Ok(())
    });
    match result {
        Ok(()) => json_response(json!({"data": "ok"})),
        Err(f) => {
            sb.reject(PATH_MSG_READ, &f);
            classic_error(f)
        }
    }
}

/// `wm/IM/userReadTime` (parameters on `waimaiopen` undocumented; the
/// sandbox takes `app_poi_code` + `open_user_id` and answers the newer
/// gateway's field names).
async fn user_read_time(
    State(sb): State<MeituanSandbox>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = RawRequest { uri, headers, body };
    let result = sb.authenticate(PATH_USER_READ_TIME, &req).and_then(|call| {
        let (store, user) = store_and_user(&sb, &call)?;
        let time = sb
            .lock()
            .read_times
            .get(&(call.app_id.clone(), store.clone(), user))
            .copied();
        Ok(json!({"data": {
            "app_id": call.app_id, "app_poi_code": store, "open_user_id": user,
            "last_read_time": time,
        }}))
    });
    match result {
        Ok(v) => json_response(v),
        Err(f) => classic_error(f),
    }
}

// ---------------------------------------------------------------------------
// Simulated customers
// ---------------------------------------------------------------------------

/// A message a simulated customer (or the store, from Meituan's own app)
/// writes; pushed to imhub as Meituan would.
#[derive(Debug, Clone)]
pub struct CustomerMessage {
    /// The store written to.
    pub app_poi_code: String,
    /// -1 for a customer Meituan does not name.
    pub open_user_id: i64,
    /// Meituan's `msg_type`.
    pub msg_type: i64,
    /// Plain content, encrypted before pushing (ignored for goods cards).
    pub content: String,
    /// The order the message is about.
    pub order_id: Option<i64>,
    /// The group, for group messages.
    pub group_id: Option<i64>,
    /// Goods of a goods card.
    pub app_spu_codes: Option<String>,
    /// 2 = the customer (default), 1 = the store from Meituan's merchant app.
    pub msg_source: i64,
}

impl CustomerMessage {
    /// A customer's text in a single chat.
    pub fn text(app_poi_code: &str, open_user_id: i64, text: &str) -> Self {
        CustomerMessage {
            app_poi_code: app_poi_code.to_string(),
            open_user_id,
            msg_type: MsgType::Text.code(),
            content: text.to_string(),
            order_id: None,
            group_id: None,
            app_spu_codes: None,
            msg_source: MSG_SOURCE_USER,
        }
    }

    /// A customer's text in a group chat.
    pub fn group_text(app_poi_code: &str, group_id: i64, open_user_id: i64, text: &str) -> Self {
        CustomerMessage {
            msg_type: MsgType::GroupText.code(),
            group_id: Some(group_id),
            ..Self::text(app_poi_code, open_user_id, text)
        }
    }

    /// An order card about `order_id` (its content is JSON).
    pub fn order_card(app_poi_code: &str, open_user_id: i64, order_id: i64) -> Self {
        CustomerMessage {
            msg_type: MsgType::OrderCard.code(),
            content: json!({"order_id": order_id}).to_string(),
            order_id: Some(order_id),
            ..Self::text(app_poi_code, open_user_id, "")
        }
    }

    /// Names the order the conversation is about.
    pub fn about_order(mut self, order_id: i64) -> Self {
        self.order_id = Some(order_id);
        self
    }

    /// Marks the message as written by the store in Meituan's own app.
    pub fn from_store(mut self) -> Self {
        self.msg_source = MSG_SOURCE_STORE;
        self
    }
}

/// How to deliver a simulated push; the default is what Meituan does.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Sign with a wrong secret.
    pub wrong_signature: bool,
    /// Use this `timestamp` instead of now (for stale pushes).
    pub timestamp: Option<i64>,
    /// Put this text as `msg_content` instead of the encrypted content.
    pub raw_msg_content: Option<String>,
    /// Encode values only once (the default encodes twice, as Meituan does).
    pub single_encoding: bool,
    /// Sign over this URL instead of the URL pushed to (the push URL as
    /// registered, when imhub sits behind a proxy).
    pub registered_url: Option<String>,
}

/// What imhub answered to a simulated push.
#[derive(Debug, Clone)]
pub struct PushResult {
    /// HTTP status imhub answered.
    pub status: u16,
    /// Body imhub answered.
    pub body: String,
    /// Meituan's `msg_id` of the pushed message.
    pub msg_id: i64,
}

impl MeituanSandbox {
    /// Builds a push body as Meituan sends it: `app_id`, `timestamp`,
    /// `biz_type`, `push_content` (encrypted `msg_content`) and `sig` over
    /// `signed_url`, each value URL-encoded and then form-encoded.
    pub fn build_push(
        &self,
        app_id: &str,
        signed_url: &str,
        msg: &CustomerMessage,
        opts: &PushOptions,
    ) -> Result<(String, i64), SandboxError> {
        let mut inner = self.lock();
        let msg_id = inner.next_msg_id;
        inner.next_msg_id += 1;
        let app = inner
            .apps
            .get(app_id)
            .ok_or_else(|| SandboxError::UnknownApp(app_id.to_string()))?;
        let kind = MsgType::from_code(msg.msg_type);
        let msg_content = match (&opts.raw_msg_content, kind) {
            (Some(raw), _) => raw.clone(),
            (None, Some(k)) if !k.has_content() => String::new(),
            (None, _) => app.cipher.encrypt(&msg.content),
        };
        let now = unix_now();
        let app_id_value = app_id
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(app_id));
        let mut pc = json!({
            "app_id": app_id_value,
            "app_poi_code": msg.app_poi_code,
            "msg_id": msg_id,
            "msg_content": msg_content,
            "msg_source": msg.msg_source,
            "msg_type": msg.msg_type,
            "cts": now,
            "open_user_id": msg.open_user_id,
        });
        if let Some(o) = msg.order_id {
            pc["order_id"] = json!(o);
        }
        if let Some(g) = msg.group_id {
            pc["group_id"] = json!(g);
        }
        if let Some(s) = &msg.app_spu_codes {
            pc["app_spu_codes"] = json!(s);
        }
        let biz_type = if msg.group_id.is_some() || kind.is_some_and(MsgType::is_group) {
            "2"
        } else {
            "1"
        };
        let push_content = pc.to_string();
        let timestamp = opts.timestamp.unwrap_or(now).to_string();
        let mut params = Params::new();
        params.insert("app_id".into(), app_id.to_string());
        params.insert("timestamp".into(), timestamp.clone());
        params.insert("biz_type".into(), biz_type.into());
        params.insert("push_content".into(), push_content.clone());
        let secret = if opts.wrong_signature {
            format!("{}x", app.app.app_secret)
        } else {
            app.app.app_secret.clone()
        };
        let sig = sign::sign(signed_url, &params, &secret);
        let body = encode_push_body(
            &[
                ("app_id", app_id),
                ("timestamp", &timestamp),
                ("biz_type", biz_type),
                ("push_content", &push_content),
                ("sig", &sig),
            ],
            !opts.single_encoding,
        );
        Ok((body, msg_id))
    }

    /// Pushes a correctly signed message to imhub's webhook, signed over
    /// `webhook_url` itself.
    pub async fn push_message(
        &self,
        app_id: &str,
        webhook_url: &str,
        msg: &CustomerMessage,
    ) -> Result<PushResult, SandboxError> {
        self.push_message_with(app_id, webhook_url, msg, &PushOptions::default())
            .await
    }

    /// Pushes a message whose signature is wrong (for tests).
    pub async fn push_with_wrong_signature(
        &self,
        app_id: &str,
        webhook_url: &str,
        msg: &CustomerMessage,
    ) -> Result<PushResult, SandboxError> {
        let opts = PushOptions {
            wrong_signature: true,
            ..PushOptions::default()
        };
        self.push_message_with(app_id, webhook_url, msg, &opts)
            .await
    }

    /// Pushes a message with explicit options (stale, undecryptable, …).
    pub async fn push_message_with(
        &self,
        app_id: &str,
        webhook_url: &str,
        msg: &CustomerMessage,
        opts: &PushOptions,
    ) -> Result<PushResult, SandboxError> {
        let signed_url = opts
            .registered_url
            .clone()
            .unwrap_or_else(|| webhook_url.to_string());
        let signed_url = signed_url.split('?').next().unwrap_or_default().to_string();
        let (body, msg_id) = self.build_push(app_id, &signed_url, msg, opts)?;
        let response = reqwest::Client::new()
            .post(webhook_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| SandboxError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| SandboxError::Http(e.to_string()))?;
        Ok(PushResult {
            status,
            body,
            msg_id,
        })
    }
}

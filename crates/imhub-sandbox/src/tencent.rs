//! The Tencent Cloud IM part of the sandbox: the REST API under
//! `/v4/{service}/{command}` with the reference's envelope, UserSig checks,
//! admin-only access, error codes, size and rate limits, per-account roaming
//! history, and simulated customers whose messages reach imhub as signed
//! third-party callbacks.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicI64, Ordering},
    },
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    routing::post,
};
use imhub_tencent::{
    SENDMSG_RATE_PER_SEC, SERVER_MAX_MESSAGE_BYTES,
    c2c::{BATCHSENDMSG_MAX_RECEIVERS, MAX_MSG_LIFE_TIME, MSG_FLAG_RECALLED},
    callback::{
        C2C_AFTER_REPORT, C2C_AFTER_SEND, CallbackQuery, GROUP_AFTER_RECALL, GROUP_AFTER_SEND,
        callback_sign,
    },
    group::{
        CREATE_GROUP_MAX_MEMBERS, GROUP_HISTORY_MAX_PAGE, GROUP_RECALL_MAX_SEQS,
        GROUP_SEND_RATE_PER_GROUP, SEND_GROUP_MSG_MAX_TO_ACCOUNT,
    },
    usersig::{MAX_IDENTIFIER_BYTES, now_secs, verify_usersig},
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Window in which a C2C send with the same (sender, MsgSeq, MsgRandom,
/// content) is recognised as a duplicate.
pub const C2C_DEDUP_SECS: u64 = 120;
/// Window for group sends with the same content and `Random`.
pub const GROUP_DEDUP_SECS: u64 = 300;

/// How the emulated app is set up.
#[derive(Debug, Clone)]
pub struct TencentSandboxConfig {
    pub sdkappid: u64,
    pub key: String,
    /// The App admin identifier; every REST call must be made as it.
    pub admin: String,
    /// The server's message size limit (93000 / 80002 above it).
    pub max_message_bytes: usize,
    /// Requests per second per API (60007 above it).
    pub rate_per_sec: u32,
    /// Where REST sends are echoed as `C2C.CallbackAfterSendMsg` /
    /// `Group.CallbackAfterSendMsg` (`OptPlatform=RESTAPI`), when set.
    pub callback_url: Option<String>,
    /// The callback authentication Token; when set, callbacks carry `Sign`.
    pub callback_token: Option<String>,
}

/// One stored C2C message.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxC2CMessage {
    pub from: String,
    pub to: String,
    pub msg_seq: u32,
    pub msg_random: u32,
    pub msg_time: u64,
    pub msg_key: String,
    pub body: Value,
    pub cloud_custom_data: String,
    /// `SyncOtherMachine` was not 2: also in the sender's roaming.
    pub in_sender_roaming: bool,
    pub recalled: bool,
    pub peer_read: bool,
    /// Came through the REST API (not from a simulated customer).
    pub via_rest: bool,
    /// The `MsgLifeTime` the sender asked for, as sent.
    pub msg_life_time: Option<i64>,
}

/// One stored group message.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxGroupMessage {
    pub from: String,
    pub msg_seq: u64,
    pub random: u32,
    pub msg_time: u64,
    pub body: Value,
    pub recalled: bool,
}

/// A group as the sandbox keeps it.
#[derive(Debug, Clone, Default)]
pub struct SandboxGroup {
    pub group_type: String,
    pub name: String,
    pub owner: Option<String>,
    pub members: BTreeSet<String>,
    pub messages: Vec<SandboxGroupMessage>,
}

/// A read report made through `admin_set_msg_read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRead {
    pub report_account: String,
    pub peer_account: String,
    pub read_time: u64,
}

/// The calls of one API in one Unix second, as the per-second limit counts
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondCount {
    pub second: u64,
    /// Every call counted, accepted or not.
    pub calls: u32,
    /// Of those, the ones answered 60007 (over the limit).
    pub refused: u32,
}

/// What a callback POST to imhub answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackDelivery {
    pub status: u16,
    pub body: String,
}

type DedupKey = (String, u32, u32, String);

#[derive(Debug, Default)]
struct Inner {
    accounts: BTreeMap<String, (Option<String>, Option<String>)>,
    c2c: Vec<SandboxC2CMessage>,
    /// (sender, MsgSeq, MsgRandom, content digest) → (time, MsgKey).
    dedup: HashMap<DedupKey, (u64, String)>,
    groups: BTreeMap<String, SandboxGroup>,
    next_group: u64,
    reads: Vec<SandboxRead>,
    rate: HashMap<String, (u64, u32)>,
    group_rate: HashMap<String, (u64, u32)>,
    callbacks: Vec<(String, Value, CallbackDelivery)>,
    /// Requests answered 60007 (over the per-second limit), by API path.
    rate_limited: HashMap<String, u64>,
    /// Requests counted against the per-second limit, by API path and Unix
    /// second: (all of them, those answered 60007).
    per_second: BTreeMap<(String, u64), (u32, u32)>,
    /// Error answers, by `ErrorCode`.
    refusals: HashMap<i64, u64>,
}

/// The sandbox's Tencent state: cloneable, inspectable by tests.
#[derive(Debug, Clone)]
pub struct TencentSandbox {
    config: Arc<TencentSandboxConfig>,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
    /// Seconds the server's clock is ahead of the client's when it checks a
    /// UserSig's expiry (clock skew, the real-world cause of 70001 for a sig
    /// the client still believes valid).
    usersig_skew: Arc<AtomicI64>,
}

/// An error answer: `ActionStatus` FAIL with Tencent's code.
type ApiResult = Result<Value, (i64, String)>;

fn fail(code: i64, info: impl Into<String>) -> (i64, String) {
    (code, info.into())
}

impl TencentSandbox {
    /// An app with the given SDKAppID, key and admin (the admin is imported).
    pub fn new(sdkappid: u64, key: &str, admin: &str) -> Self {
        Self::with_config(TencentSandboxConfig {
            sdkappid,
            key: key.into(),
            admin: admin.into(),
            max_message_bytes: SERVER_MAX_MESSAGE_BYTES,
            rate_per_sec: SENDMSG_RATE_PER_SEC,
            callback_url: None,
            callback_token: None,
        })
    }

    /// An app with every setting given.
    pub fn with_config(config: TencentSandboxConfig) -> Self {
        let mut inner = Inner::default();
        inner.accounts.insert(config.admin.clone(), (None, None));
        TencentSandbox {
            config: Arc::new(config),
            inner: Arc::new(Mutex::new(inner)),
            http: reqwest::Client::new(),
            usersig_skew: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The app's settings.
    pub fn config(&self) -> &TencentSandboxConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Imports an account without a REST call (test set-up).
    pub fn import_account(&self, user_id: &str) {
        self.lock().accounts.insert(user_id.into(), (None, None));
    }

    /// Whether an account exists.
    pub fn has_account(&self, user_id: &str) -> bool {
        self.lock().accounts.contains_key(user_id)
    }

    /// Moves the clock the server checks UserSig expiry with `secs` ahead of
    /// the real one (negative: behind), as a skewed server clock would.
    pub fn set_usersig_clock_skew(&self, secs: i64) {
        self.usersig_skew.store(secs, Ordering::Relaxed);
    }

    /// How many requests to an API (`openim/sendmsg`) were refused with
    /// 60007 for exceeding the per-second limit.
    pub fn rate_limited(&self, path: &str) -> u64 {
        self.lock().rate_limited.get(path).copied().unwrap_or(0)
    }

    /// Every Unix second in which an API (`openim/sendmsg`) was called, in
    /// order, with the calls counted against its per-second limit that
    /// second; a test's judge of whether a client kept to the limit.
    pub fn calls_per_second(&self, path: &str) -> Vec<SecondCount> {
        self.lock()
            .per_second
            .iter()
            .filter(|((p, _), _)| p == path)
            .map(|((_, second), (calls, refused))| SecondCount {
                second: *second,
                calls: *calls,
                refused: *refused,
            })
            .collect()
    }

    /// How many requests were answered with this `ErrorCode` (70001: an
    /// expired UserSig).
    pub fn refusals(&self, code: i64) -> u64 {
        self.lock().refusals.get(&code).copied().unwrap_or(0)
    }

    /// Puts `count` messages of a past conversation into the roaming
    /// history without callbacks (test set-up): alternately from `customer`
    /// and from `account`, `per_second` a second, the first at `start`
    /// (Unix seconds). Both accounts are imported. Returns them oldest first.
    pub fn seed_history(
        &self,
        customer: &str,
        account: &str,
        count: usize,
        start: u64,
        per_second: usize,
    ) -> Vec<SandboxC2CMessage> {
        let mut inner = self.lock();
        inner.accounts.entry(customer.into()).or_default();
        inner.accounts.entry(account.into()).or_default();
        let per_second = per_second.max(1);
        let mut seeded = Vec::with_capacity(count);
        for i in 0..count {
            let (from, to) = if i % 2 == 0 {
                (customer, account)
            } else {
                (account, customer)
            };
            let msg_seq = u32::try_from(i % (u32::MAX as usize)).unwrap_or(0) + 1;
            let msg_random: u32 = rand::random();
            let msg_time = start + (i / per_second) as u64;
            let m = SandboxC2CMessage {
                from: from.into(),
                to: to.into(),
                msg_seq,
                msg_random,
                msg_time,
                msg_key: format!("{msg_seq}_{msg_random}_{msg_time}"),
                body: json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("历史消息 {i}")}}]),
                cloud_custom_data: String::new(),
                in_sender_roaming: true,
                recalled: false,
                peer_read: false,
                via_rest: false,
                msg_life_time: None,
            };
            inner.c2c.push(m.clone());
            seeded.push(m);
        }
        seeded
    }

    /// Every C2C message stored, in arrival order.
    pub fn c2c_messages(&self) -> Vec<SandboxC2CMessage> {
        self.lock().c2c.clone()
    }

    /// C2C messages an account received.
    pub fn received_by(&self, user_id: &str) -> Vec<SandboxC2CMessage> {
        self.lock()
            .c2c
            .iter()
            .filter(|m| m.to == user_id)
            .cloned()
            .collect()
    }

    /// Recalled C2C messages.
    pub fn recalled_c2c(&self) -> Vec<SandboxC2CMessage> {
        self.lock()
            .c2c
            .iter()
            .filter(|m| m.recalled)
            .cloned()
            .collect()
    }

    /// A group's state.
    pub fn group(&self, group_id: &str) -> Option<SandboxGroup> {
        self.lock().groups.get(group_id).cloned()
    }

    /// Read reports received.
    pub fn reads(&self) -> Vec<SandboxRead> {
        self.lock().reads.clone()
    }

    /// Callbacks posted to imhub: (query, body, answer).
    pub fn callbacks(&self) -> Vec<(String, Value, CallbackDelivery)> {
        self.lock().callbacks.clone()
    }

    /// Creates a group without a REST call (test set-up); returns its id.
    pub fn create_group_direct(&self, group_id: &str, members: &[&str]) -> String {
        let mut inner = self.lock();
        for m in members {
            inner.accounts.entry(m.to_string()).or_default();
        }
        let g = inner.groups.entry(group_id.into()).or_default();
        g.group_type = "Public".into();
        g.name = group_id.into();
        g.members.extend(members.iter().map(|m| m.to_string()));
        group_id.into()
    }

    fn callback_query(&self, command: &str, platform: &str, sign: Option<String>) -> String {
        let now = now_secs().to_string();
        let sign = match (&self.config.callback_token, sign) {
            (_, Some(forced)) => Some(forced),
            (Some(token), None) => Some(callback_sign(token, &now)),
            (None, None) => None,
        };
        CallbackQuery {
            sdk_appid: Some(self.config.sdkappid.to_string()),
            callback_command: Some(command.into()),
            contenttype: Some("json".into()),
            client_ip: Some("127.0.0.1".into()),
            opt_platform: Some(platform.into()),
            request_time: sign.as_ref().map(|_| now),
            sign,
        }
        .to_query_string()
    }

    async fn post_callback(
        &self,
        url: &str,
        query: String,
        body: Value,
    ) -> Result<CallbackDelivery, reqwest::Error> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let resp = self
            .http
            .post(format!("{url}{sep}{query}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let delivery = CallbackDelivery {
            status: resp.status().as_u16(),
            body: resp.text().await?,
        };
        self.lock().callbacks.push((query, body, delivery.clone()));
        Ok(delivery)
    }

    fn store_customer_c2c(&self, from: &str, to: &str, body: Value) -> SandboxC2CMessage {
        let mut inner = self.lock();
        inner.accounts.entry(from.into()).or_default();
        let msg = SandboxC2CMessage {
            from: from.into(),
            to: to.into(),
            msg_seq: rand::random::<u16>() as u32 + 1,
            msg_random: rand::random(),
            msg_time: now_secs(),
            msg_key: String::new(),
            body,
            cloud_custom_data: String::new(),
            in_sender_roaming: true,
            recalled: false,
            peer_read: false,
            via_rest: false,
            msg_life_time: None,
        };
        let msg = SandboxC2CMessage {
            msg_key: format!("{}_{}_{}", msg.msg_seq, msg.msg_random, msg.msg_time),
            ..msg
        };
        inner.c2c.push(msg.clone());
        msg
    }

    fn c2c_callback_body(m: &SandboxC2CMessage) -> Value {
        json!({
            "CallbackCommand": C2C_AFTER_SEND,
            "From_Account": m.from,
            "To_Account": m.to,
            "MsgSeq": m.msg_seq,
            "MsgRandom": m.msg_random,
            "MsgTime": m.msg_time,
            "MsgKey": m.msg_key,
            "OnlineOnlyFlag": 0,
            "MsgBody": m.body,
            "CloudCustomData": m.cloud_custom_data,
            "SendMsgResult": 0,
            "ErrorInfo": "send msg succeed",
            "UnreadMsgNum": 1
        })
    }

    /// A simulated customer writes `text` to a merchant account: the message
    /// is stored (roaming history) and POSTed to `webhook_url` as a signed
    /// `C2C.CallbackAfterSendMsg`.
    pub async fn customer_sends_text(
        &self,
        webhook_url: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<(SandboxC2CMessage, CallbackDelivery), reqwest::Error> {
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]);
        self.customer_sends(webhook_url, from, to, body).await
    }

    /// Like [`TencentSandbox::customer_sends_text`] with any `MsgBody`.
    pub async fn customer_sends(
        &self,
        webhook_url: &str,
        from: &str,
        to: &str,
        msg_body: Value,
    ) -> Result<(SandboxC2CMessage, CallbackDelivery), reqwest::Error> {
        let m = self.store_customer_c2c(from, to, msg_body);
        let query = self.callback_query(C2C_AFTER_SEND, "iOS", None);
        let d = self
            .post_callback(webhook_url, query, Self::c2c_callback_body(&m))
            .await?;
        Ok((m, d))
    }

    /// The same customer message with a wrong `Sign`, for refusal tests.
    pub async fn customer_sends_with_bad_sign(
        &self,
        webhook_url: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<CallbackDelivery, reqwest::Error> {
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]);
        let m = self.store_customer_c2c(from, to, body);
        let query = self.callback_query(C2C_AFTER_SEND, "iOS", Some("0".repeat(64)));
        self.post_callback(webhook_url, query, Self::c2c_callback_body(&m))
            .await
    }

    /// A group member writes `text` in a group: stored and POSTed as a
    /// signed `Group.CallbackAfterSendMsg`.
    pub async fn member_sends_group_text(
        &self,
        webhook_url: &str,
        group_id: &str,
        from: &str,
        text: &str,
    ) -> Result<Option<(SandboxGroupMessage, CallbackDelivery)>, reqwest::Error> {
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]);
        let stored = {
            let mut inner = self.lock();
            inner.accounts.entry(from.into()).or_default();
            let Some(g) = inner.groups.get_mut(group_id) else {
                return Ok(None);
            };
            g.members.insert(from.into());
            let m = SandboxGroupMessage {
                from: from.into(),
                msg_seq: g.messages.len() as u64 + 1,
                random: rand::random(),
                msg_time: now_secs(),
                body: body.clone(),
                recalled: false,
            };
            g.messages.push(m.clone());
            (m, g.group_type.clone())
        };
        let (m, group_type) = stored;
        let query = self.callback_query(GROUP_AFTER_SEND, "Android", None);
        let cb = group_callback_body(group_id, &group_type, &m, from);
        let d = self.post_callback(webhook_url, query, cb).await?;
        Ok(Some((m, d)))
    }

    /// A group member (or the admin, through its own app) recalls one of
    /// the group's messages: it is marked recalled and a signed
    /// `Group.CallbackAfterRecallMsg` is POSTed to `webhook_url`. `None` when
    /// the group or an unrecalled message with that `MsgSeq` does not exist.
    pub async fn member_recalls_group_message(
        &self,
        webhook_url: &str,
        group_id: &str,
        operator: &str,
        msg_seq: u64,
    ) -> Result<Option<CallbackDelivery>, reqwest::Error> {
        let group_type = {
            let mut inner = self.lock();
            let Some(g) = inner.groups.get_mut(group_id) else {
                return Ok(None);
            };
            let Some(m) = g
                .messages
                .iter_mut()
                .find(|m| m.msg_seq == msg_seq && !m.recalled)
            else {
                return Ok(None);
            };
            m.recalled = true;
            g.group_type.clone()
        };
        let query = self.callback_query(GROUP_AFTER_RECALL, "Android", None);
        let body = group_recall_body(group_id, &group_type, &[msg_seq], operator);
        self.post_callback(webhook_url, query, body).await.map(Some)
    }

    /// A simulated customer reads their conversation with `account`: every
    /// message from `account` to them becomes read by the peer, and a signed
    /// `C2C.CallbackAfterMsgReport` (`Report_Account` = the customer,
    /// `LastReadTime` = now) is POSTed to `webhook_url`.
    pub async fn customer_reads(
        &self,
        webhook_url: &str,
        customer: &str,
        account: &str,
    ) -> Result<CallbackDelivery, reqwest::Error> {
        let now = now_secs();
        let unread = {
            let mut inner = self.lock();
            for m in inner
                .c2c
                .iter_mut()
                .filter(|m| m.from == account && m.to == customer && m.msg_time <= now)
            {
                m.peer_read = true;
            }
            inner
                .c2c
                .iter()
                .filter(|m| m.to == customer && !m.peer_read && !m.recalled)
                .count()
        };
        let query = self.callback_query(C2C_AFTER_REPORT, "iOS", None);
        let body = read_report_body(customer, account, now, unread);
        self.post_callback(webhook_url, query, body).await
    }

    fn echo(&self, command: &'static str, body: Value) {
        if let Some(url) = self.config.callback_url.clone() {
            let this = self.clone();
            tokio::spawn(async move {
                let query = this.callback_query(command, "RESTAPI", None);
                if let Err(e) = this.post_callback(&url, query, body).await {
                    tracing::debug!(error = %e, "tencent sandbox echo callback failed");
                }
            });
        }
    }

    fn echo_c2c(&self, m: &SandboxC2CMessage) {
        if let Some(url) = self.config.callback_url.clone() {
            let this = self.clone();
            let body = Self::c2c_callback_body(m);
            tokio::spawn(async move {
                let query = this.callback_query(C2C_AFTER_SEND, "RESTAPI", None);
                if let Err(e) = this.post_callback(&url, query, body).await {
                    tracing::debug!(error = %e, "tencent sandbox echo callback failed");
                }
            });
        }
    }

    fn echo_group(&self, group_id: &str, group_type: &str, m: &SandboxGroupMessage) {
        if let Some(url) = self.config.callback_url.clone() {
            let this = self.clone();
            let body = group_callback_body(group_id, group_type, m, &self.config.admin);
            tokio::spawn(async move {
                let query = this.callback_query(GROUP_AFTER_SEND, "RESTAPI", None);
                if let Err(e) = this.post_callback(&url, query, body).await {
                    tracing::debug!(error = %e, "tencent sandbox echo callback failed");
                }
            });
        }
    }
}

/// `Group.CallbackAfterRecallMsg` as INTL `撤回群消息之后回调` shows it,
/// `EventTime` a string of milliseconds as in its example.
fn group_recall_body(group_id: &str, group_type: &str, seqs: &[u64], operator: &str) -> Value {
    json!({
        "CallbackCommand": GROUP_AFTER_RECALL,
        "Operator_Account": operator,
        "Type": group_type,
        "GroupId": group_id,
        "MsgSeqList": seqs.iter().map(|s| json!({"MsgSeq": s})).collect::<Vec<_>>(),
        "EventTime": (now_secs() * 1000).to_string()
    })
}

/// `C2C.CallbackAfterMsgReport` as INTL `单聊消息已读上报后回调` shows it.
fn read_report_body(report: &str, peer: &str, read_time: u64, unread: usize) -> Value {
    json!({
        "CallbackCommand": C2C_AFTER_REPORT,
        "Report_Account": report,
        "Peer_Account": peer,
        "LastReadTime": read_time,
        "UnreadMsgNum": unread
    })
}

fn group_callback_body(
    group_id: &str,
    group_type: &str,
    m: &SandboxGroupMessage,
    operator: &str,
) -> Value {
    json!({
        "CallbackCommand": GROUP_AFTER_SEND,
        "GroupId": group_id,
        "Type": group_type,
        "From_Account": m.from,
        "Operator_Account": operator,
        "Random": m.random,
        "OnlineOnlyFlag": 0,
        "MsgBody": m.body,
        "CloudCustomData": "",
        "EventTime": m.msg_time * 1000,
        "MsgSeq": m.msg_seq,
        "MsgTime": m.msg_time
    })
}

/// The REST API: `POST /v4/{service}/{command}`.
pub fn router(state: TencentSandbox) -> Router {
    Router::new()
        .route("/v4/{service}/{command}", post(handle))
        .with_state(state)
}

async fn handle(
    State(sb): State<TencentSandbox>,
    Path((service, command)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Json<Value> {
    let path = format!("{service}/{command}");
    let answer = dispatch(&sb, &path, query.as_deref().unwrap_or(""), &body);
    Json(match answer {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                obj.entry("ActionStatus").or_insert(json!("OK"));
                obj.entry("ErrorCode").or_insert(json!(0));
                obj.entry("ErrorInfo").or_insert(json!(""));
            }
            v
        }
        Err((code, info)) => {
            *sb.lock().refusals.entry(code).or_default() += 1;
            json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})
        }
    })
}

/// The code a malformed body gets, by service: 90001 for one-to-one
/// messages, 10011 ("解析 JSON 包体失败") for groups — 10004 is a parameter
/// that parsed but is invalid (reference §5.2, INTL 错误码 群组错误码).
fn parse_error_code(path: &str) -> i64 {
    if path.starts_with("openim/") {
        90001
    } else if path.starts_with("group_open_http_svc/") {
        10011
    } else {
        60003
    }
}

fn dispatch(sb: &TencentSandbox, path: &str, query: &str, body: &[u8]) -> ApiResult {
    let cfg = &sb.config;
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let known = [
        "openim/sendmsg",
        "openim/batchsendmsg",
        "openim/admin_getroammsg",
        "openim/admin_msgwithdraw",
        "openim/admin_set_msg_read",
        "im_open_login_svc/account_import",
        "group_open_http_svc/create_group",
        "group_open_http_svc/send_group_msg",
        "group_open_http_svc/group_msg_recall",
        "group_open_http_svc/group_msg_get_simple",
    ];
    if !known.contains(&path) {
        return Err(fail(60009, format!("request resource error: v4/{path}")));
    }
    let Some(app) = params.get("sdkappid") else {
        return Err(fail(60012, "sdkappid missing from the URL"));
    };
    let app: u64 = app
        .parse()
        .map_err(|_| fail(60002, "HTTP parse error: sdkappid is not an integer"))?;
    if app != cfg.sdkappid {
        return Err(fail(70020, "SDKAppID not found"));
    }
    if params.get("contenttype").map(String::as_str) != Some("json") {
        return Err(fail(60002, "HTTP parse error: contenttype must be json"));
    }
    if params
        .get("random")
        .and_then(|r| r.parse::<u32>().ok())
        .is_none()
    {
        return Err(fail(
            60002,
            "HTTP parse error: random must be a 32-bit unsigned integer",
        ));
    }
    let identifier = params.get("identifier").cloned().unwrap_or_default();
    let usersig = params.get("usersig").cloned().unwrap_or_default();
    let sig_now = now_secs().saturating_add_signed(sb.usersig_skew.load(Ordering::Relaxed));
    if let Err(e) = verify_usersig(&usersig, cfg.sdkappid, &cfg.key, &identifier, sig_now) {
        return Err(fail(e.server_code(), e.to_string()));
    }
    if identifier != cfg.admin {
        return Err(fail(60010, "the request needs App admin permission"));
    }
    {
        let mut inner = sb.lock();
        let now = now_secs();
        let slot = inner.rate.entry(path.to_string()).or_insert((now, 0));
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 += 1;
        let over = slot.1 > cfg.rate_per_sec;
        let count = inner.per_second.entry((path.to_string(), now)).or_default();
        count.0 += 1;
        if over {
            count.1 += 1;
            *inner.rate_limited.entry(path.to_string()).or_default() += 1;
            return Err(fail(60007, "REST API call frequency over limit"));
        }
    }
    if body.is_empty() {
        return Err(fail(
            parse_error_code(path),
            "request body must not be empty",
        ));
    }
    let req: Value = serde_json::from_slice(body).map_err(|_| {
        fail(
            parse_error_code(path),
            "Fail to Parse json data of body, Please check it",
        )
    })?;
    let Some(req) = req.as_object() else {
        return Err(fail(parse_error_code(path), "body must be a JSON object"));
    };
    match path {
        "openim/sendmsg" => sendmsg(sb, req),
        "openim/batchsendmsg" => batchsendmsg(sb, req),
        "openim/admin_getroammsg" => getroammsg(sb, req),
        "openim/admin_msgwithdraw" => msgwithdraw(sb, req),
        "openim/admin_set_msg_read" => set_msg_read(sb, req),
        "im_open_login_svc/account_import" => account_import(sb, req),
        "group_open_http_svc/create_group" => create_group(sb, req),
        "group_open_http_svc/send_group_msg" => send_group_msg(sb, req),
        "group_open_http_svc/group_msg_recall" => group_msg_recall(sb, req),
        _ => group_msg_get_simple(sb, req),
    }
}

type Obj = Map<String, Value>;

fn opt_str<'a>(req: &'a Obj, key: &str, code: i64) -> Result<Option<&'a str>, (i64, String)> {
    match req.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(fail(code, format!("{key} must be a String"))),
    }
}

fn req_str<'a>(req: &'a Obj, key: &str, code: i64) -> Result<&'a str, (i64, String)> {
    opt_str(req, key, code)?.ok_or_else(|| fail(code, format!("{key} is missing")))
}

fn opt_int(req: &Obj, key: &str, code: i64) -> Result<Option<i64>, (i64, String)> {
    match req.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| fail(code, format!("{key} must be an Integer"))),
    }
}

fn u32_field(req: &Obj, key: &str, code: i64) -> Result<u32, (i64, String)> {
    req.get(key)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            fail(
                code,
                format!("{key} is missing or not a 32-bit unsigned Integer"),
            )
        })
}

fn nonempty_str(c: &Obj, key: &str) -> bool {
    c.get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn is_int(c: &Obj, key: &str) -> bool {
    c.get(key).is_some_and(|v| v.as_i64().is_some())
}

fn flag_is_2(c: &Obj, key: &str) -> bool {
    c.get(key).and_then(Value::as_i64) == Some(2)
}

fn strings_if_present(c: &Obj, keys: &[&str]) -> bool {
    keys.iter().all(|k| c.get(*k).is_none_or(Value::is_string))
}

/// Checks a `MsgBody` against the element formats, REST senders' required
/// fields, and at most one `TIMCustomElem`.
fn check_msg_body(body: Option<&Value>, not_array: i64, bad: i64) -> Result<(), (i64, String)> {
    let Some(items) = body.and_then(Value::as_array) else {
        return Err(fail(not_array, "MsgBody must be an Array"));
    };
    if items.is_empty() {
        return Err(fail(bad, "MsgBody must not be empty"));
    }
    let mut customs = 0;
    for (i, item) in items.iter().enumerate() {
        let (Some(t), Some(c)) = (
            item.get("MsgType").and_then(Value::as_str),
            item.get("MsgContent").and_then(Value::as_object),
        ) else {
            return Err(fail(
                bad,
                format!("MsgBody[{i}] needs MsgType and MsgContent"),
            ));
        };
        let ok = match t {
            "TIMTextElem" => c.get("Text").is_some_and(Value::is_string),
            "TIMLocationElem" => {
                c.get("Latitude").is_some_and(Value::is_number)
                    && c.get("Longitude").is_some_and(Value::is_number)
                    && strings_if_present(c, &["Desc"])
            }
            "TIMFaceElem" => is_int(c, "Index") && strings_if_present(c, &["Data"]),
            "TIMCustomElem" => {
                customs += 1;
                strings_if_present(c, &["Data", "Desc", "Ext", "Sound"])
            }
            "TIMSoundElem" => {
                nonempty_str(c, "Url") && nonempty_str(c, "UUID") && flag_is_2(c, "Download_Flag")
            }
            "TIMFileElem" => {
                nonempty_str(c, "Url") && nonempty_str(c, "UUID") && flag_is_2(c, "Download_Flag")
            }
            "TIMImageElem" => {
                nonempty_str(c, "UUID")
                    && c.get("ImageInfoArray")
                        .and_then(Value::as_array)
                        .is_some_and(|a| {
                            !a.is_empty()
                                && a.iter().all(|x| {
                                    x.as_object().is_some_and(|x| {
                                        nonempty_str(x, "URL")
                                            && is_int(x, "Width")
                                            && is_int(x, "Height")
                                            && is_int(x, "Type")
                                    })
                                })
                        })
            }
            "TIMVideoFileElem" => {
                nonempty_str(c, "VideoUrl")
                    && nonempty_str(c, "VideoUUID")
                    && nonempty_str(c, "ThumbUrl")
                    && nonempty_str(c, "ThumbUUID")
                    && is_int(c, "ThumbWidth")
                    && is_int(c, "ThumbHeight")
                    && flag_is_2(c, "VideoDownloadFlag")
                    && flag_is_2(c, "ThumbDownloadFlag")
            }
            _ => false,
        };
        if !ok {
            return Err(fail(
                bad,
                format!("MsgBody[{i}] ({t}) is not per the message format"),
            ));
        }
    }
    if customs > 1 {
        return Err(fail(bad, "at most one TIMCustomElem per message"));
    }
    Ok(())
}

fn body_bytes(body: &Value, cloud: Option<&str>) -> usize {
    body.to_string().len() + cloud.map_or(0, str::len)
}

fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

fn check_push_info(req: &Obj) -> Result<(), (i64, String)> {
    match req.get("OfflinePushInfo") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(fail(90043, "OfflinePushInfo is not per format")),
    }
}

fn string_array(req: &Obj, key: &str) -> Option<Vec<String>> {
    req.get(key)?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `v4/openim/sendmsg`: answers only the codes its own page lists
/// (reference §3.1). 90004 and 90008 are batchsendmsg's: here a sender that
/// is not a String is 20003 (sender invalid) and a `MsgSeq` that is not a
/// 32-bit unsigned Integer is 20001 (request packet invalid).
fn sendmsg(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let sync = opt_int(req, "SyncOtherMachine", 90031)?;
    let from = opt_str(req, "From_Account", 20003)?
        .unwrap_or(&sb.config.admin)
        .to_string();
    let to = req_str(req, "To_Account", 90003)?.to_string();
    let life = opt_int(req, "MsgLifeTime", 90044)?;
    if life.is_some_and(|l| l < 0) {
        return Err(fail(90026, "bad offline retention (max 7 days)"));
    }
    // Above 604800 Tencent keeps the message for 7 days; nothing to store here.
    debug_assert!(life.is_none_or(|l| l >= 0) && MAX_MSG_LIFE_TIME == 604_800);
    let random = u32_field(req, "MsgRandom", 90005)?;
    let seq = match req.get("MsgSeq") {
        None => None,
        Some(_) => Some(u32_field(req, "MsgSeq", 20001)?),
    };
    opt_int(req, "MsgTimeStamp", 90006)?;
    check_msg_body(req.get("MsgBody"), 90007, 90002)?;
    check_push_info(req)?;
    let cloud = opt_str(req, "CloudCustomData", 90010)?.map(str::to_string);
    let body = req.get("MsgBody").cloned().unwrap_or(Value::Null);
    if body_bytes(&body, cloud.as_deref()) > sb.config.max_message_bytes {
        return Err(fail(
            93000,
            format!(
                "JSON data packet too long, max {} bytes",
                sb.config.max_message_bytes
            ),
        ));
    }
    let forbid_after = string_array(req, "ForbidCallbackControl")
        .unwrap_or_default()
        .iter()
        .any(|f| f == "ForbidAfterSendMsgCallback");
    let now = now_secs();
    let msg = {
        let mut inner = sb.lock();
        if !inner.accounts.contains_key(&from) {
            return Err(fail(20003, format!("sender {from} is not imported")));
        }
        if !inner.accounts.contains_key(&to) {
            return Err(fail(90012, format!("To_Account {to} is not imported")));
        }
        let seq = seq.unwrap_or_else(|| rand::random::<u16>() as u32 + 1);
        let dkey = (from.clone(), seq, random, digest(&body));
        if let Some((t, key)) = inner.dedup.get(&dkey)
            && now.saturating_sub(*t) <= C2C_DEDUP_SECS
        {
            return Ok(json!({"MsgTime": t, "MsgKey": key}));
        }
        let key = format!("{seq}_{random}_{now}");
        inner.dedup.insert(dkey, (now, key.clone()));
        let msg = SandboxC2CMessage {
            from,
            to,
            msg_seq: seq,
            msg_random: random,
            msg_time: now,
            msg_key: key,
            body,
            cloud_custom_data: cloud.unwrap_or_default(),
            in_sender_roaming: sync != Some(2),
            recalled: false,
            peer_read: false,
            via_rest: true,
            msg_life_time: life,
        };
        inner.c2c.push(msg.clone());
        msg
    };
    if !forbid_after {
        sb.echo_c2c(&msg);
    }
    Ok(json!({"MsgTime": msg.msg_time, "MsgKey": msg.msg_key}))
}

fn batchsendmsg(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let sync = opt_int(req, "SyncOtherMachine", 90031)?;
    let from = opt_str(req, "From_Account", 90008)?
        .unwrap_or(&sb.config.admin)
        .to_string();
    let Some(to) = string_array(req, "To_Account").filter(|t| !t.is_empty()) else {
        return Err(fail(
            90003,
            "To_Account must be a non-empty Array of String",
        ));
    };
    if to.len() > BATCHSENDMSG_MAX_RECEIVERS {
        return Err(fail(90011, "more than 500 receivers"));
    }
    let life = opt_int(req, "MsgLifeTime", 90044)?;
    if life.is_some_and(|l| l < 0) {
        return Err(fail(90026, "bad offline retention (max 7 days)"));
    }
    let random = u32_field(req, "MsgRandom", 90005)?;
    let seq = match req.get("MsgSeq") {
        None => rand::random::<u16>() as u32 + 1,
        Some(_) => u32_field(req, "MsgSeq", 90004)?,
    };
    check_msg_body(req.get("MsgBody"), 90007, 90002)?;
    check_push_info(req)?;
    let cloud = opt_str(req, "CloudCustomData", 90010)?.map(str::to_string);
    let body = req.get("MsgBody").cloned().unwrap_or(Value::Null);
    if body_bytes(&body, cloud.as_deref()) > sb.config.max_message_bytes {
        return Err(fail(93000, "JSON data packet too long"));
    }
    let now = now_secs();
    let key = format!("{seq}_{random}_{now}");
    let mut inner = sb.lock();
    if !inner.accounts.contains_key(&from) {
        return Err(fail(90008, format!("From_Account {from} not found")));
    }
    let mut errors = Vec::new();
    for t in &to {
        if !inner.accounts.contains_key(t) {
            errors.push(json!({"To_Account": t, "ErrorCode": 70107}));
            continue;
        }
        inner.c2c.push(SandboxC2CMessage {
            from: from.clone(),
            to: t.clone(),
            msg_seq: seq,
            msg_random: random,
            msg_time: now,
            msg_key: key.clone(),
            body: body.clone(),
            cloud_custom_data: cloud.clone().unwrap_or_default(),
            in_sender_roaming: sync != Some(2),
            recalled: false,
            peer_read: false,
            via_rest: true,
            msg_life_time: life,
        });
    }
    if errors.len() == to.len() {
        return Err(fail(70107, "no receiver exists"));
    }
    let mut out = json!({"MsgKey": key});
    if !errors.is_empty() {
        out["ActionStatus"] = json!("SomeError");
        out["ErrorList"] = Value::Array(errors);
    }
    Ok(out)
}

/// Page size cap of one roaming answer (the docs say about 13 KB).
const ROAM_PAGE_BYTES: usize = 13 * 1024;

fn getroammsg(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let op = req_str(req, "Operator_Account", 90001)?.to_string();
    let peer = req_str(req, "Peer_Account", 90003)?.to_string();
    let max_cnt = u32_field(req, "MaxCnt", 90001)?;
    let (Some(min_t), Some(max_t)) = (
        opt_int(req, "MinTime", 90001)?,
        opt_int(req, "MaxTime", 90001)?,
    ) else {
        return Err(fail(90001, "MinTime and MaxTime are required"));
    };
    let last_key = opt_str(req, "LastMsgKey", 90001)?.filter(|k| !k.is_empty());
    let inner = sb.lock();
    if !inner.accounts.contains_key(&op) || !inner.accounts.contains_key(&peer) {
        return Err(fail(90008, "account not found"));
    }
    let mut list: Vec<&SandboxC2CMessage> = inner
        .c2c
        .iter()
        .filter(|m| {
            (m.to == op && m.from == peer) || (m.from == op && m.to == peer && m.in_sender_roaming)
        })
        .filter(|m| (m.msg_time as i64) >= min_t && (m.msg_time as i64) <= max_t)
        .collect();
    // Newest first; within a second, by MsgSeq then arrival.
    list.reverse();
    list.sort_by_key(|m| std::cmp::Reverse(m.msg_time));
    let start = match last_key {
        Some(k) => match list.iter().position(|m| m.msg_key == k) {
            Some(p) => p + 1,
            None => return Err(fail(90001, "LastMsgKey not found")),
        },
        None => 0,
    };
    let rest = &list[start.min(list.len())..];
    let mut page = Vec::new();
    let mut bytes = 0;
    for m in rest.iter().take(max_cnt.max(1) as usize) {
        let v = json!({
            "From_Account": m.from, "To_Account": m.to, "MsgSeq": m.msg_seq,
            "MsgRandom": m.msg_random, "MsgTimeStamp": m.msg_time,
            "MsgFlagBits": if m.recalled { MSG_FLAG_RECALLED } else { 0 },
            "IsPeerRead": i64::from(m.peer_read), "MsgKey": m.msg_key,
            "MsgBody": m.body, "CloudCustomData": m.cloud_custom_data
        });
        bytes += v.to_string().len();
        if !page.is_empty() && bytes > ROAM_PAGE_BYTES {
            break;
        }
        page.push((v, m.msg_time, m.msg_key.clone()));
    }
    let complete = page.len() == rest.len();
    let (last_time, last_key) = page
        .last()
        .map(|(_, t, k)| (*t, k.clone()))
        .unwrap_or((0, String::new()));
    Ok(json!({
        "Complete": i64::from(complete),
        "MsgCnt": page.len(),
        "LastMsgTime": last_time,
        "LastMsgKey": last_key,
        "MsgList": page.into_iter().map(|(v, _, _)| v).collect::<Vec<_>>()
    }))
}

fn msgwithdraw(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let from = req_str(req, "From_Account", 90008)?;
    let to = req_str(req, "To_Account", 90003)?;
    let key = req_str(req, "MsgKey", 90054)?;
    if key.is_empty() {
        return Err(fail(90054, "MsgKey invalid"));
    }
    let mut inner = sb.lock();
    let Some(m) = inner
        .c2c
        .iter_mut()
        .find(|m| m.from == from && m.to == to && m.msg_key == key)
    else {
        return Err(fail(20022, "the message to recall does not exist"));
    };
    if m.recalled {
        return Err(fail(20023, "the message was already recalled"));
    }
    m.recalled = true;
    Ok(json!({}))
}

fn set_msg_read(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let report = req_str(req, "Report_Account", 90003)?.to_string();
    let peer = req_str(req, "Peer_Account", 90003)?.to_string();
    // Documented as a String of Unix seconds.
    let read_time = match opt_str(req, "MsgReadTime", 90001)? {
        None => now_secs(),
        Some(s) => s
            .parse()
            .map_err(|_| fail(90001, "MsgReadTime must be a decimal String"))?,
    };
    let mut inner = sb.lock();
    if !inner.accounts.contains_key(&report) || !inner.accounts.contains_key(&peer) {
        return Err(fail(90008, "account not found"));
    }
    for m in inner
        .c2c
        .iter_mut()
        .filter(|m| m.from == peer && m.to == report && m.msg_time <= read_time)
    {
        m.peer_read = true;
    }
    let unread = inner
        .c2c
        .iter()
        .filter(|m| m.to == report && !m.peer_read && !m.recalled)
        .count();
    inner.reads.push(SandboxRead {
        report_account: report.clone(),
        peer_account: peer.clone(),
        read_time,
    });
    drop(inner);
    // "App 管理员通过 REST API admin_set_msg_read 设置单聊消息已读" fires the
    // read-report callback too (INTL 单聊消息已读上报后回调).
    sb.echo(
        C2C_AFTER_REPORT,
        read_report_body(&report, &peer, read_time, unread),
    );
    Ok(json!({}))
}

fn account_import(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let id = match opt_str(req, "UserID", 70402)? {
        Some(id) => id,
        // The legacy field name of pre-2022 docs.
        None => req_str(req, "Identifier", 70402)?,
    };
    if id.is_empty() || id.len() > MAX_IDENTIFIER_BYTES {
        return Err(fail(70402, "UserID must be 1..=32 bytes"));
    }
    let nick = opt_str(req, "Nick", 70402)?.map(str::to_string);
    let face = opt_str(req, "FaceUrl", 70402)?.map(str::to_string);
    if nick.as_ref().is_some_and(|n| n.len() > 500) || face.as_ref().is_some_and(|f| f.len() > 500)
    {
        return Err(fail(40601, "profile value longer than 500 bytes"));
    }
    sb.lock().accounts.insert(id.to_string(), (nick, face));
    Ok(json!({}))
}

fn create_group(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let ty = req_str(req, "Type", 10004)?;
    if !["Private", "Public", "ChatRoom", "AVChatRoom", "Community"].contains(&ty) {
        return Err(fail(10004, "Type is invalid"));
    }
    let name = req_str(req, "Name", 10004)?;
    if name.is_empty() || name.len() > 30 {
        return Err(fail(10004, "Name must be 1..=30 bytes"));
    }
    let owner = opt_str(req, "Owner_Account", 10004)?.map(str::to_string);
    let custom_id = opt_str(req, "GroupId", 10004)?.map(str::to_string);
    let members: Vec<String> = match req.get("MemberList") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|m| {
                m.get("Member_Account")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| fail(10004, "Member_Account is required"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(fail(10004, "MemberList must be an Array")),
    };
    if members.len() > CREATE_GROUP_MAX_MEMBERS {
        return Err(fail(10005, "more than 100 initial members"));
    }
    if ty == "AVChatRoom" && !members.is_empty() {
        return Err(fail(10007, "AVChatRoom takes no MemberList"));
    }
    let mut inner = sb.lock();
    for a in owner.iter().chain(members.iter()) {
        if !inner.accounts.contains_key(a) {
            return Err(fail(10004, format!("account {a} is not imported")));
        }
    }
    let id = match custom_id {
        Some(id) if id.starts_with("@TGS#") || id.is_empty() || id.len() > 48 => {
            return Err(fail(10004, "custom GroupId is invalid"));
        }
        Some(id) if inner.groups.contains_key(&id) => {
            return Err(fail(10025, "GroupId already used"));
        }
        Some(id) => id,
        None => {
            inner.next_group += 1;
            format!("@TGS#{:08}", inner.next_group)
        }
    };
    let mut set: BTreeSet<String> = members.into_iter().collect();
    set.extend(owner.clone());
    inner.groups.insert(
        id.clone(),
        SandboxGroup {
            group_type: ty.into(),
            name: name.into(),
            owner,
            members: set,
            messages: Vec::new(),
        },
    );
    Ok(json!({"GroupId": id}))
}

fn send_group_msg(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let group_id = req_str(req, "GroupId", 10004)?.to_string();
    let random = u32_field(req, "Random", 10004)?;
    check_msg_body(req.get("MsgBody"), 10004, 10004)?;
    let from = opt_str(req, "From_Account", 10004)?
        .unwrap_or(&sb.config.admin)
        .to_string();
    if let Some(p) = opt_str(req, "MsgPriority", 10004)?
        && !["High", "Normal", "Low"].contains(&p)
    {
        return Err(fail(10004, "MsgPriority must be High, Normal or Low"));
    }
    if let Some(v) = req.get("To_Account") {
        let n = v
            .as_array()
            .ok_or_else(|| fail(10004, "To_Account must be an Array"))?
            .len();
        if n > SEND_GROUP_MSG_MAX_TO_ACCOUNT {
            return Err(fail(10004, "at most 50 targeted receivers"));
        }
    }
    check_push_info(req)?;
    let cloud = opt_str(req, "CloudCustomData", 10004)?;
    let body = req.get("MsgBody").cloned().unwrap_or(Value::Null);
    if body_bytes(&body, cloud) > sb.config.max_message_bytes {
        return Err(fail(
            80002,
            format!(
                "message body too long, max {} bytes",
                sb.config.max_message_bytes
            ),
        ));
    }
    let now = now_secs();
    let (msg, group_type) = {
        let mut inner = sb.lock();
        if !inner.accounts.contains_key(&from) {
            return Err(fail(10004, format!("From_Account {from} is not imported")));
        }
        let admin = sb.config.admin.clone();
        let rate = inner.group_rate.entry(group_id.clone()).or_insert((now, 0));
        if rate.0 != now {
            *rate = (now, 0);
        }
        rate.1 += 1;
        let over = rate.1 > GROUP_SEND_RATE_PER_GROUP;
        let Some(g) = inner.groups.get_mut(&group_id) else {
            return Err(fail(10010, "the group does not exist"));
        };
        if from != admin && !g.members.contains(&from) && g.owner.as_deref() != Some(&from) {
            return Err(fail(10007, "From_Account is not a member of the group"));
        }
        if over {
            return Err(fail(10023, "group message frequency over limit"));
        }
        // Same content and Random within 5 minutes: the later one is a duplicate.
        if let Some(d) = g.messages.iter().rev().find(|m| {
            m.random == random
                && m.body == body
                && now.saturating_sub(m.msg_time) <= GROUP_DEDUP_SECS
        }) {
            return Ok(json!({"MsgTime": d.msg_time, "MsgSeq": d.msg_seq, "MsgDropReason": ""}));
        }
        let m = SandboxGroupMessage {
            from,
            msg_seq: g.messages.len() as u64 + 1,
            random,
            msg_time: now,
            body,
            recalled: false,
        };
        g.messages.push(m.clone());
        (m, g.group_type.clone())
    };
    let forbid_after = string_array(req, "ForbidCallbackControl")
        .unwrap_or_default()
        .iter()
        .any(|f| f == "ForbidAfterSendMsgCallback");
    if !forbid_after {
        sb.echo_group(&group_id, &group_type, &msg);
    }
    Ok(json!({"MsgTime": msg.msg_time, "MsgSeq": msg.msg_seq, "MsgDropReason": ""}))
}

fn group_msg_recall(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let group_id = req_str(req, "GroupId", 10004)?;
    let Some(list) = req.get("MsgSeqList").and_then(Value::as_array) else {
        return Err(fail(10004, "MsgSeqList must be an Array"));
    };
    if list.is_empty() || list.len() > GROUP_RECALL_MAX_SEQS {
        return Err(fail(10004, "MsgSeqList takes 1..=10 entries"));
    }
    let seqs: Vec<u64> = list
        .iter()
        .map(|x| {
            x.get("MsgSeq")
                .and_then(Value::as_u64)
                .ok_or_else(|| fail(10004, "MsgSeq must be an Integer"))
        })
        .collect::<Result<_, _>>()?;
    let mut inner = sb.lock();
    let Some(g) = inner.groups.get_mut(group_id) else {
        return Err(fail(10010, "the group does not exist"));
    };
    if g.group_type == "AVChatRoom" {
        return Err(fail(10033, "AVChatRoom messages cannot be recalled"));
    }
    let mut recalled = Vec::new();
    let rets: Vec<Value> = seqs
        .iter()
        .map(|seq| {
            let code = match g.messages.iter_mut().find(|m| m.msg_seq == *seq) {
                Some(m) if !m.recalled => {
                    m.recalled = true;
                    recalled.push(*seq);
                    0
                }
                _ => 10030,
            };
            json!({"MsgSeq": seq, "RetCode": code})
        })
        .collect();
    let group_type = g.group_type.clone();
    drop(inner);
    // A REST recall fires the after-recall callback as well (INTL
    // 撤回群消息之后回调: "App 管理员通过 REST API 撤回群聊消息").
    if !recalled.is_empty() {
        sb.echo(
            GROUP_AFTER_RECALL,
            group_recall_body(group_id, &group_type, &recalled, &sb.config.admin),
        );
    }
    Ok(json!({"RecallRetList": rets}))
}

fn group_msg_get_simple(sb: &TencentSandbox, req: &Obj) -> ApiResult {
    let group_id = req_str(req, "GroupId", 10004)?.to_string();
    let n = u32_field(req, "ReqMsgNumber", 10004)?;
    if n == 0 {
        return Err(fail(10004, "ReqMsgNumber must be positive"));
    }
    let n = n.min(GROUP_HISTORY_MAX_PAGE) as usize;
    let upto = match req.get("ReqMsgSeq") {
        None => u64::MAX,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| fail(10004, "ReqMsgSeq must be an Integer"))?,
    };
    let with_recalled = opt_int(req, "WithRecalledMsg", 10004)? == Some(1);
    let inner = sb.lock();
    let Some(g) = inner.groups.get(&group_id) else {
        return Err(fail(10010, "the group does not exist"));
    };
    let candidates: Vec<&SandboxGroupMessage> = g
        .messages
        .iter()
        .rev()
        .filter(|m| m.msg_seq <= upto)
        .filter(|m| with_recalled || !m.recalled)
        .collect();
    let page: Vec<Value> = candidates
        .iter()
        .take(n)
        .map(|m| {
            json!({
                "From_Account": m.from,
                "IsPlaceMsg": if m.recalled { 2 } else { 0 },
                "MsgPriority": 2,
                "MsgRandom": m.random,
                "MsgSeq": m.msg_seq,
                "MsgTimeStamp": m.msg_time,
                "MsgBody": if m.recalled { json!([]) } else { m.body.clone() },
                "IsSystemMsg": 0
            })
        })
        .collect();
    let finished = candidates.len() <= n;
    Ok(json!({"GroupId": group_id, "IsFinished": i64::from(finished), "RspMsgList": page}))
}

//! The HTTP side of the Douyin emulator: one handler per documented endpoint,
//! each answering in the envelope the platform uses for it (A: OAuth,
//! B: extra+data, C: err_no) with the platform's error codes.

use std::collections::HashMap;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::{
    ApplyRecord, CLIENT_TOKEN_GRACE_SECS, CLIENT_TOKEN_TTL_SECS, CODE_TTL_SECS, ClientTokenRec,
    CodeRec, CustomerMessageKind, DouyinSandbox, Grant, GroupRecord, ImageRecord, LeadCardRecord,
    MAX_RENEWALS, REFRESH_TOKEN_TTL_SECS, REPLY_WINDOW_SECS, RecallRecord, SentMessage,
    State as SandboxState, TemplateRecord, customer,
};

type Q = Query<HashMap<String, String>>;

/// A platform error: code and description.
#[derive(Debug)]
struct Fail(i64, String);

fn fail(code: i64, desc: impl Into<String>) -> Fail {
    Fail(code, desc.into())
}

/// 28001007 参数不合法 — the generic "bad parameter" code (new generation).
fn bad_param(what: &str) -> Fail {
    fail(28_001_007, format!("参数不合法: {what}"))
}

const IMAGE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// The code the sandbox answers a reply past the 24-hour window with.
/// **No trustworthy source documents it**: 28003080 appears only in one
/// [LOW] project's mapping (reference §10). It stands in for whatever the
/// platform really answers, so tests must not treat it as the platform's code.
pub const UNVERIFIED_REPLY_WINDOW_CODE: i64 = 28_003_080;

/// The router for every Douyin endpoint; unknown paths (e.g. the dissenting
/// `/im/group/count/`) are 404, wrong methods 405.
pub fn router(state: DouyinSandbox) -> Router {
    Router::new()
        .route("/platform/oauth/connect/", get(authorize_page))
        .route("/oauth/client_token/", post(client_token))
        .route("/oauth/stable_client_token/", post(stable_client_token))
        .route("/oauth/access_token/", post(access_token))
        .route("/oauth/refresh_token/", post(refresh_token))
        .route("/oauth/renew_refresh_token/", post(renew_refresh_token))
        .route("/im/send/msg/", post(send_msg))
        .route("/im/send/msg/group/", post(send_group_msg))
        .route("/im/recall/msg/", post(recall_msg))
        .route("/api/im/message/resources/", get(message_resources))
        .route("/im/group/fans/count/", get(fans_count))
        .route("/im/group/fans/create/", post(fans_create))
        .route("/im/group/fans/list/", get(fans_list))
        .route("/im/group/setting/set/", post(setting_set))
        .route("/im/group/setting/disable/", post(setting_disable))
        .route("/im/group/enter/audit/get/", get(audit_get))
        .route("/im/group/enter/audit/set/", post(audit_set))
        .route("/im/save/retain_consult_card/", post(lead_card_save))
        .route("/im/get/retain_consult_card/", get(lead_card_get))
        .route("/im/del/retain_consult_card/", post(lead_card_del))
        .route("/api/douyin/v1/im/set_applet_template/", post(template_set))
        .route("/api/douyin/v1/im/get_applet_template/", post(template_get))
        .route("/api/douyin/v1/im/del_applet_template/", post(template_del))
        .route("/tool/imagex/client_upload/", post(image_upload))
        .layer(DefaultBodyLimit::max(IMAGE_MAX_BYTES + 64 * 1024))
        .with_state(state)
}

// ---------------------------------------------------------------- envelopes

fn logid(s: &mut SandboxState) -> String {
    s.seq += 1;
    format!("{}{:08X}", s.now_ms(), s.seq)
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// Envelope A (`/oauth/*`).
fn env_a(r: Result<Value, Fail>) -> Response {
    match r {
        Ok(mut data) => {
            data["error_code"] = json!(0);
            data["description"] = json!("");
            json_response(StatusCode::OK, json!({"data": data, "message": "success"}))
        }
        Err(Fail(code, desc)) => json_response(
            StatusCode::OK,
            json!({"data": {"error_code": code, "description": desc}, "message": "error"}),
        ),
    }
}

/// Envelope B: `extra` + `data`, business fields at the top level (or, with
/// `in_data`, inside `data` as the applet-template APIs do).
fn env_b(s: &mut SandboxState, r: Result<Value, Fail>, in_data: bool) -> Response {
    let logid = logid(s);
    let now = s.now_ms() / 1000;
    let (code, desc, fields) = match r {
        Ok(v) => (0, String::new(), v),
        Err(Fail(c, d)) => (c, d, json!({})),
    };
    let extra = json!({"logid": logid, "now": now, "error_code": code, "description": desc,
                       "sub_error_code": 0, "sub_description": ""});
    let mut data = json!({"error_code": code, "description": desc});
    let mut out = json!({"extra": extra});
    if let Value::Object(map) = fields {
        for (k, v) in map {
            if in_data {
                data[k] = v;
            } else {
                out[k] = v;
            }
        }
    }
    out["data"] = data;
    json_response(StatusCode::OK, out)
}

/// Envelope C: `err_no` / `err_msg` / `log_id` (+ `data`).
fn env_c(s: &mut SandboxState, r: Result<Value, Fail>) -> Response {
    let log_id = logid(s);
    match r {
        Ok(data) => json_response(
            StatusCode::OK,
            json!({"err_no": 0, "err_msg": "", "log_id": log_id, "data": data}),
        ),
        Err(Fail(code, msg)) => json_response(
            StatusCode::OK,
            json!({"err_no": code, "err_msg": msg, "log_id": log_id, "data": {}}),
        ),
    }
}

// ---------------------------------------------------------------- auth checks

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A user-level call: `access-token` header + `open_id` query + scope.
/// Returns (open_id, client_key).
fn user_auth(
    s: &SandboxState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    scope: Option<&str>,
) -> Result<(String, String), Fail> {
    let token = header_str(headers, "access-token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail(2_190_002, "access_token无效"))?;
    let rec = s
        .access_tokens
        .get(token)
        .filter(|r| r.valid)
        .ok_or_else(|| fail(2_190_002, "access_token无效"))?;
    let grant = s
        .grants
        .get(rec.grant)
        .ok_or_else(|| fail(2_190_002, "access_token无效"))?;
    if grant.revoked {
        return Err(fail(2_190_002, "access_token无效"));
    }
    if rec.expires_ms <= s.now_ms() {
        return Err(fail(28_001_008, "access_token过期"));
    }
    let open_id = q
        .get("open_id")
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad_param("open_id"))?;
    if *open_id != grant.open_id {
        return Err(fail(28_001_015, "access_token与open_id不匹配"));
    }
    if let Some(scope) = scope
        && !grant.scopes.iter().any(|x| x == scope)
    {
        return Err(fail(28_001_012, format!("用户未授权该OpenAPI ({scope})")));
    }
    Ok((grant.open_id.clone(), grant.client_key.clone()))
}

/// An app-level call: a `clt.` client_token in `access-token`. Returns the client_key.
fn app_auth(s: &SandboxState, headers: &HeaderMap) -> Result<String, Fail> {
    let token = header_str(headers, "access-token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail(2_190_002, "access_token无效"))?;
    let rec = s
        .client_tokens
        .get(token)
        .ok_or_else(|| fail(2_190_002, "access_token无效"))?;
    let now = s.now_ms();
    let replaced_dead = rec
        .replaced_at_ms
        .is_some_and(|t| t + CLIENT_TOKEN_GRACE_SECS * 1000 <= now);
    if rec.expires_ms <= now || replaced_dead {
        return Err(fail(28_001_008, "access_token过期"));
    }
    Ok(rec.client_key.clone())
}

fn json_body(body: &Bytes) -> Result<Value, Fail> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad_param("请求体不是合法的JSON对象")),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn int_field(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

// ---------------------------------------------------------------- OAuth

async fn authorize_page(State(sb): State<DouyinSandbox>, Query(q): Q) -> Response {
    let mut s = sb.lock();
    let err = |code: i64, desc: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"data": {"error_code": code, "description": desc}, "message": "error"}),
        )
    };
    let Some(client_key) = q.get("client_key").filter(|k| s.apps.contains_key(*k)) else {
        return err(10003, "client_key不存在或配置无效");
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return err(10002, "参数错误: response_type");
    }
    let scopes: Vec<String> = q
        .get("scope")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if scopes.is_empty() {
        return err(10002, "参数错误: scope");
    }
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let Ok(mut url) = url::Url::parse(&redirect) else {
        return err(10006, "非法重定向URI");
    };
    // Only https, and no custom query parameters (the platform appends its own).
    if url.scheme() != "https" || url.query().is_some() {
        return err(10006, "非法重定向URI");
    }
    let Some(open_id) = s.scanning_account.clone() else {
        return err(10001, "没有账号扫码");
    };
    let code = s.token("");
    let now = s.now_ms();
    s.codes.insert(
        code.clone(),
        CodeRec {
            client_key: client_key.clone(),
            open_id,
            scopes,
            expires_ms: now + CODE_TTL_SECS * 1000,
            used: false,
        },
    );
    url.set_fragment(None);
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn is_form(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn issue_client_token(
    s: &mut SandboxState,
    headers: &HeaderMap,
    body: &Bytes,
    stable: bool,
) -> Result<Value, Fail> {
    if !header_str(headers, "content-type").is_some_and(|c| c.starts_with("application/json")) {
        return Err(fail(10002, "参数错误: Content-Type 须为 application/json"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| fail(10002, "参数错误"))?;
    let key = str_field(&v, "client_key").ok_or_else(|| fail(10005, "缺少参数 client_key"))?;
    if str_field(&v, "grant_type") != Some("client_credential") {
        return Err(fail(10002, "参数错误: grant_type"));
    }
    let now = s.now_ms();
    let app = s
        .apps
        .get_mut(key)
        .ok_or_else(|| fail(10003, "client_key不存在或配置无效"))?;
    if str_field(&v, "client_secret") != Some(app.client_secret.as_str()) {
        return Err(fail(10013, "client_key或client_secret错误"));
    }
    app.client_token_calls.retain(|t| *t > now - 300_000);
    if app.client_token_calls.len() >= 500 {
        return Err(fail(10020, "禁止频繁调用access-token接口"));
    }
    app.client_token_calls.push(now);
    let key = key.to_string();
    let live: Vec<(String, i64)> = s
        .client_tokens
        .iter()
        .filter(|(_, r)| r.client_key == key && r.replaced_at_ms.is_none() && r.expires_ms > now)
        .map(|(t, r)| (t.clone(), r.expires_ms))
        .collect();
    if stable && let Some((t, exp)) = live.first() {
        return Ok(json!({"access_token": t, "expires_in": (exp - now) / 1000}));
    }
    // Only the latest two stay valid: the previous one gets a 5-minute grace,
    // anything older dies now.
    for r in s.client_tokens.values_mut().filter(|r| r.client_key == key) {
        match r.replaced_at_ms {
            None => r.replaced_at_ms = Some(now),
            Some(_) => r.expires_ms = r.expires_ms.min(now),
        }
    }
    let token = s.token("clt.");
    s.client_tokens.insert(
        token.clone(),
        ClientTokenRec {
            client_key: key,
            expires_ms: now + CLIENT_TOKEN_TTL_SECS * 1000,
            replaced_at_ms: None,
        },
    );
    Ok(json!({"access_token": token, "expires_in": CLIENT_TOKEN_TTL_SECS}))
}

async fn client_token(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    env_a(issue_client_token(&mut s, &headers, &body, false))
}

async fn stable_client_token(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    env_a(issue_client_token(&mut s, &headers, &body, true))
}

fn app_secret_ok(
    s: &SandboxState,
    f: &HashMap<String, String>,
    need_secret: bool,
) -> Result<String, Fail> {
    let key = f
        .get("client_key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| fail(10005, "缺少参数 client_key"))?;
    let app = s
        .apps
        .get(key)
        .ok_or_else(|| fail(10003, "client_key不存在或配置无效"))?;
    if need_secret && f.get("client_secret") != Some(&app.client_secret) {
        return Err(fail(10013, "client_key或client_secret错误"));
    }
    Ok(key.clone())
}

/// IM scopes are not echoed back in `scope` (reference §1).
fn echoed_scope(scopes: &[String]) -> String {
    scopes
        .iter()
        .filter(|s| !s.starts_with("im."))
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
}

async fn access_token(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        if !is_form(&headers) {
            return Err(fail(
                10002,
                "参数错误: 须为 form 表单 (application/x-www-form-urlencoded)",
            ));
        }
        let f = form(&body);
        let key = app_secret_ok(&s, &f, true)?;
        if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Err(fail(10002, "参数错误: grant_type"));
        }
        let code = f.get("code").ok_or_else(|| fail(10005, "缺少参数 code"))?;
        let now = s.now_ms();
        let rec = s
            .codes
            .get_mut(code)
            .filter(|c| c.client_key == key)
            .ok_or_else(|| fail(10007, "授权码过期"))?;
        if rec.used || rec.expires_ms <= now {
            return Err(fail(10007, "授权码过期"));
        }
        rec.used = true;
        let (open_id, scopes) = (rec.open_id.clone(), rec.scopes.clone());
        s.grants.push(Grant {
            client_key: key,
            open_id: open_id.clone(),
            scopes: scopes.clone(),
            revoked: false,
        });
        let g = s.grants.len() - 1;
        let (access, refresh) = s.issue(g);
        let log_id = logid(&mut s);
        Ok(json!({
            "access_token": access, "expires_in": super::ACCESS_TOKEN_TTL_SECS,
            "open_id": open_id, "refresh_token": refresh,
            "refresh_expires_in": REFRESH_TOKEN_TTL_SECS, "scope": echoed_scope(&scopes),
            "captcha": "", "desc_url": "", "log_id": log_id,
        }))
    })();
    env_a(r)
}

async fn refresh_token(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        if !is_form(&headers) {
            return Err(fail(10002, "参数错误: 须为 form 表单"));
        }
        let f = form(&body);
        let key = app_secret_ok(&s, &f, false)?;
        if f.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return Err(fail(10002, "参数错误: grant_type"));
        }
        let rt = f
            .get("refresh_token")
            .ok_or_else(|| fail(10005, "缺少参数 refresh_token"))?;
        let now = s.now_ms();
        let rec = s
            .refresh_tokens
            .get(rt)
            .cloned()
            .filter(|r| r.valid)
            .ok_or_else(|| fail(10010, "refresh_token过期"))?;
        let grant = s
            .grants
            .get(rec.grant)
            .cloned()
            .ok_or_else(|| fail(10010, "refresh_token过期"))?;
        if grant.client_key != key {
            return Err(fail(10014, "client_key不匹配"));
        }
        if grant.revoked || rec.expires_ms <= now {
            return Err(fail(10010, "refresh_token过期"));
        }
        // An access_token that has not expired is kept and only gets a new
        // expiry ("若 access_token 未过期, refresh_token 不会改变原来的
        // access_token, 但超时时间会更新"); an expired one is replaced.
        let live = s
            .access_tokens
            .iter()
            .filter(|(_, t)| t.grant == rec.grant && t.valid && t.expires_ms > now)
            .max_by_key(|(_, t)| t.expires_ms)
            .map(|(token, _)| token.clone());
        let access = match live {
            Some(token) => token,
            None => s.token("act."),
        };
        s.access_tokens.insert(
            access.clone(),
            super::TokenRec {
                grant: rec.grant,
                expires_ms: now + super::ACCESS_TOKEN_TTL_SECS * 1000,
                valid: true,
            },
        );
        // The refresh_token's own expiry does not move.
        Ok(json!({
            "access_token": access, "expires_in": super::ACCESS_TOKEN_TTL_SECS.to_string(),
            "open_id": grant.open_id, "refresh_token": rt,
            "refresh_expires_in": ((rec.expires_ms - now) / 1000).to_string(),
            "scope": echoed_scope(&grant.scopes),
        }))
    })();
    env_a(r)
}

async fn renew_refresh_token(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        if !is_form(&headers) {
            return Err(fail(10002, "参数错误: 须为 form 表单"));
        }
        let f = form(&body);
        let key = app_secret_ok(&s, &f, false)?;
        if !s.apps.get(&key).is_some_and(|a| a.renew_permission) {
            return Err(fail(10004, "权限不足"));
        }
        let rt = f
            .get("refresh_token")
            .ok_or_else(|| fail(10005, "缺少参数 refresh_token"))?;
        let now = s.now_ms();
        let rec = s
            .refresh_tokens
            .get(rt)
            .cloned()
            .filter(|r| r.valid)
            .ok_or_else(|| fail(10010, "refresh_token过期"))?;
        let revoked = s.grants.get(rec.grant).is_none_or(|g| g.revoked);
        if revoked || rec.expires_ms <= now {
            return Err(fail(10010, "refresh_token过期"));
        }
        if rec.renewals >= MAX_RENEWALS {
            return Err(fail(10020, "刷新次数超限"));
        }
        if let Some(old) = s.refresh_tokens.get_mut(rt) {
            old.valid = false;
        }
        let new = s.token("rft.");
        s.refresh_tokens.insert(
            new.clone(),
            super::RefreshRec {
                grant: rec.grant,
                expires_ms: now + REFRESH_TOKEN_TTL_SECS * 1000,
                valid: true,
                renewals: rec.renewals + 1,
            },
        );
        Ok(json!({"refresh_token": new, "expires_in": REFRESH_TOKEN_TTL_SECS}))
    })();
    env_a(r)
}

// ---------------------------------------------------------------- content

const PRIVATE_TYPES: &[i64] = &[1, 2, 3, 8, 9, 10, 11, 12, 204, 205];
const GROUP_TYPES: &[i64] = &[1, 2, 3, 8, 10];
const SETTING_TYPES: &[i64] = &[1, 10, 11];

fn sub_object_key(msg_type: i64) -> Option<&'static str> {
    Some(match msg_type {
        1 => "text",
        2 => "image",
        3 => "video",
        8 => "retain_consult_card",
        9 => "group_invitation",
        10 => "applet_card",
        11 => "applet_coupon",
        12 => "auth_private_message_card",
        204 => "question_guide_msg_card",
        205 => "question_guide_jump_card",
        _ => return None,
    })
}

/// Checks one `content` object as the platform would: known `msg_type`, its
/// sub-object present, and referenced images/cards/templates existing.
fn check_content(s: &SandboxState, account: &str, c: &Value, allowed: &[i64]) -> Result<(), Fail> {
    let t = int_field(c, "msg_type").ok_or_else(|| bad_param("content.msg_type"))?;
    if !allowed.contains(&t) {
        return Err(bad_param(&format!("不支持的 msg_type {t}")));
    }
    let key = sub_object_key(t).ok_or_else(|| bad_param("msg_type"))?;
    let sub = c
        .get(key)
        .filter(|v| v.is_object())
        .ok_or_else(|| bad_param(&format!("content.{key}")))?;
    match t {
        1 => {
            str_field(sub, "text").ok_or_else(|| bad_param("content.text.text"))?;
        }
        2 => {
            let id =
                str_field(sub, "media_id").ok_or_else(|| bad_param("content.image.media_id"))?;
            if !s.images.contains_key(id) {
                return Err(bad_param("media_id 不存在"));
            }
        }
        3 => {
            str_field(sub, "item_id").ok_or_else(|| bad_param("content.video.item_id"))?;
        }
        8 => {
            let id = str_field(sub, "card_id").ok_or_else(|| bad_param("card_id"))?;
            if s.lead_cards
                .get(id)
                .is_none_or(|c| c.account_open_id != account)
            {
                return Err(bad_param("card_id 不存在"));
            }
        }
        9 => {
            let by_id = str_field(sub, "group_id").is_some_and(|g| s.groups.contains_key(g));
            let by_token = str_field(sub, "group_token")
                .is_some_and(|t| s.groups.values().any(|g| g.group_token == t));
            if !by_id && !by_token {
                return Err(bad_param("group_id 或 group_token 不存在"));
            }
        }
        10 => {
            let id =
                str_field(sub, "card_template_id").ok_or_else(|| bad_param("card_template_id"))?;
            if s.templates.get(id).is_none_or(|t| t.status != 1) {
                return Err(bad_param("card_template_id 不存在或未审核通过"));
            }
            if str_field(sub, "path").is_none() && str_field(sub, "schema").is_none() {
                return Err(bad_param("applet_card.path 或 schema"));
            }
            // The schema marks app_id required on every guide card.
            str_field(sub, "app_id").ok_or_else(|| bad_param("applet_card.app_id"))?;
        }
        11 => {
            int_field(sub, "activity_id").ok_or_else(|| bad_param("activity_id"))?;
            int_field(sub, "coupon_meta_id").ok_or_else(|| bad_param("coupon_meta_id"))?;
        }
        _ => {}
    }
    Ok(())
}

fn webhook_type(c: &Value) -> &'static str {
    match int_field(c, "msg_type") {
        Some(1) => "text",
        Some(2) => "image",
        Some(3) => "video",
        Some(8) => "retain_consult_card",
        _ => "other",
    }
}

// ---------------------------------------------------------------- messages

async fn send_msg(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut echo = None;
    let resp = {
        let mut s = sb.lock();
        let r = send_msg_inner(&mut s, &headers, &q, &body);
        let r = r.map(|(v, e)| {
            echo = e;
            v
        });
        env_b(&mut s, r, false)
    };
    if let Some(e) = echo {
        customer::spawn_echo(&sb, e);
    }
    resp
}

fn send_msg_inner(
    s: &mut SandboxState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Result<(Value, Option<customer::Echo>), Fail> {
    let (account, client_key) = user_auth(s, headers, q, Some("im.direct_message"))?;
    let v = json_body(body)?;
    let to = str_field(&v, "to_user_id").ok_or_else(|| bad_param("to_user_id"))?;
    if !s.customers.contains_key(to) {
        return Err(bad_param("to_user_id 不存在"));
    }
    let now = s.now_ms();
    let scene = v.get("scene").and_then(Value::as_str).map(str::to_string);
    let (contents, conversation_id, reply_to) = match scene.as_deref() {
        None
        | Some("")
        | Some("im_replay_msg")
        | Some("im_reply_msg")
        | Some("im_enter_direct_msg") => {
            let msg_id = str_field(&v, "msg_id").ok_or_else(|| bad_param("msg_id"))?;
            let conv =
                str_field(&v, "conversation_id").ok_or_else(|| bad_param("conversation_id"))?;
            let content = v
                .get("content")
                .filter(|c| c.is_object())
                .ok_or_else(|| bad_param("content"))?;
            let m = s
                .customer_messages
                .get(msg_id)
                .filter(|m| m.account_open_id == account && m.customer_open_id == to)
                .filter(|m| m.kind != CustomerMessageKind::Group)
                .ok_or_else(|| bad_param("msg_id 不合法"))?;
            if m.conversation_id != conv {
                return Err(bad_param("conversation_id 与 msg_id 不匹配"));
            }
            if scene.as_deref() == Some("im_enter_direct_msg")
                && m.kind != CustomerMessageKind::EnterChat
            {
                return Err(bad_param(
                    "scene im_enter_direct_msg 需要进入会话事件的 msg_id",
                ));
            }
            // Reference §4.1: answering an enter-chat event requires its scene.
            if m.kind == CustomerMessageKind::EnterChat
                && scene.as_deref() != Some("im_enter_direct_msg")
            {
                return Err(bad_param("回复进入会话事件需要 scene im_enter_direct_msg"));
            }
            if now - m.created_at_ms >= REPLY_WINDOW_SECS * 1000 {
                return Err(fail(
                    UNVERIFIED_REPLY_WINDOW_CODE,
                    "消息已超过24小时回复时效",
                ));
            }
            check_content(s, &account, content, PRIVATE_TYPES)?;
            (
                vec![content.clone()],
                conv.to_string(),
                Some(msg_id.to_string()),
            )
        }
        Some(sc @ ("im_b2b_direct_message" | "im_authorize_message")) => {
            let list = v
                .get("content_list")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty() && l.len() <= 3)
                .ok_or_else(|| bad_param("content_list 须为1到3条消息"))?;
            for c in list {
                check_content(s, &account, c, PRIVATE_TYPES)?;
            }
            let types: Vec<i64> = list
                .iter()
                .filter_map(|c| int_field(c, "msg_type"))
                .collect();
            let ok = if sc == "im_b2b_direct_message" {
                types.contains(&10)
            } else {
                types.iter().any(|t| [10, 11, 12].contains(t))
            };
            if !ok {
                return Err(bad_param("content_list 缺少小程序卡片/授权卡片/小程序券"));
            }
            let day = now / 86_400_000;
            let n = s
                .active_dm
                .entry((account.clone(), to.to_string(), day))
                .or_insert(0);
            if *n >= 1 {
                return Err(fail(28_003_070, "超出频控限制次数"));
            }
            *n += 1;
            let conv = s.conversation(&account, to);
            (list.clone(), conv, None)
        }
        Some(other) => return Err(bad_param(&format!("scene {other}"))),
    };
    let msg_id = s.opaque_id();
    let msg_list: Vec<String> = if contents.len() > 1 {
        (0..contents.len()).map(|_| s.opaque_id()).collect()
    } else {
        vec![msg_id.clone()]
    };
    s.sent.push(SentMessage {
        msg_id: msg_id.clone(),
        account_open_id: account.clone(),
        to_user_id: Some(to.to_string()),
        group_id: None,
        conversation_id: conversation_id.clone(),
        reply_to,
        scene,
        contents: contents.clone(),
        at_ms: now,
        recalled: false,
    });
    let echo = customer::Echo {
        client_key,
        account,
        peer: to.to_string(),
        group: false,
        server_message_id: msg_id.clone(),
        conversation_id,
        content: contents[0].clone(),
        message_type: webhook_type(&contents[0]),
        at_ms: now,
    };
    let mut out = json!({"msg_id": msg_id});
    if contents.len() > 1 {
        out["msg_list"] = json!(msg_list);
    }
    Ok((out, s.echo_sends.then_some(echo)))
}

async fn send_group_msg(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut echo = None;
    let resp = {
        let mut s = sb.lock();
        let r = (|| {
            let (account, client_key) = user_auth(&s, &headers, &q, Some("im.group_message"))?;
            let v = json_body(&body)?;
            let group = match (str_field(&v, "group_id"), str_field(&v, "group_token")) {
                (Some(id), _) => s.groups.get(id),
                (None, Some(t)) => s.groups.values().find(|g| g.group_token == t),
                (None, None) => return Err(bad_param("group_id 或 group_token")),
            }
            .filter(|g| g.owner_open_id == account)
            .ok_or_else(|| bad_param("group_id 不存在"))?
            .group_id
            .clone();
            let content = v
                .get("content")
                .filter(|c| c.is_object())
                .ok_or_else(|| bad_param("content"))?;
            check_content(&s, &account, content, GROUP_TYPES)?;
            let msg_id = s.opaque_id();
            let now = s.now_ms();
            s.sent.push(SentMessage {
                msg_id: msg_id.clone(),
                account_open_id: account.clone(),
                to_user_id: None,
                group_id: Some(group.clone()),
                conversation_id: group.clone(),
                reply_to: None,
                scene: None,
                contents: vec![content.clone()],
                at_ms: now,
                recalled: false,
            });
            if s.echo_sends {
                echo = Some(customer::Echo {
                    client_key,
                    account,
                    peer: String::new(),
                    group: true,
                    server_message_id: msg_id.clone(),
                    conversation_id: group,
                    content: content.clone(),
                    message_type: webhook_type(content),
                    at_ms: now,
                });
            }
            Ok(json!({"msg_id": msg_id}))
        })();
        env_b(&mut s, r, false)
    };
    if let Some(e) = echo {
        customer::spawn_echo(&sb, e);
    }
    resp
}

async fn recall_msg(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, Some("im.recall_message"))?;
        let v = json_body(&body)?;
        let conv = str_field(&v, "conversation_id").ok_or_else(|| bad_param("conversation_id"))?;
        let kind =
            int_field(&v, "conversation_type").ok_or_else(|| bad_param("conversation_type"))?;
        if kind != 1 && kind != 2 {
            return Err(bad_param("conversation_type 须为1或2"));
        }
        let msg_id = str_field(&v, "msg_id").ok_or_else(|| bad_param("msg_id"))?;
        let m = s
            .sent
            .iter_mut()
            .find(|m| m.msg_id == msg_id && m.account_open_id == account)
            .ok_or_else(|| bad_param("msg_id 不合法"))?;
        if m.conversation_id != conv || (kind == 2) != m.group_id.is_some() {
            return Err(bad_param("conversation_id 与 msg_id 不匹配"));
        }
        if m.recalled {
            return Err(bad_param("消息已撤回"));
        }
        m.recalled = true;
        s.recalls.push(RecallRecord {
            account_open_id: account,
            msg_id: msg_id.to_string(),
            conversation_id: conv.to_string(),
            conversation_type: kind,
        });
        Ok(json!({}))
    })();
    env_c(&mut s, r)
}

async fn message_resources(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, Some("im.direct_message"))?;
        let conv = q
            .get("conversation_id")
            .ok_or_else(|| bad_param("conversation_id"))?;
        let mid = q.get("message_id").ok_or_else(|| bad_param("message_id"))?;
        let m = s
            .customer_messages
            .get(mid)
            .filter(|m| m.account_open_id == account && &m.conversation_id == conv)
            .ok_or_else(|| bad_param("message_id 不合法"))?;
        let media_type = match m.message_type.as_str() {
            "user_local_image" => "image",
            "user_local_video" => "video",
            _ => return Err(bad_param("该消息没有可获取的资源")),
        };
        Ok(json!({"media_type": media_type,
                  "url": format!("https://api-normal.amemv.com/im_open/media?message_id={}", url_escape(mid))}))
    })();
    env_c(&mut s, r)
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------- fan groups

async fn fans_count(State(sb): State<DouyinSandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let mut s = sb.lock();
    let r = user_auth(&s, &headers, &q, None).map(|(account, _)| {
        let left = s.accounts.get(&account).map(|a| a.fans_quota).unwrap_or(0);
        json!({"left_count": left})
    });
    env_b(&mut s, r, false)
}

async fn fans_create(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, None)?;
        let v = json_body(&body)?;
        let name = str_field(&v, "group_name")
            .ok_or_else(|| bad_param("group_name"))?
            .to_string();
        // The documented minimal body (R-SKIT's doc-copied sample) has no
        // group_type; when one is sent it must be 2 or 5.
        let group_type = match v.get("group_type") {
            None => 2,
            Some(t) => match t.as_i64() {
                Some(t @ (2 | 5)) => t,
                _ => return Err(bad_param("group_type 须为2或5")),
            },
        };
        for flag in [
            "active_fans",
            "allow_invite",
            "fans_limit",
            "item_auto_sync",
            "live_auto_sync",
            "open_audit_switch",
            "relation_type",
            "show_at_profile",
        ] {
            if v.get(flag).is_some_and(|x| !x.is_i64()) {
                return Err(bad_param(&format!("{flag} 须为整数")));
            }
        }
        let left = s.accounts.get(&account).map(|a| a.fans_quota).unwrap_or(0);
        if left <= 0 {
            return Err(fail(28_003_017, "quota已用完"));
        }
        if let Some(a) = s.accounts.get_mut(&account) {
            a.fans_quota -= 1;
        }
        let group_id = s.opaque_id();
        let group_token = s.token("CgYIASAH");
        s.groups.insert(
            group_id.clone(),
            GroupRecord {
                group_id: group_id.clone(),
                group_token,
                owner_open_id: account,
                group_name: name,
                description: str_field(&v, "description").unwrap_or_default().to_string(),
                avatar_uri: str_field(&v, "avatar_uri").unwrap_or_default().to_string(),
                group_type,
                open_audit_switch: int_field(&v, "open_audit_switch").unwrap_or(0),
                settings: Default::default(),
                members: Vec::new(),
            },
        );
        Ok(json!({"group_id": group_id}))
    })();
    env_b(&mut s, r, false)
}

async fn fans_list(State(sb): State<DouyinSandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let mut s = sb.lock();
    let r = user_auth(&s, &headers, &q, None).map(|(account, _)| {
        let list: Vec<Value> = s
            .groups
            .values()
            .filter(|g| g.owner_open_id == account)
            .map(|g| {
                json!({"group_id": g.group_id, "group_name": g.group_name,
                            "description": g.description, "avatar_uri": g.avatar_uri,
                            "group_type": g.group_type, "status": "Normal", "entry_limit": null,
                            "exist_num": g.members.len() + 1, "max_num": 500, "tags": null})
            })
            .collect();
        json!({"group_list": list})
    });
    env_b(&mut s, r, false)
}

fn owned_group(s: &SandboxState, account: &str, v: &Value) -> Result<String, Fail> {
    let id = str_field(v, "group_id").ok_or_else(|| bad_param("group_id"))?;
    s.groups
        .get(id)
        .filter(|g| g.owner_open_id == account)
        .map(|g| g.group_id.clone())
        .ok_or_else(|| bad_param("group_id 不存在"))
}

fn setting_type(v: &Value) -> Result<i64, Fail> {
    match int_field(v, "group_setting_type") {
        Some(t @ (1 | 2)) => Ok(t),
        _ => Err(bad_param("group_setting_type 须为1或2")),
    }
}

async fn setting_set(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, None)?;
        let v = json_body(&body)?;
        let gid = owned_group(&s, &account, &v)?;
        let kind = setting_type(&v)?;
        let list = v
            .get("msg_list")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad_param("msg_list"))?;
        for m in list {
            check_content(&s, &account, m, SETTING_TYPES)?;
        }
        let list = list.clone();
        if let Some(g) = s.groups.get_mut(&gid) {
            g.settings.insert(kind, list);
        }
        Ok(json!({}))
    })();
    env_c(&mut s, r)
}

async fn setting_disable(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, None)?;
        let v = json_body(&body)?;
        let gid = owned_group(&s, &account, &v)?;
        let kind = setting_type(&v)?;
        if let Some(g) = s.groups.get_mut(&gid) {
            g.settings.remove(&kind);
        }
        Ok(json!({}))
    })();
    env_c(&mut s, r)
}

async fn audit_get(State(sb): State<DouyinSandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, None)?;
        let count: usize = q
            .get("count")
            .and_then(|c| c.parse().ok())
            .filter(|c| (1..=50).contains(c))
            .ok_or_else(|| bad_param("count 须在1到50之间"))?;
        let cursor: usize = q
            .get("cursor")
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad_param("cursor"))?;
        let mine: Vec<&ApplyRecord> = s
            .applies
            .iter()
            .filter(|a| {
                s.groups
                    .get(&a.group_id)
                    .is_some_and(|g| g.owner_open_id == account)
            })
            .collect();
        let page: Vec<Value> = mine
            .iter()
            .skip(cursor)
            .take(count)
            .map(|a| json!({"apply_id": a.apply_id, "apply_status": a.apply_status,
                            "create_time": a.create_time_ms, "group_id": a.group_id, "user_id": a.user_id}))
            .collect();
        let next = cursor + page.len();
        Ok(json!({"apply_list": {"cursor": next, "has_more": next < mine.len(), "list": page}}))
    })();
    env_b(&mut s, r, false)
}

async fn audit_set(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut pushes = Vec::new();
    let resp = {
        let mut s = sb.lock();
        let r = (|| {
            let (account, client_key) = user_auth(&s, &headers, &q, None)?;
            let v = json_body(&body)?;
            let apply_id = str_field(&v, "apply_id")
                .ok_or_else(|| bad_param("apply_id"))?
                .to_string();
            let status = match int_field(&v, "status") {
                Some(st @ (2 | 3)) => st,
                _ => return Err(bad_param("status 须为2或3")),
            };
            let st = &mut *s;
            let groups = &st.groups;
            let a = st
                .applies
                .iter_mut()
                .find(|a| {
                    a.apply_id == apply_id
                        && groups
                            .get(&a.group_id)
                            .is_some_and(|g| g.owner_open_id == account)
                })
                .ok_or_else(|| bad_param("apply_id 不存在"))?;
            if a.apply_status != 1 {
                return Err(bad_param("申请已处理"));
            }
            a.apply_status = status;
            let (gid, uid) = (a.group_id.clone(), a.user_id.clone());
            if status == 2
                && let Some(g) = s.groups.get_mut(&gid)
            {
                g.members.push(uid.clone());
            }
            // The decision is pushed (enter_group_audit_change with the new
            // apply_status), and an approved applicant's joining after it
            // (group_fans_event), when the app has a webhook URL.
            if let Ok(p) = customer::join_request_push(&mut s, &client_key, &apply_id) {
                pushes.push(p);
            }
            if status == 2
                && let Ok(p) = customer::fan_joined_push(&mut s, &client_key, &gid, &uid)
            {
                pushes.push(p);
            }
            Ok(json!({"success": true}))
        })();
        env_b(&mut s, r, false)
    };
    customer::spawn_pushes(&sb, pushes);
    resp
}

// ---------------------------------------------------------------- lead cards

fn components_ok(v: &Value) -> Result<Vec<i64>, Fail> {
    let list = v
        .get("components")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| bad_param("components"))?;
    list.iter()
        .map(|c| c.as_i64().filter(|c| (1..=3).contains(c)))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| bad_param("components 取值为1姓名 2手机号 3城市"))
}

async fn lead_card_save(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, Some("im.message_card"))?;
        let v = json_body(&body)?;
        let title = str_field(&v, "title")
            .ok_or_else(|| bad_param("title"))?
            .to_string();
        let media_id = str_field(&v, "media_id")
            .ok_or_else(|| bad_param("media_id"))?
            .to_string();
        if !s.images.contains_key(&media_id) {
            return Err(bad_param("media_id 不存在"));
        }
        let components = components_ok(&v)?;
        let card_id = match str_field(&v, "card_id") {
            Some(id) => {
                if s.lead_cards
                    .get(id)
                    .is_none_or(|c| c.account_open_id != account)
                {
                    return Err(bad_param("card_id 不存在"));
                }
                id.to_string()
            }
            None => {
                s.seq += 1;
                format!("{}", 7_000_000_000_000_000_000u64 + s.seq)
            }
        };
        s.lead_cards.insert(
            card_id.clone(),
            LeadCardRecord {
                card_id: card_id.clone(),
                account_open_id: account,
                title,
                media_id,
                components,
            },
        );
        Ok(json!({"card_id": card_id}))
    })();
    env_b(&mut s, r, false)
}

async fn lead_card_get(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let mut s = sb.lock();
    let r = user_auth(&s, &headers, &q, Some("im.message_card")).map(|(account, _)| {
        let cards: Vec<Value> = s
            .lead_cards
            .values()
            .filter(|c| c.account_open_id == account)
            .map(|c| {
                json!({"card_id": c.card_id, "title": c.title, "media_id": c.media_id,
                            "components": c.components, "status": 1})
            })
            .collect();
        json!({"cards": cards})
    });
    env_b(&mut s, r, false)
}

async fn lead_card_del(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let (account, _) = user_auth(&s, &headers, &q, Some("im.message_card"))?;
        let id = q
            .get("card_id")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_param("card_id"))?;
        if s.lead_cards
            .get(id)
            .is_none_or(|c| c.account_open_id != account)
        {
            return Err(bad_param("card_id 不存在"));
        }
        s.lead_cards.remove(id);
        Ok(json!({}))
    })();
    env_b(&mut s, r, false)
}

// ---------------------------------------------------------------- templates

async fn template_set(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let client_key = app_auth(&s, &headers)?;
        let v = json_body(&body)?;
        let card_type = int_field(&v, "card_type").ok_or_else(|| bad_param("card_type"))?;
        if card_type != 1 {
            return Err(bad_param("card_type 须为1"));
        }
        let title = str_field(&v, "title")
            .ok_or_else(|| bad_param("title"))?
            .to_string();
        let content = str_field(&v, "content")
            .ok_or_else(|| bad_param("content"))?
            .to_string();
        if title.chars().count() > 30 || content.chars().count() > 30 {
            return Err(bad_param("title/content 不能超过30个字符"));
        }
        let media_id = str_field(&v, "media_id")
            .ok_or_else(|| bad_param("media_id"))?
            .to_string();
        if !s.images.contains_key(&media_id) {
            return Err(bad_param("media_id 不存在"));
        }
        let app_id = str_field(&v, "app_id")
            .ok_or_else(|| bad_param("app_id"))?
            .to_string();
        let now = s.now_ms() / 1000;
        let id = match str_field(&v, "card_template_id") {
            Some(id) => {
                let t = s
                    .templates
                    .get(id)
                    .filter(|t| t.client_key == client_key)
                    .ok_or_else(|| bad_param("card_template_id 不存在"))?;
                if t.card_type != card_type {
                    return Err(bad_param("card_type 创建后不可修改"));
                }
                id.to_string()
            }
            None => {
                // Identical (content, media_id, title, app_id) returns the same id.
                if let Some(t) = s.templates.values().find(|t| {
                    t.client_key == client_key
                        && t.content == content
                        && t.media_id == media_id
                        && t.title == title
                        && t.app_id == app_id
                }) {
                    return Ok(json!({"card_template_id": t.card_template_id}));
                }
                // Opaque `@…==` like the official samples' template ids.
                s.opaque_id()
            }
        };
        let create_time = s.templates.get(&id).map(|t| t.create_time).unwrap_or(now);
        s.templates.insert(
            id.clone(),
            TemplateRecord {
                card_template_id: id.clone(),
                client_key,
                card_type,
                title,
                content,
                media_id,
                app_id,
                // The sandbox approves at once; the platform reviews (0 待审核).
                status: 1,
                create_time,
                update_time: now,
            },
        );
        Ok(json!({"card_template_id": id}))
    })();
    env_b(&mut s, r, true)
}

async fn template_get(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let client_key = app_auth(&s, &headers)?;
        let v = json_body(&body)?;
        let mine = s.templates.values().filter(|t| t.client_key == client_key);
        let render = |t: &TemplateRecord| {
            json!({"card_template_id": t.card_template_id, "card_type": t.card_type,
            "title": t.title, "content": t.content, "media_id": t.media_id, "app_id": t.app_id,
            "name": "sandbox mini app", "app_icon_url": "https://sf1-cdn-tos.douyinstatic.example/icon.png",
            "create_time": t.create_time, "update_time": t.update_time, "status": t.status, "reject_reasons": []})
        };
        if let Some(id) = str_field(&v, "card_template_id") {
            let list: Vec<Value> = mine
                .filter(|t| t.card_template_id == id)
                .map(render)
                .collect();
            return Ok(json!({"list": list, "cursor": 0, "has_more": false}));
        }
        let count = int_field(&v, "count")
            .filter(|c| (1..=50).contains(c))
            .ok_or_else(|| bad_param("count 必填且不超过50"))? as usize;
        let cursor = int_field(&v, "cursor").unwrap_or(0).max(0) as usize;
        let status = int_field(&v, "status");
        let all: Vec<&TemplateRecord> = mine
            .filter(|t| status.is_none_or(|st| st == t.status))
            .collect();
        let list: Vec<Value> = all
            .iter()
            .skip(cursor)
            .take(count)
            .map(|t| render(t))
            .collect();
        let next = cursor + list.len();
        Ok(json!({"list": list, "cursor": next, "has_more": next < all.len()}))
    })();
    env_b(&mut s, r, true)
}

async fn template_del(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let client_key = app_auth(&s, &headers)?;
        // The official page sends `Content-Type: application/json` with the
        // id in the query and nothing in the body.
        if !header_str(&headers, "content-type").is_some_and(|c| c.starts_with("application/json"))
        {
            return Err(bad_param("Content-Type 须为 application/json"));
        }
        if !body.is_empty() {
            return Err(bad_param("请求体须为空, card_template_id 放在 query 中"));
        }
        let id = q
            .get("card_template_id")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_param("card_template_id"))?;
        if s.templates
            .get(id)
            .is_none_or(|t| t.client_key != client_key)
        {
            return Err(bad_param("card_template_id 不存在"));
        }
        s.templates.remove(id);
        Ok(json!({}))
    })();
    env_b(&mut s, r, true)
}

// ---------------------------------------------------------------- image upload

/// Extracts the part named `image` from a multipart/form-data body.
fn multipart_image<'a>(content_type: &str, body: &'a [u8]) -> Option<&'a [u8]> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut rest = body;
    loop {
        let start = find(rest, delim.as_bytes())? + delim.len();
        rest = &rest[start..];
        if rest.starts_with(b"--") {
            return None;
        }
        let header_end = find(rest, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&rest[..header_end]).to_ascii_lowercase();
        let content = &rest[header_end + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes())?;
        if headers.contains("name=\"image\"") {
            return Some(&content[..end]);
        }
        rest = &content[end..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn image_format_ok(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"\x89PNG\r\n\x1a\n")
        || b.starts_with(b"BM")
        || (b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP")
}

fn png_size(b: &[u8]) -> (u32, u32) {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() >= 24 {
        let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        (w, h)
    } else {
        (0, 0)
    }
}

async fn image_upload(
    State(sb): State<DouyinSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = sb.lock();
    let r = (|| {
        let client_key = app_auth(&s, &headers)?;
        let ct = header_str(&headers, "content-type").unwrap_or_default();
        if !ct.starts_with("multipart/form-data") {
            return Err(bad_param("Content-Type 须为 multipart/form-data"));
        }
        let image = multipart_image(ct, &body).ok_or_else(|| bad_param("缺少文件字段 image"))?;
        if image.len() > IMAGE_MAX_BYTES {
            return Err(bad_param("图片不能超过10MB"));
        }
        if !image_format_ok(image) {
            return Err(bad_param("图片格式仅支持 jpeg/png/bmp/webp"));
        }
        let md5 = hex::encode(Md5::digest(image));
        let (width, height) = png_size(image);
        let image_id = s.opaque_id();
        s.images.insert(
            image_id.clone(),
            ImageRecord {
                image_id: image_id.clone(),
                client_key,
                bytes: image.len(),
                md5: md5.clone(),
            },
        );
        Ok(json!({"image_id": image_id, "width": width, "height": height, "md5": md5}))
    })();
    env_b(&mut s, r, false)
}

//! Tencent routes under `/api/v1/tencent/...`, and the history import they
//! share with `imhub import tencent`: past one-to-one messages pulled with
//! `admin_getroammsg`, recorded like callbacks (so what a callback already
//! delivered is not stored twice), resumable page by page.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use imhub_core::{Account, ChannelId, Content, Platform, Timestamp};
use imhub_store::{
    Change, ConversationFilter, ListCursor, PushRecord, Store, StoreError, StoredChannel,
};
use imhub_tencent::{
    ErrorClass, REST_RATE_PER_SEC, TencentChannel, TencentConfig, TencentError,
    account::AccountImportRequest,
    c2c::{BATCHSENDMSG_MAX_RECEIVERS, BatchSendMsgRequest, SYNC_TO_SENDER},
    group::{
        CREATE_GROUP_MAX_MEMBERS, CreateGroupRequest, GROUP_HISTORY_MAX_PAGE, GroupMember,
        GroupMsgGetSimpleRequest,
    },
    history::HistoryCursor,
    mapping::elements_to_content,
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, ApiQuery},
    auth::Caller,
    channels::creates_unknown_accounts,
    error::ApiError,
};

/// The Tencent routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tencent/channels/{id}/imports", post(import))
        .route("/tencent/channels/{id}/broadcasts", post(broadcast))
        .route("/tencent/channels/{id}/accounts", post(import_account))
        .route("/tencent/channels/{id}/groups", post(create_group))
        .route(
            "/tencent/channels/{id}/groups/{group_id}/messages",
            get(group_history),
        )
}

/// A point in time: Unix seconds, or an RFC 3339 text.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TimeArg {
    Unix(i64),
    Text(String),
}

impl TimeArg {
    /// Unix seconds, or `None` when the text is neither form.
    pub fn unix_secs(&self) -> Option<i64> {
        match self {
            TimeArg::Unix(secs) => Some(*secs),
            TimeArg::Text(text) => parse_time(text),
        }
    }
}

/// Parses `1700000000` or `2024-05-01T08:00:00+08:00` into Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    Timestamp::parse_rfc3339(text).map(|t| t.millis().div_euclid(1000))
}

/// A history import to run: one conversation between a merchant account
/// and a customer, over a time range.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The merchant's sender UserID (the account).
    pub account: String,
    /// The customer's UserID.
    pub peer: String,
    /// Oldest message wanted (Unix seconds or RFC 3339).
    pub since: TimeArg,
    /// Newest message wanted; now by default (and, when resuming, the
    /// interrupted import's end).
    #[serde(default)]
    pub until: Option<TimeArg>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Range imported, Unix seconds.
    pub since: i64,
    pub until: i64,
    /// Messages Tencent returned over every run of this import.
    pub fetched: u64,
    /// Messages newly stored; the rest were already there (callbacks, our own sends).
    pub stored: u64,
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// Every page was taken (false only when nothing could be fetched yet).
    pub complete: bool,
}

/// Why an import stopped. Progress up to the last recorded page is kept.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The request or the channel does not allow an import.
    #[error("{0}")]
    Invalid(String),
    /// Tencent refused or failed, with its code when it sent one.
    #[error("tencent: {0}")]
    Platform(#[from] TencentError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Invalid(detail) => ApiError::unprocessable("invalid_import", detail),
            ImportError::Platform(e) => ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "platform_error",
                e.to_string(),
            ),
            ImportError::Store(e) => e.into(),
        }
    }
}

/// Attempts of one page on transient errors before the import stops.
const PAGE_ATTEMPTS: u32 = 6;

/// Imports the history of one conversation into the store: page by page,
/// each page in one transaction, the cursor stored after it under
/// [`HistoryCursor::state_key`] so a later call with the same `since` resumes.
/// Requests are paced under Tencent's per-API limit; "too frequent" and
/// transient errors wait and try the same page again. `progress` is called
/// after every recorded page.
pub async fn import_history(
    store: &dyn Store,
    channel: &StoredChannel,
    request: &ImportRequest,
    progress: &mut (dyn FnMut(&HistoryCursor) + Send),
) -> Result<ImportReport, ImportError> {
    let adapter = tencent_adapter(channel)?;
    let (mut cursor, resumed) = start_cursor(store, channel, request).await?;
    let key = HistoryCursor::state_key(&cursor.account, &cursor.peer);
    save(store, channel.id, &key, &cursor).await?;
    progress(&cursor);
    let pace = Duration::from_millis(1000 / u64::from(REST_RATE_PER_SEC.max(1)));
    let mut conversation = None;
    while !cursor.complete {
        let started = tokio::time::Instant::now();
        let page = fetch_page(&adapter, &cursor).await?;
        let mut next = page.next;
        if !page.events.is_empty() {
            let recorded = store
                .record_push(
                    channel.workspace_id,
                    PushRecord {
                        channel_id: channel.id,
                        event_key: None,
                        body: page.raw,
                        received_at: Timestamp::now(),
                        events: page.events,
                        request: None,
                        create_unknown_accounts: creates_unknown_accounts(Platform::Tencent),
                    },
                )
                .await?;
            for change in &recorded.changes {
                if let Change::MessageCreated { .. } = change {
                    next.stored += 1;
                }
                if let Some(id) = change.conversation_id() {
                    conversation = Some(id);
                }
            }
        }
        save(store, channel.id, &key, &next).await?;
        cursor = next;
        progress(&cursor);
        tokio::time::sleep_until(started + pace).await;
    }
    if cursor.clear_unread
        && let Some(id) = conversation
    {
        // History is not news: a conversation that had nothing unread before
        // the import does not turn unread because of it (no read receipt).
        store.mark_read(channel.workspace_id, id, false).await?;
    }
    Ok(ImportReport {
        since: cursor.since,
        until: cursor.until,
        fetched: cursor.fetched,
        stored: cursor.stored,
        resumed,
        complete: cursor.complete,
    })
}

/// The Tencent adapter of a stored channel, built for the import.
fn tencent_adapter(channel: &StoredChannel) -> Result<TencentChannel, ImportError> {
    if channel.platform != Platform::Tencent {
        return Err(ImportError::Invalid(format!(
            "channel {} is a {} channel, not tencent",
            channel.id,
            channel.platform.as_str()
        )));
    }
    let config: TencentConfig = serde_json::from_value(channel.config.clone())
        .map_err(|e| ImportError::Invalid(format!("invalid tencent configuration: {e}")))?;
    TencentChannel::new(config).map_err(|e| ImportError::Invalid(e.to_string()))
}

/// The stored cursor when it continues this request, else a fresh one.
async fn start_cursor(
    store: &dyn Store,
    channel: &StoredChannel,
    request: &ImportRequest,
) -> Result<(HistoryCursor, bool), ImportError> {
    let account = request.account.trim();
    let peer = request.peer.trim();
    if account.is_empty() || peer.is_empty() {
        return Err(ImportError::Invalid(
            "account and peer must not be empty".into(),
        ));
    }
    let since = request
        .since
        .unix_secs()
        .ok_or_else(|| ImportError::Invalid("since must be Unix seconds or RFC 3339".into()))?;
    let until = match &request.until {
        None => None,
        Some(t) => Some(t.unix_secs().ok_or_else(|| {
            ImportError::Invalid("until must be Unix seconds or RFC 3339".into())
        })?),
    };
    let key = HistoryCursor::state_key(account, peer);
    let stored: Option<HistoryCursor> = store
        .get_channel_state(channel.id, &key)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok());
    if let Some(c) = stored
        && !c.complete
        && c.since == since
        && until.is_none_or(|u| u == c.until)
    {
        return Ok((c, true));
    }
    let until = until.unwrap_or_else(|| Timestamp::now().millis().div_euclid(1000));
    if since > until {
        return Err(ImportError::Invalid(format!(
            "since ({since}) is after until ({until})"
        )));
    }
    let mut cursor = HistoryCursor::new(account, peer, since, until);
    cursor.clear_unread = !has_unread(store, channel, account, peer).await?;
    Ok((cursor, false))
}

/// Whether the conversation of `account` with `peer` has unread messages.
async fn has_unread(
    store: &dyn Store,
    channel: &StoredChannel,
    account: &str,
    peer: &str,
) -> Result<bool, StoreError> {
    let Some(account) = store
        .find_account(channel.workspace_id, channel.id, account)
        .await?
    else {
        return Ok(false);
    };
    let mut after = None;
    loop {
        let page = store
            .list_conversations(
                channel.workspace_id,
                ConversationFilter {
                    account_id: Some(account.id),
                    unread_only: true,
                    after,
                    limit: imhub_store::MAX_CONVERSATION_PAGE,
                    ..ConversationFilter::default()
                },
            )
            .await?;
        if page.iter().any(|c| c.peer_external_id == peer) {
            return Ok(true);
        }
        match page.last() {
            Some(last) if page.len() == imhub_store::MAX_CONVERSATION_PAGE as usize => {
                after = Some(ListCursor {
                    last_activity_at: last.last_activity_at.millis(),
                    id: last.id.0,
                });
            }
            _ => return Ok(false),
        }
    }
}

/// One page, waiting out "too frequent" answers and transient failures.
async fn fetch_page(
    adapter: &TencentChannel,
    cursor: &HistoryCursor,
) -> Result<imhub_tencent::HistoryPage, ImportError> {
    let mut attempt = 0;
    loop {
        match adapter.history_page(cursor).await {
            Ok(page) => return Ok(page),
            Err(e) => {
                attempt += 1;
                let wait = match e.class() {
                    ErrorClass::RateLimited(wait) => wait,
                    ErrorClass::Retryable => Duration::from_millis(200 << attempt.min(5)),
                    ErrorClass::Auth | ErrorClass::Permanent => return Err(e.into()),
                };
                if attempt >= PAGE_ATTEMPTS {
                    return Err(e.into());
                }
                tracing::info!(error = %e, attempt, "tencent history page will be tried again");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn save(
    store: &dyn Store,
    channel: ChannelId,
    key: &str,
    cursor: &HistoryCursor,
) -> Result<(), ImportError> {
    let text = serde_json::to_string(cursor)
        .map_err(|e| ImportError::Invalid(format!("cannot encode the cursor: {e}")))?;
    Ok(store.put_channel_state(channel, key, &text).await?)
}

/// Imports past one-to-one messages of a Tencent channel (admin only).
///
/// Pulls `account` ↔ `peer` with `admin_getroammsg` over `[since, until]` and
/// records every message as inbound (`in` from the customer, `out` from the
/// account), then answers 200 with the counts. Idempotent: messages already
/// stored (by a callback, by our own send, by an earlier import) are
/// skipped, and calling again after an interruption resumes from the last
/// recorded page. The import runs to its end even if the caller disconnects.
/// A conversation with nothing unread before stays read.
///
/// Failures: 403 `forbidden` for agents; 404 `not_found` for a channel that is
/// not the caller's or not a Tencent channel; 422 `invalid_import` (empty
/// account or peer, unreadable or reversed times, a stored configuration
/// that no longer makes an adapter); 502 `platform_error` with Tencent's
/// code and text when Tencent refuses (progress is kept).
#[utoipa::path(post, path = "/api/v1/tencent/channels/{id}/imports", tag = "tencent",
    params(("id" = i64, Path)), request_body = ImportRequest,
    responses((status = 200, body = ImportReport), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 422, description = "`invalid_import`", body = crate::error::Problem),
        (status = 502, body = crate::error::Problem)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<ImportReport>, ApiError> {
    caller.require_admin()?;
    let channel = tencent_channel(&state, &caller, id).await?;
    let store: Arc<dyn Store> = Arc::clone(&state.store);
    let task = tokio::spawn(async move {
        import_history(store.as_ref(), &channel, &request, &mut |_| {}).await
    });
    let report = task.await.map_err(ApiError::internal)??;
    Ok(Json(report))
}

/// The caller's Tencent channel `id` with the operator's settings; another
/// workspace's channel, or one of another platform, is a 404 like a
/// channel that does not exist (as on the Douyin and Meituan routes).
async fn tencent_channel(
    state: &AppState,
    caller: &Caller,
    id: ChannelId,
) -> Result<StoredChannel, ApiError> {
    let channel = state.store.get_channel(caller.0.workspace_id, id).await?;
    if channel.platform != Platform::Tencent {
        return Err(ApiError::not_found("tencent channel"));
    }
    Ok(state.channels.operator_channel(channel))
}

/// Why an operator's Tencent call (broadcast, account import, group) failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The request or the channel does not allow the call.
    #[error("{0}")]
    Invalid(String),
    /// The content cannot be sent to Tencent (kind not supported, too large).
    #[error("{}", .0.message)]
    Refused(imhub_core::Refusal),
    /// Tencent refused or failed, with its code when it sent one.
    #[error("tencent: {0}")]
    Platform(TencentError),
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<TencentError> for ToolError {
    fn from(e: TencentError) -> Self {
        match e {
            // The typed client checks documented limits before any I/O.
            TencentError::Invalid(detail) => ToolError::Invalid(detail),
            other => ToolError::Platform(other),
        }
    }
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Invalid(detail) => ApiError::unprocessable("invalid_request", detail),
            ToolError::Refused(r) => r.into(),
            ToolError::Platform(e) => ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "platform_error",
                e.to_string(),
            ),
            ToolError::Store(e) => e.into(),
        }
    }
}

/// The adapter of a stored Tencent channel, for calls outside the `Channel` trait.
pub fn channel_adapter(channel: &StoredChannel) -> Result<TencentChannel, ToolError> {
    tencent_adapter(channel).map_err(|e| ToolError::Invalid(e.to_string()))
}

/// A UserID as Tencent accepts it: 1 to 32 bytes, no surrounding spaces.
fn user_id<'a>(what: &str, id: &'a str) -> Result<&'a str, ToolError> {
    let id = id.trim();
    if id.is_empty() || id.len() > imhub_tencent::usersig::MAX_IDENTIFIER_BYTES {
        return Err(ToolError::Invalid(format!(
            "{what} must be a UserID of 1 to {} bytes",
            imhub_tencent::usersig::MAX_IDENTIFIER_BYTES
        )));
    }
    Ok(id)
}

/// One message from a merchant account to many customers.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    /// The merchant's sender UserID (`From_Account`).
    pub account: String,
    /// The customers' UserIDs: 1 to 500, duplicates sent once.
    pub to: Vec<String>,
    /// What to send, mapped as replies are.
    pub content: Content,
}

/// A customer a broadcast did not reach, with Tencent's code (70107: no such account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BroadcastFailure {
    /// The receiver's UserID.
    pub to: String,
    /// Tencent's per-receiver `ErrorCode`.
    pub error_code: i64,
}

/// What a broadcast did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BroadcastReport {
    /// Tencent's key of the batch.
    pub msg_key: String,
    /// Receivers Tencent accepted.
    pub sent: usize,
    /// Receivers Tencent refused, one by one.
    pub failed: Vec<BroadcastFailure>,
}

/// Sends one content to up to 500 customers with `batchsendmsg`, from the
/// account, synced to the account's other devices. Tencent fires no
/// callbacks for a batch, so nothing is recorded in conversations.
pub async fn broadcast_message(
    channel: &StoredChannel,
    request: &BroadcastRequest,
) -> Result<BroadcastReport, ToolError> {
    let adapter = channel_adapter(channel)?;
    let from = user_id("account", &request.account)?.to_string();
    let mut to: Vec<String> = Vec::new();
    for id in &request.to {
        let id = user_id("every receiver", id)?.to_string();
        if !to.contains(&id) {
            to.push(id);
        }
    }
    if to.is_empty() || to.len() > BATCHSENDMSG_MAX_RECEIVERS {
        return Err(ToolError::Invalid(format!(
            "a broadcast goes to 1 to {BATCHSENDMSG_MAX_RECEIVERS} receivers, got {}",
            to.len()
        )));
    }
    let msg_body = adapter
        .body_for(&request.content)
        .map_err(ToolError::Refused)?;
    let answer = adapter
        .client()
        .batch_send_msg(&BatchSendMsgRequest {
            sync_other_machine: Some(SYNC_TO_SENDER),
            from_account: Some(from),
            msg_random: rand::random(),
            msg_body,
            to_account: to.clone(),
            ..BatchSendMsgRequest::default()
        })
        .await?;
    let failed: Vec<BroadcastFailure> = answer
        .error_list
        .into_iter()
        .map(|e| BroadcastFailure {
            to: e.to_account,
            error_code: e.error_code,
        })
        .collect();
    Ok(BroadcastReport {
        msg_key: answer.msg_key,
        sent: to.len().saturating_sub(failed.len()),
        failed,
    })
}

/// A merchant sender UserID to register with Tencent and add as an account.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountImportBody {
    /// The UserID (1 to 32 bytes).
    pub user_id: String,
    /// Display name, sent to Tencent as `Nick` and used as the account's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Avatar URL (`FaceUrl`).
    #[serde(default)]
    pub face_url: Option<String>,
}

/// Registers a sender UserID with Tencent (`account_import`), then adds it
/// as an account of the channel. Both steps are idempotent: an account that
/// already exists is returned as it is.
pub async fn import_merchant_account(
    store: &dyn Store,
    channel: &StoredChannel,
    body: &AccountImportBody,
) -> Result<Account, ToolError> {
    let adapter = channel_adapter(channel)?;
    let id = user_id("user_id", &body.user_id)?;
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    adapter
        .client()
        .account_import(&AccountImportRequest {
            user_id: id.to_string(),
            nick: name.map(str::to_string),
            face_url: body.face_url.clone(),
        })
        .await?;
    if let Some(account) = store
        .find_account(channel.workspace_id, channel.id, id)
        .await?
    {
        return Ok(account);
    }
    Ok(store
        .create_account(channel.workspace_id, channel.id, id, name.unwrap_or(id))
        .await?)
}

/// A group to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupBody {
    /// 1 to 30 bytes.
    pub name: String,
    /// `Private`, `Public` (default), `ChatRoom`, `AVChatRoom` or `Community`.
    #[serde(default)]
    pub group_type: Option<String>,
    /// The owner's UserID, usually the merchant account; none: the app admin.
    #[serde(default)]
    pub owner: Option<String>,
    /// A custom group id; none: Tencent assigns one.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Initial members' UserIDs (at most 100).
    #[serde(default)]
    pub members: Vec<String>,
}

/// The created group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatedGroup {
    /// Tencent's group id (`@TGS#...` when Tencent assigned it).
    pub group_id: String,
}

/// Group types Tencent knows.
const GROUP_TYPES: [&str; 5] = ["Private", "Public", "ChatRoom", "AVChatRoom", "Community"];

/// Creates a Tencent group (`create_group`). Its messages reach imhub
/// through the group callbacks like any other group's.
pub async fn create_tencent_group(
    channel: &StoredChannel,
    body: &CreateGroupBody,
) -> Result<CreatedGroup, ToolError> {
    let adapter = channel_adapter(channel)?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 30 {
        return Err(ToolError::Invalid("name must have 1 to 30 bytes".into()));
    }
    let group_type = body.group_type.as_deref().unwrap_or("Public");
    if !GROUP_TYPES.contains(&group_type) {
        return Err(ToolError::Invalid(format!(
            "group_type must be one of {}",
            GROUP_TYPES.join(", ")
        )));
    }
    if body.members.len() > CREATE_GROUP_MAX_MEMBERS {
        return Err(ToolError::Invalid(format!(
            "a group is created with at most {CREATE_GROUP_MAX_MEMBERS} members"
        )));
    }
    let member_list = body
        .members
        .iter()
        .map(|m| {
            Ok(GroupMember {
                member_account: user_id("every member", m)?.to_string(),
                ..GroupMember::default()
            })
        })
        .collect::<Result<Vec<_>, ToolError>>()?;
    let owner_account = match &body.owner {
        Some(o) => Some(user_id("owner", o)?.to_string()),
        None => None,
    };
    let answer = adapter
        .client()
        .create_group(&CreateGroupRequest {
            group_type: group_type.to_string(),
            name: name.to_string(),
            owner_account,
            group_id: body.group_id.clone(),
            member_list,
            ..CreateGroupRequest::default()
        })
        .await?;
    Ok(CreatedGroup {
        group_id: answer.group_id,
    })
}

/// One page of a group's history, newest first.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupHistoryQuery {
    /// Messages per page, 1 to 20 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only messages with a seq up to this one (the previous page's `next_seq`).
    #[serde(default)]
    pub max_seq: Option<u64>,
}

/// A message of a group's history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupHistoryMessage {
    /// The message's seq in the group.
    pub seq: u64,
    /// The sender's UserID.
    pub from: String,
    /// Unix seconds.
    pub time: i64,
    /// The body as imhub content.
    pub content: Content,
    /// Recalled, deleted or expired: the content is empty.
    pub placeholder: bool,
}

/// A page of a group's history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupHistoryPage {
    /// Newest first.
    pub items: Vec<GroupHistoryMessage>,
    /// `max_seq` of the next (older) page; none when this is the last.
    pub next_seq: Option<u64>,
}

/// One page of a group's history with `group_msg_get_simple`.
pub async fn group_history_page(
    channel: &StoredChannel,
    group_id: &str,
    query: &GroupHistoryQuery,
) -> Result<GroupHistoryPage, ToolError> {
    let adapter = channel_adapter(channel)?;
    let group_id = group_id.trim();
    if group_id.is_empty() {
        return Err(ToolError::Invalid("group id must not be empty".into()));
    }
    let limit = query.limit.unwrap_or(GROUP_HISTORY_MAX_PAGE);
    if limit == 0 || limit > GROUP_HISTORY_MAX_PAGE {
        return Err(ToolError::Invalid(format!(
            "limit must be 1 to {GROUP_HISTORY_MAX_PAGE}"
        )));
    }
    let answer = adapter
        .client()
        .group_msg_get_simple(&GroupMsgGetSimpleRequest {
            group_id: group_id.to_string(),
            req_msg_number: limit,
            req_msg_seq: query.max_seq,
            ..GroupMsgGetSimpleRequest::default()
        })
        .await?;
    let oldest = answer.rsp_msg_list.iter().map(|m| m.msg_seq).min();
    let next_seq = match oldest {
        // IsFinished 1: the whole range was returned; 2: the rest expired.
        Some(seq) if answer.is_finished == 0 && seq > 1 => Some(seq - 1),
        _ => None,
    };
    let items = answer
        .rsp_msg_list
        .iter()
        .map(|m| GroupHistoryMessage {
            seq: m.msg_seq,
            from: m.from_account.clone(),
            time: m.msg_time_stamp,
            content: elements_to_content(&m.elements()),
            placeholder: m.is_place_msg != 0,
        })
        .collect();
    Ok(GroupHistoryPage { items, next_seq })
}

/// Sends one message to many customers of a Tencent channel (admin only).
///
/// `batchsendmsg` from `account` to the distinct `to` UserIDs (1 to 500),
/// synced to the account's other devices; answers 200 with Tencent's
/// `MsgKey`, the number reached and each receiver Tencent refused with its
/// code (70107: no such account). Nothing is recorded in conversations
/// (Tencent fires no callbacks for a batch).
///
/// Failures: 403 `forbidden` for agents; 404 `not_found` for a channel that
/// is not the caller's or not a Tencent channel; 422 `invalid_request` (empty
/// or too many receivers, bad UserIDs), `content_not_supported` or
/// `message_too_large`; 502 `platform_error` when Tencent refuses the whole
/// batch. Not idempotent: every call sends again.
#[utoipa::path(post, path = "/api/v1/tencent/channels/{id}/broadcasts", tag = "tencent",
    params(("id" = i64, Path)), request_body = BroadcastRequest,
    responses((status = 200, body = BroadcastReport), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 422, description = "`invalid_request`, `content_not_supported`, `message_too_large`",
            body = crate::error::Problem),
        (status = 502, body = crate::error::Problem)))]
pub async fn broadcast(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(request): ApiJson<BroadcastRequest>,
) -> Result<Json<BroadcastReport>, ApiError> {
    caller.require_admin()?;
    let channel = tencent_channel(&state, &caller, id).await?;
    Ok(Json(broadcast_message(&channel, &request).await?))
}

/// Registers a merchant sender UserID with Tencent and adds it as an account (admin only).
///
/// `account_import` with the UserID (and `name` as `Nick`, `face_url`),
/// then the account is created in the channel; answers 200 with it.
/// Idempotent: importing again re-sends the profile and returns the
/// existing account.
///
/// Failures: 403 `forbidden` for agents; 404 `not_found` for a channel that
/// is not the caller's or not a Tencent channel; 422 `invalid_request` (empty
/// or over-long UserID); 502 `platform_error` with Tencent's code when it
/// refuses.
#[utoipa::path(post, path = "/api/v1/tencent/channels/{id}/accounts", tag = "tencent",
    params(("id" = i64, Path)), request_body = AccountImportBody,
    responses((status = 200, body = Account), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
        (status = 502, body = crate::error::Problem)))]
pub async fn import_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<AccountImportBody>,
) -> Result<Json<Account>, ApiError> {
    caller.require_admin()?;
    let channel = tencent_channel(&state, &caller, id).await?;
    Ok(Json(
        import_merchant_account(state.store.as_ref(), &channel, &body).await?,
    ))
}

/// Creates a Tencent group (admin only).
///
/// `create_group` with the name, type (default `Public`), owner, optional
/// custom id and initial members; answers 201 with the group id. Not
/// idempotent without a custom `group_id` (each call creates a group); with
/// one, a second call fails with Tencent's 10025.
///
/// Failures: 403 `forbidden` for agents; 404 `not_found` for a channel that
/// is not the caller's or not a Tencent channel; 422 `invalid_request` (empty
/// or over-long name, unknown type, more than 100 members, bad UserIDs);
/// 502 `platform_error` with Tencent's code (unknown member, id taken).
#[utoipa::path(post, path = "/api/v1/tencent/channels/{id}/groups", tag = "tencent",
    params(("id" = i64, Path)), request_body = CreateGroupBody,
    responses((status = 201, body = CreatedGroup), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
        (status = 502, body = crate::error::Problem)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<CreateGroupBody>,
) -> Result<(axum::http::StatusCode, Json<CreatedGroup>), ApiError> {
    caller.require_admin()?;
    let channel = tencent_channel(&state, &caller, id).await?;
    let group = create_tencent_group(&channel, &body).await?;
    Ok((axum::http::StatusCode::CREATED, Json(group)))
}

/// Reads a Tencent group's history from Tencent, newest first.
///
/// `group_msg_get_simple`, `limit` (1 to 20, default 20) messages with a seq
/// up to `max_seq`; answers 200 with the messages as imhub content and the
/// `max_seq` of the next page. Read-only; nothing is stored.
///
/// Failures: 404 `not_found` for a channel that is not the caller's or not
/// a Tencent channel; 422
/// `invalid_request` (bad limit); 400 `invalid_query`;
/// 502 `platform_error` with Tencent's code (10010: no such group).
#[utoipa::path(get, path = "/api/v1/tencent/channels/{id}/groups/{group_id}/messages",
    tag = "tencent", params(("id" = i64, Path), ("group_id" = String, Path), GroupHistoryQuery),
    responses((status = 200, body = GroupHistoryPage), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem), (status = 502, body = crate::error::Problem)))]
pub async fn group_history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, group_id)): ApiPath<(ChannelId, String)>,
    ApiQuery(query): ApiQuery<GroupHistoryQuery>,
) -> Result<Json<GroupHistoryPage>, ApiError> {
    let channel = tencent_channel(&state, &caller, id).await?;
    Ok(Json(group_history_page(&channel, &group_id, &query).await?))
}

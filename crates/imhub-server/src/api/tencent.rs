//! Tencent routes under `/api/v1/tencent/...`, and the history import they
//! share with `imhub import tencent`: past one-to-one messages pulled with
//! `admin_getroammsg`, recorded like callbacks (so what a callback already
//! delivered is not stored twice), resumable page by page.

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, routing::post};
use imhub_core::{ChannelId, Platform, Timestamp};
use imhub_store::{
    Change, ConversationFilter, ListCursor, PushRecord, Store, StoreError, StoredChannel,
};
use imhub_tencent::{
    ErrorClass, REST_RATE_PER_SEC, TencentChannel, TencentConfig, TencentError,
    history::HistoryCursor,
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath},
    auth::Caller,
    channels::creates_unknown_accounts,
    error::ApiError,
};

/// The Tencent routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/tencent/channels/{id}/imports", post(import))
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
                match change {
                    Change::MessageCreated {
                        conversation_id, ..
                    } => {
                        next.stored += 1;
                        conversation = Some(*conversation_id);
                    }
                    Change::ConversationUpdated {
                        conversation_id, ..
                    }
                    | Change::MessageUpdated {
                        conversation_id, ..
                    } => conversation = Some(*conversation_id),
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
/// not the caller's; 422 `invalid_import` (not a Tencent channel, empty
/// account or peer, unreadable or reversed times); 502 `platform_error`
/// with Tencent's code and text when Tencent refuses (progress is kept).
#[utoipa::path(post, path = "/api/v1/tencent/channels/{id}/imports", tag = "tencent",
    params(("id" = i64, Path)), request_body = ImportRequest,
    responses((status = 200, body = ImportReport), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
        (status = 502, body = crate::error::Problem)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<Json<ImportReport>, ApiError> {
    caller.require_admin()?;
    let channel = state.store.get_channel(caller.0.workspace_id, id).await?;
    let store: Arc<dyn Store> = Arc::clone(&state.store);
    let task = tokio::spawn(async move {
        import_history(store.as_ref(), &channel, &request, &mut |_| {}).await
    });
    let report = task.await.map_err(ApiError::internal)??;
    Ok(Json(report))
}

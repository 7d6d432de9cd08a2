//! Leads (意向用户): the list with its filters and search, one lead with
//! its history, edits and bulk stage/owner changes, the merge proposals
//! an agent decides, the merchant's own numbers, and the CSV export.
//!
//! Leads are captured by the store while it records pushes (see
//! `imhub_store::leads`); these routes read and edit them. Agents see
//! phone numbers masked (`138****8000`) in lists (the list, bulk answers,
//! merge proposals); the lead itself (`GET /leads/{id}`, the contact panel)
//! and admins see them in full.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use imhub_core::{
    AccountId, Platform, Role, Timestamp, UserId,
    leads::{LeadId, LeadStage, csv_cell, mask_phone},
};
use imhub_store::leads::{
    Lead, LeadActor, LeadFilter, LeadHistoryEntry, LeadPatch as StorePatch, LeadSettings,
    MAX_BULK_LEADS, MAX_LEAD_NOTES_CHARS, MAX_LEAD_PAGE, MAX_LEAD_TEXT_CHARS, MAX_OWN_NUMBERS,
    MergeProposal,
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{
        ApiJson, ApiPath, ApiQuery, List, Page, decode_cursor, encode_cursor, page_limit,
        quick_replies::present,
    },
    auth::Caller,
    error::ApiError,
};

/// The `leads` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/leads", get(list))
        .route("/leads/export.csv", get(export))
        .route("/leads/settings", get(settings).put(set_settings))
        .route("/leads/bulk", post(bulk))
        .route("/leads/merge-proposals", get(proposals))
        .route("/leads/merge-proposals/{id}/accept", post(accept))
        .route("/leads/merge-proposals/{id}/reject", post(reject))
        .route("/leads/{id}", get(fetch).patch(update))
        .route("/leads/{id}/history", get(history))
}

/// Most rows the CSV export writes.
pub const MAX_EXPORT_ROWS: usize = 100_000;

fn actor(caller: &Caller) -> LeadActor {
    LeadActor {
        user_id: caller.0.user_id,
        role: caller.0.role,
    }
}

/// The lead as a list shows it to the caller: agents see phones masked.
fn for_list(caller: &Caller, mut lead: Lead) -> Lead {
    if caller.0.role != Role::Admin {
        lead.phones = lead.phones.iter().map(|p| mask_phone(p)).collect();
    }
    lead
}

/// A stage by its name (`new`, `following`, `converted`, `invalid`, or the
/// Chinese names); anything else is a 422 `invalid_stage`.
fn stage(text: &str) -> Result<LeadStage, ApiError> {
    LeadStage::parse(text.trim()).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_stage",
            format!("{text:?} is not a stage: new, following, converted or invalid"),
        )
    })
}

/// A time given as RFC 3339 or Unix milliseconds; anything else is a 400.
fn parse_time(name: &str, value: &str) -> Result<Timestamp, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .map(Timestamp)
        .or_else(|| Timestamp::parse_rfc3339(value))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name} must be an RFC 3339 time or Unix milliseconds"),
            )
        })
}

/// The lead list's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeadParams {
    /// `new` (新线索), `following` (跟进中), `converted` (已转化) or
    /// `invalid` (无效); another value is a 422 `invalid_stage`.
    #[param(schema_with = crate::api::text::lead_stage_schema)]
    pub stage: Option<String>,
    /// Owned by this agent.
    pub owner_id: Option<UserId>,
    /// Captured on this platform.
    pub platform: Option<Platform>,
    /// Captured with this account.
    pub account_id: Option<AccountId>,
    /// Created at or after: RFC 3339 or Unix milliseconds.
    #[param(schema_with = crate::api::text::time_param_schema)]
    pub from: Option<String>,
    /// Created before: RFC 3339 or Unix milliseconds.
    #[param(schema_with = crate::api::text::time_param_schema)]
    pub to: Option<String>,
    /// `true`: with a phone number; `false`: without.
    pub has_phone: Option<bool>,
    /// Text in the name, phone numbers (separators ignored), WeChat id or
    /// notes, any case; at most 100 characters.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::api::text::cursor_schema)]
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn filter_of(p: &LeadParams, limit: u32) -> Result<LeadFilter, ApiError> {
    if p.q.as_deref().is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::unprocessable(
            "query_too_long",
            "q has at most 100 characters",
        ));
    }
    Ok(LeadFilter {
        stage: p.stage.as_deref().map(stage).transpose()?,
        owner_id: p.owner_id,
        platform: p.platform,
        account_id: p.account_id,
        from: p
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?,
        to: p.to.as_deref().map(|v| parse_time("to", v)).transpose()?,
        has_phone: p.has_phone,
        query: p.q.clone(),
        after: p.cursor.as_deref().map(decode_cursor).transpose()?,
        limit,
    })
}

/// The workspace's leads, newest first, keyset paginated (pass
/// `next_cursor` back as `cursor`); merged leads are left out. Filters by
/// stage, owner, source platform and account, creation date and whether a
/// phone is known; `q` searches name, phones, WeChat id and notes. Agents
/// see phone numbers masked (`138****8000`), admins in full. Read-only.
#[utoipa::path(get, path = "/api/v1/leads", tag = "leads", params(LeadParams),
    responses((status = 200, body = Page<Lead>),
        (status = 400, description = "`invalid_cursor`; `invalid_query` (a bad time or limit)"),
        (status = 422, description = "`invalid_stage`, `query_too_long`")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<LeadParams>,
) -> Result<Json<Page<Lead>>, ApiError> {
    let limit = page_limit(p.limit, MAX_LEAD_PAGE)?;
    let filter = filter_of(&p, limit)?;
    let items = state
        .store
        .list_leads(caller.0.workspace_id, filter)
        .await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| {
            items
                .last()
                .map(|l| encode_cursor(l.created_at.millis(), l.id.0))
        })
        .flatten();
    Ok(Json(Page {
        items: items.into_iter().map(|l| for_list(&caller, l)).collect(),
        next_cursor,
    }))
}

/// One lead with its contacts, source and full phone numbers (every role:
/// the agent following it up calls them). 404 for another workspace's
/// lead. Read-only.
#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = i64, Path)), responses((status = 200, body = Lead)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LeadId>,
) -> Result<Json<Lead>, ApiError> {
    Ok(Json(state.store.get_lead(caller.0.workspace_id, id).await?))
}

/// What an edit changes; an absent field is kept, `null` clears it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadEdit {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<Option<String>>,
    /// Mainland mobile numbers in any common writing (stored as 11
    /// digits); at most 5. Replaces the list.
    #[schema(schema_with = crate::api::text::lead_phones_schema)]
    pub phones: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub wechat_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub notes: Option<Option<String>>,
    /// `new`, `following`, `converted` or `invalid`.
    #[schema(schema_with = crate::api::text::lead_stage_or_null_schema)]
    pub stage: Option<String>,
    /// An enabled agent of the workspace; `null` for nobody.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<UserId>>,
}

fn too_long(field: &str, value: &Option<Option<String>>, max: usize) -> Result<(), ApiError> {
    if let Some(Some(v)) = value
        && v.trim().chars().count() > max
    {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("{field} has at most {max} characters"),
        ));
    }
    Ok(())
}

/// Edits a lead (every role): name, phones, WeChat id, city, notes, stage,
/// owner; each change is written to its history with who made it and
/// sent as `lead.updated`. Capture never overwrites what is edited here.
/// 422 `invalid_stage`; `unknown_agent` (the owner is not an agent of the
/// workspace), `agent_disabled`; `invalid_phone` (not a mainland mobile
/// number); `invalid_request` (too long). Idempotent: the same edit again
/// changes nothing.
#[utoipa::path(patch, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = i64, Path)), request_body = LeadEdit,
    responses((status = 200, body = Lead),
        (status = 422, description = "`invalid_stage`, `unknown_agent`, `agent_disabled`, `invalid_phone`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LeadId>,
    ApiJson(body): ApiJson<LeadEdit>,
) -> Result<Json<Lead>, ApiError> {
    too_long("name", &body.name, MAX_LEAD_TEXT_CHARS)?;
    too_long("wechat_id", &body.wechat_id, MAX_LEAD_TEXT_CHARS)?;
    too_long("city", &body.city, MAX_LEAD_TEXT_CHARS)?;
    too_long("notes", &body.notes, MAX_LEAD_NOTES_CHARS)?;
    let patch = StorePatch {
        name: body.name,
        phones: body.phones,
        wechat_id: body.wechat_id,
        city: body.city,
        notes: body.notes,
        stage: body.stage.as_deref().map(stage).transpose()?,
        owner_id: body.owner_id,
    };
    let (lead, changes) = state
        .store
        .update_lead(
            caller.0.workspace_id,
            id,
            patch,
            actor(&caller),
            Timestamp::now(),
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(lead))
}

/// A change of stage and/or owner for several leads.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkLeads {
    /// 1 to 200 leads of the workspace.
    #[schema(min_items = 1, max_items = 200)]
    pub lead_ids: Vec<LeadId>,
    /// `new`, `following`, `converted` or `invalid`.
    #[schema(schema_with = crate::api::text::lead_stage_or_null_schema)]
    pub stage: Option<String>,
    /// An enabled agent; `null` for nobody; absent keeps each owner.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<UserId>>,
}

/// The leads a bulk change changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkChanged {
    /// The leads whose stage or owner changed (those already so are left out).
    pub changed: Vec<LeadId>,
}

/// Sets the stage and/or the owner of several leads (every role), all or
/// nothing: a lead of another workspace is a 404 and changes none. Each
/// changed lead gets a history entry and a `lead.updated`. 422
/// `invalid_stage`, `unknown_agent`, `agent_disabled`, `invalid_request`
/// (no lead, over 200, or nothing to change). Idempotent.
#[utoipa::path(post, path = "/api/v1/leads/bulk", tag = "leads", request_body = BulkLeads,
    responses((status = 200, body = BulkChanged),
        (status = 404, description = "`not_found`: a lead is not the workspace's"),
        (status = 422, description = "`invalid_stage`, `unknown_agent`, `agent_disabled`")))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BulkLeads>,
) -> Result<Json<BulkChanged>, ApiError> {
    if body.lead_ids.is_empty() || body.lead_ids.len() > MAX_BULK_LEADS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("name 1 to {MAX_BULK_LEADS} leads"),
        ));
    }
    let stage = body.stage.as_deref().map(stage).transpose()?;
    if stage.is_none() && body.owner_id.is_none() {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "set stage, owner_id or both",
        ));
    }
    let (changed, changes) = state
        .store
        .bulk_update_leads(
            caller.0.workspace_id,
            body.lead_ids,
            stage,
            body.owner_id,
            actor(&caller),
            Timestamp::now(),
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(BulkChanged { changed }))
}

/// A lead's history, oldest first: what changed, when, and by whom
/// (`capture` with the customer message, an agent, an API token, a
/// merge). 404 for another workspace's lead. Read-only.
#[utoipa::path(get, path = "/api/v1/leads/{id}/history", tag = "leads",
    params(("id" = i64, Path)), responses((status = 200, body = List<LeadHistoryEntry>)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LeadId>,
) -> Result<Json<List<LeadHistoryEntry>>, ApiError> {
    Ok(Json(List {
        items: state.store.lead_history(caller.0.workspace_id, id).await?,
    }))
}

/// The merchant's own numbers: never taken as a customer's phone or
/// WeChat id. Admin only. Read-only.
#[utoipa::path(get, path = "/api/v1/leads/settings", tag = "leads",
    responses((status = 200, body = LeadSettings)))]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LeadSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state.store.get_lead_settings(caller.0.workspace_id).await?,
    ))
}

/// The lead settings to store.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadSettingsBody {
    /// Mainland mobile numbers in any common writing; at most 50.
    #[schema(schema_with = crate::api::text::own_numbers_schema)]
    pub own_numbers: Vec<String>,
}

/// Replaces the merchant's own numbers (stored as 11 digits, repeats
/// dropped); messages from now on leave them out. Admin only. 422
/// `invalid_phone` (not a mainland mobile number), `invalid_request`
/// (over 50). Idempotent.
#[utoipa::path(put, path = "/api/v1/leads/settings", tag = "leads",
    request_body = LeadSettingsBody,
    responses((status = 200, body = LeadSettings),
        (status = 422, description = "`invalid_phone`, `invalid_request`")))]
pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<LeadSettingsBody>,
) -> Result<Json<LeadSettings>, ApiError> {
    caller.require_admin()?;
    // As the schema says: at most 50 as sent, before repeats are dropped.
    if body.own_numbers.len() > MAX_OWN_NUMBERS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("at most {MAX_OWN_NUMBERS} own numbers"),
        ));
    }
    Ok(Json(
        state
            .store
            .set_lead_settings(caller.0.workspace_id, body.own_numbers)
            .await?,
    ))
}

/// The merge-proposal list's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProposalParams {
    /// `pending` (default), `accepted`, `rejected`, `obsolete` or `all`.
    #[param(schema_with = proposal_status_schema)]
    pub status: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Schema of the merge-proposal list's `status`.
fn proposal_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(PROPOSAL_STATUSES))
        .description(Some(
            "`pending` (default), `accepted`, `rejected`, `obsolete` or `all`.",
        ))
        .build()
}

/// The merge-proposal statuses a list may ask for.
const PROPOSAL_STATUSES: [&str; 5] = ["pending", "accepted", "rejected", "obsolete", "all"];

/// Pairs of leads with the same phone number (on another contact or
/// platform), newest first, for an agent to merge or not; each carries
/// both leads (phones masked for agents). Read-only.
#[utoipa::path(get, path = "/api/v1/leads/merge-proposals", tag = "leads",
    params(ProposalParams),
    responses((status = 200, body = List<MergeProposal>),
        (status = 400, description = "`invalid_query` (an unknown status or a bad limit)")))]
pub async fn proposals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ProposalParams>,
) -> Result<Json<List<MergeProposal>>, ApiError> {
    let limit = page_limit(p.limit, MAX_LEAD_PAGE)?;
    let status = match p.status.as_deref().unwrap_or("pending") {
        "all" => None,
        s @ ("pending" | "accepted" | "rejected" | "obsolete") => Some(s.to_string()),
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("status {other:?}: pending, accepted, rejected, obsolete or all"),
            ));
        }
    };
    let items = state
        .store
        .list_merge_proposals(caller.0.workspace_id, status, limit)
        .await?;
    Ok(Json(List {
        items: items.into_iter().map(|p| decided(&caller, p)).collect(),
    }))
}

/// A proposal as the caller may see it: agents get every phone masked,
/// the shared one included.
fn decided(caller: &Caller, mut p: MergeProposal) -> MergeProposal {
    p.lead = for_list(caller, p.lead);
    p.other = for_list(caller, p.other);
    if caller.0.role != Role::Admin {
        p.phone = mask_phone(&p.phone);
    }
    p
}

/// Merges the proposal's newer lead into the older one (every role): the
/// older keeps its stage and fills what it lacks from the newer (phones,
/// answers and orders joined, notes from both), every contact of both
/// stays on it, and the newer leaves the list (`merged_into`). Both get a
/// history entry and a `lead.updated`. 409 `invalid_state` when the
/// proposal was decided already; 404 for another workspace's.
#[utoipa::path(post, path = "/api/v1/leads/merge-proposals/{id}/accept", tag = "leads",
    params(("id" = i64, Path)),
    responses((status = 200, body = MergeProposal),
        (status = 409, description = "`invalid_state`")))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MergeProposal>, ApiError> {
    let (p, changes) = state
        .store
        .decide_merge_proposal(
            caller.0.workspace_id,
            id,
            true,
            actor(&caller),
            Timestamp::now(),
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(decided(&caller, p)))
}

/// Rejects a merge proposal (every role): the two leads stay apart and
/// the pair is not proposed again. 409 `invalid_state` when it was decided
/// already; 404 for another workspace's.
#[utoipa::path(post, path = "/api/v1/leads/merge-proposals/{id}/reject", tag = "leads",
    params(("id" = i64, Path)),
    responses((status = 200, body = MergeProposal),
        (status = 409, description = "`invalid_state`")))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MergeProposal>, ApiError> {
    let (p, changes) = state
        .store
        .decide_merge_proposal(
            caller.0.workspace_id,
            id,
            false,
            actor(&caller),
            Timestamp::now(),
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(decided(&caller, p)))
}

/// The export's header row.
const EXPORT_HEADER: [&str; 16] = [
    "ID",
    "姓名",
    "手机号",
    "微信",
    "城市",
    "阶段",
    "负责人",
    "来源平台",
    "来源账号",
    "来源会话",
    "来源场景",
    "备注",
    "其他信息",
    "美团订单",
    "创建时间",
    "更新时间",
];

/// The leads of the list's filters as CSV (every page, newest first, at
/// most 100,000 rows), phones in full: UTF-8 with a byte-order mark so
/// Excel shows Chinese, CRLF lines, RFC 4180 quoting (commas, quotes and
/// line breaks inside cells), and cells starting with `=`, `+`, `-` or `@`
/// prefixed with `'` against formula injection. Admin only. The filters
/// and their errors are the list's (`cursor` and `limit` are ignored).
#[utoipa::path(get, path = "/api/v1/leads/export.csv", tag = "leads", params(LeadParams),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 400, description = "`invalid_cursor`; `invalid_query` (a bad time or limit)"),
        (status = 422, description = "`invalid_stage`, `query_too_long`")))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<LeadParams>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    // `limit` is checked as the list checks it, then ignored with `cursor`.
    page_limit(p.limit, MAX_LEAD_PAGE)?;
    let mut filter = filter_of(&p, MAX_LEAD_PAGE)?;
    filter.after = None;
    let users = state.store.list_users(ws).await?;
    let accounts = state.store.list_accounts(ws).await?;
    let mut body = String::from("\u{feff}");
    body.push_str(
        &EXPORT_HEADER
            .iter()
            .map(|h| csv_cell(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    body.push_str("\r\n");
    let mut rows = 0;
    loop {
        let page = state.store.list_leads(ws, filter.clone()).await?;
        let full = page.len() == MAX_LEAD_PAGE as usize;
        for lead in &page {
            let owner = lead
                .owner_id
                .and_then(|o| users.iter().find(|u| u.id == o))
                .map(|u| u.name.clone())
                .unwrap_or_default();
            let account = lead
                .source
                .account_id
                .and_then(|a| accounts.iter().find(|x| x.id == a))
                .map(|a| a.name.clone())
                .unwrap_or_default();
            let cells = [
                lead.id.to_string(),
                lead.name.clone().unwrap_or_default(),
                lead.phones.join(" / "),
                lead.wechat_id.clone().unwrap_or_default(),
                lead.city.clone().unwrap_or_default(),
                lead.stage.label().to_string(),
                owner,
                lead.source.platform.as_str().to_string(),
                account,
                lead.source
                    .conversation_id
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                lead.source
                    .context
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                lead.notes.clone().unwrap_or_default(),
                lead.fields
                    .iter()
                    .map(|f| format!("{}: {}", f.label, f.value))
                    .collect::<Vec<_>>()
                    .join("; "),
                lead.orders.join(" / "),
                lead.created_at.to_rfc3339(),
                lead.updated_at.to_rfc3339(),
            ];
            body.push_str(
                &cells
                    .iter()
                    .map(|c| csv_cell(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            body.push_str("\r\n");
            rows += 1;
        }
        match page.last() {
            Some(last) if full && rows < MAX_EXPORT_ROWS => {
                filter.after = Some((last.created_at.millis(), last.id.0));
            }
            _ => break,
        }
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"leads.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

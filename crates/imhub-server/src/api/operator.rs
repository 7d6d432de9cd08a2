//! The operator API under `/api/v1/operator`: whoever runs the server (an
//! ISV, the merchant's IT) provisions workspaces with the operator token of
//! the configuration — create, list, rename, suspend, resume, delete; a
//! workspace's first admin user or token; its quotas with usage. Also the
//! per-workspace quota checks the workspace routes call, and the engine
//! that finishes resumes a node left unfinished.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use imhub_core::{Role, Timestamp, UserId, WorkspaceId};
use imhub_store::{
    StoreError,
    operator::{DAY_MS, OperatorWorkspace, QuotaDefaults, Quotas, WorkspaceStatus},
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState, ServeError,
    api::{ApiJson, ApiPath, ApiQuery, List},
    auth::{MIN_OPERATOR_TOKEN_CHARS, Operator, add_user, hash_secret, new_secret},
    config::Config,
    error::ApiError,
};

/// The operator routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/operator/workspaces", get(list).post(create))
        .route(
            "/operator/workspaces/{id}",
            get(fetch).patch(rename).delete(remove),
        )
        .route("/operator/workspaces/{id}/suspend", post(suspend))
        .route("/operator/workspaces/{id}/resume", post(resume))
        .route("/operator/workspaces/{id}/admins", post(create_admin))
        .route("/operator/workspaces/{id}/tokens", post(create_token))
        .route(
            "/operator/workspaces/{id}/quotas",
            get(quotas).put(set_quotas),
        )
}

/// The operator token of the configuration: `operator_token`, or the
/// contents of `operator_token_file` (trimmed); refused when both are set
/// or it is shorter than [`MIN_OPERATOR_TOKEN_CHARS`].
pub fn configured_token(
    config: &Config,
) -> Result<Option<crate::config::SecretString>, ServeError> {
    let token = match (&config.operator_token, &config.operator_token_file) {
        (Some(_), Some(_)) => {
            return Err(ServeError::Config(
                "set operator_token or operator_token_file, not both".into(),
            ));
        }
        (Some(token), None) => token.0.trim().to_string(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| {
                ServeError::Config(format!("operator_token_file {}: {e}", path.display()))
            })?
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    if token.chars().count() < MIN_OPERATOR_TOKEN_CHARS {
        return Err(ServeError::Config(format!(
            "the operator token needs at least {MIN_OPERATOR_TOKEN_CHARS} characters"
        )));
    }
    Ok(Some(crate::config::SecretString(token)))
}

/// Longest workspace name.
pub const MAX_WORKSPACE_NAME_CHARS: usize = 100;

/// Largest quota value accepted (JSON's exact integers).
pub const MAX_QUOTA: u64 = 9_007_199_254_740_991;

/// Held pushes processed per transaction while resuming.
const DRAIN_BATCH: u32 = 100;

/// How long a resume request drains before it answers `resuming` and
/// leaves the rest to the background engine.
const DRAIN_IN_REQUEST: Duration = Duration::from_secs(20);

/// How often the engine looks for workspaces left resuming.
const RESUME_SWEEP: Duration = Duration::from_secs(5);

/// Quotas as in force: `0` is no limit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaLimits {
    pub channels: u64,
    pub agents: u64,
    pub messages_per_day: u64,
    pub media_bytes: u64,
}

impl From<QuotaDefaults> for QuotaLimits {
    fn from(d: QuotaDefaults) -> Self {
        QuotaLimits {
            channels: d.channels,
            agents: d.agents,
            messages_per_day: d.messages_per_day,
            media_bytes: d.media_bytes,
        }
    }
}

/// What a workspace uses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaUsage {
    /// Connected channels.
    pub channels: u64,
    /// Users, admins and agents (disabled ones included).
    pub agents: u64,
    /// Messages sent since 00:00 UTC (API, inbox and automatic replies).
    pub messages_today: u64,
    /// Bytes of uploaded media.
    pub media_bytes: u64,
}

/// A workspace's quotas: as set (`null`: the operator's default from
/// `[limits]`; `0`: no limit), as in force, and what it uses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotasView {
    pub channels: Option<u64>,
    pub agents: Option<u64>,
    pub messages_per_day: Option<u64>,
    pub media_bytes: Option<u64>,
    pub effective: QuotaLimits,
    pub usage: QuotaUsage,
}

/// A workspace's status.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusView {
    /// Works normally.
    Active,
    /// API and inbox answer 403 `workspace_suspended`; nothing is sent;
    /// pushes are acknowledged and held.
    Suspended,
    /// Held pushes are being processed in order; then active.
    Resuming,
}

/// A workspace as the operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorWorkspaceView {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
    pub status: StatusView,
    /// When it was suspended; absent when active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<Timestamp>,
    /// Pushes received while suspended and not processed yet.
    pub held_pushes: u64,
    pub quotas: QuotasView,
}

fn quotas_view(w: &OperatorWorkspace) -> QuotasView {
    QuotasView {
        channels: w.quotas.channels,
        agents: w.quotas.agents,
        messages_per_day: w.quotas.messages_per_day,
        media_bytes: w.quotas.media_bytes,
        effective: w.effective.into(),
        usage: QuotaUsage {
            channels: w.usage.channels,
            agents: w.usage.agents,
            messages_today: w.usage.messages_today,
            media_bytes: w.usage.media_bytes,
        },
    }
}

impl From<OperatorWorkspace> for OperatorWorkspaceView {
    fn from(w: OperatorWorkspace) -> Self {
        OperatorWorkspaceView {
            quotas: quotas_view(&w),
            id: w.id,
            name: w.name,
            created_at: w.created_at,
            status: match w.status {
                WorkspaceStatus::Active => StatusView::Active,
                WorkspaceStatus::Suspended => StatusView::Suspended,
                WorkspaceStatus::Resuming => StatusView::Resuming,
            },
            suspended_at: w.suspended_at,
            held_pushes: w.held_pushes,
        }
    }
}

fn workspace_name_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(crate::api::text::not_blank_pattern()))
        .max_length(Some(MAX_WORKSPACE_NAME_CHARS))
        .description(Some("Not blank, at most 100 characters."))
        .build()
}

/// A workspace's name, to create or rename it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceName {
    #[schema(schema_with = workspace_name_schema)]
    pub name: String,
}

fn checked_name(name: &str) -> Result<&str, ApiError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > MAX_WORKSPACE_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "a workspace needs a name of 1 to 100 characters",
        ));
    }
    Ok(trimmed)
}

fn unknown_workspace(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("workspace"),
        other => other.into(),
    }
}

async fn view(state: &AppState, ws: WorkspaceId) -> Result<OperatorWorkspaceView, ApiError> {
    Ok(state
        .store
        .operator_workspace(ws, Timestamp::now())
        .await
        .map_err(unknown_workspace)?
        .into())
}

/// Every workspace, oldest first, with status, quotas and usage. Operator
/// token only: a workspace's token or session is 401.
#[utoipa::path(get, path = "/api/v1/operator/workspaces", tag = "operator",
    security(("operator_token" = [])),
    responses((status = 200, body = List<OperatorWorkspaceView>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<List<OperatorWorkspaceView>>, ApiError> {
    let items = state
        .store
        .operator_workspaces(Timestamp::now())
        .await?
        .into_iter()
        .map(OperatorWorkspaceView::from)
        .collect();
    Ok(Json(List { items }))
}

/// Creates a workspace (201), active, with the operator's default quotas
/// and nobody in it yet: give it a first admin (`/admins`) or token
/// (`/tokens`). 422 `invalid_name` for a blank or over-long name. Not
/// idempotent: each call creates one.
#[utoipa::path(post, path = "/api/v1/operator/workspaces", tag = "operator",
    security(("operator_token" = [])), request_body = WorkspaceName,
    responses((status = 201, body = OperatorWorkspaceView),
        (status = 422, description = "`invalid_name`")))]
pub async fn create(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<WorkspaceName>,
) -> Result<(StatusCode, Json<OperatorWorkspaceView>), ApiError> {
    let name = checked_name(&req.name)?;
    let ws = state.store.create_workspace(name).await?;
    tracing::info!(workspace = %ws.id, "operator created a workspace");
    Ok((StatusCode::CREATED, Json(view(&state, ws.id).await?)))
}

/// One workspace with status, quotas and usage; 404 when there is none.
#[utoipa::path(get, path = "/api/v1/operator/workspaces/{id}", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OperatorWorkspaceView)))]
pub async fn fetch(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<Json<OperatorWorkspaceView>, ApiError> {
    Ok(Json(view(&state, id).await?))
}

/// Renames a workspace. 422 `invalid_name`; 404 when there is none.
#[utoipa::path(patch, path = "/api/v1/operator/workspaces/{id}", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)), request_body = WorkspaceName,
    responses((status = 200, body = OperatorWorkspaceView),
        (status = 422, description = "`invalid_name`")))]
pub async fn rename(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<WorkspaceName>,
) -> Result<Json<OperatorWorkspaceView>, ApiError> {
    let name = checked_name(&req.name)?;
    state
        .store
        .rename_workspace(id, name)
        .await
        .map_err(unknown_workspace)?;
    Ok(Json(view(&state, id).await?))
}

/// The query of [`remove`].
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfirmQuery {
    /// The workspace's name, exactly: the typed confirmation.
    pub confirm: Option<String>,
}

/// Deletes a workspace and all of its data (204): conversations, messages,
/// contacts, leads, users and their sessions, tokens, channels and their
/// credentials, uploads, kept and held pushes, queued replies, webhooks,
/// alerts. Irreversible. `confirm` must be the workspace's name exactly,
/// else 422 `confirmation_mismatch` and nothing is deleted; 404 when there
/// is none.
#[utoipa::path(delete, path = "/api/v1/operator/workspaces/{id}", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path), ConfirmQuery),
    responses((status = 204),
        (status = 422, description = "`confirmation_mismatch`: `confirm` is not the name")))]
pub async fn remove(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiQuery(q): ApiQuery<ConfirmQuery>,
) -> Result<StatusCode, ApiError> {
    let workspace = view(&state, id).await?;
    if q.confirm.as_deref() != Some(workspace.name.as_str()) {
        return Err(ApiError::unprocessable(
            "confirmation_mismatch",
            "confirm must be the workspace's name exactly",
        ));
    }
    state
        .store
        .delete_workspace(id)
        .await
        .map_err(unknown_workspace)?;
    tracing::warn!(workspace = %id, "operator deleted a workspace and its data");
    Ok(StatusCode::NO_CONTENT)
}

/// Suspends a workspace (200): its API and inbox answer 403
/// `workspace_suspended`, its outbox, outgoing webhooks and alerts wait,
/// and its pushes are acknowledged to the platforms and held raw, to be
/// processed in order on resume. Suspending a suspended workspace changes
/// nothing; 404 when there is none.
#[utoipa::path(post, path = "/api/v1/operator/workspaces/{id}/suspend", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OperatorWorkspaceView)))]
pub async fn suspend(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<Json<OperatorWorkspaceView>, ApiError> {
    state
        .store
        .suspend_workspace(id, Timestamp::now())
        .await
        .map_err(unknown_workspace)?;
    tracing::info!(workspace = %id, "operator suspended a workspace");
    Ok(Json(view(&state, id).await?))
}

/// Resumes a workspace (200): the pushes held while it was suspended are
/// processed in the order they came (automatic replies included), then it
/// is `active`; new pushes meanwhile wait behind them. With very many held
/// pushes the answer may say `resuming`: the server finishes in the
/// background. Resuming an active workspace changes nothing; 404 when
/// there is none.
#[utoipa::path(post, path = "/api/v1/operator/workspaces/{id}/resume", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = OperatorWorkspaceView)))]
pub async fn resume(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<Json<OperatorWorkspaceView>, ApiError> {
    state
        .store
        .begin_resume(id)
        .await
        .map_err(unknown_workspace)?;
    drain(&state, id, Some(DRAIN_IN_REQUEST)).await?;
    tracing::info!(workspace = %id, "operator resumed a workspace");
    Ok(Json(view(&state, id).await?))
}

/// Processes a resuming workspace's held pushes until it is active (or
/// `budget` ran out); publishes what they changed.
pub async fn drain(
    state: &AppState,
    ws: WorkspaceId,
    budget: Option<Duration>,
) -> Result<bool, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let drained = state.store.drain_held_pushes(ws, DRAIN_BATCH).await?;
        state.live.publish(&drained.changes);
        if drained.outbox_queued {
            state.outbox_ready.notify_one();
        }
        if drained.active {
            // Its queued replies may go now.
            state.outbox_ready.notify_one();
            return Ok(true);
        }
        if drained.processed == 0 || budget.is_some_and(|b| started.elapsed() >= b) {
            return Ok(false);
        }
    }
}

/// Finishes resumes left unfinished (a resume that ran out of time, a node
/// that stopped mid-drain), on any node, until the server stops.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RESUME_SWEEP) => {}
            _ = stop.changed() => return,
        }
        let resuming = match state.store.resuming_workspaces().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list resuming workspaces");
                continue;
            }
        };
        for ws in resuming {
            if let Err(e) = drain(&state, ws, Some(DRAIN_IN_REQUEST)).await {
                tracing::warn!(workspace = %ws, error = %e, "cannot process held pushes");
            }
        }
    }
}

/// The workspace's first (or another) admin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    #[schema(schema_with = crate::api::text::email_schema)]
    pub email: String,
    #[schema(schema_with = crate::api::text::name_schema)]
    pub name: String,
    /// Omitted: one is generated and returned once as `initial_password`.
    #[serde(default)]
    #[schema(schema_with = password_or_null)]
    pub password: Option<String>,
}

fn password_or_null() -> utoipa::openapi::Object {
    crate::api::text::or_null(crate::api::text::password_schema())
}

/// A user as created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
}

/// The admin created; the generated password, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAdmin {
    pub user: OperatorUser,
    /// Only when the request gave no password: stored hashed, never shown
    /// again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<String>,
}

/// Creates an admin user of the workspace (201), who logs into the inbox
/// with the email and password; without `password` one is generated and
/// returned once as `initial_password`. 409 when the email is taken in
/// this workspace; 422 `weak_password`, `invalid_email`, `invalid_name`,
/// `quota_exceeded` (its users quota); 404 when there is no workspace.
#[utoipa::path(post, path = "/api/v1/operator/workspaces/{id}/admins", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)), request_body = NewAdmin,
    responses((status = 201, body = CreatedAdmin),
        (status = 409, description = "`conflict`: the email is taken in this workspace"),
        (status = 422, description = "`weak_password`, `invalid_email`, `invalid_name`, \
            `quota_exceeded`")))]
pub async fn create_admin(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<NewAdmin>,
) -> Result<(StatusCode, Json<CreatedAdmin>), ApiError> {
    view(&state, id).await?;
    let name = req.name.trim();
    if name.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "the admin needs a name",
        ));
    }
    let (password, generated) = match req.password {
        Some(p) => (p, false),
        None => (new_secret("").chars().take(20).collect::<String>(), true),
    };
    let user = add_user(
        state.store.as_ref(),
        id,
        &req.email,
        name,
        Role::Admin,
        &password,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdmin {
            user: OperatorUser {
                id: user.id,
                email: user.email,
                name: user.name,
                role: user.role,
                created_at: user.created_at,
            },
            initial_password: generated.then_some(password),
        }),
    ))
}

fn token_name_schema() -> utoipa::openapi::Object {
    crate::api::text::token_name_schema()
}

/// A token to issue for the workspace.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspaceToken {
    #[schema(schema_with = token_name_schema)]
    pub name: String,
    /// Default `admin`.
    #[serde(default)]
    pub role: Option<Role>,
    /// Days until it is refused; omitted: until revoked.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// The token issued, shown this once: only its hash is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub id: i64,
    /// The secret (`imh_…`), for `Authorization: Bearer`.
    pub token: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Issues an API token of the workspace (201), `admin` unless said, for
/// the merchant's first setup or an ISV's integration. 422
/// `invalid_name` (blank, over 200 characters), `invalid_expiry` (outside
/// 1 to 3650 days); 404 when there is no workspace.
#[utoipa::path(post, path = "/api/v1/operator/workspaces/{id}/tokens", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)),
    request_body = NewWorkspaceToken,
    responses((status = 201, body = IssuedToken),
        (status = 422, description = "`invalid_name`, `invalid_expiry`")))]
pub async fn create_token(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<NewWorkspaceToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    view(&state, id).await?;
    let name = req.name.trim();
    if name.is_empty() || req.name.chars().count() > crate::api::text::MAX_TOKEN_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "a token needs a name of 1 to 200 characters",
        ));
    }
    let expires_at = match req.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => Some(Timestamp::now().plus_millis(i64::from(days) * DAY_MS)),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_expiry",
                "expires_in_days must be between 1 and 3650",
            ));
        }
    };
    let token = new_secret("imh_");
    let info = state
        .store
        .create_api_token_expiring(
            id,
            name,
            req.role.unwrap_or(Role::Admin),
            &hash_secret(&token),
            expires_at,
        )
        .await
        .map_err(unknown_workspace)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            id: info.id,
            token,
            name: info.name,
            role: info.role,
            created_at: info.created_at,
            expires_at: info.expires_at,
        }),
    ))
}

/// A workspace's quotas, all four replaced: `null` (or omitted) follows
/// the operator's default, `0` is no limit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasBody {
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub channels: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub agents: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub messages_per_day: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub media_bytes: Option<u64>,
}

/// A workspace's quotas as set, as in force, and its usage; 404 when there
/// is none.
#[utoipa::path(get, path = "/api/v1/operator/workspaces/{id}/quotas", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = QuotasView)))]
pub async fn quotas(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<Json<QuotasView>, ApiError> {
    let w = state
        .store
        .operator_workspace(id, Timestamp::now())
        .await
        .map_err(unknown_workspace)?;
    Ok(Json(quotas_view(&w)))
}

/// Replaces a workspace's quotas. Past a quota, creating a channel or a
/// user is refused (422 `quota_exceeded`), an API send answers 429
/// `quota_exceeded` until the next UTC day, an automatic reply is skipped
/// (the rule's failure), an upload 413 `quota_exceeded`; inbound pushes are
/// never refused. Lowering a quota below the usage removes nothing. 422
/// `invalid_request` for a value above 2^53 - 1; 404 when there is none.
#[utoipa::path(put, path = "/api/v1/operator/workspaces/{id}/quotas", tag = "operator",
    security(("operator_token" = [])), params(("id" = i64, Path)), request_body = QuotasBody,
    responses((status = 200, body = QuotasView)))]
pub async fn set_quotas(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<QuotasBody>,
) -> Result<Json<QuotasView>, ApiError> {
    let all = [
        req.channels,
        req.agents,
        req.messages_per_day,
        req.media_bytes,
    ];
    if all.iter().flatten().any(|&n| n > MAX_QUOTA) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "a quota is at most 9007199254740991",
        ));
    }
    state
        .store
        .set_workspace_quotas(
            id,
            Quotas {
                channels: req.channels,
                agents: req.agents,
                messages_per_day: req.messages_per_day,
                media_bytes: req.media_bytes,
            },
        )
        .await
        .map_err(unknown_workspace)?;
    quotas(State(state), Operator, ApiPath(id)).await
}

/// Refuses an API send past the workspace's messages per day: 429
/// `quota_exceeded` with `Retry-After` to the next 00:00 UTC.
pub async fn check_send_quota(state: &AppState, ws: WorkspaceId) -> Result<(), ApiError> {
    let now = Timestamp::now();
    match state.store.check_daily_sends(ws, now).await {
        Ok(()) => Ok(()),
        Err(StoreError::Refused { code, detail }) => {
            let next_day = (now.millis().div_euclid(DAY_MS) + 1) * DAY_MS;
            let secs = u64::try_from((next_day - now.millis() + 999) / 1000).unwrap_or(1);
            Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail).with_retry_after(secs))
        }
        Err(e) => Err(e.into()),
    }
}

/// The media quota of a workspace in bytes (its own, else `[limits]`);
/// `None` for no limit.
pub async fn media_quota(state: &AppState, ws: WorkspaceId) -> Result<Option<u64>, ApiError> {
    let w = state.store.operator_workspace(ws, Timestamp::now()).await?;
    Ok(Some(
        w.quotas
            .media_bytes
            .unwrap_or(state.config.limits.media_bytes_per_workspace),
    )
    .filter(|&q| q > 0))
}

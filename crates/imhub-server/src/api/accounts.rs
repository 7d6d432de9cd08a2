//! Merchant accounts inside channels (Douyin enterprise accounts, Tencent
//! sender UserIDs, Meituan stores, a custom system's agents or shops).

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use imhub_core::{Account, AccountId, ChannelId};
use serde::Deserialize;

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::Caller,
    error::ApiError,
};

/// The `accounts` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list).post(create))
        .route("/accounts/{id}", get(fetch).patch(update))
}

/// An account to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub channel_id: ChannelId,
    /// The platform's id of the account; not blank.
    #[schema(schema_with = crate::api::text::name_schema)]
    pub external_id: String,
    pub name: String,
}

/// Adds an account. Admin only. 404 for another workspace's channel; 409
/// when the channel already has this external id.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = Account),
        (status = 404, description = "`not_found`: the channel is not the workspace's"),
        (status = 409, description = "`conflict`: the channel already has this external id")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    caller.require_admin()?;
    if crate::api::text::is_blank(&req.external_id) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "external_id must not be empty",
        ));
    }
    let account = state
        .store
        .create_account(
            caller.0.workspace_id,
            req.channel_id,
            req.external_id.trim(),
            &req.name,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// The workspace's accounts.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    responses((status = 200, body = List<Account>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<Account>>, ApiError> {
    Ok(Json(List {
        items: state.store.list_accounts(caller.0.workspace_id).await?,
    }))
}

/// One account; 404 when it is not the caller's.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = i64, Path)), responses((status = 200, body = Account)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        state.store.get_account(caller.0.workspace_id, id).await?,
    ))
}

/// What to change about an account; absent (or `null`) fields keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    /// A new name; not blank.
    #[serde(default)]
    #[schema(schema_with = crate::api::channels::name_or_null_schema)]
    pub name: Option<String>,
    /// `true` disables the account: replies through it are refused 422
    /// `account_disabled` (nothing is queued) and nothing is assigned
    /// automatically in it; its pushes are still recorded. `false`
    /// enables it again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Renames, disables or enables an account (200 with the account). Admin
/// only. 404 for another workspace's account or one of a disconnected
/// channel; 422 `invalid_request` for a blank name. Idempotent.
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = i64, Path)), request_body = AccountChange,
    responses((status = 200, body = Account),
        (status = 422, description = "`invalid_request`: a blank name")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(req): ApiJson<AccountChange>,
) -> Result<Json<Account>, ApiError> {
    caller.require_admin()?;
    if req.name.as_deref().is_some_and(crate::api::text::is_blank) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "name must not be empty",
        ));
    }
    Ok(Json(
        state
            .store
            .update_account(
                caller.0.workspace_id,
                id,
                req.name.as_deref().map(str::trim),
                req.disabled,
            )
            .await?,
    ))
}

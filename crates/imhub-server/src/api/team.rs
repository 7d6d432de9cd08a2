//! The team: who is online and how busy, each agent's availability and
//! capacity, and the workspace's team settings.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, put},
};
use imhub_core::{Availability, Timestamp, UserId};
use imhub_store::{AgentInfo, TeamSettings};
use serde::Deserialize;

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::Caller,
    error::ApiError,
};

/// The `team` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/team/agents", get(agents))
        .route("/team/settings", get(settings).put(set_settings))
        .route("/users/{id}/capacity", put(set_capacity))
        .route("/session/availability", put(set_availability))
}

/// The workspace's enabled agents with their availability, capacity and
/// open assigned conversations, oldest first. Every role may read it: the
/// inbox shows who is online.
#[utoipa::path(get, path = "/api/v1/team/agents", tag = "team",
    responses((status = 200, body = List<AgentInfo>)))]
pub async fn agents(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<AgentInfo>>, ApiError> {
    Ok(Json(List {
        items: state.store.list_agents(caller.0.workspace_id).await?,
    }))
}

/// The workspace's team settings. Admin only.
#[utoipa::path(get, path = "/api/v1/team/settings", tag = "team",
    responses((status = 200, body = TeamSettings)))]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TeamSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state.store.get_team_settings(caller.0.workspace_id).await?,
    ))
}

/// Replaces the team settings. Admin only. `offline_after_minutes` (1 to
/// 1440): an agent whose inbox has not been connected for this long is set
/// offline; `requeue_on_away`: when an agent goes away or offline, their
/// open conversations waiting for an answer return to the queue. 422
/// `invalid_request` outside the range. Idempotent.
#[utoipa::path(put, path = "/api/v1/team/settings", tag = "team", request_body = TeamSettings,
    responses((status = 200, body = TeamSettings)))]
pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(settings): ApiJson<TeamSettings>,
) -> Result<Json<TeamSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .set_team_settings(caller.0.workspace_id, settings)
            .await?,
    ))
}

/// An agent's capacity.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Most open conversations auto-assignment gives the agent (0 to
    /// 1000; 0: none). Assignment by hand is not limited.
    #[schema(minimum = 0, maximum = 1000)]
    pub capacity: u32,
}

/// Sets how many open conversations auto-assignment gives an agent (200
/// with the agent); a larger capacity lets the queue move at once. Admin
/// only. 404 for another workspace's user; 422 `invalid_request` above
/// 1000. Idempotent.
#[utoipa::path(put, path = "/api/v1/users/{id}/capacity", tag = "team",
    params(("id" = i64, Path)), request_body = Capacity,
    responses((status = 200, body = AgentInfo)))]
pub async fn set_capacity(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(body): ApiJson<Capacity>,
) -> Result<Json<AgentInfo>, ApiError> {
    caller.require_admin()?;
    let (agent, changes) = state
        .store
        .set_capacity(caller.0.workspace_id, id, body.capacity, Timestamp::now())
        .await?;
    state.live.publish(&changes);
    Ok(Json(agent))
}

/// The caller's availability.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityChange {
    /// `online` takes new conversations; `away` (小休) and `offline` do not.
    pub availability: Availability,
}

/// Sets the caller's own availability (200 with the agent) and counts as
/// being seen now. Going online lets the queue move to them; going away
/// or offline returns their waiting conversations to the queue when the
/// workspace's `requeue_on_away` says so. Emits
/// `agent.availability_changed`. Needs a session user (403 `needs_user`).
/// Idempotent.
#[utoipa::path(put, path = "/api/v1/session/availability", tag = "team",
    request_body = AvailabilityChange,
    responses((status = 200, body = AgentInfo),
        (status = 403, description = "`needs_user`")))]
pub async fn set_availability(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AvailabilityChange>,
) -> Result<Json<AgentInfo>, ApiError> {
    let me = caller.0.user_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "needs_user",
            "availability is a signed-in agent's; an API token has none",
        )
    })?;
    let (agent, changes) = state
        .store
        .set_availability(
            caller.0.workspace_id,
            me,
            body.availability,
            Timestamp::now(),
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(agent))
}

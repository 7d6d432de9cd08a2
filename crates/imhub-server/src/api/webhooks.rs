//! The merchant's subscriptions to imhub's events (admin only), and the
//! delivery attempts of each.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};
use imhub_core::WebhookId;
use imhub_store::{WebhookDelivery, WebhookSubscription};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List, channels::target_refused},
    auth::{Caller, new_secret},
    error::ApiError,
};

/// The `webhooks` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/retry",
            axum::routing::post(retry_delivery),
        )
}

/// Event types a subscription may name: every [`imhub_store::Change`]
/// kind (a test keeps the two lists equal).
pub const EVENT_TYPES: &[&str] = &[
    "message.created",
    "message.updated",
    "conversation.updated",
    "conversation.assigned",
    "conversation.status_changed",
    "conversation.labels_changed",
    "note.created",
    "mention.created",
    "agent.availability_changed",
    "automation.fired",
    "lead.created",
    "lead.updated",
];

/// A subscription to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// An absolute http(s) URL whose host imhub may call.
    pub url: String,
    #[schema(schema_with = crate::api::text::webhook_secret_schema)]
    pub secret: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::api::text::event_types_schema)]
    pub event_types: Vec<String>,
}

/// The created subscription with its secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub subscription: WebhookSubscription,
    pub secret: String,
}

/// Subscribes a URL to events. Admin only. 422 `invalid_request` for a URL
/// that is not http(s), an unknown event type or a secret under 16
/// characters; 422 `target_not_allowed` for a URL that is or resolves to an
/// address imhub does not call (a name that does not resolve now is
/// accepted and checked at every delivery); 422 `too_many_webhooks` when
/// the workspace has the operator's maximum (default 20) already.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook),
        (status = 422, description = "`invalid_request`, `target_not_allowed`, `too_many_webhooks`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    caller.require_admin()?;
    let url = state
        .outbound_http
        .check_url(&req.url)
        .await
        .map_err(target_refused)?;
    if let Some(bad) = req
        .event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!(
                "unknown event type {bad:?}; known: {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let secret = match req.secret {
        Some(s) if s.chars().count() >= 16 => s,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "secret must have at least 16 characters",
            ));
        }
        None => new_secret("whsec_"),
    };
    let limit = state.config.outbound.max_webhooks_per_workspace;
    if state
        .store
        .list_webhooks(caller.0.workspace_id)
        .await?
        .len()
        >= limit
    {
        return Err(ApiError::unprocessable(
            "too_many_webhooks",
            format!("a workspace may have at most {limit} webhook subscriptions; delete one first"),
        ));
    }
    let subscription = state
        .store
        .create_webhook(
            caller.0.workspace_id,
            url.as_str(),
            &secret,
            &req.event_types,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            subscription,
            secret,
        }),
    ))
}

/// The workspace's active subscriptions (secrets are not shown). Admin only.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = List<WebhookSubscription>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<WebhookSubscription>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(List {
        items: state.store.list_webhooks(caller.0.workspace_id).await?,
    }))
}

/// Ends a subscription; its pending deliveries are dropped, its history
/// kept. Admin only. 404 for another workspace's or an ended subscription.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 204)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state
        .store
        .delete_webhook(caller.0.workspace_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The newest deliveries of a subscription with their attempts, status
/// codes and errors. Admin only. 404 once the subscription is deleted (or
/// for another workspace's).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 200, body = List<WebhookDelivery>)))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<List<WebhookDelivery>>, ApiError> {
    caller.require_admin()?;
    let active = state.store.list_webhooks(caller.0.workspace_id).await?;
    if !active.iter().any(|w| w.id == id) {
        return Err(ApiError::not_found("webhook subscription"));
    }
    Ok(Json(List {
        items: state
            .store
            .list_webhook_deliveries(caller.0.workspace_id, id, 100)
            .await?,
    }))
}

#[cfg(test)]
mod tests {
    use imhub_core::{
        Availability, ConversationId, ConversationStatus, MessageId, UserId, WorkspaceId,
    };
    use imhub_store::Change;

    use super::EVENT_TYPES;

    #[test]
    fn every_kind_of_change_can_be_subscribed_to() {
        let (workspace_id, conversation_id, message_id, user_id) =
            (WorkspaceId(1), ConversationId(2), MessageId(3), UserId(4));
        let every = [
            Change::MessageCreated {
                workspace_id,
                conversation_id,
                message_id,
            },
            Change::MessageUpdated {
                workspace_id,
                conversation_id,
                message_id,
            },
            Change::ConversationUpdated {
                workspace_id,
                conversation_id,
            },
            Change::ConversationAssigned {
                workspace_id,
                conversation_id,
                assignee_id: None,
                by: None,
            },
            Change::ConversationStatusChanged {
                workspace_id,
                conversation_id,
                status: ConversationStatus::Open,
            },
            Change::ConversationLabelsChanged {
                workspace_id,
                conversation_id,
            },
            Change::NoteCreated {
                workspace_id,
                conversation_id,
                message_id,
            },
            Change::Mentioned {
                workspace_id,
                conversation_id,
                message_id,
                user_id,
            },
            Change::AvailabilityChanged {
                workspace_id,
                user_id,
                availability: Availability::Away,
            },
            Change::AutomationFired {
                workspace_id,
                conversation_id,
                rule_id: imhub_core::automation::RuleId(5),
            },
            Change::LeadCreated {
                workspace_id,
                lead_id: imhub_core::leads::LeadId(6),
            },
            Change::LeadUpdated {
                workspace_id,
                lead_id: imhub_core::leads::LeadId(6),
            },
        ];
        let kinds: Vec<&str> = every.iter().map(Change::event_type).collect();
        assert_eq!(kinds, EVENT_TYPES);
    }
}

/// Makes a delivery due now ("retry now", 202 with the delivery): a
/// pending one is tried at once instead of at its next retry, a failed one
/// (given up) becomes pending again with its attempts kept. Admin only.
/// 409 `already_delivered` when it was delivered; 404 for another
/// workspace's or a deleted subscription, or a delivery of another
/// subscription.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = i64, Path), ("delivery_id" = i64, Path)),
    responses((status = 202, body = WebhookDelivery),
        (status = 409, description = "`already_delivered`: the receiver has it")))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, delivery_id)): ApiPath<(WebhookId, i64)>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    caller.require_admin()?;
    let delivery = state
        .store
        .retry_webhook_delivery(
            caller.0.workspace_id,
            id,
            delivery_id,
            imhub_core::Timestamp::now(),
        )
        .await
        .map_err(|e| match e {
            imhub_store::StoreError::Refused {
                code: "already_delivered",
                detail,
            } => ApiError::new(StatusCode::CONFLICT, "already_delivered", detail),
            other => other.into(),
        })?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

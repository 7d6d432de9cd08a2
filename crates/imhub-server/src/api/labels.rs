//! Workspace labels (name and colour): admins manage them, every agent
//! reads them and puts them on conversations (one at a time, or in bulk
//! from the chat list) and contacts. A label id of another workspace
//! anywhere in a request is a 404 `not_found`, as its path would be.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, patch, post, put},
};
use imhub_core::{ContactId, ConversationId, LabelId};
use imhub_store::{Label, MAX_BULK_CONVERSATIONS, MAX_LABELS_PER_ITEM, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{Object, ObjectBuilder, schema::Type};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::Caller,
    error::ApiError,
};

/// The `labels` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/labels", get(list).post(create))
        .route("/labels/{id}", patch(update).delete(remove))
        .route("/conversations/{id}/labels", put(set_conversation))
        .route("/conversations/labels", post(bulk))
        .route("/contacts/{id}/labels", put(set_contact))
}

/// Longest label name, in characters.
pub const MAX_LABEL_NAME_CHARS: usize = 50;

/// Schema of a label name.
fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(crate::api::text::not_blank_pattern()))
        .max_length(Some(MAX_LABEL_NAME_CHARS))
        .description(Some(
            "Not blank, at most 50 characters; unique in the workspace.",
        ))
        .build()
}

/// Schema of a colour.
fn color_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^#[0-9A-Fa-f]{6}$"))
        .description(Some("`#rrggbb`."))
        .build()
}

/// The name trimmed, or 422 `invalid_request`.
fn checked_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_LABEL_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("a label name is not blank and has at most {MAX_LABEL_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_string())
}

/// The colour lowercased, or 422 `invalid_request`.
fn checked_color(color: &str) -> Result<String, ApiError> {
    let hex = color.strip_prefix('#').unwrap_or_default();
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "a colour is written #rrggbb",
        ));
    }
    Ok(color.to_ascii_lowercase())
}

fn label_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(detail) => ApiError::new(StatusCode::CONFLICT, "label_exists", detail),
        other => other.into(),
    }
}

/// The workspace's labels by name; every role may read them.
#[utoipa::path(get, path = "/api/v1/labels", tag = "labels",
    responses((status = 200, body = List<Label>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<Label>>, ApiError> {
    Ok(Json(List {
        items: state.store.list_labels(caller.0.workspace_id).await?,
    }))
}

/// A label to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLabel {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = color_schema)]
    pub color: String,
}

/// Creates a workspace label (201). Admin only. 409 `label_exists` when the
/// name is taken; 422 `invalid_request` for a blank or long name or a
/// colour not written `#rrggbb`.
#[utoipa::path(post, path = "/api/v1/labels", tag = "labels", request_body = NewLabel,
    responses((status = 201, body = Label),
        (status = 409, description = "`label_exists`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewLabel>,
) -> Result<(StatusCode, Json<Label>), ApiError> {
    caller.require_admin()?;
    let (name, color) = (checked_name(&body.name)?, checked_color(&body.color)?);
    let label = state
        .store
        .create_label(caller.0.workspace_id, &name, &color)
        .await
        .map_err(label_error)?;
    Ok((StatusCode::CREATED, Json(label)))
}

/// What a label change sets.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelPatch {
    /// Absent or `null` keeps the name.
    #[schema(schema_with = name_or_null_schema)]
    pub name: Option<String>,
    /// Absent or `null` keeps the colour.
    #[schema(schema_with = color_or_null_schema)]
    pub color: Option<String>,
}

/// A new name, or `null` to keep it.
fn name_or_null_schema() -> Object {
    crate::api::text::or_null(name_schema())
}

/// A new colour, or `null` to keep it.
fn color_or_null_schema() -> Object {
    crate::api::text::or_null(color_schema())
}

/// Renames or recolours a label. Admin only. 409 `label_exists` when the
/// new name is taken; 422 `invalid_request` as for creation.
#[utoipa::path(patch, path = "/api/v1/labels/{id}", tag = "labels",
    params(("id" = i64, Path)), request_body = LabelPatch,
    responses((status = 200, body = Label),
        (status = 409, description = "`label_exists`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LabelId>,
    ApiJson(body): ApiJson<LabelPatch>,
) -> Result<Json<Label>, ApiError> {
    caller.require_admin()?;
    let name = body.name.as_deref().map(checked_name).transpose()?;
    let color = body.color.as_deref().map(checked_color).transpose()?;
    Ok(Json(
        state
            .store
            .update_label(caller.0.workspace_id, id, name, color)
            .await
            .map_err(label_error)?,
    ))
}

/// Deletes a label and takes it off every conversation and contact (204;
/// each conversation that carried it gets a `conversation.labels_changed`).
/// Admin only.
#[utoipa::path(delete, path = "/api/v1/labels/{id}", tag = "labels",
    params(("id" = i64, Path)), responses((status = 204)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LabelId>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let changes = state.store.delete_label(caller.0.workspace_id, id).await?;
    state.live.publish(&changes);
    Ok(StatusCode::NO_CONTENT)
}

/// The labels to put on a conversation or contact (replacing its labels).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelSet {
    #[schema(max_items = 50)]
    pub label_ids: Vec<LabelId>,
}

/// A conversation's labels after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationLabels {
    pub conversation_id: ConversationId,
    pub label_ids: Vec<LabelId>,
}

fn too_many(n: usize) -> Result<(), ApiError> {
    if n > MAX_LABELS_PER_ITEM {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("at most {MAX_LABELS_PER_ITEM} labels"),
        ));
    }
    Ok(())
}

/// Replaces a conversation's labels; agents may. A label of another
/// workspace is a 404 `not_found`; 422 `invalid_request` for more than 50.
/// Idempotent; a change publishes `conversation.labels_changed`.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/labels", tag = "labels",
    params(("id" = i64, Path)), request_body = LabelSet,
    responses((status = 200, body = ConversationLabels)))]
pub async fn set_conversation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(body): ApiJson<LabelSet>,
) -> Result<Json<ConversationLabels>, ApiError> {
    too_many(body.label_ids.len())?;
    let (label_ids, changes) = state
        .store
        .set_conversation_labels(caller.0.workspace_id, id, body.label_ids)
        .await?;
    state.live.publish(&changes);
    Ok(Json(ConversationLabels {
        conversation_id: id,
        label_ids,
    }))
}

/// Labels to add to and take off many conversations at once.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkLabels {
    #[schema(min_items = 1, max_items = 200)]
    pub conversation_ids: Vec<ConversationId>,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub add: Vec<LabelId>,
    #[serde(default)]
    #[schema(max_items = 50)]
    pub remove: Vec<LabelId>,
}

/// What a bulk change changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkLabelsResult {
    /// The conversations whose labels changed (the others had them already).
    pub changed: Vec<ConversationId>,
}

/// Adds and removes labels on up to 200 conversations (the chat list's
/// bulk apply); agents may. All or nothing: a conversation or label of
/// another workspace is a 404 `not_found` and changes nothing; 422
/// `invalid_request` for no or more than 200 conversations, a label both
/// added and removed, or a conversation that would carry more than 50.
/// Idempotent; each changed conversation publishes
/// `conversation.labels_changed`.
#[utoipa::path(post, path = "/api/v1/conversations/labels", tag = "labels",
    request_body = BulkLabels,
    responses((status = 200, body = BulkLabelsResult),
        (status = 404, description = "`not_found`: a conversation or label is not the caller's")))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BulkLabels>,
) -> Result<Json<BulkLabelsResult>, ApiError> {
    if body.conversation_ids.is_empty() || body.conversation_ids.len() > MAX_BULK_CONVERSATIONS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("name 1 to {MAX_BULK_CONVERSATIONS} conversations"),
        ));
    }
    too_many(body.add.len())?;
    too_many(body.remove.len())?;
    let changes = state
        .store
        .bulk_label_conversations(
            caller.0.workspace_id,
            body.conversation_ids,
            body.add,
            body.remove,
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(BulkLabelsResult {
        changed: changes.iter().filter_map(|c| c.conversation_id()).collect(),
    }))
}

/// A contact's labels after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactLabels {
    pub contact_id: ContactId,
    pub label_ids: Vec<LabelId>,
}

/// Replaces a contact's labels; agents may. A label of another workspace
/// is a 404 `not_found`; 422 `invalid_request` for more than 50. Idempotent.
#[utoipa::path(put, path = "/api/v1/contacts/{id}/labels", tag = "labels",
    params(("id" = i64, Path)), request_body = LabelSet,
    responses((status = 200, body = ContactLabels)))]
pub async fn set_contact(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ContactId>,
    ApiJson(body): ApiJson<LabelSet>,
) -> Result<Json<ContactLabels>, ApiError> {
    too_many(body.label_ids.len())?;
    let label_ids = state
        .store
        .set_contact_labels(caller.0.workspace_id, id, body.label_ids)
        .await?;
    Ok(Json(ContactLabels {
        contact_id: id,
        label_ids,
    }))
}

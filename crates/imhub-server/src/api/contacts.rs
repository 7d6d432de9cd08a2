//! The contact panel beside a conversation: nickname, avatar, platform and
//! platform ids, labels, the team's notes about the customer, their other
//! conversations with the channel's accounts, the Meituan order the
//! conversation is about, and the contact's lead (issue 14; null when the
//! contact has none), phones in full: it is the lead itself.

use axum::{Json, Router, extract::State, routing::get};
use imhub_core::{ContactId, ConversationId, Platform};
use imhub_store::{ContactDetails, MAX_CONTACT_NOTES_CHARS};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath},
    auth::Caller,
    error::ApiError,
};

/// The `contacts` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts/{id}", get(fetch).patch(update))
        .route("/conversations/{id}/contact", get(for_conversation))
}

/// The order a Meituan conversation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderRef {
    /// The conversation whose latest push named it.
    pub conversation_id: ConversationId,
    /// Meituan's order id, as text (it does not fit a JSON number safely).
    pub order_id: String,
}

/// What the contact panel shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactPanel {
    #[serde(flatten)]
    pub contact: ContactDetails,
    /// The Meituan order: of the conversation asked about, or (for
    /// `GET /contacts/{id}`) of the contact's newest conversation naming one.
    pub order: Option<OrderRef>,
    /// The contact's lead (after a merge, the lead it is on), or null;
    /// edit it with `PATCH /api/v1/leads/{id}`.
    pub lead: Option<imhub_store::leads::Lead>,
}

/// The order a conversation's platform context names, if it is Meituan's.
fn order_of(
    conversation: ConversationId,
    platform: Platform,
    context: Option<&serde_json::Value>,
) -> Option<OrderRef> {
    if platform != Platform::Meituan {
        return None;
    }
    imhub_meituan::channel::reply_order_id(context).map(|order| OrderRef {
        conversation_id: conversation,
        order_id: order.to_string(),
    })
}

async fn panel(
    state: &AppState,
    caller: &Caller,
    contact: ContactDetails,
    order: Option<OrderRef>,
) -> Result<ContactPanel, ApiError> {
    let lead = state
        .store
        .contact_lead(caller.0.workspace_id, contact.id)
        .await?;
    Ok(ContactPanel {
        contact,
        order,
        lead,
    })
}

/// The newest order among the contact's conversations.
fn newest_order(contact: &ContactDetails) -> Option<OrderRef> {
    contact
        .conversations
        .iter()
        .find_map(|c| order_of(c.id, c.platform, c.platform_context.as_ref()))
}

/// A contact's panel; 404 when it is not the caller's. `order` is that of
/// the contact's newest conversation that names one. Read-only.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = i64, Path)), responses((status = 200, body = ContactPanel)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ContactId>,
) -> Result<Json<ContactPanel>, ApiError> {
    let contact = state.store.get_contact(caller.0.workspace_id, id).await?;
    let order = newest_order(&contact);
    Ok(Json(panel(&state, &caller, contact, order).await?))
}

/// The panel of a conversation's contact, with the order this conversation
/// is about (from its platform context). 404 when the conversation is not
/// the caller's or has no contact (a group). Read-only.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/contact", tag = "contacts",
    params(("id" = i64, Path)), responses((status = 200, body = ContactPanel)))]
pub async fn for_conversation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> Result<Json<ContactPanel>, ApiError> {
    let ws = caller.0.workspace_id;
    let conversation = state.store.get_conversation(ws, id).await?;
    let contact_id = conversation
        .contact_id
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let contact = state.store.get_contact(ws, contact_id).await?;
    let order = order_of(
        id,
        conversation.platform,
        conversation.platform_context.as_ref(),
    );
    Ok(Json(panel(&state, &caller, contact, order).await?))
}

/// What can be changed on a contact.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// Free text about the customer; null or blank clears it, absent
    /// keeps it.
    #[serde(default, deserialize_with = "crate::api::quick_replies::present")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub notes: Option<Option<String>>,
}

/// Replaces the team's notes about a contact; agents may. 422
/// `invalid_request` over 10,000 characters. Idempotent.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = i64, Path)), request_body = ContactPatch,
    responses((status = 200, body = ContactPanel)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ContactId>,
    ApiJson(body): ApiJson<ContactPatch>,
) -> Result<Json<ContactPanel>, ApiError> {
    let ws = caller.0.workspace_id;
    let Some(notes) = body.notes else {
        let contact = state.store.get_contact(ws, id).await?;
        let order = newest_order(&contact);
        return Ok(Json(panel(&state, &caller, contact, order).await?));
    };
    if notes
        .as_deref()
        .is_some_and(|n| n.chars().count() > MAX_CONTACT_NOTES_CHARS)
    {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("notes have at most {MAX_CONTACT_NOTES_CHARS} characters"),
        ));
    }
    let contact = state.store.set_contact_notes(ws, id, notes).await?;
    let order = newest_order(&contact);
    Ok(Json(panel(&state, &caller, contact, order).await?))
}

//! The rules a reply must pass before it is queued: the account can send,
//! the platform's reply window is open, and the channel can carry the
//! content. Shared by the API's send route and the chat list's deadline.

use std::time::Duration;

use imhub_core::{AccountState, Content, ConversationId, ConversationKind, Timestamp, WorkspaceId};

use crate::{AppState, error::ApiError};

/// When a platform stops accepting replies: `window` after the customer's
/// last message, for direct chats only (no platform documents one for
/// groups); `None` when there is no such limit.
pub fn reply_deadline(
    window: Option<Duration>,
    kind: ConversationKind,
    last_inbound_at: Option<Timestamp>,
) -> Option<Timestamp> {
    let window = window.filter(|_| kind == ConversationKind::Direct)?;
    Some(last_inbound_at?.plus_millis(window.as_millis() as i64))
}

/// Refuses, with a 422 and a stable code, a reply that cannot be sent:
/// `account_disabled`, `channel_disconnected`,
/// `account_needs_reauthorization`, `channel_unavailable`,
/// `reply_window_closed`, or the adapter's own refusal of the content.
pub async fn check_reply(
    state: &AppState,
    ws: WorkspaceId,
    conversation: ConversationId,
    content: &Content,
) -> Result<(), ApiError> {
    let found = state.store.get_conversation(ws, conversation).await?;
    let account = state.store.get_account(ws, found.account_id).await?;
    check_sendable(state, &account).await?;
    if account.state == AccountState::NeedsReauthorization {
        return Err(ApiError::unprocessable(
            "account_needs_reauthorization",
            format!(
                "the account {} must be authorized again: {}",
                account.name,
                account.state_reason.unwrap_or_default()
            ),
        ));
    }
    let channel = state.store.get_channel(ws, found.channel_id).await?;
    let adapter = state
        .channels
        .adapter(&channel)
        .map_err(|e| ApiError::unprocessable("channel_unavailable", e.to_string()))?;
    let (_, target) = state.store.outbound_target(ws, conversation).await?;
    let deadline = reply_deadline(adapter.reply_window(), target.kind, target.last_inbound_at);
    if let Some(closes) = deadline.filter(|closes| Timestamp::now() > *closes) {
        return Err(ApiError::unprocessable(
            "reply_window_closed",
            format!(
                "{} accepts replies only until {}; wait for the customer to write again",
                channel.platform.as_str(),
                closes.to_rfc3339()
            ),
        ));
    }
    adapter.check_outbound(&target, content)?;
    Ok(())
}

/// Refuses a reply through a disabled account (422 `account_disabled`) or
/// a disconnected channel (422 `channel_disconnected`): nothing is queued.
pub async fn check_sendable(
    state: &AppState,
    account: &imhub_core::Account,
) -> Result<(), ApiError> {
    if account.disabled {
        return Err(ApiError::unprocessable(
            "account_disabled",
            format!(
                "the account {} is disabled; an admin can enable it again",
                account.name
            ),
        ));
    }
    if state
        .channels
        .find(account.channel_id)
        .await?
        .is_none_or(|c| c.disconnected_at.is_some())
    {
        return Err(ApiError::unprocessable(
            imhub_store::CHANNEL_DISCONNECTED,
            "the conversation's channel was disconnected; nothing can be sent through it",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_for_direct_chats_with_a_window_only() {
        let day = Some(Duration::from_secs(86_400));
        let at = Some(Timestamp(1_000));
        assert_eq!(
            reply_deadline(day, ConversationKind::Direct, at),
            Some(Timestamp(86_401_000))
        );
        assert_eq!(reply_deadline(day, ConversationKind::Group, at), None);
        assert_eq!(reply_deadline(None, ConversationKind::Direct, at), None);
        assert_eq!(reply_deadline(day, ConversationKind::Direct, None), None);
    }
}

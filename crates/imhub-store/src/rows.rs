//! Column lists and the mapping from rows to imhub-core records, shared by
//! every query that returns the same record.

use imhub_core::{
    Account, AccountId, AccountState, ChannelId, ContactId, Conversation, ConversationId,
    ConversationKind, ConversationStatus, Direction, Message, MessageId, MessageStatus, Platform,
    Timestamp,
};

use crate::{StoreError, db::Row};

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} {value:?} in database"))
}

pub(crate) fn platform(text: &str) -> Result<Platform, StoreError> {
    Platform::parse(text).ok_or_else(|| bad("platform", text))
}

pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.channel_id, c.platform, a.external_id, a.name, a.state, a.state_reason, a.created_at, \
     a.disabled_at";

pub(crate) fn account(row: &Row) -> Result<Account, StoreError> {
    let state = row.text(5)?;
    Ok(Account {
        id: AccountId(row.int(0)?),
        channel_id: ChannelId(row.int(1)?),
        platform: platform(&row.text(2)?)?,
        external_id: row.text(3)?,
        name: row.text(4)?,
        state: AccountState::parse(&state).ok_or_else(|| bad("account state", &state))?,
        state_reason: row.opt_text(6)?,
        disabled: row.opt_int(8)?.is_some(),
        created_at: Timestamp(row.int(7)?),
    })
}

pub(crate) const CONVERSATION_COLUMNS: &str = "id, channel_id, account_id, platform, kind, \
    contact_id, peer_external_id, title, avatar, status, unread_count, last_message_id, \
    last_message_preview, last_activity_at, last_inbound_at, created_at, reply_context, \
    assignee_id, snoozed_until, waiting_since, turn_open_since";

pub(crate) fn conversation(row: &Row) -> Result<Conversation, StoreError> {
    let kind = row.text(4)?;
    let status = row.text(9)?;
    Ok(Conversation {
        id: ConversationId(row.int(0)?),
        channel_id: ChannelId(row.int(1)?),
        account_id: AccountId(row.int(2)?),
        platform: platform(&row.text(3)?)?,
        kind: ConversationKind::parse(&kind).ok_or_else(|| bad("conversation kind", &kind))?,
        contact_id: row.opt_int(5)?.map(ContactId),
        peer_external_id: row.text(6)?,
        title: row
            .opt_text(7)?
            .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
        avatar: row.opt_text(8)?,
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| bad("conversation status", &status))?,
        unread_count: row.int(10)?,
        last_message_id: row.opt_int(11)?.map(MessageId),
        last_message_preview: row.opt_text(12)?,
        last_activity_at: Timestamp(row.int(13)?),
        last_inbound_at: row.opt_int(14)?.map(Timestamp),
        created_at: Timestamp(row.int(15)?),
        platform_context: row
            .opt_text(16)?
            .map(|t| serde_json::from_str(&t))
            .transpose()?,
        assignee_id: row.opt_int(17)?.map(imhub_core::UserId),
        snoozed_until: row.opt_int(18)?.map(Timestamp),
        // The auto-assignment queue (T).
        waiting_since: row.opt_int(19)?.map(Timestamp),
        // Reply-time KPIs (K2): the open turn, last of CONVERSATION_COLUMNS.
        turn_open_since: row.opt_int(20)?.map(Timestamp),
        // Filled by the caller with one query per page.
        labels: Vec::new(),
    })
}

pub(crate) const MESSAGE_COLUMNS: &str = "id, conversation_id, direction, content, status, \
    platform_message_id, sender_id, sender_name, error_code, error_text, created_at, updated_at, \
    author_id, (SELECT u.name FROM users u WHERE u.id = author_id), sender_kind, rule_id";

pub(crate) fn message(row: &Row) -> Result<Message, StoreError> {
    let direction = row.text(2)?;
    let status = row.text(4)?;
    Ok(Message {
        id: MessageId(row.int(0)?),
        conversation_id: ConversationId(row.int(1)?),
        direction: Direction::parse(&direction).ok_or_else(|| bad("direction", &direction))?,
        content: serde_json::from_str(&row.text(3)?)?,
        status: MessageStatus::parse(&status).ok_or_else(|| bad("message status", &status))?,
        platform_message_id: row.opt_text(5)?,
        sender_id: row.opt_int(6)?.map(ContactId),
        sender_name: row.opt_text(7)?,
        error_code: row.opt_text(8)?,
        error_text: row.opt_text(9)?,
        created_at: Timestamp(row.int(10)?),
        updated_at: Timestamp(row.int(11)?),
        author_id: row.opt_int(12)?.map(imhub_core::UserId),
        author_name: row.opt_text(13)?,
        sender_kind: row
            .opt_text(14)?
            .map(|k| imhub_core::SenderKind::parse(&k).ok_or_else(|| bad("sender kind", &k)))
            .transpose()?,
        rule_id: row.opt_int(15)?.map(imhub_core::automation::RuleId),
    })
}

//! The contact panel beside a conversation: who the customer is on the
//! platform, the workspace's labels and free-text notes about them, and
//! their conversations with the merchant's accounts of the same channel.
//! (Linking one person across platforms comes with leads, issue 14.)

use imhub_core::{
    AccountId, ChannelId, ContactId, ConversationId, ConversationStatus, LabelId, Platform,
    Timestamp, WorkspaceId,
};

use crate::{StoreError, db::Db, labels::contact_labels, rows::platform};

/// Longest free-text note about a contact, in characters.
pub const MAX_CONTACT_NOTES_CHARS: usize = 10_000;

/// Most conversations the panel lists (newest activity first).
pub const MAX_PANEL_CONVERSATIONS: i64 = 50;

/// A contact with what the panel shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ContactDetails {
    pub id: ContactId,
    pub platform: Platform,
    pub channel_id: ChannelId,
    /// The customer's id on the platform (open_id, UserID, Meituan user id).
    pub external_id: String,
    /// 匿名 when the platform never told us a name.
    pub nickname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    pub labels: Vec<LabelId>,
    /// What the team wrote about the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Their conversations with the channel's accounts, newest activity first.
    pub conversations: Vec<ContactConversation>,
}

/// One conversation of a contact, as the panel lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ContactConversation {
    pub id: ConversationId,
    pub account_id: AccountId,
    pub account_name: String,
    pub platform: Platform,
    pub status: ConversationStatus,
    pub last_activity_at: Timestamp,
    /// What the platform's latest push said the conversation is about (the
    /// Meituan order), for the API to read; not shown as is.
    #[serde(skip)]
    pub platform_context: Option<serde_json::Value>,
}

pub(crate) fn get_contact(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ContactId,
) -> Result<ContactDetails, StoreError> {
    let row = db.query_one(
        "SELECT k.id, ch.platform, k.channel_id, k.external_id, k.nickname, k.avatar, k.notes \
         FROM contacts k JOIN channels ch ON ch.id = k.channel_id \
         WHERE k.id = $1 AND k.workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    let conversations = db
        .query(
            "SELECT c.id, c.account_id, a.name, c.platform, c.status, c.last_activity_at, \
               c.reply_context \
             FROM conversations c JOIN accounts a ON a.id = c.account_id \
             WHERE c.contact_id = $1 AND c.workspace_id = $2 \
             ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $3",
            &[id.0.into(), ws.0.into(), MAX_PANEL_CONVERSATIONS.into()],
        )?
        .iter()
        .map(|r| {
            let status = r.text(4)?;
            Ok(ContactConversation {
                id: ConversationId(r.int(0)?),
                account_id: AccountId(r.int(1)?),
                account_name: r.text(2)?,
                platform: platform(&r.text(3)?)?,
                status: ConversationStatus::parse(&status).ok_or_else(|| {
                    StoreError::Database(format!("unknown conversation status {status:?}"))
                })?,
                last_activity_at: Timestamp(r.int(5)?),
                platform_context: r
                    .opt_text(6)?
                    .map(|t| serde_json::from_str(&t))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ContactDetails {
        id: ContactId(row.int(0)?),
        platform: platform(&row.text(1)?)?,
        channel_id: ChannelId(row.int(2)?),
        external_id: row.text(3)?,
        nickname: row
            .opt_text(4)?
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
        avatar: row.opt_text(5)?,
        labels: contact_labels(db, ws, id)?,
        notes: row.opt_text(6)?,
        conversations,
    })
}

pub(crate) fn set_contact_notes(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ContactId,
    notes: Option<&str>,
) -> Result<ContactDetails, StoreError> {
    if notes.is_some_and(|n| n.chars().count() > MAX_CONTACT_NOTES_CHARS) {
        return Err(StoreError::Refused {
            code: "invalid_request",
            detail: format!("notes have at most {MAX_CONTACT_NOTES_CHARS} characters"),
        });
    }
    // Blank notes are no notes.
    let notes = notes.filter(|n| !n.trim().is_empty());
    let n = db.execute(
        "UPDATE contacts SET notes = $1 WHERE id = $2 AND workspace_id = $3",
        &[notes.into(), id.0.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    get_contact(db, ws, id)
}

//! Private notes and their `@` mentions: notes are timeline entries
//! (`direction = note`) that never reach a platform, never count as
//! unread and never move the chat list's preview; the agents a note
//! mentions get a row each in `mentions` and a live event.

use imhub_core::{
    ConversationId, Direction, Message, MessageId, Timestamp, UserId, WorkspaceId,
    mentions::{MAX_NOTE_CHARS, mentioned},
};

use crate::{Change, MessageCursor, StoreError, db::Db, messages::get_message};

/// Largest page of mentions served.
pub const MAX_MENTION_PAGE: u32 = 200;

/// A private note to write.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub conversation_id: ConversationId,
    /// The agent writing it (a session user); `None` for an API token.
    pub author_id: Option<UserId>,
    pub text: String,
}

/// A written note with the agents it mentioned and its changes.
#[derive(Debug, Clone)]
pub struct NoteWritten {
    pub message: Message,
    pub mentioned: Vec<UserId>,
    pub changes: Vec<Change>,
}

/// One mention of an agent, for the 提及我的 view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Mention {
    /// The note that mentions the agent.
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// The conversation's contact or group name.
    pub conversation_title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// The note's first characters (one line).
    pub snippet: String,
    pub created_at: Timestamp,
    /// When the mentioned agent marked it read; absent while unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
}

/// The agents a note may mention: the workspace's enabled users.
fn mentionable(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<(UserId, String)>, StoreError> {
    db.query(
        "SELECT id, name FROM users WHERE workspace_id = $1 AND disabled_at IS NULL ORDER BY id",
        &[ws.0.into()],
    )?
    .iter()
    .map(|row| Ok((UserId(row.int(0)?), row.text(1)?)))
    .collect()
}

pub(crate) fn create_note(
    db: &mut dyn Db,
    ws: WorkspaceId,
    note: NewNote,
) -> Result<NoteWritten, StoreError> {
    let text = note.text.trim();
    if text.is_empty() {
        return Err(StoreError::Refused {
            code: "invalid_request",
            detail: "a note needs text".into(),
        });
    }
    if note.text.chars().count() > MAX_NOTE_CHARS {
        return Err(StoreError::Refused {
            code: "note_too_long",
            detail: format!("a note has at most {MAX_NOTE_CHARS} characters"),
        });
    }
    let conversation = note.conversation_id;
    let channel = db
        .query_one(
            "SELECT channel_id FROM conversations WHERE id = $1 AND workspace_id = $2",
            &[conversation.0.into(), ws.0.into()],
        )?
        .int(0)?;
    let content = imhub_core::Content::Text {
        text: note.text.clone(),
    };
    let now = Timestamp::now();
    // Written straight into the timeline: no outbox entry, and the
    // conversation (unread, preview, activity) is left as it is.
    let id = MessageId(
        db.query_one(
            "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, content, \
               status, created_at, updated_at, author_id) \
             VALUES ($1, $2, $3, $4, $5, 'sent', $6, $6, $7) RETURNING id",
            &[
                ws.0.into(),
                conversation.0.into(),
                channel.into(),
                Direction::Note.as_str().into(),
                serde_json::to_string(&content)?.into(),
                now.millis().into(),
                note.author_id.map(|u| u.0).into(),
            ],
        )?
        .int(0)?,
    );
    let agents = mentionable(db, ws)?;
    let names: Vec<(UserId, &str)> = agents.iter().map(|(id, n)| (*id, n.as_str())).collect();
    // Writing your own name mentions nobody.
    let users: Vec<UserId> = mentioned(&note.text, &names)
        .into_iter()
        .filter(|u| Some(*u) != note.author_id)
        .collect();
    let mut changes = vec![Change::NoteCreated {
        workspace_id: ws,
        conversation_id: conversation,
        message_id: id,
    }];
    for user in &users {
        db.execute(
            "INSERT INTO mentions (message_id, user_id, workspace_id, conversation_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                id.0.into(),
                user.0.into(),
                ws.0.into(),
                conversation.0.into(),
                now.millis().into(),
            ],
        )?;
        changes.push(Change::Mentioned {
            workspace_id: ws,
            conversation_id: conversation,
            message_id: id,
            user_id: *user,
        });
    }
    Ok(NoteWritten {
        message: get_message(db, ws, id)?,
        mentioned: users,
        changes,
    })
}

pub(crate) fn list_mentions(
    db: &mut dyn Db,
    ws: WorkspaceId,
    user: UserId,
    unread_only: bool,
    before: Option<MessageCursor>,
    limit: u32,
) -> Result<Vec<Mention>, StoreError> {
    let mut sql = String::from(
        "SELECT n.message_id, n.conversation_id, c.title, m.author_id, \
           (SELECT u.name FROM users u WHERE u.id = m.author_id), m.content, n.created_at, \
           n.read_at \
         FROM mentions n JOIN messages m ON m.id = n.message_id \
           JOIN conversations c ON c.id = n.conversation_id \
         WHERE n.workspace_id = $1 AND n.user_id = $2",
    );
    let mut params = vec![ws.0.into(), user.0.into()];
    if unread_only {
        sql.push_str(" AND n.read_at IS NULL");
    }
    if let Some(cursor) = before {
        params.push(cursor.created_at.into());
        params.push(cursor.id.into());
        sql.push_str(" AND (n.created_at < $3 OR (n.created_at = $3 AND n.message_id < $4))");
    }
    params.push(i64::from(limit.clamp(1, MAX_MENTION_PAGE)).into());
    sql.push_str(&format!(
        " ORDER BY n.created_at DESC, n.message_id DESC LIMIT ${}",
        params.len()
    ));
    db.query(&sql, &params)?
        .iter()
        .map(|row| {
            let content: imhub_core::Content = serde_json::from_str(&row.text(5)?)?;
            Ok(Mention {
                message_id: MessageId(row.int(0)?),
                conversation_id: ConversationId(row.int(1)?),
                conversation_title: row
                    .opt_text(2)?
                    .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
                author_id: row.opt_int(3)?.map(UserId),
                author_name: row.opt_text(4)?,
                snippet: content.preview(),
                created_at: Timestamp(row.int(6)?),
                read_at: row.opt_int(7)?.map(Timestamp),
            })
        })
        .collect()
}

pub(crate) fn mark_mentions_read(
    db: &mut dyn Db,
    ws: WorkspaceId,
    user: UserId,
    message_ids: Option<&[MessageId]>,
) -> Result<u64, StoreError> {
    let now = Timestamp::now().millis();
    match message_ids {
        None => db.execute(
            "UPDATE mentions SET read_at = $1 WHERE workspace_id = $2 AND user_id = $3 \
             AND read_at IS NULL",
            &[now.into(), ws.0.into(), user.0.into()],
        ),
        Some(ids) => {
            let mut read = 0;
            for id in ids {
                read += db.execute(
                    "UPDATE mentions SET read_at = $1 WHERE workspace_id = $2 AND user_id = $3 \
                     AND message_id = $4 AND read_at IS NULL",
                    &[now.into(), ws.0.into(), user.0.into(), id.0.into()],
                )?;
            }
            Ok(read)
        }
    }
}

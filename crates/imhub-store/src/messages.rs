//! Messages of a conversation: the chat detail, and the agent's replies,
//! which are stored as queued together with their outbox entry.

use imhub_core::{
    ConversationId, Direction, Message, MessageId, MessageStatus, Timestamp, WorkspaceId,
};

use crate::{
    Change, Enqueued, MessageCursor, NewOutbound, OutboxOp, StoreError,
    db::Db,
    ingest::touch_conversation,
    outbox,
    rows::{MESSAGE_COLUMNS, message},
};

/// Largest page the chat detail serves.
pub const MAX_PAGE: u32 = 200;

/// A conversation's timeline, newest first; internal entries (notes and
/// activity lines) only when `internal`, so integrations never see them.
pub(crate) fn list_messages(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    before: Option<MessageCursor>,
    limit: u32,
    internal: bool,
) -> Result<Vec<Message>, StoreError> {
    // Confirms the conversation is the caller's: 404, not an empty page.
    db.query_one(
        "SELECT id FROM conversations WHERE id = $1 AND workspace_id = $2",
        &[conversation.0.into(), ws.0.into()],
    )?;
    let limit = i64::from(limit.clamp(1, MAX_PAGE));
    let visible = if internal {
        ""
    } else {
        " AND direction IN ('in', 'out')"
    };
    let rows = match before {
        None => db.query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1{visible} \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ),
            &[conversation.0.into(), limit.into()],
        )?,
        Some(cursor) => db.query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1{visible} \
                 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
            &[
                conversation.0.into(),
                cursor.created_at.into(),
                cursor.id.into(),
                limit.into(),
            ],
        )?,
    };
    rows.iter().map(message).collect()
}

pub(crate) fn get_message(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: MessageId,
) -> Result<Message, StoreError> {
    message(&db.query_one(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?)
}

pub(crate) fn enqueue_message(
    db: &mut dyn Db,
    ws: WorkspaceId,
    outbound: NewOutbound,
) -> Result<Enqueued, StoreError> {
    let conversation = outbound.conversation_id;
    let channel = db
        .query_one(
            "SELECT channel_id FROM conversations WHERE id = $1 AND workspace_id = $2",
            &[conversation.0.into(), ws.0.into()],
        )?
        .int(0)?;
    if let Some(key) = &outbound.idempotency_key {
        // Claim the key first: a concurrent request with the same key (on
        // another node) waits on the unique index and then sees our row.
        let claimed = db.query_opt(
            "INSERT INTO idempotency_keys (workspace_id, key, request_hash, message_id, created_at) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (workspace_id, key) DO NOTHING RETURNING key",
            &[
                ws.0.into(),
                key.clone().into(),
                outbound.request_hash.clone().into(),
                Timestamp::now().millis().into(),
            ],
        )?;
        if claimed.is_none() {
            let row = db.query_one(
                "SELECT request_hash, message_id FROM idempotency_keys \
                 WHERE workspace_id = $1 AND key = $2",
                &[ws.0.into(), key.clone().into()],
            )?;
            if row.text(0)? != outbound.request_hash {
                return Err(StoreError::Conflict(
                    "this Idempotency-Key was used with a different request".into(),
                ));
            }
            return Ok(Enqueued {
                message: get_message(db, ws, MessageId(row.int(1)?))?,
                replayed: true,
                changes: Vec::new(),
            });
        }
    }
    let now = Timestamp::now();
    let id = MessageId(
        db.query_one(
            "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, content, \
               status, created_at, updated_at, author_id, sender_kind) \
             VALUES ($1, $2, $3, 'out', $4, 'queued', $5, $5, $6, $7) RETURNING id",
            &[
                ws.0.into(),
                conversation.0.into(),
                channel.into(),
                serde_json::to_string(&outbound.content)?.into(),
                now.millis().into(),
                outbound.author_id.map(|u| u.0).into(),
                match outbound.author_id {
                    Some(_) => imhub_core::SenderKind::Agent,
                    None => imhub_core::SenderKind::Api,
                }
                .as_str()
                .into(),
            ],
        )?
        .int(0)?,
    );
    if let Some(key) = &outbound.idempotency_key {
        db.execute(
            "UPDATE idempotency_keys SET message_id = $1 WHERE workspace_id = $2 AND key = $3",
            &[id.0.into(), ws.0.into(), key.clone().into()],
        )?;
    }
    touch_conversation(
        db,
        conversation,
        id,
        now,
        &outbound.content.preview(),
        false,
        None,
    )?;
    outbox::insert(db, ws, id, conversation, OutboxOp::Send, now)?;
    // A human answered (an agent, or the merchant's system by API token):
    // the customer's turn closes in this transaction.
    crate::turns::on_message(
        db,
        ws,
        conversation,
        imhub_core::turns::Writer::Human,
        now,
        outbound.author_id,
        id,
    )?;
    // A human answered: automatic replies pause, escalations are moot.
    crate::automation::human_replied(db, ws, conversation, now)?;
    Ok(Enqueued {
        message: get_message(db, ws, id)?,
        replayed: false,
        changes: vec![
            Change::MessageCreated {
                workspace_id: ws,
                conversation_id: conversation,
                message_id: id,
            },
            Change::ConversationUpdated {
                workspace_id: ws,
                conversation_id: conversation,
            },
        ],
    })
}

pub(crate) fn request_recall(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: MessageId,
) -> Result<Message, StoreError> {
    let m = get_message(db, ws, id)?;
    if m.direction != Direction::Out
        || !m.status.can_become(MessageStatus::Recalled)
        || m.platform_message_id.is_none()
    {
        return Err(StoreError::InvalidState(format!(
            "only a sent outbound message can be recalled; this one is {}",
            m.status.as_str()
        )));
    }
    // A second request while the first is still queued asks for nothing new.
    let pending = db
        .query_opt(
            "SELECT 1 FROM outbox WHERE message_id = $1 AND op = 'recall'",
            &[id.0.into()],
        )?
        .is_some();
    if !pending {
        outbox::insert(
            db,
            ws,
            id,
            m.conversation_id,
            OutboxOp::Recall,
            Timestamp::now(),
        )?;
    }
    Ok(m)
}

pub(crate) fn retry_message(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: MessageId,
) -> Result<(Message, Vec<Change>), StoreError> {
    let m = get_message(db, ws, id)?;
    if !m.status.can_retry() {
        return Err(StoreError::InvalidState(format!(
            "only a failed message can be retried; this one is {}",
            m.status.as_str()
        )));
    }
    let now = Timestamp::now();
    db.execute(
        "UPDATE messages SET status = 'queued', error_code = NULL, error_text = NULL, \
         updated_at = $1 WHERE id = $2",
        &[now.millis().into(), id.0.into()],
    )?;
    outbox::insert(db, ws, id, m.conversation_id, OutboxOp::Send, now)?;
    let changes = vec![Change::MessageUpdated {
        workspace_id: ws,
        conversation_id: m.conversation_id,
        message_id: id,
    }];
    Ok((get_message(db, ws, id)?, changes))
}

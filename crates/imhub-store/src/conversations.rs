//! The chat list and one conversation: listing with keyset pagination,
//! status changes and marking read.

use imhub_core::{
    ChannelId, Conversation, ConversationId, ConversationKind, ConversationStatus, LabelId,
    OutboundTarget, Timestamp, WorkspaceId,
};

use crate::{
    Change, ConversationFilter, ListView, StoreError,
    db::{Db, Value},
    rows::{CONVERSATION_COLUMNS, conversation},
};

/// Largest page the chat list serves.
pub const MAX_PAGE: u32 = 200;

pub(crate) fn list_conversations(
    db: &mut dyn Db,
    ws: WorkspaceId,
    filter: &ConversationFilter,
) -> Result<Vec<Conversation>, StoreError> {
    let mut sql =
        format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = $1");
    let mut params: Vec<Value> = vec![ws.0.into()];
    let mut bind = |sql: &mut String, clause: &str, value: Value| {
        params.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(account) = filter.account_id {
        bind(&mut sql, " AND account_id = ?", account.0.into());
    }
    if let Some(platform) = filter.platform {
        bind(&mut sql, " AND platform = ?", platform.as_str().into());
    }
    if let Some(status) = filter.status {
        bind(&mut sql, " AND status = ?", status.as_str().into());
    } else if filter.open_only {
        sql.push_str(" AND status IN ('open', 'pending')");
    }
    match filter.view {
        ListView::All => {}
        ListView::Mine(me) => bind(&mut sql, " AND assignee_id = ?", me.0.into()),
        ListView::Unassigned => sql.push_str(" AND assignee_id IS NULL"),
        ListView::Mentions(me) => bind(
            &mut sql,
            " AND EXISTS (SELECT 1 FROM mentions m WHERE m.conversation_id = conversations.id \
               AND m.workspace_id = $1 AND m.user_id = ?)",
            me.0.into(),
        ),
    }
    if let Some(assignee) = filter.assignee_id {
        bind(&mut sql, " AND assignee_id = ?", assignee.0.into());
    }
    if !filter.label_ids.is_empty() {
        let mut labels = filter.label_ids.clone();
        labels.sort();
        labels.dedup();
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM conversation_labels l \
               WHERE l.conversation_id = conversations.id AND l.label_id IN (",
        );
        for (i, label) in labels.iter().enumerate() {
            let sep = if i == 0 { "?" } else { ", ?" };
            bind(&mut sql, sep, label.0.into());
        }
        sql.push_str("))");
    }
    if filter.unread_only {
        sql.push_str(" AND unread_count > 0");
    }
    if let Some(q) = filter.query.as_deref().filter(|q| !q.trim().is_empty()) {
        let pattern = format!("%{}%", escape_like(&q.trim().to_lowercase()));
        bind(
            &mut sql,
            " AND lower(title) LIKE ? ESCAPE '\\'",
            pattern.into(),
        );
    }
    if let Some(after) = filter.after {
        // The plain `<=` bound lets both databases start the index range at
        // the cursor instead of scanning down to it from the top.
        let at = after.last_activity_at;
        bind(&mut sql, " AND last_activity_at <= ?", at.into());
        bind(&mut sql, " AND (last_activity_at < ?", at.into());
        bind(&mut sql, " OR id < ?)", after.id.into());
    }
    let limit = filter.limit.clamp(1, MAX_PAGE);
    bind(
        &mut sql,
        " ORDER BY last_activity_at DESC, id DESC LIMIT ?",
        i64::from(limit).into(),
    );
    let mut page: Vec<Conversation> = db
        .query(&sql, &params)?
        .iter()
        .map(conversation)
        .collect::<Result<_, _>>()?;
    fill_labels(db, &mut page)?;
    Ok(page)
}

/// Puts each conversation's labels on it: one query for the whole page.
pub(crate) fn fill_labels(
    db: &mut dyn Db,
    conversations: &mut [Conversation],
) -> Result<(), StoreError> {
    if conversations.is_empty() {
        return Ok(());
    }
    let ids: Vec<Value> = conversations.iter().map(|c| c.id.0.into()).collect();
    let marks = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db.query(
        &format!(
            "SELECT conversation_id, label_id FROM conversation_labels \
             WHERE conversation_id IN ({marks}) ORDER BY conversation_id, label_id"
        ),
        &ids,
    )?;
    let mut by_conversation: std::collections::HashMap<i64, Vec<LabelId>> =
        std::collections::HashMap::new();
    for row in rows {
        by_conversation
            .entry(row.int(0)?)
            .or_default()
            .push(LabelId(row.int(1)?));
    }
    for c in conversations {
        c.labels = by_conversation.remove(&c.id.0).unwrap_or_default();
    }
    Ok(())
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn get_conversation(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
) -> Result<Conversation, StoreError> {
    let mut one = [conversation(&db.query_one(
        &format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2"
        ),
        &[id.0.into(), ws.0.into()],
    )?)?];
    fill_labels(db, &mut one)?;
    let [c] = one;
    Ok(c)
}

pub(crate) fn outbound_target(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
) -> Result<(ChannelId, OutboundTarget), StoreError> {
    let row = db.query_one(
        "SELECT c.channel_id, c.kind, a.external_id, c.peer_external_id, c.reply_context, \
           c.last_inbound_at \
         FROM conversations c JOIN accounts a ON a.id = c.account_id \
         WHERE c.id = $1 AND c.workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    let kind = row.text(1)?;
    Ok((
        ChannelId(row.int(0)?),
        OutboundTarget {
            kind: ConversationKind::parse(&kind)
                .ok_or_else(|| StoreError::Database(format!("unknown kind {kind:?}")))?,
            account_external_id: row.text(2)?,
            peer_external_id: row.text(3)?,
            reply_context: row
                .opt_text(4)?
                .map(|t| serde_json::from_str(&t))
                .transpose()?,
            last_inbound_at: row.opt_int(5)?.map(Timestamp),
        },
    ))
}

pub(crate) fn set_conversation_status(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
    status: ConversationStatus,
) -> Result<(Conversation, Vec<Change>), StoreError> {
    // The team inbox's status change without an agent or a snooze time
    // (a snooze needs one: `Store::change_status`).
    let changed = crate::assignment::change_status(
        db,
        ws,
        id,
        crate::StatusChange {
            status,
            snoozed_until: None,
        },
        None,
        Timestamp::now(),
    )?;
    Ok((get_conversation(db, ws, id)?, changed))
}

pub(crate) fn mark_read(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
    read_receipt: bool,
) -> Result<(Conversation, Vec<Change>), StoreError> {
    let before = get_conversation(db, ws, id)?;
    let mut changes = Vec::new();
    if before.unread_count != 0 {
        db.execute(
            "UPDATE conversations SET unread_count = 0 WHERE id = $1",
            &[id.0.into()],
        )?;
        changes.push(Change::ConversationUpdated {
            workspace_id: ws,
            conversation_id: id,
        });
        if read_receipt {
            let newest_inbound = db.query_opt(
                "SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'in' \
                 AND platform_message_id IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1",
                &[id.0.into()],
            )?;
            if let Some(row) = newest_inbound {
                crate::outbox::insert(
                    db,
                    ws,
                    imhub_core::MessageId(row.int(0)?),
                    id,
                    crate::OutboxOp::Read,
                    Timestamp::now(),
                )?;
            }
        }
    }
    Ok((get_conversation(db, ws, id)?, changes))
}

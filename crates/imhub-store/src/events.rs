//! What happens after a change is written, inside the same transaction:
//! a delivery row for each of the merchant's matching webhook subscriptions
//! (so no event is lost between commit and dispatch) and, on PostgreSQL, a
//! NOTIFY that every node's live-event stream receives once it commits.

use imhub_core::{ConversationId, MessageId, Timestamp, WebhookId, WorkspaceId};

use crate::{
    Change, StoreError,
    db::{Db, Dialect, Row},
};

/// The PostgreSQL channel live events travel on between nodes.
pub const NOTIFY_CHANNEL: &str = "imhub_changes";

impl Change {
    /// The event type, as live events and webhooks name it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Change::MessageCreated { .. } => "message.created",
            Change::MessageUpdated { .. } => "message.updated",
            Change::ConversationUpdated { .. } => "conversation.updated",
            Change::ConversationAssigned { .. } => "conversation.assigned",
            Change::ConversationStatusChanged { .. } => "conversation.status_changed",
            Change::ConversationLabelsChanged { .. } => "conversation.labels_changed",
            Change::NoteCreated { .. } => "note.created",
            Change::Mentioned { .. } => "mention.created",
            Change::AvailabilityChanged { .. } => "agent.availability_changed",
            Change::AutomationFired { .. } => "automation.fired",
            Change::LeadCreated { .. } => "lead.created",
            Change::LeadUpdated { .. } => "lead.updated",
        }
    }

    /// The workspace the change belongs to.
    pub fn workspace_id(&self) -> WorkspaceId {
        match self {
            Change::MessageCreated { workspace_id, .. }
            | Change::MessageUpdated { workspace_id, .. }
            | Change::ConversationUpdated { workspace_id, .. }
            | Change::ConversationAssigned { workspace_id, .. }
            | Change::ConversationStatusChanged { workspace_id, .. }
            | Change::ConversationLabelsChanged { workspace_id, .. }
            | Change::NoteCreated { workspace_id, .. }
            | Change::Mentioned { workspace_id, .. }
            | Change::AvailabilityChanged { workspace_id, .. }
            | Change::AutomationFired { workspace_id, .. }
            | Change::LeadCreated { workspace_id, .. }
            | Change::LeadUpdated { workspace_id, .. } => *workspace_id,
        }
    }

    /// The conversation the change is about, if any.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Change::MessageCreated {
                conversation_id, ..
            }
            | Change::MessageUpdated {
                conversation_id, ..
            }
            | Change::ConversationUpdated {
                conversation_id, ..
            }
            | Change::ConversationAssigned {
                conversation_id, ..
            }
            | Change::ConversationStatusChanged {
                conversation_id, ..
            }
            | Change::ConversationLabelsChanged {
                conversation_id, ..
            }
            | Change::NoteCreated {
                conversation_id, ..
            }
            | Change::Mentioned {
                conversation_id, ..
            }
            | Change::AutomationFired {
                conversation_id, ..
            } => Some(*conversation_id),
            Change::AvailabilityChanged { .. }
            | Change::LeadCreated { .. }
            | Change::LeadUpdated { .. } => None,
        }
    }

    /// The lead the change is about, if any.
    pub fn lead_id(&self) -> Option<imhub_core::leads::LeadId> {
        match self {
            Change::LeadCreated { lead_id, .. } | Change::LeadUpdated { lead_id, .. } => {
                Some(*lead_id)
            }
            _ => None,
        }
    }

    /// The message the change is about, if any.
    pub fn message_id(&self) -> Option<MessageId> {
        match self {
            Change::MessageCreated { message_id, .. }
            | Change::MessageUpdated { message_id, .. }
            | Change::NoteCreated { message_id, .. }
            | Change::Mentioned { message_id, .. } => Some(*message_id),
            _ => None,
        }
    }

    /// The JSON body of a webhook delivery for this change: ids and the
    /// new state, never a note's text.
    pub fn payload(&self, at: Timestamp) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": self.event_type(),
            "workspace_id": self.workspace_id(),
            "occurred_at": at,
        });
        if let Some(id) = self.conversation_id() {
            body["conversation_id"] = serde_json::json!(id);
        }
        if let Some(id) = self.message_id() {
            body["message_id"] = serde_json::json!(id);
        }
        if let Some(id) = self.lead_id() {
            body["lead_id"] = serde_json::json!(id);
        }
        match self {
            Change::ConversationAssigned {
                assignee_id, by, ..
            } => {
                body["assignee_id"] = serde_json::json!(assignee_id);
                body["assigned_by"] = serde_json::json!(by);
            }
            Change::ConversationStatusChanged { status, .. } => {
                body["status"] = serde_json::json!(status);
            }
            Change::Mentioned { user_id, .. } => {
                body["user_id"] = serde_json::json!(user_id);
            }
            Change::AvailabilityChanged {
                user_id,
                availability,
                ..
            } => {
                body["user_id"] = serde_json::json!(user_id);
                body["availability"] = serde_json::json!(availability);
            }
            Change::AutomationFired { rule_id, .. } => {
                body["rule_id"] = serde_json::json!(rule_id);
            }
            _ => {}
        }
        body
    }
}

/// Records what must follow `changes`; call it in the transaction that
/// made them.
pub(crate) fn emit(db: &mut dyn Db, changes: &[Change]) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now();
    let ws = changes[0].workspace_id();
    // Alerts (K3): a new lead raises one on the targets that want it.
    crate::alerts::on_changes(db, changes, now)?;
    let subscribed = db
        .query_opt(
            "SELECT 1 FROM webhook_subscriptions WHERE workspace_id = $1 AND active = 1 LIMIT 1",
            &[ws.0.into()],
        )?
        .is_some();
    if subscribed {
        for change in changes {
            let kind = change.event_type();
            let mut payload = change.payload(now);
            // A lead event carries the lead as it is now, so the merchant's
            // CRM needs no call back.
            if let Some(lead) = change.lead_id() {
                payload["lead"] = crate::leads::webhook_body(db, change.workspace_id(), lead)?;
            }
            db.execute(
                "INSERT INTO webhook_deliveries (workspace_id, subscription_id, event_type, \
                   payload, status, attempts, due_at, created_at) \
                 SELECT workspace_id, id, $1, $2, 'pending', 0, $3, $3 FROM webhook_subscriptions \
                 WHERE workspace_id = $4 AND active = 1 \
                   AND (event_types = '*' OR (',' || event_types || ',') LIKE $5)",
                &[
                    kind.into(),
                    payload.to_string().into(),
                    now.millis().into(),
                    change.workspace_id().0.into(),
                    format!("%,{kind},%").into(),
                ],
            )?;
        }
    }
    if db.dialect() == Dialect::Postgres {
        for payload in notify_payloads(changes)? {
            db.execute(
                "SELECT pg_notify($1, $2)",
                &[NOTIFY_CHANNEL.into(), payload.into()],
            )?;
        }
    }
    Ok(())
}

/// Largest NOTIFY payload sent, in bytes. PostgreSQL refuses 8,000 bytes
/// or more; staying well below leaves room for any encoding overhead.
pub const MAX_NOTIFY_PAYLOAD: usize = 7_000;

/// The changes as JSON arrays of at most [`MAX_NOTIFY_PAYLOAD`] bytes each,
/// so a transaction with many changes (a history-import page) becomes
/// several notifications instead of one PostgreSQL refuses. A change is a
/// few ids, far below the limit, so every chunk holds at least one.
pub(crate) fn notify_payloads(changes: &[Change]) -> Result<Vec<String>, StoreError> {
    let mut payloads = Vec::new();
    let mut current = String::from("[");
    for change in changes {
        let item = serde_json::to_string(change)?;
        // +2 for the separating comma and the closing bracket.
        if current.len() > 1 && current.len() + item.len() + 2 > MAX_NOTIFY_PAYLOAD {
            current.push(']');
            payloads.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&item);
    }
    if current.len() > 1 {
        current.push(']');
        payloads.push(current);
    }
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use imhub_core::{ConversationId, MessageId};

    use super::*;

    fn created(i: i64) -> Change {
        Change::MessageCreated {
            workspace_id: WorkspaceId(1),
            conversation_id: ConversationId(i),
            message_id: MessageId(1_000_000_000 + i),
        }
    }

    #[test]
    fn many_changes_become_several_notifications_each_under_the_limit() {
        let changes: Vec<Change> = (0..1_000).map(created).collect();
        let payloads = notify_payloads(&changes).unwrap();
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_NOTIFY_PAYLOAD, "{}", p.len());
            back.extend(serde_json::from_str::<Vec<Change>>(p).unwrap());
        }
        assert_eq!(back, changes);
    }

    #[test]
    fn no_changes_send_nothing_and_one_change_one_notification() {
        assert!(notify_payloads(&[]).unwrap().is_empty());
        assert_eq!(notify_payloads(&[created(1)]).unwrap().len(), 1);
    }
}

/// A merchant's webhook subscription (the secret only at creation).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookSubscription {
    pub id: WebhookId,
    pub url: String,
    /// `*` or a list such as `message.created,message.updated`.
    pub event_types: Vec<String>,
    pub active: bool,
    pub created_at: Timestamp,
}

/// One attempted (or pending) delivery of an event to a subscription.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub subscription_id: WebhookId,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed` (gave up after 24 hours).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// A leased delivery with what the dispatcher needs to send it.
#[derive(Debug, Clone)]
pub struct WebhookJob {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub created_at: Timestamp,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    Delivered {
        status: i64,
    },
    Retry {
        at: Timestamp,
        status: Option<i64>,
        error: String,
    },
    GaveUp {
        status: Option<i64>,
        error: String,
    },
}

const SUBSCRIPTION_COLUMNS: &str = "id, url, event_types, active, created_at";

fn subscription(row: &Row) -> Result<WebhookSubscription, StoreError> {
    Ok(WebhookSubscription {
        id: WebhookId(row.int(0)?),
        url: row.text(1)?,
        event_types: row.text(2)?.split(',').map(str::to_string).collect(),
        active: row.int(3)? != 0,
        created_at: Timestamp(row.int(4)?),
    })
}

pub(crate) fn create_webhook(
    db: &mut dyn Db,
    keys: &crate::secrets::KeyRing,
    ws: WorkspaceId,
    url: &str,
    secret: &str,
    event_types: &[String],
) -> Result<WebhookSubscription, StoreError> {
    let types = if event_types.is_empty() {
        "*".to_string()
    } else {
        event_types.join(",")
    };
    let created = subscription(&db.query_one(
        &format!(
            "INSERT INTO webhook_subscriptions (workspace_id, url, secret, event_types, active, \
             created_at) VALUES ($1, $2, '', $3, 1, $4) RETURNING {SUBSCRIPTION_COLUMNS}"
        ),
        &[
            ws.0.into(),
            url.into(),
            types.into(),
            Timestamp::now().millis().into(),
        ],
    )?)?;
    // Sealed once the id (part of the associated data) is known, in the
    // same transaction.
    let sealed = keys.seal(
        crate::secrets::Slot::WebhookSecret {
            subscription: created.id.0,
        },
        secret,
    )?;
    db.execute(
        "UPDATE webhook_subscriptions SET secret = $1 WHERE id = $2",
        &[sealed.into(), created.id.0.into()],
    )?;
    Ok(created)
}

pub(crate) fn list_webhooks(
    db: &mut dyn Db,
    ws: WorkspaceId,
) -> Result<Vec<WebhookSubscription>, StoreError> {
    db.query(
        &format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions \
             WHERE workspace_id = $1 AND active = 1 ORDER BY id"
        ),
        &[ws.0.into()],
    )?
    .iter()
    .map(subscription)
    .collect()
}

pub(crate) fn delete_webhook(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: WebhookId,
) -> Result<(), StoreError> {
    // Kept (inactive) so its delivery history stays readable.
    let n = db.execute(
        "UPDATE webhook_subscriptions SET active = 0 WHERE id = $1 AND workspace_id = $2 \
         AND active = 1",
        &[id.0.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    db.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription deleted' \
         WHERE subscription_id = $1 AND status = 'pending'",
        &[id.0.into()],
    )?;
    Ok(())
}

pub(crate) fn list_webhook_deliveries(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: WebhookId,
    limit: u32,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    db.query_one(
        "SELECT id FROM webhook_subscriptions WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    db.query(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE subscription_id = $1 ORDER BY id DESC LIMIT $2"
        ),
        &[id.0.into(), i64::from(limit.clamp(1, 500)).into()],
    )?
    .iter()
    .map(delivery)
    .collect()
}

const DELIVERY_COLUMNS: &str = "id, subscription_id, event_type, payload, status, attempts, \
    due_at, last_status, last_error, created_at, delivered_at";

fn delivery(row: &Row) -> Result<WebhookDelivery, StoreError> {
    let status = row.text(4)?;
    Ok(WebhookDelivery {
        id: row.int(0)?,
        subscription_id: WebhookId(row.int(1)?),
        event_type: row.text(2)?,
        payload: serde_json::from_str(&row.text(3)?)?,
        next_attempt_at: (status == "pending")
            .then(|| row.int(6).map(Timestamp))
            .transpose()?,
        status,
        attempts: row.int(5)?,
        last_status: row.opt_int(7)?,
        last_error: row.opt_text(8)?,
        created_at: Timestamp(row.int(9)?),
        delivered_at: row.opt_int(10)?.map(Timestamp),
    })
}

/// Makes a delivery of an active subscription due now ("retry now"): a
/// pending one is moved forward, a failed one is pending again with its
/// attempts kept (it gets one more try and then the usual backoff, or gives
/// up at once when it is past the dispatcher's limit). A delivery a worker
/// holds right now keeps its lease. Refused `already_delivered` when it was
/// delivered; not found for another workspace's, a deleted subscription's
/// or another subscription's delivery.
pub(crate) fn retry_webhook_delivery(
    db: &mut dyn Db,
    ws: WorkspaceId,
    subscription: WebhookId,
    id: i64,
    now: Timestamp,
) -> Result<WebhookDelivery, StoreError> {
    db.query_one(
        "SELECT id FROM webhook_subscriptions WHERE id = $1 AND workspace_id = $2 AND active = 1",
        &[subscription.0.into(), ws.0.into()],
    )?;
    let status = db
        .query_one(
            "SELECT status FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2",
            &[id.into(), subscription.0.into()],
        )?
        .text(0)?;
    if status == "delivered" {
        return Err(StoreError::Refused {
            code: "already_delivered",
            detail: format!("delivery {id} was delivered already"),
        });
    }
    db.execute(
        "UPDATE webhook_deliveries SET status = 'pending', due_at = $1 WHERE id = $2",
        &[now.millis().into(), id.into()],
    )?;
    delivery(&db.query_one(
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"),
        &[id.into()],
    )?)
}

pub(crate) fn lease_webhook_deliveries(
    db: &mut dyn Db,
    keys: &crate::secrets::KeyRing,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
) -> Result<Vec<WebhookJob>, StoreError> {
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let rows = db.query(
        &format!(
            "SELECT d.id, s.url, s.secret, d.event_type, d.payload, d.attempts, d.created_at, \
               s.id \
             FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.status = 'pending' AND d.due_at <= $1 \
               AND (d.lease_until IS NULL OR d.lease_until < $1) \
               AND s.workspace_id {active} \
             ORDER BY d.due_at, d.id LIMIT $2{lock}",
            // A suspended workspace's deliveries wait (operator.rs).
            active = crate::operator::ACTIVE_WORKSPACES
        ),
        &[now.millis().into(), i64::from(limit).into()],
    )?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.int(0)?;
        db.execute(
            "UPDATE webhook_deliveries SET lease_until = $1 WHERE id = $2",
            &[(now.millis() + lease_ms).into(), id.into()],
        )?;
        jobs.push(WebhookJob {
            id,
            url: row.text(1)?,
            secret: keys.open(
                crate::secrets::Slot::WebhookSecret {
                    subscription: row.int(7)?,
                },
                &row.text(2)?,
            )?,
            event_type: row.text(3)?,
            payload: row.text(4)?,
            attempts: row.int(5)?,
            created_at: Timestamp(row.int(6)?),
        });
    }
    Ok(jobs)
}

pub(crate) fn complete_webhook_delivery(
    db: &mut dyn Db,
    id: i64,
    outcome: WebhookOutcome,
) -> Result<(), StoreError> {
    let now = Timestamp::now().millis();
    match outcome {
        WebhookOutcome::Delivered { status } => db.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
             last_status = $1, last_error = NULL, delivered_at = $2, lease_until = NULL \
             WHERE id = $3",
            &[status.into(), now.into(), id.into()],
        )?,
        WebhookOutcome::Retry { at, status, error } => db.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, due_at = $1, \
             last_status = $2, last_error = $3, lease_until = NULL WHERE id = $4",
            &[at.millis().into(), status.into(), error.into(), id.into()],
        )?,
        WebhookOutcome::GaveUp { status, error } => db.execute(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, \
             last_status = $1, last_error = $2, lease_until = NULL WHERE id = $3",
            &[status.into(), error.into(), id.into()],
        )?,
    };
    Ok(())
}

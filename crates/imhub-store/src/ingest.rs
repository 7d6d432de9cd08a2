//! Recording a verified push: the raw event, contacts, conversations and
//! messages, in the caller's transaction. Duplicates are dropped by unique
//! indexes (`INSERT ... ON CONFLICT DO NOTHING`), never by look-up first.

use std::{cell::RefCell, collections::HashMap};

use imhub_core::{
    AccountId, AccountRef, AccountState, ChannelId, ContactId, ContactInfo, ConversationId,
    ConversationStatus, Direction, InboundEvent, InboundMessage, MessageId, MessageStatus, Peer,
    Platform, Timestamp, WorkspaceId,
};

use crate::{
    Change, PushRecord, PushRecorded, RawEvent, StoreError,
    assignment::{ConversationState, STATE_COLUMNS},
    channels::find_account_id,
    db::{Db, Row},
};

/// The group member who wrote a message: contact id and nickname.
type Sender = (ContactId, Option<String>);

/// Whether the raw event row was inserted by this very call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Yes,
    No,
}

/// Why one event of a push could not be processed; kept on the raw event.
struct Unprocessable(String);

enum Step {
    Done(Vec<Change>),
    Skipped(Unprocessable),
}

/// How often a channel's last push time is written: it may lag the real
/// last push by this much.
pub const CHANNEL_ACTIVITY_EVERY_MS: i64 = 5_000;

pub(crate) fn record_push(
    db: &mut dyn Db,
    ws: WorkspaceId,
    push: PushRecord,
) -> Result<PushRecorded, StoreError> {
    // A suspended workspace keeps the push raw as `held` (operator.rs).
    if let Some(held) = crate::operator::hold_push(db, ws, &push)? {
        return Ok(held);
    }
    let channel = db.query_one(
        "SELECT platform FROM channels WHERE id = $1 AND workspace_id = $2",
        &[push.channel_id.0.into(), ws.0.into()],
    )?;
    let platform = crate::rows::platform(&channel.text(0)?)?;
    let inserted = db.query_opt(
        "INSERT INTO raw_events (workspace_id, channel_id, event_key, body, status, received_at, \
           request) VALUES ($1, $2, $3, $4, 'processed', $5, $6) \
         ON CONFLICT (channel_id, event_key) WHERE event_key IS NOT NULL DO NOTHING RETURNING id",
        &[
            ws.0.into(),
            push.channel_id.0.into(),
            push.event_key.clone().into(),
            push.body.into(),
            push.received_at.millis().into(),
            push.request.map(|r| r.to_string()).into(),
        ],
    )?;
    let Some(raw) = inserted else {
        return Ok(PushRecorded {
            duplicate: true,
            ..PushRecorded::default()
        });
    };
    let raw_id = raw.int(0)?;
    // Alerts (K3): the channel's last push, for "no push for N hours",
    // written at most every few seconds per channel: silence is measured
    // in hours, and on PostgreSQL every push's upsert of the one row held
    // its lock until the commit, one writer after the other.
    let key = format!("channel_activity:{}", push.channel_id.0);
    if db.due(&key, push.received_at.millis(), CHANNEL_ACTIVITY_EVERY_MS) {
        crate::alerts::note_push(db, ws, push.channel_id, push.received_at)?;
    }
    let mut events = push.events;
    for event in &mut events {
        event.clamp_times(push.received_at);
    }
    process(
        db,
        Ingest::new(
            ws,
            push.channel_id,
            platform,
            push.create_unknown_accounts,
            push.received_at,
        ),
        (raw_id, Fresh::Yes),
        &events,
    )
}

/// Records a raw push's events and notes on the raw event whether some
/// could not be processed.
fn process(
    db: &mut dyn Db,
    ctx: Ingest,
    (raw_id, fresh): (i64, Fresh),
    events: &[InboundEvent],
) -> Result<PushRecorded, StoreError> {
    let mut recorded = PushRecorded::default();
    for event in events {
        match ctx.event(db, event)? {
            Step::Done(changes) => recorded.changes.extend(changes),
            Step::Skipped(Unprocessable(reason)) => recorded.unprocessable.push(reason),
        }
    }
    recorded.outbox_queued = ctx.automation.queued.get();
    if recorded.unprocessable.is_empty() {
        // A fresh row was inserted as processed already.
        if fresh == Fresh::Yes {
            return Ok(recorded);
        }
        db.execute(
            "UPDATE raw_events SET status = 'processed', reason = NULL WHERE id = $1 \
             AND status <> 'processed'",
            &[raw_id.into()],
        )?;
    } else {
        db.execute(
            "UPDATE raw_events SET status = 'unprocessable', reason = $1 WHERE id = $2",
            &[recorded.unprocessable.join("; ").into(), raw_id.into()],
        )?;
    }
    Ok(recorded)
}

/// Processes a kept raw event's (re-parsed) events again.
pub(crate) fn replay_raw_event(
    db: &mut dyn Db,
    ws: WorkspaceId,
    raw_id: i64,
    events: &[InboundEvent],
    create_unknown_accounts: bool,
) -> Result<PushRecorded, StoreError> {
    let row = db.query_one(
        "SELECT r.channel_id, c.platform, r.received_at FROM raw_events r \
         JOIN channels c ON c.id = r.channel_id WHERE r.id = $1 AND r.workspace_id = $2",
        &[raw_id.into(), ws.0.into()],
    )?;
    let platform = crate::rows::platform(&row.text(1)?)?;
    let received = imhub_core::Timestamp(row.int(2)?);
    let mut events = events.to_vec();
    for event in &mut events {
        event.clamp_times(received);
    }
    process(
        db,
        Ingest::new(
            ws,
            ChannelId(row.int(0)?),
            platform,
            create_unknown_accounts,
            received,
        ),
        (raw_id, Fresh::No),
        &events,
    )
}

pub(crate) fn list_raw_events(
    db: &mut dyn Db,
    ws: WorkspaceId,
    status: &str,
    limit: u32,
) -> Result<Vec<RawEvent>, StoreError> {
    db.query(
        "SELECT id, channel_id, event_key, body, status, reason, received_at, request \
         FROM raw_events \
         WHERE workspace_id = $1 AND status = $2 ORDER BY id LIMIT $3",
        &[ws.0.into(), status.into(), i64::from(limit).into()],
    )?
    .iter()
    .map(|row: &Row| {
        Ok(RawEvent {
            id: row.int(0)?,
            channel_id: ChannelId(row.int(1)?),
            event_key: row.opt_text(2)?,
            body: row.blob(3)?,
            status: row.text(4)?,
            reason: row.opt_text(5)?,
            received_at: Timestamp(row.int(6)?),
            request: row
                .opt_text(7)?
                .map(|t| serde_json::from_str(&t))
                .transpose()?,
        })
    })
    .collect()
}

struct Ingest {
    ws: WorkspaceId,
    channel: ChannelId,
    platform: Platform,
    create_unknown_accounts: bool,
    /// Each account's auto-assignment pool (`None`: off), looked up once
    /// per push: with auto-assignment off everywhere, a push costs one
    /// primary-key look-up per account and customer message, no more.
    pools: RefCell<HashMap<AccountId, AutoPool>>,
    /// The workspace's automation rules, looked up once per push.
    automation: IngestAutomation,
    /// When the push arrived: the time automation decides at.
    received_at: Timestamp,
}

/// Automation's part of one push (see [`crate::automation`]).
#[derive(Default)]
struct IngestAutomation {
    rules: crate::automation::PushRules,
    queued: std::cell::Cell<bool>,
}

impl Ingest {
    /// The context of one push's events: its workspace, channel, platform,
    /// whether unknown accounts are created, and when it arrived.
    fn new(
        ws: WorkspaceId,
        channel: ChannelId,
        platform: Platform,
        create_unknown_accounts: bool,
        received_at: Timestamp,
    ) -> Self {
        Ingest {
            ws,
            channel,
            platform,
            create_unknown_accounts,
            pools: Default::default(),
            automation: Default::default(),
            received_at,
        }
    }

    /// Runs the automation rules on what the push recorded, in its
    /// transaction.
    fn automate(
        &self,
        db: &mut dyn Db,
        state: &ConversationState,
        cause: crate::automation::Cause<'_>,
    ) -> Result<Vec<Change>, StoreError> {
        let applied = crate::automation::on_event(
            db,
            &self.automation.rules,
            self.ws,
            self.platform,
            state,
            cause,
            self.received_at,
        )?;
        if applied.queued {
            self.automation.queued.set(true);
        }
        Ok(applied.changes)
    }
}

/// An account's auto-assignment pool: `None` when it does not auto-assign,
/// `Some(None)` for every agent, `Some(Some(ids))` for those agents.
type AutoPool = Option<Option<Vec<imhub_core::UserId>>>;

impl Ingest {
    fn event(&self, db: &mut dyn Db, event: &InboundEvent) -> Result<Step, StoreError> {
        match event {
            InboundEvent::Message(m) => self.message(db, m),
            InboundEvent::Recalled {
                platform_message_id,
                ..
            } => self.recalled(db, platform_message_id),
            InboundEvent::Read {
                account,
                peer,
                up_to,
            } => self.read(db, account, peer, *up_to),
            InboundEvent::ChatOpened {
                account,
                contact,
                at,
                reply_context,
                entry,
            } => {
                let account = match self.account(db, account)? {
                    Ok(id) => id,
                    Err(skip) => return Ok(Step::Skipped(skip)),
                };
                let peer = Peer::Direct(contact.clone());
                let (state, _) = self.conversation(db, account, &peer, *at)?;
                let conversation = state.id;
                if let Some(context) = reply_context {
                    db.execute(
                        "UPDATE conversations SET reply_context = $1 WHERE id = $2",
                        &[context.to_string().into(), conversation.0.into()],
                    )?;
                }
                if let Some(entry) = entry {
                    crate::leads::record_entry(db, conversation, entry)?;
                }
                let mut changes = vec![Change::ConversationUpdated {
                    workspace_id: self.ws,
                    conversation_id: conversation,
                }];
                // A chat that starts is offered to auto-assignment.
                changes.extend(self.auto_assign(db, &state)?);
                changes.extend(self.automate(
                    db,
                    &state,
                    crate::automation::Cause::EnteredChat {
                        context: reply_context.as_ref(),
                        at: *at,
                    },
                )?);
                Ok(Step::Done(changes))
            }
            InboundEvent::AccountAuthorization {
                account,
                authorized,
                reason,
            } => {
                let id = match self.account(db, account)? {
                    Ok(id) => id,
                    Err(skip) => return Ok(Step::Skipped(skip)),
                };
                let state = if *authorized {
                    AccountState::Active
                } else {
                    AccountState::NeedsReauthorization
                };
                crate::channels::set_account_state(db, self.ws, id, state, reason.as_deref())?;
                Ok(Step::Done(Vec::new()))
            }
            InboundEvent::GroupJoinRequest {
                account,
                group_id,
                request_id,
                applicant,
                status,
                at,
            } => {
                let account = match self.account(db, account)? {
                    Ok(id) => id,
                    Err(skip) => return Ok(Step::Skipped(skip)),
                };
                let applicant = match applicant {
                    Some(info) if !info.external_id.is_empty() => {
                        let (id, _, _) = self.contact(db, info)?;
                        crate::group_members::Applicant {
                            contact: Some(id),
                            name: non_empty(&info.nickname),
                            avatar: non_empty(&info.avatar),
                        }
                    }
                    other => crate::group_members::Applicant {
                        contact: None,
                        name: other.as_ref().and_then(|i| non_empty(&i.nickname)),
                        avatar: other.as_ref().and_then(|i| non_empty(&i.avatar)),
                    },
                };
                crate::group_members::record_join_request(
                    db,
                    self.ws,
                    self.channel,
                    account,
                    group_id,
                    request_id,
                    applicant,
                    *status,
                    *at,
                )?;
                Ok(Step::Done(Vec::new()))
            }
            InboundEvent::GroupMembership {
                account,
                group_id,
                member,
                joined,
                at,
            } => {
                let account = match self.account(db, account)? {
                    Ok(id) => id,
                    Err(skip) => return Ok(Step::Skipped(skip)),
                };
                let (contact, _, _) = self.contact(db, member)?;
                crate::group_members::record_membership(
                    db,
                    self.ws,
                    self.channel,
                    account,
                    group_id,
                    &member.external_id,
                    Some(contact),
                    *joined,
                    *at,
                )?;
                Ok(Step::Done(Vec::new()))
            }
            InboundEvent::Unprocessable { reason } => {
                Ok(Step::Skipped(Unprocessable(reason.clone())))
            }
        }
    }

    /// The account's id, created on the fly for platform pushes.
    fn account(
        &self,
        db: &mut dyn Db,
        account: &AccountRef,
    ) -> Result<Result<AccountId, Unprocessable>, StoreError> {
        if let Some(id) = find_account_id(db, self.channel, &account.external_id)? {
            return Ok(Ok(id));
        }
        if !self.create_unknown_accounts {
            return Ok(Err(Unprocessable(format!(
                "unknown_account: no account {:?} in this channel",
                account.external_id
            ))));
        }
        let name = account.name.as_deref().unwrap_or(&account.external_id);
        let id = db
            .query_one(
                "INSERT INTO accounts (workspace_id, channel_id, external_id, name, state, created_at) \
                 VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id",
                &[
                    self.ws.0.into(),
                    self.channel.0.into(),
                    account.external_id.clone().into(),
                    name.into(),
                    Timestamp::now().millis().into(),
                ],
            )?
            .int(0)?;
        Ok(Ok(AccountId(id)))
    }

    /// Creates or refreshes a contact; returns its id and best-known name.
    fn contact(
        &self,
        db: &mut dyn Db,
        info: &ContactInfo,
    ) -> Result<(ContactId, Option<String>, Option<String>), StoreError> {
        let row = db.query_one(
            "INSERT INTO contacts (workspace_id, channel_id, external_id, nickname, avatar) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel_id, external_id) DO UPDATE SET \
               nickname = COALESCE(excluded.nickname, contacts.nickname), \
               avatar = COALESCE(excluded.avatar, contacts.avatar) \
             RETURNING id, nickname, avatar",
            &[
                self.ws.0.into(),
                self.channel.0.into(),
                info.external_id.clone().into(),
                non_empty(&info.nickname).into(),
                non_empty(&info.avatar).into(),
            ],
        )?;
        Ok((ContactId(row.int(0)?), row.opt_text(1)?, row.opt_text(2)?))
    }

    /// Offers an unassigned conversation to its account's auto-assignment,
    /// when the account has it on.
    fn auto_assign(
        &self,
        db: &mut dyn Db,
        state: &ConversationState,
    ) -> Result<Vec<Change>, StoreError> {
        if state.assignee_id.is_some() {
            return Ok(Vec::new());
        }
        let cached = self.pools.borrow().get(&state.account_id).cloned();
        let pool = match cached {
            Some(pool) => pool,
            None => {
                let pool = crate::assignment::auto_assign_pool(db, state.account_id)?;
                self.pools
                    .borrow_mut()
                    .insert(state.account_id, pool.clone());
                pool
            }
        };
        crate::assignment::offer(db, self.ws, state, pool.as_ref(), Timestamp::now())
    }

    /// Creates the conversation if it is new; returns its state before this
    /// push's message and, for groups, the sending member.
    fn conversation(
        &self,
        db: &mut dyn Db,
        account: AccountId,
        peer: &Peer,
        at: Timestamp,
    ) -> Result<(ConversationState, Option<Sender>), StoreError> {
        let (contact_id, title, avatar, sender) = match peer {
            Peer::Direct(info) => {
                let (id, name, avatar) = self.contact(db, info)?;
                (Some(id), name, avatar, None)
            }
            Peer::Group { name, sender, .. } => {
                let sender = match sender {
                    Some(info) => {
                        let (id, nickname, _) = self.contact(db, info)?;
                        Some((id, nickname))
                    }
                    None => None,
                };
                (None, non_empty(name), None, sender)
            }
        };
        let row = db.query_one(
            &format!(
                "INSERT INTO conversations (workspace_id, channel_id, account_id, platform, kind, \
               contact_id, peer_external_id, title, avatar, status, unread_count, \
               last_activity_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', 0, $10, $11) \
             ON CONFLICT (account_id, kind, peer_external_id) DO UPDATE SET \
               title = COALESCE(excluded.title, conversations.title), \
               avatar = COALESCE(excluded.avatar, conversations.avatar) \
             RETURNING {STATE_COLUMNS}"
            ),
            &[
                self.ws.0.into(),
                self.channel.0.into(),
                account.0.into(),
                self.platform.as_str().into(),
                peer.kind().as_str().into(),
                contact_id.map(|c| c.0).into(),
                peer.external_id().into(),
                title.into(),
                avatar.into(),
                at.millis().into(),
                Timestamp::now().millis().into(),
            ],
        )?;
        Ok((ConversationState::from_row(&row)?, sender))
    }

    fn message(&self, db: &mut dyn Db, m: &InboundMessage) -> Result<Step, StoreError> {
        let account = match self.account(db, &m.account)? {
            Ok(id) => id,
            Err(skip) => return Ok(Step::Skipped(skip)),
        };
        let status = match m.direction {
            Direction::In => MessageStatus::Delivered,
            Direction::Out => MessageStatus::Sent,
            // Notes and activity lines are written by imhub, never pushed.
            Direction::Note | Direction::Activity => {
                return Ok(Step::Skipped(Unprocessable(
                    "a push cannot carry a private note or an activity line".to_string(),
                )));
            }
        };
        let (state, sender) = self.conversation(db, account, &m.peer, m.sent_at)?;
        let conversation = state.id;
        // Who wrote, for leads: the contact, or a group's sending member.
        let writer = state.contact_id.or(sender.as_ref().map(|s| s.0));
        let now = Timestamp::now().millis();
        // The search text goes in with the row: SQLite's trigger would
        // write the row a second time to fill it, PostgreSQL's would parse
        // the JSON once more (0019, 0021).
        let sql = "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, \
                     content, status, platform_message_id, sender_id, sender_name, created_at, \
                     updated_at, search_text) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                   ON CONFLICT (channel_id, platform_message_id) \
                     WHERE platform_message_id IS NOT NULL DO NOTHING RETURNING id";
        let params = vec![
            self.ws.0.into(),
            conversation.0.into(),
            self.channel.0.into(),
            m.direction.as_str().into(),
            serde_json::to_string(&m.content)?.into(),
            status.as_str().into(),
            m.platform_message_id.clone().into(),
            sender.as_ref().map(|s| s.0.0).into(),
            sender.and_then(|s| s.1).into(),
            m.sent_at.millis().into(),
            now.into(),
            m.content.search_text().into(),
        ];
        let inserted = db.query_opt(sql, &params)?;
        let Some(row) = inserted else {
            // Already stored (a platform retry or an echo of our own send).
            return Ok(Step::Done(Vec::new()));
        };
        let message = MessageId(row.int(0)?);
        let inbound = m.direction == Direction::In;
        touch_conversation(
            db,
            conversation,
            message,
            m.sent_at,
            &m.content.preview(),
            inbound,
            m.reply_context.as_ref(),
        )?;
        // The turn moves in this transaction: a customer message opens
        // one; the merchant writing in the platform's own app is a human
        // reply and closes it (for the account; no agent is known).
        crate::turns::on_message(
            db,
            self.ws,
            conversation,
            if inbound {
                imhub_core::turns::Writer::Customer
            } else {
                imhub_core::turns::Writer::Human
            },
            m.sent_at,
            None,
            message,
        )?;
        let mut changes = vec![
            Change::MessageCreated {
                workspace_id: self.ws,
                conversation_id: conversation,
                message_id: message,
            },
            Change::ConversationUpdated {
                workspace_id: self.ws,
                conversation_id: conversation,
            },
        ];
        if inbound {
            let mut state = state;
            // The customer wrote: a resolved or snoozed chat is open again
            // (touch_conversation set it so) ...
            if matches!(
                state.status,
                ConversationStatus::Resolved | ConversationStatus::Snoozed
            ) {
                changes.extend(crate::assignment::reopened_by_customer(
                    db,
                    self.ws,
                    conversation,
                    self.channel.0,
                    state.status,
                    Timestamp::now(),
                )?);
                state.status = ConversationStatus::Open;
                state.snoozed_until = None;
            }
            // ... and one nobody has is offered to auto-assignment.
            changes.extend(self.auto_assign(db, &state)?);
            // What the customer told about themselves becomes their lead.
            if let Some(contact) = writer {
                changes.extend(crate::leads::capture(
                    db,
                    self.ws,
                    crate::leads::Captured {
                        platform: self.platform,
                        account,
                        conversation,
                        contact,
                        message,
                        content: &m.content,
                        context: m.reply_context.as_ref(),
                    },
                    Timestamp::now(),
                )?);
            }
            changes.extend(self.automate(
                db,
                &state,
                crate::automation::Cause::CustomerMessage {
                    message,
                    content: &m.content,
                    context: m.reply_context.as_ref(),
                    at: m.sent_at,
                },
            )?);
        } else {
            // The merchant wrote in the platform's own app (our own sends'
            // echoes never get here): a human answered.
            crate::automation::human_replied(db, self.ws, conversation, m.sent_at)?;
        }
        Ok(Step::Done(changes))
    }

    /// The customer read our messages up to `up_to`: outbound messages of
    /// that conversation created up to then move from sent or delivered to
    /// read (forward only; queued, failed and recalled ones stay). An
    /// unknown account or conversation changes nothing: a read report
    /// creates neither.
    fn read(
        &self,
        db: &mut dyn Db,
        account: &AccountRef,
        peer: &Peer,
        up_to: Timestamp,
    ) -> Result<Step, StoreError> {
        let Some(account) = find_account_id(db, self.channel, &account.external_id)? else {
            return Ok(Step::Done(Vec::new()));
        };
        let Some(conversation) = db.query_opt(
            "SELECT id FROM conversations WHERE account_id = $1 AND kind = $2 \
             AND peer_external_id = $3",
            &[
                account.0.into(),
                peer.kind().as_str().into(),
                peer.external_id().into(),
            ],
        )?
        else {
            return Ok(Step::Done(Vec::new()));
        };
        let conversation = ConversationId(conversation.int(0)?);
        let rows = db.query(
            "UPDATE messages SET status = 'read', updated_at = $1 \
             WHERE conversation_id = $2 AND direction = 'out' \
               AND status IN ('sent', 'delivered') AND created_at <= $3 \
             RETURNING id",
            &[
                Timestamp::now().millis().into(),
                conversation.0.into(),
                up_to.millis().into(),
            ],
        )?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            changes.push(Change::MessageUpdated {
                workspace_id: self.ws,
                conversation_id: conversation,
                message_id: MessageId(row.int(0)?),
            });
        }
        Ok(Step::Done(changes))
    }

    fn recalled(&self, db: &mut dyn Db, platform_message_id: &str) -> Result<Step, StoreError> {
        let rows = db.query(
            "UPDATE messages SET status = 'recalled', updated_at = $1 \
             WHERE channel_id = $2 AND platform_message_id = $3 AND status <> 'recalled' \
             RETURNING id, conversation_id",
            &[
                Timestamp::now().millis().into(),
                self.channel.0.into(),
                platform_message_id.into(),
            ],
        )?;
        let mut changes = Vec::new();
        for row in rows {
            changes.push(Change::MessageUpdated {
                workspace_id: self.ws,
                conversation_id: ConversationId(row.int(1)?),
                message_id: MessageId(row.int(0)?),
            });
        }
        Ok(Step::Done(changes))
    }
}

/// Moves a conversation's last message, activity, unread count and reply
/// context forward for a newly written message. Activity never moves back,
/// so a late, reordered push cannot rewind the chat list.
pub(crate) fn touch_conversation(
    db: &mut dyn Db,
    conversation: ConversationId,
    message: MessageId,
    at: Timestamp,
    preview: &str,
    inbound: bool,
    reply_context: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE conversations SET \
           unread_count = unread_count + $1, \
           last_message_id = CASE WHEN $2 >= last_activity_at THEN $3 ELSE last_message_id END, \
           last_message_preview = CASE WHEN $2 >= last_activity_at THEN $4 \
             ELSE last_message_preview END, \
           last_inbound_at = CASE WHEN $1 = 1 AND (last_inbound_at IS NULL OR $2 > last_inbound_at) \
             THEN $2 ELSE last_inbound_at END, \
           reply_context = CASE WHEN $1 = 1 AND CAST($5 AS TEXT) IS NOT NULL \
             AND (last_inbound_at IS NULL OR $2 >= last_inbound_at) THEN $5 ELSE reply_context END, \
           last_activity_at = CASE WHEN $2 > last_activity_at THEN $2 ELSE last_activity_at END, \
           status = CASE WHEN $1 = 1 AND status IN ('resolved', 'snoozed') THEN 'open' \
             ELSE status END, \
           snoozed_until = CASE WHEN $1 = 1 THEN NULL ELSE snoozed_until END \
         WHERE id = $6",
        &[
            i64::from(inbound).into(),
            at.millis().into(),
            message.0.into(),
            preview.into(),
            reply_context.map(|c| c.to_string()).into(),
            conversation.0.into(),
        ],
    )?;
    Ok(())
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

//! The store's behaviour, checked identically on SQLite and PostgreSQL.

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationStatus, Direction, InboundEvent,
    InboundMessage, MessageStatus, Peer, Platform, Role, Timestamp, WorkspaceId,
};
use imhub_store::{
    ConversationFilter, ListCursor, MessageCursor, NewOutbound, OutboxOp, OutboxResult, PushRecord,
    SqlStore, Store, StoreError, StoreOptions, testing,
};

async fn sqlite_store() -> Arc<SqlStore> {
    Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    )
}

async fn postgres_store() -> Option<Arc<SqlStore>> {
    let url = testing::postgres_database()?;
    Some(Arc::new(
        SqlStore::open(StoreOptions::new(url)).await.unwrap(),
    ))
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::sqlite_store().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = super::postgres_store().await else { return };
                super::$name(store).await
            })*
        }
    };
}

conformance!(
    inbound_message_opens_conversation_with_unread_one,
    replayed_push_is_stored_once,
    same_platform_message_in_another_push_is_stored_once,
    mark_read_resets_unread,
    chat_list_is_newest_first_and_pages_by_cursor,
    chat_list_filters_by_account_status_unread_and_name,
    late_push_does_not_rewind_the_conversation,
    another_workspace_sees_nothing,
    unknown_account_is_kept_raw_with_reason,
    group_message_records_its_sender,
    idempotency_key_enqueues_once,
    outbox_keeps_conversation_order_and_takes_over_expired_leases,
    delivery_results_move_status_forward,
    recall_needs_a_sent_message,
    retry_requeues_a_failed_message,
    concurrent_pushes_are_all_committed,
    chat_detail_pages_newest_first,
    channel_state_is_kept_and_replaced,
    restarted_node_takes_its_leases_back,
    echo_of_our_send_that_arrives_first_is_merged,
    a_lease_taken_again_by_the_same_node_voids_the_old_one,
    a_deferred_entry_keeps_its_attempt_count,
    a_history_page_of_100_messages_commits_and_notifies_every_change,
    a_push_dated_far_in_the_future_does_not_pin_its_conversation,
    fair_leases_leave_slots_to_other_workspaces,
    fair_leases_hold_each_account_to_its_share_within_the_workspaces,
    a_workspace_alone_with_work_uses_every_slot_but_the_reserve,
    retention_prunes_old_records_in_batches_and_keeps_recent_ones,
    retention_prunes_ended_webhook_deliveries_expired_sessions_and_oauth_states,
    media_quota_refuses_the_upload_that_would_pass_it,
    read_report_moves_only_sent_replies_up_to_its_time_to_read,
);

struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
}

async fn fixture(store: &SqlStore) -> Fixture {
    let ws = store.create_workspace("shop").await.unwrap();
    let channel = store
        .create_channel(
            ws.id,
            Platform::Custom,
            "site",
            &serde_json::json!({"secret": "s"}),
        )
        .await
        .unwrap();
    store
        .create_account(ws.id, channel.id, "acc-1", "Main")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
    }
}

/// The tests' clock origin: `at` in the helpers is milliseconds after it.
/// Pushes dated before 2000 are taken as sent when they arrive, so test
/// times start in 2023.
const T0: i64 = 1_700_000_000_000;

fn text_message(account: &str, contact: &str, id: &str, text: &str, at: i64) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: account.into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: contact.into(),
            nickname: Some(format!("nick-{contact}")),
            avatar: None,
        }),
        direction: Direction::In,
        platform_message_id: id.into(),
        content: Content::Text { text: text.into() },
        sent_at: Timestamp(T0.saturating_add(at)),
        reply_context: Some(serde_json::json!({"msg": id})),
    })
}

fn push(f: &Fixture, key: Option<&str>, events: Vec<InboundEvent>) -> PushRecord {
    PushRecord {
        channel_id: f.channel,
        event_key: key.map(str::to_string),
        body: b"{}".to_vec(),
        received_at: Timestamp::now(),
        events,
        request: None,
        create_unknown_accounts: false,
    }
}

fn all() -> ConversationFilter {
    ConversationFilter {
        limit: 50,
        ..ConversationFilter::default()
    }
}

async fn inbound_message_opens_conversation_with_unread_one(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let recorded = store
        .record_push(
            f.ws,
            push(
                &f,
                Some("e1"),
                vec![text_message("acc-1", "u1", "m1", "你好\n在吗", 1000)],
            ),
        )
        .await
        .unwrap();
    assert!(!recorded.duplicate);
    let list = store.list_conversations(f.ws, all()).await.unwrap();
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(c.unread_count, 1);
    assert_eq!(c.title, "nick-u1");
    assert_eq!(c.last_message_preview.as_deref(), Some("你好 在吗"));
    assert_eq!(c.last_activity_at, Timestamp(T0 + 1000));
    assert_eq!(c.status, ConversationStatus::Open);
    let messages = store.list_messages(f.ws, c.id, None, 50).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].direction, Direction::In);
    assert_eq!(messages[0].platform_message_id.as_deref(), Some("m1"));
}

async fn replayed_push_is_stored_once(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let event = text_message("acc-1", "u1", "m1", "hi", 1000);
    store
        .record_push(f.ws, push(&f, Some("e1"), vec![event.clone()]))
        .await
        .unwrap();
    let again = store
        .record_push(f.ws, push(&f, Some("e1"), vec![event]))
        .await
        .unwrap();
    assert!(again.duplicate);
    let c = &store.list_conversations(f.ws, all()).await.unwrap()[0];
    assert_eq!(c.unread_count, 1);
    assert_eq!(
        store
            .list_messages(f.ws, c.id, None, 50)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn same_platform_message_in_another_push_is_stored_once(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let event = text_message("acc-1", "u1", "m1", "hi", 1000);
    store
        .record_push(f.ws, push(&f, Some("e1"), vec![event.clone()]))
        .await
        .unwrap();
    let again = store
        .record_push(f.ws, push(&f, Some("e2"), vec![event]))
        .await
        .unwrap();
    assert!(!again.duplicate);
    assert!(again.changes.is_empty(), "nothing new was written");
    let c = &store.list_conversations(f.ws, all()).await.unwrap()[0];
    assert_eq!(c.unread_count, 1);
}

async fn mark_read_resets_unread(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .record_push(
            f.ws,
            push(
                &f,
                None,
                vec![
                    text_message("acc-1", "u1", "m1", "a", 1000),
                    text_message("acc-1", "u1", "m2", "b", 1001),
                ],
            ),
        )
        .await
        .unwrap();
    let c = &store.list_conversations(f.ws, all()).await.unwrap()[0];
    assert_eq!(c.unread_count, 2);
    let (read, changes) = store.mark_read(f.ws, c.id, false).await.unwrap();
    assert_eq!(read.unread_count, 0);
    assert_eq!(changes.len(), 1);
    let (_, changes) = store.mark_read(f.ws, c.id, false).await.unwrap();
    assert!(
        changes.is_empty(),
        "reading a read conversation changes nothing"
    );
}

async fn chat_list_is_newest_first_and_pages_by_cursor(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let events = (0..25)
        .map(|i| text_message("acc-1", &format!("u{i}"), &format!("m{i}"), "x", 1000 + i))
        .collect();
    store
        .record_push(f.ws, push(&f, None, events))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_conversations(
                f.ws,
                ConversationFilter {
                    limit: 10,
                    after,
                    ..all()
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        after = Some(ListCursor {
            last_activity_at: last.last_activity_at.millis(),
            id: last.id.0,
        });
        seen.extend(page.into_iter().map(|c| c.last_activity_at.millis()));
    }
    let expected: Vec<i64> = (0..25).rev().map(|i| T0 + 1000 + i).collect();
    assert_eq!(seen, expected);
}

async fn chat_list_filters_by_account_status_unread_and_name(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let second = store
        .create_account(f.ws, f.channel, "acc-2", "Second")
        .await
        .unwrap();
    store
        .record_push(
            f.ws,
            push(
                &f,
                None,
                vec![
                    text_message("acc-1", "alice", "m1", "x", 1000),
                    text_message("acc-2", "bob", "m2", "x", 1001),
                    text_message("acc-2", "carol", "m3", "x", 1002),
                ],
            ),
        )
        .await
        .unwrap();
    let by_account = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                account_id: Some(second.id),
                ..all()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_account.len(), 2);
    let carol = by_account.iter().find(|c| c.title == "nick-carol").unwrap();
    store.mark_read(f.ws, carol.id, false).await.unwrap();
    store
        .set_conversation_status(f.ws, carol.id, ConversationStatus::Resolved)
        .await
        .unwrap();
    let unread = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                unread_only: true,
                ..all()
            },
        )
        .await
        .unwrap();
    assert_eq!(unread.len(), 2);
    let resolved = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                status: Some(ConversationStatus::Resolved),
                ..all()
            },
        )
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    let named = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                query: Some("BOB".into()),
                ..all()
            },
        )
        .await
        .unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].title, "nick-bob");
    let wildcard = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                query: Some("%".into()),
                ..all()
            },
        )
        .await
        .unwrap();
    assert!(
        wildcard.is_empty(),
        "LIKE wildcards in the query are literal"
    );
}

async fn late_push_does_not_rewind_the_conversation(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .record_push(
            f.ws,
            push(
                &f,
                None,
                vec![text_message("acc-1", "u1", "new", "newer", 2000)],
            ),
        )
        .await
        .unwrap();
    store
        .record_push(
            f.ws,
            push(
                &f,
                None,
                vec![text_message("acc-1", "u1", "old", "older", 1000)],
            ),
        )
        .await
        .unwrap();
    let c = &store.list_conversations(f.ws, all()).await.unwrap()[0];
    assert_eq!(c.last_activity_at, Timestamp(T0 + 2000));
    assert_eq!(c.last_message_preview.as_deref(), Some("newer"));
    assert_eq!(c.unread_count, 2);
    let messages = store.list_messages(f.ws, c.id, None, 50).await.unwrap();
    assert_eq!(messages[0].platform_message_id.as_deref(), Some("new"));
}

async fn another_workspace_sees_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .record_push(
            f.ws,
            push(&f, None, vec![text_message("acc-1", "u1", "m1", "x", 1000)]),
        )
        .await
        .unwrap();
    let c = store
        .list_conversations(f.ws, all())
        .await
        .unwrap()
        .remove(0);
    let other = store.create_workspace("other").await.unwrap().id;
    assert!(
        store
            .list_conversations(other, all())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_conversation(other, c.id).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store.mark_read(other, c.id, false).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store.get_channel(other, f.channel).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .list_messages(other, c.id, None, 10)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    let m = store
        .list_messages(f.ws, c.id, None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        store.get_message(other, m.id).await.unwrap_err(),
        StoreError::NotFound
    );
    let reply = NewOutbound {
        conversation_id: c.id,
        content: Content::Text { text: "x".into() },
        idempotency_key: None,
        request_hash: "h".into(),
        author_id: None,
    };
    assert_eq!(
        store.enqueue_message(other, reply).await.unwrap_err(),
        StoreError::NotFound
    );
    assert!(store.list_accounts(other).await.unwrap().is_empty());
}

async fn unknown_account_is_kept_raw_with_reason(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let recorded = store
        .record_push(
            f.ws,
            push(
                &f,
                Some("e1"),
                vec![text_message("nobody", "u1", "m1", "x", 1000)],
            ),
        )
        .await
        .unwrap();
    assert_eq!(recorded.unprocessable.len(), 1);
    assert!(recorded.unprocessable[0].starts_with("unknown_account"));
    assert!(
        store
            .list_conversations(f.ws, all())
            .await
            .unwrap()
            .is_empty()
    );
    let raw = store
        .list_raw_events(f.ws, "unprocessable", 10)
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].event_key.as_deref(), Some("e1"));
    assert_eq!(raw[0].body, b"{}");
}

async fn group_message_records_its_sender(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let event = InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: "acc-1".into(),
            name: None,
        },
        peer: Peer::Group {
            group_id: "g1".into(),
            name: Some("粉丝群".into()),
            sender: Some(ContactInfo {
                external_id: "u9".into(),
                nickname: Some("小王".into()),
                avatar: None,
            }),
        },
        direction: Direction::In,
        platform_message_id: "gm1".into(),
        content: Content::Text {
            text: "hi all".into(),
        },
        sent_at: Timestamp(1000),
        reply_context: None,
    });
    store
        .record_push(f.ws, push(&f, None, vec![event]))
        .await
        .unwrap();
    let c = store
        .list_conversations(f.ws, all())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(c.kind, imhub_core::ConversationKind::Group);
    assert_eq!(c.title, "粉丝群");
    assert_eq!(c.peer_external_id, "g1");
    let m = store
        .list_messages(f.ws, c.id, None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(m.sender_name.as_deref(), Some("小王"));
    assert!(m.sender_id.is_some());
}

async fn conversation_with_one_message(store: &SqlStore) -> (Fixture, imhub_core::ConversationId) {
    let f = fixture(store).await;
    store
        .record_push(
            f.ws,
            push(&f, None, vec![text_message("acc-1", "u1", "m1", "x", 1000)]),
        )
        .await
        .unwrap();
    let c = store
        .list_conversations(f.ws, all())
        .await
        .unwrap()
        .remove(0);
    (f, c.id)
}

fn reply(conversation: imhub_core::ConversationId, text: &str, key: Option<&str>) -> NewOutbound {
    NewOutbound {
        conversation_id: conversation,
        content: Content::Text { text: text.into() },
        idempotency_key: key.map(str::to_string),
        request_hash: format!("hash-{text}"),
        author_id: None,
    }
}

async fn idempotency_key_enqueues_once(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let first = store
        .enqueue_message(f.ws, reply(c, "hello", Some("k1")))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.message.status, MessageStatus::Queued);
    let second = store
        .enqueue_message(f.ws, reply(c, "hello", Some("k1")))
        .await
        .unwrap();
    assert!(second.replayed);
    assert_eq!(second.message.id, first.message.id);
    let conflict = store
        .enqueue_message(f.ws, reply(c, "other", Some("k1")))
        .await;
    assert!(matches!(conflict, Err(StoreError::Conflict(_))));
    let jobs = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 100)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one outbox entry for one key");
    let conv = store.get_conversation(f.ws, c).await.unwrap();
    assert_eq!(conv.last_message_preview.as_deref(), Some("hello"));
    assert_eq!(conv.unread_count, 1, "a reply does not touch unread");
}

async fn outbox_keeps_conversation_order_and_takes_over_expired_leases(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let a = store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap()
        .message;
    let b = store
        .enqueue_message(f.ws, reply(c, "b", None))
        .await
        .unwrap()
        .message;
    let now = Timestamp::now();
    let jobs = store.lease_outbox("n1", now, 1_000, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "only the oldest entry of a conversation");
    assert_eq!(jobs[0].message.id, a.id);
    assert_eq!(jobs[0].op, OutboxOp::Send);
    assert_eq!(jobs[0].target.account_external_id, "acc-1");
    assert_eq!(jobs[0].target.peer_external_id, "u1");
    assert_eq!(
        jobs[0].target.reply_context,
        Some(serde_json::json!({"msg": "m1"}))
    );
    assert!(
        store
            .lease_outbox("n2", now, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The first node dies; after its lease expires another node takes over.
    let later = now.plus_millis(1_001);
    let taken = store.lease_outbox("n2", later, 1_000, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].message.id, a.id);
    let stale = store
        .complete_outbox(
            &jobs[0],
            OutboxResult::Done {
                platform_message_id: None,
            },
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "a lost lease cannot complete"
    );
    store
        .complete_outbox(
            &taken[0],
            OutboxResult::Done {
                platform_message_id: Some("p-a".into()),
            },
        )
        .await
        .unwrap();
    let next = store.lease_outbox("n2", later, 1_000, 10).await.unwrap();
    assert_eq!(next[0].message.id, b.id);
}

async fn delivery_results_move_status_forward(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let a = store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap()
        .message;
    let now = Timestamp::now();
    let job = store
        .lease_outbox("n1", now, 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        store.get_message(f.ws, a.id).await.unwrap().status,
        MessageStatus::Sending
    );
    store
        .complete_outbox(
            &job,
            OutboxResult::Retry {
                at: now.plus_millis(500),
                error: "timeout".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .lease_outbox("n1", now, 30_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let job = store
        .lease_outbox("n1", now.plus_millis(600), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.attempts, 1);
    store
        .complete_outbox(
            &job,
            OutboxResult::Failed {
                code: "40001".into(),
                text: "bad".into(),
            },
        )
        .await
        .unwrap();
    let m = store.get_message(f.ws, a.id).await.unwrap();
    assert_eq!(m.status, MessageStatus::Failed);
    assert_eq!(m.error_code.as_deref(), Some("40001"));
    assert_eq!(m.error_text.as_deref(), Some("bad"));
    assert_eq!(store.next_outbox_due().await.unwrap(), None);
}

async fn recall_needs_a_sent_message(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let a = store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap()
        .message;
    assert!(matches!(
        store.request_recall(f.ws, a.id).await,
        Err(StoreError::InvalidState(_))
    ));
    let job = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_outbox(
            &job,
            OutboxResult::Done {
                platform_message_id: Some("p1".into()),
            },
        )
        .await
        .unwrap();
    store.request_recall(f.ws, a.id).await.unwrap();
    let job = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.op, OutboxOp::Recall);
    assert_eq!(job.message.platform_message_id.as_deref(), Some("p1"));
    store
        .complete_outbox(
            &job,
            OutboxResult::Done {
                platform_message_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_message(f.ws, a.id).await.unwrap().status,
        MessageStatus::Recalled
    );
}

async fn retry_requeues_a_failed_message(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let a = store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap()
        .message;
    assert!(matches!(
        store.retry_message(f.ws, a.id).await,
        Err(StoreError::InvalidState(_))
    ));
    let job = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_outbox(
            &job,
            OutboxResult::Failed {
                code: "x".into(),
                text: "y".into(),
            },
        )
        .await
        .unwrap();
    let (m, _) = store.retry_message(f.ws, a.id).await.unwrap();
    assert_eq!(m.status, MessageStatus::Queued);
    assert_eq!(m.error_code, None);
    assert_eq!(
        store
            .lease_outbox("n1", Timestamp::now(), 30_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn concurrent_pushes_are_all_committed(store: Arc<SqlStore>) {
    let f = Arc::new(fixture(&store).await);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (store, f) = (Arc::clone(&store), Arc::clone(&f));
        tasks.push(tokio::spawn(async move {
            let key = format!("e{}", i % 150);
            let event = text_message(
                "acc-1",
                &format!("u{}", i % 20),
                &format!("m{}", i % 150),
                "x",
                1000 + i,
            );
            store
                .record_push(f.ws, push(&f, Some(&key), vec![event]))
                .await
                .unwrap()
        }));
    }
    let mut duplicates = 0;
    for t in tasks {
        if t.await.unwrap().duplicate {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 50);
    let list = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                limit: 100,
                ..all()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.len(), 20);
    assert_eq!(list.iter().map(|c| c.unread_count).sum::<i64>(), 150);
}

async fn chat_detail_pages_newest_first(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let events = (0..30)
        .map(|i| text_message("acc-1", "u1", &format!("m{i}"), &format!("t{i}"), 1000 + i))
        .collect();
    store
        .record_push(f.ws, push(&f, None, events))
        .await
        .unwrap();
    let c = store
        .list_conversations(f.ws, all())
        .await
        .unwrap()
        .remove(0);
    let first = store.list_messages(f.ws, c.id, None, 20).await.unwrap();
    assert_eq!(first.len(), 20);
    assert_eq!(first[0].platform_message_id.as_deref(), Some("m29"));
    let last = first.last().unwrap();
    let cursor = MessageCursor {
        created_at: last.created_at.millis(),
        id: last.id.0,
    };
    let second = store
        .list_messages(f.ws, c.id, Some(cursor), 20)
        .await
        .unwrap();
    assert_eq!(second.len(), 10);
    assert_eq!(second[0].platform_message_id.as_deref(), Some("m9"));
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = SqlStore::open(StoreOptions::new("mysql://x")).await.err();
    assert!(matches!(err, Some(StoreError::BadUrl(_))));
}

#[test]
fn roles_round_trip() {
    assert_eq!(Role::parse("agent"), Some(Role::Agent));
}

async fn channel_state_is_kept_and_replaced(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    assert_eq!(store.get_channel_state(f.channel, "k").await.unwrap(), None);
    store.put_channel_state(f.channel, "k", "1").await.unwrap();
    store.put_channel_state(f.channel, "k", "2").await.unwrap();
    assert_eq!(
        store
            .get_channel_state(f.channel, "k")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    let found = store.find_account(f.ws, f.channel, "acc-1").await.unwrap();
    assert_eq!(found.map(|a| a.external_id).as_deref(), Some("acc-1"));
    assert!(
        store
            .find_account(f.ws, f.channel, "nope")
            .await
            .unwrap()
            .is_none()
    );
    let other = store.create_workspace("o").await.unwrap().id;
    assert!(
        store
            .find_account(other, f.channel, "acc-1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn restarted_node_takes_its_leases_back(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap();
    let now = Timestamp::now();
    assert_eq!(
        store
            .lease_outbox("node-1", now, 60_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .lease_outbox("node-1", now, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.release_leases("node-2").await.unwrap(), 0);
    assert_eq!(store.release_leases("node-1").await.unwrap(), 1);
    assert_eq!(
        store
            .lease_outbox("node-1", now, 60_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn echo_of_our_send_that_arrives_first_is_merged(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let ours = store
        .enqueue_message(f.ws, reply(c, "hello", None))
        .await
        .unwrap()
        .message;
    let job = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    // The platform pushes the echo of our send before the send's answer is recorded.
    let echo = InboundEvent::Message(InboundMessage {
        direction: Direction::Out,
        content: Content::Text {
            text: "hello".into(),
        },
        platform_message_id: "p-hello".into(),
        ..match text_message("acc-1", "u1", "x", "x", 2000) {
            InboundEvent::Message(m) => m,
            _ => unreachable!(),
        }
    });
    store
        .record_push(f.ws, push(&f, None, vec![echo]))
        .await
        .unwrap();
    assert_eq!(
        store.list_messages(f.ws, c, None, 50).await.unwrap().len(),
        3
    );
    store
        .complete_outbox(
            &job,
            OutboxResult::Done {
                platform_message_id: Some("p-hello".into()),
            },
        )
        .await
        .unwrap();
    let messages = store.list_messages(f.ws, c, None, 50).await.unwrap();
    assert_eq!(messages.len(), 2, "the echo was merged into our message");
    let m = store.get_message(f.ws, ours.id).await.unwrap();
    assert_eq!(m.platform_message_id.as_deref(), Some("p-hello"));
    assert_eq!(m.status, MessageStatus::Sent);
}

async fn a_lease_taken_again_by_the_same_node_voids_the_old_one(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap();
    let now = Timestamp::now();
    let first = store
        .lease_outbox("n1", now, 1_000, 10)
        .await
        .unwrap()
        .remove(0);
    // The first attempt outlived its lease; the same node takes the entry again.
    let second = store
        .lease_outbox("n1", now.plus_millis(1_001), 1_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_ne!(first.lease, second.lease);
    let stale = store
        .complete_outbox(
            &first,
            OutboxResult::Done {
                platform_message_id: None,
            },
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "the old attempt cannot complete"
    );
    store
        .complete_outbox(
            &second,
            OutboxResult::Done {
                platform_message_id: None,
            },
        )
        .await
        .unwrap();
}

async fn a_deferred_entry_keeps_its_attempt_count(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap();
    let now = Timestamp::now();
    let job = store
        .lease_outbox("n1", now, 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_outbox(
            &job,
            OutboxResult::Defer {
                at: now.plus_millis(10),
            },
        )
        .await
        .unwrap();
    let again = store
        .lease_outbox("n1", now.plus_millis(20), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.attempts, 0);
}

/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more; a Tencent
/// history-import page of 100 new messages must still commit, and every
/// node must hear of every message.
async fn a_history_page_of_100_messages_commits_and_notifies_every_change(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let mut feed = store.remote_changes();
    if let Some(feed) = feed.as_mut() {
        // The listener connects in the background: wait until it hears a probe.
        let mut n = 0;
        'listening: loop {
            n += 1;
            assert!(n < 100, "the LISTEN connection never came up");
            let id = format!("probe-{n}");
            store
                .record_push(
                    f.ws,
                    push(&f, None, vec![text_message("acc-1", "probe", &id, "p", n)]),
                )
                .await
                .unwrap();
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
            if let Ok(Some(_)) = tokio::time::timeout_at(deadline, feed.recv()).await {
                break 'listening;
            }
        }
        while let Ok(Some(_)) =
            tokio::time::timeout(std::time::Duration::from_millis(300), feed.recv()).await
        {}
    }
    let events: Vec<InboundEvent> = (0..100)
        .map(|i| {
            text_message(
                "acc-1",
                &format!("u{i}"),
                &format!("h{i}"),
                "历史消息",
                10_000 + i,
            )
        })
        .collect();
    let recorded = store
        .record_push(f.ws, push(&f, Some("history-page-1"), events))
        .await
        .unwrap();
    let created: std::collections::HashSet<_> = recorded
        .changes
        .iter()
        .filter_map(|c| match c {
            imhub_store::Change::MessageCreated { message_id, .. } => Some(*message_id),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 100);
    let list = store
        .list_conversations(
            f.ws,
            ConversationFilter {
                limit: 200,
                ..all()
            },
        )
        .await
        .unwrap();
    assert!(list.len() >= 100);
    if let Some(mut feed) = feed {
        let mut heard = std::collections::HashSet::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while heard.len() < created.len() {
            match tokio::time::timeout_at(deadline, feed.recv()).await {
                Ok(Some(imhub_store::Change::MessageCreated { message_id, .. })) => {
                    heard.insert(message_id);
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        assert_eq!(
            heard, created,
            "every new message is announced to other nodes"
        );
    }
}

async fn a_push_dated_far_in_the_future_does_not_pin_its_conversation(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let arrived = Timestamp::now();
    let mut record = push(
        &f,
        Some("future"),
        vec![text_message(
            "acc-1",
            "u-future",
            "m-future",
            "来自未来",
            i64::MAX,
        )],
    );
    record.received_at = arrived;
    store.record_push(f.ws, record).await.unwrap();
    let mut later = push(
        &f,
        Some("later"),
        vec![text_message(
            "acc-1",
            "u-later",
            "m-later",
            "稍后",
            arrived.millis() - T0 + 1_000,
        )],
    );
    later.received_at = arrived.plus_millis(1_000);
    store.record_push(f.ws, later).await.unwrap();
    let list = store.list_conversations(f.ws, all()).await.unwrap();
    assert_eq!(
        list[0].title, "nick-u-later",
        "the future push does not stay on top"
    );
    let future = list.iter().find(|c| c.title == "nick-u-future").unwrap();
    assert_eq!(future.last_activity_at, arrived);
    let json = serde_json::to_value(future).unwrap();
    assert!(
        !json["last_activity_at"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

/// One workspace's due entries never take more leases in force than its
/// share while another workspace has work waiting.
async fn fair_leases_leave_slots_to_other_workspaces(store: Arc<SqlStore>) {
    let a = fixture(&store).await;
    let b = fixture(&store).await;
    // A's entries are older: plain oldest-first would give A everything.
    queue_replies_in_new_conversations(&store, &a, "a", 10).await;
    queue_replies_in_new_conversations(&store, &b, "b", 10).await;
    let shares = imhub_store::LeaseShares {
        per_workspace: 4,
        per_account: 4,
        reserve: 2,
    };
    let now = Timestamp::now();
    let first = store
        .lease_outbox_shared("n1", now, 30_000, 12, shares)
        .await
        .unwrap();
    let count = |jobs: &[imhub_store::OutboxJob], ws: WorkspaceId| {
        jobs.iter().filter(|j| j.workspace_id == ws).count()
    };
    assert_eq!(count(&first, a.ws), 4);
    assert_eq!(count(&first, b.ws), 4);
    // Shares hold across calls (and nodes): the leases in force count.
    let second = store
        .lease_outbox_shared("n2", now, 30_000, 12, shares)
        .await
        .unwrap();
    assert!(second.is_empty(), "{} more leased", second.len());
    // A finished one: exactly one more of A may go.
    store
        .complete_outbox(
            &first[0],
            OutboxResult::Done {
                platform_message_id: None,
            },
        )
        .await
        .unwrap();
    let third = store
        .lease_outbox_shared("n2", now, 30_000, 12, shares)
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].workspace_id, first[0].workspace_id);
    // Expired leases no longer count.
    let later = now.plus_millis(31_000);
    let fourth = store
        .lease_outbox_shared("n3", later, 30_000, 20, shares)
        .await
        .unwrap();
    assert_eq!(count(&fourth, a.ws), 4);
    assert_eq!(count(&fourth, b.ws), 4);
}

/// With `per_account` below `per_workspace`, one account of a workspace
/// cannot take the workspace's whole share: its second account gets the
/// rest, even though the first one's entries are older.
async fn fair_leases_hold_each_account_to_its_share_within_the_workspaces(store: Arc<SqlStore>) {
    let a = fixture(&store).await;
    let second = store
        .create_account(a.ws, a.channel, "acc-2", "Second")
        .await
        .unwrap()
        .id;
    let b = fixture(&store).await;
    // A's first account has the oldest entries of all.
    queue_replies_on(&store, &a, "acc-1", "a1", 6).await;
    queue_replies_on(&store, &a, "acc-2", "a2", 6).await;
    queue_replies_on(&store, &b, "acc-1", "b1", 6).await;
    let shares = imhub_store::LeaseShares {
        per_workspace: 4,
        per_account: 2,
        reserve: 0,
    };
    // Leases of A's first account, of A's second, and of B.
    let split = |jobs: &[imhub_store::OutboxJob]| {
        let of = |ws: WorkspaceId, in_second: bool| {
            jobs.iter()
                .filter(|j| j.workspace_id == ws && (j.account_id == second) == in_second)
                .count()
        };
        (of(a.ws, false), of(a.ws, true), of(b.ws, false))
    };
    let now = Timestamp::now();
    let first = store
        .lease_outbox_shared("n1", now, 30_000, 20, shares)
        .await
        .unwrap();
    // Each account its share; A's second account gets the rest of A's
    // share; B, with one account, its account's share.
    assert_eq!(split(&first), (2, 2, 2));
    assert_eq!(first.len(), 6, "nothing else was leased");
    // Across calls and nodes the leases in force count.
    let more = store
        .lease_outbox_shared("n2", now, 30_000, 20, shares)
        .await
        .unwrap();
    assert!(more.is_empty(), "{} more leased", more.len());
    // One of A's first account finishes: one more of that account may go,
    // none of the other account (it holds its share).
    let done = first
        .iter()
        .find(|j| j.workspace_id == a.ws && j.account_id != second)
        .unwrap();
    store
        .complete_outbox(
            done,
            OutboxResult::Done {
                platform_message_id: None,
            },
        )
        .await
        .unwrap();
    let third = store
        .lease_outbox_shared("n2", now, 30_000, 20, shares)
        .await
        .unwrap();
    assert_eq!(split(&third), (1, 0, 0));
    // Expired leases free every share.
    let later = now.plus_millis(31_000);
    let fourth = store
        .lease_outbox_shared("n3", later, 30_000, 20, shares)
        .await
        .unwrap();
    assert_eq!(split(&fourth), (2, 2, 2));
}

/// Webhook deliveries that ended (delivered or failed) are pruned after
/// their age, pending ones never; expired sessions go, live ones stay;
/// Douyin OAuth states go after their age, other channel state stays; a
/// policy of `None` everywhere (`0` in the configuration) keeps all.
async fn retention_prunes_ended_webhook_deliveries_expired_sessions_and_oauth_states(
    store: Arc<SqlStore>,
) {
    const DAY: i64 = 86_400_000;
    let f = fixture(&store).await;
    let hook = store
        .create_webhook(
            f.ws,
            "https://hooks.example.invalid/h",
            "whsec",
            &["*".into()],
        )
        .await
        .unwrap();
    for n in 0..3 {
        let key = format!("hooked-{n}");
        store
            .record_push(
                f.ws,
                push(
                    &f,
                    Some(&key),
                    vec![text_message("acc-1", &key, &key, "x", 1000)],
                ),
            )
            .await
            .unwrap();
    }
    let deliveries = store
        .list_webhook_deliveries(f.ws, hook.id, 100)
        .await
        .unwrap();
    assert!(deliveries.len() >= 3, "{deliveries:?}");
    let now = Timestamp::now();
    let jobs = store
        .lease_webhook_deliveries(now, 30_000, 100)
        .await
        .unwrap();
    assert_eq!(jobs.len(), deliveries.len());
    // One delivered, one given up, the others still pending (retry later).
    store
        .complete_webhook_delivery(
            jobs[0].id,
            imhub_store::WebhookOutcome::Delivered { status: 200 },
        )
        .await
        .unwrap();
    store
        .complete_webhook_delivery(
            jobs[1].id,
            imhub_store::WebhookOutcome::GaveUp {
                status: Some(500),
                error: "http_500".into(),
            },
        )
        .await
        .unwrap();
    for job in &jobs[2..] {
        store
            .complete_webhook_delivery(
                job.id,
                imhub_store::WebhookOutcome::Retry {
                    at: now.plus_millis(60_000),
                    status: Some(503),
                    error: "http_503".into(),
                },
            )
            .await
            .unwrap();
    }
    let pending = jobs.len() - 2;
    // Sessions: one live, one expired (a new session sweeps its user's
    // expired ones, so the expired one comes last).
    let user = store
        .create_user(f.ws, "ann@shop.cn", "Ann", Role::Agent, "hash")
        .await
        .unwrap();
    store
        .create_session(&user, "live-hash", now.plus_millis(400 * DAY))
        .await
        .unwrap();
    store
        .create_session(&user, "expired-hash", now.plus_millis(-1_000))
        .await
        .unwrap();
    // OAuth states of the QR flow, and a token that is not one.
    store
        .put_channel_state(f.channel, "douyin.oauth_state.abc", "{}")
        .await
        .unwrap();
    store
        .put_channel_state(f.channel, "douyin.token.acc-1", "{}")
        .await
        .unwrap();

    // `0` in the configuration: nothing of these kinds is ever pruned, not
    // even a year on; only sessions past their expiry go (they are dead).
    let forever = imhub_store::RetentionPolicy {
        raw_bodies_ms: None,
        webhook_deliveries_ms: None,
        idempotency_keys_ms: None,
        oauth_states_ms: None,
    };
    let year_on = now.plus_millis(365 * DAY);
    let pruned = store.prune(forever, now, 100).await.unwrap();
    assert_eq!(
        (
            pruned.webhook_deliveries,
            pruned.oauth_states,
            pruned.raw_bodies
        ),
        (0, 0, 0),
        "{pruned:?}"
    );
    assert_eq!(pruned.sessions, 1, "the expired session");
    let pruned = store.prune(forever, year_on, 100).await.unwrap();
    assert_eq!(
        (
            pruned.webhook_deliveries,
            pruned.oauth_states,
            pruned.raw_bodies,
            pruned.idempotency_keys
        ),
        (0, 0, 0, 0),
        "{pruned:?}"
    );
    assert_eq!(
        store
            .list_webhook_deliveries(f.ws, hook.id, 100)
            .await
            .unwrap()
            .len(),
        jobs.len()
    );
    assert!(
        store
            .get_channel_state(f.channel, "douyin.oauth_state.abc")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_session("live-hash", now)
            .await
            .unwrap()
            .is_some()
    );

    let policy = imhub_store::RetentionPolicy {
        raw_bodies_ms: None,
        webhook_deliveries_ms: Some(30 * DAY),
        idempotency_keys_ms: None,
        oauth_states_ms: Some(DAY),
    };
    // Younger than the ages: nothing goes.
    let pruned = store.prune(policy, now, 100).await.unwrap();
    assert_eq!(pruned.total(), 0, "{pruned:?}");
    // Past them: the delivered and the failed delivery, and the OAuth state.
    let pruned = store
        .prune(policy, now.plus_millis(31 * DAY), 100)
        .await
        .unwrap();
    assert_eq!(pruned.webhook_deliveries, 2, "{pruned:?}");
    assert_eq!(pruned.oauth_states, 1, "{pruned:?}");
    let left = store
        .list_webhook_deliveries(f.ws, hook.id, 100)
        .await
        .unwrap();
    assert_eq!(left.len(), pending, "{left:?}");
    assert!(
        left.iter().all(|d| d.status == "pending"),
        "pending deliveries are never pruned: {left:?}"
    );
    assert!(
        store
            .get_channel_state(f.channel, "douyin.oauth_state.abc")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_channel_state(f.channel, "douyin.token.acc-1")
            .await
            .unwrap()
            .is_some(),
        "only OAuth states are pruned from channel state"
    );
    // Sessions are pruned by their own expiry, not by a policy age.
    assert!(
        store
            .find_session("live-hash", now)
            .await
            .unwrap()
            .is_some()
    );
    let pruned = store
        .prune(policy, now.plus_millis(31 * DAY), 100)
        .await
        .unwrap();
    assert_eq!(pruned.total(), 0, "a second pass finds nothing: {pruned:?}");
}

/// On PostgreSQL one node at a time prunes: while another connection holds
/// the pruning lock, a pass does nothing and says so; once it is released,
/// the next pass prunes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_on_one_postgres_node_at_a_time() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    let store = Arc::new(
        SqlStore::open(StoreOptions::new(url.clone()))
            .await
            .unwrap(),
    );
    let f = fixture(&store).await;
    let user = store
        .create_user(f.ws, "ann@shop.cn", "Ann", Role::Agent, "hash")
        .await
        .unwrap();
    let now = Timestamp::now();
    store
        .create_session(&user, "expired-hash", now.plus_millis(-1_000))
        .await
        .unwrap();
    // Another node: a connection of its own holding the lock (the sync
    // client runs its own runtime, so it lives on a thread of its own).
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        client
            .batch_execute("SELECT pg_advisory_lock(7262)")
            .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        client
            .batch_execute("SELECT pg_advisory_unlock(7262)")
            .unwrap();
    });
    locked_rx.recv().unwrap();
    let policy = imhub_store::RetentionPolicy {
        raw_bodies_ms: Some(1),
        webhook_deliveries_ms: Some(1),
        idempotency_keys_ms: Some(1),
        oauth_states_ms: Some(1),
    };
    let pruned = store.prune(policy, now, 100).await.unwrap();
    assert!(pruned.locked_out, "{pruned:?}");
    assert_eq!(pruned.total(), 0, "nothing pruned while locked out");
    release_tx.send(()).unwrap();
    other.join().unwrap();
    let pruned = store.prune(policy, now, 100).await.unwrap();
    assert!(!pruned.locked_out, "{pruned:?}");
    assert_eq!(pruned.sessions, 1, "{pruned:?}");
    // SQLite has one writer: no lock to be out of.
    let sqlite = sqlite_store().await;
    assert!(!sqlite.prune(policy, now, 100).await.unwrap().locked_out);
}

async fn raw_body_of(store: &SqlStore, key: &str) -> (Vec<u8>, bool, String) {
    let key = key.to_string();
    store
        .read_raw(move |db| {
            let row = db.query_one(
                "SELECT body, request, status FROM raw_events WHERE event_key = $1",
                &[key.into()],
            )?;
            Ok((row.blob(0)?, row.opt_text(1)?.is_some(), row.text(2)?))
        })
        .await
        .unwrap()
}

async fn retention_prunes_old_records_in_batches_and_keeps_recent_ones(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let now = Timestamp::now();
    const DAY: i64 = 86_400_000;
    for (key, age_days) in [("old-1", 40), ("old-2", 35), ("recent", 1)] {
        let mut record = push(
            &f,
            Some(key),
            vec![text_message("acc-1", key, key, "x", 1000)],
        );
        record.received_at = now.plus_millis(-age_days * DAY);
        record.request = Some(serde_json::json!({"headers": {"x-secret-ish": "v"}}));
        store.record_push(f.ws, record).await.unwrap();
    }
    store
        .enqueue_message(f.ws, reply(c, "hello", Some("k-old")))
        .await
        .unwrap();
    let policy = imhub_store::RetentionPolicy {
        raw_bodies_ms: Some(30 * DAY),
        webhook_deliveries_ms: Some(30 * DAY),
        idempotency_keys_ms: Some(2 * DAY),
        oauth_states_ms: Some(DAY),
    };
    // A batch of one prunes one old body at a time.
    let first = store.prune(policy, now, 1).await.unwrap();
    assert_eq!(first.raw_bodies, 1);
    assert_eq!(first.idempotency_keys, 0, "the key is minutes old");
    let second = store.prune(policy, now, 1).await.unwrap();
    assert_eq!(second.raw_bodies, 1);
    assert_eq!(store.prune(policy, now, 1).await.unwrap().raw_bodies, 0);
    for key in ["old-1", "old-2"] {
        let (body, request, status) = raw_body_of(&store, key).await;
        assert!(
            body.is_empty() && !request,
            "{key} keeps no body or headers"
        );
        assert_eq!(status, "processed", "{key} keeps its row and status");
    }
    let (body, request, _) = raw_body_of(&store, "recent").await;
    assert!(!body.is_empty() && request, "a recent push keeps its body");
    // Messages are never pruned.
    let list = store.list_conversations(f.ws, all()).await.unwrap();
    assert!(list.iter().any(|c| c.title == "nick-old-1"));
    // Two days on, the idempotency key is gone: the same key is new again.
    let later = now.plus_millis(2 * DAY + 60_000);
    let pruned = store.prune(policy, later, 100).await.unwrap();
    assert_eq!(pruned.idempotency_keys, 1);
    let again = store
        .enqueue_message(f.ws, reply(c, "another text", Some("k-old")))
        .await
        .unwrap();
    assert!(!again.replayed);
}

async fn media_quota_refuses_the_upload_that_would_pass_it(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let other = fixture(&store).await;
    store
        .put_media(f.ws, "m1", "image/png", vec![0; 600], Some(1_000))
        .await
        .unwrap();
    let refused = store
        .put_media(f.ws, "m2", "image/png", vec![0; 500], Some(1_000))
        .await;
    assert!(
        matches!(refused, Err(StoreError::QuotaExceeded(_))),
        "{refused:?}"
    );
    assert!(matches!(
        store.get_media("m2").await,
        Err(StoreError::NotFound)
    ));
    store
        .put_media(f.ws, "m3", "image/png", vec![0; 400], Some(1_000))
        .await
        .unwrap();
    assert_eq!(store.media_usage(f.ws).await.unwrap(), 1_000);
    // Another workspace has a quota of its own.
    store
        .put_media(other.ws, "m4", "image/png", vec![0; 900], Some(1_000))
        .await
        .unwrap();
    // No quota, no limit.
    store
        .put_media(f.ws, "m5", "image/png", vec![0; 5_000], None)
        .await
        .unwrap();
}

// ---------- secrets at rest (both backends, read raw) ----------

/// Every secret the store keeps, one of each kind: a channel of every
/// platform with its secret fields, Douyin tokens in channel state, and an
/// outgoing webhook's signing secret. Each is distinct so a leak names itself.
const DOUYIN_SECRETS: [(&str, &str); 2] = [
    ("client_secret", "dy-client-secret-5a1f"),
    ("webhook_secret", "dy-webhook-secret-77c2"),
];
const TENCENT_SECRETS: [(&str, &str); 3] = [
    ("key", "tc-usersig-key-90ab"),
    ("secret_key", "tc-secret-key-13f8"),
    ("callback_token", "tc-callback-token-4e6d"),
];
const MEITUAN_SECRETS: [(&str, &str); 2] = [
    ("app_secret", "mt-app-secret-c3d9"),
    ("access_token", "mt-access-token-0b7e"),
];
const CUSTOM_SECRETS: [(&str, &str); 1] = [("secret", "custom-hmac-secret-61aa")];
const DOUYIN_ACCESS_TOKEN: &str = "act.dy-access-token-8d21";
const DOUYIN_REFRESH_TOKEN: &str = "rft.dy-refresh-token-f4c0";
const DOUYIN_CLIENT_TOKEN: &str = "clt.dy-client-token-2b95";
const WEBHOOK_SECRET: &str = "whsec-outgoing-3e7a";

fn every_secret() -> Vec<&'static str> {
    let mut all: Vec<&str> = DOUYIN_SECRETS
        .iter()
        .chain(&TENCENT_SECRETS)
        .chain(&MEITUAN_SECRETS)
        .chain(&CUSTOM_SECRETS)
        .map(|(_, v)| *v)
        .collect();
    all.extend([
        DOUYIN_ACCESS_TOKEN,
        DOUYIN_REFRESH_TOKEN,
        DOUYIN_CLIENT_TOKEN,
        WEBHOOK_SECRET,
    ]);
    all
}

fn config_of(fields: &[(&str, &str)]) -> serde_json::Value {
    let mut config = serde_json::json!({"app_id": "app-1"});
    for (k, v) in fields {
        config[*k] = serde_json::Value::String((*v).to_string());
    }
    config
}

/// Writes one of every secret through the store; returns the channels.
async fn store_every_secret(store: &SqlStore) -> (WorkspaceId, Vec<ChannelId>) {
    let ws = store.create_workspace("secrets").await.unwrap().id;
    let mut channels = Vec::new();
    for (platform, fields) in [
        (Platform::Douyin, &DOUYIN_SECRETS[..]),
        (Platform::Tencent, &TENCENT_SECRETS[..]),
        (Platform::Meituan, &MEITUAN_SECRETS[..]),
        (Platform::Custom, &CUSTOM_SECRETS[..]),
    ] {
        let channel = store
            .create_channel(ws, platform, platform.as_str(), &config_of(fields))
            .await
            .unwrap();
        channels.push(channel.id);
    }
    let douyin = channels[0];
    let tokens = serde_json::json!({
        "open_id": "open-1",
        "access_token": DOUYIN_ACCESS_TOKEN,
        "refresh_token": DOUYIN_REFRESH_TOKEN,
    });
    store
        .put_channel_state(douyin, "douyin.user_tokens.open-1", &tokens.to_string())
        .await
        .unwrap();
    store
        .put_channel_state(
            douyin,
            "douyin.client_token",
            &serde_json::json!({"access_token": DOUYIN_CLIENT_TOKEN}).to_string(),
        )
        .await
        .unwrap();
    store
        .create_webhook(ws, "https://example.com/hook", WEBHOOK_SECRET, &[])
        .await
        .unwrap();
    (ws, channels)
}

/// Every value of every table, as the database holds it, read with the
/// backend's own client (not through the store); with `files`, for SQLite,
/// also the bytes of the database and WAL files themselves.
fn raw_dump(url: &str, files: bool) -> String {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut out = String::new();
        if let Some(path) = url.strip_prefix("sqlite://") {
            let conn = rusqlite::Connection::open(path).unwrap();
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for table in tables {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
                let width = stmt.column_count();
                let mut rows = stmt.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    for i in 0..width {
                        use rusqlite::types::ValueRef;
                        match row.get_ref(i).unwrap() {
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                out.push_str(&String::from_utf8_lossy(t));
                            }
                            other => out.push_str(&format!("{other:?}")),
                        }
                        out.push('\n');
                    }
                }
            }
            for file in [path.to_string(), format!("{path}-wal")] {
                if let (true, Ok(bytes)) = (files, std::fs::read(&file)) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        } else {
            let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
            let tables: Vec<String> = client
                .query(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            for table in tables {
                for row in client
                    .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                    .unwrap()
                {
                    out.push_str(&row.get::<_, String>(0));
                    out.push('\n');
                }
            }
        }
        out
    })
    .join()
    .unwrap()
}

/// Runs raw SQL on the database, beside the store (for setting up rows as
/// an older imhub wrote them, or tampering).
fn raw_execute(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        if let Some(path) = url.strip_prefix("sqlite://") {
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(&sql)
                .unwrap();
        } else {
            ::postgres::Client::connect(&url, ::postgres::NoTls)
                .unwrap()
                .batch_execute(&sql)
                .unwrap();
        }
    })
    .join()
    .unwrap();
}

fn options(url: &str, key: &SecretKey, old: &[&SecretKey]) -> StoreOptions {
    let mut options = StoreOptions::new(url);
    options.secret_key = Some(key.clone());
    options.old_secret_keys = old.iter().map(|k| (*k).clone()).collect();
    options
}

async fn secrets_database(postgres: bool) -> Option<String> {
    if postgres {
        tokio::task::spawn_blocking(testing::postgres_database)
            .await
            .unwrap()
    } else {
        Some(testing::sqlite_database())
    }
}

macro_rules! secrets_conformance {
    ($($name:ident),* $(,)?) => {
        mod secrets_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let url = super::secrets_database(false).await.unwrap();
                super::$name(url).await
            })*
        }
        mod secrets_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = super::secrets_database(true).await else { return };
                super::$name(url).await
            })*
        }
    };
}

secrets_conformance!(
    no_stored_secret_is_in_the_database_in_clear,
    rows_written_before_encryption_are_sealed_at_open_and_a_second_open_changes_nothing,
    rotation_moves_every_secret_to_the_new_key,
    a_secret_copied_into_another_row_does_not_decrypt,
);

use imhub_store::SecretKey;

async fn no_stored_secret_is_in_the_database_in_clear(url: String) {
    let key = SecretKey::generate();
    let store = SqlStore::open(options(&url, &key, &[])).await.unwrap();
    let (ws, channels) = store_every_secret(&store).await;
    // Callers still see plaintext.
    let douyin = store.get_channel(ws, channels[0]).await.unwrap();
    assert_eq!(douyin.config["client_secret"], DOUYIN_SECRETS[0].1);
    let listed = store.list_channels(ws).await.unwrap();
    assert_eq!(listed[1].config["secret_key"], TENCENT_SECRETS[1].1);
    let found = store.find_channel(channels[3]).await.unwrap().unwrap();
    assert_eq!(found.config["secret"], CUSTOM_SECRETS[0].1);
    let tokens = store
        .get_channel_state(channels[0], "douyin.user_tokens.open-1")
        .await
        .unwrap()
        .unwrap();
    assert!(tokens.contains(DOUYIN_REFRESH_TOKEN));
    // A delivery leased for the subscription carries its secret in clear.
    let account = store
        .create_account(ws, channels[3], "acc-1", "Main")
        .await
        .unwrap();
    let f = Fixture {
        ws,
        channel: account.channel_id,
    };
    store
        .record_push(
            ws,
            push(
                &f,
                None,
                vec![text_message("acc-1", "c1", "m1", "hi", 1_000)],
            ),
        )
        .await
        .unwrap();
    let jobs = store
        .lease_webhook_deliveries(Timestamp(i64::MAX / 2), 60_000, 10)
        .await
        .unwrap();
    assert!(!jobs.is_empty());
    assert!(jobs.iter().all(|j| j.secret == WEBHOOK_SECRET));
    drop(store);

    let raw = raw_dump(&url, true);
    assert!(raw.contains("enc:v1:"), "nothing encrypted in the dump");
    for secret in every_secret() {
        assert!(!raw.contains(secret), "{secret} is stored in clear");
    }
}

async fn rows_written_before_encryption_are_sealed_at_open_and_a_second_open_changes_nothing(
    url: String,
) {
    let key = SecretKey::generate();
    // A store of today creates the schema and a workspace; then the rows
    // are written as an imhub before encryption wrote them.
    let store = SqlStore::open(options(&url, &key, &[])).await.unwrap();
    let ws = store.create_workspace("old").await.unwrap().id;
    drop(store);
    raw_execute(
        &url,
        &format!(
            "INSERT INTO channels (id, workspace_id, platform, name, config, created_at) \
             VALUES (900, {ws}, 'custom', 'old', '{{\"secret\":\"{secret}\"}}', 1);
             INSERT INTO channel_state (channel_id, key, value, updated_at) \
             VALUES (900, 'douyin.client_token', '{{\"access_token\":\"{token}\"}}', 1);
             INSERT INTO webhook_subscriptions (id, workspace_id, url, secret, event_types, \
             active, created_at) VALUES (900, {ws}, 'https://example.com/h', '{hook}', '*', 1, 1);",
            ws = ws.0,
            secret = CUSTOM_SECRETS[0].1,
            token = DOUYIN_CLIENT_TOKEN,
            hook = WEBHOOK_SECRET,
        ),
    );
    let store = SqlStore::open(options(&url, &key, &[])).await.unwrap();
    assert_eq!(store.resealed().encrypted, 3);
    assert_eq!(store.resealed().rotated, 0);
    let channel = store.get_channel(ws, ChannelId(900)).await.unwrap();
    assert_eq!(channel.config["secret"], CUSTOM_SECRETS[0].1);
    let state = store
        .get_channel_state(ChannelId(900), "douyin.client_token")
        .await
        .unwrap()
        .unwrap();
    assert!(state.contains(DOUYIN_CLIENT_TOKEN));
    drop(store);
    let raw = raw_dump_rows(&url);
    for secret in [CUSTOM_SECRETS[0].1, DOUYIN_CLIENT_TOKEN, WEBHOOK_SECRET] {
        assert!(!raw.contains(secret), "{secret} is still in clear");
    }
    // Encrypted values are recognised by their prefix: nothing changes.
    let store = SqlStore::open(options(&url, &key, &[])).await.unwrap();
    assert_eq!(store.resealed(), imhub_store::Resealed::default());
    assert_eq!(raw_dump_rows(&url), raw);
}

/// The rows only: freed pages of a SQLite file may still hold what a
/// rewrite overwrote (until `VACUUM`).
fn raw_dump_rows(url: &str) -> String {
    raw_dump(url, false)
}

async fn rotation_moves_every_secret_to_the_new_key(url: String) {
    let (old, new) = (SecretKey::generate(), SecretKey::generate());
    let store = SqlStore::open(options(&url, &old, &[])).await.unwrap();
    let (ws, channels) = store_every_secret(&store).await;
    drop(store);
    // Before the rotation the new key alone is refused at open, naming the
    // key id the database needs.
    let err = SqlStore::open(options(&url, &new, &[]))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Secrets(m) if m.contains(old.id())),
        "{err}"
    );
    let store = SqlStore::open(options(&url, &new, &[&old])).await.unwrap();
    // 4 channels, 2 state values, 1 webhook.
    assert_eq!(store.resealed().rotated, 7);
    drop(store);
    let raw = raw_dump_rows(&url);
    assert!(!raw.contains(&format!("enc:v1:{}:", old.id())));
    assert!(raw.contains(&format!("enc:v1:{}:", new.id())));
    // After it the old key alone is refused, and the new one is enough.
    let err = SqlStore::open(options(&url, &old, &[]))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Secrets(_)), "{err}");
    let store = SqlStore::open(options(&url, &new, &[])).await.unwrap();
    assert_eq!(store.resealed(), imhub_store::Resealed::default());
    let tencent = store.get_channel(ws, channels[1]).await.unwrap();
    assert_eq!(tencent.config["callback_token"], TENCENT_SECRETS[2].1);
}

async fn a_secret_copied_into_another_row_does_not_decrypt(url: String) {
    let key = SecretKey::generate();
    let store = SqlStore::open(options(&url, &key, &[])).await.unwrap();
    let (ws, channels) = store_every_secret(&store).await;
    drop(store);
    // Give the custom channel the Douyin channel's sealed configuration.
    raw_execute(
        &url,
        &format!(
            "UPDATE channels SET config = (SELECT config FROM channels WHERE id = {from}) \
             WHERE id = {to}",
            from = channels[0].0,
            to = channels[3].0
        ),
    );
    let store = SqlStore::open(options(&url, &key, &[])).await.unwrap();
    let err = store.get_channel(ws, channels[3]).await.err().unwrap();
    assert!(matches!(err, StoreError::Secrets(_)), "{err}");
    assert!(store.list_channels(ws).await.is_err());
    // The row the value belongs to still reads.
    let douyin = store.get_channel(ws, channels[0]).await.unwrap();
    assert_eq!(douyin.config["webhook_secret"], DOUYIN_SECRETS[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_without_a_key_creates_one_beside_the_database_and_keeps_it() {
    let url = testing::sqlite_database();
    let path = std::path::PathBuf::from(url.strip_prefix("sqlite://").unwrap());
    let key_path = imhub_store::secrets::default_key_path(&path);
    assert!(!key_path.exists());
    let store = SqlStore::open(StoreOptions::new(&url)).await.unwrap();
    let first = store.secret_key_id().to_string();
    let (ws, channels) = store_every_secret(&store).await;
    drop(store);
    assert!(key_path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is readable by others");
    }
    assert_eq!(SecretKey::from_file(&key_path).unwrap().id(), first);
    let store = SqlStore::open(StoreOptions::new(&url)).await.unwrap();
    assert_eq!(store.secret_key_id(), first);
    let meituan = store.get_channel(ws, channels[2]).await.unwrap();
    assert_eq!(meituan.config["access_token"], MEITUAN_SECRETS[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_without_a_key_refuses_to_open() {
    let Some(url) = tokio::task::spawn_blocking(testing::postgres_database)
        .await
        .unwrap()
    else {
        return;
    };
    // The same database under a URL the test helper did not hand out, so
    // its automatic test key does not apply: as a real deployment.
    let err = SqlStore::open(StoreOptions::new(format!("{url}?sslmode=disable")))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, StoreError::Secrets(m) if m.contains("IMHUB_SECRET_KEY")),
        "{err}"
    );
}

// ---------- PostgreSQL TLS ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_against_a_server_without_tls_fails_clearly() {
    let Some(url) = tokio::task::spawn_blocking(testing::postgres_database)
        .await
        .unwrap()
    else {
        return;
    };
    let key = SecretKey::generate();
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = SqlStore::open(options(&format!("{url}?sslmode={mode}"), &key, &[]))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("TLS") && err.contains("cannot connect to PostgreSQL"),
            "{mode}: {err}"
        );
        assert!(
            !err.contains("postgres://"),
            "the URL is in the error: {err}"
        );
    }
    // `disable`, `prefer` (falls back when the server offers no TLS) and no
    // sslmode at all connect.
    for suffix in ["?sslmode=disable", "?sslmode=prefer", ""] {
        let store = SqlStore::open(options(&format!("{url}{suffix}"), &key, &[]))
            .await
            .unwrap_or_else(|e| panic!("{suffix}: {e}"));
        store.create_workspace("tls").await.unwrap();
    }
}

#[tokio::test]
async fn bad_tls_settings_are_refused_before_connecting() {
    let key = SecretKey::generate();
    for (url, expect) in [
        (
            "postgres://u@127.0.0.1:1/db?sslmode=sometimes",
            "not supported",
        ),
        (
            "postgres://u@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nonexistent/root.pem",
            "cannot read sslrootcert",
        ),
    ] {
        let err = SqlStore::open(options(url, &key, &[])).await.err().unwrap();
        assert!(
            matches!(&err, StoreError::Tls(m) if m.contains(expect)),
            "{url}: {err}"
        );
    }
}

/// Users, API tokens and sessions (issue 10 §3).
mod credentials {
    use imhub_core::UserId;

    use super::*;

    conformance!(
        emails_are_unique_per_workspace_not_across_the_server,
        expired_and_revoked_tokens_are_refused,
        tokens_are_listed_without_their_secret_and_only_in_their_workspace,
        disabling_a_user_ends_their_sessions_and_enabling_allows_new_ones,
        a_new_password_ends_every_session_but_the_kept_one,
        deleting_a_user_ends_their_sessions,
        signing_out_everywhere_ends_every_session_of_that_user_only,
    );

    async fn user(store: &SqlStore, ws: WorkspaceId, email: &str) -> imhub_store::StoredUser {
        store
            .create_user(ws, email, "Ann", Role::Agent, "hash")
            .await
            .unwrap()
    }

    async fn session(store: &SqlStore, user: &imhub_store::StoredUser, hash: &str) {
        store
            .create_session(user, hash, Timestamp::now().plus_millis(60_000))
            .await
            .unwrap();
    }

    async fn live(store: &SqlStore, hash: &str) -> bool {
        store
            .find_session(hash, Timestamp::now())
            .await
            .unwrap()
            .is_some()
    }

    async fn emails_are_unique_per_workspace_not_across_the_server(store: Arc<SqlStore>) {
        let a = store.create_workspace("a").await.unwrap().id;
        let b = store.create_workspace("b").await.unwrap().id;
        let in_a = user(&store, a, "Ann@Shop.cn").await;
        assert_eq!(in_a.email, "ann@shop.cn");
        let in_b = user(&store, b, "ann@shop.cn").await;
        assert_ne!(in_a.id, in_b.id);
        assert!(matches!(
            store
                .create_user(a, " ANN@shop.cn ", "x", Role::Agent, "h")
                .await,
            Err(StoreError::Conflict(_))
        ));
        let both = store.find_login_users("ann@SHOP.cn", None).await.unwrap();
        assert_eq!(
            both.iter().map(|u| u.workspace_id).collect::<Vec<_>>(),
            vec![a, b]
        );
        let only_b = store
            .find_login_users("ann@shop.cn", Some(b))
            .await
            .unwrap();
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].id, in_b.id);
        assert!(
            store
                .find_login_users("nobody@shop.cn", None)
                .await
                .unwrap()
                .is_empty()
        );
        let c = store.create_workspace("c").await.unwrap().id;
        assert!(
            store
                .find_login_users("ann@shop.cn", Some(c))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.list_users(a).await.unwrap().len(), 1);
        assert!(store.list_users(c).await.unwrap().is_empty());
    }

    async fn expired_and_revoked_tokens_are_refused(store: Arc<SqlStore>) {
        let ws = store.create_workspace("a").await.unwrap().id;
        let now = Timestamp::now();
        let expired = store
            .create_api_token_expiring(
                ws,
                "old",
                Role::Admin,
                "h-old",
                Some(Timestamp(now.millis() - 1)),
            )
            .await
            .unwrap();
        assert_eq!(expired.expires_at, Some(Timestamp(now.millis() - 1)));
        assert_eq!(store.find_api_token("h-old").await.unwrap(), None);
        let fresh = store
            .create_api_token_expiring(
                ws,
                "new",
                Role::Agent,
                "h-new",
                Some(now.plus_millis(60_000)),
            )
            .await
            .unwrap();
        let forever = store
            .create_api_token_expiring(ws, "forever", Role::Admin, "h-forever", None)
            .await
            .unwrap();
        assert_eq!(
            store.find_api_token("h-new").await.unwrap().unwrap().role,
            Role::Agent
        );
        assert!(store.find_api_token("h-forever").await.unwrap().is_some());
        store.revoke_api_token(ws, fresh.id).await.unwrap();
        assert_eq!(store.find_api_token("h-new").await.unwrap(), None);
        assert_eq!(
            store.revoke_api_token(ws, fresh.id).await,
            Err(StoreError::NotFound)
        );
        let other = store.create_workspace("b").await.unwrap().id;
        assert_eq!(
            store.revoke_api_token(other, forever.id).await,
            Err(StoreError::NotFound)
        );
        assert!(store.find_api_token("h-forever").await.unwrap().is_some());
    }

    async fn tokens_are_listed_without_their_secret_and_only_in_their_workspace(
        store: Arc<SqlStore>,
    ) {
        let a = store.create_workspace("a").await.unwrap().id;
        let b = store.create_workspace("b").await.unwrap().id;
        store
            .create_api_token(a, "ci", Role::Admin, "h1")
            .await
            .unwrap();
        store
            .create_api_token_expiring(b, "other", Role::Agent, "h2", None)
            .await
            .unwrap();
        let listed = store.list_api_tokens(a).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].name.as_str(), listed[0].role),
            ("ci", Role::Admin)
        );
        assert_eq!(listed[0].last_used_at, None);
        let used = Timestamp::now();
        store.touch_api_token("h1", used).await.unwrap();
        assert_eq!(
            store.list_api_tokens(a).await.unwrap()[0].last_used_at,
            Some(used)
        );
        assert_eq!(
            store.list_api_tokens(b).await.unwrap()[0].last_used_at,
            None
        );
    }

    async fn disabling_a_user_ends_their_sessions_and_enabling_allows_new_ones(
        store: Arc<SqlStore>,
    ) {
        let ws = store.create_workspace("a").await.unwrap().id;
        let ann = user(&store, ws, "ann@shop.cn").await;
        session(&store, &ann, "s1").await;
        let (disabled, _) = store.set_user_disabled(ws, ann.id, true).await.unwrap();
        assert!(disabled.disabled_at.is_some());
        assert!(!live(&store, "s1").await);
        // A session written while disabled (a race with a login) is dead too.
        session(&store, &disabled, "s2").await;
        assert!(!live(&store, "s2").await);
        let (again, _) = store.set_user_disabled(ws, ann.id, true).await.unwrap();
        assert_eq!(again.disabled_at, disabled.disabled_at, "idempotent");
        let other = store.create_workspace("b").await.unwrap().id;
        assert_eq!(
            store
                .set_user_disabled(other, ann.id, false)
                .await
                .unwrap_err(),
            StoreError::NotFound
        );
        let (enabled, _) = store.set_user_disabled(ws, ann.id, false).await.unwrap();
        assert_eq!(enabled.disabled_at, None);
        session(&store, &enabled, "s3").await;
        assert!(live(&store, "s3").await);
    }

    async fn a_new_password_ends_every_session_but_the_kept_one(store: Arc<SqlStore>) {
        let ws = store.create_workspace("a").await.unwrap().id;
        let ann = user(&store, ws, "ann@shop.cn").await;
        let bob = user(&store, ws, "bob@shop.cn").await;
        for s in ["a1", "a2", "a3"] {
            session(&store, &ann, s).await;
        }
        session(&store, &bob, "b1").await;
        store
            .set_user_password(ws, ann.id, "new-hash", Some("a2"))
            .await
            .unwrap();
        assert!(!live(&store, "a1").await && !live(&store, "a3").await);
        assert!(live(&store, "a2").await && live(&store, "b1").await);
        assert_eq!(
            store.get_user(ws, ann.id).await.unwrap().password_hash,
            "new-hash"
        );
        store
            .set_user_password(ws, ann.id, "newer", None)
            .await
            .unwrap();
        assert!(!live(&store, "a2").await);
        let other = store.create_workspace("b").await.unwrap().id;
        assert_eq!(
            store.set_user_password(other, ann.id, "x", None).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.get_user(ws, ann.id).await.unwrap().password_hash,
            "newer"
        );
    }

    async fn deleting_a_user_ends_their_sessions(store: Arc<SqlStore>) {
        let ws = store.create_workspace("a").await.unwrap().id;
        let ann = user(&store, ws, "ann@shop.cn").await;
        session(&store, &ann, "s1").await;
        let other = store.create_workspace("b").await.unwrap().id;
        assert_eq!(
            store.delete_user(other, ann.id).await,
            Err(StoreError::NotFound)
        );
        assert!(live(&store, "s1").await);
        store.delete_user(ws, ann.id).await.unwrap();
        assert!(!live(&store, "s1").await);
        assert_eq!(
            store.get_user(ws, ann.id).await.unwrap_err(),
            StoreError::NotFound
        );
        assert_eq!(
            store.delete_user(ws, UserId(ann.id.0 + 1000)).await,
            Err(StoreError::NotFound)
        );
        // The email is free again in that workspace.
        user(&store, ws, "ann@shop.cn").await;
    }

    async fn signing_out_everywhere_ends_every_session_of_that_user_only(store: Arc<SqlStore>) {
        let ws = store.create_workspace("a").await.unwrap().id;
        let ann = user(&store, ws, "ann@shop.cn").await;
        let bob = user(&store, ws, "bob@shop.cn").await;
        session(&store, &ann, "a1").await;
        session(&store, &ann, "a2").await;
        session(&store, &bob, "b1").await;
        let other = store.create_workspace("b").await.unwrap().id;
        assert_eq!(store.end_user_sessions(other, ann.id).await.unwrap(), 0);
        assert_eq!(store.end_user_sessions(ws, ann.id).await.unwrap(), 2);
        assert!(!live(&store, "a1").await && !live(&store, "a2").await);
        assert!(live(&store, "b1").await);
    }
}

fn read_event(account: &str, contact: &str, up_to: Timestamp) -> InboundEvent {
    InboundEvent::Read {
        account: AccountRef {
            external_id: account.into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: contact.into(),
            nickname: None,
            avatar: None,
        }),
        up_to,
    }
}

async fn read_report_moves_only_sent_replies_up_to_its_time_to_read(store: Arc<SqlStore>) {
    let (f, c) = conversation_with_one_message(&store).await;
    let sent = store
        .enqueue_message(f.ws, reply(c, "a", None))
        .await
        .unwrap()
        .message;
    let job = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_outbox(
            &job,
            OutboxResult::Done {
                platform_message_id: Some("p1".into()),
            },
        )
        .await
        .unwrap();
    let failed = store
        .enqueue_message(f.ws, reply(c, "b", None))
        .await
        .unwrap()
        .message;
    let job = store
        .lease_outbox("n1", Timestamp::now(), 30_000, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_outbox(
            &job,
            OutboxResult::Failed {
                code: "x".into(),
                text: "y".into(),
            },
        )
        .await
        .unwrap();
    let queued = store
        .enqueue_message(f.ws, reply(c, "c", None))
        .await
        .unwrap()
        .message;
    let status = |id| {
        let store = Arc::clone(&store);
        async move { store.get_message(f.ws, id).await.unwrap().status }
    };

    // Bad input: a time before the reply, an unknown account, a customer
    // without a conversation: nothing changes and nothing is created.
    for (i, event) in [
        read_event("acc-1", "u1", Timestamp(1)),
        read_event("nope", "u1", Timestamp::now()),
        read_event("acc-1", "u9", Timestamp::now()),
    ]
    .into_iter()
    .enumerate()
    {
        let recorded = store
            .record_push(f.ws, push(&f, Some(&format!("bad-{i}")), vec![event]))
            .await
            .unwrap();
        assert!(recorded.changes.is_empty(), "{:?}", recorded.changes);
        assert!(
            recorded.unprocessable.is_empty(),
            "{:?}",
            recorded.unprocessable
        );
    }
    assert_eq!(status(sent.id).await, MessageStatus::Sent);
    assert_eq!(
        store.list_conversations(f.ws, all()).await.unwrap().len(),
        1
    );

    let later = Timestamp(Timestamp::now().millis() + 1000);
    let recorded = store
        .record_push(
            f.ws,
            push(&f, Some("read-1"), vec![read_event("acc-1", "u1", later)]),
        )
        .await
        .unwrap();
    assert_eq!(recorded.changes.len(), 1, "{:?}", recorded.changes);
    assert!(matches!(
        recorded.changes[0],
        imhub_store::Change::MessageUpdated { message_id, .. } if message_id == sent.id
    ));
    assert_eq!(status(sent.id).await, MessageStatus::Read);
    assert_eq!(status(failed.id).await, MessageStatus::Failed);
    assert_eq!(status(queued.id).await, MessageStatus::Queued);
    let inbound = store.list_messages(f.ws, c, None, 50).await.unwrap();
    assert!(
        inbound
            .iter()
            .filter(|m| m.direction == Direction::In)
            .all(|m| m.status == MessageStatus::Delivered)
    );
    // A second report changes nothing more (status moves forward only).
    let again = store
        .record_push(
            f.ws,
            push(&f, Some("read-2"), vec![read_event("acc-1", "u1", later)]),
        )
        .await
        .unwrap();
    assert!(again.changes.is_empty());
}

/// Whether the store's connections are encrypted, as the server sees it.
async fn connection_uses_tls(store: &SqlStore) -> bool {
    store
        .read_raw(|db| {
            db.query_one(
                "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl \
                 WHERE pid = pg_backend_pid()",
                &[],
            )?
            .int(0)
        })
        .await
        .unwrap()
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_are_encrypted_and_verified_as_sslmode_says() {
    // A self-signed certificate for a name that is not the address we dial,
    // so verify-ca (chain only) and verify-full (chain and name) differ.
    let cert = rcgen::generate_simple_self_signed(vec!["db.example.internal".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let Some(admin) =
        tokio::task::spawn_blocking(move || testing::postgres_tls_server(&cert_pem, &key_pem))
            .await
            .unwrap()
    else {
        return;
    };
    let root = std::env::temp_dir().join(format!("imhub-tls-root-{}.pem", std::process::id()));
    std::fs::write(&root, cert.cert.pem()).unwrap();
    let root = root.display().to_string();
    let key = SecretKey::generate();

    for (query, tls) in [
        ("sslmode=require".to_string(), true),
        (format!("sslmode=verify-ca&sslrootcert={root}"), true),
        // libpq's `require` with a root checks the chain, like verify-ca.
        (format!("sslmode=require&sslrootcert={root}"), true),
        ("sslmode=prefer".to_string(), true),
        ("sslmode=disable".to_string(), false),
    ] {
        let store = SqlStore::open(options(&format!("{admin}?{query}"), &key, &[]))
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(connection_uses_tls(&store).await, tls, "{query}");
        store.create_workspace("tls").await.unwrap();
    }
    for (query, expect) in [
        // The certificate names db.example.internal, not 127.0.0.1.
        (format!("sslmode=verify-full&sslrootcert={root}"), "TLS"),
        // Not signed by any public root.
        ("sslmode=verify-full".to_string(), "TLS"),
        ("sslmode=verify-ca".to_string(), "TLS"),
    ] {
        let err = SqlStore::open(options(&format!("{admin}?{query}"), &key, &[]))
            .await
            .err()
            .unwrap_or_else(|| panic!("{query} connected"))
            .to_string();
        assert!(
            err.contains(expect) && err.contains("certificate"),
            "{query}: {err}"
        );
    }
}

async fn a_workspace_alone_with_work_uses_every_slot_but_the_reserve(store: Arc<SqlStore>) {
    let (f, _) = conversation_with_one_message(&store).await;
    queue_replies_in_new_conversations(&store, &f, "alone", 12).await;
    let shares = imhub_store::LeaseShares {
        per_workspace: 4,
        per_account: 4,
        reserve: 2,
    };
    let jobs = store
        .lease_outbox_shared("n1", Timestamp::now(), 30_000, 10, shares)
        .await
        .unwrap();
    assert_eq!(
        jobs.len(),
        8,
        "no share applies to a workspace alone; the reserve stays free"
    );
}

/// `n` customers of `f` write in, and each gets a queued reply.
async fn queue_replies_in_new_conversations(store: &SqlStore, f: &Fixture, prefix: &str, n: usize) {
    for i in 0..n {
        let contact = format!("{prefix}-{i}");
        let recorded = store
            .record_push(
                f.ws,
                push(
                    f,
                    None,
                    vec![text_message("acc-1", &contact, &contact, "hi", 1000)],
                ),
            )
            .await
            .unwrap();
        let conversation = recorded
            .changes
            .iter()
            .find_map(|c| match c {
                imhub_store::Change::MessageCreated {
                    conversation_id, ..
                } => Some(*conversation_id),
                _ => None,
            })
            .unwrap();
        store
            .enqueue_message(f.ws, reply(conversation, "好的", None))
            .await
            .unwrap();
    }
}

/// `n` replies queued in new conversations of `account` of `f`.
async fn queue_replies_on(store: &SqlStore, f: &Fixture, account: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let contact = format!("{prefix}-{i}");
        let recorded = store
            .record_push(
                f.ws,
                push(
                    f,
                    None,
                    vec![text_message(account, &contact, &contact, "hi", 1000)],
                ),
            )
            .await
            .unwrap();
        let conversation = recorded
            .changes
            .iter()
            .find_map(|c| match c {
                imhub_store::Change::MessageCreated {
                    conversation_id, ..
                } => Some(*conversation_id),
                _ => None,
            })
            .unwrap();
        store
            .enqueue_message(f.ws, reply(conversation, "好的", None))
            .await
            .unwrap();
    }
}

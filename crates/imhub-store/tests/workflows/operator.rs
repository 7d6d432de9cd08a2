//! The operator's workspace controls in the store, identically on SQLite
//! and PostgreSQL: a suspended workspace holds its pushes (a replay of a
//! held push is a duplicate) and processes them in order on resume, sends
//! nothing meanwhile; quotas refuse channels, users and sends past them and
//! usage counts them; deleting a workspace leaves no row of it in any
//! table of the schema (read from the catalogue, so later tables count).

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, Direction, InboundEvent, InboundMessage,
    MessageStatus, Peer, Platform, Role, Timestamp, WorkspaceId,
};
use imhub_store::{
    NewOutbound, PushRecord, SqlStore, Store, StoreError, StoreOptions,
    operator::{self, QuotaDefaults, Quotas, WorkspaceStatus},
    testing,
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
    a_suspended_workspace_holds_pushes_and_processes_them_in_order_on_resume,
    a_suspended_workspace_sends_nothing_until_resumed,
    a_push_arriving_while_resuming_is_held_and_processed_before_active,
    pushes_during_a_resume_are_neither_lost_duplicated_nor_reordered,
    quotas_refuse_channels_and_users_past_them_and_usage_counts,
    messages_per_day_counts_sends_and_refuses_past_the_quota,
    deleting_a_workspace_leaves_no_row_of_it_in_any_table,
    operator_calls_on_unknown_workspaces_are_not_found,
);

#[derive(Clone, Copy)]
struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
}

async fn fixture(store: &SqlStore, name: &str) -> Fixture {
    let ws = store.create_workspace(name).await.unwrap();
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
        .create_account(ws.id, channel.id, "acc-1", "旗舰店")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
    }
}

fn push(f: &Fixture, key: &str, contact: &str, text: &str) -> PushRecord {
    PushRecord {
        channel_id: f.channel,
        event_key: Some(format!("e-{key}")),
        body: format!("{{\"k\":\"{key}\"}}").into_bytes(),
        received_at: Timestamp::now(),
        events: vec![InboundEvent::Message(InboundMessage {
            account: AccountRef {
                external_id: "acc-1".into(),
                name: None,
            },
            peer: Peer::Direct(ContactInfo {
                external_id: contact.into(),
                nickname: Some("张三".into()),
                avatar: None,
            }),
            direction: Direction::In,
            platform_message_id: format!("m-{key}"),
            content: Content::Text { text: text.into() },
            sent_at: Timestamp::now(),
            reply_context: None,
        })],
        request: None,
        create_unknown_accounts: false,
    }
}

/// Every message text of the workspace's conversations, oldest first.
async fn texts(store: &SqlStore, ws: WorkspaceId) -> Vec<String> {
    store
        .read_raw(move |db| {
            db.query(
                "SELECT content FROM messages WHERE workspace_id = $1 ORDER BY id",
                &[ws.0.into()],
            )?
            .iter()
            .map(|r| {
                let c: serde_json::Value = serde_json::from_str(&r.text(0)?)?;
                Ok(c["text"].as_str().unwrap_or_default().to_string())
            })
            .collect::<Result<Vec<_>, StoreError>>()
        })
        .await
        .unwrap()
}

/// Every conversation (one page).
fn all() -> imhub_store::ConversationFilter {
    imhub_store::ConversationFilter {
        limit: 50,
        ..Default::default()
    }
}

async fn resume(store: &SqlStore, ws: WorkspaceId) -> usize {
    store.begin_resume(ws).await.unwrap();
    let mut processed = 0;
    for _ in 0..100 {
        let drained = store.drain_held_pushes(ws, 2).await.unwrap();
        processed += drained.processed;
        if drained.active {
            return processed;
        }
    }
    panic!("the drain did not finish");
}

async fn status(store: &SqlStore, ws: WorkspaceId) -> WorkspaceStatus {
    store
        .operator_workspace(ws, Timestamp::now())
        .await
        .unwrap()
        .status
}

async fn a_suspended_workspace_holds_pushes_and_processes_them_in_order_on_resume(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store, "shop").await;
    store
        .suspend_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(status(&store, f.ws).await, WorkspaceStatus::Suspended);
    for (key, text) in [("1", "第一"), ("2", "第二"), ("3", "第三")] {
        let recorded = store
            .record_push(f.ws, push(&f, key, "c-1", text))
            .await
            .unwrap();
        assert!(
            !recorded.duplicate && recorded.changes.is_empty(),
            "{recorded:?}"
        );
    }
    // The platform retries the second push while it is held.
    let replay = store
        .record_push(f.ws, push(&f, "2", "c-1", "第二"))
        .await
        .unwrap();
    assert!(replay.duplicate, "a held push replayed is a duplicate");
    let held = store.list_raw_events(f.ws, "held", 10).await.unwrap();
    assert_eq!(held.len(), 3, "kept raw as held: {held:?}");
    assert!(
        texts(&store, f.ws).await.is_empty(),
        "nothing processed while suspended"
    );
    let summary = store
        .operator_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(summary.held_pushes, 3);

    assert_eq!(resume(&store, f.ws).await, 3);
    assert_eq!(status(&store, f.ws).await, WorkspaceStatus::Active);
    assert_eq!(
        texts(&store, f.ws).await,
        ["第一", "第二", "第三"],
        "in order, once each"
    );
    assert!(
        store
            .list_raw_events(f.ws, "held", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_raw_events(f.ws, "processed", 10)
            .await
            .unwrap()
            .len(),
        3
    );
    let conversations = store.list_conversations(f.ws, all()).await.unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].unread_count, 3);
    // Replays after the resume change nothing either.
    let replay = store
        .record_push(f.ws, push(&f, "3", "c-1", "第三"))
        .await
        .unwrap();
    assert!(replay.duplicate);
    let fresh = store
        .record_push(f.ws, push(&f, "4", "c-1", "第四"))
        .await
        .unwrap();
    assert!(
        !fresh.changes.is_empty(),
        "an active workspace processes at once"
    );
    assert_eq!(texts(&store, f.ws).await.len(), 4);
    assert_eq!(
        store
            .operator_workspace(f.ws, Timestamp::now())
            .await
            .unwrap()
            .held_pushes,
        0
    );
}

async fn a_suspended_workspace_sends_nothing_until_resumed(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let other = fixture(&store, "other").await;
    let mut conversations = Vec::new();
    for g in [&f, &other] {
        store
            .record_push(g.ws, push(g, "1", "c-1", "在吗"))
            .await
            .unwrap();
        let list = store.list_conversations(g.ws, all()).await.unwrap();
        conversations.push(list[0].id);
    }
    for (g, conversation) in [(&f, conversations[0]), (&other, conversations[1])] {
        store
            .enqueue_message(
                g.ws,
                NewOutbound {
                    conversation_id: conversation,
                    content: Content::Text {
                        text: "您好".into(),
                    },
                    idempotency_key: None,
                    request_hash: String::new(),
                    author_id: None,
                },
            )
            .await
            .unwrap();
    }
    store
        .suspend_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    let later = Timestamp(Timestamp::now().millis() + 1_000);
    let jobs = store.lease_outbox("n1", later, 60_000, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "only the active workspace's reply is leased");
    assert_eq!(jobs[0].workspace_id, other.ws);
    assert!(
        store
            .lease_outbox_shared("n1", later, 60_000, 10, imhub_store::LeaseShares::UNLIMITED)
            .await
            .unwrap()
            .is_empty()
    );
    let message = store
        .list_messages(f.ws, conversations[0], None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.direction == Direction::Out)
        .unwrap();
    assert_eq!(message.status, MessageStatus::Queued, "it waits, queued");
    assert_eq!(resume(&store, f.ws).await, 0);
    let jobs = store.lease_outbox("n1", later, 60_000, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "resumed: its reply goes out");
    assert_eq!(jobs[0].workspace_id, f.ws);
}

async fn a_push_arriving_while_resuming_is_held_and_processed_before_active(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    store
        .suspend_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    for key in ["1", "2", "3"] {
        store
            .record_push(f.ws, push(&f, key, "c-1", key))
            .await
            .unwrap();
    }
    store.begin_resume(f.ws).await.unwrap();
    let first = store.drain_held_pushes(f.ws, 2).await.unwrap();
    assert_eq!((first.processed, first.active), (2, false));
    assert_eq!(status(&store, f.ws).await, WorkspaceStatus::Resuming);
    // A push while resuming waits behind the held ones.
    let recorded = store
        .record_push(f.ws, push(&f, "4", "c-1", "4"))
        .await
        .unwrap();
    assert!(recorded.changes.is_empty(), "held while resuming");
    // Suspended again mid-drain: the drain stops.
    store
        .suspend_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    let stopped = store.drain_held_pushes(f.ws, 10).await.unwrap();
    assert_eq!((stopped.processed, stopped.active), (0, false));
    assert_eq!(resume(&store, f.ws).await, 2);
    assert_eq!(texts(&store, f.ws).await, ["1", "2", "3", "4"]);
    // A node that died mid-drain leaves the workspace resuming: it is listed.
    store
        .suspend_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    store.begin_resume(f.ws).await.unwrap();
    assert_eq!(store.resuming_workspaces().await.unwrap(), vec![f.ws]);
    assert!(store.drain_held_pushes(f.ws, 10).await.unwrap().active);
    assert!(store.resuming_workspaces().await.unwrap().is_empty());
}

async fn pushes_during_a_resume_are_neither_lost_duplicated_nor_reordered(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    store
        .suspend_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    let held: Vec<String> = (0..20).map(|n| format!("h{n:02}")).collect();
    for key in &held {
        store
            .record_push(f.ws, push(&f, key, "c-1", key))
            .await
            .unwrap();
    }
    // One platform keeps pushing (each push once, then a retry of it)
    // while the operator resumes.
    let pusher = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for n in 0..30 {
                let key = format!("p{n:02}");
                for _ in 0..2 {
                    store
                        .record_push(f.ws, push(&f, &key, "c-1", &key))
                        .await
                        .unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
        })
    };
    store.begin_resume(f.ws).await.unwrap();
    loop {
        let drained = store.drain_held_pushes(f.ws, 3).await.unwrap();
        if drained.active {
            break;
        }
    }
    pusher.await.unwrap();
    assert_eq!(status(&store, f.ws).await, WorkspaceStatus::Active);
    let summary = store
        .operator_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(summary.held_pushes, 0, "nothing left held");
    let expected: Vec<String> = held
        .iter()
        .cloned()
        .chain((0..30).map(|n| format!("p{n:02}")))
        .collect();
    assert_eq!(
        texts(&store, f.ws).await,
        expected,
        "each once, in the order sent"
    );
}

fn refused_code(e: StoreError) -> &'static str {
    match e {
        StoreError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn quotas_refuse_channels_and_users_past_them_and_usage_counts(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    store
        .set_quota_defaults(QuotaDefaults {
            channels: 2,
            agents: 0,
            messages_per_day: 0,
            media_bytes: 100,
        })
        .await
        .unwrap();
    let summary = store
        .operator_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(summary.quotas, Quotas::default(), "the defaults apply");
    assert_eq!(summary.effective.channels, 2);
    assert_eq!(summary.usage.channels, 1);
    let config = serde_json::json!({"secret": "s"});
    store
        .create_channel(f.ws, Platform::Custom, "second", &config)
        .await
        .unwrap();
    let third = store
        .create_channel(f.ws, Platform::Custom, "third", &config)
        .await
        .unwrap_err();
    assert_eq!(refused_code(third), "quota_exceeded");
    // A workspace's own quota overrides the default; 0 is no limit.
    store
        .set_workspace_quotas(
            f.ws,
            Quotas {
                channels: Some(0),
                agents: Some(1),
                ..Quotas::default()
            },
        )
        .await
        .unwrap();
    store
        .create_channel(f.ws, Platform::Custom, "third", &config)
        .await
        .unwrap();
    store
        .create_user(f.ws, "ann@shop.cn", "Ann", Role::Admin, "hash")
        .await
        .unwrap();
    let second = store
        .create_user(f.ws, "bob@shop.cn", "Bob", Role::Agent, "hash")
        .await
        .unwrap_err();
    assert_eq!(refused_code(second), "quota_exceeded");
    let other = fixture(&store, "other").await;
    store
        .create_user(other.ws, "bob@shop.cn", "Bob", Role::Agent, "hash")
        .await
        .expect("another workspace has its own count");
    store
        .put_media(f.ws, "k1", "image/png", vec![0; 40], Some(100))
        .await
        .unwrap();
    let summary = store
        .operator_workspace(f.ws, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        (
            summary.usage.channels,
            summary.usage.agents,
            summary.usage.media_bytes
        ),
        (3, 1, 40)
    );
    assert_eq!(summary.quotas.agents, Some(1));
    assert_eq!(summary.effective.media_bytes, 100, "media from the default");
    let listed = store.operator_workspaces(Timestamp::now()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].usage, summary.usage);
}

async fn messages_per_day_counts_sends_and_refuses_past_the_quota(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    store
        .record_push(f.ws, push(&f, "1", "c-1", "在吗"))
        .await
        .unwrap();
    let conversation = store.list_conversations(f.ws, all()).await.unwrap()[0].id;
    store
        .set_workspace_quotas(
            f.ws,
            Quotas {
                messages_per_day: Some(2),
                ..Quotas::default()
            },
        )
        .await
        .unwrap();
    let now = Timestamp::now();
    for text in ["一", "二"] {
        store.check_daily_sends(f.ws, now).await.unwrap();
        store
            .enqueue_message(
                f.ws,
                NewOutbound {
                    conversation_id: conversation,
                    content: Content::Text { text: text.into() },
                    idempotency_key: None,
                    request_hash: String::new(),
                    author_id: None,
                },
            )
            .await
            .unwrap();
    }
    let refused = store.check_daily_sends(f.ws, now).await.unwrap_err();
    assert_eq!(refused_code(refused), "quota_exceeded");
    let summary = store.operator_workspace(f.ws, now).await.unwrap();
    assert_eq!(
        summary.usage.messages_today, 2,
        "inbound messages do not count"
    );
    // The next UTC day starts from zero.
    let tomorrow = Timestamp(now.millis() + operator::DAY_MS);
    store.check_daily_sends(f.ws, tomorrow).await.unwrap();
    assert_eq!(
        store
            .operator_workspace(f.ws, tomorrow)
            .await
            .unwrap()
            .usage
            .messages_today,
        0
    );
}

/// Rows per table of the schema that belong to `ws` (workspace column, or
/// a parent's id for the tables listed in `SCOPED_BY_PARENT`).
async fn rows_of(store: &SqlStore, ws: WorkspaceId) -> Vec<(String, i64)> {
    store
        .read_raw(move |db| {
            let mut out = Vec::new();
            for (table, has_ws) in operator::catalogue(db)? {
                if operator::GLOBAL_TABLES.contains(&table.as_str()) {
                    continue;
                }
                let sql = if has_ws {
                    format!("SELECT COUNT(*) FROM {table} WHERE workspace_id = $1")
                } else {
                    let Some((_, column, parent)) = operator::SCOPED_BY_PARENT
                        .iter()
                        .find(|(t, _, _)| *t == table)
                    else {
                        panic!(
                            "table {table} has no workspace_id column and is not listed in \
                             imhub_store::operator::SCOPED_BY_PARENT or GLOBAL_TABLES: say how \
                             its rows belong to a workspace so deleting one removes them"
                        );
                    };
                    format!(
                        "SELECT COUNT(*) FROM {table} WHERE {column} IN \
                         (SELECT id FROM {parent} WHERE workspace_id = $1)"
                    )
                };
                out.push((table, db.query_one(&sql, &[ws.0.into()])?.int(0)?));
            }
            Ok(out)
        })
        .await
        .unwrap()
}

async fn deleting_a_workspace_leaves_no_row_of_it_in_any_table(store: Arc<SqlStore>) {
    let mut made = Vec::new();
    for name in ["doomed", "kept"] {
        let f = fixture(&store, name).await;
        // Much of what a workspace has: customers, leads (a phone), replies,
        // users and sessions, tokens, labels, webhooks, alerts, uploads,
        // channel state, a held push.
        store
            .record_push(f.ws, push(&f, "1", "c-1", "电话13800138000"))
            .await
            .unwrap();
        store
            .record_push(f.ws, push(&f, "2", "c-2", "电话13800138000 我也要"))
            .await
            .unwrap();
        let conversation = store.list_conversations(f.ws, all()).await.unwrap()[0].id;
        store
            .enqueue_message(
                f.ws,
                NewOutbound {
                    conversation_id: conversation,
                    content: Content::Text {
                        text: "您好".into(),
                    },
                    idempotency_key: Some("k1".into()),
                    request_hash: "h".into(),
                    author_id: None,
                },
            )
            .await
            .unwrap();
        let user = store
            .create_user(f.ws, &format!("ann@{name}.cn"), "Ann", Role::Admin, "hash")
            .await
            .unwrap();
        store
            .create_session(&user, &format!("session-{name}"), Timestamp(i64::MAX / 2))
            .await
            .unwrap();
        store
            .create_api_token(f.ws, "t", Role::Admin, &format!("token-{name}"))
            .await
            .unwrap();
        let label = store.create_label(f.ws, "VIP", "#112233").await.unwrap();
        store
            .set_conversation_labels(f.ws, conversation, vec![label.id])
            .await
            .unwrap();
        store
            .create_webhook(f.ws, "https://example.com/hook", "secret-0123456789", &[])
            .await
            .unwrap();
        store
            .create_alert_target(
                f.ws,
                imhub_store::alerts::NewAlertTarget {
                    kind: imhub_core::alerts::TargetKind::Wecom,
                    name: "值班".into(),
                    url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K".into(),
                    secret: None,
                    format: Default::default(),
                    rules: Vec::new(),
                    enabled: true,
                },
                Timestamp::now(),
            )
            .await
            .unwrap();
        store
            .put_media(
                f.ws,
                &format!("media-{name}"),
                "image/png",
                vec![1; 10],
                None,
            )
            .await
            .unwrap();
        store
            .put_channel_state(f.channel, "token", "v")
            .await
            .unwrap();
        made.push(f);
    }
    let (doomed, kept) = (made[0], made[1]);
    store
        .suspend_workspace(doomed.ws, Timestamp::now())
        .await
        .unwrap();
    store
        .record_push(doomed.ws, push(&doomed, "3", "c-3", "held"))
        .await
        .unwrap();
    let before = rows_of(&store, doomed.ws).await;
    let filled: Vec<&str> = before
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| t.as_str())
        .collect();
    for table in [
        "messages",
        "raw_events",
        "held_pushes",
        "media",
        "users",
        "sessions",
        "channel_state",
        "leads",
        "webhook_subscriptions",
        "alert_targets",
        "labels",
    ] {
        assert!(
            filled.contains(&table),
            "the fixture fills {table}: {filled:?}"
        );
    }
    let kept_before = rows_of(&store, kept.ws).await;

    store.delete_workspace(doomed.ws).await.unwrap();

    let left: Vec<(String, i64)> = rows_of(&store, doomed.ws)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        left.is_empty(),
        "rows of the deleted workspace remain: {left:?}"
    );
    assert_eq!(
        rows_of(&store, kept.ws).await,
        kept_before,
        "the other keeps all"
    );
    assert!(matches!(
        store.operator_workspace(doomed.ws, Timestamp::now()).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .find_api_token("token-doomed")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_api_token("token-kept").await.unwrap().is_some());
    assert!(
        store.get_media("media-doomed").await.is_err(),
        "its uploads are gone"
    );
    assert!(store.get_media("media-kept").await.is_ok());
    let found = store
        .search_messages(
            kept.ws,
            imhub_store::search::SearchQuery {
                text: "13800138000".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(found.is_ok(), "the search index still answers: {found:?}");
}

async fn operator_calls_on_unknown_workspaces_are_not_found(store: Arc<SqlStore>) {
    let nobody = WorkspaceId(987_654);
    let now = Timestamp::now();
    assert!(matches!(
        store.operator_workspace(nobody, now).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.rename_workspace(nobody, "x").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_workspace_quotas(nobody, Quotas::default()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.suspend_workspace(nobody, now).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.begin_resume(nobody).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.drain_held_pushes(nobody, 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_workspace(nobody).await,
        Err(StoreError::NotFound)
    ));
}
